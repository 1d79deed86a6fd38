#!/usr/bin/env bash
# API tests: starts two tincand instances and runs tests/api/*.test.mjs with node's test runner
# (docs/api.md is what they check).
#
#   main    (base 21000): capacity 2, idle_timeout 10 s, known TURN and token secrets
#   limits  (base 21050): max_rooms 3, for the 503 test (a low room limit would make the
#           parallel tests of the main instance flaky); external_address ::1, for the
#           bracketed IPv6 host in ICE server URLs
#   call    (base 17000): capacity 4 (rooms of 2..4), reconnect_grace 2 s, selftest_rate 3,
#           for tests/api/call.test.mjs (room capacity, names, resume, self-test credentials)
#
# The main instance has reconnect_grace 1 s so that sockets the server cuts turn into peer-left
# quickly.
# No test here allocates a relay, but each instance binds a few relay ports at start (spare
# relay sockets): tests/lib.sh keeps other tests' ports out of BASE+100..BASE+599.
set -u
. "$TOP_SRCDIR/tests/lib.sh"

if ! command -v node >/dev/null; then
	echo "SKIP: node is not installed"; exit 77
fi
# The test files run from a copy beside node_modules (see node_stage in tests/lib.sh).
stage=$(node_stage) || { echo "cannot stage the node tests (npm ci failed?)"; exit 99; }

TURN_SECRET="api-test-turn-secret-0123456789"
TOKEN_SECRET="api-test-token-secret-0123456789"

main_conf=$(tincan_conf 21000 "secret = \"$TURN_SECRET\";" \
	"idle_timeout = 10; reconnect_grace = 1; token_secret = \"$TOKEN_SECRET\";") || exit 99
limits_conf=$(tincan_conf 21050 'external_address = "::1";' "max_rooms = 3;") || exit 99
call_conf=$(tincan_conf 17000 "secret = \"$TURN_SECRET\";" \
	"reconnect_grace = 2; token_secret = \"$TOKEN_SECRET\";") || exit 99
sed -i -e 's/capacity = 2;/capacity = 4;/' \
	-e 's|^  html_dir = .*|&\n  selftest_rate = 3;|' "$call_conf"

start_tincand "$limits_conf" || exit 99
LIMITS_PID=$TINCAND_PID
start_tincand "$call_conf" || { TINCAND_PID=$LIMITS_PID; stop_tincand; exit 99; }
CALL_PID=$TINCAND_PID
start_tincand "$main_conf" || {
	TINCAND_PID=$LIMITS_PID; stop_tincand; TINCAND_PID=$CALL_PID; stop_tincand; exit 99; }
MAIN_PID=$TINCAND_PID

export TINCAN_URL=http://127.0.0.1:21001
export TINCAN_LIMITS_URL=http://127.0.0.1:21051
export TINCAN_CALL_URL=http://127.0.0.1:17001
export TINCAN_TURN_SECRET=$TURN_SECRET TINCAN_TOKEN_SECRET=$TOKEN_SECRET
export TINCAN_TURN_HOST=127.0.0.1 TINCAN_TURN_PORT=21000
export TINCAN_CAPACITY=2 TINCAN_IDLE_TIMEOUT=10 TINCAN_MAX_ROOMS=3

node --test "$stage/api/"
rc=$?

TINCAND_PID=$MAIN_PID
stop_tincand || { rc=1; cat "$(dirname "$main_conf")/tincand.log"; }
TINCAND_PID=$LIMITS_PID
stop_tincand || { rc=1; cat "$(dirname "$limits_conf")/tincand.log"; }
TINCAND_PID=$CALL_PID
stop_tincand || { rc=1; cat "$(dirname "$call_conf")/tincand.log"; }
if [ "$rc" -ne 0 ]; then
	echo "--- tincand log (main) ---"; tail -n 50 "$(dirname "$main_conf")/tincand.log"
fi
rm -rf "$(dirname "$main_conf")" "$(dirname "$limits_conf")" "$(dirname "$call_conf")"
exit "$rc"
