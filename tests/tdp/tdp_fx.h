/*
 * tdp_fx.h - the TDP tests' fixture: host memory, frames, the L0 port,
 * memory slots, a TDP MMU over them, and the hardware (walk2d) programmed
 * with the MMU's root. The hardware reads host memory directly (not the
 * port), so every check is the processor's view of the tables.
 *
 * Rules the expected values use (see frames.h, memslot.h, tdp.h):
 *  - frames are handed out lowest first from FX_FIRST_HFN; the root table
 *    is the first (tdp_create), so it is FX_FIRST_HFN;
 *  - a fault allocates the slot's backing run first, then the missing
 *    tables from the top down.
 */
#ifndef NESTMMU_TESTS_TDP_FX_H
#define NESTMMU_TESTS_TDP_FX_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/walk2d.h"
#include "mem/frames.h"
#include "mem/hostmem.h"
#include "mem/mem_l0.h"
#include "mem/memslot.h"
#include "mmu/tdp.h"
#include "sim/counters.h"

#define FX_FIRST_HFN UINT64_C(0x100)
#define FX_NFRAMES   (UINT64_C(1) << 26)  /* 256 GiB of host frames */
#define FX_HOST_LIMIT (UINT64_C(1) << 40)
#define FX_MAXPHY    46u

struct fx_opts {
	enum tdp_kind kind;
	unsigned levels;
	unsigned max_level;
	bool ad;                      /* EPT A/D */
	enum tdp_dirty_mode dirty_mode;
	/*
	 * Run the MMU as if it were L1's hypervisor: counters at CNT_L1 /
	 * CNT_PT_EPT12, and a port of level 1 that answers MEM_RETRY (doing
	 * nothing) to every 3rd access and every 2nd table allocation, as a
	 * port whose accesses trap to L0 may.
	 */
	bool as_l1;
};

/* The port wrapper of as_l1. */
struct fx_flaky {
	struct mem_port port;
	struct mem_port *inner;
	unsigned calls, allocs;
	uint64_t retries;
};

struct fx {
	struct fx_opts o;
	struct hostmem *hm;
	struct frames *fr;
	struct mem_l0 *l0;
	struct mem_port *port;
	struct memslots *ms;
	struct tdp_mmu *t;
	struct counters cnt;
	struct hw_mmu hw;
	struct fx_flaky flaky;
};

/* The four formats the tests run over. */
extern const struct fx_opts fx_formats[4];
const char *fx_name(const struct fx_opts *o);

void fx_init(struct fx *f, const struct fx_opts *o);
void fx_fini(struct fx *f);

/* Adds a slot (asserting success). */
void fx_slot(struct fx *f, uint32_t id, uint64_t base_gfn, uint64_t npages, uint32_t flags, unsigned order);

/* The hardware's translation of gpa (guest paging off: gpa = linear address). */
void fx_hw(struct fx *f, uint64_t gpa, enum access_type type, struct xlate_result *r);
/* Same, recording the nested walk's steps. */
void fx_hw_trace(struct fx *f, uint64_t gpa, enum access_type type, struct xlate_result *r,
		 struct walk_step *steps, unsigned cap, unsigned *n);

/*
 * What a vCPU does: access; on an EPT violation / #NPF call the MMU and
 * retry while it answers FIXED, SPURIOUS or RETRY (at most 16 times).
 * Returns the last handler result, or -1 if the access succeeded without
 * a fault. *r receives the last hardware result; *faults (if not NULL) is
 * incremented per fault handled.
 */
int fx_access(struct fx *f, uint64_t gpa, enum access_type type, struct xlate_result *r,
	      struct mmu_fault *last, unsigned *faults);

/* Asserts the hardware translates gpa for `type` to the slot's frame. */
void fx_expect_mapped(struct fx *f, uint64_t gpa, enum access_type type);
/* Asserts the hardware faults (EPT violation / #NPF) on gpa for `type`. */
void fx_expect_fault(struct fx *f, uint64_t gpa, enum access_type type);

/*
 * Walks every table in host memory from the root and checks each leaf
 * against the slots: the gfns it maps lie in one memory slot, are backed,
 * and the frames are the slot's (first and last page of the leaf: one
 * backing run covers a leaf); W only where the slot is writable and no
 * gfn is tracked. Returns the number of leaves; *tables the table pages.
 */
uint64_t fx_audit(struct fx *f, uint64_t *tables);

/* A hash of every table page's contents, in tree order (determinism). */
uint64_t fx_tables_hash(struct fx *f);

/* The value of the nested leaf translating gpa (0 if none), read from host memory. */
uint64_t fx_leaf(struct fx *f, uint64_t gpa, unsigned *level);

#endif
