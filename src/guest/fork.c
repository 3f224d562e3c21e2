/*
 * fork.c - process life: spawn, fork with copy-on-write, exec, exit.
 *
 * fork copies the VMA records and, for every present PTE of the parent,
 * writes one into the child (tables created as needed), as an OS does:
 *   private VMA, writable PTE: the parent's PTE is write-protected (by
 *     compare-exchange) and the child's is read-only: both share the page
 *     until one writes (fault.c breaks the sharing);
 *   shared VMA: the child's PTE keeps the write right, with D cleared;
 *   every child PTE has A cleared (the hardware sets it on first use).
 * Each page gains a reference. If any parent PTE was write-protected, the
 * parent's whole address space is flushed (local full flush + shootdown).
 * exec builds a new address space (text r-x and data rw- private from the
 * executable's file, bss and stack anonymous), switches to it and tears the
 * old one down; exit tears everything down (the last task of an address
 * space does). A thread is a task sharing its process's address space.
 */
#include "guest/gos_internal.h"

#include <stdlib.h>

#include "arch/x86.h"

#define TEXT_BASE UINT64_C(0x400000)

/* A new process record with mm on vCPU `cpu`. */
static int new_proc(struct gos *g, int ppid, unsigned cpu, struct gmm *mm)
{
	struct gproc *p;

	if (g->nproc == g->capproc) {
		unsigned cap = g->capproc ? 2 * g->capproc : 64;
		struct gproc **n = realloc(g->proc, cap * sizeof(*n));

		if (!n)
			return GOS_ENOMEM;
		g->proc = n;
		g->capproc = cap;
	}
	p = calloc(1, sizeof(*p));
	if (!p || gos_rq_add(g, cpu, (int)g->nproc)) {
		free(p);
		return GOS_ENOMEM;
	}
	p->pid = (int)g->nproc;
	p->ppid = ppid;
	p->state = GP_LIVE;
	p->mm = mm;
	mm->users++;
	p->cpu = cpu;
	g->proc[g->nproc++] = p;
	g->nlive++;
	g->st.procs_created++;
	return p->pid;
}

int gos_spawn(struct gos *g, unsigned cpu)
{
	struct gmm *mm;
	enum gos_status s;
	int pid;

	if (g->dead)
		return GOS_DEAD;
	if (cpu >= g->ncpus)
		cpu = gos_pick_cpu(g);
	s = gos_mm_create(g, g->cpu[cpu].v, &mm);
	if (s != GOS_OK)
		return s;
	pid = new_proc(g, -1, cpu, mm);
	if (pid < 0) {
		gos_mm_destroy(g, g->cpu[cpu].v, mm);
		return pid;
	}
	s = gos_checkpoint(g, "spawn");
	return s == GOS_OK ? pid : s;
}

/* ---- fork ---- */

struct copy {
	struct gos *g;
	struct vcpu *v;
	struct gmm *parent, *child;
	const struct gvma *vma;
	bool wrprotected;
};

static enum gos_status copy_pte(struct copy *c, uint64_t va, uint64_t egpa, uint64_t e)
{
	struct gos *g = c->g;
	uint64_t cpte, child_egpa, gfn = gpt_entry_addr(&g->geom, 1, e) >> 12;
	enum gos_status s;

	if (c->vma->flags & GOS_MAP_SHARED) {
		cpte = e & ~GPT_D;
	} else if (e & GPT_RW) {
		uint64_t seen;

		while ((s = gos_pte_cmpxchg(g, c->v, egpa, e, e & ~GPT_RW, &seen)) == GOS_OK && seen != e)
			e = seen;
		if (s != GOS_OK)
			return s;
		c->wrprotected = true;
		cpte = e & ~GPT_RW;
	} else {
		cpte = e;
	}
	s = gos_pt_walk(g, c->v, c->child, va, true, &child_egpa);
	if (s != GOS_OK)
		return s;
	s = gos_pte_write(g, c->v, child_egpa, cpte & ~GPT_A);
	if (s != GOS_OK)
		return s;
	if (gfn != g->zero_gfn) {
		unsigned flags;
		uint32_t refs;

		palloc_info(&g->pa, gfn, &flags, &refs);
		if (!refs)
			return gos_fail(g, "fork: a mapped page without a record");
		palloc_set(&g->pa, gfn, flags, refs + 1);
	}
	return GOS_OK;
}

/* Calls copy_pte for every present PTE of [start, end) under table (level, base). */
static enum gos_status copy_table(struct copy *c, uint64_t table, unsigned level, uint64_t base,
				  uint64_t start, uint64_t end)
{
	struct gos *g = c->g;
	const struct gpt_geom *geo = &g->geom;
	uint64_t span = gpt_span(geo, level);
	enum gos_status s;

	for (unsigned idx = (unsigned)((start - base) / span); idx < gpt_entries(geo, level); idx++) {
		uint64_t va = base + (uint64_t)idx * span, egpa = table + (uint64_t)idx * geo->esize, e;

		if (va >= end)
			break;
		s = gos_pte_read(g, c->v, egpa, &e);
		if (s != GOS_OK)
			return s;
		if (!(e & GPT_P))
			continue;
		if (level == 1)
			s = copy_pte(c, va, egpa, e);
		else
			s = copy_table(c, gpt_entry_addr(geo, level, e), level - 1, va, va > start ? va : start,
				       va + span < end ? va + span : end);
		if (s != GOS_OK)
			return s;
	}
	return GOS_OK;
}

int gos_fork(struct gos *g, int pid)
{
	struct gproc *p = gos_proc(g, pid);
	struct copy c = { .g = g };
	unsigned cpu;
	enum gos_status s;
	int child;

	if (g->dead)
		return GOS_DEAD;
	if (!p)
		return GOS_EINVAL;
	s = gos_enter(g, p);
	if (s != GOS_OK)
		return s;
	c.v = g->cpu[p->cpu].v;
	c.parent = p->mm;
	s = gos_mm_create(g, c.v, &c.child);
	if (s != GOS_OK)
		return s;
	for (unsigned i = 0; i < p->mm->nvma && s == GOS_OK; i++)
		s = gos_vma_insert(c.child, &p->mm->vma[i]);
	for (unsigned i = 0; i < p->mm->nvma && s == GOS_OK; i++) {
		c.vma = &p->mm->vma[i];
		s = copy_table(&c, p->mm->pgd, g->geom.levels, 0, c.vma->start, c.vma->end);
	}
	/* even when the copy failed half way: the parent's write-protected PTEs must not stay cached writable */
	if (s != GOS_DEAD && c.wrprotected) {
		enum gos_status f = gos_flush_range(g, p->cpu, p->mm, 0, g->geom.user_top, true);

		if (f != GOS_OK)
			s = f;
	}
	if (s != GOS_OK) {
		if (s != GOS_DEAD)
			gos_mm_destroy(g, c.v, c.child);
		return s == GOS_DEAD ? s : gos_checkpoint(g, "a failed fork") == GOS_OK ? s : GOS_DEAD;
	}
	cpu = gos_pick_cpu(g);
	child = new_proc(g, pid, cpu, c.child);
	if (child < 0) {
		gos_mm_destroy(g, c.v, c.child);
		return child;
	}
	g->st.forks++;
	s = gos_checkpoint(g, "fork");
	return s == GOS_OK ? child : s;
}

/* ---- exec and exit ---- */

static enum gos_status add_vma(struct gmm *mm, uint64_t start, uint64_t npages, unsigned prot, int file,
			       uint64_t pgoff)
{
	struct gvma a = { .start = start, .end = start + (npages << 12), .prot = prot, .flags = GOS_MAP_PRIVATE,
			  .file = file, .pgoff = pgoff };

	return npages ? gos_vma_insert(mm, &a) : GOS_OK;
}

enum gos_status gos_exec(struct gos *g, int pid, const struct gos_image *img, struct gos_layout *out)
{
	struct gproc *p = gos_proc(g, pid);
	struct gos_layout l;
	struct gmm *mm, *old;
	uint64_t top = g->geom.user_top;
	enum gos_status s;

	if (g->dead)
		return GOS_DEAD;
	if (!p || !img || p->mm->users > 1 || (unsigned)img->file >= g->nfiles ||
	    img->text_pages + img->data_pages > g->file_pages[img->file] ||
	    TEXT_BASE + ((img->text_pages + img->data_pages + img->bss_pages) << 12) >
		    top - (img->stack_pages << 12) - (UINT64_C(128) << 20))
		return GOS_EINVAL;
	s = gos_enter(g, p);
	if (s != GOS_OK)
		return s;
	s = gos_mm_create(g, g->cpu[p->cpu].v, &mm);
	if (s != GOS_OK)
		return s;
	l.text = TEXT_BASE;
	l.data = l.text + (img->text_pages << 12);
	l.bss = l.data + (img->data_pages << 12);
	l.stack_top = top;
	s = add_vma(mm, l.text, img->text_pages, GOS_PROT_READ | GOS_PROT_EXEC, img->file, 0);
	if (s == GOS_OK)
		s = add_vma(mm, l.data, img->data_pages, GOS_PROT_READ | GOS_PROT_WRITE, img->file, img->text_pages);
	if (s == GOS_OK)
		s = add_vma(mm, l.bss, img->bss_pages, GOS_PROT_READ | GOS_PROT_WRITE, -1, 0);
	if (s == GOS_OK)
		s = add_vma(mm, top - (img->stack_pages << 12), img->stack_pages, GOS_PROT_READ | GOS_PROT_WRITE,
			    -1, 0);
	if (s != GOS_OK) {
		gos_mm_destroy(g, g->cpu[p->cpu].v, mm);
		return s;
	}
	old = p->mm;
	p->mm = mm;
	mm->users = 1;
	s = gos_switch_mm(g, p->cpu, mm);
	/* a vCPU the process left may still have the old address space loaded */
	for (unsigned c = 0; c < g->ncpus && s == GOS_OK; c++)
		if (g->cpu[c].cur_mm == old)
			s = gos_switch_mm(g, c, NULL);
	if (s != GOS_OK)
		return s;
	gos_forget_mm(g, old);
	s = gos_mm_destroy(g, g->cpu[p->cpu].v, old);
	if (s != GOS_OK)
		return s;
	g->st.execs++;
	if (out)
		*out = l;
	return gos_checkpoint(g, "exec");
}

enum gos_status gos_exit(struct gos *g, int pid)
{
	struct gproc *p = gos_proc(g, pid);
	enum gos_status s;

	if (g->dead)
		return GOS_DEAD;
	if (!p)
		return GOS_EINVAL;
	g->st.exits++;
	s = gos_reap(g, p);
	if (s != GOS_OK)
		return s;
	return gos_checkpoint(g, "exit");
}

int gos_thread(struct gos *g, int pid, unsigned cpu)
{
	struct gproc *p = gos_proc(g, pid);
	enum gos_status s;
	int tid;

	if (g->dead)
		return GOS_DEAD;
	if (!p)
		return GOS_EINVAL;
	if (cpu >= g->ncpus)
		cpu = gos_pick_cpu(g);
	tid = new_proc(g, pid, cpu, p->mm);
	if (tid < 0)
		return tid;
	g->st.threads++;
	s = gos_checkpoint(g, "thread creation");
	return s == GOS_OK ? tid : s;
}
