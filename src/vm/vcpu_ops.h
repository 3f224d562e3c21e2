/*
 * vcpu_ops.h - what code running in a guest can do on its vCPU. The guest
 * OS model (src/guest) and the workloads use only this interface, so the
 * same guest runs natively, under TDP, under shadow paging, and (later) as
 * an L2 guest in every nested configuration.
 *
 * Every memory access goes through the TLB and the walker under the
 * hardware context the hypervisor programmed; exits happen underneath and
 * are handled by the hypervisor before the call returns. What comes back to
 * the guest is what a guest sees: success, or a fault delivered to it.
 *
 * Data pages are tracked, not stored: vcpu_touch() translates (and so
 * fills TLBs, sets A/D, allocates backing, exits) without moving data.
 * vcpu_read()/vcpu_write() move 4- or 8-byte words and are what the guest
 * OS uses on its page tables (through its direct map, so that a hypervisor
 * write-protecting those tables sees the writes).
 */
#ifndef NESTMMU_VM_VCPU_OPS_H
#define NESTMMU_VM_VCPU_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/cpu.h"
#include "arch/walk2d.h"

struct vcpu;

enum vcpu_status {
	VCPU_OK,
	VCPU_FAULT, /* a fault was delivered to the guest: see struct guest_fault */
	VCPU_DEAD,  /* the VM stopped (hypervisor error, triple fault): vcpu_error() */
};

/* A fault as the guest receives it. */
struct guest_fault {
	enum xlate_outcome kind; /* XO_PAGE_FAULT or XO_GP */
	uint32_t error_code;     /* #PF error code */
	uint64_t cr2;            /* faulting linear address */
};

enum vcpu_status vcpu_touch(struct vcpu *v, uint64_t gva, enum access_type type, struct guest_fault *f);
enum vcpu_status vcpu_read(struct vcpu *v, uint64_t gva, unsigned size, uint64_t *val, struct guest_fault *f);
enum vcpu_status vcpu_write(struct vcpu *v, uint64_t gva, unsigned size, uint64_t val, struct guest_fault *f);
/* Locked compare-exchange (for A/D-aware PTE updates); *changed set if memory differed. */
enum vcpu_status vcpu_cmpxchg(struct vcpu *v, uint64_t gva, unsigned size, uint64_t expected,
			      uint64_t desired, bool *changed, struct guest_fault *f);

/* Privileged register writes; each is an exit where the configuration intercepts it. */
enum vcpu_status vcpu_mov_cr3(struct vcpu *v, uint64_t val); /* bit 63: PCID no-flush */
enum vcpu_status vcpu_mov_cr0(struct vcpu *v, uint64_t val);
enum vcpu_status vcpu_mov_cr4(struct vcpu *v, uint64_t val);
enum vcpu_status vcpu_wrmsr_efer(struct vcpu *v, uint64_t val);
enum vcpu_status vcpu_invlpg(struct vcpu *v, uint64_t gva);
enum vcpu_status vcpu_invpcid(struct vcpu *v, unsigned type, uint16_t pcid, uint64_t gva);
/* Counted instructions that are not memory accesses (the cost model charges them). */
void vcpu_retire(struct vcpu *v, uint64_t instructions);

/* The guest-visible registers (CR0, CR3, CR4, EFER, CPL, ...). */
const struct cpu *vcpu_cpu(const struct vcpu *v);
/* Switch privilege level (syscall/sysret, interrupt return): no exit. */
void vcpu_set_cpl(struct vcpu *v, unsigned cpl);
/* Why the VM stopped, after VCPU_DEAD. */
const char *vcpu_error(const struct vcpu *v);

/*
 * Additions (issue 3, vCPU and guest OS model) - additive only:
 *   vcpu_id          the vCPU's number in its VM (0..n-1);
 *   vcpu_send_ipi    an interprocessor interrupt to vCPU `target` of the
 *                    same VM (counted per target; an exit on the sender
 *                    and/or the receiver where the configuration makes it
 *                    one). The guest then runs its handler on the target;
 *   vcpu_hypercall   VMCALL/VMMCALL `nr` (a counters.h enum cnt_hcall);
 *                    always an exit under a hypervisor; natively there is
 *                    nobody to answer: *ret = all ones (an unknown call);
 *   vcpu_note        events the guest OS reports for counting: page-table
 *                    pages allocated/freed by the guest OS, shootdowns
 *                    started (the counters are the simulator's, not guest
 *                    state);
 *   vcpu_last_fault  the fault behind the last VCPU_FAULT (also from the
 *                    privileged operations: #GP).
 */
unsigned vcpu_id(const struct vcpu *v);
enum vcpu_status vcpu_send_ipi(struct vcpu *v, unsigned target);
enum vcpu_status vcpu_hypercall(struct vcpu *v, unsigned nr, uint64_t a0, uint64_t a1, uint64_t *ret);

enum vcpu_note_kind {
	VCPU_NOTE_PT_ALLOC,  /* a page-table page allocated by the guest OS */
	VCPU_NOTE_PT_FREE,   /* a page-table page freed */
	VCPU_NOTE_SHOOTDOWN, /* a TLB shootdown started */
};
void vcpu_note(struct vcpu *v, enum vcpu_note_kind what);
const struct guest_fault *vcpu_last_fault(const struct vcpu *v);

#endif
