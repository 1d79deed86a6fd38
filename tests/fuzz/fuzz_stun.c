/*
 * libFuzzer target for src/turn/stun.c. Built and run by tests/fuzz/run.sh.
 *
 * For every input it runs what the relay runs on a datagram (stun_is_message, turn_is_channeldata,
 * turn_channeldata_parse, stun_msg_parse), then every accessor on every parsed attribute, the
 * MESSAGE-INTEGRITY and MESSAGE-INTEGRITY-SHA256 checks with a fixed key, and a rebuild of the
 * parsed message through the builder, which must parse back to the same attributes. Besides the sanitizers, FUZZ_CHECK() aborts on any
 * broken invariant, so a logic bug is a crash too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "turn/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(c) \
	do { \
		if (!(c)) { \
			fprintf(stderr, "fuzz_stun: check failed: %s (%s:%d)\n", #c, __FILE__, \
				__LINE__); \
			abort(); \
		} \
	} while (0)

/* The RFC 5769 short-term password: the seed corpus is signed with it, so the success path of the
 * integrity check is reached too. */
static const uint8_t fuzz_key[] = "VOkJxbRl1RmTxUk/WvJxBt";
#define FUZZ_KEYLEN (sizeof(fuzz_key) - 1)

/* Static: a struct stun_msg is about 1 KiB and the rebuild buffer is a full-size message. */
static struct stun_msg msg, re;
static uint8_t out[STUN_HEADER_LEN + 0xFFFF], small[256];

/* How rebuild() encoded each attribute, so compare_rebuilt() knows which bytes must match. */
enum how { HOW_RAW, HOW_XOR_ADDR, HOW_ERROR, HOW_MI, HOW_FP };
static enum how how[STUN_MAX_ATTRS];

static bool is_xor_addr(uint16_t type)
{
	return type == STUN_ATTR_XOR_MAPPED_ADDRESS || type == TURN_ATTR_XOR_PEER_ADDRESS ||
	       type == TURN_ATTR_XOR_RELAYED_ADDRESS;
}

static void fuzz_channeldata(const uint8_t *data, size_t size)
{
	const uint8_t *payload = NULL;
	uint16_t ch = 0, dlen = 0;
	uint8_t hdr[TURN_CHANNELDATA_HDR];
	int rc;

	(void)turn_is_channeldata(data, size);
	rc = turn_channeldata_parse(data, size, &ch, &payload, &dlen);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	if (rc)
		return;
	FUZZ_CHECK(ch >= TURN_CHANNEL_MIN && ch <= TURN_CHANNEL_MAX);
	FUZZ_CHECK(payload == data + TURN_CHANNELDATA_HDR && dlen <= size - TURN_CHANNELDATA_HDR);
	FUZZ_CHECK(turn_is_channeldata(data, size));
	if (dlen) /* touch the last payload byte: ASan catches it if it is out of bounds */
		FUZZ_CHECK(payload[dlen - 1] == data[TURN_CHANNELDATA_HDR + dlen - 1]);
	turn_channeldata_header(hdr, ch, dlen);
	FUZZ_CHECK(memcmp(hdr, data, TURN_CHANNELDATA_HDR) == 0);
}

/* Runs every accessor on @a and checks the results stay inside the message. */
static void fuzz_accessors(const struct stun_attr *a)
{
	struct sockaddr_storage ss;
	const char *reason = NULL;
	size_t rlen = 0;
	uint32_t u = 0;
	uint16_t alg = 0;
	uint8_t fam = 0;
	int rc, code = 0;

	FUZZ_CHECK(stun_msg_attr(&msg, a->type) != NULL);
	FUZZ_CHECK(stun_msg_attr(&msg, a->type) <= a);

	rc = stun_attr_xor_addr(&msg, a, &ss);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -EAFNOSUPPORT);
	if (rc == 0)
		FUZZ_CHECK(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);

	rc = stun_attr_u32(a, &u);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	FUZZ_CHECK(rc != 0 || a->len == 4);

	rc = stun_attr_address_error(a, &fam, &code);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	FUZZ_CHECK(rc != 0 || (code >= 300 && code <= 699 && fam == a->val[0]));

	rc = stun_attr_password_algorithm(a, &alg);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	FUZZ_CHECK(rc != 0 || a->len >= 4);
	(void)stun_attr_algorithms_has(a, STUN_PWALG_SHA256);

	rc = stun_attr_error_code(a, &code, &reason, &rlen);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	if (rc == 0) {
		FUZZ_CHECK(code >= 300 && code <= 699);
		FUZZ_CHECK((const uint8_t *)reason == a->val + 4 && rlen + 4 == a->len);
		if (rlen)
			FUZZ_CHECK(reason[rlen - 1] == (char)a->val[a->len - 1]);
	}
}

/* Re-encodes the parsed message: typed builders where the attribute decodes (XOR addresses,
 * ERROR-CODE), MESSAGE-INTEGRITY and untruncated MESSAGE-INTEGRITY-SHA256 with fuzz_key,
 * FINGERPRINT recomputed, raw copies otherwise. */
static int rebuild(uint8_t *buf, size_t cap, size_t *len)
{
	struct stun_builder b;
	size_t i;

	stun_build_init(&b, buf, cap, msg.method, msg.cls, msg.tid);
	for (i = 0; i < msg.n_attrs; i++) {
		const struct stun_attr *a = &msg.attrs[i];
		struct sockaddr_storage ss;
		const char *reason;
		char rbuf[764];
		size_t rlen;
		int code;

		if (a->type == STUN_ATTR_MESSAGE_INTEGRITY) {
			how[i] = HOW_MI;
			stun_build_integrity(&b, fuzz_key, FUZZ_KEYLEN);
		} else if (a->type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256 && a->len == STUN_MI256_LEN) {
			how[i] = HOW_MI;
			stun_build_integrity_sha256(&b, fuzz_key, FUZZ_KEYLEN);
		} else if (a->type == STUN_ATTR_FINGERPRINT) {
			how[i] = HOW_FP;
			stun_build_fingerprint(&b);
		} else if (is_xor_addr(a->type) && stun_attr_xor_addr(&msg, a, &ss) == 0) {
			how[i] = HOW_XOR_ADDR;
			stun_build_xor_addr(&b, a->type, &ss);
		} else if (a->type == STUN_ATTR_ERROR_CODE &&
			   stun_attr_error_code(a, &code, &reason, &rlen) == 0 &&
			   rlen < sizeof(rbuf) && !memchr(reason, 0, rlen)) {
			how[i] = HOW_ERROR;
			memcpy(rbuf, reason, rlen);
			rbuf[rlen] = 0;
			stun_build_error(&b, code, rlen ? rbuf : NULL);
		} else {
			how[i] = HOW_RAW;
			stun_build_attr(&b, a->type, a->val, a->len);
		}
	}
	return stun_build_finish(&b, len);
}

/* The rebuilt message @re must carry the same attributes as @msg, decoding to the same values. */
static void compare_rebuilt(void)
{
	size_t i;

	FUZZ_CHECK(re.method == msg.method && re.cls == msg.cls);
	FUZZ_CHECK(memcmp(re.tid, msg.tid, STUN_TID_LEN) == 0);
	FUZZ_CHECK(re.n_attrs == msg.n_attrs && re.mi == msg.mi && re.fp == msg.fp);
	FUZZ_CHECK(re.mi256 == msg.mi256);
	FUZZ_CHECK(re.n_unknown == msg.n_unknown);
	FUZZ_CHECK(memcmp(re.unknown, msg.unknown, msg.n_unknown * sizeof(msg.unknown[0])) == 0);
	for (i = 0; i < msg.n_attrs; i++) {
		const struct stun_attr *a = &msg.attrs[i], *r = &re.attrs[i];
		struct sockaddr_storage sa, sr;

		FUZZ_CHECK(a->type == r->type && a->len == r->len);
		switch (how[i]) {
		case HOW_MI:
		case HOW_FP:
			break;
		case HOW_XOR_ADDR:
			/* The reserved first byte is rebuilt as 0; family, port, address survive. */
			FUZZ_CHECK(stun_attr_xor_addr(&re, r, &sr) == 0);
			FUZZ_CHECK(stun_attr_xor_addr(&msg, a, &sa) == 0);
			FUZZ_CHECK(memcmp(&sa, &sr, sizeof(sa)) == 0);
			FUZZ_CHECK(memcmp(a->val + 1, r->val + 1, a->len - 1u) == 0);
			break;
		case HOW_ERROR:
			/* The 21 reserved bits are rebuilt as 0; class, number and reason survive. */
			FUZZ_CHECK(r->val[0] == 0 && r->val[1] == 0 && r->val[2] == (a->val[2] & 7));
			FUZZ_CHECK(memcmp(a->val + 3, r->val + 3, a->len - 3u) == 0);
			break;
		case HOW_RAW:
			FUZZ_CHECK(a->len == 0 || memcmp(a->val, r->val, a->len) == 0);
			break;
		}
	}
	if (re.mi >= 0)
		FUZZ_CHECK(stun_msg_check_integrity(&re, fuzz_key, FUZZ_KEYLEN) == 0);
	if (re.mi256 >= 0 && how[re.mi256] == HOW_MI)
		FUZZ_CHECK(stun_msg_check_integrity_sha256(&re, fuzz_key, FUZZ_KEYLEN) == 0);
}

static void fuzz_stun(const uint8_t *data, size_t size)
{
	size_t i, len = 0, slen = 0;
	int rc;

	rc = stun_msg_parse(&msg, data, size);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	if (rc)
		return;

	/* What the parser promised. */
	FUZZ_CHECK(stun_is_message(data, size));
	FUZZ_CHECK(msg.len >= STUN_HEADER_LEN && msg.len <= size && msg.len % 4 == 0);
	FUZZ_CHECK(msg.n_attrs <= STUN_MAX_ATTRS && msg.n_unknown <= STUN_MAX_UNKNOWN);
	FUZZ_CHECK(msg.fp < 0 || (size_t)msg.fp == msg.n_attrs - 1);
	FUZZ_CHECK(msg.mi < 0 || msg.attrs[msg.mi].len == STUN_MI_LEN);
	FUZZ_CHECK(msg.mi256 < 0 || (msg.attrs[msg.mi256].len >= STUN_MI256_MIN &&
				     msg.attrs[msg.mi256].len <= STUN_MI256_LEN &&
				     msg.attrs[msg.mi256].len % 4 == 0));
	FUZZ_CHECK(msg.mi < 0 || msg.mi256 < 0 || msg.mi < msg.mi256);
	for (i = 0; i < msg.n_attrs; i++) {
		const struct stun_attr *a = &msg.attrs[i];

		FUZZ_CHECK(a->off >= STUN_HEADER_LEN && a->off + 4 + a->len <= msg.len);
		FUZZ_CHECK(a->val == data + a->off + 4);
		FUZZ_CHECK(i == 0 || a->off > msg.attrs[i - 1].off);
		fuzz_accessors(a);
	}

	rc = stun_msg_check_integrity(&msg, fuzz_key, FUZZ_KEYLEN);
	FUZZ_CHECK(rc == 0 || rc == -EACCES || rc == -ENOENT);
	FUZZ_CHECK((rc == -ENOENT) == (msg.mi < 0));
	rc = stun_msg_check_integrity_sha256(&msg, fuzz_key, FUZZ_KEYLEN);
	FUZZ_CHECK(rc == 0 || rc == -EACCES || rc == -ENOENT);
	FUZZ_CHECK((rc == -ENOENT) == (msg.mi256 < 0));

	/* Rebuild into a full-size buffer: it cannot fail, and must parse back the same. */
	rc = rebuild(out, sizeof(out), &len);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(len <= msg.len);
	FUZZ_CHECK(stun_msg_parse(&re, out, len) == 0);
	compare_rebuilt();

	/* Rebuild into a buffer that may be too small: all or nothing, never a different message. */
	rc = rebuild(small, size % sizeof(small), &slen);
	FUZZ_CHECK(rc == 0 || rc == -ENOSPC);
	if (rc == 0)
		FUZZ_CHECK(slen == len && memcmp(small, out, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)stun_is_message(data, size);
	fuzz_channeldata(data, size);
	fuzz_stun(data, size);
	return 0;
}
