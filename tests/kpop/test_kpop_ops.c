/*
 * test_kpop_ops.c - what seed 003's prototype lacked, and the fault path:
 * L2 faults on KPOP tables, gpa2 -> gpa1 (and walking L2's own tables
 * through L2's memory), aging, page tracking, dirty logging of L1's slots,
 * and L1 slot changes (the tables never keep a frame L1 lost).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/walk.h"
#include "arch/x86.h"
#include "mem/guestmem.h"
#include "kpop_fx.h"

#define NFMT 5

static struct kpop_map_desc md(uint64_t h, unsigned perms, uint64_t l2, uint64_t l1, uint64_t n)
{
	return (struct kpop_map_desc){ .handle = (uint32_t)h, .perms = perms, .l2_gfn = l2, .l1_gfn = l1, .npages = n };
}

static bool has_ad(const struct fx *f)
{
	return f->o.kind == KPOP_NPT || f->o.ad;
}

static void test_fault_and_age(void **state)
{
	(void)state;
	for (unsigned fi = 0; fi < NFMT; fi++) {
		struct fx f;
		struct xlate_result r;
		struct mmu_fault mf;
		uint64_t h, h2;
		struct kpop_map_desc d[2];

		fx_init(&f, &fx_formats[fi]);
		h = fx_load(&f, 0x1000, 0);
		h2 = fx_load(&f, 0x2000, 0);
		d[0] = md(h, KPOP_PERM_ALL, 0x10, 0x40, 8);
		d[1] = md(h2, KPOP_PERM_R, 0x900, 0x40, 8); /* the same L1 pages, aliased in another MMU */
		assert_int_equal(fx_map(&f, d, 2), 16);
		fx_check_model(&f, false);
		assert_int_equal(fx_access(&f, h, 0x10 << 12, ACCESS_READ, &r, NULL), -1);
		assert_int_equal(fx_access(&f, h, 0x10 << 12, ACCESS_READ, &r, &mf), -1);
		/* spurious: the handler finds the leaf already allows it */
		memset(&mf, 0, sizeof(mf));
		mf.kind = MMU_FAULT_TDP;
		mf.gpa = 0x11 << 12;
		mf.access = ACCESS_WRITE;
		assert_int_equal(kpop_page_fault(f.kp, h, &mf), RET_PF_SPURIOUS);
		assert_int_equal(kpop_page_fault(f.kp, 0x7777, &mf), RET_PF_ERROR);
		(void)kpop_flush_take(f.kp, h);

		if (has_ad(&f)) {
			/* everything old, then one access makes one page young */
			(void)kpop_age(f.kp, h, 0, 0x1000);
			(void)kpop_age(f.kp, h2, 0, 0x1000);
			assert_false(kpop_flush_pending(f.kp, h)); /* clearing A asks for no flush */
			assert_false(kpop_test_age(f.kp, h, 0x10, 8));
			assert_int_equal(fx_access(&f, h, 0x10 << 12, ACCESS_READ, &r, NULL), -1);
			assert_true(kpop_test_age(f.kp, h, 0x10, 8));
			assert_false(kpop_test_age(f.kp, h, 0x11, 7));
			assert_false(kpop_test_age(f.kp, h2, 0x900, 8));
			assert_true(kpop_age(f.kp, h, 0x0, 0x100));
			assert_false(kpop_test_age(f.kp, h, 0x10, 8));
			assert_false(kpop_age(f.kp, h, 0x10, 8));
			assert_false(kpop_flush_pending(f.kp, h));
			assert_int_equal(fx_access(&f, h2, 0x903 << 12, ACCESS_READ, &r, NULL), -1);
		} else {
			/* no A flags: present is young; aging removes the leaves, the records stay */
			assert_true(kpop_test_age(f.kp, h, 0x10, 8));
			assert_true(kpop_age(f.kp, h, 0x10, 8));
			assert_true(kpop_flush_take(f.kp, h));
			assert_false(kpop_test_age(f.kp, h, 0x10, 8));
			assert_int_equal(kpop_mapped_pages(f.kp, h), 8);
			fx_check_model(&f, true);
			assert_int_equal(fx_access(&f, h, (0x12 << 12) | 4, ACCESS_WRITE, &r, &mf), RET_PF_FIXED);
			assert_int_equal(mf.hfn << 12 | 4, r.hpa);
			assert_true(kpop_test_age(f.kp, h, 0x12, 1));
		}
		/* by L1 gfn: every MMU mapping it */
		assert_true(kpop_test_age_l1(f.kp, 0x43, 1));
		assert_false(kpop_test_age_l1(f.kp, 0x1000, 0x100)); /* nothing mapped there */
		assert_true(kpop_age_l1(f.kp, 0x40, 8));
		assert_false(kpop_test_age_l1(f.kp, 0x40, 8));
		assert_false(kpop_test_age(f.kp, h2, 0x900, 8));
		assert_false(kpop_test_age(f.kp, h, 0x10, 8));
		assert_int_equal(fx_access(&f, h2, 0x903 << 12, ACCESS_READ, &r, NULL), has_ad(&f) ? -1 : RET_PF_FIXED);
		assert_true(kpop_test_age_l1(f.kp, 0x43, 1));
		assert_false(kpop_test_age_l1(f.kp, 0x44, 4));
		fx_check_model(&f, true);
		fx_fini(&f);
	}
}

struct track_log {
	unsigned calls;
	uint64_t gpa;
	enum access_type access;
};

static void tracker(void *ctx, uint64_t l1_gpa, enum access_type access)
{
	struct track_log *t = ctx;

	t->calls++;
	t->gpa = l1_gpa;
	t->access = access;
}

static void test_tracking(void **state)
{
	(void)state;
	for (unsigned fi = 0; fi < NFMT; fi++) {
		struct fx f;
		struct xlate_result r;
		struct mmu_fault mf;
		struct track_log log = { 0 };
		uint64_t h, h2;
		struct kpop_map_desc d[2];
		int th;

		fx_init(&f, &fx_formats[fi]);
		th = kpop_track_register(f.kp, tracker, &log);
		assert_true(th >= 0);
		h = fx_load(&f, 0x1000, 0);
		h2 = fx_load(&f, 0x1000, 1);
		d[0] = md(h, KPOP_PERM_R | KPOP_PERM_W, 0x20, 0x80, 4);
		d[1] = md(h2, KPOP_PERM_R | KPOP_PERM_W, 0x520, 0x81, 1);
		assert_int_equal(fx_map(&f, d, 2), 5);
		fx_check_model(&f, false);
		(void)kpop_flush_take(f.kp, h);
		(void)kpop_flush_take(f.kp, h2);

		assert_int_equal(kpop_track_write(f.kp, 0x81, true), 0);
		assert_int_equal(kpop_track_write(f.kp, 0x81, true), 0); /* two users */
		assert_int_equal(kpop_track_count(f.kp, 0x81), 2);
		/* W gone at once from both MMUs mapping it */
		assert_true(kpop_flush_take(f.kp, h));
		assert_true(kpop_flush_take(f.kp, h2));
		fx_check_model(&f, false);
		assert_int_equal(fx_access(&f, h, (0x21 << 12) | 0x10, ACCESS_WRITE, &r, &mf), RET_PF_EMULATE);
		assert_int_equal(mf.emulate_gpa, (0x81 << 12) | 0x10);
		assert_int_equal(log.calls, 1);
		assert_int_equal(log.gpa, (0x81 << 12) | 0x10);
		assert_int_equal(log.access, ACCESS_WRITE);
		assert_int_equal(fx_access(&f, h2, 0x520 << 12, ACCESS_WRITE, &r, &mf), RET_PF_EMULATE);
		assert_int_equal(log.calls, 2);
		assert_int_equal(fx_access(&f, h, 0x21 << 12, ACCESS_READ, &r, NULL), -1);
		/* mapping it again while tracked: still no W */
		d[0] = md(h, KPOP_PERM_R | KPOP_PERM_W, 0x30, 0x81, 1);
		assert_int_equal(fx_map(&f, d, 1), 1);
		fx_check_model(&f, false);
		assert_int_equal(fx_access(&f, h, 0x30 << 12, ACCESS_WRITE, &r, &mf), RET_PF_EMULATE);
		/* untracked: the next write fault gives W back */
		assert_int_equal(kpop_track_write(f.kp, 0x81, false), 0);
		assert_int_equal(fx_access(&f, h, 0x30 << 12, ACCESS_WRITE, &r, &mf), RET_PF_EMULATE);
		assert_int_equal(kpop_track_write(f.kp, 0x81, false), 0);
		assert_int_equal(kpop_track_write(f.kp, 0x81, false), KPOP_EINVAL);
		assert_int_equal(fx_access(&f, h, 0x30 << 12, ACCESS_WRITE, &r, &mf), RET_PF_FIXED);
		assert_int_equal(r.outcome, XO_OK);
		assert_int_equal(log.calls, 4);
		fx_check_model(&f, false);
		assert_int_equal(kpop_track_unregister(f.kp, th), 0);
		assert_int_equal(kpop_track_unregister(f.kp, th), KPOP_EINVAL);
		fx_fini(&f);
	}
}

static bool dirty(struct fx *f, uint64_t l1)
{
	uint64_t bit = 0;

	assert_int_equal(memslots_dirty_get(f->ms, 4, l1 - FX_LOG_GFN, 1, &bit), MEMSLOT_OK);
	return bit & 1;
}

static void test_dirty_log(void **state)
{
	(void)state;
	for (unsigned fi = 0; fi < NFMT; fi++) {
		struct fx f;
		struct xlate_result r;
		struct mmu_fault mf;
		uint64_t h;
		struct kpop_map_desc d[1];

		fx_init(&f, &fx_formats[fi]);
		h = fx_load(&f, 0x1000, 0);
		d[0] = md(h, KPOP_PERM_R | KPOP_PERM_W, 0x100, FX_LOG_GFN, 16);
		assert_int_equal(fx_map(&f, d, 1), 16);
		(void)kpop_flush_take(f.kp, h);
		/* migration starts: W leaves every page of the slot */
		assert_int_equal(memslots_set_flags(f.ms, 4, MEMSLOT_F_LOG_DIRTY), MEMSLOT_OK);
		assert_true(kpop_flush_take(f.kp, h));
		fx_check_model(&f, false);
		assert_int_equal(memslots_dirty_count(f.ms, 4), 0);
		/* L2 writes: logged in L1's slot, W back for that page only */
		assert_int_equal(fx_access(&f, h, 0x103 << 12, ACCESS_WRITE, &r, &mf), RET_PF_FIXED);
		assert_int_equal(r.outcome, XO_OK);
		assert_true(dirty(&f, FX_LOG_GFN + 3));
		assert_int_equal(fx_access(&f, h, 0x103 << 12, ACCESS_WRITE, &r, NULL), -1);
		assert_int_equal(fx_access(&f, h, 0x104 << 12, ACCESS_READ, &r, NULL), -1);
		assert_int_equal(memslots_dirty_count(f.ms, 4), 1);
		fx_check_model(&f, false);
		/* a map while logging: W only for pages already dirty */
		d[0] = md(h, KPOP_PERM_R | KPOP_PERM_W, 0x200, FX_LOG_GFN + 3, 2);
		assert_int_equal(fx_map(&f, d, 1), 2);
		assert_int_equal(fx_access(&f, h, 0x200 << 12, ACCESS_WRITE, &r, NULL), -1);
		assert_int_equal(fx_access(&f, h, 0x201 << 12, ACCESS_WRITE, &r, NULL), RET_PF_FIXED);
		assert_true(dirty(&f, FX_LOG_GFN + 4));
		assert_int_equal(memslots_dirty_count(f.ms, 4), 2);
		fx_check_model(&f, false);
		/* the log is read and cleared: the pages are protected again */
		(void)kpop_flush_take(f.kp, h);
		assert_int_equal(memslots_dirty_clear(f.ms, 4, 0, FX_LOG_PAGES), MEMSLOT_OK);
		assert_true(kpop_flush_take(f.kp, h));
		fx_check_model(&f, false);
		assert_int_equal(fx_access(&f, h, 0x200 << 12, ACCESS_WRITE, &r, NULL), RET_PF_FIXED); /* alias of +3 */
		assert_true(dirty(&f, FX_LOG_GFN + 3));
		assert_int_equal(memslots_dirty_count(f.ms, 4), 1);
		/* logging off: writes just get W back on their fault */
		assert_int_equal(memslots_set_flags(f.ms, 4, 0), MEMSLOT_OK);
		assert_int_equal(fx_access(&f, h, 0x10a << 12, ACCESS_WRITE, &r, NULL), RET_PF_FIXED);
		fx_check_model(&f, false);
		fx_fini(&f);
	}
}

static void test_slot_changes(void **state)
{
	(void)state;
	for (unsigned fi = 0; fi < NFMT; fi++) {
		struct fx f;
		struct xlate_result r;
		struct mmu_fault mf;
		uint64_t h;
		struct kpop_map_desc d[2];
		struct memslot_desc sd = { .id = 4, .base_gfn = FX_LOG_GFN, .npages = FX_LOG_PAGES };

		fx_init(&f, &fx_formats[fi]);
		h = fx_load(&f, 0x1000, 0);
		d[0] = md(h, KPOP_PERM_R | KPOP_PERM_W, 0x100, FX_LOG_GFN + 0x10, 16);
		d[1] = md(h, KPOP_PERM_R | KPOP_PERM_W, 0x300, 0x10, 16);
		assert_int_equal(fx_map(&f, d, 2), 32);
		(void)kpop_flush_take(f.kp, h);
		/* read-only: W goes at once; a write is then emulated */
		assert_int_equal(memslots_set_flags(f.ms, 4, MEMSLOT_F_READONLY), MEMSLOT_OK);
		assert_true(kpop_flush_take(f.kp, h));
		fx_check_model(&f, false);
		assert_int_equal(fx_access(&f, h, 0x105 << 12, ACCESS_WRITE, &r, &mf), RET_PF_EMULATE);
		assert_int_equal(mf.emulate_gpa, (FX_LOG_GFN + 0x15) << 12);
		assert_int_equal(memslots_set_flags(f.ms, 4, 0), MEMSLOT_OK);
		assert_int_equal(fx_access(&f, h, 0x105 << 12, ACCESS_WRITE, &r, &mf), RET_PF_FIXED);
		fx_check_model(&f, false);
		/* the slot goes away: its frames go back, so do the mappings */
		assert_int_equal(memslots_remove(f.ms, 4), MEMSLOT_OK);
		fx_model_drop_l1(&f, FX_LOG_GFN, FX_LOG_PAGES);
		assert_true(kpop_flush_take(f.kp, h));
		assert_int_equal(kpop_mapped_pages(f.kp, h), 16);
		fx_check_model(&f, false);
		assert_int_equal(fx_access(&f, h, 0x105 << 12, ACCESS_READ, &r, NULL), RET_PF_INJECT);
		/* back, mapped, moved: the same */
		assert_int_equal(memslots_add(f.ms, &sd), MEMSLOT_OK);
		d[0] = md(h, KPOP_PERM_R | KPOP_PERM_W, 0x100, FX_LOG_GFN + 0x10, 16);
		assert_int_equal(fx_map(&f, d, 1), 16);
		fx_check_model(&f, false);
		assert_int_equal(memslots_move(f.ms, 4, 0x50000), MEMSLOT_OK);
		fx_model_drop_l1(&f, FX_LOG_GFN, FX_LOG_PAGES);
		fx_check_model(&f, false);
		d[0] = md(h, KPOP_PERM_R | KPOP_PERM_W, 0x100, 0x50010, 16);
		assert_int_equal(fx_map(&f, d, 1), 16);
		fx_check_model(&f, false);
		fx_fini(&f);
	}
}

static void put(struct fx *f, uint64_t l1_gpa, uint64_t v)
{
	struct guestmem gm = { .slots = f->ms, .port = f->port };

	assert_int_equal(guestmem_write(&gm, l1_gpa, 8, v), MEM_OK);
}

static void test_gpa2_to_gpa1(void **state)
{
	(void)state;
	for (unsigned fi = 0; fi < NFMT; fi++) {
		struct fx f;
		uint64_t h, l1 = 0, gva = UINT64_C(0x7f1234567000);
		struct kpop_map_desc d[2];
		struct pt_format fmt;
		struct cpu_features feat = { 0 };
		struct kpop_l2_mem l2m;
		struct walk_req req;
		struct walk_out out;
		uint64_t l2_tables = 0x1000, l1_tables = 0x500;

		fx_init(&f, &fx_formats[fi]);
		h = fx_load(&f, 0x1000, 0);
		d[0] = md(h, KPOP_PERM_R | KPOP_PERM_W, 0x1, l1_tables, 4); /* L2's page tables */
		d[1] = md(h, KPOP_PERM_R | KPOP_PERM_X, 0x77, 0x900, 1);     /* L2's data page */
		assert_int_equal(fx_map(&f, d, 2), 5);
		assert_int_equal(kpop_gva_to_gpa(f.kp, h, (0x3 << 12) | 0xabc, ACCESS_WRITE, &l1), 0);
		assert_int_equal(l1, ((l1_tables + 2) << 12) | 0xabc);
		assert_int_equal(kpop_gva_to_gpa(f.kp, h, 0x77 << 12, ACCESS_FETCH, &l1), 0);
		assert_int_equal(l1, 0x900 << 12);
		assert_int_equal(kpop_gva_to_gpa(f.kp, h, 0x77 << 12, ACCESS_WRITE, &l1), KPOP_EFAULT);
		assert_int_equal(kpop_gva_to_gpa(f.kp, h, 0x78 << 12, ACCESS_READ, &l1), KPOP_ENOENT);
		assert_int_equal(kpop_gva_to_gpa(f.kp, 0x4242, 0x77 << 12, ACCESS_READ, &l1), KPOP_ENOENT);

		/* L2's own 4-level tables at L2 gpas 0x1000.. (L1 writes them in its memory) */
		for (unsigned lv = 4; lv >= 2; lv--) {
			uint64_t table = l2_tables + (uint64_t)(4 - lv) * 0x1000;
			unsigned idx = (unsigned)(gva >> (12 + 9 * (lv - 1))) & 511;

			put(&f, ((l1_tables + (4 - lv)) << 12) + 8 * idx, (table + 0x1000) | PTE_P | PTE_RW | PTE_US);
		}
		put(&f, ((l1_tables + 3) << 12) + 8 * ((gva >> 12) & 511), (0x77 << 12) | PTE_P | PTE_US);
		pt_format_x86(&fmt, PAGING_4LEVEL, CPU_INTEL, FX_MAXPHY, &feat, CR4_PAE, EFER_LME | EFER_LMA, false);
		l2m = (struct kpop_l2_mem){ .kp = f.kp, .handle = h };
		memset(&req, 0, sizeof(req));
		req.fmt = &fmt;
		req.root = l2_tables;
		req.addr = gva | 0x42;
		req.mem = kpop_l2_pmem(&l2m);
		assert_int_equal(walk_tables(&req, &out), WALK_OK);
		assert_int_equal(out.out_addr, (0x77 << 12) | 0x42);
		assert_int_equal(kpop_gva_to_gpa(f.kp, h, out.out_addr, ACCESS_READ, &l1), 0);
		assert_int_equal(l1, (0x900 << 12) | 0x42);
		/* A flags through L2's memory (compare-exchange at L2 gpas) */
		assert_int_equal(walk_set_ad(&req, &out, false), WALK_OK);
		assert_true(out.ad_writes > 0);
		/* the processor's 2D walk: L2's tables through EPT02/NPT02, then the data page */
		{
			struct hw_config hc;
			struct hw_mmu hw;
			struct xlate_result xr;
			uint64_t hfn = 0;

			memset(&hc, 0, sizeof(hc));
			hc.cpu.vendor = f.o.kind == KPOP_EPT ? CPU_INTEL : CPU_AMD;
			hc.cpu.maxphyaddr = FX_MAXPHY;
			hc.cpu.regs.cr0 = CR0_PE | CR0_PG;
			hc.cpu.regs.cr4 = CR4_PAE;
			hc.cpu.regs.efer = EFER_LME | EFER_LMA;
			hc.cpu.regs.cr3 = l2_tables;
			hc.mem = hostmem_port(f.hm);
			assert_true(kpop_hw_program(f.kp, h, &hc));
			assert_null(hw_config_invalid(&hc));
			assert_true(hw_mmu_init(&hw, &hc, &xr));
			hw_translate(&hw, gva | 0x42, ACCESS_READ, false, &xr, NULL);
			assert_int_equal(xr.outcome, XO_OK);
			assert_int_equal(xr.gpa, (0x77 << 12) | 0x42);
			assert_int_equal(memslots_gfn_peek(f.ms, 0x900, &hfn, NULL), MEMSLOT_OK);
			assert_int_equal(xr.hpa, (hfn << 12) | 0x42);
		}
		/* a table L1 unmapped from L2: the walk cannot read it */
		struct kpop_unmap_desc u = { .handle = (uint32_t)h, .l2_gfn = 0x3, .npages = 1 };
		assert_int_equal(fx_unmap(&f, &u, 1), 1);
		assert_int_equal(walk_tables(&req, &out), WALK_ABORT);
		fx_check_model(&f, false);
		fx_fini(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fault_and_age),
		cmocka_unit_test(test_tracking),
		cmocka_unit_test(test_dirty_log),
		cmocka_unit_test(test_slot_changes),
		cmocka_unit_test(test_gpa2_to_gpa1),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
