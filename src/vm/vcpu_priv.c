/*
 * vcpu_priv.c - privileged operations (MOV CR0/CR3/CR4, WRMSR EFER,
 * INVLPG, INVPCID), IPIs and hypercalls, and the helpers hypervisors use
 * to emulate them (vcpu_set_guest_regs, vcpu_exec_native,
 * vcpu_emulate_mem).
 *
 * An operation the hypervisor does not intercept is executed by the
 * hardware: the new register value is checked as the instruction checks it
 * (#GP otherwise), becomes the guest's and the hardware's value, the PAE
 * PDPTEs are loaded for a CR3/CR0/CR4 change in PAE mode (a bad one: #GP;
 * a nested fault while loading them: an exit, then the instruction is
 * executed again), and the instruction's invalidation is applied with the
 * hardware registers of before (tlb.h). An intercepted one is an exit.
 */
#include "vm/vcpu_internal.h"

#include <string.h>

#include "arch/x86.h"

/* ---- the new registers of an instruction, checked ---- */

/*
 * The guest registers after MOV CRn / WRMSR EFER of `val` (kind: HV_EXIT_CR0,
 * CR3, CR4, EFER) from `cur`. False if the instruction #GPs.
 */
static bool new_regs(const struct cpu *cur, enum hv_exit_reason kind, uint64_t val, struct cpu_regs *out)
{
	struct cpu c = *cur;
	struct cpu_regs *r = &c.regs;
	bool lma = r->efer & EFER_LMA;

	switch (kind) {
	case HV_EXIT_CR3:
		/* Bit 63 is the no-flush bit with CR4.PCIDE = 1, never stored (SDM 4.10.4.1). */
		r->cr3 = (r->cr4 & CR4_PCIDE) ? (val & ~CR3_NOFLUSH) : val;
		break;
	case HV_EXIT_CR0:
		/* SDM MOV CR0: clearing PG with CR4.PCIDE = 1 is #GP. */
		if (!(val & CR0_PG) && (r->cr4 & CR4_PCIDE))
			return false;
		r->cr0 = val;
		break;
	case HV_EXIT_CR4:
		/* SDM MOV CR4: setting PCIDE with CR3[11:0] != 0, changing LA57 in IA-32e mode: #GP. */
		if ((val & CR4_PCIDE) && !(r->cr4 & CR4_PCIDE) && (r->cr3 & CR3_PCID_MASK))
			return false;
		if (lma && ((val ^ r->cr4) & CR4_LA57))
			return false;
		r->cr4 = val;
		break;
	case HV_EXIT_EFER:
		/* WRMSR: LME may not change while paging is on; LMA is the processor's. */
		if ((r->cr0 & CR0_PG) && ((val ^ r->efer) & EFER_LME))
			return false;
		r->efer = (val & ~EFER_LMA) | (r->efer & EFER_LMA);
		break;
	default:
		return false;
	}
	/* SDM 2.2.1: the processor sets LMA when paging is enabled with LME = 1. */
	if ((r->efer & EFER_LME) && (r->cr0 & CR0_PG))
		r->efer |= EFER_LMA;
	else
		r->efer &= ~EFER_LMA;
	if (cpu_regs_invalid(&c))
		return false;
	*out = *r;
	return true;
}

/* ---- what an invalidating instruction flushes, for the counters ---- */

int hv_insn_flush_scope(enum hv_exit_reason kind, const struct cpu_regs *before, uint64_t val,
			unsigned invpcid_type)
{
	switch (kind) {
	case HV_EXIT_CR3:
		if ((before->cr4 & CR4_PCIDE) && (val & CR3_NOFLUSH))
			return -1;
		return CNT_FLUSH_PCID;
	case HV_EXIT_CR4:
		if (((before->cr4 ^ val) & CR4_PGE) || ((before->cr4 & CR4_PCIDE) && !(val & CR4_PCIDE)))
			return CNT_FLUSH_ALL;
		if (((before->cr4 ^ val) & CR4_PAE) || (!(before->cr4 & CR4_SMEP) && (val & CR4_SMEP)))
			return CNT_FLUSH_PCID;
		return -1;
	case HV_EXIT_CR0:
		return ((before->cr0 & CR0_PG) && !(val & CR0_PG)) ? CNT_FLUSH_ALL : -1;
	case HV_EXIT_INVLPG:
		return CNT_FLUSH_ADDR;
	case HV_EXIT_INVPCID:
		switch (invpcid_type) {
		case 0: return CNT_FLUSH_ADDR;
		case 1: return CNT_FLUSH_PCID;
		case 2: return CNT_FLUSH_ALL;
		default: return CNT_FLUSH_ALL_NONGLOBAL;
		}
	default:
		return -1;
	}
}

/*
 * The instruction's effect on the TLB with `hwregs` the processor's
 * registers before it. False: INVPCID #GP (nothing done).
 */
static bool tlb_effect(struct tlb *t, enum hv_exit_reason kind, const struct cpu_regs *hwregs,
		       const struct hv_exit *e, uint64_t hw_val)
{
	switch (kind) {
	case HV_EXIT_CR3:    tlb_mov_cr3(t, hwregs, hw_val); return true;
	case HV_EXIT_CR0:    tlb_mov_cr0(t, hwregs, hw_val); return true;
	case HV_EXIT_CR4:    tlb_mov_cr4(t, hwregs, hw_val); return true;
	case HV_EXIT_INVLPG: tlb_invlpg(t, hwregs, e->value); return true;
	case HV_EXIT_INVPCID:
		return tlb_invpcid(t, hwregs, e->invpcid_type, e->pcid, e->value) == TLB_INSN_OK;
	default:
		return true;
	}
}

static unsigned intercept_bit(enum hv_exit_reason kind)
{
	switch (kind) {
	case HV_EXIT_CR3:     return HV_I_CR3;
	case HV_EXIT_CR0:     return HV_I_CR0;
	case HV_EXIT_CR4:     return HV_I_CR4;
	case HV_EXIT_EFER:    return HV_I_EFER;
	case HV_EXIT_INVLPG:  return HV_I_INVLPG;
	case HV_EXIT_INVPCID: return HV_I_INVPCID;
	default:              return 0;
	}
}

static bool is_reg_write(enum hv_exit_reason kind)
{
	return kind == HV_EXIT_CR0 || kind == HV_EXIT_CR3 || kind == HV_EXIT_CR4 || kind == HV_EXIT_EFER;
}

/* The hardware registers after a non-intercepted register write: the written register follows the guest's. */
static void hw_regs_after(struct cpu_regs *hw, enum hv_exit_reason kind, const struct cpu_regs *g)
{
	switch (kind) {
	case HV_EXIT_CR3: hw->cr3 = g->cr3; break;
	case HV_EXIT_CR0: hw->cr0 = g->cr0; break;
	case HV_EXIT_CR4: hw->cr4 = g->cr4; break;
	default: break;
	}
	hw->efer = (kind == HV_EXIT_EFER) ? g->efer : ((hw->efer & ~EFER_LMA) | (g->efer & EFER_LMA));
}

static enum hv_exit_reason nested_exit_reason(enum xlate_outcome o)
{
	return o == XO_NPF ? HV_EXIT_NPF : o == XO_EPT_MISCONFIG ? HV_EXIT_EPT_MISCONFIG
							 : HV_EXIT_EPT_VIOLATION;
}

/* One privileged operation by the guest. */
static enum vcpu_status priv_op(struct vcpu *v, struct hv_exit *e)
{
	unsigned l = vcpu_level_of(v);

	if (v->dead)
		return VCPU_DEAD;
	v->cnt->instructions[l]++;
	for (unsigned n = 0; n <= VCPU_MAX_EXITS; n++) {
		struct cpu_regs g, before;
		struct hw_config cfg;
		struct hw_mmu m;
		struct xlate_result fail;
		int scope;

		if (!vcpu_load(v))
			return VCPU_DEAD;
		if (v->hw.intercepts & intercept_bit(e->reason)) {
			switch (vcpu_exit(v, e)) {
			case HV_DONE:
			case HV_RESUME:
				return VCPU_OK;
			case HV_INJECT:
				return vcpu_deliver(v, &e->inject);
			case HV_DEAD:
			default:
				return VCPU_DEAD;
			}
		}
		before = v->hw.cfg.cpu.regs;
		if (!is_reg_write(e->reason)) {
			if (!tlb_effect(vcpu_tlb(v), e->reason, &before, e, 0))
				return vcpu_deliver_gp(v);
			v->cnt->flushes[l][hv_insn_flush_scope(e->reason, &before, e->value, e->invpcid_type)]++;
			return VCPU_OK;
		}
		if (!new_regs(&v->guest, e->reason, e->value, &g))
			return vcpu_deliver_gp(v);
		cfg = v->hw.cfg;
		hw_regs_after(&cfg.cpu.regs, e->reason, &g);
		if (!vcpu_init_mmu(v, &cfg, &m, &fail)) {
			struct hv_exit ne;

			if (fail.outcome == XO_VMENTRY_FAIL)
				return vcpu_deliver_gp(v); /* a PDPTE with reserved bits */
			if (fail.outcome != XO_EPT_VIOLATION && fail.outcome != XO_NPF &&
			    fail.outcome != XO_EPT_MISCONFIG)
				return vcpu_die(v, "loading PDPTEs: %s", fail.reason ? fail.reason : "?");
			memset(&ne, 0, sizeof(ne));
			ne.reason = nested_exit_reason(fail.outcome);
			ne.access = ACCESS_READ;
			ne.xlate = fail;
			ne.mem.kind = HV_MEM_TOUCH;
			switch (vcpu_exit(v, &ne)) {
			case HV_RESUME:
			case HV_DONE:
				continue;
			case HV_INJECT:
				return vcpu_deliver(v, &ne.inject);
			case HV_DEAD:
			default:
				return VCPU_DEAD;
			}
		}
		tlb_effect(vcpu_tlb(v), e->reason, &before, e,
			   e->reason == HV_EXIT_CR3 ? e->value : (e->reason == HV_EXIT_CR0 ? g.cr0 : g.cr4));
		scope = hv_insn_flush_scope(e->reason, &before, e->value, 0);
		if (scope >= 0)
			v->cnt->flushes[l][scope]++;
		v->guest.regs = g;
		v->hw.cfg = cfg;
		v->mmu = m;
		return VCPU_OK;
	}
	return vcpu_die(v, "more than %u exits for one %s", VCPU_MAX_EXITS, hv_exit_name(e->reason));
}

static enum vcpu_status priv_simple(struct vcpu *v, enum hv_exit_reason kind, uint64_t val)
{
	struct hv_exit e;

	memset(&e, 0, sizeof(e));
	e.reason = kind;
	e.value = val;
	return priv_op(v, &e);
}

enum vcpu_status vcpu_mov_cr3(struct vcpu *v, uint64_t val)
{
	return priv_simple(v, HV_EXIT_CR3, val);
}

enum vcpu_status vcpu_mov_cr0(struct vcpu *v, uint64_t val)
{
	return priv_simple(v, HV_EXIT_CR0, val);
}

enum vcpu_status vcpu_mov_cr4(struct vcpu *v, uint64_t val)
{
	return priv_simple(v, HV_EXIT_CR4, val);
}

enum vcpu_status vcpu_wrmsr_efer(struct vcpu *v, uint64_t val)
{
	return priv_simple(v, HV_EXIT_EFER, val);
}

enum vcpu_status vcpu_invlpg(struct vcpu *v, uint64_t gva)
{
	return priv_simple(v, HV_EXIT_INVLPG, gva);
}

enum vcpu_status vcpu_invpcid(struct vcpu *v, unsigned type, uint16_t pcid, uint64_t gva)
{
	struct hv_exit e;

	memset(&e, 0, sizeof(e));
	e.reason = HV_EXIT_INVPCID;
	e.value = gva;
	e.invpcid_type = type;
	e.pcid = pcid;
	return priv_op(v, &e);
}

/* ---- IPIs and hypercalls ---- */

/* An exit of a non-memory kind that the hypervisor completes. */
static enum vcpu_status simple_exit(struct vcpu *v, struct hv_exit *e)
{
	if (!vcpu_load(v))
		return VCPU_DEAD;
	switch (vcpu_exit(v, e)) {
	case HV_DONE:
	case HV_RESUME:
		return VCPU_OK;
	case HV_INJECT:
		return vcpu_deliver(v, &e->inject);
	case HV_DEAD:
	default:
		return VCPU_DEAD;
	}
}

enum vcpu_status vcpu_send_ipi(struct vcpu *v, unsigned target)
{
	unsigned l = vcpu_level_of(v);
	struct vcpu *t;
	struct hv_exit e;
	enum vcpu_status s;

	if (v->dead)
		return VCPU_DEAD;
	if (target >= vm_ncpus(v->vm))
		return vcpu_die(v, "IPI to vCPU %u: no such vCPU", target);
	v->cnt->instructions[l]++;
	v->cnt->ipis[l]++;
	if (!vcpu_load(v))
		return VCPU_DEAD;
	if (v->hw.intercepts & HV_I_IPI) {
		memset(&e, 0, sizeof(e));
		e.reason = HV_EXIT_IPI;
		e.target = target;
		s = simple_exit(v, &e);
		if (s != VCPU_OK)
			return s;
	}
	t = vm_vcpu(v->vm, target);
	if (!vcpu_load(t))
		return vcpu_die(v, "IPI to vCPU %u: %s", target, vcpu_error(t));
	if (t->hw.intercepts & HV_I_INTR) {
		memset(&e, 0, sizeof(e));
		e.reason = HV_EXIT_INTR;
		e.target = target;
		s = simple_exit(t, &e);
		if (s == VCPU_DEAD)
			return vcpu_die(v, "IPI to vCPU %u: %s", target, vcpu_error(t));
	}
	return VCPU_OK;
}

enum vcpu_status vcpu_hypercall(struct vcpu *v, unsigned nr, uint64_t a0, uint64_t a1, uint64_t *ret)
{
	unsigned l = vcpu_level_of(v);
	struct hv_exit e;
	enum vcpu_status s;

	if (v->dead)
		return VCPU_DEAD;
	v->cnt->instructions[l]++;
	if (l == 0) {
		*ret = ~UINT64_C(0);
		return VCPU_OK;
	}
	v->cnt->hypercalls[l][nr < CNT_HCALLS ? nr : CNT_HC_OTHER]++;
	memset(&e, 0, sizeof(e));
	e.reason = HV_EXIT_HYPERCALL;
	e.value = nr;
	e.args[0] = a0;
	e.args[1] = a1;
	e.hc_ret = ~UINT64_C(0);
	s = simple_exit(v, &e);
	if (s == VCPU_OK)
		*ret = e.hc_ret;
	return s;
}

/* ---- helpers for hypervisors ---- */

bool vcpu_set_guest_regs(struct vcpu *v, const struct cpu_regs *regs)
{
	struct cpu c = v->guest;

	c.regs = *regs;
	if (cpu_regs_invalid(&c))
		return false;
	v->guest.regs = *regs;
	return true;
}

/* The guest's own view of its tables: guest registers, no nesting, guest memory. */
static bool guest_view(struct vcpu *v, const struct cpu_regs *regs, struct hw_mmu *m, struct xlate_result *fail)
{
	struct hw_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.cpu = v->guest;
	cfg.cpu.regs = *regs;
	cfg.nested = NESTED_NONE;
	cfg.mem = guestmem_pmem(vm_guestmem(v->vm));
	return hw_mmu_init(m, &cfg, fail);
}

enum hv_action vcpu_exec_native(struct vcpu *v, struct hv_exit *e)
{
	struct cpu_regs before = v->guest.regs, g;
	unsigned l = vcpu_level_of(v);
	int scope;

	e->inject = (struct guest_fault){ .kind = XO_GP };
	if (is_reg_write(e->reason)) {
		struct hw_mmu m;
		struct xlate_result fail;

		if (!new_regs(&v->guest, e->reason, e->value, &g) || !guest_view(v, &g, &m, &fail))
			return HV_INJECT;
		tlb_effect(vcpu_tlb(v), e->reason, &before, e,
			   e->reason == HV_EXIT_CR3 ? e->value : (e->reason == HV_EXIT_CR0 ? g.cr0 : g.cr4));
		v->guest.regs = g;
	} else if (e->reason == HV_EXIT_INVLPG || e->reason == HV_EXIT_INVPCID) {
		if (!tlb_effect(vcpu_tlb(v), e->reason, &before, e, 0))
			return HV_INJECT;
	} else {
		e->error = "vcpu_exec_native: not a privileged operation";
		return HV_DEAD;
	}
	scope = hv_insn_flush_scope(e->reason, &before, e->value, e->invpcid_type);
	if (scope >= 0 && l > 0)
		v->cnt->flushes[l - 1][scope]++;
	return HV_DONE;
}

enum hv_action vcpu_commit_priv(struct vcpu *v, struct hv_exit *e)
{
	struct cpu_regs g;

	if (!is_reg_write(e->reason))
		return HV_DONE;
	if (!new_regs(&v->guest, e->reason, e->value, &g)) {
		e->inject = (struct guest_fault){ .kind = XO_GP };
		return HV_INJECT;
	}
	v->guest.regs = g;
	return HV_DONE;
}

enum hv_action vcpu_emulate_at(struct vcpu *v, struct hv_exit *e, uint64_t gpa, hv_store_fn store, void *ctx)
{
	return hv_emulate_on(vm_guestmem(v->vm), e, gpa, store, ctx);
}

enum hv_action hv_emulate_on(struct guestmem *gm, struct hv_exit *e, uint64_t gpa, hv_store_fn store, void *ctx)
{
	struct hv_mem_op *op = &e->mem;
	uint64_t mask = op->size == 4 ? UINT64_C(0xffffffff) : ~UINT64_C(0);
	enum mem_status s = MEM_OK;

	switch (op->kind) {
	case HV_MEM_TOUCH:
		return HV_DONE;
	case HV_MEM_READ:
		s = guestmem_read(gm, gpa, op->size, &op->result);
		break;
	case HV_MEM_WRITE:
		s = store ? store(ctx, gpa, op->size, op->value) : guestmem_write(gm, gpa, op->size, op->value);
		break;
	case HV_MEM_CMPXCHG:
		s = guestmem_read(gm, gpa, op->size, &op->result);
		op->changed = s == MEM_OK && (op->result & mask) != (op->expected & mask);
		if (s == MEM_OK && !op->changed)
			s = store ? store(ctx, gpa, op->size, op->value)
				  : guestmem_write(gm, gpa, op->size, op->value);
		break;
	}
	if (s != MEM_OK) {
		e->error = "emulation: guest memory access failed";
		return HV_DEAD;
	}
	return HV_DONE;
}

enum hv_action vcpu_emulate_mem(struct vcpu *v, struct hv_exit *e, uint64_t *gpa)
{
	unsigned hl = vcpu_level_of(v) ? vcpu_level_of(v) - 1 : 0;
	struct hw_mmu m;
	struct xlate_result r;

	if (!guest_view(v, &v->guest.regs, &m, &r)) {
		e->error = "emulation: the guest's PDPTEs cannot be loaded";
		return HV_DEAD;
	}
	hw_translate(&m, e->gva, e->access, false, &r, NULL);
	v->cnt->sw_walks[hl]++;
	v->cnt->sw_walk_refs[hl] += r.refs;
	v->cnt->sw_ad_writes[hl] += r.ad_writes;
	if (r.outcome == XO_PAGE_FAULT || r.outcome == XO_GP) {
		e->inject = (struct guest_fault){ .kind = r.outcome, .error_code = r.error_code, .cr2 = r.cr2 };
		return HV_INJECT;
	}
	if (r.outcome != XO_OK) {
		e->error = "emulation: the guest's tables lie outside its memory";
		return HV_DEAD;
	}
	if (gpa)
		*gpa = r.gpa;
	return vcpu_emulate_at(v, e, r.gpa, NULL, NULL);
}
