/*
 * The shadow MMU serving several vCPUs (SMP): each vCPU with its own CR3
 * (or the same one), its own registers and PAE PDPTE registers, all on the
 * shared shadow pages. Every access is checked by the harness against the
 * hardware walker over the guest's own tables with that vCPU's registers
 * (its reference context); the pending-flush rules are checked on what the
 * hardware walk of the shadow tables grants.
 *
 *   - every paging mode: each vCPU's hardware view equals its guest walk,
 *     with different CR3s, the same CR3, and a page table shared between
 *     two address spaces;
 *   - a guest write on vCPU 0 to a page table vCPU 1 uses (shared, or only
 *     vCPU 1's) sets vCPU 1's pending flush; its translation is right at
 *     its next entry; a root switch on vCPU 0 concerns vCPU 0 only;
 *   - a root of vCPU 1 zapped (zap all, write flooding, the cap) while
 *     vCPU 0 is selected: vCPU 1 flushes and runs on a fresh root;
 *   - PAE: each vCPU keeps the PDPTEs of its own last MOV CR3;
 *   - INVLPG with unsync pages of two roles: each vCPU's own INVLPG;
 *   - vCPU selection out of range, nvcpus limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "shadow/harness.h"

#define UBASE UINT64_C(0x40000000)
#define NG 6

static const enum access_type types[3] = { ACCESS_READ, ACCESS_WRITE, ACCESS_FETCH };

static uint64_t gva_of(unsigned i)
{
	/* 0..3 in one guest page table, 4 and 5 in others */
	return i < 4 ? UBASE + (uint64_t)i * PAGE_SIZE_4K * 5 : UBASE + (uint64_t)(i - 3) * PAGE_SIZE_4M * 2;
}

/* Makes dst's page table for gva the one src uses (the PDE copied). */
static void share_pt(struct env *e, uint64_t src, uint64_t dst, uint64_t gva)
{
	(void)g_map(e, dst, gva, DATA_BASE, 1, PTE_P, PTE_P | PTE_RW | PTE_US, false); /* the path */
	g_boot_put(e, g_entry_gpa(e, dst, gva, 2), g_ref_get(e, g_entry_gpa(e, src, gva, 2)));
}

/*
 * Every vCPU reloads its CR3 (tables written at boot after a PAE guest's
 * MOV CR3 are not in its PDPTE registers until then).
 */
static void reload_all(struct env *e)
{
	unsigned was = e->vcpu;

	for (unsigned v = 0; v < e->nvcpus; v++) {
		env_select_vcpu(e, v);
		env_load_cr3(e, e->cpu.regs.cr3, true);
	}
	env_select_vcpu(e, was);
}

static void env_smp(struct env *e, enum paging_mode mode, enum cpu_vendor v, bool pse, bool unsync,
		    unsigned nvcpus)
{
	struct env_opts o = { .mode = mode, .vendor = v, .pse = pse, .nxe = true, .dm_large = true,
			      .unsync = unsync, .root_cache = 2, .nvcpus = nvcpus };

	env_init(e, &o);
}

/*
 * Two address spaces: r0 (the kernel root) and r1; gvas 0..3 in a page
 * table both use, 4 and 5 in tables of their own mapping other frames.
 */
static uint64_t two_spaces(struct env *e)
{
	uint64_t r1 = g_new_root(e);

	for (unsigned i = 0; i < NG; i++) {
		uint64_t fl = PTE_P | PTE_US | ((i & 1) ? PTE_RW : 0) | ((i == 2 && e->fmt.nx) ? PTE_XD : 0);

		(void)g_map(e, e->kroot, gva_of(i), DATA_BASE + i * PAGE_SIZE_4K, 1, fl, PTE_P | PTE_RW | PTE_US,
			    false);
		if (i >= 4)
			(void)g_map(e, r1, gva_of(i), DATA_BASE + (16 + i) * PAGE_SIZE_4K, 1, fl | PTE_RW,
				    PTE_P | PTE_RW | PTE_US, false);
	}
	share_pt(e, e->kroot, r1, gva_of(0));
	reload_all(e);
	return r1;
}

static void all_accesses(struct env *e, unsigned v)
{
	unsigned ok = 0;

	env_select_vcpu(e, v);
	for (unsigned i = 0; i < NG; i++) {
		for (unsigned cpl = 0; cpl <= 3; cpl += 3) {
			for (unsigned k = 0; k < 3; k++) {
				struct xs x;

				env_access(e, gva_of(i), types[k], cpl, false, 8, 0, &x);
				ok += x.outcome == XO_OK;
			}
		}
	}
	assert_true(ok >= NG); /* not a vacuous check: the pages are mapped */
}

static void read_ok(struct env *e, uint64_t gva, unsigned cpl)
{
	struct xs x;

	env_read(e, gva, cpl, &x);
	assert_int_equal(x.outcome, XO_OK);
}

static void check_vcpu(struct env *e, unsigned v)
{
	uint64_t gvas[NG + 2];

	env_select_vcpu(e, v);
	for (unsigned i = 0; i < NG; i++)
		gvas[i] = gva_of(i);
	gvas[NG] = e->dm_base + PT_BASE;
	gvas[NG + 1] = e->dm_base + DATA_BASE;
	env_check_subset(e, gvas, NG + 2);
}

static bool pending(struct env *e, unsigned v, bool clear)
{
	unsigned was = e->vcpu;
	bool p;

	env_select_vcpu(e, v);
	p = shadow_tlb_flush_pending(e->s, clear);
	env_select_vcpu(e, was);
	return p;
}

static void clear_all_pending(struct env *e)
{
	for (unsigned v = 0; v < e->nvcpus; v++)
		(void)pending(e, v, true);
}

/* The four PAE-format PDPTEs the hardware loads for the selected vCPU, or CR3 (IA-32e). */
static void hw_top(struct env *e, uint64_t out[4])
{
	struct hw_mmu m;

	env_hw_mmu(e, &m);
	memset(out, 0, 4 * sizeof(out[0]));
	if (m.mode == PAGING_4LEVEL || m.mode == PAGING_5LEVEL)
		out[0] = m.cfg.cpu.regs.cr3;
	else
		memcpy(out, m.pdpte, 4 * sizeof(out[0]));
}

/* ---- each vCPU's view, every mode ---- */

static void views(enum paging_mode mode, enum cpu_vendor v, bool pse, bool unsync)
{
	struct env e;
	uint64_t r1, t0[4], t2[4];

	env_smp(&e, mode, v, pse, unsync, 3);
	r1 = two_spaces(&e);
	env_select_vcpu(&e, 1);
	env_load_cr3(&e, r1, true);
	/* vCPUs 0 and 2 on the kernel root, vCPU 1 on r1; interleaved */
	for (unsigned round = 0; round < 2; round++)
		for (unsigned c = 0; c < 3; c++)
			all_accesses(&e, (c + round) % 3);
	for (unsigned c = 0; c < 3; c++)
		check_vcpu(&e, c);
	env_check_tables(&e);
	/* the same CR3 and role: the same shadow pages */
	env_select_vcpu(&e, 0);
	hw_top(&e, t0);
	env_select_vcpu(&e, 2);
	hw_top(&e, t2);
	assert_memory_equal(t0, t2, sizeof(t0));
	struct shadow_stats st;
	shadow_get_stats(e.s, &st);
	/*
	 * Each vCPU's current root, and vCPU 1's first one (cached); for a
	 * PAE guest the reload after two_spaces() changed the PDPTEs: another
	 * root for each vCPU, the first one cached.
	 */
	assert_int_equal(st.roots, mode == PAGING_PAE ? 3 + 1 + 3 : 3 + 1);
	env_fini(&e);
}

static void test_views(void **state)
{
	(void)state;
	for (int u = 0; u < 2; u++) {
		views(PAGING_32, CPU_INTEL, false, u);
		views(PAGING_32, CPU_AMD, true, u);
		views(PAGING_PAE, CPU_INTEL, false, u);
		views(PAGING_4LEVEL, CPU_AMD, false, u);
		views(PAGING_5LEVEL, CPU_INTEL, false, u);
	}
}

/* ---- remote flushes ---- */

static void remote_flush(enum paging_mode mode, bool unsync)
{
	struct env e;
	uint64_t r1, pte, pte5, v;

	env_smp(&e, mode, CPU_INTEL, true, unsync, 2);
	r1 = two_spaces(&e);
	env_select_vcpu(&e, 1);
	env_load_cr3(&e, r1, true);
	all_accesses(&e, 0);
	all_accesses(&e, 1);
	clear_all_pending(&e);

	/* Nothing loses rights: nobody flushes. */
	env_select_vcpu(&e, 0);
	env_read(&e, gva_of(1), 0, NULL);
	env_select_vcpu(&e, 1);
	env_read(&e, gva_of(1), 3, NULL);
	assert_false(pending(&e, 0, false));
	assert_false(pending(&e, 1, false));

	/* vCPU 0 takes W from a PTE of the table both use (gva 1 is writable and dirty). */
	env_select_vcpu(&e, 0);
	pte = g_entry_gpa(&e, e.kroot, gva_of(1), 1);
	v = g_ref_get(&e, pte);
	assert_true(v & PTE_RW);
	assert_true(v & PTE_D);
	g_write_entry(&e, pte, v & ~(uint64_t)PTE_RW);
	if (unsync) {
		/* the write may not trap: the guest's shootdown, INVLPG on vCPU 0 first */
		env_invlpg(&e, gva_of(1));
	}
	assert_true(pending(&e, 1, false));
	assert_true(pending(&e, 0, false));
	env_select_vcpu(&e, 1);
	if (unsync)
		env_invlpg(&e, gva_of(1)); /* the shootdown's INVLPG on vCPU 1 */
	assert_true(shadow_tlb_flush_pending(e.s, true)); /* entry: vCPU 1 flushes */
	env_access(&e, gva_of(1), ACCESS_WRITE, 3, false, 8, 0, NULL); /* #PF, as the guest's tables say */
	check_vcpu(&e, 1);
	check_vcpu(&e, 0);

	/* vCPU 0 writes a PTE only vCPU 1's address space uses (through its direct map). */
	clear_all_pending(&e);
	env_select_vcpu(&e, 0);
	pte5 = g_entry_gpa(&e, r1, gva_of(5), 1);
	v = g_ref_get(&e, pte5);
	g_write_entry(&e, pte5, (v & ~(uint64_t)PTE_US));
	env_select_vcpu(&e, 1);
	if (unsync)
		env_invlpg(&e, gva_of(5));
	assert_true(pending(&e, 1, true));
	env_access(&e, gva_of(5), ACCESS_READ, 3, false, 8, 0, NULL); /* #PF: supervisor page */
	env_access(&e, gva_of(5), ACCESS_READ, 0, false, 8, 0, NULL);
	check_vcpu(&e, 1);

	/* A root switch on vCPU 0 (CR0.WP: another role) concerns vCPU 0 only. */
	if (!unsync) {
		clear_all_pending(&e);
		env_select_vcpu(&e, 0);
		env_set_ctl(&e, e.cpu.regs.cr0 & ~(uint64_t)CR0_WP, e.cpu.regs.cr4, e.cpu.regs.efer);
		assert_true(pending(&e, 0, false));
		assert_false(pending(&e, 1, false));
		all_accesses(&e, 0);
		check_vcpu(&e, 0);
		all_accesses(&e, 1);
		check_vcpu(&e, 1);
	}
	env_check_tables(&e);
	env_fini(&e);
}

static void test_remote_flush(void **state)
{
	(void)state;
	for (enum paging_mode m = PAGING_32; m <= PAGING_5LEVEL; m++) {
		remote_flush(m, false);
		remote_flush(m, true);
	}
}

/* ---- a root of vCPU 1 zapped while vCPU 0 is selected ---- */

/* The guest table holding a root shadow page of the address space `root` (PAE: the PD for UBASE). */
static uint64_t root_table(struct env *e, uint64_t root)
{
	if (e->o.mode == PAGING_PAE)
		return pt_table_addr(&e->fmt, 3, g_ref_get(e, root + 8 * ((UBASE >> 30) & 3)));
	return root;
}

static void root_zap(enum paging_mode mode, bool unsync)
{
	struct env e;
	uint64_t r1, tbl;
	struct shadow_stats st;
	const char *why;

	env_smp(&e, mode, CPU_AMD, true, unsync, 2);
	r1 = two_spaces(&e);
	env_select_vcpu(&e, 1);
	env_load_cr3(&e, r1, true);
	all_accesses(&e, 1);
	all_accesses(&e, 0);

	/* zap all on vCPU 0: both flush, vCPU 1 gets a fresh root */
	clear_all_pending(&e);
	shadow_zap_all(e.s);
	shadow_get_stats(e.s, &st);
	assert_int_equal(st.roots, 0);
	assert_int_equal(st.pages, 0);
	assert_true(pending(&e, 1, false));
	assert_true(pending(&e, 0, false));
	all_accesses(&e, 1);
	check_vcpu(&e, 1);
	all_accesses(&e, 0);
	check_vcpu(&e, 0);

	/*
	 * Write flooding: vCPU 0 writes an unused entry of the table that is
	 * vCPU 1's root page (PAE: a root's level-2 page) again and again.
	 */
	clear_all_pending(&e);
	env_select_vcpu(&e, 0);
	tbl = root_table(&e, r1);
	shadow_get_stats(e.s, &st);
	uint64_t floods = st.flood_zaps;
	for (unsigned i = 0; i < SHADOW_FLOOD_DEFAULT + 1; i++)
		g_write_entry(&e, tbl + 100 * e.fmt.entry_size, 0);
	shadow_get_stats(e.s, &st);
	assert_true(st.flood_zaps > floods);
	if ((why = shadow_check(e.s)))
		fail_msg("shadow_check: %s", why); /* vCPU 1's root holds an invalid page */
	assert_true(pending(&e, 1, false));
	all_accesses(&e, 1);
	check_vcpu(&e, 1);
	all_accesses(&e, 0);
	check_vcpu(&e, 0);
	env_check_tables(&e);
	env_fini(&e);
}

static void test_root_zap(void **state)
{
	(void)state;
	for (enum paging_mode m = PAGING_32; m <= PAGING_5LEVEL; m++) {
		root_zap(m, false);
		root_zap(m, true);
	}
}

/*
 * The cap: four vCPUs, each on its own address space. 32-bit guests: their
 * roots alone fill the cap (four level-2 pages a root), so a fault of one
 * takes the root of another, which then re-enters on a fresh root. PAE
 * guests: roots of three own PDs and a shared one, other pages make way.
 */
static void cap_takes_roots(enum paging_mode mode, bool unsync)
{
	struct env e;
	struct env_opts o = { .mode = mode, .vendor = CPU_INTEL, .nxe = true, .pse = true, .dm_large = true,
			      .unsync = unsync, .root_cache = 1, .nvcpus = 4, .max_pages = SHADOW_MIN_PAGES };
	uint64_t roots[4];
	struct shadow_stats st;
	uint64_t taken = 0;

	env_init(&e, &o);
	roots[0] = e.kroot;
	for (unsigned v = 1; v < 4; v++)
		roots[v] = g_new_root(&e);
	for (unsigned v = 0; v < 4; v++) {
		if (mode == PAGING_PAE) { /* four PDs a root */
			for (unsigned q = 0; q < 3; q++)
				(void)g_map(&e, roots[v], ((uint64_t)q << 30) + UINT64_C(0x10000000), DATA_BASE + (8 * v + q) * PAGE_SIZE_4K, 1,
					    PTE_P | PTE_RW | PTE_US, PTE_P | PTE_RW | PTE_US, false);
		}
		for (unsigned i = 0; i < NG; i++)
			(void)g_map(&e, roots[v], gva_of(i), DATA_BASE + (8 * v + i) * PAGE_SIZE_4K, 1,
				    PTE_P | PTE_RW | PTE_US, PTE_P | PTE_RW | PTE_US, false);
	}
	for (unsigned v = 1; v < 4; v++) {
		env_select_vcpu(&e, v);
		env_load_cr3(&e, roots[v], true);
	}
	reload_all(&e);
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned v = 0; v < 4; v++) {
			clear_all_pending(&e);
			all_accesses(&e, v);
			shadow_get_stats(e.s, &st);
			if (st.roots_taken > taken) {
				/*
				 * another vCPU's root was given up to make room, and
				 * room is made by zapping: every vCPU flushes
				 */
				unsigned n = 0;

				for (unsigned w = 0; w < 4; w++)
					n += w != v && pending(&e, w, false);
				assert_true(n > 0);
				taken = st.roots_taken;
			}
			check_vcpu(&e, v);
		}
	}
	shadow_get_stats(e.s, &st);
	if (mode == PAGING_32) /* four distinct level-2 pages a root (PAE roots share the direct map's PD) */
		assert_true(st.roots_taken > 0);
	assert_true(st.pages_peak <= SHADOW_MIN_PAGES);
	env_check_tables(&e);
	env_fini(&e);
}

static void test_cap_takes_roots(void **state)
{
	(void)state;
	cap_takes_roots(PAGING_32, false);
	cap_takes_roots(PAGING_32, true);
	cap_takes_roots(PAGING_PAE, false);
	cap_takes_roots(PAGING_PAE, true);
}

/* ---- PAE: each vCPU its own PDPTE registers ---- */

static void test_pae_pdptes(void **state)
{
	struct env e;
	uint64_t gva = UBASE + 0x5000, pdpte_gpa, old, pd2;

	(void)state;
	env_smp(&e, PAGING_PAE, CPU_INTEL, false, false, 2);
	(void)g_map(&e, e.kroot, gva, DATA_BASE, 1, PTE_P | PTE_RW | PTE_US, PTE_P | PTE_RW | PTE_US, false);
	reload_all(&e);
	env_select_vcpu(&e, 1);
	env_load_cr3(&e, e.kroot, true);
	read_ok(&e, gva, 3);
	env_select_vcpu(&e, 0);
	read_ok(&e, gva, 3);

	/* vCPU 0 points PDPTE 1 at another PD, mapping gva elsewhere, and reloads CR3 */
	pd2 = g_alloc_table(&e);
	uint64_t pt2 = g_alloc_table(&e);
	g_boot_put(&e, pd2 + 8 * ((gva >> 21) & 511), pt2 | PTE_P | PTE_RW | PTE_US);
	g_boot_put(&e, pt2 + 8 * ((gva >> 12) & 511), (DATA_BASE + 7 * PAGE_SIZE_4K) | PTE_P | PTE_US);
	pdpte_gpa = e.kroot + 8 * ((gva >> 30) & 3);
	old = g_ref_get(&e, pdpte_gpa);
	g_write_entry(&e, pdpte_gpa, pd2 | PTE_P);
	env_load_cr3(&e, e.kroot, true);
	for (unsigned k = 0; k < 3; k++)
		env_access(&e, gva, types[k], 3, false, 8, 0, NULL); /* the new PD: read-only, other frame */
	/* vCPU 1 has not reloaded: its PDPTE registers still name the old PD */
	env_select_vcpu(&e, 1);
	for (unsigned k = 0; k < 3; k++)
		env_access(&e, gva, types[k], 3, false, 8, 0, NULL);
	check_vcpu(&e, 1);
	check_vcpu(&e, 0);
	/* MOV CR3 on vCPU 1: now it sees the new PD too */
	env_select_vcpu(&e, 1);
	env_load_cr3(&e, e.kroot, true);
	for (unsigned k = 0; k < 3; k++)
		env_access(&e, gva, types[k], 3, false, 8, 0, NULL);
	check_vcpu(&e, 1);
	/* vCPU 0 restores the PDPTE without reloading: it keeps the new PD */
	env_select_vcpu(&e, 0);
	g_write_entry(&e, pdpte_gpa, old);
	env_access(&e, gva, ACCESS_WRITE, 3, false, 8, 0, NULL);
	check_vcpu(&e, 0);
	env_fini(&e);
}

/* ---- INVLPG: unsync pages of two roles, each vCPU's own INVLPG ---- */

static void test_invlpg_roles(void **state)
{
	(void)state;
	for (enum paging_mode mode = PAGING_32; mode <= PAGING_5LEVEL; mode++) {
		struct env e;
		uint64_t gva = UBASE + 0x3000, pte;

		env_smp(&e, mode, CPU_AMD, true, true, 2);
		pte = g_map(&e, e.kroot, gva, DATA_BASE, 1, PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D,
			    PTE_P | PTE_RW | PTE_US, false);
		reload_all(&e);
		/* vCPU 1 runs with CR0.WP = 0: its shadow pages have another role */
		env_select_vcpu(&e, 1);
		env_set_ctl(&e, e.cpu.regs.cr0 & ~(uint64_t)CR0_WP, e.cpu.regs.cr4, e.cpu.regs.efer);
		read_ok(&e, gva, 3);
		env_select_vcpu(&e, 0);
		read_ok(&e, gva, 3);
		clear_all_pending(&e);
		/* vCPU 0 moves the page to another frame and takes W; then the shootdown */
		g_write_entry(&e, pte, (DATA_BASE + 9 * PAGE_SIZE_4K) | PTE_P | PTE_US | PTE_A);
		env_invlpg(&e, gva);
		assert_true(pending(&e, 1, false)); /* a leaf in a shared structure was dropped */
		for (unsigned k = 0; k < 2; k++)
			env_access(&e, gva, types[k], 3, false, 8, 0, NULL);
		env_select_vcpu(&e, 1);
		env_invlpg(&e, gva);
		for (unsigned k = 0; k < 2; k++)
			env_access(&e, gva, types[k], 3 * k, false, 8, 0, NULL);
		check_vcpu(&e, 1);
		check_vcpu(&e, 0);
		env_check_tables(&e);
		env_fini(&e);
	}
}

/* ---- selection and limits ---- */

static void test_select_and_limits(void **state)
{
	struct env e;
	struct shadow_config cfg;
	struct shadow_mmu *s;

	(void)state;
	env_smp(&e, PAGING_4LEVEL, CPU_INTEL, false, false, 2);
	env_select_vcpu(&e, 1);
	shadow_select_vcpu(e.s, 2); /* out of range: ignored */
	assert_int_equal(shadow_selected_vcpu(e.s), 1);
	assert_non_null(shadow_error(e.s));
	shadow_select_vcpu(e.s, UINT32_MAX);
	assert_int_equal(shadow_selected_vcpu(e.s), 1);
	shadow_select_vcpu(e.s, 0);
	assert_int_equal(shadow_selected_vcpu(e.s), 0);
	assert_null(shadow_error(e.s));
	env_select_vcpu(&e, 0);
	env_read(&e, e.dm_base, 0, NULL);

	cfg = (struct shadow_config){ .port = e.port, .slots = e.ms, .hw_maxphyaddr = HW_MAXPHY,
				      .nvcpus = SHADOW_MAX_VCPUS + 1 };
	assert_null(shadow_create(&cfg));
	cfg.nvcpus = SHADOW_MAX_VCPUS;
	s = shadow_create(&cfg);
	assert_non_null(s);
	shadow_select_vcpu(s, SHADOW_MAX_VCPUS - 1);
	assert_int_equal(shadow_selected_vcpu(s), SHADOW_MAX_VCPUS - 1);
	assert_null(shadow_check(s));
	shadow_destroy(s);
	cfg.nvcpus = 0; /* one vCPU */
	s = shadow_create(&cfg);
	assert_non_null(s);
	shadow_select_vcpu(s, 1);
	assert_int_equal(shadow_selected_vcpu(s), 0);
	shadow_destroy(s);
	env_fini(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_views),
		cmocka_unit_test(test_remote_flush),
		cmocka_unit_test(test_root_zap),
		cmocka_unit_test(test_cap_takes_roots),
		cmocka_unit_test(test_pae_pdptes),
		cmocka_unit_test(test_invlpg_roles),
		cmocka_unit_test(test_select_and_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
