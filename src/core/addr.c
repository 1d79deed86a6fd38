/*
 * addr: socket addresses, CIDR prefixes and the peer access list; see addr.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"

int addr_parse_ip(const char *ip, uint16_t port, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	struct sockaddr_in *in4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;

	if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		return 0;
	}
	memset(out, 0, sizeof(*out));
	return -EINVAL;
}

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int addr_parse_hostport(const char *s, uint16_t default_port, struct sockaddr_storage *out)
{
	char host[ADDR_STRLEN];
	const char *colon, *port_s = NULL;
	uint16_t port = default_port;
	size_t hlen;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close)
			return -EINVAL;
		hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (close[1] == ':')
			port_s = close + 2;
		else if (close[1] != '\0')
			return -EINVAL;
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':')) {
			/* Bare IPv6 without brackets: no port can be given. */
			colon = NULL;
		}
		hlen = colon ? (size_t)(colon - s) : strlen(s);
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (colon)
			port_s = colon + 1;
	}
	if (port_s && parse_port(port_s, &port))
		return -EINVAL;
	if (port == 0)
		return -EINVAL;
	return addr_parse_ip(host, port, out);
}

socklen_t addr_len(const struct sockaddr_storage *a)
{
	switch (a->ss_family) {
	case AF_INET: return sizeof(struct sockaddr_in);
	case AF_INET6: return sizeof(struct sockaddr_in6);
	default: return 0;
	}
}

uint16_t addr_port(const struct sockaddr_storage *a)
{
	switch (a->ss_family) {
	case AF_INET: return ntohs(((const struct sockaddr_in *)a)->sin_port);
	case AF_INET6: return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
	default: return 0;
	}
}

void addr_set_port(struct sockaddr_storage *a, uint16_t port)
{
	if (a->ss_family == AF_INET)
		((struct sockaddr_in *)a)->sin_port = htons(port);
	else if (a->ss_family == AF_INET6)
		((struct sockaddr_in6 *)a)->sin6_port = htons(port);
}

/* The IP bytes of @a and their count (4 or 16), or 0 for an unknown family. */
static size_t addr_ip_bytes(const struct sockaddr_storage *a, const uint8_t **ip)
{
	switch (a->ss_family) {
	case AF_INET:
		*ip = (const uint8_t *)&((const struct sockaddr_in *)a)->sin_addr;
		return 4;
	case AF_INET6:
		*ip = (const uint8_t *)&((const struct sockaddr_in6 *)a)->sin6_addr;
		return 16;
	default:
		*ip = NULL;
		return 0;
	}
}

bool addr_ip_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const uint8_t *ia, *ib;
	size_t la, lb;

	if (a->ss_family != b->ss_family)
		return false;
	la = addr_ip_bytes(a, &ia);
	lb = addr_ip_bytes(b, &ib);
	return la && la == lb && memcmp(ia, ib, la) == 0;
}

bool addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return addr_ip_equal(a, b) && addr_port(a) == addr_port(b);
}

uint32_t addr_hash(const struct sockaddr_storage *a)
{
	/* FNV-1a over family, IP and port: cheap, and the inputs are not attacker-chosen enough to
	 * matter for flooding (an attacker controls only its own source addresses). */
	const uint8_t *ip;
	size_t n = addr_ip_bytes(a, &ip);
	uint32_t h = 2166136261u;
	uint16_t port = addr_port(a);

	h = (h ^ (uint32_t)a->ss_family) * 16777619u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ ip[i]) * 16777619u;
	h = (h ^ (port >> 8)) * 16777619u;
	h = (h ^ (port & 0xff)) * 16777619u;
	return h;
}

const char *addr_ip_str(const struct sockaddr_storage *a, char buf[ADDR_STRLEN])
{
	const uint8_t *ip;

	if (!addr_ip_bytes(a, &ip) || !inet_ntop(a->ss_family, ip, buf, ADDR_STRLEN))
		snprintf(buf, ADDR_STRLEN, "(none)");
	return buf;
}

const char *addr_str(const struct sockaddr_storage *a, char buf[ADDR_STRLEN])
{
	char ip[ADDR_STRLEN];

	addr_ip_str(a, ip);
	if (a->ss_family == AF_INET6)
		snprintf(buf, ADDR_STRLEN, "[%.46s]:%u", ip, addr_port(a));
	else
		snprintf(buf, ADDR_STRLEN, "%.46s:%u", ip, addr_port(a));
	return buf;
}

void addr_canonical(struct sockaddr_storage *a)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)a;
	struct sockaddr_in in4;

	if (a->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		return;
	memset(&in4, 0, sizeof(in4));
	in4.sin_family = AF_INET;
	in4.sin_port = in6->sin6_port;
	memcpy(&in4.sin_addr, &in6->sin6_addr.s6_addr[12], 4);
	memset(a, 0, sizeof(*a));
	memcpy(a, &in4, sizeof(in4));
}

/* Writes the IPv4 address at @ip (4 bytes, network order), XOR @x, with @port into @out. */
static void v4_from(struct sockaddr_storage *out, const uint8_t *ip, uint8_t x, in_port_t port)
{
	struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_port = port };
	uint8_t b[4];

	for (int i = 0; i < 4; i++)
		b[i] = ip[i] ^ x;
	memcpy(&in4.sin_addr, b, 4);
	memset(out, 0, sizeof(*out));
	memcpy(out, &in4, sizeof(in4));
}

size_t addr_embedded_v4(const struct sockaddr_storage *a, struct sockaddr_storage out[2])
{
	static const uint8_t zero12[12], nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)a;
	const uint8_t *ip;

	if (a->ss_family != AF_INET6)
		return 0;
	ip = in6->sin6_addr.s6_addr;
	/* IPv4-compatible ::a.b.c.d (deprecated, RFC 4291 §2.5.5.1). :: and ::1 are not: they are
	 * the unspecified and loopback addresses, judged as themselves (so that allowing ::1 is
	 * not undone by the 0.0.0.1 it would "embed"). */
	if (memcmp(ip, zero12, 12) == 0 && (ip[12] | ip[13] | ip[14] || ip[15] > 1)) {
		v4_from(&out[0], ip + 12, 0, in6->sin6_port);
		return 1;
	}
	/* NAT64 well-known prefix 64:ff9b::/96 (RFC 6052 §2.1). */
	if (memcmp(ip, nat64, 12) == 0) {
		v4_from(&out[0], ip + 12, 0, in6->sin6_port);
		return 1;
	}
	/* 6to4 2002:AABB:CCDD::/48 (RFC 3056 §2). */
	if (ip[0] == 0x20 && ip[1] == 0x02) {
		v4_from(&out[0], ip + 2, 0, in6->sin6_port);
		return 1;
	}
	/* Teredo 2001:0000::/32 (RFC 4380 §4): the server, then the client's mapped address, which
	 * is stored with every bit inverted ("obfuscated"). */
	if (ip[0] == 0x20 && ip[1] == 0x01 && ip[2] == 0x00 && ip[3] == 0x00) {
		v4_from(&out[0], ip + 4, 0, in6->sin6_port);
		v4_from(&out[1], ip + 12, 0xff, in6->sin6_port);
		return 2;
	}
	return 0;
}

int cidr_parse(const char *s, struct cidr *out)
{
	char ip[ADDR_STRLEN];
	const char *slash = strchr(s, '/');
	size_t iplen = slash ? (size_t)(slash - s) : strlen(s);
	struct sockaddr_storage a;
	const uint8_t *bytes;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (iplen == 0 || iplen >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, iplen);
	ip[iplen] = '\0';
	if (addr_parse_ip(ip, 0, &a))
		return -EINVAL;
	addr_canonical(&a);
	n = addr_ip_bytes(&a, &bytes);
	out->family = a.ss_family;
	memcpy(out->ip, bytes, n);
	out->prefix = (uint8_t)(n * 8);
	if (slash) {
		char *end;
		long p;
		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		p = strtol(slash + 1, &end, 10);
		if (*end || p < 0 || p > (long)(n * 8))
			return -EINVAL;
		out->prefix = (uint8_t)p;
	}
	/* Clear host bits, so "10.1.2.3/8" means 10.0.0.0/8 and matching is a plain compare. */
	for (size_t bit = out->prefix; bit < n * 8; bit++)
		out->ip[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
	return 0;
}

bool cidr_match(const struct cidr *c, const struct sockaddr_storage *a)
{
	const uint8_t *ip;
	size_t full, rest;

	if (c->family != a->ss_family || !addr_ip_bytes(a, &ip))
		return false;
	full = c->prefix / 8;
	rest = c->prefix % 8;
	if (memcmp(c->ip, ip, full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xFFu << (8 - rest));
		if ((c->ip[full] & mask) != (ip[full] & mask))
			return false;
	}
	return true;
}

bool cidr_list_match(const struct cidr *list, size_t n, const struct sockaddr_storage *a)
{
	struct sockaddr_storage c = *a;

	addr_canonical(&c);
	for (size_t i = 0; i < n; i++)
		if (cidr_match(&list[i], &c))
			return true;
	return false;
}

/* The verdict on one address, already canonical: allow wins, then deny, then permit. */
static bool acl_one(const struct peer_acl *acl, const struct sockaddr_storage *a)
{
	for (size_t i = 0; i < acl->n_allow; i++)
		if (cidr_match(&acl->allow[i], a))
			return true;
	for (size_t i = 0; i < acl->n_deny; i++)
		if (cidr_match(&acl->deny[i], a))
			return false;
	return true;
}

bool peer_acl_permits(const struct peer_acl *acl, const struct sockaddr_storage *peer)
{
	struct sockaddr_storage a = *peer, inner[2];
	size_t n;

	addr_canonical(&a);
	if (!acl_one(acl, &a))
		return false;
	n = addr_embedded_v4(&a, inner);
	for (size_t i = 0; i < n; i++)
		if (!acl_one(acl, &inner[i]))
			return false;
	return true;
}

bool peer_acl_allowed(const struct peer_acl *acl, const struct sockaddr_storage *peer)
{
	struct sockaddr_storage a = *peer;

	addr_canonical(&a);
	for (size_t i = 0; i < acl->n_allow; i++)
		if (cidr_match(&acl->allow[i], &a))
			return true;
	return false;
}

/* Every range a public relay must not reach (IANA special-purpose registries, RFC 6890), so that
 * a TURN client cannot use the relay to probe the box itself or its private network. */
static const char *const default_deny[] = {
	"0.0.0.0/8",       /* "this network"; 0.0.0.0 reaches the host itself */
	"10.0.0.0/8",      /* RFC 1918 */
	"100.64.0.0/10",   /* CGNAT, RFC 6598 */
	"127.0.0.0/8",     /* loopback */
	"169.254.0.0/16",  /* link-local, incl. cloud metadata 169.254.169.254 */
	"172.16.0.0/12",   /* RFC 1918 */
	"192.0.0.0/24",    /* IETF protocol assignments */
	"192.0.2.0/24",    /* TEST-NET-1 */
	"192.168.0.0/16",  /* RFC 1918 */
	"198.18.0.0/15",   /* benchmarking */
	"198.51.100.0/24", /* TEST-NET-2 */
	"203.0.113.0/24",  /* TEST-NET-3 */
	"224.0.0.0/4",     /* multicast */
	"240.0.0.0/4",     /* reserved, incl. broadcast 255.255.255.255 */
	"::/128",          /* unspecified */
	"::1/128",         /* loopback */
	"::/96",           /* IPv4-compatible (deprecated), would tunnel to IPv4 */
	"64:ff9b::/96",    /* NAT64: would reach any IPv4 address through a NAT64 gateway */
	"64:ff9b:1::/48",  /* local-use NAT64 */
	"100::/64",        /* discard-only */
	"2001::/32",       /* Teredo */
	"2001:db8::/32",   /* documentation */
	"3fff::/20",       /* documentation (RFC 9637) */
	"2002::/16",       /* 6to4 */
	"fc00::/7",        /* unique local */
	"fe80::/10",       /* link-local */
	"ff00::/8",        /* multicast */
};

const char *const *peer_acl_default_deny(size_t *n)
{
	*n = sizeof(default_deny) / sizeof(default_deny[0]);
	return default_deny;
}
