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
chromium
"
# gdb: its gcore takes a core of a live client (issue 7's secrets test).
# chromium: headless, it renders `p11shim trace report` pages in a test.

say() { printf '==> %s\n' "$*"; }

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
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
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
