/*
 * vm.h - a virtual machine: guest RAM as memory slots backed by frames of
 * host memory, its vCPUs (each with its own TLB), its counters, and the
 * hypervisor that runs it (struct hv_ops, vcpu.h) - or none: `native`.
 *
 * Host side (level 0): one hostmem (contents stored only for written
 * pages), one frame allocator, the L0 memory port over them (mem_l0.h:
 * where TDP/shadow tables come from) and the guest's memory slots (guest
 * RAM: one slot, id VM_RAM_SLOT, gfn 0 .. ram/4K, backed on first touch).
 *
 * Native (no hypervisor, hv_native_ops): the guest's tables run on the
 * hardware; guest-physical = host-physical, the hardware's memory being the
 * guest's memory slots (guestmem). Nothing exits. The guest code's counters
 * are at level 0 (it is the OS on the hardware); under a hypervisor at
 * level 1.
 */
#ifndef NESTMMU_VM_VM_H
#define NESTMMU_VM_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/cpu.h"
#include "arch/tlb.h"
#include "mem/frames.h"
#include "mem/guestmem.h"
#include "mem/hostmem.h"
#include "mem/mem_l0.h"
#include "mem/memslot.h"
#include "sim/counters.h"
#include "vm/vcpu.h"

#define VM_RAM_SLOT 0u
#define VM_MAX_CPUS 64u
/* Host frames below this are reserved (firmware): never handed out. */
#define VM_HOST_FIRST_HFN 0x100u

struct vm_config {
	enum cpu_vendor vendor;
	unsigned maxphyaddr;       /* 0: 46 */
	struct cpu_features feat;  /* offered to the guest */
	uint64_t ram_bytes;        /* guest RAM (multiple of 4 KiB, > 0) */
	unsigned ncpus;            /* 1..VM_MAX_CPUS */
	unsigned slot_order;       /* backing order of the RAM slot (0, 9, 18) */
	uint64_t host_bytes;       /* host memory; 0: 2 * ram + 1 GiB (capped by MAXPHYADDR) */
	struct tlb_config tlb;     /* per logical processor (a nested VM's vCPUs use their host's) */
	bool tlb_set;              /* false: tlb_config_default() (la57 from feat) */
};

/* Defaults: Intel, MAXPHYADDR 46, 1 GiB pages, LA57, SMEP/SMAP offered, 1 vCPU, 1 GiB RAM. */
void vm_config_default(struct vm_config *c);

struct vm;

/* NULL and *err set if the configuration is unusable or out of host memory. */
struct vm *vm_create(const struct vm_config *cfg, const char **err);
void vm_destroy(struct vm *vm);

/*
 * A nested VM (L2): its guest-physical memory is managed by a hypervisor
 * that is itself a guest (L1). Its RAM slot maps L2 gfns to frames of
 * L1's guest-physical space, allocated from `frames` (L1 memory reserved
 * for its guests); `port` is the L1 hypervisor's memory port (vm_port);
 * `view` reaches L1's memory without counting (for the guest-memory
 * helpers, emulation and checkers: vm_guestmem); the hardware's memory is
 * still L0's `hostmem` (vm_hostmem). Counters are the parent's. Everything
 * given must outlive the VM. vm_frames/vm_port answer what was given;
 * vm_mem_l0 is L0's (whose table pages the hardware's walks count as
 * nested references).
 */
struct vm_nest_host {
	struct hostmem *hostmem;
	struct mem_l0 *l0;
	struct frames *frames;
	struct mem_port *port;
	struct mem_port *view;
	struct counters *counters;
	/*
	 * The VM whose vCPUs run this VM's (NULL: none): vCPU i uses vCPU i's
	 * TLB (one TLB per logical processor, vcpu.h). It needs at least as
	 * many vCPUs and must outlive none of them: the TLB is freed with
	 * the last vCPU using it.
	 */
	struct vm *lp_host;
};
struct vm *vm_create_nested(const struct vm_config *cfg, const struct vm_nest_host *host, const char **err);

/*
 * Attaches the hypervisor (before any vCPU runs; ops NULL or
 * &hv_native_ops: native). `level`: the counters level of the guest's
 * code: 0 native, 1 under an L0 hypervisor.
 */
void vm_set_hv(struct vm *vm, const struct hv_ops *ops, void *hv, unsigned level);
extern const struct hv_ops hv_native_ops;

const struct vm_config *vm_config(const struct vm *vm);
unsigned vm_ncpus(const struct vm *vm);
struct vcpu *vm_vcpu(struct vm *vm, unsigned i);
unsigned vm_level(const struct vm *vm);
const struct hv_ops *vm_hv_ops(const struct vm *vm);
void *vm_hv(const struct vm *vm);

struct counters *vm_counters(struct vm *vm);
struct hostmem *vm_hostmem(struct vm *vm);
struct frames *vm_frames(struct vm *vm);
struct mem_l0 *vm_mem_l0(struct vm *vm);
/* The managing hypervisor's memory port (level 0: host-physical; a nested VM's: the L1 port). */
struct mem_port *vm_port(struct vm *vm);
struct memslots *vm_memslots(struct vm *vm);
/* The guest's physical memory through the slots and the port (uncounted by the vCPU). */
struct guestmem *vm_guestmem(struct vm *vm);

/*
 * gpa -> hpa as the current configuration backs it (hv_ops.gpa_to_hpa;
 * native: the identity). False if not backed.
 */
bool vm_gpa_to_hpa(struct vm *vm, uint64_t gpa, uint64_t *hpa);

/*
 * A remote TLB flush (KVM's request + kick): every vCPU is made to call
 * prepare() again before it next runs. Returns the mask of every vCPU (bit
 * i = vCPU i), for the hypervisor to record the flush each one now owes.
 */
uint64_t vm_kick_all(struct vm *vm);
/* Clears v's bit in *owed; true if it was set (v owes a flush: do it now). */
bool vm_owed_take(uint64_t *owed, const struct vcpu *v);

/* The reset state of a vCPU: protected mode, paging off, CPL 0. */
void vm_reset_state(const struct vm *vm, struct cpu *cpu);

#endif
