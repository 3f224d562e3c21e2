/*
 * rules_x86.c - x86 paging-structure entries and access rights, from the
 * Intel SDM Vol. 3A ch. 4 and the AMD APM Vol. 2 ch. 5. Written from the
 * manuals' wording; nothing here is shared with src/arch.
 */
#include "conformance/rules.h"

static uint64_t bits(unsigned hi, unsigned lo)
{
	if (hi < lo)
		return 0;
	return GENMASK64(hi, lo);
}

/* Bits 51:MAXPHYADDR (SDM 4.5: "bits 51:MAXPHYADDR are reserved"). */
static uint64_t above_maxphy(unsigned m)
{
	return m >= 52 ? 0 : bits(51, m);
}

uint64_t orc_pae_pdpte_rsvd(unsigned maxphyaddr)
{
	/*
	 * SDM 4.4.1, Table 4-8: bits 2:1, 8:5 and 63:MAXPHYADDR of a present
	 * PDPTE are reserved. (AMD APM 5.3.3, Figure 5-10, legacy-mode PDPE:
	 * bits 2:1, 8:5 and 63:52 MBZ, address bits beyond MAXPHYADDR MBZ.)
	 */
	return bits(2, 1) | bits(8, 5) | bits(63, maxphyaddr);
}

unsigned orc_entry_size(enum paging_mode mode)
{
	return mode == PAGING_32 ? 4 : 8;
}

uint64_t orc_leaf_size(enum paging_mode mode, unsigned level)
{
	switch (level) {
	case 1: return PAGE_SIZE_4K;
	case 2: return mode == PAGING_32 ? PAGE_SIZE_4M : PAGE_SIZE_2M;
	case 3: return PAGE_SIZE_1G;
	default: return 0;
	}
}

unsigned orc_index(enum paging_mode mode, unsigned level, uint64_t la)
{
	if (mode == PAGING_32) /* SDM 4.3: PDE by bits 31:22, PTE by 21:12 */
		return (unsigned)((la >> (level == 2 ? 22 : 12)) & 0x3ff);
	if (mode == PAGING_PAE && level == 3) /* SDM 4.4.1: PDPTE by bits 31:30 */
		return (unsigned)((la >> 30) & 3);
	/* SDM 4.4.2, 4.5: 9 bits per level from bit 12 */
	return (unsigned)((la >> conf_cover(level)) & 0x1ff);
}

bool orc_canonical(enum paging_mode mode, uint64_t la)
{
	/*
	 * SDM 4.5.1 / Vol. 1 3.3.7.1: with 4-level paging bits 63:47 must be
	 * equal, with 5-level paging bits 63:56.
	 */
	unsigned top;
	if (mode == PAGING_4LEVEL)
		top = 47;
	else if (mode == PAGING_5LEVEL)
		top = 56;
	else
		return true;
	uint64_t hi = la >> top;
	return hi == 0 || hi == (~UINT64_C(0) >> top);
}

/* Reserved bits of a present entry that references a table. */
static uint64_t rsvd_table(const struct orc_x86_rules *r, unsigned level)
{
	uint64_t m = 0;
	switch (r->mode) {
	case PAGING_32:
		/* SDM 4.3, Table 4-5: a PDE that references a page table has none */
		return 0;
	case PAGING_PAE:
		/* SDM 4.4.2: bits 62:MAXPHYADDR; bit 63 without NXE */
		m = bits(62, r->maxphyaddr);
		break;
	default:
		/* SDM 4.5.4/4.5.5 (entry-format tables): bits 51:MAXPHYADDR */
		m = above_maxphy(r->maxphyaddr);
		if (level >= 4) {
			/* SDM 4.5.4: PS of a PML5E/PML4E is reserved */
			m |= PTE_PS;
			/* AMD APM 5.3.3, Figures 5-17..5-19: PML4E/PML5E bit 8 MBZ */
			if (r->vendor == CPU_AMD)
				m |= PTE_G;
		}
		break;
	}
	if (!r->nxe)
		m |= PTE_XD; /* SDM 4.4.2/4.5: XD reserved if IA32_EFER.NXE = 0 */
	return m;
}

/* Reserved bits of a present entry that maps a page at `level`. */
static uint64_t rsvd_leaf(const struct orc_x86_rules *r, unsigned level)
{
	uint64_t m = 0;
	switch (r->mode) {
	case PAGING_32:
		if (level == 1)
			return 0; /* SDM 4.3, Table 4-6: none in a PTE (PAT supported) */
		/*
		 * SDM 4.3, Table 4-4 (4-MByte page): bits 20:13 hold bits
		 * (M-1):32 of the address (PSE-36), M = min(40, MAXPHYADDR);
		 * bits 21:(M-19) are reserved.
		 */
		{
			unsigned mm = r->maxphyaddr < 40 ? r->maxphyaddr : 40;
			return bits(21, mm - 19);
		}
	case PAGING_PAE:
		/* SDM 4.4.2, Tables 4-9, 4-11: bits 62:MAXPHYADDR */
		m = bits(62, r->maxphyaddr);
		if (level == 2)
			m |= bits(20, 13); /* 2-MByte page: bits 20:13 */
		break;
	default:
		/* SDM 4.5.4/4.5.5 (PDPTE/PDE mapping a page, PTE) */
		m = above_maxphy(r->maxphyaddr);
		if (level == 3)
			m |= bits(29, 13); /* 1-GByte page */
		else if (level == 2)
			m |= bits(20, 13); /* 2-MByte page */
		break;
	}
	if (!r->nxe)
		m |= PTE_XD;
	return m;
}

enum entry_kind orc_entry_kind(const struct orc_x86_rules *r, unsigned level, uint64_t e)
{
	if (r->mode == PAGING_32)
		e &= 0xffffffffu;
	/* SDM 4.3-4.5: P = 0: not present, every other bit ignored */
	if (!(e & PTE_P))
		return ENTRY_NOT_PRESENT;
	bool leaf;
	if (level == 1) {
		leaf = true;
	} else if (level == 2) {
		/* SDM 4.3: PS is used only if CR4.PSE = 1 (32-bit paging) */
		leaf = (e & PTE_PS) && (r->mode != PAGING_32 || r->pse);
	} else if (level == 3 && r->mode >= PAGING_4LEVEL) {
		if (e & PTE_PS) {
			/*
			 * SDM 4.5.4: "If 1-GByte pages are not supported and the
			 * P flag of a PDPTE is 1, the PS flag is reserved."
			 */
			if (!r->gbpages)
				return ENTRY_RESERVED;
			leaf = true;
		} else {
			leaf = false;
		}
	} else {
		leaf = false; /* PML4E/PML5E: PS is a reserved bit, checked below */
	}
	uint64_t rsvd = leaf ? rsvd_leaf(r, level) : rsvd_table(r, level);
	if (e & rsvd)
		return ENTRY_RESERVED;
	return leaf ? ENTRY_LEAF : ENTRY_TABLE;
}

void orc_rights_init(struct orc_rights *rt)
{
	rt->w = true;
	rt->u = true;
	rt->xd = false;
	rt->pkey = 0;
}

void orc_rights_add(const struct orc_x86_rules *r, struct orc_rights *rt, unsigned level,
		    uint64_t e, bool leaf)
{
	(void)level;
	/* SDM 4.6.1: R/W and U/S of every entry controlling the translation */
	rt->w = rt->w && (e & PTE_RW);
	rt->u = rt->u && (e & PTE_US);
	/* XD exists only with PAE/IA-32e paging and IA32_EFER.NXE = 1 */
	if (r->mode != PAGING_32 && r->nxe && (e & PTE_XD))
		rt->xd = true;
	/* SDM 4.6.2: the key is in bits 62:59 of the entry mapping the page */
	if (leaf)
		rt->pkey = (unsigned)((e >> PTE_PKEY_SHIFT) & 0xf);
}

/* SDM 4.7: I/D is 1 for a fetch if CR4.SMEP = 1 or (PAE/IA-32e and NXE). */
static bool id_flag(const struct orc_x86_rules *r, enum access_type t, bool smep)
{
	if (t != ACCESS_FETCH)
		return false;
	return smep || (r->mode != PAGING_32 && r->nxe);
}

static uint32_t base_error(const struct orc_x86_rules *r, const struct orc_access *a)
{
	uint32_t ec = 0;
	if (a->type == ACCESS_WRITE)
		ec |= PFEC_W; /* SDM 4.7: W/R */
	if (a->user)
		ec |= PFEC_U; /* SDM 4.7: U/S (implicit accesses are supervisor) */
	if (id_flag(r, a->type, a->smep))
		ec |= PFEC_ID;
	return ec;
}

uint32_t orc_walk_fault(const struct orc_x86_rules *r, const struct orc_access *a, bool rsvd)
{
	uint32_t ec = base_error(r, a);
	/* SDM 4.7: P = 0 for a not-present entry; RSVD only with P = 1 */
	if (rsvd)
		ec |= PFEC_P | PFEC_RSVD;
	return ec;
}

uint32_t orc_access_fault(const struct orc_x86_rules *r, const struct orc_rights *rt,
			  const struct orc_access *a)
{
	bool deny = false;
	bool nx = rt->xd; /* XD counts only in PAE/IA-32e with NXE (rights_add) */
	bool write = a->type == ACCESS_WRITE;
	bool fetch = a->type == ACCESS_FETCH;

	if (!a->user) {
		/* SDM 4.6.1, supervisor-mode accesses */
		if (!fetch) {
			/*
			 * Data from user-mode addresses with CR4.SMAP = 1: allowed
			 * only for explicit accesses with EFLAGS.AC = 1.
			 */
			if (rt->u && a->smap && (a->implicit || !a->ac))
				deny = true;
			/* Writes: with CR0.WP = 1 only with R/W = 1 everywhere */
			if (write && a->wp && !rt->w)
				deny = true;
		} else {
			/* Fetches from user-mode addresses: not with CR4.SMEP = 1 */
			if (rt->u && a->smep)
				deny = true;
			if (nx)
				deny = true;
		}
	} else {
		/* SDM 4.6.1, user-mode accesses: user-mode addresses only */
		if (!rt->u)
			deny = true;
		if (write && !rt->w)
			deny = true;
		if (fetch && nx)
			deny = true;
	}

	/*
	 * SDM 4.6.2 (protection keys, IA-32e paging with CR4.PKE = 1) and the
	 * PK flag of SDM 4.7: a data access to a user-mode address with key i
	 * is refused if AD_i = 1, or if WD_i = 1 for a write that is a
	 * user-mode access or made with CR0.WP = 1.
	 */
	bool pk = false;
	if (r->pke && r->mode >= PAGING_4LEVEL && rt->u && !fetch) {
		bool ad = (a->pkru >> (2 * rt->pkey)) & 1;
		bool wd = (a->pkru >> (2 * rt->pkey + 1)) & 1;
		if (ad || (wd && write && (a->user || a->wp)))
			pk = true;
	}

	if (!deny && !pk)
		return 0;
	uint32_t ec = base_error(r, a) | PFEC_P;
	if (pk)
		ec |= PFEC_PK;
	return ec;
}
