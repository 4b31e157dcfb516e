# The Windows builds and their tests under Wine (issues 6 and 12), sourced
# by scripts/check (`scripts/check win32`, `scripts/check win64`) and
# scripts/release; needs lib.sh. One set of functions for both targets:
#
#   win_setup win32|win64
#                 chooses the target: i686-w64-mingw32 in _build-win32/ (the
#                 32-bit DLL the encoding stations load) or x86_64-w64-mingw32
#                 in _build-win64/ (64-bit, backend key PKCS11LibraryWindows64)
#   win_build     installs what is missing, builds the static mingw
#                 libraries once per machine (scripts/win32-deps.sh, cached
#                 outside the clone), configures --host=WIN_HOST in
#                 WIN_DIR/build and makes the DLL, the CLI and the Windows
#                 test parts (make win32-tests)
#   win_test      runs tests/win32/test-win32.sh under Wine; for win32 on a
#                 machine that cannot execute 32-bit code (exec32 in lib.sh)
#                 only its PE checks, without Wine, saying so loudly
#
# WIN_DIR holds build/, deps.env (the libraries' pkg-config path) and
# wineprefix/ (made on first use, ~10 s). win64 needs only 64-bit Wine
# (wine64, no i386 packages); win32 needs wine32:i386 where it runs.
# First run about 6 minutes per target (OpenSSL and OpenSC's pkcs11-tool.exe
# are most of it); then about 1.

# win_setup win32|win64: WIN_ARCH, WIN_HOST, WIN_DIR, WIN_PACKAGES.
win_setup() {
	WIN_ARCH=$1
	case $1 in
	win32) WIN_HOST=i686-w64-mingw32 WIN_CPU=i686 ;;
	win64) WIN_HOST=x86_64-w64-mingw32 WIN_CPU=x86-64 ;;
	*) echo "win_setup: win32 or win64, not $1" >&2; return 2 ;;
	esac
	WIN_DIR=$ROOT/_build-$1
	[ "$1" = win32 ] && [ -n "${P11SHIM_WIN32_DIR:-}" ] && WIN_DIR=$P11SHIM_WIN32_DIR
	[ "$1" = win64 ] && [ -n "${P11SHIM_WIN64_DIR:-}" ] && WIN_DIR=$P11SHIM_WIN64_DIR
	# What the build needs (Wine comes separately: ensure_wine32/64):
	WIN_PACKAGES="
autoconf automake libtool pkgconf make
gcc-mingw-w64-$WIN_CPU-win32 binutils-mingw-w64-$WIN_CPU
libz-mingw-w64-dev
libp11-kit-dev
cmake dpkg-dev perl
openssl
nsis
"
}

# win_runs: whether this target's programs can run here (win64: always).
win_runs() {
	[ "$WIN_ARCH" = win64 ] || exec32
}

# A package's newest version that apt offers for both amd64 and i386.
win32_common_version() {
	a=$(apt-cache madison "$1:amd64" 2>/dev/null | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | sort -u)
	i=$(apt-cache madison "$1:i386" 2>/dev/null | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | sort -u)
	for v in $(printf '%s\n' "$a" | sort -r -V); do
		if printf '%s\n' "$i" | grep -qxF "$v"; then echo "$v"; return; fi
	done
}

# ensure_wine64: Wine for 64-bit programs (wine, wine64), amd64 only.
ensure_wine64() {
	[ -x /usr/lib/wine/wine64 ] && command -v wineserver >/dev/null && return 0
	ensure_packages wine wine64
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

# win_configure ARGS...: WIN_DIR's deps.env, then configure --host=WIN_HOST
# in the current folder, never running Wine: libtool would call winepath
# for every mingw link when wine is installed (slow, and it fails where Wine
# cannot run the target); --build makes this a cross build even where
# binfmt_misc could run .exe files.
win_configure() {
	(
		. "$WIN_DIR/deps.env"
		# Only p11-kit's header is used, and that is the same on Windows.
		"$WIN_SRC/configure" -q --build="$(gcc -dumpmachine)" --host=$WIN_HOST --enable-static-deps \
			lt_cv_to_host_file_cmd=func_convert_file_noop lt_cv_to_tool_file_cmd=func_convert_file_noop \
			PKG_CONFIG="pkg-config --static" P11KIT_CFLAGS="-I/usr/include/p11-kit-1" \
			P11KIT_LIBS=" " "$@" 2>&1 | grep -v 'using cross tools not prefixed' || true
	)
	[ -f Makefile ] || { echo "configure failed: $(pwd)/config.log" >&2; exit 1; }
}

# win_deps: the static libraries (scripts/win32-deps.sh) and WIN_DIR/deps.env.
win_deps() {
	mkdir -p "$WIN_DIR"
	"$ROOT/scripts/win32-deps.sh" "$WIN_HOST" "$WIN_DIR/deps.env"
}

win_build() {
	mkdir -p "$WIN_DIR"
	rm -f "$WIN_DIR/.platform-ready"
	ensure_packages $WIN_PACKAGES
	if [ "$WIN_ARCH" = win64 ]; then
		ensure_wine64
	elif exec32; then
		ensure_wine32
	fi
	win_deps
	# What Debian's archive had to deliver is here: from now on a failure is
	# the project's (.ci/run tells the two apart by this file).
	: >"$WIN_DIR/.platform-ready"
	cd "$ROOT"
	if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
		say "autoreconf"
		autoreconf -fi >/dev/null
	fi
	mkdir -p "$WIN_DIR/build"
	cd "$WIN_DIR/build"
	if [ ! -f Makefile ] || [ "$ROOT/configure" -nt Makefile ] || [ "$WIN_DIR/deps.env" -nt Makefile ]; then
		say "configure --host=$WIN_HOST"
		WIN_SRC=$ROOT win_configure
	fi
	say "make (p11shim.dll, p11shim.exe, Windows tests; $WIN_HOST)"
	make -s -j"$(nproc)" >/dev/null
	make -s -j"$(nproc)" win32-tests >/dev/null
}

win_test() {
	if win_runs; then
		say "Windows tests under Wine ($WIN_HOST)"
		WINEPREFIX="$WIN_DIR/wineprefix" bash "$ROOT/tests/win32/test-win32.sh" "$WIN_DIR/build"
	else
		skip32 "the 32-bit Windows DLL's runs under Wine (client, unit tests, doctor, pkcs11-tool.exe; its PE checks still run)"
		bash "$ROOT/tests/win32/test-win32.sh" --pe-only "$WIN_DIR/build"
	fi
}
