/*
 * hv_nest.h - L0's hypervisor for an L2 guest: the L2 VM's vCPUs exit to
 * L0 first; L0 handles what is its own and reflects the rest to the L1
 * hypervisor, which is the same engine as L0's (vm/hv_tdp.c) running at
 * level 1 over its L1 port (vm/l1_port.h): its tables live in L1 memory
 * and every access it makes is an L1 access through L0's virtualization
 * of L1 (exits at level 1 where L0 traps them).
 *
 * Configurations (issue 4), one file each (hv_nest_<kind>.c, sharing the
 * frame in hv_nest.c through hv_nest_internal.h):
 *   NEST_TDP_ON_TDP  L0 runs L1 with EPT01/NPT01 (hv_tdp at level 0), L1
 *                    runs L2 with EPT12/NPT12 (hv_tdp at level 1), L0
 *                    runs L2 on EPT02 = the shadow of EPT12 composed with
 *                    L1's memory (mmu/nested_tdp.h), EPT12 pages
 *                    write-protected in EPT01.
 *   NEST_SHADOW_ON_TDP  L0 runs L1 with EPT01/NPT01, L1 runs L2 with
 *                    shadow paging (hv_shadow at level 1: SPT12 in L1
 *                    memory), L0 runs L2 on SPT12 under EPT01/NPT01; L2's
 *                    #PF, MOV CRn, INVLPG, ... are reflected to L1
 *                    (hv_nest_shadow.c, docs/nested-shadow-on-tdp.md).
 *   NEST_SHADOW_ON_SHADOW  L0 runs L1 with shadow paging (hv_shadow at
 *                    level 0, SPT01), L1 runs L2 with shadow paging
 *                    (hv_shadow at level 1, SPT12 in L1 memory), L0 runs
 *                    L2 on SPT02 = its shadow of SPT12, in the same shadow
 *                    MMU as SPT01 (hv_nest_sos.c says why), SPT12 pages
 *                    write-protected in SPT01 as any guest table.
 *
 * One L2 exit under TDP on TDP (the other configurations: their files), step by step:
 *  1. the exit is counted at level 2 (by L0, or reflected);
 *  2. EPT violation / #NPF: L0 walks EPT12 (ntdp_page_fault). Allowed:
 *     EPT02 fixed, L2 resumes (handled by L0). Not allowed by EPT12: the
 *     exit L1 must see (exact qualification / EXITINFO1/2, gpa, gla) is
 *     reflected: L1's handler runs (tdp_page_fault on EPT12 through its
 *     port: its reads, writes and table allocations are L1 accesses, each
 *     an L1 TLB lookup and, when L0 traps it, an exit at level 1), then
 *     L1's VMRESUME/VMRUN is an exit at level 1 (vmresume), after which
 *     L0 enters L2 again;
 *  3. any other exit L1 asked for (hw12.intercepts: IPIs) is reflected
 *     the same way.
 * Before every entry to L2, L1's wishes (its prepare: EPTP12, intercepts,
 * VPID) are merged: L0 loads the EPT02 root of the EPTP12 (root cache),
 * L1's INVEPT requests are exits at level 1 that L0 emulates by flushing
 * the EPT02 root's translations, and L0's own pending EPT02 flushes are
 * done (INVEPT single-context per EPTP02 / flush of the ASID).
 *
 * L1 reads the exit information and writes its L2 state through VMCS12
 * (VMREAD/VMWRITE: exits unless VMCS shadowing is on, the default) or
 * VMCB12 (memory accesses): hv_nest_vmcs.c.
 */
#ifndef NESTMMU_VM_HV_NEST_H
#define NESTMMU_VM_HV_NEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/frames.h"
#include "vm/hv_shadow.h"
#include "vm/hv_tdp.h"
#include "vm/vm.h"

enum nest_kind {
	NEST_TDP_ON_TDP,
	NEST_PV,
	NEST_SHADOW_ON_TDP,
	NEST_SHADOW_ON_SHADOW,
};

struct hv_nest_config {
	enum nest_kind kind;
	struct vm *vm1;            /* the L1 VM, run by L0 with `l0` */
	struct hv_tdp *l0;         /* L0's TDP hypervisor of vm1 (TDP on TDP) */
	struct hv_shadow *l0_shadow; /* L0's shadow hypervisor of vm1 (shadow on shadow: extra_vcpus = vm1's vCPUs) */
	uint64_t l1_kva_base;      /* L1's kernel direct map: gpa x at base + x */
	uint64_t l1_first_gfn;     /* L1 memory reserved for the L1 hypervisor and its guest */
	uint64_t l1_npages;
	struct hv_tdp_config l1;   /* the L1 hypervisor's TDP (NEST_TDP_ON_TDP) */
	struct hv_shadow_config l1_shadow; /* the L1 hypervisor's shadow paging (NEST_SHADOW_ON_TDP, NEST_SHADOW_ON_SHADOW) */
	unsigned ept02_max_level;  /* largest EPT02 leaf (1..3) */
	bool no_vmcs_shadowing;    /* Intel: L1's VMREAD/VMWRITE exit (hv_nest_vmcs.c) */
	uint64_t pv_max_pages;     /* NEST_PV: L2 pages L0 maps at once (kpop max_pages; 0: L1's RAM pages) */
};

struct hv_nest;

/* Creates the L2 VM (l2cfg: its RAM, vCPUs = vm1's) and everything above. NULL with *err. */
struct hv_nest *hv_nest_create(const struct hv_nest_config *c, const struct vm_config *l2cfg, const char **err);
void hv_nest_destroy(struct hv_nest *h);
struct vm *hv_nest_l2(struct hv_nest *h);
/*
 * The isolation invariant of the configuration (checking builds: after
 * every guest operation): L2 reaches no host page L1 does not own and
 * every leaf of L0's tables for L2 is the composition of what L1 granted
 * and what L0 gave L1 (shadow on shadow: every SPT02 leaf maps what SPT12
 * composed with L1's memory maps, with no more rights). 0, or -1 with the
 * first violation in msg.
 */
int hv_nest_check(struct hv_nest *h, char *msg, size_t len);

/* NEST_PV: L0's KPOP state and the L1 engine (NULL in other configurations). */
struct kpop;
struct hv_pv;
struct kpop *hv_nest_kpop(struct hv_nest *h);
struct hv_pv *hv_nest_pv_l1(struct hv_nest *h);
/* The L1 hypervisor's shadow MMU (for checkers), NULL if L1 does not use shadow paging. */
struct shadow_mmu *hv_nest_l1_shadow(struct hv_nest *h);

#endif
