/*
 * The eraser layer (src/layers/eraser.c) over the mock backend, alone and
 * stacked as in production: with [eraser] CardEraser = true every token
 * shows one "Card Eraser" object (include/p11shim.h); where the backend
 * has none, a virtual one stands in, read-only, and destroying it destroys
 * every token object the session sees; where the backend has its own, that
 * one is shown and its destruction passes down.
 *
 * The card (mock_world, slot 52) holds two public data objects and a
 * private one (seen only after a user login, PKCS#11 4.4).
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

static const p11_layer_ctor eraser_alone[] = { p11_eraser_layer_new, NULL };

static const CK_OBJECT_CLASS data_class = CKO_DATA;
static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

#define ON "[eraser]\nCardEraser = true\n"

static CK_OBJECT_HANDLE add_data(const char *label, bool private_, bool destroyable)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, (void *)&data_class, sizeof(data_class) },
		{ CKA_TOKEN, (void *)&yes, sizeof(yes) },
		{ CKA_PRIVATE, (void *)(private_ ? &yes : &no), sizeof(yes) },
		{ CKA_DESTROYABLE, (void *)(destroyable ? &yes : &no), sizeof(yes) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};

	return mock_add_object(m, 52, t, 5);
}

static int setup(void **state)
{
	(void)state;
	m = mock_new();
	if (m == NULL || mock_stack_init(&st) != 0)
		return -1;
	mock_world(m);
	add_data("pub1", false, true);
	add_data("pub2", false, true);
	add_data("priv1", true, true);
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

static void open_eraser(const char *conf, const p11_layer_ctor *ctors, CK_FLAGS flags)
{
	if (mock_stack_open(&st, m, conf, ctors) != 0)
		fail_msg("stack: %s", st.err);
	assert_int_equal(MOCK_CALL(&st, Initialize, NULL), CKR_OK);
	assert_int_equal(MOCK_CALL(&st, OpenSession, 52, CKF_SERIAL_SESSION | flags, NULL, NULL, &h),
	                 CKR_OK);
}

/* Searches as a client looks for the Card Eraser; returns how many were found. */
static CK_ULONG find_eraser(CK_OBJECT_HANDLE *out, CK_ULONG max)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, (void *)&data_class, sizeof(data_class) },
		{ CKA_LABEL, (void *)P11SHIM_CARD_ERASER_LABEL,
		  sizeof(P11SHIM_CARD_ERASER_LABEL) - 1 },
	};
	CK_ULONG n = 0;

	assert_int_equal(MOCK_CALL(&st, FindObjectsInit, h, t, 2), CKR_OK);
	assert_int_equal(MOCK_CALL(&st, FindObjects, h, out, max, &n), CKR_OK);
	assert_int_equal(MOCK_CALL(&st, FindObjectsFinal, h), CKR_OK);
	return n;
}

/* Every object a search with an empty template finds. */
static CK_ULONG find_all(void)
{
	CK_OBJECT_HANDLE out[16];
	CK_ULONG n = 0;

	assert_int_equal(MOCK_CALL(&st, FindObjectsInit, h, NULL, 0), CKR_OK);
	assert_int_equal(MOCK_CALL(&st, FindObjects, h, out, 16, &n), CKR_OK);
	assert_int_equal(MOCK_CALL(&st, FindObjectsFinal, h), CKR_OK);
	return n;
}

static void test_virtual_eraser_shown(void **state)
{
	CK_OBJECT_HANDLE e[4];
	char label[32], app[32];
	CK_BBOOL modifiable = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{ CKA_LABEL, label, sizeof(label) },
		{ CKA_APPLICATION, app, sizeof(app) },
		{ CKA_MODIFIABLE, &modifiable, sizeof(modifiable) },
	};
	CK_ATTRIBUTE bad = { CKA_MODULUS, NULL, 0 };

	(void)state;
	open_eraser(ON, eraser_alone, 0);
	assert_int_equal(find_eraser(e, 4), 1);
	/* Not the backend's: the mock holds no such object. */
	assert_int_equal(mock_count_naming(m, "HANDLE", e[0]), 0);
	assert_int_equal(MOCK_CALL(&st, GetAttributeValue, h, e[0], t, 3), CKR_OK);
	assert_int_equal(t[0].ulValueLen, strlen(P11SHIM_CARD_ERASER_LABEL));
	assert_memory_equal(label, P11SHIM_CARD_ERASER_LABEL, t[0].ulValueLen);
	assert_int_equal(t[1].ulValueLen, strlen(P11SHIM_CARD_ERASER_APPLICATION));
	assert_memory_equal(app, P11SHIM_CARD_ERASER_APPLICATION, t[1].ulValueLen);
	assert_int_equal(modifiable, CK_FALSE);
	assert_int_equal(MOCK_CALL(&st, GetAttributeValue, h, e[0], &bad, 1),
	                 CKR_ATTRIBUTE_TYPE_INVALID);
	assert_int_equal(bad.ulValueLen, CK_UNAVAILABLE_INFORMATION);
	/* Read-only: neither changed nor copied, and the backend hears of neither. */
	assert_int_equal(MOCK_CALL(&st, SetAttributeValue, h, e[0], t, 1), CKR_ACTION_PROHIBITED);
	assert_int_equal(MOCK_CALL(&st, CopyObject, h, e[0], NULL, 0, &e[1]), CKR_ACTION_PROHIBITED);
	assert_int_equal(mock_count(m, P11_FN_SetAttributeValue), 0);
	assert_int_equal(mock_count(m, P11_FN_CopyObject), 0);
	/* An empty template matches it too, after the backend's two public objects. */
	assert_int_equal(find_all(), 3);
}

/* Destroying the virtual Card Eraser erases the token. */
static void test_destroy_erases(void **state)
{
	CK_OBJECT_HANDLE e[4];

	(void)state;
	open_eraser(ON, eraser_alone, CKF_RW_SESSION);
	assert_int_equal(find_eraser(e, 4), 1);
	mock_record_clear(m);
	assert_int_equal(MOCK_CALL(&st, DestroyObject, h, e[0]), CKR_OK);
	/* Anonymously: the public objects went, the private one stays (seen only by the user). */
	assert_int_equal(mock_count(m, P11_FN_DestroyObject), 2);
	assert_int_equal(mock_object_count(m, 52), 1);
	assert_non_null(mock_object_attr(m, 52, "priv1", CKA_CLASS, NULL));
	/* The erased token still shows its Card Eraser, and with the user PIN a second erase takes the rest. */
	assert_int_equal(find_eraser(e, 4), 1);
	assert_int_equal(MOCK_CALL(&st, Login, h, CKU_USER, (CK_UTF8CHAR_PTR)MOCK_USER_PIN,
	                           strlen(MOCK_USER_PIN)),
	                 CKR_OK);
	assert_int_equal(MOCK_CALL(&st, DestroyObject, h, e[0]), CKR_OK);
	assert_int_equal(mock_object_count(m, 52), 0);
}

static void test_destroy_refusals(void **state)
{
	CK_OBJECT_HANDLE e[4], found[4];
	CK_ULONG n = 0;

	(void)state;
	/* A read-only session: refused, nothing destroyed. */
	open_eraser(ON, eraser_alone, 0);
	assert_int_equal(find_eraser(e, 4), 1);
	assert_int_equal(MOCK_CALL(&st, DestroyObject, h, e[0]), CKR_SESSION_READ_ONLY);
	assert_int_equal(mock_count(m, P11_FN_DestroyObject), 0);
	assert_int_equal(mock_object_count(m, 52), 3);
	assert_int_equal(MOCK_CALL(&st, CloseSession, h), CKR_OK);

	/* A search open in the session: refused, the search undisturbed. */
	assert_int_equal(MOCK_CALL(&st, OpenSession, 52, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	                           NULL, &h),
	                 CKR_OK);
	assert_int_equal(MOCK_CALL(&st, FindObjectsInit, h, NULL, 0), CKR_OK);
	assert_int_equal(MOCK_CALL(&st, DestroyObject, h, e[0]), CKR_FUNCTION_FAILED);
	assert_int_equal(MOCK_CALL(&st, FindObjects, h, found, 4, &n), CKR_OK);
	assert_int_equal(n, 3);
	assert_int_equal(found[2], e[0]);
	assert_int_equal(MOCK_CALL(&st, FindObjectsFinal, h), CKR_OK);

	/* An object the backend will not destroy: the others go, its rv comes back. */
	add_data("keep-me", false, false);
	assert_int_equal(MOCK_CALL(&st, DestroyObject, h, e[0]), CKR_ACTION_PROHIBITED);
	assert_int_equal(mock_object_count(m, 52), 2); /* keep-me and priv1 */
	assert_non_null(mock_object_attr(m, 52, "keep-me", CKA_CLASS, NULL));
}

/* A token with its own Card Eraser: that one is shown, and its destruction passes down. */
static void test_native_eraser(void **state)
{
	CK_OBJECT_HANDLE e[4], native;
	const mock_call *c;
	uintptr_t obj;

	(void)state;
	native = add_data(P11SHIM_CARD_ERASER_LABEL, false, true);
	open_eraser(ON, eraser_alone, CKF_RW_SESSION);
	assert_int_equal(find_eraser(e, 4), 1);
	assert_int_equal(e[0], native);
	mock_record_clear(m);
	assert_int_equal(MOCK_CALL(&st, DestroyObject, h, native), CKR_OK);
	assert_int_equal(mock_count(m, P11_FN_DestroyObject), 1);
	c = mock_last(m, P11_FN_DestroyObject);
	assert_true(mock_arg_value(c, "HANDLE", 0, &obj));
	assert_int_equal(obj, native);
	/* The native erase is the card's: the mock only destroyed that object. */
	assert_int_equal(mock_object_count(m, 52), 3);
	/* The card's refusal comes back untouched. */
	native = add_data(P11SHIM_CARD_ERASER_LABEL, false, true);
	mock_fail_nth(m, P11_FN_DestroyObject, 1, CKR_USER_NOT_LOGGED_IN);
	assert_int_equal(MOCK_CALL(&st, DestroyObject, h, native), CKR_USER_NOT_LOGGED_IN);
}

static void test_switched_off(void **state)
{
	CK_OBJECT_HANDLE e[4];

	(void)state;
	open_eraser("", eraser_alone, 0);
	assert_int_equal(st.n, 1);
	assert_int_equal(find_eraser(e, 4), 0);
	assert_int_equal(MOCK_CALL(&st, Finalize, NULL), CKR_OK);
	mock_stack_close(&st);
	assert_int_equal(mock_stack_open(&st, m, "[eraser]\nCardEraser = maybe\n", eraser_alone), -1);
	assert_contains(st.err, "CardEraser");
}

/*
 * Stacked as in production: the login layer tells the eraser which
 * credential the erase runs with; the user PIN sees the private objects.
 */
static void test_stacked_production(void **state)
{
	CK_OBJECT_HANDLE e[4];
	char *trace;

	(void)state;
	open_eraser("[trace]\nFile = @DIR@/trace.jsonl\n" ON, NULL, CKF_RW_SESSION);
	assert_non_null(mock_stack_layer(&st, "eraser"));
	assert_int_equal(MOCK_CALL(&st, Login, h, CKU_USER, (CK_UTF8CHAR_PTR)MOCK_USER_PIN,
	                           strlen(MOCK_USER_PIN)),
	                 CKR_OK);
	assert_int_equal(find_eraser(e, 4), 1);
	assert_int_equal(MOCK_CALL(&st, DestroyObject, h, e[0]), CKR_OK);
	assert_int_equal(mock_object_count(m, 52), 0);
	assert_int_equal(MOCK_CALL(&st, Finalize, NULL), CKR_OK);
	mock_stack_close(&st);
	trace = mock_stack_read(&st, "trace.jsonl");
	assert_contains(trace, "eraser: slot 52 erased with the user PIN: 3 token objects destroyed");
	assert_not_contains(trace, MOCK_USER_PIN);
	free(trace);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_virtual_eraser_shown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_erases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_native_eraser, setup, teardown),
		cmocka_unit_test_setup_teardown(test_switched_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stacked_production, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
