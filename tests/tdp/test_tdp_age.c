/*
 * Aging by A flags: tdp_test_age reports whether a leaf overlapping the
 * range has A set (the hardware sets it on every successful access),
 * tdp_age clears A and reports whether any was set; neither asks for a
 * flush. EPT without A/D: a present leaf counts as young, tdp_age zaps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tdp_fx.h"

#define GIB (UINT64_C(1) << 30)

static uint64_t base_gpa(const struct fx_opts *o)
{
	return (o->levels == 5 ? UINT64_C(1) << 49 : 0) + 3 * GIB;
}

static void touch(struct fx *f, uint64_t gpa, enum access_type t)
{
	struct xlate_result r;
	int ret = fx_access(f, gpa, t, &r, NULL, NULL);

	assert_true(ret == -1 || ret == RET_PF_FIXED);
	fx_expect_mapped(f, gpa, t);
}

static void test_age_ad(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		struct fx f;
		uint64_t b = base_gpa(&fx_formats[i]), g = b >> 12;
		uint64_t a;

		fx_init(&f, &fx_formats[i]);
		a = pt_accessed_bit(&f.hw.nested_fmt);
		fx_slot(&f, 1, g, 4096, 0, 0);
		fx_slot(&f, 2, g + 4096, 1024, 0, 9);
		for (unsigned p = 0; p < 4; p++)
			touch(&f, b + p * UINT64_C(0x1000), p == 2 ? ACCESS_WRITE : ACCESS_READ);
		touch(&f, b + 4096 * UINT64_C(0x1000) + 0x10, ACCESS_READ); /* a 2M leaf */

		assert_true(tdp_test_age(f.t, g, 4));
		assert_false(tdp_test_age(f.t, g + 4, 4092));   /* nothing mapped there */
		assert_true(tdp_age(f.t, g, 1));
		assert_false(fx_leaf(&f, b, NULL) & a);
		assert_false(tdp_test_age(f.t, g, 1));
		assert_true(tdp_test_age(f.t, g + 1, 1));
		assert_false(tdp_age(f.t, g, 1));
		assert_false(tdp_flush_pending(f.t));
		/* still mapped; the access makes it young again, without a fault */
		fx_expect_mapped(&f, b, ACCESS_READ);
		assert_true(tdp_test_age(f.t, g, 1));
		/* the whole range */
		assert_true(tdp_age(f.t, g, 4096 + 1024));
		for (unsigned p = 0; p < 4; p++)
			assert_false(tdp_test_age(f.t, g + p, 1));
		assert_false(tdp_age(f.t, 0, UINT64_MAX));
		/* a large leaf ages as a whole: touching one page makes all its pages young */
		touch(&f, b + 4096 * UINT64_C(0x1000) + 511 * UINT64_C(0x1000), ACCESS_FETCH);
		assert_true(tdp_test_age(f.t, g + 4096, 1));
		assert_true(tdp_age(f.t, g + 4096 + 100, 1));
		assert_false(tdp_test_age(f.t, g + 4096, 512));
		assert_true(tdp_get_stats(f.t)->faults[RET_PF_FIXED] == 5);
		assert_false(tdp_flush_pending(f.t));
		assert_int_equal(fx_audit(&f, NULL), 5);
		fx_fini(&f);
	}
}

static void test_age_no_ad(void **state)
{
	struct fx f;
	struct fx_opts o = fx_formats[0];
	uint64_t b = base_gpa(&o), g = b >> 12;

	(void)state;
	o.ad = false;
	fx_init(&f, &o);
	fx_slot(&f, 1, g, 64, 0, 0);
	touch(&f, b, ACCESS_READ);
	touch(&f, b + 0x1000, ACCESS_WRITE);
	assert_int_equal(fx_leaf(&f, b, NULL) & (UINT64_C(3) << 8), 0); /* no A/D without EPTP.AD */
	assert_true(tdp_test_age(f.t, g, 1));
	assert_false(tdp_test_age(f.t, g + 2, 10));
	/* aging unmaps: the next access refaults and the page is young again */
	assert_true(tdp_age(f.t, g, 1));
	assert_true(tdp_flush_take(f.t));
	fx_expect_fault(&f, b, ACCESS_READ);
	fx_expect_mapped(&f, b + 0x1000, ACCESS_READ);
	assert_false(tdp_test_age(f.t, g, 1));
	assert_false(tdp_age(f.t, g, 1));
	assert_false(tdp_flush_pending(f.t));
	touch(&f, b, ACCESS_READ);
	assert_true(tdp_test_age(f.t, g, 1));
	assert_int_equal(fx_audit(&f, NULL), 2);
	fx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_age_ad),
		cmocka_unit_test(test_age_no_ad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
