/*
 * Unit tests for src/turn/: a real turn_server on loopback (TURN 127.0.0.1:25000, relay ports
 * 25100-25199; other configs on 25001-25011, relay ports from 25200) driven by the small client
 * in turnclient.[ch], with plain UDP sockets as peers. Each test says in its first comment which
 * behaviour it pins.
 */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/addr.h"
#include "core/cred.h"
#include "core/log.h"
#include "turn/turn.h"
#include "turn/turn_priv.h"
#include "turnclient.h"
#include "turnfixture.h"

/* Ports are offsets from a base, 25000 unless TINCAN_TEST_PORT_BASE says otherwise (so that two
 * checkouts can run the suite at once); the relay ports are base + 100..199. */
static uint16_t port_base = 25000;
#define PORT port_base
#define PORT_DENY (port_base + 1)
#define PORT_SMALL (port_base + 2)
#define PORT_WORKERS (port_base + 3)
#define PORT_LIMIT (port_base + 4)
#define PORT_TUNNEL (port_base + 5)
#define PORT_SELF (port_base + 6)
#define PORT_V6 (port_base + 7)
#define PORT_QUOTA (port_base + 8)
#define PORT_BW (port_base + 9)
#define PORT_REVOKE (port_base + 10)
#define PORT_SPARE (port_base + 11)
#define RELAY_MIN (port_base + 100)
#define RELAY_MAX (port_base + 199)
/* The relay ports of the tests' own small servers, apart from the main server's: its spare
 * relay sockets hold a few random ports of [RELAY_MIN, RELAY_MAX]. */
#define RELAY_ALT (port_base + 200)
#define QUIET_MS 200 /* how long "nothing arrives" is waited for */

static struct config_user users[] = {
	{ .name = "demo", .password = "demo" },
	{ .name = "alice", .password = "wonderland" },
};

static struct config cfg;
static struct turn_server *srv;

/* A loopback config: TURN on 127.0.0.1:@port, relays on 127.0.0.1 [@pmin, @pmax] (IPv4 only),
 * static users demo/demo and alice/wonderland, a random REST secret; peers on 127.0.0.0/8 and ::1
 * allowed unless @deny_loopback, then only the default deny list applies (which refuses
 * loopback). */
static void config_make(struct config *c, uint16_t port, uint16_t pmin, uint16_t pmax,
			bool deny_loopback, unsigned workers)
{
	tf_config(c, port, pmin, pmax, users, sizeof(users) / sizeof(users[0]), workers);
	ck_assert_int_eq(addr_parse_ip("127.0.0.1", 0, &c->turn.external_ip), 0);
	tf_config_deny_default(c, deny_loopback);
}

/* config_make, plus the IPv6 relay address ::1 and the listen addresses @more (strings) after
 * 127.0.0.1:@port, each on @port. */
static void config_make_v6(struct config *c, uint16_t port, const char *const *more, size_t n)
{
	config_make(c, port, RELAY_MIN, RELAY_MAX, false, 1);
	ck_assert_int_eq(addr_parse_ip("::1", 0, &c->turn.relay_v6), 0);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(addr_parse_ip(more[i], port, &c->turn.listens[1 + i]), 0);
	c->turn.n_listen = 1 + n;
}

static void setup(void)
{
	log_set_level(LOGL_WARN);
	config_make(&cfg, PORT, RELAY_MIN, RELAY_MAX, false, 1);
	ck_assert_int_eq(turn_server_start(&srv, &cfg), 0);
}

static void teardown(void)
{
	turn_server_stop(srv);
	srv = NULL;
}

static struct turn_counters counters(void)
{
	struct turn_counters c;

	turn_server_counters(srv, &c);
	return c;
}

/* An authenticated client with an allocation. */
static void client_allocated(struct tc *c, struct sockaddr_storage *relayed)
{
	ck_assert_int_eq(tc_open(c, PORT, "demo", "demo"), 0);
	ck_assert_int_eq(tc_allocate(c, relayed), 0);
}

static void add_u32(struct stun_builder *b, void *arg)
{
	const uint32_t *tv = arg; /* type, value */

	stun_build_u32(b, (uint16_t)tv[0], tv[1]);
}

static void add_udp(struct stun_builder *b, void *arg)
{
	stun_build_u32(b, TURN_ATTR_REQUESTED_TRANSPORT, (uint32_t)IPPROTO_UDP << 24);
}

/* The XOR-RELAYED-ADDRESSes of c->resp, in order, into @out (2); returns how many. */
static int relayed_addrs(struct tc *c, struct sockaddr_storage out[2])
{
	int n = 0;

	for (size_t i = 0; i < c->resp.n_attrs && n < 2; i++)
		if (c->resp.attrs[i].type == TURN_ATTR_XOR_RELAYED_ADDRESS)
			ck_assert_int_eq(stun_attr_xor_addr(&c->resp, &c->resp.attrs[i], &out[n++]), 0);
	return n;
}

/* ---- Binding and authentication ---- */

START_TEST(test_binding)
{
	/* Binding needs no credentials and answers the client's own address in XOR-MAPPED-ADDRESS;
	 * as an unauthenticated answer it carries no SOFTWARE, and FINGERPRINT only because the
	 * request had one. */
	struct tc c;
	struct sockaddr_storage mapped;
	const struct stun_attr *a;

	ck_assert_int_eq(tc_open(&c, PORT, NULL, NULL), 0);
	ck_assert_int_eq(tc_request(&c, STUN_METHOD_BINDING, NULL, NULL), 0);
	a = stun_msg_attr(&c.resp, STUN_ATTR_XOR_MAPPED_ADDRESS);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(stun_attr_xor_addr(&c.resp, a, &mapped), 0);
	ck_assert(addr_equal(&mapped, &c.local));
	ck_assert_ptr_null(stun_msg_attr(&c.resp, STUN_ATTR_SOFTWARE));
	ck_assert_int_ge(c.resp.fp, 0);
	c.no_fp = true;
	ck_assert_int_eq(tc_request(&c, STUN_METHOD_BINDING, NULL, NULL), 0);
	ck_assert_int_lt(c.resp.fp, 0);
	ck_assert_uint_eq(c.rlen, 32); /* header + XOR-MAPPED-ADDRESS, nothing else */
	tc_close(&c);
}
END_TEST

START_TEST(test_allocate_needs_auth)
{
	/* An Allocate without MESSAGE-INTEGRITY gets 401 with REALM and NONCE, and is not counted as
	 * an authentication failure. */
	struct tc c;
	const struct stun_attr *realm;

	ck_assert_int_eq(tc_open(&c, PORT, NULL, NULL), 0);
	ck_assert_int_eq(tc_allocate(&c, NULL), 401);
	realm = stun_msg_attr(&c.resp, STUN_ATTR_REALM);
	ck_assert_ptr_nonnull(realm);
	ck_assert_uint_eq(realm->len, strlen("tincan.test"));
	ck_assert_mem_eq(realm->val, "tincan.test", realm->len);
	ck_assert_ptr_nonnull(stun_msg_attr(&c.resp, STUN_ATTR_NONCE));
	ck_assert_int_eq(c.resp.mi, -1);
	ck_assert_uint_eq(counters().auth_failures, 0);
	tc_close(&c);
}
END_TEST

START_TEST(test_wrong_password)
{
	/* A wrong password, or an unknown user, is a 401 counted in auth_failures. */
	struct tc c;

	ck_assert_int_eq(tc_open(&c, PORT, "demo", "not-demo"), 0);
	ck_assert_int_eq(tc_allocate(&c, NULL), 401);
	ck_assert_uint_eq(counters().auth_failures, 1);
	ck_assert_uint_eq(counters().auth_bad_integrity, 1);
	tc_close(&c);
	ck_assert_int_eq(tc_open(&c, PORT, "nobody", "demo"), 0);
	ck_assert_int_eq(tc_allocate(&c, NULL), 401);
	ck_assert_uint_eq(counters().auth_failures, 2);
	ck_assert_uint_eq(counters().auth_unknown_user, 1);
	ck_assert_uint_eq(counters().auth_bad_integrity, 1);
	ck_assert_uint_eq(counters().auth_expired, 0);
	ck_assert_uint_eq(counters().allocations_now, 0);
	tc_close(&c);
}
END_TEST

START_TEST(test_allocate_static_user)
{
	/* A static user allocates: relayed address on the relay IP with a port in range, LIFETIME
	 * 600, XOR-MAPPED-ADDRESS, and the answer carries MESSAGE-INTEGRITY and FINGERPRINT. */
	struct tc c;
	struct sockaddr_storage relayed, mapped, lo;
	const struct stun_attr *a;
	uint32_t lifetime;

	client_allocated(&c, &relayed);
	addr_parse_ip("127.0.0.1", 0, &lo);
	ck_assert(addr_ip_equal(&relayed, &lo));
	ck_assert_uint_ge(addr_port(&relayed), RELAY_MIN);
	ck_assert_uint_le(addr_port(&relayed), RELAY_MAX);
	a = stun_msg_attr(&c.resp, TURN_ATTR_LIFETIME);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(stun_attr_u32(a, &lifetime), 0);
	ck_assert_uint_eq(lifetime, 600);
	a = stun_msg_attr(&c.resp, STUN_ATTR_XOR_MAPPED_ADDRESS);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(stun_attr_xor_addr(&c.resp, a, &mapped), 0);
	ck_assert(addr_equal(&mapped, &c.local));
	ck_assert_int_ge(c.resp.mi, 0);
	ck_assert_int_ge(c.resp.fp, 0);
	{
		uint8_t key[16];
		stun_ltc_key("demo", 4, "tincan.test", 11, "demo", 4, key);
		ck_assert_int_eq(stun_msg_check_integrity(&c.resp, key, sizeof(key)), 0);
	}
	ck_assert_uint_eq(counters().allocations_now, 1);
	ck_assert_uint_eq(counters().allocations_total, 1);
	tc_close(&c);
}
END_TEST

START_TEST(test_rest_credentials)
{
	/* A TURN REST credential minted with the configured secret works; an expired one is a 401. */
	char user[CRED_USERNAME_MAX], pass[CRED_PASSWORD_MAX];
	struct tc c;

	ck_assert_int_eq(cred_rest_mint(&cfg.turn.secret, "p1", time(NULL), 600, user, pass), 0);
	ck_assert_int_eq(tc_open(&c, PORT, user, pass), 0);
	ck_assert_int_eq(tc_allocate(&c, NULL), 0);
	tc_close(&c);

	ck_assert_int_eq(cred_rest_mint(&cfg.turn.secret, "p2", time(NULL) - 1000, 60, user, pass),
			 0);
	ck_assert_int_eq(tc_open(&c, PORT, user, pass), 0);
	ck_assert_int_eq(tc_allocate(&c, NULL), 401);
	ck_assert_uint_eq(counters().auth_failures, 1);
	ck_assert_uint_eq(counters().auth_expired, 1);
	ck_assert_uint_eq(counters().auth_unknown_user, 0);
	tc_close(&c);
}
END_TEST

/* Opens a client as @user / @pass (with password algorithm @pwalg if not 0), sends an Allocate
 * and closes it; returns tc_allocate's result. */
static int allocate_as(const char *user, const char *pass, uint16_t pwalg)
{
	struct tc c;
	int rc;

	ck_assert_int_eq(tc_open(&c, PORT, user, pass), 0);
	c.pwalg = pwalg;
	rc = tc_allocate(&c, NULL);
	tc_close(&c);
	return rc;
}

START_TEST(test_auth_reset)
{
	/* The long-term keys each worker caches follow a change of users, realm or secret once
	 * turn_auth_reset() has run (what a config reload calls): the same username with the old
	 * password, realm or REST secret is refused, the new one works, for MD5, SHA-256 and
	 * USERHASH clients alike. A cache that kept a stale key fails here. */
	struct config_user changed[2];
	struct cred_secret old_secret = cfg.turn.secret;
	char user[CRED_USERNAME_MAX], pass[CRED_PASSWORD_MAX], pass2[CRED_PASSWORD_MAX];
	time_t now = time(NULL);
	struct tc c;
	uint8_t key[16];

	/* Warm the caches: alice (MD5 and SHA-256) and a REST username. */
	ck_assert_int_eq(allocate_as("alice", "wonderland", 0), 0);
	ck_assert_int_eq(allocate_as("alice", "wonderland", STUN_PWALG_SHA256), 0);
	ck_assert_int_eq(cred_rest_mint(&cfg.turn.secret, "p1", now, 600, user, pass), 0);
	ck_assert_int_eq(allocate_as(user, pass, 0), 0);

	/* New password for alice, new realm, new REST secret (the worker is idle: no request is
	 * in flight while the config changes, as a reload must ensure). */
	memcpy(changed, users, sizeof(changed));
	strcpy(changed[1].password, "looking-glass");
	cfg.turn.users = changed;
	strcpy(cfg.turn.realm, "other.test");
	ck_assert_int_eq(cred_secret_random(&cfg.turn.secret), 0);
	ck_assert_int_eq(turn_auth_reset(srv), 0);

	ck_assert_int_eq(allocate_as("alice", "wonderland", 0), 401);
	ck_assert_int_eq(allocate_as("alice", "wonderland", STUN_PWALG_SHA256), 401);
	ck_assert_int_eq(allocate_as(user, pass, 0), 401); /* minted with the old secret */

	ck_assert_int_eq(tc_open(&c, PORT, "alice", "looking-glass"), 0);
	ck_assert_int_eq(tc_allocate(&c, NULL), 0);
	ck_assert_str_eq(c.realm, "other.test");
	stun_ltc_key("alice", 5, "other.test", 10, "looking-glass", 13, key);
	ck_assert_int_eq(stun_msg_check_integrity(&c.resp, key, sizeof(key)), 0);
	tc_close(&c);
	ck_assert_int_eq(tc_open(&c, PORT, "alice", "looking-glass"), 0);
	c.pwalg = STUN_PWALG_SHA256;
	c.userhash = true; /* the USERHASH table was rebuilt for the new realm */
	ck_assert_int_eq(tc_allocate(&c, NULL), 0);
	tc_close(&c);
	/* The same REST username, its password from the new secret. */
	ck_assert_int_eq(cred_rest_mint(&cfg.turn.secret, "p1", now, 600, user, pass2), 0);
	ck_assert_str_ne(pass, pass2);
	ck_assert_int_eq(allocate_as(user, pass2, 0), 0);

	cfg.turn.users = users;
	strcpy(cfg.turn.realm, "tincan.test");
	cfg.turn.secret = old_secret;
	ck_assert_int_eq(turn_auth_reset(srv), 0);
}
END_TEST

START_TEST(test_stale_nonce)
{
	/* An expired nonce and a forged one both get 438 with a fresh NONCE. */
	struct tc c;

	turn_server_set_nonce_lifetime(srv, 0); /* every nonce is stale as soon as it is made */
	ck_assert_int_eq(tc_open(&c, PORT, "demo", "demo"), 0);
	ck_assert_int_eq(tc_allocate(&c, NULL), 438);
	ck_assert_ptr_nonnull(stun_msg_attr(&c.resp, STUN_ATTR_NONCE));
	ck_assert_ptr_nonnull(stun_msg_attr(&c.resp, STUN_ATTR_REALM));

	turn_server_set_nonce_lifetime(srv, 600);
	c.retry = false;
	strcpy(c.nonce, "00000000ffffffff0123456789abcdef01234567"); /* well formed, bad MAC */
	ck_assert_int_eq(tc_allocate(&c, NULL), 438);
	ck_assert_uint_eq(counters().stale_nonces, 2);
	ck_assert_uint_eq(counters().auth_failures, 0); /* a stale nonce is not a bad credential */
	c.retry = true;
	ck_assert_int_eq(tc_allocate(&c, NULL), 0); /* the fresh nonce works */
	tc_close(&c);
}
END_TEST

START_TEST(test_wrong_username)
{
	/* A request on an allocation's 5-tuple with another (valid) username is a 441. */
	struct tc c;

	client_allocated(&c, NULL);
	strcpy(c.user, "alice");
	strcpy(c.pass, "wonderland");
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_REFRESH, NULL, NULL), 441);
	ck_assert_int_ge(c.resp.mi, 0);
	tc_close(&c);
}
END_TEST

/* ---- RFC 8489 authentication ---- */

/* Checks that c->resp carries MESSAGE-INTEGRITY-SHA256 (and no MESSAGE-INTEGRITY) valid with the
 * client's key. */
static void expect_mi256(struct tc *c)
{
	uint8_t key[STUN_KEY_MAX];
	size_t keylen = tc_key(c, key);

	ck_assert_int_lt(c->resp.mi, 0);
	ck_assert_int_ge(c->resp.mi256, 0);
	ck_assert_uint_eq(c->resp.attrs[c->resp.mi256].len, STUN_MI256_LEN);
	ck_assert_int_eq(stun_msg_check_integrity_sha256(&c->resp, key, keylen), 0);
}

START_TEST(test_401_rfc8489)
{
	/* A 401 carries a NONCE with the nonce cookie advertising "Password algorithms"
	 * ("obMatJos2gAAA", RFC 8489 §9.2) and PASSWORD-ALGORITHMS listing SHA-256 then MD5; no
	 * reason phrase, no SOFTWARE (it goes to an unauthenticated source). */
	static const uint8_t want_algs[8] = { 0, 2, 0, 0, 0, 1, 0, 0 };
	const struct stun_attr *a;
	struct tc c;

	ck_assert_int_eq(tc_open(&c, PORT, NULL, NULL), 0);
	ck_assert_int_eq(tc_allocate(&c, NULL), 401);
	a = stun_msg_attr(&c.resp, STUN_ATTR_NONCE);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->len, TURN_NONCE_LEN);
	ck_assert_mem_eq(a->val, "obMatJos2gAAA", 13);
	a = stun_msg_attr(&c.resp, STUN_ATTR_PASSWORD_ALGORITHMS);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->len, sizeof(want_algs));
	ck_assert_mem_eq(a->val, want_algs, sizeof(want_algs));
	a = stun_msg_attr(&c.resp, STUN_ATTR_ERROR_CODE);
	ck_assert_uint_eq(a->len, 4);
	ck_assert_ptr_null(stun_msg_attr(&c.resp, STUN_ATTR_SOFTWARE));
	tc_close(&c);
}
END_TEST

START_TEST(test_sha256_password_algorithm)
{
	/* An RFC 8489 client echoing PASSWORD-ALGORITHMS and choosing SHA-256 (or MD5) with
	 * MESSAGE-INTEGRITY-SHA256 allocates; every authenticated answer, success or error, then
	 * carries MESSAGE-INTEGRITY-SHA256 with that algorithm's key, SOFTWARE and a reason phrase. */
	uint16_t algs[2] = { STUN_PWALG_SHA256, STUN_PWALG_MD5 };
	struct tc c;

	for (int i = 0; i < 2; i++) {
		const struct stun_attr *e;

		ck_assert_int_eq(tc_open(&c, PORT, "alice", "wonderland"), 0);
		c.pwalg = algs[i];
		ck_assert_int_eq(tc_allocate(&c, NULL), 0);
		expect_mi256(&c);
		ck_assert_ptr_nonnull(stun_msg_attr(&c.resp, STUN_ATTR_SOFTWARE));
		ck_assert_int_eq(tc_allocate(&c, NULL), 437);
		expect_mi256(&c);
		e = stun_msg_attr(&c.resp, STUN_ATTR_ERROR_CODE);
		ck_assert_uint_gt(e->len, 4);
		tc_close(&c);
	}
	ck_assert_uint_eq(counters().allocations_now, 2);
	ck_assert_uint_eq(counters().auth_failures, 0);
}
END_TEST

START_TEST(test_mi256_legacy_key)
{
	/* MESSAGE-INTEGRITY-SHA256 without PASSWORD-ALGORITHM(S) is keyed with the MD5 key (the
	 * default algorithm) and answered in kind; a truncated one is refused (TURN does not allow
	 * truncation, RFC 8489 §14.6): 401. */
	struct tc c;
	uint8_t buf[256], key[STUN_KEY_MAX], mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	struct stun_builder b;
	size_t n, keylen;

	ck_assert_int_eq(tc_open(&c, PORT, "demo", "demo"), 0);
	c.mi256 = true;
	ck_assert_int_eq(tc_allocate(&c, NULL), 0);
	expect_mi256(&c);

	/* A Refresh with a correct MESSAGE-INTEGRITY-SHA256 truncated to 16 bytes. */
	keylen = tc_key(&c, key);
	stun_build_init(&b, buf, sizeof(buf), TURN_METHOD_REFRESH, STUN_CLASS_REQUEST, c.tid);
	stun_build_attr(&b, STUN_ATTR_USERNAME, c.user, strlen(c.user));
	stun_build_attr(&b, STUN_ATTR_REALM, c.realm, strlen(c.realm));
	stun_build_attr(&b, STUN_ATTR_NONCE, c.nonce, strlen(c.nonce));
	ck_assert_int_eq(stun_build_finish(&b, &n), 0);
	buf[2] = (uint8_t)((n - 20 + 20) >> 8);
	buf[3] = (uint8_t)(n - 20 + 20);
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), key, (int)keylen, buf, n, mac, &maclen));
	stun_build_attr(&b, STUN_ATTR_MESSAGE_INTEGRITY_SHA256, mac, 16);
	ck_assert_int_eq(stun_build_finish(&b, &n), 0);
	ck_assert_int_eq(stun_msg_parse(&c.resp, buf, n), 0);
	ck_assert_int_eq(stun_msg_check_integrity_sha256(&c.resp, key, keylen), 0);
	ck_assert_int_eq(tc_send_raw(&c, buf, n), 0);
	ck_assert_int_gt(tc_recv(&c, 2000), 0);
	ck_assert_int_eq(stun_msg_parse(&c.resp, c.rbuf, c.rlen), 0);
	ck_assert_uint_eq(c.resp.cls, STUN_CLASS_ERROR);
	ck_assert_uint_eq(c.resp.attrs[0].val[2] * 100 + c.resp.attrs[0].val[3], 401);
	ck_assert_uint_eq(counters().auth_failures, 1);
	tc_close(&c);
}
END_TEST

static void add_pa_only(struct stun_builder *b, void *arg)
{
	static const uint8_t pa[4] = { 0, STUN_PWALG_SHA256, 0, 0 };

	add_udp(b, NULL);
	stun_build_attr(b, STUN_ATTR_PASSWORD_ALGORITHM, pa, sizeof(pa));
}

START_TEST(test_password_algorithms_bid_down)
{
	/* RFC 8489 §9.2.4: PASSWORD-ALGORITHM without PASSWORD-ALGORITHMS, PASSWORD-ALGORITHMS that
	 * is not the list we sent (a man in the middle removed SHA-256), or an algorithm it does not
	 * list, is a 400, unauthenticated (no integrity, no reason phrase); nothing is allocated. */
	static const uint8_t md5_only[4] = { 0, STUN_PWALG_MD5, 0, 0 };
	struct tc c;

	ck_assert_int_eq(tc_open(&c, PORT, "demo", "demo"), 0);
	c.pwalg = STUN_PWALG_SHA256;
	ck_assert_int_eq(tc_request(&c, STUN_METHOD_BINDING, NULL, NULL), 0);
	ck_assert_int_eq(tc_allocate(&c, NULL), 0); /* learns nonce and list */
	tc_close(&c);

	ck_assert_int_eq(tc_open(&c, PORT, "demo", "demo"), 0);
	ck_assert_int_eq(tc_allocate(&c, NULL), 0);  /* RFC 5389 style: learns the nonce */
	c.retry = false;
	c.mi256 = true;
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_REFRESH, add_pa_only, NULL), 400);
	ck_assert_int_lt(c.resp.mi, 0);
	ck_assert_int_lt(c.resp.mi256, 0);
	ck_assert_uint_eq(stun_msg_attr(&c.resp, STUN_ATTR_ERROR_CODE)->len, 4);
	c.pwalg = STUN_PWALG_SHA256;
	memcpy(c.pwalgs, md5_only, sizeof(md5_only));
	c.pwalgs_len = sizeof(md5_only);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_REFRESH, NULL, NULL), 400);
	c.pwalg = 3; /* not in our list */
	c.pwalgs_len = 8;
	memcpy(c.pwalgs, "\0\2\0\0\0\1\0\0", 8);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_REFRESH, NULL, NULL), 400);
	c.pwalg = STUN_PWALG_SHA256; /* the honest echo works on the same 5-tuple */
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_REFRESH, NULL, NULL), 0);
	expect_mi256(&c);
	ck_assert_uint_eq(counters().allocations_now, 2);
	tc_close(&c);
}
END_TEST

START_TEST(test_userhash)
{
	/* USERHASH (RFC 8489 §14.4) names a static user, and the user of the allocation on the
	 * request's 5-tuple; a REST user cannot be found from its hash for a new allocation (the
	 * server keeps no list of minted credentials), nor can an unknown hash: 401. */
	char user[CRED_USERNAME_MAX], pass[CRED_PASSWORD_MAX];
	struct tc c;

	ck_assert_int_eq(tc_open(&c, PORT, "alice", "wonderland"), 0);
	c.userhash = true;
	c.pwalg = STUN_PWALG_SHA256;
	ck_assert_int_eq(tc_allocate(&c, NULL), 0);
	expect_mi256(&c);
	tc_close(&c);

	ck_assert_int_eq(tc_open(&c, PORT, "mallory", "wonderland"), 0);
	c.userhash = true;
	ck_assert_int_eq(tc_allocate(&c, NULL), 401);
	tc_close(&c);

	ck_assert_int_eq(cred_rest_mint(&cfg.turn.secret, "p7", time(NULL), 600, user, pass), 0);
	ck_assert_int_eq(tc_open(&c, PORT, user, pass), 0);
	c.userhash = true;
	ck_assert_int_eq(tc_allocate(&c, NULL), 401);
	c.userhash = false;
	ck_assert_int_eq(tc_allocate(&c, NULL), 0);
	c.userhash = true;
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_REFRESH, NULL, NULL), 0);
	ck_assert_uint_eq(counters().auth_failures, 2);
	tc_close(&c);
}
END_TEST

START_TEST(test_unauth_answers_bare)
{
	/* Answers to unauthenticated requests carry no SOFTWARE and no reason phrase, and
	 * FINGERPRINT only if the request had one: a 401 to a 28-byte Allocate (the smallest
	 * possible) is 108 bytes, the floor set by REALM, NONCE and PASSWORD-ALGORITHMS. */
	struct tc c;
	uint8_t req[28], tid[STUN_TID_LEN];
	struct stun_builder b;
	size_t n;

	ck_assert_int_eq(tc_open(&c, PORT, NULL, NULL), 0);
	tc_random_tid(tid);
	stun_build_init(&b, req, sizeof(req), TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST, tid);
	stun_build_u32(&b, TURN_ATTR_REQUESTED_TRANSPORT, (uint32_t)IPPROTO_UDP << 24);
	ck_assert_int_eq(stun_build_finish(&b, &n), 0);
	ck_assert_uint_eq(n, 28);
	ck_assert_int_eq(tc_send_raw(&c, req, n), 0);
	ck_assert_int_eq(tc_recv(&c, 2000), 20 + 8 + 4 + 12 + 4 + 48 + 4 + 8);
	ck_assert_int_eq(stun_msg_parse(&c.resp, c.rbuf, c.rlen), 0);
	ck_assert_int_lt(c.resp.fp, 0);
	ck_assert_ptr_null(stun_msg_attr(&c.resp, STUN_ATTR_SOFTWARE));
	ck_assert_uint_eq(stun_msg_attr(&c.resp, STUN_ATTR_ERROR_CODE)->len, 4);
	tc_close(&c);
}
END_TEST

START_TEST(test_unauth_limit)
{
	/* Answers to unauthenticated requests are limited per source IP (here 10/s in bursts of 5):
	 * of 20 Binding requests sent at once about 5 are answered and the rest counted in
	 * unauth_dropped; authenticated requests from the same address are never limited. */
	struct config lim;
	struct turn_server *s;
	struct tc c, a;
	struct turn_counters k;
	int answered = 0;

	config_make(&lim, PORT_LIMIT, RELAY_MIN, RELAY_MAX, false, 1);
	lim.turn.unauth_rate = 10;
	lim.turn.unauth_burst = 5;
	ck_assert_int_eq(turn_server_start(&s, &lim), 0);
	ck_assert_int_eq(tc_open(&a, PORT_LIMIT, "demo", "demo"), 0);
	ck_assert_int_eq(tc_allocate(&a, NULL), 0); /* spends 1 (the 401) of the burst */

	ck_assert_int_eq(tc_open(&c, PORT_LIMIT, NULL, NULL), 0);
	for (int i = 0; i < 20; i++) {
		uint8_t req[20], tid[STUN_TID_LEN];
		struct stun_builder b;
		size_t n;

		tc_random_tid(tid);
		stun_build_init(&b, req, sizeof(req), STUN_METHOD_BINDING, STUN_CLASS_REQUEST, tid);
		ck_assert_int_eq(stun_build_finish(&b, &n), 0);
		ck_assert_int_eq(tc_send_raw(&c, req, n), 0);
	}
	while (tc_recv(&c, QUIET_MS) > 0)
		answered++;
	ck_assert_int_ge(answered, 4);
	ck_assert_int_le(answered, 6);
	turn_server_counters(s, &k);
	ck_assert_uint_eq(k.unauth_dropped, 20 - (uint64_t)answered);

	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(tc_request(&a, TURN_METHOD_REFRESH, NULL, NULL), 0);
	usleep(150000); /* 1.5 periods: at least one more answer is due */
	ck_assert_int_eq(tc_request(&c, STUN_METHOD_BINDING, NULL, NULL), 0);
	tc_close(&c);
	tc_close(&a);
	turn_server_stop(s);
}
END_TEST

/* ---- Allocate ---- */

START_TEST(test_requested_transport)
{
	/* REQUESTED-TRANSPORT missing is a 400, TCP (6) a 442. */
	struct tc c;
	uint32_t tcp[2] = { TURN_ATTR_REQUESTED_TRANSPORT, (uint32_t)IPPROTO_TCP << 24 };

	ck_assert_int_eq(tc_open(&c, PORT, "demo", "demo"), 0);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_ALLOCATE, NULL, NULL), 400);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_ALLOCATE, add_u32, tcp), 442);
	ck_assert_uint_eq(counters().allocations_now, 0);
	tc_close(&c);
}
END_TEST

static void add_unknown(struct stun_builder *b, void *arg)
{
	add_udp(b, NULL);
	stun_build_u32(b, 0x7FFE, 0);
}

START_TEST(test_unknown_attribute)
{
	/* An unknown comprehension-required attribute is a 420 listing it in UNKNOWN-ATTRIBUTES. */
	struct tc c;
	const struct stun_attr *a;

	ck_assert_int_eq(tc_open(&c, PORT, "demo", "demo"), 0);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_ALLOCATE, add_unknown, NULL), 420);
	a = stun_msg_attr(&c.resp, STUN_ATTR_UNKNOWN_ATTRIBUTES);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->len, 2);
	ck_assert_uint_eq(a->val[0], 0x7F);
	ck_assert_uint_eq(a->val[1], 0xFE);
	tc_close(&c);
}
END_TEST

static void add_family6(struct stun_builder *b, void *arg)
{
	add_udp(b, NULL);
	stun_build_u32(b, TURN_ATTR_REQUESTED_ADDRESS_FAMILY, 0x02000000u);
}

START_TEST(test_family_ipv6)
{
	/* REQUESTED-ADDRESS-FAMILY IPv6 is a 440: IPv4 relays only for now. */
	struct tc c;

	ck_assert_int_eq(tc_open(&c, PORT, "demo", "demo"), 0);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_ALLOCATE, add_family6, NULL), 440);
	tc_close(&c);
}
END_TEST

static void add_even(struct stun_builder *b, void *arg)
{
	uint8_t v = *(const uint8_t *)arg;

	add_udp(b, NULL);
	stun_build_attr(b, TURN_ATTR_EVEN_PORT, &v, 1);
	stun_build_attr(b, TURN_ATTR_DONT_FRAGMENT, NULL, 0);
}

START_TEST(test_even_port)
{
	/* EVEN-PORT gets an even relay port (with DONT-FRAGMENT accepted too). */
	struct tc c;
	struct sockaddr_storage relayed;
	uint8_t plain = 0x00, reserve = 0x80;
	const struct stun_attr *a;

	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(tc_open(&c, PORT, "demo", "demo"), 0);
		ck_assert_int_eq(tc_request(&c, TURN_METHOD_ALLOCATE, add_even, &plain), 0);
		a = stun_msg_attr(&c.resp, TURN_ATTR_XOR_RELAYED_ADDRESS);
		ck_assert_ptr_nonnull(a);
		ck_assert_int_eq(stun_attr_xor_addr(&c.resp, a, &relayed), 0);
		ck_assert_uint_eq(addr_port(&relayed) % 2, 0);
		tc_close(&c);
	}
	(void)reserve;
}
END_TEST

static void add_token(struct stun_builder *b, void *arg)
{
	const uint8_t *tok = arg; /* 8 bytes, then a flag byte: add EVEN-PORT (1) or RAF (2) too */

	add_udp(b, NULL);
	stun_build_attr(b, TURN_ATTR_RESERVATION_TOKEN, tok, TURN_TOKEN_LEN);
	if (tok[8] == 1)
		stun_build_attr(b, TURN_ATTR_EVEN_PORT, "\0", 1);
	if (tok[8] == 2)
		stun_build_u32(b, TURN_ATTR_REQUESTED_ADDRESS_FAMILY, 0x01000000u);
}

START_TEST(test_reservation)
{
	/* EVEN-PORT with R=1 (RFC 8656 §7.2): an even port P, and P + 1 reserved under the
	 * RESERVATION-TOKEN of the answer; an Allocate with that token, from another 5-tuple, gets
	 * P + 1; the token works once (then 508), an unknown token is a 508, a token with EVEN-PORT
	 * or with REQUESTED-ADDRESS-FAMILY a 400. reservations_now counts the waiting ones. */
	uint8_t reserve = 0x80, tok[9] = { 0 }, bogus[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 0 };
	struct sockaddr_storage rtp[2], rtcp[2];
	const struct stun_attr *a;
	struct tc c, c2;

	ck_assert_int_eq(tc_open(&c, PORT, "demo", "demo"), 0);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_ALLOCATE, add_even, &reserve), 0);
	ck_assert_int_eq(relayed_addrs(&c, rtp), 1);
	ck_assert_uint_eq(addr_port(&rtp[0]) % 2, 0);
	a = stun_msg_attr(&c.resp, TURN_ATTR_RESERVATION_TOKEN);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->len, TURN_TOKEN_LEN);
	memcpy(tok, a->val, TURN_TOKEN_LEN);
	ck_assert_uint_eq(counters().reservations_now, 1);

	ck_assert_int_eq(tc_open(&c2, PORT, "alice", "wonderland"), 0);
	ck_assert_int_eq(tc_request(&c2, TURN_METHOD_ALLOCATE, add_token, bogus), 508);
	tok[8] = 1;
	ck_assert_int_eq(tc_request(&c2, TURN_METHOD_ALLOCATE, add_token, tok), 400);
	tok[8] = 2;
	ck_assert_int_eq(tc_request(&c2, TURN_METHOD_ALLOCATE, add_token, tok), 400);
	tok[8] = 0;
	ck_assert_int_eq(tc_request(&c2, TURN_METHOD_ALLOCATE, add_token, tok), 0);
	ck_assert_int_eq(relayed_addrs(&c2, rtcp), 1);
	ck_assert(addr_ip_equal(&rtp[0], &rtcp[0]));
	ck_assert_uint_eq(addr_port(&rtcp[0]), addr_port(&rtp[0]) + 1);
	ck_assert_ptr_null(stun_msg_attr(&c2.resp, TURN_ATTR_RESERVATION_TOKEN));
	ck_assert_uint_eq(counters().reservations_now, 0);
	ck_assert_uint_eq(counters().allocations_now, 2);
	tc_close(&c2);
	ck_assert_int_eq(tc_open(&c2, PORT, "alice", "wonderland"), 0);
	ck_assert_int_eq(tc_request(&c2, TURN_METHOD_ALLOCATE, add_token, tok), 508);
	tc_close(&c2);
	tc_close(&c);
}
END_TEST

START_TEST(test_reservation_expires)
{
	/* A reservation nobody redeems is dropped after its lifetime (30 s; 1 s here) and its port
	 * goes back to the pool: the token is then a 508. */
	uint8_t reserve = 0x80, tok[9] = { 0 };
	struct tc c, c2;

	turn_server_set_reservation_lifetime(srv, 1);
	ck_assert_int_eq(tc_open(&c, PORT, "demo", "demo"), 0);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_ALLOCATE, add_even, &reserve), 0);
	memcpy(tok, stun_msg_attr(&c.resp, TURN_ATTR_RESERVATION_TOKEN)->val, TURN_TOKEN_LEN);
	ck_assert_uint_eq(counters().reservations_now, 1);
	for (int i = 0; i < 40 && counters().reservations_now; i++)
		usleep(100000);
	ck_assert_uint_eq(counters().reservations_now, 0);
	ck_assert_int_eq(tc_open(&c2, PORT, "demo", "demo"), 0);
	ck_assert_int_eq(tc_request(&c2, TURN_METHOD_ALLOCATE, add_token, tok), 508);
	tc_close(&c2);
	tc_close(&c);
}
END_TEST

static void add_u32x2(struct stun_builder *b, void *arg)
{
	const uint32_t *tv = arg; /* type, value, type, family byte */

	stun_build_u32(b, (uint16_t)tv[0], tv[1]);
	stun_build_u32(b, (uint16_t)tv[2], tv[3] << 24);
}

static void add_short_family(struct stun_builder *b, void *arg)
{
	add_udp(b, NULL);
	stun_build_attr(b, TURN_ATTR_REQUESTED_ADDRESS_FAMILY, arg, 2);
}

static void add_udp_lifetime(struct stun_builder *b, void *arg)
{
	add_udp(b, NULL);
	stun_build_u32(b, TURN_ATTR_LIFETIME, *(const uint32_t *)arg);
}

START_TEST(test_lifetime_clamp)
{
	/* LIFETIME is clamped to [600, 3600] on Allocate and on Refresh. */
	struct tc c;
	uint32_t big = 100000, small = 10, v;
	uint32_t refresh[2] = { TURN_ATTR_LIFETIME, 1200 };

	ck_assert_int_eq(tc_open(&c, PORT, "demo", "demo"), 0);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_ALLOCATE, add_udp_lifetime, &big), 0);
	ck_assert_int_eq(stun_attr_u32(stun_msg_attr(&c.resp, TURN_ATTR_LIFETIME), &v), 0);
	ck_assert_uint_eq(v, 3600);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_REFRESH, add_u32, refresh), 0);
	ck_assert_int_eq(stun_attr_u32(stun_msg_attr(&c.resp, TURN_ATTR_LIFETIME), &v), 0);
	ck_assert_uint_eq(v, 1200);
	tc_close(&c);
	ck_assert_int_eq(tc_open(&c, PORT, "demo", "demo"), 0);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_ALLOCATE, add_udp_lifetime, &small), 0);
	ck_assert_int_eq(stun_attr_u32(stun_msg_attr(&c.resp, TURN_ATTR_LIFETIME), &v), 0);
	ck_assert_uint_eq(v, 600);
	tc_close(&c);
}
END_TEST

START_TEST(test_allocate_retransmit)
{
	/* An Allocate retransmitted with the same transaction id gets the same success, byte for
	 * byte; a new Allocate on the same 5-tuple is a 437. */
	struct tc c;
	uint8_t tid[STUN_TID_LEN], first[512];
	size_t first_len;

	ck_assert_int_eq(tc_open(&c, PORT, "demo", "demo"), 0);
	ck_assert_int_eq(tc_allocate(&c, NULL), 0);
	memcpy(tid, c.tid, STUN_TID_LEN);
	ck_assert_uint_le(c.rlen, sizeof(first));
	first_len = c.rlen;
	memcpy(first, c.rbuf, first_len);

	ck_assert_int_eq(tc_request_tid(&c, TURN_METHOD_ALLOCATE, add_udp, NULL, tid), 0);
	ck_assert_uint_eq(c.rlen, first_len);
	ck_assert_mem_eq(c.rbuf, first, first_len);
	ck_assert_int_eq(tc_allocate(&c, NULL), 437);
	ck_assert_uint_eq(counters().allocations_now, 1);
	tc_close(&c);
}
END_TEST

START_TEST(test_port_exhaustion)
{
	/* With 2 relay ports, the third Allocate is a 508 counted in port_exhausted; freeing one
	 * (Refresh 0) makes room again. */
	struct config small;
	struct turn_server *s;
	struct tc c[3];
	struct turn_counters k;
	uint32_t zero[2] = { TURN_ATTR_LIFETIME, 0 };

	config_make(&small, PORT_SMALL, RELAY_ALT, RELAY_ALT + 1, false, 1);
	ck_assert_int_eq(turn_server_start(&s, &small), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(tc_open(&c[i], PORT_SMALL, "demo", "demo"), 0);
	ck_assert_int_eq(tc_allocate(&c[0], NULL), 0);
	ck_assert_int_eq(tc_allocate(&c[1], NULL), 0);
	ck_assert_int_eq(tc_allocate(&c[2], NULL), 508);
	turn_server_counters(s, &k);
	ck_assert_uint_eq(k.port_exhausted, 1);
	ck_assert_int_eq(tc_request(&c[0], TURN_METHOD_REFRESH, add_u32, zero), 0);
	ck_assert_int_eq(tc_allocate(&c[2], NULL), 0);
	for (int i = 0; i < 3; i++)
		tc_close(&c[i]);
	turn_server_stop(s);
}
END_TEST

START_TEST(test_refresh_zero)
{
	/* Refresh with LIFETIME 0 deletes the allocation: a CreatePermission then gets 437. */
	struct tc c;
	struct sockaddr_storage peer;
	uint32_t zero[2] = { TURN_ATTR_LIFETIME, 0 }, v;
	int pfd = udp_peer(&peer);

	client_allocated(&c, NULL);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_REFRESH, add_u32, zero), 0);
	ck_assert_int_eq(stun_attr_u32(stun_msg_attr(&c.resp, TURN_ATTR_LIFETIME), &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_uint_eq(counters().allocations_now, 0);
	ck_assert_int_eq(tc_permission(&c, &peer), 437);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_REFRESH, NULL, NULL), 437);
	tc_close(&c);
	close(pfd);
}
END_TEST

/* ---- Relaying ---- */

START_TEST(test_send_and_data_indication)
{
	/* CreatePermission + Send indication: the peer gets the exact bytes from the relayed address;
	 * the peer's answer comes back as a Data indication with its XOR-PEER-ADDRESS. Counters count
	 * payload bytes. */
	struct tc c;
	struct sockaddr_storage relayed, peer;
	int pfd = udp_peer(&peer);
	static const char hello[] = "hello, peer", reply[] = "hello, client!";
	struct turn_counters k;

	client_allocated(&c, &relayed);
	ck_assert_int_eq(tc_permission(&c, &peer), 0);
	ck_assert_int_eq(tc_send_indication(&c, &peer, hello, sizeof(hello)), 0);
	tf_expect_peer_gets(pfd, &relayed, hello, sizeof(hello));
	tf_send_to(pfd, &relayed, reply, sizeof(reply));
	tf_expect_data_indication(&c, &peer, reply, sizeof(reply));
	ck_assert_uint_eq(TF_CTR_WAIT(srv, pkts_to_client, 1), 1);
	k = counters();
	ck_assert_uint_eq(k.pkts_to_peer, 1);
	ck_assert_uint_eq(k.bytes_to_peer, sizeof(hello));
	ck_assert_uint_eq(k.pkts_to_client, 1);
	ck_assert_uint_eq(k.bytes_to_client, sizeof(reply));
	ck_assert_uint_eq(k.permissions_now, 1);
	tc_close(&c);
	close(pfd);
}
END_TEST

static void add_two_peers(struct stun_builder *b, void *arg)
{
	const struct sockaddr_storage *p = arg;

	stun_build_xor_addr(b, TURN_ATTR_XOR_PEER_ADDRESS, &p[0]);
	stun_build_xor_addr(b, TURN_ATTR_XOR_PEER_ADDRESS, &p[1]);
}

START_TEST(test_permission_required)
{
	/* Without a permission nothing is relayed either way; one CreatePermission may carry several
	 * XOR-PEER-ADDRESS; a permission covers the peer's IP whatever its port. */
	struct tc c;
	struct sockaddr_storage relayed, peers[2], other;
	int p0 = udp_peer(&peers[0]), p1 = udp_peer(&peers[1]), po = udp_peer(&other);
	uint8_t buf[64];
	struct sockaddr_storage ten;

	client_allocated(&c, &relayed);
	ck_assert_int_eq(tc_send_indication(&c, &peers[0], "x", 1), 0);
	ck_assert_int_eq(udp_recv(p0, buf, sizeof(buf), NULL, QUIET_MS), -ETIMEDOUT);
	tf_send_to(p0, &relayed, "y", 1);
	ck_assert_int_eq(tc_recv(&c, QUIET_MS), -ETIMEDOUT);

	/* The default deny list still refuses 10/8 while loopback is allowed. */
	addr_parse_ip("10.0.0.1", 9, &ten);
	ck_assert_int_eq(tc_permission(&c, &ten), 403);

	ck_assert_int_eq(tc_request(&c, TURN_METHOD_CREATE_PERMISSION, add_two_peers, peers), 0);
	ck_assert_uint_eq(counters().permissions_now, 1); /* same IP, ports ignored */
	ck_assert_int_eq(tc_send_indication(&c, &peers[1], "z", 1), 0);
	tf_expect_peer_gets(p1, &relayed, "z", 1);
	tf_send_to(po, &relayed, "w", 1); /* same IP, a port never named: permitted (RFC 8656 §9) */
	tf_expect_data_indication(&c, &other, "w", 1);
	tc_close(&c);
	close(p0);
	close(p1);
	close(po);
}
END_TEST

START_TEST(test_channel_data)
{
	/* ChannelBind then ChannelData both ways; the bind also installs the permission; ChannelData
	 * on an unbound channel is dropped. */
	struct tc c;
	struct sockaddr_storage relayed, peer;
	int pfd = udp_peer(&peer);
	static const char up[] = "up the channel", down[] = "down the channel";
	uint16_t num, dlen;
	const uint8_t *data;
	long n;

	client_allocated(&c, &relayed);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4000, &peer), 0);
	ck_assert_uint_eq(counters().channels_now, 1);
	ck_assert_uint_eq(counters().permissions_now, 1);
	ck_assert_int_eq(tc_send_channel(&c, 0x4000, up, sizeof(up)), 0);
	tf_expect_peer_gets(pfd, &relayed, up, sizeof(up));

	tf_send_to(pfd, &relayed, down, sizeof(down));
	n = tc_recv(&c, 2000);
	ck_assert_int_eq(n, (long)(TURN_CHANNELDATA_HDR + sizeof(down)));
	ck_assert_int_eq(turn_channeldata_parse(c.rbuf, (size_t)n, &num, &data, &dlen), 0);
	ck_assert_uint_eq(num, 0x4000);
	ck_assert_uint_eq(dlen, sizeof(down));
	ck_assert_mem_eq(data, down, sizeof(down));

	ck_assert_int_eq(tc_send_channel(&c, 0x4001, up, sizeof(up)), 0);
	ck_assert_int_eq(udp_recv(pfd, c.rbuf, sizeof(c.rbuf), NULL, QUIET_MS), -ETIMEDOUT);
	tc_close(&c);
	close(pfd);
}
END_TEST

START_TEST(test_channel_rebind_rules)
{
	/* A number bound to one peer cannot be bound to another, nor a peer to a second number (400);
	 * re-binding the same pair refreshes it. */
	struct tc c;
	struct sockaddr_storage a, b;
	int fa = udp_peer(&a), fb = udp_peer(&b);

	client_allocated(&c, NULL);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4001, &a), 0);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4001, &b), 400);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4002, &a), 400);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4001, &a), 0);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4002, &b), 0);
	ck_assert_uint_eq(counters().channels_now, 2);
	tc_close(&c);
	close(fa);
	close(fb);
}
END_TEST

/* Polls for up to @ms until counter @field of the test's server is @want; the last value. */
#define CTR_UNTIL(field, want, ms) TF_CTR_WAIT_MS(srv, field, (want), (ms))

START_TEST(test_timers_expire)
{
	/* The timers of the worker's wheel fire (shortened here: permission 1 s, channel 1 s,
	 * cooldown 2 s, allocation capped at 6 s): an expired permission relays nothing; an expired
	 * channel first cools down (relays nothing, its number still refuses another peer: 400),
	 * then its number is free; an expired allocation is gone (437). A timer fires at most one
	 * tick (1 s) late, never early: all is still in place right after the requests. */
	struct tc c;
	struct sockaddr_storage relayed, p, q;
	int pfd = udp_peer(&p), qfd = udp_peer(&q);
	static const char msg[] = "hello";

	turn_server_set_lifetimes(srv, 1, 1, 2, 6);
	client_allocated(&c, &relayed);
	ck_assert_int_eq(tc_permission(&c, &p), 0);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4000, &q), 0);
	ck_assert_uint_eq(counters().permissions_now, 1); /* one IP: 127.0.0.1 */
	ck_assert_uint_eq(counters().channels_now, 1);
	tf_send_to(pfd, &relayed, msg, sizeof(msg));
	tf_expect_data_indication(&c, &p, msg, sizeof(msg));
	ck_assert_int_eq(tc_send_channel(&c, 0x4000, msg, sizeof(msg)), 0);
	tf_expect_peer_gets(qfd, &relayed, msg, sizeof(msg));

	/* Permission and channel expire after 1-2 s. */
	ck_assert_uint_eq(CTR_UNTIL(channels_now, 0, 4000), 0);
	ck_assert_uint_eq(CTR_UNTIL(permissions_now, 0, 4000), 0);
	tf_send_to(pfd, &relayed, msg, sizeof(msg));
	ck_assert_int_eq(tc_recv(&c, QUIET_MS), -ETIMEDOUT);
	ck_assert_int_eq(tc_send_channel(&c, 0x4000, msg, sizeof(msg)), 0);
	ck_assert_int_eq(udp_recv(qfd, c.rbuf, sizeof(c.rbuf), NULL, QUIET_MS), -ETIMEDOUT);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4000, &p), 400); /* cooling: 2-3 s */
	ck_assert_uint_eq(counters().channels_now, 0);

	/* After the cooldown the number is free for another peer. */
	sleep(3);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4000, &p), 0);
	ck_assert_uint_eq(counters().channels_now, 1);

	/* The allocation goes after 6-7 s, with its channel and permission. */
	ck_assert_uint_eq(CTR_UNTIL(allocations_now, 0, 6000), 0);
	ck_assert_uint_eq(counters().channels_now, 0);
	ck_assert_uint_eq(counters().permissions_now, 0);
	ck_assert_int_eq(tc_permission(&c, &p), 437);
	turn_server_set_lifetimes(srv, 0, 0, 0, 0);
	tc_close(&c);
	close(pfd);
	close(qfd);
}
END_TEST

START_TEST(test_timer_refresh)
{
	/* Refreshing a permission rearms its timer: refreshed half-way through a 4 s lifetime, it
	 * still relays when the first 4 s (plus the tick) are over, and expires later. */
	struct tc c;
	struct sockaddr_storage relayed, p;
	int pfd = udp_peer(&p);

	turn_server_set_lifetimes(srv, 4, 0, 0, 0);
	client_allocated(&c, &relayed);
	ck_assert_int_eq(tc_permission(&c, &p), 0);
	usleep(2000000);
	ck_assert_int_eq(tc_permission(&c, &p), 0); /* now due at 6 s */
	usleep(3300000);                            /* 5.3 s: the first timer would have fired */
	ck_assert_uint_eq(counters().permissions_now, 1);
	tf_send_to(pfd, &relayed, "x", 1);
	tf_expect_data_indication(&c, &p, "x", 1);
	ck_assert_uint_eq(CTR_UNTIL(permissions_now, 0, 4000), 0);
	turn_server_set_lifetimes(srv, 0, 0, 0, 0);
	tc_close(&c);
	close(pfd);
}
END_TEST

START_TEST(test_channel_range)
{
	/* Channel numbers outside 0x4000-0x7FFF are a 400; the RFC 5766 range above 0x4FFF binds. */
	struct tc c;
	struct sockaddr_storage a;
	int fa = udp_peer(&a);

	client_allocated(&c, NULL);
	ck_assert_int_eq(tc_channel_bind(&c, 0x3FFF, &a), 400);
	ck_assert_int_eq(tc_channel_bind(&c, 0x8000, &a), 400);
	ck_assert_int_eq(tc_channel_bind(&c, 0x7FFF, &a), 0);
	tc_close(&c);
	close(fa);
}
END_TEST

static void add_bad_peer(struct stun_builder *b, void *arg)
{
	static const uint8_t bad[5] = { 0, 1, 2, 3, 4 }; /* IPv4 family, too short */

	stun_build_attr(b, TURN_ATTR_XOR_PEER_ADDRESS, bad, sizeof(bad));
}

START_TEST(test_bad_peer_address)
{
	/* A malformed XOR-PEER-ADDRESS, or none, is a 400 and installs nothing. */
	struct tc c;

	client_allocated(&c, NULL);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_CREATE_PERMISSION, add_bad_peer, NULL), 400);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_CREATE_PERMISSION, NULL, NULL), 400);
	ck_assert_uint_eq(counters().permissions_now, 0);
	tc_close(&c);
}
END_TEST

START_TEST(test_denied_peer)
{
	/* With loopback not allowed (default deny list), CreatePermission and ChannelBind to
	 * 127.0.0.1 are a 403 and a Send indication to it is dropped. */
	struct config deny;
	struct turn_server *s;
	struct tc c;
	struct sockaddr_storage peer;
	int pfd = udp_peer(&peer);
	uint8_t buf[16];

	config_make(&deny, PORT_DENY, RELAY_MIN, RELAY_MAX, true, 1);
	ck_assert_int_eq(turn_server_start(&s, &deny), 0);
	ck_assert_int_eq(tc_open(&c, PORT_DENY, "demo", "demo"), 0);
	ck_assert_int_eq(tc_allocate(&c, NULL), 0);
	ck_assert_int_eq(tc_permission(&c, &peer), 403);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4000, &peer), 403);
	ck_assert_int_eq(tc_send_indication(&c, &peer, "x", 1), 0);
	ck_assert_int_eq(udp_recv(pfd, buf, sizeof(buf), NULL, QUIET_MS), -ETIMEDOUT);
	tc_close(&c);
	close(pfd);
	turn_server_stop(s);
}
END_TEST

START_TEST(test_workers)
{
	/* With 2 workers (SO_REUSEPORT, split port range) every client allocates and relays, and
	 * relay ports stay in the configured range. The kernel picks a client's worker by a hash
	 * of its 5-tuple, so all 6 clients may land on one worker (2 runs in 64): each worker's half
	 * of the range holds 6 ports, so that this test does not lean on test_workers_borrow's. */
	struct config two;
	struct turn_server *s;
	struct tc c[6];
	struct sockaddr_storage relayed, peer;
	int pfd = udp_peer(&peer);
	struct turn_counters k;

	config_make(&two, PORT_WORKERS, RELAY_ALT + 84, RELAY_ALT + 95, false, 2);
	ck_assert_int_eq(turn_server_start(&s, &two), 0);
	for (int i = 0; i < 6; i++) {
		char msg[16];
		snprintf(msg, sizeof(msg), "client %d", i);
		ck_assert_int_eq(tc_open(&c[i], PORT_WORKERS, "demo", "demo"), 0);
		ck_assert_int_eq(tc_allocate(&c[i], &relayed), 0);
		ck_assert_uint_ge(addr_port(&relayed), RELAY_ALT + 84);
		ck_assert_uint_le(addr_port(&relayed), RELAY_ALT + 95);
		ck_assert_int_eq(tc_channel_bind(&c[i], 0x4000, &peer), 0);
		ck_assert_int_eq(tc_send_channel(&c[i], 0x4000, msg, strlen(msg)), 0);
		tf_expect_peer_gets(pfd, &relayed, msg, strlen(msg));
	}
	ck_assert_uint_eq(TF_CTR_WAIT(s, pkts_to_peer, 6), 6);
	turn_server_counters(s, &k);
	ck_assert_uint_eq(k.allocations_now, 6);
	for (int i = 0; i < 6; i++)
		tc_close(&c[i]);
	close(pfd);
	turn_server_stop(s);
}
END_TEST

START_TEST(test_workers_borrow)
{
	/* The relay range is one pool, whatever the number of workers (alloc.c relay_bind): with 2
	 * workers and 4 relay ports (a slice of 2 each) 4 clients all allocate, wherever the kernel's
	 * hash puts them, and a 5th gets 508. The same for reservations (EVEN-PORT R=1): 2 of them
	 * take the 4 ports, and their tokens are redeemed. 5 rounds with new client 5-tuples: without
	 * borrowing, a round passes only if the hash splits the clients evenly (6 in 16 for 4
	 * clients, 1 in 2 for 2 reservations), so the test fails in nearly every run. */
	const uint16_t lo = (uint16_t)(RELAY_ALT + 94 + (RELAY_ALT + 94) % 2), hi = lo + 3;
	uint8_t reserve = 0x80, tok[2][9] = { { 0 } };
	struct sockaddr_storage relayed;
	struct config two;
	struct turn_server *s;
	struct tc c[5];

	config_make(&two, PORT_WORKERS, lo, hi, false, 2);
	for (int round = 0; round < 5; round++) {
		bool seen[4] = { false };

		ck_assert_int_eq(turn_server_start(&s, &two), 0);
		for (int i = 0; i < 5; i++)
			ck_assert_int_eq(tc_open(&c[i], PORT_WORKERS, "demo", "demo"), 0);
		for (int i = 0; i < 4; i++) {
			ck_assert_int_eq(tc_allocate(&c[i], &relayed), 0);
			ck_assert_uint_ge(addr_port(&relayed), lo);
			ck_assert_uint_le(addr_port(&relayed), hi);
			ck_assert(!seen[addr_port(&relayed) - lo]);
			seen[addr_port(&relayed) - lo] = true;
		}
		ck_assert_int_eq(tc_allocate(&c[4], NULL), 508);
		for (int i = 0; i < 5; i++)
			tc_close(&c[i]);
		turn_server_stop(s);

		ck_assert_int_eq(turn_server_start(&s, &two), 0);
		for (int i = 0; i < 5; i++)
			ck_assert_int_eq(tc_open(&c[i], PORT_WORKERS, "demo", "demo"), 0);
		for (int i = 0; i < 2; i++) {
			ck_assert_int_eq(tc_request(&c[i], TURN_METHOD_ALLOCATE, add_even, &reserve), 0);
			memcpy(tok[i], stun_msg_attr(&c[i].resp, TURN_ATTR_RESERVATION_TOKEN)->val,
			       TURN_TOKEN_LEN);
		}
		for (int i = 0; i < 2; i++)
			ck_assert_int_eq(tc_request(&c[2 + i], TURN_METHOD_ALLOCATE, add_token, tok[i]),
					 0);
		ck_assert_int_eq(tc_allocate(&c[4], NULL), 508);
		for (int i = 0; i < 5; i++)
			tc_close(&c[i]);
		turn_server_stop(s);
	}
}
END_TEST

/* ---- spare relay sockets (alloc.c) ---- */

/* The ports of 127.0.0.1 in [@lo, @hi] that something holds (a UDP bind() there fails with
 * EADDRINUSE), polled every 10 ms for up to 2 s until there are @want of them. The first @cap go
 * to @out. Returns how many there were at the last poll. */
static int ports_in_use_wait(uint16_t lo, uint16_t hi, int want, uint16_t *out, int cap)
{
	int n = 0;

	for (int tries = 0; tries < 200; tries++) {
		n = 0;
		for (unsigned p = lo; p <= hi; p++) {
			struct sockaddr_storage a;
			int fd = socket(AF_INET, SOCK_DGRAM, 0);

			ck_assert_int_ge(fd, 0);
			ck_assert_int_eq(addr_parse_ip("127.0.0.1", (uint16_t)p, &a), 0);
			if (bind(fd, (struct sockaddr *)&a, sizeof(struct sockaddr_in)) < 0) {
				ck_assert_int_eq(errno, EADDRINUSE);
				if (n < cap)
					out[n] = (uint16_t)p;
				n++;
			}
			close(fd);
		}
		if (n == want)
			break;
		usleep(10000);
	}
	return n;
}

static void add_peer_addr(struct stun_builder *b, void *arg)
{
	stun_build_xor_addr(b, TURN_ATTR_XOR_PEER_ADDRESS, arg);
}

START_TEST(test_spare_relays)
{
	/* The worker keeps min(16, ports / 32) relay sockets bound ahead of Allocates: 3 for the
	 * main server's 100 ports. An Allocate takes one (its relayed port is one of them) and the
	 * worker opens another. */
	uint16_t spare[8], held[8];
	struct sockaddr_storage peer, relayed;
	int pfd = udp_peer(&peer);
	struct tc c;

	ck_assert_int_eq(ports_in_use_wait(RELAY_MIN, RELAY_MAX, 3, spare, 8), 3);
	ck_assert_int_eq(tc_open(&c, PORT, "demo", "demo"), 0);
	ck_assert_int_eq(tc_allocate(&c, &relayed), 0);
	ck_assert(addr_port(&relayed) == spare[0] || addr_port(&relayed) == spare[1] ||
		  addr_port(&relayed) == spare[2]);
	ck_assert_int_eq(tc_permission(&c, &peer), 0);
	tf_send_to(pfd, &relayed, "fresh", 5);
	tf_expect_data_indication(&c, &peer, "fresh", 5);
	ck_assert_int_eq(ports_in_use_wait(RELAY_MIN, RELAY_MAX, 4, held, 8), 4);
	tc_close(&c);
	close(pfd);
}
END_TEST

START_TEST(test_spare_relays_stale)
{
	/* What a peer sent to a spare relay socket before an Allocate took it never reaches the
	 * allocation, even when the client pipelines the Allocate and a CreatePermission for that
	 * peer and the worker handles both in one batch. The worker's loop runs on this thread, a
	 * round at a time (turn_server_open_idle), so that the one batch is certain. */
	uint16_t lo = (uint16_t)(RELAY_ALT + 20), hi = (uint16_t)(lo + 63), spare[4];
	struct sockaddr_storage peer, relayed, to;
	int pfd = udp_peer(&peer);
	uint8_t req[2][512];
	long len[2];
	struct config cf;
	struct turn_server *s;
	struct event_base *base;
	struct tc c;

	config_make(&cf, PORT_SPARE, lo, hi, false, 1);
	ck_assert_int_eq(turn_server_open_idle(&s, &cf), 0);
	base = s->workers[0]->base;
	for (int i = 0; i < 4; i++) /* on_spares opens one socket per round */
		ck_assert_int_ge(event_base_loop(base, EVLOOP_NONBLOCK), 0);
	ck_assert_int_eq(ports_in_use_wait(lo, hi, 2, spare, 4), 2);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(addr_parse_ip("127.0.0.1", spare[i], &to), 0);
		tf_send_to(pfd, &to, "stale", 5);
	}
	/* Credentials without a 401 round trip (the loop is not running): a nonce made for us. */
	ck_assert_int_eq(tc_open(&c, PORT_SPARE, "demo", "demo"), 0);
	snprintf(c.realm, sizeof(c.realm), "%s", cf.turn.realm);
	turn_nonce_make(s, &c.local, c.nonce);
	tc_random_tid(c.tid);
	len[0] = tc_build(&c, TURN_METHOD_ALLOCATE, add_udp, NULL, req[0], sizeof(req[0]));
	tc_random_tid(c.tid);
	len[1] = tc_build(&c, TURN_METHOD_CREATE_PERMISSION, add_peer_addr, &peer, req[1],
			  sizeof(req[1]));
	ck_assert_int_gt(len[0], 0);
	ck_assert_int_gt(len[1], 0);
	ck_assert_int_eq(tc_send_raw(&c, req[0], (size_t)len[0]), 0);
	ck_assert_int_eq(tc_send_raw(&c, req[1], (size_t)len[1]), 0);
	for (int i = 0; i < 4; i++) /* the batch, then the relay socket's readable round */
		ck_assert_int_ge(event_base_loop(base, EVLOOP_NONBLOCK), 0);
	for (int i = 0; i < 2; i++) {
		long r = tc_recv(&c, 1000);

		ck_assert_int_gt(r, 0);
		ck_assert_int_eq(stun_msg_parse(&c.resp, c.rbuf, (size_t)r), 0);
		ck_assert_int_eq(c.resp.method, i ? TURN_METHOD_CREATE_PERMISSION : TURN_METHOD_ALLOCATE);
		ck_assert_int_eq(c.resp.cls, STUN_CLASS_SUCCESS);
		if (!i) {
			const struct stun_attr *a =
				stun_msg_attr(&c.resp, TURN_ATTR_XOR_RELAYED_ADDRESS);

			ck_assert_ptr_nonnull(a);
			ck_assert_int_eq(stun_attr_xor_addr(&c.resp, a, &relayed), 0);
		}
	}
	ck_assert(addr_port(&relayed) == spare[0] || addr_port(&relayed) == spare[1]);
	ck_assert_int_eq(tc_recv(&c, QUIET_MS), -ETIMEDOUT); /* not the stale datagram */
	tf_send_to(pfd, &relayed, "fresh", 5);
	for (int i = 0; i < 2; i++)
		ck_assert_int_ge(event_base_loop(base, EVLOOP_NONBLOCK), 0);
	tf_expect_data_indication(&c, &peer, "fresh", 5);
	tc_close(&c);
	close(pfd);
	turn_server_stop(s);
}
END_TEST

START_TEST(test_spare_relays_range)
{
	/* Spares take no capacity, and a request that needs particular ports gets theirs. The test
	 * holds the odd ports of a 64-port range, so the server has 32 even ports and keeps 2
	 * spares. 30 Allocates leave only the spares' ports free of allocations; EVEN-PORT then
	 * closes the spares and gets one of their ports; one more Allocate takes the last port; the
	 * next is a 508. */
	uint16_t lo = (uint16_t)(RELAY_ALT + 20 + (RELAY_ALT + 20) % 2), hi = (uint16_t)(lo + 63);
	uint8_t plain = 0;
	struct sockaddr_storage relayed[2];
	struct config cf;
	struct turn_server *s;
	struct tc c[33];
	uint16_t held[4];
	int odd[32];

	for (int i = 0; i < 32; i++) {
		struct sockaddr_storage a;

		odd[i] = socket(AF_INET, SOCK_DGRAM, 0);
		ck_assert_int_ge(odd[i], 0);
		ck_assert_int_eq(addr_parse_ip("127.0.0.1", (uint16_t)(lo + 2 * i + 1), &a), 0);
		ck_assert_int_eq(bind(odd[i], (struct sockaddr *)&a, sizeof(struct sockaddr_in)), 0);
	}
	config_make(&cf, PORT_SPARE, lo, hi, false, 1);
	ck_assert_int_eq(turn_server_start(&s, &cf), 0);
	ck_assert_int_eq(ports_in_use_wait(lo, hi, 34, held, 4), 34);
	for (int i = 0; i < 33; i++)
		ck_assert_int_eq(tc_open(&c[i], PORT_SPARE, "demo", "demo"), 0);
	for (int i = 0; i < 30; i++)
		ck_assert_int_eq(tc_allocate(&c[i], NULL), 0);
	ck_assert_int_eq(ports_in_use_wait(lo, hi, 64, held, 4), 64);
	ck_assert_int_eq(tc_request(&c[30], TURN_METHOD_ALLOCATE, add_even, &plain), 0);
	ck_assert_int_eq(relayed_addrs(&c[30], relayed), 1);
	ck_assert_uint_eq(addr_port(&relayed[0]) % 2, 0);
	ck_assert_int_eq(tc_allocate(&c[31], NULL), 0);
	ck_assert_int_eq(tc_allocate(&c[32], NULL), 508);
	for (int i = 0; i < 33; i++)
		tc_close(&c[i]);
	for (int i = 0; i < 32; i++)
		close(odd[i]);
	turn_server_stop(s);
}
END_TEST

/* ---- IPv6 and dual-stack (RFC 8656 §7.2, RFC 6156) ---- */

static void add_family(struct stun_builder *b, void *arg)
{
	const uint32_t *tv = arg; /* attribute type, family byte; type 0: none */

	add_udp(b, NULL);
	if (tv[0])
		stun_build_u32(b, (uint16_t)tv[0], tv[1] << 24);
	if (tv[2])
		stun_build_u32(b, (uint16_t)tv[2], tv[3] << 24);
}

/* Waits for a Data indication with an ICMP attribute on @c; checks its peer and type/code. */
static void expect_icmp(struct tc *c, const struct sockaddr_storage *peer, int type, int code)
{
	struct sockaddr_storage from;
	const struct stun_attr *a;
	struct stun_msg m;
	long n;

	for (;;) {
		n = tc_recv(c, 2000);
		ck_assert_int_gt(n, 0);
		ck_assert_int_eq(stun_msg_parse(&m, c->rbuf, (size_t)n), 0);
		if (stun_msg_attr(&m, TURN_ATTR_ICMP))
			break;
	}
	ck_assert_int_eq(m.method, TURN_METHOD_DATA);
	ck_assert_int_eq(m.cls, STUN_CLASS_INDICATION);
	ck_assert_ptr_null(stun_msg_attr(&m, TURN_ATTR_DATA));
	a = stun_msg_attr(&m, TURN_ATTR_XOR_PEER_ADDRESS);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(stun_attr_xor_addr(&m, a, &from), 0);
	ck_assert(addr_equal(&from, peer));
	a = stun_msg_attr(&m, TURN_ATTR_ICMP);
	ck_assert_uint_eq(a->len, 8);
	ck_assert_uint_eq(a->val[2], type);
	ck_assert_uint_eq(a->val[3], code);
}

START_TEST(test_icmp)
{
	/* RFC 8656 §11.5: an ICMP error about a datagram to a permitted peer reaches the client as a
	 * Data indication with XOR-PEER-ADDRESS and ICMP (port unreachable: IPv4 type 3 code 3,
	 * IPv6 type 1 code 4), without DATA. The error the kernel then holds for the relay socket
	 * does not cost the next datagram to another peer. */
	static const char *const none[] = { NULL };
	uint32_t v6[4] = { TURN_ATTR_REQUESTED_ADDRESS_FAMILY, 2, 0, 0 };
	struct sockaddr_storage relayed[2], dead, live, dead6;
	int lfd = udp_peer(&live), dfd = udp_peer(&dead), d6 = udp_peer_ip("::1", &dead6);
	struct config cf;
	struct turn_server *s;
	struct tc c;

	close(dfd); /* nobody listens there now: port unreachable */
	close(d6);
	client_allocated(&c, &relayed[0]);
	ck_assert_int_eq(tc_permission(&c, &dead), 0);
	ck_assert_int_eq(tc_permission(&c, &live), 0);
	ck_assert_int_eq(tc_send_indication(&c, &dead, "void", 4), 0);
	expect_icmp(&c, &dead, 3, 3);
	ck_assert_int_eq(tc_send_indication(&c, &dead, "void", 4), 0);
	usleep(50000); /* the ICMP is back: the relay socket holds its error */
	ck_assert_int_eq(tc_send_indication(&c, &live, "alive", 5), 0);
	tf_expect_peer_gets(lfd, &relayed[0], "alive", 5);
	tc_close(&c);

	config_make_v6(&cf, PORT_V6, none, 0);
	ck_assert_int_eq(turn_server_start(&s, &cf), 0);
	ck_assert_int_eq(tc_open(&c, PORT_V6, "demo", "demo"), 0);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_ALLOCATE, add_family, v6), 0);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4000, &dead6), 0);
	ck_assert_int_eq(tc_send_channel(&c, 0x4000, "void6", 5), 0);
	expect_icmp(&c, &dead6, 1, 4);
	tc_close(&c);
	turn_server_stop(s);
	close(lfd);
}
END_TEST



START_TEST(test_ipv6_relay)
{
	/* REQUESTED-ADDRESS-FAMILY IPv6 gets a relayed address on the IPv6 relay address (::1),
	 * asked over IPv4; IPv6 peers are reached through it both ways, by Send/Data and by
	 * channel; an IPv4 peer on it is a 443. A client talking to the IPv6 listener gets an IPv4
	 * relayed address by default. */
	static const char *const more[] = { "::1" };
	uint32_t v6[4] = { TURN_ATTR_REQUESTED_ADDRESS_FAMILY, 2, 0, 0 };
	struct config cf;
	struct turn_server *s;
	struct tc c, c6;
	struct sockaddr_storage relayed[2], peer, peer4, lo6;
	int pfd = udp_peer_ip("::1", &peer), p4 = udp_peer(&peer4);
	uint16_t num, dlen;
	const uint8_t *data;
	long n;

	ck_assert_int_ge(pfd, 0);
	config_make_v6(&cf, PORT_V6, more, 1);
	ck_assert_int_eq(turn_server_start(&s, &cf), 0);
	ck_assert_int_eq(tc_open(&c, PORT_V6, "demo", "demo"), 0);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_ALLOCATE, add_family, v6), 0);
	ck_assert_int_eq(relayed_addrs(&c, relayed), 1);
	addr_parse_ip("::1", addr_port(&relayed[0]), &lo6);
	ck_assert(addr_equal(&relayed[0], &lo6));
	ck_assert_uint_ge(addr_port(&relayed[0]), RELAY_MIN);

	ck_assert_int_eq(tc_permission(&c, &peer4), 443);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4000, &peer4), 443);
	ck_assert_int_eq(tc_permission(&c, &peer), 0);
	ck_assert_int_eq(tc_send_indication(&c, &peer, "six", 3), 0);
	tf_expect_peer_gets(pfd, &relayed[0], "six", 3);
	tf_send_to(pfd, &relayed[0], "back", 4);
	tf_expect_data_indication(&c, &peer, "back", 4);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4001, &peer), 0);
	ck_assert_int_eq(tc_send_channel(&c, 0x4001, "chan6", 5), 0);
	tf_expect_peer_gets(pfd, &relayed[0], "chan6", 5);
	tf_send_to(pfd, &relayed[0], "down6", 5);
	n = tc_recv(&c, 2000);
	ck_assert_int_eq(turn_channeldata_parse(c.rbuf, (size_t)n, &num, &data, &dlen), 0);
	ck_assert_uint_eq(num, 0x4001);
	ck_assert_mem_eq(data, "down6", 5);

	ck_assert_int_eq(tc_open_at(&c6, "::1", PORT_V6, "alice", "wonderland"), 0);
	ck_assert_int_eq(tc_allocate(&c6, &relayed[1]), 0);
	ck_assert_int_eq(relayed[1].ss_family, AF_INET);
	ck_assert_int_eq(tc_permission(&c6, &peer4), 0);
	ck_assert_int_eq(tc_send_indication(&c6, &peer4, "over v6", 7), 0);
	tf_expect_peer_gets(p4, &relayed[1], "over v6", 7);
	tc_close(&c);
	tc_close(&c6);
	close(pfd);
	close(p4);
	turn_server_stop(s);
}
END_TEST

START_TEST(test_dual_stack)
{
	/* ADDITIONAL-ADDRESS-FAMILY IPv6 (RFC 8656 §7.2) gets two XOR-RELAYED-ADDRESSes, IPv4
	 * first; peers of both families relay through the address of their family. Refresh with
	 * LIFETIME 0 and REQUESTED-ADDRESS-FAMILY IPv6 deletes only the IPv6 address: IPv6 peers
	 * are 443 after it, IPv4 ones still relay; the same for IPv4 then deletes the rest. */
	static const char *const none[] = { NULL };
	uint32_t dual[4] = { TURN_ATTR_ADDITIONAL_ADDRESS_FAMILY, 2, 0, 0 };
	uint32_t drop6[4] = { TURN_ATTR_LIFETIME, 0, TURN_ATTR_REQUESTED_ADDRESS_FAMILY, 2 };
	uint32_t drop4[4] = { TURN_ATTR_LIFETIME, 0, TURN_ATTR_REQUESTED_ADDRESS_FAMILY, 1 };
	struct config cf;
	struct turn_server *s;
	struct turn_counters k;
	struct tc c;
	struct sockaddr_storage relayed[2], p4, p6;
	int f4 = udp_peer(&p4), f6 = udp_peer_ip("::1", &p6);

	config_make_v6(&cf, PORT_V6, none, 0);
	ck_assert_int_eq(turn_server_start(&s, &cf), 0);
	ck_assert_int_eq(tc_open(&c, PORT_V6, "demo", "demo"), 0);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_ALLOCATE, add_family, dual), 0);
	ck_assert_int_eq(relayed_addrs(&c, relayed), 2);
	ck_assert_int_eq(relayed[0].ss_family, AF_INET);
	ck_assert_int_eq(relayed[1].ss_family, AF_INET6);
	ck_assert_ptr_null(stun_msg_attr(&c.resp, TURN_ATTR_ADDRESS_ERROR_CODE));

	ck_assert_int_eq(tc_permission(&c, &p4), 0);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4000, &p6), 0);
	ck_assert_int_eq(tc_send_indication(&c, &p4, "four", 4), 0);
	tf_expect_peer_gets(f4, &relayed[0], "four", 4);
	ck_assert_int_eq(tc_send_channel(&c, 0x4000, "six", 3), 0);
	tf_expect_peer_gets(f6, &relayed[1], "six", 3);
	tf_send_to(f4, &relayed[0], "from4", 5);
	tf_expect_data_indication(&c, &p4, "from4", 5);

	ck_assert_int_eq(tc_request(&c, TURN_METHOD_REFRESH, add_u32x2, drop6), 0);
	turn_server_counters(s, &k);
	ck_assert_uint_eq(k.allocations_now, 1);
	ck_assert_uint_eq(k.channels_now, 0);
	ck_assert_int_eq(tc_permission(&c, &p6), 443);
	ck_assert_int_eq(tc_send_indication(&c, &p4, "still", 5), 0);
	tf_expect_peer_gets(f4, &relayed[0], "still", 5);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_REFRESH, add_u32x2, drop6), 443);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_REFRESH, add_u32x2, drop4), 0);
	turn_server_counters(s, &k);
	ck_assert_uint_eq(k.allocations_now, 0);
	tc_close(&c);
	close(f4);
	close(f6);
	turn_server_stop(s);
}
END_TEST

START_TEST(test_dual_stack_partial)
{
	/* A dual-stack request to a server without an IPv6 relay address succeeds with the IPv4
	 * address and ADDRESS-ERROR-CODE (IPv6, 440) (RFC 8656 §7.2). */
	uint32_t dual[4] = { TURN_ATTR_ADDITIONAL_ADDRESS_FAMILY, 2, 0, 0 };
	struct sockaddr_storage relayed[2];
	struct tc c;
	uint8_t family = 0;
	int code = 0;

	ck_assert_int_eq(tc_open(&c, PORT, "demo", "demo"), 0);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_ALLOCATE, add_family, dual), 0);
	ck_assert_int_eq(relayed_addrs(&c, relayed), 1);
	ck_assert_int_eq(relayed[0].ss_family, AF_INET);
	ck_assert_int_eq(stun_attr_address_error(stun_msg_attr(&c.resp,
							       TURN_ATTR_ADDRESS_ERROR_CODE),
						 &family, &code), 0);
	ck_assert_uint_eq(family, 2);
	ck_assert_int_eq(code, 440);
	tc_close(&c);
}
END_TEST

START_TEST(test_family_errors)
{
	/* RFC 8656 §7.2 / RFC 6156: REQUESTED- and ADDITIONAL-ADDRESS-FAMILY together, or an
	 * ADDITIONAL-ADDRESS-FAMILY of IPv4, or a family attribute that is not 4 bytes: 400; an
	 * unknown family byte, or IPv6 on a server without an IPv6 relay address: 440; Refresh
	 * naming a family the allocation does not hold: 443. Nothing is allocated by the errors. */
	uint32_t both[4] = { TURN_ATTR_REQUESTED_ADDRESS_FAMILY, 1,
			     TURN_ATTR_ADDITIONAL_ADDRESS_FAMILY, 2 };
	uint32_t add4[4] = { TURN_ATTR_ADDITIONAL_ADDRESS_FAMILY, 1, 0, 0 };
	uint32_t odd[4] = { TURN_ATTR_REQUESTED_ADDRESS_FAMILY, 3, 0, 0 };
	uint32_t six[4] = { TURN_ATTR_REQUESTED_ADDRESS_FAMILY, 2, 0, 0 };
	uint32_t r6[4] = { TURN_ATTR_LIFETIME, 600, TURN_ATTR_REQUESTED_ADDRESS_FAMILY, 2 };
	static const uint8_t short_fam[2] = { 1, 0 };
	struct tc c;

	ck_assert_int_eq(tc_open(&c, PORT, "demo", "demo"), 0);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_ALLOCATE, add_family, both), 400);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_ALLOCATE, add_family, add4), 400);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_ALLOCATE, add_family, odd), 440);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_ALLOCATE, add_family, six), 440);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_ALLOCATE, add_short_family,
				    (void *)short_fam), 400);
	ck_assert_uint_eq(counters().allocations_now, 0);
	ck_assert_int_eq(tc_allocate(&c, NULL), 0);
	ck_assert_int_eq(tc_request(&c, TURN_METHOD_REFRESH, add_u32x2, r6), 443);
	tc_close(&c);
}
END_TEST

START_TEST(test_two_listeners)
{
	/* The 5-tuple includes the server address: one client socket allocating through two
	 * listeners (127.0.0.1 and 127.0.0.2, same port) gets two allocations, each answered from
	 * the address it asked. */
	static const char *const more[] = { "127.0.0.2" };
	struct config cf;
	struct turn_server *s;
	struct turn_counters k;
	struct tc c;
	struct sockaddr_storage second;

	config_make_v6(&cf, PORT_V6, more, 1);
	ck_assert_int_eq(turn_server_start(&s, &cf), 0);
	ck_assert_int_eq(tc_open(&c, PORT_V6, "demo", "demo"), 0);
	ck_assert_int_eq(tc_allocate(&c, NULL), 0);
	addr_parse_ip("127.0.0.2", PORT_V6, &second);
	c.server = second;
	ck_assert_int_eq(tc_allocate(&c, NULL), 0);
	ck_assert_int_eq(tc_allocate(&c, NULL), 437);
	turn_server_counters(s, &k);
	ck_assert_uint_eq(k.allocations_now, 2);
	tc_close(&c);
	turn_server_stop(s);
}
END_TEST

/* ---- The peer ACL ---- */

/* A UDP socket bound to @ip on an ephemeral port; its address in @addr. Returns the fd. */
static int udp_peer_on(const char *ip, struct sockaddr_storage *addr)
{
	socklen_t len = sizeof(*addr);
	int fd;

	ck_assert_int_eq(addr_parse_ip(ip, 0, addr), 0);
	fd = socket(addr->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)addr, addr_len(addr)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)addr, &len), 0);
	return fd;
}

/*
 * Every address a relay must not reach under the default deny list, in every spelling that has
 * let a TURN server be tricked (coturn CVE-2020-26262: 0.0.0.0, ::, ::1; CVE-2026-27624:
 * ::ffff:127.0.0.1) and the IPv6 forms that tunnel to IPv4 (IPv4-compatible, NAT64, 6to4, Teredo).
 */
static const char *const refused_peers[] = {
	"0.0.0.0", "0.1.2.3", "127.0.0.1", "127.255.255.254", "10.0.0.1", "10.255.255.255",
	"172.16.0.1", "172.31.255.255", "192.168.0.1", "192.168.255.255", "100.64.0.1",
	"100.127.255.254", "169.254.169.254", "169.254.0.1", "192.0.0.1", "192.0.0.170",
	"192.0.2.1", "198.51.100.1", "203.0.113.1", "198.18.0.1", "198.19.255.254", "224.0.0.1",
	"239.255.255.250", "240.0.0.1", "255.255.255.255",
	"::", "::1", "::ffff:127.0.0.1", "::ffff:0.0.0.0", "::ffff:10.0.0.1",
	"::ffff:169.254.169.254", "::ffff:192.168.1.1", "::127.0.0.1", "::a00:1",
	"64:ff9b::127.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::1", "2002:7f00:1::1",
	"2002:a9fe:a9fe::1", "2001:0:4136:e378:8000:63bf:80ff:fffe", "2001:db8::1", "3fff::1",
	"fc00::1", "fd00::2", "fe80::1", "ff02::1", "ff05::1:3", "100::1",
};

START_TEST(test_peer_table)
{
	/* Under the default deny list each of the 48 refused_peers gets 403 on CreatePermission and
	 * on ChannelBind, and its Send indication is dropped by the ACL (counted in peer_denied), an
	 * IPv6 one on an IPv4 allocation too (403 comes before 443); nothing is installed or sent.
	 * An allowed peer (127.0.0.2, in allow_peers) still relays: the refusals are the ACL's. */
	const size_t n = sizeof(refused_peers) / sizeof(refused_peers[0]);
	struct config deny;
	struct cidr allow;
	struct turn_server *s;
	struct turn_counters k;
	struct tc c;
	struct sockaddr_storage relayed, ok;
	int okfd = udp_peer_on("127.0.0.2", &ok);

	ck_assert_uint_ge(n, 40);
	config_make(&deny, PORT_DENY, RELAY_MIN, RELAY_MAX, true, 1);
	ck_assert_int_eq(cidr_parse("127.0.0.2", &allow), 0);
	deny.turn.peers.allow = &allow;
	deny.turn.peers.n_allow = 1;
	ck_assert_int_eq(turn_server_start(&s, &deny), 0);
	ck_assert_int_eq(tc_open(&c, PORT_DENY, "demo", "demo"), 0);
	ck_assert_int_eq(tc_allocate(&c, &relayed), 0);

	for (size_t i = 0; i < n; i++) {
		struct sockaddr_storage peer;

		ck_assert_int_eq(addr_parse_ip(refused_peers[i], 9, &peer), 0);
		ck_assert_msg(tc_permission(&c, &peer) == 403, "CreatePermission %s",
			      refused_peers[i]);
		ck_assert_msg(tc_channel_bind(&c, (uint16_t)(0x4000 + i), &peer) == 403,
			      "ChannelBind %s", refused_peers[i]);
		ck_assert_int_eq(tc_send_indication(&c, &peer, "x", 1), 0);
	}
	ck_assert_uint_eq(TF_CTR_WAIT(s, peer_denied, 3 * n), 3 * n);
	turn_server_counters(s, &k);
	ck_assert_uint_eq(k.permissions_now, 0);
	ck_assert_uint_eq(k.channels_now, 0);
	ck_assert_uint_eq(k.pkts_to_peer, 0);

	ck_assert_int_eq(tc_permission(&c, &ok), 0);
	ck_assert_int_eq(tc_send_indication(&c, &ok, "fine", 4), 0);
	tf_expect_peer_gets(okfd, &relayed, "fine", 4);
	tc_close(&c);
	close(okfd);
	turn_server_stop(s);
}
END_TEST

START_TEST(test_peer_tunnelled)
{
	/* With a deny list of IPv4 prefixes only, the IPv6 forms that tunnel to a denied IPv4 address
	 * (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo server or client) still get 403; a 6to4
	 * address of a public IPv4 passes the ACL and, on an IPv4 allocation, gets 443. An
	 * IPv4-mapped public address is the IPv4 address: it gets a permission for it. */
	static const char *const tunnelled[] = {
		"::ffff:127.0.0.1", "::127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::1",
		"2001:0:a00:1::f7f7:f7f7", "2001:0:808:808:0:0:80ff:fffe",
	};
	static const char *const v4[] = { "127.0.0.0/8", "10.0.0.0/8" };
	struct cidr deny[2];
	struct config cf;
	struct turn_server *s;
	struct tc c;
	struct sockaddr_storage peer;

	config_make(&cf, PORT_TUNNEL, RELAY_MIN, RELAY_MAX, true, 1);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(cidr_parse(v4[i], &deny[i]), 0);
	cf.turn.peers.deny = deny;
	cf.turn.peers.n_deny = 2;
	ck_assert_int_eq(turn_server_start(&s, &cf), 0);
	ck_assert_int_eq(tc_open(&c, PORT_TUNNEL, "demo", "demo"), 0);
	ck_assert_int_eq(tc_allocate(&c, NULL), 0);
	for (size_t i = 0; i < sizeof(tunnelled) / sizeof(*tunnelled); i++) {
		ck_assert_int_eq(addr_parse_ip(tunnelled[i], 7, &peer), 0);
		ck_assert_msg(tc_permission(&c, &peer) == 403, "%s", tunnelled[i]);
	}
	addr_parse_ip("2002:808:808::1", 7, &peer);
	ck_assert_int_eq(tc_permission(&c, &peer), 443);
	addr_parse_ip("::ffff:8.8.8.8", 7, &peer);
	ck_assert_int_eq(tc_permission(&c, &peer), 0);
	tc_close(&c);
	turn_server_stop(s);
}
END_TEST

START_TEST(test_peer_self)
{
	/* The relay's own addresses. With no deny list at all: a port of this machine's IP outside
	 * the relay range is refused (403), and so is the TURN listening socket; another
	 * allocation's relayed address is reachable, so two clients of this relay talk relay to
	 * relay, both ways. With 127.0.0.0/8 in allow_peers (the usual test config) the IP's other
	 * ports open, but the listening socket stays refused, also for a Send indication on an
	 * existing permission. */
	struct config cf;
	struct turn_server *s;
	struct tc a, b;
	struct sockaddr_storage ra, rb, other, listen;
	int ofd = udp_peer(&other);
	uint16_t num, dlen;
	const uint8_t *data;
	long n;

	config_make(&cf, PORT_SELF, RELAY_MIN, RELAY_MAX, true, 1);
	cf.turn.peers.n_deny = 0;
	ck_assert_int_eq(turn_server_start(&s, &cf), 0);
	ck_assert_int_eq(tc_open(&a, PORT_SELF, "demo", "demo"), 0);
	ck_assert_int_eq(tc_open(&b, PORT_SELF, "alice", "wonderland"), 0);
	ck_assert_int_eq(tc_allocate(&a, &ra), 0);
	ck_assert_int_eq(tc_allocate(&b, &rb), 0);
	addr_parse_ip("127.0.0.1", PORT_SELF, &listen);
	ck_assert_int_eq(tc_permission(&a, &other), 403);
	ck_assert_int_eq(tc_permission(&a, &listen), 403);
	ck_assert_int_eq(tc_channel_bind(&a, 0x4000, &listen), 403);
	ck_assert_int_eq(tc_channel_bind(&a, 0x4001, &rb), 0);
	ck_assert_int_eq(tc_permission(&b, &ra), 0);
	ck_assert_int_eq(tc_send_channel(&a, 0x4001, "relay to relay", 14), 0);
	tf_expect_data_indication(&b, &ra, "relay to relay", 14);
	ck_assert_int_eq(tc_send_indication(&b, &ra, "and back", 8), 0);
	n = tc_recv(&a, 2000);
	ck_assert_int_eq(n, TURN_CHANNELDATA_HDR + 8);
	ck_assert_int_eq(turn_channeldata_parse(a.rbuf, (size_t)n, &num, &data, &dlen), 0);
	ck_assert_uint_eq(num, 0x4001);
	ck_assert_mem_eq(data, "and back", 8);
	tc_close(&a);
	tc_close(&b);
	turn_server_stop(s);

	/* The default test server allows 127.0.0.0/8. */
	client_allocated(&a, NULL);
	addr_parse_ip("127.0.0.1", PORT, &listen);
	ck_assert_int_eq(tc_permission(&a, &listen), 403);
	ck_assert_int_eq(tc_permission(&a, &other), 0);
	ck_assert_int_eq(tc_send_indication(&a, &listen, "loop", 4), 0);
	ck_assert_uint_eq(TF_CTR_WAIT(srv, peer_denied, 2), 2);
	ck_assert_uint_eq(counters().pkts_to_peer, 0);
	tc_close(&a);
	close(ofd);
}
END_TEST

/* ---- Quotas and the bandwidth cap ---- */

START_TEST(test_user_quota)
{
	/* turn.user_quota (3 here) counts a user's allocations and reservations; one more is a 486
	 * with MESSAGE-INTEGRITY (the request authenticated) counted in quota_exceeded. REST
	 * credentials count per participant, across credentials. Freeing one makes room. Another
	 * user is not affected. */
	char u1[CRED_USERNAME_MAX], p1[CRED_PASSWORD_MAX], u2[CRED_USERNAME_MAX], p2[CRED_PASSWORD_MAX];
	uint32_t zero[2] = { TURN_ATTR_LIFETIME, 0 };
	uint8_t reserve = 0x80;
	struct config cf;
	struct turn_server *s;
	struct turn_counters k;
	struct tc c[5];

	config_make(&cf, PORT_QUOTA, RELAY_MIN, RELAY_MAX, false, 1);
	cf.turn.user_quota = 3;
	ck_assert_int_eq(turn_server_start(&s, &cf), 0);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(tc_open(&c[i], PORT_QUOTA, "demo", "demo"), 0);
	ck_assert_int_eq(tc_allocate(&c[0], NULL), 0);
	ck_assert_int_eq(tc_request(&c[1], TURN_METHOD_ALLOCATE, add_even, &reserve), 0); /* 2 slots */
	ck_assert_int_eq(tc_allocate(&c[2], NULL), 486);
	ck_assert_int_ge(c[2].resp.mi, 0);
	turn_server_counters(s, &k);
	ck_assert_uint_eq(k.quota_exceeded, 1);
	ck_assert_int_eq(tc_request(&c[0], TURN_METHOD_REFRESH, add_u32, zero), 0);
	ck_assert_int_eq(tc_allocate(&c[2], NULL), 0);
	for (int i = 0; i < 5; i++)
		tc_close(&c[i]);

	/* Participant p1 with two credentials: 3 allocations, the 4th refused. */
	ck_assert_int_eq(cred_rest_mint(&cf.turn.secret, "p1", time(NULL), 600, u1, p1), 0);
	ck_assert_int_eq(cred_rest_mint(&cf.turn.secret, "p1", time(NULL), 900, u2, p2), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(tc_open(&c[i], PORT_QUOTA, i % 2 ? u2 : u1, i % 2 ? p2 : p1), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(tc_allocate(&c[i], NULL), 0);
	ck_assert_int_eq(tc_allocate(&c[3], NULL), 486);
	ck_assert_int_eq(tc_open(&c[4], PORT_QUOTA, "alice", "wonderland"), 0);
	ck_assert_int_eq(tc_allocate(&c[4], NULL), 0);
	for (int i = 0; i < 5; i++)
		tc_close(&c[i]);
	turn_server_stop(s);
}
END_TEST

START_TEST(test_max_allocations)
{
	/* turn.max_allocations (2 here) caps allocations across users: the third is a 508 counted in
	 * capacity_exceeded (not in port_exhausted); deleting one makes room. */
	uint32_t zero[2] = { TURN_ATTR_LIFETIME, 0 };
	struct config cf;
	struct turn_server *s;
	struct turn_counters k;
	struct tc c[3];

	config_make(&cf, PORT_QUOTA, RELAY_MIN, RELAY_MAX, false, 1);
	cf.turn.max_allocations = 2;
	ck_assert_int_eq(turn_server_start(&s, &cf), 0);
	ck_assert_int_eq(tc_open(&c[0], PORT_QUOTA, "demo", "demo"), 0);
	ck_assert_int_eq(tc_open(&c[1], PORT_QUOTA, "alice", "wonderland"), 0);
	ck_assert_int_eq(tc_open(&c[2], PORT_QUOTA, "demo", "demo"), 0);
	ck_assert_int_eq(tc_allocate(&c[0], NULL), 0);
	ck_assert_int_eq(tc_allocate(&c[1], NULL), 0);
	ck_assert_int_eq(tc_allocate(&c[2], NULL), 508);
	turn_server_counters(s, &k);
	ck_assert_uint_eq(k.capacity_exceeded, 1);
	ck_assert_uint_eq(k.port_exhausted, 0);
	ck_assert_int_eq(tc_request(&c[1], TURN_METHOD_REFRESH, add_u32, zero), 0);
	ck_assert_int_eq(tc_allocate(&c[2], NULL), 0);
	for (int i = 0; i < 3; i++)
		tc_close(&c[i]);
	turn_server_stop(s);
}
END_TEST

START_TEST(test_bandwidth_cap)
{
	/* turn.bandwidth (64 kbit/s here: 8000 B/s, a bucket of 65600 bytes, the floor of one
	 * largest datagram) drops what exceeds it in each direction, counted in bandwidth_dropped:
	 * of 100 back-to-back 1000-byte datagrams about 66 pass each way. */
	static uint8_t blob[1000];
	struct config cf;
	struct turn_server *s;
	struct turn_counters k;
	struct tc c;
	struct sockaddr_storage relayed, peer;
	int pfd = udp_peer(&peer), got_peer = 0, got_client = 0;
	uint8_t buf[2048];

	config_make(&cf, PORT_BW, RELAY_MIN, RELAY_MAX, false, 1);
	cf.turn.bandwidth = 64;
	ck_assert_int_eq(turn_server_start(&s, &cf), 0);
	ck_assert_int_eq(tc_open(&c, PORT_BW, "demo", "demo"), 0);
	ck_assert_int_eq(tc_allocate(&c, &relayed), 0);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4000, &peer), 0);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(tc_send_channel(&c, 0x4000, blob, sizeof(blob)), 0);
	while (udp_recv(pfd, buf, sizeof(buf), NULL, QUIET_MS) > 0)
		got_peer++;
	for (int i = 0; i < 100; i++) {
		tf_send_to(pfd, &relayed, blob, sizeof(blob));
		if (i % 20 == 19)
			usleep(1000); /* let the relay drain: the socket buffer must not be the limit */
	}
	while (tc_recv(&c, QUIET_MS) > 0)
		got_client++;
	ck_assert_int_ge(got_peer, 64);
	ck_assert_int_le(got_peer, 68);
	ck_assert_int_ge(got_client, 64);
	ck_assert_int_le(got_client, 68);
	turn_server_counters(s, &k);
	ck_assert_uint_eq(k.bandwidth_dropped, (uint64_t)(200 - got_peer - got_client));
	tc_close(&c);
	close(pfd);
	turn_server_stop(s);
}
END_TEST

/* ---- Room-bound credentials: revocation ---- */

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

START_TEST(test_revoke)
{
	/* turn_server_revoke(participant), as the control thread calls it when a participant leaves
	 * the room, on a 2-worker server: within 1 s every allocation of the participant, on both
	 * workers and under both of its credentials, is deleted, and those of another participant
	 * stay. Then the same credential gets 401 on a new Allocate (the answer to an expired or
	 * unknown credential too: revocation makes the credential invalid, RFC 8489 §9.2.4, rather
	 * than the request forbidden; it also tells a prober nothing about which), counted in
	 * auth_failures, and so does the old 5-tuple's Refresh. A credential minted after the
	 * revocation (the participant came back) works. Bad ids are -EINVAL. */
	char u1[CRED_USERNAME_MAX], p1[CRED_PASSWORD_MAX], u1b[CRED_USERNAME_MAX],
	     p1b[CRED_PASSWORD_MAX], u2[CRED_USERNAME_MAX], p2[CRED_PASSWORD_MAX];
	struct config cf;
	struct turn_server *s;
	struct turn_counters k;
	struct tc c[8], again;
	double t0, elapsed;
	time_t now = time(NULL);

	config_make(&cf, PORT_REVOKE, RELAY_MIN, RELAY_MAX, false, 2);
	cf.turn.credential_lifetime = 600;
	ck_assert_int_eq(turn_server_start(&s, &cf), 0);
	ck_assert_int_eq(cred_rest_mint(&cf.turn.secret, "leaver", now - 5, 600, u1, p1), 0);
	ck_assert_int_eq(cred_rest_mint(&cf.turn.secret, "leaver", now, 600, u1b, p1b), 0);
	ck_assert_int_eq(cred_rest_mint(&cf.turn.secret, "stayer", now, 600, u2, p2), 0);
	for (int i = 0; i < 8; i++) {
		const char *u = i < 6 ? (i % 2 ? u1b : u1) : u2, *pw = i < 6 ? (i % 2 ? p1b : p1) : p2;
		ck_assert_int_eq(tc_open(&c[i], PORT_REVOKE, u, pw), 0);
		ck_assert_int_eq(tc_allocate(&c[i], NULL), 0);
	}
	turn_server_counters(s, &k);
	ck_assert_uint_eq(k.allocations_now, 8);

	ck_assert_int_eq(turn_server_revoke(s, ""), -EINVAL);
	ck_assert_int_eq(turn_server_revoke(s, "a:b"), -EINVAL);
	ck_assert_int_eq(turn_server_revoke(s, "sp ace"), -EINVAL);
	t0 = mono_ms();
	ck_assert_int_eq(turn_server_revoke(s, "leaver"), 0);
	do {
		turn_server_counters(s, &k);
		elapsed = mono_ms() - t0;
	} while (k.allocations_now > 2 && elapsed < 1000);
	ck_assert_msg(k.allocations_now == 2, "%llu allocations left after %.0f ms",
		      (unsigned long long)k.allocations_now, elapsed);
	ck_assert_msg(elapsed < 1000, "revocation took %.0f ms", elapsed);
	fprintf(stderr, "test_revoke: 6 allocations deleted %.1f ms after turn_server_revoke\n",
		elapsed);

	ck_assert_int_eq(tc_open(&again, PORT_REVOKE, u1, p1), 0);
	ck_assert_int_eq(tc_allocate(&again, NULL), 401);
	ck_assert_int_lt(again.resp.mi, 0);
	tc_close(&again);
	ck_assert_int_eq(tc_request(&c[0], TURN_METHOD_REFRESH, NULL, NULL), 401);
	turn_server_counters(s, &k);
	ck_assert_uint_eq(k.auth_failures, 2);
	ck_assert_int_eq(tc_request(&c[6], TURN_METHOD_REFRESH, NULL, NULL), 0);

	sleep(1); /* a credential minted now expires after every revoked one */
	ck_assert_int_eq(cred_rest_mint(&cf.turn.secret, "leaver", time(NULL), 600, u1, p1), 0);
	ck_assert_int_eq(tc_open(&again, PORT_REVOKE, u1, p1), 0);
	ck_assert_int_eq(tc_allocate(&again, NULL), 0);
	tc_close(&again);
	for (int i = 0; i < 8; i++)
		tc_close(&c[i]);
	turn_server_stop(s);
}
END_TEST

/* ---- Bad input ---- */

START_TEST(test_garbage)
{
	/* 1,000 random, truncated and mutated datagrams (also from a client with an allocation and a
	 * channel) neither crash nor stall the server: it still answers a Binding, and counts them. */
	struct tc c, fresh;
	struct sockaddr_storage peer;
	int pfd = udp_peer(&peer);
	uint8_t real[3][600], buf[700];
	size_t real_len[3];
	struct stun_builder b;
	uint8_t tid[STUN_TID_LEN], key[16];

	srand(1234);
	client_allocated(&c, NULL);
	ck_assert_int_eq(tc_channel_bind(&c, 0x4000, &peer), 0);

	/* Real messages to mutate: an authenticated Allocate, a Send indication, ChannelData. */
	stun_ltc_key("demo", 4, "tincan.test", 11, "demo", 4, key);
	tc_random_tid(tid);
	stun_build_init(&b, real[0], sizeof(real[0]), TURN_METHOD_CREATE_PERMISSION,
			STUN_CLASS_REQUEST, tid);
	stun_build_xor_addr(&b, TURN_ATTR_XOR_PEER_ADDRESS, &peer);
	stun_build_attr(&b, STUN_ATTR_USERNAME, "demo", 4);
	stun_build_attr(&b, STUN_ATTR_REALM, "tincan.test", 11);
	stun_build_attr(&b, STUN_ATTR_NONCE, c.nonce, strlen(c.nonce));
	stun_build_integrity(&b, key, sizeof(key));
	stun_build_fingerprint(&b);
	ck_assert_int_eq(stun_build_finish(&b, &real_len[0]), 0);
	stun_build_init(&b, real[1], sizeof(real[1]), TURN_METHOD_SEND, STUN_CLASS_INDICATION, tid);
	stun_build_xor_addr(&b, TURN_ATTR_XOR_PEER_ADDRESS, &peer);
	stun_build_attr(&b, TURN_ATTR_DATA, "payload", 7);
	ck_assert_int_eq(stun_build_finish(&b, &real_len[1]), 0);
	turn_channeldata_header(real[2], 0x4000, 8);
	memcpy(real[2] + 4, "chandata", 8);
	real_len[2] = 12;

	for (int i = 0; i < 1000; i++) {
		size_t len;

		switch (i % 4) {
		case 0: /* random bytes, random length */
			len = (size_t)rand() % sizeof(buf);
			for (size_t j = 0; j < len; j++)
				buf[j] = (uint8_t)rand();
			break;
		case 1: /* a real message cut short */
			len = real_len[i % 3];
			memcpy(buf, real[i % 3], len);
			len = (size_t)rand() % len;
			break;
		default: /* a real message with a few bytes flipped */
			len = real_len[i % 3];
			memcpy(buf, real[i % 3], len);
			for (int k = 0; k < 1 + rand() % 4; k++)
				buf[(size_t)rand() % len] ^= (uint8_t)(1 + rand() % 255);
			break;
		}
		ck_assert_int_eq(tc_send_raw(&c, buf, len), 0);
	}

	ck_assert_int_eq(tc_open(&fresh, PORT, NULL, NULL), 0);
	ck_assert_int_eq(tc_request(&fresh, STUN_METHOD_BINDING, NULL, NULL), 0);
	ck_assert_uint_gt(counters().malformed, 100);
	tc_close(&fresh);
	tc_close(&c);
	close(pfd);
}
END_TEST

START_TEST(test_not_stun)
{
	/* A first byte outside 0x00-0x7F is dropped without an answer and counted as malformed. */
	struct tc c;
	static const uint8_t dtls[] = { 0x16, 0xfe, 0xfd }, rtp[] = { 0x80, 0x00, 0x01, 0x02 };

	ck_assert_int_eq(tc_open(&c, PORT, NULL, NULL), 0);
	ck_assert_int_eq(tc_send_raw(&c, rtp, sizeof(rtp)), 0);
	ck_assert_int_eq(tc_send_raw(&c, dtls, sizeof(dtls)), 0);
	ck_assert_int_eq(tc_recv(&c, QUIET_MS), -ETIMEDOUT);
	ck_assert_uint_eq(counters().malformed, 2);
	ck_assert_uint_eq(counters().requests, 0);
	tc_close(&c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("turn");
	TCase *tc = tcase_create("turn");
	SRunner *sr;
	int failed;

	port_base = tf_port_base(0);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_binding);
	tcase_add_test(tc, test_allocate_needs_auth);
	tcase_add_test(tc, test_wrong_password);
	tcase_add_test(tc, test_allocate_static_user);
	tcase_add_test(tc, test_rest_credentials);
	tcase_add_test(tc, test_auth_reset);
	tcase_add_test(tc, test_stale_nonce);
	tcase_add_test(tc, test_wrong_username);
	tcase_add_test(tc, test_401_rfc8489);
	tcase_add_test(tc, test_sha256_password_algorithm);
	tcase_add_test(tc, test_mi256_legacy_key);
	tcase_add_test(tc, test_password_algorithms_bid_down);
	tcase_add_test(tc, test_userhash);
	tcase_add_test(tc, test_unauth_answers_bare);
	tcase_add_test(tc, test_unauth_limit);
	tcase_add_test(tc, test_requested_transport);
	tcase_add_test(tc, test_unknown_attribute);
	tcase_add_test(tc, test_family_ipv6);
	tcase_add_test(tc, test_even_port);
	tcase_add_test(tc, test_reservation);
	tcase_add_test(tc, test_reservation_expires);
	tcase_add_test(tc, test_lifetime_clamp);
	tcase_add_test(tc, test_allocate_retransmit);
	tcase_add_test(tc, test_port_exhaustion);
	tcase_add_test(tc, test_spare_relays);
	tcase_add_test(tc, test_spare_relays_stale);
	tcase_add_test(tc, test_spare_relays_range);
	tcase_add_test(tc, test_refresh_zero);
	tcase_add_test(tc, test_send_and_data_indication);
	tcase_add_test(tc, test_permission_required);
	tcase_add_test(tc, test_channel_data);
	tcase_add_test(tc, test_channel_rebind_rules);
	tcase_add_test(tc, test_timers_expire);
	tcase_add_test(tc, test_timer_refresh);
	tcase_add_test(tc, test_channel_range);
	tcase_add_test(tc, test_bad_peer_address);
	tcase_add_test(tc, test_denied_peer);
	tcase_add_test(tc, test_ipv6_relay);
	tcase_add_test(tc, test_dual_stack);
	tcase_add_test(tc, test_dual_stack_partial);
	tcase_add_test(tc, test_family_errors);
	tcase_add_test(tc, test_two_listeners);
	tcase_add_test(tc, test_icmp);
	tcase_add_test(tc, test_peer_table);
	tcase_add_test(tc, test_peer_tunnelled);
	tcase_add_test(tc, test_peer_self);
	tcase_add_test(tc, test_workers);
	tcase_add_test(tc, test_workers_borrow);
	tcase_add_test(tc, test_user_quota);
	tcase_add_test(tc, test_max_allocations);
	tcase_add_test(tc, test_bandwidth_cap);
	tcase_add_test(tc, test_revoke);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_not_stun);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
