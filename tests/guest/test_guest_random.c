/*
 * Randomized guest operations (spawn, fork, exec, exit, thread, migrate,
 * mmap of anonymous and file memory, munmap of random ranges, accesses of
 * every kind, in and out of mappings) on 3 vCPUs, in every paging mode,
 * with and without PCIDs, natively and under EPT, with the oracle after
 * every operation. The guest's own consistency is the expected result:
 * every access inside a mapping that allows it succeeds; every other
 * access kills the process; nothing is left once every process exited.
 */
#include <stdlib.h>

#include "guest/genv.h"

#define RW (GOS_PROT_READ | GOS_PROT_WRITE)
#define MAXP 64

struct world {
	struct genv e;
	uint64_t rng;
	int pid[MAXP];
	unsigned n;
	int file[3];
	unsigned ncpus;
};

static uint64_t rnd(struct world *w, uint64_t n)
{
	uint64_t z = (w->rng += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return (z ^ (z >> 31)) % n;
}

static void forget_dead(struct world *w)
{
	for (unsigned i = 0; i < w->n;)
		if (!gos_alive(w->e.g, w->pid[i]))
			w->pid[i] = w->pid[--w->n];
		else
			i++;
}

static void add(struct world *w, int pid)
{
	assert_true(pid >= 0);
	if (w->n < MAXP)
		w->pid[w->n++] = pid;
}

/* A random address: mostly inside one of the process's mappings (it knows them from gos_mmap), sometimes not. */
struct maps {
	uint64_t addr[MAXP * 4], pages[MAXP * 4];
	unsigned prot[MAXP * 4];
	int owner[MAXP * 4];
	unsigned n;
};

static void one_op(struct world *w, struct maps *m)
{
	struct gos *g = w->e.g;
	unsigned op = (unsigned)rnd(w, 100);
	int pid;

	forget_dead(w);
	if (!w->n || op < 3) {
		add(w, gos_spawn(g, (unsigned)rnd(w, 4)));
		return;
	}
	pid = w->pid[rnd(w, w->n)];
	if (op < 6) {
		int c = gos_fork(g, pid);

		if (c >= 0)
			add(w, c);
		else
			GENV_EXPECT(&w->e, c, GOS_ENOMEM);
	} else if (op < 8) {
		add(w, gos_thread(g, pid, (unsigned)rnd(w, w->ncpus)));
	} else if (op < 10) {
		GENV_OK(&w->e, gos_migrate(g, pid, (unsigned)rnd(w, w->ncpus)));
	} else if (op < 12) {
		GENV_OK(&w->e, gos_exit(g, pid));
	} else if (op < 14) {
		struct gos_image img = { .file = w->file[0], .text_pages = 4, .data_pages = 2, .bss_pages = 2,
					 .stack_pages = 2 };
		int s = gos_exec(g, pid, &img, NULL);

		if (s != GOS_EINVAL) /* a process with threads cannot exec */
			GENV_OK(&w->e, s);
	} else if (op < 24 && m->n < MAXP * 4) {
		unsigned f = (unsigned)rnd(w, 4), prot = rnd(w, 5) ? RW : GOS_PROT_READ;
		uint64_t pages = 1 + rnd(w, 40), a;
		int file = f < 3 ? w->file[f] : -1;
		unsigned flags = (file >= 0 && rnd(w, 2)) ? GOS_MAP_SHARED : GOS_MAP_PRIVATE;

		GENV_OK(&w->e, gos_mmap(g, pid, pages, prot, flags, file, file >= 0 ? rnd(w, 4) : 0, &a));
		m->addr[m->n] = a;
		m->pages[m->n] = pages;
		m->prot[m->n] = prot;
		m->owner[m->n++] = pid;
	} else if (op < 30 && m->n) {
		unsigned i = (unsigned)rnd(w, m->n);
		uint64_t first = rnd(w, m->pages[i]), n = 1 + rnd(w, m->pages[i] - first);

		if (gos_alive(g, m->owner[i]))
			GENV_OK(&w->e, gos_munmap(g, m->owner[i], m->addr[i] + first * 4096, n));
	} else if (m->n) {
		unsigned i = (unsigned)rnd(w, m->n);
		uint64_t va = m->addr[i] + rnd(w, m->pages[i] + 2) * 4096;
		enum access_type t = (enum access_type)rnd(w, 2);
		int s;

		if (!gos_alive(g, m->owner[i]))
			return;
		s = gos_touch(g, m->owner[i], va, t);
		if (s != GOS_KILLED)
			GENV_OK(&w->e, s);
	}
}

static void world(enum paging_mode mode, bool pcid, enum genv_hv hv, uint64_t seed)
{
	struct world w = { .rng = seed };
	struct maps m = { .n = 0 };
	struct genv_opts o;
	const struct gos_stats *st;

	genv_opts_default(&o, mode);
	o.ncpus = w.ncpus = hv == GENV_SHADOW ? 1 : 3;
	o.pcid = pcid;
	o.npcid = 3;
	o.flush_ceiling = 8;
	o.hv = hv;
	genv_up(&w.e, &o);
	w.e.ck.max_pages_per_vma = 48;
	for (unsigned i = 0; i < 3; i++)
		w.file[i] = gos_file_create(w.e.g, 48);
	for (unsigned k = 0; k < 500; k++)
		one_op(&w, &m);
	forget_dead(&w);
	while (w.n) {
		GENV_OK(&w.e, gos_exit(w.e.g, w.pid[0]));
		forget_dead(&w);
	}
	st = gos_stats(w.e.g);
	assert_int_equal(gos_nprocs(w.e.g), 0);
	assert_int_equal(st->pages_alloc, st->pages_free);
	assert_int_equal(st->pt_alloc - st->pt_free, vm_counters(w.e.vm)->pt_alloc[hv == GENV_NATIVE ? CNT_PT_GUEST_L0 : CNT_PT_GUEST_L1] -
						       vm_counters(w.e.vm)->pt_free[hv == GENV_NATIVE ? CNT_PT_GUEST_L0 : CNT_PT_GUEST_L1]);
	print_message("%-8s pcid %d %-6s: %llu faults (%llu killed), %llu forks, %llu shootdowns, %llu checks\n",
		      paging_mode_name(mode), pcid, hv == GENV_NATIVE ? "native" : hv == GENV_EPT ? "ept" : hv == GENV_NPT ? "npt" : "shadow",
		      (unsigned long long)st->faults, (unsigned long long)st->killed, (unsigned long long)st->forks,
		      (unsigned long long)st->shootdowns, (unsigned long long)w.e.ck.runs);
	genv_down(&w.e);
}

static void test_random_native(void **state)
{
	(void)state;
	world(PAGING_32, false, GENV_NATIVE, 1);
	world(PAGING_PAE, false, GENV_NATIVE, 2);
	world(PAGING_4LEVEL, false, GENV_NATIVE, 3);
	world(PAGING_4LEVEL, true, GENV_NATIVE, 4);
	world(PAGING_5LEVEL, true, GENV_NATIVE, 5);
}

/* More seeds when GUEST_RANDOM_SEEDS=n is set (a longer local run). */
static void test_random_more(void **state)
{
	const char *env = getenv("GUEST_RANDOM_SEEDS");
	unsigned n = env ? (unsigned)atoi(env) : 0;
	static const enum paging_mode modes[] = { PAGING_32, PAGING_PAE, PAGING_4LEVEL, PAGING_5LEVEL };

	(void)state;
	for (unsigned i = 0; i < n; i++)
		world(modes[i % 4], i % 3 != 0, (enum genv_hv)(i % 5 == 4 ? GENV_SHADOW : i % 5 == 3 ? GENV_EPT : i % 5 == 2 ? GENV_NPT : GENV_NATIVE),
		      100 + i);
}

static void test_random_hv(void **state)
{
	(void)state;
	world(PAGING_4LEVEL, true, GENV_EPT, 6);
	world(PAGING_PAE, false, GENV_EPT, 7);
	world(PAGING_4LEVEL, true, GENV_SHADOW, 8);
	world(PAGING_32, false, GENV_SHADOW, 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_native),
		cmocka_unit_test(test_random_hv),
		cmocka_unit_test(test_random_more),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
