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
		unsigned workers;                      /* libevent worker threads */
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

/* Frees what config_load allocated. @cfg may be zeroed or partly loaded. */
void config_free(struct config *cfg);

#endif
