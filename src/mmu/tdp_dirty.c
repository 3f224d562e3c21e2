/*
 * tdp_dirty.c - dirty logging (by write protection or by D flags), write
 * protection of a range, and aging by A flags (rules in tdp.h).
 */
#include "mmu/tdp_internal.h"

/* ---- write protection ---- */

struct wp_ctx {
	bool split;
	uint64_t changed;
};

static enum tdp_visit wp_leaf(struct tdp_mmu *t, const struct tdp_leaf *leaf, void *ctx)
{
	struct wp_ctx *c = ctx;

	if (c->split && leaf->level > 1)
		return TDP_VISIT_SPLIT;
	if (!tdp_pte_writable(t, leaf->val))
		return TDP_VISIT_NEXT;
	if (tdp_set_entry(t, leaf->table, leaf->level, leaf->index, leaf->val,
			  leaf->val & ~tdp_pte_w_bit(t), NULL) == MEM_OK)
		c->changed++;
	return TDP_VISIT_NEXT;
}

uint64_t tdp_write_protect_range(struct tdp_mmu *t, uint64_t start, uint64_t end, bool split)
{
	struct wp_ctx c = { .split = split };
	uint64_t zapped = t->stats.entries_zapped;

	(void)tdp_for_each_leaf(t, start, end, wp_leaf, &c);
	return c.changed + (t->stats.entries_zapped - zapped);
}

/* ---- dirty logging ---- */

static int get_slot(struct tdp_mmu *t, uint32_t id, struct memslot_desc *d)
{
	if (!t->cfg.slots)
		return TDP_EINVAL; /* directed-only: no slots, no dirty logging */
	return memslots_get(t->cfg.slots, id, d) == MEMSLOT_OK ? TDP_OK : TDP_ENOENT;
}

struct dbit_ctx {
	bool harvest;     /* large leaves are split when arming, not when harvesting */
	uint64_t cleared; /* D flags cleared */
};

/*
 * Splits large leaves (arming); clears D. Clearing D through tdp_set_entry
 * records the page in the slot's log when the slot logs (harvest); when
 * arming, the slot does not log yet (the notification comes before the
 * flag changes), so writes made before logging began are not reported.
 */
static enum tdp_visit dbit_leaf(struct tdp_mmu *t, const struct tdp_leaf *leaf, void *ctx)
{
	struct dbit_ctx *c = ctx;
	uint64_t d = tdp_pte_d_bit(t);

	if (!c->harvest && leaf->level > 1)
		return TDP_VISIT_SPLIT;
	if (!(leaf->val & d))
		return TDP_VISIT_NEXT;
	if (tdp_set_entry(t, leaf->table, leaf->level, leaf->index, leaf->val, leaf->val & ~d, NULL) == MEM_OK)
		c->cleared++;
	return TDP_VISIT_NEXT;
}

int tdp_dirty_log_enable(struct tdp_mmu *t, uint32_t slot_id)
{
	struct memslot_desc d;
	struct dbit_ctx c = { .harvest = false };
	int r = get_slot(t, slot_id, &d);

	if (r)
		return r;
	if (d.flags & MEMSLOT_F_MMIO)
		return TDP_EINVAL;
	if (t->cfg.dirty_mode == TDP_DIRTY_WP) {
		(void)tdp_write_protect_range(t, d.base_gfn, d.base_gfn + d.npages, true);
		return TDP_OK;
	}
	r = tdp_for_each_leaf(t, d.base_gfn, d.base_gfn + d.npages, dbit_leaf, &c);
	if (c.cleared)
		tdp_request_flush(t); /* a TLB entry may remember the page as dirty */
	return r == TDP_ENOMEM ? TDP_OK : r; /* a leaf not split was zapped: still exact */
}

int tdp_dirty_log_disable(struct tdp_mmu *t, uint32_t slot_id)
{
	struct memslot_desc d;
	int r = get_slot(t, slot_id, &d);

	if (r)
		return r;
	/* Let large leaves come back where the slot can hold them. */
	if (d.backing_order >= 9 && t->cfg.max_level >= 2)
		(void)tdp_zap_range(t, d.base_gfn, d.npages);
	return TDP_OK;
}

int64_t tdp_dirty_log_harvest(struct tdp_mmu *t, uint32_t slot_id)
{
	struct memslot_desc d;
	struct dbit_ctx c = { .harvest = true };
	uint64_t logged = t->stats.dirty_logged;
	int r = get_slot(t, slot_id, &d);

	if (r)
		return r;
	if (!(d.flags & MEMSLOT_F_LOG_DIRTY))
		return TDP_EINVAL;
	if (t->cfg.dirty_mode == TDP_DIRTY_WP)
		return 0;
	r = tdp_for_each_leaf(t, d.base_gfn, d.base_gfn + d.npages, dbit_leaf, &c);
	if (c.cleared)
		tdp_request_flush(t); /* a TLB entry may remember the page as dirty */
	return r ? r : (int64_t)(t->stats.dirty_logged - logged);
}

uint64_t tdp_dirty_log_protect(struct tdp_mmu *t, uint64_t gfn, uint64_t npages)
{
	if (t->cfg.dirty_mode != TDP_DIRTY_WP || npages == 0 || !t->cfg.slots)
		return 0;
	return tdp_write_protect_range(t, gfn, gfn + npages, true);
}

/* ---- aging ---- */

struct age_ctx {
	bool clear;
	bool young;
};

static enum tdp_visit age_leaf(struct tdp_mmu *t, const struct tdp_leaf *leaf, void *ctx)
{
	struct age_ctx *c = ctx;
	uint64_t a = tdp_pte_a_bit(t);

	if (!tdp_has_ad(t)) {
		c->young = true; /* present counts as young */
		return TDP_VISIT_STOP;
	}
	if (!(leaf->val & a))
		return TDP_VISIT_NEXT;
	c->young = true;
	if (!c->clear)
		return TDP_VISIT_STOP;
	(void)tdp_set_entry(t, leaf->table, leaf->level, leaf->index, leaf->val, leaf->val & ~a, NULL);
	return TDP_VISIT_NEXT;
}

static uint64_t range_end(uint64_t gfn, uint64_t npages)
{
	return npages > UINT64_MAX - gfn ? UINT64_MAX : gfn + npages;
}

bool tdp_test_age(struct tdp_mmu *t, uint64_t gfn, uint64_t npages)
{
	struct age_ctx c = { .clear = false };

	(void)tdp_for_each_leaf(t, gfn, range_end(gfn, npages), age_leaf, &c);
	return c.young;
}

bool tdp_age(struct tdp_mmu *t, uint64_t gfn, uint64_t npages)
{
	struct age_ctx c = { .clear = true };

	(void)tdp_for_each_leaf(t, gfn, range_end(gfn, npages), age_leaf, &c);
	if (c.young && !tdp_has_ad(t))
		(void)tdp_zap_range(t, gfn, npages); /* EPT without A/D: unmap, as KVM does */
	return c.young;
}
