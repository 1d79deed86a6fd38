#!/bin/bash
# The shared port on loopback (base 23000: TURN UDP 23000, HTTP 23001, the shared port 23002,
# relay ports 23100-23599), mux.classify_timeout 2 s, mux.max_unclassified_per_ip 8, a
# certificate made by tincand itself (self-signed, in the test's state folder):
#
#   1. tests/mux/mux.test.mjs (node --test): HTTPS on both TLS paths, WSS, the redirect, STUN over
#      TCP and TLS, garbage, slowloris, a stalled handshake, the per-address cap (see its header)
#   2. turnutils_uclient -t (TURN over TCP) and -t -S (TURN over TLS) through the shared port, to
#      turnutils_peer on loopback: 0 loss
#   3. tests/mux/call.mjs: two Chromium pages in a call relayed over turns: on the shared port only,
#      while a third page reloads the call page and the API is hammered on the same port, and
#      SIGHUP swaps in a new certificate: the call does not notice, new connections get the new
#      certificate
#
# 2 and 3 need TURN over TCP/TLS in the relay (turn_server_adopt_stream); until the relay answers
# a STUN Binding over TCP on the shared port they are skipped, and the test says so.
: "${TOP_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
. "$TOP_SRCDIR/tests/lib.sh"
set -u

BASE=23000
MUX=$((BASE + 2))
if ! command -v node >/dev/null || ! command -v curl >/dev/null || ! command -v openssl >/dev/null; then
	echo "SKIP: needs node, curl and openssl"; exit 77
fi
stage=$(node_stage) || { echo "cannot stage the node tests"; exit 99; }
rm -rf "$stage/mux" && cp -R "$TOP_SRCDIR/tests/mux" "$stage/mux"

# TURN over TLS also on its own port (BASE+3), so the welcome lists both turns: URLs.
conf=$(tincan_conf $BASE "secret = \"mux-test-turn-secret-0123456789\"; tls_listen = \"127.0.0.1:$((BASE + 3))\";") || exit 99
dir=$(dirname "$conf")
log="$dir/tincand.log"
# The mux group goes before http, so that start_tincand probes http.listen (its last "listen").
sed -i "s|^http = {|tls = { state_dir = \"$dir/state\"; };\nmux = {\n  listen = \"127.0.0.1:$MUX\";\n  classify_timeout = 2;\n  max_unclassified_per_ip = 8;\n};\nhttp = {|" "$conf"

PEER_PID=
finish() {
	local rc=$?
	[ -n "$PEER_PID" ] && kill "$PEER_PID" 2>/dev/null && wait "$PEER_PID" 2>/dev/null
	stop_tincand || rc=1
	if [ "$rc" -ne 0 ]; then
		echo "--- last lines of $log ---"; grep -v ' lws: ' "$log" | tail -n 60
	else
		rm -rf "$dir"
	fi
	exit "$rc"
}
trap finish EXIT

start_tincand "$conf" || exit 1
ca="$dir/state/selfsigned-cert.pem"
failed=0 passed=0 skipped=0
result() { # NAME RC
	case $2 in
	0) passed=$((passed + 1)); echo "PASS: $1" ;;
	77) skipped=$((skipped + 1)); echo "SKIP: $1" ;;
	*) failed=$((failed + 1)); echo "FAIL: $1" ;;
	esac
}

# Does the relay take TCP/TLS streams? A STUN Binding over TCP on the shared port answers then.
turn_streams=0
if python3 - "$MUX" <<'PY'
import os, socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
s.sendall(struct.pack("!HHI", 1, 0, 0x2112A442) + os.urandom(12))
d = s.recv(20)
sys.exit(0 if len(d) >= 2 and d[:2] == b"\x01\x01" else 1)
PY
then turn_streams=1; fi
echo "TURN over TCP/TLS in the relay: $([ $turn_streams = 1 ] && echo yes || echo 'not yet (turn_server_adopt_stream)')"

# 1. The node tests.
echo "=== mux.test.mjs"
TINCAN_MUX_HOST=127.0.0.1 TINCAN_MUX_PORT=$MUX TINCAN_TLS_PORT=$((BASE + 3)) TINCAN_MUX_CA=$ca TINCAN_MUX_TIMEOUT=2 \
	TINCAN_MUX_PER_IP=8 TINCAN_TURN_STREAMS=$turn_streams node --test "$stage/mux/mux.test.mjs"
result mux.test.mjs $?

# 1b. mux.redirect_http = false: plain HTTP on the shared port is served like on http.listen (a
# second tincand, base BASE+50).
conf2=$(tincan_conf $((BASE + 50))) || exit 99
dir2=$(dirname "$conf2")
sed -i "s|^http = {|tls = { state_dir = \"$dir2/state\"; };\nmux = {\n  listen = \"127.0.0.1:$((BASE + 52))\";\n  redirect_http = false;\n};\nhttp = {|" "$conf2"
MAIN_PID=$TINCAND_PID
if start_tincand "$conf2"; then
	h=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((BASE + 52))/api/health")
	m=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((BASE + 52))/metrics")
	echo "redirect_http = false: GET /api/health $h, GET /metrics (loopback) $m"
	[ "$h" = 200 ] && [ "$m" = 200 ]
	result "plain HTTP served on the shared port (redirect_http = false)" $?
	stop_tincand || result "tincand with redirect_http = false stops cleanly" 1
	rm -rf "$dir2"
else
	result "tincand with redirect_http = false starts" 1
fi
TINCAND_PID=$MAIN_PID

# 2. turnutils_uclient through the shared port: TCP, then TLS (no ALPN: tincand terminates it).
uclient() { # LABEL ARGS...
	local label=$1 out="$dir/uclient-$1.log"; shift
	if [ $turn_streams = 0 ] || ! command -v turnutils_uclient >/dev/null; then
		result "turnutils_uclient $label" 77; return
	fi
	timeout 60 turnutils_uclient -y -t "$@" -u demo -w demo -m 4 -n 100 -l 120 -e 127.0.0.1 -r $((BASE + 98)) \
		-p $MUX 127.0.0.1 >"$out" 2>&1
	local lost sent recvd
	lost=$(sed -n 's/.*Total lost packets \([0-9]*\).*/\1/p' "$out" | tail -n 1)
	sent=$(sed -n 's/.*start_mclient: tot_send_msgs=\([0-9]*\), tot_recv_msgs=\([0-9]*\)$/\1/p' "$out" | tail -n 1)
	recvd=$(sed -n 's/.*start_mclient: tot_send_msgs=\([0-9]*\), tot_recv_msgs=\([0-9]*\)$/\2/p' "$out" | tail -n 1)
	echo "turnutils_uclient $label: sent ${sent:-?} received ${recvd:-?} lost ${lost:-?}"
	[ "${lost:-x}" = 0 ] && [ "${sent:-0}" -gt 0 ] && [ "$sent" = "$recvd" ]
	result "turnutils_uclient $label (0 loss)" $?
}
if [ $turn_streams = 1 ] && command -v turnutils_peer >/dev/null; then
	turnutils_peer -L 127.0.0.1 -p $((BASE + 98)) >"$dir/peer.log" 2>&1 &
	PEER_PID=$!
fi
uclient tcp
uclient tls -S

# 3. A call over turns: only, while the page reloads and the API is hammered.
echo "=== call.mjs"
if [ $turn_streams = 1 ] && [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
	node "$stage/mux/call.mjs" "https://127.0.0.1:$MUX" "$ca" "$dir" "$TINCAND_PID"
	result "call over turns: on the shared port" $?
else
	result "call over turns: on the shared port" 77
fi

echo "mux: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
