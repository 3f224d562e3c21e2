/*
 * hv_test.h - small hypervisors for the tests, plugged in through struct
 * hv_ops (vcpu.h):
 *   hvt_tdp   TDP over the TDP MMU (mmu/tdp.h): EPT or NPT built lazily on
 *             violations, nothing else intercepted (seed 002), VPID/ASID 1,
 *             pending TDP flushes issued at entry (INVEPT single-context /
 *             the ASID's TLB_CONTROL);
 *   hvt_trap  the guest's own tables on the hardware, but every privileged
 *             operation, #PF, IPI and interrupt intercepted: privileged
 *             operations done with vcpu_exec_native, #PF reinjected.
 */
#ifndef NESTMMU_TESTS_VM_HV_TEST_H
#define NESTMMU_TESTS_VM_HV_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "mmu/tdp.h"
#include "vm/vcpu.h"
#include "vm/vm.h"

/* ---- TDP ---- */

struct hvt_tdp {
	struct vm *vm;
	struct tdp_mmu *tdp;
	uint64_t violations;
};

static inline bool hvt_tdp_prepare(void *hv, struct vcpu *v, struct hv_hw *hw)
{
	struct hvt_tdp *h = hv;

	hw->cfg.cpu = *vcpu_cpu(v);
	hw->cfg.mem = hostmem_port(vm_hostmem(h->vm));
	tdp_hw_program(h->tdp, &hw->cfg);
	hw->vpid = 1;
	hw->intercepts = 0;
	if (tdp_flush_take(h->tdp)) {
		if (hw->cfg.nested == NESTED_EPT)
			tlb_invept(vcpu_tlb(v), 1, tdp_root_eptp(h->tdp));
		else
			tlb_svm_tlb_control(vcpu_tlb(v), 3, hw->vpid);
	}
	return true;
}

static inline enum hv_action hvt_tdp_exit(void *hv, struct vcpu *v, struct hv_exit *e)
{
	struct hvt_tdp *h = hv;
	struct mmu_fault f;
	enum ret_pf r;

	(void)v;
	if (!tdp_fault_from_exit(&f, &e->xlate)) {
		e->error = "hvt_tdp: unexpected exit";
		return HV_DEAD;
	}
	h->violations++;
	r = tdp_page_fault(h->tdp, &f);
	if (r == RET_PF_ERROR)
		e->error = f.error;
	return hv_action_from_ret_pf(r);
}

static inline const struct hv_ops *hvt_tdp_ops(void)
{
	static const struct hv_ops ops = {
		.name = "test-tdp",
		.prepare = hvt_tdp_prepare,
		.handle_exit = hvt_tdp_exit,
	};

	return &ops;
}

/* Attaches a TDP hypervisor (EPT on Intel, NPT on AMD) of `levels` levels, leaves up to max_level. */
static inline void hvt_tdp_attach(struct hvt_tdp *h, struct vm *vm, unsigned levels, unsigned max_level)
{
	const struct vm_config *vc = vm_config(vm);
	struct tdp_config c = {
		.kind = vc->vendor == CPU_AMD ? TDP_NPT : TDP_EPT,
		.levels = levels,
		.max_level = max_level,
		.ept_ad = vc->vendor != CPU_AMD,
		.maxphyaddr = vc->maxphyaddr,
		.dirty_mode = TDP_DIRTY_WP,
		.port = vm_port(vm),
		.slots = vm_memslots(vm),
		.counters = vm_counters(vm),
		.cnt_level = CNT_L0,
		.cnt_pt = CNT_PT_EPT01,
	};
	const char *why = NULL;

	memset(h, 0, sizeof(*h));
	h->vm = vm;
	h->tdp = tdp_create(&c, &why);
	if (!h->tdp)
		fail_msg("tdp_create: %s", why);
	vm_set_hv(vm, hvt_tdp_ops(), h, 1);
}

static inline void hvt_tdp_detach(struct hvt_tdp *h)
{
	tdp_destroy(h->tdp);
}

/* ---- trap everything ---- */

struct hvt_trap {
	struct vm *vm;
	uint32_t vpid;
	uint64_t exits[HV_EXIT_COUNT];
};

static inline bool hvt_trap_prepare(void *hv, struct vcpu *v, struct hv_hw *hw)
{
	struct hvt_trap *h = hv;

	hw->cfg.cpu = *vcpu_cpu(v);
	hw->cfg.nested = NESTED_NONE;
	hw->cfg.mem = guestmem_pmem(vm_guestmem(h->vm));
	hw->vpid = h->vpid;
	hw->intercepts = HV_I_CR0 | HV_I_CR3 | HV_I_CR4 | HV_I_EFER | HV_I_INVLPG | HV_I_INVPCID | HV_I_PF |
			 HV_I_IPI | HV_I_INTR;
	return true;
}

static inline enum hv_action hvt_trap_exit(void *hv, struct vcpu *v, struct hv_exit *e)
{
	struct hvt_trap *h = hv;

	h->exits[e->reason]++;
	switch (e->reason) {
	case HV_EXIT_PF:
		e->inject = (struct guest_fault){ .kind = XO_PAGE_FAULT, .error_code = e->xlate.error_code,
						  .cr2 = e->xlate.cr2 };
		return HV_INJECT;
	case HV_EXIT_IPI:
	case HV_EXIT_INTR:
		return HV_DONE;
	case HV_EXIT_HYPERCALL:
		e->hc_ret = e->args[0] + e->args[1];
		return HV_DONE;
	default:
		return vcpu_exec_native(v, e);
	}
}

static inline bool hvt_identity(void *hv, uint64_t gpa, uint64_t *hpa)
{
	(void)hv;
	*hpa = gpa;
	return true;
}

static inline const struct hv_ops *hvt_trap_ops(void)
{
	static const struct hv_ops ops = {
		.name = "test-trap",
		.prepare = hvt_trap_prepare,
		.handle_exit = hvt_trap_exit,
		.gpa_to_hpa = hvt_identity,
	};

	return &ops;
}

static inline void hvt_trap_attach(struct hvt_trap *h, struct vm *vm, uint32_t vpid)
{
	memset(h, 0, sizeof(*h));
	h->vm = vm;
	h->vpid = vpid;
	vm_set_hv(vm, hvt_trap_ops(), h, 1);
}

#endif
