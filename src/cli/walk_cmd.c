/*
 * walk_cmd.c - `nestmmu walk`: runs the access of a scenario file and
 * reports the walk (text, --json), or many scenarios as JSON Lines
 * (--batch). See docs/walk.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/walk2d.h"
#include "cli/commands.h"
#include "cli/json.h"
#include "cli/scenario.h"
#include "cli/util.h"
#include "cli/walk_report.h"
#include "mem/hostmem.h"

#define TRACE_CAP 512
#define FLUSH_AT  (64 * 1024)

static void walk_usage(FILE *out)
{
	fprintf(out,
		"usage: nestmmu walk [--json] FILE\n"
		"       nestmmu walk --batch FILE\n"
		"\n"
		"Reads a scenario (CPU registers, nested paging set-up, memory contents and\n"
		"one access), performs the access as the processor does and reports every\n"
		"step of the two-dimensional page walk and the outcome (translation, #PF,\n"
		"#GP, EPT violation or misconfiguration, #NPF, VM-entry failure).\n"
		"FILE '-' reads standard input. The format is described in docs/walk.md.\n"
		"\n"
		"options:\n"
		"  --json        print one JSON object (with a \"steps\" array) instead of text\n"
		"  --batch FILE  run every scenario of FILE (scenarios separated by lines '---')\n"
		"                and print one JSON object per line (JSON Lines), without steps;\n"
		"                a bad scenario gives an {\"outcome\":\"error\"} line and a message on\n"
		"                stderr, the following scenarios still run, and the exit status is 1\n"
		"  -h, --help    show this help\n"
		"\n"
		"Exit status: 0 success (a fault is a result, not an error), 1 bad input,\n"
		"2 bad command line.\n");
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "nestmmu walk: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "; try 'nestmmu walk --help'\n");
	return EXIT_USAGE;
}

/* Everything reused from one scenario to the next. */
struct walker {
	const char *file;
	struct scenario s;
	struct hw_mmu mmu;
	struct walk_trace trace;
	uint64_t *rbvals;
	size_t rb_cap;
	struct json_writer jw;
};

static void walker_init(struct walker *w, const char *file, bool want_trace)
{
	memset(w, 0, sizeof(*w));
	w->file = file;
	scenario_init(&w->s);
	json_init(&w->jw);
	if (want_trace) {
		w->trace.cap = TRACE_CAP;
		w->trace.steps = cli_xrealloc(NULL, TRACE_CAP * sizeof(*w->trace.steps));
	}
}

static void walker_free(struct walker *w)
{
	scenario_free(&w->s);
	json_free(&w->jw);
	free(w->trace.steps);
	free(w->rbvals);
}

/*
 * Runs the scenario in w->s. Returns 0, or -1 when the walk left memory
 * (XO_ABORT: a broken scenario); *run describes the result either way.
 */
static int run_scenario(struct walker *w, struct walk_run *run, bool trace)
{
	struct scenario *s = &w->s;
	struct hw_config cfg = s->cfg;
	struct hostmem *hm = hostmem_create(scenario_mem_limit(s));
	size_t i;

	if (!hm) {
		fprintf(stderr, "nestmmu: out of memory\n");
		exit(EXIT_INPUT);
	}
	memset(run, 0, sizeof(*run));
	run->file = w->file;
	run->s = s;
	run->mmu = &w->mmu;
	for (i = 0; i < s->n_mem; i++) {
		if (hostmem_write64(hm, s->mem[i].addr, s->mem[i].val) < 0) {
			/* scenario_finish checked the range: cannot happen */
			fprintf(stderr, "%s:%u: mem: cannot store at 0x%" PRIx64 "\n", w->file,
				s->mem[i].line, s->mem[i].addr);
			exit(EXIT_INPUT);
		}
	}
	cfg.mem = hostmem_port(hm);
	w->trace.n = 0;
	run->entered = hw_mmu_init(&w->mmu, &cfg, &run->res);
	if (run->entered) {
		hw_translate(&w->mmu, s->la, s->type, s->implicit, &run->res,
			     trace ? &w->trace : NULL);
		run->trace = trace ? &w->trace : NULL;
	}
	cli_grow((void **)&w->rbvals, &w->rb_cap, s->n_rb, sizeof(*w->rbvals));
	for (i = 0; i < s->n_rb; i++) {
		if (hostmem_read64(hm, s->rb[i].addr, &w->rbvals[i]) < 0)
			w->rbvals[i] = 0;
	}
	run->readback = w->rbvals;
	hostmem_destroy(hm);
	return run->res.outcome == XO_ABORT ? -1 : 0;
}

static FILE *open_input(const char *file)
{
	FILE *f;

	if (strcmp(file, "-") == 0)
		return stdin;
	f = fopen(file, "r");
	if (!f)
		fprintf(stderr, "nestmmu walk: cannot open '%s': %s\n", file, strerror(errno));
	return f;
}

static const char *display_name(const char *file)
{
	return strcmp(file, "-") == 0 ? "<stdin>" : file;
}

static int finish_output(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "nestmmu walk: error writing the output: %s\n", strerror(errno));
		return EXIT_INPUT;
	}
	return status;
}

static int walk_single(const char *file, bool json)
{
	const char *name = display_name(file);
	struct scn_reader rd;
	struct scn_error err;
	struct walker w;
	struct walk_run run;
	FILE *f = open_input(file);
	int status = 0;

	if (!f)
		return EXIT_INPUT;
	walker_init(&w, name, true);
	scn_reader_init(&rd, f, false);
	switch (scn_reader_next(&rd, &w.s, &err)) {
	case SCN_READ_OK:
		if (run_scenario(&w, &run, true) < 0) {
			fprintf(stderr, "%s:%u: the walk left host memory: %s\n", name,
				w.s.key_line[K_ACCESS], run.res.reason ? run.res.reason : "");
			status = EXIT_INPUT;
		}
		if (json) {
			walk_write_json(&w.jw, &run, 0);
			json_raw(&w.jw, "\n");
			json_flush(&w.jw, stdout);
		} else {
			walk_print_text(stdout, &run);
		}
		break;
	case SCN_READ_ERROR:
	case SCN_READ_EOF: /* not returned by a single-scenario reader */
		fprintf(stderr, "%s:%u: %s\n", name, err.line, err.msg);
		if (json) {
			walk_write_json_error(&w.jw, name, 0, err.line, err.msg);
			json_raw(&w.jw, "\n");
			json_flush(&w.jw, stdout);
		}
		status = EXIT_INPUT;
		break;
	case SCN_READ_IOERR:
		fprintf(stderr, "nestmmu walk: error reading '%s': %s\n", name, strerror(errno));
		status = EXIT_INPUT;
		break;
	}
	scn_reader_free(&rd);
	walker_free(&w);
	if (f != stdin)
		fclose(f);
	return finish_output(status);
}

static int walk_batch(const char *file)
{
	const char *name = display_name(file);
	struct scn_reader rd;
	struct scn_error err;
	struct walker w;
	struct walk_run run;
	FILE *f = open_input(file);
	unsigned errors = 0;
	int status = 0;
	bool done = false;

	if (!f)
		return EXIT_INPUT;
	walker_init(&w, name, false);
	scn_reader_init(&rd, f, true);
	while (!done) {
		switch (scn_reader_next(&rd, &w.s, &err)) {
		case SCN_READ_OK:
			if (run_scenario(&w, &run, false) < 0) {
				fprintf(stderr, "%s:%u: scenario %u: the walk left host memory: %s\n",
					name, w.s.key_line[K_ACCESS], w.s.index,
					run.res.reason ? run.res.reason : "");
				errors++;
			}
			walk_write_json(&w.jw, &run, w.s.index);
			json_raw(&w.jw, "\n");
			break;
		case SCN_READ_ERROR:
			fprintf(stderr, "%s:%u: scenario %u: %s\n", name, err.line, w.s.index, err.msg);
			walk_write_json_error(&w.jw, name, w.s.index, err.line, err.msg);
			json_raw(&w.jw, "\n");
			errors++;
			break;
		case SCN_READ_EOF:
			done = true;
			break;
		case SCN_READ_IOERR:
			fprintf(stderr, "nestmmu walk: error reading '%s': %s\n", name, strerror(errno));
			status = EXIT_INPUT;
			done = true;
			break;
		}
		if (w.jw.len >= FLUSH_AT || done) {
			if (json_flush(&w.jw, stdout) < 0)
				break;
		}
	}
	if (errors) {
		fprintf(stderr, "%s: %u of %u scenarios had errors\n", name, errors, rd.count);
		status = EXIT_INPUT;
	}
	scn_reader_free(&rd);
	walker_free(&w);
	if (f != stdin)
		fclose(f);
	return finish_output(status);
}

int cmd_walk(int argc, char **argv)
{
	const char *file = NULL, *batch = NULL;
	bool json = false, opts_done = false;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!opts_done && a[0] == '-' && a[1] != '\0') {
			if (strcmp(a, "--") == 0) {
				opts_done = true;
			} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
				walk_usage(stdout);
				return 0;
			} else if (strcmp(a, "--json") == 0) {
				json = true;
			} else if (strcmp(a, "--batch") == 0) {
				if (i + 1 >= argc)
					return usage_error("%s needs a file name", a);
				if (batch)
					return usage_error("%s given twice", a);
				batch = argv[++i];
			} else if (strncmp(a, "--batch=", 8) == 0) {
				if (batch)
					return usage_error("%s given twice", "--batch");
				batch = a + 8;
				if (!*batch)
					return usage_error("%s needs a file name", "--batch");
			} else {
				return usage_error("unknown option '%s'", a);
			}
			continue;
		}
		if (file)
			return usage_error("unexpected argument '%s' (one scenario file at a time; "
					   "use --batch for many)", a);
		file = a;
	}
	if (batch && file)
		return usage_error("--batch takes the file itself; unexpected '%s'", file);
	if (batch)
		return walk_batch(batch);
	if (!file)
		return usage_error("%s", "missing scenario FILE ('-' for standard input)");
	return walk_single(file, json);
}
