/*
 * kpop_pt.c - the EPT02 / NPT02 table of a KPOP guest MMU, in host memory
 * through L0's port: 4 KiB leaves only (L1 names pages one by one and its
 * L1 frames need not be contiguous in host memory), tables allocated on the
 * way down and freed when their last entry goes.
 *
 * Accounting (tdp.h's rules): an entry written with a new present value
 * counts as set (tdp_entries_set[CNT_L0]); a present entry made not present
 * counts as zapped, and so does every present entry of a table page freed
 * with its subtree; table pages count as CNT_PT_EPT02. A change that
 * removes a leaf, moves it to another frame or lowers its rights raises the
 * MMU's pending-flush flag.
 */
#include <stddef.h>

#include "arch/x86.h"
#include "mmu/kpop_internal.h"

#define META_COUNT_MASK UINT64_C(0xffff)
#define META_LEVEL_SHIFT 16

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

static uint64_t table_entry(const struct kpop *kp, uint64_t pa)
{
	if (kp->cfg.kind == KPOP_EPT)
		return pa | EPT_R | EPT_W | EPT_X;
	return pa | PTE_P | PTE_RW | PTE_US;
}

/* ---- port and accounting ---- */

static enum mem_status port_read(struct kpop *kp, uint64_t pa, uint64_t *val)
{
	enum mem_status s = MEM_RETRY;

	for (unsigned i = 0; i <= KPOP_PORT_RETRIES && s == MEM_RETRY; i++)
		s = mem_port_read(kp->cfg.port, pa, 8, val);
	return s;
}

static enum mem_status port_write(struct kpop *kp, uint64_t pa, uint64_t val)
{
	enum mem_status s = MEM_RETRY;

	for (unsigned i = 0; i <= KPOP_PORT_RETRIES && s == MEM_RETRY; i++)
		s = mem_port_write(kp->cfg.port, pa, 8, val);
	return s;
}

static void count_set(struct kpop *kp, uint64_t n)
{
	kp->stats.leaves_set += n;
	if (kp->cfg.counters)
		kp->cfg.counters->tdp_entries_set[CNT_L0] += n;
}

static void count_zapped(struct kpop *kp, uint64_t n)
{
	kp->stats.leaves_zapped += n;
	if (kp->cfg.counters)
		kp->cfg.counters->tdp_entries_zapped[CNT_L0] += n;
}

static unsigned meta_count(const struct kpop *kp, uint64_t table)
{
	uint64_t m = 0;

	(void)u64map_get(&kp->tables, table >> 12, &m);
	return (unsigned)(m & META_COUNT_MASK);
}

static void meta_adjust(struct kpop *kp, uint64_t table, int delta)
{
	uint64_t m;

	if (!u64map_get(&kp->tables, table >> 12, &m))
		return;
	m = (m & ~META_COUNT_MASK) | (uint64_t)((int64_t)(m & META_COUNT_MASK) + delta);
	(void)u64map_put(&kp->tables, table >> 12, m); /* replaces: cannot fail */
}

static enum mem_status table_alloc(struct kpop *kp, unsigned level, uint64_t *pa)
{
	enum mem_status s = MEM_RETRY;

	if (u64map_reserve(&kp->tables, 1) != 0)
		return MEM_NOMEM;
	for (unsigned i = 0; i <= KPOP_PORT_RETRIES && s == MEM_RETRY; i++)
		s = mem_port_alloc_table(kp->cfg.port, pa);
	if (s != MEM_OK)
		return s == MEM_RETRY ? MEM_NOMEM : s;
	(void)u64map_put(&kp->tables, *pa >> 12, (uint64_t)level << META_LEVEL_SHIFT);
	kp->stats.tables_allocated++;
	if (kp->cfg.counters)
		counters_pt_alloc(kp->cfg.counters, CNT_PT_EPT02);
	return MEM_OK;
}

static void table_free(struct kpop *kp, uint64_t pa)
{
	count_zapped(kp, meta_count(kp, pa));
	(void)u64map_del(&kp->tables, pa >> 12, NULL);
	(void)mem_port_free_table(kp->cfg.port, pa);
	kp->stats.tables_freed++;
	if (kp->cfg.counters)
		counters_pt_free(kp->cfg.counters, CNT_PT_EPT02);
}

enum mem_status kpt_root_alloc(struct kpop *kp, uint64_t *root)
{
	return table_alloc(kp, kp->cfg.levels, root);
}

static void free_below(struct kpop *kp, uint64_t table, unsigned level)
{
	if (level > 1 && meta_count(kp, table)) {
		for (unsigned i = 0; i < 512; i++) {
			uint64_t e;

			if (port_read(kp, table + 8 * i, &e) != MEM_OK || !pt_present(&kp->fmt, e))
				continue;
			free_below(kp, pt_table_addr(&kp->fmt, level, e), level - 1);
			table_free(kp, pt_table_addr(&kp->fmt, level, e));
		}
	}
}

void kpt_free_tree(struct kpop *kp, uint64_t root, bool root_too)
{
	unsigned n;

	free_below(kp, root, kp->cfg.levels);
	if (root_too) {
		table_free(kp, root);
		return;
	}
	/* keep the root, cleared */
	n = meta_count(kp, root);
	if (!n)
		return;
	for (unsigned i = 0; i < 512; i++)
		(void)port_write(kp, root + 8 * i, 0);
	count_zapped(kp, n);
	meta_adjust(kp, root, -(int)n);
}

/*
 * The tables on the way to l2 gfn's leaf: path[l] = table at level l
 * (path[levels] = root). Returns the lowest level reached whose table
 * exists (1 when the leaf's table exists); with `populate`, missing tables
 * are allocated (MEM_NOMEM etc. in *st on failure).
 */
static unsigned walk(struct kpop *kp, struct kpop_mmu *m, uint64_t gfn, bool populate, uint64_t path[],
		     enum mem_status *st)
{
	uint64_t gpa = gfn << 12;
	unsigned level = kp->cfg.levels;

	*st = MEM_OK;
	path[level] = m->root;
	for (; level > 1; level--) {
		uint64_t pa = path[level] + 8 * pt_index(&kp->fmt, level, gpa), e, t;

		*st = port_read(kp, pa, &e);
		if (*st != MEM_OK)
			return level;
		if (pt_present(&kp->fmt, e)) {
			path[level - 1] = pt_table_addr(&kp->fmt, level, e);
			continue;
		}
		if (!populate)
			return level;
		*st = table_alloc(kp, level - 1, &t);
		if (*st != MEM_OK)
			return level;
		*st = port_write(kp, pa, table_entry(kp, t));
		if (*st != MEM_OK) {
			table_free(kp, t);
			return level;
		}
		count_set(kp, 1);
		meta_adjust(kp, path[level], +1);
		path[level - 1] = t;
	}
	return 1;
}

enum mem_status kpt_populate(struct kpop *kp, struct kpop_mmu *m, uint64_t l2_gfn)
{
	uint64_t path[PT_MAX_LEVELS + 1];
	enum mem_status st;

	(void)walk(kp, m, l2_gfn, true, path, &st);
	return st;
}

uint64_t kpt_get(struct kpop *kp, struct kpop_mmu *m, uint64_t l2_gfn)
{
	uint64_t path[PT_MAX_LEVELS + 1], e = 0;
	enum mem_status st;

	if (walk(kp, m, l2_gfn, false, path, &st) != 1 || st != MEM_OK)
		return 0;
	if (port_read(kp, path[1] + 8 * pt_index(&kp->fmt, 1, l2_gfn << 12), &e) != MEM_OK)
		return 0;
	return pt_present(&kp->fmt, e) ? e : 0;
}

enum mem_status kpt_set(struct kpop *kp, struct kpop_mmu *m, uint64_t l2_gfn, uint64_t leaf)
{
	uint64_t path[PT_MAX_LEVELS + 1], old, pa;
	enum mem_status st;
	unsigned level;

	level = walk(kp, m, l2_gfn, leaf != 0, path, &st);
	if (st != MEM_OK)
		return st;
	if (level != 1)
		return MEM_OK; /* removing what is not there */
	pa = path[1] + 8 * pt_index(&kp->fmt, 1, l2_gfn << 12);
	st = port_read(kp, pa, &old);
	if (st != MEM_OK)
		return st;
	if (!pt_present(&kp->fmt, old))
		old = 0;
	if (old == leaf)
		return MEM_OK;
	st = port_write(kp, pa, leaf);
	if (st != MEM_OK)
		return st;
	if (old && (!leaf || kpt_leaf_hfn(kp, old) != kpt_leaf_hfn(kp, leaf) ||
		    (kpt_leaf_rights(kp, old) & ~kpt_leaf_rights(kp, leaf))))
		kpop_request_flush(kp, m);
	if (leaf) {
		count_set(kp, 1);
		if (!old)
			meta_adjust(kp, path[1], +1);
		return MEM_OK;
	}
	count_zapped(kp, 1);
	meta_adjust(kp, path[1], -1);
	/* free the tables left empty, up to (not including) the root */
	for (level = 1; level < kp->cfg.levels && meta_count(kp, path[level]) == 0; level++) {
		uint64_t up = path[level + 1] + 8 * pt_index(&kp->fmt, level + 1, l2_gfn << 12);

		if (port_write(kp, up, 0) != MEM_OK)
			break;
		table_free(kp, path[level]);
		count_zapped(kp, 1);
		meta_adjust(kp, path[level + 1], -1);
	}
	return MEM_OK;
}
