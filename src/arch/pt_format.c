/*
 * pt_format.c - the paging-structure formats, derived once per context from
 * MAXPHYADDR, vendor and enabled features. Each rule cites the table of the
 * manual it follows.
 */
#include "arch/pt_format.h"

#include <string.h>

#include "arch/x86.h"

/* Bits 51:M, the physical-address bits beyond MAXPHYADDR (none if M = 52). */
static uint64_t rsvd_above_maxphy(unsigned maxphyaddr)
{
	return maxphyaddr >= 52 ? 0 : GENMASK64(51, maxphyaddr);
}

uint64_t pae_pdpte_rsvd(unsigned maxphyaddr)
{
	/* SDM Table 4-8: bits 2:1, 8:5 and 63:M are reserved in a PAE PDPTE. */
	return GENMASK64(2, 1) | GENMASK64(8, 5) | GENMASK64(63, maxphyaddr);
}

static void set_level(struct pt_format *f, unsigned level, unsigned shift, unsigned bits)
{
	f->level[level].shift = (uint8_t)shift;
	f->level[level].index_bits = (uint8_t)bits;
}

/*
 * IA-32e paging and EPT: 512 eight-byte entries a table, each level
 * translating 9 address bits above the 12-bit page offset (SDM 4.5, 29.3.2).
 */
static void set_levels_9bit(struct pt_format *f)
{
	for (unsigned l = 1; l <= PT_MAX_LEVELS; l++)
		set_level(f, l, 12 + 9 * (l - 1), 9);
}

/* 32-bit paging: SDM 4.3, Tables 4-4 (4 MiB PDE), 4-5 (PDE), 4-6 (PTE). */
static void fmt_32bit(struct pt_format *f, unsigned maxphyaddr, uint64_t cr4)
{
	f->name = "32-bit";
	f->levels = 2;
	f->entry_size = 4;
	set_level(f, 2, 22, 10);
	set_level(f, 1, 12, 10);
	f->level[2].has_accessed = true;
	f->level[1].has_accessed = true;
	/* PS is used only with CR4.PSE = 1; otherwise bit 7 is ignored. */
	f->level[2].large_ok = cr4 & CR4_PSE;
	/*
	 * 4 MiB PDE: bit 21 is reserved; bits 20:13 hold physical-address
	 * bits 39:32 (PSE-36), of which those at or above MAXPHYADDR are
	 * reserved: PDE bit 13+k is address bit 32+k, so bits 20:(M-19) when
	 * M < 40. The PSE-36 address width is at most 40 bits.
	 */
	f->pse36 = true;
	f->level[2].rsvd_large = BIT64(21);
	if (maxphyaddr < 40)
		f->level[2].rsvd_large |= GENMASK64(20, maxphyaddr - 19);
	f->root_mask = GENMASK64(31, 12);
}

/* PAE paging: SDM 4.4, Tables 4-8 (PDPTE), 4-9..4-11. */
static void fmt_pae(struct pt_format *f, unsigned maxphyaddr, bool nx, bool pdpte_in_walk)
{
	/* Bits 62:M are reserved (not 51:M as in IA-32e paging); bit 63 is XD or reserved. */
	uint64_t rsvd = GENMASK64(62, maxphyaddr) | (nx ? 0 : PTE_XD);

	f->name = "pae";
	f->levels = 3;
	f->entry_size = 8;
	set_level(f, 3, 30, 2);
	set_level(f, 2, 21, 9);
	set_level(f, 1, 12, 9);
	f->pdpte_regs = !pdpte_in_walk;
	f->level[3].no_rights = true;
	f->level[3].rsvd_table = pae_pdpte_rsvd(maxphyaddr);
	f->level[2].has_accessed = true;
	f->level[2].large_ok = true; /* PAE honours PS regardless of CR4.PSE */
	f->level[2].rsvd_table = rsvd;
	f->level[2].rsvd_large = rsvd | GENMASK64(20, 13);
	f->level[1].has_accessed = true;
	f->level[1].rsvd_page = rsvd;
	f->root_mask = GENMASK64(31, 5);
}

/* 4-level and 5-level paging: SDM 4.5, Tables 4-14..4-20. */
static void fmt_ia32e(struct pt_format *f, unsigned levels, enum cpu_vendor vendor,
		      unsigned maxphyaddr, const struct cpu_features *feat, bool nx)
{
	uint64_t rsvd = rsvd_above_maxphy(maxphyaddr) | (nx ? 0 : PTE_XD);
	/*
	 * PML5E/PML4E: PS (bit 7) is reserved on both vendors (SDM Tables
	 * 4-14, 4-15); AMD also reserves bit 8 (APM Vol. 2 5.3.3, Figure 5-18:
	 * PML4E bits 8:7 MBZ).
	 */
	uint64_t rsvd_top = rsvd | PTE_PS | (vendor == CPU_AMD ? PTE_G : 0);

	f->name = levels == 5 ? "5-level" : "4-level";
	f->levels = levels;
	f->entry_size = 8;
	set_levels_9bit(f);
	for (unsigned l = 1; l <= levels; l++)
		f->level[l].has_accessed = true;
	f->level[5].rsvd_table = rsvd_top;
	f->level[4].rsvd_table = rsvd_top;
	/* PDPTE: PS maps 1 GiB only if supported; else bit 7 is reserved (Table 4-17 note). */
	f->level[3].large_ok = feat->gbpages;
	f->level[3].rsvd_table = rsvd | (feat->gbpages ? 0 : PTE_PS);
	f->level[3].rsvd_large = rsvd | GENMASK64(29, 13);
	f->level[2].large_ok = true;
	f->level[2].rsvd_table = rsvd;
	f->level[2].rsvd_large = rsvd | GENMASK64(20, 13);
	f->level[1].rsvd_page = rsvd;
	f->root_mask = GENMASK64(maxphyaddr - 1, 12);
}

void pt_format_x86(struct pt_format *f, enum paging_mode mode, enum cpu_vendor vendor,
		   unsigned maxphyaddr, const struct cpu_features *feat,
		   uint64_t cr4, uint64_t efer, bool pdpte_in_walk)
{
	bool nx = efer & EFER_NXE;

	memset(f, 0, sizeof(*f));
	f->family = PT_FAMILY_X86;
	f->maxphyaddr = maxphyaddr;
	f->ad = true;
	switch (mode) {
	case PAGING_32:
		fmt_32bit(f, maxphyaddr, cr4);
		break;
	case PAGING_PAE:
		f->nx = nx;
		fmt_pae(f, maxphyaddr, nx, pdpte_in_walk);
		break;
	case PAGING_4LEVEL:
	case PAGING_5LEVEL:
		f->nx = nx;
		/* SDM 4.6.2: protection keys apply only to IA-32e paging. */
		f->pke = cr4 & CR4_PKE;
		fmt_ia32e(f, mode == PAGING_5LEVEL ? 5 : 4, vendor, maxphyaddr, feat, nx);
		break;
	case PAGING_NONE:
		break;
	}
}

/* EPT: SDM Vol. 3C 29.3.2, Tables 29-1..29-7; misconfigurations 29.3.3.1. */
void pt_format_ept(struct pt_format *f, unsigned levels, unsigned maxphyaddr,
		   const struct ept_caps *caps, bool ad_enabled)
{
	uint64_t rsvd = rsvd_above_maxphy(maxphyaddr);

	memset(f, 0, sizeof(*f));
	f->name = levels == 5 ? "ept-5-level" : "ept-4-level";
	f->family = PT_FAMILY_EPT;
	f->maxphyaddr = maxphyaddr;
	f->levels = levels;
	f->entry_size = 8;
	f->ept_xonly = caps->xonly;
	f->ept_mbec = caps->mbec;
	f->ad = ad_enabled;
	set_levels_9bit(f);
	for (unsigned l = 1; l <= levels; l++)
		f->level[l].has_accessed = ad_enabled;
	/* PML5E, PML4E: bits 7:3 reserved. PDPTE, PDE referencing a table: bits 6:3. */
	f->level[5].rsvd_table = rsvd | GENMASK64(7, 3);
	f->level[4].rsvd_table = rsvd | GENMASK64(7, 3);
	f->level[3].large_ok = caps->gb1;
	/* Without 1-GByte page support, bit 7 of a PDPTE must be 0. */
	f->level[3].rsvd_table = rsvd | GENMASK64(6, 3) | (caps->gb1 ? 0 : EPT_PS);
	f->level[3].rsvd_large = rsvd | GENMASK64(29, 12);
	f->level[2].large_ok = true;
	f->level[2].rsvd_table = rsvd | GENMASK64(6, 3);
	f->level[2].rsvd_large = rsvd | GENMASK64(20, 12);
	f->level[1].rsvd_page = rsvd;
	f->root_mask = GENMASK64(maxphyaddr - 1, 12);
}

bool pt_present(const struct pt_format *f, uint64_t e)
{
	if (f->family == PT_FAMILY_X86)
		return e & PTE_P;
	/* SDM 29.3.2: present if any of bits 2:0 is 1, or bit 10 with MBEC. */
	return (e & (EPT_R | EPT_W | EPT_X)) || (f->ept_mbec && (e & EPT_XU));
}

bool pt_is_leaf(const struct pt_format *f, unsigned level, uint64_t e)
{
	if (level == 1)
		return true;
	return f->level[level].large_ok && (e & PTE_PS); /* PTE_PS == EPT_PS, bit 7 */
}

/* SDM 29.3.3.1: the EPT misconfigurations beyond reserved bits. */
static bool ept_misconfigured(const struct pt_format *f, bool leaf, uint64_t e)
{
	bool r = e & EPT_R;

	if ((e & EPT_W) && !r)
		return true; /* write without read */
	if (!f->ept_xonly && !r && ((e & EPT_X) || (f->ept_mbec && (e & EPT_XU))))
		return true; /* execute-only without the capability */
	if (leaf) {
		unsigned mt = (unsigned)((e & EPT_MT_MASK) >> EPT_MT_SHIFT);
		if (mt == 2 || mt == 3 || mt == 7)
			return true; /* reserved memory type (SDM 29.3.7) */
	}
	return false;
}

bool pt_rsvd_set(const struct pt_format *f, unsigned level, uint64_t e)
{
	const struct pt_level *l = &f->level[level];
	bool leaf = pt_is_leaf(f, level, e);
	uint64_t rsvd = !leaf ? l->rsvd_table : level == 1 ? l->rsvd_page : l->rsvd_large;

	if (e & rsvd)
		return true;
	return f->family == PT_FAMILY_EPT && ept_misconfigured(f, leaf, e);
}

unsigned pt_rights(const struct pt_format *f, unsigned level, uint64_t e)
{
	unsigned r = 0;

	if (f->family == PT_FAMILY_EPT) {
		r |= RIGHT_U; /* EPT has no U/S: neutral in the AND */
		if (e & EPT_R)
			r |= RIGHT_R;
		if (e & EPT_W)
			r |= RIGHT_W;
		if (e & EPT_X)
			r |= RIGHT_X;
		/* Without MBEC, bit 2 governs all instruction fetches. */
		if (f->ept_mbec ? (e & EPT_XU) : (e & EPT_X))
			r |= RIGHT_XU;
		return r;
	}
	if (f->level[level].no_rights)
		return RIGHT_ALL;
	r = RIGHT_R;
	if (e & PTE_RW)
		r |= RIGHT_W;
	if (e & PTE_US)
		r |= RIGHT_U;
	if (!(f->nx && (e & PTE_XD)))
		r |= RIGHT_X | RIGHT_XU;
	return r;
}

static uint64_t addr_mask(const struct pt_format *f, unsigned low_bit)
{
	if (f->entry_size == 4)
		return GENMASK64(31, low_bit);
	return GENMASK64(f->maxphyaddr - 1, low_bit);
}

uint64_t pt_table_addr(const struct pt_format *f, unsigned level, uint64_t e)
{
	(void)level;
	return e & addr_mask(f, 12);
}

uint64_t pt_page_addr(const struct pt_format *f, unsigned level, uint64_t e)
{
	unsigned shift = f->level[level].shift;

	if (level == 1)
		return e & addr_mask(f, 12);
	if (f->pse36) {
		/* 4 MiB page: address bits 31:22 from PDE bits 31:22, 39:32 from 20:13. */
		return (e & GENMASK64(31, 22)) | (((e >> 13) & 0xff) << 32);
	}
	return e & addr_mask(f, shift);
}

unsigned pt_index(const struct pt_format *f, unsigned level, uint64_t addr)
{
	const struct pt_level *l = &f->level[level];

	return (unsigned)((addr >> l->shift) & ((UINT64_C(1) << l->index_bits) - 1));
}

uint64_t pt_accessed_bit(const struct pt_format *f)
{
	return f->family == PT_FAMILY_EPT ? EPT_A : PTE_A;
}

uint64_t pt_dirty_bit(const struct pt_format *f)
{
	return f->family == PT_FAMILY_EPT ? EPT_D : PTE_D;
}
