/*
 * The engine does not assume it runs at L0: the same MMU over a level-1
 * port that answers MEM_RETRY to every 3rd access and every 2nd table
 * allocation (as accesses trapping to L0 may) builds the very same tables
 * as over the L0 port - same frames, same entries - and counts its work at
 * the configured level and page-table kind (L1, ept12), nothing at L0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "mem/rng.h"
#include "tdp_fx.h"

#define GIB (UINT64_C(1) << 30)
#define N 500u

static void fill(struct fx *f, uint64_t seed, int *rets)
{
	uint64_t rng = seed, b = (f->o.levels == 5 ? UINT64_C(1) << 49 : 0) + 3 * GIB;

	fx_slot(f, 1, b >> 12, 1u << 16, 0, 0);
	fx_slot(f, 2, (b + GIB) >> 12, 1u << 18, 0, 9);
	fx_slot(f, 3, (b + 2 * GIB) >> 12, 1u << 18, 0, 18);
	for (unsigned i = 0; i < N; i++) {
		unsigned s = (unsigned)rng_below(&rng, 3);
		uint64_t gpa = b + s * GIB + (rng_below(&rng, s ? 1u << 18 : 1u << 16) << 12);
		enum access_type t = (enum access_type)rng_below(&rng, 3);
		struct xlate_result r;

		rets[i] = fx_access(f, gpa, t, &r, NULL, NULL);
		assert_true(rets[i] == -1 || rets[i] == RET_PF_FIXED);
		fx_expect_mapped(f, gpa, t);
	}
}

static void test_same_tables_at_l1(void **state)
{
	static int r0[N], r1[N];

	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		struct fx a, b;
		struct fx_opts o = fx_formats[i];
		const struct tdp_stats *sa, *sb;

		fx_init(&a, &o);
		o.as_l1 = true;
		fx_init(&b, &o);
		assert_int_equal(b.port->level, 1);
		fill(&a, 77 + i, r0);
		fill(&b, 77 + i, r1);
		assert_memory_equal(r0, r1, sizeof(r0));
		assert_true(b.flaky.retries > 0);
		assert_int_equal(b.flaky.port.stats.retries, b.flaky.retries); /* every retry seen by the engine */
		assert_int_equal(b.flaky.inner->stats.retries, 0);
		/* the same tables, frame for frame */
		assert_int_equal(fx_tables_hash(&a), fx_tables_hash(&b));
		assert_int_equal(fx_audit(&b, NULL), fx_audit(&a, NULL));
		sa = tdp_get_stats(a.t);
		sb = tdp_get_stats(b.t);
		assert_int_equal(sb->faults[RET_PF_FIXED], sa->faults[RET_PF_FIXED]);
		assert_true(sb->faults[RET_PF_RETRY] > 0); /* allocations answered retry */
		assert_int_equal(sb->entries_set, sa->entries_set);
		assert_int_equal(sb->port_errors, 0);
		/* counted at L1 / ept12, not at L0 / ept01 */
		assert_int_equal(b.cnt.tdp_faults[CNT_L1], a.cnt.tdp_faults[CNT_L0]);
		assert_int_equal(b.cnt.tdp_entries_set[CNT_L1], a.cnt.tdp_entries_set[CNT_L0]);
		assert_int_equal(b.cnt.pt_alloc[CNT_PT_EPT12], a.cnt.pt_alloc[CNT_PT_EPT01]);
		assert_int_equal(b.cnt.tdp_faults[CNT_L0], 0);
		assert_int_equal(b.cnt.tdp_entries_set[CNT_L0], 0);
		assert_int_equal(b.cnt.pt_alloc[CNT_PT_EPT01], 0);
		/* zapping through the flaky port frees the same pages */
		assert_int_equal(tdp_zap_all(b.t), tdp_zap_all(a.t));
		assert_int_equal(b.cnt.pt_free[CNT_PT_EPT12], a.cnt.pt_free[CNT_PT_EPT01]);
		assert_int_equal(tdp_tables_live(b.t), 1);
		fx_fini(&b);
		fx_fini(&a);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_tables_at_l1),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
