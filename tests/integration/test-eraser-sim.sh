#!/bin/sh
# Issue 4, "Virtual Card Eraser", with the Personal simulator
# (fixtures/eraser.ini): CardOS cards have a native Card Eraser, which the
# shim shows instead of its virtual one (never both) and whose destruction
# it passes on, explaining a refusal; the guide's CPF cases ("Card Eraser"):
#   slot 1  MakeCardEraseable() and BurnFuse()   anonymous erase works
#   slot 3  neither                               anonymous erase works
#   slot 5  BurnFuse() without MakeCardEraseable() anonymous erase fails
#   slot 7  needs the operator PIN, the SO credential (CKU_SO)
#   slot 9  needs the operator PIN, not the SO credential (CKU_P11SHIM_OPERATOR_PIN)
#   slot 11 Cosmo 8.2, no native Card Eraser: the emulated erase
. "$top_srcdir/tests/integration/lib.sh"
need "$PKCS11_TOOL" python3
CLIENT="$top_builddir/tests/integration/client-eraser"
sim_setup eraser.ini
export P11SHIM_CONF="$WORK/p11shim.conf"
# The SO credential follows the card being erased, as a mapped field does in
# an encoding description.
sim_conf "$P11SHIM_CONF" "$WORK/t.jsonl" "[eraser]" "CardEraser = true" \
	"[login]" "OperatorPinIsSOCredential = \${OPIN_IS_SO}"
export OPIN_IS_SO=false
TRACE="$WORK/t.jsonl"

tool() { "$PKCS11_TOOL" --module "$SHIM_MODULE" "$@"; }
# direct ARGS: p11call on the simulator itself, not through the shim.
direct() { "$P11CALL" "$PERSONAL_SIM_MODULE" init , "$@" , fin; }
delete_eraser() { tool "$@" --delete-object --type data --label "Card Eraser"; }

# Never both: CardOS slots show the card's own, slot 11 the virtual one.
for s in 1 3 5 7 9 11; do
	tool --slot "$s" -O >"$WORK/O$s.out" 2>&1 || fail "pkcs11-tool -O on slot $s"
	[ "$(grep -c "label: *'Card Eraser'" "$WORK/O$s.out")" = 1 ] ||
		{ cat "$WORK/O$s.out"; fail "slot $s does not list exactly one Card Eraser"; }
	app=Personal
	[ "$s" = 11 ] && app=p11shim
	grep -q "application: *'$app'" "$WORK/O$s.out" || fail "slot $s: the Card Eraser is not $app's"
done
grep -q '"notes":\["eraser: slot 1 has a native Card Eraser (handle 0x[0-9a-f]*): shown instead of the virtual one"\]' \
	"$TRACE" || fail "the native Card Eraser is not noted"
grep -q '"notes":\["eraser: slot 11 has no native Card Eraser: the virtual one (handle 0xfffffe00) joins this search"\]' \
	"$TRACE" || fail "the virtual Card Eraser is not noted"
ok "CardOS slots list only their native Card Eraser, slot 11 the virtual one"

out=$("$CLIENT" "$SHIM_MODULE" init , open 1 rw , find , find class=data label=Card\ Eraser , erasers , \
	set , copy , fin)
expect "$out" "find: CKR_OK count=1 eraser=yes"
expect "$out" "set: CKR_ACTION_PROHIBITED"
expect "$out" "copy: CKR_ACTION_PROHIBITED"
ok "native Card Eraser: one per search, modify and copy refused by the card"

# Slots 1 and 3: anonymous erase works; the card is uninitialised afterwards.
for s in 1 3; do
	out=$(direct open "$s" rw , mkdata "doc $s" x)
	expect "$out" "mkdata: CKR_OK"
	delete_eraser --slot "$s" >"$WORK/del$s.out" 2>&1 || { cat "$WORK/del$s.out"; fail "slot $s: anonymous erase failed"; }
	out=$(direct tokeninfo "$s" , open "$s" , objects)
	expect "$out" "objects: CKR_OK count=1 [CKO_DATA 'Card Eraser']"
	printf '%s\n' "$out" | grep -q "^tokeninfo: CKR_OK label='' " || { printf '%s\n' "$out"; fail "slot $s keeps its label"; }
	grep -q "\"notes\":\[\"eraser: slot $s erased anonymously by its native Card Eraser\"\]" "$TRACE" ||
		fail "slot $s: the erase is not noted"
done
ok "slots 1 and 3 (MakeCardEraseable and BurnFuse, or neither): anonymous erase works, noted"

# Slot 5: BurnFuse() without MakeCardEraseable(): the card refuses, visibly.
delete_eraser --slot 5 >"$WORK/del5.out" 2>&1 && fail "slot 5 was erased"
grep -q "p11shim: eraser: slot 5 not erased: the card refused (CKR_FUNCTION_FAILED); Nexus's Personal integration guide (\"Card Eraser\"): a card whose profile (CPF) has BurnFuse() at the end but no MakeCardEraseable() at the start cannot be erased" \
	"$WORK/del5.out" || { cat "$WORK/del5.out"; fail "slot 5: no explanation"; }
grep -q '"fn":"C_DestroyObject".*"rv":"CKR_FUNCTION_FAILED".*BurnFuse' "$TRACE" || fail "slot 5: not in the trace"
expect "$(direct tokeninfo 5)" "tokeninfo: CKR_OK label='Fused only' model='CardOS 5.0' serial='C050000000000005'"
ok "slot 5 (BurnFuse only): the erase fails with CKR_FUNCTION_FAILED and the reason, the card is unchanged"

# Slot 7: the operator PIN is the SO credential.
delete_eraser --slot 7 >"$WORK/del7.out" 2>&1 && fail "slot 7 was erased anonymously"
grep -q "p11shim: eraser: slot 7 not erased anonymously: the card needs the operator PIN to be erased" \
	"$WORK/del7.out" || { cat "$WORK/del7.out"; fail "slot 7: no explanation"; }
OPIN_IS_SO=true delete_eraser --slot 7 --login --login-type so --so-pin "$SIM_OPERATOR_PIN" \
	>"$WORK/del7b.out" 2>&1 || { cat "$WORK/del7b.out"; fail "slot 7: erase with the operator PIN failed"; }
grep -q '"notes":\["eraser: slot 7 erased with the operator PIN by its native Card Eraser"\]' "$TRACE" ||
	fail "slot 7: the erase is not noted"
ok "slot 7: anonymous erase refused with the reason, CKU_SO with the operator PIN erases"

# Slot 9: the PUK is the SO credential; the operator PIN is the other admin login.
out=$(CLIENT_PIN=$SIM_PUK "$CLIENT" "$SHIM_MODULE" init , open 9 rw , login so , erasers , destroy , fin 2>"$WORK/c9.err")
expect "$out" "destroy: CKR_USER_NOT_LOGGED_IN"
grep -q "eraser: slot 9 not erased with the PUK: the card needs the operator PIN" "$WORK/c9.err" ||
	{ cat "$WORK/c9.err"; fail "slot 9: no explanation"; }
out=$(CLIENT_PIN=$SIM_OPERATOR_PIN "$CLIENT" "$SHIM_MODULE" init , open 9 rw , login operator , erasers , \
	destroy , fin)
expect "$out" "destroy: CKR_OK"
expect "$(direct tokeninfo 9)" "tokeninfo: CKR_OK label='' model='CardOS 5.3' serial='C053000000000009'"
grep -q '"notes":\["eraser: slot 9 erased with the operator PIN by its native Card Eraser"\]' "$TRACE" ||
	fail "slot 9: the erase is not noted"
ok "slot 9: the PUK is refused with the reason, CKU_P11SHIM_OPERATOR_PIN erases"

# Slot 11: no native Card Eraser, the emulated erase.
out=$(CLIENT_PIN=$SIM_PIN "$CLIENT" "$SHIM_MODULE" init , open 11 rw , login user , mkdata public-doc , \
	mkdata private-doc private , erasers , attrs , set , copy , size , objects , fin)
expect "$out" "erasers: CKR_OK count=1 app='p11shim' handle=0xfffffe00"
expect "$out" "attrs-get: CKR_OK class=CKO_DATA label='Card Eraser' app='p11shim' token=1 private=0 modifiable=0 copyable=0 destroyable=1"
expect "$out" "attrs-small: CKR_BUFFER_TOO_SMALL label=unavailable class=CKO_DATA"
expect "$out" "attrs-invalid: CKR_ATTRIBUTE_TYPE_INVALID modulus=unavailable label='Card Eraser'"
expect "$out" "set: CKR_ACTION_PROHIBITED"
expect "$out" "copy: CKR_ACTION_PROHIBITED"
expect "$out" "objects: CKR_OK count=3 [CKO_DATA 'public-doc'] [CKO_DATA 'private-doc'] [CKO_DATA 'Card Eraser']"
ok "slot 11: the virtual Card Eraser's attributes; modify and copy refused"
delete_eraser --slot 11 --login --pin "$SIM_PIN" >"$WORK/del11.out" 2>&1 ||
	{ cat "$WORK/del11.out"; fail "slot 11: emulated erase failed"; }
out=$(P11CALL_PIN=$SIM_PIN direct open 11 , login user , objects)
expect "$out" "objects: CKR_OK count=0"
grep -q '"notes":\["eraser: erasing slot 11 with the user PIN (emulated: the token has no native Card Eraser)","eraser: slot 11 erased with the user PIN: 2 token objects destroyed"\]' \
	"$TRACE" || fail "slot 11: the erase is not noted"
ok "slot 11: the emulated erase with the user PIN destroys every object on the card, noted"

# A backend handle equal to the virtual one moves the virtual one.
out=$(direct open 11 rw , mkdata collider x)
expect "$out" "mkdata: CKR_OK"
h=$(sed -n 's/^next-handle //p' "$PERSONAL_SIM_STATE")
h=$((h - 1))
grep -q "^object $h 0\$" "$PERSONAL_SIM_STATE" || fail "no object $h in the simulator's state"
sed -i "s/^object $h 0\$/object 4294966784 0/" "$PERSONAL_SIM_STATE"
out=$("$CLIENT" "$SHIM_MODULE" init , open 11 , objects , batch , erasers , attrs , fin)
expect "$out" "objects: CKR_OK count=2 [CKO_DATA 'collider'] [CKO_DATA 'Card Eraser']"
expect "$out" "batch: CKR_OK one-by-one=2 all=2 unique=yes"
expect "$out" "erasers: CKR_OK count=1 app='p11shim' handle=0xfffffdff"
expect "$out" "attrs-get: CKR_OK class=CKO_DATA label='Card Eraser' app='p11shim' token=1 private=0 modifiable=0 copyable=0 destroyable=1"
grep -q "eraser: the backend uses handle 0xfffffe00 too: the virtual Card Eraser moves to 0xfffffdff" "$TRACE" ||
	fail "the move is not noted"
ok "a backend object with the virtual handle's value moves the virtual Card Eraser"

json_lines "$TRACE" >/dev/null || fail "trace is not JSON Lines"
for s in "$SIM_PIN" "$SIM_PUK" "$SIM_OPERATOR_PIN"; do
	hex=$(printf '%s' "$s" | od -An -tx1 | tr -d ' \n')
	grep -q -e "$s" -e "$hex" "$TRACE" && fail "a secret appears in the trace"
done
ok "trace is JSON Lines without secrets"
