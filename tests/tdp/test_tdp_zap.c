/*
 * Zapping: on slot removal, move and read-only change (through the memslot
 * notifier), tdp_zap_range and tdp_zap_all. After a zap the hardware walk
 * faults, the next access refaults and maps the slot's frame again, empty
 * table pages are freed and a TLB flush is pending.
 *
 * Expected values (rules in tdp.h):
 *  - a zap returns the present entries it removes: a leaf, and the entry
 *    of every table that becomes empty (the table is freed);
 *  - table pages live = 1 (root) + for each level l from the leaf level to
 *    levels - 1, the number of distinct gpa >> (12 + 9 l) of the mapped pages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tdp_fx.h"

#define GIB (UINT64_C(1) << 30)
#define MIB2 (UINT64_C(1) << 21)

static uint64_t base_gpa(const struct fx_opts *o)
{
	return (o->levels == 5 ? UINT64_C(1) << 49 : 0) + 3 * GIB;
}

/* Table pages for 4 KiB leaves at the given gpas (rule above). */
static uint64_t tables_for(const uint64_t *gpa, unsigned n, unsigned levels, unsigned leaf_level)
{
	uint64_t total = 1;

	for (unsigned l = leaf_level; l < levels; l++) {
		for (unsigned i = 0; i < n; i++) {
			bool seen = false;

			for (unsigned j = 0; j < i; j++)
				seen |= (gpa[j] >> (12 + 9 * l)) == (gpa[i] >> (12 + 9 * l));
			total += !seen;
		}
	}
	return total;
}

static void map(struct fx *f, uint64_t gpa, enum access_type t)
{
	struct xlate_result r;

	assert_int_equal(fx_access(f, gpa, t, &r, NULL, NULL), RET_PF_FIXED);
	fx_expect_mapped(f, gpa, t);
}

static void test_zap_on_remove(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		const struct fx_opts *o = &fx_formats[i];
		struct fx f;
		struct xlate_result r;
		struct mmu_fault mf;
		uint64_t b = base_gpa(o);
		uint64_t keep[3] = { b + 0x1000, b + 0x5000, b + 513 * 0x1000 };
		uint64_t gone[3] = { b + GIB, b + GIB + 3 * MIB2 + 0x10, b + GIB + 7 * MIB2 };
		uint64_t tables_keep = tables_for(keep, 3, o->levels, 1);

		fx_init(&f, o);
		fx_slot(&f, 1, b >> 12, 1024, 0, 0);
		fx_slot(&f, 2, (b + GIB) >> 12, 8 * 512, 0, 9);
		for (unsigned k = 0; k < 3; k++) {
			map(&f, keep[k], ACCESS_WRITE);
			map(&f, gone[k], ACCESS_READ);
		}
		assert_int_equal(fx_audit(&f, NULL), 6);
		assert_true(tdp_flush_take(f.t) == false);

		assert_int_equal(memslots_remove(f.ms, 2), MEMSLOT_OK);
		assert_true(tdp_flush_pending(f.t));
		for (unsigned k = 0; k < 3; k++) {
			fx_expect_mapped(&f, keep[k], ACCESS_WRITE);
			fx_expect_fault(&f, gone[k], ACCESS_READ);
			assert_int_equal(fx_access(&f, gone[k], ACCESS_READ, &r, &mf, NULL), RET_PF_ERROR);
		}
		/* slot 2's tables are gone: only slot 1's remain (one table path shared up to the PD) */
		assert_int_equal(tdp_tables_live(f.t), tables_keep);
		assert_int_equal(fx_audit(&f, NULL), 3);
		/* frames: root and slot 1's tables, slot 1's three pages; slot 2's runs went back */
		assert_int_equal(frames_allocated(f.fr), tables_keep + 3);
		assert_int_equal(counters_pt_live(&f.cnt, CNT_PT_EPT01), tables_keep);
		assert_true(tdp_flush_take(f.t));
		assert_false(tdp_flush_take(f.t));
		fx_fini(&f);
	}
}

static void test_zap_on_move(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		const struct fx_opts *o = &fx_formats[i];
		struct fx f;
		struct xlate_result r;
		struct mmu_fault mf;
		uint64_t b = base_gpa(o), gpa = b + 0x3456, hfn, hfn2;

		fx_init(&f, o);
		fx_slot(&f, 1, b >> 12, 512, 0, 9);
		map(&f, gpa, ACCESS_WRITE);
		assert_int_equal(memslots_gfn_peek(f.ms, gpa >> 12, &hfn, NULL), MEMSLOT_OK);
		assert_int_equal(memslots_move(f.ms, 1, (b + 5 * GIB) >> 12), MEMSLOT_OK);
		assert_true(tdp_flush_take(f.t));
		fx_expect_fault(&f, gpa, ACCESS_READ);
		assert_int_equal(fx_access(&f, gpa, ACCESS_READ, &r, &mf, NULL), RET_PF_ERROR);
		assert_int_equal(tdp_tables_live(f.t), 1);
		/* the frames moved with the slot */
		map(&f, gpa + 5 * GIB, ACCESS_READ);
		assert_int_equal(memslots_gfn_peek(f.ms, (gpa + 5 * GIB) >> 12, &hfn2, NULL), MEMSLOT_OK);
		assert_int_equal(hfn2, hfn);
		assert_int_equal(fx_audit(&f, NULL), 1);
		fx_fini(&f);
	}
}

static void test_zap_on_readonly_change(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		const struct fx_opts *o = &fx_formats[i];
		struct fx f;
		struct xlate_result r;
		struct mmu_fault mf;
		uint64_t b = base_gpa(o), gpa = b + 0x7008;

		fx_init(&f, o);
		fx_slot(&f, 1, b >> 12, 64, 0, 0);
		map(&f, gpa, ACCESS_WRITE);
		assert_int_equal(memslots_set_flags(f.ms, 1, MEMSLOT_F_READONLY), MEMSLOT_OK);
		assert_true(tdp_flush_take(f.t));
		fx_expect_fault(&f, gpa, ACCESS_READ);
		map(&f, gpa, ACCESS_READ);
		assert_int_equal(fx_access(&f, gpa, ACCESS_WRITE, &r, &mf, NULL), RET_PF_EMULATE);
		/* writable again */
		assert_int_equal(memslots_set_flags(f.ms, 1, 0), MEMSLOT_OK);
		fx_expect_fault(&f, gpa, ACCESS_READ);
		map(&f, gpa, ACCESS_WRITE);
		assert_int_equal(fx_audit(&f, NULL), 1);
		fx_fini(&f);
	}
}

static void test_zap_range(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		const struct fx_opts *o = &fx_formats[i];
		struct fx f;
		uint64_t b = base_gpa(o), g = b >> 12;

		fx_init(&f, o);
		fx_slot(&f, 1, g, 4096, 0, 0);
		map(&f, b, ACCESS_READ);
		map(&f, b + 0x1000, ACCESS_READ);
		map(&f, b + 512 * 0x1000, ACCESS_READ);
		assert_false(tdp_flush_pending(f.t));
		/* one leaf of a table that keeps another: just the leaf */
		assert_int_equal(tdp_zap_range(f.t, g + 1, 1), 1);
		assert_true(tdp_flush_take(f.t));
		fx_expect_fault(&f, b + 0x1000, ACCESS_READ);
		fx_expect_mapped(&f, b, ACCESS_READ);
		fx_expect_mapped(&f, b + 512 * 0x1000, ACCESS_READ);
		/* the last leaf of its table: the leaf and the table's entry */
		assert_int_equal(tdp_zap_range(f.t, g, 1), 2);
		assert_int_equal(tdp_tables_live(f.t), 1 + (o->levels - 2) + 1);
		assert_true(tdp_flush_take(f.t));
		/* a range with nothing mapped: nothing, no flush */
		assert_int_equal(tdp_zap_range(f.t, g + 2, 500), 0);
		assert_false(tdp_flush_pending(f.t));
		/* refault */
		map(&f, b + 0x1000, ACCESS_WRITE);
		assert_int_equal(fx_audit(&f, NULL), 2);
		fx_fini(&f);
	}
}

/* A zap touching one page of a large leaf removes the whole leaf, then the emptied tables. */
static void test_zap_large(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		const struct fx_opts *o = &fx_formats[i];
		for (unsigned order = 9; order <= 18; order += 9) {
			struct fx f;
			uint64_t b = base_gpa(o), size = (UINT64_C(1) << order) << 12;
			unsigned level = order == 9 ? 2 : 3;

			fx_init(&f, o);
			fx_slot(&f, 1, b >> 12, UINT64_C(1) << order, 0, order);
			map(&f, b + size / 2, ACCESS_WRITE);
			assert_int_equal(tdp_tables_live(f.t), 1 + o->levels - level);
			assert_int_equal(tdp_zap_range(f.t, (b + size - 0x1000) >> 12, 1), o->levels - level + 1);
			assert_int_equal(tdp_tables_live(f.t), 1);
			fx_expect_fault(&f, b, ACCESS_READ);
			fx_expect_fault(&f, b + size / 2, ACCESS_READ);
			map(&f, b, ACCESS_READ);
			fx_expect_mapped(&f, b + size - 8, ACCESS_WRITE);
			assert_int_equal(fx_audit(&f, NULL), 1);
			fx_fini(&f);
		}
	}
}

static void test_zap_all(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		const struct fx_opts *o = &fx_formats[i];
		struct fx f;
		uint64_t b = base_gpa(o), eptp, ncr3, leaves, tables, zapped_before;

		fx_init(&f, o);
		fx_slot(&f, 1, b >> 12, 1 << 20, 0, 0);
		fx_slot(&f, 2, (b + 8 * GIB) >> 12, 1 << 19, 0, 18);
		for (unsigned k = 0; k < 40; k++)
			map(&f, b + (uint64_t)k * 0x81000, k & 1 ? ACCESS_WRITE : ACCESS_READ);
		map(&f, b + 8 * GIB + 0x1234, ACCESS_READ);
		map(&f, b + 9 * GIB + 0x1234, ACCESS_FETCH);
		leaves = fx_audit(&f, &tables);
		assert_int_equal(leaves, 42);
		eptp = tdp_root_eptp(f.t);
		ncr3 = tdp_root_ncr3(f.t);
		zapped_before = f.cnt.tdp_entries_zapped[CNT_L0];
		/* every present entry goes: the leaves and one entry per table but the root */
		assert_int_equal(tdp_zap_all(f.t), leaves + tables - 1);
		assert_int_equal(f.cnt.tdp_entries_zapped[CNT_L0] - zapped_before, leaves + tables - 1);
		assert_int_equal(tdp_tables_live(f.t), 1);
		assert_int_equal(counters_pt_live(&f.cnt, CNT_PT_EPT01), 1);
		assert_int_equal(f.cnt.pt_free[CNT_PT_EPT01], tables - 1);
		assert_int_equal(tdp_root_eptp(f.t), eptp);
		assert_int_equal(tdp_root_ncr3(f.t), ncr3);
		assert_true(tdp_flush_take(f.t));
		for (unsigned k = 0; k < 40; k++)
			fx_expect_fault(&f, b + (uint64_t)k * 0x81000, ACCESS_READ);
		fx_expect_fault(&f, b + 9 * GIB, ACCESS_READ);
		for (unsigned k = 0; k < 40; k++)
			map(&f, b + (uint64_t)k * 0x81000, ACCESS_READ);
		assert_int_equal(fx_audit(&f, NULL), 40);
		assert_int_equal(tdp_zap_all(f.t) > 0, true);
		assert_int_equal(tdp_zap_all(f.t), 0);
		fx_fini(&f);
	}
}

/* Removing a slot frees its frames only after the tables stopped mapping them. */
static void seen_notify(void *ctx, const struct memslot_event *ev)
{
	struct fx *f = ctx;

	if (ev->kind == MEMSLOT_EV_REMOVE) {
		/* registered after the MMU: it has already zapped */
		fx_expect_fault(f, ev->gfn << 12, ACCESS_READ);
		/* and the frames are still the slot's */
		assert_int_equal(memslots_gfn_peek(f->ms, ev->gfn, NULL, NULL), MEMSLOT_OK);
	}
}

static void test_zap_before_frames_go(void **state)
{
	struct fx f;
	uint64_t b = base_gpa(&fx_formats[0]);

	(void)state;
	fx_init(&f, &fx_formats[0]);
	assert_true(memslots_notifier_add(f.ms, seen_notify, &f) >= 0);
	fx_slot(&f, 1, b >> 12, 16, 0, 0);
	map(&f, b, ACCESS_WRITE);
	assert_int_equal(memslots_remove(f.ms, 1), MEMSLOT_OK);
	assert_int_equal(tdp_tables_live(f.t), 1);
	fx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zap_on_remove),
		cmocka_unit_test(test_zap_on_move),
		cmocka_unit_test(test_zap_on_readonly_change),
		cmocka_unit_test(test_zap_range),
		cmocka_unit_test(test_zap_large),
		cmocka_unit_test(test_zap_all),
		cmocka_unit_test(test_zap_before_frames_go),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
