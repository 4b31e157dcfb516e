#!/bin/sh
# `p11shim trace summary|show|diagnose` end to end (issue 5):
# - summary counts against what tests/cli/gen-trace says it wrote;
# - the same through gzip and stdin, with NUL padding, with a cut last line;
# - show's filters;
# - each diagnose finding on a small crafted trace, the fallback, exit codes;
# - usage errors name the bad argument and exit 2.
#
# Run by `make check` (top_builddir from the environment), or by hand:
#   P11SHIM=/path/p11shim GEN_TRACE=/path/gen-trace sh tests/cli/test-trace-cli.sh

set -u

builddir=${top_builddir:-.}
P11SHIM=${P11SHIM:-$builddir/src/tool/p11shim}
GEN_TRACE=${GEN_TRACE:-$builddir/tests/cli/gen-trace}

for prog in "$P11SHIM" "$GEN_TRACE"; do
	if ! test -x "$prog"; then
		echo "missing $prog (build it first)" >&2
		exit 99
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-trace-cli.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM

failures=0
count=0

ok() {
	count=$((count + 1))
	echo "ok $count - $1"
}

not_ok() {
	count=$((count + 1))
	failures=$((failures + 1))
	echo "not ok $count - $1"
	if test -n "${2:-}" && test -f "$2"; then
		sed 's/^/#   /' "$2" | head -40
	fi
}

# run EXPECTED_STATUS NAME CMD...: stdout in $tmp/out, stderr in $tmp/err
run() {
	want=$1 name=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if test "$got" -eq "$want"; then
		ok "$name (exit $got)"
	else
		not_ok "$name: exit $got, expected $want" "$tmp/err"
		sed 's/^/#   out: /' "$tmp/out" | head -20
	fi
}

# has FILE NAME PATTERN: FILE contains the fixed string PATTERN
has() {
	if grep -F -q -- "$3" "$1"; then
		ok "$2"
	else
		not_ok "$2: no '$3'" "$1"
	fi
}

hasnt() {
	if grep -F -q -- "$3" "$1"; then
		not_ok "$2: unexpected '$3'" "$1"
	else
		ok "$2"
	fi
}

equal() {
	if test "$2" = "$3"; then
		ok "$1"
	else
		not_ok "$1: got '$2', expected '$3'"
	fi
}

# ---- usage ----

run 0 "p11shim --help" "$P11SHIM" --help
has "$tmp/out" "--help lists trace" "trace"
run 0 "p11shim --version" "$P11SHIM" --version
run 2 "p11shim without a command" "$P11SHIM"
run 2 "p11shim unknown command" "$P11SHIM" frobnicate
has "$tmp/err" "unknown command named" "frobnicate"
run 0 "p11shim trace --help" "$P11SHIM" trace --help
cp "$tmp/out" "$tmp/trace-help"
for c in summary show diagnose; do
	has "$tmp/trace-help" "trace --help lists $c" "$c"
	run 0 "trace $c --help" "$P11SHIM" trace "$c" --help
done
run 0 "p11shim help trace" "$P11SHIM" help trace
run 2 "trace without a command" "$P11SHIM" trace
run 2 "trace unknown command" "$P11SHIM" trace sumary x
has "$tmp/err" "unknown trace command named" "sumary"
run 2 "summary unknown option" "$P11SHIM" trace summary --bogus x
has "$tmp/err" "unknown option named" "--bogus"
run 2 "show option without value" "$P11SHIM" trace show x --fn
has "$tmp/err" "missing value named" "--fn"
run 2 "show bad --session" "$P11SHIM" trace show --session abc x
has "$tmp/err" "bad --session value named" "'abc'"
run 2 "show bad --since" "$P11SHIM" trace show --since yesterday x
has "$tmp/err" "bad --since value named" "'yesterday'"
run 2 "summary without FILE" "$P11SHIM" trace summary
run 2 "summary with two FILEs" "$P11SHIM" trace summary a b
run 2 "summary of a missing file" "$P11SHIM" trace summary "$tmp/nonexistent"
has "$tmp/err" "missing file named" "nonexistent"
run 2 "summary of a directory" "$P11SHIM" trace summary "$tmp"
run 2 "summary of a binary" "$P11SHIM" trace summary "$P11SHIM"
has "$tmp/err" "binary refused" "not a trace"
run 2 "show of a binary" "$P11SHIM" trace show "$P11SHIM"
run 2 "diagnose of a binary" "$P11SHIM" trace diagnose "$P11SHIM"
printf 'this is a text log\nnot a trace at all\n' >"$tmp/text.log"
run 2 "summary of a text file without records" "$P11SHIM" trace summary "$tmp/text.log"
has "$tmp/err" "each damaged line reported" "text.log:2:"
printf '\377\376{\000"\000' >"$tmp/utf16.jsonl"
run 2 "summary of UTF-16 text" "$P11SHIM" trace summary "$tmp/utf16.jsonl"
has "$tmp/err" "UTF-16 named" "UTF-16"
: >"$tmp/empty.jsonl"
run 0 "summary of an empty file" "$P11SHIM" trace summary "$tmp/empty.jsonl"
run 0 "diagnose of an empty file" "$P11SHIM" trace diagnose "$tmp/empty.jsonl"

# ---- summary against the generator ----

N=20000
"$GEN_TRACE" -n $N -s 7 -c 4999 -e "$tmp/expect" >"$tmp/t.jsonl" || exit 99
"$GEN_TRACE" -n $N -s 7 -c 4999 -z >"$tmp/t.jsonl.gz" || exit 99

# The summary's text, back into the generator's "expect" lines.
to_expect() {
	awk '
		/^records / { print "records", $2; next }
		/^failed / { print "failed", $2; next }
		/^span / { print "first", $2; print "last", $4; next }
		/^function / { sec = "fn"; next }
		/^total / { sec = ""; next }
		/^failures by return value/ { sec = "rv"; next }
		/^processes / { sec = "pid"; next }
		/^notes / { sec = "tag"; next }
		/^most frequent/ { sec = ""; next }
		/^$/ { sec = ""; next }
		sec == "fn" && NF == 7 { print "fn", $1, $2, $3, $4, $7 }
		sec == "rv" && NF == 3 { print "rv", $1, $2, $3 }
		sec == "pid" && $1 == "pid" { pid = $2; print "pid", $2, $3 }
		sec == "pid" && $1 == "tid" { print "tid", pid, $2, $3 }
		sec == "tag" && NF == 2 { print "tag", $1, $2 }
	' "$1" | sort
}

run 0 "summary of $N generated records" "$P11SHIM" trace summary "$tmp/t.jsonl"
cp "$tmp/out" "$tmp/summary.txt"
to_expect "$tmp/summary.txt" >"$tmp/got"
sort "$tmp/expect" >"$tmp/want"
if diff "$tmp/want" "$tmp/got" >"$tmp/diff"; then
	ok "summary counts match the generator (calls, failures by rv, min/max, pids, tids, tags, span)"
else
	not_ok "summary counts differ from the generator" "$tmp/diff"
fi
test -s "$tmp/err" && not_ok "summary of a clean trace wrote to stderr" "$tmp/err"

run 0 "summary of the same, gzip" "$P11SHIM" trace summary "$tmp/t.jsonl.gz"
tail -n +2 "$tmp/out" >"$tmp/gz.txt"
tail -n +2 "$tmp/summary.txt" >"$tmp/plain.txt"
if cmp -s "$tmp/gz.txt" "$tmp/plain.txt"; then ok "gzip gives the same summary"; else not_ok "gzip summary differs"; fi

"$P11SHIM" trace summary - <"$tmp/t.jsonl" >"$tmp/out" 2>"$tmp/err"
equal "summary of stdin exits 0" "$?" 0
has "$tmp/out" "stdin is named <stdin>" "<stdin>"
tail -n +2 "$tmp/out" >"$tmp/stdin.txt"
if cmp -s "$tmp/stdin.txt" "$tmp/plain.txt"; then ok "stdin gives the same summary"; else not_ok "stdin summary differs"; fi
"$P11SHIM" trace summary - <"$tmp/t.jsonl.gz" >"$tmp/out" 2>"$tmp/err"
tail -n +2 "$tmp/out" >"$tmp/stdin.txt"
if cmp -s "$tmp/stdin.txt" "$tmp/plain.txt"; then ok "gzip on stdin gives the same summary"; else not_ok "gzip on stdin differs"; fi

# NUL padding after the records (a preallocating writer) changes nothing and says nothing.
cp "$tmp/t.jsonl" "$tmp/padded.jsonl"
head -c 100000 /dev/zero >>"$tmp/padded.jsonl"
run 0 "summary with NUL padding" "$P11SHIM" trace summary "$tmp/padded.jsonl"
tail -n +2 "$tmp/out" >"$tmp/pad.txt"
if cmp -s "$tmp/pad.txt" "$tmp/plain.txt"; then ok "NUL padding gives the same summary"; else not_ok "NUL padding changed the summary"; fi
if test -s "$tmp/err"; then not_ok "NUL padding was reported" "$tmp/err"; else ok "NUL padding is silent"; fi

# A cut last line: reported with its number, the rest counted.
size=$(wc -c <"$tmp/t.jsonl")
head -c $((size - 40)) "$tmp/t.jsonl" >"$tmp/cut.jsonl"
run 0 "summary of a trace with a cut last line" "$P11SHIM" trace summary "$tmp/cut.jsonl"
has "$tmp/err" "cut last line reported with its line number" "cut.jsonl:$N: truncated record"
has "$tmp/out" "the whole records are counted" "records    $((N - 1)) (1 damaged line skipped"

# A stray control byte early in the file is a damaged record, not a binary file.
sed '3s/"fn"/"f\x01n"/' "$tmp/t.jsonl" >"$tmp/ctl.jsonl"
run 0 "summary with a control byte on line 3" "$P11SHIM" trace summary "$tmp/ctl.jsonl"
has "$tmp/err" "control byte reported with its line" "ctl.jsonl:3: malformed record: control character in string"

# A malformed line in the middle: reported, skipped.
sed '777s/"fn"/"fn/' "$tmp/t.jsonl" >"$tmp/bad.jsonl"
run 0 "summary with a malformed line" "$P11SHIM" trace summary "$tmp/bad.jsonl"
has "$tmp/err" "malformed line reported with its number" "bad.jsonl:777: malformed record"
has "$tmp/out" "the others are counted" "records    $((N - 1))"

run 0 "summary --json" "$P11SHIM" trace summary --json "$tmp/t.jsonl"
has "$tmp/out" "--json has the record count" "\"records\":$N"
if command -v python3 >/dev/null 2>&1; then
	if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if sum(f["calls"] for f in d["functions"]) == d["records"] else 1)' "$tmp/out"; then
		ok "summary --json parses and adds up"
	else
		not_ok "summary --json does not parse or add up"
	fi
fi

# ---- show ----

expect_n() { # KIND NAME...: a number from the expect file
	awk -v k="$1" -v a="$2" -v b="${3:-}" '$1 == k && $2 == a && (b == "" || $3 == b) { print $(b == "" ? 3 : 4); exit }' "$tmp/expect"
}

run 0 "show" "$P11SHIM" trace show "$tmp/t.jsonl"
equal "show prints one line per record" "$(wc -l <"$tmp/out")" $N
login=$(awk '$1 == "fn" && $2 == "C_Login" { print $3 }' "$tmp/expect")
run 0 "show --fn C_Login" "$P11SHIM" trace show --fn C_Login "$tmp/t.jsonl"
equal "show --fn C_Login count" "$(wc -l <"$tmp/out")" "$login"
"$P11SHIM" trace show --fn login "$tmp/t.jsonl" >"$tmp/out2"
equal "show --fn login (short, any case) count" "$(wc -l <"$tmp/out2")" "$login"
fails=$(awk '$1 == "failed" { print $2 }' "$tmp/expect")
run 0 "show --errors" "$P11SHIM" trace show --errors "$tmp/t.jsonl"
equal "show --errors count" "$(wc -l <"$tmp/out")" "$fails"
hasnt "$tmp/out" "show --errors has no CKR_OK call" "= CKR_OK"
pin=$(expect_n rv C_Login CKR_PIN_INCORRECT)
run 0 "show --fn C_Login --errors" "$P11SHIM" trace show --fn C_Login --errors "$tmp/t.jsonl"
equal "show --fn C_Login --errors count" "$(wc -l <"$tmp/out")" "$pin"
two=$(( $(awk '$1 == "fn" && ($2 == "C_Login" || $2 == "C_Logout") { n += $3 } END { print n }' "$tmp/expect") ))
"$P11SHIM" trace show --fn C_Login,C_Logout "$tmp/t.jsonl" >"$tmp/out"
equal "show --fn with a list" "$(wc -l <"$tmp/out")" "$two"
p4242=$(expect_n pid 4242)
run 0 "show --pid 4242" "$P11SHIM" trace show --pid 4242 "$tmp/t.jsonl"
equal "show --pid count" "$(wc -l <"$tmp/out")" "$p4242"
since=$(sed -n 1000p "$tmp/t.jsonl" | cut -d'"' -f4)
later=$(awk -F'"' -v t="$since" '$4 >= t { n++ } END { print n }' "$tmp/t.jsonl")
run 0 "show --since" "$P11SHIM" trace show --since "$since" "$tmp/t.jsonl"
equal "show --since count" "$(wc -l <"$tmp/out")" "$later"
minute=$(echo "$since" | cut -c1-16)
inmin=$(awk -F'"' -v t="$minute" 'substr($4, 1, 16) <= t { n++ } END { print n }' "$tmp/t.jsonl")
run 0 "show --until a minute" "$P11SHIM" trace show --until "$minute" "$tmp/t.jsonl"
equal "show --until includes the whole minute" "$(wc -l <"$tmp/out")" "$inmin"
run 0 "show -v --fn C_Login" "$P11SHIM" trace show -v --fn C_Login "$tmp/t.jsonl"
has "$tmp/out" "show -v prints arguments indented" "    userType: CKU_"
has "$tmp/out" "show -v prints redacted PINs" "    pPin: <redacted"
has "$tmp/out" "show -v prints notes" "    note: login:"
run 0 "show -n" "$P11SHIM" trace show -n --fn C_Initialize "$tmp/t.jsonl"
first=$(grep -n '"fn":"C_Initialize"' "$tmp/t.jsonl" | head -1 | cut -d: -f1)
has "$tmp/out" "show -n prefixes line numbers" "$first: "

# Sessions and slots on a small trace.
rec() { # SEQ FN ARGS RV [MORE]: one record, pid $PID (100), tid 101
	printf '{"ts":"2026-11-27T20:45:%02d.%06dZ","pid":%s,"tid":%s,"seq":%s,"fn":"%s","args":%s,"rv":%s,"us":%s%s}\n' \
		$(($1 % 60)) "$1" "${PID:-100}" "${TID:-101}" "$1" "$2" "$3" "$4" "$((10 + $1))" "${5:-}"
}
{
	rec 1 C_Initialize '{"pInitArgs":null}' '"CKR_OK"'
	rec 2 C_OpenSession '{"slotID":3,"flags":["CKF_SERIAL_SESSION"],"pApplication":null,"Notify":null,"phSession":5}' '"CKR_OK"'
	rec 3 C_OpenSession '{"slotID":4,"flags":["CKF_SERIAL_SESSION"],"pApplication":null,"Notify":null}' '"CKR_OK"' ',"out":{"phSession":6}'
	rec 4 C_Login '{"hSession":5,"userType":"CKU_USER","pPin":"<redacted 6 bytes>"}' '"CKR_OK"'
	rec 5 C_Login '{"hSession":6,"userType":"CKU_USER","pPin":"<redacted 6 bytes>"}' '"CKR_OK"'
	rec 6 C_GetTokenInfo '{"slotID":3}' '"CKR_OK"'
	rec 7 C_CloseSession '{"hSession":5}' '"CKR_OK"'
} >"$tmp/sessions.jsonl"
run 0 "show --session 5" "$P11SHIM" trace show --session 5 "$tmp/sessions.jsonl"
equal "show --session finds open, use and close" "$(cut -d' ' -f1 "$tmp/out" | tr '\n' ' ')" "2 4 7 "
run 0 "show --session 6 (output apart)" "$P11SHIM" trace show --session 6 "$tmp/sessions.jsonl"
equal "show --session finds the session in \"out\"" "$(cut -d' ' -f1 "$tmp/out" | tr '\n' ' ')" "3 5 "
run 0 "show --slot 3" "$P11SHIM" trace show --slot 3 "$tmp/sessions.jsonl"
equal "show --slot includes the calls on its sessions" "$(cut -d' ' -f1 "$tmp/out" | tr '\n' ' ')" "2 4 6 7 "
has "$tmp/out" "show prints seq ts pid:tid fn(args) = rv (us)" \
	"4 2026-11-27T20:45:04.000004Z 100:101 C_Login(hSession=5, userType=CKU_USER, pPin=<redacted 6 bytes>) = CKR_OK (14 us)"

# ---- diagnose ----

# diag NAME STATUS ID FIX...: runs diagnose on $tmp/d.jsonl, expects the status, the finding id and each fix text
diag() {
	name=$1 want=$2 id=$3
	shift 3
	run "$want" "diagnose: $name" "$P11SHIM" trace diagnose "$tmp/d.jsonl"
	has "$tmp/out" "diagnose: $name: finding" "($id)"
	for fix in "$@"; do
		has "$tmp/out" "diagnose: $name: says '$fix'" "$fix"
	done
}

{
	rec 1 C_Initialize '{"pInitArgs":null}' '"CKR_OK"'
	rec 2 C_GetTokenInfo '{"slotID":1,"pInfo":{"label":"","model":"CardOS V5.3","serialNumber":"1"}}' '"CKR_OK"'
	rec 3 C_InitToken '{"slotID":1,"pPin":"<redacted 8 bytes>","pLabel":"E1"}' '"CKR_FUNCTION_FAILED"'
} >"$tmp/d.jsonl"
diag "PIN-encryption certificate" 1 pin-encryption "iD2ppa.cfg" "[PIN Encryption] File = " "evidence: 1 record, line 3" "rules out a 64-bit JRE"

{
	rec 1 C_Initialize '{"pInitArgs":null}' '"CKR_OK"'
	rec 2 C_GetTokenInfo '{"slotID":1,"pInfo":{"model":"Cosmo 8.2"}}' '"CKR_OK"'
	rec 3 C_InitToken '{"slotID":1,"pPin":"<redacted 8 bytes>","pLabel":"E1"}' '"CKR_OK"'
	rec 4 C_GetTokenInfo '{"slotID":2,"pInfo":{"model":"CardOS V5.3"}}' '"CKR_OK"'
	rec 5 C_InitToken '{"slotID":2,"pPin":"<redacted 8 bytes>","pLabel":"E2"}' '"CKR_FUNCTION_FAILED"'
} >"$tmp/d.jsonl"
diag "CPF for another card type" 1 card-profile "worked on \"Cosmo 8.2\" cards and failed on \"CardOS V5.3\"" "line 5"
hasnt "$tmp/out" "diagnose: one working card rules out the certificate" "(pin-encryption)"

{
	rec 1 C_InitToken '{"slotID":1,"pPin":"<redacted 8 bytes>","pLabel":"E1"}' '"CKR_TOKEN_NOT_RECOGNIZED"'
} >"$tmp/d.jsonl"
diag "token not recognised" 1 card-profile "CKR_TOKEN_NOT_RECOGNIZED" "CPF"

{
	rec 1 C_Initialize '{"pInitArgs":null}' '"CKR_GENERAL_ERROR"' ',"notes":["backend: cannot load /opt/personal/libpersonal.so: wrong architecture (ELF 32-bit i386, shim is 64-bit x86-64)"]'
} >"$tmp/d.jsonl"
diag "64-bit client" 1 client-64-bit "JAVA_HOME = the root folder of a 32-bit JRE" "PKCS11LibraryWindows32 = "
hasnt "$tmp/out" "diagnose: the note explains C_Initialize" "(backend-path)"

{
	rec 1 C_Initialize '{"pInitArgs":null}' '"CKR_GENERAL_ERROR"' ',"notes":["backend: cannot load C:/Program Files/Personal/bin/personal.dll: The specified module could not be found"]'
} >"$tmp/d.jsonl"
diag "wrong DLL path" 1 backend-path "[backend] PKCS11LibraryWindows32 = C:/Program Files (x86)/Personal/bin/personal.dll"

{
	rec 1 C_Initialize '{"pInitArgs":null}' '"CKR_GENERAL_ERROR"' ',"notes":["config: /etc/p11shim/p11shim.conf:12: [serial] NumberRange: 100- is not FIRST-LAST"]'
} >"$tmp/d.jsonl"
diag "configuration error" 1 config "p11shim.conf:12"

{
	rec 1 C_Initialize '{"pInitArgs":null}' '"CKR_OK"' ',"notes":["middleware: caching is on: Personal.cfg [Cache] CacheValidity=30 (user file)"]'
	rec 2 C_GetSlotList '{"tokenPresent":true,"pSlotList":[1],"pulCount":1}' '"CKR_OK"'
} >"$tmp/d.jsonl"
diag "caching on" 1 caching "[Cache] CacheValidity = 0" "%APPDATA%\\Personal\\config\\Personal.cfg"

{
	rec 1 C_GetSlotInfo '{"slotID":3,"pInfo":{"slotDescription":"Microsoft Virtual Smart Card 2","manufacturerID":"Microsoft","flags":["CKF_TOKEN_PRESENT"]}}' '"CKR_OK"'
	rec 2 C_OpenSession '{"slotID":3,"flags":["CKF_SERIAL_SESSION"],"pApplication":null,"Notify":null,"phSession":9}' '"CKR_OK"'
	rec 3 C_GetSessionInfo '{"hSession":9}' '"CKR_GENERAL_ERROR"'
} >"$tmp/d.jsonl"
diag "virtual reader" 1 virtual-reader "SkipReader = Microsoft Virtual Smart Card .*" "Microsoft Virtual Smart Card 2" "line 3"

{
	rec 1 C_GetSlotList '{"tokenPresent":true,"pSlotList":[1],"pulCount":1}' '"CKR_OK"' ',"notes":["readers: slot 3 hidden by SkipReader '"'"'Microsoft Virtual Smart Card .*'"'"'"]'
} >"$tmp/d.jsonl"
diag "virtual reader hidden by the shim (info only)" 0 virtual-reader "info:" "Personal.cfg"

{
	rec 1 C_Login '{"hSession":1,"userType":"CKU_SO","pPin":"<redacted 8 bytes>"}' '"CKR_PIN_INCORRECT"'
} >"$tmp/d.jsonl"
diag "SO credential" 1 so-credential "[login] OperatorPinIsSOCredential = true" "8 bytes long"

{
	rec 1 C_Login '{"hSession":1,"userType":"CKU_SO","pPin":"<redacted 6 bytes>"}' '"CKR_PIN_LEN_RANGE"' ',"notes":["login: CKU_SO sent as the operator PIN (OperatorPinIsSOCredential=true)"]'
} >"$tmp/d.jsonl"
diag "SO credential, operator PIN sent" 1 so-credential "OperatorPinIsSOCredential = false"

{
	rec 1 C_Login '{"hSession":1,"userType":"CKU_SO","pPin":"<redacted 8 bytes>"}' '"CKR_OK"'
	rec 2 C_SetPIN '{"hSession":1,"pOldPin":"<redacted 8 bytes>","pNewPin":"<redacted 8 bytes>"}' '"CKR_FUNCTION_NOT_SUPPORTED"'
} >"$tmp/d.jsonl"
diag "PUK change after SO login" 1 puk-change "SO login of line 1" "5.7.2" "Cosmo 8.2"

{
	rec 1 C_SetPIN '{"hSession":1,"pOldPin":"<redacted 8 bytes>","pNewPin":"<redacted 8 bytes>"}' '"CKR_FUNCTION_NOT_SUPPORTED"' ',"notes":["puk: PUK change refused: Personal 5.7.1 < 5.7.2"]'
} >"$tmp/d.jsonl"
diag "PUK change refused by the shim" 1 puk-change "PUK change refused: Personal 5.7.1 < 5.7.2" "[puk] PukChange"

{
	rec 1 C_FindObjectsInit '{"hSession":1,"pTemplate":[{"type":"CKA_LABEL","value":"Card Eraser"}]}' '"CKR_OK"'
	rec 2 C_FindObjects '{"hSession":1,"ulMaxObjectCount":1,"pulObjectCount":0}' '"CKR_OK"'
	rec 3 C_FindObjectsFinal '{"hSession":1}' '"CKR_OK"'
} >"$tmp/d.jsonl"
diag "Card Eraser missing" 1 card-eraser-missing "[eraser] CardEraser = true" "(line 1) found no object"

{
	rec 1 C_FindObjectsInit '{"hSession":1,"pTemplate":[{"type":"CKA_LABEL","value":{"len":11,"hex":"43617264204572617365 72"}}]}' '"CKR_OK"'
} >"$tmp/d.jsonl"
run 0 "diagnose: a hex label with a blank is no Card Eraser search and no failure" "$P11SHIM" trace diagnose "$tmp/d.jsonl"

{
	rec 1 C_FindObjectsInit '{"hSession":1,"pTemplate":[{"type":"CKA_LABEL","value":{"len":11,"hex":"43617264204572617365 72"}}]}' '"CKR_OK"'
	rec 2 C_FindObjectsInit '{"hSession":2,"pTemplate":[{"type":"CKA_LABEL","value":{"len":11,"hex":"436172642045726173657"}}]}' '"CKR_OK"'
	rec 3 C_FindObjectsInit '{"hSession":1,"pTemplate":[{"type":"CKA_LABEL","value":{"len":11,"hex":"4361726420457261736572"}}]}' '"CKR_OK"'
	rec 4 C_FindObjects '{"hSession":1,"ulMaxObjectCount":4,"phObject":[1000],"pulObjectCount":1}' '"CKR_OK"'
	rec 5 C_Logout '{"hSession":1}' '"CKR_USER_NOT_LOGGED_IN"'
	rec 6 C_DestroyObject '{"hSession":1,"hObject":1000}' '"CKR_ACTION_PROHIBITED"'
} >"$tmp/d.jsonl"
diag "Card Eraser refused" 1 card-eraser-refused "MakeCardEraseable()" "line 6"

{
	PID=300 rec 1 C_Initialize '{"pInitArgs":null}' '"CKR_OK"'
	PID=300 rec 2 C_OpenSession '{"slotID":1,"flags":["CKF_SERIAL_SESSION"],"pApplication":null,"Notify":null,"phSession":1}' '"CKR_OK"'
	printf '%s\n' '{"ts":"2026-11-27T20:45:03.000000Z","pid":300,"tid":301,"seq":3,"fn":"C_Sign","args":{"hSession":1,"pData":{"len":32}},"rv":null,"crash":"SIGSEGV"}'
} >"$tmp/d.jsonl"
diag "crash in the middleware" 1 crash "SIGSEGV inside C_Sign" "the calls of that process before it" "line 2: 2 2026-11-27T20:45:02.000002Z 300:101 C_OpenSession"

{
	for i in 1 2 3 4 5 6 7; do
		PID=400 rec $i C_GetSlotList '{"tokenPresent":true,"pSlotList":[1],"pulCount":1}' '"CKR_OK"'
		PID=401 rec $((i + 10)) C_GetInfo '{}' '"CKR_OK"'
	done
	PID=400 rec 8 C_SignInit '{"hSession":1,"pMechanism":{"mechanism":"CKM_ECDSA","parameter":null},"hKey":7}' '"CKR_KEY_HANDLE_INVALID"'
	PID=400 rec 9 C_Sign '{"hSession":1}' '"CKR_OPERATION_NOT_INITIALIZED"'
	PID=400 rec 10 C_GetAttributeValue '{"hSession":1,"hObject":7}' '"CKR_ATTRIBUTE_TYPE_INVALID"'
} >"$tmp/d.jsonl"
run 1 "diagnose: no known pattern" "$P11SHIM" trace diagnose "$tmp/d.jsonl"
has "$tmp/out" "diagnose: fallback says so" "No known pattern matched"
has "$tmp/out" "diagnose: fallback shows the first failing call" "line 15: 8 "
has "$tmp/out" "diagnose: fallback marks it" "CKR_KEY_HANDLE_INVALID (18 us)   <-"
equal "diagnose: fallback shows 5 calls of the same process before it" \
	"$(grep -c '^  line [0-9]*: [0-9]* [^ ]* 400:101 C_GetSlotList' "$tmp/out")" 5
hasnt "$tmp/out" "diagnose: fallback leaves out other processes" " 401:101 "
has "$tmp/out" "diagnose: expected failures are not counted" "(2 failing calls in all)"

{
	rec 1 C_Initialize '{"pInitArgs":null}' '"CKR_OK"'
	rec 2 C_GetAttributeValue '{"hSession":1,"hObject":7}' '"CKR_ATTRIBUTE_SENSITIVE"'
	rec 3 C_GetMechanismInfo '{"slotID":1,"type":"0x80000001"}' '"CKR_MECHANISM_INVALID"'
	rec 4 C_Finalize '{"pReserved":null}' '"CKR_OK"'
} >"$tmp/d.jsonl"
run 0 "diagnose: a clean trace" "$P11SHIM" trace diagnose "$tmp/d.jsonl"
has "$tmp/out" "diagnose: clean trace says so, naming the probing" "Nothing to diagnose: 2 failed calls, all expected client probing: C_GetAttributeValue -> CKR_ATTRIBUTE_SENSITIVE (1), C_GetMechanismInfo -> CKR_MECHANISM_INVALID (1)"

run 1 "diagnose of the generated trace" "$P11SHIM" trace diagnose "$tmp/t.jsonl"
for id in so-credential puk-change card-eraser-refused crash config; do
	has "$tmp/out" "diagnose of the generated trace finds $id" "($id)"
done
run 1 "diagnose --json" "$P11SHIM" trace diagnose --json "$tmp/t.jsonl"
if command -v python3 >/dev/null 2>&1; then
	if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["findings"] and all(f["evidence"]["lines"] and f["fix"] for f in d["findings"]) else 1)' "$tmp/out"; then
		ok "diagnose --json parses, each finding with evidence and fix"
	else
		not_ok "diagnose --json does not parse or lacks evidence or fix"
	fi
fi
"$P11SHIM" trace diagnose - <"$tmp/t.jsonl.gz" >"$tmp/out" 2>"$tmp/err"
equal "diagnose of gzip on stdin exits 1" "$?" 1

# A pid used again: Windows gives a dead process's pid to the next one at
# once, so one trace file (p11shim-%p.jsonl) can hold two runs of one pid.
# seq starts at 1 in every process: a second seq 1 is a second process.
rec() { printf '{"ts":"2026-12-05T10:00:0%s.000000Z","pid":4242,"tid":%s,"seq":%s,"fn":"%s","args":{},"rv":"%s","us":5}\n' "$@"; }
{
	rec 1 4243 1 C_Initialize CKR_OK
	rec 2 4243 2 C_GetSlotList CKR_OK
	rec 3 4243 3 C_Finalize CKR_OK
	rec 4 4250 1 C_Initialize CKR_OK
	rec 5 4250 2 C_Finalize CKR_OK
} >"$tmp/reuse.jsonl"
run 0 "summary of a trace where a pid was used again" "$P11SHIM" trace summary "$tmp/reuse.jsonl"
has "$tmp/out" "summary: a pid used again is a second process" "processes  2, threads 2"
has "$tmp/out" "summary: the second process of pid 4242 is marked" "pid 4242 #2"
run 0 "summary --json of the same" "$P11SHIM" trace summary --json "$tmp/reuse.jsonl"
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); p=d["processes"]; sys.exit(0 if len(p)==2 and sorted(x.get("run",1) for x in p)==[1,2] and all(x["pid"]==4242 for x in p) else 1)' "$tmp/out"; then
	ok "summary --json: two processes of pid 4242, runs 1 and 2"
else
	not_ok "summary --json: not two processes of pid 4242" "$tmp/out"
fi

echo "1..$count"
if test $failures -ne 0; then
	echo "$failures of $count checks failed"
	exit 1
fi
exit 0
