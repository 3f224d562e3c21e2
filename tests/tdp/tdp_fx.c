/*
 * tdp_fx.c - the TDP tests' fixture (see tdp_fx.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86.h"
#include "mem/mem_port.h"
#include "tdp_fx.h"

const struct fx_opts fx_formats[4] = {
	{ .kind = TDP_EPT, .levels = 4, .max_level = 3, .ad = true },
	{ .kind = TDP_EPT, .levels = 5, .max_level = 3, .ad = true },
	{ .kind = TDP_NPT, .levels = 4, .max_level = 3 },
	{ .kind = TDP_NPT, .levels = 5, .max_level = 3 },
};

const char *fx_name(const struct fx_opts *o)
{
	if (o->kind == TDP_EPT)
		return o->levels == 5 ? "ept5" : "ept4";
	return o->levels == 5 ? "npt5" : "npt4";
}

static bool flaky_now(struct fx_flaky *k)
{
	if (++k->calls % 3)
		return false;
	k->retries++;
	return true;
}

static enum mem_status fk_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
	struct fx_flaky *k = ctx;

	return flaky_now(k) ? MEM_RETRY : k->inner->ops->read(k->inner->ctx, pa, size, val);
}

static enum mem_status fk_write(void *ctx, uint64_t pa, unsigned size, uint64_t val)
{
	struct fx_flaky *k = ctx;

	return flaky_now(k) ? MEM_RETRY : k->inner->ops->write(k->inner->ctx, pa, size, val);
}

static enum mem_status fk_cmpxchg(void *ctx, uint64_t pa, unsigned size, uint64_t expected,
				  uint64_t desired, uint64_t *seen)
{
	struct fx_flaky *k = ctx;

	return flaky_now(k) ? MEM_RETRY : k->inner->ops->cmpxchg(k->inner->ctx, pa, size, expected, desired, seen);
}

static enum mem_status fk_alloc(void *ctx, uint64_t *pa)
{
	struct fx_flaky *k = ctx;

	if (++k->allocs % 2 == 0) {
		k->retries++;
		return MEM_RETRY;
	}
	return mem_port_alloc_table(k->inner, pa);
}

static enum mem_status fk_free(void *ctx, uint64_t pa)
{
	struct fx_flaky *k = ctx;

	return mem_port_free_table(k->inner, pa);
}

static const struct mem_port_ops flaky_ops = {
	.read = fk_read, .write = fk_write, .cmpxchg = fk_cmpxchg,
	.alloc_table = fk_alloc, .free_table = fk_free,
};

void fx_init(struct fx *f, const struct fx_opts *o)
{
	struct tdp_config c;
	struct hw_config hc;
	struct xlate_result fail;
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
	if (o->as_l1) {
		f->flaky = (struct fx_flaky){ .inner = f->port };
		f->flaky.port = (struct mem_port){ .ops = &flaky_ops, .ctx = &f->flaky, .level = 1, .name = "flaky" };
		f->port = &f->flaky.port;
	}
	f->ms = memslots_create(f->fr, o->levels == 5 ? 52 : 48);
	assert_non_null(f->ms);
	c = (struct tdp_config){
		.kind = o->kind, .levels = o->levels, .max_level = o->max_level,
		.ept_ad = o->kind == TDP_EPT && o->ad, .maxphyaddr = FX_MAXPHY,
		.dirty_mode = o->dirty_mode, .port = f->port, .slots = f->ms,
		.counters = &f->cnt, .cnt_level = o->as_l1 ? CNT_L1 : CNT_L0,
		.cnt_pt = o->as_l1 ? CNT_PT_EPT12 : CNT_PT_EPT01,
	};
	f->t = tdp_create(&c, &why);
	if (!f->t)
		fail_msg("tdp_create: %s", why);

	memset(&hc, 0, sizeof(hc));
	hc.cpu.vendor = o->kind == TDP_EPT ? CPU_INTEL : CPU_AMD;
	hc.cpu.maxphyaddr = FX_MAXPHY;
	hc.mem = hostmem_port(f->hm); /* the processor reads memory, not the port */
	tdp_hw_program(f->t, &hc);
	assert_null(hw_config_invalid(&hc));
	assert_true(hw_mmu_init(&f->hw, &hc, &fail));
}

void fx_fini(struct fx *f)
{
	tdp_destroy(f->t);
	memslots_destroy(f->ms);
	mem_l0_destroy(f->l0);
	/* every table page and every data frame went back */
	assert_int_equal(frames_allocated(f->fr), 0);
	assert_int_equal(hostmem_stored_pages(f->hm), 0);
	frames_destroy(f->fr);
	hostmem_destroy(f->hm);
}

void fx_slot(struct fx *f, uint32_t id, uint64_t base_gfn, uint64_t npages, uint32_t flags, unsigned order)
{
	struct memslot_desc d = { .id = id, .base_gfn = base_gfn, .npages = npages, .flags = flags,
				  .backing_order = order };

	assert_int_equal(memslots_add(f->ms, &d), MEMSLOT_OK);
}

void fx_hw(struct fx *f, uint64_t gpa, enum access_type type, struct xlate_result *r)
{
	hw_translate_gpa(&f->hw, gpa, type, r, NULL);
}

void fx_hw_trace(struct fx *f, uint64_t gpa, enum access_type type, struct xlate_result *r,
		 struct walk_step *steps, unsigned cap, unsigned *n)
{
	struct walk_trace tr = { .steps = steps, .cap = cap };

	hw_translate_gpa(&f->hw, gpa, type, r, &tr);
	*n = tr.n < cap ? tr.n : cap;
}

int fx_access(struct fx *f, uint64_t gpa, enum access_type type, struct xlate_result *r,
	      struct mmu_fault *last, unsigned *faults)
{
	struct mmu_fault mf;
	int ret = -1;

	for (int i = 0; i < 16; i++) {
		fx_hw(f, gpa, type, r);
		if (r->outcome == XO_OK)
			return ret;
		assert_true(tdp_fault_from_exit(&mf, r));
		assert_int_equal(mf.gpa, gpa);
		ret = (int)tdp_page_fault(f->t, &mf);
		if (last)
			*last = mf;
		if (faults)
			(*faults)++;
		if (ret != RET_PF_FIXED && ret != RET_PF_SPURIOUS && ret != RET_PF_RETRY)
			return ret;
	}
	fail_msg("gpa %#llx still faults after 16 fixes", (unsigned long long)gpa);
	return ret;
}

void fx_expect_mapped(struct fx *f, uint64_t gpa, enum access_type type)
{
	struct xlate_result r;
	uint64_t hfn = 0;

	fx_hw(f, gpa, type, &r);
	if (r.outcome != XO_OK)
		fail_msg("gpa %#llx type %d: %s", (unsigned long long)gpa, type, xlate_outcome_name(r.outcome));
	assert_int_equal(memslots_gfn_peek(f->ms, gpa >> 12, &hfn, NULL), MEMSLOT_OK);
	assert_int_equal(r.hpa, (hfn << 12) | (gpa & 0xfff));
}

void fx_expect_fault(struct fx *f, uint64_t gpa, enum access_type type)
{
	struct xlate_result r;

	fx_hw(f, gpa, type, &r);
	if (r.outcome != (f->o.kind == TDP_EPT ? XO_EPT_VIOLATION : XO_NPF))
		fail_msg("gpa %#llx type %d: expected a nested fault, got %s", (unsigned long long)gpa,
			 type, xlate_outcome_name(r.outcome));
}

static uint64_t rd(struct fx *f, uint64_t pa)
{
	uint64_t v;

	assert_int_equal(hostmem_read64(f->hm, pa, &v), 0);
	return v;
}

static void check_page(struct fx *f, uint64_t gfn, uint64_t hpa)
{
	uint64_t hfn;
	struct gfn_info info;

	if (memslots_gfn_peek(f->ms, gfn, &hfn, &info) != MEMSLOT_OK)
		fail_msg("a leaf maps gfn %#llx, which is not a backed page of a memory slot",
			 (unsigned long long)gfn);
	if (hfn << 12 != hpa)
		fail_msg("gfn %#llx: leaf maps %#llx, slot says %#llx", (unsigned long long)gfn,
			 (unsigned long long)hpa, (unsigned long long)(hfn << 12));
}

static uint64_t audit_table(struct fx *f, uint64_t table, unsigned level, uint64_t base, uint64_t *tables)
{
	const struct pt_format *fmt = &f->hw.nested_fmt;
	uint64_t leaves = 0;

	(*tables)++;
	for (unsigned i = 0; i < 512; i++) {
		uint64_t e = rd(f, table + 8 * i), gfn, pages;
		struct gfn_info info;

		if (!pt_present(fmt, e))
			continue;
		assert_false(pt_rsvd_set(fmt, level, e));
		gfn = base + ((uint64_t)i << (9 * (level - 1)));
		if (!pt_is_leaf(fmt, level, e)) {
			leaves += audit_table(f, pt_table_addr(fmt, level, e), level - 1, gfn, tables);
			continue;
		}
		leaves++;
		pages = UINT64_C(1) << (9 * (level - 1));
		check_page(f, gfn, pt_page_addr(fmt, level, e));
		check_page(f, gfn + pages - 1, pt_page_addr(fmt, level, e) + ((pages - 1) << 12));
		assert_int_equal(memslots_gfn_peek(f->ms, gfn, NULL, &info), MEMSLOT_OK);
		assert_true(memslot_run_fits(&info.slot, gfn, 9 * (level - 1)));
		if (pt_rights(fmt, level, e) & RIGHT_W) {
			assert_false(info.slot.flags & MEMSLOT_F_READONLY);
			for (uint64_t p = 0; p < pages && level == 1; p++)
				assert_int_equal(tdp_track_count(f->t, gfn + p), 0);
		}
	}
	return leaves;
}

uint64_t fx_audit(struct fx *f, uint64_t *tables)
{
	uint64_t n = 0, leaves = audit_table(f, f->hw.nested_root, f->hw.nested_fmt.levels, 0, &n);

	assert_int_equal(n, tdp_tables_live(f->t));
	if (tables)
		*tables = n;
	return leaves;
}

static uint64_t hash_table(struct fx *f, uint64_t table, unsigned level, uint64_t h)
{
	const struct pt_format *fmt = &f->hw.nested_fmt;

	for (unsigned i = 0; i < 512; i++) {
		uint64_t e = rd(f, table + 8 * i);

		h = (h ^ e ^ ((uint64_t)i << 52)) * UINT64_C(0x100000001b3);
		if (pt_present(fmt, e) && !pt_is_leaf(fmt, level, e))
			h = hash_table(f, pt_table_addr(fmt, level, e), level - 1, h);
	}
	return h;
}

uint64_t fx_tables_hash(struct fx *f)
{
	return hash_table(f, f->hw.nested_root, f->hw.nested_fmt.levels,
			  UINT64_C(0xcbf29ce484222325) ^ f->hw.nested_root);
}

uint64_t fx_leaf(struct fx *f, uint64_t gpa, unsigned *level)
{
	const struct pt_format *fmt = &f->hw.nested_fmt;
	uint64_t table = f->hw.nested_root;

	for (unsigned l = fmt->levels; l >= 1; l--) {
		uint64_t e = rd(f, table + 8 * pt_index(fmt, l, gpa));

		if (!pt_present(fmt, e))
			return 0;
		if (pt_is_leaf(fmt, l, e)) {
			if (level)
				*level = l;
			return e;
		}
		table = pt_table_addr(fmt, l, e);
	}
	return 0;
}
