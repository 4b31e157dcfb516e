#!/bin/bash
# The Windows tests under Wine (issues 6 and 12), run by scripts/win32.sh
# after a --host=i686-w64-mingw32 or --host=x86_64-w64-mingw32 build and
# `make win32-tests`:
#
#   tests/win32/test-win32.sh [--pe-only] BUILDDIR
#
# The target is the build's host (its Makefile): the 32-bit build runs
# under 32-bit Wine with [backend] PKCS11LibraryWindows32, the 64-bit one
# under wine64 with PKCS11LibraryWindows64 and 64-bit sims.
#
# 1. The PE files: p11shim.dll exports exactly conf/p11shim.def (every C_*
#    of include/p11fn.def and the two interface functions) and, like
#    p11shim.exe, imports only Windows system DLLs; each has a version
#    resource; the two sims carry 5.7.1 and 5.7.2; every file is a PE of
#    the build's architecture. --pe-only stops here (no Wine needed: for
#    the 32-bit build on a machine that cannot execute 32-bit code).
# 2. tests/win32/client.exe (TAP): the shim in front of the Windows
#    personal-sim, from C:\p11shim test\ (a space, as in Program Files),
#    with the middleware's Windows layout in the prefix:
#    C:\Program Files (x86)\Personal\config\Personal.cfg and iD2ppa.cfg.
# 3. The cmocka unit tests (.exe); those that need fork() skip, saying why.
# 4. p11shim.exe doctor against that layout, once healthy, once with the
#    %APPDATA% override turning caching on.
# 5. tests/win32/test-acl.sh (the tamper checks), test-installer.sh (the
#    NSIS installer) and test-pkcs11-tool.sh (OpenSC's pkcs11-tool.exe
#    through the DLL), each with this build and this Wine.
#
# pkcs11-tool.exe: WIN_PKCS11_TOOL, else what BUILDDIR/../deps.env names
# (scripts/win32-deps.sh builds it); also PE-checked in 1.
#
# WINEPREFIX defaults to BUILDDIR/../wineprefix (made on first use, about
# 10 s); console programs need no display. Exit 0 only when all passed.
set -u

pe_only=
[ "${1:-}" = --pe-only ] && { pe_only=1; shift; }
BUILD=$(cd "${1:?usage: test-win32.sh [--pe-only] BUILDDIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
HOST=${HOST:-$(sed -n 's/^host = //p' "$BUILD/Makefile")}
case $HOST in
i686-*)
	BITS=32 PEFMT=pei-i386 WINEARCH=win32 WINE=/usr/lib/wine/wine ;;
x86_64-*)
	BITS=64 PEFMT=pei-x86-64 WINEARCH=win64 WINE=/usr/lib/wine/wine64
	# The 64-bit loader, also for the programs Wine starts itself.
	export WINELOADER=$WINE ;;
*) echo "test-win32.sh: $BUILD is not a mingw build (host '$HOST')" >&2; exit 2 ;;
esac
KEY=PKCS11LibraryWindows$BITS
export WINEPREFIX=${WINEPREFIX:-$(dirname "$BUILD")/wineprefix}
export WINEARCH WINEDEBUG=${WINEDEBUG:--all}
# Wine must not try to open windows or install Mono/Gecko.
export DISPLAY= WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"

failed=0
say() { printf '==> %s\n' "$*"; }
# Every failed check is said again at the end: CI shows a run's tail only.
FAILS=
fail() {
	printf 'FAIL: %s\n' "$*"
	failed=1
	FAILS="$FAILS    FAIL: $*
"
}
pass() { printf 'ok: %s\n' "$*"; }

# The real program: a libtool build leaves a wrapper where .libs/ holds it.
exe() {
	local d b
	d=$(dirname "$1") b=$(basename "$1")
	if [ -f "$d/.libs/$b" ]; then echo "$d/.libs/$b"; else echo "$1"; fi
}

OBJDUMP=${OBJDUMP:-$HOST-objdump}
DLL=$BUILD/.libs/p11shim.dll
CLI=$(exe "$BUILD/src/tool/p11shim.exe")
CLIENT=$(exe "$BUILD/tests/win32/client.exe")
if [ -z "${WIN_PKCS11_TOOL:-}" ] && [ -f "$(dirname "$BUILD")/deps.env" ]; then
	WIN_PKCS11_TOOL=$(. "$(dirname "$BUILD")/deps.env" && echo "${WIN_PKCS11_TOOL:-}")
fi
export WIN_PKCS11_TOOL=${WIN_PKCS11_TOOL:-}

# ---- 1. the PE files ----
say "PE files ($HOST)"
# Windows' own DLLs, and what the C runtime (msvcrt) needs; nothing that
# would have to be shipped beside the shim.
system_dll='^(kernel32|user32|advapi32|msvcrt|ws2_32|crypt32|version|gdi32|bcrypt|shell32|ole32|shlwapi)\.dll$'
# OpenSC's pkcs11-tool.exe (static, from scripts/win32-deps.sh) as well: it
# must run with no DLL beside it.
for f in "$DLL" "$CLI" ${WIN_PKCS11_TOOL:+"$WIN_PKCS11_TOOL"}; do
	[ -f "$f" ] || { fail "$f not built"; continue; }
	imports=$($OBJDUMP -p "$f" | sed -n 's/^\s*DLL Name: //p' | tr 'A-Z' 'a-z' | sort -u)
	bad=$(echo "$imports" | grep -v -E "$system_dll" || true)
	if [ -n "$bad" ]; then
		fail "$(basename "$f") imports non-system DLLs: $(echo $bad)"
	else
		pass "$(basename "$f") imports only system DLLs: $(echo $imports)"
	fi
	if $OBJDUMP -p "$f" | grep -q 'Resource Directory'; then
		$HOST-windres -i "$f" -O rc 2>/dev/null | grep -q "VALUE \"FileVersion\"" &&
			pass "$(basename "$f") has a version resource" ||
			fail "$(basename "$f") has no VERSIONINFO"
	else
		fail "$(basename "$f") has no resources"
	fi
done
if [ -f "$DLL" ]; then
	want=$(grep -o '^P11FN[A-Z0-9_]*([A-Za-z]*' "$SRC/include/p11fn.def" | sed 's/.*(/C_/' | sort)
	def=$(sed -n 's/^\s*\(C_[A-Za-z]*\)\s*$/\1/p' "$SRC/conf/p11shim.def" | sort)
	got=$($OBJDUMP -p "$DLL" | sed -n '/\[Ordinal\/Name Pointer\] Table/,/^$/p' |
	      sed -n 's/^\s*\[\s*[0-9]*\] \(.*\)$/\1/p' | sort)
	[ "$want" = "$def" ] && pass "conf/p11shim.def lists include/p11fn.def's functions" ||
		fail "conf/p11shim.def and include/p11fn.def differ: $(diff <(echo "$want") <(echo "$def") | grep '^[<>]' | tr '\n' ' ')"
	[ "$got" = "$def" ] && pass "p11shim.dll exports exactly conf/p11shim.def ($(echo "$got" | wc -l) functions)" ||
		fail "p11shim.dll exports differ from conf/p11shim.def: $(diff <(echo "$def") <(echo "$got") | grep '^[<>]' | head -5 | tr '\n' ' ')"
	# cdecl, plain names: no _C_Login@4 or C_Login@4 decorations.
	if echo "$got" | grep -q '@'; then fail "decorated (stdcall) export names"; fi
fi
# Every file of the build is a PE of its architecture: a 64-bit shim loads
# only 64-bit sims, a 32-bit one only 32-bit ones.
for f in "$DLL" "$CLI" "$CLIENT" "$BUILD"/tests/win32/sim-5.7.*/.libs/personal.dll \
	"$BUILD/tests/win32/crash/.libs/crashmod.dll" ${WIN_PKCS11_TOOL:+"$WIN_PKCS11_TOOL"}; do
	[ -f "$f" ] || { fail "$f not built"; arch_ok=no; continue; }
	fmt=$($OBJDUMP -f "$f" | sed -n 's/.*file format //p')
	[ "$fmt" = "$PEFMT" ] || { fail "${f#"$BUILD"/} is $fmt, not $PEFMT"; arch_ok=no; }
done
[ "${arch_ok:-}" = no ] || pass "the shim, its CLI, the client, the sims${WIN_PKCS11_TOOL:+ and pkcs11-tool.exe} are all $PEFMT"
for v in 5.7.1 5.7.2; do
	f=$BUILD/tests/win32/sim-$v/.libs/personal.dll
	if $HOST-windres -i "$f" -O rc 2>/dev/null | tr -d ' ' | grep -q "FILEVERSION${v//./,},0"; then
		pass "sim-$v/personal.dll has FILEVERSION $v"
	else
		fail "sim-$v/personal.dll lacks FILEVERSION $v"
	fi
done

if [ -n "$pe_only" ]; then
	[ $failed -eq 0 ] || { say "$HOST PE checks FAILED"; exit 1; }
	say "$HOST PE checks passed (--pe-only: nothing run under Wine)"
	exit 0
fi
[ -x "$WINE" ] || { echo "test-win32.sh: $WINE missing (Debian: wine and ${WINE##*/} packages)" >&2; exit 1; }

# ---- the prefix and the layout ----
if [ ! -f "$WINEPREFIX/system.reg" ]; then
	say "making the Wine prefix $WINEPREFIX (once)"
fi
# One server and its services for all the runs below, started here with
# their output to /dev/null: else they would hold the pipe of the first
# $(wine ...) open, and it would never end.
wineserver -p 60 </dev/null >/dev/null 2>&1
"$WINE" wineboot -i </dev/null >/dev/null 2>&1
LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT
# run LOGNAME CMD...: wine's output to a file (see above), then on stdout.
run() {
	local name=$1
	shift
	"$@" </dev/null >"$LOG/$name" 2>&1
	local rc=$?
	cat "$LOG/$name"
	return $rc
}
C=$WINEPREFIX/drive_c
T="$C/p11shim test"
rm -rf "$T"
mkdir -p "$T/sim-5.7.1" "$T/sim-5.7.2" "$T/crash" "$T/appdata-cache-on/Personal/config"
cp "$DLL" "$T/"
cp "$BUILD/tests/win32/sim-5.7.1/.libs/personal.dll" "$T/sim-5.7.1/"
cp "$BUILD/tests/win32/sim-5.7.2/.libs/personal.dll" "$T/sim-5.7.2/"
cp "$BUILD/tests/win32/crash/.libs/crashmod.dll" "$T/crash/"
cp "$CLIENT" "$T/client.exe"
cp "$SRC/tests/personal-sim/fixtures/basic.ini" "$T/sim.ini"
cp "$SRC/tests/personal-sim/fixtures/Personal-nocache.cfg" "$T/"
printf '[Cache]\r\nCacheValidity=1\r\n' >"$T/appdata-cache-on/Personal/config/Personal.cfg"

# The guide's layout: system Personal.cfg (caching off, a SkipReader line),
# iD2ppa.cfg naming a PIN-encryption certificate (any dummy one will do).
P="$C/Program Files (x86)/Personal/config"
rm -rf "$C/Program Files (x86)/Personal"
mkdir -p "$P"
printf '[Cache]\r\nCacheValidity=0\r\n[Readers]\r\nSkipReader=Windows Hello for Business .*\r\n' >"$P/Personal.cfg"
openssl req -x509 -newkey rsa:2048 -nodes -keyout /dev/null -out "$P/pinenc.pem" -days 365 \
	-subj "/CN=PIN encryption dummy" >/dev/null 2>&1 || fail "openssl req"
printf '[PIN Encryption]\r\nFile=C:/Program Files (x86)/Personal/config/pinenc.pem\r\n' >"$P/iD2ppa.cfg"
APPDATA_UNIX="$C/users/$(id -un)/AppData/Roaming"
rm -rf "$APPDATA_UNIX/Personal" "$APPDATA_UNIX/p11shim"

# ---- 2. the client ----
say "tests/win32/client.exe (p11shim.dll in front of the Windows personal-sim)"
out=$(cd "$T" && run client "$WINE" client.exe 'C:\p11shim test')
rc=$?
echo "$out" | grep -E '^(ok|not ok|#|1\.\.|Bail)' | sed 's/^/    /'
if [ $rc -ne 0 ] || echo "$out" | grep -q '^not ok'; then
	fail "client.exe: $(echo "$out" | grep -c '^not ok') of $(echo "$out" | grep -c '^\(not \)\?ok') failed (exit $rc)"
	echo "$out" | grep -v -E '^(ok|not ok|#|1\.\.)' | head -20 | sed 's/^/    | /'
else
	pass "client.exe: $(echo "$out" | grep -c '^ok') checks"
fi

# ---- 3. unit tests ----
say "cmocka unit tests"
U="$C/p11shim unit"
rm -rf "$U"
mkdir -p "$U"
# The tests' "/tmp/...": Wine's C library takes it for the Unix /tmp, its
# CreateFile for C:\tmp. One folder for both:
[ -L "$C/tmp" ] || { rm -rf "$C/tmp"; ln -s /tmp "$C/tmp"; }
cp "$DLL" "$U/"
for t in "$BUILD"/tests/unit/test_*.exe; do
	[ -f "$t" ] || continue
	name=$(basename "$t" .exe)
	cp "$(exe "$t")" "$U/$name.exe"
	# TMPDIR stays Unix (wineserver's socket lives there): the tests' "/tmp"
	# is C:\tmp for a program run from drive C:.
	out=$(cd "$U" && SHIM_MODULE='C:\p11shim unit\p11shim.dll' top_srcdir="Z:$SRC" \
	      run "$name" "$WINE" "$name.exe")
	rc=$?
	summary=$(echo "$out" | grep -E '^\[  (PASSED|FAILED|SKIPPED)  \]' | tr '\n' ' ')
	if [ $rc -eq 0 ]; then
		pass "$name: $summary"
	else
		fail "$name (exit $rc): $summary"
		echo "$out" | grep -E '^\[  (FAILED|  ERROR)|error|Error' | head -10 | sed 's/^/    | /'
	fi
done

# ---- 4. doctor ----
if [ -f "$CLI" ] && $OBJDUMP -p "$CLI" >/dev/null 2>&1 && strings "$CLI" | grep -q 'doctor'; then
	say "p11shim.exe doctor against the Windows layout"
	cp "$CLI" "$T/p11shim.exe"
	printf '[backend]\r\n%s = C:/p11shim test/sim-5.7.2/personal.dll\r\n' "$KEY" >"$T/doctor.conf"
	out=$(cd "$T" && P11SHIM_CONF='C:\p11shim test\doctor.conf' PERSONAL_SIM_CONF='C:\p11shim test\sim.ini' \
	      run doctor "$WINE" p11shim.exe doctor)
	rc=$?
	echo "$out" | sed 's/^/    | /' | head -60
	if [ $rc -eq 0 ] && echo "$out" | grep -q 'Personal.cfg' && echo "$out" | grep -q 'iD2ppa.cfg'; then
		pass "doctor: healthy layout passes, Personal.cfg and iD2ppa.cfg checked"
	else
		fail "doctor on the healthy layout (exit $rc)"
	fi
	mkdir -p "$APPDATA_UNIX/Personal/config"
	printf '[Cache]\r\nCacheValidity=1\r\n' >"$APPDATA_UNIX/Personal/config/Personal.cfg"
	out=$(cd "$T" && P11SHIM_CONF='C:\p11shim test\doctor.conf' PERSONAL_SIM_CONF='C:\p11shim test\sim.ini' \
	      run doctor-cache "$WINE" p11shim.exe doctor)
	rc=$?
	rm -rf "$APPDATA_UNIX/Personal"
	if [ $rc -ne 0 ] && echo "$out" | grep -q 'AppData.Roaming.Personal.config.Personal.cfg'; then
		pass "doctor: caching on in the %APPDATA% override fails, naming that file"
	else
		fail "doctor with caching on in %APPDATA%\\Personal\\config\\Personal.cfg (exit $rc)"
		echo "$out" | grep -i cach | head -5 | sed 's/^/    | /'
	fi
else
	say "p11shim.exe doctor: not built yet (src/tool), skipped"
fi

# ---- 5. the tamper checks and the installer: scripts of their own ----
for t in test-acl.sh test-installer.sh test-pkcs11-tool.sh; do
	say "$t"
	bash "$SRC/tests/win32/$t" "$BUILD" "${WINE:-wine}" >"$BUILD/$t.log" 2>&1
	rc=$?
	sed 's/^/    /' "$BUILD/$t.log"
	case $rc in
	0) pass "$t" ;;
	77) say "$t: skipped (a tool is missing, see above)" ;;
	*) fail "$t: $(grep -A3 '^FAIL' "$BUILD/$t.log" | tr -s ' \n' ' ' | cut -c1-600)" ;;
	esac
done

wineserver -k >/dev/null 2>&1 || true
if [ $failed -ne 0 ]; then
	say "Windows tests ($HOST) FAILED:"
	printf '%s' "$FAILS"
	exit 1
fi
say "Windows tests ($HOST) passed"
