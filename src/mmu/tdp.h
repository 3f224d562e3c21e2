/*
 * tdp.h - the TDP MMU: the EPT or NPT tables that map a guest's physical
 * space (gpa) to frames of the hypervisor's own space (hpa at L0), built
 * lazily on EPT violations / #NPF (seed 002: as shadow tables of a guest
 * running without paging).
 *
 * The engine reaches its tables only through the memory port (mem_port.h)
 * and learns the gfn -> frame map only from the memory slots (memslot.h);
 * nothing here assumes it runs at L0 (counter level and page-table kind are
 * configuration).
 *
 * Rules (the tests' expected values follow from them):
 *
 *  Fault (tdp_page_fault), gpa -> gfn:
 *   - gfn outside every slot, or beyond the guest-physical space:
 *     RET_PF_ERROR ("outside every memory slot"). The VM model declares
 *     its MMIO explicitly (MMIO slots), so an access to no slot at all is
 *     a broken configuration, not a device. Nothing is installed.
 *   - gfn in an MMIO slot: RET_PF_EMULATE, emulate_gpa = gpa. Nothing is
 *     installed (no MMIO-caching entries): every access to the hole exits.
 *   - the tables already allow the access: RET_PF_SPURIOUS, nothing changes.
 *   - write to a read-only slot: RET_PF_EMULATE (emulate_gpa = gpa),
 *     nothing installed (reads install a leaf without W).
 *   - write to a write-tracked gfn (tdp_track_write): every registered
 *     tracker is called with (gpa, access), then RET_PF_EMULATE; nothing
 *     installed.
 *   - otherwise a leaf is installed and RET_PF_FIXED returned. Its size is
 *     the largest of 1 GiB / 2 MiB / 4 KiB that is <= the configured
 *     max_level, for which memslot_run_fits() holds (the aligned run lies
 *     in the slot and is backed as one run) and which contains no tracked
 *     gfn; 4 KiB in a slot that logs dirty pages. The frames come from
 *     memslots_gfn_to_hfn() of the run's first gfn (allocated on first
 *     touch), so a leaf only ever maps frames the slot owns.
 *   - Leaf rights: EPT: R and X (XU too with ept_mbec), W unless the slot
 *     is read-only, a gfn it maps is tracked, or the slot logs dirty pages
 *     by write protection and the fault is not a write; memory type WB
 *     with IPAT=1 (guest PAT ignored, as KVM does for RAM without
 *     non-coherent DMA). NPT: P and U/S, R/W as above, NX never.
 *     A/D flags are left clear: the hardware sets them on the retried
 *     access. Non-leaf entries grant everything (EPT R/W/X(+XU); NPT
 *     P/RW/US).
 *   - A large leaf met above the chosen level is split (512 leaves of the
 *     next size with the same frames, rights and A/D); a table met at the
 *     chosen level is replaced by the leaf (its subtree freed). Both ask
 *     for a TLB flush.
 *   - Out of frames for the page or of table pages: RET_PF_ERROR. Tables
 *     allocated before the failure stay (empty; the next fault uses them).
 *     A port answering MEM_RETRY too often, or an entry changed under the
 *     handler: RET_PF_RETRY.
 *   - The access needed is f->access, ORed with what the exit information
 *     reports when present (EPT qualification bits 0-2; #NPF EXITINFO1
 *     W and I/D), so an EPT A/D guest-table read (a write) is handled.
 *
 *  TLB flushes: every operation that removes or lowers a translation (zap,
 *  write protection, clearing D, split, replacing a table) sets a pending
 *  flag instead of flushing: the vCPU layer calls tdp_flush_take() before
 *  entering the guest and, if it returns true, issues INVEPT single-context
 *  for tdp_root_eptp() (EPT) or flushes the guest's ASID (NPT, TLB_CONTROL).
 *  Operations that only add rights never set it (a stale, narrower TLB
 *  entry faults and is dropped by the hardware). Aging does not set it
 *  (as KVM's clear_young): a translation cached in a TLB may keep a page
 *  looking old until it is evicted.
 *
 *  Zap: tdp_zap_range removes every leaf overlapping the range (a large
 *  leaf straddling the range's edge is removed whole) and frees table
 *  pages that become empty (the root is kept). Slot notifications zap:
 *  remove and move (the old range, before the frames go back), a change of
 *  READONLY (the range). LOG_DIRTY changes call tdp_dirty_log_enable/
 *  disable; a dirty-log clear re-protects the cleared pages (WP mode).
 *
 *  Dirty logging (the memslot's MEMSLOT_F_LOG_DIRTY is the switch; the
 *  memslot dirty log is the record):
 *   - TDP_DIRTY_WP: enabling splits the slot's large leaves to 4 KiB and
 *     removes W from every leaf. A write fault marks the page dirty
 *     (memslots_mark_dirty) and installs W; read faults map without W, so
 *     only pages written are logged. Clearing bits of the log
 *     (memslots_dirty_clear) removes W from those pages again. Harvest has
 *     nothing to collect (the log is exact at every fault) and returns 0.
 *     Read the log and clear it without running the guest in between.
 *   - TDP_DIRTY_DBIT (EPT with A/D, or NPT): enabling splits large leaves
 *     and clears D on every leaf; leaves stay writable. tdp_dirty_log_harvest
 *     records every leaf with D=1 in the log, clears its D and returns the
 *     number of pages recorded (a flush is then pending). A leaf with D=1
 *     of a logging slot that is zapped or replaced is recorded first, so no
 *     write is lost between harvests.
 *   - disabling zaps the slot's range when it could hold large leaves (so
 *     they come back), else leaves the 4 KiB leaves (W returns on the next
 *     write fault).
 *
 *  Aging (by leaf A flags): tdp_test_age reports whether a leaf overlapping
 *  the range has A set; tdp_age clears A and reports whether any was set.
 *  EPT without A/D has no A flags: there a present leaf counts as young,
 *  tdp_test_age reports whether one is present and tdp_age zaps them (the
 *  next access refaults and makes the page young again; a flush is pending).
 *
 *  Page tracking: tdp_track_write(gfn, true) counts a tracking reference
 *  (several users may track a gfn); while the count is > 0 the gfn is
 *  mapped only by a 4 KiB leaf without W (a large leaf over it is split at
 *  once, W removed at once), and a write fault calls every registered
 *  tracker, then returns RET_PF_EMULATE. Untracking drops a reference; W
 *  comes back on the next write fault.
 *
 *  Directed maps (tdp_map, tdp_unmap, tdp_lookup): the owner installs an
 *  explicit mapping instead of one derived from the slots - nested TDP's
 *  EPT02/NPT02 (src/mmu/nested_tdp*) and paravirtual nested paging.
 *   - An MMU created with slots == NULL is "directed only": it never maps
 *     anything by itself; tdp_page_fault returns RET_PF_ERROR (the owner
 *     handles the exit), dirty logging returns TDP_EINVAL (harvest) or 0,
 *     and there is no slot notifier. Page tracking, aging, zaps and the
 *     flush rules work as for any MMU. Directed maps are allowed in a
 *     slot-backed MMU too; keeping them consistent with the slots is then
 *     the caller's business (a slot change zaps them like any leaf).
 *   - tdp_map(gfn, hfn, level, rights): gfn and hfn aligned to the leaf's
 *     size (level 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB, <= max_level), the
 *     frames below maxphyaddr. rights are RIGHT_R/W/X/XU (pt_format.h):
 *     EPT: R -> bit 0, W -> bit 1, X -> bit 2 (XS with MBEC), XU -> bit 10
 *     (MBEC only, ignored otherwise); W without R is refused (it would be
 *     a misconfiguration), so is X without R unless ept_xonly, and so are
 *     no rights at all (use tdp_unmap). NPT: R is required (P), W -> R/W,
 *     X -> NX clear (else NX set), U/S always set (every nested access is
 *     a user access, APM 15.25.5); XU is ignored. RIGHT_U is accepted and
 *     ignored. Memory type WB with IPAT (EPT), as for faults.
 *     The leaf REPLACES whatever mapped [gfn, gfn + 2^(9(level-1))): a
 *     table there is freed with its subtree, a larger leaf above is split
 *     first (the rest of it stays mapped as it was). A/D: clear, unless the
 *     previous leaf at that level mapped the same frame (then kept).
 *     Tracking does not restrict directed maps (the caller decides W).
 *     Returns TDP_OK; TDP_EINVAL (bad level, alignment, frame, rights;
 *     nothing changed); TDP_ENOMEM (no table page; tables allocated on the
 *     way stay, empty); TDP_EPORT. A mapping lowered or replaced makes a
 *     flush pending (the usual rule); a new one or more rights do not.
 *   - tdp_unmap(gfn, npages): removes exactly [gfn, gfn + npages): a large
 *     leaf straddling an edge is split and only its part inside removed
 *     (unlike tdp_zap_range, which removes it whole; in a directed-only
 *     MMU nothing would map the rest back). Empty tables are freed (the
 *     root stays). Returns the leaves removed (>= 0) or TDP_ENOMEM when a
 *     split had no table page (that leaf is then left whole) / TDP_EPORT.
 *   - tdp_lookup(gfn): the leaf mapping gfn, if any (level, first gfn and
 *     frame of the leaf, rights as RIGHT_R/W/X/XU, A/D, raw entry).
 *
 * Lifetimes: the slots and the port must outlive the MMU; destroy the MMU
 * before the slots (memslots_destroy sends no notification).
 */
#ifndef NESTMMU_MMU_TDP_H
#define NESTMMU_MMU_TDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/walk2d.h"
#include "mem/mem_port.h"
#include "mem/memslot.h"
#include "mmu/mmu.h"
#include "sim/counters.h"

enum tdp_kind {
	TDP_EPT, /* Intel extended page tables */
	TDP_NPT, /* AMD nested page tables (long-mode host format) */
};

enum tdp_dirty_mode {
	TDP_DIRTY_WP,   /* write protection: a write fault logs the page */
	TDP_DIRTY_DBIT, /* dirty flags, harvested (EPT with A/D, or NPT) */
};

struct tdp_config {
	enum tdp_kind kind;
	unsigned levels;        /* 4 or 5 */
	unsigned max_level;     /* largest leaf: 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB */
	bool ept_ad;            /* EPT: EPTP enables accessed/dirty flags (NPT always has them) */
	bool ept_mbec;          /* EPT: the vCPU uses MBEC: X and XU (bit 10) on every entry */
	bool ept_xonly;         /* EPT: the hardware supports execute-only leaves (directed maps only) */
	unsigned maxphyaddr;    /* 32..52: width of the port's addresses in entries */
	enum tdp_dirty_mode dirty_mode;
	struct mem_port *port;  /* the only way to the tables */
	struct memslots *slots; /* the guest's physical space; NULL: directed maps only */
	struct counters *counters; /* NULL: not counted */
	enum cnt_level cnt_level;  /* level of the hypervisor running this MMU (tdp_* counters) */
	enum cnt_pt cnt_pt;        /* kind of its table pages (pt_* counters): CNT_PT_EPT01 at L0 */
};

/* Return codes of the int functions below. */
enum tdp_status {
	TDP_OK = 0,
	TDP_EINVAL = -1, /* bad argument (untracking a gfn that is not tracked, ...) */
	TDP_ENOENT = -2, /* no such slot or handle */
	TDP_ENOMEM = -3, /* no table page left, or the simulator is out of memory */
	TDP_EPORT = -4,  /* the memory port failed (or kept answering retry) */
};

/* What the MMU did, beyond the shared counters. */
struct tdp_stats {
	uint64_t faults[RET_PF_ERROR + 1];         /* by handler result */
	uint64_t leaves_installed[PT_MAX_LEVELS + 1]; /* by level */
	uint64_t entries_set;     /* entries written with a new value (as tdp_entries_set) */
	uint64_t entries_zapped;  /* present entries removed, incl. those of freed tables */
	uint64_t tables_allocated, tables_freed; /* incl. the root; live = allocated - freed */
	uint64_t splits;          /* large leaves split */
	uint64_t flush_requests;  /* times the pending-flush flag was raised */
	uint64_t dirty_logged;    /* pages recorded in a dirty log (write fault or harvest) */
	uint64_t tracker_calls;   /* tracker callbacks made */
	uint64_t port_errors;     /* port calls that failed for good */
};

struct tdp_mmu;

/* NULL if the configuration is usable, else why not. */
const char *tdp_config_invalid(const struct tdp_config *cfg);

/*
 * Allocates the root table and registers the memslot notifier. NULL on
 * failure, with *why (if not NULL) set to a message.
 */
struct tdp_mmu *tdp_create(const struct tdp_config *cfg, const char **why);
/* Frees every table page (root included) and unregisters the notifier. */
void tdp_destroy(struct tdp_mmu *t);

const struct tdp_config *tdp_config(const struct tdp_mmu *t);
const struct tdp_stats *tdp_get_stats(const struct tdp_mmu *t);
/* Table pages live now (root included). */
uint64_t tdp_tables_live(const struct tdp_mmu *t);
/*
 * The tables read from memory against the guest's slots (tdp_check.c
 * states the rules: every leaf maps the guest's own backing, W never over
 * a read-only slot, a tracked page or a clean page of a logging slot).
 * 0, or -1 with the first violation in msg.
 */
int tdp_check(const struct tdp_mmu *t, char *msg, size_t len);

/* ---- what the vCPU programs ---- */

/* Address of the root table in the port's space. */
uint64_t tdp_root_pa(const struct tdp_mmu *t);
/*
 * EPT: the EPTP: root | memory type WB (6) | walk length - 1 in bits 5:3
 * (3 for 4 levels, 4 for 5) | bit 6 when ept_ad. 0 for an NPT MMU.
 */
uint64_t tdp_root_eptp(const struct tdp_mmu *t);
/* NPT: the nCR3 (the root address; PWT/PCD clear). 0 for an EPT MMU. */
uint64_t tdp_root_ncr3(const struct tdp_mmu *t);
/*
 * Fills the nested part of a hardware configuration: nested mode, EPTP
 * (and the EPT capabilities the tables rely on: 5-level walk, A/D, 1 GiB
 * pages, MBEC, execute-only, ORed into cfg->ept_caps) or nCR3 with the host CR4 (PAE,
 * LA57 for 5 levels) and EFER (LME, LMA, NXE) the NPT format needs.
 */
void tdp_hw_program(const struct tdp_mmu *t, struct hw_config *cfg);

/* ---- faults ---- */

/*
 * Fills a struct mmu_fault (kind MMU_FAULT_TDP) from a hardware outcome
 * XO_EPT_VIOLATION or XO_NPF: gpa, access (write > fetch > read from the
 * qualification / EXITINFO1), exit information, linear address when valid.
 * False for any other outcome.
 */
bool tdp_fault_from_exit(struct mmu_fault *f, const struct xlate_result *r);

/* Handles one EPT violation / #NPF (rules above). */
enum ret_pf tdp_page_fault(struct tdp_mmu *t, struct mmu_fault *f);

/* ---- zapping and flushes ---- */

/* Removes the mappings of [gfn, gfn + npages); returns the leaves removed. */
uint64_t tdp_zap_range(struct tdp_mmu *t, uint64_t gfn, uint64_t npages);
/* Removes every mapping (the root stays, so the EPTP/nCR3 is unchanged). */
uint64_t tdp_zap_all(struct tdp_mmu *t);

/* Whether a TLB flush is pending (see the rules above). */
bool tdp_flush_pending(const struct tdp_mmu *t);
/* Returns the pending flag and clears it: the caller then flushes. */
bool tdp_flush_take(struct tdp_mmu *t);

/* ---- dirty logging ---- */

/*
 * Arms dirty logging on the slot's mappings (WP: split and remove W; DBIT:
 * split and clear D). Called by the notifier when LOG_DIRTY is turned on.
 */
int tdp_dirty_log_enable(struct tdp_mmu *t, uint32_t slot_id);
/* Called by the notifier when LOG_DIRTY is turned off (see the rules). */
int tdp_dirty_log_disable(struct tdp_mmu *t, uint32_t slot_id);
/*
 * DBIT: moves the D flags of the slot's leaves into the slot's dirty log
 * and clears them; returns the number of pages recorded (>= 0) or a
 * negative enum tdp_status. WP: returns 0.
 */
int64_t tdp_dirty_log_harvest(struct tdp_mmu *t, uint32_t slot_id);
/*
 * WP: removes W from the leaves of [gfn, gfn + npages) of a logging slot
 * (what a dirty-log clear does through the notifier); returns the leaves
 * changed. DBIT: nothing, 0.
 */
uint64_t tdp_dirty_log_protect(struct tdp_mmu *t, uint64_t gfn, uint64_t npages);

/* ---- aging ---- */

bool tdp_test_age(struct tdp_mmu *t, uint64_t gfn, uint64_t npages);
bool tdp_age(struct tdp_mmu *t, uint64_t gfn, uint64_t npages);

/* ---- directed maps (rules above) ---- */

/* A leaf found by tdp_lookup. */
struct tdp_mapping {
	unsigned level;   /* 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB */
	uint64_t gfn;     /* first gfn the leaf maps */
	uint64_t hfn;     /* its first frame */
	unsigned rights;  /* RIGHT_R / W / X / XU */
	bool accessed, dirty; /* A/D of the leaf (false when the format has none) */
	uint64_t entry;   /* the raw entry */
};

int tdp_map(struct tdp_mmu *t, uint64_t gfn, uint64_t hfn, unsigned level, unsigned rights);
int64_t tdp_unmap(struct tdp_mmu *t, uint64_t gfn, uint64_t npages);
bool tdp_lookup(struct tdp_mmu *t, uint64_t gfn, struct tdp_mapping *m);

/* ---- page tracking ---- */

/* Called on a write fault to a tracked gfn, before RET_PF_EMULATE. */
typedef void (*tdp_track_fn)(void *ctx, uint64_t gpa, enum access_type access);

#define TDP_TRACK_MAX_USERS 8

/* Registers a tracker; returns a handle >= 0, or TDP_ENOMEM when full. */
int tdp_track_register(struct tdp_mmu *t, tdp_track_fn fn, void *ctx);
int tdp_track_unregister(struct tdp_mmu *t, int handle);
/*
 * on: adds a tracking reference to gfn (write-protecting it at once);
 * off: drops one (TDP_EINVAL if there is none).
 */
int tdp_track_write(struct tdp_mmu *t, uint64_t gfn, bool on);
/* Tracking references held on gfn. */
unsigned tdp_track_count(const struct tdp_mmu *t, uint64_t gfn);

#endif
