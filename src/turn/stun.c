/*
 * stun: the STUN message codec (RFC 8489, with the TURN attributes of RFC 8656) and ChannelData
 * framing (RFC 8656 §12.4).
 *
 * Every byte this file parses comes straight off the network from anyone. So the parser checks each
 * length against the bytes it was actually given before it uses it, never writes to its input (the
 * MESSAGE-INTEGRITY check adjusts a copy of the header, not the buffer) and allocates nothing: a
 * struct stun_msg is a table of pointers into the caller's buffer.
 *
 * Byte order: every multi-byte field on the wire is big-endian; get_be16/get_be32/put_be16/put_be32
 * are the only code that converts, so no ntohs() is scattered around. Lengths are in bytes.
 *
 * Crypto: HMAC-SHA1, HMAC-SHA256, MD5 and SHA-256 come from OpenSSL 3 through its non-deprecated
 * EVP interfaces, the algorithms fetched once per process and the contexts kept per thread (see
 * "OpenSSL objects, made once" below). CRC-32 (FINGERPRINT) is our own table-driven loop
 * (slicing-by-8): it runs over every fingerprinted message, and it is a protocol detail rather
 * than cryptography.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "turn/stun.h"

/* The type field's top two bits are zero in STUN; RFC 7983 uses them to tell STUN from the rest. */
#define STUN_TYPE_RESERVED 0xC000u
#define STUN_CLASS_MASK 0x0110u
#define STUN_ATTR_HDR 4
#define STUN_MAX_MSG_LEN 0xFFFFu       /* the header's 16-bit length field */
#define STUN_MAX_REASON 763            /* ERROR-CODE reason phrase limit, RFC 8489 §14.8 */

static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Attribute values are padded to a multiple of 4 bytes (RFC 8489 §14). */
static inline size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

/* ---- CRC-32 (FINGERPRINT) ---------------------------------------------------------------------- */

/*
 * CRC-32 as in ISO 3309 / ITU-T V.42 / zlib (RFC 8489 §14.7): reflected polynomial 0xEDB88320,
 * initial value and final xor 0xFFFFFFFF. crc_table[n] is the CRC register after shifting byte n
 * through eight rounds. The RFC 5769 FINGERPRINT vectors in tests/unit/test_stun.c pin it.
 */
static const uint32_t crc_table[256] = {
	0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu,
	0xe963a535u, 0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u,
	0x09b64c2bu, 0x7eb17cbdu, 0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u,
	0xf3b97148u, 0x84be41deu, 0x1adad47du, 0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u,
	0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu, 0x14015c4fu, 0x63066cd9u,
	0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u, 0xa2677172u,
	0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
	0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u,
	0x26d930acu, 0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u,
	0xcfba9599u, 0xb8bda50fu, 0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u,
	0x2f6f7c87u, 0x58684c11u, 0xc1611dabu, 0xb6662d3du, 0x76dc4190u, 0x01db7106u,
	0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu, 0x9fbfe4a5u, 0xe8b8d433u,
	0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu, 0x086d3d2du,
	0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
	0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u,
	0x8bbeb8eau, 0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u,
	0x4db26158u, 0x3ab551ceu, 0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u,
	0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au, 0x346ed9fcu, 0xad678846u, 0xda60b8d0u,
	0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u, 0x5005713cu, 0x270241aau,
	0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u, 0xce61e49fu,
	0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
	0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au,
	0xead54739u, 0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u,
	0x0d6d6a3eu, 0x7a6a5aa8u, 0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u,
	0xf00f9344u, 0x8708a3d2u, 0x1e01f268u, 0x6906c2feu, 0xf762575du, 0x806567cbu,
	0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u, 0x10da7a5au, 0x67dd4accu,
	0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u, 0xa1d1937eu,
	0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
	0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u,
	0x316e8eefu, 0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u,
	0xcc0c7795u, 0xbb0b4703u, 0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u,
	0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u, 0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du,
	0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au, 0x9c0906a9u, 0xeb0e363fu,
	0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu, 0x0cb61b38u,
	0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
	0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u,
	0x88085ae6u, 0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u,
	0x616bffd3u, 0x166ccf45u, 0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u,
	0xa7672661u, 0xd06016f7u, 0x4969474du, 0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu,
	0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u, 0x47b2cf7fu, 0x30b5ffe9u,
	0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u, 0xcdd70693u,
	0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
	0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

/*
 * Slicing-by-8: crc_slice[k][n] is the CRC register after byte n followed by k zero bytes, so
 * eight bytes are folded in with eight independent table reads instead of a chain of eight
 * dependent ones (several times faster on the 100-byte answers every request gets). Built from
 * crc_table once per process.
 */
static uint32_t crc_slice[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_slice_init(void)
{
	for (int n = 0; n < 256; n++) {
		uint32_t c = crc_table[n];

		crc_slice[0][n] = c;
		for (int k = 1; k < 8; k++) {
			c = crc_table[c & 0xFF] ^ (c >> 8);
			crc_slice[k][n] = c;
		}
	}
}

static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

	pthread_once(&crc_once, crc_slice_init);
	for (; n >= 8; n -= 8, p += 8) {
		/* The first four bytes xor into the register (the reflected CRC is little-endian);
		 * the last four only go through the tables. */
		uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				   (uint32_t)p[3] << 24);

		c = crc_slice[7][lo & 0xFF] ^ crc_slice[6][(lo >> 8) & 0xFF] ^
		    crc_slice[5][(lo >> 16) & 0xFF] ^ crc_slice[4][lo >> 24] ^
		    crc_slice[3][p[4]] ^ crc_slice[2][p[5]] ^ crc_slice[1][p[6]] ^
		    crc_slice[0][p[7]];
	}
	while (n--)
		c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

/* ---- OpenSSL objects, made once (HMAC, MD5, SHA-256) ------------------------------------------ */

/*
 * OpenSSL 3 looks an algorithm up (EVP_MAC_fetch, EVP_MD_fetch: a locked, string-keyed search of
 * the providers) every time one is named, and a one-shot HMAC() or EVP_MAC_CTX_new() per message
 * pays that lookup, its locks and several allocations: the profile of the allocation setup path
 * showed it as the largest single cost. So the algorithms are fetched once per process (fetched
 * objects are immutable and safe to share between threads) and each thread keeps its own
 * contexts (a context is not), reused from message to message: hashing allocates nothing once a
 * thread has warmed up.
 *
 * An HMAC context also remembers the key it was last keyed with: the next message under the
 * same key (every request of a static user, every nonce) only resets it to the precomputed
 * inner/outer pad state instead of hashing the key again.
 *
 * Per-thread state is freed when its thread exits (a pthread key destructor) and is listed in
 * a global list until then, so it is never "lost" memory for a leak checker.
 */

enum { HM_MI_SHA1, HM_MI_SHA256, HM_N }; /* the per-thread HMAC slots */

static const char *const hm_digest[HM_N] = { "SHA1", "SHA256" };

struct hmac_slot {
	EVP_MAC_CTX *ctx;                /* digest set; keyed with key[0..keylen) if keyed */
	bool keyed;
	size_t keylen;
	uint8_t key[64];                 /* a key longer than this is never remembered */
};

struct crypto_tls {
	struct crypto_tls *prev, *next;  /* crypto_all */
	struct hmac_slot hm[HM_N];
	EVP_MD_CTX *md;                  /* for MD5 and SHA-256 (keys, USERHASH) */
};

static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static pthread_key_t crypto_key;
static pthread_mutex_t crypto_lock = PTHREAD_MUTEX_INITIALIZER;
static struct crypto_tls *crypto_all;  /* every thread's state, for leak checkers */
static EVP_MAC *g_hmac;                /* NULL if the providers have no HMAC: fail closed */
static EVP_MD *g_md5, *g_sha256;       /* NULL if missing (MD5 under a FIPS-only provider) */
static _Thread_local struct crypto_tls *crypto_mine;

static void crypto_tls_free(void *arg)
{
	struct crypto_tls *t = arg;

	if (!t)
		return;
	pthread_mutex_lock(&crypto_lock);
	if (t->prev)
		t->prev->next = t->next;
	else
		crypto_all = t->next;
	if (t->next)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&crypto_lock);
	for (int i = 0; i < HM_N; i++)
		EVP_MAC_CTX_free(t->hm[i].ctx);
	EVP_MD_CTX_free(t->md);
	OPENSSL_cleanse(t, sizeof(*t));
	free(t);
	if (crypto_mine == t)
		crypto_mine = NULL;
}

static void crypto_init_once(void)
{
	(void)pthread_key_create(&crypto_key, crypto_tls_free);
	g_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	g_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* This thread's contexts, made on first use. NULL if out of memory. */
static struct crypto_tls *crypto_get(void)
{
	struct crypto_tls *t = crypto_mine;

	if (t)
		return t;
	pthread_once(&crypto_once, crypto_init_once);
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	pthread_mutex_lock(&crypto_lock);
	t->next = crypto_all;
	if (crypto_all)
		crypto_all->prev = t;
	crypto_all = t;
	pthread_mutex_unlock(&crypto_lock);
	(void)pthread_setspecific(crypto_key, t);
	crypto_mine = t;
	return t;
}

/* Slot @i of this thread, its context created (digest set) on first use. NULL if OpenSSL or
 * memory fails. */
static struct hmac_slot *hmac_slot(int i)
{
	struct crypto_tls *t = crypto_get();
	struct hmac_slot *s;

	if (!t)
		return NULL;
	s = &t->hm[i];
	if (!s->ctx && g_hmac) {
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
							 (char *)hm_digest[i], 0),
			OSSL_PARAM_construct_end(),
		};

		s->ctx = EVP_MAC_CTX_new(g_hmac);
		if (s->ctx && !EVP_MAC_CTX_set_params(s->ctx, params)) {
			EVP_MAC_CTX_free(s->ctx);
			s->ctx = NULL;
		}
	}
	return s->ctx ? s : NULL;
}

static int hmac2(int slot, const uint8_t *key, size_t keylen, const uint8_t *p1, size_t n1,
		 const uint8_t *p2, size_t n2, uint8_t *out, size_t outlen);

int stun_crypto_thread_init(void)
{
	static const uint8_t key[] = "warm-up";
	struct crypto_tls *t = crypto_get();
	uint8_t out[STUN_KEY_MAX];

	if (!t)
		return -ENOMEM;
	if (!t->md)
		t->md = EVP_MD_CTX_new();
	if (!t->md)
		return -ENOMEM;
	/* Each context computes once: OpenSSL finishes setting a context up on its first use
	 * (about 10 us of the first request's latency otherwise). Then it forgets the key. */
	for (int i = 0; i < HM_N; i++) {
		if (!hmac_slot(i) || hmac2(i, key, sizeof(key), key, sizeof(key), NULL, 0, out,
					   i == HM_MI_SHA1 ? 20 : 32))
			return -ENOMEM;
		t->hm[i].keyed = false;
	}
	if (stun_ltc_key_alg(STUN_PWALG_MD5, "u", 1, "r", 1, "p", 1, out) < 0 ||
	    stun_ltc_key_alg(STUN_PWALG_SHA256, "u", 1, "r", 1, "p", 1, out) < 0)
		return -ENOMEM;
	return 0;
}

/*
 * Starts an HMAC in slot @s with @key (@keylen bytes): a reset to the remembered key's pads if
 * it is the same key, else a fresh keying. Returns true on success; on failure the slot forgets
 * its key.
 */
static bool hmac_start(struct hmac_slot *s, const uint8_t *key, size_t keylen)
{
	/* EVP_MAC_init() takes a NULL key as "keep the previous key", so an empty key needs a
	 * pointer. */
	static const uint8_t empty_key[1];

	if (s->keyed && s->keylen == keylen && !CRYPTO_memcmp(s->key, key, keylen))
		return EVP_MAC_init(s->ctx, NULL, 0, NULL) == 1;
	s->keyed = false;
	if (EVP_MAC_init(s->ctx, keylen ? key : empty_key, keylen, NULL) != 1)
		return false;
	if (keylen <= sizeof(s->key)) {
		if (keylen)
			memcpy(s->key, key, keylen);
		s->keylen = keylen;
		s->keyed = true;
	}
	return true;
}

/*
 * HMAC in slot @slot (its digest) over @n1 bytes of @p1 then @n2 bytes of @p2, into @out
 * (@outlen bytes: the digest size). Returns 0, or -ENOMEM if OpenSSL fails (out of memory, or
 * the digest is not in the providers).
 */
static int hmac2(int slot, const uint8_t *key, size_t keylen, const uint8_t *p1, size_t n1,
		 const uint8_t *p2, size_t n2, uint8_t *out, size_t outlen)
{
	struct hmac_slot *s = hmac_slot(slot);
	size_t got = 0;
	bool ok;

	ok = s && hmac_start(s, key, keylen) && (n1 == 0 || EVP_MAC_update(s->ctx, p1, n1)) &&
	     (n2 == 0 || EVP_MAC_update(s->ctx, p2, n2)) &&
	     EVP_MAC_final(s->ctx, out, &got, outlen) && got == outlen;
	if (!ok && s)
		s->keyed = false;
	return ok ? 0 : -ENOMEM;
}

/* ---- HMAC (MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256) --------------------------------------- */

/*
 * HMAC (slot @slot: SHA-1 or SHA-256) over @hdr (a 20-byte STUN header, already carrying the
 * adjusted length) followed by @body_len bytes of @body, into @out (@outlen bytes: the digest
 * size). Taking the header separately is what lets the checker hash a received message without
 * copying it or writing to it.
 * Returns 0, or -ENOMEM if OpenSSL fails (out of memory, or the digest is not in the providers).
 */
static int hmac_stun(int slot, const uint8_t *key, size_t keylen,
		     const uint8_t hdr[STUN_HEADER_LEN], const uint8_t *body, size_t body_len,
		     uint8_t *out, size_t outlen)
{
	return hmac2(slot, key, keylen, hdr, STUN_HEADER_LEN, body, body_len, out, outlen);
}

/* ---- Parsing ----------------------------------------------------------------------------------- */

/* Method bits M0-M11 are split around the class bits C0 (bit 4) and C1 (bit 8), RFC 8489 §5. */
static uint16_t type_method(uint16_t type)
{
	return (uint16_t)((type & 0x000F) | (type & 0x00E0) >> 1 | (type & 0x3E00) >> 2);
}

static uint16_t type_encode(uint16_t method, uint16_t cls)
{
	return (uint16_t)((method & 0x000F) | (method & 0x0070) << 1 | (method & 0x0F80) << 2 | cls);
}

/* Comprehension-required attributes (type < 0x8000) this codec knows. Any other one makes the
 * request fail with 420 (RFC 8489 §6.3.1); comprehension-optional ones are simply skipped. */
static bool attr_is_known(uint16_t type)
{
	switch (type) {
	case STUN_ATTR_MAPPED_ADDRESS:
	case STUN_ATTR_USERNAME:
	case STUN_ATTR_MESSAGE_INTEGRITY:
	case STUN_ATTR_ERROR_CODE:
	case STUN_ATTR_UNKNOWN_ATTRIBUTES:
	case TURN_ATTR_CHANNEL_NUMBER:
	case TURN_ATTR_LIFETIME:
	case TURN_ATTR_XOR_PEER_ADDRESS:
	case TURN_ATTR_DATA:
	case STUN_ATTR_REALM:
	case STUN_ATTR_NONCE:
	case TURN_ATTR_XOR_RELAYED_ADDRESS:
	case TURN_ATTR_REQUESTED_ADDRESS_FAMILY:
	case TURN_ATTR_EVEN_PORT:
	case TURN_ATTR_REQUESTED_TRANSPORT:
	case TURN_ATTR_DONT_FRAGMENT:
	case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
	case STUN_ATTR_PASSWORD_ALGORITHM:
	case STUN_ATTR_USERHASH:
	case STUN_ATTR_XOR_MAPPED_ADDRESS:
	case TURN_ATTR_RESERVATION_TOKEN:
	case STUN_ATTR_PRIORITY:
	case STUN_ATTR_USE_CANDIDATE:
		return true;
	default:
		return false;
	}
}

static void note_unknown(struct stun_msg *m, uint16_t type)
{
	size_t i;

	/* A 420 lists each type once, however often the client repeated it. */
	for (i = 0; i < m->n_unknown; i++)
		if (m->unknown[i] == type)
			return;
	if (m->n_unknown < STUN_MAX_UNKNOWN)
		m->unknown[m->n_unknown++] = type;
}

/*
 * True if @buf starts like a STUN message (RFC 8489 §5): at least a header, top two bits of the type
 * zero, the magic cookie at bytes 4-7 (network order), a length that is a multiple of 4. It does not
 * check the length against @len: this is the demultiplexing test of RFC 8489 §7.3 / RFC 7983, and
 * stun_msg_parse() does the full check.
 */
bool stun_is_message(const uint8_t *buf, size_t len)
{
	if (!buf || len < STUN_HEADER_LEN)
		return false;
	return !(get_be16(buf) & STUN_TYPE_RESERVED) && get_be16(buf + 2) % 4 == 0 &&
	       get_be32(buf + 4) == STUN_MAGIC_COOKIE;
}

/*
 * Parses the STUN message at the start of @buf (@len bytes, bytes past the header's length ignored)
 * into @m, which then points into @buf (RFC 8489 §5, §6.3, §14).
 *
 * Header: top two bits zero, magic cookie, length a multiple of 4 and no more than @len - 20.
 * Attributes: each header is 4 bytes (type, value length, network order), the value padded to 4;
 * one that overruns the message is malformed. After MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256
 * and FINGERPRINT are kept, after MESSAGE-INTEGRITY-SHA256 only FINGERPRINT; everything else is
 * skipped (§14.5, §14.6: it is not covered by the HMAC, so acting on it would let an attacker
 * append attributes to an authenticated request). FINGERPRINT must be last and is verified here
 * (§14.7). MESSAGE-INTEGRITY must be 20 bytes, MESSAGE-INTEGRITY-SHA256 16..32 in steps of 4 and
 * FINGERPRINT 4.
 * Comprehension-required types this codec does not know are listed in m->unknown.
 *
 * Returns 0; -EBADMSG for malformed bytes (bad header, length, overrun, more than STUN_MAX_ATTRS
 * kept attributes, anything after FINGERPRINT, a wrong fingerprint); -EINVAL if @m is NULL or @buf
 * is NULL with a non-zero @len. On error @m is left describing no attributes.
 */
int stun_msg_parse(struct stun_msg *m, const uint8_t *buf, size_t len)
{
	size_t off, end;
	uint16_t type, mlen;

	if (!m || (!buf && len))
		return -EINVAL;
	m->buf = buf;
	m->len = 0;
	m->method = 0;
	m->cls = 0;
	m->n_attrs = 0;
	m->n_unknown = 0;
	m->mi = -1;
	m->mi256 = -1;
	m->fp = -1;

	/* Header (§5). mlen <= len - 20 bounds every read below. */
	if (len < STUN_HEADER_LEN)
		return -EBADMSG;
	type = get_be16(buf);
	mlen = get_be16(buf + 2);
	if ((type & STUN_TYPE_RESERVED) || get_be32(buf + 4) != STUN_MAGIC_COOKIE || mlen % 4 ||
	    mlen > len - STUN_HEADER_LEN)
		return -EBADMSG;
	m->method = type_method(type);
	m->cls = type & STUN_CLASS_MASK;
	memcpy(m->tid, buf + 8, STUN_TID_LEN);
	end = STUN_HEADER_LEN + (size_t)mlen;

	/* Attributes (§14). off stays a multiple of 4 and <= end. */
	off = STUN_HEADER_LEN;
	while (off < end) {
		uint16_t atype, alen;
		struct stun_attr *a;

		if (end - off < STUN_ATTR_HDR)
			goto bad;
		atype = get_be16(buf + off);
		alen = get_be16(buf + off + 2);
		if (pad4(alen) > end - off - STUN_ATTR_HDR)
			goto bad;

		/* Nothing may follow FINGERPRINT (§14.7); after MESSAGE-INTEGRITY only
		 * MESSAGE-INTEGRITY-SHA256 and FINGERPRINT count (§14.5), after
		 * MESSAGE-INTEGRITY-SHA256 only FINGERPRINT (§14.6). */
		if (m->fp >= 0)
			goto bad;
		if (m->mi256 >= 0 && atype != STUN_ATTR_FINGERPRINT)
			goto next;
		if (m->mi >= 0 && atype != STUN_ATTR_MESSAGE_INTEGRITY_SHA256 &&
		    atype != STUN_ATTR_FINGERPRINT)
			goto next;

		/* MESSAGE-INTEGRITY-SHA256 may be truncated to 16..32 bytes in steps of 4 (§14.6). */
		if ((atype == STUN_ATTR_MESSAGE_INTEGRITY && alen != STUN_MI_LEN) ||
		    (atype == STUN_ATTR_MESSAGE_INTEGRITY_SHA256 &&
		     (alen < STUN_MI256_MIN || alen > STUN_MI256_LEN || alen % 4)) ||
		    (atype == STUN_ATTR_FINGERPRINT && alen != 4))
			goto bad;
		if (m->n_attrs == STUN_MAX_ATTRS)
			goto bad;

		a = &m->attrs[m->n_attrs];
		a->type = atype;
		a->len = alen;
		a->val = buf + off + STUN_ATTR_HDR;
		a->off = off;
		if (atype == STUN_ATTR_MESSAGE_INTEGRITY)
			m->mi = (int)m->n_attrs;
		else if (atype == STUN_ATTR_MESSAGE_INTEGRITY_SHA256)
			m->mi256 = (int)m->n_attrs;
		else if (atype == STUN_ATTR_FINGERPRINT)
			m->fp = (int)m->n_attrs;
		else if (atype < 0x8000 && !attr_is_known(atype))
			note_unknown(m, atype);
		m->n_attrs++;
	next:
		off += STUN_ATTR_HDR + pad4(alen);
	}

	/* FINGERPRINT covers everything before it, the header length already counting it (§14.7). */
	if (m->fp >= 0) {
		const struct stun_attr *fp = &m->attrs[m->fp];

		if ((crc32_ieee(buf, fp->off) ^ STUN_FP_XOR) != get_be32(fp->val))
			goto bad;
	}
	m->len = end;
	return 0;

bad:
	m->n_attrs = 0;
	m->n_unknown = 0;
	m->mi = -1;
	m->mi256 = -1;
	m->fp = -1;
	return -EBADMSG;
}

/* Returns the first attribute of @type in @m (in message order), or NULL if none or @m is NULL. */
const struct stun_attr *stun_msg_attr(const struct stun_msg *m, uint16_t type)
{
	size_t i;

	if (!m)
		return NULL;
	for (i = 0; i < m->n_attrs; i++)
		if (m->attrs[i].type == type)
			return &m->attrs[i];
	return NULL;
}

/*
 * Decodes an XOR-MAPPED-ADDRESS / XOR-PEER-ADDRESS / XOR-RELAYED-ADDRESS value (RFC 8489 §14.2):
 * 1 reserved byte, family (0x01 IPv4, 0x02 IPv6), port XOR the cookie's top 16 bits, address XOR the
 * cookie (IPv4) or the cookie and @m's transaction id (IPv6), all in network order. @out is zeroed
 * and filled as a sockaddr_in or sockaddr_in6 (port and address in network order, as usual).
 * Returns 0; -EBADMSG if the length does not fit the family; -EAFNOSUPPORT for another family;
 * -EINVAL for a NULL argument.
 */
int stun_attr_xor_addr(const struct stun_msg *m, const struct stun_attr *a,
		       struct sockaddr_storage *out)
{
	uint16_t port;
	size_t i;

	if (!m || !a || !out || (!a->val && a->len))
		return -EINVAL;
	if (a->len < 4)
		return -EBADMSG;
	port = get_be16(a->val + 2) ^ (uint16_t)(STUN_MAGIC_COOKIE >> 16);
	memset(out, 0, sizeof(*out));

	switch (a->val[1]) {
	case 0x01: {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		uint32_t ip;

		if (a->len != 8)
			return -EBADMSG;
		ip = get_be32(a->val + 4) ^ STUN_MAGIC_COOKIE;
		sin.sin_port = htons(port);
		sin.sin_addr.s_addr = htonl(ip);
		memcpy(out, &sin, sizeof(sin));
		return 0;
	}
	case 0x02: {
		struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
		uint8_t pad[16];

		if (a->len != 20)
			return -EBADMSG;
		put_be32(pad, STUN_MAGIC_COOKIE);
		memcpy(pad + 4, m->tid, STUN_TID_LEN);
		for (i = 0; i < 16; i++)
			sin6.sin6_addr.s6_addr[i] = a->val[4 + i] ^ pad[i];
		sin6.sin6_port = htons(port);
		memcpy(out, &sin6, sizeof(sin6));
		return 0;
	}
	default:
		return -EAFNOSUPPORT;
	}
}

/* Decodes a 4-byte value (network order on the wire) into @out in host order.
 * Returns 0; -EBADMSG if the attribute is not 4 bytes; -EINVAL for a NULL argument. */
int stun_attr_u32(const struct stun_attr *a, uint32_t *out)
{
	if (!a || !out || !a->val)
		return -EINVAL;
	if (a->len != 4)
		return -EBADMSG;
	*out = get_be32(a->val);
	return 0;
}

/*
 * Decodes ERROR-CODE (RFC 8489 §14.8): 21 reserved bits, a 3-bit class (3..6) and a number
 * (0..99), then a UTF-8 reason phrase. @code gets class * 100 + number; @reason points into the
 * message and is @reason_len bytes, not NUL-terminated, possibly empty.
 * Returns 0; -EBADMSG if shorter than 4 bytes or the class or number is out of range; -EINVAL for a
 * NULL argument.
 */
int stun_attr_error_code(const struct stun_attr *a, int *code, const char **reason,
			 size_t *reason_len)
{
	unsigned cls, num;

	if (!a || !code || !reason || !reason_len || !a->val)
		return -EINVAL;
	if (a->len < 4)
		return -EBADMSG;
	cls = a->val[2] & 0x07;
	num = a->val[3];
	if (cls < 3 || cls > 6 || num > 99)
		return -EBADMSG;
	*code = (int)(cls * 100 + num);
	*reason = (const char *)a->val + 4;
	*reason_len = a->len - 4u;
	return 0;
}

/*
 * Decodes ADDRESS-ERROR-CODE (RFC 8656 §18.12): the family byte, a reserved byte, then the class
 * (low 3 bits) and number as in ERROR-CODE, then a reason phrase that is not looked at.
 * Returns 0; -EBADMSG if shorter than 4 bytes or the class or number is out of range; -EINVAL for
 * a NULL argument.
 */
int stun_attr_address_error(const struct stun_attr *a, uint8_t *family, int *code)
{
	unsigned cls, num;

	if (!a || !family || !code || !a->val)
		return -EINVAL;
	if (a->len < 4)
		return -EBADMSG;
	cls = a->val[2] & 0x07;
	num = a->val[3];
	if (cls < 3 || cls > 6 || num > 99)
		return -EBADMSG;
	*family = a->val[0];
	*code = (int)(cls * 100 + num);
	return 0;
}

/*
 * Checks the integrity attribute at index @idx of @m (MESSAGE-INTEGRITY with "SHA1", or
 * MESSAGE-INTEGRITY-SHA256 with "SHA256"): the HMAC over the message up to the attribute, with the
 * header length field set as if the message ended right after it (RFC 8489 §14.5, §14.6). The
 * length is changed in a 20-byte copy of the header; @m's buffer is never written. A truncated
 * value is compared with as many leading bytes of the HMAC. The compare is constant-time so the
 * answer does not leak how many bytes matched.
 */
static int check_integrity(const struct stun_msg *m, int idx, int slot, size_t maclen,
			   const uint8_t *key, size_t keylen)
{
	uint8_t hdr[STUN_HEADER_LEN], mac[STUN_MI256_LEN];
	const struct stun_attr *a;
	int err;

	if (!m || (!key && keylen))
		return -EINVAL;
	if (idx < 0)
		return -ENOENT;
	if ((size_t)idx >= m->n_attrs || !m->buf)
		return -EINVAL;
	a = &m->attrs[idx];
	if (a->len > maclen || a->len == 0 || a->off < STUN_HEADER_LEN)
		return -EINVAL;

	memcpy(hdr, m->buf, STUN_HEADER_LEN);
	put_be16(hdr + 2, (uint16_t)(a->off + STUN_ATTR_HDR + a->len - STUN_HEADER_LEN));
	err = hmac_stun(slot, key, keylen, hdr, m->buf + STUN_HEADER_LEN,
			a->off - STUN_HEADER_LEN, mac, maclen);
	if (err)
		return err;
	return CRYPTO_memcmp(mac, a->val, a->len) ? -EACCES : 0;
}

/*
 * Checks MESSAGE-INTEGRITY (RFC 8489 §14.5): HMAC-SHA1 with @key (@keylen bytes).
 * Returns 0 if it matches; -ENOENT if there is no MESSAGE-INTEGRITY; -EACCES if it does not match;
 * -ENOMEM if OpenSSL fails; -EINVAL for bad arguments.
 */
int stun_msg_check_integrity(const struct stun_msg *m, const uint8_t *key, size_t keylen)
{
	if (m && m->mi >= 0 && (size_t)m->mi < m->n_attrs && m->attrs[m->mi].len != STUN_MI_LEN)
		return -EINVAL;
	return check_integrity(m, m ? m->mi : -1, HM_MI_SHA1, STUN_MI_LEN, key, keylen);
}

/*
 * Checks MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6): HMAC-SHA256 with @key (@keylen bytes), the
 * value possibly truncated to its leading 16..32 bytes (the parser has checked the length).
 * Returns 0 if it matches; -ENOENT if there is none; -EACCES if it does not match; -ENOMEM if
 * OpenSSL fails; -EINVAL for bad arguments.
 */
int stun_msg_check_integrity_sha256(const struct stun_msg *m, const uint8_t *key, size_t keylen)
{
	return check_integrity(m, m ? m->mi256 : -1, HM_MI_SHA256, STUN_MI256_LEN, key, keylen);
}

/*
 * Hashes the @n (pointer, length) pairs of @parts, joined by single colons, with @md into @out.
 * Returns the digest length, or 0 if OpenSSL fails (then @out is random bytes: fail closed).
 */
/* The process-wide fetched digest *@md (g_md5 or g_sha256), fetching them all first if this is the
 * first use; NULL if the providers lack it. */
static const EVP_MD *md_get(EVP_MD *const *md)
{
	pthread_once(&crypto_once, crypto_init_once);
	return *md;
}

static unsigned digest_joined(const EVP_MD *md, const char *const *parts, const size_t *lens,
			      size_t n, uint8_t *out, size_t outcap)
{
	struct crypto_tls *t = crypto_get();
	EVP_MD_CTX *ctx = NULL;
	unsigned int got = 0;
	int ok;

	if (t && !t->md)
		t->md = EVP_MD_CTX_new();
	ctx = t ? t->md : NULL;
	ok = md && ctx && EVP_DigestInit_ex(ctx, md, NULL);
	for (size_t i = 0; ok && i < n; i++)
		ok = (i == 0 || EVP_DigestUpdate(ctx, ":", 1)) &&
		     EVP_DigestUpdate(ctx, parts[i] ? parts[i] : "", parts[i] ? lens[i] : 0);
	ok = ok && (size_t)EVP_MD_get_size(md) <= outcap && EVP_DigestFinal_ex(ctx, out, &got);
	if (!ok) {
		memset(out, 0, outcap);
		(void)RAND_bytes(out, (int)outcap);
		return 0;
	}
	return got;
}

/*
 * Writes the long-term credential key MD5(username ":" realm ":" password) (RFC 8489 §9.2.2) into
 * @key. The strings are @ulen, @rlen, @plen bytes and used as given. Cannot fail from the caller's
 * point of view: if OpenSSL cannot compute MD5 (out of memory, or a FIPS-only provider without MD5),
 * @key is filled with random bytes instead, so every integrity check against it fails (fail closed).
 */
void stun_ltc_key(const char *username, size_t ulen, const char *realm, size_t rlen,
		  const char *password, size_t plen, uint8_t key[16])
{
	const char *parts[3] = { username, realm, password };
	const size_t lens[3] = { ulen, rlen, plen };

	/* Streamed rather than EVP_Digest() on a joined copy: the lengths are the caller's. */
	digest_joined(md_get(&g_md5), parts, lens, 3, key, 16);
}

/*
 * Writes the key of password algorithm @alg (RFC 8489 §18.5.1) for the @ulen-byte @username,
 * @rlen-byte @realm and @plen-byte @password into @key: MD5 -> 16 bytes, SHA-256 -> 32 bytes, of
 * username ":" realm ":" password, the strings used as given. If OpenSSL cannot hash, @key is
 * random (fail closed, as stun_ltc_key). Returns the key length, or -EINVAL for another @alg.
 */
int stun_ltc_key_alg(uint16_t alg, const char *username, size_t ulen, const char *realm,
		     size_t rlen, const char *password, size_t plen, uint8_t key[STUN_KEY_MAX])
{
	const char *parts[3] = { username, realm, password };
	const size_t lens[3] = { ulen, rlen, plen };

	switch (alg) {
	case STUN_PWALG_MD5:
		stun_ltc_key(username, ulen, realm, rlen, password, plen, key);
		return 16;
	case STUN_PWALG_SHA256:
		digest_joined(md_get(&g_sha256), parts, lens, 3, key, 32);
		return 32;
	default:
		return -EINVAL;
	}
}

/* USERHASH (RFC 8489 §14.4): SHA-256 of the @ulen-byte @username ":" the @rlen-byte @realm, the
 * strings used as given, into @out (32 bytes). */
void stun_userhash(const char *username, size_t ulen, const char *realm, size_t rlen,
		   uint8_t out[STUN_USERHASH_LEN])
{
	const char *parts[2] = { username, realm };
	const size_t lens[2] = { ulen, rlen };

	digest_joined(md_get(&g_sha256), parts, lens, 2, out, STUN_USERHASH_LEN);
}

/*
 * Decodes PASSWORD-ALGORITHM (RFC 8489 §14.12): algorithm (16 bits), parameters length (16 bits),
 * parameters padded to 4, all network order. @alg gets the algorithm in host order.
 * Returns 0; -EBADMSG if shorter than 4 bytes or the parameters overrun the value; -EINVAL for a
 * NULL argument.
 */
int stun_attr_password_algorithm(const struct stun_attr *a, uint16_t *alg)
{
	if (!a || !alg || !a->val)
		return -EINVAL;
	if (a->len < 4 || get_be16(a->val + 2) > a->len - 4u)
		return -EBADMSG;
	*alg = get_be16(a->val);
	return 0;
}

/* True if PASSWORD-ALGORITHMS (RFC 8489 §14.11: a list of algorithm, parameters length,
 * parameters padded to 4) lists @alg. A list whose entries overrun it lists nothing. */
bool stun_attr_algorithms_has(const struct stun_attr *a, uint16_t alg)
{
	size_t off = 0;
	bool found = false;

	if (!a || !a->val)
		return false;
	while (off < a->len) {
		size_t plen;

		if (a->len - off < 4)
			return false;
		plen = pad4(get_be16(a->val + off + 2));
		if (plen > a->len - off - 4)
			return false;
		found |= get_be16(a->val + off) == alg;
		off += 4 + plen;
	}
	return found;
}

/* ---- Building ---------------------------------------------------------------------------------- */

/* True if @b can take more: initialised, no sticky error. */
static bool builder_ok(const struct stun_builder *b)
{
	return b && !b->err && b->buf && b->len >= STUN_HEADER_LEN && b->len <= b->cap;
}

/*
 * Reserves an attribute of @type with a @len-byte value: writes its header and zero padding and
 * returns where the value goes, or NULL with b->err set (-EINVAL: @len over 65535; -ENOSPC: no room
 * in the buffer, or the message would outgrow the 16-bit length field).
 */
static uint8_t *attr_reserve(struct stun_builder *b, uint16_t type, size_t len)
{
	size_t need;
	uint8_t *p;

	if (!builder_ok(b))
		return NULL;
	if (len > 0xFFFF) {
		b->err = -EINVAL;
		return NULL;
	}
	need = STUN_ATTR_HDR + pad4(len);
	if (need > b->cap - b->len || b->len - STUN_HEADER_LEN + need > STUN_MAX_MSG_LEN) {
		b->err = -ENOSPC;
		return NULL;
	}
	p = b->buf + b->len;
	put_be16(p, type);
	put_be16(p + 2, (uint16_t)len);
	memset(p + STUN_ATTR_HDR + len, 0, pad4(len) - len);
	b->len += need;
	return p + STUN_ATTR_HDR;
}

/*
 * Starts a message in @buf (@cap bytes): writes the 20-byte header with @method (0..0xFFF) and @cls
 * (an enum stun_class) encoded as in RFC 8489 §5, a zero length, the magic cookie and @tid.
 * Sets b->err to -EINVAL for a bad argument or -ENOSPC if @cap < 20; later calls then do nothing.
 */
void stun_build_init(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
		     uint16_t cls, const uint8_t tid[STUN_TID_LEN])
{
	if (!b)
		return;
	b->buf = buf;
	b->cap = cap;
	b->len = 0;
	b->err = 0;
	if (!buf || !tid || method > 0x0FFF || (cls & ~STUN_CLASS_MASK)) {
		b->err = -EINVAL;
		return;
	}
	if (cap < STUN_HEADER_LEN) {
		b->err = -ENOSPC;
		return;
	}
	put_be16(buf, type_encode(method, cls));
	put_be16(buf + 2, 0);
	put_be32(buf + 4, STUN_MAGIC_COOKIE);
	memcpy(buf + 8, tid, STUN_TID_LEN);
	b->len = STUN_HEADER_LEN;
}

/* Appends attribute @type with the @len bytes at @val (@val may be NULL only if @len is 0), zero
 * padded to 4 (RFC 8489 §14). Sticky errors: -EINVAL (NULL @val, @len > 65535), -ENOSPC. */
void stun_build_attr(struct stun_builder *b, uint16_t type, const void *val, size_t len)
{
	uint8_t *p;

	if (builder_ok(b) && !val && len) {
		b->err = -EINVAL;
		return;
	}
	p = attr_reserve(b, type, len);
	if (p && len)
		memcpy(p, val, len);
}

/* Appends a 4-byte attribute holding @v (host order in, network order on the wire). Sticky error:
 * -ENOSPC. */
void stun_build_u32(struct stun_builder *b, uint16_t type, uint32_t v)
{
	uint8_t *p = attr_reserve(b, type, 4);

	if (p)
		put_be32(p, v);
}

/*
 * Appends an XOR-*-ADDRESS attribute for @a, an AF_INET or AF_INET6 sockaddr (RFC 8489 §14.2):
 * family byte, port XOR the cookie's top 16 bits, address XOR the cookie (IPv4) or the cookie and
 * this message's transaction id (IPv6). Sticky errors: -EINVAL (NULL, or another family), -ENOSPC.
 */
void stun_build_xor_addr(struct stun_builder *b, uint16_t type, const struct sockaddr_storage *a)
{
	uint8_t *p;
	size_t i;

	if (!builder_ok(b))
		return;
	if (!a || (a->ss_family != AF_INET && a->ss_family != AF_INET6)) {
		b->err = -EINVAL;
		return;
	}

	if (a->ss_family == AF_INET) {
		struct sockaddr_in sin;

		memcpy(&sin, a, sizeof(sin));
		p = attr_reserve(b, type, 8);
		if (!p)
			return;
		p[0] = 0;
		p[1] = 0x01;
		put_be16(p + 2, ntohs(sin.sin_port) ^ (uint16_t)(STUN_MAGIC_COOKIE >> 16));
		put_be32(p + 4, ntohl(sin.sin_addr.s_addr) ^ STUN_MAGIC_COOKIE);
	} else {
		struct sockaddr_in6 sin6;
		uint8_t pad[16];

		memcpy(&sin6, a, sizeof(sin6));
		p = attr_reserve(b, type, 20);
		if (!p)
			return;
		/* The transaction id is the one stun_build_init() wrote into the header. */
		put_be32(pad, STUN_MAGIC_COOKIE);
		memcpy(pad + 4, b->buf + 8, STUN_TID_LEN);
		p[0] = 0;
		p[1] = 0x02;
		put_be16(p + 2, ntohs(sin6.sin6_port) ^ (uint16_t)(STUN_MAGIC_COOKIE >> 16));
		for (i = 0; i < 16; i++)
			p[4 + i] = sin6.sin6_addr.s6_addr[i] ^ pad[i];
	}
}

/*
 * Appends ERROR-CODE (RFC 8489 §14.8) for @code 300..699: class @code / 100 in the low 3 bits of
 * byte 2, number @code % 100 in byte 3, then @reason (NUL-terminated UTF-8, NULL for none, at most
 * 763 bytes) zero padded. Sticky errors: -EINVAL (code out of range, reason too long), -ENOSPC.
 */
void stun_build_error(struct stun_builder *b, int code, const char *reason)
{
	size_t rlen = reason ? strlen(reason) : 0;
	uint8_t *p;

	if (!builder_ok(b))
		return;
	if (code < 300 || code > 699 || rlen > STUN_MAX_REASON) {
		b->err = -EINVAL;
		return;
	}
	p = attr_reserve(b, STUN_ATTR_ERROR_CODE, 4 + rlen);
	if (!p)
		return;
	p[0] = 0;
	p[1] = 0;
	p[2] = (uint8_t)(code / 100);
	p[3] = (uint8_t)(code % 100);
	if (rlen)
		memcpy(p + 4, reason, rlen);
}

/* Appends ADDRESS-ERROR-CODE (RFC 8656 §18.12): @family, a zero byte, the class of @code
 * (300..699) in the low 3 bits of byte 2 and its number in byte 3; no reason phrase.
 * Sticky errors: -EINVAL (code out of range), -ENOSPC. */
void stun_build_address_error(struct stun_builder *b, uint8_t family, int code)
{
	uint8_t *p;

	if (!builder_ok(b))
		return;
	if (code < 300 || code > 699) {
		b->err = -EINVAL;
		return;
	}
	p = attr_reserve(b, TURN_ATTR_ADDRESS_ERROR_CODE, 4);
	if (!p)
		return;
	p[0] = family;
	p[1] = 0;
	p[2] = (uint8_t)(code / 100);
	p[3] = (uint8_t)(code % 100);
}

/* Appends UNKNOWN-ATTRIBUTES (RFC 8489 §14.9): the @n types at @types, 2 bytes each in network
 * order, zero padded. Sticky errors: -EINVAL (@n is 0, @types NULL, too many), -ENOSPC. */
void stun_build_unknown(struct stun_builder *b, const uint16_t *types, size_t n)
{
	uint8_t *p;
	size_t i;

	if (!builder_ok(b))
		return;
	if (!types || n == 0 || n > 0xFFFF / 2) {
		b->err = -EINVAL;
		return;
	}
	p = attr_reserve(b, STUN_ATTR_UNKNOWN_ATTRIBUTES, 2 * n);
	if (!p)
		return;
	for (i = 0; i < n; i++)
		put_be16(p + 2 * i, types[i]);
}

/* Appends an integrity attribute of @type with the @maclen-byte HMAC (@digest) with @key over the
 * message so far, the header length field first set to count the attribute being added. */
static void build_integrity(struct stun_builder *b, uint16_t type, int slot,
			    size_t maclen, const uint8_t *key, size_t keylen)
{
	size_t body;
	uint8_t *p;
	int err;

	if (!builder_ok(b))
		return;
	if (!key && keylen) {
		b->err = -EINVAL;
		return;
	}
	body = b->len - STUN_HEADER_LEN;
	p = attr_reserve(b, type, maclen);
	if (!p)
		return;
	put_be16(b->buf + 2, (uint16_t)(b->len - STUN_HEADER_LEN));
	err = hmac_stun(slot, key, keylen, b->buf, b->buf + STUN_HEADER_LEN, body, p, maclen);
	if (err)
		b->err = err;
}

/*
 * Appends MESSAGE-INTEGRITY (RFC 8489 §14.5): HMAC-SHA1 with @key (@keylen bytes) over the message
 * so far, the header length field first set to count the 24-byte attribute being added. Only
 * MESSAGE-INTEGRITY-SHA256 and FINGERPRINT may follow (checked by stun_build_finish()).
 * Sticky errors: -EINVAL (NULL @key with a non-zero @keylen), -ENOSPC, -ENOMEM (OpenSSL failed).
 */
void stun_build_integrity(struct stun_builder *b, const uint8_t *key, size_t keylen)
{
	build_integrity(b, STUN_ATTR_MESSAGE_INTEGRITY, HM_MI_SHA1, STUN_MI_LEN, key, keylen);
}

/*
 * Appends MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6), untruncated: HMAC-SHA256 with @key (@keylen
 * bytes) over the message so far, the header length counting the 36-byte attribute. Only
 * FINGERPRINT may follow (checked by stun_build_finish()).
 * Sticky errors: -EINVAL (NULL @key with a non-zero @keylen), -ENOSPC, -ENOMEM (OpenSSL failed).
 */
void stun_build_integrity_sha256(struct stun_builder *b, const uint8_t *key, size_t keylen)
{
	build_integrity(b, STUN_ATTR_MESSAGE_INTEGRITY_SHA256, HM_MI_SHA256, STUN_MI256_LEN, key,
			keylen);
}

/*
 * Appends FINGERPRINT (RFC 8489 §14.7): CRC-32 of the message so far XOR 0x5354554E, computed with
 * the header length already counting this 8-byte attribute. Must be the last attribute (checked by
 * stun_build_finish()). Sticky error: -ENOSPC.
 */
void stun_build_fingerprint(struct stun_builder *b)
{
	size_t body;
	uint8_t *p;

	if (!builder_ok(b))
		return;
	body = b->len;
	p = attr_reserve(b, STUN_ATTR_FINGERPRINT, 4);
	if (!p)
		return;
	put_be16(b->buf + 2, (uint16_t)(b->len - STUN_HEADER_LEN));
	put_be32(p, crc32_ieee(b->buf, body) ^ STUN_FP_XOR);
}

/* -EINVAL if something follows FINGERPRINT, anything but MESSAGE-INTEGRITY-SHA256 follows
 * MESSAGE-INTEGRITY, or anything but FINGERPRINT follows MESSAGE-INTEGRITY-SHA256: a peer would
 * ignore or reject it (RFC 8489 §14.5, §14.6, §14.7), so it is a bug. */
static int check_placement(const struct stun_builder *b)
{
	bool mi = false, mi256 = false, fp = false;
	size_t off = STUN_HEADER_LEN;

	while (off <= b->len && b->len - off >= STUN_ATTR_HDR) {
		uint16_t type = get_be16(b->buf + off);

		if (fp)
			return -EINVAL;
		if (type == STUN_ATTR_FINGERPRINT)
			fp = true;
		else if (mi256)
			return -EINVAL;
		else if (type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256)
			mi256 = true;
		else if (mi)
			return -EINVAL;
		else if (type == STUN_ATTR_MESSAGE_INTEGRITY)
			mi = true;
		off += STUN_ATTR_HDR + pad4(get_be16(b->buf + off + 2));
	}
	return 0;
}

/*
 * Finishes the message: checks MESSAGE-INTEGRITY / FINGERPRINT placement, writes the header length
 * (bytes after the header, network order) and stores the total message length in @len (may be NULL).
 * Returns 0; the sticky error (-EINVAL: bad argument or attribute after FINGERPRINT / after
 * MESSAGE-INTEGRITY; -ENOSPC: @cap too small; -ENOMEM: OpenSSL failed); -EINVAL if @b is NULL.
 * On error *@len is left alone.
 */
int stun_build_finish(struct stun_builder *b, size_t *len)
{
	int err;

	if (!b)
		return -EINVAL;
	if (b->err)
		return b->err;
	if (!builder_ok(b))
		return b->err = -EINVAL;
	err = check_placement(b);
	if (err)
		return b->err = err;
	put_be16(b->buf + 2, (uint16_t)(b->len - STUN_HEADER_LEN));
	if (len)
		*len = b->len;
	return 0;
}

/* ---- ChannelData (RFC 8656 §12.4) -------------------------------------------------------------- */

/* True if @buf (@len >= 1 bytes) starts with 0x40..0x7F: the first byte of a channel number, which
 * RFC 7983 places outside STUN's 0x00..0x03 and DTLS's 0x14..0x3F. Says nothing of the rest. */
bool turn_is_channeldata(const uint8_t *buf, size_t len)
{
	return buf && len >= 1 && buf[0] >= 0x40 && buf[0] <= 0x7F;
}

/*
 * Parses ChannelData: a 2-byte channel number and 2-byte data length (network order), then the data.
 * @channel gets the number in host order, @data points into @buf, @data_len is the header's length.
 * Bytes after the data (UDP padding, or the next frame over TCP) are not looked at.
 * Returns 0; -EBADMSG if @len < 4, the channel is outside TURN_CHANNEL_MIN..MAX (see stun.h) or the data
 * length exceeds @len - 4; -EINVAL for a NULL argument.
 */
int turn_channeldata_parse(const uint8_t *buf, size_t len, uint16_t *channel,
			   const uint8_t **data, uint16_t *data_len)
{
	uint16_t ch, dlen;

	if (!channel || !data || !data_len || (!buf && len))
		return -EINVAL;
	if (len < TURN_CHANNELDATA_HDR)
		return -EBADMSG;
	ch = get_be16(buf);
	dlen = get_be16(buf + 2);
	if (ch < TURN_CHANNEL_MIN || ch > TURN_CHANNEL_MAX || dlen > len - TURN_CHANNELDATA_HDR)
		return -EBADMSG;
	*channel = ch;
	*data = buf + TURN_CHANNELDATA_HDR;
	*data_len = dlen;
	return 0;
}

/* Writes the ChannelData header: @channel then @data_len, both host order in, network order out.
 * The caller pads the data to 4 bytes itself when it sends over TCP (RFC 8656 §12.5). */
void turn_channeldata_header(uint8_t hdr[TURN_CHANNELDATA_HDR], uint16_t channel,
			     uint16_t data_len)
{
	if (!hdr)
		return;
	put_be16(hdr, channel);
	put_be16(hdr + 2, data_len);
}
