/*
 * run_report.c - the reports of `nestmmu run`: a table for a person, one
 * JSON object, or CSV lines (docs/run.md describes each field).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/json.h"
#include "cli/run_opts.h"

/* The native result among the results, if it ran and completed. */
static const struct run_result *native_of(const struct run_result *res, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (res[i].cfg == RUN_NATIVE && res[i].ok)
			return &res[i];
	return NULL;
}

/* Estimated time against native's; NaN when there is no native run or the run failed. */
static double slowdown(const struct run_result *r, const struct run_result *nat)
{
	if (!r->ok || !nat || nat->est.seconds <= 0)
		return NAN;
	return r->est.seconds / nat->est.seconds;
}

static const char *vendor_name(enum cpu_vendor v)
{
	return v == CPU_AMD ? "amd" : "intel";
}

static void describe(FILE *out, const struct run_cmdline *c)
{
	const struct run_options *o = &c->opt;
	unsigned np;
	const struct wl_param_info *pi = run_wl_params(&np);

	fprintf(out, "workload %s, seed %" PRIu64 ":", wl_name(o->wl.kind), o->wl.seed);
	for (unsigned i = 0; i < np; i++)
		if (pi[i].kinds & (1u << o->wl.kind))
			fprintf(out, " %s=%" PRIu64, pi[i].name, run_wl_param_get(&o->wl, &pi[i]));
	fprintf(out, "\nmachine %s (%s), %u vCPU%s, %s guest, %" PRIu64 " MiB RAM%s; cost profile %s\n",
		vendor_name(o->vendor), o->vendor == CPU_AMD ? "NPT" : "EPT", o->vcpus, o->vcpus > 1 ? "s" : "",
		paging_mode_name(o->mode), o->ram_bytes >> 20, o->check ? ", checked" : "", c->profile.name);
}

/* ---- text ---- */

/* Width of a configuration's column: 15, or wider for a longer name (set by run_report_text). */
static int colw = 15;

static void row_label(FILE *out, const char *label)
{
	fprintf(out, "%-34s", label);
}

static void row_u64(FILE *out, const char *label, const struct run_result *res, unsigned n,
		    uint64_t (*get)(const struct run_result *, const void *), const void *arg)
{
	row_label(out, label);
	for (unsigned i = 0; i < n; i++) {
		if (res[i].ok)
			fprintf(out, "%*" PRIu64, colw, get(&res[i], arg));
		else
			fprintf(out, "%*s", colw, "-");
	}
	fputc('\n', out);
}

static void row_f(FILE *out, const char *label, const char *fmt, const double *v, unsigned n)
{
	char cell[32];

	row_label(out, label);
	for (unsigned i = 0; i < n; i++) {
		if (isnan(v[i]))
			snprintf(cell, sizeof(cell), "-");
		else
			snprintf(cell, sizeof(cell), fmt, v[i]);
		fprintf(out, "%*s", colw, cell);
	}
	fputc('\n', out);
}

static uint64_t g_exits(const struct run_result *r, const void *a)
{
	int h = *(const int *)a;

	return counters_exits_sum(&r->cnt, -1, h, -1);
}

static uint64_t g_exits_level(const struct run_result *r, const void *a)
{
	return counters_exits_sum(&r->cnt, *(const int *)a, -1, -1);
}

static uint64_t g_exit_reason(const struct run_result *r, const void *a)
{
	return counters_exits_sum(&r->cnt, -1, -1, *(const int *)a);
}

static uint64_t g_guest_pf(const struct run_result *r, const void *a)
{
	(void)a;
	return r->cnt.guest_pf[run_cfg_guest_level(r->cfg)];
}

static uint64_t g_pt(const struct run_result *r, const void *a)
{
	return r->cnt.pt_peak[*(const int *)a];
}

static uint64_t g_field(const struct run_result *r, const void *a)
{
	size_t idx = *(const size_t *)a;

	return counters_get(&r->cnt, idx);
}

static uint64_t g_flushes_hv(const struct run_result *r, const void *a)
{
	uint64_t s = 0;

	(void)a;
	for (int l = 0; l < CNT_LEVELS; l++)
		if (l != (int)run_cfg_guest_level(r->cfg))
			for (int f = 0; f < CNT_FLUSHES; f++)
				s += r->cnt.flushes[l][f];
	return s;
}

static uint64_t g_accesses(const struct run_result *r, const void *a)
{
	(void)a;
	return r->wl.accesses;
}

/* Rows of hypervisor MMU counters (per hypervisor level), shown when non-zero somewhere. */
static const char *const mmu_rows[][2] = {
	{ "tdp_faults", "TDP faults fixed" },
	{ "tdp_entries_set", "TDP entries set" },
	{ "tdp_entries_zapped", "TDP entries zapped" },
	{ "spt_faults", "shadow faults fixed" },
	{ "spt_writes_trapped", "guest table writes trapped" },
	{ "spt_writes_emulated", "  of which emulated" },
	{ "spt_unsync", "shadow pages unsynced" },
	{ "spt_sync", "shadow pages synced" },
	{ "spt_entries_set", "shadow entries set" },
	{ "spt_entries_zapped", "shadow entries zapped" },
	{ "spt_root_hits", "CR3 switches: root cached" },
	{ "spt_root_misses", "CR3 switches: new root" },
	{ "sw_walks", "software walks" },
};

static bool any_nonzero(const struct run_result *res, unsigned n, uint64_t (*get)(const struct run_result *, const void *),
			const void *arg)
{
	for (unsigned i = 0; i < n; i++)
		if (res[i].ok && get(&res[i], arg))
			return true;
	return false;
}

void run_report_text(FILE *out, const struct run_cmdline *c, const struct run_result *res, unsigned n)
{
	const struct run_result *nat = native_of(res, n);
	double v[RUN_CFGS];
	int h;

	describe(out, c);
	fputc('\n', out);
	colw = 15;
	for (unsigned i = 0; i < n; i++)
		if ((int)strlen(run_cfg_name(res[i].cfg)) + 2 > colw)
			colw = (int)strlen(run_cfg_name(res[i].cfg)) + 2;
	row_label(out, "");
	for (unsigned i = 0; i < n; i++)
		fprintf(out, "%*s", colw, run_cfg_name(res[i].cfg));
	fputc('\n', out);
	for (unsigned i = 0; i < n; i++)
		v[i] = res[i].ok ? res[i].est.seconds * 1e3 : NAN;
	row_f(out, "estimated time (ms)", "%.3f", v, n);
	for (unsigned i = 0; i < n; i++)
		v[i] = slowdown(&res[i], nat);
	row_f(out, "slowdown vs native", "%.3fx", v, n);
	row_u64(out, "user memory accesses", res, n, g_accesses, NULL);
	h = -1;
	row_u64(out, "VM exits", res, n, g_exits, &h);
	h = CNT_BY_L0;
	row_u64(out, "  handled by L0", res, n, g_exits, &h);
	h = CNT_REFLECTED;
	if (any_nonzero(res, n, g_exits, &h)) {
		int lv;

		row_u64(out, "  reflected to L1", res, n, g_exits, &h);
		lv = CNT_L1;
		row_u64(out, "  exits of L1 (its hypervisor)", res, n, g_exits_level, &lv);
		lv = CNT_L2;
		row_u64(out, "  exits of L2", res, n, g_exits_level, &lv);
	}
	for (int r = 0; r < CNT_EXITS; r++) {
		char label[64];

		if (!any_nonzero(res, n, g_exit_reason, &r))
			continue;
		snprintf(label, sizeof(label), "  exits: %s", cnt_exit_name((enum cnt_exit)r));
		row_u64(out, label, res, n, g_exit_reason, &r);
	}
	row_u64(out, "guest page faults", res, n, g_guest_pf, NULL);
	for (unsigned i = 0; i < n; i++)
		v[i] = res[i].ok ? 100.0 * run_tlb_miss_rate(&res[i]) : NAN;
	row_f(out, "TLB miss rate (%)", "%.3f", v, n);
	for (unsigned i = 0; i < n; i++)
		v[i] = res[i].ok ? run_refs_per_walk(&res[i]) : NAN;
	row_f(out, "walk references per walk", "%.2f", v, n);
	for (int k = 0; k < CNT_PTS; k++) {
		char label[64];

		if (!any_nonzero(res, n, g_pt, &k))
			continue;
		snprintf(label, sizeof(label), "%s pages (peak)", cnt_pt_name((enum cnt_pt)k));
		row_u64(out, label, res, n, g_pt, &k);
	}
	for (int l = CNT_L0; l <= CNT_L1; l++)
		for (size_t m = 0; m < sizeof(mmu_rows) / sizeof(mmu_rows[0]); m++) {
			char name[COUNTERS_NAME_MAX], label[64];
			size_t idx;

			snprintf(name, sizeof(name), "%s.%s", mmu_rows[m][0], cnt_level_name((enum cnt_level)l));
			if (!counters_find(name, &idx) || !any_nonzero(res, n, g_field, &idx))
				continue;
			snprintf(label, sizeof(label), "%s (L%d)", mmu_rows[m][1], l);
			row_u64(out, label, res, n, g_field, &idx);
		}
	if (any_nonzero(res, n, g_flushes_hv, NULL))
		row_u64(out, "TLB flushes by the hypervisor", res, n, g_flushes_hv, NULL);
	fputs("estimated time by category (%):\n", out);
	for (int k = 0; k < COST_CATS; k++) {
		char label[64];
		bool any = false;

		for (unsigned i = 0; i < n; i++) {
			v[i] = res[i].ok && res[i].est.cycles > 0 ? 100.0 * res[i].est.cat_cycles[k] / res[i].est.cycles
								  : NAN;
			any |= res[i].ok && res[i].est.cat_cycles[k] > 0;
		}
		if (!any)
			continue;
		snprintf(label, sizeof(label), "  %s", cost_cat_name((enum cost_cat)k));
		row_f(out, label, "%.1f", v, n);
	}
	for (unsigned i = 0; i < n; i++)
		v[i] = res[i].host_seconds;
	row_f(out, "simulated in (host seconds)", "%.2f", v, n);
	for (unsigned i = 0; i < n; i++)
		if (!res[i].ok)
			fprintf(out, "%s failed: %s\n", run_cfg_name(res[i].cfg), res[i].error);
}

/* ---- JSON ---- */

static void json_profile(struct json_writer *w, const struct cost_profile *p)
{
	json_key(w, "cost_profile");
	json_object_begin(w);
	json_kv_string(w, "name", p->name);
	json_kv_string(w, "base", p->base);
	json_key(w, "params");
	json_object_begin(w);
	for (int i = 0; i < COST_PARAMS; i++) {
		json_key(w, cost_param_info((enum cost_param)i)->name);
		json_object_begin(w);
		json_kv_double(w, "value", p->v[i].value);
		json_kv_string(w, "unit", cost_unit_name(cost_param_info((enum cost_param)i)->unit));
		json_kv_string(w, "source", p->v[i].source);
		json_object_end(w);
	}
	json_object_end(w);
	json_object_end(w);
}

static int json_counter(void *ctx, const char *name, uint64_t value)
{
	json_kv_uint(ctx, name, value);
	return 0;
}

static void json_config(struct json_writer *w, const struct run_result *r, const struct run_result *nat)
{
	const struct gos_stats *g = &r->wl.guest;

	json_object_begin(w);
	json_kv_string(w, "name", run_cfg_name(r->cfg));
	json_kv_bool(w, "ok", r->ok);
	if (!r->ok)
		json_kv_string(w, "error", r->error);
	json_kv_uint(w, "guest_level", run_cfg_guest_level(r->cfg));
	json_kv_double(w, "est_seconds", r->ok ? r->est.seconds : NAN);
	json_kv_double(w, "est_cycles", r->ok ? r->est.cycles : NAN);
	json_kv_double(w, "slowdown", slowdown(r, nat));
	json_kv_double(w, "host_seconds", r->host_seconds);
	json_key(w, "summary");
	json_object_begin(w);
	json_kv_uint(w, "exits", run_exits(r));
	json_kv_uint(w, "exits_by_l0", counters_exits_sum(&r->cnt, -1, CNT_BY_L0, -1));
	json_kv_uint(w, "exits_reflected", counters_exits_sum(&r->cnt, -1, CNT_REFLECTED, -1));
	json_kv_uint(w, "guest_page_faults", r->cnt.guest_pf[run_cfg_guest_level(r->cfg)]);
	json_kv_double(w, "tlb_miss_rate", run_tlb_miss_rate(r));
	json_kv_double(w, "refs_per_walk", run_refs_per_walk(r));
	json_kv_uint(w, "guest_pt_pages_peak", run_guest_pt_pages(r));
	json_kv_uint(w, "hv_pt_pages_peak", run_hv_pt_pages(r));
	json_kv_uint(w, "checks", r->checks);
	json_object_end(w);
	json_key(w, "est_cycles_by_category");
	json_object_begin(w);
	for (int k = 0; k < COST_CATS; k++)
		json_kv_double(w, cost_cat_name((enum cost_cat)k), r->ok ? r->est.cat_cycles[k] : NAN);
	json_object_end(w);
	json_key(w, "workload");
	json_object_begin(w);
	json_kv_uint(w, "tasks", r->wl.tasks);
	json_kv_uint(w, "accesses", r->wl.accesses);
	json_kv_uint(w, "units", r->wl.units);
	json_kv_uint(w, "killed", r->wl.killed);
	json_kv_uint(w, "forks", g->forks);
	json_kv_uint(w, "execs", g->execs);
	json_kv_uint(w, "page_faults", g->faults);
	json_kv_uint(w, "context_switches", g->ctx_switches);
	json_kv_uint(w, "shootdowns", g->shootdowns);
	json_object_end(w);
	json_key(w, "counters");
	json_object_begin(w);
	counters_foreach(&r->cnt, false, json_counter, w);
	json_object_end(w);
	json_object_end(w);
}

void run_report_json(FILE *out, const struct run_cmdline *c, const struct run_result *res, unsigned n)
{
	const struct run_options *o = &c->opt;
	const struct run_result *nat = native_of(res, n);
	struct json_writer w;
	unsigned np;
	const struct wl_param_info *pi = run_wl_params(&np);

	json_init(&w);
	json_object_begin(&w);
	json_key(&w, "workload");
	json_object_begin(&w);
	json_kv_string(&w, "name", wl_name(o->wl.kind));
	json_kv_uint(&w, "seed", o->wl.seed);
	json_key(&w, "params");
	json_object_begin(&w);
	for (unsigned i = 0; i < np; i++)
		if (pi[i].kinds & (1u << o->wl.kind))
			json_kv_uint(&w, pi[i].name, run_wl_param_get(&o->wl, &pi[i]));
	json_object_end(&w);
	json_object_end(&w);
	json_key(&w, "options");
	json_object_begin(&w);
	json_kv_string(&w, "cpu", vendor_name(o->vendor));
	json_kv_uint(&w, "vcpus", o->vcpus);
	json_kv_string(&w, "mode", paging_mode_name(o->mode));
	json_kv_uint(&w, "ram_bytes", o->ram_bytes);
	json_kv_bool(&w, "pcid", o->pcid);
	json_kv_uint(&w, "tdp_levels", o->tdp_levels);
	json_kv_uint(&w, "tdp_max_level", o->tdp_max_level);
	json_kv_bool(&w, "shadow_unsync", o->shadow_unsync);
	json_kv_bool(&w, "ipi_exits", o->ipi_exits);
	json_kv_bool(&w, "check", o->check);
	json_object_end(&w);
	json_profile(&w, &c->profile);
	json_key(&w, "configs");
	json_array_begin(&w);
	for (unsigned i = 0; i < n; i++)
		json_config(&w, &res[i], nat);
	json_array_end(&w);
	json_object_end(&w);
	json_raw(&w, "\n");
	json_flush(&w, out);
	json_free(&w);
}

/* ---- CSV ---- */

void run_report_csv(FILE *out, const struct run_cmdline *c, const struct run_result *res, unsigned n)
{
	const struct run_result *nat = native_of(res, n);
	size_t nc = counters_count();
	char name[COUNTERS_NAME_MAX];

	fprintf(out, "name,ok,workload,seed,cpu,vcpus,mode,est_seconds,slowdown,host_seconds,exits,guest_page_faults,"
		     "tlb_miss_rate,refs_per_walk,guest_pt_pages_peak,hv_pt_pages_peak");
	for (size_t i = 0; i < nc; i++)
		if (counters_name(i, name, sizeof(name)))
			fprintf(out, ",%s", name);
	fputc('\n', out);
	for (unsigned i = 0; i < n; i++) {
		const struct run_result *r = &res[i];
		double s = slowdown(r, nat);

		fprintf(out, "%s,%d,%s,%" PRIu64 ",%s,%u,%s,", run_cfg_name(r->cfg), r->ok, wl_name(c->opt.wl.kind),
			c->opt.wl.seed, vendor_name(c->opt.vendor), c->opt.vcpus, paging_mode_name(c->opt.mode));
		if (r->ok)
			fprintf(out, "%.9g,", r->est.seconds);
		else
			fputc(',', out);
		if (!isnan(s))
			fprintf(out, "%.9g", s);
		fprintf(out, ",%.3f,%" PRIu64 ",%" PRIu64 ",%.9g,%.9g,%" PRIu64 ",%" PRIu64, r->host_seconds, run_exits(r),
			r->cnt.guest_pf[run_cfg_guest_level(r->cfg)], run_tlb_miss_rate(r), run_refs_per_walk(r),
			run_guest_pt_pages(r), run_hv_pt_pages(r));
		for (size_t k = 0; k < nc; k++)
			fprintf(out, ",%" PRIu64, counters_get(&r->cnt, k));
		fputc('\n', out);
	}
}
