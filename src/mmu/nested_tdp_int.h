/*
 * nested_tdp_int.h - nested TDP's state and what its files share:
 *   nested_tdp.c        configuration, roots (cache, LRU), flushes, INVEPT,
 *                       L1 slot notifications;
 *   nested_tdp_fault.c  the EPT violation / #NPF handler;
 *   nested_tdp_rmap.c   the reverse maps (positions of EPT12 tables, EPT02
 *                       leaves by L1 gfn), write tracking, EPT12 stores.
 * Not for use outside src/mmu/nested_tdp*.
 */
#ifndef NESTMMU_MMU_NESTED_TDP_INT_H
#define NESTMMU_MMU_NESTED_TDP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "mem/guestmem.h"
#include "mem/u64map.h"
#include "mmu/nested_tdp.h"

/* A multimap u64 -> set of u64 (small sets): map key -> head node + 1. */
struct ntdp_mm_node {
	uint64_t val;
	uint32_t next; /* node index + 1; 0 ends the list */
};

struct ntdp_mm {
	struct u64map heads;
	struct ntdp_mm_node *nodes;
	uint32_t cap, used; /* nodes allocated, high-water mark */
	uint32_t free;      /* free list (index + 1) */
	uint64_t count;     /* values stored */
};

void ntdp_mm_init(struct ntdp_mm *m);
void ntdp_mm_fini(struct ntdp_mm *m);
/* Adds val to key's set (no duplicates). 0, or -1 when out of host memory. */
int ntdp_mm_add(struct ntdp_mm *m, uint64_t key, uint64_t val);
/* Removes val from key's set; true if it was there. */
bool ntdp_mm_del(struct ntdp_mm *m, uint64_t key, uint64_t val);
bool ntdp_mm_has(const struct ntdp_mm *m, uint64_t key);
/* Copies up to cap values of key's set into out; returns the set's size. */
unsigned ntdp_mm_get(const struct ntdp_mm *m, uint64_t key, uint64_t *out, unsigned cap);
/* Removes the whole set of key. */
void ntdp_mm_del_key(struct ntdp_mm *m, uint64_t key);

struct ntdp_root {
	bool used;
	struct ntdp_root12 key;
	struct hw_mmu hw12;  /* the 12 context (format and root of EPT12), paging off */
	struct tdp_mmu *t;   /* EPT02 / NPT02, directed only */
	uint64_t stamp;      /* last load (LRU) */
	bool flush;          /* a flush of its EPTP02 is owed to the hardware */
};

struct ntdp {
	struct ntdp_config cfg;
	struct guestmem l1mem;   /* L1's physical memory: slots + L0's port */
	struct ntdp_root roots[NTDP_MAX_ROOTS];
	int cur;                 /* current root, -1: none */
	uint64_t stamp;
	/*
	 * Positions of EPT12 tables: key = first gfn2 (a multiple of 512) |
	 * level (bits 2:0) | root (bits 8:3) -> the L1 gfn of the table.
	 */
	struct u64map pos;
	struct ntdp_mm tables;   /* table gfn1 -> its positions (the tracked pages) */
	struct u64map r2m, r1g;  /* tracked table pages per 2 MiB / 1 GiB of gpa1 */
	/* EPT02 leaves by what they map: (gfn1 base << 2 | level - 1) -> (root << 58 | gfn2 base) */
	struct ntdp_mm leaves;
	int notifier;
	struct ntdp_stats stats;
};

/* Pages a leaf (or the entry) at `level` maps. */
static inline uint64_t ntdp_level_pages(unsigned level)
{
	return UINT64_C(1) << (9 * (level - 1));
}

static inline uint64_t ntdp_pos_key(unsigned root, unsigned level, uint64_t gfn2)
{
	return gfn2 | level | ((uint64_t)root << 3);
}

#define NTDP_LEAF_ROOT_SHIFT 58

/* ---- nested_tdp.c ---- */
void ntdp_root_flush(struct ntdp *n, unsigned root);
/* Zaps [gfn2, gfn2 + npages) in one root, noting the flush. */
void ntdp_root_zap(struct ntdp *n, unsigned root, uint64_t gfn2, uint64_t npages);

/* ---- nested_tdp_rmap.c ---- */
/* Records that root's walk met table gfn1 at (level, first gfn2). 0 or NTDP_ENOMEM. */
int ntdp_pos_add(struct ntdp *n, unsigned root, unsigned level, uint64_t gfn2, uint64_t gfn1);
/* Forgets the position and every position below it (untracking pages left with none). */
void ntdp_pos_remove_tree(struct ntdp *n, unsigned root, unsigned level, uint64_t gfn2);
/* Forgets every position of a root. */
void ntdp_pos_remove_root(struct ntdp *n, unsigned root);
/* Forgets every position (untracking everything) and every leaf record. */
void ntdp_rmap_reset(struct ntdp *n);
/* True if no table page lies in the 2^(9(level-1)) gfn1s around gfn1. */
bool ntdp_table_free_range(const struct ntdp *n, uint64_t gfn1, unsigned level);
/* Records an EPT02 leaf of root mapping gfn2 -> gfn1 (bases) at level. */
void ntdp_leaf_add(struct ntdp *n, unsigned root, uint64_t gfn2, uint64_t gfn1, unsigned level);

#endif
