/*
 * hv_tdp.c - the TDP hypervisor (hv_tdp.h).
 */
#include "vm/hv_tdp.h"

#include <stdlib.h>
#include <string.h>

#include "vm/vcpu.h"

struct hv_tdp {
	struct vm *vm;
	struct tdp_mmu *tdp;
	bool ipi_exits;
	hv_store_fn store;
	void *store_ctx;
	uint64_t flush_owed; /* bit i: vCPU i must flush the MMU's translations at entry */
	uint64_t flush_epoch; /* flushes collected so far */
};

void hv_tdp_config_default(struct hv_tdp_config *c)
{
	memset(c, 0, sizeof(*c));
	c->levels = 4;
	c->max_level = 3;
	c->dirty_mode = TDP_DIRTY_WP;
	c->ipi_exits = true;
	c->level = CNT_L0;
}

/*
 * A flush the MMU asked for is owed to every vCPU, and every vCPU is made
 * to go through prepare() before it runs again (KVM's remote TLB flush:
 * a request and a kick), so none keeps using a dropped translation.
 */
void hv_tdp_sync_flush(struct hv_tdp *h)
{
	if (tdp_flush_take(h->tdp)) {
		h->flush_owed |= vm_kick_all(h->vm);
		h->flush_epoch++;
	}
}

uint64_t hv_tdp_flush_epoch(const struct hv_tdp *h)
{
	return h->flush_epoch;
}

bool hv_tdp_owed_take(struct hv_tdp *h, unsigned vcpu)
{
	struct vcpu *v = vm_vcpu(h->vm, vcpu);

	return v && vm_owed_take(&h->flush_owed, v);
}

static bool tdp_prepare(void *hv, struct vcpu *v, struct hv_hw *hw)
{
	struct hv_tdp *h = hv;

	memset(hw, 0, sizeof(*hw));
	hw->cfg.cpu = *vcpu_cpu(v);
	hw->cfg.mem = hostmem_port(vm_hostmem(h->vm));
	tdp_hw_program(h->tdp, &hw->cfg);
	hw->vpid = 1;
	hw->intercepts = h->ipi_exits ? HV_I_IPI : 0;
	hv_tdp_sync_flush(h);
	hw->flush_tdp = vm_owed_take(&h->flush_owed, v);
	return true;
}

/* A store to guest memory that drops writes to read-only slots (ROM). */
static enum mem_status rom_store(void *ctx, uint64_t gpa, unsigned size, uint64_t val)
{
	enum mem_status s = guestmem_write(ctx, gpa, size, val);

	return s == MEM_READONLY ? MEM_OK : s;
}

enum hv_action hv_tdp_fault(struct hv_tdp *h, struct hv_exit *e)
{
	struct mmu_fault f;
	enum ret_pf r;

	if (e->reason == HV_EXIT_EPT_MISCONFIG) {
		e->error = "tdp: EPT misconfiguration in the hypervisor's own tables";
		return HV_DEAD;
	}
	if (!tdp_fault_from_exit(&f, &e->xlate)) {
		e->error = "tdp: a nested-paging exit without its exit information";
		return HV_DEAD;
	}
	r = tdp_page_fault(h->tdp, &f);
	hv_tdp_sync_flush(h);
	switch (r) {
	case RET_PF_FIXED:
	case RET_PF_RETRY:
	case RET_PF_SPURIOUS:
		return HV_RESUME;
	case RET_PF_EMULATE:
		return hv_emulate_on(vm_guestmem(h->vm), e, f.emulate_gpa, h->store, h->store_ctx);
	case RET_PF_ERROR:
		e->error = f.error ? f.error : "tdp: fault not handled";
		return HV_DEAD;
	case RET_PF_INJECT:
	default:
		e->error = "tdp: unexpected fault result";
		return HV_DEAD;
	}
}

static enum hv_action tdp_exit(void *hv, struct vcpu *v, struct hv_exit *e)
{
	struct hv_tdp *h = hv;

	(void)v; /* the faulting vCPU is h's: emulation is on h's VM memory */
	switch (e->reason) {
	case HV_EXIT_EPT_VIOLATION:
	case HV_EXIT_NPF:
	case HV_EXIT_EPT_MISCONFIG:
		return hv_tdp_fault(h, e);
	case HV_EXIT_IPI:
		return HV_DONE;
	case HV_EXIT_HYPERCALL:
		e->hc_ret = HV_HC_ENOSYS;
		return HV_DONE;
	default:
		e->error = "tdp: exit the hypervisor did not ask for";
		return HV_DEAD;
	}
}

static const struct hv_ops tdp_ops = {
	.name = "tdp",
	.prepare = tdp_prepare,
	.handle_exit = tdp_exit,
};

const struct hv_ops *hv_tdp_ops(void)
{
	return &tdp_ops;
}

void hv_tdp_set_store(struct hv_tdp *h, hv_store_fn store, void *ctx)
{
	h->store = store ? store : rom_store;
	h->store_ctx = store ? ctx : vm_guestmem(h->vm);
}

struct hv_tdp *hv_tdp_attach(struct vm *vm, const struct hv_tdp_config *c, const char **err)
{
	struct hv_tdp *h = hv_tdp_create(vm, c, err);

	if (h)
		vm_set_hv(vm, &tdp_ops, h, c->level + 1);
	return h;
}

struct hv_tdp *hv_tdp_create(struct vm *vm, const struct hv_tdp_config *c, const char **err)
{
	const struct vm_config *vc = vm_config(vm);
	struct hv_tdp *h = calloc(1, sizeof(*h));
	struct tdp_config tc = {
		.kind = vc->vendor == CPU_AMD ? TDP_NPT : TDP_EPT,
		.levels = c->levels ? c->levels : 4,
		.max_level = c->max_level ? c->max_level : 3,
		/* EPT A/D when the processor has them (every Intel part since Haswell); NPT always has them */
		.ept_ad = vc->vendor != CPU_AMD,
		.maxphyaddr = vc->maxphyaddr,
		.dirty_mode = c->dirty_mode,
		.port = vm_port(vm),
		.slots = vm_memslots(vm),
		.counters = vm_counters(vm),
		.cnt_level = c->level,
		.cnt_pt = c->level == CNT_L0 ? CNT_PT_EPT01 : CNT_PT_EPT12,
	};

	*err = NULL;
	if (!h) {
		*err = "out of memory";
		return NULL;
	}
	h->vm = vm;
	h->ipi_exits = c->ipi_exits;
	h->store = rom_store;
	h->store_ctx = vm_guestmem(vm);
	h->tdp = tdp_create(&tc, err);
	if (!h->tdp) {
		free(h);
		return NULL;
	}
	return h;
}

void hv_tdp_detach(struct hv_tdp *h)
{
	if (!h)
		return;
	if (vm_hv(h->vm) == h)
		vm_set_hv(h->vm, NULL, NULL, 0);
	tdp_destroy(h->tdp);
	free(h);
}

struct tdp_mmu *hv_tdp_mmu(struct hv_tdp *h)
{
	return h->tdp;
}
