#!/bin/bash
# Pins: a start / use / SIGTERM cycle of tincand exits 0 with every thread joined and no memory
# leaked (valgrind memcheck, or LeakSanitizer in a --enable-sanitizers build; definite and
# indirect leaks are errors), with lws on the epoll (libev) loop; the descriptor table is sized
# at start; SIGINT stops it too; a busy
# listen port makes start fail cleanly with status 1.
set -u
. "$TOP_SRCDIR/tests/lib.sh"
fail=0
conf=$(tincan_conf 24000)
dir=$(dirname "$conf")
http=http://127.0.0.1:24001

if [ "${TINCAN_SANITIZERS:-no}" = yes ]; then
	# valgrind cannot run an ASan binary; LeakSanitizer checks for leaks at exit instead and
	# makes the exit status non-zero, which stop_tincand reports.
	export ASAN_OPTIONS="detect_leaks=1:exitcode=99${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
	TINCAND_WRAPPER=(env)
else
	TINCAND_WRAPPER=(valgrind -q --leak-check=full --show-leak-kinds=definite,indirect
	    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --log-file="$dir/valgrind.log")
fi
TINCAND_START_SECONDS=60
start_tincand "$conf" || exit 1
# Exercise the control thread and the TURN thread a little before stopping.
curl -fsS "$http/api/health" >/dev/null || { echo "FAIL: health"; fail=1; }
room=$(curl -fsS -X POST -H 'Content-Type: application/json' -d '{}' "$http/api/rooms") || { echo "FAIL: create room"; fail=1; }
echo "room: $room"
if command -v turnutils_stunclient >/dev/null; then
	turnutils_stunclient -p 24000 127.0.0.1 >/dev/null 2>&1 || { echo "FAIL: STUN binding"; fail=1; }
fi
if ! stop_tincand; then fail=1; fi
if [ -s "$dir/valgrind.log" ]; then echo "valgrind reported:"; cat "$dir/valgrind.log"; fail=1; fi
grep -q "tincand stopped" "$dir/tincand.log" || { echo "FAIL: no clean stop in the log"; fail=1; }
# The control thread's lws context runs on libev's epoll loop, not lws's poll() fallback (which
# tincand takes with a warning when the plugin libwebsockets-evlib-ev cannot be loaded).
grep -q "(epoll loop)" "$dir/tincand.log" ||
	{ echo "FAIL: lws is not on the epoll loop:"; grep "http:" "$dir/tincand.log"; fail=1; }
TINCAND_WRAPPER=(env)

# SIGINT also stops it cleanly.
start_tincand "$conf" || exit 1
# The descriptor table was sized at start for every relay port (500 here), the TURN connections
# (max_connections, 4096 by default) and 1,024 more, within the soft RLIMIT_NOFILE: a worker
# that opens a relay socket never waits for the kernel to grow it (an RCU grace period each
# time, 5-10 ms here). The kernel rounds the size up to a power of two.
want=$((500 + 4096 + 1024)); lim=$(ulimit -Sn)
[ "$lim" != unlimited ] && [ "$lim" -lt "$want" ] && want=$lim
fdsize=$(awk '/^FDSize:/ {print $2}' "/proc/$TINCAND_PID/status")
if [ "${fdsize:-0}" -lt "$want" ]; then
	echo "FAIL: descriptor table of $fdsize entries at start, expected at least $want"; fail=1
fi
kill -INT "$TINCAND_PID"
for i in $(seq 1 50); do kill -0 "$TINCAND_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$TINCAND_PID" 2>/dev/null; then echo "FAIL: SIGINT did not stop tincand"; kill -9 "$TINCAND_PID"; fail=1; fi
wait "$TINCAND_PID"; rc=$?
[ $rc -eq 0 ] || { echo "FAIL: exit status $rc after SIGINT"; fail=1; }

# A port already in use: start fails with a clear error, status 1, nothing left running.
python3 -c 'import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",24000)); time.sleep(15)' &
blocker=$!
if ! wait_bound udp 24000 || ! kill -0 $blocker 2>/dev/null; then
	echo "FAIL: the port blocker did not hold UDP 24000; who does:"; ss -Hunlp "sport = :24000"
	exit 1
fi
out=$(timeout 10 "$TINCAND" --config "$conf" 2>&1); rc=$?
kill $blocker 2>/dev/null; wait $blocker 2>/dev/null
if [ $rc -ne 1 ]; then echo "FAIL: busy port: exit status $rc"; fail=1; fi
echo "$out" | grep -i "turn" | tail -n 2
[ $fail -eq 0 ] && echo "lifecycle: ok"
rm -rf "$dir"
exit $fail
