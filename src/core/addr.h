/*
 * addr: socket addresses, CIDR prefixes and the peer access list.
 *
 * Addresses are struct sockaddr_storage holding AF_INET or AF_INET6, ports in network byte order
 * inside the sockaddr (as the kernel wants them) and in host byte order at this API.
 */
#ifndef TINCAN_CORE_ADDR_H
#define TINCAN_CORE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Room for "[ffff:...:ffff]:65535" plus NUL. */
#define ADDR_STRLEN 64

/* Parses a numeric IPv4 or IPv6 address (no brackets, no port) with @port (host order) into @out.
 * Returns 0, or -EINVAL if @ip is not a numeric address. Never resolves names. */
int addr_parse_ip(const char *ip, uint16_t port, struct sockaddr_storage *out);

/* Parses "a.b.c.d:port", "[v6]:port", or, if @default_port is non-zero, an address without port.
 * Returns 0, or -EINVAL. */
int addr_parse_hostport(const char *s, uint16_t default_port, struct sockaddr_storage *out);

/* Length of the sockaddr for bind/sendto: sizeof(sockaddr_in) or sizeof(sockaddr_in6), 0 if unset. */
socklen_t addr_len(const struct sockaddr_storage *a);

/* Port in host byte order. */
uint16_t addr_port(const struct sockaddr_storage *a);

/* Sets the port (host byte order). */
void addr_set_port(struct sockaddr_storage *a, uint16_t port);

/* True if family, IP and port are equal. */
bool addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

/* True if family and IP are equal (ports ignored): the key of a TURN permission (RFC 8656 §9). */
bool addr_ip_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

/* Hash of family, IP and port, for hash tables. */
uint32_t addr_hash(const struct sockaddr_storage *a);

/* Writes "1.2.3.4:5" or "[::1]:5" into @buf (ADDR_STRLEN bytes) and returns @buf. */
const char *addr_str(const struct sockaddr_storage *a, char buf[ADDR_STRLEN]);

/* Writes the IP only ("1.2.3.4" or "::1") into @buf and returns @buf. */
const char *addr_ip_str(const struct sockaddr_storage *a, char buf[ADDR_STRLEN]);

/* Rewrites an IPv4-mapped IPv6 address (::ffff:a.b.c.d) as plain AF_INET, so that one ACL entry
 * covers both spellings. Other addresses are left as they are. */
void addr_canonical(struct sockaddr_storage *a);

/*
 * The IPv4 addresses that an IPv6 address @a hands traffic to: IPv4-compatible ::a.b.c.d
 * (::/96 but :: and ::1), NAT64 64:ff9b::a.b.c.d (RFC 6052), 6to4 2002:AABB:CCDD::/48 (RFC 3056) and Teredo
 * 2001:0:SSSS:SSSS:...:CCCC:CCCC (RFC 4380: the server, and the client XOR 0xffffffff). Writes
 * them as AF_INET (port copied from @a) into @out and returns how many (0..2); 0 for IPv4 or any
 * other IPv6 address. IPv4-mapped addresses are addr_canonical()'s business.
 */
size_t addr_embedded_v4(const struct sockaddr_storage *a, struct sockaddr_storage out[2]);

/* An address prefix such as 10.0.0.0/8 or fe80::/10. */
struct cidr {
	int family;        /* AF_INET or AF_INET6 */
	uint8_t ip[16];    /* network byte order; first 4 bytes for AF_INET */
	uint8_t prefix;    /* prefix length in bits */
};

/* Parses "a.b.c.d/n", "v6/n" or a bare address (a host prefix). Returns 0, or -EINVAL. */
int cidr_parse(const char *s, struct cidr *out);

/* True if @a (already canonical) lies inside @c. */
bool cidr_match(const struct cidr *c, const struct sockaddr_storage *a);

/* True if @a lies inside one of the @n prefixes of @list. @a is canonicalised first (a copy), so
 * ::ffff:127.0.0.1 matches 127.0.0.0/8. Used for http.metrics_allow. */
bool cidr_list_match(const struct cidr *list, size_t n, const struct sockaddr_storage *a);

/*
 * Which peer addresses a TURN client may reach (RFC 8656 §21.3 asks relays to restrict this).
 * The address is canonicalised first (IPv4-mapped -> IPv4). Then the address and every IPv4
 * address embedded in it (addr_embedded_v4) are judged one by one: in @allow -> permitted, else
 * in @deny -> refused, else permitted. The address is permitted only if all of them are: an
 * embedded address that is refused refuses the whole address, so 2002:7f00:1:: cannot reach
 * 127.0.0.1 through a 6to4 relay even where 2002::/16 itself is allowed.
 */
struct peer_acl {
	struct cidr *allow;
	size_t n_allow;
	struct cidr *deny;
	size_t n_deny;
};

/* True if the peer @a may be relayed to. */
bool peer_acl_permits(const struct peer_acl *acl, const struct sockaddr_storage *a);

/* True if @a (canonicalised) is in the allow list: an operator's explicit exception. */
bool peer_acl_allowed(const struct peer_acl *acl, const struct sockaddr_storage *a);

/* The deny list used when the config names none: loopback, 0.0.0.0/8, RFC 1918, CGNAT, link-local,
 * multicast, reserved, and their IPv6 forms. Returns a static array and its length in @n. */
const char *const *peer_acl_default_deny(size_t *n);

#endif
