/*
 * turn: the TURN relay (RFC 8656 over UDP, TCP and TLS, with STUN Binding per RFC 8489; relayed
 * transport UDP).
 *
 * The relay runs on its own libevent worker thread(s); nothing here touches libwebsockets. It shares
 * with the rest of the process only the config (including the credential secret: read-only, and
 * replaced whole by turn_server_reload) and the counters below, which are updated atomically.
 */
#ifndef TINCAN_TURN_TURN_H
#define TINCAN_TURN_TURN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/config.h"

/* Participants whose credentials one worker refuses at once, at most (turn_server_revoke). */
#define TURN_REVOKED_MAX 100000

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
	uint64_t auth_failures;      /* 401 for a bad credential (not the first, credential-less 401):
				      * the sum of the four auth_* reasons below */
	uint64_t auth_unknown_user;  /* ...no such static user, or not a REST username */
	uint64_t auth_expired;       /* ...a REST credential past its expiry */
	uint64_t auth_revoked;       /* ...a REST credential of a participant who left */
	uint64_t auth_bad_integrity; /* ...MESSAGE-INTEGRITY(-SHA256) wrong: a bad password */
	uint64_t stale_nonces;       /* 438 answers: a nonce expired, forged or for another address */
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
	uint64_t streams_now;        /* TCP and TLS client connections open now */
	uint64_t streams_total;
	uint64_t streams_refused;    /* connections closed at once: turn.max_connections reached */
	uint64_t stream_dropped;     /* messages from peers dropped: the client's connection had
				      * TURN_STREAM_OUT_SOFT bytes waiting (a slow reader) */
	uint64_t hairpinned;         /* datagrams from one allocation to another's relayed address
				      * handed over inside the process (turn.hairpin), not through
				      * the kernel; also counted in pkts_to_peer */
	uint64_t coalesce_waits;     /* waits of turn.coalesce_us between event-loop rounds */
	uint64_t handoffs;           /* of hairpinned, those handed to another worker's relay */
	uint64_t handoff_full;       /* datagrams for another worker's relay that took the kernel
				      * path because its inbox was full */
};

/* The most worker threads (turn.workers): a worker's index + 1 must fit a byte (handoff.c). */
#define TURN_WORKERS_MAX 64

/* The worker count of turn.workers = 0: one per CPU this process may run on (its affinity mask,
 * so "taskset -c 0 tincand" gets one), at most TURN_WORKERS_MAX. */
unsigned turn_workers_auto(void);

/* Binds the listening and starts the worker thread(s). @cfg must outlive the server.
 * Returns 0, or a negative errno (the listen address cannot be bound, a thread cannot start);
 * on error nothing is left running. */
int turn_server_start(struct turn_server **out, const struct config *cfg);

/*
 * Makes the running relay use @cfg, a configuration whose restart-only options (listen addresses,
 * relay addresses and ports, workers) equal those it started with (config_reconcile). Lock-free
 * for the workers (reload.c explains why it is race-free): returns once every worker has seen
 * @cfg, so that the previous configuration is no longer read by the relay (the caller frees it,
 * once the other modules have let go of it too). Live: realm, secret, users, peer ACL, quotas,
 * max_allocations, bandwidth, unauthenticated-answer limit, credential lifetime, max_connections;
 * allocations, permissions, channels and connections stay. Call it from one thread at a time,
 * while the workers run (between turn_server_start and turn_server_stop); @cfg must outlive the
 * server or the next call. Returns 0; -EINVAL; -ENOMEM if a worker could not be told (it may
 * still read the previous configuration: keep it).
 */
int turn_server_reload(struct turn_server *srv, const struct config *cfg);

/* Stops the workers, joins them and frees every allocation. @srv may be NULL. */
void turn_server_stop(struct turn_server *srv);

/* Copies the counters. Callable from any thread while the server runs. */
void turn_server_counters(const struct turn_server *srv, struct turn_counters *out);

struct tls_server;

/* Gives TURN over TLS (turn.tls_listen) its certificate: new connections take tls_server_ctx(@tls).
 * Until it is called, a connection accepted on a TLS listener is closed at once. Callable from any
 * thread; @tls must outlive the server (or be replaced by another call first). */
void turn_server_set_tls(struct turn_server *srv, struct tls_server *tls);

/*
 * Revokes the TURN credentials of room participant @participant_id (the id in the TURN REST
 * usernames "<expiry>:<participant_id>" minted for them, core/cred.h), for when they leave the
 * room, are kicked, or the room is deleted. Callable from any thread while the server runs (the
 * control thread): it queues the id to every worker and wakes them (event_active); each worker
 * then, within milliseconds,
 *   - deletes the participant's allocations (their relay sockets, permissions and channels), and
 *   - refuses (401, as for an expired credential) every credential of the participant minted
 *     before this call, i.e. with an expiry up to now + turn.credential_lifetime, until they
 *     have all expired; one minted afterwards, for a participant who comes back, works.
 * Memory is bounded: a worker keeps one small entry per revoked participant, dropped when its
 * credentials have expired, and at most TURN_REVOKED_MAX of them (beyond that, allocations are
 * still deleted but the credentials are no longer refused early; logged).
 * Returns 0; -EINVAL if @participant_id cannot be a participant id (empty, too long, ':' or
 * non-printable characters: cred_rest_mint's rules); -ENOMEM. On error no worker was told.
 */
int turn_server_revoke(struct turn_server *srv, const char *participant_id);

/* OpenSSL's connection type, so this header needs no OpenSSL include. */
typedef struct ssl_st SSL;

/*
 * Hands an accepted TCP connection to a TURN worker, which serves STUN/TURN on it as a stream
 * (RFC 8656 §3.1: messages and ChannelData back to back, ChannelData padded to 4 bytes), exactly
 * as a connection accepted on turn.tcp_listen / turn.tls_listen. Used by the shared port (src/mux)
 * once it has classified a connection as TURN. Callable from any thread: the connection is queued
 * to a worker and the worker woken (event_active).
 *  @fd:       the connected, non-blocking socket; ownership passes to the relay.
 *  @peer:     the client's address (the 5-tuple's client side); @local: the address it connected to.
 *  @ssl:      NULL for TURN over TCP; for TURN over TLS, an SSL whose handshake has completed on @fd
 *             (SSL_is_init_finished); ownership passes to the relay.
 *  @prefix:   application bytes already read from the connection (after TLS decryption if @ssl),
 *             which the worker parses before reading more; copied, may be NULL if @prefix_len is 0.
 * Returns 0; -ENOMEM, -EINVAL, -ESHUTDOWN (stopping). On error @fd is closed and @ssl freed, so the
 * caller never has to clean up either.
 */
int turn_server_adopt_stream(struct turn_server *srv, int fd, const struct sockaddr_storage *peer,
			     const struct sockaddr_storage *local, SSL *ssl, const uint8_t *prefix,
			     size_t prefix_len);

#endif
