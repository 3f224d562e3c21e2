/*
 * Memory slots. Expected values follow the rules of memslot.h and frames.h:
 * slots never overlap; backing is allocated on first touch, one run of
 * 2^order frames per touched run, each the lowest free (aligned) run of the
 * allocator; events come before the change, in registration order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mem/frames.h"
#include "mem/memslot.h"

#define FIRST_HFN 0x100u

struct fx {
	struct frames *fr;
	struct memslots *ms;
};

static int setup(void **state)
{
	static struct fx f;

	f.fr = frames_create(FIRST_HFN, 1u << 20);
	f.ms = memslots_create(f.fr, 40); /* gfns [0, 2^28) */
	*state = &f;
	return f.fr && f.ms ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	memslots_destroy(f->ms);
	/* every backing frame went back to the allocator */
	assert_int_equal(frames_allocated(f->fr), 0);
	frames_destroy(f->fr);
	return 0;
}

static int add(struct memslots *ms, uint32_t id, uint64_t base, uint64_t n, uint32_t flags, unsigned order)
{
	struct memslot_desc d = { .id = id, .base_gfn = base, .npages = n, .flags = flags, .backing_order = order };

	return memslots_add(ms, &d);
}

static void test_add_remove_overlap(void **state)
{
	struct fx *f = *state;
	struct memslots *ms = f->ms;
	struct memslot_desc d;

	assert_null(memslots_create(f->fr, 12));
	assert_null(memslots_create(f->fr, 53));
	assert_int_equal(memslots_gfn_limit(ms), UINT64_C(1) << 28);
	assert_int_equal(add(ms, 1, 0x100, 0x100, 0, 0), MEMSLOT_OK); /* A [0x100, 0x200) */
	assert_int_equal(add(ms, 2, 0x300, 0x100, 0, 0), MEMSLOT_OK); /* B [0x300, 0x400) */
	assert_int_equal(add(ms, 3, 0x1ff, 2, 0, 0), MEMSLOT_EOVERLAP);  /* last page of A */
	assert_int_equal(add(ms, 3, 0x50, 0xb1, 0, 0), MEMSLOT_EOVERLAP); /* first page of A */
	assert_int_equal(add(ms, 3, 0, 0x1000, 0, 0), MEMSLOT_EOVERLAP);  /* contains both */
	assert_int_equal(add(ms, 3, 0x310, 1, 0, 0), MEMSLOT_EOVERLAP);   /* inside B */
	assert_int_equal(add(ms, 1, 0x900, 1, 0, 0), MEMSLOT_EEXIST);
	assert_int_equal(add(ms, 3, 0x900, 0, 0, 0), MEMSLOT_ERANGE);
	assert_int_equal(add(ms, 3, (UINT64_C(1) << 28) - 1, 2, 0, 0), MEMSLOT_ERANGE);
	assert_int_equal(add(ms, 3, 0x900, UINT64_C(1) << 63, 0, 0), MEMSLOT_ERANGE);
	assert_int_equal(add(ms, 3, UINT64_MAX, 1, 0, 0), MEMSLOT_ERANGE);
	assert_int_equal(add(ms, 3, 0x900, 1, 1u << 7, 0), MEMSLOT_EINVAL);
	assert_int_equal(add(ms, 3, 0x900, 1, MEMSLOT_F_MMIO | MEMSLOT_F_READONLY, 0), MEMSLOT_EINVAL);
	assert_int_equal(add(ms, 3, 0x900, 512, 0, 19), MEMSLOT_EINVAL);
	assert_int_equal(add(ms, 3, 0x900, 512, 0, 9), MEMSLOT_EINVAL);  /* base not 2 MiB aligned */
	assert_int_equal(add(ms, 3, 0x1000, 100, 0, 9), MEMSLOT_EINVAL); /* size not a multiple */
	/* exactly between A and B, touching both: no overlap */
	assert_int_equal(add(ms, 3, 0x200, 0x100, 0, 0), MEMSLOT_OK);
	/* the last page of the gfn space */
	assert_int_equal(add(ms, 4, (UINT64_C(1) << 28) - 1, 1, 0, 0), MEMSLOT_OK);
	assert_int_equal(memslots_count(ms), 4);
	/* gfn order: A, C, B, top */
	assert_int_equal(memslots_at(ms, 0, &d), MEMSLOT_OK);
	assert_int_equal(d.id, 1);
	assert_int_equal(memslots_at(ms, 1, &d), MEMSLOT_OK);
	assert_int_equal(d.id, 3);
	assert_int_equal(memslots_at(ms, 2, &d), MEMSLOT_OK);
	assert_int_equal(d.id, 2);
	assert_int_equal(memslots_at(ms, 4, &d), MEMSLOT_ENOENT);
	assert_int_equal(memslots_remove(ms, 9), MEMSLOT_ENOENT);
	assert_int_equal(memslots_remove(ms, 3), MEMSLOT_OK);
	assert_int_equal(memslots_get(ms, 3, &d), MEMSLOT_ENOENT);
	assert_int_equal(add(ms, 5, 0x200, 0x100, 0, 0), MEMSLOT_OK); /* the hole is free again */
	assert_int_equal(memslots_get(ms, 5, &d), MEMSLOT_OK);
	assert_int_equal(d.base_gfn, 0x200);
	assert_int_equal(d.npages, 0x100);
}

static void test_lookup_boundaries(void **state)
{
	struct fx *f = *state;
	struct memslots *ms = f->ms;
	struct gfn_info info;
	uint64_t hfn;

	assert_int_equal(add(ms, 1, 0x100, 0x100, 0, 0), MEMSLOT_OK);
	assert_int_equal(add(ms, 2, 0x200, 0x10, 0, 0), MEMSLOT_OK);
	assert_int_equal(add(ms, 3, (UINT64_C(1) << 28) - 4, 4, 0, 0), MEMSLOT_OK);
	assert_int_equal(memslots_gfn_peek(ms, 0xff, &hfn, &info), MEMSLOT_OUTSIDE);
	assert_int_equal(memslots_gfn_peek(ms, 0, &hfn, &info), MEMSLOT_OUTSIDE);
	assert_int_equal(memslots_gfn_peek(ms, 0x100, &hfn, &info), MEMSLOT_UNBACKED);
	assert_int_equal(info.slot.id, 1);
	assert_int_equal(memslots_gfn_peek(ms, 0x1ff, &hfn, &info), MEMSLOT_UNBACKED);
	assert_int_equal(info.slot.id, 1);
	assert_int_equal(memslots_gfn_peek(ms, 0x200, &hfn, &info), MEMSLOT_UNBACKED);
	assert_int_equal(info.slot.id, 2);
	assert_int_equal(memslots_gfn_peek(ms, 0x20f, &hfn, &info), MEMSLOT_UNBACKED);
	assert_int_equal(memslots_gfn_peek(ms, 0x210, &hfn, &info), MEMSLOT_OUTSIDE);
	assert_int_equal(memslots_gfn_peek(ms, (UINT64_C(1) << 28) - 1, &hfn, &info), MEMSLOT_UNBACKED);
	assert_int_equal(info.slot.id, 3);
	assert_int_equal(memslots_gfn_peek(ms, UINT64_C(1) << 28, &hfn, &info), MEMSLOT_OUTSIDE);
	assert_int_equal(memslots_gfn_peek(ms, UINT64_MAX, &hfn, &info), MEMSLOT_OUTSIDE);
	/* first touches in this order get FIRST_HFN, +1, +2 */
	assert_int_equal(memslots_gfn_to_hfn(ms, 0x1ff, &hfn, &info), MEMSLOT_OK);
	assert_int_equal(hfn, FIRST_HFN);
	assert_int_equal(info.hfn, FIRST_HFN);
	assert_int_equal(memslots_gfn_to_hfn(ms, 0x200, &hfn, NULL), MEMSLOT_OK);
	assert_int_equal(hfn, FIRST_HFN + 1);
	assert_int_equal(memslots_gfn_to_hfn(ms, 0x100, &hfn, NULL), MEMSLOT_OK);
	assert_int_equal(hfn, FIRST_HFN + 2);
	assert_int_equal(memslots_gfn_to_hfn(ms, 0x1ff, &hfn, NULL), MEMSLOT_OK);
	assert_int_equal(hfn, FIRST_HFN); /* second touch: same frame, nothing new */
	assert_int_equal(memslots_gfn_peek(ms, 0x200, &hfn, NULL), MEMSLOT_OK);
	assert_int_equal(hfn, FIRST_HFN + 1);
	assert_int_equal(memslots_gfn_to_hfn(ms, 0x210, &hfn, NULL), MEMSLOT_OUTSIDE);
	assert_int_equal(memslots_backed_pages(ms), 3);
	assert_int_equal(frames_allocated(f->fr), 3);
}

static void test_readonly_mmio(void **state)
{
	struct fx *f = *state;
	struct memslots *ms = f->ms;
	struct gfn_info info;
	uint64_t hfn = 0;

	assert_int_equal(add(ms, 1, 0x100, 0x10, MEMSLOT_F_READONLY, 0), MEMSLOT_OK);
	assert_int_equal(add(ms, 2, 0x110, 0x10, MEMSLOT_F_MMIO, 0), MEMSLOT_OK);
	assert_int_equal(add(ms, 3, 0x120, 0x10, 0, 0), MEMSLOT_OK);
	assert_int_equal(memslots_gfn_to_hfn(ms, 0x105, &hfn, &info), MEMSLOT_OK);
	assert_int_equal(hfn, FIRST_HFN); /* ROM is memory: reads hit a frame */
	assert_true(info.slot.flags & MEMSLOT_F_READONLY);
	assert_true(memslots_gfn_readonly(ms, 0x105));
	assert_false(memslots_gfn_readonly(ms, 0x125));
	assert_false(memslots_gfn_readonly(ms, 0x115));
	assert_false(memslots_gfn_readonly(ms, 0x5000));
	hfn = 777;
	assert_int_equal(memslots_gfn_to_hfn(ms, 0x115, &hfn, &info), MEMSLOT_MMIO);
	assert_int_equal(hfn, 777); /* no frame */
	assert_int_equal(info.slot.id, 2);
	assert_int_equal(memslots_gfn_peek(ms, 0x11f, &hfn, &info), MEMSLOT_MMIO);
	assert_int_equal(memslots_gfn_to_hfn(ms, 0x130, &hfn, &info), MEMSLOT_OUTSIDE);
	assert_int_equal(frames_allocated(f->fr), 1);
	assert_int_equal(memslots_mark_dirty(ms, 0x115), MEMSLOT_MMIO);
	assert_int_equal(memslots_mark_dirty(ms, 0x130), MEMSLOT_OUTSIDE);
	/* flags: MMIO cannot change; RO can */
	assert_int_equal(memslots_set_flags(ms, 2, 0), MEMSLOT_EINVAL);
	assert_int_equal(memslots_set_flags(ms, 2, MEMSLOT_F_MMIO | MEMSLOT_F_LOG_DIRTY), MEMSLOT_EINVAL);
	assert_int_equal(memslots_set_flags(ms, 1, 0), MEMSLOT_OK);
	assert_false(memslots_gfn_readonly(ms, 0x105));
	assert_int_equal(memslots_set_flags(ms, 3, MEMSLOT_F_MMIO), MEMSLOT_EINVAL);
	assert_int_equal(memslots_set_flags(ms, 9, 0), MEMSLOT_ENOENT);
}

/* 2 MiB backing: one aligned run of 512 frames per touched 2 MiB of the slot. */
static void test_backing_order(void **state)
{
	struct fx *f = *state;
	struct memslots *ms = f->ms;
	struct gfn_info info;
	uint64_t hfn;

	assert_int_equal(add(ms, 1, 0x10, 1, 0, 0), MEMSLOT_OK);
	assert_int_equal(add(ms, 2, 0x400, 0x400, 0, 9), MEMSLOT_OK); /* 4 MiB at 4 MiB */
	assert_int_equal(memslots_gfn_to_hfn(ms, 0x10, &hfn, NULL), MEMSLOT_OK);
	assert_int_equal(hfn, FIRST_HFN);
	/* lowest free 512-aligned run above 0x100: 0x200 */
	assert_int_equal(memslots_gfn_to_hfn(ms, 0x405, &hfn, &info), MEMSLOT_OK);
	assert_int_equal(hfn, 0x205);
	assert_int_equal(memslots_gfn_to_hfn(ms, 0x5ff, &hfn, NULL), MEMSLOT_OK);
	assert_int_equal(hfn, 0x3ff); /* same run */
	assert_int_equal(memslots_gfn_to_hfn(ms, 0x600, &hfn, NULL), MEMSLOT_OK);
	assert_int_equal(hfn, 0x400); /* next run */
	assert_int_equal(memslots_backed_pages(ms), 1 + 1024);
	assert_int_equal(frames_allocated(f->fr), 1 + 1024);
	assert_true(memslot_run_fits(&info.slot, 0x405, 9));
	assert_true(memslot_run_fits(&info.slot, 0x405, 0));
	assert_false(memslot_run_fits(&info.slot, 0x405, 18)); /* beyond the backing order */
	assert_false(memslot_run_fits(&info.slot, 0x805, 9));  /* not in the slot */
	/* removal returns both runs; the next single frame is the lowest free */
	assert_int_equal(memslots_remove(ms, 2), MEMSLOT_OK);
	assert_int_equal(frames_allocated(f->fr), 1);
	assert_int_equal(memslots_add(ms, &(struct memslot_desc){ .id = 3, .base_gfn = 0x20, .npages = 1 }),
			 MEMSLOT_OK);
	assert_int_equal(memslots_gfn_to_hfn(ms, 0x20, &hfn, NULL), MEMSLOT_OK);
	assert_int_equal(hfn, FIRST_HFN + 1);
}

static void test_move(void **state)
{
	struct fx *f = *state;
	struct memslots *ms = f->ms;
	uint64_t hfn;

	assert_int_equal(add(ms, 1, 0x100, 0x100, 0, 0), MEMSLOT_OK);
	assert_int_equal(add(ms, 2, 0x800, 0x100, 0, 0), MEMSLOT_OK);
	assert_int_equal(memslots_gfn_to_hfn(ms, 0x105, &hfn, NULL), MEMSLOT_OK);
	assert_int_equal(hfn, FIRST_HFN);
	assert_int_equal(memslots_move(ms, 1, 0x780), MEMSLOT_EOVERLAP);
	assert_int_equal(memslots_move(ms, 1, (UINT64_C(1) << 28) - 0x80), MEMSLOT_ERANGE);
	assert_int_equal(memslots_move(ms, 7, 0), MEMSLOT_ENOENT);
	assert_int_equal(memslots_move(ms, 1, 0x150), MEMSLOT_OK); /* overlapping its own old range is fine */
	assert_int_equal(memslots_move(ms, 1, 0x900), MEMSLOT_OK); /* past slot 2: order changes */
	assert_int_equal(memslots_gfn_peek(ms, 0x105, &hfn, NULL), MEMSLOT_OUTSIDE);
	assert_int_equal(memslots_gfn_peek(ms, 0x905, &hfn, NULL), MEMSLOT_OK);
	assert_int_equal(hfn, FIRST_HFN); /* the contents moved with the slot */
	assert_int_equal(memslots_gfn_peek(ms, 0x805, &hfn, NULL), MEMSLOT_UNBACKED); /* slot 2 */
	{
		struct memslot_desc d;
		assert_int_equal(memslots_at(ms, 0, &d), MEMSLOT_OK);
		assert_int_equal(d.id, 2);
		assert_int_equal(memslots_at(ms, 1, &d), MEMSLOT_OK);
		assert_int_equal(d.id, 1);
	}
}

static void test_dirty_log(void **state)
{
	struct fx *f = *state;
	struct memslots *ms = f->ms;
	uint64_t bits[4], page;

	assert_int_equal(add(ms, 1, 0x1000, 200, MEMSLOT_F_LOG_DIRTY, 0), MEMSLOT_OK);
	assert_int_equal(add(ms, 2, 0x2000, 200, 0, 0), MEMSLOT_OK);
	assert_int_equal(memslots_mark_dirty(ms, 0x1000), MEMSLOT_OK);
	assert_int_equal(memslots_mark_dirty(ms, 0x1000 + 63), MEMSLOT_OK);
	assert_int_equal(memslots_mark_dirty(ms, 0x1000 + 64), MEMSLOT_OK);
	assert_int_equal(memslots_mark_dirty(ms, 0x1000 + 199), MEMSLOT_OK);
	assert_int_equal(memslots_mark_dirty(ms, 0x1000 + 64), MEMSLOT_OK); /* again */
	assert_int_equal(memslots_mark_dirty(ms, 0x2005), MEMSLOT_OK);      /* not logging: ignored */
	assert_int_equal(memslots_dirty_count(ms, 1), 4);
	assert_int_equal(memslots_dirty_count(ms, 2), 0);
	assert_int_equal(memslots_dirty_get(ms, 1, 0, 200, bits), MEMSLOT_OK);
	assert_int_equal(bits[0], (UINT64_C(1) << 63) | 1);
	assert_int_equal(bits[1], 1);
	assert_int_equal(bits[2], 0);
	assert_int_equal(bits[3], UINT64_C(1) << (199 - 192));
	assert_int_equal(memslots_dirty_get(ms, 1, 60, 10, bits), MEMSLOT_OK);
	assert_int_equal(bits[0], 0x18); /* pages 63 and 64 are bits 3 and 4 */
	assert_int_equal(memslots_dirty_get(ms, 1, 150, 51, bits), MEMSLOT_ERANGE);
	assert_int_equal(memslots_dirty_get(ms, 2, 0, 10, bits), MEMSLOT_EINVAL);
	assert_int_equal(memslots_dirty_get(ms, 3, 0, 10, bits), MEMSLOT_ENOENT);
	assert_true(memslots_dirty_next(ms, 1, 1, &page));
	assert_int_equal(page, 63);
	assert_true(memslots_dirty_next(ms, 1, 65, &page));
	assert_int_equal(page, 199);
	assert_false(memslots_dirty_next(ms, 1, 200, &page));
	assert_int_equal(memslots_dirty_clear(ms, 1, 0, 64), MEMSLOT_OK);
	assert_int_equal(memslots_dirty_count(ms, 1), 2);
	assert_true(memslots_dirty_next(ms, 1, 0, &page));
	assert_int_equal(page, 64);
	/* turning logging off discards the log; on again starts empty */
	assert_int_equal(memslots_set_flags(ms, 1, 0), MEMSLOT_OK);
	assert_int_equal(memslots_dirty_count(ms, 1), 0);
	assert_int_equal(memslots_dirty_clear(ms, 1, 0, 1), MEMSLOT_EINVAL);
	assert_int_equal(memslots_set_flags(ms, 1, MEMSLOT_F_LOG_DIRTY), MEMSLOT_OK);
	assert_int_equal(memslots_dirty_count(ms, 1), 0);
	assert_int_equal(memslots_mark_dirty(ms, 0x1000 + 7), MEMSLOT_OK);
	assert_int_equal(memslots_dirty_count(ms, 1), 1);
	/* the log moves with the slot (pages are numbered within it) */
	assert_int_equal(memslots_move(ms, 1, 0x3000), MEMSLOT_OK);
	assert_true(memslots_dirty_next(ms, 1, 0, &page));
	assert_int_equal(page, 7);
}

#define MAX_EV 16

struct rec {
	struct fx *f;
	struct memslot_event ev[MAX_EV];
	int n;
	int lookup_during;  /* memslots_gfn_peek of ev.gfn during the callback */
	int change_during;  /* memslots_add during the callback */
	uint64_t frames_during;
	int order[MAX_EV];  /* which notifier saw each event */
	int who;
};

static void on_event(void *ctx, const struct memslot_event *ev)
{
	struct rec *r = ctx;
	uint64_t hfn;

	assert_true(r->n < MAX_EV);
	r->order[r->n] = r->who;
	r->ev[r->n++] = *ev;
	r->lookup_during = memslots_gfn_peek(r->f->ms, ev->gfn, &hfn, NULL);
	r->change_during = memslots_add(r->f->ms, &(struct memslot_desc){ .id = 99, .base_gfn = 0x7000, .npages = 1 });
	r->frames_during = frames_allocated(r->f->fr);
}

struct second {
	struct rec *r;
};

static void on_event_second(void *ctx, const struct memslot_event *ev)
{
	struct second *s = ctx;

	(void)ev;
	assert_true(s->r->n < MAX_EV);
	s->r->order[s->r->n] = 2;
	s->r->ev[s->r->n] = *ev;
	s->r->n++;
}

static void test_notifiers(void **state)
{
	struct fx *f = *state;
	struct memslots *ms = f->ms;
	static struct rec r;
	struct second s = { &r };
	int h1, h2;

	r = (struct rec){ .f = f, .who = 1 };
	h1 = memslots_notifier_add(ms, on_event, &r);
	assert_true(h1 >= 0);
	assert_int_equal(add(ms, 1, 0x100, 0x10, 0, 0), MEMSLOT_OK);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ev[0].kind, MEMSLOT_EV_ADD);
	assert_int_equal(r.ev[0].gfn, 0x100);
	assert_int_equal(r.ev[0].npages, 0x10);
	assert_int_equal(r.lookup_during, MEMSLOT_OUTSIDE); /* before the change */
	assert_int_equal(r.change_during, MEMSLOT_EBUSY);
	assert_int_equal(memslots_count(ms), 1); /* slot 99 was refused */
	/* refused changes announce nothing */
	assert_int_equal(add(ms, 2, 0x108, 0x10, 0, 0), MEMSLOT_EOVERLAP);
	assert_int_equal(r.n, 1);

	h2 = memslots_notifier_add(ms, on_event_second, &s);
	assert_true(h2 >= 0 && h2 != h1);
	assert_int_equal(memslots_gfn_to_hfn(ms, 0x105, NULL, NULL), MEMSLOT_OK);
	assert_int_equal(memslots_set_flags(ms, 1, MEMSLOT_F_READONLY | MEMSLOT_F_LOG_DIRTY), MEMSLOT_OK);
	assert_int_equal(r.n, 3); /* both notifiers, in registration order */
	assert_int_equal(r.order[1], 1);
	assert_int_equal(r.order[2], 2);
	assert_int_equal(r.ev[1].kind, MEMSLOT_EV_FLAGS);
	assert_int_equal(r.ev[1].old_flags, 0);
	assert_int_equal(r.ev[1].new_flags, MEMSLOT_F_READONLY | MEMSLOT_F_LOG_DIRTY);
	assert_int_equal(memslots_set_flags(ms, 1, MEMSLOT_F_READONLY | MEMSLOT_F_LOG_DIRTY), MEMSLOT_OK);
	assert_int_equal(r.n, 3); /* no change, no event */

	assert_int_equal(memslots_notifier_remove(ms, h2), MEMSLOT_OK);
	assert_int_equal(memslots_notifier_remove(ms, h2), MEMSLOT_ENOENT);
	assert_int_equal(memslots_move(ms, 1, 0x200), MEMSLOT_OK);
	assert_int_equal(r.n, 4);
	assert_int_equal(r.ev[3].kind, MEMSLOT_EV_MOVE);
	assert_int_equal(r.ev[3].gfn, 0x100);
	assert_int_equal(r.ev[3].new_gfn, 0x200);
	assert_int_equal(r.lookup_during, MEMSLOT_UNBACKED); /* still at 0x100 during the call */

	/* dirty-log clear: reported (after the bits are cleared) only if some bit was set */
	assert_int_equal(memslots_dirty_clear(ms, 1, 0, 0x10), MEMSLOT_OK);
	assert_int_equal(r.n, 4);
	assert_int_equal(memslots_mark_dirty(ms, 0x203), MEMSLOT_OK);
	assert_int_equal(memslots_dirty_clear(ms, 1, 2, 4), MEMSLOT_OK);
	assert_int_equal(r.n, 5);
	assert_int_equal(r.ev[4].kind, MEMSLOT_EV_DIRTY_CLEAR);
	assert_int_equal(r.ev[4].gfn, 0x202);
	assert_int_equal(r.ev[4].npages, 4);

	/* remove: announced while the slot and its frame are still there */
	assert_int_equal(memslots_remove(ms, 1), MEMSLOT_OK);
	assert_int_equal(r.n, 6);
	assert_int_equal(r.ev[5].kind, MEMSLOT_EV_REMOVE);
	assert_int_equal(r.ev[5].gfn, 0x200);
	assert_int_equal(r.ev[5].npages, 0x10);
	assert_int_equal(r.lookup_during, MEMSLOT_UNBACKED);
	assert_int_equal(r.frames_during, 1);
	assert_int_equal(frames_allocated(f->fr), 0);
	assert_int_equal(memslots_notifier_remove(ms, h1), MEMSLOT_OK);
}

/* Out of frames: a distinct error, and the slot is left as it was. */
static void test_frame_exhaustion(void **state)
{
	struct frames *fr = frames_create(0, 4);
	struct memslots *ms = memslots_create(fr, 32);
	uint64_t hfn;

	(void)state;
	assert_int_equal(add(ms, 1, 0, 100, 0, 0), MEMSLOT_OK);
	assert_int_equal(add(ms, 2, 512, 512, 0, 9), MEMSLOT_OK);
	for (uint64_t g = 0; g < 4; g++) {
		assert_int_equal(memslots_gfn_to_hfn(ms, g, &hfn, NULL), MEMSLOT_OK);
		assert_int_equal(hfn, g);
	}
	assert_int_equal(memslots_gfn_to_hfn(ms, 4, &hfn, NULL), MEMSLOT_ENOMEM);
	assert_int_equal(memslots_gfn_to_hfn(ms, 600, &hfn, NULL), MEMSLOT_ENOMEM);
	assert_int_equal(memslots_gfn_peek(ms, 4, &hfn, NULL), MEMSLOT_UNBACKED);
	assert_int_equal(memslots_backed_pages(ms), 4);
	for (uint64_t g = 0; g < 4; g++) {
		assert_int_equal(memslots_gfn_peek(ms, g, &hfn, NULL), MEMSLOT_OK);
		assert_int_equal(hfn, g);
	}
	memslots_destroy(ms);
	assert_int_equal(frames_allocated(fr), 0);
	frames_destroy(fr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_remove_overlap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_boundaries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_mmio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backing_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notifiers, setup, teardown),
		cmocka_unit_test(test_frame_exhaustion),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
