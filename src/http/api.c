/*
 * The REST API under /api, and /metrics: routing, request bodies, JSON and problem responses.
 * docs/api.md is the specification of every route and status here.
 *
 * lws delivers a request in up to three callbacks: the headers (LWS_CALLBACK_HTTP), the body in
 * pieces, then body completion. A request with a body is answered only after its whole body has
 * arrived, even when the headers alone decide the answer (404, 405, 413): answering early leaves
 * unread bytes that lws would then parse as the next request on a keep-alive connection.
 * Responses are written in two steps, headers at once and the body from the writeable callback,
 * the pattern lws needs for HTTP/2 streams as well as HTTP/1.1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "core/addr.h"
#include "core/cred.h"
#include "core/log.h"
#include "http/internal.h"

/* ---- responses ---- */

void http__txn_reset(struct http_txn *t)
{
	free(t->body);
	free(t->resp);
	memset(t, 0, sizeof(*t));
	t->route = -1;
}

static const char *status_title(unsigned status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/* The RFC 9457 body for @status: a new string (free()), or NULL. */
static char *problem_json(unsigned status, const char *detail)
{
	json_t *p = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank",
			      "title", status_title(status), "status", (int)status,
			      "detail", detail);
	char *s = p ? json_dumps(p, JSON_COMPACT) : NULL;

	json_decref(p);
	return s;
}

/* Adds the status line and headers to [*p, end). Returns 0, or -1 if they do not fit. */
static int put_headers(struct lws *wsi, unsigned status, const char *ctype, size_t len,
		       const char *const *extra, bool close, unsigned char **p, unsigned char *end)
{
	struct http_server *srv = http__server(wsi);

	if (status >= 100 && status < 600)
		srv->http_status[status]++;
	if (lws_add_http_common_headers(wsi, status, ctype, len, p, end))
		return -1;
	/* Tokens and TURN credentials must not sit in any cache. */
	if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, p, end))
		return -1;
	if (close && lws_add_http_header_by_name(wsi, (const unsigned char *)"connection:",
						 (const unsigned char *)"close", 5, p, end))
		return -1;
	for (; extra && extra[0]; extra += 2)
		if (lws_add_http_header_by_name(wsi, (const unsigned char *)extra[0],
						(const unsigned char *)extra[1],
						(int)strlen(extra[1]), p, end))
			return -1;
	return 0;
}

/* Ends the transaction: returns -1 to close, else readies the connection for the next one. */
static int txn_done(struct lws *wsi, struct http_txn *t)
{
	if (t->close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int http__reply(struct lws *wsi, struct http_txn *t, unsigned status, const char *ctype,
		const char *body, size_t len, const char *const *extra)
{
	unsigned char hdr[LWS_PRE + 2048], *start = hdr + LWS_PRE, *p = start;
	unsigned char *end = hdr + sizeof(hdr) - 1;

	t->responded = true;
	free(t->resp);
	t->resp = NULL;
	if (put_headers(wsi, status, ctype, len, extra, t->close_after, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	if (t->method == LWSHUMETH_HEAD || !len)
		return txn_done(wsi, t);
	t->resp = malloc(LWS_PRE + len);
	if (!t->resp)
		return -1;
	memcpy(t->resp + LWS_PRE, body, len);
	t->resp_len = len;
	lws_callback_on_writable(wsi);
	return 0;
}

int http__reply_write(struct lws *wsi, struct http_txn *t)
{
	size_t len = t->resp_len;
	int n = lws_write(wsi, t->resp + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);

	free(t->resp);
	t->resp = NULL;
	if (n < (int)len)
		return -1;
	return txn_done(wsi, t);
}

int http__problem(struct lws *wsi, struct http_txn *t, unsigned status, const char *detail,
		  const char *const *extra)
{
	char *body = problem_json(status, detail);
	int rc;

	if (!body)
		return -1;
	rc = http__reply(wsi, t, status, "application/problem+json", body, strlen(body), extra);
	free(body);
	return rc;
}

int http__refuse(struct lws *wsi, unsigned status, const char *detail, const char *const *extra)
{
	unsigned char buf[LWS_PRE + 2048], *start = buf + LWS_PRE, *p = start;
	unsigned char *end = buf + sizeof(buf) - 1;
	char *body = problem_json(status, detail);
	size_t len;
	int rc = -1;

	if (!body)
		return -1;
	len = strlen(body);
	if (put_headers(wsi, status, "application/problem+json", len, extra, false, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		goto out;
	/* The headers went out above, so the buffer is free again for the body. */
	if (len > sizeof(buf) - LWS_PRE)
		goto out;
	memcpy(buf + LWS_PRE, body, len);
	if (lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP_FINAL) == (int)len)
		rc = 1;
out:
	free(body);
	return rc;
}

/* Serialises @doc (consumed) and replies with it. */
static int reply_json(struct lws *wsi, struct http_txn *t, unsigned status, json_t *doc,
		      const char *const *extra)
{
	char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	int rc;

	json_decref(doc);
	if (!s)
		return http__problem(wsi, t, 500, "out of memory", NULL);
	rc = http__reply(wsi, t, status, "application/json", s, strlen(s), extra);
	free(s);
	return rc;
}

/* ---- ICE servers ---- */

json_t *http__ice_servers(struct http_server *srv, const char *participant, unsigned lifetime)
{
	const struct config *cfg = srv->cfg;
	char user[CRED_USERNAME_MAX], pass[CRED_PASSWORD_MAX];
	char stun[CONFIG_HOST_MAX + 32], url[CONFIG_HOST_MAX + 48];
	json_t *ice = NULL, *urls = json_array();

	if (!urls || cred_rest_mint(&cfg->turn.secret, participant, time(NULL), lifetime, user,
				    pass)) {
		json_decref(urls);
		return NULL;
	}
	/* The TURN URLs in order of preference (browsers keep it): UDP, TCP (turn.tcp_listen), TLS
	 * on its own port (turn.tls_listen, 5349), then TLS on the shared port, which gets through
	 * networks that allow only HTTPS out. tincand does not start if TLS is configured and its
	 * certificate cannot be loaded, so a configured TLS port is a working one. */
	size_t want = 1;

	snprintf(url, sizeof(url), "turn:%s:%u?transport=udp", srv->ice_host, srv->turn_port);
	json_array_append_new(urls, json_string(url));
	if (cfg->turn.n_tcp_listen) {
		snprintf(url, sizeof(url), "turn:%s:%u?transport=tcp", srv->ice_host,
			 addr_port(&cfg->turn.tcp_listens[0]));
		json_array_append_new(urls, json_string(url));
		want++;
	}
	if (cfg->turn.n_tls_listen) {
		snprintf(url, sizeof(url), "turns:%s:%u?transport=tcp", srv->ice_host,
			 addr_port(&cfg->turn.tls_listens[0]));
		json_array_append_new(urls, json_string(url));
		want++;
	}
	if (srv->mux_port) {
		snprintf(url, sizeof(url), "turns:%s:%u?transport=tcp", srv->ice_host, srv->mux_port);
		json_array_append_new(urls, json_string(url));
		want++;
	}
	snprintf(stun, sizeof(stun), "stun:%s:%u", srv->ice_host, srv->turn_port);
	/* "o" takes urls over, also when packing fails. */
	if (json_array_size(urls) == want)
		ice = json_pack("[{s:[s]}, {s:o, s:s, s:s}]", "urls", stun, "urls", urls,
				"username", user, "credential", pass);
	else
		json_decref(urls);
	OPENSSL_cleanse(pass, sizeof(pass));
	return ice;
}

/* ---- request bodies ---- */

/* The fields a request body may carry (docs/api.md); absent ones stay NULL / 0. */
struct body {
	json_t *doc;                   /* owns the strings below */
	const char *password;          /* NULL if absent, null or "" */
	const char *name;              /* NULL if absent, null or "" */
	unsigned capacity;             /* 0 if absent or null */
};

/* The string field @key of @doc into *@out (NULL if absent, null or ""), at most @max bytes and
 * no NUL. Returns NULL, or the detail of a 400. */
static const char *body_string(json_t *doc, const char *key, size_t max, const char **out,
			       const char *too_long, const char *not_string)
{
	json_t *v = json_object_get(doc, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_string(v))
		return not_string;
	if (json_string_length(v) > max)
		return too_long;
	if (strlen(json_string_value(v)) != json_string_length(v))
		return "strings must not contain NUL";
	if (json_string_length(v))
		*out = json_string_value(v);
	return NULL;
}

/* Parses a JSON object body (an empty body counts as {}) into @b; the caller json_decref()s
 * b->doc in any case. Returns NULL, or the detail of a 400. */
static const char *body_parse(const struct http_txn *t, struct body *b)
{
	const char *bad;
	json_t *cap;

	memset(b, 0, sizeof(*b));
	if (!t->body_len)
		return NULL;
	b->doc = json_loadb(t->body, t->body_len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(b->doc))
		return "the body must be a JSON object";
	bad = body_string(b->doc, "password", SIGNAL_PASSWORD_MAX, &b->password,
			  "\"password\" is longer than 256 bytes", "\"password\" must be a string");
	if (!bad)
		bad = body_string(b->doc, "name", SIGNAL_NAME_MAX, &b->name,
				  "\"name\" is longer than 64 bytes", "\"name\" must be a string");
	if (bad)
		return bad;
	if (b->name && !signal_name_valid(b->name))
		return "\"name\" must not contain control characters";
	cap = json_object_get(b->doc, "capacity");
	if (cap && !json_is_null(cap)) {
		if (!json_is_integer(cap) || json_integer_value(cap) < 2 ||
		    json_integer_value(cap) > 1000000)
			return "\"capacity\" must be an integer from 2 to the server's rooms.capacity";
		b->capacity = (unsigned)json_integer_value(cap);
	}
	return NULL;
}

/* ---- routes ---- */

static int api_health(struct lws *wsi, struct http_txn *t)
{
	return reply_json(wsi, t, 200, json_pack("{s:s, s:s}", "status", "ok",
						 "version", PACKAGE_VERSION), NULL);
}

/* What a client needs to know before it creates or joins a room. */
static int api_info(struct lws *wsi, struct http_txn *t)
{
	const struct config *cfg = http__server(wsi)->cfg;

	return reply_json(wsi, t, 200, json_pack("{s:s, s:i, s:i, s:i, s:b}",
						 "version", PACKAGE_VERSION,
						 "max_capacity", (int)cfg->rooms.capacity,
						 "reconnect_grace", (int)cfg->rooms.reconnect_grace,
						 "name_max", SIGNAL_NAME_MAX,
						 "selftest", cfg->http.selftest_rate > 0), NULL);
}

static int api_room_create(struct lws *wsi, struct http_txn *t)
{
	struct http_server *srv = http__server(wsi);
	struct signal_room *room = NULL;
	char url[64], loc[64];
	const char *bad;
	struct body b;
	int err;

	bad = body_parse(t, &b);
	if (bad) {
		json_decref(b.doc);
		return http__problem(wsi, t, 400, bad, NULL);
	}
	err = signal_room_create(srv->hub, b.password, b.capacity, http__mono_now(), &room);
	json_decref(b.doc);
	switch (err) {
	case 0:
		break;
	case -ERANGE:
		return http__problem(wsi, t, 400, "\"capacity\" is more than this server allows "
				     "(rooms.capacity; see GET /api/info)", NULL);
	case -ENOSPC:
		return http__problem(wsi, t, 503, "the server has as many rooms as it allows "
				     "(rooms.max_rooms); try again later", NULL);
	default:
		log_err("http: cannot create a room: %s", strerror(-err));
		return http__problem(wsi, t, 500, "could not create the room", NULL);
	}
	http__arm_expiry(srv);
	log_info("http: room %.6s... created%s (%zu rooms)", signal_room_id(room),
		 signal_room_has_password(room) ? " with a password" : "",
		 signal_hub_rooms(srv->hub));
	snprintf(url, sizeof(url), "/?room=%s", signal_room_id(room));
	snprintf(loc, sizeof(loc), "/api/rooms/%s", signal_room_id(room));
	return reply_json(wsi, t, 201, json_pack("{s:s, s:s, s:i}", "room", signal_room_id(room),
						 "url", url,
						 "capacity", (int)signal_room_capacity(room)),
			  (const char *const[]){ "location:", loc, NULL });
}

static int api_room_get(struct lws *wsi, struct http_txn *t)
{
	struct signal_room *room = signal_room_find(http__server(wsi)->hub, t->room);

	if (!room)
		return http__problem(wsi, t, 404, "no such room", NULL);
	return reply_json(wsi, t, 200, json_pack("{s:s, s:b, s:i, s:i}",
						 "room", signal_room_id(room),
						 "password", signal_room_has_password(room),
						 "participants", (int)signal_room_peers(room),
						 "capacity", (int)signal_room_capacity(room)),
			  NULL);
}

static int api_room_join(struct lws *wsi, struct http_txn *t)
{
	struct http_server *srv = http__server(wsi);
	const struct config *cfg = srv->cfg;
	struct signal_room *room = signal_room_find(srv->hub, t->room);
	char pid[SIGNAL_ID_LEN + 1], *token = NULL;
	const char *bad;
	struct body b;
	bool has_pw;
	int err;

	if (!room)
		return http__problem(wsi, t, 404, "no such room", NULL);
	bad = body_parse(t, &b);
	if (bad) {
		json_decref(b.doc);
		return http__problem(wsi, t, 400, bad, NULL);
	}
	has_pw = b.password != NULL;
	err = signal_room_check_password(room, b.password);
	if (err) {
		json_decref(b.doc);
		return http__problem(wsi, t, 401, has_pw ? "wrong password" :
				     "this room needs a password", NULL);
	}
	/* Full means every seat is taken by a socket or a reconnecting participant; a token does
	 * not hold a seat (docs/api.md). */
	if (signal_room_peers(room) >= signal_room_capacity(room)) {
		json_decref(b.doc);
		return http__problem(wsi, t, 409, "the room is full", NULL);
	}
	err = signal_id_random(pid);
	if (!err)
		err = signal_token_mint(&cfg->rooms.token_secret, signal_room_id(room), pid,
					b.name, time(NULL), cfg->rooms.token_lifetime, &token);
	json_decref(b.doc);
	if (err) {
		log_err("http: cannot mint a join token: %s", strerror(-err));
		return http__problem(wsi, t, 500, "could not issue a token", NULL);
	}
	signal_room_touch(room, http__mono_now());
	http__arm_expiry(srv);
	err = reply_json(wsi, t, 200, json_pack("{s:s, s:i, s:s}", "token", token,
						"expires_in", (int)cfg->rooms.token_lifetime,
						"participant", pid), NULL);
	OPENSSL_cleanse(token, strlen(token));
	free(token);
	return err;
}

static int api_ice_servers(struct lws *wsi, struct http_txn *t)
{
	static const char *const challenge[] = { "www-authenticate:", "Bearer realm=\"tincan\"",
						 NULL };
	static const char *const invalid[] = {
		"www-authenticate:", "Bearer realm=\"tincan\", error=\"invalid_token\"", NULL };
	struct http_server *srv = http__server(wsi);
	struct signal_claims claims;
	char auth[2048];
	json_t *ice;
	int n;

	n = lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION);
	if (n <= 0)
		return http__problem(wsi, t, 401, "send the join token as "
				     "\"Authorization: Bearer <token>\"", challenge);
	if (strncasecmp(auth, "Bearer ", 7) ||
	    signal_token_verify(&srv->cfg->rooms.token_secret, auth + 7, time(NULL), &claims)) {
		OPENSSL_cleanse(auth, sizeof(auth));
		return http__problem(wsi, t, 401, "the token is invalid or has expired", invalid);
	}
	OPENSSL_cleanse(auth, sizeof(auth));
	if (!signal_room_find(srv->hub, claims.room))
		return http__problem(wsi, t, 404, "the token's room no longer exists", NULL);
	ice = http__ice_servers(srv, claims.sub, srv->cfg->turn.credential_lifetime);
	if (!ice)
		return http__problem(wsi, t, 500, "could not mint TURN credentials", NULL);
	return reply_json(wsi, t, 200, json_pack("{s:o, s:i}", "iceServers", ice,
						 "ttl", (int)srv->cfg->turn.credential_lifetime),
			  NULL);
}

/* The client address as a 64-bit key (FNV-1a over the address bytes), 0 if unknown. */
static uint64_t client_key(struct lws *wsi)
{
	struct sockaddr_storage ss;
	const unsigned char *p;
	uint64_t h = 1469598103934665603ull;
	size_t n;

	/* The real client, also for a connection proxied from the shared port. */
	if (!http__peer(wsi, &ss))
		return 0;
	addr_canonical(&ss);
	if (ss.ss_family == AF_INET) {
		p = (const unsigned char *)&((struct sockaddr_in *)&ss)->sin_addr;
		n = 4;
	} else {
		/* An IPv6 client controls its /64: count per /64. */
		p = (const unsigned char *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
		n = 8;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h | 1;
}

/* True if @wsi's address may have one more self-test credential this minute. */
static bool selftest_allowed(struct http_server *srv, struct lws *wsi)
{
	uint64_t key = client_key(wsi);
	time_t minute = http__mono_now() / 60;
	size_t slot = (size_t)(key % (sizeof(srv->selftest) / sizeof(srv->selftest[0])));

	if (srv->selftest[slot].minute != minute) {
		srv->selftest[slot].minute = minute;
		srv->selftest[slot].count = 0;
	}
	srv->selftest[slot].key = key;
	if (srv->selftest[slot].count >= srv->cfg->http.selftest_rate)
		return false;
	srv->selftest[slot].count++;
	return true;
}

/* Seconds a self-test credential is valid: long enough for the test, short enough to be useless
 * for anything else. */
#define SELFTEST_LIFETIME 300

/*
 * A TURN credential for the network self-test page, tied to no room. Why not a throwaway room:
 * a room takes one of rooms.max_rooms for idle_timeout, and its token opens a WebSocket; the
 * self-test needs neither, only TURN for a few seconds. The rate limit keeps this from being a
 * free TURN service.
 */
static int api_selftest(struct lws *wsi, struct http_txn *t)
{
	struct http_server *srv = http__server(wsi);
	const struct config *cfg = srv->cfg;
	char pid[SIGNAL_ID_LEN + 1], ports[32];
	json_t *ice;

	if (!cfg->http.selftest_rate)
		return http__problem(wsi, t, 404, "the network self-test is turned off "
				     "(http.selftest_rate = 0)", NULL);
	if (!selftest_allowed(srv, wsi))
		return http__problem(wsi, t, 429, "too many self-tests from your address; try again "
				     "in a minute", (const char *const[]){ "retry-after:", "60",
									   NULL });
	if (signal_id_random(pid))
		return http__problem(wsi, t, 500, "could not mint a credential", NULL);
	ice = http__ice_servers(srv, pid, SELFTEST_LIFETIME);
	if (!ice)
		return http__problem(wsi, t, 500, "could not mint TURN credentials", NULL);
	snprintf(ports, sizeof(ports), "%u-%u", cfg->turn.relay_port_min, cfg->turn.relay_port_max);
	log_info("http: self-test credential issued");
	return reply_json(wsi, t, 200, json_pack("{s:o, s:i, s:{s:i, s:s}}", "iceServers", ice,
						 "ttl", SELFTEST_LIFETIME,
						 "ports", "turn", (int)srv->turn_port,
						 "relay", ports), NULL);
}

static int api_signal_plain(struct lws *wsi, struct http_txn *t)
{
	return http__problem(wsi, t, 426, "this is the signaling WebSocket: connect with "
			     "Upgrade: websocket and subprotocol " WS_PROTO,
			     (const char *const[]){ "upgrade:", "websocket", NULL });
}

static int api_metrics(struct lws *wsi, struct http_txn *t)
{
	size_t len = 0;
	char *text = http__metrics_render(http__server(wsi), &len);
	int rc;

	if (!text)
		return http__problem(wsi, t, 500, "out of memory", NULL);
	rc = http__reply(wsi, t, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL);
	free(text);
	return rc;
}

enum route_id { R_HEALTH, R_ROOMS, R_ROOM, R_JOIN, R_ICE, R_SIGNAL, R_METRICS, R_INFO,
		R_SELFTEST };

#define M_GET 1u    /* and HEAD */
#define M_POST 2u

static const struct route {
	unsigned methods;
	const char *allow;             /* the Allow header of a 405 */
	int (*fn)(struct lws *wsi, struct http_txn *t);
} routes[] = {
	[R_HEALTH] = { M_GET, "GET, HEAD", api_health },
	[R_ROOMS] = { M_POST, "POST", api_room_create },
	[R_ROOM] = { M_GET, "GET, HEAD", api_room_get },
	[R_JOIN] = { M_POST, "POST", api_room_join },
	[R_ICE] = { M_GET, "GET, HEAD", api_ice_servers },
	[R_SIGNAL] = { M_GET, "GET", api_signal_plain },
	[R_METRICS] = { M_GET, "GET, HEAD", api_metrics },
	[R_INFO] = { M_GET, "GET, HEAD", api_info },
	[R_SELFTEST] = { M_POST, "POST", api_selftest },
};

/* Maps t->path to a route; fills t->room for /api/rooms/<id>[/join]. Returns -1 if none. */
static int route_find(struct http_txn *t)
{
	const char *p = t->path, *id, *slash;
	size_t n;

	if (!strcmp(p, "/api/health"))
		return R_HEALTH;
	if (!strcmp(p, "/api/rooms"))
		return R_ROOMS;
	if (!strcmp(p, "/api/info"))
		return R_INFO;
	if (!strcmp(p, "/api/selftest"))
		return R_SELFTEST;
	if (!strcmp(p, "/api/ice-servers"))
		return R_ICE;
	if (!strcmp(p, "/api/signal"))
		return R_SIGNAL;
	if (!strcmp(p, "/metrics"))
		return R_METRICS;
	if (strncmp(p, "/api/rooms/", 11))
		return -1;
	id = p + 11;
	slash = strchr(id, '/');
	n = slash ? (size_t)(slash - id) : strlen(id);
	if (!n || (slash && strcmp(slash, "/join")))
		return -1;
	/* A malformed id is a room that does not exist: 404 from the handler, after the method
	 * check, like any unknown room. */
	if (n == SIGNAL_ID_LEN) {
		memcpy(t->room, id, n);
		t->room[n] = '\0';
		if (!signal_id_valid(t->room))
			t->room[0] = '\0';
	}
	return slash ? R_JOIN : R_ROOM;
}

static bool method_ok(const struct route *r, int method)
{
	switch (method) {
	case LWSHUMETH_GET:
	case LWSHUMETH_HEAD:
		return r->methods & M_GET;
	case LWSHUMETH_POST:
		return r->methods & M_POST;
	default:
		return false;
	}
}

/* True if the client may read /metrics: its address is in http.metrics_allow (IPv4-mapped
 * addresses count as IPv4). A connection from the shared port counts as its real client: one
 * that reaches lws through a socketpair (TLS decrypted by tincand) has no address of its own. */
static bool metrics_allowed(struct lws *wsi)
{
	const struct config *cfg = http__server(wsi)->cfg;
	struct sockaddr_storage ss;

	if (!http__peer(wsi, &ss))
		return false;
	return cidr_list_match(cfg->http.metrics_allow, cfg->http.n_metrics_allow, &ss);
}

/* The request's Content-Length, or -1 if it has none (or an unreadable one). */
static long long content_length(struct lws *wsi)
{
	char buf[32], *end;
	long long v;

	if (lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
		return -1;
	v = strtoll(buf, &end, 10);
	return end == buf || v < 0 ? -1 : v;
}

/* Sends the error decided from the request line and headers. */
static int reply_early(struct lws *wsi, struct http_txn *t)
{
	const char *allow[3] = { "allow:", NULL, NULL };

	if (t->early_status == 405)
		allow[1] = routes[t->route].allow;
	return http__problem(wsi, t, t->early_status, t->early_detail,
			     t->early_status == 405 ? allow : NULL);
}

int http__api_request(struct lws *wsi, struct http_txn *t)
{
	bool has_body;
	long long cl;
	char *uri;
	int len;

	t->method = lws_http_get_uri_and_method(wsi, &uri, &len);
	if (t->method < 0)
		return -1;
	if (len > 0 && (size_t)len < sizeof(t->path)) {
		memcpy(t->path, uri, (size_t)len);
		t->path[len] = '\0';
		t->route = route_find(t);
	}
	/* The methods lws expects a body with (and reads one for). */
	has_body = t->method == LWSHUMETH_POST || t->method == LWSHUMETH_PUT ||
		   t->method == LWSHUMETH_PATCH;

	if (t->route < 0) {
		t->early_status = 404;
		t->early_detail = "no such API endpoint (see docs/api.md)";
	} else if (!method_ok(&routes[t->route], t->method)) {
		t->early_status = 405;
		t->early_detail = "method not allowed here";
	} else if (t->route == R_METRICS && !metrics_allowed(wsi)) {
		t->early_status = 403;
		t->early_detail = "metrics are only served to the addresses in http.metrics_allow";
	}

	if (has_body && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING)) {
		/* lws 4.1 does not decode chunked request bodies (it waits until it times out);
		 * say so plainly. Every browser sends a Content-Length for a fetch() body. */
		t->close_after = true;
		return http__problem(wsi, t, 411, "send the body with a Content-Length", NULL);
	}
	if (has_body && !lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH)) {
		/* No Content-Length and not chunked: the body is empty (RFC 9112 §6.3), but lws
		 * 4.1 waits for one anyway. Answer now and close, so that lws's idea of a pending
		 * body cannot swallow a next request. */
		t->close_after = true;
		has_body = false;
	}
	if (has_body) {
		cl = content_length(wsi);
		if (cl > HTTP_DRAIN_MAX) {
			/* Too big to even read and drop: answer now and hang up. */
			t->close_after = true;
			return http__problem(wsi, t, 413, "the body is larger than 8192 bytes",
					     NULL);
		}
		return 0;  /* answered at body completion */
	}
	if (t->early_status)
		return reply_early(wsi, t);
	return routes[t->route].fn(wsi, t);
}

int http__api_body(struct lws *wsi, struct http_txn *t, const void *in, size_t len)
{
	if (t->responded || !len)  /* lws may announce an empty body with (NULL, 0) */
		return 0;
	t->body_seen += len;
	if (t->body_seen > HTTP_DRAIN_MAX) {
		t->close_after = true;
		return http__problem(wsi, t, 413, "the body is larger than 8192 bytes", NULL);
	}
	if (t->early_status || t->body_seen > HTTP_BODY_MAX) {
		/* Read and dropped; the answer is already decided. */
		free(t->body);
		t->body = NULL;
		t->body_len = 0;
		return 0;
	}
	if (!t->body) {
		t->body = malloc(HTTP_BODY_MAX + 1);
		if (!t->body)
			return -1;
	}
	memcpy(t->body + t->body_len, in, len);
	t->body_len += len;
	t->body[t->body_len] = '\0';
	return 0;
}

int http__api_body_done(struct lws *wsi, struct http_txn *t)
{
	if (t->responded)
		return 0;
	if (t->early_status)
		return reply_early(wsi, t);
	if (t->body_seen > HTTP_BODY_MAX)
		return http__problem(wsi, t, 413, "the body is larger than 8192 bytes", NULL);
	return routes[t->route].fn(wsi, t);
}
