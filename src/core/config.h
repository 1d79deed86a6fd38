/*
 * config: the tincand configuration file (libconfig syntax), loaded and validated in one pass.
 *
 * Every option is one row of a table in config.c (name, type, bounds, default, target field); the
 * loader, the unknown-key check and the defaults all walk that table. Errors read
 * "FILE:LINE: OPTION: REASON". Relative paths in the file are relative to the file's folder.
 */
#ifndef TINCAN_CORE_CONFIG_H
#define TINCAN_CORE_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/addr.h"
#include "core/cred.h"

#define CONFIG_NAME_MAX 128 /* bytes including NUL: realm, user names, passwords */
#define CONFIG_HOST_MAX 256
#define CONFIG_LISTEN_MAX 8 /* turn.listen addresses */

/* A static long-term credential user (RFC 8489 §9.2), for CLI clients and tests. */
struct config_user {
	char name[CONFIG_NAME_MAX];
	char password[CONFIG_NAME_MAX];
};

struct config {
	char path[PATH_MAX];          /* the file it was loaded from */
	int log_level;                /* enum log_level */

	struct {
		struct sockaddr_storage listen;        /* the first UDP listen address and port */
		/* Every UDP listen address, listens[0] == listen ("turn.listen" is a string or a
		 * list). */
		struct sockaddr_storage listens[CONFIG_LISTEN_MAX];
		size_t n_listen;
		struct sockaddr_storage relay_ip;      /* the first relay address (port 0) */
		/* The relay address of each family (port 0), family 0 if none: a relayed address is
		 * on relay_v4 or relay_v6, as the client's REQUESTED-ADDRESS-FAMILY asks. */
		struct sockaddr_storage relay_v4, relay_v6;
		uint16_t relay_port_min;               /* inclusive, host order */
		uint16_t relay_port_max;               /* inclusive, host order */
		char external_host[CONFIG_HOST_MAX];   /* host in stun:/turn: URLs given to browsers */
		/* If external_host is an IP other than relay_ip (1:1 NAT, e.g. a cloud VM), relayed
		 * addresses are reported with this IP. Family 0 if unset. */
		struct sockaddr_storage external_ip;
		char realm[CONFIG_NAME_MAX];
		struct cred_secret secret;             /* REST credential secret */
		bool secret_configured;                /* false: random per process start */
		unsigned credential_lifetime;          /* seconds */
		struct config_user *users;
		size_t n_users;
		struct peer_acl peers;
		unsigned workers;                      /* libevent worker threads; 0 = one per
							* CPU (turn_workers_auto) */
		unsigned unauth_rate;                  /* answers/s to unauthenticated requests per
							* source IP; 0 = unlimited */
		unsigned unauth_burst;                 /* ...in bursts of this many */
		unsigned user_quota;                   /* allocations per user or participant;
							* 0 = unlimited */
		unsigned max_allocations;              /* allocations in the process; 0 = as many
							* as the relay ports allow */
		unsigned bandwidth;                    /* kbit/s per allocation and direction;
							* 0 = unlimited */
		/* A datagram from one allocation to another allocation's relayed address on the
		 * same worker skips the kernel (src/turn/server.c, in-box hairpin). */
		bool hairpin;
		/* Interrupt coalescing, in microseconds: a worker receiving datagrams fast enough
		 * that 1.5 are due within this time, its sockets drained, waits before the next
		 * round until about two more are due (at most this long), so a round carries
		 * several datagrams (src/turn/server.c io_coalesce). 0 = never waits. */
		unsigned coalesce_us;
		/* TURN over TCP and over TLS on their own ports (3478 and 5349 by default), each
		 * off while its n_* is 0. */
		struct sockaddr_storage tcp_listens[CONFIG_LISTEN_MAX];
		size_t n_tcp_listen;
		struct sockaddr_storage tls_listens[CONFIG_LISTEN_MAX];
		size_t n_tls_listen;
		unsigned max_connections;              /* TCP and TLS client connections at once;
							* 0 (a hand-made config) = no limit */
	} turn;

	struct {
		struct sockaddr_storage listen;        /* HTTP listen address and port */
		char html_dir[PATH_MAX];               /* static files of the web UI */
		unsigned selftest_rate;                /* POST /api/selftest per minute per client
							* address; 0 = the route is off */
		/* Who may read /metrics: the client address must lie in one of these prefixes
		 * (IPv4-mapped IPv6 addresses count as IPv4). Default loopback only. */
		struct cidr *metrics_allow;
		size_t n_metrics_allow;
	} http;

	struct {
		unsigned capacity;                     /* participants per room */
		unsigned max_rooms;                    /* rooms at once in the process */
		unsigned token_lifetime;               /* seconds a join token (JWT) is valid */
		unsigned idle_timeout;                 /* seconds an empty room is kept */
		unsigned reconnect_grace;              /* seconds a participant whose WebSocket
							* dropped keeps its seat; 0 = none */
		struct cred_secret token_secret;       /* HS256 key for join tokens */
		bool token_secret_configured;          /* false: random per process start */
	} rooms;

	struct {
		/* The shared port's certificate chain (PEM, leaf first) and key; both "" = a
		 * self-signed pair in state_dir (src/core/tls.h). */
		char certificate[PATH_MAX];
		char private_key[PATH_MAX];
		char state_dir[PATH_MAX];              /* where the self-signed pair is kept */
	} tls;

	struct {
		/* The shared port (HTTPS, WSS, TURN over TLS and TCP on one TCP port, src/mux);
		 * n_listen 0 = none. */
		struct sockaddr_storage listens[CONFIG_LISTEN_MAX];
		size_t n_listen;
		bool redirect_http;                    /* plain HTTP there gets a 308 to https:// */
		unsigned classify_timeout;             /* seconds to send a decidable first flight,
							* and again to finish a TLS handshake */
		unsigned max_unclassified_per_ip;      /* unclassified connections per client IP */
		unsigned max_unclassified;             /* ...and in all */
	} mux;
};

/*
 * Loads and validates @path into @cfg (zeroed first). Unset options take their defaults; unset
 * secrets are made random. On error returns -EINVAL (or -ENOENT / -EIO for an unreadable file)
 * and writes "FILE:LINE: OPTION: REASON" into @err (@errlen bytes).
 */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);

/* The path ("group.name") of the @i-th option of the table, or NULL past the end: lets tests and
 * documentation walk every option. */
const char *config_option_path(size_t i);

/* True if the @i-th option of the table can change while tincand runs (a SIGHUP applies it);
 * false if it takes effect at the next start only (listen addresses, relay ports, workers...).
 * False past the end. */
bool config_option_live(size_t i);

/* True if the @i-th option's value is held inline in struct config (no pointer), so that
 * config_reconcile can copy it: every restart-only option must be. */
bool config_option_copyable(size_t i);

/* What config_reconcile found, as comma-separated option paths ("" if none). */
struct config_changes {
	char live[1024];           /* changed, and applied by the reload */
	char restart[1024];        /* changed in the file, kept at the running value */
	unsigned n_live, n_restart;
};

/*
 * Turns @next, freshly loaded with config_load(), into the configuration a running process can
 * switch to from @running: every option that cannot change live and differs gets @running's
 * value back (and is named in @out->restart, for the log), as do the values derived from them
 * (turn.relay_address and turn.external_address defaults); options that can change live keep
 * @next's value and, if different, are named in @out->live. A secret left unset in both files
 * keeps @running's random one, so credentials and tokens minted so far stay valid. Secrets are
 * compared, never printed. Returns 0, or -EINVAL if a restart-only option is of a type that
 * cannot be copied (a mistake in the table: see config_option_copyable).
 */
int config_reconcile(struct config *next, const struct config *running,
		     struct config_changes *out);

/* Frees what config_load allocated. @cfg may be zeroed or partly loaded. */
void config_free(struct config *cfg);

#endif
