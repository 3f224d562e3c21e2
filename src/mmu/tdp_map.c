/*
 * tdp_map.c - directed maps (rules in tdp.h, "Directed maps"): the owner of
 * the MMU installs an explicit gfn -> frame mapping with explicit rights
 * instead of one derived from the memory slots, removes exact ranges, and
 * looks mappings up. Used for EPT02/NPT02 (nested TDP: the shadow of L1's
 * EPT12 composed with L1's memory) and for paravirtual nested paging.
 *
 * Everything goes through the same entry writer (tdp_set_entry) as the
 * fault handler, so the counts, the pending flush and the subtree frees
 * follow the same rules.
 */
#include "arch/x86.h"
#include "mmu/tdp_internal.h"

/* Leaf bits for the abstract rights; the caller has validated them. */
static uint64_t leaf_bits(const struct tdp_mmu *t, uint64_t pa, unsigned level, unsigned rights)
{
	uint64_t e = pa;

	if (t->cfg.kind == TDP_EPT) {
		/* SDM Vol. 3C Table 29-6/29-4: R, W, X (XS with MBEC), XU = bit 10. */
		e |= ((uint64_t)MT_WB << EPT_MT_SHIFT) | EPT_IPAT;
		if (rights & RIGHT_R)
			e |= EPT_R;
		if (rights & RIGHT_W)
			e |= EPT_W;
		if (rights & RIGHT_X)
			e |= EPT_X;
		if (t->cfg.ept_mbec && (rights & RIGHT_XU))
			e |= EPT_XU;
	} else {
		/* APM 15.25.5: every nested access is a user access: U/S always set. */
		e |= PTE_P | PTE_US;
		if (rights & RIGHT_W)
			e |= PTE_RW;
		if (!(rights & RIGHT_X))
			e |= PTE_XD;
	}
	if (level > 1)
		e |= PTE_PS;
	return e;
}

/* TDP_OK if `rights` can be expressed by a leaf of this MMU. */
static int rights_valid(const struct tdp_mmu *t, unsigned rights)
{
	bool r = rights & RIGHT_R, w = rights & RIGHT_W;
	bool x = rights & RIGHT_X, xu = t->cfg.ept_mbec && (rights & RIGHT_XU);

	if (rights & ~(unsigned)RIGHT_ALL)
		return TDP_EINVAL;
	if (t->cfg.kind == TDP_NPT)
		return r ? TDP_OK : TDP_EINVAL; /* NPT cannot express "not readable" */
	if (!r && !w && !x && !xu)
		return TDP_EINVAL; /* not present: use tdp_unmap */
	if (w && !r)
		return TDP_EINVAL; /* EPT misconfiguration (SDM 29.3.3.1) */
	if (!r && !t->cfg.ept_xonly)
		return TDP_EINVAL; /* execute-only without the capability */
	return TDP_OK;
}

static int status_of(enum mem_status s)
{
	return s == MEM_NOMEM ? TDP_ENOMEM : TDP_EPORT;
}

int tdp_map(struct tdp_mmu *t, uint64_t gfn, uint64_t hfn, unsigned level, unsigned rights)
{
	uint64_t pages, pa, new, ad = tdp_pte_a_bit(t) | tdp_pte_d_bit(t);
	uint64_t limit = tdp_level_pages(t->fmt.levels + 1);
	struct tdp_iter it;
	enum mem_status s;
	int r;

	if (level < 1 || level > t->cfg.max_level)
		return TDP_EINVAL;
	pages = tdp_level_pages(level);
	if ((gfn | hfn) & (pages - 1) || gfn >= limit)
		return TDP_EINVAL;
	if (((hfn + pages) << 12) - 1 > maxphy_mask(t->cfg.maxphyaddr) || hfn >= (UINT64_C(1) << 52))
		return TDP_EINVAL;
	r = rights_valid(t, rights);
	if (r)
		return r;
	pa = hfn << 12;
	if (!tdp_iter_start(&it, t, gfn << 12))
		return status_of(it.st);
	while (it.level > level) {
		if (!tdp_pte_present(t, it.val)) {
			uint64_t child, base = gfn & ~(tdp_level_pages(it.level) - 1);

			s = tdp_table_alloc(t, it.level - 1, base, &child);
			if (s != MEM_OK)
				return status_of(s);
			s = tdp_iter_set(&it, tdp_pte_table(t, child));
			if (s != MEM_OK) {
				tdp_table_free_tree(t, child, it.level - 1);
				return status_of(s);
			}
		} else if (pt_is_leaf(&t->fmt, it.level, it.val)) {
			uint64_t ne;

			s = tdp_split_leaf(t, it.table, it.level, it.index, it.val, &ne);
			if (s != MEM_OK)
				return status_of(s);
			it.val = ne;
		}
		if (!tdp_iter_down(&it))
			return status_of(it.st);
	}
	new = leaf_bits(t, pa, level, rights);
	if (tdp_has_ad(t) && tdp_pte_leaf(t, it.level, it.val) && tdp_pte_addr(t, it.level, it.val) == pa)
		new |= it.val & ad; /* same page: keep what the hardware recorded */
	s = tdp_iter_set(&it, new);
	if (s != MEM_OK)
		return status_of(s);
	t->stats.leaves_installed[level]++;
	return TDP_OK;
}

/* ---- exact unmap ---- */

struct unmap_ctx {
	uint64_t start, end;
	uint64_t removed; /* leaves removed */
	int err;
};

static void unmap_table(struct tdp_mmu *t, struct unmap_ctx *c, uint64_t table, unsigned level,
			uint64_t base)
{
	uint64_t span = tdp_level_pages(level);
	unsigned i = c->start > base ? (unsigned)((c->start - base) / span) : 0;
	unsigned left = tdp_table_count(t, table);

	for (; i < TDP_ENTRIES && left; i++) {
		uint64_t gfn = base + i * span, e;
		bool inside;

		if (gfn >= c->end)
			break;
		if (tdp_read(t, table + 8 * (uint64_t)i, &e) != MEM_OK) {
			c->err = TDP_EPORT;
			continue;
		}
		if (!tdp_pte_present(t, e))
			continue;
		left--;
		inside = gfn >= c->start && gfn + span <= c->end;
		if (pt_is_leaf(&t->fmt, level, e) && !inside) {
			/* A large leaf straddling an edge: split, keep the part outside. */
			uint64_t ne;
			enum mem_status s = tdp_split_leaf(t, table, level, i, e, &ne);

			if (s != MEM_OK) {
				c->err = status_of(s);
				continue; /* left mapped whole: the caller learns it failed */
			}
			e = ne;
		}
		if (inside && pt_is_leaf(&t->fmt, level, e)) {
			if (tdp_set_entry(t, table, level, i, e, 0, NULL) == MEM_OK)
				c->removed++;
			else
				c->err = TDP_EPORT;
			continue;
		}
		/* A table (whole or partly in the range): its leaves are counted one by one. */
		unmap_table(t, c, pt_table_addr(&t->fmt, level, e), level - 1, gfn);
		if (tdp_table_count(t, pt_table_addr(&t->fmt, level, e)) == 0)
			(void)tdp_set_entry(t, table, level, i, e, 0, NULL);
	}
}

int64_t tdp_unmap(struct tdp_mmu *t, uint64_t gfn, uint64_t npages)
{
	uint64_t limit = tdp_level_pages(t->fmt.levels + 1);
	struct unmap_ctx c = { .start = gfn };

	c.end = npages > limit - (gfn < limit ? gfn : limit) ? limit : gfn + npages;
	if (c.start >= c.end)
		return 0;
	unmap_table(t, &c, t->root, t->fmt.levels, 0);
	return c.err ? c.err : (int64_t)c.removed;
}

/* ---- lookup ---- */

bool tdp_lookup(struct tdp_mmu *t, uint64_t gfn, struct tdp_mapping *m)
{
	struct tdp_iter it;
	bool ok;

	if (gfn >= tdp_level_pages(t->fmt.levels + 1))
		return false;
	ok = tdp_iter_start(&it, t, gfn << 12);
	while (ok && tdp_pte_present(t, it.val) && !pt_is_leaf(&t->fmt, it.level, it.val))
		ok = tdp_iter_down(&it);
	if (!ok || !tdp_pte_present(t, it.val))
		return false;
	if (m) {
		uint64_t pages = tdp_level_pages(it.level);

		m->level = it.level;
		m->gfn = gfn & ~(pages - 1);
		m->hfn = tdp_pte_addr(t, it.level, it.val) >> 12;
		m->rights = tdp_pte_rights(t, it.val);
		m->accessed = tdp_has_ad(t) && (it.val & tdp_pte_a_bit(t));
		m->dirty = tdp_has_ad(t) && (it.val & tdp_pte_d_bit(t));
		m->entry = it.val;
	}
	return true;
}
