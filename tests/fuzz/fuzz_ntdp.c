/*
 * fuzz_ntdp - libFuzzer target for nested TDP (src/mmu/nested_tdp.h) under a
 * hostile L1 and a hostile L2.
 *
 * The first byte picks EPT (with or without A/D, execute-only offered or
 * not) or NPT and EPT02's largest leaf. L1 starts with a working EPT12 in
 * its pool (PML4 -> PDPT -> PD -> PT: PT maps gpa2 [0, 2 MiB) to RAM, its
 * last 16 entries to the pool itself; PD[1] a 2 MiB leaf to RAM, PD[2]
 * one to the read-only slot) loaded, so that mutations start from
 * translations that work; the rest of the input is a sequence of
 * operations:
 *   L1 stores any 4 or 8 bytes into a pool of 16 L1 pages that serve as
 *     EPT12 tables (entries pointing into the pool give loops, self
 *     references and aliases; any reserved bit, any memory type), or into
 *     the read-only or MMIO slot;
 *   L1 loads an EPTP12 / nCR3 with any bits (the hardware's VM-entry
 *     checks may refuse it);
 *   L1 executes INVEPT single-context (any EPTP) or global;
 *   L2 accesses any guest-physical address (read, write, fetch): the
 *     hardware runs over EPT02 in host memory, every EPT violation / #NPF
 *     goes to ntdp_page_fault until the access ends.
 * Invariants checked after every operation:
 *   - ntdp_check: every EPT02 leaf is the composition of EPT12 and L1's
 *     slots, every EPT12 page write-protected in EPT01;
 *   - an L2 access that succeeds reaches the frame backing, in L1's slots,
 *     the gpa1 that the hardware layer gives for the same access over
 *     EPT12 itself (never a frame L1 does not own); an access L0 reflects
 *     to L1 is refused by EPT12 as well (the same outcome kind);
 *   - fixing never loops (64 faults for one access is a bug);
 * and at the end, destroying everything returns every frame.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/walk2d.h"
#include "arch/x86.h"
#include "mem/frames.h"
#include "mem/guestmem.h"
#include "mem/hostmem.h"
#include "mem/mem_l0.h"
#include "mem/memslot.h"
#include "mmu/nested_tdp.h"
#include "mmu/tdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXPHY 46u
#define POOL_GFN1 UINT64_C(0x100)
#define POOL_PAGES 16u
#define RAM_PAGES UINT64_C(0x4000)   /* 64 MiB of L1 RAM */
#define RO_GFN1 UINT64_C(0x4000)
#define MMIO_GFN1 UINT64_C(0x4200)

struct world {
	struct hostmem *hm;
	struct frames *fr;
	struct mem_l0 *l0;
	struct memslots *l1;
	struct guestmem gm;
	struct tdp_mmu *ept01;
	struct ntdp *n;
	struct counters cnt;
	struct ept_caps caps;
	enum tdp_kind kind;
	struct ntdp_root12 r12;
	bool loaded;
	const uint8_t *p, *end;
};

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "fuzz_ntdp: %s: %s\n", what, msg);
	abort();
}

static uint64_t take(struct world *w, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes && w->p < w->end; i++)
		v |= (uint64_t)*w->p++ << (8 * i);
	return v;
}

static void slot(struct world *w, uint32_t id, uint64_t base, uint64_t n, uint32_t flags, unsigned order)
{
	struct memslot_desc d = { .id = id, .base_gfn = base, .npages = n, .flags = flags, .backing_order = order };

	if (memslots_add(w->l1, &d) != MEMSLOT_OK)
		die("setup", "memslots_add");
}

static void check(struct world *w, const char *after)
{
	char msg[256];

	if (ntdp_check(w->n, msg, sizeof(msg)))
		die(after, msg);
}

/* An entry: mostly a pool page or a RAM page with rights, sometimes any 64 bits. */
static uint64_t entry(struct world *w)
{
	uint8_t how = (uint8_t)take(w, 1);
	uint64_t e;

	if (how < 32)
		return take(w, 8);
	e = how & 0x40 ? (POOL_GFN1 + take(w, 1) % POOL_PAGES) << 12 : (take(w, 2) % (RAM_PAGES + 0x400)) << 12;
	if (w->kind == TDP_EPT)
		e |= (how & 7) | ((uint64_t)(how & 0x20 ? MT_WB : take(w, 1) & 7) << EPT_MT_SHIFT);
	else
		e |= PTE_P | (how & 1 ? PTE_RW : 0) | (how & 2 ? PTE_US : 0) | (how & 4 ? PTE_XD : 0);
	if (how & 0x10)
		e |= PTE_PS; /* bit 7: a large leaf where the level allows it */
	if (how & 0x08)
		e |= UINT64_C(1) << (8 + take(w, 1) % 56); /* A, D, ignored, reserved... */
	return e;
}

static void op_store(struct world *w)
{
	uint8_t sel = (uint8_t)take(w, 1);
	uint64_t gpa1;
	int rc;

	if (sel < 240)
		gpa1 = ((POOL_GFN1 + sel % POOL_PAGES) << 12) | (take(w, 2) & 0xff8);
	else if (sel < 248)
		gpa1 = (RO_GFN1 << 12) | (take(w, 2) & 0xff8);
	else
		gpa1 = (MMIO_GFN1 << 12) | (take(w, 2) & 0xff8);
	if (sel & 1)
		rc = ntdp_ept12_write(w->n, gpa1 | (sel & 4), 4, entry(w) & 0xffffffff);
	else
		rc = ntdp_ept12_write(w->n, gpa1, 8, entry(w));
	if (rc != NTDP_OK && rc != NTDP_EMEM)
		die("store", "ntdp_ept12_write refused a well-formed store");
}

static void op_load(struct world *w)
{
	uint8_t sel = (uint8_t)take(w, 1);
	uint64_t root = (POOL_GFN1 + sel % POOL_PAGES) << 12;
	struct xlate_result fail;

	memset(&w->r12, 0, sizeof(w->r12));
	if (w->kind == TDP_EPT) {
		w->r12.eptp12 = sel & 0x80 ? take(w, 8)
					   : root | MT_WB | (3u << EPTP_WALK_SHIFT) | (sel & 0x40 ? EPTP_AD : 0);
	} else {
		w->r12.ncr3 = sel & 0x80 ? take(w, 8) & ~UINT64_C(0xfff) : root;
		w->r12.ncr4 = CR4_PAE | (sel & 0x20 ? CR4_SMEP : 0);
		w->r12.nefer = EFER_LME | EFER_LMA | (sel & 0x10 ? EFER_NXE : 0);
	}
	if (ntdp_load_root(w->n, &w->r12, &fail) == NTDP_OK)
		w->loaded = true;
	else
		w->loaded = ntdp_has_root(w->n);
}

static void op_invept(struct world *w)
{
	uint64_t roots[NTDP_MAX_ROOTS];
	uint8_t sel = (uint8_t)take(w, 1);

	(void)ntdp_invept(w->n, sel & 1 ? NTDP_INVEPT_GLOBAL : NTDP_INVEPT_SINGLE,
			  sel & 2 ? w->r12.eptp12 : take(w, 8), roots, NTDP_MAX_ROOTS);
}

static bool hw_init(struct world *w, struct hw_mmu *m, bool ours)
{
	struct hw_config c;
	struct xlate_result fail;

	memset(&c, 0, sizeof(c));
	c.cpu.vendor = w->kind == TDP_EPT ? CPU_INTEL : CPU_AMD;
	c.cpu.maxphyaddr = MAXPHY;
	c.cpu.feat.gbpages = true;
	c.cpu.regs.cr0 = CR0_PE;
	if (ours) {
		c.mem = hostmem_port(w->hm);
		ntdp_hw_program(w->n, &c);
	} else {
		c.mem = guestmem_pmem(&w->gm);
		if (w->kind == TDP_EPT) {
			c.nested = NESTED_EPT;
			c.eptp = w->r12.eptp12;
			c.ept_caps = w->caps;
		} else {
			c.nested = NESTED_NPT;
			c.ncr3 = w->r12.ncr3;
			c.ncr4 = w->r12.ncr4;
			c.nefer = w->r12.nefer;
		}
	}
	if (hw_config_invalid(&c))
		return false;
	return hw_mmu_init(m, &c, &fail);
}

static bool refused(enum xlate_outcome o)
{
	return o == XO_EPT_VIOLATION || o == XO_EPT_MISCONFIG || o == XO_NPF;
}

static void op_access(struct world *w)
{
	uint8_t sel = (uint8_t)take(w, 1);
	enum access_type t = (enum access_type)(sel % 3);
	uint64_t gpa2 = sel & 0x80 ? take(w, 6) : (take(w, 3) & 0x1fffff) << 3; /* mostly the first 3 x 2 MiB */
	struct xlate_result ours, ref;
	struct hw_mmu m;
	struct mmu_fault f;
	bool emulated = false;
	unsigned i;

	if (!w->loaded)
		return;
	for (i = 0; i < 64; i++) {
		uint64_t flush[NTDP_MAX_ROOTS];

		(void)ntdp_flush_take(w->n, flush, NTDP_MAX_ROOTS);
		if (!hw_init(w, &m, true))
			die("access", "EPT02 context refused by the hardware");
		hw_translate(&m, gpa2, t, false, &ours, NULL);
		if (ours.outcome == XO_EPT_MISCONFIG)
			die("access", "EPT02 is misconfigured");
		if (!refused(ours.outcome))
			break;
		switch (ntdp_page_fault(w->n, &ours, &f)) {
		case RET_PF_FIXED:
		case RET_PF_SPURIOUS:
		case RET_PF_RETRY:
			continue;
		case RET_PF_INJECT:
			ours = f.inject;
			break;
		case RET_PF_EMULATE:
			emulated = true;
			break;
		case RET_PF_ERROR:
			/* a table outside L1's RAM: L0 stops the guest, nothing installed */
			return;
		}
		break;
	}
	if (i == 64)
		die("access", "still faulting after 64 fixes");
	check(w, "access");
	if (emulated || ours.outcome == XO_ABORT)
		return;
	if (!hw_init(w, &m, false))
		return;
	hw_translate(&m, gpa2, t, false, &ref, NULL);
	if (ours.outcome == XO_OK) {
		uint64_t hfn;

		if (ref.outcome != XO_OK)
			die("access", "EPT02 allowed what EPT12 refuses");
		if (memslots_gfn_peek(w->l1, ref.hpa >> 12, &hfn, NULL) != MEMSLOT_OK ||
		    (hfn << 12 | (ref.hpa & 0xfff)) != ours.hpa)
			die("access", "L2 reached a frame other than L1's backing of the gpa1");
	} else if (refused(ours.outcome) && ref.outcome != ours.outcome) {
		die("access", "reflected a fault EPT12 does not give");
	}
}

static uint64_t table_entry(const struct world *w, uint64_t gpa1)
{
	return gpa1 | (w->kind == TDP_EPT ? EPT_R | EPT_W | EPT_X : PTE_P | PTE_RW | PTE_US);
}

static uint64_t leaf_entry(const struct world *w, uint64_t gpa1, bool large)
{
	return table_entry(w, gpa1) | (large ? PTE_PS : 0) |
	       (w->kind == TDP_EPT ? (uint64_t)MT_WB << EPT_MT_SHIFT : 0);
}

/* The starting EPT12 (see the header), written straight into L1's memory. */
static void skeleton(struct world *w, bool ad)
{
	struct xlate_result fail;
	uint64_t pool = POOL_GFN1 << 12;

	for (unsigned level = 0; level < 3; level++)
		if (guestmem_write(&w->gm, pool + level * 0x1000, 8, table_entry(w, pool + (level + 1) * 0x1000)) != MEM_OK)
			die("setup", "skeleton");
	for (unsigned i = 0; i < 512; i++) {
		uint64_t target = i < 512 - POOL_PAGES ? (UINT64_C(0x1000) + i) << 12 : pool + (i - (512 - POOL_PAGES)) * 0x1000;

		if (guestmem_write(&w->gm, pool + 3 * 0x1000 + 8 * i, 8, leaf_entry(w, target, false)) != MEM_OK)
			die("setup", "skeleton");
	}
	if (guestmem_write(&w->gm, pool + 2 * 0x1000 + 8, 8, leaf_entry(w, UINT64_C(0x2000000), true)) != MEM_OK ||
	    guestmem_write(&w->gm, pool + 2 * 0x1000 + 16, 8, leaf_entry(w, RO_GFN1 << 12, true)) != MEM_OK)
		die("setup", "skeleton");
	memset(&w->r12, 0, sizeof(w->r12));
	if (w->kind == TDP_EPT) {
		w->r12.eptp12 = pool | MT_WB | (3u << EPTP_WALK_SHIFT) | (ad ? EPTP_AD : 0);
	} else {
		w->r12.ncr3 = pool;
		w->r12.ncr4 = CR4_PAE;
		w->r12.nefer = EFER_LME | EFER_LMA | EFER_NXE;
	}
	if (ntdp_load_root(w->n, &w->r12, &fail) != NTDP_OK)
		die("setup", "the skeleton's root was refused");
	w->loaded = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct world w;
	struct tdp_config tc;
	struct ntdp_config nc;
	const char *why = NULL;
	uint8_t sel;

	if (size < 1)
		return 0;
	memset(&w, 0, sizeof(w));
	sel = data[0];
	w.p = data + 1;
	w.end = data + size;
	w.kind = sel & 1 ? TDP_NPT : TDP_EPT;
	w.hm = hostmem_create(UINT64_C(1) << 40);
	w.fr = frames_create(0x100, UINT64_C(1) << 22);
	if (!w.hm || !w.fr)
		die("setup", "out of memory");
	w.l0 = mem_l0_create(w.hm, w.fr);
	w.l1 = memslots_create(w.fr, 48);
	if (!w.l0 || !w.l1)
		die("setup", "out of memory");
	slot(&w, 0, 0, RAM_PAGES, 0, 9);
	slot(&w, 1, RO_GFN1, 0x200, MEMSLOT_F_READONLY, 9);
	slot(&w, 2, MMIO_GFN1, 0x200, MEMSLOT_F_MMIO, 0);
	w.gm = (struct guestmem){ .slots = w.l1, .port = mem_l0_port(w.l0) };
	tc = (struct tdp_config){
		.kind = w.kind, .levels = 4, .max_level = 3, .ept_ad = w.kind == TDP_EPT, .maxphyaddr = MAXPHY,
		.port = mem_l0_port(w.l0), .slots = w.l1, .counters = &w.cnt, .cnt_level = CNT_L0,
		.cnt_pt = CNT_PT_EPT01,
	};
	w.ept01 = tdp_create(&tc, &why);
	if (!w.ept01)
		die("setup", why);
	w.caps = (struct ept_caps){ .xonly = sel & 2, .walk5 = true, .ad = true, .gb1 = true };
	nc = (struct ntdp_config){
		.kind = w.kind, .maxphyaddr = MAXPHY, .ept_caps = w.kind == TDP_EPT ? w.caps : (struct ept_caps){ 0 },
		.max_level = 1 + (sel >> 2) % 3, .roots = 1 + (sel >> 4) % 4, .port = mem_l0_port(w.l0),
		.l1_slots = w.l1, .ept01 = w.ept01, .counters = &w.cnt,
	};
	w.n = ntdp_create(&nc, &why);
	if (!w.n)
		die("setup", why);
	skeleton(&w, sel & 0x40);
	while (w.p < w.end) {
		switch (take(&w, 1) % 8) {
		case 0: case 1: case 2:
			op_store(&w);
			check(&w, "store");
			break;
		case 3:
			op_load(&w);
			check(&w, "load");
			break;
		case 4:
			op_invept(&w);
			check(&w, "invept");
			break;
		default:
			op_access(&w);
			break;
		}
	}
	ntdp_destroy(w.n);
	tdp_destroy(w.ept01);
	memslots_destroy(w.l1);
	mem_l0_destroy(w.l0);
	if (frames_allocated(w.fr) != 0)
		die("teardown", "frames leaked");
	frames_destroy(w.fr);
	hostmem_destroy(w.hm);
	return 0;
}
