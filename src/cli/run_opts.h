/*
 * run_opts.h - the command line of `nestmmu run` (run_opts.c) and its
 * reports (run_report.c).
 */
#ifndef NESTMMU_CLI_RUN_OPTS_H
#define NESTMMU_CLI_RUN_OPTS_H

#include <stdbool.h>
#include <stdio.h>

#include "sim/cost.h"
#include "sim/run.h"

enum run_format { RUN_FMT_TEXT, RUN_FMT_JSON, RUN_FMT_CSV };

/* Most vCPU counts one command compares (--vcpus 1,2,4,...). */
#define RUN_MAX_VCPU_COUNTS 8

struct run_cmdline {
	struct run_options opt;      /* opt.vcpus: the first count */
	unsigned vcpu_counts[RUN_MAX_VCPU_COUNTS];
	unsigned nvcpu_counts;       /* >= 1 */
	bool cfg_on[RUN_CFGS];       /* configurations to run, in enum order */
	enum run_format format;
	const char *profile_file;    /* NULL: the built-in profile of the vendor */
	struct cost_profile profile;
	bool help, list_params;
	int progress;                /* -1: when stderr is a terminal, 0 never, 1 always */
};

/*
 * Parses argv (argv[0] = "run"). Returns 0, or EXIT_USAGE / EXIT_INPUT
 * after printing "nestmmu run: <what is wrong>" to stderr.
 */
int run_parse(int argc, char **argv, struct run_cmdline *c);
void run_usage(FILE *out);
/* The workload parameters (--set) with their current values. */
void run_list_params(FILE *out, const struct wl_params *p);

/*
 * ---- reports ----
 * res[] holds, for each vCPU count in c->vcpu_counts order, one result per
 * chosen configuration (in enum order); n = counts x configurations.
 * Slowdowns are against native with the same vCPU count.
 */
void run_report_text(FILE *out, const struct run_cmdline *c, const struct run_result *res, unsigned n);
void run_report_json(FILE *out, const struct run_cmdline *c, const struct run_result *res, unsigned n);
void run_report_csv(FILE *out, const struct run_cmdline *c, const struct run_result *res, unsigned n);
/* The param=value pairs of the workload kind (what --set accepts), for reports. */
struct wl_param_info {
	const char *name;
	const char *help;
	unsigned kinds;              /* bit 1 << wl_kind: the workloads that use it */
	enum { WLP_U64, WLP_UINT, WLP_BOOL, WLP_SIZE } type;
	size_t offset;
};
const struct wl_param_info *run_wl_params(unsigned *n);
uint64_t run_wl_param_get(const struct wl_params *p, const struct wl_param_info *pi);

#endif
