/*
 * Directed maps (tdp.h, "Directed maps"): a directed-only MMU (slots NULL)
 * maps exactly what tdp_map installs, with the rights asked, as the
 * hardware walker sees it in host memory; replacing splits a larger leaf
 * and frees a table; tdp_unmap removes exactly the range; invalid requests
 * change nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86.h"
#include "tdp_fx.h"

/* A directed-only MMU next to the fixture's, on the same port. */
struct dx {
	struct fx f;
	struct tdp_mmu *t;
	struct hw_mmu hw;
};

static void dx_init(struct dx *d, const struct fx_opts *o, bool xonly)
{
	struct tdp_config c;
	struct hw_config hc;
	struct xlate_result fail;
	const char *why = NULL;

	fx_init(&d->f, o);
	c = *tdp_config(d->f.t);
	c.slots = NULL;
	c.ept_xonly = xonly;
	c.cnt_pt = CNT_PT_EPT02;
	d->t = tdp_create(&c, &why);
	if (!d->t)
		fail_msg("tdp_create: %s", why);
	memset(&hc, 0, sizeof(hc));
	hc.cpu.vendor = o->kind == TDP_EPT ? CPU_INTEL : CPU_AMD;
	hc.cpu.maxphyaddr = FX_MAXPHY;
	hc.mem = hostmem_port(d->f.hm);
	tdp_hw_program(d->t, &hc);
	assert_null(hw_config_invalid(&hc));
	assert_true(hw_mmu_init(&d->hw, &hc, &fail));
}

static void dx_fini(struct dx *d)
{
	tdp_destroy(d->t);
	fx_fini(&d->f);
}

/* The hardware's answer for gpa: true and *hpa if the access is allowed. */
static bool hw_ok(struct dx *d, uint64_t gpa, enum access_type type, uint64_t *hpa)
{
	struct xlate_result r;

	hw_translate_gpa(&d->hw, gpa, type, &r, NULL);
	if (r.outcome == XO_OK) {
		if (hpa)
			*hpa = r.hpa;
		return true;
	}
	assert_int_equal(r.outcome, d->f.o.kind == TDP_EPT ? XO_EPT_VIOLATION : XO_NPF);
	return false;
}

static void expect_map(struct dx *d, uint64_t gfn, uint64_t hfn, unsigned rights)
{
	uint64_t hpa = 0, gpa = (gfn << 12) | 0x123;

	assert_int_equal(hw_ok(d, gpa, ACCESS_READ, &hpa), (rights & RIGHT_R) != 0);
	if (rights & RIGHT_R)
		assert_int_equal(hpa, (hfn << 12) | 0x123);
	assert_int_equal(hw_ok(d, gpa, ACCESS_WRITE, NULL), (rights & RIGHT_W) != 0);
	assert_int_equal(hw_ok(d, gpa, ACCESS_FETCH, NULL), (rights & RIGHT_X) != 0);
}

static void expect_unmapped(struct dx *d, uint64_t gfn)
{
	assert_false(hw_ok(d, gfn << 12, ACCESS_READ, NULL));
	assert_false(tdp_lookup(d->t, gfn, NULL));
}

static void test_map_rights(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		struct dx d;
		static const unsigned sets[] = {
			RIGHT_R, RIGHT_R | RIGHT_W, RIGHT_R | RIGHT_X, RIGHT_R | RIGHT_W | RIGHT_X,
		};
		struct tdp_mapping m;
		struct mmu_fault mf = { .kind = MMU_FAULT_TDP, .gpa = 0x5000 };

		dx_init(&d, &fx_formats[i], false);
		for (unsigned k = 0; k < 4; k++) {
			uint64_t gfn = 0x1000 + 16 * k, hfn = 0x8000 + 7 * k;

			assert_int_equal(tdp_map(d.t, gfn, hfn, 1, sets[k]), TDP_OK);
			expect_map(&d, gfn, hfn, sets[k]);
			assert_true(tdp_lookup(d.t, gfn, &m));
			assert_int_equal(m.level, 1);
			assert_int_equal(m.hfn, hfn);
			assert_int_equal(m.rights & (RIGHT_R | RIGHT_W | RIGHT_X), sets[k]);
		}
		/* 2 MiB and 1 GiB leaves */
		assert_int_equal(tdp_map(d.t, 0x40000, 0x80000, 3, RIGHT_R | RIGHT_W), TDP_OK);
		expect_map(&d, 0x40000 + 0x12345, 0x80000 + 0x12345, RIGHT_R | RIGHT_W);
		assert_int_equal(tdp_map(d.t, 0x200, 0x400, 2, RIGHT_R | RIGHT_X), TDP_OK);
		expect_map(&d, 0x3ff, 0x5ff, RIGHT_R | RIGHT_X);
		assert_true(tdp_lookup(d.t, 0x3ff, &m));
		assert_int_equal(m.level, 2);
		assert_int_equal(m.gfn, 0x200);
		assert_int_equal(m.hfn, 0x400);
		/* the directed-only MMU does not handle faults itself */
		assert_int_equal(tdp_page_fault(d.t, &mf), RET_PF_ERROR);
		assert_non_null(mf.error);
		/* nothing is derived from the slots: the fixture's slot-less MMU had no frames */
		assert_int_equal(tdp_dirty_log_harvest(d.t, 0), TDP_EINVAL);
		dx_fini(&d);
	}
}

static void test_map_invalid(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		struct dx d;
		bool ept = fx_formats[i].kind == TDP_EPT;
		uint64_t live, set;

		dx_init(&d, &fx_formats[i], false);
		live = tdp_tables_live(d.t);
		set = tdp_get_stats(d.t)->entries_set;
		assert_int_equal(tdp_map(d.t, 0x201, 0x400, 2, RIGHT_R), TDP_EINVAL);
		assert_int_equal(tdp_map(d.t, 0x200, 0x401, 2, RIGHT_R), TDP_EINVAL);
		assert_int_equal(tdp_map(d.t, 0x200, 0x400, 0, RIGHT_R), TDP_EINVAL);
		assert_int_equal(tdp_map(d.t, 0x200, 0x400, 4, RIGHT_R), TDP_EINVAL);
		assert_int_equal(tdp_map(d.t, 0x200, 0x400, 1, 0), TDP_EINVAL);
		assert_int_equal(tdp_map(d.t, 0x200, 0x400, 1, RIGHT_W), TDP_EINVAL);
		assert_int_equal(tdp_map(d.t, 0x200, 0x400, 1, RIGHT_X), TDP_EINVAL); /* no execute-only */
		assert_int_equal(tdp_map(d.t, 0x200, 0x400, 1, 0x100), TDP_EINVAL);
		assert_int_equal(tdp_map(d.t, 0x200, UINT64_C(1) << (FX_MAXPHY - 12), 1, RIGHT_R), TDP_EINVAL);
		assert_int_equal(tdp_map(d.t, UINT64_C(1) << (9 * fx_formats[i].levels), 0x400, 1, RIGHT_R),
				 TDP_EINVAL);
		if (!ept) /* NPT cannot express execute-only */
			assert_int_equal(tdp_map(d.t, 0x200, 0x400, 1, RIGHT_X), TDP_EINVAL);
		/* nothing changed */
		assert_int_equal(tdp_tables_live(d.t), live);
		assert_int_equal(tdp_get_stats(d.t)->entries_set, set);
		assert_false(tdp_flush_pending(d.t));
		dx_fini(&d);
	}
}

static void test_map_xonly(void **state)
{
	struct dx d;

	(void)state;
	dx_init(&d, &fx_formats[0], true);
	assert_true(d.hw.nested_fmt.ept_xonly);
	assert_int_equal(tdp_map(d.t, 0x1234, 0x777, 1, RIGHT_X), TDP_OK);
	expect_map(&d, 0x1234, 0x777, RIGHT_X);
	assert_int_equal(tdp_map(d.t, 0x1234, 0x777, 1, RIGHT_W), TDP_EINVAL);
	dx_fini(&d);
}

/* Replacing: a 4K map inside a 2M leaf splits it; a 2M map over a table frees it. */
static void test_map_replace(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		struct dx d;
		uint64_t live;
		struct tdp_mapping m;

		dx_init(&d, &fx_formats[i], false);
		assert_int_equal(tdp_map(d.t, 0x400, 0x1000, 2, RIGHT_R | RIGHT_W | RIGHT_X), TDP_OK);
		assert_false(tdp_flush_pending(d.t)); /* a new mapping needs no flush */
		live = tdp_tables_live(d.t);
		assert_int_equal(tdp_map(d.t, 0x405, 0x9999, 1, RIGHT_R), TDP_OK);
		assert_true(tdp_flush_pending(d.t)); /* the 2M leaf went away */
		assert_int_equal(tdp_tables_live(d.t), live + 1);
		expect_map(&d, 0x405, 0x9999, RIGHT_R);
		/* the split kept every other page with the old frame and rights */
		expect_map(&d, 0x404, 0x1004, RIGHT_R | RIGHT_W | RIGHT_X);
		expect_map(&d, 0x5ff, 0x11ff, RIGHT_R | RIGHT_W | RIGHT_X);
		assert_true(tdp_lookup(d.t, 0x406, &m));
		assert_int_equal(m.level, 1);
		(void)tdp_flush_take(d.t);
		/* more rights on the same frame: no flush */
		assert_int_equal(tdp_map(d.t, 0x405, 0x9999, 1, RIGHT_R | RIGHT_W), TDP_OK);
		assert_false(tdp_flush_pending(d.t));
		/* a 2M leaf over the table frees it */
		assert_int_equal(tdp_map(d.t, 0x400, 0x2000, 2, RIGHT_R), TDP_OK);
		assert_int_equal(tdp_tables_live(d.t), live);
		assert_true(tdp_flush_pending(d.t));
		expect_map(&d, 0x405, 0x2005, RIGHT_R);
		dx_fini(&d);
	}
}

/* tdp_unmap removes exactly the range: straddling large leaves are split. */
static void test_unmap_exact(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		struct dx d;
		uint64_t live0;

		dx_init(&d, &fx_formats[i], false);
		live0 = tdp_tables_live(d.t);
		assert_int_equal(tdp_map(d.t, 0x40000, 0x80000, 3, RIGHT_R | RIGHT_W), TDP_OK);
		assert_int_equal(tdp_map(d.t, 0x200, 0x400, 2, RIGHT_R), TDP_OK);
		assert_int_equal(tdp_map(d.t, 0x7, 0x17, 1, RIGHT_R), TDP_OK);
		/* a hole of 3 pages in the 1G leaf: 1G -> 2M -> 4K splits */
		assert_int_equal(tdp_unmap(d.t, 0x40000 + 0x300, 3), 3);
		expect_unmapped(&d, 0x40300);
		expect_unmapped(&d, 0x40302);
		expect_map(&d, 0x402ff, 0x802ff, RIGHT_R | RIGHT_W);
		expect_map(&d, 0x40303, 0x80303, RIGHT_R | RIGHT_W);
		expect_map(&d, 0x7ffff, 0xbffff, RIGHT_R | RIGHT_W);
		/* an empty range, a range with nothing mapped */
		assert_int_equal(tdp_unmap(d.t, 0x7, 0), 0);
		assert_int_equal(tdp_unmap(d.t, 0x10000, 100), 0);
		expect_map(&d, 0x7, 0x17, RIGHT_R);
		/* everything: back to the root alone */
		assert_true(tdp_unmap(d.t, 0, UINT64_MAX) > 0);
		assert_int_equal(tdp_tables_live(d.t), live0);
		expect_unmapped(&d, 0x7);
		expect_unmapped(&d, 0x3ff);
		expect_unmapped(&d, 0x7ffff);
		dx_fini(&d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_rights),
		cmocka_unit_test(test_map_invalid),
		cmocka_unit_test(test_map_xonly),
		cmocka_unit_test(test_map_replace),
		cmocka_unit_test(test_unmap_exact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
