/*
 * turn: the TURN relay (RFC 8656 over UDP, with STUN Binding per RFC 8489).
 *
 * The relay runs on its own libevent worker thread(s); nothing here touches libwebsockets. It shares
 * with the rest of the process only the read-only config (including the credential secret) and the
 * counters below, which are updated atomically.
 */
#ifndef TINCAN_TURN_TURN_H
#define TINCAN_TURN_TURN_H

#include <stdint.h>

#include "core/config.h"

struct turn_server;

/* A snapshot of the relay's counters (monotonic totals unless marked "now"). */
struct turn_counters {
	uint64_t allocations_now;
	uint64_t allocations_total;
	uint64_t permissions_now;
	uint64_t channels_now;
	uint64_t pkts_to_peer;       /* client -> relay -> peer */
	uint64_t bytes_to_peer;      /* application payload bytes */
	uint64_t pkts_to_client;     /* peer -> relay -> client */
	uint64_t bytes_to_client;
	uint64_t auth_failures;      /* 401 for a bad credential (not the first, credential-less 401) */
	uint64_t requests;           /* STUN requests answered */
	uint64_t malformed;          /* datagrams dropped as not STUN / not ChannelData / malformed */
	uint64_t port_exhausted;     /* 508 answers: no relay port left */
	uint64_t unauth_dropped;     /* answers to unauthenticated requests not sent: over the
				      * per-source limit (turn.unauth_rate) */
	uint64_t peer_denied;        /* CreatePermission / ChannelBind answered 403 and Send
				      * indications dropped: the peer address is refused */
	uint64_t quota_exceeded;     /* 486 answers: a user's turn.user_quota was used up */
	uint64_t capacity_exceeded;  /* 508 answers: turn.max_allocations reached */
	uint64_t bandwidth_dropped;  /* datagrams dropped by the per-allocation turn.bandwidth cap */
	uint64_t reservations_now;   /* ports reserved by EVEN-PORT R=1, waiting for their token */
};

/* Binds the listening and starts the worker thread(s). @cfg must outlive the server.
 * Returns 0, or a negative errno (the listen address cannot be bound, a thread cannot start);
 * on error nothing is left running. */
int turn_server_start(struct turn_server **out, const struct config *cfg);

/* Stops the workers, joins them and frees every allocation. @srv may be NULL. */
void turn_server_stop(struct turn_server *srv);

/* Copies the counters. Callable from any thread while the server runs. */
void turn_server_counters(const struct turn_server *srv, struct turn_counters *out);

#endif
