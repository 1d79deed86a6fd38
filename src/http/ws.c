/*
 * The signaling WebSocket: GET /api/signal?token=<JWT>, subprotocol tincan.v1.
 *
 * One connection is one peer of one room (src/signal/). A peer outlives a connection that drops
 * (rooms.reconnect_grace): only a close frame with 1000 from the client means "I leave". The
 * upgrade request is checked before lws
 * answers it, so a bad token, an unknown room or a full room gets a real HTTP status (401, 404,
 * 409) instead of a socket that opens and closes at once; the checks run again when the socket
 * is established, in the same service call, so nothing can change in between.
 *
 * Outgoing messages wait in a per-connection queue drained one per writeable callback, the way
 * lws wants writes done. The queue is bounded: a client that does not read its messages is
 * disconnected rather than allowed to grow the server's memory without limit.
 *
 * Keepalive is done here, not by lws's validity timers (retry_and_idle_policy): lws 4.1 keeps
 * one timer per connection in a sorted linked list and re-inserts it, walking the list, on every
 * ping and pong, so with 10,000 sockets each ping round stalled the loop for seconds
 * (docs/performance.md), and its hangup sent a close frame with a garbage status code. Here a
 * connection records when it last heard from its client, and one timer sweeps the list every
 * HTTP_WS_KEEPALIVE_TICK seconds: O(1) per message, O(connections) per tick, at most
 * HTTP_WS_PINGS_PER_TICK pings per tick.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "core/log.h"
#include "http/internal.h"
#include "turn/turn.h"

/* Per-connection send queue bounds. A burst of ICE candidates is a few dozen small messages;
 * 256 messages or 1 MiB is far past any honest backlog. */
#define WS_QUEUE_MSGS 256
#define WS_QUEUE_BYTES (1024 * 1024)
/* Seconds a closing connection gets to flush its queue before it is cut. */
#define WS_CLOSE_GRACE 5

struct ws_msg {
	struct ws_msg *next;
	size_t len;
	unsigned char buf[];           /* LWS_PRE bytes of room for lws, then the text */
};

static void queue_free(struct ws_conn *c)
{
	struct ws_msg *m, *next;

	for (m = c->q_head; m; m = next) {
		next = m->next;
		free(m);
	}
	c->q_head = c->q_tail = NULL;
	c->q_count = c->q_bytes = 0;
}

/* Sends what is queued, then closes with @code. */
static void ws_close(struct ws_conn *c, int code, const char *reason)
{
	if (c->closing)
		return;
	c->closing = true;
	c->close_code = code;
	c->close_reason = reason;
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, WS_CLOSE_GRACE);
	lws_callback_on_writable(c->wsi);
}

int http__ws_send(void *conn, const char *json, size_t len, void *arg)
{
	struct http_server *srv = arg;
	struct ws_conn *c = conn;
	struct ws_msg *m;

	if (srv->destroying || c->closing)
		return -EPIPE;
	if (c->q_count >= WS_QUEUE_MSGS || c->q_bytes + len > WS_QUEUE_BYTES) {
		/* Its TCP window is likely shut too, so a polite close frame could wait forever:
		 * cut the connection at the next service instead. */
		log_info("http: peer %.6s... does not read its messages; disconnecting it",
			 c->peer ? signal_peer_id(c->peer) : "?");
		queue_free(c);
		c->closing = true;
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return -ENOBUFS;
	}
	m = malloc(sizeof(*m) + LWS_PRE + len);
	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->len = len;
	memcpy(m->buf + LWS_PRE, json, len);
	if (c->q_tail)
		c->q_tail->next = m;
	else
		c->q_head = m;
	c->q_tail = m;
	c->q_count++;
	c->q_bytes += len;
	lws_callback_on_writable(c->wsi);
	return 0;
}

void http__ws_close_conn(void *conn, int code, const char *reason, void *arg)
{
	struct ws_conn *c = conn;

	(void)arg;
	c->peer = NULL;  /* the hub gave the peer to another connection */
	ws_close(c, code, reason);
}

void http__participant_gone(const char *room, const char *id, void *arg)
{
	struct http_server *srv = arg;
	int err;

	/* The participant will not come back: its TURN credentials (which name it) stop working and
	 * its allocations go, even before the credentials expire (room-bound credentials). */
	log_debug("http: participant %.6s... of room %.6s... is gone", id, room);
	if (!srv->turn)
		return;
	err = turn_server_revoke(srv->turn, id);
	if (err)
		log_warn("http: cannot revoke the TURN credentials of participant %.6s...: %s", id,
			 strerror(-err));
}

/* ---- admission ---- */

/* True if the client offered WS_PROTO in Sec-WebSocket-Protocol (a comma-separated list). */
static bool offers_subprotocol(struct lws *wsi)
{
	char buf[256], *tok, *save = NULL;

	if (lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_PROTOCOL) <= 0)
		return false;
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save))
		if (!strcmp(tok, WS_PROTO))
			return true;
	return false;
}

/* Checks the request's token and room for a new connection. Returns 0 with the claims and the
 * room, or the HTTP status that refuses it, with *@detail. */
static unsigned admit(struct lws *wsi, struct http_server *srv, struct signal_claims *claims,
		      struct signal_room **room, const char **detail)
{
	char buf[2048];
	const char *tok = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof(buf));
	int err;

	if (!tok || !*tok) {
		*detail = "the join token is missing (?token=...)";
		return 401;
	}
	err = signal_token_verify(&srv->cfg->rooms.token_secret, tok, time(NULL), claims);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (err) {
		*detail = err == -ETIME ? "the token has expired" : "the token is invalid";
		return 401;
	}
	*room = signal_room_find(srv->hub, claims->room);
	if (!*room) {
		*detail = "the token's room no longer exists";
		return 404;
	}
	/* A participant id that already has a seat resumes it (signal_room_join()). */
	if (signal_room_can_join(*room, claims->sub)) {
		*detail = "the room is full";
		return 409;
	}
	return 0;
}

int http__ws_confirm_upgrade(struct lws *wsi, const char *upgrade)
{
	struct http_server *srv = http__server(wsi);
	struct signal_claims claims;
	struct signal_room *room;
	const char *detail;
	char path[HTTP_PATH_MAX];
	unsigned status;

	/* Other upgrades (h2c) are lws's own business. */
	if (!upgrade || strcasecmp(upgrade, "websocket"))
		return 0;
	if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0 ||
	    strcmp(path, "/api/signal"))
		return http__refuse(wsi, 404, "WebSockets are only served at /api/signal", NULL);
	if (srv->stopping)
		return http__refuse(wsi, 503, "the server is shutting down", NULL);
	if (!offers_subprotocol(wsi))
		return http__refuse(wsi, 400, "request the WebSocket subprotocol " WS_PROTO, NULL);
	status = admit(wsi, srv, &claims, &room, &detail);
	if (status == 401)
		return http__refuse(wsi, 401, detail, (const char *const[]){
			"www-authenticate:", "Bearer realm=\"tincan\", error=\"invalid_token\"",
			NULL });
	if (status)
		return http__refuse(wsi, status, detail, NULL);
	return 0;
}

/* ---- the connection ---- */

static int ws_established(struct lws *wsi, struct ws_conn *c)
{
	struct http_server *srv = http__server(wsi);
	struct signal_claims claims;
	struct signal_room *room;
	struct signal_join join;
	const char *detail;
	json_t *ice;
	int err;

	memset(c, 0, sizeof(*c));
	c->wsi = wsi;
	c->last_rx = http__mono_now();
	/* The upgrade was admitted a moment ago; the check runs again because only now is there
	 * a connection to attach the peer to, and two upgrades with one token may have raced. */
	if (admit(wsi, srv, &claims, &room, &detail)) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
				 (unsigned char *)detail, strlen(detail));
		return -1;
	}
	ice = http__ice_servers(srv, claims.sub, srv->cfg->turn.credential_lifetime);
	if (!ice)
		return -1;
	lws_dll2_add_tail(&c->list, &srv->conns);
	join = (struct signal_join){ .id = claims.sub, .name = claims.name, .conn = c,
				     .ice_servers = ice };
	err = signal_room_join(room, &join, &c->peer);
	json_decref(ice);
	if (err) {
		lws_dll2_remove(&c->list);
		return -1;
	}
	log_debug("http: peer %.6s... connected to room %.6s... (%u/%u)", claims.sub, claims.room,
		  signal_room_peers(room), signal_room_capacity(room));
	return 0;
}

static int ws_receive(struct lws *wsi, struct ws_conn *c, const void *in, size_t len)
{
	size_t remaining = lws_remaining_packet_payload(wsi);
	char *rx;

	c->last_rx = http__mono_now();
	c->pinged = false;
	if (c->closing || !c->peer)
		return 0;
	if (!c->rx_len)
		c->rx_binary = lws_frame_is_binary(wsi);
	/* Counting what the frame header announces refuses a huge frame at its first bytes. */
	if (c->rx_len + len + remaining > SIGNAL_MSG_MAX) {
		free(c->rx);
		c->rx = NULL;
		c->rx_len = 0;
		signal_peer_error(c->peer, "too-large", "a message may have at most 65536 bytes");
		ws_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too large");
		return 0;
	}
	/* Grow to what this frame announces: messages are mostly small, and a full 64 KiB per
	 * connection would be wasted. */
	if (len + remaining) {
		rx = realloc(c->rx, c->rx_len + len + remaining);
		if (!rx)
			return -1;
		c->rx = rx;
	}
	if (len)  /* an empty frame may come as (NULL, 0) */
		memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	if (!lws_is_final_fragment(wsi) || remaining)
		return 0;

	len = c->rx_len;
	c->rx_len = 0;
	if (c->rx_binary)
		signal_peer_error(c->peer, "bad-json", "send JSON in text messages, not binary");
	else
		signal_peer_recv(c->peer, c->rx ? c->rx : "", len);
	free(c->rx);
	c->rx = NULL;
	return 0;
}

static int ws_writeable(struct lws *wsi, struct ws_conn *c)
{
	struct ws_msg *m = c->q_head;
	unsigned char ping[LWS_PRE + 4];
	int n;

	if (c->ping_due && !c->closing) {
		/* lws 4.1 passes a pong to LWS_CALLBACK_RECEIVE_PONG only if it has a payload, so the
		 * ping carries 4 bytes for the client to echo. */
		c->ping_due = false;
		c->pinged = true;
		memcpy(ping + LWS_PRE, "tcan", 4);
		if (lws_write(wsi, ping + LWS_PRE, 4, LWS_WRITE_PING) < 0)
			return -1;
		if (m)
			lws_callback_on_writable(wsi);
		return 0;
	}
	if (m) {
		c->q_head = m->next;
		if (!c->q_head)
			c->q_tail = NULL;
		c->q_count--;
		c->q_bytes -= m->len;
		n = lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
		free(m);
		if (n < 0)
			return -1;
		if (c->q_head || c->closing)
			lws_callback_on_writable(wsi);
		return 0;
	}
	if (c->closing) {
		lws_close_reason(wsi, (enum lws_close_status)c->close_code,
				 (unsigned char *)c->close_reason, strlen(c->close_reason));
		return -1;
	}
	return 0;
}

/* The client's close frame: 1000 (normal closure) is how a page says it leaves for good. */
static void ws_peer_close(struct ws_conn *c, const unsigned char *in, size_t len)
{
	if (len >= 2 && (in[0] << 8 | in[1]) == LWS_CLOSE_STATUS_NORMAL)
		c->leaving = true;
}

static void ws_closed(struct lws *wsi, struct ws_conn *c)
{
	struct http_server *srv = http__server(wsi);

	if (c->peer && !srv->destroying) {
		if (c->leaving) {
			log_debug("http: peer %.6s... left", signal_peer_id(c->peer));
			signal_peer_leave(c->peer, http__mono_now());
		} else {
			/* Dropped, not left: the seat is kept for rooms.reconnect_grace. */
			log_debug("http: peer %.6s... disconnected", signal_peer_id(c->peer));
			signal_peer_detach(c->peer, http__mono_now());
		}
		http__arm_expiry(srv);
	}
	c->peer = NULL;
	queue_free(c);
	free(c->rx);
	c->rx = NULL;
	if (c->list.owner)
		lws_dll2_remove(&c->list);
	if (srv->stopping && !srv->destroying && !srv->conns.count) {
		lws_sul_cancel(&srv->drain_sul);
		srv->running = false;
	}
}

int http__ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		      size_t len)
{
	struct ws_conn *c = user;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		return ws_established(wsi, c);
	case LWS_CALLBACK_RECEIVE:
		return ws_receive(wsi, c, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return ws_writeable(wsi, c);
	case LWS_CALLBACK_RECEIVE_PONG:
		c->last_rx = http__mono_now();
		c->pinged = false;
		return 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		ws_peer_close(c, in, len);
		return 0;
	case LWS_CALLBACK_CLOSED:
		ws_closed(wsi, c);
		return 0;
	default:
		return 0;
	}
}

size_t http__ws_close_all(struct http_server *srv)
{
	lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&srv->conns)) {
		struct ws_conn *c = lws_container_of(d, struct ws_conn, list);

		ws_close(c, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
	} lws_end_foreach_dll_safe(d, d1);
	return srv->conns.count;
}

static void keepalive_cb(lws_sorted_usec_list_t *sul)
{
	struct http_server *srv = lws_container_of(sul, struct http_server, keepalive_sul);
	time_t now = http__mono_now();
	unsigned pings = 0;

	if (srv->destroying)
		return;
	/* A plain for loop, not lws_start_foreach_dll_safe: a `continue` in that macro's body skips
	 * its step and spins on the same connection forever. */
	for (struct lws_dll2 *d = lws_dll2_get_head(&srv->conns), *next; d; d = next) {
		struct ws_conn *c = lws_container_of(d, struct ws_conn, list);
		time_t silent = now - c->last_rx;

		next = d->next;
		if (c->closing)
			continue;
		if (silent >= HTTP_WS_HANGUP_SECS) {
			/* Gone without a FIN (or not answering pings): no close frame, it would
			 * wait in a dead TCP window. ws_closed() keeps the seat for
			 * rooms.reconnect_grace as for any drop. */
			log_debug("http: peer %.6s... silent for %lld s; dropping it",
				  c->peer ? signal_peer_id(c->peer) : "?", (long long)silent);
			queue_free(c);
			c->closing = true;
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		} else if (silent >= HTTP_WS_PING_SECS && !c->pinged && !c->ping_due &&
			   pings < HTTP_WS_PINGS_PER_TICK) {
			/* The rest wait for the next tick: still silent, still due. */
			pings++;
			c->ping_due = true;
			lws_callback_on_writable(c->wsi);
		}
	}
	lws_sul_schedule(srv->ctx, 0, &srv->keepalive_sul, keepalive_cb,
			 (lws_usec_t)HTTP_WS_KEEPALIVE_TICK * LWS_US_PER_SEC);
}

void http__ws_keepalive_start(struct http_server *srv)
{
	lws_sul_schedule(srv->ctx, 0, &srv->keepalive_sul, keepalive_cb,
			 (lws_usec_t)HTTP_WS_KEEPALIVE_TICK * LWS_US_PER_SEC);
}
