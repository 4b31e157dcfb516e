/*
 * The serial layer (src/layers/serial.c) over the mock backend, alone and
 * stacked as in production: with [serial] InitToken = true the serial
 * (CMSCardSerialNumber, a mapped field, or the next number of NumberRange)
 * is fixed before the card is touched, written after C_InitToken as the
 * shim's serial object (P11SHIM_SERIAL_* in p11shim.h) with an SO login
 * using the SO PIN given to C_InitToken, and reported in
 * CK_TOKEN_INFO.serialNumber; a certificate whose subject serialNumber
 * differs from the card serial is refused or let through with a warning.
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

#include "test-support.h"

#include "mock-stack.h"
#include "p11shim.h"

#define SO_PIN "so-pin-4711"

static mock *m;
static mock_stack st;

static const p11_layer_ctor serial_alone[] = { p11_serial_layer_new, NULL };

static int setup(void **state)
{
	(void)state;
	unsetenv("P11SHIM_TEST_SERIAL");
	m = mock_new();
	if (m == NULL || mock_stack_init(&st) != 0)
		return -1;
	mock_world(m);
	/* A blank card in the Gemalto reader. */
	mock_set_token(m, 52, "", "Cosmo 8.2", "0000000000000052", 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unsetenv("P11SHIM_TEST_SERIAL");
	mock_stack_free(&st);
	mock_free(m);
	m = NULL;
	return 0;
}

static void open_serial(const char *conf, const p11_layer_ctor *ctors)
{
	if (mock_stack_open(&st, m, conf, ctors) != 0)
		fail_msg("stack: %s", st.err);
	assert_int_equal(MOCK_CALL(&st, Initialize, NULL), CKR_OK);
}

static CK_RV init_token(const char *label)
{
	CK_UTF8CHAR padded[32];

	memset(padded, ' ', sizeof(padded));
	memcpy(padded, label, strlen(label));
	return MOCK_CALL(&st, InitToken, 52, (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN), padded);
}

/* CK_TOKEN_INFO.serialNumber as the client reads it, blank padding trimmed. */
static const char *reported_serial(void)
{
	static char serial[17];
	CK_TOKEN_INFO ti;
	size_t n = sizeof(ti.serialNumber);

	assert_int_equal(MOCK_CALL(&st, GetTokenInfo, 52, &ti), CKR_OK);
	while (n > 0 && ti.serialNumber[n - 1] == ' ')
		n--;
	memcpy(serial, ti.serialNumber, n);
	serial[n] = '\0';
	return serial;
}

/* The card serial object's value on the mock's token, or "" when there is none. */
static const char *card_object(void)
{
	static char value[64];
	const void *v;
	CK_ULONG n = 0;

	v = mock_object_attr(m, 52, P11SHIM_SERIAL_LABEL, CKA_VALUE, &n);
	if (v == NULL || n >= sizeof(value))
		return "";
	memcpy(value, v, n);
	value[n] = '\0';
	return value;
}

static void test_serial_applied_and_reported(void **state)
{
	const mock_call *c;
	uintptr_t user;

	(void)state;
	open_serial("[serial]\nInitToken = true\nCMSCardSerialNumber = 4711000042\n", serial_alone);
	assert_int_equal(init_token("encoded"), CKR_OK);
	assert_string_equal(mock_token_label(m, 52), "encoded");
	assert_string_equal(card_object(), "4711000042");
	/* Written with an SO login (the SO PIN of C_InitToken), logged out after. */
	c = mock_last(m, P11_FN_Login);
	assert_non_null(c);
	assert_true(mock_arg_value(c, "USER", 0, &user));
	assert_int_equal(user, CKU_SO);
	assert_int_equal(c->rv, CKR_OK);
	assert_int_equal(mock_logged_in(m, 52), (CK_USER_TYPE)-1);
	/* Reported instead of the backend's own serial, read from the card each time. */
	assert_string_equal(reported_serial(), "4711000042");
	mock_record_clear(m);
	assert_string_equal(reported_serial(), "4711000042");
	assert_int_equal(mock_count(m, P11_FN_FindObjectsInit), 1);
}

/* A token the shim never initialised keeps the backend's serial. */
static void test_other_tokens_keep_their_serial(void **state)
{
	(void)state;
	mock_set_token(m, 52, "old", "Cosmo 8.2", "0000000000000052", CKF_TOKEN_INITIALIZED);
	open_serial("[serial]\nInitToken = true\nCMSCardSerialNumber = 4711000042\n", serial_alone);
	assert_string_equal(reported_serial(), "0000000000000052");
}

/* Nothing is written when the serial cannot be fixed first. */
static void test_no_serial_nothing_written(void **state)
{
	(void)state;
	open_serial("[serial]\nInitToken = true\nCMSCardSerialNumber = ${P11SHIM_TEST_SERIAL}\n",
	            serial_alone);
	assert_int_equal(init_token("encoded"), CKR_GENERAL_ERROR);
	assert_int_equal(mock_count(m, P11_FN_InitToken), 0);
	assert_int_equal(mock_calls(m), 1); /* C_Initialize only */
	/* Set now: read at C_InitToken, not at C_Initialize. */
	setenv("P11SHIM_TEST_SERIAL", "CM4711", 1);
	assert_int_equal(init_token("encoded"), CKR_OK);
	assert_string_equal(reported_serial(), "CM4711");
	/* 17 characters do not fit CK_TOKEN_INFO.serialNumber. */
	setenv("P11SHIM_TEST_SERIAL", "12345678901234567", 1);
	mock_record_clear(m);
	assert_int_equal(init_token("again"), CKR_GENERAL_ERROR);
	assert_int_equal(mock_calls(m), 0);
	assert_string_equal(mock_token_label(m, 52), "encoded");
}

static void test_number_range(void **state)
{
	(void)state;
	open_serial("[serial]\nInitToken = true\nNumberRange = 000100-000101\n"
	            "NumberRangeState = @DIR@/range.state\n",
	            serial_alone);
	assert_int_equal(init_token("card1"), CKR_OK);
	assert_string_equal(reported_serial(), "000100");
	/* Re-initialisation takes the next number; the old object went with the token. */
	assert_int_equal(init_token("card1b"), CKR_OK);
	assert_string_equal(reported_serial(), "000101");
	assert_int_equal(mock_object_count(m, 52), 1);
	/* Exhausted: refused, the token untouched. */
	mock_record_clear(m);
	assert_int_equal(init_token("card1c"), CKR_GENERAL_ERROR);
	assert_int_equal(mock_calls(m), 0);
	assert_string_equal(reported_serial(), "000101");
}

static void test_backend_failures(void **state)
{
	(void)state;
	open_serial("[serial]\nInitToken = true\nCMSCardSerialNumber = 4711000042\n", serial_alone);
	/* The backend refuses C_InitToken: its answer, untouched; nothing written. */
	mock_fail_nth(m, P11_FN_InitToken, 1, CKR_PIN_INCORRECT);
	assert_int_equal(init_token("encoded"), CKR_PIN_INCORRECT);
	assert_int_equal(mock_count(m, P11_FN_CreateObject), 0);
	/* Initialised, but the serial cannot be written: the client must know. */
	mock_fail_nth(m, P11_FN_CreateObject, 1, CKR_DEVICE_MEMORY);
	assert_int_equal(init_token("encoded"), CKR_FUNCTION_FAILED);
	assert_string_equal(card_object(), "");
	assert_int_equal(mock_count(m, P11_FN_Logout), 1);
	assert_int_equal(mock_count(m, P11_FN_CloseSession), 1);
}

/* CertificateSerialCheck: the card serial against a certificate's subject serialNumber. */
static void check_cert(const char *subject_serial, CK_RV want)
{
	CK_OBJECT_CLASS klass = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE type = CKC_X_509;
	CK_BBOOL yes = CK_TRUE;
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
	CK_SESSION_HANDLE h;
	unsigned char *der = NULL;
	CK_ULONG len = 0;
	size_t before;

	assert_int_equal(mock_cert_der(subject_serial, &der, &len), 0);
	{
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &klass, sizeof(klass) },
			{ CKA_CERTIFICATE_TYPE, &type, sizeof(type) },
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_LABEL, "cert", 4 },
			{ CKA_VALUE, der, len },
		};
		assert_int_equal(MOCK_CALL(&st, OpenSession, 52,
		                           CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h),
		                 CKR_OK);
		before = mock_object_count(m, 52);
		assert_int_equal(MOCK_CALL(&st, CreateObject, h, t, 5, &obj), want);
		assert_int_equal(mock_object_count(m, 52), before + (want == CKR_OK));
		assert_int_equal(MOCK_CALL(&st, CloseSession, h), CKR_OK);
	}
	free(der);
}

static void test_certificate_serial_check(void **state)
{
	(void)state;
	open_serial("[serial]\nInitToken = true\nCMSCardSerialNumber = 4711000042\n", serial_alone);
	assert_int_equal(init_token("encoded"), CKR_OK);
	check_cert("4711000042", CKR_OK);
	check_cert("999", CKR_ATTRIBUTE_VALUE_INVALID);
	check_cert(NULL, CKR_OK); /* no subject serialNumber: nothing to compare */
	assert_int_equal(MOCK_CALL(&st, Finalize, NULL), CKR_OK);
	mock_stack_close(&st);
	open_serial("[serial]\nInitToken = true\nCMSCardSerialNumber = 4711000042\n"
	            "CertificateSerialCheck = warn\n",
	            serial_alone);
	check_cert("999", CKR_OK);
}

static void test_switched_off(void **state)
{
	(void)state;
	open_serial("[serial]\nCMSCardSerialNumber = 4711000042\n", serial_alone);
	assert_int_equal(st.n, 1);
	assert_int_equal(init_token("plain"), CKR_OK);
	assert_string_equal(card_object(), "");
	/* A literal bad range fails C_Initialize, not a card. */
	assert_int_equal(MOCK_CALL(&st, Finalize, NULL), CKR_OK);
	mock_stack_close(&st);
	assert_int_equal(mock_stack_open(&st, m, "[serial]\nInitToken = true\nNumberRange = 9-1\n",
	                                 serial_alone),
	                 -1);
	assert_contains(st.err, "9-1");
}

/* Stacked as in production: the serial goes through login, readers and the trace. */
static void test_stacked_production(void **state)
{
	char *trace;

	(void)state;
	open_serial("[trace]\nFile = @DIR@/trace.jsonl\n"
	            "[serial]\nInitToken = true\nCMSCardSerialNumber = 4711000042\n",
	            NULL);
	assert_non_null(mock_stack_layer(&st, "serial"));
	assert_int_equal(init_token("encoded"), CKR_OK);
	assert_string_equal(reported_serial(), "4711000042");
	assert_string_equal(card_object(), "4711000042");
	assert_int_equal(MOCK_CALL(&st, Finalize, NULL), CKR_OK);
	mock_stack_close(&st);
	trace = mock_stack_read(&st, "trace.jsonl");
	assert_contains(trace, "serial: card serial 4711000042 written to the token in slot 52");
	assert_not_contains(trace, SO_PIN);
	free(trace);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_serial_applied_and_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_tokens_keep_their_serial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_serial_nothing_written, setup, teardown),
		cmocka_unit_test_setup_teardown(test_number_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_certificate_serial_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_switched_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stacked_production, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
