/*
 * What the `p11shim trace` subcommands share (cmd_trace.c) and each
 * one's entry: trace_summary.c, trace_show.c, trace_diagnose.c, cmd_report.c.
 */
#ifndef P11SHIM_TOOL_CMD_TRACE_H
#define P11SHIM_TOOL_CMD_TRACE_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "trace_hung.h"
#include "trace_read.h"

/* `p11shim trace summary` (trace_summary.c); argv[0] is "summary". */
int trace_cmd_summary(int argc, char **argv);
/* `p11shim trace show` (trace_show.c); argv[0] is "show". */
int trace_cmd_show(int argc, char **argv);
/* `p11shim trace diagnose` (trace_diagnose.c); argv[0] is "diagnose". */
int trace_cmd_diagnose(int argc, char **argv);
/* `p11shim trace report` (cmd_report.c); argv[0] is "report". */
int trace_cmd_report(int argc, char **argv);

/*
 * The diagnosis as a value, for `trace report`: records in order, then
 * finish (path: the trace, for FILE.inflight), then the JSON document
 * `trace diagnose --json` prints.
 */
typedef struct trace_diag trace_diag;
trace_diag *trace_diag_new(void);
void trace_diag_add(trace_diag *D, const trace_record *rec);
void trace_diag_finish(trace_diag *D, const char *path);
void trace_diag_json(trace_diag *D, FILE *out, const char *name, uint64_t damaged);
const trace_hung *trace_diag_hung(const trace_diag *D, size_t *n);
void trace_diag_free(trace_diag *D);

/*
 * Reports a usage error of `p11shim trace CMD` on stderr, with the hint to
 * use --help, and returns TOOL_EXIT_USAGE.
 */
int trace_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * The getopt error for the option just parsed (ret is getopt_long's ':' or
 * '?'), reported with trace_usage_error.
 */
int trace_getopt_error(const char *cmd, int ret, char **argv);

/* Exactly one FILE operand after the options, or a usage error (returns NULL). */
const char *trace_file_operand(const char *cmd, int argc, char **argv);

/* Opens the trace or says why not on stderr (NULL: exit 2). */
trace_reader *trace_cmd_open(const char *path);

/* ts string "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" to seconds since 1970; -1 if not one. */
double trace_ts_seconds(const char *ts, size_t len);

/* The calls in flight: "in flight  N calls ..." and one line each (nothing when n is 0). */
void trace_print_hung(FILE *f, const trace_hung *h, size_t n);
/* The same as a JSON array. */
void trace_json_hung(FILE *f, const trace_hung *h, size_t n);

/* Whether the record's call returned CKR_OK. */
static inline int trace_rec_ok(const trace_record *rec)
{
	return rec->rv && rec->rv_len == 6 && memcmp(rec->rv, "CKR_OK", 6) == 0;
}

/* A hash of two integers (a pid and a tid, a pid and a session) for open addressing. */
static inline uint32_t trace_hash2(int64_t a, int64_t b)
{
	uint64_t x = (uint64_t)a * 0x9e3779b97f4a7c15ull ^ (uint64_t)b * 0xc2b2ae3d27d4eb4full;

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(x >> 32);
}

/* "2h 03m 04.5s" */
void trace_format_span(double seconds, char *out, size_t cap);

#endif /* P11SHIM_TOOL_CMD_TRACE_H */
