/*
 * sched.c - the guest's scheduler and context switch.
 *
 * Each process lives on one vCPU. A context switch loads the address
 * space's top table into CR3:
 *   without PCIDs: MOV CR3 (flushes the non-global entries); the vCPU
 *     leaves the previous address space's cpumask;
 *   with PCIDs: each vCPU has npcid slots (PCID = slot + 1) owned by
 *     address spaces. Switching to an address space that owns a slot is
 *     MOV CR3 with the no-flush bit (its entries are still valid: every
 *     change to its tables is shot down on all vCPUs of its cpumask);
 *     otherwise a free slot (or the next one round-robin, whose owner
 *     leaves this vCPU's cpumask) is taken with a flushing MOV CR3.
 *     The kernel's own tables use PCID 0 (only kernel mappings).
 * gos_run() interleaves the vCPUs round-robin; each runs its processes
 * round-robin for `slice` program steps (a process waiting for a child is
 * skipped until one exits).
 */
#include "guest/gos_internal.h"

#include <stdlib.h>

#include "arch/x86.h"

enum gos_status gos_switch_mm(struct gos *g, unsigned c, struct gmm *mm)
{
	struct gcpu *gc = &g->cpu[c];
	uint64_t bit = UINT64_C(1) << c, cr3;
	uint16_t pcid = 0;
	bool noflush = false;
	enum vcpu_status vs;

	vcpu_set_cpl(gc->v, 0);
	if (gc->cur_mm == mm)
		return GOS_OK;
	if (!mm) {
		cr3 = g->kpgd;
		noflush = g->cfg.pcid;
		if (!g->cfg.pcid && gc->cur_mm)
			gc->cur_mm->cpumask &= ~bit;
	} else if (g->cfg.pcid) {
		unsigned i, n = g->cfg.npcid;

		for (i = 0; i < n && gc->slot[i].mm != mm; i++)
			;
		if (i < n) {
			noflush = true;
		} else {
			for (i = 0; i < n && gc->slot[i].mm; i++)
				;
			if (i == n) {
				i = gc->next_slot;
				gc->next_slot = (i + 1) % n;
				gc->slot[i].mm->cpumask &= ~bit;
			}
			gc->slot[i].mm = mm;
		}
		pcid = (uint16_t)(i + 1);
		cr3 = mm->pgd | pcid;
		mm->cpumask |= bit;
	} else {
		cr3 = mm->pgd;
		if (gc->cur_mm)
			gc->cur_mm->cpumask &= ~bit;
		mm->cpumask |= bit;
	}
	vs = vcpu_mov_cr3(gc->v, cr3 | (noflush ? CR3_NOFLUSH : 0));
	if (vs != VCPU_OK)
		return gos_vcpu_fail(g, gc->v, vs, "context switch (MOV CR3)");
	g->st.ctx_switches++;
	if (noflush)
		g->st.cr3_noflush++;
	gc->cur_mm = mm;
	gc->cur_pcid = pcid;
	return GOS_OK;
}

enum gos_status gos_enter(struct gos *g, struct gproc *p)
{
	enum gos_status s;

	if (g->dead)
		return GOS_DEAD;
	if (g->cpu[p->cpu].cur_mm == p->mm) {
		vcpu_set_cpl(g->cpu[p->cpu].v, 0);
		return GOS_OK;
	}
	s = gos_switch_mm(g, p->cpu, p->mm);
	return s == GOS_OK ? gos_checkpoint(g, "a context switch") : s;
}

void gos_forget_mm(struct gos *g, struct gmm *mm)
{
	for (unsigned c = 0; c < g->ncpus; c++)
		for (unsigned i = 0; i < GOS_MAX_PCID; i++)
			if (g->cpu[c].slot[i].mm == mm)
				g->cpu[c].slot[i].mm = NULL;
	mm->cpumask = 0;
}

/* ---- run queues ---- */

int gos_rq_add(struct gos *g, unsigned c, int pid)
{
	struct gcpu *gc = &g->cpu[c];

	if (gc->nrq == gc->caprq) {
		unsigned cap = gc->caprq ? 2 * gc->caprq : 16;
		int *n = realloc(gc->rq, cap * sizeof(*n));

		if (!n)
			return -1;
		gc->rq = n;
		gc->caprq = cap;
	}
	gc->rq[gc->nrq++] = pid;
	return 0;
}

void gos_rq_del(struct gos *g, unsigned c, int pid)
{
	struct gcpu *gc = &g->cpu[c];

	for (unsigned i = 0; i < gc->nrq; i++) {
		if (gc->rq[i] != pid)
			continue;
		for (unsigned j = i + 1; j < gc->nrq; j++)
			gc->rq[j - 1] = gc->rq[j];
		gc->nrq--;
		if (gc->rr > i)
			gc->rr--;
		return;
	}
}

unsigned gos_pick_cpu(const struct gos *g)
{
	unsigned best = 0;

	for (unsigned c = 1; c < g->ncpus; c++)
		if (g->cpu[c].nrq < g->cpu[best].nrq)
			best = c;
	return best;
}

enum gos_status gos_reap(struct gos *g, struct gproc *p)
{
	struct gmm *mm = p->mm;
	enum gos_status s = GOS_OK;

	if (--mm->users == 0) {
		for (unsigned c = 0; c < g->ncpus && s == GOS_OK; c++)
			if (g->cpu[c].cur_mm == mm)
				s = gos_switch_mm(g, c, NULL);
		if (s != GOS_OK)
			return s;
		gos_forget_mm(g, mm);
		s = gos_mm_destroy(g, g->cpu[p->cpu].v, mm);
	}
	p->mm = NULL;
	if (p->ppid >= 0 && gos_proc(g, p->ppid))
		gos_proc(g, p->ppid)->waiting = false;
	gos_rq_del(g, p->cpu, p->pid);
	p->state = GP_FREE;
	g->proc[p->pid] = NULL;
	free(p);
	g->nlive--;
	return s;
}

/* ---- programs ---- */

void gos_set_program(struct gos *g, int pid, gos_step_fn fn, void *ctx)
{
	struct gproc *p = gos_proc(g, pid);

	if (p) {
		p->step = fn;
		p->step_ctx = ctx;
	}
}

/* The next process of vCPU c with a program, round-robin; -1 if none. */
static int pick(struct gos *g, unsigned c)
{
	struct gcpu *gc = &g->cpu[c];

	for (unsigned k = 0; k < gc->nrq; k++) {
		unsigned idx = (gc->rr + k) % gc->nrq;
		struct gproc *p = gos_proc(g, gc->rq[idx]);

		if (p && p->step && !p->waiting) {
			gc->rr = idx + 1;
			return p->pid;
		}
	}
	return -1;
}

/* Nothing can run: wakes every waiting process (their children are gone). False if none waits. */
static bool wake_all(struct gos *g)
{
	bool woke = false;

	for (unsigned i = 0; i < g->nproc; i++) {
		struct gproc *p = g->proc[i];

		if (p && p->state == GP_LIVE && p->step && p->waiting) {
			p->waiting = false;
			woke = true;
		}
	}
	return woke;
}

enum gos_status gos_run(struct gos *g, uint64_t max_steps)
{
	uint64_t steps = 0;

	for (;;) {
		bool any = false;

		for (unsigned c = 0; c < g->ncpus; c++) {
			int pid = pick(g, c);
			enum gos_status s;

			if (g->dead)
				return GOS_DEAD;
			if (pid < 0)
				continue;
			any = true;
			s = gos_enter(g, gos_proc(g, pid));
			if (s != GOS_OK)
				return s;
			for (unsigned k = 0; k < g->cfg.slice; k++) {
				struct gproc *p = gos_proc(g, pid);
				enum gos_step r;

				if (!p)
					break;
				g->st.steps++;
				steps++;
				r = p->step(g, pid, p->step_ctx);
				if (g->dead)
					return GOS_DEAD;
				if (r == GOS_STEP_EXIT && gos_alive(g, pid)) {
					s = gos_exit(g, pid);
					if (s == GOS_DEAD)
						return s;
				}
				if (r == GOS_STEP_WAIT && gos_alive(g, pid))
					gos_proc(g, pid)->waiting = true;
				if (r != GOS_STEP_CONTINUE || (max_steps && steps >= max_steps))
					break;
			}
			if (max_steps && steps >= max_steps)
				return GOS_OK;
		}
		if (!any && !wake_all(g))
			return GOS_OK;
	}
}

enum gos_status gos_migrate(struct gos *g, int pid, unsigned cpu)
{
	struct gproc *p = gos_proc(g, pid);

	if (g->dead)
		return GOS_DEAD;
	if (!p || cpu >= g->ncpus)
		return GOS_EINVAL;
	if (cpu == p->cpu)
		return GOS_OK;
	if (gos_rq_add(g, cpu, pid))
		return GOS_ENOMEM;
	gos_rq_del(g, p->cpu, pid);
	p->cpu = cpu;
	g->st.migrations++;
	return gos_checkpoint(g, "a migration");
}
