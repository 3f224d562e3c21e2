/*
 * Directed tests of nested TDP: write tracking of EPT12 pages (tracked in
 * EPT01 while reachable, untracked once disconnected), a read-only L1 slot,
 * an EPT12 page mapped into L2 (W withheld, stores emulated), the root
 * cache (LRU) among EPTP12 values, INVEPT scope. Each outcome is also
 * checked against the hardware layer over EPT12 (nfx_compare).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86.h"
#include "nfx.h"

#define RWX (RIGHT_R | RIGHT_W | RIGHT_X)

/*
 * EPT12 at gfn1 0x100.. : PML4 0x100 -> PDPT 0x101 -> PD 0x102 -> PT 0x103;
 * PT[i] maps gpa2 page i to gpa1 `target + i` with `rights`.
 */
static void build(struct nfx *x, uint64_t root_gfn, uint64_t target, unsigned rights)
{
	nfx_w64(x, root_gfn << 12, nfx_table_entry(x, (root_gfn + 1) << 12));
	nfx_w64(x, (root_gfn + 1) << 12, nfx_table_entry(x, (root_gfn + 2) << 12));
	nfx_w64(x, (root_gfn + 2) << 12, nfx_table_entry(x, (root_gfn + 3) << 12));
	for (unsigned i = 0; i < 16; i++)
		nfx_w64(x, ((root_gfn + 3) << 12) + 8 * i, nfx_leaf_entry(x, (target + i) << 12, 1, rights));
}

static void both(struct nfx *x, uint64_t gpa2, enum access_type t, struct nfx_result *ours)
{
	struct xlate_result ref;

	nfx_run_02(x, gpa2, t, false, ours);
	nfx_run_12(x, gpa2, t, false, &ref);
	nfx_compare(x, ours, &ref, "directed");
}

static const struct nfx_opts kinds[3] = {
	{ .kind = TDP_EPT, .ad = true }, { .kind = TDP_EPT, .ad = false }, { .kind = TDP_NPT },
};

static void test_tracking(void **state)
{
	(void)state;
	for (unsigned k = 0; k < 3; k++) {
		struct nfx x;
		struct nfx_result r;
		struct tdp_mapping m;

		nfx_init(&x, &kinds[k]);
		build(&x, 0x100, 0x1000, RWX);
		nfx_load(&x, 0x100 << 12);
		assert_false(ntdp_is_table(x.n, 0x100)); /* nothing walked yet */
		both(&x, 0x3000, ACCESS_WRITE, &r);
		assert_int_equal(r.x.outcome, XO_OK);
		for (uint64_t g = 0x100; g <= 0x103; g++) {
			assert_true(ntdp_is_table(x.n, g));
			assert_int_equal(tdp_track_count(x.ept01, g), 1);
		}
		assert_int_equal(x.tracked_calls, 4);
		assert_true(tdp_lookup(ntdp_current_tdp(x.n), 3, &m));
		assert_true(m.rights & RIGHT_W);
		/* L1 removes W from PT[3]: EPT02 follows at once */
		assert_int_equal(ntdp_ept12_write(x.n, (0x103 << 12) + 24,
						  8, nfx_leaf_entry(&x, 0x1003 << 12, 1, RIGHT_R | RIGHT_X)), NTDP_OK);
		assert_false(tdp_lookup(ntdp_current_tdp(x.n), 3, NULL));
		both(&x, 0x3000, ACCESS_WRITE, &r);
		assert_int_equal(r.x.outcome, kinds[k].kind == TDP_EPT ? XO_EPT_VIOLATION : XO_NPF);
		/* L1 disconnects the PD: PD and PT are no longer used, untracked */
		assert_int_equal(ntdp_ept12_write(x.n, 0x101 << 12, 8, 0), NTDP_OK);
		assert_false(ntdp_is_table(x.n, 0x102));
		assert_false(ntdp_is_table(x.n, 0x103));
		assert_int_equal(tdp_track_count(x.ept01, 0x103), 0);
		assert_true(ntdp_is_table(x.n, 0x101));
		both(&x, 0x3000, ACCESS_READ, &r);
		/* a store to a page that is no table changes nothing but memory */
		assert_int_equal(ntdp_ept12_write(x.n, 0x103 << 12, 8, 0), NTDP_OK);
		assert_int_equal(nfx_r64(&x, 0x103 << 12), 0);
		nfx_fini(&x);
	}
}

static void test_readonly_slot(void **state)
{
	(void)state;
	for (unsigned k = 0; k < 3; k++) {
		struct nfx x;
		struct nfx_result r;
		struct tdp_mapping m;

		nfx_init(&x, &kinds[k]);
		build(&x, 0x100, NFX_RO_GFN, RWX);
		nfx_load(&x, 0x100 << 12);
		both(&x, 0x5008, ACCESS_READ, &r);
		assert_int_equal(r.x.outcome, XO_OK);
		assert_true(tdp_lookup(ntdp_current_tdp(x.n), 5, &m));
		assert_false(m.rights & RIGHT_W); /* EPT12 grants W, L0 does not */
		both(&x, 0x5008, ACCESS_WRITE, &r);
		assert_true(r.emulated);
		assert_int_equal(r.emulate_gpa, ((NFX_RO_GFN + 5) << 12) | 8);
		/* MMIO: emulated, nothing installed */
		build(&x, 0x100, NFX_MMIO_GFN, RWX);
		assert_int_equal(ntdp_ept12_write(x.n, (0x103 << 12) + 8 * 6, 8,
						  nfx_leaf_entry(&x, NFX_MMIO_GFN << 12, 1, RWX)), NTDP_OK);
		both(&x, 0x6000, ACCESS_READ, &r);
		assert_true(r.emulated);
		assert_false(tdp_lookup(ntdp_current_tdp(x.n), 6, NULL));
		nfx_fini(&x);
	}
}

/* An EPT12 page that L2 maps: never writable in EPT02; stores emulated. */
static void test_table_aliased_by_l2(void **state)
{
	(void)state;
	for (unsigned k = 0; k < 3; k++) {
		struct nfx x;
		struct nfx_result r;
		struct tdp_mapping m;

		nfx_init(&x, &kinds[k]);
		build(&x, 0x100, 0x1000, RWX);
		/* gpa2 page 8 -> gpa1 0x200, a data page for now */
		assert_int_equal(guestmem_write(&x.gm, (0x103 << 12) + 64, 8,
						nfx_leaf_entry(&x, 0x200 << 12, 1, RWX)), MEM_OK);
		nfx_load(&x, 0x100 << 12);
		both(&x, 0x8000, ACCESS_WRITE, &r);
		assert_int_equal(r.x.outcome, XO_OK);
		assert_true(tdp_lookup(ntdp_current_tdp(x.n), 8, &m));
		assert_true(m.rights & RIGHT_W);
		/* L1 makes page 0x200 an EPT12 table: PD[1] -> 0x200 (gpa2 2M..4M) */
		nfx_w64(&x, 0x200 << 12, nfx_leaf_entry(&x, 0x3000 << 12, 1, RWX));
		assert_int_equal(ntdp_ept12_write(x.n, (0x102 << 12) + 8, 8, nfx_table_entry(&x, 0x200 << 12)),
				 NTDP_OK);
		both(&x, 0x200000, ACCESS_READ, &r);
		assert_int_equal(r.x.outcome, XO_OK);
		assert_true(ntdp_is_table(x.n, 0x200));
		/* L2's writable mapping of it is gone; a write is emulated */
		if (tdp_lookup(ntdp_current_tdp(x.n), 8, &m))
			assert_false(m.rights & RIGHT_W);
		both(&x, 0x8000, ACCESS_WRITE, &r);
		assert_true(r.emulated);
		assert_int_equal(r.emulate_gpa, 0x200 << 12);
		assert_int_equal(x.n ? ntdp_get_stats(x.n)->data_zaps : 0, 1);
		nfx_fini(&x);
	}
}

static void test_root_cache_and_invept(void **state)
{
	struct nfx_opts o = { .kind = TDP_EPT, .ad = true, .roots = 2 };
	struct nfx x;
	struct nfx_result r;
	uint64_t a02, b02, out[NTDP_MAX_ROOTS];
	uint64_t ea, eb, ec;

	(void)state;
	nfx_init(&x, &o);
	build(&x, 0x100, 0x1000, RWX);
	build(&x, 0x110, 0x2000, RWX);
	build(&x, 0x120, 0x3000, RWX);
	ea = nfx_eptp12(&x, 0x100 << 12);
	eb = nfx_eptp12(&x, 0x110 << 12);
	ec = nfx_eptp12(&x, 0x120 << 12);
	nfx_load(&x, 0x100 << 12);
	a02 = ntdp_root02(x.n);
	both(&x, 0x1000, ACCESS_READ, &r);
	nfx_load(&x, 0x110 << 12);
	b02 = ntdp_root02(x.n);
	assert_int_not_equal(a02, b02);
	both(&x, 0x1000, ACCESS_READ, &r);
	/* back to A: the same EPT02, still filled (no fault) */
	nfx_load(&x, 0x100 << 12);
	assert_int_equal(ntdp_root02(x.n), a02);
	nfx_run_02(&x, 0x1000, ACCESS_READ, false, &r);
	assert_int_equal(r.faults, 0);
	assert_int_equal(ntdp_get_stats(x.n)->root_hits, 1);
	/* INVEPT scope */
	assert_int_equal(ntdp_invept(x.n, NTDP_INVEPT_SINGLE, ea, out, NTDP_MAX_ROOTS), 1);
	assert_int_equal(out[0], a02);
	assert_int_equal(ntdp_invept(x.n, NTDP_INVEPT_SINGLE, eb, out, NTDP_MAX_ROOTS), 1);
	assert_int_equal(out[0], b02);
	assert_int_equal(ntdp_invept(x.n, NTDP_INVEPT_SINGLE, ec, out, NTDP_MAX_ROOTS), 0);
	assert_int_equal(ntdp_invept(x.n, NTDP_INVEPT_GLOBAL, 0, out, NTDP_MAX_ROOTS), 2);
	/* C evicts the least recently used (B); its tables are forgotten */
	(void)ntdp_flush_take(x.n, out, NTDP_MAX_ROOTS);
	nfx_load(&x, 0x120 << 12);
	assert_int_equal(ntdp_get_stats(x.n)->roots_evicted, 1);
	assert_false(ntdp_is_table(x.n, 0x113));
	assert_true(ntdp_is_table(x.n, 0x103));
	assert_int_equal(ntdp_invept(x.n, NTDP_INVEPT_SINGLE, eb, out, NTDP_MAX_ROOTS), 0);
	/* a new root owes a flush */
	assert_int_equal(ntdp_flush_take(x.n, out, NTDP_MAX_ROOTS), 1);
	assert_int_equal(out[0], ntdp_root02(x.n));
	assert_int_equal(ntdp_flush_take(x.n, out, NTDP_MAX_ROOTS), 0);
	/* a store to A's EPT12 zaps A's EPT02 (not current): A owes a flush */
	assert_int_equal(ntdp_ept12_write(x.n, (0x103 << 12) + 8, 8, 0), NTDP_OK);
	assert_int_equal(ntdp_flush_take(x.n, out, NTDP_MAX_ROOTS), 1);
	assert_int_equal(out[0], a02);
	/* an EPTP12 the hardware refuses */
	{
		struct ntdp_root12 bad = { .eptp12 = (0x100 << 12) | 2 | (3u << EPTP_WALK_SHIFT) };
		struct xlate_result fail;

		assert_int_equal(ntdp_load_root(x.n, &bad, &fail), NTDP_EINVAL);
		assert_int_equal(fail.outcome, XO_VMENTRY_FAIL);
	}
	nfx_fini(&x);
}

/*
 * The isolation checker (ntdp_check) holds on what the component builds and
 * catches each way an EPT02 leaf can leave the composition of EPT12 and
 * L1's memory: rights EPT12 does not grant, another frame, a gpa2 EPT12
 * does not map, an EPT12 page L1 could write without L0 seeing it.
 */
static void test_check_catches(void **state)
{
	char msg[256];

	(void)state;
	for (unsigned k = 0; k < 3; k++) {
		for (unsigned mutation = 0; mutation < 5; mutation++) {
			struct nfx x;
			struct nfx_result r;
			struct tdp_mapping m;
			uint64_t hfn;

			nfx_init(&x, &kinds[k]);
			build(&x, 0x100, 0x1000, RIGHT_R | RIGHT_X);
			nfx_load(&x, 0x100 << 12);
			both(&x, 0x3000, ACCESS_READ, &r);
			assert_int_equal(r.x.outcome, XO_OK);
			both(&x, 0x4000, ACCESS_FETCH, &r);
			assert_int_equal(ntdp_check(x.n, msg, sizeof(msg)), 0);
			assert_true(tdp_lookup(ntdp_current_tdp(x.n), 3, &m));
			assert_int_equal(memslots_gfn_peek(x.l1, 0x1003, &hfn, NULL), MEMSLOT_OK);
			assert_int_equal(m.hfn, hfn);
			switch (mutation) {
			case 0: /* W that EPT12 refuses */
				assert_int_equal(tdp_map(ntdp_current_tdp(x.n), 3, hfn, 1, RWX), 0);
				break;
			case 1: /* another L1 page's frame */
				assert_int_equal(tdp_map(ntdp_current_tdp(x.n), 3, hfn + 1, 1, RIGHT_R), 0);
				break;
			case 2: /* a gpa2 EPT12 does not map (PT[100] is empty) */
				assert_int_equal(tdp_map(ntdp_current_tdp(x.n), 100, hfn, 1, RIGHT_R), 0);
				break;
			case 3: /* an EPT12 page no longer write-protected in EPT01 */
				assert_int_equal(tdp_track_write(x.ept01, 0x102, false), 0);
				break;
			default: /* none: still clean after more work */
				both(&x, 0x5000, ACCESS_READ, &r);
				break;
			}
			if (mutation < 4) {
				assert_int_equal(ntdp_check(x.n, msg, sizeof(msg)), -1);
				print_message("  mutation %u caught: %s\n", mutation, msg);
			} else {
				assert_int_equal(ntdp_check(x.n, msg, sizeof(msg)), 0);
			}
			if (mutation == 3)
				assert_int_equal(tdp_track_write(x.ept01, 0x102, true), 0);
			nfx_fini(&x);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tracking),
		cmocka_unit_test(test_readonly_slot),
		cmocka_unit_test(test_table_aliased_by_l2),
		cmocka_unit_test(test_root_cache_and_invept),
		cmocka_unit_test(test_check_catches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
