/*
 * tdp_pte.c - the TDP MMU's entries: their encodings (EPT, NPT), the one
 * function that writes an entry (and keeps every count right), table pages
 * allocated and freed, and the split of a large leaf.
 *
 * Accounting rules (tdp.h, sim/counters.h):
 *  - an entry written with a new present value counts as set; a present
 *    entry made not present counts as zapped, and so does every present
 *    entry of a table page freed with its subtree (the page is dropped
 *    whole, its entries are not cleared one by one);
 *  - table pages allocated / freed count in the configured page-table kind;
 *  - a change that removes a translation or a right (not present, another
 *    address, leaf <-> table, fewer R/W/X) raises the pending-flush flag.
 */
#include <stddef.h>

#include "arch/x86.h"
#include "mmu/tdp_internal.h"

/* Table metadata: present entries, level, first gfn covered (a multiple of 512). */
#define META_COUNT_MASK UINT64_C(0xffff)
#define META_LEVEL_SHIFT 16
#define META_GFN_SHIFT 20

/* ---- encodings ---- */

bool tdp_has_ad(const struct tdp_mmu *t)
{
	return t->cfg.kind == TDP_NPT || t->cfg.ept_ad;
}

bool tdp_pte_present(const struct tdp_mmu *t, uint64_t e)
{
	return pt_present(&t->fmt, e);
}

bool tdp_pte_leaf(const struct tdp_mmu *t, unsigned level, uint64_t e)
{
	return pt_present(&t->fmt, e) && pt_is_leaf(&t->fmt, level, e);
}

uint64_t tdp_pte_w_bit(const struct tdp_mmu *t)
{
	return t->cfg.kind == TDP_EPT ? EPT_W : PTE_RW;
}

uint64_t tdp_pte_a_bit(const struct tdp_mmu *t)
{
	return pt_accessed_bit(&t->fmt);
}

uint64_t tdp_pte_d_bit(const struct tdp_mmu *t)
{
	return pt_dirty_bit(&t->fmt);
}

bool tdp_pte_writable(const struct tdp_mmu *t, uint64_t e)
{
	return e & tdp_pte_w_bit(t);
}

uint64_t tdp_pte_addr(const struct tdp_mmu *t, unsigned level, uint64_t e)
{
	if (pt_is_leaf(&t->fmt, level, e))
		return pt_page_addr(&t->fmt, level, e);
	return pt_table_addr(&t->fmt, level, e);
}

unsigned tdp_pte_rights(const struct tdp_mmu *t, uint64_t e)
{
	return pt_rights(&t->fmt, 1, e) & (RIGHT_R | RIGHT_W | RIGHT_X | RIGHT_XU);
}

/* EPT: R, W, X (and XU with MBEC) on a table entry; SDM Vol. 3C Table 29-3..29-6. */
uint64_t tdp_pte_table(const struct tdp_mmu *t, uint64_t table_pa)
{
	if (t->cfg.kind == TDP_EPT)
		return table_pa | EPT_R | EPT_W | EPT_X | (t->cfg.ept_mbec ? EPT_XU : 0);
	return table_pa | PTE_P | PTE_RW | PTE_US;
}

uint64_t tdp_pte_leaf_make(const struct tdp_mmu *t, uint64_t pa, unsigned level, bool writable)
{
	uint64_t e = pa;

	if (t->cfg.kind == TDP_EPT) {
		e |= EPT_R | EPT_X | ((uint64_t)MT_WB << EPT_MT_SHIFT) | EPT_IPAT;
		if (t->cfg.ept_mbec)
			e |= EPT_XU;
		if (writable)
			e |= EPT_W;
	} else {
		e |= PTE_P | PTE_US;
		if (writable)
			e |= PTE_RW;
	}
	if (level > 1)
		e |= PTE_PS; /* bit 7 in both formats */
	return e;
}

/* ---- accounting ---- */

void tdp_request_flush(struct tdp_mmu *t)
{
	if (!t->need_flush)
		t->stats.flush_requests++;
	t->need_flush = true;
}

static void count_set(struct tdp_mmu *t, uint64_t n)
{
	t->stats.entries_set += n;
	if (t->cfg.counters)
		t->cfg.counters->tdp_entries_set[t->cfg.cnt_level] += n;
}

static void count_zapped(struct tdp_mmu *t, uint64_t n)
{
	t->stats.entries_zapped += n;
	if (t->cfg.counters)
		t->cfg.counters->tdp_entries_zapped[t->cfg.cnt_level] += n;
}

static void meta_adjust(struct tdp_mmu *t, uint64_t table, int delta)
{
	uint64_t m;

	if (!u64map_get(&t->tables, table >> 12, &m))
		return;
	m = (m & ~META_COUNT_MASK) | (uint64_t)((int64_t)(m & META_COUNT_MASK) + delta);
	(void)u64map_put(&t->tables, table >> 12, m); /* replaces: cannot fail */
}

/* First gfn mapped through entry `index` of a live table at `level`. */
static uint64_t entry_gfn(const struct tdp_mmu *t, uint64_t table, unsigned level, unsigned index)
{
	uint64_t m = 0;

	(void)u64map_get(&t->tables, table >> 12, &m);
	return ((m >> META_GFN_SHIFT) << 9) + index * tdp_level_pages(level);
}

/*
 * DBIT mode: a D flag about to be lost (the leaf goes, or D is cleared) is
 * first recorded in the slot's dirty log, if the slot logs: harvesting,
 * zapping and replacing leaves never lose a write.
 */
static void record_dirty(struct tdp_mmu *t, uint64_t gfn, unsigned level)
{
	struct gfn_info info;

	if (!t->cfg.slots)
		return; /* directed-only: no dirty log */
	if (memslots_gfn_peek(t->cfg.slots, gfn, NULL, &info) != MEMSLOT_OK ||
	    !(info.slot.flags & MEMSLOT_F_LOG_DIRTY))
		return;
	for (uint64_t i = 0; i < tdp_level_pages(level); i++) {
		if (memslots_mark_dirty(t->cfg.slots, gfn + i) == MEMSLOT_OK)
			t->stats.dirty_logged++;
	}
}

unsigned tdp_table_count(const struct tdp_mmu *t, uint64_t pa)
{
	uint64_t m;

	return u64map_get(&t->tables, pa >> 12, &m) ? (unsigned)(m & META_COUNT_MASK) : 0;
}

/* ---- port access ---- */

enum mem_status tdp_read(struct tdp_mmu *t, uint64_t pa, uint64_t *val)
{
	enum mem_status s = MEM_RETRY;

	for (unsigned i = 0; i <= TDP_PORT_RETRIES && s == MEM_RETRY; i++)
		s = mem_port_read(t->cfg.port, pa, 8, val);
	if (s != MEM_OK)
		t->stats.port_errors++;
	return s;
}

static enum mem_status port_write(struct tdp_mmu *t, uint64_t pa, uint64_t val)
{
	enum mem_status s = MEM_RETRY;

	for (unsigned i = 0; i <= TDP_PORT_RETRIES && s == MEM_RETRY; i++)
		s = mem_port_write(t->cfg.port, pa, 8, val);
	if (s != MEM_OK)
		t->stats.port_errors++;
	return s;
}

static enum mem_status port_cmpxchg(struct tdp_mmu *t, uint64_t pa, uint64_t old, uint64_t new,
				    uint64_t *seen)
{
	enum mem_status s = MEM_RETRY;

	for (unsigned i = 0; i <= TDP_PORT_RETRIES && s == MEM_RETRY; i++)
		s = mem_port_cmpxchg(t->cfg.port, pa, 8, old, new, seen);
	if (s != MEM_OK && s != MEM_CHANGED)
		t->stats.port_errors++;
	return s;
}

/* ---- table pages ---- */

enum mem_status tdp_table_alloc(struct tdp_mmu *t, unsigned level, uint64_t gfn, uint64_t *pa)
{
	enum mem_status s;

	if (u64map_reserve(&t->tables, 1))
		return MEM_NOMEM;
	s = mem_port_alloc_table(t->cfg.port, pa);
	if (s != MEM_OK)
		return s;
	(void)u64map_put(&t->tables, *pa >> 12,
			 ((uint64_t)level << META_LEVEL_SHIFT) | ((gfn >> 9) << META_GFN_SHIFT));
	t->stats.tables_allocated++;
	if (t->cfg.counters)
		counters_pt_alloc(t->cfg.counters, t->cfg.cnt_pt);
	return MEM_OK;
}

void tdp_table_free_tree(struct tdp_mmu *t, uint64_t pa, unsigned level)
{
	unsigned left = tdp_table_count(t, pa);
	bool dbit = t->cfg.dirty_mode == TDP_DIRTY_DBIT;

	if (level == 1 && !dbit) {
		count_zapped(t, left); /* only leaves, no D flag to keep: no need to read them */
	} else {
		for (unsigned i = 0; i < TDP_ENTRIES && left; i++) {
			uint64_t e;

			if (tdp_read(t, pa + 8 * i, &e) != MEM_OK)
				continue; /* cannot see below: that subtree leaks */
			if (!tdp_pte_present(t, e))
				continue;
			left--;
			count_zapped(t, 1);
			if (!pt_is_leaf(&t->fmt, level, e))
				tdp_table_free_tree(t, pt_table_addr(&t->fmt, level, e), level - 1);
			else if (dbit && (e & tdp_pte_d_bit(t)))
				record_dirty(t, entry_gfn(t, pa, level, i), level);
		}
	}
	(void)u64map_del(&t->tables, pa >> 12, NULL);
	if (mem_port_free_table(t->cfg.port, pa) != MEM_OK) {
		t->stats.port_errors++;
		return;
	}
	t->stats.tables_freed++;
	if (t->cfg.counters)
		counters_pt_free(t->cfg.counters, t->cfg.cnt_pt);
}

/* ---- the one writer of entries ---- */

static void keep_dirty(struct tdp_mmu *t, uint64_t table, unsigned level, unsigned index,
		       uint64_t old, uint64_t new)
{
	uint64_t d = tdp_pte_d_bit(t);

	if (t->cfg.dirty_mode != TDP_DIRTY_DBIT || !tdp_pte_leaf(t, level, old) || !(old & d))
		return;
	if (tdp_pte_present(t, new) &&
	    (!pt_is_leaf(&t->fmt, level, new) || /* a split: the children keep D */
	     ((new & d) && tdp_pte_addr(t, level, new) == tdp_pte_addr(t, level, old))))
		return;
	record_dirty(t, entry_gfn(t, table, level, index), level);
}

static bool references_table(const struct tdp_mmu *t, unsigned level, uint64_t e)
{
	return level > 1 && tdp_pte_present(t, e) && !pt_is_leaf(&t->fmt, level, e);
}

/* Does going from old to new remove a translation or a right? */
static bool lowers(const struct tdp_mmu *t, unsigned level, uint64_t old, uint64_t new)
{
	if (!tdp_pte_present(t, old))
		return false;
	if (!tdp_pte_present(t, new))
		return true;
	if (pt_is_leaf(&t->fmt, level, old) != pt_is_leaf(&t->fmt, level, new))
		return true;
	if (tdp_pte_addr(t, level, old) != tdp_pte_addr(t, level, new))
		return true;
	return (tdp_pte_rights(t, old) & ~tdp_pte_rights(t, new)) != 0;
}

enum mem_status tdp_set_entry(struct tdp_mmu *t, uint64_t table, unsigned level, unsigned index,
			      uint64_t old, uint64_t new, uint64_t *seen)
{
	bool was = tdp_pte_present(t, old), is = tdp_pte_present(t, new);
	enum mem_status s;

	if (old == new)
		return MEM_OK;
	s = port_cmpxchg(t, table + 8 * (uint64_t)index, old, new, seen);
	if (s != MEM_OK)
		return s;
	if (was != is)
		meta_adjust(t, table, is ? 1 : -1);
	if (is)
		count_set(t, 1);
	else if (was)
		count_zapped(t, 1);
	keep_dirty(t, table, level, index, old, new);
	if (lowers(t, level, old, new))
		tdp_request_flush(t);
	if (references_table(t, level, old) &&
	    (!references_table(t, level, new) ||
	     pt_table_addr(&t->fmt, level, old) != pt_table_addr(&t->fmt, level, new)))
		tdp_table_free_tree(t, pt_table_addr(&t->fmt, level, old), level - 1);
	return MEM_OK;
}

enum mem_status tdp_split_leaf(struct tdp_mmu *t, uint64_t table, unsigned level, unsigned index,
			       uint64_t leaf, uint64_t *new_entry)
{
	unsigned child_level = level - 1;
	uint64_t base = pt_page_addr(&t->fmt, level, leaf);
	uint64_t step = tdp_level_pages(child_level) << 12;
	/*
	 * The children keep every flag of the leaf (rights, memory type, A/D,
	 * NX - directed maps may carry any rights), not its address or PS;
	 * bit 12 (PAT of a large x86 leaf) is never set by this MMU.
	 */
	uint64_t keep = leaf & ~(GENMASK64(51, 12) | PTE_PS);
	uint64_t child, entry;
	enum mem_status s;

	s = tdp_table_alloc(t, child_level, entry_gfn(t, table, level, index), &child);
	if (s != MEM_OK)
		return s;
	for (unsigned i = 0; i < TDP_ENTRIES; i++) {
		uint64_t e = keep | (base + i * step) | (child_level > 1 ? PTE_PS : 0);

		s = port_write(t, child + 8 * (uint64_t)i, e);
		if (s != MEM_OK) {
			tdp_table_free_tree(t, child, child_level);
			return s;
		}
		meta_adjust(t, child, 1);
		count_set(t, 1);
	}
	entry = tdp_pte_table(t, child);
	s = tdp_set_entry(t, table, level, index, leaf, entry, NULL);
	if (s != MEM_OK) {
		tdp_table_free_tree(t, child, child_level);
		return s;
	}
	t->stats.splits++;
	*new_entry = entry;
	return MEM_OK;
}
