/*
 * run_opts.c - the command line of `nestmmu run`: options, their checks
 * and the workload parameters settable with --set.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/run_opts.h"

#define K(kind) (1u << (kind))
#define P(field, type, kinds, help) { #field, help, kinds, type, offsetof(struct wl_params, field) }

static const struct wl_param_info params[] = {
	P(threads, WLP_UINT, K(WL_KBUILD) | K(WL_GUPS) | K(WL_STREAM) | K(WL_VMCHURN),
	  "threads (kbuild: parallel jobs); 0: one per vCPU"),
	P(jobs, WLP_UINT, K(WL_KBUILD), "source files compiled, one process each"),
	P(cc_text_pages, WLP_U64, K(WL_KBUILD), "pages of compiler text (file-backed, shared)"),
	P(cc_data_pages, WLP_U64, K(WL_KBUILD), "pages of compiler data (private copy-on-write)"),
	P(cc_bss_pages, WLP_U64, K(WL_KBUILD), "pages of compiler bss (anonymous)"),
	P(make_heap_pages, WLP_U64, K(WL_KBUILD), "pages of make's heap"),
	P(src_pages, WLP_U64, K(WL_KBUILD), "pages of each source file"),
	P(hdr_pages, WLP_U64, K(WL_KBUILD), "pages of headers every job reads"),
	P(job_accesses, WLP_U64, K(WL_KBUILD), "memory accesses per job"),
	P(table_bytes, WLP_SIZE, K(WL_GUPS), "size of the table"),
	P(updates, WLP_U64, K(WL_GUPS), "updates in total"),
	P(init, WLP_BOOL, K(WL_GUPS), "write every page of the table first (0/1)"),
	P(array_bytes, WLP_SIZE, K(WL_STREAM), "size of each of the three arrays"),
	P(iterations, WLP_UINT, K(WL_STREAM), "passes of the four kernels"),
	P(stride, WLP_UINT, K(WL_STREAM), "bytes between two accesses (multiple of 8)"),
	P(rounds, WLP_UINT, K(WL_VMCHURN), "regions mapped per thread"),
	P(live, WLP_UINT, K(WL_VMCHURN), "regions a thread keeps at most"),
	P(max_pages, WLP_U64, K(WL_VMCHURN), "largest region, in pages"),
};

#define NPARAMS (sizeof(params) / sizeof(params[0]))

const struct wl_param_info *run_wl_params(unsigned *n)
{
	*n = NPARAMS;
	return params;
}

uint64_t run_wl_param_get(const struct wl_params *p, const struct wl_param_info *pi)
{
	const char *base = (const char *)p + pi->offset;

	switch (pi->type) {
	case WLP_UINT: return *(const unsigned *)(const void *)base;
	case WLP_BOOL: return *(const bool *)(const void *)base;
	default:       return *(const uint64_t *)(const void *)base;
	}
}

void run_usage(FILE *out)
{
	fprintf(out,
		"usage: nestmmu run [options]\n"
		"\n"
		"Runs a workload on a simulated guest OS natively and under each hypervisor\n"
		"configuration, and reports where the time goes: estimated time (cost model),\n"
		"slowdown against native, exits by reason and by who handled them, guest page\n"
		"faults, TLB miss rate, walk references, page-table memory.\n"
		"\n"
		"options:\n"
		"  -w, --workload NAME   kbuild (default), gups, stream or vmchurn\n"
		"  -c, --configs LIST    configurations, comma-separated, or 'all' (default):\n");
	for (int i = 0; i < RUN_CFGS; i++)
		fprintf(out, "                          %-10s %s\n", run_cfg_name((enum run_cfg)i),
			run_cfg_help((enum run_cfg)i));
	fprintf(out,
		"      --cpu intel|amd   the processor: EPT (intel, default) or NPT (amd)\n"
		"      --vcpus N[,N...]  vCPUs of the guest, 1..64 (default 1); several counts run every\n"
		"                        configuration for each and add a scaling table\n"
		"      --mode MODE       guest paging: 32-bit, pae, 4-level (default), 5-level\n"
		"      --ram SIZE        guest RAM (default 4G; suffixes K, M, G, T)\n"
		"      --seed N          the workload's seed (default 1); a run is a function of\n"
		"                        its seed and options\n"
		"      --set NAME=VALUE  a workload parameter (repeatable; see --list-params)\n"
		"      --list-params     print the workload's parameters and exit\n"
		"      --no-pcid         the guest does not use PCIDs\n"
		"      --tdp-levels 4|5  levels of the TDP tables (default 4)\n"
		"      --tdp-page 4K|2M|1G  largest TDP page (default 1G)\n"
		"      --no-unsync       shadow paging: never leave guest leaf tables unsync\n"
		"      --no-ipi-exits    sending an IPI does not exit (IPI virtualization)\n"
		"      --no-vmcs-shadowing  nested, Intel: each VMREAD/VMWRITE of L1 exits to L0\n"
		"      --cost-profile FILE  constants over the vendor's built-in profile\n"
		"                        (docs/cost-model.md)\n"
		"      --check           run the oracle after every guest operation (slow)\n"
		"      --json            one JSON object instead of the table\n"
		"      --csv             one CSV line per configuration instead of the table\n"
		"      --progress / --no-progress  progress on stderr (default: if a terminal)\n"
		"  -h, --help            show this help\n"
		"\n"
		"Exit status: 0 success, 1 a configuration failed or bad input file,\n"
		"2 bad command line.\n");
}

void run_list_params(FILE *out, const struct wl_params *p)
{
	fprintf(out, "parameters of %s (--set NAME=VALUE):\n", wl_name(p->kind));
	for (unsigned i = 0; i < NPARAMS; i++) {
		if (!(params[i].kinds & K(p->kind)))
			continue;
		fprintf(out, "  %-16s %-12" PRIu64 " %s\n", params[i].name, run_wl_param_get(p, &params[i]),
			params[i].help);
	}
}

__attribute__((format(printf, 1, 2))) static int bad(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "nestmmu run: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; try 'nestmmu run --help'\n");
	return EXIT_USAGE;
}

/* A decimal or 0x number, optionally with a K/M/G/T (binary) suffix when `size`. */
static bool parse_u64(const char *s, bool size, uint64_t *out)
{
	char *end;
	uint64_t v, mul = 1;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return false;
	if (size && *end) {
		switch (*end) {
		case 'k': case 'K': mul = UINT64_C(1) << 10; break;
		case 'm': case 'M': mul = UINT64_C(1) << 20; break;
		case 'g': case 'G': mul = UINT64_C(1) << 30; break;
		case 't': case 'T': mul = UINT64_C(1) << 40; break;
		default: return false;
		}
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'b' || *end == 'B')
			end++;
	}
	if (*end)
		return false;
	if (v > UINT64_MAX / mul)
		return false;
	*out = v * mul;
	return true;
}

static int set_param(struct run_cmdline *c, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t n = eq ? (size_t)(eq - kv) : 0;
	uint64_t v;

	if (!eq || !n)
		return bad("--set wants NAME=VALUE, got '%s'", kv);
	for (unsigned i = 0; i < NPARAMS; i++) {
		const struct wl_param_info *pi = &params[i];
		char *base = (char *)&c->opt.wl + pi->offset;

		if (strlen(pi->name) != n || strncmp(pi->name, kv, n) != 0 || !(pi->kinds & K(c->opt.wl.kind)))
			continue;
		if (!parse_u64(eq + 1, pi->type == WLP_SIZE, &v))
			return bad("--set %s: '%s' is not a number", pi->name, eq + 1);
		switch (pi->type) {
		case WLP_UINT:
			if (v > UINT32_MAX)
				return bad("--set %s: %s is too large", pi->name, eq + 1);
			*(unsigned *)(void *)base = (unsigned)v;
			break;
		case WLP_BOOL:
			if (v > 1)
				return bad("--set %s: '%s' must be 0 or 1", pi->name, eq + 1);
			*(bool *)(void *)base = v != 0;
			break;
		default:
			*(uint64_t *)(void *)base = v;
			break;
		}
		return 0;
	}
	fprintf(stderr, "nestmmu run: --set: unknown parameter '%.*s' for %s (see --list-params)\n", (int)n, kv,
		wl_name(c->opt.wl.kind));
	return EXIT_USAGE;
}

static int parse_configs(struct run_cmdline *c, const char *list)
{
	char buf[256];
	char *save = NULL, *tok;

	if (strlen(list) >= sizeof(buf))
		return bad("--configs: list too long");
	memset(c->cfg_on, 0, sizeof(c->cfg_on));
	if (strcmp(list, "all") == 0) {
		for (int i = 0; i < RUN_CFGS; i++)
			c->cfg_on[i] = true;
		return 0;
	}
	strcpy(buf, list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int k = run_cfg_from_name(tok);

		if (k < 0)
			return bad("--configs: unknown configuration '%s'", tok);
		c->cfg_on[k] = true;
	}
	for (int i = 0; i < RUN_CFGS; i++)
		if (c->cfg_on[i])
			return 0;
	return bad("--configs: no configuration in '%s'", list);
}

static int parse_vcpus(struct run_cmdline *c, const char *list)
{
	char buf[128];
	char *save = NULL, *tok;
	uint64_t v;

	if (strlen(list) >= sizeof(buf))
		return bad("--vcpus: list too long");
	strcpy(buf, list);
	c->nvcpu_counts = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!parse_u64(tok, false, &v) || v < 1 || v > 64)
			return bad("--vcpus: '%s' is not a number 1..64", tok);
		for (unsigned i = 0; i < c->nvcpu_counts; i++)
			if (c->vcpu_counts[i] == v)
				return bad("--vcpus: %s given twice", tok);
		if (c->nvcpu_counts == RUN_MAX_VCPU_COUNTS)
			return bad("--vcpus: at most %d counts", RUN_MAX_VCPU_COUNTS);
		c->vcpu_counts[c->nvcpu_counts++] = (unsigned)v;
	}
	if (!c->nvcpu_counts)
		return bad("--vcpus: no count in '%s'", list);
	c->opt.vcpus = c->vcpu_counts[0];
	return 0;
}

static int parse_mode(const char *s, enum paging_mode *m)
{
	if (!strcmp(s, "32-bit") || !strcmp(s, "32"))
		*m = PAGING_32;
	else if (!strcmp(s, "pae"))
		*m = PAGING_PAE;
	else if (!strcmp(s, "4-level") || !strcmp(s, "4"))
		*m = PAGING_4LEVEL;
	else if (!strcmp(s, "5-level") || !strcmp(s, "5"))
		*m = PAGING_5LEVEL;
	else
		return bad("--mode: '%s' is not 32-bit, pae, 4-level or 5-level", s);
	return 0;
}

/* Option names that take a value. */
static const char *const with_value[] = {
	"-w", "--workload", "-c", "--configs", "--cpu", "--vcpus", "--mode", "--ram", "--seed",
	"--set", "--tdp-levels", "--tdp-page", "--cost-profile",
};

static bool takes_value(const char *name)
{
	for (size_t i = 0; i < sizeof(with_value) / sizeof(with_value[0]); i++)
		if (!strcmp(name, with_value[i]))
			return true;
	return false;
}

/* The options that set the workload kind come first: its defaults are the base for --set. */
static int find_workload(int argc, char **argv, struct run_cmdline *c)
{
	int kind = WL_KBUILD;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;

		if (!strcmp(a, "-w") || !strcmp(a, "--workload"))
			val = i + 1 < argc ? argv[i + 1] : NULL;
		else if (!strncmp(a, "--workload=", 11))
			val = a + 11;
		else
			continue;
		if (!val)
			return bad("%s needs a value", a);
		kind = wl_from_name(val);
		if (kind < 0)
			return bad("--workload: unknown workload '%s' (kbuild, gups, stream, vmchurn)", val);
	}
	wl_params_default(&c->opt.wl, (enum wl_kind)kind);
	return 0;
}

int run_parse(int argc, char **argv, struct run_cmdline *c)
{
	int rc;

	memset(c, 0, sizeof(*c));
	run_options_default(&c->opt);
	c->vcpu_counts[0] = c->opt.vcpus;
	c->nvcpu_counts = 1;
	for (int i = 0; i < RUN_CFGS; i++)
		c->cfg_on[i] = true;
	c->progress = -1;
	if ((rc = find_workload(argc, argv, c)) != 0)
		return rc;
	for (int i = 1; i < argc; i++) {
		char name[64];
		const char *a = argv[i], *val = NULL, *eq = strchr(a, '=');
		uint64_t v;

		if (a[0] == '-' && a[1] == '-' && eq && (size_t)(eq - a) < sizeof(name)) {
			memcpy(name, a, (size_t)(eq - a));
			name[eq - a] = 0;
			val = eq + 1;
			if (!takes_value(name))
				return bad("option %s takes no value", name);
		} else {
			snprintf(name, sizeof(name), "%s", a);
			if (takes_value(name)) {
				if (i + 1 >= argc)
					return bad("%s needs a value", name);
				val = argv[++i];
			}
		}
		if (!strcmp(name, "-h") || !strcmp(name, "--help")) {
			c->help = true;
		} else if (!strcmp(name, "-w") || !strcmp(name, "--workload")) {
			/* done by find_workload */
		} else if (!strcmp(name, "-c") || !strcmp(name, "--configs")) {
			if ((rc = parse_configs(c, val)) != 0)
				return rc;
		} else if (!strcmp(name, "--cpu")) {
			if (!strcmp(val, "intel"))
				c->opt.vendor = CPU_INTEL;
			else if (!strcmp(val, "amd"))
				c->opt.vendor = CPU_AMD;
			else
				return bad("--cpu: '%s' is not intel or amd", val);
		} else if (!strcmp(name, "--vcpus")) {
			if ((rc = parse_vcpus(c, val)) != 0)
				return rc;
		} else if (!strcmp(name, "--mode")) {
			if ((rc = parse_mode(val, &c->opt.mode)) != 0)
				return rc;
		} else if (!strcmp(name, "--ram")) {
			if (!parse_u64(val, true, &v))
				return bad("--ram: '%s' is not a size", val);
			c->opt.ram_bytes = v;
		} else if (!strcmp(name, "--seed")) {
			if (!parse_u64(val, false, &v))
				return bad("--seed: '%s' is not a number", val);
			c->opt.wl.seed = v;
		} else if (!strcmp(name, "--set")) {
			if ((rc = set_param(c, val)) != 0)
				return rc;
		} else if (!strcmp(name, "--list-params")) {
			c->list_params = true;
		} else if (!strcmp(name, "--no-pcid")) {
			c->opt.pcid = false;
		} else if (!strcmp(name, "--tdp-levels")) {
			if (!parse_u64(val, false, &v) || (v != 4 && v != 5))
				return bad("--tdp-levels: '%s' is not 4 or 5", val);
			c->opt.tdp_levels = (unsigned)v;
		} else if (!strcmp(name, "--tdp-page")) {
			if (!strcasecmp(val, "4k"))
				c->opt.tdp_max_level = 1;
			else if (!strcasecmp(val, "2m"))
				c->opt.tdp_max_level = 2;
			else if (!strcasecmp(val, "1g"))
				c->opt.tdp_max_level = 3;
			else
				return bad("--tdp-page: '%s' is not 4K, 2M or 1G", val);
		} else if (!strcmp(name, "--no-unsync")) {
			c->opt.shadow_unsync = false;
		} else if (!strcmp(name, "--no-ipi-exits")) {
			c->opt.ipi_exits = false;
		} else if (!strcmp(name, "--no-vmcs-shadowing")) {
			c->opt.vmcs_shadowing = false;
		} else if (!strcmp(name, "--cost-profile")) {
			c->profile_file = val;
		} else if (!strcmp(name, "--check")) {
			c->opt.check = true;
		} else if (!strcmp(name, "--json")) {
			c->format = RUN_FMT_JSON;
		} else if (!strcmp(name, "--csv")) {
			c->format = RUN_FMT_CSV;
		} else if (!strcmp(name, "--progress")) {
			c->progress = 1;
		} else if (!strcmp(name, "--no-progress")) {
			c->progress = 0;
		} else if (a[0] == '-') {
			return bad("unknown option '%s'", a);
		} else {
			return bad("unexpected argument '%s'", a);
		}
	}
	if (c->help || c->list_params)
		return 0;
	{
		const char *why = run_options_invalid(&c->opt);

		if (why)
			return bad("%s", why);
	}
	cost_profile_for_vendor(c->opt.vendor, &c->profile);
	if (c->profile_file) {
		char err[512];

		if (cost_profile_load(c->profile_file, &c->profile, err, sizeof(err))) {
			fprintf(stderr, "nestmmu run: %s\n", err);
			return EXIT_INPUT;
		}
	}
	return 0;
}
