/*
 * frames.c - lowest-free-first frame allocation over a sparse bitmap.
 *
 * State: `bits`, a sparse bitmap with bit hfn set iff frame hfn is
 * allocated; `resv`, a sorted array of disjoint reserved ranges; `hint`,
 * a frame number such that no free frame lies below it.
 *
 * Single frame: start at the hint; find the next clear bit; if that frame
 * is reserved, continue after the reservation; the first frame that is
 * neither is the answer, and the hint moves just past it. Freeing lowers
 * the hint to the freed frame. Since the bitmap skips full chunks and the
 * reservations are jumped over whole, a search costs O(chunks crossed +
 * reservations crossed), and the result depends only on which frames are
 * allocated: the rule "lowest free frame" is what makes the allocator
 * deterministic.
 *
 * Run of 2^order: candidates are the multiples of 2^order from the hint
 * (rounded up); a candidate that overlaps a reservation moves past it, one
 * that holds an allocated frame moves past that frame (rounded up); the
 * first candidate that is wholly free is taken.
 */
#include "mem/frames.h"

#include <stdlib.h>

#include "mem/sbitmap.h"

struct frange {
	uint64_t start, end; /* [start, end) */
};

struct frames {
	uint64_t first, end;  /* managed range [first, end) */
	struct sbitmap bits;
	struct frange *resv;
	size_t nresv, capresv;
	uint64_t reserved;
	uint64_t hint;
	uint64_t allocated, peak, limit;
	uint64_t allocs, frees, failures;
	frames_release_fn release;
	void *release_ctx;
};

const char *frames_strerror(int status)
{
	switch (status) {
	case FRAMES_OK: return "ok";
	case FRAMES_ENOMEM: return "out of host frames";
	case FRAMES_EINVAL: return "frame outside the allocator's range";
	case FRAMES_ENOTALLOC: return "frame not allocated";
	case FRAMES_EBUSY: return "range holds allocated frames";
	case FRAMES_EHOST: return "simulator out of memory";
	default: return "unknown frames status";
	}
}

struct frames *frames_create(uint64_t first_hfn, uint64_t nframes)
{
	struct frames *fr;

	if (nframes == 0 || first_hfn + nframes < first_hfn)
		return NULL;
	fr = calloc(1, sizeof(*fr));
	if (!fr)
		return NULL;
	fr->first = first_hfn;
	fr->end = first_hfn + nframes;
	sbitmap_init(&fr->bits);
	fr->hint = first_hfn;
	fr->limit = UINT64_MAX;
	return fr;
}

void frames_destroy(struct frames *fr)
{
	if (!fr)
		return;
	sbitmap_fini(&fr->bits);
	free(fr->resv);
	free(fr);
}

/* Index of the reservation containing hfn, or -1 (binary search). */
static long resv_find(const struct frames *fr, uint64_t hfn)
{
	size_t lo = 0, hi = fr->nresv;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (fr->resv[mid].end <= hfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < fr->nresv && fr->resv[lo].start <= hfn)
		return (long)lo;
	return -1;
}

/* The first reservation ending after hfn (index; nresv if none). */
static size_t resv_after(const struct frames *fr, uint64_t hfn)
{
	size_t lo = 0, hi = fr->nresv;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (fr->resv[mid].end <= hfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool frames_is_reserved(const struct frames *fr, uint64_t hfn)
{
	return resv_find(fr, hfn) >= 0;
}

bool frames_is_allocated(const struct frames *fr, uint64_t hfn)
{
	return hfn >= fr->first && hfn < fr->end && sbitmap_test(&fr->bits, hfn);
}

/*
 * Reservation: the new range absorbs every reservation it overlaps or
 * touches, and replaces them in the sorted array.
 */
int frames_reserve(struct frames *fr, uint64_t hfn, uint64_t n)
{
	uint64_t start = hfn, end = hfn + n;
	size_t i, j, k;

	if (n == 0 || hfn < fr->first || end > fr->end || end < hfn)
		return FRAMES_EINVAL;
	if (sbitmap_next_set(&fr->bits, start, end) != end)
		return FRAMES_EBUSY;
	if (fr->nresv == fr->capresv) {
		size_t cap = fr->capresv ? fr->capresv * 2 : 8;
		struct frange *r = realloc(fr->resv, cap * sizeof(*r));

		if (!r)
			return FRAMES_EHOST;
		fr->resv = r;
		fr->capresv = cap;
	}
	/* [i, j): reservations that overlap or touch [start, end) */
	i = start > 0 ? resv_after(fr, start - 1) : 0;
	for (j = i; j < fr->nresv && fr->resv[j].start <= end; j++) {
		if (fr->resv[j].start < start)
			start = fr->resv[j].start;
		if (fr->resv[j].end > end)
			end = fr->resv[j].end;
	}
	for (k = i; k < j; k++)
		fr->reserved -= fr->resv[k].end - fr->resv[k].start;
	if (j == i) { /* insert at i */
		for (k = fr->nresv; k > i; k--)
			fr->resv[k] = fr->resv[k - 1];
		fr->nresv++;
	} else { /* replace [i, j) by one */
		for (k = j; k < fr->nresv; k++)
			fr->resv[i + 1 + (k - j)] = fr->resv[k];
		fr->nresv -= j - i - 1;
	}
	fr->resv[i] = (struct frange){ start, end };
	fr->reserved += end - start;
	return FRAMES_OK;
}

void frames_set_limit(struct frames *fr, uint64_t max_allocated)
{
	fr->limit = max_allocated;
}

static int fail(struct frames *fr, int status)
{
	fr->failures++;
	return status;
}

static void count_alloc(struct frames *fr, uint64_t n)
{
	fr->allocs++;
	fr->allocated += n;
	if (fr->allocated > fr->peak)
		fr->peak = fr->allocated;
}

int frames_alloc(struct frames *fr, uint64_t *hfn)
{
	uint64_t cand = fr->hint;

	if (fr->allocated >= fr->limit)
		return fail(fr, FRAMES_ENOMEM);
	for (;;) {
		long r;

		cand = sbitmap_next_clear(&fr->bits, cand, fr->end);
		if (cand >= fr->end)
			return fail(fr, FRAMES_ENOMEM);
		r = resv_find(fr, cand);
		if (r < 0)
			break;
		cand = fr->resv[r].end;
	}
	if (sbitmap_set(&fr->bits, cand) < 0)
		return fail(fr, FRAMES_EHOST);
	fr->hint = cand + 1;
	count_alloc(fr, 1);
	*hfn = cand;
	return FRAMES_OK;
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

int frames_alloc_contig(struct frames *fr, unsigned order, uint64_t *hfn)
{
	uint64_t n, cand;

	if (order > FRAMES_MAX_ORDER)
		return fail(fr, FRAMES_EINVAL);
	if (order == 0)
		return frames_alloc(fr, hfn);
	n = UINT64_C(1) << order;
	if (fr->limit < n || fr->allocated > fr->limit - n)
		return fail(fr, FRAMES_ENOMEM);
	cand = align_up(fr->hint, n);
	for (;;) {
		size_t ri;
		uint64_t busy;

		if (cand < fr->hint || cand >= fr->end || fr->end - cand < n)
			return fail(fr, FRAMES_ENOMEM); /* includes wrap-around */
		ri = resv_after(fr, cand);
		if (ri < fr->nresv && fr->resv[ri].start < cand + n) {
			cand = align_up(fr->resv[ri].end, n);
			continue;
		}
		busy = sbitmap_next_set(&fr->bits, cand, cand + n);
		if (busy == cand + n)
			break;
		cand = align_up(busy + 1, n);
	}
	if (sbitmap_set_range(&fr->bits, cand, n))
		return fail(fr, FRAMES_EHOST);
	if (fr->hint >= cand && fr->hint < cand + n)
		fr->hint = cand + n;
	count_alloc(fr, n);
	*hfn = cand;
	return FRAMES_OK;
}

int frames_free_contig(struct frames *fr, uint64_t hfn, unsigned order)
{
	uint64_t n;

	if (order > FRAMES_MAX_ORDER)
		return fail(fr, FRAMES_EINVAL);
	n = UINT64_C(1) << order;
	if (hfn < fr->first || hfn >= fr->end || fr->end - hfn < n)
		return fail(fr, FRAMES_EINVAL);
	if (sbitmap_next_clear(&fr->bits, hfn, hfn + n) != hfn + n)
		return fail(fr, FRAMES_ENOTALLOC);
	if (sbitmap_clear_range(&fr->bits, hfn, n))
		return fail(fr, FRAMES_EHOST);
	if (hfn < fr->hint)
		fr->hint = hfn;
	fr->allocated -= n;
	fr->frees++;
	if (fr->release)
		fr->release(fr->release_ctx, hfn, n);
	return FRAMES_OK;
}

int frames_free(struct frames *fr, uint64_t hfn)
{
	return frames_free_contig(fr, hfn, 0);
}

void frames_set_release_hook(struct frames *fr, frames_release_fn fn, void *ctx)
{
	fr->release = fn;
	fr->release_ctx = ctx;
}

void frames_get_stats(const struct frames *fr, struct frames_stats *st)
{
	st->first_hfn = fr->first;
	st->nframes = fr->end - fr->first;
	st->reserved = fr->reserved;
	st->allocated = fr->allocated;
	st->peak = fr->peak;
	st->limit = fr->limit;
	st->allocs = fr->allocs;
	st->frees = fr->frees;
	st->failures = fr->failures;
}

uint64_t frames_allocated(const struct frames *fr)
{
	return fr->allocated;
}

size_t frames_meta_bytes(const struct frames *fr)
{
	return sizeof(*fr) + sbitmap_bytes(&fr->bits) + fr->capresv * sizeof(struct frange);
}
