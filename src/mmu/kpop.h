/*
 * kpop.h - paravirtual nested paging (seed 003, "KPOP"), the L0 side.
 *
 * L1 (a hypervisor running L2 guests) does not build EPT12/NPT12 tables for
 * L0 to shadow. It tells L0 its L2 mappings by hypercalls: load / unload a
 * guest MMU (per L1 vCPU holder and address space), map ranges of L2 frames
 * to L1 frames with rights, unmap, zap a range, zap everything. L0 keeps a
 * refcounted table of guest MMUs keyed by (holder, as_id), each with ONE
 * table in host memory (EPT02 or NPT02) that the hardware walks while L2
 * runs: L2 gpa -> hpa directly, no EPT12 and no write protection of L1's
 * tables. One struct kpop serves one L1 VM.
 *
 * Part 1 is the ABI (what L1 calls; also docs/kpop.md); part 2 the API of
 * the L0 component (what L0's vCPU layer calls).
 *
 * ======================== Part 1: the hypercall ABI ========================
 *
 * Hypercall numbers are the counters.h enum cnt_hcall values, so that
 * vcpu_hypercall(v, nr, a0, a1, &ret) counts them where they belong.
 * Arguments: two 64-bit words a0, a1. Result: one 64-bit word; a value
 * >= 0 is success, a negative value (as int64_t) is -errno, Linux numbers
 * (KPOP_E* below). On ANY error nothing changed (no mapping added, removed
 * or altered; refcounts untouched).
 *
 *  KPOP_HC_MMU_LOAD    a0 = holder, a1 = as_id
 *        Finds or creates the guest MMU (holder, as_id) and takes a
 *        reference. holder is an opaque 64-bit value chosen by L1 (e.g. the
 *        L1 gpa of the vCPU's VMCS12/VMCB12); as_id < KPOP_MAX_AS (0 normal,
 *        1 SMM). Returns the MMU's handle (1 .. 2^31-1), the same for as
 *        long as the MMU lives; a handle of an MMU freed is never valid
 *        again (a generation is part of it).
 *        -EINVAL as_id out of range; -ENOSPC already max_mmus MMUs;
 *        -EOVERFLOW KPOP_MAX_REFS references held; -ENOMEM no page for the
 *        root table (or host memory).
 *
 *  KPOP_HC_MMU_UNLOAD  a0 = holder, a1 = as_id
 *        Drops one reference; at 0 every mapping is removed and the table
 *        pages freed (the vCPU layer must not run L2 on it any more).
 *        Returns the references left (>= 0). -EINVAL as_id out of range;
 *        -ENOENT no such MMU.
 *
 *  KPOP_HC_MAP         a0 = L1 gpa of an array of struct kpop_map_desc,
 *                      a1 = count
 *        Maps, for every descriptor and every i < npages, L2 gfn
 *        l2_gfn + i of MMU `handle` to L1 gfn l1_gfn + i with rights
 *        `perms` intersected with what L0 grants (below). A L2 gfn that is
 *        already mapped is REPLACED (new L1 gfn and rights; a TLB flush is
 *        then pending if a right or the frame was lost). Returns the number
 *        of pages mapped. Whole request validated before anything changes:
 *          -E2BIG   count > KPOP_MAX_DESC, or the request's npages add up
 *                   to more than KPOP_MAX_PAGES;
 *          -EINVAL  a0 not 8-byte aligned; reserved perms bits or no
 *                   KPOP_PERM_R; npages == 0; the L2 range wraps or leaves
 *                   the L2 gfn space [0, 2^(l2_gpa_bits-12)); two
 *                   descriptors of the same handle overlap in L2 gfns;
 *          -EFAULT  the array is not all in L1 RAM (outside every slot, or
 *                   in an MMIO slot), or the L1 range wraps, or a page of
 *                   it is not L1 RAM (outside every slot or MMIO);
 *          -ENOENT  unknown handle;
 *          -ENOSPC  the request would exceed max_pages mappings in all;
 *          -ENOMEM  L0 ran out of frames (L1 backing or table pages):
 *                   nothing mapped either (backing allocated for L1 and
 *                   empty tables may remain: neither is visible to L1;
 *                   leaves installed before the failure are removed again,
 *                   leaves replaced are untouched: replacements come last).
 *        count == 0 returns 0.
 *        L0 grants: R always (required); W unless the L1 page is in a
 *        read-only slot, is write-tracked by L0 (kpop_track_write), or its
 *        slot logs dirty pages and the page is not dirty yet (then W comes
 *        on L2's first write: kpop_page_fault); X as requested. Rights
 *        withheld this way are not errors: the record keeps what L1 asked.
 *
 *  KPOP_HC_UNMAP       a0 = L1 gpa of an array of struct kpop_unmap_desc,
 *                      a1 = count
 *        Removes the mappings of [l2_gfn, l2_gfn + npages) from MMU
 *        `handle` (pages not mapped are skipped). Returns the pages removed.
 *        Errors as for MAP (the same limits; reserved field non-zero:
 *        -EINVAL; overlapping descriptors are allowed here).
 *
 *  KPOP_HC_ZAP_RANGE   a0 = l2_gfn, a1 = npages
 *        Removes the mappings of [l2_gfn, l2_gfn + npages) from EVERY MMU
 *        of this L1 (every holder and as_id). Returns the pages removed.
 *        -EINVAL npages == 0, wraps or leaves the L2 gfn space (npages is
 *        not limited by KPOP_MAX_PAGES: the work is bounded by what is
 *        mapped).
 *
 *  KPOP_HC_ZAP_ALL     a0 = handle or KPOP_HANDLE_ALL, a1 = 0
 *        Removes every mapping of one MMU or of all; the MMUs stay loaded
 *        (same root, same handle). Returns the pages removed.
 *        -EINVAL a1 != 0 or a0 >= 2^32; -ENOENT unknown handle.
 *
 *  Any other number: -ENOSYS.
 *
 * Unmap, zap range and zap all leave a TLB flush pending on every MMU they
 * changed (kpop_flush_take); L1 never flushes L2's EPT02 itself.
 *
 * Argument blocks (little-endian, in L1 guest-physical memory, read by L0
 * through L1's memory slots; the array must start 8-byte aligned and may
 * cross pages, every page of it in a RAM slot - read-only slots are fine):
 */
#ifndef NESTMMU_MMU_KPOP_H
#define NESTMMU_MMU_KPOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/pmem.h"
#include "arch/walk2d.h"
#include "mem/mem_port.h"
#include "mem/memslot.h"
#include "mmu/mmu.h"
#include "sim/counters.h"

/* Hypercall numbers (= enum cnt_hcall). */
#define KPOP_HC_MMU_LOAD   CNT_HC_PV_MMU_LOAD
#define KPOP_HC_MMU_UNLOAD CNT_HC_PV_MMU_UNLOAD
#define KPOP_HC_MAP        CNT_HC_PV_MAP
#define KPOP_HC_UNMAP      CNT_HC_PV_UNMAP
#define KPOP_HC_ZAP_RANGE  CNT_HC_PV_ZAP_RANGE
#define KPOP_HC_ZAP_ALL    CNT_HC_PV_ZAP_ALL

/* Error codes: -errno with Linux's numbers. */
#define KPOP_ENOENT    (-2)
#define KPOP_E2BIG     (-7)
#define KPOP_EAGAIN    (-11) /* L1 memory could not be read now (the port kept answering retry) */
#define KPOP_ENOMEM    (-12)
#define KPOP_EFAULT    (-14)
#define KPOP_EINVAL    (-22)
#define KPOP_ENOSPC    (-28)
#define KPOP_ENOSYS    (-38)
#define KPOP_EOVERFLOW (-75)

/* Rights (perms) of a mapping, format-neutral. R is required. */
#define KPOP_PERM_R   1u
#define KPOP_PERM_W   2u
#define KPOP_PERM_X   4u
#define KPOP_PERM_ALL (KPOP_PERM_R | KPOP_PERM_W | KPOP_PERM_X)

#define KPOP_MAX_AS      2u           /* as_id: 0 normal, 1 SMM */
#define KPOP_MAX_DESC    256u         /* descriptors per MAP / UNMAP call */
#define KPOP_MAX_PAGES   (1u << 18)   /* pages per MAP / UNMAP call (1 GiB of 4 KiB) */
#define KPOP_MAX_REFS    65535u       /* references on one MMU */
#define KPOP_MAX_MMUS    4096u        /* hard cap of kpop_config.max_mmus */
#define KPOP_HANDLE_ALL  UINT64_C(0xffffffff)

/*
 * MAP descriptor: 32 bytes.
 *   +0  u32 handle     (from KPOP_HC_MMU_LOAD)
 *   +4  u32 perms      (KPOP_PERM_*; other bits must be 0; R required)
 *   +8  u64 l2_gfn
 *   +16 u64 l1_gfn
 *   +24 u64 npages     (>= 1)
 */
struct kpop_map_desc {
	uint32_t handle;
	uint32_t perms;
	uint64_t l2_gfn;
	uint64_t l1_gfn;
	uint64_t npages;
};
#define KPOP_MAP_DESC_SIZE 32u

/*
 * UNMAP descriptor: 24 bytes.
 *   +0  u32 handle
 *   +4  u32 reserved   (must be 0)
 *   +8  u64 l2_gfn
 *   +16 u64 npages     (>= 1)
 */
struct kpop_unmap_desc {
	uint32_t handle;
	uint32_t reserved;
	uint64_t l2_gfn;
	uint64_t npages;
};
#define KPOP_UNMAP_DESC_SIZE 24u

_Static_assert(sizeof(struct kpop_map_desc) == KPOP_MAP_DESC_SIZE, "map descriptor layout");
_Static_assert(sizeof(struct kpop_unmap_desc) == KPOP_UNMAP_DESC_SIZE, "unmap descriptor layout");

/* ===================== Part 2: the L0 component's API ===================== */

enum kpop_kind { KPOP_EPT, KPOP_NPT };

struct kpop_config {
	enum kpop_kind kind;
	unsigned levels;         /* 4 or 5 */
	bool ept_ad;             /* EPT: EPTP enables A/D flags (NPT always has them) */
	unsigned maxphyaddr;     /* 32..52: host address width */
	unsigned l2_gpa_bits;    /* L2 gpa space: 13 .. (levels == 5 ? 57 : 48) */
	unsigned max_mmus;       /* 1..KPOP_MAX_MMUS: guest MMUs at once */
	uint64_t max_pages;      /* >= 1: L2 pages mapped at once, all MMUs */
	struct mem_port *port;   /* L0's port (host memory): EPT02 tables live here */
	struct memslots *l1_slots; /* L1's physical space: L1 gfn -> frame of the port */
	struct counters *counters; /* NULL: not counted; else tdp_* at CNT_L0, pt_* CNT_PT_EPT02 */
};

struct kpop;

/* NULL if the configuration is usable, else why not. */
const char *kpop_config_invalid(const struct kpop_config *cfg);
/* Registers a memslot notifier on L1's slots. NULL (and *why) on failure. */
struct kpop *kpop_create(const struct kpop_config *cfg, const char **why);
/* Frees every guest MMU and its tables; unregisters the notifier. */
void kpop_destroy(struct kpop *kp);
const struct kpop_config *kpop_get_config(const struct kpop *kp);

/*
 * One hypercall from L1 (the ABI above); the return value is what goes
 * back to L1 in the result register.
 */
int64_t kpop_hypercall(struct kpop *kp, unsigned nr, uint64_t a0, uint64_t a1);

/* ---- guest MMUs, for the vCPU layer ---- */

/* Handle of the loaded MMU (holder, as_id), or KPOP_ENOENT / KPOP_EINVAL. */
int64_t kpop_find(const struct kpop *kp, uint64_t holder, uint64_t as_id);
/* Whether handle names a live MMU. */
bool kpop_handle_valid(const struct kpop *kp, uint64_t handle);
unsigned kpop_mmu_count(const struct kpop *kp);
/* References held on the MMU (0 if the handle is not valid). */
unsigned kpop_refs(const struct kpop *kp, uint64_t handle);
/* Root of the MMU's table, the EPTP (EPT: WB, walk length, A/D) or nCR3 (NPT); 0 if invalid. */
uint64_t kpop_root_pa(const struct kpop *kp, uint64_t handle);
uint64_t kpop_root_eptp(const struct kpop *kp, uint64_t handle);
/*
 * Fills the nested part of a hardware configuration for L2 on this MMU
 * (nested mode, EPTP and EPT capabilities, or nCR3 with host CR4/EFER incl.
 * NXE). False if the handle is not valid.
 */
bool kpop_hw_program(const struct kpop *kp, uint64_t handle, struct hw_config *cfg);
/* The pending-TLB-flush flag of the MMU: returns it and clears it. */
bool kpop_flush_take(struct kpop *kp, uint64_t handle);
bool kpop_flush_pending(const struct kpop *kp, uint64_t handle);

/* What L1 asked for one L2 gfn (the record): true with *l1_gfn, *perms. */
bool kpop_lookup(const struct kpop *kp, uint64_t handle, uint64_t l2_gfn, uint64_t *l1_gfn, unsigned *perms);
/* L2 gfns mapped (records) in one MMU, or in all with KPOP_HANDLE_ALL. */
uint64_t kpop_mapped_pages(const struct kpop *kp, uint64_t handle);

/*
 * An EPT violation / #NPF of L2 running on MMU `handle` (f filled by
 * tdp_fault_from_exit; f->gpa is the L2 gpa):
 *   RET_PF_INJECT   no record for the L2 gfn, or its perms do not allow the
 *                   access: reflect the exit to L1 (its KPOP fault path then
 *                   issues MAP); f->inject is not used;
 *   RET_PF_EMULATE  a write L1 allowed but L0 may not let through: the L1
 *                   page is in a read-only slot, or write-tracked (the
 *                   trackers were called first); f->emulate_gpa = the L1
 *                   gpa of the access;
 *   RET_PF_SPURIOUS the leaf already allows the access;
 *   RET_PF_FIXED    the leaf was (re)installed from the record (after aging
 *                   without A/D, or W withheld for dirty logging: the page
 *                   is then marked dirty in L1's slot);
 *   RET_PF_ERROR    no frame or table page (f->error), or invalid handle.
 */
enum ret_pf kpop_page_fault(struct kpop *kp, uint64_t handle, struct mmu_fault *f);

/*
 * Instruction emulation for L2: L2 gpa -> L1 gpa through the MMU's record
 * (not the hardware tables), checking `access` against the perms L1 gave.
 * 0 and *l1_gpa; KPOP_ENOENT no record (or invalid handle), KPOP_EFAULT
 * perms forbid the access. For an L2 gva the caller walks L2's own tables
 * with the generic walker over kpop_l2_pmem() (every L2 table address goes
 * through this same translation), then translates the final gpa here.
 */
int kpop_gva_to_gpa(const struct kpop *kp, uint64_t handle, uint64_t l2_gpa, enum access_type access,
		    uint64_t *l1_gpa);

/*
 * L2's physical memory as the hardware layer's pmem (reads and
 * compare-exchanges at L2 gpas): L2 gpa -> L1 gpa (record) -> L1 slots ->
 * port. Unmapped, MMIO or outside: PMEM_OUTSIDE. ctx must outlive it.
 */
struct kpop_l2_mem {
	struct kpop *kp;
	uint64_t handle;
};
struct pmem kpop_l2_pmem(struct kpop_l2_mem *ctx);

/* ---- aging (A flags of the EPT02/NPT02 leaves) ---- */

/*
 * Over L2 gfns [l2_gfn, l2_gfn + npages) of one MMU: test_age reports
 * whether a leaf has A set; age clears A and reports whether any was set.
 * EPT without A/D: a present leaf counts as young; age removes it (the
 * record stays, the next access refaults and kpop_page_fault reinstalls
 * it; a flush is pending). Aging never sets the flush flag otherwise.
 */
bool kpop_test_age(struct kpop *kp, uint64_t handle, uint64_t l2_gfn, uint64_t npages);
bool kpop_age(struct kpop *kp, uint64_t handle, uint64_t l2_gfn, uint64_t npages);
/* The same over L1 gfns (what L0's own reclaim of L1 memory asks): every leaf of every MMU mapping them. */
bool kpop_test_age_l1(struct kpop *kp, uint64_t l1_gfn, uint64_t npages);
bool kpop_age_l1(struct kpop *kp, uint64_t l1_gfn, uint64_t npages);

/* ---- page tracking (L0 write-protects L1 gfns) ---- */

typedef void (*kpop_track_fn)(void *ctx, uint64_t l1_gpa, enum access_type access);
#define KPOP_TRACK_MAX_USERS 8
/* A handle >= 0 or KPOP_ENOSPC. */
int kpop_track_register(struct kpop *kp, kpop_track_fn fn, void *ctx);
int kpop_track_unregister(struct kpop *kp, int handle);
/*
 * on: one more tracking reference on L1 gfn (W removed at once from every
 * leaf of every MMU mapping it, flush pending); off: one less (KPOP_EINVAL
 * if none). While tracked, L2 writes to it are RET_PF_EMULATE after the
 * trackers are called.
 */
int kpop_track_write(struct kpop *kp, uint64_t l1_gfn, bool on);
unsigned kpop_track_count(const struct kpop *kp, uint64_t l1_gfn);

/*
 * ---- dirty logging ----
 * L1's memslot with MEMSLOT_F_LOG_DIRTY is the switch, its dirty log the
 * record (L0 migrating L1). By write protection: turning logging on removes
 * W from every leaf mapping a page of the slot; L2's first write to such a
 * page faults, kpop_page_fault marks the L1 page dirty and gives W back;
 * clearing bits of the log (memslots_dirty_clear) removes W again. The log
 * is exact at every fault: nothing to harvest.
 */

/* ---- checks ---- */

/*
 * The isolation checker. Walks every table of every MMU from its root
 * (reading host memory through the port) and checks: every entry is
 * well-formed (4 KiB leaves only, no reserved bits); every leaf's L2 gfn
 * has a record; the record's L1 gfn is L1 RAM, backed, and the leaf maps
 * exactly its frame; the leaf's rights are within the record's perms, W
 * only if the L1 slot is writable, the page not tracked, and (logging
 * slot) dirty; the reverse map holds exactly the records; the table pages
 * reached are those allocated. 0 if all holds, else -1 with a message in
 * msg (if not NULL, at most len bytes).
 */
int kpop_check(struct kpop *kp, char *msg, size_t len);

/*
 * Applies an arbitrary byte string as a sequence of hypercalls (the
 * argument blocks written into L1 memory at `scratch_gpa`, a writable RAM
 * page of L1 with `scratch_pages` pages) and of the other operations
 * (aging, tracking), running kpop_check after each. Returns 0, or -1 with
 * the checker's message. For fuzzers and randomized tests.
 */
int kpop_fuzz_apply(struct kpop *kp, uint64_t scratch_gpa, unsigned scratch_pages, const uint8_t *data,
		    size_t size, char *msg, size_t len);

/* What the component did. */
struct kpop_stats {
	uint64_t hypercalls, hc_errors;
	/* entries and table pages: the counters (tdp_entries_*[CNT_L0], pt_*[CNT_PT_EPT02]) */
	uint64_t flush_requests;
	uint64_t faults[RET_PF_ERROR + 1];
	uint64_t dirty_logged, tracker_calls;
};
const struct kpop_stats *kpop_get_stats(const struct kpop *kp);
/* Table pages live now, all MMUs. */
uint64_t kpop_tables_live(const struct kpop *kp);

#endif
