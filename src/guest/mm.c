/*
 * mm.c - address spaces: creation (a top table holding the kernel's
 * entries; PAE: three preallocated user page directories), VMA records,
 * mmap (top-down first fit below the stack), munmap, and the teardown of
 * mappings and tables (every entry cleared through the vCPU, so freed
 * pages read as zeros and a shadow MMU sees the writes).
 */
#include "guest/gos_internal.h"

#include <stdlib.h>
#include <string.h>

#include "arch/x86.h"

#define MMAP_GAP (UINT64_C(64) << 20) /* mmap area ends this far below the top of user space */
#define MMAP_MIN (UINT64_C(1) << 20)  /* and never goes below 1 MiB */

/* ---- VMAs ---- */

/* Index of the first VMA whose end is above va. */
static unsigned vma_lower(const struct gmm *mm, uint64_t va)
{
	unsigned lo = 0, hi = mm->nvma;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (mm->vma[mid].end <= va)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct gvma *gos_vma_find(struct gmm *mm, uint64_t va)
{
	unsigned i = vma_lower(mm, va);

	return (i < mm->nvma && mm->vma[i].start <= va) ? &mm->vma[i] : NULL;
}

static bool vma_intersects(const struct gmm *mm, uint64_t start, uint64_t end)
{
	unsigned i = vma_lower(mm, start);

	return i < mm->nvma && mm->vma[i].start < end;
}

static bool vma_reserve(struct gmm *mm, unsigned extra)
{
	if (mm->nvma + extra <= mm->cap)
		return true;
	unsigned cap = mm->cap ? 2 * mm->cap : 8;
	while (cap < mm->nvma + extra)
		cap *= 2;
	struct gvma *n = realloc(mm->vma, cap * sizeof(*n));
	if (!n)
		return false;
	mm->vma = n;
	mm->cap = cap;
	return true;
}

enum gos_status gos_vma_insert(struct gmm *mm, const struct gvma *vma)
{
	unsigned i = vma_lower(mm, vma->start);

	if (vma->start >= vma->end || (i < mm->nvma && mm->vma[i].start < vma->end))
		return GOS_EINVAL;
	if (!vma_reserve(mm, 1))
		return GOS_ENOMEM;
	memmove(&mm->vma[i + 1], &mm->vma[i], (mm->nvma - i) * sizeof(*vma));
	mm->vma[i] = *vma;
	mm->nvma++;
	return GOS_OK;
}

/* Removes [start, end) from the VMA records, splitting VMAs that straddle it. */
static enum gos_status vma_remove(struct gmm *mm, uint64_t start, uint64_t end)
{
	unsigned i = vma_lower(mm, start);

	if (!vma_reserve(mm, 1))
		return GOS_ENOMEM;
	while (i < mm->nvma && mm->vma[i].start < end) {
		struct gvma *a = &mm->vma[i];

		if (a->start < start && a->end > end) { /* split in two */
			struct gvma tail = *a;

			tail.pgoff += (end - a->start) >> 12;
			tail.start = end;
			a->end = start;
			memmove(&mm->vma[i + 2], &mm->vma[i + 1], (mm->nvma - i - 1) * sizeof(*a));
			mm->vma[i + 1] = tail;
			mm->nvma++;
			return GOS_OK;
		}
		if (a->start < start) {
			a->end = start;
			i++;
		} else if (a->end > end) {
			a->pgoff += (end - a->start) >> 12;
			a->start = end;
			i++;
		} else {
			memmove(a, a + 1, (mm->nvma - i - 1) * sizeof(*a));
			mm->nvma--;
		}
	}
	return GOS_OK;
}

/* ---- pages ---- */

void gos_page_unref(struct gos *g, uint64_t gfn)
{
	unsigned flags;
	uint32_t refs;

	if (gfn == g->zero_gfn)
		return;
	if (!palloc_info(&g->pa, gfn, &flags, &refs)) {
		gos_fail(g, "unmapping page %#llx that has no record", (unsigned long long)gfn);
		return;
	}
	palloc_set(&g->pa, gfn, flags, refs - 1);
	if (refs == 1) {
		palloc_put(&g->pa, gfn);
		g->st.pages_free++;
	}
}

/* ---- teardown ---- */

struct zap {
	struct gos *g;
	struct vcpu *v;
	struct gmm *mm;
	bool freed_tables;
	uint64_t zapped;
};

static enum gos_status zap_table(struct zap *z, uint64_t table, unsigned level, uint64_t base,
				 uint64_t start, uint64_t end)
{
	struct gos *g = z->g;
	const struct gpt_geom *geo = &g->geom;
	uint64_t span = gpt_span(geo, level);
	unsigned idx = (unsigned)((start - base) / span);
	enum gos_status s;

	for (; idx < gpt_entries(geo, level); idx++) {
		uint64_t va = base + (uint64_t)idx * span, egpa = table + (uint64_t)idx * geo->esize, e;

		if (va >= end)
			break;
		s = gos_pte_read(g, z->v, egpa, &e);
		if (s != GOS_OK)
			return s;
		if (!(e & GPT_P))
			continue;
		if (level == 1) {
			uint64_t seen;

			while ((s = gos_pte_cmpxchg(g, z->v, egpa, e, 0, &seen)) == GOS_OK && seen != e)
				e = seen;
			if (s != GOS_OK)
				return s;
			gos_page_unref(g, gpt_entry_addr(geo, 1, e) >> 12);
			z->zapped++;
			continue;
		}
		if (gpt_is_large(geo, level, e))
			return gos_fail(g, "a large page in user space at %#llx", (unsigned long long)va);
		uint64_t lo = va > start ? va : start, hi = va + span < end ? va + span : end;
		s = zap_table(z, gpt_entry_addr(geo, level, e), level - 1, va, lo, hi);
		if (s != GOS_OK)
			return s;
		/* PAE page directories of user space stay for the life of the address space. */
		if ((geo->mode == PAGING_PAE && level == 3) || vma_intersects(z->mm, va, va + span))
			continue;
		s = gos_pte_write(g, z->v, egpa, 0);
		if (s != GOS_OK)
			return s;
		gos_pt_free(g, z->v, gpt_entry_addr(geo, level, e));
		z->mm->pt_pages--;
		z->freed_tables = true;
	}
	return GOS_OK;
}

enum gos_status gos_zap_range(struct gos *g, struct vcpu *v, struct gmm *mm, uint64_t start, uint64_t end,
			      bool *freed_tables, uint64_t *zapped)
{
	struct zap z = { .g = g, .v = v, .mm = mm };
	enum gos_status s = zap_table(&z, mm->pgd, g->geom.levels, 0, start, end);

	if (freed_tables)
		*freed_tables = z.freed_tables;
	if (zapped)
		*zapped = z.zapped;
	return s;
}

/* ---- address spaces ---- */

enum gos_status gos_mm_create(struct gos *g, struct vcpu *v, struct gmm **out)
{
	const struct gpt_geom *geo = &g->geom;
	struct gmm *mm = calloc(1, sizeof(*mm));
	enum gos_status s;

	if (!mm)
		return GOS_ENOMEM;
	mm->id = g->next_mm_id++;
	s = gos_pt_alloc(g, v, &mm->pgd);
	if (s != GOS_OK) {
		free(mm);
		return s;
	}
	mm->pt_pages = 1;
	if (geo->mode == PAGING_PAE) {
		for (unsigned i = 0; i < 3 && s == GOS_OK; i++) {
			uint64_t pd;

			s = gos_pt_alloc(g, v, &pd);
			if (s == GOS_OK) {
				mm->pt_pages++;
				s = gos_pte_write(g, v, mm->pgd + 8 * i, gpt_mk_table(geo, 3, pd, true));
			}
		}
	}
	for (unsigned i = 0; i < g->nktop && s == GOS_OK; i++)
		s = gos_pte_write(g, v, mm->pgd + (uint64_t)g->ktop_idx[i] * geo->esize, g->ktop_val[i]);
	if (s != GOS_OK) {
		gos_mm_destroy(g, v, mm);
		return s;
	}
	*out = mm;
	return GOS_OK;
}

enum gos_status gos_mm_destroy(struct gos *g, struct vcpu *v, struct gmm *mm)
{
	const struct gpt_geom *geo = &g->geom;
	enum gos_status s;

	if (g->unmap_mm == mm)
		g->unmap_mm = NULL;
	/*
	 * VMA by VMA, last first: only the entries of mapped ranges are read,
	 * and a table goes when no VMA left covers it (as an OS unmaps the
	 * VMAs, then frees the tables below them).
	 */
	s = GOS_OK;
	while (mm->nvma && s == GOS_OK) {
		struct gvma a = mm->vma[--mm->nvma];

		s = gos_zap_range(g, v, mm, a.start, a.end, NULL, NULL);
	}
	if (s == GOS_OK && geo->mode == PAGING_PAE) {
		for (unsigned i = 0; i < 3 && s == GOS_OK; i++) {
			uint64_t e;

			s = gos_pte_read(g, v, mm->pgd + 8 * i, &e);
			if (s == GOS_OK && (e & GPT_P)) {
				s = gos_pte_write(g, v, mm->pgd + 8 * i, 0);
				gos_pt_free(g, v, gpt_entry_addr(geo, 3, e));
				mm->pt_pages--;
			}
		}
	}
	for (unsigned i = 0; i < g->nktop && s == GOS_OK; i++)
		s = gos_pte_write(g, v, mm->pgd + (uint64_t)g->ktop_idx[i] * geo->esize, 0);
	if (s == GOS_OK) {
		gos_pt_free(g, v, mm->pgd);
		mm->pt_pages--;
	}
	free(mm->vma);
	free(mm);
	return s;
}

/* ---- mmap / munmap ---- */

/* Top-down first fit of len bytes below the mmap area's top. 0 if none. */
static uint64_t find_gap(const struct gos *g, const struct gmm *mm, uint64_t len)
{
	uint64_t top = g->geom.user_top - MMAP_GAP;

	for (unsigned i = mm->nvma; i-- > 0;) {
		const struct gvma *a = &mm->vma[i];

		if (a->start >= top)
			continue;
		if (a->end + len <= top)
			return top - len;
		top = a->start;
	}
	return top >= MMAP_MIN + len ? top - len : 0;
}

enum gos_status gos_mmap(struct gos *g, int pid, uint64_t npages, unsigned prot, unsigned flags,
			 int file, uint64_t pgoff, uint64_t *addr)
{
	struct gproc *p = gos_proc(g, pid);
	struct gvma a;
	enum gos_status s;

	if (g->dead)
		return GOS_DEAD;
	if (!p || !npages || npages > (g->geom.user_top >> 12) || (file >= 0 && (unsigned)file >= g->nfiles) ||
	    (file < 0 && (flags & GOS_MAP_SHARED)))
		return GOS_EINVAL;
	s = gos_enter(g, p);
	if (s != GOS_OK)
		return s;
	a = (struct gvma){ .prot = prot, .flags = flags, .file = file < 0 ? -1 : file, .pgoff = pgoff };
	a.start = find_gap(g, p->mm, npages << 12);
	if (!a.start)
		return GOS_ENOMEM;
	a.end = a.start + (npages << 12);
	s = gos_vma_insert(p->mm, &a);
	if (s != GOS_OK)
		return s;
	*addr = a.start;
	g->st.mmaps++;
	return gos_checkpoint(g, "mmap");
}

enum gos_status gos_munmap(struct gos *g, int pid, uint64_t addr, uint64_t npages)
{
	struct gproc *p = gos_proc(g, pid);
	uint64_t end = addr + (npages << 12), zapped = 0;
	bool freed = false;
	enum gos_status s;

	if (g->dead)
		return GOS_DEAD;
	if (!p || (addr & 0xfff) || !npages || end > g->geom.user_top || end < addr)
		return GOS_EINVAL;
	s = gos_enter(g, p);
	if (s == GOS_OK)
		s = vma_remove(p->mm, addr, end);
	if (s == GOS_OK)
		s = gos_zap_range(g, g->cpu[p->cpu].v, p->mm, addr, end, &freed, &zapped);
	if (s == GOS_OK && (zapped || freed))
		s = gos_flush_range(g, p->cpu, p->mm, addr, end, freed);
	if (s != GOS_OK)
		return s;
	g->unmap_mm = p->mm;
	g->unmap_start = addr;
	g->unmap_end = end;
	g->st.munmaps++;
	return gos_checkpoint(g, "munmap");
}
