/*
 * sbitmap.h - a sparse bitmap over the whole 64-bit index space: the frame
 * allocator's "allocated" bits and a memory slot's dirty log.
 *
 * Memory rule: bits live in chunks of 32768 (4 KiB of bits). A chunk with
 * no bit set costs nothing; a chunk with every bit set costs only its map
 * entry; any other chunk costs 4 KiB plus its map entry (see u64map.h).
 * So a bitmap over a 1 TiB guest (2^28 pages) with k bits set costs at most
 * about min(k, 8192) * 4 KiB, never 32 MiB up front.
 *
 * Ranges are [first, first + n) and must not wrap around 2^64.
 */
#ifndef NESTMMU_MEM_SBITMAP_H
#define NESTMMU_MEM_SBITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/u64map.h"

#define SBITMAP_CHUNK_SHIFT 15
#define SBITMAP_CHUNK_BITS  (UINT64_C(1) << SBITMAP_CHUNK_SHIFT)

struct sbitmap {
	struct u64map chunks; /* chunk index -> storage pointer, or "full" */
	uint64_t count;       /* bits set */
	size_t stored;        /* chunks with 4 KiB of storage */
};

void sbitmap_init(struct sbitmap *sb);
void sbitmap_fini(struct sbitmap *sb);

bool sbitmap_test(const struct sbitmap *sb, uint64_t bit);
/* 1 if the bit was clear (now set), 0 if already set, -1 out of host memory (unchanged). */
int sbitmap_set(struct sbitmap *sb, uint64_t bit);
/* 1 if the bit was set (now clear), 0 if already clear, -1 out of host memory (unchanged). */
int sbitmap_clear(struct sbitmap *sb, uint64_t bit);
/* All bits of the range set / cleared. 0, or -1 out of host memory or bad range (unchanged). */
int sbitmap_set_range(struct sbitmap *sb, uint64_t first, uint64_t n);
int sbitmap_clear_range(struct sbitmap *sb, uint64_t first, uint64_t n);

/* The lowest set / clear bit in [from, end), or `end` if none. */
uint64_t sbitmap_next_set(const struct sbitmap *sb, uint64_t from, uint64_t end);
uint64_t sbitmap_next_clear(const struct sbitmap *sb, uint64_t from, uint64_t end);

/* Copies bits [first, first + n) to out[]: bit i of the range is bit i%64 of out[i/64]. */
void sbitmap_extract(const struct sbitmap *sb, uint64_t first, uint64_t n, uint64_t *out);

static inline uint64_t sbitmap_count(const struct sbitmap *sb)
{
	return sb->count;
}

/* Bytes of host memory held (chunk storage and the chunk map). */
size_t sbitmap_bytes(const struct sbitmap *sb);

#endif
