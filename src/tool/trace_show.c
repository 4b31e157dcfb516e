/*
 * `p11shim trace show`: the calls one per line, filtered by function,
 * process, thread, slot, session, time or failure; -v for every argument.
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

/* ---- show ---- */

#define MAX_FN_FILTERS 32
#define SESSION_SLOTS 4096

typedef struct {
	char *fns[MAX_FN_FILTERS];
	size_t n_fns;
	int errors;
	int have_session, have_slot, have_pid;
	int64_t session, slot, pid;
	const char *since, *until;
	int verbose, line_numbers;
	/* session -> slot, so --slot also finds the calls on its sessions (direct-mapped, lossy) */
	struct {
		int64_t pid, session, slot;
		int used;
	} * sessions;
} show_opts;

static int parse_int_arg(const char *cmd, const char *opt, const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (*s == '\0')
		goto bad;
	v = strtoll(s, &end, 0); /* 0: handles are printed decimal, but 0x from a hex dump is fine */
	if (*end != '\0' || v < 0)
		goto bad;
	*out = v;
	return 0;
bad:
	trace_usage_error(cmd, "%s: '%s' is not a number", opt, s);
	return -1;
}

/*
 * A time as the trace writes it, or a leading part of one: 2026-11-27,
 * 2026-11-27T20:45, 2026-11-27 20:45:40.5. UTC, like the trace.
 */
static int parse_ts_arg(const char *cmd, const char *opt, char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	size_t i, n = strlen(s);

	if (n > 0 && s[n - 1] == 'Z')
		s[--n] = '\0';
	if (n > 10 && s[10] == ' ')
		s[10] = 'T';
	for (i = 0; i < n; i++) {
		char want = i < sizeof(shape) - 1 ? shape[i] : (i == 19 ? '.' : 'd');
		if (want == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != want)
			break;
	}
	if (n < 4 || i < n || n == 5 || n == 8 || n == 11 || n == 14 || n == 17 || n == 20) {
		trace_usage_error(cmd,
		                  "%s: '%s' is not a UTC time like 2026-11-27T20:45:40 (or a leading part of one)",
		                  opt, s);
		return -1;
	}
	return 0;
}

static int arg_int(const trace_record *rec, const char *key, int64_t *out)
{
	return json_int(trace_arg(rec, key), out);
}

static int fn_matches(const show_opts *o, const trace_record *rec)
{
	size_t i;

	for (i = 0; i < o->n_fns; i++) {
		if (rec->fn_len == strlen(o->fns[i]) &&
		    strncasecmp(rec->fn, o->fns[i], rec->fn_len) == 0)
			return 1;
	}
	return 0;
}

static void track_session(show_opts *o, const trace_record *rec)
{
	int64_t slot, h;
	size_t i;

	if (trace_streq(rec->fn, rec->fn_len, "C_OpenSession") && trace_rec_ok(rec) &&
	    arg_int(rec, "slotID", &slot) && arg_int(rec, "phSession", &h)) {
		i = trace_hash2(rec->pid, h) & (SESSION_SLOTS - 1);
		o->sessions[i].pid = rec->pid;
		o->sessions[i].session = h;
		o->sessions[i].slot = slot;
		o->sessions[i].used = 1;
	}
}

static int session_slot(const show_opts *o, const trace_record *rec, int64_t *slot)
{
	int64_t h;
	size_t i;

	if (!arg_int(rec, "hSession", &h))
		return 0;
	i = trace_hash2(rec->pid, h) & (SESSION_SLOTS - 1);
	if (!o->sessions[i].used || o->sessions[i].pid != rec->pid || o->sessions[i].session != h)
		return 0;
	*slot = o->sessions[i].slot;
	return 1;
}

static int show_matches(show_opts *o, const trace_record *rec)
{
	int64_t v;

	if (o->have_slot)
		track_session(o, rec);
	if (o->n_fns && !fn_matches(o, rec))
		return 0;
	if (o->errors && trace_rec_ok(rec))
		return 0;
	if (o->have_pid && rec->pid != o->pid)
		return 0;
	if (o->since &&
	    (rec->ts == NULL ||
	     trace_strcmp(rec->ts, rec->ts_len < strlen(o->since) ? rec->ts_len : strlen(o->since),
	                  o->since, strlen(o->since)) < 0))
		return 0;
	if (o->until &&
	    (rec->ts == NULL ||
	     trace_strcmp(rec->ts, rec->ts_len < strlen(o->until) ? rec->ts_len : strlen(o->until),
	                  o->until, strlen(o->until)) > 0))
		return 0;
	if (o->have_session) {
		if (!((arg_int(rec, "hSession", &v) && v == o->session) ||
		      (arg_int(rec, "phSession", &v) && v == o->session)))
			return 0;
	}
	if (o->have_slot) {
		if (!((arg_int(rec, "slotID", &v) && v == o->slot) ||
		      (arg_int(rec, "pSlot", &v) && v == o->slot) ||
		      (session_slot(o, rec, &v) && v == o->slot)))
			return 0;
	}
	return 1;
}

static void show_usage(FILE *f)
{
	fprintf(f, "Usage: p11shim trace show [OPTIONS] FILE\n"
	           "\n"
	           "Prints the calls of a trace, one per line:\n"
	           "  seq time pid:tid function(arguments) = return value (duration)\n"
	           "FILE may be gzip-compressed; - reads stdin. Filters combine (all must match).\n"
	           "\n"
	           "  --fn NAME[,NAME...]  only these functions (C_Login or Login; repeatable)\n"
	           "  --errors             only calls that did not return CKR_OK\n"
	           "  --session H          only calls on session handle H (and the C_OpenSession\n"
	           "                       that returned it)\n"
	           "  --slot ID            only calls on slot ID, and on sessions opened on it\n"
	           "  --pid PID            only calls of process PID\n"
	           "  --since TIME         only calls at or after TIME (UTC, as in the trace:\n"
	           "                       2026-11-27T20:45:40, or a leading part: 2026-11-27T20)\n"
	           "  --until TIME         only calls at or before TIME (a leading part includes\n"
	           "                       all of it: --until 2026-11-27T20 ends at 20:59:59.999999)\n"
	           "  -v, --verbose        every argument, indented, and the policy notes\n"
	           "  -n, --line-numbers   start each call with its line number in FILE\n"
	           "\n"
	           "Exit status: 0, or 2 when FILE cannot be read or an option is wrong.\n");
}

static int add_fn_filter(show_opts *o, const char *arg)
{
	const char *p = arg;

	/* A comma list; no strtok_r, which not every Windows C library has. */
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *tok = p;
		char *name;

		p += n + (end != NULL);
		while (n > 0 && *tok == ' ') {
			tok++;
			n--;
		}
		while (n > 0 && tok[n - 1] == ' ')
			n--;
		if (n == 0)
			continue;
		if (o->n_fns == MAX_FN_FILTERS) {
			trace_usage_error("show", "--fn: more than %d functions", MAX_FN_FILTERS);
			return -1;
		}
		/* "Login" means "C_Login": people type the short name. */
		name = malloc(n + 3);
		if (name == NULL)
			return -1;
		if (n >= 2 && strncasecmp(tok, "C_", 2) == 0)
			snprintf(name, n + 3, "%.*s", (int)n, tok);
		else
			snprintf(name, n + 3, "C_%.*s", (int)n, tok);
		o->fns[o->n_fns++] = name;
	}
	if (o->n_fns == 0) {
		trace_usage_error("show", "--fn: '%s' names no function", arg);
		return -1;
	}
	return 0;
}

int trace_cmd_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "fn", required_argument, NULL, 'f' },
		{ "errors", no_argument, NULL, 'e' },
		{ "session", required_argument, NULL, 's' },
		{ "slot", required_argument, NULL, 'S' },
		{ "pid", required_argument, NULL, 'p' },
		{ "since", required_argument, NULL, 'a' },
		{ "until", required_argument, NULL, 'u' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "line-numbers", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	show_opts o;
	int c, rc = TOOL_EXIT_USAGE;
	const char *path;
	trace_reader *r = NULL;
	trace_hangs *hangs = NULL;
	trace_record rec;
	char line[1200];
	size_t i;

	memset(&o, 0, sizeof(o));
	while ((c = getopt_long(argc, argv, ":hvn", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (add_fn_filter(&o, optarg) < 0)
				goto out;
			break;
		case 'e': o.errors = 1; break;
		case 's':
			if (parse_int_arg("show", "--session", optarg, &o.session) < 0)
				goto out;
			o.have_session = 1;
			break;
		case 'S':
			if (parse_int_arg("show", "--slot", optarg, &o.slot) < 0)
				goto out;
			o.have_slot = 1;
			break;
		case 'p':
			if (parse_int_arg("show", "--pid", optarg, &o.pid) < 0)
				goto out;
			o.have_pid = 1;
			break;
		case 'a':
			if (parse_ts_arg("show", "--since", optarg) < 0)
				goto out;
			o.since = optarg;
			break;
		case 'u':
			if (parse_ts_arg("show", "--until", optarg) < 0)
				goto out;
			o.until = optarg;
			break;
		case 'v': o.verbose = 1; break;
		case 'n': o.line_numbers = 1; break;
		case 'h':
			show_usage(stdout);
			rc = TOOL_EXIT_OK;
			goto out;
		default: trace_getopt_error("show", c, argv); goto out;
		}
	}
	if ((path = trace_file_operand("show", argc, argv)) == NULL)
		goto out;
	if (o.have_slot) {
		o.sessions = calloc(SESSION_SLOTS, sizeof(*o.sessions));
		if (o.sessions == NULL)
			goto out;
	}
	if ((r = trace_cmd_open(path)) == NULL)
		goto out;

	rc = TOOL_EXIT_OK;
	hangs = trace_hangs_new();
	while ((c = trace_next(r, &rec)) > 0) {
		if (hangs)
			trace_hangs_add(hangs, &rec);
		if (!show_matches(&o, &rec))
			continue;
		if (o.line_numbers)
			printf("%llu: ", (unsigned long long)rec.line);
		if (o.verbose) {
			render_verbose(stdout, &rec);
		} else {
			size_t n = render_call(&rec, line, sizeof(line), 200);
			line[n] = '\n';
			fwrite(line, 1, n + 1, stdout);
		}
	}
	if (c < 0) {
		fprintf(stderr, "p11shim: %s\n", trace_error(r));
		rc = TOOL_EXIT_USAGE;
	}
	if (hangs) {
		const trace_hung *hung;
		size_t n = trace_hangs_finish(hangs, path, &hung);
		if (n)
			printf("\n");
		trace_print_hung(stdout, hung, n);
	}
	if (fflush(stdout) != 0)
		rc = TOOL_EXIT_USAGE;
out:
	trace_hangs_free(hangs);
	trace_close(r);
	for (i = 0; i < o.n_fns; i++)
		free(o.fns[i]);
	free(o.sessions);
	return rc;
}
