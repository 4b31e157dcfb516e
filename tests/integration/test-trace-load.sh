#!/bin/sh
# Issue 8: the trace under load, through the shim on SoftHSM2. The trace
# copies records into a shared mapping of its file (src/trace/sink_posix.c), so
# this checks what that must keep: exactly one whole, valid record per call
# and none lost or doubled, with
# - one process, 16 threads;
# - 4 processes of 4 threads starting together on one file, in JSON Lines
#   and in text;
# - the same with a MaxSize that makes exactly one rotation on the way;
# and afterwards no NUL padding left, no FILE.tail, mode 0600.
. "$top_srcdir/tests/integration/lib.sh"
need "$SOFTHSM2_UTIL" "$SOFTHSM2_MODULE" python3
LOAD=$top_builddir/tests/integration/client-trace-load
ROUNDS=${TRACE_LOAD_ROUNDS:-300}

softhsm_init "$WORK"
export SOFTHSM2_CONF="$WORK/softhsm2.conf"

# check FORMAT CALLS FILE...: the files hold CALLS whole records in FORMAT,
# each process's seq running 1..n without gap or repeat; prints the bytes.
check() {
	python3 - "$@" <<'PY'
import json, re, sys
fmt, calls, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
text_re = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (\d+):(\d+) #(\d+) C_[A-Za-z]+\(.*\)'
                     r'( -> \{.*\})? = CKR_[A-Z_]+ \(\d+ us\)( notes: .*)?$')
seqs, n, size = {}, 0, 0
for path in files:
    data = open(path, 'rb').read()
    size += len(data)
    if b'\0' in data:
        sys.exit('%s: NUL padding left after the last process' % path)
    if data and not data.endswith(b'\n'):
        sys.exit('%s: the last record is cut' % path)
    for i, line in enumerate(data.decode('utf-8').split('\n')[:-1], 1):
        if fmt == 'jsonl':
            try:
                r = json.loads(line)
            except ValueError as e:
                sys.exit('%s:%d: not JSON (%s): %.120s' % (path, i, e, line))
            if list(r)[:5] != ['ts', 'pid', 'tid', 'seq', 'fn'] or r.get('rv') != 'CKR_OK':
                sys.exit('%s:%d: not a whole record of a good call: %.120s' % (path, i, line))
            pid, seq = r['pid'], r['seq']
        else:
            m = text_re.match(line)
            if not m or ' = CKR_OK ' not in line:
                sys.exit('%s:%d: not a whole text record of a good call: %.120s' % (path, i, line))
            pid, seq = int(m.group(1)), int(m.group(3))
        seqs.setdefault(pid, []).append(seq)
        n += 1
for pid, s in seqs.items():
    if sorted(s) != list(range(1, len(s) + 1)):
        sys.exit('process %d: seq not 1..%d exactly once' % (pid, len(s)))
if n != calls:
    sys.exit('%d calls but %d records' % (calls, n))
print(size)
PY
}

# after FILE: nothing left of the sink's work but the records.
after() {
	[ ! -e "$1.tail" ] || fail "$1.tail left behind"
	[ "$(stat -c %a "$1")" = 600 ] || fail "$1 is not mode 0600"
}

# run_procs N THREADS: N processes of THREADS threads, released together
# once all are initialised; prints the sum of their calls.
run_procs() {
	nproc=$1 nthr=$2
	rm -f "$WORK/go" "$WORK"/out.*
	i=1
	while [ $i -le "$nproc" ]; do
		"$LOAD" "$SHIM_MODULE" "$nthr" "$ROUNDS" "$WORK/go" >"$WORK/out.$i" 2>&1 &
		eval "pid_$i=\$!"
		i=$((i + 1))
	done
	n=0
	while [ "$(cat "$WORK"/out.* 2>/dev/null | grep -c '^ready')" -lt "$nproc" ]; do
		n=$((n + 1))
		[ $n -lt 600 ] || fail "the load clients did not start: $(cat "$WORK"/out.*)"
		sleep 0.05
	done
	touch "$WORK/go"
	total=0
	i=1
	while [ $i -le "$nproc" ]; do
		eval "wait \$pid_$i" || fail "load client $i failed: $(cat "$WORK/out.$i")"
		c=$(sed -n 's/^calls=\([0-9]*\) .*/\1/p' "$WORK/out.$i")
		total=$((total + c))
		i=$((i + 1))
	done
	echo "$total"
}

# ---- one process, 16 threads ----
shim_conf "$WORK/one.conf" "$SOFTHSM2_MODULE" "$WORK/one.jsonl" "Data = length"
out=$(P11SHIM_CONF=$WORK/one.conf "$LOAD" "$SHIM_MODULE" 16 "$ROUNDS") || fail "16 threads: $out"
calls=${out#calls=}
calls=${calls%% *}
bytes=$(check jsonl "$calls" "$WORK/one.jsonl") || fail "16 threads: $bytes"
after "$WORK/one.jsonl"
ok "1 process, 16 threads: $calls calls, $calls whole records, none lost or doubled"

# ---- 4 processes of 4 threads, one file, each format ----
for fmt in jsonl text; do
	trace=$WORK/shared.$fmt
	shim_conf "$WORK/$fmt.conf" "$SOFTHSM2_MODULE" "$trace" "Format = $fmt"
	export P11SHIM_CONF=$WORK/$fmt.conf
	calls=$(run_procs 4 4)
	case $calls in '' | *[!0-9]*) fail "4 processes, $fmt: $calls" ;; esac
	res=$(check "$fmt" "$calls" "$trace") || fail "4 processes, $fmt: $res"
	after "$trace"
	ok "4 processes x 4 threads, one $fmt file: $calls calls, $calls whole records"
done

# ---- the same with one rotation on the way ----
# About the size the JSON run wrote: rotating at 60% of it happens once.
size=$(stat -c %s "$WORK/shared.jsonl")
max=$((size * 6 / 10))
trace=$WORK/rot.jsonl
shim_conf "$WORK/rot.conf" "$SOFTHSM2_MODULE" "$trace" "MaxSize = $max"
export P11SHIM_CONF=$WORK/rot.conf
calls=$(run_procs 4 4)
case $calls in '' | *[!0-9]*) fail "rotation: $calls" ;; esac
[ -e "$trace.1" ] || fail "rotation: no $trace.1 at MaxSize = $max"
res=$(check jsonl "$calls" "$trace.1" "$trace") || fail "4 processes with a rotation: $res"
after "$trace"
[ "$(stat -c %a "$trace.1")" = 600 ] || fail "$trace.1 is not mode 0600"
ok "4 processes x 4 threads rotating at $max bytes: $calls calls, $calls whole records in FILE.1 and FILE"
