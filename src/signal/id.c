/*
 * Random ids for rooms and participants.
 *
 * An id is the only thing that protects a password-less room, so it is a capability: 128 bits
 * from the OpenSSL CSPRNG, far beyond guessing range, written in the URL- and filename-safe
 * base64url alphabet without padding so it can sit in a path or a query string unescaped.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <openssl/rand.h>

#include "signal/signal.h"

#define ID_BYTES 16

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int signal_id_random(char out[SIGNAL_ID_LEN + 1])
{
	unsigned char raw[ID_BYTES];
	size_t i, o = 0;
	uint32_t v;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;

	/* 3 bytes -> 4 chars; the last single byte gives 2 chars (16 = 5 * 3 + 1). */
	for (i = 0; i + 3 <= sizeof(raw); i += 3) {
		v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
		out[o++] = b64url[v & 63];
	}
	v = raw[i];
	out[o++] = b64url[v >> 2];
	out[o++] = b64url[(v & 3) << 4];
	out[o] = '\0';
	return 0;
}

bool signal_id_valid(const char *s)
{
	size_t i;

	if (!s)
		return false;
	for (i = 0; i < SIGNAL_ID_LEN; i++)
		if (!s[i] || !memchr(b64url, s[i], sizeof(b64url) - 1))
			return false;
	return s[i] == '\0';
}
