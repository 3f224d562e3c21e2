/*
 * pagecache.c - files and the shared page cache. A file page is read in
 * (a data page allocated; its contents are not simulated) on its first
 * use and stays cached: the cache holds one reference, every PTE mapping
 * it one more.
 */
#include "guest/gos_internal.h"

#include <stdlib.h>

#define FILE_SHIFT 40

int gos_file_create(struct gos *g, uint64_t npages)
{
	if (!npages || npages >= (UINT64_C(1) << FILE_SHIFT))
		return GOS_EINVAL;
	if (g->nfiles == g->capfiles) {
		unsigned cap = g->capfiles ? 2 * g->capfiles : 16;
		uint64_t *n = realloc(g->file_pages, cap * sizeof(*n));

		if (!n)
			return GOS_ENOMEM;
		g->file_pages = n;
		g->capfiles = cap;
	}
	g->file_pages[g->nfiles] = npages;
	return (int)g->nfiles++;
}

enum gos_status gos_cache_get(struct gos *g, int file, uint64_t index, uint64_t *gfn)
{
	uint64_t key;

	if (file < 0 || (unsigned)file >= g->nfiles || index >= g->file_pages[file])
		return GOS_EINVAL;
	key = ((uint64_t)file << FILE_SHIFT) | index;
	if (u64map_get(&g->cache, key, gfn))
		return GOS_OK;
	if (!palloc_get(&g->pa, PA_DATA, gfn))
		return GOS_ENOMEM;
	if (!palloc_set(&g->pa, *gfn, PG_CACHE, 1) || u64map_put(&g->cache, key, *gfn)) {
		palloc_set(&g->pa, *gfn, PG_CACHE, 0);
		palloc_put(&g->pa, *gfn);
		return GOS_ENOMEM;
	}
	g->st.cache_pages++;
	return GOS_OK;
}

void gos_cache_fini(struct gos *g)
{
	u64map_fini(&g->cache);
}
