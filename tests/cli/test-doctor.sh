#!/bin/sh
# Issue 5: `p11shim doctor [--config FILE] [--json]`, each group of checks
# with good and bad fixtures:
# - configuration: each key's value and where it came from (default, user
#   file, P11SHIM_CONF, --config, environment, mapped field set or unset or
#   invalid), a file that does not load;
# - backend: SoftHSM2 and the Personal simulator, a missing file, the other
#   word size (ELF and PE headers), no ELF at all, no C_GetFunctionList;
# - Personal.cfg: system and per-user file, which wins, caching, SkipReader;
# - PIN-encryption certificate made with OpenSSL here: valid PEM and DER,
#   expired, expiring in 10 days, garbage, missing, not configured;
# - Java: fake JAVA_HOMEs with 32- and 64-bit release files and executable
#   headers, a Windows JRE, a release file contradicting the header;
# - slots: the simulator's virtual readers hidden by the default patterns,
#   shown (and failing) with SkipReader cleared, Personal.cfg's patterns;
# - trace: writable, missing or impossible folder, relative path, default
#   folder, free space against MaxSize;
# - --json parsed with python3 and checked against the text output; exit
#   codes 0, 1 and 2.
. "$top_srcdir/tests/integration/lib.sh"
need "$SOFTHSM2_UTIL" "$SOFTHSM2_MODULE" openssl python3
: "${P11SHIM_TOOL:?run through make check}"
unset P11SHIM_CONF P11SHIM_LIBRARY P11SHIM_TRACE JAVA_HOME
# Never the system's or the user's own files: a home of our own.
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config" XDG_STATE_HOME="$WORK/home/state"
mkdir -p "$HOME"

# dj ARGS...: doctor --json; the document in $J, stderr in $WORK/d.err, status in $DRC.
J="$WORK/d.json"
dj() {
	set +e
	"$P11SHIM_TOOL" doctor --json "$@" >"$J" 2>"$WORK/d.err"
	DRC=$?
	set -e
	python3 "$WORK/q.py" "$J" sane "$DRC" || fail "doctor --json $*: not a sane document (exit $DRC)"
}
# dt ARGS...: doctor in text; output in $WORK/d.txt, status in $DRC.
dt() {
	set +e
	"$P11SHIM_TOOL" doctor "$@" >"$WORK/d.txt" 2>"$WORK/d.err"
	DRC=$?
	set -e
}
rc_is() { [ "$DRC" = "$1" ] || { cat "$WORK/d.err"; python3 "$WORK/q.py" "$J" dump; fail "exit $DRC, expected $1 ($2)"; }; }
# has GROUP CHECK STATUS [TEXT]: a check so named ("*": any) with that status (and text).
has() { python3 "$WORK/q.py" "$J" has "$@" || fail "doctor: no $2 = $3 in $1${4:+ with '$4'}"; }
# fix_is GROUP CHECK 'FILE|SECTION|KEY|VALUE' [TEXT]: the fix of that check (VALUE: a prefix).
fix_is() { python3 "$WORK/q.py" "$J" fix "$@" || fail "doctor: fix of $1 / $2 is not $3"; }
# data GROUP CHECK KEY [TEXT]: prints data[KEY] of that check.
data() { python3 "$WORK/q.py" "$J" data "$@"; }

cat >"$WORK/q.py" <<'PY'
import json, sys

doc = json.load(open(sys.argv[1], encoding="utf-8"))
cmd, args = sys.argv[2], sys.argv[3:]

def checks(group=None):
    for g in doc["groups"]:
        if group is None or g["name"] == group:
            for c in g["checks"]:
                yield g["name"], c

def find(group, name, status=None, text=""):
    for _, c in checks(group):
        if name in ("*", c["check"]) and (status is None or c["status"] == status) and text in c["text"]:
            return c
    return None

def dump(group=None):
    for g, c in checks(group):
        print("   %-26s %-22s %-4s %s%s" % (g, c["check"], c["status"], c["text"],
              "\n%60s fix: %s" % ("", c["fix"]) if c["fix"] else ""))

if cmd == "sane":
    rc = int(args[0])
    counts = {"ok": 0, "warn": 0, "fail": 0, "skip": 0}
    for _, c in checks():
        counts[c["status"]] += 1
        assert set(c) == {"check", "status", "text", "fix", "data"}, c
        if c["status"] in ("fail", "warn"):
            assert c["fix"] is None or c["fix"]["file"] and c["fix"]["value"], c
        if c["status"] == "fail":
            assert c["fix"] is not None, "a failure without a fix: %r" % c
    assert counts == doc["counts"], (counts, doc["counts"])
    assert doc["exit"] == rc, (doc["exit"], rc)
    assert rc == (1 if counts["fail"] else 0), (rc, counts)
    names = [g["name"] for g in doc["groups"]]
    assert len(names) == len(set(names)), names
elif cmd == "dump":
    dump()
elif cmd == "has":
    group, name, status = args[:3]
    if find(group, name, status, args[3] if len(args) > 3 else "") is None:
        dump(group)
        sys.exit(1)
elif cmd == "fix":
    group, name, want = args[:3]
    c = find(group, name, None, args[3] if len(args) > 3 else "")
    f = c and c["fix"]
    got = "|".join(str(f[k] or "") for k in ("file", "section", "key", "value")) if f else "none"
    w = want.split("|", 3)
    g = got.split("|", 3)
    if len(g) != 4 or g[:3] != w[:3] or not g[3].startswith(w[3]):
        print("fix of %s / %s: %s" % (group, name, got))
        sys.exit(1)
elif cmd == "data":
    group, name, key = args[:3]
    c = find(group, name, None, args[3] if len(args) > 3 else "")
    print(c["data"].get(key, "") if c else "")
elif cmd == "count":
    print(sum(1 for _ in checks()))
PY

# ---- usage and exit 2 ----
set +e
"$P11SHIM_TOOL" doctor --bogus >/dev/null 2>"$WORK/e"; r1=$?
"$P11SHIM_TOOL" doctor extra >/dev/null 2>>"$WORK/e"; r2=$?
"$P11SHIM_TOOL" doctor --config >/dev/null 2>>"$WORK/e"; r3=$?
"$P11SHIM_TOOL" doctor --config "$WORK/nonexistent.conf" >/dev/null 2>>"$WORK/e"; r4=$?
"$P11SHIM_TOOL" doctor --help >"$WORK/help"; r5=$?
"$P11SHIM_TOOL" help doctor >/dev/null; r6=$?
"$P11SHIM_TOOL" --help >"$WORK/top-help"; r7=$?
set -e
[ "$r1$r2$r3$r4$r5$r6$r7" = 2222000 ] || { cat "$WORK/e"; fail "usage exit codes: $r1$r2$r3$r4$r5$r6$r7"; }
grep -q "unknown option '--bogus'" "$WORK/e" || fail "bad option not named"
grep -q "unexpected argument 'extra'" "$WORK/e" || fail "extra argument not named"
grep -q "cannot read --config $WORK/nonexistent.conf: No such file or directory" "$WORK/e" || fail "--config unreadable"
grep -q "^Usage: p11shim doctor \[--config FILE\] \[--json\]" "$WORK/help" || fail "doctor --help"
grep -q "^  doctor " "$WORK/top-help" || fail "p11shim --help does not list doctor"
ok "usage errors and an unreadable --config exit 2; --help exits 0"

# ---- configuration ----
softhsm_init "$WORK/hsm"
export SOFTHSM2_CONF="$WORK/hsm/softhsm2.conf"
C="$WORK/p11shim.conf"
shim_conf "$C" "$SOFTHSM2_MODULE" "$WORK/trace-%p.jsonl" "[login]" 'OperatorPinIsSOCredential = ${CARD_OPIS}'
dj --config "$C"
rc_is 0 "SoftHSM2 through a good --config"
has configuration files ok "--config $C"
has configuration "[backend] PKCS11Library" ok "= $SOFTHSM2_MODULE (--config $C:2)"
[ "$(data configuration "[backend] PKCS11Library" origin)" = --config ] || fail "origin of PKCS11Library"
[ "$(data configuration "[backend] PKCS11Library" line)" = 2 ] || fail "line of PKCS11Library"
has configuration "[trace] Format" ok "= jsonl (default)"
[ "$(data configuration "[trace] Format" origin)" = default ] || fail "origin of a default"
has configuration "[readers] SkipReader" ok "Microsoft Virtual Smart Card .* (default)"
has configuration "[login] OperatorPinIsSOCredential" warn 'mapped field CARD_OPIS, unset in this environment'
[ "$(data configuration "[login] OperatorPinIsSOCredential" origin)" = "mapped field" ] || fail "mapped origin"
fix_is configuration "[login] OperatorPinIsSOCredential" "the client's environment (e.g. an Identity Manager mapped field)||CARD_OPIS|the value for [login] OperatorPinIsSOCredential"
CARD_OPIS=true dj --config "$C"
has configuration "[login] OperatorPinIsSOCredential" ok "mapped field CARD_OPIS, now 'true'"
[ "$(data configuration "[login] OperatorPinIsSOCredential" current)" = true ] || fail "current value of a mapped field"
CARD_OPIS=maybe dj --config "$C"
rc_is 1 "an invalid mapped field"
has configuration "[login] OperatorPinIsSOCredential" fail "mapped field CARD_OPIS = 'maybe' is not valid"
fix_is configuration "[login] OperatorPinIsSOCredential" "the client's environment||CARD_OPIS|true or false"
ok "configuration: value, origin (--config, default, mapped field), mapped field unset, set and invalid"

# The same file through P11SHIM_CONF, the environment over the file, the user file.
P11SHIM_CONF="$C" P11SHIM_LIBRARY="$SOFTHSM2_MODULE" dj
has configuration files ok "P11SHIM_CONF = $C"
# What the tamper check looked at, not just that it passed.
has configuration files ok "; owner $(id -un) (uid $(id -u)), mode 0"
has configuration files ok "no other user can change it or a folder on its path"
has configuration environment ok "P11SHIM_LIBRARY = $SOFTHSM2_MODULE"
has configuration "[backend] PKCS11Library" ok "(environment P11SHIM_LIBRARY)"
[ "$(data configuration "[backend] PKCS11Library" origin)" = environment ] || fail "environment origin"
has configuration "[trace] File" ok "(P11SHIM_CONF $C:4)"
mkdir -p "$XDG_CONFIG_HOME/p11shim"
cp "$C" "$XDG_CONFIG_HOME/p11shim/p11shim.conf"
dj
has configuration "user file" ok "$XDG_CONFIG_HOME/p11shim/p11shim.conf (wins over the system file key by key)"
has configuration "[backend] PKCS11Library" ok "(user file $XDG_CONFIG_HOME/p11shim/p11shim.conf:2)"
[ "$(data configuration "[backend] PKCS11Library" origin)" = "user file" ] || fail "user file origin"
rm "$XDG_CONFIG_HOME/p11shim/p11shim.conf"
dj
rc_is 1 "no backend configured"
has configuration "user file" ok "(not present)"
has backend module fail "no PKCS#11 module configured"
ok "configuration: P11SHIM_CONF, P11SHIM_LIBRARY (environment), the user file, nothing configured"

# A file that does not load: the module would fail C_Initialize; doctor names the line.
printf '[backend]\nPKCS11Library = %s\n[trace]\nFormat = xml\n' "$SOFTHSM2_MODULE" >"$WORK/bad.conf"
dj --config "$WORK/bad.conf"
rc_is 1 "a configuration error"
has configuration load fail "$WORK/bad.conf:4: [trace] Format = 'xml' is not valid; use one of: jsonl|text"
fix_is configuration load "$WORK/bad.conf:4|||[trace] Format = 'xml' is not valid; use one of: jsonl|text"
has backend backend skip "the configuration does not load"
printf '[backend]\nPKCS11Libary = x\n' >"$WORK/bad.conf"
dj --config "$WORK/bad.conf"
has configuration load fail "unknown key 'PKCS11Libary' in section [backend]; known keys: PKCS11Library"
P11SHIM_CONF="$WORK/nonexistent.conf" dj
rc_is 1 "P11SHIM_CONF naming a missing file (the environment, not doctor's argument)"
has configuration load fail "cannot read the configuration"
ok "configuration errors: FAIL with file:line and the fix, exit 1"

# ---- backend ----
dj --config "$C"
has backend file ok "$SOFTHSM2_MODULE exists: owner "
has backend file ok "; no other user can change it or a folder on its path"
has backend "word size" ok "as the shim"
has backend loads ok
has backend C_GetFunctionList ok "exported"
has backend C_GetInfo ok "manufacturer 'SoftHSM'"
has backend middleware ok "generic PKCS#11 module, not Nexus Personal"
has Personal.cfg Personal.cfg skip
has "PIN-encryption certificate" certificate skip
has slots "*" ok "shown; token '$TOKEN_LABEL'"
SHIM_ARCH=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["shim"])' "$J")
ok "SoftHSM2: file, $SHIM_ARCH, loads, C_GetFunctionList, C_GetInfo, generic, its token shown"

# The other word size, from SoftHSM2's own header (as test-lifecycle.sh makes it).
python3 - "$SOFTHSM2_MODULE" "$WORK/other-arch.so" "$WORK/pe32.dll" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read(64))
if b[4] == 2:
    b[4], b[18], b[19] = 1, 3, 0      # ELFCLASS32, EM_386
else:
    b[4], b[18], b[19] = 2, 62, 0     # ELFCLASS64, EM_X86_64
open(sys.argv[2], "wb").write(b)
# A PE32 (32-bit i386) header: MZ, e_lfanew, PE\0\0, COFF Machine 0x14c, optional magic 0x10b.
pe = bytearray(256)
pe[0:2] = b"MZ"
pe[0x3c:0x40] = struct.pack("<I", 0x80)
pe[0x80:0x84] = b"PE\0\0"
pe[0x84:0x86] = struct.pack("<H", 0x14c)
pe[0x98:0x9a] = struct.pack("<H", 0x10b)
open(sys.argv[3], "wb").write(pe)
PY
shim_conf "$C" "$WORK/other-arch.so" "$WORK/t.jsonl"
dj --config "$C"
rc_is 1 "a backend of the other word size"
has backend "word size" fail "wrong architecture: ELF"
has backend "word size" fail ", the shim is $SHIM_ARCH"
fix_is backend "word size" "$C|backend|PKCS11Library|a $SHIM_ARCH PKCS#11 module"
has slots slots skip "the backend did not initialise"
dt --config "$C"
[ "$DRC" = 1 ] || fail "text: exit $DRC"
grep -A1 "^  FAIL  word size: wrong architecture: ELF" "$WORK/d.txt" |
	grep -qxF "        fix: $C: [backend] PKCS11Library = a $SHIM_ARCH PKCS#11 module (only the 32-bit personal.dll initialises cards; the shim loads its own word size)" ||
	{ cat "$WORK/d.txt"; fail "text: the FAIL line is not followed by its fix"; }
shim_conf "$C" "$WORK/pe32.dll" "$WORK/t.jsonl"
dj --config "$C"
has backend "word size" fail "wrong architecture: a Windows PE file"
[ "$(data backend "word size" bits)/$(data backend "word size" machine)" = 32/i386 ] || fail "PE header not read"
ok "the other word size (ELF, and a Windows PE DLL): FAIL with the fix in the text and the JSON"

printf 'not a module\n' >"$WORK/text.so"
shim_conf "$C" "$WORK/text.so" "$WORK/t.jsonl"
dj --config "$C"
has backend "word size" fail "not a shared library (no ELF header)"
shim_conf "$C" "$WORK/nonexistent.so" "$WORK/t.jsonl"
dj --config "$C"
has backend file fail "$WORK/nonexistent.so: not found"
fix_is backend file "$C|backend|PKCS11Library|the path of the real PKCS#11 module"
P11SHIM_LIBRARY="$WORK/nonexistent.so" dj --config "$C"
fix_is backend file "environment||P11SHIM_LIBRARY|the path of the real PKCS#11 module"
elf_id() { od -An -tx1 -j4 -N1 "$1"; od -An -tx1 -j18 -N2 "$1"; }
lib=
for l in /lib/*/libz.so.1 /usr/lib/*/libz.so.1 /lib/*/libm.so.6 /usr/lib32/libm.so.6; do
	[ -e "$l" ] && [ "$(elf_id "$l")" = "$(elf_id "$SOFTHSM2_MODULE")" ] && { lib=$l; break; }
done
if [ -n "$lib" ]; then
	shim_conf "$C" "$lib" "$WORK/t.jsonl"
	dj --config "$C"
	has backend loads ok
	has backend C_GetFunctionList fail "not exported: not a PKCS#11 module"
fi
ok "backend: not ELF, missing (from a file and from P11SHIM_LIBRARY), no C_GetFunctionList"

# ---- the Personal simulator: middleware, Personal.cfg, slots ----
sim_setup basic.ini
export P11SHIM_CONF="$WORK/sim.conf"
USR="$SIM_DIR/Personal-user.cfg"
sim_conf "$P11SHIM_CONF" "$WORK/t.jsonl" "PersonalUserConfig = $USR"
dj
rc_is 0 "the simulator, set up as Nexus's Personal integration guide says"
has backend middleware ok "Nexus Personal 5.7.2, version from CK_INFO.libraryDescription ([backend] Middleware = auto)"
has backend C_GetInfo ok "manufacturer 'Nexus Group', library 'Personal 5.7.2'"
has Personal.cfg "system file" ok "$SIM_DIR/Personal.cfg"
has Personal.cfg "per-user file" ok "$USR: not present"
has Personal.cfg wins ok "only the system file exists"
has Personal.cfg caching ok "off: $SIM_DIR/Personal.cfg:2: [Cache] CacheValidity = 0"
has Personal.cfg SkipReader ok "no SkipReader lines"
# The simulator's virtual readers are hidden by the default patterns, and never asked for a token.
has slots "slot 3" ok "'Microsoft Virtual Smart Card 0': hidden by SkipReader 'Microsoft Virtual Smart Card .*' (default)"
has slots "slot 5" ok "'Windows Hello for Business 1': hidden by SkipReader 'Windows Hello for Business .*' (default)"
has slots "slot 1" ok "'Identiv uTrust 3700 F CL Reader 0': shown; token 'Cosmo 8.2 test card', model 'Cosmo 8.2', serial '8200000001'"
has slots "slot 7" ok "'OMNIKEY CardMan 5x21 0': shown, no card"
has slots "slot 9" ok "model 'CardOS 5.3', serial 'C053000000000009'"
[ "$(data slots "slot 3" shown)/$(data slots "slot 3" pattern)" = "false/Microsoft Virtual Smart Card .*" ] || fail "slot 3 data"
[ "$(data slots "slot 11" shown)/$(data slots "slot 11" model)" = "true/Cosmo 7" ] || fail "slot 11 data"
ok "simulator: Nexus Personal 5.7.2, caching off, virtual readers hidden by the default patterns, tokens shown"

# Caching: system file, per-user file, which wins.
printf '[Cache]\nCacheValidity = 3600\n' >"$SIM_DIR/Personal.cfg"
dj
rc_is 1 "caching on"
has Personal.cfg caching fail "on: $SIM_DIR/Personal.cfg:2: [Cache] CacheValidity = 3600"
fix_is Personal.cfg caching "$SIM_DIR/Personal.cfg|Cache|CacheValidity|0"
printf '[Cache]\nCacheValidity = 0\n' >"$USR"
dj
rc_is 0 "caching on in the system file, off in the winning per-user file"
has Personal.cfg wins ok "both exist: the per-user file $USR wins key by key"
has Personal.cfg caching ok "off: $USR:2"
printf '[Cache]\nCacheValidity = 0\n' >"$SIM_DIR/Personal.cfg"
printf '[Cache]\nCacheValidity = 600\n' >"$USR"
dj
has Personal.cfg caching fail "on: $USR:2: [Cache] CacheValidity = 600"
fix_is Personal.cfg caching "$USR|Cache|CacheValidity|0"
rm -f "$USR" "$SIM_DIR/Personal.cfg"
dj
has Personal.cfg wins warn "neither file exists"
has Personal.cfg caching fail "no [Cache] CacheValidity in any Personal.cfg"
fix_is Personal.cfg caching "$SIM_DIR/Personal.cfg|Cache|CacheValidity|0"
ok "caching: on and off in the system file, in the winning per-user file, no file at all"

# Personal.cfg's SkipReader lines: listed, and the slot they hide says so.
printf '[Cache]\nCacheValidity = 0\n[Readers]\nSkipReader = OMNIKEY .*\n' >"$SIM_DIR/Personal.cfg"
dj
has Personal.cfg SkipReader ok "OMNIKEY .* ($SIM_DIR/Personal.cfg:4); the shim hides these readers too"
has slots "slot 7" ok "hidden by SkipReader 'OMNIKEY .*' ($SIM_DIR/Personal.cfg:4)"
sim_conf "$P11SHIM_CONF" "$WORK/t.jsonl" "[readers]" "ReadPersonalSkipReader = false"
dj
has Personal.cfg SkipReader ok "the shim ignores it ([readers] ReadPersonalSkipReader = false)"
has slots "slot 7" ok "shown, no card"
# A pattern that does not compile fails C_Initialize when the configuration
# loads, and so doctor's load check, with the same line.
printf '[Cache]\nCacheValidity = 0\nSkipReader = Broken ([\n' >"$SIM_DIR/Personal.cfg"
sim_conf "$P11SHIM_CONF" "$WORK/t.jsonl"
dj
rc_is 1 "a SkipReader pattern that does not compile"
has configuration load fail "$SIM_DIR/Personal.cfg:3: SkipReader = Broken ([: PCRE2 error"
printf '[Cache]\nCacheValidity = 0\n' >"$SIM_DIR/Personal.cfg"
ok "Personal.cfg's SkipReader lines: listed, hiding a slot, ignored when switched off, a broken one"

# SkipReader cleared: the virtual readers are shown, and the virtual card answers CKR_GENERAL_ERROR.
sim_conf "$P11SHIM_CONF" "$WORK/t.jsonl" "[readers]" "SkipReader =" "ReadPersonalSkipReader = false"
dj
rc_is 1 "virtual readers shown"
has configuration "[readers] SkipReader" ok "none: an empty SkipReader cleared the list"
has slots SkipReader ok "0 patterns"
has slots "slot 3" fail "'Microsoft Virtual Smart Card 0': shown, but C_GetTokenInfo returned CKR_GENERAL_ERROR"
fix_is slots "slot 3" "$P11SHIM_CONF|readers|SkipReader|Microsoft Virtual Smart Card .*"
has slots "slot 5" warn "'Windows Hello for Business 1': shown, no card; a virtual reader"
fix_is slots "slot 5" "$P11SHIM_CONF|readers|SkipReader|Windows Hello for Business .*"
ok "SkipReader cleared: the virtual card fails with CKR_GENERAL_ERROR, FAIL with the pattern to add"

# Version from the configuration, and one that cannot change the PUK.
sim_conf "$P11SHIM_CONF" "$WORK/t.jsonl" "[backend]" "MiddlewareVersion = 5.7.1"
dj
has backend middleware ok "Nexus Personal 5.7.1, version from [backend] MiddlewareVersion"
has backend middleware ok "it cannot change the PUK (needs 5.7.2 or higher)"
[ "$(data backend middleware version_source)" = "[backend] MiddlewareVersion" ] || fail "version source"
# The simulator's own configuration missing: its C_Initialize fails.
sim_conf "$P11SHIM_CONF" "$WORK/t.jsonl"
PERSONAL_SIM_CONF= dj
rc_is 1 "a backend whose C_Initialize fails"
has backend C_Initialize fail "returned CKR_GENERAL_ERROR"
ok "middleware version from [backend] MiddlewareVersion; a failing C_Initialize"

# ---- the PIN-encryption certificate ----
ID2="$SIM_DIR/iD2ppa.cfg"
pin_cert() { printf '[PIN Encryption]\nFile = %s\n' "$1" >"$ID2"; }
dj
has "PIN-encryption certificate" iD2ppa.cfg ok "$ID2: [PIN Encryption] File = $SIM_DIR/pinenc.pem"
has "PIN-encryption certificate" certificate ok "readable, X.509 (PEM)"
has "PIN-encryption certificate" subject ok "/CN=PIN encryption"
has "PIN-encryption certificate" expiry ok "valid until"
openssl x509 -in "$SIM_DIR/pinenc.pem" -outform DER -out "$SIM_DIR/pinenc.der"
pin_cert "$SIM_DIR/pinenc.der"
dj
rc_is 0 "a DER certificate"
has "PIN-encryption certificate" certificate ok "readable, X.509 (DER)"
# Expired: signed with dates in the past by `openssl ca`.
CA="$WORK/ca"
mkdir -p "$CA"
: >"$CA/index.txt"
echo 01 >"$CA/serial"
printf '[ca]\ndefault_ca = d\n[d]\ndatabase = %s/index.txt\nnew_certs_dir = %s\nserial = %s/serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n' \
	"$CA" "$CA" "$CA" >"$CA/ca.cnf"
openssl req -new -newkey rsa:2048 -nodes -keyout "$CA/k.pem" -subj "/CN=expired PIN encryption" \
	-out "$CA/csr.pem" 2>/dev/null
openssl ca -batch -config "$CA/ca.cnf" -selfsign -keyfile "$CA/k.pem" -in "$CA/csr.pem" \
	-startdate 20200101000000Z -enddate 20210101000000Z -notext -out "$SIM_DIR/expired.pem" 2>/dev/null
pin_cert "$SIM_DIR/expired.pem"
dj
rc_is 0 "an expired certificate is a warning"
has "PIN-encryption certificate" expiry warn "expired on 2021-01-01 00:00:00 UTC"
fix_is "PIN-encryption certificate" expiry "$ID2|PIN Encryption|File|a certificate that has not expired"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$SIM_DIR/soon.key" -subj "/CN=soon" -days 10 \
	-out "$SIM_DIR/soon.pem" 2>/dev/null
pin_cert "$SIM_DIR/soon.pem"
dj
rc_is 0 "a certificate expiring in 10 days is a warning"
has "PIN-encryption certificate" expiry warn "expires on"
case $(data "PIN-encryption certificate" expiry days_left) in 9|10) ;; *) fail "days left of a 10-day certificate" ;; esac
has "PIN-encryption certificate" subject ok "/CN=soon"
ok "PIN-encryption certificate: PEM and DER fine; expired and expiring in 10 days warned, with the fix"

printf 'garbage\n' >"$SIM_DIR/garbage.pem"
pin_cert "$SIM_DIR/garbage.pem"
dj
rc_is 1 "garbage for a certificate"
has "PIN-encryption certificate" certificate fail "$SIM_DIR/garbage.pem is not an X.509 certificate (PEM or DER)"
fix_is "PIN-encryption certificate" certificate "$ID2|PIN Encryption|File|a readable X.509 certificate"
pin_cert "$SIM_DIR/nonexistent.pem"
dj
has "PIN-encryption certificate" certificate fail "$SIM_DIR/nonexistent.pem cannot be read: No such file or directory"
printf '[PIN Encryption]\n' >"$ID2"
dj
has "PIN-encryption certificate" iD2ppa.cfg fail "$ID2 has no [PIN Encryption] File"
fix_is "PIN-encryption certificate" iD2ppa.cfg "$ID2|PIN Encryption|File|the path of an X.509 certificate"
rm -f "$ID2"
dj
has "PIN-encryption certificate" iD2ppa.cfg fail "$ID2 does not exist"
printf '[backend]\nPKCS11Library = %s\n[middleware]\nPersonalConfig = %s\n' "$PERSONAL_SIM_MODULE" \
	"$SIM_DIR/Personal.cfg" >"$P11SHIM_CONF"
dj
rc_is 1 "Personal without PinEncryptionConfig"
has "PIN-encryption certificate" iD2ppa.cfg fail "not set ([middleware] PinEncryptionConfig)"
fix_is "PIN-encryption certificate" iD2ppa.cfg "$P11SHIM_CONF|middleware|PinEncryptionConfig|the middleware's iD2ppa.cfg"
pin_cert "$SIM_DIR/pinenc.pem"
sim_conf "$P11SHIM_CONF" "$WORK/t.jsonl"
ok "PIN-encryption certificate: garbage, missing, no File line, no iD2ppa.cfg, not configured: FAIL"

# ---- Java ----
# jre DIR OS_ARCH BITS: a fake JAVA_HOME, its release file and a bin/java header of BITS.
jre() {
	mkdir -p "$1/bin"
	printf 'IMPLEMENTOR="Eclipse Adoptium"\nJAVA_VERSION="11.0.21"\nOS_ARCH="%s"\nOS_NAME="Linux"\n' "$2" >"$1/release"
	python3 - "$SOFTHSM2_MODULE" "$1/bin/java" "$3" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read(64))
if sys.argv[3] == "32":
    b[4], b[18], b[19] = 1, 3, 0      # ELFCLASS32, EM_386
else:
    b[4], b[18], b[19] = 2, 62, 0     # ELFCLASS64, EM_X86_64
open(sys.argv[2], "wb").write(b)
PY
	chmod 755 "$1/bin/java"
}
jre "$WORK/jre32" i386 32
jre "$WORK/jre64" amd64 64
jre "$WORK/jre-lies" amd64 32
mkdir -p "$WORK/jre-win/bin"
printf 'IMPLEMENTOR="Oracle Corporation"\nJAVA_VERSION="1.8.0_391"\nOS_ARCH="x86"\nOS_NAME="Windows"\n' >"$WORK/jre-win/release"
cp "$WORK/pe32.dll" "$WORK/jre-win/bin/java.exe"
case "$SHIM_ARCH" in
"64-bit x86-64") good=jre64 bad=jre32 badrel='a 32-bit i386 JRE cannot load the 64-bit x86-64 shim' ;;
"32-bit i386") good=jre32 bad=jre64 badrel='a 64-bit x86-64 JRE cannot load the 32-bit i386 shim' ;;
*) good= ;;
esac
JFIX="environment||JAVA_HOME|the root folder of a $SHIM_ARCH JRE"
dj
rc_is 0 "JAVA_HOME unset is a warning"
has Java JAVA_HOME warn "not set: JPKIEncoder (Identity Manager) needs it; the Smart ID Desktop app does not use Java"
fix_is Java JAVA_HOME "$JFIX"
if [ -n "$good" ]; then
	JAVA_HOME="$WORK/$good" dj
	rc_is 0 "a JRE of the shim's word size"
	has Java JAVA_HOME ok "$WORK/$good"
	has Java release ok "Java 11.0.21 by Eclipse Adoptium for Linux"
	has Java java ok "$WORK/$good/bin/java: ELF $SHIM_ARCH, as the shim"
	JAVA_HOME="$WORK/$bad" dj
	rc_is 1 "a JRE of the other word size"
	has Java release fail "$badrel"
	has Java java fail "it cannot load the $SHIM_ARCH shim"
	fix_is Java java "$JFIX"
	fix_is Java release "$JFIX"
	[ "$(data Java release os_arch)" = "$(sed -n 's/^OS_ARCH="\(.*\)"/\1/p' "$WORK/$bad/release")" ] || fail "OS_ARCH not reported"
	JAVA_HOME="$WORK/jre-lies" dj
	has Java java "$([ "$good" = jre64 ] && echo fail || echo ok)" "$WORK/jre-lies/bin/java: ELF 32-bit i386"
	JAVA_HOME="$WORK/jre-win" dj
	rc_is 1 "a Windows JRE"
	has Java java fail "$WORK/jre-win/bin/java.exe: PE 32-bit i386: it cannot load the $SHIM_ARCH shim"
	ok "Java: $good fine; $bad (release and header) FAIL; a release file contradicting the header; a Windows JRE"
fi
JAVA_HOME="$WORK/nonexistent" dj
rc_is 1 "JAVA_HOME not a folder"
has Java JAVA_HOME fail "$WORK/nonexistent is not a folder"
mkdir -p "$WORK/empty-jre"
JAVA_HOME="$WORK/empty-jre" dj
has Java release warn "No such file or directory; the java executable's header decides"
has Java java fail "$WORK/empty-jre/bin/java not found: JAVA_HOME does not point to a JRE"
fix_is Java java "$JFIX"
ok "Java: JAVA_HOME unset (warn), not a folder, without release file or java (FAIL)"

# ---- trace ----
shim_conf "$P11SHIM_CONF" "$SOFTHSM2_MODULE" "$WORK/traces/t-%p.jsonl"
dj
rc_is 1 "a trace folder that does not exist"
has trace destination ok "$WORK/traces/t-%p.jsonl"
has trace folder fail "$WORK/traces: No such file or directory"
fix_is trace folder "$P11SHIM_CONF|trace|File|a path in an existing, writable folder"
mkdir "$WORK/traces"
dj
rc_is 0 "a writable trace folder"
has trace folder ok "$WORK/traces is writable"
has trace "free space" ok "free in $WORK/traces"
: >"$WORK/plainfile"
shim_conf "$P11SHIM_CONF" "$SOFTHSM2_MODULE" "$WORK/plainfile/t.jsonl"
dj
has trace folder fail "$WORK/plainfile: not a folder"
shim_conf "$P11SHIM_CONF" "$SOFTHSM2_MODULE" "t.jsonl"
dj
has trace destination warn "a relative path, relative to the client's working folder"
shim_conf "$P11SHIM_CONF" "$SOFTHSM2_MODULE" "$WORK/traces/t.jsonl" "MaxSize = 500000G"
dj
rc_is 0 "too little room is a warning"
has trace "free space" warn "the trace may need"
printf '[backend]\nPKCS11Library = %s\n[trace]\nEnable = true\n' "$SOFTHSM2_MODULE" >"$P11SHIM_CONF"
dj
has trace destination ok "$XDG_STATE_HOME/p11shim/p11shim-%p.jsonl (the default: [trace] File is empty)"
has trace folder ok "$XDG_STATE_HOME/p11shim will be made in $HOME (writable)"
printf '[backend]\nPKCS11Library = %s\n' "$SOFTHSM2_MODULE" >"$P11SHIM_CONF"
dj
has trace trace ok "off"
fix_is trace trace "$P11SHIM_CONF|trace|Enable|true"
ok "trace: folder missing, not a folder, writable; relative path; too little room; default folder; off"

# ---- text and JSON agree ----
sim_conf "$P11SHIM_CONF" "$WORK/traces/t.jsonl"
CARD_OPIS=true JAVA_HOME="$WORK/jre32" dj
CARD_OPIS=true JAVA_HOME="$WORK/jre32" dt
[ "$(python3 "$WORK/q.py" "$J" count)" = "$(grep -cE '^  (ok|warn|FAIL|skip) ' "$WORK/d.txt")" ] ||
	fail "text and JSON list different checks"
[ "$(grep -c '^        fix: ' "$WORK/d.txt")" -ge "$(grep -cE '^  FAIL ' "$WORK/d.txt")" ] || fail "a FAIL without its fix"
grep -qE '^[0-9]+ ok, [0-9]+ warn, [0-9]+ FAIL, [0-9]+ skipped$' "$WORK/d.txt" || fail "no summary line"
for g in configuration backend Personal.cfg "PIN-encryption certificate" Java slots trace; do
	grep -qx "$g" "$WORK/d.txt" || fail "text: no group $g"
done
no_secrets "$J" "$WORK/d.txt"
ok "text and --json list the same checks, every FAIL has its fix, every group is there"

# Doctor and C_Initialize run one validation (p11_config_load): on every
# configuration of the config fuzzer's corpus they report the same
# configuration error, word for word, or both none. NumberRange = 5-3,
# an unknown OtherAdminUserType and a bad SkipReader among them.
n=0
for conf in "$top_srcdir"/tests/fuzz/corpus/config/*.conf; do
	init_err=$(P11SHIM_CONF=$conf "$top_builddir/tests/integration/p11call" "$SHIM_MODULE" init , fin 2>&1 >/dev/null |
		sed -n 's/^p11shim: config: //p')
	set +e
	doc=$(P11SHIM_CONF=$conf "$P11SHIM_TOOL" doctor 2>/dev/null | sed -n 's/^  FAIL  load: //p')
	set -e
	[ "$init_err" = "$doc" ] || fail "$(basename "$conf"): C_Initialize says '$init_err', doctor says '$doc'"
	n=$((n + 1))
done
for c in range-reversed bad-user-type bad-pattern; do
	conf=$top_srcdir/tests/fuzz/corpus/config/$c.conf
	msg=$(P11SHIM_CONF=$conf "$top_builddir/tests/integration/p11call" "$SHIM_MODULE" init 2>&1 >/dev/null)
	case $c in
	range-reversed) want="$conf:3: [serial] NumberRange = 5-3: " ;;
	bad-user-type) want="$conf:2: [login] OtherAdminUserType = CKU_NOBODY is not a user type" ;;
	bad-pattern) want="$conf:2: [readers] SkipReader = Virtual (Smart: PCRE2 error" ;;
	esac
	case $msg in
	"p11shim: config: $want"*) ;;
	*) fail "$c: C_Initialize says '$msg', expected it to start with '$want'" ;;
	esac
done
ok "doctor and C_Initialize agree on all $n configurations of the fuzz corpus; errors name file:line [section] key"
