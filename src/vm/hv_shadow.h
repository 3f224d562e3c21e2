/*
 * hv_shadow.h - the shadow-paging hypervisor: the guest's page tables are
 * shadowed by tables the shadow MMU (mmu/shadow.h) builds (gva -> hpa) and
 * keeps in sync by write-protecting the guest's table pages; the hardware
 * runs with CR3 = a shadow root and no nested paging. The configuration
 * `l1-shadow` of `nestmmu run`.
 *
 * Intercepted: #PF, MOV CR0/CR3/CR4, WRMSR EFER, INVLPG, INVPCID, and the
 * sending of an IPI when `ipi_exits`.
 *
 * Exits:
 *   #PF        shadow_page_fault(): fixed -> resume; the guest's own fault
 *              -> injected (exact error code and CR2); a write the shadow
 *              MMU must see (to a guest page table, a tracked frame, a
 *              read-only slot) -> emulated with shadow_emulate_write;
 *   MOV CR3    the guest register changes (checks, #GP) and the shadow
 *              root follows (root cache); the hardware TLB then gets what
 *              the instruction would have done with the new hardware CR3:
 *              a flush of the PCID unless the no-flush bit was set (SDM
 *              4.10.4.1), counted at the hypervisor's level;
 *   MOV CR0/CR4, WRMSR EFER  the register changes, shadow_ctl_changed()
 *              syncs unsync pages where the change flushes the TLB and
 *              takes the root of the new state; the hardware TLB gets the
 *              instruction's invalidation under the hardware registers;
 *   INVLPG     shadow_invlpg() (sync the page holding the entry, drop the
 *              shadow leaf), then the instruction's invalidation;
 *   INVPCID    type 0 in the current PCID as INVLPG; every other form
 *              syncs every unsync page; then the invalidation (#GP checks
 *              as the instruction);
 *   IPI        done (delivered by the vCPU layer);
 *   hypercall  HV_HC_ENOSYS.
 * Whenever the shadow MMU removed or lowered rights, every vCPU owes a
 * flush of its VPID (INVVPID single-context at its next entry).
 *
 * Level (hv_shadow_config.level): at level 0 the hypervisor runs on the
 * hardware: its tables are in host memory (CNT_PT_SHADOW_L0) and the
 * invalidation each intercepted instruction needs is applied to the
 * vCPU's TLB exactly as the instruction would make it under the hardware
 * registers. At level 1 (an L1 hypervisor created over the L2 VM: port =
 * the L1 port, slots gfn2 -> gfn1, tables SPT12 in L1 memory, kind
 * CNT_PT_SHADOW_L1) it cannot touch its guest's TLB: what it wants there
 * is an instruction it executes for its guest's VPID / ASID, requested
 * in hv_hw (flush_vpid, flush_addr) for L0 to emulate at the next entry:
 *   flushing MOV CR3, a CR0/CR4 write that invalidates, a flush owed:
 *       the whole context (Intel INVVPID single-context, an exit of L1;
 *       AMD TLB_CONTROL 03h in VMCB12, applied by VMRUN, no exit) - it
 *       covers every PCID, more than a MOV CR3 drops: allowed, since
 *       nothing obliges a processor to keep a cached translation (SDM
 *       Vol. 3A 4.10: the TLBs may drop entries at any time);
 *   INVLPG, INVPCID type 0: the address (INVVPID individual-address,
 *       every PCID, globals included; AMD INVLPGA: exits of L1);
 *   INVPCID types 1-3: the whole context.
 * A pending whole-context flush covers the addresses (none is then
 * listed). The #GP checks of INVPCID are the instruction's.
 *
 * SMP: one shadow MMU for the VM (shadow pages shared), one set of roots
 * per vCPU (shadow_select_vcpu).
 */
#ifndef NESTMMU_VM_HV_SHADOW_H
#define NESTMMU_VM_HV_SHADOW_H

#include <stdbool.h>
#include <stdint.h>

#include "mmu/shadow.h"
#include "vm/vm.h"

struct hv_shadow_config {
	bool unsync;          /* leaf tables may go unsync (default true) */
	unsigned root_cache;  /* previous roots kept per vCPU (default SHADOW_ROOT_CACHE_DEFAULT) */
	uint64_t max_pages;   /* cap on shadow pages (0: none) */
	bool ipi_exits;       /* sending an IPI exits */
	/*
	 * Root sets beyond one per vCPU of the VM (vCPU i uses set i): an L0
	 * that also shadows the tables L1 runs its guests on, in this same
	 * MMU (vm/hv_nest_sos.c), gives its L2 vCPUs sets n .. n + extra - 1.
	 */
	unsigned extra_vcpus;
	enum cnt_level level; /* the hypervisor's own level (CNT_L0 default, or CNT_L1): see above */
};

void hv_shadow_config_default(struct hv_shadow_config *c);

struct hv_shadow;

/*
 * Creates the shadow MMU over the VM's port and memory slots, counted at
 * c->level (kind CNT_PT_SHADOW_L0 or _L1), and attaches it (guest code at
 * level + 1). NULL with *err on failure.
 */
struct hv_shadow *hv_shadow_attach(struct vm *vm, const struct hv_shadow_config *c, const char **err);
/* Detaches if attached, and frees the MMU (its tables go back to the port). */
void hv_shadow_detach(struct hv_shadow *h);

/* The same without attaching (for an L0 that runs this one as L1's hypervisor: hv_nest.h). */
struct hv_shadow *hv_shadow_create(struct vm *vm, const struct hv_shadow_config *c, const char **err);
const struct hv_ops *hv_shadow_ops(void);

struct shadow_mmu *hv_shadow_mmu(struct hv_shadow *h);

#endif
