/*
 * The differential randomized test of nested TDP: random EPT12 (NPT12)
 * tables in L1's memory - random rights incl. W without R, reserved bits
 * and bad memory types, 2M/1G leaves, aliased tables, A/D on and off - and
 * a random L2 (4-level paging, or paging off) making random accesses.
 * Each access runs twice from the same state:
 *   ours       the hardware over EPT02, ntdp_page_fault on each exit;
 *   reference  the hardware layer over EPT12 in L1's memory;
 * and must end the same: (a) the same reflected fault, field by field, or
 * the same L2 #PF; (b) on success, hpa = EPT12's gpa1 through L1's slots;
 * and both runs must leave the same EPT12 and L2 page tables (the A/D flags
 * the hardware sets). Between accesses, random EPT12 stores go through
 * ntdp_ept12_write (c): no stale EPT02 entry may survive them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86.h"
#include "mem/rng.h"
#include "nfx.h"

#define POOL_GFN   UINT64_C(0x100)  /* EPT12 table pages come from here */
#define POOL_PAGES 256u
#define GPT_GFN1   UINT64_C(0x200)  /* L2's page tables in L1 memory */
#define GPT_GFN2   UINT64_C(0x10)   /* ... and in L2's memory */
#define GPT_PAGES  0x30u
#define DATA_LO    UINT64_C(0x400)  /* RAM data pages of L1 for L2 */
#define GB_PAGES   UINT64_C(0x40000)

enum region { REG_GPT, REG_DATA, REG_TOP };

struct table {
	uint64_t gfn1;
	unsigned level;
	enum region reg;
	uint64_t used[8]; /* entries ever written (bitmap) */
};

struct world {
	struct nfx x;
	uint64_t rng;
	struct pt_format fmt;   /* EPT12 / NPT12, for reserved bits */
	struct table tab[POOL_PAGES];
	unsigned ntab;
	bool l2_paging;
	uint64_t gpt_used[GPT_PAGES][8];
	uint64_t *snap_a, *snap_b; /* snapshots of every used entry */
	unsigned outcomes[XO_ABORT + 2]; /* by outcome; [XO_ABORT + 1]: emulated */
	unsigned faults, stores;
	size_t nsnap;
};

static uint64_t rnd(struct world *w, uint64_t n)
{
	return rng_below(&w->rng, n);
}

static bool chance(struct world *w, unsigned pct)
{
	return rnd(w, 100) < pct;
}

static void mark(uint64_t *bm, unsigned i)
{
	bm[i / 64] |= UINT64_C(1) << (i % 64);
}

/* A random set bit of mask (0 if none). */
static uint64_t rand_bit(struct world *w, uint64_t mask)
{
	unsigned n = (unsigned)__builtin_popcountll(mask), k;

	if (!n)
		return 0;
	k = (unsigned)rnd(w, n);
	while (k--)
		mask &= mask - 1;
	return mask & -mask;
}

static unsigned rand_rights(struct world *w, unsigned common_pct)
{
	return chance(w, common_pct) ? (RIGHT_R | RIGHT_W | RIGHT_X) : (unsigned)rnd(w, 8);
}

/* Random A/D and "ignored" flags on an entry. */
static uint64_t flags_ad(struct world *w, uint64_t e, bool leaf)
{
	bool ept = w->x.o.kind == TDP_EPT;
	uint64_t a = ept ? EPT_A : PTE_A, d = ept ? EPT_D : PTE_D;

	if (chance(w, 40))
		e |= a;
	if (leaf && chance(w, 40))
		e |= d;
	if (ept && chance(w, 10))
		e |= BIT64(52 + rnd(w, 10)); /* ignored bits 52-61 */
	return e;
}

static uint64_t table_entry(struct world *w, uint64_t table_gpa1, unsigned level)
{
	uint64_t e;

	if (w->x.o.kind == TDP_EPT) {
		unsigned r = rand_rights(w, 85);

		e = table_gpa1 | (r & RIGHT_R ? EPT_R : 0) | (r & RIGHT_W ? EPT_W : 0) | (r & RIGHT_X ? EPT_X : 0);
	} else {
		e = table_gpa1 | PTE_P | PTE_RW | PTE_US;
		if (chance(w, 8))
			e &= ~PTE_RW;
		if (chance(w, 5))
			e &= ~PTE_US;
		if (chance(w, 8))
			e |= PTE_XD;
		if (chance(w, 3))
			e &= ~PTE_P;
	}
	if (chance(w, 2))
		e |= rand_bit(w, w->fmt.level[level].rsvd_table);
	return flags_ad(w, e, false);
}

static uint64_t leaf_entry(struct world *w, uint64_t gpa1, unsigned level)
{
	uint64_t e = nfx_leaf_entry(&w->x, gpa1, level, rand_rights(w, 60));
	const struct pt_level *pl = &w->fmt.level[level];

	if (w->x.o.kind == TDP_EPT) {
		if (chance(w, 5)) /* another memory type, sometimes a reserved one */
			e = (e & ~EPT_MT_MASK) | ((uint64_t)rnd(w, 8) << EPT_MT_SHIFT);
		if (chance(w, 10))
			e |= EPT_IPAT;
	} else if (!e && chance(w, 50)) {
		e = nfx_leaf_entry(&w->x, gpa1, level, RIGHT_R) & ~PTE_P; /* not present, address kept */
	}
	if (chance(w, 4))
		e |= rand_bit(w, level == 1 ? pl->rsvd_page : pl->rsvd_large);
	return flags_ad(w, e, true);
}

static struct table *new_table(struct world *w, unsigned level, enum region reg)
{
	struct table *t;

	assert_true(w->ntab < POOL_PAGES);
	t = &w->tab[w->ntab];
	memset(t, 0, sizeof(*t));
	t->gfn1 = POOL_GFN + w->ntab++;
	t->level = level;
	t->reg = reg;
	return t;
}

static void fill_table(struct world *w, struct table *t);

/* A random entry for index i of a data-region table. */
static uint64_t data_entry(struct world *w, unsigned level)
{
	unsigned r = (unsigned)rnd(w, 100);

	if (r < 8)
		return 0;
	if (level == 3) {
		if (r < 28)
			return leaf_entry(w, GB_PAGES << 12, 3);
	} else if (level == 2) {
		if (r < 30) {
			uint64_t g = chance(w, 85) ? 512 * (2 + rnd(w, 500)) : NFX_RO_GFN + 512 * rnd(w, 2);

			return leaf_entry(w, g << 12, 2);
		}
	} else {
		uint64_t g;

		if (r < 75)
			g = DATA_LO + rnd(w, GB_PAGES - DATA_LO);
		else if (r < 90)
			g = NFX_RO_GFN + rnd(w, NFX_RO_PAGES);
		else
			g = NFX_MMIO_GFN + rnd(w, NFX_MMIO_PAGES);
		return leaf_entry(w, g << 12, 1);
	}
	/* a table: an alias of one of that level (30%) or a new one */
	if (chance(w, 30)) {
		for (unsigned k = 0; k < 8; k++) {
			struct table *c = &w->tab[rnd(w, w->ntab)];

			if (c->level == level - 1 && c->reg == REG_DATA)
				return table_entry(w, c->gfn1 << 12, level);
		}
	}
	if (w->ntab >= POOL_PAGES - 4)
		return 0;
	struct table *c = new_table(w, level - 1, REG_DATA);

	fill_table(w, c);
	return table_entry(w, c->gfn1 << 12, level);
}

/* Populated indices of a data table: the first 8 PDPTEs... */
static unsigned span_of(unsigned level)
{
	return level == 3 ? 4 : level == 2 ? 16 : 64;
}

static void set_entry(struct world *w, struct table *t, unsigned i, uint64_t v)
{
	nfx_w64(&w->x, (t->gfn1 << 12) + 8 * i, v);
	mark(t->used, i);
}

static void fill_table(struct world *w, struct table *t)
{
	for (unsigned i = 0; i < span_of(t->level); i++) {
		unsigned idx = t->level == 3 ? 1 + i : i;

		set_entry(w, t, idx, data_entry(w, t->level));
	}
}

/* A random L2 PTE / PDE (data page at gpa2). */
static uint64_t guest_entry(struct world *w, uint64_t gpa2, bool large)
{
	uint64_t e = gpa2 | PTE_P;

	if (chance(w, 80))
		e |= PTE_RW;
	if (chance(w, 80))
		e |= PTE_US;
	if (chance(w, 10))
		e |= PTE_XD;
	if (chance(w, 30))
		e |= PTE_A;
	if (chance(w, 20))
		e |= PTE_D;
	if (chance(w, 5))
		e &= ~PTE_P;
	if (chance(w, 2))
		e |= BIT64(50);
	if (large)
		e |= PTE_PS;
	return e;
}

/* A random data gpa2 (mostly where EPT12 has entries). */
static uint64_t data_gpa2(struct world *w)
{
	uint64_t gb = 1 + rnd(w, w->l2_paging ? 4 : 3); /* paging off: below 4 GiB */

	if (chance(w, 90))
		return (gb << 30) + (rnd(w, 16) << 21) + (rnd(w, 64) << 12);
	return (gb << 30) + (rnd(w, 1u << 18) << 12);
}

static void gpt_set(struct world *w, unsigned page, unsigned i, uint64_t v)
{
	nfx_w64(&w->x, ((GPT_GFN1 + page) << 12) + 8 * i, v);
	mark(w->gpt_used[page], i);
}

static void build(struct world *w)
{
	struct nfx *x = &w->x;
	struct table *pml4 = new_table(w, 4, REG_TOP), *pdpt = new_table(w, 3, REG_TOP);
	struct table *pdg = new_table(w, 2, REG_GPT), *ptg = new_table(w, 1, REG_GPT);

	/* EPT12: the guest-table region gpa2 [0, 2M) -> L1 pages GPT_GFN1.. */
	set_entry(w, pml4, 0, nfx_table_entry(x, pdpt->gfn1 << 12));
	set_entry(w, pdpt, 0, nfx_table_entry(x, pdg->gfn1 << 12));
	set_entry(w, pdg, 0, nfx_table_entry(x, ptg->gfn1 << 12));
	for (unsigned i = 0; i < GPT_PAGES; i++) {
		/* L2's PML4, PDPT and PD: every L2 access needs them */
		uint64_t e = nfx_leaf_entry(x, (GPT_GFN1 + i) << 12, 1, rand_rights(w, i < 3 ? 100 : 85));

		set_entry(w, ptg, (unsigned)GPT_GFN2 + i, flags_ad(w, e, true));
	}
	/* the data region gpa2 [1G, 5G) */
	for (unsigned i = 1; i <= 4; i++)
		set_entry(w, pdpt, i, data_entry(w, 3));
	/* L2's tables: PML4 at gfn2 0x10, PDPT 0x11, PD 0x12, PTs 0x13.. */
	gpt_set(w, 0, 0, ((GPT_GFN2 + 1) << 12) | PTE_P | PTE_RW | PTE_US);
	gpt_set(w, 1, 0, ((GPT_GFN2 + 2) << 12) | PTE_P | PTE_RW | PTE_US);
	for (unsigned i = 0; i < GPT_PAGES - 3; i++) {
		if (chance(w, 20)) {
			gpt_set(w, 2, i, guest_entry(w, data_gpa2(w) & ~(PAGE_SIZE_2M - 1), true));
			continue;
		}
		gpt_set(w, 2, i, ((GPT_GFN2 + 3 + i) << 12) | PTE_P | PTE_RW | PTE_US | (chance(w, 30) ? PTE_A : 0));
		for (unsigned j = 0; j < 64; j++)
			gpt_set(w, 3 + i, j, guest_entry(w, data_gpa2(w), false));
	}
	if (w->l2_paging) {
		x->l2.regs.cr0 = CR0_PE | CR0_PG | CR0_WP;
		x->l2.regs.cr4 = CR4_PAE;
		x->l2.regs.efer = EFER_LME | EFER_LMA | EFER_NXE;
		x->l2.regs.cr3 = GPT_GFN2 << 12;
	}
	nfx_load(x, pml4->gfn1 << 12);
}

/* ---- snapshots of every entry ever written ---- */

static size_t snap(struct world *w, uint64_t *out, bool restore, size_t *n12)
{
	size_t k = 0;

	for (unsigned t = 0; t < w->ntab + GPT_PAGES; t++) {
		if (t == w->ntab && n12)
			*n12 = k; /* EPT12 entries first, then L2's */
		const uint64_t *used = t < w->ntab ? w->tab[t].used : w->gpt_used[t - w->ntab];
		uint64_t gfn1 = t < w->ntab ? w->tab[t].gfn1 : GPT_GFN1 + (t - w->ntab), hfn;

		assert_int_equal(memslots_gfn_peek(w->x.l1, gfn1, &hfn, NULL), MEMSLOT_OK);
		for (unsigned i = 0; i < 512; i++) {
			if (!(used[i / 64] >> (i % 64) & 1))
				continue;
			if (restore)
				assert_int_equal(hostmem_write64(w->x.hm, (hfn << 12) + 8 * i, out[k]), 0);
			else
				assert_int_equal(hostmem_read64(w->x.hm, (hfn << 12) + 8 * i, &out[k]), 0);
			k++;
		}
	}
	return k;
}

/* ---- one access, both ways ---- */

static void one_access(struct world *w, unsigned n)
{
	struct nfx *x = &w->x;
	enum access_type t = (enum access_type)rnd(w, 3);
	bool implicit = chance(w, 10);
	struct nfx_result ours;
	struct xlate_result ref;
	uint64_t la;
	size_t na, nb, n12 = 0;
	char what[96];

	if (w->l2_paging)
		la = (rnd(w, GPT_PAGES - 3) << 21) | (rnd(w, chance(w, 90) ? 64 : 512) << 12) | (rnd(w, 512) << 3);
	else
		la = chance(w, 10) ? ((GPT_GFN2 + rnd(w, GPT_PAGES)) << 12) : data_gpa2(w) | (rnd(w, 512) << 3);
	x->l2.regs.cpl = chance(w, 50) ? 3 : 0;
	snprintf(what, sizeof(what), "access %u la %#llx type %d cpl %u", n, (unsigned long long)la, t,
		 x->l2.regs.cpl);

	size_t before = snap(w, w->snap_b, false, NULL);
	nfx_run_02(x, la, t, implicit, &ours);
	na = snap(w, w->snap_a, false, &n12);
	(void)snap(w, w->snap_b, true, NULL); /* back to the state before */
	nfx_run_12(x, la, t, implicit, &ref);
	nfx_compare(x, &ours, &ref, what);
	w->outcomes[ours.emulated ? XO_ABORT + 1 : ours.x.outcome]++;
	w->faults += ours.faults;
	nb = snap(w, w->snap_b, false, NULL);
	assert_int_equal(na, nb);
	assert_int_equal(before, na);
	for (size_t i = 0; i < na; i++) {
		if (w->snap_a[i] == w->snap_b[i])
			continue;
		/* an emulated access stopped before L2's A/D writes: only EPT12 must agree */
		if (ours.emulated && i >= n12)
			continue;
		fail_msg("%s: entry %zu after ours %#llx, after the reference %#llx", what, i,
			 (unsigned long long)w->snap_a[i], (unsigned long long)w->snap_b[i]);
	}
}

/* ---- random EPT12 stores ---- */

static void one_store(struct world *w)
{
	struct nfx *x = &w->x;
	/* the tables every access walks (PML4, L2's table path) get 1 store in 6 */
	static const unsigned path[3] = { 0, 2, 3 };
	struct table *t = chance(w, 16) ? &w->tab[path[rnd(w, 3)]] : &w->tab[rnd(w, w->ntab)];
	unsigned i;
	uint64_t gpa1, old, v;

	if (t->reg == REG_GPT && t->level == 1)
		i = (unsigned)(GPT_GFN2 + rnd(w, GPT_PAGES));
	else if (t->reg == REG_TOP)
		i = t->level == 4 ? 0 : 1 + (unsigned)rnd(w, 4);
	else if (t->reg == REG_GPT)
		i = 0;
	else
		i = (unsigned)rnd(w, span_of(t->level));
	gpa1 = (t->gfn1 << 12) + 8 * i;
	old = nfx_r64(x, gpa1);
	switch (rnd(w, 4)) {
	case 0: /* flip a rights bit or an A/D flag */
		v = old ^ (x->o.kind == TDP_EPT ? BIT64(rnd(w, 3)) : (chance(w, 50) ? PTE_RW : PTE_US));
		if (chance(w, 50))
			v = old ^ (x->o.kind == TDP_EPT ? (chance(w, 50) ? EPT_A : EPT_D) : (chance(w, 50) ? PTE_A : PTE_D));
		break;
	case 1:
		v = 0;
		break;
	default:
		if (t->reg == REG_DATA || (t->reg == REG_TOP && t->level == 3))
			v = data_entry(w, t->level);
		else
			v = old ^ BIT64(rnd(w, 3)); /* keep the guest-table path: rights only */
		break;
	}
	if ((t->reg == REG_GPT || (t->reg == REG_TOP && t->level == 4)) && chance(w, 50)) {
		/* mostly mend the path every access uses (keeping A/D as they are) */
		uint64_t addr = old & GENMASK64(NFX_MAXPHY - 1, 12);

		v = t->level == 1 ? nfx_leaf_entry(x, addr, 1, RIGHT_R | RIGHT_W | RIGHT_X)
				  : nfx_table_entry(x, addr);
		v |= old & (x->o.kind == TDP_EPT ? (EPT_A | EPT_D) : (PTE_A | PTE_D));
	}
	mark(t->used, i);
	if (chance(w, 20)) /* a 4-byte store of the low half */
		assert_int_equal(ntdp_ept12_write(x->n, gpa1, 4, v & 0xffffffff), NTDP_OK);
	else
		assert_int_equal(ntdp_ept12_write(x->n, gpa1, 8, v), NTDP_OK);
}

/* L1 repairs the path every access needs (through the write hook, as any store). */
static void mend_path(struct world *w)
{
	struct nfx *x = &w->x;
	static const struct { unsigned tab, idx; } path[] = {
		{ 0, 0 }, { 1, 0 }, { 2, 0 }, { 3, GPT_GFN2 }, { 3, GPT_GFN2 + 1 }, { 3, GPT_GFN2 + 2 },
	};
	uint64_t ad = x->o.kind == TDP_EPT ? (EPT_A | EPT_D) : (PTE_A | PTE_D);

	for (unsigned k = 0; k < sizeof(path) / sizeof(path[0]); k++) {
		struct table *t = &w->tab[path[k].tab];
		uint64_t gpa1 = (t->gfn1 << 12) + 8 * path[k].idx, old = nfx_r64(x, gpa1);
		uint64_t addr = old & GENMASK64(NFX_MAXPHY - 1, 12);
		uint64_t v = t->level == 1 ? nfx_leaf_entry(x, addr, 1, RIGHT_R | RIGHT_W | RIGHT_X)
					   : nfx_table_entry(x, addr);

		v |= old & ad;
		if (v != old)
			assert_int_equal(ntdp_ept12_write(x->n, gpa1, 8, v), NTDP_OK);
	}
}

static void run_world(const struct nfx_opts *o, bool l2_paging, uint64_t seed, unsigned accesses)
{
	struct world *w = calloc(1, sizeof(*w));
	struct xlate_result fail;
	struct hw_config c;
	struct hw_mmu m;

	assert_non_null(w);
	nfx_init(&w->x, o);
	w->rng = seed;
	w->l2_paging = l2_paging;
	/* the 12 format, as the hardware derives it (for reserved bits) */
	memset(&c, 0, sizeof(c));
	c.cpu.vendor = o->kind == TDP_EPT ? CPU_INTEL : CPU_AMD;
	c.cpu.maxphyaddr = NFX_MAXPHY;
	c.mem = hostmem_port(w->x.hm);
	if (o->kind == TDP_EPT) {
		c.nested = NESTED_EPT;
		c.eptp = nfx_eptp12(&w->x, 0x1000);
		c.ept_caps = w->x.caps;
	} else {
		c.nested = NESTED_NPT;
		c.ncr4 = CR4_PAE;
		c.nefer = EFER_LME | EFER_LMA | EFER_NXE;
	}
	assert_true(hw_mmu_init(&m, &c, &fail));
	w->fmt = m.nested_fmt;
	build(w);
	w->snap_a = calloc((POOL_PAGES + GPT_PAGES) * 512, sizeof(uint64_t));
	w->snap_b = calloc((POOL_PAGES + GPT_PAGES) * 512, sizeof(uint64_t));
	assert_non_null(w->snap_a);
	assert_non_null(w->snap_b);
	for (unsigned n = 0; n < accesses; n++) {
		char msg[256];

		one_access(w, n);
		if (chance(w, 10)) {
			one_store(w);
			w->stores++;
		}
		if (chance(w, 5))
			mend_path(w);
		/* the isolation invariant after every operation */
		if (ntdp_check(w->x.n, msg, sizeof(msg)))
			fail_msg("seed %llu, operation %u: %s", (unsigned long long)seed, n, msg);
	}
	printf("  %s ad=%d paging=%d seed %llu: ok %u pf %u violation %u misconfig %u npf %u emulated %u;"
	       " %u exits to L0, %u EPT12 stores, %llu EPT02 tables\n",
	       o->kind == TDP_EPT ? "ept" : "npt", o->ad, l2_paging, (unsigned long long)seed,
	       w->outcomes[XO_OK], w->outcomes[XO_PAGE_FAULT], w->outcomes[XO_EPT_VIOLATION],
	       w->outcomes[XO_EPT_MISCONFIG], w->outcomes[XO_NPF], w->outcomes[XO_ABORT + 1], w->faults,
	       w->stores, (unsigned long long)(w->x.cnt.pt_alloc[CNT_PT_EPT02] - w->x.cnt.pt_free[CNT_PT_EPT02]));
	/* tracking: every EPT12 page the component holds is tracked in EPT01 */
	for (unsigned t = 0; t < w->ntab; t++)
		assert_int_equal(ntdp_is_table(w->x.n, w->tab[t].gfn1),
				 tdp_track_count(w->x.ept01, w->tab[t].gfn1) > 0);
	assert_true(w->x.cnt.sw_walks[CNT_L0] > 0);
	assert_true(w->x.cnt.pt_alloc[CNT_PT_EPT02] > 0);
	free(w->snap_a);
	free(w->snap_b);
	nfx_fini(&w->x);
	free(w);
}

static void test_random_ept_ad(void **state)
{
	struct nfx_opts o = { .kind = TDP_EPT, .ad = true, .xonly = true };

	(void)state;
	for (uint64_t s = 1; s <= 3; s++)
		run_world(&o, true, s, 1500);
	run_world(&o, false, 7, 1500);
}

static void test_random_ept_noad(void **state)
{
	struct nfx_opts o = { .kind = TDP_EPT, .ad = false, .max_level = 2 };

	(void)state;
	for (uint64_t s = 11; s <= 13; s++)
		run_world(&o, true, s, 1500);
	run_world(&o, false, 17, 1500);
}

static void test_random_npt(void **state)
{
	struct nfx_opts o = { .kind = TDP_NPT };

	(void)state;
	for (uint64_t s = 21; s <= 23; s++)
		run_world(&o, true, s, 1500);
	run_world(&o, false, 27, 1500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_ept_ad),
		cmocka_unit_test(test_random_ept_noad),
		cmocka_unit_test(test_random_npt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
