/*
 * hv_pv.h - the L1 hypervisor of paravirtual nested paging (seed 003,
 * KPOP; L0's side is mmu/kpop.h, the glue vm/hv_nest_pv.c): the engine
 * an L1 hypervisor runs for its L2 VM when L0 offers KPOP. It builds no
 * EPT12/NPT12: it keeps its own record of L2's memory and tells L0 each
 * mapping by a hypercall; L0 writes it into the one EPT02/NPT02 the
 * hardware walks.
 *
 * Where everything lives (all of it in L1 memory, reached through the
 * VM's port, vm_port(vm2) = the L1 port: every access is an L1 vCPU access,
 * counted at level 1, with its TLB lookups and the exits L0 takes):
 *   - the record: gfn2 -> (gfn1, perms), a software radix tree of four
 *     levels of 512 eight-byte entries (gfn2 < 2^36, i.e. 48-bit L2
 *     gpas), node pages from the port's page allocator. Not a hardware
 *     format: nothing walks it but this engine (seed 003: "L1 could use
 *     any arbitrary data type", the prototype's XArray). Entry: bit 0
 *     present; a leaf has the KPOP perms in bits 1-3 and gfn1 in bits
 *     12-51, an inner entry the gpa1 of the child node in bits 12-51;
 *   - one descriptor page per L1 vCPU, where the argument block of
 *     KPOP_HC_MAP is written before the call (struct kpop_map_desc).
 *
 * The guest MMU: one per L2 VM (holder = the gpa1 of the record's root,
 * as_id 0), shared by all L2 vCPUs as they share one EPTP12 under nested
 * TDP: every L2 vCPU takes a reference with KPOP_HC_MMU_LOAD before its
 * first entry and drops it with KPOP_HC_MMU_UNLOAD at teardown. The
 * handle L0 returned is what L1 puts in VMCS12's EPT pointer (VMCB12's
 * nCR3): the PV contract is that L0 reads the KPOP handle from that field
 * (an L1 that puts anything else there makes its VM entry fail).
 *
 * The fault path (an L2 EPT violation / #NPF L0 reflected because its
 * EPT02 lacks the page or the rights):
 *   1. look the gfn2 up in the record (4 reads through the port);
 *   2. not recorded: the backing gfn1 from vm2's memory slots, which
 *      allocate it from L1's reserved frames on first touch (as the TDP
 *      MMU's fault path does); perms R|X, and W unless the slot is
 *      read-only;
 *   3. an L2 MMIO gfn: emulated on L2's memory; a write the record does
 *      not allow (read-only slot): emulated, the write dropped (ROM);
 *   4. the descriptor (4 stores) and KPOP_HC_MAP(desc, 1) by a hypercall
 *      of the L1 vCPU (VMCALL / VMMCALL: an exit of L1 that L0 handles);
 *   5. L0 answered >= 0: the record is written (after the call, so that
 *      a refused MAP leaves L1's record as it was) and L2 resumes; an error:
 *      the VM dies with L0's code in the message.
 * One page per fault, one descriptor per call: no prefetch, no batching.
 *
 * Other exits: an IPI L1 intercepts is done; an L2 hypercall answers
 * HV_HC_ENOSYS; anything else kills the VM.
 */
#ifndef NESTMMU_VM_HV_PV_H
#define NESTMMU_VM_HV_PV_H

#include <stdbool.h>
#include <stdint.h>

#include "mem/mem_port.h"
#include "vm/vcpu.h"
#include "vm/vm.h"

struct hv_pv_config {
	struct vm *vm1;          /* the L1 VM: its vCPU i runs L2 vCPU i and makes the hypercalls */
	struct mem_port *view;   /* L1 memory without counting (teardown only: freeing the record) */
	bool ipi_exits;          /* L1 intercepts the sending of IPIs */
};

struct hv_pv_stats {
	uint64_t faults;         /* exits handled by the fault path */
	uint64_t maps;           /* KPOP_HC_MAP calls answered >= 0 */
	uint64_t recorded;       /* gfn2s recorded */
	uint64_t record_pages;   /* node pages of the record live */
	uint64_t emulated;       /* accesses emulated (MMIO, read-only) */
};

struct hv_pv;

/* The engine for L2 VM vm2 (whose port is the L1 port); NULL with *err. */
struct hv_pv *hv_pv_create(struct vm *vm2, const struct hv_pv_config *c, const char **err);
/* Drops every vCPU's MMU reference (KPOP_HC_MMU_UNLOAD) and frees the record. */
void hv_pv_destroy(struct hv_pv *p);
const struct hv_ops *hv_pv_ops(void);

/* What the record holds for gfn2 (read uncounted): true with *gfn1, *perms. */
bool hv_pv_lookup(struct hv_pv *p, uint64_t gfn2, uint64_t *gfn1, unsigned *perms);
/* The guest MMU's KPOP handle (0 before the first entry of an L2 vCPU), and its holder. */
uint64_t hv_pv_handle(const struct hv_pv *p);
uint64_t hv_pv_holder(const struct hv_pv *p);
const struct hv_pv_stats *hv_pv_stats(const struct hv_pv *p);
/* Why the engine last failed (an L0 refusal, an L1 access that failed), or NULL. */
const char *hv_pv_error(const struct hv_pv *p);

#endif
