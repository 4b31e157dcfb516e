/*
 * Trace record reader (trace_read.h).
 *
 * Input goes through zlib's gzread for plain and gzip files alike: zlib
 * reads a file without the gzip magic transparently, and it reads a request
 * of at least its buffer size straight into ours, so plain files cost no
 * extra copy. We read, rather than mmap, so that the resident size stays
 * the size of the buffer, not of the file (at most 32 MiB whatever the trace).
 *
 * A record ends at '\n' or at a NUL byte. The buffer holds whole records
 * and grows only for a record longer than itself, up to MAX_LINE; a longer
 * line is reported and skipped without being held.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "p11-compat.h"
#include "p11-text.h"
#include "p11-trace-ring.h"
#include "p11-trace-schema.h"
#include "trace_read.h"

/* The first "ab" in [p, end), or NULL (memmem, which Windows' C library lacks). */
static const char *find_pair(const char *p, const char *end, char a, char b)
{
	for (; p + 1 < end; p++)
		if (p[0] == a && p[1] == b)
			return p;
	return NULL;
}

#define READ_SIZE (1u << 20) /* few, large reads: a system call per MiB */
#define MAX_LINE (16u << 20) /* longest record kept; hex of big objects fits */
#define MAX_VALUES 65536     /* JSON values in one record (2 MiB arena) */
#define MAX_DEPTH 64
#define SNIFF_SIZE 4096

struct trace_reader {
	gzFile gz;
	char *name;
	char *buf;
	size_t cap;   /* allocated */
	size_t start; /* first unconsumed byte */
	size_t fill;  /* end of data */
	size_t nul;   /* first NUL at or after start, or fill; valid if nul_ok */
	int nul_ok;
	int eof;
	int skipping;  /* discarding the rest of an overlong line */
	int skip_args; /* trace_skip_args(): the fast path, scan_record() */
	uint64_t line; /* line number of buf[start] */
	uint64_t damaged;
	json_doc *doc;
	char *tbuf; /* a text-format record turned into JSON */
	size_t tcap;
	trace_warn_fn warn;
	void *warn_data;
	char err[256];
	int pfd;      /* the file again, for the records staged in FILE.tail; -1 */
	char *staged; /* those records, read at the end of the file */
	size_t staged_len, staged_at;
};

const json_value *trace_arg(const trace_record *rec, const char *key)
{
	const json_value *v = json_get(rec->args, key);

	return v ? v : json_get(rec->out, key);
}

int trace_strcmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

int trace_streq(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return s && len == n && memcmp(s, lit, n) == 0;
}

void trace_warn_stderr(void *data, const char *name, uint64_t line, const char *msg)
{
	static unsigned shown;

	(void)data;
	if (shown > 20)
		return;
	if (++shown > 20) {
		fprintf(stderr, "p11shim: %s: more damaged lines, not shown\n", name);
		return;
	}
	if (line)
		fprintf(stderr, "p11shim: %s:%llu: %s\n", name, (unsigned long long)line, msg);
	else
		fprintf(stderr, "p11shim: %s: %s\n", name, msg);
}

static void warn(trace_reader *r, uint64_t line, const char *msg)
{
	r->damaged++;
	r->warn(r->warn_data, r->name, line, msg);
}

/* Reads more after buf[fill]: 1 data, 0 end of input, -1 error. */
static int fill_more(trace_reader *r)
{
	int n, errnum;
	const char *msg;
	size_t want = r->cap - r->fill;

	if (want > INT32_MAX)
		want = INT32_MAX;
	n = gzread(r->gz, r->buf + r->fill, (unsigned)want);
	if (n == 0 && r->pfd >= 0) {
		/* A live trace: what its processes have staged but not yet
		 * written (include/p11-trace-ring.h) comes after the file. */
		r->staged_len = p11_ring_pending(r->name, r->pfd, &r->staged);
		close(r->pfd);
		r->pfd = -1;
	}
	if (n == 0 && r->staged_at < r->staged_len) {
		size_t k = r->staged_len - r->staged_at < want ? r->staged_len - r->staged_at : want;
		memcpy(r->buf + r->fill, r->staged + r->staged_at, k);
		r->staged_at += k;
		n = (int)k;
	}
	if (n > 0) {
		r->fill += (size_t)n;
		r->nul_ok = 0;
		return 1;
	}
	msg = gzerror(r->gz, &errnum);
	if (n == 0 && (errnum == Z_OK || errnum == Z_BUF_ERROR)) {
		/* Z_BUF_ERROR at the end: a gzip file cut short, e.g. copied while written. */
		if (errnum == Z_BUF_ERROR)
			warn(r, 0,
			     "compressed data ends early (truncated gzip file); read what was there");
		r->eof = 1;
		return 0;
	}
	if (errnum == Z_ERRNO)
		snprintf(r->err, sizeof(r->err), "%s: read error: %s", r->name, strerror(errno));
	else
		snprintf(r->err, sizeof(r->err), "%s: not readable as gzip: %s", r->name, msg);
	return -1;
}

/*
 * Whether the first block is no trace at all, and why (NULL: it may be).
 * Raw control characters never occur in JSON text, so a first block with
 * more than a few is binary (the user pointed us at the DLL, a .zip, a core
 * dump); one or two are a damaged record, reported line by line like any
 * other. NUL is padding, not counted. A few formats are named outright.
 */
static const char *not_text(const char *p, size_t n)
{
	size_t i, ctl = 0, other = 0;

	if (n >= 4 && memcmp(p,
	                     "\x7f"
	                     "ELF",
	                     4) == 0)
		return "an ELF executable or library, not a trace";
	if (n >= 2 && p[0] == 'M' && p[1] == 'Z')
		return "a Windows executable or DLL, not a trace";
	if (n >= 4 && memcmp(p, "PK\x03\x04", 4) == 0)
		return "a zip archive: unpack the trace first";
	if (n >= 2 && ((p[0] == '\xff' && p[1] == '\xfe') || (p[0] == '\xfe' && p[1] == '\xff')))
		return "UTF-16 text: save the trace as UTF-8";
	if (n > SNIFF_SIZE)
		n = SNIFF_SIZE;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == 0)
			continue;
		other++;
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x1b)
			ctl++;
	}
	if (ctl * 32 > other)
		return "binary data, neither JSON Lines text nor gzip";
	return NULL;
}

trace_reader *trace_open(const char *path, trace_warn_fn warn_fn, void *data, char *err, size_t errlen)
{
	trace_reader *r = NULL;
	struct stat st;
	int fd = -1;
	int is_stdin = strcmp(path, "-") == 0;
	const char *name = is_stdin ? "<stdin>" : path;
	const char *why;

	if (is_stdin) {
		compat_set_binary(0);
		/* gzclose closes the descriptor; keep fd 0 itself open. */
		fd = dup(0);
	} else {
		fd = open(path, O_RDONLY | COMPAT_O_BINARY);
	}
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", name, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: is a directory, not a trace file", name);
		close(fd);
		return NULL;
	}

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		goto nomem;
	r->pfd = is_stdin ? -1 : dup(fd);
	r->name = strdup(name);
	r->cap = READ_SIZE;
	r->buf = malloc(r->cap);
	r->doc = json_doc_new(MAX_VALUES, MAX_DEPTH);
	if (r->name == NULL || r->buf == NULL || r->doc == NULL)
		goto nomem;
	r->gz = gzdopen(fd, "rb");
	if (r->gz == NULL)
		goto nomem;
	fd = -1;
	/* zlib's own buffers: big input reads for gzip; plain files bypass them. */
	gzbuffer(r->gz, 256 * 1024);
	r->line = 1;
	r->warn = warn_fn ? warn_fn : trace_warn_stderr;
	r->warn_data = data;

	/* Read the first block now, so that "not a trace" fails the open. */
	while (r->fill < SNIFF_SIZE && !r->eof) {
		if (fill_more(r) < 0) {
			snprintf(err, errlen, "%s", r->err);
			trace_close(r);
			return NULL;
		}
	}
	if (r->fill >= 3 && memcmp(r->buf, "\xef\xbb\xbf", 3) == 0)
		r->start = 3; /* a UTF-8 BOM from a Windows editor */
	if ((why = not_text(r->buf + r->start, r->fill - r->start)) != NULL) {
		snprintf(err, errlen, "%s: not a trace: %s", name, why);
		trace_close(r);
		return NULL;
	}
	return r;

nomem:
	snprintf(err, errlen, "%s: out of memory", name);
	if (fd >= 0)
		close(fd);
	trace_close(r);
	return NULL;
}

void trace_close(trace_reader *r)
{
	if (r == NULL)
		return;
	if (r->gz)
		gzclose(r->gz);
	if (r->pfd >= 0)
		close(r->pfd);
	free(r->staged);
	json_doc_free(r->doc);
	free(r->buf);
	free(r->tbuf);
	free(r->name);
	free(r);
}

void trace_skip_args(trace_reader *r, int skip)
{
	r->skip_args = skip;
}

const char *trace_error(const trace_reader *r)
{
	return r->err;
}

uint64_t trace_damaged(const trace_reader *r)
{
	return r->damaged;
}

const char *trace_name(const trace_reader *r)
{
	return r->name;
}

static int is_blank(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	}
	return 1;
}

enum { REC_SYNTAX = -1, REC_NO_FN = -2, REC_NOT_OBJECT = -3 };

static void clear_record(trace_record *rec)
{
	rec->root = rec->args = rec->out = rec->notes = NULL;
	rec->ts = rec->fn = rec->rv = rec->crash = NULL;
	rec->ts_len = rec->fn_len = rec->rv_len = rec->crash_len = 0;
	rec->pid = rec->tid = rec->seq = rec->us = rec->pending_us = -1;
}

static char first_byte(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return p[i];
	}
	return '\0';
}

/* The head fields of include/p11-trace-schema.h: F_TS, F_PID, ... */
#define F_ENUM(id) F_##id,
enum { F_OTHER, P11_TRACE_HEAD(F_ENUM) };
#undef F_ENUM

/*
 * Which head field the key k[0..n) is. This runs for every field of every
 * record read field by field: a length and a few bytes compared (memcmp of
 * a constant length is compiled in line).
 */
static int field_of(const char *k, uint32_t n)
{
#define F_IS(id)                          \
	if (P11_TF_IS(k, n, P11_TF_##id)) \
		return F_##id;
	P11_TRACE_HEAD(F_IS)
#undef F_IS
	return F_OTHER;
}

/* Where a head field that is a string goes in rec, and its length; NULL for the others. */
static const char **rec_str(trace_record *rec, int field, uint32_t **len)
{
	switch (field) {
	case F_TS: *len = &rec->ts_len; return &rec->ts;
	case F_FN: *len = &rec->fn_len; return &rec->fn;
	case F_RV: *len = &rec->rv_len; return &rec->rv;
	case F_CRASH: *len = &rec->crash_len; return &rec->crash;
	}
	return NULL;
}

/* Where a head field that is an integer goes in rec; NULL for the others. */
static int64_t *rec_int(trace_record *rec, int field)
{
	switch (field) {
	case F_PID: return &rec->pid;
	case F_TID: return &rec->tid;
	case F_SEQ: return &rec->seq;
	case F_US: return &rec->us;
	case F_PENDING_US: return &rec->pending_us;
	}
	return NULL;
}

/* Picks the known fields out of a parsed record; unknown ones are ignored. */
static int fill_record(const json_value *root, trace_record *rec)
{
	const json_value *v;
	uint32_t i;

	clear_record(rec);
	rec->root = root;
	if (root->type != JSON_OBJECT)
		return REC_NOT_OBJECT;

	for (i = 0, v = root + 1; i < root->len; i++, v = json_next(v)) {
		int field = field_of(v->key, v->key_len);
		const char **str;
		uint32_t *str_len;
		int64_t *num, n;

		if ((str = rec_str(rec, field, &str_len)) != NULL) {
			if (v->type == JSON_STRING) {
				*str = v->str;
				*str_len = v->len;
			}
		} else if ((num = rec_int(rec, field)) != NULL) {
			if (json_int(v, &n))
				*num = n;
		} else if (field == F_ARGS && v->type == JSON_OBJECT) {
			rec->args = v;
		} else if (field == F_OUT && v->type == JSON_OBJECT) {
			rec->out = v;
		} else if (field == F_NOTES && v->type == JSON_ARRAY) {
			rec->notes = v;
		}
	}
	return rec->fn ? 0 : REC_NO_FN;
}

/*
 * At the literal s: step over it and return 1; else 0 and stay. A loop,
 * not memcmp: with n constant it unrolls to a few compares, where memcmp
 * stays a library call (12% of `trace summary` when it was one).
 */
static inline __attribute__((always_inline)) int lit(json_cursor *c, const char *s, size_t n)
{
	size_t i;

	if ((size_t)(c->end - c->p) < n)
		return 0;
	for (i = 0; i < n; i++) {
		if (c->p[i] != s[i])
			return 0;
	}
	c->p += n;
	return 1;
}

#define LIT(c, s) lit((c), (s), sizeof(s) - 1)
/* "name": of a head field: J(TS) is "\"ts\":" */
#define J(id) P11_TF_JSON(P11_TF_##id)

/*
 * An integer field: pid, tid, seq and us are small non-negative integers,
 * read here in line; anything else (a sign, a fraction, 19 digits or more,
 * a leading zero) goes to the tokenizer, which knows every case.
 */
static inline int int_field(json_cursor *c, int64_t *out)
{
	const char *p = c->p, *s;
	uint32_t n;
	int64_t v = 0;
	bool is_int;

	while (p < c->end && *p >= '0' && *p <= '9' && p - c->p < 18) {
		v = v * 10 + (*p - '0');
		p++;
	}
	if (p > c->p && !(p - c->p > 1 && *c->p == '0') &&
	    (p == c->end || !((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E'))) {
		c->p = (char *)(uintptr_t)p;
		*out = v;
		return 1;
	}
	if (c->p >= c->end || !(*c->p == '-' || (*c->p >= '0' && *c->p <= '9')))
		return 0;
	return json_scan_number(c, &s, &n, out, &is_int) == 0 && is_int;
}

/*
 * The fastest path: a record exactly as the shim writes it, fields in
 * their order, no white space, no escapes in ts, fn, rv. It only reads
 * until something differs, then gives up (returns 1) without having
 * changed the text, and scan_record() reads the record in full. 0: a
 * record; -1: a syntax error in the notes, in *err.
 */
static int exact_record(trace_reader *r, char *text, size_t len, trace_record *rec, json_error *err)
{
	json_cursor c;
	char *notes_at = NULL;

	json_cursor_init(&c, text, len);
	if (!LIT(&c, "{" J(TS)) || json_scan_plain(&c, &rec->ts, &rec->ts_len) ||
	    !LIT(&c, "," J(PID)) || !int_field(&c, &rec->pid) || !LIT(&c, "," J(TID)) ||
	    !int_field(&c, &rec->tid) || !LIT(&c, "," J(SEQ)) || !int_field(&c, &rec->seq) ||
	    !LIT(&c, "," J(FN)) || json_scan_plain(&c, &rec->fn, &rec->fn_len) ||
	    !LIT(&c, "," J(ARGS) "{"))
		return 1;
	c.p--;
	/*
	 * Skipped, but checked as strictly as a full parse: every command takes
	 * and reports the same records. (A skip that only pairs brackets, 64
	 * bytes at a time, saved a quarter of the time, but let summary count
	 * records that show reported as malformed.)
	 */
	if (json_skip_value(&c, MAX_DEPTH - 1) < 0)
		return 1;
	if (LIT(&c, "," J(OUT) "{")) {
		c.p--;
		if (json_skip_value(&c, MAX_DEPTH - 1) < 0)
			return 1;
	}
	if (!LIT(&c, "," J(RV)))
		return 1;
	if (!LIT(&c, "null") && json_scan_plain(&c, &rec->rv, &rec->rv_len))
		return 1;
	if (LIT(&c, "," J(CRASH)) && json_scan_plain(&c, &rec->crash, &rec->crash_len))
		return 1;
	if (LIT(&c, "," J(US)) && !int_field(&c, &rec->us))
		return 1;
	if (LIT(&c, "," J(NOTES) "[")) {
		/* Find the end first: parsing decodes in place, which must not happen before we are sure. */
		notes_at = --c.p;
		if (json_skip_value(&c, MAX_DEPTH - 1) < 0)
			return 1;
	}
	if (!LIT(&c, "}"))
		return 1;
	json_ws(&c);
	if (c.p != c.end)
		return 1;
	if (notes_at) {
		json_cursor_init(&c, notes_at, (size_t)(text + len - notes_at));
		json_doc_reset(r->doc);
		if ((rec->notes = json_parse_value(r->doc, &c)) == NULL) {
			/*
			 * The skip checks less than the parser (control characters, escapes). No
			 * fallback now: the parser may have decoded part of the text in place.
			 */
			json_cursor_error(&c, err);
			err->offset += (size_t)(notes_at - text);
			return -1;
		}
	}
	return 0;
}

/*
 * The fast path (trace_skip_args): the record's fields read straight from
 * the text with the tokenizer, the arguments checked but not made into
 * values, notes parsed; faster than parsing the record into values and
 * then picking fields, which `trace summary` needs to be ten times faster
 * than Python. exact_record() first, this when the record differs.
 * 0: a record; -1: a syntax error in *err; -2: no "fn".
 */
static int scan_record(trace_reader *r, char *text, size_t len, trace_record *rec, json_error *err)
{
	json_cursor c;

	json_cursor_init(&c, text, len);
	json_doc_reset(r->doc);
	json_ws(&c);
	c.p++; /* the caller saw '{' */
	json_ws(&c);
	if (c.p < c.end && *c.p == '}') {
		c.p++;
		goto after;
	}
	for (;;) {
		const char *k, *s, **str;
		uint32_t kl, sl, *str_len;
		int64_t iv, *num;
		bool is_int;
		int field;
		char ch;

		if (c.p >= c.end) {
			json_fail(&c, c.p, "unterminated object");
			goto bad;
		}
		if (*c.p != '"') {
			json_fail(&c, c.p, "expected a member name");
			goto bad;
		}
		if (json_scan_string(&c, &k, &kl) < 0)
			goto bad;
		json_ws(&c);
		if (c.p >= c.end || *c.p != ':') {
			json_fail(&c, c.p, "expected ':'");
			goto bad;
		}
		c.p++;
		json_ws(&c);
		if (c.p >= c.end) {
			json_fail(&c, c.p, "unexpected end of text");
			goto bad;
		}
		field = field_of(k, kl);
		ch = *c.p;
		if (ch == '"' && (str = rec_str(rec, field, &str_len)) != NULL) {
			if (json_scan_string(&c, &s, &sl) < 0)
				goto bad;
			*str = s;
			*str_len = sl;
		} else if ((ch == '-' || (ch >= '0' && ch <= '9')) &&
		           (num = rec_int(rec, field)) != NULL) {
			if (json_scan_number(&c, &s, &sl, &iv, &is_int) < 0)
				goto bad;
			if (is_int)
				*num = iv;
		} else if (field == F_NOTES && ch == '[') {
			if ((rec->notes = json_parse_value(r->doc, &c)) == NULL)
				goto bad;
		} else if (field == F_ARGS && ch == '{' && !r->skip_args) {
			if ((rec->args = json_parse_value(r->doc, &c)) == NULL)
				goto bad;
		} else if (field == F_OUT && ch == '{' && !r->skip_args) {
			if ((rec->out = json_parse_value(r->doc, &c)) == NULL)
				goto bad;
		} else if (json_skip_value(&c, MAX_DEPTH - 1) < 0) {
			goto bad;
		}
		json_ws(&c);
		if (c.p < c.end && *c.p == ',') {
			c.p++;
			json_ws(&c);
			continue;
		}
		if (c.p < c.end && *c.p == '}') {
			c.p++;
			break;
		}
		json_fail(&c, c.p, c.p < c.end ? "expected ',' or '}'" : "unterminated object");
		goto bad;
	}
after:
	json_ws(&c);
	if (c.p != c.end) {
		json_fail(&c, c.p,
		          *c.p ? "unexpected text after the value" : "NUL byte after the value");
		goto bad;
	}
	return rec->fn ? 0 : REC_NO_FN;
bad:
	json_cursor_error(&c, err);
	return REC_SYNTAX;
}

/* ---- the text format ---- */

/*
 * `[trace] Format = text` writes one line per call (src/trace/layer.c):
 *   TS PID:TID #SEQ C_Fn(key=value, ...) -> {key=value, ...} = RV (US us) notes: A; B
 *   TS PID:TID #SEQ C_Fn(key=value, ... = CRASHED SIGSEGV
 *   TS PID:TID #SEQ C_Fn(key=value) = PENDING (US us) notes: ...
 * A value is a bare word (a number, a constant's name, NULL, true, false,
 * hex), a JSON string, {key=value, ...} or [value, ...], which is JSON with
 * other punctuation; text_to_json() writes the record as the JSON record
 * it stands for, so that every reader sees one kind of record.
 */
typedef struct {
	const char *p, *end;
	char *o;
	const char *why;
} tconv;

static void tc_put(tconv *t, const char *s, size_t n)
{
	memcpy(t->o, s, n);
	t->o += n;
}

#define TC_LIT(t, s) tc_put((t), (s), sizeof(s) - 1)

static int tc_lit(tconv *t, const char *s)
{
	size_t n = strlen(s);

	if ((size_t)(t->end - t->p) < n || memcmp(t->p, s, n) != 0)
		return 0;
	t->p += n;
	return 1;
}

static int tc_fail(tconv *t, const char *why)
{
	if (t->why == NULL)
		t->why = why;
	return -1;
}

static int is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int is_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
	}
	return n > 0;
}

static int tc_value(tconv *t, int depth);

/* key=value, ... up to close; written as a JSON object. */
static int tc_members(tconv *t, char close, int depth)
{
	tc_put(t, "{", 1);
	if (t->p < t->end && *t->p == close) {
		t->p++;
		tc_put(t, "}", 1);
		return 0;
	}
	for (;;) {
		const char *k = t->p;
		while (t->p < t->end && is_word(*t->p))
			t->p++;
		if (t->p == k || t->p >= t->end || *t->p != '=')
			return tc_fail(t, "expected name=value");
		tc_put(t, "\"", 1);
		tc_put(t, k, (size_t)(t->p - k));
		tc_put(t, "\":", 2);
		t->p++;
		if (tc_value(t, depth + 1) < 0)
			return -1;
		if (tc_lit(t, ", ")) {
			tc_put(t, ",", 1);
			continue;
		}
		if (t->p < t->end && *t->p == close) {
			t->p++;
			tc_put(t, "}", 1);
			return 0;
		}
		return tc_fail(t, "expected ', ' or the end of the list");
	}
}

static int tc_value(tconv *t, int depth)
{
	const char *s = t->p;
	size_t n;

	if (depth > MAX_DEPTH - 2)
		return tc_fail(t, "nested too deep");
	if (t->p >= t->end)
		return tc_fail(t, "unexpected end of line");
	if (*t->p == '"') {
		/* A JSON string already: copied as it is. */
		for (t->p++; t->p < t->end && *t->p != '"'; t->p++) {
			if (*t->p == '\\')
				t->p++;
		}
		if (t->p >= t->end)
			return tc_fail(t, "unterminated string");
		t->p++;
		tc_put(t, s, (size_t)(t->p - s));
		return 0;
	}
	if (*t->p == '{') {
		t->p++;
		return tc_members(t, '}', depth);
	}
	if (*t->p == '[') {
		t->p++;
		tc_put(t, "[", 1);
		if (t->p < t->end && *t->p == ']') {
			t->p++;
			tc_put(t, "]", 1);
			return 0;
		}
		for (;;) {
			if (tc_value(t, depth + 1) < 0)
				return -1;
			if (tc_lit(t, ", ")) {
				tc_put(t, ",", 1);
				continue;
			}
			if (tc_lit(t, "]")) {
				tc_put(t, "]", 1);
				return 0;
			}
			return tc_fail(t, "expected ', ' or ']'");
		}
	}
	/* A bare word: it ends where the text format would have quoted it. */
	while (t->p < t->end && *t->p != ' ' && *t->p != ',' && *t->p != ')' && *t->p != ']' &&
	       *t->p != '}' && *t->p != '"' && *t->p != '=' && *t->p != '\\' && *t->p != '{' &&
	       *t->p != '[')
		t->p++;
	n = (size_t)(t->p - s);
	if (n == 0)
		return tc_fail(t, "expected a value");
	if (n == 4 && memcmp(s, "NULL", 4) == 0)
		tc_put(t, "null", 4);
	else if ((n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0) ||
	         (is_digits(s, n) && (n == 1 || s[0] != '0') && n < 19))
		tc_put(t, s, n);
	else {
		tc_put(t, "\"", 1);
		tc_put(t, s, n);
		tc_put(t, "\"", 1);
	}
	return 0;
}

/* A note (up to "; " or the end) as a JSON string. */
static void tc_note(tconv *t, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	tc_put(t, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			tc_put(t, e, 2);
		} else if (c < 0x20) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			tc_put(t, e, 6);
		} else {
			tc_put(t, (const char *)&s[i], 1);
		}
	}
	tc_put(t, "\"", 1);
}

/* Digits at t->p, copied; 0 when there are none. */
static int tc_digits(tconv *t)
{
	const char *s = t->p;

	while (t->p < t->end && *t->p >= '0' && *t->p <= '9')
		t->p++;
	if (t->p == s)
		return tc_fail(t, "expected a number");
	tc_put(t, s, (size_t)(t->p - s));
	return 0;
}

/* The JSON record in r->tbuf; its length, or 0 with why and the column. */
static size_t text_to_json(trace_reader *r, const char *p, size_t n, const char **why, size_t *at)
{
	tconv t;
	const char *s;
	size_t need = 3 * n + 256;

	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' '))
		n--;
	if (need > r->tcap) {
		char *nb = realloc(r->tbuf, need);
		if (nb == NULL) {
			*why = "out of memory";
			*at = 0;
			return 0;
		}
		r->tbuf = nb;
		r->tcap = need;
	}
	t.p = p;
	t.end = p + n;
	t.o = r->tbuf;
	t.why = NULL;

	/* TS PID:TID #SEQ */
	s = memchr(p, ' ', n);
	if (s == NULL || s - p > 40) {
		tc_fail(&t, "expected a timestamp");
		goto bad;
	}
	TC_LIT(&t, "{" J(TS) "\"");
	tc_put(&t, p, (size_t)(s - p));
	t.p = s + 1;
	TC_LIT(&t, "\"," J(PID));
	if (tc_digits(&t) < 0 || !tc_lit(&t, ":"))
		goto bad_field;
	TC_LIT(&t, "," J(TID));
	if (tc_digits(&t) < 0 || !tc_lit(&t, " #"))
		goto bad_field;
	TC_LIT(&t, "," J(SEQ));
	if (tc_digits(&t) < 0 || !tc_lit(&t, " "))
		goto bad_field;
	/* C_Fn(args) */
	s = t.p;
	while (t.p < t.end && is_word(*t.p))
		t.p++;
	if (t.p == s || !tc_lit(&t, "(")) {
		tc_fail(&t, "expected C_Function(");
		goto bad;
	}
	TC_LIT(&t, "," J(FN) "\"");
	tc_put(&t, s, (size_t)(t.p - s - 1));
	TC_LIT(&t, "\"," J(ARGS));
	if (tc_members(&t, ')', 1) < 0)
		goto bad;
	if (tc_lit(&t, " -> {")) {
		TC_LIT(&t, "," J(OUT));
		if (tc_members(&t, '}', 1) < 0)
			goto bad;
	}
	if (!tc_lit(&t, " = ")) {
		tc_fail(&t, "expected ' = ' and the return value");
		goto bad;
	}
	s = t.p;
	while (t.p < t.end && *t.p != ' ')
		t.p++;
	if (t.p - s == 7 && memcmp(s, "PENDING", 7) == 0) {
		TC_LIT(&t, "," J(RV) "null," J(PENDING_US));
	} else if (t.p - s == 7 && memcmp(s, "CRASHED", 7) == 0) {
		TC_LIT(&t, "," J(RV) "null," J(CRASH) "\"");
		tc_lit(&t, " ");
		s = t.p;
		while (t.p < t.end && is_word(*t.p))
			t.p++;
		tc_put(&t, s, (size_t)(t.p - s));
		tc_put(&t, "\"", 1);
		goto notes;
	} else {
		TC_LIT(&t, "," J(RV) "\"");
		tc_put(&t, s, (size_t)(t.p - s));
		TC_LIT(&t, "\"," J(US));
	}
	if (!tc_lit(&t, " (") || tc_digits(&t) < 0 || !tc_lit(&t, " us)")) {
		tc_fail(&t, "expected ' (N us)'");
		goto bad;
	}
notes:
	if (tc_lit(&t, " notes: ")) {
		TC_LIT(&t, "," J(NOTES) "[");
		for (;;) {
			const char *e = find_pair(t.p, t.end, ';', ' ');
			size_t len = e ? (size_t)(e - t.p) : (size_t)(t.end - t.p);
			tc_note(&t, t.p, len);
			t.p += len;
			if (!tc_lit(&t, "; "))
				break;
			tc_put(&t, ",", 1);
		}
		tc_put(&t, "]", 1);
	}
	if (t.p != t.end) {
		tc_fail(&t, "unexpected text after the record");
		goto bad;
	}
	tc_put(&t, "}", 1);
	return (size_t)(t.o - r->tbuf);
bad_field:
	tc_fail(&t, "expected PID:TID #SEQ");
bad:
	*why = t.why;
	*at = (size_t)(t.p - p);
	return 0;
}

/* ---- failed calls: probing or not ---- */

int trace_is_probing(const trace_record *rec)
{
	static const char *const always[] = {
		"CKR_BUFFER_TOO_SMALL",
		"CKR_ATTRIBUTE_TYPE_INVALID",
		"CKR_ATTRIBUTE_SENSITIVE",
		"CKR_NO_EVENT",
		"CKR_CRYPTOKI_ALREADY_INITIALIZED",
		"CKR_USER_ALREADY_LOGGED_IN",
	};
	const char *rv = rec->rv, *fn = rec->fn;
	size_t i, rn = rec->rv_len, fnl = rec->fn_len;

	if (rv == NULL || trace_streq(rv, rn, "CKR_OK"))
		return 0;
	for (i = 0; i < sizeof(always) / sizeof(always[0]); i++) {
		if (trace_streq(rv, rn, always[i]))
			return 1;
	}
#define FN(name) trace_streq(fn, fnl, name)
#define RV(name) trace_streq(rv, rn, name)
	/*
	 * Mechanism probing: a client tries a mechanism and falls back to
	 * another when the token has none (pkcs11-tool --test, Java).
	 */
	if (RV("CKR_MECHANISM_INVALID") &&
	    (FN("C_GetMechanismInfo") || (fnl > 6 && memcmp(fn + fnl - 4, "Init", 4) == 0 &&
	                                  !FN("C_InitToken") && !FN("C_InitPIN"))))
		return 1;
	if (RV("CKR_TOKEN_NOT_PRESENT") &&
	    (FN("C_GetTokenInfo") || FN("C_GetMechanismList") || FN("C_GetMechanismInfo")))
		return 1;
	if (RV("CKR_USER_NOT_LOGGED_IN") && FN("C_Logout"))
		return 1;
	if ((RV("CKR_FUNCTION_NOT_SUPPORTED") || RV("CKR_FUNCTION_NOT_PARALLEL")) &&
	    (FN("C_GetFunctionStatus") || FN("C_CancelFunction") || FN("C_WaitForSlotEvent") ||
	     FN("C_GetInterface") || FN("C_GetInterfaceList") || FN("C_GetOperationState")))
		return 1;
	/* No real client passes bad arguments to these two; a test client does, on purpose. */
	if (RV("CKR_ARGUMENTS_BAD") && (FN("C_Initialize") || FN("C_Finalize")) && rec->notes == NULL)
		return 1;
#undef FN
#undef RV
	return 0;
}

void trace_copy_text(char *dst, size_t cap, const char *s, size_t n)
{
	p11_text_escape(dst, cap, s, n, NULL);
}

void trace_failures_add(trace_failures *t, const trace_record *rec)
{
	size_t i;

	if (rec->pending_us >= 0 || (rec->rv && trace_streq(rec->rv, rec->rv_len, "CKR_OK")))
		return;
	t->failed++;
	if (!trace_is_probing(rec))
		return;
	t->probing++;
	for (i = 0; i < t->n_kinds; i++) {
		if (trace_streq(rec->fn, rec->fn_len, t->kind[i].fn) &&
		    trace_streq(rec->rv, rec->rv_len, t->kind[i].rv)) {
			t->kind[i].n++;
			return;
		}
	}
	if (t->n_kinds == TRACE_PROBE_KINDS) {
		t->other_kinds++;
		return;
	}
	trace_copy_text(t->kind[i].fn, sizeof(t->kind[i].fn), rec->fn, rec->fn_len);
	trace_copy_text(t->kind[i].rv, sizeof(t->kind[i].rv), rec->rv, rec->rv_len);
	t->kind[i].n = 1;
	t->n_kinds++;
}

void trace_failures_sentence(const trace_failures *t, char *out, size_t cap)
{
	size_t o = 0, i;

#define PUT(...) \
	(o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, __VA_ARGS__), o = o < cap ? o : cap)
	out[0] = '\0';
	if (t->failed == 0) {
		PUT("no failed calls");
		return;
	}
	PUT("%llu failed call%s", (unsigned long long)t->failed, t->failed == 1 ? "" : "s");
	if (t->probing == 0)
		return;
	if (t->probing == t->failed)
		PUT(", %s expected client probing: ", t->failed == 1 ? "an" : "all");
	else
		PUT(", %llu of them expected client probing: ", (unsigned long long)t->probing);
	for (i = 0; i < t->n_kinds; i++)
		PUT("%s%s -> %s (%llu)", i ? ", " : "", t->kind[i].fn, t->kind[i].rv,
		    (unsigned long long)t->kind[i].n);
	if (t->other_kinds)
		PUT(", %llu more", (unsigned long long)t->other_kinds);
#undef PUT
}

/*
 * Parses one segment; 1 when it is a record, 0 when it was reported.
 * how: why the segment ended, for the message (NULL: a newline).
 */
static int take_segment(trace_reader *r, char *p, size_t n, uint64_t line, const char *how,
                        trace_record *rec)
{
	json_error e;
	char msg[200];
	int rc;

	if (is_blank(p, n))
		return 0;
	if (first_byte(p, n) >= '0' && first_byte(p, n) <= '9') {
		/* A text-format line: the same record, as JSON. */
		const char *why = NULL;
		size_t at = 0, jn = text_to_json(r, p, n, &why, &at);
		if (jn == 0) {
			snprintf(msg, sizeof(msg),
			         "malformed text record: %s at column %zu, skipped", why, at + 1);
			warn(r, line, msg);
			return 0;
		}
		p = r->tbuf;
		n = jn;
	}
	if (r->skip_args && first_byte(p, n) == '{') {
		clear_record(rec);
		rc = exact_record(r, p, n, rec, &e);
		if (rc < 0) {
			rc = REC_SYNTAX;
		} else if (rc > 0) {
			clear_record(rec);
			rc = scan_record(r, p, n, rec, &e);
		}
	} else {
		const json_value *root = json_parse(r->doc, p, n, &e);
		rc = root ? fill_record(root, rec) : REC_SYNTAX;
	}
	switch (rc) {
	case 0: rec->line = line; return 1;
	case REC_NOT_OBJECT:
		warn(r, line, "not a trace record (not a JSON object), skipped");
		return 0;
	case REC_NO_FN:
		warn(r, line, "not a trace record (no \"" P11_TF_FN "\"), skipped");
		return 0;
	}
	if (how)
		snprintf(msg, sizeof(msg), "truncated record (%s), skipped", how);
	else
		snprintf(msg, sizeof(msg), "malformed record: %s at column %zu, skipped", e.msg,
		         e.offset + 1);
	warn(r, line, msg);
	return 0;
}

int trace_next(trace_reader *r, trace_record *rec)
{
	for (;;) {
		char *p = r->buf + r->start;
		size_t avail = r->fill - r->start;
		char *nl;
		size_t term;

		if (r->skipping) {
			char *z = memchr(p, '\n', avail);
			if (z) {
				r->start += (size_t)(z - p) + 1;
				r->line++;
				r->skipping = 0;
				continue;
			}
			r->start = r->fill;
		} else if (avail) {
			if (!r->nul_ok || r->nul < r->start) {
				char *z = memchr(p, '\0', avail);
				r->nul = z ? (size_t)(z - r->buf) : r->fill;
				r->nul_ok = 1;
			}
			nl = memchr(p, '\n', r->nul - r->start);
			if (nl) {
				uint64_t line = r->line++;
				term = (size_t)(nl - r->buf);
				r->start = term + 1;
				if (take_segment(r, p, term - (size_t)(p - r->buf), line, NULL, rec))
					return 1;
				continue;
			}
			if (r->nul < r->fill) {
				/* A record cut off by NUL padding, or padding between records. */
				size_t z = r->nul;
				int rc = take_segment(r, p, z - r->start, r->line,
				                      "followed by NUL bytes", rec);
				while (z < r->fill && r->buf[z] == '\0')
					z++;
				r->start = z;
				if (rc)
					return 1;
				continue;
			}
			/* No terminator in the buffer: the record continues in the input. */
		}

		if (r->eof) {
			if (r->start < r->fill) {
				/* The last line lacks its newline: fine if it is whole, a record cut short if not. */
				uint64_t line = r->line;
				size_t n = r->fill - r->start;
				r->start = r->fill;
				if (take_segment(r, p, n, line,
				                 "the last line ends without a newline", rec))
					return 1;
			}
			return 0;
		}

		if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, r->fill - r->start);
			r->fill -= r->start;
			r->nul -= r->nul >= r->start ? r->start : r->nul;
			r->start = 0;
		}
		if (r->fill == r->cap) {
			if (r->cap < MAX_LINE) {
				size_t cap = r->cap * 2 > MAX_LINE ? MAX_LINE : r->cap * 2;
				char *nb = realloc(r->buf, cap);
				if (nb == NULL) {
					snprintf(r->err, sizeof(r->err), "%s: out of memory",
					         r->name);
					return -1;
				}
				r->buf = nb;
				r->cap = cap;
			} else {
				char msg[100];
				snprintf(msg, sizeof(msg), "line longer than %u MiB, skipped",
				         MAX_LINE >> 20);
				warn(r, r->line, msg);
				r->skipping = 1;
				r->start = r->fill = 0;
			}
		}
		if (fill_more(r) < 0)
			return -1;
	}
}
