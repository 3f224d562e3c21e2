/*
 * nested_tdp_fault.c - one EPT violation / #NPF of L2 against EPT02 (rules
 * in nested_tdp.h):
 *   1. the access, from the exit (EPT02 is configured so that the
 *      hardware's access bits are those it would report under EPT12);
 *   2. EPT12 walked for gpa2 with the generic walker over L1's memory;
 *      refused -> the exact fault for L1 (reflect);
 *   3. A/D set in EPT12 (walk_set_ad), tables walked recorded and tracked;
 *   4. gpa1's slot: MMIO, or a write to a read-only page or to an EPT12
 *      table page -> emulate;
 *   5. the EPT02 leaf: frame, rights, size (tdp_map).
 */
#include <string.h>

#include "arch/x86.h"
#include "mmu/nested_tdp_int.h"

struct nfault {
	struct ntdp *n;
	unsigned root;
	const struct xlate_result *exit;
	struct mmu_fault *f;
	bool read, write, fetch;
	unsigned need;
};

static enum ret_pf done(struct ntdp *n, enum ret_pf r)
{
	n->stats.faults[r]++;
	if (r == RET_PF_FIXED && n->cfg.counters)
		n->cfg.counters->tdp_faults[CNT_L0]++;
	return r;
}

static enum ret_pf error(struct nfault *nf, const char *why)
{
	nf->f->error = why;
	return done(nf->n, RET_PF_ERROR);
}

static enum ret_pf emulate(struct nfault *nf, uint64_t gpa1)
{
	nf->f->emulate_gpa = gpa1;
	return done(nf->n, RET_PF_EMULATE);
}

/*
 * The fault L1 must see (SDM Vol. 3C Table 28-7; APM 15.25.6), from the
 * EPT12 walk: `st` how it ended, `rights` the rights ANDed so far.
 */
static enum ret_pf reflect(struct nfault *nf, enum walk_status st, unsigned rights)
{
	struct ntdp *n = nf->n;
	const struct xlate_result *x = nf->exit;
	struct xlate_result *r = &nf->f->inject;
	uint64_t gpa2 = nf->f->gpa;

	memset(r, 0, sizeof(*r));
	if (n->cfg.kind == TDP_EPT) {
		if (st == WALK_RSVD) {
			r->outcome = XO_EPT_MISCONFIG;
			r->fault_gpa = gpa2;
			n->stats.reflected_misconfig++;
			return done(n, RET_PF_INJECT);
		}
		/* bits 0-2 (the access) and 7-8 (linear address) as the hardware
		 * reported them; bits 3-5 what EPT12 grants (0: not present). */
		uint64_t q = x->qualification & (EPTQ_READ | EPTQ_WRITE | EPTQ_FETCH |
						  EPTQ_GLA_VALID | EPTQ_FINAL);
		if (rights & RIGHT_R)
			q |= EPTQ_READABLE;
		if (rights & RIGHT_W)
			q |= EPTQ_WRITABLE;
		if (rights & RIGHT_X)
			q |= EPTQ_EXECUTABLE;
		r->outcome = XO_EPT_VIOLATION;
		r->qualification = q;
		r->fault_gpa = gpa2;
		if (q & EPTQ_GLA_VALID) {
			r->gla = x->gla;
			r->gla_valid = true;
		}
		n->stats.reflected_violation++;
		return done(n, RET_PF_INJECT);
	}
	/* #NPF: an error code (U always: nested accesses are user accesses)
	 * plus where the fault happened (bit 32 final, 33 guest table). */
	const struct hw_config *c12 = &n->roots[nf->root].hw12.cfg;
	uint64_t ei = NPF_U;

	if (st != WALK_NOT_PRESENT)
		ei |= NPF_P;
	if (nf->write)
		ei |= NPF_W;
	if (st == WALK_RSVD)
		ei |= NPF_RSVD;
	if (nf->fetch && ((c12->nefer & EFER_NXE) || (c12->ncr4 & CR4_SMEP)))
		ei |= NPF_ID;
	ei |= x->exitinfo1 & (NPF_FINAL | NPF_GUEST_PT);
	r->outcome = XO_NPF;
	r->exitinfo1 = ei;
	r->exitinfo2 = gpa2;
	n->stats.reflected_npf++;
	return done(n, RET_PF_INJECT);
}

/* The access from the exit. */
static bool decode_exit(struct nfault *nf)
{
	const struct xlate_result *x = nf->exit;

	if (nf->n->cfg.kind == TDP_EPT) {
		if (x->outcome != XO_EPT_VIOLATION)
			return false;
		nf->read = x->qualification & EPTQ_READ;
		nf->write = x->qualification & EPTQ_WRITE;
		nf->fetch = x->qualification & EPTQ_FETCH;
	} else {
		if (x->outcome != XO_NPF)
			return false;
		/* EPT02's host EFER has NXE (tdp_hw_program): I/D marks every fetch */
		nf->fetch = x->exitinfo1 & NPF_ID;
		nf->write = x->exitinfo1 & NPF_W;
		nf->read = !nf->fetch;
	}
	/* the hardware's nested rule (walk2d: nested_rights_allow), without MBEC */
	nf->need = (nf->read ? RIGHT_R : 0) | (nf->write ? RIGHT_W : 0) | (nf->fetch ? RIGHT_X : 0);
	if (nf->n->cfg.kind == TDP_NPT)
		nf->need |= RIGHT_U;
	return true;
}

static void count_walk(struct ntdp *n, const struct walk_out *out, bool ad)
{
	struct counters *c = n->cfg.counters;

	if (ad) {
		n->stats.ept12_ad_writes += out->ad_writes;
		if (c)
			c->sw_ad_writes[CNT_L0] += out->ad_writes;
		return;
	}
	n->stats.ept12_walks++;
	n->stats.ept12_refs += out->refs;
	if (c) {
		c->sw_walks[CNT_L0]++;
		c->sw_walk_refs[CNT_L0] += out->refs;
	}
}

/* Records the EPT12 tables walked for gpa2 (positions) and tracks them. */
static int record_path(struct nfault *nf, const struct walk_out *out)
{
	uint64_t gfn2 = nf->f->gpa >> 12;

	for (unsigned l = out->top; l >= out->level && l >= 1; l--) {
		uint64_t base = gfn2 & ~(ntdp_level_pages(l + 1) - 1);
		int r = ntdp_pos_add(nf->n, nf->root, l, base, out->ent[l].addr >> 12);

		if (r)
			return r;
	}
	return NTDP_OK;
}

/* Step 5: the EPT02 leaf. */
static enum ret_pf install(struct nfault *nf, const struct walk_out *out, const struct pt_format *fmt)
{
	struct ntdp *n = nf->n;
	struct ntdp_root *root = &n->roots[nf->root];
	uint64_t gpa1 = out->out_addr, gfn1 = gpa1 >> 12, gfn2 = nf->f->gpa >> 12;
	uint64_t leaf = out->ent[out->level].val, hfn, pages, base1, base2;
	struct gfn_info info;
	bool ro, logging, w;
	unsigned level, rights;
	int ms, r;

	ms = memslots_gfn_peek(n->cfg.l1_slots, gfn1, NULL, &info);
	if (ms == MEMSLOT_OUTSIDE)
		return error(nf, "ntdp: EPT12 maps gpa2 to a gpa1 outside every L1 memory slot");
	if (ms == MEMSLOT_MMIO)
		return emulate(nf, gpa1);
	ro = info.slot.flags & MEMSLOT_F_READONLY;
	logging = info.slot.flags & MEMSLOT_F_LOG_DIRTY;
	if (nf->write && (ro || ntdp_is_table(n, gfn1)))
		return emulate(nf, gpa1);
	/* W: granted by EPT12, not a read-only slot, not a clean page of a
	 * logging slot, and EPT12's D already set (SDM 29.3.5: the first write
	 * must come to L0, which sets D). */
	w = (out->rights & RIGHT_W) && !ro && !(logging && !nf->write) &&
	    (!fmt->ad || (leaf & pt_dirty_bit(fmt)));
	level = out->level < n->cfg.max_level ? out->level : n->cfg.max_level;
	if (logging)
		level = 1;
	while (level > 1 && (!memslot_run_fits(&info.slot, gfn1, 9 * (level - 1)) ||
			     (w && !ntdp_table_free_range(n, gfn1, level))))
		level--;
	if (level == 1 && ntdp_is_table(n, gfn1))
		w = false;
	pages = ntdp_level_pages(level);
	base1 = gfn1 & ~(pages - 1);
	base2 = gfn2 & ~(pages - 1);
	ms = memslots_gfn_to_hfn(n->cfg.l1_slots, base1, &hfn, NULL);
	if (ms == MEMSLOT_ENOMEM || ms == MEMSLOT_EHOST)
		return error(nf, "ntdp: out of frames for L1's memory");
	if (ms != MEMSLOT_OK)
		return error(nf, "ntdp: L1's memory cannot be backed");
	rights = out->rights & (RIGHT_R | RIGHT_W | RIGHT_X | RIGHT_XU);
	if (!w)
		rights &= ~(unsigned)RIGHT_W;
	r = tdp_map(root->t, base2, hfn, level, rights);
	if (tdp_flush_take(root->t))
		root->flush = true;
	if (r == TDP_ENOMEM)
		return error(nf, "ntdp: no page left for EPT02 tables");
	if (r)
		return error(nf, "ntdp: EPT02 leaf refused (port failure or bad frame)");
	if (nf->write && logging)
		(void)memslots_mark_dirty(n->cfg.l1_slots, gfn1);
	ntdp_leaf_add(n, nf->root, base2, base1, level);
	n->stats.leaves_installed[level]++;
	nf->f->gfn = gfn1;
	nf->f->hfn = hfn + (gfn1 - base1);
	nf->f->level = level;
	return done(n, RET_PF_FIXED);
}

enum ret_pf ntdp_page_fault(struct ntdp *n, const struct xlate_result *exit, struct mmu_fault *f)
{
	struct nfault nf = { .n = n, .exit = exit, .f = f };
	const struct hw_mmu *hw12;
	struct walk_req req;
	struct walk_out out;
	enum walk_status st;

	memset(f, 0, sizeof(*f));
	f->kind = MMU_FAULT_TDP;
	if (n->cur < 0)
		return error(&nf, "ntdp: no EPT02 root loaded");
	nf.root = (unsigned)n->cur;
	if (!decode_exit(&nf) || !tdp_fault_from_exit(f, exit))
		return error(&nf, "ntdp: not an EPT violation / #NPF of this kind");
	hw12 = &n->roots[nf.root].hw12;
	req = (struct walk_req){
		.fmt = &hw12->nested_fmt,
		.root = hw12->nested_root,
		.addr = f->gpa,
		.mem = hw12->cfg.mem,
	};
	for (unsigned tries = 0;; tries++) {
		st = walk_tables(&req, &out);
		count_walk(n, &out, false);
		if (st == WALK_NOT_PRESENT || st == WALK_RSVD)
			return reflect(&nf, st, out.rights);
		if (st != WALK_OK)
			return error(&nf, "ntdp: an EPT12 table lies outside L1's RAM");
		if ((out.rights & nf.need) != nf.need)
			return reflect(&nf, WALK_OK, out.rights);
		st = walk_set_ad(&req, &out, nf.write);
		count_walk(n, &out, true);
		if (st == WALK_OK)
			break;
		if (st != WALK_RETRY || tries >= 16)
			return error(&nf, "ntdp: cannot set A/D in EPT12 (table outside L1's writable RAM)");
	}
	if (record_path(&nf, &out))
		return error(&nf, "ntdp: out of host memory for the reverse map");
	return install(&nf, &out, &hw12->nested_fmt);
}
