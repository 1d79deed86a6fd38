/*
 * Signaling messages: JSON text over the WebSocket, one object per message, always with a
 * "type". docs/api.md is the specification; this file builds the server's messages and checks
 * and routes the client's.
 *
 * The server never looks inside a "signal" message's "data": SDP offers and answers and ICE
 * candidates are the peers' business, the server only checks that "data" is an object and that
 * "to" names a peer in the sender's room, then stamps "from" with the sender's real id (so a
 * peer cannot pretend to be another).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "signal/internal.h"

/* Keeps @text for @peer, which has no connection now. Past the bounds, messages are dropped:
 * the page renegotiates after resuming anyway, so a long backlog would be stale. */
static int backlog_add(struct signal_peer *peer, const char *text, size_t len)
{
	struct signal_backlog *b;

	if (peer->backlog_msgs >= SIGNAL_BACKLOG_MSGS ||
	    peer->backlog_bytes + len > SIGNAL_BACKLOG_BYTES)
		return -ENOBUFS;
	b = malloc(sizeof(*b) + len);
	if (!b)
		return -ENOMEM;
	b->next = NULL;
	b->len = len;
	memcpy(b->text, text, len);
	if (peer->backlog_tail)
		peer->backlog_tail->next = b;
	else
		peer->backlog = b;
	peer->backlog_tail = b;
	peer->backlog_msgs++;
	peer->backlog_bytes += len;
	return 0;
}

void signal__backlog_free(struct signal_peer *peer)
{
	struct signal_backlog *b, *next;

	for (b = peer->backlog; b; b = next) {
		next = b->next;
		free(b);
	}
	peer->backlog = peer->backlog_tail = NULL;
	peer->backlog_msgs = peer->backlog_bytes = 0;
}

void signal__backlog_flush(struct signal_peer *peer)
{
	struct signal_hub *hub = peer->room->hub;
	struct signal_backlog *b;

	for (b = peer->backlog; b && peer->conn; b = b->next)
		if (hub->hooks.send(peer->conn, b->text, b->len, hub->hooks.arg))
			break;
	signal__backlog_free(peer);
}

int signal__send(struct signal_peer *peer, json_t *msg)
{
	struct signal_hub *hub = peer->room->hub;
	char *text;
	int err;

	if (!msg)
		return -ENOMEM;
	text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (!text)
		return -ENOMEM;
	if (peer->conn)
		err = hub->hooks.send(peer->conn, text, strlen(text), hub->hooks.arg);
	else
		err = backlog_add(peer, text, strlen(text));
	free(text);
	return err;
}

/* A fresh join token for @peer, or NULL if the hub has no key (or on error). */
static char *fresh_token(struct signal_peer *peer)
{
	const struct signal_limits *l = &peer->room->hub->limits;
	char *tok = NULL;

	if (!l->token_key || !l->token_lifetime)
		return NULL;
	if (signal_token_mint(l->token_key, peer->room->id, peer->id, peer->name, time(NULL),
			      l->token_lifetime, &tok))
		return NULL;
	return tok;
}

/* Adds "token" and "expires_in" to @msg if the hub mints tokens. */
static json_t *with_token(struct signal_peer *peer, json_t *msg)
{
	char *tok = fresh_token(peer);

	if (msg && tok) {
		json_object_set_new(msg, "token", json_string(tok));
		json_object_set_new(msg, "expires_in",
				    json_integer(peer->room->hub->limits.token_lifetime));
	}
	free(tok);
	return msg;
}

void signal__announce_join(struct signal_peer *peer, json_t *ice_servers, bool resumed)
{
	struct signal_room *room = peer->room;
	struct signal_peer *p, *tmp;
	json_t *peers = json_array(), *names = json_object(), *msg;

	HASH_ITER(hh, room->peers, p, tmp) {
		if (p == peer)
			continue;
		json_array_append_new(peers, json_string(p->id));
		if (p->name[0])
			json_object_set_new(names, p->id, json_string(p->name));
	}
	msg = json_pack("{s:s, s:s, s:o, s:o, s:o, s:b, s:i}", "type", "welcome", "id", peer->id,
			"peers", peers, "names", names,
			"iceServers", ice_servers ? json_incref(ice_servers) : json_array(),
			"resumed", resumed, "capacity", (int)room->capacity);
	signal__send(peer, with_token(peer, msg));
	if (resumed)
		return;
	HASH_ITER(hh, room->peers, p, tmp) {
		if (p == peer)
			continue;
		msg = json_pack("{s:s, s:s}", "type", "peer-joined", "id", peer->id);
		if (msg && peer->name[0])
			json_object_set_new(msg, "name", json_string(peer->name));
		signal__send(p, msg);
	}
}

void signal__announce_leave(struct signal_peer *peer)
{
	struct signal_peer *p, *tmp;

	HASH_ITER(hh, peer->room->peers, p, tmp)
		if (p != peer)
			signal__send(p, json_pack("{s:s, s:s}", "type", "peer-left",
						  "id", peer->id));
}

int signal_peer_error(struct signal_peer *peer, const char *code, const char *message)
{
	return signal__send(peer, json_pack("{s:s, s:s, s:s}", "type", "error", "code", code,
					    "message", message));
}

/* Forwards {"type":"signal","to":ID,"data":{...}} to ID as {"type":"signal","from":...}. */
static int recv_signal(struct signal_peer *peer, json_t *msg)
{
	json_t *to = json_object_get(msg, "to"), *data = json_object_get(msg, "data");
	struct signal_peer *dst = NULL;

	if (!json_is_string(to) || !json_is_object(data)) {
		signal_peer_error(peer, "bad-message",
				  "a signal needs \"to\" (a string) and \"data\" (an object)");
		return -EBADMSG;
	}
	if (signal_id_valid(json_string_value(to)))
		HASH_FIND_STR(peer->room->peers, json_string_value(to), dst);
	if (!dst || dst == peer) {
		signal_peer_error(peer, "unknown-peer", "\"to\" is not another peer of this room");
		return -ENOENT;
	}
	signal__send(dst, json_pack("{s:s, s:s, s:O}", "type", "signal", "from", peer->id,
				    "data", data));
	return 0;
}

int signal_peer_recv(struct signal_peer *peer, const char *text, size_t len)
{
	json_t *msg, *type;
	const char *t;
	int err;

	/* JSON_REJECT_DUPLICATES: two "to" keys must not mean one thing here and another to a
	 * client that reads the same text. */
	msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(msg)) {
		json_decref(msg);
		signal_peer_error(peer, "bad-json", "a message must be one JSON object");
		return -EBADMSG;
	}
	type = json_object_get(msg, "type");
	t = json_string_value(type);
	if (!t) {
		signal_peer_error(peer, "bad-message", "\"type\" must be a string");
		err = -EBADMSG;
	} else if (!strcmp(t, "signal")) {
		err = recv_signal(peer, msg);
	} else if (!strcmp(t, "refresh") && peer->room->hub->limits.token_key) {
		/* A long call outlives its join token; resuming after a drop needs a valid one. */
		signal__send(peer, with_token(peer, json_pack("{s:s}", "type", "token")));
		err = 0;
	} else if (!strcmp(t, "ping")) {
		/* Browsers cannot send WebSocket pings; this lets a page keep idle proxies from
		 * closing the socket and measure the round trip. */
		signal__send(peer, json_pack("{s:s}", "type", "pong"));
		err = 0;
	} else {
		signal_peer_error(peer, "unknown-type", "unknown message type");
		err = -EPROTO;
	}
	json_decref(msg);
	return err;
}
