#!/bin/sh
# Issue 2: 8 threads, each with its own session, 500 signs each through the
# shim with the trace on: every call succeeds, and the trace has exactly
# one well-formed record per call.
. "$top_srcdir/tests/integration/lib.sh"
need "$PKCS11_TOOL" "$SOFTHSM2_UTIL" "$SOFTHSM2_MODULE" python3

softhsm_init "$WORK"
export SOFTHSM2_CONF="$WORK/softhsm2.conf"
"$PKCS11_TOOL" --module "$SOFTHSM2_MODULE" --login --pin "$USER_PIN" --keypairgen \
	--key-type EC:prime256v1 --label tkey >/dev/null 2>&1 || fail "key generation"
shim_conf "$WORK/p11shim.conf" "$SOFTHSM2_MODULE" "$WORK/trace.jsonl"
export P11SHIM_CONF="$WORK/p11shim.conf"

out=$(TEST_PIN=$USER_PIN "$top_builddir/tests/integration/client-threads" "$SHIM_MODULE" 8 500 tkey) ||
	fail "threaded client: $out"
calls=${out%% calls*}
records=$(json_lines "$WORK/trace.jsonl") || fail "a trace record is broken"
[ "$records" = "$calls" ] || fail "$calls calls but $records trace records"
errors=$(grep -c -v '"rv":"CKR_OK"' "$WORK/trace.jsonl" || true)
[ "$errors" = 0 ] || fail "$errors traced calls did not return CKR_OK"
threads=$(python3 -c '
import json, sys
print(len({json.loads(l)["tid"] for l in open(sys.argv[1])}))' "$WORK/trace.jsonl")
[ "$threads" -ge 9 ] || fail "records from $threads threads, expected 9"
no_secrets "$WORK/trace.jsonl"
ok "8 threads x 500 signs: $calls calls, $records whole records from $threads threads"
