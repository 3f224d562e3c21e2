/*
 * tdp_zap.c - removing mappings: a gfn range, everything, and what a
 * memslot change asks for (the notifier).
 *
 * A zap walks the tables over the range: an entry whose whole span lies in
 * the range is cleared (a table entry takes its subtree with it, freed),
 * a large leaf that only overlaps the range is cleared too (removing more
 * than asked is safe: its pages refault), and a table only partly in the
 * range is visited and, if it ends up empty, freed and its entry cleared.
 * The root is never freed. Every removal raises the pending-flush flag
 * (tdp_set_entry).
 */
#include "mmu/tdp_internal.h"

static void zap_table(struct tdp_mmu *t, uint64_t table, unsigned level, uint64_t base,
		      uint64_t start, uint64_t end)
{
	uint64_t span = tdp_level_pages(level);
	unsigned i = start > base ? (unsigned)((start - base) / span) : 0;
	unsigned left = tdp_table_count(t, table); /* present entries not yet seen (at most) */

	for (; i < TDP_ENTRIES && left; i++) {
		uint64_t gfn = base + i * span, e, child;

		if (gfn >= end)
			break;
		if (tdp_read(t, table + 8 * (uint64_t)i, &e) != MEM_OK || !tdp_pte_present(t, e))
			continue;
		left--;
		if (pt_is_leaf(&t->fmt, level, e) || (gfn >= start && gfn + span <= end)) {
			(void)tdp_set_entry(t, table, level, i, e, 0, NULL);
			continue;
		}
		child = pt_table_addr(&t->fmt, level, e);
		zap_table(t, child, level - 1, gfn, start, end);
		if (tdp_table_count(t, child) == 0)
			(void)tdp_set_entry(t, table, level, i, e, 0, NULL);
	}
}

uint64_t tdp_zap_range(struct tdp_mmu *t, uint64_t gfn, uint64_t npages)
{
	uint64_t before = t->stats.entries_zapped;
	uint64_t limit = tdp_level_pages(t->fmt.levels + 1);
	uint64_t end = npages > limit - (gfn < limit ? gfn : limit) ? limit : gfn + npages;

	if (gfn < end)
		zap_table(t, t->root, t->fmt.levels, 0, gfn, end);
	return t->stats.entries_zapped - before;
}

uint64_t tdp_zap_all(struct tdp_mmu *t)
{
	return tdp_zap_range(t, 0, tdp_level_pages(t->fmt.levels + 1));
}

/*
 * The memslot notifier. Events arrive before the change takes effect
 * (memslot.h), so the old frames are still the slot's while we unmap them.
 */
void tdp_slot_notify(void *ctx, const struct memslot_event *ev)
{
	struct tdp_mmu *t = ctx;
	uint32_t changed;

	switch (ev->kind) {
	case MEMSLOT_EV_ADD:
		break; /* nothing can be mapped in a range that was no slot */
	case MEMSLOT_EV_REMOVE:
	case MEMSLOT_EV_MOVE:
		(void)tdp_zap_range(t, ev->gfn, ev->npages);
		break;
	case MEMSLOT_EV_FLAGS:
		changed = ev->old_flags ^ ev->new_flags;
		if (changed & MEMSLOT_F_READONLY)
			(void)tdp_zap_range(t, ev->gfn, ev->npages);
		if (changed & MEMSLOT_F_LOG_DIRTY) {
			if (ev->new_flags & MEMSLOT_F_LOG_DIRTY)
				(void)tdp_dirty_log_enable(t, ev->id);
			else
				(void)tdp_dirty_log_disable(t, ev->id);
		}
		break;
	case MEMSLOT_EV_DIRTY_CLEAR:
		(void)tdp_dirty_log_protect(t, ev->gfn, ev->npages);
		break;
	}
}
