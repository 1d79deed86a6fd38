/*
 * http: the libwebsockets server: REST API (/api/...), signaling WebSocket (/api/signal), metrics
 * and the static web UI. Runs its event loop on the thread that calls http_server_run() (the
 * control thread); Debian's lws 4.1.6 has no libevent or external-poll support.
 */
#ifndef TINCAN_HTTP_HTTP_H
#define TINCAN_HTTP_HTTP_H

#include "core/config.h"

struct http_server;
struct turn_server;

/* Creates the lws context and binds the listen address. @cfg must outlive the server; @turn (may be
 * NULL) is read for counters. Returns 0, or a negative errno. */
int http_server_create(struct http_server **out, const struct config *cfg, struct turn_server *turn);

/* Runs the event loop on the calling thread until http_server_stop(). Returns 0. */
int http_server_run(struct http_server *srv);

/* Asks the loop to return. Safe from any thread (not from a signal handler). */
void http_server_stop(struct http_server *srv);

/* Frees the server; closes every connection. @srv may be NULL. */
void http_server_destroy(struct http_server *srv);

/* How an adopted connection arrives (see http_server_adopt). */
enum http_adopt_mode {
	HTTP_ADOPT_PLAIN,    /* plaintext HTTP/1.1 from the client's first byte */
	HTTP_ADOPT_TLS,      /* a TLS ClientHello not yet read (only peeked): lws does the handshake */
	HTTP_ADOPT_PROXIED,  /* one end of a socketpair carrying the decrypted stream of a TLS
			      * connection terminated by the caller: plaintext, but secure, and the
			      * real client is @peer (never treat it as a local client) */
};

/*
 * Hands an accepted connection to the control thread, which serves HTTP/WebSocket on it like one
 * accepted on http.listen. Used by the shared port (src/mux). Callable from any thread: the
 * connection is queued and the lws loop woken (lws_cancel_service); lws adopts it on its thread.
 *  @fd:   connected, non-blocking socket; ownership passes to the HTTP server.
 *  @peer: the real client address: used for per-client limits and loopback-only routes
 *         (/metrics), which must not open up to remote clients whose bytes arrive via a proxy.
 * Returns 0; -ENOMEM, -ESHUTDOWN (stopping). On error @fd is closed.
 */
int http_server_adopt(struct http_server *srv, int fd, const struct sockaddr_storage *peer,
		      enum http_adopt_mode mode);

/*
 * Readies HTTP_ADOPT_TLS: a vhost without a listener that terminates TLS (1.2 and up, ALPN
 * http/1.1) with the PEM files @cert (leaf first, then its chain) and @key, the same files as
 * src/core/tls (tls_server_cert_path(), tls_server_key_path()), copied. Also makes
 * GET /api/ice-servers and the WebSocket welcome offer turns:HOST:PORT?transport=tcp, PORT the
 * first mux.listen. Call before http_server_run(). Returns 0; -EIO if lws refuses the files.
 */
int http_server_tls(struct http_server *srv, const char *cert, const char *key);

/* Makes the TLS vhost read its files again (after a SIGHUP, once tls_server_reload() has checked
 * them): new connections get the new certificate, open ones keep theirs. Callable from any
 * thread; done on the control thread (lws_tls_cert_updated). */
void http_server_reload_tls(struct http_server *srv);

struct mux_server;

/* Adds the shared port's counters (mux_server_counters) to /metrics. Call on the control thread
 * before http_server_run(); @mux must outlive the server's loop. */
void http_server_set_mux(struct http_server *srv, struct mux_server *mux);

/*
 * Makes the server use @cfg, whose restart-only options (http.listen, http.html_dir, the TURN and
 * shared port addresses) equal those it started with (config_reconcile). Callable from another
 * thread than the control thread: @cfg is handed to the control thread (lws_cancel_service),
 * which switches to it between two callbacks, together with the rooms' limits
 * (signal_hub_set_limits); this call waits for that, so that when it returns the server no
 * longer reads the previous configuration. If the loop has already returned, the switch is made
 * here. Live: rooms.*, http.selftest_rate, http.metrics_allow, the TURN secret and credential
 * lifetime of minted credentials; rooms and WebSocket sessions stay. Returns 0, or -EINVAL.
 */
int http_server_reload(struct http_server *srv, const struct config *cfg);

#endif
