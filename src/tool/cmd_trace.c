/*
 * `p11shim trace COMMAND`: what the subcommands share (usage errors, the
 * FILE operand, timestamps, the calls in flight) and the dispatch. Each
 * subcommand has its file: summary trace_summary.c, show trace_show.c,
 * diagnose trace_diagnose.c, report cmd_report.c.
 *
 * Every command streams: whatever the size of the trace, memory is the
 * reader's buffer plus fixed-size tables. Where a table is full (more
 * distinct processes, functions or note texts than it holds) the output
 * says so and counts the rest together, rather than growing.
 */
#include "config.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cmd_trace.h"
#include "trace_hung.h"
#include "json.h"
#include "p11-text.h"
#include "tool.h"
#include "trace_read.h"
#include "trace_render.h"

/* ---- shared by the subcommands ---- */

int trace_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "p11shim trace %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'p11shim trace %s --help'.\n", cmd);
	return TOOL_EXIT_USAGE;
}

int trace_getopt_error(const char *cmd, int ret, char **argv)
{
	const char *arg = argv[optind - 1];

	if (ret == ':')
		return trace_usage_error(cmd, "option '%s' needs a value", arg);
	if (optopt && (arg[0] != '-' || arg[1] != '-'))
		return trace_usage_error(cmd, "unknown option '-%c'", optopt);
	return trace_usage_error(cmd, "unknown option '%s'", arg);
}

const char *trace_file_operand(const char *cmd, int argc, char **argv)
{
	if (optind >= argc) {
		trace_usage_error(cmd, "no trace FILE given (use - for stdin)");
		return NULL;
	}
	if (optind + 1 < argc) {
		trace_usage_error(cmd, "one trace FILE only; unexpected '%s'", argv[optind + 1]);
		return NULL;
	}
	return argv[optind];
}

trace_reader *trace_cmd_open(const char *path)
{
	char err[512];
	trace_reader *r = trace_open(path, NULL, NULL, err, sizeof(err));

	if (r == NULL)
		fprintf(stderr, "p11shim: %s\n", err);
	return r;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static long days_from_civil(int y, int m, int d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

double trace_ts_seconds(const char *ts, size_t len)
{
	int y, mo, d, h, mi, s;
	double frac = 0, scale = 0.1;
	size_t i;

	if (ts == NULL || len < 19 || ts[4] != '-' || ts[7] != '-' || ts[10] != 'T' ||
	    ts[13] != ':' || ts[16] != ':')
		return -1;
	if (digits(ts, 4, &y) || digits(ts + 5, 2, &mo) || digits(ts + 8, 2, &d) ||
	    digits(ts + 11, 2, &h) || digits(ts + 14, 2, &mi) || digits(ts + 17, 2, &s))
		return -1;
	if (len > 19 && ts[19] == '.') {
		for (i = 20; i < len && ts[i] >= '0' && ts[i] <= '9'; i++) {
			frac += (ts[i] - '0') * scale;
			scale /= 10;
		}
	}
	return (double)days_from_civil(y, mo, d) * 86400.0 + h * 3600 + mi * 60 + s + frac;
}

void trace_format_span(double t, char *out, size_t cap)
{
	long secs = (long)t;

	if (t < 0)
		snprintf(out, cap, "?");
	else if (t < 1)
		snprintf(out, cap, "%.6fs", t);
	else if (t < 60)
		snprintf(out, cap, "%.3fs", t);
	else if (t < 3600)
		snprintf(out, cap, "%ldm %02lds", secs / 60, secs % 60);
	else if (t < 86400)
		snprintf(out, cap, "%ldh %02ldm %02lds", secs / 3600, secs / 60 % 60, secs % 60);
	else
		snprintf(out, cap, "%ldd %02ldh %02ldm", secs / 86400, secs / 3600 % 24,
		         secs / 60 % 60);
}

void trace_print_hung(FILE *f, const trace_hung *h, size_t n)
{
	char line[400];
	size_t i;

	if (n == 0)
		return;
	fprintf(f, "in flight  %zu call%s still in the backend at the end of the trace:\n", n,
	        n == 1 ? "" : "s");
	for (i = 0; i < n; i++) {
		trace_hung_describe(&h[i], line, sizeof(line));
		fprintf(f, "  %s\n", line);
	}
}

void trace_json_hung(FILE *f, const trace_hung *h, size_t n)
{
	char buf[400];
	size_t i;

	fputc('[', f);
	for (i = 0; i < n; i++) {
		fprintf(f, "%s{\"fn\":", i ? "," : "");
		json_write_str(f, h[i].e.fn, strlen(h[i].e.fn));
		fprintf(f, ",\"pid\":%lu,\"tid\":%lu,\"seq\":%lu,\"slot\":", h[i].e.pid, h[i].e.tid,
		        h[i].e.seq);
		if (h[i].slot >= 0)
			fprintf(f, "%lld", (long long)h[i].slot);
		else
			fputs("null", f);
		fputs(",\"session\":", f);
		if (h[i].session >= 0)
			fprintf(f, "%lld", (long long)h[i].session);
		else
			fputs("null", f);
		trace_format_us(h[i].e.entry_us, buf, sizeof(buf));
		fputs(",\"since\":", f);
		json_write_str(f, buf, strlen(buf));
		fprintf(f, ",\"since_s\":%.6f", (double)h[i].e.entry_us / 1e6);
		fputs(",\"seconds\":", f);
		if (h[i].held_s >= 0)
			fprintf(f, "%.3f", h[i].held_s);
		else
			fputs("null", f);
		fprintf(f, ",\"process_alive\":%s,\"how\":", h[i].alive ? "true" : "false");
		json_write_str(f, h[i].how, strlen(h[i].how));
		trace_hung_describe(&h[i], buf, sizeof(buf));
		fputs(",\"text\":", f);
		json_write_str(f, buf, strlen(buf));
		fputc('}', f);
	}
	fputc(']', f);
}

/* ---- dispatch ---- */

typedef struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} trace_command;

static const trace_command trace_commands[] = {
	{ "summary", trace_cmd_summary,
	  "counts per function (failures, latency), process, thread; notes" },
	{ "show", trace_cmd_show, "the calls, one per line, filtered; -v for every argument" },
	{ "diagnose", trace_cmd_diagnose,
	  "what went wrong and what to change, from the vendor's troubleshooting" },
	{ "report", trace_cmd_report,
	  "one self-contained HTML page: findings, timeline, latency, sessions" },
};

static void trace_usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: p11shim trace COMMAND [OPTIONS] FILE\n"
	           "\n"
	           "Reads a p11shim trace (JSON Lines or text, as the shim writes them; gzip too;\n"
	           "- for stdin)\n"
	           "as a stream, in constant memory. Damaged lines (a truncated last line, a\n"
	           "malformed record) are reported on stderr with their line number and skipped.\n"
	           "\n"
	           "Commands:\n");
	for (i = 0; i < sizeof(trace_commands) / sizeof(trace_commands[0]); i++)
		fprintf(f, "  %-9s %s\n", trace_commands[i].name, trace_commands[i].help);
	fprintf(f, "\n"
	           "'p11shim trace COMMAND --help' describes a command's options.\n"
	           "Exit status: 0; 1 when diagnose has findings; 2 when FILE cannot be read or\n"
	           "the command line is wrong.\n");
}

int tool_cmd_trace(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		trace_usage(stderr);
		return TOOL_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		trace_usage(stdout);
		return TOOL_EXIT_OK;
	}
	if (!isatty(fileno(stdout)))
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	for (i = 0; i < sizeof(trace_commands) / sizeof(trace_commands[0]); i++) {
		if (strcmp(argv[1], trace_commands[i].name) == 0)
			return trace_commands[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr,
	        "p11shim trace: unknown command '%s' (summary, show, diagnose or report)\n"
	        "Try 'p11shim trace --help'.\n",
	        argv[1]);
	return TOOL_EXIT_USAGE;
}
