/*
 * harness.c - see harness.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "shadow/harness.h"

#define FIRST_HFN 0x100u

/* ---- reference memory: a map of 8-byte words ---- */

static uint64_t ref_word(const struct u64map *m, uint64_t pa)
{
	uint64_t v = 0;

	(void)u64map_get(m, pa >> 3, &v);
	return v;
}

static void ref_set_word(struct u64map *m, uint64_t pa, uint64_t v)
{
	if (v)
		assert_int_equal(u64map_put(m, pa >> 3, v), 0);
	else
		u64map_del(m, pa >> 3, NULL);
}

static uint64_t ref_get(struct u64map *m, uint64_t pa, unsigned size)
{
	uint64_t w = ref_word(m, pa & ~UINT64_C(7));

	return size == 8 ? w : (w >> ((pa & 4) * 8)) & 0xffffffffu;
}

static void ref_put(struct u64map *m, uint64_t pa, unsigned size, uint64_t val)
{
	uint64_t w = ref_word(m, pa & ~UINT64_C(7));

	if (size == 8) {
		w = val;
	} else {
		unsigned sh = (unsigned)(pa & 4) * 8;

		w = (w & ~(UINT64_C(0xffffffff) << sh)) | ((val & 0xffffffffu) << sh);
	}
	ref_set_word(m, pa & ~UINT64_C(7), w);
}

static enum pmem_status refp_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
	*val = ref_get(ctx, pa, size);
	return PMEM_OK;
}

static enum pmem_status refp_cmpxchg(void *ctx, uint64_t pa, unsigned size, uint64_t expected,
				     uint64_t desired)
{
	if (ref_get(ctx, pa, size) != expected)
		return PMEM_CHANGED;
	ref_put(ctx, pa, size, desired);
	return PMEM_OK;
}

static const struct pmem_ops refp_ops = { .read = refp_read, .cmpxchg = refp_cmpxchg };

static struct pmem ref_pmem(struct env *e)
{
	return (struct pmem){ .ops = &refp_ops, .ctx = &e->ref };
}

/* ---- environment ---- */

static unsigned es(const struct env *e)
{
	return e->fmt.entry_size;
}

static bool is_table(const struct env *e, uint64_t gpa)
{
	return gpa >= PT_BASE && gpa < e->pt_next;
}

uint64_t env_frame(struct env *e, uint64_t gpa)
{
	uint64_t hfn;

	if (memslots_gfn_peek(e->ms, gpa >> 12, &hfn, NULL) != MEMSLOT_OK)
		return 0;
	return (hfn << 12) | (gpa & 0xfff);
}

static void ref_reinit(struct env *e)
{
	struct hw_config cfg = { .cpu = e->cpu, .nested = NESTED_NONE, .mem = ref_pmem(e) };
	struct xlate_result fail;
	const char *why = hw_config_invalid(&cfg);

	if (why)
		fail_msg("guest state invalid: %s", why);
	assert_true(hw_mmu_init(&e->ref_mmu, &cfg, &fail));
}

static bool retry_now(struct retry_port *r)
{
	if (++r->calls % r->every)
		return false;
	r->retries++;
	return true;
}

static enum mem_status rp_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
	struct retry_port *r = ctx;

	return retry_now(r) ? MEM_RETRY : r->inner->ops->read(r->inner->ctx, pa, size, val);
}

static enum mem_status rp_write(void *ctx, uint64_t pa, unsigned size, uint64_t val)
{
	struct retry_port *r = ctx;

	return retry_now(r) ? MEM_RETRY : r->inner->ops->write(r->inner->ctx, pa, size, val);
}

static enum mem_status rp_cmpxchg(void *ctx, uint64_t pa, unsigned size, uint64_t expected, uint64_t desired,
				  uint64_t *seen)
{
	struct retry_port *r = ctx;

	return retry_now(r) ? MEM_RETRY : r->inner->ops->cmpxchg(r->inner->ctx, pa, size, expected, desired, seen);
}

static enum mem_status rp_alloc(void *ctx, uint64_t *pa)
{
	struct retry_port *r = ctx;

	return retry_now(r) ? MEM_RETRY : r->inner->ops->alloc_table(r->inner->ctx, pa);
}

static enum mem_status rp_free(void *ctx, uint64_t pa)
{
	struct retry_port *r = ctx;

	return retry_now(r) ? MEM_RETRY : r->inner->ops->free_table(r->inner->ctx, pa);
}

static const struct mem_port_ops rp_ops = {
	.read = rp_read, .write = rp_write, .cmpxchg = rp_cmpxchg, .alloc_table = rp_alloc, .free_table = rp_free,
};

void env_select_vcpu(struct env *e, unsigned v)
{
	assert_true(v < e->nvcpus);
	e->vc[e->vcpu].cpu = e->cpu;
	e->vc[e->vcpu].fmt = e->fmt;
	e->vc[e->vcpu].ref_mmu = e->ref_mmu;
	e->cpu = e->vc[v].cpu;
	e->fmt = e->vc[v].fmt;
	e->ref_mmu = e->vc[v].ref_mmu;
	e->vcpu = v;
	shadow_select_vcpu(e->s, v);
	assert_int_equal(shadow_selected_vcpu(e->s), v);
}

/* vCPUs 1.. start as vCPU 0 is (same registers), each loading cr3 itself. */
static void env_start_vcpus(struct env *e, uint64_t cr3)
{
	for (unsigned v = 1; v < e->nvcpus; v++) {
		e->vc[v].cpu = e->cpu;
		e->vc[v].fmt = e->fmt;
		e->vc[v].ref_mmu = e->ref_mmu;
	}
	for (unsigned v = 1; v < e->nvcpus; v++) {
		env_select_vcpu(e, v);
		env_load_cr3(e, cr3, true);
	}
	if (e->nvcpus > 1)
		env_select_vcpu(e, 0);
}

void env_init(struct env *e, const struct env_opts *o)
{
	struct cpu_regs *r = &e->cpu.regs;

	memset(e, 0, sizeof(*e));
	e->o = *o;
	e->hm = hostmem_create(UINT64_C(1) << 32);
	e->fr = frames_create(FIRST_HFN, (UINT64_C(1) << 20) - FIRST_HFN);
	assert_non_null(e->hm);
	assert_non_null(e->fr);
	e->l0 = mem_l0_create(e->hm, e->fr);
	assert_non_null(e->l0);
	e->port = mem_l0_port(e->l0);
	e->ms = memslots_create(e->fr, GUEST_MAXPHY);
	assert_non_null(e->ms);
	assert_int_equal(memslots_add(e->ms, &(struct memslot_desc){ .id = 1, .base_gfn = 0,
				       .npages = SLOT_PAGES }), MEMSLOT_OK);
	e->gm = (struct guestmem){ .slots = e->ms, .port = e->port };
	counters_zero(&e->cnt);
	u64map_init(&e->ref);

	e->cpu.vendor = o->vendor;
	e->cpu.maxphyaddr = o->maxphy ? o->maxphy : GUEST_MAXPHY;
	e->cpu.feat = (struct cpu_features){ .gbpages = true, .la57 = true, .pku = true,
					      .smep = true, .smap = true };
	switch (o->mode) {
	case PAGING_NONE:
		r->cr0 = CR0_PE;
		break;
	case PAGING_32:
		r->cr0 = CR0_PE | CR0_PG | CR0_WP;
		r->cr4 = o->pse ? CR4_PSE : 0;
		e->dm_base = UINT64_C(0xc0000000);
		break;
	case PAGING_PAE:
		r->cr0 = CR0_PE | CR0_PG | CR0_WP;
		r->cr4 = CR4_PAE;
		r->efer = o->nxe ? EFER_NXE : 0;
		e->dm_base = UINT64_C(0xc0000000);
		break;
	case PAGING_4LEVEL:
		r->cr0 = CR0_PE | CR0_PG | CR0_WP;
		r->cr4 = CR4_PAE;
		r->efer = EFER_LME | EFER_LMA | (o->nxe ? EFER_NXE : 0);
		e->dm_base = UINT64_C(0xffff888000000000);
		break;
	case PAGING_5LEVEL:
		r->cr0 = CR0_PE | CR0_PG | CR0_WP;
		r->cr4 = CR4_PAE | CR4_LA57;
		r->efer = EFER_LME | EFER_LMA | (o->nxe ? EFER_NXE : 0);
		e->dm_base = UINT64_C(0xff11000000000000);
		break;
	}
	if (o->mode != PAGING_NONE)
		pt_format_x86(&e->fmt, o->mode, o->vendor, e->cpu.maxphyaddr, &e->cpu.feat, r->cr4, r->efer, false);

	e->level = o->retry_every ? CNT_L1 : CNT_L0;
	e->kind = o->retry_every ? CNT_PT_SHADOW_L1 : CNT_PT_SHADOW_L0;
	e->rport = (struct retry_port){
		.port = { .ops = &rp_ops, .ctx = &e->rport, .level = 1, .name = "test-l1-retry" },
		.inner = e->port,
		.every = o->retry_every,
	};
	struct shadow_config cfg = {
		.port = o->retry_every ? &e->rport.port : e->port,
		.slots = e->ms,
		.hw_maxphyaddr = HW_MAXPHY,
		.cnt = &e->cnt,
		.level = e->level,
		.pt_kind = e->kind,
		.max_pages = o->max_pages,
		.unsync = o->unsync,
		.root_cache = o->root_cache,
		.nvcpus = o->nvcpus,
	};
	e->s = shadow_create(&cfg);
	assert_non_null(e->s);
	e->pt_next = PT_BASE;
	e->nvcpus = o->nvcpus ? o->nvcpus : 1;
	assert_true(e->nvcpus <= ENV_MAX_VCPUS);

	if (o->mode == PAGING_NONE) {
		env_load_cr3(e, 0, true);
		env_start_vcpus(e, 0);
		return;
	}
	e->kroot = g_new_root(e);
	bool large = o->dm_large && (o->mode != PAGING_32 || o->pse);
	uint64_t step = !large ? PAGE_SIZE_4K : o->mode == PAGING_32 ? PAGE_SIZE_4M : PAGE_SIZE_2M;
	for (uint64_t gpa = 0; gpa < DM_SIZE; gpa += step)
		g_map(e, e->kroot, e->dm_base + gpa, gpa, large ? 2 : 1, PTE_P | PTE_RW, PTE_P | PTE_RW, false);
	env_load_cr3(e, e->kroot, true);
	env_start_vcpus(e, e->kroot);
}

void env_fini(struct env *e)
{
	const char *why = shadow_check(e->s);

	if (why)
		fail_msg("shadow_check: %s", why);
	shadow_destroy(e->s);
	assert_int_equal(counters_pt_live(&e->cnt, e->kind), 0);
	if (e->o.retry_every)
		assert_true(e->rport.retries > 0);
	memslots_destroy(e->ms);
	mem_l0_destroy(e->l0);
	assert_int_equal(frames_allocated(e->fr), 0);
	frames_destroy(e->fr);
	hostmem_destroy(e->hm);
	u64map_fini(&e->ref);
}

/* ---- guest page tables ---- */

uint64_t g_alloc_table(struct env *e)
{
	uint64_t gpa = e->pt_next;

	assert_true(gpa < PT_LIMIT);
	e->pt_next += PAGE_SIZE_4K;
	return gpa;
}

void g_boot_put(struct env *e, uint64_t gpa, uint64_t val)
{
	ref_put(&e->ref, gpa, es(e), val);
	assert_int_equal(guestmem_write(&e->gm, gpa, es(e), val), MEM_OK);
}

uint64_t g_ref_get(struct env *e, uint64_t gpa)
{
	return ref_get(&e->ref, gpa, es(e));
}

void g_write_entry(struct env *e, uint64_t gpa, uint64_t val)
{
	bool paging = cpu_paging_mode(&e->cpu.regs) != PAGING_NONE;
	struct xs x;

	assert_true(gpa < DM_SIZE);
	/* through the direct map, or at the physical address while paging is off */
	env_access(e, paging ? e->dm_base + gpa : gpa, ACCESS_WRITE, 0, false, es(e), val, &x);
	assert_int_equal(x.outcome, XO_OK);
}

static void store(struct env *e, uint64_t gpa, uint64_t val, bool runtime)
{
	if (runtime)
		g_write_entry(e, gpa, val);
	else
		g_boot_put(e, gpa, val);
}

uint64_t g_new_root(struct env *e)
{
	uint64_t root = g_alloc_table(e);

	if (!e->kroot)
		return root;
	/* Share the kernel's direct map: copy its top-level entries. */
	unsigned top = e->fmt.levels, span = e->o.mode == PAGING_32 ? 4 : 1;
	uint64_t first = e->kroot + (uint64_t)pt_index(&e->fmt, top, e->dm_base) * es(e);

	for (unsigned i = 0; i < span; i++)
		g_boot_put(e, root + (first - e->kroot) + (uint64_t)i * es(e),
			   g_ref_get(e, first + (uint64_t)i * es(e)));
	return root;
}

uint64_t g_entry_gpa(struct env *e, uint64_t root, uint64_t gva, unsigned level)
{
	uint64_t table = root;

	for (unsigned l = e->fmt.levels; l > level; l--) {
		uint64_t v = g_ref_get(e, table + (uint64_t)pt_index(&e->fmt, l, gva) * es(e));

		assert_true(v & PTE_P);
		table = pt_table_addr(&e->fmt, l, v);
	}
	return table + (uint64_t)pt_index(&e->fmt, level, gva) * es(e);
}

uint64_t g_map(struct env *e, uint64_t root, uint64_t gva, uint64_t gpa, unsigned level,
	       uint64_t leaf, uint64_t tflags, bool runtime)
{
	uint64_t table = root, eg;

	for (unsigned l = e->fmt.levels; l > level; l--) {
		uint64_t v;

		eg = table + (uint64_t)pt_index(&e->fmt, l, gva) * es(e);
		v = g_ref_get(e, eg);
		if (!(v & PTE_P)) {
			uint64_t nt = g_alloc_table(e);

			store(e, eg, nt | ((e->fmt.pdpte_regs && l == 3) ? PTE_P : tflags), runtime);
			table = nt;
		} else {
			table = pt_table_addr(&e->fmt, l, v);
		}
	}
	eg = table + (uint64_t)pt_index(&e->fmt, level, gva) * es(e);
	store(e, eg, gpa | leaf | (level > 1 ? PTE_PS : 0), runtime);
	return eg;
}

/* ---- processor state ---- */

void env_load_cr3(struct env *e, uint64_t cr3, bool flush)
{
	e->cpu.regs.cr3 = cr3;
	if (shadow_new_cr3(e->s, &e->cpu, flush))
		fail_msg("shadow_new_cr3: %s", shadow_error(e->s));
	ref_reinit(e);
}

void env_set_ctl(struct env *e, uint64_t cr0, uint64_t cr4, uint64_t efer)
{
	/*
	 * SDM 4.4.1: MOV to CR0/CR4 loads the PDPTEs (PAE paging) only when
	 * it changes CR0.PG (CD, NW), CR4.PAE, PGE, PSE or SMEP.
	 */
	bool reload = ((cr0 ^ e->cpu.regs.cr0) & CR0_PG) ||
		      ((cr4 ^ e->cpu.regs.cr4) & (CR4_PAE | CR4_PGE | CR4_PSE | CR4_SMEP)) ||
		      ((efer ^ e->cpu.regs.efer) & EFER_LME);
	uint64_t pdpte[4];

	struct cpu_regs old = e->cpu.regs;

	memcpy(pdpte, e->ref_mmu.pdpte, sizeof(pdpte));
	e->cpu.regs.cr0 = cr0;
	e->cpu.regs.cr4 = cr4;
	e->cpu.regs.efer = efer;
	if (cpu_paging_mode(&e->cpu.regs) != PAGING_NONE)
		pt_format_x86(&e->fmt, cpu_paging_mode(&e->cpu.regs), e->cpu.vendor, e->cpu.maxphyaddr,
			      &e->cpu.feat, cr4, efer, false);
	ref_reinit(e);
	if (!reload)
		memcpy(e->ref_mmu.pdpte, pdpte, sizeof(pdpte));
	if (shadow_ctl_changed(e->s, &e->cpu, &old))
		fail_msg("shadow_ctl_changed: %s", shadow_error(e->s));
}

void env_invlpg(struct env *e, uint64_t gva)
{
	shadow_invlpg(e->s, &e->cpu, gva);
}

/* ---- comparing ---- */

static void compare_word(struct env *e, uint64_t a)
{
	uint64_t want = ref_word(&e->ref, a), got;

	assert_int_equal(guestmem_read(&e->gm, a, 8, &got), MEM_OK);
	if (got != want)
		fail_msg("guest table word at gpa 0x%" PRIx64 ": guest memory 0x%" PRIx64
			 ", reference (hardware walker) 0x%" PRIx64 " (after %" PRIu64 " accesses)",
			 a, got, want, e->ops);
}

static void compare_page(struct env *e, uint64_t page)
{
	for (uint64_t a = page; a < page + PAGE_SIZE_4K; a += 8)
		compare_word(e, a);
}

void env_check_tables(struct env *e)
{
	for (uint64_t p = PT_BASE; p < e->pt_next; p += PAGE_SIZE_4K)
		compare_page(e, p);
}

static void sync_ref_regs(struct env *e, unsigned cpl)
{
	e->cpu.regs.cpl = cpl;
	e->ref_mmu.cfg.cpu.regs.cpl = cpl;
	e->ref_mmu.cfg.cpu.regs.rflags = e->cpu.regs.rflags;
	e->ref_mmu.cfg.cpu.regs.pkru = e->cpu.regs.pkru;
}

/* The words holding the reference walk's entries for gva (no side effect). */
static unsigned ref_path(struct env *e, uint64_t gva, uint64_t *words, struct walk_out *out)
{
	struct walk_req req = {
		.fmt = &e->ref_mmu.guest_fmt,
		.root = e->ref_mmu.guest_root,
		.pdpte_regs = e->ref_mmu.pdpte,
		.addr = gva,
		.mem = ref_pmem(e),
	};
	unsigned n = 0;

	if (e->ref_mmu.mode == PAGING_NONE)
		return 0;
	(void)walk_tables(&req, out);
	for (unsigned l = out->top; l >= out->level && l >= 1; l--)
		if (!out->ent[l].in_reg)
			words[n++] = out->ent[l].addr & ~UINT64_C(7);
	return n;
}

void env_hw_mmu(struct env *e, struct hw_mmu *m)
{
	struct hw_config cfg = { .nested = NESTED_NONE, .mem = mem_port_pmem(e->port) };
	struct xlate_result fail;
	const char *why;

	if (shadow_hw_cpu(e->s, &e->cpu, &cfg.cpu))
		fail_msg("shadow_hw_regs: %s", shadow_error(e->s));
	why = hw_config_invalid(&cfg);
	if (why)
		fail_msg("hardware state from shadow_hw_regs invalid: %s", why);
	if (!hw_mmu_init(m, &cfg, &fail))
		fail_msg("VM entry on the shadow root fails: %s", fail.reason ? fail.reason : "?");
}

static const char *acc_name(enum access_type t)
{
	return t == ACCESS_READ ? "read" : t == ACCESS_WRITE ? "write" : "fetch";
}

/* For a failure: the shadow and guest entries on gva's path. */
static void dump_paths(struct env *e, uint64_t gva)
{
	struct hw_mmu m;
	struct walk_trace tr;
	struct walk_step steps[16];
	struct xlate_result r;

	tr = (struct walk_trace){ .steps = steps, .cap = 16 };
	env_hw_mmu(e, &m);
	hw_translate(&m, gva, ACCESS_READ, false, &r, &tr);
	print_message("shadow walk of 0x%" PRIx64 " (hw cr3 0x%" PRIx64 "):\n", gva, m.cfg.cpu.regs.cr3);
	for (unsigned i = 0; i < tr.n && i < 16; i++)
		print_message("  L%u entry 0x%" PRIx64 " = 0x%" PRIx64 " %s\n", steps[i].level, steps[i].entry_hpa,
			      steps[i].value, steps[i].note);
	tr.n = 0;
	hw_translate(&e->ref_mmu, gva, ACCESS_READ, false, &r, &tr);
	print_message("guest walk (reference):\n");
	for (unsigned i = 0; i < tr.n && i < 16; i++)
		print_message("  L%u entry 0x%" PRIx64 " = 0x%" PRIx64 " %s\n", steps[i].level, steps[i].entry_addr,
			      steps[i].value, steps[i].note);
}

void env_access(struct env *e, uint64_t gva, enum access_type t, unsigned cpl, bool implicit,
		unsigned size, uint64_t val, struct xs *out)
{
	struct xlate_result rr, r;
	struct xs sh = { .outcome = XO_ABORT };
	uint64_t pages[PT_MAX_LEVELS + 2];
	struct walk_out wo;
	unsigned np;

	uint64_t emulated0 = e->emulated;

	sync_ref_regs(e, cpl);
	np = ref_path(e, gva, pages, &wo);
	hw_translate(&e->ref_mmu, gva, t, implicit, &rr, NULL);
	if (rr.outcome != XO_OK && rr.outcome != XO_PAGE_FAULT && rr.outcome != XO_GP)
		fail_msg("reference walk: %s %s", xlate_outcome_name(rr.outcome), rr.reason ? rr.reason : "");
	bool table_write = rr.outcome == XO_OK && t == ACCESS_WRITE && is_table(e, rr.gpa);
	if (table_write) {
		ref_put(&e->ref, rr.gpa, size, val);
		pages[np++] = rr.gpa & ~UINT64_C(7);
	}

	for (unsigned tries = 0;; tries++) {
		struct hw_mmu m;
		struct mmu_fault f;
		enum ret_pf ret;

		if (tries == 8)
			fail_msg("gva 0x%" PRIx64 " %s: still faulting after 8 shadow faults", gva, acc_name(t));
		env_hw_mmu(e, &m);
		hw_translate(&m, gva, t, implicit, &r, NULL);
		if (r.outcome == XO_OK) {
			assert_int_equal(r.ad_writes, 0);
			if (table_write)
				assert_int_equal(mem_port_write(e->port, r.hpa, size, val), MEM_OK);
			sh.outcome = XO_OK;
			sh.hpa = r.hpa;
			break;
		}
		if (r.outcome == XO_GP) {
			sh.outcome = XO_GP;
			break;
		}
		if (r.outcome != XO_PAGE_FAULT)
			fail_msg("hardware walk of the shadow tables: %s %s", xlate_outcome_name(r.outcome),
				 r.reason ? r.reason : "");
		memset(&f, 0, sizeof(f));
		f.kind = MMU_FAULT_GUEST;
		f.access = t;
		f.user = cpl == 3 && !implicit;
		f.gva = gva;
		f.error_code = r.error_code;
		ret = implicit ? shadow_page_fault_implicit(e->s, &e->cpu, &f)
			       : shadow_page_fault(e->s, &e->cpu, &f);
		if (ret == RET_PF_FIXED) {
			e->fixed++;
			continue;
		}
		if (ret == RET_PF_INJECT) {
			e->injected++;
			sh.outcome = f.inject.outcome;
			sh.ec = f.inject.error_code;
			sh.cr2 = f.inject.cr2;
			break;
		}
		if (ret == RET_PF_EMULATE) {
			e->emulated++;
			if (t == ACCESS_WRITE &&
			    shadow_emulate_write(e->s, &e->cpu, f.emulate_gpa, size, val) != MEM_OK)
				fail_msg("shadow_emulate_write failed");
			sh.outcome = XO_OK;
			sh.hpa = env_frame(e, f.emulate_gpa);
			break;
		}
		fail_msg("gva 0x%" PRIx64 " %s cpl %u: shadow_page_fault returned %s (%s)", gva, acc_name(t),
			 cpl, ret_pf_name(ret), shadow_error(e->s) ? shadow_error(e->s) : "");
	}
	e->ops++;
	if (table_write && getenv("SHADOW_TRACE"))
		print_message("    table write gpa 0x%" PRIx64 " = 0x%" PRIx64 " (%s)\n", rr.gpa, val,
			      e->emulated != emulated0 ? "emulated" : "direct");
	if (sh.outcome != rr.outcome)
		dump_paths(e, gva);
	if (sh.outcome != rr.outcome)
		fail_msg("gva 0x%" PRIx64 " %s cpl %u%s: shadow %s (ec 0x%x), hardware walker %s (ec 0x%x)",
			 gva, acc_name(t), cpl, implicit ? " implicit" : "", xlate_outcome_name(sh.outcome),
			 sh.ec, xlate_outcome_name(rr.outcome), rr.error_code);
	if (rr.outcome == XO_OK) {
		uint64_t want = env_frame(e, rr.gpa);

		if (sh.hpa != want)
			fail_msg("gva 0x%" PRIx64 " %s: shadow reaches 0x%" PRIx64 ", the hardware walker gpa 0x%"
				 PRIx64 " whose frame is 0x%" PRIx64, gva, acc_name(t), sh.hpa, rr.gpa, want);
		sh.gpa = rr.gpa;
	} else if (rr.outcome == XO_PAGE_FAULT) {
		if (sh.ec != rr.error_code || sh.cr2 != rr.cr2)
			fail_msg("gva 0x%" PRIx64 " %s cpl %u: #PF ec 0x%x cr2 0x%" PRIx64 ", hardware walker ec 0x%x"
				 " cr2 0x%" PRIx64, gva, acc_name(t), cpl, sh.ec, sh.cr2, rr.error_code, rr.cr2);
	}
	/*
	 * The entries the access may have changed: the A/D flags on its walk
	 * and the word written. (Whole tables: env_check_tables.)
	 */
	for (unsigned i = 0; i < np; i++)
		compare_word(e, pages[i]);
	if (out)
		*out = sh;
}

void env_check_subset(struct env *e, const uint64_t *gvas, unsigned n)
{
	static const enum access_type types[3] = { ACCESS_READ, ACCESS_WRITE, ACCESS_FETCH };
	const char *why = shadow_check(e->s);
	struct hw_mmu m;

	if (why)
		fail_msg("shadow_check: %s", why);
	env_hw_mmu(e, &m);
	for (unsigned i = 0; i < n; i++) {
		for (unsigned cpl = 0; cpl <= 3; cpl += 3) {
			for (unsigned k = 0; k < 3; k++) {
				struct xlate_result r;
				struct walk_out wo;
				uint64_t pages[PT_MAX_LEVELS + 2], gpa;

				m.cfg.cpu.regs.cpl = cpl;
				hw_translate(&m, gvas[i], types[k], false, &r, NULL);
				if (r.outcome != XO_OK)
					continue;
				assert_int_equal(r.ad_writes, 0);
				sync_ref_regs(e, cpl);
				if (e->ref_mmu.mode == PAGING_NONE) {
					gpa = gvas[i] & 0xffffffffu;
				} else {
					(void)ref_path(e, gvas[i], pages, &wo);
					if (wo.status != WALK_OK ||
					    x86_access_fault(&e->ref_mmu.cfg.cpu.regs, &e->ref_mmu.guest_fmt, wo.rights,
							     wo.pkey, types[k], false))
						fail_msg("gva 0x%" PRIx64 " %s cpl %u: the shadow tables allow what the guest's"
							 " do not", gvas[i], acc_name(types[k]), cpl);
					for (unsigned l = wo.top; l >= wo.level && l >= 1; l--)
						if (!wo.ent[l].in_reg && !(wo.ent[l].val & PTE_A))
							fail_msg("gva 0x%" PRIx64 ": shadow-mapped with A clear at guest level %u",
								 gvas[i], l);
					if (types[k] == ACCESS_WRITE && !(wo.ent[wo.level].val & PTE_D))
						fail_msg("gva 0x%" PRIx64 ": shadow-writable with the guest's D clear", gvas[i]);
					gpa = wo.out_addr;
				}
				if (env_frame(e, gpa) != r.hpa)
					dump_paths(e, gvas[i]);
				if (env_frame(e, gpa) != r.hpa)
					fail_msg("gva 0x%" PRIx64 ": shadow maps 0x%" PRIx64 ", the guest's tables 0x%" PRIx64,
						 gvas[i], r.hpa, env_frame(e, gpa));
			}
		}
	}
}
