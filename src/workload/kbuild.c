/*
 * kbuild.c - `make -jN`: a make process forks one compiler job per source
 * file, at most N at once; each job execs the compiler and makes its
 * accesses, then exits (see workload.h).
 *
 * A job's accesses, drawn from its own stream:
 *   45% instruction fetches: 80% of them in the hottest 1/8 of the text;
 *   15% compiler data (reads and writes, 1 in 4 a write);
 *   15% heap: writes, the heap growing one page every 16 of them;
 *   10% stack: the top 4 pages, mostly writes;
 *   10% source file, read in order; 5% headers, random reads.
 * make writes its heap before forking (so each fork write-protects it)
 * and writes 2 pages of it after each fork (copy-on-write, or a reuse once
 * the child has exec'd).
 */
#include "workload/wl_internal.h"

#include <stdlib.h>

#define MAKE_TEXT 64
#define MAKE_DATA 8

enum kb_state { KB_START, KB_WORK };

struct kb;

struct kb_job {
	struct kb *kb;
	int pid;
	unsigned index;
	enum kb_state state;
	uint64_t rng;
	uint64_t left;
	struct gos_layout l;
	uint64_t src, hdr;   /* where the source and the headers are mapped */
	uint64_t src_pos, heap_pages, heap_writes;
};

struct kb {
	const struct wl_params *p;
	struct gos_image cc, make;
	int hdr_file;
	int *src_file;
	struct kb_job *job;
	unsigned parallel, started, running;
	int make_pid;
	enum kb_state make_state;
	uint64_t make_rng;
	struct gos_layout make_l;
	bool failed;
};

/* A failure stops the run: every program exits. */
static enum gos_step job_fail(struct kb_job *j)
{
	j->kb->failed = true;
	return GOS_STEP_EXIT;
}

static enum gos_step job_start(struct gos *g, struct kb_job *j)
{
	const struct wl_params *p = j->kb->p;
	enum gos_status s = gos_exec(g, j->pid, &j->kb->cc, &j->l);

	if (s == GOS_OK)
		s = gos_mmap(g, j->pid, p->src_pages, GOS_PROT_READ, GOS_MAP_PRIVATE, j->kb->src_file[j->index], 0,
			     &j->src);
	if (s == GOS_OK)
		s = gos_mmap(g, j->pid, p->hdr_pages, GOS_PROT_READ, GOS_MAP_PRIVATE, j->kb->hdr_file, 0, &j->hdr);
	switch (wl_act_of(s)) {
	case WL_GO:
		j->state = KB_WORK;
		j->left = p->job_accesses;
		j->heap_pages = 1;
		return GOS_STEP_CONTINUE;
	case WL_GONE:
		return GOS_STEP_EXIT;
	default:
		return job_fail(j);
	}
}

static enum gos_step job_access(struct gos *g, struct kb_job *j)
{
	const struct wl_params *p = j->kb->p;
	uint64_t r = wl_below(&j->rng, 100), va;
	enum access_type t = ACCESS_READ;

	if (r < 45) {
		uint64_t hot = p->cc_text_pages / 8 ? p->cc_text_pages / 8 : 1;
		uint64_t page = wl_below(&j->rng, 10) < 8 ? wl_below(&j->rng, hot) : wl_below(&j->rng, p->cc_text_pages);

		va = j->l.text + page * 4096 + wl_below(&j->rng, 64) * 64;
		t = ACCESS_FETCH;
	} else if (r < 60 && p->cc_data_pages) {
		va = j->l.data + wl_below(&j->rng, p->cc_data_pages) * 4096;
		t = wl_below(&j->rng, 4) ? ACCESS_READ : ACCESS_WRITE;
	} else if (r < 75 && p->cc_bss_pages) {
		if (++j->heap_writes % 16 == 0 && j->heap_pages < p->cc_bss_pages)
			j->heap_pages++;
		va = j->l.bss + wl_below(&j->rng, j->heap_pages) * 4096;
		t = ACCESS_WRITE;
	} else if (r < 85) {
		va = j->l.stack_top - 4096 * (1 + wl_below(&j->rng, 4)) + 8 * wl_below(&j->rng, 512);
		t = wl_below(&j->rng, 4) ? ACCESS_WRITE : ACCESS_READ;
	} else if (r < 95) {
		va = j->src + (j->src_pos++ % (p->src_pages * 64)) * 64;
	} else {
		va = j->hdr + wl_below(&j->rng, p->hdr_pages) * 4096;
	}
	switch (wl_act_of(gos_touch(g, j->pid, va & ~UINT64_C(7), t))) {
	case WL_GO:
		return --j->left ? GOS_STEP_CONTINUE : GOS_STEP_EXIT;
	case WL_GONE:
		return GOS_STEP_EXIT;
	default:
		return job_fail(j);
	}
}

static enum gos_step job_step(struct gos *g, int pid, void *ctx)
{
	struct kb_job *j = ctx;

	(void)pid;
	if (j->kb->failed)
		return GOS_STEP_EXIT;
	return j->state == KB_START ? job_start(g, j) : job_access(g, j);
}

/* ---- make ---- */

static bool make_touch(struct gos *g, struct kb *kb, uint64_t page)
{
	enum gos_status s = gos_touch(g, kb->make_pid, kb->make_l.bss + page * 4096, ACCESS_WRITE);

	if (s != GOS_OK)
		kb->failed = true;
	return s == GOS_OK;
}

static enum gos_step make_step(struct gos *g, int pid, void *ctx)
{
	struct kb *kb = ctx;
	const struct wl_params *p = kb->p;

	if (kb->failed)
		return GOS_STEP_EXIT;
	if (kb->make_state == KB_START) {
		if (gos_exec(g, pid, &kb->make, &kb->make_l) != GOS_OK) {
			kb->failed = true;
			return GOS_STEP_EXIT;
		}
		for (uint64_t i = 0; i < p->make_heap_pages; i++)
			if (!make_touch(g, kb, i))
				return GOS_STEP_EXIT;
		kb->make_state = KB_WORK;
		return GOS_STEP_CONTINUE;
	}
	/* reap finished jobs */
	kb->running = 0;
	for (unsigned i = 0; i < kb->started; i++)
		if (gos_alive(g, kb->job[i].pid))
			kb->running++;
	if (kb->started == p->jobs)
		return kb->running ? GOS_STEP_WAIT : GOS_STEP_EXIT;
	if (kb->running >= kb->parallel)
		return GOS_STEP_WAIT;
	struct kb_job *j = &kb->job[kb->started];
	int child = gos_fork(g, pid);

	if (child < 0) {
		kb->failed = true;
		return GOS_STEP_EXIT;
	}
	j->pid = child;
	gos_set_program(g, child, job_step, j);
	kb->started++;
	for (unsigned k = 0; k < 2 && p->make_heap_pages; k++)
		if (!make_touch(g, kb, wl_below(&kb->make_rng, p->make_heap_pages)))
			return GOS_STEP_EXIT;
	return GOS_STEP_CONTINUE;
}

enum gos_status wl_kbuild(struct gos *g, const struct wl_params *p, struct wl_report *r)
{
	struct kb kb = { .p = p };
	enum gos_status s = GOS_ENOMEM;
	int f;

	kb.parallel = wl_parallel(g, p);
	kb.src_file = calloc(p->jobs, sizeof(*kb.src_file));
	kb.job = calloc(p->jobs, sizeof(*kb.job));
	if (!kb.src_file || !kb.job)
		goto out;
	f = gos_file_create(g, p->cc_text_pages + p->cc_data_pages);
	kb.cc = (struct gos_image){ .file = f, .text_pages = p->cc_text_pages, .data_pages = p->cc_data_pages,
				    .bss_pages = p->cc_bss_pages, .stack_pages = 16 };
	f = gos_file_create(g, MAKE_TEXT + MAKE_DATA);
	kb.make = (struct gos_image){ .file = f, .text_pages = MAKE_TEXT, .data_pages = MAKE_DATA,
				      .bss_pages = p->make_heap_pages ? p->make_heap_pages : 1, .stack_pages = 8 };
	kb.hdr_file = gos_file_create(g, p->hdr_pages);
	for (unsigned i = 0; i < p->jobs; i++) {
		kb.src_file[i] = gos_file_create(g, p->src_pages);
		kb.job[i] = (struct kb_job){ .kb = &kb, .index = i, .rng = wl_seed(p->seed, i + 1) };
	}
	kb.make_rng = wl_seed(p->seed, 0);
	kb.make_pid = gos_spawn(g, 0);
	if (kb.make_pid < 0) {
		s = (enum gos_status)kb.make_pid;
		goto out;
	}
	gos_set_program(g, kb.make_pid, make_step, &kb);
	s = gos_run(g, 0);
	if (s == GOS_OK && kb.failed)
		s = gos_error(g) ? GOS_DEAD : GOS_EINVAL;
	r->units = kb.started;
out:
	free(kb.src_file);
	free(kb.job);
	return s;
}
