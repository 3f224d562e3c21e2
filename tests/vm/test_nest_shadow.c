/*
 * The shadow-paging hypervisor at level 1 (hv_shadow.h) as L1 in
 * `l2-shadow-on-tdp` (hv_nest.h, NEST_SHADOW_ON_TDP): what it wants on
 * L2's TLB is an instruction of L1 that L0 emulates on L2's VPID/ASID.
 *
 * The rules the expectations come from (not from the code):
 *  - INVLPG must leave no translation of its address in the TLB (SDM Vol.
 *    2A INVLPG); a flushing MOV CR3 none of the PCID's non-global ones
 *    (SDM Vol. 3A 4.10.4.1); the hypervisor's emulation must give at least
 *    that.
 *  - L1 cannot touch L2's TLB: on Intel it executes INVVPID (VPID12),
 *    which exits to L0 (VMX instructions in VMX non-root operation exit
 *    unconditionally, SDM Vol. 3C 26.1.2); L0 performs one invalidation
 *    of VPID02 for it. On AMD a whole-ASID flush is TLB_CONTROL in VMCB12
 *    (APM Vol. 2 15.16.1), carried by the VMRUN (no exit of its own);
 *    one address is INVLPGA, intercepted by L0 (an exit).
 *  - INVLPG of a non-canonical address is a NOP (SDM Vol. 2A INVLPG):
 *    nothing to invalidate, no instruction for L1 to execute.
 *  - INVPCID with type > 3 is #GP(0) (SDM Vol. 2A INVPCID), whoever
 *    emulates it.
 *
 * Set-up: L0's TDP hypervisor runs an L1 VM whose OS is booted; L1's
 * shadow paging runs an L2 VM whose 4-level tables the test writes
 * itself (paging off: linear = physical), then turns paging on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "guest/gos.h"
#include "vm/hv_nest.h"
#include "vm/hv_tdp.h"
#include "vmt.h"

#define L1_RAM   (UINT64_C(128) << 20)
#define L2_RAM   (UINT64_C(32) << 20)
#define RESERVE  UINT64_C(16384) /* L1 pages for the L1 hypervisor: L2's RAM and SPT12 */

#define LA_DATA  UINT64_C(0x40000000) /* -> A, then B */
#define LA_PT    UINT64_C(0x40001000) /* -> the L2 page table holding LA_DATA's PTE */
#define LA_COLD  UINT64_C(0x40002000) /* -> C, never accessed */
#define GPA_A    UINT64_C(0x200000)
#define GPA_B    UINT64_C(0x201000)
#define GPA_C    UINT64_C(0x202000)

struct nfx {
	struct vm *vm1;
	struct hv_tdp *l0;
	struct gos *l1_os;
	struct hv_nest *nest;
	struct vm *vm2;
	struct vcpu *v2;
	struct counters *cnt;
	struct vmt t;
	uint64_t pte_gpa; /* LA_DATA's PTE */
};

static void up(struct nfx *x, enum cpu_vendor vendor)
{
	struct vm_config vc1, vc2;
	struct hv_tdp_config tc;
	struct gos_config gc;
	struct hv_nest_config nc;
	struct vcpu *cpus1[1];
	const char *err = NULL;
	uint64_t first;

	memset(x, 0, sizeof(*x));
	vm_config_default(&vc1);
	vc1.vendor = vendor;
	vc1.ram_bytes = L1_RAM;
	x->vm1 = vm_create(&vc1, &err);
	if (!x->vm1)
		fail_msg("vm_create: %s", err);
	hv_tdp_config_default(&tc);
	x->l0 = hv_tdp_attach(x->vm1, &tc, &err);
	if (!x->l0)
		fail_msg("hv_tdp_attach: %s", err);
	cpus1[0] = vm_vcpu(x->vm1, 0);
	gos_config_default(&gc);
	gc.mode = PAGING_4LEVEL;
	gc.ram_bytes = L1_RAM;
	x->l1_os = gos_boot(cpus1, 1, &gc, &err);
	if (!x->l1_os)
		fail_msg("gos_boot: %s", err ? err : "?");
	assert_int_equal(gos_reserve(x->l1_os, RESERVE, &first), GOS_OK);
	memset(&nc, 0, sizeof(nc));
	nc.kind = NEST_SHADOW_ON_TDP;
	nc.vm1 = x->vm1;
	nc.l0 = x->l0;
	nc.l1_kva_base = gos_kernel_va(x->l1_os, 0);
	nc.l1_first_gfn = first;
	nc.l1_npages = RESERVE;
	hv_tdp_config_default(&nc.l1);
	hv_shadow_config_default(&nc.l1_shadow);
	vm_config_default(&vc2);
	vc2.vendor = vendor;
	vc2.ram_bytes = L2_RAM;
	x->nest = hv_nest_create(&nc, &vc2, &err);
	if (!x->nest)
		fail_msg("hv_nest_create: %s", err ? err : "?");
	x->vm2 = hv_nest_l2(x->nest);
	x->v2 = vm_vcpu(x->vm2, 0);
	x->cnt = vm_counters(x->vm2);
	assert_ptr_equal(x->cnt, vm_counters(x->vm1)); /* one set of counters for the stack */

	/* L2's tables and data, paging off */
	x->t = (struct vmt){ .vm = x->vm2, .v = x->v2, .next_table = VMT_TABLES, .levels = 4 };
	vmt_map(&x->t, LA_DATA, GPA_A, PTE_P | PTE_RW);
	x->pte_gpa = vmt_entry(&x->t, LA_DATA, 1);
	vmt_map(&x->t, LA_PT, x->pte_gpa & ~UINT64_C(0xfff), PTE_P | PTE_RW);
	vmt_map(&x->t, LA_COLD, GPA_C, PTE_P | PTE_RW);
	vmt_wr(&x->t, GPA_A, 0xaaaa);
	vmt_wr(&x->t, GPA_B, 0xbbbb);
	vmt_wr(&x->t, GPA_C, 0xcccc);
	vmt_paging_on(&x->t, x->v2, 0);
	assert_int_equal(vm_level(x->vm2), 2);
}

static void down(struct nfx *x)
{
	hv_nest_destroy(x->nest);
	gos_destroy(x->l1_os);
	hv_tdp_detach(x->l0);
	vm_destroy(x->vm1);
}

static uint64_t rd(struct nfx *x, uint64_t la)
{
	uint64_t v = 0;

	assert_int_equal(vcpu_read(x->v2, la, 8, &v, NULL), VCPU_OK);
	return v;
}

/* L0 enters L2 again (after an exit: L1's preparation and requests), without an access. */
static void enter(struct nfx *x)
{
	struct xlate_result r;

	assert_true(vcpu_hw_probe(x->v2, LA_PT, ACCESS_READ, false, &r));
}

/* What the rules above count: L1's exits for TLB work, L0's invalidations of L2's VPID/ASID. */
struct tally {
	uint64_t invvpid, invlpga; /* exits of L1 */
	uint64_t ctx, addr;        /* invalidations L0 executed: whole VPID/ASID, one address */
	uint64_t vmresume;         /* L1's VMRESUME/VMRUN */
};

static void tally(const struct nfx *x, struct tally *t)
{
	const uint64_t *e = x->cnt->exits[CNT_L1][CNT_BY_L0];

	t->invvpid = e[CNT_EXIT_INVVPID];
	t->invlpga = e[CNT_EXIT_INVLPGA];
	t->ctx = x->cnt->flushes[CNT_L0][CNT_FLUSH_VPID];
	t->addr = x->cnt->flushes[CNT_L0][CNT_FLUSH_ADDR];
	t->vmresume = e[CNT_EXIT_VMRESUME];
}

static void delta(const struct nfx *x, const struct tally *before, struct tally *d)
{
	struct tally now;

	tally(x, &now);
	d->invvpid = now.invvpid - before->invvpid;
	d->invlpga = now.invlpga - before->invlpga;
	d->ctx = now.ctx - before->ctx;
	d->addr = now.addr - before->addr;
	d->vmresume = now.vmresume - before->vmresume;
}

/* INVLPG after L2 repointed a cached PTE: no stale translation; one instruction of L1 for it. */
static void invlpg_after_pte_change(enum cpu_vendor vendor)
{
	struct nfx x;
	struct tally t0, d;
	const struct tlb_entry *e;
	uint64_t hpa_b;

	up(&x, vendor);
	assert_int_equal(rd(&x, LA_DATA), 0xaaaa);
	assert_non_null(tlb_peek(vcpu_tlb(x.v2), LA_DATA)); /* cached */
	/* L2 writes its own PTE (through its mapping of the table), as an OS does before INVLPG */
	assert_int_equal(vcpu_write(x.v2, LA_PT + (x.pte_gpa & 0xfff), 8, GPA_B | PTE_P | PTE_RW, NULL), VCPU_OK);
	(void)rd(&x, LA_PT); /* an entry: whatever the write made pending is done before the INVLPG */
	tally(&x, &t0);
	assert_int_equal(vcpu_invlpg(x.v2, LA_DATA), VCPU_OK);
	enter(&x);
	delta(&x, &t0, &d);
	/* no translation of LA_DATA to A is left in L2's TLB */
	assert_true(vm_gpa_to_hpa(x.vm2, GPA_B, &hpa_b));
	e = tlb_peek(vcpu_tlb(x.v2), LA_DATA);
	assert_true(e == NULL || e->out == (hpa_b & ~UINT64_C(0xfff)));
	/* the INVLPG was L1's to emulate: one reflection, one VMRESUME */
	assert_int_equal(d.vmresume, 1);
	/* one invalidation of L2's VPID/ASID executed by L0 for L1 */
	assert_int_equal(d.ctx + d.addr, 1);
	if (vendor == CPU_INTEL) {
		assert_int_equal(d.invvpid, 1);
		assert_int_equal(d.invlpga, 0);
	} else {
		assert_int_equal(d.invvpid, 0);
		assert_int_equal(d.invlpga, d.addr); /* TLB_CONTROL rides on VMRUN, INVLPGA exits */
	}
	assert_int_equal(rd(&x, LA_DATA), 0xbbbb);
	down(&x);
}

static void test_invlpg_after_pte_change_intel(void **state)
{
	(void)state;
	invlpg_after_pte_change(CPU_INTEL);
}

static void test_invlpg_after_pte_change_amd(void **state)
{
	(void)state;
	invlpg_after_pte_change(CPU_AMD);
}

/*
 * INVLPG of an address L1 never shadowed: nothing for the shadow MMU to
 * drop, so the one address alone (INVVPID individual-address / INVLPGA).
 */
static void invlpg_cold(enum cpu_vendor vendor)
{
	struct nfx x;
	struct tally t0, d;

	up(&x, vendor);
	(void)rd(&x, LA_DATA);
	tally(&x, &t0);
	assert_int_equal(vcpu_invlpg(x.v2, LA_COLD), VCPU_OK);
	enter(&x);
	delta(&x, &t0, &d);
	assert_int_equal(d.vmresume, 1);
	assert_int_equal(d.addr, 1);
	assert_int_equal(d.ctx, 0);
	assert_int_equal(d.invvpid, vendor == CPU_INTEL ? 1 : 0);
	assert_int_equal(d.invlpga, vendor == CPU_AMD ? 1 : 0);
	assert_int_equal(rd(&x, LA_COLD), 0xcccc);
	down(&x);
}

static void test_invlpg_cold_intel(void **state)
{
	(void)state;
	invlpg_cold(CPU_INTEL);
}

static void test_invlpg_cold_amd(void **state)
{
	(void)state;
	invlpg_cold(CPU_AMD);
}

/* INVLPG of a non-canonical address is a NOP: reflected (L1 intercepts INVLPG), nothing invalidated. */
static void test_invlpg_noncanonical(void **state)
{
	struct nfx x;
	struct tally t0, d;

	(void)state;
	up(&x, CPU_INTEL);
	(void)rd(&x, LA_DATA);
	tally(&x, &t0);
	assert_int_equal(vcpu_invlpg(x.v2, UINT64_C(0x0000800000000000)), VCPU_OK);
	enter(&x);
	delta(&x, &t0, &d);
	assert_int_equal(d.vmresume, 1);
	assert_int_equal(d.invvpid + d.invlpga + d.ctx + d.addr, 0);
	assert_non_null(tlb_peek(vcpu_tlb(x.v2), LA_DATA)); /* nothing dropped */
	down(&x);
}

/*
 * TLB entries of one VPID/ASID, any PCID, kind or EP4TA. The TLB is the
 * logical processor's, shared by L1 (VPID/ASID 1) and L2 (2) (vcpu.h).
 */
static unsigned tlb_entries_of(struct nfx *x, uint32_t vpid)
{
	const struct tlb_scope s = {
		.structs = TLB_S_TLB, .kinds = (1u << TLB_NKIND) - 1, .vpid_match = TLB_M_EQ, .vpid = vpid,
		.any_pcid = true, .any_root = true, .any_addr = true,
	};

	return tlb_count_scope(vcpu_tlb(x->v2), &s);
}

/*
 * A flushing MOV CR3 (CR4.PCIDE = 0): none of L2's non-global translations
 * survive; one context flush - of VPID/ASID 2 only: L1's own entries
 * (VPID/ASID 1) in the same TLB are not in its scope (SDM Vol. 2 INVVPID
 * single-context; APM 15.16.1 TLB_CONTROL 03h) and L1's accesses meanwhile
 * only add to them.
 */
static void mov_cr3(enum cpu_vendor vendor)
{
	struct nfx x;
	struct tally t0, d;
	unsigned l1_before;

	up(&x, vendor);
	(void)rd(&x, LA_DATA);
	(void)rd(&x, LA_COLD);
	assert_true(tlb_entries_of(&x, 2) > 0);
	l1_before = tlb_entries_of(&x, 1);
	assert_true(l1_before > 0); /* the L1 OS and hypervisor ran on this logical processor */
	tally(&x, &t0);
	assert_int_equal(vcpu_mov_cr3(x.v2, x.t.root), VCPU_OK);
	enter(&x);
	delta(&x, &t0, &d);
	assert_int_equal(tlb_entries_of(&x, 2), 0);
	assert_true(tlb_entries_of(&x, 1) >= l1_before);
	assert_int_equal(d.vmresume, 1);
	assert_int_equal(d.ctx, 1);
	assert_int_equal(d.addr, 0);
	assert_int_equal(d.invvpid, vendor == CPU_INTEL ? 1 : 0); /* AMD: TLB_CONTROL, no exit */
	assert_int_equal(d.invlpga, 0);
	assert_int_equal(rd(&x, LA_DATA), 0xaaaa);
	down(&x);
}

static void test_mov_cr3_intel(void **state)
{
	(void)state;
	mov_cr3(CPU_INTEL);
}

static void test_mov_cr3_amd(void **state)
{
	(void)state;
	mov_cr3(CPU_AMD);
}

/* INVPCID of an invalid type: #GP(0) for L2, as the instruction; nothing invalidated. */
static void test_invpcid_gp(void **state)
{
	struct nfx x;
	struct tally t0, d;

	(void)state;
	up(&x, CPU_INTEL);
	(void)rd(&x, LA_DATA);
	tally(&x, &t0);
	assert_int_equal(vcpu_invpcid(x.v2, 4, 0, 0), VCPU_FAULT);
	assert_int_equal(vcpu_last_fault(x.v2)->kind, XO_GP);
	enter(&x);
	delta(&x, &t0, &d);
	assert_int_equal(d.invvpid + d.ctx + d.addr, 0);
	assert_int_equal(x.cnt->exits[CNT_L2][CNT_REFLECTED][CNT_EXIT_INVPCID], 1);
	down(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_invlpg_after_pte_change_intel),
		cmocka_unit_test(test_invlpg_after_pte_change_amd),
		cmocka_unit_test(test_invlpg_cold_intel),
		cmocka_unit_test(test_invlpg_cold_amd),
		cmocka_unit_test(test_invlpg_noncanonical),
		cmocka_unit_test(test_mov_cr3_intel),
		cmocka_unit_test(test_mov_cr3_amd),
		cmocka_unit_test(test_invpcid_gp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
