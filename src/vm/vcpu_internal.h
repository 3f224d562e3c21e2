/*
 * vcpu_internal.h - the vCPU's state, shared by vcpu.c (memory operations,
 * context loading, exits) and vcpu_priv.c (privileged operations, IPIs,
 * hypercalls, helpers for hypervisors). Not for guest code.
 */
#ifndef NESTMMU_VM_VCPU_INTERNAL_H
#define NESTMMU_VM_VCPU_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/tlb.h"
#include "arch/walk2d.h"
#include "sim/counters.h"
#include "vm/vcpu.h"
#include "vm/vm.h"

/*
 * The translation caches of one logical processor (TLB, paging-structure
 * caches, nested TLB: one struct tlb), shared by the vCPUs that run on it:
 * a vCPU of a VM, and the vCPU of the same index of a nested VM it runs
 * (vm_nest_host.lp_host). The TLB holds one current context (VPID/ASID,
 * PCID, EP4TA: tlb_set_vpid, tlb_bind); `cur` is the vCPU it was loaded
 * for. Freed with the last vCPU that uses it.
 */
struct vcpu_lp {
	struct tlb *tlb;
	unsigned users;
	struct vcpu *cur;      /* NULL: no vCPU's context loaded */
};

struct vcpu {
	struct vm *vm;
	unsigned id;
	struct cpu guest;      /* the architectural state the guest sees */
	struct hv_hw hw;       /* the hardware context loaded (hw.cfg.mem unwrapped) */
	struct hw_mmu mmu;     /* prepared from hw.cfg; its cfg.mem counts nested reads */
	bool loaded;           /* hw and mmu valid */
	bool need_prepare;     /* call hv_ops.prepare before the next entry */
	struct vcpu_lp *lp;    /* this vCPU's logical processor (its TLB) */
	struct counters *cnt;  /* the VM's */
	struct guest_fault last_fault;
	bool dead;
	const char *error;
	char errbuf[200];
	/* references to nested tables during one tlb_access (walk_refs by dimension) */
	bool counting;
	uint64_t nested_reads, nested_ad;
};

/* The counters level of the guest's code, and of its hypervisor (level - 1). */
unsigned vcpu_level_of(const struct vcpu *v);

/* Marks the VM dead with a message; returns VCPU_DEAD. */
enum vcpu_status vcpu_die(struct vcpu *v, const char *fmt, ...);

/* Loads the hardware context if stale (prepare + VM entry). False: dead. */
bool vcpu_load(struct vcpu *v);

/*
 * Prepares v->mmu from v->hw.cfg (wrapping the memory for counting when
 * nested). On failure *fail holds the outcome and v->mmu is unchanged.
 */
bool vcpu_init_mmu(struct vcpu *v, const struct hw_config *cfg, struct hw_mmu *out,
		   struct xlate_result *fail);

/* Counts one exit and hands it to the hypervisor; the context is reloaded afterwards. */
enum hv_action vcpu_exit(struct vcpu *v, struct hv_exit *e);

/* Delivers a fault to the guest (counts a #PF); returns VCPU_FAULT. */
enum vcpu_status vcpu_deliver(struct vcpu *v, const struct guest_fault *f);

/* A #GP(0) for a privileged operation. */
enum vcpu_status vcpu_deliver_gp(struct vcpu *v);

#endif
