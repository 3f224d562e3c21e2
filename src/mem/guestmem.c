/*
 * guestmem.c - gpa -> (slot) -> frame of the port's space -> port access.
 * The port address of gpa is (hfn << 12) | (gpa & 0xfff): backing frames
 * are 4 KiB frames of the port's space whatever the backing order.
 */
#include "mem/guestmem.h"

#include <stdbool.h>

#define GM_PAGE_SHIFT 12
#define GM_PAGE_MASK  ((UINT64_C(1) << GM_PAGE_SHIFT) - 1)

static enum mem_status from_memslot(int r)
{
	switch (r) {
	case MEMSLOT_OK: return MEM_OK;
	case MEMSLOT_MMIO: return MEM_MMIO;
	case MEMSLOT_OUTSIDE: return MEM_OUTSIDE;
	case MEMSLOT_ENOMEM:
	case MEMSLOT_EHOST: return MEM_NOMEM;
	default: return MEM_INVALID;
	}
}

static bool bad_access(uint64_t gpa, unsigned size)
{
	return (size != 4 && size != 8) || (gpa & (size - 1));
}

enum mem_status guestmem_read(struct guestmem *gm, uint64_t gpa, unsigned size, uint64_t *val)
{
	uint64_t hfn;
	int r;

	if (bad_access(gpa, size))
		return MEM_INVALID;
	r = memslots_gfn_peek(gm->slots, gpa >> GM_PAGE_SHIFT, &hfn, NULL);
	if (r == MEMSLOT_UNBACKED) {
		*val = 0;
		return MEM_OK;
	}
	if (r != MEMSLOT_OK)
		return from_memslot(r);
	return mem_port_read(gm->port, (hfn << GM_PAGE_SHIFT) | (gpa & GM_PAGE_MASK), size, val);
}

/*
 * Prepares a store to gpa: the page must be writable RAM; allocates its
 * backing and marks it dirty. *pa receives the port address.
 */
static enum mem_status prepare_store(struct guestmem *gm, uint64_t gpa, uint64_t *pa)
{
	uint64_t gfn = gpa >> GM_PAGE_SHIFT, hfn;
	struct gfn_info info;
	int r;

	r = memslots_gfn_peek(gm->slots, gfn, &hfn, &info);
	if (r != MEMSLOT_OK && r != MEMSLOT_UNBACKED)
		return from_memslot(r);
	if (info.slot.flags & MEMSLOT_F_READONLY)
		return MEM_READONLY;
	if (r == MEMSLOT_UNBACKED) {
		r = memslots_gfn_to_hfn(gm->slots, gfn, &hfn, NULL);
		if (r != MEMSLOT_OK)
			return from_memslot(r);
	}
	if (memslots_mark_dirty(gm->slots, gfn) != MEMSLOT_OK)
		return MEM_NOMEM;
	*pa = (hfn << GM_PAGE_SHIFT) | (gpa & GM_PAGE_MASK);
	return MEM_OK;
}

enum mem_status guestmem_write(struct guestmem *gm, uint64_t gpa, unsigned size, uint64_t val)
{
	enum mem_status s;
	uint64_t pa;

	if (bad_access(gpa, size))
		return MEM_INVALID;
	s = prepare_store(gm, gpa, &pa);
	if (s != MEM_OK)
		return s;
	return mem_port_write(gm->port, pa, size, val);
}

enum mem_status guestmem_cmpxchg(struct guestmem *gm, uint64_t gpa, unsigned size, uint64_t expected,
				 uint64_t desired, uint64_t *seen)
{
	uint64_t mask = size == 4 ? UINT64_C(0xffffffff) : ~UINT64_C(0);
	enum mem_status s;
	uint64_t pa, hfn;
	int r;

	if (bad_access(gpa, size))
		return MEM_INVALID;
	r = memslots_gfn_peek(gm->slots, gpa >> GM_PAGE_SHIFT, &hfn, NULL);
	if (r == MEMSLOT_UNBACKED && (expected & mask) != 0) {
		if (seen)
			*seen = 0;
		return MEM_CHANGED; /* an untouched page holds zeros */
	}
	s = prepare_store(gm, gpa, &pa);
	if (s != MEM_OK)
		return s;
	return mem_port_cmpxchg(gm->port, pa, size, expected, desired, seen);
}

static enum pmem_status gm_pmem_read(void *ctx, uint64_t gpa, unsigned size, uint64_t *val)
{
	enum mem_status s = MEM_RETRY;

	for (unsigned i = 0; i <= MEM_PORT_PMEM_RETRIES && s == MEM_RETRY; i++)
		s = guestmem_read(ctx, gpa, size, val);
	return mem_status_to_pmem(s);
}

static enum pmem_status gm_pmem_cmpxchg(void *ctx, uint64_t gpa, unsigned size, uint64_t expected,
					uint64_t desired)
{
	enum mem_status s = MEM_RETRY;

	for (unsigned i = 0; i <= MEM_PORT_PMEM_RETRIES && s == MEM_RETRY; i++)
		s = guestmem_cmpxchg(ctx, gpa, size, expected, desired, NULL);
	return mem_status_to_pmem(s);
}

static const struct pmem_ops gm_pmem_ops = {
	.read = gm_pmem_read,
	.cmpxchg = gm_pmem_cmpxchg,
};

struct pmem guestmem_pmem(struct guestmem *gm)
{
	return (struct pmem){ .ops = &gm_pmem_ops, .ctx = gm };
}
