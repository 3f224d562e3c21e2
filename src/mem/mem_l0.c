/*
 * mem_l0.c - the L0 memory port over hostmem and the frame allocator.
 *
 * Sub-word access: hostmem stores 8-byte little-endian words, so a 4-byte
 * access at pa is bits [(pa & 4) * 8, +32) of the word at pa & ~7; a write
 * or compare-exchange reads the word, merges the new bits and writes the
 * word back only if it changed (this simulator is single-threaded, so the
 * read-merge-write is atomic).
 *
 * Table pages: a frame from the allocator, recorded in a sparse bitmap of
 * live table frames so that free_table can refuse anything else, and
 * zeroed by dropping whatever hostmem stored for it.
 */
#include "mem/mem_l0.h"

#include <stdlib.h>

#include "mem/sbitmap.h"

#define L0_PAGE_SHIFT 12

struct mem_l0 {
	struct hostmem *hm;
	struct frames *fr;
	struct sbitmap tables; /* hfn -> live table page */
	struct mem_port port;
};

static enum mem_status check(const struct mem_l0 *l0, uint64_t pa, unsigned size)
{
	uint64_t limit = hostmem_limit(l0->hm);

	if ((size != 4 && size != 8) || (pa & (size - 1)))
		return MEM_INVALID;
	if (pa >= limit || limit - pa < size)
		return MEM_OUTSIDE;
	return MEM_OK;
}

static unsigned shift_of(uint64_t pa, unsigned size)
{
	return size == 4 ? (unsigned)(pa & 4) * 8 : 0;
}

static uint64_t mask_of(unsigned size)
{
	return size == 4 ? UINT64_C(0xffffffff) : ~UINT64_C(0);
}

static enum mem_status l0_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
	struct mem_l0 *l0 = ctx;
	enum mem_status s = check(l0, pa, size);
	uint64_t w;

	if (s)
		return s;
	if (hostmem_read64(l0->hm, pa & ~UINT64_C(7), &w))
		return MEM_OUTSIDE;
	*val = (w >> shift_of(pa, size)) & mask_of(size);
	return MEM_OK;
}

/* Stores `val` into the word holding pa, only if that changes the word. */
static enum mem_status store(struct mem_l0 *l0, uint64_t pa, unsigned size, uint64_t word, uint64_t val)
{
	unsigned sh = shift_of(pa, size);
	uint64_t m = mask_of(size);
	uint64_t nw = (word & ~(m << sh)) | ((val & m) << sh);

	if (nw == word)
		return MEM_OK;
	return hostmem_write64(l0->hm, pa & ~UINT64_C(7), nw) ? MEM_NOMEM : MEM_OK;
}

static enum mem_status l0_write(void *ctx, uint64_t pa, unsigned size, uint64_t val)
{
	struct mem_l0 *l0 = ctx;
	enum mem_status s = check(l0, pa, size);
	uint64_t w;

	if (s)
		return s;
	if (hostmem_read64(l0->hm, pa & ~UINT64_C(7), &w))
		return MEM_OUTSIDE;
	return store(l0, pa, size, w, val);
}

static enum mem_status l0_cmpxchg(void *ctx, uint64_t pa, unsigned size, uint64_t expected,
				  uint64_t desired, uint64_t *seen)
{
	struct mem_l0 *l0 = ctx;
	enum mem_status s = check(l0, pa, size);
	uint64_t w, cur;

	if (s)
		return s;
	if (hostmem_read64(l0->hm, pa & ~UINT64_C(7), &w))
		return MEM_OUTSIDE;
	cur = (w >> shift_of(pa, size)) & mask_of(size);
	if (seen)
		*seen = cur;
	if (cur != (expected & mask_of(size)))
		return MEM_CHANGED;
	return store(l0, pa, size, w, desired);
}

static enum mem_status l0_alloc_table(void *ctx, uint64_t *pa)
{
	struct mem_l0 *l0 = ctx;
	uint64_t hfn;

	if (frames_alloc(l0->fr, &hfn))
		return MEM_NOMEM;
	if (sbitmap_set(&l0->tables, hfn) < 0) {
		(void)frames_free(l0->fr, hfn);
		return MEM_NOMEM;
	}
	hostmem_discard(l0->hm, hfn); /* zeroed, whoever wrote it before */
	*pa = hfn << L0_PAGE_SHIFT;
	return MEM_OK;
}

static enum mem_status l0_free_table(void *ctx, uint64_t pa)
{
	struct mem_l0 *l0 = ctx;
	uint64_t hfn = pa >> L0_PAGE_SHIFT;

	if ((pa & ((UINT64_C(1) << L0_PAGE_SHIFT) - 1)) || !sbitmap_test(&l0->tables, hfn))
		return MEM_INVALID;
	if (sbitmap_clear(&l0->tables, hfn) < 0)
		return MEM_NOMEM;
	(void)frames_free(l0->fr, hfn); /* allocated by us: cannot be refused */
	return MEM_OK;
}

static const struct mem_port_ops l0_ops = {
	.read = l0_read,
	.write = l0_write,
	.cmpxchg = l0_cmpxchg,
	.alloc_table = l0_alloc_table,
	.free_table = l0_free_table,
};

static void l0_release(void *ctx, uint64_t hfn, uint64_t count)
{
	struct mem_l0 *l0 = ctx;

	for (uint64_t i = 0; i < count; i++)
		hostmem_discard(l0->hm, hfn + i);
}

struct mem_l0 *mem_l0_create(struct hostmem *hm, struct frames *fr)
{
	struct frames_stats st;
	struct mem_l0 *l0;

	if (!hm || !fr)
		return NULL;
	frames_get_stats(fr, &st);
	if (st.first_hfn + st.nframes > (hostmem_limit(hm) >> L0_PAGE_SHIFT))
		return NULL;
	l0 = calloc(1, sizeof(*l0));
	if (!l0)
		return NULL;
	l0->hm = hm;
	l0->fr = fr;
	sbitmap_init(&l0->tables);
	l0->port = (struct mem_port){ .ops = &l0_ops, .ctx = l0, .level = 0, .name = "l0-host" };
	frames_set_release_hook(fr, l0_release, l0);
	return l0;
}

void mem_l0_destroy(struct mem_l0 *l0)
{
	uint64_t hfn = 0;

	if (!l0)
		return;
	while ((hfn = sbitmap_next_set(&l0->tables, hfn, UINT64_MAX)) != UINT64_MAX) {
		if (l0_free_table(l0, hfn << L0_PAGE_SHIFT) != MEM_OK)
			break; /* out of host memory: leave the rest allocated */
	}
	frames_set_release_hook(l0->fr, NULL, NULL);
	sbitmap_fini(&l0->tables);
	free(l0);
}

struct mem_port *mem_l0_port(struct mem_l0 *l0)
{
	return &l0->port;
}

bool mem_l0_is_table(const struct mem_l0 *l0, uint64_t hfn)
{
	return sbitmap_test(&l0->tables, hfn);
}

size_t mem_l0_meta_bytes(const struct mem_l0 *l0)
{
	return sizeof(*l0) + sbitmap_bytes(&l0->tables);
}
