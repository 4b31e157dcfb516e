/*
 * Unit tests for src/core/constants.c: the trace relies on sorted tables (binary
 * search) and on the modern name of aliased values (STYLE.md section 7).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "p11-const.h"

/* The lead's public include/p11shim.h must agree with these values. */
_Static_assert(CKU_P11SHIM_PUK == 0x80005031UL, "CKU_P11SHIM_PUK");
_Static_assert(CKU_P11SHIM_OPERATOR_PIN == 0x80005032UL, "CKU_P11SHIM_OPERATOR_PIN");

static const char *const set_prefix[P11_CONST_COUNT] = {
	[P11_CONST_RV] = "CKR_",        [P11_CONST_ATTR] = "CKA_",       [P11_CONST_CLASS] = "CKO_",
	[P11_CONST_MECH] = "CKM_",      [P11_CONST_KEY_TYPE] = "CKK_",   [P11_CONST_USER] = "CKU_",
	[P11_CONST_CERT_TYPE] = "CKC_", [P11_CONST_HW_FEATURE] = "CKH_", [P11_CONST_STATE] = "CKS_",
	[P11_CONST_MGF] = "CKG_MGF1_",  [P11_CONST_KDF] = "CKD_",
};

static void test_tables_sorted(void **state)
{
	size_t count;
	size_t i;
	int set;

	(void)state;
	for (set = 0; set < P11_CONST_COUNT; set++) {
		const p11_const_entry *t = p11_const_table(set, &count);

		assert_non_null(t);
		assert_true(count > 0);
		for (i = 1; i < count; i++) {
			/* strictly ascending: no duplicate values */
			if (t[i - 1].value >= t[i].value)
				fail_msg("set %d: %s (0x%lx) before %s (0x%lx)", set, t[i - 1].name,
				         t[i - 1].value, t[i].name, t[i].value);
		}
	}
	for (set = 0; set < P11_FLAGS_COUNT; set++) {
		const p11_const_entry *t = p11_flags_table(set, &count);

		assert_non_null(t);
		assert_true(count > 0);
		for (i = 0; i < count; i++) {
			/* p11_flags_names relies on one bit per entry */
			assert_true(t[i].value != 0);
			assert_int_equal(t[i].value & (t[i].value - 1), 0);
			assert_int_equal(strncmp(t[i].name, "CKF_", 4), 0);
			if (i > 0 && t[i - 1].value >= t[i].value)
				fail_msg("flags %d: %s before %s", set, t[i - 1].name, t[i].name);
		}
	}
}

/* Every row: right prefix, found by binary search, name round-trips. */
static void test_tables_round_trip(void **state)
{
	CK_ULONG value;
	size_t count;
	size_t i;
	int set;

	(void)state;
	for (set = 0; set < P11_CONST_COUNT; set++) {
		const p11_const_entry *t = p11_const_table(set, &count);
		size_t plen = strlen(set_prefix[set]);

		for (i = 0; i < count; i++) {
			assert_int_equal(strncmp(t[i].name, set_prefix[set], plen), 0);
			assert_string_equal(p11_const_name(set, t[i].value), t[i].name);
			assert_int_equal(p11_const_value(set, t[i].name, &value), 0);
			assert_int_equal(value, t[i].value);
		}
	}
}

/* Rows checked against p11-kit's macros, since the tables use literals. */
static void test_known_values(void **state)
{
	(void)state;
	assert_string_equal(p11_const_name(P11_CONST_RV, CKR_OK), "CKR_OK");
	assert_string_equal(p11_const_name(P11_CONST_RV, CKR_PIN_INCORRECT), "CKR_PIN_INCORRECT");
	assert_string_equal(p11_const_name(P11_CONST_RV, CKR_FUNCTION_REJECTED),
	                    "CKR_FUNCTION_REJECTED");
	assert_string_equal(p11_const_name(P11_CONST_RV, CKR_VENDOR_DEFINED), "CKR_VENDOR_DEFINED");
	assert_string_equal(p11_const_name(P11_CONST_ATTR, CKA_VALUE), "CKA_VALUE");
	assert_string_equal(p11_const_name(P11_CONST_ATTR, CKA_LABEL), "CKA_LABEL");
	assert_string_equal(p11_const_name(P11_CONST_ATTR, CKA_WRAP_TEMPLATE), "CKA_WRAP_TEMPLATE");
	assert_string_equal(p11_const_name(P11_CONST_ATTR, CKA_ALLOWED_MECHANISMS),
	                    "CKA_ALLOWED_MECHANISMS");
	assert_string_equal(p11_const_name(P11_CONST_MECH, CKM_ECDSA), "CKM_ECDSA");
	assert_string_equal(p11_const_name(P11_CONST_MECH, CKM_RSA_PKCS), "CKM_RSA_PKCS");
	assert_string_equal(p11_const_name(P11_CONST_MECH, CKM_EDDSA), "CKM_EDDSA");
	assert_string_equal(p11_const_name(P11_CONST_MECH, CKM_AES_KEY_WRAP_PAD),
	                    "CKM_AES_KEY_WRAP_PAD");
	assert_string_equal(p11_const_name(P11_CONST_USER, CKU_SO), "CKU_SO");
	assert_string_equal(p11_const_name(P11_CONST_USER, CKU_USER), "CKU_USER");
	assert_string_equal(p11_const_name(P11_CONST_USER, CKU_P11SHIM_PUK), "CKU_P11SHIM_PUK");
	assert_string_equal(p11_const_name(P11_CONST_USER, CKU_P11SHIM_OPERATOR_PIN),
	                    "CKU_P11SHIM_OPERATOR_PIN");
	assert_string_equal(p11_const_name(P11_CONST_CLASS, CKO_PRIVATE_KEY), "CKO_PRIVATE_KEY");
	assert_string_equal(p11_const_name(P11_CONST_KEY_TYPE, CKK_EC_EDWARDS), "CKK_EC_EDWARDS");
	assert_string_equal(p11_const_name(P11_CONST_CERT_TYPE, CKC_X_509), "CKC_X_509");
	assert_string_equal(p11_const_name(P11_CONST_HW_FEATURE, CKH_CLOCK), "CKH_CLOCK");
	assert_string_equal(p11_const_name(P11_CONST_STATE, CKS_RW_USER_FUNCTIONS),
	                    "CKS_RW_USER_FUNCTIONS");
	assert_string_equal(p11_const_name(P11_CONST_MGF, CKG_MGF1_SHA224), "CKG_MGF1_SHA224");
	assert_string_equal(p11_const_name(P11_CONST_KDF, CKD_SHA256_KDF), "CKD_SHA256_KDF");
}

/* The modern name wins in value->name; pkcs11-tool prints it too. */
static void test_aliases(void **state)
{
	CK_ULONG value;

	(void)state;
	assert_string_equal(p11_const_name(P11_CONST_KEY_TYPE, CKK_EC), "CKK_EC");
	assert_string_equal(p11_const_name(P11_CONST_KEY_TYPE, CKK_ECDSA), "CKK_EC");
	assert_string_equal(p11_const_name(P11_CONST_ATTR, CKA_ECDSA_PARAMS), "CKA_EC_PARAMS");
	assert_string_equal(p11_const_name(P11_CONST_MECH, CKM_ECDSA_KEY_PAIR_GEN),
	                    "CKM_EC_KEY_PAIR_GEN");
	assert_string_equal(p11_const_name(P11_CONST_MECH, CKM_CAST5_CBC), "CKM_CAST128_CBC");

	value = 0;
	assert_int_equal(p11_const_value(P11_CONST_KEY_TYPE, "CKK_ECDSA", &value), 0);
	assert_int_equal(value, CKK_EC);
	value = 0;
	assert_int_equal(p11_const_value(P11_CONST_KEY_TYPE, "CKK_EC", &value), 0);
	assert_int_equal(value, CKK_EC);
	value = 0;
	assert_int_equal(p11_const_value(P11_CONST_ATTR, "CKA_ECDSA_PARAMS", &value), 0);
	assert_int_equal(value, CKA_EC_PARAMS);
	value = 0;
	assert_int_equal(p11_const_value(P11_CONST_MECH, "CKM_ECDSA_KEY_PAIR_GEN", &value), 0);
	assert_int_equal(value, CKM_EC_KEY_PAIR_GEN);
	value = 0;
	assert_int_equal(p11_const_value(P11_CONST_MECH, "CKM_PBE_SHA1_CAST5_CBC", &value), 0);
	assert_int_equal(value, CKM_PBE_SHA1_CAST128_CBC);
}

static void test_unknown(void **state)
{
	CK_ULONG value = 42;
	size_t count = 42;

	(void)state;
	assert_null(p11_const_name(P11_CONST_RV, 0x4UL));
	assert_null(p11_const_name(P11_CONST_RV, CKR_VENDOR_DEFINED + 1));
	assert_null(p11_const_name(P11_CONST_ATTR, 0x7fffffffUL));
	assert_null(p11_const_name(P11_CONST_MECH, CKM_VENDOR_DEFINED | 0x1234));
	assert_null(p11_const_name(P11_CONST_USER, 3));
	assert_null(p11_const_name(P11_CONST_COUNT, 0));
	assert_null(p11_const_name((p11_const_set)-1, 0));

	/* exact and case-sensitive, within the given set only */
	assert_int_equal(p11_const_value(P11_CONST_MECH, "ckm_ecdsa", &value), -1);
	assert_int_equal(p11_const_value(P11_CONST_MECH, "CKM_ECDSA_", &value), -1);
	assert_int_equal(p11_const_value(P11_CONST_MECH, "CKM_ECDS", &value), -1);
	assert_int_equal(p11_const_value(P11_CONST_ATTR, "CKR_OK", &value), -1);
	assert_int_equal(p11_const_value(P11_CONST_RV, NULL, &value), -1);
	assert_int_equal(p11_const_value(P11_CONST_RV, "CKR_OK", NULL), -1);
	assert_int_equal(p11_const_value(P11_CONST_COUNT, "CKR_OK", &value), -1);
	assert_int_equal(value, 42);

	assert_null(p11_const_table(P11_CONST_COUNT, &count));
	assert_int_equal(count, 0);
	count = 42;
	assert_null(p11_flags_table(P11_FLAGS_COUNT, &count));
	assert_int_equal(count, 0);
}

struct emitted {
	char text[512];
	int calls;
	int rest_calls;
	CK_FLAGS rest;
};

static void record(void *ctx, const char *name, CK_FLAGS rest)
{
	struct emitted *e = ctx;
	size_t len = strlen(e->text);

	e->calls++;
	if (name == NULL) {
		e->rest_calls++;
		e->rest = rest;
		name = "?";
	}
	snprintf(e->text + len, sizeof(e->text) - len, "%s%s", len ? "|" : "", name);
}

static void test_flags(void **state)
{
	struct emitted e;
	size_t n;

	(void)state;
	/* ascending bit order, whatever order the caller ORs them */
	memset(&e, 0, sizeof(e));
	n = p11_flags_names(P11_FLAGS_TOKEN,
	                    CKF_TOKEN_INITIALIZED | CKF_RNG | CKF_USER_PIN_INITIALIZED |
	                            CKF_LOGIN_REQUIRED,
	                    record, &e);
	assert_int_equal(n, 4);
	assert_string_equal(e.text, "CKF_RNG|CKF_LOGIN_REQUIRED|"
	                            "CKF_USER_PIN_INITIALIZED|"
	                            "CKF_TOKEN_INITIALIZED");
	assert_int_equal(e.rest_calls, 0);

	/* unknown bits: one NULL call, last, with the remainder */
	memset(&e, 0, sizeof(e));
	n = p11_flags_names(P11_FLAGS_SESSION,
	                    CKF_SERIAL_SESSION | CKF_RW_SESSION | 0x1UL | 0x100UL, record, &e);
	assert_int_equal(n, 2);
	assert_int_equal(e.calls, 3);
	assert_int_equal(e.rest_calls, 1);
	assert_int_equal(e.rest, 0x101UL);
	assert_string_equal(e.text, "CKF_RW_SESSION|CKF_SERIAL_SESSION|?");

	/* only unknown bits: no name, one remainder call */
	memset(&e, 0, sizeof(e));
	n = p11_flags_names(P11_FLAGS_SLOT, 0x80UL, record, &e);
	assert_int_equal(n, 0);
	assert_int_equal(e.calls, 1);
	assert_int_equal(e.rest, 0x80UL);

	/* no flags: no call at all */
	memset(&e, 0, sizeof(e));
	assert_int_equal(p11_flags_names(P11_FLAGS_MECH, 0, record, &e), 0);
	assert_int_equal(e.calls, 0);

	memset(&e, 0, sizeof(e));
	n = p11_flags_names(P11_FLAGS_MECH, CKF_EXTENSION | CKF_EC_COMPRESS | CKF_SIGN | CKF_HW,
	                    record, &e);
	assert_int_equal(n, 4);
	assert_string_equal(e.text, "CKF_HW|CKF_SIGN|CKF_EC_COMPRESS|CKF_EXTENSION");

	/* v2.40 bits that p11-kit 0.24's header lacks */
	memset(&e, 0, sizeof(e));
	n = p11_flags_names(P11_FLAGS_TOKEN, 0x01000000UL, record, &e);
	assert_int_equal(n, 1);
	assert_string_equal(e.text, "CKF_ERROR_STATE");

	memset(&e, 0, sizeof(e));
	n = p11_flags_names(P11_FLAGS_INIT, CKF_OS_LOCKING_OK, record, &e);
	assert_int_equal(n, 1);
	assert_string_equal(e.text, "CKF_OS_LOCKING_OK");
	memset(&e, 0, sizeof(e));
	n = p11_flags_names(P11_FLAGS_WAIT, CKF_DONT_BLOCK, record, &e);
	assert_int_equal(n, 1);
	assert_string_equal(e.text, "CKF_DONT_BLOCK");

	/* NULL emit only counts; unknown set emits nothing */
	assert_int_equal(p11_flags_names(P11_FLAGS_SLOT, CKF_TOKEN_PRESENT | CKF_HW_SLOT | 0x8UL,
	                                 NULL, NULL),
	                 2);
	memset(&e, 0, sizeof(e));
	assert_int_equal(p11_flags_names(P11_FLAGS_COUNT, 0x3UL, record, &e), 0);
	assert_int_equal(e.calls, 0);
}

static void test_attr_kinds(void **state)
{
	p11_const_set names;

	(void)state;
	assert_int_equal(p11_attr_kind_of(CKA_TOKEN, &names), P11_ATTR_BOOL);
	assert_int_equal(names, P11_CONST_COUNT);
	assert_int_equal(p11_attr_kind_of(CKA_SENSITIVE, NULL), P11_ATTR_BOOL);

	assert_int_equal(p11_attr_kind_of(CKA_CLASS, &names), P11_ATTR_ULONG);
	assert_int_equal(names, P11_CONST_CLASS);
	assert_int_equal(p11_attr_kind_of(CKA_KEY_TYPE, &names), P11_ATTR_ULONG);
	assert_int_equal(names, P11_CONST_KEY_TYPE);
	assert_int_equal(p11_attr_kind_of(CKA_CERTIFICATE_TYPE, &names), P11_ATTR_ULONG);
	assert_int_equal(names, P11_CONST_CERT_TYPE);
	assert_int_equal(p11_attr_kind_of(CKA_HW_FEATURE_TYPE, &names), P11_ATTR_ULONG);
	assert_int_equal(names, P11_CONST_HW_FEATURE);
	assert_int_equal(p11_attr_kind_of(CKA_KEY_GEN_MECHANISM, &names), P11_ATTR_ULONG);
	assert_int_equal(names, P11_CONST_MECH);
	names = P11_CONST_RV;
	assert_int_equal(p11_attr_kind_of(CKA_MODULUS_BITS, &names), P11_ATTR_ULONG);
	assert_int_equal(names, P11_CONST_COUNT);
	assert_int_equal(p11_attr_kind_of(CKA_VALUE_LEN, &names), P11_ATTR_ULONG);
	assert_int_equal(names, P11_CONST_COUNT);

	assert_int_equal(p11_attr_kind_of(CKA_LABEL, NULL), P11_ATTR_STRING);
	assert_int_equal(p11_attr_kind_of(CKA_APPLICATION, NULL), P11_ATTR_STRING);
	assert_int_equal(p11_attr_kind_of(CKA_URL, NULL), P11_ATTR_STRING);
	assert_int_equal(p11_attr_kind_of(CKA_START_DATE, NULL), P11_ATTR_DATE);
	assert_int_equal(p11_attr_kind_of(CKA_END_DATE, NULL), P11_ATTR_DATE);
	assert_int_equal(p11_attr_kind_of(CKA_WRAP_TEMPLATE, NULL), P11_ATTR_ATTRS);
	assert_int_equal(p11_attr_kind_of(CKA_UNWRAP_TEMPLATE, NULL), P11_ATTR_ATTRS);
	assert_int_equal(p11_attr_kind_of(CKA_DERIVE_TEMPLATE, NULL), P11_ATTR_ATTRS);
	assert_int_equal(p11_attr_kind_of(CKA_ALLOWED_MECHANISMS, NULL), P11_ATTR_MECHS);

	names = P11_CONST_RV;
	assert_int_equal(p11_attr_kind_of(CKA_VALUE, &names), P11_ATTR_BYTES);
	assert_int_equal(names, P11_CONST_COUNT);
	assert_int_equal(p11_attr_kind_of(CKA_ID, NULL), P11_ATTR_BYTES);
	assert_int_equal(p11_attr_kind_of(CKA_EC_PARAMS, NULL), P11_ATTR_BYTES);
	assert_int_equal(p11_attr_kind_of(CKA_MODULUS, NULL), P11_ATTR_BYTES);
	assert_int_equal(p11_attr_kind_of(CKA_VENDOR_DEFINED | 0x1, NULL), P11_ATTR_BYTES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables_sorted), cmocka_unit_test(test_tables_round_trip),
		cmocka_unit_test(test_known_values),  cmocka_unit_test(test_aliases),
		cmocka_unit_test(test_unknown),       cmocka_unit_test(test_flags),
		cmocka_unit_test(test_attr_kinds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
