/*
 * leaf_check.c - the memory behind one leaf (leaf_check.h).
 */
#include "mmu/leaf_check.h"

#include <stdio.h>

int leaf_check_backing(const struct memslots *slots, uint64_t gfn, unsigned level, uint64_t hfn, bool writable,
		       bool dirty_logged, char *why, size_t len)
{
	uint64_t pages = UINT64_C(1) << (9 * (level - 1)), got = 0, bits = 0;
	struct gfn_info info;
	int st;

	for (int end = 0; end < 2; end++) {
		uint64_t i = end ? pages - 1 : 0;

		st = memslots_gfn_peek(slots, gfn + i, &got, &info);
		if (st != MEMSLOT_OK || (info.slot.flags & MEMSLOT_F_MMIO)) {
			snprintf(why, len, "%#llx is mapped but is not backed RAM (%d)",
				 (unsigned long long)((gfn + i) << 12), st);
			return -1;
		}
		if (got != hfn + i) {
			snprintf(why, len, "%#llx is mapped to frame %#llx, its backing is frame %#llx",
				 (unsigned long long)((gfn + i) << 12), (unsigned long long)(hfn + i),
				 (unsigned long long)got);
			return -1;
		}
	}
	if (level > 1 && !memslot_run_fits(&info.slot, gfn, 9 * (level - 1))) {
		snprintf(why, len, "the level-%u leaf over %#llx is not one backing run", level,
			 (unsigned long long)(gfn << 12));
		return -1;
	}
	if (!writable)
		return 0;
	if (info.slot.flags & MEMSLOT_F_READONLY) {
		snprintf(why, len, "%#llx is writable in a read-only slot", (unsigned long long)(gfn << 12));
		return -1;
	}
	if (dirty_logged && (info.slot.flags & MEMSLOT_F_LOG_DIRTY) && pages == 1 &&
	    (memslots_dirty_get(slots, info.slot.id, gfn - info.slot.base_gfn, 1, &bits) != MEMSLOT_OK ||
	     !(bits & 1))) {
		snprintf(why, len, "%#llx is writable but clean in a logging slot", (unsigned long long)(gfn << 12));
		return -1;
	}
	return 0;
}
