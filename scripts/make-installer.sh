#!/bin/sh
# The Windows installer (scripts/installer.nsi) from a release stage:
#
#   scripts/make-installer.sh ARCH VERSION STAGE SRCDIR OUTFILE
#
# ARCH: win32 (32-bit, %ProgramFiles(x86)%) or win64 (x64, %ProgramFiles%).
# STAGE holds p11shim.dll, p11shim.exe, p11shim.conf (the sample, CRLF),
# README.txt and LICENSE.txt, as scripts/release stages them; SRCDIR is
# the source tree, whose manual pages go into doc\ as text (CRLF, for
# Notepad). Needs makensis (Debian's nsis). Called by scripts/release and
# tests/win32/test-installer.sh.
set -eu

ARCH=${1:?usage: make-installer.sh ARCH VERSION STAGE SRCDIR OUTFILE}
VERSION=${2:?usage: make-installer.sh ARCH VERSION STAGE SRCDIR OUTFILE}
STAGE=$(cd "${3:?usage: make-installer.sh ARCH VERSION STAGE SRCDIR OUTFILE}" && pwd)
SRC=$(cd "${4:?usage: make-installer.sh ARCH VERSION STAGE SRCDIR OUTFILE}" && pwd)
OUT=${5:?usage: make-installer.sh ARCH VERSION STAGE SRCDIR OUTFILE}
case $ARCH in win32 | win64) ;; *) echo "make-installer: ARCH is win32 or win64, not $ARCH" >&2; exit 2 ;; esac
command -v makensis >/dev/null || { echo "make-installer: makensis missing: apt-get install nsis" >&2; exit 1; }
for f in p11shim.dll p11shim.exe p11shim.conf README.txt LICENSE.txt; do
	[ -f "$STAGE/$f" ] || { echo "make-installer: $STAGE/$f missing" >&2; exit 1; }
done

# The manual pages as plain text; a separate folder, so the stage (the zip)
# stays as it is.
work=$(mktemp -d "${TMPDIR:-/tmp}/p11shim-nsis.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$STAGE"/p11shim.dll "$STAGE"/p11shim.exe "$STAGE"/p11shim.conf "$STAGE"/README.txt \
	"$STAGE"/LICENSE.txt "$work/"
mkdir "$work/doc"
for m in "$SRC"/doc/*.[1-8]; do
	[ -f "$m" ] || continue
	# SOURCE_DATE_EPOCH (set by scripts/release) keeps groff's output stable.
	MANWIDTH=80 LC_ALL=C.UTF-8 man -E UTF-8 -l "$m" 2>/dev/null | col -bx | sed 's/$/\r/' \
		>"$work/doc/$(basename "$m").txt"
	[ -s "$work/doc/$(basename "$m").txt" ] || { echo "make-installer: cannot render $m" >&2; exit 1; }
done

# The same files give the same setup program: fixed file times.
[ -z "${SOURCE_DATE_EPOCH:-}" ] || find "$work" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
case $OUT in /*) ;; *) OUT=$(pwd)/$OUT ;; esac
# makensis takes Windows-style paths as they are on Linux; -V2: warnings and errors.
makensis -V2 -WX -DVERSION="$VERSION" -DARCH="$ARCH" -DSTAGE="$work" -DOUTFILE="$OUT" \
	"$SRC/scripts/installer.nsi"
echo "==> ${OUT##*/}: $(wc -c <"$OUT") bytes"
