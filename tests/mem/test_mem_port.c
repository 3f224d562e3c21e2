/*
 * The memory port: the L0 implementation over hostmem + frames, the pmem
 * adapter (with a port that answers "retry"), guestmem (gpa -> slot ->
 * port), and the hardware walker running over all of it. Expected values
 * follow the rules in mem_l0.h, guestmem.h and frames.h (lowest free frame
 * first).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "arch/walk2d.h"
#include "arch/x86.h"
#include "mem/frames.h"
#include "mem/guestmem.h"
#include "mem/hostmem.h"
#include "mem/mem_l0.h"
#include "mem/mem_port.h"
#include "mem/memslot.h"

#define FIRST_HFN 0x100u
#define LIMIT     (UINT64_C(1) << 40)

struct fx {
	struct hostmem *hm;
	struct frames *fr;
	struct mem_l0 *l0;
	struct mem_port *port;
	struct memslots *ms;
	struct guestmem gm;
};

static int setup(void **state)
{
	static struct fx f;

	f.hm = hostmem_create(LIMIT);
	f.fr = frames_create(FIRST_HFN, 1u << 20);
	f.l0 = mem_l0_create(f.hm, f.fr);
	f.port = mem_l0_port(f.l0);
	f.ms = memslots_create(f.fr, 39);
	f.gm = (struct guestmem){ .slots = f.ms, .port = f.port };
	*state = &f;
	return f.hm && f.fr && f.l0 && f.ms ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	memslots_destroy(f->ms);
	mem_l0_destroy(f->l0);
	assert_int_equal(frames_allocated(f->fr), 0);
	/* every frame returned lost its contents */
	assert_int_equal(hostmem_stored_pages(f->hm), 0);
	frames_destroy(f->fr);
	hostmem_destroy(f->hm);
	return 0;
}

static void test_l0_access(void **state)
{
	struct fx *f = *state;
	struct mem_port *p = f->port;
	uint64_t v = 1;

	assert_int_equal(p->level, 0);
	assert_int_equal(mem_port_read(p, 0x5008, 8, &v), MEM_OK);
	assert_int_equal(v, 0);
	assert_int_equal(hostmem_stored_pages(f->hm), 0);
	assert_int_equal(mem_port_write(p, 0x5008, 8, 0), MEM_OK);
	assert_int_equal(hostmem_stored_pages(f->hm), 0); /* zero into an unstored page: nothing stored */
	assert_int_equal(mem_port_write(p, 0x5008, 8, UINT64_C(0x1122334455667788)), MEM_OK);
	assert_int_equal(hostmem_stored_pages(f->hm), 1);
	assert_int_equal(mem_port_write(p, 0x500c, 4, 0xaabbccdd), MEM_OK); /* upper half, little-endian */
	assert_int_equal(mem_port_read(p, 0x5008, 8, &v), MEM_OK);
	assert_int_equal(v, UINT64_C(0xaabbccdd55667788));
	assert_int_equal(mem_port_read(p, 0x5008, 4, &v), MEM_OK);
	assert_int_equal(v, 0x55667788);
	/* bad requests */
	assert_int_equal(mem_port_read(p, 0x5004, 8, &v), MEM_INVALID);
	assert_int_equal(mem_port_read(p, 0x5002, 4, &v), MEM_INVALID);
	assert_int_equal(mem_port_write(p, 0x5008, 2, 0), MEM_INVALID);
	assert_int_equal(mem_port_read(p, LIMIT - 8, 8, &v), MEM_OK);
	assert_int_equal(mem_port_read(p, LIMIT, 8, &v), MEM_OUTSIDE);
	assert_int_equal(mem_port_write(p, LIMIT + 4096, 4, 1), MEM_OUTSIDE);
	/* compare-exchange */
	assert_int_equal(mem_port_cmpxchg(p, 0x5008, 4, 0x55667788, 0x01020304, &v), MEM_OK);
	assert_int_equal(v, 0x55667788);
	assert_int_equal(mem_port_cmpxchg(p, 0x5008, 8, 0, 5, &v), MEM_CHANGED);
	assert_int_equal(v, UINT64_C(0xaabbccdd01020304));
	assert_int_equal(mem_port_cmpxchg(p, 0x9000, 8, 1, 2, &v), MEM_CHANGED);
	assert_int_equal(v, 0);
	assert_int_equal(hostmem_stored_pages(f->hm), 1); /* a failed cmpxchg stores nothing */
	assert_int_equal(mem_port_write(p, 0x5008, 8, 0), MEM_OK);
	assert_int_equal(p->stats.reads, 7);
	assert_int_equal(p->stats.writes, 6);
	assert_int_equal(p->stats.cmpxchgs, 3);
	assert_int_equal(p->stats.cmpxchg_changed, 2);
	assert_int_equal(p->stats.errors, 5);
	assert_int_equal(p->stats.retries, 0);
	assert_string_equal(mem_status_name(MEM_RETRY), "retry");
	hostmem_discard(f->hm, 5); /* host memory outside any frame: the test cleans up */
}

static void test_l0_tables(void **state)
{
	struct fx *f = *state;
	struct mem_port *p = f->port;
	uint64_t a, b, c, v;

	assert_int_equal(mem_port_alloc_table(p, &a), MEM_OK);
	assert_int_equal(a, (uint64_t)FIRST_HFN << 12);
	assert_int_equal(mem_port_alloc_table(p, &b), MEM_OK);
	assert_int_equal(b, (uint64_t)(FIRST_HFN + 1) << 12);
	assert_true(mem_l0_is_table(f->l0, FIRST_HFN));
	assert_int_equal(mem_port_write(p, a + 8, 8, 0xabc), MEM_OK);
	assert_int_equal(mem_port_write(p, b, 8, 0xdef), MEM_OK);
	assert_int_equal(hostmem_stored_pages(f->hm), 2);
	assert_int_equal(p->stats.tables_live, 2);
	assert_int_equal(mem_port_free_table(p, a), MEM_OK);
	assert_int_equal(hostmem_stored_pages(f->hm), 1); /* contents dropped with the frame */
	assert_false(mem_l0_is_table(f->l0, FIRST_HFN));
	assert_int_equal(mem_port_free_table(p, a), MEM_INVALID); /* twice */
	assert_int_equal(mem_port_free_table(p, b + 8), MEM_INVALID);
	assert_int_equal(mem_port_free_table(p, (uint64_t)(FIRST_HFN + 7) << 12), MEM_INVALID);
	/* the lowest free frame again, zeroed */
	assert_int_equal(mem_port_alloc_table(p, &c), MEM_OK);
	assert_int_equal(c, a);
	assert_int_equal(mem_port_read(p, c + 8, 8, &v), MEM_OK);
	assert_int_equal(v, 0);
	/* a data frame (from a slot) is not a table page */
	assert_int_equal(memslots_add(f->ms, &(struct memslot_desc){ .id = 1, .base_gfn = 0, .npages = 16 }),
			 MEMSLOT_OK);
	assert_int_equal(memslots_gfn_to_hfn(f->ms, 3, &v, NULL), MEMSLOT_OK);
	assert_int_equal(v, FIRST_HFN + 2);
	assert_int_equal(mem_port_free_table(p, v << 12), MEM_INVALID);
	assert_int_equal(p->stats.tables_allocated, 3);
	assert_int_equal(p->stats.tables_freed, 1);
	assert_int_equal(p->stats.tables_live, 2);
	assert_int_equal(p->stats.tables_peak, 2);
	/* tables still live at mem_l0_destroy are freed there (teardown checks) */
}

static void test_l0_table_exhaustion(void **state)
{
	struct hostmem *hm = hostmem_create(UINT64_C(1) << 30);
	struct frames *fr = frames_create(16, 2);
	struct mem_l0 *l0 = mem_l0_create(hm, fr);
	struct mem_port *p = mem_l0_port(l0);
	struct frames *beyond = frames_create(UINT64_C(1) << 18, 1); /* the frame at 1 GiB */
	uint64_t a = 0, b = 0, c = 77;

	(void)state;
	assert_null(mem_l0_create(hm, beyond)); /* frames beyond hostmem's limit: refused */
	frames_destroy(beyond);
	assert_int_equal(mem_port_alloc_table(p, &a), MEM_OK);
	assert_int_equal(mem_port_alloc_table(p, &b), MEM_OK);
	assert_int_equal(mem_port_alloc_table(p, &c), MEM_NOMEM);
	assert_int_equal(c, 77);
	assert_int_equal(p->stats.tables_live, 2);
	assert_int_equal(p->stats.errors, 1);
	assert_int_equal(mem_port_free_table(p, b), MEM_OK);
	assert_int_equal(mem_port_alloc_table(p, &c), MEM_OK);
	assert_int_equal(c, b);
	mem_l0_destroy(l0);
	assert_int_equal(frames_allocated(fr), 0);
	frames_destroy(fr);
	hostmem_destroy(hm);
}

/* A port one level up whose accesses trap: answers MEM_RETRY `pending` times first. */
struct trapping {
	struct mem_port *inner;
	unsigned pending;
};

static enum mem_status tr_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
	struct trapping *t = ctx;

	if (t->pending) {
		t->pending--;
		return MEM_RETRY;
	}
	return mem_port_read(t->inner, pa, size, val);
}

static enum mem_status tr_write(void *ctx, uint64_t pa, unsigned size, uint64_t val)
{
	struct trapping *t = ctx;

	return mem_port_write(t->inner, pa, size, val);
}

static enum mem_status tr_cmpxchg(void *ctx, uint64_t pa, unsigned size, uint64_t e, uint64_t d, uint64_t *seen)
{
	struct trapping *t = ctx;

	if (t->pending) {
		t->pending--;
		return MEM_RETRY;
	}
	return mem_port_cmpxchg(t->inner, pa, size, e, d, seen);
}

static enum mem_status tr_alloc(void *ctx, uint64_t *pa)
{
	struct trapping *t = ctx;

	return mem_port_alloc_table(t->inner, pa);
}

static enum mem_status tr_free(void *ctx, uint64_t pa)
{
	struct trapping *t = ctx;

	return mem_port_free_table(t->inner, pa);
}

static const struct mem_port_ops tr_ops = { tr_read, tr_write, tr_cmpxchg, tr_alloc, tr_free };

static void test_pmem_adapter(void **state)
{
	struct fx *f = *state;
	struct trapping t = { .inner = f->port, .pending = 0 };
	struct mem_port up = { .ops = &tr_ops, .ctx = &t, .level = 1, .name = "trapping" };
	struct pmem direct = mem_port_pmem(f->port), pm = mem_port_pmem(&up);
	uint64_t v = 0, table;

	assert_int_equal(mem_port_alloc_table(f->port, &table), MEM_OK);
	assert_int_equal(mem_port_write(f->port, table + 16, 8, 0x42), MEM_OK);
	assert_int_equal(pmem_read(&direct, table + 16, 8, &v), PMEM_OK);
	assert_int_equal(v, 0x42);
	assert_int_equal(pmem_read(&direct, LIMIT, 8, &v), PMEM_OUTSIDE);
	assert_int_equal(pmem_read(&direct, table + 1, 8, &v), PMEM_OUTSIDE); /* invalid -> outside */
	assert_int_equal(pmem_cmpxchg(&direct, table + 16, 8, 0x42, 0x43), PMEM_OK);
	assert_int_equal(pmem_cmpxchg(&direct, table + 16, 8, 0x42, 0x44), PMEM_CHANGED);
	/* retried until it completes */
	t.pending = 5;
	assert_int_equal(pmem_read(&pm, table + 16, 8, &v), PMEM_OK);
	assert_int_equal(v, 0x43);
	assert_int_equal(up.stats.reads, 6);
	assert_int_equal(up.stats.retries, 5);
	t.pending = MEM_PORT_PMEM_RETRIES;
	assert_int_equal(pmem_cmpxchg(&pm, table + 16, 8, 0x43, 0x45), PMEM_OK);
	/* ...but not forever: one more than the bound aborts */
	t.pending = MEM_PORT_PMEM_RETRIES + 1;
	assert_int_equal(pmem_read(&pm, table + 16, 8, &v), PMEM_OUTSIDE);
	assert_int_equal(t.pending, 0);
	assert_int_equal(mem_port_read(f->port, table + 16, 8, &v), MEM_OK);
	assert_int_equal(v, 0x45);
}

static void test_guestmem(void **state)
{
	struct fx *f = *state;
	struct guestmem *gm = &f->gm;
	uint64_t v = 9, hpa_val;

	assert_int_equal(memslots_add(f->ms, &(struct memslot_desc){ .id = 1, .base_gfn = 0x10, .npages = 0x10,
				       .flags = MEMSLOT_F_LOG_DIRTY }), MEMSLOT_OK);
	assert_int_equal(memslots_add(f->ms, &(struct memslot_desc){ .id = 2, .base_gfn = 0x20, .npages = 0x10,
				       .flags = MEMSLOT_F_READONLY }), MEMSLOT_OK);
	assert_int_equal(memslots_add(f->ms, &(struct memslot_desc){ .id = 3, .base_gfn = 0x30, .npages = 0x10,
				       .flags = MEMSLOT_F_MMIO }), MEMSLOT_OK);
	/* reads of untouched memory: zeros, no frame */
	assert_int_equal(guestmem_read(gm, 0x10008, 8, &v), MEM_OK);
	assert_int_equal(v, 0);
	assert_int_equal(guestmem_read(gm, 0x20008, 4, &v), MEM_OK);
	assert_int_equal(frames_allocated(f->fr), 0);
	assert_int_equal(guestmem_read(gm, 0x30008, 8, &v), MEM_MMIO);
	assert_int_equal(guestmem_read(gm, 0x40008, 8, &v), MEM_OUTSIDE);
	assert_int_equal(guestmem_read(gm, 0x10004, 8, &v), MEM_INVALID);
	/* writes: read-only and MMIO refused, nothing allocated */
	assert_int_equal(guestmem_write(gm, 0x20008, 8, 1), MEM_READONLY);
	assert_int_equal(guestmem_write(gm, 0x30008, 8, 1), MEM_MMIO);
	assert_int_equal(guestmem_write(gm, 0x40008, 8, 1), MEM_OUTSIDE);
	assert_int_equal(frames_allocated(f->fr), 0);
	/* a cmpxchg expecting non-zero on an untouched page fails without allocating */
	assert_int_equal(guestmem_cmpxchg(gm, 0x11000, 8, 5, 6, &v), MEM_CHANGED);
	assert_int_equal(v, 0);
	assert_int_equal(frames_allocated(f->fr), 0);
	assert_int_equal(memslots_dirty_count(f->ms, 1), 0);
	/* the first write allocates the lowest free frame and logs the page */
	assert_int_equal(guestmem_write(gm, 0x12010, 8, 0x1234), MEM_OK);
	assert_int_equal(frames_allocated(f->fr), 1);
	assert_int_equal(hostmem_read64(f->hm, ((uint64_t)FIRST_HFN << 12) | 0x10, &hpa_val), 0);
	assert_int_equal(hpa_val, 0x1234);
	assert_int_equal(guestmem_read(gm, 0x12010, 8, &v), MEM_OK);
	assert_int_equal(v, 0x1234);
	assert_int_equal(memslots_dirty_count(f->ms, 1), 1);
	assert_int_equal(guestmem_cmpxchg(gm, 0x11000, 8, 0, 6, &v), MEM_OK);
	assert_int_equal(frames_allocated(f->fr), 2);
	assert_int_equal(memslots_dirty_count(f->ms, 1), 2);
	/* removing the slot returns its frames and drops their contents */
	assert_int_equal(hostmem_stored_pages(f->hm), 2);
	assert_int_equal(memslots_remove(f->ms, 1), MEMSLOT_OK);
	assert_int_equal(hostmem_stored_pages(f->hm), 0);
	assert_int_equal(frames_allocated(f->fr), 0);
}

/*
 * The whole stack: a 4-level guest table written through guestmem, an EPT
 * built through the L0 port (as the TDP MMU will, here by the test), and
 * the hardware's 2D walk reading it all through mem_port_pmem().
 */
#define LA4 ((UINT64_C(1) << 39) | (UINT64_C(2) << 30) | (UINT64_C(3) << 21) | (UINT64_C(4) << 12) | 0x123)

static void ept_map(struct fx *f, uint64_t root, uint64_t gfn)
{
	uint64_t table = root, e, hfn;

	for (unsigned level = 4; level >= 2; level--) {
		uint64_t slot = table + ((gfn >> (9 * (level - 1))) & 511) * 8;

		assert_int_equal(mem_port_read(f->port, slot, 8, &e), MEM_OK);
		if (!e) {
			uint64_t next;
			assert_int_equal(mem_port_alloc_table(f->port, &next), MEM_OK);
			e = next | EPT_R | EPT_W | EPT_X;
			assert_int_equal(mem_port_write(f->port, slot, 8, e), MEM_OK);
		}
		table = e & GENMASK64(51, 12);
	}
	assert_int_equal(memslots_gfn_to_hfn(f->ms, gfn, &hfn, NULL), MEMSLOT_OK);
	assert_int_equal(mem_port_write(f->port, table + (gfn & 511) * 8, 8,
					(hfn << 12) | EPT_R | EPT_W | EPT_X | ((uint64_t)MT_WB << EPT_MT_SHIFT)), MEM_OK);
}

static void test_walker_over_port(void **state)
{
	struct fx *f = *state;
	struct hw_config cfg = { 0 };
	struct xlate_result r;
	struct hw_mmu m;
	uint64_t root, v;

	assert_int_equal(memslots_add(f->ms, &(struct memslot_desc){ .id = 1, .base_gfn = 0, .npages = 0x1000 }),
			 MEMSLOT_OK);
	assert_int_equal(mem_port_alloc_table(f->port, &root), MEM_OK); /* FIRST_HFN */
	/* guest tables at gpa 0x1000..0x4000 (gfns 1..4 -> FIRST_HFN + 1..4), data at 0x9000 */
	for (unsigned l = 4; l >= 1; l--) {
		uint64_t table = (uint64_t)(5 - l) * 0x1000;
		uint64_t next = l == 1 ? 0x9000 : table + 0x1000;
		unsigned idx = (unsigned)((LA4 >> (12 + 9 * (l - 1))) & 511);
		assert_int_equal(guestmem_write(&f->gm, table + idx * 8, 8, next | PTE_P | PTE_RW | PTE_US), MEM_OK);
	}
	/* EPT: PDPT, PD, PT tables are FIRST_HFN + 5..7; the data page is touched last: + 8 */
	for (uint64_t gfn = 1; gfn <= 4; gfn++)
		ept_map(f, root, gfn);
	ept_map(f, root, 9);
	assert_int_equal(memslots_gfn_peek(f->ms, 9, &v, NULL), MEMSLOT_OK);
	assert_int_equal(v, FIRST_HFN + 8);

	cfg.cpu.vendor = CPU_INTEL;
	cfg.cpu.maxphyaddr = 46;
	cfg.cpu.regs.cr0 = CR0_PE | CR0_PG | CR0_WP;
	cfg.cpu.regs.cr4 = CR4_PAE;
	cfg.cpu.regs.efer = EFER_LME | EFER_LMA | EFER_NXE;
	cfg.cpu.regs.cr3 = 0x1000;
	cfg.cpu.regs.cpl = 3;
	cfg.cpu.regs.rflags = 2;
	cfg.nested = NESTED_EPT;
	cfg.eptp = root | MT_WB | (UINT64_C(3) << EPTP_WALK_SHIFT);
	cfg.ept_caps = (struct ept_caps){ .xonly = true, .walk5 = true, .ad = true, .gb1 = true };
	cfg.mem = mem_port_pmem(f->port);
	assert_null(hw_config_invalid(&cfg));
	assert_true(hw_mmu_init(&m, &cfg, &r));
	hw_translate(&m, LA4, ACCESS_WRITE, false, &r, NULL);
	assert_int_equal(r.outcome, XO_OK);
	assert_int_equal(r.gpa, 0x9123);
	assert_int_equal(r.hpa, ((uint64_t)(FIRST_HFN + 8) << 12) | 0x123);
	assert_int_equal(r.refs, 24);
	/* the walker's A/D updates went through the port into guest memory */
	assert_int_equal(guestmem_read(&f->gm, 0x4000 + 4 * 8, 8, &v), MEM_OK);
	assert_int_equal(v, 0x9000 | PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D);
	assert_int_equal(guestmem_read(&f->gm, 0x1000 + 1 * 8, 8, &v), MEM_OK);
	assert_true(v & PTE_A);
	assert_true(f->port->stats.reads > 24);
	/* guestmem_pmem: the guest's own tables read by gpa */
	{
		struct pmem gp = guestmem_pmem(&f->gm);
		assert_int_equal(pmem_read(&gp, 0x3000 + 3 * 8, 8, &v), PMEM_OK);
		assert_int_equal(v & ~(PTE_A | PTE_D), 0x4000 | PTE_P | PTE_RW | PTE_US);
		assert_int_equal(pmem_read(&gp, UINT64_C(0x1000) << 12, 8, &v), PMEM_OUTSIDE);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_l0_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_l0_tables, setup, teardown),
		cmocka_unit_test(test_l0_table_exhaustion),
		cmocka_unit_test_setup_teardown(test_pmem_adapter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guestmem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walker_over_port, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
