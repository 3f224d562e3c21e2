/*
 * fault.c - the guest's #PF handler. It decides from its own records (the
 * VMA of the address and the page tables, read through the vCPU) what a
 * fault is:
 *   no VMA, or an access the VMA does not allow       -> error: the process
 *                                                        is killed (counted)
 *   PTE not present, anonymous VMA: read  -> the shared zero page, read-only
 *                                   write -> a new page
 *   PTE not present, file VMA: shared     -> the page-cache page (writable
 *                                            if the VMA is)
 *                              private    -> read: the page-cache page,
 *                                            read-only; write: a private copy
 *   PTE present, write to a read-only PTE in a writable VMA (copy-on-write):
 *       an anonymous page mapped once     -> made writable in place
 *       otherwise (shared, page cache, zero page) -> copied to a new page;
 *           the old translation is flushed (INVLPG, shootdown)
 *   PTE present and allowing the access   -> spurious (counted)
 * New PTEs have A set, and D for writes; they are installed with a
 * compare-exchange through the vCPU.
 */
#include "guest/gos_internal.h"

#include "arch/x86.h"

/* Kills the process after a bad access or when memory ran out. */
static enum gos_status kill(struct gos *g, struct gproc *p)
{
	enum gos_status s;

	g->st.killed++;
	s = gos_reap(g, p);
	if (s != GOS_OK)
		return s;
	s = gos_checkpoint(g, "killing a process");
	return s == GOS_OK ? GOS_KILLED : s;
}

static enum gos_status bad(struct gos *g, struct gproc *p)
{
	g->st.faults_bad++;
	return kill(g, p);
}

static enum gos_status oom(struct gos *g, struct gproc *p)
{
	g->st.oom++;
	return kill(g, p);
}

/* A new anonymous page mapped once. */
static enum gos_status new_anon(struct gos *g, uint64_t *gfn)
{
	if (!palloc_get(&g->pa, PA_DATA, gfn))
		return GOS_ENOMEM;
	if (!palloc_set(&g->pa, *gfn, PG_ANON, 1)) {
		palloc_put(&g->pa, *gfn);
		return GOS_ENOMEM;
	}
	g->st.pages_alloc++;
	return GOS_OK;
}

static void ref(struct gos *g, uint64_t gfn)
{
	unsigned flags;
	uint32_t refs;

	if (gfn == g->zero_gfn)
		return;
	palloc_info(&g->pa, gfn, &flags, &refs);
	palloc_set(&g->pa, gfn, flags, refs + 1);
}

/* Installs `pte` where `old` was; the tables are the OS's own, so a change means a kernel bug. */
static enum gos_status install(struct gos *g, struct vcpu *v, uint64_t egpa, uint64_t old, uint64_t pte)
{
	uint64_t seen;
	enum gos_status s = gos_pte_cmpxchg(g, v, egpa, old, pte, &seen);

	if (s == GOS_OK && seen != old)
		return gos_fail(g, "a PTE changed under the fault handler");
	return s;
}

static enum gos_status demand(struct gos *g, struct gproc *p, const struct gvma *a, uint64_t va, bool write,
			      uint64_t egpa)
{
	const struct gpt_geom *geo = &g->geom;
	struct vcpu *v = g->cpu[p->cpu].v;
	bool w = a->prot & GOS_PROT_WRITE, x = a->prot & GOS_PROT_EXEC;
	uint64_t gfn, idx = ((va - a->start) >> 12) + a->pgoff;
	enum gos_status s;

	if (a->file < 0) {
		if (write) {
			s = new_anon(g, &gfn);
			g->st.faults_anon++;
		} else {
			gfn = g->zero_gfn;
			w = false;
			s = GOS_OK;
			g->st.faults_zero++;
		}
	} else {
		s = gos_cache_get(g, a->file, idx, &gfn);
		if (s == GOS_EINVAL)
			return bad(g, p); /* beyond the end of the file */
		if (s == GOS_OK && !(a->flags & GOS_MAP_SHARED) && write) {
			s = new_anon(g, &gfn); /* a private copy of the file page */
			g->st.faults_cow++;
		} else if (s == GOS_OK) {
			ref(g, gfn);
			if (!(a->flags & GOS_MAP_SHARED))
				w = false;
			g->st.faults_file++;
		}
	}
	if (s == GOS_ENOMEM)
		return oom(g, p);
	if (s != GOS_OK)
		return s;
	return install(g, v, egpa, 0, gpt_mk_leaf(geo, 1, gfn << 12, w, true, x, write && w, false));
}

static enum gos_status cow(struct gos *g, struct gproc *p, const struct gvma *a, uint64_t va, uint64_t egpa,
			   uint64_t e)
{
	const struct gpt_geom *geo = &g->geom;
	struct vcpu *v = g->cpu[p->cpu].v;
	uint64_t gfn = gpt_entry_addr(geo, 1, e) >> 12, ngfn;
	unsigned flags;
	uint32_t refs;
	enum gos_status s;

	palloc_info(&g->pa, gfn, &flags, &refs);
	if ((a->flags & GOS_MAP_SHARED) || (gfn != g->zero_gfn && (flags & PG_ANON) && refs == 1)) {
		g->st.faults_reuse++;
		return install(g, v, egpa, e, e | GPT_RW | GPT_D | GPT_A);
	}
	s = new_anon(g, &ngfn);
	if (s == GOS_ENOMEM)
		return oom(g, p);
	if (s != GOS_OK)
		return s;
	g->st.faults_cow++;
	s = install(g, v, egpa, e,
		    gpt_mk_leaf(geo, 1, ngfn << 12, true, true, a->prot & GOS_PROT_EXEC, true, false));
	if (s != GOS_OK)
		return s;
	gos_page_unref(g, gfn);
	return gos_flush_range(g, p->cpu, p->mm, va, va + 4096, false);
}

enum gos_status gos_handle_fault(struct gos *g, struct gproc *p, const struct guest_fault *f)
{
	const struct gpt_geom *geo = &g->geom;
	struct vcpu *v = g->cpu[p->cpu].v;
	uint64_t va = f->cr2 & ~UINT64_C(0xfff), egpa, e;
	bool write, fetch;
	struct gvma *a;
	enum gos_status s;

	g->st.faults++;
	vcpu_set_cpl(v, 0);
	if (f->kind != XO_PAGE_FAULT)
		return bad(g, p); /* #GP: a non-canonical address */
	if (f->error_code & PFEC_RSVD)
		return gos_fail(g, "pid %d: reserved bit set in a PTE for %#llx", p->pid, (unsigned long long)f->cr2);
	write = f->error_code & PFEC_W;
	fetch = f->error_code & PFEC_ID;
	a = gos_vma_find(p->mm, f->cr2);
	if (!a || (write && !(a->prot & GOS_PROT_WRITE)) || (fetch && !(a->prot & GOS_PROT_EXEC)) ||
	    !(a->prot & (GOS_PROT_READ | GOS_PROT_WRITE | GOS_PROT_EXEC)))
		return bad(g, p);
	s = gos_pt_walk(g, v, p->mm, va, true, &egpa);
	if (s == GOS_ENOMEM)
		return oom(g, p);
	if (s != GOS_OK)
		return s;
	s = gos_pte_read(g, v, egpa, &e);
	if (s != GOS_OK)
		return s;
	if (!(e & GPT_P))
		return demand(g, p, a, va, write, egpa);
	if (write && !(e & GPT_RW))
		return cow(g, p, a, va, egpa, e);
	if ((e & GPT_US) && (!fetch || !geo->nx || !(e & GPT_XD))) {
		g->st.faults_spurious++;
		return GOS_OK;
	}
	return bad(g, p);
}
