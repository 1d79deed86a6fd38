/*
 * config: the tincand configuration file; see config.h.
 *
 * One table (options[] below) describes every option: its path, type, bounds, default and target
 * field. Loading applies the table's defaults, then each present setting; the unknown-key check
 * walks the file and looks every leaf up in the same table. Keep the table, etc/tincan.conf and the
 * tincan.conf man page in step: tests/unit/test_core.c checks that etc/tincan.conf names every row.
 */
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"

#include <openssl/crypto.h>

#ifndef TINCAN_PKGDATADIR
#define TINCAN_PKGDATADIR "/usr/share/tincan"
#endif
#ifndef TINCAN_LOCALSTATEDIR
#define TINCAN_LOCALSTATEDIR "/var/lib/tincan"
#endif

enum opt_type {
	OPT_UINT,     /* unsigned, bounds min..max */
	OPT_PORT,     /* uint16_t, bounds min..max */
	OPT_STRING,   /* char[size], non-empty unless min == 0 */
	OPT_LEVEL,    /* log level name */
	OPT_HOSTPORT, /* "ip:port"; min is the default port */
	OPT_HOSTPORTS, /* "ip:port" or a list of them: sockaddr_storage[] at off, size_t at off2 */
	OPT_RELAYS,   /* turn.relay_address: an IP, or a list of one IPv4 and/or one IPv6 */
	OPT_IP,       /* numeric IP, stored with port 0 */
	OPT_PATH,     /* char[PATH_MAX], relative to the config file's folder */
	OPT_SECRET,   /* struct cred_secret; "" = random; bool at off2 says "configured" */
	OPT_SECRET_FILE, /* like OPT_SECRET, read from a file; excludes the row named without "_file" */
	OPT_CIDRS,    /* struct cidr * at off, size_t count at off2 */
	OPT_USERS,    /* struct config_user * at off, size_t count at off2 */
	OPT_BOOL,     /* bool: true or false */
};

struct opt {
	const char *path;     /* "group.name" */
	enum opt_type type;
	long long min, max;   /* bounds (OPT_UINT/OPT_PORT), length (OPT_STRING min) */
	const char *def;      /* default as text, or NULL: no default (CIDRS/USERS: see code) */
	size_t off;           /* target field in struct config */
	size_t off2;          /* second target (count, "configured" flag), if any */
	size_t size;          /* target size for strings */
	/* LIVE: a SIGHUP applies a new value (every reader takes it from the config in use at the
	 * time). RESTART: the running value stays until a restart, because sockets, threads,
	 * pools or lws mounts were made from it at start. Every row says which. */
	bool live;
};

#define LIVE true
#define RESTART false

#define F(field) offsetof(struct config, field)
#define S(field) sizeof(((struct config *)0)->field)

static const struct opt options[] = {
	{ "log_level", OPT_LEVEL, 0, 0, "info", F(log_level), 0, 0, LIVE },
	{ "turn.listen", OPT_HOSTPORTS, 3478, CONFIG_LISTEN_MAX, "0.0.0.0:3478", F(turn.listens),
	  F(turn.n_listen), 0, RESTART },
	{ "turn.relay_address", OPT_RELAYS, 0, 0, NULL, 0, 0, 0, RESTART },
	{ "turn.relay_port_min", OPT_PORT, 1024, 65535, "49152", F(turn.relay_port_min), 0, 0,
	  RESTART },
	{ "turn.relay_port_max", OPT_PORT, 1024, 65535, "65535", F(turn.relay_port_max), 0, 0,
	  RESTART },
	{ "turn.external_address", OPT_STRING, 0, 0, NULL, F(turn.external_host), 0,
	  S(turn.external_host), RESTART },
	{ "turn.realm", OPT_STRING, 1, 0, "tincan", F(turn.realm), 0, S(turn.realm), LIVE },
	{ "turn.secret", OPT_SECRET, 0, 0, "", F(turn.secret), F(turn.secret_configured), 0, LIVE },
	{ "turn.secret_file", OPT_SECRET_FILE, 0, 0, NULL, F(turn.secret), F(turn.secret_configured),
	  0, LIVE },
	{ "turn.credential_lifetime", OPT_UINT, 60, 604800, "86400", F(turn.credential_lifetime),
	  0, 0, LIVE },
	{ "turn.users", OPT_USERS, 0, 0, NULL, F(turn.users), F(turn.n_users), 0, LIVE },
	{ "turn.allow_peers", OPT_CIDRS, 0, 0, NULL, F(turn.peers.allow), F(turn.peers.n_allow), 0,
	  LIVE },
	{ "turn.deny_peers", OPT_CIDRS, 0, 0, NULL, F(turn.peers.deny), F(turn.peers.n_deny), 0,
	  LIVE },
	{ "turn.workers", OPT_UINT, 0, 64, "0", F(turn.workers), 0, 0, RESTART },
	{ "turn.unauth_rate", OPT_UINT, 0, 1000000, "20", F(turn.unauth_rate), 0, 0, LIVE },
	{ "turn.unauth_burst", OPT_UINT, 1, 1000000, "40", F(turn.unauth_burst), 0, 0, LIVE },
	{ "turn.user_quota", OPT_UINT, 0, 100000, "10", F(turn.user_quota), 0, 0, LIVE },
	{ "turn.max_allocations", OPT_UINT, 0, 1000000, "0", F(turn.max_allocations), 0, 0, LIVE },
	{ "turn.bandwidth", OPT_UINT, 0, 10000000, "0", F(turn.bandwidth), 0, 0, LIVE },
	{ "turn.hairpin", OPT_BOOL, 0, 0, "true", F(turn.hairpin), 0, 0, LIVE },
	{ "turn.coalesce_us", OPT_UINT, 0, 1000, "60", F(turn.coalesce_us), 0, 0, LIVE },
	{ "turn.tcp_listen", OPT_HOSTPORTS, 3478, CONFIG_LISTEN_MAX, NULL, F(turn.tcp_listens),
	  F(turn.n_tcp_listen), 0, RESTART },
	{ "turn.tls_listen", OPT_HOSTPORTS, 5349, CONFIG_LISTEN_MAX, NULL, F(turn.tls_listens),
	  F(turn.n_tls_listen), 0, RESTART },
	{ "turn.max_connections", OPT_UINT, 1, 1000000, "4096", F(turn.max_connections), 0, 0,
	  LIVE },
	{ "http.listen", OPT_HOSTPORT, 8080, 0, "127.0.0.1:8080", F(http.listen), 0, 0, RESTART },
	{ "http.html_dir", OPT_PATH, 0, 0, TINCAN_PKGDATADIR "/html", F(http.html_dir), 0, 0,
	  RESTART },
	{ "http.selftest_rate", OPT_UINT, 0, 1000, "10", F(http.selftest_rate), 0, 0, LIVE },
	{ "http.metrics_allow", OPT_CIDRS, 0, 0, NULL, F(http.metrics_allow),
	  F(http.n_metrics_allow), 0, LIVE },
	{ "rooms.capacity", OPT_UINT, 2, 16, "2", F(rooms.capacity), 0, 0, LIVE },
	{ "rooms.max_rooms", OPT_UINT, 1, 1000000, "1000", F(rooms.max_rooms), 0, 0, LIVE },
	{ "rooms.token_lifetime", OPT_UINT, 60, 604800, "3600", F(rooms.token_lifetime), 0, 0,
	  LIVE },
	{ "rooms.idle_timeout", OPT_UINT, 10, 2592000, "86400", F(rooms.idle_timeout), 0, 0, LIVE },
	{ "rooms.reconnect_grace", OPT_UINT, 0, 600, "20", F(rooms.reconnect_grace), 0, 0, LIVE },
	{ "rooms.token_secret", OPT_SECRET, 0, 0, "", F(rooms.token_secret),
	  F(rooms.token_secret_configured), 0, LIVE },
	{ "rooms.token_secret_file", OPT_SECRET_FILE, 0, 0, NULL, F(rooms.token_secret),
	  F(rooms.token_secret_configured), 0, LIVE },
	{ "tls.certificate", OPT_PATH, 0, 0, NULL, F(tls.certificate), 0, 0, RESTART },
	{ "tls.private_key", OPT_PATH, 0, 0, NULL, F(tls.private_key), 0, 0, RESTART },
	{ "tls.state_dir", OPT_PATH, 0, 0, TINCAN_LOCALSTATEDIR, F(tls.state_dir), 0, 0, RESTART },
	{ "mux.listen", OPT_HOSTPORTS, 443, CONFIG_LISTEN_MAX, NULL, F(mux.listens), F(mux.n_listen),
	  0, RESTART },
	{ "mux.redirect_http", OPT_BOOL, 0, 0, "true", F(mux.redirect_http), 0, 0, LIVE },
	{ "mux.classify_timeout", OPT_UINT, 1, 300, "10", F(mux.classify_timeout), 0, 0, LIVE },
	{ "mux.max_unclassified_per_ip", OPT_UINT, 1, 100000, "16", F(mux.max_unclassified_per_ip),
	  0, 0, LIVE },
	{ "mux.max_unclassified", OPT_UINT, 1, 1000000, "1024", F(mux.max_unclassified), 0, 0,
	  LIVE },
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* Groups that may appear at the top level; every leaf must be a row of options[]. */
static const char *const groups[] = { "turn", "http", "rooms", "tls", "mux" };

struct load_ctx {
	struct config *cfg;
	const char *file;   /* for messages */
	char dir[PATH_MAX]; /* the config file's folder, for relative paths */
	char *err;
	size_t errlen;
};

/* Writes "FILE:LINE: OPTION: REASON" and returns -EINVAL. */
__attribute__((format(printf, 4, 5)))
static int fail(struct load_ctx *c, const config_setting_t *s, const char *option,
		const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	int line = s ? config_setting_source_line(s) : 0;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(c->err, c->errlen, "%s:%d: %s: %s", c->file, line, option, reason);
	else
		snprintf(c->err, c->errlen, "%s: %s: %s", c->file, option, reason);
	return -EINVAL;
}

static void *field(struct config *cfg, size_t off)
{
	return (char *)cfg + off;
}

static const struct opt *opt_find(const char *path)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (strcmp(options[i].path, path) == 0)
			return &options[i];
	return NULL;
}

/* Resolves @in against the config file's folder unless it is absolute. */
static int resolve_path(struct load_ctx *c, const char *in, char out[PATH_MAX])
{
	int n = in[0] == '/' ? snprintf(out, PATH_MAX, "%s", in)
			     : snprintf(out, PATH_MAX, "%s/%s", c->dir, in);
	return (n < 0 || n >= PATH_MAX) ? -ENAMETOOLONG : 0;
}

static int parse_cidr_list(struct load_ctx *c, const struct opt *o, const config_setting_t *s,
			   const char *const *texts, size_t n)
{
	struct cidr **list = field(c->cfg, o->off);
	size_t *count = field(c->cfg, o->off2);
	struct cidr *v = n ? calloc(n, sizeof(*v)) : NULL;

	if (n && !v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *t = texts ? texts[i] : config_setting_get_string_elem(s, (int)i);
		if (!t) {
			free(v);
			return fail(c, s, o->path, "element %zu is not a string", i + 1);
		}
		if (cidr_parse(t, &v[i])) {
			free(v);
			return fail(c, s, o->path, "\"%s\" is not an address or prefix (e.g. 10.0.0.0/8)",
				    t);
		}
	}
	free(*list);
	*list = v;
	*count = n;
	return 0;
}

static int parse_users(struct load_ctx *c, const struct opt *o, const config_setting_t *s)
{
	struct config_user **list = field(c->cfg, o->off);
	size_t *count = field(c->cfg, o->off2);
	int n = config_setting_length(s);
	struct config_user *v;

	if (!config_setting_is_list(s) && !config_setting_is_array(s))
		return fail(c, s, o->path, "must be a list: ( { name = \"…\"; password = \"…\"; } )");
	v = n ? calloc((size_t)n, sizeof(*v)) : NULL;
	if (n && !v)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *u = config_setting_get_elem(s, (unsigned)i);
		const char *name = NULL, *pass = NULL;

		if (!config_setting_is_group(u)) {
			free(v);
			return fail(c, u, o->path, "element %d must be a group { name; password; }", i + 1);
		}
		for (int k = 0; k < config_setting_length(u); k++) {
			const config_setting_t *m = config_setting_get_elem(u, (unsigned)k);
			const char *key = config_setting_name(m);
			const char **dst = strcmp(key, "name") == 0 ? &name
					   : strcmp(key, "password") == 0 ? &pass : NULL;
			if (!dst) {
				free(v);
				return fail(c, m, o->path, "unknown key \"%s\" in user %d", key, i + 1);
			}
			*dst = config_setting_get_string(m);
			if (!*dst || !**dst || strlen(*dst) >= CONFIG_NAME_MAX || strchr(*dst, '\n')) {
				free(v);
				return fail(c, m, o->path, "user %d: %s must be a non-empty string shorter than %d bytes",
					    i + 1, key, CONFIG_NAME_MAX);
			}
		}
		if (!name || !pass) {
			free(v);
			return fail(c, u, o->path, "user %d needs both name and password", i + 1);
		}
		/* A REST-style name ("<digits>:...") would be checked as a minted credential. */
		if (strchr(name, ':')) {
			free(v);
			return fail(c, u, o->path, "user %d: name must not contain ':'", i + 1);
		}
		strcpy(v[i].name, name);
		strcpy(v[i].password, pass);
	}
	free(*list);
	*list = v;
	*count = (size_t)n;
	return 0;
}

/*
 * Reads the secret of an OPT_SECRET_FILE row from the file named @text. The file holds the secret
 * as text (trailing whitespace and newline stripped), as written by `openssl rand -base64 32`;
 * packages generate it at install time, so the config file itself holds no secret. The file must
 * not be readable by other users. Setting both the inline option and its _file form is an error.
 */
static int read_secret_file(struct load_ctx *c, const struct opt *o, const config_setting_t *s,
			    const char *text)
{
	struct cred_secret *sec = field(c->cfg, o->off);
	bool *configured = field(c->cfg, o->off2);
	const char *inline_name = strrchr(o->path, '.') + 1;
	size_t name_len = strlen(inline_name) - strlen("_file");
	char inline_key[64], path[PATH_MAX];
	uint8_t buf[CRED_SECRET_MAX + 2];
	struct stat st;
	ssize_t n;
	int fd, err;

	/* The inline partner of "turn.secret_file" is "secret" in the same group. */
	snprintf(inline_key, sizeof(inline_key), "%.*s", (int)name_len, inline_name);
	if (config_setting_get_member(config_setting_parent(s), inline_key))
		return fail(c, s, o->path, "set either %.*s or %s, not both", (int)(strlen(o->path) - 5),
			    o->path, o->path);
	if (!*text)
		return fail(c, s, o->path, "must not be empty");
	if (resolve_path(c, text, path))
		return fail(c, s, o->path, "path too long");

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail(c, s, o->path, "cannot read \"%s\": %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(c, s, o->path, "\"%s\" is not a regular file", path);
	}
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		close(fd);
		return fail(c, s, o->path, "\"%s\" is readable or writable by other users: chmod o-rwx it",
			    path);
	}
	n = read(fd, buf, sizeof(buf));
	err = errno;
	close(fd);
	if (n < 0)
		return fail(c, s, o->path, "cannot read \"%s\": %s", path, strerror(err));
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
			 buf[n - 1] == '\t'))
		n--;
	if ((size_t)n > CRED_SECRET_MAX)
		err = fail(c, s, o->path, "\"%s\" holds more than %d bytes", path, CRED_SECRET_MAX);
	else if (n < 16)
		err = fail(c, s, o->path,
			   "\"%s\" holds %zd bytes: at least 16 are needed (e.g. openssl rand -base64 32 >FILE)",
			   path, n);
	else
		err = 0;
	if (!err) {
		memcpy(sec->key, buf, (size_t)n);
		sec->len = (size_t)n;
		*configured = true;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return err;
}

/*
 * The elements of a setting that may be one string or a list of strings: @s itself (or the
 * default @text when @s is NULL) as element 0, or the list's elements. Returns the count and
 * stores element @i's text via get_elem(); -1 if @s is neither a string nor a list of strings.
 */
static int str_or_list_len(const config_setting_t *s)
{
	if (!s || config_setting_type(s) == CONFIG_TYPE_STRING)
		return 1;
	if (!config_setting_is_list(s) && !config_setting_is_array(s))
		return -1;
	return config_setting_length(s);
}

static const char *str_or_list_elem(const config_setting_t *s, const char *text, int i)
{
	if (!s)
		return text;
	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		return config_setting_get_string(s);
	return config_setting_get_string_elem(s, (unsigned)i);
}

/* turn.listen and the like: one "ip:port" or a list of 1..o->max of them, all different. */
static int parse_hostports(struct load_ctx *c, const struct opt *o, const config_setting_t *s,
			   const char *text)
{
	struct sockaddr_storage *v = field(c->cfg, o->off);
	size_t *count = field(c->cfg, o->off2);
	int n = str_or_list_len(s);

	if (n < 0)
		return fail(c, s, o->path, "must be a string or a list of strings: [ \"0.0.0.0:%lld\", \"[::]:%lld\" ]",
			    o->min, o->min);
	if (n == 0 || n > o->max)
		return fail(c, s, o->path, "must name 1 to %lld addresses", o->max);
	for (int i = 0; i < n; i++) {
		const char *t = str_or_list_elem(s, text, i);

		if (!t)
			return fail(c, s, o->path, "element %d is not a string", i + 1);
		if (addr_parse_hostport(t, (uint16_t)o->min, &v[i]))
			return fail(c, s, o->path,
				    "\"%s\" is not a numeric address with optional port (e.g. 0.0.0.0:%lld or [::]:%lld)",
				    t, o->min, o->min);
		for (int k = 0; k < i; k++)
			if (addr_equal(&v[k], &v[i]))
				return fail(c, s, o->path, "\"%s\" is named twice", t);
	}
	*count = (size_t)n;
	return 0;
}

/* turn.relay_address: one IP, or a list of at most one IPv4 and one IPv6 address. */
static int parse_relays(struct load_ctx *c, const struct opt *o, const config_setting_t *s)
{
	struct config *cfg = c->cfg;
	int n = str_or_list_len(s);

	if (n < 0)
		return fail(c, s, o->path, "must be a string or a list of strings: [ \"203.0.113.10\", \"2001:db8::10\" ]");
	if (n == 0 || n > 2)
		return fail(c, s, o->path, "must name one or two addresses (one IPv4, one IPv6)");
	for (int i = 0; i < n; i++) {
		const char *t = str_or_list_elem(s, NULL, i);
		struct sockaddr_storage a, *slot;

		if (!t)
			return fail(c, s, o->path, "element %d is not a string", i + 1);
		if (addr_parse_ip(t, 0, &a))
			return fail(c, s, o->path, "\"%s\" is not a numeric IPv4 or IPv6 address", t);
		addr_canonical(&a);
		slot = a.ss_family == AF_INET ? &cfg->turn.relay_v4 : &cfg->turn.relay_v6;
		if (slot->ss_family)
			return fail(c, s, o->path, "at most one IPv4 and one IPv6 address");
		*slot = a;
		if (i == 0)
			cfg->turn.relay_ip = a;
	}
	return 0;
}

/* Applies one value to its target. @s is the setting (NULL when applying the default @text). */
static int opt_apply(struct load_ctx *c, const struct opt *o, const config_setting_t *s,
		     const char *text)
{
	struct config *cfg = c->cfg;
	long long v = 0;

	switch (o->type) {
	case OPT_UINT:
	case OPT_PORT:
		if (s) {
			if (config_setting_type(s) != CONFIG_TYPE_INT &&
			    config_setting_type(s) != CONFIG_TYPE_INT64)
				return fail(c, s, o->path, "must be an integer");
			v = config_setting_get_int64(s);
		} else {
			v = strtoll(text, NULL, 10);
		}
		if (v < o->min || v > o->max)
			return fail(c, s, o->path, "%lld is out of range %lld..%lld", v, o->min, o->max);
		if (o->type == OPT_PORT)
			*(uint16_t *)field(cfg, o->off) = (uint16_t)v;
		else
			*(unsigned *)field(cfg, o->off) = (unsigned)v;
		return 0;
	case OPT_CIDRS:
		if (!s)
			return 0;
		if (!config_setting_is_array(s) && !config_setting_is_list(s))
			return fail(c, s, o->path, "must be a list of strings: [ \"10.0.0.0/8\", … ]");
		return parse_cidr_list(c, o, s, NULL, (size_t)config_setting_length(s));
	case OPT_USERS:
		return s ? parse_users(c, o, s) : 0;
	case OPT_HOSTPORTS:
		/* A list without a default (mux.listen) stays empty when unset. */
		return s || text ? parse_hostports(c, o, s, text) : 0;
	case OPT_BOOL:
		if (s && config_setting_type(s) != CONFIG_TYPE_BOOL)
			return fail(c, s, o->path, "must be true or false");
		*(bool *)field(cfg, o->off) = s ? config_setting_get_bool(s) : strcmp(text, "true") == 0;
		return 0;
	case OPT_RELAYS:
		return s ? parse_relays(c, o, s) : 0;
	default:
		break;
	}

	/* The remaining types take a string. */
	if (s) {
		text = config_setting_get_string(s);
		if (!text)
			return fail(c, s, o->path, "must be a string (in double quotes)");
	}
	if (!text)
		return 0;
	switch (o->type) {
	case OPT_LEVEL: {
		int l = log_level_parse(text);
		if (l < 0)
			return fail(c, s, o->path,
				    "\"%s\" is not one of error, warning, notice, info, debug", text);
		cfg->log_level = l;
		return 0;
	}
	case OPT_HOSTPORT:
		if (addr_parse_hostport(text, (uint16_t)o->min, field(cfg, o->off)))
			return fail(c, s, o->path,
				    "\"%s\" is not a numeric address with optional port (e.g. 0.0.0.0:%lld or [::]:%lld)",
				    text, o->min, o->min);
		return 0;
	case OPT_IP:
		if (addr_parse_ip(text, 0, field(cfg, o->off)))
			return fail(c, s, o->path, "\"%s\" is not a numeric IPv4 or IPv6 address", text);
		return 0;
	case OPT_STRING:
		if (strlen(text) < (size_t)o->min)
			return fail(c, s, o->path, "must not be empty");
		if (strlen(text) >= o->size)
			return fail(c, s, o->path, "longer than %zu bytes", o->size - 1);
		strcpy(field(cfg, o->off), text);
		return 0;
	case OPT_PATH:
		if (!*text)
			return fail(c, s, o->path, "must not be empty");
		if (resolve_path(c, text, field(cfg, o->off)))
			return fail(c, s, o->path, "path too long");
		return 0;
	case OPT_SECRET: {
		struct cred_secret *sec = field(cfg, o->off);
		bool *configured = field(cfg, o->off2);
		size_t len = strlen(text);
		if (len == 0) {
			*configured = false;
			return cred_secret_random(sec) ? fail(c, s, o->path, "no random bytes") : 0;
		}
		if (len < 16)
			return fail(c, s, o->path, "too short: use at least 16 characters (e.g. openssl rand -hex 32)");
		if (len > CRED_SECRET_MAX)
			return fail(c, s, o->path, "longer than %d bytes", CRED_SECRET_MAX);
		memcpy(sec->key, text, len);
		sec->len = len;
		*configured = true;
		return 0;
	}
	case OPT_SECRET_FILE:
		return read_secret_file(c, o, s, text);
	default:
		return -EINVAL;
	}
}

/* Rejects any setting that is not a known group or a row of options[]. */
static int check_unknown(struct load_ctx *c, const config_setting_t *group, const char *prefix)
{
	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		char path[256];
		bool known_group = false;

		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", config_setting_name(s));
		if (!*prefix)
			for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
				known_group |= strcmp(path, groups[g]) == 0;
		if (known_group) {
			if (!config_setting_is_group(s))
				return fail(c, s, path, "must be a group: %s = { … };", path);
			int err = check_unknown(c, s, path);
			if (err)
				return err;
		} else if (!opt_find(path)) {
			return fail(c, s, path, "unknown option");
		}
	}
	return 0;
}

/*
 * The source address the kernel picks toward an address outside this machine, i.e. the address of
 * the default route (as `ip route get` shows). connect() on a UDP socket only looks the route up:
 * it sends nothing. The destination is a documentation address (RFC 5737, RFC 3849), never a
 * real host. Returns 0, or a negative errno (-ENETUNREACH: no route).
 */
static int default_route_source(int family, struct sockaddr_storage *out)
{
	struct sockaddr_storage dst;
	socklen_t len = sizeof(*out);
	int fd, err = 0;

	addr_parse_ip(family == AF_INET ? "192.0.2.1" : "2001:db8::1", 9, &dst);
	fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&dst, addr_len(&dst)) ||
	    getsockname(fd, (struct sockaddr *)out, &len))
		err = -errno;
	close(fd);
	if (!err)
		addr_set_port(out, 0);
	return err;
}

/* Checks rules that involve more than one option, and fills derived fields. */
static int finish(struct load_ctx *c, const config_t *lc)
{
	struct config *cfg = c->cfg;
	char ip[ADDR_STRLEN];

	/* A certificate comes with its key; neither means a self-signed pair in tls.state_dir. */
	if ((cfg->tls.certificate[0] != '\0') != (cfg->tls.private_key[0] != '\0')) {
		const char *set = cfg->tls.certificate[0] ? "tls.certificate" : "tls.private_key";
		return fail(c, config_lookup(lc, set), set,
			    "set tls.certificate and tls.private_key together (neither: a self-signed certificate in tls.state_dir)");
	}
	if (cfg->turn.relay_port_min > cfg->turn.relay_port_max)
		return fail(c, config_lookup(lc, "turn.relay_port_min"), "turn.relay_port_min",
			    "%u is above turn.relay_port_max (%u)", cfg->turn.relay_port_min,
			    cfg->turn.relay_port_max);

	cfg->turn.listen = cfg->turn.listens[0];
	if (cfg->turn.relay_ip.ss_family == 0) {
		/* Default: relay on the listen addresses, one per family. A wildcard one gives the
		 * address of its family's default route, as a single-homed server has: the relayed
		 * address sent to clients must be one they can reach. */
		bool wildcard = false;

		for (size_t i = 0; i < cfg->turn.n_listen; i++) {
			struct sockaddr_storage a = cfg->turn.listens[i];
			struct sockaddr_storage *slot = a.ss_family == AF_INET ? &cfg->turn.relay_v4
									       : &cfg->turn.relay_v6;
			if (slot->ss_family)
				continue;
			addr_set_port(&a, 0);
			addr_ip_str(&a, ip);
			if (strcmp(ip, "0.0.0.0") == 0 || strcmp(ip, "::") == 0) {
				wildcard = true;
				if (default_route_source(a.ss_family, &a))
					continue;
				log_info("turn.relay_address is not set: relaying on %s, the address of the default route",
					 addr_ip_str(&a, ip));
			}
			*slot = a;
		}
		/* A wildcard of a family without a default route: the other family's route. */
		if (!cfg->turn.relay_v4.ss_family && !cfg->turn.relay_v6.ss_family && wildcard) {
			if (!default_route_source(AF_INET, &cfg->turn.relay_v4) ||
			    !default_route_source(AF_INET6, &cfg->turn.relay_v6))
				log_info("turn.relay_address is not set: relaying on %s, the address of the default route",
					 addr_ip_str(cfg->turn.relay_v4.ss_family ? &cfg->turn.relay_v4
										 : &cfg->turn.relay_v6, ip));
		}
		if (!cfg->turn.relay_v4.ss_family && !cfg->turn.relay_v6.ss_family)
			return fail(c, config_lookup(lc, "turn.listen"), "turn.relay_address",
				    "not set, and this machine has no default route to take it from: set the IP clients reach the relay on, or listen on one address");
		cfg->turn.relay_ip = cfg->turn.relay_v4.ss_family ? cfg->turn.relay_v4
								  : cfg->turn.relay_v6;
	}
	if (!cfg->turn.external_host[0])
		addr_ip_str(&cfg->turn.relay_ip, cfg->turn.external_host);
	if (addr_parse_ip(cfg->turn.external_host, 0, &cfg->turn.external_ip))
		memset(&cfg->turn.external_ip, 0, sizeof(cfg->turn.external_ip));

	if (!config_lookup(lc, "turn.deny_peers")) {
		size_t n;
		const char *const *def = peer_acl_default_deny(&n);
		const struct opt *o = opt_find("turn.deny_peers");
		int err = parse_cidr_list(c, o, NULL, def, n);
		if (err)
			return err;
	}
	if (!config_lookup(lc, "http.metrics_allow")) {
		static const char *const loopback[] = { "127.0.0.0/8", "::1/128" };
		int err = parse_cidr_list(c, opt_find("http.metrics_allow"), NULL, loopback, 2);
		if (err)
			return err;
	}
	return 0;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	struct load_ctx c = { .cfg = cfg, .file = path, .err = err, .errlen = errlen };
	config_t lc;
	int rc = 0;
	const char *slash;

	memset(cfg, 0, sizeof(*cfg));
	if (errlen)
		err[0] = '\0';
	if (strlen(path) >= sizeof(cfg->path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(cfg->path, path);
	slash = strrchr(path, '/');
	if (slash)
		snprintf(c.dir, sizeof(c.dir), "%.*s", (int)(slash - path), path);
	else
		strcpy(c.dir, ".");
	if (!c.dir[0])
		strcpy(c.dir, "/");

	config_init(&lc);
	config_set_include_dir(&lc, c.dir);
	if (!config_read_file(&lc, path)) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO) {
			snprintf(err, errlen, "%s: cannot read the file: %s", path, strerror(errno));
			rc = -ENOENT;
		} else {
			snprintf(err, errlen, "%s:%d: syntax error: %s",
				 config_error_file(&lc) ? config_error_file(&lc) : path,
				 config_error_line(&lc), config_error_text(&lc));
			rc = -EINVAL;
		}
		goto out;
	}

	rc = check_unknown(&c, config_root_setting(&lc), "");
	if (rc)
		goto out;
	for (size_t i = 0; i < N_OPTIONS && !rc; i++) {
		const config_setting_t *s = config_lookup(&lc, options[i].path);
		rc = opt_apply(&c, &options[i], s, s ? NULL : options[i].def);
	}
	if (rc)
		goto out;
	rc = finish(&c, &lc);
out:
	config_destroy(&lc);
	if (rc)
		config_free(cfg);
	return rc;
}

const char *config_option_path(size_t i)
{
	return i < N_OPTIONS ? options[i].path : NULL;
}

bool config_option_live(size_t i)
{
	return i < N_OPTIONS && options[i].live;
}

/* ---- reload (config_reconcile) ---- */

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return (!a->ss_family && !b->ss_family) || addr_equal(a, b);
}

static const void *cfield(const struct config *cfg, size_t off)
{
	return (const char *)cfg + off;
}

/* True if option @o has the same value in @a and @b. */
static bool opt_same(const struct opt *o, const struct config *a, const struct config *b)
{
	switch (o->type) {
	case OPT_UINT:
		return *(const unsigned *)cfield(a, o->off) == *(const unsigned *)cfield(b, o->off);
	case OPT_PORT:
		return *(const uint16_t *)cfield(a, o->off) == *(const uint16_t *)cfield(b, o->off);
	case OPT_LEVEL:
		return a->log_level == b->log_level;
	case OPT_BOOL:
		return *(const bool *)cfield(a, o->off) == *(const bool *)cfield(b, o->off);
	case OPT_STRING:
	case OPT_PATH:
		return strcmp(cfield(a, o->off), cfield(b, o->off)) == 0;
	case OPT_HOSTPORT:
	case OPT_IP:
		return same_addr(cfield(a, o->off), cfield(b, o->off));
	case OPT_HOSTPORTS: {
		size_t n = *(const size_t *)cfield(a, o->off2);
		const struct sockaddr_storage *va = cfield(a, o->off), *vb = cfield(b, o->off);

		if (n != *(const size_t *)cfield(b, o->off2))
			return false;
		for (size_t i = 0; i < n; i++)
			if (!same_addr(&va[i], &vb[i]))
				return false;
		return true;
	}
	case OPT_RELAYS:
		return same_addr(&a->turn.relay_v4, &b->turn.relay_v4) &&
		       same_addr(&a->turn.relay_v6, &b->turn.relay_v6) &&
		       same_addr(&a->turn.relay_ip, &b->turn.relay_ip);
	case OPT_SECRET: {
		const struct cred_secret *sa = cfield(a, o->off), *sb = cfield(b, o->off);

		return sa->len == sb->len && !CRYPTO_memcmp(sa->key, sb->key, sa->len) &&
		       *(const bool *)cfield(a, o->off2) == *(const bool *)cfield(b, o->off2);
	}
	case OPT_SECRET_FILE:
		return true; /* the same field as its OPT_SECRET row, which names the change */
	case OPT_CIDRS: {
		size_t n = *(const size_t *)cfield(a, o->off2);
		const struct cidr *const *va = cfield(a, o->off), *const *vb = cfield(b, o->off);

		return n == *(const size_t *)cfield(b, o->off2) &&
		       (!n || !memcmp(*va, *vb, n * sizeof(**va)));
	}
	case OPT_USERS:
		return a->turn.n_users == b->turn.n_users &&
		       (!a->turn.n_users || !memcmp(a->turn.users, b->turn.users,
						    a->turn.n_users * sizeof(*a->turn.users)));
	}
	return false;
}

/* Copies option @o's value from @src into @dst. Restart-only options are all stored inline (no
 * pointer), which tests/unit/test_core.c checks: the heap-held types are never copied. */
static void opt_copy(const struct opt *o, struct config *dst, const struct config *src)
{
	switch (o->type) {
	case OPT_UINT:
		*(unsigned *)field(dst, o->off) = *(const unsigned *)cfield(src, o->off);
		break;
	case OPT_PORT:
		*(uint16_t *)field(dst, o->off) = *(const uint16_t *)cfield(src, o->off);
		break;
	case OPT_LEVEL:
		dst->log_level = src->log_level;
		break;
	case OPT_BOOL:
		*(bool *)field(dst, o->off) = *(const bool *)cfield(src, o->off);
		break;
	case OPT_STRING:
		memcpy(field(dst, o->off), cfield(src, o->off), o->size);
		/* turn.external_address: and the IP derived from it. */
		if (o->off == F(turn.external_host))
			dst->turn.external_ip = src->turn.external_ip;
		break;
	case OPT_PATH:
		memcpy(field(dst, o->off), cfield(src, o->off), PATH_MAX);
		break;
	case OPT_HOSTPORT:
	case OPT_IP:
		memcpy(field(dst, o->off), cfield(src, o->off), sizeof(struct sockaddr_storage));
		break;
	case OPT_HOSTPORTS:
		memcpy(field(dst, o->off), cfield(src, o->off),
		       CONFIG_LISTEN_MAX * sizeof(struct sockaddr_storage));
		*(size_t *)field(dst, o->off2) = *(const size_t *)cfield(src, o->off2);
		break;
	case OPT_RELAYS:
		dst->turn.relay_v4 = src->turn.relay_v4;
		dst->turn.relay_v6 = src->turn.relay_v6;
		dst->turn.relay_ip = src->turn.relay_ip;
		break;
	default:
		break;
	}
}

bool config_option_copyable(size_t i)
{
	if (i >= N_OPTIONS)
		return false;
	switch (options[i].type) {
	case OPT_SECRET:
	case OPT_SECRET_FILE:
	case OPT_CIDRS:
	case OPT_USERS:
		return false;
	default:
		return true;
	}
}

/* Appends ", @path" (or "@path" first) to @buf, keeping it NUL-terminated. */
static void list_add(char *buf, size_t size, const char *path)
{
	size_t len = strlen(buf);

	snprintf(buf + len, size - len, "%s%s", len ? ", " : "", path);
}

int config_reconcile(struct config *next, const struct config *running,
		     struct config_changes *out)
{
	memset(out, 0, sizeof(*out));
	/* Random secrets (none configured, before and now) stay those of the running process. */
	if (!next->turn.secret_configured && !running->turn.secret_configured)
		next->turn.secret = running->turn.secret;
	if (!next->rooms.token_secret_configured && !running->rooms.token_secret_configured)
		next->rooms.token_secret = running->rooms.token_secret;

	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct opt *o = &options[i];

		if (opt_same(o, next, running))
			continue;
		if (o->live) {
			list_add(out->live, sizeof(out->live), o->path);
			out->n_live++;
			continue;
		}
		if (!config_option_copyable(i))
			return -EINVAL; /* a table mistake; test_core.c catches it */
		opt_copy(o, next, running);
		list_add(out->restart, sizeof(out->restart), o->path);
		out->n_restart++;
	}
	next->turn.listen = next->turn.listens[0]; /* derived, as finish() does */
	return 0;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free(cfg->turn.users);
	free(cfg->turn.peers.allow);
	free(cfg->turn.peers.deny);
	free(cfg->http.metrics_allow);
	cfg->turn.users = NULL;
	cfg->turn.peers.allow = cfg->turn.peers.deny = NULL;
	cfg->http.metrics_allow = NULL;
	cfg->turn.n_users = cfg->turn.peers.n_allow = cfg->turn.peers.n_deny = 0;
	cfg->http.n_metrics_allow = 0;
	/* Secrets do not outlive the config. */
	OPENSSL_cleanse(&cfg->turn.secret, sizeof(cfg->turn.secret));
	OPENSSL_cleanse(&cfg->rooms.token_secret, sizeof(cfg->rooms.token_secret));
}
