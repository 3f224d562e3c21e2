/*
 * palloc.c - lazy zones (bump pointer + LIFO free list) and page records.
 */
#include "guest/palloc.h"

#include <stdlib.h>
#include <string.h>

static void zone_init(struct pzone *z, uint64_t start, uint64_t end)
{
	memset(z, 0, sizeof(*z));
	z->start = z->next = start;
	z->end = end > start ? end : start;
}

void palloc_init(struct palloc *pa, uint64_t first_gfn, uint64_t low_end, uint64_t high_end)
{
	memset(pa, 0, sizeof(*pa));
	zone_init(&pa->low, first_gfn, low_end);
	zone_init(&pa->high, low_end, high_end);
	u64map_init(&pa->meta);
}

void palloc_fini(struct palloc *pa)
{
	free(pa->low.free);
	free(pa->high.free);
	u64map_fini(&pa->meta);
	memset(pa, 0, sizeof(*pa));
}

static bool zone_get(struct pzone *z, uint64_t *gfn)
{
	if (z->nfree) {
		*gfn = z->free[--z->nfree];
		return true;
	}
	if (z->next >= z->end)
		return false;
	*gfn = z->next++;
	return true;
}

bool palloc_get(struct palloc *pa, enum palloc_kind kind, uint64_t *gfn)
{
	bool ok = (kind == PA_DATA && zone_get(&pa->high, gfn)) || zone_get(&pa->low, gfn);

	if (ok)
		pa->in_use++;
	return ok;
}

static bool zone_has(const struct pzone *z, uint64_t gfn)
{
	return gfn >= z->start && gfn < z->end;
}

void palloc_put(struct palloc *pa, uint64_t gfn)
{
	struct pzone *z = zone_has(&pa->low, gfn) ? &pa->low : &pa->high;

	if (z->nfree == z->cap) {
		size_t cap = z->cap ? 2 * z->cap : 256;
		uint64_t *n = realloc(z->free, cap * sizeof(*n));

		if (!n)
			return; /* the page is lost to the guest: harmless, never reused */
		z->free = n;
		z->cap = cap;
	}
	z->free[z->nfree++] = gfn;
	pa->in_use--;
}

bool palloc_in_use(const struct palloc *pa, uint64_t gfn)
{
	const struct pzone *z = zone_has(&pa->low, gfn) ? &pa->low : zone_has(&pa->high, gfn) ? &pa->high : NULL;

	if (!z || gfn >= z->next)
		return false;
	for (size_t i = 0; i < z->nfree; i++)
		if (z->free[i] == gfn)
			return false;
	return true;
}

bool palloc_info(const struct palloc *pa, uint64_t gfn, unsigned *flags, uint32_t *refs)
{
	uint64_t v;

	if (!u64map_get(&pa->meta, gfn, &v)) {
		*flags = 0;
		*refs = 0;
		return false;
	}
	*flags = (unsigned)(v >> 32);
	*refs = (uint32_t)v;
	return true;
}

bool palloc_set(struct palloc *pa, uint64_t gfn, unsigned flags, uint32_t refs)
{
	if (!refs) {
		u64map_del(&pa->meta, gfn, NULL);
		return true;
	}
	return u64map_put(&pa->meta, gfn, ((uint64_t)flags << 32) | refs) == 0;
}
