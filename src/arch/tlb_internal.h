/*
 * tlb_internal.h - the layout of struct tlb, shared by tlb.c (structures,
 * lookups, fills, scoped invalidation), tlb_inval.c (the architectural
 * invalidations) and tlb_access.c (the access path). Not for other users:
 * they go through tlb.h.
 */
#ifndef NESTMMU_ARCH_TLB_INTERNAL_H
#define NESTMMU_ARCH_TLB_INTERNAL_H

#include <stddef.h>

#include "arch/tlb.h"
#include "arch/walk.h"

/* One set-associative structure. */
struct tlb_array {
	struct tlb_entry *e;     /* sets * ways, set-major */
	unsigned sets, ways;
	unsigned *rr;            /* round-robin pointer per set */
	struct tlb_counts *cnt;  /* this structure's counters */
	struct tlb_counts *agg;  /* an aggregate to count too, or NULL */
};

struct tlb {
	struct tlb_config cfg;
	struct tlb_array tlb[TLB_NCLASS];
	struct tlb_array ntlb[TLB_NCLASS];
	struct tlb_array psc[PT_MAX_LEVELS + 1];  /* [2..5] */
	struct tlb_array npsc[PT_MAX_LEVELS + 1]; /* [2..5] */
	uint64_t clock;          /* LRU time */
	uint32_t vpid;           /* current VPID / ASID */
	struct tlb_context cur;
	struct tlb_stats st;
	/* hooks handed to the walker (tlb_bind) */
	struct walk_cache gpsc_hook, npsc_hook;
	struct hw_caches hooks;
	/*
	 * The register values tlb_bind() derived `cur` and `hooks` from: an
	 * access with the same values needs no new binding. `bound_valid` is
	 * cleared when the VPID or the context is set directly.
	 */
	bool bound_valid;
	uint64_t bound_cr3, bound_cr4, bound_eptp, bound_ncr4;
	enum nested_mode bound_nested;
	enum paging_mode bound_mode;
};

static inline bool tlb_array_present(const struct tlb_array *a)
{
	return a->e != NULL;
}

/* The TLB entry translating `la` in the current context, or NULL (no counting). */
struct tlb_entry *tlb_find(const struct tlb *t, uint64_t la, enum tlb_class *cls);
/* The nested TLB entry for `gpa` in the current context, or NULL (no counting). */
struct tlb_entry *tlb_ntlb_find(const struct tlb *t, uint64_t gpa);
/* PSC lookup; `count`: update counters and LRU (false for side-effect-free probes). */
bool tlb_psc_find(struct tlb *t, unsigned dim, uint64_t addr, unsigned *level,
		  uint64_t *table, unsigned *rights, bool count);
/* Marks a TLB hit (counters, LRU). */
void tlb_count_hit(struct tlb *t, struct tlb_entry *e, enum tlb_class cls);
/* Counts a TLB miss. */
void tlb_count_miss(struct tlb *t);
/* Drops one TLB entry from the hit path (counted as `dropped`). */
void tlb_drop_entry(struct tlb *t, struct tlb_entry *e, enum tlb_class cls);
/* tlb_flush_scope without counting the operation itself (only what it drops). */
unsigned tlb_scope_drop(struct tlb *t, const struct tlb_scope *s, enum tlb_op op);

#endif
