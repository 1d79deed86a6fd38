/*
 * cred: TURN REST API credentials; see cred.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "core/cred.h"

int cred_secret_random(struct cred_secret *s)
{
	s->len = 32;
	if (RAND_bytes(s->key, (int)s->len) != 1) {
		s->len = 0;
		return -EIO;
	}
	return 0;
}

size_t cred_base64(const uint8_t *in, size_t len, char *out)
{
	/* EVP_EncodeBlock writes padded base64 and a NUL, and returns the length without it. */
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

int cred_rest_password(const struct cred_secret *s, const char *username,
		       char password[CRED_PASSWORD_MAX])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	if (!username || !*username || s->len == 0)
		return -EINVAL;
	if (!HMAC(EVP_sha1(), s->key, (int)s->len, (const unsigned char *)username, strlen(username),
		  mac, &maclen))
		return -EIO;
	cred_base64(mac, maclen, password);
	return 0;
}

int cred_rest_mint(const struct cred_secret *s, const char *participant, time_t now,
		   unsigned lifetime, char username[CRED_USERNAME_MAX],
		   char password[CRED_PASSWORD_MAX])
{
	int n;

	if (!participant || !*participant || strchr(participant, ':'))
		return -EINVAL;
	for (const char *p = participant; *p; p++)
		if (*p <= ' ' || *p > '~')
			return -EINVAL;
	n = snprintf(username, CRED_USERNAME_MAX, "%lld:%s", (long long)now + lifetime, participant);
	if (n < 0 || n >= CRED_USERNAME_MAX)
		return -EINVAL;
	return cred_rest_password(s, username, password);
}

int cred_rest_check(const char *username, time_t now)
{
	long long expiry = 0;
	const char *p = username;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (expiry > (long long)1e15) /* far beyond any real expiry: refuse, don't overflow */
			return -EINVAL;
		expiry = expiry * 10 + (*p - '0');
	}
	if (*p != ':' || p[1] == '\0')
		return -EINVAL;
	if ((long long)now >= expiry)
		return -ETIME;
	return 0;
}

int cred_memcmp_ct(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) ? 1 : 0;
}
