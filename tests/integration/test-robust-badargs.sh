#!/bin/sh
# Issue 7, "Bad arguments": tests/integration/client-badargs calls every
# PKCS#11 function with NULL pointers, zero and huge lengths, invalid
# session, object and slot handles, unknown mechanisms and user types,
# operations in the wrong state, before C_Initialize and after C_Finalize,
# on SoftHSM2 directly and through the shim, each from a fresh copy of one
# token. The shim must give the same answer to every call (before
# C_Initialize and after C_Finalize it may answer
# CKR_CRYPTOKI_NOT_INITIALIZED itself, README "Trace"), with the trace off,
# in JSON Lines with Data = hex and none, and as text; it never crashes (the
# clients run to the end); the trace holds exactly the calls made between
# C_Initialize and C_Finalize (a second C_Initialize, answered by the shim,
# included), in order and with their return values, as
# whole records; no PIN in it.
. "$top_srcdir/tests/integration/lib.sh"
need "$SOFTHSM2_UTIL" "$SOFTHSM2_MODULE" python3
CLIENT="$top_builddir/tests/integration/client-badargs"

softhsm_init "$WORK/seed"

# run NAME MODULE [shim config lines...]: the client on a fresh token copy.
run() {
	name=$1 mod=$2
	shift 2
	dir="$WORK/$name"
	cp -a "$WORK/seed" "$dir"
	sed -i "s|$WORK/seed|$dir|" "$dir/softhsm2.conf"
	{
		printf '[backend]\nPKCS11Library = %s\n' "$SOFTHSM2_MODULE"
		for l in "$@"; do printf '%s\n' "$l"; done
	} >"$dir/p11shim.conf"
	chmod 600 "$dir/p11shim.conf"
	SOFTHSM2_CONF="$dir/softhsm2.conf" P11SHIM_CONF="$dir/p11shim.conf" TEST_PIN=$USER_PIN \
		"$CLIENT" "$mod" >"$dir/out" 2>"$dir/err" || { tail -5 "$dir/out" "$dir/err"; fail "$name: the client failed"; }
}

run direct "$SOFTHSM2_MODULE"
n=$(wc -l <"$WORK/direct/out")
[ "$n" -gt 400 ] || fail "only $n calls made directly"

# compare NAME: the shim's answers against the direct ones.
compare() {
	python3 - "$WORK/direct/out" "$WORK/$1/out" <<'PY' || fail "$1: the shim answered differently"
import sys
direct = open(sys.argv[1]).read().splitlines()
shim = open(sys.argv[2]).read().splitlines()
if len(direct) != len(shim):
    sys.exit("%d calls directly, %d through the shim" % (len(direct), len(shim)))
bad = 0
for d, s in zip(direct, shim):
    if d == s:
        continue
    phase = s.split(" ", 1)[0]
    # Uninitialised: the shim's entry points answer without the backend.
    if phase in ("pre", "post") and s.endswith(": CKR_CRYPTOKI_NOT_INITIALIZED"):
        print("# %s (SoftHSM2: %s)" % (s, d.rsplit(": ", 1)[1]))
        continue
    print("DIFFERENT: SoftHSM2 %s\n           shim     %s" % (d, s))
    bad += 1
sys.exit(1 if bad else 0)
PY
}

# trace_matches NAME FORMAT: the trace holds the client's calls of the
# initialised phases, in order, with their return values.
trace_matches() {
	python3 - "$WORK/$1/out" "$WORK/$1/trace" "$2" <<'PY' || fail "$1: the trace does not match the calls"
import json, re, sys
calls = []
for line in open(sys.argv[1]).read().splitlines():
    phase, fn, rest = line.split(" ", 2)
    if phase in ("setup", "init", "init2", "live", "fin"):
        calls.append((fn, rest.rsplit(": ", 1)[1].split(" ")[0]))
recs = []
text = open(sys.argv[2], "rb").read().decode("utf-8")
for i, line in enumerate(text.split("\n")[:-1], 1):
    if sys.argv[3] == "jsonl":
        r = json.loads(line)
        recs.append((r["fn"], r["rv"]))
    else:
        m = re.match(r"^\S+ \d+:\d+ #\d+ (C_\w+)\(.*\)(?: -> \{.*\})? = (CKR_\w+|0x[0-9a-f]+) \(\d+ us\)(?: notes: .*)?$", line)
        if not m:
            sys.exit("line %d is not a whole text record: %s" % (i, line[:200]))
        recs.append((m.group(1), m.group(2)))
if not text.endswith("\n"):
    sys.exit("the trace does not end with a whole record")
if recs != calls:
    for i, (a, b) in enumerate(zip(calls, recs)):
        if a != b:
            sys.exit("call %d: client %s, trace %s" % (i + 1, a, b))
    sys.exit("%d calls, %d records" % (len(calls), len(recs)))
print(len(recs))
PY
}

run off "$SHIM_MODULE"
compare off
[ ! -s "$WORK/off/err" ] || { cat "$WORK/off/err"; fail "stderr is not empty with the trace off"; }
ok "trace off: the shim's $n answers are SoftHSM2's"

run default "$SHIM_MODULE" '[trace]' "File = $WORK/default/trace"
compare default
records=$(trace_matches default jsonl)
ok "trace on (JSON Lines, Data = length): same answers, $records records, one per call, in order"

# Only the trace and the backend in the stack (no SkipReader patterns).
run bare "$SHIM_MODULE" '[readers]' 'SkipReader =' '[trace]' "File = $WORK/bare/trace"
compare bare
trace_matches bare jsonl >/dev/null
ok "trace and backend alone: same answers"

run hex "$SHIM_MODULE" '[trace]' "File = $WORK/hex/trace" 'Data = hex'
compare hex
records=$(trace_matches hex jsonl)
ok "JSON Lines, Data = hex: same answers, $records records"

run none "$SHIM_MODULE" '[trace]' "File = $WORK/none/trace" 'Data = none'
compare none
trace_matches none jsonl >/dev/null
ok "JSON Lines, Data = none: same answers"

run text "$SHIM_MODULE" '[trace]' "File = $WORK/text/trace" 'Format = text' 'Data = hex'
compare text
records=$(trace_matches text text)
ok "text, Data = hex: same answers, $records whole lines"

grep -q '"fn":"C_Login","args":{"hSession":[0-9]*,"userType":"CKU_USER","pPin":null}' "$WORK/hex/trace" ||
	fail "a NULL PIN is not traced as null"
grep -q '"fn":"C_CreateObject","args":{"hSession":[0-9]*,"pTemplate":null}' "$WORK/hex/trace" ||
	fail "a NULL template is not traced as null"
no_secrets "$WORK"/*/trace "$WORK"/*/err
ok "no PIN in any trace or stderr"
