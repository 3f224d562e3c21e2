/*
 * run_cmd.c - `nestmmu run`: the simulator. Not implemented yet: this
 * placeholder keeps the command's name reserved (the dispatcher in main.c
 * lists it) and tells the user so. Replace this file to implement it.
 */
#include <stdio.h>

#include "cli/commands.h"

int cmd_run(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "nestmmu run: not yet implemented (the simulator comes in a later "
		"version; 'nestmmu walk' translates single accesses)\n");
	return EXIT_USAGE;
}
