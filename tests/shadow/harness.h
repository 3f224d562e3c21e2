/*
 * harness.h - a guest running on the shadow MMU, checked against the
 * hardware walker.
 *
 * Two copies of the guest's page tables are kept:
 *   - the guest's memory proper (memory slots over the L0 port), which the
 *     shadow MMU reads and updates (guest A/D, emulated writes);
 *   - a reference memory (a plain map gpa -> word) holding the same tables,
 *     walked by hw_translate with the guest's own registers and no nesting:
 *     the processor running the guest natively.
 * Every access is made on both: natively on the reference (which sets A/D
 * there as the processor does), and through the shadow tables as the
 * hardware would run the guest - hw_translate over the shadow tables with
 * the registers from shadow_hw_regs; a #PF goes to shadow_page_fault and
 * the access is repeated (RET_PF_FIXED), delivered (RET_PF_INJECT) or
 * emulated (RET_PF_EMULATE). The outcomes must be the same - the frame
 * backing the reference's gpa, or the same #PF error code and CR2 - and
 * so must the guest's page tables in both memories (A/D included): the
 * entries an access may change after each access, every table page at
 * the tests' check points (env_check_tables).
 *
 * Expected values come only from the hardware walker over the reference
 * tables: the shadow MMU's own state is never an expected value.
 *
 * Several vCPUs (env_opts.nvcpus): the memories are shared; each vCPU has
 * its own registers, its own reference context (PAE PDPTEs loaded at its
 * own CR3 loads) and its own shadow roots. env_select_vcpu() makes a vCPU
 * the one every other env_* call acts on (e->cpu, e->fmt, e->ref_mmu are
 * the selected vCPU's; the shadow MMU is told with shadow_select_vcpu).
 * Every vCPU starts on the kernel root.
 *
 * Guest-physical layout: one RAM slot of 4 GiB (backed on first touch);
 * guest page tables from PT_BASE up (bump allocated); data pages from
 * DATA_BASE. The guest kernel's direct map maps gpa [0, DM_SIZE) at
 * dm_base, so the guest writes its page tables through it (and the shadow
 * MMU sees the writes).
 */
#ifndef NESTMMU_TESTS_SHADOW_HARNESS_H
#define NESTMMU_TESTS_SHADOW_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/walk2d.h"
#include "arch/x86.h"
#include "mem/frames.h"
#include "mem/guestmem.h"
#include "mem/hostmem.h"
#include "mem/mem_l0.h"
#include "mem/memslot.h"
#include "mem/u64map.h"
#include "mmu/shadow.h"
#include "sim/counters.h"

#define GUEST_MAXPHY 40
#define HW_MAXPHY    40
#define SLOT_PAGES   (UINT64_C(1) << 20) /* 4 GiB */
#define PT_BASE      UINT64_C(0x00200000)
#define PT_LIMIT     UINT64_C(0x01000000)
#define DM_SIZE      UINT64_C(0x01000000) /* the direct map covers every table */
#define DATA_BASE    UINT64_C(0x01000000)
#define ENV_MAX_VCPUS 4

struct env_opts {
	enum paging_mode mode;
	enum cpu_vendor vendor;
	bool unsync;
	uint64_t max_pages;     /* 0: no cap */
	unsigned root_cache;    /* previous roots kept */
	bool dm_large;          /* direct map with 2/4 MiB pages (else 4 KiB) */
	bool pse;               /* 32-bit: CR4.PSE */
	bool nxe;               /* PAE/IA-32e: EFER.NXE */
	unsigned maxphy;        /* the guest's MAXPHYADDR (0: GUEST_MAXPHY) */
	/*
	 * The MMU as L1's hypervisor would run: its port (level 1) answers
	 * MEM_RETRY to every `retry_every`-th call (0: plain L0 port), and it
	 * counts at level 1 with the shadow_l1 page kind.
	 */
	unsigned retry_every;
	unsigned nvcpus;        /* 0: 1 */
};

/* A port that answers MEM_RETRY now and then (nothing done), else forwards. */
struct retry_port {
	struct mem_port port;
	struct mem_port *inner;
	unsigned every;
	uint64_t calls, retries;
};

struct env {
	struct env_opts o;
	struct hostmem *hm;
	struct frames *fr;
	struct mem_l0 *l0;
	struct mem_port *port;    /* the L0 port: the harness's own accesses, the hardware's walks */
	struct retry_port rport;  /* the MMU's port with retry_every */
	enum cnt_level level;     /* the MMU's counters */
	enum cnt_pt kind;
	struct memslots *ms;
	struct guestmem gm;
	struct counters cnt;
	struct shadow_mmu *s;
	struct cpu cpu;           /* the guest's processor */
	struct pt_format fmt;     /* the guest's format (paging on) */
	struct u64map ref;        /* reference memory: gpa >> 3 -> word */
	struct hw_mmu ref_mmu;    /* reference context (PDPTEs loaded at CR3 load) */
	uint64_t pt_next;         /* next free guest table page */
	uint64_t kroot;           /* the first root (holds the direct map) */
	uint64_t dm_base;         /* gva of gpa 0 in the direct map */
	uint64_t ops;             /* accesses made */
	uint64_t emulated, injected, fixed; /* outcomes seen on the shadow side */
	/* the vCPUs not selected now (the selected one's state is in cpu, fmt, ref_mmu) */
	unsigned nvcpus, vcpu;
	struct {
		struct cpu cpu;
		struct pt_format fmt;
		struct hw_mmu ref_mmu;
	} vc[ENV_MAX_VCPUS];
};

/* Outcome of one access, as the guest sees it. */
struct xs {
	enum xlate_outcome outcome; /* XO_OK, XO_PAGE_FAULT, XO_GP */
	uint64_t hpa;               /* XO_OK: frame of the port's space + offset */
	uint64_t gpa;               /* XO_OK: from the reference */
	uint32_t ec;
	uint64_t cr2;
};

void env_init(struct env *e, const struct env_opts *o);
void env_fini(struct env *e);

/* Guest page tables. */
uint64_t g_alloc_table(struct env *e);
/* A new top-level table (PAE: a PDPT page) sharing the kernel's direct map. */
uint64_t g_new_root(struct env *e);
/*
 * Maps gva -> gpa with a leaf at `level` (1: 4 KiB, 2: 2/4 MiB, 3: 1 GiB)
 * under root, making missing tables with `tflags`. `runtime`: the guest
 * writes the entries through its direct map (trapped by the shadow MMU);
 * else they are written at boot into both memories. Returns the gpa of
 * the leaf entry.
 */
uint64_t g_map(struct env *e, uint64_t root, uint64_t gva, uint64_t gpa, unsigned level,
	       uint64_t leaf, uint64_t tflags, bool runtime);
/* The gpa of the entry at `level` for gva under root (its table must exist). */
uint64_t g_entry_gpa(struct env *e, uint64_t root, uint64_t gva, unsigned level);
uint64_t g_ref_get(struct env *e, uint64_t gpa);   /* an entry (entry size) from the reference */
/* The guest writes an entry (entry size) through its direct map (at its gpa while paging is off). */
void g_write_entry(struct env *e, uint64_t gpa, uint64_t val);
/* Boot-time write into both memories (entry size). */
void g_boot_put(struct env *e, uint64_t gpa, uint64_t val);

/* Processor state. */
void env_load_cr3(struct env *e, uint64_t cr3, bool flush);
/* Changes CR0/CR4/EFER (not CR3): the reference reloads, the shadow MMU is told (shadow_ctl_changed). */
void env_set_ctl(struct env *e, uint64_t cr0, uint64_t cr4, uint64_t efer);
void env_invlpg(struct env *e, uint64_t gva);

/*
 * One access (cpl 0 or 3; implicit supervisor access; for a write, the
 * value stored if it lands in a page table): made on both sides, compared
 * (outcome, frame or #PF, the guest entries on the walk's path and the word
 * written, in both memories). Fails the test on any difference.
 */
void env_access(struct env *e, uint64_t gva, enum access_type t, unsigned cpl, bool implicit,
		unsigned size, uint64_t val, struct xs *out);
static inline void env_read(struct env *e, uint64_t gva, unsigned cpl, struct xs *out)
{
	env_access(e, gva, ACCESS_READ, cpl, false, 8, 0, out);
}

/* Every guest table page equal in both memories. */
void env_check_tables(struct env *e);
/*
 * The shadow tables grant nothing the guest's tables do not: for each gva
 * and each access, if the hardware allows it through the shadow tables,
 * the guest's tables (not modified) allow it to the same frame with every
 * A flag on the path set, and D set for a write. Also shadow_check().
 */
void env_check_subset(struct env *e, const uint64_t *gvas, unsigned n);

/* Makes vCPU v the selected one (harness and shadow MMU). */
void env_select_vcpu(struct env *e, unsigned v);
/*
 * The hardware context the selected vCPU enters with (shadow_hw_cpu,
 * hw_mmu_init over the shadow tables); fails the test if there is none.
 */
void env_hw_mmu(struct env *e, struct hw_mmu *m);

/* Frame (port address) backing a gpa, 0 if untouched. */
uint64_t env_frame(struct env *e, uint64_t gpa);

#endif
