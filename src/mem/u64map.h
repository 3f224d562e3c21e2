/*
 * u64map.h - a hash map from 64-bit keys to 64-bit values, the sparse
 * index used by the mem layer (gfn -> hfn backing of a slot, chunks of a
 * sparse bitmap).
 *
 * Memory rule (tests rely on it): an empty map holds no table. The first
 * insertion makes a table of 16 entries; an insertion that would bring the
 * count above 3/4 of the capacity doubles it first; a deletion that leaves
 * the count below 1/8 of a capacity above 16 halves it (if that fails, the
 * map keeps its table), and one that empties the map frees it. Each entry costs 16 bytes, so a map of n entries
 * built by insertions alone uses 16 * cap bytes, cap being the smallest
 * power of two >= 16 with n <= 3/4 cap.
 *
 * The key U64MAP_NO_KEY (all ones) cannot be stored.
 */
#ifndef NESTMMU_MEM_U64MAP_H
#define NESTMMU_MEM_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define U64MAP_NO_KEY UINT64_MAX

struct u64map_entry {
	uint64_t key; /* U64MAP_NO_KEY: empty */
	uint64_t val;
};

struct u64map {
	struct u64map_entry *tab;
	size_t cap;   /* 0 or a power of two >= 16 */
	size_t count;
	unsigned shift; /* 64 - log2(cap) */
};

/* An empty map (no allocation). A zeroed struct is also an empty map. */
void u64map_init(struct u64map *m);
/* Frees the table; the map is empty afterwards. */
void u64map_fini(struct u64map *m);

/* true and *val if present (val may be NULL). */
bool u64map_get(const struct u64map *m, uint64_t key, uint64_t *val);
/*
 * Inserts or replaces. 0 on success, -1 if the key is U64MAP_NO_KEY or the
 * host is out of memory (the map is then unchanged).
 */
int u64map_put(struct u64map *m, uint64_t key, uint64_t val);
/* Removes; true (and *val, if val is not NULL) if the key was present. Never fails. */
bool u64map_del(struct u64map *m, uint64_t key, uint64_t *val);
/*
 * Makes room so that `extra` further insertions of new keys cannot fail.
 * 0 on success, -1 if out of memory (the map is unchanged).
 */
int u64map_reserve(struct u64map *m, size_t extra);

static inline size_t u64map_count(const struct u64map *m)
{
	return m->count;
}

/* Bytes of host memory held by the table. */
static inline size_t u64map_bytes(const struct u64map *m)
{
	return m->cap * sizeof(struct u64map_entry);
}

/*
 * Iteration in table order (deterministic for a given history of calls):
 * start with *pos = 0; each call returns the next entry, false at the end.
 * The map must not be modified during an iteration.
 */
bool u64map_iter(const struct u64map *m, size_t *pos, uint64_t *key, uint64_t *val);

#endif
