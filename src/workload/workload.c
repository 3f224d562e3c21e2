/*
 * workload.c - names, defaults, checks and the common runner.
 */
#include "workload/wl_internal.h"

#include <string.h>

static const char *const names[WL_COUNT] = { "kbuild", "gups", "stream", "vmchurn" };

const char *wl_name(enum wl_kind k)
{
	return (unsigned)k < WL_COUNT ? names[k] : "?";
}

int wl_from_name(const char *name)
{
	for (int i = 0; i < WL_COUNT; i++)
		if (!strcmp(name, names[i]))
			return i;
	return -1;
}

void wl_params_default(struct wl_params *p, enum wl_kind kind)
{
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->seed = 1;
	/* kbuild: a small tree */
	p->jobs = 24;
	p->cc_text_pages = 512;  /* 2 MiB of compiler text */
	p->cc_data_pages = 32;
	p->cc_bss_pages = 256;
	p->make_heap_pages = 64;
	p->src_pages = 8;
	p->hdr_pages = 128;
	p->job_accesses = 2000;
	/* gups: 64 MiB, 4 updates per word-page on average */
	p->table_bytes = UINT64_C(64) << 20;
	p->updates = 65536;
	p->init = true;
	/* stream: 3 x 4 MiB, one access per cache line */
	p->array_bytes = UINT64_C(4) << 20;
	p->iterations = 2;
	p->stride = 64;
	/* vmchurn */
	p->rounds = 64;
	p->live = 8;
	p->max_pages = 128;
}

const char *wl_params_invalid(const struct wl_params *p)
{
	switch (p->kind) {
	case WL_KBUILD:
		if (!p->jobs || !p->cc_text_pages || !p->src_pages || !p->hdr_pages)
			return "kbuild needs jobs, compiler text, source and header pages";
		return NULL;
	case WL_GUPS:
		if (p->table_bytes < 4096 || (p->table_bytes & 4095))
			return "gups needs a table of whole pages";
		return NULL;
	case WL_STREAM:
		if (p->array_bytes < 4096 || (p->array_bytes & 4095) || !p->iterations)
			return "stream needs arrays of whole pages and at least one iteration";
		if (p->stride < 8 || (p->stride & 7) || p->stride > 4096)
			return "stream's stride must be a multiple of 8 between 8 and 4096";
		return NULL;
	case WL_VMCHURN:
		if (!p->rounds || !p->live || !p->max_pages)
			return "vmchurn needs rounds, live regions and a region size";
		return NULL;
	case WL_COUNT:
	default:
		return "unknown workload";
	}
}

unsigned wl_parallel(const struct gos *g, const struct wl_params *p)
{
	return p->threads ? p->threads : gos_ncpus(g);
}

static void stats_diff(struct gos_stats *out, const struct gos_stats *after, const struct gos_stats *before)
{
	const uint64_t *a = (const uint64_t *)after, *b = (const uint64_t *)before;
	uint64_t *o = (uint64_t *)out;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		o[i] = a[i] - b[i];
}

enum gos_status wl_run(struct gos *g, const struct wl_params *p, struct wl_report *r, const char **err)
{
	struct gos_stats before = *gos_stats(g);
	enum gos_status s;
	const char *why = wl_params_invalid(p);

	*err = NULL;
	memset(r, 0, sizeof(*r));
	r->kind = p->kind;
	if (why) {
		*err = why;
		return GOS_EINVAL;
	}
	switch (p->kind) {
	case WL_KBUILD:  s = wl_kbuild(g, p, r); break;
	case WL_GUPS:    s = wl_gups(g, p, r); break;
	case WL_STREAM:  s = wl_stream(g, p, r); break;
	case WL_VMCHURN: s = wl_vmchurn(g, p, r); break;
	case WL_COUNT:
	default:         s = GOS_EINVAL; break;
	}
	stats_diff(&r->guest, gos_stats(g), &before);
	r->tasks = r->guest.procs_created;
	r->accesses = r->guest.touches;
	r->killed = r->guest.killed;
	if (s == GOS_DEAD)
		*err = gos_error(g);
	else if (s != GOS_OK)
		*err = "the workload could not set itself up in the guest";
	return s;
}
