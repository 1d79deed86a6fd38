/*
 * Unit tests for the in-box hairpin (turn.hairpin, src/turn/server.c): two clients of one relay
 * talk relay to relay, and a datagram to another allocation's relayed address on the same worker
 * is handed over inside the process instead of through the kernel. The hairpin must be invisible
 * to clients: the same exchange, run once with turn.hairpin on and once off, must give every
 * client the same bytes from the same (relayed) source addresses, and the same TURN counters.
 *
 * A real turn_server on loopback: UDP 127.0.0.1:25300, TCP 25301, relay ports 25400-25499 (offsets
 * from TINCAN_TEST_PORT_BASE + 300, clear of test_turn's and test_turn_stream's); driven by
 * turnclient.[ch]. Each test says in its first comment which behaviour it pins.
 */
#include <check.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/cred.h"
#include "core/log.h"
#include "turn/turn.h"
#include "turn/turn_priv.h"
#include "turnclient.h"
#include "turnfixture.h"

static uint16_t port_base = 25300;
#define PORT_UDP port_base
#define PORT_TCP (port_base + 1)
#define RELAY_MIN (port_base + 100)
#define RELAY_MAX (port_base + 199)
#define QUIET_MS 200 /* how long "nothing arrives" is waited for */

static struct config_user users[] = {
	{ .name = "a", .password = "a" }, { .name = "b", .password = "b" },
	{ .name = "c", .password = "c" }, { .name = "d", .password = "d" },
};

/* A loopback config: UDP and TCP listeners, relays on 127.0.0.1, users a..d, peers on
 * 127.0.0.0/8 allowed (unless @deny_loopback: only the default deny list, which refuses them). */
static void config_make(struct config *c, bool hairpin, bool deny_loopback)
{
	tf_config(c, PORT_UDP, RELAY_MIN, RELAY_MAX, users, sizeof(users) / sizeof(users[0]), 1);
	ck_assert_int_eq(addr_parse_ip("127.0.0.1", PORT_TCP, &c->turn.tcp_listens[0]), 0);
	c->turn.n_tcp_listen = 1;
	c->turn.external_ip = c->turn.relay_ip;
	c->turn.hairpin = hairpin;
	tf_config_deny_default(c, deny_loopback);
}

/*
 * What the clients of one run received, in order, in a form that does not depend on the run's
 * random relay ports and transaction ids: each message as its bytes with the transaction id of
 * a Data indication zeroed and its XOR-PEER-ADDRESS replaced by the index of the client whose
 * relayed address it is ("-1" for any other address); "nothing" when a drop is expected.
 */
struct transcript {
	char *text;                      /* lines, malloc'd */
	size_t len, cap;
	uint64_t received;               /* messages the clients got */
	uint64_t pkts_to_peer, bytes_to_peer, pkts_to_client, bytes_to_client, hairpinned, handoffs;
};

static void tr_put(struct transcript *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->text = realloc(t->text, t->cap);
		ck_assert_ptr_nonnull(t->text);
	}
	memcpy(t->text + t->len, s, n);
	t->len += n;
	t->text[t->len] = '\0';
}

/* The clients of one run: [0] A, [1] B, [2] C, [3] D, with their relayed addresses; the
 * server's configuration (it must outlive the server). */
struct run {
	struct tc cl[4];
	struct sockaddr_storage relayed[4];
	struct config cf;
};

static int who(const struct run *r, const struct sockaddr_storage *a)
{
	for (int i = 0; i < 4; i++)
		if (addr_equal(a, &r->relayed[i]))
			return i;
	return -1;
}

/* Records the next message client @i receives (or "nothing" within QUIET_MS if @expect_none). */
static void tr_recv(struct transcript *t, struct run *r, int i, bool expect_none)
{
	struct tc *c = &r->cl[i];
	long n = tc_recv(c, expect_none ? QUIET_MS : 2000);
	char line[128];

	if (expect_none) {
		ck_assert_int_lt(n, 0);
		snprintf(line, sizeof(line), "%d: nothing\n", i);
		tr_put(t, line, strlen(line));
		return;
	}
	ck_assert_int_gt(n, 0);
	t->received++;
	if (c->rbuf[0] >= 0x40) {
		/* ChannelData: number, length, data and (on a stream) padding, byte for byte. */
		uint16_t num, dlen;
		const uint8_t *data;

		ck_assert_int_eq(turn_channeldata_parse(c->rbuf, (size_t)n, &num, &data, &dlen), 0);
		snprintf(line, sizeof(line), "%d: channeldata 0x%04x %u bytes, frame %ld: ", i, num,
			 dlen, n);
	} else {
		struct stun_msg m;
		const struct stun_attr *a;
		struct sockaddr_storage from;

		ck_assert_int_eq(stun_msg_parse(&m, c->rbuf, (size_t)n), 0);
		ck_assert_int_eq(m.method, TURN_METHOD_DATA);
		a = stun_msg_attr(&m, TURN_ATTR_XOR_PEER_ADDRESS);
		ck_assert_ptr_nonnull(a);
		ck_assert_int_eq(stun_attr_xor_addr(&m, a, &from), 0);
		snprintf(line, sizeof(line), "%d: data indication from %d, %ld bytes: ", i,
			 who(r, &from), n);
		/* Normalise what differs between runs: the transaction id and the peer's port. */
		memset(c->rbuf + 8, 0, STUN_TID_LEN);
		memset((uint8_t *)a->val, 0, a->len);
	}
	tr_put(t, line, strlen(line));
	for (long k = 0; k < n; k++) {
		char hex[3];

		snprintf(hex, sizeof(hex), "%02x", c->rbuf[k]);
		tr_put(t, hex, 2);
	}
	tr_put(t, "\n", 1);
}

/* A payload of @n bytes that differs with @seed. */
static const uint8_t *payload(size_t n, unsigned seed)
{
	static uint8_t buf[65536];

	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(i * 7 + seed);
	return buf;
}

/* Starts a run: clears @t, starts @s with turn.hairpin @hairpin and @workers workers, and returns
 * the run's (heap) state, its clients not yet open. */
static struct run *tr_start(struct transcript *t, bool hairpin, unsigned workers,
			    struct turn_server **s)
{
	struct run *r = calloc(1, sizeof(*r));

	ck_assert_ptr_nonnull(r);
	memset(t, 0, sizeof(*t));
	config_make(&r->cf, hairpin, false);
	r->cf.turn.workers = workers;
	ck_assert_int_eq(turn_server_start(s, &r->cf), 0);
	return r;
}

/* Ends a run: waits until the counters have caught up with what the clients got, copies them
 * into @t, closes the first @n_clients clients of @r, stops @s and frees @r. */
static void tr_finish(struct transcript *t, struct turn_server *s, struct run *r, int n_clients)
{
	struct turn_counters k;

	TF_CTR_WAIT(s, pkts_to_client, t->received);
	/* A worker adds its counts at the end of its loop's round, so the sender's pkts_to_peer may
	 * trail what the receiver already delivered (seen: 23 of 24). In the runs where every
	 * datagram to a peer comes back to a client this waits for it; elsewhere it times out. */
	TF_CTR_WAIT(s, pkts_to_peer, t->received);
	turn_server_counters(s, &k);
	t->pkts_to_peer = k.pkts_to_peer;
	t->bytes_to_peer = k.bytes_to_peer;
	t->pkts_to_client = k.pkts_to_client;
	t->bytes_to_client = k.bytes_to_client;
	t->hairpinned = k.hairpinned;
	t->handoffs = k.handoffs;
	for (int i = 0; i < n_clients; i++)
		tc_close(&r->cl[i]);
	turn_server_stop(s);
	free(r);
}

/* The clients of two runs, one with turn.hairpin off, one on, got the same bytes from the same
 * sources, and the relay counted the same; frees both transcripts. */
static void expect_same(struct transcript *on, struct transcript *off)
{
	ck_assert_uint_eq(on->len, off->len);
	ck_assert_str_eq(on->text, off->text);
	ck_assert_uint_eq(on->pkts_to_peer, off->pkts_to_peer);
	ck_assert_uint_eq(on->bytes_to_peer, off->bytes_to_peer);
	ck_assert_uint_eq(on->pkts_to_client, off->pkts_to_client);
	ck_assert_uint_eq(on->bytes_to_client, off->bytes_to_client);
	free(on->text);
	free(off->text);
}

/*
 * The exchange: A (UDP) and B (UDP, or TCP with @b_tcp) hold channels to each other's relayed
 * address (A 0x4000 -> B, B 0x4001 -> A); D (UDP) has only permissions with A; C none. Then, with payloads of many sizes (0 bytes, odd, MTU-sized and the
 * largest a UDP client can send; above HAIRPIN_MAX the kernel path is taken either way):
 *   - A -> B over its channel and by Send indication: B gets ChannelData 0x4001;
 *   - B -> A likewise: A gets ChannelData 0x4000;
 *   - A -> D and D -> A (no channel either way): Data indications naming the other's relay;
 *   - A -> C: no permission on C, dropped;
 *   - A -> C once C gave A a permission: a Data indication (C has no channel to A).
 * Fills @t with the transcript and the counters.
 */
static void run_exchange(struct transcript *t, bool hairpin, bool b_tcp)
{
	static const size_t sizes[] = { 0, 1, 3, 4, 5, 100, 1200, 1500, 8191, 64000, 65000, 65001 };
	struct turn_server *s;
	struct run *r = tr_start(t, hairpin, 1, &s);

	ck_assert_int_eq(tc_open(&r->cl[0], PORT_UDP, "a", "a"), 0);
	if (b_tcp)
		ck_assert_int_eq(tc_open_stream(&r->cl[1], PORT_TCP, false, "b", "b"), 0);
	else
		ck_assert_int_eq(tc_open(&r->cl[1], PORT_UDP, "b", "b"), 0);
	ck_assert_int_eq(tc_open(&r->cl[2], PORT_UDP, "c", "c"), 0);
	ck_assert_int_eq(tc_open(&r->cl[3], PORT_UDP, "d", "d"), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(tc_allocate(&r->cl[i], &r->relayed[i]), 0);
	ck_assert_int_eq(tc_channel_bind(&r->cl[0], 0x4000, &r->relayed[1]), 0);
	ck_assert_int_eq(tc_channel_bind(&r->cl[1], 0x4001, &r->relayed[0]), 0);
	ck_assert_int_eq(tc_permission(&r->cl[0], &r->relayed[3]), 0);
	ck_assert_int_eq(tc_permission(&r->cl[3], &r->relayed[0]), 0);

	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		size_t n = sizes[z];
		unsigned seed = (unsigned)z;

		ck_assert_int_eq(tc_send_channel(&r->cl[0], 0x4000, payload(n, seed), n), 0);
		tr_recv(t, r, 1, false);
		ck_assert_int_eq(tc_send_channel(&r->cl[1], 0x4001, payload(n, seed + 1), n), 0);
		tr_recv(t, r, 0, false);
		/* A Send indication carries 36 bytes more than its data: the largest sizes do not
		 * fit a UDP datagram, and neither does a Data indication around them. */
		if (n <= 64000) {
			ck_assert_int_eq(tc_send_indication(&r->cl[0], &r->relayed[1],
							    payload(n, seed + 2), n), 0);
			tr_recv(t, r, 1, false);
			ck_assert_int_eq(tc_send_indication(&r->cl[1], &r->relayed[0],
							    payload(n, seed + 3), n), 0);
			tr_recv(t, r, 0, false);
			ck_assert_int_eq(tc_send_indication(&r->cl[0], &r->relayed[3],
							    payload(n, seed + 4), n), 0);
			tr_recv(t, r, 3, false);
			ck_assert_int_eq(tc_send_indication(&r->cl[3], &r->relayed[0],
							    payload(n, seed + 5), n), 0);
			tr_recv(t, r, 0, false);
		}
	}
	/* C has no permission yet (permissions are per IP: every relayed address here is on
	 * 127.0.0.1, so a client with one has them all): dropped, whether by Send indication or
	 * over a channel. */
	ck_assert_int_eq(tc_send_indication(&r->cl[0], &r->relayed[2], "not for C", 9), 0);
	ck_assert_int_eq(tc_channel_bind(&r->cl[0], 0x4002, &r->relayed[2]), 0);
	ck_assert_int_eq(tc_send_channel(&r->cl[0], 0x4002, "nor this", 8), 0);
	tr_recv(t, r, 2, true);
	/* C gives A's relayed address a permission: now it arrives, as a Data indication (C has
	 * no channel). */
	ck_assert_int_eq(tc_permission(&r->cl[2], &r->relayed[0]), 0);
	ck_assert_int_eq(tc_send_channel(&r->cl[0], 0x4002, "now for C", 9), 0);
	tr_recv(t, r, 2, false);

	tr_finish(t, s, r, 4);
}

/* The datagrams relayed peer to peer in run_exchange: each size both ways over channels; the
 * Send indications of the sizes that fit, 4 each; the two to C, dropped there, and the last. */
static void check_equivalent(bool b_tcp)
{
	struct transcript on, off;

	run_exchange(&off, false, b_tcp);
	run_exchange(&on, true, b_tcp);
	ck_assert_uint_eq(off.hairpinned, 0);
	ck_assert_uint_gt(on.hairpinned, 0);
	/* Everything relay to relay went inside, except the two datagrams above HAIRPIN_MAX. */
	ck_assert_uint_eq(on.hairpinned, on.pkts_to_peer - 2);
	expect_same(&on, &off);
}

START_TEST(test_equivalent_udp)
{
	/* The same exchange between UDP clients with turn.hairpin on and off: identical bytes,
	 * sources and counters; with it on, every relay-to-relay datagram up to HAIRPIN_MAX bytes
	 * went inside (counted in hairpinned). */
	check_equivalent(false);
}
END_TEST

/* Polls counter @field of @s for up to 6 s until it is @want (timers fire up to a tick late). */
#define CTR_UNTIL(s, field, want) (TF_CTR_WAIT_MS(s, field, want, 6000) == (want))

/*
 * The receiver's lifetimes, through the hairpin and through the kernel: A keeps a channel to B
 * throughout; B's permission for A expires (A -> B dropped at B), B asks for it again (a Data
 * indication), B binds a channel that expires while the permission lasts (ChannelData, then a
 * Data indication again). Timers shortened with turn_server_set_lifetimes. Fills @t.
 */
static void run_expiry(struct transcript *t, bool hairpin)
{
	struct turn_server *s;
	struct run *r = tr_start(t, hairpin, 1, &s);

	ck_assert_int_eq(tc_open(&r->cl[0], PORT_UDP, "a", "a"), 0);
	ck_assert_int_eq(tc_open(&r->cl[1], PORT_UDP, "b", "b"), 0);
	ck_assert_int_eq(tc_allocate(&r->cl[0], &r->relayed[0]), 0);
	ck_assert_int_eq(tc_allocate(&r->cl[1], &r->relayed[1]), 0);
	ck_assert_int_eq(tc_channel_bind(&r->cl[0], 0x4000, &r->relayed[1]), 0);

	/* B's permission lasts 1 s: A's datagram arrives, then, once it expired, does not. */
	turn_server_set_lifetimes(s, 1, 0, 0, 0);
	ck_assert_int_eq(tc_permission(&r->cl[1], &r->relayed[0]), 0);
	turn_server_set_lifetimes(s, 0, 0, 0, 0);
	ck_assert_int_eq(tc_send_channel(&r->cl[0], 0x4000, "one", 3), 0);
	tr_recv(t, r, 1, false);
	ck_assert(CTR_UNTIL(s, permissions_now, 1)); /* A's stays */
	ck_assert_int_eq(tc_send_channel(&r->cl[0], 0x4000, "two", 3), 0);
	tr_recv(t, r, 1, true);

	/* B asks again: a Data indication. Then a channel of 1 s (its permission lasts 300 s):
	 * ChannelData while it lasts, a Data indication after. */
	ck_assert_int_eq(tc_permission(&r->cl[1], &r->relayed[0]), 0);
	ck_assert_int_eq(tc_send_channel(&r->cl[0], 0x4000, "three", 5), 0);
	tr_recv(t, r, 1, false);
	turn_server_set_lifetimes(s, 0, 1, 1, 0);
	ck_assert_int_eq(tc_channel_bind(&r->cl[1], 0x4001, &r->relayed[0]), 0);
	turn_server_set_lifetimes(s, 0, 0, 0, 0);
	ck_assert_int_eq(tc_send_channel(&r->cl[0], 0x4000, "four", 4), 0);
	tr_recv(t, r, 1, false);
	ck_assert(CTR_UNTIL(s, channels_now, 1)); /* A's stays */
	ck_assert_int_eq(tc_send_channel(&r->cl[0], 0x4000, "five", 4), 0);
	tr_recv(t, r, 1, false);

	tr_finish(t, s, r, 2);
}

START_TEST(test_equivalent_expiry)
{
	/* The hairpin applies the receiver's lifetimes as its socket would: with turn.hairpin on
	 * and off, an expired permission drops and an expired channel turns ChannelData into
	 * Data indications, with identical bytes and counters (run_expiry). */
	struct transcript on, off;

	run_expiry(&off, false);
	run_expiry(&on, true);
	ck_assert_uint_eq(off.hairpinned, 0);
	ck_assert_uint_eq(on.hairpinned, on.pkts_to_peer);
	ck_assert_uint_eq(on.received, 4);
	expect_same(&on, &off);
}
END_TEST

/* The worker holding relayed address @a of @s (handoff.c's port map). */
static int owner_of(struct turn_server *s, const struct sockaddr_storage *a)
{
	return (int)atomic_load(&s->port_owner[TURN_V4][addr_port(a) - RELAY_MIN]) - 1;
}

/*
 * Between workers: with turn.workers = 2, clients are opened until two of them have their
 * allocations on different workers (the kernel picks a worker by a hash of the client's
 * address), then they exchange ChannelData and Send indications of several sizes both ways.
 * Fills @t; @t->hairpinned counts handoffs here.
 */
static void run_workers(struct transcript *t, bool hairpin)
{
	static const size_t sizes[] = { 0, 1, 5, 100, 1200, 1500, 1501, 8191 };
	enum { TRIES = 24 };
	struct turn_server *s;
	struct run *r = tr_start(t, hairpin, 2, &s);
	struct tc *extra = calloc(TRIES, sizeof(*extra)); /* 130 KiB each: not on the stack */
	struct sockaddr_storage rel[TRIES];
	int n = 0, x = -1, y = -1;

	ck_assert_ptr_nonnull(extra);
	for (n = 0; n < TRIES && y < 0; n++) {
		ck_assert_int_eq(tc_open(&extra[n], PORT_UDP, "a", "a"), 0);
		ck_assert_int_eq(tc_allocate(&extra[n], &rel[n]), 0);
		if (x < 0)
			x = n;
		else if (owner_of(s, &rel[n]) != owner_of(s, &rel[x]))
			y = n;
	}
	ck_assert_int_ge(y, 0); /* 2^-23 by chance, if the hash spreads at all */
	ck_assert_int_ne(owner_of(s, &rel[x]), -1);
	r->cl[0] = extra[x];
	r->cl[1] = extra[y];
	r->relayed[0] = rel[x];
	r->relayed[1] = rel[y];
	ck_assert_int_eq(tc_channel_bind(&r->cl[0], 0x4000, &r->relayed[1]), 0);
	ck_assert_int_eq(tc_channel_bind(&r->cl[1], 0x4001, &r->relayed[0]), 0);
	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		size_t len = sizes[z];
		unsigned seed = (unsigned)z;

		ck_assert_int_eq(tc_send_channel(&r->cl[0], 0x4000, payload(len, seed), len), 0);
		tr_recv(t, r, 1, false);
		ck_assert_int_eq(tc_send_channel(&r->cl[1], 0x4001, payload(len, seed + 1), len), 0);
		tr_recv(t, r, 0, false);
		ck_assert_int_eq(tc_send_indication(&r->cl[0], &r->relayed[1], payload(len, seed + 2),
						    len), 0);
		tr_recv(t, r, 1, false);
	}
	memset(r->cl, 0, sizeof(r->cl)); /* copies of extra[x] and extra[y], closed below */
	for (int i = 0; i < n; i++)
		tc_close(&extra[i]);
	free(extra);
	tr_finish(t, s, r, 0);
	ck_assert_uint_eq(t->hairpinned, t->handoffs); /* every hairpinned one between workers */
}

START_TEST(test_equivalent_workers)
{
	/* The hairpin between two workers (handoff.c) is invisible too: the same exchange between
	 * clients of different workers with turn.hairpin on and off gives the same bytes, sources
	 * and counters; with it on, every datagram of up to TURN_HANDOFF_MAX bytes was handed over
	 * (3 per size, 6 sizes), the larger ones took the kernel. */
	struct transcript on, off;

	run_workers(&off, false);
	run_workers(&on, true);
	ck_assert_uint_eq(off.hairpinned, 0);
	ck_assert_uint_eq(on.hairpinned, 3 * 6);
	ck_assert_uint_eq(on.received, 3 * 8);
	expect_same(&on, &off);
}
END_TEST

/* Allocate for UDP with EVEN-PORT R=1 (@arg NULL), or with the RESERVATION-TOKEN @arg. */
static void add_resv(struct stun_builder *b, void *arg)
{
	stun_build_u32(b, TURN_ATTR_REQUESTED_TRANSPORT, (uint32_t)IPPROTO_UDP << 24);
	if (arg)
		stun_build_attr(b, TURN_ATTR_RESERVATION_TOKEN, arg, TURN_TOKEN_LEN);
	else
		stun_build_attr(b, TURN_ATTR_EVEN_PORT, "\x80", 1);
}

/* The XOR-RELAYED-ADDRESS of @c's last answer. */
static struct sockaddr_storage relayed_of(struct tc *c)
{
	const struct stun_attr *a = stun_msg_attr(&c->resp, TURN_ATTR_XOR_RELAYED_ADDRESS);
	struct sockaddr_storage r;

	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(stun_attr_xor_addr(&c->resp, a, &r), 0);
	return r;
}

START_TEST(test_stop_with_foreign_port)
{
	/* With two workers, an EVEN-PORT reservation made on worker 0 (a port of its pool) and
	 * redeemed by a client of worker 1: stopping the server with both allocations alive frees
	 * worker 1's relay (which returns the port to worker 0's pool) before worker 0's pool.
	 * Under AddressSanitizer this was a heap-use-after-free. */
	enum { TRIES = 40 };
	struct config cf;
	struct turn_server *s;
	struct tc *x = calloc(TRIES, sizeof(*x)), *y = calloc(TRIES, sizeof(*y));
	int n, done = 0;

	ck_assert(x && y);
	config_make(&cf, true, false);
	cf.turn.workers = 2;
	ck_assert_int_eq(turn_server_start(&s, &cf), 0);
	for (n = 0; n < TRIES && !done; n++) {
		const struct stun_attr *tok;
		struct sockaddr_storage rx, ry;

		ck_assert_int_eq(tc_open(&x[n], PORT_UDP, "a", "a"), 0);
		ck_assert_int_eq(tc_open(&y[n], PORT_UDP, "b", "b"), 0);
		ck_assert_int_eq(tc_request(&x[n], TURN_METHOD_ALLOCATE, add_resv, NULL), 0);
		rx = relayed_of(&x[n]);
		tok = stun_msg_attr(&x[n].resp, TURN_ATTR_RESERVATION_TOKEN);
		ck_assert_ptr_nonnull(tok);
		ck_assert_int_eq(tc_request(&y[n], TURN_METHOD_ALLOCATE, add_resv,
					    (void *)tok->val), 0);
		ry = relayed_of(&y[n]);
		ck_assert_uint_eq(addr_port(&ry), addr_port(&rx) + 1);
		done = owner_of(s, &rx) == 0 && owner_of(s, &ry) == 1;
	}
	ck_assert(done); /* (3/4)^40 by chance */
	turn_server_stop(s);
	for (int i = 0; i < n; i++) {
		tc_close(&x[i]);
		tc_close(&y[i]);
	}
	free(x);
	free(y);
}
END_TEST

START_TEST(test_equivalent_tcp)
{
	/* Same with B's client over TCP: B gets the same frames (ChannelData padded to 4 bytes). */
	check_equivalent(true);
}
END_TEST

START_TEST(test_peer_acl)
{
	/* The hairpin bypasses no peer check: with loopback refused as a peer (the default deny
	 * list), another allocation's relayed address on 127.0.0.1 is refused as before (403 to
	 * CreatePermission, a Send indication dropped and counted in peer_denied), and nothing is
	 * hairpinned. */
	struct config cf;
	struct turn_server *s;
	struct tc a, b;
	struct sockaddr_storage ra, rb;
	struct turn_counters k;

	config_make(&cf, true, true);
	ck_assert_int_eq(turn_server_start(&s, &cf), 0);
	ck_assert_int_eq(tc_open(&a, PORT_UDP, "a", "a"), 0);
	ck_assert_int_eq(tc_open(&b, PORT_UDP, "b", "b"), 0);
	ck_assert_int_eq(tc_allocate(&a, &ra), 0);
	ck_assert_int_eq(tc_allocate(&b, &rb), 0);
	ck_assert_int_eq(tc_permission(&a, &rb), 403);
	ck_assert_int_eq(tc_channel_bind(&a, 0x4000, &rb), 403);
	ck_assert_int_eq(tc_send_indication(&a, &rb, "x", 1), 0);
	ck_assert_uint_eq(TF_CTR_WAIT(s, peer_denied, 3), 3);
	ck_assert_int_lt(tc_recv(&b, QUIET_MS), 0);
	turn_server_counters(s, &k);
	ck_assert_uint_eq(k.hairpinned, 0);
	ck_assert_uint_eq(k.pkts_to_peer, 0);
	tc_close(&a);
	tc_close(&b);
	turn_server_stop(s);
}
END_TEST

START_TEST(test_external_ip)
{
	/* Behind a 1:1 NAT (turn.external_address 127.0.0.2 here) clients learn relayed addresses
	 * on the external IP and address each other there. The hairpin delivers what a NAT that
	 * hairpins would: B's client sees A's relayed address on the external IP, the address it
	 * gave a permission to; without a permission for it, nothing. */
	struct config cf;
	struct turn_server *s;
	struct tc a, b;
	struct sockaddr_storage ra, rb, from;
	const struct stun_attr *at;
	struct stun_msg m;
	long n;

	config_make(&cf, true, false);
	ck_assert_int_eq(addr_parse_ip("127.0.0.2", 0, &cf.turn.external_ip), 0);
	ck_assert_int_eq(turn_server_start(&s, &cf), 0);
	ck_assert_int_eq(tc_open(&a, PORT_UDP, "a", "a"), 0);
	ck_assert_int_eq(tc_open(&b, PORT_UDP, "b", "b"), 0);
	ck_assert_int_eq(tc_allocate(&a, &ra), 0);
	ck_assert_int_eq(tc_allocate(&b, &rb), 0);
	addr_parse_ip("127.0.0.2", addr_port(&ra), &from);
	ck_assert(addr_equal(&ra, &from));
	ck_assert_int_eq(tc_permission(&a, &rb), 0);
	ck_assert_int_eq(tc_send_indication(&a, &rb, "before", 6), 0);
	ck_assert_int_lt(tc_recv(&b, QUIET_MS), 0);
	ck_assert_int_eq(tc_permission(&b, &ra), 0);
	ck_assert_int_eq(tc_send_indication(&a, &rb, "through NAT", 11), 0);
	n = tc_recv(&b, 2000);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(stun_msg_parse(&m, b.rbuf, (size_t)n), 0);
	at = stun_msg_attr(&m, TURN_ATTR_XOR_PEER_ADDRESS);
	ck_assert_ptr_nonnull(at);
	ck_assert_int_eq(stun_attr_xor_addr(&m, at, &from), 0);
	ck_assert(addr_equal(&from, &ra));
	at = stun_msg_attr(&m, TURN_ATTR_DATA);
	ck_assert_ptr_nonnull(at);
	ck_assert_mem_eq(at->val, "through NAT", 11);
	ck_assert_uint_eq(TF_CTR_WAIT(s, hairpinned, 2), 2);
	tc_close(&a);
	tc_close(&b);
	turn_server_stop(s);
}
END_TEST

/* Sends @n ChannelData messages on @num from @c, each 4 bytes: its sequence number. */
static void send_burst(struct tc *c, uint16_t num, unsigned n)
{
	for (uint32_t i = 0; i < n; i++)
		ck_assert_int_eq(tc_send_channel(c, num, &i, sizeof(i)), 0);
}

/* Checks that @c receives @n ChannelData messages carrying @from, @from + 1, ... in order. */
static void expect_seq(struct tc *c, uint32_t from, unsigned n)
{
	for (uint32_t i = from; i < from + n; i++) {
		const uint8_t *data;
		uint16_t num, dlen;
		uint32_t seq;
		long len = tc_recv(c, 2000);

		ck_assert_int_gt(len, 0);
		ck_assert_int_eq(turn_channeldata_parse(c->rbuf, (size_t)len, &num, &data, &dlen), 0);
		ck_assert_uint_eq(dlen, sizeof(seq));
		memcpy(&seq, data, sizeof(seq));
		ck_assert_uint_eq(seq, i);
	}
}

START_TEST(test_burst_order)
{
	/* Batching never reorders: a burst of datagrams (read in batches, queued, sent with one
	 * sendmmsg per socket) arrives complete and in order, relay to relay through the hairpin
	 * and through the kernel (hairpin off), and from a plain peer to a client. */
	enum { N = 100 };

	for (int hairpin = 0; hairpin < 2; hairpin++) {
		struct config cf;
		struct turn_server *s;
		struct tc a, b;
		struct sockaddr_storage ra, rb, pa;
		int pfd = udp_peer(&pa);

		config_make(&cf, hairpin, false);
		ck_assert_int_eq(turn_server_start(&s, &cf), 0);
		ck_assert_int_eq(tc_open(&a, PORT_UDP, "a", "a"), 0);
		ck_assert_int_eq(tc_open(&b, PORT_UDP, "b", "b"), 0);
		ck_assert_int_eq(tc_allocate(&a, &ra), 0);
		ck_assert_int_eq(tc_allocate(&b, &rb), 0);
		ck_assert_int_eq(tc_channel_bind(&a, 0x4000, &rb), 0);
		ck_assert_int_eq(tc_channel_bind(&b, 0x4001, &ra), 0);
		ck_assert_int_eq(tc_channel_bind(&a, 0x4002, &pa), 0);
		send_burst(&a, 0x4000, N);
		expect_seq(&b, 0, N);
		send_burst(&b, 0x4001, N);
		expect_seq(&a, 0, N);
		/* A plain peer's burst to A's relayed address. */
		for (uint32_t i = 0; i < N; i++) {
			ck_assert_int_eq((int)sendto(pfd, &i, sizeof(i), 0, (struct sockaddr *)&ra,
						     addr_len(&ra)), (int)sizeof(i));
		}
		expect_seq(&a, 0, N);
		ck_assert_uint_eq(TF_CTR_WAIT(s, pkts_to_client, 3 * N), 3 * N);
		close(pfd);
		tc_close(&a);
		tc_close(&b);
		turn_server_stop(s);
	}
}
END_TEST

START_TEST(test_coalesce)
{
	/* Interrupt coalescing (turn.coalesce_us, io_coalesce): under a steady stream (here 600
	 * datagrams about 100 us apart, far above 1.5 per 1,000 us) the worker waits between
	 * rounds, and every datagram still arrives, in order; a lone datagram after a quiet spell
	 * causes no wait; with coalesce_us = 0 it never waits. */
	enum { N = 600, STEP = 50 };

	for (unsigned us = 0; us <= 1000; us += 1000) {
		struct config cf;
		struct turn_server *s;
		struct turn_counters ctr;
		struct tc a, b;
		struct sockaddr_storage ra, rb;
		uint64_t waits;
		uint32_t last = N;

		config_make(&cf, true, false);
		cf.turn.coalesce_us = us;
		ck_assert_int_eq(turn_server_start(&s, &cf), 0);
		ck_assert_int_eq(tc_open(&a, PORT_UDP, "a", "a"), 0);
		ck_assert_int_eq(tc_open(&b, PORT_UDP, "b", "b"), 0);
		ck_assert_int_eq(tc_allocate(&a, &ra), 0);
		ck_assert_int_eq(tc_allocate(&b, &rb), 0);
		ck_assert_int_eq(tc_channel_bind(&a, 0x4000, &rb), 0);
		ck_assert_int_eq(tc_channel_bind(&b, 0x4001, &ra), 0);
		for (uint32_t i = 0; i < N; i++) {
			struct timespec gap = { .tv_sec = 0, .tv_nsec = 100000 };

			ck_assert_int_eq(tc_send_channel(&a, 0x4000, &i, sizeof(i)), 0);
			nanosleep(&gap, NULL);
			if ((i + 1) % STEP == 0) /* B reads as it goes: its socket buffer is small */
				expect_seq(&b, i + 1 - STEP, STEP);
		}
		/* Quiet for longer than the rate window (1 ms) and any wait under way, then one
		 * datagram: no wait. */
		usleep(20000);
		turn_server_counters(s, &ctr);
		waits = ctr.coalesce_waits;
		if (us)
			ck_assert_uint_gt(waits, 0);
		else
			ck_assert_uint_eq(waits, 0);
		ck_assert_int_eq(tc_send_channel(&a, 0x4000, &last, sizeof(last)), 0);
		expect_seq(&b, N, 1);
		ck_assert_uint_eq(TF_CTR_WAIT(s, pkts_to_client, N + 1), N + 1);
		turn_server_counters(s, &ctr);
		ck_assert_uint_eq(ctr.coalesce_waits, waits);
		tc_close(&a);
		tc_close(&b);
		turn_server_stop(s);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("turn_hairpin");
	TCase *tc = tcase_create("turn_hairpin");
	SRunner *sr;
	int failed;

	port_base = tf_port_base(300);
	log_set_level(LOGL_WARN);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_equivalent_udp);
	tcase_add_test(tc, test_equivalent_tcp);
	tcase_add_test(tc, test_equivalent_expiry);
	tcase_add_test(tc, test_equivalent_workers);
	tcase_add_test(tc, test_stop_with_foreign_port);
	tcase_add_test(tc, test_peer_acl);
	tcase_add_test(tc, test_external_ip);
	tcase_add_test(tc, test_burst_order);
	tcase_add_test(tc, test_coalesce);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
