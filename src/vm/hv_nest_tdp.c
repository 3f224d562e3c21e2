/*
 * hv_nest_tdp.c - NEST_TDP_ON_TDP (hv_nest.h): L1 runs L2 with EPT12/NPT12
 * (hv_tdp at level 1 over the L1 port), L0 runs L2 on EPT02/NPT02, the
 * shadow of EPT12 composed with L1's memory (mmu/nested_tdp.h), EPT12
 * pages write-protected in EPT01. docs/nested.md traces one L2 fault.
 */
#include <stdlib.h>
#include <string.h>

#include "mmu/nested_tdp.h"
#include "vm/hv_nest_internal.h"

#define NEST_ROOTS02 4

#define NTDP(h) ((struct ntdp *)(h)->mode)

/* ---- the emulated store of L1 into its EPT12 (tracked in EPT01) ---- */

static enum mem_status ept12_store(void *ctx, uint64_t gpa1, unsigned size, uint64_t val)
{
	struct hv_nest *h = ctx;
	int rc = ntdp_ept12_write(NTDP(h), gpa1, size, val);

	hv_tdp_sync_flush(h->cfg.l0);
	return rc == NTDP_OK ? MEM_OK : rc == NTDP_ENOMEM ? MEM_NOMEM : MEM_OUTSIDE;
}

/* ---- entering L2 ---- */

static void flush_roots02(struct hv_nest *h, struct vcpu *v2, const uint64_t *roots, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (vm_config(h->vm1)->vendor == CPU_AMD) {
			tlb_svm_tlb_control(vcpu_tlb(v2), 3, NEST_L2_VPID);
			h->cnt->flushes[CNT_L0][CNT_FLUSH_VPID]++;
			return;
		}
		tlb_invept(vcpu_tlb(v2), 1, roots[i]);
		h->cnt->flushes[CNT_L0][CNT_FLUSH_EPT_CTX]++;
	}
}

static bool tdp_nest_prepare(void *hv, struct vcpu *v2, struct hv_hw *hw)
{
	struct hv_nest *h = hv;
	struct hv_hw hw12;
	struct ntdp_root12 r12;
	struct xlate_result fail;
	uint64_t roots[NTDP_MAX_ROOTS];
	unsigned n;

	if (!nest_l1_prepare(h, v2, &hw12))
		return false;
	memset(&r12, 0, sizeof(r12));
	r12.eptp12 = hw12.cfg.eptp;
	r12.ncr3 = hw12.cfg.ncr3;
	r12.ncr4 = hw12.cfg.ncr4;
	r12.nefer = hw12.cfg.nefer;
	if (ntdp_load_root(NTDP(h), &r12, &fail) != NTDP_OK)
		return false;
	if (hw12.flush_tdp) {
		/* L1's INVEPT single-context (Intel: an exit); AMD: TLB_CONTROL in VMCB12, applied at VMRUN */
		if (hw12.cfg.nested == NESTED_EPT)
			h->cnt->exits[CNT_L1][CNT_BY_L0][CNT_EXIT_INVEPT]++;
		n = ntdp_invept(NTDP(h), NTDP_INVEPT_SINGLE, hw12.cfg.eptp, roots, NTDP_MAX_ROOTS);
		flush_roots02(h, v2, roots, n);
	}
	n = ntdp_flush_take(NTDP(h), roots, NTDP_MAX_ROOTS);
	flush_roots02(h, v2, roots, n);
	*hw = hw12;
	hw->flush_tdp = false;
	hw->cfg.cpu = *vcpu_cpu(v2);
	hw->cfg.mem = hostmem_port(vm_hostmem(h->vm1));
	hw->cfg.ept_caps = (struct ept_caps){ 0 };
	ntdp_hw_program(NTDP(h), &hw->cfg);
	hw->vpid = NEST_L2_VPID;
	return true;
}

/* ---- exits ---- */

static enum hv_action tdp_nest_exit(void *hv, struct vcpu *v2, struct hv_exit *e)
{
	struct hv_nest *h = hv;
	struct mmu_fault f;
	struct hv_exit e12;
	enum hv_action a;
	enum ret_pf r;

	switch (e->reason) {
	case HV_EXIT_EPT_VIOLATION:
	case HV_EXIT_EPT_MISCONFIG:
	case HV_EXIT_NPF:
		r = ntdp_page_fault(NTDP(h), &e->xlate, &f);
		hv_tdp_sync_flush(h->cfg.l0); /* EPT12 pages it write-protected in EPT01 */
		switch (r) {
		case RET_PF_FIXED:
		case RET_PF_RETRY:
		case RET_PF_SPURIOUS:
			return HV_RESUME;
		case RET_PF_EMULATE:
			/* an L2 access to L1 memory L0 must see: a page holding EPT12, a read-only or MMIO slot */
			return hv_emulate_on(vm_guestmem(h->vm1), e, f.emulate_gpa, ept12_store, h);
		case RET_PF_INJECT:
			e12 = *e;
			e12.xlate = f.inject;
			e12.reason = f.inject.outcome == XO_NPF ? HV_EXIT_NPF
				     : f.inject.outcome == XO_EPT_MISCONFIG ? HV_EXIT_EPT_MISCONFIG
									     : HV_EXIT_EPT_VIOLATION;
			e->reflected = true;
			a = nest_reflect(h, v2, &e12);
			e->mem = e12.mem;
			e->inject = e12.inject;
			e->error = e12.error;
			return a;
		case RET_PF_ERROR:
		default:
			e->error = f.error ? f.error : "nested TDP: fault not handled";
			return HV_DEAD;
		}
	default:
		/* what L1 intercepts (hw12.intercepts): its exit */
		return nest_reflect(h, v2, e);
	}
}

static const struct hv_ops tdp_nest_ops = {
	.name = "nested-tdp",
	.prepare = tdp_nest_prepare,
	.handle_exit = tdp_nest_exit,
	.gpa_to_hpa = nest_gpa_to_hpa,
};

/* ---- life cycle ---- */

static bool tdp_nest_init(struct hv_nest *h, const char **err)
{
	const struct hv_nest_config *c = &h->cfg;
	struct hv_tdp_config l1 = c->l1;
	struct ntdp_config nc;

	if (!c->l0) {
		*err = "nested TDP: L0 must run L1 with TDP";
		return false;
	}
	l1.level = CNT_L1;
	h->l1 = hv_tdp_create(h->vm2, &l1, err);
	if (!h->l1)
		return false;
	h->l1_ops = hv_tdp_ops();
	memset(&nc, 0, sizeof(nc));
	nc.kind = vm_config(h->vm1)->vendor == CPU_AMD ? TDP_NPT : TDP_EPT;
	nc.maxphyaddr = vm_config(h->vm1)->maxphyaddr;
	nc.ept_caps = (struct ept_caps){ .xonly = true, .walk5 = true, .ad = true, .gb1 = true };
	nc.max_level = c->ept02_max_level ? c->ept02_max_level : 3;
	nc.roots = NEST_ROOTS02;
	nc.port = vm_port(h->vm1);
	nc.l1_slots = vm_memslots(h->vm1);
	nc.ept01 = hv_tdp_mmu(c->l0);
	nc.counters = h->cnt;
	h->mode = ntdp_create(&nc, err);
	if (!h->mode)
		return false;
	hv_tdp_set_store(c->l0, ept12_store, h);
	return true;
}

static void tdp_nest_fini(struct hv_nest *h)
{
	/* L1's tables go first: tearing them down may still store into EPT12 */
	if (h->l1)
		hv_tdp_detach(h->l1);
	h->l1 = NULL;
	if (h->mode) {
		hv_tdp_set_store(h->cfg.l0, NULL, NULL);
		ntdp_destroy(h->mode);
	}
	h->mode = NULL;
}

const struct nest_kind_ops nest_tdp_on_tdp_ops = {
	.init = tdp_nest_init,
	.fini = tdp_nest_fini,
	.ops = &tdp_nest_ops,
};
