/*
 * auth: the long-term credential mechanism's server side (RFC 8489 §9.2): keys and nonces.
 *
 * Nonces are stateless so that a flood of credential-less requests costs no memory: a nonce
 * carries its own expiry and a MAC binding that expiry to the client's address, under a key drawn
 * at start and never shared. A nonce replayed from another address, altered or expired is simply
 * "not valid" and earns a 438 with a fresh one. The key is per process, so a restart makes every
 * outstanding nonce stale: clients retry once after 438, which is the designed recovery.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/cred.h"
#include "turn/turn_priv.h"

#define NONCE_MAC_BYTES 12   /* truncated HMAC-SHA256: 96 bits is plenty against forgery */

static const char hexdig[] = "0123456789abcdef";

/* The MAC part of a nonce: HMAC-SHA256(key, expiry (8 bytes, big-endian) || client key). */
static void nonce_mac(const struct turn_server *srv, const struct sockaddr_storage *client,
		      uint64_t expiry, uint8_t mac[NONCE_MAC_BYTES])
{
	uint8_t msg[8 + sizeof(struct turn_key)];
	uint8_t full[EVP_MAX_MD_SIZE];
	unsigned int full_len = 0;
	struct turn_key k;

	for (int i = 0; i < 8; i++)
		msg[i] = (uint8_t)(expiry >> (56 - 8 * i));
	turn_key_set(&k, client, true);
	memcpy(msg + 8, &k, sizeof(k));
	if (!HMAC(EVP_sha256(), srv->nonce_key, sizeof(srv->nonce_key), msg, sizeof(msg), full,
		  &full_len))
		memset(full, 0, sizeof(full)); /* cannot happen with a fixed digest; fail closed-ish */
	memcpy(mac, full, NONCE_MAC_BYTES);
}

static void nonce_format(const struct turn_server *srv, const struct sockaddr_storage *client,
			 uint64_t expiry, char out[TURN_NONCE_LEN + 1])
{
	uint8_t mac[NONCE_MAC_BYTES];
	char *p = out;

	for (int i = 15; i >= 0; i--)
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
	uint64_t expiry = (uint64_t)time(NULL) +
			  atomic_load_explicit(&srv->nonce_lifetime, memory_order_relaxed);

	nonce_format(srv, client, expiry, out);
}

int turn_nonce_check(struct turn_server *srv, const struct sockaddr_storage *client,
		     const uint8_t *nonce, size_t len)
{
	char want[TURN_NONCE_LEN + 1];
	uint64_t expiry = 0;

	if (len != TURN_NONCE_LEN)
		return -EINVAL;
	for (int i = 0; i < 16; i++) {
		const char *d = memchr(hexdig, nonce[i], 16);
		if (!d || nonce[i] == '\0')
			return -EINVAL;
		expiry = expiry << 4 | (uint64_t)(d - hexdig);
	}
	nonce_format(srv, client, expiry, want);
	if (cred_memcmp_ct(want, nonce, TURN_NONCE_LEN))
		return -EINVAL;
	if ((uint64_t)time(NULL) >= expiry)
		return -ETIME;
	return 0;
}

int turn_auth_key(struct turn_server *srv, const uint8_t *user, size_t ulen,
		  char name[CRED_USERNAME_MAX], uint8_t key[16])
{
	const struct config *cfg = srv->cfg;
	const char *realm = cfg->turn.realm;
	char password[CRED_PASSWORD_MAX];
	int err;

	if (ulen == 0 || ulen >= CRED_USERNAME_MAX || memchr(user, '\0', ulen))
		return -ENOENT;
	memcpy(name, user, ulen);
	name[ulen] = '\0';

	/* Static users first: an operator's fixed account must not be shadowed by REST parsing. */
	for (size_t i = 0; i < cfg->turn.n_users; i++) {
		const struct config_user *u = &cfg->turn.users[i];
		if (strcmp(u->name, name) == 0) {
			stun_ltc_key(name, ulen, realm, strlen(realm), u->password,
				     strlen(u->password), key);
			return 0;
		}
	}

	err = cred_rest_check(name, time(NULL));
	if (err == -ETIME)
		return -ETIME;
	if (err)
		return -ENOENT;
	if (cred_rest_password(&cfg->turn.secret, name, password))
		return -ENOENT;
	stun_ltc_key(name, ulen, realm, strlen(realm), password, strlen(password), key);
	OPENSSL_cleanse(password, sizeof(password));
	return 0;
}
