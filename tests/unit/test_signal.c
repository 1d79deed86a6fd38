/*
 * Unit tests of src/signal: ids, join tokens, rooms (passwords, capacity, idle expiry) and the
 * signaling messages, with a mock send hook standing in for the WebSocket connections.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "signal/signal.h"

/* ---- a mock of the HTTP module: each "connection" is an int, messages are recorded ---- */

#define MAX_SENT 64

struct sent {
	int conn;
	json_t *msg;
};

static struct sent sent[MAX_SENT];
static size_t n_sent;
static int send_result;   /* what the hook returns */

static int mock_send(void *conn, const char *json, size_t len, void *arg)
{
	json_error_t jerr;

	ck_assert_ptr_eq(arg, &n_sent);
	ck_assert_uint_lt(n_sent, MAX_SENT);
	sent[n_sent].conn = *(int *)conn;
	sent[n_sent].msg = json_loadb(json, len, 0, &jerr);
	ck_assert_msg(sent[n_sent].msg, "server sent invalid JSON: %.*s", (int)len, json);
	n_sent++;
	return send_result;
}

static void sent_clear(void)
{
	for (size_t i = 0; i < n_sent; i++)
		json_decref(sent[i].msg);
	n_sent = 0;
}

/* The string field @key of message @i. */
static const char *sent_str(size_t i, const char *key)
{
	ck_assert_uint_lt(i, n_sent);
	return json_string_value(json_object_get(sent[i].msg, key));
}

static int conns[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };

/* The close and gone hooks record their last call. */
static int closed_conn = -1, closed_code;
static char gone_id[SIGNAL_ID_LEN + 1];
static unsigned n_gone;

static void mock_close(void *conn, int code, const char *reason, void *arg)
{
	ck_assert_ptr_eq(arg, &n_sent);
	ck_assert_ptr_nonnull(reason);
	closed_conn = *(int *)conn;
	closed_code = code;
}

static void mock_gone(const char *room, const char *id, void *arg)
{
	ck_assert_ptr_eq(arg, &n_sent);
	ck_assert(signal_id_valid(room));
	snprintf(gone_id, sizeof(gone_id), "%s", id);
	n_gone++;
}

static const struct cred_secret token_key = { .key = "unit-test-token-key-0123456789", .len = 30 };

static struct signal_hub *hub_new_grace(unsigned capacity, unsigned max_rooms, unsigned idle,
					unsigned grace)
{
	struct signal_hub *hub = NULL;

	sent_clear();
	send_result = 0;
	closed_conn = -1;
	n_gone = 0;
	ck_assert_int_eq(signal_hub_create(&hub, &(struct signal_limits){
			.capacity = capacity, .max_rooms = max_rooms, .idle_timeout = idle,
			.reconnect_grace = grace, .token_key = &token_key, .token_lifetime = 600 },
		&(struct signal_hooks){ .send = mock_send, .close = mock_close, .gone = mock_gone,
					.arg = &n_sent }), 0);
	return hub;
}

static struct signal_hub *hub_new(unsigned capacity, unsigned max_rooms, unsigned idle)
{
	return hub_new_grace(capacity, max_rooms, idle, 0);
}

static int join(struct signal_room *room, const char *id, void *conn, json_t *ice,
		struct signal_peer **out)
{
	return signal_room_join(room, &(struct signal_join){ .id = id, .conn = conn,
							     .ice_servers = ice }, out);
}

static void new_id(char out[SIGNAL_ID_LEN + 1])
{
	ck_assert_int_eq(signal_id_random(out), 0);
}

/* ---- ids ---- */

/* Pins: ids are 22 base64url chars (128 bits), fresh each time, and the validator agrees. */
START_TEST(test_ids)
{
	char a[SIGNAL_ID_LEN + 1], b[SIGNAL_ID_LEN + 1];

	for (int i = 0; i < 1000; i++) {
		ck_assert_int_eq(signal_id_random(a), 0);
		ck_assert_uint_eq(strlen(a), SIGNAL_ID_LEN);
		ck_assert_uint_eq(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					 "0123456789-_"), SIGNAL_ID_LEN);
		ck_assert(signal_id_valid(a));
	}
	ck_assert_int_eq(signal_id_random(b), 0);
	ck_assert_str_ne(a, b);

	ck_assert(!signal_id_valid(NULL));
	ck_assert(!signal_id_valid(""));
	ck_assert(!signal_id_valid("AAAAAAAAAAAAAAAAAAAAA"));        /* 21 */
	ck_assert(!signal_id_valid("AAAAAAAAAAAAAAAAAAAAAAA"));      /* 23 */
	ck_assert(!signal_id_valid("AAAAAAAAAAAAAAAAAAAA+A"));       /* base64, not base64url */
	ck_assert(!signal_id_valid("AAAAAAAAAAAAAAAAAAAA=="));       /* padding */
	ck_assert(!signal_id_valid("AAAAAAAAAAAAAAAAAAAA/A"));
	ck_assert(signal_id_valid("Az09-_AAAAAAAAAAAAAAAA"));
}
END_TEST

/* ---- tokens ---- */

static const struct cred_secret key1 = { .key = "0123456789abcdef0123456789abcdef", .len = 32 };
static const struct cred_secret key2 = { .key = "fedcba9876543210fedcba9876543210", .len = 32 };

/* base64url without padding, for forging tokens. */
static void b64url(const unsigned char *in, size_t len, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	for (char *p = out; *p; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
		else if (*p == '=') {
			*p = '\0';
			break;
		}
	}
}

/* Pins: a minted token verifies with its key and gives back its claims; the wire form is a
 * three-part JWT whose header says HS256. */
START_TEST(test_token_roundtrip)
{
	char room[SIGNAL_ID_LEN + 1], sub[SIGNAL_ID_LEN + 1], *tok = NULL;
	struct signal_claims c;

	new_id(room);
	new_id(sub);
	ck_assert_int_eq(signal_token_mint(&key1, room, sub, NULL, 1700000000, 600, &tok), 0);
	ck_assert_ptr_nonnull(tok);
	ck_assert_ptr_nonnull(strchr(tok, '.'));
	ck_assert_ptr_nonnull(strchr(strchr(tok, '.') + 1, '.'));
	ck_assert_int_eq(signal_token_verify(&key1, tok, 1700000001, &c), 0);
	ck_assert_str_eq(c.room, room);
	ck_assert_str_eq(c.sub, sub);
	ck_assert_int_eq(c.iat, 1700000000);
	ck_assert_int_eq(c.exp, 1700000600);
	/* The last second before exp is valid, exp itself is not. */
	ck_assert_int_eq(signal_token_verify(&key1, tok, 1700000599, &c), 0);
	ck_assert_int_eq(signal_token_verify(&key1, tok, 1700000600, &c), -ETIME);
	ck_assert_int_eq(signal_token_verify(&key1, tok, 1800000000, &c), -ETIME);
	free(tok);
}
END_TEST

/* Pins: another key, a changed payload or signature, garbage and "alg":"none" are all -EACCES. */
START_TEST(test_token_rejects)
{
	char room[SIGNAL_ID_LEN + 1], sub[SIGNAL_ID_LEN + 1], *tok = NULL, *bad, *dot;
	char hdr[128], body[256], forged[512];
	struct signal_claims c;

	new_id(room);
	new_id(sub);
	ck_assert_int_eq(signal_token_mint(&key1, room, sub, NULL, 1700000000, 600, &tok), 0);
	ck_assert_int_eq(signal_token_verify(&key2, tok, 1700000001, &c), -EACCES);

	/* Flip one char of the payload: the signature no longer matches. */
	bad = strdup(tok);
	dot = strchr(bad, '.') + 5;
	*dot = *dot == 'A' ? 'B' : 'A';
	ck_assert_int_eq(signal_token_verify(&key1, bad, 1700000001, &c), -EACCES);
	free(bad);

	/* Flip the last char of the signature. */
	bad = strdup(tok);
	bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(signal_token_verify(&key1, bad, 1700000001, &c), -EACCES);
	free(bad);

	ck_assert_int_eq(signal_token_verify(&key1, "", 1700000001, &c), -EACCES);
	ck_assert_int_eq(signal_token_verify(&key1, "a.b.c", 1700000001, &c), -EACCES);
	ck_assert_int_eq(signal_token_verify(&key1, "not a token", 1700000001, &c), -EACCES);
	ck_assert_int_eq(signal_token_verify(&key1, "a.b.c.d", 1700000001, &c), -EACCES);
	bad = malloc(5000);
	memset(bad, 'A', 4999);
	bad[4999] = '\0';
	bad[100] = bad[200] = '.';
	ck_assert_int_eq(signal_token_verify(&key1, bad, 1700000001, &c), -EACCES);
	free(bad);

	/* An unsigned token with valid claims. */
	b64url((const unsigned char *)"{\"alg\":\"none\",\"typ\":\"JWT\"}", 27, hdr);
	snprintf(forged, sizeof(forged), "{\"room\":\"%s\",\"sub\":\"%s\",\"iat\":1700000000,"
		 "\"exp\":1700000600}", room, sub);
	b64url((const unsigned char *)forged, strlen(forged), body);
	snprintf(forged, sizeof(forged), "%s.%s.", hdr, body);
	ck_assert_int_eq(signal_token_verify(&key1, forged, 1700000001, &c), -EACCES);
	free(tok);
}
END_TEST

/* Signs @claims_json with key1 by HS256 the way any JWT library would. */
static char *sign_hs256(const char *claims_json)
{
	char hdr[128], body[512], sig[128], *tok;
	unsigned char mac[32];
	unsigned int maclen = 0;
	char input[1024];

	b64url((const unsigned char *)"{\"alg\":\"HS256\",\"typ\":\"JWT\"}", 27, hdr);
	b64url((const unsigned char *)claims_json, strlen(claims_json), body);
	snprintf(input, sizeof(input), "%s.%s", hdr, body);
	HMAC(EVP_sha256(), key1.key, (int)key1.len, (const unsigned char *)input, strlen(input),
	     mac, &maclen);
	b64url(mac, maclen, sig);
	tok = malloc(strlen(input) + strlen(sig) + 2);
	sprintf(tok, "%s.%s", input, sig);
	return tok;
}

/* Pins: a correctly signed token with missing or mistyped claims is -EINVAL, and a token made by
 * another HS256 implementation verifies (the format is plain RFC 7519). */
START_TEST(test_token_claims)
{
	struct signal_claims c;
	char *tok;

	tok = sign_hs256("{\"room\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"sub\":\"BBBBBBBBBBBBBBBBBBBBBB\","
			 "\"iat\":100,\"exp\":200}");
	ck_assert_int_eq(signal_token_verify(&key1, tok, 150, &c), 0);
	ck_assert_str_eq(c.room, "AAAAAAAAAAAAAAAAAAAAAA");
	free(tok);

	tok = sign_hs256("{\"room\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"iat\":100,\"exp\":200}");
	ck_assert_int_eq(signal_token_verify(&key1, tok, 150, &c), -EINVAL);
	free(tok);
	tok = sign_hs256("{\"room\":\"short\",\"sub\":\"BBBBBBBBBBBBBBBBBBBBBB\",\"iat\":100,"
			 "\"exp\":200}");
	ck_assert_int_eq(signal_token_verify(&key1, tok, 150, &c), -EINVAL);
	free(tok);
	tok = sign_hs256("{\"room\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"sub\":\"BBBBBBBBBBBBBBBBBBBBBB\","
			 "\"iat\":100,\"exp\":\"200\"}");
	ck_assert_int_eq(signal_token_verify(&key1, tok, 150, &c), -EINVAL);
	free(tok);
	tok = sign_hs256("{\"room\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"sub\":\"BBBBBBBBBBBBBBBBBBBBBB\","
			 "\"iat\":100}");
	ck_assert_int_eq(signal_token_verify(&key1, tok, 150, &c), -EINVAL);
	free(tok);
}
END_TEST

/* Pins: minting refuses bad ids and a zero lifetime. */
START_TEST(test_token_mint_args)
{
	char *tok = NULL;

	ck_assert_int_eq(signal_token_mint(&key1, "short", "BBBBBBBBBBBBBBBBBBBBBB", NULL, 1, 60,
					   &tok), -EINVAL);
	ck_assert_int_eq(signal_token_mint(&key1, "AAAAAAAAAAAAAAAAAAAAAA", "x:y", NULL, 1, 60,
					   &tok), -EINVAL);
	ck_assert_int_eq(signal_token_mint(&key1, "AAAAAAAAAAAAAAAAAAAAAA",
					   "BBBBBBBBBBBBBBBBBBBBBB", NULL, 1, 0, &tok), -EINVAL);
	ck_assert_ptr_null(tok);
}
END_TEST

/* ---- rooms ---- */

/* Pins: a created room is found by its id, has no password and no peers; unknown or malformed
 * ids find nothing. */
START_TEST(test_room_create_find)
{
	struct signal_hub *hub = hub_new(2, 10, 60);
	struct signal_room *r = NULL, *r2 = NULL;

	ck_assert_int_eq(signal_room_create(hub, NULL, 0, 0, &r), 0);
	ck_assert_int_eq(signal_room_create(hub, "", 0, 0, &r2), 0);
	ck_assert(signal_id_valid(signal_room_id(r)));
	ck_assert_str_ne(signal_room_id(r), signal_room_id(r2));
	ck_assert_ptr_eq(signal_room_find(hub, signal_room_id(r)), r);
	ck_assert_ptr_eq(signal_room_find(hub, signal_room_id(r2)), r2);
	ck_assert(!signal_room_has_password(r));
	ck_assert(!signal_room_has_password(r2));   /* "" means no password */
	ck_assert_uint_eq(signal_room_peers(r), 0);
	ck_assert_uint_eq(signal_room_capacity(r), 2);
	ck_assert_uint_eq(signal_hub_rooms(hub), 2);
	ck_assert_ptr_null(signal_room_find(hub, "AAAAAAAAAAAAAAAAAAAAAA"));
	ck_assert_ptr_null(signal_room_find(hub, "nope"));
	ck_assert_ptr_null(signal_room_find(hub, ""));
	/* Anything goes into a room without a password. */
	ck_assert_int_eq(signal_room_check_password(r, NULL), 0);
	ck_assert_int_eq(signal_room_check_password(r, "whatever"), 0);
	signal_hub_destroy(hub);
}
END_TEST

/* Pins: the right password opens a room, a wrong, empty or missing one does not; an overlong
 * password is refused at creation. */
START_TEST(test_room_password)
{
	struct signal_hub *hub = hub_new(2, 10, 60);
	struct signal_room *r = NULL;
	char longpw[SIGNAL_PASSWORD_MAX + 2];

	ck_assert_int_eq(signal_room_create(hub, "s3cret pass", 0, 0, &r), 0);
	ck_assert(signal_room_has_password(r));
	ck_assert_int_eq(signal_room_check_password(r, "s3cret pass"), 0);
	ck_assert_int_eq(signal_room_check_password(r, "s3cret pas"), -EACCES);
	ck_assert_int_eq(signal_room_check_password(r, "s3cret pass "), -EACCES);
	ck_assert_int_eq(signal_room_check_password(r, ""), -EACCES);
	ck_assert_int_eq(signal_room_check_password(r, NULL), -EACCES);

	memset(longpw, 'x', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	r = NULL;
	ck_assert_int_eq(signal_room_create(hub, longpw, 0, 0, &r), -EINVAL);
	ck_assert_ptr_null(r);
	longpw[SIGNAL_PASSWORD_MAX] = '\0';
	ck_assert_int_eq(signal_room_create(hub, longpw, 0, 0, &r), 0);
	ck_assert_int_eq(signal_room_check_password(r, longpw), 0);
	signal_hub_destroy(hub);
}
END_TEST

/* Pins: the same password in two rooms gives different stored keys (salted): one room's key
 * cannot open the other by comparison. Checked through behaviour: each room only accepts its
 * own password. */
START_TEST(test_room_password_per_room)
{
	struct signal_hub *hub = hub_new(2, 10, 60);
	struct signal_room *a = NULL, *b = NULL;

	ck_assert_int_eq(signal_room_create(hub, "alpha", 0, 0, &a), 0);
	ck_assert_int_eq(signal_room_create(hub, "beta", 0, 0, &b), 0);
	ck_assert_int_eq(signal_room_check_password(a, "alpha"), 0);
	ck_assert_int_eq(signal_room_check_password(a, "beta"), -EACCES);
	ck_assert_int_eq(signal_room_check_password(b, "beta"), 0);
	ck_assert_int_eq(signal_room_check_password(b, "alpha"), -EACCES);
	signal_hub_destroy(hub);
}
END_TEST

/* Pins: max_rooms rooms may exist at once, the next is -ENOSPC, and expiry frees a slot. */
START_TEST(test_room_limit)
{
	struct signal_hub *hub = hub_new(2, 3, 60);
	struct signal_room *r = NULL;

	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(signal_room_create(hub, NULL, 0, 100, &r), 0);
	ck_assert_int_eq(signal_room_create(hub, NULL, 0, 100, &r), -ENOSPC);
	ck_assert_uint_eq(signal_hub_rooms(hub), 3);
	ck_assert_int_eq(signal_hub_expire(hub, 160), 0);
	ck_assert_uint_eq(signal_hub_rooms(hub), 0);
	ck_assert_int_eq(signal_room_create(hub, NULL, 0, 200, &r), 0);
	signal_hub_destroy(hub);
}
END_TEST

/* Pins: a room holds at most capacity peers (-EBUSY), one id at most once (joining again takes
 * over the seat, closing the old connection), and a seat frees up when a peer leaves. */
START_TEST(test_room_capacity)
{
	struct signal_hub *hub = hub_new(2, 10, 60);
	struct signal_room *r = NULL;
	struct signal_peer *p1 = NULL, *p2 = NULL, *p3 = NULL;
	char a[SIGNAL_ID_LEN + 1], b[SIGNAL_ID_LEN + 1], c[SIGNAL_ID_LEN + 1];

	new_id(a);
	new_id(b);
	new_id(c);
	ck_assert_int_eq(signal_room_create(hub, NULL, 0, 0, &r), 0);
	ck_assert_int_eq(signal_room_can_join(r, a), 0);
	ck_assert_int_eq(join(r, a, &conns[1], NULL, &p1), 0);
	ck_assert_int_eq(signal_room_can_join(r, a), 0);
	ck_assert_int_eq(join(r, a, &conns[4], NULL, &p3), 0);
	ck_assert_ptr_eq(p3, p1);
	ck_assert_int_eq(closed_conn, 1);
	ck_assert_int_eq(closed_code, SIGNAL_CLOSE_REPLACED);
	ck_assert_uint_eq(signal_room_peers(r), 1);
	ck_assert_int_eq(join(r, b, &conns[2], NULL, &p2), 0);
	ck_assert_uint_eq(signal_room_peers(r), 2);
	ck_assert_uint_eq(signal_hub_peers(hub), 2);
	ck_assert_int_eq(signal_room_can_join(r, c), -EBUSY);
	sent_clear();
	ck_assert_int_eq(join(r, c, &conns[3], NULL, &p3), -EBUSY);
	ck_assert_uint_eq(n_sent, 0);  /* a refused join sends nothing */
	ck_assert_int_eq(join(r, "bad id", &conns[3], NULL, &p3), -EINVAL);

	signal_peer_leave(p1, 0);
	ck_assert_uint_eq(signal_room_peers(r), 1);
	ck_assert_int_eq(join(r, c, &conns[3], NULL, &p3), 0);
	ck_assert_ptr_eq(signal_peer_room(p3), r);
	ck_assert_str_eq(signal_peer_id(p3), c);
	signal_hub_destroy(hub);
}
END_TEST

/* Pins: only rooms empty for idle_timeout seconds expire; expire() reports the next deadline;
 * touch() restarts an empty room's clock; a room whose last peer leaves starts its clock then. */
START_TEST(test_room_expiry)
{
	struct signal_hub *hub = hub_new(2, 10, 60);
	struct signal_room *a = NULL, *b = NULL;
	struct signal_peer *p = NULL;
	char id[SIGNAL_ID_LEN + 1], aid[SIGNAL_ID_LEN + 1], bid[SIGNAL_ID_LEN + 1];

	new_id(id);
	ck_assert_int_eq(signal_room_create(hub, NULL, 0, 1000, &a), 0);
	ck_assert_int_eq(signal_room_create(hub, NULL, 0, 1010, &b), 0);
	strcpy(aid, signal_room_id(a));
	strcpy(bid, signal_room_id(b));
	ck_assert_int_eq(signal_hub_expire(hub, 1001), 1060);
	ck_assert_int_eq(join(b, id, &conns[1], NULL, &p), 0);
	signal_room_touch(a, 1030);                /* someone joined a over REST */
	ck_assert_int_eq(signal_hub_expire(hub, 1060), 1090);
	ck_assert_ptr_eq(signal_room_find(hub, aid), a);
	ck_assert_int_eq(signal_hub_expire(hub, 1090), 0); /* a goes, b is occupied */
	ck_assert_ptr_null(signal_room_find(hub, aid));
	ck_assert_ptr_eq(signal_room_find(hub, bid), b);

	ck_assert_int_eq(signal_hub_expire(hub, 5000), 0);  /* occupied rooms never expire */
	signal_peer_leave(p, 5000);
	ck_assert_int_eq(signal_hub_expire(hub, 5059), 5060);
	ck_assert_int_eq(signal_hub_expire(hub, 5060), 0);
	ck_assert_uint_eq(signal_hub_rooms(hub), 0);
	signal_hub_destroy(hub);
}
END_TEST

/* ---- messages ---- */

/* A room with peers a (conn 1) and b (conn 2); the log is cleared after the joins. */
struct pair {
	struct signal_hub *hub;
	struct signal_room *room;
	struct signal_peer *a, *b;
};

static void pair_setup(struct pair *p)
{
	char a[SIGNAL_ID_LEN + 1], b[SIGNAL_ID_LEN + 1];

	p->hub = hub_new(3, 10, 60);
	new_id(a);
	new_id(b);
	ck_assert_int_eq(signal_room_create(p->hub, NULL, 0, 0, &p->room), 0);
	ck_assert_int_eq(join(p->room, a, &conns[1], NULL, &p->a), 0);
	ck_assert_int_eq(join(p->room, b, &conns[2], NULL, &p->b), 0);
	sent_clear();
}

/* Pins: a newcomer gets welcome {id, peers in arrival order, iceServers as given}; the others
 * get peer-joined with its id. */
START_TEST(test_msg_welcome)
{
	struct signal_hub *hub = hub_new(3, 10, 60);
	struct signal_room *r = NULL;
	struct signal_peer *pa = NULL, *pb = NULL, *pc = NULL;
	char a[SIGNAL_ID_LEN + 1], b[SIGNAL_ID_LEN + 1], c[SIGNAL_ID_LEN + 1];
	json_t *ice = json_pack("[{s:[s]}]", "urls", "stun:example.org:3478"), *peers;

	new_id(a);
	new_id(b);
	new_id(c);
	ck_assert_int_eq(signal_room_create(hub, NULL, 0, 0, &r), 0);
	ck_assert_int_eq(join(r, a, &conns[1], ice, &pa), 0);
	ck_assert_uint_eq(n_sent, 1);
	ck_assert_int_eq(sent[0].conn, 1);
	ck_assert_str_eq(sent_str(0, "type"), "welcome");
	ck_assert_str_eq(sent_str(0, "id"), a);
	ck_assert_uint_eq(json_array_size(json_object_get(sent[0].msg, "peers")), 0);
	ck_assert(json_equal(json_object_get(sent[0].msg, "iceServers"), ice));
	sent_clear();

	ck_assert_int_eq(join(r, b, &conns[2], ice, &pb), 0);
	ck_assert_int_eq(join(r, c, &conns[3], ice, &pc), 0);
	ck_assert_uint_eq(n_sent, 5);   /* welcome b, joined(b)->a, welcome c, joined(c)->a,b */
	ck_assert_int_eq(sent[0].conn, 2);
	ck_assert_str_eq(sent_str(0, "type"), "welcome");
	ck_assert_int_eq(sent[1].conn, 1);
	ck_assert_str_eq(sent_str(1, "type"), "peer-joined");
	ck_assert_str_eq(sent_str(1, "id"), b);
	ck_assert_int_eq(sent[2].conn, 3);
	peers = json_object_get(sent[2].msg, "peers");
	ck_assert_uint_eq(json_array_size(peers), 2);
	ck_assert_str_eq(json_string_value(json_array_get(peers, 0)), a);
	ck_assert_str_eq(json_string_value(json_array_get(peers, 1)), b);
	ck_assert_str_eq(sent_str(3, "type"), "peer-joined");
	ck_assert_str_eq(sent_str(4, "type"), "peer-joined");
	ck_assert_int_eq(sent[3].conn + sent[4].conn, 1 + 2);
	/* type, id, peers, names, iceServers, resumed, capacity, token, expires_in */
	ck_assert_int_eq(json_object_size(sent[0].msg), 9);
	ck_assert(json_is_false(json_object_get(sent[0].msg, "resumed")));
	ck_assert_uint_eq(json_object_size(json_object_get(sent[0].msg, "names")), 0);
	json_decref(ice);
	sent_clear();
	signal_hub_destroy(hub);
}
END_TEST

/* Pins: a signal reaches only its "to" peer, with "from" set to the sender's id whatever the
 * sender claimed, "data" unchanged, and nothing else in it. */
START_TEST(test_msg_signal_forward)
{
	struct pair p;
	char buf[512];
	json_t *data;

	pair_setup(&p);
	snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"from\":\"spoofed\","
		 "\"data\":{\"sdp\":\"v=0\\r\\n\",\"n\":[1,2.5,null,true],\"o\":{}}}",
		 signal_peer_id(p.b));
	ck_assert_int_eq(signal_peer_recv(p.a, buf, strlen(buf)), 0);
	ck_assert_uint_eq(n_sent, 1);
	ck_assert_int_eq(sent[0].conn, 2);
	ck_assert_str_eq(sent_str(0, "type"), "signal");
	ck_assert_str_eq(sent_str(0, "from"), signal_peer_id(p.a));
	ck_assert_ptr_null(json_object_get(sent[0].msg, "to"));
	ck_assert_int_eq(json_object_size(sent[0].msg), 3);
	data = json_loads("{\"sdp\":\"v=0\\r\\n\",\"n\":[1,2.5,null,true],\"o\":{}}", 0, NULL);
	ck_assert(json_equal(json_object_get(sent[0].msg, "data"), data));
	json_decref(data);
	sent_clear();
	signal_hub_destroy(p.hub);
}
END_TEST

/* Sends @text from a, expects one error with @code back to a and returns recv's result. */
static int expect_error(struct pair *p, const char *text, const char *code)
{
	int rc = signal_peer_recv(p->a, text, strlen(text));

	ck_assert_msg(n_sent == 1, "%s: %zu messages sent", text, n_sent);
	ck_assert_int_eq(sent[0].conn, 1);
	ck_assert_str_eq(sent_str(0, "type"), "error");
	ck_assert_msg(!strcmp(sent_str(0, "code"), code), "%s: code %s, want %s", text,
		      sent_str(0, "code"), code);
	ck_assert_ptr_nonnull(sent_str(0, "message"));
	sent_clear();
	return rc;
}

/* Pins: malformed messages get an error to the sender only, with the documented codes. */
START_TEST(test_msg_errors)
{
	struct pair p;
	char buf[256];

	pair_setup(&p);
	ck_assert_int_eq(expect_error(&p, "{", "bad-json"), -EBADMSG);
	ck_assert_int_eq(expect_error(&p, "", "bad-json"), -EBADMSG);
	ck_assert_int_eq(expect_error(&p, "[1,2]", "bad-json"), -EBADMSG);
	ck_assert_int_eq(expect_error(&p, "\"signal\"", "bad-json"), -EBADMSG);
	ck_assert_int_eq(expect_error(&p, "{\"type\":\"a\",\"type\":\"b\"}", "bad-json"), -EBADMSG);
	ck_assert_int_eq(expect_error(&p, "{}", "bad-message"), -EBADMSG);
	ck_assert_int_eq(expect_error(&p, "{\"type\":7}", "bad-message"), -EBADMSG);
	ck_assert_int_eq(expect_error(&p, "{\"type\":\"dance\"}", "unknown-type"), -EPROTO);
	ck_assert_int_eq(expect_error(&p, "{\"type\":\"welcome\"}", "unknown-type"), -EPROTO);
	ck_assert_int_eq(expect_error(&p, "{\"type\":\"signal\",\"data\":{}}", "bad-message"),
			 -EBADMSG);
	snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":\"x\"}",
		 signal_peer_id(p.b));
	ck_assert_int_eq(expect_error(&p, buf, "bad-message"), -EBADMSG);
	snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\"}", signal_peer_id(p.b));
	ck_assert_int_eq(expect_error(&p, buf, "bad-message"), -EBADMSG);
	ck_assert_int_eq(expect_error(&p, "{\"type\":\"signal\",\"to\":\"AAAAAAAAAAAAAAAAAAAAAA\","
				      "\"data\":{}}", "unknown-peer"), -ENOENT);
	ck_assert_int_eq(expect_error(&p, "{\"type\":\"signal\",\"to\":\"x\",\"data\":{}}",
				      "unknown-peer"), -ENOENT);
	snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":{}}",
		 signal_peer_id(p.a));
	ck_assert_int_eq(expect_error(&p, buf, "unknown-peer"), -ENOENT);  /* to oneself */
	/* The peer is still there and still works. */
	ck_assert_int_eq(signal_peer_recv(p.a, "{\"type\":\"ping\"}", 15), 0);
	ck_assert_uint_eq(n_sent, 1);
	ck_assert_str_eq(sent_str(0, "type"), "pong");
	sent_clear();
	signal_hub_destroy(p.hub);
}
END_TEST

/* Pins: a peer in another room is unknown here, even with the right id. */
START_TEST(test_msg_other_room)
{
	struct pair p;
	struct signal_room *r2 = NULL;
	struct signal_peer *x = NULL;
	char id[SIGNAL_ID_LEN + 1], buf[256];

	pair_setup(&p);
	new_id(id);
	ck_assert_int_eq(signal_room_create(p.hub, NULL, 0, 0, &r2), 0);
	ck_assert_int_eq(join(r2, id, &conns[4], NULL, &x), 0);
	sent_clear();
	snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":{}}", id);
	ck_assert_int_eq(expect_error(&p, buf, "unknown-peer"), -ENOENT);
	signal_hub_destroy(p.hub);
}
END_TEST

/* Pins: leaving tells every other peer (peer-left with the id) and not the one leaving; a
 * failing send hook does not stop the hub. */
START_TEST(test_msg_leave)
{
	struct pair p;
	char aid[SIGNAL_ID_LEN + 1];

	pair_setup(&p);
	strcpy(aid, signal_peer_id(p.a));
	send_result = -ENOBUFS;
	signal_peer_leave(p.a, 0);
	ck_assert_uint_eq(n_sent, 1);
	ck_assert_int_eq(sent[0].conn, 2);
	ck_assert_str_eq(sent_str(0, "type"), "peer-left");
	ck_assert_str_eq(sent_str(0, "id"), aid);
	ck_assert_uint_eq(signal_room_peers(p.room), 1);
	sent_clear();
	ck_assert_int_eq(signal_peer_error(p.b, "too-large", "x"), -ENOBUFS);
	ck_assert_str_eq(sent_str(0, "code"), "too-large");
	sent_clear();
	signal_hub_destroy(p.hub);
}
END_TEST

/* ---- reconnection, names, per-room capacity ---- */

/* Pins: a peer whose connection drops keeps its seat for reconnect_grace seconds and nobody is
 * told; messages to it are kept and delivered after its "welcome" (resumed: true) when it
 * reconnects; no peer-joined goes out for a resume. */
START_TEST(test_resume_within_grace)
{
	struct signal_hub *hub = hub_new_grace(2, 10, 60, 20);
	struct signal_room *r = NULL;
	struct signal_peer *pa = NULL, *pb = NULL, *again = NULL;
	char a[SIGNAL_ID_LEN + 1], b[SIGNAL_ID_LEN + 1], c[SIGNAL_ID_LEN + 1], msg[128];

	new_id(a);
	new_id(b);
	new_id(c);
	ck_assert_int_eq(signal_room_create(hub, NULL, 0, 100, &r), 0);
	ck_assert_int_eq(join(r, a, &conns[1], NULL, &pa), 0);
	ck_assert_int_eq(join(r, b, &conns[2], NULL, &pb), 0);
	sent_clear();

	signal_peer_detach(pb, 200);
	ck_assert_uint_eq(n_sent, 0);                 /* nobody is told */
	ck_assert(!signal_peer_connected(pb));
	ck_assert_uint_eq(signal_room_peers(r), 2);   /* the seat is held */
	ck_assert_int_eq(signal_room_can_join(r, c), -EBUSY);
	ck_assert_int_eq(signal_hub_expire(hub, 210), 220);

	snprintf(msg, sizeof(msg), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":{\"n\":1}}", b);
	ck_assert_int_eq(signal_peer_recv(pa, msg, strlen(msg)), 0);
	ck_assert_uint_eq(n_sent, 0);                 /* kept, not sent */

	ck_assert_int_eq(join(r, b, &conns[3], NULL, &again), 0);
	ck_assert_ptr_eq(again, pb);
	ck_assert(signal_peer_connected(pb));
	ck_assert_uint_eq(n_sent, 2);                 /* welcome, then the kept signal */
	ck_assert_int_eq(sent[0].conn, 3);
	ck_assert_str_eq(sent_str(0, "type"), "welcome");
	ck_assert(json_is_true(json_object_get(sent[0].msg, "resumed")));
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(sent[0].msg, "peers"),
							  0)), a);
	ck_assert_int_eq(sent[1].conn, 3);
	ck_assert_str_eq(sent_str(1, "type"), "signal");
	ck_assert_str_eq(sent_str(1, "from"), a);
	ck_assert_uint_eq(n_gone, 0);
	ck_assert_int_eq(signal_hub_expire(hub, 500), 0); /* nothing pending: b is back */
	ck_assert_uint_eq(signal_room_peers(r), 2);
	sent_clear();
	signal_hub_destroy(hub);
}
END_TEST

/* Pins: when the grace runs out the peer leaves: peer-left to the others, the gone hook, and the
 * seat is free. With no grace, a dropped peer leaves at once. */
START_TEST(test_grace_expiry)
{
	struct signal_hub *hub = hub_new_grace(2, 10, 60, 20);
	struct signal_room *r = NULL;
	struct signal_peer *pa = NULL, *pb = NULL;
	char a[SIGNAL_ID_LEN + 1], b[SIGNAL_ID_LEN + 1];

	new_id(a);
	new_id(b);
	ck_assert_int_eq(signal_room_create(hub, NULL, 0, 100, &r), 0);
	ck_assert_int_eq(join(r, a, &conns[1], NULL, &pa), 0);
	ck_assert_int_eq(join(r, b, &conns[2], NULL, &pb), 0);
	sent_clear();
	signal_peer_detach(pb, 200);
	ck_assert_int_eq(signal_hub_expire(hub, 219), 220);
	ck_assert_uint_eq(n_sent, 0);
	ck_assert_int_eq(signal_hub_expire(hub, 220), 0);
	ck_assert_uint_eq(n_sent, 1);
	ck_assert_int_eq(sent[0].conn, 1);
	ck_assert_str_eq(sent_str(0, "type"), "peer-left");
	ck_assert_str_eq(sent_str(0, "id"), b);
	ck_assert_uint_eq(n_gone, 1);
	ck_assert_str_eq(gone_id, b);
	ck_assert_uint_eq(signal_room_peers(r), 1);
	sent_clear();

	/* The last peer: its room starts its idle clock when the grace ends, not before. */
	signal_peer_detach(pa, 300);
	ck_assert_int_eq(signal_hub_expire(hub, 301), 320);
	ck_assert_int_eq(signal_hub_expire(hub, 320), 380);
	ck_assert_uint_eq(n_gone, 2);
	ck_assert_int_eq(signal_hub_expire(hub, 380), 0);
	ck_assert_uint_eq(signal_hub_rooms(hub), 0);
	signal_hub_destroy(hub);

	hub = hub_new(2, 10, 60);
	ck_assert_int_eq(signal_room_create(hub, NULL, 0, 100, &r), 0);
	ck_assert_int_eq(join(r, a, &conns[1], NULL, &pa), 0);
	ck_assert_int_eq(join(r, b, &conns[2], NULL, &pb), 0);
	sent_clear();
	signal_peer_detach(pb, 200);
	ck_assert_uint_eq(n_sent, 1);
	ck_assert_str_eq(sent_str(0, "type"), "peer-left");
	ck_assert_uint_eq(n_gone, 1);
	sent_clear();
	signal_hub_destroy(hub);
}
END_TEST

/* Pins: a second connection of a connected participant (another tab) takes over: the old one
 * gets {"type":"replaced"} and is closed with 4001, the new one a resumed welcome, the others
 * nothing; a leave calls the gone hook. */
START_TEST(test_replace_second_tab)
{
	struct pair p;
	struct signal_peer *again = NULL;
	char bid[SIGNAL_ID_LEN + 1];

	pair_setup(&p);
	strcpy(bid, signal_peer_id(p.b));
	ck_assert_int_eq(join(p.room, bid, &conns[5], NULL, &again), 0);
	ck_assert_ptr_eq(again, p.b);
	ck_assert_uint_eq(n_sent, 2);
	ck_assert_int_eq(sent[0].conn, 2);
	ck_assert_str_eq(sent_str(0, "type"), "replaced");
	ck_assert_int_eq(closed_conn, 2);
	ck_assert_int_eq(closed_code, SIGNAL_CLOSE_REPLACED);
	ck_assert_int_eq(sent[1].conn, 5);
	ck_assert_str_eq(sent_str(1, "type"), "welcome");
	ck_assert(json_is_true(json_object_get(sent[1].msg, "resumed")));
	sent_clear();
	signal_peer_leave(p.b, 0);
	ck_assert_uint_eq(n_gone, 1);
	ck_assert_str_eq(gone_id, bid);
	sent_clear();
	signal_hub_destroy(p.hub);
}
END_TEST

/* Pins: names travel in welcome ("names": id -> name) and peer-joined ("name"); a name with a
 * control character or over 64 bytes is refused; the token carries the name. */
START_TEST(test_names)
{
	struct signal_hub *hub = hub_new(3, 10, 60);
	struct signal_room *r = NULL;
	struct signal_peer *pa = NULL, *pb = NULL;
	struct signal_claims claims;
	char a[SIGNAL_ID_LEN + 1], b[SIGNAL_ID_LEN + 1], longname[SIGNAL_NAME_MAX + 2], *tok = NULL;
	json_t *names;

	new_id(a);
	new_id(b);
	ck_assert(signal_name_valid(""));
	ck_assert(signal_name_valid("Zoë <b>bold</b> 😀"));
	ck_assert(!signal_name_valid("tab\there"));
	ck_assert(!signal_name_valid("del\x7f"));
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert(!signal_name_valid(longname));
	longname[SIGNAL_NAME_MAX] = '\0';
	ck_assert(signal_name_valid(longname));

	ck_assert_int_eq(signal_room_create(hub, NULL, 0, 100, &r), 0);
	ck_assert_int_eq(signal_room_join(r, &(struct signal_join){ .id = a, .name = "Ann",
				.conn = &conns[1] }, &pa), 0);
	ck_assert_int_eq(signal_room_join(r, &(struct signal_join){ .id = b, .name = "a\nb",
				.conn = &conns[2] }, &pb), -EINVAL);
	sent_clear();
	ck_assert_int_eq(signal_room_join(r, &(struct signal_join){ .id = b, .name = "<Bob>",
				.conn = &conns[2] }, &pb), 0);
	ck_assert_str_eq(signal_peer_name(pb), "<Bob>");
	ck_assert_uint_eq(n_sent, 2);
	names = json_object_get(sent[0].msg, "names");
	ck_assert_str_eq(json_string_value(json_object_get(names, a)), "Ann");
	ck_assert_int_eq(json_integer_value(json_object_get(sent[0].msg, "capacity")), 3);
	ck_assert_str_eq(sent_str(1, "type"), "peer-joined");
	ck_assert_str_eq(sent_str(1, "name"), "<Bob>");

	/* The fresh token in welcome names the same participant and name. */
	ck_assert_int_eq(signal_token_verify(&token_key, sent_str(0, "token"), time(NULL), &claims),
			 0);
	ck_assert_str_eq(claims.sub, b);
	ck_assert_str_eq(claims.name, "<Bob>");
	ck_assert_int_eq(json_integer_value(json_object_get(sent[0].msg, "expires_in")), 600);
	sent_clear();

	/* "refresh" answers with a new token. */
	ck_assert_int_eq(signal_peer_recv(pb, "{\"type\":\"refresh\"}", 18), 0);
	ck_assert_uint_eq(n_sent, 1);
	ck_assert_str_eq(sent_str(0, "type"), "token");
	ck_assert_int_eq(signal_token_verify(&token_key, sent_str(0, "token"), time(NULL), &claims),
			 0);
	ck_assert_str_eq(claims.sub, b);
	sent_clear();

	ck_assert_int_eq(signal_token_mint(&token_key, signal_room_id(r), a, "x\x01", 1, 60, &tok),
			 -EINVAL);
	signal_hub_destroy(hub);
}
END_TEST

/* Pins: a room's capacity may be set at creation, from 2 to the hub's; 0 means the hub's. */
START_TEST(test_room_capacity_per_room)
{
	struct signal_hub *hub = hub_new(4, 10, 60);
	struct signal_room *r = NULL;
	struct signal_peer *p = NULL;
	char id[SIGNAL_ID_LEN + 1];

	ck_assert_int_eq(signal_room_create(hub, NULL, 1, 0, &r), -ERANGE);
	ck_assert_int_eq(signal_room_create(hub, NULL, 5, 0, &r), -ERANGE);
	ck_assert_int_eq(signal_room_create(hub, NULL, 0, 0, &r), 0);
	ck_assert_uint_eq(signal_room_capacity(r), 4);
	ck_assert_int_eq(signal_room_create(hub, NULL, 2, 0, &r), 0);
	ck_assert_uint_eq(signal_room_capacity(r), 2);
	for (int i = 0; i < 2; i++) {
		new_id(id);
		ck_assert_int_eq(join(r, id, &conns[i], NULL, &p), 0);
	}
	new_id(id);
	ck_assert_int_eq(signal_room_can_join(r, id), -EBUSY);
	ck_assert_int_eq(join(r, id, &conns[3], NULL, &p), -EBUSY);
	sent_clear();
	signal_hub_destroy(hub);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("signal");
	TCase *tc = tcase_create("signal");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_ids);
	tcase_add_test(tc, test_token_roundtrip);
	tcase_add_test(tc, test_token_rejects);
	tcase_add_test(tc, test_token_claims);
	tcase_add_test(tc, test_token_mint_args);
	tcase_add_test(tc, test_room_create_find);
	tcase_add_test(tc, test_room_password);
	tcase_add_test(tc, test_room_password_per_room);
	tcase_add_test(tc, test_room_limit);
	tcase_add_test(tc, test_room_capacity);
	tcase_add_test(tc, test_room_expiry);
	tcase_add_test(tc, test_msg_welcome);
	tcase_add_test(tc, test_msg_signal_forward);
	tcase_add_test(tc, test_msg_errors);
	tcase_add_test(tc, test_msg_other_room);
	tcase_add_test(tc, test_msg_leave);
	tcase_add_test(tc, test_resume_within_grace);
	tcase_add_test(tc, test_grace_expiry);
	tcase_add_test(tc, test_replace_second_tab);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_room_capacity_per_room);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
