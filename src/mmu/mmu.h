/*
 * mmu.h - what every hypervisor MMU (TDP, shadow; later nested TDP and
 * paravirtual) shares: the state of one fault as it goes through a handler,
 * and the handler's documented return codes.
 *
 * The MMU reaches the memory it manages only through a struct mem_port
 * (src/mem/mem_port.h): its tables (EPT/NPT, shadow tables) live in the
 * port's space - host-physical memory when the engine is L0, its own
 * guest-physical memory when it is L1 - and so do the frames backing the
 * guest (src/mem/memslot.h maps the guest's gfns to frames of that space).
 * Nothing in an MMU may assume it runs at L0.
 */
#ifndef NESTMMU_MMU_MMU_H
#define NESTMMU_MMU_MMU_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/walk2d.h"

/*
 * Return codes of a fault handler (the RET_PF_* of KVM's MMU, ours):
 *   RET_PF_FIXED     the tables now allow the access: resume the guest;
 *   RET_PF_RETRY     nothing changed but the access may succeed now (e.g. a
 *                    racing update, a stale TLB entry): resume the guest;
 *   RET_PF_SPURIOUS  the tables already allowed the access: resume;
 *   RET_PF_INJECT    the guest's own tables do not allow the access: the
 *                    fault in mmu_fault.inject is delivered to the guest;
 *   RET_PF_EMULATE   the access must be emulated by the hypervisor (a write
 *                    to a write-tracked page, e.g. a shadowed guest page
 *                    table, or an MMIO access): mmu_fault.emulate_gpa says
 *                    where; the access is not retried by the hardware;
 *   RET_PF_ERROR     the fault cannot be handled (no memory left, outside
 *                    every slot): the VM stops with mmu_fault.error.
 */
enum ret_pf {
	RET_PF_FIXED,
	RET_PF_RETRY,
	RET_PF_SPURIOUS,
	RET_PF_INJECT,
	RET_PF_EMULATE,
	RET_PF_ERROR,
};

const char *ret_pf_name(enum ret_pf r);

/* Why the MMU is asked to handle a fault. */
enum mmu_fault_kind {
	MMU_FAULT_TDP,   /* EPT violation / #NPF: gpa and the access */
	MMU_FAULT_GUEST, /* #PF intercepted under shadow paging: gva and error code */
};

/* One fault's state, carried through the handler (KVM's kvm_page_fault). */
struct mmu_fault {
	/* in */
	enum mmu_fault_kind kind;
	enum access_type access;
	bool user;              /* CPL 3 and not implicit */
	uint64_t gva;           /* MMU_FAULT_GUEST; and the linear address of a TDP fault if known */
	uint64_t gpa;           /* MMU_FAULT_TDP */
	uint32_t error_code;    /* MMU_FAULT_GUEST: the #PF error code the hardware gave */
	uint64_t exit_qual;     /* MMU_FAULT_TDP on Intel: exit qualification */
	uint64_t exitinfo1;     /* MMU_FAULT_TDP on AMD */
	/* worked out by the handler */
	uint64_t gfn;
	uint64_t hfn;           /* backing frame, in the MMU's port space */
	unsigned level;         /* level of the leaf installed (1 = 4 KiB) */
	/* out */
	struct xlate_result inject; /* RET_PF_INJECT: the fault for the guest (XO_PAGE_FAULT ...) */
	uint64_t emulate_gpa;       /* RET_PF_EMULATE */
	const char *error;          /* RET_PF_ERROR */
};

#endif
