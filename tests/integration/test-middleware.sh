#!/bin/sh
# Issue 3: with a Personal backend the shim refuses (or warns about) card
# caching turned on in Personal.cfg (system file, per-user file, the
# per-user file winning) and a missing or unusable PIN-encryption
# certificate; the shim itself never caches (a change made by another
# process between two calls is seen at once).
. "$top_srcdir/tests/integration/lib.sh"
need "$PKCS11_TOOL" "$SOFTHSM2_UTIL" "$SOFTHSM2_MODULE" openssl
sim_setup basic.ini
export P11SHIM_CONF="$WORK/p11shim.conf"
SYS="$SIM_DIR/Personal.cfg"
USR="$SIM_DIR/Personal-user.cfg"

# init_with EXPECTED_RV [conf lines...]: C_Initialize through the shim.
init_with() {
	want=$1
	shift
	sim_conf "$P11SHIM_CONF" "$WORK/trace.jsonl" "PersonalUserConfig = $USR" "$@"
	out=$(p11call_shim init , fin 2>"$WORK/err")
	expect "$out" "init: $want"
}

cache() { printf '[Cache]\nCacheValidity = %s\n' "$1"; }

# System file only.
rm -f "$USR"
cache 0 >"$SYS"
init_with CKR_OK
ok "system Personal.cfg with caching off: accepted"
cache 3600 >"$SYS"
init_with CKR_GENERAL_ERROR
grep -qx "p11shim: middleware: refused: card caching is on: $SYS:2: \[Cache\] CacheValidity = 3600; set \[Cache\] CacheValidity = 0 there" \
	"$WORK/err" || { cat "$WORK/err"; fail "caching message"; }
ok "system file caching on: $(cat "$WORK/err")"
printf '[Other]\nX = 1\n' >"$SYS"
init_with CKR_GENERAL_ERROR
grep -q "card caching is on: no \[Cache\] CacheValidity in $SYS; add \[Cache\] CacheValidity = 0 to $SYS" \
	"$WORK/err" || { cat "$WORK/err"; fail "missing key message"; }
ok "no CacheValidity counts as caching on"
rm -f "$SYS"
init_with CKR_GENERAL_ERROR
grep -q "card caching is on: no Personal.cfg found" "$WORK/err" || fail "no Personal.cfg"
ok "no Personal.cfg at all counts as caching on"

# User file only, then both: the per-user file wins key by key.
cache 3600 >"$USR"
init_with CKR_GENERAL_ERROR
grep -q "$USR:2: \[Cache\] CacheValidity = 3600" "$WORK/err" || fail "user file not named"
cache 0 >"$USR"
init_with CKR_OK
ok "per-user file only: refused with caching on, accepted with it off"
cache 3600 >"$SYS"
cache 0 >"$USR"
init_with CKR_OK
cache 0 >"$SYS"
cache 600 >"$USR"
init_with CKR_GENERAL_ERROR
grep -q "$USR:2: \[Cache\] CacheValidity = 600" "$WORK/err" || fail "the winning user file is not named"
ok "both files: the per-user file wins (off over on, on over off)"

# Enforce = warn and off.
init_with CKR_OK "Enforce = warn"
grep -q "^p11shim: middleware: warning: card caching is on" "$WORK/err" || fail "warn gives no line"
grep -q '"notes":\[.*middleware: warning: card caching is on' "$WORK/trace.jsonl" || fail "warn not noted"
init_with CKR_OK "Enforce = off"
[ -s "$WORK/err" ] && fail "Enforce = off printed: $(cat "$WORK/err")"
grep -q 'middleware: ignored (\[middleware\] Enforce = off): card caching is on' "$WORK/trace.jsonl" ||
	fail "off is not noted in the trace"
ok "Enforce = warn (stderr and trace) and off (trace only)"
# A generic middleware is not checked.
init_with CKR_OK "[backend]" "Middleware = generic"
ok "Middleware = generic: no Personal checks"
cache 0 >"$USR"

# The PIN-encryption certificate.
ID2="$SIM_DIR/iD2ppa.cfg"
init_with CKR_OK
grep -q '"notes":\["middleware: Nexus Personal 5.7.2 (version from CK_INFO.libraryDescription)"\]' \
	"$WORK/trace.jsonl" || fail "Personal and its version are not noted"
openssl x509 -in "$SIM_DIR/pinenc.pem" -outform DER -out "$SIM_DIR/pinenc.der"
printf '[PIN Encryption]\nFile = %s\n' "$SIM_DIR/pinenc.der" >"$ID2"
init_with CKR_OK
ok "PEM and DER certificates accepted"
printf 'garbage\n' >"$SIM_DIR/garbage.pem"
printf '[PIN Encryption]\nFile = %s\n' "$SIM_DIR/garbage.pem" >"$ID2"
init_with CKR_GENERAL_ERROR
grep -q "PIN-encryption certificate: $ID2:2: \[PIN Encryption\] File = $SIM_DIR/garbage.pem is not an X.509 certificate" \
	"$WORK/err" || { cat "$WORK/err"; fail "garbage certificate"; }
printf '[PIN Encryption]\nFile = %s\n' "$SIM_DIR/nonexistent.pem" >"$ID2"
init_with CKR_GENERAL_ERROR
grep -q "File = $SIM_DIR/nonexistent.pem cannot be read" "$WORK/err" || fail "missing certificate"
printf '[PIN Encryption]\n' >"$ID2"
init_with CKR_GENERAL_ERROR
grep -q "$ID2 has no \[PIN Encryption\] File" "$WORK/err" || fail "unset File"
rm -f "$ID2"
init_with CKR_GENERAL_ERROR
grep -q "$ID2 does not exist" "$WORK/err" || fail "missing iD2ppa.cfg"
ok "missing, unset, unreadable and non-certificate PIN-encryption certificates refused"

# No caching in the shim: a SoftHSM2 token changed by another process
# between two calls of one session is seen at once.
softhsm_init "$WORK/hsm"
export SOFTHSM2_CONF="$WORK/hsm/softhsm2.conf"
shim_conf "$P11SHIM_CONF" "$SOFTHSM2_MODULE" "$WORK/t2.jsonl"
slot=$("$P11CALL" "$SOFTHSM2_MODULE" init , slots present , fin | sed -n 's/^slots: CKR_OK count=[0-9]* \([0-9]*\).*/\1/p')
mkfifo "$WORK/go"
p11call_shim init , open "$slot" , objects , wait , objects , fin <"$WORK/go" >"$WORK/seen" &
exec 3>"$WORK/go"
while ! grep -q '^objects' "$WORK/seen"; do sleep 0.1; done
printf 'x\n' | "$PKCS11_TOOL" --module "$SOFTHSM2_MODULE" --login --pin "$USER_PIN" \
	--write-object /dev/stdin --type data --label another-process >/dev/null 2>&1 || fail "writing directly"
echo go >&3
exec 3>&-
wait
grep -q "^objects: CKR_OK count=0" "$WORK/seen" || { cat "$WORK/seen"; fail "first listing"; }
grep -q "another-process" "$WORK/seen" || { cat "$WORK/seen"; fail "the shim served a stale listing"; }
ok "SoftHSM2 changed by another process between two calls: seen through the shim"
