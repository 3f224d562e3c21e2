/*
 * shadow_int.h - the shadow MMU's internal structures, shared by its files:
 *
 *   shadow_page.c   roles, the page hash, allocation, parent links, reverse
 *                   maps, entry drop, zap, the cap (LRU);
 *   shadow_fault.c  the guest walk and the fault path (shadow entries);
 *   shadow_write.c  write protection, page tracking, emulated writes,
 *                   write flooding, memory-slot events;
 *   shadow_sync.c   unsync / sync of leaf tables, INVLPG;
 *   shadow_root.c   creation, roots and the root cache, hardware registers,
 *                   statistics and the consistency check.
 *
 * Shadow tables are in the hardware's 8-byte format, 512 entries a page.
 * Their contents live in the port's space only; the host side keeps, per
 * page, which entries are present (a bitmap) and, for leaf pages, the gfn
 * each leaf maps (for the reverse map), so that no bookkeeping needs a
 * read of the port.
 */
#ifndef NESTMMU_MMU_SHADOW_INT_H
#define NESTMMU_MMU_SHADOW_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/pt_format.h"
#include "arch/x86.h"
#include "mem/guestmem.h"
#include "mem/u64map.h"
#include "mmu/shadow.h"

#define SPT_ENTRIES 512u
#define SPT_SHIFT   9u

/* Rights carried in a role (from the guest's entries above). */
#define ACC_W 1u
#define ACC_U 2u
#define ACC_X 4u
#define ACC_ALL 7u

/* Bits of a shadow entry. */
#define SPTE_ADDR_MASK GENMASK64(51, 12)
#define SPTE_TABLE_BITS (PTE_P | PTE_RW | PTE_US | PTE_A) /* a non-leaf entry grants everything */

/*
 * What changes the meaning of a guest table, hence of its shadow page
 * (KVM's kvm_mmu_page_role). Unused bits are zero: two roles are equal iff
 * their words are.
 */
union sp_role {
	uint32_t word;
	struct {
		unsigned level : 3;          /* 1..5: level of the shadow page */
		unsigned direct : 1;         /* maps a gfn range, not a guest table */
		unsigned access : 3;         /* ACC_* ANDed over the guest entries above */
		unsigned quadrant : 2;       /* 32-bit guest: which part of the guest table */
		unsigned mode : 3;           /* guest paging mode (enum paging_mode) */
		unsigned cr0_wp : 1;
		unsigned smep_andnot_wp : 1; /* CR4.SMEP && !CR0.WP */
		unsigned smap_andnot_wp : 1; /* CR4.SMAP && !CR0.WP */
		unsigned cr4_pke : 1;        /* protection keys (IA-32e guests) */
		unsigned efer_nx : 1;        /* XD is a right, not reserved (PAE, IA-32e) */
		unsigned cr4_pse : 1;        /* 32-bit guest: PS makes 4 MiB pages */
		unsigned pkey : 4;           /* direct page under a guest large leaf: its key, */
		unsigned gdirty : 1;         /* and its D flag (leaves may be writable only with D) */
	};
};

struct shadow_page;

/* An entry of a shadow page: a parent link, or a reverse-map reference. */
struct sp_ref {
	struct shadow_page *sp;
	unsigned idx;
};

struct shadow_page {
	uint64_t gfn;
	union sp_role role;
	uint64_t pa;                     /* the table, in the port's space */
	struct shadow_page *gfn_next;    /* pages of the same gfn (hash chain) */
	struct shadow_page *lru_prev, *lru_next; /* most recently used first */
	struct shadow_page *unsync_prev, *unsync_next;
	struct sp_ref *parents;          /* entries pointing at this page */
	unsigned nparents, parents_cap;
	unsigned root_count;             /* roots (current or cached) holding it */
	unsigned flood;                  /* emulated writes since it was last used */
	uint64_t stamp;                  /* the fault that last used it (s->epoch) */
	bool unsync;
	bool invalid;                    /* zapped while a root held it: freed when released */
	uint64_t present[SPT_ENTRIES / 64];
	uint64_t *leaf_gfn;              /* level 1: gfn of each present leaf */
};

/* The reverse map of one gfn: the leaves mapping it. */
struct rmap_head {
	unsigned n, cap;
	struct sp_ref refs[];
};

/*
 * A root: one shadow page (IA-32e) or a PAE-format root (a PDPT page in
 * the port's space whose four entries point at level-2 shadow pages),
 * with the key it was made for.
 */
struct shadow_root {
	bool used;
	bool pae;
	uint64_t pdpt_pa;              /* PAE-format */
	struct shadow_page *sp[4];     /* IA-32e: sp[0] only */
	/* key */
	uint32_t role_word;            /* base role of the guest state */
	uint64_t guest_root;           /* guest CR3 table address (0 with paging off) */
	uint64_t pdpte[4];             /* PAE guest: the PDPTE registers */
};

/* The guest's processor as a fault sees it. */
struct guest_ctx {
	const struct cpu *cpu;
	enum paging_mode mode;
	union sp_role base;            /* role bits of the state, level 0 */
	struct pt_format fmt;          /* the guest's format (mode != NONE) */
	struct cpu_regs hw;            /* the hardware registers for it */
	struct pt_format hw_fmt;
};

/*
 * What each vCPU has of its own (KVM: the roots of struct kvm_mmu and the
 * request bits are per vCPU, kvm_mmu_page per VM): its current root and
 * root cache, its PAE PDPTE registers, its pending TLB flush. Everything
 * else - shadow pages, hash, reverse maps, unsync list, cap and LRU - is
 * shared by the VM's vCPUs.
 */
struct shadow_vcpu {
	struct shadow_root roots[1 + SHADOW_ROOT_CACHE_MAX]; /* [0] current, then MRU order */
	/*
	 * The guest's PAE PDPTE registers (SDM 4.4.1): loaded from guest
	 * memory at MOV CR3 (shadow_new_cr3) and when the paging mode, CR3
	 * or CR4.PGE/PSE/SMEP changed since the last load; the guest's later
	 * writes to its PDPT take effect only at the next load.
	 */
	uint64_t gpdpte[4];
	bool gpdpte_loaded;
	uint64_t gpdpte_cr3, gpdpte_cr4;
	bool flush_pending;            /* its TLB must be flushed before it re-enters */
};

struct shadow_mmu {
	struct shadow_config cfg;      /* cfg.nvcpus >= 1 */
	struct guestmem gm;
	int notifier;                  /* memslot notifier handle, -1 if none */
	struct u64map by_gfn;          /* gfn -> first page of the chain */
	struct u64map by_pa;           /* pa >> 12 -> page */
	struct u64map rmap;            /* gfn -> struct rmap_head * */
	struct u64map ext_track;       /* gfn -> count of shadow_track_write */
	struct shadow_page lru;        /* sentinel: lru.lru_next is the most recent */
	struct shadow_page unsync_list;/* sentinel */
	uint64_t npages, peak, nunsync, rmap_entries;
	uint64_t cap_zaps, flood_zaps, remote_flushes, roots_taken;
	uint64_t epoch;                /* faults handled: pages of the current one are not zapped for room */
	struct shadow_vcpu *vcpus;     /* cfg.nvcpus of them */
	struct shadow_vcpu *cur;       /* the selected one (shadow_select_vcpu) */
	unsigned cur_idx;
	/* The formats of the last guest state seen (pt_format_x86 is not free). */
	struct {
		bool valid;
		enum cpu_vendor vendor;
		unsigned maxphyaddr;
		struct cpu_features feat;
		uint64_t cr0, cr4, efer;
		struct pt_format fmt, hw_fmt;
	} fmt_cache;
	bool port_failed;
	const char *error;
};

/*
 * Shadow entries lost rights (or were dropped, or pages zapped): every
 * vCPU's TLB may hold what they granted (KVM's kvm_flush_remote_tlbs).
 */
void shadow_flush_remote(struct shadow_mmu *s);

/* ---- counters ---- */
#define SPT_COUNT(s, field, n) \
	do { if ((s)->cfg.cnt) (s)->cfg.cnt->field[(s)->cfg.level] += (n); } while (0)

/* ---- shadow_page.c ---- */
union sp_role sp_base_role(const struct cpu *guest);
void guest_ctx_init(struct shadow_mmu *s, const struct cpu *guest, struct guest_ctx *g);
/* The guest format a role was made for (reserved bits, PS, XD). */
void sp_guest_fmt(const struct shadow_mmu *s, const struct cpu *guest, union sp_role role,
		  struct pt_format *f);
/* Guest memory through guestmem, repeating what the port answers MEM_RETRY. */
enum mem_status gm_read(struct shadow_mmu *s, uint64_t gpa, unsigned size, uint64_t *val);
enum mem_status gm_write(struct shadow_mmu *s, uint64_t gpa, unsigned size, uint64_t val);
bool spte_read(struct shadow_mmu *s, const struct shadow_page *sp, unsigned idx, uint64_t *val);
bool spte_write(struct shadow_mmu *s, struct shadow_page *sp, unsigned idx, uint64_t val);
static inline bool sp_present(const struct shadow_page *sp, unsigned idx)
{
	return (sp->present[idx / 64] >> (idx % 64)) & 1;
}
struct shadow_page *sp_lookup(struct shadow_mmu *s, uint64_t gfn, union sp_role role);
struct shadow_page *sp_by_pa(const struct shadow_mmu *s, uint64_t pa);
struct shadow_page *sp_first_of_gfn(const struct shadow_mmu *s, uint64_t gfn);
/* Finds or makes the page; a new page of a guest table write-protects its gfn. */
struct shadow_page *sp_get(struct shadow_mmu *s, const struct cpu *guest, uint64_t gfn,
			   union sp_role role, bool *created);
void sp_touch(struct shadow_mmu *s, struct shadow_page *sp);
/* Points entry idx of parent at child (the entry must be empty). */
bool sp_link(struct shadow_mmu *s, struct shadow_page *parent, unsigned idx, struct shadow_page *child);
/* Sets leaf idx of a level-1 page to spte mapping gfn (replacing any). */
bool sp_set_leaf(struct shadow_mmu *s, struct shadow_page *sp, unsigned idx, uint64_t gfn, uint64_t spte);
/* Clears entry idx (a present one), undoing its rmap entry or parent link. */
bool sp_drop_entry(struct shadow_mmu *s, struct shadow_page *sp, unsigned idx);
void sp_zap(struct shadow_mmu *s, struct shadow_page *sp);
/* Releases one root reference; frees an invalid page no longer held. */
void sp_put_root(struct shadow_mmu *s, struct shadow_page *sp);
/*
 * Zaps least recently used pages (not roots, not on the path of the fault
 * being handled) until `need` more fit under the cap.
 */
bool sp_make_room(struct shadow_mmu *s, unsigned need);
struct rmap_head *rmap_get(const struct shadow_mmu *s, uint64_t gfn);
void shadow_set_error(struct shadow_mmu *s, const char *why);

/* ---- shadow_write.c ---- */
/* No shadow leaf may map gfn writable (a synced guest table, or tracked). */
bool gfn_write_protected(const struct shadow_mmu *s, uint64_t gfn);
/* Removes write access from every leaf mapping gfn. */
void gfn_write_protect(struct shadow_mmu *s, uint64_t gfn);
void shadow_slots_event(void *ctx, const struct memslot_event *ev);
/* Brings shadow entry idx up to date with guest entry gentry (kept, rewritten or dropped). */
void sp_update_entry(struct shadow_mmu *s, const struct pt_format *gfmt, struct shadow_page *sp,
		     unsigned idx, uint64_t gentry);

/* ---- shadow_fault.c ---- */
/*
 * The leaf for a guest mapping, for a page reached by access type `type`
 * (fault = true) or for a re-check of an existing entry (fault = false: no
 * backing is allocated, no page marked dirty). Returns false when no leaf
 * can map it (MMIO, outside the slots, out of memory): *why says so.
 */
struct leaf_in {
	uint64_t gfn;
	unsigned acc;      /* ACC_* of the whole guest path */
	unsigned pkey;
	bool dirty;        /* the guest leaf's D flag */
	bool fault;
	enum access_type type;
	bool user;         /* user-mode access */
};
bool shadow_make_leaf(struct shadow_mmu *s, union sp_role role, const struct leaf_in *in,
		      uint64_t *spte, int *slot_status);
unsigned acc_from_rights(unsigned rights);
/* The child a non-leaf guest entry of `sp` at shadow index idx leads to, if valid. */
bool shadow_child_key(const struct shadow_mmu *s, const struct pt_format *gfmt,
		      const struct shadow_page *sp, unsigned idx, uint64_t gentry,
		      uint64_t *gfn, union sp_role *role);
/* Guest entry index in the guest table for shadow entry idx of sp. */
unsigned sp_guest_index(const struct shadow_page *sp, unsigned idx);
unsigned sp_guest_entry_size(const struct shadow_page *sp);

/* ---- shadow_sync.c ---- */
bool sp_can_unsync(const struct shadow_mmu *s, uint64_t gfn);
void sp_mark_unsync(struct shadow_mmu *s, uint64_t gfn);
void sp_sync(struct shadow_mmu *s, const struct cpu *guest, struct shadow_page *sp);
void sp_sync_gfn(struct shadow_mmu *s, const struct cpu *guest, uint64_t gfn);

/* ---- shadow_root.c ---- */
void root_release(struct shadow_mmu *s, struct shadow_root *r);
/*
 * For the cap: gives up one root not needed by the fault in progress - a
 * cached root of any vCPU (deepest cache slot first), else the current
 * root of another vCPU (remade at its next entry). False if none is left.
 */
bool root_give_up(struct shadow_mmu *s);
/* Makes the selected vCPU's roots[0] the root for the guest state (from its cache, or new). */
bool root_ensure(struct shadow_mmu *s, const struct guest_ctx *g);
/* Loads the guest's PDPTE registers if the state asks for it (PAE guests). */
void guest_pdptes_update(struct shadow_mmu *s, const struct guest_ctx *g);
bool root_valid(const struct shadow_root *r);

#endif
