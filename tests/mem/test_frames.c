/*
 * The host frame allocator. Expected frames follow the rule of frames.h:
 * the lowest frame that is neither allocated nor reserved (for a run of
 * 2^order: the lowest such aligned run).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mem/frames.h"
#include "rng.h"

static uint64_t alloc1(struct frames *fr)
{
	uint64_t h = UINT64_MAX;

	assert_int_equal(frames_alloc(fr, &h), FRAMES_OK);
	return h;
}

static void test_lowest_first(void **state)
{
	struct frames *fr = frames_create(16, 64);
	struct frames_stats st;

	(void)state;
	assert_non_null(fr);
	assert_int_equal(alloc1(fr), 16);
	assert_int_equal(alloc1(fr), 17);
	assert_int_equal(alloc1(fr), 18);
	assert_int_equal(frames_free(fr, 17), FRAMES_OK);
	assert_int_equal(frames_free(fr, 16), FRAMES_OK);
	assert_int_equal(alloc1(fr), 16);
	assert_int_equal(alloc1(fr), 17);
	assert_int_equal(alloc1(fr), 19);
	frames_get_stats(fr, &st);
	assert_int_equal(st.allocated, 4);
	assert_int_equal(st.peak, 4);
	assert_int_equal(st.allocs, 6);
	assert_int_equal(st.frees, 2);
	assert_true(frames_is_allocated(fr, 19));
	assert_false(frames_is_allocated(fr, 20));
	assert_false(frames_is_allocated(fr, 3)); /* outside the range */
	frames_destroy(fr);
	assert_null(frames_create(0, 0));
	assert_null(frames_create(UINT64_MAX - 1, 4));
}

/* The frames handed out next depend on which frames are free, not on the order of the frees. */
static void test_free_order_irrelevant(void **state)
{
	struct frames *a = frames_create(0, 1000), *b = frames_create(0, 1000);

	(void)state;
	for (int i = 0; i < 100; i++) {
		alloc1(a);
		alloc1(b);
	}
	for (uint64_t h = 10; h < 90; h += 7)
		assert_int_equal(frames_free(a, h), FRAMES_OK);
	for (uint64_t h = 87; h >= 10; h -= 7)
		assert_int_equal(frames_free(b, h), FRAMES_OK);
	for (int i = 0; i < 30; i++) {
		uint64_t ha = alloc1(a), hb = alloc1(b);
		/* 10, 17, ..., 87 (12 frames) come back first, in increasing order, then 100, 101, ... */
		assert_int_equal(ha, hb);
		assert_int_equal(ha, i < 12 ? 10 + 7 * (uint64_t)i : 100 + (uint64_t)(i - 12));
	}
	frames_destroy(a);
	frames_destroy(b);
}

static void test_reserve(void **state)
{
	struct frames *fr = frames_create(16, 64); /* frames 16..79 */
	struct frames_stats st;

	(void)state;
	assert_int_equal(frames_reserve(fr, 20, 4), FRAMES_OK); /* 20..23 */
	for (uint64_t h = 16; h < 20; h++)
		assert_int_equal(alloc1(fr), h);
	assert_int_equal(alloc1(fr), 24);
	assert_true(frames_is_reserved(fr, 23));
	assert_false(frames_is_reserved(fr, 24));
	assert_int_equal(frames_reserve(fr, 24, 1), FRAMES_EBUSY); /* allocated */
	assert_int_equal(frames_reserve(fr, 10, 8), FRAMES_EINVAL); /* starts below the range */
	assert_int_equal(frames_reserve(fr, 78, 3), FRAMES_EINVAL); /* ends beyond it */
	assert_int_equal(frames_reserve(fr, 40, 0), FRAMES_EINVAL);
	/* merging: [30,32) + [32,34) + [29,35) = [29,35), plus [20,24) */
	assert_int_equal(frames_reserve(fr, 30, 2), FRAMES_OK);
	assert_int_equal(frames_reserve(fr, 32, 2), FRAMES_OK);
	frames_get_stats(fr, &st);
	assert_int_equal(st.reserved, 8);
	assert_int_equal(frames_reserve(fr, 29, 6), FRAMES_OK);
	frames_get_stats(fr, &st);
	assert_int_equal(st.reserved, 10);
	assert_int_equal(st.allocated, 5);
	/* 25..28 free, 29..34 reserved, 35.. free */
	for (uint64_t h = 25; h < 29; h++)
		assert_int_equal(alloc1(fr), h);
	assert_int_equal(alloc1(fr), 35);
	/* a reserved frame cannot be freed */
	assert_int_equal(frames_free(fr, 30), FRAMES_ENOTALLOC);
	frames_destroy(fr);
}

static void test_limit(void **state)
{
	struct frames *fr = frames_create(0, 100);
	struct frames_stats st;
	uint64_t h = 12345;

	(void)state;
	frames_set_limit(fr, 2);
	alloc1(fr);
	alloc1(fr);
	assert_int_equal(frames_alloc(fr, &h), FRAMES_ENOMEM);
	assert_int_equal(h, 12345); /* untouched */
	assert_int_equal(frames_alloc_contig(fr, 1, &h), FRAMES_ENOMEM);
	frames_get_stats(fr, &st);
	assert_int_equal(st.allocated, 2);
	assert_int_equal(st.failures, 2);
	assert_int_equal(frames_free(fr, 0), FRAMES_OK);
	assert_int_equal(alloc1(fr), 0);
	frames_set_limit(fr, UINT64_MAX);
	assert_int_equal(alloc1(fr), 2);
	frames_destroy(fr);
}

/* Out of frames: a clear error, and nothing corrupted. */
static void test_exhaustion(void **state)
{
	struct frames *fr = frames_create(100, 8);
	struct frames_stats st;
	uint64_t h;

	(void)state;
	for (uint64_t i = 0; i < 8; i++)
		assert_int_equal(alloc1(fr), 100 + i);
	assert_int_equal(frames_alloc(fr, &h), FRAMES_ENOMEM);
	assert_int_equal(frames_alloc(fr, &h), FRAMES_ENOMEM);
	assert_string_equal(frames_strerror(FRAMES_ENOMEM), "out of host frames");
	frames_get_stats(fr, &st);
	assert_int_equal(st.allocated, 8);
	assert_int_equal(st.peak, 8);
	for (uint64_t i = 0; i < 8; i++)
		assert_true(frames_is_allocated(fr, 100 + i));
	assert_int_equal(frames_free(fr, 104), FRAMES_OK);
	assert_int_equal(alloc1(fr), 104);
	/* double free, never allocated, outside */
	assert_int_equal(frames_free(fr, 104), FRAMES_OK);
	assert_int_equal(frames_free(fr, 104), FRAMES_ENOTALLOC);
	assert_int_equal(frames_free(fr, 99), FRAMES_EINVAL);
	assert_int_equal(frames_free(fr, 108), FRAMES_EINVAL);
	frames_get_stats(fr, &st);
	assert_int_equal(st.allocated, 7);
	frames_destroy(fr);
}

static void test_contig(void **state)
{
	struct frames *fr = frames_create(1, 4096); /* frames 1..4096 */
	uint64_t h;

	(void)state;
	assert_int_equal(alloc1(fr), 1);
	/* the lowest multiple of 512 from the hint (2) with 512 free frames */
	assert_int_equal(frames_alloc_contig(fr, 9, &h), FRAMES_OK);
	assert_int_equal(h, 512);
	assert_int_equal(alloc1(fr), 2); /* the run left 2..511 free */
	assert_int_equal(frames_alloc_contig(fr, 9, &h), FRAMES_OK);
	assert_int_equal(h, 1024);
	assert_int_equal(frames_reserve(fr, 1536, 1), FRAMES_OK);
	assert_int_equal(frames_alloc_contig(fr, 9, &h), FRAMES_OK);
	assert_int_equal(h, 2048); /* 1536 holds a reserved frame */
	assert_int_equal(frames_free_contig(fr, 512, 9), FRAMES_OK);
	assert_int_equal(frames_alloc_contig(fr, 9, &h), FRAMES_OK);
	assert_int_equal(h, 512);
	/* a run with one frame allocated is skipped */
	assert_int_equal(frames_free_contig(fr, 512, 9), FRAMES_OK);
	h = 0;
	for (uint64_t i = 3; i <= 512; i++)
		assert_int_equal(alloc1(fr), i); /* fills 3..511, then 512 */
	assert_int_equal(frames_alloc_contig(fr, 9, &h), FRAMES_OK);
	assert_int_equal(h, 2560);
	/* 2^12 aligned: only 4096 could start one, and 4096..8191 is beyond the range */
	assert_int_equal(frames_alloc_contig(fr, 12, &h), FRAMES_ENOMEM);
	assert_int_equal(frames_alloc_contig(fr, FRAMES_MAX_ORDER + 1, &h), FRAMES_EINVAL);
	/* freeing a run with a frame not allocated refuses the whole run */
	assert_int_equal(frames_free_contig(fr, 1024, 10), FRAMES_ENOTALLOC);
	assert_true(frames_is_allocated(fr, 1024));
	frames_destroy(fr);
}

struct hook_rec {
	uint64_t hfn, count;
	int calls;
};

static void hook(void *ctx, uint64_t hfn, uint64_t count)
{
	struct hook_rec *r = ctx;

	r->hfn = hfn;
	r->count = count;
	r->calls++;
}

static void test_release_hook(void **state)
{
	struct frames *fr = frames_create(0, 2048);
	struct hook_rec rec = { 0, 0, 0 };
	uint64_t h;

	(void)state;
	frames_set_release_hook(fr, hook, &rec);
	alloc1(fr);
	assert_int_equal(frames_alloc_contig(fr, 9, &h), FRAMES_OK);
	assert_int_equal(frames_free(fr, 0), FRAMES_OK);
	assert_int_equal(rec.calls, 1);
	assert_int_equal(rec.hfn, 0);
	assert_int_equal(rec.count, 1);
	assert_int_equal(frames_free_contig(fr, h, 9), FRAMES_OK);
	assert_int_equal(rec.calls, 2);
	assert_int_equal(rec.hfn, 512);
	assert_int_equal(rec.count, 512);
	assert_int_equal(frames_free(fr, 0), FRAMES_ENOTALLOC);
	assert_int_equal(rec.calls, 2); /* refused: no release */
	frames_destroy(fr);
}

/* Random allocations and frees against a plain-array model of "lowest free frame". */
static void test_model(void **state)
{
	enum { N = 4000, R0 = 2000, R1 = 2100 };
	static bool used[N];
	struct frames *fr = frames_create(0, N);
	uint64_t seed = 3, live = 0, peak = 0;
	size_t bytes;

	(void)state;
	assert_int_equal(frames_reserve(fr, R0, R1 - R0), FRAMES_OK);
	for (uint64_t h = R0; h < R1; h++)
		used[h] = true;
	for (int i = 0; i < 30000; i++) {
		if (rng_below(&seed, 3) != 0) {
			uint64_t want = 0, h;
			while (want < N && used[want])
				want++;
			if (want == N) {
				assert_int_equal(frames_alloc(fr, &h), FRAMES_ENOMEM);
				continue;
			}
			assert_int_equal(alloc1(fr), want);
			used[want] = true;
			if (++live > peak)
				peak = live;
		} else {
			uint64_t h = rng_below(&seed, N);
			bool ok = used[h] && !(h >= R0 && h < R1);
			assert_int_equal(frames_free(fr, h), ok ? FRAMES_OK : FRAMES_ENOTALLOC);
			if (ok) {
				used[h] = false;
				live--;
			}
		}
	}
	assert_int_equal(frames_allocated(fr), live);
	{
		struct frames_stats st;
		frames_get_stats(fr, &st);
		assert_int_equal(st.peak, peak);
		assert_int_equal(st.reserved, 100);
	}
	/* bookkeeping: one chunk of bits (4 KiB + count) plus small tables */
	bytes = frames_meta_bytes(fr);
	assert_true(bytes <= 4104 + 1024);
	frames_destroy(fr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lowest_first),
		cmocka_unit_test(test_free_order_irrelevant),
		cmocka_unit_test(test_reserve),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_exhaustion),
		cmocka_unit_test(test_contig),
		cmocka_unit_test(test_release_hook),
		cmocka_unit_test(test_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
