/*
 * stream: TURN over TCP and TLS (RFC 8656 §3.1): listeners, connections and framing.
 *
 * Design
 * - A connection (struct turn_conn) belongs to one worker, as a UDP 5-tuple does: the worker that
 *   accepted it on turn.tcp_listen / turn.tls_listen (SO_REUSEPORT spreads connections over the
 *   workers), or, for one handed over by the shared port (turn_server_adopt_stream), the worker a
 *   hash of the client's address picks. It is the client side of at most one allocation, the
 *   5-tuple (client address, server address, TCP). When the connection closes, its allocation is
 *   deleted at once with its relay sockets; an allocation that expires or is refreshed to 0 goes
 *   alone, and the client may allocate again on the same connection.
 * - Framing: bytes are read into the connection's own buffer (TURN_STREAM_IN_INIT bytes, grown to
 *   the frame being read, never beyond TURN_STREAM_FRAME_MAX), and every complete frame is handled
 *   in place: STUN messages by request.c, ChannelData by the client -> peer relay that UDP uses.
 *   Partial frames wait for more bytes; many frames in one read are handled in one go. A frame
 *   that can never be valid closes the connection (turn_stream_frame_len).
 * - Output: a message is written at once (send or SSL_write) if nothing waits; what the socket
 *   does not take waits in the connection's output buffer until the socket is writable. A frame
 *   is never cut. A slow reader's relayed data is dropped past TURN_STREAM_OUT_SOFT bytes waiting,
 *   as the network would drop datagrams, instead of queueing seconds of delay (turn_conn_send).
 * - TLS is OpenSSL on the socket (SSL_read / SSL_write, non-blocking), not libevent's
 *   bufferevents: frames are parsed in place in one buffer we own and sent with one write each,
 *   without copies through evbuffer chains, and a connection adopted from the shared port arrives
 *   with its handshake done and decrypted bytes already read, which simply go into that buffer
 *   first. TLS 1.2 or later, the certificate of core/tls.c (turn_server_set_tls).
 * - Limits: cfg->turn.max_connections connections in all (past it a new one is closed at once),
 *   TURN_STREAM_HANDSHAKE seconds to finish a TLS handshake, TURN_STREAM_IDLE seconds without an
 *   allocation: a flood of connections cannot keep file descriptors.
 * - Errors found while sending (perhaps in the middle of the peer -> client relay of the
 *   connection's own allocation) only mark the connection dead and wake its read event; its read
 *   callback closes it. Nothing is freed under a caller's feet.
 *
 * Must never: block (every socket is non-blocking), buffer without bound, cut a frame, or handle a
 * byte of a TLS connection before its handshake is done. The process must ignore SIGPIPE (tincand
 * does): OpenSSL writes to the socket with write().
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

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <utlist.h>

#include "core/log.h"
#include "core/tls.h"
#include "turn/turn_priv.h"

/* Reads per readiness callback, and connections accepted per callback: enough to amortise the
 * callback, few enough that one busy client cannot starve the others on the loop. */
#define READ_BUDGET 16
#define ACCEPT_BUDGET 32

/* Output buffer kept after it drains; a bigger one (a burst to a slow reader) is freed. */
#define OUT_KEEP (64 * 1024)

/* ---- framing ---- */

long turn_stream_frame_len(const uint8_t *buf, size_t len)
{
	size_t n;

	if (len == 0)
		return 0;
	if (buf[0] >= 0x40 && buf[0] <= 0x7F) {
		/* ChannelData, padded to a multiple of 4 on a stream (RFC 8656 §12.5). */
		if (len < TURN_CHANNELDATA_HDR)
			return 0;
		n = (size_t)buf[2] << 8 | buf[3];
		return (long)(TURN_CHANNELDATA_HDR + ((n + 3) & ~(size_t)3));
	}
	if (buf[0] > 0x3F)
		return -EBADMSG;
	/* STUN: a length that is a multiple of 4 (RFC 8489 §5) and fits, then the magic cookie. */
	if (len < 4)
		return 0;
	n = (size_t)buf[2] << 8 | buf[3];
	if (n % 4 || STUN_HEADER_LEN + n > TURN_STREAM_FRAME_MAX)
		return -EBADMSG;
	if (len < 8)
		return 0;
	if (((uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7]) !=
	    STUN_MAGIC_COOKIE)
		return -EBADMSG;
	return (long)(STUN_HEADER_LEN + n);
}

/* ---- connections ---- */

static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_writable(evutil_socket_t fd, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);

/* Arms @c's timer for the idle timeout: no allocation for this long closes it. */
static void idle_arm(struct turn_conn *c)
{
	turn_timer_arm(c->timer,
		       atomic_load_explicit(&c->w->srv->stream_idle, memory_order_relaxed));
}

/* OpenSSL's reason for the last failure on this thread, for log lines; clears the queue. */
static const char *ssl_reason(char buf[160])
{
	unsigned long e = ERR_get_error();

	if (!e)
		return "connection closed";
	ERR_error_string_n(e, buf, 160);
	ERR_clear_error();
	return buf;
}

/* Gives @c up: closed by its read callback, which this wakes (from anywhere on the worker). */
static void conn_fail(struct turn_conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	event_active(c->rev, EV_READ, 0);
}

int turn_conn_open(struct turn_conn **out, struct turn_worker *w, int fd,
		   const struct sockaddr_storage *peer, const struct sockaddr_storage *local,
		   SSL *ssl, bool handshake)
{
	struct turn_server *srv = w->srv;
	unsigned max = srv->cfg->turn.max_connections;
	struct turn_conn *c = NULL;
	char pa[ADDR_STRLEN];
	int one = 1, err = 0;

	/* A slot of max_connections first: past it the connection is closed at once, before it
	 * costs anything. */
	if (atomic_fetch_add(&srv->conns, 1) >= max && max) {
		atomic_fetch_sub(&srv->conns, 1);
		TURN_CTR_ADD(srv, streams_refused, 1);
		log_debug("turn: %s: turn.max_connections (%u) reached, connection closed",
			  addr_str(peer, pa), max);
		SSL_free(ssl);
		close(fd);
		return -ENOSPC;
	}

	c = calloc(1, sizeof(*c));
	if (!c) {
		err = -ENOMEM;
		goto out;
	}
	c->w = w;
	c->fd = fd;
	c->ssl = ssl;
	c->handshaking = ssl && handshake;
	c->tls_ok = ssl && !handshake;
	c->serial = w->conn_serial++ & ~TURN_VIA_STREAM;
	c->peer = *peer;
	c->local = *local;
	/* Frames are small and latency matters: no Nagle delay. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* SSL_write may write part of a buffer, and be retried from the output buffer after it
	 * moved (conn_queue compacts and grows it). */
	if (ssl)
		SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
			     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	c->in = malloc(TURN_STREAM_IN_INIT);
	c->in_cap = TURN_STREAM_IN_INIT;
	c->rev = event_new(w->base, fd, EV_READ | EV_PERSIST, on_readable, c);
	c->wev = event_new(w->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
	c->timer = evtimer_new(w->base, on_timer, c);
	if (!c->in || !c->rev || !c->wev || !c->timer || event_add(c->rev, NULL) < 0) {
		err = -ENOMEM;
		goto out;
	}
	if (c->handshaking)
		turn_timer_arm(c->timer, TURN_STREAM_HANDSHAKE);
	else
		idle_arm(c);

out:
	if (err) {
		if (c) {
			if (c->rev)
				event_free(c->rev);
			if (c->wev)
				event_free(c->wev);
			if (c->timer)
				event_free(c->timer);
			free(c->in);
			free(c);
		}
		SSL_free(ssl);
		close(fd);
		atomic_fetch_sub(&srv->conns, 1);
		return err;
	}
	DL_APPEND(w->conns, c);
	TURN_CTR_ADD(srv, streams_now, 1);
	TURN_CTR_ADD(srv, streams_total, 1);
	log_debug("turn: %s connection from %s", ssl ? "tls" : "tcp", addr_str(peer, pa));
	*out = c;
	return 0;
}

void turn_conn_close(struct turn_conn *c)
{
	struct turn_worker *w = c->w;
	char pa[ADDR_STRLEN];

	log_debug("turn: %s connection from %s closed (%llu frames received)",
		  c->ssl ? "tls" : "tcp", addr_str(&c->peer, pa), (unsigned long long)c->frames);
	/* Its allocation (and relay sockets) first: the 5-tuple is gone. */
	if (c->al)
		turn_alloc_destroy(c->al);
	DL_DELETE(w->conns, c);
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->timer);
	if (c->ssl) {
		/* close_notify, best effort: never after a fatal TLS error (OpenSSL forbids it). */
		if (c->tls_ok) {
			ERR_clear_error();
			(void)SSL_shutdown(c->ssl);
		}
		ERR_clear_error();
		SSL_free(c->ssl); /* its socket BIO does not own the descriptor (SSL_set_fd) */
	}
	close(c->fd);
	free(c->in);
	free(c->out);
	atomic_fetch_sub(&w->srv->conns, 1);
	TURN_CTR_SUB(w->srv, streams_now, 1);
	free(c);
}

void turn_conn_attach(struct turn_conn *c, struct turn_alloc *al)
{
	c->al = al;
	evtimer_del(c->timer);
}

void turn_conn_detach(struct turn_conn *c)
{
	c->al = NULL;
	idle_arm(c);
}

/* The handshake timeout, or the idle timeout (no allocation). */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct turn_conn *c = arg;
	char pa[ADDR_STRLEN];

	log_debug("turn: %s: %s", addr_str(&c->peer, pa),
		  c->handshaking ? "no TLS handshake in time" : "no allocation in time");
	turn_conn_close(c);
}

/* ---- output ---- */

/* Writes up to @len (> 0) bytes. Returns how many the socket (or TLS) took, 0 if it is full, or
 * -1 if the connection is broken. */
static ssize_t conn_write(struct turn_conn *c, const uint8_t *buf, size_t len)
{
	if (c->ssl) {
		int r;

		ERR_clear_error();
		r = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
		if (r > 0)
			return r;
		switch (SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_WANT_WRITE:
		case SSL_ERROR_WANT_READ:
			return 0;
		default:
			c->tls_ok = false;
			return -1;
		}
	}
	for (;;) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	}
}

/* Appends @len bytes to the output buffer and waits for the socket to be writable. Returns 0,
 * or -ENOMEM. */
static int conn_queue(struct turn_conn *c, const uint8_t *buf, size_t len)
{
	if (c->out_off + c->out_len + len > c->out_cap) {
		/* What waits moves to the front (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets a retried
		 * SSL_write find it there), and the buffer grows if that is not enough. */
		if (c->out_off)
			memmove(c->out, c->out + c->out_off, c->out_len);
		c->out_off = 0;
		if (c->out_len + len > c->out_cap) {
			size_t cap = c->out_cap ? c->out_cap : 16384;
			uint8_t *p;

			while (cap < c->out_len + len)
				cap *= 2;
			p = realloc(c->out, cap);
			if (!p)
				return -ENOMEM;
			c->out = p;
			c->out_cap = cap;
		}
	}
	memcpy(c->out + c->out_off + c->out_len, buf, len);
	c->out_len += len;
	if (!event_pending(c->wev, EV_WRITE, NULL))
		event_add(c->wev, NULL);
	return 0;
}

int turn_conn_send(struct turn_conn *c, const uint8_t *buf, size_t len, bool relayed)
{
	ssize_t n = 0;

	if (c->dead || c->handshaking)
		return -EPIPE;
	if (c->out_len) {
		/* Something waits: this goes behind it, if the client keeps up well enough. */
		if (relayed && c->out_len >= TURN_STREAM_OUT_SOFT) {
			TURN_CTR_ADD(c->w->srv, stream_dropped, 1);
			return -ENOBUFS;
		}
		if (c->out_len + len > TURN_STREAM_OUT_MAX) {
			char pa[ADDR_STRLEN];

			log_notice("turn: %s does not read its answers (%zu bytes waiting): closing",
				   addr_str(&c->peer, pa), c->out_len);
			conn_fail(c);
			return -ENOBUFS;
		}
	} else {
		n = conn_write(c, buf, len);
		if (n < 0) {
			conn_fail(c);
			return -EPIPE;
		}
		if ((size_t)n == len)
			return 0;
	}
	/* The rest of the frame waits for the socket. */
	if (conn_queue(c, buf + n, len - (size_t)n)) {
		conn_fail(c);
		return -ENOMEM;
	}
	return 0;
}

/* Writes what waits, as far as the socket takes it. */
static void conn_flush(struct turn_conn *c)
{
	while (c->out_len) {
		ssize_t n = conn_write(c, c->out + c->out_off, c->out_len);

		if (n < 0) {
			conn_fail(c);
			return;
		}
		if (n == 0)
			return; /* still full: wev stays */
		c->out_off += (size_t)n;
		c->out_len -= (size_t)n;
	}
	c->out_off = 0;
	if (c->out_cap > OUT_KEEP) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
	if (!c->read_wants_write)
		event_del(c->wev);
}

/* ---- input ---- */

/* Handles one whole frame: STUN to request.c, ChannelData to the relay. */
static void conn_frame(struct turn_conn *c, const uint8_t *buf, size_t len)
{
	c->frames++;
	if (buf[0] <= 0x3F) {
		struct turn_client cl = { .w = c->w, .conn = c, .addr = &c->peer };

		turn_request_handle(&cl, buf, len);
	} else {
		turn_relay_channeldata(c->w, c->al, buf, len);
	}
}

/* Handles every complete frame at the front of c->in and keeps the partial one that may follow,
 * with room for all of it. */
static void conn_parse(struct turn_conn *c)
{
	size_t off = 0, need = 0;

	while (!c->dead) {
		long n = turn_stream_frame_len(c->in + off, c->in_len - off);

		if (n < 0) {
			char pa[ADDR_STRLEN];

			TURN_CTR_ADD(c->w->srv, malformed, 1);
			log_debug("turn: %s sent bytes that are neither STUN nor ChannelData: closing",
				  addr_str(&c->peer, pa));
			conn_fail(c);
			return;
		}
		if (n == 0 || (size_t)n > c->in_len - off) {
			need = (size_t)n;
			break;
		}
		conn_frame(c, c->in + off, (size_t)n);
		off += (size_t)n;
	}
	if (c->dead)
		return;
	if (off) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	if (need > c->in_cap) {
		uint8_t *p = realloc(c->in, need); /* need <= TURN_STREAM_FRAME_MAX */

		if (!p) {
			conn_fail(c);
			return;
		}
		c->in = p;
		c->in_cap = need;
	}
}

void turn_conn_feed(struct turn_conn *c, const uint8_t *buf, size_t len)
{
	while (len && !c->dead) {
		size_t n = c->in_cap - c->in_len; /* > 0: conn_parse leaves room */

		if (n > len)
			n = len;
		memcpy(c->in + c->in_len, buf, n);
		c->in_len += n;
		buf += n;
		len -= n;
		conn_parse(c);
	}
}

/* Reads what the socket (or the TLS session) has and handles the frames, up to READ_BUDGET
 * reads. */
static void conn_read(struct turn_conn *c)
{
	char why[160];

	for (int i = 0; i < READ_BUDGET && !c->dead; i++) {
		size_t room = c->in_cap - c->in_len;
		ssize_t n;

		if (c->ssl) {
			int r;

			ERR_clear_error();
			r = SSL_read(c->ssl, c->in + c->in_len, room > INT32_MAX ? INT32_MAX : (int)room);
			if (r <= 0) {
				switch (SSL_get_error(c->ssl, r)) {
				case SSL_ERROR_WANT_READ:
					return;
				case SSL_ERROR_WANT_WRITE: /* e.g. answering a key update */
					c->read_wants_write = true;
					event_add(c->wev, NULL);
					return;
				case SSL_ERROR_ZERO_RETURN: /* close_notify */
					break;
				default: {
					char pa[ADDR_STRLEN];

					c->tls_ok = false;
					log_debug("turn: %s: TLS: %s", addr_str(&c->peer, pa),
						  ssl_reason(why));
					break;
				}
				}
				conn_fail(c);
				return;
			}
			n = r;
		} else {
			n = recv(c->fd, c->in + c->in_len, room, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			if (n <= 0) { /* closed by the client, or reset */
				conn_fail(c);
				return;
			}
		}
		c->in_len += (size_t)n;
		conn_parse(c);
		if (!c->ssl && (size_t)n < room)
			return; /* the socket is drained */
	}
	/* Out of budget: TLS may hold decrypted bytes the socket no longer signals, so come back
	 * after the other events (plain TCP stays readable by itself). */
	if (c->ssl && !c->dead)
		event_active(c->rev, EV_READ, 0);
}

/* One step of the server's TLS handshake. */
static void conn_handshake(struct turn_conn *c)
{
	char pa[ADDR_STRLEN], why[160];
	int r;

	ERR_clear_error();
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->handshaking = false;
		c->tls_ok = true;
		event_del(c->wev);
		idle_arm(c);
		log_debug("turn: %s: %s handshake done", addr_str(&c->peer, pa),
			  SSL_get_version(c->ssl));
		conn_read(c); /* application data may have come with the client's Finished */
		return;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		event_del(c->wev);
		return;
	case SSL_ERROR_WANT_WRITE:
		event_add(c->wev, NULL);
		return;
	default:
		log_debug("turn: %s: TLS handshake failed: %s", addr_str(&c->peer, pa),
			  ssl_reason(why));
		c->dead = true;
		return;
	}
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct turn_conn *c = arg;

	if (!c->dead) {
		if (c->handshaking)
			conn_handshake(c);
		else
			conn_read(c);
	}
	if (c->dead)
		turn_conn_close(c);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct turn_conn *c = arg;

	if (!c->dead && c->handshaking) {
		conn_handshake(c);
	} else if (!c->dead) {
		if (c->read_wants_write) {
			c->read_wants_write = false;
			conn_read(c);
		}
		if (!c->dead)
			conn_flush(c);
	}
	if (c->dead)
		turn_conn_close(c);
}

/* ---- listeners ---- */

/* A new server SSL for a TLS listener's connection, or NULL (no certificate yet, no memory). */
static SSL *tls_accept_new(struct turn_server *srv)
{
	static atomic_bool warned;
	struct tls_server *tls = atomic_load_explicit(&srv->tls, memory_order_acquire);
	SSL_CTX *ctx;
	SSL *ssl;

	if (!tls) {
		if (!atomic_exchange(&warned, true))
			log_warn("turn: a connection on turn.tls_listen, but no certificate was given "
				 "to the relay: closed");
		return NULL;
	}
	ctx = tls_server_ctx(tls);
	ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);
	return ssl;
}

/* Out of file descriptors: stop accepting for a second (the listening sockets would stay
 * readable and spin the loop), instead of closing what cannot be accepted. */
static void accept_pause(struct turn_worker *w, int err)
{
	log_warn("turn: cannot accept TCP connections: %s; pausing for 1 s", strerror(err));
	for (unsigned i = 0; i < w->n_acc; i++)
		event_del(w->acc[i].ev);
	turn_timer_arm(w->acc_resume, 1);
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct turn_worker *w = arg;

	for (unsigned i = 0; i < w->n_acc; i++)
		event_add(w->acc[i].ev, NULL);
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct turn_acceptor *a = arg;
	struct turn_worker *w = a->w;

	for (int i = 0; i < ACCEPT_BUDGET; i++) {
		struct sockaddr_storage peer = { 0 }, local = { 0 };
		socklen_t plen = sizeof(peer), llen = sizeof(local);
		struct turn_conn *c;
		SSL *ssl = NULL;
		int cfd;

		cfd = accept4(fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				accept_pause(w, errno);
			return;
		}
		/* The server side of the 5-tuple: the address this connection reached (a wildcard
		 * listener's is one of the machine's). */
		if (getsockname(cfd, (struct sockaddr *)&local, &llen) < 0)
			local = a->local;
		if (a->tls) {
			ssl = tls_accept_new(w->srv);
			if (!ssl || !SSL_set_fd(ssl, cfd)) {
				SSL_free(ssl);
				close(cfd);
				continue;
			}
			SSL_set_accept_state(ssl);
		}
		(void)turn_conn_open(&c, w, cfd, &peer, &local, ssl, a->tls);
	}
}

/* ---- handing over (turn_server_adopt_stream) ---- */

/* adopt_ev: takes the queued connections; each is served as if its first bytes had just been
 * read. */
static void on_adopt(evutil_socket_t fd, short what, void *arg)
{
	struct turn_worker *w = arg;
	struct turn_adopt_msg *q, *next;

	pthread_mutex_lock(&w->adopt_lock);
	q = w->adopt_q;
	w->adopt_q = NULL;
	pthread_mutex_unlock(&w->adopt_lock);
	for (; q; q = next) {
		struct turn_conn *c;
		bool handshake = q->ssl && !SSL_is_init_finished(q->ssl);

		next = q->next;
		if (handshake && q->prefix_len) {
			/* Decrypted bytes of a handshake that has not finished: not a connection
			 * anyone could have handed over correctly. */
			log_warn("turn: a TLS connection handed over mid-handshake with data: closed");
			SSL_free(q->ssl);
			close(q->fd);
		} else if (turn_conn_open(&c, w, q->fd, &q->peer, &q->local, q->ssl, handshake) == 0) {
			/* The bytes the shared port read, then what the socket or the TLS session
			 * holds already: epoll does not signal bytes buffered inside an SSL. */
			turn_conn_feed(c, q->prefix, q->prefix_len);
			if (!c->dead)
				event_active(c->rev, EV_READ, 0);
			else
				turn_conn_close(c);
		}
		free(q);
	}
}

int turn_server_adopt_stream(struct turn_server *srv, int fd, const struct sockaddr_storage *peer,
			     const struct sockaddr_storage *local, SSL *ssl, const uint8_t *prefix,
			     size_t prefix_len)
{
	struct turn_adopt_msg *m = NULL, **tail;
	struct turn_worker *w = NULL;
	int err = 0;

	if (!srv || fd < 0 || !peer || !local || (prefix_len && !prefix) ||
	    prefix_len > 16 * TURN_STREAM_FRAME_MAX)
		err = -EINVAL;
	if (!err) {
		m = malloc(sizeof(*m) + prefix_len);
		if (!m)
			err = -ENOMEM;
	}
	if (!err) {
		m->next = NULL;
		m->fd = fd;
		m->ssl = ssl;
		m->peer = *peer;
		m->local = *local;
		m->prefix_len = prefix_len;
		if (prefix_len)
			memcpy(m->prefix, prefix, prefix_len);
		/* The same client address always goes to the same worker. */
		w = srv->workers[addr_hash(peer) % srv->n_workers];
		pthread_mutex_lock(&w->adopt_lock);
		if (w->adopt_closed) {
			err = -ESHUTDOWN;
		} else {
			for (tail = &w->adopt_q; *tail; tail = &(*tail)->next)
				;
			*tail = m;
		}
		pthread_mutex_unlock(&w->adopt_lock);
	}
	if (err) {
		free(m);
		SSL_free(ssl);
		if (fd >= 0)
			close(fd);
		return err;
	}
	event_active(w->adopt_ev, EV_READ, 0);
	return 0;
}

/* ---- worker setup and teardown ---- */

int turn_streams_init(struct turn_worker *w, const struct sockaddr_storage *tcp, size_t n_tcp,
		      const struct sockaddr_storage *tls, size_t n_tls)
{
	char la[ADDR_STRLEN];

	w->adopt_ev = event_new(w->base, -1, 0, on_adopt, w);
	w->acc_resume = evtimer_new(w->base, on_accept_resume, w);
	if (!w->adopt_ev || !w->acc_resume)
		return -ENOMEM;
	for (size_t i = 0; i < n_tcp + n_tls; i++) {
		struct turn_acceptor *a = &w->acc[i];
		const struct sockaddr_storage *addr = i < n_tcp ? &tcp[i] : &tls[i - n_tcp];

		a->w = w;
		a->tls = i >= n_tcp;
		a->fd = turn_listen_socket(addr, SOCK_STREAM, w->srv->n_workers > 1,
					   &a->local);
		w->n_acc = (unsigned)i + 1;
		if (a->fd < 0) {
			log_err("turn: cannot listen on %s %s: %s", addr_str(addr, la),
				a->tls ? "tls" : "tcp", strerror(-a->fd));
			return a->fd;
		}
		a->ev = event_new(w->base, a->fd, EV_READ | EV_PERSIST, on_accept, a);
		if (!a->ev || event_add(a->ev, NULL) < 0)
			return -ENOMEM;
	}
	return 0;
}

void turn_streams_free(struct turn_worker *w)
{
	struct turn_conn *c, *tmp;

	DL_FOREACH_SAFE(w->conns, c, tmp)
		turn_conn_close(c);
	for (unsigned i = 0; i < w->n_acc; i++) {
		if (w->acc[i].ev)
			event_free(w->acc[i].ev);
		if (w->acc[i].fd >= 0)
			close(w->acc[i].fd);
	}
	w->n_acc = 0;
	while (w->adopt_q) {
		struct turn_adopt_msg *next = w->adopt_q->next;

		SSL_free(w->adopt_q->ssl);
		close(w->adopt_q->fd);
		free(w->adopt_q);
		w->adopt_q = next;
	}
	if (w->adopt_ev)
		event_free(w->adopt_ev);
	if (w->acc_resume)
		event_free(w->acc_resume);
	w->adopt_ev = w->acc_resume = NULL;
}
