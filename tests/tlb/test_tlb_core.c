/*
 * The TLB model's structures on their own (no walker): tags and matching,
 * page sizes, set-associativity and replacement, the paging-structure
 * caches, the nested TLB, counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/tlb.h"
#include "arch/x86.h"

static struct tlb_config small_config(void)
{
	struct tlb_config c;

	memset(&c, 0, sizeof(c));
	c.tlb[TLB_CLASS_4K] = (struct tlb_geom){ 2, 2 };
	c.tlb[TLB_CLASS_LARGE] = (struct tlb_geom){ 2, 2 };
	c.tlb[TLB_CLASS_1G] = (struct tlb_geom){ 1, 2 };
	for (unsigned l = 2; l <= 5; l++) {
		c.psc[l] = (struct tlb_geom){ 2, 2 };
		c.npsc[l] = (struct tlb_geom){ 2, 2 };
	}
	c.ntlb[TLB_CLASS_4K] = (struct tlb_geom){ 2, 2 };
	c.ntlb[TLB_CLASS_LARGE] = (struct tlb_geom){ 2, 2 };
	c.ntlb[TLB_CLASS_1G] = (struct tlb_geom){ 1, 2 };
	c.repl = TLB_REPL_LRU;
	return c;
}

static void set_ctx(struct tlb *t, uint32_t vpid, uint16_t pcid, enum tlb_kind kind, uint64_t root)
{
	struct tlb_context c;

	tlb_context_4level(&c, 4);
	c.lin = (struct tlb_tag){ .vpid = vpid, .pcid = pcid, .kind = (uint8_t)kind, .root = root };
	c.nest = (struct tlb_tag){ .vpid = 0, .pcid = 0, .kind = TLB_GPHYS, .root = root };
	tlb_set_context(t, &c);
}

/* A translation la -> hpa = la + 0x80000000 (gpa = la + 0x40000000), all rights. */
static void fill(struct tlb *t, uint64_t la, uint64_t size, bool global)
{
	struct tlb_fill f = {
		.la = la, .gpa = la + 0x40000000, .hpa = la + 0x80000000,
		.size = size, .guest_size = size,
		.grights = RIGHT_ALL, .nrights = RIGHT_ALL,
		.global = global, .gdirty = true, .ndirty = true,
	};
	tlb_fill(t, &f);
}

static struct tlb *make(const struct tlb_config *c)
{
	struct tlb *t = tlb_create(c);
	assert_non_null(t);
	set_ctx(t, 0, 0, TLB_LINEAR, 0);
	return t;
}

/* A 4 KiB entry translates its page and nothing else; offsets carry over. */
static void test_fill_lookup_4k(void **state)
{
	struct tlb_config c = small_config();
	struct tlb *t = make(&c);
	const struct tlb_entry *e;

	(void)state;
	fill(t, 0x12345678, PAGE_SIZE_4K, false);
	e = tlb_lookup(t, 0x12345000);
	assert_non_null(e);
	assert_int_equal(e->addr, 0x12345000);
	assert_int_equal(e->size, PAGE_SIZE_4K);
	assert_int_equal(e->gpa, 0x52345000);
	assert_int_equal(e->out, 0x92345000);
	assert_non_null(tlb_lookup(t, 0x12345fff));
	assert_null(tlb_lookup(t, 0x12346000));
	assert_null(tlb_lookup(t, 0x12344fff));
	tlb_destroy(t);
}

/* A large page may be cached as one entry (SDM 4.10.2.3): 2M, 4M, 1G. */
static void test_page_sizes(void **state)
{
	struct tlb_config c = small_config();
	struct tlb *t = make(&c);
	const struct tlb_entry *e;

	(void)state;
	fill(t, 0x00200000 + 0x1234, PAGE_SIZE_2M, false);
	fill(t, 0x00c00000 + 0x5678, PAGE_SIZE_4M, false); /* 32-bit paging 4 MiB page */
	fill(t, UINT64_C(0x40000000) + 0x9abcd, PAGE_SIZE_1G, false);

	e = tlb_lookup(t, 0x003fffff);
	assert_non_null(e);
	assert_int_equal(e->size, PAGE_SIZE_2M);
	assert_int_equal(e->addr, 0x00200000);
	assert_null(tlb_lookup(t, 0x00400000));

	e = tlb_lookup(t, 0x00ffffff);
	assert_non_null(e);
	assert_int_equal(e->size, PAGE_SIZE_4M);
	assert_int_equal(e->addr, 0x00c00000);
	assert_null(tlb_lookup(t, 0x01000000));
	assert_null(tlb_lookup(t, 0x00bfffff));

	e = tlb_lookup(t, UINT64_C(0x7fffffff));
	assert_non_null(e);
	assert_int_equal(e->size, PAGE_SIZE_1G);
	assert_int_equal(e->out, UINT64_C(0xc0000000));
	assert_null(tlb_lookup(t, UINT64_C(0x80000000)));
	/* one entry per page: 3 fills, 3 entries */
	assert_int_equal(tlb_count_valid(t, TLB_S_TLB), 3);
	tlb_destroy(t);
}

/*
 * An absent 1G class: the 1G page is cached as the 2M entry containing LA
 * ("some processors may choose to cache multiple smaller-page TLB entries
 * for that translation", SDM 4.10.2.3); no class at all: nothing cached.
 */
static void test_absent_class_splits(void **state)
{
	struct tlb_config c = small_config();
	struct tlb *t;
	const struct tlb_entry *e;
	uint64_t la = UINT64_C(0x40000000) + 3 * PAGE_SIZE_2M + 0x1234;

	(void)state;
	c.tlb[TLB_CLASS_1G] = (struct tlb_geom){ 0, 0 };
	t = make(&c);
	fill(t, la, PAGE_SIZE_1G, false);
	e = tlb_lookup(t, la);
	assert_non_null(e);
	assert_int_equal(e->size, PAGE_SIZE_2M);
	assert_int_equal(e->addr, UINT64_C(0x40000000) + 3 * PAGE_SIZE_2M);
	assert_int_equal(e->out, UINT64_C(0xc0000000) + 3 * PAGE_SIZE_2M);
	assert_int_equal(e->span, PAGE_SIZE_1G);
	/* another 2M of the same 1G page is not translated by this entry */
	assert_null(tlb_lookup(t, UINT64_C(0x40000000)));
	tlb_destroy(t);

	memset(&c.tlb, 0, sizeof(c.tlb));
	t = make(&c);
	fill(t, la, PAGE_SIZE_1G, false);
	fill(t, 0x1000, PAGE_SIZE_4K, false);
	assert_int_equal(tlb_count_valid(t, TLB_S_TLB), 0);
	assert_int_equal(tlb_get_stats(t)->tlb.fills, 0);
	tlb_destroy(t);
}

/* A global entry matches any PCID; a non-global one only its own (SDM 4.10.2.4). */
static void test_global_vs_pcid(void **state)
{
	struct tlb_config c = small_config();
	struct tlb *t = make(&c);

	(void)state;
	set_ctx(t, 0, 1, TLB_LINEAR, 0);
	fill(t, 0x1000, PAGE_SIZE_4K, false);
	fill(t, 0x2000, PAGE_SIZE_4K, true);
	set_ctx(t, 0, 2, TLB_LINEAR, 0);
	assert_null(tlb_lookup(t, 0x1000));     /* PCID isolation */
	assert_non_null(tlb_lookup(t, 0x2000)); /* global: any PCID */
	set_ctx(t, 0, 1, TLB_LINEAR, 0);
	assert_non_null(tlb_lookup(t, 0x1000));
	tlb_destroy(t);
}

/*
 * VPID/ASID isolation, and the mapping kinds of Vol. 3C 29.4.2: "No linear
 * mappings are used while EPT is in use"; combined mappings only for the
 * current EP4TA; a global entry is global within its VPID only.
 */
static void test_vpid_kind_root_isolation(void **state)
{
	struct tlb_config c = small_config();
	struct tlb *t = make(&c);

	(void)state;
	set_ctx(t, 1, 0, TLB_LINEAR, 0);
	fill(t, 0x1000, PAGE_SIZE_4K, true);
	set_ctx(t, 2, 0, TLB_LINEAR, 0);
	assert_null(tlb_lookup(t, 0x1000));
	set_ctx(t, 1, 0, TLB_COMBINED, 0x5000);
	assert_null(tlb_lookup(t, 0x1000));
	fill(t, 0x1000, PAGE_SIZE_4K, false);
	set_ctx(t, 1, 0, TLB_COMBINED, 0x6000);
	assert_null(tlb_lookup(t, 0x1000));
	set_ctx(t, 1, 0, TLB_COMBINED, 0x5000);
	assert_non_null(tlb_lookup(t, 0x1000));
	set_ctx(t, 1, 0, TLB_LINEAR, 0);
	assert_non_null(tlb_lookup(t, 0x1000));
	assert_int_equal(tlb_count_valid(t, TLB_S_TLB), 2);
	tlb_destroy(t);
}

/* A fill replaces whatever the same lookup would have found. */
static void test_refill_replaces(void **state)
{
	struct tlb_config c = small_config();
	struct tlb *t = make(&c);
	const struct tlb_entry *e;
	struct tlb_fill f = {
		.la = 0x1000, .gpa = 0x7000, .hpa = 0x9000, .size = PAGE_SIZE_4K,
		.guest_size = PAGE_SIZE_4K, .grights = RIGHT_R, .nrights = RIGHT_ALL,
	};

	(void)state;
	set_ctx(t, 0, 3, TLB_LINEAR, 0);
	fill(t, 0x1000, PAGE_SIZE_4K, true); /* global, made under PCID 3 */
	set_ctx(t, 0, 4, TLB_LINEAR, 0);
	tlb_fill(t, &f);                     /* PCID 4 walks the page again */
	assert_int_equal(tlb_count_valid(t, TLB_S_TLB), 1);
	e = tlb_lookup(t, 0x1000);
	assert_non_null(e);
	assert_int_equal(e->out, 0x9000);
	assert_int_equal(e->grights, RIGHT_R);
	assert_false(e->global);
	assert_false(e->gdirty);
	tlb_destroy(t);
}

/*
 * 2 sets x 2 ways, LRU: pages 0x0000, 0x2000, 0x4000 share set 0
 * ((la >> 12) % 2 == 0); 0x1000 is in set 1. The third fill of set 0
 * replaces its least recently used way.
 */
static void test_lru_eviction(void **state)
{
	struct tlb_config c = small_config();
	struct tlb *t = make(&c);

	(void)state;
	fill(t, 0x0000, PAGE_SIZE_4K, false);
	fill(t, 0x2000, PAGE_SIZE_4K, false);
	fill(t, 0x1000, PAGE_SIZE_4K, false);
	assert_non_null(tlb_lookup(t, 0x0000)); /* 0x0000 now more recent than 0x2000 */
	fill(t, 0x4000, PAGE_SIZE_4K, false);
	assert_non_null(tlb_peek(t, 0x0000));
	assert_null(tlb_peek(t, 0x2000));
	assert_non_null(tlb_peek(t, 0x4000));
	assert_non_null(tlb_peek(t, 0x1000));   /* other set untouched */
	assert_int_equal(tlb_get_stats(t)->tlb.evictions, 1);
	assert_int_equal(tlb_get_stats(t)->tlb_class[TLB_CLASS_4K].evictions, 1);
	tlb_destroy(t);
}

/* Round-robin ignores use: ways are replaced 0, 1, 0, ... per set. */
static void test_rr_eviction(void **state)
{
	struct tlb_config c = small_config();
	struct tlb *t;

	(void)state;
	c.repl = TLB_REPL_RR;
	t = make(&c);
	fill(t, 0x0000, PAGE_SIZE_4K, false); /* way 0 (free) */
	fill(t, 0x2000, PAGE_SIZE_4K, false); /* way 1 (free) */
	assert_non_null(tlb_lookup(t, 0x0000));
	fill(t, 0x4000, PAGE_SIZE_4K, false); /* replaces way 0: 0x0000 */
	assert_null(tlb_peek(t, 0x0000));
	assert_non_null(tlb_peek(t, 0x2000));
	fill(t, 0x6000, PAGE_SIZE_4K, false); /* replaces way 1: 0x2000 */
	assert_null(tlb_peek(t, 0x2000));
	assert_non_null(tlb_peek(t, 0x4000));
	assert_non_null(tlb_peek(t, 0x6000));
	tlb_destroy(t);
}

/* Same sequence, same contents: replacement is deterministic. */
static void test_deterministic(void **state)
{
	struct tlb_config c;
	struct tlb *a, *b;

	(void)state;
	tlb_config_default(&c);
	a = make(&c);
	b = make(&c);
	for (uint64_t i = 0; i < 5000; i++) {
		uint64_t la = ((i * 2654435761u) % 4096) << 12;
		fill(a, la, PAGE_SIZE_4K, false);
		fill(b, la, PAGE_SIZE_4K, false);
		if (i % 3 == 0) {
			tlb_lookup(a, la ^ 0x5000);
			tlb_lookup(b, la ^ 0x5000);
		}
	}
	for (uint64_t p = 0; p < 4096; p++)
		assert_true((tlb_peek(a, p << 12) != NULL) == (tlb_peek(b, p << 12) != NULL));
	assert_int_equal(tlb_count_valid(a, TLB_S_TLB), 1536);
	tlb_destroy(a);
	tlb_destroy(b);
}

/* Hits, misses, fills counted per class and in the aggregate. */
static void test_counters(void **state)
{
	struct tlb_config c = small_config();
	struct tlb *t = make(&c);
	const struct tlb_stats *s = tlb_get_stats(t);

	(void)state;
	fill(t, 0x1000, PAGE_SIZE_4K, false);
	fill(t, 0x200000, PAGE_SIZE_2M, false);
	tlb_lookup(t, 0x1000);
	tlb_lookup(t, 0x1000);
	tlb_lookup(t, 0x201000);
	tlb_lookup(t, 0x5000);
	assert_int_equal(s->tlb.fills, 2);
	assert_int_equal(s->tlb.hits, 3);
	assert_int_equal(s->tlb.misses, 1);
	assert_int_equal(s->tlb_class[TLB_CLASS_4K].hits, 2);
	assert_int_equal(s->tlb_class[TLB_CLASS_LARGE].hits, 1);
	assert_int_equal(s->tlb_class[TLB_CLASS_LARGE].fills, 1);
	tlb_peek(t, 0x1000); /* peeks are not counted */
	assert_int_equal(s->tlb.hits, 3);
	assert_int_equal(tlb_flush_all(t), 2);
	assert_int_equal(s->tlb.invalidated, 2);
	assert_int_equal(s->ops[TLB_OP_FLUSH], 1);
	assert_int_equal(s->op_dropped[TLB_OP_FLUSH], 2);
	tlb_reset_stats(t);
	assert_int_equal(s->tlb.hits, 0);
	tlb_destroy(t);
}

/*
 * Paging-structure caches (SDM 4.10.3): an entry of level L covers the
 * addresses that share the bits the upper levels translate (2^shift[L]
 * bytes); the walk resumes from the deepest one. walk.h's level is the
 * level to resume at, the cached entry's level minus one.
 */
static void test_psc(void **state)
{
	struct tlb_config c = small_config();
	struct tlb *t = make(&c);
	const struct tlb_stats *s = tlb_get_stats(t);
	unsigned level, rights;
	uint64_t table;

	(void)state;
	set_ctx(t, 0, 1, TLB_LINEAR, 0);
	/* PML4E for [512G, 1T) -> PDPT at 0xa000; PDE for [512G+2M, 512G+4M) -> PT at 0xc000 */
	tlb_psc_fill(t, 0, UINT64_C(0x8000000000) + 0x12345, 3, 0xa000, RIGHT_ALL);
	tlb_psc_fill(t, 0, UINT64_C(0x8000200000) + 0x1000, 1, 0xc000, RIGHT_R | RIGHT_U);

	assert_true(tlb_psc_lookup(t, 0, UINT64_C(0x80003fffff), &level, &table, &rights));
	assert_int_equal(level, 1);
	assert_int_equal(table, 0xc000);
	assert_int_equal(rights, RIGHT_R | RIGHT_U);
	assert_int_equal(s->psc[2].hits, 1);

	/* outside the PDE's 2M but inside the PML4E's 512G: resume at level 3 */
	assert_true(tlb_psc_lookup(t, 0, UINT64_C(0x8040000000), &level, &table, &rights));
	assert_int_equal(level, 3);
	assert_int_equal(table, 0xa000);
	assert_int_equal(s->psc[2].misses, 1);
	assert_int_equal(s->psc[3].misses, 1);
	assert_int_equal(s->psc[4].hits, 1);

	assert_false(tlb_psc_lookup(t, 0, 0x1000, &level, &table, &rights));
	/* PSC entries are per PCID, never global */
	set_ctx(t, 0, 2, TLB_LINEAR, 0);
	assert_false(tlb_psc_lookup(t, 0, UINT64_C(0x8000200000), &level, &table, &rights));
	/* the nested PSC is a separate structure */
	set_ctx(t, 0, 1, TLB_LINEAR, 0);
	assert_false(tlb_psc_lookup(t, 1, UINT64_C(0x8000200000), &level, &table, &rights));
	tlb_psc_fill(t, 1, 0x1000, 2, 0xd000, RIGHT_ALL);
	assert_true(tlb_psc_lookup(t, 1, 0x3fffffff, &level, &table, &rights));
	assert_int_equal(level, 2);
	assert_int_equal(table, 0xd000);
	assert_int_equal(s->npsc[3].hits, 1);
	assert_int_equal(tlb_count_valid(t, TLB_S_PSC), 2);
	assert_int_equal(tlb_count_valid(t, TLB_S_NPSC), 1);
	tlb_destroy(t);
}

/* A context without a level (32-bit paging has no level 3+) caches nothing there. */
static void test_psc_format_levels(void **state)
{
	struct tlb_config c = small_config();
	struct tlb *t = make(&c);
	struct tlb_context ctx;
	unsigned level, rights;
	uint64_t table;

	(void)state;
	memset(&ctx, 0, sizeof(ctx));
	ctx.lin.kind = TLB_LINEAR;
	ctx.nest.kind = TLB_GPHYS;
	ctx.gshift[2] = 22; /* 32-bit paging: a PDE covers 4 MiB */
	tlb_set_context(t, &ctx);
	tlb_psc_fill(t, 0, 0x00400000, 2, 0x1000, RIGHT_ALL); /* level 3: none */
	tlb_psc_fill(t, 0, 0x00400000, 1, 0x2000, RIGHT_ALL);
	assert_int_equal(tlb_count_valid(t, TLB_S_PSC), 1);
	assert_true(tlb_psc_lookup(t, 0, 0x007fffff, &level, &table, &rights));
	assert_int_equal(level, 1);
	assert_int_equal(table, 0x2000);
	assert_false(tlb_psc_lookup(t, 0, 0x00800000, &level, &table, &rights));
	tlb_destroy(t);
}

/* Nested TLB: gpa -> hpa per nested page, tagged with the EP4TA. */
static void test_ntlb(void **state)
{
	struct tlb_config c = small_config();
	struct tlb *t = make(&c);
	const struct tlb_stats *s = tlb_get_stats(t);
	uint64_t hpa, size;
	unsigned rights;
	bool dirty;

	(void)state;
	set_ctx(t, 0, 0, TLB_COMBINED, 0x111000);
	tlb_ntlb_fill(t, 0x200000, 0x80200000, PAGE_SIZE_2M, RIGHT_R | RIGHT_W, false);
	tlb_ntlb_fill(t, 0x5000, 0x99000, PAGE_SIZE_4K, RIGHT_ALL, true);
	assert_true(tlb_ntlb_lookup(t, 0x3fffff, &hpa, &size, &rights, &dirty));
	assert_int_equal(hpa, 0x80200000);
	assert_int_equal(size, PAGE_SIZE_2M);
	assert_int_equal(rights, RIGHT_R | RIGHT_W);
	assert_false(dirty);
	assert_true(tlb_ntlb_lookup(t, 0x5abc, &hpa, &size, &rights, &dirty));
	assert_int_equal(hpa, 0x99000);
	assert_true(dirty);
	assert_false(tlb_ntlb_lookup(t, 0x6000, &hpa, &size, &rights, &dirty));
	set_ctx(t, 0, 0, TLB_COMBINED, 0x222000); /* another EPTP */
	assert_false(tlb_ntlb_lookup(t, 0x5abc, &hpa, &size, &rights, &dirty));
	assert_int_equal(s->ntlb.hits, 2);
	assert_int_equal(s->ntlb.misses, 2);
	assert_int_equal(s->ntlb.fills, 2);
	tlb_destroy(t);
}

static void test_bad_config(void **state)
{
	struct tlb_config c = small_config();

	(void)state;
	c.tlb[TLB_CLASS_4K] = (struct tlb_geom){ 1u << 20, 16 };
	assert_null(tlb_create(&c));
	c = small_config();
	c.repl = (enum tlb_repl)7;
	assert_null(tlb_create(&c));
	assert_string_equal(tlb_op_name(TLB_OP_INVEPT1), "invept1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fill_lookup_4k),
		cmocka_unit_test(test_page_sizes),
		cmocka_unit_test(test_absent_class_splits),
		cmocka_unit_test(test_global_vs_pcid),
		cmocka_unit_test(test_vpid_kind_root_isolation),
		cmocka_unit_test(test_refill_replaces),
		cmocka_unit_test(test_lru_eviction),
		cmocka_unit_test(test_rr_eviction),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_psc),
		cmocka_unit_test(test_psc_format_levels),
		cmocka_unit_test(test_ntlb),
		cmocka_unit_test(test_bad_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
