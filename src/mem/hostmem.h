/*
 * hostmem.h - host-physical memory that stores contents only for pages that
 * have been written (page tables, EPT/NPT tables). An unwritten page reads
 * as zeros. Addresses at or above the size limit are outside memory.
 */
#ifndef NESTMMU_MEM_HOSTMEM_H
#define NESTMMU_MEM_HOSTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/pmem.h"

struct hostmem;

/* `limit`: one past the highest valid host-physical address. */
struct hostmem *hostmem_create(uint64_t limit);
void hostmem_destroy(struct hostmem *hm);

uint64_t hostmem_limit(const struct hostmem *hm);
/* Number of pages whose contents are stored. */
size_t hostmem_stored_pages(const struct hostmem *hm);

/* 0 on success, -1 if outside memory or misaligned. */
int hostmem_write64(struct hostmem *hm, uint64_t pa, uint64_t val);
int hostmem_read64(const struct hostmem *hm, uint64_t pa, uint64_t *val);

/*
 * Additions for the mem layer (existing functions behave as before):
 *  - hostmem_page_stored: whether frame `pfn` has stored contents;
 *  - hostmem_discard: drops the stored contents of frame `pfn` (it reads as
 *    zeros again); returns true if something was stored. Used when a frame
 *    returns to the frame allocator;
 *  - hostmem_meta_bytes: host memory held: stored pages and the index.
 */
bool hostmem_page_stored(const struct hostmem *hm, uint64_t pfn);
bool hostmem_discard(struct hostmem *hm, uint64_t pfn);
size_t hostmem_meta_bytes(const struct hostmem *hm);

/* The hardware layer's port onto this memory. */
struct pmem hostmem_port(struct hostmem *hm);

#endif
