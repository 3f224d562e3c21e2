/*
 * runner.h - runs one case through hw_mmu_init() + hw_translate(), compares
 * every field and every entry's readback with the oracle, and keeps the
 * counts of one family of cases.
 */
#ifndef NESTMMU_CONF_RUNNER_H
#define NESTMMU_CONF_RUNNER_H

#include <stdbool.h>
#include <stdio.h>

#include "conformance/builder.h"
#include "conformance/conf.h"

#define CONF_MAX_SUB 48

/* Counts of one sub-enumeration (spec->sub). */
struct conf_sub {
	const char *name;
	unsigned long cases, mismatches;
	unsigned long by_outcome[XO_ABORT + 1];
};

struct conf_family {
	const char *name;
	struct conf_sub sub[CONF_MAX_SUB];
	unsigned nsub;
	unsigned long cases;
	unsigned long mismatches;
	unsigned long internal;   /* cases the builder/oracle could not judge */
	unsigned long by_outcome[XO_ABORT + 1]; /* expected outcomes seen */
	unsigned printed;
};

struct conf_runner {
	struct builder *b;
	struct conf_family *fam;
	unsigned print_limit;     /* detailed reports per family */
	FILE *out;
	/* scratch, reused */
	struct conf_case c;
	struct conf_expect e;
	uint64_t after[CONF_MAX_REC];
	struct xlate_result last;  /* the code under test's result of the last case */
};

struct conf_runner *conf_runner_create(FILE *out, unsigned print_limit);
void conf_runner_destroy(struct conf_runner *r);
void conf_runner_family(struct conf_runner *r, struct conf_family *fam);
/* Runs one case; returns true if it matched. */
bool conf_run(struct conf_runner *r, const struct conf_spec *s);
/* "conformance <name>: N cases, M mismatches"; with `detail`, one line per sub-enumeration */
void conf_family_summary(FILE *out, const struct conf_family *fam, bool detail);

#endif
