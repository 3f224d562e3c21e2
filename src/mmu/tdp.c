/*
 * tdp.c - the TDP MMU: configuration, the root the vCPU programs, and the
 * fault handler that builds the EPT/NPT tables lazily (rules in tdp.h).
 *
 * One fault goes through these steps, its state in struct tdp_fault:
 *   1. prepare: the access needed (from the access and the exit
 *      information), the gfn and its slot (outside -> error, MMIO -> emulate);
 *   2. spurious: walk our tables; a leaf that already allows the access
 *      ends the fault;
 *   3. policy: read-only slot or tracked gfn and a write -> emulate; the
 *      leaf's W; the leaf's level (slot run, max level, tracking, logging);
 *   4. backing: the run's frames from the slots (allocated on first touch);
 *   5. map: down from the root, allocating missing tables and splitting a
 *      large leaf in the way, then the leaf itself; a write to a
 *      write-protected logging slot marks the page dirty.
 */
#include <stdlib.h>
#include <string.h>

#include "arch/x86.h"
#include "mmu/tdp_internal.h"

/* ---- configuration ---- */

const char *tdp_config_invalid(const struct tdp_config *cfg)
{
	if (!cfg->port)
		return "tdp: a memory port is required";
	if (cfg->kind != TDP_EPT && cfg->kind != TDP_NPT)
		return "tdp: kind must be EPT or NPT";
	if (cfg->levels != 4 && cfg->levels != 5)
		return "tdp: levels must be 4 or 5";
	if (cfg->max_level < 1 || cfg->max_level > 3)
		return "tdp: max_level must be 1 (4 KiB), 2 (2 MiB) or 3 (1 GiB)";
	if (cfg->maxphyaddr < 32 || cfg->maxphyaddr > 52)
		return "tdp: maxphyaddr must be between 32 and 52";
	if (cfg->kind == TDP_NPT && (cfg->ept_ad || cfg->ept_mbec || cfg->ept_xonly))
		return "tdp: ept_ad, ept_mbec and ept_xonly apply to EPT only";
	if (cfg->dirty_mode != TDP_DIRTY_WP && cfg->dirty_mode != TDP_DIRTY_DBIT)
		return "tdp: dirty_mode must be WP or DBIT";
	if (cfg->dirty_mode == TDP_DIRTY_DBIT && cfg->kind == TDP_EPT && !cfg->ept_ad)
		return "tdp: dirty logging by D flags needs EPT A/D (ept_ad)";
	if ((unsigned)cfg->cnt_level >= CNT_LEVELS || (unsigned)cfg->cnt_pt >= CNT_PTS)
		return "tdp: counter level or page-table kind out of range";
	return NULL;
}

static void make_format(struct tdp_mmu *t)
{
	const struct tdp_config *c = &t->cfg;

	if (c->kind == TDP_EPT) {
		struct ept_caps caps = {
			.xonly = c->ept_xonly, .walk5 = c->levels == 5, .ad = c->ept_ad,
			.gb1 = c->max_level >= 3, .mbec = c->ept_mbec,
		};
		pt_format_ept(&t->fmt, c->levels, c->maxphyaddr, &caps, c->ept_ad);
	} else {
		struct cpu_features host = { .gbpages = true, .la57 = true };
		uint64_t cr4 = CR4_PAE | (c->levels == 5 ? CR4_LA57 : 0);

		pt_format_x86(&t->fmt, c->levels == 5 ? PAGING_5LEVEL : PAGING_4LEVEL, CPU_AMD,
			      c->maxphyaddr, &host, cr4, EFER_LME | EFER_LMA | EFER_NXE, false);
	}
}

struct tdp_mmu *tdp_create(const struct tdp_config *cfg, const char **why)
{
	const char *msg = tdp_config_invalid(cfg);
	struct tdp_mmu *t;

	if (msg) {
		if (why)
			*why = msg;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		if (why)
			*why = "tdp: out of host memory";
		return NULL;
	}
	t->cfg = *cfg;
	make_format(t);
	t->addr_mask = maxphy_mask(cfg->maxphyaddr) & ~UINT64_C(0xfff);
	u64map_init(&t->tables);
	tdp_tracker_init(&t->track);
	if (tdp_table_alloc(t, cfg->levels, 0, &t->root) != MEM_OK) {
		if (why)
			*why = "tdp: no page for the root table";
		goto fail;
	}
	t->notifier = cfg->slots ? memslots_notifier_add(cfg->slots, tdp_slot_notify, t) : -1;
	if (cfg->slots && t->notifier < 0) {
		if (why)
			*why = "tdp: cannot register the memslot notifier";
		tdp_table_free_tree(t, t->root, cfg->levels);
		goto fail;
	}
	return t;
fail:
	tdp_tracker_fini(&t->track);
	u64map_fini(&t->tables);
	free(t);
	return NULL;
}

void tdp_destroy(struct tdp_mmu *t)
{
	if (!t)
		return;
	if (t->cfg.slots)
		(void)memslots_notifier_remove(t->cfg.slots, t->notifier);
	tdp_table_free_tree(t, t->root, t->cfg.levels);
	tdp_tracker_fini(&t->track);
	u64map_fini(&t->tables);
	free(t);
}

const struct tdp_config *tdp_config(const struct tdp_mmu *t)
{
	return &t->cfg;
}

const struct tdp_stats *tdp_get_stats(const struct tdp_mmu *t)
{
	return &t->stats;
}

uint64_t tdp_tables_live(const struct tdp_mmu *t)
{
	return t->stats.tables_allocated - t->stats.tables_freed;
}

bool tdp_flush_pending(const struct tdp_mmu *t)
{
	return t->need_flush;
}

bool tdp_flush_take(struct tdp_mmu *t)
{
	bool f = t->need_flush;

	t->need_flush = false;
	return f;
}

/* ---- the root ---- */

uint64_t tdp_root_pa(const struct tdp_mmu *t)
{
	return t->root;
}

uint64_t tdp_root_eptp(const struct tdp_mmu *t)
{
	if (t->cfg.kind != TDP_EPT)
		return 0;
	/* SDM Vol. 3C 25.6.11: memory type, walk length - 1, A/D enable, root. */
	return t->root | MT_WB | ((uint64_t)(t->cfg.levels - 1) << EPTP_WALK_SHIFT) |
	       (t->cfg.ept_ad ? EPTP_AD : 0);
}

uint64_t tdp_root_ncr3(const struct tdp_mmu *t)
{
	return t->cfg.kind == TDP_NPT ? t->root : 0;
}

void tdp_hw_program(const struct tdp_mmu *t, struct hw_config *cfg)
{
	if (t->cfg.kind == TDP_EPT) {
		cfg->nested = NESTED_EPT;
		cfg->eptp = tdp_root_eptp(t);
		cfg->ept_caps.walk5 |= t->cfg.levels == 5;
		cfg->ept_caps.ad |= t->cfg.ept_ad;
		cfg->ept_caps.gb1 |= t->cfg.max_level >= 3;
		cfg->ept_caps.mbec |= t->cfg.ept_mbec;
		cfg->ept_caps.xonly |= t->cfg.ept_xonly;
	} else {
		cfg->nested = NESTED_NPT;
		cfg->ncr3 = tdp_root_ncr3(t);
		cfg->ncr4 = CR4_PAE | (t->cfg.levels == 5 ? CR4_LA57 : 0);
		cfg->nefer = EFER_LME | EFER_LMA | EFER_NXE;
	}
}

/* ---- faults ---- */

bool tdp_fault_from_exit(struct mmu_fault *f, const struct xlate_result *r)
{
	memset(f, 0, sizeof(*f));
	f->kind = MMU_FAULT_TDP;
	if (r->outcome == XO_EPT_VIOLATION) {
		uint64_t q = r->qualification;

		f->access = (q & EPTQ_WRITE) ? ACCESS_WRITE : (q & EPTQ_FETCH) ? ACCESS_FETCH : ACCESS_READ;
		f->exit_qual = q;
		f->gpa = r->fault_gpa;
		if (r->gla_valid)
			f->gva = r->gla;
		return true;
	}
	if (r->outcome == XO_NPF) {
		uint64_t e = r->exitinfo1;

		f->access = (e & NPF_W) ? ACCESS_WRITE : (e & NPF_ID) ? ACCESS_FETCH : ACCESS_READ;
		f->exitinfo1 = e;
		f->gpa = r->exitinfo2;
		return true;
	}
	return false;
}

struct tdp_fault {
	struct mmu_fault *f;
	struct memslot_desc slot;
	unsigned need;     /* RIGHT_R / RIGHT_W / RIGHT_X the access needs */
	bool write;
	bool logging;      /* the slot logs dirty pages */
	bool writable;     /* the leaf gets W */
	unsigned level;    /* level of the leaf */
	uint64_t base_gfn; /* first gfn the leaf maps */
	uint64_t base_hfn; /* its first frame */
};

static enum ret_pf fault_done(struct tdp_mmu *t, enum ret_pf r)
{
	t->stats.faults[r]++;
	if (r == RET_PF_FIXED && t->cfg.counters)
		t->cfg.counters->tdp_faults[t->cfg.cnt_level]++;
	return r;
}

static enum ret_pf fault_error(struct tdp_mmu *t, struct tdp_fault *tf, const char *why)
{
	tf->f->error = why;
	return fault_done(t, RET_PF_ERROR);
}

static enum ret_pf fault_emulate(struct tdp_mmu *t, struct tdp_fault *tf)
{
	tf->f->emulate_gpa = tf->f->gpa;
	return fault_done(t, RET_PF_EMULATE);
}

/* A port failure during the fault: repeatable (retry) or not (error). */
static enum ret_pf fault_port(struct tdp_mmu *t, struct tdp_fault *tf, enum mem_status s)
{
	if (s == MEM_RETRY || s == MEM_CHANGED)
		return fault_done(t, RET_PF_RETRY);
	if (s == MEM_NOMEM)
		return fault_error(t, tf, "tdp: no table page left");
	return fault_error(t, tf, "tdp: the memory port failed");
}

static unsigned needed_rights(const struct tdp_mmu *t, const struct mmu_fault *f)
{
	unsigned need = f->access == ACCESS_WRITE ? RIGHT_W : f->access == ACCESS_FETCH ? RIGHT_X : RIGHT_R;

	if (t->cfg.kind == TDP_EPT) {
		if (f->exit_qual & EPTQ_READ)
			need |= RIGHT_R;
		if (f->exit_qual & EPTQ_WRITE)
			need |= RIGHT_W;
		if (f->exit_qual & EPTQ_FETCH)
			need |= RIGHT_X;
	} else {
		if (f->exitinfo1 & NPF_W)
			need |= RIGHT_W;
		if (f->exitinfo1 & NPF_ID)
			need |= RIGHT_X;
	}
	return need;
}

/* Step 2: does a leaf already allow the access? */
static bool fault_spurious(struct tdp_mmu *t, const struct tdp_fault *tf)
{
	struct tdp_iter it;
	bool ok = tdp_iter_start(&it, t, tf->f->gpa);

	while (ok && !tdp_pte_leaf(t, it.level, it.val))
		ok = tdp_iter_down(&it);
	return ok && (tdp_pte_rights(t, it.val) & tf->need) == tf->need;
}

/* Step 3: the largest leaf the rules allow. */
static unsigned fault_level(const struct tdp_mmu *t, const struct tdp_fault *tf)
{
	if (tf->logging)
		return 1;
	for (unsigned l = t->cfg.max_level; l > 1; l--) {
		if (memslot_run_fits(&tf->slot, tf->f->gfn, 9 * (l - 1)) &&
		    tdp_tracker_range_free(&t->track, tf->f->gfn, l))
			return l;
	}
	return 1;
}

/* First gfn of the span an entry at `level` maps. */
static uint64_t f_gfn_base(uint64_t gfn, unsigned level)
{
	return gfn & ~(tdp_level_pages(level) - 1);
}

/* Step 5: install the leaf. */
static enum ret_pf fault_map(struct tdp_mmu *t, struct tdp_fault *tf)
{
	uint64_t pa = tf->base_hfn << 12, new;
	uint64_t ad = tdp_pte_a_bit(t) | tdp_pte_d_bit(t);
	struct tdp_iter it;
	enum mem_status s;

	if (!tdp_iter_start(&it, t, tf->f->gpa))
		return fault_port(t, tf, it.st);
	while (it.level > tf->level) {
		if (!tdp_pte_present(t, it.val)) {
			uint64_t child;

			s = tdp_table_alloc(t, it.level - 1, f_gfn_base(tf->f->gfn, it.level), &child);
			if (s != MEM_OK)
				return fault_port(t, tf, s);
			s = tdp_iter_set(&it, tdp_pte_table(t, child));
			if (s != MEM_OK) {
				tdp_table_free_tree(t, child, it.level - 1);
				return fault_port(t, tf, s);
			}
		} else if (pt_is_leaf(&t->fmt, it.level, it.val)) {
			uint64_t ne;

			s = tdp_split_leaf(t, it.table, it.level, it.index, it.val, &ne);
			if (s != MEM_OK)
				return fault_port(t, tf, s);
			it.val = ne;
		}
		if (!tdp_iter_down(&it))
			return fault_port(t, tf, it.st);
	}
	new = tdp_pte_leaf_make(t, pa, tf->level, tf->writable);
	if (tdp_has_ad(t) && tdp_pte_leaf(t, it.level, it.val) && tdp_pte_addr(t, it.level, it.val) == pa)
		new |= it.val & ad; /* same page: keep what the hardware recorded */
	s = tdp_iter_set(&it, new);
	if (s != MEM_OK)
		return fault_port(t, tf, s);
	t->stats.leaves_installed[tf->level]++;
	return RET_PF_FIXED;
}

enum ret_pf tdp_page_fault(struct tdp_mmu *t, struct mmu_fault *f)
{
	struct tdp_fault tf = { .f = f };
	struct gfn_info info;
	uint64_t size, hfn;
	enum ret_pf r;
	int ms;

	/* 1. prepare */
	if (f->kind != MMU_FAULT_TDP)
		return fault_error(t, &tf, "tdp: not a TDP fault");
	if (!t->cfg.slots)
		return fault_error(t, &tf, "tdp: directed-only MMU (no memory slots): faults are the owner's");
	f->gfn = f->gpa >> 12;
	tf.need = needed_rights(t, f);
	tf.write = tf.need & RIGHT_W;
	if (f->gfn >= memslots_gfn_limit(t->cfg.slots))
		return fault_error(t, &tf, "tdp: gpa outside every memory slot");
	ms = memslots_gfn_peek(t->cfg.slots, f->gfn, NULL, &info);
	if (ms == MEMSLOT_OUTSIDE)
		return fault_error(t, &tf, "tdp: gpa outside every memory slot");
	if (ms == MEMSLOT_MMIO)
		return fault_emulate(t, &tf);
	tf.slot = info.slot;

	/* 2. spurious */
	if (fault_spurious(t, &tf))
		return fault_done(t, RET_PF_SPURIOUS);

	/* 3. policy */
	if (tf.write && (tf.slot.flags & MEMSLOT_F_READONLY))
		return fault_emulate(t, &tf);
	if (tf.write && tdp_tracker_is_tracked(&t->track, f->gfn)) {
		tdp_tracker_notify(t, f->gpa, f->access);
		return fault_emulate(t, &tf);
	}
	tf.logging = tf.slot.flags & MEMSLOT_F_LOG_DIRTY;
	tf.writable = !(tf.slot.flags & MEMSLOT_F_READONLY) &&
		      !tdp_tracker_is_tracked(&t->track, f->gfn) &&
		      !(tf.logging && t->cfg.dirty_mode == TDP_DIRTY_WP && !tf.write);
	tf.level = fault_level(t, &tf);
	size = tdp_level_pages(tf.level);
	tf.base_gfn = f->gfn & ~(size - 1);

	/* 4. backing */
	ms = memslots_gfn_to_hfn(t->cfg.slots, tf.base_gfn, &hfn, NULL);
	if (ms == MEMSLOT_ENOMEM)
		return fault_error(t, &tf, "tdp: out of frames for the guest's memory");
	if (ms != MEMSLOT_OK)
		return fault_error(t, &tf, "tdp: the guest's memory cannot be backed");
	tf.base_hfn = hfn;
	if (((hfn + size) << 12) - 1 > maxphy_mask(t->cfg.maxphyaddr))
		return fault_error(t, &tf, "tdp: frame beyond maxphyaddr");
	f->hfn = hfn + (f->gfn - tf.base_gfn);
	f->level = tf.level;

	/* 5. map */
	r = fault_map(t, &tf);
	if (r != RET_PF_FIXED)
		return r;
	if (tf.write && tf.logging && t->cfg.dirty_mode == TDP_DIRTY_WP) {
		if (memslots_mark_dirty(t->cfg.slots, f->gfn) == MEMSLOT_OK)
			t->stats.dirty_logged++;
	}
	return fault_done(t, RET_PF_FIXED);
}
