/*
 * The login layer (src/layers/login.c) over the mock backend, alone and
 * stacked as in production: the SO login goes to the backend as the
 * credential [login] OperatorPinIsSOCredential names (also as a mapped
 * field, read at each C_Login); CKU_P11SHIM_PUK and
 * CKU_P11SHIM_OPERATOR_PIN become CKU_SO or OtherAdminUserType; an
 * unsupported PUK change is refused before the backend is touched.
 *
 * The card (mock_world, slot 52): a Cosmo 8.2 of the PUK profile: the
 * backend's CKU_SO takes the PUK, its other admin type (0x80000001) the
 * operator PIN. What the middleware layer learns at C_Initialize (Personal
 * or not, its version) the alone tests set in the shared context.
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
#include "p11shim.h"

static mock *m;
static mock_stack st;
static CK_SESSION_HANDLE h;

static const p11_layer_ctor login_alone[] = { p11_login_layer_new, NULL };

static int setup(void **state)
{
	(void)state;
	unsetenv("P11SHIM_TEST_OPERATOR_IS_SO");
	m = mock_new();
	if (m == NULL || mock_stack_init(&st) != 0)
		return -1;
	mock_world(m);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unsetenv("P11SHIM_TEST_OPERATOR_IS_SO");
	mock_stack_free(&st);
	mock_free(m);
	m = NULL;
	return 0;
}

/* The login layer alone, initialised, a read/write session on slot 52. */
static void open_login(const char *conf, bool personal, const char *version)
{
	if (mock_stack_open(&st, m, conf, login_alone) != 0)
		fail_msg("stack: %s", st.err);
	st.ctx.personal = personal;
	snprintf(st.ctx.version, sizeof(st.ctx.version), "%s", version);
	if (version[0] != '\0')
		snprintf(st.ctx.version_source, sizeof(st.ctx.version_source), "the test");
	assert_int_equal(MOCK_CALL(&st, Initialize, NULL), CKR_OK);
	assert_int_equal(MOCK_CALL(&st, OpenSession, 52, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	                           NULL, &h),
	                 CKR_OK);
}

/* Finalizes and frees the stack (not the mock), for another configuration. */
static void close_login(void)
{
	assert_int_equal(MOCK_CALL(&st, Finalize, NULL), CKR_OK);
	mock_stack_close(&st);
}

static CK_RV login(CK_USER_TYPE user, const char *secret)
{
	return MOCK_CALL(&st, Login, h, user, (CK_UTF8CHAR_PTR)secret, strlen(secret));
}

/* The user type of the last C_Login that reached the backend. */
static CK_USER_TYPE backend_user(void)
{
	uintptr_t u = (uintptr_t)-1;

	assert_true(mock_arg_value(mock_last(m, P11_FN_Login), "USER", 0, &u));
	return (CK_USER_TYPE)u;
}

static CK_RV change_pin(const char *old_pin, const char *new_pin)
{
	return MOCK_CALL(&st, SetPIN, h, (CK_UTF8CHAR_PTR)old_pin, strlen(old_pin),
	                 (CK_UTF8CHAR_PTR)new_pin, strlen(new_pin));
}

/* PUK profile (the default, OperatorPinIsSOCredential = false). */
static void test_puk_is_so_credential(void **state)
{
	(void)state;
	open_login("", false, "");
	assert_int_equal(login(CKU_SO, MOCK_PUK), CKR_OK);
	assert_int_equal(backend_user(), CKU_SO);
	assert_int_equal(mock_logged_in(m, 52), CKU_SO);
	assert_int_equal(MOCK_CALL(&st, Logout, h), CKR_OK);

	assert_int_equal(login(CKU_P11SHIM_PUK, MOCK_PUK), CKR_OK);
	assert_int_equal(backend_user(), CKU_SO);
	assert_int_equal(MOCK_CALL(&st, Logout, h), CKR_OK);

	assert_int_equal(login(CKU_P11SHIM_OPERATOR_PIN, MOCK_OPERATOR_PIN), CKR_OK);
	assert_int_equal(backend_user(), MOCK_OTHER_ADMIN);
	assert_int_equal(MOCK_CALL(&st, Logout, h), CKR_OK);

	assert_int_equal(login(CKU_USER, MOCK_USER_PIN), CKR_OK);
	assert_int_equal(backend_user(), CKU_USER);
	assert_int_equal(mock_count(m, P11_FN_Login), 4);
}

/* Operator-PIN profile: the same client calls, the other secret as SO. */
static void test_operator_pin_is_so_credential(void **state)
{
	(void)state;
	/* This card's profile: the operator PIN is its SO credential. */
	mock_set_pin(m, 52, CKU_SO, MOCK_OPERATOR_PIN);
	mock_set_pin(m, 52, MOCK_OTHER_ADMIN, NULL);
	mock_set_pin(m, 52, 0x80000007UL, MOCK_PUK);
	open_login("[login]\nOperatorPinIsSOCredential = true\nOtherAdminUserType = 0x80000007\n",
	           false, "");
	assert_int_equal(login(CKU_P11SHIM_OPERATOR_PIN, MOCK_OPERATOR_PIN), CKR_OK);
	assert_int_equal(backend_user(), CKU_SO);
	assert_int_equal(MOCK_CALL(&st, Logout, h), CKR_OK);
	/* The PUK goes as the configured other admin type. */
	assert_int_equal(login(CKU_P11SHIM_PUK, MOCK_PUK), CKR_OK);
	assert_int_equal(backend_user(), 0x80000007UL);
	assert_int_equal(mock_logged_in(m, 52), 0x80000007UL);
	assert_int_equal(MOCK_CALL(&st, Logout, h), CKR_OK);
	/* CKU_SO passes as CKU_SO, whatever the profile. */
	assert_int_equal(login(CKU_SO, MOCK_OPERATOR_PIN), CKR_OK);
	assert_int_equal(backend_user(), CKU_SO);
}

/* A mapped field follows the card being encoded, read at each C_Login. */
static void test_mapped_field_read_at_each_login(void **state)
{
	(void)state;
	open_login("[login]\nOperatorPinIsSOCredential = ${P11SHIM_TEST_OPERATOR_IS_SO}\n", false,
	           "");
	setenv("P11SHIM_TEST_OPERATOR_IS_SO", "false", 1);
	assert_int_equal(login(CKU_P11SHIM_PUK, MOCK_PUK), CKR_OK);
	assert_int_equal(backend_user(), CKU_SO);
	assert_int_equal(MOCK_CALL(&st, Logout, h), CKR_OK);
	setenv("P11SHIM_TEST_OPERATOR_IS_SO", "true", 1);
	/* Now the PUK is the other admin secret, which on this card is the operator PIN's type. */
	assert_int_equal(login(CKU_P11SHIM_PUK, MOCK_PUK), CKR_PIN_INCORRECT);
	assert_int_equal(backend_user(), MOCK_OTHER_ADMIN);

	/* Unset, or not a boolean: refused before the backend hears of it. */
	mock_record_clear(m);
	unsetenv("P11SHIM_TEST_OPERATOR_IS_SO");
	assert_int_equal(login(CKU_SO, MOCK_PUK), CKR_GENERAL_ERROR);
	setenv("P11SHIM_TEST_OPERATOR_IS_SO", "maybe", 1);
	assert_int_equal(login(CKU_P11SHIM_OPERATOR_PIN, MOCK_OPERATOR_PIN), CKR_GENERAL_ERROR);
	assert_int_equal(mock_count(m, P11_FN_Login), 0);
	/* The user PIN does not depend on it. */
	assert_int_equal(login(CKU_USER, MOCK_USER_PIN), CKR_OK);
}

static void test_bad_other_admin_user_type(void **state)
{
	(void)state;
	assert_int_equal(mock_stack_open(&st, m, "[login]\nOtherAdminUserType = CKU_NOBODY\n",
	                                 login_alone),
	                 -1);
	assert_contains(st.err, "[login] OtherAdminUserType = CKU_NOBODY is not a user type");
	/* A name works as well as a number. */
	assert_int_equal(mock_stack_open(&st, m, "[login]\nOtherAdminUserType = CKU_USER\n",
	                                 login_alone),
	                 0);
}

/* Logs in with the PUK (the SO credential of this card), the way a client changing it does. */
static void puk_session(const char *conf, bool personal, const char *version)
{
	open_login(conf, personal, version);
	assert_int_equal(login(CKU_P11SHIM_PUK, MOCK_PUK), CKR_OK);
	mock_record_clear(m);
}

static void test_puk_change_refused_before_backend(void **state)
{
	(void)state;
	/* Personal 5.7.1 cannot change a PUK. */
	puk_session("", true, "5.7.1");
	assert_int_equal(change_pin(MOCK_PUK, "11112222"), CKR_FUNCTION_NOT_SUPPORTED);
	assert_int_equal(mock_count(m, P11_FN_SetPIN), 0);
	/* The card's PUK is untouched: it still logs in. */
	assert_int_equal(MOCK_CALL(&st, Logout, h), CKR_OK);
	assert_int_equal(login(CKU_SO, MOCK_PUK), CKR_OK);
}

static void test_puk_change_unknown_version_or_model(void **state)
{
	(void)state;
	puk_session("", true, "");
	assert_int_equal(change_pin(MOCK_PUK, "11112222"), CKR_FUNCTION_NOT_SUPPORTED);
	close_login();
	mock_free(m);
	m = mock_new();
	mock_world(m);
	mock_set_token(m, 52, "Encoder card", "CardOS 5.3", "1", CKF_TOKEN_INITIALIZED);
	mock_set_pin(m, 52, CKU_SO, MOCK_PUK);
	puk_session("", true, "5.7.2");
	assert_int_equal(change_pin(MOCK_PUK, "11112222"), CKR_FUNCTION_NOT_SUPPORTED);
	assert_int_equal(mock_count(m, P11_FN_SetPIN), 0);
}

static void test_puk_change_allowed(void **state)
{
	(void)state;
	/* Personal 5.7.10 >= 5.7.2 and a Cosmo 8.2: the change reaches the card. */
	puk_session("", true, "5.7.10");
	assert_int_equal(change_pin(MOCK_PUK, "11112222"), CKR_OK);
	assert_int_equal(mock_count(m, P11_FN_SetPIN), 1);
	assert_int_equal(MOCK_CALL(&st, Logout, h), CKR_OK);
	assert_int_equal(login(CKU_SO, "11112222"), CKR_OK);
}

static void test_puk_change_config(void **state)
{
	(void)state;
	/* deny: whatever the middleware. */
	puk_session("[puk]\nPukChange = deny\n", false, "");
	assert_int_equal(change_pin(MOCK_PUK, "11112222"), CKR_FUNCTION_NOT_SUPPORTED);
	assert_int_equal(mock_count(m, P11_FN_SetPIN), 0);
	close_login();
	/* allow: even on 5.7.1. */
	puk_session("[puk]\nPukChange = allow\n", true, "5.7.1");
	assert_int_equal(change_pin(MOCK_PUK, "11112222"), CKR_OK);
	assert_int_equal(mock_count(m, P11_FN_SetPIN), 1);
	close_login();
	/* A model list of the user's own. */
	mock_set_pin(m, 52, CKU_SO, MOCK_PUK);
	puk_session("[puk]\nPukChangeModels = Cosmo 9\n", true, "5.7.2");
	assert_int_equal(change_pin(MOCK_PUK, "11112222"), CKR_FUNCTION_NOT_SUPPORTED);
	close_login();
	/* auto on a middleware that is not Personal: passed. */
	puk_session("", false, "");
	assert_int_equal(change_pin(MOCK_PUK, "11112222"), CKR_OK);
}

/* The gate is for the PUK only: the user PIN changes on any version. */
static void test_user_pin_change_passes(void **state)
{
	(void)state;
	open_login("[puk]\nPukChange = deny\n", true, "5.7.1");
	assert_int_equal(login(CKU_USER, MOCK_USER_PIN), CKR_OK);
	assert_int_equal(change_pin(MOCK_USER_PIN, "654321"), CKR_OK);
	assert_int_equal(mock_count(m, P11_FN_SetPIN), 1);
	/* The operator PIN is not the PUK either. */
	assert_int_equal(MOCK_CALL(&st, Logout, h), CKR_OK);
	assert_int_equal(login(CKU_P11SHIM_OPERATOR_PIN, MOCK_OPERATOR_PIN), CKR_OK);
	assert_int_equal(change_pin(MOCK_OPERATOR_PIN, "13571357"), CKR_OK);
	assert_int_equal(mock_count(m, P11_FN_SetPIN), 2);
	/* After a logout the PUK login is forgotten: no refusal of a later user PIN change. */
	assert_int_equal(MOCK_CALL(&st, Logout, h), CKR_OK);
	assert_int_equal(login(CKU_SO, MOCK_PUK), CKR_OK);
	assert_int_equal(MOCK_CALL(&st, Logout, h), CKR_OK);
	assert_int_equal(change_pin("654321", "777777"), CKR_OK);
}

/*
 * Stacked as in production: the middleware layer learns Personal 5.7.1
 * from CK_INFO, and the login layer refuses the PUK change with it; the
 * trace shows the mapping and never a secret.
 */
static void test_stacked_production(void **state)
{
	char *trace;

	(void)state;
	mock_set_info(m, "Nexus Technology", "Personal 5.7.1");
	assert_int_equal(mock_stack_personal(&st, false), 0);
	if (mock_stack_open(&st, m, "[trace]\nFile = @DIR@/trace.jsonl\n" MOCK_PERSONAL_CONF,
	                    NULL) != 0)
		fail_msg("stack: %s", st.err);
	assert_int_equal(MOCK_CALL(&st, Initialize, NULL), CKR_OK);
	assert_true(st.ctx.personal);
	assert_string_equal(st.ctx.version, "5.7.1");
	assert_int_equal(MOCK_CALL(&st, OpenSession, 52, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	                           NULL, &h),
	                 CKR_OK);
	assert_int_equal(login(CKU_P11SHIM_PUK, MOCK_PUK), CKR_OK);
	assert_int_equal(backend_user(), CKU_SO);
	assert_int_equal(change_pin(MOCK_PUK, "11112222"), CKR_FUNCTION_NOT_SUPPORTED);
	assert_int_equal(mock_count(m, P11_FN_SetPIN), 0);
	assert_int_equal(MOCK_CALL(&st, Finalize, NULL), CKR_OK);
	mock_stack_close(&st);

	trace = mock_stack_read(&st, "trace.jsonl");
	assert_contains(trace, "login: CKU_P11SHIM_PUK sent as CKU_SO: the PUK is the SO credential");
	assert_contains(trace, "puk: PUK change refused before the card is touched: Personal 5.7.1");
	assert_not_contains(trace, MOCK_PUK);
	assert_not_contains(trace, "11112222");
	free(trace);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_puk_is_so_credential, setup, teardown),
		cmocka_unit_test_setup_teardown(test_operator_pin_is_so_credential, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mapped_field_read_at_each_login, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_other_admin_user_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_puk_change_refused_before_backend, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_puk_change_unknown_version_or_model, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_puk_change_allowed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_puk_change_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_pin_change_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stacked_production, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
