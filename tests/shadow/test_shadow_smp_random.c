/*
 * Randomized runs of an SMP guest on the shadow MMU: three vCPUs switching
 * between three address spaces (two of them share a page table), in every
 * paging mode, with unsync on and off and with a tight cap. Each operation
 * runs on a random vCPU (accesses, PTE/PDE rewrites, aging, junk entries,
 * INVLPG, MOV CR3, CR0/CR4/EFER/AC/PKRU changes, zap all) and is checked by
 * the harness against the hardware walker over the guest's own tables with
 * that vCPU's registers.
 *
 * The TLB rule is checked on every vCPU after every operation: a model TLB
 * per vCPU holds what the hardware walk of the shadow tables granted it
 * since its last flush (translations of a sample of addresses at CPL 0 and
 * 3, for reads, writes and fetches, gathered when it runs). If the shadow
 * tables now grant it less for one of them (refused, or another frame)
 * while its flush is not pending, the stale TLB entry would be used: the
 * test fails. A vCPU flushes (clears its flag) when it next runs. Its own
 * MOV CR3 and control-register changes empty its model TLB (the vCPU
 * flushes for those itself).
 *
 * The guest behaves as the architecture requires on SMP: a rewritten PTE
 * is invalidated on every vCPU (a shootdown: INVLPG on each) before the
 * next access when unsync is on; junk entries are followed by a flushing
 * MOV CR3 on every vCPU.
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

#define NV     3
#define NPROC  3
#define NPAGES 16       /* 4 KiB user pages per process, over 2 page tables */
#define NDATA  48
#define UBASE  UINT64_C(0x40000000)
#define LBASE  UINT64_C(0x60000000)
#define LDATA  (DATA_BASE + UINT64_C(0x04000000))
#define NSAMPLE (NPAGES + 4)

struct proc {
	uint64_t root;
	uint64_t gva[NPAGES + 1];
	uint64_t leaf[NPAGES + 1];
	uint64_t pde[NPAGES + 1];
	unsigned n;
};

/* A vCPU's model TLB: what the shadow tables granted it since its last flush. */
struct tlb_model {
	bool valid;
	unsigned n;
	uint64_t gva[NSAMPLE];
	bool ok[NSAMPLE][2][3];
	uint64_t hpa[NSAMPLE][2][3];
};

struct rnd {
	struct env e;
	struct proc p[NPROC];
	unsigned cur[NV];      /* process on each vCPU */
	struct tlb_model tlb[NV];
	uint64_t seed;
	bool ia32e, large;
	uint64_t ops[10], stale_checks;
};

static const enum access_type types[3] = { ACCESS_READ, ACCESS_WRITE, ACCESS_FETCH };

static uint64_t pick(struct rnd *t, uint64_t n)
{
	return rng_below(&t->seed, n);
}

static uint64_t large_size(const struct rnd *t)
{
	return t->e.o.mode == PAGING_32 ? PAGE_SIZE_4M : PAGE_SIZE_2M;
}

static uint64_t page_gva(const struct rnd *t, unsigned k)
{
	/* two page tables: 0..7 and 8..15 (a 32-bit PT covers both halves of 4 MiB) */
	return UBASE + (uint64_t)(k / 8) * large_size(t) * 2 + (k % 8) * PAGE_SIZE_4K * 3;
}

static void reload_all(struct rnd *t)
{
	struct env *e = &t->e;

	for (unsigned v = 0; v < NV; v++) {
		env_select_vcpu(e, v);
		env_load_cr3(e, t->p[t->cur[v]].root, true);
	}
}

static void setup(struct rnd *t)
{
	struct env *e = &t->e;

	for (unsigned i = 0; i < NPROC; i++) {
		struct proc *p = &t->p[i];

		p->root = i == 0 ? e->kroot : g_new_root(e);
		for (unsigned k = 0; k < NPAGES; k++) {
			uint64_t fl = PTE_P | PTE_US | ((k & 1) ? PTE_RW : 0);

			p->gva[k] = page_gva(t, k);
			p->leaf[k] = g_map(e, p->root, p->gva[k], DATA_BASE + pick(t, NDATA) * PAGE_SIZE_4K, 1, fl,
					   PTE_P | PTE_RW | PTE_US, false);
			p->pde[k] = g_entry_gpa(e, p->root, p->gva[k], 2);
		}
		p->n = NPAGES;
		if (t->large) {
			p->gva[NPAGES] = LBASE + i * large_size(t);
			p->leaf[NPAGES] = g_map(e, p->root, p->gva[NPAGES], LDATA + i * large_size(t), 2,
						PTE_P | PTE_RW | PTE_US, PTE_P | PTE_RW | PTE_US, false);
			p->pde[NPAGES] = p->leaf[NPAGES];
			p->n = NPAGES + 1;
		}
	}
	/* process 1 uses process 0's first page table, pages 0..7 (its PDE copied) */
	g_boot_put(e, t->p[1].pde[0], g_ref_get(e, t->p[0].pde[0]));
	for (unsigned k = 0; k < 8; k++)
		t->p[1].leaf[k] = t->p[0].leaf[k];
	t->cur[0] = 0;
	t->cur[1] = 1;
	t->cur[2] = 0; /* the same CR3 as vCPU 0 */
	reload_all(t);
}

/* ---- the model TLB ---- */

static void tlb_sample(struct rnd *t, unsigned v, struct tlb_model *m)
{
	struct env *e = &t->e;
	const struct proc *p = &t->p[t->cur[v]];
	struct hw_mmu hw;

	env_hw_mmu(e, &hw);
	m->n = 0;
	for (unsigned k = 0; k < p->n; k++)
		m->gva[m->n++] = p->gva[k];
	m->gva[m->n++] = e->dm_base + p->leaf[0];
	m->gva[m->n++] = e->dm_base + p->pde[NPAGES - 1];
	m->gva[m->n++] = e->dm_base + PT_BASE;
	for (unsigned i = 0; i < m->n; i++) {
		for (unsigned c = 0; c < 2; c++) {
			for (unsigned k = 0; k < 3; k++) {
				struct xlate_result r;

				hw.cfg.cpu.regs.cpl = c ? 3 : 0;
				hw_translate(&hw, m->gva[i], types[k], false, &r, NULL);
				m->ok[i][c][k] = r.outcome == XO_OK;
				m->hpa[i][c][k] = r.outcome == XO_OK ? r.hpa : 0;
			}
		}
	}
}

/* vCPU v runs: it flushes if asked to, then its model TLB gathers what it sees. */
static void vcpu_enter(struct rnd *t, unsigned v)
{
	struct env *e = &t->e;
	struct tlb_model now;

	env_select_vcpu(e, v);
	if (shadow_tlb_flush_pending(e->s, true))
		t->tlb[v].valid = false;
	tlb_sample(t, v, &now);
	if (!t->tlb[v].valid) {
		t->tlb[v] = now;
		t->tlb[v].valid = true;
		return;
	}
	/* the same sample (the process only changes with MOV CR3, which empties it): merge */
	for (unsigned i = 0; i < now.n; i++)
		for (unsigned c = 0; c < 2; c++)
			for (unsigned k = 0; k < 3; k++)
				if (!t->tlb[v].ok[i][c][k] && now.ok[i][c][k]) {
					t->tlb[v].ok[i][c][k] = true;
					t->tlb[v].hpa[i][c][k] = now.hpa[i][c][k];
				}
}

/* After an operation: no vCPU may hold a stale translation without a pending flush. */
static void tlb_check(struct rnd *t, unsigned actor)
{
	struct env *e = &t->e;

	for (unsigned v = 0; v < NV; v++) {
		struct tlb_model *m = &t->tlb[v];
		struct tlb_model now;

		env_select_vcpu(e, v);
		if (!m->valid || shadow_tlb_flush_pending(e->s, false))
			continue;
		tlb_sample(t, v, &now);
		t->stale_checks++;
		for (unsigned i = 0; i < m->n; i++)
			for (unsigned c = 0; c < 2; c++)
				for (unsigned k = 0; k < 3; k++)
					if (m->ok[i][c][k] && (!now.ok[i][c][k] || now.hpa[i][c][k] != m->hpa[i][c][k]))
						fail_msg("vCPU %u (after an operation on vCPU %u): gva 0x%" PRIx64
							 " type %u cpl %u lost its translation 0x%" PRIx64
							 " without a pending flush", v, actor, m->gva[i], k, c ? 3 : 0,
							 m->hpa[i][c][k]);
	}
	env_select_vcpu(e, actor);
}

/* ---- operations (on the selected vCPU) ---- */

static unsigned me(const struct rnd *t)
{
	return t->e.vcpu;
}

static uint64_t random_gva(struct rnd *t)
{
	const struct proc *p = &t->p[t->cur[me(t)]];
	unsigned r = (unsigned)pick(t, 100);

	if (r < 80) {
		unsigned k = (unsigned)pick(t, p->n);

		return k == NPAGES ? p->gva[k] + PAGE_SIZE_4K * pick(t, 512) : p->gva[k] + pick(t, 512) * 8;
	}
	if (r < 92)
		return UBASE + PAGE_SIZE_4K * pick(t, 4096);
	return t->e.dm_base + PT_BASE + pick(t, 4096) * 8;
}

static void op_access(struct rnd *t)
{
	struct env *e = &t->e;
	uint64_t gva = random_gva(t);
	enum access_type ty = types[pick(t, 3)];
	unsigned cpl = pick(t, 2) ? 3 : 0, es = e->fmt.entry_size;
	bool implicit = pick(t, 20) == 0;

	if (gva >= e->dm_base && gva < e->dm_base + DM_SIZE && ty == ACCESS_WRITE) {
		/* a write into a page table stores what is there (no change of meaning) */
		uint64_t gpa = (gva - e->dm_base) & ~(uint64_t)(es - 1);

		env_access(e, e->dm_base + gpa, ACCESS_WRITE, cpl, implicit, es, g_ref_get(e, gpa), NULL);
		return;
	}
	env_access(e, gva, ty, cpl, implicit, 8, 0, NULL);
}

/* The guest's shootdown after changing a translation: INVLPG on every vCPU. */
static void shootdown(struct rnd *t, uint64_t gva)
{
	unsigned was = me(t);

	for (unsigned v = 0; v < NV; v++) {
		env_select_vcpu(&t->e, v);
		env_invlpg(&t->e, gva);
	}
	env_select_vcpu(&t->e, was);
}

static uint64_t mutate_leaf(struct rnd *t, uint64_t v, bool large)
{
	switch (pick(t, 8)) {
	case 0:
		if (large)
			return (v & ~(large_size(t) - 1) & ~UINT64_C(0xffffffff00000000)) |
			       (LDATA + pick(t, NPROC) * large_size(t)) | (v & 0xfff);
		return (v & 0xfff) | (v & PTE_XD) | (DATA_BASE + pick(t, NDATA) * PAGE_SIZE_4K);
	case 1: return v ^ PTE_RW;
	case 2: return v ^ PTE_US;
	case 3: return t->e.fmt.nx ? v ^ PTE_XD : v ^ PTE_RW;
	case 4: return v & ~(PTE_A | PTE_D);
	case 5: return v ^ PTE_P;
	case 6: return t->ia32e ? (v & ~PTE_PKEY_MASK) | (pick(t, 16) << PTE_PKEY_SHIFT) : v ^ PTE_D;
	default: return v | PTE_A | PTE_D;
	}
}

static void op_leaf(struct rnd *t)
{
	struct env *e = &t->e;
	const struct proc *p = &t->p[t->cur[me(t)]];
	unsigned k = (unsigned)pick(t, p->n);
	uint64_t v = g_ref_get(e, p->leaf[k]);

	g_write_entry(e, p->leaf[k], mutate_leaf(t, v, k == NPAGES));
	if (e->o.unsync || pick(t, 2))
		shootdown(t, p->gva[k]);
	env_access(e, p->gva[k], types[pick(t, 3)], pick(t, 2) ? 3 : 0, false, 8, 0, NULL);
}

static void op_pde(struct rnd *t)
{
	struct env *e = &t->e;
	const struct proc *p = &t->p[t->cur[me(t)]];
	unsigned k = (unsigned)pick(t, NPAGES);
	uint64_t v = g_ref_get(e, p->pde[k]), nv;

	switch (pick(t, 4)) {
	case 0: nv = v ^ PTE_RW; break;
	case 1: nv = v ^ PTE_US; break;
	case 2: nv = v & ~PTE_A; break;
	default: nv = v ^ PTE_P; break;
	}
	g_write_entry(e, p->pde[k], nv);
	env_access(e, p->gva[k], types[pick(t, 3)], 3, false, 8, 0, NULL);
	if (pick(t, 2)) {
		g_write_entry(e, p->pde[k], v);
		env_access(e, p->gva[k], ACCESS_READ, 3, false, 8, 0, NULL);
	}
}

/* Returns true: the vCPU flushes its own TLB (model emptied). */
static bool op_cr3(struct rnd *t)
{
	t->cur[me(t)] = (unsigned)pick(t, NPROC);
	env_load_cr3(&t->e, t->p[t->cur[me(t)]].root, pick(t, 5) != 0);
	return true;
}

static bool op_ctl(struct rnd *t)
{
	struct env *e = &t->e;
	uint64_t cr0 = e->cpu.regs.cr0, cr4 = e->cpu.regs.cr4, efer = e->cpu.regs.efer;

	switch (pick(t, 7)) {
	case 0: cr0 ^= CR0_WP; break;
	case 1: cr4 ^= CR4_SMEP; break;
	case 2: cr4 ^= CR4_SMAP; break;
	case 3: if (t->ia32e) cr4 ^= CR4_PKE; break;
	case 4: e->cpu.regs.rflags ^= RFLAGS_AC; break;
	case 5: e->cpu.regs.pkru = (uint32_t)rng_next(&t->seed) & 0x3c; break;
	default:
		if (e->o.mode != PAGING_32)
			efer ^= EFER_NXE;
		break;
	}
	if (cr0 != e->cpu.regs.cr0 || cr4 != e->cpu.regs.cr4 || efer != e->cpu.regs.efer)
		env_set_ctl(e, cr0, cr4, efer);
	return true; /* the registers the model TLB was gathered with changed */
}

static void op_junk(struct rnd *t)
{
	struct env *e = &t->e;
	const struct proc *p = &t->p[t->cur[me(t)]];
	unsigned k = (unsigned)pick(t, p->n), was = me(t);
	uint64_t gpa = pick(t, 2) ? p->leaf[k] : p->pde[k];
	uint64_t v = rng_next(&t->seed) & (UINT64_C(0x8000000000000fff) | (UINT64_C(0xfffff) << 12));

	if (e->fmt.entry_size == 4)
		v &= 0xffffffffu & ~GENMASK64(20, 13);
	g_write_entry(e, gpa, v);
	for (unsigned w = 0; w < NV; w++) { /* a flushing MOV CR3 on every vCPU */
		env_select_vcpu(e, w);
		env_load_cr3(e, t->p[t->cur[w]].root, true);
		t->tlb[w].valid = false;
	}
	env_select_vcpu(e, was);
	env_access(e, p->gva[k], ACCESS_READ, 0, false, 8, 0, NULL);
}

static void check_all(struct rnd *t)
{
	struct env *e = &t->e;

	for (unsigned v = 0; v < NV; v++) {
		const struct proc *p = &t->p[t->cur[v]];
		uint64_t gvas[NPAGES + 4];
		unsigned n = 0;

		env_select_vcpu(e, v);
		for (unsigned k = 0; k < p->n; k++)
			gvas[n++] = p->gva[k];
		gvas[n++] = e->dm_base + p->leaf[0];
		gvas[n++] = e->dm_base + PT_BASE;
		env_check_subset(e, gvas, n);
	}
	env_check_tables(e);
}

static void run(enum paging_mode mode, enum cpu_vendor vendor, bool pse, bool unsync, uint64_t cap, unsigned nops,
		uint64_t seed)
{
	struct rnd *t = calloc(1, sizeof(*t));
	struct env_opts o = { .mode = mode, .vendor = vendor, .pse = pse, .nxe = true, .dm_large = true,
			      .unsync = unsync, .max_pages = cap, .root_cache = 2, .nvcpus = NV };
	struct shadow_stats st;
	const char *why;

	assert_non_null(t);
	t->seed = seed;
	t->ia32e = mode == PAGING_4LEVEL || mode == PAGING_5LEVEL;
	t->large = mode != PAGING_32 || pse;
	env_init(&t->e, &o);
	setup(t);
	for (unsigned i = 0; i < nops; i++) {
		unsigned v = (unsigned)pick(t, NV), r = (unsigned)pick(t, 100), kind;
		bool own_flush = false;

		vcpu_enter(t, v);
		if (r < 55) { kind = 0; op_access(t); }
		else if (r < 73) { kind = 1; op_leaf(t); }
		else if (r < 80) { kind = 2; op_pde(t); }
		else if (r < 87) { kind = 3; own_flush = op_cr3(t); }
		else if (r < 93) { kind = 4; own_flush = op_ctl(t); }
		else if (r < 97) { kind = 5; env_invlpg(&t->e, random_gva(t)); }
		else if (r < 99) { kind = 6; op_junk(t); }
		else { kind = 7; shadow_zap_all(t->e.s); }
		t->ops[kind]++;
		if (getenv("SHADOW_TRACE"))
			print_message("op %u kind %u vcpu %u process %u\n", i, kind, v, t->cur[v]);
		if (own_flush)
			t->tlb[v].valid = false;
		tlb_check(t, v);
		if ((why = shadow_check(t->e.s)))
			fail_msg("op %u: shadow_check: %s", i, why);
		if (i % 32 == 31)
			check_all(t);
	}
	check_all(t);
	shadow_get_stats(t->e.s, &st);
	print_message("  %-7s %s%s%s cap %3" PRIu64 ": %" PRIu64 " accesses, %" PRIu64 " fixed, %" PRIu64
		      " injected, %" PRIu64 " emulated; %" PRIu64 " TLB checks, %" PRIu64 " remote flushes, %" PRIu64
		      " roots taken, %" PRIu64 " cap zaps\n",
		      paging_mode_name(mode), cpu_vendor_name(vendor), pse ? " pse" : "", unsync ? " unsync" : "", cap,
		      t->e.ops, t->e.fixed, t->e.injected, t->e.emulated, t->stale_checks, st.remote_flushes,
		      st.roots_taken, st.cap_zaps);
	assert_true(t->e.fixed > 0 && t->e.injected > 0 && t->stale_checks > 0 && st.remote_flushes > 0);
	if (cap)
		assert_true(st.cap_zaps > 0 && st.pages_peak <= cap);
	env_fini(&t->e);
	free(t);
}

static unsigned nops(void)
{
	const char *s = getenv("SHADOW_RANDOM_OPS");

	return s ? (unsigned)strtoul(s, NULL, 0) : 400;
}

static uint64_t base_seed(void)
{
	const char *s = getenv("SHADOW_RANDOM_SEED");

	return s ? strtoull(s, NULL, 0) : 20261207;
}

static void mode_runs(enum paging_mode mode, bool pse)
{
	uint64_t seed = base_seed() * 16 + (uint64_t)mode * 4 + pse;

	run(mode, CPU_INTEL, pse, false, 0, nops(), seed);
	run(mode, CPU_AMD, pse, true, 0, nops(), seed + 1000);
	run(mode, CPU_INTEL, pse, true, SHADOW_MIN_PAGES, nops(), seed + 2000);
}

static void test_smp_random_32(void **state)
{
	(void)state;
	mode_runs(PAGING_32, false);
	mode_runs(PAGING_32, true);
}

static void test_smp_random_pae(void **state)
{
	(void)state;
	mode_runs(PAGING_PAE, false);
}

static void test_smp_random_4level(void **state)
{
	(void)state;
	mode_runs(PAGING_4LEVEL, false);
}

static void test_smp_random_5level(void **state)
{
	(void)state;
	mode_runs(PAGING_5LEVEL, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smp_random_4level),
		cmocka_unit_test(test_smp_random_5level),
		cmocka_unit_test(test_smp_random_pae),
		cmocka_unit_test(test_smp_random_32),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
