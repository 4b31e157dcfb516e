# Fuzz targets (tests/fuzz/README.md). A fragment of the non-recursive
# Makefile.am, included from tests/local.mk; paths from the top directory.
#
# `make check` builds each target with a small driver instead of libFuzzer
# (replay.c) and replays its seed corpus and every regression input.
# `scripts/check fuzz` builds the same sources with clang -fsanitize=fuzzer
# and runs each target for a bounded time.

FUZZ_COMMON = tests/fuzz/fuzz.h tests/fuzz/fuzz_util.c tests/fuzz/replay.c

check_PROGRAMS += tests/fuzz/replay-config
tests_fuzz_replay_config_SOURCES = tests/fuzz/fuzz_config.c $(FUZZ_COMMON)
tests_fuzz_replay_config_LDADD = libp11shim-core.la

check_PROGRAMS += tests/fuzz/replay-attrs
tests_fuzz_replay_attrs_SOURCES = tests/fuzz/fuzz_attrs.c tests/unit/json-check.c \
	tests/unit/json-check.h $(FUZZ_COMMON)
tests_fuzz_replay_attrs_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit
tests_fuzz_replay_attrs_LDADD = libp11shim-core.la

check_PROGRAMS += tests/fuzz/replay-skipreader
tests_fuzz_replay_skipreader_SOURCES = tests/fuzz/fuzz_skipreader.c $(FUZZ_COMMON)
tests_fuzz_replay_skipreader_LDADD = libp11shim-core.la

check_PROGRAMS += tests/fuzz/replay-traceread
tests_fuzz_replay_traceread_SOURCES = tests/fuzz/fuzz_traceread.c src/tool/json.c src/tool/json.h \
	src/tool/trace_read.c src/tool/trace_read.h $(FUZZ_COMMON)
tests_fuzz_replay_traceread_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src/tool
tests_fuzz_replay_traceread_CFLAGS = $(AM_CFLAGS) $(ZLIB_CFLAGS)
tests_fuzz_replay_traceread_LDADD = libp11shim-core.la $(ZLIB_LIBS)

TESTS += tests/fuzz/test-fuzz-replay.sh
EXTRA_DIST += tests/fuzz/README.md tests/fuzz/test-fuzz-replay.sh tests/fuzz/run-fuzz.sh tests/fuzz/seeds.py \
	tests/fuzz/corpus tests/fuzz/regressions
