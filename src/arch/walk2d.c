/*
 * walk2d.c - one access as the processor performs it: the guest walk with
 * every guest table address and the final guest-physical address passed
 * through the nested walk (EPT or NPT), the access-rights rules of each
 * dimension, A/D updates, and the encoding of the fault.
 *
 * An access to linear address LA:
 *   1. IA-32e paging: a non-canonical LA is #GP before any walk.
 *   2. Guest walk (walk_tables) of the guest format. Each guest entry's
 *      guest-physical address is translated by the nested walk (TR_TABLE_READ):
 *      EPT: a read, treated as a write when EPTP enables A/D (SDM 29.3.5);
 *      NPT: a user write (APM 15.25.5/15.25.6).
 *   3. Not present / reserved bit -> #PF. Otherwise the ANDed guest rights
 *      are checked against the access (x86_access_fault, SDM 4.6) -> #PF.
 *   4. The final guest-physical address is translated (TR_FINAL) with the
 *      access itself; a nested fault is an EPT violation/misconfiguration
 *      or #NPF with bit 8 / bit 32 set.
 *   5. Guest A/D flags are set (walk_set_ad): a write to each updated guest
 *      entry, which the nested dimension must allow (EPT without A/D: the
 *      table page must be writable, else an EPT violation with W).
 * Choices where the manuals leave room (documented in ARCHITECTURE.md):
 *   - no guest A/D flag is written unless the whole access succeeds; the
 *     A/D flags of a nested walk are set when that nested walk succeeds;
 *   - the A/D write of step 5 reuses the nested translation made for the
 *     read of step 2 (the same page, no second walk; refs stay (n+1)(m+1)-1).
 */
#include "arch/walk2d.h"

#include <string.h>

#include "arch/x86.h"

const char *xlate_outcome_name(enum xlate_outcome o)
{
	switch (o) {
	case XO_OK:            return "ok";
	case XO_PAGE_FAULT:    return "page_fault";
	case XO_GP:            return "gp";
	case XO_EPT_VIOLATION: return "ept_violation";
	case XO_EPT_MISCONFIG: return "ept_misconfig";
	case XO_NPF:           return "npf";
	case XO_VMENTRY_FAIL:  return "vmentry_fail";
	case XO_ABORT:         return "abort";
	}
	return "?";
}

/* ---- x86 access rights (SDM Vol. 3A 4.6, 4.7) ---- */

uint32_t x86_pfec_access_bits(const struct cpu_regs *regs, enum access_type type, bool implicit)
{
	uint32_t ec = 0;

	if (type == ACCESS_WRITE)
		ec |= PFEC_W;
	if (regs->cpl == 3 && !implicit)
		ec |= PFEC_U;
	/*
	 * SDM 4.7: I/D is set for an instruction fetch if CR4.SMEP = 1, or if
	 * CR4.PAE = 1 (PAE or IA-32e paging) and IA32_EFER.NXE = 1.
	 */
	if (type == ACCESS_FETCH &&
	    ((regs->cr4 & CR4_SMEP) || ((regs->cr4 & CR4_PAE) && (regs->efer & EFER_NXE))))
		ec |= PFEC_ID;
	return ec;
}

uint32_t x86_access_fault(const struct cpu_regs *regs, const struct pt_format *fmt,
			  unsigned rights, unsigned pkey, enum access_type type, bool implicit)
{
	bool user_access = regs->cpl == 3 && !implicit;
	bool user_addr = rights & RIGHT_U;
	bool writable = rights & RIGHT_W;
	bool wp = regs->cr0 & CR0_WP;
	/* SMAP blocks a supervisor data access to a user address when the access
	 * is implicit or EFLAGS.AC = 0 (SDM 4.6.1). */
	bool smap_blocks = !user_access && user_addr && (regs->cr4 & CR4_SMAP) &&
			   (implicit || !(regs->rflags & RFLAGS_AC));
	bool fault = false;
	uint32_t ec = 0;

	switch (type) {
	case ACCESS_FETCH:
		if (user_access)
			fault = !user_addr || !(rights & RIGHT_X);
		else
			fault = !(rights & RIGHT_X) || (user_addr && (regs->cr4 & CR4_SMEP));
		break;
	case ACCESS_READ:
		fault = user_access ? !user_addr : smap_blocks;
		break;
	case ACCESS_WRITE:
		if (user_access)
			fault = !user_addr || !writable;
		else
			fault = smap_blocks || (wp && !writable);
		break;
	}
	/*
	 * SDM 4.6.2: with CR4.PKE (IA-32e paging), a data access to a user
	 * address is refused if PKRU.AD of its key is 1, and a write if
	 * PKRU.WD is 1 and the access is a user access or CR0.WP = 1. The PK
	 * bit of the error code is set whenever this is the case (SDM 4.7).
	 */
	if (fmt->pke && user_addr && type != ACCESS_FETCH) {
		bool ad = (regs->pkru >> (2 * pkey)) & 1;
		bool wd = (regs->pkru >> (2 * pkey + 1)) & 1;

		if (ad || (wd && type == ACCESS_WRITE && (user_access || wp))) {
			fault = true;
			ec |= PFEC_PK;
		}
	}
	if (!fault)
		return 0;
	return ec | PFEC_P | x86_pfec_access_bits(regs, type, implicit);
}

/* ---- the nested dimension ---- */

/* What a nested translation is asked to allow. */
struct nested_access {
	bool read, write, fetch;
	bool final;
};

struct table_xlat {
	uint64_t gpa_page, hpa_page, size;
	unsigned rights;
};

/* The state of one access's walk across both dimensions. */
struct walk2d {
	const struct hw_mmu *m;
	struct xlate_result *r;
	struct walk_trace *trace;
	enum access_type type;
	uint64_t gla;
	bool gla_valid;
	bool user_la;   /* guest U/S of the final translation (MBEC) */
	struct table_xlat tbl[PT_MAX_LEVELS + 1];
	unsigned ntbl;
	uint64_t final_size;     /* the final nested translation: page size, */
	unsigned final_rights;   /* rights, */
	bool final_dirty;        /* and whether its leaf D is set */
};

static bool ept_ad(const struct hw_mmu *m)
{
	return m->cfg.eptp & EPTP_AD;
}

static struct nested_access nested_access_for(const struct walk2d *w, enum tr_kind kind)
{
	struct nested_access na = { .final = kind == TR_FINAL };

	switch (kind) {
	case TR_TABLE_READ:
		na.read = true;
		/* EPT: guest paging-structure reads count as writes with EPT A/D
		 * (SDM 29.3.5); NPT: guest table accesses are user writes (APM 15.25.5). */
		na.write = w->m->cfg.nested == NESTED_NPT || ept_ad(w->m);
		break;
	case TR_TABLE_WRITE:
		/* The A/D update is a locked read-modify-write: reported as a
		 * read and a write (as kvm-unit-tests' EPT paddr tests observe). */
		na.read = true;
		na.write = true;
		break;
	case TR_FINAL:
		na.read = w->type == ACCESS_READ;
		na.write = w->type == ACCESS_WRITE;
		na.fetch = w->type == ACCESS_FETCH;
		break;
	}
	return na;
}

static bool nested_rights_allow(enum nested_mode nested, unsigned rights,
				struct nested_access na, bool user_la)
{
	unsigned need = 0;

	if (na.read)
		need |= RIGHT_R;
	if (na.write)
		need |= RIGHT_W;
	if (na.fetch) /* EPT with MBEC: XU for a user linear address, else XS */
		need |= user_la ? RIGHT_XU : RIGHT_X;
	if (nested == NESTED_NPT)
		need |= RIGHT_U; /* every nested access is a user access */
	return (rights & need) == need;
}

static bool nested_allows(const struct walk2d *w, unsigned rights, struct nested_access na)
{
	return nested_rights_allow(w->m->cfg.nested, rights, na, w->user_la);
}

bool hw_nested_allows(const struct hw_mmu *m, unsigned rights, enum access_type type, bool user_la)
{
	struct nested_access na = {
		.read = type == ACCESS_READ,
		.write = type == ACCESS_WRITE,
		.fetch = type == ACCESS_FETCH,
		.final = true,
	};

	return m->cfg.nested == NESTED_NONE || nested_rights_allow(m->cfg.nested, rights, na, user_la);
}

/* Encodes a nested fault into the result (SDM Table 28-7; APM 15.25.6). */
static void nested_fault(struct walk2d *w, uint64_t gpa, struct nested_access na,
			 enum walk_status st, unsigned rights)
{
	struct xlate_result *r = w->r;
	const struct hw_config *cfg = &w->m->cfg;

	if (cfg->nested == NESTED_EPT) {
		if (st == WALK_RSVD) {
			r->outcome = XO_EPT_MISCONFIG;
			r->fault_gpa = gpa;
			return;
		}
		uint64_t q = 0;
		if (na.read)
			q |= EPTQ_READ;
		if (na.write)
			q |= EPTQ_WRITE;
		if (na.fetch)
			q |= EPTQ_FETCH;
		if (rights & RIGHT_R)
			q |= EPTQ_READABLE;
		if (rights & RIGHT_W)
			q |= EPTQ_WRITABLE;
		if (rights & RIGHT_X)
			q |= EPTQ_EXECUTABLE;
		if (w->m->nested_fmt.ept_mbec && (rights & RIGHT_XU))
			q |= EPTQ_USER_EXEC;
		if (w->gla_valid) {
			q |= EPTQ_GLA_VALID;
			if (na.final)
				q |= EPTQ_FINAL;
			r->gla = w->gla;
			r->gla_valid = true;
		}
		r->outcome = XO_EPT_VIOLATION;
		r->qualification = q;
		r->fault_gpa = gpa;
		return;
	}
	/* #NPF: EXITINFO1 is a page-fault error code plus bits 32/33. */
	uint64_t ei = NPF_U;
	if (st != WALK_NOT_PRESENT)
		ei |= NPF_P;
	if (na.write)
		ei |= NPF_W;
	if (st == WALK_RSVD)
		ei |= NPF_RSVD;
	if (na.fetch && ((cfg->nefer & EFER_NXE) || (cfg->ncr4 & CR4_SMEP)))
		ei |= NPF_ID;
	ei |= na.final ? NPF_FINAL : NPF_GUEST_PT;
	r->outcome = XO_NPF;
	r->exitinfo1 = ei;
	r->exitinfo2 = gpa;
}

static void abort_with(struct xlate_result *r, const char *reason)
{
	r->outcome = XO_ABORT;
	r->reason = reason;
}

/*
 * One nested translation gpa -> hpa with the nested walker; on a fault the
 * result is encoded and false returned.
 */
static bool nested_translate(struct walk2d *w, uint64_t gpa, enum tr_kind kind,
			     uint64_t *hpa, uint64_t *size, unsigned *rights, bool *dirty)
{
	const struct hw_mmu *m = w->m;
	const struct hw_caches *c = m->caches;
	struct nested_access na = nested_access_for(w, kind);
	struct walk_req req = {
		.fmt = &m->nested_fmt,
		.root = m->nested_root,
		.addr = gpa,
		.mem = m->cfg.mem,
		.cache = c ? c->nested_psc : NULL,
		.trace = w->trace,
		.dim = 1,
	};
	struct walk_out out;

	if (c && c->ntlb_lookup) {
		uint64_t page, psize;

		if (c->ntlb_lookup(c->ntlb_ctx, gpa, &page, &psize, rights, dirty) &&
		    nested_allows(w, *rights, na) && (*dirty || !na.write || !m->nested_fmt.ad)) {
			*hpa = page | (gpa & (psize - 1));
			*size = psize;
			return true;
		}
	}
	for (;;) {
		enum walk_status st = walk_tables(&req, &out);

		w->r->refs += out.refs;
		switch (st) {
		case WALK_OK:
			break;
		case WALK_NOT_PRESENT:
		case WALK_RSVD:
			nested_fault(w, gpa, na, st, out.rights);
			return false;
		case WALK_ABORT:
			abort_with(w->r, "nested paging structure outside memory");
			return false;
		case WALK_TR_FAULT:
		case WALK_RETRY:
		default:
			abort_with(w->r, "internal: unexpected nested walk status");
			return false;
		}
		if (!nested_allows(w, out.rights, na)) {
			nested_fault(w, gpa, na, WALK_OK, out.rights);
			return false;
		}
		st = walk_set_ad(&req, &out, na.write);
		w->r->ad_writes += out.ad_writes;
		if (st == WALK_RETRY)
			continue;
		if (st != WALK_OK) {
			abort_with(w->r, "nested paging structure outside memory");
			return false;
		}
		break;
	}
	walk_fill_cache(&req, &out);
	*dirty = !m->nested_fmt.ad || (out.ent[out.level].val & pt_dirty_bit(&m->nested_fmt));
	if (c && c->ntlb_fill)
		c->ntlb_fill(c->ntlb_ctx, gpa & ~(out.page_size - 1),
			     out.out_addr & ~(out.page_size - 1), out.page_size, out.rights, *dirty);
	*hpa = out.out_addr;
	*size = out.page_size;
	*rights = out.rights;
	return true;
}

/* The translate hook the guest walk calls (walk.h). */
static bool walk2d_tr(void *ctx, uint64_t gpa, enum tr_kind kind, uint64_t *hpa)
{
	struct walk2d *w = ctx;
	uint64_t size;
	unsigned rights;
	bool dirty;

	if (kind == TR_TABLE_WRITE) {
		/* The A/D write goes to the page the read translated (step 5). */
		struct nested_access na = nested_access_for(w, kind);

		for (unsigned i = 0; i < w->ntbl; i++) {
			const struct table_xlat *t = &w->tbl[i];

			if ((gpa & ~(t->size - 1)) != t->gpa_page)
				continue;
			if (!nested_allows(w, t->rights, na)) {
				nested_fault(w, gpa, na, WALK_OK, t->rights);
				return false;
			}
			*hpa = t->hpa_page | (gpa & (t->size - 1));
			return true;
		}
	}
	if (!nested_translate(w, gpa, kind, hpa, &size, &rights, &dirty))
		return false;
	if (kind == TR_TABLE_READ && w->ntbl < PT_MAX_LEVELS + 1) {
		w->tbl[w->ntbl++] = (struct table_xlat){
			.gpa_page = gpa & ~(size - 1),
			.hpa_page = *hpa & ~(size - 1),
			.size = size,
			.rights = rights,
		};
	}
	if (kind == TR_FINAL) {
		w->final_size = size;
		w->final_rights = rights;
		w->final_dirty = dirty;
	}
	return true;
}

/* ---- configuration and context ---- */

const char *hw_config_invalid(const struct hw_config *cfg)
{
	const char *why = cpu_regs_invalid(&cfg->cpu);

	if (why)
		return why;
	switch (cfg->nested) {
	case NESTED_NONE:
		break;
	case NESTED_EPT:
		if (cfg->cpu.vendor != CPU_INTEL)
			return "nested ept requires cpu intel (EPT is Intel's)";
		break;
	case NESTED_NPT:
		if (cfg->cpu.vendor != CPU_AMD)
			return "nested npt requires cpu amd (NPT is AMD's)";
		/* The nested table is walked in the host's long-mode format. */
		if (!(cfg->nefer & EFER_LMA) || !(cfg->ncr4 & CR4_PAE))
			return "nested npt is modelled with a long-mode host: nefer needs LMA, ncr4 needs PAE";
		if (cfg->ncr3 & ~maxphy_mask(cfg->cpu.maxphyaddr))
			return "ncr3 has bits set beyond MAXPHYADDR";
		break;
	}
	return 0;
}

static void vmentry_fail(struct xlate_result *r, const char *reason)
{
	memset(r, 0, sizeof(*r));
	r->outcome = XO_VMENTRY_FAIL;
	r->reason = reason;
}

/* SDM Vol. 3C 26.2.1.1: the EPTP checks VM entry makes. */
static const char *eptp_invalid(const struct hw_config *cfg)
{
	uint64_t eptp = cfg->eptp;
	unsigned mt = (unsigned)(eptp & EPTP_MT_MASK);
	unsigned walk = (unsigned)((eptp & EPTP_WALK_MASK) >> EPTP_WALK_SHIFT);

	if (mt != MT_UC && mt != MT_WB)
		return "EPTP memory type is neither UC (0) nor WB (6)";
	if (walk != 3 && !(walk == 4 && cfg->ept_caps.walk5))
		return "EPTP page-walk length is not supported (bits 5:3 must be 3, or 4 with 5-level EPT)";
	if ((eptp & EPTP_AD) && !cfg->ept_caps.ad)
		return "EPTP enables accessed/dirty flags but the capability is not offered";
	if (eptp & EPTP_SSS)
		return "EPTP bit 7 (supervisor shadow-stack control) is not supported";
	if (eptp & EPTP_RSVD_LOW)
		return "EPTP reserved bits 11:8 are set";
	if (eptp & ~maxphy_mask(cfg->cpu.maxphyaddr))
		return "EPTP has bits set beyond MAXPHYADDR";
	return 0;
}

bool hw_mmu_init(struct hw_mmu *m, const struct hw_config *cfg, struct xlate_result *fail)
{
	const struct cpu *cpu = &cfg->cpu;
	unsigned maxphy = cpu->maxphyaddr;

	memset(m, 0, sizeof(*m));
	memset(fail, 0, sizeof(*fail));
	m->cfg = *cfg;
	m->mode = cpu_paging_mode(&cpu->regs);

	if (cfg->nested == NESTED_EPT) {
		const char *why = eptp_invalid(cfg);
		if (why) {
			vmentry_fail(fail, why);
			return false;
		}
		unsigned levels = ((cfg->eptp & EPTP_WALK_MASK) >> EPTP_WALK_SHIFT) + 1;
		pt_format_ept(&m->nested_fmt, levels, maxphy, &cfg->ept_caps, cfg->eptp & EPTP_AD);
		m->nested_root = cfg->eptp & m->nested_fmt.root_mask;
	} else if (cfg->nested == NESTED_NPT) {
		/* The host offers 1 GiB pages to its own tables; PKE does not
		 * apply to nested walks (all of them are user accesses). */
		struct cpu_features host = { .gbpages = true, .la57 = true };
		enum paging_mode hmode = (cfg->ncr4 & CR4_LA57) ? PAGING_5LEVEL : PAGING_4LEVEL;
		pt_format_x86(&m->nested_fmt, hmode, CPU_AMD, maxphy, &host,
			      cfg->ncr4 & ~CR4_PKE, cfg->nefer, false);
		m->nested_root = cfg->ncr3 & m->nested_fmt.root_mask;
	}
	if (m->mode == PAGING_NONE)
		return true;

	/* AMD under nested paging reads PAE PDPTEs during the walk (APM 15.25.4). */
	bool pdpte_in_walk = m->mode == PAGING_PAE && cfg->nested == NESTED_NPT;
	pt_format_x86(&m->guest_fmt, m->mode, cpu->vendor, maxphy, &cpu->feat,
		      cpu->regs.cr4, cpu->regs.efer, pdpte_in_walk);
	m->guest_root = cpu->regs.cr3 & m->guest_fmt.root_mask;
	if (!m->guest_fmt.pdpte_regs)
		return true;

	/*
	 * SDM 4.4.1: loading CR3 in PAE mode loads the four PDPTEs; a present
	 * one with a reserved bit set makes MOV CR3 #GP, and VM entry fail.
	 * Under EPT the load is a guest-physical read that may cause an EPT
	 * violation, reported without a guest linear address (SDM Table 28-7,
	 * bit 7).
	 */
	struct walk2d w = { .m = m, .r = fail, .type = ACCESS_READ };
	static const char *const bad_pdpte[4] = {
		"PDPTE0 has reserved bits set", "PDPTE1 has reserved bits set",
		"PDPTE2 has reserved bits set", "PDPTE3 has reserved bits set",
	};
	for (unsigned i = 0; i < 4; i++) {
		uint64_t gpa = m->guest_root + 8 * i, hpa = gpa, e;

		if (cfg->nested != NESTED_NONE && !walk2d_tr(&w, gpa, TR_TABLE_READ, &hpa))
			return false;
		if (pmem_read(&cfg->mem, hpa, 8, &e) != PMEM_OK) {
			abort_with(fail, "PAE PDPT outside memory");
			return false;
		}
		if ((e & PTE_P) && (e & pae_pdpte_rsvd(maxphy))) {
			vmentry_fail(fail, bad_pdpte[i]);
			return false;
		}
		m->pdpte[i] = e;
	}
	fail->refs = 0;
	fail->ad_writes = 0;
	return true;
}

/* ---- one access ---- */

static void page_fault(struct xlate_result *r, uint64_t la, uint32_t ec)
{
	r->outcome = XO_PAGE_FAULT;
	r->error_code = ec;
	r->cr2 = la;
}

static void finish_ok(struct xlate_result *r, uint64_t gpa, uint64_t hpa, uint64_t size)
{
	r->outcome = XO_OK;
	r->gpa = gpa;
	r->hpa = hpa;
	r->page_size = size;
}

void hw_translate_gpa(const struct hw_mmu *m, uint64_t gpa, enum access_type type,
		      struct xlate_result *r, struct walk_trace *trace)
{
	struct walk2d w = {
		.m = m, .r = r, .trace = trace, .type = type,
		.gla = gpa, .gla_valid = true,
	};
	uint64_t hpa = gpa;

	memset(r, 0, sizeof(*r));
	w.final_size = PAGE_SIZE_4K;
	w.final_rights = RIGHT_ALL;
	w.final_dirty = true;
	if (m->cfg.nested != NESTED_NONE && !walk2d_tr(&w, gpa, TR_FINAL, &hpa))
		return;
	finish_ok(r, gpa, hpa, w.final_size);
	r->guest_rights = RIGHT_ALL;
	r->nested_rights = w.final_rights;
	r->guest_page_size = PAGE_SIZE_4K;
	r->guest_dirty = true;
	r->nested_dirty = w.final_dirty;
}

void hw_translate(const struct hw_mmu *m, uint64_t la, enum access_type type, bool implicit,
		  struct xlate_result *r, struct walk_trace *trace)
{
	const struct cpu_regs *regs = &m->cfg.cpu.regs;
	bool nested = m->cfg.nested != NESTED_NONE;

	memset(r, 0, sizeof(*r));
	if (m->mode == PAGING_4LEVEL || m->mode == PAGING_5LEVEL) {
		if (!la_is_canonical(la, m->mode)) {
			r->outcome = XO_GP;
			return;
		}
	} else if (la >> 32) {
		abort_with(r, "linear address has bits above 31 outside IA-32e mode");
		return;
	}
	if (m->mode == PAGING_NONE) {
		hw_translate_gpa(m, la, type, r, trace);
		return;
	}

	for (;;) {
		struct walk2d w = {
			.m = m, .r = r, .trace = trace, .type = type,
			.gla = la, .gla_valid = true,
		};
		struct walk_req req = {
			.fmt = &m->guest_fmt,
			.root = m->guest_root,
			.pdpte_regs = m->pdpte,
			.addr = la,
			.mem = m->cfg.mem,
			.tr = nested ? walk2d_tr : NULL,
			.tr_ctx = &w,
			.cache = m->caches ? m->caches->guest_psc : NULL,
			.trace = trace,
			.dim = 0,
		};
		struct walk_out out;
		enum walk_status st = walk_tables(&req, &out);
		uint32_t ec;
		uint64_t hpa;

		r->refs += out.refs;
		switch (st) {
		case WALK_OK:
			break;
		case WALK_NOT_PRESENT:
			page_fault(r, la, x86_pfec_access_bits(regs, type, implicit));
			return;
		case WALK_RSVD:
			page_fault(r, la, PFEC_P | PFEC_RSVD | x86_pfec_access_bits(regs, type, implicit));
			return;
		case WALK_TR_FAULT:
			return; /* the nested fault is already in r */
		case WALK_ABORT:
			abort_with(r, "guest paging structure outside memory");
			return;
		case WALK_RETRY:
		default:
			abort_with(r, "internal: unexpected guest walk status");
			return;
		}
		ec = x86_access_fault(regs, &m->guest_fmt, out.rights, out.pkey, type, implicit);
		if (ec) {
			page_fault(r, la, ec);
			return;
		}
		w.user_la = out.rights & RIGHT_U;
		hpa = out.out_addr;
		w.final_size = out.page_size;
		w.final_rights = RIGHT_ALL;
		w.final_dirty = true;
		if (nested && !walk2d_tr(&w, out.out_addr, TR_FINAL, &hpa))
			return;
		st = walk_set_ad(&req, &out, type == ACCESS_WRITE);
		r->ad_writes += out.ad_writes;
		switch (st) {
		case WALK_OK:
			break;
		case WALK_RETRY:
			continue;
		case WALK_TR_FAULT:
			return;
		case WALK_ABORT:
			abort_with(r, "guest paging structure outside memory");
			return;
		case WALK_NOT_PRESENT:
		case WALK_RSVD:
		default:
			abort_with(r, "internal: unexpected A/D update status");
			return;
		}
		walk_fill_cache(&req, &out);
		finish_ok(r, out.out_addr, hpa,
			  w.final_size < out.page_size ? w.final_size : out.page_size);
		uint64_t leaf = out.ent[out.level].val;
		r->guest_rights = out.rights;
		r->nested_rights = w.final_rights;
		r->pkey = out.pkey;
		r->guest_page_size = out.page_size;
		r->global = (leaf & PTE_G) && (regs->cr4 & CR4_PGE);
		r->guest_dirty = leaf & PTE_D;
		r->nested_dirty = w.final_dirty;
		return;
	}
}
