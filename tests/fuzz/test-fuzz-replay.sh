#!/bin/sh
# Issue 7, "Fuzzing": every fuzz target's seed corpus and every regression
# input (a crash a fuzzer once found) replayed with this build (sanitized
# with --enable-sanitizers), without libFuzzer. tests/fuzz/README.md.
set -eu
: "${top_srcdir:?run through make check}"
: "${top_builddir:?run through make check}"
rc=0
for t in config attrs skipreader traceread; do
	set -- "$top_srcdir/tests/fuzz/corpus/$t"
	[ -d "$top_srcdir/tests/fuzz/regressions/$t" ] && set -- "$@" "$top_srcdir/tests/fuzz/regressions/$t"
	if out=$("$top_builddir/tests/fuzz/replay-$t" "$@" 2>&1); then
		echo "ok - $out"
	else
		printf '%s\n' "$out" | tail -n 30
		echo "FAIL: replay-$t"
		rc=1
	fi
done
exit $rc
