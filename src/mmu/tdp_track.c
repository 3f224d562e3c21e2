/*
 * tdp_track.c - write tracking of guest frames (KVM's page track is the
 * idea): a user that must see every write to a gfn (a shadow MMU watching
 * a guest page table, a nested-EPT MMU watching L1's EPT12 pages) takes a
 * tracking reference on it and registers a callback.
 *
 * While a gfn holds references, the TDP tables map it only with a 4 KiB
 * leaf without W: tracking splits a large leaf over it and removes W at
 * once (a flush is then pending), and the fault handler never maps a large
 * leaf over a tracked gfn (the per-region counts below answer that in O(1))
 * nor gives its leaf W. A write fault on it calls every registered tracker
 * with (gpa, access) and returns RET_PF_EMULATE (tdp.c).
 */
#include "mmu/tdp_internal.h"

void tdp_tracker_init(struct tdp_tracker *tr)
{
	u64map_init(&tr->gfns);
	u64map_init(&tr->r2m);
	u64map_init(&tr->r1g);
	for (unsigned i = 0; i < TDP_TRACK_MAX_USERS; i++)
		tr->users[i].used = false;
}

void tdp_tracker_fini(struct tdp_tracker *tr)
{
	u64map_fini(&tr->gfns);
	u64map_fini(&tr->r2m);
	u64map_fini(&tr->r1g);
}

bool tdp_tracker_is_tracked(const struct tdp_tracker *tr, uint64_t gfn)
{
	return u64map_get(&tr->gfns, gfn, NULL);
}

bool tdp_tracker_range_free(const struct tdp_tracker *tr, uint64_t gfn, unsigned level)
{
	switch (level) {
	case 1:
		return !tdp_tracker_is_tracked(tr, gfn);
	case 2:
		return !u64map_get(&tr->r2m, gfn >> 9, NULL);
	case 3:
		return !u64map_get(&tr->r1g, gfn >> 18, NULL);
	default:
		return u64map_count(&tr->gfns) == 0;
	}
}

void tdp_tracker_notify(struct tdp_mmu *t, uint64_t gpa, enum access_type access)
{
	for (unsigned i = 0; i < TDP_TRACK_MAX_USERS; i++) {
		if (t->track.users[i].used) {
			t->stats.tracker_calls++;
			t->track.users[i].fn(t->track.users[i].ctx, gpa, access);
		}
	}
}

int tdp_track_register(struct tdp_mmu *t, tdp_track_fn fn, void *ctx)
{
	if (!fn)
		return TDP_EINVAL;
	for (unsigned i = 0; i < TDP_TRACK_MAX_USERS; i++) {
		if (!t->track.users[i].used) {
			t->track.users[i].fn = fn;
			t->track.users[i].ctx = ctx;
			t->track.users[i].used = true;
			return (int)i;
		}
	}
	return TDP_ENOMEM;
}

int tdp_track_unregister(struct tdp_mmu *t, int handle)
{
	if (handle < 0 || handle >= TDP_TRACK_MAX_USERS || !t->track.users[handle].used)
		return TDP_ENOENT;
	t->track.users[handle].used = false;
	return TDP_OK;
}

unsigned tdp_track_count(const struct tdp_mmu *t, uint64_t gfn)
{
	uint64_t n = 0;

	(void)u64map_get(&t->track.gfns, gfn, &n);
	return (unsigned)n;
}

/* Adds delta (+1/-1) to a region count, dropping it at zero. Reserved by the caller. */
static void region_add(struct u64map *m, uint64_t key, int delta)
{
	uint64_t n = 0;

	(void)u64map_get(m, key, &n);
	n = (uint64_t)((int64_t)n + delta);
	if (n)
		(void)u64map_put(m, key, n);
	else
		(void)u64map_del(m, key, NULL);
}

/*
 * Makes the mapping of gfn (if any) a 4 KiB leaf without W. A large leaf
 * that cannot be split (no table page) is zapped instead: the gfn then
 * refaults, and the fault handler maps it with 4 KiB and no W.
 */
static int write_protect_gfn(struct tdp_mmu *t, uint64_t gfn)
{
	struct tdp_iter it;
	bool ok = tdp_iter_start(&it, t, gfn << 12);

	while (ok) {
		if (!tdp_pte_present(t, it.val))
			return TDP_OK;
		if (tdp_pte_leaf(t, it.level, it.val))
			break;
		ok = tdp_iter_down(&it);
	}
	if (!ok)
		return TDP_EPORT;
	while (it.level > 1) {
		uint64_t ne;

		if (tdp_split_leaf(t, it.table, it.level, it.index, it.val, &ne) != MEM_OK) {
			(void)tdp_iter_set(&it, 0);
			return TDP_OK;
		}
		it.val = ne;
		if (!tdp_iter_down(&it))
			return TDP_EPORT;
	}
	if (!tdp_pte_writable(t, it.val))
		return TDP_OK;
	return tdp_iter_set(&it, it.val & ~tdp_pte_w_bit(t)) == MEM_OK ? TDP_OK : TDP_EPORT;
}

int tdp_track_write(struct tdp_mmu *t, uint64_t gfn, bool on)
{
	struct tdp_tracker *tr = &t->track;
	uint64_t n = 0;

	(void)u64map_get(&tr->gfns, gfn, &n);
	if (!on) {
		if (n == 0)
			return TDP_EINVAL;
		if (n > 1) {
			(void)u64map_put(&tr->gfns, gfn, n - 1);
			return TDP_OK;
		}
		(void)u64map_del(&tr->gfns, gfn, NULL);
		region_add(&tr->r2m, gfn >> 9, -1);
		region_add(&tr->r1g, gfn >> 18, -1);
		return TDP_OK;
	}
	if (n) {
		(void)u64map_put(&tr->gfns, gfn, n + 1);
		return TDP_OK;
	}
	if (u64map_reserve(&tr->gfns, 1) || u64map_reserve(&tr->r2m, 1) || u64map_reserve(&tr->r1g, 1))
		return TDP_ENOMEM;
	(void)u64map_put(&tr->gfns, gfn, 1);
	region_add(&tr->r2m, gfn >> 9, 1);
	region_add(&tr->r1g, gfn >> 18, 1);
	return write_protect_gfn(t, gfn);
}
