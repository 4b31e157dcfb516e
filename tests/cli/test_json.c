/*
 * Unit tests of the CLI's JSON tokenizer/parser (src/tool/json.c) and of
 * the trace record reader (src/tool/trace_read.c): escapes, nesting,
 * every syntax error, no read past the text (texts are malloc'ed to their
 * exact length, so ASan and valgrind see any overread), skipping against
 * parsing, and the reader on damaged files: truncated and malformed lines,
 * NUL padding, CRLF, BOM, gzip, records across buffer refills.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "json.h"
#include "trace_read.h"

/* ---- helpers ---- */

/* A copy of s of exactly its length (no NUL after it): overreads are caught. */
static char *exact(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);

	assert_non_null(p);
	memcpy(p, s, n);
	return p;
}

static const json_value *parse(json_doc *doc, char **keep, const char *s, json_error *err)
{
	*keep = exact(s, strlen(s));
	return json_parse(doc, *keep, strlen(s), err);
}

static void expect_error(const char *text, size_t len, const char *msg_part, size_t offset)
{
	json_doc *doc = json_doc_new(64, 8);
	char *t = exact(text, len);
	json_error err = { 0, NULL };

	assert_null(json_parse(doc, t, len, &err));
	assert_non_null(err.msg);
	if (strstr(err.msg, msg_part) == NULL)
		fail_msg("'%.*s': error \"%s\", expected \"%s\"", (int)len, text, err.msg, msg_part);
	if (offset != (size_t)-1)
		assert_int_equal(err.offset, offset);
	free(t);
	json_doc_free(doc);
}

static int str_is(const json_value *v, const char *s, size_t n)
{
	return v && v->type == JSON_STRING && v->len == n && memcmp(v->str, s, n) == 0;
}

/* ---- parser ---- */

static void test_nested(void **state)
{
	json_doc *doc = json_doc_new(256, 16);
	char *t;
	const json_value *root, *args, *tmpl, *a, *c;
	int64_t n;
	uint32_t i;

	(void)state;
	root = parse(doc, &t,
	             " {\"fn\":\"C_FindObjectsInit\",\"args\":{\"hSession\":1,\"pTemplate\":"
	             "[{\"type\":\"CKA_LABEL\",\"value\":\"Card Eraser\"},{\"type\":\"CKA_TOKEN\",\"value\":true},"
	             "{\"type\":\"CKA_ID\",\"value\":{\"len\":2,\"hex\":\"0a0b\"}}],\"pMechanism\":null,"
	             "\"e\":[],\"o\":{}},\"us\":-12,\"f\":1.5e3} \r\n",
	             NULL);
	assert_non_null(root);
	assert_int_equal(root->type, JSON_OBJECT);
	assert_int_equal(root->len, 4);
	/* sizes: the next sibling of args is "us" */
	args = json_get(root, "args");
	assert_non_null(args);
	assert_int_equal(args->type, JSON_OBJECT);
	assert_true(json_is_str(json_next(args), NULL) == false);
	assert_true(json_key_is(json_next(args), "us"));
	assert_true(json_int(json_get(root, "us"), &n));
	assert_int_equal(n, -12);
	assert_false(json_int(json_get(root, "f"), &n)); /* not integral */

	tmpl = json_get(args, "pTemplate");
	assert_int_equal(tmpl->type, JSON_ARRAY);
	assert_int_equal(tmpl->len, 3);
	a = json_first(tmpl);
	assert_true(json_is_str(json_get(a, "type"), "CKA_LABEL"));
	assert_true(json_is_str(json_get(a, "value"), "Card Eraser"));
	a = json_next(a);
	assert_int_equal(json_get(a, "value")->type, JSON_TRUE);
	a = json_next(a);
	c = json_get(json_get(a, "value"), "hex");
	assert_true(json_is_str(c, "0a0b"));
	assert_int_equal(json_get(args, "pMechanism")->type, JSON_NULL);
	assert_int_equal(json_get(args, "e")->len, 0);
	assert_null(json_first(json_get(args, "e")));
	assert_int_equal(json_get(args, "o")->type, JSON_OBJECT);
	assert_null(json_get(args, "missing"));
	assert_null(json_get(tmpl, "type")); /* not an object */

	/* Iteration visits each child once, in order. */
	for (i = 0, c = json_first(args); i < args->len; i++, c = json_next(c))
		assert_non_null(c->key);
	assert_true(json_key_is(json_first(args), "hSession"));
	free(t);
	json_doc_free(doc);
}

static void test_escapes(void **state)
{
	json_doc *doc = json_doc_new(64, 8);
	char *t;
	const json_value *root;

	(void)state;
	root = parse(doc, &t,
	             "[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"caf\\u00e9 \\u20ac\", "
	             "\"\\ud83d\\ude00\", \"x\\ud800y\", \"\\udc00\", \"nul\\u0000in\", \"r\xc3\xa9"
	             "al\"]",
	             NULL);
	assert_non_null(root);
	assert_true(str_is(root + 1, "a\"b\\c/d\b\f\n\r\t", 12));
	assert_true(str_is(root + 2, "caf\xc3\xa9 \xe2\x82\xac", 9));
	assert_true(str_is(root + 3, "\xf0\x9f\x98\x80", 4)); /* surrogate pair */
	assert_true(str_is(root + 4, "x\xef\xbf\xbdy", 5));   /* lone high -> U+FFFD */
	assert_true(str_is(root + 5, "\xef\xbf\xbd", 3));     /* lone low */
	assert_true(str_is(root + 6, "nul\0in", 6));          /* NUL-safe */
	assert_true(str_is(root + 7,
	                   "r\xc3\xa9"
	                   "al",
	                   5)); /* raw UTF-8 passes */
	free(t);

	/* A long string with an escape late: the SIMD run and the slow path meet. */
	root = parse(doc, &t, "\"0123456789abcdef0123456789abcdef\\n0123456789abcdef0123\"", NULL);
	assert_true(str_is(root, "0123456789abcdef0123456789abcdef\n0123456789abcdef0123", 53));
	free(t);
	json_doc_free(doc);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("{\"a\":1", 6, "unterminated object", 6);
	expect_error("{\"a\":\"xy", 8, "unterminated string", 5);
	expect_error("[1,2", 4, "unterminated array", 4);
	expect_error("{\"a\" 1}", 7, "expected ':'", 5);
	expect_error("{\"a\":1 \"b\":2}", 13, "expected ',' or '}'", 7);
	expect_error("{1:2}", 5, "member name", 1);
	expect_error("[1 2]", 5, "expected ',' or ']'", 3);
	expect_error("\"a\\qb\"", 6, "invalid escape", 2);
	expect_error("\"\\u12G4\"", 8, "\\u escape", 1);
	expect_error("\"\\u12\"", 6, "\\u escape", 1);
	expect_error("\"tab\there\"", 10, "control character", 4);
	expect_error("\"nul\0x\"", 7, "NUL byte in string", 4);
	expect_error("{\"a\":1}\0\0", 9, "NUL byte after", 7);
	expect_error("\0", 1, "NUL byte", 0);
	expect_error("{\"a\":1} x", 9, "after the value", 8);
	expect_error("01", 2, "after the value", 1);
	expect_error("1.", 2, "invalid number", 0);
	expect_error("-", 1, "invalid number", 0);
	expect_error("1e", 2, "invalid number", 0);
	expect_error("+1", 2, "unexpected character", 0);
	expect_error("tru", 3, "invalid literal", 0);
	expect_error("nul", 3, "invalid literal", 0);
	expect_error("", 0, "unexpected end", 0);
	expect_error("   ", 3, "unexpected end", 3);
	expect_error("[[[[[[[[[1]]]]]]]]]", 19, "nested too deeply", (size_t)-1);
	/* The text ends before the closing brace that follows it in memory. */
	expect_error("{\"a\":[1,2]}", 10, "unterminated object", 10);
}

static void test_limits(void **state)
{
	json_doc *doc = json_doc_new(4, 3);
	char *t;
	json_error err;

	(void)state;
	assert_non_null(parse(doc, &t, "[1,2,3]", &err));
	free(t);
	assert_null(parse(doc, &t, "[1,2,3,4]", &err));
	assert_string_equal(err.msg, "too many values");
	free(t);
	assert_non_null(parse(doc, &t, "[[[]]]", &err));
	free(t);
	assert_null(parse(doc, &t, "[[[[]]]]", &err));
	assert_string_equal(err.msg, "nested too deeply");
	free(t);
	json_doc_free(doc);
	assert_null(json_doc_new(0, 1));
	assert_null(json_doc_new(1, 0));
}

static void test_ints(void **state)
{
	json_doc *doc = json_doc_new(16, 4);
	char *t;
	const json_value *root;
	int64_t n;

	(void)state;
	root = parse(doc, &t,
	             "[0, -0, 9223372036854775807, -9223372036854775808, 9223372036854775808, "
	             "18446744073709551616, 12345678901234567890123, 1e3, 2.0]",
	             NULL);
	assert_non_null(root);
	assert_true(json_int(root + 1, &n));
	assert_int_equal(n, 0);
	assert_true(json_int(root + 2, &n));
	assert_int_equal(n, 0);
	assert_true(json_int(root + 3, &n));
	assert_true(n == INT64_MAX);
	assert_true(json_int(root + 4, &n));
	assert_true(n == INT64_MIN);
	assert_false(json_int(root + 5, &n));
	assert_false(json_int(root + 6, &n));
	assert_false(json_int(root + 7, &n));
	assert_false(json_int(root + 8, &n));
	assert_false(json_int(root + 9, &n));
	assert_false(json_int(NULL, &n));
	free(t);
	json_doc_free(doc);
}

/* ---- tokenizer: skipping ends where parsing ends, and fails where it fails ---- */

static uint64_t rng = 88172645463325252ull;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* A random value with strings that hold brackets, quotes and backslashes at any offset. */
static void gen_value(char *buf, size_t *o, size_t cap, int depth)
{
	unsigned k = depth > 4 ? rnd(4) : rnd(7);
	unsigned i, n;

#define PUT(s)                                    \
	do {                                      \
		const char *s_ = (s);             \
		size_t l_ = strlen(s_);           \
		if (*o + l_ < cap) {              \
			memcpy(buf + *o, s_, l_); \
			*o += l_;                 \
		}                                 \
	} while (0)
	switch (k) {
	case 0: PUT("12"); break;
	case 1: PUT("null"); break;
	case 2:
	case 3:
		PUT("\"");
		n = rnd(90);
		for (i = 0; i < n; i++) {
			static const char *const pieces[] = { "a",    "{",   "}",
				                              "[",    "]",   "\\\"",
				                              "\\\\", "\\n", "\\u00e9",
				                              ",",    ":",   "0123456789abcdef" };
			PUT(pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))]);
		}
		PUT("\"");
		break;
	case 4:
	case 5:
		PUT("[");
		n = rnd(5);
		for (i = 0; i < n; i++) {
			if (i)
				PUT(",");
			gen_value(buf, o, cap, depth + 1);
		}
		PUT("]");
		break;
	default:
		PUT("{");
		n = rnd(5);
		for (i = 0; i < n; i++) {
			if (i)
				PUT(",");
			PUT(rnd(2) ? "\"k\":" : "\"k\\\"{[\": ");
			gen_value(buf, o, cap, depth + 1);
		}
		PUT("}");
		break;
	}
#undef PUT
}

static void test_skip_matches_parse(void **state)
{
	json_doc *doc = json_doc_new(100000, 64);
	static char buf[1 << 16];
	int round;

	(void)state;
	for (round = 0; round < 3000; round++) {
		size_t o = 0, pad = rnd(70), i;
		json_cursor a, b;
		char *t1, *t2;

		/* leading filler moves the value across the 16-byte string scans */
		for (i = 0; i < pad; i++)
			buf[o++] = ' ';
		gen_value(buf, &o, sizeof(buf) - 8, 0);
		memcpy(buf + o, ",\"x\"", 4);
		o += 4;
		t1 = exact(buf, o);
		t2 = exact(buf, o);
		json_cursor_init(&a, t1, o);
		json_cursor_init(&b, t2, o);
		json_ws(&a);
		json_ws(&b);
		json_doc_reset(doc);
		if (json_parse_value(doc, &a) == NULL)
			fail_msg("round %d: %s at %d in %.*s", round, a.err_msg,
			         (int)(a.err_at - t1), (int)o, buf);
		if (json_skip_value(&b, 64) != 0)
			fail_msg("skip failed on round %d: %s", round, b.err_msg);
		assert_int_equal(a.p - t1, b.p - t2);
		free(t1);
		free(t2);

		/* one byte changed: skip and parse agree on failing, and on the end */
		if (o > pad + 1) {
			static const char bytes[] = "{}[]\",:\\ \t0123456789.-eEtrufalsn\x01\x7f";
			int ra, rb;

			buf[pad + rnd((unsigned)(o - pad))] = bytes[rnd(sizeof(bytes) - 1)];
			t1 = exact(buf, o);
			t2 = exact(buf, o);
			json_cursor_init(&a, t1, o);
			json_cursor_init(&b, t2, o);
			json_ws(&a);
			json_ws(&b);
			json_doc_reset(doc);
			ra = json_parse_value(doc, &a) ? 0 : -1;
			rb = json_skip_value(&b, 64);
			if (ra != rb)
				fail_msg("round %d: parse %d (%s), skip %d (%s): %.*s", round, ra,
				         a.err_msg ? a.err_msg : "", rb, b.err_msg ? b.err_msg : "",
				         (int)o, buf);
			if (ra == 0)
				assert_int_equal(a.p - t1, b.p - t2);
			else
				assert_string_equal(a.err_msg, b.err_msg);
			free(t1);
			free(t2);
		}
	}
	json_doc_free(doc);
}

static void test_skip_errors(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		{ "{\"a\":[1,2}", "expected ',' or ']'" },
		{ "[1,2", "unterminated array" },
		{ "{\"a\" 1}", "expected ':'" },
		{ "[1.]", "invalid number" },
		{ "[\"a\tb\"]", "control character" },
		{ "[\"\\x\"]", "invalid escape" },
		{ "{\"a\":\"}", "unterminated string" },
		{ "[\"\\\"]", "unterminated string" },
		{ "[[[[[[[[[[]]]]]]]]]]", "nested too deeply" },
		{ "nope", "invalid literal" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].text);
		char *t = exact(cases[i].text, n);
		json_cursor c;

		json_cursor_init(&c, t, n);
		assert_int_equal(json_skip_value(&c, 8), -1);
		if (strstr(c.err_msg, cases[i].msg) == NULL)
			fail_msg("%s: \"%s\", expected \"%s\"", cases[i].text, c.err_msg,
			         cases[i].msg);
		free(t);
	}
}

static void test_scan_plain(void **state)
{
	char *t = exact("\"abc\"\"a\\nb\"", 11);
	json_cursor c;
	const char *s;
	uint32_t n;

	(void)state;
	json_cursor_init(&c, t, 11);
	assert_int_equal(json_scan_plain(&c, &s, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(c.p - t, 5);
	/* an escape: nothing consumed, nothing changed */
	assert_int_equal(json_scan_plain(&c, &s, &n), 1);
	assert_int_equal(c.p - t, 5);
	assert_null(c.err_msg);
	assert_memory_equal(t + 5, "\"a\\nb\"", 6);
	free(t);
}

static void test_write_str(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	json_doc *doc = json_doc_new(4, 2);
	const json_value *v;
	static const char in[] = "q\"b\\n\n\t\x01\x7f \xc3\xa9";

	(void)state;
	assert_non_null(f);
	json_write_str(f, in, sizeof(in) - 1);
	fclose(f);
	assert_string_equal(buf, "\"q\\\"b\\\\n\\n\\t\\u0001\\u007f \xc3\xa9\"");
	/* and back */
	v = json_parse(doc, buf, len, NULL);
	assert_true(str_is(v, in, sizeof(in) - 1));
	free(buf);
	json_doc_free(doc);

	/* Issue 14, item 5: C1 and bidi controls escaped, a byte that is not UTF-8 as U+FFFD. */
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	json_write_str(f,
	               "a\xc2\x9b"
	               "b\x9b"
	               "c\xe2\x80\xae"
	               "d\xff",
	               11);
	fclose(f);
	assert_string_equal(buf, "\"a\\u009bb\\ufffdc\\u202ed\\ufffd\"");
	free(buf);
}

/* ---- record reader ---- */

typedef struct {
	unsigned n;
	uint64_t lines[16];
	char msgs[16][200];
} warnings;

static void collect(void *data, const char *name, uint64_t line, const char *msg)
{
	warnings *w = data;

	(void)name;
	if (w->n < 16) {
		w->lines[w->n] = line;
		snprintf(w->msgs[w->n], sizeof(w->msgs[0]), "%s", msg);
	}
	w->n++;
}

static char tmpdir[256];

static int setup_dir(void **state)
{
	const char *base = getenv("TMPDIR");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_json.XXXXXX", base ? base : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *write_file(const char *name, const char *data, size_t n)
{
	static char path[400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	return path;
}

#define REC(seq, fn, rest)                                                            \
	"{\"ts\":\"2026-11-27T20:45:40.000001Z\",\"pid\":42,\"tid\":43,\"seq\":" #seq \
	",\"fn\":\"" fn "\"" rest "}"

/* Reads path in both modes and checks they agree; returns the records' seq numbers. */
static unsigned read_all(const char *path, int skip, int64_t *seqs, uint64_t *lines, unsigned max,
                         warnings *w)
{
	char err[256];
	trace_reader *r = trace_open(path, collect, w, err, sizeof(err));
	trace_record rec;
	unsigned n = 0;
	int rc;

	if (r == NULL)
		fail_msg("open %s: %s", path, err);
	trace_skip_args(r, skip);
	while ((rc = trace_next(r, &rec)) > 0) {
		if (n < max) {
			seqs[n] = rec.seq;
			lines[n] = rec.line;
		}
		n++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(trace_damaged(r), w->n);
	trace_close(r);
	return n;
}

static void test_reader_damage(void **state)
{
	static const char data[] =
	        "\xef\xbb\xbf" REC(1, "C_Initialize", ",\"args\":{\"pInitArgs\":null},\"rv\":\"CKR_OK\",\"us\":5") "\n" REC(
	                2, "C_GetInfo",
	                ",\"args\":{},\"rv\":\"CKR_OK\"") "\r\n"
	                                                  "\n"
	                                                  "   \n"
	                                                  "{\"ts\":\"2026\",\"pid\":42,\"fn\":\"C_Login\",\"args\":{\"hSession\":1,\"pPin\":\"<redacted\n" /* line 5: malformed */
	                                                  "[1,2,3]\n"     /* line 6: no object */
	                                                  "{\"pid\":1}\n" /* line 7: no fn */
	        REC(8, "C_Finalize",
	            ",\"args\":{\"pReserved\":null},\"rv\":\"CKR_OK\",\"us\":1") "\0\0\0" /* NUL padding */
	        REC(9, "C_Finalize",
	            ",\"args\":{},\"rv\":\"CKR_OK\"") "\n"         /* same line 8 */
	                                              "\0\0\0\0\n" /* line 9: NULs only */
	                                              "{\"ts\":\"2026-11-27T20\0\0\0\0\n" /* line 10: cut by NULs */
	        REC(11, "C_Logout", ",\"args\":{\"hSession\":1},\"rv\":\"CKR_OK\",\"extra\":{\"x\":[1]}") "\n" REC(
	                12, "C_CloseSession",
	                ",\"args\":{\"hSession\":1},\"rv\":\"CKR_OK\",\"us\":3") "\n"
	                                                                         "{\"ts\":\"2026-11-27T20:45:41Z\",\"pid\":42,\"tid\":43,\"seq\":13,\"fn\":\"C_Sign\",\"args\":{\"hSess" /* line 13, cut */
	                                                                         "\0\0\0\0\0\0\0\0";
	const char *path = write_file("damaged.jsonl", data, sizeof(data) - 1);
	int skip;

	(void)state;
	for (skip = 0; skip < 2; skip++) {
		warnings w;
		int64_t seqs[16];
		uint64_t lines[16];
		unsigned n;

		memset(&w, 0, sizeof(w));
		n = read_all(path, skip, seqs, lines, 16, &w);
		assert_int_equal(n, 6);
		assert_int_equal(seqs[0], 1);
		assert_int_equal(lines[0], 1);
		assert_int_equal(seqs[1], 2);
		assert_int_equal(lines[1], 2);
		assert_int_equal(seqs[2], 8);
		assert_int_equal(lines[2], 8);
		assert_int_equal(seqs[3], 9);
		assert_int_equal(lines[3], 8);
		assert_int_equal(seqs[4], 11);
		assert_int_equal(lines[4], 11);
		assert_int_equal(seqs[5], 12);
		assert_int_equal(lines[5], 12);

		assert_int_equal(w.n, 5);
		assert_int_equal(w.lines[0], 5);
		assert_non_null(strstr(w.msgs[0], "malformed record: unterminated string"));
		assert_int_equal(w.lines[1], 6);
		assert_non_null(strstr(w.msgs[1], "not a JSON object"));
		assert_int_equal(w.lines[2], 7);
		assert_non_null(strstr(w.msgs[2], "no \"fn\""));
		assert_int_equal(w.lines[3], 10);
		assert_non_null(strstr(w.msgs[3], "truncated record (followed by NUL bytes)"));
		assert_int_equal(w.lines[4], 13);
		assert_non_null(strstr(w.msgs[4], "truncated record"));
	}
}

static void test_reader_last_line(void **state)
{
	static const char whole[] =
	        REC(1, "C_GetInfo", ",\"rv\":\"CKR_OK\""); /* no newline: still whole */
	static const char cut[] = REC(1, "C_GetInfo", "") "\n"
	                                                  "{\"ts\":\"2026-11-27T2";
	warnings w;
	int64_t seqs[4];
	uint64_t lines[4];

	(void)state;
	memset(&w, 0, sizeof(w));
	assert_int_equal(read_all(write_file("whole.jsonl", whole, sizeof(whole) - 1), 1, seqs,
	                          lines, 4, &w),
	                 1);
	assert_int_equal(w.n, 0);

	memset(&w, 0, sizeof(w));
	assert_int_equal(read_all(write_file("cut.jsonl", cut, sizeof(cut) - 1), 0, seqs, lines, 4,
	                          &w),
	                 1);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.lines[0], 2);
	assert_non_null(strstr(w.msgs[0], "the last line ends without a newline"));

	memset(&w, 0, sizeof(w));
	assert_int_equal(read_all(write_file("empty.jsonl", "", 0), 0, seqs, lines, 4, &w), 0);
	assert_int_equal(w.n, 0);
}

static void test_reader_fields(void **state)
{
	static const char data[] =
	        "{\"ts\":\"2026-11-27T20:45:40.123456Z\",\"pid\":4242,\"tid\":4243,\"seq\":17,\"fn\":\"C_Login\","
	        "\"args\":{\"hSession\":1,\"userType\":\"CKU_SO\",\"pPin\":\"<redacted 8 bytes>\"},"
	        "\"rv\":\"CKR_PIN_INCORRECT\",\"us\":1532,\"notes\":[\"login: a \\\"quoted\\\" note\",\"x\"]}\n"
	        /* other order, spaces, escapes in fn: the full path */
	        "{ \"fn\" : \"C_\\u004cogout\", \"seq\":2, \"rv\":null, \"crash\":\"SIGSEGV\", \"pid\":1.5 }\n"
	        /* outputs apart */
	        "{\"ts\":\"t\",\"pid\":1,\"tid\":2,\"seq\":3,\"fn\":\"C_OpenSession\",\"args\":{\"slotID\":1},"
	        "\"out\":{\"phSession\":9},\"rv\":\"CKR_OK\",\"us\":4}\n";
	const char *path = write_file("fields.jsonl", data, sizeof(data) - 1);
	int skip;

	(void)state;
	for (skip = 0; skip < 2; skip++) {
		char err[256];
		trace_reader *r = trace_open(path, NULL, NULL, err, sizeof(err));
		trace_record rec;
		int64_t v;

		assert_non_null(r);
		trace_skip_args(r, skip);
		assert_int_equal(trace_next(r, &rec), 1);
		assert_true(trace_streq(rec.ts, rec.ts_len, "2026-11-27T20:45:40.123456Z"));
		assert_int_equal(rec.pid, 4242);
		assert_int_equal(rec.tid, 4243);
		assert_int_equal(rec.seq, 17);
		assert_true(trace_streq(rec.fn, rec.fn_len, "C_Login"));
		assert_true(trace_streq(rec.rv, rec.rv_len, "CKR_PIN_INCORRECT"));
		assert_int_equal(rec.us, 1532);
		assert_null(rec.crash);
		assert_non_null(rec.notes);
		assert_int_equal(rec.notes->len, 2);
		assert_true(json_is_str(json_first(rec.notes), "login: a \"quoted\" note"));
		if (skip) {
			assert_null(rec.args);
		} else {
			assert_true(json_is_str(trace_arg(&rec, "userType"), "CKU_SO"));
			assert_true(json_int(trace_arg(&rec, "hSession"), &v) && v == 1);
		}

		assert_int_equal(trace_next(r, &rec), 1);
		assert_true(trace_streq(rec.fn, rec.fn_len, "C_Logout"));
		assert_null(rec.rv);
		assert_true(trace_streq(rec.crash, rec.crash_len, "SIGSEGV"));
		assert_int_equal(rec.pid, -1); /* not an integer: absent */
		assert_int_equal(rec.us, -1);
		assert_int_equal(rec.seq, 2);

		assert_int_equal(trace_next(r, &rec), 1);
		if (!skip) {
			assert_true(json_int(trace_arg(&rec, "phSession"), &v) && v == 9);
			assert_true(json_int(trace_arg(&rec, "slotID"), &v) && v == 1);
		}
		assert_int_equal(rec.us, 4);
		assert_int_equal(trace_next(r, &rec), 0);
		trace_close(r);
	}
}

static void test_reader_bad_notes(void **state)
{
	/* Exactly the shim's form, but a raw tab in a note: the fast path must refuse it too. */
	static const char data[] =
	        REC(1, "C_GetInfo", ",\"args\":{},\"rv\":\"CKR_OK\",\"us\":1,\"notes\":[\"a\\\"b\",\"x\ty\"]") "\n" REC(
	                2, "C_GetInfo",
	                ",\"args\":{},\"rv\":\"CKR_OK\",\"us\":1,\"notes\":[\"a\\\"b\"]") "\n";
	const char *path = write_file("notes.jsonl", data, sizeof(data) - 1);
	int skip;

	(void)state;
	for (skip = 0; skip < 2; skip++) {
		warnings w;
		int64_t seqs[4];
		uint64_t lines[4];

		memset(&w, 0, sizeof(w));
		assert_int_equal(read_all(path, skip, seqs, lines, 4, &w), 1);
		assert_int_equal(seqs[0], 2);
		assert_int_equal(w.n, 1);
		assert_int_equal(w.lines[0], 1);
		if (strstr(w.msgs[0], "control character in string") == NULL)
			fail_msg("skip %d: %s", skip, w.msgs[0]);
	}
}

static void test_reader_numbers(void **state)
{
	/* The fast path reads small integers itself: the other forms must read as the parser reads them. */
	static const char data[] =
	        "{\"ts\":\"t\",\"pid\":-7,\"tid\":0,\"seq\":123456789012345678,\"fn\":\"C_A\",\"args\":{},\"rv\":\"CKR_OK\",\"us\":9223372036854775807}\n"
	        "{\"ts\":\"t\",\"pid\":1,\"tid\":01,\"seq\":1,\"fn\":\"C_B\",\"args\":{},\"rv\":\"CKR_OK\"}\n"
	        "{\"ts\":\"t\",\"pid\":1e3,\"tid\":2.5,\"seq\":9223372036854775808,\"fn\":\"C_C\",\"args\":{},\"rv\":\"CKR_OK\",\"us\":1}\n";
	const char *path = write_file("numbers.jsonl", data, sizeof(data) - 1);
	int skip;

	(void)state;
	for (skip = 0; skip < 2; skip++) {
		char err[256];
		warnings w;
		trace_reader *r;
		trace_record rec;

		memset(&w, 0, sizeof(w));
		r = trace_open(path, collect, &w, err, sizeof(err));
		assert_non_null(r);
		trace_skip_args(r, skip);
		assert_int_equal(trace_next(r, &rec), 1);
		assert_int_equal(rec.pid, -7);
		assert_int_equal(rec.tid, 0);
		assert_true(rec.seq == 123456789012345678LL);
		assert_true(rec.us == INT64_MAX);
		assert_int_equal(trace_next(r, &rec), 1); /* line 2 ("01") is malformed */
		assert_true(trace_streq(rec.fn, rec.fn_len, "C_C"));
		assert_int_equal(rec.pid, -1);
		assert_int_equal(rec.tid, -1);
		assert_int_equal(rec.seq, -1);
		assert_int_equal(trace_next(r, &rec), 0);
		assert_int_equal(w.n, 1);
		assert_int_equal(w.lines[0], 2);
		trace_close(r);
	}
}

static void test_reader_big(void **state)
{
	/* 3 MiB of records: lines across buffer refills keep their numbers. */
	char path[400];
	FILE *f;
	unsigned i, n = 12000;
	warnings w;
	int64_t seqs[1];
	uint64_t lines[1];
	char pad[200];

	(void)state;
	memset(pad, 'a', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	snprintf(path, sizeof(path), "%s/big.jsonl", tmpdir);
	f = fopen(path, "wb");
	assert_non_null(f);
	for (i = 1; i <= n; i++) {
		if (i == 9999)
			fprintf(f, "{\"broken\n");
		else
			fprintf(f,
			        "{\"ts\":\"x\",\"pid\":1,\"tid\":1,\"seq\":%u,\"fn\":\"C_Sign\",\"args\":{\"l\":\"%s%s\"},"
			        "\"rv\":\"CKR_OK\",\"us\":1}\n",
			        i, pad, pad);
	}
	assert_int_equal(fclose(f), 0);
	memset(&w, 0, sizeof(w));
	assert_int_equal(read_all(path, 1, seqs, lines, 1, &w), n - 1);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.lines[0], 9999);
	memset(&w, 0, sizeof(w));
	assert_int_equal(read_all(path, 0, seqs, lines, 1, &w), n - 1);
	assert_int_equal(w.lines[0], 9999);
}

static void test_reader_long_line(void **state)
{
	/* One 3 MiB record grows the buffer; the records around it still read. */
	char path[400];
	FILE *f;
	size_t i;
	warnings w;
	int64_t seqs[4];
	uint64_t lines[4];

	(void)state;
	snprintf(path, sizeof(path), "%s/long.jsonl", tmpdir);
	f = fopen(path, "wb");
	assert_non_null(f);
	fprintf(f, "%s\n", REC(1, "C_GetInfo", ""));
	fprintf(f,
	        "{\"ts\":\"x\",\"seq\":2,\"fn\":\"C_GetAttributeValue\",\"args\":{\"v\":{\"len\":1,\"hex\":\"");
	for (i = 0; i < 3u << 20; i++)
		putc("0123456789abcdef"[i & 15], f);
	fprintf(f, "\"}},\"rv\":\"CKR_OK\"}\n%s\n", REC(3, "C_GetInfo", ""));
	assert_int_equal(fclose(f), 0);
	memset(&w, 0, sizeof(w));
	assert_int_equal(read_all(path, 1, seqs, lines, 4, &w), 3);
	assert_int_equal(w.n, 0);
	assert_int_equal(seqs[1], 2);
	assert_int_equal(lines[2], 3);
}

static void test_reader_gzip(void **state)
{
	char path[400];
	gzFile gz;
	unsigned i;
	warnings w;
	int64_t seqs[4];
	uint64_t lines[4];
	char err[256];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/t.jsonl.gz", tmpdir);
	gz = gzopen(path, "wb");
	assert_non_null(gz);
	for (i = 1; i <= 1000; i++)
		gzprintf(gz,
		         "{\"ts\":\"x\",\"pid\":1,\"tid\":1,\"seq\":%u,\"fn\":\"C_Sign\",\"args\":{},\"rv\":\"CKR_OK\"}\n",
		         i);
	gzprintf(gz, "{\"cut");
	assert_int_equal(gzclose(gz), Z_OK);
	memset(&w, 0, sizeof(w));
	assert_int_equal(read_all(path, 1, seqs, lines, 4, &w), 1000);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.lines[0], 1001);

	/* A gzip file cut short: what is there is read, and it is said. */
	{
		struct stat st;
		char cutpath[420];
		FILE *in, *out;
		char *bytes;

		assert_int_equal(stat(path, &st), 0);
		bytes = malloc((size_t)st.st_size);
		in = fopen(path, "rb");
		assert_int_equal(fread(bytes, 1, (size_t)st.st_size, in), (size_t)st.st_size);
		fclose(in);
		snprintf(cutpath, sizeof(cutpath), "%s/cut.jsonl.gz", tmpdir);
		out = fopen(cutpath, "wb");
		fwrite(bytes, 1, (size_t)st.st_size - 40, out);
		fclose(out);
		free(bytes);
		memset(&w, 0, sizeof(w));
		assert_true(read_all(cutpath, 1, seqs, lines, 4, &w) > 0);
		assert_true(w.n >= 1);
	}

	/* Not a trace: binary data, a directory, a missing file. */
	{
		static const char elf[] = "\x7f"
		                          "ELF\x01\x01\x01\0\0\0\0\0\0\0\0\0\x03\0\x03\0";
		assert_null(trace_open(write_file("lib.so", elf, sizeof(elf) - 1), NULL, NULL, err,
		                       sizeof(err)));
		assert_non_null(strstr(err, "not a trace"));
		assert_null(trace_open(tmpdir, NULL, NULL, err, sizeof(err)));
		assert_non_null(strstr(err, "directory"));
		snprintf(path, sizeof(path), "%s/none", tmpdir);
		assert_null(trace_open(path, NULL, NULL, err, sizeof(err)));
		assert_non_null(strstr(err, "cannot open"));
		/* gzip magic, then garbage */
		assert_null(trace_open(write_file("bad.gz", "\x1f\x8b\x08\0garbagegarbage", 18),
		                       NULL, NULL, err, sizeof(err)));
		assert_non_null(strstr(err, "gzip"));
	}

	/* stdin */
	fd = dup(0);
	assert_true(fd >= 0);
	assert_non_null(freopen(write_file("stdin.jsonl", REC(5, "C_GetInfo", "") "\n",
	                                   sizeof(REC(5, "C_GetInfo", "") "\n") - 1),
	                        "rb", stdin));
	{
		trace_reader *r = trace_open("-", NULL, NULL, err, sizeof(err));
		trace_record rec;

		assert_non_null(r);
		assert_string_equal(trace_name(r), "<stdin>");
		assert_int_equal(trace_next(r, &rec), 1);
		assert_int_equal(rec.seq, 5);
		assert_int_equal(trace_next(r, &rec), 0);
		trace_close(r);
	}
	dup2(fd, 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest json_tests[] = {
		cmocka_unit_test(test_nested),      cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_errors),      cmocka_unit_test(test_limits),
		cmocka_unit_test(test_ints),        cmocka_unit_test(test_skip_matches_parse),
		cmocka_unit_test(test_skip_errors), cmocka_unit_test(test_scan_plain),
		cmocka_unit_test(test_write_str),
	};
	const struct CMUnitTest reader_tests[] = {
		cmocka_unit_test(test_reader_damage),    cmocka_unit_test(test_reader_last_line),
		cmocka_unit_test(test_reader_fields),    cmocka_unit_test(test_reader_bad_notes),
		cmocka_unit_test(test_reader_numbers),   cmocka_unit_test(test_reader_big),
		cmocka_unit_test(test_reader_long_line), cmocka_unit_test(test_reader_gzip),
	};
	int rc;

	rc = cmocka_run_group_tests_name("json", json_tests, NULL, NULL);
	rc |= cmocka_run_group_tests_name("trace_read", reader_tests, setup_dir, teardown_dir);
	return rc;
}
