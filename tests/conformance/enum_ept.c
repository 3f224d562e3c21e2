/*
 * enum_ept.c - EPT (cpu intel, nested ept), in the spirit of
 * kvm-unit-tests' EPT access tests: permission sets none..rwx and the MBEC
 * variants at every EPT level, for the final translation and for guest
 * paging-structure accesses, 4K/2M/1G EPT pages, EPT A/D on and off,
 * execute-only on and off; misconfigurations; ignored bits; guest modes;
 * reference counts.
 */
#include "conformance/enums.h"
#include "conformance/rules.h"

#define PERM_MASK (EPT_R | EPT_W | EPT_X | EPT_XU)

static const enum access_type accs[] = { ACCESS_READ, ACCESS_WRITE, ACCESS_FETCH };

static void ept_base(struct conf_spec *s, enum paging_mode mode, unsigned nlev, bool ad,
		     unsigned maxphy, const char *sub)
{
	spec_init(s, mode, CPU_INTEL, maxphy);
	spec_set_ept(s, nlev, ad);
	s->sub = sub;
	if (mode == PAGING_PAE)
		s->gflags[3] = PTE_P;
}

/* Guest table levels that exist for a mode with the data page at gmap. */
static unsigned guest_top(enum paging_mode m)
{
	return m == PAGING_32 ? 2 : m == PAGING_PAE ? 3 : m == PAGING_4LEVEL ? 4 :
	       m == PAGING_5LEVEL ? 5 : 0;
}

/* Permission set i (bits R, W, X, and XU with MBEC). */
static uint64_t perm_set(unsigned i)
{
	return ((i & 1) ? EPT_R : 0) | ((i & 2) ? EPT_W : 0) | ((i & 4) ? EPT_X : 0) |
	       ((i & 8) ? EPT_XU : 0);
}

/* E1: permission sets x EPT level x page size x target x access x U/S x A/D x xonly x MBEC */
static void e_perms(struct conf_runner *r)
{
	struct conf_spec s;
	for (unsigned nlev = 4; nlev <= 5; nlev++)
	for (unsigned ad = 0; ad < 2; ad++)
	for (unsigned xo = 0; xo < 2; xo++)
	for (unsigned mbec = 0; mbec < 2; mbec++)
	for (unsigned p = 0; p < (mbec ? 16u : 8u); p++)
	for (int tgt = 0; tgt <= 4; tgt++)
	for (unsigned nleaf = 1; nleaf <= (tgt == TGT_DATA ? 3u : 1u); nleaf++)
	for (unsigned level = nleaf; level <= nlev; level++)
	for (unsigned a = 0; a < 3; a++)
	for (unsigned ul = 0; ul < 2; ul++)
	for (unsigned gad = 0; gad < 2; gad++) {
		uint64_t perm = perm_set(p);
		/* only XU (bits 2:0 = 000) without execute-only: left open by the SDM text used */
		if (!xo && (perm & (EPT_R | EPT_W | EPT_X)) == 0 && (perm & EPT_XU))
			continue;
		ept_base(&s, PAGING_4LEVEL, nlev, ad, 46, "permissions");
		s.caps.xonly = xo;
		s.caps.mbec = mbec;
		s.data_nleaf = tgt == TGT_DATA ? nleaf : 1;
		s.ov_target = tgt;
		s.ov_level = level;
		s.ov_clear = PERM_MASK;
		s.ov_set = perm;
		s.acc = accs[a];
		if (!ul) {
			s.gflags[1] &= ~PTE_US; /* supervisor-mode address, CPL 0 */
			s.cpl = 0;
		} else {
			s.cpl = 3;
		}
		if (gad)
			for (int l = 1; l <= 4; l++)
				s.gflags[l] |= PTE_A | PTE_D;
		conf_run(r, &s);
	}
}

/* E2: every bit that is not an address bit, one at a time, at every EPT level */
static void e_bits(struct conf_runner *r)
{
	static const unsigned maxphys[] = { 46, 52 };
	static const int tgts[] = { TGT_DATA, 1, 4 };
	struct conf_spec s;
	for (unsigned nlev = 4; nlev <= 5; nlev++)
	for (unsigned mp = 0; mp < 2; mp++)
	for (unsigned mbec = 0; mbec < 2; mbec++)
	for (unsigned t = 0; t < 3; t++)
	for (unsigned nleaf = 1; nleaf <= (tgts[t] == TGT_DATA ? 3u : 1u); nleaf++)
	for (unsigned level = nleaf; level <= nlev; level++)
	for (unsigned b = 3; b < 64; b++) {
		unsigned lo = level == nleaf ? conf_cover(level) : 12;
		if (b >= lo && b < maxphys[mp] && b < 52)
			continue; /* address bit */
		if (b == 7 && (level == 2 || level == 3))
			continue; /* PS decides leaf or table: another layout */
		for (unsigned a = 0; a < 3; a++)
		for (unsigned ad = 0; ad < 2; ad++) {
			ept_base(&s, PAGING_4LEVEL, nlev, ad, maxphys[mp], "ept-entry-bits");
			s.caps.mbec = mbec;
			s.data_nleaf = tgts[t] == TGT_DATA ? nleaf : 1;
			s.ov_target = tgts[t];
			s.ov_level = level;
			s.ov_xor = UINT64_C(1) << b;
			s.acc = accs[a];
			s.cpl = 3;
			conf_run(r, &s);
		}
	}
}

/* E3: leaf memory types 0-7, PS of a PDPTE without 1-GByte pages, W without R etc. */
static void e_misconfig(struct conf_runner *r)
{
	struct conf_spec s;
	for (unsigned nleaf = 1; nleaf <= 3; nleaf++)
	for (unsigned mt = 0; mt < 8; mt++)
	for (unsigned ipat = 0; ipat < 2; ipat++)
	for (unsigned a = 0; a < 3; a++) {
		ept_base(&s, PAGING_4LEVEL, 4, false, 46, "ept-memory-type");
		s.data_nleaf = nleaf;
		s.ov_target = TGT_DATA;
		s.ov_level = nleaf;
		s.ov_clear = EPT_MT_MASK | EPT_IPAT;
		s.ov_set = ((uint64_t)mt << EPT_MT_SHIFT) | (ipat ? EPT_IPAT : 0);
		s.acc = accs[a];
		conf_run(r, &s);
	}
	/* 1-GByte pages unsupported: an EPT PDPTE with bit 7 set */
	for (unsigned gb = 0; gb < 2; gb++)
	for (int tgt = 0; tgt <= 4; tgt++)
	for (unsigned a = 0; a < 3; a++) {
		ept_base(&s, PAGING_4LEVEL, 4, true, 46, "ept-1g-capability");
		s.caps.gb1 = gb;
		if (tgt == TGT_DATA) {
			s.data_nleaf = 3;
		} else {
			if (gb)
				continue; /* PS on a table PDPTE with 1G pages: another layout */
			s.ov_target = tgt;
			s.ov_level = 3;
			s.ov_set = EPT_PS;
		}
		s.acc = accs[a];
		conf_run(r, &s);
	}
}

/* E4: other guest paging modes (and paging off) under EPT */
static void e_guest_modes(struct conf_runner *r)
{
	static const struct { enum paging_mode mode; bool pse; unsigned gmap; } gm[] = {
		{ PAGING_NONE, false, 1 }, { PAGING_32, false, 1 }, { PAGING_32, true, 2 },
		{ PAGING_PAE, false, 1 },  { PAGING_PAE, false, 2 }, { PAGING_5LEVEL, false, 1 },
		{ PAGING_5LEVEL, false, 3 },
	};
	static const uint64_t perms[] = { 0, EPT_R, EPT_R | EPT_X, EPT_R | EPT_W,
					  EPT_R | EPT_W | EPT_X, EPT_X };
	struct conf_spec s;
	for (unsigned g = 0; g < sizeof(gm) / sizeof(gm[0]); g++) {
		unsigned top = guest_top(gm[g].mode);
		for (unsigned nlev = 4; nlev <= 5; nlev++)
		for (unsigned ad = 0; ad < 2; ad++)
		for (unsigned mbec = 0; mbec < 2; mbec++)
		for (int tgt = 0; tgt <= (int)top; tgt++)
		for (unsigned level = 1; level <= nlev; level++)
		for (unsigned p = 0; p < sizeof(perms) / sizeof(perms[0]); p++)
		for (unsigned a = 0; a < 3; a++) {
			if (tgt != TGT_DATA && (unsigned)tgt < gm[g].gmap)
				continue;
			ept_base(&s, gm[g].mode, nlev, ad, 46, "ept-guest-modes");
			if (gm[g].pse)
				s.cr4 |= CR4_PSE;
			s.gmap = gm[g].gmap;
			s.caps.mbec = mbec;
			s.ov_target = tgt;
			s.ov_level = level;
			s.ov_clear = PERM_MASK;
			s.ov_set = perms[p] | ((mbec && (perms[p] & EPT_X)) ? EPT_XU : 0);
			s.acc = accs[a];
			s.cpl = a & 1 ? 3 : 0;
			conf_run(r, &s);
		}
	}
	/* PAE PDPTEs with a reserved bit: VM entry fails (SDM Vol. 3C 27.3.1.6) */
	static const uint64_t bad[] = { BIT64(1), BIT64(5), BIT64(8), BIT64(46), BIT64(63) };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	for (unsigned other = 0; other < 2; other++) {
		ept_base(&s, PAGING_PAE, 4, false, 46, "ept-pae-pdpte");
		if (other) {
			s.pdpte_other = PTE_P | bad[i];
			s.pdpte_other_idx = 1;
		} else {
			s.gxor[3] = bad[i];
		}
		conf_run(r, &s);
	}
}

/* E5: page sizes in both dimensions, guest modes: gpa, hpa, size, references */
static void e_refs(struct conf_runner *r)
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
	for (unsigned ad = 0; ad < 2; ad++)
	for (unsigned pre = 0; pre < 2; pre++)
	for (unsigned a = 0; a < 3; a++) {
		ept_base(&s, gm[g].mode, nlev, ad, nlev == 5 ? 52 : 46, "ept-sizes-refs");
		if (gm[g].pse)
			s.cr4 |= CR4_PSE;
		s.gmap = gm[g].gmap;
		s.table_nleaf = tl;
		s.data_nleaf = dl;
		if (pre) {
			/* every flag already set: nothing to write */
			s.nset_all = EPT_A | EPT_D;
			for (int l = 1; l <= 5; l++)
				if (!(gm[g].mode == PAGING_PAE && l == 3))
					s.gflags[l] |= PTE_A | PTE_D;
		}
		s.acc = accs[a];
		conf_run(r, &s);
	}
}

/* E6: the EPTP (VM-entry checks): memory type, walk length, A/D, reserved bits */
static void e_eptp(struct conf_runner *r)
{
	struct conf_spec s;
	for (unsigned nlev = 4; nlev <= 5; nlev++)
	for (unsigned w5 = 0; w5 < 2; w5++)
	for (unsigned adc = 0; adc < 2; adc++)
	for (unsigned ad = 0; ad < 2; ad++)
	for (unsigned f = 0; f < 8 + 8 + 9; f++) {
		ept_base(&s, PAGING_4LEVEL, nlev, ad, 46, "eptp");
		s.caps.walk5 = w5;
		s.caps.ad = adc;
		if (f < 8) {
			s.eptp_xor = (uint64_t)(f ^ MT_WB); /* memory type f */
		} else if (f < 16) {
			unsigned walk = f - 8 + 1; /* walk length */
			if ((walk == 4 || (walk == 5 && w5)) && walk != nlev)
				continue; /* valid, for tables not built */
			s.eptp_xor = (uint64_t)((walk - 1) ^ (nlev - 1)) << EPTP_WALK_SHIFT;
		} else {
			static const unsigned rb[9] = { 7, 8, 9, 10, 11, 46, 51, 52, 63 };
			s.eptp_xor = BIT64(rb[f - 16]);
		}
		conf_run(r, &s);
	}
}

void enum_ept(struct conf_runner *r)
{
	e_eptp(r);
	e_perms(r);
	e_bits(r);
	e_misconfig(r);
	e_guest_modes(r);
	e_refs(r);
	cross_la_variants(r, NESTED_EPT);
	cross_ordering(r, NESTED_EPT);
	cross_compact(r, NESTED_EPT);
	random_cases(r, NESTED_EPT, 120000, 0x5eed0002);
}
