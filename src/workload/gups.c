/*
 * gups.c - random updates over one table by the threads of one process
 * (see workload.h). Thread i runs on vCPU i mod n; the table's pages are
 * first written (init) by each thread over its share of the table; then
 * each update is a read and a write of one 8-byte word chosen at random
 * over the whole table.
 */
#include "workload/wl_internal.h"

#include <stdlib.h>

struct gu;

struct gu_task {
	struct gu *gu;
	uint64_t rng;
	uint64_t init_pos, init_end; /* pages */
	uint64_t left;               /* updates */
};

struct gu {
	uint64_t base, pages;
	bool failed;
	uint64_t updates;
};

static enum gos_step gu_step(struct gos *g, int pid, void *ctx)
{
	struct gu_task *t = ctx;
	struct gu *gu = t->gu;
	enum gos_status s;

	if (gu->failed)
		return GOS_STEP_EXIT;
	if (t->init_pos < t->init_end) {
		s = gos_touch(g, pid, gu->base + t->init_pos++ * 4096, ACCESS_WRITE);
	} else if (t->left) {
		uint64_t va = gu->base + wl_below(&t->rng, gu->pages * 512) * 8;

		s = gos_touch(g, pid, va, ACCESS_READ);
		if (s == GOS_OK)
			s = gos_touch(g, pid, va, ACCESS_WRITE);
		if (s == GOS_OK) {
			t->left--;
			gu->updates++;
		}
	} else {
		return GOS_STEP_EXIT;
	}
	if (s == GOS_OK)
		return GOS_STEP_CONTINUE;
	if (s != GOS_KILLED)
		gu->failed = true;
	return GOS_STEP_EXIT;
}

enum gos_status wl_gups(struct gos *g, const struct wl_params *p, struct wl_report *r)
{
	unsigned n = wl_parallel(g, p);
	struct gu gu = { .pages = p->table_bytes >> 12 };
	struct gu_task *t = calloc(n, sizeof(*t));
	enum gos_status s = GOS_ENOMEM;
	int pid;

	if (!t)
		return GOS_ENOMEM;
	pid = gos_spawn(g, 0);
	if (pid < 0) {
		s = (enum gos_status)pid;
		goto out;
	}
	s = gos_mmap(g, pid, gu.pages, GOS_PROT_READ | GOS_PROT_WRITE, GOS_MAP_PRIVATE, -1, 0, &gu.base);
	for (unsigned i = 0; i < n && s == GOS_OK; i++) {
		int tid = i ? gos_thread(g, pid, i % gos_ncpus(g)) : pid;

		if (tid < 0) {
			s = (enum gos_status)tid;
			break;
		}
		t[i] = (struct gu_task){
			.gu = &gu,
			.rng = wl_seed(p->seed, i),
			.init_pos = p->init ? gu.pages * i / n : 0,
			.init_end = p->init ? gu.pages * (i + 1) / n : 0,
			.left = p->updates / n + (i < p->updates % n),
		};
		gos_set_program(g, tid, gu_step, &t[i]);
	}
	if (s == GOS_OK)
		s = gos_run(g, 0);
	if (s == GOS_OK && gu.failed)
		s = gos_error(g) ? GOS_DEAD : GOS_EINVAL;
	r->units = gu.updates;
out:
	free(t);
	return s;
}
