/*
 * Unit tests of src/core/tls: the self-signed certificate, loading configured files, the server
 * SSL_CTX (real handshakes over a BIO pair, ALPN, versions), reload, and errors on bad files.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/log.h"
#include "core/tls.h"

/* --- Helpers. --- */

static char dir[64];

static void dir_make(void)
{
	strcpy(dir, "/tmp/tincan-tls-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void dir_remove(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
	rmdir(dir);
}

/* "DIR/NAME" in a static buffer (4 slots, so a call can take a few). */
static const char *in_dir(const char *name)
{
	static char buf[4][512];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
	return buf[k];
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;
	long n;

	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	s = calloc(1, (size_t)n + 1);
	ck_assert_int_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return s;
}

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;
	ck_assert_ptr_nonnull(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(x);
	return x;
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_mode & 07777;
}

/* A client SSL_CTX that trusts exactly @cert_path and verifies the server. */
static SSL_CTX *client_ctx(const char *cert_path)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	X509 *x = read_cert(cert_path);

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(X509_STORE_add_cert(SSL_CTX_get_cert_store(c), x), 1);
	X509_free(x);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	return c;
}

struct hs_result {
	int ok;                  /* both sides finished the handshake */
	char alpn[32];           /* selected protocol, "" for none */
	char cn[128];            /* CN of the certificate the client got */
	long verify;             /* client's verify result */
};

/* Runs a handshake between @s (server) and a client from @cctx over an in-memory BIO pair. The
 * client offers @alpn (wire format, may be NULL) and checks the name @host (an IP if it has a ':'
 * or only digits and dots; NULL: no name check). */
static struct hs_result handshake(SSL *s, SSL_CTX *cctx, const char *alpn, size_t alpn_len,
				  const char *host)
{
	struct hs_result r = { 0 };
	SSL *c = SSL_new(cctx);
	BIO *sb, *cb;
	X509 *peer;
	const unsigned char *sel;
	unsigned sel_len = 0;
	int cdone = 0, sdone = 0;

	ck_assert_int_eq(BIO_new_bio_pair(&sb, 0, &cb, 0), 1);
	SSL_set_bio(s, sb, sb);
	SSL_set_bio(c, cb, cb);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	if (alpn)
		ck_assert_int_eq(SSL_set_alpn_protos(c, (const unsigned char *)alpn, (unsigned)alpn_len), 0);
	if (host && strspn(host, "0123456789.:") == strlen(host))
		ck_assert_int_eq(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c), host), 1);
	else if (host)
		ck_assert_int_eq(SSL_set1_host(c, host), 1);

	for (int i = 0; i < 50 && !(cdone && sdone); i++) {
		int rc;
		if (!cdone) {
			rc = SSL_do_handshake(c);
			if (rc == 1)
				cdone = 1;
			else if (SSL_get_error(c, rc) != SSL_ERROR_WANT_READ)
				break;
		}
		if (!sdone) {
			rc = SSL_do_handshake(s);
			if (rc == 1)
				sdone = 1;
			else if (SSL_get_error(s, rc) != SSL_ERROR_WANT_READ)
				break;
		}
	}
	r.ok = cdone && sdone;
	r.verify = SSL_get_verify_result(c);
	SSL_get0_alpn_selected(c, &sel, &sel_len);
	snprintf(r.alpn, sizeof(r.alpn), "%.*s", (int)sel_len, sel ? (const char *)sel : "");
	peer = SSL_get1_peer_certificate(c);
	if (peer) {
		X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, r.cn,
					  sizeof(r.cn));
		X509_free(peer);
	}
	SSL_free(c);
	ERR_clear_error();
	return r;
}

/* A handshake with a fresh server SSL from @srv. */
static struct hs_result connect_to(struct tls_server *srv, SSL_CTX *cctx, const char *alpn,
				   size_t alpn_len, const char *host)
{
	SSL_CTX *sctx = tls_server_ctx(srv);
	SSL *s = SSL_new(sctx);
	struct hs_result r;

	SSL_CTX_free(sctx); /* the SSL holds its own reference */
	r = handshake(s, cctx, alpn, alpn_len, host);
	SSL_free(s);
	return r;
}

#define ALPN(s) s, sizeof(s) - 1

/* --- Tests. --- */

/* Pins: with no certificate configured, a self-signed pair is made in the state directory (key
 * 0600, certificate 0644, EC P-256, a leaf, 397 days, SAN = the host + localhost, 127.0.0.1, ::1)
 * and a second start uses it again unchanged. */
START_TEST(test_self_signed_first_start)
{
	struct tls_options opt = { .state_dir = NULL, .host = "call.example.org" };
	struct tls_server *srv = NULL;
	struct tls_cert_info info, again;
	char err[512];
	X509 *x;
	EVP_PKEY *pub;
	char *pem1, *pem2;
	long days;

	dir_make();
	opt.state_dir = dir;
	ck_assert_msg(tls_server_new(&srv, &opt, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(tls_server_cert_path(srv), in_dir(TLS_SELF_SIGNED_CERT));
	ck_assert_str_eq(tls_server_key_path(srv), in_dir(TLS_SELF_SIGNED_KEY));
	ck_assert_int_eq(mode_of(in_dir(TLS_SELF_SIGNED_KEY)), 0600);
	ck_assert_int_eq(mode_of(in_dir(TLS_SELF_SIGNED_CERT)), 0644);
	tls_server_info(srv, &info);
	ck_assert(info.self_signed);
	ck_assert_ptr_nonnull(strstr(info.subject, "CN = call.example.org"));
	days = (long)(info.expires - time(NULL)) / 86400;
	ck_assert_int_ge(days, TLS_SELF_SIGNED_DAYS - 1);
	ck_assert_int_le(days, TLS_SELF_SIGNED_DAYS);

	x = read_cert(in_dir(TLS_SELF_SIGNED_CERT));
	ck_assert_int_eq(X509_check_host(x, "call.example.org", 0, 0, NULL), 1);
	ck_assert_int_eq(X509_check_host(x, "localhost", 0, 0, NULL), 1);
	ck_assert_int_eq(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
	ck_assert_int_eq(X509_check_ip_asc(x, "::1", 0), 1);
	ck_assert_int_eq(X509_check_host(x, "other.example.org", 0, 0, NULL), 0);
	ck_assert_int_eq(X509_check_ca(x), 0);
	ck_assert_int_eq(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 1);
	pub = X509_get0_pubkey(x);
	ck_assert_int_eq(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
	ck_assert_int_eq(EVP_PKEY_get_bits(pub), 256);
	X509_free(x);
	tls_server_free(srv);

	/* Second start: same files, same certificate. */
	pem1 = slurp(in_dir(TLS_SELF_SIGNED_CERT));
	ck_assert_msg(tls_server_new(&srv, &opt, err, sizeof(err)) == 0, "%s", err);
	tls_server_info(srv, &again);
	ck_assert_mem_eq(info.sha256, again.sha256, sizeof(info.sha256));
	pem2 = slurp(in_dir(TLS_SELF_SIGNED_CERT));
	ck_assert_str_eq(pem1, pem2);
	free(pem1);
	free(pem2);
	tls_server_free(srv);
	dir_remove();
}
END_TEST

/* Pins: a client that trusts the self-signed certificate verifies it by host name and by IP; the
 * server picks stun.turn when offered (RFC 7443), and no ALPN for h2 or no ALPN at all (those
 * connections are not TURN); a client capped at TLS 1.1 is refused. */
START_TEST(test_handshakes)
{
	struct tls_options opt = { .host = "127.0.0.1" };
	struct tls_server *srv;
	struct hs_result r;
	SSL_CTX *cctx;
	char err[512];

	dir_make();
	opt.state_dir = dir;
	ck_assert_msg(tls_server_new(&srv, &opt, err, sizeof(err)) == 0, "%s", err);
	cctx = client_ctx(in_dir(TLS_SELF_SIGNED_CERT));

	r = connect_to(srv, cctx, ALPN("\x09stun.turn"), "localhost");
	ck_assert_msg(r.ok && r.verify == X509_V_OK, "verify %ld", r.verify);
	ck_assert_str_eq(r.alpn, "stun.turn");
	ck_assert_str_eq(r.cn, "127.0.0.1");

	r = connect_to(srv, cctx, ALPN("\x02h2\x09stun.turn"), "127.0.0.1");
	ck_assert(r.ok && r.verify == X509_V_OK);
	ck_assert_str_eq(r.alpn, "stun.turn");

	r = connect_to(srv, cctx, ALPN("\x02h2\x08http/1.1"), "::1");
	ck_assert(r.ok && r.verify == X509_V_OK);
	ck_assert_str_eq(r.alpn, "");

	r = connect_to(srv, cctx, NULL, 0, NULL);
	ck_assert(r.ok);
	ck_assert_str_eq(r.alpn, "");

	/* A name the certificate does not carry fails verification. */
	r = connect_to(srv, cctx, NULL, 0, "call.example.org");
	ck_assert(!r.ok);
	ck_assert_int_eq(r.verify, X509_V_ERR_HOSTNAME_MISMATCH);

	/* TLS 1.1 and older are refused. */
	SSL_CTX_set_min_proto_version(cctx, TLS1_VERSION);
	SSL_CTX_set_max_proto_version(cctx, TLS1_1_VERSION);
	SSL_CTX_set_security_level(cctx, 0);
	r = connect_to(srv, cctx, NULL, 0, NULL);
	ck_assert(!r.ok);

	SSL_CTX_free(cctx);
	tls_server_free(srv);
	dir_remove();
}
END_TEST

/* Pins: reload with new files swaps the certificate for new connections only: an SSL made
 * before the reload still completes its handshake with the old certificate after the server
 * dropped its reference; a reload with unchanged files reports "not changed". */
START_TEST(test_reload)
{
	struct tls_options opt;
	struct tls_server *srv;
	struct tls_cert_info before, after;
	struct hs_result r;
	SSL_CTX *trust_a, *trust_b, *old_ctx;
	SSL *old_conn;
	bool changed = true;
	char err[512];

	dir_make();
	/* Pair A in the configured files; pair B aside. */
	ck_assert_int_eq(tls_self_signed_create(in_dir("a.pem"), in_dir("a.key"), "a.example", err,
						sizeof(err)), 0);
	ck_assert_int_eq(tls_self_signed_create(in_dir("b.pem"), in_dir("b.key"), "b.example", err,
						sizeof(err)), 0);
	ck_assert_int_eq(link(in_dir("a.pem"), in_dir("cert.pem")), 0);
	ck_assert_int_eq(link(in_dir("a.key"), in_dir("key.pem")), 0);
	opt = (struct tls_options){ .certificate = in_dir("cert.pem"), .private_key = in_dir("key.pem"),
				    .state_dir = dir, .host = "a.example" };
	ck_assert_msg(tls_server_new(&srv, &opt, err, sizeof(err)) == 0, "%s", err);
	tls_server_info(srv, &before);
	ck_assert(!before.self_signed);
	trust_a = client_ctx(in_dir("a.pem"));
	trust_b = client_ctx(in_dir("b.pem"));

	/* Unchanged files. */
	ck_assert_int_eq(tls_server_reload(srv, &changed, err, sizeof(err)), 0);
	ck_assert(!changed);

	/* A connection accepted before the reload. */
	old_ctx = tls_server_ctx(srv);
	old_conn = SSL_new(old_ctx);
	SSL_CTX_free(old_ctx);

	/* Renewal: the files now hold pair B (as certbot's symlinks would). */
	ck_assert_int_eq(rename(in_dir("b.pem"), in_dir("cert.pem")), 0);
	ck_assert_int_eq(rename(in_dir("b.key"), in_dir("key.pem")), 0);
	ck_assert_msg(tls_server_reload(srv, &changed, err, sizeof(err)) == 0, "%s", err);
	ck_assert(changed);
	tls_server_info(srv, &after);
	ck_assert_mem_ne(before.sha256, after.sha256, sizeof(after.sha256));
	ck_assert_ptr_nonnull(strstr(after.subject, "CN = b.example"));

	/* New connections get B... */
	r = connect_to(srv, trust_b, NULL, 0, "b.example");
	ck_assert(r.ok && r.verify == X509_V_OK);
	ck_assert_str_eq(r.cn, "b.example");
	/* ...the old one still has A, even with the server's reference to A gone. */
	r = handshake(old_conn, trust_a, NULL, 0, "a.example");
	ck_assert(r.ok && r.verify == X509_V_OK);
	ck_assert_str_eq(r.cn, "a.example");
	SSL_free(old_conn);

	SSL_CTX_free(trust_a);
	SSL_CTX_free(trust_b);
	tls_server_free(srv);
	dir_remove();
}
END_TEST

/* Pins: a reload from broken files fails with the file and reason and keeps serving the
 * certificate it had. */
START_TEST(test_reload_keeps_old_on_error)
{
	struct tls_options opt = { .host = "localhost" };
	struct tls_server *srv;
	struct tls_cert_info before, after;
	struct hs_result r;
	SSL_CTX *cctx;
	char err[512];

	dir_make();
	opt.state_dir = dir;
	ck_assert_int_eq(tls_server_new(&srv, &opt, err, sizeof(err)), 0);
	tls_server_info(srv, &before);
	cctx = client_ctx(in_dir(TLS_SELF_SIGNED_CERT));
	/* Keep a copy to trust, then break the file. */
	write_text(in_dir(TLS_SELF_SIGNED_CERT), "-----BEGIN CERTIFICATE-----\nnot base64\n", 0644);
	ck_assert_int_eq(tls_server_reload(srv, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, TLS_SELF_SIGNED_CERT ": no PEM certificate: "), "%s", err);
	tls_server_info(srv, &after);
	ck_assert_mem_eq(before.sha256, after.sha256, sizeof(after.sha256));
	r = connect_to(srv, cctx, NULL, 0, "localhost");
	ck_assert(r.ok && r.verify == X509_V_OK);
	SSL_CTX_free(cctx);
	tls_server_free(srv);
	dir_remove();
}
END_TEST

/* Pins: the self-signed pair is never overwritten: an existing file makes creation fail with
 * -EEXIST and stays as it was; half a pair in the state directory is an error, not a
 * regeneration; no key is left behind when the certificate cannot be written. */
START_TEST(test_never_overwrite)
{
	struct tls_options opt = { .host = "localhost" };
	struct tls_server *srv = NULL;
	char err[512], *text;

	dir_make();
	opt.state_dir = dir;
	write_text(in_dir("mine.pem"), "precious\n", 0644);
	ck_assert_int_eq(tls_self_signed_create(in_dir("mine.pem"), in_dir("new.key"), "localhost",
						err, sizeof(err)), -EEXIST);
	ck_assert_msg(strstr(err, "mine.pem: exists: not replaced"), "%s", err);
	text = slurp(in_dir("mine.pem"));
	ck_assert_str_eq(text, "precious\n");
	free(text);
	ck_assert_int_eq(access(in_dir("new.key"), F_OK), -1);

	write_text(in_dir(TLS_SELF_SIGNED_KEY), "half a pair\n", 0600);
	ck_assert_int_eq(tls_server_new(&srv, &opt, err, sizeof(err)), -EEXIST);
	ck_assert_ptr_null(srv);
	ck_assert_msg(strstr(err, TLS_SELF_SIGNED_KEY ": exists but ") &&
		      strstr(err, TLS_SELF_SIGNED_CERT " does not"), "%s", err);
	text = slurp(in_dir(TLS_SELF_SIGNED_KEY));
	ck_assert_str_eq(text, "half a pair\n");
	free(text);
	dir_remove();
}
END_TEST

/* Writes an encrypted copy of the key in @from to @to. */
static void encrypt_key(const char *from, const char *to)
{
	FILE *in = fopen(from, "r"), *out = fopen(to, "w");
	EVP_PKEY *k;
	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(out);
	k = PEM_read_PrivateKey(in, NULL, NULL, NULL);
	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(PEM_write_PrivateKey(out, k, EVP_aes_128_cbc(), (unsigned char *)"pw", 2,
					      NULL, NULL), 1);
	EVP_PKEY_free(k);
	fclose(in);
	fclose(out);
	chmod(to, 0600);
}

/* Pins: every kind of bad file gives an error naming the file and the reason (OpenSSL's where it
 * has one), never a password prompt. */
START_TEST(test_bad_files)
{
	static const struct {
		const char *cert, *key; /* file names in the test folder; NULL = unset */
		int rc;
		const char *want;       /* substring of the message */
	} cases[] = {
		{ "missing.pem", "a.key", -ENOENT, "missing.pem: cannot read: No such file or directory" },
		{ "garbage.pem", "a.key", -EINVAL, "garbage.pem: no PEM certificate: PEM routines: no start line" },
		{ "empty.pem", "a.key", -EINVAL, "empty.pem: empty" },
		{ ".", "a.key", -EINVAL, "/.: not a regular file" },
		{ "broken-chain.pem", "a.key", -EINVAL, "broken-chain.pem: broken certificate in the chain" },
		{ "a.pem", "b.key", -EINVAL, "b.key: the private key does not belong to the certificate" },
		{ "a.pem", "open.key", -EINVAL, "open.key: private key readable or writable by other users" },
		{ "a.pem", "encrypted.key", -EINVAL, "encrypted.key: the private key is encrypted" },
		{ "a.pem", "garbage.pem", -EINVAL, "garbage.pem: no PEM private key: " },
		{ "a.pem", NULL, -EINVAL, "set both tls.certificate and tls.private_key" },
		{ NULL, "a.key", -EINVAL, "set both tls.certificate and tls.private_key" },
	};
	char err[512], *a, *chain;

	dir_make();
	ck_assert_int_eq(tls_self_signed_create(in_dir("a.pem"), in_dir("a.key"), "a.example", err,
						sizeof(err)), 0);
	ck_assert_int_eq(tls_self_signed_create(in_dir("b.pem"), in_dir("b.key"), "b.example", err,
						sizeof(err)), 0);
	write_text(in_dir("garbage.pem"), "hello\n", 0600);
	write_text(in_dir("empty.pem"), "", 0644);
	a = slurp(in_dir("a.pem"));
	chain = calloc(1, strlen(a) + 128);
	sprintf(chain, "%s-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", a);
	write_text(in_dir("broken-chain.pem"), chain, 0644);
	free(chain);
	free(a);
	a = slurp(in_dir("a.key"));
	write_text(in_dir("open.key"), a, 0644);
	free(a);
	encrypt_key(in_dir("a.key"), in_dir("encrypted.key"));

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tls_options opt = { .state_dir = dir, .host = "a.example" };
		struct tls_server *srv = NULL;
		int rc;

		opt.certificate = cases[i].cert ? in_dir(cases[i].cert) : NULL;
		opt.private_key = cases[i].key ? in_dir(cases[i].key) : NULL;
		rc = tls_server_new(&srv, &opt, err, sizeof(err));
		ck_assert_msg(rc == cases[i].rc && strstr(err, cases[i].want) && !srv,
			      "case %zu: rc %d \"%s\", want %d \"%s\"", i, rc, err, cases[i].rc,
			      cases[i].want);
		ck_assert_int_eq(ERR_peek_error(), 0);
	}
	dir_remove();
}
END_TEST

/* Pins: the self-signed certificate's host must be a DNS name or IP (nothing that could carry a
 * second name in); a missing state directory is named in the error. */
START_TEST(test_self_signed_errors)
{
	struct tls_options opt = { .host = "localhost" };
	struct tls_server *srv = NULL;
	char err[512];

	dir_make();
	ck_assert_int_eq(tls_self_signed_create(in_dir("c.pem"), in_dir("c.key"), "a.example,DNS:evil",
						err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "must be a DNS name or an IP address"));
	ck_assert_int_eq(tls_self_signed_create(in_dir("c.pem"), in_dir("c.key"), "", err,
						sizeof(err)), -EINVAL);
	ck_assert_int_eq(tls_self_signed_create(in_dir("c.pem"), in_dir("c.key"), "2001:db8::1", err,
						sizeof(err)), 0);
	opt.state_dir = in_dir("no-such-dir");
	ck_assert_int_eq(tls_server_new(&srv, &opt, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "no-such-dir/" TLS_SELF_SIGNED_KEY ": cannot create: No such file or directory"),
		      "%s", err);
	opt.state_dir = "";
	ck_assert_int_eq(tls_server_new(&srv, &opt, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "tls.state_dir"));
	dir_remove();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("tls");
	SRunner *sr;
	int failed;

	log_set_level(LOGL_WARN);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_self_signed_first_start);
	tcase_add_test(tc, test_handshakes);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_reload_keeps_old_on_error);
	tcase_add_test(tc, test_never_overwrite);
	tcase_add_test(tc, test_bad_files);
	tcase_add_test(tc, test_self_signed_errors);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
