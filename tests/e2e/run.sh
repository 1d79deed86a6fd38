#!/bin/bash
# Browser end-to-end test: starts tincand on the e2e ports (22000 TURN, 22001 HTTP) and runs
# tests/e2e/call.mjs against it (two headless Chromiums in a call through the TURN relay; see that
# file for what it checks). Skips (77) where there is no Chromium, node or playwright-core, e.g.
# in a package build chroot.
: "${TOP_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
. "$TOP_SRCDIR/tests/lib.sh"

chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ] || ! command -v node >/dev/null; then
	echo "SKIP: needs $chromium and node (tools/install-deps installs them)"
	exit 77
fi
stage=$(node_stage) || { echo "cannot install the npm test packages"; exit 1; }

conf=$(tincan_conf 22000)
log="$(dirname "$conf")/tincand.log"

# Keeps the test's exit status; a tincand that does not stop cleanly fails the test too.
finish() {
	local rc=$?
	stop_tincand || rc=1
	if [ "$rc" -ne 0 ]; then
		echo "--- last lines of $log ---"
		tail -n 60 "$log"
	else
		rm -rf "$(dirname "$conf")"
	fi
	exit "$rc"
}
trap finish EXIT

start_tincand "$conf" || exit 1
node "$stage/e2e/call.mjs" http://127.0.0.1:22001
