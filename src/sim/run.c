/*
 * run.c - one simulated run (run.h).
 */
#include "sim/run.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "guest/check.h"
#include "guest/gos.h"
#include "vm/hv_nest.h"
#include "vm/hv_shadow.h"
#include "vm/hv_tdp.h"
#include "vm/vm.h"

static const struct {
	const char *name;
	enum cnt_level guest_level;
	const char *help;
} cfgs[RUN_CFGS] = {
	[RUN_NATIVE] = { "native", CNT_L0, "no hypervisor: the guest OS runs on the hardware" },
	[RUN_L1_TDP] = { "l1-tdp", CNT_L1, "a guest of L0, memory by TDP (EPT on Intel, NPT on AMD)" },
	[RUN_L1_SHADOW] = { "l1-shadow", CNT_L1, "a guest of L0, memory by shadow paging" },
	[RUN_L2_TDP_ON_TDP] = { "l2-tdp-on-tdp", CNT_L2,
				"a guest of L1, itself a guest of L0: TDP in both (nested EPT/NPT)" },
	[RUN_L2_PV] = { "l2-pv", CNT_L2,
			"a guest of L1, itself a guest of L0: L1 tells L0 its mappings by hypercalls (KPOP)" },
	[RUN_L2_SHADOW_ON_TDP] = { "l2-shadow-on-tdp", CNT_L2,
				   "a guest of L1, itself a guest of L0: shadow paging in L1, TDP in L0" },
	[RUN_L2_SHADOW_ON_SHADOW] = { "l2-shadow-on-shadow", CNT_L2,
				      "a guest of L1, itself a guest of L0: shadow paging in both" },
};

const char *run_cfg_name(enum run_cfg c)
{
	return (unsigned)c < RUN_CFGS ? cfgs[c].name : "?";
}

int run_cfg_from_name(const char *name)
{
	for (int i = 0; i < RUN_CFGS; i++)
		if (strcmp(cfgs[i].name, name) == 0)
			return i;
	return -1;
}

enum cnt_level run_cfg_guest_level(enum run_cfg c)
{
	return (unsigned)c < RUN_CFGS ? cfgs[c].guest_level : CNT_L0;
}

const char *run_cfg_help(enum run_cfg c)
{
	return (unsigned)c < RUN_CFGS ? cfgs[c].help : "?";
}

void run_options_default(struct run_options *o)
{
	memset(o, 0, sizeof(*o));
	o->vendor = CPU_INTEL;
	o->vcpus = 1;
	o->mode = PAGING_4LEVEL;
	o->ram_bytes = UINT64_C(4) << 30;
	o->pcid = true;
	o->tdp_levels = 4;
	o->tdp_max_level = 3;
	o->shadow_unsync = true;
	o->ipi_exits = true;
	o->vmcs_shadowing = true;
	wl_params_default(&o->wl, WL_KBUILD);
}

const char *run_options_invalid(const struct run_options *o)
{
	if (o->vendor != CPU_INTEL && o->vendor != CPU_AMD)
		return "the CPU vendor must be intel or amd";
	if (o->vcpus < 1 || o->vcpus > VM_MAX_CPUS || o->vcpus > GOS_MAX_CPUS)
		return "the number of vCPUs must be 1..64";
	if (o->mode != PAGING_32 && o->mode != PAGING_PAE && o->mode != PAGING_4LEVEL && o->mode != PAGING_5LEVEL)
		return "the guest paging mode must be 32-bit, pae, 4-level or 5-level";
	if (o->ram_bytes < (UINT64_C(16) << 20) || (o->ram_bytes & ((UINT64_C(2) << 20) - 1)))
		return "guest RAM must be at least 16 MiB and a multiple of 2 MiB";
	if (o->ram_bytes > (UINT64_C(1) << 46))
		return "guest RAM must be at most 64 TiB (MAXPHYADDR 46)";
	if (o->tdp_levels != 4 && o->tdp_levels != 5)
		return "TDP tables have 4 or 5 levels";
	if (o->tdp_max_level < 1 || o->tdp_max_level > 3)
		return "the largest TDP leaf level must be 1 (4 KiB), 2 (2 MiB) or 3 (1 GiB)";
	return wl_params_invalid(&o->wl);
}

/* ---- one run ---- */

struct run_ctx {
	struct vm *vm;            /* the VM the workload's guest runs in */
	struct gos *g;
	struct hv_tdp *tdp;
	struct hv_shadow *shadow;
	/* nested: the L1 VM, its OS, L0's hypervisor of it, and L0's of L2 */
	struct vm *vm1;
	struct gos *l1_os;
	struct hv_tdp *l0_for_l1;
	struct hv_shadow *l0_shadow_for_l1;
	struct hv_nest *nest;
	struct gos_checker ck;
};

static void fail(struct run_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	r->ok = false;
}

/* A TDP hypervisor's tables against its guest's slots (tdp_check), if there is one. */
static int tdp_of_guest_check(struct hv_tdp *h, const char *what, char *msg, unsigned len)
{
	char why[200];

	if (!h || !tdp_check(hv_tdp_mmu(h), why, sizeof(why)))
		return 0;
	snprintf(msg, len, "%s: %s", what, why);
	return 1;
}

/* The oracle, the shadow MMU's own bookkeeping check, and the nested configuration's isolation invariant. */
static int check_hook(void *ctx, struct gos *g, char *msg, unsigned len)
{
	struct run_ctx *x = ctx;
	const char *why;

	if (gos_check_hook(&x->ck, g, msg, len))
		return 1;
	if (x->shadow && (why = shadow_check(hv_shadow_mmu(x->shadow))) != NULL) {
		snprintf(msg, len, "shadow MMU: %s", why);
		return 1;
	}
	if (x->nest && hv_nest_check(x->nest, msg, len))
		return 1;
	if (tdp_of_guest_check(x->tdp, "TDP MMU", msg, len) || tdp_of_guest_check(x->l0_for_l1, "L0's EPT01/NPT01", msg, len))
		return 1;
	if (x->nest && hv_nest_l1_shadow(x->nest) && (why = shadow_check(hv_nest_l1_shadow(x->nest))) != NULL) {
		snprintf(msg, len, "L1's shadow MMU: %s", why);
		return 1;
	}
	if (x->l0_shadow_for_l1 && (why = shadow_check(hv_shadow_mmu(x->l0_shadow_for_l1))) != NULL) {
		snprintf(msg, len, "L0's shadow MMU: %s", why);
		return 1;
	}
	return 0;
}

/*
 * L1 RAM for a nested run: the L2 guest's RAM, the L1 hypervisor's tables
 * (EPT12 with 4 KiB leaves, or the PV engine's record: one page per 512
 * pages, and the levels above: a page in 256 is ample; the PV engine's
 * argument pages, one per vCPU, fit in the rest; shadow tables SPT12
 * follow L2's own tables, a few pages per L2 table page, and L2's tables
 * are far fewer than a page in 256 of its RAM in the workloads) and 64 MiB
 * for the L1 OS itself.
 */
static uint64_t l1_reserved_pages(const struct run_options *o)
{
	uint64_t l2 = o->ram_bytes >> 12;

	return l2 + l2 / 256 + 1024;
}

static bool attach_nested(struct run_ctx *x, const struct run_options *o, enum run_cfg c, struct run_result *r)
{
	struct vm_config vc1, vc2;
	struct hv_tdp_config tc;
	struct gos_config gc1;
	struct hv_nest_config nc;
	struct vcpu *cpus1[GOS_MAX_CPUS];
	const char *err = NULL;
	uint64_t first;

	vm_config_default(&vc1);
	vc1.vendor = o->vendor;
	vc1.ncpus = o->vcpus;
	vc1.ram_bytes = (l1_reserved_pages(o) << 12) + (UINT64_C(64) << 20);
	vc1.ram_bytes = (vc1.ram_bytes + (UINT64_C(2) << 20) - 1) & ~((UINT64_C(2) << 20) - 1);
	x->vm1 = vm_create(&vc1, &err);
	if (!x->vm1) {
		fail(r, "cannot create the L1 VM: %s", err);
		return false;
	}
	if (c == RUN_L2_SHADOW_ON_SHADOW) {
		struct hv_shadow_config sc;

		/* one MMU for SPT01 and SPT02: a root set per L2 vCPU besides L1's */
		hv_shadow_config_default(&sc);
		sc.unsync = o->shadow_unsync;
		sc.ipi_exits = o->ipi_exits;
		sc.extra_vcpus = o->vcpus;
		x->l0_shadow_for_l1 = hv_shadow_attach(x->vm1, &sc, &err);
	} else {
		hv_tdp_config_default(&tc);
		tc.levels = o->tdp_levels;
		tc.max_level = o->tdp_max_level;
		tc.ipi_exits = o->ipi_exits;
		x->l0_for_l1 = hv_tdp_attach(x->vm1, &tc, &err);
	}
	if (!x->l0_for_l1 && !x->l0_shadow_for_l1) {
		fail(r, "L0's hypervisor: %s", err);
		return false;
	}
	for (unsigned i = 0; i < o->vcpus; i++)
		cpus1[i] = vm_vcpu(x->vm1, i);
	gos_config_default(&gc1);
	gc1.mode = PAGING_4LEVEL;
	gc1.ram_bytes = vc1.ram_bytes;
	x->l1_os = gos_boot(cpus1, o->vcpus, &gc1, &err);
	if (!x->l1_os) {
		fail(r, "the L1 OS did not boot: %s", err ? err : "?");
		return false;
	}
	if (gos_reserve(x->l1_os, l1_reserved_pages(o), &first) != GOS_OK) {
		fail(r, "the L1 OS cannot reserve memory for its hypervisor");
		return false;
	}
	memset(&nc, 0, sizeof(nc));
	nc.kind = c == RUN_L2_PV                 ? NEST_PV
		  : c == RUN_L2_SHADOW_ON_TDP    ? NEST_SHADOW_ON_TDP
		  : c == RUN_L2_SHADOW_ON_SHADOW ? NEST_SHADOW_ON_SHADOW
						 : NEST_TDP_ON_TDP;
	nc.vm1 = x->vm1;
	nc.l0 = x->l0_for_l1;
	nc.l0_shadow = x->l0_shadow_for_l1;
	nc.l1_kva_base = gos_kernel_va(x->l1_os, 0);
	nc.l1_first_gfn = first;
	nc.l1_npages = l1_reserved_pages(o);
	hv_tdp_config_default(&nc.l1);
	nc.l1.levels = o->tdp_levels;
	nc.l1.max_level = o->tdp_max_level;
	nc.l1.ipi_exits = o->ipi_exits;
	nc.ept02_max_level = o->tdp_max_level;
	nc.no_vmcs_shadowing = !o->vmcs_shadowing;
	hv_shadow_config_default(&nc.l1_shadow);
	nc.l1_shadow.unsync = o->shadow_unsync;
	nc.l1_shadow.ipi_exits = o->ipi_exits;
	vm_config_default(&vc2);
	vc2.vendor = o->vendor;
	vc2.ncpus = o->vcpus;
	vc2.ram_bytes = o->ram_bytes;
	x->nest = hv_nest_create(&nc, &vc2, &err);
	if (!x->nest) {
		fail(r, "nested hypervisor: %s", err ? err : "?");
		return false;
	}
	x->vm = hv_nest_l2(x->nest);
	return true;
}

static bool attach(struct run_ctx *x, const struct run_options *o, enum run_cfg c, struct run_result *r)
{
	const char *err = NULL;

	switch (c) {
	case RUN_NATIVE:
		return true;
	case RUN_L1_TDP: {
		struct hv_tdp_config tc;

		hv_tdp_config_default(&tc);
		tc.levels = o->tdp_levels;
		tc.max_level = o->tdp_max_level;
		tc.ipi_exits = o->ipi_exits;
		x->tdp = hv_tdp_attach(x->vm, &tc, &err);
		break;
	}
	case RUN_L1_SHADOW: {
		struct hv_shadow_config sc;

		hv_shadow_config_default(&sc);
		sc.unsync = o->shadow_unsync;
		sc.ipi_exits = o->ipi_exits;
		x->shadow = hv_shadow_attach(x->vm, &sc, &err);
		break;
	}
	case RUN_L2_TDP_ON_TDP:
	case RUN_L2_PV:
	case RUN_L2_SHADOW_ON_TDP:
	case RUN_L2_SHADOW_ON_SHADOW:
		return true; /* made by attach_nested */
	default:
		err = "unknown configuration";
		break;
	}
	if (err)
		fail(r, "%s", err);
	return err == NULL;
}

static void teardown(struct run_ctx *x)
{
	if (x->g)
		gos_destroy(x->g);
	hv_tdp_detach(x->tdp);
	hv_shadow_detach(x->shadow);
	if (x->nest) {
		hv_nest_destroy(x->nest); /* destroys the L2 VM */
		x->vm = NULL;
	}
	if (x->l1_os)
		gos_destroy(x->l1_os);
	hv_tdp_detach(x->l0_for_l1);
	hv_shadow_detach(x->l0_shadow_for_l1);
	vm_destroy(x->vm1);
	vm_destroy(x->vm);
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool run_one(const struct run_options *o, enum run_cfg c, const struct cost_profile *p, struct run_result *r)
{
	struct run_ctx x;
	struct vm_config vc;
	struct gos_config gc;
	struct vcpu *cpus[GOS_MAX_CPUS];
	struct counters booted;
	const char *err = NULL, *why;
	double t0 = now_seconds();

	memset(r, 0, sizeof(*r));
	memset(&x, 0, sizeof(x));
	r->cfg = c;
	r->vcpus = o->vcpus;
	r->ok = true;
	if ((why = run_options_invalid(o)) != NULL) {
		fail(r, "%s", why);
		return false;
	}
	if (run_cfg_guest_level(c) == CNT_L2) {
		if (!attach_nested(&x, o, c, r))
			goto out;
	} else {
		vm_config_default(&vc);
		vc.vendor = o->vendor;
		vc.ram_bytes = o->ram_bytes;
		vc.ncpus = o->vcpus;
		x.vm = vm_create(&vc, &err);
		if (!x.vm) {
			fail(r, "cannot create the VM: %s", err);
			return false;
		}
		if (!attach(&x, o, c, r))
			goto out;
	}
	for (unsigned i = 0; i < o->vcpus; i++)
		cpus[i] = vm_vcpu(x.vm, i);
	gos_config_default(&gc);
	gc.mode = o->mode;
	gc.ram_bytes = o->ram_bytes;
	gc.pcid = o->pcid && (o->mode == PAGING_4LEVEL || o->mode == PAGING_5LEVEL);
	x.g = gos_boot(cpus, o->vcpus, &gc, &err);
	if (!x.g) {
		fail(r, "the guest OS did not boot: %s", err ? err : "?");
		goto out;
	}
	if (o->check) {
		gos_checker_init(&x.ck, x.vm);
		x.ck.max_pages_per_vma = 64;
		gos_set_check(x.g, check_hook, &x);
	}
	booted = *vm_counters(x.vm);
	if (wl_run(x.g, &o->wl, &r->wl, &err) != GOS_OK) {
		fail(r, "%s stopped: %s", wl_name(o->wl.kind), gos_error(x.g) ? gos_error(x.g) : err ? err : "?");
		goto out;
	}
	counters_diff(&r->cnt, vm_counters(x.vm), &booted);
	cost_estimate(p, &r->cnt, &r->est);
	r->checks = x.ck.runs;
	r->sim_bytes = hostmem_meta_bytes(vm_hostmem(x.vm));
out:
	teardown(&x);
	r->host_seconds = now_seconds() - t0;
	return r->ok;
}

/* ---- derived figures ---- */

double run_tlb_miss_rate(const struct run_result *r)
{
	enum cnt_level l = run_cfg_guest_level(r->cfg);
	uint64_t h = r->cnt.tlb_hits[l][CNT_TLB_TLB], m = r->cnt.tlb_misses[l][CNT_TLB_TLB];

	return h + m ? (double)m / (double)(h + m) : 0.0;
}

double run_refs_per_walk(const struct run_result *r)
{
	enum cnt_level l = run_cfg_guest_level(r->cfg);
	uint64_t refs = r->cnt.walk_refs[l][CNT_DIM_GUEST] + r->cnt.walk_refs[l][CNT_DIM_NESTED];

	return r->cnt.walks[l] ? (double)refs / (double)r->cnt.walks[l] : 0.0;
}

uint64_t run_guest_pt_pages(const struct run_result *r)
{
	return r->cnt.pt_peak[CNT_PT_GUEST_L0] + r->cnt.pt_peak[CNT_PT_GUEST_L1] + r->cnt.pt_peak[CNT_PT_GUEST_L2];
}

uint64_t run_hv_pt_pages(const struct run_result *r)
{
	uint64_t n = 0;

	for (int k = CNT_PT_EPT01; k < CNT_PTS; k++)
		n += r->cnt.pt_peak[k];
	return n;
}

uint64_t run_exits(const struct run_result *r)
{
	return counters_exits_sum(&r->cnt, -1, -1, -1);
}

double run_exits_per_guest_pf(const struct run_result *r)
{
	uint64_t pf = r->cnt.guest_pf[run_cfg_guest_level(r->cfg)];

	return pf ? (double)run_exits(r) / (double)pf : 0.0;
}

double run_exit_multiplication(const struct run_result *r)
{
	uint64_t own = counters_exits_sum(&r->cnt, (int)run_cfg_guest_level(r->cfg), -1, -1);

	return own ? (double)run_exits(r) / (double)own : 0.0;
}

uint64_t run_pt_pages_of_level(const struct run_result *r, enum cnt_level l)
{
	static const enum cnt_level owner[CNT_PTS] = {
		[CNT_PT_GUEST_L0] = CNT_L0,  [CNT_PT_GUEST_L1] = CNT_L1,  [CNT_PT_GUEST_L2] = CNT_L2,
		[CNT_PT_EPT01] = CNT_L0,     [CNT_PT_SHADOW_L0] = CNT_L0, [CNT_PT_SHADOW_L1] = CNT_L1,
		[CNT_PT_EPT12] = CNT_L1,     [CNT_PT_EPT02] = CNT_L0,
	};
	uint64_t n = 0;

	for (int k = 0; k < CNT_PTS; k++)
		if (owner[k] == l)
			n += r->cnt.pt_peak[k];
	return n;
}
