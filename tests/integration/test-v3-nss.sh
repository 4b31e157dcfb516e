#!/bin/sh
# PKCS#11 3.0 through the shim, with NSS's softokn (a 3.0 module) behind it:
# the shim offers "PKCS 11" 3.0 and 2.40 (never softokn's vendor
# interfaces), and C_LoginUser, C_SessionCancel and a message-based AES-GCM
# encryption answer through the shim as softokn answers directly, each call
# in the trace by name, the PIN redacted. With SoftHSM2 (2.40) behind it,
# the shim offers 2.40 only.
. "$top_srcdir/tests/integration/lib.sh"
: "${SOFTOKN_MODULE:=/usr/lib/x86_64-linux-gnu/libsoftokn3.so}"
need "$SOFTOKN_MODULE" certutil "$SOFTHSM2_UTIL" "$SOFTHSM2_MODULE"
CLIENT="$top_builddir/tests/integration/client-v3"
export P11SHIM_CONF="$WORK/p11shim.conf"

# An NSS database with an empty password; softokn's library parameters.
mkdir -p "$WORK/nssdb"
certutil -N -d "sql:$WORK/nssdb" --empty-password
PARAMS="configdir='sql:$WORK/nssdb' certPrefix='' keyPrefix='' secmod='secmod.db' flags=noModDB"
export CLIENT_PIN="$USER_PIN" # not the database's password: both logins fail alike

CLIENT_PIN="$USER_PIN" "$CLIENT" "$SOFTOKN_MODULE" "$PARAMS" >"$WORK/direct.out" ||
	fail "the client failed on softokn directly: $(cat "$WORK/direct.out")"
shim_conf "$P11SHIM_CONF" "$SOFTOKN_MODULE" "$WORK/trace.jsonl" "[eraser]" "CardEraser = true"
"$CLIENT" "$SHIM_MODULE" "$PARAMS" shim >"$WORK/shim.out" 2>"$WORK/err" ||
	fail "the client failed through the shim: $(cat "$WORK/shim.out" "$WORK/err")"

# softokn offers vendor interfaces too; the shim offers the standard two.
grep -q "^iface 'PKCS 11' 3.0$" "$WORK/direct.out" || fail "softokn does not offer PKCS 11 3.0: $(cat "$WORK/direct.out")"
[ "$(grep '^iface' "$WORK/shim.out")" = "iface 'PKCS 11' 3.0
iface 'PKCS 11' 2.40" ] || fail "the shim's interfaces: $(grep '^iface' "$WORK/shim.out")"
grep -q "^C_GetInterfaceList: CKR_OK 2$" "$WORK/shim.out" || fail "interface count: $(head -1 "$WORK/shim.out")"
ok "C_GetInterfaceList through the shim: \"PKCS 11\" 3.0 then 2.40, no vendor interface"

# Every other answer is softokn's own.
grep -v -e '^iface' -e '^C_GetInterfaceList' "$WORK/direct.out" >"$WORK/direct.cmp"
grep -v -e '^iface' -e '^C_GetInterfaceList' -e '^C_LoginUser puk' -e '^Card Eraser' \
	-e '^C_FindObjectsInit' -e 'find: ' -e 'eraser after cancel' "$WORK/shim.out" >"$WORK/shim.cmp"
diff -u "$WORK/direct.cmp" "$WORK/shim.cmp" || fail "the shim answers differently from softokn"
grep -q '^C_EncryptMessage: CKR_OK ciphertext=[0-9a-f]* tag=[0-9a-f]*$' "$WORK/shim.out" ||
	fail "no message-based encryption: $(grep EncryptMessage "$WORK/shim.out")"
grep -q '^C_EncryptMessage after cancel: CKR_OPERATION_NOT_INITIALIZED$' "$WORK/shim.out" ||
	fail "C_SessionCancel did not end the operation: $(grep 'after cancel' "$WORK/shim.out")"
ok "C_LoginUser, AES-GCM C_MessageEncryptInit/C_EncryptMessage/C_MessageEncryptFinal and C_SessionCancel answer as softokn does directly ($(grep -c . "$WORK/shim.cmp") answers)"

T="$WORK/trace.jsonl"
json_lines "$T" >/dev/null
for fn in C_Initialize C_LoginUser C_SessionCancel C_MessageEncryptInit C_EncryptMessage \
	C_MessageEncryptFinal C_CreateObject C_Finalize; do
	grep -q "\"fn\":\"$fn\"" "$T" || fail "$fn is not in the trace"
done
grep '"fn":"C_LoginUser"' "$T" | head -1 | grep -q '"pPin":"<redacted 6 bytes>","pUsername":"encoder"' ||
	fail "C_LoginUser's PIN or user name: $(grep '"fn":"C_LoginUser"' "$T" | head -1)"
grep '"fn":"C_EncryptMessage"' "$T" | head -1 |
	grep -q '"pParameter":{"type":"CK_GCM_MESSAGE_PARAMS","pIv":{"len":12},"ulIvFixedBits":0,"ivGenerator":"CKG_NO_GENERATE","ulTagBits":128}' ||
	fail "C_EncryptMessage's parameter: $(grep '"fn":"C_EncryptMessage"' "$T" | head -1)"
grep '"fn":"C_SessionCancel"' "$T" | grep -q '"flags":\["CKF_MESSAGE_ENCRYPT"\]' ||
	fail "C_SessionCancel's flags: $(grep '"fn":"C_SessionCancel"' "$T")"
grep '"fn":"C_Initialize"' "$T" | grep -q "offers the interface 'Vendor NSS" ||
	fail "the trace does not say which interface is not offered: $(grep '"fn":"C_Initialize"' "$T")"
no_secrets "$T" "$WORK/err"
ok "each 3.0 call in the trace by name: the PIN redacted, the user name, the GCM parameters as a structure; a note on softokn's vendor interfaces"

# C_LoginUser as SO goes through the SO mapping as C_Login does.
grep -q 'login: CKU_P11SHIM_PUK sent as CKU_SO: the PUK is the SO credential' "$T" ||
	fail "C_LoginUser with CKU_P11SHIM_PUK was not mapped"
ok "C_LoginUser meets the SO mapping of the login layer"

# C_SessionCancel(CKF_FIND_OBJECTS) ends a search for the Card Eraser layer
# too: destroying the Card Eraser then erases instead of "a search is active".
grep -q '^C_SessionCancel find: CKR_OK$' "$WORK/shim.out" || fail "softokn did not cancel the search"
grep -q '^C_DestroyObject eraser after cancel: CKR_OK$' "$WORK/shim.out" ||
	fail "the eraser layer still sees the cancelled search: $(grep 'eraser after' "$WORK/shim.out")"
ok "C_SessionCancel ends the search the Card Eraser layer tracks"

# A 2.40 backend: 2.40 only, as before.
softhsm_init "$WORK/hsm"
export SOFTHSM2_CONF="$WORK/hsm/softhsm2.conf"
shim_conf "$P11SHIM_CONF" "$SOFTHSM2_MODULE" "$WORK/t2.jsonl"
"$CLIENT" "$SHIM_MODULE" "" >"$WORK/hsm.out" 2>&1 && fail "3.0 offered in front of SoftHSM2"
[ "$(sed -n '1,3p' "$WORK/hsm.out")" = "C_GetInterfaceList: CKR_OK 1
iface 'PKCS 11' 2.40
C_GetInterface 3.0: CKR_ARGUMENTS_BAD" ] || fail "in front of SoftHSM2: $(cat "$WORK/hsm.out")"
ok "in front of SoftHSM2 (2.40) the shim offers \"PKCS 11\" 2.40 only"
