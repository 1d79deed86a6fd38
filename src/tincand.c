/*
 * tincand: the tincan daemon. One process: the TURN relay on libevent worker threads, and the
 * HTTP/WebSocket server (libwebsockets) on the main thread, which is the control thread.
 *
 * Threads: main (lws loop), TURN worker(s), the shared port's thread (mux.listen, if set), and a
 * signal thread. SIGINT, SIGTERM and SIGHUP are blocked in every thread and taken with sigwait()
 * by the signal thread, so no work happens in a signal handler. SIGINT/SIGTERM ask the lws loop to
 * return; main then stops the shared port and TURN and joins everything.
 *
 * SIGHUP reloads the configuration file and the certificate (reload() below): the file is loaded
 * into a new struct config; if it is invalid the error (FILE:LINE) is logged and nothing changes.
 * Otherwise config_reconcile() keeps the running value of every option that cannot change live
 * (each named in the log) and the new configuration is handed to TURN, HTTP and the shared port,
 * each of which returns once it no longer reads the old one; then the old one is freed. Calls in
 * progress keep their allocations, WebSockets and connections. The signal thread owns the
 * configuration in use from start to exit; main frees the last one after joining it.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/config.h"
#include "core/log.h"
#include "core/tls.h"
#include "http/http.h"
#include "mux/mux.h"
#include "turn/turn.h"

#ifndef TINCAN_SYSCONFDIR
#define TINCAN_SYSCONFDIR "/etc/tincan"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tincand [--config FILE] [--check-config]\n"
		"\n"
		"  -c, --config FILE    configuration file (default %s/tincan.conf)\n"
		"  -t, --check-config   validate the configuration file and exit: 0 valid, 1 not\n"
		"  -V, --version        print the version and exit\n"
		"  -h, --help           print this help and exit\n",
		TINCAN_SYSCONFDIR);
}

struct signal_thread {
	pthread_t thread;
	sigset_t set;
	const char *path;            /* the configuration file */
	struct config *cfg;          /* in use; replaced by a reload */
	/* Configurations a module could not confirm it had let go of (a reload that failed
	 * half-way, -ENOMEM): kept until exit, then freed. */
	struct retired {
		struct retired *next;
		struct config *cfg;
	} *retired;
	struct turn_server *turn;
	struct http_server *http;
	struct mux_server *mux;      /* NULL: no shared port */
	struct tls_server *tls;      /* NULL: no TLS, nothing to reload */
	int sig;                     /* the signal that stopped us, or 0 */
};

/* Reads the certificate files again. tincand's own TLS (TURN over TLS, the no-ALPN path of the
 * shared port) takes the new SSL_CTX for new connections; lws reloads its HTTPS vhost on its
 * thread. Connections already made keep theirs, so no call drops. Broken new files are logged and
 * the old certificate stays. */
static void reload_tls(struct signal_thread *st)
{
	char err[1024];
	bool changed = false;
	int rc;

	if (!st->tls)
		return;
	rc = tls_server_reload(st->tls, &changed, err, sizeof(err));
	if (rc) {
		log_err("SIGHUP: %s; keeping the certificate in use", err);
		return;
	}
	http_server_reload_tls(st->http);
	log_notice("SIGHUP: certificate reloaded (%s)", changed ? "a new one" : "unchanged");
}

/* SIGHUP: loads the file again and switches every module to it (see the top of this file). */
static void reload(struct signal_thread *st)
{
	struct config *next = calloc(1, sizeof(*next));
	struct config_changes ch;
	struct retired *r;
	char err[1024] = "";
	int rc;

	if (!next) {
		log_err("SIGHUP: out of memory; keeping the running configuration");
		return;
	}
	rc = config_load(next, st->path, err, sizeof(err));
	if (!rc)
		rc = config_reconcile(next, st->cfg, &ch);
	if (rc) {
		if (!err[0])
			snprintf(err, sizeof(err), "%s: %s", st->path, strerror(-rc));
		log_err("SIGHUP: %s; keeping the running configuration", err);
		config_free(next);
		free(next);
		return;
	}
	/* One line per option that needs a restart (paths have no commas). */
	for (char *p = ch.restart, *end; *p; p = *end ? end + 2 : end) {
		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		log_warn("SIGHUP: %.*s changed; it takes effect at restart", (int)(end - p), p);
	}

	log_set_level(next->log_level);
	/* Each returns once it no longer reads the old configuration; only then is it freed. */
	rc = turn_server_reload(st->turn, next);
	if (http_server_reload(st->http, next))
		rc = -EINVAL;
	if (st->mux && mux_server_reload(st->mux, next))
		rc = -ENOMEM;
	r = rc ? malloc(sizeof(*r)) : NULL;
	if (r) {
		log_err("SIGHUP: a module could not be told at once; the previous configuration "
			"is kept in memory until exit");
		r->cfg = st->cfg;
		r->next = st->retired;
		st->retired = r;
	} else if (rc) {
		log_err("SIGHUP: a module could not be told at once, and no memory to track it: "
			"the previous configuration is leaked");
	} else {
		config_free(st->cfg);
		free(st->cfg);
	}
	st->cfg = next;
	reload_tls(st);
	log_notice("SIGHUP: configuration reloaded from %s (%u option%s changed%s%s%s%s)", st->path,
		   ch.n_live, ch.n_live == 1 ? "" : "s", ch.n_live ? ": " : "", ch.live,
		   ch.n_restart ? "; restart needed for: " : "", ch.restart);
}

/* Creates @dir and its missing parents (0750), for the self-signed certificate's state directory
 * (the Debian unit's StateDirectory= makes it; a development tree may not have it yet). */
static int mkdir_p(const char *dir)
{
	char path[PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, n + 1);
	for (char *p = path + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(path, 0750) && errno != EEXIST)
				return -errno;
			*p = c;
			if (!c)
				return 0;
		}
	}
}

/* TLS: the certificate (for turn.tls_listen and the shared port), then, with mux.listen, the
 * HTTPS vhost of lws and the shared port's listener. */
static int start_shared_port(const struct config *cfg, struct turn_server *turn,
			     struct http_server *http, struct tls_server **tls, struct mux_server **mux)
{
	struct tls_options opt = {
		.certificate = cfg->tls.certificate, .private_key = cfg->tls.private_key,
		.state_dir = cfg->tls.state_dir, .host = cfg->turn.external_host,
	};
	char err[1024];
	int rc;

	if (!cfg->tls.certificate[0] && (rc = mkdir_p(cfg->tls.state_dir))) {
		log_err("tls.state_dir %s: %s", cfg->tls.state_dir, strerror(-rc));
		return rc;
	}
	rc = tls_server_new(tls, &opt, err, sizeof(err));
	if (rc) {
		log_err("cannot load the certificate: %s", err);
		return rc;
	}
	/* TURN over TLS on turn.tls_listen takes new connections' SSL_CTX from the same server. */
	turn_server_set_tls(turn, *tls);
	if (!cfg->mux.n_listen)
		return 0;
	rc = http_server_tls(http, tls_server_cert_path(*tls), tls_server_key_path(*tls));
	if (rc)
		return rc;
	rc = mux_server_start(mux, cfg, *tls, turn, http);
	if (rc)
		log_err("cannot start the shared port: %s", strerror(-rc));
	else
		http_server_set_mux(http, *mux);
	return rc;
}

/*
 * Grows the process's descriptor table, once, to what a full relay can use: a socket per relay
 * port, the TURN TCP/TLS connections, and room for the HTTP side; at most RLIMIT_NOFILE. Returns
 * the size reserved (descriptors).
 *
 * Why: the kernel doubles the table when a new descriptor does not fit (64, 128, ... entries),
 * and in a multi-threaded process each doubling waits for an RCU grace period
 * (expand_fdtable() calls synchronize_rcu()). The thread that opened the descriptor, a TURN
 * worker opening a relay socket, sleeps through it; on a 2-vCPU VM that was 5-10 ms per
 * doubling, in which every call on that worker stood still. Done here, before any thread starts,
 * no grace period is needed and none is paid later. The cost is kernel memory: 8 bytes per
 * entry (about 256 KiB for the default 16,384 relay ports).
 */
static long reserve_fd_table(const struct config *cfg)
{
	long want = (long)cfg->turn.relay_port_max - cfg->turn.relay_port_min + 1;
	struct rlimit rl;
	int fd;

	if (cfg->turn.relay_v4.ss_family && cfg->turn.relay_v6.ss_family)
		want *= 2;
	want += cfg->turn.max_connections ? cfg->turn.max_connections : 4096;
	want += 1024; /* listening sockets, HTTP and WebSocket clients, files */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)want > rl.rlim_cur)
		want = (long)rl.rlim_cur;
	if (want < 2)
		return 0;
	/* dup2 onto the highest descriptor makes the kernel size the table for it. */
	fd = dup2(STDERR_FILENO, (int)want - 1);
	if (fd < 0)
		return 0;
	close(fd);
	return want;
}

static void *signal_main(void *arg)
{
	struct signal_thread *st = arg;

	for (;;) {
		int sig;
		if (sigwait(&st->set, &sig))
			continue;
		if (sig == SIGHUP) {
			reload(st);
			continue;
		}
		st->sig = sig;
		if (sig != SIGUSR1)
			log_notice("signal %d (%s): shutting down", sig, strsignal(sig));
		http_server_stop(st->http);
		return NULL;
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = TINCAN_SYSCONFDIR "/tincan.conf";
	bool check_only = false;
	struct config *cfg = NULL;
	char err[1024];
	struct turn_server *turn = NULL;
	struct http_server *http = NULL;
	struct tls_server *tls = NULL;
	struct mux_server *mux = NULL;
	struct signal_thread st = { 0 };
	bool st_running = false;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "c:tVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 't': check_only = true; break;
		case 'V': printf("tincand %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tincand: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		fprintf(stderr, "tincand: out of memory\n");
		return 1;
	}
	rc = config_load(cfg, path, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "tincand: %s\n", err);
		free(cfg);
		return 1;
	}
	if (check_only) {
		printf("%s: configuration is valid\n", path);
		config_free(cfg);
		free(cfg);
		return 0;
	}
	log_set_level(cfg->log_level);
	log_notice("tincand %s starting with %s", PACKAGE_VERSION, path);
	if (!cfg->turn.secret_configured)
		log_notice("turn.secret is not set: using a random secret; credentials end with this process");

	/* Block the signals before any thread starts, so every thread inherits the mask. */
	sigemptyset(&st.set);
	sigaddset(&st.set, SIGINT);
	sigaddset(&st.set, SIGTERM);
	sigaddset(&st.set, SIGHUP);
	sigaddset(&st.set, SIGUSR1); /* internal: wakes the signal thread at shutdown */
	pthread_sigmask(SIG_BLOCK, &st.set, NULL);
	signal(SIGPIPE, SIG_IGN);

	log_info("descriptor table reserved for %ld descriptors", reserve_fd_table(cfg));
	rc = turn_server_start(&turn, cfg);
	if (rc) {
		log_err("cannot start the TURN relay: %s", strerror(-rc));
		goto out;
	}
	rc = http_server_create(&http, cfg, turn);
	if (rc) {
		log_err("cannot start the HTTP server: %s", strerror(-rc));
		goto out;
	}
	if (cfg->mux.n_listen || cfg->turn.n_tls_listen) {
		rc = start_shared_port(cfg, turn, http, &tls, &mux);
		if (rc)
			goto out;
	}
	st.path = path;
	st.cfg = cfg;
	st.turn = turn;
	st.http = http;
	st.mux = mux;
	st.tls = tls;
	rc = -pthread_create(&st.thread, NULL, signal_main, &st);
	if (rc) {
		log_err("cannot start the signal thread: %s", strerror(-rc));
		goto out;
	}
	st_running = true;

	log_notice("tincand ready");
	rc = http_server_run(http);

out:
	if (st_running) {
		if (!st.sig)
			pthread_kill(st.thread, SIGUSR1);
		pthread_join(st.thread, NULL);
		cfg = st.cfg; /* a reload may have replaced it */
	}
	/* The shared port first: it hands connections to both others. */
	mux_server_stop(mux);
	http_server_destroy(http);
	turn_server_stop(turn);
	tls_server_free(tls);
	config_free(cfg);
	free(cfg);
	while (st.retired) {
		struct retired *r = st.retired;

		st.retired = r->next;
		config_free(r->cfg);
		free(r->cfg);
		free(r);
	}
	log_notice("tincand stopped");
	return rc ? 1 : 0;
}
