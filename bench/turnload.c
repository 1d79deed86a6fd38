/*
 * turnload: a load generator for TURN relays over UDP (tincand, coturn) and a bare-kernel baseline.
 *
 * What it measures
 * - Sets up N allocations (N even) on one TURN server with long-term credentials (a static user)
 *   or TURN REST credentials (minted here with core/cred.h), pipelined, and reports how many
 *   allocations per second the server completed. Allocation 2k and 2k+1 form a pair: each gets a
 *   permission and, in channel mode, a channel binding to the other's relayed address.
 * - Then every client sends to its partner: client A -> server -> relay A -> relay B -> server ->
 *   client B, and back: the path of two browsers that both use TURN. One such end-to-end packet is
 *   one "relayed packet" here (it crosses the server twice). Channel mode sends ChannelData,
 *   indication mode Send indications (answered as Data indications).
 * - Payloads carry a trial id, the sender's index, a sequence number and a CLOCK_MONOTONIC
 *   timestamp, so the receiver (same host, same clock) counts loss and one-way latency.
 * - Trials: a fixed rate, flat out (saturation), a bounded binary search for the highest rate with
 *   no loss (the 0%-loss ceiling) and a latency trial at a given rate. Around each measurement
 *   window it reads the server's CPU time (utime + stime of /proc/PID/stat), every core's busy
 *   time (/proc/stat) and the kernel's UDP drop counter (/proc/net/snmp); around setup, the
 *   server's VmRSS.
 * - --forwarder replaces the TURN server by a bare UDP forwarder (recvmmsg/sendmmsg, no TURN at
 *   all) forked from this process and pinned to the server's cores. With --fwd-hops 2 (default)
 *   it has the relay's socket layout: one listening socket, one "relay" socket per allocation,
 *   client -> listen -> relay A -> relay B -> listen -> client. It is the physical limit of this
 *   path on this machine.
 *
 * It must never be the bottleneck it measures. Each generator thread owns its pairs (both sides,
 * so no locks and no shared counters), sends in bursts with sendmmsg on connected sockets,
 * receives with recvmmsg, and preallocates every buffer. Client sockets get large receive buffers
 * and SO_RXQ_OVFL: a datagram the kernel dropped because the generator did not read in time is
 * counted as gen_drops, apart from the relay's loss. Each thread also reports how much of the
 * window it was busy (not waiting for the next packet to be due), and the per-core busy times show
 * which side of the machine ran out of CPU.
 *
 * Must never: send anywhere but the configured server (loopback in every script), run unbounded
 * (every phase has a deadline; the forwarder dies with this process), or count a packet of an
 * earlier trial in the current one.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/cred.h"
#include "turn/stun.h"

#define BATCH 64              /* datagrams per recvmmsg / sendmmsg */
#define PKT_MAX 2048          /* bytes per datagram buffer */
#define PAYLOAD_MIN 32        /* struct pl_hdr */
#define PAYLOAD_MAX 1400
#define BURST_MAX BATCH
#define SEND_CHUNK 256        /* packets sent per loop turn before receiving again */
#define MAGIC 0x544C4431u     /* "TLD1" */
#define MAX_CPUS 64
#define SPIN_NS 50000         /* waits shorter than this spin; longer ones sleep in epoll */
#define RTO_NS 500000000ull   /* first request retransmission timeout; doubles */
#define CHANNEL 0x4000

/* The head of every payload; the rest is zeros up to --size. Host order: same machine. */
struct pl_hdr {
	uint32_t magic;
	uint32_t trial;       /* trial id: packets of an earlier trial are not counted */
	uint32_t flow;        /* index of the sending allocation */
	uint32_t rsv;
	uint64_t seq;
	uint64_t ts;          /* CLOCK_MONOTONIC ns, just before sendmmsg */
};

enum mode { MODE_CHANNEL, MODE_INDICATION };

static struct opts {
	struct sockaddr_storage server;
	unsigned allocs;
	const char *user, *pass, *secret;
	enum mode mode;
	unsigned size;
	double rate;              /* pps over all threads; 0 = flat out */
	double duration, warmup, drain;
	unsigned threads;
	int cpus[MAX_CPUS], n_cpus;
	int srv_cpus[MAX_CPUS], n_srv_cpus;
	pid_t server_pid;
	bool ceiling;
	unsigned steps;
	double step_duration, sat_duration;
	double loss_tol;          /* percent */
	double latency_rate, latency_frac;
	bool forwarder;
	unsigned fwd_hops;
	unsigned burst;
	unsigned window;          /* requests in flight per thread during setup */
	double setup_timeout;
	const char *label;
	bool quiet;
	bool no_trial;            /* only setup (and RSS) */
} opt = {
	.allocs = 10, .mode = MODE_CHANNEL, .size = 160, .rate = 10000, .duration = 3,
	.warmup = 0.5, .drain = 0.3, .steps = 7, .step_duration = 1, .sat_duration = 2,
	.fwd_hops = 2, .burst = 8, .window = 256, .setup_timeout = 30, .label = "server",
};

/* ---- clock, CPU sets, /proc ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000ull),
			       .tv_nsec = (long)(t % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Parses "0", "0,1", "0-3" into @out. Returns the count, or -1. */
static int parse_cpus(const char *s, int *out)
{
	int n = 0;

	while (*s) {
		char *end;
		long a = strtol(s, &end, 10), b = a;

		if (end == s || a < 0 || a >= 1024)
			return -1;
		if (*end == '-') {
			s = end + 1;
			b = strtol(s, &end, 10);
			if (end == s || b < a || b >= 1024)
				return -1;
		}
		for (long c = a; c <= b; c++) {
			if (n == MAX_CPUS)
				return -1;
			out[n++] = (int)c;
		}
		s = end;
		if (*s == ',')
			s++;
		else if (*s)
			return -1;
	}
	return n;
}

/* Pins the calling thread (@tid 0) or process to the CPUs in @cpus. */
static void pin(pid_t pid, const int *cpus, int n)
{
	cpu_set_t set;

	if (n <= 0)
		return;
	CPU_ZERO(&set);
	for (int i = 0; i < n; i++)
		CPU_SET(cpus[i], &set);
	if (sched_setaffinity(pid, sizeof(set), &set) < 0)
		fprintf(stderr, "turnload: cannot pin to cpu %d...: %s\n", cpus[0], strerror(errno));
}

/* utime + stime of process @pid in seconds, or -1. */
static double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces: fields are counted after its closing parenthesis. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* VmRSS of @pid in KiB, or -1. */
static long proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Busy and total jiffies of every core (/proc/stat). Returns the number of cores read. */
static int proc_cores(unsigned long long *busy, unsigned long long *total)
{
	char line[512];
	int n = 0;
	FILE *f = fopen("/proc/stat", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f) && n < MAX_CPUS) {
		unsigned long long v[8] = { 0 };
		int cpu;

		if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9')
			continue;
		if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1],
			   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 9)
			continue;
		total[n] = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
		busy[n] = total[n] - v[3] - v[4]; /* minus idle and iowait */
		n++;
	}
	fclose(f);
	return n;
}

/* The kernel's count of UDP datagrams dropped for a full receive buffer (all sockets). */
static unsigned long long proc_udp_rcvbuf_errors(void)
{
	char hdr[512], val[512];
	unsigned long long out = 0;
	FILE *f = fopen("/proc/net/snmp", "r");

	if (!f)
		return 0;
	while (fgets(hdr, sizeof(hdr), f)) {
		char *h, *v, *hs, *vs;
		if (strncmp(hdr, "Udp:", 4) != 0 || !fgets(val, sizeof(val), f))
			continue;
		h = strtok_r(hdr, " \n", &hs);
		v = strtok_r(val, " \n", &vs);
		while (h && v) {
			if (strcmp(h, "RcvbufErrors") == 0)
				out = strtoull(v, NULL, 10);
			h = strtok_r(NULL, " \n", &hs);
			v = strtok_r(NULL, " \n", &vs);
		}
		break;
	}
	fclose(f);
	return out;
}

/* Packets the kernel dropped because a CPU's input backlog was full (/proc/net/softnet_stat,
 * second column, summed over CPUs): loopback traffic passes through that queue. */
static unsigned long long proc_backlog_drops(void)
{
	unsigned long long out = 0;
	unsigned int processed, dropped;
	char line[512];
	FILE *f = fopen("/proc/net/softnet_stat", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%x %x", &processed, &dropped) == 2)
			out += dropped;
	fclose(f);
	return out;
}

/* ---- latency histogram: log-linear, 32 sub-buckets per power of two (about 3 %) ---- */

#define HIST_N (64 + 58 * 32)

static unsigned hist_idx(uint64_t v)
{
	unsigned e;

	if (v < 64)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	return 64 + (e - 6) * 32 + (unsigned)((v >> (e - 5)) & 31);
}

/* The middle of bucket @i, in ns. */
static double hist_val(unsigned i)
{
	unsigned e, sub;

	if (i < 64)
		return i;
	e = (i - 64) / 32 + 6;
	sub = (i - 64) % 32;
	return (double)((32ull + sub) << (e - 5)) + (double)(1ull << (e - 5)) / 2;
}

/* The @q quantile (0..1) in µs of @h holding @n samples; 0 if empty. */
static double hist_quantile(const uint64_t *h, uint64_t n, double q)
{
	uint64_t want, acc = 0;

	if (!n)
		return 0;
	want = (uint64_t)ceil(q * (double)n);
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < HIST_N; i++) {
		acc += h[i];
		if (acc >= want)
			return hist_val(i) / 1000.0;
	}
	return hist_val(HIST_N - 1) / 1000.0;
}

/* ---- clients ---- */

enum cstate {
	C_NEW, C_ALLOC, C_ALLOCATED, C_PERM, C_BIND, C_READY, C_REFRESH, C_DONE, C_FAILED
};

/* One allocation: one client socket, so one 5-tuple. */
struct client {
	int fd;
	uint32_t idx, peer;                 /* this allocation's index and its partner's */
	struct sockaddr_storage local;
	struct sockaddr_storage relayed;    /* XOR-RELAYED-ADDRESS, or the forwarder's relay socket */
	char user[CRED_USERNAME_MAX];
	char pass[128];
	char realm[128];
	char nonce[128];
	uint8_t key[16];                    /* long-term key, once the realm is known */
	enum cstate st;
	int err;                            /* STUN error code or -errno of a failure */
	uint16_t method;                    /* of the request in flight; 0 if none */
	uint8_t tid[STUN_TID_LEN];
	uint8_t req[512];                   /* that request, resent as is (same transaction) */
	size_t req_len;
	uint64_t due;                       /* retransmission time, ns */
	unsigned tries;
	/* Data path: a prebuilt datagram; the payload header is written at @poff for each send. */
	uint8_t tmpl[PKT_MAX];
	size_t dlen, poff;
	uint64_t seq;
	uint32_t ovfl;                      /* last SO_RXQ_OVFL count seen */
};

static struct client *C;
static unsigned NC;

/* Per-trial parameters, written by main before the start barrier. */
struct trial {
	uint32_t id;
	double rate;                        /* pps over all threads, 0 = flat out */
	uint64_t t_start, t_win, t_end, t_drain;
};

/* Per-thread trial counters. */
struct tstats {
	uint64_t tx;                        /* datagrams sent during the trial */
	uint64_t tx_win;                    /* ... with a timestamp inside the window */
	uint64_t rx_of_win;                 /* of those, received (whenever, until the drain ends) */
	uint64_t rx_in_win;                 /* received inside the window: throughput */
	uint64_t rx_bytes_in_win;           /* their application payload bytes */
	uint64_t stray;                     /* not ours, or from an earlier trial */
	uint64_t gen_drops;                 /* dropped on our own sockets (SO_RXQ_OVFL) */
	uint64_t send_err;
	uint64_t idle_ns;                   /* window time spent waiting for the next due packet */
	uint64_t n_lat;
	uint64_t hist[HIST_N];
};

struct gen_thread {
	pthread_t th;
	unsigned id;
	unsigned c0, c1;                    /* clients [c0, c1): whole pairs */
	int ep;
	uint32_t rng;
	unsigned *ready;                    /* indexes of the clients in C_READY */
	unsigned n_ready;
	uint64_t setup_start;               /* when it began the phase (its first request) */
	uint64_t setup_end;                 /* when its last request of the phase finished */
	struct tstats s;
	/* Preallocated batches. */
	struct mmsghdr rmsg[BATCH];
	struct iovec riov[BATCH];
	uint8_t rctl[BATCH][CMSG_SPACE(sizeof(uint32_t))];
	uint8_t rbuf[BATCH][PKT_MAX];
	struct mmsghdr smsg[BURST_MAX];
	struct iovec siov[BURST_MAX];
	uint8_t sbuf[BURST_MAX][PKT_MAX];
};

static struct gen_thread *T;

enum cmd { CMD_ALLOC, CMD_PERM, CMD_TRIAL, CMD_TEARDOWN, CMD_EXIT };

static struct {
	pthread_barrier_t bar;
	enum cmd cmd;
	struct trial tr;
	uint64_t deadline;
} ctl;

static uint32_t xorshift(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

/* Opens client @c's socket: 127.0.0.1:0, connected to @to, big receive buffer, SO_RXQ_OVFL. */
static int client_open(struct client *c, const struct sockaddr_storage *to, int rcvbuf)
{
	socklen_t len = sizeof(c->local);
	int one = 1;

	c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	/* Root may exceed net.core.rmem_max; others get what rmem_max allows. */
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	(void)setsockopt(c->fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	addr_parse_ip("127.0.0.1", 0, &c->local);
	if (bind(c->fd, (struct sockaddr *)&c->local, addr_len(&c->local)) < 0 ||
	    getsockname(c->fd, (struct sockaddr *)&c->local, &len) < 0 ||
	    connect(c->fd, (const struct sockaddr *)to, addr_len(to)) < 0)
		return -errno;
	return 0;
}

/* ---- setup: pipelined requests with retransmission ---- */

/* Sends @c's request in flight again, unchanged: a retransmission is the same transaction
 * (RFC 8489 §6.2.1), so a server that already acted on it answers from its cache rather than
 * with 437. */
static void req_resend(struct client *c)
{
	(void)send(c->fd, c->req, c->req_len, 0);
	c->due = now_ns() + (RTO_NS << (c->tries < 6 ? c->tries : 6));
	c->tries++;
}

/* Starts a new transaction: builds request @method for @c with a fresh transaction id, keeps it
 * for retransmissions and sends it. */
static void req_send(struct gen_thread *t, struct client *c, uint16_t method)
{
	struct stun_builder b;

	for (int i = 0; i < STUN_TID_LEN; i += 4) {
		uint32_t r = xorshift(&t->rng);
		memcpy(c->tid + i, &r, 4);
	}
	c->method = method;
	stun_build_init(&b, c->req, sizeof(c->req), method, STUN_CLASS_REQUEST, c->tid);
	switch (method) {
	case TURN_METHOD_ALLOCATE:
		stun_build_u32(&b, TURN_ATTR_REQUESTED_TRANSPORT, (uint32_t)IPPROTO_UDP << 24);
		break;
	case TURN_METHOD_CREATE_PERMISSION:
		stun_build_xor_addr(&b, TURN_ATTR_XOR_PEER_ADDRESS, &C[c->peer].relayed);
		break;
	case TURN_METHOD_CHANNEL_BIND:
		stun_build_u32(&b, TURN_ATTR_CHANNEL_NUMBER, (uint32_t)CHANNEL << 16);
		stun_build_xor_addr(&b, TURN_ATTR_XOR_PEER_ADDRESS, &C[c->peer].relayed);
		break;
	case TURN_METHOD_REFRESH:
		stun_build_u32(&b, TURN_ATTR_LIFETIME, 0);
		break;
	}
	if (c->nonce[0]) {
		stun_build_attr(&b, STUN_ATTR_USERNAME, c->user, strlen(c->user));
		stun_build_attr(&b, STUN_ATTR_REALM, c->realm, strlen(c->realm));
		stun_build_attr(&b, STUN_ATTR_NONCE, c->nonce, strlen(c->nonce));
		stun_build_integrity(&b, c->key, sizeof(c->key));
	}
	stun_build_fingerprint(&b);
	if (stun_build_finish(&b, &c->req_len)) {
		c->st = C_FAILED;
		c->err = -EINVAL;
		c->method = 0;
		return;
	}
	req_resend(c);
}

static void copy_attr_str(const struct stun_msg *m, uint16_t type, char *out, size_t cap)
{
	const struct stun_attr *a = stun_msg_attr(m, type);
	size_t n;

	if (!a)
		return;
	n = a->len < cap - 1 ? a->len : cap - 1;
	memcpy(out, a->val, n);
	out[n] = '\0';
}

static void fail(struct client *c, int err)
{
	c->st = C_FAILED;
	c->err = err;
	c->method = 0;
}

/* True if @c has nothing more to do in the current phase. */
static bool phase_done(const struct client *c)
{
	return c->method == 0;
}

/* Handles a datagram that arrived on @c's socket during setup or teardown. */
static void on_response(struct gen_thread *t, struct client *c, const uint8_t *buf, size_t len)
{
	const struct stun_attr *a;
	struct stun_msg m;
	const char *reason;
	size_t rlen;
	int code;

	if (!c->method || !stun_is_message(buf, len) || stun_msg_parse(&m, buf, len))
		return;
	if (m.method != c->method || memcmp(m.tid, c->tid, STUN_TID_LEN) != 0)
		return; /* an answer to an earlier try, or a Data indication */
	if (m.cls == STUN_CLASS_SUCCESS) {
		c->tries = 0;
		switch (c->method) {
		case TURN_METHOD_ALLOCATE:
			a = stun_msg_attr(&m, TURN_ATTR_XOR_RELAYED_ADDRESS);
			if (!a || stun_attr_xor_addr(&m, a, &c->relayed)) {
				fail(c, -EBADMSG);
				return;
			}
			c->st = C_ALLOCATED;
			c->method = 0;
			return;
		case TURN_METHOD_CREATE_PERMISSION:
			if (opt.mode == MODE_CHANNEL) {
				c->st = C_BIND;
				req_send(t, c, TURN_METHOD_CHANNEL_BIND);
				return;
			}
			c->st = C_READY;
			c->method = 0;
			return;
		case TURN_METHOD_CHANNEL_BIND:
			c->st = C_READY;
			c->method = 0;
			return;
		case TURN_METHOD_REFRESH:
			c->st = C_DONE;
			c->method = 0;
			return;
		}
		return;
	}
	if (m.cls != STUN_CLASS_ERROR)
		return;
	a = stun_msg_attr(&m, STUN_ATTR_ERROR_CODE);
	if (!a || stun_attr_error_code(a, &code, &reason, &rlen)) {
		fail(c, -EBADMSG);
		return;
	}
	/* 401 to a request without credentials, or 438: take the realm and nonce and retry (RFC 8489
	 * §9.2.4). A 401 to a request that had credentials is final. */
	if ((code == 401 && !c->nonce[0]) || code == 438) {
		char realm[sizeof(c->realm)];

		snprintf(realm, sizeof(realm), "%s", c->realm);
		copy_attr_str(&m, STUN_ATTR_REALM, c->realm, sizeof(c->realm));
		copy_attr_str(&m, STUN_ATTR_NONCE, c->nonce, sizeof(c->nonce));
		if (!c->nonce[0] || !c->realm[0]) {
			fail(c, code);
			return;
		}
		if (strcmp(realm, c->realm) != 0)
			stun_ltc_key(c->user, strlen(c->user), c->realm, strlen(c->realm), c->pass,
				     strlen(c->pass), c->key);
		c->tries = 0;
		req_send(t, c, c->method);
		return;
	}
	/* A Refresh of an allocation the server already dropped: nothing left to delete. */
	if (c->method == TURN_METHOD_REFRESH && code == 437) {
		c->st = C_DONE;
		c->method = 0;
		return;
	}
	fail(c, code);
}

/* Starts client @c's part of phase @cmd; leaves c->method 0 if it has nothing to do. */
static void phase_start(struct gen_thread *t, struct client *c, enum cmd cmd)
{
	struct client *p = &C[c->peer];

	switch (cmd) {
	case CMD_ALLOC:
		c->st = C_ALLOC;
		c->tries = 0;
		req_send(t, c, TURN_METHOD_ALLOCATE);
		break;
	case CMD_PERM:
		if (c->st != C_ALLOCATED)
			break;
		if (p->st != C_ALLOCATED && p->st != C_PERM && p->st != C_BIND && p->st != C_READY) {
			c->err = -ENOTCONN; /* partner failed: no traffic for this pair */
			break;
		}
		c->st = C_PERM;
		c->tries = 0;
		req_send(t, c, TURN_METHOD_CREATE_PERMISSION);
		break;
	case CMD_TEARDOWN:
		if (c->st < C_ALLOCATED || c->st > C_READY)
			break;
		c->st = C_REFRESH;
		c->tries = 0;
		req_send(t, c, TURN_METHOD_REFRESH);
		break;
	default:
		break;
	}
}

/* Runs phase @cmd for the thread's clients: at most opt.window requests in flight, answers read as
 * they come, retransmissions with doubling timeouts, everything bounded by ctl.deadline. */
static void run_phase(struct gen_thread *t, enum cmd cmd)
{
	struct epoll_event ev[256];
	unsigned next = t->c0, inflight = 0, max_tries = cmd == CMD_TEARDOWN ? 2 : 7;
	uint64_t last_scan = 0;

	t->setup_start = t->setup_end = now_ns();
	for (;;) {
		uint64_t now;
		int n;

		/* Start new requests up to the window. */
		while (inflight < opt.window && next < t->c1) {
			struct client *c = &C[next++];
			phase_start(t, c, cmd);
			if (!phase_done(c))
				inflight++;
		}
		if (!inflight && next >= t->c1)
			break;
		if (now_ns() >= ctl.deadline)
			break;
		/* Read answers. */
		n = epoll_wait(t->ep, ev, 256, 5);
		for (int i = 0; i < n; i++) {
			struct client *c = &C[ev[i].data.u32];
			ssize_t len;

			/* One datagram per readiness event: a client has one request in flight,
			 * and the (level-triggered) epoll reports a socket again if more is
			 * queued; reading until EAGAIN cost the generator a third of its calls. */
			if ((len = recv(c->fd, t->rbuf[0], PKT_MAX, 0)) > 0) {
				bool was = !phase_done(c);
				on_response(t, c, t->rbuf[0], (size_t)len);
				if (was && phase_done(c)) {
					inflight--;
					t->setup_end = now_ns();
				}
			}
		}
		/* Retransmit what is due, at most every millisecond. */
		now = now_ns();
		if (now - last_scan < 1000000)
			continue;
		last_scan = now;
		for (unsigned i = t->c0; i < next; i++) {
			struct client *c = &C[i];
			if (phase_done(c) || c->due > now)
				continue;
			if (c->tries >= max_tries) {
				fail(c, -ETIMEDOUT);
				inflight--;
				continue;
			}
			req_resend(c);
		}
	}
	/* Whatever is still in flight at the deadline has failed. */
	for (unsigned i = t->c0; i < t->c1; i++)
		if (!phase_done(&C[i]))
			fail(&C[i], -ETIMEDOUT);
}

/* ---- data path ---- */

/* Prebuilds @c's datagram: ChannelData or a Send indication to the partner's relayed address. */
static int client_template(struct client *c)
{
	struct stun_builder b;
	uint8_t tid[STUN_TID_LEN] = { 0 };
	uint8_t zero[PAYLOAD_MAX] = { 0 };

	if (opt.mode == MODE_CHANNEL || opt.forwarder) {
		turn_channeldata_header(c->tmpl, CHANNEL, (uint16_t)opt.size);
		memset(c->tmpl + TURN_CHANNELDATA_HDR, 0, opt.size);
		c->poff = TURN_CHANNELDATA_HDR;
		c->dlen = TURN_CHANNELDATA_HDR + opt.size;
		/* RFC 8656 §12.5: over UDP the padding to 4 bytes is optional; none is sent. */
		return 0;
	}
	stun_build_init(&b, c->tmpl, sizeof(c->tmpl), TURN_METHOD_SEND, STUN_CLASS_INDICATION, tid);
	stun_build_xor_addr(&b, TURN_ATTR_XOR_PEER_ADDRESS, &C[c->peer].relayed);
	c->poff = b.len + 4; /* DATA's value follows its 4-byte attribute header */
	stun_build_attr(&b, TURN_ATTR_DATA, zero, opt.size);
	return stun_build_finish(&b, &c->dlen);
}

/* Finds the payload in a datagram received in the current mode. Returns its length, or -1. */
static long payload_of(const uint8_t *buf, size_t len, const uint8_t **pl)
{
	struct stun_msg m;
	const struct stun_attr *a;
	uint16_t num, dlen;

	if (opt.mode == MODE_CHANNEL || opt.forwarder) {
		if (turn_channeldata_parse(buf, len, &num, pl, &dlen))
			return -1;
		return dlen;
	}
	if (!stun_is_message(buf, len) || stun_msg_parse(&m, buf, len) ||
	    m.method != TURN_METHOD_DATA || m.cls != STUN_CLASS_INDICATION)
		return -1;
	a = stun_msg_attr(&m, TURN_ATTR_DATA);
	if (!a)
		return -1;
	*pl = a->val;
	return a->len;
}

/* Sends up to @due datagrams, round robin over the ready clients, up to opt.burst per sendmmsg.
 * Returns the number sent. */
static uint64_t send_some(struct gen_thread *t, const struct trial *tr, uint64_t due,
			  unsigned *rr)
{
	uint64_t sent = 0;

	if (due > SEND_CHUNK)
		due = SEND_CHUNK;
	while (due) {
		struct client *c = &C[t->ready[*rr]];
		unsigned k = due < opt.burst ? (unsigned)due : opt.burst;
		uint64_t ts = now_ns();
		int r;

		*rr = (*rr + 1) % t->n_ready;
		for (unsigned j = 0; j < k; j++) {
			struct pl_hdr h = { MAGIC, tr->id, c->idx, 0, c->seq + j, ts };
			uint8_t *d = t->sbuf[j];

			memcpy(d, c->tmpl, c->dlen);
			memcpy(d + c->poff, &h, sizeof(h));
			if (opt.mode == MODE_INDICATION && !opt.forwarder)
				memcpy(d + 8, &h.seq, sizeof(h.seq)); /* a distinct transaction id */
			t->siov[j].iov_base = d;
			t->siov[j].iov_len = c->dlen;
			memset(&t->smsg[j].msg_hdr, 0, sizeof(t->smsg[j].msg_hdr));
			t->smsg[j].msg_hdr.msg_iov = &t->siov[j];
			t->smsg[j].msg_hdr.msg_iovlen = 1;
		}
		r = sendmmsg(c->fd, t->smsg, k, 0);
		if (r < 0) {
			t->s.send_err++;
			r = 0;
		}
		c->seq += (unsigned)r;
		t->s.tx += (unsigned)r;
		if (ts >= tr->t_win && ts < tr->t_end)
			t->s.tx_win += (unsigned)r;
		sent += (unsigned)r;
		due -= k;
		if ((unsigned)r < k)
			break; /* the socket pushes back: let the receiver catch up */
	}
	return sent;
}

/* Reads everything pending on @c's socket. Returns the number of datagrams read. */
static unsigned recv_all(struct gen_thread *t, struct client *c, const struct trial *tr)
{
	unsigned got = 0;

	for (;;) {
		uint64_t now;
		int r;

		for (unsigned i = 0; i < BATCH; i++) {
			struct msghdr *mh = &t->rmsg[i].msg_hdr;

			t->riov[i].iov_base = t->rbuf[i];
			t->riov[i].iov_len = PKT_MAX;
			memset(mh, 0, sizeof(*mh));
			mh->msg_iov = &t->riov[i];
			mh->msg_iovlen = 1;
			mh->msg_control = t->rctl[i];
			mh->msg_controllen = sizeof(t->rctl[i]);
		}
		r = recvmmsg(c->fd, t->rmsg, BATCH, MSG_DONTWAIT, NULL);
		if (r <= 0)
			break;
		now = now_ns();
		got += (unsigned)r;
		for (int i = 0; i < r; i++) {
			struct msghdr *mh = &t->rmsg[i].msg_hdr;
			const uint8_t *pl;
			struct pl_hdr h;
			struct cmsghdr *cm;
			long plen;

			for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
				uint32_t ovfl;
				if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SO_RXQ_OVFL)
					continue;
				memcpy(&ovfl, CMSG_DATA(cm), sizeof(ovfl));
				t->s.gen_drops += (uint32_t)(ovfl - c->ovfl);
				c->ovfl = ovfl;
			}
			plen = payload_of(t->rbuf[i], t->rmsg[i].msg_len, &pl);
			if (plen < (long)sizeof(h)) {
				t->s.stray++;
				continue;
			}
			memcpy(&h, pl, sizeof(h));
			if (h.magic != MAGIC || h.trial != tr->id || h.flow != c->peer) {
				t->s.stray++;
				continue;
			}
			if (h.ts >= tr->t_win && h.ts < tr->t_end)
				t->s.rx_of_win++;
			if (now >= tr->t_win && now < tr->t_end) {
				t->s.rx_in_win++;
				t->s.rx_bytes_in_win += (uint64_t)plen;
				t->s.hist[hist_idx(now > h.ts ? now - h.ts : 0)]++;
				t->s.n_lat++;
			}
		}
		if (r < BATCH)
			break;
	}
	return got;
}

/* Runs one trial on the thread's ready clients. */
static void run_trial(struct gen_thread *t, const struct trial *tr)
{
	struct epoll_event ev[256];
	double rate = tr->rate / (double)opt.threads;
	uint64_t sent = 0;
	unsigned rr = 0;

	memset(&t->s, 0, sizeof(t->s));
	sleep_until(tr->t_start);
	for (;;) {
		uint64_t now = now_ns(), wait_ns = 0, turn_start = now;
		bool worked = false;
		int n;

		if (now >= tr->t_drain)
			break;
		if (now < tr->t_end && t->n_ready) {
			uint64_t due;

			if (rate > 0) {
				uint64_t target = (uint64_t)((double)(now - tr->t_start) * rate / 1e9);
				due = target > sent ? target - sent : 0;
			} else {
				due = SEND_CHUNK;
			}
			if (due) {
				sent += send_some(t, tr, due, &rr);
				worked = true;
			}
		}
		n = epoll_wait(t->ep, ev, 256, 0);
		for (int i = 0; i < n; i++)
			if (recv_all(t, &C[ev[i].data.u32], tr))
				worked = true;
		if (worked)
			continue;
		/* Idle: wait for the next due packet or an arrival. */
		now = now_ns();
		if (now >= tr->t_end)
			wait_ns = tr->t_drain > now ? tr->t_drain - now : 0;
		else if (rate > 0) {
			uint64_t next = tr->t_start + (uint64_t)((double)(sent + 1) * 1e9 / rate);
			wait_ns = next > now ? next - now : 0;
		}
		if (wait_ns > 1000000)
			wait_ns = 1000000;
		if (wait_ns >= SPIN_NS) {
			struct timespec ts = { 0, (long)wait_ns };
			n = epoll_pwait2(t->ep, ev, 256, &ts, NULL);
			for (int i = 0; i < n; i++)
				recv_all(t, &C[ev[i].data.u32], tr);
		}
		/* The whole turn found nothing to do: it counts as idle, spinning or asleep. */
		if (turn_start >= tr->t_win && turn_start < tr->t_end) {
			uint64_t after = now_ns();
			t->s.idle_ns += (after < tr->t_end ? after : tr->t_end) - turn_start;
		}
	}
}

/* ---- generator threads ---- */

/* Derives a long-term key and signs one message, so that OpenSSL's one-time set-up (reading its
 * configuration, fetching the algorithms, this thread's MAC contexts: about 1.5 ms) happens before
 * the clock starts rather than inside the first allocation's round trip, where it was most of
 * the measured setup time at 10 allocations. */
static void warm_crypto(void)
{
	uint8_t key[16], buf[128], tid[STUN_TID_LEN] = { 0 };
	struct stun_builder b;
	size_t len;

	stun_ltc_key("u", 1, "r", 1, "p", 1, key);
	stun_build_init(&b, buf, sizeof(buf), TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST, tid);
	stun_build_integrity(&b, key, sizeof(key));
	stun_build_fingerprint(&b);
	(void)stun_build_finish(&b, &len);
}

static void *gen_main(void *arg)
{
	struct gen_thread *t = arg;

	if (opt.n_cpus)
		pin(0, &opt.cpus[t->id % (unsigned)opt.n_cpus], 1);
	warm_crypto();
	for (;;) {
		pthread_barrier_wait(&ctl.bar);
		switch (ctl.cmd) {
		case CMD_ALLOC:
		case CMD_PERM:
		case CMD_TEARDOWN:
			run_phase(t, ctl.cmd);
			break;
		case CMD_TRIAL:
			run_trial(t, &ctl.tr);
			break;
		case CMD_EXIT:
			return NULL;
		}
		pthread_barrier_wait(&ctl.bar);
	}
}

/* Runs @cmd on every thread and waits for them. */
static void run_cmd(enum cmd cmd, double timeout_s)
{
	ctl.cmd = cmd;
	ctl.deadline = now_ns() + (uint64_t)(timeout_s * 1e9);
	pthread_barrier_wait(&ctl.bar);
	pthread_barrier_wait(&ctl.bar);
}

/* ---- the bare forwarder (child process) ---- */

struct fwd {
	int lfd;                          /* the "listening" socket the clients send to */
	int *rfd;                         /* one "relay" socket per allocation */
	int32_t *by_port;                 /* client port -> allocation index */
};

/* Forwards a batch that arrived on the listening socket. Two hops: each datagram leaves from the
 * relay socket of its sender's allocation towards the partner's relay socket; consecutive datagrams
 * of one allocation go out in one sendmmsg. One hop: the whole batch goes straight back out of the
 * listening socket to the partner clients. */
static void fwd_from_clients(struct fwd *f, struct mmsghdr *m, int n)
{
	int i = 0;

	if (opt.fwd_hops == 1) {
		int k = 0;
		for (int j = 0; j < n; j++) {
			const struct sockaddr_in *src = m[j].msg_hdr.msg_name;
			int32_t a = f->by_port[ntohs(src->sin_port)];
			if (a < 0)
				continue;
			memcpy(m[j].msg_hdr.msg_name, &C[C[a].peer].local, sizeof(struct sockaddr_in));
			m[j].msg_hdr.msg_iov->iov_len = m[j].msg_len;
			if (k != j) {
				struct mmsghdr tmp = m[k];
				m[k] = m[j];
				m[j] = tmp;
			}
			k++;
		}
		if (k)
			(void)sendmmsg(f->lfd, m, (unsigned)k, 0);
		return;
	}
	while (i < n) {
		const struct sockaddr_in *src = m[i].msg_hdr.msg_name;
		int32_t a = f->by_port[ntohs(src->sin_port)];
		int j = i + 1;

		if (a < 0) {
			i++;
			continue;
		}
		while (j < n && f->by_port[ntohs(((const struct sockaddr_in *)
						  m[j].msg_hdr.msg_name)->sin_port)] == a)
			j++;
		for (int k = i; k < j; k++) {
			memcpy(m[k].msg_hdr.msg_name, &C[C[a].peer].relayed, sizeof(struct sockaddr_in));
			m[k].msg_hdr.msg_iov->iov_len = m[k].msg_len;
		}
		(void)sendmmsg(f->rfd[a], m + i, (unsigned)(j - i), 0);
		i = j;
	}
}

static int fwd_main(struct fwd *f)
{
	static struct mmsghdr m[BATCH], out[BATCH];
	static struct iovec iov[BATCH], oiov[BATCH];
	static struct sockaddr_in names[BATCH], onames[BATCH];
	static uint8_t bufs[BATCH][PKT_MAX], obufs[BATCH][PKT_MAX];
	struct epoll_event ev[256], e = { .events = EPOLLIN };
	unsigned nout = 0;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	e.data.u32 = UINT32_MAX;
	epoll_ctl(ep, EPOLL_CTL_ADD, f->lfd, &e);
	for (unsigned i = 0; opt.fwd_hops == 2 && i < NC; i++) {
		e.data.u32 = i;
		epoll_ctl(ep, EPOLL_CTL_ADD, f->rfd[i], &e);
	}
	for (;;) {
		int n = epoll_wait(ep, ev, 256, 1000);

		for (int i = 0; i < n; i++) {
			if (ev[i].data.u32 == UINT32_MAX) {
				/* Client -> relay socket of its allocation -> partner's relay socket.
				 * One batch per turn: a flooded listening socket must not starve the
				 * relay sockets (level-triggered epoll brings it back). */
				int r;
				for (int k = 0; k < BATCH; k++) {
					iov[k] = (struct iovec){ bufs[k], PKT_MAX };
					m[k].msg_hdr = (struct msghdr){ .msg_name = &names[k],
						.msg_namelen = sizeof(names[k]), .msg_iov = &iov[k],
						.msg_iovlen = 1 };
				}
				r = recvmmsg(f->lfd, m, BATCH, MSG_DONTWAIT, NULL);
				if (r > 0)
					fwd_from_clients(f, m, r);
				continue;
			}
			/* Relay socket of allocation a -> client a, batched on the listening socket;
			 * one batch per socket per turn. */
			unsigned a = ev[i].data.u32;
			int r;
			for (unsigned k = nout; k < BATCH; k++) {
				oiov[k] = (struct iovec){ obufs[k], PKT_MAX };
				out[k].msg_hdr = (struct msghdr){ .msg_name = &onames[k],
					.msg_namelen = sizeof(onames[k]), .msg_iov = &oiov[k],
					.msg_iovlen = 1 };
			}
			r = recvmmsg(f->rfd[a], out + nout, BATCH - nout, MSG_DONTWAIT, NULL);
			if (r <= 0)
				continue;
			for (unsigned k = nout; k < nout + (unsigned)r; k++) {
				memcpy(&onames[k], &C[a].local, sizeof(onames[k]));
				oiov[k].iov_len = out[k].msg_len;
			}
			nout += (unsigned)r;
			if (nout == BATCH) {
				(void)sendmmsg(f->lfd, out, nout, 0);
				nout = 0;
			}
		}
		if (nout) {
			(void)sendmmsg(f->lfd, out, nout, 0);
			nout = 0;
		}
	}
	return 0;
}

/* Binds a UDP socket on 127.0.0.1:0 with @buf-byte buffers (0: the kernel's defaults) and stores
 * its address. Returns the fd or -1. */
static int udp_bound(struct sockaddr_storage *a, int buf)
{
	socklen_t len = sizeof(*a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (buf > 0) {
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	}
	addr_parse_ip("127.0.0.1", 0, a);
	if (bind(fd, (struct sockaddr *)a, addr_len(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)a, &len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Creates the forwarder's sockets; the server address becomes its listening socket's, each
 * allocation's relayed address its relay socket's. Returns 0 or -1. */
static int fwd_sockets(struct fwd *f)
{
	/* The listening socket gets the buffers tincand asks for (SOCK_BUF_BYTES in server.c);
	 * relay sockets keep the defaults, as tincand's do. */
	f->lfd = udp_bound(&opt.server, 4 * 1024 * 1024);
	f->rfd = calloc(NC, sizeof(*f->rfd));
	f->by_port = malloc(65536 * sizeof(*f->by_port));
	if (f->lfd < 0 || !f->rfd || !f->by_port)
		return -1;
	memset(f->by_port, 0xff, 65536 * sizeof(*f->by_port));
	for (unsigned i = 0; i < NC; i++) {
		f->rfd[i] = udp_bound(&C[i].relayed, 0);
		if (f->rfd[i] < 0)
			return -1;
	}
	return 0;
}

/* Forks the forwarder, pinned to --server-cpus, once the client sockets exist. Returns its pid
 * (the parent keeps none of its sockets), or -1. Must run before the generator threads start. */
static pid_t fwd_start(struct fwd *f)
{
	pid_t pid;

	for (unsigned i = 0; i < NC; i++)
		f->by_port[addr_port(&C[i].local)] = (int32_t)i;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(f->lfd);
		for (unsigned i = 0; i < NC; i++)
			close(f->rfd[i]);
		return pid;
	}
	/* Child: dies with the generator, whatever happens to it, and within an hour anyway. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(0);
	alarm(3600);
	for (unsigned i = 0; i < NC; i++)
		close(C[i].fd);
	pin(0, opt.srv_cpus, opt.n_srv_cpus);
	_exit(fwd_main(f));
}

/* ---- measurement ---- */

struct result {
	const char *kind;
	double rate;                /* offered pps, 0 = flat out */
	double tx_pps, rx_pps, mbps, loss_pct;
	double p50, p99, p999, pmax;  /* µs */
	double srv_cpu_s, srv_util, cpu_s_per_mpkt;
	double gen_busy;            /* the busiest thread's busy fraction of the window */
	double gen_cpu_util;        /* generator process CPU / window / threads */
	uint64_t tx_win, rx_win, gen_drops, stray, kernel_drops, backlog_drops, send_err;
	int n_cores;
	double core_util[MAX_CPUS];
	bool pass;
	/* The generator, not the server, may have set the pace: it was busy all the window while
	 * the server was not, or it could not send at the offered rate. */
	bool gen_limited;
	/* CPU that other processes took on the server's and the generator's cores during the
	 * window (a core's busy fraction minus ours), when the cores are known: on a shared machine
	 * a trial with much of it measured the neighbours too. */
	double other_load;
};

static uint32_t trial_seq;
static pid_t measured_pid;        /* server (or forwarder) whose CPU is read */

static double proc_self_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs a trial at @rate (0 = flat out) for @dur seconds of window. */
static void trial(struct result *res, const char *kind, double rate, double dur)
{
	static uint64_t hist[HIST_N];
	unsigned long long b0[MAX_CPUS], t0[MAX_CPUS], b1[MAX_CPUS], t1[MAX_CPUS];
	unsigned long long kd0, kd1, bd0, bd1;
	double c0, c1, g0, g1, win;
	uint64_t nlat = 0, rx_bytes = 0, rx_in = 0, max_busy = 0;
	int nc;
	struct trial *tr = &ctl.tr;

	memset(res, 0, sizeof(*res));
	res->kind = kind;
	res->rate = rate;
	tr->id = ++trial_seq;
	tr->rate = rate;
	tr->t_start = now_ns() + 20000000;
	tr->t_win = tr->t_start + (uint64_t)(opt.warmup * 1e9);
	tr->t_end = tr->t_win + (uint64_t)(dur * 1e9);
	tr->t_drain = tr->t_end + (uint64_t)(opt.drain * 1e9);

	ctl.cmd = CMD_TRIAL;
	pthread_barrier_wait(&ctl.bar);
	sleep_until(tr->t_win);
	c0 = measured_pid ? proc_cpu_s(measured_pid) : 0;
	g0 = proc_self_cpu_s();
	nc = proc_cores(b0, t0);
	kd0 = proc_udp_rcvbuf_errors();
	bd0 = proc_backlog_drops();
	sleep_until(tr->t_end);
	c1 = measured_pid ? proc_cpu_s(measured_pid) : 0;
	g1 = proc_self_cpu_s();
	proc_cores(b1, t1);
	kd1 = proc_udp_rcvbuf_errors();
	bd1 = proc_backlog_drops();
	pthread_barrier_wait(&ctl.bar);

	win = (double)(tr->t_end - tr->t_win) / 1e9;
	memset(hist, 0, sizeof(hist));
	for (unsigned i = 0; i < opt.threads; i++) {
		struct tstats *s = &T[i].s;
		uint64_t busy = (uint64_t)(win * 1e9) - (s->idle_ns < (uint64_t)(win * 1e9) ?
							  s->idle_ns : (uint64_t)(win * 1e9));
		res->tx_win += s->tx_win;
		res->rx_win += s->rx_of_win;
		res->gen_drops += s->gen_drops;
		res->stray += s->stray;
		res->send_err += s->send_err;
		rx_in += s->rx_in_win;
		rx_bytes += s->rx_bytes_in_win;
		nlat += s->n_lat;
		for (unsigned j = 0; j < HIST_N; j++)
			hist[j] += s->hist[j];
		if (busy > max_busy)
			max_busy = busy;
	}
	res->tx_pps = (double)res->tx_win / win;
	res->rx_pps = (double)rx_in / win;
	res->mbps = (double)rx_bytes * 8 / win / 1e6;
	res->loss_pct = res->tx_win ? 100.0 * (1.0 - (double)res->rx_win / (double)res->tx_win) : 0;
	if (res->loss_pct < 0)
		res->loss_pct = 0;
	res->p50 = hist_quantile(hist, nlat, 0.5);
	res->p99 = hist_quantile(hist, nlat, 0.99);
	res->p999 = hist_quantile(hist, nlat, 0.999);
	res->pmax = hist_quantile(hist, nlat, 1.0);
	res->srv_cpu_s = measured_pid ? c1 - c0 : 0;
	res->srv_util = res->srv_cpu_s / win;
	res->cpu_s_per_mpkt = rx_in ? res->srv_cpu_s / ((double)rx_in / 1e6) : 0;
	res->gen_busy = (double)max_busy / (win * 1e9);
	res->gen_cpu_util = (g1 - g0) / win / opt.threads;
	res->kernel_drops = kd1 - kd0;
	res->backlog_drops = bd1 - bd0;
	res->n_cores = nc;
	for (int i = 0; i < nc; i++)
		res->core_util[i] = t1[i] > t0[i] ? (double)(b1[i] - b0[i]) / (double)(t1[i] - t0[i]) : 0;
	res->pass = res->tx_win > 0 && res->rx_win > 0 && res->loss_pct <= opt.loss_tol;
	res->other_load = 0;
	for (int i = 0; i < opt.n_srv_cpus && measured_pid; i++) {
		int c = opt.srv_cpus[i];
		double o = c < nc ? res->core_util[c] - res->srv_util / opt.n_srv_cpus : 0;
		if (o > res->other_load)
			res->other_load = o;
	}
	for (int i = 0; i < opt.n_cpus; i++) {
		int c = opt.cpus[i];
		double o = c < nc ? res->core_util[c] - res->gen_cpu_util * opt.threads / opt.n_cpus : 0;
		if (o > res->other_load)
			res->other_load = o;
	}
	res->gen_limited = (rate > 0 && res->tx_pps < 0.97 * rate) ||
			   (res->gen_busy > 0.95 && measured_pid && res->srv_util < 0.9);
}

/* ---- output ---- */

static void print_header(void)
{
	if (opt.quiet)
		return;
	printf("%-10s %9s %9s %9s %8s %7s %8s %8s %8s %8s %6s %9s %5s %5s %6s\n", "trial", "offered",
	       "tx_pps", "rx_pps", "Mbit/s", "loss%", "p50_us", "p99_us", "p999_us", "max_us",
	       "srv%", "cpu_s/Mp", "gen%", "genb%", "gdrop");
}

static void print_row(const struct result *r)
{
	char offered[32];

	if (opt.quiet)
		return;
	if (r->rate > 0)
		snprintf(offered, sizeof(offered), "%.0f", r->rate);
	else
		snprintf(offered, sizeof(offered), "flat");
	printf("%-10s %9s %9.0f %9.0f %8.1f %7.3f %8.1f %8.1f %8.1f %8.1f %6.1f %9.3f %5.0f %5.0f %6" PRIu64
	       "%s\n", r->kind, offered, r->tx_pps, r->rx_pps, r->mbps, r->loss_pct, r->p50, r->p99,
	       r->p999, r->pmax, r->srv_util * 100, r->cpu_s_per_mpkt, r->gen_cpu_util * 100,
	       r->gen_busy * 100, r->gen_drops, r->gen_limited ? "  generator-bound" : "");
	fflush(stdout);
}

static void json_result(FILE *f, const struct result *r)
{
	fprintf(f, "{\"kind\":\"%s\",\"rate\":%.0f,\"tx_pps\":%.1f,\"rx_pps\":%.1f,\"mbps\":%.2f,"
		"\"loss_pct\":%.4f,\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.2f,"
		"\"srv_cpu_s\":%.3f,\"srv_util\":%.3f,\"cpu_s_per_mpkt\":%.4f,\"gen_cpu_util\":%.3f,"
		"\"gen_busy\":%.3f,\"gen_limited\":%s,\"other_load\":%.3f,\"gen_drops\":%" PRIu64
		",\"stray\":%" PRIu64
		",\"kernel_rcvbuf_drops\":%" PRIu64 ",\"kernel_backlog_drops\":%" PRIu64
		",\"send_err\":%" PRIu64 ",\"tx\":%" PRIu64
		",\"rx\":%" PRIu64 ",\"core_util\":[", r->kind, r->rate, r->tx_pps, r->rx_pps, r->mbps,
		r->loss_pct, r->p50, r->p99, r->p999, r->pmax, r->srv_cpu_s, r->srv_util,
		r->cpu_s_per_mpkt, r->gen_cpu_util, r->gen_busy, r->gen_limited ? "true" : "false",
		r->other_load, r->gen_drops, r->stray,
		r->kernel_drops, r->backlog_drops, r->send_err, r->tx_win, r->rx_win);
	for (int i = 0; i < r->n_cores; i++)
		fprintf(f, "%s%.3f", i ? "," : "", r->core_util[i]);
	fprintf(f, "]}");
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
"Usage: turnload [OPTIONS]\n"
"\n"
"Load generator for a TURN relay over UDP (and a bare UDP forwarder baseline).\n"
"N allocations are set up and paired (2k <-> 2k+1); each client sends to its partner through\n"
"both relays: client A -> relay A -> relay B -> client B, and back. One such end-to-end packet\n"
"is one relayed packet. Loopback only: the server must be on 127.0.0.1.\n"
"\n"
"Target\n"
"  -s, --server IP:PORT     TURN server (default 127.0.0.1:3478)\n"
"  -u, --user NAME          static long-term credential user\n"
"  -p, --pass PASSWORD      its password\n"
"  -S, --secret SECRET      TURN REST credentials instead: usernames \"<expiry>:bench<i>\"\n"
"      --server-pid PID     read this process's CPU time (/proc/PID/stat) and VmRSS\n"
"      --forwarder          no TURN server: fork a bare recvmmsg/sendmmsg UDP forwarder with the\n"
"                           relay's socket layout and measure it (ignores --server, credentials)\n"
"      --fwd-hops 1|2       forwarder path: 2 = client->listen->relay A->relay B->listen->client\n"
"                           like the relay (default), 1 = client->listen->client\n"
"      --server-cpus LIST   the server's CPUs (e.g. 0): the forwarder is pinned there; for any\n"
"                           server, other processes' load on them is reported (other_load)\n"
"\n"
"Load\n"
"  -n, --allocs N           allocations, even (default 10)\n"
"  -m, --mode MODE          channel (ChannelData, default) or indication (Send/Data)\n"
"  -l, --size BYTES         application payload per packet, %d..%d (default 160)\n"
"  -r, --rate PPS           offered packets/s over all clients; 0 = flat out (default 10000)\n"
"  -d, --duration SEC       measured window of a trial (default 3)\n"
"      --warmup SEC         sending before the window opens (default 0.5)\n"
"      --drain SEC          waiting for stragglers after sending stops (default 0.3)\n"
"  -t, --threads N          generator threads (default: CPUs in --cpus, else 1)\n"
"      --cpus LIST          pin generator threads to these CPUs, round robin (e.g. 1)\n"
"      --burst N            datagrams per sendmmsg on one socket, 1..%d (default 8)\n"
"      --window N           setup requests in flight per thread (default 256)\n"
"      --setup-timeout SEC  bound on each setup phase (default 30)\n"
"\n"
"Trials (default: one trial at --rate)\n"
"      --ceiling            flat-out saturation trial, then a binary search for the highest\n"
"                           rate with loss <= --loss-tolerance (the 0%%-loss ceiling)\n"
"      --steps N            search steps (default 7)\n"
"      --step-duration SEC  window of each search step (default 1)\n"
"      --sat-duration SEC   window of the saturation trial (default 2)\n"
"      --loss-tolerance PCT loss allowed at the ceiling (default 0)\n"
"      --latency-rate PPS   add a latency trial at this rate\n"
"      --latency-frac F     add a latency trial at F x the ceiling found (with --ceiling)\n"
"      --setup-only         set up, measure RSS, tear down; no traffic\n"
"\n"
"Output\n"
"      --label NAME         name of the target in the JSON line (default \"server\")\n"
"  -q, --quiet              only the JSON line\n"
"  -h, --help               this help\n"
"\n"
"Prints a table (one row per trial: offered, tx and rx pps, Mbit/s of payload received, loss %%,\n"
"one-way latency percentiles in us, server CPU %% and CPU seconds per million relayed packets,\n"
"generator CPU %% and busy %%, datagrams dropped on the generator's own sockets; \"generator-\n"
"bound\" if the generator, not the server, set the pace), then one JSON line with everything.\n"
"Exit status: 0, 1 if no pair could be set up, 2 for bad usage.\n",
		PAYLOAD_MIN, PAYLOAD_MAX, BURST_MAX);
}

enum {
	O_SERVER_PID = 256, O_FORWARDER, O_FWD_HOPS, O_SERVER_CPUS, O_WARMUP, O_DRAIN, O_CPUS,
	O_BURST, O_WINDOW, O_SETUP_TIMEOUT, O_CEILING, O_STEPS, O_STEP_DURATION, O_SAT_DURATION,
	O_LOSS_TOL, O_LAT_RATE, O_LAT_FRAC, O_SETUP_ONLY, O_LABEL,
};

static int parse_opts(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "server", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ "pass", required_argument, NULL, 'p' },
		{ "secret", required_argument, NULL, 'S' },
		{ "server-pid", required_argument, NULL, O_SERVER_PID },
		{ "forwarder", no_argument, NULL, O_FORWARDER },
		{ "fwd-hops", required_argument, NULL, O_FWD_HOPS },
		{ "server-cpus", required_argument, NULL, O_SERVER_CPUS },
		{ "allocs", required_argument, NULL, 'n' },
		{ "mode", required_argument, NULL, 'm' },
		{ "size", required_argument, NULL, 'l' },
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "drain", required_argument, NULL, O_DRAIN },
		{ "threads", required_argument, NULL, 't' },
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "burst", required_argument, NULL, O_BURST },
		{ "window", required_argument, NULL, O_WINDOW },
		{ "setup-timeout", required_argument, NULL, O_SETUP_TIMEOUT },
		{ "ceiling", no_argument, NULL, O_CEILING },
		{ "steps", required_argument, NULL, O_STEPS },
		{ "step-duration", required_argument, NULL, O_STEP_DURATION },
		{ "sat-duration", required_argument, NULL, O_SAT_DURATION },
		{ "loss-tolerance", required_argument, NULL, O_LOSS_TOL },
		{ "latency-rate", required_argument, NULL, O_LAT_RATE },
		{ "latency-frac", required_argument, NULL, O_LAT_FRAC },
		{ "setup-only", no_argument, NULL, O_SETUP_ONLY },
		{ "label", required_argument, NULL, O_LABEL },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	addr_parse_ip("127.0.0.1", 3478, &opt.server);
	while ((c = getopt_long(argc, argv, "s:u:p:S:n:m:l:r:d:t:qh", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			if (addr_parse_hostport(optarg, 0, &opt.server) ||
			    opt.server.ss_family != AF_INET) {
				fprintf(stderr, "turnload: --server: IPv4 IP:PORT expected\n");
				return -1;
			}
			break;
		case 'u': opt.user = optarg; break;
		case 'p': opt.pass = optarg; break;
		case 'S': opt.secret = optarg; break;
		case O_SERVER_PID: opt.server_pid = (pid_t)atoi(optarg); break;
		case O_FORWARDER: opt.forwarder = true; break;
		case O_FWD_HOPS: opt.fwd_hops = (unsigned)atoi(optarg); break;
		case O_SERVER_CPUS:
			opt.n_srv_cpus = parse_cpus(optarg, opt.srv_cpus);
			if (opt.n_srv_cpus < 0) {
				fprintf(stderr, "turnload: --server-cpus: bad CPU list\n");
				return -1;
			}
			break;
		case 'n': opt.allocs = (unsigned)atoi(optarg); break;
		case 'm':
			if (strcmp(optarg, "channel") == 0)
				opt.mode = MODE_CHANNEL;
			else if (strcmp(optarg, "indication") == 0)
				opt.mode = MODE_INDICATION;
			else {
				fprintf(stderr, "turnload: --mode: channel or indication\n");
				return -1;
			}
			break;
		case 'l': opt.size = (unsigned)atoi(optarg); break;
		case 'r': opt.rate = atof(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case O_WARMUP: opt.warmup = atof(optarg); break;
		case O_DRAIN: opt.drain = atof(optarg); break;
		case 't': opt.threads = (unsigned)atoi(optarg); break;
		case O_CPUS:
			opt.n_cpus = parse_cpus(optarg, opt.cpus);
			if (opt.n_cpus < 0) {
				fprintf(stderr, "turnload: --cpus: bad CPU list\n");
				return -1;
			}
			break;
		case O_BURST: opt.burst = (unsigned)atoi(optarg); break;
		case O_WINDOW: opt.window = (unsigned)atoi(optarg); break;
		case O_SETUP_TIMEOUT: opt.setup_timeout = atof(optarg); break;
		case O_CEILING: opt.ceiling = true; break;
		case O_STEPS: opt.steps = (unsigned)atoi(optarg); break;
		case O_STEP_DURATION: opt.step_duration = atof(optarg); break;
		case O_SAT_DURATION: opt.sat_duration = atof(optarg); break;
		case O_LOSS_TOL: opt.loss_tol = atof(optarg); break;
		case O_LAT_RATE: opt.latency_rate = atof(optarg); break;
		case O_LAT_FRAC: opt.latency_frac = atof(optarg); break;
		case O_SETUP_ONLY: opt.no_trial = true; break;
		case O_LABEL: opt.label = optarg; break;
		case 'q': opt.quiet = true; break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "turnload: unexpected argument %s\n", argv[optind]);
		return -1;
	}
	if (opt.allocs < 2 || opt.allocs % 2 || opt.allocs > 30000) {
		fprintf(stderr, "turnload: --allocs must be even, 2..30000\n");
		return -1;
	}
	if (opt.size < PAYLOAD_MIN || opt.size > PAYLOAD_MAX || opt.burst < 1 ||
	    opt.burst > BURST_MAX || opt.window < 1 || opt.duration <= 0 || opt.rate < 0 ||
	    (opt.fwd_hops != 1 && opt.fwd_hops != 2)) {
		fprintf(stderr, "turnload: bad --size, --burst, --window, --duration, --rate or --fwd-hops\n");
		return -1;
	}
	if (!opt.forwarder && !opt.secret && (!opt.user || !opt.pass)) {
		fprintf(stderr, "turnload: credentials needed: --user and --pass, or --secret\n");
		return -1;
	}
	if (!opt.threads)
		opt.threads = opt.n_cpus > 0 ? (unsigned)opt.n_cpus : 1;
	if (opt.threads > opt.allocs / 2)
		opt.threads = opt.allocs / 2;
	return 0;
}

/* ---- main ---- */

/* Sets up every client's credentials and socket. Returns 0 or -1. */
static int clients_create(void)
{
	struct cred_secret sec = { 0 };
	int rcvbuf = (int)(32u * 1024 * 1024 / NC);

	if (rcvbuf < 256 * 1024)
		rcvbuf = 256 * 1024;
	if (rcvbuf > 4 * 1024 * 1024)
		rcvbuf = 4 * 1024 * 1024;
	if (opt.secret) {
		sec.len = strlen(opt.secret);
		if (sec.len < 1 || sec.len > CRED_SECRET_MAX) {
			fprintf(stderr, "turnload: --secret must be 1..%d bytes\n", CRED_SECRET_MAX);
			return -1;
		}
		memcpy(sec.key, opt.secret, sec.len);
	}
	for (unsigned i = 0; i < NC; i++) {
		struct client *c = &C[i];
		int err;

		c->idx = i;
		c->peer = i ^ 1;
		c->fd = -1;
		if (opt.secret) {
			char id[32], pass[CRED_PASSWORD_MAX];

			snprintf(id, sizeof(id), "bench%u", i);
			if (cred_rest_mint(&sec, id, time(NULL), 86400, c->user, pass))
				return -1;
			snprintf(c->pass, sizeof(c->pass), "%s", pass);
		} else if (opt.user) {
			snprintf(c->user, sizeof(c->user), "%s", opt.user);
			snprintf(c->pass, sizeof(c->pass), "%s", opt.pass);
		}
		err = client_open(c, &opt.server, rcvbuf);
		if (err) {
			fprintf(stderr, "turnload: client socket %u: %s (raise ulimit -n?)\n", i,
				strerror(-err));
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct result res[64];
	unsigned nres = 0, n_ready = 0, n_failed = 0;
	double alloc_rate = 0, alloc_s = 0, perm_s = 0, ceiling = 0, saturation = 0;
	double alloc_srv_cpu = 0, alloc_gen_cpu = 0;
	bool ceiling_gen_limited = false;
	double max_other = 0;
	unsigned n_deleted = 0;
	long rss0 = -1, rss1 = -1;
	struct fwd fwd = { 0 };
	pid_t fwd_pid = 0;
	int first_err = 0;
	uint64_t t0;

	if (parse_opts(argc, argv)) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	NC = opt.allocs;
	C = calloc(NC, sizeof(*C));
	T = calloc(opt.threads, sizeof(*T));
	if (!C || !T) {
		fprintf(stderr, "turnload: out of memory\n");
		return 1;
	}
	/* The forwarder's sockets exist before the clients connect to them; it is forked before any
	 * thread starts. */
	if (opt.forwarder && fwd_sockets(&fwd)) {
		fprintf(stderr, "turnload: cannot open the forwarder's sockets\n");
		return 1;
	}
	if (clients_create())
		return 1;
	if (opt.forwarder) {
		fwd_pid = fwd_start(&fwd);
		if (fwd_pid < 0) {
			fprintf(stderr, "turnload: cannot start the forwarder\n");
			return 1;
		}
		measured_pid = fwd_pid;
	} else {
		measured_pid = opt.server_pid;
	}

	/* Threads own whole pairs, split evenly. */
	pthread_barrier_init(&ctl.bar, NULL, opt.threads + 1);
	for (unsigned i = 0, pairs = NC / 2; i < opt.threads; i++) {
		struct gen_thread *t = &T[i];
		struct epoll_event e = { .events = EPOLLIN };

		t->id = i;
		t->c0 = 2 * (pairs * i / opt.threads);
		t->c1 = 2 * (pairs * (i + 1) / opt.threads);
		t->rng = 0x9E3779B9u ^ (uint32_t)(i * 7919 + 1) ^ (uint32_t)getpid();
		t->ready = calloc(t->c1 - t->c0, sizeof(*t->ready));
		t->ep = epoll_create1(EPOLL_CLOEXEC);
		if (!t->ready || t->ep < 0)
			return 1;
		for (unsigned j = t->c0; j < t->c1; j++) {
			e.data.u32 = j;
			epoll_ctl(t->ep, EPOLL_CTL_ADD, C[j].fd, &e);
		}
		if (pthread_create(&t->th, NULL, gen_main, t)) {
			fprintf(stderr, "turnload: cannot start thread %u\n", i);
			return 1;
		}
	}

	/* Setup: allocations (timed), then permissions and channels. */
	if (!opt.forwarder) {
		if (opt.server_pid)
			rss0 = proc_rss_kib(opt.server_pid);
		t0 = now_ns();
		alloc_srv_cpu = opt.server_pid ? proc_cpu_s(opt.server_pid) : 0;
		alloc_gen_cpu = proc_self_cpu_s();
		run_cmd(CMD_ALLOC, opt.setup_timeout);
		alloc_srv_cpu = opt.server_pid ? proc_cpu_s(opt.server_pid) - alloc_srv_cpu : 0;
		alloc_gen_cpu = proc_self_cpu_s() - alloc_gen_cpu;
		{
			/* From the first request any thread sent: waking the threads is not the
			 * server's time (an idle vCPU of this VM took 1.5-3.5 ms to wake, longer
			 * than 10 allocations take). */
			uint64_t end = t0, start = UINT64_MAX;
			unsigned ok = 0;
			for (unsigned i = 0; i < opt.threads; i++) {
				if (T[i].setup_end > end)
					end = T[i].setup_end;
				if (T[i].setup_start < start)
					start = T[i].setup_start;
			}
			if (start > t0 && start < end)
				t0 = start;
			for (unsigned i = 0; i < NC; i++)
				ok += C[i].st == C_ALLOCATED;
			alloc_s = (double)(end - t0) / 1e9;
			alloc_rate = alloc_s > 0 ? ok / alloc_s : 0;
		}
		t0 = now_ns();
		run_cmd(CMD_PERM, opt.setup_timeout);
		perm_s = (double)(now_ns() - t0) / 1e9;
		if (opt.server_pid)
			rss1 = proc_rss_kib(opt.server_pid);
	} else {
		for (unsigned i = 0; i < NC; i++)
			C[i].st = C_READY;
	}
	for (unsigned i = 0; i < NC; i++) {
		struct client *c = &C[i];
		if (c->st == C_READY && C[c->peer].st == C_READY && client_template(c) == 0)
			continue;
		if (c->st == C_FAILED) {
			n_failed++;
			if (!first_err)
				first_err = c->err;
		}
	}
	for (unsigned i = 0; i < opt.threads; i++) {
		struct gen_thread *t = &T[i];
		for (unsigned j = t->c0; j < t->c1; j++)
			if (C[j].st == C_READY && C[C[j].peer].st == C_READY && C[j].dlen)
				t->ready[t->n_ready++] = j;
		n_ready += t->n_ready;
	}
	if (!opt.quiet) {
		printf("turnload: %s, %u allocations, %s, %u-byte payloads, %u generator thread(s)\n",
		       opt.forwarder ? "bare forwarder" : opt.label, NC,
		       opt.forwarder ? "forwarded" : opt.mode == MODE_CHANNEL ? "ChannelData" :
		       "Send/Data indications", opt.size, opt.threads);
		if (!opt.forwarder)
			printf("setup: %.0f allocations/s (%.3f s; CPU: server %.2f s, generator %.2f s), "
			       "permissions%s %.3f s, %u ready, %u failed\n", alloc_rate, alloc_s,
			       alloc_srv_cpu, alloc_gen_cpu, opt.mode == MODE_CHANNEL ? " + channels" : "",
			       perm_s, n_ready, n_failed);
		if (first_err > 0)
			printf("first failure: STUN error %d\n", first_err);
		else if (first_err < 0)
			printf("first failure: %s\n", strerror(-first_err));
		if (rss0 >= 0 && rss1 >= 0)
			printf("server RSS: %ld KiB before, %ld KiB after setup: %.1f KiB per 1,000 allocations\n",
			       rss0, rss1, (double)(rss1 - rss0) * 1000.0 / NC);
	}

	if (n_ready && !opt.no_trial) {
		print_header();
		if (opt.ceiling) {
			double lo = 0, hi, r;

			trial(&res[nres], "saturation", 0, opt.sat_duration);
			print_row(&res[nres]);
			saturation = res[nres].rx_pps;
			nres++;
			hi = saturation * 1.1;
			r = saturation * 0.85;
			for (unsigned i = 0; i < opt.steps && nres < 60 && r > 0; i++) {
				trial(&res[nres], "search", r, opt.step_duration);
				print_row(&res[nres]);
				if (res[nres].pass) {
					lo = r;
					if (res[nres].rx_pps > ceiling) {
						ceiling = res[nres].rx_pps;
						ceiling_gen_limited = res[nres].gen_limited;
					}
				} else {
					hi = r;
				}
				nres++;
				r = (lo + hi) / 2;
			}
			if (opt.latency_frac > 0 && ceiling > 0) {
				trial(&res[nres], "latency", ceiling * opt.latency_frac, opt.duration);
				print_row(&res[nres]);
				nres++;
			}
		} else {
			trial(&res[nres], "rate", opt.rate, opt.duration);
			print_row(&res[nres]);
			nres++;
		}
		if (opt.latency_rate > 0) {
			trial(&res[nres], "latency", opt.latency_rate, opt.duration);
			print_row(&res[nres]);
			nres++;
		}
	}

	/* Teardown: delete the allocations (Refresh, lifetime 0), then stop the threads. */
	if (!opt.forwarder) {
		run_cmd(CMD_TEARDOWN, 3);
		for (unsigned i = 0; i < NC; i++)
			n_deleted += C[i].st == C_DONE;
	}
	for (unsigned i = 0; i < nres; i++)
		if (res[i].other_load > max_other)
			max_other = res[i].other_load;
	ctl.cmd = CMD_EXIT;
	pthread_barrier_wait(&ctl.bar);
	for (unsigned i = 0; i < opt.threads; i++)
		pthread_join(T[i].th, NULL);
	if (fwd_pid > 0) {
		kill(fwd_pid, SIGTERM);
		waitpid(fwd_pid, NULL, 0);
	}

	/* The JSON line. */
	printf("{\"tool\":\"turnload\",\"label\":\"%s\",\"target\":\"%s\",\"mode\":\"%s\",\"size\":%u,"
	       "\"allocs\":%u,\"threads\":%u,\"burst\":%u,\"ready\":%u,\"failed\":%u,"
	       "\"alloc_per_s\":%.1f,\"alloc_s\":%.4f,\"alloc_srv_cpu_s\":%.3f,"
	       "\"alloc_gen_cpu_s\":%.3f,\"perm_s\":%.4f,\"rss_before_kib\":%ld,"
	       "\"rss_after_kib\":%ld,\"rss_per_1k_alloc_kib\":%.1f,\"saturation_pps\":%.1f,"
	       "\"ceiling_pps\":%.1f,\"ceiling_gen_limited\":%s,\"max_other_load\":%.3f,"
	       "\"first_error\":%d,\"deleted\":%u,\"trials\":[",
	       opt.label, opt.forwarder ? "forwarder" : "turn",
	       opt.forwarder ? (opt.fwd_hops == 2 ? "forward2" : "forward1") :
	       opt.mode == MODE_CHANNEL ? "channel" : "indication", opt.size, NC, opt.threads,
	       opt.burst, n_ready, n_failed, alloc_rate, alloc_s, alloc_srv_cpu, alloc_gen_cpu, perm_s,
	       rss0, rss1,
	       rss0 >= 0 && rss1 >= 0 ? (double)(rss1 - rss0) * 1000.0 / NC : -1.0, saturation,
	       ceiling, ceiling_gen_limited ? "true" : "false", max_other, first_err, n_deleted);
	for (unsigned i = 0; i < nres; i++) {
		if (i)
			putchar(',');
		json_result(stdout, &res[i]);
	}
	printf("]}\n");
	for (unsigned i = 0; i < NC; i++)
		if (C[i].fd >= 0)
			close(C[i].fd);
	return n_ready ? 0 : 1;
}
