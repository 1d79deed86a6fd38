/*
 * mux: the first-bytes classifier of the shared port; see classify.h.
 *
 * The ClientHello parser reads only what routing needs (SNI, ALPN) and checks every length it
 * walks against the bytes that enclose it: record, handshake message, extensions block,
 * extension, list. Extensions it does not know (GREASE, ECH, key shares, ...) are skipped by their
 * length, never interpreted. It must never read past @len, never loop without consuming, and never
 * ask for more than MUX_PEEK_MAX bytes: tests/fuzz/fuzz_mux.c checks all three.
 */
#include <errno.h>
#include <string.h>

#include "mux/classify.h"

#define TLS_CT_HANDSHAKE 0x16          /* record content type (RFC 8446 §5.1) */
#define TLS_HS_CLIENT_HELLO 0x01       /* handshake type */
#define TLS_RECORD_HDR 5
#define TLS_HS_HDR 4
#define TLS_RECORD_MAX 16384           /* plaintext record payload limit, 2^14 */
#define TLS_EXT_SERVER_NAME 0x0000     /* RFC 6066 §3 */
#define TLS_EXT_ALPN 0x0010            /* RFC 7301 §3.1 */
#define TLS_SNI_HOST_NAME 0x00

/* legacy_version, random, session id length, cipher suites length + one suite, compression
 * length + one method: the shortest ClientHello body. */
#define HELLO_BODY_MIN (2 + 32 + 1 + 2 + 2 + 1 + 1)

#define STUN_COOKIE_OFF 4
#define STUN_DECIDE_LEN 8              /* type, length, magic cookie */
static const uint8_t stun_cookie[4] = { 0x21, 0x12, 0xA4, 0x42 }; /* RFC 8489 §5 */

/* Results clear @out first, so a field not meant for a kind is always zero. */
static int reject(struct mux_hello *out, const char *why)
{
	memset(out, 0, sizeof(*out));
	out->reason = why;
	return MUX_REJECT;
}

static int need(struct mux_hello *out, size_t n)
{
	if (n > MUX_PEEK_MAX)
		return reject(out, "TLS: ClientHello larger than MUX_PEEK_MAX");
	memset(out, 0, sizeof(*out));
	out->need = n;
	return MUX_NEED_MORE;
}

/* --- A bounds-checked reader over a contiguous byte range. --- */

struct rd {
	const uint8_t *p;
	const uint8_t *end;
};

static size_t rd_left(const struct rd *r)
{
	return (size_t)(r->end - r->p);
}

static bool rd_u8(struct rd *r, unsigned *v)
{
	if (rd_left(r) < 1)
		return false;
	*v = r->p[0];
	r->p += 1;
	return true;
}

static bool rd_u16(struct rd *r, unsigned *v)
{
	if (rd_left(r) < 2)
		return false;
	*v = (unsigned)r->p[0] << 8 | r->p[1];
	r->p += 2;
	return true;
}

/* Splits the next @n bytes off @r into @sub. */
static bool rd_sub(struct rd *r, size_t n, struct rd *sub)
{
	if (rd_left(r) < n)
		return false;
	sub->p = r->p;
	sub->end = r->p + n;
	r->p += n;
	return true;
}

/* A vector with a 1- or 2-byte length prefix (RFC 8446 §3.4) into @sub. */
static bool rd_vec8(struct rd *r, struct rd *sub)
{
	unsigned n;
	return rd_u8(r, &n) && rd_sub(r, n, sub);
}

static bool rd_vec16(struct rd *r, struct rd *sub)
{
	unsigned n;
	return rd_u16(r, &n) && rd_sub(r, n, sub);
}

/* --- Extensions. --- */

/* server_name (RFC 6066 §3): a list of (name_type, opaque name<1..2^16-1>). The host_name must be
 * 1..255 bytes of printable ASCII (IDNs travel as A-labels), at most one per list. Other name
 * types (none is defined) are skipped. */
static const char *parse_sni(struct rd *ext, struct mux_hello *out)
{
	struct rd list;

	if (!rd_vec16(ext, &list) || rd_left(ext) != 0 || rd_left(&list) == 0)
		return "server_name: bad list length";
	while (rd_left(&list)) {
		unsigned type;
		struct rd name;

		if (!rd_u8(&list, &type) || !rd_vec16(&list, &name) || rd_left(&name) == 0)
			return "server_name: bad entry length";
		if (type != TLS_SNI_HOST_NAME)
			continue;
		if (out->has_sni)
			return "server_name: two host names";
		if (rd_left(&name) >= MUX_SNI_MAX)
			return "server_name: host name longer than 255 bytes";
		for (const uint8_t *c = name.p; c < name.end; c++)
			if (*c < 0x21 || *c > 0x7E)
				return "server_name: host name is not printable ASCII";
		memcpy(out->sni, name.p, rd_left(&name));
		out->sni[rd_left(&name)] = '\0';
		out->has_sni = true;
	}
	return NULL;
}

static bool name_is(const struct rd *name, const char *s)
{
	size_t n = strlen(s);
	return rd_left(name) == n && memcmp(name->p, s, n) == 0;
}

/* application_layer_protocol_negotiation (RFC 7301 §3.1): ProtocolName<1..2^8-1>
 * protocol_name_list<2..2^16-1>; empty names are not allowed. */
static const char *parse_alpn(struct rd *ext, struct mux_hello *out)
{
	struct rd list;

	if (!rd_vec16(ext, &list) || rd_left(ext) != 0 || rd_left(&list) < 2)
		return "ALPN: bad list length";
	out->has_alpn = true;
	while (rd_left(&list)) {
		struct rd name;

		if (!rd_vec8(&list, &name) || rd_left(&name) == 0)
			return "ALPN: bad protocol name length";
		if (name_is(&name, "h2"))
			out->alpn |= MUX_ALPN_H2;
		else if (name_is(&name, "http/1.1"))
			out->alpn |= MUX_ALPN_HTTP11;
		else if (name_is(&name, "stun.turn"))
			out->alpn |= MUX_ALPN_STUN_TURN;
		else
			out->alpn |= MUX_ALPN_OTHER;
		if (out->n_alpn < MUX_ALPN_MAX) {
			char *dst = out->alpn_names[out->n_alpn];
			size_t k = 0;
			for (; k < rd_left(&name) && k < MUX_ALPN_NAME_MAX - 1; k++)
				dst[k] = name.p[k] >= 0x20 && name.p[k] <= 0x7E ? (char)name.p[k] : '?';
			dst[k] = '\0';
		}
		out->n_alpn++;
	}
	return NULL;
}

/* Parses a ClientHello body (RFC 8446 §4.1.2; TLS 1.2's RFC 5246 §7.4.1.2 is the same shape).
 * Returns NULL, or why it is malformed. */
static const char *parse_hello(const uint8_t *body, size_t len, struct mux_hello *out)
{
	struct rd r = { body, body + len }, skip, exts;
	unsigned version;

	if (!rd_u16(&r, &version) || (version >> 8) != 3)
		return "ClientHello: legacy_version is not 3.x";
	out->legacy_version = (uint16_t)version;
	if (!rd_sub(&r, 32, &skip))
		return "ClientHello: truncated random";
	if (!rd_vec8(&r, &skip) || rd_left(&skip) > 32)
		return "ClientHello: bad session id length";
	if (!rd_vec16(&r, &skip) || rd_left(&skip) < 2 || rd_left(&skip) % 2)
		return "ClientHello: bad cipher suites length";
	if (!rd_vec8(&r, &skip) || rd_left(&skip) < 1)
		return "ClientHello: bad compression methods length";
	/* A TLS 1.2 client may send no extensions at all (RFC 5246 §7.4.1.2): no SNI, no ALPN. */
	if (rd_left(&r) == 0)
		return NULL;
	if (!rd_vec16(&r, &exts) || rd_left(&r) != 0)
		return "ClientHello: extensions length does not match the message";

	while (rd_left(&exts)) {
		unsigned type;
		struct rd ext;
		const char *err = NULL;

		if (!rd_u16(&exts, &type) || !rd_vec16(&exts, &ext))
			return "ClientHello: extension overruns the extensions block";
		if (type == TLS_EXT_SERVER_NAME) {
			if (out->has_sni)
				return "ClientHello: two server_name extensions";
			err = parse_sni(&ext, out);
		} else if (type == TLS_EXT_ALPN) {
			if (out->has_alpn)
				return "ClientHello: two ALPN extensions";
			err = parse_alpn(&ext, out);
		}
		if (err)
			return err;
	}
	return NULL;
}

/*
 * Walks the handshake records at the start of @buf until they hold the whole ClientHello, then
 * parses it. A ClientHello may be fragmented over several records (RFC 8446 §5.1); every client
 * seen sends one record, so the common case parses in place and only a fragmented hello is copied
 * together into a stack buffer.
 */
static int classify_tls(const uint8_t *buf, size_t len, struct mux_hello *out)
{
	uint8_t hs[TLS_HS_HDR];  /* the handshake header, which may itself be fragmented */
	size_t got = 0;          /* handshake bytes seen so far */
	size_t total = 0;        /* TLS_HS_HDR + handshake length, once known */
	size_t pos = 0;          /* offset of the next record header */
	const char *err;

	for (;;) {
		size_t rlen, p, rend;

		/* The record header: content type, legacy_record_version 3.x, length 1..2^14. */
		if (len > pos && buf[pos] != TLS_CT_HANDSHAKE)
			return reject(out, "TLS: a record other than handshake inside the ClientHello");
		if (len > pos + 1 && buf[pos + 1] != 3)
			return reject(out, "TLS: record version is not 3.x");
		if (len < pos + TLS_RECORD_HDR)
			return need(out, pos + TLS_RECORD_HDR);
		rlen = (size_t)buf[pos + 3] << 8 | buf[pos + 4];
		if (rlen == 0 || rlen > TLS_RECORD_MAX)
			return reject(out, "TLS: record length is 0 or above 2^14");
		out->n_records++;
		p = pos + TLS_RECORD_HDR;
		rend = p + rlen;

		/* Take this record's share of the handshake message: first its 4-byte header,
		 * then its body. */
		while (p < rend) {
			size_t want = total ? total - got : TLS_HS_HDR - got;
			size_t end = len < rend ? len : rend;
			size_t take = end > p ? end - p : 0;

			if (take > want)
				take = want;
			for (size_t k = 0; !total && k < take; k++)
				hs[got + k] = buf[p + k];
			if (!total && got == 0 && take > 0 && hs[0] != TLS_HS_CLIENT_HELLO)
				return reject(out, "TLS: first handshake message is not a ClientHello");
			got += take;
			p += take;
			if (!total && got == TLS_HS_HDR) {
				size_t body = (size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3];
				if (body < HELLO_BODY_MIN)
					return reject(out, "TLS: ClientHello too short");
				/* The fewest bytes it can end at: here plus the body, if no
				 * further record header comes. */
				if (p + body > MUX_PEEK_MAX)
					return reject(out, "TLS: ClientHello larger than MUX_PEEK_MAX");
				total = TLS_HS_HDR + body;
			} else if (total && got == total) {
				out->hello_len = p;
				goto complete;
			} else if (p < rend) {
				/* Out of input inside this record. */
				want = total ? total - got : TLS_HS_HDR - got;
				return need(out, p + (want < rend - p ? want : rend - p));
			}
		}
		pos = rend;
	}

complete:
	if (out->hello_len > MUX_PEEK_MAX)
		return reject(out, "TLS: ClientHello larger than MUX_PEEK_MAX");
	if (out->n_records == 1) {
		err = parse_hello(buf + TLS_RECORD_HDR + TLS_HS_HDR, total - TLS_HS_HDR, out);
	} else {
		/* Copy the fragments together (total < hello_len <= MUX_PEEK_MAX). The walk above
		 * checked every record header on the way. */
		uint8_t whole[MUX_PEEK_MAX];
		size_t n = 0;

		for (pos = 0; n < total;) {
			size_t rlen = (size_t)buf[pos + 3] << 8 | buf[pos + 4];
			size_t take = rlen < total - n ? rlen : total - n;
			memcpy(whole + n, buf + pos + TLS_RECORD_HDR, take);
			n += take;
			pos += TLS_RECORD_HDR + rlen;
		}
		err = parse_hello(whole + TLS_HS_HDR, total - TLS_HS_HDR, out);
	}
	/* A rejected hello reports only its reason: nothing half-parsed. */
	return err ? reject(out, err) : MUX_TLS;
}

/* tchar (RFC 9110 §5.6.2), which every HTTP method is made of, or CR/LF (RFC 9112 §2.2: a server
 * should ignore empty lines before the request line). */
static bool http_first_byte(uint8_t c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~\r\n", c) != NULL;
}

int mux_classify(const uint8_t *buf, size_t len, struct mux_hello *out)
{
	if (!out || (!buf && len))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (len == 0)
		return need(out, 1);

	if (buf[0] == TLS_CT_HANDSHAKE)
		return classify_tls(buf, len, out);

	/* STUN (RFC 8489 §5): top two bits 0, the magic cookie at bytes 4-7, a length that is a
	 * multiple of 4. Decide "not STUN" as soon as a byte disagrees. */
	if ((buf[0] & 0xC0) == 0) {
		bool stun = true;
		for (size_t i = STUN_COOKIE_OFF; i < STUN_DECIDE_LEN && i < len; i++)
			stun &= buf[i] == stun_cookie[i - STUN_COOKIE_OFF];
		if (len >= 4)
			stun &= (buf[3] & 3) == 0;
		/* Each byte from the length's low byte on can decide "not STUN", so ask for the next
		 * one: "need" stays a lower bound of every decision. */
		if (stun && len < STUN_DECIDE_LEN)
			return need(out, len < 4 ? 4 : len + 1);
		if (stun)
			return MUX_STUN;
	}

	if (http_first_byte(buf[0]))
		return MUX_HTTP;
	return reject(out, "not TLS, STUN or HTTP");
}

enum mux_route mux_tls_route(const struct mux_hello *h)
{
	if (h->alpn & MUX_ALPN_STUN_TURN)
		return MUX_ROUTE_TURN;
	if (h->alpn & (MUX_ALPN_H2 | MUX_ALPN_HTTP11))
		return MUX_ROUTE_HTTP;
	return MUX_ROUTE_INSPECT;
}

const char *mux_kind_name(int kind)
{
	switch (kind) {
	case MUX_NEED_MORE: return "need-more";
	case MUX_STUN: return "stun";
	case MUX_TLS: return "tls";
	case MUX_HTTP: return "http";
	case MUX_REJECT: return "reject";
	default: return "?";
	}
}
