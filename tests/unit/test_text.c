/*
 * Unit tests for src/core/text.c (issue 14, item 5): what may reach a
 * terminal raw, and the check of a token field's value.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "p11-text.h"

static const char *esc(const char *s, size_t n)
{
	static char out[512];

	assert_int_equal(p11_text_escape(out, sizeof(out), s, n, NULL), n);
	return out;
}

#define ESC(lit) esc(lit, sizeof(lit) - 1)

static void test_passes_printable(void **state)
{
	(void)state;
	assert_string_equal(ESC("C_Login CKR_OK 2026-12-04T16:24:18Z"),
	                    "C_Login CKR_OK 2026-12-04T16:24:18Z");
	/* UTF-8 passes: é, €, an emoji; a backslash stays (Windows paths). */
	assert_string_equal(ESC("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 C:\\x"),
	                    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 C:\\x");
}

static void test_c0_del(void **state)
{
	(void)state;
	assert_string_equal(ESC("a\nb\rc\td"), "a\\nb\\rc\\td");
	assert_string_equal(ESC("\x1b[2J\x1b]0;t\x07"), "\\x1b[2J\\x1b]0;t\\x07");
	assert_string_equal(ESC("x\x7fy"), "x\\x7fy");
	assert_string_equal(ESC("nul\0in"), "nul\\x00in");
}

static void test_c1_and_invalid(void **state)
{
	(void)state;
	/* C1 as UTF-8 (U+009B CSI, U+0085 NEL) and raw C1 bytes. */
	assert_string_equal(ESC("\xc2\x9b"
	                        "2J \xc2\x85"),
	                    "\\u009b2J \\u0085");
	assert_string_equal(ESC("\x9b"
	                        "2J"),
	                    "\\x9b2J");
	/* Invalid: stray continuation, 0xff, cut sequence, overlong ESC, surrogate, beyond U+10FFFF. */
	assert_string_equal(ESC("\x80\xff\xe2\x82"), "\\x80\\xff\\xe2\\x82");
	assert_string_equal(ESC("\xc0\x9b"), "\\xc0\\x9b");
	assert_string_equal(ESC("\xe0\x80\x9b"), "\\xe0\\x80\\x9b");
	assert_string_equal(ESC("\xed\xa0\x80"), "\\xed\\xa0\\x80");
	assert_string_equal(ESC("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
	/* Line separators and bidi overrides. */
	assert_string_equal(ESC("a\xe2\x80\xa8"
	                        "b\xe2\x80\xae"
	                        "c\xe2\x81\xa6"),
	                    "a\\u2028b\\u202ec\\u2066");
}

static void test_idempotent(void **state)
{
	static const char nasty[] = "\x1b]0;x\x07\xc2\x9b\xff\n\xe2\x80\xae";
	char once[256], twice[256];

	(void)state;
	p11_text_escape(once, sizeof(once), nasty, sizeof(nasty) - 1, NULL);
	p11_text_escape(twice, sizeof(twice), once, strlen(once), NULL);
	assert_string_equal(once, twice);
}

static void test_bounded(void **state)
{
	char out[8];
	size_t len, used;

	(void)state;
	/* "ab\x1b": "ab" fits, the 4-byte escape does not: stopped before it, whole. */
	used = p11_text_escape(out, 6,
	                       "ab\x1b"
	                       "cd",
	                       5, &len);
	assert_int_equal(used, 2);
	assert_int_equal(len, 2);
	assert_string_equal(out, "ab");
	/* A UTF-8 character is never cut. */
	used = p11_text_escape(out, 3, "a\xe2\x82\xac", 4, &len);
	assert_int_equal(used, 1);
	assert_string_equal(out, "a");
	assert_string_equal(p11_text_safe(out, sizeof(out), "abcdefghij"), "abcd...");
	assert_string_equal(p11_text_safe(out, sizeof(out), "\x1b\x1b"), "\\x1b...");
	assert_string_equal(p11_text_safe(out, sizeof(out), NULL), "(null)");
}

static void test_fput(void **state)
{
	char buf[4096], big[3000];
	FILE *f = tmpfile();
	size_t n;

	(void)state;
	assert_non_null(f);
	memset(big, 0x1b, sizeof(big));
	p11_text_fput(f, big, sizeof(big));
	rewind(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_int_equal(n, 4 * sizeof(big) > sizeof(buf) ? sizeof(buf) : 4 * sizeof(big));
	assert_memory_equal(buf, "\\x1b\\x1b", 8);
}

static void test_token_field(void **state)
{
	char why[128];

	(void)state;
	assert_true(p11_text_token_field("CM 4711", 16, why, sizeof(why)));
	assert_true(p11_text_token_field("1234567890123456", 16, why, sizeof(why)));
	assert_false(p11_text_token_field("12345678901234567", 16, why, sizeof(why)));
	assert_string_equal(why, "is 17 characters long");
	assert_false(p11_text_token_field("", 16, why, sizeof(why)));
	assert_string_equal(why, "is empty");
	assert_false(p11_text_token_field("CM47\n\x1b[2J", 16, why, sizeof(why)));
	assert_string_equal(why, "holds \\n at position 5 (a control character)");
	assert_false(p11_text_token_field("ab\x7f", 16, why, sizeof(why)));
	assert_string_equal(why, "holds \\x7f at position 3 (a control character)");
	assert_false(p11_text_token_field("caf\xc3\xa9", 16, why, sizeof(why)));
	assert_string_equal(why, "holds \\xc3 at position 4 (not ASCII)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passes_printable), cmocka_unit_test(test_c0_del),
		cmocka_unit_test(test_c1_and_invalid),   cmocka_unit_test(test_idempotent),
		cmocka_unit_test(test_bounded),          cmocka_unit_test(test_fput),
		cmocka_unit_test(test_token_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
