/*
 * udprtt: the round-trip time of one UDP datagram on loopback between two pinned processes, after
 * the echoing side has been idle for a given time. It measures the machine, not tincan: how long
 * an idle CPU takes to wake up for a datagram, which bounds every latency-bound number of
 * bench/turnload (the setup of 10 allocations is two such round trips). docs/performance.md.
 *
 *   bench/udprtt [--gap US] [--count N] [--client-cpu C] [--echo-cpu E]
 *
 * The echo process (pinned to E, default 0) returns each datagram; the client (pinned to C,
 * default 1) sends one every GAP microseconds (default 10000) and waits for it. Prints the 10th,
 * 50th and 90th percentiles in microseconds, and the echo process's CPU time per datagram (from
 * /proc/PID/schedstat: its wake-up, one recvfrom and one sendto; what a server that handles each
 * datagram on its own wake-up pays at least, whatever it does with it). Exit status 0, 1 on a
 * socket error, 2 for bad usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	if (sched_setaffinity(0, sizeof(s), &s) < 0)
		perror("udprtt: sched_setaffinity");
}

/* A UDP socket bound to 127.0.0.1 on an ephemeral port; its address in @a. */
static int udp_socket(struct sockaddr_in *a)
{
	socklen_t len = sizeof(*a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)a, sizeof(*a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)a, &len) < 0) {
		perror("udprtt: socket");
		exit(1);
	}
	return fd;
}

/* The CPU time @pid has run, in nanoseconds (the first field of /proc/PID/schedstat), or -1. */
static long long cpu_ns(pid_t pid)
{
	char path[64];
	long long ns = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%lld", &ns) != 1)
			ns = -1;
		fclose(f);
	}
	return ns;
}

static int cmp_ll(const void *x, const void *y)
{
	long long a = *(const long long *)x, b = *(const long long *)y;

	return (a > b) - (a < b);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "gap", required_argument, NULL, 'g' }, { "count", required_argument, NULL, 'n' },
		{ "client-cpu", required_argument, NULL, 'c' },
		{ "echo-cpu", required_argument, NULL, 'e' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int gap_us = 10000, count = 200, ccpu = 1, ecpu = 0, o, cfd, efd;
	struct sockaddr_in ca, ea;
	long long *v, cpu0, cpu1;
	char buf[64] = "x";
	pid_t echo;

	while ((o = getopt_long(argc, argv, "g:n:c:e:h", opts, NULL)) != -1) {
		switch (o) {
		case 'g': gap_us = atoi(optarg); break;
		case 'n': count = atoi(optarg); break;
		case 'c': ccpu = atoi(optarg); break;
		case 'e': ecpu = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: udprtt [--gap US] [--count N] [--client-cpu C] "
					"[--echo-cpu E]\n");
			return o == 'h' ? 0 : 2;
		}
	}
	if (gap_us < 0 || count < 10)
		return 2;
	cfd = udp_socket(&ca);
	efd = udp_socket(&ea);
	echo = fork();
	if (echo == 0) {
		pin(ecpu);
		for (;;) {
			struct sockaddr_in from;
			socklen_t flen = sizeof(from);
			ssize_t n = recvfrom(efd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);

			if (n <= 0)
				_exit(0);
			(void)sendto(efd, buf, (size_t)n, 0, (struct sockaddr *)&from, flen);
		}
	}
	pin(ccpu);
	v = calloc((size_t)count, sizeof(*v));
	if (!v || echo < 0)
		return 1;
	usleep(100000);
	cpu0 = cpu_ns(echo);
	for (int i = 0; i < count; i++) {
		long long t;

		usleep((useconds_t)gap_us);
		t = now_ns();
		if (sendto(cfd, buf, 1, 0, (struct sockaddr *)&ea, sizeof(ea)) != 1 ||
		    recv(cfd, buf, sizeof(buf), 0) != 1) {
			perror("udprtt: round trip");
			kill(echo, SIGKILL);
			return 1;
		}
		v[i] = now_ns() - t;
	}
	cpu1 = cpu_ns(echo);
	kill(echo, SIGKILL);
	waitpid(echo, NULL, 0);
	qsort(v, (size_t)count, sizeof(*v), cmp_ll);
	printf("udprtt: echo idle %d us before each datagram: round trip p10 %.1f us, p50 %.1f us, "
	       "p90 %.1f us (%d datagrams)\n", gap_us, v[count / 10] / 1e3, v[count / 2] / 1e3,
	       v[count * 9 / 10] / 1e3, count);
	if (cpu0 >= 0 && cpu1 >= cpu0)
		printf("udprtt: echo CPU time per datagram %.2f us (wake-up, recvfrom, sendto)\n",
		       (double)(cpu1 - cpu0) / count / 1e3);
	free(v);
	return 0;
}
