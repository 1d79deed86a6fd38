/*
 * turnclient: a tiny blocking TURN client over loopback UDP, TCP or TLS, built on stun.h, for
 * tests only.
 *
 * One struct tc is one client socket (one 5-tuple). Over TCP and TLS it frames the stream itself
 * (RFC 8656 §3.1, deliberately not with the server's code): tc_recv returns one frame, ChannelData
 * with its padding; tc_send_channel pads. tc_request() sends a request, waits for the
 * answer with the same transaction id and, when it has credentials, takes the REALM and NONCE (and
 * PASSWORD-ALGORITHMS) of a 401 or 438 and retries once: the "retry with the new nonce" logic lives
 * in one place. By default it authenticates as an RFC 5389 client (USERNAME, MESSAGE-INTEGRITY);
 * pwalg, userhash and mi256 make it speak RFC 8489 instead.
 */
#ifndef TINCAN_TESTS_TURNCLIENT_H
#define TINCAN_TESTS_TURNCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "turn/stun.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

struct tc {
	int fd;
	SSL_CTX *ctx;                    /* TLS only */
	SSL *ssl;                        /* TLS only */
	bool stream;                     /* TCP or TLS */
	uint8_t sbuf[65600];             /* a stream's received bytes not yet returned */
	size_t slen;
	struct sockaddr_storage server;
	struct sockaddr_storage local;   /* the socket's bound address */
	char user[128];
	char pass[128];
	char realm[128];                 /* learnt from 401 */
	char nonce[128];                 /* learnt from 401 / 438 */
	bool retry;                      /* retry once after 401/438 (default true) */
	bool no_fp;                      /* send requests without FINGERPRINT */
	uint16_t pwalg;                  /* 0: no PASSWORD-ALGORITHM(S); else the one to use */
	bool userhash;                   /* USERHASH instead of USERNAME */
	bool mi256;                      /* MESSAGE-INTEGRITY-SHA256 even without pwalg */
	uint8_t pwalgs[64];              /* PASSWORD-ALGORITHMS learnt from 401 / 438, echoed */
	size_t pwalgs_len;
	uint8_t rbuf[65600];
	size_t rlen;
	struct stun_msg resp;            /* last answer, points into rbuf */
	uint8_t tid[STUN_TID_LEN];       /* of the last request */
};

/* Adds a request's own attributes; called on each (re)try. */
typedef void (tc_attrs_h)(struct stun_builder *b, void *arg);

/* Opens a client socket on 127.0.0.1 (ephemeral port) talking to 127.0.0.1:@port. Returns 0 or
 * a negative errno. @user may be NULL for no credentials. */
int tc_open(struct tc *c, uint16_t port, const char *user, const char *pass);

/* Same, on the loopback address of the family of @server_ip, talking to @server_ip:@port. */
int tc_open_at(struct tc *c, const char *server_ip, uint16_t port, const char *user,
	       const char *pass);

/* Connects over TCP (or TLS, with @tls: TLS 1.2+, the server's certificate is not verified) to
 * 127.0.0.1:@port, from 127.0.0.1. Returns 0 or a negative errno. */
int tc_open_stream(struct tc *c, uint16_t port, bool tls, const char *user, const char *pass);

void tc_close(struct tc *c);

/* True if the server closes the stream within @ms (frames that arrive first are read and
 * dropped). */
bool tc_closed_by_server(struct tc *c, int ms);

/*
 * Sends a request of @method (attributes from @attrs, may be NULL) and waits up to 2 s for its
 * answer. With credentials and a known nonce it adds USERNAME, REALM, NONCE and
 * MESSAGE-INTEGRITY. Returns 0 for a success answer, the STUN error code (> 0) for an error
 * answer, or a negative errno (-ETIMEDOUT). The answer is in c->resp.
 */
int tc_request(struct tc *c, uint16_t method, tc_attrs_h *attrs, void *arg);

/* Builds the request tc_request would send (transaction id c->tid, credentials if a nonce is
 * known) into @buf (@cap bytes) without sending it. Returns its length or a negative errno. */
long tc_build(struct tc *c, uint16_t method, tc_attrs_h *attrs, void *arg, uint8_t *buf,
	      size_t cap);

/* Same, but sends the request with transaction id @tid (for retransmission tests). */
int tc_request_tid(struct tc *c, uint16_t method, tc_attrs_h *attrs, void *arg,
		   const uint8_t tid[STUN_TID_LEN]);

/* Allocate for UDP with the default lifetime; stores the relayed address in @relayed if
 * non-NULL. Returns as tc_request. */
int tc_allocate(struct tc *c, struct sockaddr_storage *relayed);

/* CreatePermission for one @peer. */
int tc_permission(struct tc *c, const struct sockaddr_storage *peer);

/* ChannelBind @num to @peer. */
int tc_channel_bind(struct tc *c, uint16_t num, const struct sockaddr_storage *peer);

/* The key the client authenticates with (its pwalg, MD5 if 0; SHA-256 for an algorithm stun.c
 * does not know). Returns its length. */
size_t tc_key(const struct tc *c, uint8_t key[STUN_KEY_MAX]);

/* Sends raw bytes to the server (a stream: all of them, as one write). Returns 0 or a negative
 * errno. */
int tc_send_raw(struct tc *c, const void *buf, size_t len);

/* The largest message tc_send_indication and tc_send_channel build (bytes): a ChannelData
 * message with 65535 bytes of data, padded; over UDP the kernel refuses what exceeds a
 * datagram (IPv4: 65507 bytes). */
#define TC_MSG_MAX 65540

/* Sends a Send indication of @len bytes to @peer. */
int tc_send_indication(struct tc *c, const struct sockaddr_storage *peer, const void *data,
		       size_t len);

/* Sends ChannelData on @num (padded to 4 bytes on a stream). */
int tc_send_channel(struct tc *c, uint16_t num, const void *data, size_t len);

/* Waits up to @ms for one datagram (a stream: one frame) from the server into c->rbuf. Returns its
 * length or a negative errno (-ETIMEDOUT; -EPIPE: the server closed the stream). */
long tc_recv(struct tc *c, int ms);

/* Waits up to @ms for one datagram on @fd; stores the sender in @from if non-NULL. Returns its
 * length or a negative errno. */
long udp_recv(int fd, void *buf, size_t cap, struct sockaddr_storage *from, int ms);

/* A UDP socket bound to 127.0.0.1 on an ephemeral port; its address in @addr. Returns the fd. */
int udp_peer(struct sockaddr_storage *addr);

/* Same, bound to @ip (e.g. "::1"). Returns the fd or a negative errno. */
int udp_peer_ip(const char *ip, struct sockaddr_storage *addr);

/* Fills @tid with random bytes. */
void tc_random_tid(uint8_t tid[STUN_TID_LEN]);

#endif
