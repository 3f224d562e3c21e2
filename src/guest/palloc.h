/*
 * palloc.h - the guest OS's physical page allocator and page records.
 *
 * Guest RAM is handed out lazily: each zone is a bump pointer over its gfn
 * range plus a LIFO list of freed pages, so a 1 TiB guest costs only what
 * it has used, and the same calls always give the same pages. Zones:
 *   low   [first, low_end): direct-mapped ("lowmem"); page tables and data;
 *   high  [low_end, high_end): data only (32-bit/PAE RAM beyond lowmem).
 * Data pages come from high first, then low; tables from low only.
 *
 * Page records: for every page mapped into user space (anonymous or in the
 * page cache) a flags + reference count: one reference per PTE mapping it,
 * plus one held by the page cache for cached pages.
 */
#ifndef NESTMMU_GUEST_PALLOC_H
#define NESTMMU_GUEST_PALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/u64map.h"

struct pzone {
	uint64_t start, end, next;
	uint64_t *free;
	size_t nfree, cap;
};

struct palloc {
	struct pzone low, high;
	struct u64map meta;   /* gfn -> (flags << 32) | refcount */
	uint64_t in_use;      /* pages handed out and not returned */
};

enum palloc_kind { PA_TABLE, PA_DATA };

/* Page flags */
#define PG_ANON  1u   /* anonymous (private) page */
#define PG_CACHE 2u   /* page-cache page */

void palloc_init(struct palloc *pa, uint64_t first_gfn, uint64_t low_end, uint64_t high_end);
void palloc_fini(struct palloc *pa);
/* False when the zones are exhausted (or the host is out of memory). */
bool palloc_get(struct palloc *pa, enum palloc_kind kind, uint64_t *gfn);
void palloc_put(struct palloc *pa, uint64_t gfn);
/* Whether gfn is handed out now (for checkers). */
bool palloc_in_use(const struct palloc *pa, uint64_t gfn);

/* Page records. */
bool palloc_info(const struct palloc *pa, uint64_t gfn, unsigned *flags, uint32_t *refs);
/* Sets the record (refs 0 deletes it). False if the host is out of memory. */
bool palloc_set(struct palloc *pa, uint64_t gfn, unsigned flags, uint32_t refs);

#endif
