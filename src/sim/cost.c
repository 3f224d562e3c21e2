/*
 * cost.c - the constants of the cost model (names, units, ranges), the two
 * built-in profiles with their sources, and the estimate.
 *
 * Sources: the figures of /work/shared/REFERENCES.md ("Cost constants")
 * name where they come from; every other constant says "assumption:" and
 * why its magnitude is what it is. docs/cost-model.md is the same table for
 * people.
 */
#include "sim/cost.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The per-reason, per-type and per-scope constants follow the counters' enums. */
_Static_assert(CP_EXIT_OTHER - CP_EXIT_EPT_VIOLATION == CNT_EXIT_OTHER, "exit constants follow enum cnt_exit");
_Static_assert(CP_HC_PV_ZAP_ALL - CP_HC_OTHER == CNT_HC_PV_ZAP_ALL, "hypercall constants follow enum cnt_hcall");
_Static_assert(CP_FLUSH_EPT_ALL - CP_FLUSH_ADDR == CNT_FLUSH_EPT_ALL, "flush constants follow enum cnt_flush");

#define CYC COST_UNIT_CYCLES
#define FRAC COST_UNIT_FRACTION
#define MAX_CYCLES 1e7 /* no single event of the model takes 10 million cycles */

static const struct cost_param_info infos[COST_PARAMS] = {
	[CP_FREQ_GHZ] = { "freq_ghz", COST_UNIT_GHZ, 0.1, 20, "clock frequency converting cycles to seconds" },
	[CP_LAT_L1] = { "lat_l1", CYC, 0, 1000, "load hitting the L1 data cache" },
	[CP_LAT_L2] = { "lat_l2", CYC, 0, 1000, "load hitting the L2 cache" },
	[CP_LAT_LLC] = { "lat_llc", CYC, 0, 10000, "load hitting the last-level cache" },
	[CP_LAT_DRAM] = { "lat_dram", CYC, 0, 100000, "load served by DRAM" },
	[CP_WALK_HIT_L1] = { "walk_hit_l1", FRAC, 0, 1, "fraction of walk references hitting L1" },
	[CP_WALK_HIT_L2] = { "walk_hit_l2", FRAC, 0, 1, "fraction of walk references hitting L2" },
	[CP_WALK_HIT_LLC] = { "walk_hit_llc", FRAC, 0, 1, "fraction of walk references hitting the LLC" },
	[CP_WALK_HIT_DRAM] = { "walk_hit_dram", FRAC, 0, 1, "fraction of walk references going to DRAM" },
	[CP_TLB_MISS] = { "tlb_miss", CYC, 0, MAX_CYCLES, "a TLB miss before its walk starts" },
	[CP_AD_UPDATE] = { "ad_update", CYC, 0, MAX_CYCLES, "one A/D flag store into a paging-structure entry" },
	[CP_INSTRUCTION] = { "instruction", CYC, 0, MAX_CYCLES, "one operation executed" },
	[CP_MEM_ACCESS] = { "mem_access", CYC, 0, MAX_CYCLES, "the data access of a memory operation" },
	[CP_PF_DELIVERY] = { "pf_delivery", CYC, 0, MAX_CYCLES, "#PF delivery through the IDT and the IRET" },
	[CP_OS_PF_HANDLER] = { "os_pf_handler", CYC, 0, MAX_CYCLES, "the OS's software path of one page fault" },
	[CP_VMEXIT_ROUNDTRIP] = { "vmexit_roundtrip", CYC, 0, MAX_CYCLES, "one VM exit + entry through the fastest path" },
	[CP_EXIT_REFLECT] = { "exit_reflect", CYC, 0, MAX_CYCLES, "L0 emulating a VM exit into L1" },
	[CP_EXIT_EPT_VIOLATION] = { "exit_ept_violation", CYC, 0, MAX_CYCLES, "EPT violation handler" },
	[CP_EXIT_EPT_MISCONFIG] = { "exit_ept_misconfig", CYC, 0, MAX_CYCLES, "EPT misconfiguration handler" },
	[CP_EXIT_NPF] = { "exit_npf", CYC, 0, MAX_CYCLES, "#NPF handler" },
	[CP_EXIT_PF] = { "exit_pf", CYC, 0, MAX_CYCLES, "intercepted #PF handler" },
	[CP_EXIT_CR3_WRITE] = { "exit_cr3_write", CYC, 0, MAX_CYCLES, "MOV to CR3 handler" },
	[CP_EXIT_INVLPG] = { "exit_invlpg", CYC, 0, MAX_CYCLES, "INVLPG handler" },
	[CP_EXIT_INVPCID] = { "exit_invpcid", CYC, 0, MAX_CYCLES, "INVPCID handler" },
	[CP_EXIT_CR0_CR4_WRITE] = { "exit_cr0_cr4_write", CYC, 0, MAX_CYCLES, "MOV to CR0/CR4 handler" },
	[CP_EXIT_HYPERCALL] = { "exit_hypercall", CYC, 0, MAX_CYCLES, "hypercall dispatch (the work is hc_*)" },
	[CP_EXIT_VMRESUME] = { "exit_vmresume_vmrun", CYC, 0, MAX_CYCLES, "L0 emulating a nested VM entry" },
	[CP_EXIT_VMREAD_VMWRITE] = { "exit_vmread_vmwrite", CYC, 0, MAX_CYCLES, "VMREAD/VMWRITE emulation" },
	[CP_EXIT_INVEPT] = { "exit_invept", CYC, 0, MAX_CYCLES, "INVEPT emulation" },
	[CP_EXIT_INVVPID] = { "exit_invvpid", CYC, 0, MAX_CYCLES, "INVVPID emulation" },
	[CP_EXIT_INVLPGA] = { "exit_invlpga", CYC, 0, MAX_CYCLES, "INVLPGA emulation" },
	[CP_EXIT_INTERRUPT] = { "exit_interrupt", CYC, 0, MAX_CYCLES, "interrupt/IPI exit handler" },
	[CP_EXIT_HLT] = { "exit_hlt", CYC, 0, MAX_CYCLES, "HLT handler (no idle time)" },
	[CP_EXIT_OTHER] = { "exit_other", CYC, 0, MAX_CYCLES, "any other exit's handler" },
	[CP_HC_OTHER] = { "hc_other", CYC, 0, MAX_CYCLES, "other hypercall's handler" },
	[CP_HC_TLB_FLUSH] = { "hc_tlb_flush", CYC, 0, MAX_CYCLES, "PV TLB flush hypercall's handler" },
	[CP_HC_PV_MMU_LOAD] = { "hc_pv_mmu_load", CYC, 0, MAX_CYCLES, "KPOP MMU load handler" },
	[CP_HC_PV_MMU_UNLOAD] = { "hc_pv_mmu_unload", CYC, 0, MAX_CYCLES, "KPOP MMU unload handler" },
	[CP_HC_PV_MAP] = { "hc_pv_map", CYC, 0, MAX_CYCLES, "KPOP map handler (entries counted apart)" },
	[CP_HC_PV_UNMAP] = { "hc_pv_unmap", CYC, 0, MAX_CYCLES, "KPOP unmap handler (entries counted apart)" },
	[CP_HC_PV_ZAP_RANGE] = { "hc_pv_zap_range", CYC, 0, MAX_CYCLES, "KPOP zap-range handler" },
	[CP_HC_PV_ZAP_ALL] = { "hc_pv_zap_all", CYC, 0, MAX_CYCLES, "KPOP zap-all handler" },
	[CP_SW_WALK_STEP] = { "sw_walk_step", CYC, 0, MAX_CYCLES, "code of one level of a software walk" },
	[CP_SW_ENTRY_SET] = { "sw_entry_set", CYC, 0, MAX_CYCLES, "write one TDP/shadow entry" },
	[CP_SW_ENTRY_ZAP] = { "sw_entry_zap", CYC, 0, MAX_CYCLES, "clear one TDP/shadow entry" },
	[CP_SPT_WRITE_EMULATE] = { "spt_write_emulate", CYC, 0, MAX_CYCLES, "emulate one trapped guest page-table write" },
	[CP_SPT_UNSYNC] = { "spt_unsync", CYC, 0, MAX_CYCLES, "mark one shadow page unsync" },
	[CP_SPT_SYNC] = { "spt_sync", CYC, 0, MAX_CYCLES, "sync one unsync page (fixed part)" },
	[CP_SPT_SYNC_ENTRY] = { "spt_sync_entry", CYC, 0, MAX_CYCLES, "compare one entry while syncing" },
	[CP_PT_PAGE_ALLOC] = { "pt_page_alloc", CYC, 0, MAX_CYCLES, "allocate and zero one page-table page" },
	[CP_PT_PAGE_FREE] = { "pt_page_free", CYC, 0, MAX_CYCLES, "free one page-table page" },
	[CP_FLUSH_ADDR] = { "flush_addr", CYC, 0, MAX_CYCLES, "invalidate one address" },
	[CP_FLUSH_PCID] = { "flush_pcid", CYC, 0, MAX_CYCLES, "invalidate one PCID" },
	[CP_FLUSH_ALL_NONGLOBAL] = { "flush_all_nonglobal", CYC, 0, MAX_CYCLES, "invalidate all but global" },
	[CP_FLUSH_ALL] = { "flush_all", CYC, 0, MAX_CYCLES, "invalidate everything" },
	[CP_FLUSH_VPID] = { "flush_vpid", CYC, 0, MAX_CYCLES, "invalidate one VPID/ASID" },
	[CP_FLUSH_EPT_CTX] = { "flush_ept_ctx", CYC, 0, MAX_CYCLES, "INVEPT single-context" },
	[CP_FLUSH_EPT_ALL] = { "flush_ept_all", CYC, 0, MAX_CYCLES, "INVEPT global" },
	[CP_IPI] = { "ipi", CYC, 0, MAX_CYCLES, "send one IPI and take it on the target" },
	[CP_SHOOTDOWN] = { "shootdown", CYC, 0, MAX_CYCLES, "initiator's fixed work per shootdown" },
};

const struct cost_param_info *cost_param_info(enum cost_param p)
{
	return ((int)p >= 0 && p < COST_PARAMS) ? &infos[p] : NULL;
}

const char *cost_unit_name(enum cost_unit u)
{
	switch (u) {
	case COST_UNIT_CYCLES: return "cycles";
	case COST_UNIT_FRACTION: return "fraction";
	case COST_UNIT_GHZ: return "GHz";
	}
	return "?";
}

int cost_param_find(const char *name)
{
	for (int p = 0; p < COST_PARAMS; p++)
		if (strcmp(infos[p].name, name) == 0)
			return p;
	return -1;
}

/* ---- built-in profiles ---- */

/* One constant in both profiles; amd_src NULL: the same source as intel's. */
struct builtin {
	double intel, amd;
	const char *intel_src, *amd_src;
};

#define KUT_EXIT "KVM commit recording kvm-unit-tests' vmexit INVD test (REFERENCES.md): "
#define CACHE_REF "REFERENCES.md, current server parts: "
#define WALK_MIX "assumption: walk references are mostly served by caches - upper levels by L1/L2, " \
	"leaves of large footprints further out - one mix for every workload (no cache model); "
#define HANDLER "assumption: hypervisor software beyond the fastest exit path; "
#define KPOP "assumption: validation and lookup of a KPOP (seed 003) hypercall; entries it writes are counted apart"
#define FLUSH "assumption: executing the invalidation; the refills show up as misses and walks"

static const struct builtin builtins[COST_PARAMS] = {
	[CP_FREQ_GHZ] = { 3.0, 3.0,
		"assumption: 3.0 GHz, a sustained all-core clock between base and maximum turbo of a current "
		"server part; it scales seconds only, never ratios", NULL },
	[CP_LAT_L1] = { 5, 4, CACHE_REF "L1 about 4-5 cycles; 5 taken for Intel",
		CACHE_REF "L1 about 4-5 cycles; 4 taken for AMD" },
	[CP_LAT_L2] = { 14, 14, CACHE_REF "L2 about 14 cycles", NULL },
	[CP_LAT_LLC] = { 70, 50, CACHE_REF "LLC about 40-70 cycles; upper end for Intel's mesh-connected LLC (assumption)",
		CACHE_REF "LLC about 40-70 cycles; 50 for AMD's CCX-local L3 (assumption)" },
	[CP_LAT_DRAM] = { 320, 320, CACHE_REF "DRAM about 200-350 cycles; 320 taken (assumption: ~107 ns at 3 GHz)", NULL },
	[CP_WALK_HIT_L1] = { 0.50, 0.50, WALK_MIX "50% L1", NULL },
	[CP_WALK_HIT_L2] = { 0.30, 0.30, WALK_MIX "30% L2", NULL },
	[CP_WALK_HIT_LLC] = { 0.15, 0.15, WALK_MIX "15% LLC", NULL },
	[CP_WALK_HIT_DRAM] = { 0.05, 0.05, WALK_MIX "5% DRAM", NULL },
	[CP_TLB_MISS] = { 7, 7,
		"Intel's event descriptions: a first-level DTLB miss that hits the second-level TLB costs ~7 "
		"cycles (REFERENCES.md); charged to every miss of the modeled TLB",
		"assumption: Intel's ~7 cycles for a first-level DTLB miss hitting the second-level TLB "
		"(REFERENCES.md) taken for Zen 5's L2 DTLB too" },
	[CP_AD_UPDATE] = { 20, 20, "assumption: a locked read-modify-write of a cache line the walk has just read", NULL },
	[CP_INSTRUCTION] = { 1, 1, "assumption: one operation per cycle on average", NULL },
	[CP_MEM_ACCESS] = { 5, 4,
		"assumption: the data access hits the L1 data cache (lat_l1, 5 on Intel); there is no data-cache model",
		"assumption: the data access hits the L1 data cache (lat_l1, 4 on AMD); there is no data-cache model" },
	[CP_PF_DELIVERY] = { 250, 250, "assumption: exception delivery through the IDT, the kernel entry and the IRET", NULL },
	[CP_OS_PF_HANDLER] = { 1500, 1500,
		"assumption: an OS's minor-fault path (find the mapping, allocate and zero a page); the "
		"page-table writes it makes are counted as memory accesses", NULL },
	[CP_VMEXIT_ROUNDTRIP] = { 790, 1530, KUT_EXIT "about 770-810 cycles on Intel Emerald Rapids; midpoint",
		KUT_EXIT "about 1,500-1,560 cycles on AMD Zen 5 (Turin); midpoint" },
	[CP_EXIT_REFLECT] = { 1500, 1500,
		"assumption: L0 stores the exit information and L2 state into vmcs12/vmcb12 and switches to "
		"vmcs01/vmcb01 (tens of fields); the exit's round trip is counted apart", NULL },
	[CP_EXIT_EPT_VIOLATION] = { 400, 400, HANDLER "read the qualification, find the memslot and host page", NULL },
	[CP_EXIT_EPT_MISCONFIG] = { 400, 400, HANDLER "MMIO dispatch (instruction emulation of MMIO is not modeled)", NULL },
	[CP_EXIT_NPF] = { 400, 400, HANDLER "read EXITINFO1/2, find the memslot and host page", NULL },
	[CP_EXIT_PF] = { 400, 400, HANDLER "read CR2 and the error code, dispatch to the shadow MMU or reinject", NULL },
	[CP_EXIT_CR3_WRITE] = { 300, 300, HANDLER "look up the root cache and reload the MMU context", NULL },
	[CP_EXIT_INVLPG] = { 200, 200, HANDLER "decode, find the shadow entries of the address", NULL },
	[CP_EXIT_INVPCID] = { 300, 300, HANDLER "decode the descriptor and the type", NULL },
	[CP_EXIT_CR0_CR4_WRITE] = { 500, 500, HANDLER "recompute the paging mode and reset the MMU context", NULL },
	[CP_EXIT_HYPERCALL] = { 0, 0, "assumption: nothing beyond the hypercall's own handler (hc_*)", NULL },
	[CP_EXIT_VMRESUME] = { 2500, 2500,
		HANDLER "L0 checks vmcs12/vmcb12 and builds vmcs02/vmcb02 from it and vmcs01 (about a hundred fields)", NULL },
	[CP_EXIT_VMREAD_VMWRITE] = { 150, 150, HANDLER "decode and access one field of vmcs12", NULL },
	[CP_EXIT_INVEPT] = { 300, 300, HANDLER "decode, find the EPT02 contexts in scope", NULL },
	[CP_EXIT_INVVPID] = { 300, 300, HANDLER "decode, map the VPID and address", NULL },
	[CP_EXIT_INVLPGA] = { 200, 200, HANDLER "map the ASID and address", NULL },
	[CP_EXIT_INTERRUPT] = { 300, 300, HANDLER "acknowledge and deliver or inject one interrupt", NULL },
	[CP_EXIT_HLT] = { 200, 200, HANDLER "block and wake the vCPU (idle time is not modeled)", NULL },
	[CP_EXIT_OTHER] = { 200, 200, HANDLER "a simple emulated instruction", NULL },
	[CP_HC_OTHER] = { 200, 200, "assumption: a simple hypercall handler", NULL },
	[CP_HC_TLB_FLUSH] = { 300, 300, "assumption: decode the vCPU set and request the flushes (flushes and IPIs counted apart)", NULL },
	[CP_HC_PV_MMU_LOAD] = { 1000, 1000, KPOP "; look up or create a refcounted guest MMU", NULL },
	[CP_HC_PV_MMU_UNLOAD] = { 800, 800, KPOP "; drop a reference", NULL },
	[CP_HC_PV_MAP] = { 400, 400, KPOP, NULL },
	[CP_HC_PV_UNMAP] = { 400, 400, KPOP, NULL },
	[CP_HC_PV_ZAP_RANGE] = { 400, 400, KPOP, NULL },
	[CP_HC_PV_ZAP_ALL] = { 600, 600, KPOP, NULL },
	[CP_SW_WALK_STEP] = { 20, 20, "assumption: index, load and check one entry in software; the load itself is charged as a walk reference", NULL },
	[CP_SW_ENTRY_SET] = { 30, 30, "assumption: compute and store one entry and record its reverse map", NULL },
	[CP_SW_ENTRY_ZAP] = { 40, 40, "assumption: clear one entry and remove its reverse-map link", NULL },
	[CP_SPT_WRITE_EMULATE] = { 800, 800,
		"assumption: fetch and decode the trapping instruction and emulate the write (an x86 emulator pass)", NULL },
	[CP_SPT_UNSYNC] = { 100, 100, "assumption: mark the page and its parents unsync, drop write protection", NULL },
	[CP_SPT_SYNC] = { 150, 150, "assumption: fixed part of syncing one page (entries compared are counted apart)", NULL },
	[CP_SPT_SYNC_ENTRY] = { 30, 30, "assumption: read one guest entry and compare it with its shadow", NULL },
	[CP_PT_PAGE_ALLOC] = { 300, 300, "assumption: take a page from a free list and zero 4 KiB (64 cache lines)", NULL },
	[CP_PT_PAGE_FREE] = { 100, 100, "assumption: return a page to a free list", NULL },
	[CP_FLUSH_ADDR] = { 150, 150, FLUSH, NULL },
	[CP_FLUSH_PCID] = { 200, 200, FLUSH, NULL },
	[CP_FLUSH_ALL_NONGLOBAL] = { 300, 300, FLUSH, NULL },
	[CP_FLUSH_ALL] = { 400, 400, FLUSH, NULL },
	[CP_FLUSH_VPID] = { 200, 200, FLUSH, NULL },
	[CP_FLUSH_EPT_CTX] = { 300, 300, FLUSH, NULL },
	[CP_FLUSH_EPT_ALL] = { 400, 400, FLUSH, NULL },
	[CP_IPI] = { 2000, 2000,
		"assumption: write the ICR, deliver the interrupt and run the target's entry, handler, EOI and return", NULL },
	[CP_SHOOTDOWN] = { 500, 500, "assumption: the initiator builds the target set and waits for acknowledgements (IPIs counted apart)", NULL },
};

static void copy_str(char *dst, size_t len, const char *src)
{
	size_t n = strlen(src);

	if (n >= len)
		n = len - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void fill_builtin(struct cost_profile *out, bool amd)
{
	memset(out, 0, sizeof(*out));
	copy_str(out->name, sizeof(out->name), amd ? "amd" : "intel");
	copy_str(out->base, sizeof(out->base), amd ? "amd" : "intel");
	for (int p = 0; p < COST_PARAMS; p++) {
		const struct builtin *b = &builtins[p];
		const char *src = (amd && b->amd_src) ? b->amd_src : b->intel_src;

		out->v[p].value = amd ? b->amd : b->intel;
		copy_str(out->v[p].source, sizeof(out->v[p].source), src);
	}
}

int cost_profile_builtin(const char *name, struct cost_profile *out)
{
	if (strcmp(name, "intel") == 0)
		fill_builtin(out, false);
	else if (strcmp(name, "amd") == 0)
		fill_builtin(out, true);
	else
		return -1;
	return 0;
}

void cost_profile_for_vendor(enum cpu_vendor v, struct cost_profile *out)
{
	fill_builtin(out, v == CPU_AMD);
}

bool cost_profile_check(const struct cost_profile *p, char *err, size_t errlen)
{
	double sum = 0;

	for (int k = 0; k < COST_PARAMS; k++) {
		double v = p->v[k].value;

		if (!isfinite(v) || v < infos[k].min || v > infos[k].max) {
			snprintf(err, errlen, "%s = %g is outside %g..%g %s", infos[k].name, v,
				 infos[k].min, infos[k].max, cost_unit_name(infos[k].unit));
			return false;
		}
	}
	for (int k = CP_WALK_HIT_L1; k <= CP_WALK_HIT_DRAM; k++)
		sum += p->v[k].value;
	if (sum < 1.0 - 1e-6 || sum > 1.0 + 1e-6) {
		snprintf(err, errlen, "walk_hit_l1 + walk_hit_l2 + walk_hit_llc + walk_hit_dram = %g, must be 1", sum);
		return false;
	}
	return true;
}

/* ---- the estimate ---- */

static const char *const cat_names[COST_CATS] = {
	[COST_CAT_EXITS] = "exits",
	[COST_CAT_HYPERCALLS] = "hypercalls",
	[COST_CAT_TLB] = "tlb",
	[COST_CAT_WALKS] = "walks",
	[COST_CAT_SW_WALKS] = "sw_walks",
	[COST_CAT_TDP_MMU] = "tdp_mmu",
	[COST_CAT_SHADOW_MMU] = "shadow_mmu",
	[COST_CAT_PT_PAGES] = "pt_pages",
	[COST_CAT_GUEST_FAULTS] = "guest_faults",
	[COST_CAT_FLUSHES] = "flushes",
	[COST_CAT_IPIS] = "ipis",
	[COST_CAT_INSTRUCTIONS] = "instructions",
	[COST_CAT_MEMORY] = "memory",
};

const char *cost_cat_name(enum cost_cat c)
{
	return ((int)c >= 0 && c < COST_CATS) ? cat_names[c] : "?";
}

static double val(const struct cost_profile *p, enum cost_param k)
{
	return p->v[k].value;
}

double cost_walk_ref_cycles(const struct cost_profile *p)
{
	return val(p, CP_WALK_HIT_L1) * val(p, CP_LAT_L1) + val(p, CP_WALK_HIT_L2) * val(p, CP_LAT_L2) +
	       val(p, CP_WALK_HIT_LLC) * val(p, CP_LAT_LLC) + val(p, CP_WALK_HIT_DRAM) * val(p, CP_LAT_DRAM);
}

double cost_exit_cycles(const struct cost_profile *p, enum cnt_handler h, enum cnt_exit r)
{
	double c = val(p, CP_VMEXIT_ROUNDTRIP) + val(p, (enum cost_param)(CP_EXIT_EPT_VIOLATION + r));

	if (h == CNT_REFLECTED)
		c += val(p, CP_EXIT_REFLECT);
	return c;
}

/* Sum over the levels of one per-level counter, as a double. */
static double lv(const uint64_t v[CNT_LEVELS])
{
	return (double)counters_sum_levels(v);
}

void cost_estimate(const struct cost_profile *p, const struct counters *c, struct cost_estimate *e)
{
	double *cat = e->cat_cycles;
	double wref = cost_walk_ref_cycles(p);

	memset(e, 0, sizeof(*e));

	for (int l = 0; l < CNT_LEVELS; l++) {
		for (int h = 0; h < CNT_HANDLERS; h++)
			for (int r = 0; r < CNT_EXITS; r++)
				cat[COST_CAT_EXITS] += (double)c->exits[l][h][r] *
					cost_exit_cycles(p, (enum cnt_handler)h, (enum cnt_exit)r);
		for (int t = 0; t < CNT_HCALLS; t++)
			cat[COST_CAT_HYPERCALLS] += (double)c->hypercalls[l][t] * val(p, (enum cost_param)(CP_HC_OTHER + t));
		for (int f = 0; f < CNT_FLUSHES; f++)
			cat[COST_CAT_FLUSHES] += (double)c->flushes[l][f] * val(p, (enum cost_param)(CP_FLUSH_ADDR + f));

		cat[COST_CAT_TLB] += (double)c->tlb_misses[l][CNT_TLB_TLB] * val(p, CP_TLB_MISS);
		for (int d = 0; d < CNT_DIMS; d++)
			cat[COST_CAT_WALKS] += (double)c->walk_refs[l][d] * wref +
					       (double)c->ad_writes[l][d] * val(p, CP_AD_UPDATE);
	}

	cat[COST_CAT_SW_WALKS] = lv(c->sw_walk_refs) * (val(p, CP_SW_WALK_STEP) + wref) +
				 lv(c->sw_ad_writes) * val(p, CP_AD_UPDATE);

	cat[COST_CAT_TDP_MMU] = lv(c->tdp_entries_set) * val(p, CP_SW_ENTRY_SET) +
				lv(c->tdp_entries_zapped) * val(p, CP_SW_ENTRY_ZAP);

	cat[COST_CAT_SHADOW_MMU] = lv(c->spt_entries_set) * val(p, CP_SW_ENTRY_SET) +
				   lv(c->spt_entries_zapped) * val(p, CP_SW_ENTRY_ZAP) +
				   lv(c->spt_writes_emulated) * val(p, CP_SPT_WRITE_EMULATE) +
				   lv(c->spt_unsync) * val(p, CP_SPT_UNSYNC) +
				   lv(c->spt_sync) * val(p, CP_SPT_SYNC) +
				   lv(c->spt_sync_entries) * val(p, CP_SPT_SYNC_ENTRY);

	for (int k = 0; k < CNT_PTS; k++)
		cat[COST_CAT_PT_PAGES] += (double)c->pt_alloc[k] * val(p, CP_PT_PAGE_ALLOC) +
					  (double)c->pt_free[k] * val(p, CP_PT_PAGE_FREE);

	cat[COST_CAT_GUEST_FAULTS] = lv(c->guest_pf) * (val(p, CP_PF_DELIVERY) + val(p, CP_OS_PF_HANDLER));
	cat[COST_CAT_IPIS] = lv(c->ipis) * val(p, CP_IPI) + lv(c->shootdowns) * val(p, CP_SHOOTDOWN);
	cat[COST_CAT_INSTRUCTIONS] = lv(c->instructions) * val(p, CP_INSTRUCTION);
	cat[COST_CAT_MEMORY] = lv(c->mem_accesses) * val(p, CP_MEM_ACCESS);

	for (int k = 0; k < COST_CATS; k++)
		e->cycles += cat[k];
	e->seconds = e->cycles / (val(p, CP_FREQ_GHZ) * 1e9);
}
