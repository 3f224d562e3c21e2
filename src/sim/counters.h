/*
 * counters.h - every event the simulator counts, in one plain struct.
 *
 * The struct holds only uint64_t counters, in named fields that are either
 * scalars per level or small arrays indexed by the enums below; the
 * iteration functions give each value a stable dotted name for reports,
 * JSON and CSV, e.g. "exits.l2.reflected.ept_violation", "walk_refs.l1.nested",
 * "pt_peak.ept02".
 *
 * Counting rules (what the cost model in cost.h relies on; each piece of
 * work is counted once, so composite costs come out of the mechanism):
 *
 *  - An exit is one hardware VM exit followed by the VM entry that resumes
 *    a guest. It is counted where it happened (the level of the guest that
 *    exited: l1 or l2) and by who handled it: by_l0 when L0 handled it and
 *    resumed the same guest, reflected when L0 emulated a VM exit into L1
 *    (the L1 handler then runs; its own exits - VMREAD/VMWRITE, and the
 *    VMRESUME/VMRUN that ends it - are counted as exits at l1).
 *  - Per-level arrays indexed by a "guest" level count what the code running
 *    at that level did (l0 = bare metal / the host, l1, l2). Arrays indexed by
 *    a "hypervisor" level (sw_*, tdp_*, spt_*) count the software work of the
 *    hypervisor at that level (l0 or l1; l2 never is one).
 *    Exits at l1 are always handled by L0 (exits.l1.reflected.* stay 0).
 *  - Page-table pages are counted by kind (enum cnt_pt); allocation and
 *    free are monotonic counters, pt_peak is a gauge (the highest number of
 *    live pages of the kind): use counters_pt_alloc()/counters_pt_free().
 *    Shadow pages allocated/freed are pt_alloc/pt_free of shadow_l0/shadow_l1.
 *  - docs/cost-model.md says which counters the cost model charges and
 *    which only inform (their work being charged through other counters).
 */
#ifndef NESTMMU_SIM_COUNTERS_H
#define NESTMMU_SIM_COUNTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Virtualization level: l0 runs on the hardware, l1 is its guest, l2 is L1's guest. */
enum cnt_level { CNT_L0, CNT_L1, CNT_L2, CNT_LEVELS };

/* Who handled an exit. */
enum cnt_handler {
	CNT_BY_L0,      /* L0 alone */
	CNT_REFLECTED,  /* reflected to L1 (L0 emulated a VM exit into L1) */
	CNT_HANDLERS,
};

/* Exit reasons. */
enum cnt_exit {
	CNT_EXIT_EPT_VIOLATION,
	CNT_EXIT_EPT_MISCONFIG,
	CNT_EXIT_NPF,           /* AMD #VMEXIT(NPF) */
	CNT_EXIT_PF,            /* #PF intercepted (shadow paging) */
	CNT_EXIT_CR3_WRITE,
	CNT_EXIT_INVLPG,
	CNT_EXIT_INVPCID,
	CNT_EXIT_CR0_CR4_WRITE,
	CNT_EXIT_HYPERCALL,     /* VMCALL / VMMCALL; the type is in hypercalls[] */
	CNT_EXIT_VMRESUME,      /* VMLAUNCH/VMRESUME, VMRUN (a nested VM entry) */
	CNT_EXIT_VMREAD_VMWRITE,/* also VMLOAD/VMSAVE when intercepted on AMD */
	CNT_EXIT_INVEPT,
	CNT_EXIT_INVVPID,
	CNT_EXIT_INVLPGA,
	CNT_EXIT_INTERRUPT,     /* IPI sent or interrupt received */
	CNT_EXIT_HLT,
	CNT_EXIT_OTHER,
	CNT_EXITS,
};

/* Translation caches (those of arch/tlb.h). */
enum cnt_tlb {
	CNT_TLB_TLB,   /* the TLB: linear -> physical */
	CNT_TLB_PSC,   /* paging-structure caches of the guest (or only) walk */
	CNT_TLB_NPSC,  /* paging-structure caches of the nested walk */
	CNT_TLB_NTLB,  /* nested TLB: guest-physical -> host-physical */
	CNT_TLBS,
};

/* Dimension of a walk (as walk_step.dim in arch/walk.h). */
enum cnt_dim {
	CNT_DIM_GUEST,  /* the guest's tables (or the only dimension) */
	CNT_DIM_NESTED, /* the EPT/NPT tables translating guest-physical addresses */
	CNT_DIMS,
};

/* TLB invalidations, by what they drop. */
enum cnt_flush {
	CNT_FLUSH_ADDR,          /* one address: INVLPG, INVPCID 0, INVVPID 0, INVLPGA */
	CNT_FLUSH_PCID,          /* one PCID: flushing MOV CR3, INVPCID 1 */
	CNT_FLUSH_ALL_NONGLOBAL, /* every PCID except global entries: INVPCID 3 */
	CNT_FLUSH_ALL,           /* everything incl. global: CR4.PGE toggle, INVPCID 2 */
	CNT_FLUSH_VPID,          /* one VPID/ASID: INVVPID 1-3, TLB_CONTROL, transitions */
	CNT_FLUSH_EPT_CTX,       /* INVEPT single-context */
	CNT_FLUSH_EPT_ALL,       /* INVEPT global */
	CNT_FLUSHES,
};

/* Hypercalls, by type. */
enum cnt_hcall {
	CNT_HC_OTHER,
	CNT_HC_TLB_FLUSH,        /* paravirtual remote TLB flush */
	CNT_HC_PV_MMU_LOAD,      /* KPOP (seed 003): load a guest MMU */
	CNT_HC_PV_MMU_UNLOAD,
	CNT_HC_PV_MAP,           /* map a range of L2 frames to L1 frames */
	CNT_HC_PV_UNMAP,
	CNT_HC_PV_ZAP_RANGE,
	CNT_HC_PV_ZAP_ALL,
	CNT_HCALLS,
};

/* Kinds of page-table pages (NPT instead of EPT on AMD). */
enum cnt_pt {
	CNT_PT_GUEST_L0,  /* the native OS's own page tables */
	CNT_PT_GUEST_L1,  /* L1's guest OS page tables (gva -> gpa) */
	CNT_PT_GUEST_L2,  /* L2's guest OS page tables */
	CNT_PT_EPT01,     /* L0's TDP tables for L1 (L1 gpa -> hpa) */
	CNT_PT_SHADOW_L0, /* shadow tables built by L0 (in host memory) */
	CNT_PT_SHADOW_L1, /* shadow tables built by L1 for L2 (in L1 memory) */
	CNT_PT_EPT12,     /* L1's TDP tables for L2 (in L1 memory) */
	CNT_PT_EPT02,     /* L0's TDP tables for L2 (shadow of EPT12, or KPOP's table) */
	CNT_PTS,
};

struct counters {
	/* VM exits: [level that exited][who handled][reason]; l0 never exits */
	uint64_t exits[CNT_LEVELS][CNT_HANDLERS][CNT_EXITS];
	/* page faults delivered to the OS at each level (its #PF handler ran) */
	uint64_t guest_pf[CNT_LEVELS];
	/* operations executed by the code at each level, and how many were memory accesses */
	uint64_t instructions[CNT_LEVELS];
	uint64_t mem_accesses[CNT_LEVELS];
	/* lookups of each translation cache: [level running][structure] */
	uint64_t tlb_hits[CNT_LEVELS][CNT_TLBS];
	uint64_t tlb_misses[CNT_LEVELS][CNT_TLBS];
	/* hardware page walks, their memory references and A/D stores */
	uint64_t walks[CNT_LEVELS];
	uint64_t walk_refs[CNT_LEVELS][CNT_DIMS];
	uint64_t ad_writes[CNT_LEVELS][CNT_DIMS];
	/* software walks by a hypervisor (guest tables, EPT12), [hypervisor level] */
	uint64_t sw_walks[CNT_LEVELS];
	uint64_t sw_walk_refs[CNT_LEVELS];  /* entries read */
	uint64_t sw_ad_writes[CNT_LEVELS];  /* A/D bits set in a guest table by software */
	/* TDP MMU, [hypervisor level] */
	uint64_t tdp_faults[CNT_LEVELS];         /* violations fixed (informational) */
	uint64_t tdp_entries_set[CNT_LEVELS];    /* entries written (installed or changed) */
	uint64_t tdp_entries_zapped[CNT_LEVELS]; /* entries cleared */
	/* shadow MMU, [hypervisor level] */
	uint64_t spt_faults[CNT_LEVELS];          /* #PF fixed in the shadow tables (informational) */
	uint64_t spt_writes_trapped[CNT_LEVELS];  /* guest writes to protected guest tables */
	uint64_t spt_writes_emulated[CNT_LEVELS]; /* of those, emulated by the hypervisor */
	uint64_t spt_entries_set[CNT_LEVELS];     /* shadow entries written */
	uint64_t spt_entries_zapped[CNT_LEVELS];  /* shadow entries cleared */
	uint64_t spt_unsync[CNT_LEVELS];          /* shadow pages marked unsync */
	uint64_t spt_sync[CNT_LEVELS];            /* unsync pages synced */
	uint64_t spt_sync_entries[CNT_LEVELS];    /* entries compared while syncing */
	uint64_t spt_zaps[CNT_LEVELS];            /* shadow pages zapped (informational) */
	uint64_t spt_root_hits[CNT_LEVELS];       /* CR3 switch found in the root cache */
	uint64_t spt_root_misses[CNT_LEVELS];     /* CR3 switch needing a new root */
	/* TLB invalidations executed on the (simulated) processor, [level issuing] */
	uint64_t flushes[CNT_LEVELS][CNT_FLUSHES];
	/* interprocessor interrupts delivered (one per target) and shootdowns started */
	uint64_t ipis[CNT_LEVELS];
	uint64_t shootdowns[CNT_LEVELS];
	/* hypercalls, [calling level][type] */
	uint64_t hypercalls[CNT_LEVELS][CNT_HCALLS];
	/* page-table pages, by kind */
	uint64_t pt_alloc[CNT_PTS];
	uint64_t pt_free[CNT_PTS];
	uint64_t pt_peak[CNT_PTS]; /* gauge: most pages of the kind live at once */
};

/* Names of the enum values as they appear in counter names. */
const char *cnt_level_name(enum cnt_level l);
const char *cnt_handler_name(enum cnt_handler h);
const char *cnt_exit_name(enum cnt_exit r);
const char *cnt_tlb_name(enum cnt_tlb s);
const char *cnt_dim_name(enum cnt_dim d);
const char *cnt_flush_name(enum cnt_flush f);
const char *cnt_hcall_name(enum cnt_hcall h);
const char *cnt_pt_name(enum cnt_pt k);
/* The level whose memory holds page-table pages of a kind. */
enum cnt_level cnt_pt_owner(enum cnt_pt k);

/* ---- operations ---- */

void counters_zero(struct counters *c);

/* a += b (counters and pt_peak alike: peaks of disjoint runs add up). */
void counters_add(struct counters *a, const struct counters *b);

/*
 * out = after - before, for snapshots of one run (out may alias either).
 * pt_peak is a gauge: out takes after's value. Returns false if some
 * counter of `before` exceeds `after` (those come out as 0).
 */
bool counters_diff(struct counters *out, const struct counters *after, const struct counters *before);

/* ---- iteration over (name, value) ---- */

/* Number of named values; indices 0..counters_count()-1 are stable. */
size_t counters_count(void);

/* Writes the name of value i into buf. False if i is out of range or buf too small. */
bool counters_name(size_t i, char *buf, size_t len);

/* What the family of value i counts (one sentence). NULL if out of range. */
const char *counters_help(size_t i);

/* Value i (0 if out of range). */
uint64_t counters_get(const struct counters *c, size_t i);

/* Address of value i, to set it by index (NULL if out of range). */
uint64_t *counters_at(struct counters *c, size_t i);

/* Index of a name. False if there is no such counter. */
bool counters_find(const char *name, size_t *i);

/*
 * Calls fn for every value in index order (skipping zeros if skip_zero).
 * Stops at the first non-zero return of fn and returns it; 0 otherwise.
 */
typedef int (*counters_visit_fn)(void *ctx, const char *name, uint64_t value);
int counters_foreach(const struct counters *c, bool skip_zero, counters_visit_fn fn, void *ctx);

/* Longest name, with its terminating NUL. */
#define COUNTERS_NAME_MAX 64

/* ---- helpers ---- */

/* Sum of exits matching a level, handler and reason; a negative argument matches any. */
uint64_t counters_exits_sum(const struct counters *c, int level, int handler, int reason);

/* Sum of a per-level array. */
uint64_t counters_sum_levels(const uint64_t v[CNT_LEVELS]);

static inline void counters_pt_alloc(struct counters *c, enum cnt_pt k)
{
	uint64_t live;

	c->pt_alloc[k]++;
	live = c->pt_alloc[k] - c->pt_free[k];
	if (live > c->pt_peak[k])
		c->pt_peak[k] = live;
}

static inline void counters_pt_free(struct counters *c, enum cnt_pt k)
{
	c->pt_free[k]++;
}

/* Pages of a kind live now (allocated minus freed). */
static inline uint64_t counters_pt_live(const struct counters *c, enum cnt_pt k)
{
	return c->pt_alloc[k] - c->pt_free[k];
}

#endif
