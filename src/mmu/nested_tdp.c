/*
 * nested_tdp.c - nested TDP: configuration, the cache of EPT02 roots keyed
 * by EPTP12 (LRU), flushes owed to the hardware, INVEPT, and what a change
 * of L1's memory slots does (rules in nested_tdp.h).
 */
#include <stdlib.h>
#include <string.h>

#include "arch/x86.h"
#include "mmu/nested_tdp_int.h"

const char *ntdp_config_invalid(const struct ntdp_config *c)
{
	if (!c->port || !c->l1_slots)
		return "ntdp: a memory port and L1's memory slots are required";
	if (c->kind != TDP_EPT && c->kind != TDP_NPT)
		return "ntdp: kind must be EPT or NPT";
	if (c->maxphyaddr < 32 || c->maxphyaddr > 52)
		return "ntdp: maxphyaddr must be between 32 and 52";
	if (c->max_level < 1 || c->max_level > 3)
		return "ntdp: max_level must be 1, 2 or 3";
	if (c->kind == TDP_EPT && c->max_level == 3 && !c->ept_caps.gb1)
		return "ntdp: 1 GiB EPT02 leaves need the 1-GByte page capability (ept_caps.gb1)";
	if (c->roots < 1 || c->roots > NTDP_MAX_ROOTS)
		return "ntdp: roots must be between 1 and NTDP_MAX_ROOTS";
	if (c->ept_caps.mbec)
		return "ntdp: MBEC in EPT12 is not supported";
	if (c->ept01 && tdp_config(c->ept01)->kind != c->kind)
		return "ntdp: ept01 must be of the same kind";
	return NULL;
}

static void slot_notify(void *ctx, const struct memslot_event *ev);

struct ntdp *ntdp_create(const struct ntdp_config *cfg, const char **why)
{
	const char *msg = ntdp_config_invalid(cfg);
	struct ntdp *n;

	if (msg) {
		if (why)
			*why = msg;
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		if (why)
			*why = "ntdp: out of host memory";
		return NULL;
	}
	n->cfg = *cfg;
	n->l1mem = (struct guestmem){ .slots = cfg->l1_slots, .port = cfg->port };
	n->cur = -1;
	u64map_init(&n->pos);
	u64map_init(&n->r2m);
	u64map_init(&n->r1g);
	ntdp_mm_init(&n->tables);
	ntdp_mm_init(&n->leaves);
	n->notifier = memslots_notifier_add(cfg->l1_slots, slot_notify, n);
	if (n->notifier < 0) {
		if (why)
			*why = "ntdp: cannot register the memslot notifier";
		free(n);
		return NULL;
	}
	return n;
}

static void root_free(struct ntdp *n, unsigned i)
{
	struct ntdp_root *r = &n->roots[i];

	if (!r->used)
		return;
	ntdp_pos_remove_root(n, i);
	tdp_destroy(r->t);
	memset(r, 0, sizeof(*r));
	if (n->cur == (int)i)
		n->cur = -1;
}

void ntdp_destroy(struct ntdp *n)
{
	if (!n)
		return;
	ntdp_rmap_reset(n);
	for (unsigned i = 0; i < NTDP_MAX_ROOTS; i++)
		root_free(n, i);
	(void)memslots_notifier_remove(n->cfg.l1_slots, n->notifier);
	ntdp_mm_fini(&n->tables);
	ntdp_mm_fini(&n->leaves);
	u64map_fini(&n->pos);
	u64map_fini(&n->r2m);
	u64map_fini(&n->r1g);
	free(n);
}

const struct ntdp_stats *ntdp_get_stats(const struct ntdp *n)
{
	return &n->stats;
}

/* ---- roots ---- */

/* The key with the fields of the other kind cleared, so keys compare whole. */
static struct ntdp_root12 norm_key(const struct ntdp *n, const struct ntdp_root12 *k)
{
	struct ntdp_root12 r = { 0 };

	if (n->cfg.kind == TDP_EPT) {
		r.eptp12 = k->eptp12;
	} else {
		r.ncr3 = k->ncr3;
		r.ncr4 = k->ncr4;
		r.nefer = k->nefer;
	}
	return r;
}

static bool key_eq(const struct ntdp_root12 *a, const struct ntdp_root12 *b)
{
	return a->eptp12 == b->eptp12 && a->ncr3 == b->ncr3 && a->ncr4 == b->ncr4 && a->nefer == b->nefer;
}

/*
 * The 12 context as the hardware would prepare it (hw_mmu_init: the EPTP
 * checks of VM entry, the EPT12/NPT12 format), with guest paging off and
 * L1's memory as its memory.
 */
static bool make_hw12(struct ntdp *n, const struct ntdp_root12 *k, struct hw_mmu *m,
		      struct xlate_result *fail)
{
	struct hw_config c;
	const char *why;

	memset(&c, 0, sizeof(c));
	c.cpu.vendor = n->cfg.kind == TDP_EPT ? CPU_INTEL : CPU_AMD;
	c.cpu.maxphyaddr = n->cfg.maxphyaddr;
	c.mem = guestmem_pmem(&n->l1mem);
	if (n->cfg.kind == TDP_EPT) {
		c.nested = NESTED_EPT;
		c.eptp = k->eptp12;
		c.ept_caps = n->cfg.ept_caps;
	} else {
		c.nested = NESTED_NPT;
		c.ncr3 = k->ncr3;
		c.ncr4 = k->ncr4;
		c.nefer = k->nefer;
	}
	why = hw_config_invalid(&c);
	if (why) {
		memset(fail, 0, sizeof(*fail));
		fail->outcome = XO_VMENTRY_FAIL;
		fail->reason = why;
		return false;
	}
	return hw_mmu_init(m, &c, fail);
}

static int root_create(struct ntdp *n, unsigned i, const struct ntdp_root12 *k, const struct hw_mmu *hw12)
{
	struct ntdp_root *r = &n->roots[i];
	bool ept = n->cfg.kind == TDP_EPT;
	struct tdp_config tc = {
		.kind = n->cfg.kind,
		.levels = hw12->nested_fmt.levels,
		.max_level = n->cfg.max_level,
		/* EPT02 has A/D exactly when EPT12 has: the hardware then treats
		 * L2's guest-table reads as writes in both (SDM 29.3.5). */
		.ept_ad = ept && (k->eptp12 & EPTP_AD),
		.ept_xonly = ept && n->cfg.ept_caps.xonly,
		.maxphyaddr = n->cfg.maxphyaddr,
		.dirty_mode = TDP_DIRTY_WP,
		.port = n->cfg.port,
		.slots = NULL,
		.counters = n->cfg.counters,
		.cnt_level = CNT_L0,
		.cnt_pt = CNT_PT_EPT02,
	};

	r->t = tdp_create(&tc, NULL);
	if (!r->t)
		return NTDP_ENOMEM;
	r->used = true;
	r->key = *k;
	r->hw12 = *hw12;
	r->flush = true; /* the root page may be a freed root's: stale TLB entries */
	n->stats.roots_created++;
	return NTDP_OK;
}

int ntdp_load_root(struct ntdp *n, const struct ntdp_root12 *r12, struct xlate_result *fail)
{
	struct ntdp_root12 k = norm_key(n, r12);
	struct xlate_result dummy;
	struct hw_mmu hw12;
	unsigned i, victim = 0;
	int r;

	if (!fail)
		fail = &dummy;
	n->stamp++;
	for (i = 0; i < n->cfg.roots; i++) {
		if (n->roots[i].used && key_eq(&n->roots[i].key, &k)) {
			n->roots[i].stamp = n->stamp;
			n->cur = (int)i;
			n->stats.root_hits++;
			return NTDP_OK;
		}
	}
	if (!make_hw12(n, &k, &hw12, fail))
		return NTDP_EINVAL;
	for (i = 0; i < n->cfg.roots; i++) {
		if (!n->roots[i].used)
			break;
		if (n->roots[i].stamp < n->roots[victim].stamp)
			victim = i;
	}
	if (i == n->cfg.roots) {
		i = victim;
		root_free(n, i);
		n->stats.roots_evicted++;
	}
	r = root_create(n, i, &k, &hw12);
	if (r)
		return r;
	n->roots[i].stamp = n->stamp;
	n->cur = (int)i;
	return NTDP_OK;
}

bool ntdp_has_root(const struct ntdp *n)
{
	return n->cur >= 0;
}

struct tdp_mmu *ntdp_current_tdp(struct ntdp *n)
{
	return n->cur >= 0 ? n->roots[n->cur].t : NULL;
}

static uint64_t root02(const struct ntdp_root *r)
{
	return tdp_config(r->t)->kind == TDP_EPT ? tdp_root_eptp(r->t) : tdp_root_ncr3(r->t);
}

uint64_t ntdp_root02(const struct ntdp *n)
{
	return n->cur >= 0 ? root02(&n->roots[n->cur]) : 0;
}

void ntdp_hw_program(const struct ntdp *n, struct hw_config *cfg)
{
	if (n->cur >= 0)
		tdp_hw_program(n->roots[n->cur].t, cfg);
}

/* ---- flushes, INVEPT, zaps ---- */

void ntdp_root_flush(struct ntdp *n, unsigned root)
{
	n->roots[root].flush = true;
}

void ntdp_root_zap(struct ntdp *n, unsigned root, uint64_t gfn2, uint64_t npages)
{
	struct ntdp_root *r = &n->roots[root];

	if (!r->used)
		return;
	(void)tdp_zap_range(r->t, gfn2, npages);
	if (tdp_flush_take(r->t))
		r->flush = true;
}

void ntdp_zap_all(struct ntdp *n)
{
	for (unsigned i = 0; i < NTDP_MAX_ROOTS; i++) {
		if (n->roots[i].used)
			ntdp_root_zap(n, i, 0, UINT64_MAX);
	}
	/* no leaf left: the leaf records are all stale */
	ntdp_mm_fini(&n->leaves);
	ntdp_mm_init(&n->leaves);
}

unsigned ntdp_flush_take(struct ntdp *n, uint64_t *roots02, unsigned cap)
{
	unsigned k = 0;

	for (unsigned i = 0; i < NTDP_MAX_ROOTS; i++) {
		struct ntdp_root *r = &n->roots[i];

		if (!r->used)
			continue;
		if (tdp_flush_take(r->t))
			r->flush = true;
		if (!r->flush)
			continue;
		r->flush = false;
		if (k < cap)
			roots02[k] = root02(r);
		k++;
	}
	return k;
}

unsigned ntdp_invept(struct ntdp *n, enum ntdp_invept_type type, uint64_t eptp12,
		     uint64_t *roots02, unsigned cap)
{
	unsigned k = 0;

	for (unsigned i = 0; i < NTDP_MAX_ROOTS; i++) {
		struct ntdp_root *r = &n->roots[i];
		uint64_t key = n->cfg.kind == TDP_EPT ? r->key.eptp12 : r->key.ncr3;

		if (!r->used || (type == NTDP_INVEPT_SINGLE && key != eptp12))
			continue;
		if (k < cap)
			roots02[k] = root02(r);
		k++;
	}
	return k;
}

/* ---- L1's memory slots ---- */

static void slot_notify(void *ctx, const struct memslot_event *ev)
{
	struct ntdp *n = ctx;

	switch (ev->kind) {
	case MEMSLOT_EV_ADD:
		break;
	case MEMSLOT_EV_REMOVE:
	case MEMSLOT_EV_MOVE:
		/* EPT12 tables may have lived there: forget everything. */
		ntdp_zap_all(n);
		ntdp_rmap_reset(n);
		n->stats.resets++;
		break;
	case MEMSLOT_EV_FLAGS:
		if ((ev->old_flags ^ ev->new_flags) & (MEMSLOT_F_READONLY | MEMSLOT_F_LOG_DIRTY))
			ntdp_zap_all(n);
		break;
	case MEMSLOT_EV_DIRTY_CLEAR:
		ntdp_zap_all(n); /* W must fault again on the cleared pages */
		break;
	}
}
