/*
 * Unit tests for turn_server_reload (src/turn/reload.c): a real turn_server with several workers
 * on loopback (TURN 127.0.0.1:25700, relay ports 25710-25799: clear of test_turn's 25000-25199,
 * test_turn_hairpin's 25300-25499 and test_turn_stream's 25500-25699; TINCAN_TEST_PORT_BASE +
 * 700 otherwise), driven by turnclient.[ch]. Each test says in its first comment which behaviour it pins.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/cred.h"
#include "core/log.h"
#include "turn/turn.h"
#include "turn/turn_priv.h"
#include "turnclient.h"
#include "turnfixture.h"

static uint16_t port_base = 25700;
#define PORT port_base
#define RELAY_MIN (port_base + 10)
#define RELAY_MAX (port_base + 99)
#define N_CLIENTS 8

static struct config_user both[] = {
	{ .name = "demo", .password = "demo" },
	{ .name = "alice", .password = "wonderland" },
};
/* A loopback config with @workers workers, static users demo and alice, loopback peers allowed
 * (nothing denied), no quota and no allocation limit. */
static void config_make(struct config *c, unsigned workers)
{
	tf_config(c, PORT, RELAY_MIN, RELAY_MAX, both, 2, workers);
	c->turn.max_connections = 100;
}

static void add_lifetime(struct stun_builder *b, void *arg)
{
	stun_build_u32(b, TURN_ATTR_LIFETIME, *(const uint32_t *)arg);
}

static int refresh(struct tc *c, uint32_t lifetime)
{
	return tc_request(c, TURN_METHOD_REFRESH, add_lifetime, &lifetime);
}

/*
 * Pins: with 4 workers, a reload applies new limits to new requests on every worker while the
 * allocations made before stay and refresh: a lower turn.user_quota (486), then a
 * turn.max_allocations set where there was none (it counts the allocations made without a limit:
 * the 5th of 5 is taken, the 6th gets 508), a peer ACL that no longer allows loopback (403 on
 * CreatePermission; the existing permission still relays), and a user list without demo (401
 * for demo's new Allocate, alice still in). Each previous config is freed as soon as
 * turn_server_reload returns (a use after free shows under the sanitizers).
 */
START_TEST(test_reload_limits)
{
	struct config *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct turn_server *srv;
	struct tc c[N_CLIENTS];
	struct sockaddr_storage peer, relayed[N_CLIENTS];
	struct turn_counters k;
	int peer_fd;

	config_make(a, 4);
	ck_assert_int_eq(turn_server_start(&srv, a), 0);
	for (int i = 0; i < N_CLIENTS; i++)
		ck_assert_int_eq(tc_open(&c[i], PORT, i == 7 ? "alice" : "demo",
					 i == 7 ? "wonderland" : "demo"), 0);
	peer_fd = udp_peer(&peer);
	ck_assert_int_ge(peer_fd, 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(tc_allocate(&c[i], &relayed[i]), 0);
	ck_assert_int_eq(tc_permission(&c[0], &peer), 0);

	/* A quota of 2 for demo, who holds 4. */
	*b = *a;
	b->turn.user_quota = 2;
	ck_assert_int_eq(turn_server_reload(srv, b), 0);
	memset(a, 0x5a, sizeof(*a)); /* no worker may read it any more */
	ck_assert_int_eq(tc_allocate(&c[4], NULL), 486);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(refresh(&c[i], 600), 0);

	/* No quota, at most 5 allocations: 4 exist. */
	config_make(a, 4);
	a->turn.max_allocations = 5;
	ck_assert_int_eq(turn_server_reload(srv, a), 0);
	memset(b, 0x5a, sizeof(*b));
	ck_assert_int_eq(tc_allocate(&c[4], NULL), 0);
	ck_assert_int_eq(tc_allocate(&c[5], NULL), 508);
	turn_server_counters(srv, &k);
	ck_assert_uint_eq(k.allocations_now, 5);
	ck_assert_uint_eq(k.capacity_exceeded, 1);

	/* Loopback peers no longer allowed (the empty deny list refuses nothing else): a new
	 * permission is refused, the one made before still relays. */
	config_make(b, 4);
	b->turn.peers.n_allow = 0;
	b->turn.peers.allow = NULL;
	{
		size_t n;
		const char *const *def = peer_acl_default_deny(&n);
		static struct cidr deny[64];

		ck_assert(n <= 64);
		for (size_t i = 0; i < n; i++)
			ck_assert_int_eq(cidr_parse(def[i], &deny[i]), 0);
		b->turn.peers.deny = deny;
		b->turn.peers.n_deny = n;
	}
	ck_assert_int_eq(turn_server_reload(srv, b), 0);
	memset(a, 0x5a, sizeof(*a));
	ck_assert_int_eq(tc_permission(&c[1], &peer), 403);
	ck_assert_int_eq(sendto(peer_fd, "hello", 5, 0, (struct sockaddr *)&relayed[0],
				addr_len(&relayed[0])), 5);
	ck_assert_int_gt(tc_recv(&c[0], 2000), 0);

	/* demo is no longer a user: its new Allocate is refused, alice's is not. */
	config_make(a, 4);
	a->turn.users = &both[1];
	a->turn.n_users = 1;
	ck_assert_int_eq(turn_server_reload(srv, a), 0);
	memset(b, 0x5a, sizeof(*b));
	ck_assert_int_eq(tc_allocate(&c[6], NULL), 401);
	ck_assert_int_eq(tc_allocate(&c[7], NULL), 0);

	for (int i = 0; i < N_CLIENTS; i++)
		tc_close(&c[i]);
	close(peer_fd);
	turn_server_stop(srv);
	free(a);
	free(b);
}
END_TEST

/* Pins: bad arguments are refused, and a server without threads (turn_server_open_idle) takes
 * the new configuration at once. */
START_TEST(test_reload_args)
{
	struct config a, b;
	struct turn_server *srv;

	config_make(&a, 2);
	ck_assert_int_eq(turn_server_open_idle(&srv, &a), 0);
	ck_assert_int_eq(turn_server_reload(NULL, &a), -EINVAL);
	ck_assert_int_eq(turn_server_reload(srv, NULL), -EINVAL);
	b = a;
	ck_assert_int_eq(turn_server_reload(srv, &b), 0);
	ck_assert_ptr_eq(atomic_load(&srv->cfg), &b);
	turn_server_stop(srv);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("turn_reload");
	TCase *tc = tcase_create("turn_reload");
	SRunner *sr;
	int failed;

	port_base = tf_port_base(700);
	log_set_level(LOGL_WARN);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_reload_limits);
	tcase_add_test(tc, test_reload_args);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
