/*
 * The paravirtual nested configuration (vm/hv_nest_pv.c, vm/hv_pv.h) in
 * small: an L1 VM under L0's TDP (no L1 OS: paging off, so its direct map
 * is the identity), the L2 VM run by the PV engine, L2 accesses with
 * paging off (gva = gpa2).
 *
 * Expected values follow from the rules stated in kpop.h / docs/kpop.md
 * and hv_pv.h, not from the code: the first entry of an L2 vCPU is one
 * KPOP_HC_MMU_LOAD; an L2 access to a gfn2 nobody mapped is one L2 exit
 * reflected to L1, one KPOP_HC_MAP (an L1 exit handled by L0) and L1's
 * VMRESUME, after which the access completes without another exit; a
 * MAP that replaces a frame leaves a flush that L2 pays at its next
 * entry; a refused MAP kills the VM with L0's code in the message and
 * changes nothing (L0's tables, L1's record); L1's hypercalls reach KPOP
 * with KPOP's answer, other numbers answer ENOSYS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mmu/kpop.h"
#include "vm/hv_nest.h"
#include "vm/hv_pv.h"
#include "vm/hv_tdp.h"

#define L1_RAM      (UINT64_C(64) << 20)
#define L1_FIRST    UINT64_C(0x1000)     /* the L1 frames reserved for the L1 hypervisor and L2 */
#define L1_NPAGES   UINT64_C(0x2000)
#define L2_RAM      (UINT64_C(16) << 20)

struct pvx {
	struct vm *vm1, *vm2;
	struct hv_tdp *l0;
	struct hv_nest *h;
	struct kpop *kp;
	struct counters *cnt;
};

static void pvx_init(struct pvx *x, enum cpu_vendor vendor, unsigned ncpus, uint64_t max_pages)
{
	struct vm_config vc1, vc2;
	struct hv_tdp_config tc;
	struct hv_nest_config nc;
	const char *err = NULL;

	memset(x, 0, sizeof(*x));
	vm_config_default(&vc1);
	vc1.vendor = vendor;
	vc1.ncpus = ncpus;
	vc1.ram_bytes = L1_RAM;
	x->vm1 = vm_create(&vc1, &err);
	if (!x->vm1)
		fail_msg("vm_create: %s", err);
	hv_tdp_config_default(&tc);
	x->l0 = hv_tdp_attach(x->vm1, &tc, &err);
	if (!x->l0)
		fail_msg("hv_tdp_attach: %s", err);
	memset(&nc, 0, sizeof(nc));
	nc.kind = NEST_PV;
	nc.vm1 = x->vm1;
	nc.l0 = x->l0;
	nc.l1_kva_base = 0;
	nc.l1_first_gfn = L1_FIRST;
	nc.l1_npages = L1_NPAGES;
	hv_tdp_config_default(&nc.l1);
	nc.pv_max_pages = max_pages;
	vm_config_default(&vc2);
	vc2.vendor = vendor;
	vc2.ncpus = ncpus;
	vc2.ram_bytes = L2_RAM;
	x->h = hv_nest_create(&nc, &vc2, &err);
	if (!x->h)
		fail_msg("hv_nest_create: %s", err ? err : "?");
	x->vm2 = hv_nest_l2(x->h);
	x->kp = hv_nest_kpop(x->h);
	assert_non_null(x->kp);
	assert_non_null(hv_nest_pv_l1(x->h));
	x->cnt = vm_counters(x->vm1);
	assert_ptr_equal(vm_counters(x->vm2), x->cnt);
}

static void pvx_fini(struct pvx *x)
{
	hv_nest_destroy(x->h);
	hv_tdp_detach(x->l0);
	vm_destroy(x->vm1);
}

static void check_kpop(struct pvx *x)
{
	char msg[256];

	if (kpop_check(x->kp, msg, sizeof(msg)))
		fail_msg("kpop_check: %s", msg);
}

/* The hardware's translation of gpa2 by L2 vCPU i equals gpa2 -> gfn1 (L2's slots) -> hfn (L1's slots). */
static void check_translation(struct pvx *x, unsigned i, uint64_t gpa2)
{
	struct xlate_result r;
	uint64_t gfn1, hfn;

	assert_int_equal(memslots_gfn_peek(vm_memslots(x->vm2), gpa2 >> 12, &gfn1, NULL), MEMSLOT_OK);
	assert_true(gfn1 >= L1_FIRST && gfn1 < L1_FIRST + L1_NPAGES);
	assert_int_equal(memslots_gfn_peek(vm_memslots(x->vm1), gfn1, &hfn, NULL), MEMSLOT_OK);
	assert_true(vcpu_hw_probe(vm_vcpu(x->vm2, i), gpa2, ACCESS_WRITE, false, &r));
	assert_int_equal(r.outcome, XO_OK);
	assert_int_equal(r.hpa, (hfn << 12) | (gpa2 & 0xfff));
}

static uint64_t l2_exits(struct pvx *x)
{
	return counters_exits_sum(x->cnt, CNT_L2, -1, -1);
}

/* An L2 fault: one reflected exit, one MAP, one VMRESUME of L1; the retry needs no exit. */
static void test_fault_path(void **state)
{
	static const enum cpu_vendor vendors[2] = { CPU_INTEL, CPU_AMD };

	(void)state;
	for (unsigned k = 0; k < 2; k++) {
		struct pvx x;
		struct guest_fault gf;
		struct vcpu *v2;
		uint64_t gfn1, peek, refl = vendors[k] == CPU_AMD ? CNT_EXIT_NPF : CNT_EXIT_EPT_VIOLATION;
		unsigned perms;

		pvx_init(&x, vendors[k], 2, 0);
		v2 = vm_vcpu(x.vm2, 0);
		/* first entry of vCPU 0: MMU_LOAD, VMLAUNCH; then the access faults once */
		assert_int_equal(vcpu_touch(v2, 0x5000, ACCESS_WRITE, &gf), VCPU_OK);
		assert_int_equal(x.cnt->hypercalls[CNT_L1][CNT_HC_PV_MMU_LOAD], 1);
		assert_int_equal(x.cnt->hypercalls[CNT_L1][CNT_HC_PV_MAP], 1);
		assert_int_equal(x.cnt->exits[CNT_L2][CNT_REFLECTED][refl], 1);
		assert_int_equal(l2_exits(&x), 1);
		assert_int_equal(x.cnt->exits[CNT_L1][CNT_BY_L0][CNT_EXIT_HYPERCALL], 2);
		assert_int_equal(x.cnt->exits[CNT_L1][CNT_BY_L0][CNT_EXIT_VMRESUME], 2); /* VMLAUNCH + the resume */
		assert_int_equal(x.cnt->pt_alloc[CNT_PT_EPT12], 0);
		assert_true(x.cnt->pt_alloc[CNT_PT_EPT02] > 0);
		assert_int_equal(kpop_mapped_pages(x.kp, KPOP_HANDLE_ALL), 1);
		/* the record, in L1 memory, and KPOP's record agree with L2's slots */
		assert_true(hv_pv_lookup(hv_nest_pv_l1(x.h), 5, &gfn1, &perms));
		assert_int_equal(perms, KPOP_PERM_ALL);
		assert_int_equal(memslots_gfn_peek(vm_memslots(x.vm2), 5, &peek, NULL), MEMSLOT_OK);
		assert_int_equal(gfn1, peek);
		check_translation(&x, 0, 0x5008);
		check_kpop(&x);
		/* the same page again, and another offset of it: no exit */
		assert_int_equal(vcpu_touch(v2, 0x5ff8, ACCESS_READ, &gf), VCPU_OK);
		assert_int_equal(l2_exits(&x), 1);
		/* vCPU 1: its own MMU_LOAD of the same MMU (one EPT02), nothing to map for 0x5000 */
		assert_int_equal(vcpu_touch(vm_vcpu(x.vm2, 1), 0x5000, ACCESS_READ, &gf), VCPU_OK);
		assert_int_equal(x.cnt->hypercalls[CNT_L1][CNT_HC_PV_MMU_LOAD], 2);
		assert_int_equal(kpop_mmu_count(x.kp), 1);
		assert_int_equal(l2_exits(&x), 1);
		/* a new page from vCPU 1 */
		assert_int_equal(vcpu_touch(vm_vcpu(x.vm2, 1), 0x9000, ACCESS_FETCH, &gf), VCPU_OK);
		assert_int_equal(x.cnt->hypercalls[CNT_L1][CNT_HC_PV_MAP], 2);
		assert_int_equal(x.cnt->exits[CNT_L2][CNT_REFLECTED][refl], 2);
		assert_int_equal(l2_exits(&x), 2);
		check_translation(&x, 0, 0x9000);
		check_kpop(&x);
		assert_int_equal(hv_pv_stats(hv_nest_pv_l1(x.h))->maps, 2);
		assert_null(hv_pv_error(hv_nest_pv_l1(x.h)));
		pvx_fini(&x);
	}
}

/* L0 refuses a MAP (its page budget is spent): the VM dies with L0's code, nothing changes. */
static void test_map_refused(void **state)
{
	struct pvx x;
	struct guest_fault gf;
	struct vcpu *v2;
	uint64_t gfn1, tables;
	unsigned perms;
	char msg[256];

	(void)state;
	pvx_init(&x, CPU_INTEL, 1, 2);
	v2 = vm_vcpu(x.vm2, 0);
	assert_int_equal(vcpu_touch(v2, 0x1000, ACCESS_WRITE, &gf), VCPU_OK);
	assert_int_equal(vcpu_touch(v2, 0x2000, ACCESS_WRITE, &gf), VCPU_OK);
	tables = kpop_tables_live(x.kp);
	assert_int_equal(vcpu_touch(v2, 0x3000, ACCESS_WRITE, &gf), VCPU_DEAD);
	snprintf(msg, sizeof(msg), "%s", vcpu_error(v2));
	if (!strstr(msg, "refused KPOP_HC_MAP") || !strstr(msg, "ENOSPC") || !strstr(msg, "-28"))
		fail_msg("message: %s", msg);
	assert_non_null(hv_pv_error(hv_nest_pv_l1(x.h)));
	/* L0: the two mappings, the same tables, the isolation invariant */
	assert_int_equal(kpop_mapped_pages(x.kp, KPOP_HANDLE_ALL), 2);
	assert_int_equal(kpop_tables_live(x.kp), tables);
	check_kpop(&x);
	/* L1: its record holds the two pages, not the refused one */
	assert_true(hv_pv_lookup(hv_nest_pv_l1(x.h), 1, &gfn1, &perms));
	assert_true(hv_pv_lookup(hv_nest_pv_l1(x.h), 2, &gfn1, &perms));
	assert_false(hv_pv_lookup(hv_nest_pv_l1(x.h), 3, &gfn1, &perms));
	assert_int_equal(x.cnt->hypercalls[CNT_L1][CNT_HC_PV_MAP], 3);
	assert_int_equal(hv_pv_stats(hv_nest_pv_l1(x.h))->maps, 2);
	/* a dead VM stays dead */
	assert_int_equal(vcpu_touch(v2, 0x1000, ACCESS_READ, &gf), VCPU_DEAD);
	pvx_fini(&x);
}

/* Writes a one-descriptor MAP block at L1 gpa `at` (uncounted, as a test's hand in L1 memory). */
static void put_desc(struct pvx *x, uint64_t at, uint64_t handle, unsigned perms, uint64_t gfn2, uint64_t gfn1)
{
	struct guestmem *gm = vm_guestmem(x->vm1);

	assert_int_equal(guestmem_write(gm, at, 8, handle | (uint64_t)perms << 32), MEM_OK);
	assert_int_equal(guestmem_write(gm, at + 8, 8, gfn2), MEM_OK);
	assert_int_equal(guestmem_write(gm, at + 16, 8, gfn1), MEM_OK);
	assert_int_equal(guestmem_write(gm, at + 24, 8, 1), MEM_OK);
}

/*
 * L1's hypercalls reach KPOP (its answers, counted at level 1); a MAP
 * that moves a mapped gfn2 to another frame is a flush L2 pays at its
 * next entry, after which the hardware finds the new frame.
 */
static void test_hypercalls_and_flush(void **state)
{
	static const enum cpu_vendor vendors[2] = { CPU_INTEL, CPU_AMD };

	(void)state;
	for (unsigned k = 0; k < 2; k++) {
		struct pvx x;
		struct guest_fault gf;
		struct vcpu *v2, *v1;
		struct xlate_result r;
		uint64_t ret, handle, hfn, old_out, new_out, size, flushes;
		unsigned rights;
		bool dirty;
		const uint64_t desc = (L1_FIRST + L1_NPAGES - 1) << 12, gfn1_new = L1_FIRST + L1_NPAGES - 2;
		enum cnt_flush fk = vendors[k] == CPU_AMD ? CNT_FLUSH_VPID : CNT_FLUSH_EPT_CTX;

		pvx_init(&x, vendors[k], 1, 0);
		v2 = vm_vcpu(x.vm2, 0);
		v1 = vm_vcpu(x.vm1, 0);
		assert_int_equal(vcpu_touch(v2, 0x7000, ACCESS_WRITE, &gf), VCPU_OK);
		handle = hv_pv_handle(hv_nest_pv_l1(x.h));
		assert_true(kpop_handle_valid(x.kp, handle));
		assert_int_equal(kpop_mmu_count(x.kp), 1);
		assert_int_equal(kpop_refs(x.kp, handle), 1);
		/* not a KPOP number: ENOSYS, counted as a hypercall of level 1 */
		assert_int_equal(vcpu_hypercall(v1, CNT_HC_TLB_FLUSH, 0, 0, &ret), VCPU_OK);
		assert_int_equal(ret, HV_HC_ENOSYS);
		assert_int_equal(x.cnt->hypercalls[CNT_L1][CNT_HC_TLB_FLUSH], 1);
		/* a MAP of an L1 gfn outside L1's RAM: -EFAULT, nothing mapped */
		put_desc(&x, desc, handle, KPOP_PERM_ALL, 0x40, L1_RAM >> 12);
		assert_int_equal(vcpu_hypercall(v1, KPOP_HC_MAP, desc, 1, &ret), VCPU_OK);
		assert_int_equal((int64_t)ret, KPOP_EFAULT);
		assert_int_equal(kpop_mapped_pages(x.kp, handle), 1);
		/* L1 moves gfn2 7 to another of its frames: one page mapped, a flush owed */
		put_desc(&x, desc, handle, KPOP_PERM_ALL, 7, gfn1_new);
		assert_int_equal(vcpu_hypercall(v1, KPOP_HC_MAP, desc, 1, &ret), VCPU_OK);
		assert_int_equal(ret, 1);
		check_kpop(&x);
		/* L2 runs with paging off: its TLB holds guest-physical mappings (SDM Vol. 3C, "Information That May Be Cached": guest-physical mappings) */
		assert_true(tlb_ntlb_lookup(vcpu_tlb(v2), 0x7000, &old_out, &size, &rights, &dirty));
		flushes = x.cnt->flushes[CNT_L0][fk];
		assert_int_equal(vcpu_touch(v2, 0x7000, ACCESS_READ, &gf), VCPU_OK);
		assert_int_equal(x.cnt->flushes[CNT_L0][fk], flushes + 1);
		assert_int_equal(memslots_gfn_peek(vm_memslots(x.vm1), gfn1_new, &hfn, NULL), MEMSLOT_OK);
		/* the mapping the access cached was made from the new EPT02 leaf */
		assert_true(tlb_ntlb_lookup(vcpu_tlb(v2), 0x7000, &new_out, &size, &rights, &dirty));
		assert_int_equal(new_out, hfn << 12);
		assert_true(old_out != new_out);
		assert_true(vcpu_hw_probe(v2, 0x7010, ACCESS_READ, false, &r));
		assert_int_equal(r.hpa, (hfn << 12) | 0x10);
		assert_int_equal(x.cnt->hypercalls[CNT_L1][CNT_HC_PV_MAP], 3);
		pvx_fini(&x);
	}
}

/*
 * A hostile L1 unloads the MMU while L2 runs on it (its EPT02 is freed):
 * L2's next access is a failed VM entry, never a walk of freed tables.
 */
static void test_unload_under_l2(void **state)
{
	struct pvx x;
	struct guest_fault gf;
	struct vcpu *v2, *v1;
	uint64_t ret;

	(void)state;
	pvx_init(&x, CPU_INTEL, 1, 0);
	v2 = vm_vcpu(x.vm2, 0);
	v1 = vm_vcpu(x.vm1, 0);
	assert_int_equal(vcpu_touch(v2, 0x3000, ACCESS_WRITE, &gf), VCPU_OK);
	assert_int_equal(vcpu_hypercall(v1, KPOP_HC_MMU_UNLOAD, hv_pv_holder(hv_nest_pv_l1(x.h)), 0, &ret), VCPU_OK);
	assert_int_equal(ret, 0); /* the last reference */
	assert_int_equal(kpop_mmu_count(x.kp), 0);
	assert_int_equal(kpop_tables_live(x.kp), 0);
	assert_int_equal(vcpu_touch(v2, 0x3000, ACCESS_READ, &gf), VCPU_DEAD);
	assert_non_null(strstr(vcpu_error(v2), "prepare"));
	check_kpop(&x);
	pvx_fini(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fault_path),
		cmocka_unit_test(test_map_refused),
		cmocka_unit_test(test_hypercalls_and_flush),
		cmocka_unit_test(test_unload_under_l2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
