/*
 * bench_walk - the cost of the hardware model against the hardware it
 * models, as ratios measured in the same run (never absolute times):
 *
 *   walk4x4 / chase24 : one two-dimensional walk (4-level guest under
 *                       4-level EPT, nothing cached: 24 references) against
 *                       24 dependent loads from cache-resident memory.
 *   tlbhit  / chase1  : one TLB hit against one dependent load.
 *
 * Each round measures baseline and subject back to back; the ratio printed
 * is the median over the rounds, so a noisy neighbour moves both.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/tlb.h"
#include "arch/walk2d.h"
#include "arch/x86.h"
#include "mem/hostmem.h"

#include "bench_util.h"

#define ROUNDS 9
#define G2H    UINT64_C(0x10000000)
#define N_BASE UINT64_C(0x100000)
#define G_TOP  UINT64_C(0x1000)
#define G_DATA UINT64_C(0x9000)
#define LA ((UINT64_C(1) << 39) | (UINT64_C(2) << 30) | (UINT64_C(3) << 21) | (UINT64_C(4) << 12))

/* A cycle of `n` nodes, one per cache line, in a shuffled order. */
struct node {
	struct node *next;
	char pad[64 - sizeof(struct node *)];
};

static struct node *make_chain(struct node *nodes, unsigned n)
{
	unsigned order[64];
	uint32_t seed = 12345;

	for (unsigned i = 0; i < n; i++)
		order[i] = i;
	for (unsigned i = n - 1; i > 0; i--) {
		seed = seed * 1103515245u + 12345u;
		unsigned j = (seed >> 8) % (i + 1);
		unsigned t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned i = 0; i < n; i++)
		nodes[order[i]].next = &nodes[order[(i + 1) % n]];
	return &nodes[order[0]];
}

static volatile uintptr_t sink;

/* ns per chase of `len` dependent loads */
static double chase(struct node *start, unsigned len, long iters)
{
	struct node *p = start;
	double t0 = bench_now_ns();

	for (long i = 0; i < iters; i++)
		for (unsigned k = 0; k < len; k++)
			p = p->next;
	double t1 = bench_now_ns();
	sink = (uintptr_t)p;
	return (t1 - t0) / (double)iters;
}

static void put(struct hostmem *hm, uint64_t hpa, uint64_t v)
{
	if (hostmem_write64(hm, hpa, v)) {
		fprintf(stderr, "bench: cannot write 0x%llx\n", (unsigned long long)hpa);
		exit(1);
	}
}

/* 4-level guest tables for LA (A set: steady state) under a 4-level EPT. */
static void build(struct hostmem *hm, struct hw_config *cfg)
{
	uint64_t flags = PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D;

	for (unsigned l = 4; l >= 1; l--) {
		uint64_t table = G_TOP + (uint64_t)(4 - l) * 0x1000;
		uint64_t next = l == 1 ? G_DATA : table + 0x1000;
		unsigned idx = (unsigned)((LA >> (12 + 9 * (l - 1))) & 511);
		put(hm, G2H + table + idx * 8, next | flags);
	}
	for (unsigned l = 4; l >= 2; l--) {
		uint64_t table = N_BASE + (uint64_t)(4 - l) * 0x1000;
		put(hm, table, (table + 0x1000) | EPT_R | EPT_W | EPT_X);
	}
	for (unsigned i = 0; i < 16; i++)
		put(hm, N_BASE + 3 * 0x1000 + i * 8,
		    (G2H + i * 0x1000) | EPT_R | EPT_W | EPT_X | ((uint64_t)MT_WB << EPT_MT_SHIFT));

	memset(cfg, 0, sizeof(*cfg));
	cfg->cpu.vendor = CPU_INTEL;
	cfg->cpu.maxphyaddr = 46;
	cfg->cpu.feat = (struct cpu_features){ .gbpages = true, .la57 = true, .pku = true, .smep = true, .smap = true };
	cfg->cpu.regs.cr0 = CR0_PE | CR0_PG | CR0_WP;
	cfg->cpu.regs.cr4 = CR4_PAE;
	cfg->cpu.regs.efer = EFER_LME | EFER_LMA | EFER_NXE;
	cfg->cpu.regs.cr3 = G_TOP;
	cfg->cpu.regs.cpl = 3;
	cfg->nested = NESTED_EPT;
	cfg->eptp = N_BASE | MT_WB | (3u << EPTP_WALK_SHIFT);
	cfg->ept_caps = (struct ept_caps){ .xonly = true, .walk5 = true, .ad = true, .gb1 = true };
	cfg->mem = hostmem_port(hm);
}

static double walk_ns(const struct hw_mmu *m, long iters)
{
	struct xlate_result r;
	uint64_t acc = 0;
	double t0 = bench_now_ns();

	for (long i = 0; i < iters; i++) {
		hw_translate(m, LA | (uint64_t)(i & 0xff8), ACCESS_READ, false, &r, NULL);
		acc += r.hpa + r.refs;
	}
	double t1 = bench_now_ns();
	sink = (uintptr_t)acc;
	return (t1 - t0) / (double)iters;
}

static double tlbhit_ns(struct tlb *tlb, const struct hw_mmu *m, long iters)
{
	struct xlate_result r;
	uint64_t acc = 0;
	double t0 = bench_now_ns();

	for (long i = 0; i < iters; i++) {
		tlb_access(tlb, m, LA | (uint64_t)(i & 0xff8), ACCESS_READ, false, &r);
		acc += r.hpa;
	}
	double t1 = bench_now_ns();
	sink = (uintptr_t)acc;
	return (t1 - t0) / (double)iters;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 200000;
	struct node *nodes = aligned_alloc(64, 64 * sizeof(struct node));
	struct hostmem *hm = hostmem_create(UINT64_C(1) << 46);
	struct hw_config cfg;
	struct hw_mmu m;
	struct xlate_result r;
	double walk_ratio[ROUNDS], tlb_ratio[ROUNDS], walk_abs[ROUNDS], base_abs[ROUNDS];

	if (!nodes || !hm || iters <= 0) {
		fprintf(stderr, "usage: bench_walk [iterations > 0]\n");
		return 2;
	}
	struct node *c24 = make_chain(nodes, 24);
	struct node *c1 = make_chain(nodes + 32, 1);
	build(hm, &cfg);
	if (hw_config_invalid(&cfg) || !hw_mmu_init(&m, &cfg, &r)) {
		fprintf(stderr, "bench: bad configuration\n");
		return 1;
	}
	hw_translate(&m, LA, ACCESS_READ, false, &r, NULL);
	if (r.outcome != XO_OK || r.refs != 24) {
		fprintf(stderr, "bench: expected a 24-reference walk, got %s with %u\n",
			xlate_outcome_name(r.outcome), r.refs);
		return 1;
	}
	struct tlb_config tcfg;
	tlb_config_default(&tcfg);
	struct tlb *tlb = tlb_create(&tcfg);
	if (!tlb) {
		fprintf(stderr, "bench: cannot create the TLB\n");
		return 1;
	}
	tlb_access(tlb, &m, LA, ACCESS_READ, false, &r); /* fill */

	for (int k = 0; k < ROUNDS; k++) {
		double b24 = chase(c24, 24, iters * 4);
		double w = walk_ns(&m, iters);
		double b1 = chase(c1, 1, iters * 40);
		double h = tlbhit_ns(tlb, &m, iters * 10);

		walk_ratio[k] = w / b24;
		tlb_ratio[k] = h / b1;
		walk_abs[k] = w;
		base_abs[k] = b24;
	}
	printf("2D walk 4x4 (24 refs, nothing cached) / 24 dependent loads: %.2fx (goal <= 2x)  [%.0f ns vs %.1f ns]\n",
	       bench_median(walk_ratio, ROUNDS), bench_median(walk_abs, ROUNDS), bench_median(base_abs, ROUNDS));
	printf("TLB hit / 1 dependent load: %.2fx (goal <= 4x)\n", bench_median(tlb_ratio, ROUNDS));
	tlb_destroy(tlb);
	hostmem_destroy(hm);
	free(nodes);
	return 0;
}
