/*
 * The guest's TLB maintenance, natively: PCID context switches (no-flush
 * when the PCID still belongs to the address space, no leak between
 * address spaces, slot reuse), TLB shootdowns by IPI on SMP (threads,
 * migration), the scheduler's interleaving, and the checker itself
 * (it must catch a translation left stale behind the OS's back).
 */
#include "arch/tlb.h"
#include "arch/x86.h"
#include "guest/genv.h"

#define RW (GOS_PROT_READ | GOS_PROT_WRITE)

static void up(struct genv *e, unsigned ncpus, bool pcid, unsigned npcid)
{
	struct genv_opts o;

	genv_opts_default(&o, PAGING_4LEVEL);
	o.ncpus = ncpus;
	o.pcid = pcid;
	o.npcid = npcid;
	genv_up(e, &o);
}

static uint64_t refs(struct genv *e)
{
	return vm_counters(e->vm)->walk_refs[CNT_L0][CNT_DIM_GUEST];
}

/* ---- PCIDs ---- */

/*
 * Two processes on one vCPU alternately write the same address (each its
 * own page). With PCIDs every switch after the first two keeps the other
 * PCID's entries (no-flush bit): no walk at all. Without, every switch
 * flushes and every access walks the 4 levels.
 */
static void alternate(bool pcid)
{
	struct genv e;
	const struct gos_stats *st;
	uint64_t a, b, r0, nf0;
	int p1, p2;

	up(&e, 1, pcid, 0);
	st = gos_stats(e.g);
	p1 = gos_spawn(e.g, 0);
	p2 = gos_spawn(e.g, 0);
	GENV_OK(&e, gos_mmap(e.g, p1, 1, RW, GOS_MAP_PRIVATE, -1, 0, &a));
	GENV_OK(&e, gos_mmap(e.g, p2, 1, RW, GOS_MAP_PRIVATE, -1, 0, &b));
	assert_int_equal(a, b); /* the same first-fit address */
	GENV_OK(&e, gos_touch(e.g, p1, a, ACCESS_WRITE));
	GENV_OK(&e, gos_touch(e.g, p2, a, ACCESS_WRITE));
	r0 = refs(&e);
	nf0 = st->cr3_noflush;
	for (unsigned i = 0; i < 10; i++) {
		GENV_OK(&e, gos_touch(e.g, p1, a, ACCESS_WRITE));
		GENV_OK(&e, gos_touch(e.g, p2, a, ACCESS_WRITE));
	}
	assert_int_equal(st->faults, 2);
	if (pcid) {
		assert_int_equal(refs(&e) - r0, 0);
		assert_int_equal(st->cr3_noflush - nf0, 20);
	} else {
		assert_int_equal(refs(&e) - r0, 20 * 4);
		assert_int_equal(st->cr3_noflush, 0);
	}
	genv_down(&e);
}

static void test_pcid_switches(void **state)
{
	(void)state;
	alternate(true);
	alternate(false);
}

/* Three address spaces over two PCIDs: every switch takes a slot from another one (and flushes it). */
static void test_pcid_reuse(void **state)
{
	struct genv e;
	const struct gos_stats *st;
	uint64_t a, nf0, r0;
	int p[3];

	(void)state;
	up(&e, 1, true, 2);
	st = gos_stats(e.g);
	for (unsigned i = 0; i < 3; i++) {
		p[i] = gos_spawn(e.g, 0);
		GENV_OK(&e, gos_mmap(e.g, p[i], 1, RW, GOS_MAP_PRIVATE, -1, 0, &a));
	}
	for (unsigned i = 0; i < 3; i++)
		GENV_OK(&e, gos_touch(e.g, p[i], a, ACCESS_WRITE));
	nf0 = st->cr3_noflush;
	r0 = refs(&e);
	for (unsigned k = 0; k < 9; k++)
		GENV_OK(&e, gos_touch(e.g, p[k % 3], a, ACCESS_WRITE));
	assert_int_equal(st->cr3_noflush, nf0);
	assert_int_equal(refs(&e) - r0, 9 * 4);
	genv_down(&e);
}

/* ---- shootdowns ---- */

static void threads(bool pcid)
{
	struct genv e;
	const struct gos_stats *st;
	struct counters *c;
	struct guest_fault f;
	struct vcpu *v1;
	uint64_t a, inv;
	int p, t, child;

	up(&e, 2, pcid, 0);
	st = gos_stats(e.g);
	c = vm_counters(e.vm);
	v1 = vm_vcpu(e.vm, 1);
	p = gos_spawn(e.g, 0);
	t = gos_thread(e.g, p, 1);
	assert_int_equal(gos_proc_cpu(e.g, t), 1);
	GENV_OK(&e, gos_mmap(e.g, p, 8, RW, GOS_MAP_PRIVATE, -1, 0, &a));
	for (unsigned i = 0; i < 8; i++) {
		GENV_OK(&e, gos_touch(e.g, p, a + i * 4096, ACCESS_WRITE));
		GENV_OK(&e, gos_touch(e.g, t, a + i * 4096, ACCESS_READ));
	}
	assert_int_equal(c->ipis[CNT_L0], 0);
	/* munmap of 4 pages on vCPU 0: 4 INVLPG there, an IPI to vCPU 1, 4 INVLPG there */
	inv = st->invlpg;
	GENV_OK(&e, gos_munmap(e.g, p, a, 4));
	assert_int_equal(st->invlpg - inv, 8);
	assert_int_equal(c->ipis[CNT_L0], 1);
	assert_int_equal(c->shootdowns[CNT_L0], 1);
	vcpu_set_cpl(v1, 3);
	assert_int_equal(vcpu_touch(v1, a + 4096, ACCESS_READ, &f), VCPU_FAULT);
	vcpu_set_cpl(v1, 0);
	/* fork write-protects the shared address space: a full flush on both vCPUs */
	child = gos_fork(e.g, p);
	assert_true(child >= 0);
	assert_int_equal(c->ipis[CNT_L0], 2);
	assert_int_equal(st->full_flushes, 2);
	/* vCPU 0 caches the read-only translation; the thread's write copies the page */
	GENV_OK(&e, gos_touch(e.g, p, a + 5 * 4096, ACCESS_READ));
	GENV_OK(&e, gos_touch(e.g, t, a + 5 * 4096, ACCESS_WRITE));
	assert_int_equal(st->faults_cow, 1);
	/* ... so vCPU 0's entry was shot down (the checker would have found it stale) */
	assert_int_equal(c->ipis[CNT_L0], 3);
	assert_int_equal(c->shootdowns[CNT_L0], 3);
	/* the last task of the address space tears it down; the child lives on */
	GENV_OK(&e, gos_exit(e.g, p));
	GENV_OK(&e, gos_touch(e.g, t, a + 6 * 4096, ACCESS_WRITE));
	GENV_OK(&e, gos_exit(e.g, t));
	GENV_OK(&e, gos_touch(e.g, child, a + 6 * 4096, ACCESS_WRITE));
	GENV_OK(&e, gos_exit(e.g, child));
	assert_int_equal(st->pages_alloc, st->pages_free);
	genv_down(&e);
}

static void test_thread_shootdowns(void **state)
{
	(void)state;
	threads(true);
	threads(false);
}

/*
 * Migration: the address space stays cached on the vCPU it left. With
 * PCIDs it stays there (in a PCID slot) even after that vCPU switched to
 * another process: the shootdown reaches it and flushes with INVPCID.
 * Without PCIDs the switch flushed it: no IPI.
 */
static void migrate(bool pcid)
{
	struct genv e;
	const struct gos_stats *st;
	struct counters *c;
	struct gos_image img = { .text_pages = 2, .data_pages = 2, .stack_pages = 1 };
	uint64_t a, b, invpcid;
	int p, q;

	up(&e, 2, pcid, 0);
	st = gos_stats(e.g);
	c = vm_counters(e.vm);
	p = gos_spawn(e.g, 0);
	q = gos_spawn(e.g, 0);
	assert_int_equal(gos_proc_cpu(e.g, q), 0);
	GENV_OK(&e, gos_mmap(e.g, p, 4, RW, GOS_MAP_PRIVATE, -1, 0, &a));
	GENV_OK(&e, gos_mmap(e.g, q, 1, RW, GOS_MAP_PRIVATE, -1, 0, &b));
	for (unsigned i = 0; i < 4; i++)
		GENV_OK(&e, gos_touch(e.g, p, a + i * 4096, ACCESS_WRITE));
	GENV_OK(&e, gos_migrate(e.g, p, 1));
	GENV_OK(&e, gos_touch(e.g, p, a, ACCESS_WRITE));
	/* vCPU 0 still has p loaded */
	GENV_OK(&e, gos_munmap(e.g, p, a + 3 * 4096, 1));
	assert_int_equal(c->ipis[CNT_L0], 1);
	/* vCPU 0 runs q now */
	GENV_OK(&e, gos_touch(e.g, q, b, ACCESS_WRITE));
	invpcid = st->invpcid;
	GENV_OK(&e, gos_munmap(e.g, p, a + 2 * 4096, 1));
	if (pcid) {
		assert_int_equal(c->ipis[CNT_L0], 2);
		assert_int_equal(st->invpcid - invpcid, 1);
	} else {
		assert_int_equal(c->ipis[CNT_L0], 1);
	}
	/* p leaves vCPU 1 with its address space loaded, then execs on vCPU 0: vCPU 1 lets go of it */
	GENV_OK(&e, gos_migrate(e.g, p, 0));
	img.file = gos_file_create(e.g, 4);
	GENV_OK(&e, gos_exec(e.g, p, &img, NULL));
	genv_check(&e);
	GENV_OK(&e, gos_exit(e.g, p));
	GENV_OK(&e, gos_exit(e.g, q));
	genv_down(&e);
}

static void test_migration_shootdowns(void **state)
{
	(void)state;
	migrate(true);
	migrate(false);
}

/* ---- the scheduler ---- */

struct trace {
	int order[64];
	unsigned n;
	unsigned left[8];
};

static enum gos_step step(struct gos *g, int pid, void *ctx)
{
	struct trace *t = ctx;

	(void)g;
	t->order[t->n++] = pid;
	return --t->left[pid] ? GOS_STEP_CONTINUE : GOS_STEP_EXIT;
}

/* Round-robin over the vCPUs, each running its next process for `slice` steps. */
static void test_scheduler(void **state)
{
	struct genv e;
	struct genv_opts o;
	struct trace t = { .left = { 3, 2, 3 } };
	/* slice 2; p0, p2 on vCPU 0 (least loaded first), p1 on vCPU 1 */
	static const int want[] = { 0, 0, 1, 1, 2, 2, 0, 2 };

	(void)state;
	genv_opts_default(&o, PAGING_4LEVEL);
	o.ncpus = 2;
	genv_up(&e, &o);
	((struct gos_config *)gos_config(e.g))->slice = 2;
	for (int i = 0; i < 3; i++) {
		int pid = gos_spawn(e.g, 99);

		assert_int_equal(pid, i);
		gos_set_program(e.g, pid, step, &t);
	}
	assert_int_equal(gos_proc_cpu(e.g, 0), 0);
	assert_int_equal(gos_proc_cpu(e.g, 1), 1);
	assert_int_equal(gos_proc_cpu(e.g, 2), 0);
	GENV_OK(&e, gos_run(e.g, 0));
	assert_int_equal(t.n, 8);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(t.order[i], want[i]);
	assert_int_equal(gos_nprocs(e.g), 0);
	assert_int_equal(gos_stats(e.g)->exits, 3);
	genv_down(&e);
}

/* ---- the checker catches what the OS must not do ---- */

static void test_checker_catches(void **state)
{
	struct genv e;
	struct genv_opts o;
	struct xlate_result r;
	char msg[256];
	uint64_t a, pte_gpa = 0, pte;
	int p;

	(void)state;
	genv_opts_default(&o, PAGING_4LEVEL);
	o.check = false;
	genv_up(&e, &o);
	p = gos_spawn(e.g, 0);
	GENV_OK(&e, gos_mmap(e.g, p, 2, RW, GOS_MAP_PRIVATE, -1, 0, &a));
	GENV_OK(&e, gos_touch(e.g, p, a, ACCESS_WRITE));
	GENV_OK(&e, gos_touch(e.g, p, a + 4096, ACCESS_WRITE));
	genv_check(&e);
	assert_true(gos_check_translate(&e.ck, e.g, p, a, &r));
	/* find the PTE: scan the process's tables from guest memory for the leaf of a */
	for (uint64_t gpa = 0x100000; gpa < 0x200000 && !pte_gpa; gpa += 8) {
		uint64_t v = 0;

		guestmem_read(vm_guestmem(e.vm), gpa, 8, &v);
		if ((v & PTE_P) && (v & GENMASK64(51, 12)) == r.gpa && (v & PTE_US))
			pte_gpa = gpa;
	}
	assert_true(pte_gpa != 0);
	guestmem_read(vm_guestmem(e.vm), pte_gpa, 8, &pte);
	/* write-protect the PTE behind the OS's back, without a flush: the TLB has more rights */
	guestmem_write(vm_guestmem(e.vm), pte_gpa, 8, pte & ~PTE_RW);
	assert_int_equal(gos_check(&e.ck, e.g, msg, sizeof(msg)), 1);
	print_message("caught: %s\n", msg);
	/* point it at the other page: the TLB's entry is for another page */
	guestmem_write(vm_guestmem(e.vm), pte_gpa, 8, (pte & ~GENMASK64(51, 12)) | (r.gpa + 4096));
	assert_int_equal(gos_check(&e.ck, e.g, msg, sizeof(msg)), 1);
	print_message("caught: %s\n", msg);
	/* restored, and flushed: fine again */
	guestmem_write(vm_guestmem(e.vm), pte_gpa, 8, pte);
	genv_check(&e);
	genv_down(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pcid_switches),
		cmocka_unit_test(test_pcid_reuse),
		cmocka_unit_test(test_thread_shootdowns),
		cmocka_unit_test(test_migration_shootdowns),
		cmocka_unit_test(test_scheduler),
		cmocka_unit_test(test_checker_catches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
