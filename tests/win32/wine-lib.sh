# Sourced by tests/win32/test-acl.sh and test-installer.sh: their arguments
# (BUILDDIR WINE), Wine's environment, the build's files, and the helpers.
# Sets BUILD, WINE, SRC, WINEPREFIX (default BUILDDIR/../wineprefix), DLL,
# SIM (the 5.7.2 personal-sim), KEY (the backend key of the DLL's word
# size), ARCH (win32, win64), LOG (a scratch folder, removed on exit).
me=$(basename "$0")
BUILD=$(cd "${1:?usage: $me BUILDDIR WINE}" && pwd)
WINE=${2:?usage: $me BUILDDIR WINE}
export WINEPREFIX=${WINEPREFIX:-$(dirname "$BUILD")/wineprefix}
# Wine must not try to open windows or install Mono/Gecko.
export WINEDEBUG=${WINEDEBUG:--all} DISPLAY= WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
SRC=$(cd "$(dirname "$0")/../.." && pwd)

failed=0
say() { printf '==> %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; failed=1; }
pass() { printf 'ok: %s\n' "$*"; }
# The real program: a libtool build leaves a wrapper where .libs/ holds it.
exe() {
	local d b
	d=$(dirname "$1") b=$(basename "$1")
	if [ -f "$d/.libs/$b" ]; then echo "$d/.libs/$b"; else echo "$1"; fi
}

make -s -C "$BUILD" win32-tests >/dev/null || { echo "$me: make win32-tests failed in $BUILD" >&2; exit 1; }
DLL=$BUILD/.libs/p11shim.dll
SIM=$BUILD/tests/win32/sim-5.7.2/.libs/personal.dll
case $(x86_64-w64-mingw32-objdump -f "$DLL" 2>/dev/null || i686-w64-mingw32-objdump -f "$DLL") in
*x86-64*) ARCH=win64 KEY=PKCS11LibraryWindows64 ;;
*) ARCH=win32 KEY=PKCS11LibraryWindows32 ;;
esac

# Wine's output to a file (a program it starts may hold a pipe open), then
# on stdout without the CRs: run NAME CMD...
LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT
run() {
	local name=$1
	shift
	"$@" </dev/null >"$LOG/$name" 2>&1
	local rc=$?
	tr -d '\r' <"$LOG/$name"
	return $rc
}

# wine_wait: waits for the Wine programs of WINEPREFIX to end (an
# uninstaller that copies itself to %TEMP% and returns at once), at most
# 60 s: `wineserver -w` alone has been seen waiting forever when Wine's
# own services outlived every program (a run of this script blocked 27
# minutes). What the wait was for is checked after it.
wine_wait() {
	local ws
	ws=$(command -v wineserver 2>/dev/null || echo /usr/lib/wine/wineserver64)
	timeout 60 "$ws" -w 2>/dev/null || true
}
