/*
 * tlb.h - the translation caches of one logical processor (SDM Vol. 3A
 * 4.10 "Caching translation information"; Vol. 3C 29.4 "Caching
 * translation information" under VMX; AMD APM Vol. 2 5.5 and 15.16):
 *
 *   TLB         linear -> host-physical, per page (4 KiB, 2/4 MiB, 1 GiB),
 *               with the ANDed guest rights, the nested rights, the
 *               protection key and the dirty state of both dimensions;
 *   guest PSC   paging-structure caches of the guest walk (PML5E, PML4E,
 *               PDPTE, PDE caches, SDM 4.10.3), plugged into walk.h;
 *   nested PSC  the same for the nested (EPT/NPT) walk;
 *   nested TLB  guest-physical -> host-physical (Intel: guest-physical
 *               mappings, SDM 29.4.1), plugged into walk2d.h's hw_caches.
 *
 * Every structure is set-associative with a configurable number of sets
 * and ways (0 of either: the structure is absent) and deterministic
 * replacement (LRU or round-robin). Entries are tagged as the manuals say
 * (struct tlb_tag); the architectural invalidations (INVLPG, INVPCID,
 * MOV CR0/CR3/CR4, INVVPID, INVEPT, INVLPGA, VMX/SVM transitions) drop
 * exactly the entries their definition names - the model never drops more
 * than it must, except where noted beside the operation.
 *
 * The access path (tlb_access) is what a vCPU model calls for each access:
 * TLB lookup; on a hit the cached rights are checked with the walker's own
 * rule (x86_access_fault); a hit that does not allow the access, or a
 * write through an entry whose dirty state is not recorded, drops the entry
 * and walks (the walk decides: the model never faults from a cached entry,
 * SDM 4.10.4.1/4.10.4.3); a miss walks (hw_translate with the PSCs and the
 * nested TLB plugged in) and fills on success only (SDM 4.10.2.1).
 */
#ifndef NESTMMU_ARCH_TLB_H
#define NESTMMU_ARCH_TLB_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/pt_format.h"
#include "arch/walk2d.h"

/* ---- configuration ---- */

/* Page-size classes of the TLB and of the nested TLB. */
enum tlb_class {
	TLB_CLASS_4K,    /* 4 KiB pages */
	TLB_CLASS_LARGE, /* 2 MiB and 4 MiB pages */
	TLB_CLASS_1G,    /* 1 GiB pages */
	TLB_NCLASS,
};

/* Geometry of one set-associative structure; sets or ways 0: absent. Sets: a power of two. */
struct tlb_geom {
	unsigned sets;
	unsigned ways;
};

enum tlb_repl {
	TLB_REPL_LRU, /* least recently used (filled or hit) way of the set */
	TLB_REPL_RR,  /* round-robin per set */
};

struct tlb_config {
	/*
	 * TLB per page-size class. When a class is absent, a page of that
	 * size is cached as the entry of the next smaller present class that
	 * contains the address (SDM 4.10.2.3: a processor may cache multiple
	 * smaller-page entries for a large page); none present: not cached.
	 */
	struct tlb_geom tlb[TLB_NCLASS];
	/*
	 * Paging-structure caches indexed by the level of the entry they
	 * cache (SDM 4.10.3.1): [2] PDE cache, [3] PDPTE cache, [4] PML4E
	 * cache, [5] PML5E cache; [0] and [1] unused.
	 */
	struct tlb_geom psc[PT_MAX_LEVELS + 1];  /* guest walk */
	struct tlb_geom npsc[PT_MAX_LEVELS + 1]; /* nested walk */
	struct tlb_geom ntlb[TLB_NCLASS];        /* nested TLB (4K, 2M, 1G) */
	enum tlb_repl repl;
	/*
	 * The processor's linear-address width is 57 bits (it supports
	 * 5-level paging): the canonical checks of INVPCID and INVVPID use
	 * it. false: 48 bits.
	 */
	bool la57;
};

/*
 * An illustrative default (not a specific processor): TLB 1536 4K entries
 * (128 sets x 12 ways), 32 large (8x4), 16 1G (4x4); guest and nested PSCs
 * PDE 32 (8x4), PDPTE 4 (1x4), PML4E 2 (1x2), PML5E 2 (1x2); nested TLB
 * 64 4K (16x4), 16 2M (4x4), 4 1G (1x4); LRU.
 */
void tlb_config_default(struct tlb_config *c);

/* ---- tags and entries ---- */

/* The kinds of cached mapping (SDM Vol. 3C 29.4.1). */
enum tlb_kind {
	TLB_LINEAR,   /* linear mappings: created while EPT (or NPT) is not in use */
	TLB_COMBINED, /* combined mappings: linear -> host-physical through EPT/NPT */
	TLB_GPHYS,    /* guest-physical mappings: nested TLB and nested PSC entries */
	TLB_NKIND,
};

struct tlb_tag {
	/*
	 * Intel: the VPID (0 outside VMX non-root operation or with "enable
	 * VPID" = 0, Vol. 3C 29.1). AMD: the ASID (0 = host, APM 15.16).
	 * Intel guest-physical mappings have no VPID: always 0 there.
	 */
	uint32_t vpid;
	uint16_t pcid;  /* 000H when CR4.PCIDE = 0 (SDM 4.10.1); 0 in nested entries */
	uint8_t kind;   /* enum tlb_kind */
	/*
	 * Intel EPT: the EP4TA (EPTP bits 51:12) of combined and guest-physical
	 * mappings (Vol. 3C 29.4.1). AMD: 0 - entries are tagged by ASID only
	 * and a change of nCR3 needs a TLB_CONTROL flush (APM 15.16).
	 */
	uint64_t root;
};

struct tlb_entry {
	bool valid;
	bool global;    /* TLB: G = 1 in the leaf and CR4.PGE = 1 (SDM 4.10.2.4) */
	bool gdirty;    /* TLB: the guest leaf's D was 1 */
	bool ndirty;    /* TLB, NTLB: the nested leaf's D was 1 (or A/D off: nothing to set) */
	uint8_t grights;/* TLB: guest rights ANDed over the walk (enum pt_right) */
	uint8_t nrights;/* TLB, NTLB: nested rights of the final translation; PSC: rights so far */
	uint8_t pkey;   /* TLB: protection key of the guest leaf */
	uint8_t level;  /* PSC: level of the cached entry (2 = PDE ... 5 = PML5E) */
	struct tlb_tag tag;
	uint64_t addr;  /* base of what the entry covers (linear; guest-physical for NTLB/NPSC) */
	uint64_t size;  /* bytes it covers */
	/*
	 * The page the entry was made from: TLB the guest page (INVLPG of any
	 * address in it drops every entry made from it, SDM 4.10.4.1 footnote);
	 * NTLB the nested page; PSC the region of the cached entry (= size).
	 */
	uint64_t span;
	uint64_t gpa;   /* TLB: guest-physical base of the entry */
	uint64_t out;   /* TLB, NTLB: host-physical base; PSC: address of the next table */
	uint64_t stamp; /* LRU */
};

/* ---- counters ---- */

struct tlb_counts {
	uint64_t hits;
	uint64_t misses;
	uint64_t fills;
	uint64_t evictions;   /* valid entries replaced by a fill */
	uint64_t invalidated; /* dropped by an invalidation (architectural or fault) */
	uint64_t dropped;     /* TLB: dropped by the hit path (rights or dirty) */
};

/* Operations that invalidate, counted one by one. */
enum tlb_op {
	TLB_OP_INVLPG,
	TLB_OP_INVPCID0, TLB_OP_INVPCID1, TLB_OP_INVPCID2, TLB_OP_INVPCID3,
	TLB_OP_MOV_CR3,          /* a flushing MOV CR3 (PCIDE=0, or bit 63 clear) */
	TLB_OP_MOV_CR3_NOFLUSH,  /* CR4.PCIDE=1 and bit 63 set: nothing dropped */
	TLB_OP_MOV_CR4,
	TLB_OP_MOV_CR0,
	TLB_OP_TASK_SWITCH,
	TLB_OP_INVVPID0, TLB_OP_INVVPID1, TLB_OP_INVVPID2, TLB_OP_INVVPID3,
	TLB_OP_INVEPT1, TLB_OP_INVEPT2,
	TLB_OP_INVLPGA,
	TLB_OP_VMX_TRANSITION,   /* VM entry/exit with "enable VPID" = 0 */
	TLB_OP_SVM_TLB_CONTROL,  /* VMRUN with VMCB TLB_CONTROL != 0 */
	TLB_OP_PAGE_FAULT,       /* invalidation by a #PF (SDM 4.10.4.1) */
	TLB_OP_EPT_VIOLATION,    /* by an EPT violation (Vol. 3C 29.4.3.1) */
	TLB_OP_NPF,              /* by a #NPF (model choice, as EPT violation) */
	TLB_OP_FLUSH,            /* tlb_flush_all / tlb_flush_scope from outside */
	TLB_OP_COUNT,
};

const char *tlb_op_name(enum tlb_op op);

struct tlb_stats {
	struct tlb_counts tlb;                     /* all TLB classes */
	struct tlb_counts tlb_class[TLB_NCLASS];
	struct tlb_counts psc[PT_MAX_LEVELS + 1];  /* [2..5] */
	struct tlb_counts npsc[PT_MAX_LEVELS + 1]; /* [2..5] */
	struct tlb_counts ntlb;                    /* all NTLB classes */
	uint64_t accesses;    /* tlb_access calls */
	uint64_t walks;       /* hw_translate calls made by tlb_access */
	uint64_t walk_refs;   /* sum of xlate_result.refs of those walks */
	uint64_t ad_writes;   /* sum of xlate_result.ad_writes */
	uint64_t faults;      /* accesses whose outcome was not XO_OK */
	uint64_t drop_rights; /* hits whose cached rights did not allow the access */
	uint64_t drop_dirty;  /* write hits on an entry without recorded dirty state */
	uint64_t ops[TLB_OP_COUNT];        /* operations executed */
	uint64_t op_dropped[TLB_OP_COUNT]; /* entries they dropped, all structures */
};

/* ---- life cycle and context ---- */

struct tlb;

/* NULL if the configuration is unusable (a geometry too large) or out of memory. */
struct tlb *tlb_create(const struct tlb_config *c);
void tlb_destroy(struct tlb *t);
const struct tlb_config *tlb_get_config(const struct tlb *t);

const struct tlb_stats *tlb_get_stats(const struct tlb *t);
void tlb_reset_stats(struct tlb *t);

/*
 * The current VPID (Intel) or ASID (AMD): 0 for the host, or for a guest
 * when "enable VPID" is 0. The vCPU model sets it at VM entry and exit.
 */
void tlb_set_vpid(struct tlb *t, uint32_t vpid);
uint32_t tlb_get_vpid(const struct tlb *t);

/*
 * The context whose tags new entries get and lookups match: `lin` for the
 * TLB and the guest PSC, `nest` for the nested TLB and the nested PSC;
 * gshift[L] / nshift[L] (L = 2..5): log2 of the region one entry of level
 * L covers (the format's level[L].shift), 0 where the format has no such
 * level. tlb_bind() derives all of it from a hw_mmu; tests may set it.
 */
struct tlb_context {
	struct tlb_tag lin;
	struct tlb_tag nest;
	uint8_t gshift[PT_MAX_LEVELS + 1];
	uint8_t nshift[PT_MAX_LEVELS + 1];
};

void tlb_set_context(struct tlb *t, const struct tlb_context *ctx);
const struct tlb_context *tlb_get_context(const struct tlb *t);

/*
 * The tags of an access under `m` with the current VPID/ASID:
 *   PCID = CR3[11:0] if CR4.PCIDE = 1, else 000H (SDM 4.10.1);
 *   EPT: combined mappings tagged with the EP4TA = EPTP[51:12], guest-
 *   physical mappings likewise, VPID 0 (Vol. 3C 29.4.1);
 *   NPT: combined and guest-physical mappings tagged with the ASID;
 *   no nesting: linear mappings.
 * Sets the context and returns the hooks to plug into m->caches (valid
 * until the next tlb_bind/tlb_set_context).
 */
const struct hw_caches *tlb_bind(struct tlb *t, const struct hw_mmu *m);

/* Context of the 4-level (or 5-level) x86/EPT format, for tests. */
void tlb_context_4level(struct tlb_context *ctx, unsigned levels);

/* ---- lookups and fills in the current context ---- */

/* What a successful access tells the TLB (SDM 4.10.2.2). */
struct tlb_fill {
	uint64_t la, gpa, hpa;  /* of the access (any address inside the page) */
	uint64_t size;          /* min(guest page, nested page) */
	uint64_t guest_size;    /* the guest page */
	unsigned grights;       /* guest rights ANDed over the walk (enum pt_right) */
	unsigned nrights;       /* nested rights of the final translation; RIGHT_ALL without nesting */
	unsigned pkey;
	bool global;            /* G = 1 in the leaf and CR4.PGE = 1 */
	bool gdirty;            /* guest leaf D = 1 */
	bool ndirty;            /* nested leaf D = 1, or nested A/D not enabled, or no nesting */
};

/* Caches a translation (replacing any entry the same lookup would find). */
void tlb_fill(struct tlb *t, const struct tlb_fill *f);

/*
 * Finds the entry translating `la` in the current context: same VPID,
 * kind and root, and same PCID unless global (SDM 4.10.2.4). Counts a hit
 * or a miss and updates LRU. Returns NULL on a miss; the pointer is valid
 * until the next call that changes the TLB.
 */
const struct tlb_entry *tlb_lookup(struct tlb *t, uint64_t la);
/* The same without counting or LRU update. */
const struct tlb_entry *tlb_peek(const struct tlb *t, uint64_t la);

/* Nested TLB (the hw_caches hooks, usable directly). */
bool tlb_ntlb_lookup(struct tlb *t, uint64_t gpa, uint64_t *hpa_page, uint64_t *size,
		     unsigned *rights, bool *dirty);
void tlb_ntlb_fill(struct tlb *t, uint64_t gpa, uint64_t hpa_page, uint64_t size,
		   unsigned rights, bool dirty);

/*
 * Paging-structure caches (the walk_cache hooks, usable directly).
 * dim 0: guest, 1: nested. `level` is walk.h's: the level the walk resumes
 * at, so the cached entry is of level `level + 1`.
 */
bool tlb_psc_lookup(struct tlb *t, unsigned dim, uint64_t addr, unsigned *level,
		    uint64_t *table, unsigned *rights);
void tlb_psc_fill(struct tlb *t, unsigned dim, uint64_t addr, unsigned level,
		  uint64_t table, unsigned rights);

/* Number of valid entries in the structures of `structs` (TLB_S_*). */
unsigned tlb_count_valid(const struct tlb *t, unsigned structs);

/* ---- invalidation ---- */

enum {
	TLB_S_TLB  = 1u << 0,
	TLB_S_PSC  = 1u << 1, /* guest PSC */
	TLB_S_NPSC = 1u << 2, /* nested PSC */
	TLB_S_NTLB = 1u << 3,
	TLB_S_ALL  = 0xfu,
};

enum tlb_match { TLB_M_ANY, TLB_M_EQ, TLB_M_NONZERO };

/*
 * Which entries to drop. An entry is dropped when every condition holds:
 * its structure is in `structs`, its kind in `kinds` (bits 1 << tlb_kind),
 * its VPID matches, its root matches (any_root or equal); its address
 * range contains `addr` unless any_addr (TLB: the guest page it was made
 * from); and - for a non-global entry - its PCID matches (any_pcid or
 * equal). A global TLB entry is kept if keep_global, else it matches
 * whatever its PCID ("regardless of PCID", SDM 4.10.4.1 INVLPG).
 */
struct tlb_scope {
	unsigned structs;
	unsigned kinds;
	enum tlb_match vpid_match;
	uint32_t vpid;
	bool any_pcid;
	uint16_t pcid;
	bool any_root;
	uint64_t root;
	bool any_addr;
	uint64_t addr;
	bool keep_global;
};

/* The valid entries tlb_flush_scope(t, s, ...) would drop; nothing changed or counted. */
unsigned tlb_count_scope(const struct tlb *t, const struct tlb_scope *s);
/* Drops the entries of the scope; counts them under `op`. Returns how many. */
unsigned tlb_flush_scope(struct tlb *t, const struct tlb_scope *s, enum tlb_op op);
/* Everything, every structure (power-up, reset). */
unsigned tlb_flush_all(struct tlb *t);

/* The outcome of an instruction that checks its operands. */
enum tlb_insn {
	TLB_INSN_OK,
	TLB_INSN_GP,     /* #GP(0): nothing invalidated */
	TLB_INSN_VMFAIL, /* VMfailValid(invalid operand to INVEPT/INVVPID): nothing invalidated */
};

/*
 * Guest instructions (tlb_inval.c). `regs`: the registers when the
 * instruction executes (current PCID, CR4, paging mode). Under VMX they
 * affect linear and combined mappings of the current VPID only, combined
 * mappings for all EP4TAs (Vol. 3C 29.4.3.1).
 */
void tlb_invlpg(struct tlb *t, const struct cpu_regs *regs, uint64_t la);
enum tlb_insn tlb_invpcid(struct tlb *t, const struct cpu_regs *regs, uint64_t type,
			  uint64_t desc_lo, uint64_t desc_hi);
/* INVPCID's operand checks alone (TLB_INSN_OK or _GP), for a hypervisor that emulates it without a TLB. */
enum tlb_insn tlb_invpcid_check(const struct cpu_regs *regs, uint64_t type, uint64_t desc_lo, uint64_t desc_hi);
/* MOV to CR3 with source operand `src` (regs: before the move). */
void tlb_mov_cr3(struct tlb *t, const struct cpu_regs *regs, uint64_t src);
/* MOV to CR4 (regs: before the move; regs->cr3 gives the current PCID). */
void tlb_mov_cr4(struct tlb *t, const struct cpu_regs *regs, uint64_t new_cr4);
/* MOV to CR0 (regs: before the move). */
void tlb_mov_cr0(struct tlb *t, const struct cpu_regs *regs, uint64_t new_cr0);
/* A task switch loading CR3 with new_cr3 (regs: before the switch). */
void tlb_task_switch(struct tlb *t, const struct cpu_regs *regs, uint64_t new_cr3);

/* VMX (tlb_inval.c). desc_lo: VPID in bits 15:0; desc_hi: linear address. */
enum tlb_insn tlb_invvpid(struct tlb *t, uint64_t type, uint64_t desc_lo, uint64_t desc_hi);
/* INVEPT type 1 (single-context, by EPTP[51:12]) or 2 (global). */
enum tlb_insn tlb_invept(struct tlb *t, uint64_t type, uint64_t eptp);
/*
 * VM entry or VM exit while "enable VPID" is 0: drops linear and combined
 * mappings of VPID 0000H for all PCIDs and all EP4TAs (Vol. 3C 29.4.3.1).
 * The vCPU model decides when to call it.
 */
void tlb_vmx_transition_novpid(struct tlb *t);

/* SVM (tlb_inval.c). INVLPGA: the page of `la` in ASID `asid`. */
void tlb_invlpga(struct tlb *t, uint64_t la, uint32_t asid);
/*
 * VMRUN with VMCB TLB_CONTROL `ctl` for the guest's ASID (APM 15.16.1):
 * 0 nothing, 1 everything (all ASIDs), 3 this ASID, 7 this ASID's
 * non-global entries. Returns false (nothing done) for other values.
 */
bool tlb_svm_tlb_control(struct tlb *t, unsigned ctl, uint32_t asid);

/*
 * Fault invalidations, applied by tlb_access itself (exposed for models
 * that walk on their own). Page fault on `la` (SDM 4.10.4.1): TLB entries
 * for its page and PSC entries that would be used for it, current
 * context. EPT violation on `gpa` (Vol. 3C 29.4.3.1): guest-physical
 * mappings for it with the current EP4TA and, if it was the translation
 * of `la` (final), combined mappings for `la` in the current context.
 */
void tlb_on_page_fault(struct tlb *t, uint64_t la);
void tlb_on_nested_fault(struct tlb *t, enum tlb_op op, uint64_t gpa, bool final, uint64_t la);

/* ---- the access path (tlb_access.c) ---- */

/*
 * One access by the vCPU: tags from m (CR3/CR4 PCID, EPTP or ASID) and the
 * current VPID/ASID. A hit gives XO_OK with refs = 0. A miss walks with
 * hw_translate (caches plugged in through a copy of *m) and fills on
 * success; a fault applies the fault's invalidation. `r` as hw_translate.
 */
void tlb_access(struct tlb *t, const struct hw_mmu *m, uint64_t la, enum access_type type,
		bool implicit, struct xlate_result *r);

#endif
