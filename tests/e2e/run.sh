#!/bin/bash
# Browser end-to-end tests: starts tincand on the e2e ports (22000 TURN, 22001 HTTP; rooms of up
# to 4, so the landing page offers a capacity) and runs each scenario file against it, one after
# the other (each names its feature in every line it prints):
#
#   call.mjs        basic relayed call, full room, second tab, leave, password, audio-only
#   features.mjs    chat, 5 MB file (hash), recording, stats panel, screen share, device switch,
#                   quality
#   reconnect.mjs   network cut (both signaling and media) and restore: ICE restart + WS resume
#   selftest.mjs    the network self-test page's rows
#   screens.mjs     screenshots (landing, pre-join, in-call desktop and 375 px, self-test)
#   firefox.mjs     a call between Firefox (puppeteer-core, WebDriver BiDi) and Chromium
#
# Skips (77) where there is no Chromium, node or playwright-core, e.g. in a package build chroot.
# Artifacts (screenshots, failure dumps) go to $TOP_BUILDDIR/tests/e2e/artifacts/.
: "${TOP_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
. "$TOP_SRCDIR/tests/lib.sh"

chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ] || ! command -v node >/dev/null; then
	echo "SKIP: needs $chromium and node (tools/install-deps installs them)"
	exit 77
fi
stage=$(node_stage) || { echo "cannot install the npm test packages"; exit 1; }

conf=$(tincan_conf 22000)
sed -i 's/capacity = 2;/capacity = 4;/' "$conf"
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
passed=0 failed=0 failed_names=
for s in call features reconnect selftest screens firefox; do
	echo "=== $s"
	if node "$stage/e2e/$s.mjs" http://127.0.0.1:22001; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1)); failed_names="$failed_names $s"
	fi
done
[ "$failed" -eq 0 ] || echo "e2e: failed:$failed_names"
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
