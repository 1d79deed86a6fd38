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
	size_t n_rooms;
	size_t n_peers;               /* over all rooms */
	unsigned capacity;
	unsigned max_rooms;
	unsigned idle_timeout;        /* seconds */
	signal_send_h *send;
	void *arg;
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
	time_t empty_since;           /* monotonic seconds; meaningful while n_peers == 0 */
	struct signal_room *idle_prev, *idle_next;  /* in hub->idle while n_peers == 0 */
};

struct signal_peer {
	UT_hash_handle hh;
	struct signal_room *room;
	char id[SIGNAL_ID_LEN + 1];
	void *conn;                   /* the HTTP module's connection, passed back to the send hook */
};

/* Serialises @msg (compact) and sends it to @peer through the hub's hook; consumes @msg.
 * Returns the hook's result, or -ENOMEM. */
int signal__send(struct signal_peer *peer, json_t *msg);

/* Sends "welcome" to @peer (just added to its room) and "peer-joined" to the others. */
void signal__announce_join(struct signal_peer *peer, json_t *ice_servers);

/* Sends "peer-left" about @peer to the others of its room (@peer is still in it). */
void signal__announce_leave(struct signal_peer *peer);

#endif
