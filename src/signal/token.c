/*
 * Join tokens: HS256 JWTs (RFC 7519) minted by POST /api/rooms/<id>/join and presented to the
 * WebSocket and to GET /api/ice-servers.
 *
 * A token binds a participant id ("sub") to a room for token_lifetime seconds. It is a bearer
 * capability: the server keeps no list of issued tokens, so the key (rooms.token_secret) is what
 * makes them unforgeable. libjwt 1.10 checks the signature but none of the claims, and compares
 * signatures with a plain string compare, so this file checks the HMAC itself in constant time
 * first, then the algorithm, the claim types and the expiry.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "signal/signal.h"

bool signal_name_valid(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n > SIGNAL_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

int signal_token_mint(const struct cred_secret *key, const char *room, const char *sub,
		      const char *name, time_t now, unsigned lifetime, char **out)
{
	jwt_t *jwt = NULL;
	char *tok = NULL;
	int err;

	if (!key || !key->len || key->len > CRED_SECRET_MAX || !signal_id_valid(room) ||
	    !signal_id_valid(sub) || !lifetime || !out || (name && !signal_name_valid(name)))
		return -EINVAL;

	err = -jwt_new(&jwt);
	if (err)
		goto out;
	err = -jwt_set_alg(jwt, JWT_ALG_HS256, key->key, (int)key->len);
	if (err)
		goto out;
	err = -jwt_add_grant(jwt, "room", room);
	if (err)
		goto out;
	err = -jwt_add_grant(jwt, "sub", sub);
	if (err)
		goto out;
	if (name && *name) {
		err = -jwt_add_grant(jwt, "name", name);
		if (err)
			goto out;
	}
	err = -jwt_add_grant_int(jwt, "iat", (long)now);
	if (err)
		goto out;
	err = -jwt_add_grant_int(jwt, "exp", (long)now + (long)lifetime);
	if (err)
		goto out;
	tok = jwt_encode_str(jwt);
	if (!tok)
		err = -ENOMEM;
out:
	jwt_free(jwt);
	if (!err)
		*out = tok;
	return err;
}

/* Longest token accepted, in bytes: ours are about 250; this bounds the work a stranger can cause. */
#define TOKEN_MAX 2048
/* base64url of a 32-byte HMAC-SHA256, unpadded. */
#define SIG_B64_LEN 43

/* Checks the HS256 signature of "header.payload.signature" with @key in constant time.
 * Returns 0, or -EACCES. */
static int check_hs256(const struct cred_secret *key, const char *token)
{
	const char *dot1 = strchr(token, '.'), *dot2 = strrchr(token, '.');
	unsigned char mac[EVP_MAX_MD_SIZE];
	char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
	unsigned int maclen = 0;
	int rc;

	if (!dot1 || dot1 == dot2 || strchr(dot1 + 1, '.') != dot2 || strlen(dot2 + 1) != SIG_B64_LEN)
		return -EACCES;
	if (!HMAC(EVP_sha256(), key->key, (int)key->len, (const unsigned char *)token,
		  (size_t)(dot2 - token), mac, &maclen) || maclen != 32)
		return -EACCES;
	EVP_EncodeBlock((unsigned char *)b64, mac, (int)maclen);
	for (char *p = b64; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	rc = CRYPTO_memcmp(b64, dot2 + 1, SIG_B64_LEN) ? -EACCES : 0;
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

/* Copies the string claim @name into @dst if it is a valid id. */
static int claim_id(json_t *claims, const char *name, char dst[SIGNAL_ID_LEN + 1])
{
	const char *s = json_string_value(json_object_get(claims, name));

	if (!signal_id_valid(s))
		return -EINVAL;
	memcpy(dst, s, SIGNAL_ID_LEN + 1);
	return 0;
}

int signal_token_verify(const struct cred_secret *key, const char *token, time_t now,
			struct signal_claims *out)
{
	struct signal_claims c;
	json_t *claims = NULL, *iat, *exp, *name;
	jwt_t *jwt = NULL;
	char *grants = NULL;
	int err;

	if (!key || !key->len || key->len > CRED_SECRET_MAX || !token || !out)
		return -EINVAL;
	memset(&c, 0, sizeof(c));

	if (strlen(token) > TOKEN_MAX) {
		err = -EACCES;
		goto out;
	}
	err = check_hs256(key, token);
	if (err)
		goto out;
	/* A failed decode is a bad signature as often as bad syntax; either way the bearer gets the
	 * same answer, so both are -EACCES. */
	if (jwt_decode(&jwt, token, key->key, (int)key->len) != 0) {
		jwt = NULL;
		err = -EACCES;
		goto out;
	}
	/* Without this, a token whose header says "alg":"none" would be taken unsigned. */
	if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
		err = -EACCES;
		goto out;
	}

	/* libjwt's typed getters cannot tell a missing claim from a 0 or a string, so read the
	 * claims as JSON. */
	grants = jwt_get_grants_json(jwt, NULL);
	claims = grants ? json_loads(grants, 0, NULL) : NULL;
	if (!json_is_object(claims)) {
		err = -EINVAL;
		goto out;
	}
	err = claim_id(claims, "room", c.room);
	if (err)
		goto out;
	err = claim_id(claims, "sub", c.sub);
	if (err)
		goto out;
	name = json_object_get(claims, "name");
	if (name) {
		if (!json_is_string(name) || !signal_name_valid(json_string_value(name))) {
			err = -EINVAL;
			goto out;
		}
		memcpy(c.name, json_string_value(name), strlen(json_string_value(name)) + 1);
	}
	iat = json_object_get(claims, "iat");
	exp = json_object_get(claims, "exp");
	if (!json_is_integer(iat) || !json_is_integer(exp)) {
		err = -EINVAL;
		goto out;
	}
	c.iat = (time_t)json_integer_value(iat);
	c.exp = (time_t)json_integer_value(exp);
	if (now >= c.exp) {
		err = -ETIME;
		goto out;
	}
	*out = c;
out:
	json_decref(claims);
	free(grants);
	jwt_free(jwt);
	return err;
}
