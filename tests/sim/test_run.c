/*
 * Runs of `nestmmu run`'s engine (sim/run.h) with the oracle after every
 * guest operation: every workload, in every guest paging mode, in every
 * configuration, on Intel (EPT) and AMD (NPT), with seeds drawn from a
 * fixed master seed. The oracle (guest/check.h) translates every live
 * mapping independently from the guest's own tables and compares it with
 * what the hardware finds through the hypervisor's structures and TLBs;
 * the shadow MMU's bookkeeping is checked with it.
 *
 * Independent facts checked across configurations: the guest does the
 * same work whoever virtualizes its memory (same accesses, same page
 * faults delivered to it, same forks), since nothing the guest sees
 * depends on the hypervisor; native never exits. Shadow on shadow: L1
 * intercepts #PF, so every #PF the L2 OS takes reaches it as a reflected
 * exit first, and no TDP table exists at any level.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sim/run.h"

static const enum paging_mode modes[] = { PAGING_32, PAGING_PAE, PAGING_4LEVEL, PAGING_5LEVEL };

static void small(struct wl_params *p, enum wl_kind k, uint64_t seed)
{
	wl_params_default(p, k);
	p->seed = seed;
	p->jobs = 4;
	p->cc_text_pages = 48;
	p->cc_data_pages = 6;
	p->cc_bss_pages = 12;
	p->make_heap_pages = 6;
	p->src_pages = 2;
	p->hdr_pages = 6;
	p->job_accesses = 120;
	p->table_bytes = 24 * 4096;
	p->updates = 200;
	p->array_bytes = 6 * 4096;
	p->stride = 1024;
	p->iterations = 1;
	p->rounds = 5;
	p->live = 3;
	p->max_pages = 6;
}

/* splitmix64: the seeds of the runs */
static uint64_t next_seed(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void run_all_configs(enum cpu_vendor vendor, enum paging_mode mode, enum wl_kind k, unsigned vcpus,
			    uint64_t seed)
{
	struct run_options o;
	struct cost_profile p;
	static struct run_result r[RUN_CFGS];

	run_options_default(&o);
	o.vendor = vendor;
	o.mode = mode;
	o.vcpus = vcpus;
	o.ram_bytes = UINT64_C(256) << 20;
	o.check = true;
	small(&o.wl, k, seed);
	cost_profile_for_vendor(vendor, &p);
	for (int c = 0; c < RUN_CFGS; c++) {
		if (!run_one(&o, (enum run_cfg)c, &p, &r[c]))
			fail_msg("%s %s %s seed %llu on %s: %s", vendor == CPU_AMD ? "amd" : "intel",
				 paging_mode_name(mode), wl_name(k), (unsigned long long)seed,
				 run_cfg_name((enum run_cfg)c), r[c].error);
		assert_true(r[c].checks > 0);
		assert_int_equal(r[c].wl.killed, 0);
		assert_true(r[c].est.seconds > 0);
	}
	assert_int_equal(run_exits(&r[RUN_NATIVE]), 0);
	for (int c = 1; c < RUN_CFGS; c++) {
		enum cnt_level l = run_cfg_guest_level((enum run_cfg)c);

		assert_int_equal(r[c].wl.accesses, r[RUN_NATIVE].wl.accesses);
		assert_int_equal(r[c].wl.guest.faults, r[RUN_NATIVE].wl.guest.faults);
		assert_int_equal(r[c].wl.guest.forks, r[RUN_NATIVE].wl.guest.forks);
		assert_int_equal(r[c].cnt.guest_pf[l], r[RUN_NATIVE].cnt.guest_pf[CNT_L0]);
		assert_true(run_exits(&r[c]) > 0);
	}
	{
		const struct counters *sos = &r[RUN_L2_SHADOW_ON_SHADOW].cnt;

		assert_true(sos->exits[CNT_L2][CNT_REFLECTED][CNT_EXIT_PF] >= sos->guest_pf[CNT_L2]);
		assert_true(sos->pt_peak[CNT_PT_SHADOW_L0] > 0 && sos->pt_peak[CNT_PT_SHADOW_L1] > 0);
		assert_int_equal(sos->pt_peak[CNT_PT_EPT01] + sos->pt_peak[CNT_PT_EPT12] + sos->pt_peak[CNT_PT_EPT02], 0);
	}
}

static void test_every_mode_workload_config(void **state)
{
	uint64_t s = 20261121;

	(void)state;
	for (unsigned m = 0; m < 4; m++)
		for (int k = 0; k < WL_COUNT; k++) {
			run_all_configs(CPU_INTEL, modes[m], (enum wl_kind)k, 1, next_seed(&s));
			run_all_configs(CPU_AMD, modes[m], (enum wl_kind)k, 1, next_seed(&s));
		}
}

static void test_smp(void **state)
{
	uint64_t s = 77;

	(void)state;
	for (int k = 0; k < WL_COUNT; k++)
		run_all_configs(k % 2 ? CPU_AMD : CPU_INTEL, k % 2 ? PAGING_PAE : PAGING_4LEVEL, (enum wl_kind)k, 3,
				next_seed(&s));
}

/* The same seed and options give the same counters; another seed other ones. */
static void test_deterministic(void **state)
{
	struct run_options o;
	struct cost_profile p;
	static struct run_result a, b;

	(void)state;
	run_options_default(&o);
	o.ram_bytes = UINT64_C(256) << 20;
	small(&o.wl, WL_VMCHURN, 5);
	cost_profile_for_vendor(o.vendor, &p);
	for (int c = 0; c < RUN_CFGS; c++) {
		assert_true(run_one(&o, (enum run_cfg)c, &p, &a));
		assert_true(run_one(&o, (enum run_cfg)c, &p, &b));
		assert_memory_equal(&a.cnt, &b.cnt, sizeof(a.cnt));
		assert_true(a.est.cycles == b.est.cycles);
	}
	assert_true(run_one(&o, RUN_L1_TDP, &p, &a));
	o.wl.seed = 6;
	assert_true(run_one(&o, RUN_L1_TDP, &p, &b));
	assert_true(memcmp(&a.cnt, &b.cnt, sizeof(a.cnt)) != 0);
}

/* Bad options are refused with a reason and nothing run. */
static void test_bad_options(void **state)
{
	struct run_options o;
	struct cost_profile p;
	static struct run_result r;

	(void)state;
	cost_profile_for_vendor(CPU_INTEL, &p);
	run_options_default(&o);
	o.vcpus = 0;
	assert_false(run_one(&o, RUN_NATIVE, &p, &r));
	assert_non_null(strstr(r.error, "vCPUs"));
	run_options_default(&o);
	o.mode = PAGING_NONE;
	assert_non_null(run_options_invalid(&o));
	run_options_default(&o);
	o.wl.jobs = 0;
	assert_non_null(run_options_invalid(&o));
	run_options_default(&o);
	o.tdp_levels = 3;
	assert_non_null(run_options_invalid(&o));
	assert_int_equal(run_cfg_from_name("l1-tdp"), RUN_L1_TDP);
	assert_int_equal(run_cfg_from_name("l3"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_every_mode_workload_config),
		cmocka_unit_test(test_smp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
