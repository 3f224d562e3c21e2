/*
 * memslot.c - memory slots.
 *
 * Layout: an array of slot pointers sorted by base gfn. Slots never
 * overlap, so the slot holding a gfn is the last one whose base is <= gfn,
 * if the gfn lies below its end: a binary search, O(log slots). Overlap
 * check for a candidate range: only the slot just before its position and
 * the slot at its position can overlap it.
 *
 * Backing: per slot, a hash map from run index ((gfn - base) >> order) to
 * the first frame of the run. A lookup that misses first makes room in the
 * map, then takes a run from the frame allocator, then inserts (which can
 * no longer fail): a failure leaves nothing allocated.
 *
 * Dirty log: per slot, a sparse bitmap indexed by page within the slot,
 * live only while MEMSLOT_F_LOG_DIRTY is set.
 */
#include "mem/memslot.h"

#include <stdlib.h>

#include "mem/sbitmap.h"
#include "mem/u64map.h"

struct slot {
	struct memslot_desc d;
	struct u64map backing; /* run index -> first hfn of the run */
	struct sbitmap dirty;  /* page within slot -> written since last clear */
};

struct notifier {
	memslot_notify_fn fn;
	void *ctx;
	int handle;
};

struct memslots {
	struct frames *frames;
	uint64_t gfn_limit;
	struct slot **v; /* sorted by d.base_gfn */
	size_t n, cap;
	struct notifier *nts;
	size_t nn, ncap;
	int next_handle;
	bool busy; /* inside a notification */
	uint64_t backed_pages;
};

const char *memslot_strerror(int status)
{
	switch (status) {
	case MEMSLOT_OK: return "ok";
	case MEMSLOT_MMIO: return "gfn in an MMIO hole";
	case MEMSLOT_OUTSIDE: return "gfn outside every slot";
	case MEMSLOT_UNBACKED: return "gfn not touched yet";
	case MEMSLOT_EINVAL: return "invalid slot flags, order or alignment";
	case MEMSLOT_EEXIST: return "slot id already in use";
	case MEMSLOT_ENOENT: return "no such slot";
	case MEMSLOT_EOVERLAP: return "slot overlaps another slot";
	case MEMSLOT_ERANGE: return "range empty, beyond the guest-physical space, or outside the slot";
	case MEMSLOT_ENOSPC: return "too many slots";
	case MEMSLOT_ENOMEM: return "out of host frames";
	case MEMSLOT_EHOST: return "simulator out of memory";
	case MEMSLOT_EBUSY: return "slot change requested from a notification";
	default: return "unknown memslot status";
	}
}

struct memslots *memslots_create(struct frames *frames, unsigned gpa_bits)
{
	struct memslots *ms;

	if (!frames || gpa_bits < 13 || gpa_bits > 52)
		return NULL;
	ms = calloc(1, sizeof(*ms));
	if (!ms)
		return NULL;
	ms->frames = frames;
	ms->gfn_limit = UINT64_C(1) << (gpa_bits - 12);
	return ms;
}

/* Returns the slot's frames to the allocator. */
static void slot_release(struct memslots *ms, struct slot *s)
{
	size_t pos = 0;
	uint64_t run, hfn;

	while (u64map_iter(&s->backing, &pos, &run, &hfn)) {
		/* Can only fail if the simulator is out of memory: the run leaks. */
		(void)frames_free_contig(ms->frames, hfn, s->d.backing_order);
		ms->backed_pages -= UINT64_C(1) << s->d.backing_order;
	}
	u64map_fini(&s->backing);
	sbitmap_fini(&s->dirty);
	free(s);
}

void memslots_destroy(struct memslots *ms)
{
	if (!ms)
		return;
	for (size_t i = 0; i < ms->n; i++)
		slot_release(ms, ms->v[i]);
	free(ms->v);
	free(ms->nts);
	free(ms);
}

/* Index of the first slot with base_gfn >= gfn. */
static size_t lower_bound(const struct memslots *ms, uint64_t gfn)
{
	size_t lo = 0, hi = ms->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ms->v[mid]->d.base_gfn < gfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct slot *find_gfn(const struct memslots *ms, uint64_t gfn)
{
	size_t i = lower_bound(ms, gfn);
	struct slot *s;

	if (i < ms->n && ms->v[i]->d.base_gfn == gfn)
		return ms->v[i];
	if (i == 0)
		return NULL;
	s = ms->v[i - 1];
	return gfn - s->d.base_gfn < s->d.npages ? s : NULL;
}

static long find_id(const struct memslots *ms, uint32_t id)
{
	for (size_t i = 0; i < ms->n; i++) {
		if (ms->v[i]->d.id == id)
			return (long)i;
	}
	return -1;
}

/* Does [base, base + npages) overlap a slot other than index `excl`? */
static bool overlaps(const struct memslots *ms, uint64_t base, uint64_t npages, size_t excl)
{
	size_t p = lower_bound(ms, base);
	size_t after = p, before = p;

	if (after == excl)
		after++;
	if (after < ms->n && ms->v[after]->d.base_gfn < base + npages)
		return true;
	if (before > 0 && before - 1 == excl)
		before--;
	if (before > 0) {
		const struct memslot_desc *d = &ms->v[before - 1]->d;

		if (d->base_gfn + d->npages > base)
			return true;
	}
	return false;
}

/* Checks a slot description on its own (not against other slots). */
static int check_desc(const struct memslots *ms, const struct memslot_desc *d)
{
	uint64_t mask;

	if (d->flags & ~MEMSLOT_F_ALL)
		return MEMSLOT_EINVAL;
	if ((d->flags & MEMSLOT_F_MMIO) &&
	    ((d->flags & (MEMSLOT_F_READONLY | MEMSLOT_F_LOG_DIRTY)) || d->backing_order))
		return MEMSLOT_EINVAL;
	if (d->backing_order > MEMSLOT_MAX_ORDER)
		return MEMSLOT_EINVAL;
	if (d->npages == 0 || d->base_gfn >= ms->gfn_limit || d->npages > ms->gfn_limit - d->base_gfn)
		return MEMSLOT_ERANGE;
	mask = (UINT64_C(1) << d->backing_order) - 1;
	if ((d->base_gfn | d->npages) & mask)
		return MEMSLOT_EINVAL;
	return MEMSLOT_OK;
}

static void notify(struct memslots *ms, enum memslot_event_kind kind, const struct memslot_desc *d,
		   uint64_t new_gfn, uint32_t new_flags)
{
	struct memslot_event ev = {
		.kind = kind, .id = d->id, .gfn = d->base_gfn, .npages = d->npages,
		.new_gfn = new_gfn, .old_flags = d->flags, .new_flags = new_flags,
	};

	ms->busy = true;
	for (size_t i = 0; i < ms->nn; i++)
		ms->nts[i].fn(ms->nts[i].ctx, &ev);
	ms->busy = false;
}

static void insert_at(struct memslots *ms, size_t p, struct slot *s)
{
	for (size_t k = ms->n; k > p; k--)
		ms->v[k] = ms->v[k - 1];
	ms->v[p] = s;
	ms->n++;
}

static void remove_at(struct memslots *ms, size_t p)
{
	for (size_t k = p + 1; k < ms->n; k++)
		ms->v[k - 1] = ms->v[k];
	ms->n--;
}

int memslots_add(struct memslots *ms, const struct memslot_desc *d)
{
	struct slot *s;
	int r;

	if (ms->busy)
		return MEMSLOT_EBUSY;
	r = check_desc(ms, d);
	if (r)
		return r;
	if (find_id(ms, d->id) >= 0)
		return MEMSLOT_EEXIST;
	if (overlaps(ms, d->base_gfn, d->npages, SIZE_MAX))
		return MEMSLOT_EOVERLAP;
	if (ms->n == MEMSLOT_MAX_SLOTS)
		return MEMSLOT_ENOSPC;
	if (ms->n == ms->cap) {
		size_t cap = ms->cap ? ms->cap * 2 : 8;
		struct slot **v = realloc(ms->v, cap * sizeof(*v));

		if (!v)
			return MEMSLOT_EHOST;
		ms->v = v;
		ms->cap = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return MEMSLOT_EHOST;
	s->d = *d;
	u64map_init(&s->backing);
	sbitmap_init(&s->dirty);
	notify(ms, MEMSLOT_EV_ADD, d, d->base_gfn, d->flags);
	insert_at(ms, lower_bound(ms, d->base_gfn), s);
	return MEMSLOT_OK;
}

int memslots_remove(struct memslots *ms, uint32_t id)
{
	long i;
	struct slot *s;

	if (ms->busy)
		return MEMSLOT_EBUSY;
	i = find_id(ms, id);
	if (i < 0)
		return MEMSLOT_ENOENT;
	s = ms->v[i];
	notify(ms, MEMSLOT_EV_REMOVE, &s->d, s->d.base_gfn, s->d.flags);
	remove_at(ms, (size_t)i);
	slot_release(ms, s);
	return MEMSLOT_OK;
}

int memslots_move(struct memslots *ms, uint32_t id, uint64_t new_base_gfn)
{
	struct memslot_desc nd;
	struct slot *s;
	long i;
	int r;

	if (ms->busy)
		return MEMSLOT_EBUSY;
	i = find_id(ms, id);
	if (i < 0)
		return MEMSLOT_ENOENT;
	s = ms->v[i];
	nd = s->d;
	nd.base_gfn = new_base_gfn;
	r = check_desc(ms, &nd);
	if (r)
		return r;
	if (overlaps(ms, nd.base_gfn, nd.npages, (size_t)i))
		return MEMSLOT_EOVERLAP;
	if (new_base_gfn == s->d.base_gfn)
		return MEMSLOT_OK;
	notify(ms, MEMSLOT_EV_MOVE, &s->d, new_base_gfn, s->d.flags);
	remove_at(ms, (size_t)i);
	s->d.base_gfn = new_base_gfn;
	insert_at(ms, lower_bound(ms, new_base_gfn), s);
	return MEMSLOT_OK;
}

int memslots_set_flags(struct memslots *ms, uint32_t id, uint32_t flags)
{
	struct memslot_desc nd;
	struct slot *s;
	long i;
	int r;

	if (ms->busy)
		return MEMSLOT_EBUSY;
	i = find_id(ms, id);
	if (i < 0)
		return MEMSLOT_ENOENT;
	s = ms->v[i];
	if ((flags ^ s->d.flags) & MEMSLOT_F_MMIO)
		return MEMSLOT_EINVAL;
	nd = s->d;
	nd.flags = flags;
	r = check_desc(ms, &nd);
	if (r)
		return r;
	if (flags == s->d.flags)
		return MEMSLOT_OK;
	notify(ms, MEMSLOT_EV_FLAGS, &s->d, s->d.base_gfn, flags);
	if (!(flags & MEMSLOT_F_LOG_DIRTY))
		sbitmap_fini(&s->dirty);
	s->d.flags = flags;
	return MEMSLOT_OK;
}

int memslots_get(const struct memslots *ms, uint32_t id, struct memslot_desc *d)
{
	long i = find_id(ms, id);

	if (i < 0)
		return MEMSLOT_ENOENT;
	*d = ms->v[i]->d;
	return MEMSLOT_OK;
}

size_t memslots_count(const struct memslots *ms)
{
	return ms->n;
}

int memslots_at(const struct memslots *ms, size_t i, struct memslot_desc *d)
{
	if (i >= ms->n)
		return MEMSLOT_ENOENT;
	*d = ms->v[i]->d;
	return MEMSLOT_OK;
}

/*
 * Common lookup: finds the slot; for memory slots, the backing frame if
 * present. *run_out receives the run index.
 */
static int lookup(const struct memslots *ms, uint64_t gfn, struct slot **sp, uint64_t *hfn,
		  struct gfn_info *info)
{
	struct slot *s = find_gfn(ms, gfn);
	uint64_t rel, first;

	*sp = s;
	if (!s)
		return MEMSLOT_OUTSIDE;
	if (info)
		info->slot = s->d;
	if (s->d.flags & MEMSLOT_F_MMIO)
		return MEMSLOT_MMIO;
	rel = gfn - s->d.base_gfn;
	if (!u64map_get(&s->backing, rel >> s->d.backing_order, &first))
		return MEMSLOT_UNBACKED;
	*hfn = first + (rel & ((UINT64_C(1) << s->d.backing_order) - 1));
	if (info)
		info->hfn = *hfn;
	return MEMSLOT_OK;
}

int memslots_gfn_peek(const struct memslots *ms, uint64_t gfn, uint64_t *hfn, struct gfn_info *info)
{
	struct slot *s;
	uint64_t h = 0;
	int r = lookup(ms, gfn, &s, &h, info);

	if (r == MEMSLOT_OK && hfn)
		*hfn = h;
	return r;
}

int memslots_gfn_to_hfn(struct memslots *ms, uint64_t gfn, uint64_t *hfn, struct gfn_info *info)
{
	struct slot *s;
	uint64_t h = 0, first, rel;
	unsigned order;
	int r = lookup(ms, gfn, &s, &h, info);

	if (r == MEMSLOT_UNBACKED) {
		order = s->d.backing_order;
		rel = gfn - s->d.base_gfn;
		if (u64map_reserve(&s->backing, 1))
			return MEMSLOT_EHOST;
		r = frames_alloc_contig(ms->frames, order, &first);
		if (r == FRAMES_ENOMEM)
			return MEMSLOT_ENOMEM;
		if (r)
			return MEMSLOT_EHOST;
		(void)u64map_put(&s->backing, rel >> order, first);
		ms->backed_pages += UINT64_C(1) << order;
		h = first + (rel & ((UINT64_C(1) << order) - 1));
		if (info)
			info->hfn = h;
		r = MEMSLOT_OK;
	}
	if (r == MEMSLOT_OK && hfn)
		*hfn = h;
	return r;
}

bool memslots_gfn_readonly(const struct memslots *ms, uint64_t gfn)
{
	const struct slot *s = find_gfn(ms, gfn);

	return s && (s->d.flags & MEMSLOT_F_READONLY);
}

bool memslot_run_fits(const struct memslot_desc *slot, uint64_t gfn, unsigned order)
{
	uint64_t size, start;

	if (order > slot->backing_order || order >= 64)
		return false;
	size = UINT64_C(1) << order;
	start = gfn & ~(size - 1);
	return gfn - slot->base_gfn < slot->npages && start >= slot->base_gfn &&
	       start - slot->base_gfn + size <= slot->npages;
}

int memslots_mark_dirty(struct memslots *ms, uint64_t gfn)
{
	struct slot *s = find_gfn(ms, gfn);

	if (!s)
		return MEMSLOT_OUTSIDE;
	if (s->d.flags & MEMSLOT_F_MMIO)
		return MEMSLOT_MMIO;
	if ((s->d.flags & MEMSLOT_F_LOG_DIRTY) && sbitmap_set(&s->dirty, gfn - s->d.base_gfn) < 0)
		return MEMSLOT_EHOST;
	return MEMSLOT_OK;
}

/* The logging slot `id` with [first, first + n) inside it. */
static int dirty_slot(const struct memslots *ms, uint32_t id, uint64_t first, uint64_t n, struct slot **sp)
{
	long i = find_id(ms, id);
	struct slot *s;

	if (i < 0)
		return MEMSLOT_ENOENT;
	s = ms->v[i];
	if (!(s->d.flags & MEMSLOT_F_LOG_DIRTY))
		return MEMSLOT_EINVAL;
	if (first > s->d.npages || n > s->d.npages - first)
		return MEMSLOT_ERANGE;
	*sp = s;
	return MEMSLOT_OK;
}

int memslots_dirty_get(const struct memslots *ms, uint32_t id, uint64_t first, uint64_t n, uint64_t *bits)
{
	struct slot *s;
	int r = dirty_slot(ms, id, first, n, &s);

	if (r)
		return r;
	sbitmap_extract(&s->dirty, first, n, bits);
	return MEMSLOT_OK;
}

/*
 * Unlike the other events, DIRTY_CLEAR is delivered after the bits are
 * cleared: clearing part of a fully dirty chunk needs memory and may fail,
 * and a failed call must neither change nor announce anything.
 */
int memslots_dirty_clear(struct memslots *ms, uint32_t id, uint64_t first, uint64_t n)
{
	struct slot *s;
	int r;

	if (ms->busy)
		return MEMSLOT_EBUSY;
	r = dirty_slot(ms, id, first, n, &s);
	if (r)
		return r;
	if (sbitmap_next_set(&s->dirty, first, first + n) == first + n)
		return MEMSLOT_OK;
	if (sbitmap_clear_range(&s->dirty, first, n))
		return MEMSLOT_EHOST;
	{
		struct memslot_desc range = s->d;

		range.base_gfn += first;
		range.npages = n;
		notify(ms, MEMSLOT_EV_DIRTY_CLEAR, &range, range.base_gfn, s->d.flags);
	}
	return MEMSLOT_OK;
}

uint64_t memslots_dirty_count(const struct memslots *ms, uint32_t id)
{
	long i = find_id(ms, id);

	return i < 0 ? 0 : sbitmap_count(&ms->v[i]->dirty);
}

bool memslots_dirty_next(const struct memslots *ms, uint32_t id, uint64_t from, uint64_t *page)
{
	long i = find_id(ms, id);
	const struct slot *s;
	uint64_t p;

	if (i < 0)
		return false;
	s = ms->v[i];
	p = sbitmap_next_set(&s->dirty, from, s->d.npages);
	if (p >= s->d.npages)
		return false;
	*page = p;
	return true;
}

int memslots_notifier_add(struct memslots *ms, memslot_notify_fn fn, void *ctx)
{
	if (ms->busy)
		return MEMSLOT_EBUSY;
	if (ms->nn == ms->ncap) {
		size_t cap = ms->ncap ? ms->ncap * 2 : 4;
		struct notifier *v = realloc(ms->nts, cap * sizeof(*v));

		if (!v)
			return MEMSLOT_EHOST;
		ms->nts = v;
		ms->ncap = cap;
	}
	ms->nts[ms->nn] = (struct notifier){ .fn = fn, .ctx = ctx, .handle = ms->next_handle++ };
	return ms->nts[ms->nn++].handle;
}

int memslots_notifier_remove(struct memslots *ms, int handle)
{
	if (ms->busy)
		return MEMSLOT_EBUSY;
	for (size_t i = 0; i < ms->nn; i++) {
		if (ms->nts[i].handle == handle) {
			for (size_t k = i + 1; k < ms->nn; k++)
				ms->nts[k - 1] = ms->nts[k];
			ms->nn--;
			return MEMSLOT_OK;
		}
	}
	return MEMSLOT_ENOENT;
}

uint64_t memslots_backed_pages(const struct memslots *ms)
{
	return ms->backed_pages;
}

size_t memslots_meta_bytes(const struct memslots *ms)
{
	size_t b = sizeof(*ms) + ms->cap * sizeof(*ms->v) + ms->ncap * sizeof(*ms->nts);

	for (size_t i = 0; i < ms->n; i++) {
		const struct slot *s = ms->v[i];

		b += sizeof(*s) + u64map_bytes(&s->backing) + sbitmap_bytes(&s->dirty);
	}
	return b;
}

uint64_t memslots_gfn_limit(const struct memslots *ms)
{
	return ms->gfn_limit;
}
