#!/bin/bash
# The Windows installer (scripts/installer.nsi) under Wine, after a mingw
# build and `make win32-tests`:
#
#   tests/win32/test-installer.sh BUILDDIR WINE
#
# Makes the setup program of the build's word size with
# scripts/make-installer.sh (x64: Target amd64-unicode, what a machine
# without 32-bit execution can run; the 32-bit one is the same script),
# then in WINEPREFIX (default BUILDDIR/../wineprefix):
# - %PROGRAMDATA%\p11shim made beforehand by "another user", writable by
#   everyone, with a p11shim.conf of the administrator's in it;
# - silent install (/S) into a folder of our choice (/D=): the files are
#   there, the Add/Remove Programs and Event Log entries too (reg query),
#   the configuration was kept and its folder taken back (the tamper check
#   accepts it: the installed DLL loads the installed configuration
#   through a client), a fresh install puts the sample there;
# - silent uninstall: the program files and the registry entries are gone,
#   the configuration stays.
# Exit 0 only when all passed.
set -u

. "$(dirname "$0")/wine-lib.sh"
if ! command -v makensis >/dev/null; then
	echo "test-installer: makensis missing (apt-get install nsis)"
	# Under CI the suite installs it: missing there is a failure.
	[ "${CI:-}" = true ] && exit 1
	exit 77
fi

VERSION=$(sed -n 's/^PACKAGE_VERSION = //p' "$BUILD/Makefile")

# ---- the setup program, from a stage as scripts/release makes it ----
say "make-installer.sh $ARCH $VERSION"
STAGE=$LOG/stage
mkdir -p "$STAGE"
cp "$DLL" "$STAGE/"
cp "$(exe "$BUILD/src/tool/p11shim.exe")" "$STAGE/"
sed 's/$/\r/' "$SRC/conf/p11shim.conf" >"$STAGE/p11shim.conf"
sed 's/$/\r/' "$SRC/README.md" >"$STAGE/README.txt"
sed 's/$/\r/' "$SRC/LICENSE" >"$STAGE/LICENSE.txt"
SETUP=$LOG/p11shim-$VERSION-$ARCH-setup.exe
if "$SRC/scripts/make-installer.sh" "$ARCH" "$VERSION" "$STAGE" "$SRC" "$SETUP" >"$LOG/nsis" 2>&1; then
	pass "makensis: $(basename "$SETUP"), $(wc -c <"$SETUP") bytes"
else
	fail "make-installer.sh"
	sed 's/^/    | /' "$LOG/nsis" | tail -20
	exit 1
fi

C=$WINEPREFIX/drive_c
DATA=$C/ProgramData/p11shim
# No space: Wine quotes an argument with one, and NSIS takes /D= only unquoted.
INST='C:\p11shim-installed'
INST_UNIX="$C/p11shim-installed"
UNINST='HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\p11shim'
EVENT='HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\p11shim'
"$WINE" reg delete "$UNINST" /f >/dev/null 2>&1
"$WINE" reg delete "$EVENT" /f >/dev/null 2>&1
rm -rf "$DATA" "$INST_UNIX"
# Made before the administrator came, by someone who let everyone write.
mkdir -p "$DATA"
chmod 777 "$DATA"
printf '[backend]\r\n%s = C:/p11shim-installed/sim/personal.dll\r\n[middleware]\r\nEnforce = off\r\n' \
	"$KEY" >"$DATA/p11shim.conf"
chmod 644 "$DATA/p11shim.conf"
cp "$DATA/p11shim.conf" "$LOG/admin.conf"

# ---- silent install ----
say "silent install into $INST"
cp "$SETUP" "$C/setup.exe"
out=$(cd "$C" && run install "$WINE" setup.exe /S "/D=$INST")
rc=$?
rm -f "$C/setup.exe"
[ $rc -eq 0 ] && pass "setup.exe /S /D=... exits 0" || { fail "setup.exe /S (exit $rc)"; echo "$out" | head; }
missing=
for f in p11shim.dll p11shim.exe p11shim.conf.sample README.txt LICENSE.txt uninstall.exe \
	doc/p11shim.1.txt doc/p11shim.conf.5.txt; do
	[ -s "$INST_UNIX/$f" ] || missing="$missing $f"
done
[ -z "$missing" ] && pass "program files installed: $(cd "$INST_UNIX" && find . -type f | sort | tr '\n' ' ')" ||
	fail "not installed:$missing"
grep -q 'p11shim doctor' "$INST_UNIX/doc/p11shim.1.txt" 2>/dev/null &&
	pass "the manual pages are there as text" || fail "doc/p11shim.1.txt is not the manual page"

out=$(run reg-uninst "$WINE" reg query "$UNINST")
good=1
for v in "DisplayName    REG_SZ    p11shim $VERSION" "DisplayVersion    REG_SZ    $VERSION" \
	"Publisher    REG_SZ    p11shim" "UninstallString    REG_SZ    \"$INST\\uninstall.exe\"" \
	"QuietUninstallString    REG_SZ    \"$INST\\uninstall.exe\" /S"; do
	echo "$out" | grep -qF "$v" || { good=0; echo "    missing: $v"; }
done
[ $good = 1 ] && pass "Add/Remove Programs: $UNINST" || { fail "the uninstall key"; echo "$out" | sed 's/^/    | /'; }
out=$(run reg-event "$WINE" reg query "$EVENT")
if echo "$out" | grep -qF "EventMessageFile    REG_EXPAND_SZ    $INST\\p11shim.dll" &&
   echo "$out" | grep -qF 'TypesSupported    REG_DWORD    0x7'; then
	pass "Event Log source p11shim: EventMessageFile is the DLL, TypesSupported 7"
else
	fail "the Event Log source"
	echo "$out" | sed 's/^/    | /'
fi

if cmp -s "$DATA/p11shim.conf" "$LOG/admin.conf"; then
	pass "the existing %PROGRAMDATA%\\p11shim\\p11shim.conf was kept"
else
	fail "the installer replaced the existing p11shim.conf"
fi
# Wine shows the DACL the installer set as the folder's mode: nothing for others.
mode=$(stat -c %a "$DATA")
case $mode in
*[0145]) pass "%PROGRAMDATA%\\p11shim taken back: others cannot write it (Wine shows mode $mode)" ;;
*) fail "%PROGRAMDATA%\\p11shim is still mode $mode" ;;
esac

# The installed DLL, the installed configuration, through a client.
say "the installed p11shim.dll through a client"
mkdir -p "$INST_UNIX/sim"
cp "$BUILD/tests/win32/sim-5.7.2/.libs/personal.dll" "$INST_UNIX/sim/"
cp "$SRC/tests/personal-sim/fixtures/basic.ini" "$INST_UNIX/sim/sim.ini"
cp "$(exe "$BUILD/tests/win32/initclient.exe")" "$C/initclient.exe"
out=$(cd "$C" && PERSONAL_SIM_CONF="$INST\\sim\\sim.ini" run client "$WINE" initclient.exe "$INST\\p11shim.dll")
rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q '^C_Initialize: 0x0'; then
	pass "the installed DLL loads %PROGRAMDATA%\\p11shim\\p11shim.conf, which the tamper check accepts ($(echo "$out" | grep '^slots'))"
else
	fail "the installed DLL through initclient.exe (exit $rc)"
	echo "$out" | head -5 | sed 's/^/    | /'
fi
rm -rf "$INST_UNIX/sim" "$C/initclient.exe"

# ---- silent uninstall ----
say "silent uninstall"
out=$(cd "$C" && run uninstall "$WINE" "$INST\\uninstall.exe" /S)
rc=$?
# The uninstaller copies itself to %TEMP% and returns at once: wait for it.
wine_wait
left=$(cd "$INST_UNIX" 2>/dev/null && find . -type f | tr '\n' ' ')
[ $rc -eq 0 ] && [ ! -e "$INST_UNIX" ] && pass "uninstall.exe /S removed $INST" ||
	fail "after uninstall (exit $rc), left in $INST: $left"
"$WINE" reg query "$UNINST" >/dev/null 2>&1 && fail "the uninstall key is still there" ||
	pass "the Add/Remove Programs entry is gone"
"$WINE" reg query "$EVENT" >/dev/null 2>&1 && fail "the Event Log source is still there" ||
	pass "the Event Log source is gone"
cmp -s "$DATA/p11shim.conf" "$LOG/admin.conf" && pass "the configuration stays after uninstall" ||
	fail "uninstall removed or changed %PROGRAMDATA%\\p11shim\\p11shim.conf"

# ---- a fresh install puts the sample configuration in place ----
say "fresh install"
rm -rf "$DATA"
cp "$SETUP" "$C/setup.exe"
(cd "$C" && run install2 "$WINE" setup.exe /S "/D=$INST" >/dev/null)
rm -f "$C/setup.exe"
if cmp -s "$DATA/p11shim.conf" "$STAGE/p11shim.conf"; then
	pass "a fresh install writes the sample as %PROGRAMDATA%\\p11shim\\p11shim.conf"
else
	fail "no sample p11shim.conf after a fresh install"
fi
(cd "$C" && run uninstall2 "$WINE" "$INST\\uninstall.exe" /S >/dev/null)
wine_wait
rm -rf "$DATA" "$INST_UNIX"
exit $failed
