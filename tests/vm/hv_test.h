/*
 * hv_test.h - hypervisors for the tests, plugged in through struct hv_ops
 * (vcpu.h):
 *   hvt_tdp    the production TDP hypervisor (vm/hv_tdp.h) with a handle
 *              the tests keep;
 *   hvt_trap   the guest's own tables on the hardware, but every privileged
 *              operation, #PF, IPI and interrupt intercepted: privileged
 *              operations done with vcpu_exec_native, #PF reinjected;
 *   hvt_shadow the production shadow-paging hypervisor (vm/hv_shadow.h).
 */
#ifndef NESTMMU_TESTS_VM_HV_TEST_H
#define NESTMMU_TESTS_VM_HV_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vm/hv_shadow.h"
#include "vm/hv_tdp.h"
#include "vm/vcpu.h"
#include "vm/vm.h"

/* ---- TDP: the production hypervisor (vm/hv_tdp.h) ---- */

struct hvt_tdp {
	struct vm *vm;
	struct hv_tdp *h;
	struct tdp_mmu *tdp;
};

/* EPT violations and #NPF exits the hypervisor took so far. */
static inline uint64_t hvt_tdp_violations(const struct hvt_tdp *h)
{
	struct counters *c = vm_counters(h->vm);

	return counters_exits_sum(c, -1, -1, CNT_EXIT_EPT_VIOLATION) + counters_exits_sum(c, -1, -1, CNT_EXIT_NPF);
}

/* Attaches a TDP hypervisor (EPT on Intel, NPT on AMD) of `levels` levels, leaves up to max_level. */
static inline void hvt_tdp_attach(struct hvt_tdp *h, struct vm *vm, unsigned levels, unsigned max_level)
{
	struct hv_tdp_config c;
	const char *why = NULL;

	hv_tdp_config_default(&c);
	c.levels = levels;
	c.max_level = max_level;
	memset(h, 0, sizeof(*h));
	h->vm = vm;
	h->h = hv_tdp_attach(vm, &c, &why);
	if (!h->h)
		fail_msg("hv_tdp_attach: %s", why);
	h->tdp = hv_tdp_mmu(h->h);
}

static inline void hvt_tdp_detach(struct hvt_tdp *h)
{
	hv_tdp_detach(h->h);
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

/* ---- shadow paging: the production hypervisor (vm/hv_shadow.h) ---- */

struct hvt_shadow {
	struct vm *vm;
	struct hv_shadow *h;
	struct shadow_mmu *s;
};

static inline void hvt_shadow_attach(struct hvt_shadow *h, struct vm *vm, bool unsync)
{
	struct hv_shadow_config c;
	const char *why = NULL;

	hv_shadow_config_default(&c);
	c.unsync = unsync;
	memset(h, 0, sizeof(*h));
	h->vm = vm;
	h->h = hv_shadow_attach(vm, &c, &why);
	if (!h->h)
		fail_msg("hv_shadow_attach: %s", why);
	h->s = hv_shadow_mmu(h->h);
}

static inline void hvt_shadow_detach(struct hvt_shadow *h)
{
	hv_shadow_detach(h->h);
}

#endif
