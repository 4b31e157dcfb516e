#!/bin/sh
# Issue 4: the SO credential mapping (CKU_SO, CKU_P11SHIM_PUK,
# CKU_P11SHIM_OPERATOR_PIN, OperatorPinIsSOCredential incl. a mapped field)
# and the PUK-change gate (Personal >= 5.7.2 and Cosmo 7 / Cosmo 8.2),
# with the Personal simulator, and the gate's overrides with SoftHSM2.
. "$top_srcdir/tests/integration/lib.sh"
need "$SOFTHSM2_UTIL" "$SOFTHSM2_MODULE" openssl
export P11SHIM_CONF="$WORK/p11shim.conf"
# Simulator slots: 1 Cosmo 8.2 (SO = PUK), 9 CardOS 5.3 (SO = operator PIN), 11 Cosmo 7 (SO = PUK).

# as SECRET ARGS...: p11call through the shim with P11CALL_PIN = SECRET.
as() {
	secret=$1
	shift
	P11CALL_PIN=$secret p11call_shim init , "$@" , fin 2>>"$WORK/err"
}

sim_setup basic.ini
sim_conf "$P11SHIM_CONF" "$WORK/t1.jsonl"
expect "$(as "$SIM_PUK" open 1 rw , login so)" "login so: CKR_OK"
expect "$(as "$SIM_PUK" open 1 rw , login puk)" "login puk: CKR_OK"
grep -q 'login: CKU_P11SHIM_PUK sent as CKU_SO: the PUK is the SO credential (\[login\] OperatorPinIsSOCredential = false)' \
	"$WORK/t1.jsonl" || fail "the PUK translation is not noted"
expect "$(as "$SIM_OPERATOR_PIN" open 1 rw , login operator)" "login operator: CKR_OK"
grep -q 'login: CKU_P11SHIM_OPERATOR_PIN sent as 0x80000001: the operator PIN is not the SO credential' \
	"$WORK/t1.jsonl" || fail "the operator PIN translation is not noted"
expect "$(as "$SIM_PIN" open 1 , login user)" "login user: CKR_OK"
ok "PUK card, OperatorPinIsSOCredential = false: CKU_SO and CKU_P11SHIM_PUK log in as SO, the operator PIN as the other admin type"

# The CardOS card's profile makes the operator PIN the SO credential.
expect "$(as "$SIM_PUK" open 9 rw , login so)" "login so: CKR_PIN_INCORRECT"
grep -q "login: SO login with the PUK failed with CKR_PIN_INCORRECT; the card's profile (CPF) may use the operator PIN as SO credential: check \[login\] OperatorPinIsSOCredential (now false)" \
	"$WORK/t1.jsonl" || fail "the failed SO login does not point to the other credential"
no_secrets "$WORK/t1.jsonl"
ok "an SO login failing on an operator-PIN card says which key to check"

# A mapped field: one installation, cards of both profiles.
sim_conf "$P11SHIM_CONF" "$WORK/t2.jsonl" "[login]" 'OperatorPinIsSOCredential = ${CARD_OPERATOR_IS_SO}'
export CARD_OPERATOR_IS_SO=true
expect "$(as "$SIM_OPERATOR_PIN" open 9 rw , login so)" "login so: CKR_OK"
expect "$(as "$SIM_OPERATOR_PIN" open 9 rw , login operator)" "login operator: CKR_OK"
expect "$(as "$SIM_PUK" open 9 rw , login puk)" "login puk: CKR_OK"
grep -q 'CKU_P11SHIM_PUK sent as 0x80000001: the PUK is not the SO credential (\[login\] OperatorPinIsSOCredential = true)' \
	"$WORK/t2.jsonl" || fail "mapped true not applied"
CARD_OPERATOR_IS_SO=false
expect "$(as "$SIM_PUK" open 1 rw , login puk)" "login puk: CKR_OK"
unset CARD_OPERATOR_IS_SO
: >"$WORK/err"
expect "$(as "$SIM_PUK" open 1 rw , login so)" "login so: CKR_GENERAL_ERROR"
grep -q "OperatorPinIsSOCredential is the mapped field \${CARD_OPERATOR_IS_SO}, which is not set in the client's environment" \
	"$WORK/err" || { cat "$WORK/err"; fail "unset mapped field message"; }
CARD_OPERATOR_IS_SO=maybe
export CARD_OPERATOR_IS_SO
: >"$WORK/err"
expect "$(as "$SIM_PUK" open 1 rw , login so)" "login so: CKR_GENERAL_ERROR"
grep -q "mapped field \${CARD_OPERATOR_IS_SO} = 'maybe' is not a boolean" "$WORK/err" || fail "bad mapped value"
unset CARD_OPERATOR_IS_SO
ok "OperatorPinIsSOCredential as a mapped field, read at each C_Login"

# PUK change: puk_change VERSION SLOT SO-TYPE [conf lines]: prints setpin's rv.
puk_change() {
	version=$1 slot=$2 type=$3
	shift 3
	rm -rf "$WORK/sim"
	sim_setup basic.ini "$version"
	sim_conf "$P11SHIM_CONF" "$WORK/puk.jsonl" "$@"
	P11CALL_OLD=$SIM_PUK P11CALL_NEW=13572468 as "$SIM_PUK" open "$slot" rw , login "$type" , setpin |
		sed -n 's/^setpin: //p'
}
# puk_works SLOT SECRET: can that PUK still log in (directly on the simulator)?
puk_login() {
	P11CALL_PIN=$2 "$P11CALL" "$PERSONAL_SIM_MODULE" init , open "$1" rw , login "${3:-so}" , fin |
		sed -n 's/^login [a-z0-9]*: //p'
}

[ "$(puk_change 5.7.2 1 so)" = CKR_OK ] || fail "5.7.2 Cosmo 8.2 PUK change"
[ "$(puk_login 1 13572468)" = CKR_OK ] || fail "the new PUK does not work"
grep -q "puk: PUK change allowed: Personal 5.7.2 >= 5.7.2 and token model 'Cosmo 8.2' is in \[puk\] PukChangeModels" \
	"$WORK/puk.jsonl" || fail "allowed change not noted"
[ "$(puk_change 5.7.2 11 puk)" = CKR_OK ] || fail "5.7.2 Cosmo 7 PUK change"
ok "Personal 5.7.2: PUK change allowed on Cosmo 8.2 and Cosmo 7"

: >"$WORK/err"
OPIN="OperatorPinIsSOCredential = true" # the CardOS card's profile
[ "$(puk_change 5.7.2 9 puk "[login]" "$OPIN")" = CKR_FUNCTION_NOT_SUPPORTED ] || fail "5.7.2 CardOS PUK change not refused"
grep -q "^p11shim: puk: PUK change refused before the card is touched: token model 'CardOS 5.3' is not in \[puk\] PukChangeModels (Cosmo 7, Cosmo 8.2); Personal 5.7.2 changes the PUK only on those$" \
	"$WORK/err" || { cat "$WORK/err"; fail "model refusal message"; }
[ "$(puk_login 9 "$SIM_PUK" 0x80000001)" = CKR_OK ] || fail "the refused card's PUK does not work any more"
ok "Personal 5.7.2, CardOS 5.3: refused before the card is touched; the PUK still works"

for slot in 1 11; do
	: >"$WORK/err"
	[ "$(puk_change 5.7.1 $slot so)" = CKR_FUNCTION_NOT_SUPPORTED ] || fail "5.7.1 slot $slot not refused"
	grep -q "PUK change refused before the card is touched: Personal 5.7.1 (from CK_INFO.libraryDescription) cannot change the PUK; it needs 5.7.2 or later" \
		"$WORK/err" || { cat "$WORK/err"; fail "version refusal message"; }
	[ "$(puk_login $slot "$SIM_PUK")" = CKR_OK ] || fail "the PUK of slot $slot was touched"
done
[ "$(puk_change 5.7.1 9 puk "[login]" "$OPIN")" = CKR_FUNCTION_NOT_SUPPORTED ] || fail "5.7.1 CardOS not refused"
ok "Personal 5.7.1: refused on Cosmo 8.2, Cosmo 7 and CardOS; the PUK still works"

# Without the shim's refusal, the card is damaged (the simulator does what
# Nexus's Personal integration guide warns of): allow the change and look at the PUK afterwards.
[ "$(puk_change 5.7.1 1 so "[puk]" "PukChange = allow")" = CKR_DEVICE_ERROR ] || fail "no damage?"
[ "$(puk_login 1 "$SIM_PUK")" = CKR_PIN_LOCKED ] || fail "old PUK after the failed change"
[ "$(puk_login 1 13572468)" = CKR_PIN_LOCKED ] || fail "new PUK after the failed change"
ok "with PukChange = allow on 5.7.1 the card's PUK ends up locked: the refusal is what protects it"

[ "$(puk_change 5.7.2 1 so "[puk]" "PukChange = deny")" = CKR_FUNCTION_NOT_SUPPORTED ] || fail "deny"
# A model added to the list is let through (and the simulator, true to
# Personal, cannot do it on CardOS: it fails on the card).
[ "$(puk_change 5.7.2 9 puk "[login]" "$OPIN" "[puk]" "PukChangeModels = CardOS 5.3")" = CKR_DEVICE_ERROR ] ||
	fail "custom model list"
[ "$(puk_change 5.7.1 1 so "[backend]" "MiddlewareVersion = 5.7.0")" = CKR_FUNCTION_NOT_SUPPORTED ] ||
	fail "MiddlewareVersion"
grep -q "Personal 5.7.0 (from \[backend\] MiddlewareVersion)" "$WORK/err" || fail "version source"
ok "PukChange = deny, a custom PukChangeModels and MiddlewareVersion"

# A user PIN change is no PUK change.
rm -rf "$WORK/sim"
sim_setup basic.ini 5.7.1
sim_conf "$P11SHIM_CONF" "$WORK/t3.jsonl"
out=$(P11CALL_OLD=$SIM_PIN P11CALL_NEW=11223344 as "$SIM_PIN" open 1 rw , login user , setpin)
expect "$out" "setpin: CKR_OK"
ok "user PIN change passes on 5.7.1"

# SoftHSM2: a generic middleware, so auto passes; deny refuses the SO PIN change.
softhsm_init "$WORK/hsm"
export SOFTHSM2_CONF="$WORK/hsm/softhsm2.conf"
slot=$("$P11CALL" "$SOFTHSM2_MODULE" init , slots present , fin | sed -n 's/^slots: CKR_OK count=[0-9]* \([0-9]*\).*/\1/p')
shim_conf "$P11SHIM_CONF" "$SOFTHSM2_MODULE" "$WORK/t4.jsonl" "[puk]" "PukChange = deny"
out=$(P11CALL_OLD=$SO_PIN P11CALL_NEW=87654321 as "$SO_PIN" open "$slot" rw , login so , setpin)
expect "$out" "setpin: CKR_FUNCTION_NOT_SUPPORTED"
shim_conf "$P11SHIM_CONF" "$SOFTHSM2_MODULE" "$WORK/t4.jsonl"
out=$(P11CALL_OLD=$SO_PIN P11CALL_NEW=87654321 as "$SO_PIN" open "$slot" rw , login so , setpin)
expect "$out" "setpin: CKR_OK"
no_secrets "$WORK/t4.jsonl" "$WORK/err"
ok "SoftHSM2: PukChange = deny refuses the SO PIN change; auto passes it on a generic middleware"
