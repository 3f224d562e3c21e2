/*
 * cost.h - the cost model: a profile of single-event constants, each with a
 * unit, a value and a source, and the function that turns a set of
 * counters (counters.h) into estimated cycles and seconds, by category.
 *
 * Every constant is the cost of one event (one VM exit round trip, one
 * memory reference of a walk, one page-fault delivery, ...); nothing is
 * fitted to an end-to-end result. A composite cost (a nested exit, a fork,
 * a context switch) is the sum of the events the simulator counted for it.
 * docs/cost-model.md lists every constant, its values and sources, and the
 * formula.
 */
#ifndef NESTMMU_SIM_COST_H
#define NESTMMU_SIM_COST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "arch/cpu.h"
#include "sim/counters.h"

enum cost_param {
	/* the processor */
	CP_FREQ_GHZ,            /* converts cycles to seconds */
	CP_LAT_L1,              /* load-to-use latency of each level of the memory hierarchy */
	CP_LAT_L2,
	CP_LAT_LLC,
	CP_LAT_DRAM,
	CP_WALK_HIT_L1,         /* fraction of walk references served by each level */
	CP_WALK_HIT_L2,
	CP_WALK_HIT_LLC,
	CP_WALK_HIT_DRAM,
	CP_TLB_MISS,            /* a TLB miss before its walk (first-level miss, second-level lookup) */
	CP_AD_UPDATE,           /* one A/D flag store (locked read-modify-write) */
	CP_INSTRUCTION,         /* one guest operation */
	CP_MEM_ACCESS,          /* the data access of a memory operation */
	CP_PF_DELIVERY,         /* exception delivery to the OS and IRET */
	CP_OS_PF_HANDLER,       /* the OS's software path of a page fault */
	/* virtualization */
	CP_VMEXIT_ROUNDTRIP,    /* one VM exit + VM entry through the hypervisor's fastest path */
	CP_EXIT_REFLECT,        /* L0 emulating a VM exit into L1 */
	CP_EXIT_EPT_VIOLATION,  /* handler work per exit reason, same order as enum cnt_exit */
	CP_EXIT_EPT_MISCONFIG,
	CP_EXIT_NPF,
	CP_EXIT_PF,
	CP_EXIT_CR3_WRITE,
	CP_EXIT_INVLPG,
	CP_EXIT_INVPCID,
	CP_EXIT_CR0_CR4_WRITE,
	CP_EXIT_HYPERCALL,
	CP_EXIT_VMRESUME,
	CP_EXIT_VMREAD_VMWRITE,
	CP_EXIT_INVEPT,
	CP_EXIT_INVVPID,
	CP_EXIT_INVLPGA,
	CP_EXIT_INTERRUPT,
	CP_EXIT_HLT,
	CP_EXIT_OTHER,
	CP_HC_OTHER,            /* hypercall handler work per type, same order as enum cnt_hcall */
	CP_HC_TLB_FLUSH,
	CP_HC_PV_MMU_LOAD,
	CP_HC_PV_MMU_UNLOAD,
	CP_HC_PV_MAP,
	CP_HC_PV_UNMAP,
	CP_HC_PV_ZAP_RANGE,
	CP_HC_PV_ZAP_ALL,
	/* hypervisor MMU software */
	CP_SW_WALK_STEP,        /* code of one level of a software walk (its read is a walk reference) */
	CP_SW_ENTRY_SET,        /* write one TDP or shadow entry (with reverse-map bookkeeping) */
	CP_SW_ENTRY_ZAP,        /* clear one entry (and its reverse-map link) */
	CP_SPT_WRITE_EMULATE,   /* emulate one trapped write to a guest page table */
	CP_SPT_UNSYNC,          /* mark one shadow page unsync */
	CP_SPT_SYNC,            /* sync one unsync page (fixed part) */
	CP_SPT_SYNC_ENTRY,      /* compare one entry while syncing */
	CP_PT_PAGE_ALLOC,       /* allocate and zero one page-table page */
	CP_PT_PAGE_FREE,        /* free one page-table page */
	/* TLB invalidations, same order as enum cnt_flush */
	CP_FLUSH_ADDR,
	CP_FLUSH_PCID,
	CP_FLUSH_ALL_NONGLOBAL,
	CP_FLUSH_ALL,
	CP_FLUSH_VPID,
	CP_FLUSH_EPT_CTX,
	CP_FLUSH_EPT_ALL,
	/* interprocessor interrupts */
	CP_IPI,                 /* send one IPI and take it on the target */
	CP_SHOOTDOWN,           /* the initiator's fixed work per shootdown */
	COST_PARAMS,
};

enum cost_unit {
	COST_UNIT_CYCLES,
	COST_UNIT_FRACTION, /* 0..1 */
	COST_UNIT_GHZ,
};

struct cost_param_info {
	const char *name;       /* as in profile files */
	enum cost_unit unit;
	double min, max;        /* accepted range (outside: an absurd value) */
	const char *what;       /* the single event it costs */
};

const struct cost_param_info *cost_param_info(enum cost_param p);
const char *cost_unit_name(enum cost_unit u);
/* Index of a constant's name, or -1. */
int cost_param_find(const char *name);

#define COST_SOURCE_MAX 256
#define COST_NAME_MAX 96

struct cost_value {
	double value;
	char source[COST_SOURCE_MAX]; /* citation, or "assumption: ..." */
};

struct cost_profile {
	char name[COST_NAME_MAX]; /* "intel", "amd", or "<base>+<file>" */
	char base[8];             /* the built-in it derives from: "intel" or "amd" */
	struct cost_value v[COST_PARAMS];
};

/* Built-in profiles: "intel" (Emerald Rapids) and "amd" (Zen 5 Turin). Returns 0, or -1 if unknown. */
int cost_profile_builtin(const char *name, struct cost_profile *out);
void cost_profile_for_vendor(enum cpu_vendor v, struct cost_profile *out);

/*
 * Loads a profile file over *base: lines "name value [# source]", blank
 * lines and "# comment" lines; optionally "base intel|amd" before any
 * constant (then the built-in replaces *base as the starting point). A
 * constant's source becomes the line's comment, or "FILE:LINE" without one.
 * On success returns 0 and *base is the new profile. On error returns -1,
 * writes "FILE:LINE: what" into err and leaves *base unchanged.
 */
int cost_profile_load(const char *path, struct cost_profile *base, char *err, size_t errlen);
/* The same from an open stream; `fname` names it in messages and sources. */
int cost_profile_load_stream(FILE *in, const char *fname, struct cost_profile *base, char *err, size_t errlen);

/* Writes a profile in the file format (loading it gives the same values and sources). 0 or -1. */
int cost_profile_dump(const struct cost_profile *p, FILE *out);

/*
 * Checks a profile's values: each finite and within its range, the walk_hit_*
 * fractions summing to 1. Returns true if fine, else false with a message in err.
 */
bool cost_profile_check(const struct cost_profile *p, char *err, size_t errlen);

/* ---- the estimate ---- */

enum cost_cat {
	COST_CAT_EXITS,        /* round trips, reflection, exit handlers */
	COST_CAT_HYPERCALLS,   /* hypercall handlers */
	COST_CAT_TLB,          /* TLB misses (before the walk) */
	COST_CAT_WALKS,        /* hardware walk references and A/D stores */
	COST_CAT_SW_WALKS,     /* software walks and software A/D stores */
	COST_CAT_TDP_MMU,      /* TDP entries set and zapped */
	COST_CAT_SHADOW_MMU,   /* shadow entries, write emulation, unsync/sync */
	COST_CAT_PT_PAGES,     /* page-table pages allocated and freed */
	COST_CAT_GUEST_FAULTS, /* page faults delivered to and handled by an OS */
	COST_CAT_FLUSHES,      /* TLB invalidations */
	COST_CAT_IPIS,         /* IPIs and shootdowns */
	COST_CAT_INSTRUCTIONS, /* operations executed */
	COST_CAT_MEMORY,       /* data accesses */
	COST_CATS,
};

const char *cost_cat_name(enum cost_cat c);

struct cost_estimate {
	double cycles;                 /* sum of cat_cycles */
	double seconds;                /* cycles / (freq_ghz * 1e9) */
	double cat_cycles[COST_CATS];
};

/* Cycles charged per walk reference: the sum of walk_hit_X * lat_X. */
double cost_walk_ref_cycles(const struct cost_profile *p);

/* Cycles charged per exit of a reason, by handler (round trip + reflection + handler). */
double cost_exit_cycles(const struct cost_profile *p, enum cnt_handler h, enum cnt_exit r);

/* The estimate for a set of counters (all levels, all vCPUs: CPU time, not wall time). */
void cost_estimate(const struct cost_profile *p, const struct counters *c, struct cost_estimate *e);

#endif
