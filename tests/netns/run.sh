#!/bin/bash
# Restricted networks (issue 4), as root: tincand in a "box" network namespace, two Chromium
# browsers in client namespaces, a router namespace between them whose nftables rules make each
# scenario:
#
#   1 open     everything but client <-> client: the call relays over TURN/UDP
#   2 no-udp   UDP dropped, TCP allowed: the call relays over TURN/TCP (turn.tcp_listen)
#   3 only-443 only TCP to the box's port 443: the page loads over HTTPS on 443, the signaling
#              WebSocket is WSS on 443, and the call relays over turns: on the same port
#   4          in every scenario the clients cannot reach each other (checked with TCP and UDP),
#              so media must cross the box
#
#            10.77.2.10 [tcx-a] ─┐
#                                ├─ [tcx-r] router, nftables forward rules ─ [tcx-box] 10.77.1.10
#            10.77.3.10 [tcx-b] ─┘                                            tincand: 443 (mux),
#                                                                             3478 UDP (+TCP)
#
# The browsers validate the certificate for real: a test CA made with openssl signs the box's
# certificate for call.tincan.test; each client's $HOME/.pki/nssdb trusts the CA (certutil -A -t
# "C,,"), and Chromium maps the name with --host-resolver-rules. No switch turns verification off.
# For each scenario both pages report the selected pair's relayProtocol, bytes and framesDecoded.
#
# The addresses (10.77.0.0/16) exist only on the veths of the namespaces made here; no packet
# leaves them. A trap deletes the namespaces and stops every process by PID.
# Skips (77) when not root, or without ip, nft, certutil, chromium or node.
: "${TOP_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
. "$TOP_SRCDIR/tests/lib.sh"
set -u

HOSTNAME_TEST=call.tincan.test
BOX=10.77.1.10 A=10.77.2.10 B=10.77.3.10
# Namespace names carry the PID, so that two runs on one machine (a developer's and CI's) never meet.
NS_R=tcx$$-r NS_BOX=tcx$$-box NS_A=tcx$$-a NS_B=tcx$$-b
chromium=${CHROMIUM:-/usr/bin/chromium}

if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root (network namespaces)"; exit 77; fi
for tool in ip nft certutil openssl node curl python3; do
	command -v "$tool" >/dev/null || { echo "SKIP: needs $tool (tools/install-deps installs it)"; exit 77; }
done
[ -x "$chromium" ] || { echo "SKIP: needs $chromium"; exit 77; }
stage=$(node_stage) || { echo "cannot stage the node tests"; exit 99; }
rm -rf "$stage/netns" && cp -R "$TOP_SRCDIR/tests/netns" "$stage/netns"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tincan-netns.XXXXXX")
log="$WORK/tincand.log"
TINCAND_NS_PID= HELPER_PIDS=()

cleanup() {
	local rc=$?
	for p in "${HELPER_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	if [ -n "$TINCAND_NS_PID" ]; then
		kill -TERM "$TINCAND_NS_PID" 2>/dev/null
		for _ in $(seq 1 50); do kill -0 "$TINCAND_NS_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$TINCAND_NS_PID" 2>/dev/null
		wait "$TINCAND_NS_PID" 2>/dev/null
	fi
	for ns in $NS_A $NS_B $NS_BOX $NS_R; do ip netns del "$ns" 2>/dev/null; rm -rf "/etc/netns/$ns"; done
	if [ "$rc" -ne 0 ]; then
		echo "--- last lines of $log ---"; grep -v ' lws: ' "$log" 2>/dev/null | tail -n 40
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the network ----
for ns in $NS_A $NS_B $NS_BOX $NS_R; do
	ip netns del "$ns" 2>/dev/null
	ip netns add "$ns" || exit 99
	ip -n "$ns" link set lo up
done
link() { # NS ADDR ROUTER_ADDR NAME
	ip link add "$4" netns "$1" type veth peer name "r-$4" netns $NS_R || exit 99
	ip -n "$1" addr add "$2/24" dev "$4"
	ip -n "$1" link set "$4" up
	ip -n "$1" route add default via "$3"
	ip -n $NS_R addr add "$3/24" dev "r-$4"
	ip -n $NS_R link set "r-$4" up
}
link $NS_BOX $BOX 10.77.1.1 box
link $NS_A $A 10.77.2.1 cla
link $NS_B $B 10.77.3.1 clb
ip netns exec $NS_R sysctl -qw net.ipv4.ip_forward=1

# scenario_rules NAME: the router's forward chain for a scenario. Clients never reach each other.
scenario_rules() {
	local extra
	case $1 in
	open) extra= ;;
	no-udp) extra="meta l4proto udp ip saddr { $A, $B } drop
		meta l4proto udp ip daddr { $A, $B } drop" ;;
	only-443) extra="ct state established,related accept
		ip saddr { $A, $B } ip daddr $BOX tcp dport 443 accept
		ip saddr { $A, $B } drop
		ip daddr { $A, $B } drop" ;;
	esac
	ip netns exec $NS_R nft -f - <<NFT
flush ruleset
table inet tincan_test {
	chain forward {
		type filter hook forward priority 0; policy accept;
		ip saddr $A ip daddr $B drop
		ip saddr $B ip daddr $A drop
		$extra
	}
}
NFT
}

# ---- the certificates ----
mkdir -p "$WORK/ca" "$WORK/state" "$WORK/home-a" "$WORK/home-b"
(
	cd "$WORK/ca" || exit 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj "/CN=tincan test CA" -keyout ca-key.pem -out ca.pem \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$HOSTNAME_TEST" \
		-keyout box-key.pem -out box.csr
	printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=serverAuth" "subjectAltName=DNS:$HOSTNAME_TEST" >box.ext
	openssl x509 -req -in box.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 \
		-extfile box.ext -out box.pem
	chmod 600 box-key.pem
) >"$WORK/ca.log" 2>&1 || { cat "$WORK/ca.log"; exit 99; }
for h in home-a home-b; do
	mkdir -p "$WORK/$h/.pki/nssdb"
	certutil -N -d "sql:$WORK/$h/.pki/nssdb" --empty-password &&
		certutil -A -d "sql:$WORK/$h/.pki/nssdb" -n "tincan test CA" -t "C,," -i "$WORK/ca/ca.pem" ||
		exit 99
done

# ---- tincand in the box ----
turn_tcp=
if "$TINCAND" --check-config --config /dev/stdin >/dev/null 2>&1 <<<'turn = { tcp_listen = "0.0.0.0:3478"; };'; then
	turn_tcp="tcp_listen = \"$BOX:3478\";"
fi
cat >"$WORK/tincan.conf" <<CONF
log_level = "debug";
turn = {
  listen = "$BOX:3478";
  $turn_tcp
  relay_address = "$BOX";
  relay_port_min = 40000;
  relay_port_max = 40999;
  external_address = "$HOSTNAME_TEST";
  realm = "tincan.test";
  allow_peers = [ "10.77.0.0/16" ];
};
http = {
  listen = "127.0.0.1:8080";
  html_dir = "$TOP_SRCDIR/html";
};
tls = {
  certificate = "$WORK/ca/box.pem";
  private_key = "$WORK/ca/box-key.pem";
  state_dir = "$WORK/state";
};
mux = {
  listen = "$BOX:443";
};
CONF
ip netns exec $NS_BOX "$TINCAND" --config "$WORK/tincan.conf" >"$log" 2>&1 &
TINCAND_NS_PID=$!
for _ in $(seq 1 100); do
	ip netns exec $NS_BOX curl -fsS http://127.0.0.1:8080/api/health >/dev/null 2>&1 && break
	kill -0 "$TINCAND_NS_PID" 2>/dev/null || { echo "tincand exited"; exit 1; }
	sleep 0.1
done

# Does the relay take TCP/TLS streams (turn_server_adopt_stream)? A STUN Binding over TCP on the
# shared port answers then. Scenario 3 needs it.
turn_streams=0
ip netns exec $NS_BOX python3 - "$BOX" <<'PY' && turn_streams=1
import os, socket, struct, sys
s = socket.create_connection((sys.argv[1], 443), timeout=3)
s.sendall(struct.pack("!HHI", 1, 0, 0x2112A442) + os.urandom(12))
d = s.recv(20)
sys.exit(0 if len(d) >= 2 and d[:2] == b"\x01\x01" else 1)
PY

# Browsers: a wrapper per client runs Chromium inside its namespace with its own NSS db. The test
# name resolves through --host-resolver-rules for the page and its WebSocket, but WebRTC resolves
# the host of a TURN URL through DNS only (neither the rules nor /etc/hosts reach it: "TURN host
# lookup received error", measured): each client namespace gets a one-name DNS server on
# 127.0.0.1:53 (dns.py) and a resolv.conf naming it (ip netns exec bind-mounts
# /etc/netns/NS/resolv.conf on /etc/resolv.conf).
for ns in $NS_A $NS_B; do
	mkdir -p "/etc/netns/$ns"
	echo 'nameserver 127.0.0.1' >"/etc/netns/$ns/resolv.conf"
	ip netns exec "$ns" python3 "$TOP_SRCDIR/tests/netns/dns.py" "$HOSTNAME_TEST" "$BOX" &
	HELPER_PIDS+=($!)
done
for c in a b; do
	ns=$NS_A; [ $c = b ] && ns=$NS_B
	cat >"$WORK/chromium-$c" <<WRAP
#!/bin/sh
HOME="$WORK/home-$c" exec ip netns exec $ns "$chromium" --host-resolver-rules="MAP $HOSTNAME_TEST $BOX" "\$@"
WRAP
	chmod +x "$WORK/chromium-$c"
done

# Assertion 4: A and B cannot reach each other, by TCP or UDP. Listeners in B, probes from A.
no_direct_path() {
	ip netns exec $NS_B python3 - <<'PY' &
import socket, select, time
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("0.0.0.0", 9)); t.listen()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 9))
end = time.time() + 30  # killed once the probes are done
while time.time() < end:
    r, _, _ = select.select([t, u], [], [], 0.2)
    for s in r:
        if s is t: s.accept()[0].close()
        else:
            d, a = u.recvfrom(100); u.sendto(d, a)
PY
	local lpid=$!
	# Probes that run before B listens would find no path for the wrong reason.
	wait_bound tcp 9 $NS_B && wait_bound udp 9 $NS_B || { kill "$lpid"; return 1; }
	ip netns exec $NS_A python3 - "$B" <<'PY'
import socket, sys
b = sys.argv[1]
try:
    socket.create_connection((b, 9), timeout=1).close(); print("A reached B over TCP"); sys.exit(1)
except OSError: pass
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(1)
u.sendto(b"x", (b, 9))
try:
    u.recvfrom(10); print("A reached B over UDP"); sys.exit(1)
except OSError: pass
PY
	local rc=$?
	kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null
	return $rc
}

# NETNS_DEBUG=COMMAND: run COMMAND in the set-up network (WORK, stage... are set) instead.
if [ -n "${NETNS_DEBUG:-}" ]; then scenario_rules open; eval "$NETNS_DEBUG"; exit 0; fi

passed=0 failed=0 skipped=0
# /metrics is for loopback clients only; a remote client gets 403 on both TLS paths of the shared
# port, also on the one where lws sees the socketpair tincand proxies through (no ALPN).
scenario_rules open
m1=$(ip netns exec $NS_A curl -sS -o /dev/null -w '%{http_code}' --cacert "$WORK/ca/ca.pem" \
	--resolve "$HOSTNAME_TEST:443:$BOX" "https://$HOSTNAME_TEST/metrics")
m2=$(ip netns exec $NS_A curl -sS -o /dev/null -w '%{http_code}' --no-alpn --cacert "$WORK/ca/ca.pem" \
	--resolve "$HOSTNAME_TEST:443:$BOX" "https://$HOSTNAME_TEST/metrics")
if [ "$m1" = 403 ] && [ "$m2" = 403 ]; then
	echo "ok   /metrics from a client namespace: 403 with ALPN and without (proxied)"; passed=$((passed + 1))
else
	echo "FAIL /metrics from a client namespace: $m1 with ALPN, $m2 without (want 403, 403)"; failed=$((failed + 1))
fi
for sc in ${NETNS_SCENARIOS:-open no-udp only-443}; do
	echo "=== scenario $sc"
	scenario_rules $sc || { failed=$((failed + 1)); continue; }
	if no_direct_path; then echo "ok   $sc: A and B cannot reach each other (TCP, UDP)"
	else echo "FAIL $sc: A and B reach each other"; failed=$((failed + 1)); continue; fi
	case $sc in
	open) want=udp ;;
	no-udp) want=tcp ;;
	only-443) want=tls ;;
	esac
	if [ $sc = no-udp ] && { [ -z "$turn_tcp" ] || [ $turn_streams = 0 ]; }; then
		echo "SKIP $sc: this tincand has no TURN over TCP yet (turn.tcp_listen)"
		skipped=$((skipped + 1)); continue
	fi
	if [ $sc = only-443 ] && [ $turn_streams = 0 ]; then
		echo "SKIP $sc: the relay does not take TLS streams from the shared port yet"
		skipped=$((skipped + 1)); continue
	fi
	if node "$stage/netns/call.mjs" "https://$HOSTNAME_TEST" "$WORK/chromium-a" "$WORK/chromium-b" "$sc" "$want"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
	echo "     $sc: tincand: $(ip netns exec $NS_BOX curl -fsS http://127.0.0.1:8080/metrics |
		grep -E '^tincan_turn_(allocations_total|requests_total|auth_failures_total|peer_denied_total|relayed_bytes_total)' |
		tr '\n' ' ')"
done
echo "netns: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
