/*
 * One TLB per logical processor (vcpu.h): in a nested run L2 vCPU i runs
 * on L1 vCPU i, and both use one TLB model, as on the hardware.
 *
 * The rules the expectations come from (not from the code):
 *  - Entries are tagged with the VPID (Intel, SDM Vol. 3C 29.1, 29.4.2)
 *    or ASID (AMD, APM Vol. 2 15.16); combined and guest-physical
 *    mappings also with the EP4TA (Vol. 3C 29.4.1). A lookup uses only
 *    entries of the current tags, so L1 (VPID/ASID 1) and L2 (2) do not
 *    see each other's entries, and switching between them drops nothing.
 *  - INVVPID single-context drops the linear and combined mappings of the
 *    VPID named, all PCIDs and EP4TAs (Vol. 2 INVVPID); INVEPT single-
 *    context the combined and guest-physical mappings of the EP4TA named,
 *    all VPIDs (Vol. 2 INVEPT); TLB_CONTROL 03h the entries of the ASID
 *    named (APM 15.16.1). Nothing else.
 *  - Capacity is one structure's: with a fully associative 4-entry TLB
 *    and LRU replacement, four other pages used after an entry evict it;
 *    three do not.
 *  - Counting (vcpu.h): each memory operation that finds its translation
 *    is one TLB lookup at the level of the code that made it; so the
 *    lookups counted at the levels add up to the TLB's own.
 *
 * Set-up: L0's TDP hypervisor runs an L1 VM whose OS is booted (4-level
 * paging, VPID/ASID 1); L1 runs L2 with TDP (l2-tdp-on-tdp: L0 runs L2
 * on EPT02/NPT02, VPID/ASID 2). L2's 4-level tables are written by the
 * test (paging off: linear = physical), then paging is turned on.
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
#define RESERVE  UINT64_C(16384)

#define LA_DATA  UINT64_C(0x40000000)
#define GPA_DATA UINT64_C(0x200000)
#define L1_PAGES 5 /* L1 data pages the tests use */

#define VPID_L1 1u /* L0 runs L1 with VPID/ASID 1, L2 with 2 (docs/nested.md) */
#define VPID_L2 2u

struct sfx {
	struct vm *vm1, *vm2;
	struct hv_tdp *l0;
	struct gos *l1_os;
	struct hv_nest *nest;
	struct vcpu *v1, *v2;
	struct counters *cnt;
	struct vmt t;
	uint64_t l1_la[L1_PAGES]; /* L1 kernel addresses of distinct pages */
};

/* A fully associative 4-entry TLB for every page size; no other structure. */
static void tiny_tlb(struct tlb_config *c)
{
	memset(c, 0, sizeof(*c));
	c->tlb[TLB_CLASS_4K] = (struct tlb_geom){ 1, 4 };
	c->repl = TLB_REPL_LRU;
	c->la57 = true;
}

static void up(struct sfx *x, enum cpu_vendor vendor, bool tiny)
{
	struct vm_config vc1, vc2;
	struct hv_tdp_config tc;
	struct gos_config gc;
	struct hv_nest_config nc;
	struct vcpu *cpus1[1];
	const char *err = NULL;
	uint64_t first, v;

	memset(x, 0, sizeof(*x));
	vm_config_default(&vc1);
	vc1.vendor = vendor;
	vc1.ram_bytes = L1_RAM;
	if (tiny) {
		tiny_tlb(&vc1.tlb);
		vc1.tlb_set = true;
	}
	x->vm1 = vm_create(&vc1, &err);
	if (!x->vm1)
		fail_msg("vm_create: %s", err);
	hv_tdp_config_default(&tc);
	x->l0 = hv_tdp_attach(x->vm1, &tc, &err);
	if (!x->l0)
		fail_msg("hv_tdp_attach: %s", err);
	x->v1 = vm_vcpu(x->vm1, 0);
	cpus1[0] = x->v1;
	gos_config_default(&gc);
	gc.mode = PAGING_4LEVEL;
	gc.ram_bytes = L1_RAM;
	x->l1_os = gos_boot(cpus1, 1, &gc, &err);
	if (!x->l1_os)
		fail_msg("gos_boot: %s", err ? err : "?");
	assert_int_equal(gos_reserve(x->l1_os, RESERVE, &first), GOS_OK);
	memset(&nc, 0, sizeof(nc));
	nc.kind = NEST_TDP_ON_TDP;
	nc.vm1 = x->vm1;
	nc.l0 = x->l0;
	nc.l1_kva_base = gos_kernel_va(x->l1_os, 0);
	nc.l1_first_gfn = first;
	nc.l1_npages = RESERVE;
	hv_tdp_config_default(&nc.l1);
	hv_shadow_config_default(&nc.l1_shadow);
	nc.ept02_max_level = 1;
	vm_config_default(&vc2);
	vc2.vendor = vendor;
	vc2.ram_bytes = L2_RAM;
	x->nest = hv_nest_create(&nc, &vc2, &err);
	if (!x->nest)
		fail_msg("hv_nest_create: %s", err ? err : "?");
	x->vm2 = hv_nest_l2(x->nest);
	x->v2 = vm_vcpu(x->vm2, 0);
	x->cnt = vm_counters(x->vm2);
	assert_ptr_equal(x->cnt, vm_counters(x->vm1));
	assert_ptr_equal(vcpu_tlb(x->v2), vcpu_tlb(x->v1)); /* one logical processor */

	x->t = (struct vmt){ .vm = x->vm2, .v = x->v2, .next_table = VMT_TABLES, .levels = 4 };
	vmt_map(&x->t, LA_DATA, GPA_DATA, PTE_P | PTE_RW);
	vmt_wr(&x->t, GPA_DATA, 0x2222);
	vmt_paging_on(&x->t, x->v2, 0);
	assert_int_equal(vm_level(x->vm2), 2);

	/* L1 pages in its direct map, 2 MiB apart, below what it reserved; each used once */
	for (unsigned i = 0; i < L1_PAGES; i++) {
		x->l1_la[i] = gos_kernel_va(x->l1_os, (UINT64_C(8) << 20) + ((uint64_t)i << 21));
		assert_int_equal(vcpu_read(x->v1, x->l1_la[i], 8, &v, NULL), VCPU_OK);
	}
}

static void down(struct sfx *x)
{
	hv_nest_destroy(x->nest);
	gos_destroy(x->l1_os);
	hv_tdp_detach(x->l0);
	vm_destroy(x->vm1);
}

static uint64_t rd2(struct sfx *x)
{
	uint64_t v = 0;

	assert_int_equal(vcpu_read(x->v2, LA_DATA, 8, &v, NULL), VCPU_OK);
	return v;
}

static void rd1(struct sfx *x, unsigned i)
{
	uint64_t v;

	assert_int_equal(vcpu_read(x->v1, x->l1_la[i], 8, &v, NULL), VCPU_OK);
}

static uint64_t lookups(const struct sfx *x, unsigned level)
{
	return x->cnt->tlb_hits[level][CNT_TLB_TLB] + x->cnt->tlb_misses[level][CNT_TLB_TLB];
}

/* TLB entries of one VPID/ASID (any PCID, kind, EP4TA). */
static unsigned entries_of(struct sfx *x, uint32_t vpid)
{
	const struct tlb_scope s = {
		.structs = TLB_S_TLB, .kinds = (1u << TLB_NKIND) - 1, .vpid_match = TLB_M_EQ, .vpid = vpid,
		.any_pcid = true, .any_root = true, .any_addr = true,
	};

	return tlb_count_scope(vcpu_tlb(x->v1), &s);
}

/* L2's translation of LA_DATA is in the TLB (looked up in L2's context, nothing counted). */
static bool l2_cached(struct sfx *x)
{
	return tlb_peek(vcpu_tlb(x->v2), LA_DATA) != NULL;
}

/* The next L2 read of LA_DATA is a TLB hit (true) or a miss, and reads its data. */
static bool l2_read_hits(struct sfx *x)
{
	uint64_t h = x->cnt->tlb_hits[CNT_L2][CNT_TLB_TLB], m = x->cnt->tlb_misses[CNT_L2][CNT_TLB_TLB];

	assert_int_equal(rd2(x), 0x2222);
	assert_int_equal(x->cnt->tlb_hits[CNT_L2][CNT_TLB_TLB] + x->cnt->tlb_misses[CNT_L2][CNT_TLB_TLB], h + m + 1);
	return x->cnt->tlb_hits[CNT_L2][CNT_TLB_TLB] == h + 1;
}

/* ---- tags and invalidation scopes ---- */

static void scopes(enum cpu_vendor vendor)
{
	struct sfx x;
	unsigned l1;

	up(&x, vendor, false);
	assert_int_equal(rd2(&x), 0x2222);
	assert_true(l2_cached(&x));
	assert_true(l2_read_hits(&x));
	/* L1 runs on the logical processor: its entries are added, L2's stays */
	for (unsigned i = 0; i < L1_PAGES; i++)
		rd1(&x, i);
	assert_true(entries_of(&x, VPID_L1) > 0);
	assert_true(l2_cached(&x));
	assert_true(l2_read_hits(&x));

	/* the flush of L1's VPID/ASID: every L1 entry, no L2 entry */
	if (vendor == CPU_INTEL)
		assert_int_equal(tlb_invvpid(vcpu_tlb(x.v1), 1, VPID_L1, 0), TLB_INSN_OK);
	else
		assert_true(tlb_svm_tlb_control(vcpu_tlb(x.v1), 3, VPID_L1));
	assert_int_equal(entries_of(&x, VPID_L1), 0);
	assert_true(l2_cached(&x));
	assert_true(l2_read_hits(&x));

	/* the flush of L2's: L2's entry goes, L1's (refilled) stay */
	for (unsigned i = 0; i < L1_PAGES; i++)
		rd1(&x, i);
	l1 = entries_of(&x, VPID_L1);
	assert_true(l1 > 0);
	if (vendor == CPU_INTEL)
		assert_int_equal(tlb_invvpid(vcpu_tlb(x.v2), 1, VPID_L2, 0), TLB_INSN_OK);
	else
		assert_true(tlb_svm_tlb_control(vcpu_tlb(x.v2), 3, VPID_L2));
	assert_int_equal(entries_of(&x, VPID_L2), 0);
	assert_int_equal(entries_of(&x, VPID_L1), l1);
	assert_false(l2_cached(&x));
	assert_false(l2_read_hits(&x));
	assert_true(l2_read_hits(&x)); /* refilled */
	down(&x);
}

static void test_scopes_intel(void **state)
{
	(void)state;
	scopes(CPU_INTEL);
}

static void test_scopes_amd(void **state)
{
	(void)state;
	scopes(CPU_AMD);
}

/* INVEPT single-context: the EP4TA named, whichever VPID; L1 runs on EPT01, L2 on EPT02. */
static void test_invept_scope(void **state)
{
	struct sfx x;
	uint64_t eptp01, eptp02;
	unsigned l1;

	(void)state;
	up(&x, CPU_INTEL, false);
	assert_int_equal(rd2(&x), 0x2222);
	for (unsigned i = 0; i < L1_PAGES; i++)
		rd1(&x, i);
	eptp01 = vcpu_hw(x.v1)->cfg.eptp;
	eptp02 = vcpu_hw(x.v2)->cfg.eptp;
	assert_true(((eptp01 ^ eptp02) & GENMASK64(51, 12)) != 0);
	l1 = entries_of(&x, VPID_L1);
	assert_true(l1 > 0);
	assert_int_equal(tlb_invept(vcpu_tlb(x.v2), 1, eptp02), TLB_INSN_OK);
	assert_false(l2_cached(&x));
	assert_int_equal(entries_of(&x, VPID_L1), l1);
	assert_false(l2_read_hits(&x));
	assert_int_equal(tlb_invept(vcpu_tlb(x.v1), 1, eptp01), TLB_INSN_OK);
	assert_int_equal(entries_of(&x, VPID_L1), 0);
	assert_true(l2_cached(&x));
	assert_true(l2_read_hits(&x));
	down(&x);
}

/* ---- capacity ---- */

static void test_capacity_shared(void **state)
{
	struct sfx x;

	(void)state;
	up(&x, CPU_INTEL, true);
	assert_int_equal(rd2(&x), 0x2222);
	assert_true(l2_read_hits(&x)); /* now L2's entry is the most recently used */
	/* three other pages after it: 4 ways hold them and it */
	for (unsigned i = 0; i < 3; i++)
		rd1(&x, i);
	assert_true(l2_cached(&x));
	assert_true(l2_read_hits(&x));
	/* four other pages after it: the LRU victim of the fourth fill is L2's entry */
	for (unsigned i = 0; i < 4; i++)
		rd1(&x, i + 1);
	assert_false(l2_cached(&x));
	assert_int_equal(entries_of(&x, VPID_L2), 0);
	assert_int_equal(entries_of(&x, VPID_L1), 4);
	assert_false(l2_read_hits(&x));
	down(&x);
}

/* ---- counting ---- */

static void counts(enum cpu_vendor vendor, bool tiny)
{
	struct sfx x;
	const struct tlb_stats *st;
	uint64_t l1, l2, walks = 0, refs = 0;

	up(&x, vendor, tiny);
	/* L2's and L1's accesses, interleaved, some exits (L2's first touches) among them */
	for (unsigned r = 0; r < 3; r++) {
		assert_int_equal(rd2(&x), 0x2222);
		for (unsigned i = 0; i < L1_PAGES; i++)
			rd1(&x, i);
	}
	l1 = lookups(&x, CNT_L1);
	l2 = lookups(&x, CNT_L2);
	/* each L1 read (its pages are mapped: no exit) is one lookup at level 1 */
	rd1(&x, 0);
	rd1(&x, 1);
	assert_int_equal(lookups(&x, CNT_L1), l1 + 2);
	assert_int_equal(lookups(&x, CNT_L2), l2);
	/* and an L2 read after the first (mapped) one lookup at level 2 */
	(void)rd2(&x);
	assert_int_equal(lookups(&x, CNT_L1), l1 + 2);
	assert_int_equal(lookups(&x, CNT_L2), l2 + 1);

	/* the levels add up to the TLB's own statistics (counters and TLB start together) */
	st = tlb_get_stats(vcpu_tlb(x.v1));
	assert_int_equal(lookups(&x, CNT_L0), 0);
	assert_int_equal(lookups(&x, CNT_L1) + lookups(&x, CNT_L2), st->tlb.hits + st->tlb.misses);
	for (unsigned l = 0; l < CNT_LEVELS; l++) {
		walks += x.cnt->walks[l];
		refs += x.cnt->walk_refs[l][CNT_DIM_GUEST] + x.cnt->walk_refs[l][CNT_DIM_NESTED];
	}
	assert_int_equal(walks, st->walks);
	assert_int_equal(refs, st->walk_refs);
	assert_true(x.cnt->walks[CNT_L2] > 0);
	down(&x);
}

static void test_counts_intel(void **state)
{
	(void)state;
	counts(CPU_INTEL, false);
}

static void test_counts_amd_tiny(void **state)
{
	(void)state;
	counts(CPU_AMD, true);
}

/* ---- lifetime: the TLB lives as long as a vCPU uses it, whichever goes first ---- */

static void test_lifetime(void **state)
{
	struct vm *vm = vmt_vm(1, CPU_INTEL);
	struct cpu reset;
	struct tlb_config tc;
	struct vcpu *a, *b;

	(void)state;
	vm_reset_state(vm, &reset);
	tlb_config_default(&tc);
	a = vcpu_create(vm, 0, &reset, &tc, NULL);
	assert_non_null(a);
	b = vcpu_create(vm, 0, &reset, &tc, a);
	assert_non_null(b);
	assert_ptr_equal(vcpu_tlb(a), vcpu_tlb(b));
	vcpu_destroy(a); /* the first user goes first */
	assert_int_equal(tlb_count_valid(vcpu_tlb(b), TLB_S_ALL), 0);
	tlb_set_vpid(vcpu_tlb(b), 2);
	assert_int_equal(tlb_get_vpid(vcpu_tlb(b)), 2);
	vcpu_destroy(b);
	vm_destroy(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scopes_intel),
		cmocka_unit_test(test_scopes_amd),
		cmocka_unit_test(test_invept_scope),
		cmocka_unit_test(test_capacity_shared),
		cmocka_unit_test(test_counts_intel),
		cmocka_unit_test(test_counts_amd_tiny),
		cmocka_unit_test(test_lifetime),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
