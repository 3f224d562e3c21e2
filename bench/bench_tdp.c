/*
 * bench_tdp - TDP faults handled per host second (tdp_page_fault: slot
 * lookup, backing allocation, table allocation and entry writes through
 * the L0 memory port), printed next to a baseline measured in the same
 * run: inserting the same number of random keys into a plain hash map
 * (u64map_put), the cheapest thing a fault handler could possibly do.
 *
 *   4K random : distinct random gfns of a 64 GiB 4K-backed slot (EPT, 4 levels)
 *   4K seq    : consecutive gfns (tables shared, 1 table page per 512 faults)
 *   2M random : distinct random 2 MiB runs of a 2M-backed slot (NFAULTS_2M of
 *               them; each allocates a 2 MiB run of frames: the frame
 *               allocator's search for the lowest free aligned run is most of it)
 *   4K vCPU   : random gfns, each as the vCPU sees it: hardware walk ->
 *               EPT violation -> tdp_page_fault -> hardware walk again
 *
 * Each configuration runs ROUNDS times on a fresh MMU; the median is printed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/walk2d.h"
#include "mem/frames.h"
#include "mem/hostmem.h"
#include "mem/mem_l0.h"
#include "mem/memslot.h"
#include "mem/u64map.h"
#include "mmu/tdp.h"

#include "bench_util.h"

#define ROUNDS 5
#define NFAULTS 200000u
#define NFAULTS_2M 16384u /* distinct 2 MiB runs (the slot has 32768) */
#define SLOT_PAGES (UINT64_C(1) << 24) /* 64 GiB */
#define ODD UINT64_C(0x9E3779B1)       /* i * ODD mod 2^k: a permutation */

struct env {
	struct hostmem *hm;
	struct frames *fr;
	struct mem_l0 *l0;
	struct memslots *ms;
	struct tdp_mmu *t;
	struct hw_mmu hw;
};

static void env_init(struct env *e, unsigned order)
{
	struct tdp_config c;
	struct hw_config hc;
	struct xlate_result fail;
	struct memslot_desc d = { .id = 1, .base_gfn = SLOT_PAGES, .npages = SLOT_PAGES, .backing_order = order };
	const char *why = "?";

	e->hm = hostmem_create(UINT64_C(1) << 40);
	e->fr = frames_create(0x100, (UINT64_C(1) << 28) - 0x100);
	e->l0 = e->hm && e->fr ? mem_l0_create(e->hm, e->fr) : NULL;
	e->ms = e->fr ? memslots_create(e->fr, 48) : NULL;
	if (!e->l0 || !e->ms || memslots_add(e->ms, &d) != MEMSLOT_OK) {
		fprintf(stderr, "bench_tdp: set-up failed\n");
		exit(1);
	}
	c = (struct tdp_config){
		.kind = TDP_EPT, .levels = 4, .max_level = 3, .ept_ad = true, .maxphyaddr = 46,
		.port = mem_l0_port(e->l0), .slots = e->ms, .cnt_level = 0, .cnt_pt = CNT_PT_EPT01,
	};
	e->t = tdp_create(&c, &why);
	if (!e->t) {
		fprintf(stderr, "bench_tdp: %s\n", why);
		exit(1);
	}
	memset(&hc, 0, sizeof(hc));
	hc.cpu.vendor = CPU_INTEL;
	hc.cpu.maxphyaddr = 46;
	hc.mem = hostmem_port(e->hm);
	tdp_hw_program(e->t, &hc);
	if (!hw_mmu_init(&e->hw, &hc, &fail)) {
		fprintf(stderr, "bench_tdp: hw_mmu_init failed\n");
		exit(1);
	}
}

static void env_fini(struct env *e)
{
	tdp_destroy(e->t);
	memslots_destroy(e->ms);
	mem_l0_destroy(e->l0);
	frames_destroy(e->fr);
	hostmem_destroy(e->hm);
}

enum kind { K_4K_RANDOM, K_4K_SEQ, K_2M_RANDOM, K_4K_VCPU, K_BASELINE, K_N };

static const char *const names[K_N] = {
	"tdp fault, 4K random gfns", "tdp fault, 4K consecutive gfns", "tdp fault, 2M random runs",
	"vCPU path (walk, fault, walk), 4K", "baseline: u64map_put, random keys",
};

static uint64_t gpa_of(enum kind k, unsigned i)
{
	uint64_t mask = SLOT_PAGES - 1;

	switch (k) {
	case K_4K_SEQ:
		return (SLOT_PAGES + i) << 12;
	case K_2M_RANDOM:
		return (SLOT_PAGES + ((((uint64_t)i * ODD) & (mask >> 9)) << 9)) << 12;
	default:
		return (SLOT_PAGES + (((uint64_t)i * ODD) & mask)) << 12;
	}
}

/* One round: ns per operation. */
static double round_ns(enum kind k)
{
	struct env e;
	double t0, t1;
	unsigned bad = 0, n = k == K_2M_RANDOM ? NFAULTS_2M : NFAULTS;

	if (k == K_BASELINE) {
		struct u64map m;

		u64map_init(&m);
		t0 = bench_now_ns();
		for (unsigned i = 0; i < NFAULTS; i++)
			bad += u64map_put(&m, ((uint64_t)i * ODD) & (SLOT_PAGES - 1), i) != 0;
		t1 = bench_now_ns();
		u64map_fini(&m);
		if (bad)
			fprintf(stderr, "bench_tdp: %u inserts failed\n", bad);
		return (t1 - t0) / NFAULTS;
	}
	env_init(&e, k == K_2M_RANDOM ? 9 : 0);
	t0 = bench_now_ns();
	for (unsigned i = 0; i < n; i++) {
		struct mmu_fault f = { .kind = MMU_FAULT_TDP, .access = ACCESS_WRITE, .gpa = gpa_of(k, i) };

		if (k == K_4K_VCPU) {
			struct xlate_result r;

			hw_translate_gpa(&e.hw, f.gpa, ACCESS_WRITE, &r, NULL);
			if (!tdp_fault_from_exit(&f, &r)) {
				bad++;
				continue;
			}
			bad += tdp_page_fault(e.t, &f) != RET_PF_FIXED;
			hw_translate_gpa(&e.hw, f.gpa, ACCESS_WRITE, &r, NULL);
			bad += r.outcome != XO_OK;
			continue;
		}
		bad += tdp_page_fault(e.t, &f) != RET_PF_FIXED;
	}
	t1 = bench_now_ns();
	if (bad)
		fprintf(stderr, "bench_tdp: %u faults not fixed\n", bad);
	env_fini(&e);
	return (t1 - t0) / n;
}

int main(void)
{
	double ns[K_N][ROUNDS], med[K_N];

	/* interleave the configurations so that a noisy neighbour hits all of them */
	for (unsigned r = 0; r < ROUNDS; r++) {
		for (unsigned k = 0; k < K_N; k++)
			ns[k][r] = round_ns((enum kind)k);
	}
	printf("bench_tdp: %u operations per round (2M: %u), median of %d rounds (EPT, 4 levels, L0 port)\n",
	       NFAULTS, NFAULTS_2M, ROUNDS);
	for (unsigned k = 0; k < K_N; k++)
		med[k] = bench_median(ns[k], ROUNDS);
	for (unsigned k = 0; k < K_N; k++)
		printf("  %-38s %10.0f /s  %8.1f ns  (%5.1fx baseline)\n", names[k], 1e9 / med[k], med[k],
		       med[k] / med[K_BASELINE]);
	return 0;
}
