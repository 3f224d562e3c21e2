/*
 * kpop_fx.c - the KPOP tests' fixture (kpop_fx.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86.h"
#include "mem/guestmem.h"
#include "mmu/tdp.h"
#include "kpop_fx.h"

const struct fx_opts fx_formats[5] = {
	{ .kind = KPOP_EPT, .levels = 4, .ad = true },
	{ .kind = KPOP_EPT, .levels = 5, .ad = true },
	{ .kind = KPOP_EPT, .levels = 4, .ad = false },
	{ .kind = KPOP_NPT, .levels = 4 },
	{ .kind = KPOP_NPT, .levels = 5 },
};

const char *fx_name(const struct fx_opts *o)
{
	if (o->kind == KPOP_EPT)
		return o->levels == 5 ? "ept5" : o->ad ? "ept4" : "ept4-noad";
	return o->levels == 5 ? "npt5" : "npt4";
}

static void slot(struct fx *f, uint32_t id, uint64_t base, uint64_t n, uint32_t flags)
{
	struct memslot_desc d = { .id = id, .base_gfn = base, .npages = n, .flags = flags };

	assert_int_equal(memslots_add(f->ms, &d), MEMSLOT_OK);
}

void fx_init(struct fx *f, const struct fx_opts *o)
{
	struct kpop_config c;
	const char *why = NULL;

	memset(f, 0, sizeof(*f));
	f->o = *o;
	f->hm = hostmem_create(FX_HOST_LIMIT);
	f->fr = frames_create(FX_FIRST_HFN, FX_NFRAMES);
	assert_non_null(f->hm);
	assert_non_null(f->fr);
	f->l0 = mem_l0_create(f->hm, f->fr);
	assert_non_null(f->l0);
	f->port = mem_l0_port(f->l0);
	f->ms = memslots_create(f->fr, 48);
	assert_non_null(f->ms);
	slot(f, 1, FX_RAM_GFN, FX_RAM_PAGES, 0);
	slot(f, 2, FX_RO_GFN, FX_SLOT_SMALL, MEMSLOT_F_READONLY);
	slot(f, 3, FX_MMIO_GFN, FX_SLOT_SMALL, MEMSLOT_F_MMIO);
	slot(f, 4, FX_LOG_GFN, FX_LOG_PAGES, 0);
	c = (struct kpop_config){
		.kind = o->kind, .levels = o->levels, .ept_ad = o->kind == KPOP_EPT && o->ad,
		.maxphyaddr = FX_MAXPHY, .l2_gpa_bits = o->levels == 5 ? 57 : 48,
		.max_mmus = o->max_mmus ? o->max_mmus : 16, .max_pages = o->max_pages ? o->max_pages : 1u << 20,
		.port = f->port, .l1_slots = f->ms, .counters = &f->cnt,
	};
	f->kp = kpop_create(&c, &why);
	if (!f->kp)
		fail_msg("kpop_create: %s", why);
	/* L1 touches its argument pages once (backing allocated), so that writing a block allocates nothing */
	for (uint64_t p = 0; p < 16; p++) {
		struct guestmem gm = { .slots = f->ms, .port = f->port };

		assert_int_equal(guestmem_write(&gm, FX_SCRATCH + (p << 12), 8, 0), MEM_OK);
	}
	f->model = calloc(FX_MODEL_MAX, sizeof(*f->model));
	assert_non_null(f->model);
}

void fx_fini(struct fx *f)
{
	kpop_destroy(f->kp);
	/* every EPT02 page went back */
	assert_int_equal(counters_pt_live(&f->cnt, CNT_PT_EPT02), 0);
	memslots_destroy(f->ms);
	mem_l0_destroy(f->l0);
	assert_int_equal(frames_allocated(f->fr), 0);
	assert_int_equal(hostmem_stored_pages(f->hm), 0);
	frames_destroy(f->fr);
	hostmem_destroy(f->hm);
	free(f->model);
}

/* ---- L1's side ---- */

static int handle_slot(struct fx *f, uint64_t holder, uint64_t as_id)
{
	for (int i = 0; i < 64; i++) {
		if (f->handles[i] && f->holders[i] == holder && f->as_ids[i] == as_id)
			return i;
	}
	return -1;
}

static uint64_t model_drop_handle(struct fx *f, uint64_t handle, uint64_t l2, uint64_t n)
{
	uint64_t removed = 0;

	for (unsigned i = 0; i < f->nmodel;) {
		struct fx_map *m = &f->model[i];

		if ((handle == 0 || m->handle == handle) && m->l2 >= l2 && m->l2 - l2 < n) {
			*m = f->model[--f->nmodel];
			removed++;
		} else {
			i++;
		}
	}
	return removed;
}

int64_t fx_hc(struct fx *f, unsigned nr, uint64_t a0, uint64_t a1)
{
	int64_t r = kpop_hypercall(f->kp, nr, a0, a1);
	int i;

	if (r < 0)
		return r;
	switch (nr) {
	case KPOP_HC_MMU_LOAD:
		i = handle_slot(f, a0, a1);
		if (i >= 0) {
			assert_int_equal(f->handles[i], r);
			f->refs[i]++;
			break;
		}
		for (i = 0; i < 64 && f->handles[i]; i++)
			;
		assert_true(i < 64);
		f->handles[i] = (uint64_t)r;
		f->holders[i] = a0;
		f->as_ids[i] = a1;
		f->refs[i] = 1;
		break;
	case KPOP_HC_MMU_UNLOAD:
		i = handle_slot(f, a0, a1);
		assert_true(i >= 0);
		f->refs[i]--;
		assert_int_equal(r, f->refs[i]);
		if (!f->refs[i]) {
			model_drop_handle(f, f->handles[i], 0, UINT64_MAX);
			f->handles[i] = 0;
		}
		break;
	case KPOP_HC_ZAP_RANGE:
		assert_int_equal(r, model_drop_handle(f, 0, a0, a1));
		break;
	case KPOP_HC_ZAP_ALL:
		assert_int_equal(r, model_drop_handle(f, a0 == KPOP_HANDLE_ALL ? 0 : a0, 0, UINT64_MAX));
		break;
	default:
		break;
	}
	return r;
}

uint64_t fx_load(struct fx *f, uint64_t holder, uint64_t as_id)
{
	int64_t r = fx_hc(f, KPOP_HC_MMU_LOAD, holder, as_id);

	assert_true(r > 0);
	return (uint64_t)r;
}

static void put64(struct fx *f, uint64_t gpa, uint64_t v)
{
	struct guestmem gm = { .slots = f->ms, .port = f->port };

	assert_int_equal(guestmem_write(&gm, gpa, 8, v), MEM_OK);
}

void fx_put_map(struct fx *f, uint64_t gpa, const struct kpop_map_desc *d, unsigned n)
{
	for (unsigned i = 0; i < n; i++, gpa += KPOP_MAP_DESC_SIZE) {
		put64(f, gpa, d[i].handle | (uint64_t)d[i].perms << 32);
		put64(f, gpa + 8, d[i].l2_gfn);
		put64(f, gpa + 16, d[i].l1_gfn);
		put64(f, gpa + 24, d[i].npages);
	}
}

void fx_put_unmap(struct fx *f, uint64_t gpa, const struct kpop_unmap_desc *d, unsigned n)
{
	for (unsigned i = 0; i < n; i++, gpa += KPOP_UNMAP_DESC_SIZE) {
		put64(f, gpa, d[i].handle | (uint64_t)d[i].reserved << 32);
		put64(f, gpa + 8, d[i].l2_gfn);
		put64(f, gpa + 16, d[i].npages);
	}
}

int64_t fx_map(struct fx *f, const struct kpop_map_desc *d, unsigned n)
{
	int64_t r;
	uint64_t pages = 0;

	fx_put_map(f, FX_SCRATCH, d, n);
	r = kpop_hypercall(f->kp, KPOP_HC_MAP, FX_SCRATCH, n);
	if (r >= 0) {
		for (unsigned i = 0; i < n; i++)
			pages += d[i].npages;
		assert_int_equal(r, pages);
		fx_model_map(f, d, n);
	}
	return r;
}

int64_t fx_unmap(struct fx *f, const struct kpop_unmap_desc *d, unsigned n)
{
	int64_t r;
	uint64_t removed = 0;

	fx_put_unmap(f, FX_SCRATCH, d, n);
	r = kpop_hypercall(f->kp, KPOP_HC_UNMAP, FX_SCRATCH, n);
	if (r >= 0) {
		for (unsigned i = 0; i < n; i++)
			removed += model_drop_handle(f, d[i].handle, d[i].l2_gfn, d[i].npages);
		assert_int_equal(r, removed);
	}
	return r;
}

/* ---- the model ---- */

struct fx_map *fx_model_find(struct fx *f, uint64_t handle, uint64_t l2)
{
	for (unsigned i = 0; i < f->nmodel; i++) {
		if (f->model[i].handle == handle && f->model[i].l2 == l2)
			return &f->model[i];
	}
	return NULL;
}

void fx_model_map(struct fx *f, const struct kpop_map_desc *d, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		for (uint64_t p = 0; p < d[i].npages; p++) {
			struct fx_map *m = fx_model_find(f, d[i].handle, d[i].l2_gfn + p);

			if (!m) {
				assert_true(f->nmodel < FX_MODEL_MAX);
				m = &f->model[f->nmodel++];
			}
			*m = (struct fx_map){ d[i].handle, d[i].l2_gfn + p, d[i].l1_gfn + p, d[i].perms };
		}
	}
}

uint64_t fx_model_unmap(struct fx *f, uint64_t handle, uint64_t l2, uint64_t n)
{
	return model_drop_handle(f, handle, l2, n);
}

void fx_model_drop_l1(struct fx *f, uint64_t l1, uint64_t n)
{
	for (unsigned i = 0; i < f->nmodel;) {
		if (f->model[i].l1 >= l1 && f->model[i].l1 - l1 < n)
			f->model[i] = f->model[--f->nmodel];
		else
			i++;
	}
}

/* ---- the hardware ---- */

static void hw_for(struct fx *f, uint64_t handle, struct hw_mmu *hw)
{
	struct hw_config hc;
	struct xlate_result fail;

	memset(&hc, 0, sizeof(hc));
	hc.cpu.vendor = f->o.kind == KPOP_EPT ? CPU_INTEL : CPU_AMD;
	hc.cpu.maxphyaddr = FX_MAXPHY;
	hc.mem = hostmem_port(f->hm); /* the processor reads memory, not the port */
	assert_true(kpop_hw_program(f->kp, handle, &hc));
	assert_null(hw_config_invalid(&hc));
	assert_true(hw_mmu_init(hw, &hc, &fail));
}

void fx_hw(struct fx *f, uint64_t handle, uint64_t l2_gpa, enum access_type type, struct xlate_result *r)
{
	struct hw_mmu hw;

	hw_for(f, handle, &hw);
	hw_translate_gpa(&hw, l2_gpa, type, r, NULL);
}

bool fx_nested_fault(const struct fx *f, const struct xlate_result *r)
{
	return r->outcome == (f->o.kind == KPOP_EPT ? XO_EPT_VIOLATION : XO_NPF);
}

int fx_access(struct fx *f, uint64_t handle, uint64_t l2_gpa, enum access_type type, struct xlate_result *r,
	      struct mmu_fault *last)
{
	struct mmu_fault mf;
	int ret = -1;

	for (int i = 0; i < 8; i++) {
		fx_hw(f, handle, l2_gpa, type, r);
		if (r->outcome == XO_OK)
			return ret;
		assert_true(tdp_fault_from_exit(&mf, r));
		assert_int_equal(mf.gpa, l2_gpa);
		ret = (int)kpop_page_fault(f->kp, handle, &mf);
		if (last)
			*last = mf;
		if (ret != RET_PF_FIXED && ret != RET_PF_SPURIOUS && ret != RET_PF_RETRY)
			return ret;
	}
	fail_msg("l2 gpa %#llx still faults after 8 fixes", (unsigned long long)l2_gpa);
	return ret;
}

/* ---- checks ---- */

void fx_check(struct fx *f)
{
	char msg[256];

	if (kpop_check(f->kp, msg, sizeof(msg)))
		fail_msg("kpop_check: %s", msg);
}

static bool l1_writable_now(struct fx *f, uint64_t l1)
{
	struct gfn_info info;
	uint64_t bit = 0;

	if (memslots_gfn_peek(f->ms, l1, NULL, &info) != MEMSLOT_OK || (info.slot.flags & MEMSLOT_F_READONLY) ||
	    kpop_track_count(f->kp, l1))
		return false;
	if (info.slot.flags & MEMSLOT_F_LOG_DIRTY) {
		assert_int_equal(memslots_dirty_get(f->ms, info.slot.id, l1 - info.slot.base_gfn, 1, &bit), MEMSLOT_OK);
		return bit & 1;
	}
	return true;
}

static void expect_xlate(struct fx *f, const struct fx_map *m, enum access_type type, bool allowed, bool allow_absent)
{
	struct xlate_result r;
	uint64_t hfn = 0;
	int st;

	fx_hw(f, m->handle, (m->l2 << 12) | 0x123, type, &r);
	if (!allowed) {
		if (!fx_nested_fault(f, &r))
			fail_msg("l2 gfn %#llx type %d: expected a nested fault, got %s", (unsigned long long)m->l2, type,
				 xlate_outcome_name(r.outcome));
		return;
	}
	if (allow_absent && fx_nested_fault(f, &r))
		return;
	if (r.outcome != XO_OK)
		fail_msg("l2 gfn %#llx (l1 %#llx) type %d: %s", (unsigned long long)m->l2, (unsigned long long)m->l1, type,
			 xlate_outcome_name(r.outcome));
	st = memslots_gfn_peek(f->ms, m->l1, &hfn, NULL);
	assert_int_equal(st, MEMSLOT_OK);
	/* the composition: L2 gfn -> L1 gfn (model) -> host frame (L1's slots) */
	assert_int_equal(r.hpa, (hfn << 12) | 0x123);
}

void fx_check_model(struct fx *f, bool allow_absent)
{
	fx_check(f);
	assert_int_equal(kpop_mapped_pages(f->kp, KPOP_HANDLE_ALL), f->nmodel);
	for (unsigned i = 0; i < f->nmodel; i++) {
		const struct fx_map *m = &f->model[i];
		uint64_t l1 = 0;
		unsigned perms = 0;

		if (!kpop_lookup(f->kp, m->handle, m->l2, &l1, &perms))
			fail_msg("model entry handle %#llx l2 %#llx: no record", (unsigned long long)m->handle,
				 (unsigned long long)m->l2);
		assert_int_equal(l1, m->l1);
		assert_int_equal(perms, m->perms);
		expect_xlate(f, m, ACCESS_READ, true, allow_absent);
		expect_xlate(f, m, ACCESS_FETCH, m->perms & KPOP_PERM_X, allow_absent);
		/*
		 * Writes: never without W in the record; with it, either to the
		 * right frame or a fault L0 resolves (W withheld: tracked, read-only
		 * or clean logging page - the checker verifies those - or given
		 * back only on the next write fault after such a state ended).
		 */
		if (!(m->perms & KPOP_PERM_W))
			expect_xlate(f, m, ACCESS_WRITE, false, allow_absent);
		else if (l1_writable_now(f, m->l1))
			expect_xlate(f, m, ACCESS_WRITE, true, true);
		/* neighbours the model does not map fault */
		for (int d = -1; d <= 1; d += 2) {
			struct fx_map n = *m;

			n.l2 = m->l2 + (uint64_t)(int64_t)d;
			if (n.l2 < (UINT64_C(1) << 36) && !fx_model_find(f, m->handle, n.l2))
				expect_xlate(f, &n, ACCESS_READ, false, false);
		}
	}
}

/* ---- state snapshots ---- */

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + UINT64_C(0x9E3779B97F4A7C15) + (h << 6) + (h >> 2);
	return h * UINT64_C(0x100000001b3);
}

static uint64_t hash_table(struct fx *f, const struct pt_format *fmt, uint64_t table, unsigned level, uint64_t h)
{
	for (unsigned i = 0; i < 512; i++) {
		uint64_t e;

		assert_int_equal(hostmem_read64(f->hm, table + 8 * i, &e), 0);
		if (!e)
			continue;
		h = mix(mix(mix(h, level), i), e);
		if (level > 1 && pt_present(fmt, e) && !pt_is_leaf(fmt, level, e))
			h = hash_table(f, fmt, pt_table_addr(fmt, level, e), level - 1, h);
	}
	return h;
}

void fx_state(struct fx *f, struct fx_state *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 64; i++) {
		uint64_t h = f->handles[i];

		if (!h)
			continue;
		s->refs_flush_hash = mix(mix(mix(s->refs_flush_hash, h), kpop_refs(f->kp, h)),
					 kpop_flush_pending(f->kp, h));
		if (kpop_handle_valid(f->kp, h)) {
			struct hw_mmu hw;

			hw_for(f, h, &hw);
			s->tables_hash = hash_table(f, &hw.nested_fmt, kpop_root_pa(f->kp, h), f->o.levels,
						    mix(s->tables_hash, h));
		}
	}
	s->tables_live = kpop_tables_live(f->kp);
	s->mapped = kpop_mapped_pages(f->kp, KPOP_HANDLE_ALL);
	s->mmus = kpop_mmu_count(f->kp);
	for (unsigned i = 0; i < f->nmodel; i++) {
		uint64_t l1 = 0;
		unsigned perms = 0;
		bool ok = kpop_lookup(f->kp, f->model[i].handle, f->model[i].l2, &l1, &perms);

		s->records_hash = mix(mix(mix(s->records_hash, ok), l1), perms);
	}
	s->cnt = f->cnt;
	s->frames = frames_allocated(f->fr);
}

#define SAME(field)                                                                                      \
	do {                                                                                             \
		if (a->field != b->field)                                                                \
			fail_msg("state changed: " #field " %#llx -> %#llx", (unsigned long long)a->field, \
				 (unsigned long long)b->field);                                          \
	} while (0)

void fx_assert_same(const struct fx_state *a, const struct fx_state *b)
{
	SAME(tables_hash);
	SAME(tables_live);
	SAME(mapped);
	SAME(mmus);
	SAME(refs_flush_hash);
	SAME(records_hash);
	SAME(frames);
	assert_memory_equal(&a->cnt, &b->cnt, sizeof(a->cnt));
}
