/*
 * hv_shadow.c - the shadow-paging hypervisor (hv_shadow.h).
 */
#include "vm/hv_shadow.h"

#include <stdlib.h>
#include <string.h>

#include "arch/x86.h"
#include "vm/vcpu.h"

struct hv_shadow {
	struct vm *vm;
	struct shadow_mmu *s;
	bool ipi_exits;
	enum cnt_level level;
	uint64_t flush_owed;     /* bit i: vCPU i must flush its VPID at entry */
	const struct cpu *guest; /* during an emulated store */
	/* level 1: addresses vCPU i wants invalidated at its next entry (hv_hw.flush_addr) */
	unsigned naddr[SHADOW_MAX_VCPUS];
	uint64_t addr[SHADOW_MAX_VCPUS][HV_FLUSH_ADDRS];
};

void hv_shadow_config_default(struct hv_shadow_config *c)
{
	memset(c, 0, sizeof(*c));
	c->unsync = true;
	c->root_cache = SHADOW_ROOT_CACHE_DEFAULT;
	c->ipi_exits = true;
	c->level = CNT_L0;
}

#define SHADOW_VPID 1u

/* Takes the MMU's pending flag: a remote flush, every vCPU then owes one. */
static void collect_flush(struct hv_shadow *h)
{
	if (shadow_tlb_flush_pending(h->s, true))
		h->flush_owed |= vm_kick_all(h->vm);
}

/*
 * The flushes v owes, for its entry (hv_hw.flush_vpid / flush_addr): the
 * vCPU layer performs them (level 0), or L0 emulates them (level 1).
 */
static void pay_flush(struct hv_shadow *h, struct vcpu *v, struct hv_hw *hw)
{
	unsigned id = vcpu_id(v);

	hw->flush_vpid = vm_owed_take(&h->flush_owed, v);
	if (!hw->flush_vpid) {
		hw->flush_naddr = h->naddr[id];
		memcpy(hw->flush_addr, h->addr[id], sizeof(hw->flush_addr));
	}
	h->naddr[id] = 0;
}

/* Level 1: a whole-context flush of v's guest TLB at its next entry. */
static void want_flush_context(struct hv_shadow *h, struct vcpu *v)
{
	h->flush_owed |= UINT64_C(1) << vcpu_id(v);
}

/*
 * Level 1: the guest TLB's translations of `gva` (every PCID) dropped at
 * v's next entry; a non-canonical address has none (INVLPG is then a NOP,
 * and INVVPID would fail: nothing is asked). Past HV_FLUSH_ADDRS, the
 * whole context instead.
 */
static void want_flush_addr(struct hv_shadow *h, struct vcpu *v, uint64_t gva)
{
	enum paging_mode mode = cpu_paging_mode(&vcpu_cpu(v)->regs);
	unsigned id = vcpu_id(v);

	if ((mode == PAGING_4LEVEL || mode == PAGING_5LEVEL) && !la_is_canonical(gva, mode))
		return;
	if (h->naddr[id] == HV_FLUSH_ADDRS) {
		want_flush_context(h, v);
		return;
	}
	h->addr[id][h->naddr[id]++] = gva;
}

static void select_vcpu(struct hv_shadow *h, const struct vcpu *v)
{
	shadow_select_vcpu(h->s, vcpu_id(v));
}

static bool sh_prepare(void *hv, struct vcpu *v, struct hv_hw *hw)
{
	struct hv_shadow *h = hv;

	select_vcpu(h, v);
	memset(hw, 0, sizeof(*hw));
	if (shadow_hw_cpu(h->s, vcpu_cpu(v), &hw->cfg.cpu))
		return false;
	hw->cfg.nested = NESTED_NONE;
	hw->cfg.mem = hostmem_port(vm_hostmem(h->vm));
	hw->vpid = SHADOW_VPID;
	hw->intercepts = HV_I_CR0 | HV_I_CR3 | HV_I_CR4 | HV_I_EFER | HV_I_INVLPG | HV_I_INVPCID | HV_I_PF |
			 (h->ipi_exits ? HV_I_IPI : 0);
	collect_flush(h);
	pay_flush(h, v, hw);
	return true;
}

static enum mem_status sh_store(void *ctx, uint64_t gpa, unsigned size, uint64_t val)
{
	struct hv_shadow *h = ctx;
	enum mem_status s = shadow_emulate_write(h->s, h->guest, gpa, size, val);

	return s == MEM_READONLY ? MEM_OK : s; /* a write to ROM is dropped */
}

static enum hv_action sh_fault(struct hv_shadow *h, struct vcpu *v, struct hv_exit *e)
{
	struct mmu_fault f;

	hv_exit_to_mmu_fault(e, &f);
	switch (shadow_page_fault(h->s, vcpu_cpu(v), &f)) {
	case RET_PF_FIXED:
	case RET_PF_RETRY:
	case RET_PF_SPURIOUS:
		return HV_RESUME;
	case RET_PF_INJECT:
		e->inject = (struct guest_fault){ .kind = f.inject.outcome, .error_code = f.inject.error_code,
						  .cr2 = f.inject.cr2 };
		return HV_INJECT;
	case RET_PF_EMULATE:
		h->guest = vcpu_cpu(v);
		return vcpu_emulate_at(v, e, f.emulate_gpa, sh_store, h);
	case RET_PF_ERROR:
	default:
		e->error = f.error ? f.error : "shadow: fault not handled";
		return HV_DEAD;
	}
}

/* The hardware registers the shadow MMU gives for the guest's current state. */
static bool hw_regs_now(struct hv_shadow *h, struct vcpu *v, struct cpu_regs *hw, struct hv_exit *e)
{
	if (shadow_hw_regs(h->s, vcpu_cpu(v), hw)) {
		e->error = shadow_error(h->s);
		return false;
	}
	return true;
}

/*
 * MOV CR0/CR3/CR4, WRMSR EFER: commit the guest register, move the shadow
 * MMU to the new state, then apply the instruction's invalidation to the
 * hardware TLB as the hardware would with the hardware registers before
 * and after (tlb.h), counted at the hypervisor's level.
 */
static enum hv_action sh_reg_write(struct hv_shadow *h, struct vcpu *v, struct hv_exit *e)
{
	struct counters *cnt = vm_counters(h->vm);
	struct cpu_regs old_guest = vcpu_cpu(v)->regs, hw_before = vcpu_hw(v)->cfg.cpu.regs, hw_after;
	bool noflush = (old_guest.cr4 & CR4_PCIDE) && (e->value & CR3_NOFLUSH);
	enum hv_action a = vcpu_commit_priv(v, e);
	int rc, scope;

	if (a != HV_DONE)
		return a;
	if (e->reason == HV_EXIT_CR3)
		rc = shadow_new_cr3(h->s, vcpu_cpu(v), !noflush);
	else
		rc = shadow_ctl_changed(h->s, vcpu_cpu(v), &old_guest);
	if (rc) {
		e->error = shadow_error(h->s);
		return HV_DEAD;
	}
	if (!hw_regs_now(h, v, &hw_after, e))
		return HV_DEAD;
	switch (e->reason) {
	case HV_EXIT_CR3:
		scope = noflush ? -1 : CNT_FLUSH_PCID;
		break;
	case HV_EXIT_CR4:
		scope = hv_insn_flush_scope(HV_EXIT_CR4, &hw_before, hw_after.cr4, 0);
		break;
	case HV_EXIT_CR0:
		scope = hv_insn_flush_scope(HV_EXIT_CR0, &hw_before, hw_after.cr0, 0);
		break;
	default:
		scope = -1;
		break;
	}
	if (h->level == CNT_L0) {
		/* on the hardware: the instruction's own invalidation under the hardware registers */
		switch (e->reason) {
		case HV_EXIT_CR3:
			tlb_mov_cr3(vcpu_tlb(v), &hw_before, hw_after.cr3 | (noflush ? CR3_NOFLUSH : 0));
			break;
		case HV_EXIT_CR4:
			tlb_mov_cr4(vcpu_tlb(v), &hw_before, hw_after.cr4);
			break;
		case HV_EXIT_CR0:
			tlb_mov_cr0(vcpu_tlb(v), &hw_before, hw_after.cr0);
			break;
		default:
			break;
		}
		if (scope >= 0)
			cnt->flushes[h->level][scope]++;
	} else if (scope >= 0) {
		want_flush_context(h, v);
	}
	/* A change of the hardware paging mode or root role: nothing cached for the old one may be used. */
	if (((hw_before.cr0 ^ hw_after.cr0) & CR0_PG) || ((hw_before.cr4 ^ hw_after.cr4) & (CR4_PAE | CR4_LA57)))
		h->flush_owed |= UINT64_C(1) << vcpu_id(v);
	collect_flush(h);
	return HV_DONE;
}

/*
 * INVLPG / INVPCID after the shadow MMU's work: the guest TLB's
 * invalidation. Level 0: the instruction executed as the guest would
 * have (vcpu_exec_native, #GP included). Level 1: requested (checked
 * already for INVPCID).
 */
static enum hv_action sh_invalidate(struct hv_shadow *h, struct vcpu *v, struct hv_exit *e)
{
	if (h->level == CNT_L0)
		return vcpu_exec_native(v, e);
	if (e->reason == HV_EXIT_INVLPG || (e->reason == HV_EXIT_INVPCID && e->invpcid_type == 0))
		want_flush_addr(h, v, e->value);
	else
		want_flush_context(h, v);
	return HV_DONE;
}

static enum hv_action sh_exit(void *hv, struct vcpu *v, struct hv_exit *e)
{
	struct hv_shadow *h = hv;
	const struct cpu *guest = vcpu_cpu(v);
	enum hv_action a;

	select_vcpu(h, v);
	switch (e->reason) {
	case HV_EXIT_PF:
		a = sh_fault(h, v, e);
		break;
	case HV_EXIT_CR3:
	case HV_EXIT_CR0:
	case HV_EXIT_CR4:
	case HV_EXIT_EFER:
		a = sh_reg_write(h, v, e);
		break;
	case HV_EXIT_INVLPG:
		shadow_invlpg(h->s, guest, e->value);
		a = sh_invalidate(h, v, e);
		break;
	case HV_EXIT_INVPCID:
		if (h->level != CNT_L0 &&
		    tlb_invpcid_check(&guest->regs, e->invpcid_type, e->pcid, e->value) != TLB_INSN_OK) {
			e->inject = (struct guest_fault){ .kind = XO_GP };
			return HV_INJECT;
		}
		if (e->invpcid_type == 0 && (guest->regs.cr4 & CR4_PCIDE) &&
		    e->pcid == (guest->regs.cr3 & CR3_PCID_MASK))
			shadow_invlpg(h->s, guest, e->value);
		else if (e->invpcid_type <= 3)
			shadow_sync_all(h->s, guest);
		a = sh_invalidate(h, v, e);
		break;
	case HV_EXIT_IPI:
		return HV_DONE;
	case HV_EXIT_HYPERCALL:
		e->hc_ret = HV_HC_ENOSYS;
		return HV_DONE;
	default:
		e->error = "shadow: exit the hypervisor did not ask for";
		return HV_DEAD;
	}
	collect_flush(h);
	return a;
}

static const struct hv_ops sh_ops = {
	.name = "shadow",
	.prepare = sh_prepare,
	.handle_exit = sh_exit,
};

const struct hv_ops *hv_shadow_ops(void)
{
	return &sh_ops;
}

struct hv_shadow *hv_shadow_attach(struct vm *vm, const struct hv_shadow_config *c, const char **err)
{
	struct hv_shadow *h = hv_shadow_create(vm, c, err);

	if (h)
		vm_set_hv(vm, &sh_ops, h, c->level + 1);
	return h;
}

struct hv_shadow *hv_shadow_create(struct vm *vm, const struct hv_shadow_config *c, const char **err)
{
	struct hv_shadow *h = calloc(1, sizeof(*h));
	struct shadow_config sc = {
		.port = vm_port(vm),
		.slots = vm_memslots(vm),
		.hw_maxphyaddr = vm_config(vm)->maxphyaddr,
		.cnt = vm_counters(vm),
		.level = c->level,
		.pt_kind = c->level == CNT_L0 ? CNT_PT_SHADOW_L0 : CNT_PT_SHADOW_L1,
		.max_pages = c->max_pages,
		.unsync = c->unsync,
		.root_cache = c->root_cache,
		.nvcpus = vm_ncpus(vm) + c->extra_vcpus,
	};

	*err = NULL;
	if (!h) {
		*err = "out of memory";
		return NULL;
	}
	if (c->level != CNT_L0 && c->level != CNT_L1) {
		*err = "shadow: a hypervisor runs at level 0 or 1";
		free(h);
		return NULL;
	}
	h->vm = vm;
	h->ipi_exits = c->ipi_exits;
	h->level = c->level;
	h->s = shadow_create(&sc);
	if (!h->s) {
		*err = "cannot create the shadow MMU (configuration or memory)";
		free(h);
		return NULL;
	}
	return h;
}

void hv_shadow_detach(struct hv_shadow *h)
{
	if (!h)
		return;
	if (vm_hv(h->vm) == h)
		vm_set_hv(h->vm, NULL, NULL, 0);
	shadow_destroy(h->s);
	free(h);
}

struct shadow_mmu *hv_shadow_mmu(struct hv_shadow *h)
{
	return h->s;
}
