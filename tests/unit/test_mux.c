/*
 * Unit tests of src/mux: the shared port's first-bytes classifier, on first flights captured from
 * real clients (tests/unit/data/mux/, see its README), their truncations and hand-made damage.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mux/classify.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

struct vec {
	uint8_t *buf;
	size_t len;
};

/* Reads tests/unit/data/mux/@name. */
static struct vec load(const char *name)
{
	char path[512];
	struct vec v = { NULL, 0 };
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/tests/unit/data/mux/%s", TOP_SRCDIR, name);
	f = fopen(path, "rb");
	ck_assert_msg(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	ck_assert_int_gt(n, 0);
	v.buf = malloc((size_t)n);
	v.len = (size_t)n;
	ck_assert_int_eq(fread(v.buf, 1, v.len, f), v.len);
	fclose(f);
	return v;
}

/* What each capture must classify as. */
static const struct expect {
	const char *file;
	int kind;
	size_t hello_len;      /* MUX_TLS: the capture is exactly the hello */
	unsigned n_records;
	const char *sni;       /* NULL: no server_name */
	int has_alpn;
	unsigned alpn;
	enum mux_route route;
} expects[] = {
	{ "curl-https.bin", MUX_TLS, 517, 1, "localhost", 1, MUX_ALPN_H2 | MUX_ALPN_HTTP11,
	  MUX_ROUTE_HTTP },
	{ "openssl-alpn-stun-turn.bin", MUX_TLS, 338, 1, "turn.example.org", 1, MUX_ALPN_STUN_TURN,
	  MUX_ROUTE_TURN },
	{ "openssl-two-records.bin", MUX_TLS, 637, 2,
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
	  1, MUX_ALPN_H2 | MUX_ALPN_HTTP11, MUX_ROUTE_HTTP },
	{ "chromium-https.bin", MUX_TLS, 2013, 1, "localhost", 1, MUX_ALPN_H2 | MUX_ALPN_HTTP11,
	  MUX_ROUTE_HTTP },
	/* Chromium's TURN over TLS: no ALPN extension at all; SNI only for a host name. */
	{ "chromium-turns-hostname.bin", MUX_TLS, 1986, 1, "localhost", 0, 0, MUX_ROUTE_INSPECT },
	{ "chromium-turns-ip.bin", MUX_TLS, 1904, 1, NULL, 0, 0, MUX_ROUTE_INSPECT },
	{ "chromium-turn-tcp.bin", MUX_STUN, 0, 0, NULL, 0, 0, 0 },
	{ "chromium-http.bin", MUX_HTTP, 0, 0, NULL, 0, 0, 0 },
	{ "curl-http.bin", MUX_HTTP, 0, 0, NULL, 0, 0, 0 },
};
#define N_EXPECTS (sizeof(expects) / sizeof(expects[0]))

static void check_expect(const struct expect *e, const struct mux_hello *h, int kind)
{
	ck_assert_msg(kind == e->kind, "%s: %s (%s), want %s", e->file, mux_kind_name(kind),
		      h->reason ? h->reason : "", mux_kind_name(e->kind));
	if (kind != MUX_TLS)
		return;
	ck_assert_uint_eq(h->hello_len, e->hello_len);
	ck_assert_uint_eq(h->n_records, e->n_records);
	ck_assert_uint_eq(h->legacy_version, 0x0303);
	ck_assert_int_eq(h->has_sni, e->sni != NULL);
	if (e->sni)
		ck_assert_str_eq(h->sni, e->sni);
	ck_assert_int_eq(h->has_alpn, e->has_alpn);
	ck_assert_uint_eq(h->alpn, e->alpn);
	ck_assert_int_eq(mux_tls_route(h), e->route);
}

/* Pins: every captured first flight classifies as its client meant it, with SNI, ALPN and the
 * route: curl and Chromium HTTPS go to lws, openssl's stun.turn to TURN, Chromium's TURN/TLS (no
 * ALPN) to inspection, Chromium's TURN/TCP Allocate is STUN, plain GETs are HTTP. */
START_TEST(test_captures)
{
	for (size_t i = 0; i < N_EXPECTS; i++) {
		struct vec v = load(expects[i].file);
		struct mux_hello h;
		check_expect(&expects[i], &h, mux_classify(v.buf, v.len, &h));
		free(v.buf);
	}
}
END_TEST

/* Pins: a truncation at every byte of every capture either still decides the same (STUN from 8
 * bytes, HTTP from 1) or asks for more with a need that is past what it has and never past the
 * end of the hello; feeding exactly "need" bytes each time reaches the decision. */
START_TEST(test_truncations)
{
	for (size_t i = 0; i < N_EXPECTS; i++) {
		const struct expect *e = &expects[i];
		struct vec v = load(e->file);
		size_t decide = e->kind == MUX_TLS ? e->hello_len : e->kind == MUX_STUN ? 8 : 1;
		struct mux_hello h;
		size_t n, steps;
		int kind;

		for (n = 0; n < v.len; n++) {
			kind = mux_classify(v.buf, n, &h);
			if (n < decide) {
				ck_assert_msg(kind == MUX_NEED_MORE, "%s[0..%zu): %s (%s)", e->file, n,
					      mux_kind_name(kind), h.reason ? h.reason : "");
				ck_assert_uint_gt(h.need, n);
				ck_assert_uint_le(h.need, decide);
			} else {
				check_expect(e, &h, kind);
			}
		}
		/* The listener's loop: peek, classify, wait for "need" bytes, again. */
		for (n = 0, steps = 0; (kind = mux_classify(v.buf, n, &h)) == MUX_NEED_MORE; steps++)
			n = h.need;
		check_expect(e, &h, kind);
		/* At most: STUN 1, 4, then byte by byte to 8; TLS 1 byte, then each record's
		 * header and its share of the hello. */
		ck_assert_uint_le(steps, e->kind == MUX_STUN ? 6 : 2 + 2 * (e->n_records ? e->n_records : 1));
		free(v.buf);
	}
}
END_TEST

/* Re-frames a one-record ClientHello @in into records of at most @frag payload bytes in @out;
 * returns the new length. */
static size_t reframe(const uint8_t *in, size_t len, size_t frag, uint8_t *out)
{
	size_t body = len - 5, n = 0;
	for (size_t off = 0; off < body; off += frag) {
		size_t k = body - off < frag ? body - off : frag;
		out[n++] = 0x16;
		out[n++] = 0x03;
		out[n++] = 0x01;
		out[n++] = (uint8_t)(k >> 8);
		out[n++] = (uint8_t)k;
		memcpy(out + n, in + 5 + off, k);
		n += k;
	}
	return n;
}

/* Pins: a ClientHello fragmented over many records (down to 1-byte records, which splits the
 * handshake header itself) parses exactly like the one-record original, and every truncation of
 * it asks for more. */
START_TEST(test_fragmented)
{
	static const size_t frags[] = { 1, 2, 3, 7, 100, 512, 1000, 2000 };
	struct vec v = load("chromium-https.bin");
	struct mux_hello one, h;

	ck_assert_int_eq(mux_classify(v.buf, v.len, &one), MUX_TLS);
	for (size_t i = 0; i < sizeof(frags) / sizeof(frags[0]); i++) {
		size_t body = v.len - 5;
		size_t cap = body + 5 * (body / frags[i] + 1);
		uint8_t *buf = malloc(cap);
		size_t len = reframe(v.buf, v.len, frags[i], buf);
		int kind = mux_classify(buf, len, &h);

		if (len > MUX_PEEK_MAX) {
			/* 1-byte records: 6 wire bytes per hello byte do not fit the peek. */
			ck_assert_int_eq(kind, MUX_REJECT);
			ck_assert_ptr_nonnull(strstr(h.reason, "larger than MUX_PEEK_MAX"));
			free(buf);
			continue;
		}
		ck_assert_msg(kind == MUX_TLS, "frag %zu: %s (%s)", frags[i], mux_kind_name(kind),
			      h.reason ? h.reason : "");
		ck_assert_uint_eq(h.hello_len, len);
		ck_assert_uint_eq(h.n_records, (body + frags[i] - 1) / frags[i]);
		ck_assert_str_eq(h.sni, one.sni);
		ck_assert_uint_eq(h.alpn, one.alpn);
		ck_assert_uint_eq(h.n_alpn, one.n_alpn);
		for (size_t n = 0; n < len; n += 1 + n / 4) {
			ck_assert_int_eq(mux_classify(buf, n, &h), MUX_NEED_MORE);
			ck_assert_uint_gt(h.need, n);
			ck_assert_uint_le(h.need, len);
		}
		free(buf);
	}
	free(v.buf);
}
END_TEST

/* Builds a ClientHello record: legacy_version 0x0303, zero random, empty session id, one suite,
 * null compression, then @ext_len bytes of @ext (extensions block contents; ext NULL = no block).
 * Returns the length written to @out. */
static size_t build_hello(uint8_t *out, const uint8_t *ext, size_t ext_len)
{
	size_t n = 9, body;
	out[n++] = 3;
	out[n++] = 3;
	memset(out + n, 0, 32);
	n += 32;
	out[n++] = 0;               /* session id */
	out[n++] = 0;
	out[n++] = 2;
	out[n++] = 0x13;            /* TLS_AES_128_GCM_SHA256 */
	out[n++] = 0x01;
	out[n++] = 1;               /* compression methods: null */
	out[n++] = 0;
	if (ext) {
		out[n++] = (uint8_t)(ext_len >> 8);
		out[n++] = (uint8_t)ext_len;
		memcpy(out + n, ext, ext_len);
		n += ext_len;
	}
	body = n - 9;
	out[0] = 0x16;
	out[1] = 3;
	out[2] = 1;
	out[3] = (uint8_t)((n - 5) >> 8);
	out[4] = (uint8_t)(n - 5);
	out[5] = 1;
	out[6] = (uint8_t)(body >> 16);
	out[7] = (uint8_t)(body >> 8);
	out[8] = (uint8_t)body;
	return n;
}

/* Pins: a TLS 1.2 hello with no extensions block is TLS without SNI or ALPN (route: inspect);
 * an empty extensions block likewise; an ALPN of only unknown names is inspected too; ALPN with
 * both stun.turn and h2 goes to TURN. */
START_TEST(test_synthetic)
{
	static const uint8_t alpn_other[] = { 0, 16, 0, 13, 0, 11, 10, 'a', 'c', 'm', 'e', '-', 't',
					      'l', 's', '/', '1', 0 };
	static const uint8_t alpn_both[] = { 0, 16, 0, 15, 0, 13, 2, 'h', '2', 9, 's', 't', 'u', 'n',
					     '.', 't', 'u', 'r', 'n', 0 };
	uint8_t buf[256];
	struct mux_hello h;
	size_t n;

	n = build_hello(buf, NULL, 0);
	ck_assert_int_eq(mux_classify(buf, n, &h), MUX_TLS);
	ck_assert(!h.has_sni && !h.has_alpn);
	ck_assert_int_eq(mux_tls_route(&h), MUX_ROUTE_INSPECT);

	n = build_hello(buf, (const uint8_t *)"", 0);
	ck_assert_int_eq(mux_classify(buf, n, &h), MUX_TLS);
	ck_assert_int_eq(mux_tls_route(&h), MUX_ROUTE_INSPECT);

	n = build_hello(buf, alpn_other, sizeof(alpn_other) - 1);
	ck_assert_int_eq(mux_classify(buf, n, &h), MUX_TLS);
	ck_assert(h.has_alpn);
	ck_assert_uint_eq(h.alpn, MUX_ALPN_OTHER);
	ck_assert_str_eq(h.alpn_names[0], "acme-tls/1");
	ck_assert_int_eq(mux_tls_route(&h), MUX_ROUTE_INSPECT);

	n = build_hello(buf, alpn_both, sizeof(alpn_both) - 1);
	ck_assert_int_eq(mux_classify(buf, n, &h), MUX_TLS);
	ck_assert_uint_eq(h.n_alpn, 2);
	ck_assert_str_eq(h.alpn_names[1], "stun.turn");
	ck_assert_int_eq(mux_tls_route(&h), MUX_ROUTE_TURN);
}
END_TEST

/* Pins: a hello of 12 KiB (a big unknown extension) in one record is parsed; one that announces
 * more than MUX_PEEK_MAX is refused from its first 9 bytes, without waiting for the rest. */
START_TEST(test_sizes)
{
	static uint8_t ext[12288], buf[12288 + 64];
	struct mux_hello h;
	size_t n;

	ext[0] = 0xfe;  /* an unknown extension type 0xfe0d... */
	ext[1] = 0x0d;
	ext[2] = (uint8_t)((sizeof(ext) - 4) >> 8);
	ext[3] = (uint8_t)(sizeof(ext) - 4);
	n = build_hello(buf, ext, sizeof(ext));
	ck_assert_int_eq(mux_classify(buf, n, &h), MUX_TLS);
	ck_assert_uint_eq(h.hello_len, n);

	/* A 20000-byte body: record length says 16384, handshake length 20000. */
	memcpy(buf, (const uint8_t[]){ 0x16, 3, 1, 0x40, 0x00, 1, 0x00, 0x4e, 0x20 }, 9);
	ck_assert_int_eq(mux_classify(buf, 9, &h), MUX_REJECT);
	ck_assert_ptr_nonnull(strstr(h.reason, "larger than MUX_PEEK_MAX"));
	/* A record above 2^14. */
	memcpy(buf, (const uint8_t[]){ 0x16, 3, 1, 0x40, 0x01 }, 5);
	ck_assert_int_eq(mux_classify(buf, 5, &h), MUX_REJECT);
}
END_TEST

/* Pins: each kind of damage to a real hello is refused with a reason naming it, and no partial
 * SNI/ALPN is reported with a refusal. Offsets are into curl-https.bin (SNI extension at 144,
 * ALPN extension at 196). */
START_TEST(test_malformed)
{
	static const struct {
		size_t off;
		uint8_t val;
		const char *want;
	} cases[] = {
		{ 0, 0x17, "not TLS, STUN or HTTP" },       /* application data record first */
		{ 1, 0x02, "record version is not 3.x" },
		{ 3, 0x00, "record length is 0" },
		{ 3, 0x01, "a record other than handshake" }, /* hello continues past the record */
		{ 5, 0x02, "not a ClientHello" },           /* ServerHello */
		{ 9, 0x02, "legacy_version" },
		{ 43, 33, "session id" },                   /* session id length 33 */
		{ 77, 0x3f, "cipher suites" },              /* odd cipher suites length */
		{ 146, 0xff, "extension overruns" },        /* SNI extension length past the block */
		{ 149, 0x00, "server_name: bad list length" },
		{ 152, 0x00, "server_name: bad entry length" },
		{ 153, 0x20, "server_name: host name is not printable ASCII" },
		{ 157, 0x00, "server_name: host name is not printable ASCII" },
		{ 201, 0x0b, "ALPN: bad list length" },
		{ 202, 0x00, "ALPN: bad protocol name length" },
	};
	struct vec v = load("curl-https.bin");
	struct mux_hello h;

	/* The offsets assume this layout: check the anchors first. */
	ck_assert_int_eq(v.buf[144] | v.buf[145], 0x00);  /* extension type server_name */
	ck_assert_int_eq(v.buf[153], 'l');               /* "localhost" */
	ck_assert_int_eq(v.buf[197], 0x10);              /* extension type ALPN */
	ck_assert_int_eq(v.buf[202], 0x02);              /* "h2" length */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *b = malloc(v.len);
		int kind;

		memcpy(b, v.buf, v.len);
		b[cases[i].off] = cases[i].val;
		kind = mux_classify(b, v.len, &h);
		ck_assert_msg(kind == MUX_REJECT, "case %zu: %s", i, mux_kind_name(kind));
		ck_assert_msg(strstr(h.reason, cases[i].want), "case %zu: \"%s\", want \"%s\"", i,
			      h.reason, cases[i].want);
		ck_assert(!h.has_sni && !h.has_alpn && h.hello_len == 0);
		free(b);
	}
	free(v.buf);
}
END_TEST

/* Pins: duplicate SNI or ALPN extensions are refused (RFC 8446 §4.2: one of each type), and bytes
 * after the extensions block inside the handshake message are refused. */
START_TEST(test_duplicates)
{
	static const uint8_t two_alpn[] = { 0, 16, 0, 5, 0, 3, 2, 'h', '2',
					    0, 16, 0, 5, 0, 3, 2, 'h', '2' };
	static const uint8_t two_sni[] = { 0, 0, 0, 6, 0, 4, 0, 0, 1, 'a',
					   0, 0, 0, 6, 0, 4, 0, 0, 1, 'b' };
	static const uint8_t two_names[] = { 0, 0, 0, 10, 0, 8, 0, 0, 1, 'a', 0, 0, 1, 'b' };
	uint8_t buf[256];
	struct mux_hello h;
	size_t n;

	n = build_hello(buf, two_alpn, sizeof(two_alpn));
	ck_assert_int_eq(mux_classify(buf, n, &h), MUX_REJECT);
	ck_assert_str_eq(h.reason, "ClientHello: two ALPN extensions");
	n = build_hello(buf, two_sni, sizeof(two_sni));
	ck_assert_int_eq(mux_classify(buf, n, &h), MUX_REJECT);
	ck_assert_str_eq(h.reason, "ClientHello: two server_name extensions");
	n = build_hello(buf, two_names, sizeof(two_names));
	ck_assert_int_eq(mux_classify(buf, n, &h), MUX_REJECT);
	ck_assert_str_eq(h.reason, "server_name: two host names");

	/* One stray byte after the extensions block, counted in both lengths. */
	n = build_hello(buf, two_alpn, 9);
	buf[n] = 0;
	buf[4]++;
	buf[8]++;
	ck_assert_int_eq(mux_classify(buf, n + 1, &h), MUX_REJECT);
	ck_assert_str_eq(h.reason, "ClientHello: extensions length does not match the message");
}
END_TEST

/* Pins: plaintext first bytes. STUN needs its 8 bytes but "not STUN" is decided at the first byte
 * that disagrees, so from byte 4 on each byte is asked for; HTTP methods, HTTP/2's preface and leading CRLF are HTTP; ChannelData, SSLv2,
 * NUL and other binary openings are refused. */
START_TEST(test_plaintext)
{
	static const struct {
		const char *bytes;
		size_t len;
		int kind;
		size_t need;
	} cases[] = {
		{ "", 0, MUX_NEED_MORE, 1 },
		{ "G", 1, MUX_HTTP, 0 },
		{ "OPTIONS * HTTP/1.1\r\n", 20, MUX_HTTP, 0 },
		{ "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24, MUX_HTTP, 0 },
		{ "\r\nGET / HTTP/1.1\r\n", 18, MUX_HTTP, 0 },
		{ "\x00\x01", 2, MUX_NEED_MORE, 4 },
		{ "\x00\x01\x00\x08\x21\x12\xa4", 7, MUX_NEED_MORE, 8 },
		{ "\x00\x01\x00\x08\x21\x12\xa4\x42", 8, MUX_STUN, 0 },
		{ "\x00\x01\x00\x09\x21\x12\xa4\x42", 8, MUX_REJECT, 0 },  /* length not 4k */
		{ "\x00\x01\x00\x08\x21\x13", 6, MUX_REJECT, 0 },          /* cookie differs */
		{ "\x00\x01\x00\x08\x21\x12\xa4\x41", 8, MUX_REJECT, 0 },
		{ "0123456789", 10, MUX_HTTP, 0 },                          /* tchar, no cookie */
		{ "01", 2, MUX_NEED_MORE, 4 },
		{ "\x40\x00\x00\x04", 4, MUX_REJECT, 0 },                  /* ChannelData */
		{ "\x80\x2e\x01\x00\x02", 5, MUX_REJECT, 0 },              /* SSLv2 hello */
		{ "\xff\xfe", 2, MUX_REJECT, 0 },
		{ " GET", 4, MUX_NEED_MORE, 5 },                            /* 0x20 may start STUN */
		{ " GET / HTTP/1.1", 15, MUX_REJECT, 0 },
		{ "\x16", 1, MUX_NEED_MORE, 5 },
		{ "\x16\x03\x01\x02\x00\x01\x00\x01", 8, MUX_NEED_MORE, 9 },
		{ "\x16\x03\x01\x02\x00\x01\x00\x01\xfc", 9, MUX_NEED_MORE, 517 },
		{ "\x16\x02", 2, MUX_REJECT, 0 },
		{ "\x16\x03\x01\x00\x00", 5, MUX_REJECT, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mux_hello h;
		int kind = mux_classify((const uint8_t *)cases[i].bytes, cases[i].len, &h);
		ck_assert_msg(kind == cases[i].kind, "case %zu: %s, want %s", i, mux_kind_name(kind),
			      mux_kind_name(cases[i].kind));
		ck_assert_msg(h.need == cases[i].need, "case %zu: need %zu, want %zu", i, h.need,
			      cases[i].need);
		ck_assert_int_eq(h.reason != NULL, kind == MUX_REJECT);
	}
}
END_TEST

/* Pins: bad arguments are -EINVAL; names of kinds. */
START_TEST(test_args)
{
	struct mux_hello h;
	ck_assert_int_eq(mux_classify(NULL, 1, &h), -EINVAL);
	ck_assert_int_eq(mux_classify((const uint8_t *)"G", 1, NULL), -EINVAL);
	ck_assert_int_eq(mux_classify(NULL, 0, &h), MUX_NEED_MORE);
	ck_assert_str_eq(mux_kind_name(MUX_TLS), "tls");
	ck_assert_str_eq(mux_kind_name(-EINVAL), "?");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mux");
	TCase *tc = tcase_create("mux");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_captures);
	tcase_add_test(tc, test_truncations);
	tcase_add_test(tc, test_fragmented);
	tcase_add_test(tc, test_synthetic);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_duplicates);
	tcase_add_test(tc, test_plaintext);
	tcase_add_test(tc, test_args);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
