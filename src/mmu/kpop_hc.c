/*
 * kpop_hc.c - the KPOP hypercalls that change mappings (kpop.h, part 1):
 * MAP, UNMAP, ZAP_RANGE, ZAP_ALL. Each reads its argument block from L1's
 * memory, validates the WHOLE request, then reserves everything that could
 * fail (host memory for the records, L1 backing frames, table pages), and
 * only then changes mappings - so an error always leaves the mappings,
 * records and references as they were.
 */
#include <stdlib.h>
#include <string.h>

#include "mem/guestmem.h"
#include "mmu/kpop_internal.h"

#define WORDS_MAP   (KPOP_MAP_DESC_SIZE / 8)
#define WORDS_UNMAP (KPOP_UNMAP_DESC_SIZE / 8)

/* Reads `n` words of L1 memory from gpa (8-aligned, checked by the caller). */
static int read_block(struct kpop *kp, uint64_t gpa, uint64_t *w, size_t n)
{
	struct guestmem gm = { .slots = kp->cfg.l1_slots, .port = kp->cfg.port };

	if (gpa > UINT64_MAX - (n * 8 - 1))
		return KPOP_EFAULT;
	for (size_t i = 0; i < n; i++) {
		enum mem_status s = MEM_RETRY;

		for (unsigned r = 0; r <= KPOP_PORT_RETRIES && s == MEM_RETRY; r++)
			s = guestmem_read(&gm, gpa + 8 * i, 8, &w[i]);
		if (s == MEM_RETRY)
			return KPOP_EAGAIN;
		if (s != MEM_OK)
			return KPOP_EFAULT;
	}
	return 0;
}

/* [gfn, gfn + n) within the L2 gfn space, n >= 1. */
static bool l2_range_ok(const struct kpop *kp, uint64_t gfn, uint64_t n)
{
	return n >= 1 && gfn < kp->l2_gfn_limit && n <= kp->l2_gfn_limit - gfn;
}

/* Every page of [gfn, gfn + n) is L1 RAM (in a slot, not MMIO). */
static bool l1_range_ram(const struct kpop *kp, uint64_t gfn, uint64_t n)
{
	uint64_t end;
	struct gfn_info info;

	if (gfn > UINT64_MAX - n)
		return false;
	end = gfn + n;
	while (gfn < end) {
		int r = memslots_gfn_peek(kp->cfg.l1_slots, gfn, NULL, &info);

		if (r != MEMSLOT_OK && r != MEMSLOT_UNBACKED)
			return false;
		if (info.slot.flags & MEMSLOT_F_MMIO)
			return false;
		gfn = info.slot.base_gfn + info.slot.npages;
	}
	return true;
}

static bool overlap(uint64_t a, uint64_t na, uint64_t b, uint64_t nb)
{
	return a < b + nb && b < a + na; /* both ranges checked not to wrap */
}

/* Checks count and alignment and reads the array (words_per descriptor words each). */
static int64_t read_descs(struct kpop *kp, uint64_t gpa, uint64_t count, unsigned words_per, uint64_t **out)
{
	uint64_t *w;
	int r;

	*out = NULL;
	if (count > KPOP_MAX_DESC)
		return KPOP_E2BIG;
	if (gpa & 7)
		return KPOP_EINVAL;
	w = malloc((size_t)count * words_per * sizeof(*w));
	if (!w)
		return KPOP_ENOMEM;
	r = read_block(kp, gpa, w, (size_t)count * words_per);
	if (r) {
		free(w);
		return r;
	}
	*out = w;
	return 0;
}

struct mreq {
	struct kpop_mmu *m;
	unsigned perms;
	uint64_t l2, l1, n;
	uint64_t fresh; /* pages of the descriptor not mapped yet */
};

static int64_t map_validate(struct kpop *kp, const uint64_t *w, uint64_t count, struct mreq *q)
{
	uint64_t total = 0, fresh = 0;

	for (uint64_t i = 0; i < count; i++) {
		const uint64_t *d = &w[i * WORDS_MAP];

		q[i].perms = (unsigned)(d[0] >> 32);
		q[i].l2 = d[1];
		q[i].l1 = d[2];
		q[i].n = d[3];
		if ((q[i].perms & ~KPOP_PERM_ALL) || !(q[i].perms & KPOP_PERM_R))
			return KPOP_EINVAL;
		q[i].m = kpop_mmu_get(kp, (uint32_t)d[0]);
		if (!q[i].m)
			return KPOP_ENOENT;
		if (q[i].n > KPOP_MAX_PAGES)
			return KPOP_E2BIG;
		if (!l2_range_ok(kp, q[i].l2, q[i].n))
			return KPOP_EINVAL;
		if (!l1_range_ram(kp, q[i].l1, q[i].n))
			return KPOP_EFAULT;
		total += q[i].n;
		if (total > KPOP_MAX_PAGES)
			return KPOP_E2BIG;
	}
	for (uint64_t i = 0; i < count; i++) {
		for (uint64_t j = i + 1; j < count; j++) {
			if (q[i].m == q[j].m && overlap(q[i].l2, q[i].n, q[j].l2, q[j].n))
				return KPOP_EINVAL;
		}
	}
	for (uint64_t i = 0; i < count; i++) {
		q[i].fresh = 0;
		for (uint64_t p = 0; p < q[i].n; p++)
			q[i].fresh += !kpop_rec_find(kp, q[i].m, q[i].l2 + p);
		fresh += q[i].fresh;
	}
	if (kp->rec_live + fresh > kp->cfg.max_pages)
		return KPOP_ENOSPC;
	return 0;
}

/* Everything that can fail, before any mapping changes. */
static int64_t map_reserve(struct kpop *kp, uint64_t count, const struct mreq *q)
{
	uint64_t fresh = 0, total = 0;

	for (uint64_t i = 0; i < count; i++)
		total += q[i].n;
	/* a replaced record moving to another L1 gfn inserts into the reverse map too */
	if (u64map_reserve(&kp->rmap, (size_t)total) != 0)
		return KPOP_ENOMEM;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t mine = 0;

		fresh += q[i].fresh;
		for (uint64_t j = 0; j < count; j++)
			mine += q[j].m == q[i].m ? q[j].fresh : 0;
		if (u64map_reserve(&q[i].m->rec, (size_t)mine) != 0)
			return KPOP_ENOMEM;
	}
	if (kpop_rec_reserve(kp, fresh) != 0)
		return KPOP_ENOMEM;
	/* L1's backing, allocated on first touch as any access of L1's would */
	for (uint64_t i = 0; i < count; i++) {
		for (uint64_t p = 0; p < q[i].n; p++) {
			if (memslots_gfn_to_hfn(kp->cfg.l1_slots, q[i].l1 + p, NULL, NULL) != MEMSLOT_OK)
				return KPOP_ENOMEM;
		}
	}
	return 0;
}

static uint64_t leaf_for(struct kpop *kp, uint64_t l1, unsigned perms)
{
	uint64_t hfn = 0;

	(void)memslots_gfn_peek(kp->cfg.l1_slots, l1, &hfn, NULL); /* backed by map_reserve */
	return kpt_leaf_make(kp, hfn, kpop_grant(kp, l1, perms));
}

/*
 * Installs the leaves, then the records. First the L2 gfns without a leaf
 * (they may need table pages: on failure those installed are removed again
 * and the MMUs' flush flags restored - no translation ever reached a TLB),
 * then the replacements (a 4 KiB leaf replaced in place allocates nothing).
 */
static int64_t map_apply(struct kpop *kp, uint64_t count, const struct mreq *q)
{
	uint64_t total = 0, k = 0;
	uint8_t *fresh;
	bool *flush;

	for (uint64_t i = 0; i < count; i++)
		total += q[i].n;
	fresh = calloc((size_t)total, 1);
	flush = calloc(kp->cfg.max_mmus, sizeof(*flush));
	if (!fresh || !flush) {
		free(fresh);
		free(flush);
		return KPOP_ENOMEM;
	}
	for (uint64_t i = 0; i < count; i++)
		flush[kpop_mmu_index(kp, q[i].m)] = kpop_flush_pending(kp, kpop_mmu_handle(kp, q[i].m));
	for (uint64_t i = 0; i < count; i++) {
		for (uint64_t p = 0; p < q[i].n; p++, k++) {
			if (kpt_get(kp, q[i].m, q[i].l2 + p))
				continue;
			if (kpt_set(kp, q[i].m, q[i].l2 + p, leaf_for(kp, q[i].l1 + p, q[i].perms)) != MEM_OK)
				goto undo;
			fresh[k] = 1;
		}
	}
	k = 0;
	for (uint64_t i = 0; i < count; i++) {
		for (uint64_t p = 0; p < q[i].n; p++, k++) {
			uint32_t idx = kpop_rec_find(kp, q[i].m, q[i].l2 + p);

			if (!fresh[k])
				(void)kpt_set(kp, q[i].m, q[i].l2 + p, leaf_for(kp, q[i].l1 + p, q[i].perms));
			if (idx)
				kpop_rec_update(kp, idx, q[i].l1 + p, q[i].perms);
			else
				(void)kpop_rec_add(kp, q[i].m, q[i].l2 + p, q[i].l1 + p, q[i].perms);
		}
	}
	free(fresh);
	free(flush);
	return 0;
undo:
	k = 0;
	for (uint64_t i = 0; i < count; i++) {
		for (uint64_t p = 0; p < q[i].n; p++, k++) {
			if (fresh[k])
				(void)kpt_set(kp, q[i].m, q[i].l2 + p, 0);
		}
	}
	for (uint64_t i = 0; i < count; i++) {
		if (!flush[kpop_mmu_index(kp, q[i].m)])
			(void)kpop_flush_take(kp, kpop_mmu_handle(kp, q[i].m));
	}
	free(fresh);
	free(flush);
	return KPOP_ENOMEM;
}

int64_t kpop_hc_map(struct kpop *kp, uint64_t gpa, uint64_t count)
{
	uint64_t *w, mapped = 0;
	struct mreq *q;
	int64_t r;

	if (count == 0)
		return 0;
	r = read_descs(kp, gpa, count, WORDS_MAP, &w);
	if (r)
		return r;
	q = calloc((size_t)count, sizeof(*q));
	if (!q) {
		free(w);
		return KPOP_ENOMEM;
	}
	r = map_validate(kp, w, count, q);
	if (!r)
		r = map_reserve(kp, count, q);
	if (!r)
		r = map_apply(kp, count, q);
	for (uint64_t i = 0; !r && i < count; i++)
		mapped += q[i].n;
	free(q);
	free(w);
	return r ? r : (int64_t)mapped;
}

int64_t kpop_hc_unmap(struct kpop *kp, uint64_t gpa, uint64_t count)
{
	uint64_t *w, total = 0, removed = 0;
	int64_t r;

	if (count == 0)
		return 0;
	r = read_descs(kp, gpa, count, WORDS_UNMAP, &w);
	if (r)
		return r;
	for (uint64_t i = 0; !r && i < count; i++) {
		const uint64_t *d = &w[i * WORDS_UNMAP];

		if (d[0] >> 32)
			r = KPOP_EINVAL;
		else if (!kpop_mmu_get(kp, (uint32_t)d[0]))
			r = KPOP_ENOENT;
		else if (d[2] > KPOP_MAX_PAGES)
			r = KPOP_E2BIG;
		else if (!l2_range_ok(kp, d[1], d[2]))
			r = KPOP_EINVAL;
		else if ((total += d[2]) > KPOP_MAX_PAGES)
			r = KPOP_E2BIG;
	}
	for (uint64_t i = 0; !r && i < count; i++) {
		const uint64_t *d = &w[i * WORDS_UNMAP];

		removed += kpop_unmap_range(kp, kpop_mmu_get(kp, (uint32_t)d[0]), d[1], d[2]);
	}
	free(w);
	return r ? r : (int64_t)removed;
}

int64_t kpop_hc_zap_range(struct kpop *kp, uint64_t l2_gfn, uint64_t npages)
{
	uint64_t removed = 0;

	if (!l2_range_ok(kp, l2_gfn, npages))
		return KPOP_EINVAL;
	for (unsigned i = 0; i < kp->cfg.max_mmus; i++) {
		if (kp->mmus[i].used)
			removed += kpop_unmap_range(kp, &kp->mmus[i], l2_gfn, npages);
	}
	return (int64_t)removed;
}

int64_t kpop_hc_zap_all(struct kpop *kp, uint64_t handle, uint64_t a1)
{
	struct kpop_mmu *m;
	uint64_t removed = 0;

	if (a1 != 0 || handle > UINT32_MAX)
		return KPOP_EINVAL;
	if (handle == KPOP_HANDLE_ALL) {
		for (unsigned i = 0; i < kp->cfg.max_mmus; i++) {
			if (kp->mmus[i].used)
				removed += kpop_unmap_all(kp, &kp->mmus[i]);
		}
		return (int64_t)removed;
	}
	m = kpop_mmu_get(kp, handle);
	if (!m)
		return KPOP_ENOENT;
	return (int64_t)kpop_unmap_all(kp, m);
}
