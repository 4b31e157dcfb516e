/*
 * JSON tokenizer and parser of the CLI (json.h explains the layout).
 *
 * Speed matters here (`trace summary` must stay at least ten times faster
 * than a Python json.loads loop; `make bench-trace` measures it): strings are scanned 16 bytes at a time (SSE2, which
 * every x86-64 has; 8 at a time in portable code elsewhere), a value can be
 * skipped without making values of it, and nothing is allocated per text.
 * Parser and skipper are recursive descent with a depth limit, so a
 * hostile line cannot exhaust the stack.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "p11-text.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

struct json_doc {
	json_value *vals;
	size_t max;
	size_t used;
	unsigned max_depth;
};

/*
 * Bytes that end a run of plain string bytes: the quote, the backslash and
 * the control characters, which JSON forbids raw inside strings (NUL among
 * them, so NUL-padding is never taken for string data).
 */
static const unsigned char str_stop[256] = {
	[0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1,
	[0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1,
	[0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1,
	[0x15] = 1, [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1,
	[0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1, ['"'] = 1,  ['\\'] = 1,
};

/*
 * The first str_stop byte at or after p, or end. Strings are most of a
 * trace's bytes (hex of buffers, labels): this is the hot loop. Loads stay
 * within [p, end).
 */
#if defined(__SSE2__)
static inline char *scan_str(char *p, const char *end)
{
	const __m128i quote = _mm_set1_epi8('"');
	const __m128i bslash = _mm_set1_epi8('\\');
	const __m128i ctl = _mm_set1_epi8(0x1f);

	while (end - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
		/* x <= 0x1f, unsigned: min(x, 0x1f) == x */
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote),
		                                      _mm_cmpeq_epi8(x, bslash)),
		                         _mm_cmpeq_epi8(_mm_min_epu8(x, ctl), x));
		int mask = _mm_movemask_epi8(m);
		if (mask)
			return p + __builtin_ctz((unsigned)mask);
		p += 16;
	}
	while (p < end && !str_stop[(unsigned char)*p])
		p++;
	return p;
}
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static inline char *scan_str(char *p, const char *end)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;

	while (end - p >= 8) {
		uint64_t w, q, b, m;
		memcpy(&w, p, 8);
		q = w ^ (ones * '"');
		b = w ^ (ones * '\\');
		/* zero bytes of q or b, bytes of w below 0x20: the lowest flag is exact */
		m = (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w)) & highs;
		if (m)
			return p + (__builtin_ctzll(m) >> 3);
		p += 8;
	}
	while (p < end && !str_stop[(unsigned char)*p])
		p++;
	return p;
}
#else
static inline char *scan_str(char *p, const char *end)
{
	while (p < end && !str_stop[(unsigned char)*p])
		p++;
	return p;
}
#endif

/* ---- tokenizer ---- */

void json_cursor_init(json_cursor *c, char *text, size_t len)
{
	c->p = text;
	c->end = text + len;
	c->start = text;
	c->err_msg = NULL;
	c->err_at = NULL;
}

int json_fail(json_cursor *c, char *at, const char *msg)
{
	/* Keep the first error: callers unwind without overwriting it. */
	if (c->err_msg == NULL) {
		c->err_msg = msg;
		c->err_at = at;
	}
	return -1;
}

void json_cursor_error(const json_cursor *c, json_error *err)
{
	err->msg = c->err_msg ? c->err_msg : "no error";
	err->offset = c->err_at ? (size_t)(c->err_at - c->start) : 0;
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		unsigned char ch = (unsigned char)p[i];
		v <<= 4;
		if (ch >= '0' && ch <= '9')
			v |= ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			v |= ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F')
			v |= ch - 'A' + 10;
		else
			return -1;
	}
	*out = v;
	return 0;
}

static char *put_utf8(char *w, unsigned cp)
{
	if (cp < 0x80) {
		*w++ = (char)cp;
	} else if (cp < 0x800) {
		*w++ = (char)(0xc0 | (cp >> 6));
		*w++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*w++ = (char)(0xe0 | (cp >> 12));
		*w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*w++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*w++ = (char)(0xf0 | (cp >> 18));
		*w++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*w++ = (char)(0x80 | (cp & 0x3f));
	}
	return w;
}

/*
 * c->p is at the opening quote. decode: unescape in place (else only
 * check). On success *out and *out_len hold the string, c->p is past it.
 */
static int scan_string(json_cursor *c, int decode, const char **out, uint32_t *out_len)
{
	char *start = c->p + 1;
	char *end = c->end;
	char *p = scan_str(start, end);
	char *w;

	/* Fast path: most strings have no escapes and stay where they are. */
	if (p < end && *p == '"') {
		*out = start;
		*out_len = (uint32_t)(p - start);
		c->p = p + 1;
		return 0;
	}

	w = p;
	while (p < end) {
		unsigned char ch = (unsigned char)*p;
		unsigned cp, lo;

		if (!str_stop[ch]) {
			/* A run of plain bytes, moved down over what the escapes saved. */
			char *run = scan_str(p, end);
			if (decode)
				memmove(w, p, (size_t)(run - p));
			w += run - p;
			p = run;
			continue;
		}
		if (ch == '"')
			break;
		if (ch != '\\')
			return json_fail(c, p,
			                 ch ? "control character in string" : "NUL byte in string");
		if (end - p < 2)
			return json_fail(c, p, "unterminated string");
		switch (p[1]) {
		case '"':
			cp = '"';
			p += 2;
			break;
		case '\\':
			cp = '\\';
			p += 2;
			break;
		case '/':
			cp = '/';
			p += 2;
			break;
		case 'b':
			cp = '\b';
			p += 2;
			break;
		case 'f':
			cp = '\f';
			p += 2;
			break;
		case 'n':
			cp = '\n';
			p += 2;
			break;
		case 'r':
			cp = '\r';
			p += 2;
			break;
		case 't':
			cp = '\t';
			p += 2;
			break;
		case 'u':
			if (end - p < 6 || hex4(p + 2, &cp) < 0)
				return json_fail(c, p, "invalid \\u escape");
			p += 6;
			if (cp >= 0xd800 && cp < 0xdc00) {
				/* A high surrogate needs its low half; a lone one becomes U+FFFD. */
				if (end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
				    hex4(p + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					p += 6;
				} else {
					cp = 0xfffd;
				}
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				cp = 0xfffd;
			}
			break;
		default: return json_fail(c, p, "invalid escape in string");
		}
		if (decode) {
			w = put_utf8(w, cp);
		} else {
			char tmp[4];
			w += put_utf8(tmp, cp) - tmp;
		}
	}
	if (p >= end)
		return json_fail(c, start - 1, "unterminated string");
	*out = start;
	*out_len = (uint32_t)(w - start);
	c->p = p + 1;
	return 0;
}

int json_scan_string(json_cursor *c, const char **s, uint32_t *len)
{
	return scan_string(c, 1, s, len);
}

int json_scan_plain(json_cursor *c, const char **s, uint32_t *len)
{
	char *start = c->p + 1;
	char *q;

	if (c->p >= c->end || *c->p != '"')
		return 1;
	q = scan_str(start, c->end);
	if (q >= c->end || *q != '"')
		return 1;
	*s = start;
	*len = (uint32_t)(q - start);
	c->p = q + 1;
	return 0;
}

static inline __attribute__((always_inline)) int
scan_number(json_cursor *c, const char **s, uint32_t *len, int64_t *ival, bool *is_int)
{
	char *start = c->p;
	char *p = start;
	char *end = c->end;
	uint64_t acc = 0;
	int neg = 0, overflow = 0, integral = 1;

	if (p < end && *p == '-') {
		neg = 1;
		p++;
	}
	if (p >= end)
		return json_fail(c, start, "invalid number");
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		/* The value on the way: trace fields are integers, read once. */
		char *digits = p;
		while (p < end && *p >= '0' && *p <= '9') {
			acc = acc * 10 + (unsigned)(*p - '0');
			p++;
		}
		/* 19 digits always fit 64 bits; more never fit int64_t, and acc wrapped. */
		if (p - digits > 19)
			overflow = 1;
	} else {
		return json_fail(c, start, "invalid number");
	}
	if (p < end && *p == '.') {
		integral = 0;
		p++;
		if (p >= end || *p < '0' || *p > '9')
			return json_fail(c, start, "invalid number");
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		integral = 0;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return json_fail(c, start, "invalid number");
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	*s = start;
	*len = (uint32_t)(p - start);
	*is_int = false;
	if (integral && !overflow) {
		if (!neg && acc <= (uint64_t)INT64_MAX) {
			*ival = (int64_t)acc;
			*is_int = true;
		} else if (neg && acc <= (uint64_t)INT64_MAX + 1) {
			*ival = acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc;
			*is_int = true;
		}
	}
	c->p = p;
	return 0;
}

int json_scan_number(json_cursor *c, const char **s, uint32_t *len, int64_t *ival, bool *is_int)
{
	return scan_number(c, s, len, ival, is_int);
}

static int scan_literal(json_cursor *c, const char *word, size_t n)
{
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
		return json_fail(c, c->p, "invalid literal");
	c->p += n;
	return 0;
}

/* A string without escapes, inline; the rest through scan_string(). */
static inline int skip_string(json_cursor *c)
{
	char *q = scan_str(c->p + 1, c->end);
	const char *s;
	uint32_t len;

	if (q < c->end && *q == '"') {
		c->p = q + 1;
		return 0;
	}
	return scan_string(c, 0, &s, &len);
}

/*
 * The parser's grammar without its values: recursive like it, bounded by
 * budget. What makes it cheaper is what it leaves out: no value slots, no
 * decoding, no key lookups.
 */
static int skip_value(json_cursor *c, unsigned budget)
{
	const char *s;
	uint32_t len;
	int64_t iv;
	bool is_int;
	char close;

	if (c->p >= c->end)
		return json_fail(c, c->p, "unexpected end of text");
	switch (*c->p) {
	case '"': return skip_string(c);
	case '{':
	case '[': break;
	case 't': return scan_literal(c, "true", 4);
	case 'f': return scan_literal(c, "false", 5);
	case 'n': return scan_literal(c, "null", 4);
	case '\0': return json_fail(c, c->p, "NUL byte");
	default:
		if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9'))
			return scan_number(c, &s, &len, &iv, &is_int);
		return json_fail(c, c->p, "unexpected character");
	}
	if (budget == 0)
		return json_fail(c, c->p, "nested too deeply");
	close = *c->p == '{' ? '}' : ']';
	c->p++;
	json_ws(c);
	if (c->p < c->end && *c->p == close) {
		c->p++;
		return 0;
	}
	for (;;) {
		if (close == '}') {
			if (c->p >= c->end)
				return json_fail(c, c->p, "unterminated object");
			if (*c->p != '"')
				return json_fail(c, c->p, "expected a member name");
			if (skip_string(c) < 0)
				return -1;
			json_ws(c);
			if (c->p >= c->end || *c->p != ':')
				return json_fail(c, c->p, "expected ':'");
			c->p++;
			json_ws(c);
		}
		if (c->p < c->end && *c->p == '"') {
			/* Most values are strings: no recursion for them. */
			if (skip_string(c) < 0)
				return -1;
		} else if (skip_value(c, budget - 1) < 0) {
			return -1;
		}
		json_ws(c);
		if (c->p >= c->end)
			return json_fail(c, c->p,
			                 close == '}' ? "unterminated object" : "unterminated array");
		if (*c->p == ',') {
			c->p++;
			json_ws(c);
			continue;
		}
		if (*c->p == close) {
			c->p++;
			return 0;
		}
		return json_fail(c, c->p,
		                 close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

int json_skip_value(json_cursor *c, unsigned max_depth)
{
	return skip_value(c, max_depth);
}

/* ---- parser ---- */

typedef struct {
	json_cursor *c;
	json_value *vals;
	size_t n, max;
	unsigned max_depth;
} parser;

json_doc *json_doc_new(size_t max_values, unsigned max_depth)
{
	json_doc *doc;

	if (max_values == 0 || max_values > UINT32_MAX || max_depth == 0)
		return NULL;
	doc = calloc(1, sizeof(*doc));
	if (doc == NULL)
		return NULL;
	doc->vals = malloc(max_values * sizeof(*doc->vals));
	if (doc->vals == NULL) {
		free(doc);
		return NULL;
	}
	doc->max = max_values;
	doc->max_depth = max_depth;
	return doc;
}

void json_doc_free(json_doc *doc)
{
	if (doc == NULL)
		return;
	free(doc->vals);
	free(doc);
}

void json_doc_reset(json_doc *doc)
{
	doc->used = 0;
}

static int parse_value(parser *ps, unsigned depth);

/* c->p is at '[' or '{'; idx is the container's slot in the arena. */
static int parse_container(parser *ps, size_t idx, unsigned depth)
{
	json_cursor *c = ps->c;
	int is_obj = *c->p == '{';
	char close = is_obj ? '}' : ']';
	uint32_t count = 0;

	if (depth >= ps->max_depth)
		return json_fail(c, c->p, "nested too deeply");
	c->p++;
	json_ws(c);
	if (c->p < c->end && *c->p == close) {
		c->p++;
		goto done;
	}
	for (;;) {
		const char *key = NULL;
		uint32_t key_len = 0;
		size_t child;

		if (is_obj) {
			if (c->p >= c->end)
				return json_fail(c, c->p, "unterminated object");
			if (*c->p != '"')
				return json_fail(c, c->p, "expected a member name");
			if (scan_string(c, 1, &key, &key_len) < 0)
				return -1;
			json_ws(c);
			if (c->p >= c->end || *c->p != ':')
				return json_fail(c, c->p, "expected ':'");
			c->p++;
			json_ws(c);
		}
		child = ps->n;
		if (parse_value(ps, depth + 1) < 0)
			return -1;
		ps->vals[child].key = key;
		ps->vals[child].key_len = key_len;
		count++;
		json_ws(c);
		if (c->p >= c->end)
			return json_fail(c, c->p,
			                 is_obj ? "unterminated object" : "unterminated array");
		if (*c->p == ',') {
			c->p++;
			json_ws(c);
			continue;
		}
		if (*c->p == close) {
			c->p++;
			break;
		}
		return json_fail(c, c->p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
	}
done:
	ps->vals[idx].type = (uint8_t)(is_obj ? JSON_OBJECT : JSON_ARRAY);
	ps->vals[idx].len = count;
	return 0;
}

static int parse_value(parser *ps, unsigned depth)
{
	json_cursor *c = ps->c;
	size_t idx;
	json_value *v;
	int64_t iv;
	bool is_int;
	int rc;

	if (c->p >= c->end)
		return json_fail(c, c->p, "unexpected end of text");
	if (ps->n >= ps->max)
		return json_fail(c, c->p, "too many values");
	idx = ps->n++;
	v = &ps->vals[idx];
	v->key = NULL;
	v->key_len = 0;
	v->str = NULL;
	v->len = 0;

	switch (*c->p) {
	case '{':
	case '[': rc = parse_container(ps, idx, depth); break;
	case '"':
		v->type = JSON_STRING;
		rc = scan_string(c, 1, &v->str, &v->len);
		break;
	case 't':
		v->type = JSON_TRUE;
		rc = scan_literal(c, "true", 4);
		break;
	case 'f':
		v->type = JSON_FALSE;
		rc = scan_literal(c, "false", 5);
		break;
	case 'n':
		v->type = JSON_NULL;
		rc = scan_literal(c, "null", 4);
		break;
	case '\0': return json_fail(c, c->p, "NUL byte");
	default:
		if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')) {
			v->type = JSON_NUMBER;
			rc = json_scan_number(c, &v->str, &v->len, &iv, &is_int);
		} else {
			rc = json_fail(c, c->p, "unexpected character");
		}
		break;
	}
	if (rc < 0)
		return -1;
	/* Not through v: children were appended after it. */
	ps->vals[idx].size = (uint32_t)(ps->n - idx);
	return 0;
}

const json_value *json_parse_value(json_doc *doc, json_cursor *c)
{
	parser ps;
	size_t first = doc->used;

	ps.c = c;
	ps.vals = doc->vals;
	ps.n = doc->used;
	ps.max = doc->max;
	ps.max_depth = doc->max_depth;
	if (parse_value(&ps, 0) < 0)
		return NULL;
	doc->used = ps.n;
	return &doc->vals[first];
}

const json_value *json_parse(json_doc *doc, char *text, size_t len, json_error *err)
{
	json_cursor c;
	const json_value *root;

	json_cursor_init(&c, text, len);
	doc->used = 0;
	json_ws(&c);
	root = json_parse_value(doc, &c);
	if (root) {
		json_ws(&c);
		if (c.p == c.end)
			return root;
		json_fail(&c, c.p,
		          *c.p ? "unexpected text after the value" : "NUL byte after the value");
	}
	if (err)
		json_cursor_error(&c, err);
	return NULL;
}

static bool bytes_eq(const char *a, size_t alen, const char *s)
{
	size_t n = strlen(s);

	return alen == n && memcmp(a, s, n) == 0;
}

const json_value *json_get(const json_value *v, const char *key)
{
	const json_value *c;
	size_t n, i;

	if (v == NULL || v->type != JSON_OBJECT)
		return NULL;
	n = strlen(key);
	for (i = 0, c = v + 1; i < v->len; i++, c = json_next(c)) {
		if (c->key_len == n && memcmp(c->key, key, n) == 0)
			return c;
	}
	return NULL;
}

bool json_is_str(const json_value *v, const char *s)
{
	return v && v->type == JSON_STRING && bytes_eq(v->str, v->len, s);
}

bool json_key_is(const json_value *v, const char *s)
{
	return v && v->key && bytes_eq(v->key, v->key_len, s);
}

bool json_int(const json_value *v, int64_t *out)
{
	json_cursor c;
	const char *s;
	uint32_t len;
	bool is_int;

	if (v == NULL || v->type != JSON_NUMBER)
		return false;
	/* Re-scanning the literal never writes: numbers are not decoded in place. */
	json_cursor_init(&c, (char *)(uintptr_t)v->str, v->len);
	return json_scan_number(&c, &s, &len, out, &is_int) == 0 && c.p == c.end && is_int;
}

void json_write_str(FILE *f, const char *s, size_t len)
{
	const char *run = s;
	const char *end = s + len;
	const char *p;

	putc('"', f);
	for (p = s; p < end; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch >= 0x80) {
			/*
			 * Valid JSON, and safe on a terminal like the text output
			 * (p11_text_shown_raw): C1 and bidi controls as \u escapes,
			 * a byte that is not UTF-8 as U+FFFD.
			 */
			uint32_t cp;
			size_t n = p11_text_scan(p, (size_t)(end - p), &cp);

			if (p11_text_shown_raw(cp)) {
				p += n - 1;
				continue;
			}
			if (p > run)
				fwrite(run, 1, (size_t)(p - run), f);
			fprintf(f, "\\u%04x", cp == P11_TEXT_NOT_UTF8 ? 0xfffdu : (unsigned)cp);
			p += n - 1;
			run = p + 1;
			continue;
		}
		if (!str_stop[ch] && ch != 0x7f)
			continue;
		if (p > run)
			fwrite(run, 1, (size_t)(p - run), f);
		run = p + 1;
		switch (ch) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default: fprintf(f, "\\u%04x", ch); break;
		}
	}
	if (p > run)
		fwrite(run, 1, (size_t)(p - run), f);
	putc('"', f);
}
