/*
 * hv_nest_internal.h - what every nested configuration shares (hv_nest.c)
 * and what each one adds (hv_nest_<kind>.c).
 *
 * The frame: L0 runs the L1 VM (vm1) with its own hypervisor; the L1 OS
 * reserved RAM for its hypervisor (l1_frames); the L1 hypervisor is one
 * of L0's engines created over the L2 VM (vm2) with the L1 port (every
 * access an L1 vCPU access). A configuration (struct nest_kind_ops)
 * creates the L1 hypervisor and L0's structures for L2, and is L0's
 * hv_ops for vm2.
 */
#ifndef NESTMMU_VM_HV_NEST_INTERNAL_H
#define NESTMMU_VM_HV_NEST_INTERNAL_H

#include "vm/hv_nest.h"
#include "vm/l1_port.h"
#include "vm/vcpu.h"

/* VPID / ASID L0 gives L2 (L1 runs with 1). */
#define NEST_L2_VPID 2u

struct nest_kind_ops {
	/* Creates the L1 hypervisor (h->l1_ops, h->l1) and L0's state for L2 (h->mode); false with *err. */
	bool (*init)(struct hv_nest *h, const char **err);
	/* Frees what init made (called also after a failed init: fields may be NULL). */
	void (*fini)(struct hv_nest *h);
	/* The isolation invariant of L0's structures for L2 (hv_nest_check); NULL: none. */
	int (*check)(struct hv_nest *h, char *msg, size_t len);
	/* L0's hypervisor of vm2. */
	const struct hv_ops *ops;
	/* Optional: the L1 hypervisor's shadow MMU (hv_nest_l1_shadow). */
	struct shadow_mmu *(*l1_shadow)(struct hv_nest *h);
};

struct hv_nest {
	struct hv_nest_config cfg;
	struct vm *vm1, *vm2;
	struct counters *cnt;
	struct frames *l1_frames;     /* the reserved L1 memory */
	struct mem_port view;         /* L1 memory seen by L0, uncounted */
	struct l1_port port;          /* the L1 hypervisor's port */
	const struct hv_ops *l1_ops;  /* the L1 hypervisor (level 1) */
	void *l1;
	const struct nest_kind_ops *kind;
	void *mode;                   /* the configuration's L0 state */
	uint64_t launched;            /* bit i: L2 vCPU i was entered once (VMLAUNCH done) */
	struct nest_vmcs *vmcs;       /* L1's VMCS12 / VMCB12 accesses (hv_nest_vmcs.c) */
};

extern const struct nest_kind_ops nest_tdp_on_tdp_ops;
extern const struct nest_kind_ops nest_pv_ops;
extern const struct nest_kind_ops nest_shadow_on_tdp_ops;
extern const struct nest_kind_ops nest_shadow_on_shadow_ops;

struct vcpu *nest_l1_vcpu(struct hv_nest *h, const struct vcpu *v2);
/*
 * L1's entry preparation for L2 vCPU v2 (its VMCS12/VMCB12: registers,
 * EPTP12 or shadow CR3, intercepts) into *hw12, on the L1 vCPU of the
 * same index; the first one is L1's VMLAUNCH / VMRUN (an exit at level 1).
 */
bool nest_l1_prepare(struct hv_nest *h, struct vcpu *v2, struct hv_hw *hw12);
/*
 * Reflects an exit to L1: L1's handler runs on L1's vCPU (its memory
 * accesses through the L1 port), then L1 resumes L2 (VMRESUME / VMRUN: an
 * exit at level 1). Marks e reflected.
 */
enum hv_action nest_reflect(struct hv_nest *h, struct vcpu *v2, struct hv_exit *e);
/* hv_ops.gpa_to_hpa of every configuration: gpa2 -> gpa1 (vm2's slots) -> hpa (vm1's), without allocating. */
bool nest_gpa_to_hpa(void *hv, uint64_t gpa2, uint64_t *hpa);

/* ---- hv_nest_vmcs.c: L1's accesses to VMCS12 / VMCB12 (the rules are there) ---- */
bool nest_vmcs_init(struct hv_nest *h, const char **err);
void nest_vmcs_fini(struct hv_nest *h);
/* L1 reads the exit information of a reflected exit. */
void nest_vmcs_exit_read(struct hv_nest *h, struct vcpu *v2, const struct hv_exit *e);
/* L1 writes what its handler's answer needs (an injected event). */
void nest_vmcs_exit_done(struct hv_nest *h, struct vcpu *v2, enum hv_action a);
/* L1 writes the fields of its L2 state that changed since the vCPU's last entry. */
void nest_vmcs_entry_write(struct hv_nest *h, struct vcpu *v2, const struct hv_hw *hw12);

#endif
