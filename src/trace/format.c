/*
 * Trace formatting: the record builder and one formatter per argument kind
 * (p11fn.def). Shared by the module's trace layer and the CLI, as OpenSC's
 * pkcs11-display.c serves pkcs11-spy and its tools.
 *
 * Rules: constants by name; output arguments only when the call says they are
 * valid; NULL pointers shown as null; a buffer whose length is impossible is
 * described, not read; PINs and secret attribute values never appear, not
 * even as hex: "<redacted N bytes>".
 */
#include "config.h"

#include "p11-trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11-const.h"
#include "p11-text.h"
#include "p11-trace-schema.h"

/* ---- builder ---- */

void p11_tb_init(p11_tb *tb, char *storage, size_t cap, p11_format format, p11_data data)
{
	memset(tb, 0, sizeof(*tb));
	tb->p = storage;
	tb->cap = cap;
	tb->format = format;
	tb->data = data;
	tb->first[0] = 1;
}

void p11_tb_free(p11_tb *tb)
{
	if (tb->heap)
		free(tb->p);
	tb->p = NULL;
	tb->heap = false;
}

static bool grow(p11_tb *tb, size_t need)
{
	size_t cap = tb->cap ? tb->cap : 256;
	char *p;

	if (tb->failed)
		return false;
	while (cap - tb->len < need)
		cap *= 2;
	if (tb->heap) {
		p = realloc(tb->p, cap);
	} else {
		p = malloc(cap);
		if (p != NULL && tb->len)
			memcpy(p, tb->p, tb->len);
	}
	if (p == NULL) {
		tb->failed = true;
		return false;
	}
	tb->p = p;
	tb->cap = cap;
	tb->heap = true;
	return true;
}

/* The slow half of p11_tb_raw: the buffer must grow first. */
void p11_tb_raw_grow(p11_tb *tb, const char *s, size_t n)
{
	if (tb->cap - tb->len < n + 1 && !grow(tb, n + 1))
		return;
	memcpy(tb->p + tb->len, s, n);
	tb->len += n;
}

static inline void sep(p11_tb *tb)
{
	if (tb->first[tb->depth]) {
		tb->first[tb->depth] = 0;
		return;
	}
	if (tb->format == P11_FMT_JSONL)
		p11_tb_raw(tb, ",", 1);
	else
		p11_tb_raw(tb, ", ", 2);
}

/* ,"key": or , key= written in place: keys are short PKCS#11 parameter names. */
void p11_tb_key(p11_tb *tb, const char *key)
{
	size_t n = strlen(key);
	char *d;

	if (tb->cap - tb->len <= n + 5 && !grow(tb, n + 6))
		return;
	d = tb->p + tb->len;
	if (tb->first[tb->depth]) {
		tb->first[tb->depth] = 0;
	} else {
		*d++ = ',';
		if (tb->format != P11_FMT_JSONL)
			*d++ = ' ';
	}
	if (tb->format == P11_FMT_JSONL) {
		*d++ = '"';
		memcpy(d, key, n);
		d += n;
		*d++ = '"';
		*d++ = ':';
	} else {
		memcpy(d, key, n);
		d += n;
		*d++ = '=';
	}
	tb->len = (size_t)(d - tb->p);
}

void p11_tb_item(p11_tb *tb)
{
	sep(tb);
}

void p11_tb_open(p11_tb *tb, char c)
{
	p11_tb_raw(tb, &c, 1);
	if (tb->depth + 1 < sizeof(tb->first))
		tb->depth++;
	tb->first[tb->depth] = 1;
}

void p11_tb_close(p11_tb *tb, char c)
{
	if (tb->depth > 0)
		tb->depth--;
	p11_tb_raw(tb, &c, 1);
}

/* Decimal, two digits per division: handles, slot IDs and pids run to ten digits. */
void p11_tb_ulong(p11_tb *tb, unsigned long v)
{
	static const char pairs[] =
	        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	        "8081828384858687888990919293949596979899";
	char buf[24];
	size_t i = sizeof(buf);

	while (v >= 100) {
		unsigned long r = v % 100;
		v /= 100;
		buf[--i] = pairs[2 * r + 1];
		buf[--i] = pairs[2 * r];
	}
	if (v >= 10) {
		buf[--i] = pairs[2 * v + 1];
		buf[--i] = pairs[2 * v];
	} else {
		buf[--i] = (char)('0' + v);
	}
	p11_tb_raw(tb, buf + i, sizeof(buf) - i);
}

static void hexword(p11_tb *tb, unsigned long v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "\"0x%lx\"", v);
	if (tb->format == P11_FMT_TEXT)
		p11_tb_raw(tb, buf + 1, strlen(buf) - 2);
	else
		p11_tb_rawz(tb, buf);
}

/* Length of a valid multi-byte UTF-8 sequence at s (at most n bytes), or 0. */
size_t p11_utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len = p11_text_scan((const char *)s, n, &cp);

	return s[0] < 0x80 || cp == P11_TEXT_NOT_UTF8 ? 0 : len;
}

/*
 * A string value. Control characters are escaped; bytes that are not valid
 * UTF-8 (a middleware's Latin-1 label, a cut sequence) become U+FFFD, so
 * the record stays valid JSON. C1 and bidi controls are \u escapes too: a
 * trace is read with cat and tail as well as with p11shim trace.
 */
void p11_tb_str(p11_tb *tb, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	bool quote = tb->format == P11_FMT_JSONL;
	size_t i, start, len;

	if (!quote) {
		/* Text: bare when it is a plain word, else JSON-quoted. */
		for (i = 0; i < n; i++) {
			unsigned char c = u[i];
			if (c <= ' ' || c == '"' || c == ',' || c == '=' || c == '\\' || c >= 0x7f ||
			    c == '{' || c == '}' || c == '[' || c == ']' || c == '(' || c == ')')
				break;
		}
		quote = i < n || n == 0;
	}
	if (quote)
		p11_tb_raw(tb, "\"", 1);
	for (i = start = 0; i < n; i++) {
		unsigned char c = u[i];
		char esc[6];
		if (c >= 0x80) {
			uint32_t cp;
			char uesc[8];

			len = p11_text_scan(s + i, n - i, &cp);
			if (p11_text_shown_raw(cp)) {
				i += len - 1;
				continue;
			}
			p11_tb_raw(tb, s + start, i - start);
			start = i + len;
			if (cp == P11_TEXT_NOT_UTF8) {
				p11_tb_raw(tb, "\\ufffd", 6);
			} else {
				snprintf(uesc, sizeof(uesc), "\\u%04x", (unsigned)cp);
				p11_tb_raw(tb, uesc, 6);
			}
			i += len - 1;
			continue;
		}
		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		p11_tb_raw(tb, s + start, i - start);
		start = i + 1;
		esc[0] = '\\';
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			p11_tb_raw(tb, esc, 2);
		} else if (c == '\n') {
			p11_tb_raw(tb, "\\n", 2);
		} else {
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			p11_tb_raw(tb, esc, 6);
		}
	}
	p11_tb_raw(tb, s + start, n - start);
	if (quote)
		p11_tb_raw(tb, "\"", 1);
}

/* Whether s[0..n) is valid UTF-8 (ASCII included). */
static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i, len;

	for (i = 0; i < n; i += len) {
		len = s[i] < 0x80 ? 1 : p11_utf8_len(s + i, n - i);
		if (len == 0)
			return false;
	}
	return true;
}

/*
 * A fixed-size, blank-padded PKCS#11 text field (at most 64 bytes), as
 * p11_tb_str shows it. Returns the length without the padding when the
 * field is not valid UTF-8 (a middleware's Latin-1 label): its bytes
 * became U+FFFD, and the caller adds them as hex beside, so that a support
 * desk can still read what the card holds; 0 otherwise.
 */
size_t p11_tb_padded(p11_tb *tb, const unsigned char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\0'))
		n--;
	p11_tb_str(tb, (const char *)s, n);
	return utf8_valid(s, n) ? 0 : n;
}

void p11_tb_null(p11_tb *tb)
{
	p11_tb_raw(tb, tb->format == P11_FMT_JSONL ? "null" : "NULL", 4);
}

void p11_tb_bool(p11_tb *tb, bool v)
{
	p11_tb_rawz(tb, v ? "true" : "false");
}

/* A constant's name: a plain identifier ([A-Z0-9_]), so quoted (JSON) or bare (text) as is. */
static void tb_name(p11_tb *tb, const char *name)
{
	size_t n = strlen(name);

	if (tb->format == P11_FMT_JSONL) {
		char buf[80];
		if (n + 2 <= sizeof(buf)) {
			buf[0] = '"';
			memcpy(buf + 1, name, n);
			buf[n + 1] = '"';
			p11_tb_raw(tb, buf, n + 2);
			return;
		}
		p11_tb_str(tb, name, n);
		return;
	}
	p11_tb_raw(tb, name, n);
}

static void tb_name_or_hex(p11_tb *tb, int set, CK_ULONG v)
{
	const char *name = p11_const_name((p11_const_set)set, v);

	if (name != NULL)
		tb_name(tb, name);
	else
		hexword(tb, v);
}

static void tb_hex(p11_tb *tb, const CK_BYTE *p, CK_ULONG n)
{
	static const char hex[] = "0123456789abcdef";
	CK_ULONG i, shown = n > P11_TRACE_MAX_HEX ? P11_TRACE_MAX_HEX : n;
	char buf[128];
	size_t o = 0;

	if (tb->format == P11_FMT_JSONL)
		p11_tb_raw(tb, "\"", 1);
	for (i = 0; i < shown; i++) {
		buf[o++] = hex[p[i] >> 4];
		buf[o++] = hex[p[i] & 15];
		if (o == sizeof(buf)) {
			p11_tb_raw(tb, buf, o);
			o = 0;
		}
	}
	p11_tb_raw(tb, buf, o);
	if (shown < n)
		p11_tb_raw(tb, "...", 3);
	if (tb->format == P11_FMT_JSONL)
		p11_tb_raw(tb, "\"", 1);
}

static void tb_redacted(p11_tb *tb, CK_ULONG n)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "<redacted %lu bytes>", (unsigned long)n);
	p11_tb_str(tb, buf, strlen(buf));
}

const char *p11_rv_str(CK_RV rv)
{
	static __thread char buf[24];
	const char *name;

	if (rv == CKR_OK)
		return "CKR_OK"; /* nearly every call: no search */
	name = p11_const_name(P11_CONST_RV, rv);

	if (name != NULL)
		return name;
	snprintf(buf, sizeof(buf), "0x%lx", (unsigned long)rv);
	return buf;
}

/* ---- argument kinds ---- */

void tf_ulong(p11_tb *tb, const char *name, CK_ULONG v)
{
	p11_tb_key(tb, name);
	p11_tb_ulong(tb, v);
}

void tf_bool(p11_tb *tb, const char *name, CK_BBOOL v)
{
	p11_tb_key(tb, name);
	p11_tb_bool(tb, v != CK_FALSE);
}

void tf_const(p11_tb *tb, const char *name, int set, CK_ULONG v)
{
	p11_tb_key(tb, name);
	tb_name_or_hex(tb, set, v);
}

static void emit_flag(void *ctx, const char *name, CK_FLAGS rest)
{
	p11_tb *tb = ctx;

	p11_tb_item(tb);
	if (name != NULL)
		tb_name(tb, name);
	else
		hexword(tb, rest);
}

static void tb_flags(p11_tb *tb, int set, CK_FLAGS v)
{
	p11_tb_open(tb, '[');
	p11_flags_names((p11_flag_set)set, v, emit_flag, tb);
	p11_tb_close(tb, ']');
}

void tf_flags(p11_tb *tb, const char *name, int set, CK_FLAGS v)
{
	p11_tb_key(tb, name);
	tb_flags(tb, set, v);
}

void tf_ptr_present(p11_tb *tb, const char *name, const void *p)
{
	p11_tb_key(tb, name);
	if (p == NULL)
		p11_tb_null(tb);
	else
		p11_tb_str(tb, "set", 3);
}

void tf_init_args(p11_tb *tb, const char *name, CK_VOID_PTR p)
{
	CK_C_INITIALIZE_ARGS *a = p;

	p11_tb_key(tb, name);
	if (a == NULL) {
		p11_tb_null(tb);
		return;
	}
	p11_tb_open(tb, '{');
	tf_flags(tb, "flags", P11_FLAGS_INIT, a->flags);
	tf_ptr_present(tb, "CreateMutex", (const void *)a->CreateMutex);
	tf_ptr_present(tb, "DestroyMutex", (const void *)a->DestroyMutex);
	tf_ptr_present(tb, "LockMutex", (const void *)a->LockMutex);
	tf_ptr_present(tb, "UnlockMutex", (const void *)a->UnlockMutex);
	tf_ptr_present(tb, "pReserved", a->pReserved);
	p11_tb_close(tb, '}');
}

void tf_pin(p11_tb *tb, const char *name, CK_UTF8CHAR_PTR p, CK_ULONG n)
{
	p11_tb_key(tb, name);
	if (p == NULL)
		p11_tb_null(tb); /* protected authentication path, or a bad call */
	else
		tb_redacted(tb, n);
}

static void tb_hex(p11_tb *tb, const CK_BYTE *p, CK_ULONG n);

/* After a text field that was not UTF-8: its bytes, as NAME_hex. */
static void tb_padded_hex(p11_tb *tb, const char *name, const unsigned char *s, size_t n)
{
	char key[64];

	if (n == 0)
		return;
	snprintf(key, sizeof(key), "%s" P11_TF_HEX_SUFFIX, name);
	p11_tb_key(tb, key);
	tb_hex(tb, s, n);
}

void tf_label(p11_tb *tb, const char *name, CK_UTF8CHAR_PTR p)
{
	p11_tb_key(tb, name);
	if (p == NULL)
		p11_tb_null(tb);
	else
		tb_padded_hex(tb, name, p, p11_tb_padded(tb, p, 32));
}

/* A data buffer under the [trace] Data setting; `secret` shows its length only. */
static void tb_data(p11_tb *tb, const CK_BYTE *p, CK_ULONG n, bool secret)
{
	if (p == NULL) {
		p11_tb_null(tb);
		return;
	}
	p11_tb_open(tb, '{');
	p11_tb_key(tb, P11_TF_LEN);
	p11_tb_ulong(tb, n);
	if (tb->data == P11_DATA_HEX && !secret) {
		p11_tb_key(tb, P11_TF_HEX);
		tb_hex(tb, p, n);
	}
	p11_tb_close(tb, '}');
}

void tf_bytes(p11_tb *tb, const char *name, const CK_BYTE *p, CK_ULONG n, bool secret)
{
	if (tb->data == P11_DATA_NONE && p != NULL)
		return;
	p11_tb_key(tb, name);
	tb_data(tb, p, n, secret);
}

void tf_mech(p11_tb *tb, const char *name, CK_MECHANISM_PTR m)
{
	p11_tb_key(tb, name);
	if (m == NULL) {
		p11_tb_null(tb);
		return;
	}
	p11_tb_open(tb, '{');
	tf_const(tb, P11_TF_MECHANISM, P11_CONST_MECH, m->mechanism);
	p11_tb_key(tb, P11_TF_PARAMETER);
	/* Parameters are structures or IVs; show their size, and bytes on request. */
	tb_data(tb, m->pParameter, m->ulParameterLen, false);
	p11_tb_close(tb, '}');
}

/* The capacity the client offers for an output buffer. */
void tf_buf_cap(p11_tb *tb, const char *name, const void *p, CK_ULONG_PTR pn)
{
	p11_tb_key(tb, name);
	if (p == NULL) {
		p11_tb_null(tb);
		return;
	}
	p11_tb_open(tb, '{');
	p11_tb_key(tb, P11_TF_CAP);
	if (pn == NULL)
		p11_tb_null(tb);
	else
		p11_tb_ulong(tb, *pn);
	p11_tb_close(tb, '}');
}

bool p11_attr_is_secret(CK_ATTRIBUTE_TYPE type, CK_OBJECT_CLASS cls)
{
	switch (type) {
	case CKA_PRIVATE_EXPONENT:
	case CKA_PRIME_1:
	case CKA_PRIME_2:
	case CKA_EXPONENT_1:
	case CKA_EXPONENT_2:
	case CKA_COEFFICIENT: return true;
	case CKA_VALUE:
		/* Key material unless the class is known to be public. */
		return !(cls == CKO_CERTIFICATE || cls == CKO_DATA || cls == CKO_PUBLIC_KEY ||
		         cls == CKO_DOMAIN_PARAMETERS);
	default:
		/* A vendor's attribute may be anything, a key share included:
		 * shown only in a template of a public class, as CKA_VALUE. */
		if ((type & CKA_VENDOR_DEFINED) != 0)
			return p11_attr_is_secret(CKA_VALUE, cls);
		return false;
	}
}

/*
 * The class a template says, when it says it without doubt: every CKA_CLASS
 * entry readable and naming the same class. A template may hold CKA_CLASS
 * twice (first CKO_DATA, then CKO_SECRET_KEY: the backend rejects it, but
 * only after the record is built), an entry with no room or the wrong size,
 * or none at all; each of those is CK_UNAVAILABLE_INFORMATION, and values
 * are then redacted as a secret key's would be.
 */
static CK_OBJECT_CLASS template_class(CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	CK_OBJECT_CLASS cls = CK_UNAVAILABLE_INFORMATION, v;
	CK_ULONG i;

	for (i = 0; i < n; i++) {
		if (t[i].type != CKA_CLASS)
			continue;
		if (t[i].pValue == NULL || t[i].ulValueLen != sizeof(CK_OBJECT_CLASS))
			return CK_UNAVAILABLE_INFORMATION;
		memcpy(&v, t[i].pValue, sizeof(v));
		if (v == CK_UNAVAILABLE_INFORMATION ||
		    (cls != CK_UNAVAILABLE_INFORMATION && v != cls))
			return CK_UNAVAILABLE_INFORMATION;
		cls = v;
	}
	return cls;
}

static void tb_attr_value(p11_tb *tb, const CK_ATTRIBUTE *a, CK_OBJECT_CLASS cls, unsigned depth);

/*
 * A template; `outer` is the class of the template it is nested in
 * (CKA_WRAP_TEMPLATE, CKA_UNWRAP_TEMPLATE, CKA_DERIVE_TEMPLATE), or
 * CKO_DATA at the top. A nested template's values are shown only when
 * both it and every template around it say a public class.
 */
static void tb_template(p11_tb *tb, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_CLASS outer,
                        unsigned depth)
{
	CK_OBJECT_CLASS cls;
	CK_ULONG i;

	if (t == NULL) {
		p11_tb_null(tb);
		return;
	}
	if (n > P11_TRACE_MAX_ATTRS || depth > 2) {
		p11_tb_open(tb, '{');
		p11_tb_key(tb, P11_TF_COUNT);
		p11_tb_ulong(tb, n);
		p11_tb_key(tb, P11_TF_SHOWN);
		p11_tb_bool(tb, false);
		p11_tb_close(tb, '}');
		return;
	}
	cls = template_class(t, n);
	if (p11_attr_is_secret(CKA_VALUE, outer))
		cls = CK_UNAVAILABLE_INFORMATION;
	p11_tb_open(tb, '[');
	for (i = 0; i < n; i++) {
		p11_tb_item(tb);
		p11_tb_open(tb, '{');
		tf_const(tb, P11_TF_TYPE, P11_CONST_ATTR, t[i].type);
		tb_attr_value(tb, &t[i], cls, depth);
		p11_tb_close(tb, '}');
	}
	p11_tb_close(tb, ']');
}

static void tb_attr_value(p11_tb *tb, const CK_ATTRIBUTE *a, CK_OBJECT_CLASS cls, unsigned depth)
{
	p11_const_set names;
	p11_attr_kind kind;
	CK_ULONG n = a->ulValueLen, i;

	p11_tb_key(tb, P11_TF_VALUE);
	if (a->pValue == NULL || n == CK_UNAVAILABLE_INFORMATION) {
		p11_tb_null(tb);
		if (a->pValue == NULL && n != CK_UNAVAILABLE_INFORMATION) {
			p11_tb_key(tb, P11_TF_LEN);
			p11_tb_ulong(tb, n);
		}
		return;
	}
	if (p11_attr_is_secret(a->type, cls)) {
		tb_redacted(tb, n);
		return;
	}
	kind = p11_attr_kind_of(a->type, &names);
	switch (kind) {
	case P11_ATTR_BOOL:
		if (n == sizeof(CK_BBOOL)) {
			p11_tb_bool(tb, *(CK_BBOOL *)a->pValue != CK_FALSE);
			return;
		}
		break;
	case P11_ATTR_ULONG:
		if (n == sizeof(CK_ULONG)) {
			CK_ULONG v = *(CK_ULONG *)a->pValue;
			if (names == P11_CONST_COUNT)
				p11_tb_ulong(tb, v);
			else
				tb_name_or_hex(tb, names, v);
			return;
		}
		break;
	case P11_ATTR_STRING:
		if (n <= P11_TRACE_MAX_HEX) {
			p11_tb_str(tb, a->pValue, n);
			/* Not UTF-8: the bytes beside, recoverable. */
			if (!utf8_valid(a->pValue, n)) {
				p11_tb_key(tb, P11_TF_HEX);
				tb_hex(tb, a->pValue, n);
			}
			return;
		}
		break;
	case P11_ATTR_DATE:
		if (n == sizeof(CK_DATE)) {
			p11_tb_str(tb, a->pValue, n);
			return;
		}
		break;
	case P11_ATTR_ATTRS:
		if (n % sizeof(CK_ATTRIBUTE) == 0) {
			tb_template(tb, a->pValue, n / sizeof(CK_ATTRIBUTE), cls, depth + 1);
			return;
		}
		break;
	case P11_ATTR_MECHS:
		if (n % sizeof(CK_MECHANISM_TYPE) == 0 &&
		    n / sizeof(CK_MECHANISM_TYPE) <= P11_TRACE_MAX_LIST) {
			const CK_MECHANISM_TYPE *m = a->pValue;
			p11_tb_open(tb, '[');
			for (i = 0; i < n / sizeof(CK_MECHANISM_TYPE); i++) {
				p11_tb_item(tb);
				tb_name_or_hex(tb, P11_CONST_MECH, m[i]);
			}
			p11_tb_close(tb, ']');
			return;
		}
		break;
	case P11_ATTR_BYTES:
		/* A data object's or certificate's CKA_VALUE follows the Data setting;
		 * identifiers, moduli and parameters are always shown. */
		if (a->type == CKA_VALUE || (a->type & CKA_VENDOR_DEFINED) != 0) {
			tb_data(tb, a->pValue, n, false);
			return;
		}
		tb_hex(tb, a->pValue, n);
		return;
	}
	/* A length that does not fit the attribute's type: shown, not read. */
	p11_tb_open(tb, '{');
	p11_tb_key(tb, P11_TF_LEN);
	p11_tb_ulong(tb, n);
	p11_tb_close(tb, '}');
}

void tf_attrs(p11_tb *tb, const char *name, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	p11_tb_key(tb, name);
	tb_template(tb, t, n, CKO_DATA, 0);
}

/* C_GetAttributeValue in: the types asked for and the room offered. */
void tf_attr_types(p11_tb *tb, const char *name, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	CK_ULONG i;

	p11_tb_key(tb, name);
	if (t == NULL || n > P11_TRACE_MAX_ATTRS) {
		if (t == NULL)
			p11_tb_null(tb);
		else
			tb_template(tb, t, n, CKO_DATA, 0);
		return;
	}
	p11_tb_open(tb, '[');
	for (i = 0; i < n; i++) {
		p11_tb_item(tb);
		p11_tb_open(tb, '{');
		tf_const(tb, P11_TF_TYPE, P11_CONST_ATTR, t[i].type);
		p11_tb_key(tb, P11_TF_CAP);
		if (t[i].pValue == NULL)
			p11_tb_null(tb);
		else
			p11_tb_ulong(tb, t[i].ulValueLen);
		p11_tb_close(tb, '}');
	}
	p11_tb_close(tb, ']');
}

/*
 * C_GetAttributeValue out. PKCS#11 5.2: with CKR_ATTRIBUTE_SENSITIVE,
 * CKR_ATTRIBUTE_TYPE_INVALID or CKR_BUFFER_TOO_SMALL the per-attribute
 * lengths are still meaningful, so they are shown for those too.
 *
 * `asked` is the template as the client gave it, copied before the call
 * (types, buffers, their sizes), or NULL when t is trusted (a template the
 * caller built). A backend may answer a length larger than the buffer it
 * was given, or change a type or a buffer pointer: such a value is not
 * read, only its length shown, and the count of them returned, for a note.
 * A nested template's buffers were not copied, so what the backend wrote
 * into one is never read: it is shown by its length.
 */
CK_ULONG tf_out_attrs(p11_tb *tb, CK_RV rv, const char *name, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                      const CK_ATTRIBUTE *asked)
{
	CK_ATTRIBUTE copy[P11_TRACE_MAX_ATTRS];
	CK_OBJECT_CLASS cls;
	CK_ULONG i, lies = 0;
	p11_const_set names;

	if (t == NULL || n > P11_TRACE_MAX_ATTRS)
		return 0;
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
	    rv != CKR_BUFFER_TOO_SMALL)
		return 0;
	for (i = 0; i < n; i++) {
		copy[i] = t[i];
		if (asked == NULL)
			continue;
		copy[i].type = asked[i].type;
		copy[i].pValue = asked[i].pValue;
		if (t[i].type != asked[i].type || t[i].pValue != asked[i].pValue ||
		    (asked[i].pValue != NULL && t[i].ulValueLen != CK_UNAVAILABLE_INFORMATION &&
		     t[i].ulValueLen > asked[i].ulValueLen)) {
			copy[i].pValue = NULL; /* not read: shown by its length */
			lies++;
		} else if (p11_attr_kind_of(asked[i].type, &names) == P11_ATTR_ATTRS) {
			copy[i].pValue = NULL;
		}
	}
	cls = rv == CKR_OK ? template_class(copy, n) : CK_UNAVAILABLE_INFORMATION;
	p11_tb_key(tb, name);
	p11_tb_open(tb, '[');
	for (i = 0; i < n; i++) {
		p11_tb_item(tb);
		p11_tb_open(tb, '{');
		tf_const(tb, P11_TF_TYPE, P11_CONST_ATTR, copy[i].type);
		if (copy[i].ulValueLen == CK_UNAVAILABLE_INFORMATION) {
			p11_tb_key(tb, P11_TF_LEN);
			p11_tb_str(tb, "CK_UNAVAILABLE_INFORMATION", 26);
		} else if (copy[i].pValue == NULL || rv != CKR_OK) {
			p11_tb_key(tb, P11_TF_LEN);
			p11_tb_ulong(tb, copy[i].ulValueLen);
		} else {
			tb_attr_value(tb, &copy[i], cls, 0);
		}
		p11_tb_close(tb, '}');
	}
	p11_tb_close(tb, ']');
	return lies;
}

void tf_out_ulong(p11_tb *tb, CK_RV rv, const char *name, CK_ULONG_PTR p)
{
	if (rv != CKR_OK || p == NULL)
		return;
	tf_ulong(tb, name, *p);
}

/*
 * Lists with the section 5.2 length convention: slot IDs, mechanism types.
 * `cap` is the room the client's list had before the call. A count larger
 * than that with CKR_OK is a lie of the backend: the list is not read, and
 * true is returned, for a note.
 */
bool tf_out_slots(p11_tb *tb, CK_RV rv, const char *name, const char *count, CK_ULONG_PTR list,
                  CK_ULONG_PTR n, int set, CK_ULONG cap)
{
	CK_ULONG i;

	if ((rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL) || n == NULL)
		return false;
	tf_ulong(tb, count, *n);
	if (rv != CKR_OK || list == NULL)
		return false;
	if (*n > cap)
		return true;
	if (*n > P11_TRACE_MAX_LIST)
		return false;
	p11_tb_key(tb, name);
	p11_tb_open(tb, '[');
	for (i = 0; i < *n; i++) {
		p11_tb_item(tb);
		if (set < 0)
			p11_tb_ulong(tb, list[i]);
		else
			tb_name_or_hex(tb, set, list[i]);
	}
	p11_tb_close(tb, ']');
	return false;
}

/* An output buffer; `cap` and the answer as for tf_out_slots. */
bool tf_out_bytes(p11_tb *tb, CK_RV rv, const char *name, const char *lenname, const CK_BYTE *p,
                  CK_ULONG_PTR pn, bool secret, CK_ULONG cap)
{
	if ((rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL) || pn == NULL)
		return false;
	tf_ulong(tb, lenname, *pn);
	if (rv != CKR_OK || p == NULL)
		return false;
	if (*pn > cap)
		return true;
	if (tb->data != P11_DATA_HEX || secret)
		return false;
	p11_tb_key(tb, name);
	tb_hex(tb, p, *pn);
	return false;
}

/* C_FindObjects: a count over max is the backend's lie, answered true. */
bool tf_out_handles(p11_tb *tb, CK_RV rv, const char *name, const char *count,
                    CK_OBJECT_HANDLE_PTR p, CK_ULONG max, CK_ULONG_PTR pn)
{
	CK_ULONG i;

	if (rv != CKR_OK || pn == NULL)
		return false;
	tf_ulong(tb, count, *pn);
	if (p == NULL)
		return false;
	if (*pn > max)
		return true;
	if (*pn > P11_TRACE_MAX_LIST)
		return false;
	p11_tb_key(tb, name);
	p11_tb_open(tb, '[');
	for (i = 0; i < *pn; i++) {
		p11_tb_item(tb);
		p11_tb_ulong(tb, p[i]);
	}
	p11_tb_close(tb, ']');
	return false;
}

static void tb_version(p11_tb *tb, const char *name, CK_VERSION v)
{
	char buf[16];

	p11_tb_key(tb, name);
	snprintf(buf, sizeof(buf), "%u.%u", v.major, v.minor);
	p11_tb_str(tb, buf, strlen(buf));
}

static void tb_padded_field(p11_tb *tb, const char *name, const unsigned char *s, size_t n)
{
	p11_tb_key(tb, name);
	tb_padded_hex(tb, name, s, p11_tb_padded(tb, s, n));
}

/*
 * A CK_*_INFO the call filled, as an object under `name`: only when the
 * call succeeded (after a failure it holds whatever the client left there)
 * and the pointer is set. true: the object is open; the caller writes the
 * fields and closes it.
 */
static bool tb_out_open(p11_tb *tb, CK_RV rv, const char *name, const void *p)
{
	if (rv != CKR_OK || p == NULL)
		return false;
	p11_tb_key(tb, name);
	p11_tb_open(tb, '{');
	return true;
}

void tf_out_info(p11_tb *tb, CK_RV rv, const char *name, CK_INFO_PTR p)
{
	if (!tb_out_open(tb, rv, name, p))
		return;
	tb_version(tb, "cryptokiVersion", p->cryptokiVersion);
	tb_padded_field(tb, "manufacturerID", p->manufacturerID, sizeof(p->manufacturerID));
	tf_ulong(tb, "flags", p->flags);
	tb_padded_field(tb, "libraryDescription", p->libraryDescription,
	                sizeof(p->libraryDescription));
	tb_version(tb, "libraryVersion", p->libraryVersion);
	p11_tb_close(tb, '}');
}

void tf_out_slot_info(p11_tb *tb, CK_RV rv, const char *name, CK_SLOT_INFO_PTR p)
{
	if (!tb_out_open(tb, rv, name, p))
		return;
	tb_padded_field(tb, "slotDescription", p->slotDescription, sizeof(p->slotDescription));
	tb_padded_field(tb, "manufacturerID", p->manufacturerID, sizeof(p->manufacturerID));
	tf_flags(tb, "flags", P11_FLAGS_SLOT, p->flags);
	tb_version(tb, "hardwareVersion", p->hardwareVersion);
	tb_version(tb, "firmwareVersion", p->firmwareVersion);
	p11_tb_close(tb, '}');
}

void tf_out_token_info(p11_tb *tb, CK_RV rv, const char *name, CK_TOKEN_INFO_PTR p)
{
	if (!tb_out_open(tb, rv, name, p))
		return;
	tb_padded_field(tb, "label", p->label, sizeof(p->label));
	tb_padded_field(tb, "manufacturerID", p->manufacturerID, sizeof(p->manufacturerID));
	tb_padded_field(tb, "model", p->model, sizeof(p->model));
	tb_padded_field(tb, "serialNumber", p->serialNumber, sizeof(p->serialNumber));
	tf_flags(tb, "flags", P11_FLAGS_TOKEN, p->flags);
	tf_ulong(tb, "ulSessionCount", p->ulSessionCount);
	tf_ulong(tb, "ulMaxPinLen", p->ulMaxPinLen);
	tf_ulong(tb, "ulMinPinLen", p->ulMinPinLen);
	tb_version(tb, "hardwareVersion", p->hardwareVersion);
	tb_version(tb, "firmwareVersion", p->firmwareVersion);
	p11_tb_close(tb, '}');
}

void tf_out_mech_info(p11_tb *tb, CK_RV rv, const char *name, CK_MECHANISM_INFO_PTR p)
{
	if (!tb_out_open(tb, rv, name, p))
		return;
	tf_ulong(tb, "ulMinKeySize", p->ulMinKeySize);
	tf_ulong(tb, "ulMaxKeySize", p->ulMaxKeySize);
	tf_flags(tb, "flags", P11_FLAGS_MECH, p->flags);
	p11_tb_close(tb, '}');
}

void tf_out_session_info(p11_tb *tb, CK_RV rv, const char *name, CK_SESSION_INFO_PTR p)
{
	if (!tb_out_open(tb, rv, name, p))
		return;
	tf_ulong(tb, "slotID", p->slotID);
	tf_const(tb, "state", P11_CONST_STATE, p->state);
	tf_flags(tb, "flags", P11_FLAGS_SESSION, p->flags);
	tf_ulong(tb, "ulDeviceError", p->ulDeviceError);
	p11_tb_close(tb, '}');
}
