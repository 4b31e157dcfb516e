# The p11shim command-line tool. Included by the
# top Makefile.am: non-recursive, so paths are relative to the top directory.
#
# A subcommand is a cmd_<name>.c (or a family of files) added to the
# sources below and one row of commands[] in src/tool/main.c.

bin_PROGRAMS += src/tool/p11shim
src_tool_p11shim_SOURCES = \
	src/tool/main.c src/tool/tool.h \
	src/tool/json.c src/tool/json.h \
	src/tool/trace_read.c src/tool/trace_read.h \
	src/tool/trace_render.c src/tool/trace_render.h \
	src/tool/cmd_trace.c src/tool/cmd_trace.h src/tool/trace_summary.c src/tool/trace_show.c \
	src/tool/trace_diagnose.c \
	src/tool/trace_hung.c src/tool/trace_hung.h \
	src/tool/cmd_report.c \
	src/tool/cmd_serial.c \
	src/tool/cmd_doctor.c
src_tool_p11shim_CFLAGS = $(AM_CFLAGS) $(ZLIB_CFLAGS)
src_tool_p11shim_LDADD = libp11shim-core.la $(ZLIB_LIBS)

# `p11shim trace`: summary counts against the generator's, show filters,
# diagnose findings, gzip, stdin, damaged lines, exit codes.
check_PROGRAMS += tests/cli/gen-trace
tests_cli_gen_trace_SOURCES = tests/cli/gen-trace.c
tests_cli_gen_trace_CFLAGS = $(AM_CFLAGS) $(ZLIB_CFLAGS)
tests_cli_gen_trace_LDADD = $(ZLIB_LIBS)
TESTS += tests/cli/test-trace-cli.sh
# Findings on traces of real clients (tests/fixtures/traces/EXPECTED): the
# findings each must give, "none" included; summary and diagnose agree in words.
TESTS += tests/cli/test-trace-fixtures.sh
EXTRA_DIST += tests/cli/test-trace-fixtures.sh tests/fixtures/traces
# `p11shim trace report` from each fixture; in headless Chromium for five of
# them (the rendered DOM), a screenshot in artefacts/.
TESTS += tests/cli/test-trace-report.sh
EXTRA_DIST += tests/cli/test-trace-report.sh
CLEANFILES += artefacts/report-hung-call.png artefacts/report-hung-call.html
# `p11shim doctor`: every group of checks, good and bad fixtures.
TESTS += tests/cli/test-doctor.sh
EXTRA_DIST += tests/cli/test-doctor.sh
# Every `p11shim trace diagnose` finding from traces recorded through the shim
# (the Personal simulator and SoftHSM2), with the fix each names.
TESTS += tests/integration/test-diagnose.sh
EXTRA_DIST += tests/integration/test-diagnose.sh
# The manual pages name every configuration key, command and option.
TESTS += tests/cli/test-man.sh
EXTRA_DIST += tests/cli/test-man.sh
EXTRA_DIST += tests/cli/test-trace-cli.sh bench/trace-summary.sh

# The JSON tokenizer/parser and the record reader, with cmocka.
if WITH_UNIT
check_PROGRAMS += tests/cli/test_json
TESTS += tests/cli/test_json
tests_cli_test_json_SOURCES = tests/cli/test_json.c \
	src/tool/json.c src/tool/json.h src/tool/trace_read.c src/tool/trace_read.h
tests_cli_test_json_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src/tool
tests_cli_test_json_CFLAGS = $(AM_CFLAGS) $(ZLIB_CFLAGS) $(CMOCKA_CFLAGS)
tests_cli_test_json_LDADD = libp11shim-core.la $(ZLIB_LIBS) $(CMOCKA_LIBS)
endif

# `make bench-trace`: the figure for `p11shim trace summary` against a
# Python json.loads loop on 1,000,000 records. A benchmark: never fails on a number.
bench-trace: src/tool/p11shim$(EXEEXT) tests/cli/gen-trace$(EXEEXT)
	top_builddir=$(top_builddir) $(SHELL) $(top_srcdir)/bench/trace-summary.sh
.PHONY: bench-trace
