# The Windows 32-bit build and its tests under Wine (issue 6), sourced by
# scripts/check (`scripts/check win32`) and scripts/release; needs lib.sh.
#
#   win32_build   installs what is missing, builds the static mingw
#                 libraries once (scripts/win32-deps.sh), configures
#                 --host=i686-w64-mingw32 in _build-win32/build and makes the
#                 DLL, the CLI and the Windows test parts (make win32-tests)
#   win32_test    runs tests/win32/test-win32.sh under Wine
#
# Everything lives in _build-win32/: deps/ (the libraries, cached by their
# Debian source version), build/, wineprefix/ (made on first use, ~10 s).
# First run about 3 minutes (OpenSSL is most of it); then about 1.

WIN32_HOST=i686-w64-mingw32
WIN32_DIR=${P11SHIM_WIN32_DIR:-$ROOT/_build-win32}

# What the build needs (wine comes separately, see ensure_wine32):
WIN32_PACKAGES="
autoconf automake libtool pkgconf make
gcc-mingw-w64-i686-win32 binutils-mingw-w64-i686
libz-mingw-w64-dev
libp11-kit-dev
cmake dpkg-dev perl
openssl
nsis
"

# A package's newest version that apt offers for both amd64 and i386.
win32_common_version() {
	a=$(apt-cache madison "$1:amd64" 2>/dev/null | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | sort -u)
	i=$(apt-cache madison "$1:i386" 2>/dev/null | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | sort -u)
	for v in $(printf '%s\n' "$a" | sort -r -V); do
		if printf '%s\n' "$i" | grep -qxF "$v"; then echo "$v"; return; fi
	done
}

# Wine for 32-bit programs: wine and wine32:i386. wine32 pulls in i386 builds
# of many shared libraries, which Debian allows only in the version of their
# amd64 twins; when the i386 index lags (the security archive's i386 index
# can fail to download for a while, size mismatch), apt cannot satisfy that.
# Then both architectures are pinned to the newest version apt has for both,
# package by package, found from apt's own complaints; -dev packages whose
# library moves (libssl-dev, libpcre2-dev...) move with it rather than being
# removed. Only what is missing is installed, and only these exact packages.
ensure_wine32() {
	if [ -x /usr/lib/wine/wine ] && command -v wine >/dev/null; then
		return 0
	fi
	[ "$(id -u)" = 0 ] || { echo "wine32 is missing: as root, run scripts/check win32" >&2; exit 1; }
	export DEBIAN_FRONTEND=noninteractive
	if ! dpkg --print-foreign-architectures | grep -qx i386; then
		say "dpkg --add-architecture i386"
		dpkg --add-architecture i386
	fi
	say "apt-get update (i386)"
	apt-get -o DPkg::Lock::Timeout=600 update -qq || true # a failing i386 index is handled below
	pins=
	round=0
	while :; do
		round=$((round + 1))
		# shellcheck disable=SC2086
		out=$(apt-get install -s --no-install-recommends wine wine32:i386 $pins 2>&1) && rc=0 || rc=$?
		removes=$(printf '%s\n' "$out" | sed -n 's/^Remv \([^ :]*\)\(:amd64\)\{0,1\} \[.*/\1/p')
		if [ $rc = 0 ] && [ -z "$removes" ]; then
			break
		fi
		[ $round -le 20 ] || { printf '%s\n' "$out" | tail -20 >&2; echo "cannot resolve wine32" >&2; exit 1; }
		libs=$(printf '%s\n' "$out" | sed -n 's/.*: \(Depends\|PreDepends\|Breaks\): \([^ ]*\) .*/\2/p' |
		       sed 's/:i386$//; s/:amd64$//' | sort -u)
		progress=
		for n in $libs; do
			case " $pins " in *" $n:i386="*) continue ;; esac
			v=$(win32_common_version "$n")
			[ -n "$v" ] || continue
			pins="$pins $n:i386=$v"
			dpkg-query -W -f='${Status}' "$n:amd64" 2>/dev/null | grep -q 'install ok installed' &&
				pins="$pins $n:amd64=$v"
			progress=1
		done
		for n in $removes; do
			case " $pins " in *" $n:amd64="*) continue ;; esac
			# The version of a pinned library of the same source, else the newest.
			vs=$(apt-cache madison "$n:amd64" 2>/dev/null | awk -F'|' '{ gsub(/ /, "", $2); print $2 }')
			v=
			for c in $vs; do case " $pins " in *"=$c "* | *"=$c") v=$c ;; esac; done
			[ -n "$v" ] || v=$(printf '%s\n' "$vs" | sort -r -V | head -n 1)
			[ -n "$v" ] || continue
			pins="$pins $n:amd64=$v"
			progress=1
		done
		[ -n "$progress" ] || { printf '%s\n' "$out" | tail -20 >&2; echo "cannot resolve wine32" >&2; exit 1; }
	done
	say "installing wine wine32:i386${pins:+ (pinned:$pins)}"
	# shellcheck disable=SC2086
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends --allow-downgrades \
		wine wine32:i386 $pins >/dev/null
}

win32_build() {
	mkdir -p "$WIN32_DIR"
	rm -f "$WIN32_DIR/.platform-ready"
	ensure_packages $WIN32_PACKAGES
	ensure_wine32
	"$ROOT/scripts/win32-deps.sh" "$WIN32_DIR/deps"
	# What Debian's archive had to deliver is here: from now on a failure is
	# the project's (.ci/run tells the two apart by this file).
	: >"$WIN32_DIR/.platform-ready"
	cd "$ROOT"
	if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
		say "autoreconf"
		autoreconf -fi >/dev/null
	fi
	mkdir -p "$WIN32_DIR/build"
	cd "$WIN32_DIR/build"
	. "$WIN32_DIR/deps/env.sh"
	if [ ! -f Makefile ] || [ "$ROOT/configure" -nt Makefile ] || [ "$WIN32_DIR/deps/env.sh" -nt Makefile ]; then
		say "configure --host=$WIN32_HOST"
		# Only p11-kit's header is used, and that is the same on Windows.
		"$ROOT/configure" -q --host=$WIN32_HOST --enable-static-deps \
			PKG_CONFIG="pkg-config --static" P11KIT_CFLAGS="-I/usr/include/p11-kit-1" \
			P11KIT_LIBS=" " 2>&1 | grep -v 'using cross tools not prefixed' || true
		[ -f Makefile ] || { echo "configure failed: $WIN32_DIR/build/config.log" >&2; exit 1; }
	fi
	say "make (p11shim.dll, p11shim.exe, Windows tests)"
	make -s -j"$(nproc)" >/dev/null
	make -s -j"$(nproc)" win32-tests >/dev/null
}

win32_test() {
	say "Windows tests under Wine"
	WINEPREFIX="$WIN32_DIR/wineprefix" bash "$ROOT/tests/win32/test-win32.sh" "$WIN32_DIR/build"
}
