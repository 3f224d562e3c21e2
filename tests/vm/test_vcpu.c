/*
 * The vCPU natively (no hypervisor): the data path, the TLB through the
 * run loop, faults delivered to the guest, and the TLB effects of every
 * privileged operation, with the counters they leave. Expected values
 * come from the rules in the comments (SDM 4.10.4.1 for the flushes; the
 * counting rules of vcpu.h).
 */
#include "vm/vmt.h"

#define L0 CNT_L0
#define USER_LA  UINT64_C(0x400000)
#define USER_PA  UINT64_C(0x800000)

static struct counters snap(struct vm *vm)
{
	return *vm_counters(vm);
}

static struct counters delta(struct vm *vm, const struct counters *before)
{
	struct counters d;

	assert_true(counters_diff(&d, vm_counters(vm), before));
	return d;
}

/* ---- paging off ---- */

static void test_paging_off_data(void **state)
{
	struct vmt t;
	struct counters b, d;
	uint64_t v;
	bool changed;

	(void)state;
	vmt_init(&t, 1);
	b = snap(t.vm);
	assert_int_equal(vcpu_write(t.v, 0x200000, 8, UINT64_C(0x1122334455667788), NULL), VCPU_OK);
	assert_int_equal(vcpu_read(t.v, 0x200000, 8, &v, NULL), VCPU_OK);
	assert_int_equal(v, UINT64_C(0x1122334455667788));
	assert_int_equal(vcpu_read(t.v, 0x200004, 4, &v, NULL), VCPU_OK);
	assert_int_equal(v, 0x11223344);
	/* a compare-exchange that finds another value stores nothing */
	assert_int_equal(vcpu_cmpxchg(t.v, 0x200000, 8, 5, 6, &changed, NULL), VCPU_OK);
	assert_true(changed);
	assert_int_equal(vcpu_cmpxchg(t.v, 0x200000, 8, UINT64_C(0x1122334455667788), 6, &changed, NULL), VCPU_OK);
	assert_false(changed);
	assert_int_equal(vcpu_read(t.v, 0x200000, 8, &v, NULL), VCPU_OK);
	assert_int_equal(v, 6);
	/* a touch moves no data: the page at 3 MiB gets no backing */
	assert_int_equal(vcpu_touch(t.v, 0x300000, ACCESS_WRITE, NULL), VCPU_OK);
	assert_int_equal(memslots_backed_pages(vm_memslots(t.vm)), 1);
	d = delta(t.vm, &b);
	/* 7 memory operations; paging off: no TLB lookup, walks without references */
	assert_int_equal(d.instructions[L0], 7);
	assert_int_equal(d.mem_accesses[L0], 7);
	assert_int_equal(d.walks[L0], 7);
	assert_int_equal(d.walk_refs[L0][CNT_DIM_GUEST], 0);
	assert_int_equal(d.tlb_hits[L0][CNT_TLB_TLB] + d.tlb_misses[L0][CNT_TLB_TLB], 0);
	assert_int_equal(counters_exits_sum(&d, -1, -1, -1), 0);
	vm_destroy(t.vm);
}

static void test_misaligned_kills(void **state)
{
	struct vmt t;
	uint64_t v;

	(void)state;
	vmt_init(&t, 1);
	assert_int_equal(vcpu_read(t.v, 0x200001, 8, &v, NULL), VCPU_DEAD);
	assert_non_null(vcpu_error(t.v));
	/* dead stays dead */
	assert_int_equal(vcpu_touch(t.v, 0x200000, ACCESS_READ, NULL), VCPU_DEAD);
	vm_destroy(t.vm);
}

/* ---- 4-level paging ---- */

/*
 * USER_LA -> USER_PA, user RW, A clear at every level (VMT_NONLEAF); the
 * tables [1 MiB, 1 MiB + 64 KiB) identity-mapped supervisor with A and D
 * set, so the test can write entries once paging is on.
 */
static void setup_4level(struct vmt *t, uint64_t cr4_extra)
{
	vmt_init(t, 1);
	vmt_map(t, USER_LA, USER_PA, PTE_P | PTE_RW | PTE_US);
	for (uint64_t pa = VMT_TABLES; pa < VMT_TABLES + 0x10000; pa += 0x1000)
		vmt_map(t, pa, pa, PTE_P | PTE_RW | PTE_A | PTE_D);
	vmt_paging_on(t, t->v, cr4_extra);
}

static void test_walk_and_tlb(void **state)
{
	struct vmt t;
	struct counters b, d;
	struct guest_fault f;

	(void)state;
	setup_4level(&t, 0);
	b = snap(t.vm);
	/* cold: TLB miss, 4 references (PML4E, PDPTE, PDE, PTE), A set on all 4 */
	assert_int_equal(vcpu_touch(t.v, USER_LA, ACCESS_READ, NULL), VCPU_OK);
	d = delta(t.vm, &b);
	assert_int_equal(d.tlb_misses[L0][CNT_TLB_TLB], 1);
	assert_int_equal(d.walks[L0], 1);
	assert_int_equal(d.walk_refs[L0][CNT_DIM_GUEST], 4);
	assert_int_equal(d.walk_refs[L0][CNT_DIM_NESTED], 0);
	assert_int_equal(d.ad_writes[L0][CNT_DIM_GUEST], 4);
	/* again: a TLB hit, no reference */
	b = snap(t.vm);
	assert_int_equal(vcpu_touch(t.v, USER_LA + 8, ACCESS_READ, NULL), VCPU_OK);
	d = delta(t.vm, &b);
	assert_int_equal(d.tlb_hits[L0][CNT_TLB_TLB], 1);
	assert_int_equal(d.walks[L0], 0);
	/*
	 * a write through the entry cached with D clear: dropped and walked
	 * (counted a miss); the PSCs give the PT: 1 reference, 1 A/D write (D)
	 */
	b = snap(t.vm);
	assert_int_equal(vcpu_touch(t.v, USER_LA, ACCESS_WRITE, NULL), VCPU_OK);
	d = delta(t.vm, &b);
	assert_int_equal(d.tlb_misses[L0][CNT_TLB_TLB], 1);
	assert_int_equal(d.walk_refs[L0][CNT_DIM_GUEST], 1);
	assert_int_equal(d.ad_writes[L0][CNT_DIM_GUEST], 1);
	assert_int_equal(vmt_rd(&t, vmt_entry(&t, USER_LA, 1)), USER_PA | PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D);
	/* not present: #PF delivered with W|U (user write), CR2; counted once */
	b = snap(t.vm);
	vcpu_set_cpl(t.v, 3);
	assert_int_equal(vcpu_touch(t.v, USER_LA + 0x1000, ACCESS_WRITE, &f), VCPU_FAULT);
	vcpu_set_cpl(t.v, 0);
	assert_int_equal(f.kind, XO_PAGE_FAULT);
	assert_int_equal(f.error_code, PFEC_W | PFEC_U);
	assert_int_equal(f.cr2, USER_LA + 0x1000);
	assert_int_equal(vcpu_last_fault(t.v)->cr2, USER_LA + 0x1000);
	d = delta(t.vm, &b);
	assert_int_equal(d.guest_pf[L0], 1);
	/* non-canonical: #GP, not a #PF */
	assert_int_equal(vcpu_touch(t.v, UINT64_C(0x0000800000000000), ACCESS_READ, &f), VCPU_FAULT);
	assert_int_equal(f.kind, XO_GP);
	assert_int_equal(delta(t.vm, &b).guest_pf[L0], 1);
	vm_destroy(t.vm);
}

/* Refills USER_LA and returns the references of the access (0: a TLB hit). */
static uint64_t refs_of_read(struct vmt *t)
{
	struct counters b = snap(t->vm);

	assert_int_equal(vcpu_touch(t->v, USER_LA, ACCESS_READ, NULL), VCPU_OK);
	return delta(t->vm, &b).walk_refs[L0][CNT_DIM_GUEST];
}

static uint64_t flushes(struct vm *vm, enum cnt_flush f)
{
	return vm_counters(vm)->flushes[L0][f];
}

static void test_mov_cr3_invlpg(void **state)
{
	struct vmt t;

	(void)state;
	setup_4level(&t, 0);
	/* the boot sequence itself flushed PCID 0 twice: MOV CR4 (PAE 0 -> 1) and MOV CR3 */
	assert_int_equal(flushes(t.vm, CNT_FLUSH_PCID), 2);
	counters_zero(vm_counters(t.vm));
	assert_int_equal(refs_of_read(&t), 4);
	assert_int_equal(refs_of_read(&t), 0);
	/* MOV CR3 with PCIDE = 0: TLB and PSC entries of PCID 000H go (SDM 4.10.4.1) */
	assert_int_equal(vcpu_mov_cr3(t.v, t.root), VCPU_OK);
	assert_int_equal(flushes(t.vm, CNT_FLUSH_PCID), 1);
	assert_int_equal(refs_of_read(&t), 4);
	/* INVLPG: the page's entry and every PSC entry of the current PCID */
	assert_int_equal(vcpu_invlpg(t.v, USER_LA), VCPU_OK);
	assert_int_equal(flushes(t.vm, CNT_FLUSH_ADDR), 1);
	assert_int_equal(refs_of_read(&t), 4);
	/* INVLPG of another page leaves the entry (but the PSCs go) */
	assert_int_equal(vcpu_invlpg(t.v, USER_LA + 0x200000), VCPU_OK);
	assert_int_equal(refs_of_read(&t), 0);
	/* a global page (G, CR4.PGE) survives MOV CR3; toggling PGE flushes it */
	vmt_wr(&t, vmt_entry(&t, USER_LA, 1), USER_PA | PTE_P | PTE_RW | PTE_US | PTE_A | PTE_G);
	assert_int_equal(vcpu_mov_cr4(t.v, CR4_PAE | CR4_PGE), VCPU_OK); /* PGE 0 -> 1: everything goes */
	assert_int_equal(flushes(t.vm, CNT_FLUSH_ALL), 1);
	assert_int_equal(refs_of_read(&t), 4);
	assert_int_equal(vcpu_mov_cr3(t.v, t.root), VCPU_OK);
	assert_int_equal(refs_of_read(&t), 0);
	assert_int_equal(vcpu_mov_cr4(t.v, CR4_PAE), VCPU_OK);
	assert_int_equal(flushes(t.vm, CNT_FLUSH_ALL), 2);
	assert_int_equal(refs_of_read(&t), 4);
	/* CR0 writes that keep PG flush nothing */
	assert_int_equal(vcpu_mov_cr0(t.v, CR0_PE | CR0_PG), VCPU_OK);
	assert_int_equal(refs_of_read(&t), 0);
	vm_destroy(t.vm);
}

static void test_pcid(void **state)
{
	struct vmt t;
	uint64_t pcid_flushes;

	(void)state;
	setup_4level(&t, 0);
	assert_int_equal(vcpu_mov_cr4(t.v, CR4_PAE | CR4_PCIDE), VCPU_OK);
	assert_int_equal(refs_of_read(&t), 4);                       /* fills PCID 0 */
	pcid_flushes = flushes(t.vm, CNT_FLUSH_PCID);
	assert_int_equal(vcpu_mov_cr3(t.v, t.root | 1), VCPU_OK);   /* flushes PCID 1 */
	assert_int_equal(flushes(t.vm, CNT_FLUSH_PCID), pcid_flushes + 1);
	assert_int_equal(vcpu_cpu(t.v)->regs.cr3, t.root | 1);
	assert_int_equal(refs_of_read(&t), 4);                       /* PCID 1 was empty */
	/* back to PCID 0 with the no-flush bit: not counted, not stored in CR3, entries kept */
	assert_int_equal(vcpu_mov_cr3(t.v, t.root | CR3_NOFLUSH), VCPU_OK);
	assert_int_equal(flushes(t.vm, CNT_FLUSH_PCID), pcid_flushes + 1);
	assert_int_equal(vcpu_cpu(t.v)->regs.cr3, t.root);
	assert_int_equal(refs_of_read(&t), 0);
	assert_int_equal(vcpu_mov_cr3(t.v, t.root | 1 | CR3_NOFLUSH), VCPU_OK);
	assert_int_equal(refs_of_read(&t), 0);
	/* INVPCID 1 of PCID 0 from PCID 1: PCID 1 keeps its entry, PCID 0 loses it */
	assert_int_equal(vcpu_invpcid(t.v, 1, 0, 0), VCPU_OK);
	assert_int_equal(refs_of_read(&t), 0);
	assert_int_equal(vcpu_mov_cr3(t.v, t.root | CR3_NOFLUSH), VCPU_OK);
	assert_int_equal(refs_of_read(&t), 4);
	/* INVPCID 0 (address, PCID 0): the TLB entry and the PSC entries for it */
	assert_int_equal(vcpu_invpcid(t.v, 0, 0, USER_LA), VCPU_OK);
	assert_int_equal(refs_of_read(&t), 4);
	/* INVPCID 2 and 3: all PCIDs */
	assert_int_equal(vcpu_invpcid(t.v, 3, 0, 0), VCPU_OK);
	assert_int_equal(refs_of_read(&t), 4);
	assert_int_equal(vcpu_invpcid(t.v, 2, 0, 0), VCPU_OK);
	assert_int_equal(refs_of_read(&t), 4);
	assert_int_equal(flushes(t.vm, CNT_FLUSH_ADDR), 1);
	assert_int_equal(flushes(t.vm, CNT_FLUSH_PCID), pcid_flushes + 2);
	assert_int_equal(flushes(t.vm, CNT_FLUSH_ALL), 1);
	assert_int_equal(flushes(t.vm, CNT_FLUSH_ALL_NONGLOBAL), 1);
	vm_destroy(t.vm);
}

static void expect_gp(struct vcpu *v, enum vcpu_status s)
{
	assert_int_equal(s, VCPU_FAULT);
	assert_int_equal(vcpu_last_fault(v)->kind, XO_GP);
}

static void test_gp(void **state)
{
	struct vmt t;
	struct cpu_regs before;

	(void)state;
	setup_4level(&t, 0);
	before = vcpu_cpu(t.v)->regs;
	/* INVPCID: type > 3; PCID != 0 with PCIDE = 0 (SDM Vol. 2A INVPCID) */
	expect_gp(t.v, vcpu_invpcid(t.v, 4, 0, 0));
	expect_gp(t.v, vcpu_invpcid(t.v, 1, 5, 0));
	/* MOV CR4: PCIDE with CR3[11:0] != 0 */
	assert_int_equal(vcpu_mov_cr3(t.v, t.root | CR3_PWT), VCPU_OK);
	expect_gp(t.v, vcpu_mov_cr4(t.v, CR4_PAE | CR4_PCIDE));
	assert_int_equal(vcpu_mov_cr3(t.v, t.root), VCPU_OK);
	/* changing LA57 or clearing PAE in IA-32e mode */
	expect_gp(t.v, vcpu_mov_cr4(t.v, CR4_PAE | CR4_LA57));
	expect_gp(t.v, vcpu_mov_cr4(t.v, 0));
	/* WRMSR EFER changing LME with paging on */
	expect_gp(t.v, vcpu_wrmsr_efer(t.v, EFER_NXE));
	/* CR0.PG cleared while PCIDE = 1 */
	assert_int_equal(vcpu_mov_cr4(t.v, CR4_PAE | CR4_PCIDE), VCPU_OK);
	expect_gp(t.v, vcpu_mov_cr0(t.v, CR0_PE));
	/* CR3 beyond MAXPHYADDR */
	expect_gp(t.v, vcpu_mov_cr3(t.v, UINT64_C(1) << 50));
	/* nothing changed but PCIDE */
	assert_int_equal(vcpu_cpu(t.v)->regs.cr3, before.cr3);
	assert_int_equal(vcpu_cpu(t.v)->regs.cr0, before.cr0);
	assert_int_equal(vcpu_cpu(t.v)->regs.efer, before.efer);
	assert_int_equal(vm_counters(t.vm)->guest_pf[L0], 0);
	vm_destroy(t.vm);
}

/* Disabling paging: CR0.PG 1 -> 0 flushes everything, EFER.LMA follows, accesses are physical. */
static void test_paging_off_again(void **state)
{
	struct vmt t;
	uint64_t v;

	(void)state;
	setup_4level(&t, 0);
	assert_int_equal(refs_of_read(&t), 4);
	assert_int_equal(vcpu_mov_cr0(t.v, CR0_PE), VCPU_OK);
	assert_int_equal(flushes(t.vm, CNT_FLUSH_ALL), 1);
	assert_false(vcpu_cpu(t.v)->regs.efer & EFER_LMA);
	assert_int_equal(cpu_paging_mode(&vcpu_cpu(t.v)->regs), PAGING_NONE);
	assert_int_equal(vcpu_read(t.v, t.root, 8, &v, NULL), VCPU_OK); /* physical */
	assert_true(v & PTE_P);
	vm_destroy(t.vm);
}

/* Each vCPU has its own TLB and registers. */
static void test_two_vcpus(void **state)
{
	struct vmt t;
	struct vcpu *v1;
	struct counters b, d;

	(void)state;
	vmt_init(&t, 2);
	vmt_map(&t, USER_LA, USER_PA, PTE_P | PTE_RW | PTE_US | PTE_A);
	v1 = vm_vcpu(t.vm, 1);
	assert_int_equal(vcpu_id(v1), 1);
	vmt_paging_on(&t, t.v, 0);
	vmt_paging_on(&t, v1, 0);
	assert_int_equal(refs_of_read(&t), 4);
	b = snap(t.vm);
	assert_int_equal(vcpu_touch(v1, USER_LA, ACCESS_READ, NULL), VCPU_OK); /* v1's TLB is cold */
	d = delta(t.vm, &b);
	assert_int_equal(d.walk_refs[L0][CNT_DIM_GUEST], 4);
	assert_int_equal(vcpu_invlpg(v1, USER_LA), VCPU_OK); /* only v1's entry goes */
	assert_int_equal(refs_of_read(&t), 0);
	/* an IPI natively: counted per target, no exit */
	assert_int_equal(vcpu_send_ipi(t.v, 1), VCPU_OK);
	assert_int_equal(vm_counters(t.vm)->ipis[L0], 1);
	assert_int_equal(counters_exits_sum(vm_counters(t.vm), -1, -1, -1), 0);
	assert_int_equal(vcpu_send_ipi(t.v, 2), VCPU_DEAD);
	vm_destroy(t.vm);
}

static void test_notes_and_hypercall(void **state)
{
	struct vmt t;
	uint64_t ret = 0;

	(void)state;
	vmt_init(&t, 1);
	vcpu_note(t.v, VCPU_NOTE_PT_ALLOC);
	vcpu_note(t.v, VCPU_NOTE_PT_ALLOC);
	vcpu_note(t.v, VCPU_NOTE_PT_FREE);
	vcpu_note(t.v, VCPU_NOTE_SHOOTDOWN);
	vcpu_retire(t.v, 10);
	assert_int_equal(vm_counters(t.vm)->pt_alloc[CNT_PT_GUEST_L0], 2);
	assert_int_equal(vm_counters(t.vm)->pt_free[CNT_PT_GUEST_L0], 1);
	assert_int_equal(vm_counters(t.vm)->pt_peak[CNT_PT_GUEST_L0], 2);
	assert_int_equal(vm_counters(t.vm)->shootdowns[L0], 1);
	/* natively nobody answers a hypercall */
	assert_int_equal(vcpu_hypercall(t.v, CNT_HC_OTHER, 1, 2, &ret), VCPU_OK);
	assert_int_equal(ret, ~UINT64_C(0));
	assert_int_equal(vm_counters(t.vm)->instructions[L0], 11);
	assert_int_equal(vm_counters(t.vm)->hypercalls[L0][CNT_HC_OTHER], 0);
	vm_destroy(t.vm);
}

static void test_config_errors(void **state)
{
	struct vm_config c;
	const char *err = NULL;

	(void)state;
	vm_config_default(&c);
	c.ram_bytes = 4095;
	assert_null(vm_create(&c, &err));
	assert_non_null(err);
	vm_config_default(&c);
	c.ncpus = 0;
	assert_null(vm_create(&c, &err));
	vm_config_default(&c);
	c.slot_order = 9;
	c.ram_bytes = (UINT64_C(2) << 20) + 4096;
	assert_null(vm_create(&c, &err));
	vm_config_default(&c);
	c.ram_bytes = UINT64_C(1) << 40; /* 1 TiB of guest RAM costs nothing up front */
	struct vm *vm = vm_create(&c, &err);
	assert_non_null(vm);
	assert_int_equal(memslots_backed_pages(vm_memslots(vm)), 0);
	vm_destroy(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paging_off_data),
		cmocka_unit_test(test_misaligned_kills),
		cmocka_unit_test(test_walk_and_tlb),
		cmocka_unit_test(test_mov_cr3_invlpg),
		cmocka_unit_test(test_pcid),
		cmocka_unit_test(test_gp),
		cmocka_unit_test(test_paging_off_again),
		cmocka_unit_test(test_two_vcpus),
		cmocka_unit_test(test_notes_and_hypercall),
		cmocka_unit_test(test_config_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
