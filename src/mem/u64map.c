/*
 * u64map.c - open addressing with linear probing.
 *
 * Algorithm: the home slot of a key is the top log2(cap) bits of
 * key * 2^64/phi (Fibonacci hashing, which spreads consecutive keys such as
 * neighbouring frame numbers). A lookup probes from the home slot forward
 * (wrapping) until it finds the key or an empty slot. Invariant: every key
 * lies at or after its home slot with no empty slot in between.
 *
 * Deletion keeps that invariant without tombstones (backward shift): after
 * emptying slot i, walk j = i+1, i+2, ... up to the next empty slot; an
 * entry at j whose home h is not cyclically inside (i, j] can move back to
 * i, which then becomes the hole, and the walk goes on.
 */
#include "mem/u64map.h"

#include <stdlib.h>

#define U64MAP_MIN_CAP 16u

static size_t home_slot(const struct u64map *m, uint64_t key)
{
	return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> m->shift);
}

static unsigned log2_size(size_t n)
{
	unsigned l = 0;

	while (((size_t)1 << l) < n)
		l++;
	return l;
}

void u64map_init(struct u64map *m)
{
	m->tab = NULL;
	m->cap = 0;
	m->count = 0;
	m->shift = 64;
}

void u64map_fini(struct u64map *m)
{
	free(m->tab);
	u64map_init(m);
}

/* Slot holding `key`, or the empty slot where it would go. Requires cap > 0. */
static size_t find_slot(const struct u64map *m, uint64_t key)
{
	size_t mask = m->cap - 1;
	size_t i = home_slot(m, key);

	while (m->tab[i].key != key && m->tab[i].key != U64MAP_NO_KEY)
		i = (i + 1) & mask;
	return i;
}

/* Rehashes into a table of `cap` entries. 0, or -1 (map unchanged). */
static int rehash(struct u64map *m, size_t cap)
{
	struct u64map old = *m;
	struct u64map_entry *t = malloc(cap * sizeof(*t));

	if (!t)
		return -1;
	for (size_t i = 0; i < cap; i++)
		t[i].key = U64MAP_NO_KEY;
	m->tab = t;
	m->cap = cap;
	m->shift = 64 - log2_size(cap);
	for (size_t i = 0; i < old.cap; i++) {
		if (old.tab[i].key != U64MAP_NO_KEY)
			m->tab[find_slot(m, old.tab[i].key)] = old.tab[i];
	}
	free(old.tab);
	return 0;
}

/* Capacity needed to hold n entries under the 3/4 load rule. */
static size_t cap_for(size_t cur, size_t n)
{
	size_t cap = cur ? cur : U64MAP_MIN_CAP;

	while (n > cap / 4 * 3)
		cap *= 2;
	return cap;
}

int u64map_reserve(struct u64map *m, size_t extra)
{
	size_t cap = cap_for(m->cap, m->count + extra);

	if (cap == m->cap)
		return 0;
	return rehash(m, cap);
}

bool u64map_get(const struct u64map *m, uint64_t key, uint64_t *val)
{
	size_t i;

	if (m->cap == 0 || key == U64MAP_NO_KEY)
		return false;
	i = find_slot(m, key);
	if (m->tab[i].key != key)
		return false;
	if (val)
		*val = m->tab[i].val;
	return true;
}

int u64map_put(struct u64map *m, uint64_t key, uint64_t val)
{
	size_t i;

	if (key == U64MAP_NO_KEY)
		return -1;
	if (m->cap) {
		i = find_slot(m, key);
		if (m->tab[i].key == key) {
			m->tab[i].val = val;
			return 0;
		}
	}
	if (u64map_reserve(m, 1))
		return -1;
	i = find_slot(m, key);
	m->tab[i].key = key;
	m->tab[i].val = val;
	m->count++;
	return 0;
}

/* true if slot h lies cyclically in (i, j]. */
static bool cyclic_between(size_t i, size_t h, size_t j)
{
	if (i <= j)
		return i < h && h <= j;
	return i < h || h <= j;
}

bool u64map_del(struct u64map *m, uint64_t key, uint64_t *val)
{
	size_t mask, i, j;

	if (m->cap == 0 || key == U64MAP_NO_KEY)
		return false;
	i = find_slot(m, key);
	if (m->tab[i].key != key)
		return false;
	if (val)
		*val = m->tab[i].val;
	mask = m->cap - 1;
	m->tab[i].key = U64MAP_NO_KEY;
	for (j = (i + 1) & mask; m->tab[j].key != U64MAP_NO_KEY; j = (j + 1) & mask) {
		size_t h = home_slot(m, m->tab[j].key);

		if (cyclic_between(i, h, j))
			continue; /* its probe path does not cross the hole */
		m->tab[i] = m->tab[j];
		m->tab[j].key = U64MAP_NO_KEY;
		i = j;
	}
	m->count--;
	if (m->count == 0) {
		u64map_fini(m);
	} else if (m->cap > U64MAP_MIN_CAP && m->count < m->cap / 8) {
		(void)rehash(m, m->cap / 2); /* on failure keep the bigger table */
	}
	return true;
}

bool u64map_iter(const struct u64map *m, size_t *pos, uint64_t *key, uint64_t *val)
{
	for (size_t i = *pos; i < m->cap; i++) {
		if (m->tab[i].key != U64MAP_NO_KEY) {
			*key = m->tab[i].key;
			*val = m->tab[i].val;
			*pos = i + 1;
			return true;
		}
	}
	*pos = m->cap;
	return false;
}
