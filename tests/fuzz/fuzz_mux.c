/*
 * libFuzzer target for src/mux/classify.c. Built and run by tests/fuzz/run.sh (target "mux").
 *
 * For every input it classifies the whole input and then replays the shared-port listener's loop
 * (classify what has arrived, wait for "need" bytes, classify again) on its prefixes. Besides the
 * sanitizers, FUZZ_CHECK() aborts on a broken invariant, so a logic bug is a crash too:
 *  - a decision is final: a prefix that decides decides the same kind as the whole input, with
 *    the same SNI and ALPN (the listener acts on the first decision it gets);
 *  - "need" is past what was given and never past MUX_PEEK_MAX, so the loop always progresses
 *    and never waits for more than the peek buffer holds;
 *  - a ClientHello result lies inside the input, its SNI is a printable NUL-terminated string and
 *    its ALPN bits agree with the names counted;
 *  - the result is deterministic and a refusal always has a reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mux/classify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(c) \
	do { \
		if (!(c)) { \
			fprintf(stderr, "fuzz_mux: check failed: %s (%s:%d)\n", #c, __FILE__, \
				__LINE__); \
			abort(); \
		} \
	} while (0)

static void check_result(int kind, const struct mux_hello *h, size_t size)
{
	FUZZ_CHECK(kind >= MUX_NEED_MORE && kind <= MUX_REJECT);
	FUZZ_CHECK((h->reason != NULL) == (kind == MUX_REJECT));
	FUZZ_CHECK((h->need != 0) == (kind == MUX_NEED_MORE));
	if (kind == MUX_NEED_MORE)
		FUZZ_CHECK(h->need > size && h->need <= MUX_PEEK_MAX);
	if (kind != MUX_TLS) {
		FUZZ_CHECK(h->hello_len == 0 && h->n_records == 0 && !h->has_sni && !h->has_alpn);
		return;
	}
	FUZZ_CHECK(h->hello_len >= 5 + 4 + 41 && h->hello_len <= size);
	FUZZ_CHECK(h->hello_len <= MUX_PEEK_MAX);
	FUZZ_CHECK(h->n_records >= 1 && h->n_records * 6 <= h->hello_len);
	FUZZ_CHECK((h->legacy_version >> 8) == 3);
	if (h->has_sni) {
		size_t n = strnlen(h->sni, MUX_SNI_MAX);
		FUZZ_CHECK(n >= 1 && n < MUX_SNI_MAX);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(h->sni[i] > 0x20 && h->sni[i] < 0x7F);
	} else {
		FUZZ_CHECK(h->sni[0] == '\0');
	}
	FUZZ_CHECK(h->has_alpn == (h->n_alpn > 0));
	FUZZ_CHECK(h->has_alpn == (h->alpn != 0));
	for (size_t i = 0; i < MUX_ALPN_MAX; i++)
		FUZZ_CHECK(strnlen(h->alpn_names[i], MUX_ALPN_NAME_MAX) < MUX_ALPN_NAME_MAX);
	switch (mux_tls_route(h)) {
	case MUX_ROUTE_TURN:
		FUZZ_CHECK(h->alpn & MUX_ALPN_STUN_TURN);
		break;
	case MUX_ROUTE_HTTP:
		FUZZ_CHECK(h->alpn & (MUX_ALPN_H2 | MUX_ALPN_HTTP11));
		break;
	case MUX_ROUTE_INSPECT:
		FUZZ_CHECK(!(h->alpn & (MUX_ALPN_H2 | MUX_ALPN_HTTP11 | MUX_ALPN_STUN_TURN)));
		break;
	default:
		FUZZ_CHECK(0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Static: a struct mux_hello is about 600 bytes; keep the frames small and comparable. */
	static struct mux_hello whole, again, step;
	int kind, k;
	size_t n, steps = 0;

	kind = mux_classify(data, size, &whole);
	check_result(kind, &whole, size);
	k = mux_classify(data, size, &again);
	FUZZ_CHECK(k == kind && memcmp(&whole, &again, sizeof(whole)) == 0);

	/* The listener's loop over this input arriving in pieces. */
	for (n = 0;; steps++) {
		k = mux_classify(data, n, &step);
		check_result(k, &step, n);
		if (k != MUX_NEED_MORE)
			break;
		FUZZ_CHECK(steps < MUX_PEEK_MAX);
		if (step.need > size)
			break;  /* the input ends before a decision: the whole input must agree */
		n = step.need;
	}
	if (k == MUX_NEED_MORE) {
		/* The input ends before the loop decides. The whole input has not decided either,
		 * or was refused from bytes past the last prefix the loop looked at. */
		FUZZ_CHECK(kind == MUX_NEED_MORE || kind == MUX_REJECT);
		if (kind == MUX_NEED_MORE)
			FUZZ_CHECK(whole.need >= step.need);
	} else {
		FUZZ_CHECK(k == kind);
		/* Same decision, same facts (hello_len, SNI, ALPN); a refusal may name another
		 * reason (e.g. "too large" before a bad record type it had not seen). */
		if (kind != MUX_REJECT)
			FUZZ_CHECK(memcmp(&step, &whole, sizeof(step)) == 0);
	}
	/* The byte before the end of a hello still asks for more. */
	if (kind == MUX_TLS) {
		k = mux_classify(data, whole.hello_len - 1, &step);
		FUZZ_CHECK(k == MUX_NEED_MORE && step.need <= whole.hello_len);
	}
	return 0;
}
