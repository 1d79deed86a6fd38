/*
 * http internals: the server struct and what server.c (context, loop, dispatch), api.c (REST
 * routes), ws.c (the signaling WebSocket) and metrics.c share. Nothing outside src/http/ includes
 * this. Everything here runs on the control thread, except http_server_stop().
 */
#ifndef TINCAN_HTTP_INTERNAL_H
#define TINCAN_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <libwebsockets.h>

#include "core/config.h"
#include "http/http.h"
#include "signal/signal.h"

#define HTTP_PROTO "tincan-http"       /* lws protocol of the REST API, /metrics, static files */
#define WS_PROTO "tincan.v1"           /* WebSocket subprotocol of /api/signal */

#define HTTP_BODY_MAX 8192             /* largest request body we parse, bytes */
/* A body larger than HTTP_BODY_MAX is read and dropped up to this size so that the 413 reaches
 * the client (closing with unread input makes the kernel send a RST, which can destroy the
 * response before the client reads it); past it the connection is cut. */
#define HTTP_DRAIN_MAX (1024 * 1024)
#define HTTP_PATH_MAX 256

/* WebSocket keepalive, seconds (ws.c). A laptop lid closing sends no FIN, and its peer should
 * see peer-left in about a minute, not in hours. */
#define HTTP_WS_PING_SECS 30
#define HTTP_WS_HANGUP_SECS 60
#define HTTP_WS_KEEPALIVE_TICK 1
/* Pings sent per tick at most: sockets opened together fall silent together, and 10,000 pings
 * (and pongs) in one loop iteration would delay every signaling message behind them. */
#define HTTP_WS_PINGS_PER_TICK 1000

struct ws_msg;
struct ev_loop;

/*
 * A connection handed over by the shared port (http_server_adopt). Queued under adopt_lock by
 * any thread, adopted by lws on the control thread, then the wsi's opaque user data until lws
 * destroys the wsi (LWS_CALLBACK_WSI_DESTROY). It carries what lws cannot know: the real client
 * of a proxied connection (lws sees an AF_UNIX peer) and whether it arrived over TLS.
 */
struct http_adopted {
	struct lws_dll2 list;          /* srv->adopt_queue, then srv->adopted */
	int fd;
	enum http_adopt_mode mode;
	struct sockaddr_storage peer;
};

/* Per-connection state of WS_PROTO (lws allocates it zeroed, one per WebSocket). */
struct ws_conn {
	struct lws_dll2 list;          /* in http_server.conns once established */
	struct lws *wsi;
	struct signal_peer *peer;      /* NULL until joined, and after leaving */
	struct ws_msg *q_head, *q_tail;  /* outgoing messages, bounded (ws.c) */
	size_t q_count, q_bytes;
	char *rx;                      /* the message being reassembled from fragments */
	size_t rx_len;
	bool rx_binary;
	time_t last_rx;                /* monotonic seconds: the client's last frame or pong */
	bool ping_due;                 /* the keepalive sweep wants a ping sent */
	bool pinged;                   /* a ping went out; nothing received since */
	bool leaving;                  /* the client closed with 1000: leave, keep no seat */
	bool closing;                  /* send what is queued, then close with close_code */
	int close_code;
	const char *close_reason;
};

struct http_server {
	/* The configuration in use, read and replaced on the control thread only: a reload
	 * (http_server_reload) hands the new one over through reload_cfg. */
	const struct config *cfg;
	struct turn_server *turn;      /* NULL: no TURN counters in /metrics */
	struct mux_server *mux;        /* NULL: no shared port, no tincan_mux_* metrics */
	struct lws_context *ctx;
	/* The epoll loop lws runs on (libev, passed to lws as a foreign loop so that
	 * http_server_run() decides when it stops); NULL: lws's own poll() loop (fallback). */
	struct ev_loop *loop;
	void *foreign_loops[1];        /* lws_context_creation_info.foreign_loops: { loop } */
	struct signal_hub *hub;

	lws_sorted_usec_list_t expire_sul;  /* deletes idle rooms */
	lws_sorted_usec_list_t drain_sul;   /* ends the loop if WebSockets do not close in time */
	lws_sorted_usec_list_t keepalive_sul;  /* pings idle WebSockets, drops silent ones (ws.c) */
	atomic_bool stop_requested;    /* set by http_server_stop() from another thread */
	bool running;                  /* http_server_run() loops while true */
	bool stopping;                 /* stop seen: WebSockets are being closed */
	bool destroying;               /* in http_server_destroy(): send nothing, leave no room */
	struct lws_dll2_owner conns;   /* every established struct ws_conn */

	char ice_host[CONFIG_HOST_MAX + 2];  /* turn.external_address, IPv6 in brackets */
	unsigned turn_port;
	unsigned mux_port;             /* the shared port for turns: URLs; 0 = none (no TLS) */

	/* The shared port's connections (http_server_adopt). */
	struct lws_vhost *vh_plain;    /* http.listen's vhost: PLAIN and PROXIED connections */
	struct lws_vhost *vh_tls;      /* no listener: TLS connections; NULL until http_server_tls */
	char tls_cert[PATH_MAX], tls_key[PATH_MAX];
	pthread_mutex_t adopt_lock;
	struct lws_dll2_owner adopt_queue;  /* guarded by adopt_lock */
	bool adopt_closed;             /* guarded by adopt_lock: refuse new ones (destroying) */
	struct lws_dll2_owner adopted;     /* control thread: live adopted connections */
	struct http_adopted *adopting; /* the one inside lws_adopt_descriptor_vhost_via_info() */
	atomic_bool tls_reload;        /* set by http_server_reload_tls() from another thread */
	/* http_server_reload(): the configuration waiting for the control thread (NULL: none),
	 * and loop_done once http_server_run() has returned (no callback takes it any more). */
	pthread_mutex_t reload_lock;
	pthread_cond_t reload_cond;
	const struct config *reload_cfg;
	bool loop_done;
	char html_dir[PATH_MAX];       /* http.html_dir as started: lws keeps the mount's pointer */

	/* POST /api/selftest rate limit: per client address hash, the minute and the count in it.
	 * Addresses that share a slot share a budget, which errs on the strict side. */
	struct {
		uint64_t key;
		time_t minute;
		unsigned count;
	} selftest[256];

	/* HTTP responses by status code (index 100..599), for /metrics: every answer tincand
	 * writes (API, /metrics, refused upgrades) and every static file lws served whole (200).
	 * lws's own error answers on the static mount (404 of a missing file) are not seen. */
	uint64_t http_status[600];

	/* lws keeps pointers to these for the context's life. */
	char iface[ADDR_STRLEN];
	struct lws_protocols protocols[3];
	struct lws_http_mount mounts[3];
	struct lws_protocol_vhost_options mimetypes[12];
	struct lws_protocol_vhost_options headers[4];
	lws_retry_bo_t retry;
};

/* Per-transaction state of HTTP_PROTO (lws allocates it per connection; a keep-alive connection
 * reuses it, so http__txn_reset() runs at the start of each request). */
struct http_txn {
	int method;                    /* LWSHUMETH_* */
	int route;                     /* enum in api.c, or -1 */
	char path[HTTP_PATH_MAX];
	char room[SIGNAL_ID_LEN + 1];  /* /api/rooms/<id>...: "" if <id> is not a valid id */
	unsigned early_status;         /* error decided from the headers, sent once the body is in */
	const char *early_detail;
	char *body;                    /* request body, NUL-terminated, up to HTTP_BODY_MAX */
	size_t body_len;
	size_t body_seen;              /* bytes received, including dropped ones */
	unsigned char *resp;           /* LWS_PRE + response body, written when writeable */
	size_t resp_len;
	bool responded;                /* a response is queued; ignore the rest of the body */
	bool close_after;              /* close the connection once the response is out */
};

/* The server of @wsi's context. */
struct http_server *http__server(struct lws *wsi);

/* The real client address of @wsi's connection (the shared port's peer for an adopted one, which
 * may reach lws through a socketpair). Returns false if it cannot be told. */
bool http__peer(struct lws *wsi, struct sockaddr_storage *out);

/* Monotonic seconds, the clock of room expiry. */
time_t http__mono_now(void);

/* Re-arms the idle-room timer after rooms changed (deletes rooms already due). */
void http__arm_expiry(struct http_server *srv);

/* Builds the RTCIceServer list for @participant: STUN and TURN URLs at turn.external_address and
 * a TURN REST credential for @participant valid for @lifetime seconds. Returns a new JSON array,
 * or NULL (-ENOMEM or a bad id). */
json_t *http__ice_servers(struct http_server *srv, const char *participant, unsigned lifetime);

/* Frees a transaction's buffers and clears it for the next request. */
void http__txn_reset(struct http_txn *t);

/* Queues a response: status line and headers now, @body (copied, @len bytes, may be 0) when the
 * connection is writeable. @extra is NULL or a NULL-terminated list of name, value pairs
 * ("allow:", "POST"). Returns 0, or -1 if the connection must be closed. */
int http__reply(struct lws *wsi, struct http_txn *t, unsigned status, const char *ctype,
		const char *body, size_t len, const char *const *extra);

/* Queues an RFC 9457 problem (application/problem+json) for @status with @detail. */
int http__problem(struct lws *wsi, struct http_txn *t, unsigned status, const char *detail,
		  const char *const *extra);

/* Answers an upgrade request with a problem right away (no per-connection state exists yet in
 * LWS_CALLBACK_HTTP_CONFIRM_UPGRADE). Returns 1 (the value that callback wants after answering),
 * or -1 to hang up. */
int http__refuse(struct lws *wsi, unsigned status, const char *detail, const char *const *extra);

/* Writes the queued response body (LWS_CALLBACK_HTTP_WRITEABLE). Returns 0, or -1 to close. */
int http__reply_write(struct lws *wsi, struct http_txn *t);

/* REST: LWS_CALLBACK_HTTP / _BODY / _BODY_COMPLETION for /api and /metrics. */
int http__api_request(struct lws *wsi, struct http_txn *t);
int http__api_body(struct lws *wsi, struct http_txn *t, const void *in, size_t len);
int http__api_body_done(struct lws *wsi, struct http_txn *t);

/* /metrics: Prometheus text for @srv into a new string (free()), or NULL. */
char *http__metrics_render(struct http_server *srv, size_t *len);

/* WebSocket: checks an upgrade request (LWS_CALLBACK_HTTP_CONFIRM_UPGRADE). Returns 0 to let it
 * proceed, 1 after answering it with an error status, -1 to hang up. */
int http__ws_confirm_upgrade(struct lws *wsi, const char *upgrade);

/* The callback of WS_PROTO. */
int http__ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		      size_t len);

/* Starts closing every WebSocket (1001 going away). Returns how many are open. */
size_t http__ws_close_all(struct http_server *srv);

/* Starts the WebSocket keepalive: every HTTP_WS_KEEPALIVE_TICK seconds, pings (up to
 * HTTP_WS_PINGS_PER_TICK of) the sockets that sent nothing for HTTP_WS_PING_SECS and drops those
 * silent for HTTP_WS_HANGUP_SECS. */
void http__ws_keepalive_start(struct http_server *srv);

/* The hooks given to the signal hub: send, close (a connection whose peer was taken over by a
 * newer one) and gone (a participant left for good). */
int http__ws_send(void *conn, const char *json, size_t len, void *arg);
void http__ws_close_conn(void *conn, int code, const char *reason, void *arg);
void http__participant_gone(const char *room, const char *id, void *arg);

#endif
