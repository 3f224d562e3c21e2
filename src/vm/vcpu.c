/*
 * vcpu.c - the vCPU's run loop for memory operations: load the hardware
 * context the hypervisor programmed, access through the TLB, take exits,
 * deliver faults, move data; and the accounting of every access into the
 * VM's counters (see vcpu.h for the rules).
 */
#include "vm/vcpu_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86.h"

/* ---- names ---- */

const char *hv_exit_name(enum hv_exit_reason r)
{
	static const char *const names[HV_EXIT_COUNT] = {
		"ept_violation", "ept_misconfig", "npf", "pf", "cr3_write", "cr0_write",
		"cr4_write", "efer_write", "invlpg", "invpcid", "ipi", "interrupt", "hypercall",
	};

	return (unsigned)r < HV_EXIT_COUNT ? names[r] : "?";
}

int hv_exit_cnt_reason(enum hv_exit_reason r)
{
	switch (r) {
	case HV_EXIT_EPT_VIOLATION: return CNT_EXIT_EPT_VIOLATION;
	case HV_EXIT_EPT_MISCONFIG: return CNT_EXIT_EPT_MISCONFIG;
	case HV_EXIT_NPF:           return CNT_EXIT_NPF;
	case HV_EXIT_PF:            return CNT_EXIT_PF;
	case HV_EXIT_CR3:           return CNT_EXIT_CR3_WRITE;
	case HV_EXIT_CR0:
	case HV_EXIT_CR4:           return CNT_EXIT_CR0_CR4_WRITE;
	case HV_EXIT_INVLPG:        return CNT_EXIT_INVLPG;
	case HV_EXIT_INVPCID:       return CNT_EXIT_INVPCID;
	case HV_EXIT_IPI:
	case HV_EXIT_INTR:          return CNT_EXIT_INTERRUPT;
	case HV_EXIT_HYPERCALL:     return CNT_EXIT_HYPERCALL;
	case HV_EXIT_EFER:
	case HV_EXIT_COUNT:
	default:                    return CNT_EXIT_OTHER;
	}
}

const char *hv_action_name(enum hv_action a)
{
	switch (a) {
	case HV_RESUME: return "resume";
	case HV_INJECT: return "inject";
	case HV_DONE:   return "done";
	case HV_DEAD:   return "dead";
	}
	return "?";
}

enum hv_action hv_action_from_ret_pf(enum ret_pf r)
{
	switch (r) {
	case RET_PF_FIXED:
	case RET_PF_RETRY:
	case RET_PF_SPURIOUS: return HV_RESUME;
	case RET_PF_INJECT:   return HV_INJECT;
	case RET_PF_EMULATE:  return HV_DONE;
	case RET_PF_ERROR:    return HV_DEAD;
	}
	return HV_DEAD;
}

void hv_exit_to_mmu_fault(const struct hv_exit *e, struct mmu_fault *f)
{
	memset(f, 0, sizeof(*f));
	f->access = e->access;
	f->user = e->user;
	f->gva = e->gva;
	switch (e->reason) {
	case HV_EXIT_PF:
		f->kind = MMU_FAULT_GUEST;
		f->error_code = e->xlate.error_code;
		f->gva = e->xlate.cr2;
		break;
	case HV_EXIT_NPF:
		f->kind = MMU_FAULT_TDP;
		f->gpa = e->xlate.exitinfo2;
		f->exitinfo1 = e->xlate.exitinfo1;
		break;
	default:
		f->kind = MMU_FAULT_TDP;
		f->gpa = e->xlate.fault_gpa;
		f->exit_qual = e->xlate.qualification;
		break;
	}
	f->gfn = f->gpa >> PAGE_SHIFT_4K;
}

/* ---- state ---- */

unsigned vcpu_level_of(const struct vcpu *v)
{
	return vm_level(v->vm);
}

enum vcpu_status vcpu_die(struct vcpu *v, const char *fmt, ...)
{
	va_list ap;

	if (!v->dead) {
		va_start(ap, fmt);
		vsnprintf(v->errbuf, sizeof(v->errbuf), fmt, ap);
		va_end(ap);
		v->error = v->errbuf;
		v->dead = true;
	}
	return VCPU_DEAD;
}

const char *vcpu_error(const struct vcpu *v)
{
	return v->dead ? v->error : NULL;
}

const struct cpu *vcpu_cpu(const struct vcpu *v)
{
	return &v->guest;
}

unsigned vcpu_id(const struct vcpu *v)
{
	return v->id;
}

struct vm *vcpu_vm(const struct vcpu *v)
{
	return v->vm;
}

/*
 * Makes v's context the one the logical processor's TLB holds: its
 * VPID/ASID and the tags of its loaded registers. Nothing is flushed: the
 * entries of the vCPU that used the TLB before stay, told apart by their
 * tags (Vol. 3C 29.4.2 with VPIDs; APM 15.16 with ASIDs).
 */
static struct tlb *lp_switch(struct vcpu *v)
{
	struct vcpu_lp *lp = v->lp;

	if (lp->cur != v) {
		lp->cur = v;
		tlb_set_vpid(lp->tlb, v->hw.vpid);
		if (v->loaded)
			(void)tlb_bind(lp->tlb, &v->mmu);
	}
	return lp->tlb;
}

struct tlb *vcpu_tlb(struct vcpu *v)
{
	return lp_switch(v);
}

const struct hv_hw *vcpu_hw(const struct vcpu *v)
{
	return &v->hw;
}

void vcpu_request_reload(struct vcpu *v)
{
	v->need_prepare = true;
}

const struct guest_fault *vcpu_last_fault(const struct vcpu *v)
{
	return &v->last_fault;
}

void vcpu_set_cpl(struct vcpu *v, unsigned cpl)
{
	v->guest.regs.cpl = cpl;
	v->hw.cfg.cpu.regs.cpl = cpl;
	v->mmu.cfg.cpu.regs.cpl = cpl;
}

void vcpu_retire(struct vcpu *v, uint64_t instructions)
{
	v->cnt->instructions[vcpu_level_of(v)] += instructions;
}

void vcpu_note(struct vcpu *v, enum vcpu_note_kind what)
{
	static const enum cnt_pt kind[CNT_LEVELS] = { CNT_PT_GUEST_L0, CNT_PT_GUEST_L1, CNT_PT_GUEST_L2 };
	unsigned l = vcpu_level_of(v);

	switch (what) {
	case VCPU_NOTE_PT_ALLOC: counters_pt_alloc(v->cnt, kind[l]); break;
	case VCPU_NOTE_PT_FREE:  counters_pt_free(v->cnt, kind[l]); break;
	case VCPU_NOTE_SHOOTDOWN: v->cnt->shootdowns[l]++; break;
	}
}

/* ---- the hardware's memory, counting references to nested tables ---- */

static bool is_nested_table(struct vcpu *v, uint64_t hpa)
{
	return mem_l0_is_table(vm_mem_l0(v->vm), hpa >> PAGE_SHIFT_4K);
}

static enum pmem_status wrap_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
	struct vcpu *v = ctx;

	if (v->counting && is_nested_table(v, pa))
		v->nested_reads++;
	return pmem_read(&v->hw.cfg.mem, pa, size, val);
}

static enum pmem_status wrap_cmpxchg(void *ctx, uint64_t pa, unsigned size, uint64_t expected,
				     uint64_t desired)
{
	struct vcpu *v = ctx;
	enum pmem_status s = pmem_cmpxchg(&v->hw.cfg.mem, pa, size, expected, desired);

	if (v->counting && s == PMEM_OK && is_nested_table(v, pa))
		v->nested_ad++;
	return s;
}

static const struct pmem_ops wrap_ops = { .read = wrap_read, .cmpxchg = wrap_cmpxchg };

bool vcpu_init_mmu(struct vcpu *v, const struct hw_config *cfg, struct hw_mmu *out,
		   struct xlate_result *fail)
{
	struct hw_config c = *cfg;
	struct hw_mmu m;

	if (c.nested != NESTED_NONE)
		c.mem = (struct pmem){ .ops = &wrap_ops, .ctx = v };
	if (!hw_mmu_init(&m, &c, fail))
		return false;
	*out = m;
	return true;
}

bool vcpu_flush_guest_context(struct vcpu *v, const struct hv_hw *hw, unsigned level)
{
	struct tlb *t = vcpu_tlb(v);
	bool amd = v->guest.vendor == CPU_AMD;

	if (hw->flush_vpid) {
		if (amd)
			tlb_svm_tlb_control(t, 3, hw->vpid);
		else if (tlb_invvpid(t, 1, hw->vpid, 0) != TLB_INSN_OK)
			return false;
		v->cnt->flushes[level][CNT_FLUSH_VPID]++;
	}
	for (unsigned i = 0; i < hw->flush_naddr && i < HV_FLUSH_ADDRS; i++) {
		if (amd)
			tlb_invlpga(t, hw->flush_addr[i], hw->vpid);
		else if (tlb_invvpid(t, 0, hw->vpid, hw->flush_addr[i]) != TLB_INSN_OK)
			return false;
		v->cnt->flushes[level][CNT_FLUSH_ADDR]++;
	}
	return true;
}

bool vcpu_load(struct vcpu *v)
{
	const struct hv_ops *ops = vm_hv_ops(v->vm);
	struct xlate_result fail;
	struct hv_hw hw;
	const char *why;
	unsigned hl = vcpu_level_of(v) ? vcpu_level_of(v) - 1 : 0;

	if (v->dead)
		return false;
	if (v->loaded && !v->need_prepare)
		return true;
	memset(&hw, 0, sizeof(hw));
	if (!ops->prepare(vm_hv(v->vm), v, &hw)) {
		vcpu_die(v, "%s: cannot prepare the hardware context", ops->name);
		return false;
	}
	why = hw_config_invalid(&hw.cfg);
	if (why) {
		vcpu_die(v, "%s: VM entry with an invalid state: %s", ops->name, why);
		return false;
	}
	v->hw = hw;
	v->need_prepare = false;
	/* VM entry: the new VPID/ASID (the tags of the registers are bound at the next access) */
	v->lp->cur = v;
	tlb_set_vpid(v->lp->tlb, hw.vpid);
	if (hw.flush_tdp) {
		if (hw.cfg.nested == NESTED_EPT) {
			tlb_invept(v->lp->tlb, 1, hw.cfg.eptp);
			v->cnt->flushes[hl][CNT_FLUSH_EPT_CTX]++;
		} else {
			tlb_svm_tlb_control(v->lp->tlb, 3, hw.vpid);
			v->cnt->flushes[hl][CNT_FLUSH_VPID]++;
		}
	}
	if (!vcpu_flush_guest_context(v, &hw, hl)) {
		vcpu_die(v, "%s: a TLB invalidation of VPID/ASID 0 or of a non-canonical address", ops->name);
		return false;
	}
	if (!vcpu_init_mmu(v, &v->hw.cfg, &v->mmu, &fail)) {
		vcpu_die(v, "%s: VM entry failed: %s (%s)", ops->name, xlate_outcome_name(fail.outcome),
			 fail.reason ? fail.reason : "nested fault while loading PDPTEs");
		return false;
	}
	v->loaded = true;
	return true;
}

/* ---- exits and faults ---- */

enum hv_action vcpu_exit(struct vcpu *v, struct hv_exit *e)
{
	const struct hv_ops *ops = vm_hv_ops(v->vm);
	unsigned l = vcpu_level_of(v);
	enum hv_action a;

	if (l == 0 || !ops->handle_exit) {
		e->error = "an exit without a hypervisor";
		return HV_DEAD;
	}
	/* VM exit and entry with "enable VPID" = 0 flush VPID 0 (Vol. 3C 29.4.3.1). */
	if (v->hw.vpid == 0 && v->guest.vendor == CPU_INTEL) {
		tlb_vmx_transition_novpid(vcpu_tlb(v));
		v->cnt->flushes[l - 1][CNT_FLUSH_VPID]++;
	}
	e->error = NULL;
	e->reflected = false;
	a = ops->handle_exit(vm_hv(v->vm), v, e);
	v->cnt->exits[l][e->reflected ? CNT_REFLECTED : CNT_BY_L0][hv_exit_cnt_reason(e->reason)]++;
	v->need_prepare = true;
	if (a == HV_DEAD)
		vcpu_die(v, "%s: %s exit: %s", ops->name, hv_exit_name(e->reason),
			 e->error ? e->error : "the hypervisor stopped the VM");
	return a;
}

enum vcpu_status vcpu_deliver(struct vcpu *v, const struct guest_fault *f)
{
	v->last_fault = *f;
	if (f->kind == XO_PAGE_FAULT)
		v->cnt->guest_pf[vcpu_level_of(v)]++;
	return VCPU_FAULT;
}

enum vcpu_status vcpu_deliver_gp(struct vcpu *v)
{
	struct guest_fault f = { .kind = XO_GP };

	return vcpu_deliver(v, &f);
}

/* ---- accounting of tlb_access ---- */

/*
 * The TLB's statistics are taken before and after each access and what
 * they grew by is added to the counters at the level of the vCPU that
 * made the access: the TLB may be shared with the vCPU of another level
 * (struct vcpu_lp), whose accesses are counted at its own level. The
 * paging-structure caches and the nested TLB are looked up only during
 * walks, so their sums are compared only after an access that walked.
 */
struct tlb_snap {
	uint64_t hit[CNT_TLBS], miss[CNT_TLBS];
	uint64_t walks, refs, ad;
};

static void psc_sum(const struct tlb_counts *c, uint64_t *hit, uint64_t *miss)
{
	*hit = *miss = 0;
	for (unsigned l = 2; l <= PT_MAX_LEVELS; l++) {
		*hit += c[l].hits;
		*miss += c[l].misses;
	}
}

static void tlb_snap(const struct tlb_stats *st, struct tlb_snap *s, bool walk_caches)
{
	s->hit[CNT_TLB_TLB] = st->tlb.hits;
	s->miss[CNT_TLB_TLB] = st->tlb.misses;
	s->walks = st->walks;
	s->refs = st->walk_refs;
	s->ad = st->ad_writes;
	if (!walk_caches)
		return;
	psc_sum(st->psc, &s->hit[CNT_TLB_PSC], &s->miss[CNT_TLB_PSC]);
	psc_sum(st->npsc, &s->hit[CNT_TLB_NPSC], &s->miss[CNT_TLB_NPSC]);
	s->hit[CNT_TLB_NTLB] = st->ntlb.hits;
	s->miss[CNT_TLB_NTLB] = st->ntlb.misses;
}

static void tlb_account(struct vcpu *v, const struct tlb_snap *before, const struct tlb_stats *st)
{
	struct counters *c = v->cnt;
	unsigned l = vcpu_level_of(v);
	struct tlb_snap now;
	uint64_t refs, ad;

	tlb_snap(st, &now, st->walks != before->walks);
	c->tlb_hits[l][CNT_TLB_TLB] += now.hit[CNT_TLB_TLB] - before->hit[CNT_TLB_TLB];
	c->tlb_misses[l][CNT_TLB_TLB] += now.miss[CNT_TLB_TLB] - before->miss[CNT_TLB_TLB];
	if (now.walks == before->walks)
		return;
	for (unsigned i = CNT_TLB_PSC; i < CNT_TLBS; i++) {
		c->tlb_hits[l][i] += now.hit[i] - before->hit[i];
		c->tlb_misses[l][i] += now.miss[i] - before->miss[i];
	}
	c->walks[l] += now.walks - before->walks;
	refs = now.refs - before->refs;
	ad = now.ad - before->ad;
	c->walk_refs[l][CNT_DIM_NESTED] += v->nested_reads;
	c->walk_refs[l][CNT_DIM_GUEST] += refs - v->nested_reads;
	c->ad_writes[l][CNT_DIM_NESTED] += v->nested_ad;
	c->ad_writes[l][CNT_DIM_GUEST] += ad - v->nested_ad;
}

/* tlb_access under the loaded context (made the TLB's current one), counted. */
static void access_once(struct vcpu *v, uint64_t gva, enum access_type type, struct xlate_result *r)
{
	struct tlb *t = lp_switch(v);
	const struct tlb_stats *st = tlb_get_stats(t);
	struct tlb_snap before;

	tlb_snap(st, &before, true);
	v->nested_reads = v->nested_ad = 0;
	v->counting = true;
	tlb_access(t, &v->mmu, gva, type, false, r);
	v->counting = false;
	tlb_account(v, &before, st);
}

/* ---- data at a host-physical address ---- */

static enum vcpu_status do_data(struct vcpu *v, uint64_t hpa, struct hv_mem_op *op)
{
	const struct pmem *m = &v->hw.cfg.mem;
	uint64_t old;

	switch (op->kind) {
	case HV_MEM_TOUCH:
		return VCPU_OK;
	case HV_MEM_READ:
		if (pmem_read(m, hpa, op->size, &op->result) != PMEM_OK)
			break;
		return VCPU_OK;
	case HV_MEM_WRITE:
		for (unsigned i = 0; i < 64; i++) {
			enum pmem_status s;

			if (pmem_read(m, hpa, op->size, &old) != PMEM_OK)
				break;
			s = pmem_cmpxchg(m, hpa, op->size, old, op->value);
			if (s == PMEM_OK)
				return VCPU_OK;
			if (s != PMEM_CHANGED)
				break;
		}
		break;
	case HV_MEM_CMPXCHG: {
		enum pmem_status s = pmem_cmpxchg(m, hpa, op->size, op->expected, op->value);

		if (s == PMEM_OK) {
			op->changed = false;
			op->result = op->expected;
			return VCPU_OK;
		}
		if (s == PMEM_CHANGED && pmem_read(m, hpa, op->size, &op->result) == PMEM_OK) {
			op->changed = true;
			return VCPU_OK;
		}
		break;
	}
	}
	return vcpu_die(v, "data access to host-physical %#llx failed", (unsigned long long)hpa);
}

/* ---- one memory operation ---- */

static enum hv_exit_reason memory_exit_reason(enum xlate_outcome o)
{
	switch (o) {
	case XO_EPT_VIOLATION: return HV_EXIT_EPT_VIOLATION;
	case XO_EPT_MISCONFIG: return HV_EXIT_EPT_MISCONFIG;
	case XO_NPF:           return HV_EXIT_NPF;
	default:               return HV_EXIT_PF;
	}
}

static enum vcpu_status mem_op(struct vcpu *v, uint64_t gva, enum access_type type, struct hv_mem_op *op,
			       struct guest_fault *f)
{
	unsigned l = vcpu_level_of(v);
	struct xlate_result r;

	if (v->dead)
		return VCPU_DEAD;
	v->cnt->instructions[l]++;
	v->cnt->mem_accesses[l]++;
	if (op->size && ((op->size != 4 && op->size != 8) || (gva & (op->size - 1))))
		return vcpu_die(v, "misaligned or bad-size access at %#llx", (unsigned long long)gva);
	for (unsigned n = 0; n <= VCPU_MAX_EXITS; n++) {
		struct hv_exit e;
		enum hv_action a;

		if (!vcpu_load(v))
			return VCPU_DEAD;
		access_once(v, gva, type, &r);
		switch (r.outcome) {
		case XO_OK:
			return do_data(v, r.hpa, op);
		case XO_GP: {
			struct guest_fault gf = { .kind = XO_GP };

			if (f)
				*f = gf;
			return vcpu_deliver(v, &gf);
		}
		case XO_PAGE_FAULT:
			if (!(v->hw.intercepts & HV_I_PF)) {
				struct guest_fault gf = { .kind = XO_PAGE_FAULT, .error_code = r.error_code,
							  .cr2 = r.cr2 };

				if (f)
					*f = gf;
				return vcpu_deliver(v, &gf);
			}
			break;
		case XO_EPT_VIOLATION:
		case XO_EPT_MISCONFIG:
		case XO_NPF:
			break;
		case XO_VMENTRY_FAIL:
		case XO_ABORT:
		default:
			return vcpu_die(v, "access to %#llx: %s (%s)", (unsigned long long)gva,
					xlate_outcome_name(r.outcome), r.reason ? r.reason : "?");
		}
		memset(&e, 0, sizeof(e));
		e.reason = memory_exit_reason(r.outcome);
		e.gva = gva;
		e.access = type;
		e.user = v->guest.regs.cpl == 3;
		e.xlate = r;
		e.mem = *op;
		a = vcpu_exit(v, &e);
		switch (a) {
		case HV_RESUME:
			continue;
		case HV_INJECT:
			if (f)
				*f = e.inject;
			return vcpu_deliver(v, &e.inject);
		case HV_DONE:
			*op = e.mem;
			return VCPU_OK;
		case HV_DEAD:
		default:
			return VCPU_DEAD;
		}
	}
	return vcpu_die(v, "more than %u exits for one access to %#llx (last: %s)", VCPU_MAX_EXITS,
			(unsigned long long)gva, xlate_outcome_name(r.outcome));
}

enum vcpu_status vcpu_touch(struct vcpu *v, uint64_t gva, enum access_type type, struct guest_fault *f)
{
	struct hv_mem_op op = { .kind = HV_MEM_TOUCH };

	return mem_op(v, gva, type, &op, f);
}

enum vcpu_status vcpu_read(struct vcpu *v, uint64_t gva, unsigned size, uint64_t *val, struct guest_fault *f)
{
	struct hv_mem_op op = { .kind = HV_MEM_READ, .size = size };
	enum vcpu_status s = mem_op(v, gva, ACCESS_READ, &op, f);

	if (s == VCPU_OK)
		*val = op.result;
	return s;
}

enum vcpu_status vcpu_write(struct vcpu *v, uint64_t gva, unsigned size, uint64_t val, struct guest_fault *f)
{
	struct hv_mem_op op = { .kind = HV_MEM_WRITE, .size = size, .value = val };

	return mem_op(v, gva, ACCESS_WRITE, &op, f);
}

enum vcpu_status vcpu_cmpxchg(struct vcpu *v, uint64_t gva, unsigned size, uint64_t expected,
			      uint64_t desired, bool *changed, struct guest_fault *f)
{
	struct hv_mem_op op = { .kind = HV_MEM_CMPXCHG, .size = size, .value = desired,
				.expected = expected };
	enum vcpu_status s = mem_op(v, gva, ACCESS_WRITE, &op, f);

	if (s == VCPU_OK && changed)
		*changed = op.changed;
	return s;
}

/* ---- checkers ---- */

/* The hardware's memory, read-only: a compare-exchange succeeds without storing. */
static enum pmem_status ro_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
	struct vcpu *v = ctx;

	return pmem_read(&v->hw.cfg.mem, pa, size, val);
}

static enum pmem_status ro_cmpxchg(void *ctx, uint64_t pa, unsigned size, uint64_t expected, uint64_t desired)
{
	struct vcpu *v = ctx;
	uint64_t cur;
	enum pmem_status s = pmem_read(&v->hw.cfg.mem, pa, size, &cur);

	(void)desired;
	if (s != PMEM_OK)
		return s;
	return cur == expected ? PMEM_OK : PMEM_CHANGED;
}

static const struct pmem_ops ro_ops = { .read = ro_read, .cmpxchg = ro_cmpxchg };

bool vcpu_hw_probe(struct vcpu *v, uint64_t gva, enum access_type type, bool user, struct xlate_result *r)
{
	struct hw_mmu m;

	if (!vcpu_load(v))
		return false;
	m = v->mmu;
	m.cfg.mem = (struct pmem){ .ops = &ro_ops, .ctx = v };
	m.cfg.cpu.regs.cpl = user ? 3 : 0;
	m.caches = NULL;
	hw_translate(&m, gva, type, false, r, NULL);
	return true;
}

/* ---- life cycle ---- */

struct vcpu *vcpu_create(struct vm *vm, unsigned id, const struct cpu *reset_state,
			 const struct tlb_config *tlb, struct vcpu *lp_of)
{
	struct vcpu *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	if (lp_of) {
		v->lp = lp_of->lp;
	} else {
		v->lp = calloc(1, sizeof(*v->lp));
		if (v->lp)
			v->lp->tlb = tlb_create(tlb);
		if (!v->lp || !v->lp->tlb) {
			free(v->lp);
			free(v);
			return NULL;
		}
	}
	v->lp->users++;
	v->vm = vm;
	v->id = id;
	v->guest = *reset_state;
	v->cnt = vm_counters(vm);
	v->need_prepare = true;
	return v;
}

void vcpu_destroy(struct vcpu *v)
{
	struct vcpu_lp *lp;

	if (!v)
		return;
	lp = v->lp;
	if (lp->cur == v)
		lp->cur = NULL;
	if (--lp->users == 0) {
		tlb_destroy(lp->tlb);
		free(lp);
	}
	free(v);
}
