/*
 * tlb.c - the set-associative structures of the TLB model: creation,
 * lookup, fill, replacement, scoped invalidation and counters.
 *
 * Matching rules (the manuals' tags):
 *   TLB   an entry translates LA in the current context if its VPID, kind
 *         and root equal the context's and its PCID equals the current PCID
 *         or the entry is global (SDM 4.10.2.4: a global entry may be used
 *         with any PCID; Vol. 3C 29.4.2: linear mappings while EPT is not in
 *         use, combined mappings for the current EP4TA while it is).
 *   PSC   the same tag, PCID always (PSC entries are never global: G is a
 *         leaf-only flag, SDM 4.10.3).
 *   NTLB and nested PSC: guest-physical mappings of the current EP4TA
 *         (Intel, no VPID/PCID), or of the current ASID (AMD).
 * Replacement: the first invalid way of the set, else LRU or round-robin.
 */
#include "arch/tlb_internal.h"

#include <stdlib.h>
#include <string.h>

#include "arch/x86.h"

/* Largest structure accepted: a bound against configuration typos. */
#define TLB_MAX_ENTRIES (1u << 20)

static const uint8_t class_shift[TLB_NCLASS] = { 12, 21, 30 };

void tlb_config_default(struct tlb_config *c)
{
	memset(c, 0, sizeof(*c));
	c->tlb[TLB_CLASS_4K] = (struct tlb_geom){ 128, 12 };
	c->tlb[TLB_CLASS_LARGE] = (struct tlb_geom){ 8, 4 };
	c->tlb[TLB_CLASS_1G] = (struct tlb_geom){ 4, 4 };
	for (int i = 0; i < 2; i++) {
		struct tlb_geom *p = i ? c->npsc : c->psc;
		p[2] = (struct tlb_geom){ 8, 4 };
		p[3] = (struct tlb_geom){ 1, 4 };
		p[4] = (struct tlb_geom){ 1, 2 };
		p[5] = (struct tlb_geom){ 1, 2 };
	}
	c->ntlb[TLB_CLASS_4K] = (struct tlb_geom){ 16, 4 };
	c->ntlb[TLB_CLASS_LARGE] = (struct tlb_geom){ 4, 4 };
	c->ntlb[TLB_CLASS_1G] = (struct tlb_geom){ 1, 4 };
	c->repl = TLB_REPL_LRU;
	c->la57 = false;
}

const char *tlb_op_name(enum tlb_op op)
{
	static const char *const names[TLB_OP_COUNT] = {
		[TLB_OP_INVLPG] = "invlpg",
		[TLB_OP_INVPCID0] = "invpcid0",
		[TLB_OP_INVPCID1] = "invpcid1",
		[TLB_OP_INVPCID2] = "invpcid2",
		[TLB_OP_INVPCID3] = "invpcid3",
		[TLB_OP_MOV_CR3] = "mov_cr3",
		[TLB_OP_MOV_CR3_NOFLUSH] = "mov_cr3_noflush",
		[TLB_OP_MOV_CR4] = "mov_cr4",
		[TLB_OP_MOV_CR0] = "mov_cr0",
		[TLB_OP_TASK_SWITCH] = "task_switch",
		[TLB_OP_INVVPID0] = "invvpid0",
		[TLB_OP_INVVPID1] = "invvpid1",
		[TLB_OP_INVVPID2] = "invvpid2",
		[TLB_OP_INVVPID3] = "invvpid3",
		[TLB_OP_INVEPT1] = "invept1",
		[TLB_OP_INVEPT2] = "invept2",
		[TLB_OP_INVLPGA] = "invlpga",
		[TLB_OP_VMX_TRANSITION] = "vmx_transition",
		[TLB_OP_SVM_TLB_CONTROL] = "svm_tlb_control",
		[TLB_OP_PAGE_FAULT] = "page_fault",
		[TLB_OP_EPT_VIOLATION] = "ept_violation",
		[TLB_OP_NPF] = "npf",
		[TLB_OP_FLUSH] = "flush",
	};
	return (unsigned)op < TLB_OP_COUNT ? names[op] : "?";
}

/* ---- structures ---- */

static bool geom_ok(const struct tlb_geom *g)
{
	if (!g->sets || !g->ways)
		return true; /* absent */
	/* Set counts are powers of two, as in hardware: the index is a bit field. */
	if (g->sets & (g->sets - 1))
		return false;
	return g->sets <= TLB_MAX_ENTRIES && g->ways <= TLB_MAX_ENTRIES &&
	       (uint64_t)g->sets * g->ways <= TLB_MAX_ENTRIES;
}

static bool array_init(struct tlb_array *a, const struct tlb_geom *g, struct tlb_counts *cnt,
		       struct tlb_counts *agg)
{
	memset(a, 0, sizeof(*a));
	a->cnt = cnt;
	a->agg = agg;
	if (!g->sets || !g->ways)
		return true;
	a->e = calloc((size_t)g->sets * g->ways, sizeof(*a->e));
	a->rr = calloc(g->sets, sizeof(*a->rr));
	if (!a->e || !a->rr)
		return false;
	a->sets = g->sets;
	a->ways = g->ways;
	return true;
}

static void array_free(struct tlb_array *a)
{
	free(a->e);
	free(a->rr);
	a->e = NULL;
	a->rr = NULL;
}

static void all_arrays(struct tlb *t, void (*fn)(struct tlb_array *))
{
	for (unsigned c = 0; c < TLB_NCLASS; c++) {
		fn(&t->tlb[c]);
		fn(&t->ntlb[c]);
	}
	for (unsigned l = 0; l <= PT_MAX_LEVELS; l++) {
		fn(&t->psc[l]);
		fn(&t->npsc[l]);
	}
}

void tlb_destroy(struct tlb *t)
{
	if (!t)
		return;
	all_arrays(t, array_free);
	free(t);
}

struct tlb *tlb_create(const struct tlb_config *c)
{
	struct tlb *t;
	bool ok = true;

	for (unsigned i = 0; i < TLB_NCLASS; i++)
		ok = ok && geom_ok(&c->tlb[i]) && geom_ok(&c->ntlb[i]);
	for (unsigned l = 0; l <= PT_MAX_LEVELS; l++)
		ok = ok && geom_ok(&c->psc[l]) && geom_ok(&c->npsc[l]);
	if (!ok || (c->repl != TLB_REPL_LRU && c->repl != TLB_REPL_RR))
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->cfg = *c;
	for (unsigned i = 0; i < TLB_NCLASS; i++) {
		ok = ok && array_init(&t->tlb[i], &c->tlb[i], &t->st.tlb_class[i], &t->st.tlb);
		ok = ok && array_init(&t->ntlb[i], &c->ntlb[i], &t->st.ntlb, NULL);
	}
	/* Levels 0 and 1 cache nothing: a level-1 entry is always a leaf. */
	for (unsigned l = 2; l <= PT_MAX_LEVELS; l++) {
		ok = ok && array_init(&t->psc[l], &c->psc[l], &t->st.psc[l], NULL);
		ok = ok && array_init(&t->npsc[l], &c->npsc[l], &t->st.npsc[l], NULL);
	}
	for (unsigned l = 0; l < 2; l++) {
		t->psc[l] = (struct tlb_array){ .cnt = &t->st.psc[l] };
		t->npsc[l] = (struct tlb_array){ .cnt = &t->st.npsc[l] };
	}
	if (!ok) {
		tlb_destroy(t);
		return NULL;
	}
	tlb_context_4level(&t->cur, 4);
	return t;
}

const struct tlb_config *tlb_get_config(const struct tlb *t)
{
	return &t->cfg;
}

const struct tlb_stats *tlb_get_stats(const struct tlb *t)
{
	return &t->st;
}

void tlb_reset_stats(struct tlb *t)
{
	memset(&t->st, 0, sizeof(t->st));
}

void tlb_set_vpid(struct tlb *t, uint32_t vpid)
{
	t->vpid = vpid;
	t->bound_valid = false;
}

uint32_t tlb_get_vpid(const struct tlb *t)
{
	return t->vpid;
}

void tlb_set_context(struct tlb *t, const struct tlb_context *ctx)
{
	t->cur = *ctx;
	t->bound_valid = false;
}

const struct tlb_context *tlb_get_context(const struct tlb *t)
{
	return &t->cur;
}

void tlb_context_4level(struct tlb_context *ctx, unsigned levels)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->lin.kind = TLB_LINEAR;
	ctx->nest.kind = TLB_GPHYS;
	for (unsigned l = 2; l <= levels && l <= PT_MAX_LEVELS; l++) {
		ctx->gshift[l] = (uint8_t)(12 + 9 * (l - 1));
		ctx->nshift[l] = (uint8_t)(12 + 9 * (l - 1));
	}
}

/* ---- counting helpers ---- */

static void count(struct tlb_array *a, size_t field_offset)
{
	*(uint64_t *)((char *)a->cnt + field_offset) += 1;
	if (a->agg)
		*(uint64_t *)((char *)a->agg + field_offset) += 1;
}

#define COUNT(a, field) count((a), offsetof(struct tlb_counts, field))

static void touch(struct tlb *t, struct tlb_entry *e)
{
	e->stamp = ++t->clock;
}

static struct tlb_entry *set_of(const struct tlb_array *a, uint64_t addr, unsigned shift)
{
	return &a->e[(size_t)((addr >> shift) & (a->sets - 1)) * a->ways];
}

/* The way a fill replaces: the first invalid one, else by policy. */
static struct tlb_entry *victim(struct tlb *t, struct tlb_array *a, struct tlb_entry *set)
{
	unsigned si = (unsigned)((set - a->e) / a->ways);
	struct tlb_entry *v = NULL;

	for (unsigned w = 0; w < a->ways; w++)
		if (!set[w].valid)
			return &set[w];
	if (t->cfg.repl == TLB_REPL_RR) {
		v = &set[a->rr[si]];
		a->rr[si] = (a->rr[si] + 1) % a->ways;
	} else {
		v = &set[0];
		for (unsigned w = 1; w < a->ways; w++)
			if (set[w].stamp < v->stamp)
				v = &set[w];
	}
	COUNT(a, evictions);
	return v;
}

static bool tag_same(const struct tlb_tag *a, const struct tlb_tag *b)
{
	return a->vpid == b->vpid && a->kind == b->kind && a->root == b->root;
}

static bool covers(const struct tlb_entry *e, uint64_t addr)
{
	return (addr & ~(e->size - 1)) == e->addr;
}

/* ---- TLB ---- */

static bool tlb_match(const struct tlb *t, const struct tlb_entry *e, uint64_t la)
{
	return e->valid && tag_same(&e->tag, &t->cur.lin) &&
	       (e->global || e->tag.pcid == t->cur.lin.pcid) && covers(e, la);
}

struct tlb_entry *tlb_find(const struct tlb *t, uint64_t la, enum tlb_class *cls)
{
	/* Probe order 4K, 2M, 4M, 1G: one entry at most matches after a fill. */
	static const struct { enum tlb_class c; unsigned shift; } probe[] = {
		{ TLB_CLASS_4K, 12 }, { TLB_CLASS_LARGE, 21 }, { TLB_CLASS_LARGE, 22 }, { TLB_CLASS_1G, 30 },
	};
	for (unsigned i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
		const struct tlb_array *a = &t->tlb[probe[i].c];
		struct tlb_entry *set;

		if (!tlb_array_present(a))
			continue;
		set = set_of(a, la, probe[i].shift);
		for (unsigned w = 0; w < a->ways; w++) {
			if (tlb_match(t, &set[w], la) && set[w].size == (UINT64_C(1) << probe[i].shift)) {
				if (cls)
					*cls = probe[i].c;
				return &set[w];
			}
		}
	}
	return NULL;
}

void tlb_count_hit(struct tlb *t, struct tlb_entry *e, enum tlb_class cls)
{
	COUNT(&t->tlb[cls], hits);
	touch(t, e);
}

void tlb_count_miss(struct tlb *t)
{
	t->st.tlb.misses++;
}

void tlb_drop_entry(struct tlb *t, struct tlb_entry *e, enum tlb_class cls)
{
	e->valid = false;
	COUNT(&t->tlb[cls], dropped);
}

const struct tlb_entry *tlb_lookup(struct tlb *t, uint64_t la)
{
	enum tlb_class cls;
	struct tlb_entry *e = tlb_find(t, la, &cls);

	if (!e) {
		tlb_count_miss(t);
		return NULL;
	}
	tlb_count_hit(t, e, cls);
	return e;
}

const struct tlb_entry *tlb_peek(const struct tlb *t, uint64_t la)
{
	return tlb_find(t, la, NULL);
}

static enum tlb_class class_of(uint64_t size)
{
	if (size >= PAGE_SIZE_1G)
		return TLB_CLASS_1G;
	if (size >= PAGE_SIZE_2M)
		return TLB_CLASS_LARGE;
	return TLB_CLASS_4K;
}

void tlb_fill(struct tlb *t, const struct tlb_fill *f)
{
	enum tlb_class cls;
	uint64_t esize = f->size;
	struct tlb_array *a;
	struct tlb_entry *e, *set;
	unsigned shift;

	if (esize != PAGE_SIZE_4K && esize != PAGE_SIZE_2M && esize != PAGE_SIZE_4M &&
	    esize != PAGE_SIZE_1G)
		return;
	/* One entry per translation: what the same lookup would find goes. */
	while ((e = tlb_find(t, f->la, &cls)) != NULL)
		e->valid = false;
	/*
	 * A class that is absent: the page is cached as the smaller entry that
	 * contains LA (SDM 4.10.2.3).
	 */
	cls = class_of(esize);
	while (!tlb_array_present(&t->tlb[cls])) {
		if (cls == TLB_CLASS_4K)
			return;
		cls = (enum tlb_class)(cls - 1);
		esize = UINT64_C(1) << class_shift[cls];
	}
	a = &t->tlb[cls];
	shift = (unsigned)__builtin_ctzll(esize);
	set = set_of(a, f->la, shift);
	e = victim(t, a, set);
	*e = (struct tlb_entry){
		.valid = true,
		.global = f->global,
		.gdirty = f->gdirty,
		.ndirty = f->ndirty,
		.grights = (uint8_t)f->grights,
		.nrights = (uint8_t)f->nrights,
		.pkey = (uint8_t)f->pkey,
		.tag = t->cur.lin,
		.addr = f->la & ~(esize - 1),
		.size = esize,
		.span = f->guest_size > esize ? f->guest_size : esize,
		.gpa = f->gpa & ~(esize - 1),
		.out = f->hpa & ~(esize - 1),
	};
	touch(t, e);
	COUNT(a, fills);
}

/* ---- nested TLB ---- */

struct tlb_entry *tlb_ntlb_find(const struct tlb *t, uint64_t gpa)
{
	for (unsigned c = 0; c < TLB_NCLASS; c++) {
		const struct tlb_array *a = &t->ntlb[c];
		struct tlb_entry *set;

		if (!tlb_array_present(a))
			continue;
		set = set_of(a, gpa, class_shift[c]);
		for (unsigned w = 0; w < a->ways; w++) {
			struct tlb_entry *e = &set[w];

			if (e->valid && tag_same(&e->tag, &t->cur.nest) &&
			    e->tag.pcid == t->cur.nest.pcid && covers(e, gpa))
				return e;
		}
	}
	return NULL;
}

bool tlb_ntlb_lookup(struct tlb *t, uint64_t gpa, uint64_t *hpa_page, uint64_t *size,
		     unsigned *rights, bool *dirty)
{
	struct tlb_entry *e = tlb_ntlb_find(t, gpa);

	if (!e) {
		t->st.ntlb.misses++;
		return false;
	}
	t->st.ntlb.hits++;
	touch(t, e);
	*hpa_page = e->out;
	*size = e->size;
	*rights = e->nrights;
	*dirty = e->ndirty;
	return true;
}

void tlb_ntlb_fill(struct tlb *t, uint64_t gpa, uint64_t hpa_page, uint64_t size,
		   unsigned rights, bool dirty)
{
	enum tlb_class cls = class_of(size);
	struct tlb_array *a = &t->ntlb[cls];
	struct tlb_entry *e, *set;

	/* Nested pages are 4K, 2M or 1G; an absent class caches nothing. */
	if (size != (UINT64_C(1) << class_shift[cls]) || !tlb_array_present(a))
		return;
	while ((e = tlb_ntlb_find(t, gpa)) != NULL)
		e->valid = false;
	set = set_of(a, gpa, class_shift[cls]);
	e = victim(t, a, set);
	*e = (struct tlb_entry){
		.valid = true,
		.ndirty = dirty,
		.nrights = (uint8_t)rights,
		.tag = t->cur.nest,
		.addr = gpa & ~(size - 1),
		.size = size,
		.span = size,
		.out = hpa_page & ~(size - 1),
	};
	touch(t, e);
	COUNT(a, fills);
}

/* ---- paging-structure caches ---- */

static struct tlb_array *psc_array(struct tlb *t, unsigned dim, unsigned level)
{
	return dim ? &t->npsc[level] : &t->psc[level];
}

static unsigned psc_shift(const struct tlb *t, unsigned dim, unsigned level)
{
	return dim ? t->cur.nshift[level] : t->cur.gshift[level];
}

static const struct tlb_tag *psc_tag(const struct tlb *t, unsigned dim)
{
	return dim ? &t->cur.nest : &t->cur.lin;
}

static struct tlb_entry *psc_find(struct tlb *t, unsigned dim, unsigned level, uint64_t addr)
{
	struct tlb_array *a = psc_array(t, dim, level);
	unsigned shift = psc_shift(t, dim, level);
	const struct tlb_tag *tag = psc_tag(t, dim);
	struct tlb_entry *set;

	if (!tlb_array_present(a) || !shift)
		return NULL;
	set = set_of(a, addr, shift);
	for (unsigned w = 0; w < a->ways; w++) {
		struct tlb_entry *e = &set[w];

		if (e->valid && e->level == level && tag_same(&e->tag, tag) &&
		    e->tag.pcid == tag->pcid && covers(e, addr))
			return e;
	}
	return NULL;
}

/*
 * The deepest cached entry for `addr` (SDM 4.10.3.2: a walk may start from
 * the PDE cache, else the PDPTE cache, else the PML4E cache, ...). A miss
 * is counted at each level probed before the hit.
 */
bool tlb_psc_find(struct tlb *t, unsigned dim, uint64_t addr, unsigned *level,
		  uint64_t *table, unsigned *rights, bool cnt)
{
	for (unsigned l = 2; l <= PT_MAX_LEVELS; l++) {
		struct tlb_array *a = psc_array(t, dim, l);
		struct tlb_entry *e;

		if (!tlb_array_present(a) || !psc_shift(t, dim, l))
			continue;
		e = psc_find(t, dim, l, addr);
		if (!e) {
			if (cnt)
				COUNT(a, misses);
			continue;
		}
		if (cnt) {
			COUNT(a, hits);
			touch(t, e);
		}
		*level = l - 1;
		*table = e->out;
		*rights = e->nrights;
		return true;
	}
	return false;
}

bool tlb_psc_lookup(struct tlb *t, unsigned dim, uint64_t addr, unsigned *level,
		    uint64_t *table, unsigned *rights)
{
	return tlb_psc_find(t, dim, addr, level, table, rights, true);
}

void tlb_psc_fill(struct tlb *t, unsigned dim, uint64_t addr, unsigned level,
		  uint64_t table, unsigned rights)
{
	unsigned l = level + 1; /* the level of the cached entry */
	struct tlb_array *a;
	struct tlb_entry *e;
	unsigned shift;

	if (l < 2 || l > PT_MAX_LEVELS)
		return;
	a = psc_array(t, dim, l);
	shift = psc_shift(t, dim, l);
	if (!tlb_array_present(a) || !shift)
		return;
	e = psc_find(t, dim, l, addr);
	if (!e)
		e = victim(t, a, set_of(a, addr, shift));
	*e = (struct tlb_entry){
		.valid = true,
		.level = (uint8_t)l,
		.nrights = (uint8_t)rights,
		.tag = *psc_tag(t, dim),
		.addr = addr & ~((UINT64_C(1) << shift) - 1),
		.size = UINT64_C(1) << shift,
		.span = UINT64_C(1) << shift,
		.out = table,
	};
	touch(t, e);
	COUNT(a, fills);
}

/* ---- scoped invalidation ---- */

static bool scope_match(const struct tlb_scope *s, const struct tlb_entry *e)
{
	if (!e->valid || !(s->kinds & (1u << e->tag.kind)))
		return false;
	switch (s->vpid_match) {
	case TLB_M_ANY:
		break;
	case TLB_M_EQ:
		if (e->tag.vpid != s->vpid)
			return false;
		break;
	case TLB_M_NONZERO:
		if (e->tag.vpid == 0)
			return false;
		break;
	}
	if (!s->any_root && e->tag.root != s->root)
		return false;
	if (e->global) {
		if (s->keep_global)
			return false;
		/* else: whatever its PCID (SDM 4.10.4.1, INVLPG) */
	} else if (!s->any_pcid && e->tag.pcid != s->pcid) {
		return false;
	}
	if (!s->any_addr && ((e->addr ^ s->addr) & ~(e->span - 1)) != 0)
		return false;
	return true;
}

static unsigned drop_in(struct tlb_array *a, const struct tlb_scope *s)
{
	unsigned n = 0;

	if (!tlb_array_present(a))
		return 0;
	for (size_t i = 0; i < (size_t)a->sets * a->ways; i++) {
		if (scope_match(s, &a->e[i])) {
			a->e[i].valid = false;
			COUNT(a, invalidated);
			n++;
		}
	}
	return n;
}

unsigned tlb_scope_drop(struct tlb *t, const struct tlb_scope *s, enum tlb_op op)
{
	unsigned n = 0;

	for (unsigned c = 0; c < TLB_NCLASS; c++) {
		if (s->structs & TLB_S_TLB)
			n += drop_in(&t->tlb[c], s);
		if (s->structs & TLB_S_NTLB)
			n += drop_in(&t->ntlb[c], s);
	}
	for (unsigned l = 2; l <= PT_MAX_LEVELS; l++) {
		if (s->structs & TLB_S_PSC)
			n += drop_in(&t->psc[l], s);
		if (s->structs & TLB_S_NPSC)
			n += drop_in(&t->npsc[l], s);
	}
	if ((unsigned)op < TLB_OP_COUNT)
		t->st.op_dropped[op] += n;
	return n;
}

static unsigned count_in(const struct tlb_array *a, const struct tlb_scope *s)
{
	unsigned n = 0;

	if (!tlb_array_present(a))
		return 0;
	for (size_t i = 0; i < (size_t)a->sets * a->ways; i++)
		n += scope_match(s, &a->e[i]);
	return n;
}

unsigned tlb_count_scope(const struct tlb *t, const struct tlb_scope *s)
{
	unsigned n = 0;

	for (unsigned c = 0; c < TLB_NCLASS; c++) {
		if (s->structs & TLB_S_TLB)
			n += count_in(&t->tlb[c], s);
		if (s->structs & TLB_S_NTLB)
			n += count_in(&t->ntlb[c], s);
	}
	for (unsigned l = 2; l <= PT_MAX_LEVELS; l++) {
		if (s->structs & TLB_S_PSC)
			n += count_in(&t->psc[l], s);
		if (s->structs & TLB_S_NPSC)
			n += count_in(&t->npsc[l], s);
	}
	return n;
}

unsigned tlb_flush_scope(struct tlb *t, const struct tlb_scope *s, enum tlb_op op)
{
	if ((unsigned)op < TLB_OP_COUNT)
		t->st.ops[op]++;
	return tlb_scope_drop(t, s, op);
}

unsigned tlb_flush_all(struct tlb *t)
{
	const struct tlb_scope all = {
		.structs = TLB_S_ALL,
		.kinds = (1u << TLB_NKIND) - 1,
		.vpid_match = TLB_M_ANY,
		.any_pcid = true,
		.any_root = true,
		.any_addr = true,
		.keep_global = false,
	};
	return tlb_flush_scope(t, &all, TLB_OP_FLUSH);
}

unsigned tlb_count_valid(const struct tlb *t, unsigned structs)
{
	unsigned n = 0;
	const struct tlb_array *arrs[2 * TLB_NCLASS + 2 * (PT_MAX_LEVELS + 1)];
	unsigned na = 0;

	for (unsigned c = 0; c < TLB_NCLASS; c++) {
		if (structs & TLB_S_TLB)
			arrs[na++] = &t->tlb[c];
		if (structs & TLB_S_NTLB)
			arrs[na++] = &t->ntlb[c];
	}
	for (unsigned l = 2; l <= PT_MAX_LEVELS; l++) {
		if (structs & TLB_S_PSC)
			arrs[na++] = &t->psc[l];
		if (structs & TLB_S_NPSC)
			arrs[na++] = &t->npsc[l];
	}
	for (unsigned i = 0; i < na; i++) {
		const struct tlb_array *a = arrs[i];

		if (!tlb_array_present(a))
			continue;
		for (size_t k = 0; k < (size_t)a->sets * a->ways; k++)
			n += a->e[k].valid;
	}
	return n;
}
