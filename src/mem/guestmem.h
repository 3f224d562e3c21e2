/*
 * guestmem.h - a guest's physical memory as its hypervisor reaches it: a
 * gpa (of the guest being managed) goes through the memory slots to a
 * frame of the hypervisor's own space, then through the hypervisor's
 * memory port. Used to read and update the guest's own page tables
 * (shadow paging's software walk, emulation, the guest OS model's checks).
 *
 * Guarantees:
 *  - MEM_INVALID unless size is 4 or 8 and gpa a multiple of size;
 *    MEM_OUTSIDE for a gpa in no slot; MEM_MMIO in an MMIO hole (nothing
 *    read or written).
 *  - Reading a page never touched reads zeros and allocates nothing (an
 *    anonymous mapping's zero page); so does a cmpxchg whose expected value
 *    is not zero there (MEM_CHANGED, *seen = 0).
 *  - A write or a successful cmpxchg allocates the backing on first touch
 *    (MEM_NOMEM if there is none), refuses read-only slots (MEM_READONLY,
 *    nothing written) and marks the page dirty in a logging slot.
 *  - Port answers (MEM_RETRY included) are passed on unchanged.
 */
#ifndef NESTMMU_MEM_GUESTMEM_H
#define NESTMMU_MEM_GUESTMEM_H

#include <stdint.h>

#include "arch/pmem.h"
#include "mem/mem_port.h"
#include "mem/memslot.h"

struct guestmem {
	struct memslots *slots; /* gfn -> frame of the port's space */
	struct mem_port *port;  /* the hypervisor's port */
};

enum mem_status guestmem_read(struct guestmem *gm, uint64_t gpa, unsigned size, uint64_t *val);
enum mem_status guestmem_write(struct guestmem *gm, uint64_t gpa, unsigned size, uint64_t val);
enum mem_status guestmem_cmpxchg(struct guestmem *gm, uint64_t gpa, unsigned size, uint64_t expected,
				 uint64_t desired, uint64_t *seen);

/*
 * The guest-physical space as a struct pmem, for the generic walker over
 * the guest's own tables (addresses are gpas). MEM_RETRY is repeated as in
 * mem_port_pmem(); MMIO, outside, read-only and every error are
 * PMEM_OUTSIDE. gm must outlive the returned value.
 */
struct pmem guestmem_pmem(struct guestmem *gm);

#endif
