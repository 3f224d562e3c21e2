/*
 * check.c - the guest OS model's oracle (see check.h).
 */
#include "guest/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "arch/tlb.h"
#include "arch/x86.h"
#include "guest/gos_internal.h"
#include "vm/vcpu.h"

struct ck {
	struct gos_checker *ck;
	struct gos *g;
	struct vm *vm;
	char *msg;
	unsigned len;
	struct u64map count; /* gfn -> PTEs mapping it */
	struct u64map seen;  /* address spaces checked */
	struct pmem mem;     /* guest memory, read-only */
	/* the process being checked */
	struct gproc *p;
	struct hw_mmu m;
	uint64_t tables;
};

static int fail(struct ck *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, c->len, fmt, ap);
	va_end(ap);
	return 1;
}

/* ---- guest memory without side effects ---- */

static enum pmem_status ro_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
	struct guestmem *gm = ctx;

	return guestmem_read(gm, pa, size, val) == MEM_OK ? PMEM_OK : PMEM_OUTSIDE;
}

static enum pmem_status ro_cmpxchg(void *ctx, uint64_t pa, unsigned size, uint64_t expected, uint64_t desired)
{
	uint64_t cur;

	(void)desired;
	if (ro_read(ctx, pa, size, &cur) != PMEM_OK)
		return PMEM_OUTSIDE;
	return cur == expected ? PMEM_OK : PMEM_CHANGED;
}

static const struct pmem_ops ro_ops = { .read = ro_read, .cmpxchg = ro_cmpxchg };

static bool raw_read(struct ck *c, uint64_t gpa, uint64_t *e)
{
	return pmem_read(&c->mem, gpa, c->g->geom.esize, e) == PMEM_OK;
}

/* The independent view of an address space: the OS's registers with CR3 = its top table, CPL 3. */
static bool mm_view(struct ck *c, const struct gmm *mm)
{
	struct hw_config cfg;
	struct xlate_result fail;

	memset(&cfg, 0, sizeof(cfg));
	cfg.cpu = *vcpu_cpu(c->g->cpu[0].v);
	cfg.cpu.regs.cr3 = mm->pgd;
	cfg.cpu.regs.cpl = 3;
	cfg.nested = NESTED_NONE;
	cfg.mem = c->mem;
	return hw_mmu_init(&c->m, &cfg, &fail);
}

/* ---- 1. the tables against the OS's records ---- */

static int check_leaf(struct ck *c, uint64_t va, uint64_t e)
{
	struct gos *g = c->g;
	struct gmm *mm = c->p->mm;
	uint64_t gfn = gpt_entry_addr(&g->geom, 1, e) >> 12, cgfn = UINT64_MAX, n = 0;
	struct gvma *a = gos_vma_find(mm, va);
	struct xlate_result r;
	unsigned flags;
	uint32_t refs;
	bool w, x;

	c->ck->leaves++;
	if (!a)
		return fail(c, "pid %d: %#llx is mapped outside every VMA", c->p->pid, (unsigned long long)va);
	if (!(e & GPT_US))
		return fail(c, "pid %d: user PTE for %#llx without U/S", c->p->pid, (unsigned long long)va);
	hw_translate(&c->m, va, ACCESS_READ, false, &r, NULL);
	if (r.outcome != XO_OK || r.gpa != gfn << 12)
		return fail(c, "pid %d: %#llx: the walk gives %s gpa %#llx, the PTE %#llx", c->p->pid,
			    (unsigned long long)va, xlate_outcome_name(r.outcome), (unsigned long long)r.gpa,
			    (unsigned long long)e);
	w = r.guest_rights & RIGHT_W;
	x = r.guest_rights & RIGHT_X;
	if (w && !(a->prot & GOS_PROT_WRITE))
		return fail(c, "pid %d: %#llx writable in a read-only VMA", c->p->pid, (unsigned long long)va);
	if (g->geom.nx && x != !!(a->prot & GOS_PROT_EXEC))
		return fail(c, "pid %d: %#llx executable %d, VMA says %d", c->p->pid, (unsigned long long)va, x,
			    !!(a->prot & GOS_PROT_EXEC));
	palloc_info(&g->pa, gfn, &flags, &refs);
	if (a->file >= 0)
		u64map_get(&g->cache, ((uint64_t)a->file << 40) | (((va - a->start) >> 12) + a->pgoff), &cgfn);
	if (a->file < 0 && gfn != g->zero_gfn && !(flags & PG_ANON))
		return fail(c, "pid %d: %#llx maps %#llx, not an anonymous page", c->p->pid, (unsigned long long)va,
			    (unsigned long long)gfn);
	if (a->file >= 0 && gfn != cgfn && ((a->flags & GOS_MAP_SHARED) || !(flags & PG_ANON)))
		return fail(c, "pid %d: %#llx maps %#llx, not its file page %#llx", c->p->pid,
			    (unsigned long long)va, (unsigned long long)gfn, (unsigned long long)cgfn);
	if (w && gfn == g->zero_gfn)
		return fail(c, "pid %d: the zero page is writable at %#llx", c->p->pid, (unsigned long long)va);
	if (w && !(a->flags & GOS_MAP_SHARED) && (!(flags & PG_ANON) || refs != 1))
		return fail(c, "pid %d: %#llx writable but page %#llx is shared (%u refs)", c->p->pid,
			    (unsigned long long)va, (unsigned long long)gfn, refs);
	if (gfn != g->zero_gfn) {
		u64map_get(&c->count, gfn, &n);
		u64map_put(&c->count, gfn, n + 1);
	}
	return 0;
}

static int walk_leaves(struct ck *c, uint64_t table, unsigned level, uint64_t base)
{
	const struct gpt_geom *geo = &c->g->geom;
	uint64_t span = gpt_span(geo, level), e;

	for (unsigned idx = 0; idx < gpt_entries(geo, level); idx++) {
		uint64_t va = base + (uint64_t)idx * span;

		if (va >= geo->user_top)
			break;
		if (!raw_read(c, table + (uint64_t)idx * geo->esize, &e))
			return fail(c, "pid %d: a table at %#llx outside memory", c->p->pid, (unsigned long long)table);
		if (!(e & GPT_P))
			continue;
		if (level == 1) {
			if (check_leaf(c, va, e))
				return 1;
			continue;
		}
		if (gpt_is_large(geo, level, e))
			return fail(c, "pid %d: a large user page at %#llx", c->p->pid, (unsigned long long)va);
		c->tables++;
		if (walk_leaves(c, gpt_entry_addr(geo, level, e), level - 1, va))
			return 1;
	}
	return 0;
}

static int check_kernel_half(struct ck *c, const struct gmm *mm)
{
	const struct gos *g = c->g;
	uint64_t e;

	for (unsigned i = 0; i < g->nktop; i++) {
		if (!raw_read(c, mm->pgd + (uint64_t)g->ktop_idx[i] * g->geom.esize, &e) || e != g->ktop_val[i])
			return fail(c, "pid %d: kernel entry %u of the top table is %#llx, not %#llx", c->p->pid,
				    g->ktop_idx[i], (unsigned long long)e, (unsigned long long)g->ktop_val[i]);
	}
	return 0;
}

/* ---- 2. what the vCPUs see ---- */

/* The TLB context of vCPU cpu that may hold mm's translations (false: none). */
static bool mm_context(struct ck *c, unsigned cpu, const struct gmm *mm, struct tlb_context *ctx)
{
	const struct gcpu *gc = &c->g->cpu[cpu];
	struct tlb *t = vcpu_tlb(gc->v);

	/* The TLB binds its context lazily (at its next access): build it for mm. */
	*ctx = *tlb_get_context(t);
	if (gc->cur_mm == mm) {
		ctx->lin.pcid = gc->cur_pcid;
		return true;
	}
	if (!c->g->cfg.pcid)
		return false;
	for (unsigned i = 0; i < c->g->cfg.npcid; i++) {
		if (gc->slot[i].mm == mm) {
			ctx->lin.pcid = (uint16_t)(i + 1);
			return true;
		}
	}
	return false;
}

/* One page as seen from every vCPU, against the independent translation r (XO_OK or not). */
static int check_seen(struct ck *c, uint64_t va, const struct xlate_result *r, uint64_t leaf)
{
	struct gos *g = c->g;
	struct gmm *mm = c->p->mm;
	uint64_t hpa = 0;
	bool mapped = r->outcome == XO_OK;

	if (mapped && !vm_gpa_to_hpa(c->vm, r->gpa, &hpa))
		hpa = UINT64_MAX; /* not backed yet: no translation may give it */
	for (unsigned cpu = 0; cpu < g->ncpus; cpu++) {
		struct vcpu *v = g->cpu[cpu].v;
		struct tlb *t = vcpu_tlb(v);
		struct tlb_context saved, ctx;
		const struct tlb_entry *e;

		if (g->cpu[cpu].cur_mm == mm) {
			struct xlate_result h;

			c->ck->probes++;
			if (!vcpu_hw_probe(v, va, ACCESS_READ, true, &h))
				return fail(c, "vCPU %u: no hardware context", cpu);
			if (vm_level(c->vm) == 0 && (h.outcome != r->outcome || (mapped && h.hpa != hpa)))
				return fail(c, "pid %d on vCPU %u: %#llx gives %s %#llx on the hardware, %s %#llx by the walk",
					    c->p->pid, cpu, (unsigned long long)va, xlate_outcome_name(h.outcome),
					    (unsigned long long)h.hpa, xlate_outcome_name(r->outcome),
					    (unsigned long long)hpa);
			if (h.outcome == XO_OK && (!mapped || h.hpa != hpa))
				return fail(c, "pid %d on vCPU %u: the hardware maps %#llx to %#llx, the guest %s %#llx",
					    c->p->pid, cpu, (unsigned long long)va, (unsigned long long)h.hpa,
					    mapped ? "to" : "not at all", (unsigned long long)hpa);
		}
		if (!mm_context(c, cpu, mm, &ctx))
			continue;
		saved = *tlb_get_context(t);
		tlb_set_context(t, &ctx);
		e = tlb_peek(t, va);
		if (e) {
			uint64_t ehpa = e->out + (va - e->addr);
			const char *bad = NULL;

			c->ck->tlb_entries++;
			if (!mapped)
				bad = "an entry for an unmapped page";
			else if (ehpa != hpa)
				bad = "an entry for another page";
			else if (e->grights & ~r->guest_rights)
				bad = "an entry with more rights than the PTE";
			else if (e->gdirty && !(leaf & GPT_D))
				bad = "a dirty entry for a clean PTE";
			if (bad) {
				tlb_set_context(t, &saved);
				return fail(c, "pid %d: vCPU %u PCID %u holds %s at %#llx (-> %#llx rights %#x; walk %s %#llx rights %#x)",
					    c->p->pid, cpu, ctx.lin.pcid, bad, (unsigned long long)va,
					    (unsigned long long)ehpa, e->grights, xlate_outcome_name(r->outcome),
					    (unsigned long long)hpa, r->guest_rights);
			}
		}
		tlb_set_context(t, &saved);
	}
	return 0;
}

static int check_pages(struct ck *c, uint64_t start, uint64_t end)
{
	uint64_t n = 0;

	for (uint64_t va = start; va < end; va += 4096) {
		struct xlate_result r;
		uint64_t pte = 0;

		if (c->ck->max_pages_per_vma && n++ >= c->ck->max_pages_per_vma)
			break;
		c->ck->vma_pages++;
		hw_translate(&c->m, va, ACCESS_READ, false, &r, NULL);
		if (r.outcome == XO_OK) {
			/* the leaf itself (for its D flag), from the OS's tables */
			const struct gpt_geom *geo = &c->g->geom;
			uint64_t table = c->p->mm->pgd, e = 0;

			for (unsigned l = geo->levels; l >= 1; l--) {
				if (!raw_read(c, table + (uint64_t)gpt_index(geo, l, va) * geo->esize, &e))
					break;
				if (l > 1)
					table = gpt_entry_addr(geo, l, e);
			}
			pte = e;
		} else if (r.outcome != XO_PAGE_FAULT || (r.error_code & (PFEC_P | PFEC_RSVD))) {
			return fail(c, "pid %d: %#llx: the walk gives %s error code %#x", c->p->pid,
				    (unsigned long long)va, xlate_outcome_name(r.outcome), r.error_code);
		}
		if (check_seen(c, va, &r, pte))
			return 1;
	}
	return 0;
}

static int check_proc(struct ck *c, struct gproc *p)
{
	struct gmm *mm = p->mm;

	c->p = p;
	c->tables = 1;
	if (!mm_view(c, mm))
		return fail(c, "pid %d: its top table cannot be loaded", p->pid);
	if (check_kernel_half(c, mm) || walk_leaves(c, mm->pgd, c->g->geom.levels, 0))
		return 1;
	if (c->tables != mm->pt_pages)
		return fail(c, "pid %d: %llu page-table pages, the OS counts %llu", p->pid,
			    (unsigned long long)c->tables, (unsigned long long)mm->pt_pages);
	for (unsigned i = 0; i < mm->nvma; i++)
		if (check_pages(c, mm->vma[i].start, mm->vma[i].end))
			return 1;
	if (c->g->unmap_mm == mm && check_pages(c, c->g->unmap_start, c->g->unmap_end))
		return 1;
	return 0;
}

/* ---- 3. page records, 4. CR3 ---- */

static int check_refs(struct ck *c)
{
	struct gos *g = c->g;
	uint64_t gfn, val, n;
	size_t pos = 0;

	while (u64map_iter(&g->pa.meta, &pos, &gfn, &val)) {
		unsigned flags = (unsigned)(val >> 32);
		uint32_t refs = (uint32_t)val;

		n = 0;
		u64map_get(&c->count, gfn, &n);
		if (refs != n + ((flags & PG_CACHE) ? 1 : 0))
			return fail(c, "page %#llx has %u references, %llu PTEs map it%s", (unsigned long long)gfn,
				    refs, (unsigned long long)n, (flags & PG_CACHE) ? " (+1 page cache)" : "");
	}
	pos = 0;
	while (u64map_iter(&c->count, &pos, &gfn, &n)) {
		unsigned flags;
		uint32_t refs;

		if (!palloc_info(&g->pa, gfn, &flags, &refs))
			return fail(c, "page %#llx is mapped %llu times but has no record", (unsigned long long)gfn,
				    (unsigned long long)n);
	}
	return 0;
}

static int check_cr3(struct ck *c)
{
	struct gos *g = c->g;

	for (unsigned cpu = 0; cpu < g->ncpus; cpu++) {
		const struct cpu_regs *r = &vcpu_cpu(g->cpu[cpu].v)->regs;
		const struct gmm *mm = g->cpu[cpu].cur_mm;
		uint64_t root = mm ? mm->pgd : g->kpgd;
		uint64_t mask = g->geom.mode == PAGING_PAE ? ~UINT64_C(0x1f) : ~UINT64_C(0xfff);

		if ((r->cr3 & mask) != root)
			return fail(c, "vCPU %u: CR3 %#llx, the OS loaded %#llx", cpu, (unsigned long long)r->cr3,
				    (unsigned long long)root);
		if ((r->cr4 & CR4_PCIDE) && (r->cr3 & CR3_PCID_MASK) != g->cpu[cpu].cur_pcid)
			return fail(c, "vCPU %u: PCID %llu, the OS loaded %u", cpu,
				    (unsigned long long)(r->cr3 & CR3_PCID_MASK), g->cpu[cpu].cur_pcid);
	}
	return 0;
}

void gos_checker_init(struct gos_checker *ck, struct vm *vm)
{
	memset(ck, 0, sizeof(*ck));
	ck->vm = vm;
}

int gos_check(struct gos_checker *ck, struct gos *g, char *msg, unsigned len)
{
	struct ck c = { .ck = ck, .g = g, .vm = ck->vm, .msg = msg, .len = len };
	int r = 0;

	ck->runs++;
	c.mem = (struct pmem){ .ops = &ro_ops, .ctx = vm_guestmem(ck->vm) };
	u64map_init(&c.count);
	u64map_init(&c.seen);
	r = check_cr3(&c);
	for (unsigned i = 0; i < g->nproc && !r; i++) {
		struct gproc *p = g->proc[i];

		/* threads share their address space: check it once */
		if (!p || p->state != GP_LIVE || u64map_get(&c.seen, p->mm->id, NULL))
			continue;
		u64map_put(&c.seen, p->mm->id, 1);
		r = check_proc(&c, p);
	}
	u64map_fini(&c.seen);
	if (!r)
		r = check_refs(&c);
	u64map_fini(&c.count);
	return r;
}

bool gos_check_translate(struct gos_checker *ck, struct gos *g, int pid, uint64_t va, struct xlate_result *r)
{
	struct ck c = { .ck = ck, .g = g, .vm = ck->vm };
	struct gproc *p = gos_proc(g, pid);

	c.mem = (struct pmem){ .ops = &ro_ops, .ctx = vm_guestmem(ck->vm) };
	if (!p || !mm_view(&c, p->mm))
		return false;
	hw_translate(&c.m, va, ACCESS_READ, false, r, NULL);
	return true;
}

int gos_check_hook(void *ctx, struct gos *g, char *msg, unsigned len)
{
	return gos_check(ctx, g, msg, len);
}
