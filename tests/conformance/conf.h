/*
 * conf.h - types shared by the conformance suite: the specification of one
 * case (what the enumerators vary), the case as built in memory (the
 * paging-structure entries written, as records), and the expected outcome
 * computed by the oracle (rules.c).
 *
 * The oracle never reads host memory and never calls the code under test:
 * it sees the entries of a case as records, found by their place in the
 * radix tree (level and the address bits above the level), exactly as the
 * manuals describe the walk.
 */
#ifndef NESTMMU_CONF_CONF_H
#define NESTMMU_CONF_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/cpu.h"
#include "arch/walk2d.h"
#include "arch/x86.h"

#define CONF_MAX_REC 128
#define CONF_NO_REC  (-1)

/* Targets of the nested dimension: guest-physical pages it translates. */
#define TGT_DATA 0 /* the page of the final guest-physical address */
/* 1..5: the guest table holding the level-L entries (TGT_TABLE(L) = L) */
#define TGT_NONE (-1)

/* What the enumerators vary. Builder input. */
struct conf_spec {
	const char *sub; /* sub-enumeration name, for reports */

	/* CPU (the guest's) */
	enum cpu_vendor vendor;
	unsigned maxphyaddr;
	struct cpu_features feat;
	uint64_t cr0, cr4, efer, rflags;
	uint32_t pkru;
	unsigned cpl;

	/* access */
	uint64_t la;
	enum access_type acc;
	bool implicit;

	/* guest tables: PAGING_NONE means CR0.PG = 0 */
	enum paging_mode mode;
	unsigned gmap;         /* level whose entry maps the data page (1 = 4K PTE) */
	uint64_t gflags[6];    /* non-address content of the entry at each level */
	uint64_t gxor[6];      /* bits flipped in the final value (may hit address bits) */
	uint64_t pdpte_other;  /* PAE: value of the PDPTEs not used by la (0: not present) */
	int pdpte_other_idx;   /* PAE: -1 all others get pdpte_other, else only that index */

	/*
	 * compact layout: every guest table and the data page in one region
	 * (tables and a 4K data page in one 2 MiB page), so that nested
	 * entries (and large nested leaves) are shared by several walks
	 */
	bool compact;

	/* nested */
	enum nested_mode nested;
	unsigned nlev;         /* 4 or 5 */
	struct ept_caps caps;  /* EPT */
	bool ept_ad;           /* EPTP bit 6 */
	uint64_t eptp_xor;     /* bits flipped in the EPTP as built */
	uint64_t nefer;        /* NPT: host EFER */
	unsigned data_nleaf;   /* nested leaf level of the data page (1, 2, 3) */
	unsigned table_nleaf;  /* nested leaf level of guest table pages */
	uint64_t nset_all;     /* bits set in every nested entry (e.g. A/D preset) */
	/* one nested entry changed: the level-ov_level entry on ov_target's path */
	int ov_target;         /* TGT_NONE, TGT_DATA or a guest table level */
	unsigned ov_level;
	uint64_t ov_clear, ov_set, ov_xor;
};

/* One paging-structure entry written to memory. */
struct conf_rec {
	uint8_t dim;       /* 0 guest, 1 nested */
	uint8_t level;
	uint8_t size;      /* 4 or 8 bytes */
	int8_t pdpte_idx;  /* guest PAE PDPTE index, -1 otherwise */
	bool on_path;      /* guest: the entry the walk of la uses */
	uint64_t key;      /* nested: gpa >> cover(level) (the entry's identity) */
	uint64_t addr;     /* guest: gpa of the entry; nested: hpa */
	uint64_t hpa;      /* where it is in host memory */
	uint64_t val;      /* value written for the case */
};

/* The case as built. Oracle input. */
struct conf_case {
	const struct conf_spec *spec;
	struct hw_config cfg;    /* everything but cfg.mem */
	enum paging_mode mode;
	unsigned gtop;           /* root level of the guest walk (0: paging off) */
	unsigned gmap;
	uint64_t gtable[6];      /* gpa of the table holding level-L entries */
	uint64_t pdpt_base;      /* PAE: PDPT address from CR3 (32-byte aligned) */
	uint64_t data_gpa;       /* base of the guest page mapped at gmap */
	int grec[6];             /* record of the guest entry at level L on the path */
	int pdpte_rec[4];        /* PAE: the four PDPTEs */
	unsigned nlev;           /* 0: no nesting */
	uint64_t hxor;           /* nested mapping intended: hpa = gpa ^ hxor */
	unsigned nrec;
	struct conf_rec rec[CONF_MAX_REC];
	/* nested records by level, for the oracle's look-up by radix position */
	uint8_t nby[6][16];
	uint8_t nbyn[6];
};

/* One acceptable result. */
struct conf_expect {
	enum xlate_outcome outcome;
	uint64_t gpa, hpa, page_size;
	unsigned refs;
	unsigned ad_writes;
	unsigned leaf_level;     /* guest leaf found by the oracle (OK only) */
	uint32_t error_code;
	uint64_t cr2;
	uint64_t qual;           /* EPT violation: bits 0-8 */
	uint64_t fault_gpa;
	uint64_t gla;
	bool gla_valid;
	uint64_t exitinfo1, exitinfo2;
	bool init_fail;          /* the failure comes from hw_mmu_init */
	const char *why;         /* the rule that decided, with its manual section */
	uint64_t after[CONF_MAX_REC]; /* every record's value after the access */
};

#endif
