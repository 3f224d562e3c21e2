/*
 * shadow.h - the shadow MMU: shadow page tables (gva -> frame of the MMU's
 * port space) built from the guest's own page tables, kept in sync by
 * write-protecting the guest pages that hold those tables.
 *
 * The engine is written against its memory port (mem/mem_port.h) and the
 * guest's memory slots (mem/memslot.h): its tables live in the port's
 * space, so it runs the same at L0 (port = host memory) and later at L1
 * (port = L1 guest-physical memory). Counters go to the hypervisor level
 * and page-table kind given in the configuration; nothing assumes L0.
 *
 * What the hardware runs with (shadow_hw_regs): the guest's CR3 is
 * replaced by the shadow root, and
 *   guest paging   hardware format  CR0          CR4                       EFER
 *   none           PAE              +PE +PG +WP  PAE only                  NXE
 *   32-bit         PAE              +WP          +PAE, -PCIDE -LA57 -PKE   NXE
 *   PAE            PAE              +WP          guest's                   NXE
 *   4-level        4-level          +WP          guest's                   LME LMA NXE
 *   5-level        5-level          +WP          guest's                   LME LMA NXE
 * CR0.WP is forced on so that write protection holds for the guest kernel
 * (guest CR0.WP=0 is emulated through the page role and the fault path);
 * EFER.NXE is forced on so that a shadow entry can refuse a fetch the
 * guest would refuse (SMEP with CR0.WP=0). RFLAGS, PKRU and CPL are the
 * guest's. A PAE-format root (the 4-entry PDPT) must lie below 4 GiB of
 * the port's space (CR3 holds 32 bits in PAE mode); the PDPTE registers are
 * loaded from it at VM entry (hw_mmu_init), so re-enter after every call.
 *
 * Shadow pages are keyed by (gfn, role). For a guest table, gfn is the
 * guest frame holding it; for a "direct" page (guest paging off, or a
 * guest large page shadowed by 4 KiB entries) gfn is the first guest frame
 * of the range it maps. Shadow leaves are always 4 KiB.
 *
 * Guest A/D bits are exact: the fault path walks the guest's tables with
 * the hardware layer's walker and sets A (and D for a write) exactly as
 * the processor would; a shadow leaf is writable only once the guest leaf
 * has D set, so the first write to a clean page faults and sets it.
 *
 * Several vCPUs (SMP, cfg.nvcpus): shadow pages - the (gfn, role) hash,
 * reverse maps, unsync pages, the cap and its LRU - belong to the VM and
 * are shared by all its vCPUs; each vCPU has its own current root, root
 * cache, PAE PDPTE registers and pending TLB flush (as KVM keeps
 * kvm_mmu_page per VM and roots per vCPU). shadow_select_vcpu() names the
 * vCPU on whose behalf the following calls act; the simulator is
 * single-threaded and the hypervisor selects the vCPU at the top of every
 * entry preparation and exit handling. Two vCPUs with the same guest CR3
 * and role share the shadow pages of their roots.
 *
 * After any call, a vCPU's hardware translations of the shadow tables (its
 * TLB) may be stale where the shadow MMU removed or reduced rights - that
 * concerns every vCPU, since the pages are shared: the flush is requested
 * on all of them (KVM's kvm_flush_remote_tlbs) - or where the selected
 * vCPU switched to a root of another role (the TLB is tagged by VPID/PCID,
 * not by root: only that vCPU). shadow_tlb_flush_pending() tells the
 * selected vCPU when to flush. Shadow entries have A (and, if writable, D)
 * preset, so the hardware never writes them (nor, at L1, makes L0 trap for
 * that).
 */
#ifndef NESTMMU_MMU_SHADOW_H
#define NESTMMU_MMU_SHADOW_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/cpu.h"
#include "mem/mem_port.h"
#include "mem/memslot.h"
#include "mmu/mmu.h"
#include "sim/counters.h"

struct shadow_mmu;

/* Default number of previous roots kept besides the current one. */
#define SHADOW_ROOT_CACHE_DEFAULT 3
#define SHADOW_ROOT_CACHE_MAX 8
/* Default write-flooding threshold (emulated writes to an unused page). */
#define SHADOW_FLOOD_DEFAULT 3
/* Smallest accepted cap on shadow pages (a root path and some room). */
#define SHADOW_MIN_PAGES 16
/* Most vCPUs one shadow MMU serves. */
#define SHADOW_MAX_VCPUS 64

struct shadow_config {
	struct mem_port *port;   /* where shadow tables and guest frames live */
	struct memslots *slots;  /* the guest's gfn -> frame of the port's space */
	unsigned hw_maxphyaddr;  /* MAXPHYADDR of the processor that walks the shadow tables */
	/* accounting: whose counters, at which hypervisor level, which page kind */
	struct counters *cnt;    /* may be NULL: nothing counted */
	enum cnt_level level;    /* hypervisor level for spt_* / sw_* counters */
	enum cnt_pt pt_kind;     /* CNT_PT_SHADOW_L0 or CNT_PT_SHADOW_L1 */
	/* policy */
	uint64_t max_pages;      /* cap on shadow pages; 0: no cap */
	bool unsync;             /* leaf tables may go unsync instead of trapping writes */
	unsigned root_cache;     /* previous roots kept (0..SHADOW_ROOT_CACHE_MAX) */
	unsigned flood_threshold;/* 0: SHADOW_FLOOD_DEFAULT */
	unsigned nvcpus;         /* vCPUs of the VM, 0 means 1, at most SHADOW_MAX_VCPUS */
	/*
	 * Optional: called for every emulated write to a frame tracked with
	 * shadow_track_write (after guest memory is updated).
	 */
	void (*track_write)(void *ctx, uint64_t gpa, unsigned size, uint64_t val);
	void *track_ctx;
};

/*
 * NULL if the configuration is invalid (e.g. nvcpus > SHADOW_MAX_VCPUS) or
 * the host is out of memory. vCPU 0 is selected.
 */
struct shadow_mmu *shadow_create(const struct shadow_config *cfg);
/* Zaps everything (every vCPU's roots) and returns every table page to the port. */
void shadow_destroy(struct shadow_mmu *s);

/*
 * The vCPU (0 .. nvcpus-1) on whose behalf the following calls act: whose
 * roots and root cache shadow_hw_regs, shadow_page_fault, shadow_new_cr3,
 * shadow_ctl_changed and shadow_invlpg use, whose PAE PDPTE registers a
 * guest walk reads, whose pending flush shadow_tlb_flush_pending reports.
 * The selection stays until the next call. An index out of range is
 * ignored: the selection stays as it was and shadow_error() says so (no
 * assertion: a caller's bug must not take the simulator down). Every other
 * call acts on the shared shadow pages and is the same whichever vCPU is
 * selected, except where it says so. Single-vCPU users never call it.
 */
void shadow_select_vcpu(struct shadow_mmu *s, unsigned vcpu);
unsigned shadow_selected_vcpu(const struct shadow_mmu *s);

/*
 * The registers the hardware runs the guest with (see the table above).
 * Makes a root for the guest's current state if there is none that fits
 * (KVM's mmu_reload before VM entry). Returns 0, or -1 if no root could be
 * made (out of table pages, PAE root above 4 GiB): shadow_error() says why.
 */
int shadow_hw_regs(struct shadow_mmu *s, const struct cpu *guest, struct cpu_regs *hw);
/* The whole processor state: guest vendor and features, hw MAXPHYADDR, shadow_hw_regs. */
int shadow_hw_cpu(struct shadow_mmu *s, const struct cpu *guest, struct cpu *hw);

/*
 * A #PF intercepted while the guest ran on the shadow tables
 * (f->kind = MMU_FAULT_GUEST, gva, access, user, error_code). Walks the
 * guest's tables: a fault the guest itself takes is RET_PF_INJECT with the
 * exact #PF in f->inject; otherwise guest A/D are set and the shadow
 * entries built (RET_PF_FIXED), or RET_PF_EMULATE with f->emulate_gpa (a
 * write to a write-protected guest page table or tracked frame, a
 * read-only or MMIO slot, or a write no shadow entry can express exactly),
 * or RET_PF_ERROR with f->error. An access is implicit (supervisor) when
 * the guest's CPL is 3 and f->user is false.
 */
enum ret_pf shadow_page_fault(struct shadow_mmu *s, const struct cpu *guest, struct mmu_fault *f);
/* The same for an implicit supervisor access at any CPL (e.g. a GDT read at CPL 0). */
enum ret_pf shadow_page_fault_implicit(struct shadow_mmu *s, const struct cpu *guest,
				       struct mmu_fault *f);

/*
 * Performs a guest write of `size` (1..8) bytes of `val` at gpa (the
 * emulator's store after RET_PF_EMULATE; may cross an 8-byte boundary,
 * not a page) and brings the shadow entries that depend on the written
 * guest entries up to date (updated, or zapped; a page written too often
 * without being used is zapped: write flooding). Returns MEM_OK, or the
 * guest memory status (MEM_MMIO, MEM_READONLY, MEM_OUTSIDE...: nothing
 * written, nothing changed).
 */
enum mem_status shadow_emulate_write(struct shadow_mmu *s, const struct cpu *guest, uint64_t gpa,
				     unsigned size, uint64_t val);

/*
 * Write tracking for other parts (KVM's page track): while a frame is
 * tracked (counted: add/remove pair up), no shadow entry maps it writable;
 * guest writes to it come back as RET_PF_EMULATE and, once emulated, are
 * reported to cfg->track_write. Returns 0, or -1 (out of host memory, or
 * removing an untracked frame).
 */
int shadow_track_write(struct shadow_mmu *s, uint64_t gfn);
int shadow_untrack_write(struct shadow_mmu *s, uint64_t gfn);
bool shadow_write_tracked(const struct shadow_mmu *s, uint64_t gfn);

/*
 * INVLPG gva on the selected vCPU: syncs an unsync page holding the guest
 * entry for gva and drops the shadow leaf for gva, in that vCPU's current
 * root and every cached one. The pages are shared: a leaf dropped there is
 * gone for every vCPU whose roots reach the page (so is a synced page
 * brought up to date for all), and the dropped leaf requests a TLB flush
 * on every vCPU. What is exact: after it, the selected vCPU's roots map
 * gva as its guest tables do. Other vCPUs' roots reaching other shadow
 * pages for gva (another role, another CR3) are not touched: their
 * invalidation is the guest's own (its shootdown makes INVLPG on them).
 */
void shadow_invlpg(struct shadow_mmu *s, const struct cpu *guest, uint64_t gva);

/*
 * MOV CR3: switch to the root for the guest's new state (PAE: the PDPTEs
 * are loaded from guest memory, as MOV CR3 does), taken from the root cache when
 * present (spt_root_hits) or made anew (spt_root_misses). `flush` (a MOV
 * CR3 without the PCID no-flush bit): unsync pages are synced first.
 * Returns 0 or -1 as shadow_hw_regs.
 */
int shadow_new_cr3(struct shadow_mmu *s, const struct cpu *guest, bool flush);

/*
 * After MOV CR0 / MOV CR4 / WRMSR EFER (guest holds the new state, `old`
 * the registers before): where the change invalidates the TLB (SDM
 * 4.10.4.1: CR0.PG, CR4.PGE, PAE, PSE, SMEP, PCIDE 1->0 - and a change of
 * PG in either direction, since nothing is cached while paging is off),
 * every unsync page is synced; then the root for the new state is made
 * current (not counted as a CR3 switch). Returns 0 or -1 as shadow_hw_regs.
 * Without this call the next shadow_hw_regs switches roots all the same,
 * but unsync pages are not synced.
 */
int shadow_ctl_changed(struct shadow_mmu *s, const struct cpu *guest, const struct cpu_regs *old);

/* Syncs every unsync page (INVPCID all-context, a CR4.PGE toggle). */
void shadow_sync_all(struct shadow_mmu *s, const struct cpu *guest);
/* Zaps every shadow page (every vCPU's roots are remade at its next entry). */
void shadow_zap_all(struct shadow_mmu *s);

/*
 * For the selected vCPU: true if, since its last call with clear = true,
 * shadow entries lost rights (on any vCPU's behalf: the pages are shared),
 * its root was taken away, or it switched to a root of another role.
 */
bool shadow_tlb_flush_pending(struct shadow_mmu *s, bool clear);

/*
 * Read-only, for checkers (nothing counted, nothing made): the table the
 * hardware CR3 of vCPU `vcpu`'s current root points at (IA-32e: the top
 * shadow page; PAE format: the PDPT page, *pae set), in the port's space.
 * False if the vCPU has no current root.
 */
bool shadow_root_peek(const struct shadow_mmu *s, unsigned vcpu, uint64_t *table_pa, bool *pae);
/* Read-only, for checkers: the shadow page at table address pa is an unsync leaf table. */
bool shadow_table_unsync(const struct shadow_mmu *s, uint64_t pa);

/* Why the last call failed (NULL if it did not). */
const char *shadow_error(const struct shadow_mmu *s);

/* Host-side statistics (the counters in cfg->cnt are the official ones). */
struct shadow_stats {
	uint64_t pages;            /* shadow pages live now (not counting PAE root pages) */
	uint64_t pages_peak;
	uint64_t unsync_pages;     /* live pages marked unsync */
	uint64_t cap_zaps;         /* pages zapped to stay under the cap */
	uint64_t flood_zaps;       /* pages zapped by write flooding */
	uint64_t roots;            /* roots held (current + cached), all vCPUs */
	uint64_t remote_flushes;   /* flush requests raised on another vCPU than the selected one whose
	                              flag was clear (the IPIs a hypervisor sends for them) */
	uint64_t roots_taken;      /* current roots of other vCPUs given up for the cap */
	uint64_t rmap_entries;     /* leaf entries recorded in reverse maps */
	uint64_t tracked_gfns;     /* guest frames write-protected now */
	uint64_t host_bytes;       /* simulator memory of the bookkeeping */
};
void shadow_get_stats(const struct shadow_mmu *s, struct shadow_stats *st);

/*
 * Checking build support: verifies the bookkeeping against the shadow
 * tables (every leaf in its reverse map, no writable leaf to a
 * write-protected frame, parent links, page count, root references of
 * every vCPU). Returns NULL if
 * consistent, else a description of the first problem found.
 */
const char *shadow_check(struct shadow_mmu *s);

#endif
