/*
 * stun: the STUN message codec (RFC 8489) with the TURN attributes (RFC 8656), and ChannelData
 * framing (RFC 8656 §12.4).
 *
 * Parsing is zero-copy and allocates nothing: a struct stun_msg points into the caller's buffer,
 * which must outlive it. Building writes into a caller buffer through a struct stun_builder whose
 * error is sticky, so a reply is a chain of stun_build_*() calls checked once at stun_build_finish().
 * Every function here is safe on untrusted bytes; they are fuzzed by tests/fuzz/fuzz_stun.c.
 */
#ifndef TINCAN_TURN_STUN_H
#define TINCAN_TURN_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define STUN_MAGIC_COOKIE 0x2112A442u
#define STUN_HEADER_LEN 20
#define STUN_TID_LEN 12
#define STUN_MAX_ATTRS 40            /* a message with more is rejected (-EBADMSG) */
#define STUN_MAX_UNKNOWN 8           /* unknown comprehension-required attrs remembered */
#define STUN_MI_LEN 20               /* MESSAGE-INTEGRITY (HMAC-SHA1) value length */
#define STUN_MI256_LEN 32            /* MESSAGE-INTEGRITY-SHA256 value length, untruncated */
#define STUN_MI256_MIN 16            /* shortest truncated MESSAGE-INTEGRITY-SHA256, RFC 8489 §14.6 */
#define STUN_USERHASH_LEN 32         /* USERHASH: SHA-256(username ":" realm), RFC 8489 §14.4 */
#define STUN_KEY_MAX 32              /* longest long-term credential key (SHA-256), bytes */
#define STUN_FP_XOR 0x5354554Eu      /* FINGERPRINT xor, RFC 8489 §14.7 */

/*
 * The "nonce cookie" (RFC 8489 §9.2): a NONCE starting with these 9 characters and then 4 base64
 * characters of the 24-bit STUN Security Feature set tells the client which RFC 8489 features the
 * server supports. Bit 0 (the most significant bit of the first byte) is "Password algorithms",
 * bit 1 "Username anonymity" (RFC 8489 §18.1).
 */
#define STUN_NONCE_COOKIE "obMatJos2"
#define STUN_NONCE_COOKIE_LEN 9
#define STUN_FEATURE_PASSWORD_ALGORITHMS 0x800000u
#define STUN_FEATURE_USERNAME_ANONYMITY 0x400000u

/* Password algorithms (RFC 8489 §18.5): how the long-term credential key is derived. */
enum stun_pwalg {
	STUN_PWALG_MD5 = 0x0001,     /* MD5(username ":" realm ":" password), 16 bytes */
	STUN_PWALG_SHA256 = 0x0002,  /* SHA-256(username ":" realm ":" password), 32 bytes */
};

/* Message classes, already in their wire bit positions (RFC 8489 §5). */
enum stun_class {
	STUN_CLASS_REQUEST = 0x0000,
	STUN_CLASS_INDICATION = 0x0010,
	STUN_CLASS_SUCCESS = 0x0100,
	STUN_CLASS_ERROR = 0x0110,
};

/* Methods (RFC 8489 §18.2, RFC 8656 §17). */
enum stun_method {
	STUN_METHOD_BINDING = 0x001,
	TURN_METHOD_ALLOCATE = 0x003,
	TURN_METHOD_REFRESH = 0x004,
	TURN_METHOD_SEND = 0x006,
	TURN_METHOD_DATA = 0x007,
	TURN_METHOD_CREATE_PERMISSION = 0x008,
	TURN_METHOD_CHANNEL_BIND = 0x009,
};

/* Attribute types (RFC 8489 §18.3, RFC 8656 §18, RFC 8445 §16.1). */
enum stun_attr_type {
	STUN_ATTR_MAPPED_ADDRESS = 0x0001,
	STUN_ATTR_USERNAME = 0x0006,
	STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
	STUN_ATTR_ERROR_CODE = 0x0009,
	STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
	TURN_ATTR_CHANNEL_NUMBER = 0x000C,
	TURN_ATTR_LIFETIME = 0x000D,
	TURN_ATTR_XOR_PEER_ADDRESS = 0x0012,
	TURN_ATTR_DATA = 0x0013,
	STUN_ATTR_REALM = 0x0014,
	STUN_ATTR_NONCE = 0x0015,
	TURN_ATTR_XOR_RELAYED_ADDRESS = 0x0016,
	TURN_ATTR_REQUESTED_ADDRESS_FAMILY = 0x0017,
	TURN_ATTR_EVEN_PORT = 0x0018,
	TURN_ATTR_REQUESTED_TRANSPORT = 0x0019,
	TURN_ATTR_DONT_FRAGMENT = 0x001A,
	STUN_ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001C,
	STUN_ATTR_PASSWORD_ALGORITHM = 0x001D,
	STUN_ATTR_USERHASH = 0x001E,
	STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
	TURN_ATTR_RESERVATION_TOKEN = 0x0022,
	STUN_ATTR_PRIORITY = 0x0024,
	STUN_ATTR_USE_CANDIDATE = 0x0025,
	TURN_ATTR_ADDITIONAL_ADDRESS_FAMILY = 0x8000,
	TURN_ATTR_ADDRESS_ERROR_CODE = 0x8001,
	STUN_ATTR_PASSWORD_ALGORITHMS = 0x8002,
	STUN_ATTR_ALTERNATE_DOMAIN = 0x8003,
	TURN_ATTR_ICMP = 0x8004,
	STUN_ATTR_SOFTWARE = 0x8022,
	STUN_ATTR_ALTERNATE_SERVER = 0x8023,
	STUN_ATTR_FINGERPRINT = 0x8028,
	STUN_ATTR_ICE_CONTROLLED = 0x8029,
	STUN_ATTR_ICE_CONTROLLING = 0x802A,
	STUN_ATTR_RESPONSE_ORIGIN = 0x802B,
	STUN_ATTR_OTHER_ADDRESS = 0x802C,
};

/* One attribute as found in a parsed message; @val points into the message buffer. */
struct stun_attr {
	uint16_t type;
	uint16_t len;          /* value length in bytes, without padding */
	const uint8_t *val;
	size_t off;            /* offset of the attribute header from the message start */
};

/* A parsed message. Points into the buffer given to stun_msg_parse(). */
struct stun_msg {
	const uint8_t *buf;
	size_t len;                    /* 20 + the header's length field */
	uint16_t method;               /* enum stun_method */
	uint16_t cls;                  /* enum stun_class */
	uint8_t tid[STUN_TID_LEN];
	struct stun_attr attrs[STUN_MAX_ATTRS];
	size_t n_attrs;
	int mi;                        /* index in attrs of MESSAGE-INTEGRITY, or -1 */
	int mi256;                     /* index in attrs of MESSAGE-INTEGRITY-SHA256, or -1 */
	int fp;                        /* index in attrs of FINGERPRINT, or -1 */
	/* Comprehension-required types (< 0x8000) this codec does not know: the server answers 420
	 * with UNKNOWN-ATTRIBUTES (RFC 8489 §6.3.1). */
	uint16_t unknown[STUN_MAX_UNKNOWN];
	size_t n_unknown;
};

/* True if @buf starts like a STUN message: top two bits 0, magic cookie at bytes 4-7, length a
 * multiple of 4. Cheap: used to demultiplex STUN from ChannelData and other protocols. */
bool stun_is_message(const uint8_t *buf, size_t len);

/*
 * Parses one STUN message from @buf (@len bytes; extra bytes after the message are ignored, as over
 * TCP). Attributes after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, and
 * after MESSAGE-INTEGRITY-SHA256 other than FINGERPRINT, are ignored (RFC 8489 §14.5, §14.6);
 * FINGERPRINT must be the last attribute and, if present, is verified.
 * Returns 0; -EBADMSG if the bytes are not a well-formed STUN message (bad header, length, attribute
 * overrun, too many attributes, a MESSAGE-INTEGRITY(-SHA256) of a wrong length, wrong fingerprint).
 */
int stun_msg_parse(struct stun_msg *m, const uint8_t *buf, size_t len);

/* The first attribute of @type, or NULL. */
const struct stun_attr *stun_msg_attr(const struct stun_msg *m, uint16_t type);

/* Decodes an XOR-*-ADDRESS attribute (RFC 8489 §14.2) into @out. Returns 0; -EBADMSG if malformed;
 * -EAFNOSUPPORT for an unknown family byte. */
int stun_attr_xor_addr(const struct stun_msg *m, const struct stun_attr *a,
		       struct sockaddr_storage *out);

/* Decodes a 4-byte attribute (LIFETIME, CHANNEL-NUMBER, REQUESTED-TRANSPORT, ...) in host order.
 * Returns 0, or -EBADMSG if the length is not 4. */
int stun_attr_u32(const struct stun_attr *a, uint32_t *out);

/* Decodes ERROR-CODE (RFC 8489 §14.8): @code is 300..699, @reason points into the message and is
 * @reason_len bytes (not NUL-terminated). Returns 0, or -EBADMSG. */
int stun_attr_error_code(const struct stun_attr *a, int *code, const char **reason,
			 size_t *reason_len);

/* Checks MESSAGE-INTEGRITY (HMAC-SHA1 with @key, RFC 8489 §14.5) in constant time.
 * Returns 0 if it matches; -ENOENT if the message has none; -EACCES if it does not match. */
int stun_msg_check_integrity(const struct stun_msg *m, const uint8_t *key, size_t keylen);

/* Checks MESSAGE-INTEGRITY-SHA256 (HMAC-SHA256 with @key, RFC 8489 §14.6), possibly truncated to
 * 16..32 bytes, in constant time. Returns 0 if it matches; -ENOENT if the message has none;
 * -EACCES if it does not match. */
int stun_msg_check_integrity_sha256(const struct stun_msg *m, const uint8_t *key, size_t keylen);

/* Creates this thread's hashing contexts now (they are otherwise made on first use) and runs each
 * once, so that a thread's first request does not pay OpenSSL's one-time set-up in its latency.
 * Optional. Returns 0; -ENOMEM if OpenSSL or memory fails (the contexts are then retried on
 * first use). */
int stun_crypto_thread_init(void);

/* The long-term credential key MD5(username ":" realm ":" password) (RFC 8489 §9.2.2). The
 * strings are used as given (the caller applies OpaqueString if it wants to). */
void stun_ltc_key(const char *username, size_t ulen, const char *realm, size_t rlen,
		  const char *password, size_t plen, uint8_t key[16]);

/* The long-term credential key of password algorithm @alg (RFC 8489 §9.2.2, §18.5): MD5 (16 bytes)
 * or SHA-256 (32 bytes) of username ":" realm ":" password, into @key (STUN_KEY_MAX bytes).
 * Returns the key length in bytes, or -EINVAL for another algorithm. */
int stun_ltc_key_alg(uint16_t alg, const char *username, size_t ulen, const char *realm,
		     size_t rlen, const char *password, size_t plen, uint8_t key[STUN_KEY_MAX]);


/* USERHASH (RFC 8489 §14.4): SHA-256(username ":" realm) into @out. */
void stun_userhash(const char *username, size_t ulen, const char *realm, size_t rlen,
		   uint8_t out[STUN_USERHASH_LEN]);

/* Decodes ADDRESS-ERROR-CODE (RFC 8656 §18.12): @family (0x01 IPv4, 0x02 IPv6) and @code. Returns
 * 0, or -EBADMSG if shorter than 4 bytes or the class or number is out of range. */
int stun_attr_address_error(const struct stun_attr *a, uint8_t *family, int *code);

/* Decodes PASSWORD-ALGORITHM (RFC 8489 §14.12): the algorithm number (host order) into @alg; its
 * parameters, if any, are not looked at. Returns 0, or -EBADMSG if the value is shorter than 4
 * bytes or its parameter length overruns it. */
int stun_attr_password_algorithm(const struct stun_attr *a, uint16_t *alg);

/* True if PASSWORD-ALGORITHMS @a (RFC 8489 §14.11) lists @alg. Malformed lists list nothing. */
bool stun_attr_algorithms_has(const struct stun_attr *a, uint16_t alg);

/* Builds a message into a caller buffer. The first error (no room, bad argument) sticks. */
struct stun_builder {
	uint8_t *buf;
	size_t cap;     /* bytes */
	size_t len;     /* bytes written so far */
	int err;        /* 0 or the first negative errno */
};

/* Starts a message of @method and @cls with transaction id @tid (12 bytes). */
void stun_build_init(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
		     uint16_t cls, const uint8_t tid[STUN_TID_LEN]);

/* Appends an attribute with @len bytes of @val, zero-padded to a multiple of 4. */
void stun_build_attr(struct stun_builder *b, uint16_t type, const void *val, size_t len);

/* Appends a 4-byte attribute holding @v (host order in, network order on the wire). */
void stun_build_u32(struct stun_builder *b, uint16_t type, uint32_t v);

/* Appends an XOR-*-ADDRESS attribute for @a (RFC 8489 §14.2; the IPv6 form XORs with cookie+tid). */
void stun_build_xor_addr(struct stun_builder *b, uint16_t type, const struct sockaddr_storage *a);

/* Appends ERROR-CODE with @code (300..699) and @reason (may be NULL for none). */
void stun_build_error(struct stun_builder *b, int code, const char *reason);

/* Appends ADDRESS-ERROR-CODE (RFC 8656 §18.12): the family (0x01 IPv4, 0x02 IPv6) whose relayed
 * address could not be allocated and the error @code (300..699), no reason phrase. */
void stun_build_address_error(struct stun_builder *b, uint8_t family, int code);

/* Appends UNKNOWN-ATTRIBUTES listing @n types. */
void stun_build_unknown(struct stun_builder *b, const uint16_t *types, size_t n);

/* Appends MESSAGE-INTEGRITY: HMAC-SHA1 with @key over the message so far, with the header length
 * counting the MESSAGE-INTEGRITY attribute (RFC 8489 §14.5). */
void stun_build_integrity(struct stun_builder *b, const uint8_t *key, size_t keylen);

/* Appends MESSAGE-INTEGRITY-SHA256 (32 bytes): HMAC-SHA256 with @key over the message so far, the
 * header length counting the attribute (RFC 8489 §14.6). Only FINGERPRINT may follow it. */
void stun_build_integrity_sha256(struct stun_builder *b, const uint8_t *key, size_t keylen);

/* Appends FINGERPRINT (RFC 8489 §14.7). Must be the last attribute. */
void stun_build_fingerprint(struct stun_builder *b);

/* Sets the header length field and returns the total message length in @len.
 * Returns 0, or the sticky error (-ENOSPC: @cap too small; -EINVAL: bad argument). */
int stun_build_finish(struct stun_builder *b, size_t *len);

/*
 * ChannelData (RFC 8656 §12.4). RFC 8656 §12 has clients pick channels in 0x4000-0x4FFF, but
 * RFC 5766 §11, which it obsoletes, allowed 0x4000-0x7FFF, and clients written to it still pick
 * from the whole range (coturn's turnutils_uclient does; coturn and pion servers accept it).
 * Refusing them would break those clients for nothing: on a TURN server's client-facing socket
 * only STUN and ChannelData arrive, and first bytes 0x50-0x7F collide with no other protocol there
 * (RFC 7983). So tincan accepts the RFC 5766 range; a deliberate, documented deviation.
 */
#define TURN_CHANNEL_MIN 0x4000
#define TURN_CHANNEL_MAX 0x7FFF
#define TURN_CHANNELDATA_HDR 4

/* True if @buf starts with a byte in 0x40..0x7F (a ChannelData message, RFC 8656 §12.4). */
bool turn_is_channeldata(const uint8_t *buf, size_t len);

/* Parses a ChannelData message: @channel (host order), @data points into @buf, @data_len bytes.
 * Over UDP @len may exceed 4 + data_len (padding). Returns 0, or -EBADMSG (short, or channel outside TURN_CHANNEL_MIN..MAX). */
int turn_channeldata_parse(const uint8_t *buf, size_t len, uint16_t *channel,
			   const uint8_t **data, uint16_t *data_len);

/* Writes the 4-byte ChannelData header for @channel and @data_len (host order). */
void turn_channeldata_header(uint8_t hdr[TURN_CHANNELDATA_HDR], uint16_t channel,
			     uint16_t data_len);

#endif
