#!/bin/sh
# `p11shim trace diagnose` and `summary` on traces of real clients
# (tests/fixtures/traces/, listed with what each must give in EXPECTED):
# - the findings, exit status, unexplained failures and probing calls;
# - summary and diagnose describe the failed calls in the same words
#   ("6 failed calls, all expected client probing: ..."), text and JSON;
# - both formats the module writes are read (a Format = text trace too);
# - no damaged line, nothing on stderr.
set -u
builddir=${top_builddir:-.}
srcdir=${top_srcdir:-.}
P11SHIM=${P11SHIM:-$builddir/src/tool/p11shim}
FIX=$srcdir/tests/fixtures/traces
test -x "$P11SHIM" || { echo "missing $P11SHIM (build it first)" >&2; exit 99; }
command -v python3 >/dev/null || { echo "python3 missing" >&2; [ "${CI:-}" = true ] && exit 1; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-trace-fixtures.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM

failures=0
count=0
grep -v '^#' "$FIX/EXPECTED" | grep -v '^[[:space:]]*$' >"$tmp/expected"
while read -r file want_rc want_findings want_unexplained want_probing; do
	count=$((count + 1))
	t="$FIX/$file"
	"$P11SHIM" trace diagnose --json "$t" >"$tmp/d.json" 2>"$tmp/err"
	rc=$?
	"$P11SHIM" trace diagnose "$t" >"$tmp/d.txt" 2>>"$tmp/err"
	"$P11SHIM" trace summary --json "$t" >"$tmp/s.json" 2>>"$tmp/err"
	"$P11SHIM" trace summary "$t" >"$tmp/s.txt" 2>>"$tmp/err"
	if python3 - "$tmp" "$file" "$rc" "$want_rc" "$want_findings" "$want_unexplained" "$want_probing" <<'PY'; then
import json, os, sys
tmp, name, rc, want_rc, want_f, want_u, want_p = sys.argv[1:]
d = json.load(open(os.path.join(tmp, "d.json"), encoding="utf-8"))
s = json.load(open(os.path.join(tmp, "s.json"), encoding="utf-8"))
err = open(os.path.join(tmp, "err"), encoding="utf-8").read()
problems = []
got_f = ",".join(f"{f['id']}:{f['severity']}" for f in d["findings"]) or "none"
if got_f != want_f:
    problems.append(f"findings {got_f}, expected {want_f}")
if rc != want_rc:
    problems.append(f"exit {rc}, expected {want_rc}")
if str(d["unexplained_failures"]) != want_u:
    problems.append(f"{d['unexplained_failures']} unexplained failures, expected {want_u}")
if str(d["probing"]) != want_p or str(s["probing"]) != want_p:
    problems.append(f"probing: diagnose {d['probing']}, summary {s['probing']}, expected {want_p}")
if d["failures"] != s["failures"]:
    problems.append(f"diagnose says {d['failures']!r}, summary {s['failures']!r}")
if d["records"] != s["records"] or d["damaged_lines"] or s["damaged_lines"]:
    problems.append(f"records: diagnose {d['records']}, summary {s['records']}, damaged lines")
if err:
    problems.append("stderr: " + err.strip()[:300])
# The text forms carry the same sentence.
sentence = d["failures"]
dt = open(os.path.join(tmp, "d.txt"), encoding="utf-8").read()
st = open(os.path.join(tmp, "s.txt"), encoding="utf-8").read()
if f"failures  {sentence}\n" not in dt or f"failures   {sentence}\n" not in st:
    problems.append(f"the text forms do not both say {sentence!r}")
if int(want_p) and int(want_p) == d["failed"] and "expected client probing" not in sentence:
    problems.append("probing is not named")
if got_f == "none" and want_u == "0" and "Nothing to diagnose" not in dt and "No failing call" not in dt:
    problems.append("a clean trace is not called clean")
for p in problems:
    print(f"  {name}: {p}")
sys.exit(1 if problems else 0)
PY
		echo "ok $count - $file: $want_findings"
	else
		echo "not ok $count - $file"
		failures=$((failures + 1))
	fi
done <"$tmp/expected"

# The text format reads as the same records as JSON Lines would give.
count=$((count + 1))
n=$("$P11SHIM" trace show "$FIX/text-keygen.log" 2>&1 | grep -c ' C_')
if [ "$n" = "$(wc -l <"$FIX/text-keygen.log" | tr -d ' ')" ]; then
	echo "ok $count - a Format = text trace: every line is a record for show"
else
	echo "not ok $count - show read $n records of the text trace"
	failures=$((failures + 1))
fi

echo "$((count - failures)) passed, $failures failed"
[ "$failures" = 0 ]
