/*
 * enum_guest.c - guest paging without nesting, in the spirit of
 * kvm-unit-tests' access test: every paging mode (32-bit with CR4.PSE 0/1
 * incl. 4-MByte pages and PSE-36, PAE, 4-level, 5-level) x vendor x the
 * flags of the leaf and of the entries above x CPU state x access.
 */
#include "conformance/enums.h"
#include "conformance/rules.h"

struct mode_size {
	enum paging_mode mode;
	bool pse;
	unsigned gmap;
};

static const struct mode_size ms_list[] = {
	{ PAGING_32, false, 1 },     { PAGING_32, true, 1 },      { PAGING_32, true, 2 },
	{ PAGING_PAE, false, 1 },    { PAGING_PAE, false, 2 },    { PAGING_4LEVEL, false, 1 },
	{ PAGING_4LEVEL, false, 2 }, { PAGING_4LEVEL, false, 3 }, { PAGING_5LEVEL, false, 1 },
	{ PAGING_5LEVEL, false, 2 }, { PAGING_5LEVEL, false, 3 },
};
#define N_MS (sizeof(ms_list) / sizeof(ms_list[0]))

static const enum cpu_vendor vendors[] = { CPU_INTEL, CPU_AMD };

/* access: read, write, fetch, implicit read, implicit write */
static void set_access(struct conf_spec *s, unsigned i)
{
	static const enum access_type t[] = { ACCESS_READ, ACCESS_WRITE, ACCESS_FETCH,
					      ACCESS_READ, ACCESS_WRITE };
	s->acc = t[i];
	s->implicit = i >= 3;
}

static unsigned top_of(enum paging_mode m)
{
	return m == PAGING_32 ? 2 : m == PAGING_PAE ? 3 : m == PAGING_4LEVEL ? 4 : 5;
}

/* Can entry `level` carry R/W, U/S, XD (not a PAE PDPTE)? */
static bool has_rights(enum paging_mode m, unsigned level)
{
	return !(m == PAGING_PAE && level == 3);
}

static void base_spec(struct conf_spec *s, const struct mode_size *ms, enum cpu_vendor v,
		      unsigned maxphy, const char *sub)
{
	spec_init(s, ms->mode, v, maxphy);
	if (ms->pse)
		s->cr4 |= CR4_PSE;
	s->gmap = ms->gmap;
	s->sub = sub;
	if (ms->mode == PAGING_PAE)
		s->gflags[3] = PTE_P; /* a PDPTE has no R/W, U/S */
}

bool guest_addr_bit(enum paging_mode mode, unsigned level, bool leaf, unsigned maxphyaddr,
		    unsigned b)
{
	if (mode == PAGING_32) {
		if (leaf && level == 2) {
			unsigned mm = maxphyaddr < 40 ? maxphyaddr : 40;
			return b >= 22 || (b >= 13 && b <= mm - 20);
		}
		return b >= 12;
	}
	unsigned lo = leaf ? conf_cover(level) : 12;
	return b >= lo && b < maxphyaddr && b < 52;
}

/* G1: leaf and the entry above: W, U/S, XD x CR0.WP, SMEP, SMAP/AC, NXE, CPL x access */
static void g_rights(struct conf_runner *r)
{
	struct conf_spec s;
	for (unsigned m = 0; m < N_MS; m++) {
		const struct mode_size *ms = &ms_list[m];
		unsigned leaf = ms->gmap, above = leaf + 1;
		bool has_above = above <= top_of(ms->mode) && has_rights(ms->mode, above);
		unsigned nflag = ms->mode == PAGING_32 ? 4 : 8; /* W, U (, XD) */
		for (unsigned v = 0; v < 2; v++)
		for (unsigned lf = 0; lf < nflag; lf++)
		for (unsigned af = 0; af < (has_above ? nflag : 1); af++)
		for (unsigned cpu = 0; cpu < 48; cpu++)
		for (unsigned ac = 0; ac < 5; ac++) {
			base_spec(&s, ms, vendors[v], 46, "rights");
			s.gflags[leaf] = PTE_P | ((lf & 1) ? PTE_RW : 0) | ((lf & 2) ? PTE_US : 0) |
					 ((lf & 4) ? PTE_XD : 0);
			if (has_above)
				s.gflags[above] = PTE_P | ((af & 1) ? PTE_RW : 0) |
						  ((af & 2) ? PTE_US : 0) | ((af & 4) ? PTE_XD : 0);
			unsigned smapac = cpu % 3, rest = cpu / 3;
			if (!(rest & 1)) s.cr0 &= ~CR0_WP;
			if (rest & 2) s.cr4 |= CR4_SMEP;
			if (smapac) s.cr4 |= CR4_SMAP;
			if (smapac == 2) s.rflags |= RFLAGS_AC;
			if (!(rest & 4)) s.efer &= ~EFER_NXE;
			s.cpl = (rest & 8) ? 3 : 0;
			set_access(&s, ac);
			conf_run(r, &s);
		}
	}
}

/* G2: P, A, D of the leaf, P and A of the entry above and of the root */
static void g_present_ad(struct conf_runner *r)
{
	struct conf_spec s;
	for (unsigned m = 0; m < N_MS; m++) {
		const struct mode_size *ms = &ms_list[m];
		unsigned leaf = ms->gmap, above = leaf + 1, top = top_of(ms->mode);
		bool has_above = above <= top;
		bool has_root = top > above;
		for (unsigned v = 0; v < 2; v++)
		for (unsigned lf = 0; lf < 8; lf++)
		for (unsigned af = 0; af < (has_above ? 4u : 1u); af++)
		for (unsigned rf = 0; rf < (has_root ? 2u : 1u); rf++)
		for (unsigned ac = 0; ac < 3; ac++)
		for (unsigned cpl = 0; cpl < 2; cpl++) {
			base_spec(&s, ms, vendors[v], 46, "present-ad");
			s.gflags[leaf] = PTE_RW | PTE_US | ((lf & 1) ? PTE_P : 0) |
					 ((lf & 2) ? PTE_A : 0) | ((lf & 4) ? PTE_D : 0);
			if (has_above) {
				s.gflags[above] &= ~PTE_P;
				s.gflags[above] |= ((af & 1) ? PTE_P : 0) | ((af & 2) ? PTE_A : 0);
				if (ms->mode == PAGING_PAE && above == 3)
					s.gflags[above] &= ~PTE_A; /* PDPTE bit 5 is reserved */
			}
			if (rf)
				s.gflags[top] &= ~PTE_P;
			set_access(&s, ac);
			s.cpl = cpl ? 3 : 0;
			conf_run(r, &s);
		}
	}
}

/* G3: P, R/W, U/S, XD of every upper level, one level at a time */
static void g_upper(struct conf_runner *r)
{
	struct conf_spec s;
	for (unsigned m = 0; m < N_MS; m++) {
		const struct mode_size *ms = &ms_list[m];
		unsigned top = top_of(ms->mode);
		unsigned nflag = ms->mode == PAGING_32 ? 8 : 16;
		for (unsigned level = ms->gmap + 1; level <= top; level++) {
			if (!has_rights(ms->mode, level))
				continue;
			for (unsigned v = 0; v < 2; v++)
			for (unsigned f = 0; f < nflag; f++)
			for (unsigned cpu = 0; cpu < 8; cpu++)
			for (unsigned ac = 0; ac < 3; ac++) {
				base_spec(&s, ms, vendors[v], 46, "upper-levels");
				s.gflags[level] = ((f & 1) ? PTE_P : 0) | ((f & 2) ? PTE_RW : 0) |
						  ((f & 4) ? PTE_US : 0) | ((f & 8) ? PTE_XD : 0);
				if (cpu & 1) s.cr0 &= ~CR0_WP;
				if (cpu & 2) s.cr4 |= CR4_SMEP;
				s.cpl = (cpu & 4) ? 3 : 0;
				set_access(&s, ac);
				conf_run(r, &s);
			}
		}
	}
}

/* G4: every non-address bit, one at a time, at every level: reserved or ignored */
static void g_bits(struct conf_runner *r)
{
	static const unsigned maxphys[] = { 36, 46, 52 };
	struct conf_spec s;
	for (unsigned m = 0; m < N_MS; m++) {
		const struct mode_size *ms = &ms_list[m];
		unsigned top = top_of(ms->mode);
		unsigned width = ms->mode == PAGING_32 ? 32 : 64;
		for (unsigned mp = 0; mp < 3; mp++)
		for (unsigned level = ms->gmap; level <= top; level++) {
			if (ms->mode == PAGING_PAE && level == 3)
				continue; /* PDPTEs: g_pdpte */
			bool leaf = level == ms->gmap;
			for (unsigned b = 1; b < width; b++) {
				if (guest_addr_bit(ms->mode, level, leaf, maxphys[mp], b))
					continue;
				/* PS where it decides leaf or table: changes the structure */
				if (b == 7 && ((level == 2 && (ms->mode != PAGING_32 || ms->pse)) ||
					       (level == 3 && ms->mode >= PAGING_4LEVEL)))
					continue;
				for (unsigned v = 0; v < 2; v++)
				for (unsigned st = 0; st < 3; st++)
				for (unsigned ac = 0; ac < 3; ac++)
				for (unsigned cpl = 0; cpl < 2; cpl++) {
					base_spec(&s, ms, vendors[v], maxphys[mp], "entry-bits");
					s.gxor[level] = UINT64_C(1) << b;
					if (st == 1) s.efer &= ~EFER_NXE;
					if (st == 2) s.cr4 |= CR4_PKE;
					set_access(&s, ac);
					s.cpl = cpl ? 3 : 0;
					conf_run(r, &s);
				}
			}
		}
	}
}

/* G4b: a reserved bit at one level, a not-present entry at another */
static void g_rsvd_vs_np(struct conf_runner *r)
{
	struct conf_spec s;
	for (unsigned m = 0; m < N_MS; m++) {
		const struct mode_size *ms = &ms_list[m];
		unsigned top = top_of(ms->mode);
		for (unsigned lr = ms->gmap; lr <= top; lr++)
		for (unsigned lp = ms->gmap; lp <= top; lp++)
		for (unsigned v = 0; v < 2; v++)
		for (unsigned ac = 0; ac < 3; ac++) {
			if (ms->mode == PAGING_PAE && (lr == 3 || lp == 3))
				continue;
			uint64_t bit;
			if (ms->mode == PAGING_32)
				bit = (lr == 2 && ms->gmap == 2) ? BIT64(21) : 0;
			else
				bit = BIT64(51);
			if (!bit)
				continue; /* 32-bit tables have no reserved bits */
			base_spec(&s, ms, vendors[v], 46, "reserved-vs-not-present");
			s.gxor[lr] = bit;
			s.gflags[lp] &= ~PTE_P;
			set_access(&s, ac);
			conf_run(r, &s);
		}
	}
}

/* G5: protection keys: CR4.PKE x PKRU AD/WD for the key x U/S, R/W x CR0.WP x CPL x access */
static void g_pkeys(struct conf_runner *r)
{
	static const unsigned keys[] = { 0, 10 };
	struct conf_spec s;
	for (unsigned m = 5; m < N_MS; m++) {
		const struct mode_size *ms = &ms_list[m];
		for (unsigned v = 0; v < 2; v++)
		for (unsigned pke = 0; pke < 2; pke++)
		for (unsigned k = 0; k < 2; k++)
		for (unsigned adwd = 0; adwd < 4; adwd++)
		for (unsigned lf = 0; lf < 4; lf++)
		for (unsigned cpu = 0; cpu < 8; cpu++)
		for (unsigned ac = 0; ac < 5; ac++) {
			base_spec(&s, ms, vendors[v], 46, "protection-keys");
			unsigned key = keys[k];
			s.gflags[ms->gmap] = PTE_P | ((lf & 1) ? PTE_RW : 0) | ((lf & 2) ? PTE_US : 0) |
					     ((uint64_t)key << PTE_PKEY_SHIFT);
			if (pke)
				s.cr4 |= CR4_PKE;
			/* the key's AD/WD; every other key the opposite */
			uint32_t pkru = 0;
			for (unsigned i = 0; i < 16; i++)
				pkru |= (i == key ? adwd : (~adwd & 3u)) << (2 * i);
			s.pkru = pkru;
			if (cpu & 1) s.cr0 &= ~CR0_WP;
			if (cpu & 2) {
				s.cr4 |= CR4_SMAP;
				s.rflags |= RFLAGS_AC;
			}
			s.cpl = (cpu & 4) ? 3 : 0;
			set_access(&s, ac);
			conf_run(r, &s);
		}
	}
	/* PAE and 32-bit paging: no protection keys; PAE bits 62:59 are reserved */
	for (unsigned m = 0; m < 5; m++) {
		const struct mode_size *ms = &ms_list[m];
		for (unsigned v = 0; v < 2; v++)
		for (unsigned ac = 0; ac < 5; ac++)
		for (unsigned kb = 0; kb < 2; kb++) {
			base_spec(&s, ms, vendors[v], 46, "protection-keys-legacy");
			s.cr4 |= CR4_PKE;
			s.pkru = 0xffffffffu;
			s.cpl = 3;
			if (kb && ms->mode == PAGING_PAE)
				s.gflags[ms->gmap] |= (uint64_t)5 << PTE_PKEY_SHIFT;
			set_access(&s, ac);
			conf_run(r, &s);
		}
	}
}

/* G6: canonical and non-canonical linear addresses */
static void g_canonical(struct conf_runner *r)
{
	static const uint64_t las[] = {
		UINT64_C(0x0000800000001abc), UINT64_C(0x8000000000001abc),
		UINT64_C(0xffff7fffffffeabc), UINT64_C(0x0001000000000abc),
		UINT64_C(0x0100000000000abc), UINT64_C(0xfeffffffffffeabc),
		UINT64_C(0xff00000000000abc), UINT64_C(0xffff800012345abc),
		UINT64_C(0x00ffffffffffeabc), UINT64_C(0x7fffffffffffeabc),
	};
	struct conf_spec s;
	for (unsigned m = 5; m < N_MS; m++)
	for (unsigned v = 0; v < 2; v++)
	for (unsigned i = 0; i < sizeof(las) / sizeof(las[0]); i++)
	for (unsigned ac = 0; ac < 3; ac++)
	for (unsigned cpl = 0; cpl < 2; cpl++) {
		base_spec(&s, &ms_list[m], vendors[v], 46, "canonical");
		s.la = las[i];
		set_access(&s, ac);
		s.cpl = cpl ? 3 : 0;
		conf_run(r, &s);
	}
}

/* G7: PAE PDPTEs (registers): every non-address bit, used PDPTE or another one */
static void g_pdpte(struct conf_runner *r)
{
	static const unsigned maxphys[] = { 36, 46 };
	struct conf_spec s;
	for (unsigned v = 0; v < 2; v++)
	for (unsigned mp = 0; mp < 2; mp++)
	for (unsigned g = 1; g <= 2; g++)
	for (unsigned b = 0; b < 64; b++)
	for (unsigned which = 0; which < 3; which++) {
		if (b >= 12 && b < maxphys[mp])
			continue;
		struct mode_size ms = { PAGING_PAE, false, g };
		base_spec(&s, &ms, vendors[v], maxphys[mp], "pae-pdpte");
		if (which == 0) {
			s.gxor[3] = UINT64_C(1) << b; /* the PDPTE used */
		} else {
			/* another PDPTE: present with the bit, or the bit alone */
			s.pdpte_other = (which == 1 ? PTE_P : 0) | (UINT64_C(1) << b);
			s.pdpte_other_idx = 0;
		}
		s.acc = (b & 1) ? ACCESS_WRITE : ACCESS_READ;
		conf_run(r, &s);
	}
}

/* G8: PS of a PDPTE without 1-GByte page support */
static void g_no_gbpages(struct conf_runner *r)
{
	struct conf_spec s;
	for (unsigned m = 5; m < N_MS; m++)
	for (unsigned v = 0; v < 2; v++)
	for (unsigned gb = 0; gb < 2; gb++)
	for (unsigned ac = 0; ac < 3; ac++) {
		const struct mode_size *ms = &ms_list[m];
		if (gb && ms->gmap != 3)
			continue; /* PS on a table PDPTE would map a page: another layout */
		base_spec(&s, ms, vendors[v], 46, "pdpte-ps-without-1g");
		s.feat.gbpages = gb;
		if (ms->gmap != 3)
			s.gxor[3] = PTE_PS; /* PS on a PDPTE that references a table */
		set_access(&s, ac);
		conf_run(r, &s);
	}
}

void enum_guest(struct conf_runner *r)
{
	g_rights(r);
	g_present_ad(r);
	g_upper(r);
	g_bits(r);
	g_rsvd_vs_np(r);
	g_pkeys(r);
	g_canonical(r);
	g_pdpte(r);
	g_no_gbpages(r);
	cross_la_variants(r, NESTED_NONE);
	cross_ordering(r, NESTED_NONE);
	random_cases(r, NESTED_NONE, 120000, 0x5eed0001);
}
