/*
 * kpop_fuzz.c - kpop_fuzz_apply: an arbitrary byte string as a sequence of
 * operations on a KPOP component, as a hostile L1 (and L0's own activity)
 * could issue them, with the isolation checker after each. Values are
 * drawn from the bytes either near what exists (loaded handles, L1 slots,
 * small L2 gfns) or raw (any 64-bit value), so both deep and absurd
 * requests occur.
 */
#include <string.h>

#include "mem/guestmem.h"
#include "mmu/kpop_internal.h"

struct cursor {
	const uint8_t *p;
	size_t n;
};

static uint8_t get8(struct cursor *c)
{
	if (!c->n)
		return 0;
	c->n--;
	return *c->p++;
}

static uint64_t get64(struct cursor *c)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)get8(c) << (8 * i);
	return v;
}

#define FZ_HANDLES 8

struct fz {
	struct kpop *kp;
	struct cursor c;
	uint64_t scratch;
	unsigned scratch_pages;
	uint64_t handles[FZ_HANDLES];
};

static uint64_t pick_handle(struct fz *z)
{
	uint8_t b = get8(&z->c);

	if (b < 0xf0)
		return z->handles[b % FZ_HANDLES];
	return b == 0xff ? KPOP_HANDLE_ALL : get64(&z->c) & 0xffffffff;
}

static uint64_t pick_l1_gfn(struct fz *z)
{
	struct memslots *ms = z->kp->cfg.l1_slots;
	uint8_t b = get8(&z->c);
	struct memslot_desc d;
	size_t n = memslots_count(ms);

	if (b >= 0xf0 || n == 0)
		return get64(&z->c);
	if (memslots_at(ms, b % n, &d) != MEMSLOT_OK)
		return 0;
	return d.base_gfn + get8(&z->c) % (d.npages + 2); /* sometimes just past the end */
}

static uint64_t pick_l2_gfn(struct fz *z)
{
	uint8_t b = get8(&z->c);

	if (b >= 0xf0)
		return get64(&z->c);
	if (b >= 0xe0)
		return z->kp->l2_gfn_limit - 1 - (get8(&z->c) & 7);
	return ((uint64_t)(b & 0x3f) << 9) + get8(&z->c);
}

static uint64_t pick_npages(struct fz *z)
{
	uint8_t b = get8(&z->c);

	if (b >= 0xf8)
		return get64(&z->c);
	if (b >= 0xf0)
		return (uint64_t)1 << (get8(&z->c) % 64);
	return b % 24;
}

/* Writes words into the scratch area of L1; returns the block's gpa (sometimes a bad one). */
static uint64_t put_block(struct fz *z, const uint64_t *w, size_t n)
{
	struct guestmem gm = { .slots = z->kp->cfg.l1_slots, .port = z->kp->cfg.port };
	uint8_t b = get8(&z->c);

	if (n * 8 > (size_t)z->scratch_pages * 4096)
		n = (size_t)z->scratch_pages * 4096 / 8;
	for (size_t i = 0; i < n; i++)
		(void)guestmem_write(&gm, z->scratch + 8 * i, 8, w[i]);
	if (b >= 0xf8)
		return get64(&z->c);
	if (b >= 0xf0)
		return z->scratch + (b & 7);
	return z->scratch;
}

static uint64_t pick_count(struct fz *z, unsigned cap)
{
	uint8_t b = get8(&z->c);

	if (b >= 0xfc)
		return get64(&z->c);
	return b % (cap + 1);
}

static void op_map(struct fz *z, bool unmap)
{
	uint64_t w[16 * 4];
	uint64_t count = pick_count(z, 16), n = count < 16 ? count : 16;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t *d = &w[i * (unmap ? 3 : 4)];
		uint64_t h = pick_handle(z);
		uint8_t perms = get8(&z->c);

		if (unmap) {
			d[0] = h | ((perms >= 0xf0 ? (uint64_t)perms : 0) << 32);
			d[1] = pick_l2_gfn(z);
			d[2] = pick_npages(z);
		} else {
			d[0] = h | ((uint64_t)(perms >= 0xf0 ? perms : (perms & 7) | 1) << 32);
			d[1] = pick_l2_gfn(z);
			d[2] = pick_l1_gfn(z);
			d[3] = pick_npages(z);
		}
	}
	(void)kpop_hypercall(z->kp, unmap ? KPOP_HC_UNMAP : KPOP_HC_MAP, put_block(z, w, n * (unmap ? 3 : 4)), count);
}

static void op_slot_flags(struct fz *z)
{
	struct memslots *ms = z->kp->cfg.l1_slots;
	struct memslot_desc d;
	size_t n = memslots_count(ms);
	uint8_t b = get8(&z->c);

	if (!n || memslots_at(ms, b % n, &d) != MEMSLOT_OK || (d.flags & MEMSLOT_F_MMIO))
		return;
	if (z->scratch >> 12 >= d.base_gfn && (z->scratch >> 12) - d.base_gfn < d.npages)
		return; /* the argument blocks stay writable */
	switch (get8(&z->c) % 3) {
	case 0:
		(void)memslots_set_flags(ms, d.id, d.flags ^ MEMSLOT_F_READONLY);
		break;
	case 1:
		(void)memslots_set_flags(ms, d.id, d.flags ^ MEMSLOT_F_LOG_DIRTY);
		break;
	default:
		(void)memslots_dirty_clear(ms, d.id, 0, d.npages);
		break;
	}
}

int kpop_fuzz_apply(struct kpop *kp, uint64_t scratch_gpa, unsigned scratch_pages, const uint8_t *data,
		    size_t size, char *msg, size_t len)
{
	struct fz z = { .kp = kp, .c = { data, size }, .scratch = scratch_gpa & ~UINT64_C(0xfff),
			.scratch_pages = scratch_pages ? scratch_pages : 1 };
	int64_t r;

	while (z.c.n) {
		uint8_t op = get8(&z.c);
		uint64_t a, b;

		switch (op % 12) {
		case 0: /* load */
		case 1:
			a = get8(&z.c);
			b = get8(&z.c);
			r = kpop_hypercall(kp, KPOP_HC_MMU_LOAD, a >= 0xf8 ? get64(&z.c) : a & 3, b >= 0xf0 ? b : b & 1);
			if (r > 0)
				z.handles[op % FZ_HANDLES] = (uint64_t)r;
			break;
		case 2: /* unload */
			a = get8(&z.c);
			b = get8(&z.c);
			(void)kpop_hypercall(kp, KPOP_HC_MMU_UNLOAD, a >= 0xf8 ? get64(&z.c) : a & 3, b >= 0xf0 ? b : b & 1);
			break;
		case 3:
		case 4:
			op_map(&z, false);
			break;
		case 5:
			op_map(&z, true);
			break;
		case 6:
			a = pick_l2_gfn(&z);
			(void)kpop_hypercall(kp, KPOP_HC_ZAP_RANGE, a, pick_npages(&z));
			break;
		case 7:
			a = pick_handle(&z);
			(void)kpop_hypercall(kp, KPOP_HC_ZAP_ALL, a, get8(&z.c) >= 0xf0 ? get64(&z.c) : 0);
			break;
		case 8:
			a = pick_handle(&z);
			b = pick_l2_gfn(&z);
			if (op & 0x10)
				(void)kpop_age(kp, a, b, pick_npages(&z));
			else
				(void)kpop_test_age(kp, a, b, pick_npages(&z));
			if (op & 0x20)
				(void)kpop_age_l1(kp, pick_l1_gfn(&z), pick_npages(&z));
			break;
		case 9:
			a = pick_l1_gfn(&z);
			(void)kpop_track_write(kp, a, !(op & 0x10));
			break;
		case 10:
			op_slot_flags(&z);
			break;
		default: /* anything at all */
			a = get64(&z.c);
			b = get64(&z.c);
			(void)kpop_hypercall(kp, get8(&z.c) % 10, a, b);
			break;
		}
		(void)kpop_flush_take(kp, z.handles[op % FZ_HANDLES]);
		if (kpop_check(kp, msg, len))
			return -1;
	}
	return 0;
}
