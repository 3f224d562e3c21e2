/*
 * hv_nest_shadow.c - NEST_SHADOW_ON_TDP (hv_nest.h): L0 runs L1 with
 * EPT01/NPT01 (its hv_tdp, cfg.l0); L1 runs L2 with shadow paging: the
 * same hv_shadow engine as L0's, created at level 1 over the L2 VM, so
 * its shadow tables SPT12 (gva2 -> gpa1) live in L1 memory and every
 * access it makes to them or to L2's page tables is an L1 access through
 * the L1 port. L0 runs L2 with L1's registers (CR3 = an SPT12 root, a
 * gpa1) under EPT01/NPT01: the hardware walks SPT12 in two dimensions,
 * the nested one being L1's own EPT01. No EPT12 and no EPT02 exist.
 *
 * Entry (prepare): L1's preparation (nest_l1_prepare: VMCS12 / VMCB12
 * with its registers, intercepts and TLB requests) becomes VMCS02 /
 * VMCB02: the same registers and intercepts, nested paging = EPT01/NPT01,
 * memory = host memory, VPID/ASID NEST_L2_VPID. L1's TLB requests for its
 * VPID12 (hv_hw.flush_vpid / flush_addr, hv_shadow.h) are performed on
 * VPID02: on Intel each INVVPID is an exit of L1 that L0 emulates; on AMD
 * TLB_CONTROL in VMCB12 is applied at the emulated VMRUN (no exit) and
 * each INVLPGA is an exit of L1. L0's own flushes of EPT01 reach L2's
 * translations too (below).
 *
 * Exits of L2: an EPT violation / misconfiguration / #NPF is L0's own
 * (a gpa1 missing in EPT01: hv_tdp_fault, the same handler as for L1's
 * own faults); everything else is what L1 intercepted (#PF, MOV CRn,
 * WRMSR EFER, INVLPG, INVPCID, IPIs, hypercalls) and is reflected to L1
 * (nest_reflect), whose answer (resume, inject into L2, emulated, dead)
 * L0 carries out.
 *
 * EPT01 flushes: combined translations of L2 are tagged with EPT01's
 * EP4TA as L1's are, and guest-physical mappings are L1's and L2's alike
 * (tagged by the EP4TA alone), so an INVEPT single-context L0 executes
 * for EPT01 drops them too (Vol. 3C 29.4.3.1: INVEPT covers all VPIDs).
 * L1 vCPU i and L2 vCPU i share one TLB (one logical processor, vcpu.h):
 * when an L2 vCPU enters after an EPT01 flush was collected and its L1
 * vCPU still owes it, L0 executes it now (counted once; L1 owes it no
 * more); when the L1 vCPU already executed it, the same instruction
 * already dropped L2's entries from the shared TLB: nothing to do. On
 * AMD the NPT01 flush is a TLB_CONTROL for L1's ASID, which does not
 * cover ASID02: L0 flushes ASID02 (counted).
 */
#include <stdlib.h>
#include <string.h>

#include "arch/x86.h"
#include "vm/hv_nest_internal.h"
#include "vm/hv_shadow.h"

struct sot {
	uint64_t ept01_seen[VM_MAX_CPUS]; /* AMD, per L2 vCPU: the NPT01 flushes ASID02 has had */
	uint64_t ept01_kicked;            /* the EPT01 flushes L2's vCPUs were kicked for */
};

#define SOT(h) ((struct sot *)(h)->mode)

static bool is_amd(const struct hv_nest *h)
{
	return vm_config(h->vm1)->vendor == CPU_AMD;
}

/* After L0 or L1 code ran: an EPT01 flush collected meanwhile makes every L2 vCPU prepare again. */
static void kick_on_ept01_flush(struct hv_nest *h)
{
	uint64_t epoch = hv_tdp_flush_epoch(h->cfg.l0);

	if (epoch != SOT(h)->ept01_kicked) {
		SOT(h)->ept01_kicked = epoch;
		vm_kick_all(h->vm2);
	}
}

/* L0's flushes of EPT01 / NPT01 on L2's translations (header comment). */
static void ept01_flush(struct hv_nest *h, struct vcpu *v2, const struct hv_hw *hw)
{
	uint64_t epoch = hv_tdp_flush_epoch(h->cfg.l0);
	unsigned id = vcpu_id(v2);

	if (is_amd(h)) {
		if (SOT(h)->ept01_seen[id] == epoch)
			return;
		SOT(h)->ept01_seen[id] = epoch;
		tlb_svm_tlb_control(vcpu_tlb(v2), 3, NEST_L2_VPID);
		h->cnt->flushes[CNT_L0][CNT_FLUSH_VPID]++;
		return;
	}
	/* Intel: the logical processor's debt, whichever of its vCPUs enters first (KVM: a request of the vCPU) */
	if (hv_tdp_owed_take(h->cfg.l0, id)) {
		tlb_invept(vcpu_tlb(v2), 1, hw->cfg.eptp);
		h->cnt->flushes[CNT_L0][CNT_FLUSH_EPT_CTX]++;
	}
}

/*
 * L1's invalidations for its VPID12 / ASID12 (hw12), emulated by L0 on
 * VPID02 / ASID02 and counted: L1's INVVPID and INVLPGA exits at level 1,
 * L0's executed invalidations as its flushes.
 */
static bool l1_tlb_requests(struct hv_nest *h, struct vcpu *v2, const struct hv_hw *hw12)
{
	struct hv_hw req;
	uint64_t *exits = h->cnt->exits[CNT_L1][CNT_BY_L0];

	memset(&req, 0, sizeof(req));
	req.vpid = NEST_L2_VPID;
	req.flush_vpid = hw12->flush_vpid;
	req.flush_naddr = hw12->flush_naddr < HV_FLUSH_ADDRS ? hw12->flush_naddr : HV_FLUSH_ADDRS;
	memcpy(req.flush_addr, hw12->flush_addr, sizeof(req.flush_addr));
	if (is_amd(h)) {
		exits[CNT_EXIT_INVLPGA] += req.flush_naddr; /* TLB_CONTROL rides on VMRUN */
	} else {
		exits[CNT_EXIT_INVVPID] += req.flush_naddr + (req.flush_vpid ? 1 : 0);
	}
	return vcpu_flush_guest_context(v2, &req, CNT_L0);
}

/*
 * PAE paging under EPT: VM entry takes the PDPTEs from VMCS02's
 * guest-PDPTE fields, which L0 fills from L1 memory in software (SDM Vol.
 * 3C 27.3.1.6); the model reads them through EPT01 when it loads the
 * context (ARCHITECTURE.md), so the SPT12 page holding them must be
 * mapped there. It is, once L1 wrote it; should it not be, L0 maps it as
 * for an EPT violation on a read (its own software, no exit).
 */
static bool pdpt_in_ept01(struct hv_nest *h, const struct hv_hw *hw)
{
	uint64_t gpa1 = hw->cfg.cpu.regs.cr3 & UINT64_C(0xffffffe0);
	struct tdp_mapping m;
	struct hv_exit e;

	if (hw->cfg.nested != NESTED_EPT || cpu_paging_mode(&hw->cfg.cpu.regs) != PAGING_PAE ||
	    tdp_lookup(hv_tdp_mmu(h->cfg.l0), gpa1 >> 12, &m))
		return true;
	memset(&e, 0, sizeof(e));
	e.reason = HV_EXIT_EPT_VIOLATION;
	e.access = ACCESS_READ;
	e.mem.kind = HV_MEM_TOUCH;
	e.xlate.outcome = XO_EPT_VIOLATION;
	e.xlate.fault_gpa = gpa1;
	e.xlate.qualification = EPTQ_READ;
	return hv_tdp_fault(h->cfg.l0, &e) == HV_RESUME;
}

static bool sot_prepare(void *hv, struct vcpu *v2, struct hv_hw *hw)
{
	struct hv_nest *h = hv;
	struct hv_hw hw12;

	if (!nest_l1_prepare(h, v2, &hw12))
		return false;
	/* VMCS12 / VMCB12 -> VMCS02 / VMCB02: L1's registers and intercepts, L0's nested paging and VPID */
	*hw = hw12;
	hw->flush_tdp = false;
	hw->flush_vpid = false;
	hw->flush_naddr = 0;
	hw->cfg.mem = hostmem_port(vm_hostmem(h->vm1));
	hw->cfg.ept_caps = (struct ept_caps){ 0 };
	tdp_hw_program(hv_tdp_mmu(h->cfg.l0), &hw->cfg);
	hw->vpid = NEST_L2_VPID;
	if (!pdpt_in_ept01(h, hw))
		return false;
	if (!l1_tlb_requests(h, v2, &hw12))
		return false;
	ept01_flush(h, v2, hw);
	kick_on_ept01_flush(h);
	return true;
}

static enum hv_action sot_exit(void *hv, struct vcpu *v2, struct hv_exit *e)
{
	struct hv_nest *h = hv;
	enum hv_action a;

	switch (e->reason) {
	case HV_EXIT_EPT_VIOLATION:
	case HV_EXIT_EPT_MISCONFIG:
	case HV_EXIT_NPF:
		/* L2 runs on EPT01: a gpa1 L0 does not map (yet) is L0's own fault */
		a = hv_tdp_fault(h->cfg.l0, e);
		break;
	default:
		/* what L1 intercepted (hw12.intercepts): its exit */
		a = nest_reflect(h, v2, e);
		break;
	}
	kick_on_ept01_flush(h);
	return a;
}

static const struct hv_ops sot_ops = {
	.name = "nested-shadow",
	.prepare = sot_prepare,
	.handle_exit = sot_exit,
	.gpa_to_hpa = nest_gpa_to_hpa,
};

/* ---- life cycle ---- */

static bool sot_init(struct hv_nest *h, const char **err)
{
	struct hv_shadow_config sc = h->cfg.l1_shadow;
	struct sot *m;
	uint64_t epoch;

	if (!h->cfg.l0) {
		*err = "nested shadow paging: L0 must run L1 with TDP";
		return false;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		*err = "out of memory";
		return false;
	}
	h->mode = m;
	epoch = hv_tdp_flush_epoch(h->cfg.l0);
	m->ept01_kicked = epoch;
	for (unsigned i = 0; i < VM_MAX_CPUS; i++)
		m->ept01_seen[i] = epoch; /* AMD: ASID02 has no entries yet */
	sc.level = CNT_L1;
	h->l1 = hv_shadow_create(h->vm2, &sc, err);
	if (!h->l1)
		return false;
	h->l1_ops = hv_shadow_ops();
	return true;
}

static void sot_fini(struct hv_nest *h)
{
	hv_shadow_detach(h->l1); /* SPT12 pages go back to L1's frames */
	h->l1 = NULL;
	free(h->mode);
	h->mode = NULL;
}

static struct shadow_mmu *sot_l1_shadow(struct hv_nest *h)
{
	return h->l1 ? hv_shadow_mmu(h->l1) : NULL;
}

const struct nest_kind_ops nest_shadow_on_tdp_ops = {
	.init = sot_init,
	.fini = sot_fini,
	.ops = &sot_ops,
	.l1_shadow = sot_l1_shadow,
};
