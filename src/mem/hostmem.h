/*
 * hostmem.h - host-physical memory that stores contents only for pages that
 * have been written (page tables, EPT/NPT tables). An unwritten page reads
 * as zeros. Addresses at or above the size limit are outside memory.
 */
#ifndef NESTMMU_MEM_HOSTMEM_H
#define NESTMMU_MEM_HOSTMEM_H

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

/* The hardware layer's port onto this memory. */
struct pmem hostmem_port(struct hostmem *hm);

#endif
