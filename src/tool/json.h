/*
 * A small JSON tokenizer and parser for the CLI, in two layers:
 *
 * - the tokenizer (json_cursor, json_scan_*, json_skip_value) reads one
 *   token at a time from a text, for readers that know the shape of what
 *   they read and want no more than a few fields of it (the trace reader's
 *   fast path: `trace summary` never looks at arguments);
 * - the parser (json_doc, json_parse) turns a text or one value of it into
 *   a flat array of values in a bounded arena that is reused for the next
 *   text: no allocation per text, no tree of pointers. Values are laid out
 *   in document order, each with the size of its subtree, so the first
 *   child of a container is the value right after it and its next sibling
 *   is `size` values further on.
 *
 * Both never read outside [text, text + len) and take a NUL byte for data
 * (an error, never an end of text). Strings are decoded in place (an escape
 * is always longer than what it stands for), so the text must be writable
 * and outlive the values; decoded strings may contain NUL (from \u0000) and
 * are not NUL-terminated: always use the lengths. Syntax is RFC 8259,
 * strictly, except where json_skip_value says otherwise.
 */
#ifndef P11SHIM_TOOL_JSON_H
#define P11SHIM_TOOL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
} json_type;

typedef struct json_value {
	const char *key; /* member name when the parent is an object, else NULL */
	const char *str; /* STRING: decoded bytes; NUMBER: the literal as written */
	uint32_t key_len;
	uint32_t len;  /* STRING, NUMBER: bytes; ARRAY, OBJECT: number of children */
	uint32_t size; /* values in this subtree, itself included */
	uint8_t type;  /* json_type */
} json_value;

typedef struct {
	size_t offset;   /* byte offset of the error in the text */
	const char *msg; /* static English text */
} json_error;

/* ---- tokenizer ---- */

typedef struct {
	char *p;             /* the next byte to read */
	char *end;           /* one past the last byte of the text */
	char *start;         /* the text, for error offsets */
	const char *err_msg; /* the first error, NULL while none */
	char *err_at;
} json_cursor;

void json_cursor_init(json_cursor *c, char *text, size_t len);

/* Skips JSON white space. */
static inline void json_ws(json_cursor *c)
{
	char *p = c->p;

	while (p < c->end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	c->p = p;
}

/* Records an error (the first one wins) and returns -1. */
int json_fail(json_cursor *c, char *at, const char *msg);

/* The error as offset and message. */
void json_cursor_error(const json_cursor *c, json_error *err);

/*
 * At a '"': decodes the string in place; *s, *len the result; c->p after
 * the closing quote. 0, or -1 on a syntax error.
 */
int json_scan_string(json_cursor *c, const char **s, uint32_t *len);

/*
 * At a '"' of a string without escapes or control characters: like
 * json_scan_string and returns 0. Otherwise returns 1 and changes nothing
 * (no error either): for speculative readers that fall back to the full
 * path and must find the text as it was.
 */
int json_scan_plain(json_cursor *c, const char **s, uint32_t *len);

/*
 * At a number: *s, *len the literal. *ival its value and *is_int true when
 * it is integral (no fraction or exponent) and fits int64_t. 0 or -1.
 */
int json_scan_number(json_cursor *c, const char **s, uint32_t *len, int64_t *ival, bool *is_int);

/*
 * Skips one value of any type, checked as strictly as json_parse would
 * check it, without making values of it and without changing the text
 * (escapes are checked, not decoded): for readers that need a value to be
 * right, not its content. max_depth bounds the nesting.
 */
int json_skip_value(json_cursor *c, unsigned max_depth);

/* ---- parser ---- */

typedef struct json_doc json_doc;

/*
 * An arena for up to max_values values and max_depth levels of nesting;
 * a text that needs more fails to parse ("too many values", "nested too
 * deeply") rather than growing the arena. NULL when out of memory.
 */
json_doc *json_doc_new(size_t max_values, unsigned max_depth);
void json_doc_free(json_doc *doc);

/*
 * Parses exactly one JSON value, with optional white space around it,
 * from text[0..len), into doc (emptied first). Returns the root, valid
 * until the next parse into doc, or NULL and fills *err (err may be NULL).
 */
const json_value *json_parse(json_doc *doc, char *text, size_t len, json_error *err);

/*
 * For tokenizer users: empties doc; then each json_parse_value() parses
 * the value at c->p into doc, after the values already there (which stay
 * valid), and returns it, or NULL with the error in c.
 */
void json_doc_reset(json_doc *doc);
const json_value *json_parse_value(json_doc *doc, json_cursor *c);

/* Children: for (c = json_first(v), i = 0; i < v->len; i++, c = json_next(c)) */
static inline const json_value *json_first(const json_value *v)
{
	return (v->type == JSON_ARRAY || v->type == JSON_OBJECT) && v->len ? v + 1 : NULL;
}

static inline const json_value *json_next(const json_value *v)
{
	return v + v->size;
}

/* The member named key of an object, NULL when absent or v is no object. */
const json_value *json_get(const json_value *v, const char *key);

/* true when v is a string equal to s (a C string). */
bool json_is_str(const json_value *v, const char *s);

/* v's key equals the C string s. */
bool json_key_is(const json_value *v, const char *s);

/*
 * An integral number without fraction or exponent that fits int64_t:
 * true and *out set; else false.
 */
bool json_int(const json_value *v, int64_t *out);

/* Writes s[0..len) as a JSON string literal, quotes included. */
void json_write_str(FILE *f, const char *s, size_t len);

#endif /* P11SHIM_TOOL_JSON_H */
