/*
 * Writes the TURN seed messages of tests/fuzz/corpus/stun/ (the rfc5769-* seeds are the RFC 5769
 * vectors, copied byte for byte from tests/unit/test_stun.c, and are not generated here).
 *
 *   cc -std=c11 -D_GNU_SOURCE -Isrc tests/fuzz/gen_corpus.c src/turn/stun.c -lcrypto -o gen_corpus
 *   ./gen_corpus tests/fuzz/corpus/stun
 *
 * Messages that carry MESSAGE-INTEGRITY are signed with the key fuzz_stun.c checks with, so the
 * fuzzer starts from inputs that reach the integrity success path.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "turn/stun.h"

static const uint8_t key[] = "VOkJxbRl1RmTxUk/WvJxBt";
#define KEYLEN (sizeof(key) - 1)

static const char *dir;
static int failed;

static void save(const char *name, const uint8_t *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
		perror(path);
		failed = 1;
	}
}

static void finish(struct stun_builder *b, const char *name)
{
	size_t len = 0;
	int err = stun_build_finish(b, &len);

	if (err) {
		fprintf(stderr, "%s: %s\n", name, strerror(-err));
		failed = 1;
		return;
	}
	save(name, b->buf, len);
}

static void addr(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };

		inet_pton(AF_INET6, ip, &sin6.sin6_addr);
		memcpy(ss, &sin6, sizeof(sin6));
	} else {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };

		inet_pton(AF_INET, ip, &sin.sin_addr);
		memcpy(ss, &sin, sizeof(sin));
	}
}

int main(int argc, char **argv)
{
	static const uint8_t tid[STUN_TID_LEN] = "tincan-seed";
	static const uint16_t unknown[] = { 0x0031, 0x7F00 };
	struct sockaddr_storage peer4, peer6, relay, mapped;
	struct stun_builder b;
	uint8_t buf[2048], cd[32];
	const char *user = "1700000000:alice", *realm = "tincan", *nonce = "0123456789abcdef";

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	addr(&peer4, "192.0.2.10", 50000);
	addr(&peer6, "2001:db8::10", 50001);
	addr(&relay, "203.0.113.1", 49152);
	addr(&mapped, "198.51.100.7", 61000);

	stun_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST, tid);
	stun_build_fingerprint(&b);
	finish(&b, "binding-request");

	/* First Allocate: no credentials (answered 401). */
	stun_build_init(&b, buf, sizeof(buf), TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST, tid);
	stun_build_u32(&b, TURN_ATTR_REQUESTED_TRANSPORT, 17u << 24);
	stun_build_attr(&b, TURN_ATTR_DONT_FRAGMENT, NULL, 0);
	finish(&b, "allocate-request-noauth");

	stun_build_init(&b, buf, sizeof(buf), TURN_METHOD_ALLOCATE, STUN_CLASS_ERROR, tid);
	stun_build_error(&b, 401, "Unauthorized");
	stun_build_attr(&b, STUN_ATTR_REALM, realm, strlen(realm));
	stun_build_attr(&b, STUN_ATTR_NONCE, nonce, strlen(nonce));
	stun_build_attr(&b, STUN_ATTR_SOFTWARE, "tincan", 6);
	stun_build_fingerprint(&b);
	finish(&b, "allocate-error-401");

	stun_build_init(&b, buf, sizeof(buf), TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST, tid);
	stun_build_u32(&b, TURN_ATTR_REQUESTED_TRANSPORT, 17u << 24);
	stun_build_u32(&b, TURN_ATTR_LIFETIME, 600);
	stun_build_attr(&b, STUN_ATTR_USERNAME, user, strlen(user));
	stun_build_attr(&b, STUN_ATTR_REALM, realm, strlen(realm));
	stun_build_attr(&b, STUN_ATTR_NONCE, nonce, strlen(nonce));
	stun_build_integrity(&b, key, KEYLEN);
	stun_build_fingerprint(&b);
	finish(&b, "allocate-request");

	stun_build_init(&b, buf, sizeof(buf), TURN_METHOD_ALLOCATE, STUN_CLASS_SUCCESS, tid);
	stun_build_xor_addr(&b, TURN_ATTR_XOR_RELAYED_ADDRESS, &relay);
	stun_build_xor_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped);
	stun_build_u32(&b, TURN_ATTR_LIFETIME, 600);
	stun_build_integrity(&b, key, KEYLEN);
	stun_build_fingerprint(&b);
	finish(&b, "allocate-success");

	stun_build_init(&b, buf, sizeof(buf), TURN_METHOD_ALLOCATE, STUN_CLASS_ERROR, tid);
	stun_build_error(&b, 420, "Unknown Attribute");
	stun_build_unknown(&b, unknown, 2);
	finish(&b, "allocate-error-420");

	stun_build_init(&b, buf, sizeof(buf), TURN_METHOD_REFRESH, STUN_CLASS_REQUEST, tid);
	stun_build_u32(&b, TURN_ATTR_LIFETIME, 0);
	stun_build_attr(&b, STUN_ATTR_USERNAME, user, strlen(user));
	stun_build_attr(&b, STUN_ATTR_REALM, realm, strlen(realm));
	stun_build_attr(&b, STUN_ATTR_NONCE, nonce, strlen(nonce));
	stun_build_integrity(&b, key, KEYLEN);
	finish(&b, "refresh-request");

	stun_build_init(&b, buf, sizeof(buf), TURN_METHOD_CREATE_PERMISSION, STUN_CLASS_REQUEST, tid);
	stun_build_xor_addr(&b, TURN_ATTR_XOR_PEER_ADDRESS, &peer4);
	stun_build_xor_addr(&b, TURN_ATTR_XOR_PEER_ADDRESS, &peer6);
	stun_build_attr(&b, STUN_ATTR_USERNAME, user, strlen(user));
	stun_build_attr(&b, STUN_ATTR_REALM, realm, strlen(realm));
	stun_build_attr(&b, STUN_ATTR_NONCE, nonce, strlen(nonce));
	stun_build_integrity(&b, key, KEYLEN);
	stun_build_fingerprint(&b);
	finish(&b, "createpermission-request");

	/* CHANNEL-NUMBER: the number in the top 16 bits, RFFU zero (RFC 8656 §18.1). */
	stun_build_init(&b, buf, sizeof(buf), TURN_METHOD_CHANNEL_BIND, STUN_CLASS_REQUEST, tid);
	stun_build_u32(&b, TURN_ATTR_CHANNEL_NUMBER, 0x4000u << 16);
	stun_build_xor_addr(&b, TURN_ATTR_XOR_PEER_ADDRESS, &peer4);
	stun_build_attr(&b, STUN_ATTR_USERNAME, user, strlen(user));
	stun_build_attr(&b, STUN_ATTR_REALM, realm, strlen(realm));
	stun_build_attr(&b, STUN_ATTR_NONCE, nonce, strlen(nonce));
	stun_build_integrity(&b, key, KEYLEN);
	stun_build_fingerprint(&b);
	finish(&b, "channelbind-request");

	stun_build_init(&b, buf, sizeof(buf), TURN_METHOD_SEND, STUN_CLASS_INDICATION, tid);
	stun_build_xor_addr(&b, TURN_ATTR_XOR_PEER_ADDRESS, &peer6);
	stun_build_attr(&b, TURN_ATTR_DATA, "hello, peer", 11);
	finish(&b, "send-indication");

	stun_build_init(&b, buf, sizeof(buf), TURN_METHOD_DATA, STUN_CLASS_INDICATION, tid);
	stun_build_xor_addr(&b, TURN_ATTR_XOR_PEER_ADDRESS, &peer4);
	stun_build_attr(&b, TURN_ATTR_DATA, "hello, client", 13);
	finish(&b, "data-indication");

	/* ChannelData over UDP: 13 bytes of data, padded to 16 as over TCP (RFC 8656 §12.5). */
	memset(cd, 0, sizeof(cd));
	turn_channeldata_header(cd, 0x4000, 13);
	memcpy(cd + TURN_CHANNELDATA_HDR, "hello, peer!!", 13);
	save("channeldata", cd, TURN_CHANNELDATA_HDR + 16);
	turn_channeldata_header(cd, 0x4FFF, 0);
	save("channeldata-empty", cd, TURN_CHANNELDATA_HDR);

	return failed;
}
