/*
 * walk_report.h - the output of `nestmmu walk`: one access's result, as
 * text for a person or as a JSON object.
 */
#ifndef NESTMMU_CLI_WALK_REPORT_H
#define NESTMMU_CLI_WALK_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arch/walk2d.h"
#include "cli/json.h"
#include "cli/scenario.h"

struct walk_run {
	const char *file;            /* for messages */
	const struct scenario *s;
	const struct hw_mmu *mmu;    /* valid when `entered` */
	bool entered;                /* hw_mmu_init succeeded */
	struct xlate_result res;
	const struct walk_trace *trace; /* NULL: none recorded */
	const uint64_t *readback;    /* values, parallel to s->rb */
};

/* Human-readable report: set-up, every step of the walk, outcome, readback. */
void walk_print_text(FILE *out, const struct walk_run *run);

/*
 * One JSON object (no newline). `scenario_no`: batch mode, written as
 * "scenario" (0: omitted). Steps are written when run->trace is set.
 */
void walk_write_json(struct json_writer *w, const struct walk_run *run, unsigned scenario_no);

/* The JSON object of a scenario that could not be run. */
void walk_write_json_error(struct json_writer *w, const char *file, unsigned scenario_no,
			   unsigned line, const char *msg);

#endif
