/*
 * shadow_sync.c - unsync leaf tables and their sync; INVLPG.
 *
 * With cfg.unsync, a guest write to a frame write-protected only because
 * leaf (level-1) shadow pages shadow it does not trap: the pages are marked
 * unsync, the frame loses its protection and the guest writes its page
 * table freely. The shadow entries of an unsync page may then be stale -
 * which the architecture allows for a translation the processor may have
 * cached (SDM 4.10.4: software must invalidate after changing an entry).
 * The page is synced - every present entry compared with the guest entry
 * and updated or dropped, then the frame protected again - where the guest
 * invalidates: MOV CR3 (all unsync pages), INVLPG (the page holding the
 * entry of that address), and whenever a new shadow page is made for the
 * frame. Pages above level 1 never go unsync (a PDE change must be seen at
 * once, as the processor sees it when it misses its caches).
 */
#include "mmu/shadow_int.h"

bool sp_can_unsync(const struct shadow_mmu *s, uint64_t gfn)
{
	bool any = false;

	if (u64map_get(&s->ext_track, gfn, NULL))
		return false;
	for (const struct shadow_page *sp = sp_first_of_gfn(s, gfn); sp; sp = sp->gfn_next) {
		if (sp->role.direct)
			continue;
		if (sp->role.level != 1)
			return false;
		any = true;
	}
	return any;
}

void sp_mark_unsync(struct shadow_mmu *s, uint64_t gfn)
{
	for (struct shadow_page *sp = sp_first_of_gfn(s, gfn); sp; sp = sp->gfn_next) {
		if (sp->role.direct || sp->unsync)
			continue;
		sp->unsync = true;
		sp->unsync_next = s->unsync_list.unsync_next;
		sp->unsync_prev = &s->unsync_list;
		s->unsync_list.unsync_next->unsync_prev = sp;
		s->unsync_list.unsync_next = sp;
		s->nunsync++;
		SPT_COUNT(s, spt_unsync, 1);
	}
}

void sp_sync(struct shadow_mmu *s, const struct cpu *guest, struct shadow_page *sp)
{
	struct pt_format gfmt;
	unsigned es = sp_guest_entry_size(sp);

	if (!sp->unsync)
		return;
	sp_guest_fmt(s, guest, sp->role, &gfmt);
	for (unsigned w = 0; w < SPT_ENTRIES / 64; w++) {
		uint64_t bits = sp->present[w];

		while (bits) {
			unsigned idx = w * 64 + (unsigned)__builtin_ctzll(bits);
			uint64_t gentry;

			bits &= bits - 1;
			if (gm_read(s, (sp->gfn << 12) + (uint64_t)sp_guest_index(sp, idx) * es, es,
					  &gentry) != MEM_OK)
				gentry = 0;
			SPT_COUNT(s, spt_sync_entries, 1);
			sp_update_entry(s, &gfmt, sp, idx, gentry);
		}
	}
	sp->unsync = false;
	sp->unsync_prev->unsync_next = sp->unsync_next;
	sp->unsync_next->unsync_prev = sp->unsync_prev;
	sp->unsync_prev = sp->unsync_next = NULL;
	s->nunsync--;
	SPT_COUNT(s, spt_sync, 1);
	gfn_write_protect(s, sp->gfn);
}

void sp_sync_gfn(struct shadow_mmu *s, const struct cpu *guest, uint64_t gfn)
{
	for (struct shadow_page *sp = sp_first_of_gfn(s, gfn); sp; sp = sp->gfn_next)
		if (sp->unsync)
			sp_sync(s, guest, sp);
}

void shadow_sync_all(struct shadow_mmu *s, const struct cpu *guest)
{
	s->error = NULL;
	while (s->unsync_list.unsync_next != &s->unsync_list)
		sp_sync(s, guest, s->unsync_list.unsync_next);
}

/* The level-1 page of root r on the way to gva, or NULL. */
static struct shadow_page *leaf_page(struct shadow_mmu *s, const struct shadow_root *r, uint64_t gva)
{
	struct shadow_page *sp = r->pae ? r->sp[(gva >> 30) & 3] : r->sp[0];

	while (sp && sp->role.level > 1) {
		unsigned idx = (unsigned)(gva >> (12 + SPT_SHIFT * (sp->role.level - 1))) & (SPT_ENTRIES - 1);
		uint64_t e;

		if (!sp_present(sp, idx) || !spte_read(s, sp, idx, &e))
			return NULL;
		sp = sp_by_pa(s, e & SPTE_ADDR_MASK);
	}
	return sp;
}

void shadow_invlpg(struct shadow_mmu *s, const struct cpu *guest, uint64_t gva)
{
	s->error = NULL;
	if (cpu_paging_mode(&guest->regs) != PAGING_4LEVEL && cpu_paging_mode(&guest->regs) != PAGING_5LEVEL)
		gva &= UINT64_C(0xffffffff);
	for (unsigned i = 0; i <= s->cfg.root_cache; i++) {
		struct shadow_root *r = &s->cur->roots[i];
		struct shadow_page *sp;

		if (!r->used || !root_valid(r) || !(sp = leaf_page(s, r, gva)))
			continue;
		if (sp->unsync)
			sp_sync(s, guest, sp);
		(void)sp_drop_entry(s, sp, (unsigned)(gva >> 12) & (SPT_ENTRIES - 1));
	}
}
