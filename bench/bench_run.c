/*
 * bench_run - the simulator's speed per configuration of `nestmmu run`:
 * for each workload (default sizes, 4-level guest, 1 vCPU) and each
 * configuration, user memory accesses simulated per host second, VM exits
 * handled per host second, the guest's memory-fault exits (EPT violation,
 * misconfiguration, #NPF, intercepted #PF of the workload's guest: for an
 * L2 configuration, the nested faults L0 and L1 handle between them) per
 * host second, and hypervisor MMU faults (TDP violations fixed, shadow
 * faults fixed, by L0 and by L1) per host second; and each
 * configuration's host time as a ratio to native's in the same run (the
 * baseline).
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
	printf("%-8s %-20s %12s %12s %14s %12s %10s %8s\n", "workload", "config", "accesses/s", "exits/s",
	       "fault exits/s", "mmu faults/s", "host s", "x native");
	for (int k = 0; k < WL_COUNT; k++) {
		double native_s = 0;

		for (int c = 0; c < RUN_CFGS; c++) {
			struct run_options o;
			double t[ROUNDS], s;
			uint64_t faults, fault_exits = 0;
			enum cnt_level gl = run_cfg_guest_level((enum run_cfg)c);
			static const enum cnt_exit fault_reasons[] = {
				CNT_EXIT_EPT_VIOLATION, CNT_EXIT_EPT_MISCONFIG, CNT_EXIT_NPF, CNT_EXIT_PF,
			};

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
			for (unsigned f = 0; f < sizeof(fault_reasons) / sizeof(fault_reasons[0]); f++)
				fault_exits += counters_exits_sum(&r.cnt, (int)gl, -1, (int)fault_reasons[f]);
			printf("%-8s %-20s %12.0f %12.0f %14.0f %12.0f %10.3f %8.2f\n", wl_name((enum wl_kind)k),
			       run_cfg_name((enum run_cfg)c), (double)r.wl.accesses / s, (double)run_exits(&r) / s,
			       (double)fault_exits / s, (double)faults / s, s, s / native_s);
		}
	}
	return 0;
}
