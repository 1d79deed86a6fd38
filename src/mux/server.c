/*
 * mux: the shared port's listener and connection setup; see mux.h and docs/ports.md.
 *
 * Every connection is a small state machine on this thread's event loop:
 *
 *   PEEK       recv(MSG_PEEK) + mux_classify() each time new bytes arrive; nothing is consumed,
 *              so lws, OpenSSL or a TURN worker later read the stream from its first byte
 *   REDIRECT   plain HTTP with mux.redirect_http: wait for the request line, answer 308
 *   DRAIN      the 308 is sent: read and drop until the client closes (or 2 s), so that closing
 *              with unread input does not reset the connection before the client read the answer
 *   HANDSHAKE  TLS that tincand terminates (ALPN stun.turn or none)
 *   FIRST      the handshake is done: SSL_read until the first decrypted bytes decide
 *
 * then it is handed over and forgotten, or becomes a proxy (TLS without ALPN carrying HTTP).
 *
 * Peeked bytes stay in the socket, so a level-triggered read event would fire again at once for a
 * client that sent half a ClientHello: sockets are watched edge-triggered (EV_ET) and peeked again
 * only when more bytes arrive. A connection counts as unclassified from accept until it is handed
 * over or closed; the per-address and global caps refuse new ones at accept, never queue them, and
 * one timer per connection closes it at mux.classify_timeout (once for the first flight, once more
 * for a TLS handshake and its first bytes). Nothing here blocks: accept() never waits for a
 * classification.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <uthash.h>
#include <utlist.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/tls.h"
#include "http/http.h"
#include "mux/classify.h"
#include "mux/mux.h"
#include "turn/turn.h"

#define MUX_BACKLOG 1024
#define REQUEST_LINE_MAX 4096     /* a redirect waits for a request line this long at most */
#define DRAIN_SECS 2              /* after a 308: how long to read and drop before closing */
#define FIRST_BUF (2 * 16384)     /* decrypted first bytes: one full TLS record and then some */
#define PROXY_HIGH (256 * 1024)   /* a proxy stops reading a side whose peer has this queued */
#define ACCEPT_PAUSE_MS 200       /* out of file descriptors: stop accepting this long */

enum conn_state { C_PEEK, C_REDIRECT, C_DRAIN, C_HANDSHAKE, C_FIRST };

/* Unclassified connections of one client address (IPv4, or an IPv6 /64 as the client controls
 * one). */
struct ip_count {
	uint8_t key[16];
	unsigned n;
	UT_hash_handle hh;
};

struct conn {
	struct mux_server *srv;
	struct conn *prev, *next;     /* srv->conns */
	int fd;
	enum conn_state state;
	struct sockaddr_storage peer, local;
	struct ip_count *ip;          /* counted while set */
	struct event *ev;             /* the socket, edge-triggered */
	struct event *timer;
	SSL *ssl;
	bool alpn_turn;               /* the ClientHello offered stun.turn */
	uint8_t *buf;                 /* C_FIRST: decrypted bytes read so far */
	size_t len;
};

/* A TLS connection tincand decrypted, whose HTTP goes to lws through a socketpair. */
struct proxy {
	struct mux_server *srv;
	struct proxy *prev, *next;    /* srv->proxies */
	struct bufferevent *tls;      /* the client, via OpenSSL */
	struct bufferevent *pair;     /* our end of the socketpair; lws has the other */
	bool closing;                 /* one side ended: flush the other, then free */
};

struct listener {
	int fd;
	struct event *ev;
};

struct mux_server {
	const struct config *cfg;
	struct tls_server *tls;
	struct turn_server *turn;
	struct http_server *http;
	struct event_base *base;
	pthread_t thread;
	bool running;
	struct listener ls[CONFIG_LISTEN_MAX];
	size_t n_ls;
	struct event *resume;         /* re-enables accepting after EMFILE */
	struct conn *conns;
	struct proxy *proxies;
	struct ip_count *ips;
	unsigned unclassified;
	char host[CONFIG_HOST_MAX + 2]; /* turn.external_address for redirects, IPv6 in brackets */
	uint8_t peek[MUX_PEEK_MAX];   /* scratch of this thread */

	struct {
		_Atomic uint64_t accepted, to_turn_tcp, to_turn_tls, to_https, to_https_proxied,
			to_http, redirected, rejected, timed_out, over_limit, unclassified_now;
	} n;
};

#define COUNT(srv, field) atomic_fetch_add_explicit(&(srv)->n.field, 1, memory_order_relaxed)

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_err;

static void evthread_init(void)
{
	evthread_err = evthread_use_pthreads();
}

/* ---- counting unclassified connections ---- */

static void ip_key(const struct sockaddr_storage *ss, uint8_t key[16])
{
	struct sockaddr_storage a = *ss;

	memset(key, 0, 16);
	addr_canonical(&a);
	if (a.ss_family == AF_INET)
		memcpy(key, &((struct sockaddr_in *)&a)->sin_addr, 4);
	else
		memcpy(key + 4, &((struct sockaddr_in6 *)&a)->sin6_addr, 8);
}

/* Counts @c against the caps. Returns false (nothing counted) if a cap is reached. */
static bool count_take(struct mux_server *srv, struct conn *c)
{
	uint8_t key[16];
	struct ip_count *ip;

	if (srv->unclassified >= srv->cfg->mux.max_unclassified)
		return false;
	ip_key(&c->peer, key);
	HASH_FIND(hh, srv->ips, key, sizeof(key), ip);
	if (ip && ip->n >= srv->cfg->mux.max_unclassified_per_ip)
		return false;
	if (!ip) {
		ip = calloc(1, sizeof(*ip));
		if (!ip)
			return false;
		memcpy(ip->key, key, sizeof(key));
		HASH_ADD(hh, srv->ips, key, sizeof(ip->key), ip);
	}
	ip->n++;
	c->ip = ip;
	srv->unclassified++;
	atomic_store_explicit(&srv->n.unclassified_now, srv->unclassified, memory_order_relaxed);
	return true;
}

static void count_release(struct mux_server *srv, struct conn *c)
{
	if (!c->ip)
		return;
	if (--c->ip->n == 0) {
		HASH_DEL(srv->ips, c->ip);
		free(c->ip);
	}
	c->ip = NULL;
	srv->unclassified--;
	atomic_store_explicit(&srv->n.unclassified_now, srv->unclassified, memory_order_relaxed);
}

/* ---- connections ---- */

/* Forgets @c; with @close_fd also closes its socket and frees its SSL (else they were handed
 * over). */
static void conn_free(struct conn *c, bool close_fd)
{
	struct mux_server *srv = c->srv;

	count_release(srv, c);
	DL_DELETE(srv->conns, c);
	if (c->ev)
		event_free(c->ev);
	if (c->timer)
		event_free(c->timer);
	if (close_fd) {
		SSL_free(c->ssl);
		if (c->fd >= 0)
			close(c->fd);
	}
	free(c->buf);
	free(c);
}

static void conn_reject(struct conn *c, const char *why)
{
	char a[ADDR_STRLEN];

	COUNT(c->srv, rejected);
	log_debug("mux: %s: closed: %s", addr_str(&c->peer, a), why);
	conn_free(c, true);
}

static void conn_cb(evutil_socket_t fd, short what, void *arg);

/* (Re)arms @c's socket event for @events (EV_READ, EV_WRITE), edge-triggered. */
static int conn_watch(struct conn *c, short events)
{
	if (c->ev)
		event_free(c->ev);
	c->ev = event_new(c->srv->base, c->fd, events | EV_ET | EV_PERSIST, conn_cb, c);
	return c->ev && !event_add(c->ev, NULL) ? 0 : -ENOMEM;
}

static void arm_timer(struct conn *c)
{
	struct timeval tv = { .tv_sec = c->srv->cfg->mux.classify_timeout };

	evtimer_add(c->timer, &tv);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	char a[ADDR_STRLEN];
	static const char *const what_state[] = {
		[C_PEEK] = "without a decidable first flight",
		[C_REDIRECT] = "without a complete HTTP request line",
		[C_DRAIN] = NULL,
		[C_HANDSHAKE] = "in the TLS handshake",
		[C_FIRST] = "without sending anything after the TLS handshake",
	};

	(void)fd;
	(void)what;
	if (c->state == C_DRAIN) {
		conn_free(c, true);
		return;
	}
	COUNT(c->srv, timed_out);
	log_debug("mux: %s: closed after %u s %s", addr_str(&c->peer, a),
		  c->srv->cfg->mux.classify_timeout, what_state[c->state]);
	conn_free(c, true);
}

/* ---- hand-overs ---- */

static void to_turn(struct conn *c, SSL *ssl, const uint8_t *prefix, size_t len)
{
	struct mux_server *srv = c->srv;
	char a[ADDR_STRLEN];
	int fd = c->fd, err;

	if (ssl)
		COUNT(srv, to_turn_tls);
	else
		COUNT(srv, to_turn_tcp);
	log_debug("mux: %s: TURN over %s", addr_str(&c->peer, a), ssl ? "TLS" : "TCP");
	c->ssl = NULL;
	c->fd = -1;
	err = turn_server_adopt_stream(srv->turn, fd, &c->peer, &c->local, ssl, prefix, len);
	if (err)
		log_warn("mux: %s: the TURN relay did not take the connection: %s", a,
			 strerror(-err));
	conn_free(c, false);
}

static void to_http(struct conn *c, enum http_adopt_mode mode)
{
	struct mux_server *srv = c->srv;
	char a[ADDR_STRLEN];
	int fd = c->fd, err;

	if (mode == HTTP_ADOPT_TLS)
		COUNT(srv, to_https);
	else
		COUNT(srv, to_http);
	log_debug("mux: %s: %s", addr_str(&c->peer, a), mode == HTTP_ADOPT_TLS ? "HTTPS" : "HTTP");
	c->fd = -1;
	err = http_server_adopt(srv->http, fd, &c->peer, mode);
	if (err)
		log_warn("mux: %s: the web server did not take the connection: %s", a,
			 strerror(-err));
	conn_free(c, false);
}

/* ---- plain HTTP: the redirect ---- */

/* The request-target of the request line in @p (@n bytes, ending at its LF) if it is an
 * origin-form path we can repeat safely, else "/". */
static void request_path(const uint8_t *p, size_t n, char *out, size_t size)
{
	const uint8_t *sp1 = memchr(p, ' ', n), *sp2;
	size_t len;

	snprintf(out, size, "/");
	if (!sp1)
		return;
	sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p));
	if (!sp2 || sp1[1] != '/')
		return;
	len = (size_t)(sp2 - (sp1 + 1));
	if (len >= size || len > 2048)
		return;
	for (size_t i = 0; i < len; i++)
		if (sp1[1 + i] < 0x21 || sp1[1 + i] > 0x7e)
			return;
	memcpy(out, sp1 + 1, len);
	out[len] = '\0';
}

/* Waits for the request line, answers 308 to https://HOST[:PORT]PATH, then drains. */
static void redirect_step(struct conn *c, const uint8_t *p, size_t n)
{
	struct mux_server *srv = c->srv;
	char path[2050], port[8] = "", resp[4096], a[ADDR_STRLEN];
	const uint8_t *lf = memchr(p, '\n', n);
	uint16_t lport = addr_port(&c->local);
	int len;

	if (!lf) {
		if (n >= REQUEST_LINE_MAX)
			conn_reject(c, "HTTP request line too long");
		return;
	}
	request_path(p, (size_t)(lf - p), path, sizeof(path));
	if (lport != 443)
		snprintf(port, sizeof(port), ":%u", lport);
	len = snprintf(resp, sizeof(resp),
		       "HTTP/1.1 308 Permanent Redirect\r\n"
		       "Location: https://%s%s%s\r\n"
		       "Content-Length: 0\r\n"
		       "Cache-Control: no-store\r\n"
		       "Connection: close\r\n\r\n", srv->host, port, path);
	/* What was peeked is consumed now; the answer fits any socket buffer. */
	if (recv(c->fd, srv->peek, n, 0) < 0 || send(c->fd, resp, (size_t)len, MSG_NOSIGNAL) != len) {
		conn_reject(c, "cannot send the redirect");
		return;
	}
	COUNT(srv, redirected);
	log_debug("mux: %s: plain HTTP, redirected to https://%s%s%s", addr_str(&c->peer, a),
		  srv->host, port, path);
	shutdown(c->fd, SHUT_WR);
	count_release(srv, c);
	c->state = C_DRAIN;
	struct timeval tv = { .tv_sec = DRAIN_SECS };
	evtimer_add(c->timer, &tv);
}

static void drain_step(struct conn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->srv->peek, sizeof(c->srv->peek), 0);
		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		conn_free(c, true);
		return;
	}
}

/* ---- TLS terminated here ---- */

static void proxy_start(struct conn *c);

/* Logs and clears OpenSSL's error queue; returns @what with its reason for conn_reject(). */
static const char *ssl_reason(char *buf, size_t size, const char *what)
{
	unsigned long e = ERR_get_error();

	snprintf(buf, size, "%s%s%s", what, e ? ": " : "", e ? ERR_reason_error_string(e) : "");
	ERR_clear_error();
	return buf;
}

/* C_FIRST: reads decrypted bytes until they decide where the connection goes. */
static void first_step(struct conn *c)
{
	struct mux_hello h;
	char why[256];
	int kind;

	for (;;) {
		int r;

		if (c->len == FIRST_BUF) {
			conn_reject(c, "TLS: no decision in the first 32 KiB");
			return;
		}
		r = SSL_read(c->ssl, c->buf + c->len, (int)(FIRST_BUF - c->len));
		if (r > 0) {
			c->len += (size_t)r;
			/* Take what OpenSSL holds already decrypted, so the next owner of the SSL
			 * finds nothing hidden in it. */
			if (SSL_pending(c->ssl))
				continue;
			break;
		}
		switch (SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE:
			if (c->len)
				goto decide;
			return;
		case SSL_ERROR_ZERO_RETURN:
			conn_reject(c, "TLS: closed before sending anything");
			return;
		default:
			conn_reject(c, ssl_reason(why, sizeof(why), "TLS read failed"));
			return;
		}
	}
decide:
	kind = mux_classify(c->buf, c->len, &h);
	switch (kind) {
	case MUX_NEED_MORE:
		return;
	case MUX_STUN:
		to_turn(c, c->ssl, c->buf, c->len);
		return;
	case MUX_HTTP:
		if (c->alpn_turn) {
			conn_reject(c, "TLS: ALPN stun.turn but HTTP inside");
			return;
		}
		proxy_start(c);
		return;
	case MUX_TLS:
		conn_reject(c, "TLS: a ClientHello inside TLS");
		return;
	default:
		conn_reject(c, h.reason ? h.reason : "TLS: neither STUN nor HTTP inside");
		return;
	}
}

static void handshake_step(struct conn *c)
{
	char why[256];
	int r = SSL_do_handshake(c->ssl);

	if (r == 1) {
		c->state = C_FIRST;
		c->buf = malloc(FIRST_BUF);
		if (!c->buf) {
			conn_reject(c, "out of memory");
			return;
		}
		first_step(c);
		return;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return;
	default:
		conn_reject(c, ssl_reason(why, sizeof(why), "TLS handshake failed"));
		return;
	}
}

static void tls_start(struct conn *c, bool alpn_turn)
{
	SSL_CTX *ctx = tls_server_ctx(c->srv->tls);

	c->ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);  /* the SSL holds its own reference */
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) {
		conn_reject(c, "cannot create an SSL");
		return;
	}
	SSL_set_accept_state(c->ssl);
	c->alpn_turn = alpn_turn;
	c->state = C_HANDSHAKE;
	/* Handshake writes may have to wait for the socket too. */
	if (conn_watch(c, EV_READ | EV_WRITE)) {
		conn_reject(c, "out of memory");
		return;
	}
	arm_timer(c);
	handshake_step(c);
}

/* ---- the first flight ---- */

static void peek_step(struct conn *c)
{
	struct mux_server *srv = c->srv;
	struct mux_hello h;
	ssize_t n = recv(c->fd, srv->peek, sizeof(srv->peek), MSG_PEEK);
	int kind;

	if (n == 0) {
		conn_reject(c, "closed before deciding");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_reject(c, strerror(errno));
		return;
	}
	if (c->state == C_REDIRECT) {
		redirect_step(c, srv->peek, (size_t)n);
		return;
	}
	kind = mux_classify(srv->peek, (size_t)n, &h);
	switch (kind) {
	case MUX_NEED_MORE:
		return;
	case MUX_STUN:
		to_turn(c, NULL, NULL, 0);
		return;
	case MUX_HTTP:
		if (srv->cfg->mux.redirect_http) {
			c->state = C_REDIRECT;
			redirect_step(c, srv->peek, (size_t)n);
		} else {
			to_http(c, HTTP_ADOPT_PLAIN);
		}
		return;
	case MUX_TLS:
		switch (mux_tls_route(&h)) {
		case MUX_ROUTE_HTTP:
			to_http(c, HTTP_ADOPT_TLS);
			return;
		case MUX_ROUTE_TURN:
			tls_start(c, true);
			return;
		case MUX_ROUTE_INSPECT:
		default:
			tls_start(c, false);
			return;
		}
	default:
		conn_reject(c, h.reason ? h.reason : "not TLS, STUN or HTTP");
		return;
	}
}

static void conn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	switch (c->state) {
	case C_PEEK:
	case C_REDIRECT:
		peek_step(c);
		break;
	case C_DRAIN:
		drain_step(c);
		break;
	case C_HANDSHAKE:
		handshake_step(c);
		break;
	case C_FIRST:
		first_step(c);
		break;
	}
}

/* ---- the proxy: TLS <-> socketpair <-> lws ---- */

static void proxy_free(struct proxy *p)
{
	DL_DELETE(p->srv->proxies, p);
	if (p->tls)
		bufferevent_free(p->tls);
	if (p->pair)
		bufferevent_free(p->pair);
	free(p);
}

static struct bufferevent *proxy_other(struct proxy *p, struct bufferevent *bev)
{
	return bev == p->tls ? p->pair : p->tls;
}

static void proxy_read_cb(struct bufferevent *bev, void *arg)
{
	struct proxy *p = arg;
	struct bufferevent *to = proxy_other(p, bev);

	evbuffer_add_buffer(bufferevent_get_output(to), bufferevent_get_input(bev));
	/* Back-pressure: stop reading this side until the other has written most of it. */
	if (evbuffer_get_length(bufferevent_get_output(to)) >= PROXY_HIGH)
		bufferevent_disable(bev, EV_READ);
}

static void proxy_write_cb(struct bufferevent *bev, void *arg)
{
	struct proxy *p = arg;

	/* Called when bev's output dropped to its low watermark (0 by default). */
	if (p->closing) {
		proxy_free(p);
		return;
	}
	bufferevent_enable(proxy_other(p, bev), EV_READ);
}

static void proxy_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct proxy *p = arg;
	struct bufferevent *to = proxy_other(p, bev);

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	/* One side is gone: pass on what it sent, then close both. */
	evbuffer_add_buffer(bufferevent_get_output(to), bufferevent_get_input(bev));
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	bufferevent_disable(to, EV_READ);
	if (!evbuffer_get_length(bufferevent_get_output(to))) {
		proxy_free(p);
		return;
	}
	p->closing = true;
}

static void proxy_start(struct conn *c)
{
	struct mux_server *srv = c->srv;
	struct proxy *p = calloc(1, sizeof(*p));
	char a[ADDR_STRLEN];
	int sp[2] = { -1, -1 }, err;

	if (!p || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp)) {
		free(p);
		conn_reject(c, "cannot make a socketpair");
		return;
	}
	p->srv = srv;
	/* lws gets its end with the real client's address: it must never see this as a local
	 * client. */
	err = http_server_adopt(srv->http, sp[1], &c->peer, HTTP_ADOPT_PROXIED);
	if (err) {
		close(sp[0]);
		free(p);
		conn_reject(c, "the web server did not take the connection");
		return;
	}
	/* The bufferevents own the socket, the SSL and our end of the pair from here. */
	event_free(c->ev);
	c->ev = NULL;
	p->tls = bufferevent_openssl_socket_new(srv->base, c->fd, c->ssl, BUFFEREVENT_SSL_OPEN,
						BEV_OPT_CLOSE_ON_FREE);
	if (p->tls) {
		c->fd = -1;
		c->ssl = NULL;
	}
	p->pair = bufferevent_socket_new(srv->base, sp[0], BEV_OPT_CLOSE_ON_FREE);
	if (!p->pair)
		close(sp[0]);
	DL_APPEND(srv->proxies, p);
	if (!p->tls || !p->pair ||
	    evbuffer_add(bufferevent_get_output(p->pair), c->buf, c->len)) {
		proxy_free(p);
		conn_reject(c, "out of memory");
		return;
	}
	/* A client that just closes TCP without close_notify has ended, not failed. */
	bufferevent_openssl_set_allow_dirty_shutdown(p->tls, 1);
	bufferevent_setcb(p->tls, proxy_read_cb, proxy_write_cb, proxy_event_cb, p);
	bufferevent_setcb(p->pair, proxy_read_cb, proxy_write_cb, proxy_event_cb, p);
	bufferevent_enable(p->tls, EV_READ | EV_WRITE);
	bufferevent_enable(p->pair, EV_READ | EV_WRITE);
	COUNT(srv, to_https_proxied);
	log_debug("mux: %s: HTTPS without ALPN, proxied to the web server", addr_str(&c->peer, a));
	conn_free(c, false);
}

/* ---- accepting ---- */

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mux_server *srv = arg;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < srv->n_ls; i++)
		event_add(srv->ls[i].ev, NULL);
}

static void accept_one(struct mux_server *srv, int fd, const struct sockaddr_storage *peer)
{
	struct conn *c = calloc(1, sizeof(*c));
	socklen_t len = sizeof(struct sockaddr_storage);
	int one = 1;

	if (!c) {
		close(fd);
		return;
	}
	c->srv = srv;
	c->fd = fd;
	c->peer = *peer;
	addr_canonical(&c->peer);
	getsockname(fd, (struct sockaddr *)&c->local, &len);
	addr_canonical(&c->local);
	DL_APPEND(srv->conns, c);
	if (!count_take(srv, c)) {
		char a[ADDR_STRLEN];

		COUNT(srv, over_limit);
		log_debug("mux: %s: closed at accept: too many unclassified connections%s",
			  addr_str(&c->peer, a),
			  srv->unclassified >= srv->cfg->mux.max_unclassified ? "" :
			  " from this address");
		conn_free(c, true);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->timer = evtimer_new(srv->base, timeout_cb, c);
	if (!c->timer || conn_watch(c, EV_READ)) {
		conn_reject(c, "out of memory");
		return;
	}
	arm_timer(c);
	/* Bytes may be there already; an edge-triggered event fires once for them too, but
	 * peeking now saves a trip around the loop. */
	peek_step(c);
}

static void listen_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct mux_server *srv = arg;

	(void)what;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(lfd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };

				log_warn("mux: accept: %s; pausing %d ms", strerror(errno),
					 ACCEPT_PAUSE_MS);
				for (size_t k = 0; k < srv->n_ls; k++)
					event_del(srv->ls[k].ev);
				evtimer_add(srv->resume, &tv);
			}
			return;
		}
		COUNT(srv, accepted);
		accept_one(srv, fd, &peer);
	}
}

static int listen_on(const struct sockaddr_storage *ss)
{
	char a[ADDR_STRLEN];
	int fd, one = 1, err;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, addr_len(ss)) || listen(fd, MUX_BACKLOG)) {
		err = -errno;
		log_err("mux.listen %s: %s", addr_str(ss, a), strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

static void *mux_main(void *arg)
{
	struct mux_server *srv = arg;

	event_base_dispatch(srv->base);
	return NULL;
}

static void mux_free(struct mux_server *srv)
{
	while (srv->conns)
		conn_free(srv->conns, true);
	while (srv->proxies)
		proxy_free(srv->proxies);
	for (size_t i = 0; i < srv->n_ls; i++) {
		if (srv->ls[i].ev)
			event_free(srv->ls[i].ev);
		close(srv->ls[i].fd);
	}
	if (srv->resume)
		event_free(srv->resume);
	if (srv->base)
		event_base_free(srv->base);
	free(srv);
}

int mux_server_start(struct mux_server **out, const struct config *cfg, struct tls_server *tls,
		     struct turn_server *turn, struct http_server *http)
{
	struct mux_server *srv;
	char a[ADDR_STRLEN];
	int err = 0;

	if (!out || !cfg || !tls || !http || !cfg->mux.n_listen)
		return -EINVAL;
	pthread_once(&evthread_once, evthread_init);
	if (evthread_err)
		return -ENOSYS;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->cfg = cfg;
	srv->tls = tls;
	srv->turn = turn;
	srv->http = http;
	if (strchr(cfg->turn.external_host, ':') && cfg->turn.external_host[0] != '[')
		snprintf(srv->host, sizeof(srv->host), "[%s]", cfg->turn.external_host);
	else
		snprintf(srv->host, sizeof(srv->host), "%s", cfg->turn.external_host);

	srv->base = event_base_new();
	srv->resume = srv->base ? evtimer_new(srv->base, resume_cb, srv) : NULL;
	if (!srv->resume) {
		err = -ENOMEM;
		goto out;
	}
	/* Edge-triggered events need the epoll backend, which Linux always has. */
	if (!(event_base_get_features(srv->base) & EV_FEATURE_ET)) {
		log_err("mux: libevent's backend %s has no edge-triggered events",
			event_base_get_method(srv->base));
		err = -ENOSYS;
		goto out;
	}
	for (size_t i = 0; i < cfg->mux.n_listen; i++) {
		int fd = listen_on(&cfg->mux.listens[i]);

		if (fd < 0) {
			err = fd;
			goto out;
		}
		srv->ls[srv->n_ls].fd = fd;
		srv->ls[srv->n_ls].ev = event_new(srv->base, fd, EV_READ | EV_PERSIST, listen_cb,
						  srv);
		srv->n_ls++;
		if (!srv->ls[i].ev || event_add(srv->ls[i].ev, NULL)) {
			err = -ENOMEM;
			goto out;
		}
	}
	err = -pthread_create(&srv->thread, NULL, mux_main, srv);
	if (err)
		goto out;
	srv->running = true;
	for (size_t i = 0; i < srv->n_ls; i++)
		log_info("mux: shared port on %s: HTTPS, WSS, TURN over TLS and TCP%s",
			 addr_str(&cfg->mux.listens[i], a),
			 cfg->mux.redirect_http ? "; plain HTTP is redirected to HTTPS" : ", plain HTTP");
out:
	if (err) {
		mux_free(srv);
		return err;
	}
	*out = srv;
	return 0;
}

void mux_server_counters(const struct mux_server *srv, struct mux_counters *out)
{
#define LOAD(f) out->f = atomic_load_explicit(&((struct mux_server *)srv)->n.f, memory_order_relaxed)
	LOAD(accepted);
	LOAD(to_turn_tcp);
	LOAD(to_turn_tls);
	LOAD(to_https);
	LOAD(to_https_proxied);
	LOAD(to_http);
	LOAD(redirected);
	LOAD(rejected);
	LOAD(timed_out);
	LOAD(over_limit);
	LOAD(unclassified_now);
#undef LOAD
}

/* A configuration on its way to the shared port's thread (mux_server_reload). */
struct handover {
	struct mux_server *srv;
	const struct config *cfg;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

static void handover_cb(evutil_socket_t fd, short what, void *arg)
{
	struct handover *h = arg;

	(void)fd;
	(void)what;
	h->srv->cfg = h->cfg;
	pthread_mutex_lock(&h->lock);
	h->done = true;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

int mux_server_reload(struct mux_server *srv, const struct config *cfg)
{
	struct handover h = { .srv = srv, .cfg = cfg, .lock = PTHREAD_MUTEX_INITIALIZER,
			      .cond = PTHREAD_COND_INITIALIZER };
	const struct timeval now = { 0, 0 };

	if (!srv || !cfg)
		return -EINVAL;
	if (!srv->running) {
		srv->cfg = cfg;
		return 0;
	}
	/* The thread switches between two callbacks, so none of them sees two configurations. */
	if (event_base_once(srv->base, -1, EV_TIMEOUT, handover_cb, &h, &now))
		return -ENOMEM;
	pthread_mutex_lock(&h.lock);
	while (!h.done)
		pthread_cond_wait(&h.cond, &h.lock);
	pthread_mutex_unlock(&h.lock);
	pthread_cond_destroy(&h.cond);
	pthread_mutex_destroy(&h.lock);
	return 0;
}

void mux_server_stop(struct mux_server *srv)
{
	if (!srv)
		return;
	if (srv->running) {
		event_base_loopbreak(srv->base);
		pthread_join(srv->thread, NULL);
	}
	mux_free(srv);
}
