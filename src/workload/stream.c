/*
 * stream.c - STREAM over three arrays a, b, c by the threads of one
 * process (see workload.h). Thread i owns the same slice of each array;
 * it first writes its slices (a, b, c), then for each iteration runs
 *   copy  c = a      (read a, write c)
 *   scale b = s * c  (read c, write b)
 *   add   c = a + b  (read a, read b, write c)
 *   triad a = b + s * c (read b, read c, write a)
 * one unit (stride bytes of each array involved) per program step.
 */
#include "workload/wl_internal.h"

#include <stdlib.h>

enum { ST_INIT, ST_COPY, ST_SCALE, ST_ADD, ST_TRIAD, ST_PHASES };

struct st;

struct st_task {
	struct st *st;
	uint64_t from, to, pos; /* units */
	unsigned phase, iter;
};

struct st {
	uint64_t a, b, c;
	unsigned stride, iterations;
	bool failed;
	uint64_t units;
};

static const struct {
	unsigned nr;
	unsigned arr[3];   /* 0 a, 1 b, 2 c */
	bool write[3];
} kernels[ST_PHASES] = {
	[ST_INIT] = { 3, { 0, 1, 2 }, { true, true, true } },
	[ST_COPY] = { 2, { 0, 2 }, { false, true } },
	[ST_SCALE] = { 2, { 2, 1 }, { false, true } },
	[ST_ADD] = { 3, { 0, 1, 2 }, { false, false, true } },
	[ST_TRIAD] = { 3, { 1, 2, 0 }, { false, false, true } },
};

static enum gos_step st_step(struct gos *g, int pid, void *ctx)
{
	struct st_task *t = ctx;
	struct st *st = t->st;
	const uint64_t base[3] = { st->a, st->b, st->c };
	enum gos_status s = GOS_OK;

	if (st->failed || t->from == t->to)
		return GOS_STEP_EXIT;
	if (t->pos == t->to) {
		t->pos = t->from;
		if (++t->phase == ST_PHASES) {
			t->phase = ST_COPY;
			if (++t->iter == st->iterations)
				return GOS_STEP_EXIT;
		}
	}
	for (unsigned k = 0; k < kernels[t->phase].nr && s == GOS_OK; k++)
		s = gos_touch(g, pid, base[kernels[t->phase].arr[k]] + t->pos * st->stride,
			      kernels[t->phase].write[k] ? ACCESS_WRITE : ACCESS_READ);
	if (s == GOS_OK) {
		t->pos++;
		st->units++;
		return GOS_STEP_CONTINUE;
	}
	if (s != GOS_KILLED)
		st->failed = true;
	return GOS_STEP_EXIT;
}

enum gos_status wl_stream(struct gos *g, const struct wl_params *p, struct wl_report *r)
{
	unsigned n = wl_parallel(g, p);
	uint64_t pages = p->array_bytes >> 12, units = p->array_bytes / p->stride;
	struct st st = { .stride = p->stride, .iterations = p->iterations };
	struct st_task *t = calloc(n, sizeof(*t));
	enum gos_status s;
	int pid;

	if (!t)
		return GOS_ENOMEM;
	pid = gos_spawn(g, 0);
	s = pid < 0 ? (enum gos_status)pid : GOS_OK;
	if (s == GOS_OK)
		s = gos_mmap(g, pid, pages, GOS_PROT_READ | GOS_PROT_WRITE, GOS_MAP_PRIVATE, -1, 0, &st.a);
	if (s == GOS_OK)
		s = gos_mmap(g, pid, pages, GOS_PROT_READ | GOS_PROT_WRITE, GOS_MAP_PRIVATE, -1, 0, &st.b);
	if (s == GOS_OK)
		s = gos_mmap(g, pid, pages, GOS_PROT_READ | GOS_PROT_WRITE, GOS_MAP_PRIVATE, -1, 0, &st.c);
	for (unsigned i = 0; i < n && s == GOS_OK; i++) {
		int tid = i ? gos_thread(g, pid, i % gos_ncpus(g)) : pid;

		if (tid < 0) {
			s = (enum gos_status)tid;
			break;
		}
		t[i] = (struct st_task){ .st = &st, .from = units * i / n, .to = units * (i + 1) / n,
					 .pos = units * i / n, .phase = ST_INIT };
		gos_set_program(g, tid, st_step, &t[i]);
	}
	if (s == GOS_OK)
		s = gos_run(g, 0);
	if (s == GOS_OK && st.failed)
		s = gos_error(g) ? GOS_DEAD : GOS_EINVAL;
	r->units = st.units;
	free(t);
	return s;
}
