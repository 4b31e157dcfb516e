# tests/personal-sim: the stand-in for Nexus Personal Desktop Client's
# personal.dll (issue 3; README.md beside this file). A fragment of the
# non-recursive top-level Makefile.am; paths are relative to the top
# source directory.
#
# Expects from Makefile.am: P11KIT_CFLAGS (pkg-config p11-kit-1), and
# check_LTLIBRARIES, check_PROGRAMS, TESTS and EXTRA_DIST already set with
# '=' before this file is included. dlopen for sim-client comes from libc
# (glibc >= 2.34) or from configure's AC_SEARCH_LIBS([dlopen], [dl]) in LIBS.
# test-sim.sh is a bash script with a #! line: run it directly (no
# LOG_COMPILER) or with SH_LOG_COMPILER = $(BASH) for TEST_EXTENSIONS .sh.

check_LTLIBRARIES += tests/personal-sim/personal-sim.la
tests_personal_sim_personal_sim_la_SOURCES = \
	tests/personal-sim/sim.h \
	tests/personal-sim/conf.c \
	tests/personal-sim/store.c \
	tests/personal-sim/module.c
# Per-target CFLAGS replace AM_CFLAGS, so AM_CFLAGS (warnings) is repeated.
tests_personal_sim_personal_sim_la_CFLAGS = $(AM_CFLAGS) $(P11KIT_CFLAGS) -fvisibility=hidden
tests_personal_sim_personal_sim_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere \
	-export-symbols-regex '^C_'

check_PROGRAMS += tests/personal-sim/sim-client
tests_personal_sim_sim_client_SOURCES = tests/personal-sim/sim-client.c
tests_personal_sim_sim_client_CFLAGS = $(AM_CFLAGS) $(P11KIT_CFLAGS)

# test-sim.sh finds the module, sim-client and the fixtures by itself when
# run from the top build directory (the default); any test that drives the
# simulator can take the paths from this shell snippet, e.g.
#   AM_TESTS_ENVIRONMENT = ... $(personal_sim_environment)
personal_sim_environment = \
	PERSONAL_SIM_MODULE='$(abs_top_builddir)/tests/personal-sim/.libs/personal-sim.so'; \
	SIM_CLIENT='$(abs_top_builddir)/tests/personal-sim/sim-client$(EXEEXT)'; \
	PERSONAL_SIM_FIXTURES='$(abs_top_srcdir)/tests/personal-sim/fixtures'; \
	export PERSONAL_SIM_MODULE SIM_CLIENT PERSONAL_SIM_FIXTURES;

TESTS += tests/personal-sim/test-sim.sh

EXTRA_DIST += \
	tests/personal-sim/README.md \
	tests/personal-sim/test-sim.sh \
	tests/personal-sim/fixtures/basic.ini \
	tests/personal-sim/fixtures/eraser.ini \
	tests/personal-sim/fixtures/Personal-nocache.cfg \
	tests/personal-sim/fixtures/Personal-cache.cfg
