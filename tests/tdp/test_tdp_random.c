/*
 * Randomized: runs of 2000 steps (800 under ASan) of accesses at random gpas in slots of every kind
 * (4K/2M/1G-backed, read-only, MMIO, dirty-logging, none), mixed with
 * zaps, aging, page tracking, read-only toggles and dirty-log harvests.
 * Each access's outcome follows from the rules alone (tdp.h):
 *   MMIO -> emulate; no slot -> error; write to a read-only slot or a
 *   tracked gfn -> emulate (trackers called); otherwise the hardware ends
 *   up translating to the slot's frame.
 * At the end, for every gpa touched, the hardware walk either faults or
 * agrees with the slots, and after the MMU handles it, agrees. The dirty
 * log always equals the set of pages written (by the hardware) since the
 * last clear. Every table is audited (no leaf maps a frame the VM does not
 * own, no W where the rules forbid it). The same seed gives the same
 * tables, bit for bit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "mem/rng.h"
#include "tdp_fx.h"

#define GIB (UINT64_C(1) << 30)
/* Steps per run; fewer under AddressSanitizer (every step is ~15x slower there). */
#if defined(__SANITIZE_ADDRESS__)
#define STEPS 800u
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STEPS 800u
#endif
#endif
#ifndef STEPS
#define STEPS 2000u
#endif
#define LOGPAGES 4096u
#define NTRACK 16u

struct slotdef {
	uint32_t id;
	uint64_t off;    /* from the base gpa */
	uint64_t npages;
	uint32_t flags;
	unsigned order;
};

static const struct slotdef slots[] = {
	{ 1, 0, 16384, 0, 0 },
	{ 2, 1 * GIB, UINT64_C(1) << 18, 0, 9 },
	{ 3, 4 * GIB, UINT64_C(1) << 19, 0, 18 },
	{ 4, 8 * GIB, 16384, MEMSLOT_F_READONLY, 9 },
	{ 5, 9 * GIB, 256, MEMSLOT_F_MMIO, 0 },
	{ 6, 10 * GIB, LOGPAGES, MEMSLOT_F_LOG_DIRTY, 9 },
};
#define NSLOTS (sizeof(slots) / sizeof(slots[0]))
#define LOGSLOT 5 /* index of the logging slot */

struct run {
	struct fx f;
	uint64_t rng;
	uint64_t base;
	uint64_t touched[STEPS];
	unsigned ntouched;
	uint64_t dirty[LOGPAGES / 64]; /* expected log */
	uint64_t track_gfn[NTRACK];
	unsigned track_cnt[NTRACK];
	bool s1_ro;
	unsigned tracker_calls, expected_calls;
};

static void tracker(void *ctx, uint64_t gpa, enum access_type access)
{
	struct run *r = ctx;

	(void)gpa;
	assert_int_equal(access, ACCESS_WRITE);
	r->tracker_calls++;
}

static int slot_of(const struct run *r, uint64_t gpa)
{
	for (unsigned i = 0; i < NSLOTS; i++) {
		uint64_t lo = r->base + slots[i].off;

		if (gpa >= lo && gpa < lo + (slots[i].npages << 12))
			return (int)i;
	}
	return -1;
}

static bool tracked(const struct run *r, uint64_t gfn)
{
	for (unsigned i = 0; i < NTRACK; i++) {
		if (r->track_gfn[i] == gfn && r->track_cnt[i])
			return true;
	}
	return false;
}

static uint64_t random_gpa(struct run *r)
{
	unsigned s;

	if (r->ntouched && rng_below(&r->rng, 3) == 0)
		return r->touched[rng_below(&r->rng, r->ntouched)];
	if (rng_below(&r->rng, 40) == 0)
		return r->base + 12 * GIB + (rng_below(&r->rng, 1u << 20) << 3); /* no slot */
	s = (unsigned)rng_below(&r->rng, NSLOTS);
	return r->base + slots[s].off + (rng_below(&r->rng, slots[s].npages) << 12) +
	       (rng_below(&r->rng, 512) << 3);
}

static void expect_log(struct run *r)
{
	uint64_t bits[LOGPAGES / 64];

	assert_int_equal(memslots_dirty_get(r->f.ms, slots[LOGSLOT].id, 0, LOGPAGES, bits), MEMSLOT_OK);
	assert_memory_equal(bits, r->dirty, sizeof(bits));
}

static void step_access(struct run *r)
{
	uint64_t gpa = random_gpa(r);
	enum access_type t = (enum access_type)rng_below(&r->rng, 3);
	int s = slot_of(r, gpa);
	struct xlate_result res;
	struct mmu_fault mf;
	int ret = fx_access(&r->f, gpa, t, &res, &mf, NULL);

	if (s < 0) {
		assert_int_equal(ret, RET_PF_ERROR);
		return;
	}
	if (slots[s].flags & MEMSLOT_F_MMIO) {
		assert_int_equal(ret, RET_PF_EMULATE);
		assert_int_equal(mf.emulate_gpa, gpa);
		return;
	}
	if (r->ntouched < STEPS)
		r->touched[r->ntouched++] = gpa;
	if (t == ACCESS_WRITE && ((slots[s].flags & MEMSLOT_F_READONLY) || (s == 0 && r->s1_ro))) {
		assert_int_equal(ret, RET_PF_EMULATE);
		return;
	}
	if (t == ACCESS_WRITE && tracked(r, gpa >> 12)) {
		assert_int_equal(ret, RET_PF_EMULATE);
		r->expected_calls++;
		return;
	}
	assert_true(ret == -1 || ret == RET_PF_FIXED);
	fx_expect_mapped(&r->f, gpa, t);
	if (s == LOGSLOT && t == ACCESS_WRITE) {
		uint64_t p = ((gpa - r->base - slots[s].off) >> 12);

		r->dirty[p / 64] |= UINT64_C(1) << (p % 64);
	}
}

static void step_other(struct run *r, unsigned op)
{
	uint64_t gfn = random_gpa(r) >> 12, n = 1 + rng_below(&r->rng, 1024);

	switch (op) {
	case 0:
		(void)tdp_zap_range(r->f.t, gfn, n);
		break;
	case 1:
		(void)tdp_age(r->f.t, gfn, n);
		break;
	case 2: {
		unsigned k = (unsigned)rng_below(&r->rng, NTRACK);

		if (r->track_cnt[k] < 2 && rng_below(&r->rng, 2)) {
			assert_int_equal(tdp_track_write(r->f.t, r->track_gfn[k], true), TDP_OK);
			r->track_cnt[k]++;
		} else if (r->track_cnt[k]) {
			assert_int_equal(tdp_track_write(r->f.t, r->track_gfn[k], false), TDP_OK);
			r->track_cnt[k]--;
		} else {
			assert_int_equal(tdp_track_write(r->f.t, r->track_gfn[k], false), TDP_EINVAL);
		}
		break;
	}
	case 3:
		if (r->f.o.dirty_mode == TDP_DIRTY_DBIT)
			assert_true(tdp_dirty_log_harvest(r->f.t, slots[LOGSLOT].id) >= 0);
		expect_log(r);
		assert_int_equal(memslots_dirty_clear(r->f.ms, slots[LOGSLOT].id, 0, LOGPAGES), MEMSLOT_OK);
		memset(r->dirty, 0, sizeof(r->dirty));
		break;
	case 4:
		r->s1_ro = !r->s1_ro;
		assert_int_equal(memslots_set_flags(r->f.ms, slots[0].id, r->s1_ro ? MEMSLOT_F_READONLY : 0),
				 MEMSLOT_OK);
		break;
	default:
		(void)tdp_test_age(r->f.t, gfn, n);
		break;
	}
	(void)tdp_flush_take(r->f.t); /* the vCPU would flush here */
}

static void run_init(struct run *r, const struct fx_opts *o, uint64_t seed)
{
	memset(r, 0, sizeof(*r));
	fx_init(&r->f, o);
	r->rng = seed;
	r->base = (o->levels == 5 ? UINT64_C(1) << 49 : 0) + 3 * GIB;
	for (unsigned i = 0; i < NSLOTS; i++)
		fx_slot(&r->f, slots[i].id, (r->base + slots[i].off) >> 12, slots[i].npages, slots[i].flags,
			slots[i].order);
	assert_true(tdp_track_register(r->f.t, tracker, r) >= 0);
	/* candidates for tracking: in the 4K, 2M-backed and logging slots */
	for (unsigned i = 0; i < NTRACK; i++) {
		const struct slotdef *s = &slots[i % 3 == 0 ? 0 : i % 3 == 1 ? 1 : LOGSLOT];

		bool dup;

		do {
			r->track_gfn[i] = ((r->base + s->off) >> 12) + rng_below(&r->rng, i < 8 ? 64 : s->npages);
			dup = false;
			for (unsigned j = 0; j < i; j++)
				dup |= r->track_gfn[j] == r->track_gfn[i];
		} while (dup);
	}
}

static void run_steps(struct run *r)
{
	for (unsigned i = 0; i < STEPS; i++) {
		unsigned op = (unsigned)rng_below(&r->rng, 100);

		if (i % 400 == 399)
			(void)fx_audit(&r->f, NULL);
		if (op < 85)
			step_access(r);
		else
			step_other(r, op < 89 ? 0 : op < 92 ? 1 : op < 96 ? 2 : op < 97 ? 3 : op < 98 ? 4 : 5);
	}
}

static void run_check(struct run *r)
{
	if (r->f.o.dirty_mode == TDP_DIRTY_DBIT)
		assert_true(tdp_dirty_log_harvest(r->f.t, slots[LOGSLOT].id) >= 0);
	expect_log(r);
	assert_int_equal(r->tracker_calls, r->expected_calls);
	(void)fx_audit(&r->f, NULL);
	for (unsigned i = 0; i < r->ntouched; i++) {
		uint64_t gpa = r->touched[i], hfn;
		struct xlate_result res;
		int ret;

		/* before any fix: a fault, or the slot's frame */
		fx_hw(&r->f, gpa, ACCESS_READ, &res);
		if (res.outcome == XO_OK) {
			assert_int_equal(memslots_gfn_peek(r->f.ms, gpa >> 12, &hfn, NULL), MEMSLOT_OK);
			assert_int_equal(res.hpa, (hfn << 12) | (gpa & 0xfff));
		} else {
			assert_int_equal(res.outcome, r->f.o.kind == TDP_EPT ? XO_EPT_VIOLATION : XO_NPF);
		}
		ret = fx_access(&r->f, gpa, ACCESS_READ, &res, NULL, NULL);
		assert_true(ret == -1 || ret == RET_PF_FIXED);
		fx_expect_mapped(&r->f, gpa, ACCESS_READ);
	}
	(void)fx_audit(&r->f, NULL);
}

static void one_config(const struct fx_opts *o, uint64_t seed)
{
	static struct run a, b, c;

	run_init(&a, o, seed);
	run_steps(&a);
	run_check(&a);

	/* determinism: the same seed, the same tables and counts */
	run_init(&b, o, seed);
	run_steps(&b);
	run_check(&b);
	assert_int_equal(fx_tables_hash(&a.f), fx_tables_hash(&b.f));
	assert_memory_equal(tdp_get_stats(a.f.t), tdp_get_stats(b.f.t), sizeof(struct tdp_stats));
	assert_memory_equal(&a.f.cnt, &b.f.cnt, sizeof(struct counters));
	fx_fini(&b.f);

	/* and another seed builds other tables (once per test: it costs a run) */
	if (seed % 1000) {
		fx_fini(&a.f);
		return;
	}
	run_init(&c, o, seed + 1);
	run_steps(&c);
	run_check(&c);
	assert_true(fx_tables_hash(&a.f) != fx_tables_hash(&c.f));
	fx_fini(&c.f);
	fx_fini(&a.f);
}

static void test_random_wp(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		struct fx_opts o = fx_formats[i];

		o.dirty_mode = TDP_DIRTY_WP;
		one_config(&o, 1000 + i);
	}
}

static void test_random_dbit(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		struct fx_opts o = fx_formats[i];

		o.dirty_mode = TDP_DIRTY_DBIT;
		one_config(&o, 2000 + i);
	}
}

static void test_random_small_pages(void **state)
{
	struct fx_opts o = fx_formats[0];

	(void)state;
	o.max_level = 2;
	one_config(&o, 3000);
	o.max_level = 1;
	o.ad = false; /* and aging by zapping */
	one_config(&o, 3001);
	o = fx_formats[3];
	o.max_level = 1;
	one_config(&o, 3002);
}

/* As L1's hypervisor: a level-1 port that keeps answering "retry". */
static void test_random_as_l1(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		struct fx_opts o = fx_formats[i];

		o.as_l1 = true;
		o.dirty_mode = i & 1 ? TDP_DIRTY_DBIT : TDP_DIRTY_WP;
		one_config(&o, 4000 + i);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_wp),
		cmocka_unit_test(test_random_dbit),
		cmocka_unit_test(test_random_small_pages),
		cmocka_unit_test(test_random_as_l1),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
