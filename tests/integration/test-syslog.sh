#!/bin/sh
# Policy events in the system log ([log] System): each refusal of the
# README's security model and each policy action is one line from the ident
# p11shim, with its event id, slot, rule and fix, and never a secret. The
# test runs in a private mount namespace (unshare -m) with its own /dev,
# where a small receiver owns /dev/log, as syslogd or journald would.
if [ -z "${P11SHIM_TEST_NS:-}" ]; then
	if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null || ! unshare -m true 2>/dev/null; then
		. "$top_srcdir/tests/integration/lib.sh"
		skip_or_fail "unshare -m (root) is needed to capture /dev/log"
	fi
	P11SHIM_TEST_NS=1 exec unshare -m "$0" "$@"
fi
. "$top_srcdir/tests/integration/lib.sh"
need "$SOFTHSM2_UTIL" "$SOFTHSM2_MODULE" python3 openssl mknod
LIFECYCLE="$top_builddir/tests/integration/client-lifecycle"
ERASER="$top_builddir/tests/integration/client-eraser"
LOG="$WORK/syslog.txt"
umask 022

# A /dev of our own: the devices the clients use, and /dev/log.
mount -t tmpfs -o mode=755 p11shim-test-dev /dev
for d in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9"; do
	set -- $d
	mknod -m 666 "/dev/$1" c "$2" "$3"
done
ln -s /proc/self/fd /dev/fd
: >"$LOG"
python3 - "$LOG" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
with open(sys.argv[1], "ab", buffering=0) as out:
    while True:
        out.write(s.recv(65536).rstrip(b"\n") + b"\n")
PY
RECEIVER=$!
trap 'kill $RECEIVER 2>/dev/null; cleanup' EXIT
while [ ! -S /dev/log ]; do sleep 0.1; done

# logged NAME PATTERN: a line matching PATTERN (grep -E) arrives (the
# receiver writes each datagram as it comes: wait for it, at most 20 s).
logged() {
	i=0
	until grep -Eq -- "$2" "$LOG"; do
		i=$((i + 1))
		[ $i -lt 200 ] || { cat "$LOG"; fail "$1: no system log line like: $2"; }
		sleep 0.1
	done
	ok "$1: $(grep -E -- "$2" "$LOG" | tail -1 | cut -c1-220)"
}
# count PATTERN: how many lines match.
count() { grep -Ec -- "$1" "$LOG" || true; }
# settle: every line sent so far has arrived (the socket keeps their order:
# a marker sent now arrives after them).
settle() {
	marks=$((${marks:-0} + 1))
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(sys.argv[1].encode(), "/dev/log")' "test-mark $marks"
	logged "mark $marks" "^test-mark $marks\$" >/dev/null
}
HEAD='^<[0-9]+>[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} p11shim\[[0-9]+\]: '

softhsm_init "$WORK/hsm"
export SOFTHSM2_CONF="$WORK/hsm/softhsm2.conf"
LIB=$(readlink -f "$SOFTHSM2_MODULE")
C="$WORK/p11shim.conf"
export P11SHIM_CONF="$C"
init() { "$LIFECYCLE" "$SHIM_MODULE" init 2>>"$WORK/stderr"; }

# ---- refusals: logged with the default, [log] System = on ----
shim_conf "$C" "$LIB" "$WORK/t.jsonl"
chmod 664 "$C"
[ "$(init)" = CKR_GENERAL_ERROR ] || fail "a group-writable configuration was accepted"
logged "configuration others can write" \
	"${HEAD}event=101 refused area=config: $C: its group can write the configuration file \(mode 0664\), so the shim refuses it; fix: chmod go-w $C\$"
chmod 600 "$C"

mkdir -m 777 "$WORK/open"
cp "$LIB" "$WORK/open/backend.so"
shim_conf "$C" "$WORK/open/backend.so" "$WORK/t.jsonl"
[ "$(init)" = CKR_GENERAL_ERROR ] || fail "a backend in a world-writable folder was accepted"
logged "backend library others can replace" \
	"${HEAD}event=102 refused area=backend: .*$WORK/open.*fix: chmod go-w $WORK/open"

printf '[backend]\nPKCS11Library = ${LIB}\n' >"$C"
[ "$(init)" = CKR_GENERAL_ERROR ] || fail "a mapped library path was accepted"
logged "mapped field as a library path" "${HEAD}event=101 refused area=config: $C:2: .*PKCS11Library"

printf 'not a module\n' >"$WORK/fake.so"
shim_conf "$C" "$WORK/fake.so" "$WORK/t.jsonl"
[ "$(init)" = CKR_GENERAL_ERROR ] || fail "a text file was loaded as backend"
logged "backend that is not a shared library" "${HEAD}event=102 refused area=backend: cannot load $WORK/fake.so: "

# The middleware of the other word size (a 64-bit personal.dll for the 32-bit shim).
python3 - "$LIB" "$WORK/other-arch.so" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read(64))
if b[4] == 2:
    b[4], b[18], b[19] = 1, 3, 0      # ELFCLASS32, EM_386
else:
    b[4], b[18], b[19] = 2, 62, 0     # ELFCLASS64, EM_X86_64
open(sys.argv[2], "wb").write(b)
PY
shim_conf "$C" "$WORK/other-arch.so" "$WORK/t.jsonl"
[ "$(init)" = CKR_GENERAL_ERROR ] || fail "a backend of the other word size was accepted"
logged "backend of the other word size" "${HEAD}event=102 refused area=backend: cannot load $WORK/other-arch.so: wrong architecture: ELF (32-bit i386|64-bit x86-64), the shim is (64|32)-bit"

shim_conf "$C" "$LIB" "$WORK/t.jsonl" "Format = xml"
[ "$(init)" = CKR_GENERAL_ERROR ] || fail "a bad configuration was accepted"
logged "configuration with an error" "${HEAD}event=101 refused area=config: $C:5: \[trace\] Format = 'xml' is not valid; use one of: jsonl\|text\$"

ln -s "$WORK/elsewhere.jsonl" "$WORK/link.jsonl"
shim_conf "$C" "$LIB" "$WORK/link.jsonl"
[ "$(init)" = CKR_OK ] || fail "a trace through a link stopped the calls"
logged "trace path that is a symbolic link" "${HEAD}event=111 warning area=trace: cannot open $WORK/link.jsonl: .*Calls go on without a trace"

# A corrupt number-range state file: C_InitToken refused, naming the slot.
printf 'garbage\n' >"$WORK/range.state"
chmod 600 "$WORK/range.state"
shim_conf "$C" "$LIB" "$WORK/t.jsonl" "[serial]" "InitToken = true" "NumberRange = 000100-000199" \
	"NumberRangeState = $WORK/range.state"
slot=$("$P11CALL" "$SOFTHSM2_MODULE" init , slots , fin | sed -n 's/^slots: CKR_OK count=[0-9]* \([0-9]*\).*/\1/p')
out=$(P11CALL_PIN=$SO_PIN p11call_shim init , inittoken "$slot" card , fin 2>>"$WORK/stderr")
expect "$out" "inittoken: CKR_GENERAL_ERROR"
logged "number-range state file corrupt" "${HEAD}event=106 refused area=serial slot=$slot: C_InitToken refused, nothing written: .*$WORK/range.state"

# The middleware's pitfalls, with the Personal simulator: caching on, a PUK change.
sim_setup basic.ini 5.7.1
printf '[Cache]\nCacheValidity = 3600\n' >"$SIM_DIR/Personal.cfg"
sim_conf "$C" "$WORK/t.jsonl"
[ "$(init)" = CKR_GENERAL_ERROR ] || fail "caching on was accepted"
logged "middleware caching on" "${HEAD}event=103 refused area=middleware: refused: card caching is on: .*set \[Cache\] CacheValidity = 0 there"
printf '[Cache]\nCacheValidity = 0\n' >"$SIM_DIR/Personal.cfg"
out=$(P11CALL_PIN=$SIM_PUK P11CALL_OLD=$SIM_PUK P11CALL_NEW=13572468 \
	p11call_shim init , open 1 rw , login so , setpin , fin 2>>"$WORK/stderr")
expect "$out" "setpin: CKR_FUNCTION_NOT_SUPPORTED"
settle
logged "PUK change refused" "${HEAD}event=105 refused area=puk slot=1: PUK change refused before the card is touched: Personal 5.7.1 .*cannot change the PUK"
[ "$(count 'event=2[0-9][0-9] ')" = 0 ] || fail "policy actions logged with System = on: $(grep 'event=2' "$LOG")"
ok "with [log] System = on (the default) no policy action is logged, though slot 3 was hidden"

# The same refusal again in one process: once per minute, not per call.
shim_conf "$C" "$WORK/fake.so" "$WORK/t.jsonl"
before=$(count "event=102 .*cannot load $WORK/fake.so")
out=$("$P11CALL" "$SHIM_MODULE" init , init , init 2>>"$WORK/stderr")
settle
[ "$(count "event=102 .*cannot load $WORK/fake.so")" = $((before + 1)) ] ||
	fail "a refusal repeated in one process was logged $(($(count "event=102 .*cannot load $WORK/fake.so") - before)) times"
ok "a refusal repeated three times in one process: one line"

# ---- [log] System = off: nothing ----
printf '[Cache]\nCacheValidity = 7200\n' >"$SIM_DIR/Personal.cfg"
sim_conf "$C" "$WORK/t.jsonl" "[log]" "System = off"
[ "$(init)" = CKR_GENERAL_ERROR ] || fail "caching on was accepted"
settle
[ "$(count 'CacheValidity = 7200')" = 0 ] || fail "System = off logged: $(grep 7200 "$LOG")"
ok "[log] System = off: a refusal stays on stderr and in the trace only"
printf '[Cache]\nCacheValidity = 0\n' >"$SIM_DIR/Personal.cfg"

# ---- [log] System = all: the policy actions too ----
sim_conf "$C" "$WORK/t.jsonl" "[log]" "System = all"
out=$(P11CALL_PIN=$SIM_PUK p11call_shim init , slots , open 1 rw , login puk , fin 2>>"$WORK/stderr")
expect "$out" "login puk: CKR_OK"
logged "reader hidden" "${HEAD}event=201 action area=readers slot=3: slot 3 'Microsoft Virtual Smart Card 0' hidden by SkipReader 'Microsoft Virtual Smart Card .\*' \(default\)"
logged "SO login mapped" "${HEAD}event=202 action area=login: CKU_P11SHIM_PUK sent as CKU_SO: the PUK is the SO credential \(\[login\] OperatorPinIsSOCredential = false\)"

shim_conf "$C" "$LIB" "$WORK/t.jsonl" "[serial]" "InitToken = true" "CMSCardSerialNumber = 004711" \
	"[eraser]" "CardEraser = true" "[log]" "System = all"
out=$(P11CALL_PIN=$SO_PIN p11call_shim init , inittoken "$slot" card , fin 2>>"$WORK/stderr")
expect "$out" "inittoken: CKR_OK"
logged "serial applied" "${HEAD}event=203 action area=serial slot=$slot: card serial 004711 written to the token in slot $slot"
out=$(P11CALL_PIN=$SO_PIN P11CALL_NEW=$USER_PIN p11call_shim init , open "$slot" rw , login so , initpin , fin 2>>"$WORK/stderr")
expect "$out" "initpin: CKR_OK"
out=$(CLIENT_PIN=$USER_PIN "$ERASER" "$SHIM_MODULE" init , open "$slot" rw , login user , erasers , destroy , fin 2>>"$WORK/stderr")
expect "$out" "destroy: CKR_OK"
logged "Card Eraser used" "${HEAD}event=204 action area=eraser slot=$slot: slot $slot erased with the user PIN: "

no_secrets "$LOG"
for s in "$SIM_PIN" "$SIM_PUK" "$SIM_OPERATOR_PIN" 13572468; do
	grep -q "$s" "$LOG" && fail "a secret in the system log"
done
grep -v '^test-mark ' "$LOG" >"$WORK/shim.log"
[ "$(grep -Evc "$HEAD" "$WORK/shim.log")" = 0 ] || fail "lines not from p11shim: $(grep -Ev "$HEAD" "$WORK/shim.log")"
ok "$(wc -l <"$WORK/shim.log") lines, each from the ident p11shim with its pid, none with a PIN or PUK"
