/*
 * http: the libwebsockets server: REST API (/api/...), signaling WebSocket (/api/signal), metrics
 * and the static web UI. Runs its event loop on the thread that calls http_server_run() (the
 * control thread); Debian's lws 4.1.6 has no libevent or external-poll support.
 */
#ifndef TINCAN_HTTP_HTTP_H
#define TINCAN_HTTP_HTTP_H

#include "core/config.h"

struct http_server;
struct turn_server;

/* Creates the lws context and binds the listen address. @cfg must outlive the server; @turn (may be
 * NULL) is read for counters. Returns 0, or a negative errno. */
int http_server_create(struct http_server **out, const struct config *cfg, struct turn_server *turn);

/* Runs the event loop on the calling thread until http_server_stop(). Returns 0. */
int http_server_run(struct http_server *srv);

/* Asks the loop to return. Safe from any thread (not from a signal handler). */
void http_server_stop(struct http_server *srv);

/* Frees the server; closes every connection. @srv may be NULL. */
void http_server_destroy(struct http_server *srv);

#endif
