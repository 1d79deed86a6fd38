#!/bin/sh
# A short run of every fuzz target in `make check`, so they keep building and the seeds stay clean.
# Long runs: tests/fuzz/run.sh SECONDS (see docs/testing.md).
set -eu
FUZZ_OUT="${TOP_BUILDDIR:-$(pwd)}/tests/fuzz-out" exec "$TOP_SRCDIR/tests/fuzz/run.sh" "${FUZZ_SMOKE_SECONDS:-20}"
