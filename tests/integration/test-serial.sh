#!/bin/sh
# Issue 4: card serial numbers (the guide: "Card serial number"): with
# InitToken = true, C_InitToken through the shim applies the serial from
# CMSCardSerialNumber (a mapped field) or NumberRange, fixed before the card
# is touched; C_GetTokenInfo reports it, read from the card; a certificate
# whose subject serialNumber differs is refused or noted.
. "$top_srcdir/tests/integration/lib.sh"
need "$PKCS11_TOOL" "$SOFTHSM2_UTIL" "$SOFTHSM2_MODULE" openssl
export P11SHIM_CONF="$WORK/p11shim.conf"
softhsm_init "$WORK/hsm"
export SOFTHSM2_CONF="$WORK/hsm/softhsm2.conf"

# spare: the SoftHSM2 slot without a token.
spare() { slot_of ''; }

RANGE="NumberRange = 000100-000102"
STATE="NumberRangeState = $WORK/range.state"
shim_conf "$P11SHIM_CONF" "$SOFTHSM2_MODULE" "$WORK/t1.jsonl" "[serial]" "InitToken = true" "$RANGE" "$STATE"

# pkcs11-tool initialises a card through the shim: the next number is applied.
s1=$(spare)
"$PKCS11_TOOL" --module "$SHIM_MODULE" --init-token --slot "$s1" --label card1 --so-pin "$SO_PIN" \
	>"$WORK/init.out" 2>&1 || { cat "$WORK/init.out"; fail "pkcs11-tool --init-token"; }
"$PKCS11_TOOL" --module "$SHIM_MODULE" -L >"$WORK/L.out" 2>&1
grep -A8 "token label        : card1" "$WORK/L.out" | grep -q "serial num         : 000100" ||
	{ cat "$WORK/L.out"; fail "pkcs11-tool does not see serial 000100"; }
s1=$(slot_of card1)
direct=$("$P11CALL" "$SOFTHSM2_MODULE" init , tokeninfo "$s1" , fin)
printf '%s\n' "$direct" | grep -q "serial='000100'" && fail "SoftHSM2 itself reports the applied serial?"
grep -q "serial: card serial 000100 written to the token in slot " "$WORK/t1.jsonl" || fail "not noted"
ok "pkcs11-tool --init-token through the shim: serial 000100 applied and reported (SoftHSM2's own differs)"

s2=$(spare)
P11CALL_PIN=$SO_PIN p11call_shim init , inittoken "$s2" card2 , fin >/dev/null
s2=$(slot_of card2)
out=$(p11call_shim init , tokeninfo "$s2" , tokeninfo "$s1" , fin)
expect "$out" "tokeninfo: CKR_OK label='card2' model='SoftHSM v2' serial='000101'"
expect "$out" "tokeninfo: CKR_OK label='card1' model='SoftHSM v2' serial='000100'"
# Re-initialising a card gives it the next number.
out=$(P11CALL_PIN=$SO_PIN p11call_shim init , inittoken "$s1" card1b , fin)
expect "$out" "inittoken: CKR_OK"
s1=$(slot_of card1b)
out=$(p11call_shim init , tokeninfo "$s1" , fin)
expect "$out" "tokeninfo: CKR_OK label='card1b' model='SoftHSM v2' serial='000102'"
ok "numbers handed out in order, re-initialisation takes the next"

# Exhausted: refused before the card is touched.
s3=$(spare)
out=$(P11CALL_PIN=$SO_PIN p11call_shim init , inittoken "$s3" card3 , fin 2>"$WORK/err")
expect "$out" "inittoken: CKR_GENERAL_ERROR"
grep -q "serial: C_InitToken refused, nothing written: .*range.state: number range 000100-000102 is exhausted (last handed out: 000102)" "$WORK/err" ||
	{ cat "$WORK/err"; fail "exhausted message"; }
"$P11CALL" "$SOFTHSM2_MODULE" init , tokeninfo "$s3" , fin | grep -q "label=''" || fail "the card was touched"
ok "exhausted range: C_InitToken refused, the token untouched"

# A mapped field: the serial Identity Manager generated.
shim_conf "$P11SHIM_CONF" "$SOFTHSM2_MODULE" "$WORK/t2.jsonl" "[serial]" "InitToken = true" \
	'CMSCardSerialNumber = ${PRIME_CARD_SERIAL}'
out=$(P11CALL_PIN=$SO_PIN p11call_shim init , inittoken "$s3" card3 , fin 2>"$WORK/err")
expect "$out" "inittoken: CKR_GENERAL_ERROR"
grep -q 'CMSCardSerialNumber is the mapped field ${PRIME_CARD_SERIAL}, which is not set' "$WORK/err" ||
	fail "unset field message"
"$P11CALL" "$SOFTHSM2_MODULE" init , tokeninfo "$s3" , fin | grep -q "label=''" || fail "touched"
PRIME_CARD_SERIAL=CM4711 P11CALL_PIN=$SO_PIN p11call_shim init , inittoken "$s3" card3 , fin >/dev/null
s3=$(slot_of card3)
out=$(p11call_shim init , tokeninfo "$s3" , fin)
expect "$out" "tokeninfo: CKR_OK label='card3' model='SoftHSM v2' serial='CM4711'"
ok "CMSCardSerialNumber from a mapped field; unset: refused, nothing written"

# Certificates: subject serialNumber against the card serial.
cert() { # cert NAME SERIAL
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/$1.key" \
		-subj "/CN=holder/serialNumber=$2" -days 30 -outform DER -out "$WORK/$1.der" 2>/dev/null
}
cert good CM4711
cert bad CM9999
P11CALL_PIN=$SO_PIN P11CALL_NEW=$USER_PIN p11call_shim init , open "$s3" rw , login so , initpin , fin >/dev/null
out=$(P11CALL_PIN=$USER_PIN p11call_shim init , open "$s3" rw , login user , mkcert "$WORK/good.der" good , \
	mkcert "$WORK/bad.der" bad , fin 2>"$WORK/err")
expect "$out" "mkcert: CKR_OK"
expect "$out" "mkcert: CKR_ATTRIBUTE_VALUE_INVALID"
grep -q "serial: certificate refused: its subject serialNumber 'CM9999' is not the card serial 'CM4711'" \
	"$WORK/err" || fail "refusal message"
shim_conf "$P11SHIM_CONF" "$SOFTHSM2_MODULE" "$WORK/t3.jsonl" "[serial]" "InitToken = true" \
	"CertificateSerialCheck = warn"
out=$(P11CALL_PIN=$USER_PIN p11call_shim init , open "$s3" rw , login user , mkcert "$WORK/bad.der" bad , fin 2>"$WORK/err")
expect "$out" "mkcert: CKR_OK"
grep -q "warning: certificate subject serialNumber 'CM9999' is not the card serial 'CM4711'" "$WORK/t3.jsonl" ||
	fail "warning not noted"
ok "certificates: matching accepted, differing refused (refuse) or noted (warn)"

# The Personal simulator: the SO credential initialises, the serial is applied.
sim_setup basic.ini
sim_conf "$P11SHIM_CONF" "$WORK/t4.jsonl" "[serial]" "InitToken = true" "CMSCardSerialNumber = 77000001"
out=$(P11CALL_PIN=$SIM_PUK p11call_shim init , inittoken 1 encoded , tokeninfo 1 , fin)
expect "$out" "tokeninfo: CKR_OK label='encoded' model='Cosmo 8.2' serial='77000001'"
no_secrets "$WORK"/t*.jsonl "$WORK/err"
ok "Personal simulator: serial applied at C_InitToken and reported"
