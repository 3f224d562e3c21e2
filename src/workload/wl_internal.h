/*
 * wl_internal.h - shared pieces of the workloads: the seeded generator and
 * the per-workload entry points.
 */
#ifndef NESTMMU_WORKLOAD_WL_INTERNAL_H
#define NESTMMU_WORKLOAD_WL_INTERNAL_H

#include <stdint.h>

#include "workload/workload.h"

/* splitmix64: the same seed gives the same sequence on every host. */
static inline uint64_t wl_rng(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Uniform in [0, n) (n > 0; the modulo bias is irrelevant here). */
static inline uint64_t wl_below(uint64_t *s, uint64_t n)
{
	return wl_rng(s) % n;
}

/* An independent stream for task `i` of a run. */
static inline uint64_t wl_seed(uint64_t seed, uint64_t i)
{
	uint64_t s = seed ^ (i * UINT64_C(0xD1B54A32D192ED03));

	return wl_rng(&s);
}

/* Result of a guest call inside a program step. */
enum wl_act { WL_GO, WL_GONE, WL_FAIL };

static inline enum wl_act wl_act_of(enum gos_status s)
{
	if (s == GOS_OK)
		return WL_GO;
	if (s == GOS_KILLED)
		return WL_GONE;
	return WL_FAIL;
}

/* The number of threads/jobs in parallel: p->threads or one per vCPU. */
unsigned wl_parallel(const struct gos *g, const struct wl_params *p);

enum gos_status wl_kbuild(struct gos *g, const struct wl_params *p, struct wl_report *r);
enum gos_status wl_gups(struct gos *g, const struct wl_params *p, struct wl_report *r);
enum gos_status wl_stream(struct gos *g, const struct wl_params *p, struct wl_report *r);
enum gos_status wl_vmchurn(struct gos *g, const struct wl_params *p, struct wl_report *r);

#endif
