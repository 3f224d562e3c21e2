/*
 * tdp_internal.h - the TDP MMU's own state and the pieces its files share:
 * entry encodings (tdp_pte.c), the one place entries are written, table
 * pages allocated and freed (tdp_pte.c), the iterators (tdp_iter.c), page
 * tracking (tdp_track.c), zapping (tdp_zap.c), dirty logging and aging
 * (tdp_dirty.c). Not for use outside src/mmu/tdp*.
 */
#ifndef NESTMMU_MMU_TDP_INTERNAL_H
#define NESTMMU_MMU_TDP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/pt_format.h"
#include "mem/u64map.h"
#include "mmu/tdp.h"

#define TDP_ENTRIES 512u
/* How many times a port access answered MEM_RETRY is repeated. */
#define TDP_PORT_RETRIES 64

struct tdp_tracker {
	struct u64map gfns;   /* gfn -> tracking references (> 0) */
	struct u64map r2m;    /* gfn >> 9  -> tracked gfns in that 2 MiB region */
	struct u64map r1g;    /* gfn >> 18 -> tracked gfns in that 1 GiB region */
	struct {
		tdp_track_fn fn;
		void *ctx;
		bool used;
	} users[TDP_TRACK_MAX_USERS];
};

struct tdp_mmu {
	struct tdp_config cfg;
	struct pt_format fmt; /* the hardware's description of our tables */
	uint64_t root;
	uint64_t addr_mask;   /* address bits an entry may hold */
	int notifier;         /* memslots notifier handle */
	bool need_flush;
	/* table page (pa >> 12) -> present entries (bits 15:0) | level << 16 | first gfn / 512 << 20 */
	struct u64map tables;
	struct tdp_tracker track;
	struct tdp_stats stats;
};

/* ---- entries (tdp_pte.c) ---- */

static inline uint64_t tdp_level_pages(unsigned level)
{
	return UINT64_C(1) << (9 * (level - 1));
}

bool tdp_pte_present(const struct tdp_mmu *t, uint64_t e);
/* Present and mapping a page at `level`. */
bool tdp_pte_leaf(const struct tdp_mmu *t, unsigned level, uint64_t e);
bool tdp_pte_writable(const struct tdp_mmu *t, uint64_t e);
/* Address of the page (leaf) or table (non-leaf) an entry references. */
uint64_t tdp_pte_addr(const struct tdp_mmu *t, unsigned level, uint64_t e);
uint64_t tdp_pte_table(const struct tdp_mmu *t, uint64_t table_pa);
uint64_t tdp_pte_leaf_make(const struct tdp_mmu *t, uint64_t pa, unsigned level, bool writable);
uint64_t tdp_pte_w_bit(const struct tdp_mmu *t);
uint64_t tdp_pte_a_bit(const struct tdp_mmu *t);
uint64_t tdp_pte_d_bit(const struct tdp_mmu *t);
/* Whether the format has A/D flags the hardware maintains. */
bool tdp_has_ad(const struct tdp_mmu *t);
/* The RIGHT_* a leaf grants (R, W, X). */
unsigned tdp_pte_rights(const struct tdp_mmu *t, uint64_t e);

/* ---- port access, bounded retries (tdp_pte.c) ---- */

enum mem_status tdp_read(struct tdp_mmu *t, uint64_t pa, uint64_t *val);

/*
 * Writes entry `index` of the table at `table` (level `level`) from `old`
 * to `new` by compare-exchange, keeping the accounting: present counts,
 * entries set / zapped, the pending flush, and when `old` referenced a
 * table that `new` does not, frees that subtree. In DBIT mode a D flag that
 * would be lost is first recorded in the dirty log of a logging slot. MEM_CHANGED (with *seen)
 * if the entry no longer held `old`; other failures counted as port errors.
 */
enum mem_status tdp_set_entry(struct tdp_mmu *t, uint64_t table, unsigned level, unsigned index,
			      uint64_t old, uint64_t new, uint64_t *seen);
/* Allocates a zeroed table page for `level`, covering gfns from `gfn`; MEM_OK with *pa. */
enum mem_status tdp_table_alloc(struct tdp_mmu *t, unsigned level, uint64_t gfn, uint64_t *pa);
/* Frees the table at `pa` (level `level`) and every table below it. */
void tdp_table_free_tree(struct tdp_mmu *t, uint64_t pa, unsigned level);
/* Present entries of a live table page. */
unsigned tdp_table_count(const struct tdp_mmu *t, uint64_t pa);
/*
 * Replaces the large leaf `leaf` (entry `index` of `table`, at `level` >= 2)
 * by a table of 512 leaves one level down with the same frames, rights and
 * A/D flags. MEM_OK with *new_entry (the table entry now in place).
 */
enum mem_status tdp_split_leaf(struct tdp_mmu *t, uint64_t table, unsigned level, unsigned index,
			       uint64_t leaf, uint64_t *new_entry);

void tdp_request_flush(struct tdp_mmu *t);

/* ---- iterators (tdp_iter.c) ---- */

/* The entries of one gpa, root first (KVM's tdp_iter is the idea). */
struct tdp_iter {
	struct tdp_mmu *t;
	uint64_t gpa;
	unsigned level;   /* level of the current entry */
	uint64_t table;   /* table holding it */
	unsigned index;   /* its index in that table */
	uint64_t val;     /* its value as read */
	enum mem_status st; /* MEM_OK while valid */
};

/* Reads the root entry for gpa. False if the read failed (it->st). */
bool tdp_iter_start(struct tdp_iter *it, struct tdp_mmu *t, uint64_t gpa);
/* Moves to the entry of the next level in the table the current (present, non-leaf) entry references. */
bool tdp_iter_down(struct tdp_iter *it);
/* Writes the current entry from it->val to `new` (tdp_set_entry); it->val follows. */
enum mem_status tdp_iter_set(struct tdp_iter *it, uint64_t new);

/* A leaf met by tdp_for_each_leaf. */
struct tdp_leaf {
	unsigned level;
	uint64_t gfn;     /* first gfn it maps */
	uint64_t table;   /* table holding it */
	unsigned index;
	uint64_t val;
};

/* What a leaf visitor asks for. */
enum tdp_visit {
	TDP_VISIT_NEXT,  /* go on */
	TDP_VISIT_SPLIT, /* split this large leaf and visit its children instead */
	TDP_VISIT_STOP,  /* stop the walk */
};

typedef enum tdp_visit (*tdp_leaf_fn)(struct tdp_mmu *t, const struct tdp_leaf *leaf, void *ctx);

/*
 * Calls fn for every present leaf overlapping gfns [start, end), in gfn
 * order. A split that cannot be made (no table page) zaps the leaf instead
 * (its pages refault) and is reported as TDP_ENOMEM after the walk.
 * Returns TDP_OK, TDP_ENOMEM or TDP_EPORT.
 */
int tdp_for_each_leaf(struct tdp_mmu *t, uint64_t start, uint64_t end, tdp_leaf_fn fn, void *ctx);

/* ---- tracking (tdp_track.c) ---- */

void tdp_tracker_init(struct tdp_tracker *tr);
void tdp_tracker_fini(struct tdp_tracker *tr);
/* True if no gfn of the aligned 2^(9*(level-1)) pages around gfn is tracked. */
bool tdp_tracker_range_free(const struct tdp_tracker *tr, uint64_t gfn, unsigned level);
bool tdp_tracker_is_tracked(const struct tdp_tracker *tr, uint64_t gfn);
/* Calls every registered tracker. */
void tdp_tracker_notify(struct tdp_mmu *t, uint64_t gpa, enum access_type access);

/* ---- zapping (tdp_zap.c) ---- */

void tdp_slot_notify(void *ctx, const struct memslot_event *ev);

/* ---- write protection (tdp_dirty.c) ---- */

/*
 * Removes W from every leaf of [start, end); with `split`, large leaves are
 * first split to 4 KiB (a split that cannot be made zaps the leaf instead).
 * Returns the leaves changed (zapped ones included).
 */
uint64_t tdp_write_protect_range(struct tdp_mmu *t, uint64_t start, uint64_t end, bool split);

#endif
