/*
 * p11shim: the command-line tool. This file only
 * dispatches; each subcommand lives in its own cmd_<name>.c.
 *
 * To add a subcommand: declare its function in tool.h, add one row to
 * commands[] below, add its file to src/tool/local.mk. Only commands that
 * exist are listed, so --help never advertises what is not built.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tool.h"

typedef struct {
	const char *name;
	tool_command_fn fn;
	const char *help; /* one line for `p11shim --help` */
} tool_command;

static const tool_command commands[] = {
	{ "doctor", tool_cmd_doctor,
	  "check the set-up: configuration, backend, middleware, Java, slots" },
	{ "trace", tool_cmd_trace, "read a trace: summary, show, diagnose" },
	{ "serial", tool_cmd_serial, "card serial numbers of [serial] NumberRange: next, status" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: p11shim COMMAND [OPTIONS] [ARGS]\n"
	           "\n"
	           "Tools for the p11shim PKCS#11 proxy module.\n"
	           "\n"
	           "Commands:\n");
	for (i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n"
	           "Options:\n"
	           "  -h, --help     show this help\n"
	           "  -V, --version  show the version\n"
	           "\n"
	           "'p11shim COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
	const char *cmd;
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return TOOL_EXIT_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		/* `p11shim help trace` is `p11shim trace --help`, as git does it. */
		if (argc > 2 && strcmp(cmd, "help") == 0) {
			for (i = 0; i < N_COMMANDS; i++) {
				if (strcmp(argv[2], commands[i].name) == 0) {
					char *hargv[] = { argv[2], "--help", NULL };
					return commands[i].fn(2, hargv);
				}
			}
			fprintf(stderr, "p11shim: no command '%s'; 'p11shim --help' lists them\n",
			        argv[2]);
			return TOOL_EXIT_USAGE;
		}
		usage(stdout);
		return TOOL_EXIT_OK;
	}
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
		printf("p11shim %s\n", PACKAGE_VERSION);
		return TOOL_EXIT_OK;
	}
	for (i = 0; i < N_COMMANDS; i++) {
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	}
	if (cmd[0] == '-')
		fprintf(stderr, "p11shim: unknown option '%s'\n", cmd);
	else
		fprintf(stderr, "p11shim: unknown command '%s'\n", cmd);
	fprintf(stderr, "Try 'p11shim --help'.\n");
	return TOOL_EXIT_USAGE;
}
