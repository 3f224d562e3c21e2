/*
 * run_cmd.c - `nestmmu run`: the simulator's main job. Parses the command
 * line (run_opts.c), runs each chosen configuration (sim/run.h) and
 * prints the comparison (run_report.c). See docs/run.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/run_opts.h"

static void progress(const struct run_cmdline *c, unsigned i, unsigned n, enum run_cfg cfg, bool done)
{
	if (!c->progress)
		return;
	if (done)
		fprintf(stderr, "\r\033[K");
	else
		fprintf(stderr, "\r\033[Knestmmu run: [%u/%u] %s on %s, %u vCPU(s) ...", i + 1, n,
			wl_name(c->opt.wl.kind), run_cfg_name(cfg), c->opt.vcpus);
	fflush(stderr);
}

int cmd_run(int argc, char **argv)
{
	struct run_cmdline *c = calloc(1, sizeof(*c));
	struct run_result *res;
	unsigned ncfg = 0, n, k = 0;
	int rc;

	if (!c) {
		fprintf(stderr, "nestmmu run: out of memory\n");
		return EXIT_INPUT;
	}
	rc = run_parse(argc, argv, c);
	if (rc) {
		free(c);
		return rc;
	}
	if (c->help) {
		run_usage(stdout);
		free(c);
		return 0;
	}
	if (c->list_params) {
		run_list_params(stdout, &c->opt.wl);
		free(c);
		return 0;
	}
	if (c->progress < 0)
		c->progress = isatty(STDERR_FILENO) ? 1 : 0;
	for (int i = 0; i < RUN_CFGS; i++)
		ncfg += c->cfg_on[i];
	n = ncfg * c->nvcpu_counts;
	res = calloc(n, sizeof(*res));
	if (!res) {
		fprintf(stderr, "nestmmu run: out of memory\n");
		free(c);
		return EXIT_INPUT;
	}
	rc = 0;
	for (unsigned v = 0; v < c->nvcpu_counts; v++) {
		c->opt.vcpus = c->vcpu_counts[v];
		for (int i = 0; i < RUN_CFGS; i++) {
			if (!c->cfg_on[i])
				continue;
			progress(c, k, n, (enum run_cfg)i, false);
			if (!run_one(&c->opt, (enum run_cfg)i, &c->profile, &res[k])) {
				progress(c, k, n, (enum run_cfg)i, true);
				fprintf(stderr, "nestmmu run: %s, %u vCPU(s): %s\n", run_cfg_name((enum run_cfg)i),
					c->opt.vcpus, res[k].error);
				rc = EXIT_INPUT;
			}
			k++;
		}
	}
	c->opt.vcpus = c->vcpu_counts[0];
	progress(c, k, n, RUN_NATIVE, true);
	switch (c->format) {
	case RUN_FMT_JSON: run_report_json(stdout, c, res, n); break;
	case RUN_FMT_CSV:  run_report_csv(stdout, c, res, n); break;
	default:           run_report_text(stdout, c, res, n); break;
	}
	if (fflush(stdout) != 0 && !rc)
		rc = EXIT_INPUT;
	free(res);
	free(c);
	return rc;
}
