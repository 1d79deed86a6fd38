#!/bin/bash
# Install test of the Debian package on a clean Debian bookworm root, as root. It never touches
# the host's /etc, packages or systemd: everything happens in a chroot, inside private mount and
# PID namespaces (every mount and process it makes ends with it), and tincand runs in a private
# network namespace of its own.
#
#  1. Builds tincan_<version>_<arch>.deb with dpkg-buildpackage from a copy of the source tree
#     (tracked and untracked-but-not-ignored files), and runs lintian on it: no error, no warning.
#  2. Takes a minimal bookworm root (debootstrap --variant=minbase) with the package's dependencies
#     installed by apt, cached in $TINCAN_TEST_CACHE (/var/cache/tincan-test) per week and
#     dependency list, so only the first run of a week downloads it (about 70 s).
#  3. Lists the root's files, then `apt-get install ./tincan_*.deb` and checks what it installed:
#     files, conffile, user, permissions, generated secrets, enabled unit,
#     `systemd-analyze verify` and `security` (exposure at most 2.0), man pages that render.
#  4. Runs the unit's ExecStartPre and ExecStart as user tincan in the root (systemd is not PID 1
#     here), with the shipped configuration untouched: health, the call page, a STUN Binding,
#     credentials from the API, /metrics scraped and parsed, SIGTERM.
#  5. Edits the configuration as an admin would (loopback ports from base 26000, loopback peers
#     allowed), reinstalls: the edit and the secrets survive. Then a TURN allocation relays
#     through turnutils_uclient to turnutils_peer with credentials minted by the API, /metrics
#     counts it, SIGHUP reloads a changed configuration while an allocation relays and the
#     allocation keeps relaying, and a broken configuration makes ExecStartPre fail with FILE:LINE.
#  6. `apt-get remove` keeps the configuration and the state; `apt-get purge` leaves no file
#     behind (compared with the list from step 3).
#
# Health is checked over HTTPS on the shipped shared port 443, with the self-signed certificate
# tincand makes in /var/lib/tincan at first start. In step 5, SIGHUP reloads the edited
# configuration while an allocation relays: the allocation keeps relaying (reload_check).
#
# Environment: TINCAN_TEST_CACHE (cache folder), TINCAN_MIRROR (Debian mirror),
# TINCAN_KEEP=1 (keep the work folder for inspection).
set -u
: "${TOP_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${TINCAN_TEST_CACHE:=/var/cache/tincan-test}"
: "${TINCAN_MIRROR:=http://deb.debian.org/debian}"
SUITE=bookworm
BASE=26000                      # tests/lib.sh: TURN 26000, HTTP 26001, relay 26100-26599
SELF=$(readlink -f "${BASH_SOURCE[0]}")
. "$TOP_SRCDIR/tests/lib.sh"     # wait_bound

# ---------------------------------------------------------------------------------------------
# Phases that run inside a private network namespace (this script calls itself with --netns).
# ---------------------------------------------------------------------------------------------

failed=0
fail() { echo "FAIL: $*"; failed=1; }
ok() { echo "ok: $*"; }

# unit_cmd KEY — the command line of ExecStart= or ExecStartPre= in the installed unit.
unit_cmd() { sed -n "s/^$1=//p" "$ROOT/lib/systemd/system/tincan.service" | head -n 1; }

# as_tincan CMD... — runs CMD in the root as user tincan, with the unit's clean environment.
as_tincan() {
	chroot --userspec=tincan:tincan "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# start_service HTTP_PORT — ExecStartPre, then ExecStart in the background; waits for health.
start_service() {
	local port=$1 pre start _
	pre=$(unit_cmd ExecStartPre)
	start=$(unit_cmd ExecStart)
	# shellcheck disable=SC2086 # the unit's command lines are split on blanks, as systemd does
	if ! as_tincan $pre >"$WORK/pre.log" 2>&1; then
		fail "ExecStartPre ($pre) failed:"; cat "$WORK/pre.log"; return 1
	fi
	ok "ExecStartPre: $(grep 'configuration is valid' "$WORK/pre.log")"
	# Not through as_tincan: a function in the background is a subshell, and $! would be its PID.
	# chroot and env exec, so $! is tincand's PID.
	# shellcheck disable=SC2086
	# As the unit does: user tincan with CAP_NET_BIND_SERVICE as its only, ambient, capability
	# (AmbientCapabilities=), so the shared port can bind 443.
	chroot "$ROOT" setpriv --reuid=tincan --regid=tincan --clear-groups \
		--inh-caps=-all,+net_bind_service --ambient-caps=+net_bind_service \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin $start >"$WORK/tincand.log" 2>&1 &
	TINCAND_PID=$!
	for _ in $(seq 1 100); do
		curl -fsS "http://127.0.0.1:$port/api/health" >"$WORK/health.json" 2>/dev/null && return 0
		kill -0 "$TINCAND_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "tincand did not answer /api/health on port $port:"; cat "$WORK/tincand.log"
	return 1
}

stop_service() {
	local rc
	[ -n "${TINCAND_PID:-}" ] || return 0
	kill -TERM "$TINCAND_PID"
	wait "$TINCAND_PID"; rc=$?
	TINCAND_PID=
	if [ "$rc" -eq 0 ] && grep -q 'tincand stopped' "$WORK/tincand.log"; then
		ok "SIGTERM: tincand stopped cleanly (status 0)"
	else
		fail "SIGTERM: status $rc"; tail -n 20 "$WORK/tincand.log"
	fi
}

# json FILE EXPR — evaluates a Python expression on the JSON document j.
json() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# api_credentials HTTP_PORT — creates a room, joins it and fetches /api/ice-servers: sets
# TURN_USER, TURN_PASS and TURN_URL from the API, as a browser gets them.
api_credentials() {
	local http=http://127.0.0.1:$1 room token
	curl -fsS -X POST -H 'Content-Type: application/json' -d '{}' "$http/api/rooms" >"$WORK/room.json" &&
		room=$(json "$WORK/room.json" 'j["room"]') &&
		curl -fsS -X POST -H 'Content-Type: application/json' -d '{}' "$http/api/rooms/$room/join" \
			>"$WORK/join.json" &&
		token=$(json "$WORK/join.json" 'j["token"]') &&
		curl -fsS -H "Authorization: Bearer $token" "$http/api/ice-servers" >"$WORK/ice.json" || {
		fail "API: room, join, ice-servers"; return 1; }
	TURN_USER=$(json "$WORK/ice.json" '[s for s in j["iceServers"] if "username" in s][0]["username"]')
	TURN_PASS=$(json "$WORK/ice.json" '[s for s in j["iceServers"] if "username" in s][0]["credential"]')
	TURN_URL=$(json "$WORK/ice.json" '[s for s in j["iceServers"] if "username" in s][0]["urls"][0]')
	ok "API credentials: $TURN_URL user $TURN_USER"
}

# metrics HTTP_PORT — scrapes /metrics, checks every line is Prometheus text format and leaves
# "name{labels} value" lines in $WORK/metrics.txt.
metrics() {
	curl -fsS "http://127.0.0.1:$1/metrics" >"$WORK/metrics.raw" || { fail "GET /metrics"; return 1; }
	if python3 - "$WORK/metrics.raw" >"$WORK/metrics.txt" <<'PY'; then
import re, sys
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? (\S+)$')
n = 0
for line in open(sys.argv[1]):
    line = line.rstrip('\n')
    if not line or line.startswith('# HELP ') or line.startswith('# TYPE '):
        continue
    m = sample.match(line)
    if not m:
        sys.exit('not Prometheus text format: %r' % line)
    float(m.group(4))
    print(line)
    n += 1
if n == 0:
    sys.exit('no samples')
PY
		ok "/metrics: $(wc -l <"$WORK/metrics.txt") samples, all well formed"
	else
		fail "/metrics does not parse"; head -n 20 "$WORK/metrics.raw"; return 1
	fi
}

# metric NAME — the value of one sample (NAME may include labels), 0 if absent.
metric() { awk -v n="$1" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }' "$WORK/metrics.txt"; }

# Shipped configuration, untouched: the service starts and answers.
phase_pristine() {
	ip link set lo up
	# A stand-in for the machine's address and default route; nothing leaves this namespace.
	ip addr add 192.0.2.10/32 dev lo
	ip route add default dev lo src 192.0.2.10
	start_service 8080 || return 1
	grep -q 'relaying on 192.0.2.10, the address of the default route' "$WORK/pre.log" &&
		ok "turn.relay_address from the default route: 192.0.2.10" ||
		fail "relay address not taken from the default route: $(cat "$WORK/pre.log")"
	[ "$(json "$WORK/health.json" 'j["status"]')" = ok ] &&
		ok "GET /api/health on http.listen (127.0.0.1:8080): $(cat "$WORK/health.json")" ||
		fail "health: $(cat "$WORK/health.json")"
	# The shared port 443 of the shipped config, with the self-signed certificate tincand made at
	# first start in its state directory, verified (not -k).
	cert="$ROOT/var/lib/tincan/selfsigned-cert.pem"
	if [ -s "$cert" ] && grep -q 'made a self-signed certificate' "$WORK/tincand.log"; then
		ok "self-signed certificate made at first start: /var/lib/tincan/selfsigned-cert.pem (key: $(chroot "$ROOT" stat -c '%U %a' /var/lib/tincan/selfsigned-key.pem))"
	else
		fail "no self-signed certificate in /var/lib/tincan"; cat "$WORK/tincand.log"
	fi
	if curl -fsS --cacert "$cert" https://127.0.0.1/api/health >"$WORK/health-tls.json" 2>"$WORK/curl.log" &&
		[ "$(json "$WORK/health-tls.json" 'j["status"]')" = ok ]; then
		ok "GET https://127.0.0.1:443/api/health, certificate verified: $(cat "$WORK/health-tls.json")"
	else
		fail "HTTPS health on 443: $(cat "$WORK/curl.log")"
	fi
	# Depends pulled in lws's libev plugin (dh's shlibs cannot see a dlopen()ed plugin).
	grep -q '(epoll loop)' "$WORK/tincand.log" && ok "lws runs on the epoll loop (libwebsockets-evlib-ev)" ||
		fail "lws is not on the epoll loop: $(grep 'http:' "$WORK/tincand.log")"
	code=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' http://127.0.0.1:443/api/health)
	[ "${code%% *}" = 308 ] && ok "plain HTTP on 443: $code" || fail "plain HTTP on 443: $code"
	curl -fsS -o "$WORK/index.html" http://127.0.0.1:8080/ && grep -qi '<html' "$WORK/index.html" && ok "GET / serves the call page from /usr/share/tincan/html" ||
		fail "GET / does not serve the call page"
	if turnutils_stunclient -p 3478 127.0.0.1 >"$WORK/stun.log" 2>&1 &&
		grep -q 'UDP reflexive addr: 127.0.0.1:' "$WORK/stun.log"; then
		ok "STUN Binding on UDP 3478: $(grep -m 1 -o 'UDP reflexive addr: [0-9.:]*' "$WORK/stun.log")"
	else
		fail "STUN Binding"; cat "$WORK/stun.log"
	fi
	api_credentials 8080 && case $TURN_URL in
		turn:192.0.2.10:3478*) ok "ice-servers name the relay address" ;;
		*) fail "ice-servers URL $TURN_URL" ;;
	esac
	metrics 8080
	stop_service
}

# metric_now NAME — NAME's value in a fresh scrape of the running service (empty if none).
metric_now() {
	curl -fsS "http://127.0.0.1:$((BASE + 1))/metrics" 2>/dev/null | sed -n "s/^$1 //p"
}

# Reload while an allocation relays, as `systemctl reload tincan` (ExecReload= kill -HUP) does
# it: a turnutils_uclient session sends 150 messages 20 ms apart; once its allocation exists the
# admin raises turn.user_quota and SIGHUP arrives. tincand must log the reload (naming the
# option), keep running and keep the allocation: every message still goes through and back.
reload_check() {
	local peer_pid uclient_pid line sent recv lost now base _ conf=$ROOT/etc/tincan/tincan.conf
	base=$(metric_now tincan_turn_allocations)
	turnutils_peer -L 127.0.0.1 -p $((BASE + 50)) >"$WORK/peer-reload.log" 2>&1 &
	peer_pid=$!
	wait_bound udp $((BASE + 50)) || { fail "turnutils_peer did not bind"; return 1; }
	timeout 60 turnutils_uclient -p "$BASE" -e 127.0.0.1 -r $((BASE + 50)) -c -m 1 -n 150 -z 20 \
		-u "$TURN_USER" -w "$TURN_PASS" 127.0.0.1 >"$WORK/uclient-reload.log" 2>&1 &
	uclient_pid=$!
	for _ in $(seq 1 50); do
		now=$(metric_now tincan_turn_allocations)
		[ "${now:-0}" -gt "${base:-0}" ] && break
		sleep 0.1
	done
	cp "$conf" "$WORK/before-reload.conf"
	sed -i 's|^  user_quota = 10;|  user_quota = 12;|' "$conf"
	kill -HUP "$TINCAND_PID"
	for _ in $(seq 1 50); do
		grep -q 'SIGHUP: configuration reloaded' "$WORK/tincand.log" && break
		sleep 0.1
	done
	line=$(grep 'SIGHUP: configuration reloaded' "$WORK/tincand.log" | tail -n 1)
	if [[ "$line" == *"reloaded from /etc/tincan/tincan.conf (1 option changed: turn.user_quota)"* ]]; then
		ok "SIGHUP while relaying: ${line#*: }"
	else
		fail "SIGHUP: no reload line (allocations before it: ${now:-?})"; tail -n 20 "$WORK/tincand.log"
	fi
	now=$(metric_now tincan_turn_allocations)
	if kill -0 "$TINCAND_PID" 2>/dev/null && [ "${now:-0}" -gt "${base:-0}" ]; then
		ok "tincand runs after SIGHUP, the allocation is still there (tincan_turn_allocations $now)"
	else
		fail "after SIGHUP: tincand $(kill -0 "$TINCAND_PID" 2>/dev/null && echo runs || echo is gone), allocations ${now:-?}"
	fi
	wait "$uclient_pid" || fail "turnutils_uclient (across the reload) exited with status $?"
	kill "$peer_pid" 2>/dev/null; wait "$peer_pid" 2>/dev/null
	line=$(grep -E 'start_mclient: tot_send_msgs=[0-9]+, tot_recv_msgs=[0-9]+' "$WORK/uclient-reload.log" | tail -n 1)
	sent=$(sed -n 's/.*tot_send_msgs=\([0-9]*\),.*/\1/p' <<<"$line")
	recv=$(sed -n 's/.*tot_recv_msgs=\([0-9]*\).*/\1/p' <<<"$line")
	lost=$(sed -n 's/.*Total lost packets \([0-9]*\) .*/\1/p' "$WORK/uclient-reload.log" | tail -n 1)
	if [ "${sent:-0}" -eq 150 ] && [ "${recv:-0}" -eq 150 ] && [ "${lost:-1}" -eq 0 ]; then
		ok "the allocation relayed across the reload: $sent messages sent, $recv back, $lost lost"
	else
		fail "relay across the reload: sent ${sent:-?} received ${recv:-?} lost ${lost:-?}"
		tail -n 20 "$WORK/uclient-reload.log"
	fi
	cp "$WORK/before-reload.conf" "$conf"
}

# The admin's edited configuration: a relayed allocation with credentials from the API.
phase_relay() {
	local peer_pid uclient sent recv lost line
	ip link set lo up
	start_service $((BASE + 1)) || return 1
	api_credentials $((BASE + 1)) || { stop_service; return 1; }
	turnutils_peer -L 127.0.0.1 -p $((BASE + 50)) >"$WORK/peer.log" 2>&1 &
	peer_pid=$!
	wait_bound udp $((BASE + 50)) || { fail "turnutils_peer did not bind"; stop_service; return 1; }
	# -c: no RTCP pair (EVEN-PORT with a reservation is refused by design; see tests/interop).
	uclient=(turnutils_uclient -p "$BASE" -e 127.0.0.1 -r $((BASE + 50)) -c -m 2 -n 20)
	timeout 60 "${uclient[@]}" -u "$TURN_USER" -w "$TURN_PASS" 127.0.0.1 >"$WORK/uclient.log" 2>&1 ||
		fail "turnutils_uclient exited with status $?"
	kill "$peer_pid" 2>/dev/null; wait "$peer_pid" 2>/dev/null
	line=$(grep -E 'start_mclient: tot_send_msgs=[0-9]+, tot_recv_msgs=[0-9]+' "$WORK/uclient.log" | tail -n 1)
	sent=$(sed -n 's/.*tot_send_msgs=\([0-9]*\),.*/\1/p' <<<"$line")
	recv=$(sed -n 's/.*tot_recv_msgs=\([0-9]*\).*/\1/p' <<<"$line")
	lost=$(sed -n 's/.*Total lost packets \([0-9]*\) .*/\1/p' "$WORK/uclient.log" | tail -n 1)
	if [ "${sent:-0}" -eq 40 ] && [ "${recv:-0}" -eq 40 ] && [ "${lost:-1}" -eq 0 ]; then
		ok "TURN allocations with API credentials: 2 clients x 20 messages relayed, $recv back, $lost lost"
	else
		fail "TURN relay: sent ${sent:-?} received ${recv:-?} lost ${lost:-?}"; tail -n 20 "$WORK/uclient.log"
	fi
	metrics $((BASE + 1))
	[ "$(metric tincan_turn_allocations_total)" -ge 2 ] &&
		[ "$(metric 'tincan_turn_relayed_packets_total{direction="to_peer"}')" -ge 40 ] &&
		ok "/metrics counts them: allocations_total $(metric tincan_turn_allocations_total), to_peer packets $(metric 'tincan_turn_relayed_packets_total{direction="to_peer"}')" ||
		fail "/metrics does not count the allocations"; grep -E '^tincan_turn_(allocations_total|relayed_packets)' "$WORK/metrics.txt"
	reload_check
	stop_service
}

if [ "${1:-}" = --netns ]; then
	"phase_$2"
	exit $failed
fi

# ---------------------------------------------------------------------------------------------
# Main: build, root, install, the two service phases (each in its own network namespace),
# remove, purge.
# ---------------------------------------------------------------------------------------------

# The package build runs `make check` (dh_auto_test) with a list of fast tests that excludes this
# one; if that list were ever lost, this test would build packages inside package builds forever.
if [ -n "${TINCAN_INSTALL_TEST_RUNNING:-}" ]; then
	echo "ERROR: tests/install/run.sh started inside itself (from dh_auto_test); debian/rules must not run it"
	exit 99
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: the install test needs root (debootstrap, chroot, namespaces)"
	exit 77
fi
for tool in debootstrap dpkg-buildpackage lintian unshare ip ss curl python3 systemd-analyze man \
	turnutils_uclient turnutils_peer turnutils_stunclient; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool is not installed (tools/install-deps installs the test dependencies)"
		exit 77
	fi
done

# Private mount and PID namespaces: mounts vanish and processes die with this script.
if [ -z "${TINCAN_INSTALL_NS:-}" ]; then
	export TINCAN_INSTALL_NS=1 TOP_SRCDIR
	exec unshare --mount --propagation private --pid --fork --mount-proc "$SELF" "$@"
fi

export TINCAN_INSTALL_TEST_RUNNING=1
# Under `make check` the test harness's make exports MAKEFLAGS with its own command-line variables
# (TEST_LOGS=<every test>): the package build's make must not inherit them, or dh_auto_test's
# TESTS list is ignored.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES GNUMAKEFLAGS
START=$(date +%s)
WORK=$(mktemp -d /var/tmp/tincan-install.XXXXXX)
ROOT=$WORK/root
export WORK ROOT
TINCAND_PID=

cleanup() {
	[ -n "${TINCAND_PID:-}" ] && kill -KILL "$TINCAND_PID" 2>/dev/null
	umount -R "$ROOT/proc" 2>/dev/null
	umount "$ROOT/dev/pts" 2>/dev/null
	if [ "${TINCAN_KEEP:-0}" = 1 ] || [ "$failed" -ne 0 ]; then
		echo "work folder kept: $WORK"
		rm -rf --one-file-system "$ROOT"
	else
		rm -rf --one-file-system "$WORK"
	fi
	echo "install test: $(( $(date +%s) - START )) s"
}
trap cleanup EXIT

# in_root CMD... — runs CMD in the root as root (apt, dpkg), without a terminal.
in_root() { chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

mount_root() {
	mount -t proc proc "$ROOT/proc"
	mount -t devpts -o newinstance,ptmxmode=0666 devpts "$ROOT/dev/pts"
	cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null
}

# 1. Build the package from a copy of the source tree, then lintian.
echo "== build"
mkdir -p "$WORK/src"
if [ "$(git -C "$TOP_SRCDIR" rev-parse --show-toplevel 2>/dev/null)" = "$(cd "$TOP_SRCDIR" && pwd -P)" ]; then
	(cd "$TOP_SRCDIR" && git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
		tar --null -T - -cf -) | tar -C "$WORK/src" -xf -
else
	cp -a "$TOP_SRCDIR/." "$WORK/src/"
fi
VERSION=$(dpkg-parsechangelog -l "$WORK/src/debian/changelog" -S Version)
ARCH=$(dpkg --print-architecture)
DEB=$WORK/tincan_${VERSION}_$ARCH.deb
# In a network namespace with only loopback, as package builders (sbuild) have: dh_auto_test's
# unit tests must pass without a network, and their fixed loopback ports cannot collide with
# anything else running here. nice: make check runs other, timing-sensitive tests beside this one.
if (cd "$WORK/src" && DEB_BUILD_OPTIONS="parallel=$(nproc)" unshare --net sh -c \
	'ip link set lo up && exec nice -n 10 dpkg-buildpackage -us -uc -b') \
	>"$WORK/build.log" 2>&1 && [ -f "$DEB" ]; then
	ok "dpkg-buildpackage -us -uc -b: $(basename "$DEB") ($(stat -c %s "$DEB") bytes)"
else
	fail "dpkg-buildpackage"; tail -n 40 "$WORK/build.log"; exit 1
fi
grep -E '^(PASS|FAIL|ERROR|SKIP): ' "$WORK/build.log" | sed 's/^/   dh_auto_test /'
if lintian --fail-on error,warning --display-info "$DEB" >"$WORK/lintian.log" 2>&1; then
	ok "lintian: no error, no warning (overrides in debian/tincan.lintian-overrides)"
else
	fail "lintian:"
fi
grep -v 'running with root privileges' "$WORK/lintian.log" | sed 's/^/   /'

# 2. The clean root, cached per week and dependency list.
echo "== clean $SUITE root"
DEPENDS=$(dpkg-deb -f "$DEB" Depends)
KEY=$(printf '%s %s %s %s\n' "$SUITE" "$TINCAN_MIRROR" "$(date +%G-%V)" "$DEPENDS" | sha256sum | cut -c1-16)
TARBALL=$TINCAN_TEST_CACHE/$SUITE-minbase-$KEY.tar
mkdir -p "$TINCAN_TEST_CACHE" "$ROOT"
if [ ! -f "$TARBALL" ]; then
	echo "   no cached root ($TARBALL): debootstrap --variant=minbase $SUITE $TINCAN_MIRROR"
	if ! debootstrap --variant=minbase "$SUITE" "$ROOT" "$TINCAN_MIRROR" >"$WORK/debootstrap.log" 2>&1; then
		fail "debootstrap"; tail -n 20 "$WORK/debootstrap.log"; exit 1
	fi
	mount_root
	# The package's dependencies, resolved by apt from its own Depends field.
	if ! { in_root apt-get update -qq && in_root apt-get satisfy -y -qq --no-install-recommends "$DEPENDS" &&
		in_root apt-get clean; } >"$WORK/deps.log" 2>&1; then
		fail "apt-get satisfy '$DEPENDS'"; tail -n 20 "$WORK/deps.log"; exit 1
	fi
	umount "$ROOT/proc" "$ROOT/dev/pts"
	rm -f "$TINCAN_TEST_CACHE/$SUITE"-minbase-*.tar
	tar -C "$ROOT" -cf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL"
	ok "made and cached $TARBALL"
else
	tar -C "$ROOT" -xf "$TARBALL"
	ok "cached root $TARBALL"
fi
mount_root

# snapshot — every path in the root, except the package manager's own state and volatile folders.
snapshot() {
	(cd "$ROOT" && find . -xdev \( -path ./proc -o -path ./dev -o -path ./run -o -path ./tmp \
		-o -path ./var/tmp -o -path ./var/cache -o -path ./var/lib/apt -o -path ./var/lib/dpkg \
		-o -path ./var/log -o -path ./etc/resolv.conf \) -prune -o -print) | LC_ALL=C sort
}
snapshot >"$WORK/before.txt"

# 3. Install with apt, then check what the package put in place.
echo "== apt-get install ./$(basename "$DEB")"
cp "$DEB" "$ROOT/tmp/"
if in_root apt-get install -y -q --no-install-recommends "/tmp/$(basename "$DEB")" >"$WORK/install.log" 2>&1; then
	ok "apt-get install: $(grep -c '' "$WORK/install.log") lines of output, status 0"
else
	fail "apt-get install"; cat "$WORK/install.log"; exit 1
fi
grep -E "^(Creating|Created)" "$WORK/install.log" | sed 's/^/   /'

for f in /usr/sbin/tincand /etc/tincan/tincan.conf /usr/share/tincan/html/index.html \
	/lib/systemd/system/tincan.service /usr/lib/sysusers.d/tincan.conf \
	/usr/share/man/man8/tincand.8.gz /usr/share/man/man5/tincan.conf.5.gz \
	/usr/share/doc/tincan/copyright; do
	[ -e "$ROOT$f" ] || fail "$f is not installed"
done
# dh_compress gzips documentation over 4 KiB.
[ -e "$ROOT/usr/share/doc/tincan/README.md" ] || [ -e "$ROOT/usr/share/doc/tincan/README.md.gz" ] ||
	fail "/usr/share/doc/tincan/README.md(.gz) is not installed"
ok "installed: tincand, tincan.conf, html/, unit, sysusers.d, man pages, doc"
in_root dpkg-query -W -f='${Conffiles}\n' tincan | grep -q '^ /etc/tincan/tincan.conf ' &&
	ok "/etc/tincan/tincan.conf is a conffile" || fail "/etc/tincan/tincan.conf is not a conffile"
user=$(in_root getent passwd tincan)
case $user in
	tincan:x:[0-9]*:[0-9]*:*:/var/lib/tincan:/usr/sbin/nologin)
		[ "$(cut -d: -f3 <<<"$user")" -lt 1000 ] && ok "system user: $user" || fail "not a system user: $user" ;;
	*) fail "user tincan: '$user'" ;;
esac
# perms PATH WANT — owner:group mode as stat shows them in the root.
perms() {
	local got
	got=$(in_root stat -c '%U:%G %a' "$1")
	[ "$got" = "$2" ] && ok "$1 $got" || fail "$1 is $got, want $2"
}
perms /etc/tincan/tincan.conf "root:tincan 640"
perms /var/lib/tincan "tincan:tincan 750"
perms /var/lib/tincan/turn-secret "tincan:tincan 600"
perms /var/lib/tincan/token-secret "tincan:tincan 600"
for s in turn-secret token-secret; do
	[ "$(tr -d '\n' <"$ROOT/var/lib/tincan/$s" | wc -c)" -eq 44 ] || fail "$s is not 44 characters"
done
sha256sum "$ROOT"/var/lib/tincan/* >"$WORK/state.sha256"
[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/tincan.service" ] &&
	ok "tincan.service is enabled (multi-user.target.wants)" || fail "tincan.service is not enabled"
if systemd-analyze verify --man=no --root="$ROOT" tincan.service >"$WORK/verify.log" 2>&1 &&
	[ ! -s "$WORK/verify.log" ]; then
	ok "systemd-analyze verify tincan.service: no complaint"
else
	fail "systemd-analyze verify:"; cat "$WORK/verify.log"
fi
exposure=$(systemd-analyze security --offline=true --root="$ROOT" tincan.service 2>/dev/null |
	sed -n 's/.*Overall exposure level for tincan.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p')
if [ -n "$exposure" ] && awk -v e="${exposure% *}" 'BEGIN { exit !(e <= 2.0) }'; then
	ok "systemd-analyze security tincan.service: exposure $exposure"
else
	fail "systemd-analyze security: exposure '${exposure:-?}', want at most 2.0"
fi
for page in man8/tincand.8.gz man5/tincan.conf.5.gz; do
	warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z \
		"$ROOT/usr/share/man/$page" 2>&1 >/dev/null)
	[ -z "$warnings" ] && ok "man -l $page renders without warnings" || fail "man -l $page: $warnings"
done
out=$(as_tincan /usr/sbin/tincand --check-config 2>&1) &&
	ok "tincand --check-config on the shipped /etc/tincan/tincan.conf, as tincan: $(tail -n 1 <<<"$out")" ||
	echo "   (no default route outside the test's network namespace: $out)"

# 4. The service, configuration untouched.
echo "== service with the shipped configuration"
unshare --net "$SELF" --netns pristine || failed=1
# With no tls.certificate configured, tincand makes a self-signed pair in its state folder.
if [ -f "$ROOT/var/lib/tincan/selfsigned-cert.pem" ]; then
	perms /var/lib/tincan/selfsigned-key.pem "tincan:tincan 600"
	ok "tincand made its self-signed certificate: $(openssl x509 -in "$ROOT/var/lib/tincan/selfsigned-cert.pem" -noout -subject)"
else
	echo "   not yet: no self-signed certificate in /var/lib/tincan (tincand does not start TLS yet)"
fi
sha256sum "$ROOT"/var/lib/tincan/* >"$WORK/state.sha256"

# 5. An admin's edit, a reinstall, the relay.
echo "== admin edits /etc/tincan/tincan.conf, reinstall"
sed -i -e 's|^  listen = "0.0.0.0:3478";|  listen = "127.0.0.1:'$BASE'";\n  relay_address = "127.0.0.1";|' \
	-e 's|^  relay_port_min = 49152;|  relay_port_min = '$((BASE + 100))';|' \
	-e 's|^  relay_port_max = 65535;|  relay_port_max = '$((BASE + 599))';|' \
	-e 's|^  allow_peers = \[ \];|  allow_peers = [ "127.0.0.0/8" ];  # test peers on loopback|' \
	-e 's|^  listen = "127.0.0.1:8080";|  listen = "127.0.0.1:'$((BASE + 1))'";|' \
	"$ROOT/etc/tincan/tincan.conf"
cp "$ROOT/etc/tincan/tincan.conf" "$WORK/edited.conf"
in_root apt-get install -y -q --reinstall "/tmp/$(basename "$DEB")" >"$WORK/reinstall.log" 2>&1 ||
	fail "apt-get install --reinstall"
cmp -s "$WORK/edited.conf" "$ROOT/etc/tincan/tincan.conf" &&
	ok "reinstall keeps the admin's edits of the conffile" || fail "reinstall changed /etc/tincan/tincan.conf"
sha256sum -c --quiet "$WORK/state.sha256" && ok "reinstall keeps the state folder (secrets) unchanged" ||
	fail "reinstall changed /var/lib/tincan"
perms /etc/tincan/tincan.conf "root:tincan 640"

echo "== service with the edited configuration"
unshare --net "$SELF" --netns relay || failed=1

echo "== a broken configuration"
echo 'bogus = 1;' >>"$ROOT/etc/tincan/tincan.conf"
line=$(wc -l <"$ROOT/etc/tincan/tincan.conf")
# shellcheck disable=SC2046
out=$(as_tincan $(unit_cmd ExecStartPre) 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *"/etc/tincan/tincan.conf:$line: bogus: unknown option"* ]] &&
	ok "ExecStartPre refuses it: $out" || fail "broken config: status $rc, '$out'"
cp "$WORK/edited.conf" "$ROOT/etc/tincan/tincan.conf"

# 6. Remove keeps configuration and state; purge leaves nothing.
echo "== apt-get remove, apt-get purge"
in_root apt-get remove -y -q tincan >"$WORK/remove.log" 2>&1 || fail "apt-get remove"
[ ! -e "$ROOT/usr/sbin/tincand" ] && [ -f "$ROOT/etc/tincan/tincan.conf" ] &&
	sha256sum -c --quiet "$WORK/state.sha256" &&
	ok "remove: tincand gone, /etc/tincan/tincan.conf and /var/lib/tincan kept" ||
	fail "remove did not keep the configuration and the state"
in_root apt-get purge -y -q tincan >"$WORK/purge.log" 2>&1 || fail "apt-get purge"
snapshot >"$WORK/after.txt"
if diff "$WORK/before.txt" "$WORK/after.txt" >"$WORK/leftover.diff"; then
	ok "purge leaves no file behind ($(wc -l <"$WORK/before.txt") paths compared; the system user tincan stays, as Debian keeps system users)"
else
	fail "purge left files behind or removed others:"; cat "$WORK/leftover.diff"
fi

[ $failed -eq 0 ] && echo "install test passed" || echo "install test FAILED"
exit $failed
