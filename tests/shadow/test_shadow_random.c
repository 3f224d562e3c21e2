/*
 * Randomized runs of a guest on the shadow MMU, in every paging mode, with
 * unsync on and off, with and without a tight cap on shadow pages. Each
 * operation (access, PTE/PDE rewrite through the direct map, aging,
 * INVLPG, MOV CR3 between processes with or without flush, CR0.WP /
 * SMEP / SMAP / PKE / PSE / EFER.NXE / AC / PKRU changes, junk written
 * into page tables,
 * zap all) is followed by the harness's equivalence check against the
 * hardware walker over the guest's own tables; every few operations the
 * shadow tables are checked not to grant anything the guest's do not, and
 * all guest tables are compared.
 *
 * The guest behaves as the architecture requires where it matters for a
 * translation the processor may cache: a rewritten PTE is invalidated
 * (INVLPG) before the next check when unsync is on; junk writes are
 * followed by a flushing MOV CR3.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mem/rng.h"
#include "shadow/harness.h"

#define NPROC  3
#define NPAGES 24       /* 4 KiB user pages per process, over 3 page tables */
#define NDATA  64       /* data pages they may map */
#define UBASE  UINT64_C(0x40000000)
#define LBASE  UINT64_C(0x60000000) /* a large page per process */
#define LDATA  (DATA_BASE + UINT64_C(0x04000000))

struct proc {
	uint64_t root;
	uint64_t gva[NPAGES + 1];
	uint64_t leaf[NPAGES + 1]; /* gpa of the leaf entry (the last one: the large page, if any) */
	uint64_t pde[NPAGES + 1];
	unsigned n;
};

struct rnd {
	struct env e;
	struct proc p[NPROC];
	unsigned cur;
	uint64_t seed;
	bool ia32e, large;
	uint64_t ops[10];
};

static uint64_t pick(struct rnd *t, uint64_t n)
{
	return rng_below(&t->seed, n);
}

static uint64_t page_size_large(const struct rnd *t)
{
	return t->e.o.mode == PAGING_32 ? PAGE_SIZE_4M : PAGE_SIZE_2M;
}

static void setup(struct rnd *t)
{
	struct env *e = &t->e;

	for (unsigned i = 0; i < NPROC; i++) {
		struct proc *p = &t->p[i];

		p->root = i == 0 ? e->kroot : g_new_root(e);
		for (unsigned k = 0; k < NPAGES; k++) {
			/* the upper half of some: the other 2 MiB of a 32-bit PDE's range */
			uint64_t gva = UBASE + (uint64_t)(k / 8) * page_size_large(t) * 2 + (k % 8) * PAGE_SIZE_4K * 3 +
				       ((k % 8) >= 5 ? PAGE_SIZE_2M : 0);
			uint64_t fl = PTE_P | PTE_US | ((k & 1) ? PTE_RW : 0);

			p->gva[k] = gva;
			p->leaf[k] = g_map(e, p->root, gva, DATA_BASE + pick(t, NDATA) * PAGE_SIZE_4K, 1, fl,
					   PTE_P | PTE_RW | PTE_US, false);
			p->pde[k] = g_entry_gpa(e, p->root, gva, 2);
		}
		p->n = NPAGES;
		if (t->large) {
			uint64_t sz = page_size_large(t);

			p->gva[NPAGES] = LBASE + i * sz;
			p->leaf[NPAGES] = g_map(e, p->root, p->gva[NPAGES], LDATA + i * sz, 2, PTE_P | PTE_RW | PTE_US,
						PTE_P | PTE_RW | PTE_US, false);
			p->pde[NPAGES] = p->leaf[NPAGES];
			p->n = NPAGES + 1;
		}
	}
	env_load_cr3(e, t->p[0].root, true);
}

static uint64_t random_gva(struct rnd *t, bool *table_addr, uint64_t *table_gpa)
{
	const struct proc *p = &t->p[t->cur];
	unsigned r = (unsigned)pick(t, 100);

	*table_addr = false;
	if (r < 80) {
		unsigned k = (unsigned)pick(t, p->n);
		uint64_t gva = p->gva[k] + (pick(t, 2) ? pick(t, 512) * 8 : 0);

		return k == NPAGES ? gva + PAGE_SIZE_4K * pick(t, 512) : gva;
	}
	if (r < 92) {
		/* a page-table entry through the direct map */
		const struct proc *q = &t->p[pick(t, NPROC)];
		uint64_t gpa = q->leaf[pick(t, q->n)];

		*table_addr = true;
		*table_gpa = gpa;
		return t->e.dm_base + gpa;
	}
	if (r < 96)
		return UBASE + PAGE_SIZE_4K * pick(t, 4096); /* mostly unmapped */
	return t->e.dm_base + PT_BASE + pick(t, 4096) * 8; /* the root's page: reads */
}

static void op_access(struct rnd *t)
{
	struct env *e = &t->e;
	bool tbl;
	uint64_t tgpa = 0, gva = random_gva(t, &tbl, &tgpa);
	enum access_type ty = (enum access_type)pick(t, 3);
	unsigned cpl = pick(t, 2) ? 3 : 0;
	bool implicit = pick(t, 20) == 0;
	unsigned es = e->fmt.entry_size;

	if (gva >= e->dm_base && gva < e->dm_base + DM_SIZE && ty == ACCESS_WRITE) {
		/* writes into page tables store what is there (no change of meaning) */
		uint64_t gpa = tbl ? tgpa : (gva - e->dm_base) & ~(uint64_t)(es - 1);

		env_access(e, e->dm_base + gpa, ACCESS_WRITE, cpl, implicit, es, g_ref_get(e, gpa), NULL);
		return;
	}
	env_access(e, gva, ty, cpl, implicit, 8, 0, NULL);
}

static uint64_t mutate_leaf(struct rnd *t, uint64_t v, bool large)
{
	bool nx = t->e.fmt.nx;

	switch (pick(t, 9)) {
	case 0:
		if (large)
			return (v & ~(page_size_large(t) - 1) & ~UINT64_C(0xffffffff00000000)) |
			       (LDATA + pick(t, NPROC) * page_size_large(t)) | (v & 0xfff);
		return (v & 0xfff) | (v & PTE_XD) | (DATA_BASE + pick(t, NDATA) * PAGE_SIZE_4K);
	case 1: return v ^ PTE_RW;
	case 2: return v ^ PTE_US;
	case 3: return nx ? v ^ PTE_XD : v ^ PTE_RW;
	case 4: return v & ~(PTE_A | PTE_D);
	case 5: return v ^ PTE_P;
	case 6: return v | PTE_A | PTE_D;
	case 7:
		if (t->ia32e)
			return (v & ~PTE_PKEY_MASK) | (pick(t, 16) << PTE_PKEY_SHIFT);
		return v ^ PTE_D;
	default:
		if (pick(t, 4) == 0 && t->e.o.mode != PAGING_32)
			return v ^ BIT64(50); /* reserved (MAXPHYADDR 40) */
		return v ^ PTE_A;
	}
}

static void op_leaf(struct rnd *t)
{
	struct env *e = &t->e;
	struct proc *p = &t->p[t->cur];
	unsigned k = (unsigned)pick(t, p->n);
	uint64_t v = g_ref_get(e, p->leaf[k]);

	uint64_t nv = mutate_leaf(t, v, k == NPAGES);

	if (getenv("SHADOW_TRACE"))
		print_message("  leaf %u gva 0x%" PRIx64 " entry 0x%" PRIx64 ": 0x%" PRIx64 " -> 0x%" PRIx64 "\n", k,
			      p->gva[k], p->leaf[k], v, nv);
	g_write_entry(e, p->leaf[k], nv);
	if (e->o.unsync || pick(t, 2))
		env_invlpg(e, p->gva[k]);
	env_access(e, p->gva[k], (enum access_type)pick(t, 3), pick(t, 2) ? 3 : 0, false, 8, 0, NULL);
}

static void op_pde(struct rnd *t)
{
	struct env *e = &t->e;
	struct proc *p = &t->p[t->cur];
	unsigned k = (unsigned)pick(t, NPAGES);
	uint64_t v = g_ref_get(e, p->pde[k]), nv;

	switch (pick(t, 5)) {
	case 0: nv = v ^ PTE_RW; break;
	case 1: nv = v ^ PTE_US; break;
	case 2: nv = e->fmt.nx ? v ^ PTE_XD : v ^ PTE_P; break;
	case 3: nv = v & ~PTE_A; break;
	default: nv = v ^ PTE_P; break;
	}
	if (getenv("SHADOW_TRACE"))
		print_message("  pde %u gva 0x%" PRIx64 " entry 0x%" PRIx64 ": 0x%" PRIx64 " -> 0x%" PRIx64 "\n", k,
			      p->gva[k], p->pde[k], v, nv);
	g_write_entry(e, p->pde[k], nv);
	env_access(e, p->gva[k], (enum access_type)pick(t, 3), 3, false, 8, 0, NULL);
	if (pick(t, 2)) { /* restore */
		g_write_entry(e, p->pde[k], v);
		env_access(e, p->gva[k], ACCESS_READ, 3, false, 8, 0, NULL);
	}
}

static void op_cr3(struct rnd *t)
{
	struct env *e = &t->e;

	t->cur = (unsigned)pick(t, NPROC);
	env_load_cr3(e, t->p[t->cur].root, pick(t, 5) != 0);
}

static void op_ctl(struct rnd *t)
{
	struct env *e = &t->e;
	uint64_t cr0 = e->cpu.regs.cr0, cr4 = e->cpu.regs.cr4, efer = e->cpu.regs.efer;

	switch (pick(t, 7)) {
	case 6:
		if (e->o.mode == PAGING_32 && !e->o.dm_large)
			cr4 ^= CR4_PSE; /* PS of a PDE changes meaning (the direct map has none) */
		else if (e->o.mode == PAGING_32)
			break;
		else
			efer ^= EFER_NXE; /* XD becomes a reserved bit */
		break;
	case 0: cr0 ^= CR0_WP; break;
	case 1: cr4 ^= CR4_SMEP; break;
	case 2: cr4 ^= CR4_SMAP; break;
	case 3: if (t->ia32e) cr4 ^= CR4_PKE; break;
	case 4: e->cpu.regs.rflags ^= RFLAGS_AC; break;
	default: e->cpu.regs.pkru = (uint32_t)rng_next(&t->seed) & 0x3c; break; /* keys 1 and 2 */
	}
	if (getenv("SHADOW_TRACE"))
		print_message("  ctl cr0 0x%" PRIx64 " cr4 0x%" PRIx64 " efer 0x%" PRIx64 " rflags 0x%" PRIx64
			      " pkru 0x%x\n", cr0, cr4, efer, e->cpu.regs.rflags, e->cpu.regs.pkru);
	if (cr0 != e->cpu.regs.cr0 || cr4 != e->cpu.regs.cr4 || efer != e->cpu.regs.efer)
		env_set_ctl(e, cr0, cr4, efer);
}

static void op_junk(struct rnd *t)
{
	struct env *e = &t->e;
	struct proc *p = &t->p[t->cur];
	unsigned k = (unsigned)pick(t, p->n);
	uint64_t gpa = pick(t, 2) ? p->leaf[k] : p->pde[k];
	uint64_t v = rng_next(&t->seed) & (UINT64_C(0x8000000000000fff) | (UINT64_C(0xfffff) << 12)); /* inside the 4 GiB slot */

	if (e->fmt.entry_size == 4)
		v &= 0xffffffffu & ~GENMASK64(20, 13); /* no PSE-36 address bits: stay below 4 GiB */
	if (getenv("SHADOW_TRACE"))
		print_message("  junk entry 0x%" PRIx64 ": 0x%" PRIx64 " -> 0x%" PRIx64 "\n", gpa, g_ref_get(e, gpa), v);
	g_write_entry(e, gpa, v);
	env_load_cr3(e, p->root, true);
	env_access(e, p->gva[k], ACCESS_READ, 0, false, 8, 0, NULL);
}

static void check_all(struct rnd *t)
{
	struct env *e = &t->e;
	uint64_t gvas[NPROC * (NPAGES + 1) + 8];
	unsigned n = 0;
	const struct proc *p = &t->p[t->cur];

	for (unsigned k = 0; k < p->n; k++)
		gvas[n++] = p->gva[k];
	for (unsigned i = 0; i < NPROC; i++)
		gvas[n++] = e->dm_base + t->p[i].leaf[0];
	gvas[n++] = e->dm_base + PT_BASE;
	env_check_subset(e, gvas, n);
	env_check_tables(e);
}

static void run_opts(struct env_opts *o, unsigned nops, uint64_t seed)
{
	struct rnd *t = calloc(1, sizeof(*t));
	enum paging_mode mode = o->mode;
	bool pse = o->pse, unsync = o->unsync;
	uint64_t cap = o->max_pages;
	enum cpu_vendor v = o->vendor;

	assert_non_null(t);
	t->seed = seed;
	t->ia32e = mode == PAGING_4LEVEL || mode == PAGING_5LEVEL;
	t->large = mode != PAGING_32 || pse;
	env_init(&t->e, o);
	setup(t);
	for (unsigned i = 0; i < nops; i++) {
		unsigned r = (unsigned)pick(t, 100), kind;

		if (r < 55) { kind = 0; op_access(t); }
		else if (r < 75) { kind = 1; op_leaf(t); }
		else if (r < 83) { kind = 2; op_pde(t); }
		else if (r < 89) { kind = 3; op_cr3(t); }
		else if (r < 94) { kind = 4; op_ctl(t); }
		else if (r < 97) { kind = 5; env_invlpg(&t->e, random_gva(t, &(bool){ 0 }, &(uint64_t){ 0 })); }
		else if (r < 99) { kind = 6; op_junk(t); }
		else { kind = 7; shadow_zap_all(t->e.s); }
		t->ops[kind]++;
		if (getenv("SHADOW_TRACE"))
			print_message("op %u kind %u cur %u\n", i, kind, t->cur);
		if (i % 32 == 31)
			check_all(t);
	}
	check_all(t);
	struct shadow_stats st;
	shadow_get_stats(t->e.s, &st);
	enum cnt_level l = t->e.level;

	print_message("  %-7s %s%s%s%s cap %3" PRIu64 ": %" PRIu64 " accesses, %" PRIu64 " fixed, %" PRIu64
		      " injected, %" PRIu64 " emulated; unsync %" PRIu64 " sync %" PRIu64 " zaps %" PRIu64
		      " (cap %" PRIu64 ", flood %" PRIu64 "), roots hit/miss %" PRIu64 "/%" PRIu64 "\n",
		      paging_mode_name(mode), cpu_vendor_name(v), pse ? " pse" : "", unsync ? " unsync" : "",
		      o->retry_every ? " L1-port" : "", cap, t->e.ops, t->e.fixed, t->e.injected, t->e.emulated,
		      t->e.cnt.spt_unsync[l], t->e.cnt.spt_sync[l], t->e.cnt.spt_zaps[l], st.cap_zaps, st.flood_zaps,
		      t->e.cnt.spt_root_hits[l], t->e.cnt.spt_root_misses[l]);
	assert_true(t->e.fixed > 0 && t->e.injected > 0);
	if (unsync)
		assert_true(t->e.cnt.spt_unsync[l] > 0);
	if (o->retry_every) { /* nothing counted at L0 */
		assert_int_equal(t->e.cnt.spt_faults[CNT_L0] + t->e.cnt.sw_walks[CNT_L0], 0);
		assert_int_equal(t->e.cnt.pt_alloc[CNT_PT_SHADOW_L0], 0);
		assert_true(t->e.cnt.spt_faults[CNT_L1] > 0);
	}
	if (cap == SHADOW_MIN_PAGES)
		assert_true(st.cap_zaps > 0);
	env_fini(&t->e);
	free(t);
}

static void run(enum paging_mode mode, enum cpu_vendor v, bool pse, bool unsync, uint64_t cap, unsigned n,
		uint64_t seed, bool dm_large)
{
	struct env_opts o = { .mode = mode, .vendor = v, .pse = pse, .nxe = true, .dm_large = dm_large,
			      .unsync = unsync, .max_pages = cap, .root_cache = 2 };

	run_opts(&o, n, seed);
}

static unsigned nops(void)
{
	const char *s = getenv("SHADOW_RANDOM_OPS");

	return s ? (unsigned)strtoul(s, NULL, 0) : 1500;
}

static uint64_t base_seed(void)
{
	const char *s = getenv("SHADOW_RANDOM_SEED");

	return s ? strtoull(s, NULL, 0) : 20261121;
}

static void mode_runs(enum paging_mode mode, bool pse)
{
	uint64_t seed = base_seed() * 16 + (uint64_t)mode * 4 + pse;

	run(mode, CPU_INTEL, pse, false, 0, nops(), seed, false);
	run(mode, CPU_AMD, pse, true, 0, nops(), seed + 1000, true);
	run(mode, CPU_INTEL, pse, false, SHADOW_MIN_PAGES, nops(), seed + 2000, true);
	run(mode, CPU_AMD, pse, true, SHADOW_MIN_PAGES + 8, nops(), seed + 3000, false);
}

static void test_random_32(void **state)
{
	(void)state;
	mode_runs(PAGING_32, false);
	mode_runs(PAGING_32, true);
}

static void test_random_pae(void **state)
{
	(void)state;
	mode_runs(PAGING_PAE, false);
}

static void test_random_4level(void **state)
{
	(void)state;
	mode_runs(PAGING_4LEVEL, false);
}

static void test_random_5level(void **state)
{
	(void)state;
	mode_runs(PAGING_5LEVEL, false);
}

/*
 * The MMU as L1's hypervisor would run it: a level-1 port answering
 * MEM_RETRY every 7th call, counters at L1 (shadow_l1 pages), a guest
 * MAXPHYADDR (36) below the hardware's (40).
 */
static void test_random_l1_port(void **state)
{
	(void)state;
	for (enum paging_mode mode = PAGING_32; mode <= PAGING_5LEVEL; mode++) {
		struct env_opts o = { .mode = mode, .vendor = CPU_INTEL, .pse = true, .nxe = true, .dm_large = true,
				      .unsync = mode & 1, .max_pages = (mode == PAGING_PAE) ? SHADOW_MIN_PAGES : 0,
				      .root_cache = 2, .maxphy = 36, .retry_every = 7 };

		run_opts(&o, nops() / 2, base_seed() * 16 + 9000 + mode);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_4level),
		cmocka_unit_test(test_random_5level),
		cmocka_unit_test(test_random_pae),
		cmocka_unit_test(test_random_32),
		cmocka_unit_test(test_random_l1_port),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
