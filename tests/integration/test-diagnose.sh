#!/bin/sh
# Issue 5: every `p11shim trace diagnose` finding from a trace recorded
# THROUGH THE SHIM (not written by hand), with the Personal simulator or
# SoftHSM2 as backend, and the fix each names (file, section, key):
#   pin-encryption   certificate refused (Enforce = refuse), warned (warn),
#                    and a C_InitToken failing with a general error
#   card-profile     C_InitToken failing on one card after another card
#                    initialised fine
#   client-64-bit / backend-path   a backend of the other word size; a wrong path
#   caching          Personal.cfg caching on (Enforce = warn)
#   virtual-reader   the simulator's virtual card with SkipReader cleared
#                    (CKR_GENERAL_ERROR); hidden by the shim (information)
#   so-credential    SO login with the PUK on an operator-PIN card
#   puk-change       PUK change on Personal 5.7.1
#   card-eraser-*    refused (Erase = never), with the shim's eraser layer and
#                    without; missing (no Card Eraser found)
# and, where nothing matches, the first failing call with the calls before it.
# The simulator does not model card profiles; the C_InitToken failures are
# made by damaging its card state file between two calls (the card then
# answers CKR_GENERAL_ERROR), which is how a card refusing an
# initialisation looks in a trace.
. "$top_srcdir/tests/integration/lib.sh"
need "$SOFTHSM2_UTIL" "$SOFTHSM2_MODULE" openssl python3
: "${P11SHIM_TOOL:?run through make check}"
: "${SIM_CLIENT:=$top_builddir/tests/personal-sim/sim-client}"
export P11SHIM_CONF="$WORK/p11shim.conf"

# diag TRACE: diagnose as JSON ($WORK/g.json) and text ($WORK/g.txt); status in DRC.
diag() {
	set +e
	"$P11SHIM_TOOL" trace diagnose --json "$1" >"$WORK/g.json" 2>"$WORK/g.err"
	DRC=$?
	"$P11SHIM_TOOL" trace diagnose "$1" >"$WORK/g.txt" 2>>"$WORK/g.err"
	rc2=$?
	set -e
	[ "$DRC" = "$rc2" ] || fail "diagnose: --json exits $DRC, text $rc2"
	[ -s "$WORK/g.err" ] && { cat "$WORK/g.err"; fail "diagnose wrote to stderr"; }
	json_lines "$1" >/dev/null || fail "$1 is not a trace"
	no_secrets "$1" "$WORK/g.json" "$WORK/g.txt"
}
# finding ID SEVERITY [SECTION KEY [VALUE]]: the diagnosis has finding ID with
# that severity, and a fix naming [SECTION] KEY ("-": none) with VALUE in its value.
finding() {
	python3 - "$WORK/g.json" "$@" <<'PY' || { cat "$WORK/g.txt"; fail "diagnose: no finding $*"; }
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
want = sys.argv[2:]
for f in doc["findings"]:
    if f["id"] != want[0] or f["severity"] != want[1]:
        continue
    assert f["evidence"]["records"] >= 1 and f["evidence"]["lines"], f
    if len(want) == 2:
        sys.exit(0)
    for x in f["fix"]:
        sec = x["section"] or "-"
        key = x["key"] or "-"
        if sec == want[2] and key == want[3] and (len(want) < 5 or want[4] in x["value"]):
            sys.exit(0)
print("findings:", [(f["id"], f["severity"], f["fix"]) for f in doc["findings"]])
sys.exit(1)
PY
}
# text LINE: the text diagnosis holds LINE (a fixed string, a whole line).
text() { grep -qxF -- "$1" "$WORK/g.txt" || { cat "$WORK/g.txt"; fail "diagnose text: no line '$1'"; }; }
rc_is() { [ "$DRC" = "$1" ] || { cat "$WORK/g.txt"; fail "diagnose exit $DRC, expected $1 ($2)"; }; }

# ---- PIN-encryption certificate ----
sim_setup basic.ini
printf 'garbage\n' >"$SIM_DIR/garbage.pem"
printf '[PIN Encryption]\nFile = %s\n' "$SIM_DIR/garbage.pem" >"$SIM_DIR/iD2ppa.cfg"
T="$WORK/pin-refuse.jsonl"
sim_conf "$P11SHIM_CONF" "$T"
expect "$(p11call_shim init 2>/dev/null)" "init: CKR_GENERAL_ERROR"
grep -q '"fn":"C_Initialize".*"rv":"CKR_GENERAL_ERROR".*"notes":\[.*"middleware: refused: PIN-encryption certificate: ' "$T" ||
	fail "the refused C_Initialize is not traced with its note"
diag "$T"
rc_is 1 "PIN-encryption certificate refused"
finding pin-encryption error "PIN Encryption" File "X.509 certificate"
text "    fix: C:\\Program Files (x86)\\Personal\\config\\iD2ppa.cfg"
text "         [PIN Encryption] File = the path of a readable X.509 certificate"
grep -q "^    note: middleware: refused: PIN-encryption certificate: .*garbage.pem is not an X.509 certificate" \
	"$WORK/g.txt" || fail "the note naming the certificate is not shown"
T="$WORK/pin-warn.jsonl"
sim_conf "$P11SHIM_CONF" "$T" "Enforce = warn"
out=$(p11call_shim init , slots , fin 2>/dev/null)
expect "$out" "init: CKR_OK"
diag "$T"
rc_is 1 "PIN-encryption certificate warned"
finding pin-encryption warning "PIN Encryption" File
T="$WORK/pin-off.jsonl"
sim_conf "$P11SHIM_CONF" "$T" "Enforce = off"
out=$(p11call_shim init , fin 2>/dev/null)
expect "$out" "init: CKR_OK"
diag "$T"
finding pin-encryption warning "PIN Encryption" File
ok "PIN-encryption certificate: refused C_Initialize (error), Enforce = warn and off (warning), each naming [PIN Encryption] File"

# A C_InitToken failing with a general error and no card initialised fine:
# the guide's first cause, the certificate (C_Initialize worked: not the JRE or the DLL).
printf '[PIN Encryption]\nFile = %s\n' "$SIM_DIR/pinenc.pem" >"$SIM_DIR/iD2ppa.cfg"
# break_state_between ARGS1 -- ARGS2: p11call ARGS1, the card state damaged, then ARGS2, in one process.
break_state_between() {
	a= n=1
	while [ "$1" != -- ]; do
		a="$a $1"
		[ "$1" = , ] && n=$((n + 1))
		shift
	done
	shift
	rm -f "$WORK/go"
	mkfifo "$WORK/go"
	# There before the client opens it (after the FIFO): the count below
	# must not read a missing file as "enough lines".
	: >"$WORK/seen"
	# shellcheck disable=SC2086
	P11CALL_PIN=$SIM_PUK p11call_shim $a , wait , "$@" , fin <"$WORK/go" >"$WORK/seen" 2>/dev/null &
	exec 3>"$WORK/go"
	# p11call prints one line per command, and nothing for `wait`.
	while [ "$(wc -l <"$WORK/seen")" -lt "$n" ]; do sleep 0.1; done
	printf 'not a card\n' >"$PERSONAL_SIM_STATE"
	echo go >&3
	exec 3>&-
	wait
}
T="$WORK/inittoken-pin.jsonl"
sim_conf "$P11SHIM_CONF" "$T"
break_state_between init , tokeninfo 1 -- inittoken 1 newlabel
grep -q "^inittoken: CKR_GENERAL_ERROR" "$WORK/seen" || { cat "$WORK/seen"; fail "the damaged card did not fail C_InitToken"; }
diag "$T"
rc_is 1 "C_InitToken failing, nothing initialised fine"
finding pin-encryption error "PIN Encryption" File
grep -q "C_Initialize worked, which rules out a 64-bit JRE or a wrong DLL path" "$WORK/g.json" ||
	fail "the C_InitToken pattern does not weigh the three causes"
ok "PIN-encryption certificate: C_InitToken failing with CKR_GENERAL_ERROR after a good C_Initialize"

# ---- card profile (CPF) ----
rm -f "$PERSONAL_SIM_STATE"
T="$WORK/cpf.jsonl"
sim_conf "$P11SHIM_CONF" "$T"
break_state_between init , tokeninfo 1 , tokeninfo 11 , inittoken 1 first -- inittoken 11 second
grep -q "^inittoken: CKR_OK" "$WORK/seen" || { cat "$WORK/seen"; fail "the first card was not initialised"; }
grep -q "^inittoken: CKR_GENERAL_ERROR" "$WORK/seen" || { cat "$WORK/seen"; fail "the second card did not fail"; }
diag "$T"
rc_is 1 "card profile mismatch"
finding card-profile error - - "card profile (CPF) made for this card type"
grep -qF 'C_InitToken worked on \"Cosmo 8.2\" cards and failed on \"Cosmo 7\" cards' "$WORK/g.json" ||
	{ cat "$WORK/g.txt"; fail "the CPF finding does not name both card models"; }
python3 - "$WORK/g.json" <<'PY' || fail "the certificate is blamed although a card was initialised"
import json, sys
assert "pin-encryption" not in [f["id"] for f in json.load(open(sys.argv[1]))["findings"]]
PY
rm -f "$PERSONAL_SIM_STATE"
ok "card profile: C_InitToken fine on a Cosmo 8.2, failing on a Cosmo 7: the CPF, not the certificate"

# ---- the other word size; a wrong path ----
python3 - "$SOFTHSM2_MODULE" "$WORK/other-arch.so" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read(64))
if b[4] == 2:
    b[4], b[18], b[19] = 1, 3, 0      # ELFCLASS32, EM_386
else:
    b[4], b[18], b[19] = 2, 62, 0     # ELFCLASS64, EM_X86_64
open(sys.argv[2], "wb").write(b)
PY
T="$WORK/arch.jsonl"
shim_conf "$P11SHIM_CONF" "$WORK/other-arch.so" "$T"
expect "$(p11call_shim init 2>/dev/null)" "init: CKR_GENERAL_ERROR"
grep -q '"fn":"C_Initialize".*"notes":\["backend: cannot load .*other-arch.so: wrong architecture: ELF' "$T" ||
	fail "the C_Initialize record does not carry the backend's note"
diag "$T"
rc_is 1 "backend of the other word size"
if [ "$(od -An -tx1 -j4 -N1 "$SOFTHSM2_MODULE" | tr -d ' ')" = 02 ]; then
	# A 64-bit shim (a 64-bit JRE's process) and a 32-bit module: the guide's "64 bit JRE".
	finding client-64-bit error - JAVA_HOME "32-bit JRE"
	finding client-64-bit error - PKCS11LibraryWindows32 "32-bit p11shim.dll"
	text "         JAVA_HOME = the root folder of a 32-bit JRE"
else
	finding backend-path error backend PKCS11LibraryWindows32 "personal.dll"
fi
T="$WORK/path.jsonl"
shim_conf "$P11SHIM_CONF" "$WORK/nonexistent/personal.so" "$T"
expect "$(p11call_shim init 2>/dev/null)" "init: CKR_GENERAL_ERROR"
diag "$T"
finding backend-path error backend PKCS11LibraryWindows32 "personal.dll"
text "         [backend] PKCS11LibraryWindows32 = C:/Program Files (x86)/Personal/bin/personal.dll"
ok "the other word size (64-bit client) and a wrong DLL path, from the C_Initialize record's backend note"

# ---- caching ----
T="$WORK/caching.jsonl"
sim_conf "$P11SHIM_CONF" "$T" "PersonalUserConfig = $SIM_DIR/Personal-cache.cfg" "Enforce = warn"
out=$(p11call_shim init , slots , tokeninfo 1 , fin 2>/dev/null)
expect "$out" "init: CKR_OK"
diag "$T"
rc_is 1 "caching on"
finding caching warning Cache CacheValidity 0
text "         [Cache] CacheValidity = 0"
grep -q "^    note: middleware: warning: card caching is on: $SIM_DIR/Personal-cache.cfg:4: \[Cache\] CacheValidity = 3600" \
	"$WORK/g.txt" || fail "the caching note naming the per-user file is not shown"
ok "caching on (Enforce = warn): warning, fix [Cache] CacheValidity = 0, the note names the file and line"

# ---- virtual reader ----
T="$WORK/virtual.jsonl"
sim_conf "$P11SHIM_CONF" "$T" "[readers]" "SkipReader =" "ReadPersonalSkipReader = false"
out=$(p11call_shim init , slotinfo 3 , tokeninfo 3 , fin 2>/dev/null)
expect "$out" "tokeninfo: CKR_GENERAL_ERROR"
diag "$T"
rc_is 1 "a virtual reader in use"
finding virtual-reader error readers SkipReader "Microsoft Virtual Smart Card .*"
finding virtual-reader error - SkipReader "Microsoft Virtual Smart Card .*"
text "         [readers] SkipReader = Microsoft Virtual Smart Card .*"
grep -qF "The failing slot's reader is \\\"Microsoft Virtual Smart Card 0\\\"" "$WORK/g.json" || fail "the reader is not named"
# With the default patterns the shim hides it: information, nothing to fix.
T="$WORK/hidden.jsonl"
sim_conf "$P11SHIM_CONF" "$T"
p11call_shim init , slots , fin >/dev/null 2>&1
diag "$T"
rc_is 0 "virtual readers hidden by the shim"
finding virtual-reader info
ok "virtual reader: CKR_GENERAL_ERROR with SkipReader cleared (error, the pattern to add); hidden by the shim (info, exit 0)"

# ---- SO login with the other credential ----
T="$WORK/so.jsonl"
sim_conf "$P11SHIM_CONF" "$T" "[login]" "OperatorPinIsSOCredential = false"
out=$(P11CALL_PIN=$SIM_PUK p11call_shim init , open 9 rw , login so , fin 2>/dev/null)
expect "$out" "login so: CKR_PIN_INCORRECT"
diag "$T"
rc_is 1 "SO login with the other credential"
finding so-credential error login OperatorPinIsSOCredential "true (now false"
text "         [login] OperatorPinIsSOCredential = true (now false: the card may take the operator PIN)"
ok "SO login with the PUK on an operator-PIN card (CardOS): fix [login] OperatorPinIsSOCredential = true"

# ---- PUK change on Personal 5.7.1 ----
rm -f "$PERSONAL_SIM_STATE"
sim_setup basic.ini 5.7.1
T="$WORK/puk.jsonl"
sim_conf "$P11SHIM_CONF" "$T"
out=$(P11CALL_PIN=$SIM_PUK P11CALL_OLD=$SIM_PUK P11CALL_NEW=13572468 p11call_shim init , open 1 rw , login so , setpin , fin 2>/dev/null)
expect "$out" "setpin: CKR_FUNCTION_NOT_SUPPORTED"
diag "$T"
rc_is 1 "unsupported PUK change"
finding puk-change error puk PukChange auto
grep -q "^    note: puk: PUK change refused before the card is touched: Personal 5.7.1" "$WORK/g.txt" ||
	fail "the PUK note is not shown"
ok "PUK change on Personal 5.7.1: refused by the shim, diagnosed with [puk] PukChange"

# ---- Card Eraser ----
rm -f "$PERSONAL_SIM_STATE"
sim_setup eraser.ini
# Slot 5: BurnFuse() without MakeCardEraseable(): the card refuses the erase.
for eraser in true false; do
	T="$WORK/eraser-refused-$eraser.jsonl"
	sim_conf "$P11SHIM_CONF" "$T" "[eraser]" "CardEraser = $eraser"
	printf 'init\nopen 5 rw\ndestroy "Card Eraser" => CKR_FUNCTION_FAILED\nfinalize\n' |
		"$SIM_CLIENT" "$SHIM_MODULE" >"$WORK/sc.out" 2>&1 || { cat "$WORK/sc.out"; fail "sim-client on slot 5"; }
	diag "$T"
	rc_is 1 "Card Eraser refused (CardEraser = $eraser)"
	finding card-eraser-refused error - - "MakeCardEraseable()"
done
grep -q '"notes":\["eraser: slot 5 not erased: the card refused (CKR_FUNCTION_FAILED)' \
	"$WORK/eraser-refused-true.jsonl" || fail "the eraser layer's note is missing"
# Slot 11: a Cosmo 8.2 has no Card Eraser, and the shim shows none (CardEraser = false).
T="$WORK/eraser-missing.jsonl"
sim_conf "$P11SHIM_CONF" "$T"
printf 'init\nopen 11 rw\nfind "Card Eraser" => CKR_OK 0\nfinalize\n' |
	"$SIM_CLIENT" "$SHIM_MODULE" >"$WORK/sc.out" 2>&1 || { cat "$WORK/sc.out"; fail "sim-client on slot 11"; }
diag "$T"
rc_is 1 "no Card Eraser"
finding card-eraser-missing error eraser CardEraser true
text "         [eraser] CardEraser = true (the shim provides the Card Eraser object)"
ok "Card Eraser refused (Erase = never, with and without the eraser layer) and missing: fixes named"

# ---- nothing matches: the first failing call and the calls before it ----
softhsm_init "$WORK/hsm"
export SOFTHSM2_CONF="$WORK/hsm/softhsm2.conf"
T="$WORK/nomatch.jsonl"
shim_conf "$P11SHIM_CONF" "$SOFTHSM2_MODULE" "$T"
slot=$("$P11CALL" "$SOFTHSM2_MODULE" init , slots present , fin | sed -n 's/^slots: CKR_OK count=[0-9]* \([0-9]*\).*/\1/p')
out=$(P11CALL_PIN=000000 p11call_shim init , slots , open "$slot" , login user , fin 2>/dev/null)
expect "$out" "login user: CKR_PIN_INCORRECT"
diag "$T"
rc_is 1 "an unexplained failure"
grep -q "^No known pattern matched. The first failing call (1 failing call in all), with the calls of its process before it:" \
	"$WORK/g.txt" || { cat "$WORK/g.txt"; fail "no fallback"; }
grep -q "C_Login(.*= CKR_PIN_INCORRECT.*<-$" "$WORK/g.txt" || fail "the failing call is not marked"
python3 - "$WORK/g.json" <<'PY' || fail "the JSON fallback"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["findings"] == [], d["findings"]
calls = d["first_unexplained"]
assert len(calls) >= 3 and "C_Login" in calls[-1]["call"], calls
assert "C_OpenSession" in calls[-2]["call"], calls
PY
ok "nothing matches (a wrong PIN on SoftHSM2): the first failing call with the calls before it"

# ---- seq is per process, across C_Finalize and C_Initialize ----
T="$WORK/reinit.jsonl"
shim_conf "$P11SHIM_CONF" "$SOFTHSM2_MODULE" "$T"
out=$(p11call_shim init , info , fin , init , info , fin 2>/dev/null)
expect "$out" "init: CKR_OK"
python3 - "$T" <<'PY' || fail "seq starts again after C_Finalize + C_Initialize"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len({r["pid"] for r in recs}) == 1, recs
seqs = [r["seq"] for r in recs]
assert [r["fn"] for r in recs].count("C_Initialize") == 2, recs
assert sorted(seqs) == list(range(1, len(recs) + 1)), seqs
PY
ok "seq goes on counting in one process across C_Finalize + C_Initialize"
