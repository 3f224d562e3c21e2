/*
 * memslot.h - a guest's physical address space as a set of memory slots,
 * as its hypervisor sees it: gfn ranges backed by frames of the
 * hypervisor's own physical space (hfn at L0), read-only slots, MMIO holes,
 * dirty logging, and notifications when slots change.
 *
 * Rules (the tests' expected values follow from them):
 *  - Slots never overlap. Each has a caller-chosen id, a base gfn, a
 *    number of pages >= 1, flags, and a backing order (0: 4 KiB frames,
 *    9: 2 MiB runs, 18: 1 GiB runs; base and size must then be multiples
 *    of 2^order, so gfn and hfn agree modulo 2^order and the MMU may map
 *    the run with one large leaf).
 *  - Backing is allocated on first touch, like an anonymous mapping:
 *    memslots_gfn_to_hfn() on a page whose run has no frames yet takes one
 *    run from the frame allocator (frames.h: lowest free run), so the same
 *    sequence of calls always yields the same frames. Nothing is allocated
 *    per page up front: the backing map is a hash map holding one entry
 *    per touched run (16 bytes at load <= 3/4, see u64map.h), the dirty log
 *    a sparse bitmap. A 1 TiB slot costs nothing until touched.
 *  - Removing a slot returns its frames to the allocator. Moving a slot
 *    keeps its frames and dirty log (contents move with the slot).
 *  - The gfn space is [0, 2^(gpa_bits - 12)); a slot that does not fit is
 *    rejected with MEMSLOT_ERANGE.
 *
 * Notifications: every change (add, remove, move, flags) is reported to
 * the registered callbacks, in registration order, BEFORE it takes effect
 * and after it has been checked and can no longer fail: during the
 * callback lookups still see the old layout (so an MMU can zap its
 * mappings of the range while the old frames are still there). The one
 * exception is a dirty-log clear, reported just after the bits are
 * cleared (see memslots_dirty_clear).
 * Callbacks must not change slots: such calls return MEMSLOT_EBUSY.
 */
#ifndef NESTMMU_MEM_MEMSLOT_H
#define NESTMMU_MEM_MEMSLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/frames.h"

/* Slot flags */
#define MEMSLOT_F_READONLY  (1u << 0) /* reads hit memory, writes must exit (ROM) */
#define MEMSLOT_F_MMIO      (1u << 1) /* hole: no memory, every access is MMIO */
#define MEMSLOT_F_LOG_DIRTY (1u << 2) /* dirty logging on */
#define MEMSLOT_F_ALL       (MEMSLOT_F_READONLY | MEMSLOT_F_MMIO | MEMSLOT_F_LOG_DIRTY)

#define MEMSLOT_MAX_SLOTS 32768u
#define MEMSLOT_MAX_ORDER 18u

enum memslot_status {
	MEMSLOT_OK = 0,
	/* results of a gfn lookup, not errors */
	MEMSLOT_MMIO = 1,     /* the gfn lies in an MMIO hole */
	MEMSLOT_OUTSIDE = 2,  /* no slot holds the gfn */
	MEMSLOT_UNBACKED = 3, /* memslots_gfn_peek: in a slot, not touched yet */
	/* errors: nothing changed */
	MEMSLOT_EINVAL = -1,  /* bad flags or order, misaligned slot, dirty log off */
	MEMSLOT_EEXIST = -2,  /* id already in use */
	MEMSLOT_ENOENT = -3,  /* no slot with that id */
	MEMSLOT_EOVERLAP = -4,/* the range overlaps another slot */
	MEMSLOT_ERANGE = -5,  /* size 0, beyond the gfn space, or a page range outside the slot */
	MEMSLOT_ENOSPC = -6,  /* MEMSLOT_MAX_SLOTS reached */
	MEMSLOT_ENOMEM = -7,  /* out of frames (the frame allocator said FRAMES_ENOMEM) */
	MEMSLOT_EHOST = -8,   /* the simulator itself ran out of memory */
	MEMSLOT_EBUSY = -9,   /* a change requested from inside a notification */
};

const char *memslot_strerror(int status);

struct memslot_desc {
	uint32_t id;
	uint64_t base_gfn;
	uint64_t npages;
	uint32_t flags;        /* MEMSLOT_F_* */
	unsigned backing_order;/* 0..MEMSLOT_MAX_ORDER; 0 for MMIO */
};

/* What a lookup found. */
struct gfn_info {
	uint64_t hfn;          /* backing frame (MEMSLOT_OK only) */
	struct memslot_desc slot; /* the slot holding the gfn (not for MEMSLOT_OUTSIDE) */
};

struct memslots;

/*
 * A guest physical space of 2^gpa_bits bytes (13 <= gpa_bits <= 52) whose
 * backing frames come from `frames` (which must outlive it).
 */
struct memslots *memslots_create(struct frames *frames, unsigned gpa_bits);
/* Returns every backing frame to the allocator; no notifications. */
void memslots_destroy(struct memslots *ms);

/* Slot management; MEMSLOT_OK or an error (nothing changed). */
int memslots_add(struct memslots *ms, const struct memslot_desc *d);
int memslots_remove(struct memslots *ms, uint32_t id);
int memslots_move(struct memslots *ms, uint32_t id, uint64_t new_base_gfn);
/* READONLY and LOG_DIRTY may change; MMIO may not. Turning LOG_DIRTY off discards the log. */
int memslots_set_flags(struct memslots *ms, uint32_t id, uint32_t flags);

/* Slot by id, or the i-th slot in gfn order (0 <= i < memslots_count). */
int memslots_get(const struct memslots *ms, uint32_t id, struct memslot_desc *d);
size_t memslots_count(const struct memslots *ms);
int memslots_at(const struct memslots *ms, size_t i, struct memslot_desc *d);

/*
 * gfn -> hfn, allocating the backing on first touch. MEMSLOT_OK with
 * info->hfn; MEMSLOT_MMIO (info->slot filled); MEMSLOT_OUTSIDE;
 * MEMSLOT_ENOMEM / MEMSLOT_EHOST if the backing cannot be allocated
 * (nothing is then allocated). `hfn` and `info` may each be NULL.
 */
int memslots_gfn_to_hfn(struct memslots *ms, uint64_t gfn, uint64_t *hfn, struct gfn_info *info);
/* The same without allocating: MEMSLOT_UNBACKED for an untouched page. */
int memslots_gfn_peek(const struct memslots *ms, uint64_t gfn, uint64_t *hfn, struct gfn_info *info);
/* true iff the gfn lies in a read-only slot. */
bool memslots_gfn_readonly(const struct memslots *ms, uint64_t gfn);

/*
 * true if the 2^order pages around gfn (aligned) lie in the gfn's slot and
 * are backed by one run (order <= the slot's backing order): the MMU may
 * then map them with one leaf of that size.
 */
bool memslot_run_fits(const struct memslot_desc *slot, uint64_t gfn, unsigned order);

/*
 * Dirty logging. Pages are numbered within the slot (gfn - base_gfn).
 * mark_dirty: records a write to gfn if its slot logs (else does nothing);
 * MEMSLOT_OK, MEMSLOT_MMIO, MEMSLOT_OUTSIDE or MEMSLOT_EHOST.
 * dirty_get: copies the bits of pages [first, first + n) into bits[]
 * ((n + 63) / 64 words; page first + i is bit i % 64 of word i / 64).
 * dirty_clear: clears them (and notifies MEMSLOT_EV_DIRTY_CLEAR if any was
 * set, so the MMU can make the pages write-tracked again).
 * Both give MEMSLOT_EINVAL when the slot does not log, MEMSLOT_ERANGE for
 * pages outside it.
 */
int memslots_mark_dirty(struct memslots *ms, uint64_t gfn);
int memslots_dirty_get(const struct memslots *ms, uint32_t id, uint64_t first, uint64_t n, uint64_t *bits);
int memslots_dirty_clear(struct memslots *ms, uint32_t id, uint64_t first, uint64_t n);
/* Number of dirty pages of the slot (0 if it does not log or does not exist). */
uint64_t memslots_dirty_count(const struct memslots *ms, uint32_t id);
/* Lowest dirty page >= from in the slot: true and *page, or false. */
bool memslots_dirty_next(const struct memslots *ms, uint32_t id, uint64_t from, uint64_t *page);

/* Notifications. */
enum memslot_event_kind {
	MEMSLOT_EV_ADD,         /* [gfn, gfn + npages) becomes a slot */
	MEMSLOT_EV_REMOVE,      /* [gfn, gfn + npages) stops being a slot */
	MEMSLOT_EV_MOVE,        /* the slot at [gfn, gfn + npages) moves to new_gfn */
	MEMSLOT_EV_FLAGS,       /* old_flags -> new_flags on [gfn, gfn + npages) */
	MEMSLOT_EV_DIRTY_CLEAR, /* dirty bits of [gfn, gfn + npages) cleared */
};

struct memslot_event {
	enum memslot_event_kind kind;
	uint32_t id;
	uint64_t gfn, npages;
	uint64_t new_gfn;             /* MEMSLOT_EV_MOVE */
	uint32_t old_flags, new_flags;/* the slot's flags before / after */
};

typedef void (*memslot_notify_fn)(void *ctx, const struct memslot_event *ev);

/* Registers a callback; returns a handle >= 0, or MEMSLOT_EHOST / MEMSLOT_EBUSY. */
int memslots_notifier_add(struct memslots *ms, memslot_notify_fn fn, void *ctx);
int memslots_notifier_remove(struct memslots *ms, int handle);

/* Accounting */
uint64_t memslots_backed_pages(const struct memslots *ms); /* frames held by all slots */
size_t memslots_meta_bytes(const struct memslots *ms);     /* host bytes of bookkeeping */
uint64_t memslots_gfn_limit(const struct memslots *ms);    /* 2^(gpa_bits - 12) */

#endif
