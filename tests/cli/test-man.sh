#!/bin/sh
# Issue 5: the manual pages p11shim(1) and p11shim.conf(5) are complete:
# - p11shim.conf(5) describes every configuration key under its section, as
#   include/p11-config.h (P11_CONFIG_KEYS) lists them, and no other;
# - p11shim(1) names every command of `p11shim --help` and `p11shim trace
#   --help`, and every option of each command's --help;
# - both render without a warning (when groff is installed).
set -eu
: "${top_srcdir:?run through make check}"
: "${P11SHIM_TOOL:?run through make check}"
MAN1="$top_srcdir/doc/p11shim.1"
MAN5="$top_srcdir/doc/p11shim.conf.5"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-man.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "FAIL: $*"
	exit 1
}
ok() {
	echo "ok - $*"
}

python3 - "$top_srcdir/include/p11-config.h" "$MAN5" <<'PY' || fail "p11shim.conf(5) and P11_CONFIG_KEYS differ"
import re, sys
keys = set(re.findall(r'X\(\s*[A-Z0-9_]+\s*,\s*"([a-z]+)"\s*,\s*"([A-Za-z0-9]+)"', open(sys.argv[1]).read()))
assert len(keys) > 20, keys
# Keys documented: the first word of the line after each .TP, per .SH "[section]".
doc, section, after_tp = set(), None, False
for line in open(sys.argv[2], encoding="utf-8"):
    line = line.rstrip("\n")
    m = re.match(r'\.SH "\[([a-z]+)\]"', line)
    if m:
        section = m.group(1)
        continue
    if line.startswith(".SH"):
        section = None
        continue
    if line == ".TP":
        after_tp = True
        continue
    if after_tp and section:
        m = re.match(r'\.B[IR]? (\w+)', line)
        if not m:
            sys.exit("p11shim.conf(5), [%s]: a .TP not followed by a key: %s" % (section, line))
        doc.add((section, m.group(1)))
    after_tp = False
missing, extra = keys - doc, doc - keys
for s, k in sorted(missing):
    print("not in p11shim.conf(5): [%s] %s" % (s, k))
for s, k in sorted(extra):
    print("in p11shim.conf(5) but no such key: [%s] %s" % (s, k))
sys.exit(1 if missing or extra else 0)
PY
ok "p11shim.conf(5) describes every key of P11_CONFIG_KEYS under its section"

# Names as the man page writes them: '-' escaped as '\-'.
in_man1() {
	esc=$(printf '%s' "$1" | sed 's/-/\\\\-/g')
	grep -q -- "$esc" "$MAN1" || fail "p11shim(1) does not mention '$1'"
}
"$P11SHIM_TOOL" --help >"$tmp/help"
sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p' "$tmp/help" >"$tmp/commands"
[ -s "$tmp/commands" ] || fail "no commands in p11shim --help"
for c in $(cat "$tmp/commands"); do
	grep -q "^\.B p11shim $c" "$MAN1" || fail "p11shim(1) has no synopsis for $c"
	"$P11SHIM_TOOL" "$c" --help >"$tmp/$c.help" 2>&1 || true
done
"$P11SHIM_TOOL" trace 2>"$tmp/trace.help" || true
for c in $(sed -n 's/^  \([a-z]\{3,\}\) .*/\1/p' "$tmp/trace.help"); do
	grep -q "^\.B p11shim trace $c" "$MAN1" || fail "p11shim(1) has no synopsis for trace $c"
	"$P11SHIM_TOOL" trace "$c" --help >>"$tmp/trace.help" 2>&1 || true
done
for f in "$tmp"/*.help; do
	for o in $(grep -o -- '--[a-z][a-z-]*' "$f" | sort -u); do
		[ "$o" = --help ] || in_man1 "$o"
	done
done
ok "p11shim(1) has every command of p11shim --help and trace --help, and every option: $(tr '\n' ' ' <"$tmp/commands")"

if command -v groff >/dev/null 2>&1; then
	for m in "$MAN1" "$MAN5"; do
		groff -man -ww -z -Tutf8 "$m" 2>"$tmp/warn" || fail "groff failed on $m"
		[ -s "$tmp/warn" ] && { cat "$tmp/warn"; fail "groff warns about $m"; }
	done
	ok "both pages render without a warning"
fi
