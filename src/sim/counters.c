/*
 * counters.c - names of the counters, arithmetic on counter sets and
 * iteration over (name, value).
 *
 * The iteration is driven by a table of families: one row per field of
 * struct counters, giving its name, its offset and the enums that index it
 * (with the range of each index that is reported).
 */
#include "sim/counters.h"

#include <stdio.h>
#include <string.h>

/* struct counters is made of uint64_t only: add and diff treat it as an array. */
_Static_assert(sizeof(struct counters) % sizeof(uint64_t) == 0, "counters hold uint64_t only");

static const char *const level_names[CNT_LEVELS] = { "l0", "l1", "l2" };

static const char *const handler_names[CNT_HANDLERS] = { "by_l0", "reflected" };

static const char *const exit_names[CNT_EXITS] = {
	[CNT_EXIT_EPT_VIOLATION] = "ept_violation",
	[CNT_EXIT_EPT_MISCONFIG] = "ept_misconfig",
	[CNT_EXIT_NPF] = "npf",
	[CNT_EXIT_PF] = "pf",
	[CNT_EXIT_CR3_WRITE] = "cr3_write",
	[CNT_EXIT_INVLPG] = "invlpg",
	[CNT_EXIT_INVPCID] = "invpcid",
	[CNT_EXIT_CR0_CR4_WRITE] = "cr0_cr4_write",
	[CNT_EXIT_HYPERCALL] = "hypercall",
	[CNT_EXIT_VMRESUME] = "vmresume_vmrun",
	[CNT_EXIT_VMREAD_VMWRITE] = "vmread_vmwrite",
	[CNT_EXIT_INVEPT] = "invept",
	[CNT_EXIT_INVVPID] = "invvpid",
	[CNT_EXIT_INVLPGA] = "invlpga",
	[CNT_EXIT_INTERRUPT] = "interrupt",
	[CNT_EXIT_HLT] = "hlt",
	[CNT_EXIT_OTHER] = "other",
};

static const char *const tlb_names[CNT_TLBS] = {
	[CNT_TLB_TLB] = "tlb",
	[CNT_TLB_PSC] = "psc",
	[CNT_TLB_NPSC] = "npsc",
	[CNT_TLB_NTLB] = "ntlb",
};

static const char *const dim_names[CNT_DIMS] = { "guest", "nested" };

static const char *const flush_names[CNT_FLUSHES] = {
	[CNT_FLUSH_ADDR] = "addr",
	[CNT_FLUSH_PCID] = "pcid",
	[CNT_FLUSH_ALL_NONGLOBAL] = "all_nonglobal",
	[CNT_FLUSH_ALL] = "all",
	[CNT_FLUSH_VPID] = "vpid",
	[CNT_FLUSH_EPT_CTX] = "ept_ctx",
	[CNT_FLUSH_EPT_ALL] = "ept_all",
};

static const char *const hcall_names[CNT_HCALLS] = {
	[CNT_HC_OTHER] = "other",
	[CNT_HC_TLB_FLUSH] = "tlb_flush",
	[CNT_HC_PV_MMU_LOAD] = "pv_mmu_load",
	[CNT_HC_PV_MMU_UNLOAD] = "pv_mmu_unload",
	[CNT_HC_PV_MAP] = "pv_map",
	[CNT_HC_PV_UNMAP] = "pv_unmap",
	[CNT_HC_PV_ZAP_RANGE] = "pv_zap_range",
	[CNT_HC_PV_ZAP_ALL] = "pv_zap_all",
};

static const char *const pt_names[CNT_PTS] = {
	[CNT_PT_GUEST_L0] = "guest_l0",
	[CNT_PT_GUEST_L1] = "guest_l1",
	[CNT_PT_GUEST_L2] = "guest_l2",
	[CNT_PT_EPT01] = "ept01",
	[CNT_PT_SHADOW_L0] = "shadow_l0",
	[CNT_PT_SHADOW_L1] = "shadow_l1",
	[CNT_PT_EPT12] = "ept12",
	[CNT_PT_EPT02] = "ept02",
};

static const enum cnt_level pt_owner[CNT_PTS] = {
	[CNT_PT_GUEST_L0] = CNT_L0,
	[CNT_PT_GUEST_L1] = CNT_L1,
	[CNT_PT_GUEST_L2] = CNT_L2,
	[CNT_PT_EPT01] = CNT_L0,
	[CNT_PT_SHADOW_L0] = CNT_L0,
	[CNT_PT_SHADOW_L1] = CNT_L1,
	[CNT_PT_EPT12] = CNT_L1,
	[CNT_PT_EPT02] = CNT_L0,
};

static const char *name_of(const char *const *tab, unsigned n, int i)
{
	return (i >= 0 && (unsigned)i < n) ? tab[i] : "?";
}

const char *cnt_level_name(enum cnt_level l) { return name_of(level_names, CNT_LEVELS, (int)l); }
const char *cnt_handler_name(enum cnt_handler h) { return name_of(handler_names, CNT_HANDLERS, (int)h); }
const char *cnt_exit_name(enum cnt_exit r) { return name_of(exit_names, CNT_EXITS, (int)r); }
const char *cnt_tlb_name(enum cnt_tlb s) { return name_of(tlb_names, CNT_TLBS, (int)s); }
const char *cnt_dim_name(enum cnt_dim d) { return name_of(dim_names, CNT_DIMS, (int)d); }
const char *cnt_flush_name(enum cnt_flush f) { return name_of(flush_names, CNT_FLUSHES, (int)f); }
const char *cnt_hcall_name(enum cnt_hcall h) { return name_of(hcall_names, CNT_HCALLS, (int)h); }
const char *cnt_pt_name(enum cnt_pt k) { return name_of(pt_names, CNT_PTS, (int)k); }

enum cnt_level cnt_pt_owner(enum cnt_pt k)
{
	return ((int)k >= 0 && k < CNT_PTS) ? pt_owner[k] : CNT_L0;
}

/* ---- the table of families ---- */

/* One index of an array field: its enum's names, declared size, and reported range. */
struct dim {
	const char *const *names;
	unsigned size;   /* declared length of the array dimension */
	unsigned first;  /* first index reported */
	unsigned end;    /* one past the last index reported */
};

static const struct dim dim_level = { level_names, CNT_LEVELS, CNT_L0, CNT_LEVELS };
static const struct dim dim_guest = { level_names, CNT_LEVELS, CNT_L1, CNT_LEVELS };   /* levels that run as guests */
static const struct dim dim_hv = { level_names, CNT_LEVELS, CNT_L0, CNT_L2 };         /* levels that run a hypervisor */
static const struct dim dim_handler = { handler_names, CNT_HANDLERS, 0, CNT_HANDLERS };
static const struct dim dim_exit = { exit_names, CNT_EXITS, 0, CNT_EXITS };
static const struct dim dim_tlb = { tlb_names, CNT_TLBS, 0, CNT_TLBS };
static const struct dim dim_dim = { dim_names, CNT_DIMS, 0, CNT_DIMS };
static const struct dim dim_flush = { flush_names, CNT_FLUSHES, 0, CNT_FLUSHES };
static const struct dim dim_hcall = { hcall_names, CNT_HCALLS, 0, CNT_HCALLS };
static const struct dim dim_pt = { pt_names, CNT_PTS, 0, CNT_PTS };

#define MAX_DIMS 3

struct family {
	const char *name;
	size_t offset;
	unsigned ndims;
	const struct dim *dims[MAX_DIMS];
	const char *help;
};

static const struct family families[] = {
	{ "exits", offsetof(struct counters, exits), 3, { &dim_guest, &dim_handler, &dim_exit },
	  "VM exits, by the level that exited, who handled them and reason" },
	{ "guest_pf", offsetof(struct counters, guest_pf), 1, { &dim_level },
	  "page faults delivered to the OS at the level" },
	{ "instructions", offsetof(struct counters, instructions), 1, { &dim_level },
	  "operations executed at the level (memory accesses included)" },
	{ "mem_accesses", offsetof(struct counters, mem_accesses), 1, { &dim_level },
	  "memory accesses executed at the level" },
	{ "tlb_hits", offsetof(struct counters, tlb_hits), 2, { &dim_level, &dim_tlb },
	  "lookups that hit, by level and translation cache" },
	{ "tlb_misses", offsetof(struct counters, tlb_misses), 2, { &dim_level, &dim_tlb },
	  "lookups that missed, by level and translation cache" },
	{ "walks", offsetof(struct counters, walks), 1, { &dim_level },
	  "hardware page walks" },
	{ "walk_refs", offsetof(struct counters, walk_refs), 2, { &dim_level, &dim_dim },
	  "paging-structure entries read from memory by hardware walks, by dimension" },
	{ "ad_writes", offsetof(struct counters, ad_writes), 2, { &dim_level, &dim_dim },
	  "A/D flag updates stored by hardware walks, by dimension" },
	{ "sw_walks", offsetof(struct counters, sw_walks), 1, { &dim_hv },
	  "software walks of guest or EPT12/NPT12 tables by the hypervisor at the level" },
	{ "sw_walk_refs", offsetof(struct counters, sw_walk_refs), 1, { &dim_hv },
	  "entries read by software walks" },
	{ "sw_ad_writes", offsetof(struct counters, sw_ad_writes), 1, { &dim_hv },
	  "A/D flags set by the hypervisor in a guest's tables" },
	{ "tdp_faults", offsetof(struct counters, tdp_faults), 1, { &dim_hv },
	  "violations fixed by the TDP MMU" },
	{ "tdp_entries_set", offsetof(struct counters, tdp_entries_set), 1, { &dim_hv },
	  "TDP entries written" },
	{ "tdp_entries_zapped", offsetof(struct counters, tdp_entries_zapped), 1, { &dim_hv },
	  "TDP entries cleared" },
	{ "spt_faults", offsetof(struct counters, spt_faults), 1, { &dim_hv },
	  "page faults fixed in the shadow tables" },
	{ "spt_writes_trapped", offsetof(struct counters, spt_writes_trapped), 1, { &dim_hv },
	  "guest writes to write-protected guest page tables" },
	{ "spt_writes_emulated", offsetof(struct counters, spt_writes_emulated), 1, { &dim_hv },
	  "trapped writes emulated by the hypervisor" },
	{ "spt_entries_set", offsetof(struct counters, spt_entries_set), 1, { &dim_hv },
	  "shadow entries written" },
	{ "spt_entries_zapped", offsetof(struct counters, spt_entries_zapped), 1, { &dim_hv },
	  "shadow entries cleared" },
	{ "spt_unsync", offsetof(struct counters, spt_unsync), 1, { &dim_hv },
	  "shadow pages marked unsync" },
	{ "spt_sync", offsetof(struct counters, spt_sync), 1, { &dim_hv },
	  "unsync shadow pages synced" },
	{ "spt_sync_entries", offsetof(struct counters, spt_sync_entries), 1, { &dim_hv },
	  "entries compared while syncing" },
	{ "spt_zaps", offsetof(struct counters, spt_zaps), 1, { &dim_hv },
	  "shadow pages zapped" },
	{ "spt_root_hits", offsetof(struct counters, spt_root_hits), 1, { &dim_hv },
	  "CR3 switches served by the cache of previous roots" },
	{ "spt_root_misses", offsetof(struct counters, spt_root_misses), 1, { &dim_hv },
	  "CR3 switches that needed a new root" },
	{ "flushes", offsetof(struct counters, flushes), 2, { &dim_level, &dim_flush },
	  "TLB invalidations executed, by issuing level and scope" },
	{ "ipis", offsetof(struct counters, ipis), 1, { &dim_level },
	  "interprocessor interrupts delivered (one per target)" },
	{ "shootdowns", offsetof(struct counters, shootdowns), 1, { &dim_level },
	  "TLB shootdowns started" },
	{ "hypercalls", offsetof(struct counters, hypercalls), 2, { &dim_guest, &dim_hcall },
	  "hypercalls, by calling level and type" },
	{ "pt_alloc", offsetof(struct counters, pt_alloc), 1, { &dim_pt },
	  "page-table pages allocated, by kind" },
	{ "pt_free", offsetof(struct counters, pt_free), 1, { &dim_pt },
	  "page-table pages freed, by kind" },
	{ "pt_peak", offsetof(struct counters, pt_peak), 1, { &dim_pt },
	  "most page-table pages of the kind live at once (a gauge)" },
};

#define NFAMILIES (sizeof(families) / sizeof(families[0]))

static size_t family_count(const struct family *f)
{
	size_t n = 1;

	for (unsigned d = 0; d < f->ndims; d++)
		n *= f->dims[d]->end - f->dims[d]->first;
	return n;
}

/* Locates value i: its family, its index in the field as a flat array, and its coordinates. */
struct where {
	const struct family *f;
	size_t slot;              /* index into the field seen as uint64_t[] */
	unsigned coord[MAX_DIMS];
};

static bool locate(size_t i, struct where *w)
{
	for (size_t k = 0; k < NFAMILIES; k++) {
		const struct family *f = &families[k];
		size_t n = family_count(f);

		if (i >= n) {
			i -= n;
			continue;
		}
		w->f = f;
		/* decompose i: the last dimension varies fastest */
		for (unsigned d = f->ndims; d-- > 0;) {
			unsigned span = f->dims[d]->end - f->dims[d]->first;

			w->coord[d] = f->dims[d]->first + (unsigned)(i % span);
			i /= span;
		}
		w->slot = 0;
		for (unsigned d = 0; d < f->ndims; d++)
			w->slot = w->slot * f->dims[d]->size + w->coord[d];
		return true;
	}
	return false;
}

size_t counters_count(void)
{
	size_t n = 0;

	for (size_t k = 0; k < NFAMILIES; k++)
		n += family_count(&families[k]);
	return n;
}

static bool format_name(const struct where *w, char *buf, size_t len)
{
	size_t used;
	int r;

	r = snprintf(buf, len, "%s", w->f->name);
	if (r < 0 || (size_t)r >= len)
		return false;
	used = (size_t)r;
	for (unsigned d = 0; d < w->f->ndims; d++) {
		r = snprintf(buf + used, len - used, ".%s", w->f->dims[d]->names[w->coord[d]]);
		if (r < 0 || (size_t)r >= len - used)
			return false;
		used += (size_t)r;
	}
	return true;
}

bool counters_name(size_t i, char *buf, size_t len)
{
	struct where w;

	if (!buf || len == 0 || !locate(i, &w))
		return false;
	return format_name(&w, buf, len);
}

const char *counters_help(size_t i)
{
	struct where w;

	return locate(i, &w) ? w.f->help : NULL;
}

static const uint64_t *value_ptr(const struct counters *c, const struct where *w)
{
	return (const uint64_t *)((const char *)c + w->f->offset) + w->slot;
}

uint64_t counters_get(const struct counters *c, size_t i)
{
	struct where w;

	return locate(i, &w) ? *value_ptr(c, &w) : 0;
}

uint64_t *counters_at(struct counters *c, size_t i)
{
	struct where w;

	if (!locate(i, &w))
		return NULL;
	return (uint64_t *)((char *)c + w.f->offset) + w.slot;
}

bool counters_find(const char *name, size_t *i)
{
	char buf[COUNTERS_NAME_MAX];
	size_t n = counters_count();

	for (size_t k = 0; k < n; k++) {
		if (counters_name(k, buf, sizeof(buf)) && strcmp(buf, name) == 0) {
			if (i)
				*i = k;
			return true;
		}
	}
	return false;
}

int counters_foreach(const struct counters *c, bool skip_zero, counters_visit_fn fn, void *ctx)
{
	char buf[COUNTERS_NAME_MAX];
	size_t n = counters_count();

	for (size_t k = 0; k < n; k++) {
		struct where w;
		uint64_t v;
		int r;

		if (!locate(k, &w))
			break;
		v = *value_ptr(c, &w);
		if (skip_zero && v == 0)
			continue;
		if (!format_name(&w, buf, sizeof(buf)))
			return -1; /* cannot happen: names are short (see the tests) */
		r = fn(ctx, buf, v);
		if (r != 0)
			return r;
	}
	return 0;
}

/* ---- arithmetic ---- */

#define NWORDS (sizeof(struct counters) / sizeof(uint64_t))

void counters_zero(struct counters *c)
{
	memset(c, 0, sizeof(*c));
}

void counters_add(struct counters *a, const struct counters *b)
{
	uint64_t *pa = (uint64_t *)a;
	const uint64_t *pb = (const uint64_t *)b;

	for (size_t k = 0; k < NWORDS; k++)
		pa[k] += pb[k];
}

bool counters_diff(struct counters *out, const struct counters *after, const struct counters *before)
{
	uint64_t peak[CNT_PTS];
	const uint64_t *pa = (const uint64_t *)after;
	const uint64_t *pb = (const uint64_t *)before;
	uint64_t *po = (uint64_t *)out;
	bool ok = true;

	memcpy(peak, after->pt_peak, sizeof(peak));
	for (size_t k = 0; k < NWORDS; k++) {
		uint64_t x = pa[k], y = pb[k];

		if (y > x) {
			/* counters and peaks never decrease in a run: swapped snapshots */
			po[k] = 0;
			ok = false;
		} else {
			po[k] = x - y;
		}
	}
	memcpy(out->pt_peak, peak, sizeof(peak));
	return ok;
}

uint64_t counters_exits_sum(const struct counters *c, int level, int handler, int reason)
{
	uint64_t s = 0;

	for (int l = 0; l < CNT_LEVELS; l++) {
		if (level >= 0 && l != level)
			continue;
		for (int h = 0; h < CNT_HANDLERS; h++) {
			if (handler >= 0 && h != handler)
				continue;
			for (int r = 0; r < CNT_EXITS; r++)
				if (reason < 0 || r == reason)
					s += c->exits[l][h][r];
		}
	}
	return s;
}

uint64_t counters_sum_levels(const uint64_t v[CNT_LEVELS])
{
	uint64_t s = 0;

	for (int l = 0; l < CNT_LEVELS; l++)
		s += v[l];
	return s;
}
