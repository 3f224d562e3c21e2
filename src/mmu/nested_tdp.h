/*
 * nested_tdp.h - nested TDP at L0: EPT-on-EPT and NPT-on-NPT (seeds 000,
 * 001). While L2 runs, the hardware walks EPT02 (gpa2 -> hpa), which L0
 * builds lazily as the shadow of L1's EPT12 (gpa2 -> gpa1) composed with
 * L0's map of L1's memory (L1's memory slots: gpa1 -> hfn). NPT: NPT12 /
 * NPT02 alike; "EPT12" below means either.
 *
 * EPT12 is walked with the hardware layer's generic walker (walk_tables,
 * walk_set_ad) in the 12 context's format, derived by hw_mmu_init from
 * EPTP12 (or nCR3_12 with L1's CR4/EFER) and the EPT capabilities L0 offers
 * L1; every EPT12 table address is an L1 gpa, read through L1's memory
 * (guestmem: L1's slots + L0's port) - seed 000's translate_gpa.
 *
 * Rules (the tests' expected values come from the hardware layer over
 * EPT12, never from this code):
 *
 *  Fault (ntdp_page_fault), given the hardware's EPT violation / #NPF of L2
 *  against EPT02 (struct xlate_result; the access is its qualification bits
 *  0-2 / EXITINFO1 W and I/D; bits 7-8 / 32-33 and the linear address are
 *  kept):
 *   1. EPT12 is walked for gpa2 (sw_walks / sw_walk_refs at L0).
 *      Not present, or its ANDed rights refuse the access (the hardware's
 *      nested rule: R/W/X as asked; NPT: U too, every nested access being a
 *      user access): RET_PF_INJECT with mmu_fault.inject = the EPT
 *      violation L1 must see: qualification bits 0-2 and 7-8 from the
 *      exit, bits 3-5 the EPT12 rights (0 when not present), guest-physical
 *      address gpa2, linear address when bit 7 is set (SDM Vol. 3C 28.2.1,
 *      Table 28-7) - computed from the walk, never from a #PF error code
 *      (seed 001). A reserved bit / misconfigured entry: EPT misconfiguration
 *      (fault_gpa = gpa2). NPT: #NPF with EXITINFO1 = U | P (unless not
 *      present) | W (from the exit) | RSVD | I/D (a fetch, when L1's EFER.NXE
 *      or CR4.SMEP) | bit 32 or 33 (from the exit), EXITINFO2 = gpa2
 *      (APM 15.25.6); AMD has no misconfiguration.
 *   2. Allowed: A (and D for a write) are set in the EPT12 entries walked,
 *      as the hardware would (walk_set_ad, all or nothing; SDM Vol. 3C
 *      29.3.5 "Accessed and Dirty Flags for EPT": a guest paging-structure
 *      access counts as a write when EPTP bit 6 is set; NPT: APM 15.25.5,
 *      guest table accesses are writes). EPT without A/D: nothing set.
 *   3. The tables walked are recorded (reverse map, below) and become
 *      write-tracked before anything is installed.
 *   4. gpa1 -> L1 slot: outside every slot -> RET_PF_ERROR; MMIO slot ->
 *      RET_PF_EMULATE (emulate_gpa = gpa1; nothing installed); a write to a
 *      read-only slot or to a page holding EPT12 tables (ntdp_is_table) ->
 *      RET_PF_EMULATE (gpa1; the caller emulates the L2 instruction and
 *      delivers an EPT12 store with ntdp_ept12_write).
 *   5. Otherwise an EPT02 leaf for gpa2 is installed (tdp_map), RET_PF_FIXED:
 *      frame = the backing of gpa1 (allocated on first touch); rights =
 *      EPT12's ANDed rights, without W when the slot is read-only, the leaf
 *      would cover a page holding EPT12 tables, the slot logs dirty pages
 *      and the access is not a write, or EPT12 has A/D and its leaf D is
 *      clear (so the first write exits to L0, which sets D: step 2);
 *      size = the largest of EPT12's leaf size, L0's max_level and the L1
 *      backing run (memslot_run_fits) - 4 KiB in a logging slot - with no
 *      EPT12 table page under a writable large leaf. A write to a logging
 *      slot marks gpa1 dirty.
 *  EPT02 is configured like EPT12 where the hardware's behaviour depends on
 *  it: EPT02 has A/D exactly when EPTP12 has (so guest-table reads are
 *  writes in both, and the exit's access bits are those L1 must see), the
 *  same walk length, execute-only when L1 was offered it. So EPT02 never
 *  allows what EPT12 refuses, and an L2 access under EPT02 ends, after
 *  the faults fixed here, as the same access under EPT12 would.
 *
 *  Invariant: an EPT02 leaf is present only after the A flags of its EPT12
 *  path were set, and writable only after the EPT12 leaf's D was set.
 *
 *  Write tracking and the reverse map: a "position" is (root, level, first
 *  gpa2) where an EPT12 table was reached; one table page may have several
 *  (aliases, several roots, several levels). Each L1 gfn holding at least
 *  one position is "a table": tracked. Tracking is reported (a) by
 *  tdp_track_write(cfg.ept01, gfn, on/off) when cfg.ept01 is set (L0's
 *  EPT01 then write-protects it and exits on L1's stores), and (b) by
 *  cfg.track(ctx, gfn, on/off) when set. When a gfn becomes a table, every
 *  EPT02 leaf that maps it (a reverse map of installed leaves, checked
 *  against the EPT02 contents) is zapped, so no L2 mapping keeps W on it.
 *  ntdp_ept12_write (the emulated L1 store) writes L1's memory, then for
 *  each position of the page zaps in that root the gpa2 span of the
 *  written entry (if its 8 bytes changed) and forgets the positions below
 *  it; pages left with no position are untracked.
 *
 *  Roots: one EPT02 (a directed-only struct tdp_mmu) per EPTP12 value (NPT:
 *  per nCR3_12, CR4, EFER), in a cache of cfg.roots entries with LRU
 *  replacement, like KVM's prev_roots. ntdp_load_root makes one current.
 *  A root being freed forgets its positions.
 *
 *  Flushes: anything that zaps or lowers an EPT02 entry, and a new root
 *  (its page may be a freed root's), leaves that root's EPTP02 pending:
 *  ntdp_flush_take lists them for the vCPU layer (INVEPT single-context per
 *  EPTP02 / the ASID on AMD) before L2 runs. INVEPT by L1
 *  (ntdp_invept): EPT12 being write-tracked, EPT02 is already in sync; only
 *  the hardware's TLB entries tagged by the EPT02 root(s) of the EPTP12
 *  (single-context) or of every cached root (global) must go: returned.
 *
 *  L1 memory slot changes: removing or moving a slot resets everything
 *  (every EPT02 zapped, every position forgotten and untracked); READONLY
 *  or LOG_DIRTY changes and dirty-log clears zap every EPT02 (positions
 *  kept). Coarse, documented in docs/nested-tdp.md.
 *
 * Not supported (ntdp_create refuses): MBEC in EPT12 (a fetch's XU/XS
 * choice needs the guest's U/S, which the exit does not carry).
 * Lifetimes: the port, the slots and ept01 must outlive the component.
 */
#ifndef NESTMMU_MMU_NESTED_TDP_H
#define NESTMMU_MMU_NESTED_TDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/walk2d.h"
#include "mem/mem_port.h"
#include "mem/memslot.h"
#include "mmu/mmu.h"
#include "mmu/tdp.h"
#include "sim/counters.h"

#define NTDP_MAX_ROOTS 16

/* Told when an L1 gfn starts (on) or stops (off) holding EPT12 tables. */
typedef void (*ntdp_track_fn)(void *ctx, uint64_t gfn1, bool on);

struct ntdp_config {
	enum tdp_kind kind;        /* TDP_EPT: EPT12 -> EPT02; TDP_NPT: NPT12 -> NPT02 */
	unsigned maxphyaddr;       /* the processor's (L1 sees the same) */
	struct ept_caps ept_caps;  /* EPT capabilities L0 offers L1 (xonly, walk5, ad, gb1; mbec must be false) */
	unsigned max_level;        /* largest EPT02 leaf: 1..3 (3 needs gb1 on EPT) */
	unsigned roots;            /* EPT02 roots cached: 1..NTDP_MAX_ROOTS */
	struct mem_port *port;     /* L0's port (host memory): EPT02 tables, and L1's memory */
	struct memslots *l1_slots; /* L1's physical memory */
	struct tdp_mmu *ept01;     /* optional: L0's TDP MMU of L1, tracks EPT12 pages */
	ntdp_track_fn track;       /* optional */
	void *track_ctx;
	struct counters *counters; /* NULL: not counted */
};

/* What identifies an EPT12 / NPT12 (the key of the root cache). */
struct ntdp_root12 {
	uint64_t eptp12;           /* EPT: EPTP from VMCS12 */
	uint64_t ncr3;             /* NPT: nCR3 from VMCB12 */
	uint64_t ncr4, nefer;      /* NPT: L1's CR4 (PAE, LA57, SMEP) and EFER (LMA, NXE) at VMRUN */
};

enum ntdp_status {
	NTDP_OK = 0,
	NTDP_EINVAL = -1,  /* bad argument; an EPTP12 the hardware would refuse */
	NTDP_ENOMEM = -3,
	NTDP_EMEM = -4,    /* L1's memory refused the access (outside, MMIO, read-only) */
};

enum ntdp_invept_type {
	NTDP_INVEPT_SINGLE = 1, /* INVEPT type 1: one EPTP12 */
	NTDP_INVEPT_GLOBAL = 2, /* INVEPT type 2: all */
};

struct ntdp_stats {
	uint64_t faults[RET_PF_ERROR + 1]; /* by result */
	uint64_t reflected_violation, reflected_misconfig, reflected_npf;
	uint64_t leaves_installed[PT_MAX_LEVELS + 1];
	uint64_t ept12_walks, ept12_refs, ept12_ad_writes;
	uint64_t ept12_writes, ept12_writes_zapping; /* writes delivered; those that zapped */
	uint64_t tables_tracked, tables_untracked;
	uint64_t data_zaps;        /* EPT02 leaves zapped because their page became a table */
	uint64_t roots_created, roots_evicted, root_hits;
	uint64_t resets;           /* slot changes that reset everything */
};

struct ntdp;

const char *ntdp_config_invalid(const struct ntdp_config *cfg);
struct ntdp *ntdp_create(const struct ntdp_config *cfg, const char **why);
/* Frees every EPT02, untracks every table page. */
void ntdp_destroy(struct ntdp *n);

/*
 * Finds or creates the EPT02 root for r12 and makes it current (L1's
 * VMLAUNCH/VMRESUME, VMRUN). NTDP_EINVAL with *fail (if not NULL) =
 * XO_VMENTRY_FAIL and the reason when the hardware would refuse the EPTP12
 * (SDM 26.2.1.1 checks, against cfg.ept_caps) or the nCR3/CR4/EFER;
 * NTDP_ENOMEM. On success the root is current.
 */
int ntdp_load_root(struct ntdp *n, const struct ntdp_root12 *r12, struct xlate_result *fail);
/* Whether a root is current. */
bool ntdp_has_root(const struct ntdp *n);
/* The current EPT02 (for tests and counters): NULL without a root. */
struct tdp_mmu *ntdp_current_tdp(struct ntdp *n);
/*
 * Fills the nested part of L2's hardware configuration with the current
 * root: EPT (EPTP02 and capabilities) or NPT (nCR3_02, host CR4/EFER).
 */
void ntdp_hw_program(const struct ntdp *n, struct hw_config *cfg);
/* EPTP02 (EPT) or nCR3_02 (NPT) of the current root; 0 without one. */
uint64_t ntdp_root02(const struct ntdp *n);

/*
 * Handles one EPT violation / #NPF of L2 against the current EPT02
 * (rules above). f is filled: kind, access, gpa (gpa2), gva, exit
 * information; gfn (gfn1), hfn and level when installed; inject, emulate_gpa
 * (gpa1) or error. An exit of another kind is RET_PF_ERROR.
 */
enum ret_pf ntdp_page_fault(struct ntdp *n, const struct xlate_result *exit, struct mmu_fault *f);

/* Whether L1 gfn holds EPT12 tables (is write-tracked by this component). */
bool ntdp_is_table(const struct ntdp *n, uint64_t gfn1);

/*
 * L1's store of `size` (4 or 8) bytes at gpa1 (naturally aligned), as the
 * emulator delivers it: written to L1's memory (guestmem: allocation,
 * dirty log), then EPT02 updated as above when gpa1 lies in a table page.
 * NTDP_OK, NTDP_EINVAL (size/alignment), NTDP_EMEM, NTDP_ENOMEM.
 */
int ntdp_ept12_write(struct ntdp *n, uint64_t gpa1, unsigned size, uint64_t val);

/*
 * INVEPT by L1: stores in roots02[] (up to cap) the EPTP02s (nCR3_02s)
 * whose hardware TLB entries must be flushed and returns how many there
 * are: the root of eptp12 if cached (single-context), every cached root
 * (global). No EPT02 entry changes. NPT has no INVEPT; the same call with
 * eptp12 = nCR3_12 names the NPT02 roots of that nCR3 (for L1's TLB_CONTROL
 * flushes, which the vCPU layer maps to L2's ASID).
 */
unsigned ntdp_invept(struct ntdp *n, enum ntdp_invept_type type, uint64_t eptp12,
		     uint64_t *roots02, unsigned cap);

/*
 * The EPTP02s (nCR3_02s) with a pending flush (zaps, lowered rights, new
 * roots), clearing them: the vCPU layer flushes them before running L2.
 * Returns how many (stores up to cap).
 */
unsigned ntdp_flush_take(struct ntdp *n, uint64_t *roots02, unsigned cap);

/*
 * The isolation invariant, from the tables in memory (nested_tdp_check.c
 * states the rules): every EPT02 leaf of every cached root against EPT12
 * walked again and L1's memory slots; every EPT12 table page
 * write-protected in EPT01. 0, or -1 with the first violation in msg.
 */
int ntdp_check(struct ntdp *n, char *msg, size_t len);

/* Zaps every EPT02 (roots stay; positions and tracking stay). */
void ntdp_zap_all(struct ntdp *n);

const struct ntdp_stats *ntdp_get_stats(const struct ntdp *n);

#endif
