# Shared setup of the integration tests (sourced).
#
# Each test gets a throw-away SoftHSM2 token store under the build tree,
# never the system's, and a p11shim configuration of its own through
# P11SHIM_CONF (so /etc/p11shim and ~/.config/p11shim are never read).
# A missing tool skips the test (exit 77), except under CI=true, where the
# test command installs everything and a missing tool is a failure.

set -eu

: "${top_srcdir:?run through make check}"
: "${top_builddir:?run through make check}"
: "${SHIM_MODULE:=$top_builddir/.libs/p11shim.so}"
: "${SOFTHSM2_MODULE:=/usr/lib/softhsm/libsofthsm2.so}"
: "${PKCS11_TOOL:=pkcs11-tool}"
: "${SOFTHSM2_UTIL:=softhsm2-util}"

# Distinctive secrets: the tests search traces and outputs for them.
USER_PIN=271828
USER_PIN2=57721566
SO_PIN=31415926
TOKEN_LABEL=shimtest

skip_or_fail() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL: $* (under CI=true every tool must be installed by scripts/check)"
		exit 99
	fi
	echo "SKIP: $*"
	exit 77
}

need() {
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || [ -e "$t" ] || skip_or_fail "$t not found"
	done
}

fail() {
	echo "FAIL: $*"
	exit 1
}

ok() {
	echo "ok - $*"
}

# WORK: this test's folder, removed on success, kept on failure for a look.
WORK=$(mktemp -d "$top_builddir/tests/work.XXXXXX")
cleanup() {
	rc=$?
	if [ $rc -eq 0 ] || [ $rc -eq 77 ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

# softhsm_init DIR: a SoftHSM2 store with one initialised token.
softhsm_init() {
	mkdir -p "$1/tokens"
	printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
		"$1" >"$1/softhsm2.conf"
	SOFTHSM2_CONF="$1/softhsm2.conf" "$SOFTHSM2_UTIL" --init-token --free --label "$TOKEN_LABEL" \
		--pin "$USER_PIN" --so-pin "$SO_PIN" >/dev/null
}

# shim_conf FILE BACKEND TRACE [extra lines...]: a P11SHIM_CONF file.
shim_conf() {
	conf=$1 backend=$2 trace=$3
	shift 3
	{
		printf '[backend]\nPKCS11Library = %s\n[trace]\nFile = %s\n' "$backend" "$trace"
		for l in "$@"; do printf '%s\n' "$l"; done
	} >"$conf"
	chmod 600 "$conf"
}

# no_secrets FILE...: none of the test secrets, in clear or as hex. Time
# stamps are left out: 12:00:00.271828Z holds a PIN's digits by chance.
no_secrets() {
	for s in "$USER_PIN" "$USER_PIN2" "$SO_PIN"; do
		hex=$(printf '%s' "$s" | od -An -tx1 | tr -d ' \n')
		if sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z//g' "$@" | grep -a -q -e "$s" -e "$hex"; then
			fail "a secret appears in $*"
		fi
	done
}

# json_lines FILE: every line one valid JSON object; prints the count.
json_lines() {
	python3 - "$1" <<'PY'
import json, sys
n = 0
for i, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    try:
        obj = json.loads(line)
    except ValueError as e:
        sys.exit("line %d is not JSON: %s" % (i, e))
    if not isinstance(obj, dict) or list(obj)[:5] != ["ts", "pid", "tid", "seq", "fn"]:
        sys.exit("line %d lacks ts,pid,tid,seq,fn" % i)
    n += 1
print(n)
PY
}

# ---- the Personal simulator as backend ----
SIM_PIN=246813
SIM_PUK=97531864
SIM_OPERATOR_PIN=8642097

# sim_setup FIXTURE [VERSION]: the simulator's configuration and state in
# WORK (the fixture copied, its Personal.cfg made absolute), a PIN-encryption
# certificate and iD2ppa.cfg, and a Personal.cfg with caching off.
sim_setup() {
	: "${PERSONAL_SIM_MODULE:?run through make check}"
	: "${PERSONAL_SIM_FIXTURES:?run through make check}"
	need openssl
	SIM_DIR="$WORK/sim"
	mkdir -p "$SIM_DIR"
	cp "$PERSONAL_SIM_FIXTURES"/Personal-*.cfg "$SIM_DIR/"
	sed -e "s|^PersonalConfig = .*|PersonalConfig = $SIM_DIR/Personal-nocache.cfg|" \
		"$PERSONAL_SIM_FIXTURES/$1" >"$SIM_DIR/sim.ini"
	if [ -n "${2:-}" ]; then
		sed -i "s|^Version = .*|Version = $2|" "$SIM_DIR/sim.ini"
	fi
	export PERSONAL_SIM_CONF="$SIM_DIR/sim.ini" PERSONAL_SIM_STATE="$SIM_DIR/state"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$SIM_DIR/pinenc.key" \
		-subj "/CN=PIN encryption" -days 365 -out "$SIM_DIR/pinenc.pem" 2>/dev/null
	printf '[PIN Encryption]\nFile = %s\n' "$SIM_DIR/pinenc.pem" >"$SIM_DIR/iD2ppa.cfg"
	# The middleware's own Personal.cfg, as Nexus's Personal integration guide
	# requires: caching off.
	printf '[Cache]\nCacheValidity = 0\n' >"$SIM_DIR/Personal.cfg"
}

# sim_conf FILE TRACE [extra lines...]: a shim configuration with the
# simulator as backend and its middleware files.
sim_conf() {
	conf=$1 trace=$2
	shift 2
	shim_conf "$conf" "$PERSONAL_SIM_MODULE" "$trace" "[middleware]" \
		"PersonalConfig = $SIM_DIR/Personal.cfg" "PinEncryptionConfig = $SIM_DIR/iD2ppa.cfg" "$@"
}

P11CALL="$top_builddir/tests/integration/p11call"
# p11call_shim ARGS...: p11call with the shim module.
p11call_shim() {
	"$P11CALL" "$SHIM_MODULE" "$@"
}

# slot_of LABEL: the SoftHSM2 slot of the token so labelled ('': the free
# slot); SoftHSM2 gives a token a new slot ID when it is initialised.
slot_of() {
	"$P11CALL" "$SOFTHSM2_MODULE" init , slots , fin | sed -n 's/^slots: CKR_OK count=[0-9]* //p' |
		tr ' ' '\n' | while read -r s; do
		if "$P11CALL" "$SOFTHSM2_MODULE" init , tokeninfo "$s" , fin | grep -q "label='$1'"; then
			echo "$s"
			break
		fi
	done
}

# expect OUTPUT LINE: OUTPUT holds LINE exactly.
expect() {
	printf '%s\n' "$1" | grep -qxF -- "$2" || { printf '%s\n' "$1"; fail "expected: $2"; }
}

# nobody_can_read FILE...: whether the user nobody can reach and read them
# (a build tree under a 0700 folder, as `mktemp -d` makes, cannot be).
nobody_can_read() {
	command -v setpriv >/dev/null || return 1
	for f in "$@"; do
		setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$f" || return 1
	done
}
