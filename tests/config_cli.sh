#!/bin/bash
# Pins: `tincand --check-config` exits 0 on the shipped dev config, and 1 with a "FILE:LINE: OPTION:
# REASON" message on a broken one; bad command lines exit 2; --version prints the version.
set -u
. "$TOP_SRCDIR/tests/lib.sh"
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; else echo "ok: $1"; fi; }

out=$("$TINCAND" --check-config --config "$TOP_SRCDIR/etc/tincan.dev.conf" 2>&1); rc=$?
check "dev config is valid" '[ $rc -eq 0 ] && [[ "$out" == *"configuration is valid"* ]]'

dir=$(mktemp -d)
printf 'turn = {\n  listen = "127.0.0.1:3478";\n  relay_port_max = 70000;\n};\n' >"$dir/bad.conf"
out=$("$TINCAND" -t -c "$dir/bad.conf" 2>&1); rc=$?
check "out-of-range option exits 1 with file:line" \
	'[ $rc -eq 1 ] && [[ "$out" == *"$dir/bad.conf:3: turn.relay_port_max: 70000 is out of range"* ]]'
echo "   $out"

printf 'turn = { listen = "127.0.0.1:3478"; };\nhtpp = { listen = "127.0.0.1:1"; };\n' >"$dir/typo.conf"
out=$("$TINCAND" --check-config --config "$dir/typo.conf" 2>&1); rc=$?
check "unknown key exits 1" '[ $rc -eq 1 ] && [[ "$out" == *"typo.conf:2: htpp: unknown option"* ]]'
echo "   $out"

out=$("$TINCAND" --check-config --config "$dir/missing.conf" 2>&1); rc=$?
check "missing file exits 1" '[ $rc -eq 1 ] && [[ "$out" == *"missing.conf: cannot read the file"* ]]'

"$TINCAND" --bogus >/dev/null 2>&1; rc=$?
check "unknown flag exits 2" '[ $rc -eq 2 ]'
out=$("$TINCAND" --version); rc=$?
check "--version" '[ $rc -eq 0 ] && [[ "$out" == "tincand "[0-9]* ]]'
rm -rf "$dir"
exit $fail
