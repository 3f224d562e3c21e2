/*
 * enum_cross.c - enumerations shared by the three families: linear
 * addresses with extreme indices and in the upper half, and accesses where
 * a guest fault and a nested fault compete (which one the processor gives).
 */
#include "conformance/enums.h"
#include "conformance/rules.h"

struct gmode {
	enum paging_mode mode;
	bool pse;
	unsigned gmap;
};

static const struct gmode gmodes[] = {
	{ PAGING_32, false, 1 },     { PAGING_32, true, 2 },      { PAGING_PAE, false, 1 },
	{ PAGING_PAE, false, 2 },    { PAGING_4LEVEL, false, 1 }, { PAGING_4LEVEL, false, 2 },
	{ PAGING_4LEVEL, false, 3 }, { PAGING_5LEVEL, false, 1 }, { PAGING_5LEVEL, false, 2 },
	{ PAGING_5LEVEL, false, 3 },
};
#define N_GMODES (sizeof(gmodes) / sizeof(gmodes[0]))

static const enum access_type accs[] = { ACCESS_READ, ACCESS_WRITE, ACCESS_FETCH };

static unsigned top_of(enum paging_mode m)
{
	return m == PAGING_32 ? 2 : m == PAGING_PAE ? 3 : m == PAGING_4LEVEL ? 4 : 5;
}

/* Nesting variant v of a family: none (intel, amd), EPT (4/5, A/D off/on), NPT (4/5). */
static unsigned n_variants(enum nested_mode n)
{
	return n == NESTED_NONE ? 2 : n == NESTED_EPT ? 4 : 2;
}

static void base(struct conf_spec *s, const struct gmode *g, enum nested_mode n, unsigned v,
		 const char *sub)
{
	enum cpu_vendor vendor = n == NESTED_EPT ? CPU_INTEL : n == NESTED_NPT ? CPU_AMD
				 : (v ? CPU_AMD : CPU_INTEL);
	spec_init(s, g->mode, vendor, 46);
	if (g->pse)
		s->cr4 |= CR4_PSE;
	s->gmap = g->gmap;
	s->sub = sub;
	if (g->mode == PAGING_PAE)
		s->gflags[3] = PTE_P;
	if (n == NESTED_EPT)
		spec_set_ept(s, 4 + (v & 1), v >> 1);
	else if (n == NESTED_NPT)
		spec_set_npt(s, 4 + v, true);
}

static unsigned las_of(enum paging_mode m, uint64_t *la)
{
	unsigned n = 0;
	switch (m) {
	case PAGING_32:
		la[n++] = UINT64_C(0x00000abc);
		la[n++] = UINT64_C(0xfffffabc);
		la[n++] = UINT64_C(0x40201abc);
		break;
	case PAGING_PAE:
		la[n++] = UINT64_C(0x00000abc);
		la[n++] = UINT64_C(0xfffffabc);
		la[n++] = UINT64_C(0x40201abc);
		la[n++] = UINT64_C(0xc0000abc);
		break;
	case PAGING_4LEVEL:
		la[n++] = UINT64_C(0x0000000000000abc);
		la[n++] = UINT64_C(0x00007ffffffffabc);
		la[n++] = UINT64_C(0xffff800000000abc);
		la[n++] = UINT64_C(0xfffffffffffffabc);
		la[n++] = UINT64_C(0xffffc08040201abc);
		break;
	default:
		la[n++] = UINT64_C(0x0000000000000abc);
		la[n++] = UINT64_C(0x00fffffffffffabc);
		la[n++] = UINT64_C(0xff00000000000abc);
		la[n++] = UINT64_C(0xfffffffffffffabc);
		la[n++] = UINT64_C(0x0001000000000abc); /* not canonical for 4-level */
		break;
	}
	return n;
}

void cross_la_variants(struct conf_runner *r, enum nested_mode n)
{
	struct conf_spec s;
	uint64_t la[8];
	for (unsigned g = 0; g < N_GMODES; g++) {
		unsigned nla = las_of(gmodes[g].mode, la);
		for (unsigned v = 0; v < n_variants(n); v++)
		for (unsigned i = 0; i < nla; i++)
		for (unsigned f = 0; f < 4; f++)
		for (unsigned a = 0; a < 3; a++)
		for (unsigned cpl = 0; cpl < 2; cpl++) {
			base(&s, &gmodes[g], n, v, "linear-address-variants");
			s.la = la[i];
			unsigned top = top_of(gmodes[g].mode);
			unsigned root = gmodes[g].mode == PAGING_PAE ? 2 : top;
			if (f == 1)
				s.gflags[gmodes[g].gmap] &= ~PTE_RW;
			if (f == 2)
				s.gflags[root] &= ~PTE_US;
			if (f == 3)
				s.gflags[gmodes[g].gmap] &= ~PTE_P;
			s.acc = accs[a];
			s.cpl = cpl ? 3 : 0;
			conf_run(r, &s);
		}
	}
}

/*
 * A guest fault (not present at some level, rights, reserved bit) with a
 * nested restriction (not present, or read-only/no-execute) on the path of
 * one guest table or the data page: the guest walk stops at its first
 * faulting entry, the rights are checked before the final translation.
 */
void cross_ordering(struct conf_runner *r, enum nested_mode n)
{
	struct conf_spec s;
	for (unsigned g = 0; g < N_GMODES; g++) {
		const struct gmode *gm = &gmodes[g];
		unsigned top = top_of(gm->mode);
		for (unsigned v = 0; v < n_variants(n); v++)
		for (unsigned gf = 0; gf < 2 * top + 3; gf++)
		for (int tgt = 0; tgt <= (int)top; tgt++)
		for (unsigned nf = 0; nf < 3; nf++)
		for (unsigned a = 0; a < 3; a++) {
			if (tgt != TGT_DATA && ((unsigned)tgt < gm->gmap || n == NESTED_NONE))
				continue;
			base(&s, gm, n, v, "guest-vs-nested-faults");
			/* guest fault gf: 0 none; 1..top not present at level gf;
			 * top+1..2top reserved bit at level gf-top; then U/S=0, R/W=0 */
			if (gf >= 1 && gf <= top) {
				if (gf < gm->gmap)
					continue;
				s.gflags[gf] &= ~PTE_P;
			} else if (gf > top && gf <= 2 * top) {
				unsigned l = gf - top;
				if (l < gm->gmap)
					continue;
				if (gm->mode == PAGING_32)
					s.gxor[l] = (l == 2 && gm->gmap == 2) ? BIT64(21) : 0;
				else
					s.gxor[l] = (gm->mode == PAGING_PAE && l == 3) ? BIT64(1) : BIT64(51);
				if (!s.gxor[l])
					continue;
			} else if (gf == 2 * top + 1) {
				s.gflags[gm->gmap] &= ~PTE_US;
			} else if (gf == 2 * top + 2) {
				s.gflags[gm->gmap] &= ~PTE_RW;
			}
			s.cpl = 3;
			s.acc = accs[a];
			if (n != NESTED_NONE && nf) {
				s.ov_target = tgt;
				s.ov_level = nf == 1 ? 1 : s.nlev;
				if (n == NESTED_EPT) {
					s.ov_clear = EPT_R | EPT_W | EPT_X;
					s.ov_set = EPT_R;
				} else {
					s.ov_clear = PTE_P | PTE_RW;
					s.ov_set = nf == 1 ? 0 : PTE_P;
				}
				if (nf == 1 && n == NESTED_EPT)
					s.ov_set = 0;
			} else if (nf) {
				continue;
			}
			conf_run(r, &s);
		}
	}
}

/*
 * Compact layout: the guest tables and the data page share nested entries
 * (one 2 MiB or 1 GiB nested leaf for all, or 4K leaves under one nested
 * page table): one changed nested entry restricts several walks at once,
 * A/D flags of shared nested entries are set once.
 */
void cross_compact(struct conf_runner *r, enum nested_mode n)
{
	static const uint64_t ept_perms[] = { 0, EPT_R, EPT_R | EPT_X, EPT_R | EPT_W,
					      EPT_R | EPT_W | EPT_X };
	static const uint64_t npt_perms[] = { 0, PTE_P | PTE_US, PTE_P | PTE_RW | PTE_US | PTE_XD,
					      PTE_P | PTE_RW, PTE_P | PTE_RW | PTE_US };
	struct conf_spec s;
	for (unsigned g = 0; g < N_GMODES; g++)
	for (unsigned v = 0; v < n_variants(n); v++)
	for (unsigned nleaf = 1; nleaf <= 3; nleaf++)
	for (unsigned level = nleaf - 1; level <= 5; level++)
	for (unsigned p = 0; p < 5; p++)
	for (unsigned a = 0; a < 3; a++)
	for (unsigned gad = 0; gad < 2; gad++) {
		base(&s, &gmodes[g], n, v, "shared-nested-entries");
		if (level > s.nlev || (level == nleaf - 1 && p))
			continue;
		s.compact = true;
		s.data_nleaf = s.table_nleaf = nleaf;
		if (level >= nleaf) {
			s.ov_target = TGT_DATA;
			s.ov_level = level;
			if (n == NESTED_EPT) {
				s.ov_clear = EPT_R | EPT_W | EPT_X;
				s.ov_set = ept_perms[p];
			} else {
				s.ov_clear = PTE_P | PTE_RW | PTE_US | PTE_XD;
				s.ov_set = npt_perms[p];
			}
		}
		if (gad)
			for (int l = 1; l <= 5; l++)
				if (!(gmodes[g].mode == PAGING_PAE && l == 3))
					s.gflags[l] |= PTE_A | PTE_D;
		s.acc = accs[a];
		s.cpl = 3;
		conf_run(r, &s);
	}
}
