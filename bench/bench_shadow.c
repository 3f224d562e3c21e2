/*
 * bench_shadow - shadow-MMU operations per host second, printed next to a
 * baseline measured in the same run (inserting the same number of random
 * keys into a plain hash map, u64map_put: the cheapest thing a fault
 * handler could possibly do).
 *
 *   fault, 4K random : first write to distinct random gvas of a 4-level
 *                      guest (64 GiB of address space): guest walk with A/D
 *                      update, shadow pages made for the guest tables
 *                      (write-protecting them), backing allocated, leaf set
 *   fault, 4K seq    : consecutive gvas (one new shadow PT per 512 faults)
 *   vCPU path        : random gvas as the vCPU sees them: hardware walk of
 *                      the shadow tables -> #PF -> shadow_page_fault ->
 *                      hardware walk again
 *   emulated PTE write: the guest rewrites PTEs of shadowed tables (each a
 *                      trapped write: shadow_emulate_write updates the leaf)
 *   MOV CR3, cache hit: switching between two processes' roots (no flush)
 *
 * Each configuration runs ROUNDS times on a fresh MMU; the median is printed.
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
#include "mem/u64map.h"
#include "mmu/shadow.h"

#include "bench_util.h"

#define ROUNDS 5
#define NOPS 100000u
#define SLOT_PAGES (UINT64_C(1) << 24) /* 64 GiB of guest RAM (backed on first touch) */
#define TABLE_GFN  UINT64_C(0x100)     /* guest page tables from here */
#define DATA_GFN   (UINT64_C(1) << 22) /* data pages from here */
#define ODD UINT64_C(0x9E3779B1)       /* i * ODD mod 2^k: a permutation */
#define UFL (PTE_P | PTE_RW | PTE_US)

struct env {
	struct hostmem *hm;
	struct frames *fr;
	struct mem_l0 *l0;
	struct memslots *ms;
	struct guestmem gm;
	struct counters cnt;
	struct shadow_mmu *s;
	struct cpu cpu;
	uint64_t next_table;
};

static void die(const char *why)
{
	fprintf(stderr, "bench_shadow: %s\n", why);
	exit(1);
}

static void env_init(struct env *e)
{
	memset(e, 0, sizeof(*e));
	e->hm = hostmem_create(UINT64_C(1) << 40);
	e->fr = frames_create(0x100, (UINT64_C(1) << 28) - 0x100);
	e->l0 = e->hm && e->fr ? mem_l0_create(e->hm, e->fr) : NULL;
	e->ms = e->fr ? memslots_create(e->fr, 46) : NULL;
	if (!e->l0 || !e->ms ||
	    memslots_add(e->ms, &(struct memslot_desc){ .id = 1, .npages = SLOT_PAGES }) != MEMSLOT_OK)
		die("set-up failed");
	e->gm = (struct guestmem){ .slots = e->ms, .port = mem_l0_port(e->l0) };
	struct shadow_config c = {
		.port = mem_l0_port(e->l0), .slots = e->ms, .hw_maxphyaddr = 46, .cnt = &e->cnt,
		.level = CNT_L0, .pt_kind = CNT_PT_SHADOW_L0, .root_cache = SHADOW_ROOT_CACHE_DEFAULT,
	};
	e->s = shadow_create(&c);
	if (!e->s)
		die("shadow_create failed");
	e->cpu.vendor = CPU_INTEL;
	e->cpu.maxphyaddr = 46;
	e->cpu.feat = (struct cpu_features){ .gbpages = true };
	e->cpu.regs.cr0 = CR0_PE | CR0_PG | CR0_WP;
	e->cpu.regs.cr4 = CR4_PAE;
	e->cpu.regs.efer = EFER_LME | EFER_LMA | EFER_NXE;
	e->next_table = TABLE_GFN << 12;
}

static void env_fini(struct env *e)
{
	shadow_destroy(e->s);
	memslots_destroy(e->ms);
	mem_l0_destroy(e->l0);
	frames_destroy(e->fr);
	hostmem_destroy(e->hm);
}

static uint64_t new_table(struct env *e)
{
	uint64_t t = e->next_table;

	e->next_table += 0x1000;
	return t;
}

/* Writes the guest's 4-level mapping gva -> gpa (boot time: not through the MMU). Returns the PTE's gpa. */
static uint64_t map(struct env *e, uint64_t root, uint64_t gva, uint64_t gpa)
{
	uint64_t table = root;

	for (unsigned l = 4; l > 1; l--) {
		uint64_t a = table + ((gva >> (12 + 9 * (l - 1))) & 511) * 8, v;

		if (guestmem_read(&e->gm, a, 8, &v) != MEM_OK)
			die("guest table read");
		if (!(v & PTE_P)) {
			v = new_table(e) | UFL;
			if (guestmem_write(&e->gm, a, 8, v) != MEM_OK)
				die("guest table write");
		}
		table = v & GENMASK64(45, 12);
	}
	uint64_t a = table + ((gva >> 12) & 511) * 8;
	if (guestmem_write(&e->gm, a, 8, gpa | UFL) != MEM_OK)
		die("guest table write");
	return a;
}

enum kind { K_RANDOM, K_SEQ, K_VCPU, K_EMUL, K_CR3, K_BASELINE, K_N };

static const char *const names[K_N] = {
	"shadow fault, 4K random gvas", "shadow fault, 4K consecutive gvas",
	"vCPU path (walk, #PF, fault, walk)", "emulated guest PTE write", "MOV CR3, root cache hit",
	"baseline: u64map_put, random keys",
};

static uint64_t gva_of(enum kind k, unsigned i)
{
	if (k == K_SEQ)
		return (UINT64_C(1) << 30) + ((uint64_t)i << 12);
	return (((uint64_t)i * ODD) & (SLOT_PAGES - 1)) << 12;
}

static void hw_context(struct env *e, struct hw_mmu *m)
{
	struct hw_config hc = { .nested = NESTED_NONE, .mem = hostmem_port(e->hm) };
	struct xlate_result fail;

	if (shadow_hw_cpu(e->s, &e->cpu, &hc.cpu) || !hw_mmu_init(m, &hc, &fail))
		die("no hardware context");
}

/* One round: ns per operation. */
static double round_ns(enum kind k)
{
	static uint64_t ptes[NOPS];
	struct env e;
	struct hw_mmu m;
	double t0, t1;
	unsigned bad = 0;

	if (k == K_BASELINE) {
		struct u64map map_;

		u64map_init(&map_);
		t0 = bench_now_ns();
		for (unsigned i = 0; i < NOPS; i++)
			bad += u64map_put(&map_, ((uint64_t)i * ODD) & (SLOT_PAGES - 1), i) != 0;
		t1 = bench_now_ns();
		u64map_fini(&map_);
		if (bad)
			die("inserts failed");
		return (t1 - t0) / NOPS;
	}
	env_init(&e);
	uint64_t root = new_table(&e), root2 = new_table(&e);

	for (unsigned i = 0; i < NOPS; i++)
		ptes[i] = map(&e, root, gva_of(k, i), (DATA_GFN + i) << 12);
	e.cpu.regs.cr3 = root;
	if (shadow_new_cr3(e.s, &e.cpu, true))
		die("shadow_new_cr3");
	if (k == K_EMUL) {
		/* shadow every table first: one read per page */
		for (unsigned i = 0; i < NOPS; i++) {
			struct mmu_fault f = { .kind = MMU_FAULT_GUEST, .access = ACCESS_READ, .gva = gva_of(k, i) };

			bad += shadow_page_fault(e.s, &e.cpu, &f) != RET_PF_FIXED;
		}
	}
	if (k == K_CR3) {
		(void)map(&e, root2, gva_of(k, 0), DATA_GFN << 12);
		e.cpu.regs.cr3 = root2;
		bad += shadow_new_cr3(e.s, &e.cpu, false) != 0;
	}
	hw_context(&e, &m);
	t0 = bench_now_ns();
	for (unsigned i = 0; i < NOPS; i++) {
		struct mmu_fault f = { .kind = MMU_FAULT_GUEST, .access = ACCESS_WRITE, .gva = gva_of(k, i) };
		struct xlate_result r;

		switch (k) {
		case K_VCPU:
			hw_translate(&m, f.gva, ACCESS_WRITE, false, &r, NULL);
			if (r.outcome != XO_PAGE_FAULT) {
				bad++;
				continue;
			}
			f.error_code = r.error_code;
			bad += shadow_page_fault(e.s, &e.cpu, &f) != RET_PF_FIXED;
			hw_translate(&m, f.gva, ACCESS_WRITE, false, &r, NULL);
			bad += r.outcome != XO_OK;
			break;
		case K_EMUL:
			bad += shadow_emulate_write(e.s, &e.cpu, ptes[i], 8, ((DATA_GFN + NOPS + i) << 12) | UFL |
						    PTE_A) != MEM_OK;
			break;
		case K_CR3:
			e.cpu.regs.cr3 = (i & 1) ? root2 : root;
			bad += shadow_new_cr3(e.s, &e.cpu, false) != 0;
			break;
		default:
			bad += shadow_page_fault(e.s, &e.cpu, &f) != RET_PF_FIXED;
			break;
		}
	}
	t1 = bench_now_ns();
	if (bad)
		fprintf(stderr, "bench_shadow: %s: %u operations failed\n", names[k], bad);
	if (k == K_CR3 && e.cnt.spt_root_hits[CNT_L0] < NOPS)
		fprintf(stderr, "bench_shadow: root cache missed\n");
	env_fini(&e);
	return (t1 - t0) / NOPS;
}

int main(void)
{
	double ns[K_N][ROUNDS], med[K_N];

	const char *only = getenv("BENCH_SHADOW_ONLY"); /* one configuration (its number), for profiling */

	/* interleave the configurations so that a noisy neighbour hits all of them */
	for (unsigned r = 0; r < ROUNDS; r++)
		for (unsigned k = 0; k < K_N; k++)
			ns[k][r] = (!only || (unsigned)atoi(only) == k || k == K_BASELINE) ? round_ns((enum kind)k) : 1;
	printf("bench_shadow: %u operations per round, median of %d rounds (4-level guest, L0 port)\n", NOPS,
	       ROUNDS);
	for (unsigned k = 0; k < K_N; k++)
		med[k] = bench_median(ns[k], ROUNDS);
	for (unsigned k = 0; k < K_N; k++)
		printf("  %-38s %10.0f /s  %8.1f ns  (%5.1fx baseline)\n", names[k], 1e9 / med[k], med[k],
		       med[k] / med[K_BASELINE]);
	return 0;
}
