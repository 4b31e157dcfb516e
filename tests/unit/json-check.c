/*
 * A tiny JSON checker for the unit tests (see json-check.h). Recursive
 * descent over RFC 8259; strict: no trailing commas, no control characters
 * or invalid UTF-8 in strings, no leading zeros, nothing after the value.
 */
#include "config.h"

#include "json-check.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

/* Called for each top-level member: its name (without quotes) and raw value. */
typedef void (*member_fn)(void *ctx, const char *key, size_t klen, const char *val, size_t vlen);

typedef struct {
	const char *p, *end;
	unsigned depth;
	member_fn member;
	void *ctx;
} parser;

static bool value(parser *ps);

static void ws(parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One UTF-8 sequence starting at a byte >= 0x80 (RFC 3629, table 3-7 of Unicode). */
static bool utf8(parser *ps)
{
	const unsigned char *p = (const unsigned char *)ps->p;
	const unsigned char *e = (const unsigned char *)ps->end;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t i, n;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 1;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 2;
		if (p[0] == 0xe0)
			lo = 0xa0;
		if (p[0] == 0xed)
			hi = 0x9f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 3;
		if (p[0] == 0xf0)
			lo = 0x90;
		if (p[0] == 0xf4)
			hi = 0x8f;
	} else {
		return false;
	}
	if ((size_t)(e - p) < n + 1)
		return false;
	if (p[1] < lo || p[1] > hi)
		return false;
	for (i = 2; i <= n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return false;
	ps->p += n + 1;
	return true;
}

static bool string(parser *ps)
{
	if (ps->p >= ps->end || *ps->p != '"')
		return false;
	ps->p++;
	while (ps->p < ps->end) {
		unsigned char c = (unsigned char)*ps->p;
		if (c == '"') {
			ps->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			if (ps->end - ps->p < 2)
				return false;
			switch (ps->p[1]) {
			case '"':
			case '\\':
			case '/':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't': ps->p += 2; break;
			case 'u':
				if (ps->end - ps->p < 6 || !is_hex(ps->p[2]) || !is_hex(ps->p[3]) ||
				    !is_hex(ps->p[4]) || !is_hex(ps->p[5]))
					return false;
				ps->p += 6;
				break;
			default: return false;
			}
			continue;
		}
		if (c >= 0x80) {
			if (!utf8(ps))
				return false;
			continue;
		}
		ps->p++;
	}
	return false;
}

static bool digits(parser *ps)
{
	const char *start = ps->p;

	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
		ps->p++;
	return ps->p > start;
}

static bool number(parser *ps)
{
	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (ps->p < ps->end && *ps->p == '0')
		ps->p++;
	else if (!digits(ps))
		return false;
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (!digits(ps))
			return false;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!digits(ps))
			return false;
	}
	return true;
}

static bool literal(parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return false;
	ps->p += n;
	return true;
}

static bool object(parser *ps)
{
	bool top = ps->depth == 0;

	if (++ps->depth > MAX_DEPTH)
		return false;
	ps->p++; /* '{' */
	ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		ps->depth--;
		return true;
	}
	for (;;) {
		const char *key, *val;
		size_t klen;

		ws(ps);
		key = ps->p;
		if (!string(ps))
			return false;
		klen = (size_t)(ps->p - key);
		ws(ps);
		if (ps->p >= ps->end || *ps->p != ':')
			return false;
		ps->p++;
		ws(ps);
		val = ps->p;
		if (!value(ps))
			return false;
		if (top && ps->member != NULL)
			ps->member(ps->ctx, key + 1, klen - 2, val, (size_t)(ps->p - val));
		ws(ps);
		if (ps->p >= ps->end)
			return false;
		if (*ps->p == '}') {
			ps->p++;
			ps->depth--;
			return true;
		}
		if (*ps->p != ',')
			return false;
		ps->p++;
	}
}

static bool array(parser *ps)
{
	if (++ps->depth > MAX_DEPTH)
		return false;
	ps->p++; /* '[' */
	ws(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		ps->depth--;
		return true;
	}
	for (;;) {
		ws(ps);
		if (!value(ps))
			return false;
		ws(ps);
		if (ps->p >= ps->end)
			return false;
		if (*ps->p == ']') {
			ps->p++;
			ps->depth--;
			return true;
		}
		if (*ps->p != ',')
			return false;
		ps->p++;
	}
}

static bool value(parser *ps)
{
	if (ps->p >= ps->end)
		return false;
	switch (*ps->p) {
	case '{': return object(ps);
	case '[': return array(ps);
	case '"': return string(ps);
	case 't': return literal(ps, "true");
	case 'f': return literal(ps, "false");
	case 'n': return literal(ps, "null");
	default: return number(ps);
	}
}

static bool parse(const char *s, size_t n, member_fn member, void *ctx)
{
	parser ps = { s, s + n, 0, member, ctx };

	ws(&ps);
	if (ps.p >= ps.end || *ps.p != '{' || !object(&ps))
		return false;
	ws(&ps);
	return ps.p == ps.end;
}

bool json_is_object(const char *s, size_t n)
{
	return s != NULL && parse(s, n, NULL, NULL);
}

bool json_is_objectz(const char *s)
{
	return s != NULL && parse(s, strlen(s), NULL, NULL);
}

struct keys_ctx {
	char *out;
	size_t len, used;
	bool overflow;
};

static void add_key(void *ctx, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct keys_ctx *k = ctx;
	size_t need = klen + (k->used ? 1 : 0);

	(void)val;
	(void)vlen;
	if (k->used + need + 1 > k->len) {
		k->overflow = true;
		return;
	}
	if (k->used)
		k->out[k->used++] = ',';
	memcpy(k->out + k->used, key, klen);
	k->used += klen;
	k->out[k->used] = '\0';
}

bool json_keys(const char *s, size_t n, char *out, size_t outlen)
{
	struct keys_ctx k = { out, outlen, 0, false };

	if (outlen == 0)
		return false;
	out[0] = '\0';
	return parse(s, n, add_key, &k) && !k.overflow;
}

struct member_ctx {
	const char *key;
	const char *val;
	size_t vlen;
	bool found;
};

static void find_member(void *ctx, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct member_ctx *m = ctx;

	if (!m->found && strlen(m->key) == klen && memcmp(m->key, key, klen) == 0) {
		m->val = val;
		m->vlen = vlen;
		m->found = true;
	}
}

bool json_member(const char *s, size_t n, const char *key, const char **val, size_t *vlen)
{
	struct member_ctx m = { key, NULL, 0, false };

	if (!parse(s, n, find_member, &m) || !m.found)
		return false;
	*val = m.val;
	*vlen = m.vlen;
	return true;
}

bool json_member_ulong(const char *s, size_t n, const char *key, unsigned long *out)
{
	const char *v;
	size_t len, i;
	unsigned long r = 0;

	if (!json_member(s, n, key, &v, &len) || len == 0 || len > 20)
		return false;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		r = r * 10 + (unsigned long)(v[i] - '0');
	}
	*out = r;
	return true;
}

bool json_member_is(const char *s, size_t n, const char *key, const char *raw)
{
	const char *v;
	size_t len;

	return json_member(s, n, key, &v, &len) && len == strlen(raw) && memcmp(v, raw, len) == 0;
}
