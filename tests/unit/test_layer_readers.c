/*
 * The readers layer (src/layers/readers.c) over the mock backend, alone and
 * stacked as in production: a slot whose reader name fully matches a
 * SkipReader pattern is never listed (length query, full buffer,
 * CKR_BUFFER_TOO_SMALL), every function naming it answers
 * CKR_SLOT_ID_INVALID without the backend seeing it, its events are
 * swallowed, and slot IDs are never renumbered.
 *
 * The world (mock_world): slots 52 (Gemalto, token), 134 (Microsoft
 * Virtual Smart Card, hidden by a default pattern) and 9 (SCM, no token),
 * in that backend order.
 */
#include "config.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "test-support.h"

#include "mock-stack.h"

#define HIDDEN 134

static mock *m;
static mock_stack st;

static const p11_layer_ctor readers_alone[] = { p11_readers_layer_new, NULL };

static int setup(void **state)
{
	(void)state;
	m = mock_new();
	if (m == NULL || mock_stack_init(&st) != 0)
		return -1;
	mock_world(m);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mock_stack_free(&st);
	mock_free(m);
	m = NULL;
	return 0;
}

/* Opens the stack over the mock and initialises it. */
static void open_stack(const char *conf, const p11_layer_ctor *ctors)
{
	if (mock_stack_open(&st, m, conf, ctors) != 0)
		fail_msg("stack: %s", st.err);
	assert_int_equal(MOCK_CALL(&st, Initialize, NULL), CKR_OK);
}

/* The default patterns, without Personal.cfg's. */
#define DEFAULTS "[readers]\nReadPersonalSkipReader = false\n"

static void test_slot_list_leaves_hidden_out(void **state)
{
	CK_SLOT_ID list[8];
	CK_ULONG n;

	(void)state;
	open_stack(DEFAULTS, readers_alone);
	/* Length query, then the full list: IDs as the backend gave them. */
	n = 0;
	assert_int_equal(MOCK_CALL(&st, GetSlotList, CK_FALSE, NULL, &n), CKR_OK);
	assert_int_equal(n, 2);
	n = 8;
	assert_int_equal(MOCK_CALL(&st, GetSlotList, CK_FALSE, list, &n), CKR_OK);
	assert_int_equal(n, 2);
	assert_int_equal(list[0], 52);
	assert_int_equal(list[1], 9);
	/* tokenPresent: the hidden slot has a token, and is still left out. */
	n = 0;
	assert_int_equal(MOCK_CALL(&st, GetSlotList, CK_TRUE, NULL, &n), CKR_OK);
	assert_int_equal(n, 1);
	n = 8;
	assert_int_equal(MOCK_CALL(&st, GetSlotList, CK_TRUE, list, &n), CKR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(list[0], 52);
}

/* PKCS#11 5.2: too small for the visible slots, or only for all of them. */
static void test_slot_list_buffer_too_small(void **state)
{
	CK_SLOT_ID list[3] = { 0xdead, 0xdead, 0xdead };
	CK_ULONG n;

	(void)state;
	open_stack(DEFAULTS, readers_alone);
	n = 1;
	assert_int_equal(MOCK_CALL(&st, GetSlotList, CK_FALSE, list, &n), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(n, 2);
	/* Room for the 2 visible slots, not for the backend's 3: that is enough. */
	n = 2;
	assert_int_equal(MOCK_CALL(&st, GetSlotList, CK_FALSE, list, &n), CKR_OK);
	assert_int_equal(n, 2);
	assert_int_equal(list[0], 52);
	assert_int_equal(list[1], 9);
	assert_int_equal(list[2], 0xdead);
	n = 0;
	assert_int_equal(MOCK_CALL(&st, GetSlotList, CK_TRUE, list, &n), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(n, 1);
}

/*
 * Every function that takes a slot ID refuses the hidden one; the backend
 * hears of it once, by C_GetSlotInfo, when the layer reads its reader name.
 */
static void test_hidden_slot_refused_without_backend(void **state)
{
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_MECHANISM_INFO mi;
	CK_ULONG n = 0;
	CK_SESSION_HANDLE h = 0;
	CK_UTF8CHAR label[32];
	const mock_call *c;
	uintptr_t slot;

	(void)state;
	memset(label, ' ', sizeof(label));
	open_stack(DEFAULTS, readers_alone);
	mock_record_clear(m);
	assert_int_equal(MOCK_CALL(&st, GetTokenInfo, HIDDEN, &ti), CKR_SLOT_ID_INVALID);
	assert_int_equal(mock_count_naming(m, "SLOT", HIDDEN), 1);
	c = mock_last(m, P11_FN_GetSlotInfo);
	assert_non_null(c);
	assert_true(mock_arg_value(c, "SLOT", 0, &slot));
	assert_int_equal(slot, HIDDEN);

	/* Judged once: from now on nothing naming it reaches the backend. */
	mock_record_clear(m);
	assert_int_equal(MOCK_CALL(&st, GetSlotInfo, HIDDEN, &si), CKR_SLOT_ID_INVALID);
	assert_int_equal(MOCK_CALL(&st, GetTokenInfo, HIDDEN, &ti), CKR_SLOT_ID_INVALID);
	assert_int_equal(MOCK_CALL(&st, GetMechanismList, HIDDEN, NULL, &n), CKR_SLOT_ID_INVALID);
	assert_int_equal(MOCK_CALL(&st, GetMechanismInfo, HIDDEN, CKM_RSA_PKCS, &mi),
	                 CKR_SLOT_ID_INVALID);
	assert_int_equal(MOCK_CALL(&st, InitToken, HIDDEN, (CK_UTF8CHAR_PTR)MOCK_PUK,
	                           strlen(MOCK_PUK), label),
	                 CKR_SLOT_ID_INVALID);
	assert_int_equal(MOCK_CALL(&st, OpenSession, HIDDEN, CKF_SERIAL_SESSION, NULL, NULL, &h),
	                 CKR_SLOT_ID_INVALID);
	assert_int_equal(h, 0);
	assert_int_equal(MOCK_CALL(&st, CloseAllSessions, HIDDEN), CKR_SLOT_ID_INVALID);
	assert_int_equal(mock_calls(m), 0);

	/* A visible slot with the same calls reaches the backend. */
	assert_int_equal(MOCK_CALL(&st, GetTokenInfo, 52, &ti), CKR_OK);
	assert_int_equal(MOCK_CALL(&st, OpenSession, 52, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_OK);
	assert_int_equal(mock_count_naming(m, "SLOT", 52), 3); /* GetSlotInfo judged it first */
	/* A slot the backend does not know stays the backend's to answer. */
	assert_int_equal(MOCK_CALL(&st, GetTokenInfo, 77, &ti), CKR_SLOT_ID_INVALID);
	assert_int_equal(mock_count(m, P11_FN_GetTokenInfo), 2);
}

/* C_WaitForSlotEvent: an event of a hidden reader is swallowed, not refused. */
static void test_wait_for_slot_event_filters(void **state)
{
	CK_SLOT_ID slot = 0;

	(void)state;
	open_stack(DEFAULTS, readers_alone);
	mock_push_event(m, HIDDEN);
	mock_push_event(m, 9);
	assert_int_equal(MOCK_CALL(&st, WaitForSlotEvent, CKF_DONT_BLOCK, &slot, NULL), CKR_OK);
	assert_int_equal(slot, 9);
	mock_push_event(m, HIDDEN);
	assert_int_equal(MOCK_CALL(&st, WaitForSlotEvent, CKF_DONT_BLOCK, &slot, NULL), CKR_NO_EVENT);
	assert_int_equal(mock_count(m, P11_FN_WaitForSlotEvent), 4); /* one per event, one NO_EVENT */
}

/* A backend error passes through untouched (STYLE.md section 3). */
static void test_backend_errors_pass_through(void **state)
{
	CK_SLOT_ID list[8];
	CK_ULONG n = 8;

	(void)state;
	open_stack(DEFAULTS, readers_alone);
	mock_fail_nth(m, P11_FN_GetSlotList, 1, CKR_DEVICE_ERROR);
	assert_int_equal(MOCK_CALL(&st, GetSlotList, CK_FALSE, list, &n), CKR_DEVICE_ERROR);
	/* A slot whose reader name cannot be read is shown (the backend answers
	 * for it) and judged again at the next call. */
	mock_fail_nth(m, P11_FN_GetSlotInfo, 2, CKR_DEVICE_ERROR);
	n = 8;
	assert_int_equal(MOCK_CALL(&st, GetSlotList, CK_FALSE, list, &n), CKR_OK);
	assert_int_equal(n, 3);
	assert_int_equal(list[1], HIDDEN);
	n = 8;
	assert_int_equal(MOCK_CALL(&st, GetSlotList, CK_FALSE, list, &n), CKR_OK);
	assert_int_equal(n, 2);
	assert_int_equal(list[1], 9);
}

/* Patterns of the user's own, a Personal.cfg SkipReader line, and none at all. */
static void test_patterns_from_config_and_personal_cfg(void **state)
{
	CK_SLOT_ID list[8];
	CK_ULONG n = 8;

	(void)state;
	assert_int_equal(mock_stack_file(&st, "Personal.cfg", "[Readers]\nSkipReader = SCM .*\n",
	                                 NULL, 0),
	                 0);
	/* An empty value clears the defaults; a partial match hides nothing. */
	open_stack("[readers]\nSkipReader =\nSkipReader = Gemalto\n"
	           "[middleware]\nPersonalConfig = @DIR@/Personal.cfg\n",
	           readers_alone);
	assert_int_equal(MOCK_CALL(&st, GetSlotList, CK_FALSE, list, &n), CKR_OK);
	assert_int_equal(n, 2);
	assert_int_equal(list[0], 52);
	assert_int_equal(list[1], HIDDEN);
	mock_stack_close(&st);

	/* No pattern at all: the layer stays out of the call path. */
	assert_int_equal(mock_stack_open(&st, m,
	                                 "[readers]\nSkipReader =\n"
	                                 "ReadPersonalSkipReader = false\n",
	                                 readers_alone),
	                 0);
	assert_int_equal(st.n, 1);
	assert_ptr_equal(st.top.C_GetSlotList.layer, mock_layer(m));
}

static void test_bad_pattern_refused(void **state)
{
	(void)state;
	assert_int_equal(mock_stack_open(&st, m, "[readers]\nSkipReader = Virtual (\n", readers_alone),
	                 -1);
	assert_contains(st.err, "p11shim.conf:2: [readers] SkipReader = Virtual (: PCRE2 error");
	assert_contains(st.err, "fix the pattern");
	assert_int_equal(mock_calls(m), 0);
}

/* Stacked as in production: trace outermost, every policy, the mock as backend. */
/*
 * A literal pattern (the defaults, "Gemalto", "SCM .*") is matched without
 * PCRE2 (src/layers/readers.c, literal_form). Each pattern alone, each
 * name: the layer's answer is PCRE2's with the options the layer compiles
 * with. The names probe what a prefix test gets wrong: a newline (LF; CR
 * is no newline) or NUL after the prefix, a name one byte short, another
 * case, UTF-8 after the prefix.
 */
static void test_literal_patterns_match_as_pcre2(void **state)
{
	static const struct {
		const char *text;
		bool literal;
	} pats[] = {
		{ "Microsoft Virtual Smart Card .*", true },
		{ "Windows Hello for Business .*", true },
		{ "Gemalto", true },
		{ "Lecteur \xc3\xa0 puce .*", true },
		{ "SCM .*", true },
		{ "a b c", true },
		{ "SCM Microsystems Inc. SCR 3310", false },
		{ "Gemalto.*x", false },
		{ "Virtual.*.*", false },
		{ "(Gemalto)", false },
		{ "Gem+", false },
	};
	static const struct {
		const char *s;
		size_t n;
	} names[] = {
#define NAME(lit) { lit, sizeof(lit) - 1 }
		NAME("Microsoft Virtual Smart Card 0"),
		NAME("Microsoft Virtual Smart Card "),
		NAME("Microsoft Virtual Smart Card"),
		NAME("microsoft Virtual Smart Card 0"),
		NAME("Microsoft Virtual Smart Card 0\nGemalto"),
		NAME("Microsoft Virtual Smart Card \n"),
		NAME("Microsoft Virtual Smart Card 0\r1"),
		NAME("Microsoft Virtual Smart Card 0\0001"),
		NAME("Microsoft Virtual Smart Card \xc3\xa9\xe2\x82\xac"),
		NAME("Windows Hello for Business 1"),
		NAME("Gemalto"),
		NAME("Gemalto\n"),
		NAME("Gemalto 0"),
		NAME("Gemalt"),
		NAME("Gemaltox"),
		NAME("Lecteur \xc3\xa0 puce 1"),
		NAME("Lecteur a puce 1"),
		NAME("SCM Microsystems Inc. SCR 3310"),
		NAME("SCM "),
		NAME("SCM"),
		NAME("a b c"),
		NAME("a b c\n"),
		NAME("Gemmm"),
		NAME(""),
#undef NAME
	};
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		char conf[512], path[4096], err[1024];
		p11_config_sources src = { 0 };
		pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
		pcre2_match_data *md = pcre2_match_data_create(1, NULL);
		pcre2_code *re;
		p11_config *cfg;
		p11_skip *skip;
		PCRE2_SIZE off;
		int code;

		assert_non_null(cc);
		assert_non_null(md);
		pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
		re = pcre2_compile((PCRE2_SPTR)pats[i].text, PCRE2_ZERO_TERMINATED,
		                   PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF |
		                           PCRE2_MATCH_INVALID_UTF,
		                   &code, &off, cc);
		assert_non_null(re);
		snprintf(conf, sizeof(conf),
		         "[readers]\nSkipReader =\nSkipReader = %s\nReadPersonalSkipReader = false\n",
		         pats[i].text);
		assert_int_equal(mock_stack_file(&st, "skip.conf", conf, path, sizeof(path)), 0);
		src.conf_env_file = path;
		cfg = p11_config_load(&src, err, sizeof(err));
		if (cfg == NULL)
			fail_msg("%s", err);
		skip = p11_skip_new(cfg, err, sizeof(err));
		if (skip == NULL)
			fail_msg("%s", err);
		assert_int_equal(p11_skip_count(skip), 1);
		if (p11_skip_literal(skip, 0) != pats[i].literal)
			fail_msg("'%s': literal %d, expected %d", pats[i].text,
			         (int)p11_skip_literal(skip, 0), (int)pats[i].literal);
		for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
			size_t n = names[k].n;
			bool want, got;

			/* As the layer takes a slotDescription: the blank padding trimmed. */
			while (n > 0 && (names[k].s[n - 1] == ' ' || names[k].s[n - 1] == '\0'))
				n--;
			want = pcre2_match(re, (PCRE2_SPTR)names[k].s, n, 0, 0, md, NULL) >= 0;
			got = p11_skip_match(skip, names[k].s, names[k].n) == 0;
			if (got != want)
				fail_msg("'%s' on name %zu ('%.*s'): the layer says %d, PCRE2 %d",
				         pats[i].text, k, (int)names[k].n, names[k].s, (int)got,
				         (int)want);
		}
		p11_skip_free(skip);
		p11_config_free(cfg);
		pcre2_code_free(re);
		pcre2_match_data_free(md);
		pcre2_compile_context_free(cc);
	}
}

static void test_stacked_production(void **state)
{
	CK_SLOT_ID list[8];
	CK_TOKEN_INFO ti;
	CK_ULONG n = 0;
	char *trace;

	(void)state;
	open_stack("[trace]\nFile = @DIR@/trace.jsonl\n" DEFAULTS "[eraser]\nCardEraser = true\n",
	           NULL);
	assert_non_null(mock_stack_layer(&st, "trace"));
	assert_non_null(mock_stack_layer(&st, "readers"));
	assert_non_null(mock_stack_layer(&st, "eraser"));
	assert_int_equal(MOCK_CALL(&st, GetSlotList, CK_FALSE, NULL, &n), CKR_OK);
	assert_int_equal(n, 2);
	n = 1;
	assert_int_equal(MOCK_CALL(&st, GetSlotList, CK_FALSE, list, &n), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(n, 2);
	mock_record_clear(m);
	assert_int_equal(MOCK_CALL(&st, GetTokenInfo, HIDDEN, &ti), CKR_SLOT_ID_INVALID);
	assert_int_equal(mock_calls(m), 0);
	assert_int_equal(MOCK_CALL(&st, Finalize, NULL), CKR_OK);
	mock_stack_close(&st);

	/* The trace names the hidden slot and the pattern, once. */
	trace = mock_stack_read(&st, "trace.jsonl");
	assert_contains(trace, "readers: slot 134 'Microsoft Virtual Smart Card 0' hidden by "
	                       "SkipReader 'Microsoft Virtual Smart Card .*' (default)");
	assert_int_equal(mock_text_count(trace, "hidden by SkipReader"), 1);
	free(trace);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_slot_list_leaves_hidden_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slot_list_buffer_too_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hidden_slot_refused_without_backend, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_wait_for_slot_event_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_errors_pass_through, setup, teardown),
		cmocka_unit_test_setup_teardown(test_patterns_from_config_and_personal_cfg, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_bad_pattern_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_literal_patterns_match_as_pcre2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stacked_production, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
