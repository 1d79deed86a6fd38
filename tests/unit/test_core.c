/*
 * Unit tests of src/core: addresses, CIDR, the peer ACL, TURN REST credentials and the config file.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/config.h"
#include "core/cred.h"
#include "core/log.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

/* Writes @text to a temporary config file and returns its path (static buffer). */
static const char *write_conf(const char *text)
{
	static char path[64];
	strcpy(path, "/tmp/tincan-core-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* Loads @text; returns config_load's result and leaves the message in @err. */
static int load(const char *text, struct config *cfg, char *err, size_t errlen)
{
	const char *p = write_conf(text);
	int rc = config_load(cfg, p, err, errlen);
	unlink(p);
	return rc;
}

#define MINIMAL "turn = { listen = \"127.0.0.1:3478\"; };\n"

/* Pins: host:port forms parse (v4, bracketed v6, default port) and malformed ones are refused. */
START_TEST(test_addr_parse)
{
	struct sockaddr_storage a;
	char buf[ADDR_STRLEN];

	ck_assert_int_eq(addr_parse_hostport("1.2.3.4:5", 0, &a), 0);
	ck_assert_str_eq(addr_str(&a, buf), "1.2.3.4:5");
	ck_assert_int_eq(addr_parse_hostport("[::1]:3478", 0, &a), 0);
	ck_assert_str_eq(addr_str(&a, buf), "[::1]:3478");
	ck_assert_int_eq(addr_parse_hostport("10.0.0.1", 3478, &a), 0);
	ck_assert_int_eq(addr_port(&a), 3478);
	ck_assert_int_eq(addr_parse_hostport("::1", 99, &a), 0);
	ck_assert_int_eq(addr_port(&a), 99);
	ck_assert_int_eq(addr_parse_hostport("10.0.0.1", 0, &a), -EINVAL);  /* no port */
	ck_assert_int_eq(addr_parse_hostport("1.2.3.4:0", 0, &a), -EINVAL);
	ck_assert_int_eq(addr_parse_hostport("1.2.3.4:65536", 0, &a), -EINVAL);
	ck_assert_int_eq(addr_parse_hostport("1.2.3.4:x", 0, &a), -EINVAL);
	ck_assert_int_eq(addr_parse_hostport("example.org:80", 0, &a), -EINVAL); /* no DNS */
	ck_assert_int_eq(addr_parse_hostport("[::1", 0, &a), -EINVAL);
	ck_assert_int_eq(addr_parse_hostport("", 1, &a), -EINVAL);
}
END_TEST

/* Pins: IPv4-mapped IPv6 is rewritten to IPv4 so one ACL row covers both spellings. */
START_TEST(test_addr_canonical)
{
	struct sockaddr_storage a, b;
	ck_assert_int_eq(addr_parse_ip("::ffff:127.0.0.1", 7, &a), 0);
	addr_canonical(&a);
	ck_assert_int_eq(addr_parse_ip("127.0.0.1", 7, &b), 0);
	ck_assert(addr_equal(&a, &b));
	ck_assert_uint_eq(addr_hash(&a), addr_hash(&b));
}
END_TEST

/* Pins: CIDR parsing, host bits cleared, prefix bounds, matching at prefix boundaries. */
START_TEST(test_cidr)
{
	struct cidr c;
	struct sockaddr_storage a;

	ck_assert_int_eq(cidr_parse("10.1.2.3/8", &c), 0);
	addr_parse_ip("10.255.0.1", 0, &a);
	ck_assert(cidr_match(&c, &a));
	addr_parse_ip("11.0.0.1", 0, &a);
	ck_assert(!cidr_match(&c, &a));
	ck_assert_int_eq(cidr_parse("172.16.0.0/12", &c), 0);
	addr_parse_ip("172.31.255.255", 0, &a);
	ck_assert(cidr_match(&c, &a));
	addr_parse_ip("172.32.0.0", 0, &a);
	ck_assert(!cidr_match(&c, &a));
	ck_assert_int_eq(cidr_parse("fe80::/10", &c), 0);
	addr_parse_ip("febf::1", 0, &a);
	ck_assert(cidr_match(&c, &a));
	addr_parse_ip("fec0::1", 0, &a);
	ck_assert(!cidr_match(&c, &a));
	ck_assert_int_eq(cidr_parse("1.2.3.4", &c), 0);
	ck_assert_int_eq(c.prefix, 32);
	ck_assert_int_eq(cidr_parse("1.2.3.4/33", &c), -EINVAL);
	ck_assert_int_eq(cidr_parse("::/129", &c), -EINVAL);
	ck_assert_int_eq(cidr_parse("1.2.3.4/", &c), -EINVAL);
	ck_assert_int_eq(cidr_parse("/8", &c), -EINVAL);
	ck_assert_int_eq(cidr_parse("10.0.0.0/-1", &c), -EINVAL);
	ck_assert_int_eq(cidr_parse("nope/8", &c), -EINVAL);
}
END_TEST

/* Pins: the default deny list refuses every non-public address form (incl. the bypass spellings
 * of coturn CVE-2020-26262 and ::ffff:127.0.0.1) and lets public addresses through. */
START_TEST(test_peer_acl_default)
{
	static const char *const denied[] = {
		"127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3", "10.0.0.1", "172.16.5.4",
		"192.168.1.1", "100.64.0.1", "169.254.169.254", "192.0.0.8", "192.0.2.1", "198.18.0.1",
		"198.51.100.7", "203.0.113.9", "224.0.0.1", "239.255.255.250", "240.0.0.1",
		"255.255.255.255", "::", "::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
		"::ffff:169.254.169.254", "::127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::1",
		"2001:0:4136:e378:8000:63bf:3fff:fdd2", "fc00::1", "fd12:3456::1", "fe80::1",
		"ff02::1", "2001:db8::1", "100::1", "3fff::1", "64:ff9b:1::a00:1",
	};
	static const char *const permitted[] = {
		"1.1.1.1", "8.8.8.8", "93.184.216.34", "172.32.0.1", "100.128.0.1", "2a00:1450::1",
		"::ffff:8.8.8.8", "2606:4700::1111",
	};
	struct peer_acl acl = { 0 };
	size_t n;
	const char *const *def = peer_acl_default_deny(&n);
	struct cidr *deny = calloc(n, sizeof(*deny));

	for (size_t i = 0; i < n; i++)
		ck_assert_msg(cidr_parse(def[i], &deny[i]) == 0, "default entry %s", def[i]);
	acl.deny = deny;
	acl.n_deny = n;
	for (size_t i = 0; i < sizeof(denied) / sizeof(*denied); i++) {
		struct sockaddr_storage a;
		ck_assert_int_eq(addr_parse_ip(denied[i], 1234, &a), 0);
		ck_assert_msg(!peer_acl_permits(&acl, &a), "%s must be denied", denied[i]);
	}
	for (size_t i = 0; i < sizeof(permitted) / sizeof(*permitted); i++) {
		struct sockaddr_storage a;
		ck_assert_int_eq(addr_parse_ip(permitted[i], 1234, &a), 0);
		ck_assert_msg(peer_acl_permits(&acl, &a), "%s must be permitted", permitted[i]);
	}
	free(deny);
}
END_TEST

/* Pins: an allow entry wins over a deny entry (operators' exceptions). */
START_TEST(test_peer_acl_allow_wins)
{
	struct cidr allow, deny;
	struct peer_acl acl = { &allow, 1, &deny, 1 };
	struct sockaddr_storage a;

	cidr_parse("10.1.0.0/16", &allow);
	cidr_parse("10.0.0.0/8", &deny);
	addr_parse_ip("10.1.2.3", 1, &a);
	ck_assert(peer_acl_permits(&acl, &a));
	addr_parse_ip("::ffff:10.1.2.3", 1, &a);
	ck_assert(peer_acl_permits(&acl, &a));
	addr_parse_ip("10.2.0.1", 1, &a);
	ck_assert(!peer_acl_permits(&acl, &a));
}
END_TEST

/* Pins: every IPv4 address an IPv6 address tunnels to is judged too, and a refused one refuses the
 * whole address, even where the IPv6 prefix itself is not denied or is explicitly allowed:
 * IPv4-compatible, NAT64, 6to4 and Teredo (server, and client XOR 0xffffffff). */
START_TEST(test_peer_acl_embedded)
{
	static const struct {
		const char *addr;
		const char *v4[2];
	} forms[] = {
		{ "::127.0.0.1", { "127.0.0.1" } },
		{ "::a00:1", { "10.0.0.1" } },
		{ "64:ff9b::a9fe:a9fe", { "169.254.169.254" } },
		{ "64:ff9b::127.0.0.1", { "127.0.0.1" } },
		{ "2002:7f00:1::1", { "127.0.0.1" } },
		{ "2002:c0a8:101:5::9", { "192.168.1.1" } },
		/* Teredo: server 65.54.227.120, client 127.0.0.1 stored as 128.255.255.254. */
		{ "2001:0:4136:e378:8000:63bf:80ff:fffe", { "65.54.227.120", "127.0.0.1" } },
		/* Teredo with server 10.0.0.1, client 8.8.8.8 (stored as 247.247.247.247). */
		{ "2001:0:a00:1:0:0:f7f7:f7f7", { "10.0.0.1", "8.8.8.8" } },
	};
	static const char *const v4_deny[] = { "0.0.0.0/8", "10.0.0.0/8", "127.0.0.0/8",
						"169.254.0.0/16", "192.168.0.0/16" };
	struct cidr deny[5], allow[2];
	struct peer_acl acl = { NULL, 0, deny, 5 };
	struct sockaddr_storage a, out[2], want;
	char buf[ADDR_STRLEN];

	for (size_t i = 0; i < 5; i++)
		ck_assert_int_eq(cidr_parse(v4_deny[i], &deny[i]), 0);
	for (size_t i = 0; i < sizeof(forms) / sizeof(*forms); i++) {
		size_t n;

		ck_assert_int_eq(addr_parse_ip(forms[i].addr, 4321, &a), 0);
		n = addr_embedded_v4(&a, out);
		ck_assert_uint_eq(n, forms[i].v4[1] ? 2 : 1);
		for (size_t k = 0; k < n; k++) {
			ck_assert_int_eq(addr_parse_ip(forms[i].v4[k], 4321, &want), 0);
			ck_assert_msg(addr_equal(&out[k], &want), "%s: embedded %s, want %s",
				      forms[i].addr, addr_str(&out[k], buf), forms[i].v4[k]);
		}
		/* No IPv6 prefix is denied here: only the embedded IPv4 can refuse it. */
		ck_assert_msg(!peer_acl_permits(&acl, &a), "%s must be denied", forms[i].addr);
	}

	/* Allowing the 6to4 prefix does not open what it tunnels to; allowing 8.8.8.8 and the
	 * Teredo prefix still leaves a Teredo address whose server is 10.0.0.1 refused. */
	ck_assert_int_eq(cidr_parse("2002::/16", &allow[0]), 0);
	ck_assert_int_eq(cidr_parse("2001::/32", &allow[1]), 0);
	acl.allow = allow;
	acl.n_allow = 2;
	addr_parse_ip("2002:7f00:1::1", 1, &a);
	ck_assert(!peer_acl_permits(&acl, &a));
	addr_parse_ip("2002:808:808::1", 1, &a);
	ck_assert(peer_acl_permits(&acl, &a));
	addr_parse_ip("2001:0:a00:1:0:0:f7f7:f7f7", 1, &a);
	ck_assert(!peer_acl_permits(&acl, &a));

	/* Ordinary IPv6 and IPv4 addresses embed nothing. */
	addr_parse_ip("2a00:1450::1", 1, &a);
	ck_assert_uint_eq(addr_embedded_v4(&a, out), 0);
	addr_parse_ip("10.0.0.1", 1, &a);
	ck_assert_uint_eq(addr_embedded_v4(&a, out), 0);

	/* peer_acl_allowed() names explicit exceptions only. */
	ck_assert(!peer_acl_allowed(&acl, &a));
	addr_parse_ip("2002:808:808::1", 1, &a);
	ck_assert(peer_acl_allowed(&acl, &a));
}
END_TEST

/* Pins: REST password = base64(HMAC-SHA1(secret, username)), checked against `openssl dgst`. */
START_TEST(test_cred_rest_vector)
{
	struct cred_secret s;
	char pw[CRED_PASSWORD_MAX];

	memcpy(s.key, "0123456789abcdef", 16);
	s.len = 16;
	ck_assert_int_eq(cred_rest_password(&s, "1700000000:alice", pw), 0);
	/* echo -n 1700000000:alice | openssl dgst -sha1 -hmac 0123456789abcdef -binary | base64 */
	ck_assert_str_eq(pw, "QmpguVhgm8LJZp0MkvqhyKEkXps=");
	ck_assert_int_eq(cred_rest_password(&s, "", pw), -EINVAL);
}
END_TEST

/* Pins: mint puts expiry = now + lifetime in the username; check accepts it until then. */
START_TEST(test_cred_mint_check)
{
	struct cred_secret s;
	char user[CRED_USERNAME_MAX], pw[CRED_PASSWORD_MAX], pw2[CRED_PASSWORD_MAX];

	ck_assert_int_eq(cred_secret_random(&s), 0);
	ck_assert_int_eq(cred_rest_mint(&s, "p-1", 1000, 600, user, pw), 0);
	ck_assert_str_eq(user, "1600:p-1");
	ck_assert_int_eq(cred_rest_password(&s, user, pw2), 0);
	ck_assert_str_eq(pw, pw2);
	ck_assert_int_eq(cred_rest_check(user, 1599), 0);
	ck_assert_int_eq(cred_rest_check(user, 1600), -ETIME);
	ck_assert_int_eq(cred_rest_check("demo", 0), -EINVAL);
	ck_assert_int_eq(cred_rest_check("123:", 0), -EINVAL);
	ck_assert_int_eq(cred_rest_check("99999999999999999999:x", 0), -EINVAL);
	ck_assert_int_eq(cred_rest_mint(&s, "a:b", 0, 1, user, pw), -EINVAL);
	ck_assert_int_eq(cred_rest_mint(&s, "", 0, 1, user, pw), -EINVAL);
	ck_assert_int_eq(cred_rest_mint(&s, "sp ace", 0, 1, user, pw), -EINVAL);
}
END_TEST

/* Pins: a minimal file gets every default, random secrets, and the default deny list. */
START_TEST(test_config_defaults)
{
	struct config cfg;
	char err[512];
	char buf[ADDR_STRLEN];

	ck_assert_int_eq(load(MINIMAL, &cfg, err, sizeof(err)), 0);
	ck_assert_str_eq(addr_str(&cfg.turn.listen, buf), "127.0.0.1:3478");
	ck_assert_str_eq(addr_ip_str(&cfg.turn.relay_ip, buf), "127.0.0.1");
	ck_assert_str_eq(cfg.turn.external_host, "127.0.0.1");
	ck_assert_int_eq(cfg.turn.relay_port_min, 49152);
	ck_assert_int_eq(cfg.turn.relay_port_max, 65535);
	ck_assert_str_eq(cfg.turn.realm, "tincan");
	ck_assert(!cfg.turn.secret_configured);
	ck_assert_int_eq(cfg.turn.secret.len, 32);
	ck_assert_int_eq(cfg.turn.credential_lifetime, 86400);
	ck_assert_int_eq(cfg.turn.unauth_rate, 20);
	ck_assert_int_eq(cfg.turn.unauth_burst, 40);
	ck_assert_int_eq(cfg.turn.user_quota, 10);
	ck_assert_int_eq(cfg.turn.max_allocations, 0);
	ck_assert_int_eq(cfg.turn.bandwidth, 0);
	ck_assert_int_gt(cfg.turn.peers.n_deny, 20);
	ck_assert_int_eq(cfg.turn.peers.n_allow, 0);
	ck_assert_int_eq(cfg.rooms.capacity, 2);
	ck_assert_int_eq(cfg.log_level, LOGL_INFO);
	ck_assert_str_eq(addr_str(&cfg.http.listen, buf), "127.0.0.1:8080");
	config_free(&cfg);
}
END_TEST

/* Pins: errors name file:line, the option and the reason, for each kind of mistake. */
START_TEST(test_config_errors)
{
	static const struct {
		const char *text;
		const char *want; /* substring of the message after "FILE:" */
	} cases[] = {
		{ MINIMAL "bogus = 1;\n", ":2: bogus: unknown option" },
		{ MINIMAL "http = { listen = \"127.0.0.1:80\"; colour = \"red\"; };\n",
		  ":2: http.colour: unknown option" },
		{ "turn = {\n listen = \"127.0.0.1:3478\";\n relay_port_min = 80;\n};\n",
		  ":3: turn.relay_port_min: 80 is out of range 1024..65535" },
		{ "turn = {\n listen = \"127.0.0.1:3478\";\n relay_port_min = 60000;\n relay_port_max = 50000;\n};\n",
		  ":3: turn.relay_port_min: 60000 is above turn.relay_port_max (50000)" },
		{ "turn = {\n listen = \"nowhere:1\";\n};\n", ":2: turn.listen: \"nowhere:1\" is not a numeric address" },
		{ MINIMAL "rooms = {\n capacity = \"two\";\n};\n", ":3: rooms.capacity: must be an integer" },
		{ MINIMAL "rooms = {\n capacity = 1;\n};\n", ":3: rooms.capacity: 1 is out of range 2..16" },
		{ MINIMAL "log_level = \"loud\";\n", ":2: log_level: \"loud\" is not one of" },
		{ "turn = {\n listen = \"127.0.0.1:3478\";\n allow_peers = [ \"10.0.0.0/33\" ];\n};\n",
		  ":3: turn.allow_peers: \"10.0.0.0/33\" is not an address or prefix" },
		{ "turn = {\n listen = \"127.0.0.1:3478\";\n secret = \"short\";\n};\n", ":3: turn.secret: too short" },
		{ "turn = {\n listen = \"127.0.0.1:3478\";\n users = ( { name = \"a\"; } );\n};\n",
		  ":3: turn.users: user 1 needs both name and password" },
		{ "turn = {\n listen = \"127.0.0.1:3478\";\n users = ( { name = \"a\"; password = \"b\"; role = \"x\"; } );\n};\n",
		  ":3: turn.users: unknown key \"role\" in user 1" },
		{ "turn = {\n listen = = \"127.0.0.1:3478\";\n};\n", ":2: syntax error" },
		{ "turn = 5;\n", ":1: turn: must be a group" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct config cfg;
		char err[512];
		int rc = load(cases[i].text, &cfg, err, sizeof(err));
		ck_assert_msg(rc == -EINVAL, "case %zu: rc %d (%s)", i, rc, err);
		ck_assert_msg(strstr(err, cases[i].want) && strncmp(err, "/tmp/tincan-core-", 17) == 0,
			      "case %zu: got \"%s\", want \"%s\"", i, err, cases[i].want);
	}
}
END_TEST

/* Pins: a missing file is reported as such (not as a syntax error). */
START_TEST(test_config_missing_file)
{
	struct config cfg;
	char err[512];
	ck_assert_int_eq(config_load(&cfg, "/nonexistent/tincan.conf", err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/tincan.conf: cannot read the file"));
}
END_TEST

/* Pins: both shipped files load, the dev file allows loopback peers and the production file does
 * not; every option of the table is documented in etc/tincan.conf. */
START_TEST(test_config_shipped_files)
{
	struct config cfg;
	char err[512];
	struct sockaddr_storage lo;
	FILE *f;
	char *text;
	long len;

	ck_assert_msg(config_load(&cfg, TOP_SRCDIR "/etc/tincan.dev.conf", err, sizeof(err)) == 0, "%s", err);
	addr_parse_ip("127.0.0.1", 1, &lo);
	ck_assert(peer_acl_permits(&cfg.turn.peers, &lo));
	ck_assert_int_eq(cfg.turn.n_users, 1);
	ck_assert_str_eq(cfg.turn.users[0].name, "demo");
	ck_assert_ptr_nonnull(strstr(cfg.http.html_dir, "/etc/../html"));
	config_free(&cfg);

	/* The production file, as installed: test_config_shipped_production loads it. */
	f = fopen(TOP_SRCDIR "/etc/tincan.conf", "r");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	ck_assert_int_eq(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	for (size_t i = 0; config_option_path(i); i++) {
		const char *dot = strrchr(config_option_path(i), '.');
		const char *name = dot ? dot + 1 : config_option_path(i);
		char needle[128];
		snprintf(needle, sizeof(needle), "%s =", name);
		ck_assert_msg(strstr(text, needle), "etc/tincan.conf does not document %s",
			      config_option_path(i));
	}
	free(text);
}
END_TEST

/* --- Secrets from files, the relay address default, the shipped production file, the docs. --- */

/* Makes a fresh folder under /tmp and returns its path (static buffer). */
static const char *make_dir(void)
{
	static char dir[64];
	strcpy(dir, "/tmp/tincan-core-dir-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	return dir;
}

/* Writes @text to @dir/@name with @mode. */
static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	char path[256];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

/* Removes @dir and the files in it. */
static void remove_dir(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Reads a whole file into a NUL-terminated buffer (to free). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text;
	long len;
	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	ck_assert_int_eq(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	return text;
}

/* Pins: turn.secret_file and rooms.token_secret_file read the secret from a file (relative to the
 * config file's folder, trailing newline stripped) and mark it configured. */
START_TEST(test_config_secret_file)
{
	const char *dir = make_dir();
	char path[256], err[512];
	struct config cfg;
	int rc;

	write_file(dir, "turn-secret", "0123456789abcdefXYZ\n", 0600);
	write_file(dir, "token-secret", "tokentokentokentoken12\r\n", 0640);
	write_file(dir, "tincan.conf",
		   "turn = {\n listen = \"127.0.0.1:3478\";\n secret_file = \"turn-secret\";\n};\n"
		   "rooms = {\n token_secret_file = \"token-secret\";\n};\n", 0644);
	snprintf(path, sizeof(path), "%s/tincan.conf", dir);
	rc = config_load(&cfg, path, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert(cfg.turn.secret_configured);
	ck_assert_uint_eq(cfg.turn.secret.len, 19);
	ck_assert_int_eq(memcmp(cfg.turn.secret.key, "0123456789abcdefXYZ", 19), 0);
	ck_assert(cfg.rooms.token_secret_configured);
	ck_assert_uint_eq(cfg.rooms.token_secret.len, 22);
	ck_assert_int_eq(memcmp(cfg.rooms.token_secret.key, "tokentokentokentoken12", 22), 0);
	config_free(&cfg);
	remove_dir(dir);
}
END_TEST

/* Pins: each way a secret file can be wrong is an error naming file:line, the option and why. */
START_TEST(test_config_secret_file_errors)
{
	static const struct {
		const char *setting; /* line 3 of the turn group */
		const char *want;
	} cases[] = {
		{ "secret_file = \"missing\";", ":3: turn.secret_file: cannot read \"" },
		{ "secret_file = \"short\";", ":3: turn.secret_file: \"" /* ... holds 5 bytes */ },
		{ "secret_file = \"long\";", "holds more than 64 bytes" },
		{ "secret_file = \"open\";", "is readable or writable by other users" },
		{ "secret_file = \"\";", ":3: turn.secret_file: must not be empty" },
		{ "secret_file = \".\";", "is not a regular file" },
		{ "secret_file = 5;", ":3: turn.secret_file: must be a string" },
		{ "secret_file = \"good\"; secret = \"0123456789abcdef\";",
		  ":3: turn.secret_file: set either turn.secret or turn.secret_file, not both" },
		{ "secret = \"\"; secret_file = \"good\";",
		  ":3: turn.secret_file: set either turn.secret or turn.secret_file, not both" },
	};
	const char *dir = make_dir();
	char path[256];

	write_file(dir, "short", "short\n", 0600);
	write_file(dir, "long", "0123456789012345678901234567890123456789012345678901234567890123456789\n",
		   0600);
	write_file(dir, "open", "0123456789abcdef0123\n", 0644);
	write_file(dir, "good", "0123456789abcdef0123\n", 0600);
	snprintf(path, sizeof(path), "%s/tincan.conf", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char text[512], err[512];
		struct config cfg;
		int rc;

		snprintf(text, sizeof(text), "turn = {\n listen = \"127.0.0.1:3478\";\n %s\n};\n",
			 cases[i].setting);
		write_file(dir, "tincan.conf", text, 0644);
		rc = config_load(&cfg, path, err, sizeof(err));
		ck_assert_msg(rc == -EINVAL, "case %zu: rc %d (%s)", i, rc, err);
		ck_assert_msg(strstr(err, cases[i].want) && strncmp(err, path, strlen(path)) == 0,
			      "case %zu: got \"%s\", want \"%s\"", i, err, cases[i].want);
	}
	/* The same rules hold for rooms.token_secret_file. */
	write_file(dir, "tincan.conf",
		   "turn = { listen = \"127.0.0.1:3478\"; };\nrooms = {\n token_secret = \"0123456789abcdef\";\n"
		   " token_secret_file = \"good\";\n};\n", 0644);
	{
		char err[512];
		struct config cfg;
		ck_assert_int_eq(config_load(&cfg, path, err, sizeof(err)), -EINVAL);
		ck_assert_msg(strstr(err, ":4: rooms.token_secret_file: set either rooms.token_secret or "
				  "rooms.token_secret_file, not both"), "%s", err);
	}
	remove_dir(dir);
}
END_TEST

/* Pins: with a wildcard turn.listen and no turn.relay_address, the relay takes the address of the
 * default route; on a machine without one (a build chroot), the error says what to set. */
START_TEST(test_config_relay_default_route)
{
	struct config cfg;
	char err[512], ip[ADDR_STRLEN];
	int rc = load("turn = {\n listen = \"0.0.0.0:3478\";\n};\n", &cfg, err, sizeof(err));

	if (rc == 0) {
		addr_ip_str(&cfg.turn.relay_ip, ip);
		ck_assert(cfg.turn.relay_ip.ss_family == AF_INET || cfg.turn.relay_ip.ss_family == AF_INET6);
		ck_assert_str_ne(ip, "0.0.0.0");
		ck_assert_str_ne(ip, "::");
		ck_assert_str_eq(cfg.turn.external_host, ip);
		config_free(&cfg);
	} else {
		ck_assert_int_eq(rc, -EINVAL);
		ck_assert_msg(strstr(err, ":2: turn.relay_address: not set, and this machine has no default route"),
			      "%s", err);
	}
	/* An explicit relay address is taken as it is, default route or not. */
	ck_assert_int_eq(load("turn = {\n listen = \"0.0.0.0:3478\";\n relay_address = \"198.51.100.7\";\n};\n",
			      &cfg, err, sizeof(err)), 0);
	ck_assert_str_eq(addr_ip_str(&cfg.turn.relay_ip, ip), "198.51.100.7");
	config_free(&cfg);
}
END_TEST

/* Pins: turn.listen and turn.relay_address take a string or a list (IPv6, dual-stack): the lists
 * fill listens[] and relay_v4/relay_v6, the first entries the old single fields; without
 * relay_address each listen family gets its own; malformed lists name file:line and reason. */
START_TEST(test_config_dual_stack)
{
	static const struct {
		const char *text;
		const char *want;
	} bad[] = {
		{ "turn = {\n listen = [ ];\n};\n", ":2: turn.listen: must name 1 to 8 addresses" },
		{ "turn = {\n listen = ( \"127.0.0.1:1\", 5 );\n};\n",
		  ":2: turn.listen: element 2 is not a string" },
		{ "turn = {\n listen = [ \"127.0.0.1:1\", \"127.0.0.1:1\" ];\n};\n",
		  ":2: turn.listen: \"127.0.0.1:1\" is named twice" },
		{ "turn = {\n listen = 5;\n};\n", ":2: turn.listen: must be a string or a list" },
		{ "turn = {\n listen = \"127.0.0.1:3478\";\n relay_address = [ \"127.0.0.1\", \"127.0.0.2\" ];\n};\n",
		  ":3: turn.relay_address: at most one IPv4 and one IPv6 address" },
		{ "turn = {\n listen = \"127.0.0.1:3478\";\n relay_address = [ \"::1\", \"::2\" ];\n};\n",
		  ":3: turn.relay_address: at most one IPv4 and one IPv6 address" },
		{ "turn = {\n listen = \"127.0.0.1:3478\";\n relay_address = [ ];\n};\n",
		  ":3: turn.relay_address: must name one or two addresses" },
		{ "turn = {\n listen = \"127.0.0.1:3478\";\n relay_address = [ \"nope\" ];\n};\n",
		  ":3: turn.relay_address: \"nope\" is not a numeric IPv4 or IPv6 address" },
	};
	struct config cfg;
	char err[512], buf[ADDR_STRLEN];

	ck_assert_msg(load("turn = {\n listen = [ \"127.0.0.1:3478\", \"[::1]:3479\" ];\n};\n",
			   &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(cfg.turn.n_listen, 2);
	ck_assert_str_eq(addr_str(&cfg.turn.listen, buf), "127.0.0.1:3478");
	ck_assert_str_eq(addr_str(&cfg.turn.listens[1], buf), "[::1]:3479");
	ck_assert_str_eq(addr_ip_str(&cfg.turn.relay_v4, buf), "127.0.0.1");
	ck_assert_str_eq(addr_ip_str(&cfg.turn.relay_v6, buf), "::1");
	ck_assert_str_eq(addr_ip_str(&cfg.turn.relay_ip, buf), "127.0.0.1");
	config_free(&cfg);

	ck_assert_msg(load("turn = {\n listen = \"[::1]:3478\";\n relay_address = [ \"::1\", \"127.0.0.1\" ];\n};\n",
			   &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(cfg.turn.n_listen, 1);
	ck_assert_str_eq(addr_ip_str(&cfg.turn.relay_ip, buf), "::1");
	ck_assert_str_eq(addr_ip_str(&cfg.turn.relay_v4, buf), "127.0.0.1");
	ck_assert_str_eq(addr_ip_str(&cfg.turn.relay_v6, buf), "::1");
	config_free(&cfg);

	ck_assert_msg(load(MINIMAL, &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(cfg.turn.n_listen, 1);
	ck_assert_int_eq(cfg.turn.relay_v6.ss_family, 0);
	config_free(&cfg);

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int rc = load(bad[i].text, &cfg, err, sizeof(err));
		ck_assert_msg(rc == -EINVAL && strstr(err, bad[i].want), "case %zu: rc %d, \"%s\"", i,
			      rc, err);
	}
}
END_TEST

/* Pins: the production etc/tincan.conf passes as the package installs it (secret files generated
 * in the state folder), with secrets from files and the production peer ACL. */
START_TEST(test_config_shipped_production)
{
	const char *dir = make_dir();
	char path[256], err[512], *text, *out, *p, *q;
	const char *state = "/var/lib/tincan/";
	struct sockaddr_storage lo;
	struct config cfg;
	size_t n = 0;
	FILE *f;
	int rc;

	/* Copy the file with the state folder moved to @dir. */
	text = slurp(TOP_SRCDIR "/etc/tincan.conf");
	out = calloc(1, strlen(text) * 2 + 1);
	for (p = text; (q = strstr(p, state)); p = q + strlen(state)) {
		n += (size_t)sprintf(out + n, "%.*s%s/", (int)(q - p), p, dir);
		ck_assert_uint_lt(n, strlen(text) * 2 - 256);
	}
	strcat(out, p);
	snprintf(path, sizeof(path), "%s/tincan.conf", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(out, f);
	fclose(f);
	write_file(dir, "turn-secret", "generated-by-postinst-0123456789abcdef\n", 0600);
	write_file(dir, "token-secret", "also-generated-by-postinst-0123456789\n", 0600);

	rc = config_load(&cfg, path, err, sizeof(err));
	if (rc == 0) {
		ck_assert(cfg.turn.secret_configured);
		ck_assert(cfg.rooms.token_secret_configured);
		addr_parse_ip("127.0.0.1", 1, &lo);
		ck_assert(!peer_acl_permits(&cfg.turn.peers, &lo));
		ck_assert_int_eq(cfg.turn.n_users, 0);
		config_free(&cfg);
	} else {
		/* No default route (turn.listen is a wildcard): the only acceptable error. */
		ck_assert_msg(strstr(err, "turn.relay_address: not set, and this machine has no default route"),
			      "%s", err);
	}
	free(text);
	free(out);
	remove_dir(dir);
}
END_TEST

/* Adds "group.name" of every option documented in etc/tincan.conf to @list (space separated):
 * lines "name = …" or "# name = …" inside "group = {" … "};". */
static void conf_documented(const char *text, char *list, size_t size)
{
	char group[64] = "";
	for (const char *line = text; line && *line; line = strchr(line, '\n'), line += line ? 1 : 0) {
		char name[64];
		int k = 0;
		const char *p = line;
		if (strncmp(p, "};", 2) == 0) {
			group[0] = '\0';
			continue;
		}
		while (*p == ' ')
			p++;
		if (*p == '#') {
			p++;
			if (*p == ' ')
				p++;
		}
		while (k < 63 && ((*p >= 'a' && *p <= 'z') || *p == '_'))
			name[k++] = *p++;
		name[k] = '\0';
		if (!k || strncmp(p, " = ", 3) != 0)
			continue;
		if (strncmp(p, " = {", 4) == 0 && line[0] != ' ' && line[0] != '#') {
			snprintf(group, sizeof(group), "%s", name);
			continue;
		}
		/* Only the first word of a comment line may be an option name at the top level. */
		if (!group[0] && line[0] == ' ')
			continue;
		snprintf(list + strlen(list), size - strlen(list), " %s%s%s ", group, group[0] ? "." : "", name);
	}
}

/* Adds every option documented in man/tincan.conf.5 to @list: a ".TP" line followed by
 * ".B group.name" (or ".B name" at the top level). */
static void man_documented(const char *text, char *list, size_t size)
{
	for (const char *p = strstr(text, "\n.TP\n.B "); p; p = strstr(p + 1, "\n.TP\n.B ")) {
		const char *name = p + 8;
		size_t k = strcspn(name, " \n");
		snprintf(list + strlen(list), size - strlen(list), " %.*s ", (int)k, name);
	}
}

/* True if @list (" a  b.c ") holds @path. */
static bool in_list(const char *list, const char *path)
{
	char needle[200];
	snprintf(needle, sizeof(needle), " %s ", path);
	return strstr(list, needle) != NULL;
}

/* Pins: the option table (src/core/config.c), etc/tincan.conf and the manual page tincan.conf(5)
 * name the same options, both ways. The message lists every option missing where. */
START_TEST(test_config_docs_agree)
{
	static char conf[16384], man[16384], table[16384], msg[8192];
	char *conf_text = slurp(TOP_SRCDIR "/etc/tincan.conf");
	char *man_text = slurp(TOP_SRCDIR "/man/tincan.conf.5");
	const char *docs[2][3] = {
		{ conf, "etc/tincan.conf", "add a commented \"name = value;\" line inside its group" },
		{ man, "man/tincan.conf.5", "add \".TP\" then \".B group.name\" and a paragraph to OPTIONS" },
	};

	conf[0] = man[0] = table[0] = msg[0] = '\0';
	conf_documented(conf_text, conf, sizeof(conf));
	man_documented(man_text, man, sizeof(man));
	for (size_t i = 0; config_option_path(i); i++)
		snprintf(table + strlen(table), sizeof(table) - strlen(table), " %s ", config_option_path(i));

	for (size_t d = 0; d < 2; d++) {
		/* Every row of the table is documented... */
		for (size_t i = 0; config_option_path(i); i++)
			if (!in_list(docs[d][0], config_option_path(i)))
				snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
					 "\n  option %s (src/core/config.c) is not documented in %s: %s",
					 config_option_path(i), docs[d][1], docs[d][2]);
		/* ...and nothing else is. */
		for (const char *p = docs[d][0]; (p = strchr(p, ' ')) && p[1];) {
			char path[160];
			size_t k;
			while (*p == ' ')
				p++;
			k = strcspn(p, " ");
			snprintf(path, sizeof(path), "%.*s", (int)k, p);
			if (*path && !in_list(table, path))
				snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
					 "\n  %s documents %s, which is not an option of src/core/config.c",
					 docs[d][1], path);
			p += k;
		}
	}
	ck_assert_msg(!msg[0], "the option table and its documentation disagree:%s", msg);
	free(conf_text);
	free(man_text);
}
END_TEST

/* Pins: the tls options: defaults (no certificate: self-signed in the state directory), paths
 * relative to the config file, and the errors for half a pair, a wrong type, an empty path and an
 * unknown key in the tls group. */
START_TEST(test_config_tls)
{
	static const struct {
		const char *text;
		const char *want; /* substring of the message after "FILE:" */
	} cases[] = {
		{ MINIMAL "tls = {\n certificate = \"/etc/tincan/tls/fullchain.pem\";\n};\n",
		  ":3: tls.certificate: set tls.certificate and tls.private_key together" },
		{ MINIMAL "tls = {\n private_key = \"/etc/tincan/tls/privkey.pem\";\n};\n",
		  ":3: tls.private_key: set tls.certificate and tls.private_key together" },
		{ MINIMAL "tls = {\n certificate = 5;\n private_key = \"k.pem\";\n};\n",
		  ":3: tls.certificate: must be a string" },
		{ MINIMAL "tls = {\n state_dir = \"\";\n};\n", ":3: tls.state_dir: must not be empty" },
		{ MINIMAL "tls = {\n key = \"k.pem\";\n};\n", ":3: tls.key: unknown option" },
		{ MINIMAL "tls = \"on\";\n", ":2: tls: must be a group" },
	};
	struct config cfg;
	char err[512];

	ck_assert_msg(load(MINIMAL, &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(cfg.tls.certificate, "");
	ck_assert_str_eq(cfg.tls.private_key, "");
	ck_assert_str_eq(cfg.tls.state_dir, TINCAN_LOCALSTATEDIR);
	config_free(&cfg);

	/* Relative paths are relative to the config file's folder (/tmp here). */
	ck_assert_msg(load(MINIMAL "tls = { certificate = \"tls/fullchain.pem\"; private_key = \"/k.pem\"; state_dir = \"state\"; };\n",
			   &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(cfg.tls.certificate, "/tmp/tls/fullchain.pem");
	ck_assert_str_eq(cfg.tls.private_key, "/k.pem");
	ck_assert_str_eq(cfg.tls.state_dir, "/tmp/state");
	config_free(&cfg);

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		int rc = load(cases[i].text, &cfg, err, sizeof(err));
		ck_assert_msg(rc == -EINVAL, "case %zu: rc %d (%s)", i, rc, err);
		ck_assert_msg(strstr(err, cases[i].want) && strncmp(err, "/tmp/tincan-core-", 17) == 0,
			      "case %zu: got \"%s\", want \"%s\"", i, err, cases[i].want);
	}
}
END_TEST

/* Pins: the /metrics allow-list matches prefixes of both families, and an IPv4 client seen as an
 * IPv4-mapped IPv6 address (a dual-stack socket) counts as IPv4; the default is loopback only. */
START_TEST(test_metrics_allow)
{
	struct cidr list[2];
	struct sockaddr_storage a;
	struct config cfg;
	char err[512];

	ck_assert_int_eq(cidr_parse("127.0.0.0/8", &list[0]), 0);
	ck_assert_int_eq(cidr_parse("::1/128", &list[1]), 0);
	addr_parse_ip("127.0.0.1", 80, &a);
	ck_assert(cidr_list_match(list, 2, &a));
	addr_parse_ip("127.9.8.7", 80, &a);
	ck_assert(cidr_list_match(list, 2, &a));
	addr_parse_ip("::ffff:127.0.0.1", 80, &a);
	ck_assert(cidr_list_match(list, 2, &a));
	addr_parse_ip("::1", 80, &a);
	ck_assert(cidr_list_match(list, 2, &a));
	addr_parse_ip("10.0.0.1", 80, &a);
	ck_assert(!cidr_list_match(list, 2, &a));
	addr_parse_ip("::ffff:10.0.0.1", 80, &a);
	ck_assert(!cidr_list_match(list, 2, &a));
	addr_parse_ip("::2", 80, &a);
	ck_assert(!cidr_list_match(list, 2, &a));
	ck_assert(!cidr_list_match(list, 0, &a));

	/* The default, and a configured list that leaves loopback out. */
	ck_assert_int_eq(load(MINIMAL, &cfg, err, sizeof(err)), 0);
	ck_assert_int_eq(cfg.http.n_metrics_allow, 2);
	addr_parse_ip("::ffff:127.0.0.1", 80, &a);
	ck_assert(cidr_list_match(cfg.http.metrics_allow, cfg.http.n_metrics_allow, &a));
	addr_parse_ip("192.0.2.7", 80, &a);
	ck_assert(!cidr_list_match(cfg.http.metrics_allow, cfg.http.n_metrics_allow, &a));
	config_free(&cfg);
	ck_assert_int_eq(load(MINIMAL "http = { metrics_allow = [ \"192.0.2.0/24\" ]; };\n", &cfg,
			      err, sizeof(err)), 0);
	ck_assert_int_eq(cfg.http.n_metrics_allow, 1);
	ck_assert(cidr_list_match(cfg.http.metrics_allow, cfg.http.n_metrics_allow, &a));
	addr_parse_ip("127.0.0.1", 80, &a);
	ck_assert(!cidr_list_match(cfg.http.metrics_allow, cfg.http.n_metrics_allow, &a));
	config_free(&cfg);
	ck_assert_int_eq(load(MINIMAL "http = { metrics_allow = [ \"localhost\" ]; };\n", &cfg, err,
			      sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "http.metrics_allow: \"localhost\" is not an address"));
}
END_TEST

/* Pins: every option is either applied live on SIGHUP or, restart-only, held inline so that
 * config_reconcile can put its running value back; and man/tincan.conf.5's RELOADING section
 * names every option, so the operator can tell which is which. */
START_TEST(test_config_live_or_named)
{
	char *man = slurp(TOP_SRCDIR "/man/tincan.conf.5");
	char *sec = strstr(man, ".SH RELOADING");
	char *end;
	size_t n_live = 0;

	ck_assert_ptr_nonnull(sec);
	end = strstr(sec + 1, "\n.SH ");
	ck_assert_ptr_nonnull(end);
	*end = '\0';
	for (size_t i = 0; config_option_path(i); i++) {
		const char *path = config_option_path(i);
		char needle[160];
		bool named = false;

		ck_assert_msg(config_option_live(i) || config_option_copyable(i),
			      "%s is restart-only but its value cannot be copied: make it live or "
			      "teach config_reconcile to copy it", path);
		n_live += config_option_live(i);
		/* ".BR a ," or ".B a" or ".BR a \" and \" b": the path as a whole word. */
		for (const char *p = sec; (p = strstr(p, path)); p++) {
			char after = p[strlen(path)];
			char before = p[-1];
			if ((before == ' ' || before == '(') &&
			    (after == ' ' || after == '\n' || after == ')' || after == ','))
				named = true;
		}
		snprintf(needle, sizeof(needle), "%s", path);
		ck_assert_msg(named, "man/tincan.conf.5 RELOADING does not say whether %s is live",
			      needle);
	}
	ck_assert_uint_gt(n_live, 20);
	ck_assert(!config_option_live(1000));
	free(man);
}
END_TEST

/* Pins: reconciling a reloaded file with the running configuration keeps the running value of
 * restart-only options (named), takes the live ones (named), and keeps a random secret that
 * neither file sets; an unchanged file changes nothing. */
START_TEST(test_config_reconcile)
{
	struct config run, next;
	struct config_changes ch;
	char err[512], buf[ADDR_STRLEN];

	ck_assert_int_eq(load("turn = { listen = \"127.0.0.1:3478\"; user_quota = 5;\n"
			      "  relay_port_min = 50000; };\n", &run, err, sizeof(err)), 0);
	ck_assert_int_eq(load("turn = { listen = \"127.0.0.1:3478\"; user_quota = 5;\n"
			      "  relay_port_min = 50000; };\n", &next, err, sizeof(err)), 0);
	/* Two loads make two random secrets; reconciling keeps the running one. */
	ck_assert(memcmp(&run.turn.secret, &next.turn.secret, sizeof(run.turn.secret)) != 0);
	ck_assert_int_eq(config_reconcile(&next, &run, &ch), 0);
	ck_assert_uint_eq(ch.n_live, 0);
	ck_assert_uint_eq(ch.n_restart, 0);
	ck_assert_str_eq(ch.live, "");
	ck_assert_mem_eq(&run.turn.secret, &next.turn.secret, sizeof(run.turn.secret));
	ck_assert_mem_eq(&run.rooms.token_secret, &next.rooms.token_secret,
			 sizeof(run.rooms.token_secret));
	config_free(&next);

	ck_assert_int_eq(load("log_level = \"debug\";\n"
			      "turn = { listen = \"127.0.0.2:3479\"; user_quota = 1;\n"
			      "  relay_port_min = 50000; deny_peers = [ \"192.0.2.0/24\" ];\n"
			      "  secret = \"0123456789abcdef0123\"; workers = 2; };\n"
			      "http = { metrics_allow = [ \"10.0.0.0/8\" ]; };\n",
			      &next, err, sizeof(err)), 0);
	ck_assert_int_eq(config_reconcile(&next, &run, &ch), 0);
	ck_assert_str_eq(ch.live, "log_level, turn.secret, turn.deny_peers, turn.user_quota, "
				  "http.metrics_allow");
	ck_assert_uint_eq(ch.n_live, 5);
	/* turn.relay_address follows turn.listen by default, and so does turn.external_address. */
	ck_assert_str_eq(ch.restart, "turn.listen, turn.relay_address, turn.external_address, "
				     "turn.workers");
	ck_assert_uint_eq(ch.n_restart, 4);
	ck_assert_str_eq(addr_str(&next.turn.listen, buf), "127.0.0.1:3478");
	ck_assert_str_eq(addr_str(&next.turn.listens[0], buf), "127.0.0.1:3478");
	ck_assert_str_eq(addr_ip_str(&next.turn.relay_ip, buf), "127.0.0.1");
	ck_assert_str_eq(addr_ip_str(&next.turn.relay_v4, buf), "127.0.0.1");
	ck_assert_str_eq(next.turn.external_host, "127.0.0.1");
	ck_assert_uint_eq(next.turn.workers, 0); /* the running value: the default, one per CPU */
	ck_assert_uint_eq(next.turn.user_quota, 1);
	ck_assert_int_eq(next.log_level, LOGL_DEBUG);
	ck_assert(next.turn.secret_configured);
	ck_assert_uint_eq(next.turn.peers.n_deny, 1);
	ck_assert_uint_eq(next.http.n_metrics_allow, 1);
	/* No secret in the lists, only names. */
	ck_assert_ptr_null(strstr(ch.live, "0123456789"));
	config_free(&next);
	config_free(&run);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_addr_parse);
	tcase_add_test(tc, test_addr_canonical);
	tcase_add_test(tc, test_cidr);
	tcase_add_test(tc, test_peer_acl_default);
	tcase_add_test(tc, test_peer_acl_allow_wins);
	tcase_add_test(tc, test_peer_acl_embedded);
	tcase_add_test(tc, test_cred_rest_vector);
	tcase_add_test(tc, test_cred_mint_check);
	tcase_add_test(tc, test_config_defaults);
	tcase_add_test(tc, test_config_errors);
	tcase_add_test(tc, test_config_missing_file);
	tcase_add_test(tc, test_config_shipped_files);
	tcase_add_test(tc, test_config_secret_file);
	tcase_add_test(tc, test_config_secret_file_errors);
	tcase_add_test(tc, test_config_relay_default_route);
	tcase_add_test(tc, test_config_dual_stack);
	tcase_add_test(tc, test_config_shipped_production);
	tcase_add_test(tc, test_config_docs_agree);
	tcase_add_test(tc, test_config_tls);
	tcase_add_test(tc, test_metrics_allow);
	tcase_add_test(tc, test_config_live_or_named);
	tcase_add_test(tc, test_config_reconcile);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
