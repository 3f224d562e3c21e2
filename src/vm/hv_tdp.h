/*
 * hv_tdp.h - the TDP hypervisor: a guest runs with its own page tables on
 * the hardware, its physical memory mapped by EPT (Intel) or NPT (AMD)
 * tables that the TDP MMU (mmu/tdp.h) builds lazily on EPT violations /
 * #NPF (seed 002). The configuration `l1-tdp` of `nestmmu run`.
 *
 * What it programs (prepare): the guest's registers as they are, nested
 * paging with the MMU's EPTP / nCR3, VPID (ASID) 1 for every vCPU of the
 * VM (each vCPU has its own TLB). What it intercepts: nothing of the
 * guest's paging (no MOV CR3, INVLPG, #PF exits); the sending of an IPI
 * when `ipi_exits` (an ICR write exits without IPI virtualization; the
 * arrival is posted, no exit).
 *
 * Exits it handles:
 *   EPT violation / #NPF  tdp_page_fault(): RET_PF_FIXED/RETRY/SPURIOUS ->
 *                         resume; RET_PF_EMULATE (read-only slot, MMIO,
 *                         tracked page) -> the access is emulated on guest
 *                         memory (a write to a read-only slot is dropped,
 *                         as ROM drops it); RET_PF_ERROR -> the VM dies;
 *   EPT misconfiguration  never expected from our own tables: the VM dies;
 *   IPI (ICR write)       done (the vCPU layer delivers it);
 *   hypercall             none is implemented at this level: returns
 *                         HV_HC_ENOSYS.
 *
 * TLB: the MMU raises a pending flag when it removed or lowered a
 * translation; the hypervisor then owes every vCPU a flush (KVM's remote
 * TLB flush): each vCPU issues INVEPT single-context for the EPTP (Intel)
 * or TLB_CONTROL "flush this ASID" at its next entry (AMD), counted as
 * flushes at the hypervisor's level.
 */
#ifndef NESTMMU_VM_HV_TDP_H
#define NESTMMU_VM_HV_TDP_H

#include <stdbool.h>

#include "mmu/tdp.h"
#include "vm/vcpu.h"
#include "vm/vm.h"

struct hv_tdp_config {
	unsigned levels;               /* 4 or 5 (0: 4) */
	unsigned max_level;            /* largest leaf: 1 4K, 2 2M, 3 1G (0: 3) */
	enum tdp_dirty_mode dirty_mode;
	bool ipi_exits;                /* sending an IPI exits */
	/*
	 * The hypervisor's own level: 0 (L0, tables of kind CNT_PT_EPT01) or
	 * 1 (an L1 hypervisor over vm_port() = its L1 port, tables of kind
	 * CNT_PT_EPT12). Its guest's code is counted at level + 1.
	 */
	enum cnt_level level;
};

void hv_tdp_config_default(struct hv_tdp_config *c);

struct hv_tdp;

/*
 * Creates the MMU (EPT for an Intel VM, NPT for AMD) over the VM's memory
 * slots and port, counted at level 0 (kind CNT_PT_EPT01), and attaches
 * the hypervisor to the VM (guest code at level 1). NULL with *err on
 * failure (the VM is left native).
 */
struct hv_tdp *hv_tdp_attach(struct vm *vm, const struct hv_tdp_config *c, const char **err);
/* Detaches (the VM becomes native) and frees the MMU. */
void hv_tdp_detach(struct hv_tdp *h);

/* The same without attaching (for an L0 that runs this one as L1's hypervisor: hv_nest.h). */
struct hv_tdp *hv_tdp_create(struct vm *vm, const struct hv_tdp_config *c, const char **err);
const struct hv_ops *hv_tdp_ops(void);
/*
 * The store used when an access must be emulated (RET_PF_EMULATE: a
 * write-tracked page, a read-only slot): default guest memory, writes to
 * read-only slots dropped. An L0 running nested TDP passes the store that
 * also updates EPT02 (ntdp_ept12_write).
 */
void hv_tdp_set_store(struct hv_tdp *h, hv_store_fn store, void *ctx);
/*
 * Collects a flush the MMU asked for (tdp_flush_take): owed to every vCPU,
 * each made to prepare again before it next runs. For callers that change
 * the MMU's tables outside an exit of this VM (page tracking by nested TDP).
 */
void hv_tdp_sync_flush(struct hv_tdp *h);

/*
 * For an L0 that runs another guest on these same tables (L2 under
 * shadow-on-TDP runs with EPT01/NPT01, hv_nest.h): an EPT violation /
 * misconfiguration / #NPF taken in h's tables, handled as h's own
 * (tdp_page_fault; RET_PF_EMULATE emulated on h's VM memory with h's
 * store). The exit's vCPU need not be h's.
 */
enum hv_action hv_tdp_fault(struct hv_tdp *h, struct hv_exit *e);
/*
 * Flushes collected so far (hv_tdp_sync_flush): a guest running on these
 * tables outside h's VM compares it to know its own TLB owes one.
 */
uint64_t hv_tdp_flush_epoch(const struct hv_tdp *h);
/*
 * Takes the flush h's vCPU `vcpu` owes (true if it owed one): for an L0
 * that performs it on that processor while it runs an L2 vCPU there.
 */
bool hv_tdp_owed_take(struct hv_tdp *h, unsigned vcpu);

struct tdp_mmu *hv_tdp_mmu(struct hv_tdp *h);

#endif
