/*
 * walk.c - the generic page walker (one implementation for every format).
 *
 * The walk, for the address A under format F:
 *   1. Start at the root table (or where a paging-structure cache says).
 *   2. At each level L: the entry is at table + index(A, L) * entry size.
 *      Translate that address (translate hook: the nested walk), read it.
 *      PAE PDPTEs held in registers are taken from there (no memory read).
 *   3. Not present -> stop (WALK_NOT_PRESENT). Reserved bit (or, for EPT,
 *      any misconfiguration) -> stop (WALK_RSVD).
 *   4. AND the entry's rights into the rights so far.
 *   5. A leaf (level 1, or PS=1 where the level allows it) ends the walk;
 *      otherwise continue with the table the entry references.
 * Permission checks and the A/D updates belong to the caller, which knows
 * the access and the rules of the dimension (walk2d.c).
 */
#include "arch/walk.h"

#include <string.h>

#include "arch/x86.h"

void walk_trace_add(struct walk_trace *t, const struct walk_step *s)
{
	if (!t)
		return;
	if (t->n < t->cap)
		t->steps[t->n] = *s;
	t->n++;
}

static void trace_entry(const struct walk_req *req, unsigned level, enum step_kind kind,
			const struct walk_entry *ent, uint64_t value, const char *note)
{
	if (!req->trace)
		return;
	struct walk_step s = {
		.dim = (uint8_t)req->dim,
		.level = (uint8_t)level,
		.kind = (uint8_t)kind,
		.addr = req->addr,
		.entry_addr = ent ? ent->addr : 0,
		.entry_hpa = ent ? ent->hpa : 0,
		.value = value,
		.note = note,
	};
	walk_trace_add(req->trace, &s);
}

enum walk_status walk_tables(const struct walk_req *req, struct walk_out *out)
{
	const struct pt_format *f = req->fmt;
	unsigned level = f->levels;
	uint64_t table = req->root;
	unsigned rights = RIGHT_ALL;

	out->refs = 0;
	out->pkey = 0;
	out->page_size = 0;
	out->out_addr = 0;

	if (req->cache && req->cache->lookup(req->cache->ctx, req->addr, &level, &table, &rights))
		trace_entry(req, level, STEP_CACHED, NULL, table, "resumed from paging-structure cache");
	out->top = level;

	for (;; level--) {
		struct walk_entry *ent = &out->ent[level];
		uint64_t e;

		ent->addr = table + (uint64_t)pt_index(f, level, req->addr) * f->entry_size;
		ent->in_reg = f->pdpte_regs && level == 3;
		if (ent->in_reg) {
			ent->hpa = 0;
			e = req->pdpte_regs[pt_index(f, level, req->addr)];
		} else {
			ent->hpa = ent->addr;
			if (req->tr && !req->tr(req->tr_ctx, ent->addr, TR_TABLE_READ, &ent->hpa)) {
				out->level = level;
				out->rights = rights;
				return out->status = WALK_TR_FAULT;
			}
			if (pmem_read(&req->mem, ent->hpa, f->entry_size, &e) != PMEM_OK) {
				out->level = level;
				return out->status = WALK_ABORT;
			}
			out->refs++;
		}
		ent->val = e;
		out->level = level;

		if (!pt_present(f, e)) {
			trace_entry(req, level, ent->in_reg ? STEP_PDPTE_REG : STEP_READ, ent, e, "not present");
			out->rights = 0; /* the AND includes the not-present entry */
			return out->status = WALK_NOT_PRESENT;
		}
		if (pt_rsvd_set(f, level, e)) {
			trace_entry(req, level, ent->in_reg ? STEP_PDPTE_REG : STEP_READ, ent, e,
				    f->family == PT_FAMILY_EPT ? "misconfigured" : "reserved bit set");
			out->rights = rights & pt_rights(f, level, e);
			return out->status = WALK_RSVD;
		}
		rights &= pt_rights(f, level, e);
		ent->rights = rights;

		if (pt_is_leaf(f, level, e)) {
			uint64_t size = UINT64_C(1) << f->level[level].shift;

			trace_entry(req, level, ent->in_reg ? STEP_PDPTE_REG : STEP_READ, ent, e,
				    level == 1 ? "leaf" : "leaf (large page)");
			out->page_size = size;
			out->out_addr = pt_page_addr(f, level, e) | (req->addr & (size - 1));
			if (f->pke)
				out->pkey = (unsigned)((e & PTE_PKEY_MASK) >> PTE_PKEY_SHIFT);
			out->rights = rights;
			return out->status = WALK_OK;
		}
		trace_entry(req, level, ent->in_reg ? STEP_PDPTE_REG : STEP_READ, ent, e,
			    "references a table");
		table = pt_table_addr(f, level, e);
	}
}

/*
 * The A/D update (SDM 4.8; Vol. 3C 29.3.5), all or nothing:
 *   1. Decide, per entry used, the value it must hold: A set (where the
 *      format has A and the walk read the entry), D set on the leaf for a
 *      dirtying access.
 *   2. Translate every entry to update for a write (TR_TABLE_WRITE): a
 *      write-protected table faults here, before any flag is written.
 *   3. Compare-exchange each entry from the value the walk read; if one
 *      changed meanwhile, the caller walks again (as hardware restarts).
 */
enum walk_status walk_set_ad(const struct walk_req *req, struct walk_out *out, bool dirty)
{
	const struct pt_format *f = req->fmt;
	uint64_t want[PT_MAX_LEVELS + 1];
	uint64_t hpa[PT_MAX_LEVELS + 1];
	uint64_t a = pt_accessed_bit(f), d = pt_dirty_bit(f);

	out->ad_writes = 0;
	if (!f->ad)
		return WALK_OK;
	for (unsigned l = out->top; l >= out->level; l--) {
		const struct walk_entry *ent = &out->ent[l];

		want[l] = ent->val;
		if (ent->in_reg || !f->level[l].has_accessed)
			continue;
		want[l] |= a;
		if (dirty && l == out->level)
			want[l] |= d;
	}
	for (unsigned l = out->top; l >= out->level; l--) {
		hpa[l] = out->ent[l].hpa;
		if (want[l] == out->ent[l].val)
			continue;
		if (req->tr && !req->tr(req->tr_ctx, out->ent[l].addr, TR_TABLE_WRITE, &hpa[l]))
			return WALK_TR_FAULT;
	}
	for (unsigned l = out->top; l >= out->level; l--) {
		struct walk_entry *ent = &out->ent[l];

		if (want[l] == ent->val)
			continue;
		switch (pmem_cmpxchg(&req->mem, hpa[l], f->entry_size, ent->val, want[l])) {
		case PMEM_OK:
			break;
		case PMEM_CHANGED:
			return WALK_RETRY;
		case PMEM_OUTSIDE:
			return WALK_ABORT;
		}
		trace_entry(req, l, STEP_AD_UPDATE, ent, want[l],
			    (want[l] & ~ent->val & d) ? "accessed and dirty set" : "accessed set");
		ent->val = want[l];
		out->ad_writes++;
	}
	return WALK_OK;
}

/*
 * Paging-structure caches keep, per non-leaf entry used by a successful
 * access, where the walk may resume and the rights ANDed so far (SDM
 * 4.10.3). Called once the access has succeeded, so every cached entry has
 * its accessed flag set.
 */
void walk_fill_cache(const struct walk_req *req, const struct walk_out *out)
{
	if (!req->cache)
		return;
	for (unsigned l = out->top; l > out->level; l--) {
		const struct walk_entry *ent = &out->ent[l];

		if (ent->in_reg)
			continue;
		req->cache->fill(req->cache->ctx, req->addr, l - 1,
				 pt_table_addr(req->fmt, l, ent->val), ent->rights);
	}
}
