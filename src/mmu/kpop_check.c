/*
 * kpop_check.c - the isolation checker (kpop.h): every entry of every
 * guest MMU's table, read from host memory through the port, against L1's
 * memory slots and the records; then the records against the reverse map.
 * It trusts nothing the tables' own bookkeeping says except to compare it.
 */
#include <stdarg.h>
#include <stdio.h>

#include "mmu/kpop_internal.h"
#include "mmu/leaf_check.h"

struct chk {
	struct kpop *kp;
	char *msg;
	size_t len;
	uint64_t tables, leaves;
};

static int fail(struct chk *c, const char *fmt, ...)
{
	va_list ap;

	if (c->msg && c->len) {
		va_start(ap, fmt);
		vsnprintf(c->msg, c->len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int check_leaf(struct chk *c, unsigned mi, uint64_t gfn, uint64_t e)
{
	struct kpop *kp = c->kp;
	struct kpop_mmu *m = &kp->mmus[mi];
	uint32_t idx = kpop_rec_find(kp, m, gfn);
	const struct kpop_rec *r;
	unsigned rights = kpt_leaf_rights(kp, e);
	char why[160];

	if (!idx)
		return fail(c, "mmu %u: leaf for l2 gfn %#llx without a record", mi, (unsigned long long)gfn);
	r = &kp->recs[idx];
	if (r->mmu != mi || r->l2_gfn != gfn)
		return fail(c, "mmu %u: record %u of l2 gfn %#llx names mmu %u gfn %#llx", mi, idx,
			    (unsigned long long)gfn, r->mmu, (unsigned long long)r->l2_gfn);
	if (leaf_check_backing(kp->cfg.l1_slots, r->l1_gfn, 1, kpt_leaf_hfn(kp, e), rights & KPOP_PERM_W, true, why,
			       sizeof(why)))
		return fail(c, "mmu %u: l2 gfn %#llx: l1 gpa %s", mi, (unsigned long long)gfn, why);
	if (!(rights & KPOP_PERM_R) || (rights & ~r->perms))
		return fail(c, "mmu %u: l2 gfn %#llx rights %#x beyond perms %#x", mi, (unsigned long long)gfn, rights,
			    r->perms);
	if ((rights & KPOP_PERM_W) && kpop_track_count(kp, r->l1_gfn))
		return fail(c, "mmu %u: l2 gfn %#llx writable over tracked l1 gfn %#llx", mi, (unsigned long long)gfn,
			    (unsigned long long)r->l1_gfn);
	c->leaves++;
	return 0;
}

static int check_table(struct chk *c, unsigned mi, uint64_t table, unsigned level, uint64_t gfn0)
{
	struct kpop *kp = c->kp;

	c->tables++;
	for (unsigned i = 0; i < 512; i++) {
		uint64_t e, gfn = gfn0 + ((uint64_t)i << (9 * (level - 1)));

		if (mem_port_read(kp->cfg.port, table + 8 * i, 8, &e) != MEM_OK)
			return fail(c, "mmu %u: cannot read table %#llx", mi, (unsigned long long)table);
		if (!pt_present(&kp->fmt, e))
			continue;
		if (pt_rsvd_set(&kp->fmt, level, e))
			return fail(c, "mmu %u: entry %#llx at level %u has reserved bits", mi, (unsigned long long)e,
				    level);
		if (level == 1) {
			if (check_leaf(c, mi, gfn, e))
				return -1;
			continue;
		}
		if (pt_is_leaf(&kp->fmt, level, e))
			return fail(c, "mmu %u: large leaf at level %u", mi, level);
		if (check_table(c, mi, pt_table_addr(&kp->fmt, level, e), level - 1, gfn))
			return -1;
	}
	return 0;
}

static int check_records(struct chk *c)
{
	struct kpop *kp = c->kp;
	uint64_t total = 0, key, val, linked = 0;
	size_t pos;

	for (unsigned mi = 0; mi < kp->cfg.max_mmus; mi++) {
		struct kpop_mmu *m = &kp->mmus[mi];

		if (!m->used) {
			if (u64map_count(&m->rec))
				return fail(c, "mmu %u: free but holds records", mi);
			continue;
		}
		if (m->refs == 0 || m->refs > KPOP_MAX_REFS)
			return fail(c, "mmu %u: %u references", mi, m->refs);
		pos = 0;
		while (u64map_iter(&m->rec, &pos, &key, &val)) {
			const struct kpop_rec *r = val < kp->rec_cap ? &kp->recs[val] : NULL;
			struct gfn_info info;
			int st;

			if (!r || !val || r->mmu != mi || r->l2_gfn != key || !(r->perms & KPOP_PERM_R) ||
			    (r->perms & ~KPOP_PERM_ALL))
				return fail(c, "mmu %u: bad record %llu for l2 gfn %#llx", mi, (unsigned long long)val,
					    (unsigned long long)key);
			if (key >= kp->l2_gfn_limit)
				return fail(c, "mmu %u: l2 gfn %#llx beyond the L2 space", mi, (unsigned long long)key);
			st = memslots_gfn_peek(kp->cfg.l1_slots, r->l1_gfn, NULL, &info);
			if ((st != MEMSLOT_OK && st != MEMSLOT_UNBACKED) || (info.slot.flags & MEMSLOT_F_MMIO))
				return fail(c, "mmu %u: record l2 %#llx -> l1 %#llx outside L1 RAM", mi,
					    (unsigned long long)key, (unsigned long long)r->l1_gfn);
			total++;
		}
	}
	if (total != kp->rec_live)
		return fail(c, "%llu records in the MMUs, %llu live", (unsigned long long)total,
			    (unsigned long long)kp->rec_live);
	pos = 0;
	while (u64map_iter(&kp->rmap, &pos, &key, &val)) {
		uint32_t prev = 0;

		for (uint32_t idx = (uint32_t)val; idx; prev = idx, idx = kp->recs[idx].next) {
			const struct kpop_rec *r;

			if (idx >= kp->rec_cap || linked > kp->rec_live)
				return fail(c, "reverse map of l1 gfn %#llx broken", (unsigned long long)key);
			r = &kp->recs[idx];
			if (!r->perms || r->l1_gfn != key || r->prev != prev ||
			    kpop_rec_find(kp, &kp->mmus[r->mmu], r->l2_gfn) != idx)
				return fail(c, "reverse map of l1 gfn %#llx: record %u does not belong", (unsigned long long)key,
					    idx);
			linked++;
		}
	}
	if (linked != kp->rec_live)
		return fail(c, "reverse map holds %llu records, %llu live", (unsigned long long)linked,
			    (unsigned long long)kp->rec_live);
	return 0;
}

int kpop_check(struct kpop *kp, char *msg, size_t len)
{
	struct chk c = { .kp = kp, .msg = msg, .len = len };
	unsigned used = 0;

	for (unsigned mi = 0; mi < kp->cfg.max_mmus; mi++) {
		if (!kp->mmus[mi].used)
			continue;
		used++;
		c.tables = 0;
		if (check_table(&c, mi, kp->mmus[mi].root, kp->cfg.levels, 0))
			return -1;
		if (c.tables != tdp_tables_live(kp->mmus[mi].t))
			return fail(&c, "mmu %u: %llu tables reached, %llu live", mi, (unsigned long long)c.tables,
				    (unsigned long long)tdp_tables_live(kp->mmus[mi].t));
	}
	if (used != kp->nmmus)
		return fail(&c, "%u MMUs in use, %u counted", used, kp->nmmus);
	if (c.leaves > kp->rec_live)
		return fail(&c, "%llu leaves for %llu records", (unsigned long long)c.leaves,
			    (unsigned long long)kp->rec_live);
	return check_records(&c);
}
