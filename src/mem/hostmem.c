/*
 * hostmem.c - sparse host-physical memory: an open-addressing hash table
 * from page frame number to a 4 KiB page of contents. Only written pages
 * are stored; an unstored page reads as zeros.
 */
#include "mem/hostmem.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define HM_PAGE_SIZE 4096u
#define HM_EMPTY     UINT64_MAX

struct hm_slot {
	uint64_t pfn;      /* HM_EMPTY if free */
	uint64_t *words;   /* 512 words */
};

/*
 * A small direct-mapped cache of recently used pages in front of the hash
 * table: a two-dimensional walk touches about ten distinct table pages, so
 * repeated walks find them here without probing.
 */
#define HM_CACHE_SIZE 64u

struct hm_cache_ent {
	uint64_t pfn;      /* HM_EMPTY if invalid */
	uint64_t *words;
};

struct hostmem {
	uint64_t limit;
	struct hm_slot *slots;
	size_t nslots;     /* power of two */
	size_t used;
	struct hm_cache_ent cache[HM_CACHE_SIZE];
};

static size_t hm_hash(uint64_t pfn, size_t nslots)
{
	/* Fibonacci hashing: spreads consecutive frames. */
	return (size_t)((pfn * UINT64_C(0x9E3779B97F4A7C15)) >> 20) & (nslots - 1);
}

static struct hm_slot *hm_find(const struct hostmem *hm, uint64_t pfn)
{
	size_t i = hm_hash(pfn, hm->nslots);

	for (;;) {
		struct hm_slot *s = &hm->slots[i];
		if (s->pfn == pfn || s->pfn == HM_EMPTY)
			return s;
		i = (i + 1) & (hm->nslots - 1);
	}
}

static int hm_grow(struct hostmem *hm)
{
	size_t n = hm->nslots * 2;
	struct hm_slot *old = hm->slots;
	size_t oldn = hm->nslots;
	struct hm_slot *s = calloc(n, sizeof(*s));

	if (!s)
		return -1;
	for (size_t i = 0; i < n; i++)
		s[i].pfn = HM_EMPTY;
	hm->slots = s;
	hm->nslots = n;
	for (size_t i = 0; i < oldn; i++) {
		if (old[i].pfn != HM_EMPTY)
			*hm_find(hm, old[i].pfn) = old[i];
	}
	free(old);
	return 0;
}

struct hostmem *hostmem_create(uint64_t limit)
{
	struct hostmem *hm = calloc(1, sizeof(*hm));

	if (!hm)
		return NULL;
	hm->limit = limit;
	hm->nslots = 64;
	hm->slots = calloc(hm->nslots, sizeof(*hm->slots));
	if (!hm->slots) {
		free(hm);
		return NULL;
	}
	for (size_t i = 0; i < hm->nslots; i++)
		hm->slots[i].pfn = HM_EMPTY;
	for (size_t i = 0; i < HM_CACHE_SIZE; i++)
		hm->cache[i].pfn = HM_EMPTY;
	return hm;
}

void hostmem_destroy(struct hostmem *hm)
{
	if (!hm)
		return;
	for (size_t i = 0; i < hm->nslots; i++)
		free(hm->slots[i].words);
	free(hm->slots);
	free(hm);
}

uint64_t hostmem_limit(const struct hostmem *hm)
{
	return hm->limit;
}

size_t hostmem_stored_pages(const struct hostmem *hm)
{
	return hm->used;
}

static bool hm_valid(const struct hostmem *hm, uint64_t pa, unsigned size)
{
	return (size == 4 || size == 8) && (pa & (size - 1)) == 0 && pa < hm->limit &&
	       hm->limit - pa >= size;
}

static uint64_t *hm_word(struct hostmem *hm, uint64_t pa, bool create)
{
	uint64_t pfn = pa / HM_PAGE_SIZE;
	struct hm_cache_ent *c = &hm->cache[pfn % HM_CACHE_SIZE];

	if (c->pfn == pfn)
		return &c->words[(pa % HM_PAGE_SIZE) / 8];

	struct hm_slot *s = hm_find(hm, pfn);

	if (s->pfn == HM_EMPTY) {
		if (!create)
			return NULL;
		/* keep the load factor at or below 1/2 */
		if ((hm->used + 1) * 2 > hm->nslots) {
			if (hm_grow(hm))
				return NULL;
			s = hm_find(hm, pfn);
		}
		s->words = calloc(HM_PAGE_SIZE / 8, sizeof(uint64_t));
		if (!s->words)
			return NULL;
		s->pfn = pfn;
		hm->used++;
	}
	/*
	 * Page buffers never move (only slots do), and hostmem_discard drops
	 * the cache entry of a page it frees, so caching the pointer is safe.
	 */
	c->pfn = pfn;
	c->words = s->words;
	return &s->words[(pa % HM_PAGE_SIZE) / 8];
}

int hostmem_write64(struct hostmem *hm, uint64_t pa, uint64_t val)
{
	uint64_t *w;

	if (!hm_valid(hm, pa, 8))
		return -1;
	w = hm_word(hm, pa, true);
	if (!w)
		return -1;
	*w = val;
	return 0;
}

int hostmem_read64(const struct hostmem *hm, uint64_t pa, uint64_t *val)
{
	uint64_t *w;

	if (!hm_valid(hm, pa, 8))
		return -1;
	w = hm_word((struct hostmem *)hm, pa, false);
	*val = w ? *w : 0;
	return 0;
}

bool hostmem_page_stored(const struct hostmem *hm, uint64_t pfn)
{
	return pfn != HM_EMPTY && hm_find(hm, pfn)->pfn == pfn;
}

/*
 * Removal from the linear-probing table without tombstones (backward
 * shift): after emptying slot i, each following entry up to the next empty
 * slot moves back into the hole unless its home slot lies cyclically in
 * (i, j], so that every entry stays reachable from its home slot.
 */
bool hostmem_discard(struct hostmem *hm, uint64_t pfn)
{
	size_t mask = hm->nslots - 1;
	struct hm_cache_ent *c = &hm->cache[pfn % HM_CACHE_SIZE];
	size_t i, j;
	struct hm_slot *s;

	if (pfn == HM_EMPTY)
		return false;
	s = hm_find(hm, pfn);
	if (s->pfn != pfn)
		return false;
	if (c->pfn == pfn)
		c->pfn = HM_EMPTY; /* the buffer is about to be freed */
	free(s->words);
	s->words = NULL;
	s->pfn = HM_EMPTY;
	hm->used--;
	i = (size_t)(s - hm->slots);
	for (j = (i + 1) & mask; hm->slots[j].pfn != HM_EMPTY; j = (j + 1) & mask) {
		size_t h = hm_hash(hm->slots[j].pfn, hm->nslots);
		bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);

		if (stays)
			continue;
		hm->slots[i] = hm->slots[j];
		hm->slots[j].pfn = HM_EMPTY;
		hm->slots[j].words = NULL;
		i = j;
	}
	return true;
}

size_t hostmem_meta_bytes(const struct hostmem *hm)
{
	return sizeof(*hm) + hm->nslots * sizeof(struct hm_slot) + hm->used * HM_PAGE_SIZE;
}

/* Little-endian: a 4-byte value at pa lives in the word at pa & ~7. */
static unsigned hm_shift(uint64_t pa, unsigned size)
{
	return size == 4 ? (unsigned)(pa & 4) * 8 : 0;
}

static uint64_t hm_mask(unsigned size)
{
	return size == 4 ? UINT64_C(0xffffffff) : ~UINT64_C(0);
}

static enum pmem_status hm_port_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
	struct hostmem *hm = ctx;
	uint64_t w = 0;

	if (!hm_valid(hm, pa, size))
		return PMEM_OUTSIDE;
	hostmem_read64(hm, pa & ~UINT64_C(7), &w);
	*val = (w >> hm_shift(pa, size)) & hm_mask(size);
	return PMEM_OK;
}

static enum pmem_status hm_port_cmpxchg(void *ctx, uint64_t pa, unsigned size,
					uint64_t expected, uint64_t desired)
{
	struct hostmem *hm = ctx;
	unsigned sh = hm_shift(pa, size);
	uint64_t mask = hm_mask(size);
	uint64_t *w;

	if (!hm_valid(hm, pa, size))
		return PMEM_OUTSIDE;
	w = hm_word(hm, pa & ~UINT64_C(7), true);
	if (!w)
		return PMEM_OUTSIDE;
	if (((*w >> sh) & mask) != (expected & mask))
		return PMEM_CHANGED;
	*w = (*w & ~(mask << sh)) | ((desired & mask) << sh);
	return PMEM_OK;
}

static const struct pmem_ops hostmem_ops = {
	.read = hm_port_read,
	.cmpxchg = hm_port_cmpxchg,
};

struct pmem hostmem_port(struct hostmem *hm)
{
	return (struct pmem){ .ops = &hostmem_ops, .ctx = hm };
}
