/*
 * GET /metrics: Prometheus text exposition format 0.0.4.
 *
 * The TURN counters are a snapshot taken with turn_server_counters() (atomics updated by the
 * relay threads); the room counts come from the hub on this thread. Served only to the
 * addresses of http.metrics_allow, loopback by default (api.c): the numbers reveal how busy the
 * box is and when calls happen.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"
#include "mux/mux.h"
#include "turn/turn.h"

struct buf {
	char *s;
	size_t len, cap;
	bool failed;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		char *s = realloc(b->s, b->cap * 2 + (size_t)n);
		if (!s) {
			b->failed = true;
			return;
		}
		b->s = s;
		b->cap = b->cap * 2 + (size_t)n;
	}
}

/* One metric without labels, with its HELP and TYPE lines. */
static void metric(struct buf *b, const char *name, const char *type, const char *help,
		   uint64_t v)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name, v);
}

/* A counter split by direction="to_peer" / "to_client". */
static void metric_dir(struct buf *b, const char *name, const char *help, uint64_t to_peer,
		       uint64_t to_client)
{
	put(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	put(b, "%s{direction=\"to_peer\"} %" PRIu64 "\n", name, to_peer);
	put(b, "%s{direction=\"to_client\"} %" PRIu64 "\n", name, to_client);
}

char *http__metrics_render(struct http_server *srv, size_t *len)
{
	struct buf b = { .cap = 4096 };
	struct turn_counters c;

	b.s = malloc(b.cap);
	if (!b.s)
		return NULL;
	b.s[0] = '\0';

	if (srv->turn) {
		turn_server_counters(srv->turn, &c);
		metric(&b, "tincan_turn_allocations", "gauge", "TURN allocations now.",
		       c.allocations_now);
		metric(&b, "tincan_turn_allocations_total", "counter",
		       "TURN allocations created since start.", c.allocations_total);
		metric(&b, "tincan_turn_permissions", "gauge", "TURN permissions now.",
		       c.permissions_now);
		metric(&b, "tincan_turn_channels", "gauge", "TURN channel bindings now.",
		       c.channels_now);
		metric_dir(&b, "tincan_turn_relayed_packets_total",
			   "Packets relayed: client to peer, or peer to client.",
			   c.pkts_to_peer, c.pkts_to_client);
		metric_dir(&b, "tincan_turn_relayed_bytes_total",
			   "Application payload bytes relayed: client to peer, or peer to client.",
			   c.bytes_to_peer, c.bytes_to_client);
		metric(&b, "tincan_turn_requests_total", "counter", "STUN/TURN requests answered.",
		       c.requests);
		put(&b, "# HELP tincan_turn_auth_failures_total TURN requests refused (401) for a "
		    "bad credential, by reason.\n# TYPE tincan_turn_auth_failures_total counter\n");
		put(&b, "tincan_turn_auth_failures_total{reason=\"unknown_user\"} %" PRIu64 "\n",
		    c.auth_unknown_user);
		put(&b, "tincan_turn_auth_failures_total{reason=\"expired\"} %" PRIu64 "\n",
		    c.auth_expired);
		put(&b, "tincan_turn_auth_failures_total{reason=\"revoked\"} %" PRIu64 "\n",
		    c.auth_revoked);
		put(&b, "tincan_turn_auth_failures_total{reason=\"bad_integrity\"} %" PRIu64 "\n",
		    c.auth_bad_integrity);
		metric(&b, "tincan_turn_stale_nonces_total", "counter",
		       "TURN requests answered 438 Stale Nonce (expired, forged or another address's).",
		       c.stale_nonces);
		metric(&b, "tincan_turn_malformed_total", "counter",
		       "Datagrams dropped as malformed.", c.malformed);
		metric(&b, "tincan_turn_port_exhausted_total", "counter",
		       "Allocations refused for lack of relay ports (508).", c.port_exhausted);
		metric(&b, "tincan_turn_unauth_dropped_total", "counter",
		       "Answers to unauthenticated requests not sent (turn.unauth_rate).",
		       c.unauth_dropped);
		metric(&b, "tincan_turn_peer_denied_total", "counter",
		       "Permissions refused and Send indications dropped for a denied peer address.",
		       c.peer_denied);
		metric(&b, "tincan_turn_quota_exceeded_total", "counter",
		       "Allocations refused by a user's quota (486, turn.user_quota).",
		       c.quota_exceeded);
		metric(&b, "tincan_turn_capacity_exceeded_total", "counter",
		       "Allocations refused at turn.max_allocations (508).", c.capacity_exceeded);
		metric(&b, "tincan_turn_bandwidth_dropped_total", "counter",
		       "Datagrams dropped by the per-allocation bandwidth cap (turn.bandwidth).",
		       c.bandwidth_dropped);
		metric(&b, "tincan_turn_streams", "gauge",
		       "TURN client connections over TCP and TLS now.", c.streams_now);
		metric(&b, "tincan_turn_streams_total", "counter",
		       "TURN client connections over TCP and TLS accepted.", c.streams_total);
		metric(&b, "tincan_turn_streams_refused_total", "counter",
		       "TURN client connections closed at once: turn.max_connections reached.",
		       c.streams_refused);
		metric(&b, "tincan_turn_stream_dropped_total", "counter",
		       "Messages from peers dropped: the client's TCP/TLS connection was backed up.",
		       c.stream_dropped);
		metric(&b, "tincan_turn_hairpinned_total", "counter",
		       "Datagrams between two allocations of this relay handed over inside the process "
		       "(turn.hairpin), not through the kernel.", c.hairpinned);
		metric(&b, "tincan_turn_handoffs_total", "counter",
		       "Of the hairpinned datagrams, those handed to a relay of another worker "
		       "(turn.workers > 1) through its queue.", c.handoffs);
		metric(&b, "tincan_turn_handoff_full_total", "counter",
		       "Datagrams for a relay of another worker that went through the kernel because "
		       "that worker's queue was full.", c.handoff_full);
		metric(&b, "tincan_turn_coalesce_waits_total", "counter",
		       "Waits of turn.coalesce_us between event-loop rounds under load (interrupt "
		       "coalescing).", c.coalesce_waits);
		metric(&b, "tincan_turn_reservations", "gauge",
		       "Relay ports reserved by EVEN-PORT (R bit) and not yet claimed.",
		       c.reservations_now);
	}
	if (srv->mux) {
		struct mux_counters m;

		mux_server_counters(srv->mux, &m);
		metric(&b, "tincan_mux_accepted_total", "counter",
		       "Connections accepted on the shared port (mux.listen).", m.accepted);
		put(&b, "# HELP tincan_mux_connections_total Shared-port connections by what they "
		    "turned out to be.\n# TYPE tincan_mux_connections_total counter\n");
		const struct { const char *route; uint64_t n; } r[] = {
			{ "turn_tcp", m.to_turn_tcp }, { "turn_tls", m.to_turn_tls },
			{ "https", m.to_https }, { "https_proxied", m.to_https_proxied },
			{ "http", m.to_http }, { "redirected", m.redirected },
			{ "rejected", m.rejected }, { "timed_out", m.timed_out },
			{ "over_limit", m.over_limit },
		};
		for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
			put(&b, "tincan_mux_connections_total{route=\"%s\"} %" PRIu64 "\n",
			    r[i].route, r[i].n);
		metric(&b, "tincan_mux_unclassified", "gauge",
		       "Shared-port connections not yet classified (within mux.classify_timeout).",
		       m.unclassified_now);
	}
	metric(&b, "tincan_rooms", "gauge", "Rooms that exist now.", signal_hub_rooms(srv->hub));
	metric(&b, "tincan_participants", "gauge", "Participants connected by WebSocket now.",
	       signal_hub_peers(srv->hub));
	metric(&b, "tincan_ws_connections", "gauge",
	       "Signaling WebSockets open now (joined or not yet).", srv->conns.count);
	put(&b, "# HELP tincan_http_requests_total HTTP responses by status code (static files: "
	    "those served whole).\n# TYPE tincan_http_requests_total counter\n");
	for (unsigned code = 100; code < 600; code++)
		if (srv->http_status[code])
			put(&b, "tincan_http_requests_total{code=\"%u\"} %" PRIu64 "\n", code,
			    srv->http_status[code]);
	put(&b, "# HELP tincan_build_info Version of tincand.\n# TYPE tincan_build_info gauge\n"
	    "tincan_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);

	if (b.failed) {
		free(b.s);
		return NULL;
	}
	*len = b.len;
	return b.s;
}
