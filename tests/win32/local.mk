# The Windows tests (issue 6). Included by the top Makefile.am; paths are
# relative to the top directory. Built on demand by `make win32-tests` in a
# --host=i686-w64-mingw32 build and run under Wine by tests/win32/test-win32.sh
# (scripts/win32.sh, `scripts/check win32`), not by `make check`.
#
# - tests/win32/sim-5.7.1/personal.dll, tests/win32/sim-5.7.2/personal.dll:
#   the personal-sim with a version resource of 5.7.1 and of 5.7.2, the
#   version the shim's PUK-change rule reads first.
# - tests/win32/client.exe: loads p11shim.dll in front of them.
# - the cmocka unit tests that run on Windows (WIN32_UNIT_TESTS).

EXTRA_DIST += tests/win32/README.md tests/win32/client.c tests/win32/personal-sim.rc \
	tests/win32/test-win32.sh tests/win32/posix/p11-test-posix.h \
	tests/win32/posix/dlfcn.h tests/win32/posix/sys/wait.h tests/win32/posix/sys/mman.h \
	tests/win32/posix/sys/resource.h
# The tamper checks and the installer (tests/win32/test-acl.sh, test-installer.sh).
EXTRA_DIST += tests/win32/test_acl.c tests/win32/initclient.c tests/win32/test-acl.sh tests/win32/wine-lib.sh \
	tests/win32/test-installer.sh
# OpenSC's pkcs11-tool.exe through the DLL (tests/win32/test-pkcs11-tool.sh).
EXTRA_DIST += tests/win32/test-pkcs11-tool.sh

if WINDOWS
# tests/win32/test_acl.exe: the ACL decision over SDDL strings (TAP).
EXTRA_PROGRAMS += tests/win32/test_acl
tests_win32_test_acl_SOURCES = tests/win32/test_acl.c
tests_win32_test_acl_LDADD = libp11shim-core.la $(PCRE2_LIBS) $(CRYPTO_LIBS)
# tests/win32/initclient.exe: C_Initialize through a p11shim.dll, the error line on stderr.
EXTRA_PROGRAMS += tests/win32/initclient
tests_win32_initclient_SOURCES = tests/win32/initclient.c
win32-tests: tests/win32/test_acl$(EXEEXT) tests/win32/initclient$(EXEEXT)

WIN32_SIM_SOURCES = tests/personal-sim/sim.h tests/personal-sim/conf.c \
	tests/personal-sim/store.c tests/personal-sim/module.c
WIN32_SIM_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared -no-undefined \
	-rpath /nowhere -export-symbols-regex '^C_'

EXTRA_LTLIBRARIES = tests/win32/sim-5.7.1/personal.la tests/win32/sim-5.7.2/personal.la
tests_win32_sim_5_7_1_personal_la_SOURCES = $(WIN32_SIM_SOURCES)
tests_win32_sim_5_7_1_personal_la_CFLAGS = $(AM_CFLAGS) $(P11KIT_CFLAGS)
tests_win32_sim_5_7_1_personal_la_LDFLAGS = $(WIN32_SIM_LDFLAGS)
tests_win32_sim_5_7_1_personal_la_LIBADD = tests/win32/sim-5.7.1/version.lo
tests_win32_sim_5_7_2_personal_la_SOURCES = $(WIN32_SIM_SOURCES)
tests_win32_sim_5_7_2_personal_la_CFLAGS = $(AM_CFLAGS) $(P11KIT_CFLAGS)
tests_win32_sim_5_7_2_personal_la_LDFLAGS = $(WIN32_SIM_LDFLAGS)
tests_win32_sim_5_7_2_personal_la_LIBADD = tests/win32/sim-5.7.2/version.lo

tests/win32/sim-5.7.1/version.lo: tests/win32/personal-sim.rc
	@$(MKDIR_P) tests/win32/sim-5.7.1
	$(AM_V_GEN)$(LIBTOOL) $(AM_V_lt) --tag=RC --mode=compile $(RC) -DSIM_VERSION_RC=5,7,1,0 \
		-DSIM_VERSION=5.7.1 -i $(top_srcdir)/tests/win32/personal-sim.rc -o $@
tests/win32/sim-5.7.2/version.lo: tests/win32/personal-sim.rc
	@$(MKDIR_P) tests/win32/sim-5.7.2
	$(AM_V_GEN)$(LIBTOOL) $(AM_V_lt) --tag=RC --mode=compile $(RC) -DSIM_VERSION_RC=5,7,2,0 \
		-DSIM_VERSION=5.7.2 -i $(top_srcdir)/tests/win32/personal-sim.rc -o $@

# crashmod (tests/integration/crashmod.c): dies inside C_Sign, for the crash trace.
EXTRA_LTLIBRARIES += tests/win32/crash/crashmod.la
tests_win32_crash_crashmod_la_SOURCES = tests/integration/crashmod.c
tests_win32_crash_crashmod_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared -no-undefined \
	-rpath /nowhere

EXTRA_PROGRAMS += tests/win32/client
tests_win32_client_SOURCES = tests/win32/client.c
tests_win32_client_CFLAGS = $(AM_CFLAGS)
tests_win32_client_LDADD = -lversion

# POSIX bits the unit tests use (setenv, mkdtemp, dlopen...), for the tests
# only; what Windows cannot do (fork) the tests skip, saying why.
if WITH_UNIT
UNIT_CFLAGS += -I$(top_srcdir)/tests/win32/posix -include p11-test-posix.h
endif
WIN32_UNIT_TESTS = tests/unit/test_constants$(EXEEXT) tests/unit/test_config$(EXEEXT) \
	tests/unit/test_table$(EXEEXT) tests/unit/test_trace_fmt$(EXEEXT) \
	tests/unit/test_trace$(EXEEXT) tests/unit/test_numrange$(EXEEXT) tests/unit/test_exehdr$(EXEEXT) \
	tests/unit/test_text$(EXEEXT)

win32-tests: p11shim.la src/tool/p11shim$(EXEEXT) tests/win32/sim-5.7.1/personal.la \
	tests/win32/sim-5.7.2/personal.la tests/win32/crash/crashmod.la tests/win32/client$(EXEEXT) \
	$(WIN32_UNIT_TESTS)
CLEANFILES += tests/win32/sim-5.7.1/version.lo tests/win32/sim-5.7.2/version.lo \
	tests/win32/sim-5.7.1/personal.la tests/win32/sim-5.7.2/personal.la \
	tests/win32/crash/crashmod.la
else
win32-tests:
	@echo "win32-tests: configure with --host=i686-w64-mingw32 or --host=x86_64-w64-mingw32" >&2; exit 1
endif
.PHONY: win32-tests
