/*
 * tdp_check (the --check isolation checker of a TDP MMU) holds on the
 * tables the MMU builds in every format, and catches each way a leaf can
 * leave the guest's own memory or its write protection: another frame, W
 * over a read-only slot, W over a tracked page, a reserved bit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86.h"
#include "tdp_fx.h"

#define GIB (UINT64_C(1) << 30)
#define RO_GFN UINT64_C(0x80000)

/* Host address of the nested leaf that translates gpa (0 if none), walking host memory. */
static uint64_t leaf_addr(struct fx *f, uint64_t gpa)
{
	const struct pt_format *fmt = &f->hw.nested_fmt;
	uint64_t table = f->hw.nested_root, e;

	for (unsigned l = fmt->levels; l >= 1; l--) {
		uint64_t a = table + 8 * pt_index(fmt, l, gpa);

		assert_int_equal(hostmem_read64(f->hm, a, &e), 0);
		if (!pt_present(fmt, e))
			return 0;
		if (pt_is_leaf(fmt, l, e))
			return a;
		table = pt_table_addr(fmt, l, e);
	}
	return 0;
}

static void corrupt(struct fx *f, uint64_t gpa, uint64_t xor_bits)
{
	uint64_t a = leaf_addr(f, gpa), e;

	assert_true(a != 0);
	assert_int_equal(hostmem_read64(f->hm, a, &e), 0);
	assert_int_equal(hostmem_write64(f->hm, a, e ^ xor_bits), 0);
}

static void test_check(void **state)
{
	char msg[256];

	(void)state;
	for (unsigned k = 0; k < 4; k++) {
		for (unsigned mutation = 0; mutation < 5; mutation++) {
			struct fx f;
			struct fx_opts o = fx_formats[k];
			struct xlate_result r;
			uint64_t gpa = 5 * 4096, ro = (RO_GFN + 3) << 12;

			o.max_level = 1; /* 4 KiB leaves: a frame + 1 is another page's frame */
			fx_init(&f, &o);
			fx_slot(&f, 0, 0, GIB >> 12, 0, 9);
			fx_slot(&f, 1, RO_GFN, 512, MEMSLOT_F_READONLY, 9);
			(void)fx_access(&f, gpa, ACCESS_WRITE, &r, NULL, NULL);
			(void)fx_access(&f, gpa + 4096, ACCESS_READ, &r, NULL, NULL);
			(void)fx_access(&f, ro, ACCESS_READ, &r, NULL, NULL);
			assert_int_equal(tdp_check(f.t, msg, sizeof(msg)), 0);
			switch (mutation) {
			case 0: /* another frame: the next page's */
				corrupt(&f, gpa, UINT64_C(1) << 12);
				break;
			case 1: /* W over the read-only slot */
				corrupt(&f, ro, UINT64_C(1) << 1);
				break;
			case 2: /* W over a tracked page (tracking removed W; put it back) */
				assert_int_equal(tdp_track_write(f.t, gpa >> 12, true), 0);
				(void)fx_access(&f, gpa, ACCESS_READ, &r, NULL, NULL);
				assert_int_equal(tdp_check(f.t, msg, sizeof(msg)), 0);
				corrupt(&f, gpa, UINT64_C(1) << 1);
				break;
			case 3: /* a reserved address bit (above MAXPHYADDR) */
				corrupt(&f, gpa, UINT64_C(1) << 50);
				break;
			default: /* none */
				break;
			}
			if (mutation < 4) {
				assert_int_equal(tdp_check(f.t, msg, sizeof(msg)), -1);
				print_message("  %s mutation %u caught: %s\n", fx_name(&o), mutation, msg);
			} else {
				assert_int_equal(tdp_check(f.t, msg, sizeof(msg)), 0);
			}
			if (mutation < 4)
				corrupt(&f, mutation == 1 ? ro : gpa,
					mutation == 0 ? UINT64_C(1) << 12 : mutation == 3 ? UINT64_C(1) << 50 : UINT64_C(1) << 1);
			if (mutation == 2)
				assert_int_equal(tdp_track_write(f.t, gpa >> 12, false), 0);
			fx_fini(&f);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
