/*
 * The sparse structures under the mem layer: u64map (hash map) and
 * sbitmap (sparse bitmap). Expected values come from the rules stated in
 * u64map.h / sbitmap.h, or from a plain-array model of the same operations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "mem/sbitmap.h"
#include "mem/u64map.h"
#include "rng.h"

/* u64map.h: cap = smallest power of two >= 16 with n <= 3/4 cap. */
static size_t rule_cap(size_t n)
{
	size_t cap = 16;

	while (n > cap / 4 * 3)
		cap *= 2;
	return cap;
}

static void test_map_basic(void **state)
{
	struct u64map m;
	uint64_t v;

	(void)state;
	u64map_init(&m);
	assert_int_equal(u64map_bytes(&m), 0);
	assert_false(u64map_get(&m, 5, &v));
	assert_int_equal(u64map_put(&m, U64MAP_NO_KEY, 1), -1);
	assert_int_equal(u64map_put(&m, 5, 50), 0);
	assert_int_equal(u64map_put(&m, 0, 7), 0);
	assert_true(u64map_get(&m, 5, &v));
	assert_int_equal(v, 50);
	assert_int_equal(u64map_put(&m, 5, 51), 0); /* replace */
	assert_int_equal(u64map_count(&m), 2);
	assert_true(u64map_get(&m, 5, &v));
	assert_int_equal(v, 51);
	assert_true(u64map_get(&m, 0, &v));
	assert_int_equal(v, 7);
	assert_int_equal(u64map_bytes(&m), 16 * 16);
	assert_true(u64map_del(&m, 5, &v));
	assert_int_equal(v, 51);
	assert_false(u64map_del(&m, 5, NULL));
	assert_true(u64map_del(&m, 0, NULL));
	assert_int_equal(u64map_bytes(&m), 0); /* emptied: table freed */
	u64map_fini(&m);
}

static void test_map_capacity_rule(void **state)
{
	struct u64map m;

	(void)state;
	u64map_init(&m);
	for (size_t n = 1; n <= 1000; n++) {
		assert_int_equal(u64map_put(&m, n * 4096, n), 0);
		assert_int_equal(u64map_bytes(&m), 16 * rule_cap(n));
	}
	/* 1000 entries: 2048 slots. Halving happens when count drops below cap/8. */
	assert_int_equal(m.cap, 2048);
	for (size_t n = 1000; n > 10; n--)
		assert_true(u64map_del(&m, n * 4096, NULL));
	/* 10 left: halved at 255 (<256) ->1024, 127 ->512, 63 ->256, 31 ->128, 15 ->64 */
	assert_int_equal(m.cap, 64);
	for (size_t n = 1; n <= 10; n++) {
		uint64_t v;
		assert_true(u64map_get(&m, n * 4096, &v));
		assert_int_equal(v, n);
	}
	u64map_fini(&m);
}

/* Random puts/deletes over a small key universe against a plain array. */
static void test_map_model(void **state)
{
	enum { U = 3000, OPS = 200000 };
	static bool present[U];
	static uint64_t vals[U];
	struct u64map m;
	uint64_t seed = 7, v, k;
	size_t count = 0, pos = 0, seen = 0;

	(void)state;
	u64map_init(&m);
	for (int i = 0; i < OPS; i++) {
		uint64_t key = rng_below(&seed, U);
		uint64_t r = rng_next(&seed);

		/* phases: grow, then mostly delete (exercises shrinking), then mixed */
		bool del = i < OPS / 3 ? (r % 4 == 0) : i < 2 * OPS / 3 ? (r % 4 != 0) : (r % 2 == 0);
		if (del) {
			bool was = u64map_del(&m, key * 0x1000 + 3, &v);
			assert_int_equal(was, present[key]);
			if (was) {
				assert_int_equal(v, vals[key]);
				count--;
			}
			present[key] = false;
		} else {
			assert_int_equal(u64map_put(&m, key * 0x1000 + 3, r), 0);
			if (!present[key])
				count++;
			present[key] = true;
			vals[key] = r;
		}
		assert_int_equal(u64map_count(&m), count);
	}
	for (uint64_t key = 0; key < U; key++) {
		assert_int_equal(u64map_get(&m, key * 0x1000 + 3, &v), present[key]);
		if (present[key])
			assert_int_equal(v, vals[key]);
	}
	while (u64map_iter(&m, &pos, &k, &v)) {
		assert_true(present[(k - 3) / 0x1000]);
		seen++;
	}
	assert_int_equal(seen, count);
	u64map_fini(&m);
}

static void test_sb_chunks(void **state)
{
	struct sbitmap sb;
	size_t map16 = 16 * 16; /* one to twelve chunk keys: a 16-entry map */

	(void)state;
	sbitmap_init(&sb);
	assert_int_equal(sbitmap_bytes(&sb), 0);
	assert_int_equal(sbitmap_set(&sb, 40000), 1);
	assert_int_equal(sbitmap_set(&sb, 40000), 0);
	assert_true(sbitmap_test(&sb, 40000));
	assert_false(sbitmap_test(&sb, 40001));
	assert_int_equal(sb.stored, 1);
	/* chunk 0 wholly set: no storage, just its key */
	assert_int_equal(sbitmap_set_range(&sb, 0, SBITMAP_CHUNK_BITS), 0);
	assert_int_equal(sb.stored, 1);
	assert_int_equal(sbitmap_count(&sb), SBITMAP_CHUNK_BITS + 1);
	assert_int_equal(sbitmap_next_clear(&sb, 0, 100000), SBITMAP_CHUNK_BITS);
	/* clearing one bit of a full chunk gives it storage again */
	assert_int_equal(sbitmap_clear(&sb, 5), 1);
	assert_int_equal(sb.stored, 2);
	assert_int_equal(sbitmap_next_clear(&sb, 0, 100000), 5);
	assert_int_equal(sbitmap_set(&sb, 5), 1);
	assert_int_equal(sb.stored, 1); /* full again */
	/* chunk 1: completing it by the bits around 40000 */
	assert_int_equal(sbitmap_set_range(&sb, SBITMAP_CHUNK_BITS, 40000 - SBITMAP_CHUNK_BITS), 0);
	assert_int_equal(sbitmap_set_range(&sb, 40001, 2 * SBITMAP_CHUNK_BITS - 40001), 0);
	assert_int_equal(sb.stored, 0);
	assert_int_equal(sbitmap_bytes(&sb), map16);
	assert_int_equal(sbitmap_count(&sb), 2 * SBITMAP_CHUNK_BITS);
	/* a range across the boundary clears partial ends and a whole chunk */
	assert_int_equal(sbitmap_clear_range(&sb, 100, 2 * SBITMAP_CHUNK_BITS - 200), 0);
	assert_int_equal(sbitmap_count(&sb), 200);
	assert_int_equal(sbitmap_next_set(&sb, 0, UINT64_MAX), 0);
	assert_int_equal(sbitmap_next_set(&sb, 100, UINT64_MAX), 2 * SBITMAP_CHUNK_BITS - 100);
	/* far away bits are found without walking the range */
	assert_int_equal(sbitmap_set(&sb, UINT64_C(1) << 60), 1);
	assert_int_equal(sbitmap_next_set(&sb, 2 * SBITMAP_CHUNK_BITS, UINT64_MAX), UINT64_C(1) << 60);
	assert_int_equal(sbitmap_next_set(&sb, (UINT64_C(1) << 60) + 1, UINT64_MAX), UINT64_MAX);
	assert_int_equal(sbitmap_set_range(&sb, UINT64_MAX - 1, 3), -1); /* wraps */
	sbitmap_fini(&sb);
	assert_int_equal(sbitmap_bytes(&sb), 0);
}

/* Random single and range operations against a plain bool array. */
static void test_sb_model(void **state)
{
	enum { N = 5 * 32768 + 123, OPS = 3000 };
	static bool ref[N];
	static uint64_t out[(N + 63) / 64];
	struct sbitmap sb;
	uint64_t seed = 11, cnt = 0;

	(void)state;
	sbitmap_init(&sb);
	for (int i = 0; i < OPS; i++) {
		uint64_t r = rng_next(&seed) % 6;
		uint64_t a = rng_below(&seed, N);
		uint64_t n = r >= 2 ? 1 + rng_below(&seed, r >= 4 ? 70000 : 100) : 1;
		bool set = r % 2 == 0;

		if (a + n > N)
			n = N - a;
		if (n == 1) {
			int was = set ? sbitmap_set(&sb, a) : sbitmap_clear(&sb, a);
			assert_int_equal(was, set ? !ref[a] : ref[a]);
		} else {
			assert_int_equal(set ? sbitmap_set_range(&sb, a, n) : sbitmap_clear_range(&sb, a, n), 0);
		}
		for (uint64_t b = a; b < a + n; b++)
			ref[b] = set;
		if (i % 100 == 0) {
			uint64_t from = rng_below(&seed, N), ns = N, nc = N;
			cnt = 0;
			for (uint64_t b = 0; b < N; b++)
				cnt += ref[b];
			for (uint64_t b = from; b < N; b++) {
				if (ref[b] && ns == N)
					ns = b;
				if (!ref[b] && nc == N)
					nc = b;
			}
			assert_int_equal(sbitmap_count(&sb), cnt);
			assert_int_equal(sbitmap_next_set(&sb, from, N), ns);
			assert_int_equal(sbitmap_next_clear(&sb, from, N), nc);
		}
	}
	sbitmap_extract(&sb, 3, N - 3, out);
	for (uint64_t b = 3; b < N; b++)
		assert_int_equal((out[(b - 3) / 64] >> ((b - 3) % 64)) & 1, ref[b]);
	for (uint64_t b = 0; b < N; b++)
		assert_int_equal(sbitmap_test(&sb, b), ref[b]);
	sbitmap_fini(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_basic),
		cmocka_unit_test(test_map_capacity_rule),
		cmocka_unit_test(test_map_model),
		cmocka_unit_test(test_sb_chunks),
		cmocka_unit_test(test_sb_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
