# Shared by scripts/check and scripts/demo (sourced): install what is
# missing on a Debian 12 machine, then build out of tree in _build/.

set -eu
# The shim refuses a configuration or backend that its group or others can
# write (issue 7): build and test with files only their owner can change.
umask 022

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${P11SHIM_BUILD:-$ROOT/_build}

# Debian packages the build and the tests need, each for a reason:
PACKAGES="
autoconf automake libtool pkgconf make gcc
libp11-kit-dev
libpcre2-dev
libssl-dev openssl
zlib1g-dev
libcmocka-dev
softhsm2
opensc
python3
default-jdk-headless
gdb
libnss3 libnss3-tools
chromium
"
# gdb: its gcore takes a core of a live client (issue 7's secrets test).
# libnss3, libnss3-tools: NSS's softokn, a PKCS#11 3.0 module, and certutil
# for its database (test-v3-nss.sh).
# chromium: headless, it renders `p11shim trace report` pages in a test.

say() { printf '==> %s\n' "$*"; }

# apt_update: apt-get update that a mirror mid-sync does not stop. Such a
# mirror fails one index ("File has unexpected size"; seen for
# bookworm-security's i386 index, which then failed the install of win32's
# amd64 toolchain): once more after a pause, then the indexes already here
# are used, and only a package that cannot be had fails.
apt_update() {
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get -o DPkg::Lock::Timeout=600 update -qq; then
		say "apt-get update failed (a mirror mid-sync?); again in 30 s"
		sleep 30
		apt-get -o DPkg::Lock::Timeout=600 update -qq ||
			say "apt-get update failed again; going on with the package indexes already here"
	fi
}

# ensure_packages PKG...: apt-get install of the exact packages, only those missing.
ensure_packages() {
	missing=
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing="$missing $p"
		fi
	done
	# A JDK from elsewhere counts: the tests need java, javac and keytool.
	case " $missing " in
	*" default-jdk-headless "*)
		if command -v javac >/dev/null && command -v keytool >/dev/null; then
			missing=$(echo "$missing" | sed 's/ default-jdk-headless//')
		fi ;;
	esac
	[ -z "$missing" ] && return 0
	say "installing:$missing"
	if [ "$(id -u)" != 0 ]; then
		echo "scripts need root to install:$missing (or install them and run again)" >&2
		exit 1
	fi
	apt_update
	# shellcheck disable=SC2086
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
}

# build [configure args...]: autoreconf when needed, configure once, make.
build() {
	cd "$ROOT"
	if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
		say "autoreconf"
		autoreconf -fi >/dev/null
	fi
	mkdir -p "$BUILD"
	cd "$BUILD"
	if [ ! -f Makefile ] || [ "$ROOT/configure" -nt Makefile ]; then
		say "configure $*"
		"$ROOT/configure" -q "$@"
	fi
	say "make"
	make -s -j"$(nproc)" >/dev/null
}

# exec32: true when this machine executes 32-bit x86 code. Some machines of
# the CI kind cannot (the hypervisor refuses 32-bit mode: every i386 ELF and
# every 32-bit Wine program fails with "Exec format error"); decided by
# running a tiny i386 program (as --32 and ld -m elf_i386 from binutils,
# _exit(0) in three instructions), never by what is installed. An i386
# binfmt_misc handler (qemu-i386) counts as "cannot": the i386 suite fails
# under it and 32-bit Wine does not start. Probed once; the answer is passed
# on to child scripts in P11SHIM_EXEC32 (set it to no to try the skipping).
exec32() {
	if [ -z "${P11SHIM_EXEC32:-}" ]; then
		P11SHIM_EXEC32=$(exec32_probe)
		export P11SHIM_EXEC32
	fi
	[ "$P11SHIM_EXEC32" = yes ]
}

# exec32_probe: "yes", or "no: WHY".
exec32_probe() {
	for h in /proc/sys/fs/binfmt_misc/*; do
		[ -f "$h" ] || continue
		if grep -qx enabled "$h" 2>/dev/null &&
			grep -q '^magic 7f454c4601010100000000000000000002000300' "$h" 2>/dev/null; then
			echo "no: i386 programs run only through binfmt_misc $(sed -n 's/^interpreter //p' "$h")"
			return 0
		fi
	done
	d=$(mktemp -d "${TMPDIR:-/tmp}/p11shim-exec32.XXXXXX")
	printf '.globl _start\n_start:\n\tmovl $1, %%eax\n\txorl %%ebx, %%ebx\n\tint $0x80\n' >"$d/t.s"
	if ! as --32 -o "$d/t.o" "$d/t.s" 2>"$d/err" || ! ld -m elf_i386 -o "$d/t" "$d/t.o" 2>>"$d/err"; then
		echo "no: cannot make the i386 probe ($(head -n 1 "$d/err"))"
	elif "$d/t" 2>"$d/err"; then
		echo yes
	else
		echo "no: an i386 program fails ($(sed -n 's/.*: //p' "$d/err" | head -n 1 | tr -d '\n'))"
	fi
	rm -rf "$d"
}

# skip32 WHAT: the one loud line that says WHAT did not run here, and why.
skip32() {
	printf '==> WARNING: THIS MACHINE CANNOT EXECUTE 32-BIT x86 CODE (%s): %s skipped, not a failure\n' \
		"${P11SHIM_EXEC32#no: }" "$*" >&2
}

# p11_cache: the folder for what is worth keeping across clones and CI runs
# on this machine (scripts/win32-deps.sh's mingw libraries, the i386 .debs):
# $P11SHIM_CACHE, else /var/cache/p11shim (root), else ~/.cache/p11shim.
p11_cache() {
	if [ -n "${P11SHIM_CACHE:-}" ]; then
		echo "$P11SHIM_CACHE"
	elif mkdir -p /var/cache/p11shim 2>/dev/null && [ -w /var/cache/p11shim ]; then
		echo /var/cache/p11shim
	else
		echo "${XDG_CACHE_HOME:-$HOME/.cache}/p11shim"
	fi
}
