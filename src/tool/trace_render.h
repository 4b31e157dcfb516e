/*
 * Trace records as text for people: the one-line form of `trace show` and
 * of diagnose's evidence, and the indented form of `trace show -v`.
 *
 * Output goes into bounded buffers (sbuf): a record with a megabyte of hex
 * still renders as one readable line, cut with "...".
 */
#ifndef P11SHIM_TOOL_TRACE_RENDER_H
#define P11SHIM_TOOL_TRACE_RENDER_H

#include <stdio.h>

#include "trace_read.h"

typedef struct {
	char *p;
	size_t len;
	size_t cap; /* bytes at p, the terminating NUL included */
	int cut;    /* something did not fit */
} sbuf;

void sb_init(sbuf *b, char *mem, size_t cap);
void sb_put(sbuf *b, const char *s, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s[0..n) escaped for a terminal (p11_text_escape): one line, no escape sequence. */
void sb_text(sbuf *b, const char *s, size_t n);
/* s[0..n) quoted, '"' and '\\' escaped as in JSON and the rest as sb_text, at most max bytes of it. */
void sb_quoted(sbuf *b, const char *s, size_t n, size_t max);
/* Ends the text with "..." when it was cut; returns the length. */
size_t sb_finish(sbuf *b);

/*
 * "seq ts pid:tid fn(args) = rv (us)", args compact and cut at about
 * args_max bytes. NUL-terminated; returns the length.
 */
size_t render_call(const trace_record *rec, char *out, size_t cap, size_t args_max);

/* The call line without arguments, then every argument, field and note, indented. */
void render_verbose(FILE *f, const trace_record *rec);

/* A value in the compact one-line form ("<16 bytes>", "CKF_A|CKF_B"). */
void render_compact(sbuf *b, const json_value *v, int depth);

/* Text escaped for a terminal (p11_text_fput): one line stays one line, no escape sequence. */
void render_plain(FILE *f, const char *s, size_t n);

/* true for strings printed bare: constant names, 0x numbers, "<redacted 8 bytes>". */
int render_is_symbol(const char *s, size_t n);

#endif /* P11SHIM_TOOL_TRACE_RENDER_H */
