/*
 * frames.h - the host frame allocator: hands out and takes back the frames
 * (hfn: host-physical frame number, 4 KiB each) of one range of host
 * physical memory. Every page-table page (guest tables, EPT/NPT, shadow
 * tables) and every guest data frame comes from here. Whether a frame's
 * contents are stored is hostmem's business (only written frames are).
 *
 * Rules (the tests' expected values follow from them):
 *  - frames_alloc() returns the LOWEST frame of the range that is neither
 *    allocated nor reserved; frames_alloc_contig(order) the lowest such
 *    run of 2^order frames whose first frame is a multiple of 2^order.
 *    So the same sequence of calls always gives the same frames, whatever
 *    the order in which earlier frames were freed.
 *  - Every failure returns a negative code and changes nothing.
 *  - `allocated` counts frames handed out now (reserved frames excluded),
 *    `peak` its highest value so far; `limit` caps `allocated` (an
 *    allocation that would exceed it fails with FRAMES_ENOMEM, as does
 *    one that finds no free frame).
 *  - Bookkeeping is a sparse bitmap (sbitmap.h): frames never handed out
 *    cost nothing; a 32768-frame chunk entirely allocated costs 16 bytes.
 */
#ifndef NESTMMU_MEM_FRAMES_H
#define NESTMMU_MEM_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum frames_status {
	FRAMES_OK = 0,
	FRAMES_ENOMEM = -1,    /* no free frame (or run) left, or the limit is reached */
	FRAMES_EINVAL = -2,    /* frame or range outside the allocator's range, bad order */
	FRAMES_ENOTALLOC = -3, /* freeing a frame that is not allocated (double free, reserved) */
	FRAMES_EBUSY = -4,     /* reserving a range that holds allocated frames */
	FRAMES_EHOST = -5,     /* the simulator itself ran out of memory */
};

const char *frames_strerror(int status);

/* Largest order of frames_alloc_contig (2^18 frames = 1 GiB). */
#define FRAMES_MAX_ORDER 18

struct frames;

/*
 * Manages frames [first_hfn, first_hfn + nframes). NULL if nframes is 0,
 * the range wraps, or out of host memory. No limit initially.
 */
struct frames *frames_create(uint64_t first_hfn, uint64_t nframes);
/* Frees the bookkeeping (allocated frames are simply forgotten). */
void frames_destroy(struct frames *fr);

/*
 * Reserves [hfn, hfn + n): never handed out (firmware, MMIO, the
 * simulator's own structures). Overlapping reservations merge.
 * FRAMES_EINVAL outside the range or n == 0, FRAMES_EBUSY if a frame of
 * the range is allocated.
 */
int frames_reserve(struct frames *fr, uint64_t hfn, uint64_t n);

/* Caps the number of allocated frames (UINT64_MAX: no cap). */
void frames_set_limit(struct frames *fr, uint64_t max_allocated);

int frames_alloc(struct frames *fr, uint64_t *hfn);
/* 2^order contiguous frames, the first a multiple of 2^order. */
int frames_alloc_contig(struct frames *fr, unsigned order, uint64_t *hfn);

/* FRAMES_ENOTALLOC if the frame (or any of the run) is not allocated. */
int frames_free(struct frames *fr, uint64_t hfn);
int frames_free_contig(struct frames *fr, uint64_t hfn, unsigned order);

bool frames_is_allocated(const struct frames *fr, uint64_t hfn);
bool frames_is_reserved(const struct frames *fr, uint64_t hfn);

/*
 * Called after frames are returned (hfn, count), e.g. so that hostmem
 * drops their contents and a frame handed out again reads as zeros.
 * One hook; NULL removes it.
 */
typedef void (*frames_release_fn)(void *ctx, uint64_t hfn, uint64_t count);
void frames_set_release_hook(struct frames *fr, frames_release_fn fn, void *ctx);

struct frames_stats {
	uint64_t first_hfn, nframes;
	uint64_t reserved;   /* frames in reserved ranges */
	uint64_t allocated;  /* handed out now */
	uint64_t peak;       /* highest `allocated` so far */
	uint64_t limit;      /* UINT64_MAX: none */
	uint64_t allocs, frees, failures; /* calls (a contig call counts once) */
};

void frames_get_stats(const struct frames *fr, struct frames_stats *st);
uint64_t frames_allocated(const struct frames *fr);
/* Bytes of host memory the allocator's bookkeeping holds. */
size_t frames_meta_bytes(const struct frames *fr);

#endif
