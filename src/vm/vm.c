/*
 * vm.c - a VM: host memory, guest RAM slot, vCPUs, counters, and the
 * native configuration (no hypervisor).
 */
#include "vm/vm.h"

#include <stdlib.h>
#include <string.h>

#include "arch/x86.h"
#include "vm/vcpu_internal.h"

struct vm {
	struct vm_config cfg;
	struct counters own_cnt;
	struct counters *cnt;   /* own_cnt, or the parent's (a nested VM) */
	bool nested;            /* a nested VM: hm/fr/port/view belong to others */
	struct mem_port *port;  /* the managing hypervisor's port */
	struct hostmem *hm;
	struct frames *fr;
	struct mem_l0 *l0;
	struct memslots *ms;
	struct guestmem gm;
	const struct hv_ops *ops;
	void *hv;
	unsigned level;
	unsigned ncpus;
	struct vcpu *cpus[VM_MAX_CPUS];
};

void vm_config_default(struct vm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->vendor = CPU_INTEL;
	c->maxphyaddr = 46;
	c->feat.gbpages = true;
	c->feat.la57 = true;
	c->feat.smep = true;
	c->feat.smap = true;
	c->ram_bytes = UINT64_C(1) << 30;
	c->ncpus = 1;
}

/* ---- native: no hypervisor ---- */

static bool native_prepare(void *hv, struct vcpu *v, struct hv_hw *hw)
{
	struct vm *vm = vcpu_vm(v);

	(void)hv;
	memset(hw, 0, sizeof(*hw));
	hw->cfg.cpu = *vcpu_cpu(v);
	hw->cfg.nested = NESTED_NONE;
	hw->cfg.mem = guestmem_pmem(&vm->gm);
	return true;
}

static enum hv_action native_exit(void *hv, struct vcpu *v, struct hv_exit *e)
{
	(void)hv;
	(void)v;
	e->error = "native: no hypervisor to take an exit";
	return HV_DEAD;
}

static bool native_gpa_to_hpa(void *hv, uint64_t gpa, uint64_t *hpa)
{
	(void)hv;
	*hpa = gpa;
	return true;
}

const struct hv_ops hv_native_ops = {
	.name = "native",
	.prepare = native_prepare,
	.handle_exit = native_exit,
	.gpa_to_hpa = native_gpa_to_hpa,
};

/* ---- life cycle ---- */

void vm_reset_state(const struct vm *vm, struct cpu *cpu)
{
	memset(cpu, 0, sizeof(*cpu));
	cpu->vendor = vm->cfg.vendor;
	cpu->maxphyaddr = vm->cfg.maxphyaddr;
	cpu->feat = vm->cfg.feat;
	cpu->regs.cr0 = CR0_PE;
}

static const char *config_invalid(struct vm_config *c)
{
	if (!c->maxphyaddr)
		c->maxphyaddr = 46;
	if (c->maxphyaddr < 32 || c->maxphyaddr > 52)
		return "maxphyaddr must be 32..52";
	if (!c->ram_bytes || (c->ram_bytes & (PAGE_SIZE_4K - 1)))
		return "guest RAM must be a non-zero multiple of 4 KiB";
	if (c->ncpus < 1 || c->ncpus > VM_MAX_CPUS)
		return "the number of vCPUs must be 1..64";
	if (c->slot_order != 0 && c->slot_order != 9 && c->slot_order != 18)
		return "slot backing order must be 0, 9 or 18";
	if (c->ram_bytes & ((PAGE_SIZE_4K << c->slot_order) - 1))
		return "guest RAM must be a multiple of the slot's backing size";
	if (c->ram_bytes > (UINT64_C(1) << c->maxphyaddr))
		return "guest RAM exceeds MAXPHYADDR";
	if (!c->host_bytes) {
		uint64_t lim = UINT64_C(1) << c->maxphyaddr;

		c->host_bytes = 2 * c->ram_bytes + (UINT64_C(1) << 30);
		if (c->host_bytes > lim)
			c->host_bytes = lim;
	}
	if (c->host_bytes <= (VM_HOST_FIRST_HFN + 1) * PAGE_SIZE_4K)
		return "host memory too small";
	if (!c->tlb_set) {
		tlb_config_default(&c->tlb);
		c->tlb.la57 = c->feat.la57;
	}
	return NULL;
}

/* A zeroed VM holding a checked copy of cfg, with the native hypervisor. NULL with *err. */
static struct vm *vm_alloc(const struct vm_config *cfg, const char **err)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	const char *why;

	*err = NULL;
	if (!vm) {
		*err = "out of memory";
		return NULL;
	}
	vm->cfg = *cfg;
	why = config_invalid(&vm->cfg);
	if (why) {
		*err = why;
		free(vm);
		return NULL;
	}
	vm->ops = &hv_native_ops;
	return vm;
}

/*
 * What every VM has on top of its host side: the guest RAM slot backed by
 * `frames`, guest memory through `guest_port`, the vCPUs. False with *err
 * (the caller destroys the VM).
 */
static bool vm_finish(struct vm *vm, struct frames *frames, struct mem_port *guest_port, struct vm *lp_host,
		      const char **err)
{
	struct cpu reset;

	vm->ms = memslots_create(frames, vm->cfg.maxphyaddr);
	if (!vm->ms) {
		*err = "out of memory";
		return false;
	}
	if (memslots_add(vm->ms, &(struct memslot_desc){ .id = VM_RAM_SLOT, .base_gfn = 0,
						  .npages = vm->cfg.ram_bytes >> 12,
						  .backing_order = vm->cfg.slot_order }) != MEMSLOT_OK) {
		*err = "cannot add the guest RAM slot";
		return false;
	}
	vm->gm.slots = vm->ms;
	vm->gm.port = guest_port;
	vm_reset_state(vm, &reset);
	for (unsigned i = 0; i < vm->cfg.ncpus; i++) {
		vm->cpus[i] = vcpu_create(vm, i, &reset, &vm->cfg.tlb, lp_host ? vm_vcpu(lp_host, i) : NULL);
		if (!vm->cpus[i]) {
			*err = "cannot create a vCPU (TLB geometry or memory)";
			return false;
		}
		vm->ncpus++;
	}
	return true;
}

struct vm *vm_create(const struct vm_config *cfg, const char **err)
{
	struct vm *vm = vm_alloc(cfg, err);

	if (!vm)
		return NULL;
	counters_zero(&vm->own_cnt);
	vm->cnt = &vm->own_cnt;
	vm->hm = hostmem_create(vm->cfg.host_bytes);
	vm->fr = frames_create(VM_HOST_FIRST_HFN, (vm->cfg.host_bytes >> 12) - VM_HOST_FIRST_HFN);
	vm->l0 = (vm->hm && vm->fr) ? mem_l0_create(vm->hm, vm->fr) : NULL;
	if (!vm->l0) {
		*err = "out of memory";
		vm_destroy(vm);
		return NULL;
	}
	vm->port = mem_l0_port(vm->l0);
	if (!vm_finish(vm, vm->fr, vm->port, NULL, err)) {
		vm_destroy(vm);
		return NULL;
	}
	return vm;
}

struct vm *vm_create_nested(const struct vm_config *cfg, const struct vm_nest_host *host, const char **err)
{
	struct vm_config c = *cfg;
	struct vm *vm;

	c.host_bytes = UINT64_C(1) << 30; /* unused: the host is the parent's */
	vm = vm_alloc(&c, err);
	if (!vm)
		return NULL;
	vm->nested = true;
	vm->cnt = host->counters;
	vm->hm = host->hostmem;
	vm->l0 = host->l0;
	vm->fr = host->frames;
	vm->port = host->port;
	if (host->lp_host && vm->cfg.ncpus > vm_ncpus(host->lp_host)) {
		*err = "a nested VM needs a logical processor (a vCPU of its host) per vCPU";
		vm_destroy(vm);
		return NULL;
	}
	if (host->lp_host) { /* what its vCPUs use */
		vm->cfg.tlb = vm_config(host->lp_host)->tlb;
		vm->cfg.tlb_set = true;
	}
	if (!vm_finish(vm, host->frames, host->view, host->lp_host, err)) {
		vm_destroy(vm);
		return NULL;
	}
	return vm;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_destroy(vm->cpus[i]);
	if (vm->ms)
		memslots_destroy(vm->ms);
	if (vm->nested) {
		free(vm);
		return;
	}
	if (vm->l0)
		mem_l0_destroy(vm->l0);
	if (vm->fr)
		frames_destroy(vm->fr);
	if (vm->hm)
		hostmem_destroy(vm->hm);
	free(vm);
}

void vm_set_hv(struct vm *vm, const struct hv_ops *ops, void *hv, unsigned level)
{
	vm->ops = ops ? ops : &hv_native_ops;
	vm->hv = hv;
	vm->level = level < CNT_LEVELS ? level : CNT_LEVELS - 1;
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_request_reload(vm->cpus[i]);
}

/* ---- remote TLB flushes ---- */

uint64_t vm_kick_all(struct vm *vm)
{
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_request_reload(vm->cpus[i]);
	return vm->ncpus >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << vm->ncpus) - 1;
}

bool vm_owed_take(uint64_t *owed, const struct vcpu *v)
{
	uint64_t bit = UINT64_C(1) << vcpu_id(v);

	if (!(*owed & bit))
		return false;
	*owed &= ~bit;
	return true;
}

/* ---- accessors ---- */

const struct vm_config *vm_config(const struct vm *vm) { return &vm->cfg; }
unsigned vm_ncpus(const struct vm *vm) { return vm->ncpus; }
struct vcpu *vm_vcpu(struct vm *vm, unsigned i) { return i < vm->ncpus ? vm->cpus[i] : NULL; }
unsigned vm_level(const struct vm *vm) { return vm->level; }
const struct hv_ops *vm_hv_ops(const struct vm *vm) { return vm->ops; }
void *vm_hv(const struct vm *vm) { return vm->hv; }
struct counters *vm_counters(struct vm *vm) { return vm->cnt; }
struct hostmem *vm_hostmem(struct vm *vm) { return vm->hm; }
struct frames *vm_frames(struct vm *vm) { return vm->fr; }
struct mem_l0 *vm_mem_l0(struct vm *vm) { return vm->l0; }
struct mem_port *vm_port(struct vm *vm) { return vm->port; }
struct memslots *vm_memslots(struct vm *vm) { return vm->ms; }
struct guestmem *vm_guestmem(struct vm *vm) { return &vm->gm; }

bool vm_gpa_to_hpa(struct vm *vm, uint64_t gpa, uint64_t *hpa)
{
	uint64_t hfn;

	if (vm->ops->gpa_to_hpa)
		return vm->ops->gpa_to_hpa(vm->hv, gpa, hpa);
	if (memslots_gfn_peek(vm->ms, gpa >> 12, &hfn, NULL) != MEMSLOT_OK)
		return false;
	*hpa = (hfn << 12) | (gpa & 0xfff);
	return true;
}
