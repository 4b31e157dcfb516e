# Linux i386 (issue 6), sourced after lib.sh by `scripts/check i386` and by
# scripts/release: gcc -m32 against Debian's 32-bit libraries, tested with
# Debian's 32-bit SoftHSM2 and pkcs11-tool (and a 32-bit JRE for the Java
# test), in its own build folder _build-i386/.
#
# The 32-bit packages are never installed: libsofthsm2, opensc and the JRE
# are not multi-arch co-installable with their amd64 versions, and the i386
# index of Debian's security archive can fail to download for a while
# ("File has unexpected size ... Mirror sync in progress?"), which leaves
# amd64 and i386 versions of the shared libraries unequal. So the .debs are
# downloaded (`apt-get download`, checked against apt's signed index) and
# unpacked with `dpkg-deb -x` into _build-i386/sysroot, dpkg's database
# untouched. Each package is taken at the version apt has for amd64, so that
# the 32-bit OpenSSL carries the same security fixes; when the i386 index
# lacks that version (the failure above, still there after retries), the
# .deb is fetched from the archive's pool by the amd64 file's path, checked
# by its control fields only. The .debs are kept outside the clone, in
# ${P11SHIM_CACHE:-/var/cache/p11shim}/i386/debs (p11_cache in lib.sh), so
# that every clone and CI run on the machine reuses them; each is
# downloaded into a temporary folder and renamed into place when complete,
# one run at a time (flock on .lock there). The sysroot is kept in
# _build-i386 and reused while the versions stay the same.
#
# The i386 libc is the host's libc6-i386 (gcc-multilib), never one from the
# sysroot: it must match the loader /lib/ld-linux.so.2.

I386_BUILD=${P11SHIM_BUILD_I386:-$ROOT/_build-i386}
I386_SYSROOT=$I386_BUILD/sysroot
I386_DEBS=$(p11_cache)/i386/debs
# This build's list of .deb file names (the cache is shared).
I386_LIST=$I386_BUILD/debs.list
# i386 libraries: the sysroot's first, then the host's libc6-i386.
I386_LIBDIRS="$I386_SYSROOT/usr/lib/i386-linux-gnu:$I386_SYSROOT/lib/i386-linux-gnu"
I386_JRE=$I386_SYSROOT/usr/lib/jvm/java-17-openjdk-i386

# The i386 packages unpacked into the sysroot, each for a reason (their
# needs found with `apt-cache depends PKG:i386`; libc6 is left out, above):
I386_PACKAGES="
libsofthsm2
libstdc++6 libgcc-s1
opensc opensc-pkcs11
libreadline8 libtinfo6
libglib2.0-0 libffi8 libmount1 libblkid1 libselinux1
libssl3 libssl-dev
libpcre2-8-0 libpcre2-dev
zlib1g zlib1g-dev
libcmocka0 libcmocka-dev
libp11-kit-dev
openjdk-17-jre-headless
"
# libsofthsm2: the 32-bit SoftHSM2 module (/usr/lib/softhsm/libsofthsm2.so,
#   the same path as amd64's: why it is not co-installable); libstdc++6 and
#   libgcc-s1 its C++ runtime (and the JVM's).
# opensc, opensc-pkcs11: the 32-bit pkcs11-tool, libopensc and pkcs11-spy;
#   readline/tinfo for pkcs11-tool, glib and its needs for libopensc.
# libssl*, libpcre2*, zlib1g*, libcmocka*: what configure asks for; the -dev
#   packages carry the headers, the .pc files and the static .a files that
#   scripts/release links.
# libp11-kit-dev: p11-kit-1.pc and the PKCS#11 header (arch-independent; the
#   library is never linked).
# openjdk-17-jre-headless: the 32-bit java and keytool (a 32-bit JRE is what
#   runs the encoder); javac stays the host's: bytecode has no word size.
#   Only what headless java and SunPKCS11 load is unpacked with it (checked
#   with ldd below); its AWT, sound and printing needs are left out.

# i386_apt_update: i386 added to dpkg's architectures and apt's i386 index
# fetched. A failing index is retried a few times (the mirror heals within
# minutes); a lasting failure leaves i386 candidates older than amd64's,
# which i386_fetch handles.
i386_apt_update() {
	if ! dpkg --print-foreign-architectures | grep -qx i386; then
		say "dpkg --add-architecture i386"
		dpkg --add-architecture i386
	fi
	tries=1
	while :; do
		say "apt-get update (i386 index, try $tries)"
		if apt-get -o DPkg::Lock::Timeout=600 update -qq 2>"$I386_BUILD/apt-update.err"; then
			return 0
		fi
		[ $tries -ge 3 ] && break
		tries=$((tries + 1))
		sleep 5
	done
	say "apt-get update still fails; going on with what apt has:"
	sed 's/^/    /' "$I386_BUILD/apt-update.err" | grep -v '^ *$' | head -n 4
}

# i386_versions: "PACKAGE AMD64-VERSION I386-VERSION" for each package, the
# candidates of apt ("-" for none), in one apt-cache call.
i386_versions() {
	# shellcheck disable=SC2046
	apt-cache policy $(for p in $I386_PACKAGES; do echo "$p:amd64 $p:i386"; done) 2>/dev/null | awk '
		/^[^ ].*:$/ { name = substr($0, 1, length($0) - 1); arch = "amd64"
			if (name ~ /:i386$/) { name = substr(name, 1, length(name) - 5); arch = "i386" } }
		/^  Candidate:/ { v[name, arch] = ($2 == "(none)") ? "-" : $2 }
		END { n = split(pkgs, p, " "); for (i = 1; i <= n; i++) {
			a = v[p[i], "amd64"]; b = v[p[i], "i386"]
			print p[i], (a == "" ? "-" : a), (b == "" ? "-" : b) } }' pkgs="$(echo $I386_PACKAGES)"
}

# deb_name PKG VERSION: the file name apt-get download gives the i386 .deb.
deb_name() {
	printf '%s_%s_i386.deb\n' "$1" "$(printf '%s' "$2" | sed 's/:/%3a/')"
}

# cached PKG AMD64-VERSION I386-VERSION: the cached .deb to use, if any: the
# amd64 version's, or the i386 index's when the amd64 version could not be
# had for i386 within the last day.
cached() {
	want=$2
	[ "$want" = - ] && want=$3
	f=$(deb_name "$1" "$want")
	if [ -s "$I386_DEBS/$f" ]; then
		echo "$f"
	elif [ -n "$(find "$I386_DEBS" -maxdepth 1 -name "$f.unavailable" -mtime -1 2>/dev/null)" ] &&
		[ -s "$I386_DEBS/$(deb_name "$1" "$3")" ]; then
		deb_name "$1" "$3"
	fi
}

# i386_download PKG=VERSION: apt-get download into I386_DEBS, through a
# temporary folder: a killed download never leaves a .deb that looks good.
i386_download() {
	tmp=$I386_DEBS/tmp.$$
	rm -rf "$tmp"
	mkdir -p "$tmp"
	(cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$1") || { rm -rf "$tmp"; return 1; }
	mv "$tmp"/*.deb "$I386_DEBS/"
	rm -rf "$tmp"
}

# i386_fetch: every package's .deb in I386_DEBS, at the version apt has for
# amd64; their file names, one a line, in I386_LIST. Costs one apt-cache
# call when all are there already.
i386_fetch() {
	mkdir -p "$I386_DEBS" "$I386_BUILD"
	exec 8>"$I386_DEBS/.lock"
	flock 8
	if ! ls /var/lib/apt/lists/*binary-i386_Packages* >/dev/null 2>&1; then
		i386_apt_update
	fi
	versions=$(i386_versions)
	# A .deb to download that apt's i386 index lacks: the index may be behind.
	if echo "$versions" | while read -r p a b; do
		[ -n "$(cached "$p" "$a" "$b")" ] || [ "$a" = "$b" ] || [ "$a" = - ] || exit 1
	done; then :; else
		i386_apt_update
		versions=$(i386_versions)
	fi
	echo "$versions" | while read -r p a b; do
		f=$(cached "$p" "$a" "$b")
		if [ -z "$f" ]; then
			want=$a
			[ "$want" = - ] && want=$b
			[ "$want" = - ] && { echo "i386: apt knows no package $p" >&2; exit 1; }
			f=$(deb_name "$p" "$want")
			if [ "$b" = "$want" ]; then
				i386_download "$p:i386=$want"
			elif ! i386_fetch_pool "$p" "$want" "$f"; then
				[ "$b" != - ] || { echo "i386: no i386 package $p" >&2; exit 1; }
				say "i386: $p $want is not in the pool for i386 either: taking $b, the i386 index's"
				touch "$I386_DEBS/$f.unavailable"
				f=$(deb_name "$p" "$b")
				i386_download "$p:i386=$b"
			fi
		fi
		echo "$f" >&3
	done 3>"$I386_LIST.new"
	mv "$I386_LIST.new" "$I386_LIST"
	exec 8>&-
}

# i386_fetch_pool PKG VERSION FILE: the i386 .deb from the pool, by the path
# of the amd64 one (same source package, same folder), when apt's i386 index
# does not have VERSION.
i386_fetch_pool() {
	uri=$(apt-get download --print-uris "$1:amd64=$2" 2>/dev/null | awk '{ print $1 }' | tr -d "'")
	case $uri in
	*_amd64.deb) uri=${uri%_amd64.deb}_i386.deb ;;
	*) return 1 ;;
	esac
	say "i386: $1 $2 is not in apt's i386 index: from the pool ($uri)"
	rm -f "$I386_DEBS/$3.part.$$"
	/usr/lib/apt/apt-helper -o APT::Sandbox::User=root download-file "$uri" "$I386_DEBS/$3.part.$$" >/dev/null 2>&1 ||
		{ rm -f "$I386_DEBS/$3.part.$$"; return 1; }
	fields=$(dpkg-deb -f "$I386_DEBS/$3.part.$$" Package Version Architecture 2>/dev/null | tr '\n' ' ')
	if [ "$fields" != "Package: $1 Version: $2 Architecture: i386 " ]; then
		echo "i386: $uri is not $1 $2 i386 ($fields)" >&2
		rm -f "$I386_DEBS/$3.part.$$"
		return 1
	fi
	mv "$I386_DEBS/$3.part.$$" "$I386_DEBS/$3"
}

# i386_sysroot: the .debs unpacked into I386_SYSROOT, unless it was made from
# the same list already; then checks that every i386 program and module the
# tests load finds all its libraries there or in libc6-i386.
i386_sysroot() {
	i386_fetch
	if cmp -s "$I386_SYSROOT/.debs" "$I386_LIST" 2>/dev/null; then
		say "i386 sysroot: up to date ($(wc -l <"$I386_LIST") packages)"
	else
		say "i386 sysroot: unpacking $(wc -l <"$I386_LIST") packages"
		rm -rf "$I386_SYSROOT"
		mkdir -p "$I386_SYSROOT"
		while read -r f; do
			dpkg-deb -x "$I386_DEBS/$f" "$I386_SYSROOT"
		done <"$I386_LIST"
		# Absolute links (libz.so -> /lib/i386-linux-gnu/libz.so.1.2.13, the
		# JRE's conf -> /etc/java-17-openjdk) point into the sysroot when
		# their target is there; others (cacerts) stay the host's.
		find "$I386_SYSROOT" -type l -lname '/*' | while read -r l; do
			t=$(readlink "$l")
			[ -e "$I386_SYSROOT$t" ] || [ -L "$I386_SYSROOT$t" ] || continue
			ln -sfn "$I386_SYSROOT$t" "$l"
		done
		cp "$I386_LIST" "$I386_SYSROOT/.debs"
		# .debs of older versions go, when no build has used them for a month
		# (the cache is shared by every clone on the machine).
		find "$I386_DEBS" -maxdepth 1 -name '*.deb' -mtime +30 | while read -r f; do
			grep -qxF "${f##*/}" "$I386_LIST" || rm -f "$f"
		done
	fi
	# (the JRE's libraries find libjvm.so loaded already by the launcher;
	# ldd runs the 32-bit loader: only where 32-bit code runs)
	exec32 || return 0
	missing=$(LD_LIBRARY_PATH=$I386_LIBDIRS:$I386_JRE/lib/server ldd \
		"$I386_SYSROOT/usr/bin/pkcs11-tool" \
		"$I386_SYSROOT/usr/lib/softhsm/libsofthsm2.so" \
		"$I386_SYSROOT/usr/lib/i386-linux-gnu/pkcs11/pkcs11-spy.so" \
		"$I386_JRE/bin/java" "$I386_JRE/bin/keytool" \
		"$I386_JRE/lib/server/libjvm.so" "$I386_JRE/lib/libjava.so" \
		"$I386_JRE/lib/libzip.so" "$I386_JRE/lib/libnio.so" "$I386_JRE/lib/libj2pkcs11.so" \
		2>&1 | grep -e 'not found' -e 'No such file' || true)
	if [ -n "$missing" ]; then
		echo "i386 sysroot $I386_SYSROOT is incomplete (add the package to I386_PACKAGES):" >&2
		echo "$missing" >&2
		return 1
	fi
}

# i386_configure_args: configure's arguments for gcc -m32 against the sysroot
# (set -- ... form: eval "set -- $(i386_configure_args)").
i386_configure_args() {
	sr=$I386_SYSROOT
	# Where 32-bit code cannot run (exec32, lib.sh), a cross build: configure
	# then never runs what it compiles.
	b=i686-pc-linux-gnu
	exec32 || b=x86_64-pc-linux-gnu
	printf "%s " --build=$b --host=i686-pc-linux-gnu \
		"'CC=gcc -m32'" \
		"'CPPFLAGS=-I$sr/usr/include/i386-linux-gnu -I$sr/usr/include'" \
		"'LDFLAGS=-L$sr/usr/lib/i386-linux-gnu -L$sr/lib/i386-linux-gnu -Wl,-rpath-link,$I386_LIBDIRS'" \
		"'PKG_CONFIG_LIBDIR=$sr/usr/lib/i386-linux-gnu/pkgconfig:$sr/usr/share/pkgconfig'" \
		"'PKG_CONFIG_SYSROOT_DIR=$sr'"
}

# i386_elf FILE: "32-bit i386" or what else FILE is (ELF class and machine).
i386_elf() {
	id=$(od -An -tx1 -j4 -N1 "$1" | tr -d ' ')$(od -An -tx1 -j18 -N2 "$1" | tr -d ' ')
	case $id in
	010300) echo "32-bit i386" ;;
	023e00) echo "64-bit x86-64" ;;
	*) echo "ELF class/machine $id" ;;
	esac
}

# i386_build: `scripts/check i386` before its make check: the 32-bit build
# in I386_BUILD (BUILD set to it), configured with the 32-bit SoftHSM2 and
# pkcs11-tool, and the environment that make check needs for them.
i386_build() {
	# The amd64 tools stay the host's: softhsm2-util makes the token stores
	# (readable by the 32-bit module), python3 and openssl read and make
	# files, javac compiles the Java test.
	ensure_packages $PACKAGES gcc-multilib
	mkdir -p "$I386_BUILD"
	rm -f "$I386_BUILD/.platform-ready"
	i386_sysroot
	# What Debian's archive had to deliver is here: from now on a failure is
	# the project's (.ci/run tells the two apart by this file).
	: >"$I386_BUILD/.platform-ready"

	# The 32-bit clients come first in PATH: tests that call pkcs11-tool,
	# java or keytool by name get them; javac stays the host's.
	mkdir -p "$I386_BUILD/bin"
	ln -sfn "$I386_SYSROOT/usr/bin/pkcs11-tool" "$I386_BUILD/bin/pkcs11-tool"
	ln -sfn "$I386_JRE/bin/java" "$I386_BUILD/bin/java"
	ln -sfn "$I386_JRE/bin/keytool" "$I386_BUILD/bin/keytool"
	# Every process of the run sees the sysroot's libraries; 64-bit ones skip
	# them (the loader passes over libraries of the other ELF class).
	export LD_LIBRARY_PATH="$I386_LIBDIRS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
	export PATH="$I386_BUILD/bin:$PATH"
	# test-transparency.sh's pkcs11-spy, in front of the 32-bit shim.
	export PKCS11_SPY="$I386_SYSROOT/usr/lib/i386-linux-gnu/pkcs11/pkcs11-spy.so"
	for f in "$I386_SYSROOT/usr/bin/pkcs11-tool" "$I386_SYSROOT/usr/lib/softhsm/libsofthsm2.so" \
		"$(readlink -f "$(command -v java)")"; do
		[ "$(i386_elf "$f")" = "32-bit i386" ] || { echo "i386: $f is $(i386_elf "$f")" >&2; return 1; }
	done

	BUILD=$I386_BUILD
	eval "set -- $(i386_configure_args)"
	build "$@" \
		PKCS11_TOOL="$I386_BUILD/bin/pkcs11-tool" \
		SOFTHSM2_UTIL="$(command -v softhsm2-util)" \
		--with-softhsm2-module="$I386_SYSROOT/usr/lib/softhsm/libsofthsm2.so"
	f=$I386_BUILD/.libs/p11shim.so
	[ "$(i386_elf "$f")" = "32-bit i386" ] || { echo "i386: $f is $(i386_elf "$f")" >&2; return 1; }
	say "built $(i386_elf "$f"): $f"
}
