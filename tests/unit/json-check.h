/*
 * A tiny JSON checker for the unit tests: enough to tell whether a trace
 * line is one whole, valid JSON object (RFC 8259: strings in UTF-8,
 * escapes, numbers, nesting), and to pick its top-level members.
 */
#ifndef JSON_CHECK_H
#define JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* s[0..n) is exactly one JSON object, whitespace around it allowed. */
bool json_is_object(const char *s, size_t n);

/* The same for a NUL-terminated string. */
bool json_is_objectz(const char *s);

/*
 * The names of the object's top-level members, in order, joined with ','
 * ("ts,pid,tid"). False when s is not a valid object or out is too small.
 */
bool json_keys(const char *s, size_t n, char *out, size_t outlen);

/*
 * The raw text of the top-level member `key` (a string keeps its quotes:
 * "\"C_Login\""). False when s is not a valid object or has no such member.
 */
bool json_member(const char *s, size_t n, const char *key, const char **val, size_t *vlen);

/* The member as an unsigned number; false when absent or not a plain integer. */
bool json_member_ulong(const char *s, size_t n, const char *key, unsigned long *out);

/* Whether the member's raw text equals `raw` exactly. */
bool json_member_is(const char *s, size_t n, const char *key, const char *raw);

#endif /* JSON_CHECK_H */
