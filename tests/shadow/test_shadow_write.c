/*
 * Write protection of guest page tables: the guest's writes to a page it
 * uses as a page table are trapped and emulated, and the translation
 * follows at once (no INVLPG needed without unsync); partial and
 * multi-entry writes; write flooding; page tracking for other parts;
 * read-only and MMIO slots. Outcomes are checked against the hardware
 * walker over the guest's own tables (harness.h).
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

static void wp_mode(enum paging_mode mode, bool dm_large)
{
	struct env e;
	struct env_opts o = { .mode = mode, .pse = true, .nxe = true, .dm_large = dm_large };
	uint64_t x = DATA_BASE, y = DATA_BASE + 0x10000, leaf, pde;
	uint64_t em, trapped;
	struct xs r;

	env_init(&e, &o);
	leaf = g_map(&e, e.kroot, USER_VA, x, 1, UFLAGS, UFLAGS, false);
	env_load_cr3(&e, e.kroot, true);
	env_read(&e, USER_VA + 8, 3, &r);
	assert_int_equal(r.gpa, x + 8);

	/* The guest retargets its PTE: trapped, emulated, followed at once. */
	em = e.emulated;
	trapped = e.cnt.spt_writes_trapped[CNT_L0];
	uint64_t emulated = e.cnt.spt_writes_emulated[CNT_L0];
	g_write_entry(&e, leaf, y | UFLAGS);
	assert_int_equal(e.emulated, em + 1);
	assert_int_equal(e.cnt.spt_writes_trapped[CNT_L0], trapped + 1);
	assert_int_equal(e.cnt.spt_writes_emulated[CNT_L0], emulated + 1);
	env_read(&e, USER_VA + 8, 3, &r);
	assert_int_equal(r.gpa, y + 8);

	/* Not present: the guest's #PF (user read: U). */
	g_write_entry(&e, leaf, 0);
	env_read(&e, USER_VA, 3, &r);
	assert_int_equal(r.outcome, XO_PAGE_FAULT);
	assert_int_equal(r.ec, PFEC_U);
	g_write_entry(&e, leaf, y | UFLAGS | PTE_A | PTE_D);
	env_access(&e, USER_VA, ACCESS_WRITE, 3, false, 8, 0, &r);
	assert_int_equal(r.outcome, XO_OK);

	/* A PDE made read-only: user writes fault with P|W|U at once. */
	pde = g_entry_gpa(&e, e.kroot, USER_VA, 2);
	g_write_entry(&e, pde, g_ref_get(&e, pde) & ~PTE_RW);
	env_access(&e, USER_VA, ACCESS_WRITE, 3, false, 8, 0, &r);
	assert_int_equal(r.outcome, XO_PAGE_FAULT);
	assert_int_equal(r.ec, PFEC_P | PFEC_W | PFEC_U);
	env_read(&e, USER_VA, 3, &r);
	assert_int_equal(r.outcome, XO_OK);
	g_write_entry(&e, pde, g_ref_get(&e, pde) | PTE_RW);
	env_access(&e, USER_VA, ACCESS_WRITE, 3, false, 8, 0, &r);
	assert_int_equal(r.outcome, XO_OK);

	/* Partial writes: the two halves of an 8-byte entry, or two 4-byte entries at once. */
	if (mode == PAGING_32) {
		uint64_t pair = leaf & ~UINT64_C(7); /* USER_VA's PTE and its neighbour */
		uint64_t two = (y | UFLAGS) | ((uint64_t)(x | UFLAGS) << 32);

		env_access(&e, e.dm_base + pair, ACCESS_WRITE, 0, false, 8, two, &r);
		assert_int_equal(r.outcome, XO_OK);
		env_read(&e, USER_VA, 3, &r);
		assert_int_equal(r.gpa, y);
		env_read(&e, USER_VA + PAGE_SIZE_4K, 3, &r);
		assert_int_equal(r.gpa, x);
	} else if (mode != PAGING_NONE) {
		env_access(&e, e.dm_base + leaf + 4, ACCESS_WRITE, 0, false, 4, 0, &r); /* high half */
		env_access(&e, e.dm_base + leaf, ACCESS_WRITE, 0, false, 4, x | PTE_P | PTE_US, &r);
		env_read(&e, USER_VA, 3, &r);
		assert_int_equal(r.gpa, x);
		env_access(&e, USER_VA, ACCESS_WRITE, 3, false, 8, 0, &r);
		assert_int_equal(r.outcome, XO_PAGE_FAULT);
		assert_int_equal(r.ec, PFEC_P | PFEC_W | PFEC_U);
	}
	env_check_tables(&e);
	env_check_subset(&e, (uint64_t[]){ USER_VA, USER_VA + PAGE_SIZE_4K, e.dm_base + leaf }, 3);

	/*
	 * Write flooding: the page table written again and again, never used
	 * for a translation in between: its shadow page is zapped, the frame
	 * stops being protected, and the guest's next writes do not trap.
	 */
	struct shadow_stats st;
	uint64_t other = leaf + (mode == PAGING_32 ? 0x100 : 0x200); /* an unused entry of the same table */

	for (unsigned i = 0; i < SHADOW_FLOOD_DEFAULT; i++)
		g_write_entry(&e, other, 0);
	shadow_get_stats(e.s, &st);
	/* (two pages: the table was also shadowed with the read-only PDE's role) */
	assert_int_equal(st.flood_zaps, 2);
	assert_false(shadow_write_tracked(e.s, leaf >> 12)); /* never tracked by another part */
	em = e.emulated;
	g_write_entry(&e, other, 0);
	g_write_entry(&e, other, 0);
	assert_int_equal(e.emulated, em);
	/* Used again as a page table: shadowed and protected again. */
	env_read(&e, USER_VA, 3, &r);
	assert_int_equal(r.gpa, g_ref_get(&e, leaf) & ~UINT64_C(0xfff));
	g_write_entry(&e, other, 0);
	assert_int_equal(e.emulated, em + 1);
	env_check_tables(&e);
	env_fini(&e);
}

static void test_wp_4level(void **state)
{
	(void)state;
	wp_mode(PAGING_4LEVEL, false);
	wp_mode(PAGING_4LEVEL, true); /* the table frames lie inside the guest's 2 MiB pages */
}

static void test_wp_5level(void **state)
{
	(void)state;
	wp_mode(PAGING_5LEVEL, true);
}

static void test_wp_pae(void **state)
{
	(void)state;
	wp_mode(PAGING_PAE, false);
	wp_mode(PAGING_PAE, true);
}

static void test_wp_32(void **state)
{
	(void)state;
	wp_mode(PAGING_32, false);
	wp_mode(PAGING_32, true);
}

/*
 * Guest CR0.WP = 0: a supervisor write to a read-only supervisor large page
 * is allowed and sets D; the shadow leaves are then writable. When the
 * guest clears D, the next write must fault again and set D again.
 */
static void test_wp0_large_page_dirty(void **state)
{
	struct env e;
	struct env_opts o = { .mode = PAGING_4LEVEL, .nxe = true, .dm_large = true };
	uint64_t va = UINT64_C(0x60000000), pde;
	struct xs r;

	(void)state;
	env_init(&e, &o);
	pde = g_map(&e, e.kroot, va, DATA_BASE + UINT64_C(0x04000000), 2, PTE_P | PTE_A, PTE_P | PTE_RW, false);
	env_set_ctl(&e, e.cpu.regs.cr0 & ~CR0_WP, e.cpu.regs.cr4, e.cpu.regs.efer);
	for (unsigned i = 0; i < 3; i++) {
		env_access(&e, va + 0x3008, ACCESS_WRITE, 0, false, 8, 0, &r);
		assert_int_equal(r.outcome, XO_OK);
		assert_true(g_ref_get(&e, pde) & PTE_D);
		g_write_entry(&e, pde, g_ref_get(&e, pde) & ~PTE_D);
	}
	env_access(&e, va + 0x3008, ACCESS_WRITE, 3, false, 8, 0, &r); /* user: the guest's #PF */
	assert_int_equal(r.outcome, XO_PAGE_FAULT);
	assert_int_equal(r.ec, PFEC_P | PFEC_W | PFEC_U);
	env_check_tables(&e);
	env_fini(&e);
}

/*
 * 32-bit paging: a guest PDE covers 4 MiB and is shadowed by two 2 MiB
 * entries, its page table by two shadow pages (quadrants). Both halves are
 * used, then the PDE and PTEs in both halves are rewritten.
 */
static void test_32bit_halves(void **state)
{
	struct env e;
	struct env_opts o = { .mode = PAGING_32, .pse = true, .dm_large = true };
	uint64_t lo = USER_VA + 0x5000, hi = USER_VA + PAGE_SIZE_2M + 0x5000, leaf_lo, leaf_hi, pde;
	struct xs r;

	(void)state;
	env_init(&e, &o);
	leaf_lo = g_map(&e, e.kroot, lo, DATA_BASE, 1, UFLAGS, UFLAGS, false);
	leaf_hi = g_map(&e, e.kroot, hi, DATA_BASE + 0x1000, 1, UFLAGS, UFLAGS, false);
	pde = g_entry_gpa(&e, e.kroot, lo, 2);
	env_read(&e, lo, 3, &r);
	assert_int_equal(r.gpa, DATA_BASE);
	env_read(&e, hi, 3, &r);
	assert_int_equal(r.gpa, DATA_BASE + 0x1000); /* the upper quadrant of the same guest PT */
	g_write_entry(&e, leaf_hi, (DATA_BASE + 0x2000) | UFLAGS);
	env_read(&e, hi, 3, &r);
	assert_int_equal(r.gpa, DATA_BASE + 0x2000);
	env_read(&e, lo, 3, &r);
	assert_int_equal(r.gpa, DATA_BASE);
	g_write_entry(&e, pde, g_ref_get(&e, pde) & ~PTE_US); /* both 2 MiB shadow entries go */
	env_read(&e, hi, 3, &r);
	assert_int_equal(r.outcome, XO_PAGE_FAULT);
	env_read(&e, lo, 3, &r);
	assert_int_equal(r.outcome, XO_PAGE_FAULT);
	g_write_entry(&e, pde, g_ref_get(&e, pde) | PTE_US);
	env_read(&e, hi, 3, &r);
	env_read(&e, lo, 3, &r);
	/* A 4 MiB page over the same range: both halves through direct pages. */
	g_write_entry(&e, pde, DATA_BASE | PTE_PS | UFLAGS);
	env_read(&e, hi, 3, &r);
	assert_int_equal(r.gpa, DATA_BASE + PAGE_SIZE_2M + 0x5000);
	env_read(&e, lo, 3, &r);
	assert_int_equal(r.gpa, DATA_BASE + 0x5000);
	(void)leaf_lo;
	env_check_tables(&e);
	env_fini(&e);
}

/* ---- page tracking for other parts ---- */

struct tracked_log {
	unsigned n;
	uint64_t gpa, val;
	unsigned size;
};

static void on_track_write(void *ctx, uint64_t gpa, unsigned size, uint64_t val)
{
	struct tracked_log *l = ctx;

	l->n++;
	l->gpa = gpa;
	l->size = size;
	l->val = val;
}

/* A bare MMU (no harness) over one slot: for slot kinds the reference cannot model. */
struct bare {
	struct hostmem *hm;
	struct frames *fr;
	struct mem_l0 *l0;
	struct memslots *ms;
	struct guestmem gm;
	struct counters cnt;
	struct shadow_mmu *s;
	struct cpu cpu;
};

static void bare_init(struct bare *b, void (*track)(void *, uint64_t, unsigned, uint64_t), void *ctx)
{
	memset(b, 0, sizeof(*b));
	b->hm = hostmem_create(UINT64_C(1) << 32);
	b->fr = frames_create(0x100, 0x10000);
	b->l0 = mem_l0_create(b->hm, b->fr);
	b->ms = memslots_create(b->fr, 40);
	b->gm = (struct guestmem){ .slots = b->ms, .port = mem_l0_port(b->l0) };
	assert_int_equal(memslots_add(b->ms, &(struct memslot_desc){ .id = 1, .npages = 0x1000 }), MEMSLOT_OK);
	assert_int_equal(memslots_add(b->ms, &(struct memslot_desc){ .id = 2, .base_gfn = 0x1000, .npages = 16,
				       .flags = MEMSLOT_F_READONLY }), MEMSLOT_OK);
	assert_int_equal(memslots_add(b->ms, &(struct memslot_desc){ .id = 3, .base_gfn = 0x1010, .npages = 16,
				       .flags = MEMSLOT_F_MMIO }), MEMSLOT_OK);
	struct shadow_config cfg = {
		.port = mem_l0_port(b->l0), .slots = b->ms, .hw_maxphyaddr = 40, .cnt = &b->cnt,
		.level = CNT_L1, .pt_kind = CNT_PT_SHADOW_L1, .track_write = track, .track_ctx = ctx,
	};
	b->s = shadow_create(&cfg);
	assert_non_null(b->s);
	b->cpu.maxphyaddr = 40;
	b->cpu.regs.cr0 = CR0_PE; /* paging off: gva = gpa */
}

static void bare_fini(struct bare *b)
{
	assert_null(shadow_check(b->s));
	shadow_destroy(b->s);
	assert_int_equal(counters_pt_live(&b->cnt, CNT_PT_SHADOW_L1), 0);
	memslots_destroy(b->ms);
	mem_l0_destroy(b->l0);
	assert_int_equal(frames_allocated(b->fr), 0);
	frames_destroy(b->fr);
	hostmem_destroy(b->hm);
}

static enum ret_pf bare_fault(struct bare *b, uint64_t gva, enum access_type t, struct mmu_fault *f)
{
	memset(f, 0, sizeof(*f));
	f->kind = MMU_FAULT_GUEST;
	f->access = t;
	f->gva = gva;
	f->error_code = t == ACCESS_WRITE ? PFEC_W : 0;
	return shadow_page_fault(b->s, &b->cpu, f);
}

static void test_track_and_slots(void **state)
{
	struct tracked_log log = { 0 };
	struct mmu_fault f;
	struct bare b;
	uint64_t v;

	(void)state;
	bare_init(&b, on_track_write, &log);
	/* Counted on the configured level and page kind: nothing assumes L0. */
	assert_int_equal(bare_fault(&b, 0x5008, ACCESS_WRITE, &f), RET_PF_FIXED);
	assert_int_equal(b.cnt.spt_faults[CNT_L1], 1);
	assert_int_equal(b.cnt.spt_faults[CNT_L0], 0);
	assert_true(counters_pt_live(&b.cnt, CNT_PT_SHADOW_L1) > 0);
	assert_int_equal(counters_pt_live(&b.cnt, CNT_PT_SHADOW_L0), 0);
	/* Tracked: a write comes back as EMULATE; the emulated store is reported. */
	assert_int_equal(shadow_track_write(b.s, 5), 0);
	assert_true(shadow_tlb_flush_pending(b.s, true)); /* the writable leaf lost W */
	assert_int_equal(bare_fault(&b, 0x5010, ACCESS_WRITE, &f), RET_PF_EMULATE);
	assert_int_equal(f.emulate_gpa, 0x5010);
	assert_int_equal(shadow_emulate_write(b.s, &b.cpu, 0x5012, 2, 0xbeef), MEM_OK);
	assert_int_equal(log.n, 1);
	assert_int_equal(log.gpa, 0x5012);
	assert_int_equal(log.size, 2);
	assert_int_equal(log.val, 0xbeef);
	assert_int_equal(guestmem_read(&b.gm, 0x5010, 8, &v), MEM_OK);
	assert_int_equal(v, UINT64_C(0xbeef) << 16);
	/* Reads still go through the (read-only) leaf. */
	assert_int_equal(bare_fault(&b, 0x5010, ACCESS_READ, &f), RET_PF_SPURIOUS);
	assert_int_equal(shadow_untrack_write(b.s, 5), 0);
	assert_int_equal(bare_fault(&b, 0x5010, ACCESS_WRITE, &f), RET_PF_FIXED);
	assert_false(shadow_tlb_flush_pending(b.s, true));

	/* A read-only slot: reads map, writes are emulated, the store is refused. */
	assert_int_equal(bare_fault(&b, 0x1000008, ACCESS_READ, &f), RET_PF_FIXED);
	assert_int_equal(bare_fault(&b, 0x1000008, ACCESS_WRITE, &f), RET_PF_EMULATE);
	assert_int_equal(f.emulate_gpa, 0x1000008);
	assert_int_equal(shadow_emulate_write(b.s, &b.cpu, 0x1000008, 8, 1), MEM_READONLY);
	/* MMIO: emulated, nothing mapped. Outside every slot: an error. */
	assert_int_equal(bare_fault(&b, 0x1010000, ACCESS_READ, &f), RET_PF_EMULATE);
	assert_int_equal(f.emulate_gpa, 0x1010000);
	assert_int_equal(bare_fault(&b, 0x2000000, ACCESS_READ, &f), RET_PF_ERROR);
	assert_non_null(f.error);
	assert_int_equal(shadow_emulate_write(b.s, &b.cpu, 0x1010000, 4, 1), MEM_MMIO);
	assert_int_equal(shadow_emulate_write(b.s, &b.cpu, 0x5ffc, 8, 1), MEM_INVALID); /* crosses a page */

	/* Removing a slot zaps everything; the next fault rebuilds. */
	assert_int_equal(memslots_remove(b.ms, 2), MEMSLOT_OK);
	struct shadow_stats st;
	shadow_get_stats(b.s, &st);
	assert_int_equal(st.pages, 0);
	assert_int_equal(bare_fault(&b, 0x5010, ACCESS_READ, &f), RET_PF_FIXED);
	bare_fini(&b);
}

/* Dirty logging: a logging slot's pages are writable only once logged dirty. */
static void test_dirty_log(void **state)
{
	struct mmu_fault f;
	struct bare b;
	uint64_t bits;

	(void)state;
	bare_init(&b, NULL, NULL);
	assert_int_equal(bare_fault(&b, 0x7000, ACCESS_READ, &f), RET_PF_FIXED);
	assert_int_equal(memslots_set_flags(b.ms, 1, MEMSLOT_F_LOG_DIRTY), MEMSLOT_OK);
	assert_int_equal(bare_fault(&b, 0x7000, ACCESS_READ, &f), RET_PF_SPURIOUS); /* still readable */
	assert_int_equal(bare_fault(&b, 0x7000, ACCESS_WRITE, &f), RET_PF_FIXED);   /* logs it */
	assert_int_equal(memslots_dirty_get(b.ms, 1, 7, 1, &bits), MEMSLOT_OK);
	assert_int_equal(bits & 1, 1);
	assert_int_equal(bare_fault(&b, 0x7000, ACCESS_WRITE, &f), RET_PF_SPURIOUS);
	/* Clearing the log write-protects the page again. */
	assert_int_equal(memslots_dirty_clear(b.ms, 1, 7, 1), MEMSLOT_OK);
	assert_true(shadow_tlb_flush_pending(b.s, true));
	assert_int_equal(bare_fault(&b, 0x7000, ACCESS_WRITE, &f), RET_PF_FIXED);
	assert_int_equal(memslots_dirty_count(b.ms, 1), 1);
	bare_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wp_4level),
		cmocka_unit_test(test_wp_5level),
		cmocka_unit_test(test_wp_pae),
		cmocka_unit_test(test_wp_32),
		cmocka_unit_test(test_wp0_large_page_dirty),
		cmocka_unit_test(test_32bit_halves),
		cmocka_unit_test(test_track_and_slots),
		cmocka_unit_test(test_dirty_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
