/*
 * kpop_internal.h - the KPOP component's own state, shared by its files:
 *   kpop.c        configuration, the guest-MMU table, records and reverse
 *                 map, hypercall dispatch, load / unload
 *   kpop_hc.c     MAP / UNMAP / ZAP_RANGE / ZAP_ALL: reading, validating,
 *                 applying
 *   kpop_pt.c     the EPT02/NPT02 tables: one directed-only TDP MMU
 *                 (tdp_map/tdp_unmap/tdp_lookup) per guest MMU, 4 KiB leaves
 *   kpop_ops.c    faults, gpa2 -> gpa1, aging, page tracking, dirty logging,
 *                 the memslot notifier
 *   kpop_check.c  the isolation checker
 *   kpop_fuzz.c   the byte-string driver
 * Not for use outside src/mmu/kpop*.
 */
#ifndef NESTMMU_MMU_KPOP_INTERNAL_H
#define NESTMMU_MMU_KPOP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/pt_format.h"
#include "mem/u64map.h"
#include "mmu/kpop.h"
#include "mmu/tdp.h"

#define KPOP_PORT_RETRIES 64
#define KPOP_HANDLE_IDX_BITS 12
#define KPOP_HANDLE_IDX_MASK ((1u << KPOP_HANDLE_IDX_BITS) - 1)
#define KPOP_HANDLE_GEN_MAX  ((1u << (31 - KPOP_HANDLE_IDX_BITS)) - 1)

/*
 * One mapping L1 asked for (a record): L2 gfn of one MMU -> L1 gfn, perms.
 * Records live in one array (index 0 unused) with a free list; each MMU
 * finds its records by L2 gfn (mmu.rec: l2 gfn -> index), the reverse map
 * by L1 gfn (kpop.rmap: l1 gfn -> first index, then a doubly linked list).
 */
struct kpop_rec {
	uint64_t l2_gfn;
	uint64_t l1_gfn;
	uint32_t prev, next;  /* reverse-map list of l1_gfn (0: none); next = free list when unused */
	uint16_t mmu;         /* index of the MMU */
	uint8_t perms;        /* KPOP_PERM_*; 0: unused */
	uint8_t pad;
};

struct kpop_mmu {
	bool used;
	uint32_t gen;         /* generation (part of the handle) */
	uint64_t holder;
	uint32_t as_id;
	uint32_t refs;
	struct u64map rec;    /* l2 gfn -> record index */
	struct tdp_mmu *t;    /* its EPT02/NPT02: a directed-only TDP MMU */
	uint64_t root;        /* root table (port address) */
	bool flush;           /* TLB flush pending */
};

struct kpop_tracker {
	kpop_track_fn fn;
	void *ctx;
	bool used;
};

struct kpop {
	struct kpop_config cfg;
	struct pt_format fmt;
	uint64_t addr_mask;
	uint64_t l2_gfn_limit;
	int notifier;
	struct kpop_mmu *mmus;  /* [cfg.max_mmus] */
	unsigned nmmus;
	struct kpop_rec *recs;  /* [0, rec_cap) */
	uint32_t rec_cap, rec_free;
	uint64_t rec_live;
	struct u64map rmap;     /* l1 gfn -> first record index */
	struct u64map tracked;  /* l1 gfn -> tracking references */
	struct kpop_tracker trackers[KPOP_TRACK_MAX_USERS];
	struct kpop_stats stats;
};

/* ---- kpop.c ---- */

struct kpop_mmu *kpop_mmu_get(const struct kpop *kp, uint64_t handle);
uint32_t kpop_mmu_handle(const struct kpop *kp, const struct kpop_mmu *m);
static inline unsigned kpop_mmu_index(const struct kpop *kp, const struct kpop_mmu *m)
{
	return (unsigned)(m - kp->mmus);
}
/* Makes sure `extra` records can be added without allocation. 0 or -1. */
int kpop_rec_reserve(struct kpop *kp, uint64_t extra);
/* Adds a record (capacity reserved first; the maps reserved too). Returns its index. */
uint32_t kpop_rec_add(struct kpop *kp, struct kpop_mmu *m, uint64_t l2_gfn, uint64_t l1_gfn, unsigned perms);
/* Changes the L1 gfn / perms of a record (moves it in the reverse map). */
void kpop_rec_update(struct kpop *kp, uint32_t idx, uint64_t l1_gfn, unsigned perms);
/* Removes a record (not its leaf). */
void kpop_rec_del(struct kpop *kp, uint32_t idx);
/* Record index of (mmu, l2 gfn), or 0. */
uint32_t kpop_rec_find(const struct kpop *kp, const struct kpop_mmu *m, uint64_t l2_gfn);
/* Removes the record and the leaf of (mmu, l2 gfn); true if there was one. */
bool kpop_unmap_one(struct kpop *kp, struct kpop_mmu *m, uint64_t l2_gfn);
/* Removes every record and leaf of an MMU; returns the pages removed. */
uint64_t kpop_unmap_all(struct kpop *kp, struct kpop_mmu *m);
/* Removes the records and leaves of [l2_gfn, l2_gfn + n) of an MMU. */
uint64_t kpop_unmap_range(struct kpop *kp, struct kpop_mmu *m, uint64_t l2_gfn, uint64_t n);
void kpop_request_flush(struct kpop *kp, struct kpop_mmu *m);

/* ---- kpop_hc.c ---- */

int64_t kpop_hc_map(struct kpop *kp, uint64_t gpa, uint64_t count);
int64_t kpop_hc_unmap(struct kpop *kp, uint64_t gpa, uint64_t count);
int64_t kpop_hc_zap_range(struct kpop *kp, uint64_t l2_gfn, uint64_t npages);
int64_t kpop_hc_zap_all(struct kpop *kp, uint64_t handle, uint64_t a1);

/* ---- kpop_pt.c: the tables ---- */

uint64_t kpt_leaf_make(const struct kpop *kp, uint64_t hfn, unsigned rights);
unsigned kpt_leaf_rights(const struct kpop *kp, uint64_t leaf);  /* KPOP_PERM_* */
uint64_t kpt_leaf_hfn(const struct kpop *kp, uint64_t leaf);
uint64_t kpt_a_bit(const struct kpop *kp);
uint64_t kpt_w_bit(const struct kpop *kp);
bool kpt_has_ad(const struct kpop *kp);
/* The table of a new MMU (m->t, m->root). MEM_OK, or MEM_NOMEM. */
enum mem_status kpt_create(struct kpop *kp, struct kpop_mmu *m);
/* Frees the MMU's table (all of it), or only empties it (the root stays). */
void kpt_free(struct kpop *kp, struct kpop_mmu *m, bool all);
/* The leaf of l2 gfn (0: none). */
uint64_t kpt_get(struct kpop *kp, struct kpop_mmu *m, uint64_t l2_gfn);
/*
 * Writes the leaf of l2 gfn: `leaf` made by kpt_leaf_make (0: removes it,
 * freeing tables left empty). A/D are kept when the frame stays. The TDP
 * MMU keeps the counts and raises its flush flag when a right or the
 * frame is lost. MEM_OK, or MEM_NOMEM (no table page; nothing mapped).
 */
enum mem_status kpt_set(struct kpop *kp, struct kpop_mmu *m, uint64_t l2_gfn, uint64_t leaf);
/* Aging of one leaf (tdp_test_age / tdp_age rules). */
bool kpt_test_age(struct kpop *kp, struct kpop_mmu *m, uint64_t l2_gfn);
bool kpt_age(struct kpop *kp, struct kpop_mmu *m, uint64_t l2_gfn);

/* ---- kpop_ops.c ---- */

/* Rights L0 grants for a record now (perms ∩ what the L1 page allows), KPOP_PERM_*. */
unsigned kpop_grant(struct kpop *kp, uint64_t l1_gfn, unsigned perms);
/* Installs the leaf of a record from its L1 gfn (backing allocated). MEM_* status. */
enum mem_status kpop_install(struct kpop *kp, struct kpop_mmu *m, uint32_t idx);
void kpop_slot_notify(void *ctx, const struct memslot_event *ev);

#endif
