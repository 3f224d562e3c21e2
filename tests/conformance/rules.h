/*
 * rules.h - the conformance oracle: the manuals' rules for one access,
 * written independently of the code under test (src/arch). Every rule cites its section of
 * the Intel SDM (Vol. 3A ch. 4, Vol. 3C ch. 28/29 "VMX support for address
 * translation") or the AMD APM (Vol. 2 ch. 5, 15.25 "Nested paging").
 *
 * rules_x86.c  32-bit, PAE, 4-level and 5-level entries (also the NPT
 *              tables, which are long-mode tables of the host): presence,
 *              leaf or table, reserved bits, access rights, #PF error code.
 * rules_ept.c  EPT entries: presence, misconfiguration, rights, exit
 *              qualification bits.
 * rules.c      one access: the guest walk composed with the nested walks,
 *              the order of the checks, the fault, the A/D flags.
 */
#ifndef NESTMMU_CONF_RULES_H
#define NESTMMU_CONF_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "conformance/conf.h"

/* ---- x86 paging-structure entries (rules_x86.c) ---- */

struct orc_x86_rules {
	enum paging_mode mode;  /* PAGING_32 .. PAGING_5LEVEL */
	enum cpu_vendor vendor;
	unsigned maxphyaddr;
	bool pse;     /* CR4.PSE (32-bit paging) */
	bool nxe;     /* IA32_EFER.NXE */
	bool pke;     /* CR4.PKE */
	bool gbpages; /* 1-GByte pages supported */
};

enum entry_kind {
	ENTRY_NOT_PRESENT,
	ENTRY_RESERVED,  /* x86: reserved bit (RSVD); EPT: misconfiguration */
	ENTRY_TABLE,
	ENTRY_LEAF,
};

/* The kind of a guest (or NPT) entry at `level` (not a PAE PDPTE). */
enum entry_kind orc_entry_kind(const struct orc_x86_rules *r, unsigned level, uint64_t e);
/* Reserved bits of a PAE PDPTE (SDM 4.4.1, Table 4-8). */
uint64_t orc_pae_pdpte_rsvd(unsigned maxphyaddr);
/* Size of the page a leaf at `level` maps. */
uint64_t orc_leaf_size(enum paging_mode mode, unsigned level);
/* Entry width (4 bytes for 32-bit paging, else 8). */
unsigned orc_entry_size(enum paging_mode mode);
/* Index into the table at `level` for linear address `la` (SDM 4.3-4.5). */
unsigned orc_index(enum paging_mode mode, unsigned level, uint64_t la);
/* Canonical for IA-32e paging (SDM 4.5, Vol. 1 3.3.7.1). */
bool orc_canonical(enum paging_mode mode, uint64_t la);

/* Rights ANDed over the entries that control a translation (SDM 4.6). */
struct orc_rights {
	bool w;       /* R/W = 1 in every entry */
	bool u;       /* U/S = 1 in every entry: a user-mode address */
	bool xd;      /* XD = 1 in some entry (only with NX in force) */
	unsigned pkey;
};
void orc_rights_init(struct orc_rights *rt);
void orc_rights_add(const struct orc_x86_rules *r, struct orc_rights *rt, unsigned level,
		    uint64_t e, bool leaf);

/* The access as SDM 4.6.1 classifies it. */
struct orc_access {
	enum access_type type;
	bool user;      /* CPL = 3 and not an implicit supervisor access */
	bool implicit;
	bool wp, smep, smap, ac;
	uint32_t pkru;
};

/*
 * SDM 4.6 / 4.7: 0 if the rights allow the access, else the page-fault
 * error code (P, W/R, U/S, I/D, PK).
 */
uint32_t orc_access_fault(const struct orc_x86_rules *r, const struct orc_rights *rt,
			  const struct orc_access *a);
/* Error code of a fault met during the walk (not present / reserved bit). */
uint32_t orc_walk_fault(const struct orc_x86_rules *r, const struct orc_access *a, bool rsvd);

/* ---- EPT paging-structure entries (rules_ept.c) ---- */

struct orc_ept_rules {
	unsigned maxphyaddr;
	bool xonly; /* execute-only translations supported */
	bool mbec;  /* mode-based execute control */
	bool gb1;   /* 1-GByte pages */
};

enum entry_kind orc_ept_entry_kind(const struct orc_ept_rules *r, unsigned level, uint64_t e);

/* ---- one access (rules.c) ---- */

/*
 * The expected outcome of the case: fills *e. Returns false if the case is
 * not one the oracle can judge (a builder/enumerator inconsistency).
 */
bool rules_expect(const struct conf_case *c, struct conf_expect *e);

/* Bit position covered by one entry at `level` (12, 21, 30, 39, 48). */
static inline unsigned conf_cover(unsigned level)
{
	return 12 + 9 * (level - 1);
}

#endif
