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
TESTS += tests/integration/test-eraser.sh tests/integration/test-eraser-sim.sh
EXTRA_DIST += tests/integration/test-eraser.sh tests/integration/test-eraser-sim.sh
check_PROGRAMS += tests/integration/client-eraser
tests_integration_client_eraser_SOURCES = tests/integration/client-eraser.c
tests_integration_client_eraser_LDADD = libp11shim-core.la -ldl
