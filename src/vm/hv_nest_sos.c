/*
 * hv_nest_sos.c - NEST_SHADOW_ON_SHADOW (hv_nest.h): L0 runs L1 with
 * shadow paging (hv_shadow at level 0: SPT01, gva1 -> hpa), L1 runs L2
 * with shadow paging too (hv_shadow at level 1 over the L1 port: SPT12,
 * gva2 -> gpa1, in L1 memory), and L0 runs L2 on SPT02 (gva2 -> hpa), its
 * shadow of SPT12 composed with its map of L1 memory.
 * docs/nested-shadow-on-shadow.md traces one L2 fault and one L2 MOV CR3.
 *
 * Design: SPT02 lives in the same shadow MMU as SPT01 (KVM's way), not in
 * a second MMU with cross-instance write tracking. Reasons:
 *  - The "guest" SPT02 shadows is L1's hardware state for L2 (hw12:
 *    CR3 = the SPT12 root, the format L1's MMU chose, CR0.WP and EFER.NXE
 *    forced), whose tables are in L1 memory: the guest space is gpa1 and
 *    the memory slots are L1's - exactly those of SPT01's MMU.
 *  - L1 writes SPT12 only through its direct map, i.e. through SPT01
 *    leaves. In one MMU, an SPT12 page shadowed for L2 is a guest table of
 *    that MMU: it is write-protected in every leaf mapping it, SPT01's
 *    included, so L1's store faults (#PF, an exit at level 1), hv_shadow
 *    emulates it with shadow_emulate_write, and that call updates every
 *    shadow page of the gfn - the SPT02 pages with it. Unsync leaf pages,
 *    write flooding, the reverse maps and the zap paths apply to SPT02
 *    unchanged. Two MMUs would need a shadow_track_write per gfn1 that
 *    SPT02 shadows, kept in step with SPT02's page life cycle, and a
 *    callback re-deriving what the first MMU already does.
 *  - No role bit separates L2's pages (KVM has role.guest_mode): a shadow
 *    page is a function of (guest table at gfn, role) and the slots, and
 *    both sides use L1's slots, so equal keys would give equal pages.
 *    In practice they never meet: SPT12 pages are frames of the L1
 *    hypervisor, L1's own tables frames of the L1 OS.
 * The cost is per-vCPU state: the MMU has 2n root sets, L1 vCPU i using
 * set i (hv_shadow) and L2 vCPU i set n + i (here).
 *
 * One L2 exit:
 *  #PF        L0's shadow_page_fault on the L2 set, walking SPT12 as the
 *             guest's tables: fixed -> resume; a fault of SPT12 itself
 *             (RET_PF_INJECT: L1's shadow does not map the access yet or
 *             refuses it) -> the #PF exit L1 asked for (hw12 intercepts
 *             #PF) with the error code and CR2 of that walk, reflected;
 *             else injected into L2; emulate (an L2 write to a frame L0
 *             protects) -> emulated on L1 memory;
 *  other      what L1 intercepts: reflected.
 * Before every entry to L2, L1's prepare gives hw12 (l1_state); L1's
 * own entries into L2 (its first VMLAUNCH, the VMRESUME ending each
 * reflection) load hw12's CR3 into the L2 root set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86.h"
#include "vm/hv_nest_internal.h"
#include "vm/hv_shadow.h"

struct sos_vcpu {
	struct cpu hw12;       /* L1's hardware state for L2 (its VMCS12/VMCB12 guest state) */
	unsigned intercepts12; /* what L1 intercepts (HV_I_*) */
	bool loaded;           /* hw12 was loaded into the L2 root set once */
};

struct sos {
	struct shadow_mmu *s;  /* L0's shadow MMU: SPT01 and SPT02 */
	unsigned n;            /* vCPUs of L1 (= of L2) */
	uint64_t flush_owed;   /* bit i: L2 vCPU i flushes VPID02 at its next entry */
	char why[200];         /* the isolation check's message */
	struct sos_vcpu *v;    /* n of them */
};

#define SOS(h) ((struct sos *)(h)->mode)

static void select_l2(struct sos *x, const struct vcpu *v2)
{
	shadow_select_vcpu(x->s, x->n + vcpu_id(v2));
}

/*
 * After any work on the shared MMU (L0's for L2, or L1's stores emulated
 * by hv_shadow): an L2 set whose entries lost rights owes its vCPU a flush
 * of VPID02 and makes it prepare again; the L1 vCPUs prepare again too,
 * where hv_shadow finds their own pending flush (the pages are shared).
 */
static void collect_flushes(struct hv_nest *h)
{
	struct sos *x = SOS(h);
	unsigned saved = shadow_selected_vcpu(x->s);
	bool any = false;

	for (unsigned i = 0; i < x->n; i++) {
		shadow_select_vcpu(x->s, x->n + i);
		if (shadow_tlb_flush_pending(x->s, true)) {
			x->flush_owed |= UINT64_C(1) << i;
			vcpu_request_reload(vm_vcpu(h->vm2, i));
			any = true;
		}
	}
	shadow_select_vcpu(x->s, saved);
	if (any)
		(void)vm_kick_all(h->vm1);
}

/* hw12 as it stands now: the L2 registers that are the guest's own (CPL, RFLAGS, PKRU) follow L2. */
static const struct cpu *cpu12(struct sos_vcpu *sv, struct vcpu *v2)
{
	const struct cpu_regs *r2 = &vcpu_cpu(v2)->regs;

	sv->hw12.regs.cpl = r2->cpl;
	sv->hw12.regs.rflags = r2->rflags;
	sv->hw12.regs.pkru = r2->pkru;
	return &sv->hw12;
}

/* ---- the emulated L2 store into L1 memory L0 protects ---- */

struct sos_store {
	struct sos *x;
	const struct cpu *guest;
};

static enum mem_status spt02_store(void *ctx, uint64_t gpa1, unsigned size, uint64_t val)
{
	struct sos_store *st = ctx;
	enum mem_status s = shadow_emulate_write(st->x->s, st->guest, gpa1, size, val);

	return s == MEM_READONLY ? MEM_OK : s; /* a write to ROM is dropped */
}

/* ---- entering L2 ---- */

#define L1_PAGING_INTERCEPTS (HV_I_CR0 | HV_I_CR3 | HV_I_CR4 | HV_I_EFER)

/*
 * L1's invalidations for L2 (hw12.flush_vpid / flush_addr: Intel INVVPID
 * single-context / individual-address, exits of L1; AMD TLB_CONTROL in
 * VMCB12, no exit, and INVLPGA, an exit), emulated by L0 on the L2 set
 * and VPID02: a whole-context flush syncs every unsync page (L1 may have
 * written any SPT12 leaf table L0 left unsync: SPT02 must catch up, as a
 * TLB refilled after the flush would), an address is shadow_invlpg (sync
 * of the page holding the SPT12 entry, the SPT02 leaf dropped in the
 * set's roots); then the hardware invalidation of VPID02, counted at L0.
 * KVM does the same for nested INVVPID under shadow paging
 * (kvm_mmu_invlpg / sync of the roots).
 */
static bool l1_tlb_requests(struct hv_nest *h, struct vcpu *v2, const struct hv_hw *hw12)
{
	struct sos *x = SOS(h);
	const struct cpu *guest = cpu12(&x->v[vcpu_id(v2)], v2);
	uint64_t *exits = h->cnt->exits[CNT_L1][CNT_BY_L0];
	struct hv_hw req;

	memset(&req, 0, sizeof(req));
	req.vpid = NEST_L2_VPID;
	req.flush_vpid = hw12->flush_vpid;
	req.flush_naddr = hw12->flush_naddr < HV_FLUSH_ADDRS ? hw12->flush_naddr : HV_FLUSH_ADDRS;
	memcpy(req.flush_addr, hw12->flush_addr, sizeof(req.flush_addr));
	if (!req.flush_vpid && !req.flush_naddr)
		return true;
	if (vm_config(h->vm1)->vendor == CPU_AMD)
		exits[CNT_EXIT_INVLPGA] += req.flush_naddr; /* TLB_CONTROL rides on VMRUN */
	else
		exits[CNT_EXIT_INVVPID] += req.flush_naddr + (req.flush_vpid ? 1 : 0);
	if (req.flush_vpid)
		shadow_sync_all(x->s, guest);
	for (unsigned i = 0; i < req.flush_naddr; i++)
		shadow_invlpg(x->s, guest, req.flush_addr[i]);
	return vcpu_flush_guest_context(v2, &req, CNT_L0);
}

/*
 * L1's state for L2 (its prepare: hw12); `entered`: L1 has just entered
 * L2 (the VMRESUME / VMRUN ending a reflection), which loads hw12's CR3
 * as VM entry does (the first VMLAUNCH too): the root cache lookup
 * (KVM's nested_vmx_load_cr3 -> kvm_mmu_new_pgd) and, for PAE, the PDPTE
 * registers read again from L1's PDPT (SDM 27.3.2.4, VM entry without
 * EPT; APM 15.5: VMRUN loads CR3 likewise). No TLB flush: with VPIDs a
 * VM entry flushes nothing (SDM 28.3.3.1); L1 asks for flushes itself.
 */
static bool l1_state(struct hv_nest *h, struct vcpu *v2, struct hv_hw *hw12, bool entered)
{
	struct sos *x = SOS(h);
	struct sos_vcpu *sv = &x->v[vcpu_id(v2)];

	if (!nest_l1_prepare(h, v2, hw12))
		return false;
	if (hw12->cfg.nested != NESTED_NONE || (hw12->intercepts & L1_PAGING_INTERCEPTS) != L1_PAGING_INTERCEPTS) {
		/* not a shadow-paging L1: L0 would have to emulate L2's paging registers itself */
		return false;
	}
	select_l2(x, v2);
	sv->hw12 = hw12->cfg.cpu;
	sv->intercepts12 = hw12->intercepts;
	if (!sv->loaded || entered) {
		if (shadow_new_cr3(x->s, &sv->hw12, false))
			return false;
		sv->loaded = true;
	}
	return l1_tlb_requests(h, v2, hw12);
}

static bool sos_prepare(void *hv, struct vcpu *v2, struct hv_hw *hw)
{
	struct hv_nest *h = hv;
	struct sos *x = SOS(h);
	struct sos_vcpu *sv = &x->v[vcpu_id(v2)];
	struct hv_hw hw12;

	if (!l1_state(h, v2, &hw12, false))
		return false;
	memset(hw, 0, sizeof(*hw));
	if (shadow_hw_cpu(x->s, cpu12(sv, v2), &hw->cfg.cpu))
		return false;
	hw->cfg.nested = NESTED_NONE;
	hw->cfg.mem = hostmem_port(vm_hostmem(h->vm1));
	hw->vpid = NEST_L2_VPID;
	hw->intercepts = hw12.intercepts | HV_I_PF;
	/* L1's flush requests were L0's to emulate (l1_state): none is left for this entry */
	collect_flushes(h);
	if (vm_owed_take(&x->flush_owed, v2)) {
		tlb_invvpid(vcpu_tlb(v2), 1, NEST_L2_VPID, 0);
		h->cnt->flushes[CNT_L0][CNT_FLUSH_VPID]++;
	}
	return true;
}

/* ---- exits ---- */

/* Reflects e to L1; L1's VMRESUME / VMRUN that ends it is an entry (l1_state). */
static enum hv_action reflect(struct hv_nest *h, struct vcpu *v2, struct hv_exit *e)
{
	enum hv_action a = nest_reflect(h, v2, e);
	struct hv_hw hw12;

	if (a != HV_DEAD && !l1_state(h, v2, &hw12, true)) {
		e->error = "shadow on shadow: L1's entry into L2 failed";
		return HV_DEAD;
	}
	return a;
}

static enum hv_action sos_fault(struct hv_nest *h, struct vcpu *v2, struct hv_exit *e)
{
	struct sos *x = SOS(h);
	struct sos_vcpu *sv = &x->v[vcpu_id(v2)];
	const struct cpu *guest = cpu12(sv, v2);
	struct sos_store st = { .x = x, .guest = guest };
	struct mmu_fault f;
	struct hv_exit e12;
	enum hv_action a;

	hv_exit_to_mmu_fault(e, &f);
	switch (shadow_page_fault(x->s, guest, &f)) {
	case RET_PF_FIXED:
	case RET_PF_RETRY:
	case RET_PF_SPURIOUS:
		return HV_RESUME;
	case RET_PF_INJECT:
		if (!(sv->intercepts12 & HV_I_PF) || f.inject.outcome != XO_PAGE_FAULT) {
			/* L1 does not take #PF: the hardware delivers it to L2 */
			e->inject = (struct guest_fault){ .kind = f.inject.outcome, .error_code = f.inject.error_code,
							  .cr2 = f.inject.cr2 };
			return HV_INJECT;
		}
		/* the #PF the hardware raises walking SPT12 is L1's exit (its exception bitmap) */
		e12 = *e;
		e12.xlate = f.inject;
		e->reflected = true;
		a = reflect(h, v2, &e12);
		e->mem = e12.mem;
		e->inject = e12.inject;
		e->error = e12.error;
		return a;
	case RET_PF_EMULATE:
		/* an L2 write to an L1 frame L0 protects (an L1 table mapped into L2, a read-only slot) */
		return hv_emulate_on(vm_guestmem(h->vm1), e, f.emulate_gpa, spt02_store, &st);
	case RET_PF_ERROR:
	default:
		e->error = f.error ? f.error : "shadow on shadow: fault not handled";
		return HV_DEAD;
	}
}

static enum hv_action sos_exit(void *hv, struct vcpu *v2, struct hv_exit *e)
{
	struct hv_nest *h = hv;
	struct sos *x = SOS(h);
	enum hv_action a;

	select_l2(x, v2);
	if (e->reason == HV_EXIT_PF)
		a = sos_fault(h, v2, e);
	else
		a = reflect(h, v2, e); /* what L1 intercepts (hw12 intercepts) */
	collect_flushes(h);
	return a;
}

static const struct hv_ops sos_ops = {
	.name = "nested-shadow-on-shadow",
	.prepare = sos_prepare,
	.handle_exit = sos_exit,
	.gpa_to_hpa = nest_gpa_to_hpa,
};

/* ---- the isolation check ---- */

#define SOS_ADDR GENMASK64(51, 12)

struct walk12 {
	uint64_t gpa1;  /* the frame SPT12 maps, with the page offset */
	bool w, u, x;   /* rights over the whole SPT12 path */
};

/* Reads one entry of L1 memory (SPT12) without counting anything. */
static bool rd1(struct hv_nest *h, uint64_t gpa1, uint64_t *e)
{
	return guestmem_read(vm_guestmem(h->vm1), gpa1, 8, e) == MEM_OK;
}

/*
 * An independent walk of SPT12 for gva2 in hw12's format (PAE or IA-32e:
 * those L1's shadow MMU runs L2 with), from L1 memory: SDM 4.4.2 / 4.5.4
 * - R/W and U/S ANDed over the levels, XD ORed (CR0.WP = 1 and EFER.NXE =
 * 1 in hw12). False if not present.
 */
static bool walk_spt12(struct hv_nest *h, const struct cpu *c12, uint64_t gva2, struct walk12 *w)
{
	const struct cpu_regs *r = &c12->regs;
	unsigned level;
	uint64_t table, e;

	w->w = w->u = w->x = true;
	if (r->efer & EFER_LMA) {
		level = (r->cr4 & CR4_LA57) ? 5 : 4;
		table = r->cr3 & SOS_ADDR;
	} else {
		if (!rd1(h, (r->cr3 & GENMASK64(31, 5)) + 8 * ((gva2 >> 30) & 3), &e) || !(e & PTE_P))
			return false;
		level = 2;
		table = e & SOS_ADDR;
	}
	for (;; level--) {
		unsigned shift = 12 + 9 * (level - 1);

		if (!rd1(h, table + 8 * ((gva2 >> shift) & 511), &e) || !(e & PTE_P))
			return false;
		w->w &= !!(e & PTE_RW);
		w->u &= !!(e & PTE_US);
		w->x &= !(e & PTE_XD);
		if (level == 1 || (e & PTE_PS)) {
			uint64_t size = UINT64_C(1) << shift;

			w->gpa1 = (e & SOS_ADDR & ~(size - 1)) | (gva2 & (size - 1));
			return true;
		}
		table = e & SOS_ADDR;
	}
}

struct check02 {
	struct hv_nest *h;
	const struct cpu *c12;
	struct hostmem *hm;
	const char *why;
	char *buf;
	size_t len;
};

static void check_leaf(struct check02 *k, uint64_t gva2, uint64_t e02, uint64_t size)
{
	struct walk12 w;
	uint64_t hfn, hpa02 = (e02 & SOS_ADDR & ~(size - 1)) | (gva2 & (size - 1));

	if (!walk_spt12(k->h, k->c12, gva2, &w)) {
		snprintf(k->buf, k->len, "SPT02 maps gva2 %#llx, SPT12 does not",
			 (unsigned long long)gva2);
	} else if (memslots_gfn_peek(vm_memslots(k->h->vm1), w.gpa1 >> 12, &hfn, NULL) != MEMSLOT_OK ||
		   ((hfn << 12) | (w.gpa1 & 0xfff)) != hpa02) {
		snprintf(k->buf, k->len, "SPT02 maps gva2 %#llx to hpa %#llx, SPT12 to gpa1 %#llx (another frame)",
			 (unsigned long long)gva2, (unsigned long long)hpa02, (unsigned long long)w.gpa1);
	} else if (((e02 & PTE_RW) && !w.w) || ((e02 & PTE_US) && !w.u) || (!(e02 & PTE_XD) && !w.x)) {
		snprintf(k->buf, k->len, "SPT02 grants gva2 %#llx more than SPT12 (%s%s%s)",
			 (unsigned long long)gva2, (e02 & PTE_RW) && !w.w ? "W" : "", (e02 & PTE_US) && !w.u ? "U" : "",
			 !(e02 & PTE_XD) && !w.x ? "X" : "");
	} else {
		return;
	}
	k->why = k->buf;
}

/* Every leaf of one SPT02 table (host memory), shadow entries' rights being those of the leaf. */
static void walk_spt02(struct check02 *k, uint64_t table, unsigned level, uint64_t va, unsigned top)
{
	struct shadow_mmu *s = SOS(k->h)->s;

	if (level == 1 && shadow_table_unsync(s, table))
		return; /* L1 writes it without trapping; SPT02 follows at L1's next TLB flush, as a TLB may */
	for (unsigned i = 0; i < 512 && !k->why; i++) {
		unsigned shift = 12 + 9 * (level - 1);
		uint64_t e, a = va | ((uint64_t)i << shift);

		if (hostmem_read64(k->hm, table + 8 * i, &e) || !(e & PTE_P))
			continue;
		if (level == top && top >= 4 && (a >> (12 + 9 * top - 1)) & 1)
			a |= ~((UINT64_C(1) << (12 + 9 * top)) - 1); /* canonical */
		if (level == 1 || (e & PTE_PS))
			check_leaf(k, a, e, UINT64_C(1) << shift);
		else
			walk_spt02(k, e & SOS_ADDR, level - 1, a, top);
	}
}

static const char *sos_check(struct hv_nest *h)
{
	struct sos *x = SOS(h);
	struct check02 k;

	for (unsigned i = 0; i < x->n; i++) {
		uint64_t root, e;
		bool pae;

		if (!x->v[i].loaded || !shadow_root_peek(x->s, x->n + i, &root, &pae))
			continue;
		k = (struct check02){ .h = h, .c12 = &x->v[i].hw12, .hm = vm_hostmem(h->vm1), .buf = x->why,
				     .len = sizeof(x->why) };
		if (!pae) {
			unsigned top = (x->v[i].hw12.regs.cr4 & CR4_LA57) ? 5 : 4;

			walk_spt02(&k, root, top, 0, top);
		} else {
			for (unsigned j = 0; j < 4 && !k.why; j++)
				if (!hostmem_read64(k.hm, root + 8 * j, &e) && (e & PTE_P))
					walk_spt02(&k, e & SOS_ADDR, 2, (uint64_t)j << 30, 2);
		}
		if (k.why)
			return k.why;
	}
	return NULL;
}

static int sos_check_msg(struct hv_nest *h, char *msg, size_t len)
{
	const char *why = sos_check(h);

	if (!why)
		return 0;
	snprintf(msg, len, "%s", why);
	return -1;
}

/* ---- life cycle ---- */

static bool sos_init(struct hv_nest *h, const char **err)
{
	const struct hv_nest_config *c = &h->cfg;
	struct hv_shadow_config l1 = c->l1_shadow;
	unsigned n = vm_ncpus(h->vm1);
	struct sos *x;

	if (!c->l0_shadow) {
		*err = "shadow on shadow: L0 must run L1 with shadow paging";
		return false;
	}
	x = calloc(1, sizeof(*x));
	if (!x || !(x->v = calloc(n, sizeof(*x->v)))) {
		free(x);
		*err = "out of memory";
		return false;
	}
	x->s = hv_shadow_mmu(c->l0_shadow);
	x->n = n;
	h->mode = x;
	shadow_select_vcpu(x->s, 2 * n - 1);
	if (shadow_selected_vcpu(x->s) != 2 * n - 1) {
		*err = "shadow on shadow: L0's shadow MMU needs a root set per L2 vCPU (extra_vcpus)";
		return false;
	}
	shadow_select_vcpu(x->s, 0);
	l1.level = CNT_L1;
	h->l1 = hv_shadow_create(h->vm2, &l1, err);
	if (!h->l1)
		return false;
	h->l1_ops = hv_shadow_ops();
	return true;
}

static struct shadow_mmu *sos_l1_shadow(struct hv_nest *h)
{
	return h->l1 ? hv_shadow_mmu(h->l1) : NULL;
}

static void sos_fini(struct hv_nest *h)
{
	struct sos *x = SOS(h);

	if (h->l1)
		hv_shadow_detach(h->l1);
	h->l1 = NULL;
	if (x) {
		free(x->v);
		free(x);
	}
	h->mode = NULL;
}

const struct nest_kind_ops nest_shadow_on_shadow_ops = {
	.init = sos_init,
	.fini = sos_fini,
	.ops = &sos_ops,
	.check = sos_check_msg,
	.l1_shadow = sos_l1_shadow,
};
