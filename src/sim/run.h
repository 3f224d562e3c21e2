/*
 * run.h - one simulated run: a VM in a configuration (native, or under a
 * hypervisor), a guest OS booted on it, a workload, and what it cost.
 *
 * A configuration names who virtualizes the guest's memory:
 *   native     no hypervisor: the guest OS is the OS on the hardware (its
 *              code counted at level 0);
 *   l1-tdp     the guest under an L0 hypervisor with TDP: EPT on Intel,
 *              NPT on AMD (vm/hv_tdp.h; guest code at level 1);
 *   l1-shadow  the guest under an L0 hypervisor with shadow paging
 *              (vm/hv_shadow.h; guest code at level 1);
 *   l2-tdp-on-tdp  the guest is L2: L0 runs an L1 VM with TDP; the L1 OS
 *              (4-level, the guest's vCPU count) runs the L1 hypervisor,
 *              the same TDP engine at level 1, which runs the guest with
 *              EPT12/NPT12; L0 runs it on EPT02/NPT02, the shadow of EPT12
 *              (vm/hv_nest.h; guest code at level 2);
 *   l2-pv      the guest is L2 as above, but L1 runs it with paravirtual
 *              nested paging (seed 003, KPOP): L1 keeps its own record and
 *              tells L0 each mapping by a hypercall, L0 writes it into one
 *              EPT02/NPT02 (vm/hv_pv.h, vm/hv_nest_pv.c); no EPT12.
 *   l2-shadow-on-tdp  the guest is L2: L0 runs the L1 VM with TDP as
 *              above; the L1 hypervisor is the shadow-paging engine at
 *              level 1 (tables SPT12 in L1 memory); L0 runs the guest on
 *              SPT12 under EPT01/NPT01, reflecting its #PF, MOV CRn,
 *              INVLPG... to L1 (vm/hv_nest.h; guest code at level 2);
 *   l2-shadow-on-shadow  the guest is L2: L0 runs the L1 VM with shadow
 *              paging (SPT01); the L1 hypervisor, the shadow engine at
 *              level 1, runs the guest on SPT12 (in L1 memory); L0 runs
 *              it on SPT02, its shadow of SPT12 (vm/hv_nest.h).
 *
 * What is reported covers the workload only: the counters are a
 * difference between the end of the run and the moment the guest OS had
 * booted (its boot is the same in every configuration and would only blur
 * the comparison); pt_peak gauges are the peaks of the whole run.
 *
 * Checking (run_options.check): the guest OS model's oracle (guest/check.h:
 * every live mapping translated independently from the guest's own tables
 * and compared with what the hardware finds through the hypervisor's
 * structures and TLBs) after every guest operation, and with it the shadow
 * MMU's bookkeeping check (shadow_check: L0's, and the L1 hypervisor's) and
 * the nested configuration's isolation checker (hv_nest_check: ntdp_check
 * for l2-tdp-on-tdp, kpop_check for l2-pv, every SPT02 leaf against SPT12
 * and L1's memory for l2-shadow-on-shadow) and tdp_check of L0's EPT01.
 * Slow; for tests.
 */
#ifndef NESTMMU_SIM_RUN_H
#define NESTMMU_SIM_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/cpu.h"
#include "sim/cost.h"
#include "sim/counters.h"
#include "workload/workload.h"

enum run_cfg {
	RUN_NATIVE,
	RUN_L1_TDP,
	RUN_L1_SHADOW,
	RUN_L2_SHADOW_ON_SHADOW,
	RUN_L2_SHADOW_ON_TDP,
	RUN_L2_TDP_ON_TDP,
	RUN_L2_PV,
	RUN_CFGS,
};

const char *run_cfg_name(enum run_cfg c);
/* -1 if unknown. */
int run_cfg_from_name(const char *name);
/* Level of the counters of the guest OS's own code in a configuration (0 native, 1 ...). */
enum cnt_level run_cfg_guest_level(enum run_cfg c);
/* One sentence: what the configuration is. */
const char *run_cfg_help(enum run_cfg c);

struct run_options {
	enum cpu_vendor vendor;    /* EPT (Intel) or NPT (AMD) */
	unsigned vcpus;            /* 1..64 */
	enum paging_mode mode;     /* the guest OS's paging mode (not NONE) */
	uint64_t ram_bytes;        /* guest RAM */
	bool pcid;                 /* the guest uses PCIDs (4/5-level only) */
	unsigned tdp_levels;       /* 4 or 5 */
	unsigned tdp_max_level;    /* largest TDP leaf: 1 4K, 2 2M, 3 1G */
	bool shadow_unsync;        /* shadow paging: unsync leaf tables */
	bool ipi_exits;            /* sending an IPI exits (no IPI virtualization) */
	bool vmcs_shadowing;       /* Intel, nested: L1's VMREAD/VMWRITE complete without exits */
	bool check;                /* the oracle after every guest operation */
	struct wl_params wl;
};

/* Defaults: Intel, 1 vCPU, 4-level, 4 GiB, PCID, 4-level TDP up to 1 GiB leaves, unsync, IPI exits, kbuild. */
void run_options_default(struct run_options *o);
/* NULL if usable, else what is wrong. */
const char *run_options_invalid(const struct run_options *o);

#define RUN_ERROR_MAX 256

struct run_result {
	enum run_cfg cfg;
	bool ok;
	char error[RUN_ERROR_MAX];  /* !ok: why the run failed */
	struct counters cnt;        /* the workload's events (see above) */
	struct wl_report wl;
	struct cost_estimate est;
	double host_seconds;        /* how long the simulation took (informational, not a result) */
	unsigned vcpus;             /* the run's vCPU count (run_options.vcpus) */
	uint64_t checks;            /* oracle runs (check) */
	uint64_t sim_bytes;         /* host memory stored by the simulated machine (page contents) */
};

/* Runs configuration `c`. Returns true if the run completed (r->ok). */
bool run_one(const struct run_options *o, enum run_cfg c, const struct cost_profile *p, struct run_result *r);

/* ---- figures derived from a result, for reports ---- */

/* TLB misses / lookups of the guest's accesses (0 if none). */
double run_tlb_miss_rate(const struct run_result *r);
/* Hardware walk references (both dimensions) per walk (0 if none). */
double run_refs_per_walk(const struct run_result *r);
/* Peak page-table pages of the guest OS, and of the hypervisor(s) (EPT/NPT, shadow). */
uint64_t run_guest_pt_pages(const struct run_result *r);
uint64_t run_hv_pt_pages(const struct run_result *r);
/* All exits (every level, every handler). */
uint64_t run_exits(const struct run_result *r);
/*
 * Exits per page fault of the workload's guest OS: what one guest page
 * fault costs in exits, the same denominator in every configuration (0
 * without faults).
 */
double run_exits_per_guest_pf(const struct run_result *r);
/*
 * Exit multiplication: all exits (of every level) per exit of the
 * workload's guest itself - 1 for a guest of L0, more for L2 where
 * handling one L2 exit makes L1 exit (0 without guest exits).
 */
double run_exit_multiplication(const struct run_result *r);
/*
 * Peak page-table pages by the level of the software that owns them
 * (summed peaks of each kind): level 0 = L0's EPT01/NPT01, shadow and
 * EPT02 tables (and the native OS's own); level 1 = the L1 OS's tables and
 * the L1 hypervisor's EPT12 / shadow tables; level 2 = L2's OS.
 */
uint64_t run_pt_pages_of_level(const struct run_result *r, enum cnt_level l);

#endif
