/*
 * kpop_pt.c - the EPT02 / NPT02 table of a KPOP guest MMU: one
 * directed-only TDP MMU (mmu/tdp.h, slots == NULL) per guest MMU, in host
 * memory through L0's port, filled by tdp_map with 4 KiB leaves (L1 names
 * pages one by one and its L1 frames need not be contiguous in host
 * memory) and emptied by tdp_unmap, which frees tables left empty.
 *
 * The TDP MMU keeps the accounting (tdp.h's rules): entries set and zapped
 * as tdp_entries_set/zapped[CNT_L0], table pages as CNT_PT_EPT02, and the
 * pending flush when a leaf is removed, moved or loses a right. The leaf
 * encodings here are the same as tdp_map's; they serve the checker and the
 * rights of a leaf read back.
 */
#include <stddef.h>

#include "arch/x86.h"
#include "mmu/kpop_internal.h"

/* ---- encodings ---- */

bool kpt_has_ad(const struct kpop *kp)
{
	return kp->cfg.kind == KPOP_NPT || kp->cfg.ept_ad;
}

uint64_t kpt_a_bit(const struct kpop *kp)
{
	return pt_accessed_bit(&kp->fmt);
}

uint64_t kpt_w_bit(const struct kpop *kp)
{
	return kp->cfg.kind == KPOP_EPT ? EPT_W : PTE_RW;
}

uint64_t kpt_leaf_make(const struct kpop *kp, uint64_t hfn, unsigned rights)
{
	uint64_t e = (hfn << 12) & kp->addr_mask;

	if (kp->cfg.kind == KPOP_EPT) {
		e |= EPT_R | ((uint64_t)MT_WB << EPT_MT_SHIFT) | EPT_IPAT;
		if (rights & KPOP_PERM_W)
			e |= EPT_W;
		if (rights & KPOP_PERM_X)
			e |= EPT_X;
	} else {
		e |= PTE_P | PTE_US;
		if (rights & KPOP_PERM_W)
			e |= PTE_RW;
		if (!(rights & KPOP_PERM_X))
			e |= PTE_XD;
	}
	return e;
}

unsigned kpt_leaf_rights(const struct kpop *kp, uint64_t e)
{
	unsigned r = 0;

	if (kp->cfg.kind == KPOP_EPT) {
		r |= (e & EPT_R) ? KPOP_PERM_R : 0;
		r |= (e & EPT_W) ? KPOP_PERM_W : 0;
		r |= (e & EPT_X) ? KPOP_PERM_X : 0;
	} else if (e & PTE_P) {
		r = KPOP_PERM_R | ((e & PTE_RW) ? KPOP_PERM_W : 0) | ((e & PTE_XD) ? 0 : KPOP_PERM_X);
	}
	return r;
}

uint64_t kpt_leaf_hfn(const struct kpop *kp, uint64_t e)
{
	return (e & kp->addr_mask) >> 12;
}

/* ---- the TDP MMU of a guest MMU ---- */

enum mem_status kpt_create(struct kpop *kp, struct kpop_mmu *m)
{
	struct tdp_config c = {
		.kind = kp->cfg.kind == KPOP_EPT ? TDP_EPT : TDP_NPT,
		.levels = kp->cfg.levels,
		.max_level = 1,
		.ept_ad = kp->cfg.ept_ad,
		.maxphyaddr = kp->cfg.maxphyaddr,
		.dirty_mode = TDP_DIRTY_WP,
		.port = kp->cfg.port,
		.slots = NULL, /* directed only */
		.counters = kp->cfg.counters,
		.cnt_level = CNT_L0,
		.cnt_pt = CNT_PT_EPT02,
	};

	m->t = tdp_create(&c, NULL);
	if (!m->t)
		return MEM_NOMEM;
	m->root = tdp_root_pa(m->t);
	return MEM_OK;
}

void kpt_free(struct kpop *kp, struct kpop_mmu *m, bool all)
{
	(void)kp;
	if (!all) {
		(void)tdp_zap_all(m->t);
		return;
	}
	tdp_destroy(m->t);
	m->t = NULL;
	m->root = 0;
}

uint64_t kpt_get(struct kpop *kp, struct kpop_mmu *m, uint64_t l2_gfn)
{
	struct tdp_mapping map;

	(void)kp;
	if (!tdp_lookup(m->t, l2_gfn, &map))
		return 0;
	return map.entry;
}

enum mem_status kpt_set(struct kpop *kp, struct kpop_mmu *m, uint64_t l2_gfn, uint64_t leaf)
{
	int r;

	if (!leaf)
		return tdp_unmap(m->t, l2_gfn, 1) < 0 ? MEM_NOMEM : MEM_OK;
	/* KPOP_PERM_R/W/X are RIGHT_R/W/X */
	r = tdp_map(m->t, l2_gfn, kpt_leaf_hfn(kp, leaf), 1, kpt_leaf_rights(kp, leaf));
	return r == TDP_OK ? MEM_OK : MEM_NOMEM;
}

bool kpt_test_age(struct kpop *kp, struct kpop_mmu *m, uint64_t l2_gfn)
{
	(void)kp;
	return tdp_test_age(m->t, l2_gfn, 1);
}

bool kpt_age(struct kpop *kp, struct kpop_mmu *m, uint64_t l2_gfn)
{
	(void)kp;
	return tdp_age(m->t, l2_gfn, 1);
}
