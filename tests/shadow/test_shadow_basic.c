/*
 * The shadow MMU's fault path in every guest paging mode, checked access by
 * access against the hardware walker over the guest's own tables (see
 * harness.h): outcome (frame or exact #PF), guest A/D bits, and the shadow
 * tables never granting more than the guest's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <cmocka.h>

#include "shadow/harness.h"

#define USER_BASE UINT64_C(0x40000000) /* 1 GiB: its own PDPTE / PDEs in every mode */

static const enum access_type types[3] = { ACCESS_READ, ACCESS_WRITE, ACCESS_FETCH };

/* All accesses (3 types x cpl 0/3, and an implicit read) to each gva, twice. */
static void sweep(struct env *e, const uint64_t *gvas, unsigned n)
{
	for (unsigned round = 0; round < 2; round++) {
		for (unsigned i = 0; i < n; i++) {
			for (unsigned k = 0; k < 3; k++) {
				env_access(e, gvas[i], types[k], 0, false, 8, 0, NULL);
				env_access(e, gvas[i], types[k], 3, false, 8, 0, NULL);
			}
			env_access(e, gvas[i], ACCESS_READ, 3, true, 8, 0, NULL);
		}
		env_check_subset(e, gvas, n);
	}
}

/* ---- 4-level: the first faults, A/D exactness ---- */

static void test_4level_first_faults(void **state)
{
	struct env e;
	struct env_opts o = { .mode = PAGING_4LEVEL, .nxe = true, .dm_large = true };
	uint64_t va = USER_BASE, pa = DATA_BASE, leaf;
	struct xs x;

	(void)state;
	env_init(&e, &o);
	leaf = g_map(&e, e.kroot, va, pa, 1, PTE_P | PTE_RW | PTE_US, PTE_P | PTE_RW | PTE_US, false);

	/* A read: A set on every level, D not; the shadow leaf is read-only. */
	env_read(&e, va + 0x10, 3, &x);
	assert_int_equal(x.outcome, XO_OK);
	assert_int_equal(x.gpa, pa + 0x10);
	assert_true(g_ref_get(&e, leaf) & PTE_A);
	assert_false(g_ref_get(&e, leaf) & PTE_D);
	uint64_t fixed = e.fixed;
	env_read(&e, va, 3, &x);
	assert_int_equal(e.fixed, fixed); /* no fault: the shadow leaf exists */
	/* The first write faults (the shadow leaf is read-only until D is set) and sets D. */
	env_access(&e, va, ACCESS_WRITE, 3, false, 8, 0, &x);
	assert_int_equal(x.outcome, XO_OK);
	assert_int_equal(e.fixed, fixed + 1);
	assert_true(g_ref_get(&e, leaf) & PTE_D);
	/* Now writable: no further fault. */
	env_access(&e, va, ACCESS_WRITE, 3, false, 8, 0, &x);
	assert_int_equal(e.fixed, fixed + 1);
	/* Not mapped: #PF with the walker's error code (user read of a not-present page: U). */
	env_read(&e, va + PAGE_SIZE_4K, 3, &x);
	assert_int_equal(x.outcome, XO_PAGE_FAULT);
	assert_int_equal(x.ec, PFEC_U);
	/* Non-canonical: #GP on both sides. */
	env_read(&e, UINT64_C(0x0000800000000000), 0, &x);
	assert_int_equal(x.outcome, XO_GP);
	assert_true(e.cnt.spt_faults[CNT_L0] >= 2);
	assert_true(e.cnt.pt_alloc[CNT_PT_SHADOW_L0] >= 4);
	assert_true(e.cnt.sw_walks[CNT_L0] > 0);
	env_check_tables(&e);
	env_fini(&e);
}

/* ---- the flag matrix in every mode ---- */

struct matrix {
	uint64_t gvas[256];
	unsigned n;
};

static bool has_nx(const struct env *e)
{
	return e->o.mode != PAGING_32 && e->o.nxe;
}

/*
 * For each combination of the PDE's rights (R/W, U/S, XD) and the leaf's
 * (R/W, U/S, XD, preset A/D, not present, a reserved bit, a protection
 * key), one 4 KiB page in its own PDE; plus large pages (2/4 MiB, and
 * 1 GiB in IA-32e) with the same leaf combinations.
 */
static void build_matrix(struct env *e, struct matrix *m)
{
	bool ia32e = e->o.mode == PAGING_4LEVEL || e->o.mode == PAGING_5LEVEL;
	uint64_t pa = DATA_BASE;
	uint64_t rsvd_leaf = e->o.mode == PAGING_32 ? 0 : BIT64(51);
	unsigned pde_combos = has_nx(e) ? 8 : 4, leaf_combos = 16;

	m->n = 0;
	/* The tables above the PDs grant everything (a page in the last PDE makes them). */
	(void)g_map(e, e->kroot, USER_BASE + UINT64_C(0x3fe00000), pa, 1, PTE_P, PTE_P | PTE_RW | PTE_US, false);
	for (unsigned p = 0; p < pde_combos; p++) {
		uint64_t tflags = PTE_P | ((p & 1) ? PTE_RW : 0) | ((p & 2) ? PTE_US : 0) | ((p & 4) ? PTE_XD : 0);

		for (unsigned l = 0; l < leaf_combos; l++) {
			uint64_t va = USER_BASE + ((uint64_t)p << 22) + ((uint64_t)l << 12);
			uint64_t leaf = PTE_P | ((l & 1) ? PTE_RW : 0) | ((l & 2) ? PTE_US : 0);

			if ((l & 4) && has_nx(e))
				leaf |= PTE_XD;
			if (l & 8)
				leaf |= PTE_A | PTE_D;
			if (l == 12)
				leaf &= ~PTE_P;
			if (l == 13 && rsvd_leaf)
				leaf |= rsvd_leaf;
			if (ia32e && l >= 14)
				leaf |= (uint64_t)(l - 13) << PTE_PKEY_SHIFT;
			/* The PDE's rights come with the first leaf under it. */
			(void)g_map(e, e->kroot, va, pa, 1, leaf, tflags, false);
			m->gvas[m->n++] = va + 0x18;
			pa += PAGE_SIZE_4K;
		}
	}
	/* Large pages: 2 MiB (4 MiB for 32-bit paging, if PSE). */
	if (e->o.mode != PAGING_32 || e->o.pse) {
		uint64_t size = e->o.mode == PAGING_32 ? PAGE_SIZE_4M : PAGE_SIZE_2M;
		uint64_t base = USER_BASE + (UINT64_C(1) << 29);

		pa = DATA_BASE + UINT64_C(0x04000000);
		for (unsigned l = 0; l < 8; l++) {
			uint64_t leaf = PTE_P | ((l & 1) ? PTE_RW : 0) | ((l & 2) ? PTE_US : 0) |
					(((l & 4) && has_nx(e)) ? PTE_XD : 0);

			if (l == 4 && !has_nx(e))
				leaf |= PTE_A | PTE_D;
			(void)g_map(e, e->kroot, base + l * size, pa + l * size, 2, leaf,
				    PTE_P | PTE_RW | PTE_US, false);
			m->gvas[m->n++] = base + l * size + 0x1238;
			m->gvas[m->n++] = base + l * size + size - 0x1000 + 0x40;
		}
		if (e->o.mode == PAGING_32) {
			/* PSE-36 reserved bit 21 in a 4 MiB PDE. */
			(void)g_map(e, e->kroot, base + 8 * size, pa + 8 * size, 2, PTE_P | PTE_US | BIT64(21),
				    0, false);
			m->gvas[m->n++] = base + 8 * size + 0x10;
		}
	}
	if (ia32e) {
		/* 1 GiB pages at 2 GiB and 3 GiB (gpa 1 GiB, 2 GiB). */
		(void)g_map(e, e->kroot, UINT64_C(0x80000000), UINT64_C(0x40000000), 3,
			    PTE_P | PTE_RW | PTE_US, 0, false);
		(void)g_map(e, e->kroot, UINT64_C(0xc0000000), UINT64_C(0x80000000), 3,
			    PTE_P | PTE_US | PTE_A | PTE_D | (has_nx(e) ? PTE_XD : 0), 0, false);
		m->gvas[m->n++] = UINT64_C(0x80000000) + 0x3456789;
		m->gvas[m->n++] = UINT64_C(0x80000000) + 0x3457789;
		m->gvas[m->n++] = UINT64_C(0xc0000000) + 0x20000010;
	}
	/* The direct map (supervisor) and an unmapped address. */
	m->gvas[m->n++] = e->dm_base + DATA_BASE - PAGE_SIZE_4K;
	m->gvas[m->n++] = e->dm_base + PT_BASE + 0xff8; /* an unused root entry: writes store 0 */
	m->gvas[m->n++] = USER_BASE - PAGE_SIZE_4K;
}

static void run_matrix(struct env *e)
{
	struct matrix m;
	uint64_t cr0 = e->cpu.regs.cr0, cr4 = e->cpu.regs.cr4, efer = e->cpu.regs.efer;
	bool ia32e = e->o.mode == PAGING_4LEVEL || e->o.mode == PAGING_5LEVEL;

	build_matrix(e, &m);
	env_load_cr3(e, e->kroot, true); /* PAE: new PDPTEs take effect at MOV CR3 */
	for (unsigned c = 0; c < 16; c++) {
		uint64_t ncr0 = (c & 1) ? cr0 & ~CR0_WP : cr0;
		uint64_t ncr4 = cr4 | ((c & 2) ? CR4_SMEP : 0) | ((c & 4) ? CR4_SMAP : 0);

		if ((c & 8) && ia32e)
			ncr4 |= CR4_PKE;
		env_set_ctl(e, ncr0, ncr4, efer);
		e->cpu.regs.rflags = (c & 8) ? RFLAGS_AC : 0;
		e->cpu.regs.pkru = (c & 8) ? 0x24 : 0; /* key 1: WD; key 2: AD */
		sweep(e, m.gvas, m.n);
	}
	env_check_tables(e);
}

static void matrix_mode(enum paging_mode mode, enum cpu_vendor v, bool pse, bool nxe, bool dm_large,
			bool unsync)
{
	struct env e;
	struct env_opts o = { .mode = mode, .vendor = v, .pse = pse, .nxe = nxe, .dm_large = dm_large,
			      .unsync = unsync, .root_cache = 3 };

	env_init(&e, &o);
	run_matrix(&e);
	assert_true(e.injected > 0);
	assert_true(e.fixed > 0);
	print_message("  %s%s%s: %" PRIu64 " accesses, %" PRIu64 " shadow faults fixed, %" PRIu64
		      " injected, %" PRIu64 " emulated, %" PRIu64 " shadow pages\n",
		      paging_mode_name(mode), pse ? " pse" : "", nxe ? " nx" : "", e.ops, e.fixed, e.injected,
		      e.emulated, counters_pt_live(&e.cnt, CNT_PT_SHADOW_L0));
	env_fini(&e);
}

static void test_matrix_32(void **state)
{
	(void)state;
	matrix_mode(PAGING_32, CPU_INTEL, false, false, false, false);
	matrix_mode(PAGING_32, CPU_INTEL, true, false, true, false);
	matrix_mode(PAGING_32, CPU_AMD, true, false, true, true);
}

static void test_matrix_pae(void **state)
{
	(void)state;
	matrix_mode(PAGING_PAE, CPU_INTEL, false, false, false, false);
	matrix_mode(PAGING_PAE, CPU_INTEL, false, true, true, false);
	matrix_mode(PAGING_PAE, CPU_AMD, false, true, true, true);
}

static void test_matrix_4level(void **state)
{
	(void)state;
	matrix_mode(PAGING_4LEVEL, CPU_INTEL, false, true, true, false);
	matrix_mode(PAGING_4LEVEL, CPU_INTEL, false, false, false, false);
	matrix_mode(PAGING_4LEVEL, CPU_AMD, false, true, false, true);
}

static void test_matrix_5level(void **state)
{
	(void)state;
	matrix_mode(PAGING_5LEVEL, CPU_INTEL, false, true, true, false);
	matrix_mode(PAGING_5LEVEL, CPU_AMD, false, true, false, true);
}

/* Paging off: the shadow tables are a direct map of guest-physical memory. */
static void test_paging_off(void **state)
{
	struct env e;
	struct env_opts o = { .mode = PAGING_NONE };
	uint64_t gvas[] = { 0, 0x1234, DATA_BASE + 0x777, UINT64_C(0x40000000) + 8, UINT64_C(0xfffff000) };
	struct xs x;

	(void)state;
	env_init(&e, &o);
	sweep(&e, gvas, 5);
	env_read(&e, DATA_BASE + 0x20, 0, &x);
	assert_int_equal(x.outcome, XO_OK);
	assert_int_equal(x.hpa, env_frame(&e, DATA_BASE + 0x20));
	/* A tracked frame is mapped read-only; writes to it are emulated. */
	assert_int_equal(shadow_track_write(e.s, DATA_BASE >> 12), 0);
	uint64_t em = e.emulated;
	env_access(&e, DATA_BASE + 8, ACCESS_WRITE, 0, false, 8, 0x55, &x);
	assert_int_equal(x.outcome, XO_OK);
	assert_int_equal(e.emulated, em + 1);
	env_read(&e, DATA_BASE + 8, 0, &x);
	assert_int_equal(e.emulated, em + 1);
	assert_int_equal(shadow_untrack_write(e.s, DATA_BASE >> 12), 0);
	assert_int_equal(shadow_untrack_write(e.s, DATA_BASE >> 12), -1);
	env_access(&e, DATA_BASE + 8, ACCESS_WRITE, 0, false, 8, 0x55, &x);
	assert_int_equal(e.emulated, em + 1); /* writable again after one fault */
	env_fini(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_4level_first_faults),
		cmocka_unit_test(test_paging_off),
		cmocka_unit_test(test_matrix_4level),
		cmocka_unit_test(test_matrix_5level),
		cmocka_unit_test(test_matrix_pae),
		cmocka_unit_test(test_matrix_32),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
