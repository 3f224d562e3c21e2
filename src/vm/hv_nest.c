/*
 * hv_nest.c - L0's hypervisor for an L2 guest (hv_nest.h): the frame every
 * configuration shares (hv_nest_internal.h).
 */
#include "vm/hv_nest_internal.h"

#include <stdlib.h>
#include <string.h>

#include "mem/guestmem.h"

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

/* ---- what configurations share ---- */

struct vcpu *nest_l1_vcpu(struct hv_nest *h, const struct vcpu *v2)
{
	return vm_vcpu(h->vm1, vcpu_id(v2));
}

bool nest_l1_prepare(struct hv_nest *h, struct vcpu *v2, struct hv_hw *hw12)
{
	uint64_t bit = UINT64_C(1) << vcpu_id(v2);

	l1_port_set_vcpu(&h->port, nest_l1_vcpu(h, v2));
	memset(hw12, 0, sizeof(*hw12));
	if (!h->l1_ops->prepare(h->l1, v2, hw12))
		return false;
	nest_vmcs_entry_write(h, v2, hw12);
	if (!(h->launched & bit)) {
		/* L1's VMLAUNCH / VMRUN: an exit to L0 */
		h->launched |= bit;
		h->cnt->exits[CNT_L1][CNT_BY_L0][CNT_EXIT_VMRESUME]++;
	}
	return true;
}

enum hv_action nest_reflect(struct hv_nest *h, struct vcpu *v2, struct hv_exit *e)
{
	enum hv_action a;

	e->reflected = true;
	nest_vmcs_exit_read(h, v2, e);
	l1_port_set_vcpu(&h->port, nest_l1_vcpu(h, v2));
	a = h->l1_ops->handle_exit(h->l1, v2, e);
	nest_vmcs_exit_done(h, v2, a);
	h->cnt->exits[CNT_L1][CNT_BY_L0][CNT_EXIT_VMRESUME]++;
	return a;
}

bool nest_gpa_to_hpa(void *hv, uint64_t gpa2, uint64_t *hpa)
{
	struct hv_nest *h = hv;
	uint64_t gfn1, hfn;

	if (memslots_gfn_peek(vm_memslots(h->vm2), gpa2 >> 12, &gfn1, NULL) != MEMSLOT_OK ||
	    memslots_gfn_peek(vm_memslots(h->vm1), gfn1, &hfn, NULL) != MEMSLOT_OK)
		return false;
	*hpa = (hfn << 12) | (gpa2 & 0xfff);
	return true;
}

/* ---- life cycle ---- */

static const struct nest_kind_ops *kind_ops(enum nest_kind k)
{
	switch (k) {
	case NEST_TDP_ON_TDP:
		return &nest_tdp_on_tdp_ops;
	case NEST_PV:
		return &nest_pv_ops;
	case NEST_SHADOW_ON_TDP:
		return &nest_shadow_on_tdp_ops;
	case NEST_SHADOW_ON_SHADOW:
		return &nest_shadow_on_shadow_ops;
	}
	return NULL;
}

struct hv_nest *hv_nest_create(const struct hv_nest_config *c, const struct vm_config *l2cfg, const char **err)
{
	struct hv_nest *h = calloc(1, sizeof(*h));
	const struct vm_config *vc1 = vm_config(c->vm1);
	struct vm_nest_host host;

	*err = NULL;
	if (!h) {
		*err = "out of memory";
		return NULL;
	}
	h->cfg = *c;
	h->vm1 = c->vm1;
	h->cnt = vm_counters(c->vm1);
	h->kind = kind_ops(c->kind);
	if (!h->kind) {
		*err = "nested: unknown configuration";
		goto fail;
	}
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
				      .view = &h->view, .counters = h->cnt, .lp_host = c->vm1 };
	h->vm2 = vm_create_nested(l2cfg, &host, err);
	if (!h->vm2)
		goto fail;
	if (!nest_vmcs_init(h, err))
		goto fail;
	if (!h->kind->init(h, err))
		goto fail;
	vm_set_hv(h->vm2, h->kind->ops, h, 2);
	return h;
fail:
	hv_nest_destroy(h);
	return NULL;
}

void hv_nest_destroy(struct hv_nest *h)
{
	if (!h)
		return;
	if (h->kind)
		h->kind->fini(h);
	nest_vmcs_fini(h);
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

int hv_nest_check(struct hv_nest *h, char *msg, size_t len)
{
	return h->kind->check ? h->kind->check(h, msg, len) : 0;
}

struct shadow_mmu *hv_nest_l1_shadow(struct hv_nest *h)
{
	return h->kind->l1_shadow ? h->kind->l1_shadow(h) : NULL;
}
