/*
 * tls: the certificate of the shared port and the server SSL_CTX that tincand terminates TLS with
 * (TURN over TLS, and TLS connections whose first decrypted bytes decide where they go).
 *
 * The certificate is a configured PEM pair (e.g. Let's Encrypt's fullchain.pem and privkey.pem),
 * or, if none is configured, a self-signed pair in the state directory, generated at first start
 * and never overwritten. struct tls_server holds the SSL_CTX new connections get: a reload
 * (SIGHUP) builds a new one from the files and swaps it in; connections already made keep the
 * SSL_CTX they started with (each SSL holds a reference to it), so no call drops.
 * Errors name the file and the reason, OpenSSL's included.
 */
#ifndef TINCAN_CORE_TLS_H
#define TINCAN_CORE_TLS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

/* The self-signed pair's file names inside the state directory. */
#define TLS_SELF_SIGNED_CERT "selfsigned-cert.pem"
#define TLS_SELF_SIGNED_KEY "selfsigned-key.pem"
/* Its validity: 397 days, inside the 398-day limit clients put on server certificates, so a
 * client told to trust it accepts it. */
#define TLS_SELF_SIGNED_DAYS 397
/* A certificate closer than this to its end is logged as a warning at load and reload. */
#define TLS_EXPIRY_WARN_DAYS 14

/* The ALPN protocol of TURN over TLS (RFC 7443). */
#define TLS_ALPN_STUN_TURN "stun.turn"

struct tls_options {
	const char *certificate;  /* PEM file: the leaf certificate, then its chain; NULL or "" =
				   * self-signed in state_dir */
	const char *private_key;  /* PEM file of its key; set exactly when certificate is */
	const char *state_dir;    /* where the self-signed pair is kept */
	const char *host;         /* the self-signed certificate's name: a host name or an IP (the
				   * external address browsers use); localhost, 127.0.0.1 and ::1
				   * are always added */
};

/* What a loaded certificate is, for logs and metrics. */
struct tls_cert_info {
	char subject[256];        /* one line, e.g. "CN = call.example.org" */
	char not_after[32];       /* "2027-12-23 10:00:00 UTC" */
	time_t expires;           /* notAfter as a time_t */
	uint8_t sha256[32];       /* fingerprint of the leaf (DER) */
	bool self_signed;         /* the state-directory pair, not a configured one */
};

struct tls_server;

/*
 * Picks the certificate (configured, else self-signed: generated if state_dir has no pair yet,
 * which is logged), loads it and builds the server SSL_CTX. Returns 0; -EINVAL for unusable
 * options or files (wrong PEM, key not matching the certificate, key readable by other users);
 * -ENOENT / -EACCES for files that cannot be read; -EEXIST if only one file of the self-signed
 * pair exists; -EIO for an OpenSSL failure. On error writes "FILE: REASON" into @err.
 */
int tls_server_new(struct tls_server **out, const struct tls_options *opt, char *err,
		   size_t errlen);

/*
 * Reads the same files again and swaps the new SSL_CTX in for new connections. On error the
 * current one stays (and the error is returned as by tls_server_new()). Sets @changed (may be
 * NULL) to whether the certificate differs from the one before. Thread-safe.
 */
int tls_server_reload(struct tls_server *srv, bool *changed, char *err, size_t errlen);

/* The SSL_CTX for a new connection, with a reference the caller owns: SSL_new() it, then
 * SSL_CTX_free() it. Thread-safe; never NULL. */
SSL_CTX *tls_server_ctx(struct tls_server *srv);

/* The current certificate's facts. Thread-safe. */
void tls_server_info(struct tls_server *srv, struct tls_cert_info *out);

/* The files in use, e.g. to give libwebsockets the same certificate. Valid until
 * tls_server_free(). */
const char *tls_server_cert_path(const struct tls_server *srv);
const char *tls_server_key_path(const struct tls_server *srv);

/* Frees the server's reference; connections still holding the SSL_CTX keep it. @srv may be NULL. */
void tls_server_free(struct tls_server *srv);

/*
 * Writes a self-signed certificate (EC P-256, ECDSA-SHA256, TLS_SELF_SIGNED_DAYS days) for @host,
 * localhost, 127.0.0.1 and ::1 to @cert_path (0644) and its key to @key_path (0600). Never
 * replaces a file: each is written to a temporary name and linked into place, which fails with
 * -EEXIST if the name exists. Returns 0, or a negative errno with "FILE: REASON" in @err.
 */
int tls_self_signed_create(const char *cert_path, const char *key_path, const char *host,
			   char *err, size_t errlen);

#endif
