# cmocka unit tests: tests/unit/test_<module>.c, linked with the core.
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
UNIT_LDADD = libp11shim-core.la $(CMOCKA_LIBS) $(PCRE2_LIBS) $(CRYPTO_LIBS)

check_PROGRAMS += tests/unit/test_constants
tests_unit_test_constants_SOURCES = tests/unit/test_constants.c
tests_unit_test_constants_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_constants_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_constants

# The one ELF/PE header parser (src/platform/exehdr.c) of both platforms.
check_PROGRAMS += tests/unit/test_exehdr
tests_unit_test_exehdr_SOURCES = tests/unit/test_exehdr.c
tests_unit_test_exehdr_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_exehdr_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_exehdr

# Text from outside escaped for a terminal, token field values (issue 14, item 5).
check_PROGRAMS += tests/unit/test_text
tests_unit_test_text_SOURCES = tests/unit/test_text.c
tests_unit_test_text_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_text_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_text

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

# The mock backend (tests/mock): a scripted in-memory bottom layer, and the
# layers over it configured from text as a user writes it.
check_LTLIBRARIES += tests/mock/libp11mock.la
tests_mock_libp11mock_la_SOURCES = tests/mock/mock.c tests/mock/mock.h \
	tests/mock/mock-stack.c tests/mock/mock-stack.h
tests_mock_libp11mock_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/mock
tests_mock_libp11mock_la_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
MOCK_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/mock
MOCK_LDADD = tests/mock/libp11mock.la $(UNIT_LDADD)

# The policy layers, each alone over the mock and stacked as in production.
check_PROGRAMS += tests/unit/test_layer_readers
tests_unit_test_layer_readers_SOURCES = tests/unit/test_layer_readers.c
tests_unit_test_layer_readers_CPPFLAGS = $(MOCK_CPPFLAGS)
tests_unit_test_layer_readers_CFLAGS = $(UNIT_CFLAGS) $(PCRE2_CFLAGS)
tests_unit_test_layer_readers_LDADD = $(MOCK_LDADD)
TESTS += tests/unit/test_layer_readers

check_PROGRAMS += tests/unit/test_layer_login
tests_unit_test_layer_login_SOURCES = tests/unit/test_layer_login.c
tests_unit_test_layer_login_CPPFLAGS = $(MOCK_CPPFLAGS)
tests_unit_test_layer_login_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_layer_login_LDADD = $(MOCK_LDADD)
TESTS += tests/unit/test_layer_login

check_PROGRAMS += tests/unit/test_layer_serial
tests_unit_test_layer_serial_SOURCES = tests/unit/test_layer_serial.c
tests_unit_test_layer_serial_CPPFLAGS = $(MOCK_CPPFLAGS)
tests_unit_test_layer_serial_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_layer_serial_LDADD = $(MOCK_LDADD)
TESTS += tests/unit/test_layer_serial

check_PROGRAMS += tests/unit/test_layer_eraser
tests_unit_test_layer_eraser_SOURCES = tests/unit/test_layer_eraser.c
tests_unit_test_layer_eraser_CPPFLAGS = $(MOCK_CPPFLAGS)
tests_unit_test_layer_eraser_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_layer_eraser_LDADD = $(MOCK_LDADD)
TESTS += tests/unit/test_layer_eraser

check_PROGRAMS += tests/unit/test_layer_middleware
tests_unit_test_layer_middleware_SOURCES = tests/unit/test_layer_middleware.c
tests_unit_test_layer_middleware_CPPFLAGS = $(MOCK_CPPFLAGS)
tests_unit_test_layer_middleware_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_layer_middleware_LDADD = $(MOCK_LDADD)
TESTS += tests/unit/test_layer_middleware

check_PROGRAMS += tests/unit/test_event
tests_unit_test_event_SOURCES = tests/unit/test_event.c
tests_unit_test_event_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_event_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_event
