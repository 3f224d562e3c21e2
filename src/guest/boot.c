/*
 * boot.c - the guest kernel's boot: with paging off it builds its tables
 * (a direct map of lowmem in the kernel half) by writing through the vCPU
 * at physical addresses, then every vCPU enables paging with the paging
 * mode's register sequence:
 *   32-bit   CR4 = PSE [PGE]                 CR3, CR0.PG|WP
 *   PAE      CR4 = PAE [PGE], EFER.NXE       CR3 (PDPTEs loaded), CR0.PG|WP
 *   4-level  CR4 = PAE [PGE], EFER.LME [NXE] CR3, CR0.PG|WP (LMA set), then CR4.PCIDE
 *   5-level  as 4-level with CR4.LA57 before paging is enabled
 * SMEP and SMAP are enabled when the CPU offers them (the kernel never
 * touches user pages).
 */
#include "guest/gos_internal.h"

#include "arch/x86.h"

/* Maps kernel va -> pa with a leaf of `level` in the kernel's tables. */
static enum gos_status kmap(struct gos *g, struct vcpu *v, uint64_t va, uint64_t pa, unsigned level)
{
	const struct gpt_geom *geo = &g->geom;
	uint64_t table = g->kpgd, e, egpa;
	enum gos_status s;

	for (unsigned l = geo->levels; l > level; l--) {
		egpa = table + (uint64_t)gpt_index(geo, l, va) * geo->esize;
		s = gos_pte_read(g, v, egpa, &e);
		if (s != GOS_OK)
			return s;
		if (!(e & GPT_P)) {
			uint64_t t;

			s = gos_pt_alloc(g, v, &t);
			if (s != GOS_OK)
				return gos_fail(g, "boot: out of memory for kernel page tables");
			e = gpt_mk_table(geo, l, t, false);
			s = gos_pte_write(g, v, egpa, e);
			if (s != GOS_OK)
				return s;
			if (l == geo->levels) {
				g->ktop_idx[g->nktop] = gpt_index(geo, l, va);
				g->ktop_val[g->nktop++] = e;
			}
		}
		table = gpt_entry_addr(geo, l, e);
	}
	e = gpt_mk_leaf(geo, level, pa, true, false, false, true, g->cfg.pge);
	egpa = table + (uint64_t)gpt_index(geo, level, va) * geo->esize;
	if (level == geo->levels) {
		g->ktop_idx[g->nktop] = gpt_index(geo, level, va);
		g->ktop_val[g->nktop++] = e;
	}
	return gos_pte_write(g, v, egpa, e);
}

enum gos_status gos_boot_kernel(struct gos *g)
{
	const struct gpt_geom *geo = &g->geom;
	struct vcpu *v = g->cpu[0].v;
	enum gos_status s;
	uint64_t pa = 0;

	vcpu_set_cpl(v, 0);
	s = gos_pt_alloc(g, v, &g->kpgd);
	if (s != GOS_OK)
		return gos_fail(g, "boot: no memory for the kernel's top table");
	/* The direct map: the largest page that fits at each address. */
	while (pa < geo->dmap_bytes) {
		unsigned level = geo->dmap_level;

		while (level > 1 && ((pa & (gpt_span(geo, level) - 1)) || pa + gpt_span(geo, level) > geo->dmap_bytes))
			level--;
		s = kmap(g, v, geo->dmap_base + pa, pa, level);
		if (s != GOS_OK)
			return s;
		pa += gpt_span(geo, level);
	}
	if (!palloc_get(&g->pa, PA_TABLE, &g->zero_gfn))
		return gos_fail(g, "boot: no memory for the zero page");
	return GOS_OK;
}

static enum gos_status reg(struct gos *g, struct vcpu *v, enum vcpu_status s, const char *what)
{
	return s == VCPU_OK ? GOS_OK : gos_vcpu_fail(g, v, s, what);
}

enum gos_status gos_boot_cpu(struct gos *g, unsigned c)
{
	struct vcpu *v = g->cpu[c].v;
	const struct cpu *cpu = vcpu_cpu(v);
	enum paging_mode mode = g->cfg.mode;
	uint64_t cr4 = 0, efer = 0, cr0 = cpu->regs.cr0 | CR0_PE | CR0_PG | CR0_WP;
	enum gos_status s;

	vcpu_set_cpl(v, 0);
	if (mode == PAGING_32)
		cr4 |= CR4_PSE;
	else
		cr4 |= CR4_PAE;
	if (mode == PAGING_5LEVEL)
		cr4 |= CR4_LA57;
	if (g->cfg.pge)
		cr4 |= CR4_PGE;
	if (cpu->feat.smep)
		cr4 |= CR4_SMEP;
	if (cpu->feat.smap)
		cr4 |= CR4_SMAP;
	if (mode == PAGING_4LEVEL || mode == PAGING_5LEVEL)
		efer |= EFER_LME;
	if (g->geom.nx)
		efer |= EFER_NXE;
	s = reg(g, v, vcpu_mov_cr4(v, cr4), "boot: MOV CR4");
	if (s == GOS_OK && efer)
		s = reg(g, v, vcpu_wrmsr_efer(v, efer), "boot: WRMSR EFER");
	if (s == GOS_OK)
		s = reg(g, v, vcpu_mov_cr3(v, g->kpgd), "boot: MOV CR3");
	if (s == GOS_OK)
		s = reg(g, v, vcpu_mov_cr0(v, cr0), "boot: enabling paging (MOV CR0)");
	if (s == GOS_OK && g->cfg.pcid)
		s = reg(g, v, vcpu_mov_cr4(v, cr4 | CR4_PCIDE), "boot: enabling PCIDs");
	if (s != GOS_OK)
		return s;
	if (cpu_paging_mode(&vcpu_cpu(v)->regs) != mode)
		return gos_fail(g, "boot: vCPU %u is in %s paging, not %s", c,
				paging_mode_name(cpu_paging_mode(&vcpu_cpu(v)->regs)), paging_mode_name(mode));
	g->cpu[c].cur_mm = NULL;
	g->cpu[c].cur_pcid = 0;
	return GOS_OK;
}
