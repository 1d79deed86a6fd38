/*
 * reload: a new configuration for the running relay (turn_server_reload), for SIGHUP.
 *
 * Publication is read-copy-update with a quiescent state per worker:
 *   1. the caller has built a complete, validated struct config (config_reconcile: restart-only
 *      options keep the running values, so sockets, port pools and listeners still match it);
 *   2. it is published with one atomic store to srv->cfg. Readers never lock: every read of
 *      srv->cfg is an atomic load of the pointer, made inside an event callback of a worker (or
 *      of the control thread: turn_server_revoke) and never kept past that callback;
 *   3. a one-shot event is posted to every worker's loop (event_base_once: libevent is set up
 *      for pthreads, so adding an event from another thread is safe and wakes the loop). A loop
 *      runs one callback at a time, so when it runs this one every callback that may have loaded
 *      the old pointer has returned, and every later load sees the new one (the store precedes
 *      the post, which synchronises through libevent's base lock);
 *   4. when every worker has run it, the relay holds no reference to the old configuration and
 *      turn_server_reload returns: the caller may free it.
 * What a worker derives from the config is recomputed where it is used (the limiter's rate and
 * burst, the bandwidth buckets' depth, the static users' USERHASH); the one cache, the workers'
 * long-term keys (auth.c), is made stale by turn_auth_reset right after the swap. Allocations, permissions, channels, reservations and connections stay as they
 * are; new limits apply to new requests (an existing permission to a peer now refused lasts until
 * it expires or is refreshed: the refresh is refused).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include <event2/event.h>

#include "turn/turn_priv.h"

/* Workers that have still to pass through a callback since the swap. */
struct grace {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned pending;
};

static void grace_ack(evutil_socket_t fd, short what, void *arg)
{
	struct grace *g = arg;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&g->lock);
	if (--g->pending == 0)
		pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

int turn_server_reload(struct turn_server *srv, const struct config *cfg)
{
	struct grace g = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	const struct timeval now = { 0, 0 };
	int err = 0;

	if (!srv || !cfg)
		return -EINVAL;
	atomic_store(&srv->cfg, cfg);
	/* The workers' cached long-term keys were derived from the old users, realm and secret. */
	turn_auth_reset(srv);

	pthread_mutex_lock(&g.lock);
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct turn_worker *w = srv->workers[i];

		/* A worker without a thread (turn_server_open_idle) runs no callback. */
		if (!w->running)
			continue;
		if (event_base_once(w->base, -1, EV_TIMEOUT, grace_ack, &g, &now) == 0)
			g.pending++;
		else
			err = -ENOMEM; /* this worker may still hold the old one: keep it */
	}
	while (g.pending)
		pthread_cond_wait(&g.cond, &g.lock);
	pthread_mutex_unlock(&g.lock);
	pthread_cond_destroy(&g.cond);
	pthread_mutex_destroy(&g.lock);
	return err;
}
