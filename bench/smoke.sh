#!/bin/bash
# Smoke test of the benchmark (make check): bench/compare --quick against tincand, coturn and the
# bare forwarder, so the instruments cannot rot. It checks that every target was measured and
# reported sane numbers (allocations set up, packets received, a loss figure); it asserts no
# performance ratio: performance is measured in benchmarks, not asserted in tests.
#
# Ports: base 19000 (tests/lib.sh lists the bases in use): tincan 19000/19001, coturn 19100,
# relay ports 19200-19599. Not a unit-test base: make -j runs this beside test_turn.
set -u

: "${TOP_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${TOP_BUILDDIR:=$(pwd)}"

for tool in turnserver jq ss taskset; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool not installed"
		exit 77
	fi
done

out=$(mktemp -d "${TMPDIR:-/tmp}/tincan-bench-smoke.XXXXXX")
"$TOP_SRCDIR/bench/compare" --quick --port-base 19000 --builddir "$TOP_BUILDDIR" --out "$out"
rc=$?
if [ "$rc" -eq 77 ]; then
	rm -rf "$out"
	exit 77
fi
failed=0
fail() {
	echo "FAIL: $*"
	failed=1
}
[ "$rc" -eq 0 ] || fail "bench/compare exited with $rc"

results=$out/results.jsonl
for target in coturn tincan forwarder; do
	line=$(jq -c --arg s "$target" 'select(.server == $s and .load == "main")' "$results" 2>/dev/null |
		tail -n 1)
	if [ -z "$line" ]; then
		fail "$target: no result"
		continue
	fi
	# Every pair set up, every trial with a loss figure, traffic that got through.
	jq -e '.ready == .allocs and .failed == 0' >/dev/null <<<"$line" ||
		fail "$target: not every allocation was set up: $line"
	jq -e '(.trials | length) > 0 and all(.trials[]; has("loss_pct") and (.loss_pct >= 0)
		and (.loss_pct <= 100))' >/dev/null <<<"$line" ||
		fail "$target: trials missing or loss out of range: $line"
	jq -e '.saturation_pps > 0 and any(.trials[]; .rx_pps > 0 and .p50_us > 0)' >/dev/null \
		<<<"$line" || fail "$target: no packet got through: $line"
	jq -e '.target == "forwarder" or (.alloc_per_s > 0)' >/dev/null <<<"$line" ||
		fail "$target: no setup rate: $line"
	jq -e '.target == "forwarder" or any(.trials[]; .srv_cpu_s > 0)' >/dev/null <<<"$line" ||
		fail "$target: server CPU not read: $line"
done
grep -q '^| relayed pps at 0% loss ceiling |' "$out/table.md" || fail "no table printed"

if [ "$failed" -eq 0 ]; then
	rm -rf "$out"
	echo "ok: bench/compare --quick measured tincan, coturn and the bare forwarder"
else
	echo "results kept in $out"
fi
exit "$failed"
