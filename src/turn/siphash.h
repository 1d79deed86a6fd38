/*
 * siphash: SipHash-2-4 with a 128-bit output, the MAC of the relay's stateless nonces (auth.c).
 *
 * SipHash is a keyed pseudorandom function for short messages (J.-P. Aumasson, D. J. Bernstein,
 * "SipHash: a fast short-input PRF", INDOCRYPT 2012; the 128-bit output is the reference
 * implementation's variant). Linux keys its SYN cookies and TCP initial sequence numbers with it,
 * the same job as ours: a server checks a value it gave out without keeping state. A nonce's MAC
 * covers 4 + 20 bytes, where HMAC-SHA256 through OpenSSL's EVP layer cost 1.3-1.9 us warm and
 * about 20 us on the first 401 after an idle spell (cold caches); this costs about 0.1 us.
 */
#ifndef TINCAN_TURN_SIPHASH_H
#define TINCAN_TURN_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16
#define SIPHASH128_LEN 16

/* SipHash-2-4-128 of the @len bytes at @msg under the 16-byte @key, into @out (16 bytes, the
 * reference implementation's byte order: two little-endian 64-bit words). */
void siphash128(const uint8_t key[SIPHASH_KEY_LEN], const void *msg, size_t len,
		uint8_t out[SIPHASH128_LEN]);

#endif
