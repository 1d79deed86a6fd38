/*
 * Unit tests for TURN over TCP and TLS (src/turn/stream.c, RFC 8656 §3.1): a real turn_server on
 * loopback with its TCP listener on 127.0.0.1:25500, its TLS listener on 25501 (a self-signed
 * certificate made with tls_self_signed_create in a temporary folder) and UDP on 25502, relay
 * ports 25600-25699; other configs on 25503-25509. Driven by turnclient.[ch] over streams, with
 * plain UDP sockets as peers. Each test says in its first comment which behaviour it pins.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "core/addr.h"
#include "core/cred.h"
#include "core/log.h"
#include "core/tls.h"
#include "turn/turn.h"
#include "turn/turn_priv.h"
#include "turnclient.h"
#include "turnfixture.h"

/* Ports: offsets from TINCAN_TEST_PORT_BASE (default 25000), + 500, clear of test_turn's. */
static uint16_t port_base = 25500;
#define PORT_TCP port_base
#define PORT_TLS (port_base + 1)
#define PORT_UDP (port_base + 2)
#define PORT_LIMIT (port_base + 3)   /* max_connections, TCP; UDP on + 4 */
#define PORT_WORKERS (port_base + 5) /* 2 workers, TCP; UDP on + 6 */
#define PORT_NOCERT (port_base + 7)  /* a TLS listener without certificate; UDP on + 8 */
#define RELAY_MIN (port_base + 100)
#define RELAY_MAX (port_base + 199)
#define QUIET_MS 200

static struct config_user users[] = { { .name = "demo", .password = "demo" } };

static struct config cfg;
static struct turn_server *srv;
static struct tls_server *tls;
static char tls_dir[64];

/* A loopback config: UDP on @udp, TCP on @tcp and TLS on @tls_port (0: none), relays on
 * 127.0.0.1, user demo/demo, peers on 127.0.0.0/8 allowed. */
static void config_make(struct config *c, uint16_t udp, uint16_t tcp, uint16_t tls_port,
			unsigned workers)
{
	tf_config(c, udp, RELAY_MIN, RELAY_MAX, users, 1, workers);
	if (tcp) {
		ck_assert_int_eq(addr_parse_ip("127.0.0.1", tcp, &c->turn.tcp_listens[0]), 0);
		c->turn.n_tcp_listen = 1;
	}
	if (tls_port) {
		ck_assert_int_eq(addr_parse_ip("127.0.0.1", tls_port, &c->turn.tls_listens[0]), 0);
		c->turn.n_tls_listen = 1;
	}
}

/* The test certificate, once per process (each test runs in its own fork). */
static void tls_make(void)
{
	char cert[128], key[128], err[512];
	struct tls_options opt = { .certificate = cert, .private_key = key };

	strcpy(tls_dir, "/tmp/tincan-stream.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tls_dir));
	snprintf(cert, sizeof(cert), "%s/cert.pem", tls_dir);
	snprintf(key, sizeof(key), "%s/key.pem", tls_dir);
	ck_assert_int_eq(tls_self_signed_create(cert, key, "localhost", err, sizeof(err)), 0);
	opt.state_dir = tls_dir;
	ck_assert_msg(tls_server_new(&tls, &opt, err, sizeof(err)) == 0, "%s", err);
	unlink(cert);
	unlink(key);
	rmdir(tls_dir);
}

static void setup(void)
{
	log_set_level(LOGL_WARN);
	tls_make();
	config_make(&cfg, PORT_UDP, PORT_TCP, PORT_TLS, 1);
	ck_assert_int_eq(turn_server_start(&srv, &cfg), 0);
	turn_server_set_tls(srv, tls);
}

static void teardown(void)
{
	turn_server_stop(srv);
	srv = NULL;
	tls_server_free(tls);
	tls = NULL;
}

static struct turn_counters counters_of(struct turn_server *s)
{
	struct turn_counters c;

	turn_server_counters(s, &c);
	return c;
}

static struct turn_counters counters(void)
{
	return counters_of(srv);
}

/* Waits for a ChannelData frame on @c: channel @num, data @want, zero padding to a multiple of 4
 * (RFC 8656 §12.5). */
static void expect_channel_frame(struct tc *c, uint16_t num, const void *want, size_t want_len)
{
	const uint8_t *data;
	uint16_t got_num, dlen;
	long n = tc_recv(c, 2000);

	ck_assert_int_eq(n, (long)(TURN_CHANNELDATA_HDR + ((want_len + 3) & ~(size_t)3)));
	ck_assert_int_eq(turn_channeldata_parse(c->rbuf, (size_t)n, &got_num, &data, &dlen), 0);
	ck_assert_uint_eq(got_num, num);
	ck_assert_uint_eq(dlen, want_len);
	ck_assert_mem_eq(data, want, want_len);
	for (long i = TURN_CHANNELDATA_HDR + (long)want_len; i < n; i++)
		ck_assert_uint_eq(c->rbuf[i], 0);
}

/* A request message of @method with @tid, no attributes but FINGERPRINT, into @buf; its length. */
static size_t request_bytes(uint8_t *buf, size_t cap, uint16_t method, const uint8_t *tid)
{
	struct stun_builder b;
	size_t len;

	stun_build_init(&b, buf, cap, method, STUN_CLASS_REQUEST, tid);
	stun_build_fingerprint(&b);
	ck_assert_int_eq(stun_build_finish(&b, &len), 0);
	return len;
}

/* Waits for the answer to transaction @tid on @c; returns its class. */
static int expect_answer(struct tc *c, const uint8_t *tid)
{
	struct stun_msg m;

	for (;;) {
		long n = tc_recv(c, 2000);

		ck_assert_int_gt(n, 0);
		ck_assert_int_eq(stun_msg_parse(&m, c->rbuf, (size_t)n), 0);
		if (memcmp(m.tid, tid, STUN_TID_LEN) == 0)
			return m.cls;
	}
}

/* The relay path over one stream client (TCP or TLS): Allocate with auth, a permission and a Send
 * indication to a peer, a Data indication back, ChannelBind and padded ChannelData both ways. */
static void relay_both_ways(bool over_tls, uint16_t port)
{
	struct tc c;
	struct sockaddr_storage relayed, peer, mapped;
	const struct stun_attr *a;
	int pfd = udp_peer(&peer);
	static const char hi[] = "hello peer", back[] = "hi client", odd[] = "12345";

	ck_assert_int_ge(pfd, 0);
	ck_assert_int_eq(tc_open_stream(&c, port, over_tls, "demo", "demo"), 0);
	/* 401 first (the client has no nonce), then success with integrity. */
	ck_assert_int_eq(tc_allocate(&c, &relayed), 0);
	ck_assert_int_ge(c.resp.mi, 0);
	a = stun_msg_attr(&c.resp, STUN_ATTR_XOR_MAPPED_ADDRESS);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(stun_attr_xor_addr(&c.resp, a, &mapped), 0);
	ck_assert(addr_equal(&mapped, &c.local));
	ck_assert_uint_eq(counters().allocations_now, 1);

	ck_assert_int_eq(tc_permission(&c, &peer), 0);
	ck_assert_int_eq(tc_send_indication(&c, &peer, hi, sizeof(hi)), 0);
	tf_expect_peer_gets(pfd, &relayed, hi, sizeof(hi));
	tf_send_to(pfd, &relayed, back, sizeof(back));
	tf_expect_data_indication(&c, &peer, back, sizeof(back));

	ck_assert_int_eq(tc_channel_bind(&c, 0x4001, &peer), 0);
	ck_assert_int_eq(tc_send_channel(&c, 0x4001, odd, 5), 0); /* 5 bytes: 3 of padding */
	tf_expect_peer_gets(pfd, &relayed, odd, 5);
	ck_assert_int_eq(tc_send_channel(&c, 0x4001, hi, 8), 0); /* no padding */
	tf_expect_peer_gets(pfd, &relayed, hi, 8);
	tf_send_to(pfd, &relayed, odd, 5);
	expect_channel_frame(&c, 0x4001, odd, 5);
	tf_send_to(pfd, &relayed, back, 4);
	expect_channel_frame(&c, 0x4001, back, 4);

	/* The connection closes: its allocation goes with it, at once. */
	tc_close(&c);
	ck_assert_uint_eq(TF_CTR_WAIT(srv, allocations_now, 0), 0);
	ck_assert_uint_eq(TF_CTR_WAIT(srv, streams_now, 0), 0);
	ck_assert_uint_eq(counters().permissions_now, 0);
	ck_assert_uint_eq(counters().channels_now, 0);
	close(pfd);
}

/* ---- framing ---- */

START_TEST(test_frame_len)
{
	/* turn_stream_frame_len: STUN is 20 + length once the cookie is seen; ChannelData 4 +
	 * length padded to 4; too few bytes -> 0; another first byte, no cookie, a length not a
	 * multiple of 4 or too long -> -EBADMSG, as soon as the bytes say so. */
	uint8_t stun[8] = { 0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42 };
	uint8_t cd[4] = { 0x40, 0x00, 0x00, 0x05 };
	uint8_t big[4] = { 0x00, 0x01, 0xFF, 0xFC };

	ck_assert_int_eq(turn_stream_frame_len(stun, 0), 0);
	ck_assert_int_eq(turn_stream_frame_len(stun, 3), 0);
	ck_assert_int_eq(turn_stream_frame_len(stun, 7), 0);
	ck_assert_int_eq(turn_stream_frame_len(stun, 8), 28);
	stun[7] = 0x43;
	ck_assert_int_eq(turn_stream_frame_len(stun, 8), -EBADMSG);
	stun[7] = 0x42;
	stun[3] = 0x06;
	ck_assert_int_eq(turn_stream_frame_len(stun, 4), -EBADMSG);
	ck_assert_int_eq(turn_stream_frame_len(cd, 3), 0);
	ck_assert_int_eq(turn_stream_frame_len(cd, 4), 12);
	cd[3] = 0x08;
	ck_assert_int_eq(turn_stream_frame_len(cd, 4), 12);
	cd[2] = 0xFF;
	cd[3] = 0xFF;
	ck_assert_int_eq(turn_stream_frame_len(cd, 4), TURN_STREAM_FRAME_MAX);
	ck_assert_int_eq(turn_stream_frame_len(big, 4), -EBADMSG); /* 20 + 65532 > FRAME_MAX */
	big[2] = 0xFF;
	big[3] = 0xF0; /* 20 + 65520 = 65540: the largest STUN message taken */
	ck_assert_int_eq(turn_stream_frame_len(big, 4), 0);
	for (unsigned b = 0x80; b <= 0xFF; b++) {
		uint8_t x = (uint8_t)b;
		ck_assert_int_eq(turn_stream_frame_len(&x, 1), -EBADMSG);
	}
}
END_TEST

/* ---- TURN over TCP ---- */

START_TEST(test_tcp_binding)
{
	/* A Binding over TCP answers the client's TCP address (no credentials needed). */
	struct tc c;
	struct sockaddr_storage mapped;
	const struct stun_attr *a;

	ck_assert_int_eq(tc_open_stream(&c, PORT_TCP, false, NULL, NULL), 0);
	ck_assert_int_eq(tc_request(&c, STUN_METHOD_BINDING, NULL, NULL), 0);
	a = stun_msg_attr(&c.resp, STUN_ATTR_XOR_MAPPED_ADDRESS);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(stun_attr_xor_addr(&c.resp, a, &mapped), 0);
	ck_assert(addr_equal(&mapped, &c.local));
	ck_assert_uint_eq(counters().streams_now, 1);
	ck_assert_uint_eq(counters().streams_total, 1);
	tc_close(&c);
	ck_assert_uint_eq(TF_CTR_WAIT(srv, streams_now, 0), 0);
}
END_TEST

START_TEST(test_tcp_auth)
{
	/* Over TCP an Allocate without credentials gets 401 (REALM, NONCE), a wrong password a 401
	 * counted in auth_failures, and nothing is allocated. */
	struct tc c;

	ck_assert_int_eq(tc_open_stream(&c, PORT_TCP, false, NULL, NULL), 0);
	ck_assert_int_eq(tc_allocate(&c, NULL), 401);
	ck_assert_ptr_nonnull(stun_msg_attr(&c.resp, STUN_ATTR_NONCE));
	ck_assert_ptr_nonnull(stun_msg_attr(&c.resp, STUN_ATTR_REALM));
	tc_close(&c);
	ck_assert_int_eq(tc_open_stream(&c, PORT_TCP, false, "demo", "wrong"), 0);
	ck_assert_int_eq(tc_allocate(&c, NULL), 401);
	ck_assert_uint_eq(counters().auth_failures, 1);
	ck_assert_uint_eq(counters().allocations_now, 0);
	tc_close(&c);
}
END_TEST

START_TEST(test_tcp_relay)
{
	/* TURN over TCP relays both ways: Send/Data indications and padded ChannelData; closing the
	 * connection deletes the allocation, its permission and channel at once. */
	relay_both_ways(false, PORT_TCP);
}
END_TEST

START_TEST(test_tcp_unauth_not_limited)
{
	/* The per-source limiter of unauthenticated answers (turn.unauth_rate) holds back UDP answers
	 * past its burst, but never a stream's: a TCP client's address is proven by the handshake,
	 * and a dropped answer on a stream would never be retransmitted. */
	struct tc t, u;
	uint8_t buf[1024], tids[10][STUN_TID_LEN];
	size_t len = 0;
	int answered = 0;

	turn_server_stop(srv);
	cfg.turn.unauth_rate = 1;
	cfg.turn.unauth_burst = 2;
	ck_assert_int_eq(turn_server_start(&srv, &cfg), 0);

	ck_assert_int_eq(tc_open_stream(&t, PORT_TCP, false, NULL, NULL), 0);
	for (int i = 0; i < 10; i++) {
		tc_random_tid(tids[i]);
		len += request_bytes(buf + len, sizeof(buf) - len, STUN_METHOD_BINDING, tids[i]);
	}
	ck_assert_int_eq(tc_send_raw(&t, buf, len), 0);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(expect_answer(&t, tids[i]), STUN_CLASS_SUCCESS);
	tc_close(&t);

	/* The same ten over UDP from one address: the burst of 2 passes, most of the rest do not. */
	ck_assert_int_eq(tc_open(&u, PORT_UDP, NULL, NULL), 0);
	for (int i = 0; i < 10; i++) {
		len = request_bytes(buf, sizeof(buf), STUN_METHOD_BINDING, tids[i]);
		ck_assert_int_eq(tc_send_raw(&u, buf, len), 0);
	}
	while (tc_recv(&u, 300) > 0)
		answered++;
	ck_assert_int_ge(answered, 2);
	ck_assert_int_lt(answered, 10);
	ck_assert_uint_ge(counters().unauth_dropped, 1);
	tc_close(&u);
}
END_TEST

START_TEST(test_tcp_many_frames_one_write)
{
	/* Several frames in one write are all handled in order: a Binding, ChannelData (padded), a
	 * Send indication and another Binding, sent as one TCP segment. */
	struct tc c;
	struct sockaddr_storage relayed, peer;
	int pfd = udp_peer(&peer);
	uint8_t buf[512], tid1[STUN_TID_LEN], tid2[STUN_TID_LEN], itid[STUN_TID_LEN];
	struct stun_builder b;
	size_t len = 0, n;

	ck_assert_int_eq(tc_open_stream(&c, PORT_TCP, false, "demo", "demo"), 0);
	ck_assert_int_eq(tc_allocate(&c, &relayed), 0);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4000, &peer), 0);

	tc_random_tid(tid1);
	tc_random_tid(tid2);
	tc_random_tid(itid);
	len += request_bytes(buf + len, sizeof(buf) - len, STUN_METHOD_BINDING, tid1);
	turn_channeldata_header(buf + len, 0x4000, 3);
	memcpy(buf + len + 4, "abc\0", 4);
	len += 8;
	stun_build_init(&b, buf + len, sizeof(buf) - len, TURN_METHOD_SEND, STUN_CLASS_INDICATION,
			itid);
	stun_build_xor_addr(&b, TURN_ATTR_XOR_PEER_ADDRESS, &peer);
	stun_build_attr(&b, TURN_ATTR_DATA, "defg", 4);
	ck_assert_int_eq(stun_build_finish(&b, &n), 0);
	len += n;
	len += request_bytes(buf + len, sizeof(buf) - len, STUN_METHOD_BINDING, tid2);
	ck_assert_int_eq(tc_send_raw(&c, buf, len), 0);

	ck_assert_int_eq(expect_answer(&c, tid1), STUN_CLASS_SUCCESS);
	ck_assert_int_eq(expect_answer(&c, tid2), STUN_CLASS_SUCCESS);
	tf_expect_peer_gets(pfd, &relayed, "abc", 3);
	tf_expect_peer_gets(pfd, &relayed, "defg", 4);
	tc_close(&c);
	close(pfd);
}
END_TEST

START_TEST(test_tcp_split_bytes)
{
	/* A frame arriving one byte at a time (each byte its own segment) is put together: an
	 * authenticated Allocate, then a ChannelBind and a ChannelData split the same way. */
	struct tc c;
	struct sockaddr_storage relayed, peer;
	int pfd = udp_peer(&peer);
	uint8_t frame[64];
	uint8_t tid[STUN_TID_LEN];
	size_t len;

	/* A request that is not answered before its last byte: a Binding. */
	ck_assert_int_eq(tc_open_stream(&c, PORT_TCP, false, "demo", "demo"), 0);
	tc_random_tid(tid);
	len = request_bytes(frame, sizeof(frame), STUN_METHOD_BINDING, tid);
	for (size_t i = 0; i < len; i++) {
		ck_assert_int_eq(tc_send_raw(&c, frame + i, 1), 0);
		usleep(2000);
		if (i + 1 < len)
			ck_assert_int_eq(tc_recv(&c, 0), -ETIMEDOUT);
	}
	ck_assert_int_eq(expect_answer(&c, tid), STUN_CLASS_SUCCESS);

	/* ChannelData byte by byte. */
	ck_assert_int_eq(tc_allocate(&c, &relayed), 0);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4002, &peer), 0);
	turn_channeldata_header(frame, 0x4002, 6);
	memcpy(frame + 4, "sliced\0\0", 8);
	for (size_t i = 0; i < 12; i++) {
		ck_assert_int_eq(tc_send_raw(&c, frame + i, 1), 0);
		usleep(2000);
	}
	tf_expect_peer_gets(pfd, &relayed, "sliced", 6);
	ck_assert_uint_eq(counters().malformed, 0);
	tc_close(&c);
	close(pfd);
}
END_TEST

START_TEST(test_tcp_garbage_closes)
{
	/* Bytes that can never be a frame close the connection and are counted in malformed: a
	 * first byte 0x80-0xFF, a STUN header without the magic cookie; so does a broken frame
	 * behind good ones (after they are answered). */
	static const uint8_t junk[] = { 0xFF, 0x00, 0x00, 0x00 };
	static const uint8_t nocookie[] = { 0x00, 0x01, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef,
					    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	uint8_t buf[64], tid[STUN_TID_LEN];
	struct tc c;
	size_t len;

	ck_assert_int_eq(tc_open_stream(&c, PORT_TCP, false, NULL, NULL), 0);
	ck_assert_int_eq(tc_send_raw(&c, junk, sizeof(junk)), 0);
	ck_assert(tc_closed_by_server(&c, 2000));
	tc_close(&c);
	ck_assert_uint_eq(TF_CTR_WAIT(srv, malformed, 1), 1);

	ck_assert_int_eq(tc_open_stream(&c, PORT_TCP, false, NULL, NULL), 0);
	ck_assert_int_eq(tc_send_raw(&c, nocookie, sizeof(nocookie)), 0);
	ck_assert(tc_closed_by_server(&c, 2000));
	tc_close(&c);
	ck_assert_uint_eq(TF_CTR_WAIT(srv, malformed, 2), 2);

	ck_assert_int_eq(tc_open_stream(&c, PORT_TCP, false, NULL, NULL), 0);
	tc_random_tid(tid);
	len = request_bytes(buf, sizeof(buf), STUN_METHOD_BINDING, tid);
	buf[len++] = 0x80;
	ck_assert_int_eq(tc_send_raw(&c, buf, len), 0);
	ck_assert_int_eq(expect_answer(&c, tid), STUN_CLASS_SUCCESS);
	ck_assert(tc_closed_by_server(&c, 2000));
	tc_close(&c);
	ck_assert_uint_eq(TF_CTR_WAIT(srv, streams_now, 0), 0);
}
END_TEST

START_TEST(test_tcp_oversize_closes)
{
	/* A STUN header announcing more than TURN_STREAM_FRAME_MAX bytes, or a length that is not a
	 * multiple of 4, closes the connection at once: the server does not wait for the body. */
	static const uint8_t big[] = { 0x00, 0x16, 0xFF, 0xFC, 0x21, 0x12, 0xA4, 0x42 };
	static const uint8_t odd[] = { 0x00, 0x16, 0x00, 0x05, 0x21, 0x12, 0xA4, 0x42 };
	struct tc c;

	ck_assert_int_eq(tc_open_stream(&c, PORT_TCP, false, NULL, NULL), 0);
	ck_assert_int_eq(tc_send_raw(&c, big, sizeof(big)), 0);
	ck_assert(tc_closed_by_server(&c, 2000));
	tc_close(&c);
	ck_assert_int_eq(tc_open_stream(&c, PORT_TCP, false, NULL, NULL), 0);
	ck_assert_int_eq(tc_send_raw(&c, odd, sizeof(odd)), 0);
	ck_assert(tc_closed_by_server(&c, 2000));
	tc_close(&c);
	ck_assert_uint_eq(TF_CTR_WAIT(srv, malformed, 2), 2);
}
END_TEST

START_TEST(test_tcp_big_frame)
{
	/* A frame bigger than the initial input buffer (a 20000-byte Send indication) grows the
	 * buffer and is relayed whole; one of 65000 bytes of ChannelData too. */
	static uint8_t data[65000];
	static uint8_t frame[65000 + 8];
	struct tc c;
	struct sockaddr_storage relayed, peer;
	int pfd = udp_peer(&peer);
	static uint8_t got[65536];
	long n;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	ck_assert_int_eq(tc_open_stream(&c, PORT_TCP, false, "demo", "demo"), 0);
	ck_assert_int_eq(tc_allocate(&c, &relayed), 0);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4000, &peer), 0);
	{
		uint8_t tid[STUN_TID_LEN];
		struct stun_builder b;
		size_t len;

		tc_random_tid(tid);
		stun_build_init(&b, frame, sizeof(frame), TURN_METHOD_SEND, STUN_CLASS_INDICATION,
				tid);
		stun_build_xor_addr(&b, TURN_ATTR_XOR_PEER_ADDRESS, &peer);
		stun_build_attr(&b, TURN_ATTR_DATA, data, 20000);
		ck_assert_int_eq(stun_build_finish(&b, &len), 0);
		ck_assert_int_eq(tc_send_raw(&c, frame, len), 0);
	}
	n = udp_recv(pfd, got, sizeof(got), NULL, 2000);
	ck_assert_int_eq(n, 20000);
	ck_assert_mem_eq(got, data, 20000);

	turn_channeldata_header(frame, 0x4000, 65000);
	memcpy(frame + 4, data, 65000);
	ck_assert_int_eq(tc_send_raw(&c, frame, 65004), 0);
	n = udp_recv(pfd, got, sizeof(got), NULL, 2000);
	ck_assert_int_eq(n, 65000);
	ck_assert_mem_eq(got, data, 65000);
	tc_close(&c);
	close(pfd);
}
END_TEST

static void add_lifetime_zero(struct stun_builder *b, void *arg)
{
	stun_build_u32(b, TURN_ATTR_LIFETIME, 0);
}

START_TEST(test_tcp_refresh_zero_keeps_connection)
{
	/* One allocation per connection (a second Allocate: 437). Refresh with LIFETIME 0 deletes
	 * it but not the connection: the client may allocate again on it. */
	struct tc c;
	struct sockaddr_storage r1, r2;

	ck_assert_int_eq(tc_open_stream(&c, PORT_TCP, false, "demo", "demo"), 0);
	ck_assert_int_eq(tc_allocate(&c, &r1), 0);
	ck_assert_int_eq(tc_allocate(&c, NULL), 437);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_REFRESH, add_lifetime_zero, NULL), 0);
	ck_assert_uint_eq(TF_CTR_WAIT(srv, allocations_now, 0), 0);
	ck_assert_int_eq(tc_request(&c, STUN_METHOD_BINDING, NULL, NULL), 0);
	ck_assert_uint_eq(counters().streams_now, 1);
	ck_assert_int_eq(tc_allocate(&c, &r2), 0);
	ck_assert_uint_eq(counters().allocations_now, 1);
	ck_assert_uint_eq(counters().allocations_total, 2);
	tc_close(&c);
	ck_assert_uint_eq(TF_CTR_WAIT(srv, allocations_now, 0), 0);
}
END_TEST

START_TEST(test_tcp_idle_timeout)
{
	/* A connection without an allocation is closed after the idle time (1 s here, 30 s in
	 * production); one with an allocation stays, and its idle time starts when it goes. */
	struct tc idle, busy;

	turn_server_set_stream_idle(srv, 1);
	ck_assert_int_eq(tc_open_stream(&idle, PORT_TCP, false, NULL, NULL), 0);
	ck_assert_int_eq(tc_open_stream(&busy, PORT_TCP, false, "demo", "demo"), 0);
	ck_assert_int_eq(tc_allocate(&busy, NULL), 0);
	ck_assert(tc_closed_by_server(&idle, 3000));
	ck_assert(!tc_closed_by_server(&busy, 1500));
	ck_assert_int_eq(tc_request(&busy, STUN_METHOD_BINDING, NULL, NULL), 0);
	tc_close(&idle);
	tc_close(&busy);
}
END_TEST

START_TEST(test_tcp_max_connections)
{
	/* Past turn.max_connections a new connection is closed at once and counted in
	 * streams_refused; the ones already open keep working. */
	struct config lim;
	struct turn_server *s;
	struct tc c[4];

	config_make(&lim, PORT_LIMIT + 1, PORT_LIMIT, 0, 1);
	lim.turn.max_connections = 3;
	ck_assert_int_eq(turn_server_start(&s, &lim), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(tc_open_stream(&c[i], PORT_LIMIT, false, NULL, NULL), 0);
		ck_assert_int_eq(tc_request(&c[i], STUN_METHOD_BINDING, NULL, NULL), 0);
	}
	ck_assert_int_eq(tc_open_stream(&c[3], PORT_LIMIT, false, NULL, NULL), 0);
	ck_assert(tc_closed_by_server(&c[3], 2000));
	ck_assert_uint_eq(counters_of(s).streams_refused, 1);
	ck_assert_uint_eq(counters_of(s).streams_now, 3);
	ck_assert_int_eq(tc_request(&c[0], STUN_METHOD_BINDING, NULL, NULL), 0);
	/* One closes: the slot is free again. */
	tc_close(&c[0]);
	tc_close(&c[3]);
	ck_assert_uint_eq(TF_CTR_WAIT(s, streams_now, 2), 2);
	ck_assert_int_eq(tc_open_stream(&c[0], PORT_LIMIT, false, NULL, NULL), 0);
	ck_assert_int_eq(tc_request(&c[0], STUN_METHOD_BINDING, NULL, NULL), 0);
	for (int i = 0; i < 3; i++)
		tc_close(&c[i]);
	turn_server_stop(s);
}
END_TEST

/* A client that does not read: once TURN_STREAM_OUT_SOFT bytes wait for it, data from its peer is
 * dropped and counted in stream_dropped, as UDP would lose it; the connection stays, and what it
 * then reads are whole ChannelData frames in order (none cut), and answers. Over TLS this also
 * retries SSL_write from a moved and grown output buffer. */
static void slow_reader(bool over_tls, uint16_t port)
{
	struct tc c;
	struct sockaddr_storage relayed, peer;
	int pfd = udp_peer(&peer), small = 4096; /* the client's receive buffer: fills fast */
	uint8_t pkt[1000] = { 0 };
	uint32_t sent = 0, last = 0, got = 0;

	ck_assert_int_eq(tc_open_stream(&c, port, over_tls, "demo", "demo"), 0);
	ck_assert_int_eq(setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	ck_assert_int_eq(tc_allocate(&c, &relayed), 0);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4000, &peer), 0);
	while (counters().stream_dropped == 0 && sent < 60000) {
		for (int i = 0; i < 200; i++) {
			sent++;
			memcpy(pkt, &sent, sizeof(sent));
			tf_send_to(pfd, &relayed, pkt, sizeof(pkt));
		}
		usleep(1000);
	}
	ck_assert_uint_gt(counters().stream_dropped, 0);
	/* Drain (with a window that lets it go fast): whole frames, increasing sequence numbers. */
	small = 4 * 1024 * 1024;
	ck_assert_int_eq(setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	for (;;) {
		uint32_t seq;
		long n = tc_recv(&c, 500);

		if (n == -ETIMEDOUT)
			break;
		ck_assert_int_eq(n, 4 + (long)sizeof(pkt));
		ck_assert_uint_eq(c.rbuf[0], 0x40);
		memcpy(&seq, c.rbuf + 4, sizeof(seq));
		ck_assert_uint_gt(seq, last);
		last = seq;
		got++;
	}
	ck_assert_uint_gt(got, 0);
	ck_assert_uint_lt(got, sent);
	ck_assert_int_eq(tc_request(&c, STUN_METHOD_BINDING, NULL, NULL), 0);
	ck_assert_uint_eq(counters().streams_now, 1);
	tc_close(&c);
	close(pfd);
}

START_TEST(test_tcp_slow_reader)
{
	/* See slow_reader(): over TCP. */
	slow_reader(false, PORT_TCP);
}
END_TEST

START_TEST(test_tls_slow_reader)
{
	/* See slow_reader(): over TLS. */
	slow_reader(true, PORT_TLS);
}
END_TEST

START_TEST(test_tcp_workers)
{
	/* With 2 workers each gets its own TCP listening socket (SO_REUSEPORT): every client
	 * allocates and relays through the worker that accepted it. */
	struct config two;
	struct turn_server *s;
	struct tc c[6];
	struct sockaddr_storage relayed, peer;
	int pfd = udp_peer(&peer);

	config_make(&two, PORT_WORKERS + 1, PORT_WORKERS, 0, 2);
	ck_assert_int_eq(turn_server_start(&s, &two), 0);
	ck_assert_uint_eq(addr_port(&s->workers[1]->acc[0].local), PORT_WORKERS);
	for (int i = 0; i < 6; i++) {
		char msg[16];

		snprintf(msg, sizeof(msg), "client %d", i);
		ck_assert_int_eq(tc_open_stream(&c[i], PORT_WORKERS, false, "demo", "demo"), 0);
		ck_assert_int_eq(tc_allocate(&c[i], &relayed), 0);
		ck_assert_int_eq(tc_channel_bind(&c[i], 0x4000, &peer), 0);
		ck_assert_int_eq(tc_send_channel(&c[i], 0x4000, msg, strlen(msg)), 0);
		tf_expect_peer_gets(pfd, &relayed, msg, strlen(msg));
		tf_send_to(pfd, &relayed, msg, strlen(msg));
		expect_channel_frame(&c[i], 0x4000, msg, strlen(msg));
	}
	ck_assert_uint_eq(counters_of(s).allocations_now, 6);
	for (int i = 0; i < 6; i++)
		tc_close(&c[i]);
	ck_assert_uint_eq(TF_CTR_WAIT(s, allocations_now, 0), 0);
	close(pfd);
	turn_server_stop(s);
}
END_TEST

/* ---- TURN over TLS ---- */

START_TEST(test_tls_relay)
{
	/* TURN over TLS: the same relay path as TCP (auth, indications, padded ChannelData both
	 * ways), and closing deletes the allocation. */
	relay_both_ways(true, PORT_TLS);
	ck_assert_uint_eq(counters().streams_total, 1);
}
END_TEST

START_TEST(test_tls_version)
{
	/* TLS 1.2 or later only: a client that offers at most TLS 1.1 fails its handshake; a
	 * TLS 1.3 client gets TLS 1.3. */
	struct tc c;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	int fd;

	ck_assert_int_eq(tc_open_stream(&c, PORT_TLS, true, NULL, NULL), 0);
	ck_assert_int_eq(SSL_version(c.ssl), TLS1_3_VERSION);
	ck_assert_int_eq(tc_request(&c, STUN_METHOD_BINDING, NULL, NULL), 0);
	tc_close(&c);

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&(struct sockaddr_in){
		.sin_family = AF_INET, .sin_port = htons(PORT_TLS),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) }, sizeof(struct sockaddr_in)), 0);
	SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION);
	SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	ck_assert_int_ne(SSL_connect(ssl), 1);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
}
END_TEST

START_TEST(test_tls_no_certificate)
{
	/* A TLS listener whose server was given no certificate (turn_server_set_tls) closes each
	 * connection at once: the client's handshake fails, nothing is left open. */
	struct config nc;
	struct turn_server *s;
	struct tc c;

	config_make(&nc, PORT_NOCERT + 1, 0, PORT_NOCERT, 1);
	ck_assert_int_eq(turn_server_start(&s, &nc), 0);
	ck_assert_int_eq(tc_open_stream(&c, PORT_NOCERT, true, NULL, NULL), -EPROTO);
	ck_assert_uint_eq(counters_of(s).streams_now, 0);
	turn_server_stop(s);
}
END_TEST

/* ---- turn_server_adopt_stream ---- */

/* A TCP listening socket on 127.0.0.1 (ephemeral port): the shared port's stand-in. */
static int listener(uint16_t *port)
{
	struct sockaddr_storage a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(addr_parse_ip("127.0.0.1", 0, &a), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, addr_len(&a)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = addr_port(&a);
	return fd;
}

/* The server side of one accepted connection, as the shared port would hold it. */
struct accepted {
	int lfd;
	int fd;
	bool tls;
	SSL *ssl;
	struct sockaddr_storage peer, local;
};

static void *accept_main(void *arg)
{
	struct accepted *a = arg;
	socklen_t plen = sizeof(a->peer), llen = sizeof(a->local);

	a->fd = accept(a->lfd, (struct sockaddr *)&a->peer, &plen);
	if (a->fd < 0 || getsockname(a->fd, (struct sockaddr *)&a->local, &llen) < 0)
		return NULL;
	if (a->tls) {
		SSL_CTX *ctx = tls_server_ctx(tls);

		a->ssl = SSL_new(ctx);
		SSL_CTX_free(ctx);
		SSL_set_fd(a->ssl, a->fd);
		if (SSL_accept(a->ssl) != 1) {
			SSL_free(a->ssl);
			a->ssl = NULL;
		}
	}
	return NULL;
}

/* Connects client @c to a listener of the test's and accepts the connection into @a (the TLS
 * handshake done on both sides when @over_tls). */
static void connect_pair(struct tc *c, struct accepted *a, bool over_tls)
{
	pthread_t t;
	uint16_t port;

	memset(a, 0, sizeof(*a));
	a->lfd = listener(&port);
	a->tls = over_tls;
	ck_assert_int_eq(pthread_create(&t, NULL, accept_main, a), 0);
	ck_assert_int_eq(tc_open_stream(c, port, over_tls, "demo", "demo"), 0);
	pthread_join(t, NULL);
	close(a->lfd);
	ck_assert_int_ge(a->fd, 0);
	ck_assert(!over_tls || a->ssl);
}

static void nonblocking(int fd)
{
	ck_assert_int_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

START_TEST(test_adopt_tcp)
{
	/* A TCP connection handed over with the bytes already read from it (a whole Binding and
	 * the first 10 bytes of a second one) is served as if they had just arrived: the rest of the
	 * second request completes it, and the client allocates and relays on it; closing it
	 * deletes the allocation. */
	struct tc c;
	struct accepted a;
	struct sockaddr_storage relayed, peer;
	int pfd = udp_peer(&peer);
	uint8_t buf[128], got[128], tid1[STUN_TID_LEN], tid2[STUN_TID_LEN];
	size_t l1, l2, n = 0;

	connect_pair(&c, &a, false);
	tc_random_tid(tid1);
	tc_random_tid(tid2);
	l1 = request_bytes(buf, sizeof(buf), STUN_METHOD_BINDING, tid1);
	l2 = request_bytes(buf + l1, sizeof(buf) - l1, STUN_METHOD_BINDING, tid2);
	ck_assert_int_eq(tc_send_raw(&c, buf, l1 + 10), 0);
	while (n < l1 + 10) {
		ssize_t r = recv(a.fd, got + n, sizeof(got) - n, 0);

		ck_assert_int_gt(r, 0);
		n += (size_t)r;
	}
	ck_assert_uint_eq(n, l1 + 10);
	nonblocking(a.fd);
	ck_assert_int_eq(turn_server_adopt_stream(srv, a.fd, &a.peer, &a.local, NULL, got, n), 0);
	ck_assert_int_eq(expect_answer(&c, tid1), STUN_CLASS_SUCCESS);
	ck_assert_int_eq(tc_send_raw(&c, buf + l1 + 10, l2 - 10), 0);
	ck_assert_int_eq(expect_answer(&c, tid2), STUN_CLASS_SUCCESS);

	ck_assert_int_eq(tc_allocate(&c, &relayed), 0);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4000, &peer), 0);
	ck_assert_int_eq(tc_send_channel(&c, 0x4000, "adopted", 7), 0);
	tf_expect_peer_gets(pfd, &relayed, "adopted", 7);
	tf_send_to(pfd, &relayed, "back", 4);
	expect_channel_frame(&c, 0x4000, "back", 4);
	ck_assert_uint_eq(counters().streams_now, 1);
	tc_close(&c);
	ck_assert_uint_eq(TF_CTR_WAIT(srv, allocations_now, 0), 0);
	ck_assert_uint_eq(TF_CTR_WAIT(srv, streams_now, 0), 0);
	close(pfd);
}
END_TEST

START_TEST(test_adopt_tls)
{
	/* A TLS connection handed over after its handshake, with 10 decrypted bytes already read
	 * and the rest of the record (the end of one Binding and a whole second one) still inside
	 * the SSL, where epoll cannot see it: both are answered without the client sending more.
	 * Then the client allocates and relays over it. */
	struct tc c;
	struct accepted a;
	struct sockaddr_storage relayed, peer;
	int pfd = udp_peer(&peer);
	uint8_t buf[128], got[16], tid1[STUN_TID_LEN], tid2[STUN_TID_LEN];
	size_t len;

	connect_pair(&c, &a, true);
	tc_random_tid(tid1);
	tc_random_tid(tid2);
	len = request_bytes(buf, sizeof(buf), STUN_METHOD_BINDING, tid1);
	len += request_bytes(buf + len, sizeof(buf) - len, STUN_METHOD_BINDING, tid2);
	ck_assert_int_eq(tc_send_raw(&c, buf, len), 0); /* one SSL_write: one record */
	ck_assert_int_eq(SSL_read(a.ssl, got, 10), 10);
	ck_assert_int_gt(SSL_pending(a.ssl), 0);
	nonblocking(a.fd);
	ck_assert_int_eq(turn_server_adopt_stream(srv, a.fd, &a.peer, &a.local, a.ssl, got, 10), 0);
	ck_assert_int_eq(expect_answer(&c, tid1), STUN_CLASS_SUCCESS);
	ck_assert_int_eq(expect_answer(&c, tid2), STUN_CLASS_SUCCESS);

	ck_assert_int_eq(tc_allocate(&c, &relayed), 0);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4000, &peer), 0);
	ck_assert_int_eq(tc_send_channel(&c, 0x4000, "secret", 6), 0);
	tf_expect_peer_gets(pfd, &relayed, "secret", 6);
	tf_send_to(pfd, &relayed, "reply", 5);
	expect_channel_frame(&c, 0x4000, "reply", 5);
	tc_close(&c);
	ck_assert_uint_eq(TF_CTR_WAIT(srv, allocations_now, 0), 0);
	ck_assert_uint_eq(TF_CTR_WAIT(srv, streams_now, 0), 0);
	close(pfd);
}
END_TEST

START_TEST(test_adopt_errors)
{
	/* turn_server_adopt_stream takes the descriptor even when it fails: a bad argument is
	 * -EINVAL and the socket is closed, so the other end of the pair reads end of file. (Not
	 * fcntl on the number: the server's threads may reuse it at once for a socket of theirs.) */
	struct sockaddr_storage a;
	uint8_t b;

	addr_parse_ip("127.0.0.1", 1, &a);
	for (int i = 0; i < 2; i++) {
		int sv[2];

		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		ck_assert_int_eq(i == 0 ? turn_server_adopt_stream(srv, sv[0], NULL, &a, NULL, NULL, 0) :
				 turn_server_adopt_stream(srv, sv[0], &a, &a, NULL, NULL, 5), -EINVAL);
		ck_assert_int_eq(recv(sv[1], &b, 1, MSG_DONTWAIT), 0);
		close(sv[1]);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("turn_stream");
	TCase *tc = tcase_create("turn_stream");
	SRunner *sr;
	int failed;

	/* OpenSSL writes to sockets with write(): a peer that is gone must not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	port_base = tf_port_base(500);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_frame_len);
	tcase_add_test(tc, test_tcp_binding);
	tcase_add_test(tc, test_tcp_auth);
	tcase_add_test(tc, test_tcp_relay);
	tcase_add_test(tc, test_tcp_many_frames_one_write);
	tcase_add_test(tc, test_tcp_split_bytes);
	tcase_add_test(tc, test_tcp_garbage_closes);
	tcase_add_test(tc, test_tcp_oversize_closes);
	tcase_add_test(tc, test_tcp_big_frame);
	tcase_add_test(tc, test_tcp_refresh_zero_keeps_connection);
	tcase_add_test(tc, test_tcp_idle_timeout);
	tcase_add_test(tc, test_tcp_max_connections);
	tcase_add_test(tc, test_tcp_slow_reader);
	tcase_add_test(tc, test_tcp_workers);
	tcase_add_test(tc, test_tls_relay);
	tcase_add_test(tc, test_tls_slow_reader);
	tcase_add_test(tc, test_tls_version);
	tcase_add_test(tc, test_tls_no_certificate);
	tcase_add_test(tc, test_adopt_tcp);
	tcase_add_test(tc, test_adopt_tls);
	tcase_add_test(tc, test_adopt_errors);
	tcase_add_test(tc, test_tcp_unauth_not_limited);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
