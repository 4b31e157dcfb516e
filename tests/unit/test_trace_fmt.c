/*
 * Unit tests for src/trace/format.c (include/p11-trace.h): the record builder
 * and each argument-kind formatter, in JSON and text; redaction of PINs and
 * secret attribute values; NULL pointers and impossible lengths described,
 * never read (a pointer of (void *)1 crashes the test if it is read).
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

#include "json-check.h"
#include "p11-const.h"
#include "p11-trace.h"

#define BAD_PTR ((void *)1)
#define HUGE_LEN ((CK_ULONG)1 << 30) /* impossible, on 32 and 64 bits */

static p11_tb tb;
static char storage[64]; /* small: most records grow past it */
static char *out;        /* the last rendering, freed by the next one */

static int group_setup(void **state)
{
	(void)state;
	out = NULL;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	free(out);
	out = NULL;
	return 0;
}

/* The text with bytes outside printable ASCII as \xNN, for messages. */
static const char *printable(const char *s)
{
	static char buf[4096];
	size_t o = 0;

	for (; *s != '\0' && o + 5 < sizeof(buf); s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c < 0x7f)
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\x%02x", c);
	}
	buf[o] = '\0';
	return buf;
}

/* A JSON record is an object around the formatters' members; text is bare. */
static p11_tb *begin(p11_format format, p11_data data)
{
	p11_tb_init(&tb, storage, sizeof(storage), format, data);
	if (format == P11_FMT_JSONL)
		p11_tb_open(&tb, '{');
	return &tb;
}

static const char *end(void)
{
	if (tb.format == P11_FMT_JSONL)
		p11_tb_close(&tb, '}');
	assert_false(tb.failed);
	free(out);
	out = malloc(tb.len + 1);
	assert_non_null(out);
	memcpy(out, tb.p, tb.len);
	out[tb.len] = '\0';
	p11_tb_free(&tb);
	if (tb.format == P11_FMT_JSONL && !json_is_object(out, strlen(out)))
		fail_msg("not one valid JSON object: %s", printable(out));
	return out;
}

#define J(data) begin(P11_FMT_JSONL, data)
#define T(data) begin(P11_FMT_TEXT, data)

/* memmem, without _GNU_SOURCE. */
static const void *find(const void *hay, size_t n, const void *needle, size_t m)
{
	const char *h = hay;
	size_t i;

	for (i = 0; m <= n && i <= n - m; i++)
		if (memcmp(h + i, needle, m) == 0)
			return h + i;
	return NULL;
}

/* No byte of the secret in any form: raw, or hex in either case. */
static void assert_secret_absent(const char *text, const unsigned char *secret, size_t n)
{
	char lower[256], upper[256];
	size_t i;

	assert_true(n * 2 < sizeof(lower));
	for (i = 0; i < n; i++) {
		snprintf(lower + 2 * i, 3, "%02x", secret[i]);
		snprintf(upper + 2 * i, 3, "%02X", secret[i]);
	}
	if (find(text, strlen(text), secret, n) != NULL)
		fail_msg("secret bytes in: %s", text);
	/* Any 3 bytes of it in hex would already be a leak. */
	for (i = 0; i + 3 <= n; i++) {
		if (find(text, strlen(text), lower + 2 * i, 6) != NULL ||
		    find(text, strlen(text), upper + 2 * i, 6) != NULL)
			fail_msg("secret bytes in hex in: %s", text);
	}
}

/* ---- the JSON checker itself: the other tests rely on it ---- */

#define JS(s) (s), strlen(s)

static void test_json_checker(void **state)
{
	static const char *const good[] = {
		"{}",
		" {\"a\":1} \n",
		"{\"a\":[1,2,{\"b\":null}],\"c\":\"x\\\"y\\\\\\u00e9\\n\",\"d\":true,\"e\":false}",
		"{\"a\":-1.5e+3,\"b\":0,\"c\":0.25,\"d\":[]}",
		"{\"caf\xc3\xa9\":\"\xe2\x82\xac \xf0\x9f\x94\x91\"}",
	};
	static const char *const bad[] = {
		"",
		"{",
		"}",
		"[1]",
		"\"a\"",
		"{\"a\":1,}",
		"{\"a\" 1}",
		"{a:1}",
		"{\"a\":01}",
		"{\"a\":1.}",
		"{\"a\":+1}",
		"{\"a\":tru}",
		"{\"a\":\"\x01\"}",
		"{\"a\":\"\\q\"}",
		"{\"a\":\"\\u12g4\"}",
		"{\"a\":1} x",
		"{\"a\":1}{\"b\":2}",
		"{\"a\":[1,2}",
		"{\"a\":\"\xff\"}",
		"{\"a\":\"\xc3\"}",
		"{\"a\":\"\xc0\xaf\"}",
		"{\"a\":\"\xed\xa0\x80\"}",
		"{\"a\":\"unterminated}",
	};
	char keys[64];
	unsigned long v;
	const char *val;
	size_t len, i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!json_is_objectz(good[i]))
			fail_msg("refused: %s", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (json_is_objectz(bad[i]))
			fail_msg("accepted: %s", bad[i]);

	assert_true(json_keys(JS("{\"ts\":1,\"b\":{\"x\":1},\"c\":[{\"y\":2}]}"), keys, sizeof(keys)));
	assert_string_equal(keys, "ts,b,c");
	assert_false(json_keys(JS("{\"abc\":1}"), keys, 3));
	assert_true(json_member(JS("{\"a\":{\"b\":\"c\"},\"d\":\"e\"}"), "a", &val, &len));
	assert_int_equal(len, 9);
	assert_memory_equal(val, "{\"b\":\"c\"}", 9);
	assert_false(json_member(JS("{\"a\":{\"b\":1}}"), "b", &val, &len));
	assert_true(json_member_ulong(JS("{\"seq\":123}"), "seq", &v));
	assert_int_equal(v, 123);
	assert_false(json_member_ulong(JS("{\"seq\":\"1\"}"), "seq", &v));
	assert_true(json_member_is(JS("{\"rv\":\"CKR_OK\"}"), "rv", "\"CKR_OK\""));
	assert_false(json_member_is(JS("{\"rv\":\"CKR_OK\"}"), "rv", "\"CKR\""));
}

/* ---- scalars ---- */

static void test_ulong_bool(void **state)
{
	char expect[128];

	(void)state;
	tf_ulong(J(P11_DATA_LENGTH), "slotID", 52);
	tf_ulong(&tb, "max", (CK_ULONG)-1);
	tf_bool(&tb, "tokenPresent", CK_TRUE);
	tf_bool(&tb, "other", 2); /* any non-zero is true */
	tf_bool(&tb, "no", CK_FALSE);
	snprintf(expect, sizeof(expect),
	         "{\"slotID\":52,\"max\":%lu,\"tokenPresent\":true,"
	         "\"other\":true,\"no\":false}",
	         (unsigned long)(CK_ULONG)-1);
	assert_string_equal(end(), expect);

	tf_ulong(T(P11_DATA_LENGTH), "slotID", 52);
	tf_bool(&tb, "tokenPresent", CK_FALSE);
	assert_string_equal(end(), "slotID=52, tokenPresent=false");
}

static void test_const(void **state)
{
	(void)state;
	tf_const(J(P11_DATA_LENGTH), "userType", P11_CONST_USER, CKU_SO);
	tf_const(&tb, "type", P11_CONST_MECH, CKM_ECDSA);
	tf_const(&tb, "odd", P11_CONST_USER, 0x12345);
	tf_const(&tb, "vendor", P11_CONST_MECH, 0x80001234UL);
	assert_string_equal(end(),
	                    "{\"userType\":\"CKU_SO\",\"type\":\"CKM_ECDSA\",\"odd\":\"0x12345\","
	                    "\"vendor\":\"0x80001234\"}");

	tf_const(T(P11_DATA_LENGTH), "userType", P11_CONST_USER, CKU_USER);
	tf_const(&tb, "odd", P11_CONST_USER, 0x12345);
	assert_string_equal(end(), "userType=CKU_USER, odd=0x12345");

	assert_string_equal(p11_rv_str(CKR_OK), "CKR_OK");
	assert_string_equal(p11_rv_str(CKR_PIN_INCORRECT), "CKR_PIN_INCORRECT");
	assert_string_equal(p11_rv_str(0x8000abcdUL), "0x8000abcd");
}

static void test_flags(void **state)
{
	(void)state;
	tf_flags(J(P11_DATA_LENGTH), "flags", P11_FLAGS_SESSION, CKF_RW_SESSION | CKF_SERIAL_SESSION);
	tf_flags(&tb, "none", P11_FLAGS_SESSION, 0);
	tf_flags(&tb, "odd", P11_FLAGS_SESSION, CKF_SERIAL_SESSION | 0x100 | 0x80000000UL);
	assert_string_equal(end(), "{\"flags\":[\"CKF_RW_SESSION\",\"CKF_SERIAL_SESSION\"],\"none\":[],"
	                           "\"odd\":[\"CKF_SERIAL_SESSION\",\"0x80000100\"]}");

	tf_flags(T(P11_DATA_LENGTH), "flags", P11_FLAGS_SESSION,
	         CKF_RW_SESSION | CKF_SERIAL_SESSION | 0x100);
	assert_string_equal(end(), "flags=[CKF_RW_SESSION, CKF_SERIAL_SESSION, 0x100]");
}

static void test_ptr_and_init_args(void **state)
{
	CK_C_INITIALIZE_ARGS args = { 0 };

	(void)state;
	tf_ptr_present(J(P11_DATA_LENGTH), "pApplication", BAD_PTR);
	tf_ptr_present(&tb, "pReserved", NULL);
	assert_string_equal(end(), "{\"pApplication\":\"set\",\"pReserved\":null}");

	args.flags = CKF_OS_LOCKING_OK;
	tf_init_args(J(P11_DATA_LENGTH), "pInitArgs", &args);
	tf_init_args(&tb, "none", NULL);
	assert_string_equal(end(), "{\"pInitArgs\":{\"flags\":[\"CKF_OS_LOCKING_OK\"],"
	                           "\"CreateMutex\":null,\"DestroyMutex\":null,\"LockMutex\":null,"
	                           "\"UnlockMutex\":null,\"pReserved\":null},\"none\":null}");
}

/* ---- secrets given by the client ---- */

static void test_pin(void **state)
{
	static const unsigned char pin[] = "S3cr3t-PIN-9876";
	static const p11_data modes[] = { P11_DATA_NONE, P11_DATA_LENGTH, P11_DATA_HEX };
	char expect[128];
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		tf_pin(J(modes[i]), "pPin", (CK_UTF8CHAR_PTR)pin, 15);
		tf_pin(&tb, "pOldPin", (CK_UTF8CHAR_PTR)pin, 4);
		assert_string_equal(end(), "{\"pPin\":\"<redacted 15 bytes>\","
		                           "\"pOldPin\":\"<redacted 4 bytes>\"}");
		assert_secret_absent(out, pin, 15);

		tf_pin(T(modes[i]), "pPin", (CK_UTF8CHAR_PTR)pin, 15);
		assert_string_equal(end(), "pPin=\"<redacted 15 bytes>\"");
		assert_secret_absent(out, pin, 15);
	}

	/* Protected authentication path: NULL, shown as such. */
	tf_pin(J(P11_DATA_HEX), "pPin", NULL, 0);
	assert_string_equal(end(), "{\"pPin\":null}");

	/* An impossible length is only a number: the bytes are never read. */
	tf_pin(J(P11_DATA_HEX), "pPin", BAD_PTR, (CK_ULONG)-1);
	snprintf(expect, sizeof(expect), "{\"pPin\":\"<redacted %lu bytes>\"}",
	         (unsigned long)(CK_ULONG)-1);
	assert_string_equal(end(), expect);
}

static void test_label(void **state)
{
	CK_UTF8CHAR label[32], odd[32];

	(void)state;
	memset(label, ' ', sizeof(label));
	memcpy(label, "My Token", 8);
	memset(odd, ' ', sizeof(odd));
	memcpy(odd, "a\"b\\c\x01\xff", 7);

	tf_label(J(P11_DATA_LENGTH), "pLabel", label);
	tf_label(&tb, "none", NULL);
	tf_label(&tb, "odd", odd);
	/* Not UTF-8 (0xff): U+FFFD in the text, the bytes beside as hex. */
	assert_string_equal(end(),
	                    "{\"pLabel\":\"My Token\",\"none\":null,"
	                    "\"odd\":\"a\\\"b\\\\c\\u0001\\ufffd\",\"odd_hex\":\"6122625c6301ff\"}");

	tf_label(T(P11_DATA_LENGTH), "pLabel", label);
	tf_label(&tb, "none", NULL);
	assert_string_equal(end(), "pLabel=\"My Token\", none=NULL");

	/* A plain word stays bare in text. */
	memset(label, ' ', sizeof(label));
	memcpy(label, "Token1", 6);
	tf_label(T(P11_DATA_LENGTH), "pLabel", label);
	assert_string_equal(end(), "pLabel=Token1");

	/* Issue 14, item 5: a C1 CSI and a bidi override are \u escapes, so cat of a trace obeys none. */
	memset(label, ' ', sizeof(label));
	memcpy(label,
	       "C1\xc2\x9b"
	       "2J\xe2\x80\xae"
	       "x\xc3\xa9",
	       13);
	tf_label(J(P11_DATA_LENGTH), "pLabel", label);
	assert_string_equal(end(), "{\"pLabel\":\"C1\\u009b2J\\u202ex\xc3\xa9\"}");
}

static void test_mech(void **state)
{
	CK_BYTE param[3] = { 0x01, 0x02, 0x03 };
	CK_MECHANISM ecdsa = { CKM_ECDSA, NULL, 0 };
	CK_MECHANISM pss = { CKM_SHA256_RSA_PKCS_PSS, param, sizeof(param) };
	CK_MECHANISM vendor = { 0x80001234UL, NULL, 0 };
	CK_MECHANISM lying = { CKM_AES_CBC, NULL, 16 };

	(void)state;
	tf_mech(J(P11_DATA_LENGTH), "pMechanism", &ecdsa);
	tf_mech(&tb, "none", NULL);
	assert_string_equal(end(), "{\"pMechanism\":{\"mechanism\":\"CKM_ECDSA\",\"parameter\":null},"
	                           "\"none\":null}");

	tf_mech(J(P11_DATA_LENGTH), "pMechanism", &pss);
	assert_string_equal(end(), "{\"pMechanism\":{\"mechanism\":\"CKM_SHA256_RSA_PKCS_PSS\","
	                           "\"parameter\":{\"len\":3}}}");
	tf_mech(J(P11_DATA_HEX), "pMechanism", &pss);
	assert_string_equal(end(), "{\"pMechanism\":{\"mechanism\":\"CKM_SHA256_RSA_PKCS_PSS\","
	                           "\"parameter\":{\"len\":3,\"hex\":\"010203\"}}}");
	tf_mech(J(P11_DATA_HEX), "pMechanism", &vendor);
	assert_string_equal(end(),
	                    "{\"pMechanism\":{\"mechanism\":\"0x80001234\",\"parameter\":null}}");
	/* A NULL parameter with a length: NULL, not read. */
	tf_mech(J(P11_DATA_HEX), "pMechanism", &lying);
	assert_string_equal(end(),
	                    "{\"pMechanism\":{\"mechanism\":\"CKM_AES_CBC\",\"parameter\":null}}");

	tf_mech(T(P11_DATA_LENGTH), "pMechanism", &pss);
	assert_string_equal(end(),
	                    "pMechanism={mechanism=CKM_SHA256_RSA_PKCS_PSS, parameter={len=3}}");
}

static void test_bytes(void **state)
{
	CK_BYTE data[4] = { 0xde, 0xad, 0xbe, 0xef };

	(void)state;
	/* Data = none: a buffer is left out; a NULL one is still shown. */
	tf_bytes(J(P11_DATA_NONE), "pData", data, 4, false);
	tf_bytes(&tb, "pNull", NULL, 4, false);
	assert_string_equal(end(), "{\"pNull\":null}");

	tf_bytes(J(P11_DATA_LENGTH), "pData", data, 4, false);
	tf_bytes(&tb, "pSecret", data, 4, true);
	tf_bytes(&tb, "pHuge", BAD_PTR, HUGE_LEN, false);
	assert_string_equal(end(), "{\"pData\":{\"len\":4},\"pSecret\":{\"len\":4},"
	                           "\"pHuge\":{\"len\":1073741824}}");

	tf_bytes(J(P11_DATA_HEX), "pData", data, 4, false);
	tf_bytes(&tb, "pEmpty", data, 0, false);
	assert_string_equal(end(), "{\"pData\":{\"len\":4,\"hex\":\"deadbeef\"},"
	                           "\"pEmpty\":{\"len\":0,\"hex\":\"\"}}");

	/* A secret buffer (plaintext to encrypt, a seed) never shows its bytes. */
	tf_bytes(J(P11_DATA_HEX), "pData", data, 4, true);
	assert_string_equal(end(), "{\"pData\":{\"len\":4}}");
	assert_secret_absent(out, data, 4);
	tf_bytes(J(P11_DATA_HEX), "pHuge", BAD_PTR, HUGE_LEN, true);
	assert_string_equal(end(), "{\"pHuge\":{\"len\":1073741824}}");

	tf_bytes(T(P11_DATA_HEX), "pData", data, 4, false);
	assert_string_equal(end(), "pData={len=4, hex=deadbeef}");
}

static void test_hex_truncated(void **state)
{
	static CK_BYTE big[P11_TRACE_MAX_HEX + 904];
	const char *hex;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(big); i++)
		big[i] = (CK_BYTE)i;
	tf_bytes(J(P11_DATA_HEX), "pData", big, sizeof(big), false);
	end();
	assert_contains(out, "{\"pData\":{\"len\":5000,\"hex\":\"000102");
	hex = strstr(out, "\"hex\":\"") + 7;
	/* Exactly the first P11_TRACE_MAX_HEX bytes, then "...". */
	assert_int_equal(strlen(hex), 2 * P11_TRACE_MAX_HEX + 3 + 3);
	assert_memory_equal(hex + 2 * P11_TRACE_MAX_HEX, "...\"}}", 6);
	assert_memory_equal(hex + 2 * P11_TRACE_MAX_HEX - 2, "ff", 2);

	/* Exactly the limit: no "...". */
	tf_bytes(J(P11_DATA_HEX), "pData", big, P11_TRACE_MAX_HEX, false);
	end();
	assert_not_contains(out, "...");
}

static void test_buf_cap(void **state)
{
	CK_BYTE buf[64];
	CK_ULONG cap = sizeof(buf);

	(void)state;
	tf_buf_cap(J(P11_DATA_LENGTH), "pSignature", buf, &cap);
	tf_buf_cap(&tb, "query", NULL, &cap);
	tf_buf_cap(&tb, "nolen", buf, NULL);
	assert_string_equal(end(),
	                    "{\"pSignature\":{\"cap\":64},\"query\":null,\"nolen\":{\"cap\":null}}");

	tf_buf_cap(T(P11_DATA_LENGTH), "pSignature", buf, &cap);
	assert_string_equal(end(), "pSignature={cap=64}");
}

/* ---- templates ---- */

#define ATTR(t, v)                             \
	{                                      \
		(t), (void *)(v), sizeof(*(v)) \
	}
#define ATTR_N(t, p, n)               \
	{                             \
		(t), (void *)(p), (n) \
	}

static CK_OBJECT_CLASS cls_private = CKO_PRIVATE_KEY, cls_secret = CKO_SECRET_KEY,
                       cls_cert = CKO_CERTIFICATE, cls_public = CKO_PUBLIC_KEY, cls_data = CKO_DATA,
                       cls_vendor = 0x80000001UL;
static CK_KEY_TYPE kt_rsa = CKK_RSA, kt_aes = CKK_AES;
static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static CK_ULONG value_len = 16, bits = 2048;
static unsigned char s_priv[] = { 0x5e, 0xc4, 0xe7, 0x11, 0x22, 0x33, 0x44 };
static unsigned char s_p1[] = { 0xa1, 0xb2, 0xc3, 0xd4 };
static unsigned char s_p2[] = { 0xa2, 0xb3, 0xc4, 0xd5 };
static unsigned char s_e1[] = { 0xa3, 0xb4, 0xc5, 0xd6 };
static unsigned char s_e2[] = { 0xa4, 0xb5, 0xc6, 0xd7 };
static unsigned char s_co[] = { 0xa5, 0xb6, 0xc7, 0xd8 };
static unsigned char s_key[] = { 0x0b, 0xad, 0xca, 0xfe, 0x01, 0x23, 0x45, 0x67,
	                         0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98 };
static unsigned char modulus[] = { 0xc0, 0xff, 0xee };
static unsigned char pubexp[] = { 0x01, 0x00, 0x01 };
static unsigned char id[] = { 0x01, 0x02 };

static void check_all_secrets_absent(void)
{
	assert_secret_absent(out, s_priv, sizeof(s_priv));
	assert_secret_absent(out, s_p1, sizeof(s_p1));
	assert_secret_absent(out, s_p2, sizeof(s_p2));
	assert_secret_absent(out, s_e1, sizeof(s_e1));
	assert_secret_absent(out, s_e2, sizeof(s_e2));
	assert_secret_absent(out, s_co, sizeof(s_co));
	assert_secret_absent(out, s_key, sizeof(s_key));
}

static void test_attrs_private_key(void **state)
{
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_CLASS, &cls_private),
		ATTR(CKA_KEY_TYPE, &kt_rsa),
		ATTR(CKA_TOKEN, &yes),
		ATTR(CKA_SENSITIVE, &no),
		ATTR_N(CKA_LABEL, "my key", 6),
		ATTR_N(CKA_ID, id, sizeof(id)),
		ATTR_N(CKA_MODULUS, modulus, sizeof(modulus)),
		ATTR_N(CKA_PUBLIC_EXPONENT, pubexp, sizeof(pubexp)),
		ATTR_N(CKA_PRIVATE_EXPONENT, s_priv, sizeof(s_priv)),
		ATTR_N(CKA_PRIME_1, s_p1, sizeof(s_p1)),
		ATTR_N(CKA_PRIME_2, s_p2, sizeof(s_p2)),
		ATTR_N(CKA_EXPONENT_1, s_e1, sizeof(s_e1)),
		ATTR_N(CKA_EXPONENT_2, s_e2, sizeof(s_e2)),
		ATTR_N(CKA_COEFFICIENT, s_co, sizeof(s_co)),
		ATTR_N(CKA_VALUE, s_key, sizeof(s_key)), /* an EC private key's value */
	};
	static const p11_data modes[] = { P11_DATA_NONE, P11_DATA_LENGTH, P11_DATA_HEX };
	size_t i;

	(void)state;
	tf_attrs(J(P11_DATA_HEX), "pTemplate", t, sizeof(t) / sizeof(t[0]));
	assert_string_equal(end(),
	                    "{\"pTemplate\":["
	                    "{\"type\":\"CKA_CLASS\",\"value\":\"CKO_PRIVATE_KEY\"},"
	                    "{\"type\":\"CKA_KEY_TYPE\",\"value\":\"CKK_RSA\"},"
	                    "{\"type\":\"CKA_TOKEN\",\"value\":true},"
	                    "{\"type\":\"CKA_SENSITIVE\",\"value\":false},"
	                    "{\"type\":\"CKA_LABEL\",\"value\":\"my key\"},"
	                    "{\"type\":\"CKA_ID\",\"value\":\"0102\"},"
	                    "{\"type\":\"CKA_MODULUS\",\"value\":\"c0ffee\"},"
	                    "{\"type\":\"CKA_PUBLIC_EXPONENT\",\"value\":\"010001\"},"
	                    "{\"type\":\"CKA_PRIVATE_EXPONENT\",\"value\":\"<redacted 7 bytes>\"},"
	                    "{\"type\":\"CKA_PRIME_1\",\"value\":\"<redacted 4 bytes>\"},"
	                    "{\"type\":\"CKA_PRIME_2\",\"value\":\"<redacted 4 bytes>\"},"
	                    "{\"type\":\"CKA_EXPONENT_1\",\"value\":\"<redacted 4 bytes>\"},"
	                    "{\"type\":\"CKA_EXPONENT_2\",\"value\":\"<redacted 4 bytes>\"},"
	                    "{\"type\":\"CKA_COEFFICIENT\",\"value\":\"<redacted 4 bytes>\"},"
	                    "{\"type\":\"CKA_VALUE\",\"value\":\"<redacted 16 bytes>\"}]}");
	check_all_secrets_absent();

	/* Whatever Data says, and in text too. */
	for (i = 0; i < 3; i++) {
		tf_attrs(J(modes[i]), "pTemplate", t, sizeof(t) / sizeof(t[0]));
		end();
		check_all_secrets_absent();
		tf_attrs(T(modes[i]), "pTemplate", t, sizeof(t) / sizeof(t[0]));
		end();
		check_all_secrets_absent();
		assert_contains(out, "{type=CKA_VALUE, value=\"<redacted 16 bytes>\"}");
	}

	/* The class may come after the value. */
	{
		CK_ATTRIBUTE late[] = {
			ATTR_N(CKA_VALUE, s_key, sizeof(s_key)),
			ATTR(CKA_CLASS, &cls_private),
		};
		tf_attrs(J(P11_DATA_HEX), "pTemplate", late, 2);
		assert_string_equal(end(),
		                    "{\"pTemplate\":["
		                    "{\"type\":\"CKA_VALUE\",\"value\":\"<redacted 16 bytes>\"},"
		                    "{\"type\":\"CKA_CLASS\",\"value\":\"CKO_PRIVATE_KEY\"}]}");
	}
}

static void test_attrs_secret_key(void **state)
{
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_CLASS, &cls_secret),
		ATTR(CKA_KEY_TYPE, &kt_aes),
		ATTR(CKA_VALUE_LEN, &value_len),
		ATTR_N(CKA_VALUE, s_key, sizeof(s_key)),
	};

	(void)state;
	tf_attrs(J(P11_DATA_HEX), "pTemplate", t, 4);
	assert_string_equal(end(), "{\"pTemplate\":["
	                           "{\"type\":\"CKA_CLASS\",\"value\":\"CKO_SECRET_KEY\"},"
	                           "{\"type\":\"CKA_KEY_TYPE\",\"value\":\"CKK_AES\"},"
	                           "{\"type\":\"CKA_VALUE_LEN\",\"value\":16},"
	                           "{\"type\":\"CKA_VALUE\",\"value\":\"<redacted 16 bytes>\"}]}");
	assert_secret_absent(out, s_key, sizeof(s_key));
}

static void test_attrs_public_values(void **state)
{
	static const unsigned char der[] = { 0x30, 0x82, 0x03 };
	CK_CERTIFICATE_TYPE x509 = CKC_X_509;
	CK_ATTRIBUTE cert[] = {
		ATTR(CKA_CLASS, &cls_cert),
		ATTR(CKA_CERTIFICATE_TYPE, &x509),
		ATTR_N(CKA_VALUE, der, sizeof(der)),
	};
	CK_ATTRIBUTE data[] = {
		ATTR(CKA_CLASS, &cls_data),
		ATTR_N(CKA_VALUE, der, sizeof(der)),
	};
	CK_ATTRIBUTE pub[] = {
		ATTR(CKA_CLASS, &cls_public),
		ATTR_N(CKA_VALUE, der, sizeof(der)),
	};

	(void)state;
	/* A certificate's value is data: shown as [trace] Data says. */
	tf_attrs(J(P11_DATA_LENGTH), "pTemplate", cert, 3);
	assert_string_equal(end(), "{\"pTemplate\":["
	                           "{\"type\":\"CKA_CLASS\",\"value\":\"CKO_CERTIFICATE\"},"
	                           "{\"type\":\"CKA_CERTIFICATE_TYPE\",\"value\":\"CKC_X_509\"},"
	                           "{\"type\":\"CKA_VALUE\",\"value\":{\"len\":3}}]}");
	tf_attrs(J(P11_DATA_HEX), "pTemplate", cert, 3);
	assert_contains(end(), "{\"type\":\"CKA_VALUE\",\"value\":{\"len\":3,\"hex\":\"308203\"}}]}");
	tf_attrs(J(P11_DATA_NONE), "pTemplate", cert, 3);
	assert_contains(end(), "{\"type\":\"CKA_VALUE\",\"value\":{\"len\":3}}]}");
	assert_not_contains(out, "308203");

	tf_attrs(J(P11_DATA_HEX), "pTemplate", data, 2);
	assert_contains(end(), "{\"type\":\"CKA_VALUE\",\"value\":{\"len\":3,\"hex\":\"308203\"}}]}");
	tf_attrs(J(P11_DATA_HEX), "pTemplate", pub, 2);
	assert_contains(end(), "{\"type\":\"CKA_VALUE\",\"value\":{\"len\":3,\"hex\":\"308203\"}}]}");
}

static void test_attrs_unknown_class(void **state)
{
	CK_ATTRIBUTE no_class[] = {
		ATTR_N(CKA_LABEL, "k", 1),
		ATTR_N(CKA_VALUE, s_key, sizeof(s_key)),
	};
	CK_ATTRIBUTE vendor_class[] = {
		ATTR(CKA_CLASS, &cls_vendor),
		ATTR_N(CKA_VALUE, s_key, sizeof(s_key)),
	};
	/* A class whose length is wrong is unknown, and not read (3: wrong at
	 * 32 and 64 bits; 4 is the length of a CK_ULONG on i386). */
	CK_ATTRIBUTE bad_class[] = {
		ATTR_N(CKA_CLASS, BAD_PTR, 3),
		ATTR_N(CKA_VALUE, s_key, sizeof(s_key)),
	};
	CK_ATTRIBUTE null_class[] = {
		ATTR_N(CKA_CLASS, NULL, 8),
		ATTR_N(CKA_VALUE, s_key, sizeof(s_key)),
	};

	(void)state;
	tf_attrs(J(P11_DATA_HEX), "pTemplate", no_class, 2);
	assert_string_equal(end(), "{\"pTemplate\":[{\"type\":\"CKA_LABEL\",\"value\":\"k\"},"
	                           "{\"type\":\"CKA_VALUE\",\"value\":\"<redacted 16 bytes>\"}]}");
	tf_attrs(J(P11_DATA_HEX), "pTemplate", vendor_class, 2);
	assert_string_equal(end(), "{\"pTemplate\":[{\"type\":\"CKA_CLASS\",\"value\":\"0x80000001\"},"
	                           "{\"type\":\"CKA_VALUE\",\"value\":\"<redacted 16 bytes>\"}]}");
	tf_attrs(J(P11_DATA_HEX), "pTemplate", bad_class, 2);
	assert_string_equal(end(), "{\"pTemplate\":[{\"type\":\"CKA_CLASS\",\"value\":{\"len\":3}},"
	                           "{\"type\":\"CKA_VALUE\",\"value\":\"<redacted 16 bytes>\"}]}");
	tf_attrs(J(P11_DATA_HEX), "pTemplate", null_class, 2);
	assert_string_equal(end(), "{\"pTemplate\":[{\"type\":\"CKA_CLASS\",\"value\":null,\"len\":8},"
	                           "{\"type\":\"CKA_VALUE\",\"value\":\"<redacted 16 bytes>\"}]}");
	assert_secret_absent(out, s_key, sizeof(s_key));

	/* The secret attribute types directly. */
	assert_true(p11_attr_is_secret(CKA_VALUE, CKO_PRIVATE_KEY));
	assert_true(p11_attr_is_secret(CKA_VALUE, CKO_SECRET_KEY));
	assert_true(p11_attr_is_secret(CKA_VALUE, CK_UNAVAILABLE_INFORMATION));
	assert_true(p11_attr_is_secret(CKA_VALUE, 0x80000001UL));
	assert_false(p11_attr_is_secret(CKA_VALUE, CKO_CERTIFICATE));
	assert_false(p11_attr_is_secret(CKA_VALUE, CKO_DATA));
	assert_false(p11_attr_is_secret(CKA_VALUE, CKO_PUBLIC_KEY));
	assert_true(p11_attr_is_secret(CKA_PRIVATE_EXPONENT, CKO_PUBLIC_KEY));
	assert_true(p11_attr_is_secret(CKA_PRIME_1, CK_UNAVAILABLE_INFORMATION));
	assert_true(p11_attr_is_secret(CKA_PRIME_2, CKO_PRIVATE_KEY));
	assert_true(p11_attr_is_secret(CKA_EXPONENT_1, CKO_PRIVATE_KEY));
	assert_true(p11_attr_is_secret(CKA_EXPONENT_2, CKO_PRIVATE_KEY));
	assert_true(p11_attr_is_secret(CKA_COEFFICIENT, CKO_PRIVATE_KEY));
	assert_false(p11_attr_is_secret(CKA_MODULUS, CKO_PRIVATE_KEY));
	assert_false(p11_attr_is_secret(CKA_LABEL, CKO_SECRET_KEY));
}

/*
 * A template that could mean a secret is treated as one: CKA_CLASS twice
 * (first public, then CKO_SECRET_KEY: the backend rejects the template, but
 * after the record is built), twice the same public class, a template nested
 * in a secret's, a vendor attribute. Every format and Data setting.
 */
static void test_attrs_two_classes(void **state)
{
	CK_ATTRIBUTE data_then_secret[] = {
		ATTR(CKA_CLASS, &cls_data),
		ATTR(CKA_CLASS, &cls_secret),
		ATTR(CKA_KEY_TYPE, &kt_aes),
		ATTR_N(CKA_VALUE, s_key, sizeof(s_key)),
	};
	CK_ATTRIBUTE cert_then_secret[] = {
		ATTR(CKA_CLASS, &cls_cert),
		ATTR_N(CKA_VALUE, s_key, sizeof(s_key)),
		ATTR(CKA_CLASS, &cls_secret),
	};
	CK_ATTRIBUTE public_then_bad[] = {
		ATTR(CKA_CLASS, &cls_public),
		ATTR_N(CKA_CLASS, BAD_PTR, 3),
		ATTR_N(CKA_VALUE, s_key, sizeof(s_key)),
	};
	CK_ATTRIBUTE public_inner[] = {
		ATTR(CKA_CLASS, &cls_data),
		ATTR_N(CKA_VALUE, s_key, sizeof(s_key)),
	};
	CK_ATTRIBUTE secret_outer[] = {
		ATTR(CKA_CLASS, &cls_secret),
		ATTR_N(CKA_UNWRAP_TEMPLATE, public_inner, sizeof(public_inner)),
	};
	CK_ATTRIBUTE vendor[] = {
		ATTR_N(0x80001234UL, s_key, sizeof(s_key)),
	};
	CK_ATTRIBUTE same_twice[] = {
		ATTR(CKA_CLASS, &cls_data),
		ATTR(CKA_CLASS, &cls_data),
		ATTR_N(CKA_VALUE, "\x30\x82", 2),
	};
	static const p11_data modes[] = { P11_DATA_NONE, P11_DATA_LENGTH, P11_DATA_HEX };
	struct {
		CK_ATTRIBUTE *t;
		CK_ULONG n;
	} cases[] = {
		{ data_then_secret, 4 }, { cert_then_secret, 3 }, { public_then_bad, 3 },
		{ secret_outer, 2 },     { vendor, 1 },
	};
	size_t i, m;

	(void)state;
	for (m = 0; m < 3; m++) {
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			tf_attrs(J(modes[m]), "pTemplate", cases[i].t, cases[i].n);
			assert_contains(end(), "\"value\":\"<redacted 16 bytes>\"");
			assert_secret_absent(out, s_key, sizeof(s_key));
			tf_attrs(T(modes[m]), "pTemplate", cases[i].t, cases[i].n);
			assert_contains(end(), "value=\"<redacted 16 bytes>\"");
			assert_secret_absent(out, s_key, sizeof(s_key));
			/* What C_GetAttributeValue returned: the same rule. */
			tf_out_attrs(J(modes[m]), CKR_OK, "pTemplate", cases[i].t, cases[i].n, NULL);
			assert_contains(end(), "\"value\":\"<redacted 16 bytes>\"");
			assert_secret_absent(out, s_key, sizeof(s_key));
		}
	}
	/* Agreeing public classes still show a public value. */
	tf_attrs(J(P11_DATA_HEX), "pTemplate", same_twice, 3);
	assert_contains(end(), "{\"type\":\"CKA_VALUE\",\"value\":{\"len\":2,\"hex\":\"3082\"}}");
	tf_attrs(J(P11_DATA_HEX), "pTemplate", public_inner, 2);
	assert_contains(end(), "\"hex\":\"0badcafe");
}

static void test_attrs_label_escaped(void **state)
{
	static const char label[] = "a\"b\\c\nd\te\x01"
	                            "f\x7f/g";
	CK_ATTRIBUTE t[] = { ATTR_N(CKA_LABEL, label, sizeof(label) - 1) };

	(void)state;
	tf_attrs(J(P11_DATA_LENGTH), "pTemplate", t, 1);
	assert_string_equal(end(), "{\"pTemplate\":[{\"type\":\"CKA_LABEL\","
	                           "\"value\":\"a\\\"b\\\\c\\nd\\u0009e\\u0001f\\u007f/g\"}]}");

	tf_attrs(T(P11_DATA_LENGTH), "pTemplate", t, 1);
	assert_string_equal(end(), "pTemplate=[{type=CKA_LABEL, "
	                           "value=\"a\\\"b\\\\c\\nd\\u0009e\\u0001f\\u007f/g\"}]");
	/* Text stays one line. */
	assert_null(strchr(out, '\n'));
}

static void test_attrs_label_utf8(void **state)
{
	/* Valid UTF-8 is a label like any other. */
	static const char cafe[] = "Caf\xc3\xa9 \xe2\x82\xac";
	CK_ATTRIBUTE t[] = { ATTR_N(CKA_LABEL, cafe, sizeof(cafe) - 1) };

	(void)state;
	tf_attrs(J(P11_DATA_LENGTH), "pTemplate", t, 1);
	end(); /* valid JSON */
	assert_contains(out, "Caf");
}

/*
 * A label that is not UTF-8 (a middleware in Latin-1, a truncated
 * sequence) must still give valid JSON (RFC 8259 section 8.1): the record
 * would otherwise be unreadable for `p11shim trace` and every JSON tool.
 */
static void test_attrs_label_invalid_utf8(void **state)
{
	static const char latin1[] = "Gr\xfc\xdf"
	                             "e";   /* "Grüße" in Latin-1 */
	static const char cut[] = "ab\xc3"; /* truncated sequence */
	CK_ATTRIBUTE t[] = {
		ATTR_N(CKA_LABEL, latin1, sizeof(latin1) - 1),
		ATTR_N(CKA_LABEL, cut, sizeof(cut) - 1),
	};

	(void)state;
	tf_attrs(J(P11_DATA_LENGTH), "pTemplate", t, 2); /* end() checks the JSON */
	/* The bytes stay recoverable beside the text. */
	assert_string_equal(end(),
	                    "{\"pTemplate\":["
	                    "{\"type\":\"CKA_LABEL\",\"value\":\"Gr\\ufffd\\ufffde\",\"hex\":\"4772fcdf65\"},"
	                    "{\"type\":\"CKA_LABEL\",\"value\":\"ab\\ufffd\",\"hex\":\"6162c3\"}]}");
	tf_attrs(T(P11_DATA_NONE), "pTemplate", t, 1);
	assert_string_equal(end(),
	                    "pTemplate=[{type=CKA_LABEL, value=\"Gr\\ufffd\\ufffde\", hex=4772fcdf65}]");
}

static void test_attrs_wrong_lengths(void **state)
{
	static const char date[] = "20240131";
	CK_ATTRIBUTE t[] = {
		ATTR_N(CKA_TOKEN, BAD_PTR, 4),
		ATTR_N(CKA_MODULUS_BITS, BAD_PTR, 2),
		ATTR_N(CKA_KEY_TYPE, BAD_PTR, 0),
		ATTR_N(CKA_START_DATE, date, 8),
		ATTR_N(CKA_END_DATE, BAD_PTR, 3),
		ATTR(CKA_MODULUS_BITS, &bits),
		ATTR_N(CKA_LABEL, BAD_PTR, P11_TRACE_MAX_HEX + 1),
	};

	(void)state;
	tf_attrs(J(P11_DATA_LENGTH), "pTemplate", t, sizeof(t) / sizeof(t[0]));
	assert_string_equal(end(), "{\"pTemplate\":["
	                           "{\"type\":\"CKA_TOKEN\",\"value\":{\"len\":4}},"
	                           "{\"type\":\"CKA_MODULUS_BITS\",\"value\":{\"len\":2}},"
	                           "{\"type\":\"CKA_KEY_TYPE\",\"value\":{\"len\":0}},"
	                           "{\"type\":\"CKA_START_DATE\",\"value\":\"20240131\"},"
	                           "{\"type\":\"CKA_END_DATE\",\"value\":{\"len\":3}},"
	                           "{\"type\":\"CKA_MODULUS_BITS\",\"value\":2048},"
	                           "{\"type\":\"CKA_LABEL\",\"value\":{\"len\":4097}}]}");
}

static void test_attrs_null_and_unavailable(void **state)
{
	CK_ATTRIBUTE t[] = {
		ATTR_N(CKA_LABEL, NULL, 10),
		ATTR_N(CKA_LABEL, NULL, CK_UNAVAILABLE_INFORMATION),
		ATTR_N(CKA_ID, BAD_PTR, CK_UNAVAILABLE_INFORMATION),
		ATTR_N(0x80001234UL, NULL, 0),
	};

	(void)state;
	tf_attrs(J(P11_DATA_HEX), "pTemplate", t, 4);
	assert_string_equal(end(), "{\"pTemplate\":["
	                           "{\"type\":\"CKA_LABEL\",\"value\":null,\"len\":10},"
	                           "{\"type\":\"CKA_LABEL\",\"value\":null},"
	                           "{\"type\":\"CKA_ID\",\"value\":null},"
	                           "{\"type\":\"0x80001234\",\"value\":null,\"len\":0}]}");

	tf_attrs(J(P11_DATA_HEX), "pTemplate", NULL, 3);
	tf_attrs(&tb, "empty", t, 0);
	assert_string_equal(end(), "{\"pTemplate\":null,\"empty\":[]}");
}

static void test_attrs_nested(void **state)
{
	/* No class inside: the unwrapped key's value is secret, whatever the outer class. */
	CK_ATTRIBUTE inner[] = {
		ATTR(CKA_EXTRACTABLE, &no),
		ATTR_N(CKA_VALUE, s_key, sizeof(s_key)),
	};
	CK_ATTRIBUTE inner_cert[] = {
		ATTR(CKA_CLASS, &cls_cert),
		ATTR_N(CKA_VALUE, "\x30\x82", 2),
	};
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_CLASS, &cls_public),
		ATTR_N(CKA_WRAP_TEMPLATE, inner, sizeof(inner)),
		ATTR_N(CKA_UNWRAP_TEMPLATE, inner_cert, sizeof(inner_cert)),
		ATTR_N(CKA_DERIVE_TEMPLATE, BAD_PTR, sizeof(CK_ATTRIBUTE) + 1),
	};

	char expect[1024];

	(void)state;
	tf_attrs(J(P11_DATA_HEX), "pTemplate", t, 4);
	snprintf(expect, sizeof(expect),
	         "{\"pTemplate\":["
	         "{\"type\":\"CKA_CLASS\",\"value\":\"CKO_PUBLIC_KEY\"},"
	         "{\"type\":\"CKA_WRAP_TEMPLATE\",\"value\":["
	         "{\"type\":\"CKA_EXTRACTABLE\",\"value\":false},"
	         "{\"type\":\"CKA_VALUE\",\"value\":\"<redacted 16 bytes>\"}]},"
	         "{\"type\":\"CKA_UNWRAP_TEMPLATE\",\"value\":["
	         "{\"type\":\"CKA_CLASS\",\"value\":\"CKO_CERTIFICATE\"},"
	         "{\"type\":\"CKA_VALUE\",\"value\":{\"len\":2,\"hex\":\"3082\"}}]},"
	         "{\"type\":\"CKA_DERIVE_TEMPLATE\",\"value\":{\"len\":%zu}}]}",
	         sizeof(CK_ATTRIBUTE) + 1);
	assert_string_equal(end(), expect);
	assert_secret_absent(out, s_key, sizeof(s_key));
}

static void test_attrs_nested_depth(void **state)
{
	CK_ATTRIBUTE l3[] = { ATTR(CKA_TOKEN, &yes) };
	CK_ATTRIBUTE l2[] = { ATTR_N(CKA_WRAP_TEMPLATE, l3, sizeof(l3)) };
	CK_ATTRIBUTE l1[] = { ATTR_N(CKA_WRAP_TEMPLATE, l2, sizeof(l2)) };
	CK_ATTRIBUTE l0[] = { ATTR_N(CKA_WRAP_TEMPLATE, l1, sizeof(l1)) };
	/* A template that contains itself. */
	CK_ATTRIBUTE loop[1];

	(void)state;
	loop[0].type = CKA_WRAP_TEMPLATE;
	loop[0].pValue = loop;
	loop[0].ulValueLen = sizeof(loop);

	tf_attrs(J(P11_DATA_HEX), "t", l0, 1);
	assert_string_equal(end(), "{\"t\":[{\"type\":\"CKA_WRAP_TEMPLATE\",\"value\":["
	                           "{\"type\":\"CKA_WRAP_TEMPLATE\",\"value\":["
	                           "{\"type\":\"CKA_WRAP_TEMPLATE\",\"value\":"
	                           "{\"count\":1,\"shown\":false}}]}]}]}");
	tf_attrs(J(P11_DATA_HEX), "t", loop, 1);
	end(); /* finite, valid */
}

static void test_attrs_allowed_mechanisms(void **state)
{
	CK_MECHANISM_TYPE mechs[] = { CKM_RSA_PKCS, CKM_ECDSA, 0x80001234UL };
	CK_ATTRIBUTE t[] = {
		ATTR_N(CKA_ALLOWED_MECHANISMS, mechs, sizeof(mechs)),
		ATTR_N(CKA_ALLOWED_MECHANISMS, BAD_PTR, 6),
		ATTR_N(CKA_ALLOWED_MECHANISMS, mechs, 0),
	};

	(void)state;
	tf_attrs(J(P11_DATA_LENGTH), "pTemplate", t, 3);
	assert_string_equal(end(), "{\"pTemplate\":["
	                           "{\"type\":\"CKA_ALLOWED_MECHANISMS\",\"value\":"
	                           "[\"CKM_RSA_PKCS\",\"CKM_ECDSA\",\"0x80001234\"]},"
	                           "{\"type\":\"CKA_ALLOWED_MECHANISMS\",\"value\":{\"len\":6}},"
	                           "{\"type\":\"CKA_ALLOWED_MECHANISMS\",\"value\":[]}]}");
}

static void test_attrs_impossible_count(void **state)
{
	static CK_ATTRIBUTE many[P11_TRACE_MAX_ATTRS + 1];
	char expect[128];
	size_t i;

	(void)state;
	tf_attrs(J(P11_DATA_LENGTH), "pTemplate", BAD_PTR, HUGE_LEN);
	assert_string_equal(end(), "{\"pTemplate\":{\"count\":1073741824,\"shown\":false}}");
	tf_attrs(T(P11_DATA_LENGTH), "pTemplate", BAD_PTR, (CK_ULONG)-1);
	snprintf(expect, sizeof(expect), "pTemplate={count=%lu, shown=false}",
	         (unsigned long)(CK_ULONG)-1);
	assert_string_equal(end(), expect);

	for (i = 0; i < P11_TRACE_MAX_ATTRS + 1; i++) {
		many[i].type = CKA_TOKEN;
		many[i].pValue = &yes;
		many[i].ulValueLen = 1;
	}
	tf_attrs(J(P11_DATA_LENGTH), "pTemplate", many, P11_TRACE_MAX_ATTRS + 1);
	assert_string_equal(end(), "{\"pTemplate\":{\"count\":257,\"shown\":false}}");
	tf_attrs(J(P11_DATA_LENGTH), "pTemplate", many, P11_TRACE_MAX_ATTRS);
	end();
	assert_contains(out, "{\"type\":\"CKA_TOKEN\",\"value\":true}]}");

	/* The types asked by C_GetAttributeValue: the same limits. */
	tf_attr_types(J(P11_DATA_LENGTH), "pTemplate", BAD_PTR, HUGE_LEN);
	tf_attr_types(&tb, "none", NULL, 2);
	assert_string_equal(end(), "{\"pTemplate\":{\"count\":1073741824,\"shown\":false},"
	                           "\"none\":null}");
}

static void test_attr_types(void **state)
{
	unsigned char buf[32];
	CK_ATTRIBUTE t[] = {
		ATTR_N(CKA_LABEL, buf, sizeof(buf)),
		ATTR_N(CKA_VALUE, NULL, 0),
		ATTR_N(CKA_PRIVATE_EXPONENT, BAD_PTR, 256),
	};

	(void)state;
	/* Only the types and the room: the buffers hold nothing yet. */
	tf_attr_types(J(P11_DATA_HEX), "pTemplate", t, 3);
	assert_string_equal(end(), "{\"pTemplate\":[{\"type\":\"CKA_LABEL\",\"cap\":32},"
	                           "{\"type\":\"CKA_VALUE\",\"cap\":null},"
	                           "{\"type\":\"CKA_PRIVATE_EXPONENT\",\"cap\":256}]}");
}

/* ---- outputs ---- */

static void test_out_attrs(void **state)
{
	CK_ATTRIBUTE ok[] = {
		ATTR(CKA_CLASS, &cls_private),
		ATTR_N(CKA_LABEL, "key 1", 5),
		ATTR_N(CKA_VALUE, s_key, sizeof(s_key)),
		ATTR_N(CKA_ID, NULL, 2),
	};
	CK_ATTRIBUTE no_class[] = {
		ATTR_N(CKA_VALUE, s_key, sizeof(s_key)),
	};
	/* After a failure the buffers may hold anything: only lengths. */
	CK_ATTRIBUTE sensitive[] = {
		ATTR_N(CKA_LABEL, BAD_PTR, 5),
		ATTR_N(CKA_PRIVATE_EXPONENT, BAD_PTR, CK_UNAVAILABLE_INFORMATION),
		ATTR_N(CKA_MODULUS, NULL, 256),
	};

	(void)state;
	tf_out_attrs(J(P11_DATA_HEX), CKR_OK, "pTemplate", ok, 4, NULL);
	assert_string_equal(end(), "{\"pTemplate\":["
	                           "{\"type\":\"CKA_CLASS\",\"value\":\"CKO_PRIVATE_KEY\"},"
	                           "{\"type\":\"CKA_LABEL\",\"value\":\"key 1\"},"
	                           "{\"type\":\"CKA_VALUE\",\"value\":\"<redacted 16 bytes>\"},"
	                           "{\"type\":\"CKA_ID\",\"len\":2}]}");
	tf_out_attrs(J(P11_DATA_HEX), CKR_OK, "pTemplate", no_class, 1, NULL);
	assert_string_equal(end(), "{\"pTemplate\":["
	                           "{\"type\":\"CKA_VALUE\",\"value\":\"<redacted 16 bytes>\"}]}");
	assert_secret_absent(out, s_key, sizeof(s_key));

	tf_out_attrs(J(P11_DATA_HEX), CKR_ATTRIBUTE_SENSITIVE, "pTemplate", sensitive, 3, NULL);
	assert_string_equal(end(),
	                    "{\"pTemplate\":["
	                    "{\"type\":\"CKA_LABEL\",\"len\":5},"
	                    "{\"type\":\"CKA_PRIVATE_EXPONENT\",\"len\":\"CK_UNAVAILABLE_INFORMATION\"},"
	                    "{\"type\":\"CKA_MODULUS\",\"len\":256}]}");
	tf_out_attrs(J(P11_DATA_HEX), CKR_BUFFER_TOO_SMALL, "pTemplate", sensitive, 3, NULL);
	assert_string_equal(end(),
	                    "{\"pTemplate\":["
	                    "{\"type\":\"CKA_LABEL\",\"len\":5},"
	                    "{\"type\":\"CKA_PRIVATE_EXPONENT\",\"len\":\"CK_UNAVAILABLE_INFORMATION\"},"
	                    "{\"type\":\"CKA_MODULUS\",\"len\":256}]}");
	tf_out_attrs(J(P11_DATA_HEX), CKR_ATTRIBUTE_TYPE_INVALID, "pTemplate", sensitive, 1, NULL);
	assert_string_equal(end(), "{\"pTemplate\":[{\"type\":\"CKA_LABEL\",\"len\":5}]}");

	/* Other errors: no output at all. */
	tf_out_attrs(J(P11_DATA_HEX), CKR_GENERAL_ERROR, "pTemplate", sensitive, 3, NULL);
	tf_out_attrs(&tb, CKR_SESSION_HANDLE_INVALID, "pTemplate", BAD_PTR, 3, NULL);
	tf_out_attrs(&tb, CKR_OK, "pTemplate", NULL, 3, NULL);
	tf_out_attrs(&tb, CKR_OK, "pTemplate", BAD_PTR, HUGE_LEN, NULL);
	assert_string_equal(end(), "{}");

	tf_out_attrs(T(P11_DATA_HEX), CKR_ATTRIBUTE_SENSITIVE, "pTemplate", sensitive, 2, NULL);
	assert_string_equal(end(), "pTemplate=[{type=CKA_LABEL, len=5}, "
	                           "{type=CKA_PRIVATE_EXPONENT, len=CK_UNAVAILABLE_INFORMATION}]");

	/* A backend that answers longer values than the buffers held, or moves a
	 * buffer: those values are not read (BAD_PTR), only their lengths shown. */
	{
		static char label[] = "key 1";
		CK_ATTRIBUTE asked[] = {
			ATTR_N(CKA_LABEL, label, 5),
			ATTR_N(CKA_ID, label, 5),
			ATTR_N(CKA_SUBJECT, label, 5),
		};
		CK_ATTRIBUTE got[] = {
			ATTR_N(CKA_LABEL, label, 5),
			ATTR_N(CKA_ID, BAD_PTR, 53),
			ATTR_N(CKA_SUBJECT, BAD_PTR, 5),
		};
		assert_int_equal(tf_out_attrs(J(P11_DATA_HEX), CKR_OK, "pTemplate", got, 3, asked),
		                 2);
		assert_string_equal(end(), "{\"pTemplate\":["
		                           "{\"type\":\"CKA_LABEL\",\"value\":\"key 1\"},"
		                           "{\"type\":\"CKA_ID\",\"len\":53},"
		                           "{\"type\":\"CKA_SUBJECT\",\"len\":5}]}");
	}
}

static void test_out_ulong(void **state)
{
	CK_ULONG v = 5;

	(void)state;
	tf_out_ulong(J(P11_DATA_LENGTH), CKR_OK, "phObject", &v);
	tf_out_ulong(&tb, CKR_OK, "none", NULL);
	tf_out_ulong(&tb, CKR_GENERAL_ERROR, "err", BAD_PTR);
	assert_string_equal(end(), "{\"phObject\":5}");
}

static void test_out_slots(void **state)
{
	CK_SLOT_ID slots[3] = { 52, 134, 1 };
	CK_MECHANISM_TYPE mechs[2] = { CKM_ECDSA, 0x80001234UL };
	CK_ULONG n = 3, small = 5, huge = P11_TRACE_MAX_LIST + 1, two = 2;

	(void)state;
	tf_out_slots(J(P11_DATA_LENGTH), CKR_OK, "pSlotList", "pulCount", slots, &n, -1, 64);
	assert_string_equal(end(), "{\"pulCount\":3,\"pSlotList\":[52,134,1]}");
	/* Length query: the count only. */
	tf_out_slots(J(P11_DATA_LENGTH), CKR_OK, "pSlotList", "pulCount", NULL, &n, -1, 64);
	assert_string_equal(end(), "{\"pulCount\":3}");
	/* Too small: the count the module needs; the list holds nothing to read. */
	tf_out_slots(J(P11_DATA_LENGTH), CKR_BUFFER_TOO_SMALL, "pSlotList", "pulCount", BAD_PTR,
	             &small, -1, 64);
	assert_string_equal(end(), "{\"pulCount\":5}");
	tf_out_slots(J(P11_DATA_LENGTH), CKR_OK, "pSlotList", "pulCount", BAD_PTR, &huge, -1, 64);
	assert_string_equal(end(), "{\"pulCount\":1025}");
	tf_out_slots(J(P11_DATA_LENGTH), CKR_GENERAL_ERROR, "pSlotList", "pulCount", BAD_PTR,
	             BAD_PTR, -1, 64);
	tf_out_slots(&tb, CKR_OK, "pSlotList", "pulCount", slots, NULL, -1, 64);
	assert_string_equal(end(), "{}");

	tf_out_slots(J(P11_DATA_LENGTH), CKR_OK, "pMechanismList", "pulCount", mechs, &two,
	             P11_CONST_MECH, 64);
	assert_string_equal(end(),
	                    "{\"pulCount\":2,\"pMechanismList\":[\"CKM_ECDSA\",\"0x80001234\"]}");

	tf_out_slots(T(P11_DATA_LENGTH), CKR_OK, "pSlotList", "pulCount", slots, &n, -1, 64);
	assert_string_equal(end(), "pulCount=3, pSlotList=[52, 134, 1]");

	/* A count over the client's list: not read, reported. */
	assert_true(tf_out_slots(J(P11_DATA_LENGTH), CKR_OK, "pSlotList", "pulCount", BAD_PTR,
	                         &small, -1, 3));
	assert_string_equal(end(), "{\"pulCount\":5}");
	assert_false(tf_out_slots(J(P11_DATA_LENGTH), CKR_OK, "pSlotList", "pulCount", slots, &n,
	                          -1, 3));
	end();
}

static void test_out_handles(void **state)
{
	CK_OBJECT_HANDLE h[2] = { 7, 9 };
	CK_ULONG n = 2, over = 5;

	(void)state;
	tf_out_handles(J(P11_DATA_LENGTH), CKR_OK, "phObject", "pulObjectCount", h, 2, &n);
	assert_string_equal(end(), "{\"pulObjectCount\":2,\"phObject\":[7,9]}");
	/* A count beyond the room the client gave: not believed, not read. */
	tf_out_handles(J(P11_DATA_LENGTH), CKR_OK, "phObject", "pulObjectCount", BAD_PTR, 2, &over);
	assert_string_equal(end(), "{\"pulObjectCount\":5}");
	tf_out_handles(J(P11_DATA_LENGTH), CKR_BUFFER_TOO_SMALL, "phObject", "pulObjectCount",
	               BAD_PTR, 2, &over);
	tf_out_handles(&tb, CKR_OPERATION_NOT_INITIALIZED, "phObject", "pulObjectCount", BAD_PTR, 2,
	               BAD_PTR);
	tf_out_handles(&tb, CKR_OK, "phObject", "pulObjectCount", h, 2, NULL);
	assert_string_equal(end(), "{}");
}

static void test_out_bytes(void **state)
{
	CK_BYTE sig[4] = { 0xde, 0xad, 0xbe, 0xef };
	CK_ULONG n = 4, need = 64;

	(void)state;
	tf_out_bytes(J(P11_DATA_HEX), CKR_OK, "pSignature", "pulSignatureLen", sig, &n, false, 64);
	assert_string_equal(end(), "{\"pulSignatureLen\":4,\"pSignature\":\"deadbeef\"}");
	tf_out_bytes(J(P11_DATA_LENGTH), CKR_OK, "pSignature", "pulSignatureLen", sig, &n, false, 64);
	assert_string_equal(end(), "{\"pulSignatureLen\":4}");
	/* Decrypted data: the length only. */
	tf_out_bytes(J(P11_DATA_HEX), CKR_OK, "pData", "pulDataLen", sig, &n, true, 64);
	assert_string_equal(end(), "{\"pulDataLen\":4}");
	assert_secret_absent(out, sig, 4);
	/* Too small: the length needed; the buffer is not read. */
	tf_out_bytes(J(P11_DATA_HEX), CKR_BUFFER_TOO_SMALL, "pSignature", "pulSignatureLen",
	             BAD_PTR, &need, false, 64);
	assert_string_equal(end(), "{\"pulSignatureLen\":64}");
	/* Length query. */
	tf_out_bytes(J(P11_DATA_HEX), CKR_OK, "pSignature", "pulSignatureLen", NULL, &need, false,
	             64);
	assert_string_equal(end(), "{\"pulSignatureLen\":64}");
	tf_out_bytes(J(P11_DATA_HEX), CKR_DEVICE_ERROR, "pSignature", "pulSignatureLen", BAD_PTR,
	             BAD_PTR, false, 64);
	tf_out_bytes(&tb, CKR_OK, "pSignature", "pulSignatureLen", sig, NULL, false, 64);
	assert_string_equal(end(), "{}");

	tf_out_bytes(T(P11_DATA_HEX), CKR_OK, "pSignature", "pulSignatureLen", sig, &n, false, 64);
	assert_string_equal(end(), "pulSignatureLen=4, pSignature=deadbeef");

	/* A backend that answers more than the client's buffer held: the
	 * length shown, the buffer not read (BAD_PTR), the lie reported. */
	{
		CK_ULONG lie = 4 + 4096;
		assert_true(tf_out_bytes(J(P11_DATA_HEX), CKR_OK, "pSignature", "pulSignatureLen",
		                         BAD_PTR, &lie, false, 4));
		assert_string_equal(end(), "{\"pulSignatureLen\":4100}");
		assert_false(tf_out_bytes(J(P11_DATA_HEX), CKR_OK, "pSignature", "pulSignatureLen",
		                          sig, &n, false, 4));
		end();
	}
}

static void test_out_token_info(void **state)
{
	CK_TOKEN_INFO ti;

	(void)state;
	memset(&ti, ' ', sizeof(ti));
	memcpy(ti.label, "My Token", 8);
	memcpy(ti.manufacturerID, "Acme \xc3\xa4\xff", 8);
	memcpy(ti.model, "Cosmo 8.2", 9);
	memcpy(ti.serialNumber, "0123456789ABCDEF", 16);
	ti.flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED;
	ti.ulMaxSessionCount = 0;
	ti.ulSessionCount = 1;
	ti.ulMaxRwSessionCount = 0;
	ti.ulRwSessionCount = 0;
	ti.ulMaxPinLen = 8;
	ti.ulMinPinLen = 4;
	ti.hardwareVersion.major = 1;
	ti.hardwareVersion.minor = 2;
	ti.firmwareVersion.major = 3;
	ti.firmwareVersion.minor = 40;

	tf_out_token_info(J(P11_DATA_LENGTH), CKR_OK, "pInfo", &ti);
	end();
	assert_contains(out, "{\"pInfo\":{\"label\":\"My Token\",\"manufacturerID\":\"Acme ");
	assert_contains(out,
	                "\"model\":\"Cosmo 8.2\",\"serialNumber\":\"0123456789ABCDEF\","
	                "\"flags\":[\"CKF_RNG\",\"CKF_LOGIN_REQUIRED\",\"CKF_USER_PIN_INITIALIZED\","
	                "\"CKF_TOKEN_INITIALIZED\"],\"ulSessionCount\":1,\"ulMaxPinLen\":8,"
	                "\"ulMinPinLen\":4,\"hardwareVersion\":\"1.2\",\"firmwareVersion\":\"3.40\"}}");
	/* The invalid byte never reaches the record raw; valid UTF-8 stays. */
	assert_null(strchr(out, '\xff'));
	assert_contains(out,
	                "\"manufacturerID\":\"Acme \xc3\xa4\\ufffd\",\"manufacturerID_hex\":\"41636d6520c3a4ff\"");

	/* A field without blanks at all, and one that is NUL-padded. */
	memset(ti.label, 'L', sizeof(ti.label));
	memset(ti.model, 0, sizeof(ti.model));
	memcpy(ti.model, "M1", 2);
	tf_out_token_info(J(P11_DATA_LENGTH), CKR_OK, "pInfo", &ti);
	end();
	assert_contains(out, "\"label\":\"LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL\"");
	assert_contains(out, "\"model\":\"M1\"");

	tf_out_token_info(J(P11_DATA_LENGTH), CKR_TOKEN_NOT_PRESENT, "pInfo", BAD_PTR);
	tf_out_token_info(&tb, CKR_OK, "pInfo", NULL);
	assert_string_equal(end(), "{}");
}

static void test_out_other_infos(void **state)
{
	CK_INFO info;
	CK_SLOT_INFO si;
	CK_MECHANISM_INFO mi = { 256, 384, CKF_SIGN | CKF_VERIFY };
	CK_SESSION_INFO ses = { 52, CKS_RW_USER_FUNCTIONS, CKF_RW_SESSION | CKF_SERIAL_SESSION, 0 };

	(void)state;
	memset(&info, ' ', sizeof(info));
	info.cryptokiVersion.major = 2;
	info.cryptokiVersion.minor = 40;
	memcpy(info.manufacturerID, "SoftHSM", 7);
	info.flags = 0;
	memcpy(info.libraryDescription, "Implementation of PKCS11", 24);
	info.libraryVersion.major = 2;
	info.libraryVersion.minor = 6;
	tf_out_info(J(P11_DATA_LENGTH), CKR_OK, "pInfo", &info);
	assert_string_equal(end(),
	                    "{\"pInfo\":{\"cryptokiVersion\":\"2.40\",\"manufacturerID\":\"SoftHSM\","
	                    "\"flags\":0,\"libraryDescription\":\"Implementation of PKCS11\","
	                    "\"libraryVersion\":\"2.6\"}}");

	memset(&si, ' ', sizeof(si));
	memcpy(si.slotDescription, "Microsoft Virtual Smart Card 0", 30);
	memcpy(si.manufacturerID, "Microsoft", 9);
	si.flags = CKF_TOKEN_PRESENT | CKF_HW_SLOT;
	si.hardwareVersion.major = si.hardwareVersion.minor = 0;
	si.firmwareVersion.major = si.firmwareVersion.minor = 0;
	tf_out_slot_info(J(P11_DATA_LENGTH), CKR_OK, "pInfo", &si);
	assert_string_equal(end(), "{\"pInfo\":{\"slotDescription\":\"Microsoft Virtual Smart Card 0\","
	                           "\"manufacturerID\":\"Microsoft\","
	                           "\"flags\":[\"CKF_TOKEN_PRESENT\",\"CKF_HW_SLOT\"],"
	                           "\"hardwareVersion\":\"0.0\",\"firmwareVersion\":\"0.0\"}}");

	tf_out_mech_info(J(P11_DATA_LENGTH), CKR_OK, "pInfo", &mi);
	assert_string_equal(end(), "{\"pInfo\":{\"ulMinKeySize\":256,\"ulMaxKeySize\":384,"
	                           "\"flags\":[\"CKF_SIGN\",\"CKF_VERIFY\"]}}");

	tf_out_session_info(J(P11_DATA_LENGTH), CKR_OK, "pInfo", &ses);
	assert_string_equal(end(), "{\"pInfo\":{\"slotID\":52,\"state\":\"CKS_RW_USER_FUNCTIONS\","
	                           "\"flags\":[\"CKF_RW_SESSION\",\"CKF_SERIAL_SESSION\"],"
	                           "\"ulDeviceError\":0}}");

	/* Not filled on error, and NULL-safe. */
	tf_out_info(J(P11_DATA_LENGTH), CKR_GENERAL_ERROR, "pInfo", BAD_PTR);
	tf_out_slot_info(&tb, CKR_SLOT_ID_INVALID, "pInfo", BAD_PTR);
	tf_out_mech_info(&tb, CKR_MECHANISM_INVALID, "pInfo", BAD_PTR);
	tf_out_session_info(&tb, CKR_SESSION_HANDLE_INVALID, "pInfo", BAD_PTR);
	tf_out_info(&tb, CKR_OK, "pInfo", NULL);
	tf_out_slot_info(&tb, CKR_OK, "pInfo", NULL);
	tf_out_mech_info(&tb, CKR_OK, "pInfo", NULL);
	tf_out_session_info(&tb, CKR_OK, "pInfo", NULL);
	assert_string_equal(end(), "{}");
}

/* ---- the builder ---- */

static void test_builder_growth(void **state)
{
	static char labels[200][16];
	static CK_ATTRIBUTE t[200];
	char small[32], needle[64];
	size_t i;

	(void)state;
	for (i = 0; i < 200; i++) {
		snprintf(labels[i], sizeof(labels[i]), "label-%03zu", i);
		t[i].type = CKA_LABEL;
		t[i].pValue = labels[i];
		t[i].ulValueLen = strlen(labels[i]);
	}
	p11_tb_init(&tb, small, sizeof(small), P11_FMT_JSONL, P11_DATA_LENGTH);
	p11_tb_open(&tb, '{');
	assert_false(tb.heap);
	tf_attrs(&tb, "pTemplate", t, 200);
	p11_tb_close(&tb, '}');
	assert_true(tb.heap);
	assert_false(tb.failed);
	assert_true(tb.len > sizeof(small));
	assert_true(tb.cap >= tb.len);
	assert_true(json_is_object(tb.p, tb.len));
	/* Everything is there, in order, the first bytes included. */
	snprintf(needle, sizeof(needle),
	         "{\"pTemplate\":[{\"type\":\"CKA_LABEL\",\"value\":\"label-000\"}");
	assert_memory_equal(tb.p, needle, strlen(needle));
	for (i = 0; i < 200; i++) {
		snprintf(needle, sizeof(needle), "\"value\":\"label-%03zu\"}", i);
		assert_non_null(find(tb.p, tb.len, needle, strlen(needle)));
	}
	p11_tb_free(&tb);
	assert_null(tb.p);
	assert_false(tb.heap);
	p11_tb_free(&tb); /* twice is harmless */

	/* Without any storage of its own. */
	p11_tb_init(&tb, NULL, 0, P11_FMT_TEXT, P11_DATA_LENGTH);
	tf_ulong(&tb, "slotID", 1);
	assert_true(tb.heap);
	assert_int_equal(tb.len, 8);
	assert_memory_equal(tb.p, "slotID=1", 8);
	p11_tb_free(&tb);

	/* Storage that is used, not freed. */
	p11_tb_init(&tb, small, sizeof(small), P11_FMT_TEXT, P11_DATA_LENGTH);
	tf_ulong(&tb, "a", 1);
	assert_ptr_equal(tb.p, small);
	p11_tb_free(&tb);
}

static void test_builder_strings(void **state)
{
	(void)state;
	/* Text: plain words bare, anything else quoted and escaped. */
	p11_tb_init(&tb, storage, sizeof(storage), P11_FMT_TEXT, P11_DATA_LENGTH);
	p11_tb_str(&tb, "word", 4);
	p11_tb_raw(&tb, " ", 1);
	p11_tb_str(&tb, "", 0);
	p11_tb_raw(&tb, " ", 1);
	p11_tb_str(&tb, "a=b", 3);
	p11_tb_raw(&tb, " ", 1);
	p11_tb_str(&tb, "x,y", 3);
	p11_tb_raw(&tb, " ", 1);
	p11_tb_null(&tb);
	tb.format = P11_FMT_JSONL;
	p11_tb_raw(&tb, " ", 1);
	p11_tb_null(&tb);
	assert_int_equal(tb.len, strlen("word \"\" \"a=b\" \"x,y\" NULL null"));
	assert_memory_equal(tb.p, "word \"\" \"a=b\" \"x,y\" NULL null", tb.len);
	p11_tb_free(&tb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_checker),
		cmocka_unit_test(test_ulong_bool),
		cmocka_unit_test(test_const),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_ptr_and_init_args),
		cmocka_unit_test(test_pin),
		cmocka_unit_test(test_label),
		cmocka_unit_test(test_mech),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_hex_truncated),
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_attrs_private_key),
		cmocka_unit_test(test_attrs_secret_key),
		cmocka_unit_test(test_attrs_public_values),
		cmocka_unit_test(test_attrs_unknown_class),
		cmocka_unit_test(test_attrs_two_classes),
		cmocka_unit_test(test_attrs_label_escaped),
		cmocka_unit_test(test_attrs_label_utf8),
		cmocka_unit_test(test_attrs_label_invalid_utf8),
		cmocka_unit_test(test_attrs_wrong_lengths),
		cmocka_unit_test(test_attrs_null_and_unavailable),
		cmocka_unit_test(test_attrs_nested),
		cmocka_unit_test(test_attrs_nested_depth),
		cmocka_unit_test(test_attrs_allowed_mechanisms),
		cmocka_unit_test(test_attrs_impossible_count),
		cmocka_unit_test(test_attr_types),
		cmocka_unit_test(test_out_attrs),
		cmocka_unit_test(test_out_ulong),
		cmocka_unit_test(test_out_slots),
		cmocka_unit_test(test_out_handles),
		cmocka_unit_test(test_out_bytes),
		cmocka_unit_test(test_out_token_info),
		cmocka_unit_test(test_out_other_infos),
		cmocka_unit_test(test_builder_growth),
		cmocka_unit_test(test_builder_strings),
	};

	return cmocka_run_group_tests_name("trace_fmt", tests, group_setup, group_teardown);
}
