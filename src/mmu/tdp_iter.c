/*
 * tdp_iter.c - walking the TDP MMU's own tables through its port:
 *   - tdp_iter: the entries that translate one gpa, root first (used by
 *     the fault handler, page tracking and the spurious-fault check);
 *   - tdp_for_each_leaf: every present leaf over a gfn range, in gfn order,
 *     with the visitor able to split a large leaf and visit its children
 *     (used by dirty logging, aging, write protection).
 * Nothing here decides policy: the callers do.
 */
#include "mmu/tdp_internal.h"

static bool iter_read(struct tdp_iter *it)
{
	it->index = pt_index(&it->t->fmt, it->level, it->gpa);
	it->st = tdp_read(it->t, it->table + 8 * (uint64_t)it->index, &it->val);
	return it->st == MEM_OK;
}

bool tdp_iter_start(struct tdp_iter *it, struct tdp_mmu *t, uint64_t gpa)
{
	it->t = t;
	it->gpa = gpa;
	it->level = t->fmt.levels;
	it->table = t->root;
	return iter_read(it);
}

bool tdp_iter_down(struct tdp_iter *it)
{
	if (it->st != MEM_OK || it->level <= 1 || !tdp_pte_present(it->t, it->val) ||
	    pt_is_leaf(&it->t->fmt, it->level, it->val))
		return false;
	it->table = pt_table_addr(&it->t->fmt, it->level, it->val);
	it->level--;
	return iter_read(it);
}

enum mem_status tdp_iter_set(struct tdp_iter *it, uint64_t new)
{
	uint64_t seen = it->val;
	enum mem_status s = tdp_set_entry(it->t, it->table, it->level, it->index, it->val, new, &seen);

	if (s == MEM_OK)
		it->val = new;
	else if (s == MEM_CHANGED)
		it->val = seen;
	return s;
}

/* ---- leaves over a range ---- */

struct range_walk {
	tdp_leaf_fn fn;
	void *ctx;
	uint64_t start, end; /* gfns */
	int err;
	bool stop;
};

static void walk_table(struct tdp_mmu *t, struct range_walk *rw, uint64_t table, unsigned level,
		       uint64_t base)
{
	uint64_t span = tdp_level_pages(level);
	unsigned i = rw->start > base ? (unsigned)((rw->start - base) / span) : 0;
	unsigned left = tdp_table_count(t, table); /* present entries not yet seen (at most) */

	for (; i < TDP_ENTRIES && !rw->stop && left; i++) {
		uint64_t gfn = base + i * span, e;
		struct tdp_leaf leaf;

		if (gfn >= rw->end)
			break;
		if (tdp_read(t, table + 8 * (uint64_t)i, &e) != MEM_OK) {
			rw->err = TDP_EPORT;
			continue;
		}
		if (!tdp_pte_present(t, e))
			continue;
		left--;
		if (!pt_is_leaf(&t->fmt, level, e)) {
			walk_table(t, rw, pt_table_addr(&t->fmt, level, e), level - 1, gfn);
			continue;
		}
		leaf = (struct tdp_leaf){ .level = level, .gfn = gfn, .table = table, .index = i, .val = e };
		switch (rw->fn(t, &leaf, rw->ctx)) {
		case TDP_VISIT_NEXT:
			break;
		case TDP_VISIT_STOP:
			rw->stop = true;
			break;
		case TDP_VISIT_SPLIT: {
			uint64_t ne;
			enum mem_status s;

			if (level == 1)
				break;
			s = tdp_split_leaf(t, table, level, i, e, &ne);
			if (s == MEM_OK) {
				walk_table(t, rw, pt_table_addr(&t->fmt, level, ne), level - 1, gfn);
				break;
			}
			/* No page for the split: drop the leaf, its pages refault. */
			rw->err = s == MEM_NOMEM ? TDP_ENOMEM : TDP_EPORT;
			(void)tdp_set_entry(t, table, level, i, e, 0, NULL);
			break;
		}
		}
	}
}

int tdp_for_each_leaf(struct tdp_mmu *t, uint64_t start, uint64_t end, tdp_leaf_fn fn, void *ctx)
{
	struct range_walk rw = { .fn = fn, .ctx = ctx, .start = start, .end = end };
	uint64_t limit = tdp_level_pages(t->fmt.levels + 1);

	if (rw.end > limit)
		rw.end = limit;
	if (rw.start >= rw.end)
		return TDP_OK;
	walk_table(t, &rw, t->root, t->fmt.levels, 0);
	return rw.err;
}
