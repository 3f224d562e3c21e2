/*
 * kpop.c - KPOP, the L0 side (kpop.h): configuration, the table of guest
 * MMUs keyed by (holder, as_id) with references, the records of what L1
 * mapped and their reverse map by L1 gfn, hypercall dispatch, MMU load and
 * unload.
 */
#include <stdlib.h>
#include <string.h>

#include "arch/x86.h"
#include "mmu/kpop_internal.h"

const char *kpop_config_invalid(const struct kpop_config *cfg)
{
	unsigned max_bits;

	if (!cfg->port || !cfg->l1_slots)
		return "kpop: a memory port and L1's memory slots are required";
	if (cfg->kind != KPOP_EPT && cfg->kind != KPOP_NPT)
		return "kpop: kind must be EPT or NPT";
	if (cfg->levels != 4 && cfg->levels != 5)
		return "kpop: levels must be 4 or 5";
	if (cfg->maxphyaddr < 32 || cfg->maxphyaddr > 52)
		return "kpop: maxphyaddr must be between 32 and 52";
	if (cfg->kind == KPOP_NPT && cfg->ept_ad)
		return "kpop: ept_ad applies to EPT only";
	max_bits = cfg->levels == 5 ? 57 : 48;
	if (cfg->l2_gpa_bits < 13 || cfg->l2_gpa_bits > max_bits)
		return "kpop: l2_gpa_bits must be between 13 and the table's reach (48 or 57)";
	if (cfg->max_mmus < 1 || cfg->max_mmus > KPOP_MAX_MMUS)
		return "kpop: max_mmus must be between 1 and KPOP_MAX_MMUS";
	if (cfg->max_pages < 1 || cfg->max_pages > (UINT64_C(1) << 31))
		return "kpop: max_pages must be between 1 and 2^31";
	return NULL;
}

static void make_format(struct kpop *kp)
{
	const struct kpop_config *c = &kp->cfg;

	if (c->kind == KPOP_EPT) {
		struct ept_caps caps = { .walk5 = c->levels == 5, .ad = c->ept_ad };

		pt_format_ept(&kp->fmt, c->levels, c->maxphyaddr, &caps, c->ept_ad);
	} else {
		struct cpu_features host = { .gbpages = true, .la57 = true };
		uint64_t cr4 = CR4_PAE | (c->levels == 5 ? CR4_LA57 : 0);

		pt_format_x86(&kp->fmt, c->levels == 5 ? PAGING_5LEVEL : PAGING_4LEVEL, CPU_AMD, c->maxphyaddr,
			      &host, cr4, EFER_LME | EFER_LMA | EFER_NXE, false);
	}
}

struct kpop *kpop_create(const struct kpop_config *cfg, const char **why)
{
	const char *msg = kpop_config_invalid(cfg);
	struct kpop *kp;

	if (msg) {
		if (why)
			*why = msg;
		return NULL;
	}
	kp = calloc(1, sizeof(*kp));
	if (!kp)
		goto nomem;
	kp->cfg = *cfg;
	kp->mmus = calloc(cfg->max_mmus, sizeof(*kp->mmus));
	if (!kp->mmus)
		goto nomem;
	make_format(kp);
	kp->addr_mask = ((UINT64_C(1) << cfg->maxphyaddr) - 1) & ~UINT64_C(0xfff);
	kp->l2_gfn_limit = UINT64_C(1) << (cfg->l2_gpa_bits - 12);
	kp->notifier = memslots_notifier_add(cfg->l1_slots, kpop_slot_notify, kp);
	if (kp->notifier < 0) {
		if (why)
			*why = "kpop: cannot register the memslot notifier";
		free(kp->mmus);
		free(kp);
		return NULL;
	}
	return kp;
nomem:
	if (why)
		*why = "kpop: out of host memory";
	if (kp)
		free(kp->mmus);
	free(kp);
	return NULL;
}

static void mmu_free(struct kpop *kp, struct kpop_mmu *m)
{
	kpop_unmap_all(kp, m);
	kpt_free(kp, m, true);
	u64map_fini(&m->rec);
	m->used = false;
	m->refs = 0;
	kp->nmmus--;
}

void kpop_destroy(struct kpop *kp)
{
	if (!kp)
		return;
	for (unsigned i = 0; i < kp->cfg.max_mmus; i++) {
		if (kp->mmus[i].used)
			mmu_free(kp, &kp->mmus[i]);
	}
	memslots_notifier_remove(kp->cfg.l1_slots, kp->notifier);
	u64map_fini(&kp->rmap);
	u64map_fini(&kp->tracked);
	free(kp->recs);
	free(kp->mmus);
	free(kp);
}

const struct kpop_config *kpop_get_config(const struct kpop *kp)
{
	return &kp->cfg;
}

const struct kpop_stats *kpop_get_stats(const struct kpop *kp)
{
	return &kp->stats;
}

uint64_t kpop_tables_live(const struct kpop *kp)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < kp->cfg.max_mmus; i++) {
		if (kp->mmus[i].used)
			n += tdp_tables_live(kp->mmus[i].t);
	}
	return n;
}

/* ---- guest MMUs ---- */

struct kpop_mmu *kpop_mmu_get(const struct kpop *kp, uint64_t handle)
{
	unsigned idx = (unsigned)(handle & KPOP_HANDLE_IDX_MASK);
	uint64_t gen = handle >> KPOP_HANDLE_IDX_BITS;
	struct kpop_mmu *m;

	if (handle == 0 || handle > INT32_MAX || idx >= kp->cfg.max_mmus)
		return NULL;
	m = &kp->mmus[idx];
	return m->used && m->gen == gen ? m : NULL;
}

uint32_t kpop_mmu_handle(const struct kpop *kp, const struct kpop_mmu *m)
{
	return (m->gen << KPOP_HANDLE_IDX_BITS) | kpop_mmu_index(kp, m);
}

static struct kpop_mmu *mmu_find(const struct kpop *kp, uint64_t holder, uint64_t as_id)
{
	for (unsigned i = 0; i < kp->cfg.max_mmus; i++) {
		struct kpop_mmu *m = &kp->mmus[i];

		if (m->used && m->holder == holder && m->as_id == as_id)
			return m;
	}
	return NULL;
}

int64_t kpop_find(const struct kpop *kp, uint64_t holder, uint64_t as_id)
{
	struct kpop_mmu *m;

	if (as_id >= KPOP_MAX_AS)
		return KPOP_EINVAL;
	m = mmu_find(kp, holder, as_id);
	return m ? (int64_t)kpop_mmu_handle(kp, m) : KPOP_ENOENT;
}

bool kpop_handle_valid(const struct kpop *kp, uint64_t handle)
{
	return kpop_mmu_get(kp, handle) != NULL;
}

unsigned kpop_mmu_count(const struct kpop *kp)
{
	return kp->nmmus;
}

unsigned kpop_refs(const struct kpop *kp, uint64_t handle)
{
	struct kpop_mmu *m = kpop_mmu_get(kp, handle);

	return m ? m->refs : 0;
}

uint64_t kpop_root_pa(const struct kpop *kp, uint64_t handle)
{
	struct kpop_mmu *m = kpop_mmu_get(kp, handle);

	return m ? m->root : 0;
}

uint64_t kpop_root_eptp(const struct kpop *kp, uint64_t handle)
{
	struct kpop_mmu *m = kpop_mmu_get(kp, handle);

	if (!m)
		return 0;
	return kp->cfg.kind == KPOP_EPT ? tdp_root_eptp(m->t) : m->root;
}

bool kpop_hw_program(const struct kpop *kp, uint64_t handle, struct hw_config *cfg)
{
	struct kpop_mmu *m = kpop_mmu_get(kp, handle);

	if (!m)
		return false;
	tdp_hw_program(m->t, cfg);
	return true;
}

void kpop_request_flush(struct kpop *kp, struct kpop_mmu *m)
{
	if (!m->flush)
		kp->stats.flush_requests++;
	m->flush = true;
}

bool kpop_flush_take(struct kpop *kp, uint64_t handle)
{
	struct kpop_mmu *m = kpop_mmu_get(kp, handle);
	bool f;

	if (!m)
		return false;
	f = tdp_flush_take(m->t) || m->flush;
	m->flush = false;
	return f;
}

bool kpop_flush_pending(const struct kpop *kp, uint64_t handle)
{
	struct kpop_mmu *m = kpop_mmu_get(kp, handle);

	return m && (m->flush || tdp_flush_pending(m->t));
}

static int64_t hc_load(struct kpop *kp, uint64_t holder, uint64_t as_id)
{
	struct kpop_mmu *m;
	unsigned i;

	if (as_id >= KPOP_MAX_AS)
		return KPOP_EINVAL;
	m = mmu_find(kp, holder, as_id);
	if (m) {
		if (m->refs >= KPOP_MAX_REFS)
			return KPOP_EOVERFLOW;
		m->refs++;
		return kpop_mmu_handle(kp, m);
	}
	for (i = 0; i < kp->cfg.max_mmus && kp->mmus[i].used; i++)
		;
	if (i == kp->cfg.max_mmus)
		return KPOP_ENOSPC;
	m = &kp->mmus[i];
	if (kpt_create(kp, m) != MEM_OK)
		return KPOP_ENOMEM;
	/* a new generation: handles of the MMU that used this entry before stay invalid */
	m->gen = m->gen >= KPOP_HANDLE_GEN_MAX ? 1 : m->gen + 1;
	m->used = true;
	m->holder = holder;
	m->as_id = (uint32_t)as_id;
	m->refs = 1;
	m->flush = false;
	u64map_init(&m->rec);
	kp->nmmus++;
	return kpop_mmu_handle(kp, m);
}

static int64_t hc_unload(struct kpop *kp, uint64_t holder, uint64_t as_id)
{
	struct kpop_mmu *m;

	if (as_id >= KPOP_MAX_AS)
		return KPOP_EINVAL;
	m = mmu_find(kp, holder, as_id);
	if (!m)
		return KPOP_ENOENT;
	if (--m->refs == 0)
		mmu_free(kp, m);
	return m->refs;
}

int64_t kpop_hypercall(struct kpop *kp, unsigned nr, uint64_t a0, uint64_t a1)
{
	int64_t r;

	kp->stats.hypercalls++;
	switch (nr) {
	case KPOP_HC_MMU_LOAD: r = hc_load(kp, a0, a1); break;
	case KPOP_HC_MMU_UNLOAD: r = hc_unload(kp, a0, a1); break;
	case KPOP_HC_MAP: r = kpop_hc_map(kp, a0, a1); break;
	case KPOP_HC_UNMAP: r = kpop_hc_unmap(kp, a0, a1); break;
	case KPOP_HC_ZAP_RANGE: r = kpop_hc_zap_range(kp, a0, a1); break;
	case KPOP_HC_ZAP_ALL: r = kpop_hc_zap_all(kp, a0, a1); break;
	default: r = KPOP_ENOSYS; break;
	}
	if (r < 0)
		kp->stats.hc_errors++;
	return r;
}

/* ---- records and the reverse map ---- */

int kpop_rec_reserve(struct kpop *kp, uint64_t extra)
{
	uint64_t have = kp->rec_cap > 0 ? kp->rec_cap - 1 - kp->rec_live : 0;
	uint64_t cap;
	struct kpop_rec *n;

	if (u64map_reserve(&kp->rmap, (size_t)extra) != 0)
		return -1;
	if (extra <= have)
		return 0;
	cap = kp->rec_cap ? kp->rec_cap : 64;
	while (cap - 1 - kp->rec_live < extra)
		cap *= 2;
	if (cap > UINT32_MAX)
		return -1;
	n = realloc(kp->recs, (size_t)cap * sizeof(*n));
	if (!n)
		return -1;
	memset(n + kp->rec_cap, 0, (size_t)(cap - kp->rec_cap) * sizeof(*n));
	/* chain the new entries onto the free list (entry 0 is never used) */
	for (uint64_t i = cap - 1; i >= (kp->rec_cap ? kp->rec_cap : 1); i--) {
		n[i].next = kp->rec_free;
		kp->rec_free = (uint32_t)i;
	}
	kp->recs = n;
	kp->rec_cap = (uint32_t)cap;
	return 0;
}

static void rmap_link(struct kpop *kp, uint32_t idx)
{
	struct kpop_rec *r = &kp->recs[idx];
	uint64_t head = 0;

	(void)u64map_get(&kp->rmap, r->l1_gfn, &head);
	r->prev = 0;
	r->next = (uint32_t)head;
	if (head)
		kp->recs[head].prev = idx;
	(void)u64map_put(&kp->rmap, r->l1_gfn, idx); /* room reserved */
}

static void rmap_unlink(struct kpop *kp, uint32_t idx)
{
	struct kpop_rec *r = &kp->recs[idx];

	if (r->prev)
		kp->recs[r->prev].next = r->next;
	else if (r->next)
		(void)u64map_put(&kp->rmap, r->l1_gfn, r->next); /* replaces: cannot fail */
	else
		(void)u64map_del(&kp->rmap, r->l1_gfn, NULL);
	if (r->next)
		kp->recs[r->next].prev = r->prev;
	r->prev = r->next = 0;
}

uint32_t kpop_rec_add(struct kpop *kp, struct kpop_mmu *m, uint64_t l2_gfn, uint64_t l1_gfn, unsigned perms)
{
	uint32_t idx = kp->rec_free;
	struct kpop_rec *r = &kp->recs[idx];

	kp->rec_free = r->next;
	*r = (struct kpop_rec){ .l2_gfn = l2_gfn, .l1_gfn = l1_gfn, .mmu = (uint16_t)kpop_mmu_index(kp, m),
				.perms = (uint8_t)perms };
	rmap_link(kp, idx);
	(void)u64map_put(&m->rec, l2_gfn, idx); /* room reserved by the caller */
	kp->rec_live++;
	return idx;
}

void kpop_rec_update(struct kpop *kp, uint32_t idx, uint64_t l1_gfn, unsigned perms)
{
	struct kpop_rec *r = &kp->recs[idx];

	if (r->l1_gfn != l1_gfn) {
		rmap_unlink(kp, idx);
		r->l1_gfn = l1_gfn;
		rmap_link(kp, idx);
	}
	r->perms = (uint8_t)perms;
}

/* Frees a record's entry and reverse-map link, leaving the MMU's map to the caller. */
static void rec_release(struct kpop *kp, uint32_t idx)
{
	struct kpop_rec *r = &kp->recs[idx];

	rmap_unlink(kp, idx);
	memset(r, 0, sizeof(*r));
	r->next = kp->rec_free;
	kp->rec_free = idx;
	kp->rec_live--;
}

void kpop_rec_del(struct kpop *kp, uint32_t idx)
{
	(void)u64map_del(&kp->mmus[kp->recs[idx].mmu].rec, kp->recs[idx].l2_gfn, NULL);
	rec_release(kp, idx);
}

uint32_t kpop_rec_find(const struct kpop *kp, const struct kpop_mmu *m, uint64_t l2_gfn)
{
	uint64_t idx = 0;

	(void)kp;
	return u64map_get(&m->rec, l2_gfn, &idx) ? (uint32_t)idx : 0;
}

bool kpop_unmap_one(struct kpop *kp, struct kpop_mmu *m, uint64_t l2_gfn)
{
	uint32_t idx = kpop_rec_find(kp, m, l2_gfn);

	if (!idx)
		return false;
	(void)kpt_set(kp, m, l2_gfn, 0); /* removing never allocates */
	kpop_rec_del(kp, idx);
	return true;
}

uint64_t kpop_unmap_all(struct kpop *kp, struct kpop_mmu *m)
{
	uint64_t n = u64map_count(&m->rec), key, val;
	size_t pos = 0;

	/* the records, then the tables at once */
	while (u64map_iter(&m->rec, &pos, &key, &val))
		rec_release(kp, (uint32_t)val);
	u64map_fini(&m->rec);
	kpt_free(kp, m, false);
	if (n)
		kpop_request_flush(kp, m);
	return n;
}

uint64_t kpop_unmap_range(struct kpop *kp, struct kpop_mmu *m, uint64_t l2_gfn, uint64_t n)
{
	uint64_t removed = 0, key, val, *keys, k = 0;
	size_t pos = 0;

	if (n <= u64map_count(&m->rec)) {
		for (uint64_t i = 0; i < n; i++)
			removed += kpop_unmap_one(kp, m, l2_gfn + i);
		return removed;
	}
	/* a range larger than what is mapped: go by the records */
	keys = malloc((u64map_count(&m->rec) + 1) * sizeof(*keys));
	if (!keys) {
		/* no room for the list: one record at a time (slow, but nothing is skipped) */
		for (bool found = true; found;) {
			found = false;
			pos = 0;
			while (u64map_iter(&m->rec, &pos, &key, &val)) {
				if (key >= l2_gfn && key - l2_gfn < n) {
					found = true;
					break;
				}
			}
			if (found)
				removed += kpop_unmap_one(kp, m, key);
		}
		return removed;
	}
	while (u64map_iter(&m->rec, &pos, &key, &val)) {
		if (key >= l2_gfn && key - l2_gfn < n)
			keys[k++] = key;
	}
	for (uint64_t i = 0; i < k; i++)
		removed += kpop_unmap_one(kp, m, keys[i]);
	free(keys);
	return removed;
}

uint64_t kpop_mapped_pages(const struct kpop *kp, uint64_t handle)
{
	struct kpop_mmu *m;

	if (handle == KPOP_HANDLE_ALL)
		return kp->rec_live;
	m = kpop_mmu_get(kp, handle);
	return m ? u64map_count(&m->rec) : 0;
}

bool kpop_lookup(const struct kpop *kp, uint64_t handle, uint64_t l2_gfn, uint64_t *l1_gfn, unsigned *perms)
{
	struct kpop_mmu *m = kpop_mmu_get(kp, handle);
	uint32_t idx = m ? kpop_rec_find(kp, m, l2_gfn) : 0;

	if (!idx)
		return false;
	if (l1_gfn)
		*l1_gfn = kp->recs[idx].l1_gfn;
	if (perms)
		*perms = kp->recs[idx].perms;
	return true;
}
