/*
 * The p11shim command-line tool: what main.c and the subcommands share.
 *
 * A subcommand is a function taking its own argv (argv[0] is the
 * subcommand's name) and returning the exit status. Exit status 2 means a
 * usage error or input that cannot be read, for every subcommand.
 */
#ifndef P11SHIM_TOOL_H
#define P11SHIM_TOOL_H

#define TOOL_EXIT_OK 0
#define TOOL_EXIT_FOUND 1 /* findings (diagnose), failed checks (doctor) */
#define TOOL_EXIT_USAGE 2 /* bad arguments, unreadable input */

typedef int (*tool_command_fn)(int argc, char **argv);

/* `p11shim trace summary|show|diagnose ...` (cmd_trace.c) */
int tool_cmd_trace(int argc, char **argv);
int tool_cmd_serial(int argc, char **argv);
/* `p11shim doctor [--config FILE] [--json]` (cmd_doctor.c) */
int tool_cmd_doctor(int argc, char **argv);

#endif /* P11SHIM_TOOL_H */
