/*
 * request: STUN requests and indications from TURN clients (RFC 8489 §6.3, RFC 8656 §7-§11).
 *
 * Processing order for a request, as the RFCs lay it out:
 *   parse (unparsable: dropped, counted, never answered)
 *   -> Binding: answered without credentials (RFC 8489 §6.3.1)
 *   -> the long-term credential checks, one place (authenticate; RFC 8489 §9.2.4)
 *   -> unknown comprehension-required attributes: 420 (RFC 8489 §6.3.1, after authentication)
 *   -> the allocation's username: 441 (RFC 8656 §5)
 *   -> the method.
 *
 * Answers to requests that did not authenticate (Binding, 401, 438, 400 before authentication)
 * go to a source address nobody has vouched for: it may be spoofed, and the answer then hits a
 * victim. So they carry only what the RFCs require (no SOFTWARE, no reason phrase, FINGERPRINT
 * only if the request had one) and pass the per-source limiter (turn_unauth_admit). They can still
 * be larger than the request: a 20-byte Binding request has a 32-byte answer and a 28-byte first
 * Allocate a 108-byte 401 (REALM, NONCE, PASSWORD-ALGORITHMS are mandatory), so the limiter is
 * what bounds the bytes any one address can be sent. Over TCP and TLS the handshake proves the
 * address, so nothing is amplified there; the limiter applies all the same (one budget per source
 * across transports), so that a source cannot get around it by switching to TCP. A stream client
 * whose answer the limiter drops does not retransmit: it times out (RFC 8489 §6.2.2).
 * Once a request is authenticated every answer to it, error or success, carries SOFTWARE and the
 * integrity attribute the client used (MESSAGE-INTEGRITY, or MESSAGE-INTEGRITY-SHA256 if it spoke
 * RFC 8489's password algorithms, §9.2.4), and FINGERPRINT if the request had one.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "core/log.h"
#include "turn/turn_priv.h"

#define SOFTWARE "tincan/" PACKAGE_VERSION

/* REQUESTED-ADDRESS-FAMILY values (RFC 8656 §18.11). */
#define FAMILY_IPV4 0x01
#define FAMILY_IPV6 0x02

/* The PASSWORD-ALGORITHMS every 401 and 438 carries (RFC 8489 §14.11), in order of preference:
 * SHA-256, then MD5; no parameters. A request must echo it byte for byte (§9.2.4). */
static const uint8_t password_algorithms[8] = {
	0x00, STUN_PWALG_SHA256, 0x00, 0x00, 0x00, STUN_PWALG_MD5, 0x00, 0x00,
};

/* One request being answered. */
struct req {
	struct turn_worker *w;
	const struct turn_client *cl;    /* it came from: answers go back there */
	struct turn_server *srv;
	const struct sockaddr_storage *from; /* cl->addr */
	const struct stun_msg *m;
	bool authed;                     /* key is valid: answers carry integrity and SOFTWARE */
	bool sha256;                     /* ...MESSAGE-INTEGRITY-SHA256 rather than MESSAGE-INTEGRITY */
	uint8_t key[STUN_KEY_MAX];
	size_t keylen;
	char user[CRED_USERNAME_MAX];
};

static const char *reason(int code)
{
	switch (code) {
	case 400: return "Bad Request";
	case 401: return "Unauthenticated";
	case 403: return "Forbidden";
	case 420: return "Unknown Attribute";
	case 437: return "Allocation Mismatch";
	case 438: return "Stale Nonce";
	case 440: return "Address Family not Supported";
	case 441: return "Wrong Credentials";
	case 442: return "Unsupported Transport Protocol";
	case 443: return "Peer Address Family Mismatch";
	case 486: return "Allocation Quota Reached";
	case 508: return "Insufficient Capacity";
	default: return "Server Error";
	}
}

/* ---- answers ---- */

static void reply_init(struct req *r, struct stun_builder *b, uint16_t cls)
{
	stun_build_init(b, r->w->sbuf, sizeof(r->w->sbuf), r->m->method, cls, r->m->tid);
}

/*
 * Finishes and sends an answer: authenticated, with SOFTWARE and the request's integrity
 * attribute; unauthenticated, bare and only if the limiter admits it. FINGERPRINT if the request
 * had one. Stores the message length in @len if non-NULL. Returns 0; -EAGAIN if the limiter
 * refused it; or the builder's error (nothing is sent either way).
 */
static int reply_send(struct req *r, struct stun_builder *b, size_t *len)
{
	size_t n;
	int err;

	if (r->authed) {
		stun_build_attr(b, STUN_ATTR_SOFTWARE, SOFTWARE, strlen(SOFTWARE));
		if (r->sha256)
			stun_build_integrity_sha256(b, r->key, r->keylen);
		else
			stun_build_integrity(b, r->key, r->keylen);
	}
	if (r->m->fp >= 0)
		stun_build_fingerprint(b);
	err = stun_build_finish(b, &n);
	if (err) {
		log_warn("turn: cannot build an answer (method 0x%03x): %s", r->m->method,
			 strerror(-err));
		return err;
	}
	/* The limiter is against reflection from spoofed UDP sources. A stream client has completed
	 * a TCP handshake, so its address is proven, and a 401 dropped on a stream is never
	 * retransmitted (RFC 8489 §6.2.2): limiting it would only stall users behind a shared NAT. */
	if (!r->authed && !r->cl->conn && !turn_unauth_admit(r->w, r->from)) {
		TURN_CTR_ADD(r->srv, unauth_dropped, 1);
		return -EAGAIN;
	}
	turn_client_send(r->cl, b->buf, n);
	TURN_CTR_ADD(r->srv, requests, 1);
	if (len)
		*len = n;
	return 0;
}

/* Answers with error @code; 401 and 438 carry REALM, a fresh NONCE and PASSWORD-ALGORITHMS
 * (RFC 8489 §9.2.4), 420 the unknown types. The reason phrase goes to authenticated clients only. */
static void reply_error(struct req *r, int code)
{
	struct stun_builder b;
	char ca[ADDR_STRLEN];

	log_debug("turn: %d %s to %s (method 0x%03x)", code, reason(code), addr_str(r->from, ca),
		  r->m->method);
	reply_init(r, &b, STUN_CLASS_ERROR);
	stun_build_error(&b, code, r->authed ? reason(code) : NULL);
	if (code == 401 || code == 438) {
		const char *realm = r->srv->cfg->turn.realm;
		char nonce[TURN_NONCE_LEN + 1];

		turn_nonce_make(r->srv, r->from, nonce);
		stun_build_attr(&b, STUN_ATTR_REALM, realm, strlen(realm));
		stun_build_attr(&b, STUN_ATTR_NONCE, nonce, TURN_NONCE_LEN);
		stun_build_attr(&b, STUN_ATTR_PASSWORD_ALGORITHMS, password_algorithms,
				sizeof(password_algorithms));
	}
	if (code == 420)
		stun_build_unknown(&b, r->m->unknown, r->m->n_unknown);
	reply_send(r, &b, NULL);
}

/* Answers success with no attribute of its own (CreatePermission, ChannelBind). */
static void reply_ok(struct req *r)
{
	struct stun_builder b;

	reply_init(r, &b, STUN_CLASS_SUCCESS);
	reply_send(r, &b, NULL);
}

/* ---- checks ---- */

/*
 * The password algorithm of a request (RFC 8489 §9.2.4). Our nonces all carry the cookie with
 * "Password algorithms", so: neither PASSWORD-ALGORITHM nor PASSWORD-ALGORITHMS means MD5 (an
 * RFC 5389 client); otherwise both must be there, PASSWORD-ALGORITHMS exactly as we sent it (a
 * man in the middle who strips SHA-256 from our 401 is caught here), and PASSWORD-ALGORITHM one of
 * its entries. Returns 0 with @alg set, or -EBADMSG (the caller answers 400).
 */
static int password_algorithm(const struct stun_msg *m, uint16_t *alg)
{
	const struct stun_attr *pa = stun_msg_attr(m, STUN_ATTR_PASSWORD_ALGORITHM);
	const struct stun_attr *pas = stun_msg_attr(m, STUN_ATTR_PASSWORD_ALGORITHMS);

	if (!pa && !pas) {
		*alg = STUN_PWALG_MD5;
		return 0;
	}
	if (!pa || !pas || pas->len != sizeof(password_algorithms) ||
	    memcmp(pas->val, password_algorithms, sizeof(password_algorithms)) != 0 ||
	    stun_attr_password_algorithm(pa, alg) || !stun_attr_algorithms_has(pas, *alg))
		return -EBADMSG;
	return 0;
}

/*
 * The long-term credential mechanism (RFC 8489 §9.2.4), its checks in the RFC's order. @al is the
 * allocation of the request's 5-tuple, if any (its user can be named by USERHASH). Returns 0 with
 * r->key, r->keylen, r->user and r->sha256 set, or a negative errno after answering:
 *   no MESSAGE-INTEGRITY(-SHA256): 401, the normal first exchange, not a failure;
 *   USERNAME or USERHASH, REALM or NONCE missing, or the password algorithms wrong: 400;
 *   an unknown, expired or revoked user, or a wrong HMAC: 401, counted in auth_failures and
 *   in the counter of its reason (auth_unknown_user, auth_expired, auth_revoked,
 *   auth_bad_integrity);
 *   a nonce that is not valid (forged, expired, minted for another address): 438, counted in
 *   stale_nonces.
 * MESSAGE-INTEGRITY-SHA256 is checked if present, else MESSAGE-INTEGRITY; it must be untruncated,
 * since TURN does not allow truncation (RFC 8489 §14.6).
 */
static int authenticate(struct req *r, const struct turn_alloc *al)
{
	const struct stun_msg *m = r->m;
	const struct stun_attr *user, *uhash, *realm, *nonce;
	uint16_t alg;
	int n, err = 0;

	if (m->mi < 0 && m->mi256 < 0) {
		reply_error(r, 401);
		return -EACCES;
	}
	user = stun_msg_attr(m, STUN_ATTR_USERNAME);
	uhash = stun_msg_attr(m, STUN_ATTR_USERHASH);
	realm = stun_msg_attr(m, STUN_ATTR_REALM);
	nonce = stun_msg_attr(m, STUN_ATTR_NONCE);
	if ((!user && !uhash) || !realm || !nonce || password_algorithm(m, &alg)) {
		reply_error(r, 400);
		return -EBADMSG;
	}

	if (user)
		n = turn_auth_key(r->w, alg, user->val, user->len, r->user, r->key);
	else if (turn_auth_userhash(r->srv, uhash->val, uhash->len, al ? al->user : NULL,
				    r->user) == 0)
		n = turn_auth_key(r->w, alg, (const uint8_t *)r->user, strlen(r->user), r->user,
				  r->key);
	else
		n = -ENOENT;
	if (n > 0) {
		r->keylen = (size_t)n;
		if (m->mi256 >= 0)
			err = m->attrs[m->mi256].len == STUN_MI256_LEN ?
			      stun_msg_check_integrity_sha256(m, r->key, r->keylen) : -EACCES;
		else
			err = stun_msg_check_integrity(m, r->key, r->keylen);
	}
	if (n <= 0 || err) {
		TURN_CTR_ADD(r->srv, auth_failures, 1);
		if (n == -ETIME)
			TURN_CTR_ADD(r->srv, auth_expired, 1);
		else if (n == -EKEYREVOKED)
			TURN_CTR_ADD(r->srv, auth_revoked, 1);
		else if (n <= 0)
			TURN_CTR_ADD(r->srv, auth_unknown_user, 1);
		else
			TURN_CTR_ADD(r->srv, auth_bad_integrity, 1);
		reply_error(r, 401);
		return -EACCES;
	}

	if (turn_nonce_check(r->srv, r->from, nonce->val, nonce->len)) {
		TURN_CTR_ADD(r->srv, stale_nonces, 1);
		reply_error(r, 438);
		return -EACCES;
	}
	r->authed = true;
	r->sha256 = m->mi256 >= 0 || stun_msg_attr(m, STUN_ATTR_PASSWORD_ALGORITHM);
	return 0;
}

/*
 * The desired lifetime in seconds (RFC 8656 §7.2 and §7.3): absent -> the default; 0 -> 0 (Refresh
 * deletes; Allocate takes the default); otherwise clamped to [default, max]. Returns 0, or -EBADMSG
 * for a LIFETIME that is not 4 bytes.
 */
static int lifetime_get(const struct stun_msg *m, uint32_t *out)
{
	const struct stun_attr *a = stun_msg_attr(m, TURN_ATTR_LIFETIME);
	uint32_t v;

	if (!a) {
		*out = TURN_LIFETIME_DEFAULT;
		return 0;
	}
	if (stun_attr_u32(a, &v))
		return -EBADMSG;
	if (v == 0)
		*out = 0;
	else if (v < TURN_LIFETIME_DEFAULT)
		*out = TURN_LIFETIME_DEFAULT;
	else
		*out = v > TURN_LIFETIME_MAX ? TURN_LIFETIME_MAX : v;
	return 0;
}

/*
 * Decodes XOR-PEER-ADDRESS @a into @peer, canonical (an IPv4-mapped address becomes IPv4), and
 * checks it. Returns 0, or the error code to answer: 400 malformed; 403 refused (RFC 8656 §21.3,
 * turn_peer_check), before the family check so that a refused address is a 403 whatever its
 * family; 443 the allocation has no relayed address of the peer's family (RFC 8656 §9.1,
 * §11.1; a dual-stack allocation takes both).
 */
static int peer_get(struct req *r, const struct turn_alloc *al, const struct stun_attr *a,
		    struct sockaddr_storage *peer)
{
	if (stun_attr_xor_addr(r->m, a, peer))
		return 400;
	addr_canonical(peer);
	if (turn_peer_check(r->srv, peer)) {
		TURN_CTR_ADD(r->srv, peer_denied, 1);
		return 403;
	}
	if (al->relay[turn_fam(peer->ss_family)].fd < 0)
		return 443;
	return 0;
}

/*
 * Decodes REQUESTED-ADDRESS-FAMILY or ADDITIONAL-ADDRESS-FAMILY (RFC 8656 §18.11, §18.12: family
 * byte, 3 bytes RFFU) into @family (AF_INET / AF_INET6); @def if the request has none. Returns 0,
 * 400 for a value that is not 4 bytes, or 440 for a family byte other than 0x01 and 0x02.
 */
static int family_get(const struct stun_msg *m, uint16_t type, int def, int *family)
{
	const struct stun_attr *a = stun_msg_attr(m, type);

	*family = def;
	if (!a)
		return 0;
	if (a->len != 4)
		return 400;
	if (a->val[0] != FAMILY_IPV4 && a->val[0] != FAMILY_IPV6)
		return 440;
	*family = a->val[0] == FAMILY_IPV4 ? AF_INET : AF_INET6;
	return 0;
}

/* ---- methods ---- */

/* Binding (RFC 8489 §6.3.1): the reflexive address, no credentials. */
static void on_binding(struct req *r)
{
	struct stun_builder b;

	if (r->m->n_unknown) {
		reply_error(r, 420);
		return;
	}
	reply_init(r, &b, STUN_CLASS_SUCCESS);
	stun_build_xor_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, r->from);
	reply_send(r, &b, NULL);
}

/* Allocate (RFC 8656 §7.2), steps in the RFC's order. */
static void on_allocate(struct req *r, struct turn_alloc *al)
{
	const struct stun_msg *m = r->m;
	const struct config *cfg = r->srv->cfg;
	const struct stun_attr *a, *even, *token;
	struct turn_alloc_req rq = { .client = r->cl, .user = r->user };
	struct stun_builder b;
	uint8_t rtoken[TURN_TOKEN_LEN];
	uint32_t v;
	size_t len;
	int err, addr_err = 0;

	/* 1. One allocation per 5-tuple. The same transaction again is a retransmission whose
	 * answer was lost: resend that answer verbatim (it is the same request, same key). */
	if (al) {
		if (memcmp(al->tid, m->tid, STUN_TID_LEN) == 0 && strcmp(al->user, r->user) == 0 &&
		    al->resp_len) {
			turn_client_send(r->cl, al->resp, al->resp_len);
			TURN_CTR_ADD(r->srv, requests, 1);
		} else {
			reply_error(r, 437);
		}
		return;
	}

	/* 2. REQUESTED-TRANSPORT: required, and UDP is the only relay transport here. */
	a = stun_msg_attr(m, TURN_ATTR_REQUESTED_TRANSPORT);
	if (!a || stun_attr_u32(a, &v)) {
		reply_error(r, 400);
		return;
	}
	if (v >> 24 != IPPROTO_UDP) {
		reply_error(r, 442);
		return;
	}

	/* 3. DONT-FRAGMENT is supported: DF on the relay socket (alloc.c). */
	rq.dont_fragment = stun_msg_attr(m, TURN_ATTR_DONT_FRAGMENT) != NULL;

	/* 4-5. EVEN-PORT and RESERVATION-TOKEN: both together, or a token with either family
	 * attribute (RFC 6156 §4.2: the reservation has a family), is a 400. EVEN-PORT with R=1
	 * reserves the next port for 30 s under a token (answered in RESERVATION-TOKEN); an Allocate
	 * with that token gets it, from any 5-tuple; an unknown or expired token is a 508. */
	even = stun_msg_attr(m, TURN_ATTR_EVEN_PORT);
	token = stun_msg_attr(m, TURN_ATTR_RESERVATION_TOKEN);
	if ((even && token) || (even && even->len < 1) || (token && token->len != TURN_TOKEN_LEN) ||
	    (token && (stun_msg_attr(m, TURN_ATTR_REQUESTED_ADDRESS_FAMILY) ||
		       stun_msg_attr(m, TURN_ATTR_ADDITIONAL_ADDRESS_FAMILY)))) {
		reply_error(r, 400);
		return;
	}
	rq.even_port = even != NULL;
	rq.reserve = even && (even->val[0] & 0x80);
	rq.token = token ? token->val : NULL;

	/* 6-7. REQUESTED-ADDRESS-FAMILY and ADDITIONAL-ADDRESS-FAMILY (RFC 8656 §7.2, RFC 6156):
	 * not both; the family asked for (IPv4 if none; a reservation's own) needs a relay address
	 * of that family (440); a dual-stack request can only add IPv6 (400 for anything else), and not to an
	 * even port with a reservation (RFC 8656 §7.2 step 8). */
	err = family_get(m, TURN_ATTR_REQUESTED_ADDRESS_FAMILY, AF_INET, &rq.family);
	if (!err && stun_msg_attr(m, TURN_ATTR_ADDITIONAL_ADDRESS_FAMILY)) {
		int extra;

		if (stun_msg_attr(m, TURN_ATTR_REQUESTED_ADDRESS_FAMILY) ||
		    family_get(m, TURN_ATTR_ADDITIONAL_ADDRESS_FAMILY, 0, &extra) ||
		    extra != AF_INET6 || (even && (even->val[0] & 0x80)))
			err = 400;
		rq.additional_v6 = true;
	}
	if (err) {
		reply_error(r, err);
		return;
	}
	if (!rq.token && (rq.family == AF_INET ? &cfg->turn.relay_v4
					       : &cfg->turn.relay_v6)->ss_family != rq.family) {
		reply_error(r, 440);
		return;
	}

	/* 8. Lifetime: 0 or less than the default gets the default. */
	if (lifetime_get(m, &rq.lifetime)) {
		reply_error(r, 400);
		return;
	}
	if (rq.lifetime == 0)
		rq.lifetime = TURN_LIFETIME_DEFAULT;

	/* 9. The quotas and the relayed transport address(es). */
	err = turn_alloc_create(&al, r->w, &rq, &addr_err, rtoken);
	switch (err) {
	case 0:
		break;
	case -EDQUOT:
		log_notice("turn: %s has reached turn.user_quota", r->user);
		reply_error(r, 486);
		return;
	case -ENOSPC:
		log_warn("turn: turn.max_allocations reached, refusing %s", r->user);
		reply_error(r, 508);
		return;
	case -EADDRNOTAVAIL:
		TURN_CTR_ADD(r->srv, port_exhausted, 1);
		log_warn("turn: no relay port left for %s", r->user);
		reply_error(r, 508);
		return;
	case -ENOENT:
		reply_error(r, 508); /* no such reservation (any more) */
		return;
	default:
		log_warn("turn: cannot create an allocation: %s", strerror(-err));
		reply_error(r, 508);
		return;
	}

	/* 10. Success: one XOR-RELAYED-ADDRESS per relayed address, the requested family first;
	 * a dual-stack request that got only one says why in ADDRESS-ERROR-CODE. Behind a 1:1 NAT a
	 * relayed address is reported with the external IP of its family. */
	reply_init(r, &b, STUN_CLASS_SUCCESS);
	for (int i = 0; i < TURN_FAMILIES; i++) {
		int f = i == 0 ? turn_fam(rq.family) : 1 - turn_fam(rq.family);
		struct sockaddr_storage relayed = al->relay[f].addr;

		if (al->relay[f].fd < 0)
			continue;
		if (cfg->turn.external_ip.ss_family == relayed.ss_family) {
			relayed = cfg->turn.external_ip;
			addr_set_port(&relayed, al->relay[f].port);
		}
		stun_build_xor_addr(&b, TURN_ATTR_XOR_RELAYED_ADDRESS, &relayed);
	}
	if (addr_err)
		stun_build_address_error(&b, FAMILY_IPV6, addr_err);
	if (rq.reserve)
		stun_build_attr(&b, TURN_ATTR_RESERVATION_TOKEN, rtoken, TURN_TOKEN_LEN);
	stun_build_u32(&b, TURN_ATTR_LIFETIME, rq.lifetime);
	stun_build_xor_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, r->from);
	if (reply_send(r, &b, &len)) {
		turn_alloc_destroy(al);
		return;
	}
	memcpy(al->tid, m->tid, STUN_TID_LEN);
	if (len <= sizeof(al->resp)) {
		memcpy(al->resp, b.buf, len);
		al->resp_len = len;
	}
}

/*
 * Refresh (RFC 8656 §7.3): LIFETIME 0 deletes the allocation. REQUESTED-ADDRESS-FAMILY names one
 * of the allocation's relayed addresses (443 if it has none of that family): with LIFETIME 0 on a
 * dual-stack allocation only that address is deleted.
 */
static void on_refresh(struct req *r, struct turn_alloc *al)
{
	struct stun_builder b;
	uint32_t lifetime;
	int family = 0, code;

	if (!al) {
		reply_error(r, 437);
		return;
	}
	code = family_get(r->m, TURN_ATTR_REQUESTED_ADDRESS_FAMILY, 0, &family);
	if (!code && family && al->relay[turn_fam(family)].fd < 0)
		code = 443;
	if (!code && lifetime_get(r->m, &lifetime))
		code = 400;
	if (code) {
		reply_error(r, code);
		return;
	}
	if (lifetime == 0 && family && al->relay[1 - turn_fam(family)].fd >= 0)
		turn_alloc_drop_family(al, turn_fam(family));
	else if (lifetime == 0)
		turn_alloc_destroy(al);
	else
		turn_alloc_refresh(al, lifetime);

	reply_init(r, &b, STUN_CLASS_SUCCESS);
	stun_build_u32(&b, TURN_ATTR_LIFETIME, lifetime);
	reply_send(r, &b, NULL);
}

/* CreatePermission (RFC 8656 §9.2): every XOR-PEER-ADDRESS is checked before any is installed, so
 * the request succeeds or fails as a whole. */
static void on_create_permission(struct req *r, struct turn_alloc *al)
{
	const struct stun_msg *m = r->m;
	struct sockaddr_storage peers[STUN_MAX_ATTRS];
	size_t n = 0;
	int code;

	if (!al) {
		reply_error(r, 437);
		return;
	}
	for (size_t i = 0; i < m->n_attrs; i++) {
		if (m->attrs[i].type != TURN_ATTR_XOR_PEER_ADDRESS)
			continue;
		code = peer_get(r, al, &m->attrs[i], &peers[n]);
		if (code) {
			reply_error(r, code);
			return;
		}
		n++;
	}
	if (n == 0) {
		reply_error(r, 400);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (turn_perm_set(al, &peers[i])) {
			reply_error(r, 508);
			return;
		}
	}
	reply_ok(r);
}

/* ChannelBind (RFC 8656 §11.2): binds or refreshes a channel and installs or refreshes the
 * permission for its peer. A number bound to another peer, or a peer bound to another number
 * (also during the 5 minutes after expiry), is a 400. */
static void on_channel_bind(struct req *r, struct turn_alloc *al)
{
	const struct stun_msg *m = r->m;
	const struct stun_attr *a;
	struct sockaddr_storage peer;
	struct turn_chan *by_num, *by_peer;
	uint32_t v;
	uint16_t num;
	int code;

	if (!al) {
		reply_error(r, 437);
		return;
	}
	a = stun_msg_attr(m, TURN_ATTR_CHANNEL_NUMBER);
	if (!a || stun_attr_u32(a, &v)) {
		reply_error(r, 400);
		return;
	}
	num = (uint16_t)(v >> 16); /* 16-bit number, then 16 bits RFFU */
	if (num < TURN_CHANNEL_MIN || num > TURN_CHANNEL_MAX) {
		reply_error(r, 400);
		return;
	}
	a = stun_msg_attr(m, TURN_ATTR_XOR_PEER_ADDRESS);
	if (!a) {
		reply_error(r, 400);
		return;
	}
	code = peer_get(r, al, a, &peer);
	if (code) {
		reply_error(r, code);
		return;
	}
	by_num = turn_chan_find_num(al, num);
	by_peer = turn_chan_find_peer(al, &peer);
	if ((by_num || by_peer) && by_num != by_peer) {
		reply_error(r, 400);
		return;
	}
	if (turn_chan_set(al, num, &peer) || turn_perm_set(al, &peer)) {
		reply_error(r, 508);
		return;
	}
	reply_ok(r);
}

/* Send indication (RFC 8656 §10.2): never answered; anything wrong drops it. */
static void on_send(struct req *r)
{
	const struct stun_msg *m = r->m;
	const struct stun_attr *pa, *data;
	struct sockaddr_storage peer;
	struct turn_alloc *al;

	if (m->n_unknown)
		return; /* RFC 8489 §6.3.2: an indication with unknown required attributes is dropped */
	al = turn_alloc_find(r->cl);
	pa = stun_msg_attr(m, TURN_ATTR_XOR_PEER_ADDRESS);
	data = stun_msg_attr(m, TURN_ATTR_DATA);
	if (!al || !pa || !data || stun_attr_xor_addr(m, pa, &peer))
		return;
	/* The permission is for the IP; the port is checked here, for every datagram. */
	addr_canonical(&peer);
	if (turn_peer_check(r->srv, &peer)) {
		TURN_CTR_ADD(r->srv, peer_denied, 1);
		return;
	}
	turn_relay_send_indication(al, &peer, data->val, data->len);
}

void turn_request_handle(const struct turn_client *cl, const uint8_t *buf, size_t len)
{
	struct turn_worker *w = cl->w;
	struct stun_msg m;
	struct req r = { .w = w, .cl = cl, .srv = w->srv, .from = cl->addr, .m = &m };
	struct turn_alloc *al;

	if (stun_msg_parse(&m, buf, len)) {
		TURN_CTR_ADD(w->srv, malformed, 1);
		return;
	}
	if (m.cls == STUN_CLASS_INDICATION) {
		/* A Binding indication is a keepalive (RFC 8489 §6.3.2): nothing to do. */
		if (m.method == TURN_METHOD_SEND)
			on_send(&r);
		return;
	}
	if (m.cls != STUN_CLASS_REQUEST)
		return; /* we send no requests, so no response is ours */

	switch (m.method) {
	case STUN_METHOD_BINDING:
		on_binding(&r);
		return;
	case TURN_METHOD_ALLOCATE:
	case TURN_METHOD_REFRESH:
	case TURN_METHOD_CREATE_PERMISSION:
	case TURN_METHOD_CHANNEL_BIND:
		break;
	default:
		reply_error(&r, 400); /* Send/Data as requests, or a method we do not know */
		return;
	}

	al = turn_alloc_find(cl);
	if (authenticate(&r, al))
		return;
	if (m.n_unknown) {
		reply_error(&r, 420);
		return;
	}
	if (al && m.method != TURN_METHOD_ALLOCATE && strcmp(al->user, r.user) != 0) {
		reply_error(&r, 441);
		return;
	}

	switch (m.method) {
	case TURN_METHOD_ALLOCATE:
		on_allocate(&r, al);
		break;
	case TURN_METHOD_REFRESH:
		on_refresh(&r, al);
		break;
	case TURN_METHOD_CREATE_PERMISSION:
		on_create_permission(&r, al);
		break;
	case TURN_METHOD_CHANNEL_BIND:
		on_channel_bind(&r, al);
		break;
	}
}
