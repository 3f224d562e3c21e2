/*
 * leaf_check.h - what every isolation checker of a hypervisor's tables asks
 * of the memory behind one leaf (tdp_check, ntdp_check, kpop_check).
 */
#ifndef NESTMMU_MMU_LEAF_CHECK_H
#define NESTMMU_MMU_LEAF_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/memslot.h"

/*
 * A leaf mapping the 2^(9(level-1)) pages from gfn (in `slots`' space) to
 * the frames hfn, hfn+1, ...: they lie in RAM (no MMIO hole) backed by
 * exactly those frames (the first and the last page peeked, a large leaf
 * one backing run: memslot_run_fits); when `writable`, the slot is not
 * read-only and, if `dirty_logged` (the MMU logs by write protection), a
 * 4 KiB page of a logging slot is marked dirty. 0, or -1 with what is wrong
 * in why (addresses of the slots' space).
 */
int leaf_check_backing(const struct memslots *slots, uint64_t gfn, unsigned level, uint64_t hfn, bool writable,
		       bool dirty_logged, char *why, size_t len);

#endif
