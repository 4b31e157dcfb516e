#!/bin/sh
# `p11shim trace report` (one self-contained HTML page) from the trace
# fixtures (tests/fixtures/traces/EXPECTED):
# - every fixture: a page whose embedded diagnosis has the fixture's
#   findings, that loads nothing from elsewhere (no src=, href= or url());
# - in a real browser (Debian's chromium, headless; about 10 s a page here,
#   so three pages): the rendered DOM of a call in flight, a finding with its
#   fix, and a clean gzip trace holds the findings and the call still in the
#   backend, and a screenshot of the in-flight one goes to
#   $top_builddir/artefacts/.
set -u
builddir=${top_builddir:-.}
srcdir=${top_srcdir:-.}
P11SHIM=${P11SHIM:-$builddir/src/tool/p11shim}
FIX=$srcdir/tests/fixtures/traces
ART=$builddir/artefacts
test -x "$P11SHIM" || { echo "missing $P11SHIM (build it first)" >&2; exit 99; }
missing() {
	echo "$1 missing" >&2
	[ "${CI:-}" = true ] && exit 1
	exit 77
}
command -v python3 >/dev/null || missing python3
command -v chromium >/dev/null || missing chromium
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-trace-report.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$ART"

failures=0
count=0
check() { # NAME COMMAND...: one TAP line
	name=$1
	shift
	count=$((count + 1))
	if "$@"; then echo "ok $count - $name"; else echo "not ok $count - $name"; failures=$((failures + 1)); fi
}

grep -v '^#' "$FIX/EXPECTED" | grep -v '^[[:space:]]*$' >"$tmp/expected"
page_ok() { # FILE FINDINGS
	"$P11SHIM" trace report -o "$tmp/$1.html" "$FIX/$1" 2>"$tmp/err" || { cat "$tmp/err"; return 1; }
	python3 - "$tmp/$1.html" "$2" <<'PY'
import json, re, sys
page = open(sys.argv[1], encoding="utf-8").read()
want = sys.argv[2]
m = re.search(r'<script id="data" type="application/json">\n(.*?)\n</script>', page, re.S)
assert m, "no data"
d = json.loads(m.group(1))
got = ",".join(f"{f['id']}:{f['severity']}" for f in d["diagnosis"]["findings"]) or "none"
assert got == want, (got, want)
# Self-contained: nothing fetched from anywhere.
assert not re.search(r'\b(src|href)\s*=|url\(|@import|https?://', page, re.I), "loads something"
assert d["records"] > 0 and d["timeline"]["calls"], "no calls"
PY
}
while read -r file rc findings rest; do
	check "report of $file: $findings" page_ok "$file" "$findings"
done <"$tmp/expected"

# In the browser.
browse() { # NAME: dump the DOM of $tmp/NAME.html (and a screenshot with a second argument)
	prof=$(mktemp -d "$tmp/profile.XXXXXX")
	set -- "$1" ${2:+"--screenshot=$2"}
	timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$prof" --window-size=1300,1500 ${2:+"$2"} \
		--dump-dom "file://$(cd "$tmp" && pwd)/$1.html" >"$tmp/$1.dom" 2>"$tmp/$1.chromium-err"
}
shots="hung-login-slowcall.jsonl"
for f in hung-login-slowcall.jsonl sim-cpf.jsonl pkcs11-tool-test.jsonl.gz; do
	browse "$f"
done
# The screenshot on its own (with --dump-dom, chromium takes none).
prof=$(mktemp -d "$tmp/profile.XXXXXX")
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--user-data-dir="$prof" --window-size=1300,1500 --screenshot="$ART/report-hung-call.png" \
	"file://$(cd "$tmp" && pwd)/$shots.html" >/dev/null 2>&1
cp "$tmp/$shots.html" "$ART/report-hung-call.html"

dom_has() { # FILE TEXT...: the rendered DOM holds each text
	f=$1
	shift
	for t in "$@"; do
		grep -qF -- "$t" "$tmp/$f.dom" || { echo "# $f: rendered DOM lacks: $t"; tail -3 "$tmp/$f.chromium-err"; return 1; }
	done
}
check "browser: the hung C_Login is a finding and listed in flight" dom_has hung-login-slowcall.jsonl \
	'id="finding-hung-call"' 'class="hung mono" data-fn="C_Login">C_Login (slot 1, session 1), pid' \
	'look for a dialog of the middleware waiting for input' 'SkipReader = '
check "browser: card-profile finding with its fix" dom_has sim-cpf.jsonl \
	'id="finding-card-profile"' 'use a card profile (CPF) made for this card type' 'None: every call returned.'
check "browser: a clean gzip trace says so, naming the probing" dom_has pkcs11-tool-test.jsonl.gz \
	'Nothing to diagnose: 2 failed calls, all expected client probing' '<td class="mono">C_DigestInit</td>'
check "browser: a screenshot in $ART" test -s "$ART/report-hung-call.png"

echo "$((count - failures)) passed, $failures failed"
[ "$failures" = 0 ]
