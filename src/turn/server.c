/*
 * server: the TURN relay's threads, sockets and hot paths (RFC 8656 over UDP).
 *
 * Design
 * - One libevent worker per cfg->turn.workers. Each worker owns one listening UDP socket per
 *   cfg->turn.listens[] address (SO_REUSEPORT when there are several workers, so the kernel
 *   spreads clients by a hash of their address and always sends one client to the same worker),
 *   a slice of the relay port range on each relay address (searched first; a full slice borrows
 *   from the others', alloc.c relay_bind), and every allocation made through its sockets.
 *   Nothing on the datagram paths is shared between workers except relaxed atomic counters, so
 *   the hot paths take no locks.
 * - The 5-tuple of an allocation is (client address, listening address, UDP): inside a worker,
 *   the client address and the listener's index are the key.
 * - Demultiplexing on the first byte (RFC 8656 §12, RFC 7983): 0x00-0x3F STUN (request.c),
 *   0x40-0x7F ChannelData (relay_channeldata below; channel range: see stun.h), anything else is dropped and counted.
 * - The two relay directions, client -> peer (turn_relay_channeldata, turn_relay_send_indication,
 *   ending in relay_to_peer) and peer -> client (turn_relay_deliver, fed by turn_relay_from_peer),
 *   each read top to bottom in one function: receive, look up (O(1) hash finds), check the
 *   permission, send. They allocate nothing: payloads stay in the worker's receive buffer,
 *   headers are written in front of them or into the worker's send buffer.
 * - In-box hairpin (turn.hairpin): when both browsers of a call use this relay, client A's data
 *   goes to relay B's relayed address. If relay B belongs to the same worker (w->by_port, an
 *   array by port), relay_to_peer hands the datagram straight to turn_relay_deliver for relay B,
 *   with relay A's relayed address as the source: the same function, checks (B's permission,
 *   bandwidth cap), counters and bytes as when B's socket receives it, minus a sendto and a
 *   recvfrom. The peer checks of A's side ran before, as they do for the kernel path. Relays of
 *   other workers get the datagram through their worker's queue (handoff.c).
 * - TCP and TLS clients (stream.c) are connections owned by the worker that accepted or adopted
 *   them, as a UDP 5-tuple is. Their frames reach the same handlers; everything sent to a client
 *   goes through turn_client_send / turn_alloc_send, which pick the listening socket or the
 *   connection: one branch on the hot path, nothing else changes for UDP.
 * - Stopping: turn_server_stop activates each worker's stop event from the caller's thread (libevent
 *   is set up for pthreads), the worker breaks out of its loop, the caller joins it and then, with
 *   no thread left, frees every allocation.
 *
 * Must never: block a worker (every socket is non-blocking), answer a datagram it could not parse
 * (a reflector for spoofed sources), or relay to a peer without a permission, or to a peer
 * turn_peer_check refuses.
 */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/cred.h"
#include "core/log.h"
#include "turn/turn_priv.h"

/* Datagrams read per readiness callback: enough to amortise the callback, small enough that one
 * busy socket cannot starve the others on the same loop. */
#define READ_BUDGET 64

/* Socket buffers asked for (the kernel caps them at net.core.[rw]mem_max): bursts from many
 * clients must not be dropped before the loop gets to them. */
#define SOCK_BUF_BYTES (4 * 1024 * 1024)

/* Listen backlog of a TCP listening socket (the kernel caps it at net.core.somaxconn). */
#define LISTEN_BACKLOG 1024

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_err;

static void evthread_init(void)
{
	evthread_err = evthread_use_pthreads();
}

/* ---- batched I/O (struct turn_io) ---- */

/* The slot holding @p, or -1 if @p is not in a slot. */
static long io_slot_of(const struct turn_io *io, const uint8_t *p)
{
	uintptr_t base, a = (uintptr_t)p;

	if (!io->slot)
		return -1;
	base = (uintptr_t)io->slot;
	if (a < base || a >= base + (uintptr_t)TURN_IO_SLOTS * TURN_BUF_SIZE)
		return -1;
	return (long)((a - base) / TURN_BUF_SIZE);
}

/* A free slot (TURN_BUF_SIZE bytes), or NULL: the queue is flushed for one if no batch holds
 * slots; inside a batch there is always one (see TURN_IO_SLOTS), else the datagram is lost. */
static uint8_t *io_slot(struct turn_worker *w)
{
	struct turn_io *io = &w->io;

	if (io->used == TURN_IO_SLOTS) {
		if (io->in_batch)
			return NULL;
		turn_io_flush(w);
	}
	return io->slot[io->used++];
}

/* Queues @len bytes at @buf (in a slot) to @to from socket @fd. The first datagram queued in a
 * round of the event loop makes flush_ev active: it runs after the callbacks already due. */
static void io_queue(struct turn_worker *w, int fd, const struct sockaddr_storage *to,
		     const uint8_t *buf, size_t len, enum turn_out_kind kind, size_t payload,
		     struct turn_relay *relay, struct turn_alloc *al)
{
	struct turn_io *io = &w->io;
	unsigned i;

	if (io->n_out == TURN_IO_SLOTS) /* cannot happen: each one holds a slot; but never lose */
		turn_io_flush(w);
	i = io->n_out++;
	io->out[i] = (struct turn_out){ .fd = fd, .kind = (uint8_t)kind, .payload = (uint32_t)payload,
					.relay = relay, .al = al };
	io->iov[i].iov_base = (void *)buf;
	io->iov[i].iov_len = len;
	memcpy(&io->to[i], to, addr_len(to));
	if (i == 0 && io->flush_ev)
		event_active(io->flush_ev, EV_WRITE, 0);
}

/* Counts a datagram that went. */
static void io_sent(struct turn_server *srv, const struct turn_out *o)
{
	if (o->kind == TURN_OUT_TO_PEER) {
		o->al->pkts_out++;
		o->al->bytes_out += o->payload;
		TURN_CTR_ADD(srv, pkts_to_peer, 1);
		TURN_CTR_ADD(srv, bytes_to_peer, o->payload);
	} else if (o->kind == TURN_OUT_TO_CLIENT) {
		o->al->pkts_in++;
		o->al->bytes_in += o->payload;
		TURN_CTR_ADD(srv, pkts_to_client, 1);
		TURN_CTR_ADD(srv, bytes_to_client, o->payload);
	}
}

static void relay_icmp(struct turn_relay *r);

/* Sends the @n queued datagrams @idx (in order) from socket @fd with sendmmsg. A full socket
 * buffer loses what is left, as the network would. Any other error on a relay socket is an ICMP
 * error it queued (IP_RECVERR: the kernel then fails the next send, sending nothing): handed on
 * and the datagram retried once, so that one unreachable peer does not cost a datagram to
 * another; a datagram that fails again, or is too big (EMSGSIZE), is lost alone. */
static void io_send_group(struct turn_worker *w, int fd, const unsigned *idx, unsigned n)
{
	struct turn_io *io = &w->io;
	unsigned k = 0;
	bool retried = false;

	while (k < n) {
		struct turn_relay *relay = io->out[idx[k]].relay;
		int rc = sendmmsg(fd, io->smsg + k, n - k, 0);

		if (rc > 0) {
			for (int i = 0; i < rc; i++)
				io_sent(w->srv, &io->out[idx[k + (unsigned)i]]);
			k += (unsigned)rc;
			retried = false;
			continue;
		}
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (rc < 0 && errno != EMSGSIZE && relay && !retried) {
			relay_icmp(relay);
			retried = true;
			continue;
		}
		k++;
		retried = false;
	}
}

void turn_io_flush(struct turn_worker *w)
{
	struct turn_io *io = &w->io;
	unsigned idx[TURN_IO_SLOTS];

	/* One group per socket, in the order of each socket's first datagram; within a group the
	 * queue's order. */
	for (unsigned i = 0; i < io->n_out; i++) {
		int fd = io->out[i].fd;
		unsigned g = 0;

		if (fd < 0)
			continue;
		for (unsigned j = i; j < io->n_out; j++) {
			if (io->out[j].fd != fd)
				continue;
			io->smsg[g].msg_hdr = (struct msghdr){
				.msg_name = &io->to[j], .msg_namelen = addr_len(&io->to[j]),
				.msg_iov = &io->iov[j], .msg_iovlen = 1 };
			idx[g++] = j;
			io->out[j].fd = -1;
		}
		io_send_group(w, fd, idx, g);
	}
	io->n_out = 0;
	if (!io->in_batch)
		io->used = 0;
}

/* The window over which io_coalesce measures the arrival rate, ns. */
#define IO_RATE_WINDOW_NS 1000000u

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Interrupt coalescing (turn.coalesce_us = C), at the end of a round that sent something.
 *
 * Why: under moderate load each datagram wakes the worker on its own (epoll_wait sleeps, the
 * scheduler switches it back in, recvmmsg and sendmmsg move one datagram); on this project's
 * 2-vCPU VM that fixed cost per wakeup was about two thirds of the CPU per relayed packet at
 * 65,000 packets/s. A worker that sleeps C before its next round finds several datagrams
 * waiting and pays the wakeup once for all of them, as a network card that coalesces its
 * interrupts does. It waits only when, at the arrival rate of the last millisecond, at least 1.5
 * datagrams are due within C (below that a wait would often catch one datagram or none, and
 * cost a wakeup of its own: a quiet call is never delayed), and then only as long as two
 * datagrams take to come (so the added latency shrinks as the load grows: 31 us at 65,000
 * datagrams/s, 20 us at 100,000); never after a recvmmsg that filled its batch (the socket may
 * hold more: under saturation there is no waiting at all). The cost is latency: at most C per
 * datagram, only under load.
 */
static void io_coalesce(struct turn_worker *w)
{
	struct turn_io *io = &w->io;
	unsigned us = w->srv->cfg->turn.coalesce_us;
	uint64_t now = mono_ns(), span = now - io->win_start_ns;
	bool wait;

	/* The rate over a window of time, not per round: a burst handled in several quick rounds
	 * must not read as a high rate. A window that spans an idle period reads as a low one. */
	if (span >= IO_RATE_WINDOW_NS) {
		io->rate_pps = (uint64_t)io->win_rx * 1000000000u / span;
		io->win_start_ns = now;
		io->win_rx = 0;
	}
	/* 1.5 datagrams or more due within C (us microseconds): rate_pps * us / 1e6 >= 1.5. */
	wait = us && !io->batch_full && io->rate_pps * us >= 1500000u;
	io->batch_full = false;
	if (wait) {
		/* As long as two datagrams take to come at that rate, at most C. */
		uint64_t ns = (uint64_t)us * 1000u, two = 2000000000u / io->rate_pps;
		struct timespec d = { .tv_sec = 0, .tv_nsec = (long)(two < ns ? two : ns) };

		while (nanosleep(&d, &d) < 0 && errno == EINTR)
			;
		TURN_CTR_ADD(w->srv, coalesce_waits, 1);
	}
}

/* flush_ev: the end of a round of the event loop. */
static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	turn_io_flush(arg);
	io_coalesce(arg);
}

/* Receives up to TURN_IO_BATCH datagrams from @fd, each @off bytes into a slot (room for a
 * ChannelData header in front and its padding behind), after flushing if fewer than two slots
 * per datagram are free. Starts a batch: its datagrams are in the slots from *@first on, with
 * lengths in io->rmsg[i].msg_len and sources in io->from[i]; io_batch_end() ends it. Returns
 * how many (0: none waiting), or a negative errno (no batch then). */
static int io_recv(struct turn_worker *w, int fd, size_t off, unsigned *first)
{
	struct turn_io *io = &w->io;
	int n;

	if (TURN_IO_SLOTS - io->used < 2 * TURN_IO_BATCH)
		turn_io_flush(w);
	for (unsigned i = 0; i < TURN_IO_BATCH; i++) {
		io->riov[i].iov_base = io->slot[io->used + i] + off;
		io->riov[i].iov_len = TURN_BUF_SIZE - off - 3;
		io->rmsg[i].msg_hdr = (struct msghdr){
			.msg_name = &io->from[i], .msg_namelen = sizeof(io->from[i]),
			.msg_iov = &io->riov[i], .msg_iovlen = 1 };
	}
	n = recvmmsg(fd, io->rmsg, TURN_IO_BATCH, 0, NULL);
	if (n < 0)
		return -errno;
	io->win_rx += (unsigned)n;
	if (n == TURN_IO_BATCH)
		io->batch_full = true;
	*first = io->used;
	io->used += (unsigned)n;
	io->in_batch = true;
	return n;
}

/* The batch is handled: its slots stay taken while queued datagrams point into them. */
static void io_batch_end(struct turn_worker *w)
{
	w->io.in_batch = false;
	if (w->io.n_out == 0)
		w->io.used = 0;
}

/* Sets up @w's slots and flush event. Returns 0, or -ENOMEM. */
static int io_init(struct turn_worker *w)
{
	/* calloc of this size maps fresh zero pages: only the pages datagrams touch get memory.
	 * The head of every slot (where a datagram of up to 2 KiB lies) is faulted in now: a fixed
	 * 0.5 MiB per worker, paid at start rather than by the first bursts (which would show as
	 * page faults in their latency, and as memory of the first allocations). */
	w->io.slot = calloc(TURN_IO_SLOTS, TURN_BUF_SIZE);
	w->io.flush_ev = event_new(w->base, -1, 0, on_flush, w);
	if (!w->io.slot || !w->io.flush_ev)
		return -ENOMEM;
	for (unsigned i = 0; i < TURN_IO_SLOTS; i++) {
		((volatile uint8_t *)w->io.slot[i])[0] = 0;
		((volatile uint8_t *)w->io.slot[i])[2047] = 0;
	}
	return 0;
}

static void io_free(struct turn_worker *w)
{
	if (w->io.flush_ev)
		event_free(w->io.flush_ev);
	w->io.flush_ev = NULL;
	free(w->io.slot);
	w->io.slot = NULL;
	w->io.n_out = 0;
}

/* ---- hot paths ---- */

void turn_client_send(const struct turn_client *cl, const uint8_t *buf, size_t len)
{
	struct turn_worker *w = cl->w;
	uint8_t *slot;

	/* A stream queues it. UDP: a full socket buffer or an unreachable client loses the
	 * datagram, as the network would; the client retransmits requests. Queued behind the
	 * relayed data already queued for the client, never ahead of it. */
	if (cl->conn) {
		(void)turn_conn_send(cl->conn, buf, len, false);
		return;
	}
	slot = len <= TURN_BUF_SIZE ? io_slot(w) : NULL;
	if (slot) {
		memcpy(slot, buf, len);
		io_queue(w, cl->lis->fd, cl->addr, slot, len, TURN_OUT_ANSWER, 0, NULL, NULL);
		return;
	}
	turn_io_flush(w);
	(void)sendto(cl->lis->fd, buf, len, 0, (const struct sockaddr *)cl->addr,
		     addr_len(cl->addr));
}

/* A fresh transaction id for an indication: it only has to differ between messages. */
static void indication_tid(struct turn_worker *w, uint8_t tid[STUN_TID_LEN])
{
	for (int j = 0; j < STUN_TID_LEN; j += 4) {
		uint32_t x = w->tid_rng = w->tid_rng * 1664525u + 1013904223u;
		memcpy(tid + j, &x, 4);
	}
}

/*
 * ICMP errors on relay @r (RFC 8656 §11.5): the kernel queues them (IP_RECVERR), with the
 * destination of the datagram that caused them. Each one about a peer the client has a permission
 * for becomes a Data indication with XOR-PEER-ADDRESS and ICMP (type, code, error data: the MTU
 * for "fragmentation needed" / "packet too big", else 0) and no DATA. Off the data path: only
 * when a recvfrom or sendto on the relay socket reports an error.
 */
static void relay_icmp(struct turn_relay *r)
{
	struct turn_alloc *al = r->al;
	struct turn_worker *w = al->w;

	/* The whole queue: a non-empty one keeps the socket readable (EPOLLERR) even once the
	 * error it raised has been reported, and the socket buffer bounds it. */
	for (;;) {
		struct sockaddr_storage peer;
		union { char buf[512]; struct cmsghdr align; } ctl;
		uint8_t dummy[1], tid[STUN_TID_LEN], icmp[8] = { 0 };
		struct iovec iov = { dummy, sizeof(dummy) };
		struct msghdr mh = { .msg_name = &peer, .msg_namelen = sizeof(peer), .msg_iov = &iov,
				     .msg_iovlen = 1, .msg_control = ctl.buf,
				     .msg_controllen = sizeof(ctl.buf) };
		const struct sock_extended_err *ee = NULL;
		struct stun_builder b;
		size_t outlen;

		memset(&peer, 0, sizeof(peer));
		if (recvmsg(r->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			return; /* queue drained */
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
			    (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR))
				ee = (const struct sock_extended_err *)CMSG_DATA(c);
		if (!ee || (ee->ee_origin != SO_EE_ORIGIN_ICMP &&
			    ee->ee_origin != SO_EE_ORIGIN_ICMP6) || !turn_perm_find(al, &peer))
			continue;
		icmp[2] = ee->ee_type;
		icmp[3] = ee->ee_code;
		if ((ee->ee_origin == SO_EE_ORIGIN_ICMP && ee->ee_type == 3 && ee->ee_code == 4) ||
		    (ee->ee_origin == SO_EE_ORIGIN_ICMP6 && ee->ee_type == 2)) {
			icmp[4] = (uint8_t)(ee->ee_info >> 24);
			icmp[5] = (uint8_t)(ee->ee_info >> 16);
			icmp[6] = (uint8_t)(ee->ee_info >> 8);
			icmp[7] = (uint8_t)ee->ee_info;
		}
		indication_tid(w, tid);
		stun_build_init(&b, w->sbuf, sizeof(w->sbuf), TURN_METHOD_DATA, STUN_CLASS_INDICATION,
				tid);
		stun_build_xor_addr(&b, TURN_ATTR_XOR_PEER_ADDRESS, &peer);
		stun_build_attr(&b, TURN_ATTR_ICMP, icmp, sizeof(icmp));
		if (stun_build_finish(&b, &outlen) == 0)
			(void)turn_alloc_send(al, w->sbuf, outlen, true);
	}
}

/*
 * sendto from relay @r. Its socket queues ICMP errors (IP_RECVERR), and the kernel then fails the
 * next send with the error (sending nothing): hand the queued errors on and retry once, so that
 * one unreachable peer does not cost a datagram to another. Returns sendto's result.
 */
static ssize_t relay_send(struct turn_relay *r, const void *data, size_t len,
			  const struct sockaddr_storage *peer)
{
	ssize_t n = sendto(r->fd, data, len, 0, (const struct sockaddr *)peer, addr_len(peer));

	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EMSGSIZE) {
		relay_icmp(r);
		n = sendto(r->fd, data, len, 0, (const struct sockaddr *)peer, addr_len(peer));
	}
	return n;
}

/*
 * The in-box hairpin (turn.hairpin): the relay of worker @w that a datagram to @peer would reach
 * through the kernel, or NULL. That is a relay of @w whose port is @peer's port and whose IP is
 * @peer's IP, or the external IP it is reported under (turn.external_address, a 1:1 NAT).
 * Allocations of other workers (turn.workers > 1, their clients hashed elsewhere) are not
 * found here: turn_handoff_send (handoff.c) passes datagrams to them. Datagrams larger than
 * HAIRPIN_MAX go through the kernel, so that the kernel alone decides on sizes it might refuse
 * (EMSGSIZE: IPv4's 65507 bytes, or DF and the loopback MTU).
 */
#define HAIRPIN_MAX 65000

static struct turn_relay *hairpin_target(struct turn_worker *w, const struct sockaddr_storage *peer,
					 size_t len)
{
	const struct config *cfg = w->srv->cfg;
	struct turn_relay *b;

	if (!cfg->turn.hairpin || len > HAIRPIN_MAX ||
	    (peer->ss_family != AF_INET && peer->ss_family != AF_INET6))
		return NULL;
	b = turn_relay_lookup(w, turn_fam(peer->ss_family), addr_port(peer));
	if (!b)
		return NULL;
	if (addr_ip_equal(peer, &b->addr) ||
	    (cfg->turn.external_ip.ss_family == peer->ss_family &&
	     addr_ip_equal(peer, &cfg->turn.external_ip)))
		return b;
	return NULL;
}

/*
 * Client -> peer, the end both directions share: sends @len bytes of @data from relay @r of
 * allocation @al to @peer and counts them as relayed to a peer. The caller has checked the
 * permission and the bandwidth cap. If @peer is another allocation's relayed address on this
 * worker (hairpin_target) the datagram is handed to that relay as its socket would have
 * received it: from @r's relayed address under the IP the client addressed the peer with (the
 * relay IP: exactly what the kernel delivers, both sockets being bound to it; the external IP:
 * what a 1:1 NAT that hairpins delivers, and what the other client has a permission for).
 */
static void relay_to_peer(struct turn_alloc *al, struct turn_relay *r, const uint8_t *data,
			  size_t len, const struct sockaddr_storage *peer)
{
	struct turn_worker *w = al->w;
	struct turn_server *srv = w->srv;
	struct turn_relay *b = hairpin_target(w, peer, len);

	/* A relay of another worker: handed to it, not through the kernel (handoff.c). */
	if (!b && turn_handoff_send(w, peer, r->port, data, len)) {
		al->pkts_out++;
		al->bytes_out += len;
		TURN_CTR_ADD(srv, pkts_to_peer, 1);
		TURN_CTR_ADD(srv, bytes_to_peer, len);
		TURN_CTR_ADD(srv, hairpinned, 1);
		TURN_CTR_ADD(srv, handoffs, 1);
		return;
	}
	if (!b) {
		/* Received in a slot (UDP): queued, counted once sent. From a stream (its input
		 * buffer moves on): sent at once; a relay serves one client, so one or the other. */
		if (io_slot_of(&w->io, data) >= 0) {
			io_queue(w, r->fd, peer, data, len, TURN_OUT_TO_PEER, len, r, al);
			return;
		}
		if (relay_send(r, data, len, peer) < 0)
			return;
	}
	al->pkts_out++;
	al->bytes_out += len;
	TURN_CTR_ADD(srv, pkts_to_peer, 1);
	TURN_CTR_ADD(srv, bytes_to_peer, len);
	if (b) {
		struct sockaddr_storage src = *peer;

		addr_set_port(&src, r->port);
		TURN_CTR_ADD(srv, hairpinned, 1);
		turn_relay_deliver(b, &src, data, len);
	}
}

void turn_relay_channeldata(struct turn_worker *w, struct turn_alloc *al, const uint8_t *buf,
			    size_t len)
{
	struct turn_server *srv = w->srv;
	const uint8_t *data;
	uint16_t num, dlen;
	struct turn_chan *c;

	/* Frame: header, channel range and length; padding may follow the data. */
	if (turn_channeldata_parse(buf, len, &num, &data, &dlen)) {
		TURN_CTR_ADD(srv, malformed, 1);
		return;
	}
	/* The allocation of this 5-tuple, and the channel: unknown or cooling -> silently dropped. */
	if (!al)
		return;
	c = turn_chan_find_num(al, num);
	if (!c || c->cooling)
		return;
	/* The permission may have lapsed while the channel lives on (RFC 8656 §9: 300 s vs 600 s). */
	if (!turn_perm_find(al, &c->peer))
		return;
	/* The bandwidth cap, if any. */
	if (!turn_bw_admit(&al->bw_out, srv->cfg->turn.bandwidth, dlen)) {
		TURN_CTR_ADD(srv, bandwidth_dropped, 1);
		return;
	}
	/* Send from the relayed address of the peer's family (bound: the channel was checked). */
	relay_to_peer(al, &al->relay[turn_fam(c->peer.ss_family)], data, dlen, &c->peer);
}

void turn_relay_send_indication(struct turn_alloc *al, const struct sockaddr_storage *peer,
				const uint8_t *data, size_t len)
{
	struct turn_server *srv = al->w->srv;
	struct turn_relay *r = &al->relay[turn_fam(peer->ss_family)];

	/* No relayed address of the peer's family, or no permission -> dropped (RFC 8656 §10.2). */
	if (r->fd < 0 || !turn_perm_find(al, peer))
		return;
	if (!turn_bw_admit(&al->bw_out, srv->cfg->turn.bandwidth, len)) {
		TURN_CTR_ADD(srv, bandwidth_dropped, 1);
		return;
	}
	relay_to_peer(al, r, data, len, peer);
}

void turn_relay_deliver(struct turn_relay *r, const struct sockaddr_storage *peer,
			const uint8_t *payload, size_t len)
{
	struct turn_alloc *al = r->al;
	struct turn_worker *w = al->w;
	struct turn_server *srv = w->srv;
	struct turn_chan *c;
	uint8_t *frame;
	size_t outlen;

	/* Only peers the client gave a permission to may reach it (RFC 8656 §9). */
	if (!turn_perm_find(al, peer))
		return;
	/* The bandwidth cap, if any. */
	if (!turn_bw_admit(&al->bw_in, srv->cfg->turn.bandwidth, len)) {
		TURN_CTR_ADD(srv, bandwidth_dropped, 1);
		return;
	}
	/* Frame for the client, in a slot. */
	c = turn_chan_find_peer(al, peer);
	if (c && !c->cooling) {
		/* In place behind the header if the payload was received into a slot for that
		 * (a relay socket's datagram, or ChannelData from a UDP client, hairpinned); else
		 * copied into a slot of its own (a Send indication's data, a stream's). */
		long i = io_slot_of(&w->io, payload);

		if (i >= 0 && payload == w->io.slot[i] + TURN_CHANNELDATA_HDR)
			frame = w->io.slot[i];
		else if ((frame = io_slot(w)) != NULL)
			memmove(frame + TURN_CHANNELDATA_HDR, payload, len);
		else
			return;
		turn_channeldata_header(frame, c->num, (uint16_t)len);
		outlen = len + TURN_CHANNELDATA_HDR;
		/* Over TCP and TLS, padded to a multiple of 4 (RFC 8656 §12.5). */
		while (al->conn && outlen % 4)
			frame[outlen++] = 0;
	} else {
		uint8_t tid[STUN_TID_LEN];
		struct stun_builder b;

		frame = io_slot(w);
		if (!frame)
			return;
		indication_tid(w, tid);
		stun_build_init(&b, frame, TURN_BUF_SIZE, TURN_METHOD_DATA, STUN_CLASS_INDICATION,
				tid);
		stun_build_xor_addr(&b, TURN_ATTR_XOR_PEER_ADDRESS, peer);
		stun_build_attr(&b, TURN_ATTR_DATA, payload, len);
		if (stun_build_finish(&b, &outlen))
			return; /* too big to frame as STUN */
	}
	/* Send on the client's 5-tuple: queued on the listening socket (counted once sent), or on
	 * its connection. */
	if (!al->conn) {
		io_queue(w, al->lis->fd, &al->client, frame, outlen, TURN_OUT_TO_CLIENT, len, NULL,
			 al);
		return;
	}
	if (turn_conn_send(al->conn, frame, outlen, true))
		return;
	al->pkts_in++;
	al->bytes_in += len;
	TURN_CTR_ADD(srv, pkts_to_client, 1);
	TURN_CTR_ADD(srv, bytes_to_client, len);
}

/* Peer -> client: reads the relay socket's datagrams in batches, each TURN_CHANNELDATA_HDR bytes
 * into a slot so that turn_relay_deliver writes the ChannelData header in front of it (and
 * padding behind it, on a stream) without a copy. */
void turn_relay_from_peer(int fd, short what, void *arg)
{
	struct turn_relay *r = arg;
	struct turn_worker *w = r->al->w;
	struct turn_io *io = &w->io;

	for (int got = 0; got < READ_BUDGET;) {
		unsigned first;
		int n = io_recv(w, fd, TURN_CHANNELDATA_HDR, &first);

		if (n < 0) {
			if (n == -EINTR)
				continue;
			if (n != -EAGAIN && n != -EWOULDBLOCK)
				relay_icmp(r); /* an ICMP error was queued: hand it on */
			return; /* drained */
		}
		for (int i = 0; i < n; i++)
			turn_relay_deliver(r, &io->from[i], io->slot[first + (unsigned)i] +
					   TURN_CHANNELDATA_HDR, io->rmsg[i].msg_len);
		io_batch_end(w);
		got += n;
		if (n < TURN_IO_BATCH)
			return; /* drained: recvmmsg took all there was */
	}
}

/* Demultiplexes one datagram of a listener (see turn_datagram_handle). */
static void datagram_handle(struct turn_listener *lis, const struct sockaddr_storage *from,
			    const uint8_t *buf, size_t len)
{
	struct turn_client cl = { .w = lis->w, .lis = lis, .addr = from };

	if (len > 0 && buf[0] <= 0x3F)
		turn_request_handle(&cl, buf, len);
	else if (len > 0 && buf[0] <= 0x7F)
		turn_relay_channeldata(lis->w, turn_alloc_find(&cl), buf, len);
	else
		TURN_CTR_ADD(lis->w->srv, malformed, 1);
}

void turn_datagram_handle(struct turn_listener *lis, const struct sockaddr_storage *from,
			  const uint8_t *buf, size_t len)
{
	/* @buf is the caller's (the fuzzer's), not a slot: what it queued goes before it returns. */
	datagram_handle(lis, from, buf, len);
	turn_io_flush(lis->w);
}

/* Reads the pending datagrams of a listening socket in batches (up to READ_BUDGET) and
 * demultiplexes each. */
static void on_client_readable(evutil_socket_t fd, short what, void *arg)
{
	struct turn_listener *lis = arg;
	struct turn_worker *w = lis->w;
	struct turn_io *io = &w->io;

	for (int got = 0; got < READ_BUDGET;) {
		unsigned first;
		int n = io_recv(w, fd, 0, &first);

		if (n == -EINTR)
			continue;
		if (n < 0)
			return;
		for (int i = 0; i < n; i++)
			datagram_handle(lis, &io->from[i], io->slot[first + (unsigned)i],
					io->rmsg[i].msg_len);
		io_batch_end(w);
		got += n;
		if (n < TURN_IO_BATCH)
			return;
	}
}

/* ---- the relay's own addresses (peer checks) ---- */

/* True if @a is the IP of @b's family and bytes (ports ignored), or @b is the wildcard of @a's
 * family and @a one of this machine's IPs. */
static bool self_ip_match(const struct turn_server *srv, const struct sockaddr_storage *a,
			  const struct sockaddr_storage *b)
{
	char ip[ADDR_STRLEN];

	if (a->ss_family != b->ss_family)
		return false;
	addr_ip_str(b, ip);
	if (strcmp(ip, "0.0.0.0") == 0 || strcmp(ip, "::") == 0)
		return turn_self_ip(srv, a);
	return addr_ip_equal(a, b);
}

bool turn_self_ip(const struct turn_server *srv, const struct sockaddr_storage *a)
{
	for (size_t i = 0; i < srv->n_self; i++)
		if (addr_ip_equal(a, &srv->self[i]))
			return true;
	return false;
}

/* True if a datagram to @a would reach a socket this process listens on: a TURN listener, or the
 * TURN over TCP/TLS or HTTP server (whose ports are TCP, but a UDP service may share them). */
static bool self_socket(const struct turn_server *srv, const struct sockaddr_storage *a)
{
	const struct sockaddr_storage *http = &srv->cfg->http.listen;
	uint16_t port = addr_port(a);

	for (unsigned i = 0; i < srv->n_workers; i++) {
		const struct turn_worker *w = srv->workers[i];
		for (unsigned l = 0; l < w->n_lis; l++)
			if (addr_port(&w->lis[l].local) == port &&
			    self_ip_match(srv, a, &w->lis[l].local))
				return true;
		for (unsigned l = 0; l < w->n_acc; l++)
			if (addr_port(&w->acc[l].local) == port &&
			    self_ip_match(srv, a, &w->acc[l].local))
				return true;
	}
	return http->ss_family && addr_port(http) == port && self_ip_match(srv, a, http);
}

int turn_peer_check(const struct turn_server *srv, const struct sockaddr_storage *peer)
{
	const struct config *cfg = srv->cfg;
	uint16_t port = addr_port(peer);

	if (self_socket(srv, peer))
		return -EPERM;
	if (!peer_acl_permits(&cfg->turn.peers, peer))
		return -EPERM;
	if (turn_self_ip(srv, peer) && !peer_acl_allowed(&cfg->turn.peers, peer) &&
	    (port < cfg->turn.relay_port_min || port > cfg->turn.relay_port_max))
		return -EPERM;
	return 0;
}

/* Adds @a's IP (port 0) to srv->self unless it is there or unset. Returns 0, or -ENOMEM. */
static int self_add(struct turn_server *srv, const struct sockaddr_storage *a)
{
	struct sockaddr_storage *v;

	if (a->ss_family != AF_INET && a->ss_family != AF_INET6)
		return 0;
	if (turn_self_ip(srv, a))
		return 0;
	v = realloc(srv->self, (srv->n_self + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	srv->self = v;
	v[srv->n_self] = *a;
	addr_set_port(&v[srv->n_self], 0);
	addr_canonical(&v[srv->n_self]);
	srv->n_self++;
	return 0;
}

/*
 * Collects the IPs a datagram from a relay socket would reach this machine on: every interface
 * address (getifaddrs, at start: addresses added later are not seen), the relay and external
 * addresses. Returns 0, or -ENOMEM.
 */
static int self_collect(struct turn_server *srv)
{
	const struct config *cfg = srv->cfg;
	struct ifaddrs *ifs = NULL;
	int err = 0;

	if (getifaddrs(&ifs) == 0) {
		for (struct ifaddrs *i = ifs; i && !err; i = i->ifa_next) {
			struct sockaddr_storage a = { 0 };

			if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET &&
					     i->ifa_addr->sa_family != AF_INET6))
				continue;
			memcpy(&a, i->ifa_addr, i->ifa_addr->sa_family == AF_INET ?
			       sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
			err = self_add(srv, &a);
		}
		freeifaddrs(ifs);
	} else {
		log_warn("turn: cannot list this machine's addresses (%s): only the configured ones "
			 "are treated as the relay's own", strerror(errno));
	}
	if (!err)
		err = self_add(srv, &cfg->turn.relay_v4);
	if (!err)
		err = self_add(srv, &cfg->turn.relay_v6);
	if (!err)
		err = self_add(srv, &cfg->turn.external_ip);
	for (size_t i = 0; i < cfg->turn.n_listen && !err; i++)
		err = self_add(srv, &cfg->turn.listens[i]);
	for (size_t i = 0; i < cfg->turn.n_tcp_listen && !err; i++)
		err = self_add(srv, &cfg->turn.tcp_listens[i]);
	for (size_t i = 0; i < cfg->turn.n_tls_listen && !err; i++)
		err = self_add(srv, &cfg->turn.tls_listens[i]);
	return err;
}

/* ---- workers ---- */

/* ---- revocation (turn_server_revoke) ---- */

/* True if REST username @user is @id's and expires at or before @before. */
static bool user_is(const char *user, const char *id, time_t before)
{
	const char *colon = strchr(user, ':');
	long long expiry;

	if (!colon || cred_rest_check(user, 0) == -EINVAL || strcmp(colon + 1, id) != 0)
		return false;
	expiry = strtoll(user, NULL, 10);
	return expiry <= (long long)before;
}

/* Applies one revocation on its worker: remember the participant, delete its allocations. */
static void revoke_apply(struct turn_worker *w, const struct turn_revoke_msg *msg)
{
	struct turn_alloc *al, *tmp;
	struct turn_revoked *r;
	unsigned deleted = 0;

	HASH_FIND_STR(w->revoked, msg->id, r);
	if (!r && w->n_revoked < TURN_REVOKED_MAX) {
		r = calloc(1, sizeof(*r));
		if (r) {
			snprintf(r->id, sizeof(r->id), "%s", msg->id);
			HASH_ADD_STR(w->revoked, id, r);
			w->n_revoked++;
		}
	}
	if (r && r->before < msg->before)
		r->before = msg->before;
	if (!r)
		log_warn("turn: cannot remember revoked participant %s (%zu revoked): its credentials "
			 "keep working until they expire", msg->id, w->n_revoked);

	HASH_ITER(hh, w->allocs, al, tmp) {
		if (user_is(al->user, msg->id, msg->before)) {
			turn_alloc_destroy(al);
			deleted++;
		}
	}
	log_info("turn: participant %s revoked: %u allocation(s) deleted on worker %u", msg->id,
		 deleted, w->idx);
}

/* revoke_ev: takes the queued revocations and applies them. */
static void on_revoke(evutil_socket_t fd, short what, void *arg)
{
	struct turn_worker *w = arg;
	struct turn_revoke_msg *q, *next;

	pthread_mutex_lock(&w->revoke_lock);
	q = w->revoke_q;
	w->revoke_q = NULL;
	pthread_mutex_unlock(&w->revoke_lock);
	for (; q; q = next) {
		next = q->next;
		revoke_apply(w, q);
		free(q);
	}
}

/* Drops the revoked participants whose credentials have all expired. */
static void revoked_purge(struct turn_worker *w)
{
	struct turn_revoked *r, *tmp;
	time_t now = time(NULL);

	HASH_ITER(hh, w->revoked, r, tmp) {
		if (r->before < now) {
			HASH_DEL(w->revoked, r);
			w->n_revoked--;
			free(r);
		}
	}
}

int turn_server_revoke(struct turn_server *srv, const char *participant_id)
{
	struct turn_revoke_msg **msgs;
	time_t before;
	size_t len;

	if (!srv || !participant_id)
		return -EINVAL;
	/* The rules cred_rest_mint() mints by, and room for "<expiry>:" in front. */
	len = strlen(participant_id);
	if (len == 0 || len > CRED_USERNAME_MAX - 12 || strchr(participant_id, ':'))
		return -EINVAL;
	for (const char *p = participant_id; *p; p++)
		if (*p <= ' ' || *p > '~')
			return -EINVAL;
	/* Minted before now, a credential expires at the latest now + credential_lifetime. */
	before = time(NULL) + (time_t)srv->cfg->turn.credential_lifetime;

	/* All messages first, so that on -ENOMEM no worker was told. */
	msgs = calloc(srv->n_workers, sizeof(*msgs));
	if (!msgs)
		return -ENOMEM;
	for (unsigned i = 0; i < srv->n_workers; i++) {
		msgs[i] = calloc(1, sizeof(**msgs));
		if (!msgs[i]) {
			for (unsigned k = 0; k < i; k++)
				free(msgs[k]);
			free(msgs);
			return -ENOMEM;
		}
		msgs[i]->before = before;
		memcpy(msgs[i]->id, participant_id, len + 1);
	}
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct turn_worker *w = srv->workers[i];
		struct turn_revoke_msg **tail;

		pthread_mutex_lock(&w->revoke_lock);
		for (tail = &w->revoke_q; *tail; tail = &(*tail)->next)
			;
		*tail = msgs[i];
		pthread_mutex_unlock(&w->revoke_lock);
		event_active(w->revoke_ev, EV_READ, 0);
	}
	free(msgs);
	return 0;
}

/* Housekeeping, every TURN_TICK seconds: worker 0 frees reservations past their 30 s; every
 * minute each worker forgets the revoked participants whose credentials have all expired. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct turn_worker *w = arg;

	turn_wheel_run(w); /* allocations, permissions, channels (alloc.c) */
	if (w->idx == 0)
		turn_resv_sweep(w->srv, false);
	if (++w->ticks % 60 == 0)
		revoked_purge(w);
}

/* Opens a spare relay socket for each relay address that wants one (alloc.c, "spare relays"), and
 * runs again if any wants more. At the lowest priority: only in a round with nothing else to do. */
static void on_spares(evutil_socket_t fd, short what, void *arg)
{
	struct turn_worker *w = arg;
	bool more = false;

	for (int f = 0; f < TURN_FAMILIES; f++) {
		int rc = turn_spare_open(&w->ports[f]);

		/* Out of descriptors, say: Allocates open their own socket and get the error. */
		if (rc < 0)
			log_debug("turn: cannot open a spare relay socket: %s", strerror(-rc));
		more = more || rc > 0;
	}
	if (more)
		event_active(w->spare_ev, EV_TIMEOUT, 0);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct turn_worker *w = arg;

	event_base_loopbreak(w->base);
}

static void *worker_main(void *arg)
{
	struct turn_worker *w = arg;

	/* Pay the thread's one-time costs before the first client does: OpenSSL's contexts, and
	 * glibc's per-thread malloc arena (its first allocation maps 64 MiB of address space). */
	void *volatile first = malloc(64); /* volatile: the compiler may not drop the pair */

	free(first);
	(void)stun_crypto_thread_init();
	/* The coalescing waits (io_coalesce) are tens of microseconds: the default timer slack of
	 * 50 us would more than double them. */
	(void)prctl(PR_SET_TIMERSLACK, 5000UL, 0UL, 0UL, 0UL);
	event_base_dispatch(w->base);
	return NULL;
}

int turn_listen_socket(const struct sockaddr_storage *addr, int type, bool reuseport,
		       struct sockaddr_storage *local)
{
	int one = 1, bufsz = SOCK_BUF_BYTES, fd, err;
	socklen_t llen = sizeof(*local);

	fd = socket(addr->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (addr->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (type == SOCK_DGRAM) {
		/* Best effort: a smaller buffer still works, it just drops more under bursts. */
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	} else if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
		goto fail; /* a restart binds again while old connections are in TIME_WAIT */
	}
	if (bind(fd, (const struct sockaddr *)addr, addr_len(addr)) < 0)
		goto fail;
	if (type == SOCK_STREAM && listen(fd, LISTEN_BACKLOG) < 0)
		goto fail;
	if (getsockname(fd, (struct sockaddr *)local, &llen) < 0)
		goto fail;
	return fd;

fail:
	err = -errno;
	close(fd);
	return err;
}

/* Deletes @w's connections and allocations (idempotent). A relay may hold a port of another
 * worker's pool (a redeemed EVEN-PORT reservation) and returns it when closed: every worker's
 * allocations go before any worker's pools are freed (turn_server_stop). */
static void worker_drop(struct turn_worker *w)
{
	struct turn_alloc *al, *tmp;

	turn_streams_free(w); /* each connection deletes its allocation with it */
	HASH_ITER(hh, w->allocs, al, tmp)
		turn_alloc_destroy(al);
	turn_io_flush(w); /* answers still queued */
}

static void worker_free(struct turn_worker *w)
{
	if (!w)
		return;
	worker_drop(w);
	io_free(w);
	turn_handoff_free(w);
	for (unsigned i = 0; i < w->n_lis; i++) {
		if (w->lis[i].ev)
			event_free(w->lis[i].ev);
		if (w->lis[i].fd >= 0)
			close(w->lis[i].fd);
	}
	if (w->stop)
		event_free(w->stop);
	if (w->tick)
		event_free(w->tick);
	if (w->revoke_ev)
		event_free(w->revoke_ev);
	if (w->spare_ev)
		event_free(w->spare_ev);
	while (w->revoke_q) {
		struct turn_revoke_msg *next = w->revoke_q->next;
		free(w->revoke_q);
		w->revoke_q = next;
	}
	{
		struct turn_revoked *r, *rtmp;
		HASH_ITER(hh, w->revoked, r, rtmp) {
			HASH_DEL(w->revoked, r);
			free(r);
		}
	}
	pthread_mutex_destroy(&w->revoke_lock);
	pthread_mutex_destroy(&w->adopt_lock);
	if (w->base)
		event_base_free(w->base);
	for (int f = 0; f < TURN_FAMILIES; f++) {
		turn_ports_free(&w->ports[f]);
		free(w->by_port[f]);
	}
	free(w);
}

/* The listening addresses of a worker: UDP, TCP and TLS. */
struct listen_set {
	struct sockaddr_storage udp[CONFIG_LISTEN_MAX], tcp[CONFIG_LISTEN_MAX],
				tls[CONFIG_LISTEN_MAX];
	size_t n_udp, n_tcp, n_tls;
};

/* Creates worker @idx listening on the addresses @ls and owning relay ports [@lo, @hi] on each
 * relay address. */
static int worker_create(struct turn_worker **out, struct turn_server *srv, unsigned idx,
			 const struct listen_set *ls, uint16_t lo, uint16_t hi)
{
	struct turn_worker *w;
	uint32_t seed = 0;
	int err = 0;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->srv = srv;
	w->idx = idx;
	for (size_t i = 0; i < CONFIG_LISTEN_MAX; i++)
		w->lis[i].fd = -1;
	pthread_mutex_init(&w->revoke_lock, NULL);
	pthread_mutex_init(&w->adopt_lock, NULL);

	if (RAND_bytes((unsigned char *)&seed, sizeof(seed)) != 1 ||
	    RAND_bytes((unsigned char *)&w->limit_seed, sizeof(w->limit_seed)) != 1) {
		err = -EIO;
		goto out;
	}
	w->tid_rng = seed;
	for (int f = 0; f < TURN_FAMILIES && !err; f++) {
		err = turn_ports_init(&w->ports[f], lo, hi, seed + (uint32_t)f);
		w->by_port[f] = calloc((size_t)srv->cfg->turn.relay_port_max -
				       srv->cfg->turn.relay_port_min + 1, sizeof(*w->by_port[f]));
		if (!err && !w->by_port[f])
			err = -ENOMEM;
	}
	if (err)
		goto out;
	w->base = event_base_new();
	/* Three priorities: everything at the default (1), on_spares below it (2). */
	if (!w->base || event_base_priority_init(w->base, 3) < 0) {
		err = -ENOMEM;
		goto out;
	}
	err = io_init(w);
	if (!err)
		err = turn_handoff_init(w);
	if (err)
		goto out;
	for (size_t i = 0; i < ls->n_udp; i++) {
		struct turn_listener *l = &w->lis[i];

		l->w = w;
		l->idx = (unsigned)i;
		l->fd = turn_listen_socket(&ls->udp[i], SOCK_DGRAM, srv->n_workers > 1,
					   &l->local);
		w->n_lis = (unsigned)i + 1;
		if (l->fd < 0) {
			char la[ADDR_STRLEN];

			err = l->fd;
			log_err("turn: cannot listen on %s: %s", addr_str(&ls->udp[i], la),
				strerror(-err));
			goto out;
		}
		l->ev = event_new(w->base, l->fd, EV_READ | EV_PERSIST, on_client_readable, l);
		if (!l->ev || event_add(l->ev, NULL) < 0) {
			err = -ENOMEM;
			goto out;
		}
	}
	err = turn_streams_init(w, ls->tcp, ls->n_tcp, ls->tls, ls->n_tls);
	if (err)
		goto out;
	w->stop = event_new(w->base, -1, 0, on_stop, w);
	w->tick = event_new(w->base, -1, EV_PERSIST, on_tick, w);
	w->revoke_ev = event_new(w->base, -1, 0, on_revoke, w);
	w->spare_ev = event_new(w->base, -1, 0, on_spares, w);
	if (!w->stop || !w->tick || !w->revoke_ev || !w->spare_ev ||
	    event_priority_set(w->spare_ev, 2) < 0 ||
	    event_add(w->tick, &(struct timeval){ .tv_sec = TURN_TICK }) < 0) {
		err = -ENOMEM;
		goto out;
	}
	for (int f = 0; f < TURN_FAMILIES; f++) {
		const struct sockaddr_storage *ip =
			f == TURN_V4 ? &srv->cfg->turn.relay_v4 : &srv->cfg->turn.relay_v6;

		if (ip->ss_family)
			turn_spares_init(&w->ports[f], ip);
	}
	/* The first spares are opened as soon as the loop runs. */
	event_active(w->spare_ev, EV_TIMEOUT, 0);

out:
	if (err) {
		worker_free(w);
		return err;
	}
	*out = w;
	return 0;
}

/* ---- public ---- */

unsigned turn_workers_auto(void)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n <= 0)
		n = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (n <= 0)
		n = 1;
	return n > TURN_WORKERS_MAX ? TURN_WORKERS_MAX : (unsigned)n;
}

/* Builds the server: sockets bound, workers set up; with @threads, their threads started. */
static int server_open(struct turn_server **out, const struct config *cfg, bool threads)
{
	struct turn_server *srv = NULL;
	struct listen_set ls = { .n_tcp = cfg ? cfg->turn.n_tcp_listen : 0,
				 .n_tls = cfg ? cfg->turn.n_tls_listen : 0 };
	char la[ADDR_STRLEN], r4[ADDR_STRLEN], r6[ADDR_STRLEN];
	unsigned n, span, per;
	int err = 0;

	if (!out || !cfg)
		return -EINVAL;
	n = cfg->turn.workers ? cfg->turn.workers : turn_workers_auto();
	if (cfg->turn.relay_port_min == 0 || cfg->turn.relay_port_min > cfg->turn.relay_port_max)
		return -EINVAL;
	span = (unsigned)cfg->turn.relay_port_max - cfg->turn.relay_port_min + 1;
	if (span < n) {
		log_err("turn: %u relay ports cannot be split between %u workers", span, n);
		return -EINVAL;
	}
	/* A hand-made config (tests) may fill only listen: take it as the list. */
	ls.n_udp = cfg->turn.n_listen ? cfg->turn.n_listen : 1;
	if (ls.n_udp > CONFIG_LISTEN_MAX || ls.n_tcp > CONFIG_LISTEN_MAX ||
	    ls.n_tls > CONFIG_LISTEN_MAX)
		return -EINVAL;
	memcpy(ls.udp, cfg->turn.n_listen ? cfg->turn.listens : &cfg->turn.listen,
	       ls.n_udp * sizeof(ls.udp[0]));
	memcpy(ls.tcp, cfg->turn.tcp_listens, ls.n_tcp * sizeof(ls.tcp[0]));
	memcpy(ls.tls, cfg->turn.tls_listens, ls.n_tls * sizeof(ls.tls[0]));
	if (cfg->turn.relay_v4.ss_family != AF_INET && cfg->turn.relay_v6.ss_family != AF_INET6) {
		log_err("turn: no relay address");
		return -EINVAL;
	}
	pthread_once(&evthread_once, evthread_init);
	if (evthread_err)
		return -ENOMEM;

	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->cfg = cfg;
	srv->n_workers = n;
	atomic_init(&srv->tls, NULL);
	pthread_mutex_init(&srv->quota_lock, NULL);
	pthread_mutex_init(&srv->resv_lock, NULL);
	atomic_init(&srv->nonce_lifetime, TURN_NONCE_LIFETIME);
	atomic_init(&srv->resv_lifetime, TURN_RESERVATION_LIFETIME);
	atomic_init(&srv->stream_idle, TURN_STREAM_IDLE);
	if (RAND_bytes(srv->nonce_key, sizeof(srv->nonce_key)) != 1) {
		err = -EIO;
		goto out;
	}
	err = self_collect(srv);
	if (err)
		goto out;
	srv->workers = calloc(n, sizeof(*srv->workers));
	if (!srv->workers) {
		err = -ENOMEM;
		goto out;
	}
	err = turn_handoff_server_init(srv);
	if (err)
		goto out;

	/* Each worker gets a contiguous slice of the relay ports (the last one the remainder), so
	 * that port allocation needs no lock; a worker whose slice is full binds from another's.
	 * With a listen port of 0 the first worker's port is reused by the others. */
	per = span / n;
	for (unsigned i = 0; i < n; i++) {
		uint16_t lo = (uint16_t)(cfg->turn.relay_port_min + i * per);
		uint16_t hi = i + 1 == n ? cfg->turn.relay_port_max : (uint16_t)(lo + per - 1);
		struct turn_worker *w;

		err = worker_create(&srv->workers[i], srv, i, &ls, lo, hi);
		if (err)
			goto out;
		w = srv->workers[i];
		for (size_t l = 0; l < ls.n_udp; l++)
			addr_set_port(&ls.udp[l], addr_port(&w->lis[l].local));
		for (size_t l = 0; l < ls.n_tcp; l++)
			addr_set_port(&ls.tcp[l], addr_port(&w->acc[l].local));
		for (size_t l = 0; l < ls.n_tls; l++)
			addr_set_port(&ls.tls[l], addr_port(&w->acc[ls.n_tcp + l].local));
	}
	for (unsigned i = 0; threads && i < n; i++) {
		struct turn_worker *w = srv->workers[i];
		err = -pthread_create(&w->thread, NULL, worker_main, w);
		if (err)
			goto out;
		w->running = true;
	}

out:
	if (err) {
		log_err("turn: cannot start on %s: %s", addr_str(&ls.udp[0], la), strerror(-err));
		turn_server_stop(srv);
		return err;
	}
	for (size_t l = 0; l < ls.n_udp; l++)
		log_info("turn: listening on %s udp", addr_str(&srv->workers[0]->lis[l].local, la));
	for (unsigned l = 0; l < srv->workers[0]->n_acc; l++)
		log_info("turn: listening on %s %s", addr_str(&srv->workers[0]->acc[l].local, la),
			 srv->workers[0]->acc[l].tls ? "tls" : "tcp");
	log_info("turn: %u worker(s), relaying on %s%s%s ports %u-%u", n,
		 cfg->turn.relay_v4.ss_family ? addr_ip_str(&cfg->turn.relay_v4, r4) : "",
		 cfg->turn.relay_v4.ss_family && cfg->turn.relay_v6.ss_family ? " and " : "",
		 cfg->turn.relay_v6.ss_family ? addr_ip_str(&cfg->turn.relay_v6, r6) : "",
		 cfg->turn.relay_port_min, cfg->turn.relay_port_max);
	*out = srv;
	return 0;
}

int turn_server_start(struct turn_server **out, const struct config *cfg)
{
	return server_open(out, cfg, true);
}

int turn_server_open_idle(struct turn_server **out, const struct config *cfg)
{
	return server_open(out, cfg, false);
}

void turn_server_stop(struct turn_server *srv)
{
	if (!srv)
		return;
	for (unsigned i = 0; srv->workers && i < srv->n_workers; i++) {
		struct turn_worker *w = srv->workers[i];
		if (!w)
			continue;
		/* No connection is adopted from now on (turn_server_adopt_stream: -ESHUTDOWN). */
		pthread_mutex_lock(&w->adopt_lock);
		w->adopt_closed = true;
		pthread_mutex_unlock(&w->adopt_lock);
		if (w->running)
			event_active(w->stop, EV_READ, 0);
	}
	for (unsigned i = 0; srv->workers && i < srv->n_workers; i++) {
		struct turn_worker *w = srv->workers[i];
		if (w && w->running)
			pthread_join(w->thread, NULL);
	}
	/* No thread runs now: every allocation and reservation can be freed from here, all of
	 * them before any worker's port pools (worker_drop). */
	turn_resv_sweep(srv, true);
	for (unsigned i = 0; srv->workers && i < srv->n_workers; i++)
		if (srv->workers[i])
			worker_drop(srv->workers[i]);
	for (unsigned i = 0; srv->workers && i < srv->n_workers; i++)
		worker_free(srv->workers[i]);
	free(srv->workers);
	turn_handoff_server_free(srv);
	pthread_mutex_destroy(&srv->quota_lock);
	pthread_mutex_destroy(&srv->resv_lock);
	free(srv->self);
	OPENSSL_cleanse(srv->nonce_key, sizeof(srv->nonce_key));
	free(srv);
}

void turn_server_counters(const struct turn_server *srv, struct turn_counters *out)
{
	/* C11 atomic_load takes a pointer to non-const; reading does not modify the server. */
	struct turn_server *s = (struct turn_server *)srv;

	memset(out, 0, sizeof(*out));
	if (!s)
		return;
#define CTR_COPY(f) out->f = atomic_load_explicit(&s->ctr.f, memory_order_relaxed)
	CTR_COPY(allocations_now);
	CTR_COPY(allocations_total);
	CTR_COPY(permissions_now);
	CTR_COPY(channels_now);
	CTR_COPY(pkts_to_peer);
	CTR_COPY(bytes_to_peer);
	CTR_COPY(pkts_to_client);
	CTR_COPY(bytes_to_client);
	CTR_COPY(auth_failures);
	CTR_COPY(auth_unknown_user);
	CTR_COPY(auth_expired);
	CTR_COPY(auth_revoked);
	CTR_COPY(auth_bad_integrity);
	CTR_COPY(stale_nonces);
	CTR_COPY(requests);
	CTR_COPY(malformed);
	CTR_COPY(port_exhausted);
	CTR_COPY(unauth_dropped);
	CTR_COPY(peer_denied);
	CTR_COPY(quota_exceeded);
	CTR_COPY(capacity_exceeded);
	CTR_COPY(bandwidth_dropped);
	CTR_COPY(reservations_now);
	CTR_COPY(streams_now);
	CTR_COPY(streams_total);
	CTR_COPY(streams_refused);
	CTR_COPY(stream_dropped);
	CTR_COPY(hairpinned);
	CTR_COPY(coalesce_waits);
	CTR_COPY(handoffs);
	CTR_COPY(handoff_full);
#undef CTR_COPY
}

void turn_server_set_tls(struct turn_server *srv, struct tls_server *tls)
{
	if (srv)
		atomic_store_explicit(&srv->tls, tls, memory_order_release);
}

void turn_server_set_nonce_lifetime(struct turn_server *srv, unsigned seconds)
{
	atomic_store_explicit(&srv->nonce_lifetime, seconds, memory_order_relaxed);
}

void turn_server_set_reservation_lifetime(struct turn_server *srv, unsigned seconds)
{
	atomic_store_explicit(&srv->resv_lifetime, seconds, memory_order_relaxed);
}

void turn_server_set_stream_idle(struct turn_server *srv, unsigned seconds)
{
	atomic_store_explicit(&srv->stream_idle, seconds, memory_order_relaxed);
}
