/*
 * The hub, its rooms and their peers.
 *
 * A room lives from POST /api/rooms until it has stayed empty for idle_timeout seconds; the HTTP
 * module drives that clock by calling signal_hub_expire() from a timer. A peer exists while its
 * WebSocket is open, and for reconnect_grace seconds after it dropped (the same clock): joining
 * over REST only mints a token, so a room's head count is the number of sockets plus the seats
 * held for reconnecting peers, and capacity is checked when a socket arrives.
 *
 * A participant id has at most one seat. A socket presenting an id that has a seat resumes it:
 * the others are told nothing, and an older socket of that id (another tab, or a dead connection
 * the server has not noticed yet) is closed. Newest wins, so a page that lost its network can
 * always get back in.
 *
 * Room passwords are never kept in clear: each room stores a random salt and
 * PBKDF2-HMAC-SHA256(password, salt) and compares derived keys in constant time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "signal/internal.h"

/*
 * PBKDF2 rounds for room passwords. The KDF runs on the control thread, which also carries every
 * signaling message of every room, so its cost is a stall for everyone: 10,000 rounds take about
 * 5-10 ms on a small VM core. That is enough to make a leaked hash (a core dump, a swapped page)
 * expensive to brute-force for the few hours a room lives, while a flood of join attempts cannot
 * freeze signaling for long; online guessing is bounded by the same per-attempt cost. OWASP's
 * 600,000 rounds (~0.5 s here) are meant for long-lived account databases, not for this.
 */
#define PBKDF2_ROUNDS 10000

int signal_hub_create(struct signal_hub **out, const struct signal_limits *limits,
		      const struct signal_hooks *hooks)
{
	struct signal_hub *hub;

	if (!out || !limits || !hooks || !limits->capacity || !limits->max_rooms || !hooks->send)
		return -EINVAL;
	hub = calloc(1, sizeof(*hub));
	if (!hub)
		return -ENOMEM;
	hub->limits = *limits;
	hub->hooks = *hooks;
	*out = hub;
	return 0;
}

int signal_hub_set_limits(struct signal_hub *hub, const struct signal_limits *limits)
{
	if (!hub || !limits || !limits->capacity || !limits->max_rooms)
		return -EINVAL;
	hub->limits = *limits;
	return 0;
}

/* Frees @peer, already out of its room's table and counts. */
static void peer_free(struct signal_peer *peer)
{
	if (!peer->conn)
		DL_DELETE2(peer->room->hub->detached, peer, det_prev, det_next);
	signal__backlog_free(peer);
	free(peer);
}

/* Only signal_hub_destroy() frees a room that still has peers: the hooks are not called. */
static void room_free(struct signal_room *room)
{
	struct signal_hub *hub = room->hub;
	struct signal_peer *p, *tmp;

	HASH_ITER(hh, room->peers, p, tmp) {
		HASH_DEL(room->peers, p);
		hub->n_peers--;
		peer_free(p);
	}
	if (!room->n_peers) /* only empty rooms are on the idle list */
		DL_DELETE2(hub->idle, room, idle_prev, idle_next);
	HASH_DEL(hub->rooms, room);
	hub->n_rooms--;
	OPENSSL_cleanse(room->key, sizeof(room->key));
	free(room);
}

void signal_hub_destroy(struct signal_hub *hub)
{
	struct signal_room *r, *tmp;

	if (!hub)
		return;
	HASH_ITER(hh, hub->rooms, r, tmp)
		room_free(r);
	free(hub);
}

size_t signal_hub_rooms(const struct signal_hub *hub)
{
	return hub->n_rooms;
}

size_t signal_hub_peers(const struct signal_hub *hub)
{
	return hub->n_peers;
}

time_t signal_hub_expire(struct signal_hub *hub, time_t now)
{
	time_t peer_next = 0, room_next = 0, deadline;

	/* Peers first: the last one leaving makes its room empty, which starts the room's clock. */
	while (hub->detached) {
		deadline = hub->detached->detached_at + (time_t)hub->limits.reconnect_grace;
		if (now < deadline) {
			peer_next = deadline;
			break;
		}
		signal_peer_leave(hub->detached, now);
	}
	while (hub->idle) {
		deadline = hub->idle->empty_since + (time_t)hub->limits.idle_timeout;
		if (now < deadline) {
			room_next = deadline;
			break;
		}
		room_free(hub->idle);
	}
	if (!peer_next || (room_next && room_next < peer_next))
		return room_next;
	return peer_next;
}

/* Puts an empty room at the tail of the idle list, empty since @now. */
static void room_idle(struct signal_room *room, time_t now, bool listed)
{
	struct signal_hub *hub = room->hub;

	if (listed)
		DL_DELETE2(hub->idle, room, idle_prev, idle_next);
	room->empty_since = now;
	DL_APPEND2(hub->idle, room, idle_prev, idle_next);
}

/* Derives the room key from @password with the room's salt. */
static int room_kdf(const struct signal_room *room, const char *password,
		    uint8_t key[SIGNAL_KEY_LEN])
{
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), room->salt, sizeof(room->salt),
			      PBKDF2_ROUNDS, EVP_sha256(), SIGNAL_KEY_LEN, key) != 1)
		return -EIO;
	return 0;
}

int signal_room_create(struct signal_hub *hub, const char *password, unsigned capacity,
		       time_t now, struct signal_room **out)
{
	struct signal_room *room, *clash;
	int err;

	if (!hub || !out)
		return -EINVAL;
	if (password && strlen(password) > SIGNAL_PASSWORD_MAX)
		return -EINVAL;
	if (capacity && (capacity < 2 || capacity > hub->limits.capacity))
		return -ERANGE;
	if (hub->n_rooms >= hub->limits.max_rooms)
		return -ENOSPC;
	room = calloc(1, sizeof(*room));
	if (!room)
		return -ENOMEM;
	room->hub = hub;
	room->capacity = capacity ? capacity : hub->limits.capacity;

	err = signal_id_random(room->id);
	if (err)
		goto out;
	/* 128 random bits do not collide in practice; a clash means a broken RNG, not bad luck. */
	HASH_FIND_STR(hub->rooms, room->id, clash);
	if (clash) {
		err = -EIO;
		goto out;
	}
	if (password && *password) {
		room->has_password = true;
		if (RAND_bytes(room->salt, sizeof(room->salt)) != 1) {
			err = -EIO;
			goto out;
		}
		err = room_kdf(room, password, room->key);
		if (err)
			goto out;
	}
out:
	if (err) {
		OPENSSL_cleanse(room->key, sizeof(room->key));
		free(room);
		return err;
	}
	HASH_ADD_STR(hub->rooms, id, room);
	hub->n_rooms++;
	room_idle(room, now, false);
	*out = room;
	return 0;
}

struct signal_room *signal_room_find(struct signal_hub *hub, const char *id)
{
	struct signal_room *room;

	if (!signal_id_valid(id))
		return NULL;
	HASH_FIND_STR(hub->rooms, id, room);
	return room;
}

const char *signal_room_id(const struct signal_room *room)
{
	return room->id;
}

bool signal_room_has_password(const struct signal_room *room)
{
	return room->has_password;
}

unsigned signal_room_peers(const struct signal_room *room)
{
	return room->n_peers;
}

unsigned signal_room_capacity(const struct signal_room *room)
{
	return room->capacity;
}

int signal_room_check_password(const struct signal_room *room, const char *password)
{
	uint8_t key[SIGNAL_KEY_LEN];
	int err;

	if (!room->has_password)
		return 0;
	if (!password || !*password || strlen(password) > SIGNAL_PASSWORD_MAX)
		return -EACCES;
	err = room_kdf(room, password, key);
	if (!err && CRYPTO_memcmp(key, room->key, sizeof(key)) != 0)
		err = -EACCES;
	OPENSSL_cleanse(key, sizeof(key));
	return err ? -EACCES : 0;
}

void signal_room_touch(struct signal_room *room, time_t now)
{
	if (!room->n_peers)
		room_idle(room, now, true);
}

int signal_room_can_join(const struct signal_room *room, const char *id)
{
	struct signal_peer *p;

	HASH_FIND_STR(room->peers, id, p);
	if (p)
		return 0;
	if (room->n_peers >= room->capacity)
		return -EBUSY;
	return 0;
}

/* Gives @peer (which has a seat) the connection @conn; an older connection is told and closed. */
static void peer_resume(struct signal_peer *peer, void *conn, json_t *ice_servers)
{
	struct signal_hub *hub = peer->room->hub;

	if (peer->conn) {
		signal__send(peer, json_pack("{s:s}", "type", "replaced"));
		if (hub->hooks.close)
			hub->hooks.close(peer->conn, SIGNAL_CLOSE_REPLACED,
					 "opened in another tab or window", hub->hooks.arg);
	} else {
		DL_DELETE2(hub->detached, peer, det_prev, det_next);
	}
	peer->conn = conn;
	signal__announce_join(peer, ice_servers, true);
	signal__backlog_flush(peer);
}

int signal_room_join(struct signal_room *room, const struct signal_join *j,
		     struct signal_peer **out)
{
	struct signal_peer *peer;

	if (!room || !j || !signal_id_valid(j->id) || !out)
		return -EINVAL;
	if (j->name && !signal_name_valid(j->name))
		return -EINVAL;
	HASH_FIND_STR(room->peers, j->id, peer);
	if (peer) {
		peer_resume(peer, j->conn, j->ice_servers);
		*out = peer;
		return 0;
	}
	if (room->n_peers >= room->capacity)
		return -EBUSY;
	peer = calloc(1, sizeof(*peer));
	if (!peer)
		return -ENOMEM;
	peer->room = room;
	peer->conn = j->conn;
	memcpy(peer->id, j->id, sizeof(peer->id));
	if (j->name)
		snprintf(peer->name, sizeof(peer->name), "%s", j->name);

	if (!room->n_peers)
		DL_DELETE2(room->hub->idle, room, idle_prev, idle_next);
	HASH_ADD_STR(room->peers, id, peer);
	room->n_peers++;
	room->hub->n_peers++;
	signal__announce_join(peer, j->ice_servers, false);
	*out = peer;
	return 0;
}

const char *signal_peer_id(const struct signal_peer *peer)
{
	return peer->id;
}

const char *signal_peer_name(const struct signal_peer *peer)
{
	return peer->name;
}

bool signal_peer_connected(const struct signal_peer *peer)
{
	return peer->conn != NULL;
}

struct signal_room *signal_peer_room(const struct signal_peer *peer)
{
	return peer->room;
}

void signal_peer_leave(struct signal_peer *peer, time_t now)
{
	struct signal_room *room;
	struct signal_hub *hub;

	if (!peer)
		return;
	room = peer->room;
	hub = room->hub;
	signal__announce_leave(peer);
	HASH_DEL(room->peers, peer);
	room->n_peers--;
	hub->n_peers--;
	if (hub->hooks.gone)
		hub->hooks.gone(room->id, peer->id, hub->hooks.arg);
	if (!room->n_peers)
		room_idle(room, now, false);
	peer_free(peer);
}

void signal_peer_detach(struct signal_peer *peer, time_t now)
{
	struct signal_hub *hub;

	if (!peer)
		return;
	hub = peer->room->hub;
	if (!peer->conn)
		return;
	if (!hub->limits.reconnect_grace) {
		signal_peer_leave(peer, now);
		return;
	}
	peer->conn = NULL;
	peer->detached_at = now;
	DL_APPEND2(hub->detached, peer, det_prev, det_next);
}
