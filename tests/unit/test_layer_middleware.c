/*
 * The middleware layer (src/layers/middleware.c) over the mock backend,
 * alone and stacked as in production: at C_Initialize it learns whether
 * the backend is Nexus Personal and which version, and for Personal checks
 * the middleware's own files: card caching on in Personal.cfg, or no
 * readable PIN-encryption certificate, refuses C_Initialize (the backend
 * finalised again), warns, or is ignored ([middleware] Enforce).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test-support.h"

#include "mock-stack.h"

static mock *m;
static mock_stack st;

static const p11_layer_ctor middleware_alone[] = { p11_middleware_layer_new, NULL };

static int setup(void **state)
{
	(void)state;
	m = mock_new();
	if (m == NULL || mock_stack_init(&st) != 0)
		return -1;
	mock_world(m);
	mock_set_info(m, "Nexus Technology", "Personal 5.7.2");
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

/* C_Initialize through the layers of ctors with conf after the Personal files' lines. */
static CK_RV init_with(bool caching, const char *conf, const p11_layer_ctor *ctors)
{
	char text[2048];

	mock_stack_close(&st);
	assert_int_equal(mock_stack_personal(&st, caching), 0);
	snprintf(text, sizeof(text), MOCK_PERSONAL_CONF "%s", conf);
	if (mock_stack_open(&st, m, text, ctors) != 0)
		fail_msg("stack: %s", st.err);
	mock_record_clear(m);
	return MOCK_CALL(&st, Initialize, NULL);
}

/* Caching on: C_Initialize refused, and the backend left as it was found. */
static void test_caching_on_refused(void **state)
{
	(void)state;
	assert_int_equal(init_with(true, "", middleware_alone), CKR_GENERAL_ERROR);
	assert_int_equal(mock_count(m, P11_FN_Initialize), 1);
	assert_int_equal(mock_count(m, P11_FN_Finalize), 1);
	assert_false(mock_initialized(m));
	assert_true(st.ctx.personal);
}

static void test_caching_off_accepted(void **state)
{
	(void)state;
	assert_int_equal(init_with(false, "", middleware_alone), CKR_OK);
	assert_int_equal(mock_count(m, P11_FN_Finalize), 0);
	assert_true(mock_initialized(m));
	/* What the policies above learn: Personal, and its version from CK_INFO. */
	assert_true(st.ctx.personal);
	assert_string_equal(st.ctx.version, "5.7.2");
	assert_string_equal(st.ctx.version_source, "CK_INFO.libraryDescription");
}

/* The per-user Personal.cfg wins over the system one, key by key. */
static void test_user_file_wins(void **state)
{
	(void)state;
	assert_int_equal(mock_stack_file(&st, "user.cfg", "[Cache]\nCacheValidity = 0\n", NULL, 0),
	                 0);
	assert_int_equal(init_with(true, "PersonalUserConfig = @DIR@/user.cfg\n", middleware_alone),
	                 CKR_OK);
	assert_int_equal(MOCK_CALL(&st, Finalize, NULL), CKR_OK);
	assert_int_equal(mock_stack_file(&st, "user.cfg", "[Cache]\nCacheValidity = 600\n", NULL, 0),
	                 0);
	assert_int_equal(init_with(false, "PersonalUserConfig = @DIR@/user.cfg\n", middleware_alone),
	                 CKR_GENERAL_ERROR);
	assert_false(mock_initialized(m));
}

static void test_enforce(void **state)
{
	(void)state;
	assert_int_equal(init_with(true, "Enforce = warn\n", middleware_alone), CKR_OK);
	assert_int_equal(MOCK_CALL(&st, Finalize, NULL), CKR_OK);
	assert_int_equal(init_with(true, "Enforce = off\n", middleware_alone), CKR_OK);
	assert_int_equal(MOCK_CALL(&st, Finalize, NULL), CKR_OK);
	/* A missing PIN-encryption certificate is refused like caching. */
	assert_int_equal(init_with(false, "PinEncryptionConfig = @DIR@/missing.cfg\n",
	                           middleware_alone),
	                 CKR_GENERAL_ERROR);
	assert_false(mock_initialized(m));
}

/* Only Personal is checked: Middleware = generic, or auto with another module. */
static void test_other_middleware_not_checked(void **state)
{
	(void)state;
	assert_int_equal(init_with(true, "[backend]\nMiddleware = generic\n", middleware_alone),
	                 CKR_OK);
	assert_false(st.ctx.personal);
	assert_int_equal(MOCK_CALL(&st, Finalize, NULL), CKR_OK);
	mock_set_info(m, "SoftHSM", "Implementation of PKCS11");
	assert_int_equal(init_with(true, "", middleware_alone), CKR_OK);
	assert_false(st.ctx.personal);
	assert_int_equal(MOCK_CALL(&st, Finalize, NULL), CKR_OK);
	/* Middleware = personal and a version of the user's own. */
	assert_int_equal(init_with(true, "[backend]\nMiddleware = personal\nMiddlewareVersion = 5.8\n",
	                           middleware_alone),
	                 CKR_GENERAL_ERROR);
	assert_true(st.ctx.personal);
	assert_string_equal(st.ctx.version, "5.8");
}

/* A backend that fails C_Initialize: its answer, and no check, no C_Finalize. */
static void test_backend_failure_passes(void **state)
{
	(void)state;
	mock_answer(m, P11_FN_Initialize, CKR_DEVICE_ERROR);
	assert_int_equal(init_with(true, "", middleware_alone), CKR_DEVICE_ERROR);
	assert_int_equal(mock_count(m, P11_FN_GetInfo), 0);
	assert_int_equal(mock_count(m, P11_FN_Finalize), 0);
}

/* Stacked as in production: caching on refuses C_Initialize for the whole stack. */
static void test_stacked_production(void **state)
{
	char *trace;

	(void)state;
	assert_int_equal(init_with(true,
	                           "[trace]\nFile = @DIR@/trace.jsonl\n"
	                           "[eraser]\nCardEraser = true\n",
	                           NULL),
	                 CKR_GENERAL_ERROR);
	assert_non_null(mock_stack_layer(&st, "middleware"));
	assert_false(mock_initialized(m));
	mock_stack_close(&st);
	trace = mock_stack_read(&st, "trace.jsonl");
	assert_contains(trace, "middleware: refused: card caching is on: ");
	assert_contains(trace,
	                "Personal.cfg:2: [Cache] CacheValidity = 3600; set [Cache] CacheValidity = 0 there");
	free(trace);
	/* Caching off: the stack comes up. */
	assert_int_equal(init_with(false, "[trace]\nFile = @DIR@/trace.jsonl\n", NULL), CKR_OK);
	assert_true(mock_initialized(m));
	assert_int_equal(MOCK_CALL(&st, Finalize, NULL), CKR_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_caching_on_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_caching_off_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_file_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enforce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_middleware_not_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_failure_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stacked_production, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
