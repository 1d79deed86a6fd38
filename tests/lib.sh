# Shared helpers for script tests. Source it: . "$TOP_SRCDIR/tests/lib.sh"
#
# Each test uses its own port base so tests can run in parallel (make -j):
#   BASE+0 TURN UDP, BASE+1 HTTP; relay ports BASE+100 .. BASE+599.
# A tincand binds some relay ports as soon as it starts (spare relay sockets, one per 32 ports),
# so no base's own ports may lie in another base's relay range.
# Port bases in use: 21000, 21050 and 17000 api, 18000 reload, 20000 interop, 22000 e2e, 23000 mux
# (BASE+2 the shared port; a second tincand at 23050), 24000 lifecycle, 25000 unit (test_turn
# 25000, test_turn_hairpin 25300, test_turn_stream 25500, test_turn_reload 25700, fuzz_turn relays
# 25800, fuzz_stream relays 25900), 26000 install, 19000 bench/smoke.sh, 27000-32767 bench
# (bench/compare by hand). tests/netns and the install test use no loopback port of the host:
# their tincand listens inside a network namespace of its own.

: "${TINCAND:=$(pwd)/tincand}"
TINCAND_WRAPPER=(env)
: "${TOP_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"

# tincan_conf BASE [TURN_EXTRA] [ROOMS_EXTRA] — writes a loopback config and prints its path.
# TURN_EXTRA and ROOMS_EXTRA are libconfig settings added to the turn and rooms groups; an
# external_address in TURN_EXTRA replaces the default one.
tincan_conf() {
	local base=$1 extra=${2:-} rooms_extra=${3:-} dir external='external_address = "127.0.0.1";'
	[[ "$extra" == *external_address* ]] && external=
	dir=$(mktemp -d "${TMPDIR:-/tmp}/tincan-test.XXXXXX")
	cat >"$dir/tincan.conf" <<CONF
log_level = "debug";
turn = {
  listen = "127.0.0.1:$base";
  relay_address = "127.0.0.1";
  relay_port_min = $((base + 100));
  relay_port_max = $((base + 599));
  $external
  realm = "tincan.test";
  users = ( { name = "demo"; password = "demo"; } );
  allow_peers = [ "127.0.0.0/8", "::1/128" ];
  $extra
};
http = {
  listen = "127.0.0.1:$((base + 1))";
  html_dir = "$TOP_SRCDIR/html";
};
rooms = {
  capacity = 2;
  $rooms_extra
};
CONF
	echo "$dir/tincan.conf"
}

# start_tincand CONF — starts tincand in the background (log in CONF's folder/tincand.log), waits
# until its HTTP health check answers, and sets TINCAND_PID. Fails the test if it does not start.
# TINCAND_WRAPPER (an array, e.g. a valgrind command line) runs tincand under another program;
# TINCAND_START_SECONDS (default 10) bounds the wait.
start_tincand() {
	local conf=$1 log port i
	log="$(dirname "$conf")/tincand.log"
	"${TINCAND_WRAPPER[@]}" "$TINCAND" --config "$conf" >"$log" 2>&1 &
	TINCAND_PID=$!
	port=$(sed -n 's/.*listen = "127.0.0.1:\([0-9]*\)".*/\1/p' "$conf" | tail -n 1)
	for i in $(seq 1 $((${TINCAND_START_SECONDS:-10} * 10))); do
		if curl -fsS "http://127.0.0.1:$port/api/health" >/dev/null 2>&1; then return 0; fi
		if ! kill -0 "$TINCAND_PID" 2>/dev/null; then
			echo "tincand exited during start:"; cat "$log"; return 1
		fi
		sleep 0.1
	done
	echo "tincand did not answer /api/health in ${TINCAND_START_SECONDS:-10} s:"; cat "$log"; return 1
}

# stop_tincand — SIGTERM, and fail if it does not exit cleanly within 10 s.
stop_tincand() {
	local i rc
	[ -n "${TINCAND_PID:-}" ] || return 0
	kill -TERM "$TINCAND_PID" 2>/dev/null || true
	for i in $(seq 1 100); do
		kill -0 "$TINCAND_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$TINCAND_PID" 2>/dev/null; then
		echo "tincand did not exit 10 s after SIGTERM"; kill -KILL "$TINCAND_PID"; TINCAND_PID=; return 1
	fi
	wait "$TINCAND_PID"; rc=$?
	TINCAND_PID=
	[ "$rc" -eq 0 ] || { echo "tincand exited with status $rc"; return 1; }
}

# wait_bound udp|tcp PORT [NETNS] — waits until a socket (of network namespace NETNS, if given)
# is bound to PORT, listening for tcp: for a helper started in the background (an echo peer, a
# port blocker) before the test talks to it. A fixed sleep is a race on a loaded machine. Fails
# with what ss saw after 10 s.
wait_bound() {
	local proto=$1 port=$2 ns=() i
	[ -n "${3:-}" ] && ns=(ip netns exec "$3")
	for i in $(seq 1 200); do
		[ -n "$("${ns[@]}" ss -Hnl "--$proto" "sport = :$port" 2>/dev/null)" ] && return 0
		sleep 0.05
	done
	echo "nothing bound $proto port $port${3:+ in $3} within 10 s"
	return 1
}

# node_stage — prints a folder in the build tree holding a copy of tests/{api,e2e} next to a
# node_modules with tests/package.json's packages. Node resolves ES module imports from the
# importing file's location, so test files must sit beside node_modules; copying them keeps the
# source tree read-only (make distcheck). Uses the source tree's node_modules if tools/install-deps
# made it, otherwise runs `npm ci` in the stage.
node_stage() {
	local stage="${TOP_BUILDDIR:-$(pwd)}/tests/node-stage"
	mkdir -p "$stage"
	cp -R "$TOP_SRCDIR/tests/api" "$TOP_SRCDIR/tests/e2e" "$stage/" 2>/dev/null
	cp "$TOP_SRCDIR/tests/package.json" "$TOP_SRCDIR/tests/package-lock.json" "$stage/"
	chmod -R u+w "$stage"
	if [ -d "$TOP_SRCDIR/tests/node_modules" ]; then
		ln -sfn "$TOP_SRCDIR/tests/node_modules" "$stage/node_modules"
	elif [ ! -d "$stage/node_modules" ]; then
		(cd "$stage" && npm ci --no-audit --no-fund --loglevel=error) >&2 || return 1
	fi
	echo "$stage"
}
