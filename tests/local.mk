# Tests (STYLE.md section 8). Included by the top Makefile.am.

TEST_EXTENSIONS = .sh
SH_LOG_COMPILER = bash
AM_TESTS_ENVIRONMENT = \
	top_srcdir='$(abs_top_srcdir)'; top_builddir='$(abs_top_builddir)'; \
	PKCS11_TOOL='$(PKCS11_TOOL)'; SOFTHSM2_UTIL='$(SOFTHSM2_UTIL)'; \
	SOFTHSM2_MODULE='$(SOFTHSM2_MODULE)'; \
	SHIM_MODULE='$(abs_top_builddir)/.libs/p11shim.so'; \
	P11SHIM_TOOL='$(abs_top_builddir)/src/tool/p11shim'; export P11SHIM_TOOL; \
	export top_srcdir top_builddir PKCS11_TOOL SOFTHSM2_UTIL SOFTHSM2_MODULE SHIM_MODULE; \
	$(personal_sim_environment)

# The stand-in for Personal's personal.dll.
include tests/personal-sim/local.mk

if WITH_UNIT
include tests/unit/local.mk
endif

# Integration: SoftHSM2 and real clients through the shim.
TESTS += tests/integration/test-transparency.sh
EXTRA_DIST += tests/integration/lib.sh tests/integration/test-transparency.sh
TESTS += tests/integration/test-lifecycle.sh
EXTRA_DIST += tests/integration/test-lifecycle.sh
check_PROGRAMS += tests/integration/client-lifecycle
tests_integration_client_lifecycle_SOURCES = tests/integration/client-lifecycle.c
tests_integration_client_lifecycle_LDADD = libp11shim-core.la -ldl
TESTS += tests/integration/test-threads.sh
EXTRA_DIST += tests/integration/test-threads.sh
check_PROGRAMS += tests/integration/client-threads
tests_integration_client_threads_SOURCES = tests/integration/client-threads.c
tests_integration_client_threads_LDADD = -ldl -lpthread
TESTS += tests/integration/test-java.sh
EXTRA_DIST += tests/integration/test-java.sh tests/integration/ShimJava.java
check_PROGRAMS += tests/integration/p11call
tests_integration_p11call_SOURCES = tests/integration/p11call.c
tests_integration_p11call_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
tests_integration_p11call_LDADD = libp11shim-core.la $(CRYPTO_LIBS) -ldl
TESTS += tests/integration/test-readers.sh
EXTRA_DIST += tests/integration/test-readers.sh
TESTS += tests/integration/test-middleware.sh
EXTRA_DIST += tests/integration/test-middleware.sh
TESTS += tests/integration/test-login.sh
EXTRA_DIST += tests/integration/test-login.sh
TESTS += tests/integration/test-numrange.sh
EXTRA_DIST += tests/integration/test-numrange.sh
check_PROGRAMS += tests/integration/numrange-race
tests_integration_numrange_race_SOURCES = tests/integration/numrange-race.c
tests_integration_numrange_race_LDADD = libp11shim-core.la -lpthread
TESTS += tests/integration/test-serial.sh
EXTRA_DIST += tests/integration/test-serial.sh
# Issue 14, item 5: no raw control characters from outside on a terminal or a card.
TESTS += tests/integration/test-escape.sh
EXTRA_DIST += tests/integration/test-escape.sh tests/cli/term-check.py
TESTS += tests/integration/test-v3-nss.sh tests/integration/test-syslog.sh
EXTRA_DIST += tests/integration/test-v3-nss.sh tests/integration/test-syslog.sh
check_PROGRAMS += tests/integration/client-v3
tests_integration_client_v3_SOURCES = tests/integration/client-v3.c
tests_integration_client_v3_LDADD = libp11shim-core.la -ldl
TESTS += tests/integration/test-eraser.sh tests/integration/test-eraser-sim.sh
EXTRA_DIST += tests/integration/test-eraser.sh tests/integration/test-eraser-sim.sh
check_PROGRAMS += tests/integration/client-eraser
tests_integration_client_eraser_SOURCES = tests/integration/client-eraser.c
tests_integration_client_eraser_LDADD = libp11shim-core.la -ldl

# Issue 7: reliability and security (tests/integration/test-robust-*.sh).
# Hostile files: configuration and backend that others can change, mapped fields as paths.
TESTS += tests/integration/test-robust-files.sh
EXTRA_DIST += tests/integration/test-robust-files.sh
# Bad arguments: every function, SoftHSM2 directly and through the shim, same answers.
TESTS += tests/integration/test-robust-badargs.sh
EXTRA_DIST += tests/integration/test-robust-badargs.sh
check_PROGRAMS += tests/integration/client-badargs
tests_integration_client_badargs_SOURCES = tests/integration/client-badargs.c
tests_integration_client_badargs_LDADD = libp11shim-core.la -ldl
# Secrets: every scenario with distinctive secrets; traces, stderr, CLI output and core dumps searched.
TESTS += tests/integration/test-robust-secrets.sh
EXTRA_DIST += tests/integration/test-robust-secrets.sh
check_PROGRAMS += tests/integration/client-secrets
tests_integration_client_secrets_SOURCES = tests/integration/client-secrets.c
tests_integration_client_secrets_LDADD = libp11shim-core.la -ldl
# A backend that crashes in C_Sign and C_InitToken (SIGSEGV) and C_Digest (abort).
check_LTLIBRARIES += tests/integration/crashmod.la
tests_integration_crashmod_la_SOURCES = tests/integration/crashmod.c
tests_integration_crashmod_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared -rpath /nowhere
# The same module built to hang in C_Sign and C_Login (calls in flight, [trace] SlowCall).
check_LTLIBRARIES += tests/integration/hangmod.la
tests_integration_hangmod_la_SOURCES = tests/integration/crashmod.c
tests_integration_hangmod_la_CPPFLAGS = $(AM_CPPFLAGS) -DCRASHMOD_HANG
tests_integration_hangmod_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared -rpath /nowhere
TESTS += tests/integration/test-inflight.sh
EXTRA_DIST += tests/integration/test-inflight.sh
# Threads and processes: 16 threads of mixed calls, processes sharing a trace, cycles, fork.
TESTS += tests/integration/test-robust-threads.sh
EXTRA_DIST += tests/integration/test-robust-threads.sh tests/integration/trace-check.py
check_PROGRAMS += tests/integration/client-stress
tests_integration_client_stress_SOURCES = tests/integration/client-stress.c
tests_integration_client_stress_LDADD = libp11shim-core.la -ldl -lpthread
# Faults: trace disk full, removed, read-only; a crashing backend; bad number-range states.
TESTS += tests/integration/test-robust-faults.sh
EXTRA_DIST += tests/integration/test-robust-faults.sh
# A backend that lies (counts and lengths past the buffers, a failing
# C_Finalize), one lie at a time, through the shim, in every Data setting.
TESTS += tests/integration/test-robust-liar.sh
EXTRA_DIST += tests/integration/test-robust-liar.sh
check_LTLIBRARIES += tests/integration/liarmod.la
tests_integration_liarmod_la_SOURCES = tests/integration/liarmod.c
tests_integration_liarmod_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared -rpath /nowhere
tests_integration_liarmod_la_LIBADD = -ldl
check_PROGRAMS += tests/integration/client-liar
tests_integration_client_liar_SOURCES = tests/integration/client-liar.c
tests_integration_client_liar_LDADD = libp11shim-core.la -ldl
# Fuzzing: the targets' seed corpora and regression inputs replayed (tests/fuzz/README.md).
include tests/fuzz/local.mk
# Issue 8: the mapped trace under load: 16 threads, 4 processes on one file
# (JSON Lines, text, with a rotation): one whole record per call.
TESTS += tests/integration/test-trace-load.sh
EXTRA_DIST += tests/integration/test-trace-load.sh
TESTS += tests/integration/test-trace-full.sh
EXTRA_DIST += tests/integration/test-trace-full.sh
check_PROGRAMS += tests/integration/client-trace-load
tests_integration_client_trace_load_SOURCES = tests/integration/client-trace-load.c
tests_integration_client_trace_load_LDADD = -ldl -lpthread
EXTRA_DIST += tests/lsan.supp tests/valgrind.supp
