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
	enum cnt_level level; /* the hypervisor's level: CNT_L0, or CNT_L1 (stand-in until branch sot: counters and table kind only) */
};

void hv_shadow_config_default(struct hv_shadow_config *c);

struct hv_shadow;

/* Creates the shadow MMU (counted at level 0, CNT_PT_SHADOW_L0) and attaches it. NULL with *err on failure. */
struct hv_shadow *hv_shadow_attach(struct vm *vm, const struct hv_shadow_config *c, const char **err);
void hv_shadow_detach(struct hv_shadow *h);

struct shadow_mmu *hv_shadow_mmu(struct hv_shadow *h);
/* Stand-in until branch sot (hv_shadow at level 1): the same without attaching, and the ops. */
struct hv_shadow *hv_shadow_create(struct vm *vm, const struct hv_shadow_config *c, const char **err);
const struct hv_ops *hv_shadow_ops(void);

#endif
