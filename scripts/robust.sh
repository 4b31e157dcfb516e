# Issue 7's modes of scripts/check, sourced after lib.sh:
#
#   scripts/check asan       make check of a build with AddressSanitizer and
#                            UndefinedBehaviorSanitizer, in _build-asan/
#   scripts/check valgrind   the integration tests whose C clients load the
#                            shim, each client under valgrind (memcheck, full
#                            leak check), against the normal build
#   scripts/check fuzz       the libFuzzer targets of tests/fuzz/, each for
#                            P11SHIM_FUZZ_SECONDS (75), in _build-fuzz/
#
# Each installs what it needs that PACKAGES does not have, only when missing.

# ---- asan ----
#
# The shim and the simulator are shared objects that programs dlopen. The
# test's own C clients are linked with the sanitizer runtime and load them
# as they are; programs that are not (pkcs11-tool, java, keytool) get the
# ASan runtime preloaded by a wrapper, since it must come first in the
# process (the error otherwise: "ASan runtime does not come first in initial
# library list"). Leaks are looked for in the tests' own clients, not in
# those programs (pkcs11-tool and the JVM leak on exit by design), with the
# suppressions of tests/lsan.supp (SoftHSM2's and OpenSSL's allocations at
# exit). The JVM handles SIGSEGV itself (null checks, safepoints), so under
# ASan it runs with handle_segv=0; it does run, so the Java test is not
# skipped.
robust_asan() {
	ensure_packages $PACKAGES
	BUILD=${P11SHIM_ASAN_BUILD:-$ROOT/_build-asan}
	build --enable-sanitizers
	cd "$BUILD"
	libasan=$(gcc -print-file-name=libasan.so)
	[ -f "$libasan" ] || { echo "no libasan.so from gcc" >&2; exit 1; }
	wrap=$BUILD/asan-wrap
	mkdir -p "$wrap"
	for tool in pkcs11-tool java keytool; do
		real=$(command -v "$tool") || { echo "$tool not found" >&2; exit 1; }
		extra=
		[ "$tool" = pkcs11-tool ] || extra=":handle_segv=0"
		cat >"$wrap/$tool" <<EOF
#!/bin/sh
# scripts/check asan: $real with the ASan runtime first, for the modules it loads.
LD_PRELOAD="$libasan\${LD_PRELOAD:+:\$LD_PRELOAD}" \\
ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0$extra" exec "$real" "\$@"
EOF
		chmod 755 "$wrap/$tool"
	done
	export PATH="$wrap:$PATH"
	export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
	export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
	export CI="${CI:-true}"
	say "make check (AddressSanitizer, UndefinedBehaviorSanitizer)"
	if ! make -s -j"$(nproc)" check PKCS11_TOOL="$wrap/pkcs11-tool"; then
		show_failed_logs
		exit 1
	fi
	say "make check passed under the sanitizers"
}

# ---- valgrind ----
#
# A copy of the build tree made of symbolic links, in which the clients that
# load the shim are wrapper scripts running the real client under valgrind;
# the integration tests run with that tree as top_builddir. A memory error
# or a definite or indirect leak makes the client exit 97, which fails its
# test. tests/valgrind.supp holds only SoftHSM2's, OpenSSL's and the dynamic
# loader's own findings; nothing of the shim's is suppressed. The stress
# test runs with fewer rounds (valgrind runs one thread at a time).
# test-eraser.sh is the one whose client unloads the shim (client-eraser,
# dlclose after C_Finalize): what the shim keeps for the next C_Initialize
# must be freed then.
VALGRIND_CLIENTS="p11call client-threads client-lifecycle client-stress client-badargs client-eraser"
VALGRIND_TESTS="
tests/integration/test-lifecycle.sh
tests/integration/test-threads.sh
tests/integration/test-login.sh
tests/integration/test-serial.sh
tests/integration/test-readers.sh
tests/integration/test-robust-badargs.sh
tests/integration/test-robust-threads.sh
tests/integration/test-robust-faults.sh
tests/integration/test-eraser.sh
"
robust_valgrind() {
	ensure_packages $PACKAGES valgrind
	build
	cd "$BUILD"
	say "make the test programs"
	make -s -j"$(nproc)" check TESTS= >/dev/null
	VG=${P11SHIM_VALGRIND_TREE:-$ROOT/_build-valgrind}
	rm -rf "$VG"
	mkdir -p "$VG"
	cp -rs "$BUILD/." "$VG/"
	rm -rf "$VG"/tests/work.*
	for c in $VALGRIND_CLIENTS; do
		[ -x "$BUILD/tests/integration/$c" ] || continue
		rm -f "$VG/tests/integration/$c"
		cat >"$VG/tests/integration/$c" <<EOF
#!/bin/sh
# scripts/check valgrind: $c under memcheck.
exec valgrind -q --error-exitcode=97 --leak-check=full --show-leak-kinds=definite,indirect \\
	--errors-for-leak-kinds=definite,indirect --keep-debuginfo=yes --child-silent-after-fork=yes \\
	--suppressions="$ROOT/tests/valgrind.supp" --gen-suppressions=all \\
	"$BUILD/tests/integration/$c" "\$@"
EOF
		chmod 755 "$VG/tests/integration/$c"
	done
	export CI="${CI:-true}" ROBUST_THREADS=4 ROBUST_ROUNDS=5 ROBUST_LOOP_ROUNDS=300
	failed=
	for t in $VALGRIND_TESTS; do
		name=$(basename "$t" .sh)
		start=$(date +%s)
		if env top_srcdir="$ROOT" top_builddir="$VG" PKCS11_TOOL="$(command -v pkcs11-tool)" \
			SOFTHSM2_UTIL="$(command -v softhsm2-util)" SOFTHSM2_MODULE=/usr/lib/softhsm/libsofthsm2.so \
			SHIM_MODULE="$BUILD/.libs/p11shim.so" \
			PERSONAL_SIM_MODULE="$BUILD/tests/personal-sim/.libs/personal-sim.so" \
			SIM_CLIENT="$BUILD/tests/personal-sim/sim-client" \
			PERSONAL_SIM_FIXTURES="$ROOT/tests/personal-sim/fixtures" \
			bash "$ROOT/$t" >"$VG/$name.log" 2>&1; then
			echo "PASS: $name under valgrind ($(($(date +%s) - start)) s)"
		else
			echo "FAIL: $name under valgrind"
			tail -n 60 "$VG/$name.log"
			failed="$failed $name"
		fi
	done
	[ -z "$failed" ] || { echo "valgrind found problems in:$failed (logs in $VG)"; exit 1; }
	say "no memory error and no leak under valgrind"
}

# ---- fuzz ----
robust_fuzz() {
	ensure_packages $PACKAGES
	# clang with libFuzzer, only when missing (Debian 12: clang 14).
	if ! command -v clang >/dev/null || ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
		clang -x c -fsanitize=fuzzer,address -o /dev/null - 2>/dev/null; then
		ensure_packages clang libclang-rt-14-dev
	fi
	cd "$ROOT"
	if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
		autoreconf -fi >/dev/null
	fi
	say "fuzz: each target ${P11SHIM_FUZZ_SECONDS:-75} s, two at a time"
	sh "$ROOT/tests/fuzz/run-fuzz.sh" "$ROOT" "${P11SHIM_FUZZ_BUILD:-$ROOT/_build-fuzz}" \
		"${P11SHIM_FUZZ_SECONDS:-75}" || exit 1
	say "the fuzzers found nothing"
}

show_failed_logs() {
	for f in $(find tests -name '*.log' ! -name test-suite.log); do
		if grep -q -E '^(FAIL|ERROR)' "${f%.log}.trs" 2>/dev/null; then
			echo "---- $f"
			tail -n 40 "$f"
		fi
	done
}
