#!/bin/bash
# The Windows tamper checks under Wine, after a mingw build and
# `make win32-tests` (any word size the machine runs: x64 with wine64):
#
#   tests/win32/test-acl.sh BUILDDIR WINE
#
# WINE: the command that runs the build's programs (/usr/lib/wine/wine64,
# wine). WINEPREFIX: from the environment, else BUILDDIR/../wineprefix.
#
# 1. tests/win32/test_acl.exe (TAP): the decision over security
#    descriptors written as SDDL, and the error lines.
# 2. Through the DLL (tests/win32/initclient.exe, C_Initialize): under Wine
#    a file's DACL follows its Unix mode (o+w: Everyone may write), so a
#    configuration file, a backend DLL or a folder on their path that
#    Everyone can write makes C_Initialize fail with the error line; after
#    chmod o-w it works. Wine gives nothing to the group bits, so o+w it is.
# 3. The trace folder and file the shim creates are the user's, SYSTEM's
#    and Administrators' only: Wine shows that as no mode bits for others
#    (which a folder created without it would have: 0755).
# 4. p11shim.exe doctor says what it checked (owner, who can change it).
# Exit 0 only when all passed.
set -u

. "$(dirname "$0")/wine-lib.sh"

# ---- 1. the decision ----
say "test_acl.exe: the decision over SDDL"
T="$WINEPREFIX/drive_c/p11shim acl"
rm -rf "$T"
mkdir -p "$T/conf" "$T/sim"
chmod 755 "$T" "$T/conf" "$T/sim"
cp "$(exe "$BUILD/tests/win32/test_acl.exe")" "$T/test_acl.exe"
out=$(cd "$T" && run test_acl "$WINE" test_acl.exe)
rc=$?
echo "$out" | grep -E '^(ok|not ok)' | sed 's/^/    /'
if [ $rc -eq 0 ] && ! echo "$out" | grep -q '^not ok' && echo "$out" | grep -q '^1\.\.'; then
	pass "test_acl.exe: $(echo "$out" | grep -c '^ok') SDDL cases"
else
	fail "test_acl.exe (exit $rc)"
	echo "$out" | grep -A1 '^not ok' | sed 's/^/    | /'
fi

# ---- 2. through the DLL ----
say "C_Initialize through p11shim.dll with files Everyone can write"
cp "$DLL" "$T/p11shim.dll"
cp "$SIM" "$T/sim/personal.dll"
cp "$(exe "$BUILD/tests/win32/initclient.exe")" "$T/initclient.exe"
cp "$SRC/tests/personal-sim/fixtures/basic.ini" "$T/sim.ini"
chmod 644 "$T"/*.dll "$T"/*.ini "$T/sim/personal.dll"
# The middleware's own files are not what this test is about.
printf '[backend]\r\n%s = C:/p11shim acl/sim/personal.dll\r\n[middleware]\r\nEnforce = off\r\n' \
	"$KEY" >"$T/conf/acl.conf"
chmod 644 "$T/conf/acl.conf"
export P11SHIM_CONF='C:\p11shim acl\conf\acl.conf' PERSONAL_SIM_CONF='C:\p11shim acl\sim.ini'

# init NAME: C_Initialize through the DLL; prints what it printed.
init() { (cd "$T" && run "$1" "$WINE" initclient.exe 'C:\p11shim acl\p11shim.dll'); }

out=$(init healthy)
rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q '^C_Initialize: 0x0'; then
	pass "nobody else can write: C_Initialize works ($(echo "$out" | grep '^slots'))"
else
	fail "the healthy layout: exit $rc"
	echo "$out" | head -5 | sed 's/^/    | /'
fi

# refused NAME UNIXPATH TEXT...: chmod o+w UNIXPATH makes C_Initialize fail
# with a line holding every TEXT; chmod o-w makes it work again.
refused() {
	local name=$1 target=$2 t good=1
	shift 2
	chmod o+w "$target"
	out=$(init "$name")
	rc=$?
	chmod o-w "$target"
	[ $rc -ne 0 ] || good=0
	echo "$out" | grep -q '^C_Initialize: 0x5$' || good=0 # CKR_GENERAL_ERROR
	for t in "$@"; do echo "$out" | grep -qF -- "$t" || good=0; done
	if [ $good = 1 ]; then
		pass "$name: C_Initialize refused"
		echo "$out" | grep 'p11shim' | head -2 | sed 's/^/    | /'
	else
		fail "$name (exit $rc): wanted $*"
		echo "$out" | head -5 | sed 's/^/    | /'
	fi
	out=$(init "$name-fixed")
	rc=$?
	if [ $rc -eq 0 ] && echo "$out" | grep -q '^C_Initialize: 0x0'; then
		pass "$name: after chmod o-w, C_Initialize works"
	else
		fail "$name: still refused after chmod o-w (exit $rc)"
		echo "$out" | head -3 | sed 's/^/    | /'
	fi
}

refused "configuration file Everyone can write" "$T/conf/acl.conf" \
	'C:\p11shim acl\conf\acl.conf: Everyone can change the configuration file (write data (WD)' \
	'so the shim refuses it; fix: icacls "C:\p11shim acl\conf\acl.conf" /grant:r *S-1-1-0:RX'
refused "configuration file in a folder Everyone can write" "$T/conf" \
	'the configuration file is in the folder C:\p11shim acl\conf, where Everyone can add files (WD)' \
	'fix: icacls "C:\p11shim acl\conf" /grant:r *S-1-1-0:RX'
refused "configuration file in a folder further up that Everyone can write" "$T" \
	'the configuration file is reached through the folder C:\p11shim acl, where Everyone can delete entries (DC)'
refused "backend DLL Everyone can write" "$T/sim/personal.dll" \
	'C:/p11shim acl/sim/personal.dll: Everyone can change the backend library' \
	'(set by C:\p11shim acl\conf\acl.conf' 'fix: icacls "C:\p11shim acl\sim\personal.dll"'
refused "backend DLL in a folder Everyone can write" "$T/sim" \
	'the backend library is in the folder C:\p11shim acl\sim, where Everyone can add files (WD)'

# The same refusal reaches the Windows Event Log: ReportEventW with the
# event's line (Wine prints what it is given on its "eventlog" channel).
chmod o+w "$T/conf/acl.conf"
out=$(cd "$T" && WINEDEBUG=err+eventlog run event-log "$WINE" initclient.exe 'C:\p11shim acl\p11shim.dll')
chmod o-w "$T/conf/acl.conf"
if echo "$out" | grep 'eventlog:ReportEventW' | grep -q 'event=101 refused area=config'; then
	pass "the refusal is reported to the Event Log (ReportEventW, event 101)"
	echo "$out" | grep 'eventlog:ReportEventW' | head -1 | cut -c1-160 | sed 's/^/    | /'
else
	fail "no ReportEventW of event 101 for the refused configuration"
	echo "$out" | grep -i 'event' | head -3 | sed 's/^/    | /'
fi

# ---- 3. the trace's DACL ----
say "the trace folder and file: the user, SYSTEM and Administrators only"
# The default trace folder, %APPDATA%\p11shim\log, made by the shim.
APPDATA_UNIX="$WINEPREFIX/drive_c/users/$(id -un)/AppData/Roaming"
rm -rf "$APPDATA_UNIX/p11shim"
{ cat "$T/conf/acl.conf"; printf '[trace]\r\nEnable = true\r\n'; } >"$T/conf/trace.conf"
chmod 644 "$T/conf/trace.conf"
out=$(P11SHIM_CONF='C:\p11shim acl\conf\trace.conf' init trace)
rc=$?
f=$(ls "$APPDATA_UNIX"/p11shim/log/p11shim-*.jsonl 2>/dev/null | head -n 1)
if [ $rc -eq 0 ] && [ -s "$f" ]; then
	modes="$(stat -c %a "$APPDATA_UNIX/p11shim") $(stat -c %a "$APPDATA_UNIX/p11shim/log") $(stat -c %a "$f")"
	# Wine maps the DACL to the mode: nothing for the group or others.
	# (Wine gives the group bits to Administrators, and no others.)
	case $modes in
	*[1-7]" "* | *[1-7]) fail "trace folders and file: modes $modes, others may use them" ;;
	*) pass "trace folders and file made owner-only (Wine shows modes $modes: nothing for others)" ;;
	esac
else
	fail "no trace written (exit $rc)"
	echo "$out" | head -3 | sed 's/^/    | /'
fi
rm -rf "$APPDATA_UNIX/p11shim"

# ---- 4. doctor ----
say "p11shim.exe doctor reports what it checked"
cp "$(exe "$BUILD/src/tool/p11shim.exe")" "$T/p11shim.exe"
out=$(cd "$T" && run doctor "$WINE" p11shim.exe doctor)
if echo "$out" | grep -q 'personal.dll exists: owner .*; can change it: ' &&
   echo "$out" | grep -q 'acl.conf: it replaces the system and user files; owner .*; can change it: '; then
	pass "doctor names the owner and who can change the configuration and the backend"
	echo "$out" | grep 'can change it' | sed 's/^/    | /'
else
	fail "doctor does not report the owner and writers"
	echo "$out" | head -30 | sed 's/^/    | /'
fi
chmod o+w "$T/sim/personal.dll"
out=$(cd "$T" && run doctor-refused "$WINE" p11shim.exe doctor)
rc=$?
chmod o-w "$T/sim/personal.dll"
if [ $rc -ne 0 ] && echo "$out" | grep -q 'Everyone can change the backend library' &&
   echo "$out" | grep -q 'icacls'; then
	pass "doctor fails on a backend Everyone can write, with the icacls fix"
else
	fail "doctor on a backend Everyone can write (exit $rc)"
	echo "$out" | head -30 | sed 's/^/    | /'
fi

rm -rf "$T"
exit $failed
