#!/bin/sh
# Issue 7, "Hostile files": the shim refuses a configuration file or a
# backend library that another user can change (owned by someone other
# than root or the user; writable by its group or all users; in a folder,
# at any level, that others can write; reached through a symbolic link of
# another user), with one line naming the file, its mode or owner and the
# fix; a sticky folder (/tmp) with the user's own file is fine. And a
# mapped field never chooses which code is loaded: ${...} as a library
# path is refused, and ${...} inside a path is never expanded.
. "$top_srcdir/tests/integration/lib.sh"
need "$SOFTHSM2_UTIL" "$SOFTHSM2_MODULE"
CLIENT="$top_builddir/tests/integration/client-lifecycle"
umask 022

softhsm_init "$WORK/hsm"
export SOFTHSM2_CONF="$WORK/hsm/softhsm2.conf"
LIB=$(readlink -f "$SOFTHSM2_MODULE")

# init_rv CONF: C_Initialize through the shim with P11SHIM_CONF=CONF; the
# rv name on stdout, stderr in $WORK/stderr.
init_rv() {
	P11SHIM_CONF=$1 "$CLIENT" "$SHIM_MODULE" init 2>"$WORK/stderr"
}

# refused NAME CONF PATTERN: C_Initialize fails with CKR_GENERAL_ERROR and
# exactly one stderr line that matches PATTERN (grep -E).
refused() {
	rv=$(init_rv "$2")
	[ "$rv" = CKR_GENERAL_ERROR ] || { cat "$WORK/stderr"; fail "$1: C_Initialize gave $rv"; }
	[ "$(wc -l <"$WORK/stderr")" = 1 ] || { cat "$WORK/stderr"; fail "$1: not one line on stderr"; }
	grep -q -E -- "$3" "$WORK/stderr" || { cat "$WORK/stderr"; fail "$1: stderr does not match: $3"; }
	ok "$1: $(cat "$WORK/stderr")"
}

accepted() {
	rv=$(init_rv "$2")
	[ "$rv" = CKR_OK ] || { cat "$WORK/stderr"; fail "$1: C_Initialize gave $rv"; }
	ok "$1: accepted"
}

# conf FILE [extra lines]: a valid configuration naming SoftHSM2.
conf() {
	f=$1
	shift
	mkdir -p "$(dirname "$f")"
	shim_conf "$f" "$LIB" "$WORK/trace.jsonl" "$@"
}

C=$WORK/safe/p11shim.conf
conf "$C"
accepted "a 0600 configuration in a 0755 folder" "$C"
chmod 644 "$C"
accepted "a 0644 configuration" "$C"

# The file itself.
chmod 666 "$C"
refused "world-writable configuration" "$C" \
	"^p11shim: config: $C: its group and all users can write the configuration file \(mode 0666\), so the shim refuses it; fix: chmod go-w $C\$"
chmod 602 "$C"
refused "configuration writable by all users" "$C" "all users can write the configuration file \(mode 0602\).*fix: chmod go-w $C\$"
chmod 620 "$C"
refused "group-writable configuration" "$C" "$C: its group can write the configuration file \(mode 0620\).*fix: chmod go-w $C\$"
chmod 600 "$C"

# A folder on the way that others can write: they could swap the file.
mkdir -p "$WORK/open/deeper"
conf "$WORK/open/deeper/p11shim.conf"
chmod 777 "$WORK/open"
refused "a world-writable folder two levels up" "$WORK/open/deeper/p11shim.conf" \
	"the configuration file is in the folder $WORK/open, which its group and all users can write \(mode 0777\): another user could replace the configuration file, so the shim refuses it; fix: chmod go-w $WORK/open\$"
chmod 775 "$WORK/open"
refused "a group-writable folder" "$WORK/open/deeper/p11shim.conf" "folder $WORK/open, which its group can write \(mode 0775\)"
# Sticky, as /tmp: others may add files but not replace this one.
chmod 1777 "$WORK/open"
accepted "the user's own file under a sticky world-writable folder" "$WORK/open/deeper/p11shim.conf"
chmod 755 "$WORK/open"

# Symbolic links: the target's folders count too.
ln -s "$WORK/open/deeper/p11shim.conf" "$WORK/safe/link.conf"
accepted "a link to a safe file" "$WORK/safe/link.conf"
chmod 777 "$WORK/open/deeper"
refused "a link whose target lies in a world-writable folder" "$WORK/safe/link.conf" \
	"^p11shim: config: $WORK/safe/link.conf: the configuration file is in the folder $WORK/open/deeper, which its group and all users can write \(mode 0777\)"
chmod 755 "$WORK/open/deeper"
ln -s ../safe "$WORK/open/relative"
accepted "a relative link to a safe folder" "$WORK/open/relative/p11shim.conf"

# A folder named as the configuration.
refused "a folder as configuration" "$WORK/safe" "the configuration file is not a regular file \(a folder\)"

# The per-user file is checked as well (no P11SHIM_CONF).
mkdir -p "$WORK/xdg/p11shim"
conf "$WORK/xdg/p11shim/p11shim.conf"
chmod 666 "$WORK/xdg/p11shim/p11shim.conf"
rv=$(env -u P11SHIM_CONF XDG_CONFIG_HOME="$WORK/xdg" "$CLIENT" "$SHIM_MODULE" init 2>"$WORK/stderr")
[ "$rv" = CKR_GENERAL_ERROR ] && grep -q "xdg/p11shim/p11shim.conf: its group and all users can write" "$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "the per-user configuration is not checked: $rv"; }
ok "the per-user configuration file is checked too"

# /dev/null is an empty configuration nobody can change.
rv=$(P11SHIM_CONF=/dev/null P11SHIM_LIBRARY="$LIB" "$CLIENT" "$SHIM_MODULE" init 2>"$WORK/stderr")
[ "$rv" = CKR_OK ] || { cat "$WORK/stderr"; fail "P11SHIM_CONF=/dev/null: $rv"; }
ok "P11SHIM_CONF=/dev/null with P11SHIM_LIBRARY works"

# ---- the backend library ----
mkdir -p "$WORK/lib"
cp "$LIB" "$WORK/lib/backend.so"
chmod 755 "$WORK/lib/backend.so"
conf "$C"
sed -i "s|^PKCS11Library = .*|PKCS11Library = $WORK/lib/backend.so|" "$C"
accepted "a 0755 copy of SoftHSM2 as backend" "$C"
chmod 775 "$WORK/lib/backend.so"
refused "group-writable backend library" "$C" \
	"^p11shim: backend: $WORK/lib/backend.so: its group can write the backend library \(mode 0775\), so the shim refuses it; fix: chmod go-w $WORK/lib/backend.so \(set by $C:2 \[backend\] PKCS11Library\)\$"
grep -q '"notes":\["backend: .*backend.so: its group can write the backend library' "$WORK/trace.jsonl" ||
	fail "the refused library is not noted in the trace"
chmod 755 "$WORK/lib/backend.so"
chmod 777 "$WORK/lib"
refused "backend library in a world-writable folder" "$C" \
	"backend: $WORK/lib/backend.so: the backend library is in the folder $WORK/lib, which its group and all users can write \(mode 0777\).*fix: chmod go-w $WORK/lib \(set by"
chmod 755 "$WORK/lib"
rv=$(P11SHIM_CONF=/dev/null P11SHIM_LIBRARY="$WORK/lib/backend.so" "$CLIENT" "$SHIM_MODULE" init 2>"$WORK/stderr")
[ "$rv" = CKR_OK ] || { cat "$WORK/stderr"; fail "P11SHIM_LIBRARY: $rv"; }
chmod 666 "$WORK/lib/backend.so"
rv=$(P11SHIM_CONF=/dev/null P11SHIM_LIBRARY="$WORK/lib/backend.so" "$CLIENT" "$SHIM_MODULE" init 2>"$WORK/stderr")
[ "$rv" = CKR_GENERAL_ERROR ] && grep -q "mode 0666.*(set by P11SHIM_LIBRARY)$" "$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "P11SHIM_LIBRARY naming a writable library: $rv"; }
ok "P11SHIM_LIBRARY is checked as well: $(cat "$WORK/stderr")"
chmod 755 "$WORK/lib/backend.so"

# Files of another user (root can make them).
if [ "$(id -u)" = 0 ]; then
	other=65534
	chown "$other" "$C"
	refused "configuration owned by another user" "$C" \
		"^p11shim: config: $C: the configuration file belongs to .*uid $other\), not to root.*, so the shim refuses it; fix: chown root $C\$"
	chown 0 "$C"
	chown "$other" "$WORK/lib/backend.so"
	refused "backend library owned by another user" "$C" "backend: $WORK/lib/backend.so: the backend library belongs to .*uid $other\).*fix: chown root"
	chown 0 "$WORK/lib/backend.so"
	chown "$other" "$WORK/lib"
	refused "backend library in a folder of another user" "$C" "reached through the folder $WORK/lib, which belongs to .*uid $other\)"
	chown 0 "$WORK/lib"
	# A link of another user in a sticky folder could be re-pointed by them.
	mkdir -p "$WORK/sticky"
	chmod 1777 "$WORK/sticky"
	ln -s "$C" "$WORK/sticky/conf"
	accepted "the user's own link in a sticky folder" "$WORK/sticky/conf"
	chown -h "$other" "$WORK/sticky/conf"
	refused "another user's link in a sticky folder" "$WORK/sticky/conf" \
		"reached through the symbolic link $WORK/sticky/conf, which belongs to .*uid $other\)"
else
	echo "# not root: the cases of files owned by another user are not run"
fi

# ---- mapped fields never choose the code ----
for key in PKCS11Library PKCS11LibraryWindows32 PKCS11LibraryWindows64; do
	printf '[backend]\n%s = ${P11_TEST_LIB}\n' "$key" >"$C"
	P11_TEST_LIB=$LIB refused "$key as a mapped field" "$C" \
		"^p11shim: config: $C:2: \[backend\] $key cannot be a mapped field; write the path itself\$"
done
# Inside a path, ${...} is text: never expanded from the environment.
mkdir -p "$WORK/sub"
cp "$LIB" "$WORK/sub/libsofthsm2.so"
printf '[backend]\nPKCS11Library = %s/${P11_TEST_SUB}/libsofthsm2.so\n' "$WORK" >"$C"
P11_TEST_SUB=sub refused "\${...} inside a library path" "$C" \
	"^p11shim: backend: cannot load $WORK/\\$\{P11_TEST_SUB\}/libsofthsm2.so: not found \(set by $C:2"
# Other paths (state file, middleware files) are not mapped fields either.
printf '[backend]\nPKCS11Library = %s\n[serial]\nNumberRangeState = ${P11_TEST_STATE}\n' "$LIB" >"$C"
P11_TEST_STATE=$WORK/state refused "NumberRangeState as a mapped field" "$C" \
	"$C:4: \[serial\] NumberRangeState cannot be a mapped field"
no_secrets "$WORK/stderr"
