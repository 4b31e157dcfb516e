#!/bin/sh
# Issue 14, item 5: what comes from outside (a trace, a configuration, the
# environment, the middleware) never reaches a terminal or a card raw.
# - a crafted trace (ESC, CSI, OSC sequences, C1 controls, invalid UTF-8 and
#   a bidi override in ts, fn, rv, notes, reader names and labels) through
#   `p11shim trace summary`, `show`, `show -v` and `diagnose`;
# - hostile configurations (control characters in a value, a key, a
#   section, a library path, a trace file, P11SHIM_CONF) on the stderr of
#   C_Initialize through pkcs11-tool, in `p11shim doctor` and `p11shim serial`;
# - a card serial holding a newline and ESC, from a mapped field and from
#   the file itself, refused naming its source, nothing written to the card.
# Every output is checked by term-check.py: no raw C0 but newline and tab,
# no DEL, no C1, valid UTF-8. Each check runs, the failures are counted.
. "$top_srcdir/tests/integration/lib.sh"
need "$PKCS11_TOOL" "$SOFTHSM2_UTIL" "$SOFTHSM2_MODULE" python3
: "${P11SHIM_TOOL:?run through make check}"
unset P11SHIM_LIBRARY P11SHIM_TRACE
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config" XDG_STATE_HOME="$WORK/home/state"
mkdir -p "$HOME"
TERM_CHECK="$top_srcdir/tests/cli/term-check.py"
failed=0

# clean NAME FILE...: nothing a terminal would obey in FILE.
clean() {
	name=$1
	shift
	if python3 "$TERM_CHECK" "$name" "$@"; then
		ok "$name: no raw control characters"
	else
		echo "not ok - $name"
		failed=$((failed + 1))
	fi
}

# holds NAME FILE TEXT: FILE holds the fixed string TEXT (the escaped form is shown).
holds() {
	if grep -qF -- "$3" "$2"; then
		ok "$1"
	else
		echo "not ok - $1: no '$3' in $2:"
		sed 's/^/#   /' "$2" | cat -v | head -20
		failed=$((failed + 1))
	fi
}

# ---- a crafted trace ----
python3 - "$WORK/crafted.jsonl" <<'PY'
import sys
E = '\\u001b'
lines = [
    # ts: clear the screen and set the window title; a note with colours and a C1 CSI
    '{"ts":"2026-12-04T16:24:18.279999Z' + E + '[2J' + E + ']0;pwned\\u0007","pid":1,"tid":1,"seq":1,'
    '"fn":"C_Initialize","args":{"pInitArgs":null},"rv":"CKR_OK","us":5,'
    '"notes":["config: x' + E + '[31mred\\u009b31m \\u0085 nl\\nx \\u202eevil"]}',
    # fn with a sequence, a reader name with an OSC title and a C1 CSI
    '{"ts":"2026-12-04T16:24:18.3Z","pid":1,"tid":1,"seq":2,"fn":"C_Get' + E + '[2JSlotInfo",'
    '"args":{"slotID":3},"out":{"pInfo":{"slotDescription":"Reader' + E + ']0;title\\u0007 \\u009b2J",'
    '"manufacturerID":"M\\u0085X","flags":[],"hardwareVersion":"2.6","firmwareVersion":"2.6"}},'
    '"rv":"CKR_OK","us":2}',
    # a label of raw bytes: C1 as UTF-8, invalid UTF-8, a bare 0x9b (CSI in 8-bit terminals)
    '{"ts":"2026-12-04T16:24:18.4Z","pid":1,"tid":1,"seq":3,"fn":"C_GetTokenInfo","args":{"slotID":3},'
    '"out":{"pInfo":{"label":"Lab@LABEL@","manufacturerID":"x","model":"m' + E + '[2J",'
    '"serialNumber":"s' + E + '[2J"}},"rv":"CKR_TOKEN_NOT_PRESENT' + E + '[2J","us":2}',
    '{"ts":"2026-12-04T16:24:18.5Z","pid":1,"tid":1,"seq":4,"fn":"C_Login","args":{"hSession":1,'
    '"userType":"CKU_SO","pPin":"<redacted 6 bytes>"},"rv":"CKR_PIN_INCORRECT","us":2,'
    '"notes":["login: \\u009b2J bad ' + E + ']0;t\\u0007"]}',
    # a crash inside a function whose name carries a sequence
    '{"ts":"2026-12-04T16:24:18.6Z","pid":1,"tid":1,"seq":5,"fn":"C_Sign' + E + '[2J","args":{"hSession":1},'
    '"rv":null,"crash":"SIG' + E + '[2JSEGV"}',
    # a reader hidden by a pattern with sequences: diagnose makes a fix of the pattern
    '{"ts":"2026-12-04T16:24:18.7Z","pid":2,"tid":2,"seq":1,"fn":"C_GetSlotList","args":{"tokenPresent":false,'
    '"pSlotList":null},"out":{"pulCount":4},"rv":"CKR_OK","us":1,"notes":["readers: slot 3 \'Virtual'
    + E + ']0;t\\u0007 0\' hidden by SkipReader \'Virtual' + E + '[2J\\u009b.*\' (default)"]}',
    # a call still in the backend, its function name with a sequence
    '{"ts":"2026-12-04T16:24:18.8Z","pid":2,"tid":2,"seq":2,"fn":"C_Log' + E + ']0;t\\u0007in",'
    '"args":{"hSession":1},"rv":null,"pending_us":1243242,"notes":["trace: C_Log' + E + '[2Jin has been '
    'in the backend for 1.2 s and has not returned ([trace] SlowCall = 1s)"]}',
]
data = '\n'.join(lines).encode() + b'\n'
data = data.replace(b'@LABEL@', b'\xc2\x9b2J\xff\xfe\x9b\xe2\x80\xae')
open(sys.argv[1], 'wb').write(data)
PY
T="$WORK/crafted.jsonl"
for cmd in summary "summary --all" "summary --json" show "show -v" diagnose "diagnose --json"; do
	set +e
	# shellcheck disable=SC2086 # cmd is the subcommand and its options
	"$P11SHIM_TOOL" trace $cmd "$T" >"$WORK/out" 2>"$WORK/err"
	set -e
	clean "trace $cmd: stdout" "$WORK/out"
	clean "trace $cmd: stderr" "$WORK/err"
	case $cmd in
	*--json) python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$WORK/out" ||
		{ echo "not ok - trace $cmd: not JSON"; failed=$((failed + 1)); } ;;
	esac
done
"$P11SHIM_TOOL" trace summary "$T" >"$WORK/out" 2>&1 || true
holds "trace summary shows ts escaped" "$WORK/out" '2026-12-04T16:24:18.279999Z\x1b[2J\x1b]0;pwne'
"$P11SHIM_TOOL" trace show -v "$T" >"$WORK/out" 2>&1 || true
holds "trace show -v shows a C1 CSI escaped" "$WORK/out" 'Reader\x1b]0;title\x07 \u009b2J'
holds "trace show -v shows invalid UTF-8 as bytes" "$WORK/out" 'Lab\u009b2J\xff\xfe\x9b\u202e'
# The same trace gzipped and read from stdin: the stream reader too.
gzip -c "$T" >"$WORK/crafted.jsonl.gz"
set +e
"$P11SHIM_TOOL" trace show - <"$WORK/crafted.jsonl.gz" >"$WORK/out" 2>"$WORK/err"
set -e
clean "trace show - (gzip on stdin)" "$WORK/out" "$WORK/err"

# A damaged line holding raw control bytes: the error names the line, escaped.
printf '{"ts":"x\033]0;t\007\302\233","pid":1\n' >"$WORK/damaged.jsonl"
set +e
"$P11SHIM_TOOL" trace summary "$WORK/damaged.jsonl" >"$WORK/out" 2>"$WORK/err"
set -e
clean "trace summary of a damaged line" "$WORK/out" "$WORK/err"

# ---- hostile configurations ----
softhsm_init "$WORK/hsm"
export SOFTHSM2_CONF="$WORK/hsm/softhsm2.conf"
ESC=$(printf '\033')
BEL=$(printf '\007')
CSI1=$(printf '\302\233')
NEL=$(printf '\302\205')
hostile() { # hostile NAME LINES...: a configuration named NAME
	f="$WORK/$1.conf"
	shift
	{
		for l in "$@"; do printf '%s\n' "$l"; done
	} >"$f"
	chmod 600 "$f"
}
hostile value "[backend]" "PKCS11Library = $SOFTHSM2_MODULE" "[trace]" \
	"Format = x${ESC}]0;pwned${BEL}${CSI1}2J"
hostile key "[backend]" "PKCS11Library = $SOFTHSM2_MODULE" "[trace]" "For${ESC}[2J${NEL}mat = jsonl"
hostile section "[backend]" "PKCS11Library = $SOFTHSM2_MODULE" "[tr${ESC}[2Jace]" "Format = jsonl"
hostile library "[backend]" "PKCS11Library = $WORK/lib${ESC}[2J$(printf '\377').so"
hostile tracefile "[backend]" "PKCS11Library = $SOFTHSM2_MODULE" "[trace]" \
	"File = $WORK/no${ESC}]0;t${BEL}/dir/t.jsonl"
for c in value key section library; do
	set +e
	P11SHIM_CONF="$WORK/$c.conf" "$PKCS11_TOOL" --module "$SHIM_MODULE" -L >"$WORK/out" 2>"$WORK/err"
	rc=$?
	set -e
	[ $rc -ne 0 ] || fail "C_Initialize with a hostile $c in the configuration succeeded"
	holds "a hostile $c: C_Initialize refused, one line on stderr" "$WORK/err" "p11shim: "
	clean "C_Initialize, a hostile $c: stderr" "$WORK/err"
	set +e
	P11SHIM_CONF="$WORK/$c.conf" "$P11SHIM_TOOL" doctor >"$WORK/out" 2>"$WORK/err"
	P11SHIM_CONF="$WORK/$c.conf" "$P11SHIM_TOOL" doctor --json >"$WORK/json" 2>>"$WORK/err"
	set -e
	clean "doctor, a hostile $c" "$WORK/out" "$WORK/err"
	clean "doctor --json, a hostile $c" "$WORK/json"
done
set +e
P11SHIM_CONF="$WORK/value.conf" "$PKCS11_TOOL" --module "$SHIM_MODULE" -L >"$WORK/out" 2>"$WORK/err"
set -e
holds "C_Initialize names the value escaped" "$WORK/err" "[trace] Format = 'x\\x1b]0;pwned\\x07\\u009b2J' is not valid"
# A trace file that cannot be opened: the warning names the path escaped.
set +e
P11SHIM_CONF="$WORK/tracefile.conf" "$PKCS11_TOOL" --module "$SHIM_MODULE" -L >"$WORK/out" 2>"$WORK/err"
P11SHIM_CONF="$WORK/tracefile.conf" "$P11SHIM_TOOL" doctor >"$WORK/d.out" 2>&1
set -e
clean "a trace file that cannot be opened: stderr" "$WORK/err"
clean "doctor, a trace file that cannot be opened" "$WORK/d.out"
# The environment: a P11SHIM_CONF path with an escape sequence.
set +e
P11SHIM_CONF="$WORK/missing${ESC}]0;t${BEL}.conf" "$PKCS11_TOOL" --module "$SHIM_MODULE" -L \
	>"$WORK/out" 2>"$WORK/err"
P11SHIM_CONF="$WORK/missing${ESC}]0;t${BEL}.conf" "$P11SHIM_TOOL" doctor >"$WORK/d.out" 2>&1
set -e
clean "P11SHIM_CONF with an escape sequence: stderr" "$WORK/err"
clean "doctor, P11SHIM_CONF with an escape sequence" "$WORK/d.out"

# `p11shim serial`: a state file and a range from a configuration.
hostile range "[serial]" "NumberRange = 1-${ESC}]0;t${BEL}9" "NumberRangeState = $WORK/st${ESC}[2J"
set +e
P11SHIM_CONF="$WORK/range.conf" "$P11SHIM_TOOL" serial status >"$WORK/out" 2>"$WORK/err"
P11SHIM_CONF="$WORK/range.conf" "$P11SHIM_TOOL" serial status --range 1-9 >>"$WORK/out" 2>>"$WORK/err"
set -e
clean "serial status, a hostile range and state file" "$WORK/out" "$WORK/err"

# ---- card serials ----
s=$(slot_of '')
# A mapped field whose value holds a newline and ESC.
shim_conf "$WORK/serial.conf" "$SOFTHSM2_MODULE" "$WORK/t1.jsonl" "[serial]" "InitToken = true" \
	'CMSCardSerialNumber = ${PRIME_CARD_SERIAL}'
set +e
out=$(PRIME_CARD_SERIAL="CM47
${ESC}[2J" P11SHIM_CONF="$WORK/serial.conf" P11CALL_PIN=$SO_PIN p11call_shim init , inittoken "$s" card1 , fin 2>"$WORK/err")
set -e
if printf '%s\n' "$out" | grep -qxF "inittoken: CKR_GENERAL_ERROR"; then
	ok "a mapped serial with a newline and ESC: C_InitToken refused"
else
	echo "not ok - a mapped serial with a newline and ESC was not refused: $out"
	failed=$((failed + 1))
fi
if "$P11CALL" "$SOFTHSM2_MODULE" init , tokeninfo "$s" , fin | grep -q "label=''"; then
	ok "a mapped serial with a newline and ESC: the card untouched"
else
	echo "not ok - a mapped serial with a newline and ESC: the card was initialised"
	failed=$((failed + 1))
	s=$(slot_of '')
fi
holds "the refusal names the mapped field and the rule" "$WORK/err" \
	'[serial] CMSCardSerialNumber: mapped field ${PRIME_CARD_SERIAL} = '"'CM47\\n\\x1b[2J'"
holds "the refusal says what a serial may hold" "$WORK/err" "printable ASCII"
clean "a mapped serial with a newline and ESC: stderr" "$WORK/err"
# The value written in the file itself: refused when the file is read.
shim_conf "$WORK/serial2.conf" "$SOFTHSM2_MODULE" "$WORK/t2.jsonl" "[serial]" "InitToken = true" \
	"CMSCardSerialNumber = 12${ESC}[2J34"
set +e
P11SHIM_CONF="$WORK/serial2.conf" "$PKCS11_TOOL" --module "$SHIM_MODULE" -L >"$WORK/out" 2>"$WORK/err"
rc=$?
set -e
[ $rc -ne 0 ] || { echo "not ok - a serial with ESC in the file was accepted"; failed=$((failed + 1)); }
holds "a serial with ESC in the file: refused naming file and line" "$WORK/err" \
	"serial2.conf:7: [serial] CMSCardSerialNumber = '12\\x1b[2J34'"
clean "a serial with ESC in the file: stderr" "$WORK/err"
# Too long: the length is the field's (CK_TOKEN_INFO.serialNumber, 16 characters).
shim_conf "$WORK/serial3.conf" "$SOFTHSM2_MODULE" "$WORK/t3.jsonl" "[serial]" "InitToken = true" \
	"CMSCardSerialNumber = 12345678901234567"
set +e
P11SHIM_CONF="$WORK/serial3.conf" "$PKCS11_TOOL" --module "$SHIM_MODULE" -L >"$WORK/out" 2>"$WORK/err"
set -e
holds "a serial of 17 characters: refused when the file is read" "$WORK/err" \
	"serial3.conf:7: [serial] CMSCardSerialNumber = '12345678901234567'"
# A good one still goes on the card.
PRIME_CARD_SERIAL="CM 4711" P11SHIM_CONF="$WORK/serial.conf" P11CALL_PIN=$SO_PIN \
	p11call_shim init , inittoken "$s" card2 , fin >"$WORK/out" 2>&1
s=$(slot_of card2)
out=$(P11SHIM_CONF="$WORK/serial.conf" p11call_shim init , tokeninfo "$s" , fin)
if printf '%s\n' "$out" | grep -qxF "tokeninfo: CKR_OK label='card2' model='SoftHSM v2' serial='CM 4711'"; then
	ok "a printable serial is still applied"
else
	echo "not ok - a printable serial: $out"
	failed=$((failed + 1))
fi

[ "$failed" -eq 0 ] || fail "$failed check(s) failed"
