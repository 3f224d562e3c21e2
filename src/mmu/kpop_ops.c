/*
 * kpop_ops.c - what seed 003's prototype lacked, and the fault path:
 * L2 EPT violations / #NPF on a KPOP table, gpa2 -> gpa1 for instruction
 * emulation (and L2's memory as a pmem for walking L2's own tables), aging,
 * page tracking of L1 gfns, dirty logging of L1's slots (write protection),
 * and the notifier that keeps the tables within L1's memory when L1's
 * slots change.
 */
#include <string.h>

#include "arch/x86.h"
#include "mem/guestmem.h"
#include "mmu/kpop_internal.h"

/* ---- rights L0 grants ---- */

static bool l1_dirty(struct kpop *kp, const struct gfn_info *info, uint64_t l1_gfn)
{
	uint64_t bit = 0;

	if (memslots_dirty_get(kp->cfg.l1_slots, info->slot.id, l1_gfn - info->slot.base_gfn, 1, &bit) != MEMSLOT_OK)
		return false;
	return bit & 1;
}

unsigned kpop_grant(struct kpop *kp, uint64_t l1_gfn, unsigned perms)
{
	struct gfn_info info;
	int r = memslots_gfn_peek(kp->cfg.l1_slots, l1_gfn, NULL, &info);

	if (r != MEMSLOT_OK && r != MEMSLOT_UNBACKED)
		return 0;
	if (!(perms & KPOP_PERM_W))
		return perms;
	if ((info.slot.flags & MEMSLOT_F_READONLY) || kpop_track_count(kp, l1_gfn) ||
	    ((info.slot.flags & MEMSLOT_F_LOG_DIRTY) && !l1_dirty(kp, &info, l1_gfn)))
		perms &= ~KPOP_PERM_W;
	return perms;
}

enum mem_status kpop_install(struct kpop *kp, struct kpop_mmu *m, uint32_t idx)
{
	const struct kpop_rec *r = &kp->recs[idx];
	uint64_t hfn;

	if (memslots_gfn_to_hfn(kp->cfg.l1_slots, r->l1_gfn, &hfn, NULL) != MEMSLOT_OK)
		return MEM_NOMEM;
	return kpt_set(kp, m, r->l2_gfn, kpt_leaf_make(kp, hfn, kpop_grant(kp, r->l1_gfn, r->perms)));
}

/* Removes W from the leaf of a record (keeping A/D); the flush follows from kpt_set. */
static void rec_write_protect(struct kpop *kp, uint32_t idx)
{
	struct kpop_rec *r = &kp->recs[idx];
	struct kpop_mmu *m = &kp->mmus[r->mmu];
	uint64_t leaf = kpt_get(kp, m, r->l2_gfn);

	if (leaf & kpt_w_bit(kp))
		(void)kpt_set(kp, m, r->l2_gfn, leaf & ~kpt_w_bit(kp));
}

/* ---- the fault path ---- */

static enum ret_pf fault_done(struct kpop *kp, enum ret_pf r)
{
	kp->stats.faults[r]++;
	return r;
}

static unsigned fault_need(const struct kpop *kp, const struct mmu_fault *f)
{
	unsigned need = KPOP_PERM_R;

	if (f->access == ACCESS_WRITE)
		need |= KPOP_PERM_W;
	else if (f->access == ACCESS_FETCH)
		need |= KPOP_PERM_X;
	if (kp->cfg.kind == KPOP_EPT) {
		need |= (f->exit_qual & EPTQ_WRITE) ? KPOP_PERM_W : 0;
		need |= (f->exit_qual & EPTQ_FETCH) ? KPOP_PERM_X : 0;
	} else {
		need |= (f->exitinfo1 & NPF_W) ? KPOP_PERM_W : 0;
		need |= (f->exitinfo1 & NPF_ID) ? KPOP_PERM_X : 0;
	}
	return need;
}

enum ret_pf kpop_page_fault(struct kpop *kp, uint64_t handle, struct mmu_fault *f)
{
	struct kpop_mmu *m = kpop_mmu_get(kp, handle);
	unsigned need = fault_need(kp, f);
	struct gfn_info info;
	struct kpop_rec *r;
	uint32_t idx;
	uint64_t leaf;

	if (!m) {
		f->error = "kpop: fault on an MMU that is not loaded";
		return fault_done(kp, RET_PF_ERROR);
	}
	f->gfn = f->gpa >> 12;
	f->level = 1;
	idx = kpop_rec_find(kp, m, f->gfn);
	if (!idx || (need & ~kp->recs[idx].perms))
		return fault_done(kp, RET_PF_INJECT); /* L1's business: reflect the exit */
	r = &kp->recs[idx];
	leaf = kpt_get(kp, m, f->gfn);
	if (leaf && !(need & ~kpt_leaf_rights(kp, leaf)))
		return fault_done(kp, RET_PF_SPURIOUS);
	if (memslots_gfn_peek(kp->cfg.l1_slots, r->l1_gfn, NULL, &info) < 0) {
		f->error = "kpop: L1 slot lookup failed";
		return fault_done(kp, RET_PF_ERROR);
	}
	if (need & KPOP_PERM_W) {
		if ((info.slot.flags & MEMSLOT_F_READONLY) || kpop_track_count(kp, r->l1_gfn)) {
			f->emulate_gpa = (r->l1_gfn << 12) | (f->gpa & 0xfff);
			if (!(info.slot.flags & MEMSLOT_F_READONLY)) {
				for (unsigned i = 0; i < KPOP_TRACK_MAX_USERS; i++) {
					if (kp->trackers[i].used) {
						kp->trackers[i].fn(kp->trackers[i].ctx, f->emulate_gpa, f->access);
						kp->stats.tracker_calls++;
					}
				}
			}
			return fault_done(kp, RET_PF_EMULATE);
		}
		if ((info.slot.flags & MEMSLOT_F_LOG_DIRTY) && !l1_dirty(kp, &info, r->l1_gfn)) {
			if (memslots_mark_dirty(kp->cfg.l1_slots, r->l1_gfn) != MEMSLOT_OK) {
				f->error = "kpop: cannot record a dirty page";
				return fault_done(kp, RET_PF_ERROR);
			}
			kp->stats.dirty_logged++;
		}
	}
	if (kpop_install(kp, m, idx) != MEM_OK) {
		f->error = "kpop: no frame or table page left";
		return fault_done(kp, RET_PF_ERROR);
	}
	f->hfn = kpt_leaf_hfn(kp, kpt_get(kp, m, f->gfn));
	if (kp->cfg.counters)
		kp->cfg.counters->tdp_faults[CNT_L0]++;
	return fault_done(kp, RET_PF_FIXED);
}

/* ---- gpa2 -> gpa1 ---- */

int kpop_gva_to_gpa(const struct kpop *kp, uint64_t handle, uint64_t l2_gpa, enum access_type access,
		    uint64_t *l1_gpa)
{
	unsigned perms, need = access == ACCESS_WRITE ? KPOP_PERM_W : access == ACCESS_FETCH ? KPOP_PERM_X : KPOP_PERM_R;
	uint64_t l1_gfn;

	if (!kpop_lookup(kp, handle, l2_gpa >> 12, &l1_gfn, &perms))
		return KPOP_ENOENT;
	if (need & ~perms)
		return KPOP_EFAULT;
	*l1_gpa = (l1_gfn << 12) | (l2_gpa & 0xfff);
	return 0;
}

static enum pmem_status l2_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
	struct kpop_l2_mem *c = ctx;
	struct guestmem gm = { .slots = c->kp->cfg.l1_slots, .port = c->kp->cfg.port };
	uint64_t l1;

	if (kpop_gva_to_gpa(c->kp, c->handle, pa, ACCESS_READ, &l1) != 0)
		return PMEM_OUTSIDE;
	return guestmem_read(&gm, l1, size, val) == MEM_OK ? PMEM_OK : PMEM_OUTSIDE;
}

static enum pmem_status l2_cmpxchg(void *ctx, uint64_t pa, unsigned size, uint64_t expected, uint64_t desired)
{
	struct kpop_l2_mem *c = ctx;
	struct guestmem gm = { .slots = c->kp->cfg.l1_slots, .port = c->kp->cfg.port };
	uint64_t l1, seen;

	if (kpop_gva_to_gpa(c->kp, c->handle, pa, ACCESS_WRITE, &l1) != 0)
		return PMEM_OUTSIDE;
	switch (guestmem_cmpxchg(&gm, l1, size, expected, desired, &seen)) {
	case MEM_OK: return PMEM_OK;
	case MEM_CHANGED: return PMEM_CHANGED;
	default: return PMEM_OUTSIDE;
	}
}

static const struct pmem_ops l2_ops = { .read = l2_read, .cmpxchg = l2_cmpxchg };

struct pmem kpop_l2_pmem(struct kpop_l2_mem *ctx)
{
	return (struct pmem){ .ops = &l2_ops, .ctx = ctx };
}

/* ---- records by L2 range (one MMU) or L1 range (every MMU) ---- */

typedef bool (*rec_fn)(struct kpop *kp, uint32_t idx, void *ctx); /* true: stop */

static bool for_l2_range(struct kpop *kp, struct kpop_mmu *m, uint64_t gfn, uint64_t n, rec_fn fn, void *ctx)
{
	uint64_t key, val;
	size_t pos = 0;

	if (n <= u64map_count(&m->rec)) {
		for (uint64_t i = 0; i < n; i++) {
			uint32_t idx = kpop_rec_find(kp, m, gfn + i);

			if (idx && fn(kp, idx, ctx))
				return true;
		}
		return false;
	}
	/* fn must not remove records here (none of its users does) */
	while (u64map_iter(&m->rec, &pos, &key, &val)) {
		if (key >= gfn && key - gfn < n && fn(kp, (uint32_t)val, ctx))
			return true;
	}
	return false;
}

/* fn may remove the record it is given. */
static bool for_l1_range(struct kpop *kp, uint64_t gfn, uint64_t n, rec_fn fn, void *ctx)
{
	if (n <= u64map_count(&kp->rmap)) {
		for (uint64_t i = 0; i < n; i++) {
			uint64_t head = 0;

			(void)u64map_get(&kp->rmap, gfn + i, &head);
			for (uint32_t idx = (uint32_t)head, next; idx; idx = next) {
				next = kp->recs[idx].next;
				if (fn(kp, idx, ctx))
					return true;
			}
		}
		return false;
	}
	for (uint32_t idx = 1; idx < kp->rec_cap; idx++) {
		const struct kpop_rec *r = &kp->recs[idx];

		if (r->perms && r->l1_gfn >= gfn && r->l1_gfn - gfn < n && fn(kp, idx, ctx))
			return true;
	}
	return false;
}

/* ---- aging ---- */

struct age_ctx {
	bool clear;
	bool young;
};

static bool age_one(struct kpop *kp, uint32_t idx, void *ctx)
{
	struct age_ctx *c = ctx;
	struct kpop_rec *r = &kp->recs[idx];
	struct kpop_mmu *m = &kp->mmus[r->mmu];

	if (!c->clear)
		return kpt_test_age(kp, m, r->l2_gfn); /* one is enough */
	/* clearing A asks for no flush; without A/D the leaf goes (flush pending, record kept) */
	if (kpt_age(kp, m, r->l2_gfn))
		c->young = true;
	return false;
}

bool kpop_test_age(struct kpop *kp, uint64_t handle, uint64_t l2_gfn, uint64_t npages)
{
	struct kpop_mmu *m = kpop_mmu_get(kp, handle);
	struct age_ctx c = { .clear = false };

	return m && for_l2_range(kp, m, l2_gfn, npages, age_one, &c);
}

bool kpop_age(struct kpop *kp, uint64_t handle, uint64_t l2_gfn, uint64_t npages)
{
	struct kpop_mmu *m = kpop_mmu_get(kp, handle);
	struct age_ctx c = { .clear = true };

	if (m)
		(void)for_l2_range(kp, m, l2_gfn, npages, age_one, &c);
	return c.young;
}

bool kpop_test_age_l1(struct kpop *kp, uint64_t l1_gfn, uint64_t npages)
{
	struct age_ctx c = { .clear = false };

	return for_l1_range(kp, l1_gfn, npages, age_one, &c);
}

bool kpop_age_l1(struct kpop *kp, uint64_t l1_gfn, uint64_t npages)
{
	struct age_ctx c = { .clear = true };

	(void)for_l1_range(kp, l1_gfn, npages, age_one, &c);
	return c.young;
}

/* ---- page tracking ---- */

int kpop_track_register(struct kpop *kp, kpop_track_fn fn, void *ctx)
{
	for (int i = 0; i < (int)KPOP_TRACK_MAX_USERS; i++) {
		if (!kp->trackers[i].used) {
			kp->trackers[i] = (struct kpop_tracker){ .fn = fn, .ctx = ctx, .used = true };
			return i;
		}
	}
	return KPOP_ENOSPC;
}

int kpop_track_unregister(struct kpop *kp, int handle)
{
	if (handle < 0 || handle >= (int)KPOP_TRACK_MAX_USERS || !kp->trackers[handle].used)
		return KPOP_EINVAL;
	kp->trackers[handle].used = false;
	return 0;
}

unsigned kpop_track_count(const struct kpop *kp, uint64_t l1_gfn)
{
	uint64_t n = 0;

	(void)u64map_get(&kp->tracked, l1_gfn, &n);
	return (unsigned)n;
}

static bool wp_one(struct kpop *kp, uint32_t idx, void *ctx)
{
	(void)ctx;
	rec_write_protect(kp, idx);
	return false;
}

int kpop_track_write(struct kpop *kp, uint64_t l1_gfn, bool on)
{
	uint64_t n = kpop_track_count(kp, l1_gfn);

	if (!on) {
		if (n == 0)
			return KPOP_EINVAL;
		if (n == 1)
			(void)u64map_del(&kp->tracked, l1_gfn, NULL);
		else
			(void)u64map_put(&kp->tracked, l1_gfn, n - 1);
		return 0;
	}
	if (n >= UINT32_MAX)
		return KPOP_EOVERFLOW;
	if (u64map_put(&kp->tracked, l1_gfn, n + 1) != 0)
		return KPOP_ENOMEM;
	if (n == 0)
		(void)for_l1_range(kp, l1_gfn, 1, wp_one, NULL);
	return 0;
}

/* ---- L1's slots change ---- */

static bool drop_one(struct kpop *kp, uint32_t idx, void *ctx)
{
	struct kpop_rec *r = &kp->recs[idx];

	(void)ctx;
	(void)kpop_unmap_one(kp, &kp->mmus[r->mmu], r->l2_gfn);
	return false;
}

void kpop_slot_notify(void *ctx, const struct memslot_event *ev)
{
	struct kpop *kp = ctx;

	switch (ev->kind) {
	case MEMSLOT_EV_REMOVE:
	case MEMSLOT_EV_MOVE:
		/* the L1 gfns stop being (these) L1 RAM: L2 loses the mappings; L1 maps again */
		(void)for_l1_range(kp, ev->gfn, ev->npages, drop_one, NULL);
		break;
	case MEMSLOT_EV_FLAGS:
		if (((ev->new_flags & MEMSLOT_F_READONLY) && !(ev->old_flags & MEMSLOT_F_READONLY)) ||
		    ((ev->new_flags & MEMSLOT_F_LOG_DIRTY) && !(ev->old_flags & MEMSLOT_F_LOG_DIRTY)))
			(void)for_l1_range(kp, ev->gfn, ev->npages, wp_one, NULL);
		break;
	case MEMSLOT_EV_DIRTY_CLEAR:
		(void)for_l1_range(kp, ev->gfn, ev->npages, wp_one, NULL);
		break;
	case MEMSLOT_EV_ADD:
		break;
	}
}
