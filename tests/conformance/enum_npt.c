/*
 * enum_npt.c - AMD nested paging (cpu amd, nested npt): nested entry
 * P/R/W/U/NX and reserved bits at every level, 4K/2M/1G nested pages, for
 * the final translation (EXITINFO1 bit 32) and guest page-table accesses
 * (bit 33); host EFER.NXE; PAE guests whose PDPTEs are read during the
 * walk; guest modes; A/D and reference counts.
 */
#include "conformance/enums.h"
#include "conformance/rules.h"

static const enum access_type accs[] = { ACCESS_READ, ACCESS_WRITE, ACCESS_FETCH };

static void npt_base(struct conf_spec *s, enum paging_mode mode, unsigned nlev, bool nxe,
		     unsigned maxphy, const char *sub)
{
	spec_init(s, mode, CPU_AMD, maxphy);
	spec_set_npt(s, nlev, nxe);
	s->sub = sub;
	if (mode == PAGING_PAE)
		s->gflags[3] = PTE_P;
}

static unsigned guest_top(enum paging_mode m)
{
	return m == PAGING_32 ? 2 : m == PAGING_PAE ? 3 : m == PAGING_4LEVEL ? 4 :
	       m == PAGING_5LEVEL ? 5 : 0;
}

/* N1: nested P, R/W, U/S, NX x level x page size x target x access x host NXE */
static void n_flags(struct conf_runner *r)
{
	struct conf_spec s;
	for (unsigned nlev = 4; nlev <= 5; nlev++)
	for (unsigned nxe = 0; nxe < 2; nxe++)
	for (unsigned f = 0; f < 16; f++)
	for (int tgt = 0; tgt <= 4; tgt++)
	for (unsigned nleaf = 1; nleaf <= (tgt == TGT_DATA ? 3u : 1u); nleaf++)
	for (unsigned level = nleaf; level <= nlev; level++)
	for (unsigned a = 0; a < 3; a++)
	for (unsigned gad = 0; gad < 2; gad++) {
		npt_base(&s, PAGING_4LEVEL, nlev, nxe, 46, "npt-flags");
		s.data_nleaf = tgt == TGT_DATA ? nleaf : 1;
		s.ov_target = tgt;
		s.ov_level = level;
		s.ov_clear = PTE_P | PTE_RW | PTE_US | PTE_XD;
		s.ov_set = ((f & 1) ? PTE_P : 0) | ((f & 2) ? PTE_RW : 0) | ((f & 4) ? PTE_US : 0) |
			   ((f & 8) ? PTE_XD : 0);
		s.acc = accs[a];
		s.cpl = gad ? 3 : 0;
		if (gad)
			for (int l = 1; l <= 4; l++)
				s.gflags[l] |= PTE_A | PTE_D;
		conf_run(r, &s);
	}
}

/* N2: every non-address bit of a nested entry, one at a time */
static void n_bits(struct conf_runner *r)
{
	static const int tgts[] = { TGT_DATA, 1, 4 };
	struct conf_spec s;
	for (unsigned nlev = 4; nlev <= 5; nlev++)
	for (unsigned t = 0; t < 3; t++)
	for (unsigned nleaf = 1; nleaf <= (tgts[t] == TGT_DATA ? 3u : 1u); nleaf++)
	for (unsigned level = nleaf; level <= nlev; level++)
	for (unsigned b = 1; b < 64; b++) {
		unsigned lo = level == nleaf ? conf_cover(level) : 12;
		if (b >= lo && b < 46)
			continue; /* address bit */
		if (b == 7 && (level == 2 || level == 3))
			continue; /* PS decides leaf or table: another layout */
		for (unsigned a = 0; a < 3; a++)
		for (unsigned nxe = 0; nxe < 2; nxe++) {
			npt_base(&s, PAGING_4LEVEL, nlev, nxe, 46, "npt-entry-bits");
			s.data_nleaf = tgts[t] == TGT_DATA ? nleaf : 1;
			s.ov_target = tgts[t];
			s.ov_level = level;
			s.ov_xor = UINT64_C(1) << b;
			s.acc = accs[a];
			s.cpl = 3;
			conf_run(r, &s);
		}
	}
	/*
	 * 1-GByte pages not offered to the guest: the nested tables (the
	 * host's) still map 1-GByte pages, while the guest's PDPTE PS is
	 * reserved (APM 5.3.3; SDM 4.5.4).
	 */
	for (unsigned gb = 0; gb < 2; gb++)
	for (unsigned k = 0; k < 3; k++)
	for (unsigned a = 0; a < 3; a++) {
		npt_base(&s, PAGING_4LEVEL, 4, true, 46, "npt-1g-capability");
		s.feat.gbpages = gb;
		if (k == 0) {
			s.data_nleaf = 3; /* a 1-GByte nested page for the data */
		} else {
			s.gmap = 3; /* the guest maps a 1-GByte page */
			s.table_nleaf = k == 2 ? 3 : 1;
		}
		s.acc = accs[a];
		conf_run(r, &s);
	}
}

/* N3: PAE guests: PDPTEs read during the walk (bad one: #PF with RSVD) */
static void n_pae(struct conf_runner *r)
{
	struct conf_spec s;
	for (unsigned g = 1; g <= 2; g++)
	for (unsigned b = 0; b < 64; b++)
	for (unsigned a = 0; a < 3; a++) {
		if (b >= 12 && b < 46)
			continue;
		npt_base(&s, PAGING_PAE, 4, true, 46, "npt-pae-pdpte");
		s.gmap = g;
		s.gxor[3] = UINT64_C(1) << b;
		s.acc = accs[a];
		conf_run(r, &s);
	}
	/* another PDPTE with a reserved bit: not read, no effect */
	for (unsigned a = 0; a < 3; a++) {
		npt_base(&s, PAGING_PAE, 4, true, 46, "npt-pae-pdpte");
		s.pdpte_other = PTE_P | BIT64(5) | BIT64(63);
		s.acc = accs[a];
		conf_run(r, &s);
	}
}

/* N4: guest modes x nested flags at every level and target */
static void n_guest_modes(struct conf_runner *r)
{
	static const struct { enum paging_mode mode; bool pse; unsigned gmap; } gm[] = {
		{ PAGING_NONE, false, 1 }, { PAGING_32, false, 1 }, { PAGING_32, true, 2 },
		{ PAGING_PAE, false, 1 },  { PAGING_PAE, false, 2 }, { PAGING_5LEVEL, false, 1 },
		{ PAGING_5LEVEL, false, 3 },
	};
	struct conf_spec s;
	for (unsigned g = 0; g < sizeof(gm) / sizeof(gm[0]); g++) {
		unsigned top = guest_top(gm[g].mode);
		for (unsigned nlev = 4; nlev <= 5; nlev++)
		for (int tgt = 0; tgt <= (int)top; tgt++)
		for (unsigned level = 1; level <= nlev; level++)
		for (unsigned f = 0; f < 8; f++)
		for (unsigned a = 0; a < 3; a++) {
			if (tgt != TGT_DATA && (unsigned)tgt < gm[g].gmap)
				continue;
			npt_base(&s, gm[g].mode, nlev, true, 46, "npt-guest-modes");
			if (gm[g].pse)
				s.cr4 |= CR4_PSE;
			s.gmap = gm[g].gmap;
			s.ov_target = tgt;
			s.ov_level = level;
			s.ov_clear = PTE_P | PTE_RW | PTE_US | PTE_XD;
			s.ov_set = ((f & 1) ? PTE_P : 0) | ((f & 2) ? PTE_RW : 0) |
				   ((f & 4) ? PTE_US : 0) | ((f == 7) ? 0 : PTE_XD);
			s.acc = accs[a];
			s.cpl = a & 1 ? 3 : 0;
			conf_run(r, &s);
		}
	}
}

/* N5: page sizes in both dimensions, guest modes: gpa, hpa, size, references, A/D */
static void n_refs(struct conf_runner *r)
{
	static const struct { enum paging_mode mode; bool pse; unsigned gmap; } gm[] = {
		{ PAGING_NONE, false, 1 },   { PAGING_32, false, 1 },     { PAGING_32, true, 2 },
		{ PAGING_PAE, false, 1 },    { PAGING_PAE, false, 2 },    { PAGING_4LEVEL, false, 1 },
		{ PAGING_4LEVEL, false, 2 }, { PAGING_4LEVEL, false, 3 }, { PAGING_5LEVEL, false, 1 },
		{ PAGING_5LEVEL, false, 2 }, { PAGING_5LEVEL, false, 3 },
	};
	struct conf_spec s;
	for (unsigned g = 0; g < sizeof(gm) / sizeof(gm[0]); g++)
	for (unsigned nlev = 4; nlev <= 5; nlev++)
	for (unsigned tl = 1; tl <= 3; tl++)
	for (unsigned dl = 1; dl <= 3; dl++)
	for (unsigned pre = 0; pre < 2; pre++)
	for (unsigned a = 0; a < 3; a++) {
		npt_base(&s, gm[g].mode, nlev, true, nlev == 5 ? 52 : 46, "npt-sizes-refs");
		if (gm[g].pse)
			s.cr4 |= CR4_PSE;
		s.gmap = gm[g].gmap;
		s.table_nleaf = tl;
		s.data_nleaf = dl;
		if (pre) {
			s.nset_all = PTE_A | PTE_D;
			for (int l = 1; l <= 5; l++)
				if (!(gm[g].mode == PAGING_PAE && l == 3))
					s.gflags[l] |= PTE_A | PTE_D;
		}
		s.acc = accs[a];
		conf_run(r, &s);
	}
}

void enum_npt(struct conf_runner *r)
{
	n_flags(r);
	n_bits(r);
	n_pae(r);
	n_guest_modes(r);
	n_refs(r);
	cross_la_variants(r, NESTED_NPT);
	cross_ordering(r, NESTED_NPT);
	cross_compact(r, NESTED_NPT);
	random_cases(r, NESTED_NPT, 120000, 0x5eed0003);
}
