/*
 * The hub, its rooms and their peers.
 *
 * A room lives from POST /api/rooms until it has stayed empty for idle_timeout seconds; the HTTP
 * module drives that clock by calling signal_hub_expire() from a timer. A peer exists exactly while
 * its WebSocket is open: joining over REST only mints a token, so a room's head count is the
 * number of open sockets and capacity is checked when a socket arrives.
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

int signal_hub_create(struct signal_hub **out, unsigned capacity, unsigned max_rooms,
		      unsigned idle_timeout, signal_send_h *send, void *arg)
{
	struct signal_hub *hub;

	if (!out || !capacity || !max_rooms || !send)
		return -EINVAL;
	hub = calloc(1, sizeof(*hub));
	if (!hub)
		return -ENOMEM;
	hub->capacity = capacity;
	hub->max_rooms = max_rooms;
	hub->idle_timeout = idle_timeout;
	hub->send = send;
	hub->arg = arg;
	*out = hub;
	return 0;
}

static void room_free(struct signal_room *room)
{
	struct signal_hub *hub = room->hub;
	struct signal_peer *p, *tmp;

	HASH_ITER(hh, room->peers, p, tmp) {
		HASH_DEL(room->peers, p);
		hub->n_peers--;
		free(p);
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
	time_t deadline;

	while (hub->idle) {
		deadline = hub->idle->empty_since + (time_t)hub->idle_timeout;
		if (now < deadline)
			return deadline;
		room_free(hub->idle);
	}
	return 0;
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

int signal_room_create(struct signal_hub *hub, const char *password, time_t now,
		       struct signal_room **out)
{
	struct signal_room *room, *clash;
	int err;

	if (!hub || !out)
		return -EINVAL;
	if (password && strlen(password) > SIGNAL_PASSWORD_MAX)
		return -EINVAL;
	if (hub->n_rooms >= hub->max_rooms)
		return -ENOSPC;
	room = calloc(1, sizeof(*room));
	if (!room)
		return -ENOMEM;
	room->hub = hub;

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
	return room->hub->capacity;
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
		return -EEXIST;
	if (room->n_peers >= room->hub->capacity)
		return -EBUSY;
	return 0;
}

int signal_room_join(struct signal_room *room, const char *id, void *conn, json_t *ice_servers,
		     struct signal_peer **out)
{
	struct signal_peer *peer;
	int err;

	if (!room || !signal_id_valid(id) || !out)
		return -EINVAL;
	err = signal_room_can_join(room, id);
	if (err)
		return err;
	peer = calloc(1, sizeof(*peer));
	if (!peer)
		return -ENOMEM;
	peer->room = room;
	peer->conn = conn;
	memcpy(peer->id, id, sizeof(peer->id));

	if (!room->n_peers)
		DL_DELETE2(room->hub->idle, room, idle_prev, idle_next);
	HASH_ADD_STR(room->peers, id, peer);
	room->n_peers++;
	room->hub->n_peers++;
	signal__announce_join(peer, ice_servers);
	*out = peer;
	return 0;
}

const char *signal_peer_id(const struct signal_peer *peer)
{
	return peer->id;
}

struct signal_room *signal_peer_room(const struct signal_peer *peer)
{
	return peer->room;
}

void signal_peer_leave(struct signal_peer *peer, time_t now)
{
	struct signal_room *room;

	if (!peer)
		return;
	room = peer->room;
	signal__announce_leave(peer);
	HASH_DEL(room->peers, peer);
	room->n_peers--;
	room->hub->n_peers--;
	if (!room->n_peers)
		room_idle(room, now, false);
	free(peer);
}
