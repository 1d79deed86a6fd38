#!/bin/bash
# Interop: coturn's client tools (Debian package coturn: turnutils_uclient, turnutils_peer,
# turnutils_stunclient) against tincand's TURN relay over UDP, TCP and TLS. coturn's own server is
# never started.
#
# Ports (tests/lib.sh, base 20000): TURN 127.0.0.1:20000 and [::1]:20000, HTTP 20001, TURN over
# TCP 127.0.0.1:20002 and over TLS 127.0.0.1:20003 (a self-signed certificate in the test's
# folder), relay 20100-20599 on 127.0.0.1 and ::1; the UDP echo peers (turnutils_peer) listen on
# 127.0.0.1:20050 and [::1]:20051.
#
# Pins:
#  1. turnutils_stunclient: a Binding answers the client's reflexive address.
#  2. Send/Data indications: 10 clients x 100 messages through the relay to the echo peer and
#     back, static user demo/demo: every message sent comes back, 0 lost.
#  3. TURN REST credentials (-W secret, "<expiry>:<user>" usernames): 2 clients x 20 messages.
#  4. Channels (ChannelBind + ChannelData): 10 clients x 100 messages, 0 lost. The uclient picks
#     channel numbers in RFC 5766's 0x4000-0x7FFF, which tincan accepts (see src/turn/stun.h).
#  5. IPv6 relayed addresses (-x: REQUESTED-ADDRESS-FAMILY IPv6) to the IPv6 echo peer, over the
#     IPv4 listener: channels and Send indications, 10 clients x 100 messages each.
#  6. The IPv6 listener: the clients talk to [::1]:20000 (IPv4 relayed addresses by default).
#  7. Client to client (-y): pairs of clients send to each other's relayed address, relay to
#     relay through the same server (IPv4, then IPv6 relays with -x), 0 lost.
#  8. EVEN-PORT with a reservation: without -c the uclient allocates RTP/RTCP pairs, the RTCP
#     ones with the RTP allocation's RESERVATION-TOKEN (RFC 8656 §7.2): 0 lost, and relayed
#     ports P, P + 1.
#  9. TURN over TCP (-t, RFC 8656 §3.1): Send indications and channels (padded ChannelData),
#     10 clients x 100 messages each, 0 lost; every allocation made over TCP is deleted when its
#     connection closes.
# 10. TURN over TLS (-t -S; the uclient does not verify the certificate without -E): the same.
#     The uclient first tries TLS 1.0 and 1.1, which tincand refuses (TLS 1.2+ only).
set -u

. "$TOP_SRCDIR/tests/lib.sh"

BASE=20000
TURN_PORT=$BASE
PEER_PORT=$((BASE + 50))
PEER6_PORT=$((BASE + 51))
SECRET=interop-secret-0123456789

for tool in turnutils_uclient turnutils_peer turnutils_stunclient; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool not installed (apt-get install coturn)"
		exit 77
	fi
done

# user_quota = 0: every uclient session allocates for the one static user "demo" (10 at a time,
# and the sessions' allocations outlive them); the quota itself is pinned by tests/unit/test_turn.
TCP_PORT=$((BASE + 2))
TLS_PORT=$((BASE + 3))
conf=$(tincan_conf "$BASE" "secret = \"$SECRET\"; user_quota = 0;
  tcp_listen = \"127.0.0.1:$TCP_PORT\"; tls_listen = \"127.0.0.1:$TLS_PORT\";")
dir=$(dirname "$conf")
# TURN over TLS: a self-signed certificate, made by tincand in the test's folder.
printf 'tls = {\n  state_dir = "%s";\n};\n' "$dir" >>"$conf"
# Dual-stack: listen on both loopbacks, relay on both (string-or-list options, RFC 6156).
sed -i -e "s|listen = \"127.0.0.1:$BASE\";|listen = [ \"127.0.0.1:$BASE\", \"[::1]:$BASE\" ];|" \
	-e 's|relay_address = "127.0.0.1";|relay_address = [ "127.0.0.1", "::1" ];|' "$conf"
grep -q '"\[::1\]:'"$BASE"'"' "$conf" && grep -q '"::1" \]' "$conf" ||
	{ echo "FAIL: could not make the config dual-stack"; exit 1; }
PEER_PID=
PEER6_PID=
failed=0

cleanup() {
	for pid in $PEER_PID $PEER6_PID; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	stop_tincand || failed=1
	if [ "$failed" -eq 0 ]; then
		rm -rf "$dir"
	else
		echo "logs kept in $dir"
	fi
	exit "$failed"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	failed=1
}

# check_report LOG EXPECTED_SENT LABEL — parses the uclient's final report and prints it.
check_report() {
	local log=$1 want=$2 label=$3 line sent recv lost
	line=$(grep -E 'start_mclient: tot_send_msgs=[0-9]+, tot_recv_msgs=[0-9]+' "$log" | tail -n 1)
	sent=$(sed -n 's/.*tot_send_msgs=\([0-9]*\),.*/\1/p' <<<"$line")
	recv=$(sed -n 's/.*tot_recv_msgs=\([0-9]*\).*/\1/p' <<<"$line")
	lost=$(sed -n 's/.*Total lost packets \([0-9]*\) .*/\1/p' "$log" | tail -n 1)
	echo "$label:"
	grep -E 'tot_send_msgs=[0-9]+, tot_recv_msgs|tot_send_bytes ~ [0-9]+, tot_recv_bytes|Total lost packets|Average round trip' "$log" |
		grep -v 'msz=' | sed 's/^[0-9]*: : /    /'
	if [ -z "$sent" ] || [ -z "$recv" ] || [ -z "$lost" ]; then
		fail "$label: no final report in the uclient output"; tail -n 20 "$log"; return 1
	fi
	[ "$sent" -eq "$want" ] || { fail "$label: sent $sent messages, expected $want"; return 1; }
	[ "$recv" -eq "$sent" ] || { fail "$label: received $recv of $sent messages"; return 1; }
	[ "$lost" -eq 0 ] || { fail "$label: $lost packets lost"; return 1; }
	echo "    -> ok: $sent sent, $recv received, $lost lost"
}

start_tincand "$conf" || { failed=1; exit 1; }

turnutils_peer -L 127.0.0.1 -p "$PEER_PORT" >"$dir/peer.log" 2>&1 &
PEER_PID=$!
turnutils_peer -L ::1 -p "$PEER6_PORT" >"$dir/peer6.log" 2>&1 &
PEER6_PID=$!
wait_bound udp "$PEER_PORT" && wait_bound udp "$PEER6_PORT" || { fail "turnutils_peer did not bind"; exit 1; }
kill -0 "$PEER_PID" 2>/dev/null || { fail "turnutils_peer did not start"; cat "$dir/peer.log"; exit 1; }
kill -0 "$PEER6_PID" 2>/dev/null || { fail "turnutils_peer (IPv6) did not start"; cat "$dir/peer6.log"; exit 1; }

# 1. Binding.
if turnutils_stunclient -p "$TURN_PORT" 127.0.0.1 >"$dir/stun.log" 2>&1 &&
	grep -q 'UDP reflexive addr: 127.0.0.1:' "$dir/stun.log"; then
	echo "stunclient: $(grep -m 1 'reflexive addr' "$dir/stun.log" | sed 's/^[0-9]*: : //')"
else
	fail "turnutils_stunclient"; cat "$dir/stun.log"
fi

# 2. Send/Data indications, 10 clients x 100 messages. -c: no RTCP pair (it would ask for
# EVEN-PORT with a reservation, which tincan answers with 508 by design).
uclient=(turnutils_uclient -p "$TURN_PORT" -e 127.0.0.1 -r "$PEER_PORT" -c)
timeout 120 "${uclient[@]}" -s -u demo -w demo -m 10 -n 100 127.0.0.1 >"$dir/send.log" 2>&1 ||
	fail "uclient -s exited with status $?"
check_report "$dir/send.log" 1000 "send indications (10 clients x 100)"

# 3. TURN REST credentials.
timeout 120 "${uclient[@]}" -s -W "$SECRET" -u interop -m 2 -n 20 127.0.0.1 >"$dir/rest.log" 2>&1 ||
	fail "uclient -W exited with status $?"
check_report "$dir/rest.log" 40 "REST credentials (2 clients x 20)"

# 4. Channels (ChannelBind + ChannelData both ways), 10 clients x 100 messages.
timeout 120 "${uclient[@]}" -u demo -w demo -m 10 -n 100 127.0.0.1 >"$dir/channel.log" 2>&1 ||
	fail "uclient (channels) exited with status $?"
check_report "$dir/channel.log" 1000 "channels (10 clients x 100)"

# 5. IPv6 relayed addresses, asked over IPv4: channels, then Send indications.
uclient6=(turnutils_uclient -p "$TURN_PORT" -e ::1 -r "$PEER6_PORT" -c -x)
timeout 120 "${uclient6[@]}" -u demo -w demo -m 10 -n 100 127.0.0.1 >"$dir/x-channel.log" 2>&1 ||
	fail "uclient -x exited with status $?"
check_report "$dir/x-channel.log" 1000 "IPv6 relays, channels (-x, 10 clients x 100)"
timeout 120 "${uclient6[@]}" -s -u demo -w demo -m 10 -n 100 127.0.0.1 >"$dir/x-send.log" 2>&1 ||
	fail "uclient -x -s exited with status $?"
check_report "$dir/x-send.log" 1000 "IPv6 relays, send indications (-x -s, 10 clients x 100)"

# 6. Clients on the IPv6 listener.
timeout 120 "${uclient[@]}" -u demo -w demo -m 10 -n 100 ::1 >"$dir/v6-listener.log" 2>&1 ||
	fail "uclient to ::1 exited with status $?"
check_report "$dir/v6-listener.log" 1000 "IPv6 listener, channels (10 clients x 100)"

# 7. Client to client, relay to relay: IPv4, then IPv6 relays. -m counts clients, in pairs.
timeout 120 turnutils_uclient -p "$TURN_PORT" -c -y -u demo -w demo -m 10 -n 100 127.0.0.1 \
	>"$dir/y.log" 2>&1 || fail "uclient -y exited with status $?"
check_report "$dir/y.log" 1000 "client to client (-y, 10 clients x 100)"
timeout 120 turnutils_uclient -p "$TURN_PORT" -c -y -x -u demo -w demo -m 10 -n 100 127.0.0.1 \
	>"$dir/yx.log" 2>&1 || fail "uclient -y -x exited with status $?"
check_report "$dir/yx.log" 1000 "client to client over IPv6 relays (-y -x, 10 clients x 100)"

# 8. RTP/RTCP pairs: without -c each client allocates with EVEN-PORT R=1 and its RTCP socket
# redeems the RESERVATION-TOKEN (RFC 8656 §7.2): relayed ports P and P + 1. The uclient sends one
# RTCP message per 5 RTP ones: 5 clients x (100 + 20) = 600 messages.
timeout 120 turnutils_uclient -p "$TURN_PORT" -e 127.0.0.1 -r "$PEER_PORT" -W "$SECRET" -u rtp \
	-m 5 -n 100 127.0.0.1 >"$dir/rtcp.log" 2>&1 || fail "uclient (RTP/RTCP) exited with status $?"
check_report "$dir/rtcp.log" 600 "RTP/RTCP pairs with reservations (5 clients x 100 + RTCP)"
pairs=$(sed -n 's/.*user [0-9]*:rtp, relayed 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$dir/tincand.log" |
	sort -n | awk 'NR > 1 && $1 == prev + 1 && prev % 2 == 0 { n++ } { prev = $1 } END { print n + 0 }')
# The uclient toggles EVEN-PORT R=1 across all its allocations (its probe ones included), so how
# many of its sessions end up with a pair varies from run to run; at least one must.
[ "$pairs" -ge 1 ] || fail "RTP/RTCP: no relayed port pair P, P + 1: no reservation was redeemed"
echo "    -> $pairs RTP/RTCP pairs on ports P, P + 1 (reservations redeemed)"

# 9-10. TURN over TCP and over TLS on their own ports: Send indications, then channels.
# stream_allocs TRANSPORT: "created deleted" allocation log lines over tcp or tls so far.
stream_allocs() {
	echo "$(grep -c "allocation created: .* $1, user" "$dir/tincand.log")" \
		"$(grep -c "allocation deleted: .* $1, user" "$dir/tincand.log")"
}
for transport in tcp tls; do
	if [ "$transport" = tcp ]; then
		flags=(-t -p "$TCP_PORT") label="TCP (-t)"
	else
		flags=(-t -S -p "$TLS_PORT") label="TLS (-t -S)"
	fi
	stream=(turnutils_uclient "${flags[@]}" -e 127.0.0.1 -r "$PEER_PORT" -c -u demo -w demo)
	timeout 120 "${stream[@]}" -s -m 10 -n 100 127.0.0.1 >"$dir/$transport-send.log" 2>&1 ||
		fail "uclient $label -s exited with status $?"
	check_report "$dir/$transport-send.log" 1000 "$label, send indications (10 clients x 100)"
	timeout 120 "${stream[@]}" -m 10 -n 100 127.0.0.1 >"$dir/$transport-channel.log" 2>&1 ||
		fail "uclient $label exited with status $?"
	check_report "$dir/$transport-channel.log" 1000 "$label, channels (10 clients x 100)"
	# The uclient has exited: every connection is closed, so every allocation made on one is
	# gone (log lines are written as it happens; give the relay a moment).
	for i in $(seq 1 20); do
		read -r created deleted <<<"$(stream_allocs "$transport")"
		[ "$created" -eq "$deleted" ] && break
		sleep 0.1
	done
	if [ "$created" -ge 20 ] && [ "$created" -eq "$deleted" ]; then
		echo "    -> $created allocations over $transport, all deleted with their connections"
	else
		fail "$label: $created allocations created, $deleted deleted after the clients left"
	fi
done

exit "$failed"
