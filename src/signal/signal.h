/*
 * signal: rooms, participants, join tokens and the signaling messages relayed between peers.
 *
 * Pure C (no libwebsockets): the HTTP module owns sockets and timers and calls in here; this
 * module calls back out only through the send hook given to signal_hub_create(). Everything runs
 * on one thread (the control thread), so nothing here locks.
 *
 * Model: a hub holds rooms; a room holds the peers whose WebSocket is connected (a REST join only
 * mints a token, it reserves no seat). Peers exchange opaque SDP/ICE payloads through the server
 * ("signal" messages); the media itself goes peer to peer or through the TURN relay. Message
 * formats are specified in docs/api.md.
 */
#ifndef TINCAN_SIGNAL_SIGNAL_H
#define TINCAN_SIGNAL_SIGNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "core/cred.h"

/* Room and participant ids: 16 random bytes (128 bits) in base64url without padding. */
#define SIGNAL_ID_LEN 22
/* Largest signaling message a client may send, in bytes (a WebSocket message, not a frame). */
#define SIGNAL_MSG_MAX 65536
/* Longest room password, in bytes. */
#define SIGNAL_PASSWORD_MAX 256

/* Longest display name, in bytes of UTF-8. */
#define SIGNAL_NAME_MAX 64
/* Messages (and bytes) kept for a peer whose connection dropped, until it resumes. */
#define SIGNAL_BACKLOG_MSGS 64
#define SIGNAL_BACKLOG_BYTES (256 * 1024)

/* WebSocket close codes the hub asks for (the private-use range, RFC 6455 §7.4.2). */
#define SIGNAL_CLOSE_REPLACED 4001  /* the same participant connected again, e.g. another tab */

struct signal_hub;
struct signal_room;
struct signal_peer;

/* Sends one text message (@json, @len bytes, not NUL-terminated for the receiver's purposes) to
 * the connection @conn given to signal_room_join(). Returns 0, or a negative errno if the message
 * could not be queued; the hook then deals with the connection itself (e.g. closes it), the hub
 * carries on. */
typedef int (signal_send_h)(void *conn, const char *json, size_t len, void *arg);

/* Closes @conn with WebSocket close @code and @reason after what was sent to it. The hub has
 * already let go of @conn: it never passes it to a hook again, and the connection must not call
 * signal_peer_*() for the peer it had. */
typedef void (signal_close_h)(void *conn, int code, const char *reason, void *arg);

/* Participant @id of room @room is gone for good: it left, its reconnect grace ran out, or its
 * room was deleted. Whatever was minted for it (TURN credentials, allocations) can be revoked.
 * Not called from signal_hub_destroy(). */
typedef void (signal_gone_h)(const char *room, const char *id, void *arg);

/* How the hub calls out. @send is required; @close and @gone may be NULL. */
struct signal_hooks {
	signal_send_h *send;
	signal_close_h *close;
	signal_gone_h *gone;
	void *arg;
};

/* The hub's limits (copied by signal_hub_create()). */
struct signal_limits {
	unsigned capacity;         /* most peers per room, and a new room's default (>= 1) */
	unsigned max_rooms;        /* rooms at once (>= 1) */
	unsigned idle_timeout;     /* seconds an empty room is kept */
	unsigned reconnect_grace;  /* seconds a dropped peer keeps its seat; 0 = it leaves at once */
	/* Signs the fresh join token sent in "welcome" and "token" (resuming needs a valid one).
	 * NULL: no tokens are sent. Must outlive the hub. */
	const struct cred_secret *token_key;
	unsigned token_lifetime;   /* seconds */
};

/* ---- ids ---- */

/* Writes a fresh random id (SIGNAL_ID_LEN chars and a NUL) into @out. Returns 0, or -EIO if the
 * OpenSSL CSPRNG fails. */
int signal_id_random(char out[SIGNAL_ID_LEN + 1]);

/* True if @s is exactly SIGNAL_ID_LEN characters of the base64url alphabet (RFC 4648 §5). */
bool signal_id_valid(const char *s);

/* ---- join tokens (JWT, RFC 7519, HS256) ---- */

/* What a valid token says. */
struct signal_claims {
	char room[SIGNAL_ID_LEN + 1];   /* "room" */
	char sub[SIGNAL_ID_LEN + 1];    /* "sub": the participant id */
	char name[SIGNAL_NAME_MAX + 1]; /* "name": display name, "" if none */
	time_t iat;                     /* "iat": issued at, Unix seconds */
	time_t exp;                     /* "exp": expires at, Unix seconds */
};

/* True if @s may be a display name: at most SIGNAL_NAME_MAX bytes and no control characters
 * (U+0000..U+001F, U+007F). The caller has checked it is UTF-8 (jansson does). "" is valid
 * (no name). Names are shown as text by clients, never interpreted. */
bool signal_name_valid(const char *s);

/* Mints an HS256 JWT with claims room, sub, name (if @name is not NULL or ""), iat = @now and
 * exp = @now + @lifetime (seconds, wall clock) signed with @key. *@out is a NUL-terminated string
 * the caller frees with free(). Returns 0; -EINVAL if @room or @sub is not a valid id, @name not
 * a valid name or @lifetime is 0; -ENOMEM. */
int signal_token_mint(const struct cred_secret *key, const char *room, const char *sub,
		      const char *name, time_t now, unsigned lifetime, char **out);

/* Verifies @token against @key at wall-clock time @now and fills @out. Only HS256 is accepted
 * ("alg":"none" and the RSA/EC algorithms are refused). Returns 0; -EACCES if the token is not a
 * JWT signed with @key by HS256; -EINVAL if a claim is missing or malformed; -ETIME if @now is at
 * or past "exp". */
int signal_token_verify(const struct cred_secret *key, const char *token, time_t now,
			struct signal_claims *out);

/* ---- the hub: every room of the process ----
 *
 * Room clocks are monotonic seconds (CLOCK_MONOTONIC) and must never go backwards between calls:
 * empty rooms are kept in the order they became empty, which is their expiry order. */

/* Creates an empty hub with @limits, calling out through @hooks (both copied). Returns 0;
 * -EINVAL (no send hook, a zero capacity or max_rooms); -ENOMEM. */
int signal_hub_create(struct signal_hub **out, const struct signal_limits *limits,
		      const struct signal_hooks *hooks);

/* Frees every room and peer without sending anything (the connections are going away too).
 * @hub may be NULL. */
void signal_hub_destroy(struct signal_hub *hub);

/* Replaces the hub's limits (a configuration reload). Rooms keep the capacity they were made
 * with, peers their seats: a lower capacity or max_rooms refuses new ones only. The idle and
 * reconnect deadlines are counted with the new values from the next signal_hub_expire() on;
 * a new token_key makes tokens signed with the old one invalid. Returns 0, or -EINVAL (the same
 * checks as signal_hub_create; nothing changed). */
int signal_hub_set_limits(struct signal_hub *hub, const struct signal_limits *limits);

/* Rooms that exist now. */
size_t signal_hub_rooms(const struct signal_hub *hub);

/* Peers in rooms now, over all rooms (including those within their reconnect grace). */
size_t signal_hub_peers(const struct signal_hub *hub);

/* At monotonic time @now (seconds): makes every peer whose reconnect grace has run out leave
 * ("peer-left" to the others), then deletes every room that has been empty for idle_timeout
 * seconds or more. Returns the monotonic time of the next such event, or 0 if none is pending:
 * the caller arms its timer for that. */
time_t signal_hub_expire(struct signal_hub *hub, time_t now);

/* ---- rooms ---- */

/* Creates a room with a fresh random id, empty since @now (monotonic seconds). @password NULL or
 * "" means none; otherwise it is stored as a salted PBKDF2-HMAC-SHA256 hash (takes a few ms of
 * CPU). @capacity is the room's most peers, 2..the hub's capacity; 0 means the hub's. Returns 0
 * and the room in *@out; -ENOSPC if max_rooms rooms exist; -EINVAL if the password is longer than
 * SIGNAL_PASSWORD_MAX bytes; -ERANGE for a bad @capacity; -EIO if the CSPRNG or the KDF fails;
 * -ENOMEM. */
int signal_room_create(struct signal_hub *hub, const char *password, unsigned capacity,
		       time_t now, struct signal_room **out);

/* Returns the room named @id, or NULL. */
struct signal_room *signal_room_find(struct signal_hub *hub, const char *id);

/* The room's id (SIGNAL_ID_LEN chars). */
const char *signal_room_id(const struct signal_room *room);

/* True if joining the room needs a password. */
bool signal_room_has_password(const struct signal_room *room);

/* Peers connected to the room now. */
unsigned signal_room_peers(const struct signal_room *room);

/* The hub's per-room capacity. */
unsigned signal_room_capacity(const struct signal_room *room);

/* Checks @password (NULL means none) against the room's, in constant time over the derived key.
 * A room without a password accepts anything. Returns 0, or -EACCES. */
int signal_room_check_password(const struct signal_room *room, const char *password);

/* Restarts the room's idle clock at @now if it is empty, so that a room someone just joined over
 * REST is not deleted before their WebSocket arrives. */
void signal_room_touch(struct signal_room *room, time_t now);

/* Says whether the participant @id could join now. Returns 0 (there is a free seat, or @id
 * already has one: joining again resumes it); -EBUSY if the room is at capacity. */
int signal_room_can_join(const struct signal_room *room, const char *id);

/* What a connection brings to signal_room_join(). */
struct signal_join {
	const char *id;            /* participant id (the token's "sub") */
	const char *name;          /* display name, NULL or "" for none (the token's "name") */
	void *conn;                /* passed back to the hooks */
	json_t *ice_servers;       /* a JSON array for "welcome", borrowed */
};

/*
 * Connects participant @j->id through @j->conn.
 *
 * A new participant takes a seat: it gets a "welcome" (its id, the ids and names already present,
 * the ICE servers, "resumed": false, a fresh token) and every other peer a "peer-joined".
 *
 * A participant that already has a seat resumes it, telling the others nothing: if its old
 * connection is still open (a second tab, or a page whose socket the network dropped without the
 * server noticing yet), that one gets {"type":"replaced"} and is closed with
 * SIGNAL_CLOSE_REPLACED; the new one gets "welcome" with "resumed": true, then the messages
 * kept for the peer while it had no connection.
 *
 * Returns 0 and the peer in *@out; -EBUSY (full); -EINVAL (@j->id not a valid id, @j->name not a
 * valid name); -ENOMEM. On error nothing is sent.
 */
int signal_room_join(struct signal_room *room, const struct signal_join *j,
		     struct signal_peer **out);

/* ---- peers ---- */

/* The peer's participant id. */
const char *signal_peer_id(const struct signal_peer *peer);

/* The peer's room. */
struct signal_room *signal_peer_room(const struct signal_peer *peer);

/* The peer's display name, "" if none. */
const char *signal_peer_name(const struct signal_peer *peer);

/* True while the peer has a connection (false within its reconnect grace). */
bool signal_peer_connected(const struct signal_peer *peer);

/* Removes the peer from its room, frees it, tells the others ("peer-left") and calls the gone
 * hook. If the room is now empty, its idle clock starts at @now (monotonic seconds). */
void signal_peer_leave(struct signal_peer *peer, time_t now);

/* The peer's connection dropped at @now (monotonic seconds) without a proper leave. The peer
 * keeps its seat for reconnect_grace seconds, telling no one; messages to it are kept (up to
 * SIGNAL_BACKLOG_MSGS / _BYTES) until it resumes with signal_room_join(). With no grace it
 * leaves at once. Either way the caller must forget @peer. */
void signal_peer_detach(struct signal_peer *peer, time_t now);

/* Handles one message (@len bytes of UTF-8 JSON text) the peer sent: a "signal" is forwarded to
 * its "to" peer, a "ping" is answered with a "pong", a "refresh" with a "token" (if the hub has a
 * token key); anything else is answered with an "error"
 * message to the sender (codes bad-json, bad-message, unknown-type, unknown-peer; docs/api.md).
 * Returns 0 if the message was acted on, or -EBADMSG / -EPROTO / -ENOENT (bad JSON or fields /
 * unknown type / unknown peer) after the error was sent. @len is not checked against
 * SIGNAL_MSG_MAX: the caller refuses larger messages before reassembling them. */
int signal_peer_recv(struct signal_peer *peer, const char *text, size_t len);

/* Sends the peer {"type":"error","code":@code,"message":@message}. Returns the hook's result,
 * or -ENOMEM. */
int signal_peer_error(struct signal_peer *peer, const char *code, const char *message);

#endif
