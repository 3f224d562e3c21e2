/*
 * Page tracking: a tracked gfn is mapped by a 4 KiB leaf without W (a
 * large leaf over it is split at once, its neighbours keep W); a write
 * fault on it calls every registered tracker and returns RET_PF_EMULATE;
 * references are counted; untracking lets the next write fault add W.
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

struct seen {
	unsigned calls;
	uint64_t gpa;
	enum access_type access;
};

static void tracker(void *ctx, uint64_t gpa, enum access_type access)
{
	struct seen *s = ctx;

	s->calls++;
	s->gpa = gpa;
	s->access = access;
}

static uint64_t base_gpa(const struct fx_opts *o)
{
	return (o->levels == 5 ? UINT64_C(1) << 49 : 0) + 3 * GIB;
}

static int access(struct fx *f, uint64_t gpa, enum access_type t, struct mmu_fault *mf, unsigned *faults)
{
	struct xlate_result r;

	return fx_access(f, gpa, t, &r, mf, faults);
}

static bool writable(struct fx *f, uint64_t gpa, unsigned *level)
{
	uint64_t e = fx_leaf(f, gpa, level);

	return e && (pt_rights(&f->hw.nested_fmt, 1, e) & RIGHT_W);
}

static void test_track_split(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		struct fx f;
		struct seen s1 = { 0 }, s2 = { 0 };
		struct mmu_fault mf;
		uint64_t b = base_gpa(&fx_formats[i]), g = b >> 12, t5 = b + 5 * UINT64_C(0x1000);
		unsigned lvl, faults = 0;
		int h1, h2;

		fx_init(&f, &fx_formats[i]);
		fx_slot(&f, 1, g, 1024, 0, 9);
		h1 = tdp_track_register(f.t, tracker, &s1);
		h2 = tdp_track_register(f.t, tracker, &s2);
		assert_true(h1 >= 0 && h2 >= 0 && h1 != h2);
		assert_int_equal(access(&f, b, ACCESS_WRITE, &mf, NULL), RET_PF_FIXED);
		assert_int_equal(mf.level, 2);

		/* tracking splits the 2M leaf; only the tracked page loses W */
		assert_int_equal(tdp_track_write(f.t, g + 5, true), TDP_OK);
		assert_int_equal(tdp_track_count(f.t, g + 5), 1);
		assert_true(tdp_flush_take(f.t));
		assert_false(writable(&f, t5, &lvl));
		assert_int_equal(lvl, 1);
		assert_true(writable(&f, t5 + 0x1000, &lvl));
		assert_int_equal(lvl, 1);
		assert_int_equal(fx_audit(&f, NULL), 512);
		fx_expect_mapped(&f, t5 + 0x1000, ACCESS_WRITE);
		fx_expect_mapped(&f, t5, ACCESS_READ);
		fx_expect_mapped(&f, t5, ACCESS_FETCH);

		/* a write to it: both trackers, then emulate; the tables do not change */
		assert_int_equal(access(&f, t5 + 0x18, ACCESS_WRITE, &mf, NULL), RET_PF_EMULATE);
		assert_int_equal(mf.emulate_gpa, t5 + 0x18);
		assert_int_equal(s1.calls, 1);
		assert_int_equal(s2.calls, 1);
		assert_int_equal(s1.gpa, t5 + 0x18);
		assert_int_equal(s1.access, ACCESS_WRITE);
		fx_expect_fault(&f, t5, ACCESS_WRITE);

		/* references are counted */
		assert_int_equal(tdp_track_write(f.t, g + 5, true), TDP_OK);
		assert_int_equal(tdp_track_write(f.t, g + 5, false), TDP_OK);
		assert_int_equal(tdp_track_unregister(f.t, h2), TDP_OK);
		assert_int_equal(access(&f, t5, ACCESS_WRITE, &mf, NULL), RET_PF_EMULATE);
		assert_int_equal(s1.calls, 2);
		assert_int_equal(s2.calls, 1);
		assert_int_equal(tdp_track_write(f.t, g + 5, false), TDP_OK);
		assert_int_equal(tdp_track_count(f.t, g + 5), 0);
		assert_int_equal(tdp_track_write(f.t, g + 5, false), TDP_EINVAL);
		/* untracked: the next write fault maps the largest leaf allowed, 2M again, with W */
		assert_int_equal(access(&f, t5, ACCESS_WRITE, &mf, &faults), RET_PF_FIXED);
		assert_int_equal(faults, 1);
		assert_int_equal(mf.level, 2);
		assert_true(tdp_flush_take(f.t)); /* the 4K table it replaced is gone */
		assert_int_equal(fx_audit(&f, NULL), 1);
		fx_expect_mapped(&f, t5, ACCESS_WRITE);
		assert_int_equal(s1.calls, 2);
		assert_int_equal(tdp_track_unregister(f.t, h2), TDP_ENOENT);

		/* tracked before anything is mapped: the whole 2M region is mapped with 4K leaves */
		assert_int_equal(tdp_track_write(f.t, g + 512 + 7, true), TDP_OK);
		assert_false(tdp_flush_pending(f.t));
		assert_int_equal(access(&f, b + MIB2 + 100 * UINT64_C(0x1000), ACCESS_WRITE, &mf, NULL), RET_PF_FIXED);
		assert_int_equal(mf.level, 1);
		assert_int_equal(access(&f, b + MIB2 + 7 * UINT64_C(0x1000), ACCESS_READ, &mf, NULL), RET_PF_FIXED);
		assert_false(writable(&f, b + MIB2 + 7 * UINT64_C(0x1000), NULL));
		assert_int_equal(access(&f, b + MIB2 + 7 * UINT64_C(0x1000), ACCESS_WRITE, &mf, NULL), RET_PF_EMULATE);
		assert_int_equal(s1.calls, 3);
		assert_int_equal(fx_audit(&f, NULL), 3);
		fx_fini(&f);
	}
}

/* A 1G leaf over a tracked gfn is split down to 4K: 511 2M leaves and 512 4K leaves. */
static void test_track_1g(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		struct fx f;
		struct mmu_fault mf;
		uint64_t b = base_gpa(&fx_formats[i]), g = b >> 12;
		uint64_t tg = g + 3 * 512 + 9;
		unsigned lvl;

		fx_init(&f, &fx_formats[i]);
		fx_slot(&f, 1, g, UINT64_C(1) << 18, 0, 18);
		assert_int_equal(access(&f, b + 0x10, ACCESS_READ, &mf, NULL), RET_PF_FIXED);
		assert_int_equal(mf.level, 3);
		assert_int_equal(tdp_track_write(f.t, tg, true), TDP_OK);
		assert_int_equal(fx_audit(&f, NULL), 511 + 512);
		assert_int_equal(tdp_get_stats(f.t)->splits, 2);
		assert_false(writable(&f, tg << 12, &lvl));
		assert_int_equal(lvl, 1);
		assert_true(writable(&f, (tg + 1) << 12, &lvl));
		assert_int_equal(lvl, 1);
		assert_true(writable(&f, b, &lvl));
		assert_int_equal(lvl, 2);
		assert_int_equal(access(&f, tg << 12, ACCESS_WRITE, &mf, NULL), RET_PF_EMULATE);
		fx_expect_mapped(&f, (tg << 12) + 0x1000, ACCESS_WRITE);
		fx_expect_mapped(&f, b + GIB - 8, ACCESS_WRITE);
		fx_fini(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_track_split),
		cmocka_unit_test(test_track_1g),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
