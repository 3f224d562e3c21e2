/*
 * commands.h - the subcommands of the nestmmu tool. main.c dispatches on
 * the first argument; each subcommand gets argv from its own name on
 * (argv[0] = "walk", ...) and returns the process exit status.
 *
 * To add a subcommand: write `int cmd_NAME(int argc, char **argv)` in its
 * own file of src/cli/, declare it here and add one line to the table in
 * main.c.
 */
#ifndef NESTMMU_CLI_COMMANDS_H
#define NESTMMU_CLI_COMMANDS_H

/* Exit statuses shared by all subcommands. */
enum {
	EXIT_OK_ = 0,      /* success (a fault outcome is a success) */
	EXIT_INPUT = 1,    /* bad input: scenario errors, unreadable file */
	EXIT_USAGE = 2,    /* bad command line, unknown subcommand, not implemented */
};

/* nestmmu walk: walk_cmd.c */
int cmd_walk(int argc, char **argv);

/* nestmmu run: the simulator (run_cmd.c) */
int cmd_run(int argc, char **argv);

#endif
