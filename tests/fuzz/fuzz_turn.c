/*
 * libFuzzer target for the TURN request handler (src/turn/request.c, auth.c, alloc.c and the
 * client -> peer relay of server.c). Built and run by tests/fuzz/run.sh (target "turn", seeds
 * shared with "stun": tests/fuzz/corpus/stun/).
 *
 * No datagram comes from a socket: a real server is built on loopback without its worker threads
 * (turn_server_open_idle), and each input is handed to turn_datagram_handle() as if worker 0's
 * listener had received it. Answers and relayed data do go out of real sockets, to loopback
 * addresses nobody listens on.
 *
 * An input is one datagram. For a STUN request, bit 0 of the last transaction-id byte chooses:
 * clear -> the harness signs it first, as the static user demo with a valid nonce for the sender
 * (its own USERNAME, USERHASH, REALM, NONCE, PASSWORD-ALGORITHM(S), integrity and FINGERPRINT are
 * replaced), so that every method handler is reached with any attributes; set -> as it is, which
 * exercises the unauthenticated paths. Bits 1-3 pick one of 8 client addresses (so allocations of
 * several 5-tuples meet), as the length does for ChannelData. Every 4096 inputs the allocations
 * are freed, so state stays bounded and ports come back.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "turn/turn_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config cfg;
static struct config_user users[] = { { .name = "demo", .password = "demo" } };
static struct cidr allow[2];
static struct turn_server *srv;
static struct turn_listener *lis;
static uint8_t signed_buf[65536 + 512];
static struct stun_msg in;
static unsigned inputs;

static void setup(void)
{
	log_set_level(LOGL_ERR);
	addr_parse_ip("127.0.0.1", 0, &cfg.turn.listen); /* an ephemeral port */
	cfg.turn.listens[0] = cfg.turn.listen;
	cfg.turn.n_listen = 1;
	addr_parse_ip("127.0.0.1", 0, &cfg.turn.relay_v4);
	addr_parse_ip("::1", 0, &cfg.turn.relay_v6);
	cfg.turn.relay_ip = cfg.turn.relay_v4;
	cfg.turn.relay_port_min = 25800; /* the unit-test range, clear of test_turn */
	cfg.turn.relay_port_max = 25863;
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
		fprintf(stderr, "fuzz_turn: cannot open the server\n");
		abort();
	}
	lis = &srv->workers[0]->lis[0];
}

/* Rebuilds request @in signed as demo for @from into signed_buf. Returns its length, or 0. */
static size_t sign(const struct sockaddr_storage *from)
{
	char nonce[TURN_NONCE_LEN + 1];
	struct stun_builder b;
	uint8_t key[16];
	size_t len = 0;

	stun_build_init(&b, signed_buf, sizeof(signed_buf), in.method, in.cls, in.tid);
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
	return stun_build_finish(&b, &len) ? 0 : len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage from;
	unsigned pick = (unsigned)size;

	if (!srv)
		setup();

	/* Which client, and whether to sign. */
	if (stun_msg_parse(&in, data, size) == 0) {
		pick = in.tid[STUN_TID_LEN - 1];
		if (in.cls == STUN_CLASS_REQUEST && !(pick & 1)) {
			size_t n;

			addr_parse_ip("127.0.0.1", (uint16_t)(40000 + (pick >> 1 & 7)), &from);
			n = sign(&from);
			if (n) {
				data = signed_buf;
				size = n;
			}
		}
	}
	addr_parse_ip("127.0.0.1", (uint16_t)(40000 + (pick >> 1 & 7)), &from);
	turn_datagram_handle(lis, &from, data, size);

	/* Bounded state: free every allocation now and then. */
	if (++inputs % 4096 == 0) {
		struct turn_alloc *al, *tmp;

		HASH_ITER(hh, lis->w->allocs, al, tmp)
			turn_alloc_destroy(al);
		turn_resv_sweep(srv, true);
	}
	return 0;
}
