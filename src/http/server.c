/*
 * The libwebsockets server: one context, one vhost on http.listen, three mounts.
 *
 *   /         static files of the web UI from http.html_dir (lws serves them itself)
 *   /api      the REST API (api.c) and, by upgrade, the signaling WebSocket (ws.c)
 *   /metrics  Prometheus text (metrics.c), clients in http.metrics_allow only
 *
 * lws runs on an epoll loop (libev) on the thread that calls http_server_run() (the control
 * thread). lws's default loop calls poll() over every socket on every wakeup, which at 10,000
 * WebSockets took most of the CPU and set the fan-out latency (docs/performance.md). Debian builds
 * lws 4.1.6 with its event-lib glue as run-time plugins; the libev one (package
 * libwebsockets-evlib-ev) is loaded when the context asks for LWS_SERVER_OPTION_LIBEV. tincand
 * creates the loop itself and hands it to lws as a "foreign" loop: lws then installs no SIGINT
 * watcher (signals belong to tincand's signal thread) and http_server_run() runs the loop one
 * iteration at a time, so it can stop. If the plugin cannot be loaded, tincand falls back to
 * lws's poll() loop with a warning: slower with many sockets, otherwise the same.
 *
 * Rooms, peers and every lws call live on the control thread; the ways in from elsewhere are
 * http_server_stop(), http_server_adopt(), http_server_reload_tls() and http_server_reload(),
 * which set a flag or queue a connection or a configuration under a lock and wake the loop with
 * lws_cancel_service(), the one lws call documented as safe from other threads (it writes lws's
 * event pipe, a watcher on the same loop). The loop acts on them in
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED.
 *
 * The shared port (src/mux) hands its HTTP connections over with http_server_adopt(): plaintext
 * ones (and the socketpair end of a TLS connection tincand decrypts) go to http.listen's vhost,
 * TLS ones whose ClientHello was only peeked to a second vhost without a listener that has the
 * certificate. Each adopted wsi carries a struct http_adopted as opaque user data, so the routes
 * that care (/metrics, the self-test rate) see the real client, never the socketpair.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>
#include <openssl/ssl.h>

#include "core/addr.h"
#include "core/log.h"
#include "http/internal.h"

/* How long shutdown waits for WebSockets to finish their closing handshake. */
#define DRAIN_SECS 2

/* Headers on every HTTP response. The UI loads only its own files (module scripts, CSS, SVG) and
 * talks only to this server; video comes from MediaStreams (srcObject) and blob: URLs. The room
 * id in the page URL is a capability, so no Referer may carry it to anyone else. */
#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " \
	"media-src 'self' blob: mediastream:; connect-src 'self'; font-src 'self'; " \
	"manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

struct http_server *http__server(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

time_t http__mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* ---- idle rooms ---- */

static void expire_cb(lws_sorted_usec_list_t *sul)
{
	struct http_server *srv = lws_container_of(sul, struct http_server, expire_sul);

	http__arm_expiry(srv);
}

void http__arm_expiry(struct http_server *srv)
{
	time_t now, next;

	if (srv->destroying)
		return;
	now = http__mono_now();
	next = signal_hub_expire(srv->hub, now);
	if (!next) {
		lws_sul_cancel(&srv->expire_sul);
		return;
	}
	/* lws_sul_schedule() takes a delay; rescheduling replaces the pending one. */
	lws_sul_schedule(srv->ctx, 0, &srv->expire_sul, expire_cb,
			 (lws_usec_t)(next - now) * LWS_US_PER_SEC);
}

/* ---- shutdown ---- */

static void drain_cb(lws_sorted_usec_list_t *sul)
{
	struct http_server *srv = lws_container_of(sul, struct http_server, drain_sul);

	log_warn("http: %u WebSocket(s) did not close in %d s; stopping anyway",
		 (unsigned)srv->conns.count, DRAIN_SECS);
	srv->running = false;
}

static void stop_begin(struct http_server *srv)
{
	srv->stopping = true;
	if (!http__ws_close_all(srv)) {
		srv->running = false;
		return;
	}
	/* ws.c ends the loop when the last one has closed; this is the backstop. */
	lws_sul_schedule(srv->ctx, 0, &srv->drain_sul, drain_cb,
			 (lws_usec_t)DRAIN_SECS * LWS_US_PER_SEC);
}

/* ---- connections from the shared port ---- */

bool http__peer(struct lws *wsi, struct sockaddr_storage *out)
{
	struct lws *nwsi = lws_get_network_wsi(wsi);
	struct http_adopted *a = nwsi ? lws_get_opaque_user_data(nwsi) : NULL;
	socklen_t len = sizeof(*out);
	int fd;

	memset(out, 0, sizeof(*out));
	if (a) {
		*out = a->peer;
		return true;
	}
	fd = lws_get_socket_fd(nwsi);
	if (fd < 0 || getpeername(fd, (struct sockaddr *)out, &len))
		return false;
	return out->ss_family == AF_INET || out->ss_family == AF_INET6;
}

int http_server_adopt(struct http_server *srv, int fd, const struct sockaddr_storage *peer,
		      enum http_adopt_mode mode)
{
	struct http_adopted *a;
	int err = 0;

	if (!srv || fd < 0 || !peer || (mode == HTTP_ADOPT_TLS && !srv->vh_tls)) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		close(fd);
		return -ENOMEM;
	}
	a->fd = fd;
	a->mode = mode;
	a->peer = *peer;
	pthread_mutex_lock(&srv->adopt_lock);
	if (srv->adopt_closed)
		err = -ESHUTDOWN;
	else
		lws_dll2_add_tail(&a->list, &srv->adopt_queue);
	pthread_mutex_unlock(&srv->adopt_lock);
	if (err) {
		close(fd);
		free(a);
		return err;
	}
	lws_cancel_service(srv->ctx);
	return 0;
}

/* Adopts the queued connections (control thread). */
static void adopt_queued(struct http_server *srv)
{
	struct lws_dll2_owner q = { 0 };

	pthread_mutex_lock(&srv->adopt_lock);
	while (srv->adopt_queue.head) {
		struct lws_dll2 *d = srv->adopt_queue.head;
		lws_dll2_remove(d);
		lws_dll2_add_tail(d, &q);
	}
	pthread_mutex_unlock(&srv->adopt_lock);
	while (q.head) {
		struct http_adopted *a = lws_container_of(q.head, struct http_adopted, list);
		lws_adopt_desc_t info = {
			.vh = a->mode == HTTP_ADOPT_TLS ? srv->vh_tls : srv->vh_plain,
			.type = LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP |
				(a->mode == HTTP_ADOPT_TLS ? LWS_ADOPT_ALLOW_SSL : 0),
			.fd.sockfd = a->fd,
			.opaque = a,
		};

		lws_dll2_remove(&a->list);
		lws_dll2_add_tail(&a->list, &srv->adopted);
		/* On failure lws closes the fd; if it got as far as a wsi it also destroys it, and
		 * LWS_CALLBACK_WSI_DESTROY frees @a (and clears srv->adopting). */
		srv->adopting = a;
		if (!lws_adopt_descriptor_vhost_via_info(&info)) {
			log_debug("http: could not adopt a connection from the shared port");
			if (srv->adopting) {
				lws_dll2_remove(&a->list);
				free(a);
			}
		}
		srv->adopting = NULL;
	}
}

/* LWS_CALLBACK_WSI_DESTROY: frees the adopted connection's record. */
static void adopted_destroy(struct http_server *srv, struct lws *wsi)
{
	struct http_adopted *a = lws_get_opaque_user_data(wsi);

	/* h2 streams are children sharing the connection's record: only the network wsi owns it. */
	if (!a || lws_get_network_wsi(wsi) != wsi)
		return;
	lws_set_opaque_user_data(wsi, NULL);
	if (srv->adopting == a)
		srv->adopting = NULL;
	lws_dll2_remove(&a->list);
	free(a);
}

static void tls_reload_now(struct http_server *srv)
{
	if (!srv->vh_tls)
		return;
	if (lws_tls_cert_updated(srv->ctx, srv->tls_cert, srv->tls_key, NULL, 0, NULL, 0))
		log_warn("http: libwebsockets could not reload %s", srv->tls_cert);
	else
		log_info("http: HTTPS on the shared port uses the reloaded %s", srv->tls_cert);
}

void http_server_set_mux(struct http_server *srv, struct mux_server *mux)
{
	if (srv)
		srv->mux = mux;
}

void http_server_reload_tls(struct http_server *srv)
{
	if (!srv)
		return;
	atomic_store(&srv->tls_reload, true);
	lws_cancel_service(srv->ctx);
}

/* ---- configuration reload (http_server_reload) ---- */

static void log_emit(int level, const char *line);

/* Switches to @cfg: the rooms' limits, then the pointer every route reads. Control thread (or
 * the reloading thread once the loop is over). */
static void reload_apply(struct http_server *srv, const struct config *cfg)
{
	struct signal_limits l = {
		.capacity = cfg->rooms.capacity, .max_rooms = cfg->rooms.max_rooms,
		.idle_timeout = cfg->rooms.idle_timeout,
		.reconnect_grace = cfg->rooms.reconnect_grace,
		.token_key = &cfg->rooms.token_secret, .token_lifetime = cfg->rooms.token_lifetime,
	};

	if (signal_hub_set_limits(srv->hub, &l))
		log_err("http: the new room limits are invalid; keeping the previous ones");
	srv->cfg = cfg;
	/* log_level may have changed: lws's own notices go with debug, as at start. */
	lws_set_log_level(LLL_ERR | LLL_WARN | (log_enabled(LOGL_DEBUG) ? LLL_NOTICE : 0), log_emit);
}

/* LWS_CALLBACK_EVENT_WAIT_CANCELLED: takes a configuration http_server_reload() handed over. */
static void reload_take(struct http_server *srv)
{
	bool applied = false;

	pthread_mutex_lock(&srv->reload_lock);
	if (srv->reload_cfg) {
		reload_apply(srv, srv->reload_cfg);
		srv->reload_cfg = NULL;
		applied = true;
		pthread_cond_broadcast(&srv->reload_cond);
	}
	pthread_mutex_unlock(&srv->reload_lock);
	/* Deadlines may have moved (idle_timeout, reconnect_grace). */
	if (applied)
		http__arm_expiry(srv);
}

int http_server_reload(struct http_server *srv, const struct config *cfg)
{
	if (!srv || !cfg)
		return -EINVAL;
	pthread_mutex_lock(&srv->reload_lock);
	srv->reload_cfg = cfg;
	pthread_mutex_unlock(&srv->reload_lock);
	lws_cancel_service(srv->ctx);
	pthread_mutex_lock(&srv->reload_lock);
	while (srv->reload_cfg && !srv->loop_done)
		pthread_cond_wait(&srv->reload_cond, &srv->reload_lock);
	/* The loop returned first: no lws callback runs until http_server_destroy(), which the
	 * process calls after this thread is done. */
	if (srv->reload_cfg) {
		reload_apply(srv, srv->reload_cfg);
		srv->reload_cfg = NULL;
	}
	pthread_mutex_unlock(&srv->reload_lock);
	return 0;
}

/* ---- the HTTP protocol: REST, metrics, static files, upgrade checks ---- */

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			 size_t len)
{
	struct http_txn *t = user;
	struct http_server *srv;

	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		/* Sent to every protocol on every lws_cancel_service(); this one acts for all. */
		srv = http__server(wsi);
		if (atomic_load(&srv->stop_requested) && !srv->stopping)
			stop_begin(srv);
		if (atomic_exchange(&srv->tls_reload, false))
			tls_reload_now(srv);
		reload_take(srv);
		adopt_queued(srv);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		adopted_destroy(http__server(wsi), wsi);
		break;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		/* Called on this protocol (protocols[0]) before any mount or subprotocol is chosen:
		 * the one place where an upgrade can still be answered with a plain HTTP status. */
		return http__ws_confirm_upgrade(wsi, in);
	case LWS_CALLBACK_HTTP:
		http__txn_reset(t);
		return http__api_request(wsi, t);
	case LWS_CALLBACK_HTTP_BODY:
		return http__api_body(wsi, t, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return http__api_body_done(wsi, t);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (t && t->resp)
			return http__reply_write(wsi, t);
		break;
	case LWS_CALLBACK_HTTP_FILE_COMPLETION:
		/* A static file went out whole (lws's mount answered 200). */
		http__server(wsi)->http_status[200]++;
		break;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (t)
			http__txn_reset(t);
		break;
	case LWS_CALLBACK_ESTABLISHED:
		/* lws binds a WebSocket that asked for no subprotocol to protocols[0]. Upgrades
		 * without tincan.v1 are refused earlier; never serve one here. */
		return -1;
	default:
		break;
	}
	/* File serving, keep-alive and the rest of lws's HTTP defaults. */
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- setup ---- */

static void log_emit(int level, const char *line)
{
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (level & LLL_ERR)
		log_err("lws: %.*s", (int)n, line);
	else if (level & LLL_WARN)
		log_warn("lws: %.*s", (int)n, line);
	else
		log_debug("lws: %.*s", (int)n, line);
}

/* Binds http.listen once ourselves: lws only says "init server failed", and the operator needs to
 * read "Address already in use" or "Cannot assign requested address". */
static int listen_probe(const struct sockaddr_storage *ss)
{
	char buf[ADDR_STRLEN];
	int fd, on = 1, err = 0;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, (const struct sockaddr *)ss, addr_len(ss)) < 0) {
		err = -errno;
		log_err("http.listen %s: %s", addr_str(ss, buf), strerror(errno));
	}
	close(fd);
	return err;
}

/* The host part of the stun:/turn: URLs; an IPv6 literal needs brackets there (RFC 7064 §3.1). */
static void ice_host_init(struct http_server *srv)
{
	const char *h = srv->cfg->turn.external_host;

	if (strchr(h, ':') && h[0] != '[')
		snprintf(srv->ice_host, sizeof(srv->ice_host), "[%s]", h);
	else
		snprintf(srv->ice_host, sizeof(srv->ice_host), "%s", h);
	srv->turn_port = addr_port(&srv->cfg->turn.listen);
}

static void pvo_link(struct lws_protocol_vhost_options *v, size_t n)
{
	for (size_t i = 0; i + 1 < n && v[i + 1].name; i++)
		v[i].next = &v[i + 1];
}

/* Fills the protocol, mount, mimetype and header tables lws will point into. */
static void tables_init(struct http_server *srv)
{
	static const char *const mimes[][2] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".json", "application/json" },
		{ ".webmanifest", "application/manifest+json" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".woff2", "font/woff2" },
	};
	static const char *const hdrs[][2] = {
		{ "content-security-policy:", CSP },
		{ "x-content-type-options:", "nosniff" },
		{ "referrer-policy:", "no-referrer" },
		{ "permissions-policy:", "camera=(self), microphone=(self), geolocation=()" },
	};
	struct lws_http_mount *m = srv->mounts;
	size_t i;

	for (i = 0; i < sizeof(mimes) / sizeof(mimes[0]); i++) {
		srv->mimetypes[i].name = mimes[i][0];
		srv->mimetypes[i].value = mimes[i][1];
	}
	pvo_link(srv->mimetypes, sizeof(srv->mimetypes) / sizeof(srv->mimetypes[0]));
	for (i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
		srv->headers[i].name = hdrs[i][0];
		srv->headers[i].value = hdrs[i][1];
	}
	pvo_link(srv->headers, sizeof(srv->headers) / sizeof(srv->headers[0]));

	/* protocols[0] takes plain HTTP and the upgrade checks; WS_PROTO the sockets. */
	srv->protocols[0] = (struct lws_protocols){
		.name = HTTP_PROTO, .callback = http_callback,
		.per_session_data_size = sizeof(struct http_txn),
	};
	srv->protocols[1] = (struct lws_protocols){
		.name = WS_PROTO, .callback = http__ws_callback,
		.per_session_data_size = sizeof(struct ws_conn),
		.rx_buffer_size = 4096,
	};

	m[0] = (struct lws_http_mount){
		.mount_next = &m[1], .mountpoint = "/api", .mountpoint_len = 4,
		.origin = HTTP_PROTO, .origin_protocol = LWSMPRO_CALLBACK,
	};
	m[1] = (struct lws_http_mount){
		.mount_next = &m[2], .mountpoint = "/metrics", .mountpoint_len = 8,
		.origin = HTTP_PROTO, .origin_protocol = LWSMPRO_CALLBACK,
	};
	m[2] = (struct lws_http_mount){
		.mountpoint = "/", .mountpoint_len = 1,
		.origin = srv->html_dir, .def = "index.html",
		.origin_protocol = LWSMPRO_FILE, .extra_mimetypes = srv->mimetypes,
	};

	/* No lws validity timers (secs_since_valid_* = 0): ws.c pings idle WebSockets and drops
	 * silent ones itself, at O(1) per message (see there). */
	srv->retry.secs_since_valid_ping = 0;
	srv->retry.secs_since_valid_hangup = 0;
}

/* Creates the lws context on an epoll loop, or on lws's poll() loop if lws cannot load its libev
 * plugin. Returns 0 or a negative errno. */
static int context_create(struct http_server *srv, const struct sockaddr_storage *ls)
{
	struct lws_context_creation_info info;

	memset(&info, 0, sizeof(info));
	info.port = addr_port(ls);
	/* lws 4.1 takes an IPv4 literal on an IPv6-enabled vhost as "any address" (it binds [::]),
	 * so IPv4 listen addresses get an IPv4-only vhost, where the literal is honoured. */
	addr_ip_str(ls, srv->iface);
	info.iface = srv->iface;
	/* The shared port's HTTPS vhost (http_server_tls) needs OpenSSL set up for lws. */
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	if (ls->ss_family == AF_INET)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	info.protocols = srv->protocols;
	info.mounts = srv->mounts;
	info.headers = srv->headers;
	info.retry_and_idle_policy = &srv->retry;
	info.user = srv;
	info.uid = -1;
	info.gid = -1;

	/* EVFLAG_NOSIGMASK: libev leaves the signal mask alone (tincand blocks SIGINT, SIGTERM and
	 * SIGHUP in every thread and takes them with sigwait()). */
	srv->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOSIGMASK);
	if (srv->loop) {
		srv->foreign_loops[0] = srv->loop;
		info.options |= LWS_SERVER_OPTION_LIBEV;
		info.foreign_loops = srv->foreign_loops;
		srv->ctx = lws_create_context(&info);
		if (srv->ctx)
			return 0;
		ev_loop_destroy(srv->loop);
		srv->loop = NULL;
		info.options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
		info.foreign_loops = NULL;
		log_warn("http: libwebsockets could not use libev (is the package "
			 "libwebsockets-evlib-ev installed?); falling back to its poll() loop, "
			 "which costs CPU per open socket on every wakeup");
	} else {
		log_warn("http: no epoll loop (libev: %s); falling back to lws's poll() loop",
			 strerror(errno));
	}
	srv->ctx = lws_create_context(&info);
	if (!srv->ctx) {
		log_err("http: libwebsockets could not start on %s port %u", srv->iface, info.port);
		return -EIO;
	}
	return 0;
}

int http_server_create(struct http_server **out, const struct config *cfg,
		       struct turn_server *turn)
{
	const struct sockaddr_storage *ls;
	struct http_server *srv;
	int err, levels;

	if (!out || !cfg)
		return -EINVAL;
	ls = &cfg->http.listen;
	if (ls->ss_family != AF_INET && ls->ss_family != AF_INET6)
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->cfg = cfg;
	srv->turn = turn;
	atomic_init(&srv->stop_requested, false);
	atomic_init(&srv->tls_reload, false);
	pthread_mutex_init(&srv->adopt_lock, NULL);
	pthread_mutex_init(&srv->reload_lock, NULL);
	pthread_cond_init(&srv->reload_cond, NULL);
	snprintf(srv->html_dir, sizeof(srv->html_dir), "%s", cfg->http.html_dir);
	ice_host_init(srv);
	tables_init(srv);

	levels = LLL_ERR | LLL_WARN | (log_enabled(LOGL_DEBUG) ? LLL_NOTICE : 0);
	lws_set_log_level(levels, log_emit);

	err = signal_hub_create(&srv->hub, &(struct signal_limits){
					.capacity = cfg->rooms.capacity,
					.max_rooms = cfg->rooms.max_rooms,
					.idle_timeout = cfg->rooms.idle_timeout,
					.reconnect_grace = cfg->rooms.reconnect_grace,
					.token_key = &cfg->rooms.token_secret,
					.token_lifetime = cfg->rooms.token_lifetime },
				&(struct signal_hooks){
					.send = http__ws_send, .close = http__ws_close_conn,
					.gone = http__participant_gone, .arg = srv });
	if (err)
		goto out;
	err = listen_probe(ls);
	if (err)
		goto out;

	err = context_create(srv, ls);
	if (err)
		goto out;
	srv->vh_plain = lws_get_vhost_by_name(srv->ctx, "default");
	http__ws_keepalive_start(srv);
	log_info("http: listening on %s port %u (%s loop), static files from %s", srv->iface,
		 addr_port(ls), srv->loop ? "epoll" : "poll", cfg->http.html_dir);
out:
	if (err) {
		http_server_destroy(srv);
		return err;
	}
	*out = srv;
	return 0;
}

int http_server_tls(struct http_server *srv, const char *cert, const char *key)
{
	struct lws_context_creation_info info;

	if (!srv || !cert || !key || srv->vh_tls)
		return -EINVAL;
	if (snprintf(srv->tls_cert, sizeof(srv->tls_cert), "%s", cert) >= (int)sizeof(srv->tls_cert) ||
	    snprintf(srv->tls_key, sizeof(srv->tls_key), "%s", key) >= (int)sizeof(srv->tls_key))
		return -ENAMETOOLONG;
	memset(&info, 0, sizeof(info));
	info.vhost_name = "tls";
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.protocols = srv->protocols;
	info.mounts = srv->mounts;
	info.headers = srv->headers;
	info.retry_and_idle_policy = &srv->retry;
	info.ssl_cert_filepath = srv->tls_cert;
	info.ssl_private_key_filepath = srv->tls_key;
	/* As src/core/tls.c: TLS 1.2 and up, forward secret AEAD suites for 1.2. */
	info.ssl_options_set = SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 |
			       SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION;
	info.ssl_cipher_list = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
			       "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
			       "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
	/* HTTP/1.1 only: the routes and the signaling WebSocket are tested on it, and a call page
	 * makes a handful of requests. */
	info.alpn = "http/1.1";
	srv->vh_tls = lws_create_vhost(srv->ctx, &info);
	if (!srv->vh_tls) {
		log_err("http: libwebsockets cannot serve HTTPS with %s and %s", cert, key);
		return -EIO;
	}
	if (srv->cfg->mux.n_listen)
		srv->mux_port = addr_port(&srv->cfg->mux.listens[0]);
	log_info("http: HTTPS and WSS on the shared port with %s", cert);
	return 0;
}

int http_server_run(struct http_server *srv)
{
	srv->running = true;
	if (srv->loop) {
		/* One iteration at a time: lws's callbacks clear running to end the loop. */
		while (srv->running)
			ev_run(srv->loop, EVRUN_ONCE);
		return 0;
	}
	while (srv->running)
		if (lws_service(srv->ctx, 0) < 0)
			break;
	pthread_mutex_lock(&srv->reload_lock);
	srv->loop_done = true;
	pthread_cond_broadcast(&srv->reload_cond);
	pthread_mutex_unlock(&srv->reload_lock);
	return 0;
}

void http_server_stop(struct http_server *srv)
{
	if (!srv)
		return;
	atomic_store(&srv->stop_requested, true);
	lws_cancel_service(srv->ctx);
}

void http_server_destroy(struct http_server *srv)
{
	if (!srv)
		return;
	srv->destroying = true;
	/* Connections still queued for adoption are closed; later http_server_adopt() calls fail. */
	pthread_mutex_lock(&srv->adopt_lock);
	srv->adopt_closed = true;
	while (srv->adopt_queue.head) {
		struct http_adopted *a = lws_container_of(srv->adopt_queue.head,
							  struct http_adopted, list);
		lws_dll2_remove(&a->list);
		close(a->fd);
		free(a);
	}
	pthread_mutex_unlock(&srv->adopt_lock);
	if (srv->ctx) {
		lws_sul_cancel(&srv->expire_sul);
		lws_sul_cancel(&srv->drain_sul);
		lws_sul_cancel(&srv->keepalive_sul);
		/* Closes every connection; ws.c frees its own state and, seeing destroying, sends
		 * nothing and leaves the rooms to signal_hub_destroy(). */
		lws_context_destroy(srv->ctx);
	}
	/* A foreign loop is ours to free, after lws has stopped every watcher on it. */
	if (srv->loop)
		ev_loop_destroy(srv->loop);
	/* lws destroyed every wsi, and with it every adopted record; this is the backstop. */
	while (srv->adopted.head) {
		struct http_adopted *a = lws_container_of(srv->adopted.head, struct http_adopted,
							  list);
		lws_dll2_remove(&a->list);
		free(a);
	}
	pthread_mutex_destroy(&srv->adopt_lock);
	pthread_mutex_destroy(&srv->reload_lock);
	pthread_cond_destroy(&srv->reload_cond);
	signal_hub_destroy(srv->hub);
	free(srv);
}
