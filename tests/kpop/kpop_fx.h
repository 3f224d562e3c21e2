/*
 * kpop_fx.h - the KPOP tests' fixture: host memory, frames, the L0 port,
 * L1's memory slots, a KPOP component over them, an independent model of
 * what L1 was granted, and the hardware (walk2d) run over each guest MMU's
 * table in host memory.
 *
 * L1's layout (gfns):
 *   slot 1  RAM        [0x0,     0x4000)   (64 MiB; the argument blocks at FX_SCRATCH_GFN)
 *   slot 2  read-only  [0x10000, 0x10100)
 *   slot 3  MMIO       [0x20000, 0x20100)
 *   slot 4  RAM        [0x30000, 0x30400)  (the slot the dirty-logging tests switch)
 * Expected values come from the model (fx_model_*: an array of what was
 * mapped) and from memslots_gfn_peek (L1 gfn -> host frame), never from
 * the component's own answers.
 */
#ifndef NESTMMU_TESTS_KPOP_FX_H
#define NESTMMU_TESTS_KPOP_FX_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/walk2d.h"
#include "mem/frames.h"
#include "mem/hostmem.h"
#include "mem/mem_l0.h"
#include "mem/memslot.h"
#include "mmu/kpop.h"
#include "sim/counters.h"

#define FX_FIRST_HFN   UINT64_C(0x100)
#define FX_NFRAMES     (UINT64_C(1) << 22)
#define FX_HOST_LIMIT  (UINT64_C(1) << 40)
#define FX_MAXPHY      46u

#define FX_RAM_GFN     UINT64_C(0x0)
#define FX_RAM_PAGES   UINT64_C(0x4000)
#define FX_RO_GFN      UINT64_C(0x10000)
#define FX_MMIO_GFN    UINT64_C(0x20000)
#define FX_LOG_GFN     UINT64_C(0x30000)
#define FX_LOG_PAGES   UINT64_C(0x400)
#define FX_SLOT_SMALL  UINT64_C(0x100)
#define FX_SCRATCH_GFN UINT64_C(0x3f00) /* 16 pages for argument blocks, end of slot 1 */
#define FX_SCRATCH     (FX_SCRATCH_GFN << 12)

struct fx_opts {
	enum kpop_kind kind;
	unsigned levels;
	bool ad;            /* EPT A/D */
	unsigned max_mmus;  /* 0: 16 */
	uint64_t max_pages; /* 0: 1 << 20 */
};

extern const struct fx_opts fx_formats[5]; /* ept4 (A/D), ept5 (A/D), ept4 without A/D, npt4, npt5 */
const char *fx_name(const struct fx_opts *o);

/* One mapping of the model. */
struct fx_map {
	uint64_t handle, l2, l1;
	unsigned perms;
};

#define FX_MODEL_MAX 8192

struct fx {
	struct fx_opts o;
	struct hostmem *hm;
	struct frames *fr;
	struct mem_l0 *l0;
	struct mem_port *port;
	struct memslots *ms;
	struct kpop *kp;
	struct counters cnt;
	/* the model */
	struct fx_map *model;
	unsigned nmodel;
	uint64_t handles[64]; /* loaded handles (0: free), their holder, as_id, references */
	uint64_t holders[64], as_ids[64];
	unsigned refs[64];
};

void fx_init(struct fx *f, const struct fx_opts *o);
void fx_fini(struct fx *f);

/* ---- L1's side: hypercalls, argument blocks written into L1 memory at FX_SCRATCH ---- */

int64_t fx_hc(struct fx *f, unsigned nr, uint64_t a0, uint64_t a1);
/* Writes `n` map descriptors at gpa (via L1 memory, as L1 would). */
void fx_put_map(struct fx *f, uint64_t gpa, const struct kpop_map_desc *d, unsigned n);
void fx_put_unmap(struct fx *f, uint64_t gpa, const struct kpop_unmap_desc *d, unsigned n);
int64_t fx_map(struct fx *f, const struct kpop_map_desc *d, unsigned n);
int64_t fx_unmap(struct fx *f, const struct kpop_unmap_desc *d, unsigned n);
/* Load (asserting success); returns the handle. */
uint64_t fx_load(struct fx *f, uint64_t holder, uint64_t as_id);

/* ---- the model ---- */

/* Records what a successful map did / an unmap removed. */
void fx_model_map(struct fx *f, const struct kpop_map_desc *d, unsigned n);
uint64_t fx_model_unmap(struct fx *f, uint64_t handle, uint64_t l2, uint64_t n); /* handle 0: all */
struct fx_map *fx_model_find(struct fx *f, uint64_t handle, uint64_t l2);
/* Drops every model entry whose L1 gfn lies in [l1, l1 + n) (a slot went away). */
void fx_model_drop_l1(struct fx *f, uint64_t l1, uint64_t n);

/* ---- checks ---- */

/* kpop_check must pass. */
void fx_check(struct fx *f);
/*
 * Full comparison against the model: kpop_check; every model entry is a
 * record with the same L1 gfn and perms; as many records as entries; the
 * hardware translates each entry's L2 gpa for a read (and a fetch iff X) to
 * memslots_gfn_peek(l1) - or faults when `allow_absent` and the leaf was
 * removed (aging without A/D); a write faults without W in the record and
 * otherwise goes to the right frame or faults (W withheld by L0); a few L2
 * gfns next to them that the model says are unmapped fault.
 */
void fx_check_model(struct fx *f, bool allow_absent);

/* The hardware's view: one access of L2 (paging off) on MMU `handle`. */
void fx_hw(struct fx *f, uint64_t handle, uint64_t l2_gpa, enum access_type type, struct xlate_result *r);
/* Like a vCPU: access, on a nested fault call kpop_page_fault and retry (bounded). Returns the last handler result, -1 if no fault. */
int fx_access(struct fx *f, uint64_t handle, uint64_t l2_gpa, enum access_type type, struct xlate_result *r,
	      struct mmu_fault *last);
bool fx_nested_fault(const struct fx *f, const struct xlate_result *r);

/* Everything the component holds, for "nothing changed" (tables byte for byte from host memory). */
struct fx_state {
	uint64_t tables_hash;
	uint64_t tables_live, mapped, mmus;
	uint64_t refs_flush_hash;
	uint64_t records_hash;  /* lookups of every model entry */
	struct counters cnt;
	uint64_t frames;        /* host frames allocated */
};
void fx_state(struct fx *f, struct fx_state *s);
void fx_assert_same(const struct fx_state *a, const struct fx_state *b);

#endif
