/*
 * mem_port.h - the memory port of the hypervisor engine.
 *
 * A hypervisor MMU reaches the memory it manages ONLY through its port:
 * naturally aligned 4/8-byte reads, writes and compare-exchanges at
 * physical addresses of its OWN address space, and allocation / release
 * of 4 KiB page-table pages (EPT/NPT tables, shadow tables, rmap pages...)
 * whose addresses are in that same space.
 *
 *   level 0 (L0): the space is host-physical memory: `pa` is an hpa
 *                 (mem_l0.h implements this over hostmem + frames);
 *   level 1 (L1): the space is L1's guest-physical memory: `pa` is an L1
 *                 gpa, and every access goes through L0's virtualization
 *                 of L1 (a later issue). An access may then trap to L0;
 *                 L0 either completes it (MEM_OK / MEM_CHANGED) or asks
 *                 for it to be repeated (MEM_RETRY: nothing was done).
 *
 * Nothing in the engine may assume which level it runs at, so callers
 * must handle every status below. Page-table pages handed out by
 * alloc_table read as zeros; `pa` values are in the port's space.
 *
 * The wrappers (mem_port_read, ...) count every call in port->stats, so
 * the cost model sees the same counters at every level.
 */
#ifndef NESTMMU_MEM_MEM_PORT_H
#define NESTMMU_MEM_MEM_PORT_H

#include <stdint.h>

#include "arch/pmem.h"

enum mem_status {
	MEM_OK = 0,
	MEM_CHANGED = 1,   /* cmpxchg: the word held another value (returned in *seen) */
	MEM_RETRY = 2,     /* trapped to the level below, which did not complete it: repeat */
	MEM_MMIO = 3,      /* guestmem.h only: the gpa lies in an MMIO hole */
	MEM_READONLY = 4,  /* guestmem.h only: write to a read-only slot */
	MEM_OUTSIDE = -1,  /* the address is not in the space */
	MEM_NOMEM = -2,    /* alloc_table: no frame left (or the simulator is out of memory) */
	MEM_INVALID = -3,  /* size not 4/8, misaligned, or freeing a page that is not a table page */
};

const char *mem_status_name(enum mem_status s);

struct mem_port_ops {
	/* Reads `size` (4 or 8) bytes at pa (naturally aligned) into *val, zero-extended. */
	enum mem_status (*read)(void *ctx, uint64_t pa, unsigned size, uint64_t *val);
	enum mem_status (*write)(void *ctx, uint64_t pa, unsigned size, uint64_t val);
	/*
	 * If the `size` bytes at pa equal `expected`, stores `desired`
	 * (MEM_OK); else MEM_CHANGED. In both cases *seen (if not NULL)
	 * receives the value found.
	 */
	enum mem_status (*cmpxchg)(void *ctx, uint64_t pa, unsigned size, uint64_t expected,
				   uint64_t desired, uint64_t *seen);
	/* A zeroed 4 KiB page-table page: *pa receives its (page-aligned) address. */
	enum mem_status (*alloc_table)(void *ctx, uint64_t *pa);
	/* Returns a page obtained from alloc_table. */
	enum mem_status (*free_table)(void *ctx, uint64_t pa);
};

struct mem_port_stats {
	uint64_t reads, writes, cmpxchgs;
	uint64_t cmpxchg_changed;     /* cmpxchgs that found another value */
	uint64_t retries;             /* calls answered MEM_RETRY */
	uint64_t errors;              /* calls answered MEM_OUTSIDE / MEM_INVALID / MEM_NOMEM */
	uint64_t tables_allocated, tables_freed;
	uint64_t tables_live, tables_peak;
};

struct mem_port {
	const struct mem_port_ops *ops;
	void *ctx;
	unsigned level;   /* 0: pa is an hpa; 1: pa is an L1 gpa; ... */
	const char *name; /* for reports */
	struct mem_port_stats stats;
};

static inline void mem_port_count_status(struct mem_port *p, enum mem_status s)
{
	if (s == MEM_RETRY)
		p->stats.retries++;
	else if (s < 0)
		p->stats.errors++;
}

static inline enum mem_status mem_port_read(struct mem_port *p, uint64_t pa, unsigned size, uint64_t *val)
{
	enum mem_status s = p->ops->read(p->ctx, pa, size, val);

	p->stats.reads++;
	mem_port_count_status(p, s);
	return s;
}

static inline enum mem_status mem_port_write(struct mem_port *p, uint64_t pa, unsigned size, uint64_t val)
{
	enum mem_status s = p->ops->write(p->ctx, pa, size, val);

	p->stats.writes++;
	mem_port_count_status(p, s);
	return s;
}

static inline enum mem_status mem_port_cmpxchg(struct mem_port *p, uint64_t pa, unsigned size,
					       uint64_t expected, uint64_t desired, uint64_t *seen)
{
	enum mem_status s = p->ops->cmpxchg(p->ctx, pa, size, expected, desired, seen);

	p->stats.cmpxchgs++;
	if (s == MEM_CHANGED)
		p->stats.cmpxchg_changed++;
	mem_port_count_status(p, s);
	return s;
}

static inline enum mem_status mem_port_alloc_table(struct mem_port *p, uint64_t *pa)
{
	enum mem_status s = p->ops->alloc_table(p->ctx, pa);

	mem_port_count_status(p, s);
	if (s == MEM_OK) {
		p->stats.tables_allocated++;
		if (++p->stats.tables_live > p->stats.tables_peak)
			p->stats.tables_peak = p->stats.tables_live;
	}
	return s;
}

static inline enum mem_status mem_port_free_table(struct mem_port *p, uint64_t pa)
{
	enum mem_status s = p->ops->free_table(p->ctx, pa);

	mem_port_count_status(p, s);
	if (s == MEM_OK) {
		p->stats.tables_freed++;
		p->stats.tables_live--;
	}
	return s;
}

/* How many times the pmem adapters repeat an access answered MEM_RETRY. */
#define MEM_PORT_PMEM_RETRIES 64

/*
 * The hardware layer's view (arch/pmem.h) of the port's space, for the
 * walker: reads and compare-exchanges go through the port (and are
 * counted). pmem has no "retry": an access answered MEM_RETRY is repeated
 * up to MEM_PORT_PMEM_RETRIES times, then reported PMEM_OUTSIDE (the walk
 * aborts); every other failure is PMEM_OUTSIDE too. The port must outlive
 * the returned value.
 */
struct pmem mem_port_pmem(struct mem_port *p);

/* Shared by the pmem adapters: mem_status -> pmem_status (MEM_RETRY excluded). */
enum pmem_status mem_status_to_pmem(enum mem_status s);

#endif
