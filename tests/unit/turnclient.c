/*
 * turnclient: see turnclient.h. Blocking, loopback only, for tests.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "core/addr.h"
#include "turnclient.h"

void tc_random_tid(uint8_t tid[STUN_TID_LEN])
{
	if (RAND_bytes(tid, STUN_TID_LEN) != 1)
		for (int i = 0; i < STUN_TID_LEN; i++)
			tid[i] = (uint8_t)rand();
}

int udp_peer(struct sockaddr_storage *addr)
{
	return udp_peer_ip("127.0.0.1", addr);
}

int udp_peer_ip(const char *ip, struct sockaddr_storage *addr)
{
	socklen_t len = sizeof(*addr);
	int fd;

	if (addr_parse_ip(ip, 0, addr))
		return -EINVAL;
	fd = socket(addr->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)addr, addr_len(addr)) < 0 ||
	    getsockname(fd, (struct sockaddr *)addr, &len) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

long udp_recv(int fd, void *buf, size_t cap, struct sockaddr_storage *from, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct sockaddr_storage dummy;
	socklen_t flen = sizeof(dummy);
	ssize_t n;
	int rc;

	rc = poll(&p, 1, ms);
	if (rc < 0)
		return -errno;
	if (rc == 0)
		return -ETIMEDOUT;
	n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)(from ? from : &dummy), &flen);
	return n < 0 ? -errno : (long)n;
}

int tc_open(struct tc *c, uint16_t port, const char *user, const char *pass)
{
	return tc_open_at(c, "127.0.0.1", port, user, pass);
}

int tc_open_at(struct tc *c, const char *server_ip, uint16_t port, const char *user,
	       const char *pass)
{
	memset(c, 0, sizeof(*c));
	c->retry = true;
	if (addr_parse_ip(server_ip, port, &c->server))
		return -EINVAL;
	c->fd = udp_peer_ip(c->server.ss_family == AF_INET6 ? "::1" : "127.0.0.1", &c->local);
	if (c->fd < 0)
		return c->fd;
	if (user)
		snprintf(c->user, sizeof(c->user), "%s", user);
	if (pass)
		snprintf(c->pass, sizeof(c->pass), "%s", pass);
	return 0;
}

int tc_open_stream(struct tc *c, uint16_t port, bool tls, const char *user, const char *pass)
{
	socklen_t len = sizeof(c->local);
	int one = 1;

	memset(c, 0, sizeof(*c));
	c->retry = true;
	c->stream = true;
	if (addr_parse_ip("127.0.0.1", port, &c->server))
		return -EINVAL;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (const struct sockaddr *)&c->server, addr_len(&c->server)) < 0 ||
	    getsockname(c->fd, (struct sockaddr *)&c->local, &len) < 0) {
		int err = -errno;
		tc_close(c);
		return err;
	}
	if (tls) {
		c->ctx = SSL_CTX_new(TLS_client_method());
		if (!c->ctx || !SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION)) {
			tc_close(c);
			return -ENOMEM;
		}
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL); /* a test's self-signed cert */
		c->ssl = SSL_new(c->ctx);
		if (!c->ssl || !SSL_set_fd(c->ssl, c->fd) || SSL_connect(c->ssl) != 1) {
			tc_close(c);
			return -EPROTO;
		}
	}
	if (user)
		snprintf(c->user, sizeof(c->user), "%s", user);
	if (pass)
		snprintf(c->pass, sizeof(c->pass), "%s", pass);
	return 0;
}

void tc_close(struct tc *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->ctx)
		SSL_CTX_free(c->ctx);
	c->ssl = NULL;
	c->ctx = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int tc_send_raw(struct tc *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!c->stream) {
		if (sendto(c->fd, buf, len, 0, (const struct sockaddr *)&c->server,
			   addr_len(&c->server)) < 0)
			return -errno;
		return 0;
	}
	while (len) {
		ssize_t n = c->ssl ? SSL_write(c->ssl, p, (int)len) :
				     send(c->fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return n < 0 && !c->ssl ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The length of the frame at the front of c->sbuf, padding included, or 0 if the header is not
 * all there. */
static size_t frame_len(const struct tc *c)
{
	size_t n;

	if (c->slen < 4)
		return 0;
	n = (size_t)c->sbuf[2] << 8 | c->sbuf[3];
	if (c->sbuf[0] >= 0x40 && c->sbuf[0] <= 0x7F)
		return 4 + ((n + 3) & ~(size_t)3);
	return STUN_HEADER_LEN + n;
}

/* One frame from the stream into c->rbuf. */
static long stream_recv(struct tc *c, int ms)
{
	for (;;) {
		size_t want = frame_len(c);
		ssize_t n;

		if (want && want <= c->slen) {
			memcpy(c->rbuf, c->sbuf, want);
			memmove(c->sbuf, c->sbuf + want, c->slen - want);
			c->slen -= want;
			return (long)want;
		}
		if (want > sizeof(c->sbuf))
			return -EMSGSIZE;
		if (!c->ssl || SSL_pending(c->ssl) == 0) {
			struct pollfd p = { .fd = c->fd, .events = POLLIN };
			int rc = poll(&p, 1, ms);

			if (rc < 0)
				return -errno;
			if (rc == 0)
				return -ETIMEDOUT;
		}
		if (c->ssl)
			n = SSL_read(c->ssl, c->sbuf + c->slen, (int)(sizeof(c->sbuf) - c->slen));
		else
			n = recv(c->fd, c->sbuf + c->slen, sizeof(c->sbuf) - c->slen, 0);
		if (n <= 0)
			return -EPIPE; /* closed (or reset) by the server */
		c->slen += (size_t)n;
	}
}

long tc_recv(struct tc *c, int ms)
{
	long n = c->stream ? stream_recv(c, ms) : udp_recv(c->fd, c->rbuf, sizeof(c->rbuf), NULL, ms);

	c->rlen = n > 0 ? (size_t)n : 0;
	return n;
}

bool tc_closed_by_server(struct tc *c, int ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long left, n;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return false;
		n = tc_recv(c, (int)left);
		if (n == -EPIPE)
			return true;
		if (n < 0)
			return false;
	}
}

/* Copies a string attribute into @out (NUL-terminated, truncated to @cap - 1). */
static void attr_str(const struct stun_msg *m, uint16_t type, char *out, size_t cap)
{
	const struct stun_attr *a = stun_msg_attr(m, type);
	size_t n;

	if (!a)
		return;
	n = a->len < cap - 1 ? a->len : cap - 1;
	memcpy(out, a->val, n);
	out[n] = '\0';
}

size_t tc_key(const struct tc *c, uint8_t key[STUN_KEY_MAX])
{
	int n = stun_ltc_key_alg(c->pwalg ? c->pwalg : STUN_PWALG_MD5, c->user, strlen(c->user),
				 c->realm, strlen(c->realm), c->pass, strlen(c->pass), key);

	/* An algorithm stun.c does not know (a test of the server's refusal): sign with SHA-256. */
	if (n < 0)
		n = stun_ltc_key_alg(STUN_PWALG_SHA256, c->user, strlen(c->user), c->realm,
				     strlen(c->realm), c->pass, strlen(c->pass), key);
	return (size_t)n;
}

/* Sends one try and waits for the answer with our tid. Returns 0, an error code, or -errno. */
long tc_build(struct tc *c, uint16_t method, tc_attrs_h *attrs, void *arg, uint8_t *buf,
	      size_t cap)
{
	struct stun_builder b;
	size_t len;
	int err;

	stun_build_init(&b, buf, cap, method, STUN_CLASS_REQUEST, c->tid);
	if (attrs)
		attrs(&b, arg);
	if (c->user[0] && c->nonce[0]) {
		uint8_t key[STUN_KEY_MAX], hash[STUN_USERHASH_LEN];
		size_t keylen = tc_key(c, key);

		if (c->userhash) {
			stun_userhash(c->user, strlen(c->user), c->realm, strlen(c->realm), hash);
			stun_build_attr(&b, STUN_ATTR_USERHASH, hash, sizeof(hash));
		} else {
			stun_build_attr(&b, STUN_ATTR_USERNAME, c->user, strlen(c->user));
		}
		stun_build_attr(&b, STUN_ATTR_REALM, c->realm, strlen(c->realm));
		stun_build_attr(&b, STUN_ATTR_NONCE, c->nonce, strlen(c->nonce));
		if (c->pwalg) {
			uint8_t pa[4] = { (uint8_t)(c->pwalg >> 8), (uint8_t)c->pwalg, 0, 0 };

			stun_build_attr(&b, STUN_ATTR_PASSWORD_ALGORITHMS, c->pwalgs, c->pwalgs_len);
			stun_build_attr(&b, STUN_ATTR_PASSWORD_ALGORITHM, pa, sizeof(pa));
		}
		if (c->pwalg || c->mi256)
			stun_build_integrity_sha256(&b, key, keylen);
		else
			stun_build_integrity(&b, key, keylen);
	}
	if (!c->no_fp)
		stun_build_fingerprint(&b);
	err = stun_build_finish(&b, &len);
	return err ? err : (long)len;
}

static int try_once(struct tc *c, uint16_t method, tc_attrs_h *attrs, void *arg)
{
	uint8_t buf[2048];
	struct timespec t0, t;
	long len = tc_build(c, method, attrs, arg, buf, sizeof(buf));
	int err;

	if (len < 0)
		return (int)len;
	err = tc_send_raw(c, buf, (size_t)len);
	if (err)
		return err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long ms;
		long n;

		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = 2000 - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (ms <= 0)
			return -ETIMEDOUT;
		n = tc_recv(c, (int)ms);
		if (n < 0)
			return (int)n;
		if (stun_msg_parse(&c->resp, c->rbuf, (size_t)n))
			continue;
		if (memcmp(c->resp.tid, c->tid, STUN_TID_LEN) != 0 || c->resp.method != method)
			continue; /* a Data indication or a stale answer */
		if (c->resp.cls == STUN_CLASS_SUCCESS)
			return 0;
		if (c->resp.cls == STUN_CLASS_ERROR) {
			const struct stun_attr *e = stun_msg_attr(&c->resp, STUN_ATTR_ERROR_CODE);
			const char *reason;
			size_t rlen;
			int code;

			if (!e || stun_attr_error_code(e, &code, &reason, &rlen))
				return -EBADMSG;
			return code;
		}
	}
}

int tc_request_tid(struct tc *c, uint16_t method, tc_attrs_h *attrs, void *arg,
		   const uint8_t tid[STUN_TID_LEN])
{
	int rc;

	memcpy(c->tid, tid, STUN_TID_LEN);
	rc = try_once(c, method, attrs, arg);
	switch (rc) {
	case 401:
	case 438:
		/* Take the realm and nonce and retry once, if we have something to retry with
		 * (RFC 8489 §9.2.3). A 401 that answers a request that had credentials is final. */
		if (!c->user[0] || !c->retry || !stun_msg_attr(&c->resp, STUN_ATTR_NONCE))
			break;
		if (rc == 401 && c->nonce[0])
			break;
		attr_str(&c->resp, STUN_ATTR_REALM, c->realm, sizeof(c->realm));
		attr_str(&c->resp, STUN_ATTR_NONCE, c->nonce, sizeof(c->nonce));
		{
			const struct stun_attr *pas =
				stun_msg_attr(&c->resp, STUN_ATTR_PASSWORD_ALGORITHMS);

			c->pwalgs_len = pas && pas->len <= sizeof(c->pwalgs) ? pas->len : 0;
			if (c->pwalgs_len)
				memcpy(c->pwalgs, pas->val, c->pwalgs_len);
		}
		tc_random_tid(c->tid);
		rc = try_once(c, method, attrs, arg);
		break;
	}
	return rc;
}

int tc_request(struct tc *c, uint16_t method, tc_attrs_h *attrs, void *arg)
{
	uint8_t tid[STUN_TID_LEN];

	tc_random_tid(tid);
	return tc_request_tid(c, method, attrs, arg, tid);
}

static void add_udp_transport(struct stun_builder *b, void *arg)
{
	stun_build_u32(b, TURN_ATTR_REQUESTED_TRANSPORT, (uint32_t)IPPROTO_UDP << 24);
}

int tc_allocate(struct tc *c, struct sockaddr_storage *relayed)
{
	int rc = tc_request(c, TURN_METHOD_ALLOCATE, add_udp_transport, NULL);
	const struct stun_attr *a;

	if (rc == 0 && relayed) {
		a = stun_msg_attr(&c->resp, TURN_ATTR_XOR_RELAYED_ADDRESS);
		if (!a || stun_attr_xor_addr(&c->resp, a, relayed))
			return -EBADMSG;
	}
	return rc;
}

static void add_peer(struct stun_builder *b, void *arg)
{
	stun_build_xor_addr(b, TURN_ATTR_XOR_PEER_ADDRESS, arg);
}

int tc_permission(struct tc *c, const struct sockaddr_storage *peer)
{
	return tc_request(c, TURN_METHOD_CREATE_PERMISSION, add_peer, (void *)peer);
}

struct chan_arg {
	uint16_t num;
	const struct sockaddr_storage *peer;
};

static void add_channel(struct stun_builder *b, void *arg)
{
	const struct chan_arg *ca = arg;

	stun_build_u32(b, TURN_ATTR_CHANNEL_NUMBER, (uint32_t)ca->num << 16);
	stun_build_xor_addr(b, TURN_ATTR_XOR_PEER_ADDRESS, ca->peer);
}

int tc_channel_bind(struct tc *c, uint16_t num, const struct sockaddr_storage *peer)
{
	struct chan_arg ca = { .num = num, .peer = peer };

	return tc_request(c, TURN_METHOD_CHANNEL_BIND, add_channel, &ca);
}

int tc_send_indication(struct tc *c, const struct sockaddr_storage *peer, const void *data,
		       size_t len)
{
	static _Thread_local uint8_t buf[TC_MSG_MAX];
	uint8_t tid[STUN_TID_LEN];
	struct stun_builder b;
	size_t n;
	int err;

	tc_random_tid(tid);
	stun_build_init(&b, buf, sizeof(buf), TURN_METHOD_SEND, STUN_CLASS_INDICATION, tid);
	stun_build_xor_addr(&b, TURN_ATTR_XOR_PEER_ADDRESS, peer);
	stun_build_attr(&b, TURN_ATTR_DATA, data, len);
	stun_build_fingerprint(&b);
	err = stun_build_finish(&b, &n);
	return err ? err : tc_send_raw(c, buf, n);
}

int tc_send_channel(struct tc *c, uint16_t num, const void *data, size_t len)
{
	static _Thread_local uint8_t buf[TC_MSG_MAX];
	size_t n = len + TURN_CHANNELDATA_HDR;

	if (len > sizeof(buf) - TURN_CHANNELDATA_HDR - 3)
		return -EMSGSIZE;
	turn_channeldata_header(buf, num, (uint16_t)len);
	memcpy(buf + TURN_CHANNELDATA_HDR, data, len);
	while (c->stream && n % 4) /* RFC 8656 §12.5 */
		buf[n++] = 0;
	return tc_send_raw(c, buf, n);
}
