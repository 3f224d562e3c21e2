/*
 * pt_format.h - one description per paging-structure format. The generic
 * walker (walk.c) is parameterized by these descriptions; nothing else in
 * the walker knows which format it walks.
 *
 * Levels are numbered as in the manuals' tables: 1 = PTE (maps 4 KiB),
 * 2 = PDE, 3 = PDPTE, 4 = PML4E, 5 = PML5E. Reserved-bit masks are derived
 * once per context from MAXPHYADDR, the vendor and the enabled features
 * (as KVM keeps rsvd_bits_mask per MMU role).
 */
#ifndef NESTMMU_ARCH_PT_FORMAT_H
#define NESTMMU_ARCH_PT_FORMAT_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/cpu.h"

#define PT_MAX_LEVELS 5

enum pt_family {
	PT_FAMILY_X86, /* P, R/W, U/S, XD; #PF semantics (also NPT tables) */
	PT_FAMILY_EPT, /* R, W, X (XS/XU with MBEC); violation/misconfig semantics */
};

/* Access rights, ANDed over the levels of a walk. */
enum pt_right {
	RIGHT_R  = 1u << 0, /* readable (x86: any present entry) */
	RIGHT_W  = 1u << 1, /* x86 R/W; EPT bit 1 */
	RIGHT_X  = 1u << 2, /* x86: XD clear (or NX off); EPT bit 2 (XS with MBEC) */
	RIGHT_XU = 1u << 3, /* EPT bit 10 with MBEC; equals RIGHT_X otherwise */
	RIGHT_U  = 1u << 4, /* x86 U/S */
	RIGHT_ALL = 0x1f,
};

struct pt_level {
	uint8_t shift;       /* lowest address bit translated by this level's index */
	uint8_t index_bits;  /* index width (10 for 32-bit paging, 2 for the PAE PDPT, else 9) */
	bool large_ok;       /* PS=1 makes the entry a leaf mapping 2^shift bytes */
	bool has_accessed;   /* the entry has an accessed flag the walker sets */
	bool no_rights;      /* the entry has no R/W, U/S, XD (PAE PDPTE): it grants all */
	uint64_t rsvd_table; /* reserved bits when the entry references a table */
	uint64_t rsvd_large; /* reserved bits when the entry maps a large page */
	uint64_t rsvd_page;  /* level 1 only: reserved bits of a 4 KiB leaf */
};

struct pt_format {
	const char *name;
	enum pt_family family;
	unsigned levels;      /* the root table is at this level */
	unsigned entry_size;  /* 4 or 8 bytes */
	unsigned maxphyaddr;
	struct pt_level level[PT_MAX_LEVELS + 1]; /* [1..levels] */
	uint64_t root_mask;   /* bits of CR3/nCR3/EPTP holding the root table address */
	bool pse36;           /* 32-bit paging 4 MiB PDE: address bits 39:32 in PDE bits 20:13 */
	bool pdpte_regs;      /* PAE: the level-3 entries come from the PDPTE registers */
	/* x86 family */
	bool nx;              /* EFER.NXE: bit 63 is XD, else reserved */
	bool pke;             /* CR4.PKE in IA-32e paging: leaf bits 62:59 are a protection key */
	/* EPT family */
	bool ept_xonly;       /* execute-only translations supported */
	bool ept_mbec;        /* mode-based execute control */
	bool ad;              /* A/D flags are maintained (always for x86; EPTP bit 6 for EPT) */
};

/* EPT capabilities (IA32_VMX_EPT_VPID_CAP and the MBEC control). */
struct ept_caps {
	bool xonly;  /* bit 0: execute-only */
	bool walk5;  /* bit 7: 5-level walk */
	bool ad;     /* bit 21: accessed/dirty flags */
	bool gb1;    /* bit 17: 1-GByte pages */
	bool mbec;   /* the "mode-based execute control for EPT" control is 1 */
};

/*
 * Guest (or host, for NPT) paging formats. `mode` must not be PAGING_NONE.
 * `pdpte_in_walk`: PAE only; the PDPTEs are read from memory during the walk
 * (AMD under nested paging) rather than taken from the PDPTE registers.
 */
void pt_format_x86(struct pt_format *f, enum paging_mode mode, enum cpu_vendor vendor,
		   unsigned maxphyaddr, const struct cpu_features *feat,
		   uint64_t cr4, uint64_t efer, bool pdpte_in_walk);

/* EPT format for a walk of `levels` (4 or 5) levels. */
void pt_format_ept(struct pt_format *f, unsigned levels, unsigned maxphyaddr,
		   const struct ept_caps *caps, bool ad_enabled);

/* Reserved bits of a PAE PDPTE (SDM 4.4.1, Table 4-8), checked at load. */
uint64_t pae_pdpte_rsvd(unsigned maxphyaddr);

/* Is the entry present? x86: P; EPT: any of bits 2:0, or bit 10 with MBEC. */
bool pt_present(const struct pt_format *f, uint64_t e);
/* Does the entry at `level` map a page (rather than reference a table)? */
bool pt_is_leaf(const struct pt_format *f, unsigned level, uint64_t e);
/* Reserved bits set in a present entry (misconfiguration for EPT)? */
bool pt_rsvd_set(const struct pt_format *f, unsigned level, uint64_t e);
/* Rights granted by one present entry (enum pt_right bits). */
unsigned pt_rights(const struct pt_format *f, unsigned level, uint64_t e);
/* Address of the table a non-leaf entry references. */
uint64_t pt_table_addr(const struct pt_format *f, unsigned level, uint64_t e);
/* Base address of the page a leaf entry at `level` maps. */
uint64_t pt_page_addr(const struct pt_format *f, unsigned level, uint64_t e);
/* Index into the table at `level` for address `addr`. */
unsigned pt_index(const struct pt_format *f, unsigned level, uint64_t addr);
/* Bit positions of the accessed and dirty flags (x86: 5, 6; EPT: 8, 9). */
uint64_t pt_accessed_bit(const struct pt_format *f);
uint64_t pt_dirty_bit(const struct pt_format *f);

#endif
