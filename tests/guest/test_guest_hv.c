/*
 * The same guest scenario in every paging mode natively, under EPT and
 * under NPT (the test TDP hypervisor over mmu/tdp.h), on 2 vCPUs, and
 * under shadow paging (the test hypervisor over mmu/shadow.h) on one, with the
 * checker after every guest operation (under TDP it also checks that the
 * hardware's translation through the nested tables gives the frame the
 * memory slots back the guest page with). The guest sees the same faults
 * in every configuration; under TDP the only exits are nested faults.
 */
#include "guest/genv.h"

#define RW (GOS_PROT_READ | GOS_PROT_WRITE)

/* The scenario; returns the guest's fault count. */
static uint64_t scenario(struct genv *e)
{
	struct gos_image img = { .text_pages = 8, .data_pages = 2, .bss_pages = 4, .stack_pages = 4 };
	struct gos_layout l;
	uint64_t a;
	int pid, child, t;

	img.file = gos_file_create(e->g, 10);
	pid = gos_spawn(e->g, 0);
	assert_true(pid >= 0);
	GENV_OK(e, gos_mmap(e->g, pid, 64, RW, GOS_MAP_PRIVATE, -1, 0, &a));
	for (unsigned i = 0; i < 64; i++)
		GENV_OK(e, gos_touch(e->g, pid, a + i * 4096, i % 3 ? ACCESS_WRITE : ACCESS_READ));
	t = gos_thread(e->g, pid, 1);
	for (unsigned i = 0; i < 64; i += 4)
		GENV_OK(e, gos_touch(e->g, t, a + i * 4096, ACCESS_READ));
	child = gos_fork(e->g, pid);
	assert_true(child >= 0);
	for (unsigned i = 0; i < 64; i += 2)
		GENV_OK(e, gos_touch(e->g, child, a + i * 4096, ACCESS_WRITE));
	for (unsigned i = 0; i < 64; i += 3)
		GENV_OK(e, gos_touch(e->g, t, a + i * 4096, ACCESS_WRITE));
	GENV_OK(e, gos_munmap(e->g, pid, a + 8 * 4096, 40));
	GENV_OK(e, gos_munmap(e->g, t, a + 50 * 4096, 2));
	GENV_EXPECT(e, gos_touch(e->g, t, a + 9 * 4096, ACCESS_READ), GOS_KILLED);
	GENV_OK(e, gos_exec(e->g, child, &img, &l));
	GENV_OK(e, gos_touch(e->g, child, l.text, ACCESS_FETCH));
	GENV_OK(e, gos_touch(e->g, child, l.data, ACCESS_WRITE));
	GENV_OK(e, gos_touch(e->g, child, l.bss, ACCESS_WRITE));
	GENV_OK(e, gos_touch(e->g, child, l.stack_top - 8, ACCESS_WRITE));
	GENV_OK(e, gos_exit(e->g, child));
	GENV_OK(e, gos_exit(e->g, pid));
	genv_check(e);
	return gos_stats(e->g)->faults;
}

static const char *const hv_names[] = { "native", "ept", "npt", "shadow" };

static uint64_t run(enum paging_mode mode, enum genv_hv hv, unsigned ncpus)
{
	struct genv e;
	struct genv_opts o;
	struct counters *c;
	unsigned level = hv == GENV_NATIVE ? CNT_L0 : CNT_L1;
	uint64_t faults, nested;

	genv_opts_default(&o, mode);
	o.ncpus = ncpus;
	o.hv = hv;
	genv_up(&e, &o);
	faults = scenario(&e);
	c = vm_counters(e.vm);
	/* every fault the OS handled was delivered by its vCPU */
	assert_int_equal(c->guest_pf[level], faults);
	nested = c->exits[CNT_L1][CNT_BY_L0][hv == GENV_NPT ? CNT_EXIT_NPF : CNT_EXIT_EPT_VIOLATION];
	if (hv == GENV_NATIVE)
		assert_int_equal(counters_exits_sum(c, -1, -1, -1), 0);
	else if (hv == GENV_SHADOW)
		nested = counters_exits_sum(c, CNT_L1, CNT_BY_L0, -1);
	else {
		/* TDP intercepts nothing of the guest's paging; every IPI sent exits (ICR write) */
		assert_int_equal(c->exits[CNT_L1][CNT_BY_L0][CNT_EXIT_INTERRUPT], c->ipis[CNT_L1]);
		assert_int_equal(counters_exits_sum(c, -1, -1, -1), nested + c->ipis[CNT_L1]);
	}
	assert_true(hv == GENV_NATIVE || nested > 0);
	print_message("%-8s %-6s faults %3llu exits %4llu checks %llu (leaves %llu, vCPU probes %llu, TLB entries %llu)\n",
		      paging_mode_name(mode), hv_names[hv],
		      (unsigned long long)faults, (unsigned long long)nested, (unsigned long long)e.ck.runs,
		      (unsigned long long)e.ck.leaves, (unsigned long long)e.ck.probes,
		      (unsigned long long)e.ck.tlb_entries);
	assert_true(e.ck.probes > 0 && e.ck.tlb_entries > 0);
	genv_down(&e);
	return faults;
}

static void all_configs(enum paging_mode mode)
{
	uint64_t n = run(mode, GENV_NATIVE, 2);

	assert_int_equal(run(mode, GENV_EPT, 2), n);
	assert_int_equal(run(mode, GENV_NPT, 2), n);
	assert_int_equal(run(mode, GENV_SHADOW, 2), n);
}

static void test_32(void **s) { (void)s; all_configs(PAGING_32); }
static void test_pae(void **s) { (void)s; all_configs(PAGING_PAE); }
static void test_4level(void **s) { (void)s; all_configs(PAGING_4LEVEL); }
static void test_5level(void **s) { (void)s; all_configs(PAGING_5LEVEL); }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_32),
		cmocka_unit_test(test_pae),
		cmocka_unit_test(test_4level),
		cmocka_unit_test(test_5level),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
