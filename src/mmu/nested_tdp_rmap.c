/*
 * nested_tdp_rmap.c - what nested TDP remembers to keep EPT02 in sync with
 * EPT12 (rules in nested_tdp.h):
 *   - positions: where each EPT12 table page was reached by a walk that
 *     installed an EPT02 leaf, (root, level, first gpa2) -> table gfn1, and
 *     per table page its set of positions. A page with a position is
 *     write-tracked (EPT01 and/or the owner's callback);
 *   - leaves: per L1 gfn (and leaf size), the EPT02 leaves installed over
 *     it, so a page that becomes a table loses every L2 mapping of it. The
 *     records are hints, checked against the EPT02 contents when used, so a
 *     leaf zapped since (or a root replaced) is harmless;
 *   - the EPT12 store: written to L1's memory, then the span of the written
 *     entry zapped in every root where the page is a table.
 */
#include <stdlib.h>
#include <string.h>

#include "mmu/nested_tdp_int.h"

/* ---- the multimap ---- */

void ntdp_mm_init(struct ntdp_mm *m)
{
	memset(m, 0, sizeof(*m));
	u64map_init(&m->heads);
}

void ntdp_mm_fini(struct ntdp_mm *m)
{
	u64map_fini(&m->heads);
	free(m->nodes);
	memset(m, 0, sizeof(*m));
}

static uint32_t mm_head(const struct ntdp_mm *m, uint64_t key)
{
	uint64_t h = 0;

	(void)u64map_get(&m->heads, key, &h);
	return (uint32_t)h;
}

int ntdp_mm_add(struct ntdp_mm *m, uint64_t key, uint64_t val)
{
	uint32_t head = mm_head(m, key), i;

	for (i = head; i; i = m->nodes[i - 1].next) {
		if (m->nodes[i - 1].val == val)
			return 0;
	}
	if (!head && u64map_reserve(&m->heads, 1))
		return -1;
	if (m->free) {
		i = m->free;
		m->free = m->nodes[i - 1].next;
	} else {
		if (m->used == m->cap) {
			uint32_t ncap = m->cap ? 2 * m->cap : 64;
			struct ntdp_mm_node *nn = realloc(m->nodes, ncap * sizeof(*nn));

			if (!nn)
				return -1;
			m->nodes = nn;
			m->cap = ncap;
		}
		i = ++m->used;
	}
	m->nodes[i - 1] = (struct ntdp_mm_node){ .val = val, .next = head };
	(void)u64map_put(&m->heads, key, i); /* reserved or replacing: cannot fail */
	m->count++;
	return 0;
}

bool ntdp_mm_del(struct ntdp_mm *m, uint64_t key, uint64_t val)
{
	uint32_t prev = 0, i = mm_head(m, key);

	for (; i; prev = i, i = m->nodes[i - 1].next) {
		if (m->nodes[i - 1].val != val)
			continue;
		if (prev)
			m->nodes[prev - 1].next = m->nodes[i - 1].next;
		else if (m->nodes[i - 1].next)
			(void)u64map_put(&m->heads, key, m->nodes[i - 1].next);
		else
			(void)u64map_del(&m->heads, key, NULL);
		m->nodes[i - 1].next = m->free;
		m->free = i;
		m->count--;
		return true;
	}
	return false;
}

bool ntdp_mm_has(const struct ntdp_mm *m, uint64_t key)
{
	return u64map_get(&m->heads, key, NULL);
}

unsigned ntdp_mm_get(const struct ntdp_mm *m, uint64_t key, uint64_t *out, unsigned cap)
{
	unsigned n = 0;

	for (uint32_t i = mm_head(m, key); i; i = m->nodes[i - 1].next) {
		if (n < cap)
			out[n] = m->nodes[i - 1].val;
		n++;
	}
	return n;
}

void ntdp_mm_del_key(struct ntdp_mm *m, uint64_t key)
{
	uint32_t i = mm_head(m, key);

	while (i) {
		uint32_t next = m->nodes[i - 1].next;

		m->nodes[i - 1].next = m->free;
		m->free = i;
		m->count--;
		i = next;
	}
	(void)u64map_del(&m->heads, key, NULL);
}

/* A set's values in a fresh array (*cnt of them); NULL if empty or out of memory. */
static uint64_t *mm_copy(const struct ntdp_mm *m, uint64_t key, unsigned *cnt)
{
	unsigned c = ntdp_mm_get(m, key, NULL, 0);
	uint64_t *v;

	*cnt = 0;
	if (!c || !(v = malloc(c * sizeof(*v))))
		return NULL;
	*cnt = ntdp_mm_get(m, key, v, c);
	return v;
}

/* ---- tracking ---- */

static void region_add(struct u64map *m, uint64_t key, int delta)
{
	uint64_t c = 0;

	(void)u64map_get(m, key, &c);
	c = (uint64_t)((int64_t)c + delta);
	if (c)
		(void)u64map_put(m, key, c);
	else
		(void)u64map_del(m, key, NULL);
}

bool ntdp_table_free_range(const struct ntdp *n, uint64_t gfn1, unsigned level)
{
	switch (level) {
	case 1:
		return !ntdp_mm_has(&n->tables, gfn1);
	case 2:
		return !u64map_get(&n->r2m, gfn1 >> 9, NULL);
	case 3:
		return !u64map_get(&n->r1g, gfn1 >> 18, NULL);
	default:
		return n->tables.count == 0;
	}
}

bool ntdp_is_table(const struct ntdp *n, uint64_t gfn1)
{
	return ntdp_mm_has(&n->tables, gfn1);
}

/* Zaps every EPT02 leaf that maps gfn1 (the page just became a table). */
static void zap_leaves_of(struct ntdp *n, uint64_t gfn1)
{
	for (unsigned level = 1; level <= 3; level++) {
		uint64_t pages = ntdp_level_pages(level), base1 = gfn1 & ~(pages - 1), hfn;
		uint64_t key = (base1 << 2) | (level - 1);
		unsigned cnt;
		uint64_t *v = mm_copy(&n->leaves, key, &cnt);

		if (memslots_gfn_peek(n->cfg.l1_slots, base1, &hfn, NULL) == MEMSLOT_OK) {
			for (unsigned i = 0; i < cnt; i++) {
				unsigned root = (unsigned)(v[i] >> NTDP_LEAF_ROOT_SHIFT);
				uint64_t gfn2 = v[i] & ((UINT64_C(1) << NTDP_LEAF_ROOT_SHIFT) - 1);
				struct tdp_mapping m;

				if (!n->roots[root].used || !tdp_lookup(n->roots[root].t, gfn2, &m) ||
				    m.level != level || m.gfn != gfn2 || m.hfn != hfn)
					continue; /* a stale record */
				ntdp_root_zap(n, root, gfn2, pages);
				n->stats.data_zaps++;
			}
		}
		free(v);
		ntdp_mm_del_key(&n->leaves, key);
	}
}

static void track(struct ntdp *n, uint64_t gfn1, bool on)
{
	region_add(&n->r2m, gfn1 >> 9, on ? 1 : -1);
	region_add(&n->r1g, gfn1 >> 18, on ? 1 : -1);
	if (on)
		n->stats.tables_tracked++;
	else
		n->stats.tables_untracked++;
	if (n->cfg.ept01)
		(void)tdp_track_write(n->cfg.ept01, gfn1, on);
	if (n->cfg.track)
		n->cfg.track(n->cfg.track_ctx, gfn1, on);
	if (on)
		zap_leaves_of(n, gfn1);
}

void ntdp_leaf_add(struct ntdp *n, unsigned root, uint64_t gfn2, uint64_t gfn1, unsigned level)
{
	/* Out of host memory: the record is lost; only the (rare) aliasing of a
	 * table page by L2 would then go unnoticed. */
	(void)ntdp_mm_add(&n->leaves, (gfn1 << 2) | (level - 1),
			  ((uint64_t)root << NTDP_LEAF_ROOT_SHIFT) | gfn2);
}

/* ---- positions ---- */

static void pos_remove_one(struct ntdp *n, uint64_t key)
{
	uint64_t gfn1;

	if (!u64map_del(&n->pos, key, &gfn1))
		return;
	(void)ntdp_mm_del(&n->tables, gfn1, key);
	if (!ntdp_mm_has(&n->tables, gfn1))
		track(n, gfn1, false);
}

void ntdp_pos_remove_tree(struct ntdp *n, unsigned root, unsigned level, uint64_t gfn2)
{
	uint64_t key = ntdp_pos_key(root, level, gfn2);

	if (!u64map_get(&n->pos, key, NULL))
		return;
	pos_remove_one(n, key);
	if (level == 1)
		return;
	for (unsigned j = 0; j < 512; j++)
		ntdp_pos_remove_tree(n, root, level - 1, gfn2 + j * ntdp_level_pages(level));
}

int ntdp_pos_add(struct ntdp *n, unsigned root, unsigned level, uint64_t gfn2, uint64_t gfn1)
{
	uint64_t key = ntdp_pos_key(root, level, gfn2), old;
	bool first;

	if (u64map_get(&n->pos, key, &old)) {
		if (old == gfn1)
			return NTDP_OK;
		ntdp_pos_remove_tree(n, root, level, gfn2); /* stale: forget what hung below */
	}
	if (u64map_reserve(&n->pos, 1))
		return NTDP_ENOMEM;
	first = !ntdp_mm_has(&n->tables, gfn1);
	if (ntdp_mm_add(&n->tables, gfn1, key))
		return NTDP_ENOMEM;
	(void)u64map_put(&n->pos, key, gfn1);
	if (first)
		track(n, gfn1, true);
	return NTDP_OK;
}

/* The keys of every position of `root` (all if root < 0), in a fresh array. */
static uint64_t *pos_keys(const struct ntdp *n, int root, size_t *cnt)
{
	size_t it = 0, c = 0;
	uint64_t key, val;
	uint64_t *v = malloc((u64map_count(&n->pos) + 1) * sizeof(*v));

	*cnt = 0;
	if (!v)
		return NULL;
	while (u64map_iter(&n->pos, &it, &key, &val)) {
		if (root < 0 || (int)((key >> 3) & 63) == root)
			v[c++] = key;
	}
	*cnt = c;
	return v;
}

void ntdp_pos_remove_root(struct ntdp *n, unsigned root)
{
	size_t c;
	uint64_t *v = pos_keys(n, (int)root, &c);

	for (size_t i = 0; i < c; i++)
		pos_remove_one(n, v[i]);
	free(v);
}

void ntdp_rmap_reset(struct ntdp *n)
{
	size_t c;
	uint64_t *v = pos_keys(n, -1, &c);

	for (size_t i = 0; i < c; i++)
		pos_remove_one(n, v[i]);
	free(v);
	ntdp_mm_fini(&n->leaves);
	ntdp_mm_init(&n->leaves);
}

/* ---- L1's stores to its EPT12 ---- */

static int from_mem(enum mem_status s)
{
	if (s == MEM_OK)
		return NTDP_OK;
	return s == MEM_NOMEM ? NTDP_ENOMEM : NTDP_EMEM;
}

static enum mem_status l1_read(struct ntdp *n, uint64_t gpa1, uint64_t *val)
{
	enum mem_status s = MEM_RETRY;

	for (unsigned i = 0; i <= MEM_PORT_PMEM_RETRIES && s == MEM_RETRY; i++)
		s = guestmem_read(&n->l1mem, gpa1, 8, val);
	return s;
}

int ntdp_ept12_write(struct ntdp *n, uint64_t gpa1, unsigned size, uint64_t val)
{
	uint64_t word = gpa1 & ~UINT64_C(7), gfn1 = gpa1 >> 12, old, new, *v;
	unsigned idx = (unsigned)((word & 0xfff) >> 3), cnt;
	enum mem_status s;

	if ((size != 4 && size != 8) || (gpa1 & (size - 1)))
		return NTDP_EINVAL;
	s = l1_read(n, word, &old);
	if (s != MEM_OK)
		return from_mem(s);
	s = MEM_RETRY;
	for (unsigned i = 0; i <= MEM_PORT_PMEM_RETRIES && s == MEM_RETRY; i++)
		s = guestmem_write(&n->l1mem, gpa1, size, val);
	if (s != MEM_OK)
		return from_mem(s);
	n->stats.ept12_writes++;
	s = l1_read(n, word, &new);
	if (s != MEM_OK)
		return from_mem(s);
	if (old == new || !ntdp_mm_has(&n->tables, gfn1))
		return NTDP_OK;
	n->stats.ept12_writes_zapping++;
	v = mm_copy(&n->tables, gfn1, &cnt);
	if (!v) {
		ntdp_zap_all(n); /* out of host memory: drop everything, still exact */
		return NTDP_OK;
	}
	for (unsigned i = 0; i < cnt; i++) {
		uint64_t g, base = v[i] & ~UINT64_C(511), span, child;
		unsigned root = (unsigned)((v[i] >> 3) & 63), level = (unsigned)(v[i] & 7);

		if (!u64map_get(&n->pos, v[i], &g) || g != gfn1)
			continue; /* forgot while handling an earlier position (a loop) */
		span = ntdp_level_pages(level);
		child = base + idx * span;
		ntdp_root_zap(n, root, child, span);
		if (level > 1)
			ntdp_pos_remove_tree(n, root, level - 1, child);
	}
	free(v);
	return NTDP_OK;
}
