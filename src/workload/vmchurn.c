/*
 * vmchurn.c - mmap/touch/munmap churn by the threads of one process (see
 * workload.h). Each program step of a thread is one operation:
 *   a pending write (a random page of the region mapped last), or
 *   mmap of a new region (1..max_pages pages; half of them, at least one,
 *     to be written) while the thread has fewer than `live` regions and
 *     rounds left, or
 *   munmap of a random region of the thread (a quarter of the time, when
 *     it has 2 pages or more, only its first half).
 * When its rounds are done a thread unmaps what it still has and exits.
 */
#include "workload/wl_internal.h"

#include <stdlib.h>

struct vc;

struct vc_region {
	uint64_t addr, pages;
};

struct vc_task {
	struct vc *vc;
	uint64_t rng;
	struct vc_region *reg;
	unsigned nreg, rounds;
	uint64_t writes;
};

struct vc {
	const struct wl_params *p;
	bool failed;
	uint64_t maps;
};

static enum gos_step vc_result(struct vc *vc, enum gos_status s)
{
	if (s == GOS_OK)
		return GOS_STEP_CONTINUE;
	if (s != GOS_KILLED)
		vc->failed = true;
	return GOS_STEP_EXIT;
}

static enum gos_step vc_unmap(struct gos *g, int pid, struct vc_task *t)
{
	unsigned i = (unsigned)wl_below(&t->rng, t->nreg);
	struct vc_region *r = &t->reg[i];
	uint64_t n = r->pages;

	if (n >= 2 && wl_below(&t->rng, 4) == 0) {
		n /= 2;
		enum gos_status s = gos_munmap(g, pid, r->addr, n);

		r->addr += n * 4096;
		r->pages -= n;
		return vc_result(t->vc, s);
	}
	enum gos_status s = gos_munmap(g, pid, r->addr, n);

	t->reg[i] = t->reg[--t->nreg];
	return vc_result(t->vc, s);
}

static enum gos_step vc_step(struct gos *g, int pid, void *ctx)
{
	struct vc_task *t = ctx;
	struct vc *vc = t->vc;
	const struct wl_params *p = vc->p;

	if (vc->failed)
		return GOS_STEP_EXIT;
	if (t->writes) {
		struct vc_region *r = &t->reg[t->nreg - 1];

		t->writes--;
		return vc_result(vc, gos_touch(g, pid, r->addr + wl_below(&t->rng, r->pages) * 4096, ACCESS_WRITE));
	}
	if (t->rounds < p->rounds && t->nreg < p->live) {
		struct vc_region *r = &t->reg[t->nreg];
		enum gos_status s;

		r->pages = 1 + wl_below(&t->rng, p->max_pages);
		s = gos_mmap(g, pid, r->pages, GOS_PROT_READ | GOS_PROT_WRITE, GOS_MAP_PRIVATE, -1, 0, &r->addr);
		if (s != GOS_OK)
			return vc_result(vc, s);
		t->nreg++;
		t->rounds++;
		vc->maps++;
		t->writes = r->pages / 2 ? r->pages / 2 : 1;
		return GOS_STEP_CONTINUE;
	}
	if (t->nreg)
		return vc_unmap(g, pid, t);
	return GOS_STEP_EXIT;
}

enum gos_status wl_vmchurn(struct gos *g, const struct wl_params *p, struct wl_report *r)
{
	unsigned n = wl_parallel(g, p);
	struct vc vc = { .p = p };
	struct vc_task *t = calloc(n, sizeof(*t));
	enum gos_status s = GOS_ENOMEM;
	int pid;

	if (!t)
		return GOS_ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		t[i] = (struct vc_task){ .vc = &vc, .rng = wl_seed(p->seed, i) };
		t[i].reg = calloc(p->live, sizeof(*t[i].reg));
		if (!t[i].reg)
			goto out;
	}
	pid = gos_spawn(g, 0);
	s = pid < 0 ? (enum gos_status)pid : GOS_OK;
	for (unsigned i = 0; i < n && s == GOS_OK; i++) {
		int tid = i ? gos_thread(g, pid, i % gos_ncpus(g)) : pid;

		if (tid < 0) {
			s = (enum gos_status)tid;
			break;
		}
		gos_set_program(g, tid, vc_step, &t[i]);
	}
	if (s == GOS_OK)
		s = gos_run(g, 0);
	if (s == GOS_OK && vc.failed)
		s = gos_error(g) ? GOS_DEAD : GOS_EINVAL;
	r->units = vc.maps;
out:
	for (unsigned i = 0; i < n; i++)
		free(t[i].reg);
	free(t);
	return s;
}
