/*
 * turnfixture: the relay side of the TURN unit tests (test_turn, test_turn_stream,
 * test_turn_hairpin, test_turn_reload): a loopback configuration, waiting for a counter, checking
 * what a client or a peer receives, and the port base. The client side is turnclient.h.
 */
#ifndef TINCAN_TESTS_TURNFIXTURE_H
#define TINCAN_TESTS_TURNFIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "turn/turn.h"
#include "turnclient.h"

/*
 * Fills @c (zeroed first) for a relay on loopback: UDP on 127.0.0.1:@udp, relayed addresses on
 * 127.0.0.1 ports [@relay_min, @relay_max] (host order, inclusive), realm "tincan.test", a random
 * REST secret, the @n_users static @users (kept by pointer: they must outlive the server),
 * @workers worker threads, turn.hairpin on (its default), and peers on 127.0.0.0/8 and ::1
 * allowed (turn_peer_check refuses loopback otherwise); no deny list. Fails the test on error.
 */
void tf_config(struct config *c, uint16_t udp, uint16_t relay_min, uint16_t relay_max,
	       struct config_user *users, size_t n_users, unsigned workers);

/* Adds the default deny list (peer_acl_default_deny: loopback, private ranges...) to @c, as a
 * production config has it; with @deny_loopback also drops tf_config's loopback allow list, so
 * loopback peers are refused. */
void tf_config_deny_default(struct config *c, bool deny_loopback);

/* Polls the counter at byte offset @off of struct turn_counters every 10 ms, for up to 2 s, until
 * it equals @want; returns its last value. A worker counts a datagram just after sending it, so
 * a test may see the datagram before the count. */
uint64_t tf_counter_wait(struct turn_server *s, size_t off, uint64_t want);

/* The same, for up to @ms milliseconds (timers that fire up to a tick late need longer). */
uint64_t tf_counter_wait_ms(struct turn_server *s, size_t off, uint64_t want, int ms);

#define TF_CTR_WAIT(s, field, want) \
	tf_counter_wait((s), offsetof(struct turn_counters, field), (want))
#define TF_CTR_WAIT_MS(s, field, want, ms) \
	tf_counter_wait_ms((s), offsetof(struct turn_counters, field), (want), (ms))

/* Waits up to 2 s for a Data indication on @c and checks it (the test fails otherwise): its
 * XOR-PEER-ADDRESS is @peer and its DATA the @want_len bytes of @want (RFC 8656 §11.6). */
void tf_expect_data_indication(struct tc *c, const struct sockaddr_storage *peer,
			       const void *want, size_t want_len);

/* Waits up to 2 s for a datagram on the peer's UDP socket @peer_fd and checks it (the test fails
 * otherwise): the @want_len bytes of @want, sent from @relayed (the allocation's relayed address). */
void tf_expect_peer_gets(int peer_fd, const struct sockaddr_storage *relayed, const void *want,
			 size_t want_len);

/* Sends the @len bytes of @buf from UDP socket @fd to @to; the test fails if not all are sent. */
void tf_send_to(int fd, const struct sockaddr_storage *to, const void *buf, size_t len);

/* The port base of a test: TINCAN_TEST_PORT_BASE + @offset if that is set to 1024..64000 (two
 * checkouts testing at once), else 25000 + @offset. */
uint16_t tf_port_base(unsigned offset);

#endif
