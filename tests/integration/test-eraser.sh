#!/bin/sh
# Issue 4, "Virtual Card Eraser", with SoftHSM2 (no Card Eraser of its own):
# with [eraser] CardEraser = true pkcs11-tool lists a "Card Eraser" data
# object, and deleting it erases the token (emulated: every token object the
# session sees, checked directly on SoftHSM2), with the credential logged in
# (the guide, "Card Eraser": "the highest of those is used to log in, otherwise,
# an attempt to delete anonymously is done"). client-eraser checks what
# pkcs11-tool cannot: attribute lengths, refused modification and copy,
# handles, a search left open, a refused destroy named in the error.
. "$top_srcdir/tests/integration/lib.sh"
need "$PKCS11_TOOL" "$SOFTHSM2_UTIL" "$SOFTHSM2_MODULE" openssl python3
CLIENT="$top_builddir/tests/integration/client-eraser"

softhsm_init "$WORK"
export SOFTHSM2_CONF="$WORK/softhsm2.conf"
export P11SHIM_CONF="$WORK/p11shim.conf"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$WORK/c.key" \
	-subj "/CN=eraser test" -days 30 -outform der -out "$WORK/c.der" 2>/dev/null
printf 'hello' >"$WORK/data.bin"

tool() { "$PKCS11_TOOL" --module "$@"; }

# fill: a key pair, a certificate, a public and a private data object.
fill() {
	tool "$SOFTHSM2_MODULE" --login --pin "$USER_PIN" --keypairgen --key-type EC:prime256v1 \
		--label k1 --id 01 >/dev/null 2>&1 || fail "keypairgen"
	tool "$SOFTHSM2_MODULE" --login --pin "$USER_PIN" --write-object "$WORK/c.der" --type cert \
		--label c1 --id 01 >/dev/null 2>&1 || fail "write certificate"
	tool "$SOFTHSM2_MODULE" --login --pin "$USER_PIN" --write-object "$WORK/data.bin" --type data \
		--label d-public >/dev/null 2>&1 || fail "write data"
	tool "$SOFTHSM2_MODULE" --login --pin "$USER_PIN" --write-object "$WORK/data.bin" --type data \
		--label d-private --private >/dev/null 2>&1 || fail "write private data"
}

# direct: what SoftHSM2 itself holds, seen with the user PIN.
direct() {
	tool "$SOFTHSM2_MODULE" --login --pin "$USER_PIN" -O 2>/dev/null
}

# Off by default: nothing is added.
shim_conf "$P11SHIM_CONF" "$SOFTHSM2_MODULE" "$WORK/t0.jsonl"
tool "$SHIM_MODULE" -O >"$WORK/off.out" 2>&1 || fail "pkcs11-tool -O, eraser off"
grep -q "Card Eraser" "$WORK/off.out" && fail "a Card Eraser shows with CardEraser off"
ok "CardEraser off by default: no Card Eraser"

shim_conf "$P11SHIM_CONF" "$SOFTHSM2_MODULE" "$WORK/t1.jsonl" "[eraser]" "CardEraser = true"
tool "$SHIM_MODULE" -O >"$WORK/O.out" 2>&1 || fail "pkcs11-tool -O"
grep -A2 "^Data object" "$WORK/O.out" | tr -s ' ' >"$WORK/O.data"
grep -q "label: 'Card Eraser'" "$WORK/O.data" || { cat "$WORK/O.out"; fail "no Card Eraser listed"; }
grep -q "application: 'p11shim'" "$WORK/O.data" || fail "the Card Eraser's application is not p11shim"
[ "$(grep -c "Card Eraser" "$WORK/O.out")" = 1 ] || fail "Card Eraser listed more than once"
ok "pkcs11-tool -O lists one Card Eraser (application p11shim) on an empty token, no login"

# The emulated erase with the user PIN: everything goes.
fill
direct >"$WORK/before.out"
for o in "Private Key Object" "Public Key Object" "Certificate Object" "d-public" "d-private"; do
	grep -q "$o" "$WORK/before.out" || fail "SoftHSM2 lacks $o before the erase"
done
tool "$SHIM_MODULE" --login --pin "$USER_PIN" -O >"$WORK/O2.out" 2>&1 || fail "pkcs11-tool -O"
[ "$(grep -c "Card Eraser" "$WORK/O2.out")" = 1 ] || fail "Card Eraser not listed once among objects"
tool "$SHIM_MODULE" --login --pin "$USER_PIN" --delete-object --type data --label "Card Eraser" \
	>"$WORK/del.out" 2>&1 || { cat "$WORK/del.out"; fail "deleting the Card Eraser failed"; }
direct >"$WORK/after.out"
[ -s "$WORK/after.out" ] && { cat "$WORK/after.out"; fail "objects remain on SoftHSM2 after the erase"; }
grep -q '"notes":\["eraser: erasing slot [0-9]* with the user PIN (emulated: the token has no native Card Eraser)","eraser: slot [0-9]* erased with the user PIN: 5 token objects destroyed"\]' \
	"$WORK/t1.jsonl" || fail "the erase is not noted in the trace"
ok "emulated erase with the user PIN: keys, certificate and data objects gone from SoftHSM2, noted"
tool "$SHIM_MODULE" -O 2>/dev/null | grep -q "Card Eraser" || fail "no Card Eraser after the erase"
ok "the erased token still shows its Card Eraser"

# Anonymously: what a public session sees goes; private objects stay, and it says so.
fill
tool "$SHIM_MODULE" --delete-object --type data --label "Card Eraser" >"$WORK/del2.out" 2>&1 ||
	{ cat "$WORK/del2.out"; fail "anonymous erase failed"; }
grep -q "p11shim: eraser: slot [0-9]* erased anonymously: 3 token objects destroyed; private objects (CKA_PRIVATE) are seen only after a login with the user PIN, and any there are remain" \
	"$WORK/del2.out" || { cat "$WORK/del2.out"; fail "anonymous erase does not say what it could not see"; }
direct >"$WORK/after2.out"
grep -q "Private Key Object" "$WORK/after2.out" || fail "the private key went without login"
grep -q "d-private" "$WORK/after2.out" || fail "the private data object went without login"
grep -q -e "Public Key Object" -e "Certificate Object" -e "d-public" "$WORK/after2.out" &&
	fail "public objects remain after the anonymous erase"
ok "anonymous emulated erase: public objects gone, private ones kept and reported"
tool "$SHIM_MODULE" --login --pin "$USER_PIN" --delete-object --type data --label "Card Eraser" \
	>/dev/null 2>&1 || fail "second erase with the user PIN"
direct >"$WORK/after3.out"
[ -s "$WORK/after3.out" ] && fail "objects remain after the second erase"
ok "a second erase, with the user PIN, takes the private objects too"

# What pkcs11-tool cannot express.
export CLIENT_PIN="$USER_PIN"
out=$("$CLIENT" "$SHIM_MODULE" init , open first rw , login user , mkdata pub1 , mkdata priv1 private , \
	erasers , attrs , set , copy , size , batch , \
	find , find class=data , find class=data label=Card\ Eraser , find app=p11shim , \
	find class=privkey , find token=0 , find private=1 , find label=Card\ Eraser id=01 , \
	objects , searching , fin 2>"$WORK/client.err")
expect "$out" "erasers: CKR_OK count=1 app='p11shim' handle=0xfffffe00"
# CKA_CLASS is a CK_ULONG: 4 bytes in a 32-bit shim (ELF class 1), 8 in a 64-bit one.
expect "$out" "attrs-query: CKR_OK label=11 class=$(($(od -An -tu1 -j4 -N1 "$SHIM_MODULE") * 4)) value=0"
expect "$out" "attrs-get: CKR_OK class=CKO_DATA label='Card Eraser' app='p11shim' token=1 private=0 modifiable=0 copyable=0 destroyable=1"
expect "$out" "attrs-small: CKR_BUFFER_TOO_SMALL label=unavailable class=CKO_DATA"
expect "$out" "attrs-invalid: CKR_ATTRIBUTE_TYPE_INVALID modulus=unavailable label='Card Eraser'"
ok "C_GetAttributeValue: length query, values, CKR_BUFFER_TOO_SMALL and CKR_ATTRIBUTE_TYPE_INVALID per attribute"
expect "$out" "set: CKR_ACTION_PROHIBITED"
expect "$out" "copy: CKR_ACTION_PROHIBITED"
expect "$out" "size: CKR_OK nonzero"
ok "modify and copy refused with CKR_ACTION_PROHIBITED; C_GetObjectSize answers"
expect "$out" "batch: CKR_OK one-by-one=3 all=3 unique=yes"
ok "one Card Eraser per search, with max 1 and max 256, handles unique"
printf '%s\n' "$out" | grep '^find:' >"$WORK/find.out"
cat >"$WORK/find.want" <<'EOF'
find: CKR_OK count=3 eraser=yes
find: CKR_OK count=3 eraser=yes
find: CKR_OK count=1 eraser=yes
find: CKR_OK count=1 eraser=yes
find: CKR_OK count=0 eraser=no
find: CKR_OK count=0 eraser=no
find: CKR_OK count=1 eraser=no
find: CKR_OK count=0 eraser=no
EOF
diff "$WORK/find.want" "$WORK/find.out" || fail "searches with templates"
ok "the Card Eraser joins searches whose template it matches, and only those"
expect "$out" "objects: CKR_OK count=3 [CKO_DATA 'pub1'] [CKO_DATA 'priv1'] [CKO_DATA 'Card Eraser']"
expect "$out" "searching: CKR_OK attr=CKR_OK second-init=CKR_OPERATION_ACTIVE destroy=CKR_FUNCTION_FAILED count=3"
grep -q "p11shim: eraser: slot [0-9]* not erased: a search is active in this session; call C_FindObjectsFinal before destroying the Card Eraser" \
	"$WORK/client.err" || { cat "$WORK/client.err"; fail "no message for an erase during a search"; }
ok "an open search is not disturbed: reads work, a second search and an erase are refused"
direct | grep -q "pub1" || fail "the refused erase destroyed something"

# A read-only session cannot erase; a refused destroy is named.
out=$("$CLIENT" "$SHIM_MODULE" init , open first , erasers , destroy , fin 2>"$WORK/ro.err")
expect "$out" "destroy: CKR_SESSION_READ_ONLY"
grep -q "destroying the Card Eraser needs a read/write session" "$WORK/ro.err" || fail "no message for a read-only session"
out=$("$CLIENT" "$SHIM_MODULE" init , open first rw , login user , mkdata keep-me nodestroy , \
	erasers , destroy , objects , fin 2>"$WORK/keep.err")
expect "$out" "destroy: CKR_ACTION_PROHIBITED"
expect "$out" "objects: CKR_OK count=2 [CKO_DATA 'keep-me'] [CKO_DATA 'Card Eraser']"
grep -q "^p11shim: eraser: slot [0-9]* not fully erased (emulated, with the user PIN): 1 of 3 token objects remain: CKO_DATA 'keep-me'; the backend answered CKR_ACTION_PROHIBITED" \
	"$WORK/keep.err" || { cat "$WORK/keep.err"; fail "the remaining object is not named"; }
grep -q '"fn":"C_DestroyObject".*"rv":"CKR_ACTION_PROHIBITED".*"notes":\[.*1 of 3 token objects remain: CKO_DATA '"'keep-me'" \
	"$WORK/t1.jsonl" || fail "the incomplete erase is not in the trace"
ok "read-only session refused; an object the backend will not destroy is named, with its rv"

json_lines "$WORK/t1.jsonl" >/dev/null || fail "trace is not JSON Lines"
no_secrets "$WORK/t1.jsonl" "$WORK/client.err" "$WORK/keep.err"
ok "trace is JSON Lines without secrets"
