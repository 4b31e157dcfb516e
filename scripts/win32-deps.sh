#!/bin/sh
# Builds the static mingw libraries that Debian does not package for Windows
# (PCRE2, OpenSSL's libcrypto, cmocka) from Debian's own source packages, so
# the Windows build uses the same code as the Linux one (issues 6 and 12),
# and OpenSC's pkcs11-tool.exe, the third-party client of the Windows tests.
# zlib comes from Debian's libz-mingw-w64-dev.
#
#   scripts/win32-deps.sh HOST ENV_FILE
#
# HOST: i686-w64-mingw32 (the 32-bit DLL) or x86_64-w64-mingw32 (64-bit).
# Each library goes to CACHE/mingw/HOST/NAME-VERSION (VERSION: the Debian
# source version), outside the clone, so that every clone and every CI run
# on the machine reuses it while Debian's version stays the same; a new
# version builds beside the old one. CACHE is $P11SHIM_CACHE, else
# /var/cache/p11shim (root), else ~/.cache/p11shim. A library is built in
# NAME-VERSION.tmp.PID and renamed into place when complete, so a killed
# build never leaves an entry that is taken as good; one run at a time
# per HOST holds CACHE/mingw/HOST/.lock (flock). Writes ENV_FILE, which sets
# PKG_CONFIG_LIBDIR for configure. Needs root only to add a deb-src entry
# (when there is none) and to install the build tools. Timings on a 2-CPU
# machine (i686): PCRE2 17 s, OpenSSL 96 s, cmocka 8 s; OpenSC about 3
# minutes idle (4 minutes of CPU), 7 to 11 on 2 busy cores.
# set -eu, say, apt_update
. "$(dirname "$0")/lib.sh"

HOST=${1:?usage: win32-deps.sh HOST ENV_FILE}
ENV_FILE=${2:?usage: win32-deps.sh HOST ENV_FILE}
case $HOST in
i686-w64-mingw32) OPENSSL_TARGET=mingw ;;
x86_64-w64-mingw32) OPENSSL_TARGET=mingw64 ;;
*) echo "win32-deps: unknown HOST $HOST (i686-w64-mingw32 or x86_64-w64-mingw32)" >&2; exit 2 ;;
esac
JOBS=$(nproc 2>/dev/null || echo 2)
[ "$JOBS" -le 2 ] || JOBS=2

if [ -n "${P11SHIM_CACHE:-}" ]; then
	CACHE=$P11SHIM_CACHE
elif mkdir -p /var/cache/p11shim 2>/dev/null && [ -w /var/cache/p11shim ]; then
	CACHE=/var/cache/p11shim
else
	CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/p11shim
fi
DEPS=$CACHE/mingw/$HOST
# Downloaded sources: the same for every HOST.
SRCS=$CACHE/mingw/src

die() { printf 'win32-deps: %s\n' "$*" >&2; exit 1; }

# deb-src: `apt-get source` needs one. Added only when no source entry exists,
# with the same suites as the binary entries Debian 12 ships.
ensure_deb_src() {
	if grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		:
	else
		[ "$(id -u)" = 0 ] || die "no deb-src entry in /etc/apt: add one (as root) or run as root"
		say "adding /etc/apt/sources.list.d/p11shim-deb-src.sources"
		cat >/etc/apt/sources.list.d/p11shim-deb-src.sources <<'EOF'
# Added by p11shim scripts/win32-deps.sh: `apt-get source` for the mingw builds.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	fi
	if ! ls /var/lib/apt/lists/*_Sources* >/dev/null 2>&1; then
		[ "$(id -u)" = 0 ] || die "no source package index: run apt-get update as root"
		say "apt-get update (source indexes)"
		apt_update
	fi
}

# src_versions SRC: the versions of a source package apt knows, newest first.
src_versions() {
	apt-cache showsrc --only-source "$1" 2>/dev/null | awk '/^Version:/ { print $2 }' |
		sort -u | sort -r -V
}

# fetch SRC VERSION: unpacks the source into SRCS/SRC-VERSION; false when
# the archive does not have it (a mirror may lack the security pool's files:
# then an older version is taken, and the miss is remembered for a day).
fetch() {
	dir="$SRCS/$1-$2"
	[ -f "$dir/.unpacked" ] && return 0
	if [ -n "$(find "$SRCS" -maxdepth 1 -name "$1-$2.unavailable" -mtime -1 2>/dev/null)" ]; then
		return 1
	fi
	# Unpacked under a temporary name, renamed when complete: a run for the
	# other HOST may fetch the same source at the same time.
	tmp=$dir.tmp.$$
	rm -rf "$tmp"
	mkdir -p "$tmp"
	# -o APT::Sandbox::User=root: the folder is root's, the _apt user cannot write it.
	if ! (cd "$tmp" && apt-get -qq -o APT::Sandbox::User=root source "$1=$2" >fetch.log 2>&1); then
		say "$1 $2: not downloadable ($(grep -m1 -o '[0-9]* *Not Found' "$tmp/fetch.log" || echo 'see fetch.log')); trying an older version"
		rm -rf "$tmp"
		touch "$SRCS/$1-$2.unavailable"
		return 1
	fi
	touch "$tmp/.unpacked"
	if [ -f "$dir/.unpacked" ]; then rm -rf "$tmp"; else rm -rf "$dir"; mv "$tmp" "$dir"; fi
}

build_pcre2() { # SRCDIR PREFIX
	cd "$1"
	./configure -q --host=$HOST --prefix="$2" --disable-shared --enable-static \
		--enable-pcre2-8 --disable-pcre2-16 --disable-pcre2-32 --disable-pcre2grep-libz \
		--disable-pcre2grep-libbz2 --disable-pcre2test-libreadline >build.log 2>&1
	make -j"$JOBS" libpcre2-8.la >>build.log 2>&1
	make install-libLTLIBRARIES install-includeHEADERS install-nodist_includeHEADERS \
		install-pkgconfigDATA >>build.log 2>&1
	# Only libpcre2-8.pc is wanted (the others name libraries not built).
	find "$2/lib/pkgconfig" -name 'libpcre2-*.pc' ! -name 'libpcre2-8.pc' -delete
}

build_openssl() { # SRCDIR PREFIX
	cd "$1"
	# no-shared: libcrypto goes into the DLL, whose .def exports only C_*,
	# so it never clashes with an OpenSSL of the process that loads the shim.
	# no-asm: binutils 2.40 cannot assemble the i386 perlasm output for COFF
	# (BFD_RELOC_386_GOTPC); the shim only parses certificates with it, so
	# x86-64 goes without assembler too (one build recipe).
	./Configure $OPENSSL_TARGET --cross-compile-prefix=$HOST- --prefix="$2" --libdir=lib \
		--openssldir="$2/ssl" no-shared no-module no-tests no-asm >build.log 2>&1
	# Only libcrypto (and its .pc file and the headers): libssl is not
	# needed and would be a third of the time (install_dev builds it, and
	# so does libcrypto.pc, which depends on every library in LIBS).
	make -j"$JOBS" build_generated >>build.log 2>&1
	make -j"$JOBS" libcrypto.a >>build.log 2>&1
	make libcrypto.pc LIBS=libcrypto.a >>build.log 2>&1
	mkdir -p "$2/lib/pkgconfig" "$2/include/openssl"
	cp libcrypto.a "$2/lib/"
	cp libcrypto.pc "$2/lib/pkgconfig/"
	cp include/openssl/*.h "$2/include/openssl/"
}

build_cmocka() { # SRCDIR PREFIX
	mkdir -p "$1/_w32"
	cd "$1/_w32"
	cmake -DCMAKE_SYSTEM_NAME=Windows -DCMAKE_C_COMPILER=$HOST-gcc \
		-DCMAKE_RC_COMPILER=$HOST-windres -DCMAKE_INSTALL_PREFIX="$2" \
		-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DWITH_STATIC_LIB=ON \
		-DUNIT_TESTING=OFF -DWITH_EXAMPLES=OFF -DPICKY_DEVELOPER=OFF .. >build.log 2>&1
	make -j"$JOBS" >>build.log 2>&1
	make install >>build.log 2>&1
	# A static libcmocka: its header must not declare dllimport.
	if [ -f "$2/lib/pkgconfig/cmocka.pc" ] && ! grep -q CMOCKA_STATIC "$2/lib/pkgconfig/cmocka.pc"; then
		sed -i 's/^Cflags: \(.*\)$/Cflags: \1 -DCMOCKA_STATIC/' "$2/lib/pkgconfig/cmocka.pc"
	fi
	if [ ! -f "$2/lib/libcmocka.a" ] && [ -f "$2/lib/libcmocka-static.a" ]; then
		cp "$2/lib/libcmocka-static.a" "$2/lib/libcmocka.a"
	fi
	# Link the static archive, never an import library of a cmocka.dll.
	rm -f "$2/lib/libcmocka.dll.a" "$2/bin/libcmocka.dll" "$2/bin/cmocka.dll"
}

# OpenSC's pkcs11-tool.exe, a real third-party client of p11shim.dll under
# Wine (tests/win32/test-pkcs11-tool.sh, issue 12). Only what it needs:
# no OpenSSL (listing, login, key generation and signing need none), no
# PC/SC, readline, zlib, notify, SM, minidriver or documents. OpenSC wants
# one reader driver: CT-API, which needs no library at build time. Static
# (--disable-shared): the .exe imports only Windows system DLLs, so it runs
# from any folder. Only the libraries pkcs11-tool links are made, in the
# order of src/Makefile.am's SUBDIRS.
OPENSC_RECIPE="pkcs11-tool.exe: static, no OpenSSL, CT-API (1)"
build_opensc() { # SRCDIR PREFIX
	cd "$1"
	# The orig tarball has no configure script (Debian runs dh_autoreconf).
	autoreconf -fi >build.log 2>&1
	./configure --build="$(gcc -dumpmachine)" --host=$HOST --disable-shared --enable-static \
		--disable-openssl --disable-pcsc --enable-ctapi --disable-readline --disable-zlib \
		--disable-notify --disable-openpace --disable-sm --disable-minidriver --disable-dnie-ui \
		--disable-autostart-items --disable-cmocka --disable-doc --disable-man \
		--with-completiondir=no --disable-strict CFLAGS=-O2 \
		lt_cv_to_host_file_cmd=func_convert_file_noop lt_cv_to_tool_file_cmd=func_convert_file_noop \
		>>build.log 2>&1
	make -C src/common -j"$JOBS" libcompat.la libpkcs11.la libscdl.la >>build.log 2>&1
	make -C src/scconf -j"$JOBS" libscconf.la >>build.log 2>&1
	make -C src/ui -j"$JOBS" libnotify.la libstrings.la >>build.log 2>&1
	make -C src/pkcs15init -j"$JOBS" libpkcs15init.la >>build.log 2>&1
	make -C src/sm -j"$JOBS" libsmeac.la >>build.log 2>&1
	make -C src/libopensc -j"$JOBS" libopensc.la >>build.log 2>&1
	make -C src/pkcs11 -j"$JOBS" libopensc-pkcs11.la >>build.log 2>&1
	make -C src/tools -j"$JOBS" pkcs11-tool.exe >>build.log 2>&1
	mkdir -p "$2/bin"
	cp src/tools/pkcs11-tool.exe "$2/bin/"
}

# dep SRC BUILD_FN [RECIPE]: build SRC into DEPS/SRC-VERSION unless it is
# there, with the newest version that is built already or can be downloaded.
# RECIPE goes into the entry's .built: an entry made by another recipe
# (another build of the same source) is built again.
PCDIRS=
dep() {
	versions=$(src_versions "$1")
	[ -n "$versions" ] || die "apt knows no source package $1 (is the deb-src entry there and apt-get update done?)"
	recipe=${3:-}
	prefix=
	for v in $versions; do
		if [ -f "$DEPS/$1-$v/.built" ] && [ "$(cat "$DEPS/$1-$v/.built")" = "$recipe" ]; then
			prefix="$DEPS/$1-$v"
			break
		fi
		fetch "$1" "$v" || continue
		prefix="$DEPS/$1-$v"
		tree=$(find "$SRCS/$1-$v" -mindepth 1 -maxdepth 1 -type d -name "$1-*" | head -n 1)
		[ -n "$tree" ] || die "no source tree for $1 $v in $SRCS/$1-$v"
		start=$(date +%s)
		say "building $1 $v for $HOST (once; cached in $prefix)"
		# A fresh copy each time: objects of an earlier failed build never mix in.
		# Installed into a temporary prefix that becomes the entry only when
		# complete (libtool and cmake record no install path in .a files; the
		# .pc files name the final prefix, below).
		src="$DEPS/build/$1-$v"
		tmp="$prefix.tmp.$$"
		rm -rf "$src" "$tmp" "$prefix".tmp.*
		mkdir -p "$DEPS/build"
		cp -a "$tree" "$src"
		if ! ( "$2" "$src" "$tmp" ); then
			tail -n 30 "$src/build.log" "$src/_w32/build.log" 2>/dev/null >&2 || true
			die "building $1 $v failed (log: $src/build.log)"
		fi
		find "$tmp" \( -name '*.pc' -o -name '*.la' \) -exec sed -i "s|$tmp|$prefix|g" {} +
		printf '%s' "$recipe" >"$tmp/.built"
		rm -rf "$prefix"
		mv "$tmp" "$prefix"
		rm -rf "$src"
		say "$1 $v: $(($(date +%s) - start)) s"
		break
	done
	[ -n "$prefix" ] || die "no version of $1 could be downloaded: $(echo $versions)"
	[ ! -d "$prefix/lib/pkgconfig" ] || PCDIRS="${PCDIRS:+$PCDIRS:}$prefix/lib/pkgconfig"
}

command -v $HOST-gcc >/dev/null || die "$HOST-gcc missing: apt-get install gcc-mingw-w64-${HOST%%-*}-win32"
mkdir -p "$DEPS" "$SRCS"
# One run at a time per HOST: two clones building the same entry would trip
# over each other (sources are fetched atomically, above).
exec 9>"$DEPS/.lock"
if ! flock -n 9; then
	say "waiting for another run's $HOST build ($DEPS/.lock)"
	flock 9
fi
ensure_deb_src
dep pcre2 build_pcre2
dep openssl build_openssl
dep cmocka build_cmocka
dep opensc build_opensc "$OPENSC_RECIPE"
PKCS11_TOOL=$prefix/bin/pkcs11-tool.exe
# zlib: Debian's mingw build (libz-mingw-w64-dev).
PCDIRS="$PCDIRS:/usr/$HOST/lib/pkgconfig"

mkdir -p "$(dirname "$ENV_FILE")"
cat >"$ENV_FILE.tmp" <<EOF
# Written by scripts/win32-deps.sh: the static $HOST libraries for configure.
PKG_CONFIG_LIBDIR='$PCDIRS'
PKG_CONFIG_SYSROOT_DIR=
export PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
# OpenSC's pkcs11-tool.exe for tests/win32/test-pkcs11-tool.sh (not for configure).
WIN_PKCS11_TOOL='$PKCS11_TOOL'
EOF
# Unchanged contents keep the old file (and its time: no reconfigure).
if cmp -s "$ENV_FILE.tmp" "$ENV_FILE"; then rm -f "$ENV_FILE.tmp"; else mv "$ENV_FILE.tmp" "$ENV_FILE"; fi
