#!/usr/bin/env bash
# Live reload (SIGHUP): starts a tincand of its own (base 18000) and runs tests/api/reload.mjs,
# which rewrites that tincand's configuration file, sends it SIGHUP and checks that allocations
# and WebSocket sessions stay while the new values apply (see the file for what it pins).
set -u
. "$TOP_SRCDIR/tests/lib.sh"

if ! command -v node >/dev/null; then
	echo "SKIP: node is not installed"; exit 77
fi
stage=$(node_stage) || { echo "cannot stage the node tests (npm ci failed?)"; exit 99; }

conf=$(tincan_conf 18000 "" "token_secret = \"reload-test-token-secret-0123\";") || exit 99
dir=$(dirname "$conf")
start_tincand "$conf" || exit 99

export TINCAN_URL=http://127.0.0.1:18001
export TINCAN_TURN_HOST=127.0.0.1 TINCAN_TURN_PORT=18000
export TINCAN_RELOAD_CONF=$conf TINCAN_RELOAD_LOG=$dir/tincand.log TINCAN_RELOAD_PID=$TINCAND_PID

node --test "$stage/api/reload.mjs"
rc=$?

stop_tincand || rc=1
if [ "$rc" -ne 0 ]; then
	echo "--- tincand log ---"; tail -n 60 "$dir/tincand.log"
fi
rm -rf "$dir"
exit "$rc"
