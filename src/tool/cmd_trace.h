/*
 * What the `p11shim trace` subcommands share (cmd_trace.c, trace_diagnose.c).
 */
#ifndef P11SHIM_TOOL_CMD_TRACE_H
#define P11SHIM_TOOL_CMD_TRACE_H

#include <stdint.h>

#include "trace_read.h"

/* `p11shim trace diagnose` (trace_diagnose.c); argv[0] is "diagnose". */
int trace_cmd_diagnose(int argc, char **argv);

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

/* "2h 03m 04.5s" */
void trace_format_span(double seconds, char *out, size_t cap);

#endif /* P11SHIM_TOOL_CMD_TRACE_H */
