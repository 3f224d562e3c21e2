/*
 * hv_nest.c - L0's hypervisor for an L2 guest (hv_nest.h).
 */
#include "vm/hv_nest.h"

#include <stdlib.h>
#include <string.h>

#include "mem/guestmem.h"
#include "mmu/nested_tdp.h"
#include "vm/l1_port.h"
#include "vm/vcpu.h"

#define NEST_ROOTS02 4
#define L2_VPID 2u

struct hv_nest {
	struct hv_nest_config cfg;
	struct vm *vm1, *vm2;
	struct counters *cnt;
	struct frames *l1_frames;     /* the reserved L1 memory */
	struct mem_port view;         /* L1 memory seen by L0, uncounted */
	struct l1_port port;          /* the L1 hypervisor's port */
	struct hv_tdp *l1;            /* the L1 hypervisor (level 1) */
	struct ntdp *ntdp;            /* L0's EPT02 */
	uint64_t launched;            /* bit i: L2 vCPU i was entered once (VMLAUNCH done) */
};

/* ---- L1 memory seen by L0 (no vCPU, nothing counted) ---- */

static enum mem_status view_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
	return guestmem_read(ctx, pa, size, val);
}

static enum mem_status view_write(void *ctx, uint64_t pa, unsigned size, uint64_t val)
{
	return guestmem_write(ctx, pa, size, val);
}

static enum mem_status view_cmpxchg(void *ctx, uint64_t pa, unsigned size, uint64_t expected, uint64_t desired,
				    uint64_t *seen)
{
	return guestmem_cmpxchg(ctx, pa, size, expected, desired, seen);
}

static enum mem_status view_no_tables(void *ctx, uint64_t *pa)
{
	(void)ctx;
	(void)pa;
	return MEM_INVALID;
}

static enum mem_status view_no_free(void *ctx, uint64_t pa)
{
	(void)ctx;
	(void)pa;
	return MEM_INVALID;
}

static const struct mem_port_ops view_ops = {
	.read = view_read,
	.write = view_write,
	.cmpxchg = view_cmpxchg,
	.alloc_table = view_no_tables,
	.free_table = view_no_free,
};

/* ---- the emulated store of L1 into its EPT12 (tracked in EPT01) ---- */

static enum mem_status ept12_store(void *ctx, uint64_t gpa1, unsigned size, uint64_t val)
{
	struct hv_nest *h = ctx;
	int rc = ntdp_ept12_write(h->ntdp, gpa1, size, val);

	hv_tdp_sync_flush(h->cfg.l0);
	return rc == NTDP_OK ? MEM_OK : rc == NTDP_ENOMEM ? MEM_NOMEM : MEM_OUTSIDE;
}

/* ---- entering L2 ---- */

static struct vcpu *l1_vcpu_of(struct hv_nest *h, const struct vcpu *v2)
{
	return vm_vcpu(h->vm1, vcpu_id(v2));
}

static void flush_roots02(struct hv_nest *h, struct vcpu *v2, const uint64_t *roots, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (vm_config(h->vm1)->vendor == CPU_AMD) {
			tlb_svm_tlb_control(vcpu_tlb(v2), 3, L2_VPID);
			h->cnt->flushes[CNT_L0][CNT_FLUSH_VPID]++;
			return;
		}
		tlb_invept(vcpu_tlb(v2), 1, roots[i]);
		h->cnt->flushes[CNT_L0][CNT_FLUSH_EPT_CTX]++;
	}
}

static bool nest_prepare(void *hv, struct vcpu *v2, struct hv_hw *hw)
{
	struct hv_nest *h = hv;
	struct hv_hw hw12;
	struct ntdp_root12 r12;
	struct xlate_result fail;
	uint64_t roots[NTDP_MAX_ROOTS];
	unsigned n;
	uint64_t bit = UINT64_C(1) << vcpu_id(v2);

	l1_port_set_vcpu(&h->port, l1_vcpu_of(h, v2));
	memset(&hw12, 0, sizeof(hw12));
	if (!hv_tdp_ops()->prepare(h->l1, v2, &hw12))
		return false;
	if (!(h->launched & bit)) {
		/* L1's VMLAUNCH / VMRUN: an exit to L0 */
		h->launched |= bit;
		h->cnt->exits[CNT_L1][CNT_BY_L0][CNT_EXIT_VMRESUME]++;
	}
	memset(&r12, 0, sizeof(r12));
	r12.eptp12 = hw12.cfg.eptp;
	r12.ncr3 = hw12.cfg.ncr3;
	r12.ncr4 = hw12.cfg.ncr4;
	r12.nefer = hw12.cfg.nefer;
	if (ntdp_load_root(h->ntdp, &r12, &fail) != NTDP_OK)
		return false;
	if (hw12.flush_tdp) {
		/* L1's INVEPT single-context (Intel: an exit); AMD: TLB_CONTROL in VMCB12, applied at VMRUN */
		if (hw12.cfg.nested == NESTED_EPT)
			h->cnt->exits[CNT_L1][CNT_BY_L0][CNT_EXIT_INVEPT]++;
		n = ntdp_invept(h->ntdp, NTDP_INVEPT_SINGLE, hw12.cfg.eptp, roots, NTDP_MAX_ROOTS);
		flush_roots02(h, v2, roots, n);
	}
	n = ntdp_flush_take(h->ntdp, roots, NTDP_MAX_ROOTS);
	flush_roots02(h, v2, roots, n);
	*hw = hw12;
	hw->flush_tdp = false;
	hw->cfg.cpu = *vcpu_cpu(v2);
	hw->cfg.mem = hostmem_port(vm_hostmem(h->vm1));
	hw->cfg.ept_caps = (struct ept_caps){ 0 };
	ntdp_hw_program(h->ntdp, &hw->cfg);
	hw->vpid = L2_VPID;
	return true;
}

/* ---- exits ---- */

/*
 * Reflects an exit to L1: L1's handler runs on L1's vCPU (its memory
 * accesses through the L1 port), then L1 resumes L2 (VMRESUME / VMRUN: an
 * exit at level 1).
 */
static enum hv_action reflect(struct hv_nest *h, struct vcpu *v2, struct hv_exit *e12)
{
	enum hv_action a;

	l1_port_set_vcpu(&h->port, l1_vcpu_of(h, v2));
	a = hv_tdp_ops()->handle_exit(h->l1, v2, e12);
	h->cnt->exits[CNT_L1][CNT_BY_L0][CNT_EXIT_VMRESUME]++;
	return a;
}

static enum hv_action nest_exit(void *hv, struct vcpu *v2, struct hv_exit *e)
{
	struct hv_nest *h = hv;
	struct mmu_fault f;
	struct hv_exit e12;
	enum ret_pf r;

	switch (e->reason) {
	case HV_EXIT_EPT_VIOLATION:
	case HV_EXIT_EPT_MISCONFIG:
	case HV_EXIT_NPF:
		r = ntdp_page_fault(h->ntdp, &e->xlate, &f);
		hv_tdp_sync_flush(h->cfg.l0); /* EPT12 pages it write-protected in EPT01 */
		switch (r) {
		case RET_PF_FIXED:
		case RET_PF_RETRY:
		case RET_PF_SPURIOUS:
			return HV_RESUME;
		case RET_PF_EMULATE:
			/* an L2 access to L1 memory L0 must see: a page holding EPT12, a read-only or MMIO slot */
			return hv_emulate_on(vm_guestmem(h->vm1), e, f.emulate_gpa, ept12_store, h);
		case RET_PF_INJECT:
			e12 = *e;
			e12.xlate = f.inject;
			e12.reason = f.inject.outcome == XO_NPF ? HV_EXIT_NPF
				     : f.inject.outcome == XO_EPT_MISCONFIG ? HV_EXIT_EPT_MISCONFIG
									     : HV_EXIT_EPT_VIOLATION;
			e->reflected = true;
			{
				enum hv_action a = reflect(h, v2, &e12);

				e->mem = e12.mem;
				e->inject = e12.inject;
				e->error = e12.error;
				return a;
			}
		case RET_PF_ERROR:
		default:
			e->error = f.error ? f.error : "nested TDP: fault not handled";
			return HV_DEAD;
		}
	default:
		/* what L1 intercepts (hw12.intercepts): its exit */
		e->reflected = true;
		return reflect(h, v2, e);
	}
}

/* gpa2 -> gpa1 (L1's slots for L2) -> hpa (L0's slots for L1), without allocating. */
static bool nest_gpa_to_hpa(void *hv, uint64_t gpa2, uint64_t *hpa)
{
	struct hv_nest *h = hv;
	uint64_t gfn1, hfn;

	if (memslots_gfn_peek(vm_memslots(h->vm2), gpa2 >> 12, &gfn1, NULL) != MEMSLOT_OK ||
	    memslots_gfn_peek(vm_memslots(h->vm1), gfn1, &hfn, NULL) != MEMSLOT_OK)
		return false;
	*hpa = (hfn << 12) | (gpa2 & 0xfff);
	return true;
}

static const struct hv_ops nest_ops = {
	.name = "nested",
	.prepare = nest_prepare,
	.handle_exit = nest_exit,
	.gpa_to_hpa = nest_gpa_to_hpa,
};

/* ---- life cycle ---- */

struct hv_nest *hv_nest_create(const struct hv_nest_config *c, const struct vm_config *l2cfg, const char **err)
{
	struct hv_nest *h = calloc(1, sizeof(*h));
	const struct vm_config *vc1 = vm_config(c->vm1);
	struct vm_nest_host host;
	struct ntdp_config nc;

	*err = NULL;
	if (!h) {
		*err = "out of memory";
		return NULL;
	}
	h->cfg = *c;
	h->vm1 = c->vm1;
	h->cnt = vm_counters(c->vm1);
	if (l2cfg->ncpus != vm_ncpus(c->vm1) || l2cfg->vendor != vc1->vendor) {
		*err = "nested: L2 must have as many vCPUs as L1 and the same vendor";
		goto fail;
	}
	h->l1_frames = frames_create(c->l1_first_gfn, c->l1_npages);
	if (!h->l1_frames) {
		*err = "out of memory";
		goto fail;
	}
	h->view = (struct mem_port){ .ops = &view_ops, .ctx = vm_guestmem(c->vm1), .level = 1, .name = "l1-view" };
	l1_port_init(&h->port, c->l1_kva_base, vm_vcpu(c->vm1, 0), h->l1_frames, vm_guestmem(c->vm1));
	host = (struct vm_nest_host){ .hostmem = vm_hostmem(c->vm1), .l0 = vm_mem_l0(c->vm1), .frames = h->l1_frames, .port = &h->port.port,
				      .view = &h->view, .counters = h->cnt };
	h->vm2 = vm_create_nested(l2cfg, &host, err);
	if (!h->vm2)
		goto fail;
	h->cfg.l1.level = CNT_L1;
	h->l1 = hv_tdp_create(h->vm2, &h->cfg.l1, err);
	if (!h->l1)
		goto fail;
	memset(&nc, 0, sizeof(nc));
	nc.kind = vc1->vendor == CPU_AMD ? TDP_NPT : TDP_EPT;
	nc.maxphyaddr = vc1->maxphyaddr;
	nc.ept_caps = (struct ept_caps){ .xonly = true, .walk5 = true, .ad = true, .gb1 = true };
	nc.max_level = c->ept02_max_level ? c->ept02_max_level : 3;
	nc.roots = NEST_ROOTS02;
	nc.port = vm_port(c->vm1);
	nc.l1_slots = vm_memslots(c->vm1);
	nc.ept01 = hv_tdp_mmu(c->l0);
	nc.counters = h->cnt;
	h->ntdp = ntdp_create(&nc, err);
	if (!h->ntdp)
		goto fail;
	hv_tdp_set_store(c->l0, ept12_store, h);
	vm_set_hv(h->vm2, &nest_ops, h, 2);
	return h;
fail:
	hv_nest_destroy(h);
	return NULL;
}

void hv_nest_destroy(struct hv_nest *h)
{
	if (!h)
		return;
	/* L1's tables go first: tearing them down may still store into EPT12 */
	if (h->l1)
		hv_tdp_detach(h->l1);
	if (h->ntdp) {
		hv_tdp_set_store(h->cfg.l0, NULL, NULL);
		ntdp_destroy(h->ntdp);
	}
	if (h->vm2)
		vm_destroy(h->vm2);
	if (h->l1_frames)
		frames_destroy(h->l1_frames);
	free(h);
}

struct vm *hv_nest_l2(struct hv_nest *h)
{
	return h->vm2;
}
