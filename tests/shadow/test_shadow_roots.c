/*
 * INVLPG, MOV CR3 and the root cache, unsync/sync of leaf tables, and the
 * cap on shadow pages. Every access is checked against the hardware walker
 * over the guest's own tables (harness.h); the counters are checked
 * against values worked out from the rules in shadow.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "shadow/harness.h"

#define USER_VA UINT64_C(0x40000000)
#define UFLAGS (PTE_P | PTE_RW | PTE_US)

/* The frame the shadow tables give for gva, walking them as the hardware would (read, CPL 3). */
static uint64_t shadow_sees(struct env *e, uint64_t gva)
{
	struct hw_config cfg = { .nested = NESTED_NONE, .mem = mem_port_pmem(e->port) };
	struct xlate_result r, fail;
	struct hw_mmu m;

	assert_int_equal(shadow_hw_cpu(e->s, &e->cpu, &cfg.cpu), 0);
	cfg.cpu.regs.cpl = 3;
	assert_true(hw_mmu_init(&m, &cfg, &fail));
	hw_translate(&m, gva, ACCESS_READ, false, &r, NULL);
	return r.outcome == XO_OK ? r.hpa : 0;
}

/* ---- INVLPG ---- */

static void test_invlpg_drops_leaf(void **state)
{
	struct env e;
	struct env_opts o = { .mode = PAGING_4LEVEL, .nxe = true, .dm_large = true, .root_cache = 2 };
	struct xs r;

	(void)state;
	env_init(&e, &o);
	(void)g_map(&e, e.kroot, USER_VA, DATA_BASE, 1, UFLAGS, UFLAGS, false);
	env_read(&e, USER_VA, 3, &r);
	assert_int_equal(shadow_sees(&e, USER_VA), env_frame(&e, DATA_BASE));
	uint64_t zapped = e.cnt.spt_entries_zapped[CNT_L0], fixed = e.fixed;

	env_invlpg(&e, USER_VA + 0x123);
	assert_int_equal(e.cnt.spt_entries_zapped[CNT_L0], zapped + 1);
	assert_int_equal(shadow_sees(&e, USER_VA), 0);
	assert_true(shadow_tlb_flush_pending(e.s, true));
	env_read(&e, USER_VA, 3, &r); /* faults once and is rebuilt */
	assert_int_equal(e.fixed, fixed + 1);
	assert_int_equal(r.gpa, DATA_BASE);
	/* INVLPG of an address with no shadow leaf changes nothing. */
	zapped = e.cnt.spt_entries_zapped[CNT_L0];
	env_invlpg(&e, USER_VA + UINT64_C(0x100000000));
	assert_int_equal(e.cnt.spt_entries_zapped[CNT_L0], zapped);
	env_fini(&e);
}

/* ---- the root cache ---- */

static void test_root_cache(void **state)
{
	struct env e;
	struct env_opts o = { .mode = PAGING_4LEVEL, .nxe = true, .dm_large = true, .root_cache = 2 };
	uint64_t p[4];
	struct xs r;

	(void)state;
	env_init(&e, &o); /* loads kroot: one miss */
	p[0] = e.kroot;
	for (unsigned i = 1; i < 4; i++) {
		p[i] = g_new_root(&e);
		(void)g_map(&e, p[i], USER_VA, DATA_BASE + i * PAGE_SIZE_4K, 1, UFLAGS, UFLAGS, false);
	}
	(void)g_map(&e, p[0], USER_VA, DATA_BASE, 1, UFLAGS, UFLAGS, false);
	/*
	 * Current + 2 previous roots. Loads: p1 p2 p3 (misses; kroot drops out),
	 * p1 (hit), p0 (miss; p2 drops out), p2 (miss), p2 again (hit).
	 */
	const unsigned seq[] = { 1, 2, 3, 1, 0, 2, 2 };
	const bool hit[] = { false, false, false, true, false, false, true };
	for (unsigned k = 0; k < 7; k++) {
		uint64_t h = e.cnt.spt_root_hits[CNT_L0], m = e.cnt.spt_root_misses[CNT_L0];

		env_load_cr3(&e, p[seq[k]], true);
		assert_int_equal(e.cnt.spt_root_hits[CNT_L0], h + hit[k]);
		assert_int_equal(e.cnt.spt_root_misses[CNT_L0], m + !hit[k]);
		env_read(&e, USER_VA, 3, &r);
		assert_int_equal(r.gpa, DATA_BASE + seq[k] * PAGE_SIZE_4K);
		env_read(&e, e.dm_base + DATA_BASE, 0, &r);
	}
	assert_int_equal(e.cnt.spt_root_misses[CNT_L0], 6);
	assert_int_equal(e.cnt.spt_root_hits[CNT_L0], 2);
	struct shadow_stats st;
	shadow_get_stats(e.s, &st);
	assert_int_equal(st.roots, 3);
	/* A hit reuses the shadow tables: no fault for an address already mapped in that process. */
	env_load_cr3(&e, p[0], true);
	uint64_t fixed = e.fixed;
	env_read(&e, USER_VA, 3, &r);
	assert_int_equal(e.fixed, fixed);
	/*
	 * A change of CR0.WP changes the role: another root, the same guest
	 * CR3; the hardware TLB (tagged by PCID, not by root) must be flushed.
	 */
	(void)shadow_tlb_flush_pending(e.s, true);
	env_set_ctl(&e, e.cpu.regs.cr0 & ~CR0_WP, e.cpu.regs.cr4, e.cpu.regs.efer);
	env_read(&e, USER_VA, 3, &r);
	assert_int_equal(e.fixed, fixed + 1);
	assert_true(shadow_tlb_flush_pending(e.s, true));
	env_set_ctl(&e, e.cpu.regs.cr0 | CR0_WP, e.cpu.regs.cr4, e.cpu.regs.efer);
	env_read(&e, USER_VA, 3, &r);
	assert_int_equal(e.fixed, fixed + 1); /* back to the cached root */
	env_fini(&e);
}

/* PAE: the root follows the PDPTE registers, which only MOV CR3 reloads. */
static void test_pae_pdptes(void **state)
{
	struct env e;
	struct env_opts o = { .mode = PAGING_PAE, .nxe = true, .dm_large = true, .root_cache = 2 };
	uint64_t pd2, pdpte1;
	struct xs r;

	(void)state;
	env_init(&e, &o);
	(void)g_map(&e, e.kroot, USER_VA, DATA_BASE, 1, UFLAGS, UFLAGS, false);
	env_load_cr3(&e, e.kroot, true);
	env_read(&e, USER_VA, 3, &r);
	assert_int_equal(r.gpa, DATA_BASE);
	/* Another PD for PDPTE 1, mapping USER_VA elsewhere; written through the direct map. */
	pd2 = g_alloc_table(&e);
	pdpte1 = e.kroot + 8;
	uint64_t old = g_ref_get(&e, pdpte1);
	(void)old;
	g_write_entry(&e, pdpte1, pd2 | PTE_P);
	/* Until MOV CR3 the registers hold the old PDPTE: the same translation. */
	env_read(&e, USER_VA, 3, &r);
	assert_int_equal(r.gpa, DATA_BASE);
	env_load_cr3(&e, e.kroot, true);
	env_read(&e, USER_VA, 3, &r);
	assert_int_equal(r.outcome, XO_PAGE_FAULT); /* the new PD is empty */
	assert_int_equal(r.ec, PFEC_U);
	env_fini(&e);
}

/* ---- unsync ---- */

static void unsync_mode(enum paging_mode mode)
{
	struct env e;
	struct env_opts o = { .mode = mode, .nxe = true, .pse = true, .dm_large = true, .unsync = true,
			      .root_cache = 1 };
	uint64_t x = DATA_BASE, y = DATA_BASE + 0x5000, z = DATA_BASE + 0x9000, leaf, leaf2;
	struct shadow_stats st;
	struct xs r;

	env_init(&e, &o);
	leaf = g_map(&e, e.kroot, USER_VA, x, 1, UFLAGS, UFLAGS, false);
	leaf2 = g_entry_gpa(&e, e.kroot, USER_VA + PAGE_SIZE_4K, 1);
	env_load_cr3(&e, e.kroot, true);
	env_read(&e, USER_VA, 3, &r);

	/* The first write to the guest table faults and unsyncs it; no emulation. */
	uint64_t em = e.emulated, fixed = e.fixed;
	g_write_entry(&e, leaf2, z | UFLAGS);
	assert_int_equal(e.emulated, em);
	assert_int_equal(e.fixed, fixed + 1);
	assert_int_equal(e.cnt.spt_unsync[CNT_L0], 1);
	shadow_get_stats(e.s, &st);
	assert_int_equal(st.unsync_pages, 1);
	/* Further writes do not even fault. */
	g_write_entry(&e, leaf2, z | UFLAGS | PTE_A);
	assert_int_equal(e.fixed, fixed + 1);
	/* A new mapping is seen at once (not-present entries are not cached). */
	env_read(&e, USER_VA + PAGE_SIZE_4K, 3, &r);
	assert_int_equal(r.gpa, z);

	/* A changed mapping may be stale until INVLPG (the processor may cache it too)... */
	g_write_entry(&e, leaf, y | UFLAGS);
	assert_int_equal(shadow_sees(&e, USER_VA), env_frame(&e, x));
	/* ...and INVLPG syncs the page. */
	uint64_t syncs = e.cnt.spt_sync[CNT_L0];
	env_invlpg(&e, USER_VA);
	assert_int_equal(e.cnt.spt_sync[CNT_L0], syncs + 1);
	assert_true(e.cnt.spt_sync_entries[CNT_L0] >= 2);
	env_read(&e, USER_VA, 3, &r);
	assert_int_equal(r.gpa, y);
	shadow_get_stats(e.s, &st);
	assert_int_equal(st.unsync_pages, 0);

	/* Unsync again; a MOV CR3 without the no-flush bit syncs everything, one with it nothing. */
	g_write_entry(&e, leaf, x | UFLAGS);
	assert_int_equal(e.cnt.spt_unsync[CNT_L0], 2);
	env_load_cr3(&e, e.kroot, false);
	shadow_get_stats(e.s, &st);
	assert_int_equal(st.unsync_pages, 1);
	assert_int_equal(shadow_sees(&e, USER_VA), env_frame(&e, y));
	env_load_cr3(&e, e.kroot, true);
	shadow_get_stats(e.s, &st);
	assert_int_equal(st.unsync_pages, 0);
	env_read(&e, USER_VA, 3, &r);
	assert_int_equal(r.gpa, x);
	/* Synced: protected again (the next write faults and unsyncs again). */
	fixed = e.fixed;
	g_write_entry(&e, leaf, x | UFLAGS | PTE_A);
	assert_int_equal(e.fixed, fixed + 1);
	assert_int_equal(e.cnt.spt_unsync[CNT_L0], 3);

	/* Upper-level tables never go unsync: a PDE write is emulated. */
	em = e.emulated;
	uint64_t pde = g_entry_gpa(&e, e.kroot, USER_VA, 2);
	g_write_entry(&e, pde, g_ref_get(&e, pde) & ~PTE_US);
	assert_int_equal(e.emulated, em + 1);
	env_read(&e, USER_VA, 3, &r);
	assert_int_equal(r.outcome, XO_PAGE_FAULT);
	assert_int_equal(r.ec, PFEC_P | PFEC_U);
	shadow_sync_all(e.s, &e.cpu);
	env_check_tables(&e);
	env_check_subset(&e, (uint64_t[]){ USER_VA, USER_VA + PAGE_SIZE_4K, e.dm_base + leaf }, 3);
	env_fini(&e);
}

static void test_unsync(void **state)
{
	(void)state;
	unsync_mode(PAGING_4LEVEL);
	unsync_mode(PAGING_5LEVEL);
	unsync_mode(PAGING_PAE);
	unsync_mode(PAGING_32);
}

/*
 * The same guest program with unsync on and off: at the architectural sync
 * points (after INVLPG / MOV CR3) every access gives the same result.
 */
static void program(struct env *e, struct xs *out, unsigned *n)
{
	uint64_t leaves[8];

	*n = 0;
	for (unsigned i = 0; i < 8; i++)
		leaves[i] = g_map(e, e->kroot, USER_VA + i * PAGE_SIZE_4K, DATA_BASE + i * PAGE_SIZE_4K, 1,
				  UFLAGS, UFLAGS, false);
	env_load_cr3(e, e->kroot, true);
	for (unsigned round = 0; round < 6; round++) {
		for (unsigned i = 0; i < 8; i++) {
			uint64_t va = USER_VA + i * PAGE_SIZE_4K;

			env_access(e, va, (i + round) % 3 == 0 ? ACCESS_WRITE : ACCESS_READ, 3, false, 8, 0,
				   &out[(*n)++]);
			/* rewrite the PTE (flags, target), then INVLPG it */
			uint64_t tgt = DATA_BASE + ((i * 7 + round * 3) % 16) * PAGE_SIZE_4K;
			uint64_t fl = PTE_P | PTE_US | ((round & 1) ? PTE_RW : 0);

			g_write_entry(e, leaves[i], (round == 3 && i == 2) ? 0 : tgt | fl);
			env_invlpg(e, va);
			env_access(e, va, ACCESS_WRITE, 3, false, 8, 0, &out[(*n)++]);
		}
		env_load_cr3(e, e->kroot, true);
		for (unsigned i = 0; i < 8; i++)
			env_read(e, USER_VA + i * PAGE_SIZE_4K, 3, &out[(*n)++]);
	}
}

static void test_unsync_same_results(void **state)
{
	static struct xs a[512], b[512];
	unsigned na, nb;

	(void)state;
	for (enum paging_mode mode = PAGING_32; mode <= PAGING_5LEVEL; mode++) {
		struct env e;
		struct env_opts o = { .mode = mode, .nxe = true, .pse = true, .dm_large = true, .root_cache = 1 };

		env_init(&e, &o);
		program(&e, a, &na);
		env_fini(&e);
		o.unsync = true;
		env_init(&e, &o);
		program(&e, b, &nb);
		assert_true(e.cnt.spt_unsync[CNT_L0] > 0);
		env_fini(&e);
		assert_int_equal(na, nb);
		for (unsigned i = 0; i < na; i++) {
			assert_int_equal(a[i].outcome, b[i].outcome);
			assert_int_equal(a[i].gpa, b[i].gpa);
			assert_int_equal(a[i].ec, b[i].ec);
		}
	}
}

/*
 * An unsync page that no INVLPG could reach (it was not linked from any
 * root) is synced when it is linked again.
 */
static void test_unsync_orphan_relinked(void **state)
{
	struct env e;
	struct env_opts o = { .mode = PAGING_4LEVEL, .nxe = true, .dm_large = true, .unsync = true };
	uint64_t leaf, pde, x = DATA_BASE, y = DATA_BASE + 0x7000;
	struct xs r;

	(void)state;
	env_init(&e, &o);
	uint64_t va2 = USER_VA + PAGE_SIZE_4K;

	(void)g_map(&e, e.kroot, USER_VA, x, 1, UFLAGS, UFLAGS, false);
	leaf = g_map(&e, e.kroot, va2, x, 1, UFLAGS, UFLAGS, false);
	pde = g_entry_gpa(&e, e.kroot, USER_VA, 2);
	env_read(&e, USER_VA, 3, &r);                              /* PT shadowed with the PDE's rights (W) */
	env_read(&e, va2, 3, &r);
	g_write_entry(&e, pde, g_ref_get(&e, pde) & ~PTE_RW);      /* another role for the PT: */
	env_read(&e, va2, 3, &r);                                  /* the first page is now unlinked */
	g_write_entry(&e, leaf, y | UFLAGS);                       /* both pages go unsync */
	env_invlpg(&e, va2);                                       /* reaches the linked one only */
	env_read(&e, va2, 3, &r);
	assert_int_equal(r.gpa, y);
	g_write_entry(&e, pde, g_ref_get(&e, pde) | PTE_RW);       /* the first page is linked again */
	env_read(&e, USER_VA, 3, &r);                              /* (by a fault on the other address) */
	env_read(&e, va2, 3, &r);                                  /* its entry for va2 must not be stale */
	assert_int_equal(r.gpa, y);
	env_fini(&e);
}

/*
 * A root made again reuses the tree of pages it had (they stay in the
 * hash): unsync pages in it that no INVLPG reached are synced when it is
 * made. Here the second root is that of CR0.WP = 0 (another role, the same
 * CR3) and no previous roots are cached.
 */
static void test_unsync_root_remade(void **state)
{
	struct env e;
	struct env_opts o = { .mode = PAGING_4LEVEL, .nxe = true, .dm_large = true, .unsync = true,
			      .root_cache = 0 };
	uint64_t leaf, x = DATA_BASE, y = DATA_BASE + 0x7000;
	uint64_t cr0 = 0, cr4 = 0, efer = 0;
	struct xs r;

	(void)state;
	env_init(&e, &o);
	cr0 = e.cpu.regs.cr0;
	cr4 = e.cpu.regs.cr4;
	efer = e.cpu.regs.efer;
	leaf = g_map(&e, e.kroot, USER_VA, x, 1, UFLAGS, UFLAGS, false);
	env_read(&e, USER_VA, 3, &r);                      /* WP=1 tree */
	env_set_ctl(&e, cr0 & ~CR0_WP, cr4, efer);
	env_read(&e, USER_VA, 3, &r);                      /* WP=0 tree (the WP=1 root is dropped) */
	env_set_ctl(&e, cr0, cr4, efer);
	env_read(&e, USER_VA, 3, &r);                      /* WP=1 again (the WP=0 root is dropped) */
	g_write_entry(&e, leaf, y | UFLAGS);               /* both PT pages go unsync */
	env_invlpg(&e, USER_VA);                           /* reaches the WP=1 tree only */
	env_read(&e, USER_VA, 3, &r);
	assert_int_equal(r.gpa, y);
	env_set_ctl(&e, cr0 & ~CR0_WP, cr4, efer);         /* the WP=0 root made again */
	env_read(&e, USER_VA, 3, &r);
	assert_int_equal(r.gpa, y);
	env_fini(&e);
}

/*
 * 32-bit paging, unsync: syncing the shadow page of the upper half of a
 * guest PT compares its entries with the upper half's guest entries (here
 * the lower half maps the same frame writable, the upper half read-only).
 */
static void test_32bit_unsync_quadrant(void **state)
{
	struct env e;
	struct env_opts o = { .mode = PAGING_32, .pse = true, .dm_large = true, .unsync = true };
	uint64_t lo = USER_VA + 0x5000, hi = lo + PAGE_SIZE_2M, f = DATA_BASE + 0x3000, leaf_hi;
	struct xs r;

	(void)state;
	env_init(&e, &o);
	(void)g_map(&e, e.kroot, lo, f, 1, UFLAGS | PTE_A | PTE_D, UFLAGS, false);
	(void)g_map(&e, e.kroot, hi, f, 1, PTE_P | PTE_US, UFLAGS, false);
	leaf_hi = g_map(&e, e.kroot, hi + 0x1000, DATA_BASE, 1, UFLAGS, UFLAGS, false);
	env_read(&e, lo, 3, &r);
	env_read(&e, hi, 3, &r);
	env_read(&e, hi + 0x1000, 3, &r);
	g_write_entry(&e, leaf_hi, (DATA_BASE + 0x1000) | UFLAGS); /* unsync, no trap */
	env_invlpg(&e, hi + 0x1000);                                 /* syncs the upper page */
	env_access(&e, hi, ACCESS_WRITE, 3, false, 8, 0, &r);
	assert_int_equal(r.outcome, XO_PAGE_FAULT);
	assert_int_equal(r.ec, PFEC_P | PFEC_W | PFEC_U);
	env_read(&e, hi + 0x1000, 3, &r);
	assert_int_equal(r.gpa, DATA_BASE + 0x1000);
	env_fini(&e);
}

/* 32-bit paging: CR4.PSE changes what a PDE with PS means, hence the pages' role. */
static void test_pse_toggle(void **state)
{
	struct env e;
	struct env_opts o = { .mode = PAGING_32, .pse = true, .dm_large = false, .root_cache = 2 };
	uint64_t va = USER_VA + 0x3000;
	struct xs r;

	(void)state;
	env_init(&e, &o);
	(void)g_map(&e, e.kroot, USER_VA, DATA_BASE, 2, UFLAGS, UFLAGS, false);
	for (unsigned i = 0; i < 2; i++) {
		env_read(&e, va, 3, &r);
		assert_int_equal(r.outcome, XO_OK); /* a 4 MiB page */
		assert_int_equal(r.gpa, DATA_BASE + 0x3000);
		env_set_ctl(&e, e.cpu.regs.cr0, e.cpu.regs.cr4 & ~CR4_PSE, e.cpu.regs.efer);
		env_read(&e, va, 3, &r); /* PS ignored: a page table at DATA_BASE (zeros) */
		assert_int_equal(r.outcome, XO_PAGE_FAULT);
		assert_int_equal(r.ec, PFEC_U);
		env_set_ctl(&e, e.cpu.regs.cr0, e.cpu.regs.cr4 | CR4_PSE, e.cpu.regs.efer);
	}
	env_fini(&e);
}

/*
 * Boot: paging off, the guest writes its tables at their physical
 * addresses (data pages of the paging-off shadow), loads CR3 and turns
 * paging on (the frames it wrote become shadowed guest tables: their
 * leaves in the paging-off tables lose W); then off and on again.
 */
static void boot_mode(enum paging_mode target, bool unsync)
{
	struct env e;
	struct env_opts o = { .mode = PAGING_NONE, .unsync = unsync, .root_cache = 2 };
	uint64_t cr4 = 0, efer = 0, va = USER_VA + 0x2000;
	struct xs r;

	env_init(&e, &o);
	switch (target) {
	case PAGING_32: cr4 = CR4_PSE; break;
	case PAGING_PAE: cr4 = CR4_PAE; efer = EFER_NXE; break;
	case PAGING_4LEVEL: cr4 = CR4_PAE; efer = EFER_LME | EFER_NXE; break;
	default: cr4 = CR4_PAE | CR4_LA57; efer = EFER_LME | EFER_NXE; break;
	}
	pt_format_x86(&e.fmt, target, e.cpu.vendor, e.cpu.maxphyaddr, &e.cpu.feat, cr4,
		      efer | ((efer & EFER_LME) ? EFER_LMA : 0), false);
	e.dm_base = target <= PAGING_PAE ? UINT64_C(0xc0000000)
		    : target == PAGING_4LEVEL ? UINT64_C(0xffff888000000000) : UINT64_C(0xff11000000000000);
	e.kroot = g_new_root(&e);
	for (uint64_t gpa = 0; gpa < DM_SIZE; gpa += target == PAGING_32 ? PAGE_SIZE_4M : PAGE_SIZE_2M)
		(void)g_map(&e, e.kroot, e.dm_base + gpa, gpa, 2, PTE_P | PTE_RW, PTE_P | PTE_RW, true);
	uint64_t leaf = g_map(&e, e.kroot, va, DATA_BASE, 1, UFLAGS, UFLAGS, true);
	env_read(&e, DATA_BASE + 0x10, 0, &r);
	assert_int_equal(r.gpa, DATA_BASE + 0x10);
	env_load_cr3(&e, e.kroot, true);
	uint64_t cr0 = e.cpu.regs.cr0;
	for (unsigned round = 0; round < 2; round++) {
		uint64_t em;

		env_set_ctl(&e, cr0 | CR0_PG | CR0_WP, cr4, efer | ((efer & EFER_LME) ? EFER_LMA : 0));
		env_read(&e, va, 3, &r);
		assert_int_equal(r.gpa, DATA_BASE + (round ? 0x1000 : 0));
		em = e.emulated;
		g_write_entry(&e, leaf, (DATA_BASE + 0x1000) | UFLAGS); /* through the direct map */
		if (!unsync)
			assert_int_equal(e.emulated, em + 1);
		env_invlpg(&e, va);
		env_read(&e, va, 3, &r);
		assert_int_equal(r.gpa, DATA_BASE + 0x1000);
		env_set_ctl(&e, cr0, cr4, efer); /* paging off again */
		env_read(&e, leaf, 0, &r);
		em = e.emulated;
		g_write_entry(&e, leaf, (DATA_BASE + 0x1000) | UFLAGS); /* a shadowed table: trapped */
		if (!unsync)
			assert_int_equal(e.emulated, em + 1);
	}
	env_check_tables(&e);
	env_fini(&e);
}

static void test_boot(void **state)
{
	(void)state;
	for (enum paging_mode m = PAGING_32; m <= PAGING_5LEVEL; m++) {
		boot_mode(m, false);
		boot_mode(m, true);
	}
}

/* ---- the cap ---- */

static void cap_mode(enum paging_mode mode, bool unsync)
{
	struct env e;
	struct env_opts o = { .mode = mode, .nxe = true, .pse = true, .dm_large = true, .unsync = unsync,
			      .max_pages = SHADOW_MIN_PAGES, .root_cache = 2 };
	struct shadow_stats st;
	uint64_t gvas[48];
	/* 48 pages, each under its own PDE (hence its own page table) */
	uint64_t stride = mode == PAGING_32 ? PAGE_SIZE_4M : PAGE_SIZE_2M;

	env_init(&e, &o);
	for (unsigned i = 0; i < 48; i++) {
		gvas[i] = USER_VA + i * stride + 0x3000;
		(void)g_map(&e, e.kroot, gvas[i], DATA_BASE + i * PAGE_SIZE_4K, 1, UFLAGS, UFLAGS, false);
	}
	env_load_cr3(&e, e.kroot, true);
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned i = 0; i < 48; i++) {
			struct xs r;

			env_access(&e, gvas[i], round == 1 ? ACCESS_WRITE : ACCESS_READ, 3, false, 8, 0, &r);
			assert_int_equal(r.gpa, DATA_BASE + i * PAGE_SIZE_4K);
			shadow_get_stats(e.s, &st);
			assert_true(st.pages <= SHADOW_MIN_PAGES);
		}
		env_check_subset(&e, gvas, 48);
	}
	shadow_get_stats(e.s, &st);
	assert_true(st.cap_zaps > 0);
	assert_int_equal(st.pages_peak, SHADOW_MIN_PAGES);
	assert_true(e.cnt.spt_zaps[CNT_L0] >= st.cap_zaps);
	/* pt_peak counts shadow pages and, for PAE-format roots, their PDPT pages */
	assert_true(e.cnt.pt_peak[CNT_PT_SHADOW_L0] <= SHADOW_MIN_PAGES + 3);
	/* Least recently used first: the page just used survives another fault. */
	env_check_tables(&e);
	env_fini(&e);
}

static void test_cap(void **state)
{
	(void)state;
	cap_mode(PAGING_4LEVEL, false);
	cap_mode(PAGING_5LEVEL, true);
	cap_mode(PAGING_PAE, false);
	cap_mode(PAGING_32, true);
}

/* Zap all: everything goes, the next entry remakes the root. */
static void test_zap_all(void **state)
{
	struct env e;
	struct env_opts o = { .mode = PAGING_4LEVEL, .nxe = true, .dm_large = true, .root_cache = 2 };
	struct shadow_stats st;
	struct xs r;

	(void)state;
	env_init(&e, &o);
	(void)g_map(&e, e.kroot, USER_VA, DATA_BASE, 1, UFLAGS, UFLAGS, false);
	env_read(&e, USER_VA, 3, &r);
	shadow_zap_all(e.s);
	shadow_get_stats(e.s, &st);
	assert_int_equal(st.pages, 0);
	assert_int_equal(st.roots, 0);
	assert_int_equal(st.rmap_entries, 0);
	assert_int_equal(counters_pt_live(&e.cnt, CNT_PT_SHADOW_L0), 0);
	env_read(&e, USER_VA, 3, &r);
	assert_int_equal(r.gpa, DATA_BASE);
	env_fini(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_invlpg_drops_leaf),
		cmocka_unit_test(test_root_cache),
		cmocka_unit_test(test_pae_pdptes),
		cmocka_unit_test(test_unsync),
		cmocka_unit_test(test_unsync_same_results),
		cmocka_unit_test(test_unsync_orphan_relinked),
		cmocka_unit_test(test_unsync_root_remade),
		cmocka_unit_test(test_pse_toggle),
		cmocka_unit_test(test_boot),
		cmocka_unit_test(test_32bit_unsync_quadrant),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_zap_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
