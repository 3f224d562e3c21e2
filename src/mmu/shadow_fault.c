/*
 * shadow_fault.c - the fault path of the shadow MMU.
 *
 * A #PF intercepted while the guest runs on the shadow tables:
 *   1. Walk the guest's own tables for the gva with the hardware layer's
 *      walker (walk_tables over guestmem_pmem, the guest's format): a
 *      not-present or reserved entry, or rights that refuse the access
 *      (x86_access_fault, the processor's own rule), is the guest's fault:
 *      RET_PF_INJECT with the error code the processor gives.
 *   2. Set the guest's A flags (and D for a write) as the processor would
 *      (walk_set_ad: all or nothing, by compare-exchange).
 *   3. Build the shadow path from the root: at each shadow level the child
 *      page is the page for (guest table gfn, role) - or, at and below a
 *      guest large page, a direct page for the gfn range - found in the hash
 *      or made (a new page of a guest table write-protects its gfn).
 *   4. Install the 4 KiB leaf: rights of the whole guest path, writable only
 *      if the guest leaf is dirty, the frame is not write-protected, the
 *      slot is writable and, in a dirty-logging slot, the page is logged.
 *   5. If the hardware still would not allow the access with that leaf (a
 *      write to a write-protected page, or a write no entry can express),
 *      the access is emulated: RET_PF_EMULATE.
 *
 * Guest CR0.WP = 0 (the hardware runs with WP = 1): a supervisor write to a
 * page the guest maps read-only is allowed by the guest. The leaf is then
 * made writable for the supervisor; for a user page that means taking U
 * away (user accesses fault and rebuild the leaf read-only), plus XD under
 * SMEP (the page would otherwise become supervisor-executable). Under SMAP
 * or protection keys a supervisor page behaves differently from a user
 * page, so there the write is emulated instead (exact, if slower).
 */
#include <string.h>

#include "mmu/shadow_int.h"

unsigned acc_from_rights(unsigned rights)
{
	return ((rights & RIGHT_W) ? ACC_W : 0) | ((rights & RIGHT_U) ? ACC_U : 0) |
	       ((rights & RIGHT_X) ? ACC_X : 0);
}

unsigned sp_guest_entry_size(const struct shadow_page *sp)
{
	return sp->role.mode == PAGING_32 ? 4 : 8;
}

/*
 * A 32-bit guest table has 1024 entries; its shadow pages have 512:
 * a guest PD is shadowed by four level-2 pages (quadrant q: guest PDEs
 * 256q..256q+255, each 4 MiB PDE becoming two 2 MiB shadow entries), a
 * guest PT by two level-1 pages (quadrant q: PTEs 512q..512q+511).
 */
unsigned sp_guest_index(const struct shadow_page *sp, unsigned idx)
{
	if (sp->role.mode != PAGING_32)
		return idx;
	if (sp->role.level == 2)
		return sp->role.quadrant * 256 + idx / 2;
	return sp->role.quadrant * 512 + idx;
}

static unsigned raw_pkey(union sp_role role, uint64_t gentry)
{
	return role.cr4_pke ? (unsigned)((gentry & PTE_PKEY_MASK) >> PTE_PKEY_SHIFT) : 0;
}

bool shadow_child_key(const struct shadow_mmu *s, const struct pt_format *gfmt,
		      const struct shadow_page *sp, unsigned idx, uint64_t gentry,
		      uint64_t *gfn, union sp_role *role)
{
	unsigned level = sp->role.level;
	unsigned glevel = level; /* shadow level L shadows guest level L */
	unsigned acc;

	(void)s;
	*role = sp->role;
	role->level = level - 1;
	role->quadrant = 0;
	if (sp->role.direct) {
		*gfn = sp->gfn + ((uint64_t)idx << (SPT_SHIFT * (level - 1)));
		return true;
	}
	if (!pt_present(gfmt, gentry) || pt_rsvd_set(gfmt, glevel, gentry) || !(gentry & PTE_A))
		return false;
	acc = sp->role.access & acc_from_rights(pt_rights(gfmt, glevel, gentry));
	if (pt_is_leaf(gfmt, glevel, gentry)) {
		/* A guest large page: a direct page for the part this entry covers. */
		uint64_t base = pt_page_addr(gfmt, glevel, gentry) >> 12;

		if (sp->role.mode == PAGING_32)
			base += (uint64_t)(idx & 1) * SPT_ENTRIES;
		*gfn = base;
		role->direct = 1;
		role->access = (gentry & PTE_D) ? acc : (acc & ~ACC_W);
		role->pkey = raw_pkey(sp->role, gentry);
		/*
		 * D itself is in the key, not only through W: under guest
		 * CR0.WP = 0 a read-only page gets supervisor-writable leaves
		 * (once D is set), which must go when the guest clears D.
		 */
		role->gdirty = (gentry & PTE_D) != 0;
		return true;
	}
	*gfn = pt_table_addr(gfmt, glevel, gentry) >> 12;
	role->access = acc;
	if (sp->role.mode == PAGING_32 && level == 2)
		role->quadrant = idx & 1;
	return true;
}

/* Whether the page is already logged dirty in its (logging) slot. */
static bool logged_dirty(struct shadow_mmu *s, const struct memslot_desc *slot, uint64_t gfn)
{
	uint64_t bits = 0;

	if (memslots_dirty_get(s->cfg.slots, slot->id, gfn - slot->base_gfn, 1, &bits) != MEMSLOT_OK)
		return false;
	return bits & 1;
}

bool shadow_make_leaf(struct shadow_mmu *s, union sp_role role, const struct leaf_in *in,
		      uint64_t *spte, int *slot_status)
{
	struct gfn_info info;
	uint64_t hfn;
	bool w, u, x, may_write;
	int r;

	r = in->fault ? memslots_gfn_to_hfn(s->cfg.slots, in->gfn, &hfn, &info)
		      : memslots_gfn_peek(s->cfg.slots, in->gfn, &hfn, &info);
	*slot_status = r;
	if (r != MEMSLOT_OK)
		return false;
	u = in->acc & ACC_U;
	x = in->acc & ACC_X;
	may_write = !(info.slot.flags & MEMSLOT_F_READONLY) && !gfn_write_protected(s, in->gfn);
	if (may_write && (info.slot.flags & MEMSLOT_F_LOG_DIRTY)) {
		bool writing = in->fault && in->type == ACCESS_WRITE;

		may_write = writing || logged_dirty(s, &info.slot, in->gfn);
	}
	w = may_write && (in->acc & ACC_W) && in->dirty;
	if (may_write && in->fault && in->type == ACCESS_WRITE && !in->user && !(in->acc & ACC_W) &&
	    !role.cr0_wp && role.mode != PAGING_NONE && !(u && (role.smap_andnot_wp || role.cr4_pke))) {
		/* Guest CR0.WP = 0: a supervisor-writable leaf (see the top). */
		w = true;
		if (u) {
			u = false;
			if (role.smep_andnot_wp)
				x = false;
		}
	}
	if (w && in->fault && in->type == ACCESS_WRITE && (info.slot.flags & MEMSLOT_F_LOG_DIRTY))
		(void)memslots_mark_dirty(s->cfg.slots, in->gfn);
	*spte = (hfn << 12) | PTE_P | PTE_A | (w ? PTE_RW | PTE_D : 0) | (u ? PTE_US : 0) |
		(x ? 0 : PTE_XD) | ((uint64_t)in->pkey << PTE_PKEY_SHIFT);
	return true;
}

/* ---- the fault ---- */

static enum ret_pf inject(struct mmu_fault *f, uint32_t ec)
{
	memset(&f->inject, 0, sizeof(f->inject));
	f->inject.outcome = XO_PAGE_FAULT;
	f->inject.error_code = ec;
	f->inject.cr2 = f->gva;
	return RET_PF_INJECT;
}

static enum ret_pf fail(struct shadow_mmu *s, struct mmu_fault *f, const char *why)
{
	shadow_set_error(s, why);
	f->error = s->error;
	return RET_PF_ERROR;
}

/* What the guest walk found for the faulting gva. */
struct guest_path {
	uint64_t gpa;
	unsigned leaf_level;               /* level of the guest leaf; levels+1 with paging off */
	uint64_t gentry[PT_MAX_LEVELS + 1]; /* guest entries, after the A/D update */
	unsigned rights;                   /* RIGHT_* of the whole path */
	unsigned pkey;
	bool dirty;
};

/* Steps 1-2. Returns RET_PF_FIXED to go on, else the result. */
static enum ret_pf guest_walk(struct shadow_mmu *s, const struct guest_ctx *g, struct mmu_fault *f,
			      bool implicit, struct guest_path *p)
{
	const struct cpu_regs *regs = &g->cpu->regs;
	struct walk_req req = {
		.fmt = &g->fmt,
		.root = regs->cr3 & g->fmt.root_mask,
		.pdpte_regs = s->cur->gpdpte,
		.addr = f->gva,
		.mem = guestmem_pmem(&s->gm),
	};
	struct walk_out out;

	for (unsigned tries = 0;; tries++) {
		enum walk_status st = walk_tables(&req, &out);
		uint32_t ec;

		SPT_COUNT(s, sw_walks, 1);
		SPT_COUNT(s, sw_walk_refs, out.refs);
		switch (st) {
		case WALK_OK:
			break;
		case WALK_NOT_PRESENT:
			return inject(f, x86_pfec_access_bits(regs, f->access, implicit));
		case WALK_RSVD:
			return inject(f, PFEC_P | PFEC_RSVD | x86_pfec_access_bits(regs, f->access, implicit));
		default:
			return fail(s, f, "a guest paging structure lies outside guest memory");
		}
		ec = x86_access_fault(regs, &g->fmt, out.rights, out.pkey, f->access, implicit);
		if (ec)
			return inject(f, ec);
		st = walk_set_ad(&req, &out, f->access == ACCESS_WRITE);
		SPT_COUNT(s, sw_ad_writes, out.ad_writes);
		if (st == WALK_RETRY && tries < 16)
			continue;
		if (st != WALK_OK)
			return fail(s, f, "the guest's A/D flags could not be set");
		break;
	}
	p->gpa = out.out_addr;
	p->leaf_level = out.level;
	for (unsigned l = out.level; l <= g->fmt.levels; l++)
		p->gentry[l] = out.ent[l].val;
	p->rights = out.rights;
	p->pkey = raw_pkey(g->base, out.ent[out.level].val);
	p->dirty = out.ent[out.level].val & PTE_D;
	return RET_PF_FIXED;
}

static unsigned spt_index(uint64_t gva, unsigned level)
{
	return (unsigned)(gva >> (12 + SPT_SHIFT * (level - 1))) & (SPT_ENTRIES - 1);
}

static enum ret_pf do_fault(struct shadow_mmu *s, const struct cpu *guest, struct mmu_fault *f,
			    bool implicit)
{
	struct guest_ctx g;
	struct guest_path p;
	struct shadow_root *root;
	struct shadow_page *sp;
	struct pt_format *gfmt = &g.fmt;
	bool changed = false;
	uint64_t gva = f->gva, spte, old = 0;
	int slot_status;
	uint32_t hw_ec;
	enum ret_pf ret;

	s->error = NULL;
	f->error = NULL;
	guest_ctx_init(s, guest, &g);
	guest_pdptes_update(s, &g);
	if (g.mode == PAGING_NONE) {
		gva &= UINT64_C(0xffffffff);
		p.gpa = gva;
		p.leaf_level = PT_MAX_LEVELS + 1;
		p.rights = RIGHT_ALL;
		p.pkey = 0;
		p.dirty = true;
	} else {
		ret = guest_walk(s, &g, f, implicit, &p);
		if (ret != RET_PF_FIXED)
			return ret;
	}
	f->gfn = p.gpa >> 12;
	s->epoch++;
	if (!root_ensure(s, &g))
		return fail(s, f, "no shadow root");
	root = &s->cur->roots[0];
	sp = root->pae ? root->sp[(gva >> 30) & 3] : root->sp[0];
	if (!sp)
		return fail(s, f, "internal: the shadow root has no page for an address the guest maps");
	sp_touch(s, sp);

	/* Step 3: the path. */
	for (unsigned level = sp->role.level; level > 1; level--) {
		unsigned idx = spt_index(gva, level);
		struct shadow_page *child;
		union sp_role crole;
		uint64_t cgfn, e;
		bool created;

		if (!shadow_child_key(s, gfmt, sp, idx, sp->role.direct ? 0 : p.gentry[level], &cgfn, &crole))
			return fail(s, f, "internal: a guest entry the walk used is not valid");
		child = NULL;
		if (sp_present(sp, idx)) {
			if (!spte_read(s, sp, idx, &e))
				return fail(s, f, "shadow table read failed");
			child = sp_by_pa(s, e & SPTE_ADDR_MASK);
			if (!child || child->gfn != cgfn || child->role.word != crole.word) {
				child = NULL;
				if (!sp_drop_entry(s, sp, idx))
					return fail(s, f, "shadow table write failed");
			}
		}
		if (!child) {
			child = sp_get(s, guest, cgfn, crole, &created);
			if (!child)
				return fail(s, f, "no shadow page");
			/*
			 * An unsync page linked anew: the invalidations since it
			 * went unsync may not have reached it (it was not
			 * reachable from a root), so it is synced first.
			 */
			if (child->unsync)
				sp_sync(s, guest, child);
			if (!sp_link(s, sp, idx, child))
				return fail(s, f, "shadow table write failed");
			changed = true;
		}
		sp_touch(s, child);
		sp = child;
	}

	/* Step 4: the leaf. */
	if (f->access == ACCESS_WRITE && s->cfg.unsync && gfn_write_protected(s, f->gfn) &&
	    sp_can_unsync(s, f->gfn))
		sp_mark_unsync(s, f->gfn);
	struct leaf_in in = {
		.gfn = f->gfn,
		.acc = acc_from_rights(p.rights),
		.pkey = p.pkey,
		.dirty = p.dirty,
		.fault = true,
		.type = f->access,
		.user = guest->regs.cpl == 3 && !implicit,
	};
	if (!shadow_make_leaf(s, sp->role, &in, &spte, &slot_status)) {
		if (slot_status == MEMSLOT_MMIO) {
			f->emulate_gpa = p.gpa;
			return RET_PF_EMULATE;
		}
		if (slot_status == MEMSLOT_OUTSIDE)
			return fail(s, f, "the guest-physical address lies outside every memory slot");
		return fail(s, f, "no frame to back the guest page");
	}
	unsigned idx = spt_index(gva, 1);
	if (sp_present(sp, idx) && !spte_read(s, sp, idx, &old))
		return fail(s, f, "shadow table read failed");
	if (!sp_present(sp, idx) || old != spte) {
		if (!sp_set_leaf(s, sp, idx, f->gfn, spte))
			return fail(s, f, "shadow table write failed");
		changed = true;
	}
	f->hfn = (spte & SPTE_ADDR_MASK) >> 12;
	f->level = 1;

	/* Step 5: would the hardware now allow it? */
	hw_ec = x86_access_fault(&g.hw, &g.hw_fmt, pt_rights(&g.hw_fmt, 1, spte),
				 g.hw_fmt.pke ? raw_pkey(g.base, spte) : 0, f->access, implicit);
	if (hw_ec) {
		if (f->access != ACCESS_WRITE)
			return fail(s, f, "internal: no shadow entry allows an access the guest allows");
		if (gfn_write_protected(s, f->gfn))
			SPT_COUNT(s, spt_writes_trapped, 1);
		f->emulate_gpa = p.gpa;
		return RET_PF_EMULATE;
	}
	if (!changed)
		return RET_PF_SPURIOUS;
	SPT_COUNT(s, spt_faults, 1);
	return RET_PF_FIXED;
}

enum ret_pf shadow_page_fault(struct shadow_mmu *s, const struct cpu *guest, struct mmu_fault *f)
{
	return do_fault(s, guest, f, guest->regs.cpl == 3 && !f->user);
}

enum ret_pf shadow_page_fault_implicit(struct shadow_mmu *s, const struct cpu *guest,
				       struct mmu_fault *f)
{
	return do_fault(s, guest, f, true);
}
