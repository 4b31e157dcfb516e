#!/bin/sh
# Builds the fuzz targets with clang's libFuzzer and runs each for a bounded
# time (tests/fuzz/README.md). scripts/check fuzz calls it.
#
#   run-fuzz.sh SRCDIR BUILDDIR SECONDS [TARGET...]
#
# BUILDDIR gets a clang build of the shim's core with coverage and
# ASan+UBSan, the fuzzers, and per target: work/TARGET (new inputs found in
# this run, never written into the tree) and crashes/TARGET (what a failed
# run left). Two targets run at a time. Exit 1 when a target found a crash,
# a leak, a timeout or ran out of memory: the input is in crashes/TARGET;
# once the bug is fixed, copy it to tests/fuzz/regressions/TARGET/, where
# `make check` replays it from then on.
set -eu
SRC=$(cd "$1" && pwd)
B=$2
SECS=$3
shift 3
TARGETS=${*:-config attrs skipreader traceread}
FLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -Wno-unknown-warning-option"

mkdir -p "$B"
cd "$B"
if [ ! -f Makefile ] || [ "$SRC/configure" -nt Makefile ]; then
	# The core only; no -Werror: clang's warnings differ from gcc's.
	"$SRC/configure" -q CC=clang CFLAGS="$FLAGS -fsanitize=fuzzer-no-link" --disable-werror --disable-unit
fi
make -s libp11shim-core.la >build.log 2>&1 || { cat build.log; exit 1; }

for t in $TARGETS; do
	extra= libs=
	case $t in
	attrs) extra="$SRC/tests/unit/json-check.c -I$SRC/tests/unit" ;;
	traceread) extra="$SRC/src/tool/json.c $SRC/src/tool/trace_read.c -I$SRC/src/tool" libs="-lz" ;;
	esac
	# shellcheck disable=SC2086
	clang $FLAGS -fsanitize=fuzzer -I"$B" -I"$SRC/include" -I"$SRC/tests/fuzz" $(pkg-config --cflags p11-kit-1) \
		"$SRC/tests/fuzz/fuzz_$t.c" "$SRC/tests/fuzz/fuzz_util.c" $extra \
		.libs/libp11shim-core.a $(pkg-config --libs libpcre2-8 libcrypto) $libs -ldl -lpthread -o "fuzz-$t"
done

run_one() {
	t=$1
	case $t in
	config) max=8192 ;;
	attrs) max=4096 ;;
	skipreader) max=2048 ;;
	*) max=16384 ;;
	esac
	rm -rf "work/$t" "crashes/$t"
	mkdir -p "work/$t" "crashes/$t"
	set -- "work/$t" "$SRC/tests/fuzz/corpus/$t"
	[ -d "$SRC/tests/fuzz/regressions/$t" ] && set -- "$@" "$SRC/tests/fuzz/regressions/$t"
	if "./fuzz-$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=$max \
		-artifact_prefix="crashes/$t/" -print_final_stats=1 "$@" >"$t.log" 2>&1; then
		echo "ok - $t: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$t.log" | grep -o '[0-9]*$') runs in ${SECS} s, $(ls "work/$t" | wc -l) new inputs, $(grep -o 'cov: [0-9]* ft: [0-9]*' "$t.log" | tail -n 1)"
	else
		echo "FAIL: $t: the fuzzer found a problem; the input is in $B/crashes/$t:"
		ls "crashes/$t"
		grep -E -A30 '^==[0-9]+==ERROR|runtime error|fuzz target oracle|deadly signal|timeout|out-of-memory' "$t.log" | head -n 60
		echo "(full log: $B/$t.log; after the fix: cp $B/crashes/$t/* $SRC/tests/fuzz/regressions/$t/)"
		return 1
	fi
}

rc=0
set -- $TARGETS
while [ $# -gt 0 ]; do
	a=$1
	shift
	run_one "$a" >"$a.result" 2>&1 &
	pa=$!
	pb=
	if [ $# -gt 0 ]; then
		b=$1
		shift
		run_one "$b" >"$b.result" 2>&1 &
		pb=$!
	fi
	wait "$pa" || rc=1
	cat "$a.result"
	if [ -n "$pb" ]; then
		wait "$pb" || rc=1
		cat "$b.result"
	fi
done
exit $rc
