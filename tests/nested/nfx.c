/*
 * nfx.c - the nested TDP tests' fixture (see nfx.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86.h"
#include "nfx.h"

static void on_track(void *ctx, uint64_t gfn1, bool on)
{
	struct nfx *x = ctx;

	(void)gfn1;
	(void)on;
	x->tracked_calls++;
}

static void slot(struct nfx *x, uint32_t id, uint64_t base, uint64_t n, uint32_t flags, unsigned order)
{
	struct memslot_desc d = { .id = id, .base_gfn = base, .npages = n, .flags = flags, .backing_order = order };

	assert_int_equal(memslots_add(x->l1, &d), MEMSLOT_OK);
}

void nfx_init(struct nfx *x, const struct nfx_opts *o)
{
	struct tdp_config tc;
	struct ntdp_config nc;
	const char *why = NULL;

	memset(x, 0, sizeof(*x));
	x->o = *o;
	x->hm = hostmem_create(UINT64_C(1) << 40);
	x->fr = frames_create(0x100, UINT64_C(1) << 26);
	assert_non_null(x->hm);
	assert_non_null(x->fr);
	x->l0 = mem_l0_create(x->hm, x->fr);
	assert_non_null(x->l0);
	x->port = mem_l0_port(x->l0);
	x->l1 = memslots_create(x->fr, 48);
	assert_non_null(x->l1);
	slot(x, 0, 0, NFX_RAM_PAGES, 0, 18);
	slot(x, 1, NFX_RO_GFN, NFX_RO_PAGES, MEMSLOT_F_READONLY, 9);
	slot(x, 2, NFX_MMIO_GFN, NFX_MMIO_PAGES, MEMSLOT_F_MMIO, 0);
	x->gm = (struct guestmem){ .slots = x->l1, .port = x->port };
	tc = (struct tdp_config){
		.kind = o->kind, .levels = 4, .max_level = 3, .ept_ad = o->kind == TDP_EPT,
		.maxphyaddr = NFX_MAXPHY, .port = x->port, .slots = x->l1,
		.counters = &x->cnt, .cnt_level = CNT_L0, .cnt_pt = CNT_PT_EPT01,
	};
	x->ept01 = tdp_create(&tc, &why);
	if (!x->ept01)
		fail_msg("tdp_create: %s", why);
	x->caps = (struct ept_caps){ .xonly = o->xonly, .walk5 = true, .ad = true, .gb1 = true };
	nc = (struct ntdp_config){
		.kind = o->kind, .maxphyaddr = NFX_MAXPHY, .ept_caps = x->caps,
		.max_level = o->max_level ? o->max_level : 3, .roots = o->roots ? o->roots : 4,
		.port = x->port, .l1_slots = x->l1, .ept01 = x->ept01,
		.track = on_track, .track_ctx = x, .counters = &x->cnt,
	};
	if (o->kind == TDP_NPT)
		nc.ept_caps = (struct ept_caps){ 0 };
	x->n = ntdp_create(&nc, &why);
	if (!x->n)
		fail_msg("ntdp_create: %s", why);
	x->l2.vendor = o->kind == TDP_EPT ? CPU_INTEL : CPU_AMD;
	x->l2.maxphyaddr = NFX_MAXPHY;
	x->l2.feat.gbpages = true;
	x->l2.regs.cr0 = CR0_PE;
}

void nfx_fini(struct nfx *x)
{
	ntdp_destroy(x->n);
	/* every tracking reference went back to EPT01 */
	tdp_destroy(x->ept01);
	memslots_destroy(x->l1);
	mem_l0_destroy(x->l0);
	assert_int_equal(frames_allocated(x->fr), 0);
	frames_destroy(x->fr);
	hostmem_destroy(x->hm);
}

void nfx_w64(struct nfx *x, uint64_t gpa1, uint64_t v)
{
	assert_int_equal(guestmem_write(&x->gm, gpa1, 8, v), MEM_OK);
}

uint64_t nfx_r64(struct nfx *x, uint64_t gpa1)
{
	uint64_t v;

	assert_int_equal(guestmem_read(&x->gm, gpa1, 8, &v), MEM_OK);
	return v;
}

uint64_t nfx_eptp12(const struct nfx *x, uint64_t root)
{
	return root | MT_WB | (3u << EPTP_WALK_SHIFT) | (x->o.ad ? EPTP_AD : 0);
}

void nfx_load(struct nfx *x, uint64_t root)
{
	struct xlate_result fail;

	memset(&x->r12, 0, sizeof(x->r12));
	if (x->o.kind == TDP_EPT) {
		x->r12.eptp12 = nfx_eptp12(x, root);
	} else {
		x->r12.ncr3 = root;
		x->r12.ncr4 = CR4_PAE;
		x->r12.nefer = EFER_LME | EFER_LMA | EFER_NXE;
	}
	if (ntdp_load_root(x->n, &x->r12, &fail) != NTDP_OK)
		fail_msg("ntdp_load_root: %s", fail.reason ? fail.reason : "?");
}

uint64_t nfx_table_entry(const struct nfx *x, uint64_t table_gpa1)
{
	if (x->o.kind == TDP_EPT)
		return table_gpa1 | EPT_R | EPT_W | EPT_X;
	return table_gpa1 | PTE_P | PTE_RW | PTE_US;
}

uint64_t nfx_leaf_entry(const struct nfx *x, uint64_t gpa1, unsigned level, unsigned rights)
{
	uint64_t e = gpa1 | (level > 1 ? PTE_PS : 0);

	if (x->o.kind == TDP_EPT) {
		e |= (uint64_t)MT_WB << EPT_MT_SHIFT;
		if (rights & RIGHT_R)
			e |= EPT_R;
		if (rights & RIGHT_W)
			e |= EPT_W;
		if (rights & RIGHT_X)
			e |= EPT_X;
		return e;
	}
	if (!(rights & RIGHT_R))
		return 0;
	e |= PTE_P | PTE_US;
	if (rights & RIGHT_W)
		e |= PTE_RW;
	if (!(rights & RIGHT_X))
		e |= PTE_XD;
	return e;
}

static void hw_init(struct nfx *x, struct hw_mmu *m, bool nested02)
{
	struct hw_config c;
	struct xlate_result fail;

	memset(&c, 0, sizeof(c));
	c.cpu = x->l2;
	if (nested02) {
		c.mem = hostmem_port(x->hm); /* the processor reads host memory */
		ntdp_hw_program(x->n, &c);
	} else {
		c.mem = guestmem_pmem(&x->gm); /* L1's physical memory */
		if (x->o.kind == TDP_EPT) {
			c.nested = NESTED_EPT;
			c.eptp = x->r12.eptp12;
			c.ept_caps = x->caps;
		} else {
			c.nested = NESTED_NPT;
			c.ncr3 = x->r12.ncr3;
			c.ncr4 = x->r12.ncr4;
			c.nefer = x->r12.nefer;
		}
	}
	assert_null(hw_config_invalid(&c));
	assert_true(hw_mmu_init(m, &c, &fail));
}

void nfx_run_02(struct nfx *x, uint64_t la, enum access_type t, bool implicit, struct nfx_result *res)
{
	memset(res, 0, sizeof(*res));
	for (unsigned i = 0; i < 64; i++) {
		struct hw_mmu m;
		struct mmu_fault f;
		enum ret_pf r;
		uint64_t flush[NTDP_MAX_ROOTS];

		(void)ntdp_flush_take(x->n, flush, NTDP_MAX_ROOTS);
		hw_init(x, &m, true);
		hw_translate(&m, la, t, implicit, &res->x, NULL);
		if (res->x.outcome != XO_EPT_VIOLATION && res->x.outcome != XO_NPF)
			return;
		assert_int_not_equal(res->x.outcome, XO_EPT_MISCONFIG); /* EPT02 is never misconfigured */
		r = ntdp_page_fault(x->n, &res->x, &f);
		res->faults++;
		switch (r) {
		case RET_PF_FIXED:
		case RET_PF_SPURIOUS:
		case RET_PF_RETRY:
			continue;
		case RET_PF_INJECT:
			res->x = f.inject;
			return;
		case RET_PF_EMULATE:
			res->emulated = true;
			res->emulate_gpa = f.emulate_gpa;
			return;
		case RET_PF_ERROR:
			fail_msg("ntdp_page_fault: %s", f.error);
		}
	}
	fail_msg("la %#llx: still faulting after 64 fixes", (unsigned long long)la);
}

void nfx_run_12(struct nfx *x, uint64_t la, enum access_type t, bool implicit, struct xlate_result *r)
{
	struct hw_mmu m;

	hw_init(x, &m, false);
	hw_translate(&m, la, t, implicit, r, NULL);
}

#define CMP(field, fmt_) do { \
	if (o->field != ref->field) \
		fail_msg("%s: " #field " ours " fmt_ " reference " fmt_, what, \
			 (unsigned long long)o->field, (unsigned long long)ref->field); \
} while (0)

void nfx_compare(struct nfx *x, const struct nfx_result *ours, const struct xlate_result *ref,
		 const char *what)
{
	const struct xlate_result *o = &ours->x;
	uint64_t hfn;

	if (ref->outcome == XO_ABORT || ref->outcome == XO_VMENTRY_FAIL)
		fail_msg("%s: the reference itself failed: %s", what, ref->reason ? ref->reason : "?");
	if (ours->emulated) {
		struct gfn_info info;
		int ms = memslots_gfn_peek(x->l1, ours->emulate_gpa >> 12, NULL, &info);

		/* why: MMIO, or a write to a read-only page or an EPT12 table page */
		assert_true(ms == MEMSLOT_MMIO || ms == MEMSLOT_OK || ms == MEMSLOT_UNBACKED);
		if (ms != MEMSLOT_MMIO)
			assert_true((info.slot.flags & MEMSLOT_F_READONLY) ||
				    ntdp_is_table(x->n, ours->emulate_gpa >> 12));
		/*
		 * Emulation is asked at the final translation. The reference
		 * completes the access there, or faults after it, on L2's A/D
		 * write to a guest table (the emulator would meet that fault).
		 */
		if (ref->outcome == XO_OK) {
			assert_int_equal(ours->emulate_gpa, ref->hpa);
			return;
		}
		if ((ref->outcome == XO_EPT_VIOLATION && !(ref->qualification & EPTQ_FINAL) &&
		     (ref->qualification & EPTQ_WRITE)) ||
		    (ref->outcome == XO_NPF && (ref->exitinfo1 & NPF_GUEST_PT)))
			return;
		fail_msg("%s: ours emulates %#llx, reference %s", what,
			 (unsigned long long)ours->emulate_gpa, xlate_outcome_name(ref->outcome));
	}
	if (o->outcome != ref->outcome)
		fail_msg("%s: ours %s (qual %#llx ei1 %#llx gpa %#llx), reference %s (qual %#llx ei1 %#llx gpa %#llx)",
			 what, xlate_outcome_name(o->outcome), (unsigned long long)o->qualification,
			 (unsigned long long)o->exitinfo1, (unsigned long long)(o->fault_gpa | o->exitinfo2),
			 xlate_outcome_name(ref->outcome), (unsigned long long)ref->qualification,
			 (unsigned long long)ref->exitinfo1, (unsigned long long)(ref->fault_gpa | ref->exitinfo2));
	switch (ref->outcome) {
	case XO_OK:
		CMP(gpa, "%#llx");
		if (memslots_gfn_peek(x->l1, ref->hpa >> 12, &hfn, NULL) != MEMSLOT_OK)
			fail_msg("%s: gpa1 %#llx not backed in L1's slots", what, (unsigned long long)ref->hpa);
		if (o->hpa != ((hfn << 12) | (ref->hpa & 0xfff)))
			fail_msg("%s: hpa %#llx, EPT12 then L1's slots give %#llx", what,
				 (unsigned long long)o->hpa, (unsigned long long)((hfn << 12) | (ref->hpa & 0xfff)));
		CMP(guest_rights, "%#llx");
		CMP(guest_dirty, "%llu");
		break;
	case XO_PAGE_FAULT:
		CMP(error_code, "%#llx");
		CMP(cr2, "%#llx");
		break;
	case XO_EPT_VIOLATION:
		CMP(qualification, "%#llx");
		CMP(fault_gpa, "%#llx");
		CMP(gla_valid, "%llu");
		CMP(gla, "%#llx");
		break;
	case XO_EPT_MISCONFIG:
		CMP(fault_gpa, "%#llx");
		break;
	case XO_NPF:
		CMP(exitinfo1, "%#llx");
		CMP(exitinfo2, "%#llx");
		break;
	default:
		break;
	}
}
