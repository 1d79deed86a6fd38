/*
 * libFuzzer target for TURN over TCP/TLS framing (src/turn/stream.c) and everything a stream's
 * frames reach (request.c, auth.c, alloc.c, the relay). Built and run by tests/fuzz/run.sh (target
 * "stream", seeds tests/fuzz/corpus/stream/: byte streams of STUN messages and ChannelData).
 *
 * As fuzz_turn.c, a real server is built on loopback without its worker threads
 * (turn_server_open_idle). Each input is a client's byte stream after TLS. The harness opens two
 * connections of worker 0 over socketpairs (their answers are read and dropped) and feeds the
 * stream to the first in one piece and to the second cut at arbitrary boundaries (chunk sizes
 * drawn from a generator seeded by the input's first byte), as turn_conn_feed hands bytes over
 * from the socket. STUN requests whose last transaction-id byte has bit 0 clear are signed first,
 * for each connection's address, as the static user demo (see fuzz_turn.c), so that Allocate,
 * CreatePermission, ChannelBind and the relay are reached. Then FUZZ_CHECK() asserts that the
 * cuts change nothing: both connections handled the same number of frames and both are open, or
 * both were closed. Both are closed after each input, which deletes their allocations: state stays
 * bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "turn/turn_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(c) \
	do { \
		if (!(c)) { \
			fprintf(stderr, "fuzz_stream: check failed: %s (%s:%d)\n", #c, __FILE__, \
				__LINE__); \
			abort(); \
		} \
	} while (0)

/* Room for the input with every frame signed (each grows by about 100 bytes). */
#define STREAM_MAX (1 << 20)

static struct config cfg;
static struct config_user users[] = { { .name = "demo", .password = "demo" } };
static struct cidr allow[2];
static struct turn_server *srv;
static uint8_t stream[STREAM_MAX];
static struct stun_msg in;
static unsigned inputs;

static void setup(void)
{
	log_set_level(LOGL_ERR);
	addr_parse_ip("127.0.0.1", 0, &cfg.turn.listen);
	cfg.turn.listens[0] = cfg.turn.listen;
	cfg.turn.n_listen = 1;
	addr_parse_ip("127.0.0.1", 0, &cfg.turn.relay_v4);
	addr_parse_ip("::1", 0, &cfg.turn.relay_v6);
	cfg.turn.relay_ip = cfg.turn.relay_v4;
	cfg.turn.relay_port_min = 25900; /* the unit-test range, clear of test_turn and fuzz_turn */
	cfg.turn.relay_port_max = 25963;
	strcpy(cfg.turn.realm, "fuzz");
	cred_secret_random(&cfg.turn.secret);
	cfg.turn.credential_lifetime = 600;
	cfg.turn.users = users;
	cfg.turn.n_users = 1;
	cfg.turn.workers = 1;
	cfg.turn.hairpin = true; /* the default: relay-to-relay data is handed over inside */
	cfg.turn.user_quota = 16;
	cidr_parse("127.0.0.0/8", &allow[0]);
	cidr_parse("::1", &allow[1]);
	cfg.turn.peers.allow = allow;
	cfg.turn.peers.n_allow = 2;
	if (turn_server_open_idle(&srv, &cfg)) {
		fprintf(stderr, "fuzz_stream: cannot open the server\n");
		abort();
	}
}

/* Appends request @in signed as demo for @from to @out (at most @cap bytes). Returns its
 * length, or 0 if it does not fit or cannot be built. */
static size_t sign(const struct sockaddr_storage *from, uint8_t *out, size_t cap)
{
	char nonce[TURN_NONCE_LEN + 1];
	struct stun_builder b;
	uint8_t key[16];
	size_t len = 0;

	stun_build_init(&b, out, cap, in.method, in.cls, in.tid);
	for (size_t i = 0; i < in.n_attrs; i++) {
		switch (in.attrs[i].type) {
		case STUN_ATTR_USERNAME:
		case STUN_ATTR_USERHASH:
		case STUN_ATTR_REALM:
		case STUN_ATTR_NONCE:
		case STUN_ATTR_PASSWORD_ALGORITHM:
		case STUN_ATTR_PASSWORD_ALGORITHMS:
		case STUN_ATTR_MESSAGE_INTEGRITY:
		case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
		case STUN_ATTR_FINGERPRINT:
			continue;
		default:
			stun_build_attr(&b, in.attrs[i].type, in.attrs[i].val, in.attrs[i].len);
		}
	}
	turn_nonce_make(srv, from, nonce);
	stun_build_attr(&b, STUN_ATTR_USERNAME, "demo", 4);
	stun_build_attr(&b, STUN_ATTR_REALM, "fuzz", 4);
	stun_build_attr(&b, STUN_ATTR_NONCE, nonce, TURN_NONCE_LEN);
	stun_ltc_key("demo", 4, "fuzz", 4, "demo", 4, key);
	stun_build_integrity(&b, key, sizeof(key));
	stun_build_fingerprint(&b);
	return stun_build_finish(&b, &len) || len > TURN_STREAM_FRAME_MAX ? 0 : len;
}

/* The client's stream for @from: @data with its requests signed (see the top). */
static size_t build_stream(const struct sockaddr_storage *from, const uint8_t *data, size_t size)
{
	size_t off = 0, out = 0;

	while (off < size) {
		long n = turn_stream_frame_len(data + off, size - off);
		size_t signed_len = 0;

		if (n <= 0 || (size_t)n > size - off)
			break; /* the rest as it is: broken, or a partial frame */
		if (stun_msg_parse(&in, data + off, (size_t)n) == 0 && in.cls == STUN_CLASS_REQUEST &&
		    !(in.tid[STUN_TID_LEN - 1] & 1))
			signed_len = sign(from, stream + out, STREAM_MAX - out);
		if (!signed_len) {
			memcpy(stream + out, data + off, (size_t)n);
			signed_len = (size_t)n;
		}
		out += signed_len;
		off += (size_t)n;
	}
	memcpy(stream + out, data + off, size - off);
	return out + size - off;
}

/* Reads and drops what the server sent on @fd (non-blocking). */
static void drain(int fd)
{
	uint8_t buf[65536];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* Opens a connection of worker 0 from 127.0.0.1:@port over a socketpair; the test's end in
 * @other. */
static struct turn_conn *conn_new(uint16_t port, int *other)
{
	struct sockaddr_storage peer, local;
	struct turn_conn *c;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	addr_parse_ip("127.0.0.1", port, &peer);
	addr_parse_ip("127.0.0.1", 3478, &local);
	if (turn_conn_open(&c, srv->workers[0], sv[0], &peer, &local, NULL, false))
		abort();
	*other = sv[1];
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct turn_conn *whole, *cut;
	struct sockaddr_storage from;
	uint32_t rng;
	size_t len, off;
	int fw, fc;

	if (!srv)
		setup();
	if (size < 1)
		return 0;
	rng = data[0] * 2654435761u + 1;
	data++;
	size--;

	/* In one piece. */
	whole = conn_new(41000, &fw);
	from = whole->peer;
	len = build_stream(&from, data, size);
	turn_conn_feed(whole, stream, len);
	drain(fw);

	/* Cut anywhere: mostly small pieces, sometimes single bytes, sometimes big ones. */
	cut = conn_new(41001, &fc);
	from = cut->peer;
	len = build_stream(&from, data, size);
	for (off = 0; off < len && !cut->dead;) {
		size_t n;

		rng ^= rng << 13;
		rng ^= rng >> 17;
		rng ^= rng << 5;
		n = rng % 8 == 0 ? 1 : rng % 8 == 1 ? 1 + rng % 4096 : 1 + rng % 48;
		if (n > len - off)
			n = len - off;
		turn_conn_feed(cut, stream + off, n);
		drain(fc);
		off += n;
	}

	FUZZ_CHECK(whole->dead == cut->dead);
	FUZZ_CHECK(whole->frames == cut->frames);
	FUZZ_CHECK(whole->dead || whole->in_len < whole->in_cap);
	FUZZ_CHECK(whole->in_cap <= TURN_STREAM_FRAME_MAX);
	FUZZ_CHECK(whole->out_len <= TURN_STREAM_OUT_MAX + TURN_STREAM_FRAME_MAX);

	turn_conn_close(whole);
	turn_conn_close(cut);
	close(fw);
	close(fc);
	if (++inputs % 4096 == 0)
		turn_resv_sweep(srv, true);
	return 0;
}
