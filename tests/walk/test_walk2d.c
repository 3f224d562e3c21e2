/*
 * Directed tests of the two-dimensional walk: reference counts, fault
 * encodings at each dimension, vendor differences. Every expected value is
 * worked out by hand from the manuals in the comment beside it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "arch/walk2d.h"
#include "arch/x86.h"
#include "mem/hostmem.h"

#define MAXPHY 46
/* Guest-physical layout of the guest tables and the data page. */
#define G_TOP  0x1000u /* PML5 or PML4 */
#define G_DATA 0x9000u
/* Host-physical: guest memory lives at gpa + G2H under nesting. */
#define G2H    UINT64_C(0x10000000)
#define N_BASE UINT64_C(0x100000) /* nested tables, one page per level */

/* la indices: PML5 1, PML4 1, PDPT 2, PD 3, PT 4, offset 0x123 */
#define LA4 ((UINT64_C(1) << 39) | (UINT64_C(2) << 30) | (UINT64_C(3) << 21) | (UINT64_C(4) << 12) | 0x123)
#define LA5 (LA4 | (UINT64_C(1) << 48))

struct fixture {
	struct hostmem *hm;
	struct hw_config cfg;
	uint64_t g2h;  /* 0 without nesting */
};

static void put(struct fixture *f, uint64_t hpa, uint64_t v)
{
	assert_int_equal(hostmem_write64(f->hm, hpa, v), 0);
}

static uint64_t get(struct fixture *f, uint64_t hpa)
{
	uint64_t v;
	assert_int_equal(hostmem_read64(f->hm, hpa, &v), 0);
	return v;
}

/*
 * Guest 4/5-level tables for LA4/LA5: level L table at gpa G_TOP + (top-L)*0x1000,
 * all entries P|RW|US, leaf -> G_DATA.
 */
static void build_guest(struct fixture *f, unsigned levels, uint64_t flags)
{
	uint64_t la = levels == 5 ? LA5 : LA4;
	for (unsigned l = levels; l >= 1; l--) {
		uint64_t table = G_TOP + (uint64_t)(levels - l) * 0x1000;
		uint64_t next = l == 1 ? G_DATA : table + 0x1000;
		unsigned idx = (unsigned)((la >> (12 + 9 * (l - 1))) & 511);
		put(f, table + f->g2h + idx * 8, next | flags);
	}
}

/* Nested tables mapping gpa [0, 2 MiB) -> gpa + G2H with 4 KiB pages. */
static void build_nested(struct fixture *f, unsigned levels, uint64_t nonleaf, uint64_t leaf)
{
	for (unsigned l = levels; l >= 2; l--) {
		uint64_t table = N_BASE + (uint64_t)(levels - l) * 0x1000;
		put(f, table, (table + 0x1000) | nonleaf); /* index 0 at every level */
	}
	uint64_t pt = N_BASE + (uint64_t)(levels - 1) * 0x1000;
	for (unsigned i = 0; i < 16; i++)
		put(f, pt + i * 8, (G2H + i * 0x1000) | leaf);
}

static void setup_cpu(struct fixture *f, enum cpu_vendor v, unsigned levels)
{
	struct cpu *c = &f->cfg.cpu;
	c->vendor = v;
	c->maxphyaddr = MAXPHY;
	c->feat = (struct cpu_features){ .gbpages = true, .la57 = true, .pku = true, .smep = true, .smap = true };
	c->regs.cr0 = CR0_PE | CR0_PG | CR0_WP;
	c->regs.cr4 = CR4_PAE | (levels == 5 ? CR4_LA57 : 0);
	c->regs.efer = EFER_LME | EFER_LMA | EFER_NXE;
	c->regs.cr3 = G_TOP;
	c->regs.cpl = 3;
	c->regs.rflags = 2;
}

static int fx_setup(void **state)
{
	static struct fixture f;
	f = (struct fixture){ .hm = hostmem_create(UINT64_C(1) << MAXPHY) };
	f.cfg.mem = hostmem_port(f.hm);
	f.cfg.ept_caps = (struct ept_caps){ .xonly = true, .walk5 = true, .ad = true, .gb1 = true, .mbec = false };
	*state = &f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fixture *f = *state;
	hostmem_destroy(f->hm);
	return 0;
}

static void run(struct fixture *f, uint64_t la, enum access_type t, struct xlate_result *r)
{
	struct hw_mmu m;
	assert_null(hw_config_invalid(&f->cfg));
	assert_true(hw_mmu_init(&m, &f->cfg, r));
	hw_translate(&m, la, t, false, r, NULL);
}

static void ept_setup(struct fixture *f, unsigned glevels, unsigned nlevels, bool ad)
{
	setup_cpu(f, CPU_INTEL, glevels);
	f->g2h = G2H;
	f->cfg.nested = NESTED_EPT;
	/* EPTP: WB (6), walk length - 1 in bits 5:3, A/D in bit 6 */
	f->cfg.eptp = N_BASE | MT_WB | ((uint64_t)(nlevels - 1) << 3) | (ad ? EPTP_AD : 0);
	build_guest(f, glevels, PTE_P | PTE_RW | PTE_US);
	build_nested(f, nlevels, EPT_R | EPT_W | EPT_X, EPT_R | EPT_W | EPT_X | ((uint64_t)MT_WB << 3));
}

/* (n+1)(m+1)-1 references for an n-level guest under an m-level nested table. */
static void test_refs_4x4_5x5(void **state)
{
	struct fixture *f = *state;
	struct xlate_result r;

	ept_setup(f, 4, 4, false);
	run(f, LA4, ACCESS_READ, &r);
	assert_int_equal(r.outcome, XO_OK);
	assert_int_equal(r.refs, 24);
	assert_int_equal(r.gpa, G_DATA + 0x123);
	assert_int_equal(r.hpa, G2H + G_DATA + 0x123);

	ept_setup(f, 5, 5, false);
	run(f, LA5, ACCESS_READ, &r);
	assert_int_equal(r.outcome, XO_OK);
	assert_int_equal(r.refs, 35);

	ept_setup(f, 4, 5, false);
	run(f, LA4, ACCESS_READ, &r);
	assert_int_equal(r.refs, 29); /* (4+1)(5+1)-1 */
}

/* SDM 4.8: A on every entry used, D on the leaf for a write. */
static void test_guest_ad(void **state)
{
	struct fixture *f = *state;
	struct xlate_result r;
	uint64_t pte_hpa = G_TOP + 3 * 0x1000 + G2H + 4 * 8;

	ept_setup(f, 4, 4, false);
	run(f, LA4, ACCESS_READ, &r);
	assert_int_equal(get(f, pte_hpa), G_DATA | PTE_P | PTE_RW | PTE_US | PTE_A);
	assert_int_equal(get(f, G_TOP + G2H + 8), (G_TOP + 0x1000) | PTE_P | PTE_RW | PTE_US | PTE_A);
	run(f, LA4, ACCESS_WRITE, &r);
	assert_int_equal(r.outcome, XO_OK);
	assert_int_equal(get(f, pte_hpa), G_DATA | PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D);
}

/*
 * Guest PT page not present in EPT: the read of the PTE (gpa of the PTE
 * entry) faults. SDM Table 28-7: bit 0 (read), bits 3-5 = 0 (not present),
 * bit 7 (linear address valid), bit 8 clear (paging-structure access).
 * With EPT A/D the access is also a write (bit 1).
 */
static void test_ept_violation_on_table(void **state)
{
	struct fixture *f = *state;
	struct xlate_result r;
	uint64_t pt_gpa = G_TOP + 3 * 0x1000;
	uint64_t ept_pt = N_BASE + 3 * 0x1000;

	for (int ad = 0; ad <= 1; ad++) {
		ept_setup(f, 4, 4, ad);
		put(f, ept_pt + (pt_gpa >> 12) * 8, 0);
		run(f, LA4, ACCESS_FETCH, &r);
		assert_int_equal(r.outcome, XO_EPT_VIOLATION);
		assert_int_equal(r.qualification, EPTQ_READ | (ad ? EPTQ_WRITE : 0) | EPTQ_GLA_VALID);
		assert_int_equal(r.fault_gpa, pt_gpa + 4 * 8);
		assert_true(r.gla_valid);
		assert_int_equal(r.gla, LA4);
	}
}

/*
 * Guest PT page read-only in EPT, A/D off: the read succeeds, but setting
 * the PTE's A flag is a write: violation with R|W, readable, bit 8 clear.
 */
static void test_ept_ad_update_on_readonly_table(void **state)
{
	struct fixture *f = *state;
	struct xlate_result r;
	uint64_t pt_gpa = G_TOP + 3 * 0x1000;
	uint64_t ept_pt = N_BASE + 3 * 0x1000;
	uint64_t pte_hpa = pt_gpa + G2H + 4 * 8;

	ept_setup(f, 4, 4, false);
	put(f, ept_pt + (pt_gpa >> 12) * 8, (G2H + pt_gpa) | EPT_R | EPT_X | ((uint64_t)MT_WB << 3));
	run(f, LA4, ACCESS_READ, &r);
	assert_int_equal(r.outcome, XO_EPT_VIOLATION);
	assert_int_equal(r.qualification, EPTQ_READ | EPTQ_WRITE | EPTQ_READABLE | EPTQ_EXECUTABLE | EPTQ_GLA_VALID);
	assert_int_equal(r.fault_gpa, pt_gpa + 4 * 8);
	/* all or nothing: no guest A flag written */
	assert_int_equal(get(f, pte_hpa) & PTE_A, 0);
	assert_int_equal(get(f, G_TOP + G2H + 8) & PTE_A, 0);

	/* With the A flag already set, a read needs no write: allowed. */
	put(f, pte_hpa, G_DATA | PTE_P | PTE_RW | PTE_US | PTE_A);
	run(f, LA4, ACCESS_READ, &r);
	assert_int_equal(r.outcome, XO_OK);
}

/* The final gpa: write to a read-only EPT page: bit 8 set, R|X allowed. */
static void test_ept_violation_final(void **state)
{
	struct fixture *f = *state;
	struct xlate_result r;

	ept_setup(f, 4, 4, true);
	put(f, N_BASE + 3 * 0x1000 + (G_DATA >> 12) * 8, (G2H + G_DATA) | EPT_R | EPT_X | ((uint64_t)MT_WB << 3));
	run(f, LA4, ACCESS_WRITE, &r);
	assert_int_equal(r.outcome, XO_EPT_VIOLATION);
	assert_int_equal(r.qualification,
			 EPTQ_WRITE | EPTQ_READABLE | EPTQ_EXECUTABLE | EPTQ_GLA_VALID | EPTQ_FINAL);
	assert_int_equal(r.fault_gpa, G_DATA + 0x123);
}

/* Write-only EPT entry is a misconfiguration (SDM 29.3.3.1), reported with the gpa. */
static void test_ept_misconfig(void **state)
{
	struct fixture *f = *state;
	struct xlate_result r;

	ept_setup(f, 4, 4, false);
	put(f, N_BASE + 3 * 0x1000 + (G_DATA >> 12) * 8, (G2H + G_DATA) | EPT_W);
	run(f, LA4, ACCESS_READ, &r);
	assert_int_equal(r.outcome, XO_EPT_MISCONFIG);
	assert_int_equal(r.fault_gpa, G_DATA + 0x123);
}

/*
 * NPT: guest PDPT page not present in the nested table. APM 15.25.6:
 * EXITINFO1 = U (nested accesses are user) | W (guest table accesses are
 * writes) | bit 33 (guest page-table access), P clear; EXITINFO2 = gpa.
 */
static void test_npt_fault_on_table(void **state)
{
	struct fixture *f = *state;
	struct xlate_result r;
	uint64_t pdpt_gpa = G_TOP + 0x1000;

	setup_cpu(f, CPU_AMD, 4);
	f->g2h = G2H;
	f->cfg.nested = NESTED_NPT;
	f->cfg.ncr3 = N_BASE;
	f->cfg.ncr4 = CR4_PAE;
	f->cfg.nefer = EFER_LME | EFER_LMA | EFER_NXE;
	build_guest(f, 4, PTE_P | PTE_RW | PTE_US);
	build_nested(f, 4, PTE_P | PTE_RW | PTE_US, PTE_P | PTE_RW | PTE_US);
	run(f, LA4, ACCESS_READ, &r);
	assert_int_equal(r.outcome, XO_OK);
	assert_int_equal(r.refs, 24);

	put(f, N_BASE + 3 * 0x1000 + (pdpt_gpa >> 12) * 8, 0);
	run(f, LA4, ACCESS_READ, &r);
	assert_int_equal(r.outcome, XO_NPF);
	assert_int_equal(r.exitinfo1, NPF_U | NPF_W | NPF_GUEST_PT);
	assert_int_equal(r.exitinfo2, pdpt_gpa + 2 * 8);

	/* A supervisor-only nested leaf: present, U violation on the final gpa. */
	put(f, N_BASE + 3 * 0x1000 + (pdpt_gpa >> 12) * 8, (G2H + pdpt_gpa) | PTE_P | PTE_RW | PTE_US);
	put(f, N_BASE + 3 * 0x1000 + (G_DATA >> 12) * 8, (G2H + G_DATA) | PTE_P | PTE_RW);
	run(f, LA4, ACCESS_FETCH, &r);
	assert_int_equal(r.outcome, XO_NPF);
	/* fetch with host EFER.NXE: I/D set */
	assert_int_equal(r.exitinfo1, NPF_P | NPF_U | NPF_ID | NPF_FINAL);
	assert_int_equal(r.exitinfo2, G_DATA + 0x123);
}

/* SDM 4.3: a 4 MiB page with PSE-36: address bits 39:32 from PDE bits 20:13. */
static void test_32bit_pse36(void **state)
{
	struct fixture *f = *state;
	struct xlate_result r;
	struct hw_mmu m;
	uint64_t la = 0x00c01234; /* PDE index 3 */

	f->cfg = (struct hw_config){ .mem = hostmem_port(f->hm) };
	f->cfg.cpu.maxphyaddr = 40;
	f->cfg.cpu.regs.cr0 = CR0_PE | CR0_PG;
	f->cfg.cpu.regs.cr4 = CR4_PSE;
	f->cfg.cpu.regs.cr3 = 0x2000;
	/* 4 MiB page at 0x21_0040_0000: bits 31:22 = 0x001, bits 39:32 = 0x21 */
	put(f, 0x2000, 0); /* entries 0,1 */
	put(f, 0x2008, (UINT64_C(0x00400000) | (0x21u << 13) | PTE_P | PTE_RW | PTE_PS) << 32);
	assert_null(hw_config_invalid(&f->cfg));
	assert_true(hw_mmu_init(&m, &f->cfg, &r));
	hw_translate(&m, la, ACCESS_WRITE, false, &r, NULL);
	assert_int_equal(r.outcome, XO_OK);
	assert_int_equal(r.hpa, UINT64_C(0x2100400000) | 0x001234);
	assert_int_equal(r.page_size, PAGE_SIZE_4M);
	assert_int_equal(r.refs, 1);

	/* MAXPHYADDR 36: PDE bits 20:17 are reserved (20:(M-19)). */
	f->cfg.cpu.maxphyaddr = 36;
	assert_true(hw_mmu_init(&m, &f->cfg, &r));
	hw_translate(&m, la, ACCESS_READ, false, &r, NULL);
	assert_int_equal(r.outcome, XO_PAGE_FAULT);
	assert_int_equal(r.error_code, PFEC_P | PFEC_RSVD);
	assert_int_equal(r.cr2, la);
}

/*
 * PAE: a present PDPTE with a reserved bit fails at load on Intel (and on
 * AMD without nested paging); under NPT AMD reads it during the walk and
 * the guest takes #PF with P|RSVD.
 */
static void test_pae_pdpte_vendors(void **state)
{
	struct fixture *f = *state;
	struct xlate_result r;
	struct hw_mmu m;

	f->cfg = (struct hw_config){ .mem = hostmem_port(f->hm) };
	f->cfg.cpu.vendor = CPU_INTEL;
	f->cfg.cpu.maxphyaddr = MAXPHY;
	f->cfg.cpu.regs.cr0 = CR0_PE | CR0_PG;
	f->cfg.cpu.regs.cr4 = CR4_PAE;
	f->cfg.cpu.regs.cr3 = 0x3000;
	put(f, 0x3000, 0x4000 | PTE_P | PTE_RW); /* bit 1 reserved in a PAE PDPTE */
	assert_false(hw_mmu_init(&m, &f->cfg, &r));
	assert_int_equal(r.outcome, XO_VMENTRY_FAIL);

	f->cfg.cpu.vendor = CPU_AMD;
	f->cfg.nested = NESTED_NPT;
	f->cfg.ncr3 = N_BASE;
	f->cfg.ncr4 = CR4_PAE;
	f->cfg.nefer = EFER_LME | EFER_LMA | EFER_NXE;
	f->g2h = 0;
	/* identity nested map of the low 2 MiB */
	put(f, N_BASE, (N_BASE + 0x1000) | PTE_P | PTE_RW | PTE_US);
	put(f, N_BASE + 0x1000, (N_BASE + 0x2000) | PTE_P | PTE_RW | PTE_US);
	put(f, N_BASE + 0x2000, 0 | PTE_P | PTE_RW | PTE_US | PTE_PS);
	assert_null(hw_config_invalid(&f->cfg));
	assert_true(hw_mmu_init(&m, &f->cfg, &r));
	hw_translate(&m, 0x1000, ACCESS_READ, false, &r, NULL);
	assert_int_equal(r.outcome, XO_PAGE_FAULT);
	assert_int_equal(r.error_code, PFEC_P | PFEC_RSVD);
}

static void test_noncanonical_gp(void **state)
{
	struct fixture *f = *state;
	struct xlate_result r;

	ept_setup(f, 4, 4, false);
	run(f, UINT64_C(0x0000800000000000), ACCESS_READ, &r);
	assert_int_equal(r.outcome, XO_GP);
	assert_int_equal(r.refs, 0);
	ept_setup(f, 5, 4, false);
	run(f, UINT64_C(0x0000800000000000), ACCESS_READ, &r); /* canonical with LA57 */
	assert_int_not_equal(r.outcome, XO_GP);
	run(f, UINT64_C(0x0100000000000000), ACCESS_READ, &r);
	assert_int_equal(r.outcome, XO_GP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refs_4x4_5x5, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_guest_ad, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_ept_violation_on_table, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_ept_ad_update_on_readonly_table, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_ept_violation_final, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_ept_misconfig, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_npt_fault_on_table, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_32bit_pse36, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_pae_pdpte_vendors, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_noncanonical_gp, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
