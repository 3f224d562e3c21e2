/*
 * nested_tdp_check.c - ntdp_check (nested_tdp.h): the isolation invariant
 * of nested TDP, from the tables in memory.
 *
 * For every cached EPT02 root, every table page is read from host memory
 * through L0's port (nothing the component records is trusted except to be
 * compared), and every present leaf (gpa2 base G, level L, frame H, rights
 * R) must satisfy, with EPT12 walked again by the hardware layer's walker
 * (read only):
 *   1. no reserved bit (the hardware would take a misconfiguration);
 *   2. EPT12 maps G with a leaf at least as large as L (EPT02 never merges
 *      what EPT12 splits) and ANDed rights that include R (R, W, X; on NPT
 *      also U);
 *   3. with EPT12 A/D on: every EPT12 entry of the path has A; W in EPT02
 *      needs D in the EPT12 leaf (the first write must reach L0);
 *   4. gpa1 = EPT12's output for G lies in an L1 RAM slot and every 4 KiB
 *      page of the leaf is backed, by the frames H, H+1, ...: what L0 gave
 *      L1 and nothing else (the first and the last page are peeked, the
 *      run between them must be one backing run: memslot_run_fits);
 *   5. W in EPT02: the slot is not read-only, no page of the leaf holds
 *      EPT12 tables, and a logging slot has the pages marked dirty;
 * then the number of tables reached equals the EPT02's live tables, and
 * every L1 page holding EPT12 tables is write-tracked in EPT01 with no
 * writable EPT01 leaf over it.
 */
#include <stdarg.h>
#include <stdio.h>

#include "mmu/leaf_check.h"
#include "mmu/nested_tdp_int.h"
#include "mmu/tdp_internal.h"

struct nchk {
	struct ntdp *n;
	unsigned root;
	char *msg;
	size_t len;
	uint64_t tables;
};

static int fail(struct nchk *c, const char *fmt, ...)
{
	va_list ap;

	if (c->msg && c->len) {
		va_start(ap, fmt);
		vsnprintf(c->msg, c->len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Rights compared between EPT12 and EPT02: R W X, and U on NPT (every nested access is a user access). */
static unsigned cmp_rights(const struct ntdp *n, unsigned r)
{
	return r & (RIGHT_R | RIGHT_W | RIGHT_X | (n->cfg.kind == TDP_NPT ? RIGHT_U : 0));
}

static int check_backing(struct nchk *c, uint64_t gfn2, unsigned level, uint64_t gfn1, uint64_t hfn, bool writable)
{
	char why[160];

	if (leaf_check_backing(c->n->cfg.l1_slots, gfn1, level, hfn, writable, true, why, sizeof(why)))
		return fail(c, "root %u: gpa2 %#llx: gpa1 %s", c->root, (unsigned long long)(gfn2 << 12), why);
	if (writable && !ntdp_table_free_range(c->n, gfn1, level))
		return fail(c, "root %u: gpa2 %#llx writable over an EPT12 table page near gpa1 %#llx", c->root,
			    (unsigned long long)(gfn2 << 12), (unsigned long long)(gfn1 << 12));
	return 0;
}

static int check_leaf(struct nchk *c, const struct tdp_mmu *t, uint64_t gfn2, unsigned level, uint64_t e)
{
	struct ntdp *n = c->n;
	const struct hw_mmu *hw12 = &n->roots[c->root].hw12;
	struct walk_req req = {
		.fmt = &hw12->nested_fmt,
		.root = hw12->nested_root,
		.addr = gfn2 << 12,
		.mem = hw12->cfg.mem,
	};
	struct walk_out out;
	unsigned r02 = cmp_rights(n, pt_rights(&t->fmt, level, e)), r12;
	uint64_t gfn1, hfn = pt_page_addr(&t->fmt, level, e) >> 12;

	if (walk_tables(&req, &out) != WALK_OK)
		return fail(c, "root %u: EPT02 maps gpa2 %#llx, EPT12 does not (walk status %d at level %u)", c->root,
			    (unsigned long long)(gfn2 << 12), out.status, out.level);
	r12 = cmp_rights(n, out.rights);
	if (out.level < level)
		return fail(c, "root %u: level-%u EPT02 leaf at gpa2 %#llx, EPT12 leaf only level %u", c->root, level,
			    (unsigned long long)(gfn2 << 12), out.level);
	if (!(r02 & RIGHT_R) && n->cfg.kind == TDP_NPT)
		return fail(c, "root %u: NPT02 leaf at gpa2 %#llx without P", c->root, (unsigned long long)(gfn2 << 12));
	if (r02 & ~r12)
		return fail(c, "root %u: gpa2 %#llx has rights %#x in EPT02, EPT12 grants %#x", c->root,
			    (unsigned long long)(gfn2 << 12), r02, r12);
	if (hw12->nested_fmt.ad) {
		uint64_t a = pt_accessed_bit(&hw12->nested_fmt), d = pt_dirty_bit(&hw12->nested_fmt);

		for (unsigned l = out.top; l >= out.level && l >= 1; l--)
			if (!out.ent[l].in_reg && !(out.ent[l].val & a))
				return fail(c, "root %u: gpa2 %#llx mapped while the level-%u EPT12 entry has no A",
					    c->root, (unsigned long long)(gfn2 << 12), l);
		if ((r02 & RIGHT_W) && !(out.ent[out.level].val & d))
			return fail(c, "root %u: gpa2 %#llx writable while the EPT12 leaf has no D", c->root,
				    (unsigned long long)(gfn2 << 12));
	}
	gfn1 = out.out_addr >> 12;
	return check_backing(c, gfn2, level, gfn1, hfn, r02 & RIGHT_W);
}

static int check_table(struct nchk *c, const struct tdp_mmu *t, uint64_t table, unsigned level, uint64_t gfn0)
{
	c->tables++;
	for (unsigned i = 0; i < 512; i++) {
		uint64_t e, gfn2 = gfn0 + ((uint64_t)i << (9 * (level - 1)));

		if (mem_port_read(c->n->cfg.port, table + 8 * i, 8, &e) != MEM_OK)
			return fail(c, "root %u: cannot read EPT02 table %#llx", c->root, (unsigned long long)table);
		if (!pt_present(&t->fmt, e))
			continue;
		if (pt_rsvd_set(&t->fmt, level, e))
			return fail(c, "root %u: EPT02 entry %#llx at level %u has reserved bits", c->root,
				    (unsigned long long)e, level);
		if (level == 1 || pt_is_leaf(&t->fmt, level, e)) {
			if (check_leaf(c, t, gfn2, level, e))
				return -1;
			continue;
		}
		if (check_table(c, t, pt_table_addr(&t->fmt, level, e), level - 1, gfn2))
			return -1;
	}
	return 0;
}

static int check_ept01(struct nchk *c)
{
	struct ntdp *n = c->n;
	struct tdp_mapping m;
	uint64_t key, val;
	size_t pos = 0;

	if (!n->cfg.ept01)
		return 0;
	while (u64map_iter(&n->tables.heads, &pos, &key, &val)) {
		if (!tdp_track_count(n->cfg.ept01, key))
			return fail(c, "EPT12 table page gpa1 %#llx is not write-tracked in EPT01",
				    (unsigned long long)(key << 12));
		if (tdp_lookup(n->cfg.ept01, key, &m) && (m.rights & RIGHT_W))
			return fail(c, "EPT12 table page gpa1 %#llx is writable in EPT01", (unsigned long long)(key << 12));
	}
	return 0;
}

int ntdp_check(struct ntdp *n, char *msg, size_t len)
{
	struct nchk c = { .n = n, .msg = msg, .len = len };

	for (unsigned r = 0; r < n->cfg.roots; r++) {
		struct tdp_mmu *t = n->roots[r].t;

		if (!n->roots[r].used || !t)
			continue;
		c.root = r;
		c.tables = 0;
		if (check_table(&c, t, tdp_root_pa(t), t->fmt.levels, 0))
			return -1;
		if (c.tables != tdp_tables_live(t))
			return fail(&c, "root %u: %llu EPT02 tables reached, %llu live", r, (unsigned long long)c.tables,
				    (unsigned long long)tdp_tables_live(t));
	}
	return check_ept01(&c);
}
