#!/bin/sh
# Issue 7, "Faults". The backend is tests/integration/crashmod (no state,
# fast, and it crashes on request); the client is client-stress's loop
# (thousands of calls, a pause in the middle for the test to act).
# - The trace's disk fills up (a small tmpfs when root may mount one, else a
#   file size limit with SIGXFSZ ignored), then has room again; the trace is
#   /dev/full; the trace file is removed; it is removed and its folder made
#   read-only. Each time: every call succeeds, none takes long (nothing
#   blocks on the trace), the loss is one line on stderr at most once, what
#   the file holds is whole records, and records come back when there is
#   room again.
# - A backend that crashes inside C_Sign (SIGSEGV), C_Digest (SIGABRT) or
#   C_InitToken: the trace shows the call with "crash", in both formats.
# - Number-range state files through the shim's C_InitToken: corrupt,
#   truncated, foreign, or with a lock left by a killed process; a process
#   that dies inside C_InitToken after its number was taken: clear errors,
#   the state left alone, the card untouched, and no number ever handed out
#   twice.
. "$top_srcdir/tests/integration/lib.sh"
need python3
STRESS=$top_builddir/tests/integration/client-stress
SECRETS_CLIENT=$top_builddir/tests/integration/client-secrets
CRASHMOD=$top_builddir/tests/integration/.libs/crashmod.so
CHECK="python3 $top_srcdir/tests/integration/trace-check.py"
ROUNDS=${ROBUST_LOOP_ROUNDS:-1500}

field() {
	printf '%s\n' "$2" | sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" | head -n 1
}

# run_paused NAME CONF ACTION: the loop client through the shim; ACTION (a
# shell command) runs when the client is half way. Output in $WORK/NAME.out
# and $WORK/NAME.err.
run_paused() {
	name=$1 conf=$2 action=$3
	rm -f "$WORK/go"
	mkfifo "$WORK/go"
	P11SHIM_CONF=$conf "$STRESS" "$SHIM_MODULE" loop $ROUNDS wait <"$WORK/go" >"$WORK/$name.out" \
		2>"$WORK/$name.err" &
	cpid=$!
	exec 3>"$WORK/go"
	n=0
	until grep -q '^half' "$WORK/$name.out" 2>/dev/null; do
		n=$((n + 1))
		[ $n -lt 600 ] || { exec 3>&-; cat "$WORK/$name.err"; fail "$name: the client did not get half way"; }
		sleep 0.05
	done
	eval "$action"
	echo go >&3
	exec 3>&-
	wait "$cpid" || { cat "$WORK/$name.out" "$WORK/$name.err"; fail "$name: the client failed"; }
}

# calls_went_on NAME: no failed call, no call that blocked.
calls_went_on() {
	out=$(tail -n 1 "$WORK/$1.out")
	[ "$(field failures "$out")" = 0 ] || fail "$1: failed calls: $out"
	[ "$(field calls "$out")" -ge $((ROUNDS * 7)) ] || fail "$1: too few calls: $out"
	# A second is generous under valgrind and sanitizers; a blocked write would be forever.
	[ "$(field max_us "$out")" -lt 2000000 ] || fail "$1: a call took $(field max_us "$out") us"
}

# noted_once NAME PATTERN: exactly one stderr line, matching PATTERN.
noted_once() {
	lines=$(grep -c 'p11shim' "$WORK/$1.err" || true)
	[ "$lines" = 1 ] || { cat "$WORK/$1.err"; fail "$1: $lines lines on stderr, expected the loss noted once"; }
	grep -q -E -- "$2" "$WORK/$1.err" || { cat "$WORK/$1.err"; fail "$1: stderr does not say: $2"; }
}

# ---- disk full, then room again ----
FULL=$WORK/full
mkdir -p "$FULL"
# disk_full SIZE FILLER HOW: the trace on a tmpfs of SIZE KiB, FILLER KiB
# taken; half way the file system grows: room again for the rest.
disk_full() {
	mount -t tmpfs -o "size=${1}k,mode=0755" p11shim-test "$FULL" || fail "cannot mount a tmpfs"
	head -c "${2}k" /dev/zero >"$FULL/filler" 2>/dev/null || true
	shim_conf "$WORK/full.conf" "$CRASHMOD" "$FULL/trace.jsonl" "MaxSize = 0"
	run_paused full "$WORK/full.conf" 'mount -o remount,size=64m "$FULL"'
	calls_went_on full
	noted_once full "^p11shim: trace: .*$FULL/trace.jsonl.*No space left on device"
	summary=$($CHECK --allow-torn=1 "$FULL/trace.jsonl") || fail "disk full, $3: broken records: $summary"
	records=$(printf '%s\n' "$summary" | sed -n 's/^records //p')
	torn=$(printf '%s\n' "$summary" | sed -n 's/^torn //p')
	[ "$records" -lt "$(field calls "$(tail -n 1 "$WORK/full.out")")" ] || fail "disk full, $3: no record was lost?"
	# Room again: the second half's records are there, up to the last call.
	tail -c 4096 "$FULL/trace.jsonl" | tr -d '\0' | tail -n 1 | grep -q '"fn":"C_Finalize"' ||
		fail "disk full, $3: the last call is not the last record once there was room again"
	ok "trace disk full ($3), then room again: $(field calls "$(tail -n 1 "$WORK/full.out")") calls went on, loss noted once, $records whole records (${torn:-no} record cut where the disk filled), the last call traced"
	umount "$FULL"
}
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=64k p11shim-test "$FULL" 2>/dev/null && umount "$FULL"; then
	# Unmounted on any exit; on a failure its files are kept beside it first.
	trap 'st=$?; set +e; [ $st -eq 0 ] || cp -a "$FULL" "$WORK/full-kept"; umount "$FULL" 2>/dev/null; (exit $st); cleanup' EXIT
	# 96 KiB left for the records once FILE.tail (1028 KiB) and FILE.inflight
	# (36) are made: records staged, then written a buffer at a time.
	disk_full 2048 888 "96 KiB left beside FILE.tail: records staged"
	# No room for FILE.tail: one write(2) per record.
	disk_full 256 160 "a 256 KiB tmpfs, no room for FILE.tail: one write per record"
	trap cleanup EXIT
else
	how="a 96 KiB file size limit"
	shim_conf "$WORK/full.conf" "$CRASHMOD" "$FULL/trace.jsonl" "MaxSize = 0"
	(
		trap '' XFSZ
		ulimit -f 96
		P11SHIM_CONF=$WORK/full.conf "$STRESS" "$SHIM_MODULE" loop $ROUNDS >"$WORK/full.out" 2>"$WORK/full.err"
	) || { cat "$WORK/full.err"; fail "file size limit: the client failed"; }
	calls_went_on full
	noted_once full "^p11shim: trace: .*$FULL/trace.jsonl.*File too large"
	$CHECK --allow-torn=1 "$FULL/trace.jsonl" >/dev/null || fail "file size limit: broken records"
	ok "trace disk full ($how, not root): calls went on, loss noted once, whole records"
fi

# /dev/full: every write fails.
shim_conf "$WORK/devfull.conf" "$CRASHMOD" /dev/full
P11SHIM_CONF=$WORK/devfull.conf "$STRESS" "$SHIM_MODULE" loop 300 >"$WORK/devfull.out" 2>"$WORK/devfull.err" ||
	{ cat "$WORK/devfull.err"; fail "/dev/full: the client failed"; }
out=$(cat "$WORK/devfull.out")
[ "$(field failures "$out")" = 0 ] || fail "/dev/full: $out"
noted_once devfull "^p11shim: trace: .*/dev/full"
ok "trace to /dev/full: calls went on, noted once: $(cat "$WORK/devfull.err")"

# ---- the trace file removed mid-run: a new one is made ----
shim_conf "$WORK/removed.conf" "$CRASHMOD" "$WORK/removed.jsonl" "MaxSize = 0"
run_paused removed "$WORK/removed.conf" 'rm -f "$WORK/removed.jsonl"'
calls_went_on removed
[ -s "$WORK/removed.jsonl" ] || fail "removed: no new trace file"
summary=$($CHECK "$WORK/removed.jsonl") || fail "removed: broken records in the new file: $summary"
grep -q '"fn":"C_Finalize"' "$WORK/removed.jsonl" || fail "removed: the last call is not in the new file"
lines=$(grep -c p11shim "$WORK/removed.err" || true)
[ "$lines" -le 1 ] || { cat "$WORK/removed.err"; fail "removed: $lines lines on stderr"; }
ok "trace file removed mid-run: calls went on, a new file holds the rest ($(printf '%s\n' "$summary" | sed -n 's/^records //p') whole records)"

# ---- removed, and its folder made read-only: no new file can be made ----
# As root this needs a client run as nobody, which must reach the build tree.
if [ "$(id -u)" = 0 ] && ! nobody_can_read "$SHIM_MODULE" "$STRESS" "$CRASHMOD"; then
	echo "# read-only trace folder not tested: the build tree is not readable by nobody" \
		"(a folder above it is private)"
else
RO=$WORK/ro
mkdir -p "$RO"
if [ "$(id -u)" = 0 ]; then
	# Root writes anyway: the client runs as nobody, in a folder nobody owns.
	need setpriv
	chmod 755 "$WORK"
	chown 65534 "$RO"
	AS="setpriv --reuid=65534 --regid=65534 --clear-groups"
else
	AS=
fi
shim_conf "$WORK/ro.conf" "$CRASHMOD" "$RO/trace.jsonl" "MaxSize = 0"
chmod 644 "$WORK/ro.conf"
rm -f "$WORK/go"
mkfifo "$WORK/go"
chmod 666 "$WORK/go"
P11SHIM_CONF=$WORK/ro.conf $AS "$STRESS" "$SHIM_MODULE" loop $ROUNDS wait <"$WORK/go" >"$WORK/ro.out" 2>"$WORK/ro.err" &
cpid=$!
exec 3>"$WORK/go"
n=0
until grep -q '^half' "$WORK/ro.out" 2>/dev/null; do
	n=$((n + 1))
	[ $n -lt 600 ] || { exec 3>&-; cat "$WORK/ro.err"; fail "read-only: the client did not get half way"; }
	sleep 0.05
done
rm -f "$RO/trace.jsonl" "$RO/trace.jsonl.tail"
chmod 555 "$RO"
echo go >&3
exec 3>&-
wait "$cpid" || { cat "$WORK/ro.err"; fail "read-only: the client failed"; }
chmod 755 "$RO"
calls_went_on ro
[ ! -e "$RO/trace.jsonl" ] || fail "read-only: a trace file appeared in a read-only folder"
noted_once ro "^p11shim: trace: .*$RO/trace.jsonl"
ok "trace file removed and its folder made read-only: calls went on, noted once: $(grep p11shim "$WORK/ro.err")"
fi

# ---- a backend that crashes mid-call ----
for fmt in jsonl text; do
	for step in crash abort; do
		t=$WORK/crash-$step.$fmt
		shim_conf "$WORK/crash.conf" "$CRASHMOD" "$t" "Format = $fmt"
		printf 'PIN=1234\nNEWPIN=5678\nSOPIN=8765\nKEY=0123456789abcdef\nWRAPKEY=0123456789abcdef\nPLAIN=0123456789abcdef0123456789abcdef\nCANARY=x\n' \
			>"$WORK/s.txt"
		rc=0
		(ulimit -c 0; P11SHIM_CONF=$WORK/crash.conf "$SECRETS_CLIENT" "$SHIM_MODULE" "$WORK/s.txt" init user $step) \
			>"$WORK/crash.out" 2>&1 || rc=$?
		[ $rc -ne 0 ] || fail "crashmod did not crash in $step"
		flag=
		[ "$fmt" = text ] && flag=--text
		summary=$($CHECK $flag "$t") || fail "crash: broken trace: $summary"
		want="crash C_Sign SIGSEGV"
		[ $step = abort ] && want="crash C_Digest SIGABRT"
		printf '%s\n' "$summary" | grep -qx "$want" || { cat "$t"; fail "the $fmt trace does not show $want"; }
		# Every call before it is there too.
		printf '%s\n' "$summary" | grep -qx 'fn C_Login 1' || fail "$fmt: the calls before the crash are missing"
	done
done
ok "a backend crashing in C_Sign (SIGSEGV) and C_Digest (SIGABRT): the call is in the trace with its signal, in both formats"

# ---- number-range state files through C_InitToken ----
RACE=$top_builddir/tests/integration/numrange-race
STATE=$WORK/range.state
shim_conf "$WORK/serial.conf" "$CRASHMOD" "$WORK/serial.jsonl" "[serial]" "InitToken = true" \
	"NumberRange = 000100-000199" "NumberRangeState = $STATE"
export P11SHIM_CONF="$WORK/serial.conf"
inittoken() { # inittoken LABEL: the rv of C_InitToken through the shim
	P11CALL_PIN=87654321 p11call_shim init , inittoken 1 "$1" , fin 2>"$WORK/serial.err" | sed -n 's/^inittoken: //p'
}
last() { sed -n 's/^last //p' "$STATE"; }

[ "$(inittoken card1)" = CKR_OK ] || fail "a first C_InitToken"
[ "$(last)" = 000100 ] || fail "state after the first: $(cat "$STATE")"
grep -q 'serial: card serial 000100 written' "$WORK/serial.jsonl" || fail "000100 not noted"

# A process that dies inside the backend's C_InitToken after its number was taken.
rc=0
(ulimit -c 0; P11CALL_PIN=87654321 p11call_shim init , inittoken 1 crashcard , fin) >/dev/null 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "crashmod did not crash in C_InitToken"
[ "$(last)" = 000101 ] || fail "the crashed process's number is not recorded: $(cat "$STATE")"
grep -q '"fn":"C_InitToken".*"crash":"SIGSEGV"' "$WORK/serial.jsonl" || fail "the crash in C_InitToken is not traced"
[ "$(inittoken card2)" = CKR_OK ] || fail "C_InitToken after the crash"
grep -q 'serial: card serial 000102 written' "$WORK/serial.jsonl" || fail "after the crash: not 000102 (reused 000101?)"
ok "a process killed inside C_InitToken: its number 000101 stays a gap, the next card gets 000102"

# refused LABEL PATTERN: C_InitToken refused, stderr names the problem, state unchanged.
refused() {
	cp "$STATE" "$WORK/state.before"
	rv=$(inittoken "$1")
	[ "$rv" = CKR_GENERAL_ERROR ] || { cat "$WORK/serial.err"; fail "$1: C_InitToken gave $rv"; }
	grep -q -E -- "$2" "$WORK/serial.err" || { cat "$WORK/serial.err"; fail "$1: stderr does not say: $2"; }
	cmp -s "$STATE" "$WORK/state.before" || fail "$1: the state file was changed"
	! grep -q "\"fn\":\"C_InitToken\".*\"pLabel\":\"$1 *\".*serial: card serial" "$WORK/serial.jsonl" ||
		fail "$1: a serial was applied"
	ok "$1: $(grep p11shim "$WORK/serial.err")"
}
good=$(cat "$STATE")
printf 'p11shim-numrange 1\nrange 000100-000199\nlast 0001' >"$STATE"
refused truncated "serial: C_InitToken refused, nothing written: $STATE: the number-range state is truncated"
printf 'p11shim-numrange 1\nrange 000100-000199\nlast 00010x\n' >"$STATE"
refused corrupt "serial: C_InitToken refused, nothing written: $STATE: "
printf 'hello, this is not a state file\n' >"$STATE"
refused foreign "serial: C_InitToken refused, nothing written: $STATE: not a p11shim number-range state file"
head -c 64 /dev/urandom >"$STATE"
refused binary "serial: C_InitToken refused, nothing written: $STATE: "
: >"$STATE"
refused empty "serial: C_InitToken refused, nothing written: $STATE: the number-range state is empty"
printf 'p11shim-numrange 1\nrange 000100-000199\nlast 000250\n' >"$STATE"
refused beyond "serial: C_InitToken refused, nothing written: $STATE: "

# A lock left by a killed process: the next C_InitToken goes through at once.
printf '%s\n' "$good" >"$STATE"
"$RACE" hold "$STATE.lock" >"$WORK/hold.out" &
hpid=$!
n=0
until grep -q '^held' "$WORK/hold.out" 2>/dev/null; do
	n=$((n + 1))
	[ $n -lt 100 ] || fail "the lock holder did not start"
	sleep 0.1
done
kill -9 "$hpid"
wait "$hpid" 2>/dev/null || true
[ "$(inittoken card3)" = CKR_OK ] || { cat "$WORK/serial.err"; fail "C_InitToken after the lock holder was killed"; }
grep -q 'serial: card serial 000103 written' "$WORK/serial.jsonl" || fail "after the killed lock holder: not 000103"
ok "the lock of a killed process: C_InitToken goes through at once with 000103"
# Every number noted in the trace once.
dups=$(grep -o 'serial: card serial [0-9]* written' "$WORK/serial.jsonl" | sort | uniq -d)
[ -z "$dups" ] || fail "a number handed out twice: $dups"
