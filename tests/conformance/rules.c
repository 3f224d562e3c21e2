/*
 * rules.c - the oracle for one access: what the processor does, in the
 * order the manuals (and, where they leave room, ARCHITECTURE.md "Choices
 * where the manuals leave room") define:
 *
 *   0. context preparation: PAE PDPTE registers (SDM 4.4.1; Vol. 3C 27.3.1
 *      VM-entry checks on guest PDPTEs) -> vmentry_fail;
 *   1. non-canonical linear address (SDM 4.5.1) -> #GP;
 *   2. the guest walk (SDM 4.3-4.5); each guest entry's guest-physical
 *      address goes through the nested walk first (SDM Vol. 3C 29.3.3;
 *      APM 15.25.5) -> EPT violation/misconfiguration with bit 8 clear,
 *      #NPF with EXITINFO1 bit 33; then not present / reserved -> #PF;
 *   3. access rights (SDM 4.6, 4.6.2) -> #PF;
 *   4. the final guest-physical address through the nested walk with the
 *      access itself -> EPT violation with bit 8 / misconfig / #NPF bit 32;
 *   5. guest A/D updates (SDM 4.8), each a write to a guest table: with EPT
 *      A/D off, a write the EPT must allow -> EPT violation, bit 8 clear;
 *   6. success: A on every guest entry used, D on the leaf for writes.
 * The nested A/D flags (SDM Vol. 3C 29.3.5; APM 15.25.5) of each nested walk
 * that succeeds are set (ARCHITECTURE.md: even if the access later faults);
 * guest flags only when the whole access succeeds.
 */
#include <stddef.h>
#include <string.h>

#include "conformance/rules.h"

enum nkind {
	NK_TABLE,       /* read of a guest paging-structure entry */
	NK_FINAL,       /* the translation of the linear address */
	NK_PDPTE_LOAD,  /* PAE PDPTE load at context preparation (EPT) */
};

struct nwalk {
	bool ok;          /* reached a leaf with nothing reserved */
	bool present;     /* no entry was not present */
	unsigned n;
	int used[PT_MAX_LEVELS + 1];
	uint64_t size;
	/* EPT: AND of bits 0, 1, 2 and (MBEC) 10; NPT: AND of R/W, U/S, OR of XD */
	bool r, w, x, xu, u, xd;
};

struct oracle {
	const struct conf_case *c;
	const struct conf_spec *s;
	struct conf_expect *e;
	struct orc_ept_rules er;
	struct orc_x86_rules nr; /* NPT: the host's long-mode tables (APM 15.25.3) */
	unsigned refs;
	bool consistent;
};

static int nrec_find(const struct conf_case *c, unsigned level, uint64_t gpa)
{
	uint64_t key = gpa >> conf_cover(level);
	for (unsigned i = 0; i < c->nbyn[level]; i++) {
		int r = c->nby[level][i];
		if (c->rec[r].key == key)
			return r;
	}
	return CONF_NO_REC;
}

/* The nested walk of one guest-physical address (no permission check). */
static void nested_walk(struct oracle *o, uint64_t gpa, struct nwalk *w)
{
	const struct conf_case *c = o->c;
	bool ept = c->cfg.nested == NESTED_EPT;
	memset(w, 0, sizeof(*w));
	w->r = w->w = w->x = w->xu = w->u = true;
	w->present = true;
	for (unsigned level = c->nlev; level >= 1; level--) {
		int ri = nrec_find(c, level, gpa);
		if (ri == CONF_NO_REC) {
			o->consistent = false; /* the walk would leave the built tree */
			w->present = false;
			return;
		}
		uint64_t v = c->rec[ri].val;
		w->used[w->n++] = ri;
		o->refs++;
		enum entry_kind k = ept ? orc_ept_entry_kind(&o->er, level, v)
					: orc_entry_kind(&o->nr, level, v);
		if (k == ENTRY_NOT_PRESENT) {
			/* Table 28-7 bits 3-6: the AND includes the not-present entry */
			w->present = false;
			w->r = w->w = w->x = w->xu = false;
			return;
		}
		if (k == ENTRY_RESERVED)
			return;
		if (ept) {
			w->r = w->r && (v & EPT_R);
			w->w = w->w && (v & EPT_W);
			w->x = w->x && (v & EPT_X);
			w->xu = w->xu && (v & (o->er.mbec ? EPT_XU : EPT_X));
		} else {
			w->w = w->w && (v & PTE_RW);
			w->u = w->u && (v & PTE_US);
			if (o->nr.nxe && (v & PTE_XD))
				w->xd = true;
		}
		if (k == ENTRY_LEAF) {
			w->ok = true;
			w->size = UINT64_C(1) << conf_cover(level);
			return;
		}
	}
	o->consistent = false; /* level 1 is always a leaf */
}

static void set_flags(struct oracle *o, int ri, uint64_t f)
{
	o->e->after[ri] |= f;
}

/*
 * One nested translation. Returns true if the access is allowed; else the
 * exit is recorded in o->e.
 */
static bool nested_xlate(struct oracle *o, uint64_t gpa, enum nkind kind, enum access_type acc,
			 bool user_lin, struct nwalk *w)
{
	const struct conf_case *c = o->c;
	const struct conf_spec *s = o->s;
	struct conf_expect *e = o->e;
	nested_walk(o, gpa, w);

	if (c->cfg.nested == NESTED_EPT) {
		bool ad = s->ept_ad;
		/*
		 * Vol. 3C 29.3.3.2: reads of guest paging structures are data
		 * reads; with EPT A/D enabled they are treated as writes
		 * (29.3.5). The final access is the access itself.
		 */
		bool rd = kind != NK_FINAL || acc == ACCESS_READ;
		bool wr = (kind != NK_FINAL && ad) || (kind == NK_FINAL && acc == ACCESS_WRITE);
		bool fe = kind == NK_FINAL && acc == ACCESS_FETCH;
		if (w->present && !w->ok) {
			/* 29.3.3.1: misconfiguration; the exit gives the gpa */
			e->outcome = XO_EPT_MISCONFIG;
			e->fault_gpa = gpa;
			e->why = "EPT misconfiguration (SDM Vol. 3C 29.3.3.1)";
			return false;
		}
		/* 29.3.3.2, with MBEC: XS for supervisor-mode, XU for user-mode linear addresses */
		bool xok = (o->er.mbec && user_lin) ? w->xu : w->x;
		bool allowed = w->present && (!rd || w->r) && (!wr || w->w) && (!fe || xok);
		if (!allowed) {
			/* Vol. 3C Table 28-7: exit qualification for EPT violations */
			uint64_t q = 0;
			if (rd) q |= EPTQ_READ;
			if (wr) q |= EPTQ_WRITE;
			if (fe) q |= EPTQ_FETCH;
			if (w->r) q |= EPTQ_READABLE;
			if (w->w) q |= EPTQ_WRITABLE;
			if (w->x) q |= EPTQ_EXECUTABLE;
			if (o->er.mbec && w->xu) q |= EPTQ_USER_EXEC;
			/* bit 7: linear-address field valid except for PDPTE loads */
			if (kind != NK_PDPTE_LOAD) q |= EPTQ_GLA_VALID;
			/* bit 8: the access is the translation of the linear address */
			if (kind == NK_FINAL) q |= EPTQ_FINAL;
			e->outcome = XO_EPT_VIOLATION;
			e->qual = q;
			e->fault_gpa = gpa;
			e->gla_valid = kind != NK_PDPTE_LOAD;
			e->gla = e->gla_valid ? s->la : 0;
			e->why = !w->present ? "EPT entry not present (SDM Vol. 3C 29.3.3.2)"
					     : "EPT rights refuse the access (SDM Vol. 3C 29.3.3.2)";
			return false;
		}
		/* 29.3.5: A on every EPT entry used, D on the leaf for writes */
		if (ad) {
			for (unsigned i = 0; i < w->n; i++)
				set_flags(o, w->used[i], EPT_A);
			if (wr)
				set_flags(o, w->used[w->n - 1], EPT_D);
		}
		return true;
	}

	/* NPT: APM 15.25.5 - every nested access is a user access; guest
	 * page-table accesses are treated as writes. */
	bool wr = kind != NK_FINAL || acc == ACCESS_WRITE;
	bool fe = kind == NK_FINAL && acc == ACCESS_FETCH;
	bool rsvd = w->present && !w->ok;
	bool allowed = w->ok && w->u && (!wr || w->w) && (!fe || !w->xd);
	if (!allowed) {
		/* APM 15.25.6: EXITINFO1 = #PF-style error code + bit 32/33 */
		uint64_t i1 = NPF_U;
		if (w->present) i1 |= NPF_P;
		if (wr) i1 |= NPF_W;
		if (rsvd) i1 |= NPF_RSVD;
		if (fe && o->nr.nxe) i1 |= NPF_ID;
		i1 |= kind == NK_FINAL ? NPF_FINAL : NPF_GUEST_PT;
		e->outcome = XO_NPF;
		e->exitinfo1 = i1;
		e->exitinfo2 = gpa;
		e->why = !w->present ? "nested entry not present (APM 15.25.6)"
			 : rsvd      ? "nested reserved bit (APM 15.25.6)"
				     : "nested rights refuse a user access (APM 15.25.5)";
		return false;
	}
	/* APM 15.25.5 / 5.4.2: A on the nested entries used, D on the leaf for writes */
	for (unsigned i = 0; i < w->n; i++)
		set_flags(o, w->used[i], PTE_A);
	if (wr)
		set_flags(o, w->used[w->n - 1], PTE_D);
	return true;
}

static void page_fault(struct oracle *o, uint32_t ec, const char *why)
{
	o->e->outcome = XO_PAGE_FAULT;
	o->e->error_code = ec;
	o->e->cr2 = o->s->la;
	o->e->why = why;
}

static unsigned count_changes(const struct conf_case *c, const struct conf_expect *e)
{
	unsigned n = 0;
	for (unsigned i = 0; i < c->nrec; i++)
		n += e->after[i] != c->rec[i].val;
	return n;
}

static void reset_after(const struct conf_case *c, struct conf_expect *e)
{
	for (unsigned i = 0; i < c->nrec; i++)
		e->after[i] = c->rec[i].val;
}

bool rules_expect(const struct conf_case *c, struct conf_expect *e)
{
	const struct conf_spec *s = c->spec;
	struct oracle o = { .c = c, .s = s, .e = e, .consistent = true };
	memset(e, 0, offsetof(struct conf_expect, after));
	reset_after(c, e);

	bool ept = c->cfg.nested == NESTED_EPT, npt = c->cfg.nested == NESTED_NPT;
	o.er = (struct orc_ept_rules){ .maxphyaddr = s->maxphyaddr, .xonly = s->caps.xonly,
				   .mbec = s->caps.mbec, .gb1 = s->caps.gb1 };
	/*
	 * The nested tables are the host's long-mode tables (APM 15.25.3):
	 * host EFER.NXE and CR4.LA57 from nEFER/nCR4. 1-GByte pages in them
	 * depend on the host processor, which struct hw_config does not
	 * describe (cfg.cpu is the guest's): every processor with nested
	 * paging supports them, so they are always allowed here.
	 */
	o.nr = (struct orc_x86_rules){ .mode = s->nlev == 5 ? PAGING_5LEVEL : PAGING_4LEVEL,
				   .vendor = CPU_AMD, .maxphyaddr = s->maxphyaddr,
				   .nxe = (s->nefer & EFER_NXE) != 0, .gbpages = true };
	struct orc_x86_rules gr = { .mode = c->mode, .vendor = s->vendor, .maxphyaddr = s->maxphyaddr,
				.pse = (s->cr4 & CR4_PSE) != 0, .nxe = (s->efer & EFER_NXE) != 0,
				.pke = (s->cr4 & CR4_PKE) != 0, .gbpages = s->feat.gbpages };
	struct orc_access a = { .type = s->acc, .user = s->cpl == 3 && !s->implicit,
				.implicit = s->implicit, .wp = (s->cr0 & CR0_WP) != 0,
				.smep = (s->cr4 & CR4_SMEP) != 0, .smap = (s->cr4 & CR4_SMAP) != 0,
				.ac = (s->rflags & RFLAGS_AC) != 0, .pkru = s->pkru };
	struct nwalk w;

	/*
	 * 0a. Vol. 3C 27.2.1.1 (VM-entry checks on VM-execution control
	 * fields): the EPTP's memory type must be supported (UC or WB), bits
	 * 5:3 a supported page-walk length minus 1 (3; 4 with 5-level EPT),
	 * bit 6 0 without EPT A/D support, bit 7 0 without supervisor
	 * shadow-stack control (struct ept_caps offers none), reserved bits
	 * 11:8 and 63:N 0.
	 */
	if (ept) {
		uint64_t p = c->cfg.eptp;
		uint64_t mt = p & EPTP_MT_MASK;
		unsigned walk = (unsigned)((p & EPTP_WALK_MASK) >> EPTP_WALK_SHIFT) + 1;
		bool bad = (mt != MT_UC && mt != MT_WB) ||
			   !(walk == 4 || (walk == 5 && s->caps.walk5)) ||
			   ((p & EPTP_AD) && !s->caps.ad) || (p & EPTP_SSS) || (p & EPTP_RSVD_LOW) ||
			   (p & ~maxphy_mask(s->maxphyaddr));
		if (bad) {
			e->init_fail = true;
			e->outcome = XO_VMENTRY_FAIL;
			e->why = "invalid EPTP (SDM Vol. 3C 27.2.1.1)";
			return o.consistent;
		}
		if (walk != c->nlev)
			return false; /* a valid EPTP for tables that were not built */
	}

	/*
	 * 0. SDM 4.4.1: with PAE paging the PDPTEs are loaded into registers
	 * (MOV CR3, VM entry); a present PDPTE with a reserved bit fails the
	 * load (VM entry fails, Vol. 3C 27.3.1.6). AMD under nested paging
	 * reads them during the walk instead (APM 15.25.4; ARCHITECTURE.md).
	 */
	bool pdpte_regs = c->mode == PAGING_PAE && !npt;
	if (pdpte_regs) {
		e->init_fail = true;
		/*
		 * Project choice (ARCHITECTURE.md): under EPT the load reads
		 * the PDPTEs from guest memory through EPT, as a guest MOV to
		 * CR3 does (SDM Vol. 3C 29.3.3.2: bit 7 of the qualification
		 * clear for such a load). NB: a VM entry with "enable EPT" = 1
		 * instead checks and loads the VMCS guest-PDPTE fields and makes
		 * no EPT access (SDM Vol. 3C 27.3.1.6) - see the suite's report.
		 */
		if (ept && !nested_xlate(&o, c->pdpt_base, NK_PDPTE_LOAD, ACCESS_READ, false, &w))
			return o.consistent;
		for (int i = 0; i < 4; i++) {
			uint64_t v = c->rec[c->pdpte_rec[i]].val;
			if ((v & PTE_P) && (v & orc_pae_pdpte_rsvd(s->maxphyaddr))) {
				e->outcome = XO_VMENTRY_FAIL;
				e->why = "PAE PDPTE with a reserved bit (SDM 4.4.1, Vol. 3C 27.3.1.6)";
				return o.consistent;
			}
		}
		e->init_fail = false;
		reset_after(c, e); /* the runner restores memory after hw_mmu_init */
		o.refs = 0;
	}

	/* 1. SDM 4.5.1 (Vol. 1 3.3.7.1): non-canonical -> #GP */
	if (!orc_canonical(c->mode, s->la)) {
		e->outcome = XO_GP;
		e->why = "non-canonical linear address (SDM 4.5.1)";
		return o.consistent;
	}

	uint64_t gpa, gsize;
	bool user_lin = false;
	unsigned leaf = 0;
	struct nwalk tw[PT_MAX_LEVELS + 1];
	uint64_t egpa[PT_MAX_LEVELS + 1];
	bool used[PT_MAX_LEVELS + 1] = { false };

	if (c->mode == PAGING_NONE) {
		/* CR0.PG = 0: the linear address is the (guest-)physical address */
		gpa = s->la;
		gsize = UINT64_MAX;
	} else {
		/* 2. the guest walk */
		struct orc_rights rt;
		orc_rights_init(&rt);
		unsigned esize = orc_entry_size(c->mode);
		for (unsigned level = c->gtop; level >= 1; level--) {
			unsigned idx = orc_index(c->mode, level, s->la);
			if (c->mode == PAGING_PAE && level == 3) {
				int ri = c->pdpte_rec[idx];
				uint64_t v = c->rec[ri].val;
				egpa[3] = c->pdpt_base + 8 * idx;
				if (c->rec[ri].addr != egpa[3])
					o.consistent = false;
				if (!pdpte_regs) {
					/* read from memory during the walk (APM 15.25.4) */
					if (npt && !nested_xlate(&o, egpa[3], NK_TABLE, s->acc, false, &w))
						return o.consistent;
					o.refs++;
				}
				if (!(v & PTE_P)) {
					page_fault(&o, orc_walk_fault(&gr, &a, false),
						   "PAE PDPTE not present (SDM 4.4.1, 4.7)");
					return o.consistent;
				}
				if (!pdpte_regs && (v & orc_pae_pdpte_rsvd(s->maxphyaddr))) {
					page_fault(&o, orc_walk_fault(&gr, &a, true),
						   "PAE PDPTE reserved bit read during the walk (APM 15.25.4, SDM 4.7)");
					return o.consistent;
				}
				/* a PDPTE has no R/W, U/S, XD or A flag (SDM 4.4.1) */
				continue;
			}
			int ri = c->grec[level];
			egpa[level] = c->gtable[level] + (uint64_t)idx * esize;
			if (ri == CONF_NO_REC || c->rec[ri].addr != egpa[level]) {
				o.consistent = false;
				return false;
			}
			if (c->nlev && !nested_xlate(&o, egpa[level], NK_TABLE, s->acc, false, &tw[level]))
				return o.consistent;
			o.refs++;
			uint64_t v = c->rec[ri].val;
			enum entry_kind k = orc_entry_kind(&gr, level, v);
			if (k == ENTRY_NOT_PRESENT) {
				page_fault(&o, orc_walk_fault(&gr, &a, false),
					   "guest entry not present (SDM 4.7)");
				return o.consistent;
			}
			if (k == ENTRY_RESERVED) {
				page_fault(&o, orc_walk_fault(&gr, &a, true),
					   "guest reserved bit (SDM 4.7, RSVD)");
				return o.consistent;
			}
			orc_rights_add(&gr, &rt, level, v, k == ENTRY_LEAF);
			used[level] = true;
			if (k == ENTRY_LEAF) {
				leaf = level;
				break;
			}
		}
		if (leaf != c->gmap) {
			o.consistent = false;
			return false;
		}
		/* 3. access rights */
		uint32_t ec = orc_access_fault(&gr, &rt, &a);
		if (ec) {
			page_fault(&o, ec, (ec & PFEC_PK) ? "protection key (SDM 4.6.2, 4.7)"
							  : "access rights (SDM 4.6.1, 4.7)");
			return o.consistent;
		}
		gsize = orc_leaf_size(c->mode, leaf);
		uint64_t la = c->mode <= PAGING_PAE ? (s->la & 0xffffffffu) : s->la;
		gpa = c->data_gpa + (la & (gsize - 1));
		user_lin = rt.u;
	}

	/* 4. the final guest-physical address */
	uint64_t hpa = gpa, size = gsize;
	if (c->nlev) {
		if (!nested_xlate(&o, gpa, NK_FINAL, s->acc, user_lin, &w))
			return o.consistent;
		hpa = gpa ^ c->hxor;
		if (w.size < size)
			size = w.size;
	}

	/* 5./6. SDM 4.8: A on every entry used, D on the leaf for a write */
	bool write = s->acc == ACCESS_WRITE;
	for (unsigned level = c->gtop; level >= 1 && c->mode != PAGING_NONE; level--) {
		if (!used[level])
			continue;
		int ri = c->grec[level];
		uint64_t want = PTE_A | ((level == leaf && write) ? PTE_D : 0);
		if ((c->rec[ri].val & want) == want)
			continue; /* already set: nothing written */
		if (ept && !s->ept_ad && !tw[level].w) {
			/*
			 * The update is a write to the guest table (SDM Vol. 3C
			 * 29.3.3.2); a read-modify-write sets qualification bit 1,
			 * bit 0 implementation-specific (Vol. 3C 28.2.1): R|W here
			 * (ARCHITECTURE.md). Bit 8 clear: update of an A/D flag.
			 */
			const struct nwalk *t = &tw[level];
			uint64_t q = EPTQ_READ | EPTQ_WRITE | EPTQ_GLA_VALID;
			if (t->r) q |= EPTQ_READABLE;
			if (t->w) q |= EPTQ_WRITABLE;
			if (t->x) q |= EPTQ_EXECUTABLE;
			if (o.er.mbec && t->xu) q |= EPTQ_USER_EXEC;
			e->outcome = XO_EPT_VIOLATION;
			e->qual = q;
			e->fault_gpa = egpa[level];
			e->gla = s->la;
			e->gla_valid = true;
			e->why = "guest A/D update needs EPT write (SDM Vol. 3C 29.3.3.2)";
			/* guest flags all or nothing: none written */
			return o.consistent;
		}
	}
	for (unsigned level = c->gtop; level >= 1 && c->mode != PAGING_NONE; level--) {
		if (!used[level])
			continue;
		set_flags(&o, c->grec[level], PTE_A | ((level == leaf && write) ? PTE_D : 0));
	}

	e->outcome = XO_OK;
	e->gpa = gpa;
	e->hpa = hpa;
	e->page_size = size;
	e->refs = o.refs;
	e->leaf_level = leaf;
	e->ad_writes = count_changes(c, e);
	e->why = "access allowed";
	return o.consistent;
}
