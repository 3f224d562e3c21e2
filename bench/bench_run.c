/*
 * bench_run - the simulator's speed per configuration of `nestmmu run`:
 * for each workload (default sizes, 4-level guest, 1 vCPU) and each
 * configuration, user memory accesses simulated per host second, VM exits
 * handled per host second and hypervisor faults (TDP violations fixed,
 * shadow faults fixed, by L0 and by L1: nested faults) per host second; and each configuration's host
 * time as a ratio to native's in the same run (the baseline).
 *
 * Each measurement runs ROUNDS times; the median is printed.
 */
#include <stdint.h>
#include <stdio.h>

#include "sim/run.h"

#include "bench_util.h"

#define ROUNDS 3

int main(void)
{
	static struct run_result r;
	struct cost_profile p;

	cost_profile_for_vendor(CPU_INTEL, &p);
	printf("%-8s %-14s %12s %12s %12s %12s %8s\n", "workload", "config", "accesses/s", "exits/s",
	       "mmu faults/s", "host s", "x native");
	for (int k = 0; k < WL_COUNT; k++) {
		double native_s = 0;

		for (int c = 0; c < RUN_CFGS; c++) {
			struct run_options o;
			double t[ROUNDS], s;
			uint64_t faults;

			run_options_default(&o);
			o.ram_bytes = UINT64_C(1) << 30;
			wl_params_default(&o.wl, (enum wl_kind)k);
			for (int i = 0; i < ROUNDS; i++) {
				if (!run_one(&o, (enum run_cfg)c, &p, &r)) {
					fprintf(stderr, "bench_run: %s: %s\n", run_cfg_name((enum run_cfg)c), r.error);
					return 1;
				}
				t[i] = r.host_seconds;
			}
			s = bench_median(t, ROUNDS);
			if (c == RUN_NATIVE)
				native_s = s;
			faults = r.cnt.tdp_faults[CNT_L0] + r.cnt.spt_faults[CNT_L0] + r.cnt.tdp_faults[CNT_L1] +
				 r.cnt.spt_faults[CNT_L1];
			printf("%-8s %-14s %12.0f %12.0f %12.0f %12.3f %8.2f\n", wl_name((enum wl_kind)k),
			       run_cfg_name((enum run_cfg)c), (double)r.wl.accesses / s, (double)run_exits(&r) / s,
			       (double)faults / s, s, s / native_s);
		}
	}
	return 0;
}
