/*
 * test_kpop_hc.c - every KPOP hypercall (kpop.h part 1), every rejected
 * argument (the error code, and nothing changed: the whole state compared
 * before and after), references, zap scopes, counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "kpop_fx.h"

#define NFMT 5

/* A rejected call: the code, and the whole state as it was. */
static void expect_reject(struct fx *f, unsigned nr, uint64_t a0, uint64_t a1, int64_t code)
{
	struct fx_state before, after;
	int64_t r;

	fx_state(f, &before);
	r = kpop_hypercall(f->kp, nr, a0, a1);
	if (r != code)
		fail_msg("hypercall %u (%#llx, %#llx): %lld, expected %lld", nr, (unsigned long long)a0,
			 (unsigned long long)a1, (long long)r, (long long)code);
	fx_state(f, &after);
	fx_assert_same(&before, &after);
	fx_check(f);
}

static void reject_map(struct fx *f, const struct kpop_map_desc *d, unsigned n, int64_t code)
{
	fx_put_map(f, FX_SCRATCH, d, n);
	expect_reject(f, KPOP_HC_MAP, FX_SCRATCH, n, code);
}

static void reject_unmap(struct fx *f, const struct kpop_unmap_desc *d, unsigned n, int64_t code)
{
	fx_put_unmap(f, FX_SCRATCH, d, n);
	expect_reject(f, KPOP_HC_UNMAP, FX_SCRATCH, n, code);
}

static struct kpop_map_desc md(uint64_t h, unsigned perms, uint64_t l2, uint64_t l1, uint64_t n)
{
	return (struct kpop_map_desc){ .handle = (uint32_t)h, .perms = perms, .l2_gfn = l2, .l1_gfn = l1, .npages = n };
}

static void test_load_unload(void **state)
{
	(void)state;
	for (unsigned fi = 0; fi < NFMT; fi++) {
		struct fx f;
		uint64_t h1, h1b, h2, h3, stale;

		fx_init(&f, &fx_formats[fi]);
		h1 = fx_load(&f, 0x1000, 0);
		h1b = fx_load(&f, 0x1000, 0);
		assert_int_equal(h1, h1b);
		assert_int_equal(kpop_refs(f.kp, h1), 2);
		h2 = fx_load(&f, 0x1000, 1); /* another address space: another MMU */
		h3 = fx_load(&f, 0x2000, 0); /* another holder */
		assert_true(h2 != h1 && h3 != h1 && h3 != h2);
		assert_int_equal(kpop_mmu_count(f.kp), 3);
		assert_int_equal(kpop_find(f.kp, 0x1000, 1), h2);
		assert_int_equal(kpop_find(f.kp, 0x3000, 0), KPOP_ENOENT);
		/* one root table each, counted as EPT02 */
		assert_int_equal(counters_pt_live(&f.cnt, CNT_PT_EPT02), 3);
		assert_int_equal(kpop_tables_live(f.kp), 3);
		assert_true(kpop_root_pa(f.kp, h1) != kpop_root_pa(f.kp, h2));
		if (f.o.kind == KPOP_EPT)
			assert_int_equal(kpop_root_eptp(f.kp, h1) & 0xfff,
					 6 | ((f.o.levels - 1) << 3) | (f.o.ad ? 0x40 : 0));
		fx_check(&f);

		struct kpop_map_desc d = md(h1, KPOP_PERM_R | KPOP_PERM_W, 0x10, 0x100, 4);
		assert_int_equal(fx_map(&f, &d, 1), 4);
		assert_int_equal(fx_hc(&f, KPOP_HC_MMU_UNLOAD, 0x1000, 0), 1); /* one reference left */
		assert_true(kpop_handle_valid(f.kp, h1));
		fx_check_model(&f, false);
		assert_int_equal(fx_hc(&f, KPOP_HC_MMU_UNLOAD, 0x1000, 0), 0); /* freed with its tables */
		assert_false(kpop_handle_valid(f.kp, h1));
		assert_int_equal(kpop_mapped_pages(f.kp, KPOP_HANDLE_ALL), 0);
		assert_int_equal(counters_pt_live(&f.cnt, CNT_PT_EPT02), 2);
		fx_check_model(&f, false);
		/* the stale handle names nothing, even once the entry is reused */
		stale = h1;
		expect_reject(&f, KPOP_HC_MMU_UNLOAD, 0x1000, 0, KPOP_ENOENT);
		h1 = fx_load(&f, 0x1000, 0);
		assert_true(h1 != stale);
		expect_reject(&f, KPOP_HC_ZAP_ALL, stale, 0, KPOP_ENOENT);
		d = md(stale, KPOP_PERM_R, 0x10, 0x100, 1);
		reject_map(&f, &d, 1, KPOP_ENOENT);
		/* references are bounded */
		for (unsigned i = 1; i < KPOP_MAX_REFS; i++)
			assert_int_equal(kpop_hypercall(f.kp, KPOP_HC_MMU_LOAD, 0x2000, 0), h3);
		expect_reject(&f, KPOP_HC_MMU_LOAD, 0x2000, 0, KPOP_EOVERFLOW);
		for (unsigned i = 1; i < KPOP_MAX_REFS; i++)
			assert_int_equal(kpop_hypercall(f.kp, KPOP_HC_MMU_UNLOAD, 0x2000, 0), KPOP_MAX_REFS - i);
		/* bad address spaces */
		expect_reject(&f, KPOP_HC_MMU_LOAD, 0x1000, KPOP_MAX_AS, KPOP_EINVAL);
		expect_reject(&f, KPOP_HC_MMU_LOAD, 0x1000, UINT64_MAX, KPOP_EINVAL);
		expect_reject(&f, KPOP_HC_MMU_UNLOAD, 0x1000, 2, KPOP_EINVAL);
		expect_reject(&f, KPOP_HC_MMU_UNLOAD, 0x9999, 0, KPOP_ENOENT);
		fx_fini(&f);
	}
}

static void test_mmu_limit(void **state)
{
	struct fx_opts o = fx_formats[0];
	struct fx f;

	(void)state;
	o.max_mmus = 4;
	fx_init(&f, &o);
	for (uint64_t i = 0; i < 4; i++)
		fx_load(&f, 0x100 + i, 0);
	expect_reject(&f, KPOP_HC_MMU_LOAD, 0x200, 0, KPOP_ENOSPC);
	assert_int_equal(fx_load(&f, 0x101, 0), kpop_find(f.kp, 0x101, 0)); /* a known one still loads */
	assert_int_equal(fx_hc(&f, KPOP_HC_MMU_UNLOAD, 0x102, 0), 0);
	fx_load(&f, 0x200, 0); /* room again */
	fx_check(&f);
	fx_fini(&f);
}

static void test_map_basic(void **state)
{
	(void)state;
	for (unsigned fi = 0; fi < NFMT; fi++) {
		struct fx f;
		struct xlate_result r;
		struct mmu_fault mf;
		uint64_t h, l1;
		unsigned perms;

		fx_init(&f, &fx_formats[fi]);
		h = fx_load(&f, 0x1000, 0);
		struct kpop_map_desc d[4] = {
			md(h, KPOP_PERM_ALL, 0x0, 0x10, 16),                   /* RAM, everything */
			md(h, KPOP_PERM_R | KPOP_PERM_W, 0x1ff, 0x200, 2),     /* across a table boundary */
			md(h, KPOP_PERM_R | KPOP_PERM_W, 0x40000, FX_RO_GFN, 8), /* W asked, read-only slot */
			md(h, KPOP_PERM_R, 0x123456789, 0x3000, 1),            /* far away, read only */
		};
		assert_int_equal(fx_map(&f, d, 4), 27);
		assert_false(kpop_flush_pending(f.kp, h)); /* adding never needs a flush */
		fx_check_model(&f, false);
		assert_true(f.cnt.tdp_entries_set[CNT_L0] >= 27);
		assert_true(counters_pt_live(&f.cnt, CNT_PT_EPT02) > 1);
		assert_true(kpop_lookup(f.kp, h, 0x40003, &l1, &perms));
		assert_int_equal(l1, FX_RO_GFN + 3);
		assert_int_equal(perms, KPOP_PERM_R | KPOP_PERM_W); /* the record keeps what L1 asked */
		/* a write there is L1's ROM: emulated, at the L1 address */
		assert_int_equal(fx_access(&f, h, (UINT64_C(0x40003) << 12) | 8, ACCESS_WRITE, &r, &mf), RET_PF_EMULATE);
		assert_int_equal(mf.emulate_gpa, ((FX_RO_GFN + 3) << 12) | 8);
		/* no W asked: the fault is L1's */
		assert_int_equal(fx_access(&f, h, UINT64_C(0x123456789) << 12, ACCESS_WRITE, &r, &mf), RET_PF_INJECT);
		/* not mapped at all: L1's too */
		assert_int_equal(fx_access(&f, h, UINT64_C(0x777) << 12, ACCESS_READ, &r, &mf), RET_PF_INJECT);
		/* mapped: no fault */
		assert_int_equal(fx_access(&f, h, UINT64_C(0x5) << 12, ACCESS_WRITE, &r, &mf), -1);
		assert_int_equal(r.outcome, XO_OK);

		/* replace: another L1 frame, fewer rights -> flush pending */
		struct kpop_map_desc rp = md(h, KPOP_PERM_R, 0x3, 0x800, 2);
		assert_int_equal(fx_map(&f, &rp, 1), 2);
		assert_true(kpop_flush_take(f.kp, h));
		assert_false(kpop_flush_pending(f.kp, h));
		fx_check_model(&f, false);
		/* replace with more rights and the same frame: no flush */
		rp = md(h, KPOP_PERM_ALL, 0x3, 0x800, 2);
		assert_int_equal(fx_map(&f, &rp, 1), 2);
		assert_false(kpop_flush_pending(f.kp, h));
		fx_check_model(&f, false);
		/* count 0 is nothing */
		assert_int_equal(kpop_hypercall(f.kp, KPOP_HC_MAP, 0xdead, 0), 0);
		fx_fini(&f);
	}
}

static void test_map_rejects(void **state)
{
	(void)state;
	for (unsigned fi = 0; fi < NFMT; fi++) {
		struct fx f;
		uint64_t h, h2, stale, lim;
		struct kpop_map_desc d[20];

		fx_init(&f, &fx_formats[fi]);
		lim = UINT64_C(1) << ((f.o.levels == 5 ? 57 : 48) - 12);
		h = fx_load(&f, 0x1000, 0);
		h2 = fx_load(&f, 0x2000, 0);
		stale = fx_load(&f, 0x3000, 0);
		assert_int_equal(fx_hc(&f, KPOP_HC_MMU_UNLOAD, 0x3000, 0), 0);
		/* something mapped, so that "nothing changed" means something */
		d[0] = md(h, KPOP_PERM_ALL, 0x100, 0x100, 32);
		d[1] = md(h2, KPOP_PERM_R, 0x100, 0x200, 32);
		assert_int_equal(fx_map(&f, d, 2), 64);
		fx_check_model(&f, false);

		/* the block */
		expect_reject(&f, KPOP_HC_MAP, FX_SCRATCH, KPOP_MAX_DESC + 1, KPOP_E2BIG);
		expect_reject(&f, KPOP_HC_MAP, FX_SCRATCH, UINT64_MAX, KPOP_E2BIG);
		expect_reject(&f, KPOP_HC_MAP, FX_SCRATCH + 4, 1, KPOP_EINVAL);
		expect_reject(&f, KPOP_HC_MAP, FX_MMIO_GFN << 12, 1, KPOP_EFAULT);
		expect_reject(&f, KPOP_HC_MAP, UINT64_C(0x5000) << 12, 1, KPOP_EFAULT);
		expect_reject(&f, KPOP_HC_MAP, UINT64_C(0xfffffffffffffff8), 1, KPOP_EFAULT);
		expect_reject(&f, KPOP_HC_MAP, (FX_RAM_PAGES << 12) - 16, 1, KPOP_EFAULT); /* runs off the slot */
		/* each field */
		d[0] = md(h, KPOP_PERM_R | 8, 0x0, 0x10, 1);
		reject_map(&f, d, 1, KPOP_EINVAL);
		d[0] = md(h, KPOP_PERM_W, 0x0, 0x10, 1);
		reject_map(&f, d, 1, KPOP_EINVAL);
		d[0] = md(h, 0, 0x0, 0x10, 1);
		reject_map(&f, d, 1, KPOP_EINVAL);
		d[0] = md(0x7777, KPOP_PERM_R, 0x0, 0x10, 1);
		reject_map(&f, d, 1, KPOP_ENOENT);
		d[0] = md(0, KPOP_PERM_R, 0x0, 0x10, 1);
		reject_map(&f, d, 1, KPOP_ENOENT);
		d[0] = md(stale, KPOP_PERM_R, 0x0, 0x10, 1);
		reject_map(&f, d, 1, KPOP_ENOENT);
		d[0] = md(h, KPOP_PERM_R, 0x0, 0x10, 0);
		reject_map(&f, d, 1, KPOP_EINVAL);
		d[0] = md(h, KPOP_PERM_R, 0x0, 0x10, KPOP_MAX_PAGES + 1);
		reject_map(&f, d, 1, KPOP_E2BIG);
		d[0] = md(h, KPOP_PERM_R, 0x0, 0x10, UINT64_MAX);
		reject_map(&f, d, 1, KPOP_E2BIG);
		d[0] = md(h, KPOP_PERM_R, lim - 1, 0x10, 2);
		reject_map(&f, d, 1, KPOP_EINVAL);
		d[0] = md(h, KPOP_PERM_R, lim, 0x10, 1);
		reject_map(&f, d, 1, KPOP_EINVAL);
		d[0] = md(h, KPOP_PERM_R, UINT64_MAX, 0x10, 2);
		reject_map(&f, d, 1, KPOP_EINVAL);
		d[0] = md(h, KPOP_PERM_R, 0x0, 0x5000, 1); /* outside L1 */
		reject_map(&f, d, 1, KPOP_EFAULT);
		d[0] = md(h, KPOP_PERM_R, 0x0, FX_MMIO_GFN + 4, 1);
		reject_map(&f, d, 1, KPOP_EFAULT);
		d[0] = md(h, KPOP_PERM_R, 0x0, FX_RAM_PAGES - 1, 2); /* off the end of RAM */
		reject_map(&f, d, 1, KPOP_EFAULT);
		d[0] = md(h, KPOP_PERM_R, 0x0, FX_RO_GFN + FX_SLOT_SMALL - 1, 2);
		reject_map(&f, d, 1, KPOP_EFAULT);
		d[0] = md(h, KPOP_PERM_R, 0x0, UINT64_MAX, 2);
		reject_map(&f, d, 1, KPOP_EFAULT);
		/* a good descriptor before a bad one is not applied either */
		d[0] = md(h, KPOP_PERM_ALL, 0x0, 0x10, 8);
		d[1] = md(h, KPOP_PERM_R, 0x0, 0x20, 1);
		reject_map(&f, d, 2, KPOP_EINVAL); /* overlaps the first in L2 */
		d[1] = md(h, KPOP_PERM_R, 0x8, FX_MMIO_GFN, 1);
		reject_map(&f, d, 2, KPOP_EFAULT);
		d[1] = md(h, KPOP_PERM_R, 0x4, 0x20, 8); /* overlap */
		reject_map(&f, d, 2, KPOP_EINVAL);
		d[1] = md(h2, KPOP_PERM_R, 0x4, 0x20, 8); /* the same L2 gfns in another MMU: fine... */
		d[2] = md(h2, KPOP_PERM_R, 0x0, 0x20, 5); /* ...but not twice in it */
		reject_map(&f, d, 3, KPOP_EINVAL);
		/* the request as a whole is too big, each descriptor being fine */
		for (unsigned i = 0; i < 17; i++)
			d[i] = md(h, KPOP_PERM_R, (uint64_t)i * FX_RAM_PAGES + 0x100000, FX_RAM_GFN, FX_RAM_PAGES);
		reject_map(&f, d, 17, KPOP_E2BIG);
		fx_check_model(&f, false);
		fx_fini(&f);
	}
}

static void test_map_limits(void **state)
{
	struct fx_opts o = fx_formats[3];
	struct fx f;
	struct kpop_map_desc d[2];
	uint64_t h;

	(void)state;
	o.max_pages = 64;
	fx_init(&f, &o);
	h = fx_load(&f, 0x1000, 0);
	d[0] = md(h, KPOP_PERM_ALL, 0x0, 0x10, 60);
	assert_int_equal(fx_map(&f, d, 1), 60);
	d[0] = md(h, KPOP_PERM_ALL, 0x100, 0x10, 5);
	reject_map(&f, d, 1, KPOP_ENOSPC);
	d[0] = md(h, KPOP_PERM_R, 0x0, 0x30, 60); /* replacing does not count */
	d[1] = md(h, KPOP_PERM_R, 0x100, 0x30, 4);
	assert_int_equal(fx_map(&f, d, 2), 64);
	fx_check_model(&f, false);
	fx_fini(&f);

	/* out of host frames: nothing changes, then the same request succeeds */
	for (unsigned fi = 0; fi < NFMT; fi++) {
		fx_init(&f, &fx_formats[fi]);
		h = fx_load(&f, 0x1000, 0);
		d[0] = md(h, KPOP_PERM_ALL, 0x0, 0x10, 4);
		assert_int_equal(fx_map(&f, d, 1), 4);
		frames_set_limit(f.fr, frames_allocated(f.fr));
		d[0] = md(h, KPOP_PERM_ALL, 0x9000000, 0x10, 4); /* L1 backed, new tables needed */
		reject_map(&f, d, 1, KPOP_ENOMEM);
		d[0] = md(h, KPOP_PERM_ALL, 0x4, 0x400, 4); /* tables there, L1 not backed */
		reject_map(&f, d, 1, KPOP_ENOMEM);
		frames_set_limit(f.fr, UINT64_MAX);
		d[0] = md(h, KPOP_PERM_ALL, 0x9000000, 0x10, 4);
		d[1] = md(h, KPOP_PERM_ALL, 0x4, 0x400, 4);
		assert_int_equal(fx_map(&f, d, 2), 8);
		fx_check_model(&f, false);
		fx_fini(&f);
	}
}

static void test_unmap(void **state)
{
	(void)state;
	for (unsigned fi = 0; fi < NFMT; fi++) {
		struct fx f;
		uint64_t h, h2, live;
		struct kpop_map_desc d[2];
		struct kpop_unmap_desc u[3];

		fx_init(&f, &fx_formats[fi]);
		h = fx_load(&f, 0x1000, 0);
		h2 = fx_load(&f, 0x1000, 1);
		live = counters_pt_live(&f.cnt, CNT_PT_EPT02);
		d[0] = md(h, KPOP_PERM_ALL, 0x1000, 0x10, 600);
		d[1] = md(h2, KPOP_PERM_R, 0x1000, 0x10, 600);
		assert_int_equal(fx_map(&f, d, 2), 1200);
		fx_check_model(&f, false);
		u[0] = (struct kpop_unmap_desc){ .handle = (uint32_t)h, .l2_gfn = 0x1100, .npages = 16 };
		u[1] = (struct kpop_unmap_desc){ .handle = (uint32_t)h, .l2_gfn = 0x1108, .npages = 16 }; /* overlap: fine */
		u[2] = (struct kpop_unmap_desc){ .handle = (uint32_t)h, .l2_gfn = 0x0, .npages = 0x1001 }; /* one page */
		assert_int_equal(fx_unmap(&f, u, 3), 25);
		assert_true(kpop_flush_take(f.kp, h));
		assert_false(kpop_flush_take(f.kp, h2)); /* the other MMU is untouched */
		fx_check_model(&f, false);
		/* unmapping nothing is fine, and asks for no flush */
		assert_int_equal(fx_unmap(&f, u, 1), 0);
		assert_false(kpop_flush_pending(f.kp, h));
		/* rejections */
		expect_reject(&f, KPOP_HC_UNMAP, FX_SCRATCH, KPOP_MAX_DESC + 1, KPOP_E2BIG);
		expect_reject(&f, KPOP_HC_UNMAP, FX_SCRATCH + 8 + 4, 1, KPOP_EINVAL);
		expect_reject(&f, KPOP_HC_UNMAP, FX_MMIO_GFN << 12, 1, KPOP_EFAULT);
		u[0] = (struct kpop_unmap_desc){ .handle = (uint32_t)h, .reserved = 1, .l2_gfn = 0x1000, .npages = 1 };
		reject_unmap(&f, u, 1, KPOP_EINVAL);
		u[0] = (struct kpop_unmap_desc){ .handle = 0x4444, .l2_gfn = 0x1000, .npages = 1 };
		reject_unmap(&f, u, 1, KPOP_ENOENT);
		u[0] = (struct kpop_unmap_desc){ .handle = (uint32_t)h, .l2_gfn = 0x1000, .npages = 0 };
		reject_unmap(&f, u, 1, KPOP_EINVAL);
		u[0] = (struct kpop_unmap_desc){ .handle = (uint32_t)h, .l2_gfn = 0x1000, .npages = KPOP_MAX_PAGES + 1 };
		reject_unmap(&f, u, 1, KPOP_E2BIG);
		u[0] = (struct kpop_unmap_desc){ .handle = (uint32_t)h, .l2_gfn = UINT64_MAX - 1, .npages = 4 };
		reject_unmap(&f, u, 1, KPOP_EINVAL);
		u[0] = (struct kpop_unmap_desc){ .handle = (uint32_t)h, .l2_gfn = 0x1000, .npages = 4 };
		u[1] = (struct kpop_unmap_desc){ .handle = 0x4444, .l2_gfn = 0x1000, .npages = 4 };
		reject_unmap(&f, u, 2, KPOP_ENOENT); /* the first not applied either */
		/* everything: the tables go back to the roots */
		u[0] = (struct kpop_unmap_desc){ .handle = (uint32_t)h, .l2_gfn = 0x1000, .npages = 600 };
		u[1] = (struct kpop_unmap_desc){ .handle = (uint32_t)h2, .l2_gfn = 0x0, .npages = KPOP_MAX_PAGES - 600 };
		assert_int_equal(fx_unmap(&f, u, 2), 1200 - 25);
		assert_int_equal(counters_pt_live(&f.cnt, CNT_PT_EPT02), live);
		assert_int_equal(f.cnt.tdp_entries_set[CNT_L0], f.cnt.tdp_entries_zapped[CNT_L0]);
		fx_check_model(&f, false);
		fx_fini(&f);
	}
}

static void test_zap(void **state)
{
	(void)state;
	for (unsigned fi = 0; fi < NFMT; fi++) {
		struct fx f;
		uint64_t h[3], lim;
		struct kpop_map_desc d[3];

		fx_init(&f, &fx_formats[fi]);
		lim = UINT64_C(1) << ((f.o.levels == 5 ? 57 : 48) - 12);
		h[0] = fx_load(&f, 0x1000, 0);
		h[1] = fx_load(&f, 0x1000, 1);
		h[2] = fx_load(&f, 0x2000, 0);
		for (int i = 0; i < 3; i++)
			d[i] = md(h[i], KPOP_PERM_ALL, 0x200 * (uint64_t)i, 0x10, 0x300);
		assert_int_equal(fx_map(&f, d, 3), 0x900);
		/* zap range: every MMU */
		assert_true(fx_hc(&f, KPOP_HC_ZAP_RANGE, 0x280, 0x200) > 0);
		for (int i = 0; i < 3; i++)
			assert_true(kpop_flush_take(f.kp, h[i]));
		fx_check_model(&f, false);
		/* a huge range goes by what is mapped */
		assert_true(fx_hc(&f, KPOP_HC_ZAP_RANGE, 0x600, lim - 0x600) > 0);
		fx_check_model(&f, false);
		expect_reject(&f, KPOP_HC_ZAP_RANGE, 0x0, 0, KPOP_EINVAL);
		expect_reject(&f, KPOP_HC_ZAP_RANGE, lim, 1, KPOP_EINVAL);
		expect_reject(&f, KPOP_HC_ZAP_RANGE, 0x10, lim, KPOP_EINVAL);
		expect_reject(&f, KPOP_HC_ZAP_RANGE, UINT64_MAX, 2, KPOP_EINVAL);
		/* zap all of one MMU: the others keep theirs, the handle and root stay */
		uint64_t root = kpop_root_pa(f.kp, h[1]);
		assert_true(fx_hc(&f, KPOP_HC_ZAP_ALL, h[1], 0) > 0);
		assert_int_equal(kpop_mapped_pages(f.kp, h[1]), 0);
		assert_true(kpop_mapped_pages(f.kp, h[0]) > 0);
		assert_int_equal(kpop_root_pa(f.kp, h[1]), root);
		assert_true(kpop_flush_take(f.kp, h[1]));
		assert_false(kpop_flush_pending(f.kp, h[0]));
		fx_check_model(&f, false);
		expect_reject(&f, KPOP_HC_ZAP_ALL, h[0], 1, KPOP_EINVAL);
		expect_reject(&f, KPOP_HC_ZAP_ALL, UINT64_C(1) << 32, 0, KPOP_EINVAL);
		expect_reject(&f, KPOP_HC_ZAP_ALL, UINT64_MAX, 0, KPOP_EINVAL);
		expect_reject(&f, KPOP_HC_ZAP_ALL, 0x5555, 0, KPOP_ENOENT);
		/* zap all of everything */
		assert_true(fx_hc(&f, KPOP_HC_ZAP_ALL, KPOP_HANDLE_ALL, 0) > 0);
		assert_int_equal(kpop_mapped_pages(f.kp, KPOP_HANDLE_ALL), 0);
		assert_int_equal(kpop_tables_live(f.kp), 3);
		assert_int_equal(kpop_mmu_count(f.kp), 3);
		fx_check_model(&f, false);
		/* unknown numbers */
		expect_reject(&f, CNT_HC_OTHER, 0, 0, KPOP_ENOSYS);
		expect_reject(&f, CNT_HC_TLB_FLUSH, 0, 0, KPOP_ENOSYS);
		expect_reject(&f, CNT_HCALLS, 0, 0, KPOP_ENOSYS);
		expect_reject(&f, 0xffffffffu, 1, 2, KPOP_ENOSYS);
		fx_fini(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_unload),
		cmocka_unit_test(test_mmu_limit),
		cmocka_unit_test(test_map_basic),
		cmocka_unit_test(test_map_rejects),
		cmocka_unit_test(test_map_limits),
		cmocka_unit_test(test_unmap),
		cmocka_unit_test(test_zap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
