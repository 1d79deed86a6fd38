/*
 * turn_priv: the relay's private structures, shared by the files of src/turn/ only.
 *
 *   server.c   lifecycle, worker threads, the listening sockets and the two relay hot paths
 *   stream.c   TURN over TCP and TLS: listeners, connections, framing (RFC 8656 §3.1)
 *   request.c  STUN requests and indications from clients (RFC 8489, RFC 8656 §7-§11)
 *   auth.c     long-term credentials and stateless nonces (RFC 8489 §9.2)
 *   alloc.c    allocations, permissions, channels and their timers; the relay port pool
 *   reload.c   a new configuration while running (SIGHUP)
 *
 * Everything reachable from a struct turn_worker belongs to that worker's thread: no locks. What
 * the workers share (config, nonce key, counters) is read-only or atomic. The config is replaced
 * whole on a SIGHUP (turn_server_reload in reload.c): see struct turn_server's cfg for why that
 * is race-free.
 *
 * Addresses: a worker listens on every cfg->turn.listens[i] (struct turn_listener, UDP) and on
 * every TCP and TLS address (struct turn_acceptor). The client side of a 5-tuple is a struct
 * turn_client: over UDP a listener and the client's address, over TCP or TLS the client's
 * connection (struct turn_conn). The 5-tuple of an allocation is (client address, listener, UDP)
 * or (client address, server address, TCP), i.e. its connection. An allocation has one relayed
 * address per family it holds (struct turn_relay: IPv4, IPv6, or both for a dual-stack
 * allocation, RFC 8656 §7.2); a peer is reached through the relay of its family. Relayed
 * transport is always UDP (RFC 6062 TCP relaying is not supported).
 */
#ifndef TINCAN_TURN_TURN_PRIV_H
#define TINCAN_TURN_TURN_PRIV_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include <uthash.h>

/* uthash gives every new table 32 buckets (512 bytes). An allocation has three tables
 * (permissions, channels by number and by peer) that usually hold one to three entries: 4
 * buckets each (64 bytes) save about 1.3 KiB per allocation. A table still doubles when its
 * chains grow past HASH_BKT_CAPACITY_THRESH, so the big ones (a worker's allocations) are
 * unaffected but for a few early expansions. The macros are read where a table is made, so this
 * redefinition holds for every file that includes this header. */
#undef HASH_INITIAL_NUM_BUCKETS
#undef HASH_INITIAL_NUM_BUCKETS_LOG2
#define HASH_INITIAL_NUM_BUCKETS 4U
#define HASH_INITIAL_NUM_BUCKETS_LOG2 2U
/* uthash doubles a table only once a bucket holds 10 entries, so a worker's table of 1,000
 * allocations ran at 3-5 per bucket: every find walked a chain of cache misses (turn_alloc_find
 * was the largest user-space symbol of the setup profile, and it is on the relay path too). At 4
 * the load stays under about one entry per bucket, for 16-32 bytes of buckets per entry. */
#undef HASH_BKT_CAPACITY_THRESH
#define HASH_BKT_CAPACITY_THRESH 4U

#include "core/config.h"
#include "turn/stun.h"
#include "turn/turn.h"

struct event;
struct event_base;
struct tls_server;

/* Protocol timers, in seconds (RFC 8656 §3.8, §9, §12). */
enum {
	TURN_LIFETIME_DEFAULT = 600,  /* allocation, when the client asks for less or nothing */
	TURN_LIFETIME_MAX = 3600,     /* allocation, upper clamp */
	TURN_PERM_LIFETIME = 300,     /* permission */
	TURN_CHAN_LIFETIME = 600,     /* channel binding */
	TURN_CHAN_COOLDOWN = 300,     /* an expired channel blocks its number and peer this long */
	TURN_NONCE_LIFETIME = 600,    /* default validity of a nonce we hand out */
	TURN_RESERVATION_LIFETIME = 30, /* a reserved port waits for its token (RFC 8656 §7.2) */
	TURN_TICK = 1,                /* housekeeping period: reservations, revocations */
};

/* Room for one UDP datagram plus the headers the relay prepends to it (bytes). */
#define TURN_BUF_SIZE (65536 + 64)

/* TURN over TCP and TLS (stream.c). */
enum {
	/* The longest frame a stream may carry: a ChannelData message with 65535 bytes of data,
	 * padded (4 + 65535 + 1). A STUN message announcing more is refused: it could not be
	 * buffered, and carries nothing a datagram could. */
	TURN_STREAM_FRAME_MAX = 65540,
	TURN_STREAM_IN_INIT = 8192,     /* input buffer of a new connection; grows to FRAME_MAX */
	/* Output buffered for a client that reads slower than its peers send: past SOFT, relayed
	 * data is dropped (as the network drops UDP, and counted in stream_dropped); an answer is
	 * still queued, up to MAX, past which the connection is closed (a client that sends
	 * requests and never reads). */
	TURN_STREAM_OUT_SOFT = 128 * 1024,
	TURN_STREAM_OUT_MAX = 256 * 1024,
	TURN_STREAM_IDLE = 30,          /* seconds a connection may hold no allocation */
	TURN_STREAM_HANDSHAKE = 10,     /* seconds a TLS client has to finish its handshake */
};

/* A nonce: the RFC 8489 nonce cookie and feature set (13 characters), 8 hex digits of expiry and
 * 24 hex digits of truncated MAC (auth.c). */
#define TURN_NONCE_LEN 45

/* Cells of the per-worker table that limits answers to unauthenticated requests (auth.c): 32 KiB. */
#define TURN_LIMIT_CELLS 4096

/* Spare relay sockets a worker keeps open per relay address at most (alloc.c, "spare relays"). */
#define TURN_SPARES_MAX 16

/* Slots of the per-worker cache of long-term keys (auth.c): 256 x 172 bytes = 43 KiB. */
#define TURN_KEYCACHE_SLOTS 256

/*
 * One cached long-term key (auth.c): the key of password algorithm @alg for username @name,
 * valid while @gen equals the server's auth_gen (turn_auth_reset bumps it). Whether the name is
 * a static user or a TURN REST username is remembered: a REST one is still checked for expiry
 * and revocation on every use, only its HMAC password and the hash are not recomputed.
 */
struct turn_keyslot {
	uint32_t gen;                    /* srv->auth_gen when filled */
	bool used;
	bool rest;                       /* a TURN REST username (else a static user) */
	uint8_t keylen;                  /* 16 (MD5) or 32 (SHA-256) bytes */
	uint16_t alg;                    /* enum stun_pwalg */
	uint8_t key[STUN_KEY_MAX];
	char name[CRED_USERNAME_MAX];
};

/* Slots of a worker's timer wheel: one per second; a timer further ahead waits for its round. */
#define TURN_WHEEL_SLOTS 1024

/*
 * A timer of its worker's wheel (alloc.c), embedded in what it times (an allocation, permission
 * or channel): no allocation, O(1) to arm, rearm and cancel, and one shared 1-second tick per
 * worker instead of a libevent heap entry per timer (10,000 allocations with a permission and a
 * channel each would otherwise be 30,000 heap timers). It fires at the first tick at or after
 * its due time: never early, at most one second late.
 */
struct turn_timer {
	struct turn_timer *next;         /* in its wheel slot */
	struct turn_timer **pprev;       /* what points to it; NULL: not armed */
	uint64_t due_ms;                 /* CLOCK_MONOTONIC milliseconds */
	void (*cb)(struct turn_timer *t);
};

/* RESERVATION-TOKEN value length (RFC 8656 §18.9). */
#define TURN_TOKEN_LEN 8

/*
 * A socket address as a fixed-size, memcmp-able hash key: family, port (network order, 0 for
 * IP-only keys) and IP (IPv4 in the first 4 bytes). Every byte is set, so keys compare with memcmp.
 */
struct turn_key {
	uint16_t family;
	uint16_t port;
	uint8_t ip[16];
};

/* Fills @k from @a; with @with_port false the port is left 0 (a permission key, RFC 8656 §9). */
void turn_key_set(struct turn_key *k, const struct sockaddr_storage *a, bool with_port);

/* The key of an allocation: the client's address and, over UDP, the index of the listener it
 * talks to (the rest of the 5-tuple: the listener fixes the server address, the transport is
 * UDP). On a stream the connection is the 5-tuple: @via is TURN_VIA_STREAM | its serial number,
 * and the allocation is found through its connection, never by this key. */
struct turn_5tuple {
	struct turn_key client;
	uint32_t via;
};

#define TURN_VIA_STREAM 0x80000000u

/* Index of a family's relay in turn_alloc.relay[] (and of its pool in turn_worker.ports[]). */
enum { TURN_V4 = 0, TURN_V6 = 1, TURN_FAMILIES = 2 };

static inline int turn_fam(int family)
{
	return family == AF_INET6 ? TURN_V6 : TURN_V4;
}

/* The shared counters; fields mirror struct turn_counters. Relaxed atomics: totals, not ordering. */
struct turn_ctr {
	atomic_uint_fast64_t allocations_now;
	atomic_uint_fast64_t allocations_total;
	atomic_uint_fast64_t permissions_now;
	atomic_uint_fast64_t channels_now;
	atomic_uint_fast64_t pkts_to_peer;
	atomic_uint_fast64_t bytes_to_peer;
	atomic_uint_fast64_t pkts_to_client;
	atomic_uint_fast64_t bytes_to_client;
	atomic_uint_fast64_t auth_failures;
	atomic_uint_fast64_t auth_unknown_user;
	atomic_uint_fast64_t auth_expired;
	atomic_uint_fast64_t auth_revoked;
	atomic_uint_fast64_t auth_bad_integrity;
	atomic_uint_fast64_t stale_nonces;
	atomic_uint_fast64_t requests;
	atomic_uint_fast64_t malformed;
	atomic_uint_fast64_t port_exhausted;
	atomic_uint_fast64_t unauth_dropped;
	atomic_uint_fast64_t peer_denied;
	atomic_uint_fast64_t quota_exceeded;
	atomic_uint_fast64_t capacity_exceeded;
	atomic_uint_fast64_t bandwidth_dropped;
	atomic_uint_fast64_t reservations_now;
	atomic_uint_fast64_t streams_now;
	atomic_uint_fast64_t streams_total;
	atomic_uint_fast64_t streams_refused;
	atomic_uint_fast64_t stream_dropped;
	atomic_uint_fast64_t hairpinned;
	atomic_uint_fast64_t coalesce_waits;
	atomic_uint_fast64_t handoffs;
	atomic_uint_fast64_t handoff_full;
};

#define TURN_CTR_ADD(srv, field, n) \
	atomic_fetch_add_explicit(&(srv)->ctr.field, (n), memory_order_relaxed)
#define TURN_CTR_SUB(srv, field, n) \
	atomic_fetch_sub_explicit(&(srv)->ctr.field, (n), memory_order_relaxed)

/*
 * The relay ports one worker binds first: a slice of [relay_port_min, relay_port_max]. Any worker
 * may set or clear a bit (a worker whose own slice is full binds from another's, and a
 * reservation redeemed on another worker hands its port over), hence the atomics. A bit is only
 * a hint for the search: bind() decides.
 */
struct turn_ports {
	uint16_t lo, hi;      /* inclusive, host order */
	_Atomic uint64_t *held; /* bit (port - lo) set: one of our allocations holds the port */
	uint32_t rng;         /* xorshift state for the random start of each search */
	/* Spare relay sockets: open and bound to ports of this pool (held bits set) before any
	 * Allocate asks, so that one takes a socket instead of paying socket() and bind() in the
	 * client's round trip. A stack; the owning worker's only (alloc.c, "spare relays"). */
	struct sockaddr_storage spare_ip; /* the relay address they are bound on (family 0: none) */
	int spare_fd[TURN_SPARES_MAX];
	uint16_t spare_port[TURN_SPARES_MAX];
	unsigned n_spare, want_spare;
};

struct turn_alloc;
struct turn_worker;

/* A revocation on its way from turn_server_revoke to a worker (one per worker). */
struct turn_revoke_msg {
	struct turn_revoke_msg *next;
	time_t before;                   /* refuse REST credentials expiring up to this (realtime s) */
	char id[CRED_USERNAME_MAX];
};

/* A participant a worker refuses: REST credentials of @id that expire at or before @before. */
struct turn_revoked {
	char id[CRED_USERNAME_MAX];
	time_t before;                   /* CLOCK_REALTIME seconds; the entry goes after it */
	UT_hash_handle hh;
};

/* One listening socket of a worker (SO_REUSEPORT if workers > 1): the server side of the
 * 5-tuples of the clients that talk to it. */
struct turn_listener {
	struct turn_worker *w;
	unsigned idx;                    /* in w->lis[] and cfg->turn.listens[] */
	int fd;                          /* UDP, non-blocking; IPv6 ones are IPV6_V6ONLY */
	struct event *ev;                /* EV_READ on fd */
	struct sockaddr_storage local;   /* as bound */
};

/* One TCP listening socket of a worker, for turn.tcp_listen or turn.tls_listen (SO_REUSEPORT if
 * workers > 1: the kernel spreads the connections, each worker keeps those it accepts). */
struct turn_acceptor {
	struct turn_worker *w;
	int fd;                          /* non-blocking; IPv6 ones are IPV6_V6ONLY */
	bool tls;
	struct event *ev;                /* EV_READ on fd: accept */
	struct sockaddr_storage local;   /* as bound */
};

/*
 * A TCP or TLS client connection (stream.c), owned by the worker that accepted or adopted it,
 * like a UDP 5-tuple: it is the client side of at most one allocation, which goes when it
 * closes. Frames (STUN messages, ChannelData) are read into @in and handled in place; what the
 * socket does not take at once waits in @out.
 */
struct turn_conn {
	struct turn_worker *w;
	struct turn_conn *prev, *next;   /* w->conns */
	int fd;
	SSL *ssl;                        /* NULL: TURN over TCP */
	bool handshaking;                /* TLS handshake not finished: no frame yet */
	bool dead;                       /* broken or refused: closed by its next callback */
	bool read_wants_write;           /* SSL_read needs the socket writable first */
	bool tls_ok;                     /* handshake done, no fatal TLS error: close_notify ok */
	uint32_t serial;                 /* per worker, for the allocation's key */
	struct sockaddr_storage peer;    /* the client */
	struct sockaddr_storage local;   /* the address it connected to */
	struct event *rev, *wev;         /* EV_READ; EV_WRITE while output waits */
	struct event *timer;             /* handshake, then idle (no allocation) timeout */
	struct turn_alloc *al;           /* its allocation, or NULL */
	uint8_t *in;                     /* received bytes, a partial frame at most once parsed */
	size_t in_len, in_cap;
	uint8_t *out;                    /* bytes waiting for the socket: out[out_off..+out_len) */
	size_t out_off, out_len, out_cap;
	uint64_t frames;                 /* frames received */
};

/* A connection on its way from turn_server_adopt_stream to a worker. */
struct turn_adopt_msg {
	struct turn_adopt_msg *next;
	int fd;
	SSL *ssl;
	struct sockaddr_storage peer, local;
	size_t prefix_len;
	uint8_t prefix[];
};

/*
 * The client side of a 5-tuple: where a message came from, and where answers and relayed data
 * go. Over UDP a listening socket and the client's address; over TCP or TLS the client's
 * connection. Built on the stack for each message (an allocation keeps lis, conn and the address).
 */
struct turn_client {
	struct turn_worker *w;
	struct turn_listener *lis;       /* UDP: the socket it talks to; NULL on a stream */
	struct turn_conn *conn;          /* TCP or TLS: its connection; NULL over UDP */
	const struct sockaddr_storage *addr; /* the client's address (on a stream, &conn->peer) */
};

/*
 * Batched datagram I/O of a worker (server.c). Sockets are read with recvmmsg, TURN_IO_BATCH
 * datagrams at a time, into slots: buffers of TURN_BUF_SIZE bytes that stay put until the
 * datagrams sent from them have gone. Datagrams to send over UDP (to peers, to clients, answers)
 * are queued, pointing into the slots (a ChannelData header written in front of a received
 * payload, a Data indication or an answer built or copied into a slot of its own), and sent with
 * one sendmmsg per socket when the queue is flushed: at the end of the event loop's round
 * (flush_ev, made active by the first datagram queued, runs after every callback that was
 * ready), before a batch that might not find slots enough, and before a relay socket closes.
 * A socket's datagrams go in the order they were queued.
 */
enum {
	TURN_IO_BATCH = 32,   /* datagrams per recvmmsg */
	/* Slots: a batch of B datagrams may take 2B (each may need one more for its answer or
	 * Data indication), and a batch only starts with 2B free: several rounds of callbacks
	 * fill the queue before it has to be flushed early. 128 of 65600 bytes: 8 MiB of address
	 * space, of which only the pages datagrams touch are ever backed by memory (the first 2 KiB
	 * of each from the start: 0.5 MiB). */
	TURN_IO_SLOTS = 128,
};

/* What a queued datagram is, for the counters once it is sent. */
enum turn_out_kind { TURN_OUT_ANSWER, TURN_OUT_TO_PEER, TURN_OUT_TO_CLIENT };

/* A queued datagram; its bytes and address are in turn_io.iov[] and turn_io.to[] at its index. */
struct turn_out {
	int fd;                          /* the socket it goes from; -1 once handled by a flush */
	uint8_t kind;                    /* enum turn_out_kind */
	uint32_t payload;                /* bytes counted in bytes_to_peer / bytes_to_client */
	struct turn_relay *relay;        /* TURN_OUT_TO_PEER: the relay, for its ICMP errors */
	struct turn_alloc *al;           /* TURN_OUT_TO_*: whose totals count it */
};

struct turn_io {
	uint8_t (*slot)[TURN_BUF_SIZE];  /* TURN_IO_SLOTS buffers */
	unsigned used;                   /* slots taken, from 0; all free again after a flush */
	bool in_batch;                   /* a received batch is being handled: its slots stay */
	unsigned n_out;                  /* queued datagrams */
	struct turn_out out[TURN_IO_SLOTS];
	struct iovec iov[TURN_IO_SLOTS];
	struct sockaddr_storage to[TURN_IO_SLOTS];
	struct mmsghdr smsg[TURN_IO_SLOTS]; /* one sendmmsg's messages */
	struct mmsghdr rmsg[TURN_IO_BATCH]; /* the batch being handled */
	struct iovec riov[TURN_IO_BATCH];
	struct sockaddr_storage from[TURN_IO_BATCH];
	struct event *flush_ev;
	/* Interrupt coalescing (turn.coalesce_us, io_coalesce in server.c): whether a recvmmsg
	 * since the last round that sent something filled its whole batch (the socket may hold
	 * more: no waiting); the arrival rate, datagrams/s received over the last window of at
	 * least IO_RATE_WINDOW_NS, and the current window's start (CLOCK_MONOTONIC) and count. */
	bool batch_full;
	uint64_t rate_pps;
	uint64_t win_start_ns;
	unsigned win_rx;
};

/* The in-box hairpin between workers (handoff.c): a worker's inbox of datagrams that relays of
 * other workers sent to its relays' addresses. */
#define TURN_HANDOFF_SLOTS 256u  /* datagrams waiting at most; more take the kernel path */
#define TURN_HANDOFF_MAX 1500u   /* bytes; larger datagrams take the kernel path */

struct turn_handoff_msg {
	struct sockaddr_storage src;     /* the sender's relayed address, as the kernel would show it */
	uint16_t port;                   /* the receiving relay's port, host order */
	uint16_t len;                    /* bytes of data */
	uint8_t fam;                     /* TURN_V4 or TURN_V6 */
	uint8_t data[TURN_HANDOFF_MAX];
};

struct turn_handoff {
	pthread_mutex_t lock;            /* guards head, tail, pending and the slots outside
					  * [head, tail) being delivered */
	bool inited;                     /* lock initialised */
	bool pending;                    /* ev is active or running: senders need not wake it */
	uint32_t head, tail;             /* ring positions (mod 2^32), tail - head slots filled */
	struct turn_handoff_msg *ring;   /* TURN_HANDOFF_SLOTS; NULL with one worker */
	struct event *ev;                /* made active by a sender on another thread */
};

/* One worker thread: its event loop, its listening sockets and the allocations it owns. */
struct turn_worker {
	struct turn_server *srv;
	unsigned idx;
	struct event_base *base;
	struct turn_listener lis[CONFIG_LISTEN_MAX];
	unsigned n_lis;
	struct turn_acceptor acc[2 * CONFIG_LISTEN_MAX]; /* TCP, then TLS */
	unsigned n_acc;
	struct event *acc_resume;        /* accepting paused after EMFILE/ENFILE: resumes in 1 s */
	struct turn_conn *conns;         /* utlist DL: every TCP/TLS connection of this worker */
	uint32_t conn_serial;
	/* Connections from turn_server_adopt_stream (any thread): appended under the lock,
	 * adopt_ev made active; adopt_closed once the server stops. */
	pthread_mutex_t adopt_lock;
	struct turn_adopt_msg *adopt_q;
	struct event *adopt_ev;
	bool adopt_closed;
	struct event *stop;              /* made active by turn_server_stop from another thread */
	pthread_t thread;
	bool running;                    /* thread was started and must be joined */
	struct turn_alloc *allocs;       /* uthash on the 5-tuple (see alloc.c) */
	struct turn_ports ports[TURN_FAMILIES]; /* relay ports, per relay address */
	/* The in-box hairpin's lookup (turn.hairpin): this worker's relays by family and by
	 * (port - relay_port_min), over the whole relay range (a redeemed reservation may hold a
	 * port of another worker's slice). Set by relay_attach, cleared by relay_close (alloc.c). */
	struct turn_relay **by_port[TURN_FAMILIES];
	struct event *tick;              /* housekeeping every TURN_TICK s */
	unsigned ticks;
	/* Opens spare relay sockets (turn_spare_open) at the lowest priority: only in a round of
	 * the loop with nothing else to do, one socket per round. */
	struct event *spare_ev;
	/* The timers of allocations, permissions and channels (alloc.c), in the slot of the
	 * second they are due (rounded up); wheel_sec: the earliest second not yet swept. */
	struct turn_timer *wheel[TURN_WHEEL_SLOTS];
	uint64_t wheel_sec;
	/* Revocations: turn_server_revoke (any thread) appends under the lock and activates
	 * revoke_ev; the worker takes the list and applies it (server.c). */
	pthread_mutex_t revoke_lock;
	struct turn_revoke_msg *revoke_q;
	struct event *revoke_ev;
	struct turn_revoked *revoked;    /* uthash on the participant id; this worker's only */
	size_t n_revoked;
	uint32_t tid_rng;                /* LCG for Data indication transaction ids */
	struct turn_keyslot keys[TURN_KEYCACHE_SLOTS]; /* long-term keys (auth.c), direct-mapped */
	uint64_t limit_seed;             /* random key of the limiter's cell hash */
	uint64_t limit[TURN_LIMIT_CELLS]; /* GCRA theoretical arrival times, CLOCK_MONOTONIC us */
	struct turn_io io;               /* receive slots and the send queue */
	struct turn_handoff handoff;     /* datagrams from relays of other workers (handoff.c) */
	uint8_t sbuf[TURN_BUF_SIZE];     /* where answers and ICMP Data indications are built */
};

struct turn_server {
	/* The configuration in use: an atomic pointer, swapped by turn_server_reload (reload.c).
	 * Every read is a plain (sequentially consistent) load of the pointer, so the hot paths
	 * take no lock; a thread dereferences it only inside an event callback and never keeps it
	 * past the callback, so once every worker has run one callback after a swap the old
	 * configuration is no longer reachable (a quiescent state) and its owner may free it. */
	const struct config *_Atomic cfg;
	struct turn_worker **workers;
	unsigned n_workers;
	/* Which worker holds each relay port (handoff.c): index + 1, 0 if none, per family over
	 * relay_port_min..relay_port_max. NULL with one worker. */
	_Atomic uint8_t *port_owner[TURN_FAMILIES];
	uint8_t nonce_key[16];           /* process-random SipHash key of stateless nonces */
	struct sockaddr_storage *self;   /* this machine's IPs (port 0), for turn_peer_check */
	size_t n_self;
	_Atomic(struct tls_server *) tls; /* TURN over TLS's certificate (turn_server_set_tls) */
	atomic_uint_fast64_t conns;      /* TCP/TLS connections, against cfg->turn.max_connections */
	atomic_uint nonce_lifetime;      /* seconds; TURN_NONCE_LIFETIME unless a test changes it */
	atomic_uint resv_lifetime;       /* seconds; TURN_RESERVATION_LIFETIME unless a test... */
	atomic_uint stream_idle;         /* seconds; TURN_STREAM_IDLE unless a test changes it */
	/* Generation of the workers' cached long-term keys: a key cached under another value is
	 * stale. Bumped by turn_auth_reset when users, realm or secret change. */
	atomic_uint auth_gen;
	/* For tests (turn_server_set_lifetimes), seconds; 0: the protocol's value. */
	atomic_uint perm_lifetime;       /* TURN_PERM_LIFETIME */
	atomic_uint chan_lifetime;       /* TURN_CHAN_LIFETIME */
	atomic_uint chan_cooldown;       /* TURN_CHAN_COOLDOWN */
	atomic_uint alloc_lifetime_cap;  /* 0: none; else allocations live at most this long */
	struct turn_ctr ctr;
	/* Allocations plus reservations, against cfg->turn.max_allocations. */
	atomic_uint_fast64_t slots;
	/* Allocations (and reservations) per user or participant, against cfg->turn.user_quota.
	 * Shared by the workers, taken on Allocate and on delete only: a mutex. */
	pthread_mutex_t quota_lock;
	struct turn_quota *quota;        /* uthash on the quota key */
	/* Ports reserved by EVEN-PORT R=1, found by RESERVATION-TOKEN from any worker (the RTCP
	 * socket of a client may hash to another worker than its RTP socket). */
	pthread_mutex_t resv_lock;
	struct turn_resv *resv;          /* uthash on the token */
};

/* One user's or participant's count of allocations and reservations. */
struct turn_quota {
	char key[CRED_USERNAME_MAX];
	unsigned n;
	UT_hash_handle hh;
};

/* A reserved relay port (RFC 8656 §7.2): bound, waiting for an Allocate with its token. */
struct turn_resv {
	uint8_t token[TURN_TOKEN_LEN];
	int fd;                          /* bound to addr */
	struct sockaddr_storage addr;    /* relay IP and the reserved port */
	struct turn_ports *pool;         /* whose bit the port holds */
	char user[CRED_USERNAME_MAX];    /* who reserved it: its quota slot */
	time_t expires;                  /* CLOCK_MONOTONIC seconds */
	UT_hash_handle hh;
};

/* A token bucket for the per-allocation bandwidth cap: bytes, refilled from CLOCK_MONOTONIC. */
struct turn_bucket {
	int64_t tokens;                  /* bytes that may go now */
	uint64_t stamp_us;               /* last refill */
};

/* A permission: the peer IP a client may exchange data with (RFC 8656 §9). Owns its timer. */
struct turn_perm {
	struct turn_key key;             /* peer IP, port 0 */
	struct turn_alloc *al;
	struct turn_timer timer;         /* TURN_PERM_LIFETIME after the last refresh */
	UT_hash_handle hh;
};

/* A channel binding (RFC 8656 §12). Owns its timer; found by number and by peer address. */
struct turn_chan {
	uint16_t num;                    /* 0x4000-0x4FFF, host order */
	struct turn_key key;             /* peer IP and port */
	struct sockaddr_storage peer;
	bool cooling;                    /* expired: relays nothing, still blocks rebinding (§12) */
	struct turn_alloc *al;
	struct turn_timer timer;         /* lifetime, then cooldown */
	UT_hash_handle hh_num;
	UT_hash_handle hh_peer;
};

/* One relayed transport address of an allocation: its socket, read event and port. */
struct turn_relay {
	struct turn_alloc *al;
	int fd;                          /* -1: the allocation has no relayed address of this family */
	uint16_t port;                   /* host order */
	struct turn_ports *pool;         /* whose bit the port holds (a reserved port: its creator's) */
	struct event *ev;                /* EV_READ on fd: turn_relay_from_peer */
	struct sockaddr_storage addr;    /* as bound */
};

/* An allocation (RFC 8656 §2.2, §7), keyed by the 5-tuple. Owns its relay sockets and timer. */
struct turn_alloc {
	struct turn_5tuple key;
	/* Next to the key: a find touches the handle (chain, hash value) and then the key, so the
	 * two share the first cache lines instead of sitting 1.3 KiB apart. */
	UT_hash_handle hh;
	struct sockaddr_storage client;
	/* Answers and relayed data go out through one of them (turn_alloc_send): */
	struct turn_listener *lis;       /* UDP: the listening socket, to @client; else NULL */
	struct turn_conn *conn;          /* TCP/TLS: the connection, which owns the allocation */
	struct turn_relay relay[TURN_FAMILIES];
	struct turn_worker *w;
	char user[CRED_USERNAME_MAX];    /* the allocation's username (RFC 8656 §5: 441 otherwise) */
	struct turn_timer timer;         /* lifetime */
	time_t expires;                  /* CLOCK_MONOTONIC seconds */
	struct turn_perm *perms;         /* uthash on peer IP */
	struct turn_chan *chans_num;     /* uthash on channel number */
	struct turn_chan *chans_peer;    /* uthash on peer address */
	uint8_t tid[STUN_TID_LEN];       /* of the Allocate that created it, to spot retransmits */
	uint8_t resp[512];               /* that Allocate's success response, resent verbatim */
	size_t resp_len;
	uint64_t pkts_out, bytes_out;    /* to peers, for the delete log line */
	uint64_t pkts_in, bytes_in;      /* from peers */
	struct turn_bucket bw_out, bw_in; /* bandwidth cap, to peers and to the client */
};

/* What an Allocate asks for once validated (RFC 8656 §7.2). */
struct turn_alloc_req {
	const struct turn_client *client;
	const char *user;
	uint32_t lifetime;               /* seconds, already clamped */
	int family;                      /* AF_INET or AF_INET6: REQUESTED-ADDRESS-FAMILY */
	bool additional_v6;              /* ADDITIONAL-ADDRESS-FAMILY IPv6: dual-stack (§7.2) */
	bool even_port;
	bool reserve;                    /* EVEN-PORT R=1: reserve the next port too */
	const uint8_t *token;            /* RESERVATION-TOKEN to redeem, or NULL (then the
					  * reservation's family wins over @family) */
	bool dont_fragment;
};

/* ---- alloc.c ---- */

/* Sets up the port pool [lo, hi] (host order). Returns 0, -EINVAL if lo > hi, or -ENOMEM. */
int turn_ports_init(struct turn_ports *p, uint16_t lo, uint16_t hi, uint32_t seed);

/* Frees the pool's bitmap; closes its spare relay sockets. */
void turn_ports_free(struct turn_ports *p);

/*
 * Spare relay sockets of pool @p: from now on @p keeps up to min(TURN_SPARES_MAX, ports / 32)
 * relay sockets bound on @ip (port 0; its family) to free ports of the pool, opened by
 * turn_spare_open. Pools of fewer than 32 ports keep none.
 */
void turn_spares_init(struct turn_ports *p, const struct sockaddr_storage *ip);

/* Opens one spare relay socket for @p if it has fewer than it wants. Returns 1 if it opened one
 * and wants more, 0 if it has all it wants (or no free port is left), or a negative errno. */
int turn_spare_open(struct turn_ports *p);

/* Closes @p's spare relay sockets and gives their ports back to the pool. */
void turn_spares_release(struct turn_ports *p);

/* The relay of worker @w with port @port (host order) in family index @fam (TURN_V4, TURN_V6),
 * or NULL: the in-box hairpin's O(1) lookup (w->by_port). */
struct turn_relay *turn_relay_lookup(struct turn_worker *w, int fam, uint16_t port);

/*
 * Creates an allocation on worker @w for @rq, after taking a slot of cfg->turn.max_allocations
 * and of the user's cfg->turn.user_quota: binds a relay socket on the relay address of
 * rq->family with a free port of the worker's pool (an even one if asked; with rq->reserve the
 * next port is bound too and reserved, its token written to @token), or takes over the socket of
 * the reservation rq->token; for a dual-stack request one on the IPv6 relay address too; arms its
 * lifetime timer and read events, inserts it in w->allocs and logs it. The caller has checked
 * that the server has a relay address of rq->family. If only the additional IPv6 address cannot
 * be had, the allocation is made without it and @addr_err (may be NULL otherwise) gets the code
 * for ADDRESS-ERROR-CODE: 440 (no IPv6 relay address configured) or 508 (no port).
 * Returns 0, or what the caller answers (RFC 8656 §7.2):
 *   -EDQUOT        the user's quota is used up: 486 (counted in quota_exceeded);
 *   -ENOSPC        max_allocations reached: 508 (capacity_exceeded);
 *   -EADDRNOTAVAIL no port (pair) left in the pool: 508 (port_exhausted);
 *   -ENOENT        no such reservation, or expired: 508;
 *   -ENOMEM or another negative errno: 508.
 */
int turn_alloc_create(struct turn_alloc **out, struct turn_worker *w,
		      const struct turn_alloc_req *rq, int *addr_err,
		      uint8_t token[TURN_TOKEN_LEN]);

/* Frees every reservation past its time (any worker may call it; worker 0 does, every
 * TURN_TICK seconds), or all of them with @all (at stop). */
void turn_resv_sweep(struct turn_server *srv, bool all);

/*
 * The bandwidth cap (cfg->turn.bandwidth kbit/s per allocation and direction): true if @len
 * more bytes may go through bucket @b now. The bucket holds half a second of traffic, and at
 * least one largest datagram. Allocation-free; on the relay hot paths.
 */
bool turn_bw_admit(struct turn_bucket *b, unsigned kbps, size_t len);

/* Closes @al's relayed address of family index @fam (TURN_V4 or TURN_V6): a Refresh with
 * LIFETIME 0 and REQUESTED-ADDRESS-FAMILY on a dual-stack allocation (RFC 8656 §7.3). The
 * permissions and channels of that family go with it. */
void turn_alloc_drop_family(struct turn_alloc *al, int fam);

/* Removes @al from its worker, closes its relay socket, frees its permissions and channels (and
 * so cancels all their timers), logs the totals relayed and frees it. */
void turn_alloc_destroy(struct turn_alloc *al);

/* The allocation of @cl's 5-tuple, or NULL. O(1): a hash find over UDP, the connection's own on a
 * stream. */
struct turn_alloc *turn_alloc_find(const struct turn_client *cl);

/* Arms (or rearms) a one-shot timer @seconds from now. */
void turn_timer_arm(struct event *ev, uint32_t seconds);

/* Arms (or rearms) wheel timer @t of worker @w, with callback @cb, to fire @seconds from now (at
 * the first tick at or after that: at most one second late, never early). */
void turn_wheel_arm(struct turn_worker *w, struct turn_timer *t, uint32_t seconds,
		    void (*cb)(struct turn_timer *t));

/* Disarms @t if it is armed. */
void turn_wheel_cancel(struct turn_timer *t);

/* Fires every timer of @w that is due (worker @w's tick, every TURN_TICK seconds). A callback
 * may arm, cancel or free any timer, its own included. */
void turn_wheel_run(struct turn_worker *w);

/* Sets the allocation's remaining lifetime to @seconds (> 0) and rearms its timer. */
void turn_alloc_refresh(struct turn_alloc *al, uint32_t seconds);

/* Seconds left before @al expires (0 if due). */
uint32_t turn_alloc_remaining(const struct turn_alloc *al);

/* The permission for @peer's IP (port ignored), or NULL. O(1). */
struct turn_perm *turn_perm_find(struct turn_alloc *al, const struct sockaddr_storage *peer);

/* Installs or refreshes the permission for @peer's IP for TURN_PERM_LIFETIME seconds
 * (RFC 8656 §9). Returns 0, or -ENOMEM. */
int turn_perm_set(struct turn_alloc *al, const struct sockaddr_storage *peer);

/* The channel bound to number @num (host order), or NULL; cooling channels are returned too. */
struct turn_chan *turn_chan_find_num(struct turn_alloc *al, uint16_t num);

/* The channel bound to @peer (IP and port), or NULL; cooling channels are returned too. */
struct turn_chan *turn_chan_find_peer(struct turn_alloc *al, const struct sockaddr_storage *peer);

/* Binds @num to @peer, or refreshes (and revives, if cooling) that same binding, for
 * TURN_CHAN_LIFETIME seconds (RFC 8656 §11.2). The caller has checked the §11.2 conflicts.
 * Returns 0, or -ENOMEM. */
int turn_chan_set(struct turn_alloc *al, uint16_t num, const struct sockaddr_storage *peer);

/* ---- auth.c ---- */

/* Writes a fresh nonce for @client (NUL-terminated, TURN_NONCE_LEN chars) into @out. The nonce
 * is stateless: hex(expiry, 8 bytes big-endian) then the first 12 bytes of
 * SipHash-2-4-128(key, expiry || client) in hex, expiry in CLOCK_REALTIME seconds, valid
 * srv->nonce_lifetime seconds (RFC 8489 §9.2). */
void turn_nonce_make(struct turn_server *srv, const struct sockaddr_storage *client,
		     char out[TURN_NONCE_LEN + 1]);

/* Checks a nonce of @len bytes received from @client. Returns 0; -EINVAL if it is not one we
 * minted for this client; -ETIME if it has expired. Either way the client gets 438 (§9.2.4). */
int turn_nonce_check(struct turn_server *srv, const struct sockaddr_storage *client,
		     const uint8_t *nonce, size_t len);

/*
 * Derives the key of password algorithm @alg (enum stun_pwalg) for @user (@ulen bytes, not
 * NUL-terminated) in the configured realm: a static user's configured password, else a TURN REST
 * username "<expiry>:<id>" with its HMAC password (core/cred.h). Copies the NUL-terminated name
 * into @name. Returns the key length (16 or 32 bytes); -ENOENT for an unknown or malformed
 * username; -ETIME for an expired REST username; -EKEYREVOKED for the credential of a revoked
 * participant (turn_server_revoke); -EINVAL for an unknown @alg.
 */
int turn_auth_key(struct turn_worker *w, uint16_t alg, const uint8_t *user, size_t ulen,
		  char name[CRED_USERNAME_MAX], uint8_t key[STUN_KEY_MAX]);

/*
 * Finds the username whose USERHASH (RFC 8489 §14.4) is @hash (@len bytes): a static user, or
 * @alloc_user (the user of the allocation on the request's 5-tuple, may be NULL). REST usernames
 * cannot be found otherwise: the server keeps no list of them. Copies the name into @name.
 * Returns 0, or -ENOENT.
 */
int turn_auth_userhash(struct turn_server *srv, const uint8_t *hash, size_t len,
		       const char *alloc_user, char name[CRED_USERNAME_MAX]);

/* True if REST username @name (already checked well formed and unexpired at @now) belongs to a
 * participant whose credentials worker @w refuses (turn_server_revoke). Drops the entry if its
 * time is over. */
bool turn_revoked(struct turn_worker *w, const char *name, time_t now);


/*
 * Makes every worker's cached long-term keys (turn_auth_key) stale at once, after
 * cfg->turn.users, realm or secret changed: one atomic increment, from any thread; each worker
 * drops its entries on their next use. turn_server_reload calls it right after publishing the
 * new configuration. Returns 0.
 */
int turn_auth_reset(struct turn_server *srv);

/*
 * True if an answer to an unauthenticated request (Binding, 401, 438, 400...) may be sent to
 * @from now: at most cfg->turn.unauth_rate per second per source IP (IPv6: per /64), in bursts of
 * cfg->turn.unauth_burst, per worker. Fixed memory, no state per source.
 */
bool turn_unauth_admit(struct turn_worker *w, const struct sockaddr_storage *from);

/* ---- request.c ---- */

/* Handles one STUN message (first byte 0x00-0x3F) from client @cl: requests are answered
 * (turn_client_send), a Send indication is relayed, anything unparsable is counted in malformed
 * and dropped. */
void turn_request_handle(const struct turn_client *cl, const uint8_t *buf, size_t len);

/* ---- server.c ---- */

/* Demultiplexes one datagram from @from on listener @lis (RFC 7983 first byte): STUN to
 * turn_request_handle, ChannelData to the client -> peer relay, anything else counted and dropped.
 * What a listener's read callback does with each datagram. */
void turn_datagram_handle(struct turn_listener *lis, const struct sockaddr_storage *from,
			  const uint8_t *buf, size_t len);

/* For the request-handler fuzzer (tests/fuzz/fuzz_turn.c): turn_server_start without the worker
 * threads. The caller then owns the workers: it feeds datagrams to turn_datagram_handle on its
 * own thread (the event loops never run, so no timer fires) and frees with turn_server_stop. */
int turn_server_open_idle(struct turn_server **out, const struct config *cfg);

/*
 * Opens a non-blocking listening socket of @type (SOCK_DGRAM: big buffers; SOCK_STREAM:
 * SO_REUSEADDR, listen()) bound to @addr; with @reuseport, SO_REUSEPORT first so that every worker
 * can bind the same address. IPv6 sockets are IPV6_V6ONLY, so that "0.0.0.0:3478" and
 * "[::]:3478" can both be listened on. Stores the bound address (port filled in) in @local.
 * Returns the descriptor, or a negative errno.
 */
int turn_listen_socket(const struct sockaddr_storage *addr, int type, bool reuseport,
		       struct sockaddr_storage *local);

/* Sends an answer of @len bytes to client @cl: over UDP copied into a slot and queued on its
 * listening socket (errors dropped); on a stream queued behind what waits (turn_conn_send). */
void turn_client_send(const struct turn_client *cl, const uint8_t *buf, size_t len);

/* Sends every queued datagram (w->io): one sendmmsg per socket, in queue order per socket; a
 * relay's ICMP errors are handed on and the datagram retried once, as relay_send does. Counts
 * what went. Then the slots are free again, unless a batch is being handled. */
void turn_io_flush(struct turn_worker *w);

/* Client -> peer over a channel (RFC 8656 §12.6): relays ChannelData message @buf (@len bytes,
 * padding included) received on the 5-tuple of @al (NULL if it has none: dropped). The hot path
 * of both transports; allocation-free. */
void turn_relay_channeldata(struct turn_worker *w, struct turn_alloc *al, const uint8_t *buf,
			    size_t len);

/* Reads every pending datagram of a relay socket (@arg: its struct turn_relay) and hands each to
 * turn_relay_deliver. Registered as the relay's EV_READ callback. */
void turn_relay_from_peer(int fd, short what, void *arg);

/*
 * Peer -> client (RFC 8656 §11.3, §12.7), the one path for a datagram that reached relay @r from
 * @peer, whether the kernel delivered it or the in-box hairpin did: @r's permission for @peer,
 * its allocation's bandwidth cap, ChannelData if a live channel is bound to @peer else a Data
 * indication, sent to the client (queued over UDP), counted. @len payload bytes at @payload; if
 * @payload is TURN_CHANNELDATA_HDR bytes into a slot (w->io) the ChannelData header is written in
 * front of it in place, otherwise the message is made in a slot of its own. Allocation-free.
 */
void turn_relay_deliver(struct turn_relay *r, const struct sockaddr_storage *peer,
			const uint8_t *payload, size_t len);

/* Relays a client's Send indication data to @peer through the relay of @peer's family if a
 * permission exists (client -> peer). */
void turn_relay_send_indication(struct turn_alloc *al, const struct sockaddr_storage *peer,
				const uint8_t *data, size_t len);

/*
 * Whether the relay may send to @peer (canonical: see addr_canonical), RFC 8656 §21.3:
 *   - never to a socket this process listens on (a TURN listener, the HTTP server): no loops
 *     through ourselves, whatever allow_peers says;
 *   - the peer ACL, including the IPv4 addresses tunnelled in IPv6 forms (core/addr.h);
 *   - on one of this machine's own IPs, only ports of the relay range (another allocation's
 *     relayed address: two clients of this relay talk relay to relay), unless allow_peers
 *     names the IP; other services of the machine stay out of reach.
 * Returns 0, or -EPERM (the caller answers 403, or drops a Send indication).
 */
int turn_peer_check(const struct turn_server *srv, const struct sockaddr_storage *peer);

/* True if @a's IP is one of this machine's (srv->self). */
bool turn_self_ip(const struct turn_server *srv, const struct sockaddr_storage *a);

/* ---- stream.c ---- */

/*
 * The frame at the start of a stream's bytes (RFC 8656 §3.1): STUN (first byte 0x00-0x3F, the
 * magic cookie, 20 + length bytes, length a multiple of 4) or ChannelData (0x40-0x7F, 4 + length
 * bytes padded to a multiple of 4). @len bytes are at @buf. Returns the frame's length (> @len:
 * not all there yet), 0 if more bytes are needed to tell, or -EBADMSG if the stream can never
 * be valid from here (another first byte, no magic cookie, a length that is not a multiple of 4
 * or exceeds TURN_STREAM_FRAME_MAX). A prefix that decides decides like the whole stream.
 */
long turn_stream_frame_len(const uint8_t *buf, size_t len);

/* Sets up worker @w's streams: its adoption event, and its TCP listening sockets on the @n_tcp
 * addresses @tcp, then the @n_tls addresses @tls (SO_REUSEPORT if the server has several
 * workers; the bound addresses in w->acc). Returns 0, or a negative errno (logged); either way
 * turn_streams_free() undoes it. */
int turn_streams_init(struct turn_worker *w, const struct sockaddr_storage *tcp, size_t n_tcp,
		      const struct sockaddr_storage *tls, size_t n_tls);

/*
 * Makes a connection of worker @w out of connected socket @fd (from @peer to @local): counted
 * against turn.max_connections, TCP_NODELAY, its events on @w's loop, and a timer: the handshake
 * timeout if @ssl has still to do its server handshake (@handshake), else the idle timeout.
 * Takes @fd and @ssl in all cases. Returns 0 with the connection in @out; -ENOSPC over
 * max_connections (counted in streams_refused), -ENOMEM.
 */
int turn_conn_open(struct turn_conn **out, struct turn_worker *w, int fd,
		   const struct sockaddr_storage *peer, const struct sockaddr_storage *local,
		   SSL *ssl, bool handshake);

/* Handles @len bytes as if just read from @c's stream (after TLS): frames them and handles each
 * frame. Used for the bytes turn_server_adopt_stream was given, and by the stream fuzzer. @c may
 * be dead afterwards (c->dead): then close it. */
void turn_conn_feed(struct turn_conn *c, const uint8_t *buf, size_t len);

/*
 * Sends one whole message to @c: written at once if nothing waits, else queued (a frame is never
 * cut). @relayed (data from a peer): dropped past TURN_STREAM_OUT_SOFT bytes waiting, counted in
 * stream_dropped; an answer is queued up to TURN_STREAM_OUT_MAX, past which the connection is
 * given up. Returns 0 (sent or queued); -ENOBUFS dropped; -EPIPE the connection is broken (it is
 * marked dead and closed from its own callback, never under the caller's feet).
 */
int turn_conn_send(struct turn_conn *c, const uint8_t *buf, size_t len, bool relayed);

/* Closes @c: deletes its allocation (with its relay sockets) at once, shuts TLS down, closes the
 * socket and frees it. */
void turn_conn_close(struct turn_conn *c);

/* The allocation of @c was created / deleted: the idle timer stops / restarts. */
void turn_conn_attach(struct turn_conn *c, struct turn_alloc *al);
void turn_conn_detach(struct turn_conn *c);

/* Closes every connection and acceptor of @w, frees its adoption queue and events (at stop, no
 * thread running). */
void turn_streams_free(struct turn_worker *w);

/* Sends to @al's client at once: from the UDP listening socket, or on its connection (as relayed
 * data if @relayed). For ICMP Data indications (relay_icmp), which may run inside a flush: they
 * can overtake relayed data still queued for the client. Returns 0, or a negative errno (the
 * message is lost, as a datagram would be). */
static inline int turn_alloc_send(struct turn_alloc *al, const uint8_t *buf, size_t len,
				  bool relayed)
{
	if (al->conn)
		return turn_conn_send(al->conn, buf, len, relayed);
	if (sendto(al->lis->fd, buf, len, 0, (const struct sockaddr *)&al->client,
		   addr_len(&al->client)) < 0)
		return -errno;
	return 0;
}

/* For tests: sets the validity of nonces minted from now on (seconds; 0 = stale at once). */
void turn_server_set_nonce_lifetime(struct turn_server *srv, unsigned seconds);

/* For tests: sets how long reservations made from now on wait for their token (seconds). */
void turn_server_set_reservation_lifetime(struct turn_server *srv, unsigned seconds);

/* For tests: shortens the timers of permissions, channels (lifetime, then cooldown) and
 * allocations armed from now on (seconds; 0 restores the protocol's value, RFC 8656 §9, §12;
 * @alloc_cap 0: no cap, else an allocation expires after at most that many seconds whatever its
 * LIFETIME says). */
void turn_server_set_lifetimes(struct turn_server *srv, unsigned perm, unsigned chan,
			       unsigned cooldown, unsigned alloc_cap);

/* For tests: sets how long a TCP/TLS connection may hold no allocation, from the next time its
 * idle timer starts (seconds). */
void turn_server_set_stream_idle(struct turn_server *srv, unsigned seconds);

/* ---- the in-box hairpin between workers (handoff.c) ---- */

/* Allocates @srv's port-owner map when it has more than one worker. Returns 0 or -ENOMEM. */
int turn_handoff_server_init(struct turn_server *srv);

/* Frees the map (after every worker is freed: closing relays write to it). */
void turn_handoff_server_free(struct turn_server *srv);

/* Sets up @w's inbox: its lock always, its ring and event with more than one worker (after
 * w->base exists). Returns 0 or -ENOMEM. */
int turn_handoff_init(struct turn_worker *w);

/* Frees @w's inbox; safe on one never set up. */
void turn_handoff_free(struct turn_worker *w);

/* Records that @w holds (@own) or no longer holds the relay port @port (host order) of family
 * index @f. Called on @w's thread when a relay is attached or closed; no-op with one worker. */
void turn_handoff_own(struct turn_worker *w, int f, uint16_t port, bool own);

/* Relay -> relay between workers (turn.hairpin): if @peer is the relayed address of another
 * worker's relay (its relay IP or the external IP, and a port that worker holds) and @len fits
 * TURN_HANDOFF_MAX, copies the datagram into that worker's inbox, to be delivered there by
 * turn_relay_deliver from @peer's IP and port @src_port (the sender's relayed address), and
 * returns true. Returns false if the kernel must carry it (one worker, hairpin off, not ours,
 * too big, inbox full: counted in handoff_full). The caller counts the datagram as sent. */
bool turn_handoff_send(struct turn_worker *w, const struct sockaddr_storage *peer,
		       uint16_t src_port, const uint8_t *data, size_t len);

#endif
