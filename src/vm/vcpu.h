/*
 * vcpu.h - the vCPU as the hypervisor and the simulator see it (guest code
 * sees only vcpu_ops.h): the architectural state the guest sees, the
 * hardware context the hypervisor programmed, a TLB, and the loop that
 * runs one guest operation, delivering exits to the hypervisor.
 *
 * The hypervisor side is pluggable (struct hv_ops): the same guest runs
 *   natively  - no hypervisor: the guest's own tables on the hardware,
 *               guest-physical = host-physical (hv_native_ops, vm.h);
 *   under TDP - nested EPT/NPT: the hypervisor programs EPTP or nCR3, the
 *               guest's registers run on the hardware as they are;
 *   shadowed  - the hypervisor programs the registers the hardware runs
 *               with (CR3 = a shadow root) and intercepts what it must.
 *
 * One guest memory operation (vcpu_touch/read/write/cmpxchg):
 *   1. If the hardware context is stale (first run, after an exit, after
 *      vcpu_request_reload), hv->prepare() fills struct hv_hw; the vCPU
 *      loads it (VM entry: VPID, EPTP checks, PAE PDPTEs). A VM-entry
 *      failure kills the VM.
 *   2. tlb_access() under that context.
 *   3. XO_OK: the data operation at the host-physical address (through
 *      hw.cfg.mem; vcpu_touch moves no data). Done.
 *   4. XO_PAGE_FAULT: if #PF is intercepted (HV_I_PF), an exit
 *      HV_EXIT_PF; else the fault is delivered to the guest (VCPU_FAULT).
 *      XO_GP: delivered to the guest. XO_EPT_VIOLATION / XO_EPT_MISCONFIG /
 *      XO_NPF: always an exit. XO_ABORT / XO_VMENTRY_FAIL: the VM dies.
 *   5. An exit is counted (counters.exits[level][by_l0][reason]) and
 *      handed to hv->handle_exit(), whose answer decides:
 *        HV_RESUME  re-enter and retry the access (RET_PF_FIXED, _RETRY,
 *                   _SPURIOUS);
 *        HV_INJECT  deliver exit->inject to the guest (RET_PF_INJECT);
 *        HV_DONE    the hypervisor emulated the operation (RET_PF_EMULATE:
 *                   for a read or cmpxchg it put the result in exit->mem);
 *        HV_DEAD    the VM stops with exit->error (RET_PF_ERROR).
 *      After any exit the context is prepared again (step 1). More than
 *      VCPU_MAX_EXITS exits for one operation kill the VM (livelock).
 *
 * Privileged operations (vcpu_mov_cr3, ...): when intercepted (hw.intercepts)
 * they exit with their operand and the hypervisor emulates them (typically
 * with vcpu_commit_priv and its own MMU and TLB work, or with
 * vcpu_exec_native to do what the hardware would have done); otherwise the
 * hardware executes them: the guest's and the hardware's register change
 * alike and tlb.h applies the instruction's invalidation with the hardware
 * registers. A register write in PAE mode loads the PDPTEs: one with a
 * reserved bit is #GP; a nested fault while loading them is an exit, after
 * which the instruction is executed again.
 *
 * One TLB per logical processor: the TLB model (with its paging-structure
 * caches and nested TLB) belongs to the logical processor the vCPU runs
 * on. An L2 vCPU runs on the L1 vCPU of the same index (vm_create_nested
 * with vm_nest_host.lp_host): both use one TLB, as on the hardware, where
 * L1's own accesses (its hypervisor's table walks and stores) and L2's
 * compete for the same entries, told apart by their tags - VPID 1 / 2
 * (Intel), ASID (AMD), and the EP4TA of combined and guest-physical
 * mappings (SDM Vol. 3C 29.4.1-29.4.2; APM 15.16). The vCPU layer makes
 * the TLB hold the context of the vCPU using it (its VPID/ASID, the tags
 * of its registers) before each of its accesses and instructions (VM
 * entry, vcpu_tlb); nothing is flushed by the switch, and every
 * invalidation drops exactly what its definition names in the one TLB.
 *
 * IPIs (vcpu_send_ipi): HV_I_IPI makes the send an exit on the sender,
 * HV_I_INTR the arrival an exit on the target. Hypercalls always exit
 * under a hypervisor.
 *
 * Counting (src/sim/counters.h, at the VM's guest level `L`):
 * instructions[L] +1 per operation (memory or privileged) and per
 * vcpu_retire unit; mem_accesses[L] +1 per memory operation; tlb_hits /
 * tlb_misses, walks, walk_refs, ad_writes from the TLB's own statistics of
 * each access (taken before and after it: a shared TLB's other user counts
 * its accesses at its own level); guest_pf[L] per #PF delivered to the guest; flushes[L] per
 * invalidating instruction the hardware executes for the guest (an
 * intercepted one is the hypervisor's to count: vcpu_exec_native counts it
 * at L-1); ipis[L] per target; hypercalls[L] by number; guest page-table
 * pages and shootdowns as the guest reports them (vcpu_note). The
 * hypervisor's own work (sw_walks of vcpu_emulate_mem, flushes of VM
 * transitions without VPID) is counted at L-1.
 */
#ifndef NESTMMU_VM_VCPU_H
#define NESTMMU_VM_VCPU_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/tlb.h"
#include "arch/walk2d.h"
#include "mem/guestmem.h"
#include "mem/mem_port.h"
#include "mmu/mmu.h"
#include "vm/vcpu_ops.h"

struct vm;

/* Exits allowed for one guest operation before the VM is declared dead. */
#define VCPU_MAX_EXITS 64

/* ---- the hypervisor interface ---- */

/* Guest operations a hypervisor may intercept (hv_hw.intercepts). */
enum {
	HV_I_CR3     = 1u << 0, /* MOV to CR3 */
	HV_I_CR0     = 1u << 1, /* MOV to CR0 */
	HV_I_CR4     = 1u << 2, /* MOV to CR4 */
	HV_I_EFER    = 1u << 3, /* WRMSR IA32_EFER */
	HV_I_INVLPG  = 1u << 4,
	HV_I_INVPCID = 1u << 5,
	HV_I_PF      = 1u << 6, /* #PF in the exception bitmap */
	HV_I_IPI     = 1u << 7, /* sending an IPI (ICR write) exits on the sender */
	HV_I_INTR    = 1u << 8, /* an interrupt arriving at a running vCPU exits on it */
};

/* Individual-address invalidations one entry can carry (hv_hw.flush_addr); more: a whole-context flush. */
#define HV_FLUSH_ADDRS 4

/* What the hardware runs the guest with: filled by hv_ops.prepare. */
struct hv_hw {
	/*
	 * The registers the hardware uses (cpu.regs: for shadow paging CR3 =
	 * the shadow root and whatever CR0/CR4/EFER the hypervisor chooses),
	 * the nested mode with EPTP or nCR3/nCR4/nEFER, and the memory the
	 * hardware reaches (host-physical).
	 */
	struct hw_config cfg;
	uint32_t vpid;       /* VPID (Intel) / ASID (AMD) the TLB tags with; 0 natively */
	unsigned intercepts; /* HV_I_* */
	/*
	 * The hypervisor invalidates this guest's TDP translations before the
	 * entry: INVEPT single-context of cfg.eptp (Intel) or TLB_CONTROL
	 * "flush this ASID" (AMD). The vCPU layer performs it and counts it at
	 * the hypervisor's level; for an L1 hypervisor L0 emulates it.
	 */
	bool flush_tdp;
	/*
	 * Invalidations of the guest's linear and combined translations (its
	 * VPID / ASID, every PCID) the hypervisor executes before the entry,
	 * as the instruction of its vendor: a whole-context flush (Intel
	 * INVVPID single-context, Vol. 3C 31.3 / Vol. 2 INVVPID; AMD
	 * TLB_CONTROL 03h in the VMCB, applied by VMRUN, APM 15.16.1) and
	 * individual addresses (INVVPID individual-address; INVLPGA). A
	 * hypervisor that wants the whole context flushed lists no address
	 * (the flush covers them). The vCPU layer performs them and counts
	 * them as flushes at the hypervisor's level; for an L1 hypervisor L0
	 * emulates them on the VPID it gives L2 (INVVPID and INVLPGA are exits
	 * of L1, TLB_CONTROL is not).
	 */
	bool flush_vpid;
	unsigned flush_naddr;
	uint64_t flush_addr[HV_FLUSH_ADDRS];
};

enum hv_exit_reason {
	HV_EXIT_EPT_VIOLATION, /* xlate: qualification, fault_gpa, gla */
	HV_EXIT_EPT_MISCONFIG, /* xlate: fault_gpa */
	HV_EXIT_NPF,           /* xlate: exitinfo1, exitinfo2 */
	HV_EXIT_PF,            /* xlate: error_code, cr2 (intercepted #PF) */
	HV_EXIT_CR3,           /* value: the MOV CR3 operand (bit 63 kept) */
	HV_EXIT_CR0,           /* value */
	HV_EXIT_CR4,           /* value */
	HV_EXIT_EFER,          /* value */
	HV_EXIT_INVLPG,        /* value: the address */
	HV_EXIT_INVPCID,       /* value: the address, invpcid_type, pcid */
	HV_EXIT_IPI,           /* target: the destination vCPU (sender side) */
	HV_EXIT_INTR,          /* an interrupt arrived (receiver side) */
	HV_EXIT_HYPERCALL,     /* value: number; args[2] in, hc_ret out */
	HV_EXIT_COUNT,
};

const char *hv_exit_name(enum hv_exit_reason r);
/* The counters.h reason an exit is counted under. */
int hv_exit_cnt_reason(enum hv_exit_reason r);

/* The guest memory operation behind a memory exit (for emulation). */
enum hv_mem_kind { HV_MEM_TOUCH, HV_MEM_READ, HV_MEM_WRITE, HV_MEM_CMPXCHG };

struct hv_mem_op {
	enum hv_mem_kind kind;
	unsigned size;     /* 4 or 8 (0 for a touch) */
	uint64_t value;    /* WRITE, CMPXCHG: the value to store */
	uint64_t expected; /* CMPXCHG */
	/* out, for HV_DONE: the value read (READ; CMPXCHG: what memory held) */
	uint64_t result;
	bool changed;      /* CMPXCHG: memory did not hold `expected` (nothing stored) */
};

struct hv_exit {
	enum hv_exit_reason reason;
	/* memory exits */
	uint64_t gva;
	enum access_type access;
	bool user;                /* CPL 3 at the time of the access */
	struct xlate_result xlate;/* the hardware's exit information */
	struct hv_mem_op mem;
	/* other exits */
	uint64_t value;
	unsigned invpcid_type;
	uint16_t pcid;
	unsigned target;
	uint64_t args[2];
	uint64_t hc_ret;
	/* out */
	struct guest_fault inject; /* HV_INJECT */
	const char *error;         /* HV_DEAD */
	bool reflected;            /* L0 reflected the exit to L1 (counted as such) */
};

enum hv_action {
	HV_RESUME, /* re-enter; a memory operation is retried */
	HV_INJECT, /* deliver exit->inject to the guest */
	HV_DONE,   /* emulated: the operation is complete (results in exit->mem) */
	HV_DEAD,   /* stop the VM: exit->error */
};

/* A hypervisor's answer to a hypercall it does not implement (KVM's -KVM_ENOSYS). */
#define HV_HC_ENOSYS ((uint64_t)-1000)

const char *hv_action_name(enum hv_action a);
/* RET_PF_FIXED/RETRY/SPURIOUS -> HV_RESUME, INJECT -> HV_INJECT, EMULATE -> HV_DONE, ERROR -> HV_DEAD. */
enum hv_action hv_action_from_ret_pf(enum ret_pf r);

struct hv_ops {
	const char *name;
	/*
	 * (a)+(b): fill *hw for vCPU v from the guest's state (vcpu_cpu(v))
	 * and the hypervisor's own. Must be a function of those only: the
	 * vCPU calls it at the first entry, after every exit and after
	 * vcpu_request_reload(). Returns false (and the VM dies) on an error.
	 */
	bool (*prepare)(void *hv, struct vcpu *v, struct hv_hw *hw);
	/* (c): handle one exit (see the header comment). */
	enum hv_action (*handle_exit)(void *hv, struct vcpu *v, struct hv_exit *e);
	/*
	 * Optional, for checkers: the host-physical address of a guest-physical
	 * one as this hypervisor backs it (false if it does not back it yet).
	 * NULL: through the VM's memory slots without allocating.
	 */
	bool (*gpa_to_hpa)(void *hv, uint64_t gpa, uint64_t *hpa);
};

/*
 * What a privileged instruction (HV_EXIT_CR0/CR3/CR4/INVLPG/INVPCID with
 * operand `val`, registers `before`) invalidates, as an enum cnt_flush
 * (SDM 4.10.4.1), or -1 if nothing: for counting a flush a hypervisor
 * applies on the guest's behalf.
 */
int hv_insn_flush_scope(enum hv_exit_reason kind, const struct cpu_regs *before, uint64_t val,
			unsigned invpcid_type);

/* Fills an mmu_fault from a memory exit (EPT violation / #NPF / #PF). */
void hv_exit_to_mmu_fault(const struct hv_exit *e, struct mmu_fault *f);

/* ---- for hypervisors ---- */

struct vm *vcpu_vm(const struct vcpu *v);
/*
 * The TLB of v's logical processor (hypervisors flush through tlb.h), made
 * to hold v's context: its VPID/ASID and the tags of its loaded registers,
 * which instructions like MOV CR3 or INVLPG act on. It may be shared with
 * the vCPU of another level (an L1 vCPU and the L2 vCPU it runs): call
 * vcpu_tlb again after anything that may have run the other vCPU.
 */
struct tlb *vcpu_tlb(struct vcpu *v);
/* The hardware context last loaded (valid after the first entry). */
const struct hv_hw *vcpu_hw(const struct vcpu *v);
/*
 * Performs hw->flush_vpid and hw->flush_addr[] on v's TLB for VPID/ASID
 * hw->vpid, as v's vendor does it (INVVPID single-context or
 * individual-address; TLB_CONTROL 03h, INVLPGA), each counted as a flush
 * at `level`. False if an INVVPID VMfails (VPID 0, a non-canonical
 * address): a hypervisor's bug. For the vCPU layer at VM entry and for an
 * L0 emulating an L1 hypervisor's requests on L2's VPID.
 */
bool vcpu_flush_guest_context(struct vcpu *v, const struct hv_hw *hw, unsigned level);
/* Makes the next guest operation call prepare() again (a root changed, ...). */
void vcpu_request_reload(struct vcpu *v);
/*
 * Sets the guest-visible registers (emulating an intercepted MOV CRn,
 * WRMSR). No TLB effect; checked like the instruction (false and nothing
 * changed if the CPU could not hold them).
 */
bool vcpu_set_guest_regs(struct vcpu *v, const struct cpu_regs *regs);
/*
 * Does what the hardware would have done for an intercepted privileged
 * exit (CR writes, INVLPG, INVPCID) with the guest's registers as the
 * hardware registers: changes the guest registers and applies the TLB
 * effect. For a hypervisor that passes the operation through. Returns
 * HV_DONE, or HV_INJECT with e->inject (#GP) when the instruction faults.
 */
enum hv_action vcpu_exec_native(struct vcpu *v, struct hv_exit *e);
/*
 * The register part of an intercepted MOV CRn / WRMSR EFER alone: the
 * guest-visible registers change as the instruction would change them
 * (checks, #GP, the no-flush bit dropped, EFER.LMA), with no TLB effect -
 * for a hypervisor that then does its own MMU and TLB work (shadow
 * paging). HV_DONE, or HV_INJECT with e->inject (#GP). Nothing for other
 * exits (HV_DONE).
 */
enum hv_action vcpu_commit_priv(struct vcpu *v, struct hv_exit *e);
/*
 * Performs a memory exit's operation (e->mem) at guest-physical `gpa`
 * (known to the hypervisor, e.g. mmu_fault.emulate_gpa): reads through
 * the guest's memory, stores through `store` (NULL: straight to guest
 * memory; a shadow MMU passes the function that also updates its
 * shadow entries), a compare-exchange as a read then a store if equal.
 * HV_DONE with the results in e->mem, or HV_DEAD with e->error.
 */
typedef enum mem_status (*hv_store_fn)(void *ctx, uint64_t gpa, unsigned size, uint64_t val);
enum hv_action vcpu_emulate_at(struct vcpu *v, struct hv_exit *e, uint64_t gpa, hv_store_fn store, void *ctx);
/* The same on another memory (gpa in gm's space: L0 emulating an L2 access on L1's memory). */
enum hv_action hv_emulate_on(struct guestmem *gm, struct hv_exit *e, uint64_t gpa, hv_store_fn store, void *ctx);
/*
 * Emulates a memory exit's operation as the hypervisor's emulator would:
 * a software walk of the guest's tables (through the guest's memory,
 * setting A/D as the processor would), then the operation on guest
 * memory. HV_DONE (*gpa receives the address), or HV_INJECT with the
 * guest's #PF. For RET_PF_EMULATE of writes to write-tracked pages.
 */
enum hv_action vcpu_emulate_mem(struct vcpu *v, struct hv_exit *e, uint64_t *gpa);

/* ---- for the simulator and checkers ---- */

/*
 * The hardware's translation of gva under the loaded context, with no TLB
 * and no caches, as a `user` (CPL 3) or supervisor access: what the
 * hardware would find in memory now. Nothing is written (no A/D flag is
 * set), no exit is taken and nothing is counted. False if the context
 * cannot be loaded.
 */
bool vcpu_hw_probe(struct vcpu *v, uint64_t gva, enum access_type type, bool user,
		   struct xlate_result *r);

/* ---- life cycle (vm.c) ---- */

/*
 * A vCPU with a TLB of geometry `tlb`, or - lp_of not NULL - one that runs
 * on lp_of's logical processor and uses its TLB (`tlb` ignored): an L2
 * vCPU on the L1 vCPU that runs it. The TLB is freed with the last vCPU
 * that uses it, whichever is destroyed first.
 */
struct vcpu *vcpu_create(struct vm *vm, unsigned id, const struct cpu *reset_state,
			 const struct tlb_config *tlb, struct vcpu *lp_of);
void vcpu_destroy(struct vcpu *v);

#endif
