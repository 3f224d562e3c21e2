/*
 * Tests of the counters: names and iteration cover every field exactly
 * once, add, diff (with the pt_peak gauge), helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "sim/counters.h"

#define NWORDS (sizeof(struct counters) / sizeof(uint64_t))

/*
 * Array elements that are never reported: exits at l0 (2 handlers x 17
 * reasons), the 17 per-hypervisor-level fields at l2, hypercalls at l0 (8).
 */
#define UNREPORTED (2 * CNT_EXITS + 17 + CNT_HCALLS)

static size_t idx(const char *name)
{
	size_t i = (size_t)-1;

	if (!counters_find(name, &i))
		fail_msg("no counter named %s", name);
	return i;
}

static void test_names_unique_and_wellformed(void **state)
{
	size_t n = counters_count();
	char a[COUNTERS_NAME_MAX], b[COUNTERS_NAME_MAX];

	(void)state;
	assert_int_equal(n, NWORDS - UNREPORTED);
	for (size_t i = 0; i < n; i++) {
		assert_true(counters_name(i, a, sizeof(a)));
		assert_non_null(counters_help(i));
		for (const char *s = a; *s; s++)
			assert_true((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '.');
		for (size_t j = i + 1; j < n; j++) {
			assert_true(counters_name(j, b, sizeof(b)));
			assert_string_not_equal(a, b);
		}
		size_t back;
		assert_true(counters_find(a, &back));
		assert_int_equal(back, i);
	}
	assert_false(counters_name(n, a, sizeof(a)));
	assert_null(counters_help(n));
	assert_false(counters_name(0, a, 3)); /* "exits...." does not fit */
	assert_false(counters_find("exits.l0.by_l0.npf", NULL)); /* l0 never exits */
	assert_false(counters_find("sw_walks.l2", NULL));         /* l2 runs no hypervisor */
	assert_false(counters_find("hypercalls.l0.other", NULL));
	assert_false(counters_find("nonsense", NULL));
}

/* Every reported index addresses a distinct word of the struct, and names follow the field. */
static void test_index_maps_to_field(void **state)
{
	static struct counters c;
	size_t n = counters_count();
	unsigned char seen[NWORDS];

	(void)state;
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < n; i++) {
		uint64_t *p = counters_at(&c, i);
		size_t w;

		assert_non_null(p);
		assert_true((char *)p >= (char *)&c && (char *)p < (char *)(&c + 1));
		w = (size_t)(p - (uint64_t *)&c);
		assert_int_equal(seen[w], 0);
		seen[w] = 1;
	}
	assert_null(counters_at(&c, n));

	assert_ptr_equal(counters_at(&c, idx("exits.l2.reflected.ept_violation")), &c.exits[CNT_L2][CNT_REFLECTED][CNT_EXIT_EPT_VIOLATION]);
	assert_ptr_equal(counters_at(&c, idx("exits.l1.by_l0.vmread_vmwrite")), &c.exits[CNT_L1][CNT_BY_L0][CNT_EXIT_VMREAD_VMWRITE]);
	assert_ptr_equal(counters_at(&c, idx("exits.l2.by_l0.other")), &c.exits[CNT_L2][CNT_BY_L0][CNT_EXIT_OTHER]);
	assert_ptr_equal(counters_at(&c, idx("guest_pf.l0")), &c.guest_pf[CNT_L0]);
	assert_ptr_equal(counters_at(&c, idx("tlb_misses.l1.ntlb")), &c.tlb_misses[CNT_L1][CNT_TLB_NTLB]);
	assert_ptr_equal(counters_at(&c, idx("walk_refs.l2.nested")), &c.walk_refs[CNT_L2][CNT_DIM_NESTED]);
	assert_ptr_equal(counters_at(&c, idx("ad_writes.l0.guest")), &c.ad_writes[CNT_L0][CNT_DIM_GUEST]);
	assert_ptr_equal(counters_at(&c, idx("sw_walk_refs.l1")), &c.sw_walk_refs[CNT_L1]);
	assert_ptr_equal(counters_at(&c, idx("spt_root_misses.l0")), &c.spt_root_misses[CNT_L0]);
	assert_ptr_equal(counters_at(&c, idx("flushes.l2.ept_all")), &c.flushes[CNT_L2][CNT_FLUSH_EPT_ALL]);
	assert_ptr_equal(counters_at(&c, idx("hypercalls.l1.pv_zap_all")), &c.hypercalls[CNT_L1][CNT_HC_PV_ZAP_ALL]);
	assert_ptr_equal(counters_at(&c, idx("pt_alloc.guest_l0")), &c.pt_alloc[CNT_PT_GUEST_L0]);
	assert_ptr_equal(counters_at(&c, idx("pt_peak.ept02")), &c.pt_peak[CNT_PT_EPT02]);

	c.tdp_entries_set[CNT_L1] = 42;
	assert_int_equal(counters_get(&c, idx("tdp_entries_set.l1")), 42);
	assert_int_equal(counters_get(&c, counters_count()), 0);
}

static void fill(struct counters *c, uint64_t seed)
{
	uint64_t *w = (uint64_t *)c;

	for (size_t k = 0; k < NWORDS; k++)
		w[k] = seed * 1000003u + k * 7u + 1u;
}

static void test_zero_add(void **state)
{
	static struct counters a, b, sum;
	const uint64_t *wa, *wb, *ws;

	(void)state;
	fill(&a, 1);
	counters_zero(&a);
	for (size_t k = 0; k < NWORDS; k++)
		assert_int_equal(((uint64_t *)&a)[k], 0);

	fill(&a, 3);
	fill(&b, 5);
	sum = a;
	counters_add(&sum, &b);
	wa = (const uint64_t *)&a;
	wb = (const uint64_t *)&b;
	ws = (const uint64_t *)&sum;
	for (size_t k = 0; k < NWORDS; k++)
		assert_int_equal(ws[k], wa[k] + wb[k]);
	assert_int_equal(sum.pt_peak[CNT_PT_EPT12], a.pt_peak[CNT_PT_EPT12] + b.pt_peak[CNT_PT_EPT12]);
}

static void test_diff(void **state)
{
	static struct counters before, after, d;

	(void)state;
	counters_zero(&before);
	before.exits[CNT_L2][CNT_REFLECTED][CNT_EXIT_PF] = 10;
	before.instructions[CNT_L1] = 100;
	counters_pt_alloc(&before, CNT_PT_SHADOW_L0);
	counters_pt_alloc(&before, CNT_PT_SHADOW_L0);
	counters_pt_alloc(&before, CNT_PT_SHADOW_L0); /* peak 3 */

	after = before;
	after.exits[CNT_L2][CNT_REFLECTED][CNT_EXIT_PF] = 15;
	after.instructions[CNT_L1] = 160;
	counters_pt_free(&after, CNT_PT_SHADOW_L0);
	counters_pt_free(&after, CNT_PT_SHADOW_L0);
	counters_pt_alloc(&after, CNT_PT_SHADOW_L0); /* 2 live, peak stays 3 */
	counters_pt_alloc(&after, CNT_PT_SHADOW_L0);
	counters_pt_alloc(&after, CNT_PT_SHADOW_L0); /* 4 live, peak 4 */

	assert_true(counters_diff(&d, &after, &before));
	assert_int_equal(d.exits[CNT_L2][CNT_REFLECTED][CNT_EXIT_PF], 5);
	assert_int_equal(d.instructions[CNT_L1], 60);
	assert_int_equal(d.pt_alloc[CNT_PT_SHADOW_L0], 3);
	assert_int_equal(d.pt_free[CNT_PT_SHADOW_L0], 2);
	assert_int_equal(d.pt_peak[CNT_PT_SHADOW_L0], 4); /* gauge: after's value */
	assert_int_equal(d.guest_pf[CNT_L0], 0);

	/* before + (after - before) == after, except the gauge */
	counters_add(&d, &before);
	d.pt_peak[CNT_PT_SHADOW_L0] = after.pt_peak[CNT_PT_SHADOW_L0];
	assert_memory_equal(&d, &after, sizeof(d));

	/* swapped snapshots: reported, and the decreasing counters come out 0 */
	assert_false(counters_diff(&d, &before, &after));
	assert_int_equal(d.instructions[CNT_L1], 0);
	assert_int_equal(d.pt_peak[CNT_PT_SHADOW_L0], 3);

	/* out may alias after */
	d = after;
	assert_true(counters_diff(&d, &d, &before));
	assert_int_equal(d.instructions[CNT_L1], 60);
	assert_int_equal(d.pt_peak[CNT_PT_SHADOW_L0], 4);
}

struct visit {
	char names[8][COUNTERS_NAME_MAX];
	uint64_t values[8];
	unsigned n, stop_at;
};

static int visitor(void *ctx, const char *name, uint64_t value)
{
	struct visit *v = ctx;

	if (v->n < 8) {
		snprintf(v->names[v->n], COUNTERS_NAME_MAX, "%s", name);
		v->values[v->n] = value;
	}
	v->n++;
	return (v->stop_at && v->n == v->stop_at) ? 7 : 0;
}

static void test_foreach(void **state)
{
	static struct counters c;
	struct visit v;

	(void)state;
	counters_zero(&c);
	memset(&v, 0, sizeof(v));
	assert_int_equal(counters_foreach(&c, false, visitor, &v), 0);
	assert_int_equal(v.n, counters_count());
	assert_string_equal(v.names[0], "exits.l1.by_l0.ept_violation");

	c.exits[CNT_L2][CNT_REFLECTED][CNT_EXIT_NPF] = 3;
	c.walk_refs[CNT_L0][CNT_DIM_GUEST] = 24;
	c.pt_peak[CNT_PT_EPT02] = 9;
	memset(&v, 0, sizeof(v));
	assert_int_equal(counters_foreach(&c, true, visitor, &v), 0);
	assert_int_equal(v.n, 3);
	assert_string_equal(v.names[0], "exits.l2.reflected.npf");
	assert_int_equal(v.values[0], 3);
	assert_string_equal(v.names[1], "walk_refs.l0.guest");
	assert_int_equal(v.values[1], 24);
	assert_string_equal(v.names[2], "pt_peak.ept02");
	assert_int_equal(v.values[2], 9);

	memset(&v, 0, sizeof(v));
	v.stop_at = 2;
	assert_int_equal(counters_foreach(&c, true, visitor, &v), 7);
	assert_int_equal(v.n, 2);
}

static void test_helpers(void **state)
{
	static struct counters c;

	(void)state;
	counters_zero(&c);
	c.exits[CNT_L2][CNT_REFLECTED][CNT_EXIT_EPT_VIOLATION] = 5;
	c.exits[CNT_L2][CNT_BY_L0][CNT_EXIT_EPT_VIOLATION] = 7;
	c.exits[CNT_L1][CNT_BY_L0][CNT_EXIT_VMRESUME] = 5;
	c.exits[CNT_L1][CNT_BY_L0][CNT_EXIT_VMREAD_VMWRITE] = 20;
	assert_int_equal(counters_exits_sum(&c, -1, -1, -1), 37);
	assert_int_equal(counters_exits_sum(&c, CNT_L2, -1, -1), 12);
	assert_int_equal(counters_exits_sum(&c, -1, CNT_REFLECTED, -1), 5);
	assert_int_equal(counters_exits_sum(&c, -1, -1, CNT_EXIT_EPT_VIOLATION), 12);
	assert_int_equal(counters_exits_sum(&c, CNT_L1, CNT_BY_L0, CNT_EXIT_VMRESUME), 5);

	c.guest_pf[CNT_L0] = 1;
	c.guest_pf[CNT_L2] = 2;
	assert_int_equal(counters_sum_levels(c.guest_pf), 3);

	counters_pt_alloc(&c, CNT_PT_EPT12);
	counters_pt_alloc(&c, CNT_PT_EPT12);
	counters_pt_free(&c, CNT_PT_EPT12);
	counters_pt_alloc(&c, CNT_PT_EPT12);
	assert_int_equal(counters_pt_live(&c, CNT_PT_EPT12), 2);
	assert_int_equal(c.pt_peak[CNT_PT_EPT12], 2);
	assert_int_equal(cnt_pt_owner(CNT_PT_EPT12), CNT_L1);
	assert_int_equal(cnt_pt_owner(CNT_PT_EPT02), CNT_L0);
	assert_int_equal(cnt_pt_owner(CNT_PT_GUEST_L2), CNT_L2);

	assert_string_equal(cnt_exit_name(CNT_EXIT_CR0_CR4_WRITE), "cr0_cr4_write");
	assert_string_equal(cnt_exit_name(CNT_EXITS), "?");
	assert_string_equal(cnt_handler_name(CNT_REFLECTED), "reflected");
	assert_string_equal(cnt_level_name(CNT_L2), "l2");
	assert_string_equal(cnt_tlb_name(CNT_TLB_NPSC), "npsc");
	assert_string_equal(cnt_dim_name(CNT_DIM_NESTED), "nested");
	assert_string_equal(cnt_flush_name(CNT_FLUSH_ALL_NONGLOBAL), "all_nonglobal");
	assert_string_equal(cnt_hcall_name(CNT_HC_PV_MAP), "pv_map");
	assert_string_equal(cnt_pt_name(CNT_PT_SHADOW_L1), "shadow_l1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_unique_and_wellformed),
		cmocka_unit_test(test_index_maps_to_field),
		cmocka_unit_test(test_zero_add),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_foreach),
		cmocka_unit_test(test_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
