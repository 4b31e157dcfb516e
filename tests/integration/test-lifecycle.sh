#!/bin/sh
# Issue 2: C_Initialize passes the client's locking arguments on, C_Finalize
# finalises, re-initialisation works (with a configuration or backend file
# changed in between: read and loaded again), a forked child initialises anew, and a
# missing or unloadable backend or a bad configuration gives
# CKR_GENERAL_ERROR with one clear line on stderr and in the trace.
. "$top_srcdir/tests/integration/lib.sh"
need "$SOFTHSM2_UTIL" "$SOFTHSM2_MODULE" python3
CLIENT="$top_builddir/tests/integration/client-lifecycle"

softhsm_init "$WORK"
export SOFTHSM2_CONF="$WORK/softhsm2.conf"
shim_conf "$WORK/p11shim.conf" "$SOFTHSM2_MODULE" "$WORK/trace.jsonl"
export P11SHIM_CONF="$WORK/p11shim.conf"

"$CLIENT" "$SHIM_MODULE" locking || fail "locking and lifecycle"
"$CLIENT" "$SHIM_MODULE" fork || fail "fork"
json_lines "$WORK/trace.jsonl" >/dev/null || fail "trace is not JSON Lines"
grep -q '"fn":"C_Initialize","args":{"pInitArgs":{"flags":\["CKF_OS_LOCKING_OK"\]' "$WORK/trace.jsonl" ||
	fail "C_Initialize's locking flags are not traced"
grep -q '"CreateMutex":"set"' "$WORK/trace.jsonl" || fail "mutex callbacks are not traced"

# The backend and the configuration are kept from one C_Initialize to the
# next, but only while their files are the same: a client that initialises,
# finalises, waits while the test changes a file, and initialises again.
# cycle_with CHANGE ARGS...: runs p11call ARGS (holding one `wait`), runs the
# shell command CHANGE once the first C_Finalize is printed, then lets it go on.
cycle_with() {
	change=$1
	shift
	rm -f "$WORK/go"
	mkfifo "$WORK/go"
	"$top_builddir/tests/integration/p11call" "$SHIM_MODULE" "$@" <"$WORK/go" >"$WORK/cycle.out" 2>&1 &
	cpid=$!
	exec 3>"$WORK/go"
	n=0
	until grep -q '^fin:' "$WORK/cycle.out"; do
		n=$((n + 1))
		[ $n -lt 600 ] || { kill "$cpid"; fail "the client never got to its first C_Finalize"; }
		sleep 0.1
	done
	eval "$change"
	echo go >&3
	exec 3>&-
	wait "$cpid" || true
}

shim_conf "$WORK/p11shim.conf" "$SOFTHSM2_MODULE" "$WORK/cycle-first.jsonl"
cycle_with 'shim_conf "$WORK/p11shim.conf" "$SOFTHSM2_MODULE" "$WORK/cycle-after-change.jsonl"' \
	init , slots , fin , wait , init , slots , fin
[ "$(grep -c ': CKR_OK' "$WORK/cycle.out")" = 6 ] || { cat "$WORK/cycle.out"; fail "config change: a call failed"; }
grep -q '"fn":"C_Initialize"' "$WORK/cycle-after-change.jsonl" ||
	fail "a configuration changed between C_Finalize and C_Initialize was not read again"
[ "$(grep -c '"fn":"C_Initialize"' "$WORK/cycle-first.jsonl")" = 1 ] ||
	fail "the second C_Initialize still traced to the file of the old configuration"
ok "a configuration file changed after C_Finalize is read again at the next C_Initialize"

cp "$SOFTHSM2_MODULE" "$WORK/backend.so"
shim_conf "$WORK/p11shim.conf" "$WORK/backend.so" "$WORK/cycle-backend.jsonl"
cycle_with 'printf "not a module\n" >"$WORK/backend.new" && mv "$WORK/backend.new" "$WORK/backend.so"' \
	init , slots , fin , wait , init , fin
grep -q '^init: CKR_GENERAL_ERROR' "$WORK/cycle.out" ||
	{ cat "$WORK/cycle.out"; fail "a backend file replaced after C_Finalize was not loaded again"; }
grep -q 'not a shared library' "$WORK/cycle.out" || { cat "$WORK/cycle.out"; fail "replaced backend: no error line"; }
cp "$SOFTHSM2_MODULE" "$WORK/backend.so"
cycle_with 'cp "$SOFTHSM2_MODULE" "$WORK/backend.new" && mv "$WORK/backend.new" "$WORK/backend.so"' \
	init , slots , fin , wait , init , slots , fin
[ "$(grep -c ': CKR_OK' "$WORK/cycle.out")" = 6 ] ||
	{ cat "$WORK/cycle.out"; fail "a backend replaced by another copy of itself does not initialise"; }
ok "a backend file replaced after C_Finalize is checked and loaded again at the next C_Initialize"

# expect_init_error NAME PATTERN: C_Initialize fails with CKR_GENERAL_ERROR
# and one stderr line matching PATTERN, also found as a trace note.
expect_init_error() {
	name=$1 pattern=$2
	rv=$("$CLIENT" "$SHIM_MODULE" init 2>"$WORK/stderr")
	[ "$rv" = CKR_GENERAL_ERROR ] || fail "$name: C_Initialize gave $rv"
	[ "$(wc -l <"$WORK/stderr")" = 1 ] || { cat "$WORK/stderr"; fail "$name: not one line on stderr"; }
	grep -q -E "$pattern" "$WORK/stderr" || { cat "$WORK/stderr"; fail "$name: stderr does not say $pattern"; }
	ok "$name: $(cat "$WORK/stderr")"
}

shim_conf "$WORK/p11shim.conf" /nonexistent/libmissing.so "$WORK/t2.jsonl"
expect_init_error "missing backend" '^p11shim: backend: cannot load /nonexistent/libmissing.so: not found \(set by .*p11shim.conf:2 \[backend\] PKCS11Library\)$'
grep -q '"notes":\["backend: cannot load /nonexistent/libmissing.so: not found' "$WORK/t2.jsonl" ||
	fail "the missing backend is not noted in the trace"

# A 32-bit i386 ELF header where a 64-bit module is expected (and the reverse on i386).
python3 - "$SOFTHSM2_MODULE" "$WORK/other-arch.so" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read(64))
if b[4] == 2:
    b[4], b[18], b[19] = 1, 3, 0      # ELFCLASS32, EM_386
else:
    b[4], b[18], b[19] = 2, 62, 0     # ELFCLASS64, EM_X86_64
open(sys.argv[2], "wb").write(b)
PY
shim_conf "$WORK/p11shim.conf" "$WORK/other-arch.so" "$WORK/t3.jsonl"
expect_init_error "other word size" 'wrong architecture: ELF (32-bit i386|64-bit x86-64), the shim is (64|32)-bit'

printf 'not a module\n' >"$WORK/text.so"
shim_conf "$WORK/p11shim.conf" "$WORK/text.so" "$WORK/t4.jsonl"
expect_init_error "not an ELF file" 'not a shared library'

# A library of the shim's own word size and machine (as SoftHSM2's), so
# that the check reached is the missing symbol, not the architecture.
elf_id() { od -An -tx1 -j4 -N1 "$1"; od -An -tx1 -j18 -N2 "$1"; }
for lib in /lib/*/libz.so.1 /usr/lib/*/libz.so.1 /lib/*/libm.so.6 /usr/lib32/libm.so.6; do
	[ -e "$lib" ] && [ "$(elf_id "$lib")" = "$(elf_id "$SOFTHSM2_MODULE")" ] && break
done
shim_conf "$WORK/p11shim.conf" "$lib" "$WORK/t5.jsonl"
expect_init_error "no C_GetFunctionList" "does not export C_GetFunctionList: not a PKCS#11 module"

printf '[backend]\nPKCS11Library = %s\n[trace]\nFormat = xml\n' "$SOFTHSM2_MODULE" >"$WORK/p11shim.conf"
expect_init_error "bad config value" "p11shim: config: $WORK/p11shim.conf:4: \[trace\] Format = 'xml' is not valid; use one of: jsonl\|text"

printf '[backend]\nPKCS11Libary = x\n' >"$WORK/p11shim.conf"
expect_init_error "unknown key" "p11shim.conf:2: unknown key 'PKCS11Libary' in section \[backend\]; known keys: PKCS11Library"

unset P11SHIM_CONF
P11SHIM_CONF="$WORK/nonexistent.conf" expect_init_error "missing P11SHIM_CONF file" "nonexistent.conf: cannot read the configuration: No such file or directory; fix P11SHIM_CONF"

# Quick use without a file: P11SHIM_LIBRARY and P11SHIM_TRACE.
P11SHIM_CONF="$WORK/empty.conf"
: >"$WORK/empty.conf"
export P11SHIM_CONF
rv=$(P11SHIM_LIBRARY="$SOFTHSM2_MODULE" P11SHIM_TRACE="$WORK/env-%p.jsonl" "$CLIENT" "$SHIM_MODULE" init)
[ "$rv" = CKR_OK ] || fail "P11SHIM_LIBRARY: $rv"
ls "$WORK"/env-*.jsonl >/dev/null 2>&1 || fail "P11SHIM_TRACE with %p made no file"
ok "P11SHIM_LIBRARY and P11SHIM_TRACE (with %p) work without a file"

# Calls before C_Initialize are said in its record; a second C_Initialize,
# answered by the shim, has a record of its own; a token label that is not
# UTF-8 (Latin-1 "Carte é", byte 0xe9) keeps its bytes beside the text.
mkdir -p "$WORK/latin1/tokens"
printf 'directories.tokendir = %s/latin1/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
	"$WORK" >"$WORK/latin1/softhsm2.conf"
SOFTHSM2_CONF="$WORK/latin1/softhsm2.conf" "$SOFTHSM2_UTIL" --init-token --free --label "$(printf 'Carte \351')" \
	--pin "$USER_PIN" --so-pin "$SO_PIN" >/dev/null
shim_conf "$WORK/latin1/p11shim.conf" "$SOFTHSM2_MODULE" "$WORK/latin1/trace.jsonl"
slot=$(SOFTHSM2_CONF="$WORK/latin1/softhsm2.conf" "$P11CALL" "$SOFTHSM2_MODULE" init , slots present , fin |
	sed -n 's/^slots: CKR_OK count=[0-9]* \([0-9]*\).*/\1/p')
[ -n "$slot" ] || fail "no SoftHSM2 token slot"
out=$(SOFTHSM2_CONF="$WORK/latin1/softhsm2.conf" P11SHIM_CONF="$WORK/latin1/p11shim.conf" \
	p11call_shim slots , info , init , init , tokeninfo "$slot" , fin)
expect "$out" "slots: CKR_CRYPTOKI_NOT_INITIALIZED"
expect "$out" "init: CKR_CRYPTOKI_ALREADY_INITIALIZED"
t=$WORK/latin1/trace.jsonl
json_lines "$t" >/dev/null || fail "the trace is not JSON Lines"
[ "$(grep -c '"fn":"C_Initialize"' "$t")" = 2 ] || { cat "$t"; fail "expected two C_Initialize records"; }
grep '"fn":"C_Initialize"' "$t" | head -1 | grep -q -F '"rv":"CKR_OK"' || fail "first C_Initialize"
grep '"fn":"C_Initialize"' "$t" | head -1 |
	grep -q -F '"notes":["2 call(s) before C_Initialize, answered CKR_CRYPTOKI_NOT_INITIALIZED (the first: C_GetSlotList)"]' ||
	{ head -1 "$t"; fail "the calls before C_Initialize are not said"; }
grep '"fn":"C_Initialize"' "$t" | tail -1 | grep -q -F '"rv":"CKR_CRYPTOKI_ALREADY_INITIALIZED"' ||
	{ cat "$t"; fail "the second C_Initialize is not traced"; }
grep -q -F '"label":"Carte \ufffd","label_hex":"436172746520e9"' "$t" ||
	{ grep C_GetTokenInfo "$t"; fail "the Latin-1 label's bytes are not in the trace"; }
ok "calls before C_Initialize counted in its record; a second C_Initialize traced; a Latin-1 label kept as hex"
