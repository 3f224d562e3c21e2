/*
 * shadow_root.c - the shadow MMU's life cycle, its roots and root cache,
 * the hardware registers, statistics and the consistency check.
 *
 * A root is made for a key: the guest state's base role (paging mode,
 * CR0.WP, SMEP/SMAP-without-WP, PKE, NXE, PSE), the guest's CR3 table and,
 * for a PAE guest, its four PDPTE registers (they are the guest's top
 * level: a MOV CR3 reloads them, and the root follows). IA-32e guests get
 * the level-4/5 shadow page of their CR3 frame. The other modes get a
 * PAE-format root: a PDPT page (below 4 GiB of the port's space) whose
 * four entries point at level-2 shadow pages - the guest PD quadrants of a
 * 32-bit guest, the PDs named by a PAE guest's PDPTEs, or direct pages
 * for 1 GiB of guest-physical memory each when paging is off.
 *
 * Each vCPU has its roots: roots[0] is the current root,
 * roots[1..root_cache] previous ones, most recent first (KVM's
 * prev_roots). A root holds a reference on its pages (root_count: the sum
 * over every vCPU's roots), so the cap never zaps them; a root page zapped
 * for another reason (write flooding, zap all, on behalf of any vCPU) is
 * marked invalid, and a root with an invalid page is remade at its vCPU's
 * next entry. For room under the cap, cached roots of any vCPU are given
 * up, then the current roots of the vCPUs other than the selected one.
 * Making a root syncs every unsync page (its pages may be reused from an
 * earlier root that INVLPG could not reach while it was not held).
 */
#include <stdlib.h>
#include <string.h>

#include "mmu/shadow_int.h"

static void set_error_cleared(struct shadow_mmu *s)
{
	s->error = NULL;
}

struct shadow_mmu *shadow_create(const struct shadow_config *cfg)
{
	struct shadow_mmu *s;

	if (!cfg || !cfg->port || !cfg->slots || cfg->hw_maxphyaddr < 32 || cfg->hw_maxphyaddr > 52 ||
	    cfg->root_cache > SHADOW_ROOT_CACHE_MAX || (unsigned)cfg->level >= CNT_LEVELS ||
	    (unsigned)cfg->pt_kind >= CNT_PTS || (cfg->max_pages && cfg->max_pages < SHADOW_MIN_PAGES) ||
	    cfg->nvcpus > SHADOW_MAX_VCPUS)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->cfg = *cfg;
	if (!s->cfg.nvcpus)
		s->cfg.nvcpus = 1;
	s->vcpus = calloc(s->cfg.nvcpus, sizeof(*s->vcpus));
	if (!s->vcpus) {
		free(s);
		return NULL;
	}
	s->cur = &s->vcpus[0];
	if (!s->cfg.flood_threshold)
		s->cfg.flood_threshold = SHADOW_FLOOD_DEFAULT;
	s->gm = (struct guestmem){ .slots = cfg->slots, .port = cfg->port };
	u64map_init(&s->by_gfn);
	u64map_init(&s->by_pa);
	u64map_init(&s->rmap);
	u64map_init(&s->ext_track);
	s->lru.lru_next = s->lru.lru_prev = &s->lru;
	s->unsync_list.unsync_next = s->unsync_list.unsync_prev = &s->unsync_list;
	s->notifier = memslots_notifier_add(cfg->slots, shadow_slots_event, s);
	if (s->notifier < 0) {
		free(s->vcpus);
		free(s);
		return NULL;
	}
	return s;
}

void shadow_destroy(struct shadow_mmu *s)
{
	size_t pos = 0;
	uint64_t key, v;

	if (!s)
		return;
	shadow_zap_all(s);
	(void)memslots_notifier_remove(s->cfg.slots, s->notifier);
	while (u64map_iter(&s->rmap, &pos, &key, &v)) /* empty after zap all; belt and braces */
		free((void *)(uintptr_t)v);
	u64map_fini(&s->by_gfn);
	u64map_fini(&s->by_pa);
	u64map_fini(&s->rmap);
	u64map_fini(&s->ext_track);
	free(s->vcpus);
	free(s);
}

const char *shadow_error(const struct shadow_mmu *s)
{
	return s->error;
}

void shadow_select_vcpu(struct shadow_mmu *s, unsigned vcpu)
{
	if (vcpu >= s->cfg.nvcpus) {
		s->error = "shadow_select_vcpu: no such vCPU (the selection is unchanged)";
		return;
	}
	s->error = NULL;
	s->cur_idx = vcpu;
	s->cur = &s->vcpus[vcpu];
}

unsigned shadow_selected_vcpu(const struct shadow_mmu *s)
{
	return s->cur_idx;
}

bool shadow_tlb_flush_pending(struct shadow_mmu *s, bool clear)
{
	bool p = s->cur->flush_pending;

	if (clear)
		s->cur->flush_pending = false;
	return p;
}

void shadow_flush_remote(struct shadow_mmu *s)
{
	for (unsigned v = 0; v < s->cfg.nvcpus; v++) {
		if (!s->vcpus[v].flush_pending && v != s->cur_idx)
			s->remote_flushes++;
		s->vcpus[v].flush_pending = true;
	}
}

/* ---- roots ---- */

bool root_valid(const struct shadow_root *r)
{
	if (!r->used)
		return false;
	for (unsigned i = 0; i < 4; i++)
		if (r->sp[i] && r->sp[i]->invalid)
			return false;
	return true;
}

static void port_free(struct shadow_mmu *s, uint64_t pa)
{
	enum mem_status st = MEM_RETRY;

	for (unsigned i = 0; i <= MEM_PORT_PMEM_RETRIES && st == MEM_RETRY; i++)
		st = mem_port_free_table(s->cfg.port, pa);
	if (st != MEM_OK)
		s->port_failed = true;
	if (s->cfg.cnt)
		counters_pt_free(s->cfg.cnt, s->cfg.pt_kind);
}

void root_release(struct shadow_mmu *s, struct shadow_root *r)
{
	if (!r->used)
		return;
	if (r->pae)
		port_free(s, r->pdpt_pa);
	for (unsigned i = 0; i < 4; i++)
		if (r->sp[i])
			sp_put_root(s, r->sp[i]);
	memset(r, 0, sizeof(*r));
}

struct root_key {
	uint32_t role_word;
	uint64_t guest_root;
	uint64_t pdpte[4];
};

#define PDPTE_RELOAD_CR4 (CR4_PGE | CR4_PSE | CR4_SMEP)

void guest_pdptes_update(struct shadow_mmu *s, const struct guest_ctx *g)
{
	const struct cpu_regs *r = &g->cpu->regs;
	uint64_t root;

	struct shadow_vcpu *v = s->cur;

	if (g->mode != PAGING_PAE) {
		v->gpdpte_loaded = false;
		return;
	}
	root = r->cr3 & g->fmt.root_mask;
	if (v->gpdpte_loaded && v->gpdpte_cr3 == root && v->gpdpte_cr4 == (r->cr4 & PDPTE_RELOAD_CR4))
		return;
	for (unsigned i = 0; i < 4; i++)
		if (gm_read(s, root + 8 * i, 8, &v->gpdpte[i]) != MEM_OK)
			v->gpdpte[i] = 0;
	v->gpdpte_loaded = true;
	v->gpdpte_cr3 = root;
	v->gpdpte_cr4 = r->cr4 & PDPTE_RELOAD_CR4;
}

static void root_key_of(struct shadow_mmu *s, const struct guest_ctx *g, struct root_key *k)
{
	const struct cpu_regs *r = &g->cpu->regs;

	memset(k, 0, sizeof(*k));
	k->role_word = g->base.word;
	switch (g->mode) {
	case PAGING_NONE:
		break;
	case PAGING_32:
		k->guest_root = r->cr3 & g->fmt.root_mask;
		break;
	case PAGING_PAE:
		k->guest_root = r->cr3 & g->fmt.root_mask;
		guest_pdptes_update(s, g);
		memcpy(k->pdpte, s->cur->gpdpte, sizeof(k->pdpte));
		break;
	case PAGING_4LEVEL:
	case PAGING_5LEVEL:
		k->guest_root = r->cr3 & g->fmt.root_mask;
		break;
	}
}

static bool root_matches(const struct shadow_root *r, const struct root_key *k)
{
	return r->used && r->role_word == k->role_word && r->guest_root == k->guest_root &&
	       !memcmp(r->pdpte, k->pdpte, sizeof(k->pdpte));
}

static bool root_take(struct shadow_mmu *s, struct shadow_root *r, unsigned i, const struct cpu *guest,
		      uint64_t gfn, union sp_role role)
{
	bool created;
	struct shadow_page *sp = sp_get(s, guest, gfn, role, &created);

	if (!sp)
		return false;
	sp->root_count++;
	r->sp[i] = sp;
	return true;
}

static bool root_make(struct shadow_mmu *s, const struct guest_ctx *g, const struct root_key *k,
		      struct shadow_root *r)
{
	union sp_role role = g->base;
	enum mem_status st = MEM_RETRY;

	/*
	 * The pages under a root that was dropped from the cache stay linked:
	 * made again, it would reach unsync pages that no INVLPG reached
	 * while it was not held. Syncing every unsync page here is what
	 * loading a root requires (KVM syncs the root's unsync children).
	 */
	shadow_sync_all(s, g->cpu);
	memset(r, 0, sizeof(*r));
	r->used = true;
	r->role_word = k->role_word;
	r->guest_root = k->guest_root;
	memcpy(r->pdpte, k->pdpte, sizeof(r->pdpte));
	role.access = ACC_ALL;
	if (g->mode == PAGING_4LEVEL || g->mode == PAGING_5LEVEL) {
		role.level = g->mode == PAGING_5LEVEL ? 5 : 4;
		if (!root_take(s, r, 0, g->cpu, k->guest_root >> 12, role))
			goto fail;
		return true;
	}
	r->pae = true;
	for (unsigned i = 0; i <= MEM_PORT_PMEM_RETRIES && st == MEM_RETRY; i++)
		st = mem_port_alloc_table(s->cfg.port, &r->pdpt_pa);
	if (st != MEM_OK) {
		r->pae = false;
		shadow_set_error(s, "out of table pages for a PAE shadow root");
		goto fail;
	}
	if (s->cfg.cnt)
		counters_pt_alloc(s->cfg.cnt, s->cfg.pt_kind);
	if (r->pdpt_pa >> 32) {
		shadow_set_error(s, "the PAE shadow root lies above 4 GiB of the port's space");
		goto fail;
	}
	role.level = 2;
	for (unsigned i = 0; i < 4; i++) {
		uint64_t gfn;
		enum mem_status ws = MEM_RETRY;

		role.quadrant = 0;
		if (g->mode == PAGING_NONE) {
			role.direct = 1;
			gfn = (uint64_t)i << (2 * SPT_SHIFT);
		} else if (g->mode == PAGING_32) {
			role.quadrant = i;
			gfn = k->guest_root >> 12;
		} else {
			uint64_t e = k->pdpte[i];

			if (!(e & PTE_P) || (e & pae_pdpte_rsvd(g->cpu->maxphyaddr)))
				continue;
			gfn = (e & maxphy_mask(g->cpu->maxphyaddr) & ~UINT64_C(0xfff)) >> 12;
		}
		if (!root_take(s, r, i, g->cpu, gfn, role))
			goto fail;
		for (unsigned t = 0; t <= MEM_PORT_PMEM_RETRIES && ws == MEM_RETRY; t++)
			ws = mem_port_write(s->cfg.port, r->pdpt_pa + 8 * i, 8, r->sp[i]->pa | PTE_P);
		if (ws != MEM_OK) {
			shadow_set_error(s, "the port refused a write of the PAE shadow root");
			goto fail;
		}
	}
	return true;
fail:
	root_release(s, r);
	return false;
}

/*
 * Makes the root for the guest state current: from the cache when there
 * (*hit), else new; the previous current root goes to the cache's front.
 */
static bool root_switch(struct shadow_mmu *s, const struct guest_ctx *g, bool *hit)
{
	struct root_key k;
	struct shadow_root found;
	struct shadow_root *roots = s->cur->roots;
	unsigned n = s->cfg.root_cache + 1, i;

	root_key_of(s, g, &k);
	*hit = false;
	for (i = 0; i < n; i++) {
		if (roots[i].used && !root_valid(&roots[i]))
			root_release(s, &roots[i]);
		if (root_matches(&roots[i], &k))
			break;
	}
	if (i == 0) {
		*hit = true;
		return true;
	}
	if (i < n) {
		*hit = true;
		found = roots[i];
	} else {
		/* A miss: the least recent cached root makes way. */
		i = n - 1;
		root_release(s, &roots[i]);
		if (!root_make(s, g, &k, &found))
			return false;
	}
	/*
	 * The hardware's TLB tags translations by VPID/PCID, not by root:
	 * entries cached under a root of another role (e.g. supervisor-
	 * writable leaves made for CR0.WP = 0) must not survive the switch.
	 * Only this vCPU switches: only its TLB is concerned.
	 */
	if (roots[0].used && roots[0].role_word != found.role_word)
		s->cur->flush_pending = true;
	memmove(&roots[1], &roots[0], i * sizeof(roots[0]));
	roots[0] = found;
	return true;
}

bool root_ensure(struct shadow_mmu *s, const struct guest_ctx *g)
{
	bool hit;

	return root_switch(s, g, &hit);
}

int shadow_new_cr3(struct shadow_mmu *s, const struct cpu *guest, bool flush)
{
	struct guest_ctx g;
	bool hit;

	set_error_cleared(s);
	if (flush)
		shadow_sync_all(s, guest);
	guest_ctx_init(s, guest, &g);
	s->cur->gpdpte_loaded = false; /* MOV CR3 loads the PDPTEs */
	if (!root_switch(s, &g, &hit))
		return -1;
	if (hit)
		SPT_COUNT(s, spt_root_hits, 1);
	else
		SPT_COUNT(s, spt_root_misses, 1);
	return 0;
}

int shadow_ctl_changed(struct shadow_mmu *s, const struct cpu *guest, const struct cpu_regs *old)
{
	const struct cpu_regs *r = &guest->regs;
	struct guest_ctx g;
	bool invalidates = ((r->cr0 ^ old->cr0) & CR0_PG) ||
			   ((r->cr4 ^ old->cr4) & (CR4_PGE | CR4_PAE | CR4_PSE | CR4_SMEP)) ||
			   ((old->cr4 & CR4_PCIDE) && !(r->cr4 & CR4_PCIDE));

	set_error_cleared(s);
	if (invalidates) {
		shadow_sync_all(s, guest);
		s->cur->flush_pending = true; /* this vCPU's own TLB (SDM 4.10.4.1) */
	}
	guest_ctx_init(s, guest, &g);
	return root_ensure(s, &g) ? 0 : -1;
}

int shadow_hw_regs(struct shadow_mmu *s, const struct cpu *guest, struct cpu_regs *hw)
{
	struct guest_ctx g;
	const struct shadow_root *r;

	set_error_cleared(s);
	guest_ctx_init(s, guest, &g);
	if (!root_ensure(s, &g))
		return -1;
	r = &s->cur->roots[0];
	*hw = g.hw;
	if (r->pae) {
		hw->cr3 = r->pdpt_pa;
	} else {
		uint64_t low = (guest->regs.cr4 & CR4_PCIDE) ? (guest->regs.cr3 & CR3_PCID_MASK)
							     : (guest->regs.cr3 & (CR3_PWT | CR3_PCD));
		hw->cr3 = r->sp[0]->pa | low;
	}
	return 0;
}

int shadow_hw_cpu(struct shadow_mmu *s, const struct cpu *guest, struct cpu *hw)
{
	hw->vendor = guest->vendor;
	hw->maxphyaddr = s->cfg.hw_maxphyaddr;
	hw->feat = guest->feat;
	return shadow_hw_regs(s, guest, &hw->regs);
}

bool root_give_up(struct shadow_mmu *s)
{
	for (unsigned i = s->cfg.root_cache; i >= 1; i--) {
		for (unsigned v = 0; v < s->cfg.nvcpus; v++) {
			if (s->vcpus[v].roots[i].used) {
				root_release(s, &s->vcpus[v].roots[i]);
				return true;
			}
		}
	}
	for (unsigned v = 0; v < s->cfg.nvcpus; v++) {
		if (v != s->cur_idx && s->vcpus[v].roots[0].used) {
			/*
			 * The vCPU gets a root again at its next entry
			 * (shadow_hw_regs). No flush for it here: giving up
			 * a root removes no shadow entry (a PAE root's PDPT
			 * page was read into the PDPTE registers at entry,
			 * SDM 4.4.1, and is never walked), and its pages,
			 * zapped later for room, request the flush then.
			 */
			root_release(s, &s->vcpus[v].roots[0]);
			s->roots_taken++;
			return true;
		}
	}
	return false;
}

void shadow_zap_all(struct shadow_mmu *s)
{
	for (unsigned v = 0; v < s->cfg.nvcpus; v++)
		for (unsigned i = 0; i <= s->cfg.root_cache; i++)
			root_release(s, &s->vcpus[v].roots[i]);
	while (s->lru.lru_next != &s->lru)
		sp_zap(s, s->lru.lru_next);
	shadow_flush_remote(s);
}

/* ---- statistics and checking ---- */

void shadow_get_stats(const struct shadow_mmu *s, struct shadow_stats *st)
{
	size_t pos = 0;
	uint64_t key, v;

	memset(st, 0, sizeof(*st));
	st->pages = s->npages;
	st->pages_peak = s->peak;
	st->unsync_pages = s->nunsync;
	st->cap_zaps = s->cap_zaps;
	st->flood_zaps = s->flood_zaps;
	for (unsigned c = 0; c < s->cfg.nvcpus; c++)
		for (unsigned i = 0; i <= s->cfg.root_cache; i++)
			st->roots += s->vcpus[c].roots[i].used;
	st->remote_flushes = s->remote_flushes;
	st->roots_taken = s->roots_taken;
	st->rmap_entries = s->rmap_entries;
	while (u64map_iter(&s->by_gfn, &pos, &key, &v))
		st->tracked_gfns += gfn_write_protected(s, key);
	pos = 0;
	while (u64map_iter(&s->ext_track, &pos, &key, &v))
		st->tracked_gfns += !sp_first_of_gfn(s, key);
	st->host_bytes = sizeof(*s) + s->cfg.nvcpus * sizeof(*s->vcpus) + u64map_bytes(&s->by_gfn) + u64map_bytes(&s->by_pa) +
			 u64map_bytes(&s->rmap) + u64map_bytes(&s->ext_track) +
			 s->npages * (sizeof(struct shadow_page)) + s->rmap_entries * sizeof(struct sp_ref);
	for (const struct shadow_page *sp = s->lru.lru_next; sp != &s->lru; sp = sp->lru_next)
		st->host_bytes += (sp->leaf_gfn ? SPT_ENTRIES * sizeof(uint64_t) : 0) +
				  sp->parents_cap * sizeof(struct sp_ref);
}

static bool rmap_has(const struct shadow_mmu *s, uint64_t gfn, const struct shadow_page *sp, unsigned idx)
{
	const struct rmap_head *h = rmap_get(s, gfn);

	for (unsigned i = 0; h && i < h->n; i++)
		if (h->refs[i].sp == sp && h->refs[i].idx == idx)
			return true;
	return false;
}

static bool parent_has(const struct shadow_page *child, const struct shadow_page *sp, unsigned idx)
{
	for (unsigned i = 0; i < child->nparents; i++)
		if (child->parents[i].sp == sp && child->parents[i].idx == idx)
			return true;
	return false;
}

static const char *check_page(struct shadow_mmu *s, struct shadow_page *sp, uint64_t *links)
{
	if (sp_lookup(s, sp->gfn, sp->role) != sp)
		return "a live page is not in the hash under its key";
	if (sp_by_pa(s, sp->pa) != sp)
		return "a live page is not found by its address";
	for (unsigned idx = 0; idx < SPT_ENTRIES; idx++) {
		uint64_t e;

		if (!spte_read(s, sp, idx, &e))
			return "a shadow table cannot be read";
		if (!sp_present(sp, idx)) {
			if (e)
				return "an entry not recorded as present is not zero";
			continue;
		}
		if (!(e & PTE_P))
			return "an entry recorded as present is not present";
		if (sp->role.level > 1) {
			struct shadow_page *child = sp_by_pa(s, e & SPTE_ADDR_MASK);

			if (!child || child->invalid)
				return "a non-leaf entry points at no live shadow page";
			if ((e & ~SPTE_ADDR_MASK) != SPTE_TABLE_BITS)
				return "a non-leaf entry does not grant everything";
			if (child->role.level != sp->role.level - 1)
				return "a non-leaf entry points at a page of the wrong level";
			if (!parent_has(child, sp, idx))
				return "a non-leaf entry is missing from its child's parent links";
			(*links)++;
			continue;
		}
		uint64_t gfn = sp->leaf_gfn[idx], hfn;

		if (!rmap_has(s, gfn, sp, idx))
			return "a leaf is missing from the reverse map of its gfn";
		if (sp->role.direct && gfn != sp->gfn + idx)
			return "a leaf of a direct page maps another gfn than its place says";
		if (memslots_gfn_peek(s->cfg.slots, gfn, &hfn, NULL) != MEMSLOT_OK ||
		    (e & SPTE_ADDR_MASK) != hfn << 12)
			return "a leaf does not map the frame backing its gfn";
		if ((e & PTE_RW) && gfn_write_protected(s, gfn))
			return "a leaf maps a write-protected frame writable";
		if ((e & PTE_RW) && !(e & PTE_D))
			return "a writable leaf has D clear (the hardware would write it)";
		if (!(e & PTE_A))
			return "a leaf has A clear (the hardware would write it)";
	}
	return NULL;
}

/*
 * Every vCPU's roots: a page's root_count is the number of root slots (of
 * all vCPUs) holding it; a held invalid page is off the list (counted).
 */
static const char *check_roots(struct shadow_mmu *s, uint64_t *n)
{
	struct u64map held;
	size_t pos = 0;
	uint64_t key, v;
	const char *why = NULL;

	u64map_init(&held);
	for (unsigned c = 0; c < s->cfg.nvcpus; c++) {
		for (unsigned i = 0; i <= s->cfg.root_cache; i++) {
			const struct shadow_root *r = &s->vcpus[c].roots[i];

			for (unsigned j = 0; r->used && j < 4; j++) {
				uint64_t refs = 0;

				if (!r->sp[j])
					continue;
				(void)u64map_get(&held, (uintptr_t)r->sp[j], &refs);
				if (u64map_put(&held, (uintptr_t)r->sp[j], refs + 1)) {
					why = "the simulator is out of memory (check)";
					goto out;
				}
			}
			if (!r->used && (r->pae || r->sp[0]))
				why = "an unused root slot still holds pages";
		}
	}
	while (!why && u64map_iter(&held, &pos, &key, &v)) {
		const struct shadow_page *sp = (const struct shadow_page *)(uintptr_t)key;

		if (sp->root_count != v)
			why = "a root page's reference count differs from the roots holding it";
		else if (sp->invalid)
			(*n)++; /* held by a root, off the list */
	}
out:
	u64map_fini(&held);
	return why;
}

const char *shadow_check(struct shadow_mmu *s)
{
	uint64_t n = 0, links = 0, parents = 0, unsync = 0, rm = 0;
	size_t pos = 0;
	uint64_t key, v;
	const char *why;

	for (struct shadow_page *sp = s->lru.lru_next; sp != &s->lru; sp = sp->lru_next) {
		if (sp->invalid)
			return "an invalid page is still in the LRU list";
		if ((why = check_page(s, sp, &links)))
			return why;
		parents += sp->nparents;
		unsync += sp->unsync;
		if (sp->unsync && (sp->role.direct || sp->role.level != 1))
			return "a page other than a guest leaf table is unsync";
		n++;
	}
	if ((why = check_roots(s, &n)))
		return why;
	if (links != parents)
		return "parent links and non-leaf entries do not match";
	if (unsync != s->nunsync)
		return "the unsync count is wrong";
	while (u64map_iter(&s->rmap, &pos, &key, &v)) {
		const struct rmap_head *h = (const struct rmap_head *)(uintptr_t)v;

		for (unsigned i = 0; i < h->n; i++) {
			const struct shadow_page *sp = h->refs[i].sp;

			if (sp->role.level != 1 || !sp_present(sp, h->refs[i].idx) ||
			    sp->leaf_gfn[h->refs[i].idx] != key)
				return "a reverse-map entry names no leaf for its gfn";
		}
		rm += h->n;
	}
	if (rm != s->rmap_entries)
		return "the reverse-map entry count is wrong";
	if (n != s->npages)
		return "the page count differs from the pages live";
	if (s->cfg.max_pages && s->npages > s->cfg.max_pages)
		return "more shadow pages than the cap";
	return NULL;
}

bool shadow_root_peek(const struct shadow_mmu *s, unsigned vcpu, uint64_t *table_pa, bool *pae)
{
	const struct shadow_root *r;

	if (vcpu >= s->cfg.nvcpus)
		return false;
	r = &s->vcpus[vcpu].roots[0];
	if (!root_valid(r))
		return false;
	*pae = r->pae;
	*table_pa = r->pae ? r->pdpt_pa : r->sp[0]->pa;
	return true;
}

bool shadow_table_unsync(const struct shadow_mmu *s, uint64_t pa)
{
	const struct shadow_page *sp = sp_by_pa(s, pa);

	return sp && sp->unsync;
}
