/*
 * Dirty logging, both ways, on every format:
 *  - by write protection (TDP_DIRTY_WP): turning LOG_DIRTY on splits the
 *    slot's 2M leaves and removes W; the first write to a page faults once
 *    and logs it; reads never log; clearing the log re-protects;
 *  - by D flags (TDP_DIRTY_DBIT; EPT with A/D, NPT): leaves stay writable
 *    (writes do not fault), harvesting moves D flags to the log.
 * Turning logging off lets large leaves come back.
 * The expected dirty set is the set of pages written since logging began
 * (or since the last clear), nothing else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tdp_fx.h"

#define GIB (UINT64_C(1) << 30)
#define NPAGES 4096u /* 8 x 2 MiB */

static uint64_t base_gpa(const struct fx_opts *o)
{
	return (o->levels == 5 ? UINT64_C(1) << 49 : 0) + 3 * GIB;
}

static unsigned access_faults(struct fx *f, uint64_t gpa, enum access_type t)
{
	struct xlate_result r;
	unsigned faults = 0;
	int ret = fx_access(f, gpa, t, &r, NULL, &faults);

	assert_true(ret == -1 || ret == RET_PF_FIXED);
	fx_expect_mapped(f, gpa, t);
	return faults;
}

/* The slot's log equals exactly the pages in want[0..n). */
static void expect_log(struct fx *f, uint32_t id, const unsigned *want, unsigned n)
{
	uint64_t bits[NPAGES / 64], exp[NPAGES / 64];

	memset(exp, 0, sizeof(exp));
	for (unsigned i = 0; i < n; i++)
		exp[want[i] / 64] |= UINT64_C(1) << (want[i] % 64);
	assert_int_equal(memslots_dirty_get(f->ms, id, 0, NPAGES, bits), MEMSLOT_OK);
	assert_memory_equal(bits, exp, sizeof(bits));
}

static const unsigned written[] = { 3, 700, 701, 2053, 4095 };
static const unsigned only_read[] = { 0, 10, 2000, 4094 };
#define NW (sizeof(written) / sizeof(written[0]))
#define NR (sizeof(only_read) / sizeof(only_read[0]))

/* 8 leaves of 2 MiB, read (so no D flag anywhere yet). */
static void setup_large(struct fx *f, uint64_t b)
{
	fx_slot(f, 1, b >> 12, NPAGES, 0, 9);
	for (unsigned k = 0; k < 8; k++) {
		struct xlate_result r;
		struct mmu_fault mf;

		assert_int_equal(fx_access(f, b + k * (UINT64_C(1) << 21), ACCESS_READ, &r, &mf, NULL), RET_PF_FIXED);
		assert_int_equal(mf.level, 2);
	}
	assert_int_equal(fx_audit(f, NULL), 8);
	assert_false(tdp_flush_take(f->t));
}

static void test_dirty_wp(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		struct fx f;
		struct fx_opts o = fx_formats[i];
		uint64_t b = base_gpa(&o);
		unsigned lvl;

		o.dirty_mode = TDP_DIRTY_WP;
		fx_init(&f, &o);
		setup_large(&f, b);
		assert_int_equal(memslots_set_flags(f.ms, 1, MEMSLOT_F_LOG_DIRTY), MEMSLOT_OK);
		assert_true(tdp_flush_take(f.t));
		/* every 2M leaf split into 512 read-only 4K leaves */
		assert_int_equal(fx_audit(&f, NULL), NPAGES);
		assert_int_equal(tdp_get_stats(f.t)->splits, 8);
		for (unsigned p = 0; p < NPAGES; p += 511) {
			uint64_t e = fx_leaf(&f, b + p * UINT64_C(0x1000), &lvl);

			assert_int_equal(lvl, 1);
			assert_false(pt_rights(&f.hw.nested_fmt, 1, e) & RIGHT_W);
		}
		/* reads: no fault, no log; first write to a page: one fault; then none */
		for (unsigned k = 0; k < NR; k++)
			assert_int_equal(access_faults(&f, b + only_read[k] * UINT64_C(0x1000), ACCESS_READ), 0);
		for (unsigned k = 0; k < NW; k++) {
			assert_int_equal(access_faults(&f, b + written[k] * UINT64_C(0x1000) + 8, ACCESS_WRITE), 1);
			assert_int_equal(access_faults(&f, b + written[k] * UINT64_C(0x1000), ACCESS_WRITE), 0);
		}
		expect_log(&f, 1, written, NW);
		assert_int_equal(tdp_get_stats(f.t)->dirty_logged, NW);
		assert_int_equal(tdp_dirty_log_harvest(f.t, 1), 0);
		expect_log(&f, 1, written, NW);
		/* clearing the log re-protects exactly the cleared pages */
		assert_false(tdp_flush_pending(f.t));
		assert_int_equal(memslots_dirty_clear(f.ms, 1, 0, 1024), MEMSLOT_OK); /* pages 3, 700, 701 */
		assert_true(tdp_flush_take(f.t));
		expect_log(&f, 1, written + 3, 2);
		assert_int_equal(access_faults(&f, b + 700 * UINT64_C(0x1000), ACCESS_WRITE), 1);
		assert_int_equal(access_faults(&f, b + 2053 * UINT64_C(0x1000), ACCESS_WRITE), 0);
		{
			static const unsigned now[] = { 700, 2053, 4095 };

			expect_log(&f, 1, now, 3);
		}
		assert_int_equal(fx_audit(&f, NULL), NPAGES);
		/* off: the slot's mappings go, and 2M leaves come back */
		assert_int_equal(memslots_set_flags(f.ms, 1, 0), MEMSLOT_OK);
		assert_true(tdp_flush_take(f.t));
		assert_int_equal(fx_audit(&f, NULL), 0);
		assert_int_equal(access_faults(&f, b + 5, ACCESS_WRITE), 1);
		fx_leaf(&f, b, &lvl);
		assert_int_equal(lvl, 2);
		fx_fini(&f);
	}
}

/* A logging slot touched for the first time: reads map without W, writes log. */
static void test_dirty_wp_fresh(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		struct fx f;
		struct fx_opts o = fx_formats[i];
		uint64_t b = base_gpa(&o);
		static const unsigned w[] = { 1, 1000 };

		o.dirty_mode = TDP_DIRTY_WP;
		fx_init(&f, &o);
		fx_slot(&f, 1, b >> 12, NPAGES, MEMSLOT_F_LOG_DIRTY, 9);
		assert_int_equal(access_faults(&f, b + 0x1000, ACCESS_READ), 1);
		assert_int_equal(access_faults(&f, b + 0x2000, ACCESS_FETCH), 1);
		assert_int_equal(access_faults(&f, b + 0x1000, ACCESS_WRITE), 1); /* W added, logged */
		assert_int_equal(access_faults(&f, b + 1000 * UINT64_C(0x1000), ACCESS_WRITE), 1);
		expect_log(&f, 1, w, 2);
		assert_int_equal(fx_audit(&f, NULL), 3); /* 4 KiB leaves only */
		fx_fini(&f);
	}
}

static void test_dirty_dbit(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		struct fx f;
		struct fx_opts o = fx_formats[i];
		uint64_t b = base_gpa(&o);
		unsigned lvl;

		o.dirty_mode = TDP_DIRTY_DBIT;
		fx_init(&f, &o);
		setup_large(&f, b);
		/* written before logging begins: D set on the first 2M leaf */
		assert_int_equal(access_faults(&f, b + 0x5000, ACCESS_WRITE), 0);
		assert_int_equal(memslots_set_flags(f.ms, 1, MEMSLOT_F_LOG_DIRTY), MEMSLOT_OK);
		assert_true(tdp_flush_take(f.t));
		assert_int_equal(fx_audit(&f, NULL), NPAGES);
		for (unsigned p = 0; p < NPAGES; p += 511) {
			uint64_t e = fx_leaf(&f, b + p * UINT64_C(0x1000), &lvl);

			assert_int_equal(lvl, 1);
			assert_true(pt_rights(&f.hw.nested_fmt, 1, e) & RIGHT_W); /* still writable */
			assert_false(e & pt_dirty_bit(&f.hw.nested_fmt));       /* D cleared */
		}
		/* writes do not fault; nothing is logged until the harvest */
		for (unsigned k = 0; k < NR; k++)
			assert_int_equal(access_faults(&f, b + only_read[k] * UINT64_C(0x1000), ACCESS_READ), 0);
		for (unsigned k = 0; k < NW; k++)
			assert_int_equal(access_faults(&f, b + written[k] * UINT64_C(0x1000), ACCESS_WRITE), 0);
		assert_int_equal(memslots_dirty_count(f.ms, 1), 0);
		assert_int_equal(tdp_dirty_log_harvest(f.t, 1), NW);
		assert_true(tdp_flush_take(f.t));
		expect_log(&f, 1, written, NW);
		assert_int_equal(tdp_dirty_log_harvest(f.t, 1), 0);
		assert_false(tdp_flush_pending(f.t));
		/* clear, write two pages again, harvest: just those */
		assert_int_equal(memslots_dirty_clear(f.ms, 1, 0, NPAGES), MEMSLOT_OK);
		assert_false(tdp_flush_pending(f.t)); /* nothing to re-protect with D flags */
		assert_int_equal(access_faults(&f, b + 701 * UINT64_C(0x1000), ACCESS_WRITE), 0);
		assert_int_equal(access_faults(&f, b + 10 * UINT64_C(0x1000), ACCESS_WRITE), 0);
		assert_int_equal(tdp_dirty_log_harvest(f.t, 1), 2);
		{
			static const unsigned now[] = { 10, 701 };

			expect_log(&f, 1, now, 2);
		}
		/* off: large leaves again */
		assert_int_equal(memslots_set_flags(f.ms, 1, 0), MEMSLOT_OK);
		assert_int_equal(tdp_dirty_log_harvest(f.t, 1), TDP_EINVAL);
		assert_int_equal(access_faults(&f, b, ACCESS_READ), 1);
		fx_leaf(&f, b, &lvl);
		assert_int_equal(lvl, 2);
		fx_fini(&f);
	}
}

/* A page first touched by a write in a D-logging slot: one fault, logged at harvest. */
static void test_dirty_dbit_fresh(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		struct fx f;
		struct fx_opts o = fx_formats[i];
		uint64_t b = base_gpa(&o);
		static const unsigned w[] = { 77 };

		o.dirty_mode = TDP_DIRTY_DBIT;
		fx_init(&f, &o);
		fx_slot(&f, 1, b >> 12, NPAGES, MEMSLOT_F_LOG_DIRTY, 0);
		assert_int_equal(access_faults(&f, b + 77 * UINT64_C(0x1000), ACCESS_WRITE), 1);
		assert_int_equal(access_faults(&f, b + 78 * UINT64_C(0x1000), ACCESS_READ), 1);
		assert_int_equal(access_faults(&f, b + 78 * UINT64_C(0x1000), ACCESS_WRITE), 0);
		assert_int_equal(memslots_dirty_count(f.ms, 1), 0);
		assert_int_equal(tdp_dirty_log_harvest(f.t, 1), 2);
		assert_int_equal(memslots_dirty_clear(f.ms, 1, 78, 1), MEMSLOT_OK);
		expect_log(&f, 1, w, 1);
		assert_int_equal(tdp_dirty_log_harvest(f.t, 99), TDP_ENOENT);
		/* a zap before the harvest does not lose the write: it is logged at the zap */
		assert_int_equal(access_faults(&f, b + 200 * UINT64_C(0x1000), ACCESS_WRITE), 1);
		assert_int_equal(access_faults(&f, b + 201 * UINT64_C(0x1000), ACCESS_READ), 1);
		assert_int_equal(tdp_zap_range(f.t, (b >> 12) + 200, 2) >= 2, true);
		{
			static const unsigned now[] = { 77, 200 };

			expect_log(&f, 1, now, 2);
		}
		assert_int_equal(tdp_dirty_log_harvest(f.t, 1), 0);
		fx_fini(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dirty_wp),
		cmocka_unit_test(test_dirty_wp_fresh),
		cmocka_unit_test(test_dirty_dbit),
		cmocka_unit_test(test_dirty_dbit_fresh),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
