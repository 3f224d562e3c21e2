/*
 * l1_port.h - the memory port of an L1 hypervisor (mem/mem_port.h, level
 * 1): the space is L1's guest-physical memory, and every access is made
 * by L1's own code on an L1 vCPU, through its kernel's direct map
 * (kva_base + gpa: gos_kernel_va of the L1 OS), so it goes through L0's virtualization of L1 like any
 * L1 access: a TLB lookup, on a miss the two-dimensional walk, and an
 * exit to L0 where L0 wants one (an EPT01 violation on a page not yet
 * mapped; a write to a page L0 write-protects, such as an EPT12 table
 * page, which L0 emulates). The exits are counted at level 1 like any
 * other: nothing here is a constant.
 *
 * Table pages come from `frames` (L1 memory the L1 OS reserved for its
 * hypervisor, gos_reserve). A page handed out is zeroed as a kernel
 * zeroes it: each word that is not zero is stored by the vCPU; so is a
 * page given back (the frames also back L2 RAM, which reads as zeros).
 *
 * Model choice: the vCPU acting for L1 is the one set by l1_port_set_vcpu
 * (L1's vCPU that runs the L2 vCPU whose exit is being handled).
 */
#ifndef NESTMMU_VM_L1_PORT_H
#define NESTMMU_VM_L1_PORT_H

#include "mem/frames.h"
#include "mem/guestmem.h"
#include "mem/mem_port.h"
#include "vm/vcpu.h"

struct l1_port {
	struct mem_port port;
	uint64_t kva_base;        /* L1's kernel: gpa x is at kva_base + x (its direct map) */
	struct vcpu *v;           /* the L1 vCPU executing */
	struct frames *frames;    /* L1 frames for table pages */
	struct guestmem *l1_view; /* L1's memory seen by L0, uncounted (to find words to zero) */
	uint64_t failures;        /* accesses that faulted or found the VM dead */
};

void l1_port_init(struct l1_port *p, uint64_t kva_base, struct vcpu *v, struct frames *frames,
		  struct guestmem *l1_view);
void l1_port_set_vcpu(struct l1_port *p, struct vcpu *v);

#endif
