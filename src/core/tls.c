/*
 * tls: the shared port's certificate and server SSL_CTX; see tls.h.
 *
 * Files are read into memory and parsed with OpenSSL's PEM readers (never with a password
 * prompt: an encrypted key is an error, not a question on a terminal nobody watches). The SSL_CTX
 * pointer is the only state shared between threads; a mutex guards it so that taking a reference
 * (tls_server_ctx) and swapping it (tls_server_reload) never race: an SSL_CTX is freed only when
 * the last connection using it is gone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/log.h"
#include "core/tls.h"

/* TLS 1.2 suites: forward secret AEAD only (Mozilla's "intermediate" profile without DHE).
 * TLS 1.3 keeps OpenSSL's default suites. */
#define TLS12_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_GROUPS "X25519:P-256:P-384"
#define PEM_FILE_MAX (1 << 20) /* a certificate chain or key file larger than 1 MiB is a mistake */

struct tls_server {
	pthread_mutex_t lock;
	SSL_CTX *ctx;                 /* guarded by lock */
	struct tls_cert_info info;    /* guarded by lock */
	char cert[PATH_MAX];
	char key[PATH_MAX];
	char host[256];
	bool self_signed;
};

/* Writes "FILE: WHAT: LIBRARY: REASON" (the last OpenSSL error, if any), clears OpenSSL's error
 * queue and returns @rc. */
static int fail_ssl(char *err, size_t errlen, int rc, const char *file, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	const char *lib = e ? ERR_lib_error_string(e) : NULL;
	const char *reason = e ? ERR_reason_error_string(e) : NULL;

	if (reason)
		snprintf(err, errlen, "%s: %s: %s%s%s", file, what, lib ? lib : "", lib ? ": " : "",
			 reason);
	else
		snprintf(err, errlen, "%s: %s", file, what);
	ERR_clear_error();
	return rc;
}

static int fail(char *err, size_t errlen, int rc, const char *file, const char *what)
{
	snprintf(err, errlen, "%s: %s", file, what);
	return rc;
}

/*
 * Reads @path (a regular file of at most PEM_FILE_MAX bytes) into a new buffer. A @secret file
 * must not be readable or writable by other users (as turn.secret_file). The caller frees the
 * buffer with OPENSSL_clear_free(*buf, *len).
 */
static int read_file(const char *path, bool secret, char **buf, size_t *len, char *err,
		     size_t errlen)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
		return -e;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, errlen, -EINVAL, path, "not a regular file");
	}
	if (secret && (st.st_mode & (S_IROTH | S_IWOTH))) {
		close(fd);
		return fail(err, errlen, -EINVAL, path,
			    "private key readable or writable by other users: chmod o-rwx it");
	}
	if (st.st_size <= 0 || st.st_size > PEM_FILE_MAX) {
		close(fd);
		return fail(err, errlen, -EINVAL, path, st.st_size ? "larger than 1 MiB" : "empty");
	}
	*buf = OPENSSL_malloc((size_t)st.st_size);
	if (!*buf) {
		close(fd);
		return fail(err, errlen, -ENOMEM, path, "out of memory");
	}
	while (got < (size_t)st.st_size && (n = read(fd, *buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	e = errno;
	close(fd);
	if (got == 0) {
		OPENSSL_clear_free(*buf, (size_t)st.st_size);
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
		return -EIO;
	}
	*len = got;
	return 0;
}

/* Never asks for a password; notes that one was wanted. */
static int no_password(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	*(bool *)arg = true;
	return -1;
}

/* The credentials read from the files. */
struct creds {
	X509 *leaf;
	STACK_OF(X509) *chain;
	EVP_PKEY *key;
};

static void creds_free(struct creds *c)
{
	X509_free(c->leaf);
	sk_X509_pop_free(c->chain, X509_free);
	EVP_PKEY_free(c->key);
	memset(c, 0, sizeof(*c));
}

/* Reads the leaf and its chain from @cert_path, the key from @key_path. */
static int creds_load(struct creds *c, const char *cert_path, const char *key_path, char *err,
		      size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	bool wanted_password = false;
	unsigned long e;
	BIO *b;
	X509 *x;
	int rc;

	memset(c, 0, sizeof(*c));
	ERR_clear_error();

	/* The certificate file: the leaf first, then the intermediates (fullchain.pem). */
	rc = read_file(cert_path, false, &buf, &len, err, errlen);
	if (rc)
		return rc;
	b = BIO_new_mem_buf(buf, (int)len);
	c->chain = sk_X509_new_null();
	if (!b || !c->chain) {
		rc = fail_ssl(err, errlen, -ENOMEM, cert_path, "out of memory");
		goto out;
	}
	c->leaf = PEM_read_bio_X509_AUX(b, NULL, NULL, NULL);
	if (!c->leaf) {
		rc = fail_ssl(err, errlen, -EINVAL, cert_path, "no PEM certificate");
		goto out;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
		if (!sk_X509_push(c->chain, x)) {
			X509_free(x);
			rc = fail_ssl(err, errlen, -ENOMEM, cert_path, "out of memory");
			goto out;
		}
	/* The loop ends at the end of the file ("no start line"), or at a broken certificate. */
	e = ERR_peek_last_error();
	if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
		rc = fail_ssl(err, errlen, -EINVAL, cert_path, "broken certificate in the chain");
		goto out;
	}
	ERR_clear_error();
	BIO_free(b);
	OPENSSL_clear_free(buf, len);
	buf = NULL;

	/* The key file. */
	rc = read_file(key_path, true, &buf, &len, err, errlen);
	if (rc)
		goto out_nobio;
	b = BIO_new_mem_buf(buf, (int)len);
	if (!b) {
		rc = fail_ssl(err, errlen, -ENOMEM, key_path, "out of memory");
		goto out_nobio;
	}
	c->key = PEM_read_bio_PrivateKey(b, NULL, no_password, &wanted_password);
	if (!c->key) {
		rc = wanted_password
			     ? fail(err, errlen, -EINVAL, key_path,
				    "the private key is encrypted: tincand needs it without a passphrase")
			     : fail_ssl(err, errlen, -EINVAL, key_path, "no PEM private key");
		ERR_clear_error();
		goto out;
	}
	if (!X509_check_private_key(c->leaf, c->key)) {
		rc = fail_ssl(err, errlen, -EINVAL, key_path,
			      "the private key does not belong to the certificate");
		goto out;
	}
	rc = 0;
out:
	BIO_free(b);
out_nobio:
	if (buf)
		OPENSSL_clear_free(buf, len);
	if (rc)
		creds_free(c);
	return rc;
}

/* Selects "stun.turn" if the client offers it (RFC 7443); otherwise no ALPN at all, which lets
 * clients that offer none or other names (Chromium's TURN/TLS offers none) go on. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	static const char turn[] = TLS_ALPN_STUN_TURN;
	(void)ssl;
	(void)arg;

	for (unsigned i = 0; i < inlen;) {
		unsigned n = in[i];
		if (n == 0 || i + 1 + n > inlen)
			break;
		if (n == sizeof(turn) - 1 && memcmp(in + i + 1, turn, n) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)n;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

static void cert_info(X509 *leaf, bool self_signed, struct tls_cert_info *info)
{
	BIO *b = BIO_new(BIO_s_mem());
	struct tm tm;
	unsigned n = 0;

	memset(info, 0, sizeof(*info));
	info->self_signed = self_signed;
	if (b && X509_NAME_print_ex(b, X509_get_subject_name(leaf), 0,
				    XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		int k = BIO_read(b, info->subject, sizeof(info->subject) - 1);
		info->subject[k > 0 ? k : 0] = '\0';
	}
	BIO_free(b);
	if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm)) {
		info->expires = timegm(&tm);
		strftime(info->not_after, sizeof(info->not_after), "%Y-%m-%d %H:%M:%S UTC", &tm);
	}
	X509_digest(leaf, EVP_sha256(), info->sha256, &n);
}

/* Builds the server SSL_CTX from @c. */
static int ctx_build(const struct creds *c, const char *cert_path, SSL_CTX **out, char *err,
		     size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		return fail_ssl(err, errlen, -EIO, cert_path, "cannot create an SSL_CTX");
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) ||
	    !SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) ||
	    !SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"tincan", 6)) {
		SSL_CTX_free(ctx);
		return fail_ssl(err, errlen, -EIO, cert_path, "cannot set the TLS parameters");
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	/* Idle TURN/TLS connections (most of a call's life between packets) give back their read
	 * and write buffers. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	/* The key was checked against the leaf in creds_load(); this checks it once more. */
	if (!SSL_CTX_use_cert_and_key(ctx, c->leaf, c->key, c->chain, 1) ||
	    !SSL_CTX_check_private_key(ctx)) {
		SSL_CTX_free(ctx);
		return fail_ssl(err, errlen, -EINVAL, cert_path, "cannot use the certificate");
	}
	*out = ctx;
	return 0;
}

/* Logs what was loaded, and warns about an ending certificate or one that does not name the
 * host browsers are sent to. */
static void log_loaded(const struct tls_server *srv, X509 *leaf, const struct tls_cert_info *info)
{
	time_t now = time(NULL);
	struct in6_addr ip6;
	struct in_addr ip4;
	int named;

	log_info("tls: certificate %s (%s), valid until %s%s", srv->cert, info->subject,
		 info->not_after, srv->self_signed ? ", self-signed" : "");
	if (info->expires && info->expires < now)
		log_warn("tls: the certificate %s expired on %s: browsers refuse it", srv->cert,
			 info->not_after);
	else if (info->expires && info->expires < now + TLS_EXPIRY_WARN_DAYS * 86400)
		log_warn("tls: the certificate %s expires on %s: renew it, then send SIGHUP",
			 srv->cert, info->not_after);
	if (!srv->host[0])
		return;
	if (inet_pton(AF_INET, srv->host, &ip4) == 1 || inet_pton(AF_INET6, srv->host, &ip6) == 1)
		named = X509_check_ip_asc(leaf, srv->host, 0);
	else
		named = X509_check_host(leaf, srv->host, 0, 0, NULL);
	if (named != 1)
		log_warn("tls: the certificate %s does not name %s, the host browsers are given: they will refuse it",
			 srv->cert, srv->host);
}

/* Loads the files of @srv into a new SSL_CTX and info. */
static int load(struct tls_server *srv, SSL_CTX **ctx, struct tls_cert_info *info, char *err,
		size_t errlen)
{
	struct creds c;
	int rc = creds_load(&c, srv->cert, srv->key, err, errlen);

	if (rc)
		return rc;
	rc = ctx_build(&c, srv->cert, ctx, err, errlen);
	if (!rc) {
		cert_info(c.leaf, srv->self_signed, info);
		log_loaded(srv, c.leaf, info);
	}
	creds_free(&c);
	return rc;
}

/* True if @path exists; -errno (other than ENOENT) if it cannot be told. */
static int exists(const char *path)
{
	struct stat st;
	if (lstat(path, &st) == 0)
		return 1;
	return errno == ENOENT ? 0 : -errno;
}

/* Fills srv->cert and srv->key from the options; makes the self-signed pair if needed. */
static int choose_files(struct tls_server *srv, const struct tls_options *opt, char *err,
			size_t errlen)
{
	bool have_cert = opt->certificate && *opt->certificate;
	bool have_key = opt->private_key && *opt->private_key;
	const char *dir = opt->state_dir;
	int hc, hk, rc;

	if (have_cert != have_key)
		return fail(err, errlen, -EINVAL, have_cert ? opt->certificate : opt->private_key,
			    "set both tls.certificate and tls.private_key, or neither");
	if (have_cert) {
		if (snprintf(srv->cert, sizeof(srv->cert), "%s", opt->certificate) >= PATH_MAX ||
		    snprintf(srv->key, sizeof(srv->key), "%s", opt->private_key) >= PATH_MAX)
			return fail(err, errlen, -ENAMETOOLONG, opt->certificate, "path too long");
		return 0;
	}

	if (!dir || !*dir)
		return fail(err, errlen, -EINVAL, "tls.state_dir",
			    "no certificate configured and no state directory for a self-signed one");
	srv->self_signed = true;
	if (snprintf(srv->cert, sizeof(srv->cert), "%s/%s", dir, TLS_SELF_SIGNED_CERT) >= PATH_MAX ||
	    snprintf(srv->key, sizeof(srv->key), "%s/%s", dir, TLS_SELF_SIGNED_KEY) >= PATH_MAX)
		return fail(err, errlen, -ENAMETOOLONG, dir, "path too long");
	hc = exists(srv->cert);
	hk = exists(srv->key);
	if (hc < 0 || hk < 0) {
		snprintf(err, errlen, "%s: %s", hc < 0 ? srv->cert : srv->key,
			 strerror(hc < 0 ? -hc : -hk));
		return hc < 0 ? hc : hk;
	}
	if (hc && hk)
		return 0;
	if (hc || hk) {
		snprintf(err, errlen,
			 "%s: exists but %s does not: remove it to have a new pair made, or configure tls.certificate",
			 hc ? srv->cert : srv->key, hc ? srv->key : srv->cert);
		return -EEXIST;
	}
	rc = tls_self_signed_create(srv->cert, srv->key, srv->host[0] ? srv->host : "localhost",
				    err, errlen);
	if (rc)
		return rc;
	log_notice("tls: no tls.certificate configured: made a self-signed certificate for %s (and localhost) in %s, valid %d days. Browsers do not trust it: configure tls.certificate and tls.private_key (e.g. Let's Encrypt's fullchain.pem and privkey.pem)",
		   srv->host[0] ? srv->host : "localhost", dir, TLS_SELF_SIGNED_DAYS);
	return 0;
}

int tls_server_new(struct tls_server **out, const struct tls_options *opt, char *err,
		   size_t errlen)
{
	struct tls_server *srv;
	int rc;

	if (!out || !opt)
		return -EINVAL;
	*out = NULL;
	if (errlen)
		err[0] = '\0';
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	pthread_mutex_init(&srv->lock, NULL);
	if (opt->host && strlen(opt->host) < sizeof(srv->host))
		strcpy(srv->host, opt->host);

	rc = choose_files(srv, opt, err, errlen);
	if (rc)
		goto out;
	rc = load(srv, &srv->ctx, &srv->info, err, errlen);
out:
	if (rc) {
		tls_server_free(srv);
		return rc;
	}
	*out = srv;
	return 0;
}

int tls_server_reload(struct tls_server *srv, bool *changed, char *err, size_t errlen)
{
	struct tls_cert_info info;
	SSL_CTX *ctx = NULL, *old;
	int rc;

	if (errlen)
		err[0] = '\0';
	rc = load(srv, &ctx, &info, err, errlen);
	if (rc)
		return rc;
	pthread_mutex_lock(&srv->lock);
	old = srv->ctx;
	if (changed)
		*changed = memcmp(info.sha256, srv->info.sha256, sizeof(info.sha256)) != 0;
	srv->ctx = ctx;
	srv->info = info;
	pthread_mutex_unlock(&srv->lock);
	/* Connections made with the old SSL_CTX hold their own references to it. */
	SSL_CTX_free(old);
	return 0;
}

SSL_CTX *tls_server_ctx(struct tls_server *srv)
{
	SSL_CTX *ctx;

	pthread_mutex_lock(&srv->lock);
	ctx = srv->ctx;
	SSL_CTX_up_ref(ctx);
	pthread_mutex_unlock(&srv->lock);
	return ctx;
}

void tls_server_info(struct tls_server *srv, struct tls_cert_info *out)
{
	pthread_mutex_lock(&srv->lock);
	*out = srv->info;
	pthread_mutex_unlock(&srv->lock);
}

const char *tls_server_cert_path(const struct tls_server *srv)
{
	return srv->cert;
}

const char *tls_server_key_path(const struct tls_server *srv)
{
	return srv->key;
}

void tls_server_free(struct tls_server *srv)
{
	if (!srv)
		return;
	SSL_CTX_free(srv->ctx);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

/* --- The self-signed certificate. --- */

/* Adds a subjectAltName entry: an IP address if @name parses as one, else a DNS name. */
static int san_add(GENERAL_NAMES *names, const char *name)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_OCTET_STRING *ip = a2i_IPADDRESS(name);

	ERR_clear_error(); /* a2i_IPADDRESS leaves an error for a non-IP */
	if (!gn) {
		ASN1_OCTET_STRING_free(ip);
		return -ENOMEM;
	}
	if (ip) {
		GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
	} else {
		ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
		if (!dns || !ASN1_STRING_set(dns, name, -1)) {
			ASN1_IA5STRING_free(dns);
			GENERAL_NAME_free(gn);
			return -ENOMEM;
		}
		GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
	}
	if (!sk_GENERAL_NAME_push(names, gn)) {
		GENERAL_NAME_free(gn);
		return -ENOMEM;
	}
	return 0;
}

/* A host name of letters, digits, '-' and '.', or an IP address: what may go into the
 * certificate (and nothing that could smuggle in another name). */
static bool host_ok(const char *host)
{
	size_t n = strlen(host);
	struct in6_addr ip6;

	if (n == 0 || n > 253)
		return false;
	if (inet_pton(AF_INET6, host, &ip6) == 1)
		return true;
	for (const char *c = host; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '.'))
			return false;
	return true;
}

static X509 *self_signed_build(EVP_PKEY *key, const char *host)
{
	static const char *const always[] = { "localhost", "127.0.0.1", "::1" };
	X509 *x = X509_new();
	X509_NAME *name = x ? X509_get_subject_name(x) : NULL;
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	GENERAL_NAMES *san = sk_GENERAL_NAME_new_null();
	X509_EXTENSION *ski = NULL;
	X509V3_CTX v3;
	BIGNUM *serial = BN_new();
	bool ok = x && name && bc && eku && san && serial;

	/* A random positive 127-bit serial; one hour of slack for clocks behind ours. */
	ok = ok && X509_set_version(x, X509_VERSION_3) &&
	     BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
	     BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) &&
	     X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
	     X509_time_adj_ex(X509_getm_notAfter(x), TLS_SELF_SIGNED_DAYS, 0, NULL);
	ok = ok && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					      (const unsigned char *)"tincan self-signed", -1, -1, 0) &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)
					(strlen(host) <= 64 ? host : "tincan"), -1, -1, 0) &&
	     X509_set_issuer_name(x, name) && X509_set_pubkey(x, key);

	/* A leaf, not a CA (Firefox refuses a CA certificate as a server's), for serving TLS. No
	 * keyUsage: with one lacking keyCertSign, OpenSSL would not see it as self-signed when a
	 * client trusts it directly. */
	if (ok) {
		bc->ca = 0;
		ok = X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) == 1 &&
		     sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)) &&
		     X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) == 1;
	}
	ok = ok && san_add(san, host) == 0;
	for (size_t i = 0; ok && i < sizeof(always) / sizeof(always[0]); i++)
		if (strcmp(host, always[i]) != 0)
			ok = san_add(san, always[i]) == 0;
	ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, san, 0, X509V3_ADD_DEFAULT) == 1;
	if (ok) {
		X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
		ski = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_key_identifier, "hash");
		ok = ski && X509_add_ext(x, ski, -1);
	}
	ok = ok && X509_sign(x, key, EVP_sha256()) > 0;

	X509_EXTENSION_free(ski);
	BN_free(serial);
	BASIC_CONSTRAINTS_free(bc);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	GENERAL_NAMES_free(san);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int write_key(BIO *b, void *obj)
{
	return PEM_write_bio_PrivateKey(b, obj, NULL, NULL, 0, NULL, NULL);
}

static int write_cert(BIO *b, void *obj)
{
	return PEM_write_bio_X509(b, obj);
}

/* Writes a new file @path with @mode without ever replacing one: a temporary
 * file in the same folder, synced, then link(2)ed to @path (EEXIST if it exists). @emit writes
 * the PEM. */
static int write_new(const char *path, mode_t mode, int (*emit)(BIO *, void *), void *obj,
		     char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	BIO *b;
	int fd, e, ok;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return fail(err, errlen, -ENAMETOOLONG, path, "path too long");
	fd = mkstemp(tmp);
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "%s: cannot create: %s", path, strerror(e));
		return -e;
	}
	b = BIO_new_fd(fd, BIO_NOCLOSE);
	ok = b && fchmod(fd, mode) == 0 && emit(b, obj) && BIO_flush(b) == 1 && fsync(fd) == 0;
	e = errno;
	BIO_free(b);
	close(fd);
	if (!ok) {
		unlink(tmp);
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(e ? e : EIO));
		ERR_clear_error();
		return -EIO;
	}
	if (link(tmp, path)) {
		e = errno;
		unlink(tmp);
		snprintf(err, errlen, "%s: %s", path,
			 e == EEXIST ? "exists: not replaced" : strerror(e));
		return -e;
	}
	unlink(tmp);
	return 0;
}

int tls_self_signed_create(const char *cert_path, const char *key_path, const char *host,
			   char *err, size_t errlen)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	int rc;

	if (!host_ok(host))
		return fail(err, errlen, -EINVAL, cert_path,
			    "the host name for the certificate must be a DNS name or an IP address");
	ERR_clear_error();
	key = EVP_EC_gen("P-256");
	if (!key)
		return fail_ssl(err, errlen, -EIO, key_path, "cannot generate an EC P-256 key");
	x = self_signed_build(key, host);
	if (!x) {
		EVP_PKEY_free(key);
		return fail_ssl(err, errlen, -EIO, cert_path, "cannot build the certificate");
	}
	rc = write_new(key_path, 0600, write_key, key, err, errlen);
	if (!rc) {
		rc = write_new(cert_path, 0644, write_cert, x, err, errlen);
		if (rc)
			unlink(key_path); /* made just now: no half pair left behind */
	}
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}
