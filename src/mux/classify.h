/*
 * mux: tells what a new connection on the shared TCP port speaks, from its first bytes.
 *
 * The shared port (mux.listen, 443 in production) carries HTTPS and WSS for the call page, TURN
 * over TLS and TURN over TCP. The listener peeks at the first bytes (MSG_PEEK: nothing is
 * consumed, so whoever gets the socket next sees it untouched) and calls mux_classify() until it
 * returns something other than MUX_NEED_MORE:
 *
 *   first byte 0x16, a TLS handshake record  -> MUX_TLS once the whole ClientHello is in, with its
 *                                               SNI and ALPN parsed (mux_tls_route() says where
 *                                               it goes)
 *   top two bits 0, magic cookie at bytes 4-7 -> MUX_STUN (TURN over TCP, RFC 8656 §3.1)
 *   an HTTP token character or CR/LF          -> MUX_HTTP
 *   anything else, or a malformed ClientHello -> MUX_REJECT (close it)
 *
 * A client speaks first on all three protocols, so one flight of bytes always decides: nothing
 * here waits for a second message. Pure functions, no allocation, no I/O; safe on untrusted
 * bytes and fuzzed by tests/fuzz/fuzz_mux.c. See docs/ports.md for the design.
 */
#ifndef TINCAN_MUX_CLASSIFY_H
#define TINCAN_MUX_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The most bytes a ClientHello may take on the wire, record headers included: 16 KiB, one full
 * TLS record. Browsers send about 2 KB today (Chromium 156: 1.9-2.0 KB, of which 1216 bytes are
 * the X25519MLKEM768 key share); 16 KiB leaves room for larger post-quantum key shares. A hello
 * that cannot fit is MUX_REJECT, so MUX_NEED_MORE never asks for more than this. Callers peek
 * into a buffer of this size (scratch, not kept per connection).
 */
#define MUX_PEEK_MAX 16384

#define MUX_SNI_MAX 256        /* host_name is 1..255 bytes (RFC 6066 §3), plus NUL */
#define MUX_ALPN_MAX 8         /* ALPN names kept for logs; more are still counted and flagged */
#define MUX_ALPN_NAME_MAX 32   /* bytes kept of each name, plus NUL */

enum mux_kind {
	MUX_NEED_MORE = 0, /* too few bytes to decide: call again with at least out->need bytes */
	MUX_STUN,          /* a STUN header: TURN over TCP */
	MUX_TLS,           /* a complete, well-formed TLS ClientHello */
	MUX_HTTP,          /* plaintext that is not STUN: HTTP (or garbage lws will refuse) */
	MUX_REJECT,        /* none of these, a malformed or oversized ClientHello: out->reason */
};

/* ALPN protocols (RFC 7301) the shared port routes on: bits of mux_hello.alpn. */
enum mux_alpn {
	MUX_ALPN_H2 = 1 << 0,        /* "h2" */
	MUX_ALPN_HTTP11 = 1 << 1,    /* "http/1.1" */
	MUX_ALPN_STUN_TURN = 1 << 2, /* "stun.turn" (RFC 7443) */
	MUX_ALPN_OTHER = 1 << 3,     /* any other name */
};

/* What mux_classify() found. Fields not listed for a kind are zero. */
struct mux_hello {
	/* MUX_NEED_MORE: the total length (> len) to have before calling again; fewer bytes can
	 * only be refused, never accepted. Never more than MUX_PEEK_MAX. */
	size_t need;
	/* MUX_REJECT: why, a static string for the log. */
	const char *reason;

	/* MUX_TLS: */
	size_t hello_len;          /* input bytes up to the ClientHello's last byte */
	unsigned n_records;        /* TLS records it spans (1 for every client seen) */
	uint16_t legacy_version;   /* ClientHello.legacy_version: 0x0303 for TLS 1.2 and 1.3 */
	bool has_sni;
	char sni[MUX_SNI_MAX];     /* the server_name host_name: printable ASCII, NUL-terminated */
	bool has_alpn;             /* the ALPN extension is present */
	unsigned alpn;             /* enum mux_alpn bits of the names offered */
	size_t n_alpn;             /* names offered */
	/* The first MUX_ALPN_MAX names, cut to MUX_ALPN_NAME_MAX - 1 bytes, bytes outside
	 * printable ASCII shown as '?': for logs only, route on @alpn. */
	char alpn_names[MUX_ALPN_MAX][MUX_ALPN_NAME_MAX];
};

/*
 * Classifies the first @len bytes a client sent (@buf may be NULL if @len is 0) into @out.
 * Returns an enum mux_kind, or -EINVAL if @out is NULL or @buf is NULL with @len > 0.
 * Decides as soon as the bytes allow: STUN needs 8 bytes, HTTP 1 (up to 8 if its first byte could
 * also start STUN), TLS the whole ClientHello, which may span several records. MUX_NEED_MORE's
 * need is a lower bound of every decision but MUX_REJECT, which may come earlier.
 * Applied to the first bytes decrypted from a TLS connection, MUX_TLS means TLS inside TLS:
 * callers treat it as MUX_REJECT.
 */
int mux_classify(const uint8_t *buf, size_t len, struct mux_hello *out);

/* Where a TLS connection goes, decided from its ClientHello's ALPN (docs/ports.md). */
enum mux_route {
	MUX_ROUTE_TURN,     /* ALPN offers stun.turn: TURN over TLS, terminated by tincand */
	MUX_ROUTE_HTTP,     /* ALPN offers h2 or http/1.1 and not stun.turn: HTTPS/WSS for lws */
	/* No ALPN, or only names we do not serve: tincand terminates TLS and classifies the first
	 * decrypted bytes. Chromium's TURN over TLS sends no ALPN, so browsers' TURN/TLS is here. */
	MUX_ROUTE_INSPECT,
};

/* The route of a MUX_TLS result. */
enum mux_route mux_tls_route(const struct mux_hello *h);

/* "need-more", "stun", "tls", "http", "reject", or "?" for logs and tests. */
const char *mux_kind_name(int kind);

#endif
