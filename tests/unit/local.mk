# cmocka unit tests: tests/unit/test_<module>.c, linked with the core.
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
UNIT_LDADD = libp11shim-core.la $(CMOCKA_LIBS) $(PCRE2_LIBS) $(CRYPTO_LIBS)

check_PROGRAMS += tests/unit/test_constants
tests_unit_test_constants_SOURCES = tests/unit/test_constants.c
tests_unit_test_constants_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_constants_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_constants
