/*
 * tlbflush.c - the guest's TLB maintenance after it changes the PTEs of
 * an address space.
 *
 *   on a vCPU where the address space is loaded: INVLPG per page, or a
 *     full flush (INVPCID single-context with PCIDs, else MOV CR3 reload)
 *     above flush_ceiling pages or when page tables were freed;
 *   on a vCPU that only holds it in a PCID slot: INVPCID individual
 *     address (type 0) per page, or single-context (type 1);
 *   elsewhere nothing is cached (without PCIDs a switch away flushed it).
 * The vCPU that made the change flushes itself; every other vCPU in the
 * address space's cpumask gets an IPI and runs the same handler (one
 * shootdown per change that has remote targets).
 */
#include "guest/gos_internal.h"

#include "arch/x86.h"

static enum gos_status flush_on(struct gos *g, unsigned c, struct gmm *mm, uint64_t start, uint64_t end,
				bool full)
{
	struct gcpu *gc = &g->cpu[c];
	struct vcpu *v = gc->v;
	enum vcpu_status vs = VCPU_OK;
	uint16_t pcid = 0;

	vcpu_set_cpl(v, 0);
	if (gc->cur_mm == mm) {
		if (full) {
			g->st.full_flushes++;
			if (g->cfg.pcid) {
				g->st.invpcid++;
				vs = vcpu_invpcid(v, 1, gc->cur_pcid, 0);
			} else {
				vs = vcpu_mov_cr3(v, mm->pgd);
			}
		} else {
			for (uint64_t va = start; va < end && vs == VCPU_OK; va += 4096) {
				g->st.invlpg++;
				vs = vcpu_invlpg(v, va);
			}
		}
		return vs == VCPU_OK ? GOS_OK : gos_vcpu_fail(g, v, vs, "TLB flush");
	}
	if (!g->cfg.pcid)
		return GOS_OK;
	for (unsigned i = 0; i < g->cfg.npcid; i++)
		if (gc->slot[i].mm == mm)
			pcid = (uint16_t)(i + 1);
	if (!pcid)
		return GOS_OK;
	if (full) {
		g->st.full_flushes++;
		g->st.invpcid++;
		vs = vcpu_invpcid(v, 1, pcid, 0);
	} else {
		for (uint64_t va = start; va < end && vs == VCPU_OK; va += 4096) {
			g->st.invpcid++;
			vs = vcpu_invpcid(v, 0, pcid, va);
		}
	}
	return vs == VCPU_OK ? GOS_OK : gos_vcpu_fail(g, v, vs, "TLB flush (INVPCID)");
}

enum gos_status gos_flush_range(struct gos *g, unsigned local, struct gmm *mm, uint64_t start,
				uint64_t end, bool full)
{
	uint64_t targets = mm->cpumask & ~(UINT64_C(1) << local);
	struct vcpu *v = g->cpu[local].v;
	enum gos_status s;

	if (((end - start) >> 12) > g->cfg.flush_ceiling)
		full = true;
	s = flush_on(g, local, mm, start, end, full);
	if (s != GOS_OK || !targets)
		return s;
	g->st.shootdowns++;
	vcpu_note(v, VCPU_NOTE_SHOOTDOWN);
	for (unsigned c = 0; c < g->ncpus && s == GOS_OK; c++) {
		enum vcpu_status vs;

		if (!(targets & (UINT64_C(1) << c)))
			continue;
		g->st.ipis++;
		vs = vcpu_send_ipi(v, c);
		if (vs != VCPU_OK)
			return gos_vcpu_fail(g, v, vs, "shootdown IPI");
		s = flush_on(g, c, mm, start, end, full);
	}
	return s;
}
