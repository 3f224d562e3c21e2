/*
 * rules_ept.c - EPT paging-structure entries, from the Intel SDM Vol. 3C
 * "VMX support for address translation" (29.3.2 EPT translation mechanism,
 * Tables 29-1..29-7; 29.3.3.1 EPT misconfigurations). Written from the
 * manual's wording; nothing here is shared with src/arch.
 */
#include "conformance/rules.h"

static uint64_t bits(unsigned hi, unsigned lo)
{
	if (hi < lo)
		return 0;
	return GENMASK64(hi, lo);
}

enum entry_kind orc_ept_entry_kind(const struct orc_ept_rules *r, unsigned level, uint64_t e)
{
	/*
	 * 29.3.2: an entry is present if any of bits 2:0 is 1, or, with
	 * mode-based execute control, bit 10 is 1. A not-present entry's
	 * other bits are ignored.
	 */
	if (!(e & (EPT_R | EPT_W | EPT_X)) && !(r->mbec && (e & EPT_XU)))
		return ENTRY_NOT_PRESENT;

	/* 29.3.3.1: bits 2:0 = 010b (write-only) or 110b (write/execute) */
	if ((e & (EPT_R | EPT_W)) == EPT_W)
		return ENTRY_RESERVED;
	/* 29.3.3.1: bits 2:0 = 100b without execute-only support */
	if (!r->xonly && (e & (EPT_R | EPT_W | EPT_X)) == EPT_X)
		return ENTRY_RESERVED;

	/* 29.3.3.1: "a reserved bit is set", Tables 29-1..29-7 */
	uint64_t rsvd = r->maxphyaddr >= 52 ? 0 : bits(51, r->maxphyaddr);
	bool leaf;
	switch (level) {
	case 5:
	case 4:
		/* PML5E/PML4E (Tables 29-1, 29-2): bits 7:3 reserved */
		rsvd |= bits(7, 3);
		leaf = false;
		break;
	case 3:
		if (e & EPT_PS) {
			/*
			 * Table 29-3: a PDPTE with bit 7 = 1 maps a 1-GByte page;
			 * without 1-GByte page support that setting is reserved.
			 */
			if (!r->gb1)
				return ENTRY_RESERVED;
			rsvd |= bits(29, 12); /* Table 29-3: bits 29:12 */
			leaf = true;
		} else {
			rsvd |= bits(6, 3); /* Table 29-4: bits 7:3 (bit 7 is 0) */
			leaf = false;
		}
		break;
	case 2:
		if (e & EPT_PS) {
			rsvd |= bits(20, 12); /* Table 29-5: bits 20:12 */
			leaf = true;
		} else {
			rsvd |= bits(6, 3); /* Table 29-6: bits 7:3 (bit 7 is 0) */
			leaf = false;
		}
		break;
	default:
		leaf = true; /* Table 29-7: a PTE; bit 7 ignored */
		break;
	}
	/*
	 * Ignored (not reserved): bits 63:52 (63 is suppress-#VE, only with
	 * EPT-violation #VE), bit 11, bit 10 without MBEC, bits 9:8 (the
	 * A/D flags when enabled), bit 7 of a PTE.
	 */
	if (e & rsvd)
		return ENTRY_RESERVED;
	if (leaf) {
		/* 29.3.3.1: memory type 2, 3 or 7 in the last entry used */
		unsigned mt = (unsigned)((e & EPT_MT_MASK) >> EPT_MT_SHIFT);
		if (mt == 2 || mt == 3 || mt == 7)
			return ENTRY_RESERVED;
	}
	return leaf ? ENTRY_LEAF : ENTRY_TABLE;
}
