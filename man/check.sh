#!/bin/sh
# Pins: both manual pages render with groff's man macros without a single warning (what lintian's
# manpage-has-errors-from-man checks), and tincand(8) documents every command-line option that
# `tincand --help` lists. The config options are checked against tincan.conf(5) by
# tests/unit/test_core.c (test_config_docs_agree).
set -u
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${TINCAND:=./tincand}"
if ! command -v groff >/dev/null 2>&1; then
	echo "SKIP: groff is not installed (apt-get install groff-base)"
	exit 77
fi
fail=0
for page in "$TOP_SRCDIR/man/tincand.8" "$TOP_SRCDIR/man/tincan.conf.5"; do
	warnings=$(LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 "$page" 2>&1)
	if [ -n "$warnings" ]; then
		echo "FAIL: $page: groff warns:"; echo "$warnings"; fail=1
	else
		echo "ok: $page renders without warnings"
	fi
done
for opt in $("$TINCAND" --help | grep -o -- '--[a-z-]*' | sort -u); do
	roff=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
	if grep -q -- "$roff" "$TOP_SRCDIR/man/tincand.8"; then
		echo "ok: tincand(8) documents $opt"
	else
		echo "FAIL: tincand --help lists $opt, man/tincand.8 does not document it"; fail=1
	fi
done
exit $fail
