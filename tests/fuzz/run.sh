#!/bin/sh
# tests/fuzz/run.sh [SECONDS] [TARGET] — builds libFuzzer targets (libFuzzer + ASan + UBSan)
# straight from the sources, no configure needed, and runs each for SECONDS (default 60) from its
# seed corpus tests/fuzz/corpus/TARGET/. TARGET is one of:
#   stun  the STUN/TURN codec (src/turn/stun.c)                    tests/fuzz/fuzz_stun.c
#   turn  the TURN request handler and ChannelData relay, fed datagrams without sockets
#         (src/turn/, seeds shared with stun)                      tests/fuzz/fuzz_turn.c
#   stream  TURN over TCP/TLS framing, byte streams cut anywhere, and the handlers behind it
#         (src/turn/stream.c and the rest of src/turn/)            tests/fuzz/fuzz_stream.c
#   mux   the shared port's first-bytes classifier (src/mux/)     tests/fuzz/fuzz_mux.c
#   all   every target in turn (the default), SECONDS each
# Prints one line per target with its executions and exit status; exits non-zero if any target
# crashed, hit a sanitizer report or a broken FUZZ_CHECK invariant, or failed to build.
#
# Needs clang with libFuzzer (Debian: clang and libclang-rt-14-dev), libssl-dev, libevent-dev and
# uthash-dev.
# Environment: CC (default clang), FUZZ_OUT (work dir, default $TMPDIR/tincan-fuzz; the binaries,
# the grown corpora and any reproducer go there, never into the source tree).
# A reproducer replays with: "$FUZZ_OUT/fuzz_TARGET" "$FUZZ_OUT/fuzz_TARGET-crash-<hash>".
set -eu

usage() {
	echo "usage: $0 [SECONDS] [stun|turn|stream|mux|all]" >&2
	exit 2
}

secs=${1:-60}
case $secs in
'' | *[!0-9]*) usage ;;
esac
which=${2:-all}
case $which in
stun | turn | stream | mux) targets=$which ;;
all) targets="stun turn stream mux" ;;
*) usage ;;
esac

top=$(cd "$(dirname "$0")/../.." && pwd)
out=${FUZZ_OUT:-${TMPDIR:-/tmp}/tincan-fuzz}
cc=${CC:-clang}
mkdir -p "$out"
crypto=$(pkg-config --cflags --libs libcrypto 2>/dev/null || echo -lcrypto)
ssl=$(pkg-config --cflags --libs libssl libcrypto 2>/dev/null || echo -lssl -lcrypto)
event=$(pkg-config --cflags --libs libevent_core libevent_pthreads 2>/dev/null ||
	echo -levent_core -levent_pthreads)

# The sources (and flags: src/ is built with -Wno-unused-parameter, as configure does for libevent
# callbacks), extra libraries and largest input of each target.
sources() {
	case $1 in
	stun) echo "$top/tests/fuzz/fuzz_stun.c $top/src/turn/stun.c" ;;
	turn | stream) echo "-DPACKAGE_VERSION=\"fuzz\" -pthread -Wno-unused-parameter" \
		"$top/tests/fuzz/fuzz_$1.c" \
		"$top/src/turn/stun.c $top/src/turn/server.c $top/src/turn/stream.c" \
		"$top/src/turn/request.c $top/src/turn/auth.c $top/src/turn/alloc.c" \
		"$top/src/turn/handoff.c $top/src/turn/siphash.c" \
		"$top/src/core/addr.c $top/src/core/cred.c $top/src/core/log.c" \
		"$top/src/core/tls.c" ;;
	mux) echo "$top/tests/fuzz/fuzz_mux.c $top/src/mux/classify.c" ;;
	esac
}
libs() {
	case $1 in
	stun) echo "$crypto" ;;
	turn | stream) echo "$ssl $event" ;;
	mux) echo "" ;;
	esac
}
# mux: a little over MUX_PEEK_MAX (16 KiB), so the size limit itself is fuzzed.
max_len() {
	case $1 in
	stun | turn) echo 4096 ;;
	stream) echo 8192 ;;
	mux) echo 17408 ;;
	esac
}

# The seed folder under tests/fuzz/corpus/: turn starts from the STUN messages.
seeds() {
	case $1 in
	turn) echo stun ;;
	*) echo "$1" ;;
	esac
}

status=0
for t in $targets; do
	bin="$out/fuzz_$t"
	log="$out/fuzz_$t.log"
	# shellcheck disable=SC2046 # the source and library lists are word lists
	if ! "$cc" -std=c11 -D_GNU_SOURCE -I"$top/src" -g -O1 -fno-omit-frame-pointer \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-Wall -Wextra -Werror \
		$(sources "$t") $(libs "$t") -o "$bin"; then
		echo "fuzz_$t: build failed" >&2
		status=1
		continue
	fi

	# The first corpus dir receives new inputs, so the seed dir in the source tree stays untouched.
	mkdir -p "$out/corpus-$t"
	rc=0
	"$bin" -max_total_time="$secs" -timeout=10 -max_len="$(max_len "$t")" -print_final_stats=1 \
		-artifact_prefix="$out/fuzz_$t-" "$out/corpus-$t" "$top/tests/fuzz/corpus/$(seeds "$t")" \
		>"$log" 2>&1 || rc=$?

	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	echo "fuzz_$t: ${secs}s, ${execs:-?} execs, exit status $rc (log: $log)"
	if [ "$rc" -ne 0 ]; then
		grep -E 'ERROR|SUMMARY|check failed|runtime error|Test unit written' "$log" >&2 ||
			tail -n 30 "$log" >&2
		status=1
	fi
done
exit "$status"
