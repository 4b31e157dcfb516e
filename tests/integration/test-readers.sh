#!/bin/sh
# Issue 3: virtual readers hidden (SkipReader, PCRE2 full match against the
# slot description), with the Personal simulator and with SoftHSM2.
. "$top_srcdir/tests/integration/lib.sh"
need "$PKCS11_TOOL" "$SOFTHSM2_UTIL" "$SOFTHSM2_MODULE" python3
sim_setup basic.ini
export P11SHIM_CONF="$WORK/p11shim.conf"
# The simulator's slots: 1 Identiv (card), 3 Microsoft Virtual Smart Card,
# 5 Windows Hello for Business, 7 OMNIKEY (empty), 9 SCM (CardOS), 11 Gemalto.

# Directly, the virtual reader breaks the middleware as Nexus's Personal integration guide says.
out=$("$P11CALL" "$PERSONAL_SIM_MODULE" init , slots , tokeninfo 3 , fin)
expect "$out" "slots: CKR_OK count=6 1 3 5 7 9 11"
expect "$out" "tokeninfo: CKR_GENERAL_ERROR"

# Through the shim with the default patterns.
sim_conf "$P11SHIM_CONF" "$WORK/t1.jsonl"
out=$(p11call_shim init , slots , slots present , slots-short , slots-short present , \
	tokeninfo 3 , slotinfo 5 , open 3 , mechinfo 3 , closeall 5 , tokeninfo 1 , slots , fin)
expect "$out" "slots: CKR_OK count=4 1 7 9 11"
expect "$out" "slots: CKR_OK count=3 1 9 11"
expect "$out" "slots-short: CKR_BUFFER_TOO_SMALL count=4 (length query said 4)"
expect "$out" "slots-short: CKR_BUFFER_TOO_SMALL count=3 (length query said 3)"
expect "$out" "tokeninfo: CKR_SLOT_ID_INVALID"
expect "$out" "slotinfo: CKR_SLOT_ID_INVALID"
expect "$out" "open: CKR_SLOT_ID_INVALID"
expect "$out" "mechinfo: CKR_SLOT_ID_INVALID"
expect "$out" "closeall: CKR_SLOT_ID_INVALID"
expect "$out" "tokeninfo: CKR_OK label='Cosmo 8.2 test card' model='Cosmo 8.2' serial='8200000001'"
ok "default patterns hide slots 3 and 5 everywhere; IDs not renumbered"
n=$(grep -c "hidden by SkipReader 'Microsoft Virtual Smart Card .\*' (default)" "$WORK/t1.jsonl")
[ "$n" = 1 ] || fail "the virtual reader is noted $n times, expected once"
grep -q "readers: slot 5 'Windows Hello for Business 1' hidden by SkipReader 'Windows Hello for Business .\*' (default)" \
	"$WORK/t1.jsonl" || fail "Windows Hello not noted"
ok "each hidden slot noted once in the trace with its pattern"

# pkcs11-tool through the shim never sees them.
"$PKCS11_TOOL" --module "$SHIM_MODULE" -L >"$WORK/L.out" 2>&1 || fail "pkcs11-tool -L"
grep -q "Virtual\|Windows Hello" "$WORK/L.out" && fail "pkcs11-tool saw a hidden reader"
grep -q "Identiv uTrust 3700 F CL Reader 0" "$WORK/L.out" || fail "pkcs11-tool misses a reader"
ok "pkcs11-tool -L lists only the physical readers"

# Patterns from both Personal.cfg files and from the configuration.
printf '[Cache]\nCacheValidity = 0\n[Readers]\nSkipReader = OMNIKEY .*\n' >"$SIM_DIR/Personal.cfg"
printf '[General]\nSkipReader = SCM Microsystems SCR3310 \\d\n' >"$SIM_DIR/Personal-user.cfg"
sim_conf "$P11SHIM_CONF" "$WORK/t2.jsonl" "PersonalUserConfig = $SIM_DIR/Personal-user.cfg" \
	"[readers]" "SkipReader = Gemalto.*"
out=$(p11call_shim init , slots , fin)
expect "$out" "slots: CKR_OK count=1 1"
grep -q "hidden by SkipReader 'OMNIKEY .\*' ($SIM_DIR/Personal.cfg:4)" "$WORK/t2.jsonl" ||
	fail "the Personal.cfg pattern is not noted with its file and line"
grep -q "hidden by SkipReader 'SCM Microsystems SCR3310 \\\\\\\\d' ($SIM_DIR/Personal-user.cfg:2)" "$WORK/t2.jsonl" ||
	fail "the per-user Personal.cfg pattern is not noted"
ok "patterns from the configuration, Personal.cfg and the per-user Personal.cfg"

sim_conf "$P11SHIM_CONF" "$WORK/t3.jsonl" "PersonalUserConfig = $SIM_DIR/Personal-user.cfg" \
	"[readers]" "ReadPersonalSkipReader = false" "SkipReader = Gemalto.*"
out=$(p11call_shim init , slots , fin)
expect "$out" "slots: CKR_OK count=3 1 7 9"
ok "ReadPersonalSkipReader = false ignores Personal.cfg's patterns"

# A full match: a pattern matching part of a name hides nothing.
printf '[Cache]\nCacheValidity = 0\n' >"$SIM_DIR/Personal.cfg"
sim_conf "$P11SHIM_CONF" "$WORK/t4.jsonl" "[readers]" "SkipReader =" "SkipReader = Identiv" \
	"SkipReader = Gemalto USB Smart Card Reader \\d+"
out=$(p11call_shim init , slots , tokeninfo 3 , fin)
expect "$out" "slots: CKR_OK count=5 1 3 5 7 9"
expect "$out" "tokeninfo: CKR_GENERAL_ERROR"
ok "an empty SkipReader clears the defaults; patterns match the whole name only"

# A bad pattern fails C_Initialize, naming file, line and PCRE2's message.
sim_conf "$P11SHIM_CONF" "$WORK/t5.jsonl" "[readers]" "SkipReader = Virtual (Smart"
out=$(p11call_shim init 2>"$WORK/err")
expect "$out" "init: CKR_GENERAL_ERROR"
grep -q "^p11shim: config: $P11SHIM_CONF:9: \[readers\] SkipReader = Virtual (Smart: PCRE2 error at offset 14: missing closing parenthesis; fix the pattern$" \
	"$WORK/err" || { cat "$WORK/err"; fail "bad pattern message"; }
ok "bad pattern: $(cat "$WORK/err")"

# SoftHSM2: the same skipping on its slot descriptions.
softhsm_init "$WORK/hsm"
export SOFTHSM2_CONF="$WORK/hsm/softhsm2.conf"
direct=$("$P11CALL" "$SOFTHSM2_MODULE" init , slots , fin)
ids=$(printf '%s\n' "$direct" | sed -n 's/^slots: CKR_OK count=2 //p')
token=${ids% *}
spare=${ids#* }
[ -n "$token" ] && [ -n "$spare" ] || fail "SoftHSM2 slots: $direct"
shim_conf "$P11SHIM_CONF" "$SOFTHSM2_MODULE" "$WORK/t6.jsonl" "[readers]" \
	"SkipReader = SoftHSM slot ID 0x[0-9a-f]{3,}"
out=$(p11call_shim init , slots , tokeninfo "$token" , tokeninfo "$spare" , fin)
expect "$out" "slots: CKR_OK count=1 $spare"
expect "$out" "tokeninfo: CKR_SLOT_ID_INVALID"
ok "SoftHSM2: slot $token hidden by its description, slot $spare shown"

# Reader names the patterns cannot judge fail closed. A Latin-1 reader name
# (a Windows reader name in a legacy code page: "Lecteur à puce 0" with the
# single byte 0xe0) is taken as Latin-1: the UTF-8 pattern and ".*" match
# it. A pattern that hits the match limit on a name (nested quantifiers on
# forty a's and a "!") hides that reader, with a note and one stderr line.
sed -e "s/^Name = OMNIKEY CardMan 5x21 0\$/Name = Lecteur $(printf '\340') puce 0/" \
	-e 's/^Name = Gemalto USB Smart Card Reader 0$/Name = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!/' \
	"$SIM_DIR/sim.ini" >"$SIM_DIR/names.ini"
grep -q "$(printf 'Lecteur \340 puce 0')" "$SIM_DIR/names.ini" || fail "fixture: no Latin-1 reader name"
rm -f "$SIM_DIR/state"
out=$(PERSONAL_SIM_CONF="$SIM_DIR/names.ini" PERSONAL_SIM_STATE= "$P11CALL" "$PERSONAL_SIM_MODULE" init , slots , fin)
expect "$out" "slots: CKR_OK count=6 1 3 5 7 9 11"
sim_conf "$P11SHIM_CONF" "$WORK/t7.jsonl" "[readers]" "SkipReader = Lecteur à puce \\d" "SkipReader = (a|aa)+"
out=$(PERSONAL_SIM_CONF="$SIM_DIR/names.ini" PERSONAL_SIM_STATE= p11call_shim init , slots , tokeninfo 11 , fin \
	2>"$WORK/err7")
expect "$out" "slots: CKR_OK count=2 1 9"
expect "$out" "tokeninfo: CKR_SLOT_ID_INVALID"
grep -q "readers: slot 7 'Lecteur à puce 0' hidden by SkipReader 'Lecteur à puce \\\\\\\\d'" "$WORK/t7.jsonl" ||
	{ grep C_GetSlotList "$WORK/t7.jsonl"; fail "the Latin-1 reader is not noted hidden"; }
msg="readers: slot 11 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!' hidden: SkipReader '(a|aa)+' ($P11SHIM_CONF:10) could not be matched against it: match limit exceeded; simplify the pattern"
[ "$(cat "$WORK/err7")" = "p11shim: $msg" ] || { cat "$WORK/err7"; fail "expected one stderr line: $msg"; }
grep -q -F "\"$msg\"" "$WORK/t7.jsonl" || fail "the match error is not noted in the trace"
ok "a Latin-1 reader name is matched as Latin-1; a pattern past its match limit hides the reader, noted once"
sim_conf "$P11SHIM_CONF" "$WORK/t8.jsonl" "[readers]" "SkipReader =" "SkipReader = .*"
out=$(PERSONAL_SIM_CONF="$SIM_DIR/names.ini" PERSONAL_SIM_STATE= p11call_shim init , slots , fin 2>"$WORK/err8")
expect "$out" "slots: CKR_OK count=0"
[ ! -s "$WORK/err8" ] || { cat "$WORK/err8"; fail "stderr for .*"; }
ok "'.*' hides every reader, the Latin-1 one too"
