/* The relay side of the TURN unit tests, and checks both sides share: see turnfixture.h. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/cred.h"
#include "turnfixture.h"

/* The ACL lists a config points to (a test process runs one config family at a time: each
 * Check test is its own fork). */
static struct cidr allow_loopback[2];
static struct cidr deny_list[64];

void tf_config(struct config *c, uint16_t udp, uint16_t relay_min, uint16_t relay_max,
	       struct config_user *users, size_t n_users, unsigned workers)
{
	memset(c, 0, sizeof(*c));
	ck_assert_int_eq(addr_parse_ip("127.0.0.1", udp, &c->turn.listen), 0);
	c->turn.listens[0] = c->turn.listen;
	c->turn.n_listen = 1;
	ck_assert_int_eq(addr_parse_ip("127.0.0.1", 0, &c->turn.relay_ip), 0);
	c->turn.relay_v4 = c->turn.relay_ip;
	c->turn.relay_port_min = relay_min;
	c->turn.relay_port_max = relay_max;
	strcpy(c->turn.realm, "tincan.test");
	ck_assert_int_eq(cred_secret_random(&c->turn.secret), 0);
	c->turn.users = users;
	c->turn.n_users = n_users;
	c->turn.workers = workers;
	c->turn.hairpin = true; /* the default of turn.hairpin */
	ck_assert_int_eq(cidr_parse("127.0.0.0/8", &allow_loopback[0]), 0);
	ck_assert_int_eq(cidr_parse("::1", &allow_loopback[1]), 0);
	c->turn.peers.allow = allow_loopback;
	c->turn.peers.n_allow = 2;
}

void tf_config_deny_default(struct config *c, bool deny_loopback)
{
	size_t n;
	const char *const *def = peer_acl_default_deny(&n);

	ck_assert(n <= sizeof(deny_list) / sizeof(deny_list[0]));
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(cidr_parse(def[i], &deny_list[i]), 0);
	c->turn.peers.deny = deny_list;
	c->turn.peers.n_deny = n;
	if (deny_loopback) {
		c->turn.peers.allow = NULL;
		c->turn.peers.n_allow = 0;
	}
}

uint64_t tf_counter_wait_ms(struct turn_server *s, size_t off, uint64_t want, int ms)
{
	struct turn_counters k;
	uint64_t v = 0;

	for (int i = 0; i <= ms / 10; i++) {
		turn_server_counters(s, &k);
		memcpy(&v, (const char *)&k + off, sizeof(v));
		if (v == want)
			break;
		usleep(10000);
	}
	return v;
}

uint64_t tf_counter_wait(struct turn_server *s, size_t off, uint64_t want)
{
	return tf_counter_wait_ms(s, off, want, 2000);
}

void tf_expect_data_indication(struct tc *c, const struct sockaddr_storage *peer,
			       const void *want, size_t want_len)
{
	struct sockaddr_storage from;
	const struct stun_attr *a;
	struct stun_msg m;
	long n = tc_recv(c, 2000);

	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(stun_msg_parse(&m, c->rbuf, (size_t)n), 0);
	ck_assert_int_eq(m.method, TURN_METHOD_DATA);
	ck_assert_int_eq(m.cls, STUN_CLASS_INDICATION);
	a = stun_msg_attr(&m, TURN_ATTR_XOR_PEER_ADDRESS);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(stun_attr_xor_addr(&m, a, &from), 0);
	ck_assert(addr_equal(&from, peer));
	a = stun_msg_attr(&m, TURN_ATTR_DATA);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->len, want_len);
	ck_assert_mem_eq(a->val, want, want_len);
}

void tf_expect_peer_gets(int peer_fd, const struct sockaddr_storage *relayed, const void *want,
			 size_t want_len)
{
	uint8_t buf[2048];
	struct sockaddr_storage from;
	long n = udp_recv(peer_fd, buf, sizeof(buf), &from, 2000);

	ck_assert_int_eq(n, (long)want_len);
	ck_assert_mem_eq(buf, want, want_len);
	ck_assert(addr_equal(&from, relayed));
}

void tf_send_to(int fd, const struct sockaddr_storage *to, const void *buf, size_t len)
{
	ck_assert_int_eq(sendto(fd, buf, len, 0, (const struct sockaddr *)to, addr_len(to)),
			 (ssize_t)len);
}

uint16_t tf_port_base(unsigned offset)
{
	const char *base = getenv("TINCAN_TEST_PORT_BASE");
	int b = base ? atoi(base) : 0;

	if (b < 1024 || b > 64000)
		b = 25000;
	return (uint16_t)(b + (int)offset);
}
