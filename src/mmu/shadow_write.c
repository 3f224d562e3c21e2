/*
 * shadow_write.c - write protection of guest page tables and tracked
 * frames, emulated guest writes, write flooding, memory-slot events.
 *
 * A guest frame is write-protected while a synced shadow page of a guest
 * table has it as its gfn, or while another part tracks it
 * (shadow_track_write). No shadow leaf maps a write-protected frame
 * writable: when it becomes protected, every leaf mapping it (its reverse
 * map) loses W; the fault path never makes such a leaf writable. The
 * guest's writes to it then fault and are emulated (shadow_emulate_write):
 * the write goes to guest memory and each shadow entry made from a written
 * guest entry is brought up to date - a leaf for the same frame is
 * rewritten with the new rights, a link to a child page is kept if the
 * child is still the page the new entry leads to, anything else is
 * dropped (the next access faults and rebuilds it).
 *
 * Write flooding (KVM's heuristic): a page that takes SHADOW_FLOOD_DEFAULT
 * emulated writes without being used by a fault in between is probably no
 * longer a page table (the guest reuses the frame for data): it is zapped,
 * which lifts the protection. With unsync on, leaf pages are exempt (they
 * go unsync instead of trapping).
 */
#include "mmu/shadow_int.h"

bool gfn_write_protected(const struct shadow_mmu *s, uint64_t gfn)
{
	if (u64map_get(&s->ext_track, gfn, NULL))
		return true;
	for (const struct shadow_page *sp = sp_first_of_gfn(s, gfn); sp; sp = sp->gfn_next)
		if (!sp->role.direct && !sp->unsync)
			return true;
	return false;
}

void gfn_write_protect(struct shadow_mmu *s, uint64_t gfn)
{
	struct rmap_head *h = rmap_get(s, gfn);

	if (!h)
		return;
	for (unsigned i = 0; i < h->n; i++) {
		struct sp_ref r = h->refs[i];
		uint64_t e;

		if (!spte_read(s, r.sp, r.idx, &e) || !(e & PTE_RW))
			continue;
		if (spte_write(s, r.sp, r.idx, e & ~(PTE_RW | PTE_D))) {
			SPT_COUNT(s, spt_entries_set, 1);
			shadow_flush_remote(s);
		}
	}
}

/* ---- page tracking for other parts ---- */

int shadow_track_write(struct shadow_mmu *s, uint64_t gfn)
{
	uint64_t n = 0;

	(void)u64map_get(&s->ext_track, gfn, &n);
	if (u64map_put(&s->ext_track, gfn, n + 1))
		return -1;
	if (n == 0)
		gfn_write_protect(s, gfn);
	return 0;
}

int shadow_untrack_write(struct shadow_mmu *s, uint64_t gfn)
{
	uint64_t n;

	if (!u64map_get(&s->ext_track, gfn, &n))
		return -1;
	if (n == 1)
		u64map_del(&s->ext_track, gfn, NULL);
	else
		(void)u64map_put(&s->ext_track, gfn, n - 1); /* replaces: cannot fail */
	return 0;
}

bool shadow_write_tracked(const struct shadow_mmu *s, uint64_t gfn)
{
	return u64map_get(&s->ext_track, gfn, NULL);
}

/* ---- keeping entries up to date ---- */

void sp_update_entry(struct shadow_mmu *s, const struct pt_format *gfmt, struct shadow_page *sp,
		     unsigned idx, uint64_t gentry)
{
	uint64_t e;

	if (!sp_present(sp, idx))
		return;
	if (sp->role.level > 1) {
		struct shadow_page *child;
		union sp_role role;
		uint64_t gfn;

		if (spte_read(s, sp, idx, &e) && shadow_child_key(s, gfmt, sp, idx, gentry, &gfn, &role) &&
		    (child = sp_by_pa(s, e & SPTE_ADDR_MASK)) && child->gfn == gfn &&
		    child->role.word == role.word)
			return;
		(void)sp_drop_entry(s, sp, idx);
		return;
	}
	if (pt_present(gfmt, gentry) && !pt_rsvd_set(gfmt, 1, gentry) && (gentry & PTE_A) &&
	    (pt_page_addr(gfmt, 1, gentry) >> 12) == sp->leaf_gfn[idx]) {
		struct leaf_in in = {
			.gfn = sp->leaf_gfn[idx],
			.acc = sp->role.access & acc_from_rights(pt_rights(gfmt, 1, gentry)),
			.pkey = sp->role.cr4_pke ? (unsigned)((gentry & PTE_PKEY_MASK) >> PTE_PKEY_SHIFT) : 0,
			.dirty = gentry & PTE_D,
		};
		uint64_t spte;
		int st;

		if (shadow_make_leaf(s, sp->role, &in, &spte, &st)) {
			(void)sp_set_leaf(s, sp, idx, in.gfn, spte);
			return;
		}
	}
	(void)sp_drop_entry(s, sp, idx);
}

/* The shadow entries of sp made from guest entry gidx: [*first, *first + *n). */
static bool sp_entries_of(const struct shadow_page *sp, unsigned gidx, unsigned *first, unsigned *n)
{
	if (sp->role.mode != PAGING_32) {
		*first = gidx;
		*n = 1;
		return gidx < SPT_ENTRIES;
	}
	if (sp->role.level == 2) {
		unsigned base = sp->role.quadrant * 256u;

		*first = (gidx - base) * 2;
		*n = 2;
		return gidx >= base && gidx < base + 256;
	}
	*first = gidx - sp->role.quadrant * SPT_ENTRIES;
	*n = 1;
	return gidx >= sp->role.quadrant * SPT_ENTRIES && gidx < (sp->role.quadrant + 1) * SPT_ENTRIES;
}

/* Stores size bytes of val at gpa (within one page) by read-modify-write of 8-byte words. */
static enum mem_status store_bytes(struct shadow_mmu *s, uint64_t gpa, unsigned size, uint64_t val)
{
	uint64_t first = gpa & ~UINT64_C(7), last = (gpa + size - 1) & ~UINT64_C(7);
	uint64_t words[2];
	enum mem_status st;

	for (uint64_t w = first, i = 0; w <= last; w += 8, i++) {
		st = gm_read(s, w, 8, &words[i]);
		if (st != MEM_OK)
			return st;
	}
	for (unsigned b = 0; b < size; b++) {
		uint64_t a = gpa + b;
		unsigned i = (unsigned)((a - first) / 8), sh = (unsigned)(a & 7) * 8;

		words[i] = (words[i] & ~(UINT64_C(0xff) << sh)) | (((val >> (8 * b)) & 0xff) << sh);
	}
	for (uint64_t w = first, i = 0; w <= last; w += 8, i++) {
		st = gm_write(s, w, 8, words[i]);
		if (st != MEM_OK)
			return st;
	}
	return MEM_OK;
}

enum mem_status shadow_emulate_write(struct shadow_mmu *s, const struct cpu *guest, uint64_t gpa,
				     unsigned size, uint64_t val)
{
	uint64_t gfn = gpa >> 12;
	unsigned off = (unsigned)(gpa & 0xfff);
	struct shadow_page *sp, *next;
	enum mem_status st;

	bool protected_gfn;

	s->error = NULL;
	if (size < 1 || size > 8 || off + size > 4096)
		return MEM_INVALID;
	protected_gfn = gfn_write_protected(s, gfn);
	st = store_bytes(s, gpa, size, val);
	if (st != MEM_OK)
		return st;
	if (protected_gfn) /* a trapped write to a page table or tracked frame (not an MMIO/WP emulation) */
		SPT_COUNT(s, spt_writes_emulated, 1);
	for (sp = sp_first_of_gfn(s, gfn); sp; sp = next) {
		struct pt_format gfmt;
		unsigned es, gfirst, glast;

		next = sp->gfn_next;
		if (sp->role.direct)
			continue;
		if (!(s->cfg.unsync && sp->role.level == 1) && ++sp->flood >= s->cfg.flood_threshold) {
			s->flood_zaps++;
			sp_zap(s, sp);
			continue;
		}
		sp_guest_fmt(s, guest, sp->role, &gfmt);
		es = sp_guest_entry_size(sp);
		gfirst = off / es;
		glast = (off + size - 1) / es;
		for (unsigned gi = gfirst; gi <= glast; gi++) {
			unsigned first, n;
			uint64_t gentry;

			if (!sp_entries_of(sp, gi, &first, &n))
				continue;
			if (gm_read(s, (gfn << 12) + (uint64_t)gi * es, es, &gentry) != MEM_OK)
				gentry = 0;
			for (unsigned i = 0; i < n; i++)
				sp_update_entry(s, &gfmt, sp, first + i, gentry);
		}
	}
	if (s->cfg.track_write && shadow_write_tracked(s, gfn))
		s->cfg.track_write(s->cfg.track_ctx, gpa, size, val);
	return MEM_OK;
}

/* ---- memory-slot events ---- */

/* Takes write access from every leaf mapping a gfn in [gfn, gfn + n). */
static void write_protect_range(struct shadow_mmu *s, uint64_t gfn, uint64_t n)
{
	size_t pos = 0;
	uint64_t key, v;

	while (u64map_iter(&s->rmap, &pos, &key, &v))
		if (key >= gfn && key - gfn < n)
			gfn_write_protect(s, key);
}

void shadow_slots_event(void *ctx, const struct memslot_event *ev)
{
	struct shadow_mmu *s = ctx;

	switch (ev->kind) {
	case MEMSLOT_EV_ADD:
		break;
	case MEMSLOT_EV_REMOVE:
	case MEMSLOT_EV_MOVE:
		shadow_zap_all(s);
		break;
	case MEMSLOT_EV_FLAGS:
		if ((ev->new_flags & ~ev->old_flags) & (MEMSLOT_F_READONLY | MEMSLOT_F_LOG_DIRTY))
			write_protect_range(s, ev->gfn, ev->npages);
		break;
	case MEMSLOT_EV_DIRTY_CLEAR:
		write_protect_range(s, ev->gfn, ev->npages);
		break;
	}
}
