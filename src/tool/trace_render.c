/*
 * Rendering trace records as text (trace_render.h).
 *
 * The shapes come from the trace format (their keys from
 * include/p11-trace-schema.h): a byte buffer is {"len":N} or
 * {"len":N,"hex":"..."}, a mechanism {"mechanism":..,"parameter":..}, a
 * template an array of {"type":..,"value":..}, flags an array of names.
 * Anything else is shown generically, so a field added by a later shim
 * still shows.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "p11-text.h"
#include "p11-trace-schema.h"
#include "trace_render.h"

#define CUT_MARK "..."

void sb_init(sbuf *b, char *mem, size_t cap)
{
	b->p = mem;
	b->len = 0;
	b->cap = cap;
	b->cut = 0;
	if (cap)
		mem[0] = '\0';
}

void sb_put(sbuf *b, const char *s, size_t n)
{
	size_t room;

	if (b->cap == 0)
		return;
	room = b->cap - 1 - b->len;
	if (n > room) {
		n = room;
		b->cut = 1;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void sb_puts(sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

void sb_printf(sbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(tmp)) {
		n = sizeof(tmp) - 1;
		b->cut = 1;
	}
	sb_put(b, tmp, (size_t)n);
}

/*
 * Text from the trace, escaped for a terminal (p11_text_escape: control
 * characters, C1, invalid UTF-8), so a line stays one line and no escape
 * sequence of a crafted trace reaches the terminal.
 */
void sb_text(sbuf *b, const char *s, size_t n)
{
	char tmp[256];
	size_t used, len;

	while (n > 0 && !b->cut) {
		used = p11_text_escape(tmp, sizeof(tmp), s, n, &len);
		sb_put(b, tmp, len);
		s += used;
		n -= used;
	}
}

void sb_quoted(sbuf *b, const char *s, size_t n, size_t max)
{
	size_t i, run = 0;
	int cut = 0;

	if (n > max) {
		/* Back off to the start of a UTF-8 sequence, so the cut is not mid-character. */
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		cut = 1;
	}
	sb_put(b, "\"", 1);
	/* Quotes and backslashes as in JSON, so the string's end is plain; the rest as sb_text. */
	for (i = 0; i < n; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		sb_text(b, s + run, i - run);
		run = i + 1;
		sb_put(b, s[i] == '"' ? "\\\"" : "\\\\", 2);
	}
	sb_text(b, s + run, n - run);
	if (cut)
		sb_put(b, CUT_MARK, 3);
	sb_put(b, "\"", 1);
}

size_t sb_finish(sbuf *b)
{
	if (b->cut && b->cap > 4) {
		size_t n = b->len;

		if (n > b->cap - 4)
			n = b->cap - 4;
		while (n > 0 && ((unsigned char)b->p[n] & 0xc0) == 0x80)
			n--;
		memcpy(b->p + n, CUT_MARK, 4);
		b->len = n + 3;
	}
	return b->len;
}

int render_is_symbol(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	if (s[0] == '<' && s[n - 1] == '>') {
		/* "<redacted 8 bytes>": printable ASCII only, or it is a string like any other */
		for (i = 1; i + 1 < n; i++) {
			if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
				return 0;
		}
		return 1;
	}
	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (i = 2; i < n; i++) {
			char c = s[i];
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			      (c >= 'A' && c <= 'F')))
				return 0;
		}
		return 1;
	}
	if (!(s[0] >= 'A' && s[0] <= 'Z'))
		return 0;
	for (i = 1; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return n > 3 && memchr(s, '_', n) != NULL; /* "CKO_DATA", not a label "ABC" */
}

static void put_str(sbuf *b, const json_value *v, size_t max)
{
	if (render_is_symbol(v->str, v->len))
		sb_put(b, v->str, v->len);
	else
		sb_quoted(b, v->str, v->len, max);
}

static int is_bytes(const json_value *v)
{
	const json_value *c;
	uint32_t i;
	int has_len = 0;

	if (v->type != JSON_OBJECT || v->len == 0 || v->len > 2)
		return 0;
	for (i = 0, c = v + 1; i < v->len; i++, c = json_next(c)) {
		if (json_key_is(c, P11_TF_LEN) && c->type == JSON_NUMBER)
			has_len = 1;
		else if (!(json_key_is(c, P11_TF_HEX) && c->type == JSON_STRING))
			return 0;
	}
	return has_len;
}

static int all_symbols(const json_value *v)
{
	const json_value *c;
	uint32_t i;

	for (i = 0, c = v + 1; i < v->len; i++, c = json_next(c)) {
		if (c->type != JSON_STRING || !render_is_symbol(c->str, c->len))
			return 0;
	}
	return v->len > 0;
}

static void put_bytes(sbuf *b, const json_value *v, size_t hex_max)
{
	const json_value *len = json_get(v, P11_TF_LEN);
	const json_value *hex = json_get(v, P11_TF_HEX);

	sb_puts(b, "<");
	sb_put(b, len->str, len->len);
	sb_puts(b, len->len == 1 && len->str[0] == '1' ? " byte" : " bytes");
	if (hex && hex->len) {
		sb_puts(b, ": ");
		if (hex->len > hex_max) {
			sb_text(b, hex->str, hex_max);
			sb_puts(b, CUT_MARK);
		} else {
			sb_text(b, hex->str, hex->len);
		}
	}
	sb_puts(b, ">");
}

void render_compact(sbuf *b, const json_value *v, int depth)
{
	const json_value *c;
	uint32_t i;

	switch (v->type) {
	case JSON_NULL: sb_puts(b, "NULL"); return;
	case JSON_TRUE: sb_puts(b, "true"); return;
	case JSON_FALSE: sb_puts(b, "false"); return;
	case JSON_NUMBER: sb_put(b, v->str, v->len); return;
	case JSON_STRING: put_str(b, v, 48); return;
	case JSON_OBJECT:
		if (is_bytes(v)) {
			put_bytes(b, v, 16);
			return;
		}
		if ((c = json_get(v, P11_TF_MECHANISM)) != NULL) {
			const json_value *param = json_get(v, P11_TF_PARAMETER);
			render_compact(b, c, depth + 1);
			if (param && param->type != JSON_NULL) {
				sb_puts(b, "(");
				render_compact(b, param, depth + 1);
				sb_puts(b, ")");
			}
			return;
		}
		if ((c = json_get(v, P11_TF_TYPE)) != NULL && c->type == JSON_STRING) {
			/* An attribute of a template: CKA_LABEL="x"; other members (len, error) follow. */
			const json_value *m;
			sb_text(b, c->str, c->len);
			for (i = 0, m = v + 1; i < v->len; i++, m = json_next(m)) {
				if (m == c)
					continue;
				if (json_key_is(m, P11_TF_VALUE)) {
					sb_puts(b, "=");
				} else {
					sb_puts(b, " ");
					sb_text(b, m->key, m->key_len);
					sb_puts(b, "=");
				}
				render_compact(b, m, depth + 1);
			}
			return;
		}
		if (v->len == 0) {
			sb_puts(b, "{}");
			return;
		}
		if (depth >= 2) {
			sb_puts(b, "{...}");
			return;
		}
		sb_puts(b, "{");
		for (i = 0, c = v + 1; i < v->len; i++, c = json_next(c)) {
			if (i)
				sb_puts(b, ", ");
			sb_text(b, c->key, c->key_len);
			sb_puts(b, "=");
			render_compact(b, c, depth + 1);
		}
		sb_puts(b, "}");
		return;
	case JSON_ARRAY:
		if (v->len == 0) {
			sb_puts(b, "[]");
			return;
		}
		if (all_symbols(v)) {
			/* Flags: CKF_RW_SESSION|CKF_SERIAL_SESSION */
			for (i = 0, c = v + 1; i < v->len; i++, c = json_next(c)) {
				if (i)
					sb_puts(b, "|");
				sb_put(b, c->str, c->len);
			}
			return;
		}
		if (depth >= 3) {
			sb_printf(b, "[%u items]", v->len);
			return;
		}
		sb_puts(b, "[");
		for (i = 0, c = v + 1; i < v->len; i++, c = json_next(c)) {
			if (i == 8) {
				sb_printf(b, ", +%u more", v->len - 8);
				break;
			}
			if (i)
				sb_puts(b, ", ");
			render_compact(b, c, depth + 1);
		}
		sb_puts(b, "]");
		return;
	}
}

static void put_head(sbuf *b, const trace_record *rec)
{
	if (rec->seq >= 0)
		sb_printf(b, "%lld ", (long long)rec->seq);
	else
		sb_puts(b, "- ");
	if (rec->ts)
		sb_text(b, rec->ts, rec->ts_len);
	else
		sb_puts(b, "-");
	sb_printf(b, " %lld:%lld ", (long long)rec->pid, (long long)rec->tid);
	sb_text(b, rec->fn, rec->fn_len);
}

static void put_tail(sbuf *b, const trace_record *rec)
{
	if (rec->rv) {
		sb_puts(b, " = ");
		sb_text(b, rec->rv, rec->rv_len);
	} else if (rec->pending_us >= 0) {
		/* A SlowCall note: the call was still in the backend. */
		sb_printf(b, " = still in the backend after %.1f s", (double)rec->pending_us / 1e6);
		return;
	} else if (rec->crash) {
		sb_puts(b, " = crashed (");
		sb_text(b, rec->crash, rec->crash_len);
		sb_puts(b, ")");
	} else {
		sb_puts(b, " = no return");
	}
	if (rec->us >= 0)
		sb_printf(b, " (%lld us)", (long long)rec->us);
}

size_t render_call(const trace_record *rec, char *out, size_t cap, size_t args_max)
{
	sbuf b;
	char abuf[1024];
	sbuf a;
	const json_value *c;
	uint32_t i;

	sb_init(&b, out, cap);
	put_head(&b, rec);
	sb_puts(&b, "(");
	if (rec->args) {
		if (args_max + 1 > sizeof(abuf))
			args_max = sizeof(abuf) - 1;
		sb_init(&a, abuf, args_max + 1);
		for (i = 0, c = rec->args + 1; i < rec->args->len; i++, c = json_next(c)) {
			if (i)
				sb_puts(&a, ", ");
			sb_text(&a, c->key, c->key_len);
			sb_puts(&a, "=");
			render_compact(&a, c, 0);
			if (a.cut)
				break;
		}
		sb_put(&b, a.p, sb_finish(&a));
	}
	sb_puts(&b, ")");
	if (rec->out && rec->out->len) {
		/* Outputs written apart from the inputs: "fn(in) -> {out} = rv", as the text trace has it. */
		sb_init(&a, abuf, args_max / 2 + 1);
		for (i = 0, c = rec->out + 1; i < rec->out->len; i++, c = json_next(c)) {
			if (i)
				sb_puts(&a, ", ");
			sb_text(&a, c->key, c->key_len);
			sb_puts(&a, "=");
			render_compact(&a, c, 0);
			if (a.cut)
				break;
		}
		sb_puts(&b, " -> {");
		sb_put(&b, a.p, sb_finish(&a));
		sb_puts(&b, "}");
	}
	put_tail(&b, rec);
	if (rec->notes && rec->notes->len)
		sb_printf(&b, " [%u note%s]", rec->notes->len, rec->notes->len == 1 ? "" : "s");
	return sb_finish(&b);
}

void render_plain(FILE *f, const char *s, size_t n)
{
	p11_text_fput(f, s, n);
}

static void indent(FILE *f, int n)
{
	while (n-- > 0)
		fputs("    ", f);
}

static void print_scalar(FILE *f, const json_value *v)
{
	char mem[512];
	sbuf b;

	sb_init(&b, mem, sizeof(mem));
	if (v->type == JSON_STRING && !render_is_symbol(v->str, v->len)) {
		/* Full strings in -v: they are what the user asked for. */
		const char *s = v->str;
		size_t left = v->len;
		putc('"', f);
		while (left) {
			size_t n = left > 120 ? 120 : left;
			sb_init(&b, mem, sizeof(mem));
			sb_quoted(&b, s, n, n);
			/* Drop the quotes of the piece: the quotes wrap the whole string. */
			fwrite(b.p + 1, 1, b.len - 2, f);
			s += n;
			left -= n;
		}
		putc('"', f);
		return;
	}
	render_compact(&b, v, 0);
	fwrite(b.p, 1, sb_finish(&b), f);
}

static int is_leaf(const json_value *v)
{
	if (v->type != JSON_OBJECT && v->type != JSON_ARRAY)
		return 1;
	if (v->len == 0)
		return 1;
	if (v->type == JSON_ARRAY && all_symbols(v))
		return 1;
	if (v->type == JSON_OBJECT && is_bytes(v) && json_get(v, P11_TF_HEX) == NULL)
		return 1;
	if (v->type == JSON_OBJECT && json_get(v, P11_TF_MECHANISM)) {
		const json_value *p = json_get(v, P11_TF_PARAMETER);
		return p == NULL || p->type == JSON_NULL;
	}
	return 0;
}

static void print_tree(FILE *f, const json_value *v, int level);

/* One member: "key: value" or "key:" and its members below. */
static void print_member(FILE *f, const char *key, size_t key_len, const json_value *v, int level)
{
	indent(f, level);
	render_plain(f, key, key_len);
	putc(':', f);
	if (!is_leaf(v) &&
	    !(v->type == JSON_OBJECT && (is_bytes(v) || json_get(v, P11_TF_MECHANISM)))) {
		putc('\n', f);
		print_tree(f, v, level + 1);
		return;
	}
	putc(' ', f);
	if (is_leaf(v)) {
		print_scalar(f, v);
		putc('\n', f);
		return;
	}
	if (v->type == JSON_OBJECT && is_bytes(v)) {
		/* Hex, 32 bytes per line: comparable with a hex dump. */
		const json_value *len = json_get(v, P11_TF_LEN);
		const json_value *hex = json_get(v, P11_TF_HEX);
		uint32_t off;

		fprintf(f, "<%.*s bytes>\n", (int)len->len, len->str);
		for (off = 0; off < hex->len; off += 64) {
			indent(f, level + 1);
			fwrite(hex->str + off, 1, hex->len - off > 64 ? 64 : hex->len - off, f);
			putc('\n', f);
		}
		return;
	}
	if (v->type == JSON_OBJECT && json_get(v, P11_TF_MECHANISM)) {
		const json_value *m = json_get(v, P11_TF_MECHANISM);
		print_scalar(f, m);
		putc('\n', f);
		print_member(f, P11_TF_PARAMETER, P11_TF_STRLEN(P11_TF_PARAMETER),
		             json_get(v, P11_TF_PARAMETER), level + 1);
		return;
	}
}

static void print_tree(FILE *f, const json_value *v, int level)
{
	const json_value *c;
	uint32_t i;

	for (i = 0, c = v + 1; i < v->len; i++, c = json_next(c)) {
		if (v->type == JSON_OBJECT) {
			print_member(f, c->key, c->key_len, c, level);
			continue;
		}
		/* Array items: an attribute shows as "CKA_X: value", others as "- value". */
		if (c->type == JSON_OBJECT) {
			const json_value *t = json_get(c, P11_TF_TYPE);
			const json_value *val = json_get(c, P11_TF_VALUE);
			if (t && t->type == JSON_STRING && c->len <= 2 && (val || c->len == 1)) {
				if (val) {
					print_member(f, t->str, t->len, val, level);
				} else {
					indent(f, level);
					render_plain(f, t->str, t->len);
					putc('\n', f);
				}
				continue;
			}
		}
		if (is_leaf(c)) {
			indent(f, level);
			fputs("- ", f);
			print_scalar(f, c);
			putc('\n', f);
		} else {
			print_member(f, "-", 1, c, level);
		}
	}
}

void render_verbose(FILE *f, const trace_record *rec)
{
	char mem[512];
	sbuf b;
	const json_value *c;
	uint32_t i;

	sb_init(&b, mem, sizeof(mem));
	put_head(&b, rec);
	put_tail(&b, rec);
	sb_printf(&b, "  [line %llu]", (unsigned long long)rec->line);
	fwrite(b.p, 1, sb_finish(&b), f);
	putc('\n', f);
	if (rec->args)
		print_tree(f, rec->args, 1);
	if (rec->out) {
		for (i = 0, c = rec->out + 1; i < rec->out->len; i++, c = json_next(c)) {
			char key[80];
			snprintf(key, sizeof(key), "-> %.*s",
			         (int)(c->key_len > 60 ? 60 : c->key_len), c->key);
			print_member(f, key, strlen(key), c, 1);
		}
	}
	if (rec->notes) {
		for (i = 0, c = rec->notes + 1; i < rec->notes->len; i++, c = json_next(c)) {
			indent(f, 1);
			fputs("note: ", f);
			if (c->type == JSON_STRING)
				render_plain(f, c->str, c->len);
			else
				print_scalar(f, c);
			putc('\n', f);
		}
	}
	/* Fields this tool does not know, from another shim version: shown, not dropped. */
	for (i = 0, c = rec->root + 1; i < rec->root->len; i++, c = json_next(c)) {
#define KNOWN(id) P11_TF_##id,
		static const char *const known[] = { P11_TRACE_HEAD(KNOWN) };
#undef KNOWN
		size_t k;
		int is_known = 0;

		for (k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
			if (json_key_is(c, known[k])) {
				is_known = 1;
				break;
			}
		}
		if (!is_known) {
			char key[80];
			snprintf(key, sizeof(key), "(%.*s)",
			         (int)(c->key_len > 60 ? 60 : c->key_len), c->key);
			print_member(f, key, strlen(key), c, 1);
		}
	}
}
