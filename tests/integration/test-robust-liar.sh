#!/bin/sh
# A backend that lies (tests/integration/liarmod, forwarding to SoftHSM2),
# one lie at a time, through the shim, in every Data setting and both
# formats, with the readers layer in the stack and without a trace:
#   C_GetSlotList: a count of 100000, and a count 3 over the client's list;
#   C_GetMechanismList: a count of 100000, and 5 over the list;
#   C_GetAttributeValue: every ulValueLen 48 bytes over its buffer;
#   C_Sign, C_Encrypt, C_Digest: the length 4096 bytes over the buffer;
#   C_Finalize: fails, and leaves the module initialised.
# tests/integration/client-liar allocates every output buffer to its exact
# size with a canary right after the ones that receive values. The shim
# must not crash (under `scripts/check asan` it runs under ASan, which sees
# any read or write past those buffers), must pass the return values on,
# must note each lie in the trace, and the canary must never reach the
# trace. After a failed C_Finalize the client initialises again.
. "$top_srcdir/tests/integration/lib.sh"
need "$SOFTHSM2_UTIL" "$SOFTHSM2_MODULE" python3
LIAR=$top_builddir/tests/integration/.libs/liarmod.so
CLIENT=$top_builddir/tests/integration/client-liar
CANARY=PIN-CANARY-93xQ
CANARY_HEX=$(printf '%s' "$CANARY" | od -An -tx1 | tr -d ' \n')

softhsm_init "$WORK/hsm"
export SOFTHSM2_CONF="$WORK/hsm/softhsm2.conf" P11LIAR_MODULE="$SOFTHSM2_MODULE"

# run NAME LIE [config lines...]: the client through the shim over the liar.
run() {
	name=$1 lie=$2
	shift 2
	if [ "${TRACE_OFF:-}" = 1 ]; then
		{ printf '[backend]\nPKCS11Library = %s\n' "$LIAR"; for l in "$@"; do printf '%s\n' "$l"; done; } \
			>"$WORK/$name.conf"
	else
		shim_conf "$WORK/$name.conf" "$LIAR" "$WORK/$name.trace" "$@"
	fi
	rc=0
	P11SHIM_CONF="$WORK/$name.conf" P11LIAR=$lie "$CLIENT" "$SHIM_MODULE" "$USER_PIN" \
		>"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
	[ $rc -eq 0 ] || { cat "$WORK/$name.out" "$WORK/$name.err"; fail "$name: client-liar exit $rc"; }
	if grep -q -a -i -e "$CANARY" -e "$CANARY_HEX" "$WORK/$name.trace" "$WORK/$name.err" 2>/dev/null; then
		grep -a -i -e "$CANARY" -e "$CANARY_HEX" "$WORK/$name.trace" | head -3
		fail "$name: the canary after the client's buffer is in the trace"
	fi
	grep -q 'ERROR: AddressSanitizer' "$WORK/$name.err" && { cat "$WORK/$name.err"; fail "$name: ASan"; }
	return 0
}
out() { grep -F -x -- "$2" "$WORK/$1.out" >/dev/null || { cat "$WORK/$1.out"; fail "$1: expected '$2'"; }; }
noted() { grep -q -F -- "$2" "$WORK/$1.trace" || { grep -F "$3" "$WORK/$1.trace" | head -3; fail "$1: no note '$2'"; }; }

for fmt in jsonl text; do
	for data in none length hex; do
		# No SkipReader at all: the readers layer is out of the stack.
		c="Format = $fmt"
		d="Data = $data
[readers]
SkipReader ="
		n=$fmt-$data
		run "$n-slots-huge" slots-huge "$c" "$d"
		out "$n-slots-huge" "C_GetSlotList(NULL): CKR_OK n=100000"
		out "$n-slots-huge" "C_GetSlotList: CKR_OK n=100000"
		noted "$n-slots-huge" "backend: C_GetSlotList answered pulCount = 100000 for a buffer of 256" C_GetSlotList
		run "$n-slots-over" slots-over "$c" "$d"
		noted "$n-slots-over" "backend: C_GetSlotList answered pulCount = 5 for a buffer of 2" C_GetSlotList
		out "$n-slots-over" "C_GetSlotList: CKR_OK n=5"
		run "$n-mechs-huge" mechs-huge "$c" "$d"
		out "$n-mechs-huge" "C_GetMechanismList: CKR_OK n=100000"
		noted "$n-mechs-huge" "backend: C_GetMechanismList answered pulCount = 100000 for a buffer of 256" C_GetMechanismList
		run "$n-mechs-over" mechs-over "$c" "$d"
		noted "$n-mechs-over" "backend: C_GetMechanismList answered pulCount = 75 for a buffer of 70" C_GetMechanismList
		out "$n-mechs-over" "C_GetMechanismList: CKR_OK n=75"
		run "$n-attr-len" attr-len "$c" "$d"
		# The length is passed on as the backend answered it (8 + 48).
		out "$n-attr-len" "C_GetAttributeValue: CKR_OK n=56"
		noted "$n-attr-len" "backend: 1 attribute value(s) of pTemplate longer than the client's buffer" C_GetAttributeValue
		run "$n-out-len" out-len "$c" "$d"
		out "$n-out-len" "C_Digest: CKR_OK n=4128"
		out "$n-out-len" "C_Sign: CKR_OK n=4128"
		out "$n-out-len" "C_Encrypt: CKR_OK n=4112"
		for f in C_Digest C_Sign C_Encrypt; do
			noted "$n-out-len" "backend: $f answered pul" "$f"
		done
		run "$n-finalize" finalize "$c" "$d"
		out "$n-finalize" "C_Finalize: CKR_FUNCTION_FAILED"
		out "$n-finalize" "C_Initialize (again): CKR_OK"
		noted "$n-finalize" "backend: C_Finalize failed; the shim is finalised all the same" C_Finalize
		noted "$n-finalize" "stayed initialised after its failed C_Finalize; used as it is" C_Initialize
		if [ "$fmt" = jsonl ]; then
			for t in "$WORK/$n"-*.trace; do json_lines "$t" >/dev/null || fail "$t is not JSON Lines"; done
		fi
	done
done
ok "every lie in both formats and every Data setting: no crash, no canary in the trace, each lie noted, rv passed on"

# The readers layer in the stack (the default SkipReader patterns): it reads
# the slot list itself, into its own list of 64, and answers what it read.
run readers-slots-huge slots-huge
noted readers-slots-huge "backend: C_GetSlotList answered 100000 slots for a list of 64 (the shim's); only 64 read" C_GetSlotList
out readers-slots-huge "C_GetSlotList(NULL): CKR_OK n=64"
out readers-slots-huge "C_Login: CKR_OK"
# 3 over: the length query goes through the layer's list of 64, so the
# count (2 + 3) is within what the lists hold and cannot be told from the
# truth; nothing is read past a list all the same.
run readers-slots-over slots-over
out readers-slots-over "C_Login: CKR_OK"
# And with the trace off: the policies alone.
for lie in slots-huge slots-over mechs-huge mechs-over attr-len out-len finalize; do
	TRACE_OFF=1 run "off-$lie" "$lie"
	[ ! -e "$WORK/off-$lie.trace" ] || fail "off-$lie: a trace was written"
done
out off-finalize "C_Initialize (again): CKR_OK"
ok "the readers layer reads no more than its lists hold; no trace: the same lies, no crash"
