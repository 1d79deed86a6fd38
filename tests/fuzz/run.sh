#!/bin/sh
# tests/fuzz/run.sh [SECONDS] — builds the STUN codec fuzzer (libFuzzer + ASan + UBSan) straight
# from the sources, no configure needed, and runs it for SECONDS (default 60) from the seed corpus
# tests/fuzz/corpus/stun/. Prints executions and the exit status; exits non-zero on a crash, a
# sanitizer report, a broken FUZZ_CHECK invariant or a build failure.
#
# Needs clang with libFuzzer (Debian: clang and libclang-rt-14-dev) and libssl-dev.
# Environment: CC (default clang), FUZZ_OUT (work dir, default $TMPDIR/tincan-fuzz; the binary,
# the grown corpus and any crash-* reproducer go there, never into the source tree).
# A reproducer replays with: "$FUZZ_OUT/fuzz_stun" "$FUZZ_OUT/crash-<hash>".
set -eu

secs=${1:-60}
case $secs in
'' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

top=$(cd "$(dirname "$0")/../.." && pwd)
out=${FUZZ_OUT:-${TMPDIR:-/tmp}/tincan-fuzz}
cc=${CC:-clang}
mkdir -p "$out/corpus"

crypto=$(pkg-config --cflags --libs libcrypto 2>/dev/null || echo -lcrypto)
# shellcheck disable=SC2086 # $crypto is a list of flags
"$cc" -std=c11 -D_GNU_SOURCE -I"$top/src" -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-Wall -Wextra -Werror \
	"$top/tests/fuzz/fuzz_stun.c" "$top/src/turn/stun.c" $crypto -o "$out/fuzz_stun"

# The first corpus dir receives new inputs, so the seed dir in the source tree stays untouched.
log="$out/fuzz.log"
status=0
"$out/fuzz_stun" -max_total_time="$secs" -timeout=10 -max_len=4096 -print_final_stats=1 \
	-artifact_prefix="$out/" "$out/corpus" "$top/tests/fuzz/corpus/stun" >"$log" 2>&1 || status=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
echo "fuzz_stun: ${secs}s, ${execs:-?} execs, exit status $status (log: $log)"
if [ "$status" -ne 0 ]; then
	grep -E 'ERROR|SUMMARY|check failed|runtime error|Test unit written' "$log" >&2 || tail -n 30 "$log" >&2
fi
exit "$status"
