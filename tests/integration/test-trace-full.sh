#!/bin/sh
# A trace on a full file system: the client lives on. The trace maps its
# files, and a store into a mapped page the file system cannot back kills
# the process with SIGBUS; so every mapped byte is reserved first, and
# without room the trace says once on stderr that it cannot write and the
# calls go on. Two cases on a small tmpfs of our own: full when the trace
# is opened, and filled while the client runs.
#
# A tmpfs needs a mount: in a private mount namespace (unshare -m, as root),
# so that nothing outside this test sees it. Elsewhere the test is skipped:
# that is the machine, not a missing tool.
if [ -z "${P11SHIM_TEST_NS:-}" ]; then
	if unshare -m true 2>/dev/null; then
		P11SHIM_TEST_NS=1 exec unshare -m bash "$0" "$@"
	fi
	echo "SKIP: mounting a tmpfs needs a private mount namespace (unshare -m, as root)"
	exit 77
fi
. "$top_srcdir/tests/integration/lib.sh"
need "$SOFTHSM2_UTIL" "$SOFTHSM2_MODULE"
P11CALL="$top_builddir/tests/integration/p11call"

softhsm_init "$WORK"
export SOFTHSM2_CONF="$WORK/softhsm2.conf"
mkdir "$WORK/small"
shim_conf "$WORK/p11shim.conf" "$SOFTHSM2_MODULE" "$WORK/small/trace.jsonl"
export P11SHIM_CONF="$WORK/p11shim.conf"

# expect_survived NAME: the client ran to its end, every call CKR_OK, and
# stderr holds one line about the trace: it cannot be written, calls go on.
expect_survived() {
	name=$1
	[ "$rc" = 0 ] || { cat "$WORK/err"; fail "$name: the client exited with $rc (135 is SIGBUS)"; }
	grep -q '^init: CKR_OK' "$WORK/out" || fail "$name: C_Initialize failed: $(head -n 1 "$WORK/out")"
	grep -q '^fin: CKR_OK' "$WORK/out" || fail "$name: the client did not get to C_Finalize"
	! grep -v ': CKR_OK' "$WORK/out" | grep -q . || fail "$name: a call failed: $(grep -v ': CKR_OK' "$WORK/out")"
	# One line for the trace; the in-flight table beside it (FILE.inflight)
	# may say on a line of its own that it could not be made either.
	[ "$(grep -vc '\.inflight: .*calls in flight will not be named' "$WORK/err")" = 1 ] ||
		{ cat "$WORK/err"; fail "$name: not one line on stderr about the trace"; }
	grep -q "^p11shim: trace: cannot write $WORK/small/trace.jsonl: No space left on device; calls go on" "$WORK/err" ||
		{ cat "$WORK/err"; fail "$name: stderr does not say that the trace cannot be written"; }
}

# 1. Full before the trace is opened (FILE.tail was mapped unbacked).
mount -t tmpfs -o size=64k,mode=0700 tmpfs "$WORK/small"
dd if=/dev/zero of="$WORK/small/fill" bs=4k 2>/dev/null || true
rc=0
"$P11CALL" "$SHIM_MODULE" init , slots , slots present , fin >"$WORK/out" 2>"$WORK/err" || rc=$?
expect_survived "full at open"
[ ! -e "$WORK/small/trace.jsonl.tail" ] || fail "full at open: FILE.tail left behind"
ok "full when the trace is opened: C_Initialize succeeds, the calls go on, $(cat "$WORK/err")"
umount "$WORK/small"

# 2. Room at first, then full while the client runs: it traces the first
# calls, waits while the file system fills, then makes enough calls to
# need more room than is left.
mount -t tmpfs -o size=1200k,mode=0700 tmpfs "$WORK/small"
# shellcheck disable=SC2046 # ", slots" 6000 times, split into words
set -- init , slots , wait $(yes ', slots' | head -n 6000)
rc=0
{
	sleep 1
	dd if=/dev/zero of="$WORK/small/fill" bs=4k 2>/dev/null || true
	echo go
} | "$P11CALL" "$SHIM_MODULE" "$@" , fin >"$WORK/out" 2>"$WORK/err" || rc=$?
expect_survived "filled while running"
grep -q '"fn":"C_Initialize"' "$WORK/small/trace.jsonl" || fail "filled while running: the first records are lost"
ok "filled while the client runs: the calls go on, the records written before are kept"
umount "$WORK/small"
