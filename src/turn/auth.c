/*
 * auth: the long-term credential mechanism's server side (RFC 8489 §9.2): keys, nonces, USERHASH,
 * and the per-source limit on answers to requests that did not authenticate.
 *
 * Nonces are stateless so that a flood of credential-less requests costs no memory: a nonce
 * carries its own expiry and a MAC binding that expiry to the client's address, under a key drawn
 * at start and never shared. A nonce replayed from another address, altered or expired is simply
 * "not valid" and earns a 438 with a fresh one. The key is per process, so a restart makes every
 * outstanding nonce stale: clients retry once after 438, which is the designed recovery.
 *
 * Every nonce starts with the RFC 8489 nonce cookie advertising "Password algorithms": clients
 * that know RFC 8489 then echo our PASSWORD-ALGORITHMS and pick SHA-256 (request.c checks the
 * echo, which stops a man in the middle from bidding them down to MD5). "Username anonymity" is
 * not advertised: a TURN REST username cannot be found from its hash (the server keeps no list of
 * minted credentials), so USERHASH is accepted only where it can be resolved (turn_auth_userhash).
 *
 * The limiter is a fixed table of GCRA cells indexed by a keyed hash of the source IP, one table
 * per worker: its memory does not grow with the number of sources, which is the point (no state
 * per client before authentication). Distinct sources may share a cell; with a secret hash key an
 * attacker cannot aim a collision at a victim.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/cred.h"
#include "turn/siphash.h"
#include "turn/turn_priv.h"

#define NONCE_MAC_BYTES 12   /* of SipHash-2-4-128: 96 bits is plenty against forgery */

/* The cookie and the base64 of the 24-bit feature set 0x800000 ("Password algorithms"). */
#define NONCE_PREFIX STUN_NONCE_COOKIE "gAAA"
#define NONCE_PREFIX_LEN (STUN_NONCE_COOKIE_LEN + 4)
#define NONCE_EXPIRY_HEX 8   /* 32-bit CLOCK_REALTIME seconds: good until 2106 */

_Static_assert(NONCE_PREFIX_LEN + NONCE_EXPIRY_HEX + 2 * NONCE_MAC_BYTES == TURN_NONCE_LEN,
	       "TURN_NONCE_LEN matches the nonce layout");

static const char hexdig[] = "0123456789abcdef";

/* ---- nonces ---- */

/* The MAC part of a nonce: SipHash-2-4-128(key, expiry (4 bytes, big-endian) || client key),
 * truncated (siphash.h says why not HMAC). */
static void nonce_mac(const struct turn_server *srv, const struct sockaddr_storage *client,
		      uint32_t expiry, uint8_t mac[NONCE_MAC_BYTES])
{
	uint8_t msg[4 + sizeof(struct turn_key)];
	uint8_t full[SIPHASH128_LEN];
	struct turn_key k;

	for (int i = 0; i < 4; i++)
		msg[i] = (uint8_t)(expiry >> (24 - 8 * i));
	turn_key_set(&k, client, true);
	memcpy(msg + 4, &k, sizeof(k));
	siphash128(srv->nonce_key, msg, sizeof(msg), full);
	memcpy(mac, full, NONCE_MAC_BYTES);
}

/* Writes PREFIX, hex(expiry), hex(MAC) and a NUL into @out. */
static void nonce_format(const struct turn_server *srv, const struct sockaddr_storage *client,
			 uint32_t expiry, char out[TURN_NONCE_LEN + 1])
{
	uint8_t mac[NONCE_MAC_BYTES];
	char *p = out;

	memcpy(p, NONCE_PREFIX, NONCE_PREFIX_LEN);
	p += NONCE_PREFIX_LEN;
	for (int i = NONCE_EXPIRY_HEX - 1; i >= 0; i--)
		*p++ = hexdig[(expiry >> (4 * i)) & 0xf];
	nonce_mac(srv, client, expiry, mac);
	for (int i = 0; i < NONCE_MAC_BYTES; i++) {
		*p++ = hexdig[mac[i] >> 4];
		*p++ = hexdig[mac[i] & 0xf];
	}
	*p = '\0';
}

void turn_nonce_make(struct turn_server *srv, const struct sockaddr_storage *client,
		     char out[TURN_NONCE_LEN + 1])
{
	uint32_t expiry = (uint32_t)time(NULL) +
			  atomic_load_explicit(&srv->nonce_lifetime, memory_order_relaxed);

	nonce_format(srv, client, expiry, out);
}

int turn_nonce_check(struct turn_server *srv, const struct sockaddr_storage *client,
		     const uint8_t *nonce, size_t len)
{
	char want[TURN_NONCE_LEN + 1];
	uint32_t expiry = 0;

	if (len != TURN_NONCE_LEN || memcmp(nonce, NONCE_PREFIX, NONCE_PREFIX_LEN) != 0)
		return -EINVAL;
	for (int i = 0; i < NONCE_EXPIRY_HEX; i++) {
		uint8_t c = nonce[NONCE_PREFIX_LEN + i];
		const char *d = c ? memchr(hexdig, c, 16) : NULL;

		if (!d)
			return -EINVAL;
		expiry = expiry << 4 | (uint32_t)(d - hexdig);
	}
	nonce_format(srv, client, expiry, want);
	if (cred_memcmp_ct(want, nonce, TURN_NONCE_LEN))
		return -EINVAL;
	if ((uint32_t)time(NULL) >= expiry)
		return -ETIME;
	return 0;
}

/* ---- keys ---- */

/* The slot of (@alg, @name) in @w's key cache: FNV-1a of the name and algorithm, keyed with the
 * worker's random seed so that nobody can aim collisions at one slot. */
static struct turn_keyslot *keyslot(struct turn_worker *w, uint16_t alg, const char *name,
				    size_t len)
{
	uint64_t h = 0xcbf29ce484222325u ^ w->limit_seed ^ alg;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)name[i];
		h *= 0x100000001b3u;
	}
	h ^= h >> 32;
	return &w->keys[h % TURN_KEYCACHE_SLOTS];
}

/* Derives the key of @alg for @name (@ulen bytes) afresh: a static user's, else a valid REST
 * username's. Sets *@rest. Same returns as turn_auth_key. */
static int key_derive(struct turn_worker *w, uint16_t alg, const char *name, size_t ulen,
		      time_t now, bool *rest, uint8_t key[STUN_KEY_MAX])
{
	const struct config *cfg = w->srv->cfg;
	const char *realm = cfg->turn.realm;
	char password[CRED_PASSWORD_MAX];
	int err, keylen;

	/* Static users first: an operator's fixed account must not be shadowed by REST parsing. */
	*rest = false;
	for (size_t i = 0; i < cfg->turn.n_users; i++) {
		const struct config_user *u = &cfg->turn.users[i];
		if (strcmp(u->name, name) == 0)
			return stun_ltc_key_alg(alg, name, ulen, realm, strlen(realm), u->password,
						strlen(u->password), key);
	}

	*rest = true;
	err = cred_rest_check(name, now);
	if (err == -ETIME)
		return -ETIME;
	if (err)
		return -ENOENT;
	if (turn_revoked(w, name, now))
		return -EKEYREVOKED;
	if (cred_rest_password(&cfg->turn.secret, name, password))
		return -ENOENT;
	keylen = stun_ltc_key_alg(alg, name, ulen, realm, strlen(realm), password, strlen(password),
				  key);
	OPENSSL_cleanse(password, sizeof(password));
	return keylen;
}

/*
 * The keys are cached per worker (w->keys): deriving one costs an HMAC-SHA1 (a REST password)
 * and an MD5 or SHA-256, and a client sends the same username with every request (Allocate,
 * Refresh, CreatePermission, ChannelBind; a browser uses one REST username for all its
 * allocations). A hit still checks what may change with time: a REST username's expiry and its
 * participant's revocation. Only successes are cached, so a name that failed is retried in full.
 */
int turn_auth_key(struct turn_worker *w, uint16_t alg, const uint8_t *user, size_t ulen,
		  char name[CRED_USERNAME_MAX], uint8_t key[STUN_KEY_MAX])
{
	uint32_t gen = atomic_load_explicit(&w->srv->auth_gen, memory_order_acquire);
	time_t now = time(NULL);
	struct turn_keyslot *ks;
	bool rest;
	int keylen, err;

	if (ulen == 0 || ulen >= CRED_USERNAME_MAX || memchr(user, '\0', ulen))
		return -ENOENT;
	memcpy(name, user, ulen);
	name[ulen] = '\0';

	ks = keyslot(w, alg, name, ulen);
	if (ks->used && ks->gen == gen && ks->alg == alg && strcmp(ks->name, name) == 0) {
		if (ks->rest) {
			err = cred_rest_check(name, now);
			if (err)
				return err == -ETIME ? -ETIME : -ENOENT;
			if (turn_revoked(w, name, now))
				return -EKEYREVOKED;
		}
		memcpy(key, ks->key, ks->keylen);
		return ks->keylen;
	}

	keylen = key_derive(w, alg, name, ulen, now, &rest, key);
	if (keylen > 0 && (size_t)keylen <= sizeof(ks->key)) {
		ks->used = true;
		ks->gen = gen;
		ks->rest = rest;
		ks->alg = alg;
		ks->keylen = (uint8_t)keylen;
		memcpy(ks->key, key, (size_t)keylen);
		memcpy(ks->name, name, ulen + 1);
	}
	return keylen;
}

int turn_auth_reset(struct turn_server *srv)
{
	/* Release: a worker that sees the new generation (acquire in turn_auth_key) also sees
	 * the configuration published before this call. */
	atomic_fetch_add_explicit(&srv->auth_gen, 1, memory_order_acq_rel);
	return 0;
}

int turn_auth_userhash(struct turn_server *srv, const uint8_t *hash, size_t len,
		       const char *alloc_user, char name[CRED_USERNAME_MAX])
{
	const struct config *cfg = srv->cfg;
	const char *realm = cfg->turn.realm;
	uint8_t h[STUN_USERHASH_LEN];
	int found = -1;

	if (len != STUN_USERHASH_LEN)
		return -ENOENT;
	/* Every static user is compared, in constant time, so timing says nothing about which.
	 * The hashes are computed here rather than kept: a SIGHUP may change the users and the
	 * realm, and @cfg, loaded once, keeps both consistent (static users are few). */
	for (size_t i = 0; i < cfg->turn.n_users; i++) {
		const char *u = cfg->turn.users[i].name;

		stun_userhash(u, strlen(u), realm, strlen(realm), h);
		if (!CRYPTO_memcmp(h, hash, STUN_USERHASH_LEN) && found < 0)
			found = (int)i;
	}
	if (found >= 0) {
		strcpy(name, cfg->turn.users[found].name);
		return 0;
	}
	if (alloc_user) {
		stun_userhash(alloc_user, strlen(alloc_user), realm, strlen(realm), h);
		if (!CRYPTO_memcmp(h, hash, STUN_USERHASH_LEN)) {
			strcpy(name, alloc_user);
			return 0;
		}
	}
	return -ENOENT;
}

/* The expiry of a REST username "<expiry>:<id>", and where its id starts. The caller has checked
 * it with cred_rest_check(). */
static time_t rest_split(const char *name, const char **id)
{
	long long expiry = 0;
	const char *p = name;

	for (; *p >= '0' && *p <= '9'; p++)
		expiry = expiry * 10 + (*p - '0');
	*id = p + 1;
	return (time_t)expiry;
}

bool turn_revoked(struct turn_worker *w, const char *name, time_t now)
{
	struct turn_revoked *r;
	const char *id;
	time_t expiry = rest_split(name, &id);

	HASH_FIND_STR(w->revoked, id, r);
	if (!r)
		return false;
	if (r->before < now) { /* every credential it covered has expired */
		HASH_DEL(w->revoked, r);
		w->n_revoked--;
		free(r);
		return false;
	}
	return expiry <= r->before;
}

/* ---- the limit on unauthenticated answers ---- */

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * The cell of @from: a keyed multiply-xorshift hash of the IPv4 address, or of the /64 of an IPv6
 * one (one host usually owns a whole /64, so it must not get 2^64 cells' worth of answers).
 */
static size_t limit_cell(const struct turn_worker *w, const struct sockaddr_storage *from)
{
	uint64_t h = w->limit_seed, v = 0;

	if (from->ss_family == AF_INET)
		memcpy(&v, &((const struct sockaddr_in *)from)->sin_addr, 4);
	else if (from->ss_family == AF_INET6)
		memcpy(&v, &((const struct sockaddr_in6 *)from)->sin6_addr, 8);
	h ^= v + from->ss_family;
	h *= 0x9E3779B97F4A7C15u;
	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9u;
	h ^= h >> 32;
	return (size_t)(h % TURN_LIMIT_CELLS);
}

bool turn_unauth_admit(struct turn_worker *w, const struct sockaddr_storage *from)
{
	const struct config *cfg = w->srv->cfg;
	uint64_t now, tat, period, tolerance;
	uint64_t *cell;

	if (!cfg->turn.unauth_rate)
		return true;
	/* GCRA: each answer moves the cell's "theoretical arrival time" one period ahead; an
	 * answer is refused while that time runs more than burst - 1 periods ahead of now. */
	period = 1000000u / cfg->turn.unauth_rate;
	tolerance = period * (cfg->turn.unauth_burst ? cfg->turn.unauth_burst - 1 : 0);
	now = mono_us();
	cell = &w->limit[limit_cell(w, from)];
	tat = *cell > now ? *cell : now;
	if (tat - now > tolerance)
		return false;
	*cell = tat + period;
	return true;
}
