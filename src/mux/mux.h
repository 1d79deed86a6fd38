/*
 * mux: the shared port (mux.listen, 443 in production). One TCP listener carries HTTPS and WSS for
 * the call page, TURN over TLS and TURN over TCP; each connection is classified from its first
 * bytes (classify.h) and handed to whoever serves it:
 *
 *   plain STUN                         -> the TURN workers (turn_server_adopt_stream, no TLS)
 *   plain anything else                -> a 308 redirect to https:// (mux.redirect_http), or lws
 *   TLS, ALPN h2 / http/1.1            -> lws, which does the handshake (HTTP_ADOPT_TLS)
 *   TLS, ALPN stun.turn or no ALPN     -> tincand terminates TLS here, then the first decrypted
 *                                         bytes decide: STUN -> the TURN workers with the SSL;
 *                                         anything else -> lws through a socketpair this thread
 *                                         pumps (HTTP_ADOPT_PROXIED)
 *
 * One thread with its own libevent loop does it all. It only sets connections up: the data of a
 * call then flows on a TURN worker, a page and its WebSocket on the lws thread; only the rare
 * HTTPS client without ALPN keeps this thread busy pumping its bytes. A client that does not
 * decide in mux.classify_timeout seconds is closed; mux.max_unclassified_per_ip and
 * mux.max_unclassified bound what slow or silent clients can hold. See docs/ports.md.
 */
#ifndef TINCAN_MUX_MUX_H
#define TINCAN_MUX_MUX_H

#include <stdint.h>

#include "core/config.h"

struct mux_server;
struct tls_server;
struct turn_server;
struct http_server;

/* What the shared port has done so far (monotonic totals, but unclassified_now). */
struct mux_counters {
	uint64_t accepted;
	uint64_t to_turn_tcp;       /* plain STUN -> TURN over TCP */
	uint64_t to_turn_tls;       /* TLS, then STUN -> TURN over TLS */
	uint64_t to_https;          /* TLS with ALPN h2/http/1.1 -> lws */
	uint64_t to_https_proxied;  /* TLS without ALPN, then HTTP -> lws via a socketpair */
	uint64_t to_http;           /* plain HTTP -> lws */
	uint64_t redirected;        /* plain HTTP -> 308 to https:// */
	uint64_t rejected;          /* not TLS, STUN or HTTP; a malformed hello; TLS that failed */
	uint64_t timed_out;         /* closed at mux.classify_timeout */
	uint64_t over_limit;        /* closed at accept: mux.max_unclassified(_per_ip) */
	uint64_t unclassified_now;
};

/*
 * Binds every mux.listen address and starts the mux thread. @tls gives the certificate for the
 * TLS that tincand terminates; @turn and @http take the classified connections. All must outlive
 * the server. Returns 0; -EINVAL (no mux.listen), or a negative errno (an address cannot be
 * bound: logged with the address); on error nothing is left running.
 */
int mux_server_start(struct mux_server **out, const struct config *cfg, struct tls_server *tls,
		     struct turn_server *turn, struct http_server *http);

/*
 * Makes the shared port use @cfg, whose mux.listen and TURN addresses equal those it started
 * with (config_reconcile). Its thread takes @cfg between two callbacks; this call waits for it,
 * so that on return the previous configuration is no longer read here. Live:
 * mux.redirect_http, mux.classify_timeout (for connections accepted from then on),
 * mux.max_unclassified and mux.max_unclassified_per_ip (connections already open stay). Call
 * from one thread at a time, before mux_server_stop(). Returns 0; -EINVAL; -ENOMEM (nothing
 * changed).
 */
int mux_server_reload(struct mux_server *srv, const struct config *cfg);

/* Copies the counters. Callable from any thread. */
void mux_server_counters(const struct mux_server *srv, struct mux_counters *out);

/* Stops the thread, closes the listeners, every connection not yet handed over and every proxied
 * one. @srv may be NULL. */
void mux_server_stop(struct mux_server *srv);

#endif
