/*
 * `p11shim serial next|status`: a card serial
 * number from the shim's number range, or where the range stands, for
 * scripts. The same allocator and state file as the serial layer
 * (src/layers/numrange.c), so a number printed here is never also given to a
 * card by the shim, and the other way round.
 *
 * Without --range/--state the values come from the shim's configuration,
 * read as the module reads it ([serial] NumberRange, NumberRangeState;
 * P11SHIM_CONF replaces the system and user files).
 *
 * Exit status: 0; 1 when no number can be given or the state cannot be
 * read (the message names the key or file and the fix); 2 on a usage error.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "p11-config.h"
#include "p11-numrange.h"
#include "p11-text.h"
#include "tool.h"

#define SERIAL_EXIT_ERROR 1

static void serial_usage(FILE *f)
{
	fprintf(f, "Usage: p11shim serial next [--range FIRST-LAST] [--state FILE]\n"
	           "       p11shim serial status [--range FIRST-LAST] [--state FILE] [--json]\n"
	           "\n"
	           "Card serial numbers from a number range, shared with the shim's C_InitToken\n"
	           "([serial] InitToken): no number is handed out twice, also across processes\n"
	           "and crashes (a gap is possible, a duplicate never).\n"
	           "\n"
	           "  next     hand out the next number of the range and print it\n"
	           "  status   print the range, the last number handed out and how many remain\n"
	           "\n"
	           "  --range FIRST-LAST  the range, instead of [serial] NumberRange; the width of\n"
	           "                      FIRST sets the zero padding (000100-000199)\n"
	           "  --state FILE        the state file, instead of [serial] NumberRangeState\n"
	           "  --json              (status) one JSON object\n"
	           "\n"
	           "Exit status: 0; 1 when no number can be given or the state cannot be read;\n"
	           "2 on a usage error.\n");
}

/*
 * A message that holds what the configuration, the environment or the
 * state file said (paths, values): escaped for the terminal.
 */
static void say(const char *what, const char *err)
{
	char a[2048], b[4096];

	fprintf(stderr, "p11shim serial: %s%s%s\n", what ? p11_text_safe(a, sizeof(a), what) : "",
	        what ? ": " : "", p11_text_safe(b, sizeof(b), err));
}

/* s escaped, for one printf argument at a time. */
static const char *safe(const char *s)
{
	static char buf[4096];

	return p11_text_safe(buf, sizeof(buf), s);
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "p11shim serial: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'p11shim serial --help'.\n");
	return TOOL_EXIT_USAGE;
}

/* "[serial] NumberRange" and, when set in a file, " (FILE:LINE)". */
static void describe_key(const p11_config *cfg, p11_key key, char *buf, size_t len)
{
	const char *file = NULL;
	unsigned line = 0;
	p11_origin origin;

	p11_config_raw(cfg, key, &origin, &file, &line);
	if (file != NULL && line > 0)
		snprintf(buf, len, "[%s] %s (%s:%u)", p11_config_section(key), p11_config_name(key),
		         file, line);
	else if (origin != P11_ORIGIN_DEFAULT)
		snprintf(buf, len, "[%s] %s (%s)", p11_config_section(key), p11_config_name(key),
		         p11_origin_name(origin));
	else
		snprintf(buf, len, "[%s] %s", p11_config_section(key), p11_config_name(key));
}

/*
 * Fills whichever of *range_text / *state_path is still NULL from the
 * configuration (malloc'ed into *owned_*); range_where tells where the
 * range was set. 0, or -1 with the message printed.
 */
static int from_config(const char **range_text, const char **state_path, char **owned_range,
                       char **owned_state, char *range_where, size_t wherelen)
{
	char userbuf[4096], err[1024], where[1200];
	p11_config_sources src;
	p11_config *cfg;
	const char *v;
	int rc = -1;

	p11_config_default_sources(&src, userbuf, sizeof(userbuf));
	cfg = p11_config_load(&src, err, sizeof(err));
	if (cfg == NULL) {
		say(NULL, err);
		return -1;
	}
	if (*range_text == NULL) {
		describe_key(cfg, P11_KEY_NUMBER_RANGE, where, sizeof(where));
		snprintf(range_where, wherelen, "%s", where);
		v = p11_config_get(cfg, P11_KEY_NUMBER_RANGE, err, sizeof(err));
		if (v == NULL) {
			say(NULL, err);
			goto out;
		}
		if (v[0] == '\0') {
			fprintf(stderr,
			        "p11shim serial: %s is not set; set it to FIRST-LAST in the "
			        "configuration, or pass --range FIRST-LAST\n",
			        safe(where));
			goto out;
		}
		/* Copied: p11_config_get's value lasts only until its next call. */
		if ((*owned_range = strdup(v)) == NULL)
			goto oom;
		*range_text = *owned_range;
	}
	if (*state_path == NULL) {
		describe_key(cfg, P11_KEY_NUMBER_RANGE_STATE, where, sizeof(where));
		v = p11_config_get(cfg, P11_KEY_NUMBER_RANGE_STATE, err, sizeof(err));
		if (v == NULL) {
			say(NULL, err);
			goto out;
		}
		if (v[0] == '\0') {
			fprintf(stderr,
			        "p11shim serial: %s is not set; set it to the state file of "
			        "the range (one that the shim's users may write), or pass --state FILE\n",
			        safe(where));
			goto out;
		}
		if ((*owned_state = strdup(v)) == NULL)
			goto oom;
		*state_path = *owned_state;
	}
	rc = 0;
	goto out;
oom:
	fprintf(stderr, "p11shim serial: out of memory\n");
out:
	p11_config_free(cfg);
	return rc;
}

static int print_status(const p11_range *r, const char *state_path, bool json)
{
	char err[1024], first[32], lastr[32], last[32];
	unsigned long long n = 0, size, used, remaining;
	bool any = false;

	if (p11_range_status(r, state_path, &n, &any, err, sizeof(err)) < 0) {
		say(NULL, err);
		return SERIAL_EXIT_ERROR;
	}
	snprintf(first, sizeof(first), "%0*llu", (int)r->width, r->first);
	snprintf(lastr, sizeof(lastr), "%0*llu", (int)r->width, r->last);
	snprintf(last, sizeof(last), "%0*llu", (int)r->width, n);
	size = r->last - r->first + 1;
	/* Used includes gaps: numbers recorded by a process killed before it could use them. */
	used = any ? n - r->first + 1 : 0;
	remaining = size - used;

	if (json) {
		printf("{\"range\":\"%s-%s\",\"first\":\"%s\",\"last_of_range\":\"%s\",\"state\":",
		       first, lastr, first, lastr);
		json_write_str(stdout, state_path, strlen(state_path));
		if (any)
			printf(",\"last\":\"%s\"", last);
		else
			printf(",\"last\":null");
		printf(",\"size\":%llu,\"used\":%llu,\"remaining\":%llu,\"exhausted\":%s}\n", size,
		       used, remaining, remaining == 0 ? "true" : "false");
	} else {
		printf("range      %s-%s (%llu numbers)\n", first, lastr, size);
		printf("state      %s\n", safe(state_path));
		if (any)
			printf("last       %s (%llu used, gaps included)\n", last, used);
		else
			printf("last       none handed out yet\n");
		printf("remaining  %llu%s\n", remaining,
		       remaining == 0 ? " (exhausted: widen [serial] NumberRange)" : "");
	}
	return fflush(stdout) == 0 ? TOOL_EXIT_OK : SERIAL_EXIT_ERROR;
}

int tool_cmd_serial(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "range", required_argument, NULL, 'r' },
		{ "state", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *range_text = NULL, *state_path = NULL, *cmd;
	char *owned_range = NULL, *owned_state = NULL;
	char err[1024], number[32], range_where[1200] = "--range";
	bool json = false, next;
	p11_range r;
	int c, rc;

	if (argc < 2) {
		serial_usage(stderr);
		return TOOL_EXIT_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		serial_usage(stdout);
		return TOOL_EXIT_OK;
	}
	if (strcmp(cmd, "next") == 0)
		next = true;
	else if (strcmp(cmd, "status") == 0)
		next = false;
	else
		return usage_error("unknown command '%s' (next or status)", cmd);

	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': range_text = optarg; break;
		case 's': state_path = optarg; break;
		case 'j': json = true; break;
		case 'h': serial_usage(stdout); return TOOL_EXIT_OK;
		case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
		default: return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (json && next)
		return usage_error("--json is for '%s' only", "status");
	if (state_path != NULL && state_path[0] == '\0')
		return usage_error("%s needs a file name", "--state");

	if ((range_text == NULL || state_path == NULL) &&
	    from_config(&range_text, &state_path, &owned_range, &owned_state, range_where,
	                sizeof(range_where)) < 0) {
		rc = SERIAL_EXIT_ERROR;
		goto out;
	}
	if (!p11_range_parse(range_text, &r, err, sizeof(err))) {
		say(range_where, err);
		rc = owned_range != NULL ? SERIAL_EXIT_ERROR : TOOL_EXIT_USAGE;
		goto out;
	}
	if (next) {
		if (p11_range_next(&r, state_path, number, sizeof(number), err, sizeof(err)) < 0) {
			say(NULL, err);
			rc = SERIAL_EXIT_ERROR;
			goto out;
		}
		printf("%s\n", number);
		/* The number is recorded as used either way; say so if it could not be printed. */
		if (fflush(stdout) != 0) {
			fprintf(stderr,
			        "p11shim serial: number %s was handed out but could not be "
			        "written to stdout\n",
			        number);
			rc = SERIAL_EXIT_ERROR;
			goto out;
		}
		rc = TOOL_EXIT_OK;
	} else {
		rc = print_status(&r, state_path, json);
	}
out:
	free(owned_range);
	free(owned_state);
	return rc;
}
