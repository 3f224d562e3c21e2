/*
 * Lazy fill: one fault builds exactly the tables the rules say, and the
 * hardware walker then translates to the slot's frame - EPT and NPT, 4 and
 * 5 levels, 4 KiB / 2 MiB / 1 GiB leaves; the configured maximum page size
 * and slot alignment; read-only and MMIO slots; gpas outside every slot;
 * spurious faults; the EPTP / nCR3; a guest with its own page tables.
 *
 * Expected values come from the rules (tdp.h, tdp_fx.h):
 *  - frames are handed out lowest first: root = 0x100; a fault takes the
 *    backing run first (order 0: frame 0x101; order k > 0: the lowest free
 *    run aligned to 2^k, which is 2^k itself), then the tables top down;
 *  - entries: EPT table = addr|RWX (7); EPT leaf = addr|R|X|WB<<3|IPAT (0x75)
 *    plus W (2) and PS (0x80) for 2M/1G; NPT table = addr|P|RW|US (7); NPT
 *    leaf = addr|P|US (5) plus RW (2) and PS (0x80).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86.h"
#include "mem/guestmem.h"
#include "tdp_fx.h"

#define GIB (UINT64_C(1) << 30)

static uint64_t base_gpa(const struct fx_opts *o)
{
	return (o->levels == 5 ? UINT64_C(1) << 49 : 0) + 3 * GIB;
}

static uint64_t rd(struct fx *f, uint64_t pa)
{
	uint64_t v;

	assert_int_equal(hostmem_read64(f->hm, pa, &v), 0);
	return v;
}

static unsigned idx(uint64_t gpa, unsigned level)
{
	return (unsigned)((gpa >> (12 + 9 * (level - 1))) & 511);
}

static uint64_t leaf_bits(enum tdp_kind k, unsigned level, bool w)
{
	uint64_t e = k == TDP_EPT ? 0x75 : 0x5;

	if (w)
		e |= 2;
	if (level > 1)
		e |= 0x80;
	return e;
}

/* One fault in a slot of backing `order` with leaves up to `max_level`. */
static void one_fill(const struct fx_opts *fmt, unsigned order, unsigned max_level, unsigned want_level)
{
	struct fx f;
	struct fx_opts o = *fmt;
	struct xlate_result r;
	struct mmu_fault mf;
	uint64_t base = base_gpa(&o), gpa = base + 0x1234567;
	uint64_t run = order ? UINT64_C(1) << order : 0x101;
	uint64_t first_table = order ? 0x101 : 0x102;
	uint64_t run_bytes = (UINT64_C(1) << order) << 12;
	uint64_t want_hpa = (run << 12) | (gpa & (run_bytes - 1));
	uint64_t size = UINT64_C(1) << (12 + 9 * (want_level - 1));
	uint64_t table = FX_FIRST_HFN << 12;

	o.max_level = max_level;
	fx_init(&f, &o);
	fx_slot(&f, 1, base >> 12, UINT64_C(1) << 19, 0, order);

	/* nothing mapped: the hardware faults, the MMU fixes it */
	fx_hw(&f, gpa, ACCESS_READ, &r);
	assert_int_equal(r.outcome, o.kind == TDP_EPT ? XO_EPT_VIOLATION : XO_NPF);
	assert_true(tdp_fault_from_exit(&mf, &r));
	assert_int_equal(mf.access, ACCESS_READ);
	assert_int_equal(tdp_page_fault(f.t, &mf), RET_PF_FIXED);
	assert_int_equal(mf.level, want_level);
	assert_int_equal(mf.gfn, gpa >> 12);
	assert_int_equal(mf.hfn, want_hpa >> 12);

	/* the entries, read from host memory before any access sets A/D */
	for (unsigned l = o.levels; l > want_level; l--) {
		uint64_t next = (first_table + (o.levels - l)) << 12;

		assert_int_equal(rd(&f, table + 8 * idx(gpa, l)), next | 7);
		table = next;
	}
	assert_int_equal(rd(&f, table + 8 * idx(gpa, want_level)),
			 (want_hpa & ~(size - 1)) | leaf_bits(o.kind, want_level, true));

	/* accounting: root + one table per level above the leaf */
	assert_int_equal(tdp_tables_live(f.t), 1 + o.levels - want_level);
	assert_int_equal(f.cnt.pt_alloc[CNT_PT_EPT01], 1 + o.levels - want_level);
	assert_int_equal(f.cnt.pt_peak[CNT_PT_EPT01], 1 + o.levels - want_level);
	assert_int_equal(f.cnt.tdp_entries_set[CNT_L0], o.levels - want_level + 1);
	assert_int_equal(f.cnt.tdp_faults[CNT_L0], 1);
	assert_int_equal(tdp_get_stats(f.t)->leaves_installed[want_level], 1);

	/* the hardware now translates every access to the slot's frame */
	for (int t = ACCESS_READ; t <= ACCESS_FETCH; t++) {
		fx_hw(&f, gpa, (enum access_type)t, &r);
		assert_int_equal(r.outcome, XO_OK);
		assert_int_equal(r.hpa, want_hpa);
		assert_int_equal(r.page_size, size);
		fx_expect_mapped(&f, gpa, (enum access_type)t);
	}
	/* the hardware set A on every level and D on the leaf (the write) */
	{
		unsigned lvl = 0;
		uint64_t leaf = fx_leaf(&f, gpa, &lvl);
		uint64_t a = o.kind == TDP_EPT ? EPT_A : PTE_A, d = o.kind == TDP_EPT ? EPT_D : PTE_D;

		assert_int_equal(lvl, want_level);
		assert_int_equal(leaf & (a | d), a | d);
	}
	/* the same fault again is spurious and changes nothing */
	{
		uint64_t h = fx_tables_hash(&f);
		struct mmu_fault again = { .kind = MMU_FAULT_TDP, .access = ACCESS_WRITE, .gpa = gpa };

		assert_int_equal(tdp_page_fault(f.t, &again), RET_PF_SPURIOUS);
		assert_int_equal(fx_tables_hash(&f), h);
		assert_int_equal(f.cnt.tdp_faults[CNT_L0], 1);
		assert_int_equal(tdp_get_stats(f.t)->faults[RET_PF_SPURIOUS], 1);
	}
	/* the rest of the leaf needs no fault; beyond it, one more fault */
	fx_expect_mapped(&f, (gpa & ~(size - 1)) + size - 8, ACCESS_WRITE);
	fx_expect_fault(&f, (gpa & ~(size - 1)) + size, ACCESS_READ);
	assert_int_equal(fx_access(&f, (gpa & ~(size - 1)) + size, ACCESS_READ, &r, NULL, NULL), RET_PF_FIXED);
	fx_expect_mapped(&f, (gpa & ~(size - 1)) + size, ACCESS_READ);
	assert_int_equal(fx_audit(&f, NULL), 2);
	assert_false(tdp_flush_pending(f.t)); /* only additions so far */
	fx_fini(&f);
}

static void test_fill_4k(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++)
		one_fill(&fx_formats[i], 0, 3, 1);
}

static void test_fill_2m(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++)
		one_fill(&fx_formats[i], 9, 3, 2);
}

static void test_fill_1g(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++)
		one_fill(&fx_formats[i], 18, 3, 3);
}

/* The configured maximum page size caps the leaf, whatever the slot allows. */
static void test_max_level(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		one_fill(&fx_formats[i], 18, 2, 2);
		one_fill(&fx_formats[i], 18, 1, 1);
		one_fill(&fx_formats[i], 9, 1, 1);
	}
}

/* A 2M-backed slot whose 1 GiB regions are not all inside it: 2M leaves at its edges. */
static void test_slot_edges(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		struct fx f;
		struct xlate_result r;
		struct mmu_fault mf;
		uint64_t base = base_gpa(&fx_formats[i]) + 2 * (UINT64_C(1) << 21);

		fx_init(&f, &fx_formats[i]);
		/* 1 GiB + 4 MiB of 2M runs starting 4 MiB into a 1 GiB region */
		fx_slot(&f, 1, base >> 12, (UINT64_C(1) << 18) + 1024, 0, 9);
		assert_int_equal(fx_access(&f, base + 0x5000, ACCESS_WRITE, &r, &mf, NULL), RET_PF_FIXED);
		assert_int_equal(mf.level, 2);
		assert_int_equal(r.page_size, UINT64_C(1) << 21);
		/* the next 1 GiB region lies wholly in the slot, but its runs are 2M */
		assert_int_equal(fx_access(&f, base - 2 * (UINT64_C(1) << 21) + GIB + 0x3000, ACCESS_READ, &r,
					   &mf, NULL), RET_PF_FIXED);
		assert_int_equal(mf.level, 2);
		fx_expect_mapped(&f, base + 0x5000, ACCESS_READ);
		assert_int_equal(fx_audit(&f, NULL), 2);
		fx_fini(&f);
	}
}

/* A 1G-backed slot that ends 1 GiB in: the last 1 GiB fits, nothing beyond. */
static void test_slot_end(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		struct fx f;
		struct xlate_result r;
		struct mmu_fault mf;
		uint64_t base = base_gpa(&fx_formats[i]);

		fx_init(&f, &fx_formats[i]);
		fx_slot(&f, 1, base >> 12, UINT64_C(1) << 18, 0, 18);
		assert_int_equal(fx_access(&f, base + GIB - 8, ACCESS_READ, &r, &mf, NULL), RET_PF_FIXED);
		assert_int_equal(mf.level, 3);
		assert_int_equal(fx_access(&f, base + GIB, ACCESS_READ, &r, &mf, NULL), RET_PF_ERROR);
		assert_non_null(mf.error);
		fx_fini(&f);
	}
}

static void test_readonly(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		const struct fx_opts *o = &fx_formats[i];
		struct fx f;
		struct xlate_result r;
		struct mmu_fault mf;
		uint64_t base = base_gpa(o), gpa = base + 0x3008;
		unsigned lvl;

		fx_init(&f, o);
		fx_slot(&f, 7, base >> 12, 512, MEMSLOT_F_READONLY, 9);
		/* a write first: emulated, nothing installed, nothing backed */
		assert_int_equal(fx_access(&f, gpa, ACCESS_WRITE, &r, &mf, NULL), RET_PF_EMULATE);
		assert_int_equal(mf.emulate_gpa, gpa);
		assert_int_equal(tdp_tables_live(f.t), 1);
		assert_int_equal(memslots_backed_pages(f.ms), 0);
		/* a read maps the page without W */
		assert_int_equal(fx_access(&f, gpa, ACCESS_READ, &r, &mf, NULL), RET_PF_FIXED);
		fx_expect_mapped(&f, gpa, ACCESS_READ);
		fx_expect_mapped(&f, gpa, ACCESS_FETCH);
		assert_int_equal(fx_leaf(&f, gpa, &lvl) & 0xff, (o->kind == TDP_EPT ? 0x75 : 0x5) | 0x80 |
				 (o->kind == TDP_EPT ? 0 : PTE_A)); /* NPT: A set by the reads */
		assert_int_equal(lvl, 2);
		/* the write now faults with the page readable but not writable */
		fx_hw(&f, gpa, ACCESS_WRITE, &r);
		if (o->kind == TDP_EPT) {
			assert_int_equal(r.outcome, XO_EPT_VIOLATION);
			assert_int_equal(r.qualification & 0x3f, EPTQ_WRITE | EPTQ_READABLE | EPTQ_EXECUTABLE);
		} else {
			assert_int_equal(r.outcome, XO_NPF);
			assert_int_equal(r.exitinfo1, NPF_P | NPF_W | NPF_U | NPF_FINAL);
		}
		{
			uint64_t h = fx_tables_hash(&f);

			assert_true(tdp_fault_from_exit(&mf, &r));
			assert_int_equal(tdp_page_fault(f.t, &mf), RET_PF_EMULATE);
			assert_int_equal(mf.emulate_gpa, gpa);
			assert_int_equal(fx_tables_hash(&f), h);
		}
		fx_expect_fault(&f, gpa, ACCESS_WRITE);
		assert_int_equal(fx_audit(&f, NULL), 1);
		fx_fini(&f);
	}
}

static void test_mmio_and_outside(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		const struct fx_opts *o = &fx_formats[i];
		struct fx f;
		struct xlate_result r;
		struct mmu_fault mf;
		uint64_t base = base_gpa(o);

		fx_init(&f, o);
		fx_slot(&f, 1, base >> 12, 16, MEMSLOT_F_MMIO, 0);
		for (int t = ACCESS_READ; t <= ACCESS_FETCH; t++) {
			assert_int_equal(fx_access(&f, base + 0x2010, (enum access_type)t, &r, &mf, NULL),
					 RET_PF_EMULATE);
			assert_int_equal(mf.emulate_gpa, base + 0x2010);
		}
		/* just past the hole, and far away: no slot */
		assert_int_equal(fx_access(&f, base + 0x10000, ACCESS_READ, &r, &mf, NULL), RET_PF_ERROR);
		assert_string_equal(mf.error, "tdp: gpa outside every memory slot");
		assert_int_equal(fx_access(&f, 0, ACCESS_WRITE, &r, &mf, NULL), RET_PF_ERROR);
		/* beyond the guest-physical space */
		mf = (struct mmu_fault){ .kind = MMU_FAULT_TDP, .gpa = UINT64_C(1) << 53 };
		assert_int_equal(tdp_page_fault(f.t, &mf), RET_PF_ERROR);
		/* nothing was installed or allocated: the root is the only frame */
		assert_int_equal(tdp_tables_live(f.t), 1);
		assert_int_equal(frames_allocated(f.fr), 1);
		assert_int_equal(tdp_get_stats(f.t)->faults[RET_PF_EMULATE], 3);
		assert_int_equal(tdp_get_stats(f.t)->faults[RET_PF_ERROR], 3);
		assert_int_equal(f.cnt.tdp_faults[CNT_L0], 0);
		fx_fini(&f);
	}
}

static void test_root_values(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		const struct fx_opts *o = &fx_formats[i];
		struct fx f;

		fx_init(&f, o);
		assert_int_equal(tdp_root_pa(f.t), FX_FIRST_HFN << 12);
		if (o->kind == TDP_EPT) {
			/* WB (6), walk length - 1 in bits 5:3, A/D enable (bit 6) */
			assert_int_equal(tdp_root_eptp(f.t), (FX_FIRST_HFN << 12) | 6 | ((o->levels - 1) << 3) | 0x40);
			assert_int_equal(tdp_root_ncr3(f.t), 0);
		} else {
			assert_int_equal(tdp_root_ncr3(f.t), FX_FIRST_HFN << 12);
			assert_int_equal(tdp_root_eptp(f.t), 0);
			assert_int_equal(f.hw.cfg.ncr4 & CR4_LA57, o->levels == 5 ? CR4_LA57 : 0);
		}
		assert_int_equal(f.hw.nested_fmt.levels, o->levels);
		fx_fini(&f);
	}
	{
		struct fx f;
		struct fx_opts o = fx_formats[0];

		o.ad = false;
		fx_init(&f, &o);
		assert_int_equal(tdp_root_eptp(f.t), (FX_FIRST_HFN << 12) | 6 | (3 << 3));
		fx_fini(&f);
	}
}

static void test_config_invalid(void **state)
{
	struct fx f;
	struct tdp_config c;
	const char *why = NULL;

	(void)state;
	fx_init(&f, &fx_formats[0]);
	c = *tdp_config(f.t);
	assert_null(tdp_config_invalid(&c));
	c.levels = 3;
	assert_non_null(tdp_config_invalid(&c));
	c = *tdp_config(f.t);
	c.max_level = 4;
	assert_non_null(tdp_config_invalid(&c));
	c = *tdp_config(f.t);
	c.ept_ad = false;
	c.dirty_mode = TDP_DIRTY_DBIT;
	assert_null(tdp_create(&c, &why));
	assert_string_equal(why, "tdp: dirty logging by D flags needs EPT A/D (ept_ad)");
	c = *tdp_config(f.t);
	c.kind = TDP_NPT;
	assert_non_null(tdp_config_invalid(&c)); /* ept_ad set on NPT */
	c.ept_ad = false;
	c.dirty_mode = TDP_DIRTY_DBIT;
	assert_null(tdp_config_invalid(&c)); /* NPT always has D */
	c.port = NULL;
	assert_non_null(tdp_config_invalid(&c));
	fx_fini(&f);
}

/*
 * A guest with its own 4-level tables: every guest-table read is a nested
 * access (EPT: a write with A/D; NPT: a user write) that faults once per
 * page, then the final access; the result is the slot's frame.
 */
static void test_guest_paging(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i += 2) {
		struct fx f;
		struct hw_mmu hw;
		struct hw_config hc;
		struct xlate_result r;
		struct guestmem gm;
		struct mmu_fault mf;
		uint64_t la = UINT64_C(0x7f1234567000) | 0x9a8, data_gpa = 0x345000, hfn;
		unsigned faults = 0;

		fx_init(&f, &fx_formats[i]);
		fx_slot(&f, 1, 0, 1024, 0, 0);
		gm = (struct guestmem){ .slots = f.ms, .port = f.port };
		/* PML4 at 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000 */
		assert_int_equal(guestmem_write(&gm, 0x1000 + 8 * ((la >> 39) & 511), 8, 0x2000 | 7), MEM_OK);
		assert_int_equal(guestmem_write(&gm, 0x2000 + 8 * ((la >> 30) & 511), 8, 0x3000 | 7), MEM_OK);
		assert_int_equal(guestmem_write(&gm, 0x3000 + 8 * ((la >> 21) & 511), 8, 0x4000 | 7), MEM_OK);
		assert_int_equal(guestmem_write(&gm, 0x4000 + 8 * ((la >> 12) & 511), 8, data_gpa | 7), MEM_OK);
		hc = f.hw.cfg;
		hc.cpu.regs.cr0 = CR0_PE | CR0_PG;
		hc.cpu.regs.cr4 = CR4_PAE;
		hc.cpu.regs.efer = EFER_LME | EFER_LMA;
		hc.cpu.regs.cr3 = 0x1000;
		assert_null(hw_config_invalid(&hc));
		assert_true(hw_mmu_init(&hw, &hc, &r));
		for (;;) {
			hw_translate(&hw, la, ACCESS_WRITE, false, &r, NULL);
			if (r.outcome == XO_OK)
				break;
			assert_true(tdp_fault_from_exit(&mf, &r));
			if (fx_formats[i].kind == TDP_EPT && faults < 4)
				assert_int_equal(r.qualification & (EPTQ_READ | EPTQ_WRITE | EPTQ_FINAL),
						 EPTQ_READ | EPTQ_WRITE); /* table read, A/D on */
			assert_int_equal(tdp_page_fault(f.t, &mf), RET_PF_FIXED);
			assert_true(++faults <= 5);
		}
		/* four guest table pages and the data page, each one fault */
		assert_int_equal(faults, 5);
		assert_int_equal(memslots_gfn_peek(f.ms, data_gpa >> 12, &hfn, NULL), MEMSLOT_OK);
		assert_int_equal(r.hpa, (hfn << 12) | 0x9a8);
		assert_int_equal(r.gpa, data_gpa | 0x9a8);
		assert_int_equal(fx_audit(&f, NULL), 5);
		fx_fini(&f);
	}
}

/* Out of frames: the fault fails cleanly (error, nothing half-mapped), and works once frames are back. */
static void test_out_of_frames(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		struct fx f;
		struct xlate_result r;
		struct mmu_fault mf;
		uint64_t b = base_gpa(&fx_formats[i]), gpa = b + 0x5008;

		fx_init(&f, &fx_formats[i]);
		fx_slot(&f, 1, b >> 12, 64, 0, 0);
		/* no frame for the page itself */
		frames_set_limit(f.fr, frames_allocated(f.fr));
		assert_int_equal(fx_access(&f, gpa, ACCESS_READ, &r, &mf, NULL), RET_PF_ERROR);
		assert_string_equal(mf.error, "tdp: out of frames for the guest's memory");
		/* the page, but no table page */
		frames_set_limit(f.fr, frames_allocated(f.fr) + 1);
		assert_int_equal(fx_access(&f, gpa, ACCESS_READ, &r, &mf, NULL), RET_PF_ERROR);
		assert_string_equal(mf.error, "tdp: no table page left");
		fx_expect_fault(&f, gpa, ACCESS_READ);
		assert_int_equal(fx_audit(&f, NULL), 0);
		/* one table short */
		frames_set_limit(f.fr, frames_allocated(f.fr) + fx_formats[i].levels - 2);
		assert_int_equal(fx_access(&f, gpa, ACCESS_READ, &r, &mf, NULL), RET_PF_ERROR);
		assert_int_equal(tdp_tables_live(f.t), 1 + fx_formats[i].levels - 2);
		frames_set_limit(f.fr, UINT64_MAX);
		assert_int_equal(fx_access(&f, gpa, ACCESS_READ, &r, &mf, NULL), RET_PF_FIXED);
		fx_expect_mapped(&f, gpa, ACCESS_WRITE);
		assert_int_equal(tdp_tables_live(f.t), fx_formats[i].levels);
		assert_int_equal(fx_audit(&f, NULL), 1);
		fx_fini(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fill_4k),
		cmocka_unit_test(test_fill_2m),
		cmocka_unit_test(test_fill_1g),
		cmocka_unit_test(test_max_level),
		cmocka_unit_test(test_slot_edges),
		cmocka_unit_test(test_slot_end),
		cmocka_unit_test(test_readonly),
		cmocka_unit_test(test_mmio_and_outside),
		cmocka_unit_test(test_root_values),
		cmocka_unit_test(test_config_invalid),
		cmocka_unit_test(test_guest_paging),
		cmocka_unit_test(test_out_of_frames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
