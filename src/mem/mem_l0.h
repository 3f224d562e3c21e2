/*
 * mem_l0.h - the memory port of a hypervisor running on the hardware (L0):
 * its space is host-physical memory. Words live in hostmem (stored only for
 * pages written with a non-zero value); page-table pages are frames from the
 * frame allocator.
 *
 * Guarantees:
 *  - read/write/cmpxchg: MEM_INVALID unless size is 4 or 8 and pa is a
 *    multiple of size; MEM_OUTSIDE at or above hostmem's limit; never
 *    MEM_RETRY. A failed cmpxchg stores nothing; writing zero to a page
 *    with no stored contents stores nothing (it already reads as zero).
 *  - alloc_table: the lowest free frame (frames.h rule), zeroed; MEM_NOMEM
 *    when the allocator has none. free_table: MEM_INVALID unless pa is the
 *    page-aligned address of a live table page from this port.
 *  - Any frame returned to the allocator (a table page, or a slot's data
 *    frame) loses its stored contents: mem_l0_create installs the frame
 *    allocator's release hook for that (replacing any previous hook).
 */
#ifndef NESTMMU_MEM_MEM_L0_H
#define NESTMMU_MEM_MEM_L0_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/frames.h"
#include "mem/hostmem.h"
#include "mem/mem_port.h"

struct mem_l0;

/*
 * hm and fr must outlive the port; fr's frames must lie below hostmem's
 * limit (else NULL).
 */
struct mem_l0 *mem_l0_create(struct hostmem *hm, struct frames *fr);
/* Frees the table pages still live, removes the release hook. */
void mem_l0_destroy(struct mem_l0 *l0);

/* The port (level 0, name "l0-host"); valid until mem_l0_destroy. */
struct mem_port *mem_l0_port(struct mem_l0 *l0);

/* Whether hfn is a live table page of this port. */
bool mem_l0_is_table(const struct mem_l0 *l0, uint64_t hfn);
/* Host bytes of the port's own bookkeeping (not hostmem's, not the allocator's). */
size_t mem_l0_meta_bytes(const struct mem_l0 *l0);

#endif
