#!/bin/bash
#
# tests/personal-sim/test-sim.sh: proves the behaviour of the Personal
# Desktop Client simulator directly, without the shim, with pkcs11-tool
# (OpenSC) and tests/personal-sim/sim-client.
#
#     test-sim.sh [MODULE]
#
# MODULE    the built simulator (default: $PERSONAL_SIM_MODULE, else
#           tests/personal-sim/.libs/personal-sim.so below the current
#           directory, which is where libtool puts it in the build tree)
# SIM_CLIENT  the sim-client program (default: found beside MODULE, in its
#           parent directory, or as tests/personal-sim/sim-client)
# PERSONAL_SIM_FIXTURES  the fixtures directory (default: fixtures/ beside
#           this script)
#
# Prints one line per check (PASS:/FAIL:, sim-client steps indented below).
# Exit status: 0 all passed, 1 a check failed, 77 pkcs11-tool missing (a
# skip, except under CI=true, where a missing tool is a failure: STYLE.md 8).
# Secrets are passed through the environment and never printed; the last
# check greps every output of the run for them.

set -u

here=$(cd "$(dirname "$0")" && pwd)
fixtures=${PERSONAL_SIM_FIXTURES:-$here/fixtures}
module=${1:-${PERSONAL_SIM_MODULE:-tests/personal-sim/.libs/personal-sim.so}}

if [ ! -f "$module" ]; then
	echo "test-sim.sh: module not found: $module" >&2
	exit 1
fi
module=$(cd "$(dirname "$module")" && pwd)/$(basename "$module")

client=${SIM_CLIENT:-}
if [ -z "$client" ]; then
	for c in "$(dirname "$module")/sim-client" "$(dirname "$module")/../sim-client" \
	         tests/personal-sim/sim-client; do
		if [ -x "$c" ]; then
			client=$c
			break
		fi
	done
fi
if [ -z "$client" ] || [ ! -x "$client" ]; then
	echo "test-sim.sh: sim-client not found (set SIM_CLIENT)" >&2
	exit 1
fi

if ! command -v pkcs11-tool >/dev/null 2>&1; then
	if [ "${CI:-}" = true ]; then
		echo "FAIL: pkcs11-tool (OpenSC) is missing, and CI=true" >&2
		exit 1
	fi
	echo "SKIP: pkcs11-tool (OpenSC) is missing" >&2
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-sim.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# The fixtures' fake secrets (fixtures/basic.ini), and new values for changes.
export SIM_PIN=246813 SIM_PUK=97531864 SIM_OPIN=8642097
export SIM_NEWPIN=135790 SIM_NEWPUK=31415926 SIM_NEWOPIN=2718281 SIM_WRONG=000000
secrets="$SIM_PIN $SIM_PUK $SIM_OPIN $SIM_NEWPIN $SIM_NEWPUK $SIM_NEWOPIN"

log=$tmp/all-output.log		# everything any tool printed, for the secret check
: >"$log"
passed=0
failed=0

pass() {
	passed=$((passed + 1))
	echo "PASS: $1"
}

fail() {
	failed=$((failed + 1))
	echo "FAIL: $1"
	if [ $# -gt 1 ] && [ -f "$2" ]; then
		sed 's/^/    | /' "$2"
	fi
}

# mkconf NAME FIXTURE VERSION PERSONAL_CFG: a copy of a fixture with another
# Version and Personal.cfg (absolute path).
mkconf() {
	sed -e "s|^Version = .*|Version = $3|" \
	    -e "s|^PersonalConfig = .*|PersonalConfig = $fixtures/$4|" \
	    "$fixtures/$2" >"$tmp/$1.ini"
}

# use CONF STATE: the configuration and a card state file for what follows.
use() {
	export PERSONAL_SIM_CONF=$tmp/$1.ini
	export PERSONAL_SIM_STATE=$tmp/$2.state
}

# tool OUT ARGS...: pkcs11-tool on the simulator, output in OUT and the log.
tool() {
	local out=$1 rc
	shift
	pkcs11-tool --module "$module" "$@" >"$out" 2>&1
	rc=$?
	cat "$out" >>"$log"
	return $rc
}

# expect_tool DESC RC REGEX ARGS...: pkcs11-tool exits RC, output matches REGEX.
expect_tool() {
	local desc=$1 want=$2 regex=$3 rc
	shift 3
	tool "$tmp/out" "$@"
	rc=$?
	if [ "$rc" -eq "$want" ] && { [ -z "$regex" ] || grep -qE -- "$regex" "$tmp/out"; }; then
		pass "$desc"
	else
		echo "    (pkcs11-tool exited $rc, wanted $want and /$regex/)" >>"$tmp/out"
		fail "$desc" "$tmp/out"
	fi
}

# client DESC < SCRIPT: a sim-client script whose every step meets its expectation.
client() {
	local desc=$1 rc
	"$client" "$module" >"$tmp/client.out" 2>&1
	rc=$?
	cat "$tmp/client.out" >>"$log"
	if [ $rc -eq 0 ]; then
		pass "$desc"
		sed 's/^/    /' "$tmp/client.out"
	else
		fail "$desc" "$tmp/client.out"
	fi
}

wait_for() {
	local i
	for i in $(seq 1 300); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

mkconf basic basic.ini 5.7.2 Personal-nocache.cfg
mkconf basic571 basic.ini 5.7.1 Personal-nocache.cfg
mkconf cached basic.ini 5.7.2 Personal-cache.cfg
mkconf eraser eraser.ini 5.7.2 Personal-nocache.cfg
printf 'sim test data\n' >"$tmp/data.bin"

echo "## library and slots"
use basic list
expect_tool "CK_INFO names Nexus Group and Personal 5.7.2 (library version 5.7)" 0 \
	'Library +Personal 5\.7\.2 \(ver 5\.7\)' -I
if grep -qE 'Manufacturer +Nexus Group' "$tmp/out" && grep -q 'Cryptoki version 2.40' "$tmp/out"; then
	pass "CK_INFO manufacturer Nexus Group, Cryptoki 2.40"
else
	fail "CK_INFO manufacturer Nexus Group, Cryptoki 2.40" "$tmp/out"
fi
tool "$tmp/list" -L
for want in '\(0x1\): Identiv uTrust 3700 F CL Reader 0' '\(0x3\): Microsoft Virtual Smart Card 0' \
            '\(0x5\): Windows Hello for Business 1' '\(0x7\): OMNIKEY CardMan 5x21 0' \
            '\(0x9\): SCM Microsystems SCR3310 0' '\(0xb\): Gemalto USB Smart Card Reader 0'; do
	if grep -qE "$want" "$tmp/list"; then
		pass "pkcs11-tool -L lists slot $want"
	else
		fail "pkcs11-tool -L lists slot $want" "$tmp/list"
	fi
done
if grep -A1 'Microsoft Virtual Smart Card 0' "$tmp/list" | grep -q 'CKR_GENERAL_ERROR'; then
	pass "pkcs11-tool -L: the virtual reader's token info fails with CKR_GENERAL_ERROR"
else
	fail "pkcs11-tool -L: the virtual reader's token info fails with CKR_GENERAL_ERROR" "$tmp/list"
fi
client "slot IDs are 2N+1; model, serial, label, flags of the tokens" <<'EOF'
init
slots                => CKR_OK "1 3 5 7 9 11"
slots present        => CKR_OK "1 3 9 11"
slotinfo 1           => CKR_OK "Identiv uTrust 3700 F CL Reader 0|present"
slotinfo 7           => CKR_OK "OMNIKEY CardMan 5x21 0|empty"
slotinfo 0           => CKR_SLOT_ID_INVALID
slotinfo 2           => CKR_SLOT_ID_INVALID
token 1 model        => CKR_OK "Cosmo 8.2"
token 1 serial       => CKR_OK 8200000001
token 1 label        => CKR_OK "Cosmo 8.2 test card"
token 1 manufacturer => CKR_OK "Nexus Group"
token 1 flags        => CKR_OK "RNG,LOGIN_REQUIRED,USER_PIN_INITIALIZED,TOKEN_INITIALIZED"
token 9 model        => CKR_OK "CardOS 5.3"
token 11 model       => CKR_OK "Cosmo 7"
token 7 label        => CKR_TOKEN_NOT_PRESENT
open 7               => CKR_TOKEN_NOT_PRESENT
finalize
EOF

echo "## virtual readers answer CKR_GENERAL_ERROR (the guide: GENERAL_ERROR with virtual smart cards)"
expect_tool "pkcs11-tool -O on the virtual smart card fails with CKR_GENERAL_ERROR" 1 \
	'C_OpenSession.*CKR_GENERAL_ERROR' --slot 3 -O
expect_tool "pkcs11-tool -M on the virtual smart card fails with CKR_GENERAL_ERROR" 1 \
	'C_GetMechanismList.*CKR_GENERAL_ERROR' --slot 3 -M
client "every token call on a virtual slot fails, C_GetSlotInfo works" <<'EOF'
init
slotinfo 3             => CKR_OK "Microsoft Virtual Smart Card 0|present"
slotinfo 5             => CKR_OK "Windows Hello for Business 1|empty"
token 3 label          => CKR_GENERAL_ERROR
token 5 label          => CKR_GENERAL_ERROR
open 3                 => CKR_GENERAL_ERROR
open 5 rw              => CKR_GENERAL_ERROR
closeall 3             => CKR_GENERAL_ERROR
inittoken 3 env:SIM_PUK "Virtual"  => CKR_GENERAL_ERROR
finalize
EOF

echo "## logins: PIN, and CKU_SO as the card profile's SO credential"
expect_tool "user login with the PIN" 0 '' --slot 1 --login --pin "$SIM_PIN" -O
expect_tool "a wrong PIN: CKR_PIN_INCORRECT" 1 'CKR_PIN_INCORRECT' --slot 1 --login --pin "$SIM_WRONG" -O
expect_tool "a too short PIN: CKR_PIN_LEN_RANGE" 1 'CKR_PIN_LEN_RANGE' --slot 1 --login --pin 12 -O
expect_tool "Cosmo 8.2 (SOCredential=puk): SO login with the PUK" 0 '' \
	--slot 1 --session-rw --login --login-type so --so-pin "$SIM_PUK" -O
expect_tool "Cosmo 8.2 (SOCredential=puk): SO login with the operator PIN fails" 1 'CKR_PIN_INCORRECT' \
	--slot 1 --session-rw --login --login-type so --so-pin "$SIM_OPIN" -O
expect_tool "CardOS 5.3 (SOCredential=operator-pin): SO login with the operator PIN" 0 'Card Eraser' \
	--slot 9 --session-rw --login --login-type so --so-pin "$SIM_OPIN" -O
expect_tool "CardOS 5.3 (SOCredential=operator-pin): SO login with the PUK fails" 1 'CKR_PIN_INCORRECT' \
	--slot 9 --session-rw --login --login-type so --so-pin "$SIM_PUK" -O
expect_tool "SO login needs a read-write session: CKR_SESSION_READ_ONLY_EXISTS" 1 \
	'CKR_SESSION_READ_ONLY_EXISTS' --slot 1 --login --login-type so --so-pin "$SIM_PUK" -O
expect_tool "pkcs11-tool --change-pin changes the user PIN" 0 'PIN successfully changed' \
	--slot 1 --login --pin "$SIM_PIN" --change-pin --new-pin "$SIM_NEWPIN"
expect_tool "the new user PIN logs in" 0 '' --slot 1 --login --pin "$SIM_NEWPIN" -O
expect_tool "pkcs11-tool --init-pin by the SO sets the user PIN" 0 'User PIN successfully initialized' \
	--slot 1 --login --login-type so --so-pin "$SIM_PUK" --init-pin --new-pin "$SIM_PIN"
client "login state rules, the unblock user type 0x80000001, retry counters" <<'EOF'
init
open 1 rw
login so env:SIM_OPIN          => CKR_PIN_INCORRECT
token 1 flags                  => CKR_OK ~SO_PIN_COUNT_LOW
login so env:SIM_PUK
token 1 flags                  => CKR_OK !~SO_PIN
sessionstate                   => CKR_OK RW_SO_FUNCTIONS
login so env:SIM_PUK           => CKR_USER_ALREADY_LOGGED_IN
login user env:SIM_PIN         => CKR_USER_ANOTHER_ALREADY_LOGGED_IN
logout
logout                         => CKR_USER_NOT_LOGGED_IN
echo CKU_PERSONAL_UNBLOCK logs in with the admin secret that is not the SO credential
login unblock env:SIM_PUK      => CKR_PIN_INCORRECT
login unblock env:SIM_OPIN
sessionstate                   => CKR_OK RW_SO_FUNCTIONS
initpin env:SIM_PIN
logout
login 0x80000002 env:SIM_PIN   => CKR_USER_TYPE_INVALID
login user env:SIM_WRONG       => CKR_PIN_INCORRECT
login user env:SIM_WRONG       => CKR_PIN_INCORRECT
token 1 flags                  => CKR_OK ~USER_PIN_COUNT_LOW,USER_PIN_FINAL_TRY
login user env:SIM_WRONG       => CKR_PIN_INCORRECT
token 1 flags                  => CKR_OK ~USER_PIN_LOCKED
login user env:SIM_PIN         => CKR_PIN_LOCKED
echo the SO unblocks the PIN with C_InitPIN
login so env:SIM_PUK
initpin env:SIM_PIN
logout
login user env:SIM_PIN
sessionstate                   => CKR_OK RW_USER_FUNCTIONS
close
open 1
login so env:SIM_PUK           => CKR_SESSION_READ_ONLY_EXISTS
close
finalize
EOF

echo "## PUK change (the guide: 5.7.1 or lower: never; 5.7.2 or higher: Cosmo 7 and Cosmo 8.2 only)"
use basic puk572
client "Personal 5.7.2, Cosmo 8.2: the PUK change works" <<'EOF'
init
open 1 rw
login so env:SIM_PUK
setpin env:SIM_PUK env:SIM_NEWPUK
logout
login so env:SIM_PUK           => CKR_PIN_INCORRECT
login so env:SIM_NEWPUK
token 1 flags                  => CKR_OK !~SO_PIN
finalize
EOF
client "Personal 5.7.2, Cosmo 7: the PUK change works" <<'EOF'
init
open 11 rw
login so env:SIM_PUK
setpin env:SIM_PUK env:SIM_NEWPUK
logout
login so env:SIM_NEWPUK
finalize
EOF
client "Personal 5.7.2, CardOS 5.3 (PUK via the unblock login): unsupported, the card is damaged" <<'EOF'
init
open 9 rw
login unblock env:SIM_PUK
setpin env:SIM_PUK env:SIM_NEWPUK    => CKR_DEVICE_ERROR
sessionstate                         => CKR_OK RW_PUBLIC_SESSION
login unblock env:SIM_PUK            => CKR_PIN_LOCKED
login unblock env:SIM_NEWPUK         => CKR_PIN_LOCKED
echo the operator PIN, this card's SO credential, still works
login so env:SIM_OPIN
setpin env:SIM_OPIN env:SIM_NEWOPIN
logout
login so env:SIM_NEWOPIN
finalize
EOF
use basic571 puk571
client "Personal 5.7.1, Cosmo 8.2: unsupported, new PUK written but blocked (damaged card)" <<'EOF'
init
info                           => CKR_OK "Nexus Group|Personal 5.7.1|5.7|2.40"
open 1 rw
login so env:SIM_PUK
setpin env:SIM_PUK env:SIM_NEWPUK   => CKR_DEVICE_ERROR
token 1 flags                  => CKR_OK ~SO_PIN_LOCKED
login so env:SIM_PUK           => CKR_PIN_LOCKED
login so env:SIM_NEWPUK        => CKR_PIN_LOCKED
finalize
EOF
client "Personal 5.7.1: the damage persists for the next process" <<'EOF'
init
open 1 rw
login so env:SIM_NEWPUK        => CKR_PIN_LOCKED
token 1 flags                  => CKR_OK ~SO_PIN_LOCKED
finalize
EOF
client "Personal 5.7.1, Cosmo 7: unsupported, damaged as well" <<'EOF'
init
open 11 rw
login so env:SIM_PUK
setpin env:SIM_PUK env:SIM_NEWPUK   => CKR_DEVICE_ERROR
login so env:SIM_NEWPUK        => CKR_PIN_LOCKED
finalize
EOF
client "Personal 5.7.1: changing the user PIN is not affected" <<'EOF'
init
open 1 rw
login user env:SIM_PIN
setpin env:SIM_PIN env:SIM_NEWPIN
logout
login user env:SIM_NEWPIN
finalize
EOF

echo "## objects"
use basic objects
expect_tool "pkcs11-tool --write-object writes a public token data object" 0 "label: +'pk data'" \
	--slot 1 --write-object "$tmp/data.bin" --type data --label "pk data"
expect_tool "pkcs11-tool -O lists it, a second process" 0 "label: +'pk data'" --slot 1 -O
expect_tool "pkcs11-tool --read-object reads its value" 0 'sim test data' \
	--slot 1 --read-object --type data --label "pk data"
expect_tool "pkcs11-tool --keypairgen EC P-256 (placeholder key material)" 0 'Private Key Object; EC' \
	--slot 1 --login --pin "$SIM_PIN" --keypairgen --key-type EC:prime256v1 --id 01 --label "ec key"
expect_tool "pkcs11-tool --delete-object removes it" 0 '' \
	--slot 1 --delete-object --type data --label "pk data"
client "create, find, read, modify, copy, destroy; private objects; handles" <<'EOF'
init
open 1 rw
find "pk data"                 => CKR_OK 0
create-data "secret data" token private => CKR_USER_NOT_LOGGED_IN
create-data "public data" token
create-data "session data"
echo visible: the public EC key from pkcs11-tool, "public data", "session data"
find                           => CKR_OK 3
getattr "public data" value    => CKR_OK "sim-client data"
attrs-5.2 "public data"        => CKR_ATTRIBUTE_TYPE_INVALID "11 -1 -1"
setlabel "public data" "renamed data"
find "renamed data"            => CKR_OK 1
copy "renamed data"
find "renamed data"            => CKR_OK 2
login user env:SIM_PIN
create-data "secret data" token private
find                           => CKR_OK 6
sign "ec key"                  => CKR_OK ~64:
keygen rsa "rsa key"
sign "rsa key"                 => CKR_OK ~256:
random 32                      => CKR_OK 32
logout
find "secret data"             => CKR_OK 0
find                           => CKR_OK 5
close
open 1 rw
find "session data"            => CKR_OK 0
handle "secret data"           => NOT_FOUND
finalize
EOF
handle=$(printf 'init\nopen 1 rw\ncreate-data "stable" token\nfinalize\n' | "$client" "$module" 2>&1 |
	sed -n 's/.*create-data stable token -> CKR_OK \([0-9][0-9]*\).*/\1/p')
client "object handles are the same in another process (handle $handle)" <<EOF
init
open 1
handle stable => CKR_OK $handle
finalize
EOF
unset PERSONAL_SIM_STATE
client "PERSONAL_SIM_STATE unset: the state lives in memory (1/2)" <<'EOF'
init
open 1 rw
create-data "memory only" token
find "memory only" => CKR_OK 1
finalize
EOF
client "PERSONAL_SIM_STATE unset: the state lives in memory (2/2)" <<'EOF'
init
open 1
find "memory only" => CKR_OK 0
finalize
EOF

echo "## concurrent processes serialize on the state file"
use basic parallel
pids=""
for i in 1 2 3 4 5 6; do
	printf 'init\nopen 1 rw\ncreate-data "p%s a" token\ncreate-data "p%s b" token\ncreate-data "p%s c" token\nfinalize\n' \
		"$i" "$i" "$i" | "$client" "$module" >"$tmp/par.$i" 2>&1 &
	pids="$pids $!"
done
parfail=0
for p in $pids; do
	wait "$p" || parfail=1
done
cat "$tmp"/par.* >>"$log"
if [ $parfail -eq 0 ]; then
	pass "six processes each created three token objects"
else
	fail "six processes each created three token objects" "$tmp/par.1"
fi
client "all eighteen objects are there, none lost" <<'EOF'
init
open 1
find => CKR_OK 18
finalize
EOF

echo "## Card Eraser (the guide: CardOS cards, MakeCardEraseable/BurnFuse)"
use basic eraser-basic
client "basic.ini: the CardOS card has a native Card Eraser, the Cosmo cards have none" <<'EOF'
init
open 9 rw
find "Card Eraser"                       => CKR_OK 1
getattr "Card Eraser" application        => CKR_OK Personal
getattr "Card Eraser" modifiable         => CKR_OK 00
getattr "Card Eraser" token              => CKR_OK 01
getattr "Card Eraser" private            => CKR_OK 00
setlabel "Card Eraser" "Other"           => CKR_ACTION_PROHIBITED
copy "Card Eraser"                       => CKR_ACTION_PROHIBITED
close
open 1 rw
find "Card Eraser"                       => CKR_OK 0
close
open 11 rw
find "Card Eraser"                       => CKR_OK 0
finalize
EOF
use eraser eraser
client "set up: objects on every eraser card" <<'EOF'
init
open 1 rw
create-data "to be erased" token
close
open 3 rw
create-data "to be erased" token
close
open 5 rw
create-data "to be erased" token
close
open 7 rw
create-data "to be erased" token
close
open 9 rw
create-data "to be erased" token
finalize
EOF
expect_tool "MakeCardEraseable()+BurnFuse(): pkcs11-tool --delete-object 'Card Eraser' erases anonymously" 0 '' \
	--slot 1 --delete-object --type data --label "Card Eraser"
expect_tool "BurnFuse() without MakeCardEraseable(): anonymous erase fails (CKR_FUNCTION_FAILED)" 1 \
	'CKR_FUNCTION_FAILED' --slot 5 --delete-object --type data --label "Card Eraser"
client "the three CPF cases: works, works, fails; and the erased card's state" <<'EOF'
init
echo slot 1 was erased by pkcs11-tool above
token 1 flags                  => CKR_OK !~TOKEN_INITIALIZED
token 1 flags                  => CKR_OK !~USER_PIN_INITIALIZED
token 1 label                  => CKR_OK ""
token 1 serial                 => CKR_OK C053000000000001
open 1 rw
find "to be erased"            => CKR_OK 0
find "Card Eraser"             => CKR_OK 1
login user env:SIM_PIN         => CKR_USER_PIN_NOT_INITIALIZED
login so env:SIM_OPIN          => CKR_USER_PIN_NOT_INITIALIZED
close
echo slot 3: neither MakeCardEraseable() nor BurnFuse(), logged in as user: erases too
open 3 rw
login user env:SIM_PIN
destroy "Card Eraser"
sessionstate                   => CKR_OK RW_PUBLIC_SESSION
find "to be erased"            => CKR_OK 0
token 3 flags                  => CKR_OK !~TOKEN_INITIALIZED
close
echo slot 5: BurnFuse() only: fails, nothing changes, also with the SO logged in
open 5 rw
destroy "Card Eraser"          => CKR_FUNCTION_FAILED
login so env:SIM_OPIN
destroy "Card Eraser"          => CKR_FUNCTION_FAILED
find "to be erased"            => CKR_OK 1
token 5 flags                  => CKR_OK ~TOKEN_INITIALIZED
token 5 label                  => CKR_OK "Fused only"
finalize
EOF
client "Erase=credential: only with the operator PIN logged in" <<'EOF'
init
open 7 rw
destroy "Card Eraser"          => CKR_USER_NOT_LOGGED_IN
login user env:SIM_PIN
destroy "Card Eraser"          => CKR_USER_NOT_LOGGED_IN
logout
login so env:SIM_OPIN
destroy "Card Eraser"
token 7 flags                  => CKR_OK !~TOKEN_INITIALIZED
close
echo slot 9: PUK is the SO credential, so the operator PIN comes through the unblock login
open 9 rw
login so env:SIM_PUK
destroy "Card Eraser"          => CKR_USER_NOT_LOGGED_IN
logout
login unblock env:SIM_OPIN
destroy "Card Eraser"
find "to be erased"            => CKR_OK 0
finalize
EOF
expect_tool "an erased card is initialised again with pkcs11-tool --init-token (new SO credential)" 0 \
	'Token successfully initialized' --slot 1 --init-token --label "Reborn" --so-pin "$SIM_NEWOPIN"
client "after C_InitToken the card works again and is still erasable" <<'EOF'
init
token 1 label                  => CKR_OK Reborn
token 1 flags                  => CKR_OK ~TOKEN_INITIALIZED
open 1 rw
login so env:SIM_OPIN          => CKR_PIN_INCORRECT
login so env:SIM_NEWOPIN
initpin env:SIM_PIN
logout
login user env:SIM_PIN
create-data "after reinit" token private
logout
destroy "Card Eraser"
finalize
EOF
client "C_InitToken checks the SO credential and keeps the serial number" <<'EOF'
init
inittoken 11 env:SIM_OPIN "Renamed Cosmo" => CKR_PIN_INCORRECT
inittoken 11 env:SIM_PUK "Renamed Cosmo"
token 11 label                 => CKR_OK "Renamed Cosmo"
token 11 serial                => CKR_OK 8200000011
token 11 flags                 => CKR_OK !~USER_PIN_INITIALIZED
open 11 rw
inittoken 11 env:SIM_PUK "Again"          => CKR_SESSION_EXISTS
finalize
EOF

echo "## caching (the guide: caching gives outdated data; Personal.cfg [Cache] CacheValidity=0 is off)"
# cache_run CONF STATE DESC: client A reads, another process (pkcs11-tool)
# changes the card, A reads again; A's script comes on stdin.
cache_run() {
	local desc=$3 a_rc
	use "$1" "$2"
	rm -f "$tmp/ready" "$tmp/done"
	cat >"$tmp/a.script"
	"$client" "$module" "$tmp/a.script" >"$tmp/a.out" 2>&1 &
	local apid=$!
	if ! wait_for "$tmp/ready"; then
		fail "$desc: client A did not get ready" "$tmp/a.out"
		kill "$apid" 2>/dev/null
		return
	fi
	if ! tool "$tmp/b1" --slot 1 --init-token --label "Relabelled" --so-pin "$SIM_PUK" ||
	   ! tool "$tmp/b2" --slot 1 --write-object "$tmp/data.bin" --type data --label "B data"; then
		cat "$tmp/b2" >>"$tmp/b1" 2>/dev/null
		fail "$desc: the other process could not change the card" "$tmp/b1"
	fi
	: >"$tmp/done"
	wait "$apid"
	a_rc=$?
	cat "$tmp/a.out" >>"$log"
	if [ $a_rc -eq 0 ]; then
		pass "$desc"
		sed 's/^/    /' "$tmp/a.out"
	else
		fail "$desc" "$tmp/a.out"
	fi
}
cache_run cached cache "cache on: another process's change stays unseen until C_Finalize + C_Initialize" <<EOF
init
open 1 rw
token 1 label                  => CKR_OK "Cosmo 8.2 test card"
find "B data"                  => CKR_OK 0
signal $tmp/ready
wait $tmp/done
echo another process has relabelled the card and written "B data"
token 1 label                  => CKR_OK "Cosmo 8.2 test card"
find "B data"                  => CKR_OK 0
echo this process's own change is in its cache
create-data "A data" token
find "A data"                  => CKR_OK 1
close
finalize
init
token 1 label                  => CKR_OK Relabelled
open 1
find "B data"                  => CKR_OK 1
find "A data"                  => CKR_OK 1
finalize
EOF
cache_run basic nocache "cache off (CacheValidity=0): another process's change is seen at once" <<EOF
init
open 1 rw
token 1 label                  => CKR_OK "Cosmo 8.2 test card"
find "B data"                  => CKR_OK 0
signal $tmp/ready
wait $tmp/done
echo another process has relabelled the card and written "B data"
token 1 label                  => CKR_OK Relabelled
find "B data"                  => CKR_OK 1
finalize
EOF

echo "## configuration errors: C_Initialize fails with one line naming file, line and key"
# conf_error DESC REGEX: C_Initialize fails and stderr matches REGEX.
conf_error() {
	local desc=$1 regex=$2
	pkcs11-tool --module "$module" -I >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	cat "$tmp/out" "$tmp/err" >>"$log"
	if [ $rc -ne 0 ] && cat "$tmp/out" "$tmp/err" | grep -q 'C_Initialize.*CKR_GENERAL_ERROR' &&
	   [ "$(grep -c '^personal-sim:' "$tmp/err")" -eq 1 ] && grep -qE -- "$regex" "$tmp/err"; then
		pass "$desc"
		sed 's/^/    /' "$tmp/err"
	else
		cat "$tmp/err" >>"$tmp/out"
		fail "$desc" "$tmp/out"
	fi
}
export PERSONAL_SIM_STATE=$tmp/conferr.state
unset PERSONAL_SIM_CONF
conf_error "PERSONAL_SIM_CONF unset" 'PERSONAL_SIM_CONF is not set'
export PERSONAL_SIM_CONF=$tmp/does-not-exist.ini
conf_error "unreadable configuration" 'does-not-exist\.ini: cannot read'
sed 's/^Virtual = false/Colour = blue/' "$tmp/basic.ini" >"$tmp/bad1.ini"
line=$(grep -n '^Colour' "$tmp/bad1.ini" | cut -d: -f1)
export PERSONAL_SIM_CONF=$tmp/bad1.ini
conf_error "unknown key" "bad1\\.ini:$line: Colour: unknown key"
sed 's/^Virtual = false/Virtual = maybe/' "$tmp/basic.ini" >"$tmp/bad2.ini"
line=$(grep -n '^Virtual = maybe' "$tmp/bad2.ini" | cut -d: -f1)
export PERSONAL_SIM_CONF=$tmp/bad2.ini
conf_error "bad value" "bad2\\.ini:$line: Virtual: 'maybe' is not true or false"
sed 's/^PUK = 97531864/PUK = 975/' "$tmp/basic.ini" >"$tmp/bad3.ini"
export PERSONAL_SIM_CONF=$tmp/bad3.ini
conf_error "a bad secret is reported without its value" 'bad3\.ini:[0-9]+: PUK: length must be 4\.\.16'
if grep -q 975 "$tmp/err"; then
	fail "the bad secret's value is not printed" "$tmp/err"
else
	pass "the bad secret's value is not printed"
fi
sed 's/^Card = cosmo7/Card = cosmo9/' "$tmp/basic.ini" >"$tmp/bad4.ini"
export PERSONAL_SIM_CONF=$tmp/bad4.ini
conf_error "a reader naming a missing card" 'bad4\.ini:[0-9]+: Card: no section \[card\.cosmo9\]'
sed 's/^Card = cosmo7/Card =/' "$tmp/basic.ini" >"$tmp/other.ini"
export PERSONAL_SIM_CONF=$tmp/other.ini PERSONAL_SIM_STATE=$tmp/list.state
conf_error "a state file made from another configuration" 'list\.state: the state file was made from another'

echo "## no secret in any output"
leaks=""
for s in $secrets; do
	if grep -qF -- "$s" "$log"; then
		leaks="$leaks $s"
	fi
done
if [ -z "$leaks" ]; then
	pass "no PIN, PUK or operator PIN in $(wc -l <"$log") lines of output"
else
	fail "a secret was printed (values withheld; see the run's output)"
fi

echo "test-sim: $passed passed, $failed failed"
[ $failed -eq 0 ]
