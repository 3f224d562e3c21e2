/*
 * main.c - the nestmmu command-line tool: dispatches to a subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct subcommand subcommands[] = {
	{ "walk", cmd_walk, "translate one access of a scenario file and show the page walk" },
	{ "run", cmd_run, "run a workload natively and under each hypervisor configuration" },
};

#define N_SUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *out)
{
	size_t i;

	fprintf(out,
		"usage: nestmmu <command> [options] [args]\n"
		"       nestmmu --help | nestmmu help [command]\n"
		"\n"
		"nestmmu models x86 paging and nested virtualization (EPT, NPT) bit-exactly.\n"
		"\n"
		"commands:\n");
	for (i = 0; i < N_SUBCOMMANDS; i++)
		fprintf(out, "  %-6s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(out,
		"\n"
		"Run 'nestmmu <command> --help' for a command's options.\n"
		"Exit status: 0 success, 1 bad input, 2 bad command line.\n");
}

static const struct subcommand *find(const char *name)
{
	size_t i;

	for (i = 0; i < N_SUBCOMMANDS; i++)
		if (strcmp(subcommands[i].name, name) == 0)
			return &subcommands[i];
	return NULL;
}

static int unknown_command(const char *name)
{
	size_t i;

	fprintf(stderr, "nestmmu: unknown command '%s' (commands:", name);
	for (i = 0; i < N_SUBCOMMANDS; i++)
		fprintf(stderr, " %s", subcommands[i].name);
	fprintf(stderr, "); try 'nestmmu --help'\n");
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	const struct subcommand *sc;
	const char *cmd;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "help") == 0) {
		char help[] = "--help";
		char *hargv[3];

		if (argc < 3) {
			usage(stdout);
			return 0;
		}
		sc = find(argv[2]);
		if (!sc)
			return unknown_command(argv[2]);
		hargv[0] = argv[2];
		hargv[1] = help;
		hargv[2] = NULL;
		return sc->run(2, hargv);
	}
	if (cmd[0] == '-') {
		fprintf(stderr, "nestmmu: unknown option '%s'; try 'nestmmu --help'\n", cmd);
		return EXIT_USAGE;
	}
	sc = find(cmd);
	if (!sc)
		return unknown_command(cmd);
	return sc->run(argc - 1, argv + 1);
}
