/*
 * cred: TURN credentials minted in-process for room participants.
 *
 * Format of the TURN REST API (draft-uberti-behave-turn-rest-00 §2.2), which browsers and coturn
 * understand: username "<unix-expiry>:<participant-id>", password base64(HMAC-SHA1(secret, username)).
 * The TURN side recomputes the password from the username with the same secret, so it keeps no
 * per-user state; the expiry in the username bounds the credential's life.
 */
#ifndef TINCAN_CORE_CRED_H
#define TINCAN_CORE_CRED_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CRED_SECRET_MAX 64  /* bytes */
#define CRED_USERNAME_MAX 128 /* bytes including NUL */
#define CRED_PASSWORD_MAX 32 /* base64 of a 20-byte HMAC-SHA1 (28 chars) plus NUL */

/* The shared secret between the signaling side (mints) and the TURN side (verifies). */
struct cred_secret {
	uint8_t key[CRED_SECRET_MAX];
	size_t len; /* bytes, 1..CRED_SECRET_MAX */
};

/* Fills @s with 32 random bytes from the OpenSSL CSPRNG. Returns 0, or -EIO. */
int cred_secret_random(struct cred_secret *s);

/* Writes the password for @username (NUL-terminated base64) into @password. Returns 0, or -EINVAL
 * if @username is empty. */
int cred_rest_password(const struct cred_secret *s, const char *username,
		       char password[CRED_PASSWORD_MAX]);

/* Mints a credential for @participant (printable, no ':') valid until @now + @lifetime seconds.
 * Returns 0, or -EINVAL (bad participant id, username would not fit). */
int cred_rest_mint(const struct cred_secret *s, const char *participant, time_t now,
		   unsigned lifetime, char username[CRED_USERNAME_MAX],
		   char password[CRED_PASSWORD_MAX]);

/* Checks that a REST username "<expiry>:<id>" is well formed and @now is before its expiry.
 * Returns 0; -EINVAL if it is not a REST username; -ETIME if it has expired. */
int cred_rest_check(const char *username, time_t now);

/* Base64 (RFC 4648 §4, padded) of @len bytes into @out (4 * ceil(len / 3) + 1 bytes).
 * Returns the string length. */
size_t cred_base64(const uint8_t *in, size_t len, char *out);

/* Compares @len bytes in constant time. Returns 0 if equal. */
int cred_memcmp_ct(const void *a, const void *b, size_t len);

#endif
