/*
 * The workloads on the guest OS model: every workload in every paging mode
 * natively (and under EPT, NPT and shadow paging) with the checker after every guest
 * operation; the counts that follow from each workload's rules
 * (workload.h); the same seed giving the same counters.
 */
#include <string.h>

#include "guest/genv.h"
#include "workload/workload.h"

static const enum paging_mode modes[] = { PAGING_32, PAGING_PAE, PAGING_4LEVEL, PAGING_5LEVEL };

/* Small sizes: the checker runs after every operation. */
static void small(struct wl_params *p, enum wl_kind k)
{
	wl_params_default(p, k);
	p->jobs = 5;
	p->cc_text_pages = 64;
	p->cc_data_pages = 8;
	p->cc_bss_pages = 16;
	p->make_heap_pages = 8;
	p->src_pages = 2;
	p->hdr_pages = 8;
	p->job_accesses = 60;
	p->table_bytes = 32 * 4096;
	p->updates = 100;
	p->array_bytes = 8 * 4096;
	p->stride = 512;
	p->iterations = 1;
	p->rounds = 6;
	p->live = 3;
	p->max_pages = 8;
}

static void run_checked(enum paging_mode mode, enum wl_kind k, enum genv_hv hv, unsigned ncpus)
{
	struct genv e;
	struct genv_opts o;
	struct wl_params p;
	struct wl_report r;
	const char *err = NULL;

	genv_opts_default(&o, mode);
	o.ncpus = ncpus;
	o.hv = hv;
	genv_up(&e, &o);
	e.ck.max_pages_per_vma = 16;
	small(&p, k);
	if (wl_run(e.g, &p, &r, &err) != GOS_OK)
		fail_msg("%s on %s: %s", wl_name(k), paging_mode_name(mode), err ? err : "?");
	assert_int_equal(gos_nprocs(e.g), 0);
	assert_int_equal(r.killed, 0);
	assert_true(r.accesses > 0 && r.guest.faults > 0);
	assert_true(e.ck.runs > 0);
	genv_check(&e);
	genv_down(&e);
}

static void test_every_mode_every_workload(void **state)
{
	(void)state;
	for (unsigned m = 0; m < 4; m++)
		for (int k = 0; k < WL_COUNT; k++)
			run_checked(modes[m], (enum wl_kind)k, GENV_NATIVE, 2);
}

static void test_under_hypervisors(void **state)
{
	(void)state;
	for (int k = 0; k < WL_COUNT; k++) {
		run_checked(PAGING_4LEVEL, (enum wl_kind)k, GENV_EPT, 2);
		run_checked(PAGING_PAE, (enum wl_kind)k, GENV_NPT, 2);
		run_checked(PAGING_32, (enum wl_kind)k, GENV_SHADOW, 1);
		run_checked(PAGING_5LEVEL, (enum wl_kind)k, GENV_SHADOW, 1);
	}
}

/* ---- counts from the rules ---- */

static void run_plain(struct genv *e, enum paging_mode mode, unsigned ncpus, const struct wl_params *p,
		      struct wl_report *r)
{
	struct genv_opts o;
	const char *err = NULL;

	genv_opts_default(&o, mode);
	o.ncpus = ncpus;
	o.check = false;
	genv_up(e, &o);
	if (wl_run(e->g, p, r, &err) != GOS_OK)
		fail_msg("%s: %s", wl_name(p->kind), err ? err : "?");
}

/*
 * gups on one thread with init: one fault per table page (the first write
 * of each), none during the updates (every page is mapped and writable);
 * a read and a write per update.
 */
static void test_gups_counts(void **state)
{
	struct genv e;
	struct wl_params p;
	struct wl_report r;

	(void)state;
	wl_params_default(&p, WL_GUPS);
	p.threads = 1;
	p.table_bytes = 256 * 4096;
	p.updates = 5000;
	run_plain(&e, PAGING_4LEVEL, 1, &p, &r);
	assert_int_equal(r.guest.faults, 256);
	assert_int_equal(r.guest.faults_anon, 256);
	assert_int_equal(r.accesses, 256 + 2 * 5000);
	assert_int_equal(r.units, 5000);
	assert_int_equal(r.tasks, 1);
	genv_down(&e);
	/* without init: each update's read of an untouched page maps the zero page, its write copies it */
	p.init = false;
	p.updates = 3;
	p.table_bytes = UINT64_C(1) << 30;
	run_plain(&e, PAGING_4LEVEL, 1, &p, &r);
	assert_int_equal(r.guest.faults_zero, 3);
	assert_int_equal(r.guest.faults_cow, 3);
	genv_down(&e);
}

/*
 * stream: units = array / stride per array; the first pass writes a, b, c
 * (3 accesses per unit, one fault per page of each array), then each
 * iteration runs 4 kernels of 2 + 2 + 3 + 3 accesses per unit.
 */
static void test_stream_counts(void **state)
{
	struct genv e;
	struct wl_params p;
	struct wl_report r;
	uint64_t units;

	(void)state;
	wl_params_default(&p, WL_STREAM);
	p.array_bytes = 64 * 4096;
	p.stride = 256;
	p.iterations = 3;
	units = p.array_bytes / p.stride;
	run_plain(&e, PAGING_PAE, 2, &p, &r);
	assert_int_equal(r.tasks, 2);
	assert_int_equal(r.units, units * (1 + 4 * 3));
	assert_int_equal(r.accesses, units * (3 + 10 * 3));
	assert_int_equal(r.guest.faults, 3 * 64);
	assert_int_equal(r.guest.faults_anon, 3 * 64);
	genv_down(&e);
}

/*
 * kbuild: make is spawned and execs its image, then forks one job per
 * source; each job execs the compiler and makes job_accesses accesses.
 * Every process exits. make writes its heap (make_heap_pages) first and 2
 * pages after each fork.
 */
static void test_kbuild_counts(void **state)
{
	struct genv e;
	struct wl_params p;
	struct wl_report r;

	(void)state;
	wl_params_default(&p, WL_KBUILD);
	p.jobs = 12;
	p.job_accesses = 500;
	run_plain(&e, PAGING_4LEVEL, 4, &p, &r);
	assert_int_equal(r.units, 12);
	assert_int_equal(r.guest.forks, 12);
	assert_int_equal(r.guest.execs, 13);
	assert_int_equal(r.guest.exits, 13);
	assert_int_equal(r.tasks, 13);
	assert_int_equal(r.accesses, 12 * 500 + p.make_heap_pages + 2 * 12);
	assert_int_equal(gos_nprocs(e.g), 0);
	/* the compiler's text is read in once and shared by every job */
	assert_true(r.guest.cache_pages <= p.cc_text_pages + p.cc_data_pages + 64 + 8 + p.hdr_pages + 12 * p.src_pages);
	assert_true(r.guest.faults_file > r.guest.cache_pages);
	/* every page went back; the kernel's tables and the page cache remain */
	assert_int_equal(r.guest.pages_alloc, r.guest.pages_free);
	genv_down(&e);
}

/* vmchurn: each thread maps `rounds` regions and unmaps all of them (some in two halves). */
static void test_vmchurn_counts(void **state)
{
	struct genv e;
	struct wl_params p;
	struct wl_report r;

	(void)state;
	wl_params_default(&p, WL_VMCHURN);
	p.rounds = 40;
	run_plain(&e, PAGING_4LEVEL, 3, &p, &r);
	assert_int_equal(r.units, 3 * 40);
	assert_int_equal(r.guest.mmaps, 3 * 40);
	assert_true(r.guest.munmaps >= 3 * 40);
	assert_int_equal(r.guest.pages_alloc, r.guest.pages_free);
	/* three threads share the address space: unmaps shoot down the others' vCPUs */
	assert_true(r.guest.shootdowns > 0);
	assert_int_equal(vm_counters(e.vm)->shootdowns[CNT_L0], r.guest.shootdowns);
	assert_int_equal(vm_counters(e.vm)->ipis[CNT_L0], r.guest.ipis);
	genv_down(&e);
}

/* ---- determinism ---- */

static void counters_of(enum wl_kind k, uint64_t seed, struct counters *c, struct wl_report *r)
{
	struct genv e;
	struct wl_params p;

	wl_params_default(&p, k);
	p.seed = seed;
	p.jobs = 8;
	p.updates = 20000;
	p.table_bytes = UINT64_C(16) << 20;
	p.array_bytes = UINT64_C(1) << 20;
	p.rounds = 24;
	run_plain(&e, PAGING_4LEVEL, 2, &p, r);
	*c = *vm_counters(e.vm);
	genv_down(&e);
}

static void test_determinism(void **state)
{
	(void)state;
	for (int k = 0; k < WL_COUNT; k++) {
		struct counters c1, c2, c3;
		struct wl_report r1, r2, r3;

		counters_of((enum wl_kind)k, 7, &c1, &r1);
		counters_of((enum wl_kind)k, 7, &c2, &r2);
		assert_memory_equal(&c1, &c2, sizeof(c1));
		assert_memory_equal(&r1, &r2, sizeof(r1));
		counters_of((enum wl_kind)k, 8, &c3, &r3);
		if (k != WL_STREAM) /* stream draws nothing at random */
			assert_true(memcmp(&c1, &c3, sizeof(c1)) != 0);
	}
}

/* The oracle reads and counts nothing: a checked run leaves the same counters as an unchecked one. */
static void oracle_run(enum wl_kind k, enum genv_hv hv, bool check, struct counters *c)
{
	struct genv e;
	struct genv_opts o;
	struct wl_params p;
	struct wl_report r;
	const char *err = NULL;

	genv_opts_default(&o, PAGING_4LEVEL);
	o.ncpus = hv == GENV_SHADOW ? 1 : 2;
	o.hv = hv;
	o.check = check;
	genv_up(&e, &o);
	e.ck.max_pages_per_vma = 16;
	small(&p, k);
	if (wl_run(e.g, &p, &r, &err) != GOS_OK)
		fail_msg("%s: %s", wl_name(k), err ? err : "?");
	*c = *vm_counters(e.vm);
	genv_down(&e);
}

static void test_oracle_does_not_perturb(void **state)
{
	(void)state;
	for (int k = 0; k < WL_COUNT; k++) {
		for (int hv = GENV_NATIVE; hv <= GENV_SHADOW; hv++) {
			struct counters a, b;

			oracle_run((enum wl_kind)k, (enum genv_hv)hv, false, &a);
			oracle_run((enum wl_kind)k, (enum genv_hv)hv, true, &b);
			assert_memory_equal(&a, &b, sizeof(a));
		}
	}
}

static void test_bad_params(void **state)
{
	struct wl_params p;

	(void)state;
	wl_params_default(&p, WL_STREAM);
	p.stride = 12;
	assert_non_null(wl_params_invalid(&p));
	wl_params_default(&p, WL_GUPS);
	p.table_bytes = 100;
	assert_non_null(wl_params_invalid(&p));
	assert_int_equal(wl_from_name("vmchurn"), WL_VMCHURN);
	assert_int_equal(wl_from_name("nope"), -1);
	assert_string_equal(wl_name(WL_KBUILD), "kbuild");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_mode_every_workload),
		cmocka_unit_test(test_under_hypervisors),
		cmocka_unit_test(test_gups_counts),
		cmocka_unit_test(test_stream_counts),
		cmocka_unit_test(test_kbuild_counts),
		cmocka_unit_test(test_vmchurn_counts),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_oracle_does_not_perturb),
		cmocka_unit_test(test_bad_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
