/*
 * hv_test.h - small hypervisors for the tests, plugged in through struct
 * hv_ops (vcpu.h):
 *   hvt_tdp   TDP over the TDP MMU (mmu/tdp.h): EPT or NPT built lazily on
 *             violations, nothing else intercepted (seed 002), VPID/ASID 1,
 *             pending TDP flushes issued at entry (INVEPT single-context /
 *             the ASID's TLB_CONTROL);
 *   hvt_trap  the guest's own tables on the hardware, but every privileged
 *             operation, #PF, IPI and interrupt intercepted: privileged
 *             operations done with vcpu_exec_native, #PF reinjected;
 *   hvt_shadow shadow paging over the shadow MMU (mmu/shadow.h), one vCPU
 *             (the MMU holds one set of roots): #PF, MOV CRn, EFER, INVLPG
 *             and INVPCID intercepted; writes the shadow MMU cannot let
 *             through emulated with vcpu_emulate_at + shadow_emulate_write;
 *             the VPID flushed whenever the MMU asks, and at every MOV CR3
 *             (conservative: the test checks correctness, not speed).
 */
#ifndef NESTMMU_TESTS_VM_HV_TEST_H
#define NESTMMU_TESTS_VM_HV_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "mmu/shadow.h"
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

/* ---- shadow paging ---- */

struct hvt_shadow {
	struct vm *vm;
	struct shadow_mmu *s;
	const struct cpu *guest; /* during an emulated store */
	uint64_t exits[HV_EXIT_COUNT];
};

static inline void hvt_shadow_flush(struct vcpu *v)
{
	tlb_invvpid(vcpu_tlb(v), 1, 1, 0);
}

static inline bool hvt_shadow_prepare(void *hv, struct vcpu *v, struct hv_hw *hw)
{
	struct hvt_shadow *h = hv;

	if (shadow_hw_cpu(h->s, vcpu_cpu(v), &hw->cfg.cpu))
		return false;
	hw->cfg.nested = NESTED_NONE;
	hw->cfg.mem = hostmem_port(vm_hostmem(h->vm));
	hw->vpid = 1;
	hw->intercepts = HV_I_CR0 | HV_I_CR3 | HV_I_CR4 | HV_I_EFER | HV_I_INVLPG | HV_I_INVPCID | HV_I_PF;
	if (shadow_tlb_flush_pending(h->s, true))
		hvt_shadow_flush(v);
	return true;
}

static inline enum mem_status hvt_shadow_store(void *ctx, uint64_t gpa, unsigned size, uint64_t val)
{
	struct hvt_shadow *h = ctx;

	return shadow_emulate_write(h->s, h->guest, gpa, size, val);
}

static inline enum hv_action hvt_shadow_exit(void *hv, struct vcpu *v, struct hv_exit *e)
{
	struct hvt_shadow *h = hv;
	const struct cpu *guest = vcpu_cpu(v);
	struct mmu_fault f;
	enum hv_action a;
	enum ret_pf r;

	h->exits[e->reason]++;
	switch (e->reason) {
	case HV_EXIT_PF:
		hv_exit_to_mmu_fault(e, &f);
		r = shadow_page_fault(h->s, guest, &f);
		switch (r) {
		case RET_PF_INJECT:
			e->inject = (struct guest_fault){ .kind = f.inject.outcome, .error_code = f.inject.error_code,
							  .cr2 = f.inject.cr2 };
			return HV_INJECT;
		case RET_PF_EMULATE:
			h->guest = guest;
			return vcpu_emulate_at(v, e, f.emulate_gpa, hvt_shadow_store, h);
		case RET_PF_ERROR:
			e->error = f.error;
			return HV_DEAD;
		default:
			return HV_RESUME;
		}
	case HV_EXIT_INVLPG:
		shadow_invlpg(h->s, guest, e->value);
		return vcpu_exec_native(v, e);
	case HV_EXIT_INVPCID:
		shadow_sync_all(h->s, guest);
		return vcpu_exec_native(v, e);
	case HV_EXIT_CR3:
	case HV_EXIT_CR0:
	case HV_EXIT_CR4:
	case HV_EXIT_EFER:
		a = vcpu_exec_native(v, e);
		if (a != HV_DONE)
			return a;
		if (shadow_new_cr3(h->s, vcpu_cpu(v), true)) {
			e->error = shadow_error(h->s);
			return HV_DEAD;
		}
		hvt_shadow_flush(v);
		return HV_DONE;
	default:
		e->error = "hvt_shadow: unexpected exit";
		return HV_DEAD;
	}
}

static inline const struct hv_ops *hvt_shadow_ops(void)
{
	static const struct hv_ops ops = {
		.name = "test-shadow",
		.prepare = hvt_shadow_prepare,
		.handle_exit = hvt_shadow_exit,
	};

	return &ops;
}

static inline void hvt_shadow_attach(struct hvt_shadow *h, struct vm *vm, bool unsync)
{
	struct shadow_config c = {
		.port = vm_port(vm),
		.slots = vm_memslots(vm),
		.hw_maxphyaddr = vm_config(vm)->maxphyaddr,
		.cnt = vm_counters(vm),
		.level = CNT_L0,
		.pt_kind = CNT_PT_SHADOW_L0,
		.unsync = unsync,
		.root_cache = SHADOW_ROOT_CACHE_DEFAULT,
	};

	memset(h, 0, sizeof(*h));
	h->vm = vm;
	h->s = shadow_create(&c);
	if (!h->s)
		fail_msg("shadow_create failed");
	vm_set_hv(vm, hvt_shadow_ops(), h, 1);
}

static inline void hvt_shadow_detach(struct hvt_shadow *h)
{
	shadow_destroy(h->s);
}

#endif
