/*
 * alloc: TURN allocations, permissions and channels (RFC 8656 §7, §9, §12), and the relay port pool.
 *
 * Ownership is a tree: a worker owns its allocations (one made on a TCP or TLS connection is
 * deleted with it, stream.c); an allocation owns its relay sockets (one per
 * family it holds) with their read events, its lifetime timer, its permissions and its channels;
 * each permission and channel owns its own timer. Destroying a node destroys its subtree and
 * cancels every timer in it, so an expiry is one call and turn_server_stop is one loop over the
 * allocations. The timers are embedded (struct turn_timer) and hang in the worker's wheel (below),
 * not in libevent's heap.
 *
 * Everything here runs on the owning worker's thread; nothing here is on the per-datagram path
 * except the O(1) finds.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "core/cred.h"
#include "core/log.h"
#include "turn/turn_priv.h"

/* ---- keys ---- */

void turn_key_set(struct turn_key *k, const struct sockaddr_storage *a, bool with_port)
{
	memset(k, 0, sizeof(*k));
	k->family = a->ss_family;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)a;
		memcpy(k->ip, &s->sin_addr, 4);
		if (with_port)
			k->port = s->sin_port;
	} else if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)a;
		memcpy(k->ip, &s->sin6_addr, 16);
		if (with_port)
			k->port = s->sin6_port;
	}
}

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

void turn_timer_arm(struct event *ev, uint32_t seconds)
{
	struct timeval tv = { .tv_sec = seconds, .tv_usec = 0 };

	evtimer_add(ev, &tv);
}

/* ---- the timer wheel ---- */

/*
 * Allocations, permissions and channels time out after whole seconds (RFC 8656: 300 s, 600 s,
 * the LIFETIME asked for), so their timers share one wheel per worker with a slot per second,
 * swept by the worker's 1-second tick (server.c): arming is a list insert, however many timers
 * there are. A timer due at second D (its due time rounded up) sits in slot D % TURN_WHEEL_SLOTS;
 * the sweep visits every second from wheel_sec up to now and fires what is due, leaving timers
 * of a later round (more than TURN_WHEEL_SLOTS seconds ahead) in place.
 */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void wheel_link(struct turn_timer **head, struct turn_timer *t)
{
	t->next = *head;
	if (t->next)
		t->next->pprev = &t->next;
	t->pprev = head;
	*head = t;
}

void turn_wheel_cancel(struct turn_timer *t)
{
	if (!t->pprev)
		return;
	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	t->next = NULL;
	t->pprev = NULL;
}

void turn_wheel_arm(struct turn_worker *w, struct turn_timer *t, uint32_t seconds,
		    void (*cb)(struct turn_timer *t))
{
	uint64_t now = mono_ms();

	turn_wheel_cancel(t);
	if (!w->wheel_sec)
		w->wheel_sec = now / 1000u;
	t->due_ms = now + (uint64_t)seconds * 1000u;
	t->cb = cb;
	wheel_link(&w->wheel[(t->due_ms + 999u) / 1000u % TURN_WHEEL_SLOTS], t);
}

void turn_wheel_run(struct turn_worker *w)
{
	uint64_t now = mono_ms(), sec = now / 1000u, from = w->wheel_sec;

	if (!from)
		return; /* nothing was ever armed */
	if (sec - from >= TURN_WHEEL_SLOTS) /* a stall longer than a round: each slot once */
		from = sec - TURN_WHEEL_SLOTS + 1;
	for (uint64_t s = from; s <= sec; s++) {
		struct turn_timer **slot = &w->wheel[s % TURN_WHEEL_SLOTS];
		struct turn_timer *pending = *slot, *t;

		/* The slot's timers move to a local list first: a callback may cancel any of them
		 * (unlinking works wherever a timer is) or arm new ones (they go to the wheel, not
		 * to this list, so the loop ends). */
		*slot = NULL;
		if (pending)
			pending->pprev = &pending;
		while ((t = pending)) {
			turn_wheel_cancel(t);
			if (t->due_ms <= now)
				t->cb(t); /* may free t */
			else
				wheel_link(slot, t);
		}
	}
	/* This second is swept again next time: timers due later within it are still there. */
	w->wheel_sec = sec;
}

/* ---- port pool ---- */

int turn_ports_init(struct turn_ports *p, uint16_t lo, uint16_t hi, uint32_t seed)
{
	size_t n, words;

	if (!p || lo > hi)
		return -EINVAL;
	n = (size_t)hi - lo + 1;
	words = (n + 63) / 64;
	p->held = calloc(words, sizeof(*p->held));
	if (!p->held)
		return -ENOMEM;
	for (size_t i = 0; i < words; i++)
		atomic_init(&p->held[i], 0);
	p->lo = lo;
	p->hi = hi;
	p->rng = seed ? seed : 0x9e3779b9u;
	p->spare_ip.ss_family = 0;
	p->n_spare = p->want_spare = 0;
	return 0;
}

void turn_ports_free(struct turn_ports *p)
{
	if (p->held)
		turn_spares_release(p);
	p->want_spare = 0;
	free((void *)p->held);
	p->held = NULL;
}

static bool port_held(const struct turn_ports *p, uint16_t port)
{
	unsigned i = port - p->lo;

	return atomic_load_explicit(&p->held[i / 64], memory_order_relaxed) >> (i % 64) & 1;
}

static void port_mark(struct turn_ports *p, uint16_t port, bool held)
{
	unsigned i = port - p->lo;
	uint64_t bit = UINT64_C(1) << (i % 64);

	if (held)
		atomic_fetch_or_explicit(&p->held[i / 64], bit, memory_order_relaxed);
	else
		atomic_fetch_and_explicit(&p->held[i / 64], ~bit, memory_order_relaxed);
}

/* xorshift32: the search start only needs to be unpredictable enough to spread allocations over
 * the range, not cryptographically random (a client learns its port anyway). */
static uint32_t port_rand(struct turn_ports *p)
{
	uint32_t x = p->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	p->rng = x;
	return x;
}

/* Binds @fd to @ip:@port. Returns 0; 1 if the port is taken (by another process, or one this
 * process does not know of yet), to be skipped; a negative errno otherwise. */
static int bind_port(int fd, const struct sockaddr_storage *ip, uint16_t port)
{
	struct sockaddr_storage a = *ip;

	addr_set_port(&a, port);
	if (bind(fd, (const struct sockaddr *)&a, addr_len(&a)) == 0)
		return 0;
	return errno == EADDRINUSE || errno == EACCES ? 1 : -errno;
}

/*
 * Binds @fd to @ip on a port of the pool that none of our allocations holds, starting at port
 * @rnd modulo the pool's size and visiting each port at most once, so one Allocate costs at most
 * one pass over the range. A port another process (or worker) holds fails with EADDRINUSE and is
 * skipped; it is not remembered, because that process may let it go. Returns the port, or
 * -EADDRNOTAVAIL when the pass finds none.
 */
static int ports_bind(struct turn_ports *p, int fd, const struct sockaddr_storage *ip, bool even,
		      uint32_t rnd)
{
	uint32_t n = (uint32_t)p->hi - p->lo + 1;
	uint32_t start = rnd % n;

	for (uint32_t i = 0; i < n; i++) {
		uint16_t port = (uint16_t)(p->lo + (start + i) % n);
		int rc;

		if (port_held(p, port) || (even && port % 2))
			continue;
		rc = bind_port(fd, ip, port);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			port_mark(p, port, true);
			return port;
		}
	}
	return -EADDRNOTAVAIL;
}

static int relay_socket(int family, bool dont_fragment);

/*
 * EVEN-PORT with R=1 (RFC 8656 §7.2): binds a new socket to an even port P of the pool and another
 * to P + 1, both free, in one pass as ports_bind (starting from @rnd as there). A socket bound to
 * a port whose partner is taken cannot be unbound, so each try starts from new sockets. Returns P
 * with the two descriptors in @fd and @fd_next, or -EADDRNOTAVAIL, or another negative errno.
 */
static int ports_bind_pair(struct turn_ports *p, const struct sockaddr_storage *ip, bool df,
			   int *fd, int *fd_next, uint32_t rnd)
{
	uint32_t n = (uint32_t)p->hi - p->lo + 1;
	uint32_t start = rnd % n;

	for (uint32_t i = 0; i < n; i++) {
		uint16_t port = (uint16_t)(p->lo + (start + i) % n);
		int a, b, rc;

		if (port % 2 || port == p->hi || port_held(p, port) || port_held(p, port + 1))
			continue;
		a = relay_socket(ip->ss_family, df);
		if (a < 0)
			return a;
		b = relay_socket(ip->ss_family, df);
		if (b < 0) {
			close(a);
			return b;
		}
		rc = bind_port(a, ip, port);
		if (rc == 0)
			rc = bind_port(b, ip, port + 1);
		if (rc == 0) {
			port_mark(p, port, true);
			port_mark(p, port + 1, true);
			*fd = a;
			*fd_next = b;
			return port;
		}
		close(a);
		close(b);
		if (rc < 0)
			return rc;
	}
	return -EADDRNOTAVAIL;
}

/* ---- quotas ---- */

/* What a user's quota counts against: the participant of a TURN REST username
 * "<expiry>:<participant>" (a participant may hold several credentials), else the name. */
static const char *quota_key(const char *user)
{
	const char *colon = strchr(user, ':');

	return colon && cred_rest_check(user, 0) != -EINVAL ? colon + 1 : user;
}

/* Takes one of max_allocations and one of the user's quota. Returns 0, -ENOSPC or -EDQUOT. */
static int quota_take(struct turn_server *srv, const char *user)
{
	const struct config *cfg = srv->cfg;
	const char *key = quota_key(user);
	struct turn_quota *q;
	int err = 0;

	/* Counted even without a limit: a SIGHUP may set one, and must find the count right. */
	if (atomic_fetch_add(&srv->slots, 1) >= cfg->turn.max_allocations &&
	    cfg->turn.max_allocations) {
		atomic_fetch_sub(&srv->slots, 1);
		TURN_CTR_ADD(srv, capacity_exceeded, 1);
		return -ENOSPC;
	}
	pthread_mutex_lock(&srv->quota_lock);
	HASH_FIND_STR(srv->quota, key, q);
	if (!q) {
		q = calloc(1, sizeof(*q));
		if (q) {
			snprintf(q->key, sizeof(q->key), "%s", key);
			HASH_ADD_STR(srv->quota, key, q);
		} else {
			err = -ENOMEM;
		}
	}
	if (q && cfg->turn.user_quota && q->n >= cfg->turn.user_quota)
		err = -EDQUOT;
	else if (q)
		q->n++;
	pthread_mutex_unlock(&srv->quota_lock);
	if (err) {
		atomic_fetch_sub(&srv->slots, 1);
		if (err == -EDQUOT)
			TURN_CTR_ADD(srv, quota_exceeded, 1);
	}
	return err;
}

/* Gives back what quota_take took. An entry whose count falls to 0 is freed: the table holds
 * only users with allocations. */
static void quota_give(struct turn_server *srv, const char *user)
{
	const char *key = quota_key(user);
	struct turn_quota *q;

	atomic_fetch_sub(&srv->slots, 1);
	pthread_mutex_lock(&srv->quota_lock);
	HASH_FIND_STR(srv->quota, key, q);
	if (q && --q->n == 0) {
		HASH_DEL(srv->quota, q);
		free(q);
	}
	pthread_mutex_unlock(&srv->quota_lock);
}

/* ---- reservations (EVEN-PORT R=1, RESERVATION-TOKEN) ---- */

static void resv_free(struct turn_server *srv, struct turn_resv *rv)
{
	close(rv->fd);
	port_mark(rv->pool, addr_port(&rv->addr), false);
	quota_give(srv, rv->user);
	TURN_CTR_SUB(srv, reservations_now, 1);
	free(rv);
}

/* Files the reservation of @fd bound to @addr from @pool for @user, under a fresh random token
 * (unguessable: it is all a client needs to take the port). Returns 0 with the token in @token;
 * -ENOMEM or -EIO. The caller has taken the quota slot; on error it keeps it. */
static int resv_add(struct turn_server *srv, int fd, const struct sockaddr_storage *addr,
		    struct turn_ports *pool, const char *user, uint8_t token[TURN_TOKEN_LEN])
{
	struct turn_resv *rv = calloc(1, sizeof(*rv)), *dup;

	if (!rv)
		return -ENOMEM;
	rv->fd = fd;
	rv->addr = *addr;
	rv->pool = pool;
	snprintf(rv->user, sizeof(rv->user), "%s", user);
	rv->expires = mono_now() + atomic_load_explicit(&srv->resv_lifetime, memory_order_relaxed);
	pthread_mutex_lock(&srv->resv_lock);
	do {
		if (RAND_bytes(rv->token, TURN_TOKEN_LEN) != 1) {
			pthread_mutex_unlock(&srv->resv_lock);
			free(rv);
			return -EIO;
		}
		HASH_FIND(hh, srv->resv, rv->token, TURN_TOKEN_LEN, dup);
	} while (dup);
	HASH_ADD(hh, srv->resv, token, TURN_TOKEN_LEN, rv);
	pthread_mutex_unlock(&srv->resv_lock);
	TURN_CTR_ADD(srv, reservations_now, 1);
	memcpy(token, rv->token, TURN_TOKEN_LEN);
	return 0;
}

/* Removes and returns the live reservation of @token, or NULL. */
static struct turn_resv *resv_take(struct turn_server *srv, const uint8_t *token)
{
	struct turn_resv *rv;

	pthread_mutex_lock(&srv->resv_lock);
	HASH_FIND(hh, srv->resv, token, TURN_TOKEN_LEN, rv);
	if (rv)
		HASH_DEL(srv->resv, rv);
	pthread_mutex_unlock(&srv->resv_lock);
	if (rv && rv->expires <= mono_now()) {
		resv_free(srv, rv);
		rv = NULL;
	}
	return rv;
}

void turn_resv_sweep(struct turn_server *srv, bool all)
{
	struct turn_resv *rv, *tmp, *dead = NULL;
	time_t now = mono_now();

	pthread_mutex_lock(&srv->resv_lock);
	HASH_ITER(hh, srv->resv, rv, tmp) {
		if (all || rv->expires <= now) {
			HASH_DEL(srv->resv, rv);
			rv->hh.next = dead;
			dead = rv;
		}
	}
	pthread_mutex_unlock(&srv->resv_lock);
	/* Freed outside the lock: resv_free takes the quota lock. */
	for (rv = dead; rv; rv = tmp) {
		tmp = rv->hh.next;
		resv_free(srv, rv);
	}
}

/* ---- bandwidth ---- */

bool turn_bw_admit(struct turn_bucket *b, unsigned kbps, size_t len)
{
	struct timespec ts;
	uint64_t now, rate = (uint64_t)kbps * 125u; /* bytes per second */
	int64_t depth = (int64_t)(rate / 2 > 65536 + 64 ? rate / 2 : 65536 + 64);

	if (!kbps)
		return true;
	/* The coarse clock (a few ms) is free of system calls and plenty for a half-second bucket. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	if (!b->stamp_us || now - b->stamp_us > 1000000u) /* first use, or idle past a full bucket */
		b->tokens = depth;
	else
		b->tokens += (int64_t)((now - b->stamp_us) * rate / 1000000u);
	if (b->tokens > depth)
		b->tokens = depth;
	b->stamp_us = now;
	if (b->tokens < (int64_t)len)
		return false;
	b->tokens -= (int64_t)len;
	return true;
}

/* ---- permissions ---- */

static void perm_destroy(struct turn_perm *p)
{
	HASH_DEL(p->al->perms, p);
	turn_wheel_cancel(&p->timer);
	TURN_CTR_SUB(p->al->w->srv, permissions_now, 1);
	free(p);
}

static void perm_expired(struct turn_timer *t)
{
	perm_destroy((struct turn_perm *)((char *)t - offsetof(struct turn_perm, timer)));
}

struct turn_perm *turn_perm_find(struct turn_alloc *al, const struct sockaddr_storage *peer)
{
	struct turn_key k;
	struct turn_perm *p;

	turn_key_set(&k, peer, false);
	HASH_FIND(hh, al->perms, &k, sizeof(k), p);
	return p;
}

int turn_perm_set(struct turn_alloc *al, const struct sockaddr_storage *peer)
{
	struct turn_perm *p = turn_perm_find(al, peer);
	uint32_t lifetime = atomic_load_explicit(&al->w->srv->perm_lifetime, memory_order_relaxed);

	if (!lifetime)
		lifetime = TURN_PERM_LIFETIME;

	if (p) {
		turn_wheel_arm(al->w, &p->timer, lifetime, perm_expired);
		return 0;
	}

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	turn_key_set(&p->key, peer, false);
	p->al = al;
	turn_wheel_arm(al->w, &p->timer, lifetime, perm_expired);
	HASH_ADD(hh, al->perms, key, sizeof(p->key), p);
	TURN_CTR_ADD(al->w->srv, permissions_now, 1);
	return 0;
}

/* ---- channels ---- */

static void chan_destroy(struct turn_chan *c)
{
	HASH_DELETE(hh_num, c->al->chans_num, c);
	HASH_DELETE(hh_peer, c->al->chans_peer, c);
	turn_wheel_cancel(&c->timer);
	if (!c->cooling)
		TURN_CTR_SUB(c->al->w->srv, channels_now, 1);
	free(c);
}

/* A binding that was not refreshed in time stops relaying but keeps its number and peer for
 * TURN_CHAN_COOLDOWN seconds, so that late ChannelData for the old peer can never reach a new one
 * (RFC 8656 §12: neither may be rebound to something else for 5 minutes). Then it is freed. */
static void chan_expired(struct turn_timer *t)
{
	struct turn_chan *c = (struct turn_chan *)((char *)t - offsetof(struct turn_chan, timer));
	struct turn_server *srv = c->al->w->srv;
	uint32_t cooldown = atomic_load_explicit(&srv->chan_cooldown, memory_order_relaxed);

	if (c->cooling) {
		chan_destroy(c);
		return;
	}
	c->cooling = true;
	TURN_CTR_SUB(srv, channels_now, 1);
	turn_wheel_arm(c->al->w, &c->timer, cooldown ? cooldown : TURN_CHAN_COOLDOWN, chan_expired);
}

struct turn_chan *turn_chan_find_num(struct turn_alloc *al, uint16_t num)
{
	struct turn_chan *c;

	HASH_FIND(hh_num, al->chans_num, &num, sizeof(num), c);
	return c;
}

struct turn_chan *turn_chan_find_peer(struct turn_alloc *al, const struct sockaddr_storage *peer)
{
	struct turn_key k;
	struct turn_chan *c;

	turn_key_set(&k, peer, true);
	HASH_FIND(hh_peer, al->chans_peer, &k, sizeof(k), c);
	return c;
}

int turn_chan_set(struct turn_alloc *al, uint16_t num, const struct sockaddr_storage *peer)
{
	struct turn_chan *c = turn_chan_find_num(al, num);
	uint32_t lifetime = atomic_load_explicit(&al->w->srv->chan_lifetime, memory_order_relaxed);

	if (!lifetime)
		lifetime = TURN_CHAN_LIFETIME;

	if (c) {
		if (c->cooling) {
			c->cooling = false;
			TURN_CTR_ADD(al->w->srv, channels_now, 1);
		}
		turn_wheel_arm(al->w, &c->timer, lifetime, chan_expired);
		return 0;
	}

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->num = num;
	c->peer = *peer;
	turn_key_set(&c->key, peer, true);
	c->al = al;
	turn_wheel_arm(al->w, &c->timer, lifetime, chan_expired);
	HASH_ADD(hh_num, al->chans_num, num, sizeof(c->num), c);
	HASH_ADD(hh_peer, al->chans_peer, key, sizeof(c->key), c);
	TURN_CTR_ADD(al->w->srv, channels_now, 1);
	return 0;
}

/* ---- allocations ---- */

static void alloc_expired(struct turn_timer *t)
{
	struct turn_alloc *al = (struct turn_alloc *)((char *)t - offsetof(struct turn_alloc, timer));
	char ca[ADDR_STRLEN];

	log_debug("turn: allocation of %s expired", addr_str(&al->client, ca));
	turn_alloc_destroy(al);
}

static void tuple_set(struct turn_5tuple *t, const struct turn_client *cl)
{
	memset(t, 0, sizeof(*t));
	turn_key_set(&t->client, cl->addr, true);
	t->via = cl->conn ? TURN_VIA_STREAM | cl->conn->serial : cl->lis->idx;
}

struct turn_alloc *turn_alloc_find(const struct turn_client *cl)
{
	struct turn_5tuple t;
	struct turn_alloc *al;

	if (cl->conn)
		return cl->conn->al;
	tuple_set(&t, cl);
	HASH_FIND(hh, cl->w->allocs, &t, sizeof(t), al);
	return al;
}

/* "udp", "tcp" or "tls" and the server side of @al's 5-tuple, for log lines. */
static const char *alloc_via(const struct turn_alloc *al, char buf[ADDR_STRLEN + 8])
{
	char a[ADDR_STRLEN];

	if (al->conn)
		snprintf(buf, ADDR_STRLEN + 8, "%s %s", addr_str(&al->conn->local, a),
			 al->conn->ssl ? "tls" : "tcp");
	else
		snprintf(buf, ADDR_STRLEN + 8, "%s udp", addr_str(&al->lis->local, a));
	return buf;
}

void turn_alloc_refresh(struct turn_alloc *al, uint32_t seconds)
{
	uint32_t cap = atomic_load_explicit(&al->w->srv->alloc_lifetime_cap, memory_order_relaxed);

	if (cap && seconds > cap)
		seconds = cap;
	al->expires = mono_now() + seconds;
	turn_wheel_arm(al->w, &al->timer, seconds, alloc_expired);
}

void turn_server_set_lifetimes(struct turn_server *srv, unsigned perm, unsigned chan,
			       unsigned cooldown, unsigned alloc_cap)
{
	atomic_store(&srv->perm_lifetime, perm);
	atomic_store(&srv->chan_lifetime, chan);
	atomic_store(&srv->chan_cooldown, cooldown);
	atomic_store(&srv->alloc_lifetime_cap, alloc_cap);
}

uint32_t turn_alloc_remaining(const struct turn_alloc *al)
{
	time_t now = mono_now();

	return al->expires > now ? (uint32_t)(al->expires - now) : 0;
}

/* DONT-FRAGMENT (RFC 8656 §14.8) on relay socket @fd of @family: DF on datagrams to peers and
 * never fragment locally; a too-big datagram then fails instead of being fragmented. IPv6 routers
 * never fragment: there it is "do not fragment at the source". Returns 0 or a negative errno. */
static int relay_set_df(int fd, int family)
{
	int one = 1, v4 = IP_PMTUDISC_DO, v6 = IPV6_PMTUDISC_DO;

	if (family == AF_INET && setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v4, sizeof(v4)) < 0)
		return -errno;
	if (family == AF_INET6 &&
	    (setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v6, sizeof(v6)) < 0 ||
	     setsockopt(fd, IPPROTO_IPV6, IPV6_DONTFRAG, &one, sizeof(one)) < 0))
		return -errno;
	return 0;
}

/* Opens a relay socket: non-blocking UDP of @family; IPv6 ones IPV6_V6ONLY, so that an
 * IPv4-mapped peer address can never sneak IPv4 traffic out of them; ICMP errors queued
 * (IP_RECVERR / IPV6_RECVERR) for the ICMP attribute (RFC 8656 §11.5, server.c); DF if asked. */
static int relay_socket(int family, bool dont_fragment)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, err;

	if (fd < 0)
		return -errno;
	if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (setsockopt(fd, family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP,
		       family == AF_INET6 ? IPV6_RECVERR : IP_RECVERR, &one, sizeof(one)) < 0)
		goto fail;
	if (dont_fragment && (err = relay_set_df(fd, family)) < 0) {
		close(fd);
		return err;
	}
	return fd;

fail:
	err = -errno;
	close(fd);
	return err;
}

/* ---- spare relays ----
 *
 * Opening a relay socket (socket(), IP_RECVERR, bind() to a free port) takes about 4.5 us on the
 * bench machine, more with cold caches: about a third of what an Allocate costs the worker. Each
 * worker therefore keeps a few per relay address open ahead of time, bound to random free ports
 * of its pool, and an Allocate takes one. The worker opens new ones at its lowest priority, one
 * per round of its loop with nothing else to do (server.c, on_spares): under a burst of Allocates
 * the spares run out and Allocates open their own, as before. A spare is not watched by the
 * event loop; what a peer sent to its port before it was taken is read and dropped when it is
 * taken, so an allocation never sees a datagram from before it existed. Spares hold ports of the
 * pool: a request that needs particular ports (EVEN-PORT, a reservation) and finds none free
 * closes the spares and tries again.
 */

void turn_spares_init(struct turn_ports *p, const struct sockaddr_storage *ip)
{
	unsigned n = (unsigned)p->hi - p->lo + 1;

	p->spare_ip = *ip;
	addr_set_port(&p->spare_ip, 0);
	p->want_spare = n / 32 < TURN_SPARES_MAX ? n / 32 : TURN_SPARES_MAX;
}

int turn_spare_open(struct turn_ports *p)
{
	int fd, port;

	if (!p->spare_ip.ss_family || p->n_spare >= p->want_spare)
		return 0;
	fd = relay_socket(p->spare_ip.ss_family, false);
	if (fd < 0)
		return fd;
	port = ports_bind(p, fd, &p->spare_ip, false, port_rand(p));
	if (port < 0) {
		close(fd);
		return port == -EADDRNOTAVAIL ? 0 : port;
	}
	p->spare_fd[p->n_spare] = fd;
	p->spare_port[p->n_spare] = (uint16_t)port;
	p->n_spare++;
	return p->n_spare < p->want_spare;
}

void turn_spares_release(struct turn_ports *p)
{
	while (p->n_spare) {
		p->n_spare--;
		close(p->spare_fd[p->n_spare]);
		port_mark(p, p->spare_port[p->n_spare], false);
	}
}

/* Takes the spare socket last opened for @p, bound on @ip, with DF if @df. Reads and drops what
 * was sent to it while it was spare. Returns its port with the descriptor in @fd; -ENOENT if @p
 * has none on @ip (the caller opens one); another negative errno (the spare is closed). */
static int spare_take(struct turn_ports *p, const struct sockaddr_storage *ip, bool df, int *fd)
{
	uint8_t sink[1];
	int port, err;

	if (!p->n_spare || !addr_ip_equal(&p->spare_ip, ip))
		return -ENOENT;
	p->n_spare--;
	*fd = p->spare_fd[p->n_spare];
	port = p->spare_port[p->n_spare];
	/* Bounded: a peer flooding the port must not hold the worker here. A datagram left over
	 * still meets the permission check like any other. */
	for (int i = 0; i < 256 && recv(*fd, sink, sizeof(sink), MSG_DONTWAIT | MSG_TRUNC) >= 0; i++)
		;
	if (df && (err = relay_set_df(*fd, ip->ss_family)) < 0) {
		close(*fd);
		port_mark(p, (uint16_t)port, false);
		return err;
	}
	return port;
}

/* The slot of relay port @port of family index @fam in @w's hairpin lookup, or NULL if the port
 * is outside the relay range. */
static struct turn_relay **relay_slot(struct turn_worker *w, int fam, uint16_t port)
{
	const struct config *cfg = w->srv->cfg;

	if (!w->by_port[fam] || port < cfg->turn.relay_port_min || port > cfg->turn.relay_port_max)
		return NULL;
	return &w->by_port[fam][port - cfg->turn.relay_port_min];
}

struct turn_relay *turn_relay_lookup(struct turn_worker *w, int fam, uint16_t port)
{
	struct turn_relay **slot = relay_slot(w, fam, port);

	return slot ? *slot : NULL;
}

/* Releases a relay: its event, socket and port. Safe on a relay that was never opened. */
static void relay_close(struct turn_relay *r)
{
	if (r->fd >= 0 && r->al) {
		/* What is queued from the socket goes first (and the totals it adds to live). */
		turn_io_flush(r->al->w);
		struct turn_relay **slot = relay_slot(r->al->w, turn_fam(r->addr.ss_family), r->port);

		if (slot && *slot == r) {
			*slot = NULL;
			turn_handoff_own(r->al->w, turn_fam(r->addr.ss_family), r->port, false);
		}
	}
	if (r->ev)
		event_free(r->ev);
	r->ev = NULL;
	if (r->port && r->pool)
		port_mark(r->pool, r->port, false);
	r->port = 0;
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

/* Makes @fd, bound to @addr from @pool, the relay of family index @fam of @al: its read event
 * on @al's worker. Returns 0, or -ENOMEM (then the relay is closed). */
static int relay_attach(struct turn_alloc *al, int fam, int fd,
			const struct sockaddr_storage *addr, struct turn_ports *pool)
{
	struct turn_relay *r = &al->relay[fam], **slot;

	r->al = al;
	r->fd = fd;
	r->addr = *addr;
	r->port = addr_port(addr);
	r->pool = pool;
	r->ev = event_new(al->w->base, r->fd, EV_READ | EV_PERSIST, turn_relay_from_peer, r);
	if (!r->ev || event_add(r->ev, NULL) < 0) {
		relay_close(r);
		return -ENOMEM;
	}
	slot = relay_slot(al->w, fam, r->port);
	if (slot) {
		*slot = r;
		turn_handoff_own(al->w, fam, r->port, true);
	}
	return 0;
}

/*
 * Binds a relay port for worker @w, family index @fam, on @ip: a port P and P + 1 (two sockets,
 * @fd and @fd_next) if @pair, else @fd (open) on a port, even if @even. First from @w's own slice
 * of the relay range (closing its spares if they hold the last free ports), then from the other
 * workers' slices in turn. The kernel spreads clients over the workers by a hash of their 5-tuple,
 * not evenly, so one slice can run out while others have room; without this a small range (a
 * firewall that opens 100 ports, say) would refuse Allocates well before it is full. Another
 * worker's pool is only searched: its held bits are atomics and bind() decides, while its spares
 * and random state stay its own. Returns the port with its pool in @used; -EADDRNOTAVAIL if no
 * pool has one; another negative errno.
 */
static int relay_bind(struct turn_worker *w, int fam, const struct sockaddr_storage *ip, bool pair,
		      bool even, bool df, int *fd, int *fd_next, struct turn_ports **used)
{
	const struct turn_server *srv = w->srv;
	int port = -EADDRNOTAVAIL;

	for (unsigned i = 0; i < srv->n_workers && port == -EADDRNOTAVAIL; i++) {
		struct turn_ports *p = &srv->workers[(w->idx + i) % srv->n_workers]->ports[fam];
		uint32_t rnd = port_rand(&w->ports[fam]);

		*used = p;
		port = pair ? ports_bind_pair(p, ip, df, fd, fd_next, rnd) :
			      ports_bind(p, *fd, ip, even, rnd);
		if (port == -EADDRNOTAVAIL && i == 0 && p->n_spare) {
			turn_spares_release(p);
			port = pair ? ports_bind_pair(p, ip, df, fd, fd_next, rnd) :
				      ports_bind(p, *fd, ip, even, rnd);
		}
	}
	return port;
}

/*
 * Opens the relayed address of family index @fam for @al on @ip (port 0): a socket bound to a free
 * relay port for that family (even if @even; relay_bind says from which pool) and its read event.
 * With @token, the port must be even with the next one free too, which is bound and reserved (for
 * @al's user) under a token written to @token.
 * Returns 0; -EADDRNOTAVAIL if no relay port is free; another negative errno.
 */
static int relay_open(struct turn_alloc *al, int fam, const struct sockaddr_storage *ip,
		      bool even, bool dont_fragment, uint8_t *token)
{
	struct turn_worker *w = al->w;
	struct turn_ports *pool = &w->ports[fam];
	struct sockaddr_storage addr = *ip, next = *ip;
	int fd, fd_next = -1, port, err;

	if (token) {
		port = relay_bind(w, fam, ip, true, true, dont_fragment, &fd, &fd_next, &pool);
		if (port < 0)
			return port;
		addr_set_port(&next, (uint16_t)(port + 1));
		err = quota_take(w->srv, al->user);
		if (!err)
			err = resv_add(w->srv, fd_next, &next, pool, al->user, token);
		if (err) {
			if (err != -EDQUOT && err != -ENOSPC)
				quota_give(w->srv, al->user);
			close(fd_next);
			port_mark(pool, (uint16_t)(port + 1), false);
			close(fd);
			port_mark(pool, (uint16_t)port, false);
			return err;
		}
	} else if (!even && (port = spare_take(pool, ip, dont_fragment, &fd)) != -ENOENT) {
		if (port < 0)
			return port;
		if (w->spare_ev)
			event_active(w->spare_ev, EV_TIMEOUT, 0);
	} else {
		fd = relay_socket(ip->ss_family, dont_fragment);
		if (fd < 0)
			return fd;
		port = relay_bind(w, fam, ip, false, even, dont_fragment, &fd, NULL, &pool);
		if (port < 0) {
			close(fd);
			return port;
		}
	}
	addr_set_port(&addr, (uint16_t)port);
	return relay_attach(al, fam, fd, &addr, pool);
}

/* "[relayed IPv4] [relayed IPv6]" for log lines. */
static const char *relays_str(const struct turn_alloc *al, char buf[2 * ADDR_STRLEN + 2])
{
	char a[ADDR_STRLEN];

	buf[0] = '\0';
	for (int f = 0; f < TURN_FAMILIES; f++)
		if (al->relay[f].fd >= 0)
			snprintf(buf + strlen(buf), 2 * ADDR_STRLEN + 2 - strlen(buf), "%s%s",
				 buf[0] ? " " : "", addr_str(&al->relay[f].addr, a));
	return buf;
}

int turn_alloc_create(struct turn_alloc **out, struct turn_worker *w,
		      const struct turn_alloc_req *rq, int *addr_err,
		      uint8_t token[TURN_TOKEN_LEN])
{
	const struct config *cfg;
	struct turn_alloc *al = NULL;
	struct turn_resv *rv = NULL;
	struct sockaddr_storage raddr = { 0 };
	struct turn_ports *rpool = NULL;
	char ca[ADDR_STRLEN], sa[ADDR_STRLEN + 8], ra[2 * ADDR_STRLEN + 2];
	int err = 0, fam, rfd = -1;

	if (!out || !w || !rq || !rq->client || !rq->user || !rq->lifetime ||
	    (rq->family != AF_INET && rq->family != AF_INET6) || (rq->reserve && !token))
		return -EINVAL;
	cfg = w->srv->cfg;
	if (addr_err)
		*addr_err = 0;

	/* The reservation, then the slots: max_allocations and the user's quota. A redeemed
	 * reservation becomes this allocation's relay and gives its own slot back. */
	if (rq->token) {
		rv = resv_take(w->srv, rq->token);
		if (!rv)
			return -ENOENT;
	}
	err = quota_take(w->srv, rq->user);
	if (err) {
		if (rv)
			resv_free(w->srv, rv);
		return err;
	}
	if (rv) {
		rfd = rv->fd;
		raddr = rv->addr;
		rpool = rv->pool;
		quota_give(w->srv, rv->user);
		TURN_CTR_SUB(w->srv, reservations_now, 1);
		free(rv);
	}

	al = calloc(1, sizeof(*al));
	if (!al) {
		err = -ENOMEM;
		goto out;
	}
	al->w = w;
	al->lis = rq->client->lis;
	al->conn = rq->client->conn;
	al->client = *rq->client->addr;
	tuple_set(&al->key, rq->client);
	snprintf(al->user, sizeof(al->user), "%s", rq->user);
	for (int f = 0; f < TURN_FAMILIES; f++)
		al->relay[f].fd = -1;

	/* The relayed address asked for (or reserved), then the additional IPv6 one of a
	 * dual-stack request: its failure only costs that address (reported in
	 * ADDRESS-ERROR-CODE, RFC 8656 §7.2). */
	fam = turn_fam(rfd >= 0 ? raddr.ss_family : rq->family);
	if (rfd >= 0) {
		err = relay_attach(al, fam, rfd, &raddr, rpool);
		rfd = -1; /* the relay owns it now, even on error */
	} else {
		err = relay_open(al, fam, fam == TURN_V4 ? &cfg->turn.relay_v4 : &cfg->turn.relay_v6,
				 rq->even_port || rq->reserve, rq->dont_fragment,
				 rq->reserve ? token : NULL);
	}
	if (err)
		goto out;
	if (rq->additional_v6) {
		int e = cfg->turn.relay_v6.ss_family != AF_INET6 ? -EAFNOSUPPORT :
			relay_open(al, TURN_V6, &cfg->turn.relay_v6, false, rq->dont_fragment, NULL);

		if (e && addr_err)
			*addr_err = e == -EAFNOSUPPORT ? 440 : 508;
	}

	turn_alloc_refresh(al, rq->lifetime);

out:
	if (err) {
		if (rfd >= 0) { /* a reserved socket nobody took over */
			close(rfd);
			port_mark(rpool, addr_port(&raddr), false);
		}
		for (int f = 0; al && f < TURN_FAMILIES; f++)
			relay_close(&al->relay[f]);
		free(al);
		quota_give(w->srv, rq->user);
		return err;
	}
	HASH_ADD(hh, w->allocs, key, sizeof(al->key), al);
	if (al->conn)
		turn_conn_attach(al->conn, al);
	TURN_CTR_ADD(w->srv, allocations_now, 1);
	TURN_CTR_ADD(w->srv, allocations_total, 1);
	/* The arguments cost four snprintf: not made when info lines are off (the setup path). */
	if (log_enabled(LOGL_INFO))
		log_info("turn: allocation created: %s -> %s, user %s, relayed %s, lifetime %u s",
			 addr_str(&al->client, ca), alloc_via(al, sa), al->user,
			 relays_str(al, ra), rq->lifetime);
	*out = al;
	return 0;
}

void turn_alloc_drop_family(struct turn_alloc *al, int fam)
{
	struct turn_perm *p, *ptmp;
	struct turn_chan *c, *ctmp;
	int family = fam == TURN_V6 ? AF_INET6 : AF_INET;

	HASH_ITER(hh, al->perms, p, ptmp)
		if (p->key.family == family)
			perm_destroy(p);
	HASH_ITER(hh_num, al->chans_num, c, ctmp)
		if (c->key.family == family)
			chan_destroy(c);
	relay_close(&al->relay[fam]);
}

void turn_alloc_destroy(struct turn_alloc *al)
{
	struct turn_perm *p, *ptmp;
	struct turn_chan *c, *ctmp;
	struct turn_worker *w;
	char ca[ADDR_STRLEN], sa[ADDR_STRLEN + 8], ra[2 * ADDR_STRLEN + 2];

	if (!al)
		return;
	w = al->w;
	turn_io_flush(w); /* datagrams queued for the client count in its totals */
	if (al->conn)
		turn_conn_detach(al->conn);
	HASH_ITER(hh, al->perms, p, ptmp)
		perm_destroy(p);
	HASH_ITER(hh_num, al->chans_num, c, ctmp)
		chan_destroy(c);
	HASH_DEL(w->allocs, al);
	if (log_enabled(LOGL_INFO))
		relays_str(al, ra);
	for (int f = 0; f < TURN_FAMILIES; f++)
		relay_close(&al->relay[f]);
	turn_wheel_cancel(&al->timer);
	quota_give(w->srv, al->user);
	TURN_CTR_SUB(w->srv, allocations_now, 1);
	if (log_enabled(LOGL_INFO))
		log_info("turn: allocation deleted: %s -> %s, user %s, relayed %s; to peers %llu "
			 "pkts %llu bytes, to client %llu pkts %llu bytes",
			 addr_str(&al->client, ca), alloc_via(al, sa), al->user, ra,
			 (unsigned long long)al->pkts_out, (unsigned long long)al->bytes_out,
			 (unsigned long long)al->pkts_in, (unsigned long long)al->bytes_in);
	free(al);
}
