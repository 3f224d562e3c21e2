/*
 * tlb_access.c - the access path a vCPU model uses, and the hooks that plug
 * the paging-structure caches and the nested TLB into the walker.
 *
 *   1. Tags from the registers (tlb_bind): PCID, VPID/ASID, EP4TA.
 *   2. Guest paging off: no linear translation is cached; the access is a
 *      guest-physical one (nested TLB, nested PSCs, through the walker).
 *   3. TLB lookup. A hit is checked with the walker's own x86 rule
 *      (x86_access_fault, SDM 4.6) on the cached guest rights and
 *      protection key, with the registers of now (CR0.WP, CR4.SMEP/SMAP,
 *      EFLAGS.AC, PKRU, CPL are not part of a TLB entry, SDM 4.10.2.2),
 *      and with the nested rule on the cached nested rights.
 *        - allowed, and for a write the dirty state of both dimensions is
 *          recorded: the hit is the translation (no memory reference);
 *        - not allowed: the entry is dropped and the access walks. "a
 *          page-fault exception ... will invalidate any TLB entries that
 *          are for a page number corresponding to that linear address"
 *          (4.10.4.1) and a fault may come from stale cached rights
 *          (4.10.4.3); the model lets the walk of memory decide instead of
 *          faulting from the cache;
 *        - a write through an entry whose D flag (guest, or EPT/NPT with
 *          A/D) was 0 when cached: dropped, and the walk sets D (SDM 4.8:
 *          the processor sets D on the first write; it cannot from a TLB
 *          entry that does not record D = 1).
 *   4. Miss: hw_translate with the caches plugged in; on success the
 *      translation is cached (4.10.2.1: only for a successful access); a
 *      fault applies the fault's invalidation (tlb_inval.c).
 */
#include "arch/tlb_internal.h"

#include <string.h>

#include "arch/x86.h"

/* ---- hooks for the walker ---- */

static bool gpsc_lookup_cb(void *ctx, uint64_t addr, unsigned *level, uint64_t *table, unsigned *rights)
{
	return tlb_psc_lookup(ctx, 0, addr, level, table, rights);
}

static void gpsc_fill_cb(void *ctx, uint64_t addr, unsigned level, uint64_t table, unsigned rights)
{
	tlb_psc_fill(ctx, 0, addr, level, table, rights);
}

static bool npsc_lookup_cb(void *ctx, uint64_t addr, unsigned *level, uint64_t *table, unsigned *rights)
{
	return tlb_psc_lookup(ctx, 1, addr, level, table, rights);
}

static void npsc_fill_cb(void *ctx, uint64_t addr, unsigned level, uint64_t table, unsigned rights)
{
	tlb_psc_fill(ctx, 1, addr, level, table, rights);
}

static bool ntlb_lookup_cb(void *ctx, uint64_t gpa, uint64_t *hpa_page, uint64_t *size,
			   unsigned *rights, bool *dirty)
{
	return tlb_ntlb_lookup(ctx, gpa, hpa_page, size, rights, dirty);
}

static void ntlb_fill_cb(void *ctx, uint64_t gpa, uint64_t hpa_page, uint64_t size,
			 unsigned rights, bool dirty)
{
	tlb_ntlb_fill(ctx, gpa, hpa_page, size, rights, dirty);
}

static bool any_present(const struct tlb_array *a, unsigned from, unsigned to)
{
	for (unsigned i = from; i <= to; i++)
		if (tlb_array_present(&a[i]))
			return true;
	return false;
}

const struct hw_caches *tlb_bind(struct tlb *t, const struct hw_mmu *m)
{
	const struct cpu_regs *regs = &m->cfg.cpu.regs;
	struct tlb_context c;

	if (t->bound_valid && t->bound_cr3 == regs->cr3 && t->bound_cr4 == regs->cr4 &&
	    t->bound_eptp == m->cfg.eptp && t->bound_ncr4 == m->cfg.ncr4 &&
	    t->bound_nested == m->cfg.nested && t->bound_mode == m->mode)
		return &t->hooks;
	memset(&c, 0, sizeof(c));
	c.lin.vpid = t->vpid;
	/* "If CR4.PCIDE = 0, the current PCID is always 000H" (SDM 4.10.1). */
	c.lin.pcid = (regs->cr4 & CR4_PCIDE) ? (uint16_t)(regs->cr3 & CR3_PCID_MASK) : 0;
	c.nest.kind = TLB_GPHYS;
	switch (m->cfg.nested) {
	case NESTED_NONE:
		/* Linear mappings (Vol. 3C 29.4.1: EPT not in use). */
		c.lin.kind = TLB_LINEAR;
		break;
	case NESTED_EPT:
		/*
		 * Combined mappings "associated with the current VPID, the
		 * current PCID, and the current EP4TA"; guest-physical
		 * mappings "associated with the current EP4TA" (Vol. 3C
		 * 29.4.2). EP4TA: EPTP bits 51:12.
		 */
		c.lin.kind = TLB_COMBINED;
		c.lin.root = m->cfg.eptp & GENMASK64(51, 12);
		c.nest.root = c.lin.root;
		break;
	case NESTED_NPT:
		/* AMD: everything is tagged by the ASID (APM 15.16). */
		c.lin.kind = TLB_COMBINED;
		c.nest.vpid = t->vpid;
		break;
	}
	if (m->mode != PAGING_NONE)
		for (unsigned l = 2; l <= m->guest_fmt.levels && l <= PT_MAX_LEVELS; l++)
			c.gshift[l] = m->guest_fmt.level[l].shift;
	if (m->cfg.nested != NESTED_NONE)
		for (unsigned l = 2; l <= m->nested_fmt.levels && l <= PT_MAX_LEVELS; l++)
			c.nshift[l] = m->nested_fmt.level[l].shift;
	t->cur = c;

	t->gpsc_hook = (struct walk_cache){ gpsc_lookup_cb, gpsc_fill_cb, t };
	t->npsc_hook = (struct walk_cache){ npsc_lookup_cb, npsc_fill_cb, t };
	memset(&t->hooks, 0, sizeof(t->hooks));
	if (any_present(t->psc, 2, PT_MAX_LEVELS))
		t->hooks.guest_psc = &t->gpsc_hook;
	if (m->cfg.nested != NESTED_NONE) {
		if (any_present(t->npsc, 2, PT_MAX_LEVELS))
			t->hooks.nested_psc = &t->npsc_hook;
		if (any_present(t->ntlb, 0, TLB_NCLASS - 1)) {
			t->hooks.ntlb_lookup = ntlb_lookup_cb;
			t->hooks.ntlb_fill = ntlb_fill_cb;
			t->hooks.ntlb_ctx = t;
		}
	}
	t->bound_valid = true;
	t->bound_cr3 = regs->cr3;
	t->bound_cr4 = regs->cr4;
	t->bound_eptp = m->cfg.eptp;
	t->bound_ncr4 = m->cfg.ncr4;
	t->bound_nested = m->cfg.nested;
	t->bound_mode = m->mode;
	return &t->hooks;
}

/* ---- what a successful walk established (for the fill) ---- */

/* The TLB entry for a successful access: what xlate_result says the walk used. */
static void fill_from_result(struct tlb_fill *f, uint64_t la, const struct xlate_result *r)
{
	*f = (struct tlb_fill){
		.la = la,
		.gpa = r->gpa,
		.hpa = r->hpa,
		.size = r->page_size,
		.guest_size = r->guest_page_size,
		.grights = r->guest_rights,
		.nrights = r->nested_rights,
		.pkey = r->pkey,
		.global = r->global,
		.gdirty = r->guest_dirty,
		.ndirty = r->nested_dirty,
	};
}

/* ---- the access ---- */

static void hit_result(struct xlate_result *r, const struct tlb_entry *e, uint64_t la)
{
	uint64_t off = la - e->addr;

	memset(r, 0, sizeof(*r));
	r->outcome = XO_OK;
	r->gpa = e->gpa + off;
	r->hpa = e->out + off;
	r->page_size = e->size;
}

void tlb_access(struct tlb *t, const struct hw_mmu *m, uint64_t la, enum access_type type,
		bool implicit, struct xlate_result *r)
{
	const struct hw_caches *caches = tlb_bind(t, m);
	struct hw_mmu local;

	t->st.accesses++;
	if (m->mode != PAGING_NONE) {
		enum tlb_class cls;
		struct tlb_entry *e = tlb_find(t, la, &cls);

		if (e) {
			if (x86_access_fault(&m->cfg.cpu.regs, &m->guest_fmt, e->grights, e->pkey,
					     type, implicit) ||
			    !hw_nested_allows(m, e->nrights, type, e->grights & RIGHT_U)) {
				tlb_drop_entry(t, e, cls);
				t->st.drop_rights++;
			} else if (type == ACCESS_WRITE && (!e->gdirty || !e->ndirty)) {
				tlb_drop_entry(t, e, cls);
				t->st.drop_dirty++;
			} else {
				/* Read the entry before the LRU stamp is written:
				 * the other order stalls on store forwarding. */
				hit_result(r, e, la);
				tlb_count_hit(t, e, cls);
				return;
			}
		}
		tlb_count_miss(t);
	}

	local = *m;
	local.caches = caches;
	hw_translate(&local, la, type, implicit, r, NULL);
	t->st.walks++;
	t->st.walk_refs += r->refs;
	t->st.ad_writes += r->ad_writes;

	switch (r->outcome) {
	case XO_OK:
		if (m->mode != PAGING_NONE) {
			struct tlb_fill f;

			fill_from_result(&f, la, r);
			tlb_fill(t, &f);
		}
		return;
	case XO_PAGE_FAULT:
		tlb_on_page_fault(t, la);
		break;
	case XO_EPT_VIOLATION:
		tlb_on_nested_fault(t, TLB_OP_EPT_VIOLATION, r->fault_gpa,
				    r->qualification & EPTQ_FINAL, la);
		break;
	case XO_NPF:
		tlb_on_nested_fault(t, TLB_OP_NPF, r->exitinfo2, r->exitinfo1 & NPF_FINAL, la);
		break;
	default:
		break;
	}
	t->st.faults++;
}
