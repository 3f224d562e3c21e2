/*
 * hv_nest_pv.c - NEST_PV (hv_nest.h): paravirtual nested paging (seed 003,
 * KPOP). L1 runs L2 with the PV engine (vm/hv_pv.h: a record in L1 memory,
 * mappings told to L0 by hypercalls); L0 keeps one EPT02/NPT02 per guest
 * MMU (mmu/kpop.h), written only from what L1 told it, composed with L1's
 * memory. No EPT12/NPT12, no write protection of L1's tables, no
 * shadowing. docs/nested-pv.md traces one L2 fault.
 *
 * L0's part:
 *   - L1's hypercalls (exits of L1 that L0's hv_tdp for vm1 takes) go to
 *     kpop_hypercall through hv_tdp_set_hypercall; other numbers stay
 *     HV_HC_ENOSYS;
 *   - entering L2: L1's prepare (its VMCS12/VMCB12) names the guest MMU by
 *     its KPOP handle in the EPT pointer / nCR3 field (the PV contract,
 *     hv_pv.h); a handle that names no live MMU of this L1 is a VM-entry
 *     failure (so a hostile L1 reaches no table but its own, whose leaves
 *     kpop only builds from L1's own RAM). L0 programs the hardware from
 *     kpop_hw_program, VPID / ASID NEST_L2_VPID;
 *   - flushes KPOP asks for (a replaced or removed mapping) are owed to
 *     every L2 vCPU (the MMU is shared) and paid at its next entry:
 *     INVEPT single-context of the EPTP02 (Intel) or TLB_CONTROL "flush
 *     this ASID" (AMD), counted at L0;
 *   - L2's EPT violation / #NPF: kpop_page_fault on the vCPU's MMU. Fixed
 *     (a leaf reinstalled from the record) -> L2 resumes; no record or not
 *     the rights -> the exit is reflected to L1 as the hardware gave it
 *     (L1 has no table of its own: nothing to recompute), whose fault path
 *     issues KPOP_HC_MAP; a write to a read-only or tracked L1 page ->
 *     emulated on L1's memory (a write to a read-only slot dropped);
 *   - other exits L1 asked for (IPIs) are reflected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmu/kpop.h"
#include "mmu/tdp.h"
#include "vm/hv_nest_internal.h"
#include "vm/hv_pv.h"

/* L2 gpa width KPOP accepts: the record's and a 4-level EPT02's. */
#define NEST_PV_L2_GPA_BITS 48u
/* Guest MMUs one L1 may hold at once (the PV engine uses one per L2 VM). */
#define NEST_PV_MAX_MMUS 64u

struct nest_pv {
	struct kpop *kp;
	struct hv_pv *l1;             /* = h->l1 */
	uint64_t handle[VM_MAX_CPUS]; /* the MMU L2 vCPU i last entered with (0: none) */
	uint64_t flush_owed;          /* bit i: L2 vCPU i flushes its EPT02 context at its next entry */
};

#define NPV(h) ((struct nest_pv *)(h)->mode)

/*
 * Collects the flushes KPOP asks for: a pending flag on any MMU an L2
 * vCPU runs on is owed to every L2 vCPU (and each is made to prepare
 * again), as hv_tdp_sync_flush does for EPT01. An MMU that died under a
 * vCPU (L1 unloaded it while L2 runs on it: its tables are freed) makes
 * every vCPU prepare again too, where the handle no longer validates: L2
 * never walks freed tables.
 */
static void pv_sync_flush(struct hv_nest *h)
{
	struct nest_pv *n = NPV(h);
	bool kick = false;

	for (unsigned i = 0; i < vm_ncpus(h->vm2); i++) {
		if (!n->handle[i])
			continue;
		if (!kpop_handle_valid(n->kp, n->handle[i])) {
			n->handle[i] = 0;
			kick = true;
		} else if (kpop_flush_take(n->kp, n->handle[i])) {
			kick = true;
		}
	}
	if (kick)
		n->flush_owed |= vm_kick_all(h->vm2);
}

/* ---- L1's hypercalls, at L0 ---- */

static uint64_t pv_hypercall(void *ctx, struct vcpu *v1, unsigned nr, uint64_t a0, uint64_t a1)
{
	struct hv_nest *h = ctx;
	int64_t r;

	(void)v1;
	if (nr < KPOP_HC_MMU_LOAD || nr > KPOP_HC_ZAP_ALL)
		return HV_HC_ENOSYS;
	r = kpop_hypercall(NPV(h)->kp, nr, a0, a1);
	pv_sync_flush(h);
	return (uint64_t)r;
}

/* ---- entering L2 ---- */

static void flush_l2(struct hv_nest *h, struct vcpu *v2, uint64_t handle)
{
	if (vm_config(h->vm1)->vendor == CPU_AMD) {
		tlb_svm_tlb_control(vcpu_tlb(v2), 3, NEST_L2_VPID);
		h->cnt->flushes[CNT_L0][CNT_FLUSH_VPID]++;
	} else {
		tlb_invept(vcpu_tlb(v2), 1, kpop_root_eptp(NPV(h)->kp, handle));
		h->cnt->flushes[CNT_L0][CNT_FLUSH_EPT_CTX]++;
	}
}

static bool pv_nest_prepare(void *hv, struct vcpu *v2, struct hv_hw *hw)
{
	struct hv_nest *h = hv;
	struct nest_pv *n = NPV(h);
	unsigned i = vcpu_id(v2);
	struct hv_hw hw12;
	uint64_t handle;
	bool flush;

	if (!nest_l1_prepare(h, v2, &hw12))
		return false;
	handle = hw12.cfg.nested == NESTED_NPT ? hw12.cfg.ncr3 : hw12.cfg.eptp;
	if (!kpop_handle_valid(n->kp, handle))
		return false; /* VM entry with no guest MMU loaded */
	if (hw12.flush_tdp && hw12.cfg.nested == NESTED_EPT)
		h->cnt->exits[CNT_L1][CNT_BY_L0][CNT_EXIT_INVEPT]++; /* L1 never needs one; emulated all the same */
	n->handle[i] = handle;
	pv_sync_flush(h);
	flush = vm_owed_take(&n->flush_owed, v2) || hw12.flush_tdp;
	*hw = hw12;
	hw->flush_tdp = false;
	hw->cfg.cpu = *vcpu_cpu(v2);
	hw->cfg.mem = hostmem_port(vm_hostmem(h->vm1));
	hw->cfg.ept_caps = (struct ept_caps){ 0 };
	hw->cfg.eptp = hw->cfg.ncr3 = 0;
	if (!kpop_hw_program(n->kp, handle, &hw->cfg))
		return false;
	hw->vpid = NEST_L2_VPID;
	if (flush)
		flush_l2(h, v2, handle);
	return true;
}

/* ---- exits ---- */

/* L0's store for an emulated L2 write into L1 memory: writes to read-only L1 slots dropped. */
static enum mem_status l1_rom_store(void *ctx, uint64_t gpa1, unsigned size, uint64_t val)
{
	enum mem_status s = guestmem_write(ctx, gpa1, size, val);

	return s == MEM_READONLY ? MEM_OK : s;
}

static enum hv_action pv_nest_exit(void *hv, struct vcpu *v2, struct hv_exit *e)
{
	struct hv_nest *h = hv;
	struct nest_pv *n = NPV(h);
	struct mmu_fault f;
	enum ret_pf r;

	switch (e->reason) {
	case HV_EXIT_EPT_VIOLATION:
	case HV_EXIT_NPF:
		if (!tdp_fault_from_exit(&f, &e->xlate)) {
			e->error = "nested PV: a nested-paging exit without its exit information";
			return HV_DEAD;
		}
		r = kpop_page_fault(n->kp, n->handle[vcpu_id(v2)], &f);
		pv_sync_flush(h);
		switch (r) {
		case RET_PF_FIXED:
		case RET_PF_RETRY:
		case RET_PF_SPURIOUS:
			return HV_RESUME;
		case RET_PF_INJECT:
			/* L1 did not map it (or not with these rights): its exit */
			return nest_reflect(h, v2, e);
		case RET_PF_EMULATE:
			return hv_emulate_on(vm_guestmem(h->vm1), e, f.emulate_gpa, l1_rom_store, vm_guestmem(h->vm1));
		case RET_PF_ERROR:
		default:
			e->error = f.error ? f.error : "nested PV: fault not handled";
			return HV_DEAD;
		}
	case HV_EXIT_EPT_MISCONFIG:
		e->error = "nested PV: EPT misconfiguration in L0's own EPT02";
		return HV_DEAD;
	default:
		/* what L1 intercepts (hw12.intercepts): its exit */
		return nest_reflect(h, v2, e);
	}
}

static const struct hv_ops pv_nest_ops = {
	.name = "nested-pv",
	.prepare = pv_nest_prepare,
	.handle_exit = pv_nest_exit,
	.gpa_to_hpa = nest_gpa_to_hpa, /* from the slots: independent of what L1 told KPOP */
};

/* ---- checks ---- */

static int pv_nest_check(struct hv_nest *h, char *msg, size_t len)
{
	return kpop_check(NPV(h)->kp, msg, len);
}

/* ---- life cycle ---- */

static bool pv_nest_init(struct hv_nest *h, const char **err)
{
	const struct hv_nest_config *c = &h->cfg;
	const struct vm_config *vc1 = vm_config(h->vm1);
	struct kpop_config kc;
	struct hv_pv_config pc;
	struct nest_pv *n;

	if (!c->l0) {
		*err = "nested PV: L0 must run L1 with TDP";
		return false;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		*err = "out of memory";
		return false;
	}
	h->mode = n;
	memset(&kc, 0, sizeof(kc));
	kc.kind = vc1->vendor == CPU_AMD ? KPOP_NPT : KPOP_EPT;
	kc.levels = 4;
	kc.ept_ad = vc1->vendor != CPU_AMD;
	kc.maxphyaddr = vc1->maxphyaddr ? vc1->maxphyaddr : 46;
	kc.l2_gpa_bits = NEST_PV_L2_GPA_BITS;
	kc.max_mmus = NEST_PV_MAX_MMUS;
	/* mappings at once: by default as many as L1 has pages (aliases aside, all it can give) */
	kc.max_pages = c->pv_max_pages ? c->pv_max_pages : vc1->ram_bytes >> 12;
	kc.port = vm_port(h->vm1);
	kc.l1_slots = vm_memslots(h->vm1);
	kc.counters = h->cnt;
	n->kp = kpop_create(&kc, err);
	if (!n->kp)
		return false;
	hv_tdp_set_hypercall(c->l0, pv_hypercall, h);
	memset(&pc, 0, sizeof(pc));
	pc.vm1 = h->vm1;
	pc.view = &h->view;
	pc.ipi_exits = c->l1.ipi_exits;
	n->l1 = hv_pv_create(h->vm2, &pc, err);
	if (!n->l1)
		return false;
	h->l1 = n->l1;
	h->l1_ops = hv_pv_ops();
	return true;
}

static void pv_nest_fini(struct hv_nest *h)
{
	struct nest_pv *n = NPV(h);

	if (!n)
		return;
	/* L1 first: its MMU_UNLOAD calls still reach L0's KPOP */
	hv_pv_destroy(n->l1);
	h->l1 = NULL;
	hv_tdp_set_hypercall(h->cfg.l0, NULL, NULL);
	kpop_destroy(n->kp);
	free(n);
	h->mode = NULL;
}

struct kpop *hv_nest_kpop(struct hv_nest *h)
{
	return h->kind == &nest_pv_ops && h->mode ? NPV(h)->kp : NULL;
}

struct hv_pv *hv_nest_pv_l1(struct hv_nest *h)
{
	return h->kind == &nest_pv_ops && h->mode ? NPV(h)->l1 : NULL;
}

const struct nest_kind_ops nest_pv_ops = {
	.init = pv_nest_init,
	.fini = pv_nest_fini,
	.check = pv_nest_check,
	.ops = &pv_nest_ops,
};
