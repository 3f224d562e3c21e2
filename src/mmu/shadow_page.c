/*
 * shadow_page.c - shadow pages: roles, the (gfn, role) hash, allocation in
 * the port's space, parent links, reverse maps, dropping entries, zapping
 * pages, and the cap on the number of pages (least recently used first).
 */
#include <stdlib.h>
#include <string.h>

#include "mmu/shadow_int.h"

void shadow_set_error(struct shadow_mmu *s, const char *why)
{
	if (!s->error)
		s->error = why;
}

/* ---- roles and formats ---- */

union sp_role sp_base_role(const struct cpu *guest)
{
	const struct cpu_regs *r = &guest->regs;
	enum paging_mode mode = cpu_paging_mode(r);
	union sp_role role = { .word = 0 };
	bool wp = r->cr0 & CR0_WP;

	role.mode = mode;
	if (mode == PAGING_NONE)
		return role;
	role.cr0_wp = wp;
	role.smep_andnot_wp = (r->cr4 & CR4_SMEP) && !wp;
	role.smap_andnot_wp = (r->cr4 & CR4_SMAP) && !wp;
	role.cr4_pke = (mode == PAGING_4LEVEL || mode == PAGING_5LEVEL) && (r->cr4 & CR4_PKE);
	role.efer_nx = mode != PAGING_32 && (r->efer & EFER_NXE);
	role.cr4_pse = mode == PAGING_32 && (r->cr4 & CR4_PSE);
	return role;
}

void sp_guest_fmt(const struct shadow_mmu *s, const struct cpu *guest, union sp_role role,
		  struct pt_format *f)
{
	uint64_t cr4 = 0, efer = 0;

	(void)s;
	if (role.cr4_pse)
		cr4 |= CR4_PSE;
	if (role.cr4_pke)
		cr4 |= CR4_PKE;
	if (role.mode != PAGING_32)
		cr4 |= CR4_PAE;
	if (role.mode == PAGING_5LEVEL)
		cr4 |= CR4_LA57;
	if (role.efer_nx)
		efer |= EFER_NXE;
	pt_format_x86(f, (enum paging_mode)role.mode, guest->vendor, guest->maxphyaddr, &guest->feat,
		      cr4, efer, false);
}

/*
 * The hardware state for a guest state (shadow.h's table), without CR3
 * and the PDPTE registers (they come from the root).
 */
static bool same_features(const struct cpu_features *a, const struct cpu_features *b)
{
	return a->gbpages == b->gbpages && a->la57 == b->la57 && a->pku == b->pku && a->smep == b->smep &&
	       a->smap == b->smap;
}

void guest_ctx_init(struct shadow_mmu *s, const struct cpu *guest, struct guest_ctx *g)
{
	const struct cpu_regs *r = &guest->regs;
	struct cpu_regs *hw = &g->hw;
	bool cached = s->fmt_cache.valid && s->fmt_cache.vendor == guest->vendor &&
		      s->fmt_cache.maxphyaddr == guest->maxphyaddr && same_features(&s->fmt_cache.feat, &guest->feat) &&
		      s->fmt_cache.cr0 == r->cr0 && s->fmt_cache.cr4 == r->cr4 && s->fmt_cache.efer == r->efer;

	g->cpu = guest;
	g->mode = cpu_paging_mode(r);
	g->base = sp_base_role(guest);
	if (cached)
		g->fmt = s->fmt_cache.fmt;
	else if (g->mode != PAGING_NONE)
		pt_format_x86(&g->fmt, g->mode, guest->vendor, guest->maxphyaddr, &guest->feat,
			      r->cr4, r->efer, false);
	*hw = *r;
	hw->cr3 = 0;
	switch (g->mode) {
	case PAGING_NONE:
		hw->cr0 = r->cr0 | CR0_PE | CR0_PG | CR0_WP;
		hw->cr4 = CR4_PAE;
		hw->efer = (r->efer & ~(EFER_LME | EFER_LMA)) | EFER_NXE;
		break;
	case PAGING_32:
	case PAGING_PAE:
		hw->cr0 = r->cr0 | CR0_WP;
		hw->cr4 = (r->cr4 & ~(CR4_PCIDE | CR4_LA57 | CR4_PKE)) | CR4_PAE;
		hw->efer = (r->efer & ~(EFER_LME | EFER_LMA)) | EFER_NXE;
		break;
	case PAGING_4LEVEL:
	case PAGING_5LEVEL:
		hw->cr0 = r->cr0 | CR0_WP;
		hw->efer = r->efer | EFER_NXE;
		break;
	}
	if (cached) {
		g->hw_fmt = s->fmt_cache.hw_fmt;
		return;
	}
	pt_format_x86(&g->hw_fmt, cpu_paging_mode(hw), guest->vendor, s->cfg.hw_maxphyaddr, &guest->feat,
		      hw->cr4, hw->efer, false);
	s->fmt_cache.valid = true;
	s->fmt_cache.vendor = guest->vendor;
	s->fmt_cache.maxphyaddr = guest->maxphyaddr;
	s->fmt_cache.feat = guest->feat;
	s->fmt_cache.cr0 = r->cr0;
	s->fmt_cache.cr4 = r->cr4;
	s->fmt_cache.efer = r->efer;
	s->fmt_cache.fmt = g->fmt;
	s->fmt_cache.hw_fmt = g->hw_fmt;
}

/* ---- the port ---- */

enum mem_status gm_read(struct shadow_mmu *s, uint64_t gpa, unsigned size, uint64_t *val)
{
	enum mem_status st = MEM_RETRY;

	for (unsigned i = 0; i <= MEM_PORT_PMEM_RETRIES && st == MEM_RETRY; i++)
		st = guestmem_read(&s->gm, gpa, size, val);
	return st;
}

enum mem_status gm_write(struct shadow_mmu *s, uint64_t gpa, unsigned size, uint64_t val)
{
	enum mem_status st = MEM_RETRY;

	for (unsigned i = 0; i <= MEM_PORT_PMEM_RETRIES && st == MEM_RETRY; i++)
		st = guestmem_write(&s->gm, gpa, size, val);
	return st;
}

bool spte_read(struct shadow_mmu *s, const struct shadow_page *sp, unsigned idx, uint64_t *val)
{
	enum mem_status st = MEM_RETRY;

	for (unsigned i = 0; i <= MEM_PORT_PMEM_RETRIES && st == MEM_RETRY; i++)
		st = mem_port_read(s->cfg.port, sp->pa + (uint64_t)idx * 8, 8, val);
	if (st == MEM_OK)
		return true;
	*val = 0;
	s->port_failed = true;
	shadow_set_error(s, "the port refused a read of a shadow table");
	return false;
}

bool spte_write(struct shadow_mmu *s, struct shadow_page *sp, unsigned idx, uint64_t val)
{
	enum mem_status st = MEM_RETRY;

	for (unsigned i = 0; i <= MEM_PORT_PMEM_RETRIES && st == MEM_RETRY; i++)
		st = mem_port_write(s->cfg.port, sp->pa + (uint64_t)idx * 8, 8, val);
	if (st == MEM_OK)
		return true;
	s->port_failed = true;
	shadow_set_error(s, "the port refused a write of a shadow table");
	return false;
}

static void set_present(struct shadow_page *sp, unsigned idx, bool on)
{
	uint64_t bit = UINT64_C(1) << (idx % 64);

	if (on)
		sp->present[idx / 64] |= bit;
	else
		sp->present[idx / 64] &= ~bit;
}

/* ---- hash, LRU ---- */

static void *ptr_of(uint64_t v)
{
	return (void *)(uintptr_t)v;
}

static uint64_t val_of(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

struct shadow_page *sp_first_of_gfn(const struct shadow_mmu *s, uint64_t gfn)
{
	uint64_t v;

	return u64map_get(&s->by_gfn, gfn, &v) ? ptr_of(v) : NULL;
}

struct shadow_page *sp_lookup(struct shadow_mmu *s, uint64_t gfn, union sp_role role)
{
	for (struct shadow_page *sp = sp_first_of_gfn(s, gfn); sp; sp = sp->gfn_next)
		if (sp->role.word == role.word)
			return sp;
	return NULL;
}

struct shadow_page *sp_by_pa(const struct shadow_mmu *s, uint64_t pa)
{
	uint64_t v;

	return u64map_get(&s->by_pa, pa >> 12, &v) ? ptr_of(v) : NULL;
}

static void hash_del(struct shadow_mmu *s, struct shadow_page *sp)
{
	struct shadow_page *first = sp_first_of_gfn(s, sp->gfn);

	if (first == sp) {
		if (sp->gfn_next)
			(void)u64map_put(&s->by_gfn, sp->gfn, val_of(sp->gfn_next)); /* replaces: cannot fail */
		else
			u64map_del(&s->by_gfn, sp->gfn, NULL);
	} else {
		for (struct shadow_page *p = first; p; p = p->gfn_next) {
			if (p->gfn_next == sp) {
				p->gfn_next = sp->gfn_next;
				break;
			}
		}
	}
	sp->gfn_next = NULL;
}

static void lru_unlink(struct shadow_page *sp)
{
	if (!sp->lru_next)
		return;
	sp->lru_prev->lru_next = sp->lru_next;
	sp->lru_next->lru_prev = sp->lru_prev;
	sp->lru_prev = sp->lru_next = NULL;
}

static void lru_push(struct shadow_mmu *s, struct shadow_page *sp)
{
	sp->lru_next = s->lru.lru_next;
	sp->lru_prev = &s->lru;
	s->lru.lru_next->lru_prev = sp;
	s->lru.lru_next = sp;
}

void sp_touch(struct shadow_mmu *s, struct shadow_page *sp)
{
	sp->flood = 0;
	sp->stamp = s->epoch;
	if (s->lru.lru_next == sp || !sp->lru_next)
		return;
	lru_unlink(sp);
	lru_push(s, sp);
}

/* ---- allocation ---- */

static void sp_free(struct shadow_mmu *s, struct shadow_page *sp)
{
	enum mem_status st = MEM_RETRY;

	for (unsigned i = 0; i <= MEM_PORT_PMEM_RETRIES && st == MEM_RETRY; i++)
		st = mem_port_free_table(s->cfg.port, sp->pa);
	if (st != MEM_OK)
		s->port_failed = true;
	if (s->cfg.cnt)
		counters_pt_free(s->cfg.cnt, s->cfg.pt_kind);
	u64map_del(&s->by_pa, sp->pa >> 12, NULL);
	s->npages--;
	free(sp->leaf_gfn);
	free(sp->parents);
	free(sp);
}

static struct shadow_page *sp_alloc(struct shadow_mmu *s, uint64_t gfn, union sp_role role)
{
	struct shadow_page *sp = calloc(1, sizeof(*sp));
	enum mem_status st = MEM_RETRY;
	uint64_t pa = 0;

	if (!sp || u64map_reserve(&s->by_pa, 1) || u64map_reserve(&s->by_gfn, 1))
		goto host_oom;
	if (role.level == 1 && !(sp->leaf_gfn = malloc(SPT_ENTRIES * sizeof(uint64_t))))
		goto host_oom;
	for (unsigned i = 0; i <= MEM_PORT_PMEM_RETRIES && st == MEM_RETRY; i++)
		st = mem_port_alloc_table(s->cfg.port, &pa);
	if (st != MEM_OK) {
		shadow_set_error(s, "out of table pages for a shadow page");
		free(sp->leaf_gfn);
		free(sp);
		return NULL;
	}
	sp->gfn = gfn;
	sp->role = role;
	sp->pa = pa;
	(void)u64map_put(&s->by_pa, pa >> 12, val_of(sp)); /* reserved above */
	sp->gfn_next = sp_first_of_gfn(s, gfn);
	(void)u64map_put(&s->by_gfn, gfn, val_of(sp));
	lru_push(s, sp);
	if (s->cfg.cnt)
		counters_pt_alloc(s->cfg.cnt, s->cfg.pt_kind);
	if (++s->npages > s->peak)
		s->peak = s->npages;
	return sp;
host_oom:
	if (sp)
		free(sp->leaf_gfn);
	free(sp);
	shadow_set_error(s, "the simulator is out of memory");
	return NULL;
}

struct shadow_page *sp_get(struct shadow_mmu *s, const struct cpu *guest, uint64_t gfn,
			   union sp_role role, bool *created)
{
	struct shadow_page *sp = sp_lookup(s, gfn, role);

	*created = false;
	if (sp)
		return sp;
	/*
	 * A new page of a guest table: pages of the same gfn that went unsync
	 * are synced (the gfn is about to be write-protected again).
	 */
	if (!role.direct)
		sp_sync_gfn(s, guest, gfn);
	if (!sp_make_room(s, 1))
		return NULL;
	sp = sp_alloc(s, gfn, role);
	if (!sp)
		return NULL;
	*created = true;
	if (!role.direct)
		gfn_write_protect(s, gfn);
	return sp;
}

/* ---- parent links ---- */

static bool parent_add(struct shadow_mmu *s, struct shadow_page *child, struct shadow_page *parent,
		       unsigned idx)
{
	if (child->nparents == child->parents_cap) {
		unsigned cap = child->parents_cap ? 2 * child->parents_cap : 2;
		struct sp_ref *p = realloc(child->parents, cap * sizeof(*p));

		if (!p) {
			shadow_set_error(s, "the simulator is out of memory");
			return false;
		}
		child->parents = p;
		child->parents_cap = cap;
	}
	child->parents[child->nparents++] = (struct sp_ref){ .sp = parent, .idx = idx };
	return true;
}

static void parent_del(struct shadow_page *child, const struct shadow_page *parent, unsigned idx)
{
	for (unsigned i = 0; i < child->nparents; i++) {
		if (child->parents[i].sp == parent && child->parents[i].idx == idx) {
			child->parents[i] = child->parents[--child->nparents];
			return;
		}
	}
}

bool sp_link(struct shadow_mmu *s, struct shadow_page *parent, unsigned idx, struct shadow_page *child)
{
	if (!parent_add(s, child, parent, idx))
		return false;
	if (!spte_write(s, parent, idx, child->pa | SPTE_TABLE_BITS)) {
		child->nparents--;
		return false;
	}
	set_present(parent, idx, true);
	SPT_COUNT(s, spt_entries_set, 1);
	return true;
}

/* ---- reverse maps ---- */

struct rmap_head *rmap_get(const struct shadow_mmu *s, uint64_t gfn)
{
	uint64_t v;

	return u64map_get(&s->rmap, gfn, &v) ? ptr_of(v) : NULL;
}

static bool rmap_add(struct shadow_mmu *s, uint64_t gfn, struct shadow_page *sp, unsigned idx)
{
	struct rmap_head *h = rmap_get(s, gfn);

	if (!h || h->n == h->cap) {
		unsigned cap = h ? 2 * h->cap : 2;
		struct rmap_head *nh;

		if (!h && u64map_reserve(&s->rmap, 1))
			goto oom;
		nh = realloc(h, sizeof(*nh) + cap * sizeof(nh->refs[0]));
		if (!nh)
			goto oom;
		if (!h)
			nh->n = 0;
		nh->cap = cap;
		h = nh;
		(void)u64map_put(&s->rmap, gfn, val_of(h)); /* reserved or replacing */
	}
	h->refs[h->n++] = (struct sp_ref){ .sp = sp, .idx = idx };
	s->rmap_entries++;
	return true;
oom:
	shadow_set_error(s, "the simulator is out of memory");
	return false;
}

static void rmap_del(struct shadow_mmu *s, uint64_t gfn, const struct shadow_page *sp, unsigned idx)
{
	struct rmap_head *h = rmap_get(s, gfn);

	if (!h)
		return;
	for (unsigned i = 0; i < h->n; i++) {
		if (h->refs[i].sp == sp && h->refs[i].idx == idx) {
			h->refs[i] = h->refs[--h->n];
			s->rmap_entries--;
			break;
		}
	}
	if (h->n == 0) {
		u64map_del(&s->rmap, gfn, NULL);
		free(h);
	}
}

/* Does replacing `old` by `new` take away anything the hardware may have cached? */
/*
 * Does the hardware allow less with `new` than with `old` for some access?
 * U/S counts both ways: clearing it refuses user accesses, setting it
 * refuses supervisor data accesses under SMAP and supervisor fetches under
 * SMEP (SDM 4.6.1), and the hardware runs with the guest's SMEP/SMAP.
 */
static bool loses_rights(uint64_t old, uint64_t new)
{
	if (!(old & PTE_P))
		return false;
	if ((old & SPTE_ADDR_MASK) != (new & SPTE_ADDR_MASK) || !(new & PTE_P))
		return true;
	if (((old & ~new) & PTE_RW) || ((old ^ new) & PTE_US))
		return true;
	if ((new & ~old) & PTE_XD)
		return true;
	return (old ^ new) & PTE_PKEY_MASK;
}

bool sp_set_leaf(struct shadow_mmu *s, struct shadow_page *sp, unsigned idx, uint64_t gfn, uint64_t spte)
{
	uint64_t old = 0;

	if (sp_present(sp, idx)) {
		if (!spte_read(s, sp, idx, &old))
			return false;
		if (old == spte && sp->leaf_gfn[idx] == gfn)
			return true;
		if (sp->leaf_gfn[idx] != gfn) {
			if (!rmap_add(s, gfn, sp, idx))
				return false;
			rmap_del(s, sp->leaf_gfn[idx], sp, idx);
		}
	} else if (!rmap_add(s, gfn, sp, idx)) {
		return false;
	}
	if (!spte_write(s, sp, idx, spte)) {
		if (!sp_present(sp, idx) || sp->leaf_gfn[idx] != gfn)
			rmap_del(s, gfn, sp, idx);
		return false;
	}
	if (loses_rights(old, spte))
		shadow_flush_remote(s);
	sp->leaf_gfn[idx] = gfn;
	set_present(sp, idx, true);
	SPT_COUNT(s, spt_entries_set, 1);
	return true;
}

bool sp_drop_entry(struct shadow_mmu *s, struct shadow_page *sp, unsigned idx)
{
	bool ok = true;
	uint64_t e;

	if (!sp_present(sp, idx))
		return true;
	if (sp->role.level == 1) {
		rmap_del(s, sp->leaf_gfn[idx], sp, idx);
	} else if (spte_read(s, sp, idx, &e)) {
		struct shadow_page *child = sp_by_pa(s, e & SPTE_ADDR_MASK);

		if (child)
			parent_del(child, sp, idx);
	} else {
		ok = false;
	}
	set_present(sp, idx, false);
	shadow_flush_remote(s);
	SPT_COUNT(s, spt_entries_zapped, 1);
	return spte_write(s, sp, idx, 0) && ok;
}

/* ---- zapping ---- */

void sp_zap(struct shadow_mmu *s, struct shadow_page *sp)
{
	if (sp->invalid)
		return;
	for (unsigned w = 0; w < SPT_ENTRIES / 64; w++)
		while (sp->present[w])
			(void)sp_drop_entry(s, sp, w * 64 + (unsigned)__builtin_ctzll(sp->present[w]));
	while (sp->nparents) {
		struct sp_ref p = sp->parents[sp->nparents - 1];
		unsigned before = sp->nparents;

		(void)sp_drop_entry(s, p.sp, p.idx);
		if (sp->nparents == before)
			sp->nparents--; /* the port failed: forget the link anyway */
	}
	hash_del(s, sp);
	lru_unlink(sp);
	if (sp->unsync) {
		sp->unsync_prev->unsync_next = sp->unsync_next;
		sp->unsync_next->unsync_prev = sp->unsync_prev;
		sp->unsync = false;
		s->nunsync--;
	}
	SPT_COUNT(s, spt_zaps, 1);
	shadow_flush_remote(s);
	if (sp->root_count)
		sp->invalid = true;
	else
		sp_free(s, sp);
}

void sp_put_root(struct shadow_mmu *s, struct shadow_page *sp)
{
	if (--sp->root_count == 0 && sp->invalid)
		sp_free(s, sp);
}

bool sp_make_room(struct shadow_mmu *s, unsigned need)
{
	if (!s->cfg.max_pages)
		return true;
	while (s->npages + need > s->cfg.max_pages) {
		struct shadow_page *victim = NULL;

		for (struct shadow_page *sp = s->lru.lru_prev; sp != &s->lru; sp = sp->lru_prev) {
			if (!sp->root_count && sp->stamp != s->epoch) {
				victim = sp;
				break;
			}
		}
		if (victim) {
			sp_zap(s, victim);
			s->cap_zaps++;
			continue;
		}
		/*
		 * Every page is held by a root: give up a cached root (any
		 * vCPU's), else another vCPU's current root.
		 */
		if (!root_give_up(s)) {
			shadow_set_error(s, "shadow page cap reached and every page is held by the current root or fault");
			return false;
		}
	}
	return true;
}
