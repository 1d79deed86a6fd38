/*
 * tincand: the tincan daemon. One process: the TURN relay on libevent worker threads, and the
 * HTTP/WebSocket server (libwebsockets) on the main thread, which is the control thread.
 *
 * Threads: main (lws loop), TURN worker(s), and a signal thread. SIGINT, SIGTERM and SIGHUP are
 * blocked in every thread and taken with sigwait() by the signal thread, so no work happens in a
 * signal handler; it asks the lws loop to return, main then stops TURN and joins everything.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/config.h"
#include "core/log.h"
#include "http/http.h"
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
	struct http_server *http;
	int sig;             /* the signal that stopped us, or 0 */
};

static void *signal_main(void *arg)
{
	struct signal_thread *st = arg;

	for (;;) {
		int sig;
		if (sigwait(&st->set, &sig))
			continue;
		if (sig == SIGHUP) {
			/* Live reload is a later issue (packaging): say so rather than ignore it silently. */
			log_notice("SIGHUP: configuration reload is not supported yet; restart to apply changes");
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
	struct config cfg;
	char err[1024];
	struct turn_server *turn = NULL;
	struct http_server *http = NULL;
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

	rc = config_load(&cfg, path, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "tincand: %s\n", err);
		return 1;
	}
	if (check_only) {
		printf("%s: configuration is valid\n", path);
		config_free(&cfg);
		return 0;
	}
	log_set_level(cfg.log_level);
	log_notice("tincand %s starting with %s", PACKAGE_VERSION, path);
	if (!cfg.turn.secret_configured)
		log_notice("turn.secret is not set: using a random secret; credentials end with this process");

	/* Block the signals before any thread starts, so every thread inherits the mask. */
	sigemptyset(&st.set);
	sigaddset(&st.set, SIGINT);
	sigaddset(&st.set, SIGTERM);
	sigaddset(&st.set, SIGHUP);
	sigaddset(&st.set, SIGUSR1); /* internal: wakes the signal thread at shutdown */
	pthread_sigmask(SIG_BLOCK, &st.set, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = turn_server_start(&turn, &cfg);
	if (rc) {
		log_err("cannot start the TURN relay: %s", strerror(-rc));
		goto out;
	}
	rc = http_server_create(&http, &cfg, turn);
	if (rc) {
		log_err("cannot start the HTTP server: %s", strerror(-rc));
		goto out;
	}
	st.http = http;
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
	}
	http_server_destroy(http);
	turn_server_stop(turn);
	config_free(&cfg);
	log_notice("tincand stopped");
	return rc ? 1 : 0;
}
