/*
 * test_kpop_random.c - randomized hypercall sequences against the model,
 * with the isolation checker after every operation and the hardware's
 * translations compared with the composition L2 gfn -> L1 gfn -> frame
 * regularly; then hostile byte strings through kpop_fuzz_apply (random
 * numbers, huge counts, wrapping ranges, bad blocks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mem/rng.h"
#include "kpop_fx.h"

#define NFMT 5
#define HOLDERS 4

struct rt {
	struct fx f;
	uint64_t rng;
	uint64_t lim;
};

static uint64_t loaded(struct rt *t, unsigned i)
{
	struct fx *f = &t->f;

	for (int k = 0; k < 64; k++) {
		if (f->handles[k] && f->holders[k] == 0x1000 + i / 2 && f->as_ids[k] == i % 2)
			return f->handles[k];
	}
	return 0;
}

static uint64_t any_handle(struct rt *t)
{
	for (int tries = 0; tries < 8; tries++) {
		uint64_t h = loaded(t, (unsigned)rng_below(&t->rng, HOLDERS * 2));

		if (h)
			return h;
	}
	return 0;
}

static uint64_t some_l1(struct rt *t, uint64_t n)
{
	switch (rng_below(&t->rng, 6)) {
	case 0: return FX_RO_GFN + rng_below(&t->rng, FX_SLOT_SMALL - n + 1);
	case 1: return FX_LOG_GFN + rng_below(&t->rng, FX_LOG_PAGES - n + 1);
	default: return 0x40 + rng_below(&t->rng, 0x300); /* RAM, with aliasing */
	}
}

/* A rejected call changes nothing. */
static void expect_error(struct rt *t, int64_t got, int64_t code, const struct fx_state *before)
{
	struct fx_state after;

	if (got != code)
		fail_msg("expected %lld, got %lld", (long long)code, (long long)got);
	fx_state(&t->f, &after);
	fx_assert_same(before, &after);
}

static void op_map(struct rt *t)
{
	struct kpop_map_desc d[4];
	unsigned n = 1 + (unsigned)rng_below(&t->rng, 4);
	int64_t code = 0, r;
	struct fx_state before;

	for (unsigned i = 0; i < n; i++) {
		uint64_t h = any_handle(t), np = 1 + rng_below(&t->rng, 40);

		if (!h)
			return;
		d[i] = (struct kpop_map_desc){ .handle = (uint32_t)h, .perms = KPOP_PERM_R | (unsigned)rng_below(&t->rng, 8),
					       .l2_gfn = rng_below(&t->rng, 0x400), .l1_gfn = some_l1(t, np), .npages = np };
		d[i].perms &= KPOP_PERM_ALL;
	}
	for (unsigned i = 0; i < n && !code; i++) {
		for (unsigned j = i + 1; j < n; j++) {
			if (d[i].handle == d[j].handle && d[i].l2_gfn < d[j].l2_gfn + d[j].npages &&
			    d[j].l2_gfn < d[i].l2_gfn + d[i].npages)
				code = KPOP_EINVAL;
		}
	}
	if (rng_below(&t->rng, 6) == 0) {
		struct kpop_map_desc *b = &d[rng_below(&t->rng, n)];

		switch (rng_below(&t->rng, 6)) {
		case 0: b->perms = KPOP_PERM_W; code = KPOP_EINVAL; break;
		case 1: b->handle = 0x7ff; code = KPOP_ENOENT; break;
		case 2: b->npages = 0; code = KPOP_EINVAL; break;
		case 3: b->l1_gfn = FX_MMIO_GFN + 1; code = KPOP_EFAULT; break;
		case 4: b->l2_gfn = t->lim - 1; b->npages = 2 + rng_below(&t->rng, 5); code = KPOP_EINVAL; break;
		default: b->l1_gfn = UINT64_MAX - rng_below(&t->rng, 4); code = KPOP_EFAULT; break;
		}
		/* an earlier descriptor's own error comes first: keep the others valid */
	}
	fx_state(&t->f, &before);
	r = fx_map(&t->f, d, n);
	if (code)
		expect_error(t, r, code, &before);
	else
		assert_true(r > 0);
}

static void op_unmap(struct rt *t)
{
	struct kpop_unmap_desc u[3];
	unsigned n = 1 + (unsigned)rng_below(&t->rng, 3);

	for (unsigned i = 0; i < n; i++) {
		uint64_t h = any_handle(t);

		if (!h)
			return;
		u[i] = (struct kpop_unmap_desc){ .handle = (uint32_t)h, .l2_gfn = rng_below(&t->rng, 0x400),
						 .npages = 1 + rng_below(&t->rng, 100) };
	}
	assert_true(fx_unmap(&t->f, u, n) >= 0);
}

static void op_access(struct rt *t)
{
	struct fx *f = &t->f;
	struct fx_map *m;
	struct xlate_result r;
	enum access_type type = (enum access_type)rng_below(&t->rng, 3);
	unsigned need;
	int res;

	if (!f->nmodel)
		return;
	m = &f->model[rng_below(&t->rng, f->nmodel)];
	need = type == ACCESS_WRITE ? KPOP_PERM_W : type == ACCESS_FETCH ? KPOP_PERM_X : 0;
	res = fx_access(f, m->handle, m->l2 << 12, type, &r, NULL);
	if (need & ~m->perms) {
		assert_int_equal(res, RET_PF_INJECT);
	} else if (res == -1 || res == RET_PF_FIXED) {
		uint64_t hfn = 0;

		assert_int_equal(r.outcome, XO_OK);
		assert_int_equal(memslots_gfn_peek(f->ms, m->l1, &hfn, NULL), MEMSLOT_OK);
		assert_int_equal(r.hpa, hfn << 12);
	} else {
		assert_int_equal(res, RET_PF_EMULATE); /* a write to a read-only or tracked L1 page */
		assert_int_equal(type, ACCESS_WRITE);
	}
}

static void run_random(const struct fx_opts *o, uint64_t seed, unsigned ops)
{
	struct rt t;
	struct fx *f = &t.f;
	uint64_t tracked[8] = { 0 };

	fx_init(f, o);
	t.rng = seed;
	t.lim = UINT64_C(1) << ((o->levels == 5 ? 57 : 48) - 12);
	for (unsigned i = 0; i < ops; i++) {
		unsigned k = (unsigned)rng_below(&t.rng, 100);
		uint64_t h, a;

		if (k < 6) {
			unsigned w = (unsigned)rng_below(&t.rng, HOLDERS * 2);

			fx_load(f, 0x1000 + w / 2, w % 2);
		} else if (k < 9) {
			unsigned w = (unsigned)rng_below(&t.rng, HOLDERS * 2);
			struct fx_state before;

			if (loaded(&t, w)) {
				assert_true(fx_hc(f, KPOP_HC_MMU_UNLOAD, 0x1000 + w / 2, w % 2) >= 0);
			} else {
				fx_state(f, &before);
				expect_error(&t, fx_hc(f, KPOP_HC_MMU_UNLOAD, 0x1000 + w / 2, w % 2), KPOP_ENOENT, &before);
			}
		} else if (k < 45) {
			op_map(&t);
		} else if (k < 55) {
			op_unmap(&t);
		} else if (k < 58) {
			a = rng_below(&t.rng, 0x400);
			assert_true(fx_hc(f, KPOP_HC_ZAP_RANGE, a, 1 + rng_below(&t.rng, 0x200)) >= 0);
		} else if (k < 59) {
			h = rng_below(&t.rng, 3) ? any_handle(&t) : KPOP_HANDLE_ALL;
			if (h)
				assert_true(fx_hc(f, KPOP_HC_ZAP_ALL, h, 0) >= 0);
		} else if (k < 64) {
			unsigned s = (unsigned)rng_below(&t.rng, 8);

			if (tracked[s]) {
				assert_int_equal(kpop_track_write(f->kp, tracked[s], false), 0);
				tracked[s] = 0;
			} else {
				tracked[s] = 0x40 + rng_below(&t.rng, 0x300);
				assert_int_equal(kpop_track_write(f->kp, tracked[s], true), 0);
			}
		} else if (k < 68) {
			h = any_handle(&t);
			if (h)
				(void)kpop_age(f->kp, h, rng_below(&t.rng, 0x400), 1 + rng_below(&t.rng, 64));
			(void)kpop_age_l1(f->kp, 0x40 + rng_below(&t.rng, 0x300), 1 + rng_below(&t.rng, 64));
		} else if (k < 71) {
			uint32_t flags = 0;
			struct memslot_desc sd;

			assert_int_equal(memslots_get(f->ms, 4, &sd), MEMSLOT_OK);
			switch (rng_below(&t.rng, 3)) {
			case 0: flags = sd.flags ^ MEMSLOT_F_LOG_DIRTY; break;
			case 1: flags = sd.flags ^ MEMSLOT_F_READONLY; break;
			default:
				flags = sd.flags;
				if (flags & MEMSLOT_F_LOG_DIRTY)
					assert_int_equal(memslots_dirty_clear(f->ms, 4, 0, FX_LOG_PAGES), MEMSLOT_OK);
				break;
			}
			assert_int_equal(memslots_set_flags(f->ms, 4, flags), MEMSLOT_OK);
		} else {
			op_access(&t);
		}
		if (rng_below(&t.rng, 4) == 0) {
			h = any_handle(&t);
			if (h)
				(void)kpop_flush_take(f->kp, h);
		}
		fx_check(f);
		if (i % 64 == 63)
			fx_check_model(f, !(o->kind == KPOP_NPT || o->ad));
	}
	fx_check_model(f, !(o->kind == KPOP_NPT || o->ad));
	fx_fini(f);
}

static void test_random_model(void **state)
{
	(void)state;
	for (unsigned fi = 0; fi < NFMT; fi++) {
		for (uint64_t seed = 1; seed <= 2; seed++)
			run_random(&fx_formats[fi], seed * 7919 + fi, 300);
	}
}

static void test_random_hostile(void **state)
{
	uint8_t buf[1500];
	char msg[256];

	(void)state;
	for (unsigned fi = 0; fi < NFMT; fi++) {
		for (uint64_t seed = 1; seed <= 3; seed++) {
			struct fx f;
			uint64_t rng = seed * 104729 + fi;

			fx_init(&f, &fx_formats[fi]);
			for (size_t i = 0; i < sizeof(buf); i++) {
				uint64_t v = rng_next(&rng);

				/* bias towards small values and the "raw" escapes, like a fuzzer's mutations */
				buf[i] = (uint8_t)((v & 0x300) == 0 ? 0xf0 | (v & 0xf) : v);
			}
			if (kpop_fuzz_apply(f.kp, FX_SCRATCH, 16, buf, sizeof(buf), msg, sizeof(msg)))
				fail_msg("%s seed %llu: %s", fx_name(&f.o), (unsigned long long)seed, msg);
			fx_check(&f);
			fx_fini(&f);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_model),
		cmocka_unit_test(test_random_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
