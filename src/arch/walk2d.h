/*
 * walk2d.h - what the processor does when software accesses a linear
 * address: the guest walk, composed with the nested (EPT or NPT) walk of
 * every guest table address and of the final guest-physical address, the
 * access-rights rules, the A/D updates, and the exact fault.
 *
 *   hw_mmu_init()   prepares a context from the registers (like VM entry:
 *                   checks EPTP, loads PAE PDPTEs) - may give VMENTRY_FAIL;
 *   hw_translate()  one access, nothing assumed cached except what the
 *                   optional caches (tlb.h) supply.
 */
#ifndef NESTMMU_ARCH_WALK2D_H
#define NESTMMU_ARCH_WALK2D_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/cpu.h"
#include "arch/pmem.h"
#include "arch/pt_format.h"
#include "arch/walk.h"

enum access_type { ACCESS_READ, ACCESS_WRITE, ACCESS_FETCH };

enum nested_mode {
	NESTED_NONE, /* guest-physical = host-physical */
	NESTED_EPT,  /* Intel EPT (requires cpu intel) */
	NESTED_NPT,  /* AMD nested paging (requires cpu amd) */
};

struct hw_config {
	struct cpu cpu;         /* the guest's CPU state */
	enum nested_mode nested;
	uint64_t eptp;          /* NESTED_EPT */
	struct ept_caps ept_caps;
	uint64_t ncr3;          /* NESTED_NPT: nested page table root (host-physical) */
	uint64_t ncr4, nefer;   /* NESTED_NPT: host CR4 (LA57) and EFER (NXE) */
	struct pmem mem;        /* host-physical memory */
};

enum xlate_outcome {
	XO_OK,
	XO_PAGE_FAULT,     /* #PF delivered to the guest: error_code, cr2 */
	XO_GP,             /* #GP: non-canonical linear address */
	XO_EPT_VIOLATION,  /* VM exit: qualification, fault_gpa, gla (if valid) */
	XO_EPT_MISCONFIG,  /* VM exit: fault_gpa */
	XO_NPF,            /* #VMEXIT(NPF): exitinfo1, exitinfo2 */
	XO_VMENTRY_FAIL,   /* the state cannot be entered (bad PDPTE, bad EPTP): reason */
	XO_ABORT,          /* a table lies outside memory (a broken scenario): reason */
};

const char *xlate_outcome_name(enum xlate_outcome o);

struct xlate_result {
	enum xlate_outcome outcome;
	uint64_t gpa;        /* XO_OK: guest-physical address (= hpa without nesting) */
	uint64_t hpa;        /* XO_OK */
	uint64_t page_size;  /* XO_OK: size of the guest page, min with the nested page */
	unsigned refs;       /* paging-structure entries read from memory, both dimensions */
	unsigned ad_writes;  /* A/D compare-exchanges that stored */
	uint32_t error_code; /* XO_PAGE_FAULT */
	uint64_t cr2;        /* XO_PAGE_FAULT */
	uint64_t qualification; /* XO_EPT_VIOLATION */
	uint64_t fault_gpa;  /* XO_EPT_VIOLATION, XO_EPT_MISCONFIG */
	uint64_t gla;        /* XO_EPT_VIOLATION when qualification bit 7 is set */
	bool gla_valid;
	uint64_t exitinfo1, exitinfo2; /* XO_NPF */
	const char *reason;  /* XO_VMENTRY_FAIL, XO_ABORT */
	/* XO_OK: what a TLB entry caches about the translation (SDM 4.10.2.2) */
	unsigned guest_rights;  /* RIGHT_* ANDed over the guest walk (RIGHT_ALL with paging off) */
	unsigned nested_rights; /* RIGHT_* of the final nested translation (RIGHT_ALL without) */
	unsigned pkey;          /* protection key of the guest leaf (0 without CR4.PKE) */
	uint64_t guest_page_size; /* the guest page alone (page_size is min with nested) */
	bool global;            /* guest leaf G = 1 and CR4.PGE = 1 (SDM 4.10.2.4) */
	bool guest_dirty;       /* guest leaf D is set after the access (true with paging off) */
	bool nested_dirty;      /* nested leaf D is set (true when D is not maintained) */
};

/* Optional caches consulted by hw_translate (see tlb.h). */
struct hw_caches {
	const struct walk_cache *guest_psc;  /* guest dimension */
	const struct walk_cache *nested_psc; /* nested dimension */
	/*
	 * Nested TLB: gpa -> hpa for final nested translations (page
	 * granular). lookup returns true with the hpa of the page and the
	 * nested rights; fill records a completed nested translation.
	 */
	bool (*ntlb_lookup)(void *ctx, uint64_t gpa, uint64_t *hpa_page, uint64_t *size, unsigned *rights, bool *dirty);
	void (*ntlb_fill)(void *ctx, uint64_t gpa, uint64_t hpa_page, uint64_t size, unsigned rights, bool dirty);
	void *ntlb_ctx;
};

struct hw_mmu {
	struct hw_config cfg;
	enum paging_mode mode;
	struct pt_format guest_fmt;
	struct pt_format nested_fmt;  /* NESTED_EPT / NESTED_NPT */
	uint64_t guest_root;          /* guest table root (guest-physical) */
	uint64_t nested_root;         /* nested table root (host-physical) */
	uint64_t pdpte[4];            /* PAE PDPTE registers when guest_fmt.pdpte_regs */
	const struct hw_caches *caches; /* NULL: nothing cached */
};

/*
 * Checks a configuration for what no hardware state can be (EPT on AMD,
 * NPT on Intel, guest registers the CPU cannot hold: cpu_regs_invalid()).
 * Returns NULL if fine, else a message. Input errors, not outcomes.
 */
const char *hw_config_invalid(const struct hw_config *cfg);

/*
 * Prepares the context (cfg must pass hw_config_invalid()). Returns true on
 * success. On an architectural failure (bad PDPTE, invalid EPTP) fills
 * *fail with XO_VMENTRY_FAIL and its reason (or with the nested fault met
 * while loading the PDPTEs through EPT) and returns false.
 */
bool hw_mmu_init(struct hw_mmu *m, const struct hw_config *cfg, struct xlate_result *fail);

/* One access to linear address `la`. `implicit`: implicit supervisor access. */
void hw_translate(const struct hw_mmu *m, uint64_t la, enum access_type type, bool implicit,
		  struct xlate_result *r, struct walk_trace *trace);

/*
 * The x86 access-rights rules (SDM 4.6, 4.6.2): given the rights ANDed over
 * a successful guest walk and the leaf's protection key, 0 if the access is
 * allowed, else the #PF error code (P set, with W/U/I-D/PK). Shared by the
 * walker and the TLB's hit path.
 */
uint32_t x86_access_fault(const struct cpu_regs *regs, const struct pt_format *fmt,
			  unsigned rights, unsigned pkey, enum access_type type, bool implicit);

/*
 * The nested rule for the final access (SDM Vol. 3C 29.3.3.2; APM 15.25.5):
 * may an access of `type` go to a page with nested rights `rights`?
 * `user_la`: the linear address is user-mode (MBEC picks XU over XS).
 * Always true without nested paging.
 */
bool hw_nested_allows(const struct hw_mmu *m, unsigned rights, enum access_type type, bool user_la);

/* The W, U and I/D bits of a #PF error code for an access (SDM 4.7). */
uint32_t x86_pfec_access_bits(const struct cpu_regs *regs, enum access_type type, bool implicit);

/*
 * A nested translation on its own (gpa -> hpa), as for the final address
 * of an access with guest paging off: used by tests and the nested TLB.
 */
void hw_translate_gpa(const struct hw_mmu *m, uint64_t gpa, enum access_type type,
		      struct xlate_result *r, struct walk_trace *trace);

#endif
