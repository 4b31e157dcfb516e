#!/bin/sh
# Issue 4 ("Serial numbers") and issue 7 (number-range state files): the
# card-serial allocator never hands out a number twice, not to processes
# racing on one state file, not after a process is killed at any point (a
# gap is allowed), and a lock held by a killed process does not block.
# The processes are tests/integration/numrange-race; `p11shim serial` is
# checked too when the tool is built.
. "$top_srcdir/tests/integration/lib.sh"

RACE=$top_builddir/tests/integration/numrange-race
[ -x "$RACE" ] || fail "$RACE is not built"

# dups FILE: the lines that occur more than once (empty: none).
dups() {
	sort "$1" | uniq -d | head -5 | tr '\n' ' '
}

# 1. Racing processes, nobody killed: every number once, no gap.
PROCS=8 EACH=250
STATE=$WORK/race.state
pids=
i=0
while [ $i -lt $PROCS ]; do
	"$RACE" alloc 000001-999999 "$STATE" $EACH >"$WORK/race.$i" 2>"$WORK/race.$i.err" &
	pids="$pids $!"
	i=$((i + 1))
done
for p in $pids; do
	wait "$p" || fail "a racing process failed: $(cat "$WORK"/race.*.err)"
done
cat "$WORK"/race.[0-9]* | sort >"$WORK/race.all"
total=$((PROCS * EACH))
[ "$(wc -l <"$WORK/race.all")" -eq $total ] || fail "expected $total numbers"
d=$(dups "$WORK/race.all")
[ -z "$d" ] || fail "handed out twice by racing processes: $d"
awk -v n=$total 'BEGIN { for (i = 1; i <= n; i++) printf "%06d\n", i }' >"$WORK/race.want"
cmp -s "$WORK/race.want" "$WORK/race.all" || fail "racing processes left gaps or foreign numbers"
grep -qx "last $(printf '%06d' $total)" "$STATE" || fail "state does not record $total: $(cat "$STATE")"
[ "$(stat -c %a "$STATE")" = 600 ] || fail "state file mode $(stat -c %a "$STATE"), not 600"
ok "$PROCS processes x $EACH numbers on one state file: $total distinct, no gap"

# 2. Processes killed at random points (50 rounds, 0-8 ms into a tight
# loop), then the parent goes on: no number printed twice; gaps allowed.
KSTATE=$WORK/kill.state
AFTER=100
: >"$WORK/kill.out"
"$RACE" kill 000001-999999 "$KSTATE" 50 8 $AFTER >>"$WORK/kill.out" 2>"$WORK/kill.err" ||
	fail "kill rounds: $(cat "$WORK/kill.err")"
lines=$(wc -l <"$WORK/kill.out")
children=$((lines - AFTER))
[ $children -gt 0 ] || fail "the killed children handed out nothing: the test proves nothing"
d=$(dups "$WORK/kill.out")
[ -z "$d" ] || fail "handed out twice around kills: $d"
# The parent's numbers come last and lie above every child's.
max_child=$(head -n $children "$WORK/kill.out" | sort -n | tail -n 1)
min_parent=$(tail -n $AFTER "$WORK/kill.out" | sort -n | head -n 1)
# (test's -gt reads "000123" as decimal; $((...)) would take it for octal.)
[ "$min_parent" -gt "$max_child" ] ||
	fail "after the kills the parent got $min_parent, not above $max_child"
last=$(sed -n 's/^last 0*\([0-9]\)/\1/p' "$KSTATE")
gaps=$((last - lines))
[ $gaps -ge 0 ] || fail "the state's last $last is below the $lines numbers printed"
ok "50 children killed at random points: $lines numbers printed, none twice, $gaps gaps"

# 3. An untrustworthy state is an error and is left alone.
head -c 30 "$KSTATE" >"$WORK/trunc.state"
cp "$WORK/trunc.state" "$WORK/trunc.before"
if "$RACE" alloc 000001-999999 "$WORK/trunc.state" 1 >"$WORK/trunc.out" 2>"$WORK/trunc.err"; then
	fail "a number from a truncated state: $(cat "$WORK/trunc.out")"
fi
grep -q "trunc.state: the number-range state is truncated" "$WORK/trunc.err" ||
	fail "no clear error for a truncated state: $(cat "$WORK/trunc.err")"
cmp -s "$WORK/trunc.state" "$WORK/trunc.before" || fail "the truncated state was changed"
: >"$WORK/empty.state"
if "$RACE" alloc 000001-999999 "$WORK/empty.state" 1 >/dev/null 2>"$WORK/empty.err"; then
	fail "a number from an empty state (the range restarted)"
fi
grep -q "is empty" "$WORK/empty.err" || fail "no clear error for an empty state"
ok "truncated and empty state files: a clear error, nothing handed out, file unchanged"

# 4. A lock held by a live process: a timeout naming it. Killed: the next
# allocation goes through at once (the kernel drops a dead process's lock).
LSTATE=$WORK/lock.state
"$RACE" hold "$LSTATE.lock" >"$WORK/hold.out" &
hpid=$!
n=0
until grep -q '^held' "$WORK/hold.out" 2>/dev/null; do
	n=$((n + 1))
	[ $n -lt 100 ] || fail "the lock holder did not start"
	sleep 0.1
done
if NUMRANGE_RACE_TIMEOUT_MS=300 "$RACE" alloc 1-100 "$LSTATE" 1 >"$WORK/lock.out" 2>"$WORK/lock.err"; then
	fail "a number while another process held the lock"
fi
grep -q "process $hpid has held the number-range lock for more than 300 ms; look for that process" \
	"$WORK/lock.err" || fail "the timeout does not name the holder: $(cat "$WORK/lock.err")"
[ ! -e "$LSTATE" ] || fail "the state was written while another process held the lock"
kill -9 "$hpid"
wait "$hpid" 2>/dev/null || true
NUMRANGE_RACE_TIMEOUT_MS=0 "$RACE" alloc 1-100 "$LSTATE" 1 >"$WORK/lock.out" 2>"$WORK/lock.err" ||
	fail "the lock of a killed process still blocks: $(cat "$WORK/lock.err")"
[ "$(cat "$WORK/lock.out")" = 1 ] || fail "expected 1 after the holder died, got $(cat "$WORK/lock.out")"
ok "lock held by a live process: timeout naming pid $hpid; after SIGKILL: no wait"

# 5. `p11shim serial`, sharing the state with the library.
TOOL=${P11SHIM_TOOL:-$top_builddir/p11shim}
if [ -x "$TOOL" ] && "$TOOL" serial --help >/dev/null 2>&1; then
	CSTATE=$WORK/cli.state
	printf '[serial]\nNumberRange = 000100-000102\nNumberRangeState = %s\n' "$CSTATE" \
		>"$WORK/p11shim.conf"
	chmod 600 "$WORK/p11shim.conf"
	export P11SHIM_CONF="$WORK/p11shim.conf"
	out=$("$TOOL" serial status) || fail "serial status: $out"
	echo "$out" | grep -q '^last  *none handed out yet' || fail "status before any: $out"
	[ "$("$TOOL" serial next)" = 000100 ] || fail "serial next from the configuration"
	[ "$("$RACE" alloc 000100-000102 "$CSTATE" 1)" = 000101 ] || fail "library after the CLI"
	out=$("$TOOL" serial status --json) || fail "serial status --json"
	echo "$out" | grep -q '"last":"000101".*"remaining":1,' || fail "status --json: $out"
	[ "$("$TOOL" serial next --range 000100-000102 --state "$CSTATE")" = 000102 ] ||
		fail "serial next --range --state"
	rc=0
	"$TOOL" serial next >"$WORK/cli.out" 2>"$WORK/cli.err" || rc=$?
	[ $rc -eq 1 ] || fail "an exhausted range exits $rc, not 1"
	grep -q 'number range 000100-000102 is exhausted (last handed out: 000102); widen \[serial\] NumberRange' \
		"$WORK/cli.err" || fail "exhausted: $(cat "$WORK/cli.err")"
	[ ! -s "$WORK/cli.out" ] || fail "an exhausted range printed a number"
	rc=0
	"$TOOL" serial next --range 5-x >/dev/null 2>&1 || rc=$?
	[ $rc -eq 2 ] || fail "a bad --range exits $rc, not 2"
	printf '[serial]\nNumberRange = 7-9x\nNumberRangeState = %s\n' "$CSTATE" >"$WORK/p11shim.conf"
	rc=0
	"$TOOL" serial next 2>"$WORK/cli.err" || rc=$?
	[ $rc -eq 1 ] || fail "a bad NumberRange exits $rc, not 1"
	# Refused when the configuration loads, as C_Initialize refuses it.
	grep -q -F "$WORK/p11shim.conf:2: [serial] NumberRange = 7-9x: " "$WORK/cli.err" ||
		fail "a bad NumberRange is not named with its file: $(cat "$WORK/cli.err")"
	ok "p11shim serial next/status share the state with the library"
else
	echo "# $TOOL has no 'serial' command: CLI part not run"
fi
