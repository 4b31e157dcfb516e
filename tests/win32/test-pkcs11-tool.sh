#!/bin/bash
# A third-party Windows client through p11shim.dll under Wine (issue 12):
# OpenSC's pkcs11-tool.exe, built from Debian's opensc source package by
# scripts/win32-deps.sh (static, no OpenSSL), in front of the Windows
# personal-sim with the fixture tests/personal-sim/fixtures/basic.ini.
#
#   WIN_PKCS11_TOOL=.../pkcs11-tool.exe tests/win32/test-pkcs11-tool.sh BUILDDIR WINE
#
# (test-win32.sh sets WIN_PKCS11_TOOL from BUILDDIR/../deps.env.) Each run
# has a trace of its own; what a user would check:
# 1. -I: exit 0, the library the simulator says it is (Nexus Group,
#    Personal 5.7.2, Cryptoki 2.40).
# 2. -L and -T: exactly the fixture's readers that no SkipReader pattern
#    hides, each with its ID (2N+1), reader name and, where the fixture puts
#    a card, its label, model and serial; -T without the empty reader. Hidden:
#    slot 3 and 5 by the shim's default patterns (Microsoft Virtual Smart
#    Card, Windows Hello for Business), slot 11 by the SkipReader line of
#    the middleware's Personal.cfg. A hidden reader's name is nowhere.
# 3. Login with the PIN, an RSA-2048 key pair generated, the objects listed
#    after login (the key pair and CardOS's native Card Eraser), a sign with
#    RSA-PKCS (256 bytes out).
# 4. --slot 11 (hidden): pkcs11-tool fails with CKR_SLOT_ID_INVALID.
# 5. Every clean run's trace: `p11shim.exe trace summary` counts the calls
#    pkcs11-tool made (the functions of that action) with no failure other
#    than client probing; `trace diagnose` exits 0 with no warning or error
#    (the hidden virtual readers are one "info" finding, as designed); the
#    failing run of 4 is diagnosed (exit 1, the call named). No trace holds
#    the PIN.
# Exit 0 only when all passed; 77 when pkcs11-tool.exe is not there
# (outside CI).
set -u

. "$(dirname "$0")/wine-lib.sh"
TOOL=${WIN_PKCS11_TOOL:-}
if [ -z "$TOOL" ] || [ ! -f "$TOOL" ]; then
	echo "test-pkcs11-tool: no pkcs11-tool.exe (WIN_PKCS11_TOOL='$TOOL'; scripts/win32-deps.sh builds it)"
	[ "${CI:-}" = true ] && exit 1
	exit 77
fi
FIXTURE=$SRC/tests/personal-sim/fixtures/basic.ini
PIN=246813 # basic.ini's

T="$WINEPREFIX/drive_c/p11shim pkcs11-tool"
W='C:\p11shim pkcs11-tool'
rm -rf "$T"
mkdir -p "$T/sim" "$T/trace"
cp "$DLL" "$T/p11shim.dll"
cp "$SIM" "$T/sim/personal.dll"
cp "$TOOL" "$T/pkcs11-tool.exe"
cp "$(exe "$BUILD/src/tool/p11shim.exe")" "$T/p11shim.exe"
cp "$FIXTURE" "$SRC/tests/personal-sim/fixtures/Personal-nocache.cfg" "$T/sim/"
# The middleware's files, as an encoding station has them: caching off, a
# SkipReader line of its own, a PIN-encryption certificate (a dummy).
printf '[Cache]\r\nCacheValidity=0\r\n[Readers]\r\nSkipReader=Gemalto USB Smart Card Reader .*\r\n' >"$T/Personal.cfg"
openssl req -x509 -newkey rsa:2048 -nodes -keyout /dev/null -out "$T/pinenc.pem" -days 365 \
	-subj "/CN=PIN encryption dummy" >/dev/null 2>&1 || fail "openssl req"
printf '[PIN Encryption]\r\nFile=C:/p11shim pkcs11-tool/pinenc.pem\r\n' >"$T/iD2ppa.cfg"
# The simulator's card state in a file: the key pair outlives the process
# that made it.
export PERSONAL_SIM_CONF="$W\\sim\\basic.ini" PERSONAL_SIM_STATE="$W\\sim\\state"

# tool NAME ARGS...: pkcs11-tool.exe --module p11shim.dll ARGS with a
# configuration and trace of its own (trace\NAME.jsonl); its output in OUT.
tool() {
	local name=$1
	shift
	printf '[backend]\r\n%s = C:/p11shim pkcs11-tool/sim/personal.dll\r\n' "$KEY" >"$T/$name.conf"
	printf '[middleware]\r\nPersonalConfig = C:/p11shim pkcs11-tool/Personal.cfg\r\n' >>"$T/$name.conf"
	printf 'PersonalUserConfig = C:/p11shim pkcs11-tool/no-user-Personal.cfg\r\n' >>"$T/$name.conf"
	printf 'PinEncryptionConfig = C:/p11shim pkcs11-tool/iD2ppa.cfg\r\n' >>"$T/$name.conf"
	printf '[trace]\r\nFile = %s\\trace\\%s.jsonl\r\n' "$W" "$name" >>"$T/$name.conf"
	OUT=$(cd "$T" && P11SHIM_CONF="$W\\$name.conf" run "$name" "$WINE" pkcs11-tool.exe \
	      --module "$W\\p11shim.dll" "$@")
}
# shown: OUT, indented, for the log.
shown() { echo "$OUT" | head -20 | sed 's/^/    | /'; }
# judge STATUS PASS FAIL: PASS when the check's STATUS is 0, else FAIL and OUT.
judge() {
	if [ "$1" = 0 ]; then pass "$2"; else fail "$3"; shown; fi
}

# The fixture's readers, "ID|reader|label|model|serial" (ID 2N+1 for
# [reader.N]; the card fields empty for an empty reader).
fixture_slots() {
	awk -F' *= *' '
	function trim(s) { sub(/[ \t]*([;#].*)?$/, "", s); return s }
	/^\[reader\./ { sec = "r"; n = $0; gsub(/[^0-9]/, "", n); ids[++nr] = 2 * n + 1; next }
	/^\[card\./ { sec = "c"; c = $0; sub(/^\[card\./, "", c); sub(/\].*/, "", c); next }
	/^\[/ { sec = ""; next }
	sec == "r" && $1 == "Name" { name[nr] = trim($2) }
	sec == "r" && $1 == "Card" { card[nr] = trim($2) }
	sec == "c" && $1 == "Label" { label[c] = trim($2) }
	sec == "c" && $1 == "Model" { model[c] = trim($2) }
	sec == "c" && $1 == "SerialNumber" { serial[c] = trim($2) }
	END {
		for (i = 1; i <= nr; i++) {
			k = card[i]
			printf "%d|%s|%s|%s|%s\n", ids[i], name[i], k == "" ? "" : label[k], k == "" ? "" : model[k], k == "" ? "" : serial[k]
		}
	}' "$FIXTURE"
}
# The slots pkcs11-tool printed (-L, -T), in the same form.
printed_slots() {
	echo "$OUT" | awk '
	function flush() { if (id != "") printf "%d|%s|%s|%s|%s\n", id, name, label, model, serial }
	function val(s) { sub(/^[^:]*: /, "", s); return s }
	/^Slot [0-9]+ \(0x[0-9a-f]+\): / {
		flush()
		h = $3; gsub(/[()x:]/, "", h); id = 0
		for (i = 1; i <= length(h); i++) id = id * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
		name = $0; sub(/^Slot [0-9]+ \(0x[0-9a-f]+\): /, "", name)
		label = model = serial = ""
	}
	/^  token label / { label = val($0) }
	/^  token model / { model = val($0) }
	/^  serial num / { serial = val($0) }
	END { flush() }'
}

# SkipReader: 3 and 5 by the shim's defaults, 11 by Personal.cfg's line.
HIDDEN=' 3 5 11 '
want_L=$(fixture_slots | while IFS='|' read -r id rest; do
	case $HIDDEN in *" $id "*) ;; *) echo "$id|$rest" ;; esac
done)
want_T=$(echo "$want_L" | awk -F'|' '$3 != ""')
hidden_names=$(fixture_slots | while IFS='|' read -r id name rest; do
	case $HIDDEN in *" $id "*) echo "$name" ;; esac
done)

# ---- 1. -I ----
say "pkcs11-tool.exe -I through p11shim.dll"
tool info -I
rc=$?
[ $rc -eq 0 ] && echo "$OUT" | grep -qx 'Cryptoki version 2.40' &&
	echo "$OUT" | grep -qx 'Manufacturer     Nexus Group' &&
	echo "$OUT" | grep -qx 'Library          Personal 5.7.2 (ver 5.7)'
judge $? "-I: the simulator's library (Nexus Group, Personal 5.7.2, Cryptoki 2.40)" \
	"-I (exit $rc): not the simulator's library info"

# ---- 2. -L and -T ----
# check_slots NAME WANT: the slots pkcs11-tool printed are WANT exactly.
check_slots() {
	local got h leaked=
	got=$(printed_slots)
	while IFS= read -r h; do
		[ -z "$h" ] || ! echo "$OUT" | grep -qF "$h" || leaked="$leaked '$h'"
	done <<<"$hidden_names"
	if [ $rc -eq 0 ] && [ "$got" = "$2" ] && [ -z "$leaked" ]; then
		pass "$1: slots $(echo "$got" | cut -d'|' -f1 | tr '\n' ' ')as basic.ini defines them, hidden ones absent"
		echo "$got" | sed 's/^/    | /'
	else
		fail "$1 (exit $rc): the slot list differs from basic.ini's${leaked:+; hidden readers shown:$leaked}"
		diff <(echo "$2") <(echo "$got") | sed 's/^/    | /'
	fi
}
say "pkcs11-tool.exe -L and -T: the fixture's slots, less those SkipReader hides"
tool list-slots -L
rc=$?
check_slots "-L" "$want_L"
tool list-token-slots -T
rc=$?
check_slots "-T" "$want_T"

# ---- 3. login, key pair, objects, sign ----
say "pkcs11-tool.exe: login, RSA key pair, objects, sign (slot 9, CardOS 5.3)"
tool keypairgen --slot 9 --login --pin "$PIN" --keypairgen --key-type rsa:2048 --id 01 --label p11shim-sign
rc=$?
[ $rc -eq 0 ] && echo "$OUT" | grep -q '^Key pair generated'
judge $? "--keypairgen rsa:2048 after --login" "--keypairgen (exit $rc)"
tool objects --slot 9 --login --pin "$PIN" -O
rc=$?
[ $rc -eq 0 ] && [ "$(echo "$OUT" | grep -c '^  label: *p11shim-sign$')" = 2 ] &&
	echo "$OUT" | grep -q '^Private Key Object; RSA' && echo "$OUT" | grep -q '^Public Key Object; RSA 2048 bits' &&
	echo "$OUT" | grep -q "^  label: *'Card Eraser'"
judge $? "-O after --login: the key pair and the native Card Eraser" \
	"-O after --login (exit $rc): the key pair or the Card Eraser missing"
printf 'what an encoder signs' >"$T/data.bin"
rm -f "$T/sig.bin"
tool sign --slot 9 --login --pin "$PIN" --sign -m RSA-PKCS --id 01 -i "$W\\data.bin" -o "$W\\sig.bin"
rc=$?
size=$(stat -c %s "$T/sig.bin" 2>/dev/null || echo none)
[ $rc -eq 0 ] && [ "$size" = 256 ]
judge $? "--sign -m RSA-PKCS: a 256-byte signature" "--sign (exit $rc, signature size $size)"

# ---- 4. a hidden slot ----
say "pkcs11-tool.exe --slot 11: hidden by Personal.cfg's SkipReader"
tool hidden --slot 11 -O
rc=$?
[ $rc -ne 0 ] && echo "$OUT" | grep -q 'C_OpenSession failed: rv = CKR_SLOT_ID_INVALID'
judge $? "--slot 11 -O fails: C_OpenSession CKR_SLOT_ID_INVALID (exit $rc)" \
	"--slot 11 -O (exit $rc): the hidden slot was usable"

# ---- 5. the traces ----
say "p11shim.exe trace summary and diagnose on each run's trace"
# cli NAME ARGS...: p11shim.exe ARGS; its output in OUT.
cli() {
	local name=$1
	shift
	OUT=$(cd "$T" && run "$name" "$WINE" p11shim.exe "$@")
}
# calls FUNCTION: its number of calls in the summary in OUT.
calls() { echo "$OUT" | awk -v f="$1" '$1 == f { print $2; exit }'; }
# traced NAME FUNCTION...: the summary of trace\NAME.jsonl counts each
# FUNCTION, and its failures are client probing only; diagnose passes.
traced() {
	local name=$1 f n missing= failures
	shift
	cli "summary-$name" trace summary "$W\\trace\\$name.jsonl"
	rc=$?
	for f in C_Initialize "$@" C_Finalize; do
		n=$(calls "$f")
		[ -n "$n" ] && [ "$n" -gt 0 ] || missing="$missing $f"
	done
	failures=$(echo "$OUT" | sed -n 's/^failures   //p')
	[ $rc -eq 0 ] && [ -z "$missing" ] &&
		echo "$failures" | grep -qE '^(no failed calls$|[0-9]+ failed calls?, (an|all) expected client probing)'
	judge $? "trace summary of $name: $(calls total) calls, $failures" \
		"trace summary of $name (exit $rc):${missing:+ no$missing;} $failures"
	cli "diagnose-$name" trace diagnose "$W\\trace\\$name.jsonl"
	rc=$?
	[ $rc -eq 0 ] && ! echo "$OUT" | grep -qE '^\[[0-9]+\] (warning|error):'
	judge $? "trace diagnose of $name: exit 0, $(echo "$OUT" | grep -cE '^\[[0-9]+\] info:') info finding(s), no warning or error" \
		"trace diagnose of $name (exit $rc)"
}
traced info C_GetInfo
traced list-slots C_GetSlotList C_GetSlotInfo C_GetTokenInfo
traced list-token-slots C_GetSlotList C_GetSlotInfo C_GetTokenInfo
traced keypairgen C_OpenSession C_Login C_GenerateKeyPair
traced objects C_Login C_FindObjectsInit C_FindObjects C_GetAttributeValue
traced sign C_Login C_FindObjectsInit C_SignInit C_Sign
cli diagnose-hidden trace diagnose "$W\\trace\\hidden.jsonl"
rc=$?
[ $rc -eq 1 ] && echo "$OUT" | grep -q 'C_OpenSession(slotID=11,.*= CKR_SLOT_ID_INVALID'
judge $? "trace diagnose of the hidden-slot run: exit 1, names C_OpenSession(slotID=11) = CKR_SLOT_ID_INVALID" \
	"trace diagnose of the hidden-slot run (exit $rc)"
if grep -l -a "$PIN" "$T"/trace/*.jsonl >/dev/null 2>&1; then
	fail "the PIN is in a trace: $(grep -l -a "$PIN" "$T"/trace/*.jsonl | tr '\n' ' ')"
else
	pass "the PIN is in none of the $(ls "$T"/trace/*.jsonl | wc -l) traces"
fi

rm -rf "$T"
exit $failed
