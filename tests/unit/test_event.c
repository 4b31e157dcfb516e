/*
 * Unit tests for the system log's rate limit (src/core/debug.c): the same
 * event (id and text) at most once per P11_EVENT_INTERVAL seconds, and the
 * next one that goes says how many were held back. The clock is the
 * caller's, so no test waits.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "p11-shim.h"

static int reset(void **state)
{
	(void)state;
	p11_event_rate_reset();
	return 0;
}

static void test_repeat_held_back_then_counted(void **state)
{
	unsigned long held = 99;

	(void)state;
	assert_true(p11_event_rate_ok(105, "puk: refused", 1000, &held));
	assert_int_equal(held, 0);
	assert_false(p11_event_rate_ok(105, "puk: refused", 1000, &held));
	assert_false(p11_event_rate_ok(105, "puk: refused", 1000 + P11_EVENT_INTERVAL - 1, &held));
	/* The interval over: it goes, with the count of those held back. */
	assert_true(p11_event_rate_ok(105, "puk: refused", 1000 + P11_EVENT_INTERVAL, &held));
	assert_int_equal(held, 2);
	assert_false(p11_event_rate_ok(105, "puk: refused", 1000 + P11_EVENT_INTERVAL + 1, &held));
}

static void test_other_text_or_id_not_held(void **state)
{
	unsigned long held;

	(void)state;
	assert_true(p11_event_rate_ok(105, "puk: refused on slot 1", 5000, &held));
	assert_true(p11_event_rate_ok(105, "puk: refused on slot 2", 5000, &held));
	assert_true(p11_event_rate_ok(106, "puk: refused on slot 1", 5000, &held));
	assert_false(p11_event_rate_ok(105, "puk: refused on slot 2", 5001, &held));
}

static void test_many_events_evict_oldest(void **state)
{
	unsigned long held;
	char text[32];
	int i;

	(void)state;
	/* More different events than the table holds: each new one still goes. */
	for (i = 0; i < 100; i++) {
		snprintf(text, sizeof(text), "readers: slot %d hidden", i);
		assert_true(p11_event_rate_ok(201, text, 7000 + i, &held));
	}
	/* The most recent is still remembered. */
	assert_false(p11_event_rate_ok(201, "readers: slot 99 hidden", 7100, &held));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_repeat_held_back_then_counted, reset),
		cmocka_unit_test_setup(test_other_text_or_id_not_held, reset),
		cmocka_unit_test_setup(test_many_events_evict_oldest, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
