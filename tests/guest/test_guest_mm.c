/*
 * The guest OS model's memory management in every paging mode, natively,
 * with the checker after every operation: boot (kernel tables counted by
 * the direct map's layout), demand paging (zero page, anonymous, file),
 * copy-on-write after fork, exec, munmap. Expected values follow from the
 * rules in gos.h / gpt.h, worked out beside each assertion.
 */
#include "arch/x86.h"
#include "guest/genv.h"

#define RW (GOS_PROT_READ | GOS_PROT_WRITE)

static const enum paging_mode modes[] = { PAGING_32, PAGING_PAE, PAGING_4LEVEL, PAGING_5LEVEL };

static void up(struct genv *e, enum paging_mode mode, uint64_t ram)
{
	struct genv_opts o;

	genv_opts_default(&o, mode);
	o.ram = ram;
	genv_up(e, &o);
}

static uint64_t gpa_of(struct genv *e, int pid, uint64_t va, bool *writable)
{
	struct xlate_result r;

	assert_true(gos_check_translate(&e->ck, e->g, pid, va, &r));
	if (r.outcome != XO_OK)
		return UINT64_MAX;
	if (writable)
		*writable = r.guest_rights & RIGHT_W;
	return r.gpa;
}

/* ---- boot ---- */

/*
 * Kernel page-table pages of the direct map (256 MiB unless said):
 *   32-bit: 64 PSE 4 MiB PDEs in the top table: 1 page;
 *   PAE: PDPT + the PD behind PDPTE 3 (128 2 MiB PDEs): 2;
 *   4-level: 256 MiB cannot use a 1 GiB page: PML4 + PDPT + PD: 3;
 *   5-level: PML5 + PML4 + PDPT + PD: 4;
 *   4-level with 2 GiB: two 1 GiB PDPTEs: PML4 + PDPT: 2;
 *   32-bit with 18 MiB: four 4 MiB pages and a 2 MiB tail of 4 KiB PTEs: PGD + 1 PT.
 */
static void boot_tables_opt(enum paging_mode mode, uint64_t ram, bool small, uint64_t want)
{
	struct genv e;
	struct genv_opts o;

	genv_opts_default(&o, mode);
	o.ram = ram;
	o.small_dmap = small;
	genv_up(&e, &o);
	assert_int_equal(gos_stats(e.g)->pt_alloc, want);
	assert_int_equal(vm_counters(e.vm)->pt_alloc[CNT_PT_GUEST_L0], want);
	assert_int_equal(cpu_paging_mode(&vcpu_cpu(vm_vcpu(e.vm, 0))->regs), mode);
	assert_int_equal(vm_counters(e.vm)->guest_pf[CNT_L0], 0);
	/* only page-table pages are stored in host memory */
	assert_int_equal(hostmem_stored_pages(vm_hostmem(e.vm)), want);
	genv_down(&e);
}

static void boot_tables(enum paging_mode mode, uint64_t ram, uint64_t want)
{
	boot_tables_opt(mode, ram, false, want);
}

static void test_boot(void **state)
{
	(void)state;
	/* 4 KiB pages only: 64 MiB = 32 PTs (+ PML4, PDPT, PD), 16 PTs (+ PGD) for 32-bit */
	boot_tables_opt(PAGING_4LEVEL, UINT64_C(64) << 20, true, 35);
	boot_tables_opt(PAGING_32, UINT64_C(64) << 20, true, 17);
	boot_tables(PAGING_32, UINT64_C(256) << 20, 1);
	boot_tables(PAGING_PAE, UINT64_C(256) << 20, 2);
	boot_tables(PAGING_4LEVEL, UINT64_C(256) << 20, 3);
	boot_tables(PAGING_5LEVEL, UINT64_C(256) << 20, 4);
	boot_tables(PAGING_4LEVEL, UINT64_C(2) << 30, 2);
	boot_tables(PAGING_32, UINT64_C(18) << 20, 2);
}

/* ---- demand paging ---- */

/* Tables of a process with one touched page: pgd + one table per lower level (PAE: 3 PDs preallocated). */
static uint64_t proc_tables(enum paging_mode mode)
{
	switch (mode) {
	case PAGING_32: return 2;
	case PAGING_PAE: return 5;
	case PAGING_4LEVEL: return 4;
	default: return 5;
	}
}

static void demand(enum paging_mode mode)
{
	struct genv e;
	const struct gos_stats *st;
	uint64_t a, pt0, g0, g1;
	bool w = true;
	int pid;

	up(&e, mode, UINT64_C(256) << 20);
	st = gos_stats(e.g);
	pt0 = st->pt_alloc;
	pid = gos_spawn(e.g, 0);
	GENV_OK(&e, gos_mmap(e.g, pid, 16, RW, GOS_MAP_PRIVATE, -1, 0, &a));
	/* a read of untouched anonymous memory: one fault, the zero page, read-only */
	GENV_OK(&e, gos_touch(e.g, pid, a, ACCESS_READ));
	assert_int_equal(st->faults, 1);
	assert_int_equal(st->faults_zero, 1);
	g0 = gpa_of(&e, pid, a, &w);
	assert_false(w);
	assert_int_equal(st->pt_alloc - pt0, proc_tables(mode));
	/* again: no fault */
	GENV_OK(&e, gos_touch(e.g, pid, a + 8, ACCESS_READ));
	assert_int_equal(st->faults, 1);
	/* a write: copy-on-write of the zero page into a new page, writable */
	GENV_OK(&e, gos_touch(e.g, pid, a, ACCESS_WRITE));
	assert_int_equal(st->faults, 2);
	assert_int_equal(st->faults_cow, 1);
	g1 = gpa_of(&e, pid, a, &w);
	assert_true(w);
	assert_true(g1 != g0);
	/* a first write elsewhere: a new anonymous page at once */
	GENV_OK(&e, gos_touch(e.g, pid, a + 0x1000, ACCESS_WRITE));
	assert_int_equal(st->faults_anon, 1);
	assert_int_equal(st->pages_alloc, 2);
	/* the OS's #PF handler ran once per fault; the vCPU delivered exactly those */
	assert_int_equal(vm_counters(e.vm)->guest_pf[CNT_L0], st->faults);
	/* an access outside every VMA, and a write to a read-only VMA, kill the process */
	GENV_EXPECT(&e, gos_touch(e.g, pid, a - 0x1000, ACCESS_READ), GOS_KILLED);
	assert_int_equal(st->faults_bad, 1);
	assert_false(gos_alive(e.g, pid));
	pid = gos_spawn(e.g, 0);
	GENV_OK(&e, gos_mmap(e.g, pid, 1, GOS_PROT_READ, GOS_MAP_PRIVATE, -1, 0, &a));
	GENV_EXPECT(&e, gos_touch(e.g, pid, a, ACCESS_WRITE), GOS_KILLED);
	/* everything the dead processes held went back; only the kernel's tables remain */
	genv_check(&e);
	assert_int_equal(st->pt_alloc - st->pt_free, pt0);
	assert_int_equal(st->pages_alloc, st->pages_free);
	genv_down(&e);
}

static void test_demand(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++)
		demand(modes[i]);
}

/* ---- files and the page cache ---- */

static void files(enum paging_mode mode)
{
	struct genv e;
	const struct gos_stats *st;
	uint64_t a, b, c, ga;
	bool w;
	int f, p1, p2;

	up(&e, mode, UINT64_C(256) << 20);
	st = gos_stats(e.g);
	f = gos_file_create(e.g, 8);
	p1 = gos_spawn(e.g, 0);
	p2 = gos_spawn(e.g, 0);
	GENV_OK(&e, gos_mmap(e.g, p1, 8, RW, GOS_MAP_SHARED, f, 0, &a));
	GENV_OK(&e, gos_mmap(e.g, p2, 4, RW, GOS_MAP_SHARED, f, 4, &b));
	GENV_OK(&e, gos_mmap(e.g, p2, 8, RW, GOS_MAP_PRIVATE, f, 0, &c));
	/* shared: both processes map the page cache's page, writable */
	GENV_OK(&e, gos_touch(e.g, p1, a + 5 * 4096, ACCESS_WRITE));
	GENV_OK(&e, gos_touch(e.g, p2, b + 1 * 4096, ACCESS_READ));
	ga = gpa_of(&e, p1, a + 5 * 4096, &w);
	assert_true(w);
	assert_int_equal(gpa_of(&e, p2, b + 4096, &w), ga);
	assert_true(w);
	assert_int_equal(st->cache_pages, 1);
	assert_int_equal(st->faults_file, 2);
	/* private: a read maps the same page read-only; a write makes a private copy */
	GENV_OK(&e, gos_touch(e.g, p2, c + 5 * 4096, ACCESS_READ));
	assert_int_equal(gpa_of(&e, p2, c + 5 * 4096, &w), ga);
	assert_false(w);
	GENV_OK(&e, gos_touch(e.g, p2, c + 5 * 4096, ACCESS_WRITE));
	assert_true(gpa_of(&e, p2, c + 5 * 4096, &w) != ga);
	assert_true(w);
	assert_int_equal(gpa_of(&e, p1, a + 5 * 4096, NULL), ga);
	/* a private write before any read copies at once (still one cache page read in for it) */
	GENV_OK(&e, gos_touch(e.g, p2, c, ACCESS_WRITE));
	assert_int_equal(st->faults_cow, 2);
	assert_int_equal(st->cache_pages, 2);
	/* a mapping beyond the end of the file: the access kills (SIGBUS) */
	GENV_OK(&e, gos_mmap(e.g, p1, 2, GOS_PROT_READ, GOS_MAP_PRIVATE, f, 7, &a));
	GENV_OK(&e, gos_touch(e.g, p1, a, ACCESS_READ));
	GENV_EXPECT(&e, gos_touch(e.g, p1, a + 4096, ACCESS_READ), GOS_KILLED);
	genv_down(&e);
}

static void test_files(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++)
		files(modes[i]);
}

/* ---- fork and copy-on-write ---- */

static void cow(enum paging_mode mode)
{
	struct genv e;
	const struct gos_stats *st;
	uint64_t a, g0, g1, g2;
	bool w;
	int pid, child;

	up(&e, mode, UINT64_C(256) << 20);
	st = gos_stats(e.g);
	pid = gos_spawn(e.g, 0);
	GENV_OK(&e, gos_mmap(e.g, pid, 4, RW, GOS_MAP_PRIVATE, -1, 0, &a));
	GENV_OK(&e, gos_touch(e.g, pid, a, ACCESS_WRITE));
	GENV_OK(&e, gos_touch(e.g, pid, a + 4096, ACCESS_WRITE));
	g0 = gpa_of(&e, pid, a, &w);
	assert_true(w);
	child = gos_fork(e.g, pid);
	assert_true(child >= 0);
	/* shared until someone writes: the same page, read-only on both sides */
	assert_int_equal(gpa_of(&e, child, a, &w), g0);
	assert_false(w);
	assert_int_equal(gpa_of(&e, pid, a, &w), g0);
	assert_false(w);
	/* the parent's writable PTEs were write-protected: one full flush of the parent */
	assert_int_equal(st->full_flushes, 1);
	/* reads do not break the sharing */
	GENV_OK(&e, gos_touch(e.g, child, a, ACCESS_READ));
	GENV_OK(&e, gos_touch(e.g, pid, a, ACCESS_READ));
	assert_int_equal(st->faults, 2);
	/* the child writes: it gets its own page; the parent keeps the old one */
	GENV_OK(&e, gos_touch(e.g, child, a, ACCESS_WRITE));
	g1 = gpa_of(&e, child, a, &w);
	assert_true(w);
	assert_true(g1 != g0);
	assert_int_equal(gpa_of(&e, pid, a, &w), g0);
	assert_false(w);
	assert_int_equal(st->faults_cow, 1);
	/* now the parent is the page's only mapper: its write reuses the page in place */
	GENV_OK(&e, gos_touch(e.g, pid, a, ACCESS_WRITE));
	assert_int_equal(gpa_of(&e, pid, a, &w), g0);
	assert_true(w);
	assert_int_equal(st->faults_reuse, 1);
	/* the parent writes the second page first: a copy for it; the child then reuses */
	g2 = gpa_of(&e, pid, a + 4096, NULL);
	GENV_OK(&e, gos_touch(e.g, pid, a + 4096, ACCESS_WRITE));
	assert_true(gpa_of(&e, pid, a + 4096, NULL) != g2);
	GENV_OK(&e, gos_touch(e.g, child, a + 4096, ACCESS_WRITE));
	assert_int_equal(gpa_of(&e, child, a + 4096, NULL), g2);
	assert_int_equal(st->faults_cow, 2);
	assert_int_equal(st->faults_reuse, 2);
	/* the untouched pages stay unmapped in both */
	assert_int_equal(gpa_of(&e, child, a + 2 * 4096, NULL), UINT64_MAX);
	GENV_OK(&e, gos_exit(e.g, child));
	GENV_OK(&e, gos_exit(e.g, pid));
	assert_int_equal(st->pages_alloc, st->pages_free);
	genv_down(&e);
}

static void test_cow(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++)
		cow(modes[i]);
}

/* ---- exec ---- */

static void exec(enum paging_mode mode)
{
	struct genv e;
	struct gos_image img = { .text_pages = 16, .data_pages = 4, .bss_pages = 8, .stack_pages = 8 };
	struct gos_layout l1, l2;
	const struct gos_stats *st;
	uint64_t t1;
	int p1, p2;

	up(&e, mode, UINT64_C(256) << 20);
	st = gos_stats(e.g);
	img.file = gos_file_create(e.g, 20);
	p1 = gos_spawn(e.g, 0);
	p2 = gos_fork(e.g, p1);
	GENV_OK(&e, gos_exec(e.g, p1, &img, &l1));
	GENV_OK(&e, gos_exec(e.g, p2, &img, &l2));
	assert_int_equal(l1.text, 0x400000);
	assert_int_equal(l1.data, 0x400000 + 16 * 4096);
	assert_int_equal(l1.bss, l1.data + 4 * 4096);
	/* text is the page cache's: both processes fetch the same page */
	GENV_OK(&e, gos_touch(e.g, p1, l1.text + 3 * 4096, ACCESS_FETCH));
	GENV_OK(&e, gos_touch(e.g, p2, l2.text + 3 * 4096, ACCESS_FETCH));
	t1 = gpa_of(&e, p1, l1.text + 3 * 4096, NULL);
	assert_int_equal(gpa_of(&e, p2, l2.text + 3 * 4096, NULL), t1);
	/* text is not writable, the stack is not executable (with NX) */
	GENV_EXPECT(&e, gos_touch(e.g, p1, l1.text, ACCESS_WRITE), GOS_KILLED);
	GENV_OK(&e, gos_touch(e.g, p2, l2.stack_top - 8, ACCESS_WRITE));
	GENV_OK(&e, gos_touch(e.g, p2, l2.bss, ACCESS_WRITE));
	GENV_OK(&e, gos_touch(e.g, p2, l2.data, ACCESS_WRITE));
	if (mode != PAGING_32)
		GENV_EXPECT(&e, gos_touch(e.g, p2, l2.stack_top - 8, ACCESS_FETCH), GOS_KILLED);
	else
		GENV_OK(&e, gos_exit(e.g, p2));
	assert_int_equal(st->execs, 2);
	assert_int_equal(gos_nprocs(e.g), 0);
	/* page-cache pages stay cached; everything else went back */
	assert_int_equal(st->pages_alloc, st->pages_free);
	genv_down(&e);
}

static void test_exec(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++)
		exec(modes[i]);
}

/* ---- munmap ---- */

static void munmap_mode(enum paging_mode mode, bool pcid)
{
	struct genv e;
	struct genv_opts o;
	const struct gos_stats *st;
	struct counters *c;
	struct vcpu *v;
	struct guest_fault f;
	uint64_t a, inv, addr_flushes, pcid_flushes;
	int pid;

	genv_opts_default(&o, mode);
	o.pcid = pcid;
	genv_up(&e, &o);
	st = gos_stats(e.g);
	c = vm_counters(e.vm);
	v = vm_vcpu(e.vm, 0);
	pid = gos_spawn(e.g, 0);
	GENV_OK(&e, gos_mmap(e.g, pid, 100, RW, GOS_MAP_PRIVATE, -1, 0, &a));
	for (unsigned i = 0; i < 100; i++)
		GENV_OK(&e, gos_touch(e.g, pid, a + i * 4096, ACCESS_WRITE));
	/* 10 pages (<= 33): one INVLPG each */
	inv = st->invlpg;
	addr_flushes = c->flushes[CNT_L0][CNT_FLUSH_ADDR];
	pcid_flushes = c->flushes[CNT_L0][CNT_FLUSH_PCID];
	GENV_OK(&e, gos_munmap(e.g, pid, a + 10 * 4096, 10));
	assert_int_equal(st->invlpg - inv, 10);
	assert_int_equal(c->flushes[CNT_L0][CNT_FLUSH_ADDR] - addr_flushes, 10);
	/* the translation is gone from the TLB: a user access faults (not present) */
	vcpu_set_cpl(v, 3);
	assert_int_equal(vcpu_touch(v, a + 12 * 4096, ACCESS_READ, &f), VCPU_FAULT);
	vcpu_set_cpl(v, 0);
	assert_int_equal(f.error_code, PFEC_U);
	/* 40 pages (> 33): one full flush (INVPCID single-context with PCIDs, else MOV CR3) */
	GENV_OK(&e, gos_munmap(e.g, pid, a + 40 * 4096, 40));
	assert_int_equal(st->invlpg - inv, 10);
	assert_int_equal(st->full_flushes, 1);
	assert_int_equal(c->flushes[CNT_L0][CNT_FLUSH_PCID] - pcid_flushes, 1);
	assert_int_equal(st->invpcid, pcid ? 1 : 0);
	/* the split VMA: both remaining parts still work; the hole kills */
	GENV_OK(&e, gos_touch(e.g, pid, a + 9 * 4096, ACCESS_WRITE));
	GENV_OK(&e, gos_touch(e.g, pid, a + 20 * 4096, ACCESS_WRITE));
	GENV_OK(&e, gos_touch(e.g, pid, a + 80 * 4096, ACCESS_WRITE));
	/* unmapping everything frees the process's lower tables (the top table stays) */
	GENV_OK(&e, gos_munmap(e.g, pid, a, 100));
	genv_check(&e);
	GENV_EXPECT(&e, gos_touch(e.g, pid, a + 50 * 4096, ACCESS_READ), GOS_KILLED);
	genv_down(&e);
}

static void test_munmap(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++)
		munmap_mode(modes[i], false);
	munmap_mode(PAGING_4LEVEL, true);
	munmap_mode(PAGING_5LEVEL, true);
}

/*
 * Out of memory: a 16 MiB guest (4-level, 2 MiB direct-map pages: 3 kernel
 * tables) has pages 256..4095 to hand out. A process writing page after
 * page is killed at the first fault that finds none; everything it held
 * goes back. A fork that runs out half way fails cleanly (the oracle checks
 * the parent's write-protected PTEs were flushed), and the parent goes on.
 */
static void test_oom(void **state)
{
	struct genv e;
	const struct gos_stats *st;
	uint64_t a, i;
	int pid, child;
	enum gos_status s = GOS_OK;

	(void)state;
	up(&e, PAGING_4LEVEL, UINT64_C(16) << 20);
	st = gos_stats(e.g);
	gos_set_check(e.g, NULL, NULL); /* thousands of faults: checked at the end and around the fork */
	pid = gos_spawn(e.g, 0);
	GENV_OK(&e, gos_mmap(e.g, pid, 8192, RW, GOS_MAP_PRIVATE, -1, 0, &a));
	for (i = 0; i < 8192 && s == GOS_OK; i++)
		s = gos_touch(e.g, pid, a + i * 4096, ACCESS_WRITE);
	GENV_EXPECT(&e, s, GOS_KILLED);
	assert_int_equal(st->oom, 1);
	/*
	 * 3840 pages = 3 kernel tables + the zero page + PML4, PDPT, PD + PTs + data.
	 * The region starts 4 KiB below a 2 MiB boundary (mmap is top-down
	 * from 2^47 - 4 KiB - 64 MiB): its first PT maps one page, the next
	 * ones 512 each, so N data pages need 1 + ceil((N - 1) / 512) PTs:
	 * 3833 = N + PTs gives N = 3824 (9 PTs).
	 */
	assert_int_equal(st->pages_alloc, 3824);
	assert_int_equal(st->pages_alloc, st->pages_free);
	assert_int_equal(st->pt_alloc - st->pt_free, 3);
	/*
	 * A parent with 3815 pages written (9 PTs: 3824 of the 3833 pages) leaves
	 * 9 free; its child needs 12 tables (PML4, PDPT, PD, 9 PTs) and no data
	 * page (copy-on-write): the fork fails half way, the parent lives on.
	 */
	pid = gos_spawn(e.g, 0);
	GENV_OK(&e, gos_mmap(e.g, pid, 3815, RW, GOS_MAP_PRIVATE, -1, 0, &a));
	for (i = 0; i < 3815; i++)
		GENV_OK(&e, gos_touch(e.g, pid, a + i * 4096, ACCESS_WRITE));
	genv_check(&e);
	gos_set_check(e.g, gos_check_hook, &e.ck);
	child = gos_fork(e.g, pid);
	assert_int_equal(child, GOS_ENOMEM);
	GENV_OK(&e, gos_touch(e.g, pid, a, ACCESS_WRITE));
	GENV_OK(&e, gos_exit(e.g, pid));
	assert_int_equal(st->pages_alloc, st->pages_free);
	genv_down(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boot),
		cmocka_unit_test(test_demand),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_cow),
		cmocka_unit_test(test_exec),
		cmocka_unit_test(test_munmap),
		cmocka_unit_test(test_oom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
