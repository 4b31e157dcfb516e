# cmocka unit tests: tests/unit/test_<module>.c, linked with the core.
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
UNIT_LDADD = libp11shim-core.la $(CMOCKA_LIBS) $(PCRE2_LIBS) $(CRYPTO_LIBS)

check_PROGRAMS += tests/unit/test_constants
tests_unit_test_constants_SOURCES = tests/unit/test_constants.c
tests_unit_test_constants_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_constants_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_constants

# Configuration: precedence, syntax, mapped fields, every error message,
# and conf/p11shim.conf documenting every key with its default.
check_PROGRAMS += tests/unit/test_config
tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_config_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_config

# The function table: the built module's CK_FUNCTION_LIST and interfaces
# (dlopen'ed from $SHIM_MODULE, not linked), p11_fn_name, p11_stack_build.
check_PROGRAMS += tests/unit/test_table
tests_unit_test_table_SOURCES = tests/unit/test_table.c
tests_unit_test_table_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_table_LDADD = $(UNIT_LDADD) $(PLATFORM_LIBS)
TESTS += tests/unit/test_table

# Trace formatting: every argument kind, redaction, impossible lengths.
check_PROGRAMS += tests/unit/test_trace_fmt
tests_unit_test_trace_fmt_SOURCES = tests/unit/test_trace_fmt.c \
	tests/unit/json-check.c tests/unit/json-check.h
tests_unit_test_trace_fmt_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_trace_fmt_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_trace_fmt

# The trace layer end to end over a fake bottom layer: records, notes,
# rotation, threads, a crash in the backend.
check_PROGRAMS += tests/unit/test_trace
tests_unit_test_trace_SOURCES = tests/unit/test_trace.c \
	tests/unit/json-check.c tests/unit/json-check.h
tests_unit_test_trace_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_trace_LDADD = $(UNIT_LDADD) -lpthread
TESTS += tests/unit/test_trace

# Number-range allocator: parsing, order and padding, exhaustion, bad state
# files, range changes, 8 threads x 200, a lock held by a live/killed process.
check_PROGRAMS += tests/unit/test_numrange
tests_unit_test_numrange_SOURCES = tests/unit/test_numrange.c
tests_unit_test_numrange_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_numrange_LDADD = $(UNIT_LDADD) -lpthread
TESTS += tests/unit/test_numrange

# The trace sink (issue 8): whole records from 16 threads and 4 processes,
# trimming, rotation, a removed or truncated file, a full disk, the
# write-per-record fallback, a crash and a kill.
check_PROGRAMS += tests/unit/test_trace_sink
tests_unit_test_trace_sink_SOURCES = tests/unit/test_trace_sink.c
tests_unit_test_trace_sink_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_trace_sink_LDADD = $(UNIT_LDADD) -lpthread
TESTS += tests/unit/test_trace_sink

# Helpers shared by the unit tests (macros and static inline functions).
EXTRA_DIST += tests/unit/test-support.h
check_PROGRAMS += tests/unit/test_event
tests_unit_test_event_SOURCES = tests/unit/test_event.c
tests_unit_test_event_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_event_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_event
