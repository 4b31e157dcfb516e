#!/bin/sh
# Benchmark of `p11shim trace summary` (issue 8: at least 10 times faster than
# a plain Python json.loads loop over the same 1,000,000-record file, in at
# most 32 MiB). A benchmark, not a test: it prints figures and never fails on
# a number.
#
# Usage: bench/trace-summary.sh [RECORDS] [ROUNDS]
#   P11SHIM=path/to/p11shim GEN_TRACE=path/to/gen-trace PYTHON=python3
# Defaults: 1000000 records, best of 3 rounds, programs from the build tree
# (make check builds tests/cli/gen-trace). Wall and CPU time and peak RSS
# come from GNU time (/usr/bin/time); the trace file stays in the page cache
# between rounds, so both readers see the same warm input.

set -u

records=${1:-1000000}
rounds=${2:-3}
builddir=${top_builddir:-.}
P11SHIM=${P11SHIM:-$builddir/src/tool/p11shim}
GEN_TRACE=${GEN_TRACE:-$builddir/tests/cli/gen-trace}
PYTHON=${PYTHON:-python3}
TIME=${TIME:-/usr/bin/time}

for prog in "$P11SHIM" "$GEN_TRACE"; do
	test -x "$prog" || { echo "missing $prog: build it (make && make check)" >&2; exit 2; }
done
"$TIME" -f %e true 2>/dev/null || { echo "needs GNU time at $TIME (apt-get install time)" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/trace-bench.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

"$GEN_TRACE" -n "$records" -s 1 -c 250000 >"$tmp/trace.jsonl" || exit 2
"$GEN_TRACE" -n "$records" -s 1 -c 250000 -z >"$tmp/trace.jsonl.gz" || exit 2
# The plain loop, in its faster form here: text mode (binary lines make
# json.loads detect and decode the encoding of each one, about 15% slower).
cat >"$tmp/loop.py" <<'EOF'
import json, sys
n = 0
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        json.loads(line)
        n += 1
print(n)
EOF

# best NAME CMD...: runs CMD $rounds times; prints "wall cpu rss_kib" of the fastest round
best() {
	name=$1
	shift
	i=0
	: >"$tmp/$name.times"
	while test $i -lt "$rounds"; do
		"$TIME" -f '%e %U %S %M' -o "$tmp/$name.t" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" ||
			{ echo "$name failed:" >&2; cat "$tmp/$name.err" >&2; exit 2; }
		tail -1 "$tmp/$name.t" >>"$tmp/$name.times"
		i=$((i + 1))
	done
	sort -n "$tmp/$name.times" | head -1 | awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }'
}

# The warm-up read puts the file in the page cache for both.
cat "$tmp/trace.jsonl" >/dev/null

set -- $(best p11shim "$P11SHIM" trace summary "$tmp/trace.jsonl")
c_wall=$1 c_cpu=$2 c_rss=$3
set -- $(best p11shim_gz "$P11SHIM" trace summary "$tmp/trace.jsonl.gz")
z_wall=$1 z_cpu=$2 z_rss=$3
set -- $(best python "$PYTHON" "$tmp/loop.py" "$tmp/trace.jsonl")
p_wall=$1 p_cpu=$2 p_rss=$3

counted=$(awk '/^records/ { print $2 }' "$tmp/p11shim.out")
loaded=$(cat "$tmp/python.out")
size=$(wc -c <"$tmp/trace.jsonl")
gzsize=$(wc -c <"$tmp/trace.jsonl.gz")

echo "machine: $(uname -srm), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ //')"
echo "trace:   $records records (gen-trace -s 1), $((size / 1048576)) MiB; gzip $((gzsize / 1048576)) MiB; best of $rounds rounds"
awk -v cw="$c_wall" -v cc="$c_cpu" -v cr="$c_rss" -v zw="$z_wall" -v zc="$z_cpu" -v zr="$z_rss" \
    -v pw="$p_wall" -v pc="$p_cpu" -v pr="$p_rss" -v n1="$counted" -v n2="$loaded" 'BEGIN {
	printf "p11shim trace summary FILE:     %6.2f s wall %6.2f s CPU %7.1f MiB peak RSS  (%s records)\n", cw, cc, cr / 1024, n1
	printf "p11shim trace summary FILE.gz:  %6.2f s wall %6.2f s CPU %7.1f MiB peak RSS\n", zw, zc, zr / 1024
	printf "python3 json.loads loop:        %6.2f s wall %6.2f s CPU %7.1f MiB peak RSS  (%s records)\n", pw, pc, pr / 1024, n2
	if (cw > 0)
		printf "ratio python / p11shim:         %6.1fx wall, %.1fx CPU  (target: >= 10x, <= 32 MiB)\n", pw / cw, (cc > 0 ? pc / cc : 0)
}'
