#!/bin/sh
# Issue 2: pkcs11-tool through the shim cannot tell it from SoftHSM2 except
# by the trace. Each scenario runs twice from the same token snapshot, once
# on SoftHSM2 directly and once through the shim, and the outputs must be
# the same (long hex strings, which hold fresh keys and signatures, are
# masked). The shim's trace must hold every call pkcs11-tool made, in order
# (pkcs11-spy in front of the shim records what the client called), and
# none of the PINs.
. "$top_srcdir/tests/integration/lib.sh"
need "$PKCS11_TOOL" "$SOFTHSM2_UTIL" "$SOFTHSM2_MODULE" openssl python3
# PKCS11_SPY: the spy of the client's word size (scripts/check i386 sets it).
SPY=${PKCS11_SPY:-$(dirname "$(readlink -f "$(command -v "$PKCS11_TOOL")")")/../lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/pkcs11/pkcs11-spy.so}
[ -f "$SPY" ] || SPY=/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so
need "$SPY"

softhsm_init "$WORK/seed"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/cert.key" \
	-subj "/CN=p11shim test/serialNumber=0001" -days 30 -outform DER -out "$WORK/cert.der" 2>/dev/null
printf 'p11shim data object\n' >"$WORK/data.bin"
printf 'to be signed\n' >"$WORK/msg"

# run_side SIDE SCENARIO: runs one scenario on a fresh copy of the seed store.
run_side() {
	side=$1 scen=$2
	dir="$WORK/$side-$scen"
	rm -rf "$dir"
	cp -a "$WORK/seed" "$dir"
	sed -i "s|$WORK/seed|$dir|" "$dir/softhsm2.conf"
	export SOFTHSM2_CONF="$dir/softhsm2.conf"
	if [ "$side" = shim ]; then
		shim_conf "$dir/p11shim.conf" "$SOFTHSM2_MODULE" "$dir/trace.jsonl"
		export P11SHIM_CONF="$dir/p11shim.conf"
		# pkcs11-spy in front of the shim records what pkcs11-tool called.
		export PKCS11SPY="$SHIM_MODULE" PKCS11SPY_OUTPUT="$dir/spy.log"
		mod=$SPY
	else
		unset P11SHIM_CONF PKCS11SPY PKCS11SPY_OUTPUT 2>/dev/null || true
		mod=$SOFTHSM2_MODULE
	fi
	t() {
		rc=0
		"$PKCS11_TOOL" --module "$mod" "$@" 2>&1 || rc=$?
		echo "exit $rc"
	}
	case $scen in
	info) t -I; t -L; t -T; t -M ;;
	test) t --test --login --pin "$USER_PIN" ;;
	ec)
		t --login --pin "$USER_PIN" --keypairgen --key-type EC:prime256v1 --id 10 --label ec1
		t --login --pin "$USER_PIN" --sign -m ECDSA --id 10 -i "$WORK/msg" -o "$dir/sig"
		t --login --pin "$USER_PIN" --verify -m ECDSA --id 10 -i "$WORK/msg" --signature-file "$dir/sig"
		t --login --pin "$USER_PIN" -O ;;
	rsa)
		t --login --pin "$USER_PIN" --keypairgen --key-type rsa:2048 --id 20 --label rsa1
		t --login --pin "$USER_PIN" --sign -m SHA256-RSA-PKCS --id 20 -i "$WORK/msg" -o "$dir/sig"
		t --login --pin "$USER_PIN" --verify -m SHA256-RSA-PKCS --id 20 -i "$WORK/msg" --signature-file "$dir/sig"
		t --login --pin "$USER_PIN" -O ;;
	objects)
		t --login --pin "$USER_PIN" --write-object "$WORK/cert.der" --type cert --id 30 --label cert1
		t --login --pin "$USER_PIN" --write-object "$WORK/data.bin" --type data --label data1
		t --login --pin "$USER_PIN" -O
		t --login --pin "$USER_PIN" --read-object --type data --label data1
		t --login --pin "$USER_PIN" --delete-object --type cert --id 30
		t --login --pin "$USER_PIN" --delete-object --type data --label data1
		t --login --pin "$USER_PIN" -O ;;
	pin)
		t --login --pin "$USER_PIN" --change-pin --new-pin "$USER_PIN2"
		t --login --pin "$USER_PIN" -O # the old PIN: must fail the same way
		t --login --pin "$USER_PIN2" --change-pin --new-pin "$USER_PIN"
		t --login --pin "$USER_PIN" -O ;;
	esac >"$dir/out.raw"
	normalize "$dir/out.raw" >"$dir/out"
}

# Mask what is fresh in every run (long hex strings: keys, signatures; the
# object handle pkcs11-tool prints for data objects) and sort object
# listings: SoftHSM2 lists objects in no fixed order.
normalize() {
	python3 - "$1" <<'PY'
import re, sys
def mask(l):
    l = re.sub(r"[0-9a-fA-F:]{16,}", "<hex>", l.rstrip("\n"))
    return re.sub(r"^Data object \d+", "Data object #", l)
lines = [mask(l) for l in open(sys.argv[1])]
out, blocks = [], []
def flush():
    out.extend(l for b in sorted(blocks) for l in b)
    blocks.clear()
for l in lines:
    if " Object; " in l or l.startswith(("Certificate Object", "Data object")):
        blocks.append([l])
    elif blocks and l.startswith(" "):
        blocks[-1].append(l)
    else:
        flush()
        out.append(l)
flush()
print("\n".join(out))
PY
}

for scen in info test ec rsa objects pin; do
	run_side direct "$scen"
	run_side shim "$scen"
	if ! diff -u "$WORK/direct-$scen/out" "$WORK/shim-$scen/out"; then
		fail "$scen: pkcs11-tool saw a difference through the shim"
	fi
	failed=$(grep -c "^exit [1-9]" "$WORK/direct-$scen/out" || true)
	expected=0
	[ "$scen" = pin ] && expected=1
	[ "$failed" = "$expected" ] || fail "$scen: $failed pkcs11-tool commands failed on SoftHSM2, expected $expected"

	dir="$WORK/shim-$scen"
	n=$(json_lines "$dir/trace.jsonl") || fail "$scen: the trace is not JSON Lines"
	# Calls the client made (the interface queries are answered by the
	# shim's entry points, not traced) against the trace, in order.
	grep -E '^[0-9]+: C_' "$dir/spy.log" | sed 's/^[0-9]*: //' |
		grep -v -E '^C_(GetInterface|GetInterfaceList|GetFunctionList)$' >"$dir/called"
	python3 -c '
import json, sys
for l in open(sys.argv[1]): print(json.loads(l)["fn"])' "$dir/trace.jsonl" >"$dir/traced"
	diff -u "$dir/called" "$dir/traced" || fail "$scen: the trace does not hold every call in order"
	no_secrets "$dir/trace.jsonl"
	[ "$(stat -c %a "$dir/trace.jsonl")" = 600 ] || fail "$scen: trace file is not mode 0600"
	ok "$scen: same output direct and through the shim; $n calls traced in order, no PIN"
done

grep -q '"fn":"C_Login","args":{"hSession":[0-9]*,"userType":"CKU_USER","pPin":"<redacted 6 bytes>"}' \
	"$WORK/shim-ec/trace.jsonl" || fail "C_Login is not traced with the PIN redacted"
grep -q '"mechanism":"CKM_EC_KEY_PAIR_GEN"' "$WORK/shim-ec/trace.jsonl" ||
	fail "the key generation mechanism is not traced by name"
grep -q '"fn":"C_SetPIN".*"pOldPin":"<redacted 6 bytes>","pNewPin":"<redacted 8 bytes>"' \
	"$WORK/shim-pin/trace.jsonl" || fail "C_SetPIN is not traced with both PINs redacted"
ok "constants by name and secrets redacted"
