/*
 * Fuzz target: the CLI's trace reader (src/tool/trace_read.c over
 * src/tool/json.c): the input as a trace file (plain or gzip), read record
 * by record as `p11shim trace show -v` reads it, with and without the
 * arguments; and the input as one JSON text for the parser and the
 * tokenizer's skipper.
 * Oracles: the sanitizers (the reader never reads outside its buffer, a
 * NUL is data, a damaged line is reported, not fatal); a record always has
 * a function name.
 */
#include "config.h"

#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "trace_read.h"

static void quiet(void *data, const char *name, uint64_t line, const char *msg)
{
	(void)data;
	(void)name;
	(void)line;
	(void)msg;
}

static void walk(const json_value *v, unsigned depth)
{
	const json_value *c;
	uint32_t i;
	int64_t x;

	if (v == NULL || depth > 64)
		return;
	(void)json_int(v, &x);
	(void)json_is_str(v, "C_Login");
	for (c = json_first(v), i = 0; c != NULL && i < v->len; i++, c = json_next(c))
		walk(c, depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = { "pPin",     "slotID", "hSession", "pTemplate",
		                            "pulCount", "pInfo",  "userType", "pMechanism" };
	const char *path = fuzz_file("trace.jsonl", data, size);
	trace_reader *r;
	trace_record rec;
	static json_doc *doc;
	char err[512], *copy;
	json_error je;
	json_cursor cur;
	int pass, n;
	size_t k;

	for (pass = 0; pass < 2; pass++) {
		r = trace_open(path, quiet, NULL, err, sizeof(err));
		if (r == NULL)
			break;
		trace_skip_args(r, pass);
		for (n = 0; n < 100000 && trace_next(r, &rec) == 1; n++) {
			if (rec.fn == NULL)
				fuzz_fail("a record without a function name");
			walk(rec.root, 0);
			for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
				walk(trace_arg(&rec, keys[k]), 0);
			(void)trace_streq(rec.fn, rec.fn_len, "C_Login");
		}
		(void)trace_error(r);
		(void)trace_damaged(r);
		(void)trace_name(r);
		trace_close(r);
	}

	/* The same bytes as one JSON text (decoded in place: a copy). */
	copy = malloc(size ? size : 1);
	if (doc == NULL)
		doc = json_doc_new(4096, 64); /* reused, as the CLI reuses its arena */
	if (copy != NULL && doc != NULL) {
		memcpy(copy, data, size);
		walk(json_parse(doc, copy, size, &je), 0);
		memcpy(copy, data, size);
		json_cursor_init(&cur, copy, size);
		json_ws(&cur);
		(void)json_skip_value(&cur, 64);
	}
	free(copy);
	return 0;
}
