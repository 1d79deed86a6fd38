/*
 * signal internals: the structs behind the opaque types of signal.h, shared by room.c (hub, rooms,
 * peers) and message.c (the JSON messages). Nothing outside src/signal/ includes this.
 */
#ifndef TINCAN_SIGNAL_INTERNAL_H
#define TINCAN_SIGNAL_INTERNAL_H

#include <stdint.h>

#include <uthash.h>
#include <utlist.h>

#include "signal/signal.h"

#define SIGNAL_SALT_LEN 16
#define SIGNAL_KEY_LEN 32 /* PBKDF2-HMAC-SHA256 output, one SHA-256 block */

struct signal_hub {
	struct signal_room *rooms;    /* uthash by id */
	/* The empty rooms, oldest empty_since first. idle_timeout is the same for all, so this is
	 * also deadline order: expiry pops from the head and never scans the occupied rooms. */
	struct signal_room *idle;
	/* The peers within their reconnect grace, oldest detached_at first (also deadline order,
	 * the grace being the same for all). */
	struct signal_peer *detached;
	size_t n_rooms;
	size_t n_peers;               /* over all rooms */
	struct signal_limits limits;
	struct signal_hooks hooks;
};

struct signal_room {
	UT_hash_handle hh;
	struct signal_hub *hub;
	char id[SIGNAL_ID_LEN + 1];
	bool has_password;
	uint8_t salt[SIGNAL_SALT_LEN];
	uint8_t key[SIGNAL_KEY_LEN];  /* PBKDF2(password, salt) */
	/* uthash by id. uthash iterates in insertion order, which makes "peers" in a welcome list
	 * the others in the order they arrived. */
	struct signal_peer *peers;
	unsigned n_peers;
	unsigned capacity;
	time_t empty_since;           /* monotonic seconds; meaningful while n_peers == 0 */
	struct signal_room *idle_prev, *idle_next;  /* in hub->idle while n_peers == 0 */
};

/* A message kept for a peer without a connection. */
struct signal_backlog {
	struct signal_backlog *next;
	size_t len;
	char text[];
};

struct signal_peer {
	UT_hash_handle hh;
	struct signal_room *room;
	char id[SIGNAL_ID_LEN + 1];
	char name[SIGNAL_NAME_MAX + 1];
	/* The HTTP module's connection, passed back to the hooks; NULL within the reconnect grace,
	 * when the peer is on hub->detached and messages to it go to the backlog. */
	void *conn;
	time_t detached_at;           /* monotonic seconds, while conn == NULL */
	struct signal_peer *det_prev, *det_next;
	struct signal_backlog *backlog, *backlog_tail;
	size_t backlog_msgs, backlog_bytes;
};

/* Serialises @msg (compact) and sends it to @peer through the hub's hook; consumes @msg.
 * Returns the hook's result, or -ENOMEM. */
int signal__send(struct signal_peer *peer, json_t *msg);

/* Sends "welcome" to @peer (just added to its room, or resuming its seat) and, unless @resumed,
 * "peer-joined" to the others. */
void signal__announce_join(struct signal_peer *peer, json_t *ice_servers, bool resumed);

/* Sends the messages kept for @peer while it had no connection, and frees them. */
void signal__backlog_flush(struct signal_peer *peer);

/* Frees @peer's backlog unsent. */
void signal__backlog_free(struct signal_peer *peer);

/* Sends "peer-left" about @peer to the others of its room (@peer is still in it). */
void signal__announce_leave(struct signal_peer *peer);

#endif
