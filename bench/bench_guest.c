/*
 * bench_guest - simulated guest memory operations per host second, natively
 * (no hypervisor), with a baseline measured in the same run.
 *
 *   vCPU hit   : vcpu_touch of one mapped page (a TLB hit) through the vCPU
 *                run loop with its accounting, next to the same access by
 *                tlb_access alone (the baseline: the hardware model's cost)
 *   workloads  : each workload with its default sizes on a 4-level guest of
 *                1 GiB with 2 vCPUs: guest memory operations (user accesses
 *                and the kernel's page-table reads and writes) per second,
 *                and guest page faults handled per second
 *
 * Each measurement runs ROUNDS times; the median is printed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/tlb.h"
#include "arch/x86.h"
#include "guest/gos.h"
#include "vm/vcpu.h"
#include "vm/vm.h"
#include "workload/workload.h"

#include "bench_util.h"

#define ROUNDS 3
#define HITS 2000000u

static double now_s(void)
{
	return bench_now_ns() * 1e-9;
}

static struct vm *new_vm(unsigned ncpus)
{
	struct vm_config vc;
	const char *err = NULL;
	struct vm *vm;

	vm_config_default(&vc);
	vc.ncpus = ncpus;
	vc.ram_bytes = UINT64_C(1) << 30;
	vm = vm_create(&vc, &err);
	if (!vm) {
		fprintf(stderr, "vm_create: %s\n", err);
		exit(1);
	}
	return vm;
}

static struct gos *boot(struct vm *vm)
{
	struct vcpu *cpus[GOS_MAX_CPUS];
	struct gos_config gc;
	const char *err = NULL;
	struct gos *g;

	for (unsigned i = 0; i < vm_ncpus(vm); i++)
		cpus[i] = vm_vcpu(vm, i);
	gos_config_default(&gc);
	gc.ram_bytes = vm_config(vm)->ram_bytes;
	g = gos_boot(cpus, vm_ncpus(vm), &gc, &err);
	if (!g) {
		fprintf(stderr, "gos_boot: %s\n", err);
		exit(1);
	}
	return g;
}

/* One mapped user page touched HITS times: through the vCPU, and by tlb_access alone. */
static void bench_hit(void)
{
	double via[ROUNDS], raw[ROUNDS];

	for (unsigned r = 0; r < ROUNDS; r++) {
		struct vm *vm = new_vm(1);
		struct gos *g = boot(vm);
		struct vcpu *v = vm_vcpu(vm, 0);
		int pid = gos_spawn(g, 0);
		uint64_t a;
		struct xlate_result x;
		struct hw_mmu m;
		double t;

		if (pid < 0 || gos_mmap(g, pid, 1, GOS_PROT_READ | GOS_PROT_WRITE, GOS_MAP_PRIVATE, -1, 0, &a) ||
		    gos_touch(g, pid, a, ACCESS_WRITE)) {
			fprintf(stderr, "setup failed\n");
			exit(1);
		}
		vcpu_set_cpl(v, 3);
		t = now_s();
		for (unsigned i = 0; i < HITS; i++)
			vcpu_touch(v, a, ACCESS_READ, NULL);
		via[r] = (now_s() - t) / HITS;
		/* the baseline: the same hit by the hardware model alone, in the context the vCPU loaded */
		if (!hw_mmu_init(&m, &vcpu_hw(v)->cfg, &x)) {
			fprintf(stderr, "hw_mmu_init failed\n");
			exit(1);
		}
		t = now_s();
		for (unsigned i = 0; i < HITS; i++)
			tlb_access(vcpu_tlb(v), &m, a, ACCESS_READ, false, &x);
		raw[r] = (now_s() - t) / HITS;
		gos_destroy(g);
		vm_destroy(vm);
	}
	double via_s = bench_median(via, ROUNDS), raw_s = bench_median(raw, ROUNDS);

	printf("TLB hit: %.1f ns per vcpu_touch (%.2f M/s); tlb_access alone %.1f ns: the run loop and its accounting x%.2f\n",
	       via_s * 1e9, 1e-6 / via_s, raw_s * 1e9, via_s / raw_s);
}

static void bench_workload(enum wl_kind k)
{
	double secs[ROUNDS], ops = 0, faults = 0, user = 0;

	for (unsigned r = 0; r < ROUNDS; r++) {
		struct vm *vm = new_vm(2);
		struct gos *g = boot(vm);
		struct wl_params p;
		struct wl_report rep;
		const char *err = NULL;
		double t;

		wl_params_default(&p, k);
		t = now_s();
		if (wl_run(g, &p, &rep, &err) != GOS_OK) {
			fprintf(stderr, "%s: %s\n", wl_name(k), err ? err : "?");
			exit(1);
		}
		secs[r] = now_s() - t;
		ops = (double)vm_counters(vm)->mem_accesses[CNT_L0];
		user = (double)rep.accesses;
		faults = (double)rep.guest.faults;
		gos_destroy(g);
		vm_destroy(vm);
	}
	double s = bench_median(secs, ROUNDS);
	printf("%-8s %7.3f s: %9.0f memory operations (%9.0f user) -> %6.2f M ops/s; %7.0f faults -> %7.0f faults/s\n",
	       wl_name(k), s, ops, user, ops / s * 1e-6, faults, faults / s);
}

int main(void)
{
	bench_hit();
	for (int k = 0; k < WL_COUNT; k++)
		bench_workload((enum wl_kind)k);
	return 0;
}
