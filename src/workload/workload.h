/*
 * workload.h - workloads that drive the guest OS model (guest/gos.h),
 * deterministic from a seed, with sizes as parameters. Each runs as
 * programs of guest processes under the guest's scheduler (gos_run), so
 * vCPUs interleave deterministically.
 *
 *   kbuild   `make -jN` of a tree: a make process (its own image, a heap it
 *            writes) forks one job per source file, at most `parallel` at
 *            once; each job execs the compiler (text and data file-backed:
 *            text shared by every job through the page cache, data private
 *            copy-on-write), maps its source file and the shared headers,
 *            and makes `job_accesses` accesses - instruction fetches (most
 *            in a hot part of the text), data, a growing heap, stack,
 *            source and headers - then exits. Fork/exec/exit-heavy, as the
 *            kernel-compile and make measurements of the seeds.
 *   gups     random read-modify-write updates of 8-byte words over one
 *            table (anonymous memory) by `threads` threads of one process:
 *            TLB-miss bound. `init` first writes every page (else the
 *            table is touched sparsely, as over a huge guest).
 *   stream   STREAM's copy, scale, add and triad over three arrays, split
 *            among `threads` threads, one access per `stride` bytes of
 *            each array touched: sequential.
 *   vmchurn  `threads` threads of one process each keep up to `live`
 *            anonymous regions: map one (1..max_pages pages), write a
 *            random half of its pages, unmap a random region (a quarter of
 *            the time only its first half): mmap/touch/munmap churn with
 *            shootdowns between the threads' vCPUs.
 */
#ifndef NESTMMU_WORKLOAD_WORKLOAD_H
#define NESTMMU_WORKLOAD_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "guest/gos.h"

enum wl_kind { WL_KBUILD, WL_GUPS, WL_STREAM, WL_VMCHURN, WL_COUNT };

const char *wl_name(enum wl_kind k);
/* -1 if the name is unknown. */
int wl_from_name(const char *name);

struct wl_params {
	enum wl_kind kind;
	uint64_t seed;
	unsigned threads;        /* gups/stream/vmchurn threads, kbuild parallel jobs; 0: one per vCPU */
	/* kbuild */
	unsigned jobs;           /* source files compiled (one process each) */
	uint64_t cc_text_pages, cc_data_pages, cc_bss_pages;
	uint64_t make_heap_pages;/* make's heap, written before it starts forking */
	uint64_t src_pages;      /* pages of each source file */
	uint64_t hdr_pages;      /* pages of the headers every job reads */
	uint64_t job_accesses;
	/* gups */
	uint64_t table_bytes;
	uint64_t updates;        /* in total */
	bool init;
	/* stream */
	uint64_t array_bytes;    /* each of the three arrays */
	unsigned iterations;
	unsigned stride;         /* bytes between two accesses (>= 8, multiple of 8) */
	/* vmchurn */
	unsigned rounds;         /* regions mapped per thread */
	unsigned live;           /* regions a thread keeps at most */
	uint64_t max_pages;
};

/* Defaults for `kind`: small enough to run in well under a second natively. */
void wl_params_default(struct wl_params *p, enum wl_kind kind);
/* NULL if usable, else why not. */
const char *wl_params_invalid(const struct wl_params *p);

/* What a run did. */
struct wl_report {
	enum wl_kind kind;
	struct gos_stats guest;  /* the guest OS's statistics over the run */
	uint64_t tasks;          /* processes and threads created */
	uint64_t accesses;       /* user memory accesses made */
	uint64_t units;          /* jobs compiled / updates / array bytes processed / regions mapped */
	uint64_t killed;         /* tasks killed (bad access, out of memory) */
};

/*
 * Runs the workload on a booted guest until it finishes. GOS_OK, or the
 * guest's failure (GOS_DEAD: gos_error) or GOS_EINVAL with *err.
 */
enum gos_status wl_run(struct gos *g, const struct wl_params *p, struct wl_report *r, const char **err);

#endif
