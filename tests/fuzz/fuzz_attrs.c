/*
 * Fuzz target: the attribute template formatter of the trace
 * (include/p11-trace.h: tf_attrs, tf_attr_types, tf_out_attrs), on
 * templates built from the input whose pointers point into copies of the
 * input of exactly the stated length, nested templates (CKA_WRAP_TEMPLATE
 * ...) included, in both formats and every Data setting, for every kind of
 * C_GetAttributeValue return value.
 *
 * Input: byte 0 the format, Data setting and return value; byte 1 the
 * count; then per attribute a type (one byte picking a well-known type, or
 * four raw bytes), a length byte (0xff: CK_UNAVAILABLE_INFORMATION, 0xfe: a
 * NULL value with the next byte as length) and the value's bytes; after
 * the template, per attribute, how many bytes longer the backend claims the
 * returned value is (C_GetAttributeValue's answer, checked against the
 * template as the client gave it).
 * Oracles: the sanitizers (no read outside the stated lengths), and a JSON
 * record that is one valid JSON object, a text record that is one line.
 */
#include "config.h"

#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "json-check.h"
#include "p11-trace.h"

typedef struct {
	const uint8_t *p;
	size_t n;
	void *alloc[1024];
	size_t n_alloc;
} input;

static const CK_ATTRIBUTE_TYPE known[] = {
	CKA_CLASS,
	CKA_TOKEN,
	CKA_PRIVATE,
	CKA_LABEL,
	CKA_APPLICATION,
	CKA_VALUE,
	CKA_OBJECT_ID,
	CKA_CERTIFICATE_TYPE,
	CKA_ISSUER,
	CKA_SERIAL_NUMBER,
	CKA_KEY_TYPE,
	CKA_SUBJECT,
	CKA_ID,
	CKA_SENSITIVE,
	CKA_ENCRYPT,
	CKA_SIGN,
	CKA_START_DATE,
	CKA_END_DATE,
	CKA_MODULUS,
	CKA_MODULUS_BITS,
	CKA_PUBLIC_EXPONENT,
	CKA_PRIVATE_EXPONENT,
	CKA_PRIME_1,
	CKA_COEFFICIENT,
	CKA_VALUE_LEN,
	CKA_EXTRACTABLE,
	CKA_EC_PARAMS,
	CKA_EC_POINT,
	CKA_WRAP_TEMPLATE,
	CKA_UNWRAP_TEMPLATE,
	CKA_DERIVE_TEMPLATE,
	CKA_ALLOWED_MECHANISMS,
	CKA_KEY_GEN_MECHANISM,
	CKA_HW_FEATURE_TYPE,
	CKA_MECHANISM_TYPE,
	CKA_VENDOR_DEFINED,
};

static int byte(input *in)
{
	int b;

	if (in->n == 0)
		return -1;
	b = in->p[0];
	in->p++;
	in->n--;
	return b;
}

/* A heap copy of the next len bytes (fewer when the input ends). */
static void *take(input *in, size_t len, size_t *got)
{
	void *p;

	if (len > in->n)
		len = in->n;
	if (in->n_alloc == sizeof(in->alloc) / sizeof(in->alloc[0]))
		return NULL;
	p = malloc(len ? len : 1);
	if (p == NULL)
		return NULL;
	memcpy(p, in->p, len);
	in->p += len;
	in->n -= len;
	in->alloc[in->n_alloc++] = p;
	*got = len;
	return p;
}

static CK_ATTRIBUTE *template(input *in, CK_ULONG *count, unsigned depth);

static void attribute(input *in, CK_ATTRIBUTE *a, unsigned depth)
{
	int t = byte(in), l, nested = 0;
	size_t got = 0;

	memset(a, 0, sizeof(*a));
	if (t < 0)
		return;
	if (t & 0x80) {
		a->type = known[(size_t)(t & 0x7f) % (sizeof(known) / sizeof(known[0]))];
	} else {
		CK_ULONG v = (CK_ULONG)t;
		int i;
		for (i = 0; i < 3; i++)
			v = v << 8 | (CK_ULONG)(byte(in) & 0xff);
		a->type = v;
	}
	l = byte(in);
	if (l < 0)
		return;
	if (l == 0xff) {
		a->pValue = take(in, 0, &got);
		a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		return;
	}
	if (l == 0xfe) {
		a->pValue = NULL;
		a->ulValueLen = (CK_ULONG)(byte(in) & 0xff);
		return;
	}
	if (a->type == CKA_WRAP_TEMPLATE || a->type == CKA_UNWRAP_TEMPLATE ||
	    a->type == CKA_DERIVE_TEMPLATE) {
		/* The value of these is an array of CK_ATTRIBUTE whose pointers the
		 * client vouches for, as for the template itself: a nested template,
		 * or a length that is no whole number of them (never read as one). */
		if (depth < 4 && (l & 1)) {
			CK_ULONG n;
			a->pValue = template(in, &n, depth + 1);
			a->ulValueLen = n * sizeof(CK_ATTRIBUTE);
			return;
		}
		nested = 1;
	}
	a->pValue = take(in, (size_t)l, &got);
	/* At the end of the input fewer bytes come: still no whole array. */
	if (nested && got % sizeof(CK_ATTRIBUTE) == 0 && got > 0)
		got--;
	a->ulValueLen = (CK_ULONG)got;
}

static CK_ATTRIBUTE *template(input *in, CK_ULONG *count, unsigned depth)
{
	CK_ATTRIBUTE *t;
	int n = byte(in);
	CK_ULONG i;

	*count = 0;
	if (n < 0 || in->n_alloc == sizeof(in->alloc) / sizeof(in->alloc[0]))
		return NULL;
	n &= 0x3f;
	t = calloc((size_t)n ? (size_t)n : 1, sizeof(*t));
	if (t == NULL)
		return NULL;
	in->alloc[in->n_alloc++] = t;
	for (i = 0; i < (CK_ULONG)n; i++)
		attribute(in, &t[i], depth);
	*count = (CK_ULONG)n;
	return t;
}

static const CK_RV rvs[] = {
	CKR_OK,
	CKR_ATTRIBUTE_SENSITIVE,
	CKR_ATTRIBUTE_TYPE_INVALID,
	CKR_BUFFER_TOO_SMALL,
	CKR_GENERAL_ERROR,
	CKR_OK,
	CKR_OK,
	CKR_ARGUMENTS_BAD,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	input in = { data, size, { 0 }, 0 };
	char storage[128];
	CK_ATTRIBUTE *t;
	CK_ULONG n;
	p11_tb tb;
	p11_format format;
	p11_data show;
	CK_RV rv;
	int b = byte(&in);
	size_t i;

	if (b < 0)
		return 0;
	format = (b & 1) ? P11_FMT_TEXT : P11_FMT_JSONL;
	show = (p11_data)((b >> 1) % 3);
	rv = rvs[(b >> 3) & 7];
	t = template(&in, &n, 0);

	p11_tb_init(&tb, storage, sizeof(storage), format, show);
	if (format == P11_FMT_JSONL)
		p11_tb_open(&tb, '{');
	tf_attrs(&tb, "pTemplate", t, n);
	tf_attr_types(&tb, "pAsked", t, n);
	tf_out_attrs(&tb, rv, "pOut", t, n, NULL);
	tf_out_attrs(&tb, rv, "pOutAsked", t, n, t);
	/* The backend's answer as input too: the input after the template
	 * says how much longer each returned value claims to be than the
	 * buffer (a lying backend); nothing past a buffer may be read. */
	if (t != NULL && n > 0 && n <= P11_TRACE_MAX_ATTRS) {
		CK_ATTRIBUTE *got = malloc(n * sizeof(*got));
		if (got != NULL) {
			memcpy(got, t, n * sizeof(*got));
			for (i = 0; i < n; i++) {
				int extra = byte(&in);
				if (extra > 0 && got[i].ulValueLen != CK_UNAVAILABLE_INFORMATION)
					got[i].ulValueLen += (CK_ULONG)extra;
			}
			tf_out_attrs(&tb, rv, "pLied", got, n, t);
			free(got);
		}
	}
	/* A NULL template with the same count: described, never read. */
	tf_attrs(&tb, "pNull", NULL, n);
	tf_out_attrs(&tb, rv, "pNullOut", NULL, n, NULL);
	if (format == P11_FMT_JSONL)
		p11_tb_close(&tb, '}');
	if (!tb.failed) {
		if (format == P11_FMT_JSONL && !json_is_object(tb.p, tb.len))
			fuzz_fail("the JSON record is not one valid JSON object");
		if (format == P11_FMT_TEXT && memchr(tb.p, '\n', tb.len) != NULL)
			fuzz_fail("the text record is not one line");
	}
	p11_tb_free(&tb);
	for (i = 0; i < in.n_alloc; i++)
		free(in.alloc[i]);
	return 0;
}
