/*
 * nfx.h - the nested TDP tests' fixture: host memory and frames, L0's port,
 * L1's memory (slots), L0's EPT01 for L1 (it holds the write tracking), the
 * nested TDP component, L2's CPU, and the two ways of running an L2 access:
 *
 *   nfx_run_02   what happens: the hardware over EPT02 in host memory; each
 *                EPT violation / #NPF goes to ntdp_page_fault, repeated
 *                until the access ends (success, L2 #PF, reflection to L1,
 *                emulation);
 *   nfx_run_12   the reference: the hardware layer over EPT12 (or NPT12)
 *                with L1's physical memory as memory (guestmem_pmem), as if
 *                the processor walked EPT12 itself.
 *
 * L1's memory (gfn1):
 *   slot 0  RAM       [0, 0x80000)        2 GiB, backed by 1 GiB runs
 *   slot 1  read-only [0x80000, 0x80400)  4 MiB, 2 MiB runs
 *   slot 2  MMIO      [0x80400, 0x80600)
 */
#ifndef NESTMMU_TESTS_NESTED_NFX_H
#define NESTMMU_TESTS_NESTED_NFX_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/walk2d.h"
#include "mem/frames.h"
#include "mem/guestmem.h"
#include "mem/hostmem.h"
#include "mem/mem_l0.h"
#include "mem/memslot.h"
#include "mmu/nested_tdp.h"
#include "mmu/tdp.h"
#include "sim/counters.h"

#define NFX_MAXPHY 46u
#define NFX_RAM_PAGES UINT64_C(0x80000)
#define NFX_RO_GFN UINT64_C(0x80000)
#define NFX_RO_PAGES UINT64_C(0x400)
#define NFX_MMIO_GFN UINT64_C(0x80400)
#define NFX_MMIO_PAGES UINT64_C(0x200)

struct nfx_opts {
	enum tdp_kind kind;
	bool ad;        /* EPTP12 bit 6 */
	bool xonly;     /* execute-only offered to L1 */
	unsigned roots; /* root cache size (0: 4) */
	unsigned max_level; /* EPT02's largest leaf (0: 3) */
};

struct nfx {
	struct nfx_opts o;
	struct hostmem *hm;
	struct frames *fr;
	struct mem_l0 *l0;
	struct mem_port *port;
	struct memslots *l1;
	struct guestmem gm;     /* L1's memory, for the test's own accesses */
	struct tdp_mmu *ept01;
	struct ntdp *n;
	struct counters cnt;
	struct ept_caps caps;   /* what L0 offers L1 */
	struct cpu l2;          /* L2's CPU: vendor, registers */
	struct ntdp_root12 r12; /* the EPT12 / NPT12 now used */
	unsigned tracked_calls;
};

/* The outcome of one L2 access, as seen by L1 (or by L2 itself). */
struct nfx_result {
	struct xlate_result x;  /* XO_OK, XO_PAGE_FAULT, XO_GP, or the reflected fault */
	bool emulated;          /* ours only: RET_PF_EMULATE */
	uint64_t emulate_gpa;
	unsigned faults;        /* ntdp_page_fault calls */
};

void nfx_init(struct nfx *x, const struct nfx_opts *o);
void nfx_fini(struct nfx *x);

/* L1 memory access (asserting success). */
void nfx_w64(struct nfx *x, uint64_t gpa1, uint64_t v);
uint64_t nfx_r64(struct nfx *x, uint64_t gpa1);

/* Loads the EPT12 whose root table is at gpa1 `root` (EPTP12 / nCR3_12 from the options). */
void nfx_load(struct nfx *x, uint64_t root);
uint64_t nfx_eptp12(const struct nfx *x, uint64_t root);

/* EPT12 entries (the test writes them with nfx_w64 or ntdp_ept12_write). */
uint64_t nfx_table_entry(const struct nfx *x, uint64_t table_gpa1);
/* A leaf at `level` to gpa1 with RIGHT_R/W/X (EPT: rights as given, may be a
 * misconfiguration; NPT: R = present, plus U). */
uint64_t nfx_leaf_entry(const struct nfx *x, uint64_t gpa1, unsigned level, unsigned rights);

void nfx_run_02(struct nfx *x, uint64_t la, enum access_type t, bool implicit, struct nfx_result *res);
void nfx_run_12(struct nfx *x, uint64_t la, enum access_type t, bool implicit, struct xlate_result *r);

/* Asserts the two agree (outcome and every field L1 or L2 sees; hpa composed with L1's slots). */
void nfx_compare(struct nfx *x, const struct nfx_result *ours, const struct xlate_result *ref,
		 const char *what);

#endif
