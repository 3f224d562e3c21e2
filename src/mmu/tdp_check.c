/*
 * tdp_check.c - tdp_check (tdp.h): a TDP MMU's tables against the guest's
 * memory slots, read from memory through the MMU's port.
 *
 * Every present leaf (gfn base G, level L, frame H, rights R):
 *   1. no reserved bit (the hardware would take a misconfiguration / #NPF
 *      with RSVD);
 *   2. with slots: every page of the leaf lies in one RAM slot (never an
 *      MMIO hole) and is backed by H, H+1, ... (the first and the last page
 *      peeked, a large leaf one backing run: memslot_run_fits) - the guest
 *      reaches its own memory and nothing else;
 *   3. W: the slot is not read-only, no page of the leaf is write-tracked,
 *      and with write-protection dirty logging a logging slot has the page
 *      marked dirty;
 * and the tables reached are the MMU's live tables. An MMU of directed
 * maps only (no slots) is checked for 1 and the table count.
 */
#include <stdarg.h>
#include <stdio.h>

#include "mmu/leaf_check.h"
#include "mmu/tdp_internal.h"

struct tchk {
	const struct tdp_mmu *t;
	char *msg;
	size_t len;
	uint64_t tables;
};

static int fail(struct tchk *c, const char *fmt, ...)
{
	va_list ap;

	if (c->msg && c->len) {
		va_start(ap, fmt);
		vsnprintf(c->msg, c->len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int check_leaf(struct tchk *c, uint64_t gfn, unsigned level, uint64_t e)
{
	const struct tdp_mmu *t = c->t;
	bool w = pt_rights(&t->fmt, level, e) & RIGHT_W;
	char why[160];

	if (!t->cfg.slots)
		return 0;
	if (leaf_check_backing(t->cfg.slots, gfn, level, pt_page_addr(&t->fmt, level, e) >> 12, w,
			       t->cfg.dirty_mode == TDP_DIRTY_WP, why, sizeof(why)))
		return fail(c, "gpa %s", why);
	if (w && (level == 1 ? tdp_track_count(t, gfn) != 0
			     : u64map_get(level == 2 ? &t->track.r2m : &t->track.r1g, gfn >> (9 * (level - 1)), NULL)))
		return fail(c, "level-%u leaf at gpa %#llx writable over a write-tracked page", level,
			    (unsigned long long)(gfn << 12));
	return 0;
}

static int check_table(struct tchk *c, uint64_t table, unsigned level, uint64_t gfn0)
{
	const struct tdp_mmu *t = c->t;

	c->tables++;
	for (unsigned i = 0; i < 512; i++) {
		uint64_t e, gfn = gfn0 + ((uint64_t)i << (9 * (level - 1)));

		if (mem_port_read(t->cfg.port, table + 8 * i, 8, &e) != MEM_OK)
			return fail(c, "cannot read table %#llx", (unsigned long long)table);
		if (!pt_present(&t->fmt, e))
			continue;
		if (pt_rsvd_set(&t->fmt, level, e))
			return fail(c, "entry %#llx at level %u has reserved bits", (unsigned long long)e, level);
		if (level == 1 || pt_is_leaf(&t->fmt, level, e)) {
			if (check_leaf(c, gfn, level, e))
				return -1;
			continue;
		}
		if (check_table(c, pt_table_addr(&t->fmt, level, e), level - 1, gfn))
			return -1;
	}
	return 0;
}

int tdp_check(const struct tdp_mmu *t, char *msg, size_t len)
{
	struct tchk c = { .t = t, .msg = msg, .len = len };

	if (check_table(&c, t->root, t->fmt.levels, 0))
		return -1;
	if (c.tables != tdp_tables_live(t))
		return fail(&c, "%llu tables reached, %llu live", (unsigned long long)c.tables,
			    (unsigned long long)tdp_tables_live(t));
	return 0;
}
