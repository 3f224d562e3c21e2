/*
 * hv_pv.c - the L1 hypervisor of paravirtual nested paging (hv_pv.h).
 */
#include "vm/hv_pv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmu/kpop.h"
#include "mmu/tdp.h"

/* The record: a radix tree of PV_LEVELS levels of 512 entries over gfn2. */
#define PV_LEVELS      4u
#define PV_GFN2_BITS   (9u * PV_LEVELS)
#define PV_E_PRESENT   UINT64_C(1)
#define PV_E_PERMS_SH  1u
#define PV_E_ADDR      UINT64_C(0x000ffffffffff000)

struct hv_pv {
	struct vm *vm2, *vm1;
	struct mem_port *port;      /* the L1 port (counted L1 accesses) */
	struct mem_port *view;      /* L1 memory uncounted (teardown, hv_pv_lookup) */
	bool ipi_exits;
	enum cpu_vendor vendor;
	uint64_t root;              /* gpa1 of the record's root node; the guest MMU's holder */
	uint64_t handle;            /* the guest MMU L0 gave (0: none yet) */
	uint64_t loaded;            /* bit i: L2 vCPU i holds a reference on it */
	uint64_t desc[VM_MAX_CPUS]; /* gpa1 of L1 vCPU i's descriptor page (0: none yet) */
	struct hv_pv_stats st;
	const char *error;
	char errbuf[192];
};

static const char *fail(struct hv_pv *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->errbuf, sizeof(p->errbuf), fmt, ap);
	va_end(ap);
	p->error = p->errbuf;
	return p->error;
}

/* KPOP's -errno codes (kpop.h) by name, for messages. */
static const char *kpop_errname(int64_t r)
{
	switch (r) {
	case KPOP_ENOENT: return "ENOENT";
	case KPOP_E2BIG: return "E2BIG";
	case KPOP_EAGAIN: return "EAGAIN";
	case KPOP_ENOMEM: return "ENOMEM";
	case KPOP_EFAULT: return "EFAULT";
	case KPOP_EINVAL: return "EINVAL";
	case KPOP_ENOSPC: return "ENOSPC";
	case KPOP_ENOSYS: return "ENOSYS";
	case KPOP_EOVERFLOW: return "EOVERFLOW";
	default: return "unknown error";
	}
}

static unsigned rec_index(uint64_t gfn2, unsigned level)
{
	return (unsigned)(gfn2 >> (9u * level)) & 511u;
}

/*
 * The gpa1 of gfn2's leaf entry in the record, walking from the root
 * through `port`. With `alloc`, missing inner nodes are allocated (and
 * stay, empty, if what follows fails: they map nothing); without,
 * MEM_OUTSIDE when a node is missing.
 */
static enum mem_status rec_slot(struct hv_pv *p, struct mem_port *port, uint64_t gfn2, bool alloc, uint64_t *slot)
{
	uint64_t node = p->root, e, child;
	enum mem_status s;

	for (unsigned l = PV_LEVELS - 1; l > 0; l--) {
		uint64_t at = node + 8u * rec_index(gfn2, l);

		if ((s = mem_port_read(port, at, 8, &e)) != MEM_OK)
			return s;
		if (!(e & PV_E_PRESENT)) {
			if (!alloc)
				return MEM_OUTSIDE;
			if ((s = mem_port_alloc_table(port, &child)) != MEM_OK)
				return s;
			if ((s = mem_port_write(port, at, 8, child | PV_E_PRESENT)) != MEM_OK) {
				mem_port_free_table(port, child);
				return s;
			}
			p->st.record_pages++;
			e = child | PV_E_PRESENT;
		}
		node = e & PV_E_ADDR;
	}
	*slot = node + 8u * rec_index(gfn2, 0);
	return MEM_OK;
}

bool hv_pv_lookup(struct hv_pv *p, uint64_t gfn2, uint64_t *gfn1, unsigned *perms)
{
	uint64_t slot, e;

	if (gfn2 >> PV_GFN2_BITS || rec_slot(p, p->view, gfn2, false, &slot) != MEM_OK ||
	    mem_port_read(p->view, slot, 8, &e) != MEM_OK || !(e & PV_E_PRESENT))
		return false;
	*gfn1 = (e & PV_E_ADDR) >> 12;
	*perms = (unsigned)(e >> PV_E_PERMS_SH) & KPOP_PERM_ALL;
	return true;
}

/* L1 vCPU i's descriptor page (allocated on first use). */
static bool desc_page(struct hv_pv *p, unsigned i)
{
	enum mem_status s;

	if (p->desc[i])
		return true;
	if ((s = mem_port_alloc_table(p->port, &p->desc[i])) != MEM_OK) {
		p->desc[i] = 0;
		fail(p, "pv: no L1 page for vCPU %u's hypercall arguments (%s)", i, mem_status_name(s));
		return false;
	}
	return true;
}

/* ---- entering L2 ---- */

/* KPOP_HC_MMU_LOAD for L2 vCPU v2, by the L1 vCPU of the same index, before its first entry. */
static bool mmu_load(struct hv_pv *p, struct vcpu *v2)
{
	unsigned i = vcpu_id(v2);
	struct vcpu *v1 = vm_vcpu(p->vm1, i);
	uint64_t ret;

	if (!desc_page(p, i))
		return false;
	if (vcpu_hypercall(v1, KPOP_HC_MMU_LOAD, p->root, 0, &ret) != VCPU_OK) {
		fail(p, "pv: L1 vCPU %u stopped during KPOP_HC_MMU_LOAD: %s", i,
		     vcpu_error(v1) ? vcpu_error(v1) : "a fault");
		return false;
	}
	if ((int64_t)ret < 0) {
		fail(p, "pv: L0 refused KPOP_HC_MMU_LOAD for L2 vCPU %u: %s (%lld)", i, kpop_errname((int64_t)ret),
		     (long long)ret);
		return false;
	}
	p->loaded |= UINT64_C(1) << i;
	if (p->handle && ret != p->handle) {
		fail(p, "pv: L0 gave L2 vCPU %u handle %#llx for the MMU it calls %#llx", i, (unsigned long long)ret,
		     (unsigned long long)p->handle);
		return false;
	}
	p->handle = ret;
	return true;
}

static bool pv_prepare(void *hv, struct vcpu *v2, struct hv_hw *hw)
{
	struct hv_pv *p = hv;

	memset(hw, 0, sizeof(*hw));
	if (!(p->loaded & (UINT64_C(1) << vcpu_id(v2))) && !mmu_load(p, v2))
		return false;
	hw->cfg.cpu = *vcpu_cpu(v2);
	hw->cfg.mem = hostmem_port(vm_hostmem(p->vm2));
	/* the PV contract: VMCS12's EPT pointer / VMCB12's nCR3 holds the KPOP handle */
	if (p->vendor == CPU_AMD) {
		hw->cfg.nested = NESTED_NPT;
		hw->cfg.ncr3 = p->handle;
	} else {
		hw->cfg.nested = NESTED_EPT;
		hw->cfg.eptp = p->handle;
	}
	hw->vpid = 1;
	hw->intercepts = p->ipi_exits ? HV_I_IPI : 0;
	return true;
}

/* ---- the fault path ---- */

/* A store to L2 memory that drops writes to read-only slots (ROM), as hv_tdp's. */
static enum mem_status rom_store(void *ctx, uint64_t gpa, unsigned size, uint64_t val)
{
	enum mem_status s = guestmem_write(ctx, gpa, size, val);

	return s == MEM_READONLY ? MEM_OK : s;
}

static enum hv_action dead(struct hv_exit *e, const char *why)
{
	e->error = why;
	return HV_DEAD;
}

/* Writes the one-descriptor argument block of KPOP_HC_MAP into L1 vCPU i's page. */
static enum mem_status write_desc(struct hv_pv *p, unsigned i, uint64_t gfn2, uint64_t gfn1, unsigned perms)
{
	const uint64_t words[4] = { p->handle | (uint64_t)perms << 32, gfn2, gfn1, 1 };
	enum mem_status s = MEM_OK;

	for (unsigned w = 0; w < 4 && s == MEM_OK; w++)
		s = mem_port_write(p->port, p->desc[i] + 8u * w, 8, words[w]);
	return s;
}

static enum hv_action pv_fault(struct hv_pv *p, struct vcpu *v2, struct hv_exit *e)
{
	unsigned i = vcpu_id(v2);
	struct vcpu *v1 = vm_vcpu(p->vm1, i);
	struct mmu_fault f;
	struct gfn_info info;
	uint64_t gfn2, gfn1, slot, leaf, ret;
	unsigned perms;
	enum mem_status s;
	int rc;

	if (!tdp_fault_from_exit(&f, &e->xlate))
		return dead(e, "pv: a nested-paging exit without its exit information");
	p->st.faults++;
	gfn2 = f.gpa >> 12;
	if (gfn2 >> PV_GFN2_BITS)
		return dead(e, fail(p, "pv: L2 gpa %#llx beyond the record (48 bits)", (unsigned long long)f.gpa));
	if (!desc_page(p, i))
		return dead(e, p->error);
	/* 1. the record */
	if ((s = rec_slot(p, p->port, gfn2, true, &slot)) != MEM_OK || (s = mem_port_read(p->port, slot, 8, &leaf)) != MEM_OK)
		return dead(e, fail(p, "pv: L1 cannot reach its record of gfn2 %#llx (%s)", (unsigned long long)gfn2,
				    mem_status_name(s)));
	if (leaf & PV_E_PRESENT) {
		/* recorded: L0 lost it (an L1 slot change) or the access needs a right L1 did not give */
		gfn1 = (leaf & PV_E_ADDR) >> 12;
		perms = (unsigned)(leaf >> PV_E_PERMS_SH) & KPOP_PERM_ALL;
	} else {
		/* 2. the backing: vm2's slots allocate it from L1's frames on first touch */
		rc = memslots_gfn_to_hfn(vm_memslots(p->vm2), gfn2, &gfn1, &info);
		if (rc == MEMSLOT_MMIO)
			return dead(e, fail(p, "pv: L2 access to MMIO gfn2 %#llx (no device model)", (unsigned long long)gfn2));
		if (rc != MEMSLOT_OK)
			return dead(e, fail(p, "pv: gfn2 %#llx: %s", (unsigned long long)gfn2, memslot_strerror(rc)));
		perms = KPOP_PERM_R | KPOP_PERM_X | (info.slot.flags & MEMSLOT_F_READONLY ? 0u : KPOP_PERM_W);
	}
	/* 3. a write the record does not allow: a read-only slot, emulated (the write dropped) */
	if (f.access == ACCESS_WRITE && !(perms & KPOP_PERM_W)) {
		p->st.emulated++;
		return vcpu_emulate_at(v2, e, f.gpa, rom_store, vm_guestmem(p->vm2));
	}
	/* 4. tell L0 */
	if ((s = write_desc(p, i, gfn2, gfn1, perms)) != MEM_OK)
		return dead(e, fail(p, "pv: L1 cannot write the KPOP_HC_MAP arguments (%s)", mem_status_name(s)));
	if (vcpu_hypercall(v1, KPOP_HC_MAP, p->desc[i], 1, &ret) != VCPU_OK)
		return dead(e, fail(p, "pv: L1 vCPU %u stopped during KPOP_HC_MAP: %s", i,
				    vcpu_error(v1) ? vcpu_error(v1) : "a fault"));
	if ((int64_t)ret < 0)
		return dead(e, fail(p, "pv: L0 refused KPOP_HC_MAP of gfn2 %#llx -> gfn1 %#llx: %s (%lld)",
				    (unsigned long long)gfn2, (unsigned long long)gfn1, kpop_errname((int64_t)ret),
				    (long long)ret));
	p->st.maps++;
	/* 5. recorded once L0 accepted it */
	if (!(leaf & PV_E_PRESENT)) {
		leaf = (gfn1 << 12) | (uint64_t)perms << PV_E_PERMS_SH | PV_E_PRESENT;
		if ((s = mem_port_write(p->port, slot, 8, leaf)) != MEM_OK)
			return dead(e, fail(p, "pv: L1 cannot record gfn2 %#llx (%s)", (unsigned long long)gfn2,
					    mem_status_name(s)));
		p->st.recorded++;
	}
	return HV_RESUME;
}

static enum hv_action pv_exit(void *hv, struct vcpu *v2, struct hv_exit *e)
{
	struct hv_pv *p = hv;

	switch (e->reason) {
	case HV_EXIT_EPT_VIOLATION:
	case HV_EXIT_NPF:
		return pv_fault(p, v2, e);
	case HV_EXIT_IPI:
		return HV_DONE;
	case HV_EXIT_HYPERCALL:
		e->hc_ret = HV_HC_ENOSYS;
		return HV_DONE;
	default:
		return dead(e, "pv: exit the L1 hypervisor did not ask for");
	}
}

static const struct hv_ops pv_ops = {
	.name = "pv",
	.prepare = pv_prepare,
	.handle_exit = pv_exit,
};

const struct hv_ops *hv_pv_ops(void)
{
	return &pv_ops;
}

/* ---- life cycle ---- */

struct hv_pv *hv_pv_create(struct vm *vm2, const struct hv_pv_config *c, const char **err)
{
	struct hv_pv *p = calloc(1, sizeof(*p));
	enum mem_status s;

	*err = NULL;
	if (!p) {
		*err = "out of memory";
		return NULL;
	}
	if (!c->vm1 || !c->view || vm_ncpus(c->vm1) < vm_ncpus(vm2)) {
		free(p);
		*err = "pv: the L1 VM must have a vCPU per L2 vCPU";
		return NULL;
	}
	p->vm2 = vm2;
	p->vm1 = c->vm1;
	p->port = vm_port(vm2);
	p->view = c->view;
	p->ipi_exits = c->ipi_exits;
	p->vendor = vm_config(vm2)->vendor;
	if ((s = mem_port_alloc_table(p->port, &p->root)) != MEM_OK) {
		free(p);
		*err = "pv: no L1 page for the record's root";
		return NULL;
	}
	p->st.record_pages = 1;
	return p;
}

/* Frees the record's nodes below `node` (level > 0: inner), reading uncounted. */
static void rec_free(struct hv_pv *p, uint64_t node, unsigned level)
{
	uint64_t e;

	for (unsigned i = 0; level > 0 && i < 512; i++)
		if (mem_port_read(p->view, node + 8u * i, 8, &e) == MEM_OK && (e & PV_E_PRESENT))
			rec_free(p, e & PV_E_ADDR, level - 1);
	mem_port_free_table(p->port, node);
}

void hv_pv_destroy(struct hv_pv *p)
{
	uint64_t ret;

	if (!p)
		return;
	/* every reference back (the last one frees L0's EPT02); a dead L1 vCPU makes no call */
	for (unsigned i = 0; i < vm_ncpus(p->vm2); i++) {
		struct vcpu *v1 = vm_vcpu(p->vm1, i);

		if (p->loaded & (UINT64_C(1) << i) && !vcpu_error(v1))
			vcpu_hypercall(v1, KPOP_HC_MMU_UNLOAD, p->root, 0, &ret);
		if (p->desc[i])
			mem_port_free_table(p->port, p->desc[i]);
	}
	rec_free(p, p->root, PV_LEVELS - 1);
	free(p);
}

uint64_t hv_pv_handle(const struct hv_pv *p)
{
	return p->handle;
}

uint64_t hv_pv_holder(const struct hv_pv *p)
{
	return p->root;
}

const struct hv_pv_stats *hv_pv_stats(const struct hv_pv *p)
{
	return &p->st;
}

const char *hv_pv_error(const struct hv_pv *p)
{
	return p->error;
}
