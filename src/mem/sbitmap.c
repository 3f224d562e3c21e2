/*
 * sbitmap.c - sparse bitmap: a u64map from chunk index (bit >> 15) to the
 * chunk's state: absent (all clear), SB_FULL (all set, no storage) or a
 * pointer to 512 words of bits with a count of bits set.
 *
 * Range updates: a range touches whole chunks plus at most one partial
 * chunk at each end. Whole chunks change state without storage (absent <->
 * full); only a partial chunk that is absent (set) or full (clear) needs
 * new storage. Both updates first secure everything that can fail (map room
 * for new entries, at most two new storage blocks), then apply the change,
 * which cannot fail: a failed call leaves the bitmap unchanged.
 *
 * Searches walk chunks in index order. When the range spans many more
 * chunk indices than the map holds, the next present chunk is found by a
 * pass over the map instead of probing index after index, so a search over
 * a sparse 2^64 range costs O(present chunks), not O(range).
 */
#include "mem/sbitmap.h"

#include <stdlib.h>
#include <string.h>

#define SB_WORDS (SBITMAP_CHUNK_BITS / 64)
#define SB_FULL  ((uint64_t)1) /* never a valid storage pointer */

struct sb_chunk {
	uint64_t w[SB_WORDS];
	uint32_t count;
};

static struct sb_chunk *chunk_ptr(uint64_t v)
{
	return (struct sb_chunk *)(uintptr_t)v;
}

static uint64_t chunk_val(struct sb_chunk *c)
{
	return (uint64_t)(uintptr_t)c;
}

void sbitmap_init(struct sbitmap *sb)
{
	u64map_init(&sb->chunks);
	sb->count = 0;
	sb->stored = 0;
}

void sbitmap_fini(struct sbitmap *sb)
{
	size_t pos = 0;
	uint64_t k, v;

	while (u64map_iter(&sb->chunks, &pos, &k, &v)) {
		if (v != SB_FULL)
			free(chunk_ptr(v));
	}
	u64map_fini(&sb->chunks);
	sb->count = 0;
	sb->stored = 0;
}

size_t sbitmap_bytes(const struct sbitmap *sb)
{
	return u64map_bytes(&sb->chunks) + sb->stored * sizeof(struct sb_chunk);
}

bool sbitmap_test(const struct sbitmap *sb, uint64_t bit)
{
	uint64_t v;
	unsigned off = (unsigned)(bit & (SBITMAP_CHUNK_BITS - 1));

	if (!u64map_get(&sb->chunks, bit >> SBITMAP_CHUNK_SHIFT, &v))
		return false;
	if (v == SB_FULL)
		return true;
	return (chunk_ptr(v)->w[off / 64] >> (off % 64)) & 1;
}

/* Mask of bits [lo, hi) within word number `wi` (bits of the chunk). */
static uint64_t word_mask(unsigned wi, unsigned lo, unsigned hi)
{
	unsigned wlo = wi * 64, whi = wlo + 64;
	unsigned a = lo > wlo ? lo - wlo : 0;
	unsigned b = hi < whi ? hi - wlo : 64;
	uint64_t m = b == 64 ? ~UINT64_C(0) : (UINT64_C(1) << b) - 1;

	return m & ~((UINT64_C(1) << a) - 1);
}

/* Sets or clears bits [lo, hi) of stored chunk c; returns how many changed. */
static unsigned chunk_update(struct sb_chunk *c, unsigned lo, unsigned hi, bool set)
{
	unsigned changed = 0;

	for (unsigned wi = lo / 64; wi * 64 < hi; wi++) {
		uint64_t m = word_mask(wi, lo, hi);
		uint64_t before = c->w[wi];

		c->w[wi] = set ? before | m : before & ~m;
		changed += (unsigned)__builtin_popcountll(before ^ c->w[wi]);
	}
	if (set)
		c->count += changed;
	else
		c->count -= changed;
	return changed;
}

/* Does updating bits [lo, hi) of chunk state v need new storage? */
static bool needs_storage(uint64_t v, bool present, unsigned lo, unsigned hi, bool set)
{
	bool whole = lo == 0 && hi == SBITMAP_CHUNK_BITS;

	if (whole)
		return false;
	return set ? !present : (present && v == SB_FULL);
}

/*
 * Applies the update to one chunk. `spare` supplies storage when
 * needs_storage() said so (and the map has room for a new key).
 */
static void chunk_apply(struct sbitmap *sb, uint64_t ci, unsigned lo, unsigned hi, bool set,
			struct sb_chunk **spare)
{
	bool whole = lo == 0 && hi == SBITMAP_CHUNK_BITS;
	uint64_t v = 0;
	bool present = u64map_get(&sb->chunks, ci, &v);
	struct sb_chunk *c;

	if (set) {
		if (present && v == SB_FULL)
			return;
		if (whole) {
			if (present) {
				sb->count += SBITMAP_CHUNK_BITS - chunk_ptr(v)->count;
				free(chunk_ptr(v));
				sb->stored--;
			} else {
				sb->count += SBITMAP_CHUNK_BITS;
			}
			(void)u64map_put(&sb->chunks, ci, SB_FULL);
			return;
		}
		if (!present) {
			c = *spare;
			*spare = NULL;
			memset(c, 0, sizeof(*c));
			sb->stored++;
			(void)u64map_put(&sb->chunks, ci, chunk_val(c));
		} else {
			c = chunk_ptr(v);
		}
		sb->count += chunk_update(c, lo, hi, true);
		if (c->count == SBITMAP_CHUNK_BITS) {
			free(c);
			sb->stored--;
			(void)u64map_put(&sb->chunks, ci, SB_FULL);
		}
		return;
	}
	if (!present)
		return;
	if (whole) {
		sb->count -= v == SB_FULL ? SBITMAP_CHUNK_BITS : chunk_ptr(v)->count;
		if (v != SB_FULL) {
			free(chunk_ptr(v));
			sb->stored--;
		}
		u64map_del(&sb->chunks, ci, NULL);
		return;
	}
	if (v == SB_FULL) {
		c = *spare;
		*spare = NULL;
		memset(c->w, 0xff, sizeof(c->w));
		c->count = SBITMAP_CHUNK_BITS;
		sb->stored++;
		(void)u64map_put(&sb->chunks, ci, chunk_val(c));
	} else {
		c = chunk_ptr(v);
	}
	sb->count -= chunk_update(c, lo, hi, false);
	if (c->count == 0) {
		free(c);
		sb->stored--;
		u64map_del(&sb->chunks, ci, NULL);
	}
}

/* Bits of chunk ci covered by [first, last] (inclusive last). */
static void chunk_span(uint64_t ci, uint64_t first, uint64_t last, unsigned *lo, unsigned *hi)
{
	uint64_t base = ci << SBITMAP_CHUNK_SHIFT;

	*lo = first > base ? (unsigned)(first - base) : 0;
	*hi = last < base + SBITMAP_CHUNK_BITS - 1 ? (unsigned)(last - base) + 1 : SBITMAP_CHUNK_BITS;
}

/*
 * The lowest present chunk index in [c, c_last], or UINT64_MAX if none:
 * probes index by index when the span is small compared with the map,
 * else scans the whole map.
 */
static uint64_t next_present_chunk(const struct sbitmap *sb, uint64_t c, uint64_t c_last, uint64_t *val)
{
	size_t n = u64map_count(&sb->chunks);
	uint64_t best = UINT64_MAX, k, v;
	size_t pos = 0;

	if (n == 0 || c > c_last)
		return UINT64_MAX;
	if (c_last - c < 2 * (uint64_t)n + 16) {
		for (uint64_t ci = c;; ci++) {
			if (u64map_get(&sb->chunks, ci, val))
				return ci;
			if (ci == c_last)
				return UINT64_MAX;
		}
	}
	while (u64map_iter(&sb->chunks, &pos, &k, &v)) {
		if (k >= c && k <= c_last && k < best) {
			best = k;
			*val = v;
		}
	}
	return best;
}

static int range_update(struct sbitmap *sb, uint64_t first, uint64_t n, bool set)
{
	uint64_t last, c0, c1, newkeys = 0;
	struct sb_chunk *spare[2] = { NULL, NULL };
	unsigned nspare = 0, si = 0;

	if (n == 0)
		return 0;
	if (first + (n - 1) < first)
		return -1;
	last = first + (n - 1);
	c0 = first >> SBITMAP_CHUNK_SHIFT;
	c1 = last >> SBITMAP_CHUNK_SHIFT;
	/*
	 * Phase 1: secure what can fail. Only the end chunks can be partial;
	 * only setting adds keys, so clearing looks at the two ends alone.
	 */
	for (uint64_t ci = c0;; ci = ci < c1 && set ? ci + 1 : c1) {
		unsigned lo, hi;
		uint64_t v = 0;
		bool present = u64map_get(&sb->chunks, ci, &v);

		chunk_span(ci, first, last, &lo, &hi);
		if (set && !present)
			newkeys++;
		if ((ci == c0 || ci == c1) && needs_storage(v, present, lo, hi, set))
			nspare++;
		if (ci == c1)
			break;
	}
	if (u64map_reserve(&sb->chunks, newkeys))
		return -1;
	for (unsigned i = 0; i < nspare; i++) {
		spare[i] = malloc(sizeof(struct sb_chunk));
		if (!spare[i]) {
			free(spare[0]);
			return -1;
		}
	}
	/*
	 * Phase 2: apply; cannot fail. Setting visits every chunk of the
	 * range; clearing visits only the chunks present.
	 */
	for (uint64_t ci = c0;; ci++) {
		unsigned lo, hi;
		uint64_t v;

		if (!set) {
			ci = next_present_chunk(sb, ci, c1, &v);
			if (ci == UINT64_MAX)
				break;
		}
		chunk_span(ci, first, last, &lo, &hi);
		while (si < 2 && !spare[si])
			si++;
		chunk_apply(sb, ci, lo, hi, set, si < 2 ? &spare[si] : NULL);
		if (ci == c1)
			break;
	}
	free(spare[0]);
	free(spare[1]);
	return 0;
}

int sbitmap_set_range(struct sbitmap *sb, uint64_t first, uint64_t n)
{
	return range_update(sb, first, n, true);
}

int sbitmap_clear_range(struct sbitmap *sb, uint64_t first, uint64_t n)
{
	return range_update(sb, first, n, false);
}

int sbitmap_set(struct sbitmap *sb, uint64_t bit)
{
	if (sbitmap_test(sb, bit))
		return 0;
	return range_update(sb, bit, 1, true) ? -1 : 1;
}

int sbitmap_clear(struct sbitmap *sb, uint64_t bit)
{
	if (!sbitmap_test(sb, bit))
		return 0;
	return range_update(sb, bit, 1, false) ? -1 : 1;
}

/* First bit in [lo, hi) of stored chunk c equal to `want`, or hi. */
static unsigned chunk_find(const struct sb_chunk *c, unsigned lo, unsigned hi, bool want)
{
	for (unsigned wi = lo / 64; wi * 64 < hi; wi++) {
		uint64_t w = want ? c->w[wi] : ~c->w[wi];

		w &= word_mask(wi, lo, hi);
		if (w)
			return wi * 64 + (unsigned)__builtin_ctzll(w);
	}
	return hi;
}

uint64_t sbitmap_next_set(const struct sbitmap *sb, uint64_t from, uint64_t end)
{
	uint64_t c, c_last;

	if (from >= end)
		return end;
	c = from >> SBITMAP_CHUNK_SHIFT;
	c_last = (end - 1) >> SBITMAP_CHUNK_SHIFT;
	while (c <= c_last) {
		uint64_t v = 0, base;
		unsigned lo, hi, f;

		c = next_present_chunk(sb, c, c_last, &v);
		if (c == UINT64_MAX)
			return end;
		base = c << SBITMAP_CHUNK_SHIFT;
		chunk_span(c, from, end - 1, &lo, &hi);
		f = v == SB_FULL ? lo : chunk_find(chunk_ptr(v), lo, hi, true);
		if (f < hi)
			return base + f;
		if (c == c_last)
			break;
		c++;
	}
	return end;
}

uint64_t sbitmap_next_clear(const struct sbitmap *sb, uint64_t from, uint64_t end)
{
	uint64_t c, c_last;

	if (from >= end)
		return end;
	c = from >> SBITMAP_CHUNK_SHIFT;
	c_last = (end - 1) >> SBITMAP_CHUNK_SHIFT;
	for (;; c++) {
		uint64_t v, base = c << SBITMAP_CHUNK_SHIFT;
		unsigned lo, hi, f;

		chunk_span(c, from, end - 1, &lo, &hi);
		if (!u64map_get(&sb->chunks, c, &v))
			return base + lo;
		if (v != SB_FULL) {
			f = chunk_find(chunk_ptr(v), lo, hi, false);
			if (f < hi)
				return base + f;
		}
		if (c == c_last)
			return end;
	}
}

void sbitmap_extract(const struct sbitmap *sb, uint64_t first, uint64_t n, uint64_t *out)
{
	uint64_t end = first + n;

	memset(out, 0, (size_t)((n + 63) / 64) * sizeof(uint64_t));
	for (uint64_t b = sbitmap_next_set(sb, first, end); b < end; b = sbitmap_next_set(sb, b + 1, end))
		out[(b - first) / 64] |= UINT64_C(1) << ((b - first) % 64);
}
