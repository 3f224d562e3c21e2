/*
 * gos.c - the guest OS model's entry points: configuration, boot, errors,
 * process lookup, user accesses (with the #PF handler) and the check hook.
 */
#include "guest/gos_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86.h"

void gos_config_default(struct gos_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mode = PAGING_4LEVEL;
	c->ram_bytes = UINT64_C(1) << 30;
	c->pcid = true;
	c->pge = true;
	c->nx = true;
	c->large_dmap = true;
}

const char *gos_status_name(enum gos_status s)
{
	switch (s) {
	case GOS_OK:     return "ok";
	case GOS_KILLED: return "killed";
	case GOS_EINVAL: return "invalid";
	case GOS_ENOMEM: return "out of memory";
	case GOS_DEAD:   return "dead";
	}
	return "?";
}

enum gos_status gos_fail(struct gos *g, const char *fmt, ...)
{
	va_list ap;

	if (!g->dead) {
		va_start(ap, fmt);
		vsnprintf(g->err, sizeof(g->err), fmt, ap);
		va_end(ap);
		g->dead = true;
	}
	return GOS_DEAD;
}

enum gos_status gos_vcpu_fail(struct gos *g, struct vcpu *v, enum vcpu_status s, const char *what)
{
	if (s == VCPU_DEAD)
		return gos_fail(g, "%s on vCPU %u: the VM stopped: %s", what, vcpu_id(v),
				vcpu_error(v) ? vcpu_error(v) : "?");
	const struct guest_fault *f = vcpu_last_fault(v);
	return gos_fail(g, "%s on vCPU %u: kernel %s (error code %#x, address %#llx)", what, vcpu_id(v),
			xlate_outcome_name(f->kind), f->error_code, (unsigned long long)f->cr2);
}

enum gos_status gos_checkpoint(struct gos *g, const char *what)
{
	char msg[200];

	if (g->dead)
		return GOS_DEAD;
	if (!g->check)
		return GOS_OK;
	msg[0] = 0;
	if (g->check(g->check_ctx, g, msg, sizeof(msg)))
		return gos_fail(g, "check failed after %s: %s", what, msg);
	return GOS_OK;
}

void gos_set_check(struct gos *g, gos_check_fn fn, void *ctx)
{
	g->check = fn;
	g->check_ctx = ctx;
}

const struct gos_config *gos_config(const struct gos *g) { return &g->cfg; }
const struct gos_stats *gos_stats(const struct gos *g) { return &g->st; }
unsigned gos_ncpus(const struct gos *g) { return g->ncpus; }
struct vcpu *gos_vcpu(struct gos *g, unsigned cpu) { return cpu < g->ncpus ? g->cpu[cpu].v : NULL; }
const char *gos_error(const struct gos *g) { return g->dead ? g->err : NULL; }

struct gproc *gos_proc(const struct gos *g, int pid)
{
	if (pid < 0 || (unsigned)pid >= g->nproc || !g->proc[pid] || g->proc[pid]->state != GP_LIVE)
		return NULL;
	return g->proc[pid];
}

bool gos_alive(const struct gos *g, int pid)
{
	return gos_proc(g, pid) != NULL;
}

int gos_proc_cpu(const struct gos *g, int pid)
{
	struct gproc *p = gos_proc(g, pid);

	return p ? (int)p->cpu : -1;
}

unsigned gos_nprocs(const struct gos *g)
{
	return g->nlive;
}

/* ---- boot and teardown ---- */

static const char *config_invalid(struct gos_config *c, struct vcpu *const *cpus, unsigned ncpus)
{
	const struct cpu *cpu;

	if (ncpus < 1 || ncpus > GOS_MAX_CPUS || !cpus)
		return "the guest needs 1..64 vCPUs";
	cpu = vcpu_cpu(cpus[0]);
	if (c->mode != PAGING_32 && c->mode != PAGING_PAE && c->mode != PAGING_4LEVEL &&
	    c->mode != PAGING_5LEVEL)
		return "the paging mode must be 32-bit, pae, 4-level or 5-level";
	if (c->mode == PAGING_5LEVEL && !cpu->feat.la57)
		return "5-level paging is not offered by the CPU";
	if (c->pcid && c->mode != PAGING_4LEVEL && c->mode != PAGING_5LEVEL)
		c->pcid = false; /* PCIDs exist only in IA-32e mode */
	if (c->mode == PAGING_32)
		c->nx = false;
	if (c->ram_bytes < (UINT64_C(16) << 20) || (c->ram_bytes & 0xfff))
		return "guest RAM must be at least 16 MiB, a multiple of 4 KiB";
	if (!c->flush_ceiling)
		c->flush_ceiling = 33;
	if (!c->slice)
		c->slice = 64;
	if (!c->npcid)
		c->npcid = 6;
	if (c->npcid > GOS_MAX_PCID)
		return "at most 64 PCIDs per vCPU";
	return NULL;
}

struct gos *gos_boot(struct vcpu *const *cpus, unsigned ncpus, const struct gos_config *cfg, const char **err)
{
	struct gos *g = calloc(1, sizeof(*g));
	const char *why;

	*err = NULL;
	if (!g) {
		*err = "out of memory";
		return NULL;
	}
	g->cfg = *cfg;
	why = config_invalid(&g->cfg, cpus, ncpus);
	if (why) {
		*err = why;
		free(g);
		return NULL;
	}
	gpt_geom_init(&g->geom, g->cfg.mode, g->cfg.ram_bytes, g->cfg.nx, vcpu_cpu(cpus[0])->feat.gbpages,
		      g->cfg.large_dmap);
	/* The first MiB stays the firmware's and the kernel image's. */
	palloc_init(&g->pa, 256, g->geom.dmap_bytes >> 12, g->geom.phys_limit >> 12);
	u64map_init(&g->cache);
	g->ncpus = ncpus;
	g->next_mm_id = 1;
	for (unsigned c = 0; c < ncpus; c++)
		g->cpu[c].v = cpus[c];
	if (gos_boot_kernel(g) == GOS_OK) {
		for (unsigned c = 0; c < ncpus && !g->dead; c++)
			gos_boot_cpu(g, c);
		if (!g->dead)
			g->paging = true;
	}
	if (g->dead) {
		static char buf[300];

		snprintf(buf, sizeof(buf), "%s", g->err);
		*err = buf;
		gos_destroy(g);
		return NULL;
	}
	return g;
}

void gos_destroy(struct gos *g)
{
	if (!g)
		return;
	for (unsigned i = 0; i < g->nproc; i++) {
		struct gproc *p = g->proc[i];

		if (p && p->mm && --p->mm->users == 0) {
			free(p->mm->vma);
			free(p->mm);
		}
		free(p);
	}
	free(g->proc);
	for (unsigned c = 0; c < g->ncpus; c++)
		free(g->cpu[c].rq);
	gos_cache_fini(g);
	free(g->file_pages);
	palloc_fini(&g->pa);
	free(g);
}

/* ---- user accesses ---- */

enum gos_status gos_touch(struct gos *g, int pid, uint64_t va, enum access_type type)
{
	struct gproc *p = gos_proc(g, pid);
	enum gos_status s;

	if (g->dead)
		return GOS_DEAD;
	if (!p)
		return GOS_EINVAL;
	s = gos_enter(g, p);
	if (s != GOS_OK)
		return s;
	g->st.touches++;
	for (unsigned tries = 0; tries < 8; tries++) {
		struct vcpu *v = g->cpu[p->cpu].v;
		struct guest_fault f;
		enum vcpu_status vs;

		vcpu_set_cpl(v, 3);
		vs = vcpu_touch(v, va, type, &f);
		vcpu_set_cpl(v, 0);
		if (vs == VCPU_OK)
			return GOS_OK;
		if (vs == VCPU_DEAD)
			return gos_vcpu_fail(g, v, vs, "user access");
		s = gos_handle_fault(g, p, &f);
		if (s != GOS_OK)
			return s;
		s = gos_checkpoint(g, "a page fault");
		if (s != GOS_OK)
			return s;
	}
	return gos_fail(g, "pid %d: the access to %#llx keeps faulting after its fault was handled", pid,
			(unsigned long long)va);
}

enum gos_status gos_compute(struct gos *g, int pid, uint64_t instructions)
{
	struct gproc *p = gos_proc(g, pid);
	enum gos_status s;

	if (g->dead)
		return GOS_DEAD;
	if (!p)
		return GOS_EINVAL;
	s = gos_enter(g, p);
	if (s == GOS_OK)
		vcpu_retire(g->cpu[p->cpu].v, instructions);
	return s;
}
