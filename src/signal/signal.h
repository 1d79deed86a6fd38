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

struct signal_hub;
struct signal_room;
struct signal_peer;

/* Sends one text message (@json, @len bytes, not NUL-terminated for the receiver's purposes) to
 * the connection @conn given to signal_room_join(). Returns 0, or a negative errno if the message
 * could not be queued; the hook then deals with the connection itself (e.g. closes it), the hub
 * carries on. */
typedef int (signal_send_h)(void *conn, const char *json, size_t len, void *arg);

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
	time_t iat;                     /* "iat": issued at, Unix seconds */
	time_t exp;                     /* "exp": expires at, Unix seconds */
};

/* Mints an HS256 JWT with claims room, sub, iat = @now and exp = @now + @lifetime (seconds, wall
 * clock) signed with @key. *@out is a NUL-terminated string the caller frees with free().
 * Returns 0; -EINVAL if @room or @sub is not a valid id or @lifetime is 0; -ENOMEM. */
int signal_token_mint(const struct cred_secret *key, const char *room, const char *sub,
		      time_t now, unsigned lifetime, char **out);

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

/* Creates an empty hub. @capacity: connected peers per room (>= 1); @max_rooms: rooms at once
 * (>= 1); @idle_timeout: seconds an empty room is kept. @send is called for every message to a
 * peer, with @arg. Returns 0; -EINVAL; -ENOMEM. */
int signal_hub_create(struct signal_hub **out, unsigned capacity, unsigned max_rooms,
		      unsigned idle_timeout, signal_send_h *send, void *arg);

/* Frees every room and peer without sending anything (the connections are going away too).
 * @hub may be NULL. */
void signal_hub_destroy(struct signal_hub *hub);

/* Rooms that exist now. */
size_t signal_hub_rooms(const struct signal_hub *hub);

/* Peers connected now, over all rooms. */
size_t signal_hub_peers(const struct signal_hub *hub);

/* Deletes every room that has been empty for idle_timeout seconds or more at monotonic time
 * @now (seconds). Returns the monotonic time at which the next room would expire, or 0 if no
 * room is empty: the caller arms its timer for that. */
time_t signal_hub_expire(struct signal_hub *hub, time_t now);

/* ---- rooms ---- */

/* Creates a room with a fresh random id, empty since @now (monotonic seconds). @password NULL or
 * "" means none; otherwise it is stored as a salted PBKDF2-HMAC-SHA256 hash (takes a few ms of
 * CPU). Returns 0 and the room in *@out; -ENOSPC if max_rooms rooms exist; -EINVAL if the password
 * is longer than SIGNAL_PASSWORD_MAX bytes; -EIO if the CSPRNG or the KDF fails; -ENOMEM. */
int signal_room_create(struct signal_hub *hub, const char *password, time_t now,
		       struct signal_room **out);

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

/* Says whether the participant @id could join now. Returns 0; -EBUSY if the room is at capacity;
 * -EEXIST if @id is already connected. */
int signal_room_can_join(const struct signal_room *room, const char *id);

/* Adds participant @id, whose messages go to @conn through the send hook. Sends @id a "welcome"
 * (its id, the ids already present, @ice_servers: a JSON array, borrowed) and every other peer a
 * "peer-joined". Returns 0 and the peer in *@out; -EBUSY (full); -EEXIST (@id already
 * connected); -EINVAL (@id not a valid id); -ENOMEM. On error nothing is sent. */
int signal_room_join(struct signal_room *room, const char *id, void *conn, json_t *ice_servers,
		     struct signal_peer **out);

/* ---- peers ---- */

/* The peer's participant id. */
const char *signal_peer_id(const struct signal_peer *peer);

/* The peer's room. */
struct signal_room *signal_peer_room(const struct signal_peer *peer);

/* Removes the peer from its room, frees it and tells the others ("peer-left"). If the room is
 * now empty, its idle clock starts at @now (monotonic seconds). */
void signal_peer_leave(struct signal_peer *peer, time_t now);

/* Handles one message (@len bytes of UTF-8 JSON text) the peer sent: a "signal" is forwarded to
 * its "to" peer, a "ping" is answered with a "pong"; anything else is answered with an "error"
 * message to the sender (codes bad-json, bad-message, unknown-type, unknown-peer; docs/api.md).
 * Returns 0 if the message was acted on, or -EBADMSG / -EPROTO / -ENOENT (bad JSON or fields /
 * unknown type / unknown peer) after the error was sent. @len is not checked against
 * SIGNAL_MSG_MAX: the caller refuses larger messages before reassembling them. */
int signal_peer_recv(struct signal_peer *peer, const char *text, size_t len);

/* Sends the peer {"type":"error","code":@code,"message":@message}. Returns the hook's result,
 * or -ENOMEM. */
int signal_peer_error(struct signal_peer *peer, const char *code, const char *message);

#endif
