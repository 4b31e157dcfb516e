#!/bin/sh
# Issue 2: Java through the shim (the real encoder is a Java program that
# never calls C_Finalize): keytool -list on the token, and a Java program
# that logs in, generates an EC key pair on the token, signs and verifies.
. "$top_srcdir/tests/integration/lib.sh"
need "$PKCS11_TOOL" "$SOFTHSM2_UTIL" "$SOFTHSM2_MODULE" java javac keytool python3

softhsm_init "$WORK"
export SOFTHSM2_CONF="$WORK/softhsm2.conf"
"$PKCS11_TOOL" --module "$SOFTHSM2_MODULE" --login --pin "$USER_PIN" --keypairgen \
	--key-type EC:prime256v1 --label javakey --id 42 >/dev/null 2>&1 || fail "key generation"
shim_conf "$WORK/p11shim.conf" "$SOFTHSM2_MODULE" "$WORK/trace.jsonl"
export P11SHIM_CONF="$WORK/p11shim.conf"
printf 'name = p11shim\nlibrary = %s\nslotListIndex = 0\n' "$SHIM_MODULE" >"$WORK/sunpkcs11.cfg"

TEST_PIN=$USER_PIN keytool -list -keystore NONE -storetype PKCS11 -providerName SunPKCS11-p11shim \
	-addprovider SunPKCS11 -providerArg "$WORK/sunpkcs11.cfg" -storepass:env TEST_PIN \
	>"$WORK/keytool.out" 2>&1 </dev/null || { cat "$WORK/keytool.out"; fail "keytool -list"; }
grep -q "Keystore type: PKCS11" "$WORK/keytool.out" || fail "keytool did not read the token"
ok "keytool -list through the shim"

javac -d "$WORK" "$top_srcdir/tests/integration/ShimJava.java" || fail "javac"
TEST_PIN=$USER_PIN java -cp "$WORK" ShimJava "$WORK/sunpkcs11.cfg" || fail "Java through the shim"

records=$(json_lines "$WORK/trace.jsonl") || fail "trace is not JSON Lines"
grep -q '"fn":"C_GenerateKeyPair".*"rv":"CKR_OK"' "$WORK/trace.jsonl" || fail "no key generation traced"
grep -q '"fn":"C_Sign".*"rv":"CKR_OK"' "$WORK/trace.jsonl" || fail "no signature traced"
grep -q '"fn":"C_Finalize"' "$WORK/trace.jsonl" && fail "Java called C_Finalize? (it never does)"
no_secrets "$WORK/trace.jsonl" "$WORK/keytool.out"
ok "$records calls traced from Java, no PIN"
