/*
 * enum_random.c - a seeded (deterministic) random walk through the whole
 * cross product the other enumerations take a few dimensions at a time:
 * mode, vendor, MAXPHYADDR, page sizes, the flags of every guest entry,
 * a reserved or ignored bit anywhere, CPU state, PKRU, access, linear
 * address, nesting with a changed entry at any level of any path, EPT A/D,
 * execute-only, MBEC, A/D flags already set.
 */
#include <stdlib.h>

#include "conformance/enums.h"
#include "conformance/rules.h"

struct rng {
	uint64_t s;
};

static uint64_t next(struct rng *g)
{
	/* xorshift64* */
	g->s ^= g->s >> 12;
	g->s ^= g->s << 25;
	g->s ^= g->s >> 27;
	return g->s * UINT64_C(0x2545f4914f6cdd1d);
}

static unsigned pick(struct rng *g, unsigned n)
{
	return (unsigned)((next(g) >> 33) % n);
}

static bool chance(struct rng *g, unsigned num, unsigned den)
{
	return pick(g, den) < num;
}

static unsigned top_of(enum paging_mode m)
{
	return m == PAGING_32 ? 2 : m == PAGING_PAE ? 3 : m == PAGING_4LEVEL ? 4 :
	       m == PAGING_5LEVEL ? 5 : 0;
}

static uint64_t random_la(struct rng *g, enum paging_mode m)
{
	uint64_t la = next(g);
	unsigned k = pick(g, 4);
	if (m == PAGING_NONE)
		return (la & UINT64_C(0x3fffffff)) | UINT64_C(0x40000000);
	if (m <= PAGING_PAE)
		return k == 0 ? spec_default_la(m) : (la & 0xffffffffu);
	unsigned w = m == PAGING_4LEVEL ? 48 : 57;
	if (k == 0)
		return spec_default_la(m);
	if (k == 3 && chance(g, 1, 4))
		return la; /* most likely not canonical */
	/* canonical: sign-extend bit w-1 */
	la &= (UINT64_C(1) << w) - 1;
	if (la >> (w - 1))
		la |= ~((UINT64_C(1) << w) - 1);
	return la;
}

/* A bit of a guest entry that is neither an address bit nor a structural PS. */
static unsigned guest_free_bit(struct rng *g, const struct conf_spec *s, unsigned level)
{
	unsigned width = s->mode == PAGING_32 ? 32 : 64;
	for (;;) {
		unsigned b = 1 + pick(g, width - 1);
		if (guest_addr_bit(s->mode, level, level == s->gmap, s->maxphyaddr, b))
			continue;
		if (b == 7 && ((level == 2 && (s->mode != PAGING_32 || (s->cr4 & CR4_PSE))) ||
			       (level == 3 && s->mode >= PAGING_4LEVEL)))
			continue;
		return b;
	}
}

static unsigned nested_free_bit(struct rng *g, const struct conf_spec *s, unsigned level,
				bool leaf)
{
	for (;;) {
		unsigned b = pick(g, 64);
		unsigned lo = leaf ? conf_cover(level) : 12;
		if (b >= lo && b < s->maxphyaddr && b < 52)
			continue;
		if (b == 7 && (level == 2 || level == 3))
			continue;
		return b;
	}
}

static void random_guest(struct rng *g, struct conf_spec *s)
{
	unsigned top = top_of(s->mode);
	for (unsigned l = top; l >= s->gmap && l >= 1; l--) {
		uint64_t f = 0;
		if (!chance(g, 1, 24)) f |= PTE_P;
		if (!chance(g, 1, 5)) f |= PTE_RW;
		if (!chance(g, 1, 5)) f |= PTE_US;
		if (chance(g, 1, 3)) f |= PTE_A;
		if (chance(g, 1, 3)) f |= PTE_D;
		if (s->mode != PAGING_32 && chance(g, 1, 6)) f |= PTE_XD;
		if (l == s->gmap && s->mode >= PAGING_4LEVEL && chance(g, 1, 2))
			f |= (uint64_t)pick(g, 16) << PTE_PKEY_SHIFT;
		if (s->mode == PAGING_PAE && l == 3)
			f &= PTE_P; /* no R/W, U/S, A, XD in a PDPTE */
		s->gflags[l] = f;
	}
	if (chance(g, 1, 8) && top) {
		unsigned l = s->gmap + pick(g, top - s->gmap + 1);
		unsigned b = (s->mode == PAGING_PAE && l == 3) ? pick(g, 64)
							       : guest_free_bit(g, s, l);
		if (!(s->mode == PAGING_PAE && l == 3 && b >= 12 && b < s->maxphyaddr))
			s->gxor[l] ^= UINT64_C(1) << b;
	}
}

static void random_nested(struct rng *g, struct conf_spec *s, enum nested_mode n)
{
	unsigned top = top_of(s->mode);
	unsigned nlev = 4 + pick(g, 2);
	if (n == NESTED_EPT) {
		spec_set_ept(s, nlev, chance(g, 1, 2));
		s->caps.xonly = chance(g, 1, 2);
		s->caps.mbec = chance(g, 1, 2);
		s->caps.gb1 = !chance(g, 1, 8);
	} else {
		spec_set_npt(s, nlev, chance(g, 3, 4));
	}
	s->data_nleaf = 1 + pick(g, 3);
	s->table_nleaf = chance(g, 3, 4) ? 1 : 1 + pick(g, 3);
	if (chance(g, 1, 4)) {
		s->compact = true;
		s->table_nleaf = s->data_nleaf;
	}
	if (chance(g, 1, 4))
		s->nset_all = n == NESTED_EPT ? (EPT_A | EPT_D) : (PTE_A | PTE_D);
	if (!chance(g, 3, 4))
		return;
	/* one changed entry: on the path of the data page or of a guest table */
	int tgt = TGT_DATA;
	if (top && chance(g, 2, 3))
		tgt = (int)(s->gmap + pick(g, top - s->gmap + 1));
	unsigned nleaf = tgt == TGT_DATA ? s->data_nleaf : s->table_nleaf;
	s->ov_target = tgt;
	s->ov_level = nleaf + pick(g, nlev - nleaf + 1);
	bool leaf = s->ov_level == nleaf;
	if (chance(g, 1, 4)) {
		s->ov_xor = UINT64_C(1) << nested_free_bit(g, s, s->ov_level, leaf);
	} else if (n == NESTED_EPT) {
		unsigned p = pick(g, s->caps.mbec ? 16 : 8);
		uint64_t perm = ((p & 1) ? EPT_R : 0) | ((p & 2) ? EPT_W : 0) |
				((p & 4) ? EPT_X : 0) | ((p & 8) ? EPT_XU : 0);
		if (!s->caps.xonly && !(perm & 7) && (perm & EPT_XU))
			perm |= EPT_R;
		s->ov_clear = EPT_R | EPT_W | EPT_X | EPT_XU;
		s->ov_set = perm;
	} else {
		unsigned f = pick(g, 16);
		s->ov_clear = PTE_P | PTE_RW | PTE_US | PTE_XD;
		s->ov_set = ((f & 1) ? PTE_P : 0) | ((f & 2) ? PTE_RW : 0) | ((f & 4) ? PTE_US : 0) |
			    ((f & 8) ? PTE_XD : 0);
	}
}

void random_cases(struct conf_runner *r, enum nested_mode n, unsigned count, uint64_t seed)
{
	static const enum paging_mode modes[] = { PAGING_32, PAGING_PAE, PAGING_4LEVEL,
						   PAGING_5LEVEL, PAGING_NONE };
	static const unsigned maxphys[] = { 36, 39, 40, 46, 48, 52 };
	/* CONF_RANDOM=n and CONF_SEED=s widen the search by hand */
	const char *ev = getenv("CONF_RANDOM");
	if (ev)
		count = (unsigned)strtoul(ev, NULL, 0);
	ev = getenv("CONF_SEED");
	if (ev)
		seed ^= strtoull(ev, NULL, 0) * UINT64_C(0x9e3779b97f4a7c15);
	struct rng g = { seed | 1 };
	struct conf_spec s;
	for (unsigned i = 0; i < count; i++) {
		enum paging_mode mode = modes[pick(&g, n == NESTED_NONE ? 4 : 5)];
		enum cpu_vendor v = n == NESTED_EPT ? CPU_INTEL : n == NESTED_NPT ? CPU_AMD
				    : (chance(&g, 1, 2) ? CPU_AMD : CPU_INTEL);
		spec_init(&s, mode, v, maxphys[pick(&g, 6)]);
		s.sub = "random-cross-product";
		bool pse = mode == PAGING_32 && chance(&g, 2, 3);
		if (pse)
			s.cr4 |= CR4_PSE;
		unsigned maxmap = mode == PAGING_32 ? (pse ? 2 : 1) : mode == PAGING_PAE ? 2 : 3;
		s.gmap = mode == PAGING_NONE ? 1 : 1 + pick(&g, maxmap);
		s.feat.gbpages = !chance(&g, 1, 10);
		if (chance(&g, 1, 3)) s.cr0 &= ~CR0_WP;
		if (chance(&g, 1, 2)) s.cr4 |= CR4_SMEP;
		if (chance(&g, 1, 2)) s.cr4 |= CR4_SMAP;
		if (chance(&g, 1, 2)) s.cr4 |= CR4_PKE;
		if (chance(&g, 1, 4)) s.efer &= ~EFER_NXE;
		if (chance(&g, 1, 2)) s.rflags |= RFLAGS_AC;
		s.pkru = (uint32_t)next(&g) & (uint32_t)next(&g);
		s.cpl = chance(&g, 1, 2) ? 3 : 0;
		s.acc = (enum access_type)pick(&g, 3);
		s.implicit = s.acc != ACCESS_FETCH && chance(&g, 1, 5);
		s.la = random_la(&g, mode);
		if (mode != PAGING_NONE)
			random_guest(&g, &s);
		if (mode == PAGING_PAE && chance(&g, 1, 16)) {
			s.pdpte_other = PTE_P | (UINT64_C(1) << pick(&g, 9));
			s.pdpte_other_idx = (int)pick(&g, 4);
		}
		if (n != NESTED_NONE)
			random_nested(&g, &s, n);
		conf_run(r, &s);
	}
}
