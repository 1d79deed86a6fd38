/*
 * handoff: the in-box hairpin between workers (turn.hairpin with turn.workers > 1).
 *
 * The hairpin of server.c joins two allocations of one worker: relay_to_peer hands the
 * datagram to turn_relay_deliver directly. With several workers the kernel spreads clients over
 * them by a hash of their address, so the two clients of a call share a worker only by chance
 * (one in N). For the others, relay A's worker passes the datagram to relay B's worker here,
 * instead of sending it through the kernel:
 *
 * - Ownership: srv->port_owner[family][port - relay_port_min] holds (index + 1) of the worker
 *   whose relay is bound to that port, 0 if none: written by the owner when the relay is
 *   attached and closed (turn_handoff_own), read by any worker (relaxed atomics: a stale read
 *   only sends a datagram to a worker that no longer has the relay, which drops it, as the
 *   kernel drops a datagram to a closed port).
 * - Inbox: each worker has a ring of TURN_HANDOFF_SLOTS datagrams of up to TURN_HANDOFF_MAX
 *   bytes, under a mutex, and an event the sender makes active (libevent's cross-thread
 *   wakeup) when the ring was idle. The receiver drains it in rounds: under the lock it takes
 *   the filled range, out of the lock it delivers each datagram with turn_relay_deliver (the
 *   receiving relay's permission, bandwidth cap, channel, counters: as if its socket had
 *   received it), then frees the range. Senders write only outside that range.
 * - What does not fit (a full ring, a datagram over TURN_HANDOFF_MAX bytes) takes the kernel
 *   path, as before: never lost here. Datagrams of one sender keep their order unless the ring
 *   overflows, when some go through the kernel; UDP makes no promise of order either.
 * - The sending side counts the datagram as sent to a peer (pkts_to_peer, hairpinned) before
 *   handing it over, as the same-worker hairpin does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/addr.h"
#include "turn/turn_priv.h"

/* The relay address of family @f (TURN_V4, TURN_V6) in @cfg. */
static const struct sockaddr_storage *relay_ip(const struct config *cfg, int f)
{
	return f == TURN_V4 ? &cfg->turn.relay_v4 : &cfg->turn.relay_v6;
}

int turn_handoff_server_init(struct turn_server *srv)
{
	const struct config *cfg = srv->cfg;
	size_t span = (size_t)cfg->turn.relay_port_max - cfg->turn.relay_port_min + 1;

	if (srv->n_workers < 2)
		return 0;
	for (int f = 0; f < TURN_FAMILIES; f++) {
		srv->port_owner[f] = calloc(span, sizeof(*srv->port_owner[f]));
		if (!srv->port_owner[f])
			return -ENOMEM;
	}
	return 0;
}

void turn_handoff_server_free(struct turn_server *srv)
{
	for (int f = 0; f < TURN_FAMILIES; f++) {
		free(srv->port_owner[f]);
		srv->port_owner[f] = NULL;
	}
}

/* The owner slot of @port in family @f, or NULL (one worker, or a port outside the range). */
static _Atomic uint8_t *owner_slot(struct turn_server *srv, int f, uint16_t port)
{
	const struct config *cfg = srv->cfg;

	if (!srv->port_owner[f] || port < cfg->turn.relay_port_min ||
	    port > cfg->turn.relay_port_max)
		return NULL;
	return &srv->port_owner[f][port - cfg->turn.relay_port_min];
}

void turn_handoff_own(struct turn_worker *w, int f, uint16_t port, bool own)
{
	_Atomic uint8_t *slot = owner_slot(w->srv, f, port);
	uint8_t me = (uint8_t)(w->idx + 1);

	if (!slot)
		return;
	if (own)
		atomic_store_explicit(slot, me, memory_order_relaxed);
	else
		(void)atomic_compare_exchange_strong_explicit(slot, &me, 0, memory_order_relaxed,
							      memory_order_relaxed);
}

bool turn_handoff_send(struct turn_worker *w, const struct sockaddr_storage *peer,
		       uint16_t src_port, const uint8_t *data, size_t len)
{
	struct turn_server *srv = w->srv;
	const struct config *cfg = srv->cfg;
	struct turn_handoff *h;
	struct turn_handoff_msg *m;
	_Atomic uint8_t *slot;
	int f;
	unsigned owner;
	bool wake = false;

	if (!srv->port_owner[0] || !cfg->turn.hairpin || len > TURN_HANDOFF_MAX ||
	    (peer->ss_family != AF_INET && peer->ss_family != AF_INET6))
		return false;
	f = turn_fam(peer->ss_family);
	slot = owner_slot(srv, f, addr_port(peer));
	if (!slot)
		return false;
	owner = atomic_load_explicit(slot, memory_order_relaxed);
	if (!owner || owner - 1 == w->idx || owner > srv->n_workers)
		return false;
	/* The IP the kernel would deliver to: the relay address, or the external IP it is
	 * reported under (turn.external_address, a 1:1 NAT that hairpins). */
	if (!addr_ip_equal(peer, relay_ip(cfg, f)) &&
	    !(cfg->turn.external_ip.ss_family == peer->ss_family &&
	      addr_ip_equal(peer, &cfg->turn.external_ip)))
		return false;
	h = &srv->workers[owner - 1]->handoff;
	if (!h->ring)
		return false;
	pthread_mutex_lock(&h->lock);
	if (h->tail - h->head == TURN_HANDOFF_SLOTS) {
		pthread_mutex_unlock(&h->lock);
		TURN_CTR_ADD(srv, handoff_full, 1);
		return false; /* full: the kernel takes it */
	}
	m = &h->ring[h->tail % TURN_HANDOFF_SLOTS];
	/* Written under the lock: the receiver reads the slot only after taking the lock too. */
	m->src = *peer;
	addr_set_port(&m->src, src_port);
	m->fam = (uint8_t)f;
	m->port = addr_port(peer);
	m->len = (uint16_t)len;
	memcpy(m->data, data, len);
	h->tail++;
	if (!h->pending) {
		h->pending = true;
		wake = true;
	}
	pthread_mutex_unlock(&h->lock);
	if (wake)
		event_active(h->ev, EV_READ, 0);
	return true;
}

/* The inbox's event: delivers what other workers handed over, round after round, until the
 * ring is empty (then a sender makes the event active again). */
static void on_handoff(evutil_socket_t fd, short what, void *arg)
{
	struct turn_worker *w = arg;
	struct turn_handoff *h = &w->handoff;

	for (;;) {
		uint32_t from, to;

		pthread_mutex_lock(&h->lock);
		from = h->head;
		to = h->tail;
		if (from == to)
			h->pending = false;
		pthread_mutex_unlock(&h->lock);
		if (from == to)
			return;
		w->io.win_rx += to - from; /* received, for io_coalesce's rate */
		for (uint32_t i = from; i != to; i++) {
			const struct turn_handoff_msg *m = &h->ring[i % TURN_HANDOFF_SLOTS];
			struct turn_relay *b = turn_relay_lookup(w, m->fam, m->port);

			/* Gone since the sender looked (closed, or its port now another's): dropped,
			 * as the kernel drops a datagram to a closed port. */
			if (b)
				turn_relay_deliver(b, &m->src, m->data, m->len);
		}
		pthread_mutex_lock(&h->lock);
		h->head = to;
		pthread_mutex_unlock(&h->lock);
	}
}

int turn_handoff_init(struct turn_worker *w)
{
	struct turn_handoff *h = &w->handoff;

	pthread_mutex_init(&h->lock, NULL);
	h->inited = true;
	if (w->srv->n_workers < 2)
		return 0;
	/* calloc of this size maps fresh zero pages: only the slots used get memory. */
	h->ring = calloc(TURN_HANDOFF_SLOTS, sizeof(*h->ring));
	h->ev = event_new(w->base, -1, 0, on_handoff, w);
	if (!h->ring || !h->ev)
		return -ENOMEM;
	return 0;
}

void turn_handoff_free(struct turn_worker *w)
{
	struct turn_handoff *h = &w->handoff;

	if (!h->inited)
		return;
	if (h->ev)
		event_free(h->ev);
	free(h->ring);
	pthread_mutex_destroy(&h->lock);
	memset(h, 0, sizeof(*h));
}
