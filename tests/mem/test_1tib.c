/*
 * A guest of 1 TiB (2^28 pages) touched sparsely: host memory must stay in
 * proportion to what is touched (and to the page tables), never to the
 * guest size. Prints the figures.
 *
 * Rules used for expected values:
 *  - frames.h: frames are handed out lowest first, so with no frees the
 *    k-th distinct page touched (k = 0, 1, ...) gets FIRST_HFN + k;
 *  - u64map.h: a slot's backing map of D entries takes 16 * cap bytes, cap
 *    the smallest power of two >= 16 with D <= 3/4 cap;
 *  - sbitmap.h: the allocator's bits cost 4 KiB per partly used chunk of
 *    32768 frames, nothing for a full one beyond its 16-byte map entry;
 *  - mem_l0.h: only table pages are written, so hostmem stores exactly
 *    the table pages; a 4-level table over D random pages has
 *    1 + distinct(gfn >> 27) + distinct(gfn >> 18) + distinct(gfn >> 9) pages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "mem/frames.h"
#include "mem/hostmem.h"
#include "mem/mem_l0.h"
#include "mem/mem_port.h"
#include "mem/memslot.h"
#include "rng.h"

#define GUEST_PAGES (UINT64_C(1) << 28) /* 1 TiB */
#define FIRST_HFN   0x100u
#define TOUCHES     100000u
#define PT_TOUCHES  10000u

struct host {
	struct hostmem *hm;
	struct frames *fr;
	struct mem_l0 *l0;
	struct memslots *ms;
};

static void host_init(struct host *h)
{
	h->hm = hostmem_create(UINT64_C(1) << 46);
	h->fr = frames_create(FIRST_HFN, (UINT64_C(1) << 34) - FIRST_HFN);
	h->l0 = mem_l0_create(h->hm, h->fr);
	h->ms = memslots_create(h->fr, 41);
	assert_non_null(h->ms);
	assert_non_null(h->l0);
	assert_int_equal(memslots_add(h->ms, &(struct memslot_desc){ .id = 1, .base_gfn = 0,
				       .npages = GUEST_PAGES }), MEMSLOT_OK);
}

static void host_fini(struct host *h)
{
	memslots_destroy(h->ms);
	mem_l0_destroy(h->l0);
	assert_int_equal(frames_allocated(h->fr), 0);
	assert_int_equal(hostmem_stored_pages(h->hm), 0);
	frames_destroy(h->fr);
	hostmem_destroy(h->hm);
}

static size_t host_bytes(const struct host *h)
{
	return hostmem_meta_bytes(h->hm) + frames_meta_bytes(h->fr) + mem_l0_meta_bytes(h->l0) +
	       memslots_meta_bytes(h->ms);
}

static size_t rule_cap(size_t n)
{
	size_t cap = 16;

	while (n > cap / 4 * 3)
		cap *= 2;
	return cap;
}

struct touch {
	uint64_t gfn, idx, hfn;
};

static int by_gfn_idx(const void *a, const void *b)
{
	const struct touch *x = a, *y = b;

	if (x->gfn != y->gfn)
		return x->gfn < y->gfn ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int by_idx(const void *a, const void *b)
{
	const struct touch *x = a, *y = b;

	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_1tib_data_pages(void **state)
{
	static struct touch t[TOUCHES], first[TOUCHES];
	struct host h;
	struct frames_stats st;
	uint64_t seed = 2024, distinct = 0, page;
	size_t slot_bytes, frames_bytes, total, before;

	(void)state;
	host_init(&h);
	before = host_bytes(&h);
	for (uint64_t i = 0; i < TOUCHES; i++) {
		t[i].gfn = rng_below(&seed, GUEST_PAGES);
		t[i].idx = i;
		assert_int_equal(memslots_gfn_to_hfn(h.ms, t[i].gfn, &t[i].hfn, NULL), MEMSLOT_OK);
	}
	/* every touch of a page gives the frame of its first touch */
	qsort(t, TOUCHES, sizeof(t[0]), by_gfn_idx);
	for (uint64_t i = 0; i < TOUCHES; i++) {
		if (i == 0 || t[i].gfn != t[i - 1].gfn)
			first[distinct++] = t[i];
		else
			assert_int_equal(t[i].hfn, t[i - 1].hfn);
	}
	/* the k-th distinct page first touched got FIRST_HFN + k */
	qsort(first, distinct, sizeof(first[0]), by_idx);
	for (uint64_t k = 0; k < distinct; k++)
		assert_int_equal(first[k].hfn, FIRST_HFN + k);
	frames_get_stats(h.fr, &st);
	assert_int_equal(st.allocated, distinct);
	assert_int_equal(st.peak, distinct);
	assert_int_equal(memslots_backed_pages(h.ms), distinct);
	/* data frames are tracked, never stored */
	assert_int_equal(hostmem_stored_pages(h.hm), 0);

	/* bookkeeping, by the rules in the header comment */
	slot_bytes = memslots_meta_bytes(h.ms);
	frames_bytes = frames_meta_bytes(h.fr);
	assert_true(slot_bytes >= 16 * rule_cap(distinct));
	assert_true(slot_bytes <= 16 * rule_cap(distinct) + 1024);
	/* frames FIRST_HFN .. FIRST_HFN + distinct - 1: chunks 0 and 3 partial, 1 and 2 full */
	assert_true(distinct > 3 * 32768 - FIRST_HFN && distinct < 4 * 32768 - FIRST_HFN);
	assert_true(frames_bytes <= 2 * 4104 + 16 * 16 + 1024);
	total = host_bytes(&h);
	assert_true(total < 64 * distinct);
	print_message("1 TiB guest, %u random touches, %" PRIu64 " distinct pages:\n", TOUCHES, distinct);
	print_message("  slot backing map %zu B, frame allocator %zu B, hostmem %zu B (stored pages %zu)\n",
		      slot_bytes, frames_bytes, hostmem_meta_bytes(h.hm), hostmem_stored_pages(h.hm));
	print_message("  host bookkeeping %zu B = %.1f B per touched page (%zu B before any touch); "
		      "guest size %" PRIu64 " B, ratio %.2e\n",
		      total, (double)total / (double)distinct, before, GUEST_PAGES << 12,
		      (double)total / (double)(GUEST_PAGES << 12));

	/* dirty logging over the whole 1 TiB costs nothing until pages are written */
	before = memslots_meta_bytes(h.ms);
	assert_int_equal(memslots_set_flags(h.ms, 1, MEMSLOT_F_LOG_DIRTY), MEMSLOT_OK);
	assert_int_equal(memslots_meta_bytes(h.ms), before);
	qsort(first, distinct, sizeof(first[0]), by_gfn_idx);
	for (uint64_t k = 0; k < 10; k++)
		assert_int_equal(memslots_mark_dirty(h.ms, first[distinct - 1 - k].gfn), MEMSLOT_OK);
	assert_int_equal(memslots_dirty_count(h.ms, 1), 10);
	assert_true(memslots_dirty_next(h.ms, 1, 0, &page));
	assert_int_equal(page, first[distinct - 10].gfn);
	assert_true(memslots_meta_bytes(h.ms) <= before + 10 * 4104 + 16 * 16);
	host_fini(&h);
}

/* A 4-level gfn -> hfn table through the L0 port, as a TDP MMU builds one (4 levels cover 2^36 pages). */
static uint64_t map_page(struct host *h, uint64_t root, uint64_t gfn)
{
	struct mem_port *p = mem_l0_port(h->l0);
	uint64_t table = root, e, hfn;

	for (unsigned level = 4; level >= 2; level--) {
		uint64_t slot = table + ((gfn >> (9 * (level - 1))) & 511) * 8;

		assert_int_equal(mem_port_read(p, slot, 8, &e), MEM_OK);
		if (!e) {
			assert_int_equal(mem_port_alloc_table(p, &e), MEM_OK);
			e |= 7;
			assert_int_equal(mem_port_write(p, slot, 8, e), MEM_OK);
		}
		table = e & ~UINT64_C(0xfff);
	}
	assert_int_equal(memslots_gfn_to_hfn(h->ms, gfn, &hfn, NULL), MEMSLOT_OK);
	assert_int_equal(mem_port_write(p, table + (gfn & 511) * 8, 8, (hfn << 12) | 7), MEM_OK);
	return hfn;
}

static uint64_t count_distinct(uint64_t *v, size_t n)
{
	uint64_t d = 0;

	qsort(v, n, sizeof(v[0]), cmp_u64);
	for (size_t i = 0; i < n; i++)
		d += i == 0 || v[i] != v[i - 1];
	return d;
}

static void test_1tib_with_tables(void **state)
{
	static uint64_t gfn[PT_TOUCHES], key[PT_TOUCHES];
	struct host h;
	struct mem_port *p;
	uint64_t seed = 77, root, tables = 1, data, e;
	size_t total;

	(void)state;
	host_init(&h);
	p = mem_l0_port(h.l0);
	assert_int_equal(mem_port_alloc_table(p, &root), MEM_OK);
	for (size_t i = 0; i < PT_TOUCHES; i++) {
		gfn[i] = rng_below(&seed, GUEST_PAGES);
		map_page(&h, root, gfn[i]);
	}
	for (unsigned shift = 27; shift >= 9; shift -= 9) {
		for (size_t i = 0; i < PT_TOUCHES; i++)
			key[i] = gfn[i] >> shift;
		tables += count_distinct(key, PT_TOUCHES);
	}
	for (size_t i = 0; i < PT_TOUCHES; i++)
		key[i] = gfn[i];
	data = count_distinct(key, PT_TOUCHES);
	assert_int_equal(p->stats.tables_live, tables);
	assert_int_equal(hostmem_stored_pages(h.hm), tables); /* tables stored, data not */
	assert_int_equal(frames_allocated(h.fr), tables + data);
	/* every mapping reads back through the port */
	for (size_t i = 0; i < PT_TOUCHES; i++) {
		uint64_t t = root, hfn;
		for (unsigned level = 4; level >= 1; level--) {
			assert_int_equal(mem_port_read(p, t + ((gfn[i] >> (9 * (level - 1))) & 511) * 8, 8, &e), MEM_OK);
			t = e & ~UINT64_C(0xfff);
		}
		assert_int_equal(memslots_gfn_peek(h.ms, gfn[i], &hfn, NULL), MEMSLOT_OK);
		assert_int_equal(t, hfn << 12);
	}
	total = host_bytes(&h);
	/* in proportion to the tables: their pages plus < 64 B per page of bookkeeping */
	assert_true(total <= tables * 4096 + 64 * (tables + data) + 64 * tables + 65536);
	print_message("1 TiB guest, %u random touches with a 4-level table: %" PRIu64 " data pages, %" PRIu64
		      " table pages (%" PRIu64 " B); host memory %zu B = %.2f x the tables, %.2e x the guest\n",
		      PT_TOUCHES, data, tables, tables * 4096, total, (double)total / (double)(tables * 4096),
		      (double)total / (double)(GUEST_PAGES << 12));
	host_fini(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_1tib_data_pages),
		cmocka_unit_test(test_1tib_with_tables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
