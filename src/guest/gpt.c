/*
 * gpt.c - the guest OS's page-table code: per-mode geometry and entry
 * encodings, page-table pages, and entries read and written through the
 * vCPU at their direct-map address (physical address before paging is on).
 */
#include "guest/gos_internal.h"

#include "arch/x86.h"

#define KiB(x) ((uint64_t)(x) << 10)
#define MiB(x) ((uint64_t)(x) << 20)
#define GiB(x) ((uint64_t)(x) << 30)
#define TiB(x) ((uint64_t)(x) << 40)

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

bool gpt_geom_init(struct gpt_geom *g, enum paging_mode mode, uint64_t ram, bool nx, bool gbpages,
		   bool large)
{
	*g = (struct gpt_geom){ .mode = mode };
	switch (mode) {
	case PAGING_32:
		g->levels = 2;
		g->esize = 4;
		g->shift[1] = 12, g->bits[1] = 10;
		g->shift[2] = 22, g->bits[2] = 10;
		g->addr_mask = UINT64_C(0xfffff000);
		g->user_top = UINT64_C(0xC0000000);
		g->dmap_base = UINT64_C(0xC0000000);
		g->dmap_bytes = min64(ram, MiB(896));
		g->phys_limit = min64(ram, GiB(4));
		g->dmap_level = large ? 2 : 1;
		return true;
	case PAGING_PAE:
		g->levels = 3;
		g->esize = 8;
		g->shift[1] = 12, g->bits[1] = 9;
		g->shift[2] = 21, g->bits[2] = 9;
		g->shift[3] = 30, g->bits[3] = 2;
		g->addr_mask = UINT64_C(0x000ffffffffff000);
		g->nx = nx;
		g->user_top = UINT64_C(0xC0000000);
		g->dmap_base = UINT64_C(0xC0000000);
		g->dmap_bytes = min64(ram, MiB(896));
		g->phys_limit = ram;
		g->dmap_level = large ? 2 : 1;
		return true;
	case PAGING_4LEVEL:
	case PAGING_5LEVEL:
		g->levels = mode == PAGING_5LEVEL ? 5 : 4;
		g->esize = 8;
		for (unsigned l = 1; l <= g->levels; l++) {
			g->shift[l] = 12 + 9 * (l - 1);
			g->bits[l] = 9;
		}
		g->addr_mask = UINT64_C(0x000ffffffffff000);
		g->nx = nx;
		if (mode == PAGING_4LEVEL) {
			g->user_top = (UINT64_C(1) << 47) - KiB(4);
			g->dmap_base = UINT64_C(0xffff888000000000);
			g->dmap_bytes = min64(ram, TiB(64));
		} else {
			g->user_top = (UINT64_C(1) << 56) - KiB(4);
			g->dmap_base = UINT64_C(0xff11000000000000);
			g->dmap_bytes = ram;
		}
		g->phys_limit = ram;
		g->dmap_level = !large ? 1 : gbpages ? 3 : 2;
		return true;
	case PAGING_NONE:
	default:
		return false;
	}
}

uint64_t gpt_canonical(const struct gpt_geom *g, uint64_t va)
{
	unsigned top = g->shift[g->levels] + g->bits[g->levels]; /* 48 or 57 */

	if (g->mode != PAGING_4LEVEL && g->mode != PAGING_5LEVEL)
		return va & UINT64_C(0xffffffff);
	if (va & (UINT64_C(1) << (top - 1)))
		return va | ~((UINT64_C(1) << top) - 1);
	return va & ((UINT64_C(1) << top) - 1);
}

uint64_t gpt_mk_table(const struct gpt_geom *g, unsigned level, uint64_t gpa, bool user)
{
	/* PAE PDPTEs have no R/W, U/S or A (SDM Table 4-8: reserved). */
	if (g->mode == PAGING_PAE && level == 3)
		return GPT_P | (gpa & g->addr_mask);
	return GPT_P | GPT_RW | GPT_A | (user ? GPT_US : 0) | (gpa & g->addr_mask);
}

uint64_t gpt_mk_leaf(const struct gpt_geom *g, unsigned level, uint64_t gpa, bool writable, bool user,
		     bool exec, bool dirty, bool global)
{
	uint64_t e = GPT_P | GPT_A | (gpa & g->addr_mask & ~(gpt_span(g, level) - 1));

	if (writable)
		e |= GPT_RW;
	if (user)
		e |= GPT_US;
	if (dirty)
		e |= GPT_D;
	if (global)
		e |= GPT_G;
	if (level > 1)
		e |= GPT_PS;
	if (g->nx && !exec)
		e |= GPT_XD;
	return e;
}

uint64_t gpt_entry_addr(const struct gpt_geom *g, unsigned level, uint64_t e)
{
	if (level > 1 && (e & GPT_PS))
		return e & g->addr_mask & ~(gpt_span(g, level) - 1);
	return e & g->addr_mask;
}

bool gpt_is_large(const struct gpt_geom *g, unsigned level, uint64_t e)
{
	if (level == 1 || level > g->levels)
		return false;
	if (g->mode == PAGING_PAE && level == 3)
		return false;
	return e & GPT_PS;
}

/* ---- page-table pages ---- */

enum gos_status gos_pt_alloc(struct gos *g, struct vcpu *v, uint64_t *gpa)
{
	uint64_t gfn;

	if (!palloc_get(&g->pa, PA_TABLE, &gfn))
		return GOS_ENOMEM;
	*gpa = gfn << 12;
	g->st.pt_alloc++;
	vcpu_note(v, VCPU_NOTE_PT_ALLOC);
	return GOS_OK;
}

void gos_pt_free(struct gos *g, struct vcpu *v, uint64_t gpa)
{
	palloc_put(&g->pa, gpa >> 12);
	g->st.pt_free++;
	vcpu_note(v, VCPU_NOTE_PT_FREE);
}

/* ---- entries through the vCPU ---- */

uint64_t gos_pt_va(const struct gos *g, uint64_t gpa)
{
	return g->paging ? g->geom.dmap_base + gpa : gpa;
}

uint64_t gos_kernel_va(const struct gos *g, uint64_t gpa)
{
	return gos_pt_va(g, gpa);
}

enum gos_status gos_reserve(struct gos *g, uint64_t npages, uint64_t *first_gfn)
{
	struct pzone *z = &g->pa.low;

	/* from the top of the bump region: the pages below stay the OS's */
	if (!npages || z->end - z->next < npages)
		return GOS_EINVAL;
	z->end -= npages;
	*first_gfn = z->end;
	return GOS_OK;
}

enum gos_status gos_pte_read(struct gos *g, struct vcpu *v, uint64_t egpa, uint64_t *e)
{
	enum vcpu_status s = vcpu_read(v, gos_pt_va(g, egpa), g->geom.esize, e, NULL);

	return s == VCPU_OK ? GOS_OK : gos_vcpu_fail(g, v, s, "reading a page-table entry");
}

enum gos_status gos_pte_write(struct gos *g, struct vcpu *v, uint64_t egpa, uint64_t e)
{
	enum vcpu_status s = vcpu_write(v, gos_pt_va(g, egpa), g->geom.esize, e, NULL);

	return s == VCPU_OK ? GOS_OK : gos_vcpu_fail(g, v, s, "writing a page-table entry");
}

enum gos_status gos_pte_cmpxchg(struct gos *g, struct vcpu *v, uint64_t egpa, uint64_t old, uint64_t e,
				uint64_t *seen)
{
	bool changed = false;
	enum vcpu_status s = vcpu_cmpxchg(v, gos_pt_va(g, egpa), g->geom.esize, old, e, &changed, NULL);

	if (s != VCPU_OK)
		return gos_vcpu_fail(g, v, s, "updating a page-table entry");
	if (changed)
		return gos_pte_read(g, v, egpa, seen);
	*seen = old;
	return GOS_OK;
}

enum gos_status gos_pt_walk(struct gos *g, struct vcpu *v, struct gmm *mm, uint64_t va, bool create,
			    uint64_t *pte)
{
	const struct gpt_geom *geo = &g->geom;
	uint64_t table = mm->pgd, e;
	enum gos_status s;

	*pte = 0;
	for (unsigned l = geo->levels; l > 1; l--) {
		uint64_t egpa = table + (uint64_t)gpt_index(geo, l, va) * geo->esize;

		s = gos_pte_read(g, v, egpa, &e);
		if (s != GOS_OK)
			return s;
		if (!(e & GPT_P)) {
			uint64_t t;

			if (!create)
				return GOS_OK;
			s = gos_pt_alloc(g, v, &t);
			if (s != GOS_OK)
				return s;
			mm->pt_pages++;
			e = gpt_mk_table(geo, l, t, true);
			s = gos_pte_write(g, v, egpa, e);
			if (s != GOS_OK)
				return s;
		} else if (gpt_is_large(geo, l, e)) {
			return gos_fail(g, "a large page in user space at %#llx", (unsigned long long)va);
		}
		table = gpt_entry_addr(geo, l, e);
	}
	*pte = table + (uint64_t)gpt_index(geo, 1, va) * geo->esize;
	return GOS_OK;
}
