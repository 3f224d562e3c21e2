/*
 * pmem.h - the port through which the hardware layer reads and updates
 * physical memory (paging structures, EPT/NPT tables).
 *
 * The walker never touches memory directly: whoever owns the memory (host
 * memory at L0, or a guest's memory seen through its hypervisor) supplies
 * the port. Accesses are naturally aligned, 4 or 8 bytes.
 */
#ifndef NESTMMU_ARCH_PMEM_H
#define NESTMMU_ARCH_PMEM_H

#include <stdint.h>

enum pmem_status {
	PMEM_OK = 0,
	PMEM_CHANGED = 1,  /* cmpxchg: memory did not hold the expected value */
	PMEM_OUTSIDE = -1, /* address outside memory: the access aborts */
};

struct pmem_ops {
	/* Reads `size` (4 or 8) bytes at `pa` into *val (zero-extended). */
	enum pmem_status (*read)(void *ctx, uint64_t pa, unsigned size, uint64_t *val);
	/*
	 * Atomically: if the `size` bytes at `pa` equal `expected`, store
	 * `desired` and return PMEM_OK; else return PMEM_CHANGED.
	 */
	enum pmem_status (*cmpxchg)(void *ctx, uint64_t pa, unsigned size,
				    uint64_t expected, uint64_t desired);
};

struct pmem {
	const struct pmem_ops *ops;
	void *ctx;
};

static inline enum pmem_status pmem_read(const struct pmem *m, uint64_t pa, unsigned size, uint64_t *val)
{
	return m->ops->read(m->ctx, pa, size, val);
}

static inline enum pmem_status pmem_cmpxchg(const struct pmem *m, uint64_t pa, unsigned size,
					    uint64_t expected, uint64_t desired)
{
	return m->ops->cmpxchg(m->ctx, pa, size, expected, desired);
}

#endif
