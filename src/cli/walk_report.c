/*
 * walk_report.c - text and JSON output of `nestmmu walk` (walk_report.h).
 */
#include "cli/walk_report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/util.h"

#include "arch/x86.h"

/* ---- names and decoders shared by both outputs ---- */

static const char *nested_name(enum nested_mode n)
{
	switch (n) {
	case NESTED_NONE: return "none";
	case NESTED_EPT: return "ept";
	case NESTED_NPT: return "npt";
	}
	return "?";
}

static const char *access_name(enum access_type t)
{
	switch (t) {
	case ACCESS_READ: return "read";
	case ACCESS_WRITE: return "write";
	case ACCESS_FETCH: return "fetch";
	}
	return "?";
}

static const char *step_kind_name(unsigned k)
{
	switch (k) {
	case STEP_READ: return "read";
	case STEP_PDPTE_REG: return "pdpte_register";
	case STEP_AD_UPDATE: return "ad_update";
	case STEP_CACHED: return "cached";
	}
	return "?";
}

/* The format a step's entry belongs to. */
static const struct pt_format *step_fmt(const struct walk_run *run, const struct walk_step *st)
{
	return st->dim ? &run->mmu->nested_fmt : &run->mmu->guest_fmt;
}

/* "PML4E", "EPT PDE", "NPT PTE", ... */
static const char *level_name(char *buf, size_t size, const struct walk_run *run,
			      const struct walk_step *st)
{
	static const char *const names[] = { "L0E", "PTE", "PDE", "PDPTE", "PML4E", "PML5E" };
	const char *base = st->level <= 5 ? names[st->level] : "L?E";
	const char *prefix = "";

	if (st->dim)
		prefix = run->s->cfg.nested == NESTED_EPT ? "EPT " : "NPT ";
	snprintf(buf, size, "%s%s", prefix, base);
	return buf;
}

struct bitname {
	uint64_t bit;
	const char *name;
};

static void append(char *buf, size_t size, size_t *len, const char *s)
{
	int n;

	if (*len >= size)
		return;
	n = snprintf(buf + *len, size - *len, "%s%s", *len ? " " : "", s);
	if (n > 0)
		*len += (size_t)n;
}

static const char *mt_name(unsigned mt)
{
	switch (mt) {
	case MT_UC: return "UC";
	case MT_WC: return "WC";
	case MT_WT: return "WT";
	case MT_WP: return "WP";
	case MT_WB: return "WB";
	}
	return NULL;
}

/* The flags of a paging-structure entry, for people. */
static const char *entry_flags(char *buf, size_t size, const struct pt_format *f, unsigned level,
			       uint64_t e)
{
	size_t len = 0;
	bool leaf;

	buf[0] = '\0';
	if (!pt_present(f, e)) {
		append(buf, size, &len, "not-present");
		return buf;
	}
	leaf = pt_is_leaf(f, level, e);
	if (f->family == PT_FAMILY_EPT) {
		char mt[16];
		const char *m;

		if (e & EPT_R) append(buf, size, &len, "R");
		if (e & EPT_W) append(buf, size, &len, "W");
		if (e & EPT_X) append(buf, size, &len, f->ept_mbec ? "XS" : "X");
		if (f->ept_mbec && (e & EPT_XU)) append(buf, size, &len, "XU");
		if (e & EPT_A) append(buf, size, &len, "A");
		if (leaf && (e & EPT_D)) append(buf, size, &len, "D");
		if (leaf && level > 1) append(buf, size, &len, "PS");
		if (leaf) {
			unsigned t = (unsigned)((e & EPT_MT_MASK) >> EPT_MT_SHIFT);

			m = mt_name(t);
			if (m)
				snprintf(mt, sizeof(mt), "MT=%s", m);
			else
				snprintf(mt, sizeof(mt), "MT=%u", t);
			append(buf, size, &len, mt);
			if (e & EPT_IPAT) append(buf, size, &len, "IPAT");
		}
		return buf;
	}
	append(buf, size, &len, "P");
	if (e & PTE_RW) append(buf, size, &len, "W");
	if (e & PTE_US) append(buf, size, &len, "U");
	if (e & PTE_PWT) append(buf, size, &len, "PWT");
	if (e & PTE_PCD) append(buf, size, &len, "PCD");
	if (e & PTE_A) append(buf, size, &len, "A");
	if (leaf && (e & PTE_D)) append(buf, size, &len, "D");
	if (leaf && level > 1) append(buf, size, &len, "PS");
	if (leaf && (e & PTE_G)) append(buf, size, &len, "G");
	if (f->entry_size == 8 && (e & PTE_XD)) append(buf, size, &len, "XD");
	if (leaf && f->pke) {
		char pk[16];

		snprintf(pk, sizeof(pk), "PKEY=%u", (unsigned)((e & PTE_PKEY_MASK) >> PTE_PKEY_SHIFT));
		append(buf, size, &len, pk);
	}
	return buf;
}

/* A bit field with its set bits named, e.g. "P W U". */
static const char *bits(char *buf, size_t size, uint64_t v, const struct bitname *names, size_t n)
{
	size_t i, len = 0;
	uint64_t known = 0;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		known |= names[i].bit;
		if (v & names[i].bit)
			append(buf, size, &len, names[i].name);
	}
	if (v & ~known) {
		char o[40];

		snprintf(o, sizeof(o), "other:0x%" PRIx64, v & ~known);
		append(buf, size, &len, o);
	}
	if (!len)
		append(buf, size, &len, "-");
	return buf;
}

static const struct bitname pfec_names[] = {
	{ PFEC_P, "P" }, { PFEC_W, "W/R" }, { PFEC_U, "U/S" }, { PFEC_RSVD, "RSVD" },
	{ PFEC_ID, "I/D" }, { PFEC_PK, "PK" },
};

static const struct bitname eptq_names[] = {
	{ EPTQ_READ, "read" }, { EPTQ_WRITE, "write" }, { EPTQ_FETCH, "fetch" },
	{ EPTQ_READABLE, "readable" }, { EPTQ_WRITABLE, "writable" },
	{ EPTQ_EXECUTABLE, "executable" }, { EPTQ_USER_EXEC, "user-executable" },
	{ EPTQ_GLA_VALID, "gla-valid" }, { EPTQ_FINAL, "final-translation" },
};

static const struct bitname npf_names[] = {
	{ NPF_P, "P" }, { NPF_W, "W" }, { NPF_U, "U" }, { NPF_RSVD, "RSVD" }, { NPF_ID, "ID" },
	{ NPF_FINAL, "final-gpa" }, { NPF_GUEST_PT, "guest-table" },
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static enum paging_mode run_mode(const struct walk_run *run)
{
	return run->entered ? run->mmu->mode : cpu_paging_mode(&run->s->cfg.cpu.regs);
}

/* Value of a word before the access: the last mem line for it, else 0. */
static uint64_t initial_value(const struct scenario *s, uint64_t addr)
{
	size_t i = s->n_mem;

	while (i-- > 0)
		if (s->mem[i].addr == addr)
			return s->mem[i].val;
	return 0;
}

static unsigned trace_count(const struct walk_trace *t)
{
	return t->n < t->cap ? t->n : t->cap;
}

/* ---- JSON ---- */

static void json_steps(struct json_writer *w, const struct walk_run *run)
{
	const struct walk_trace *t = run->trace;
	unsigned i, n = trace_count(t);
	char b[32];

	json_key(w, "steps");
	json_array_begin(w);
	for (i = 0; i < n; i++) {
		const struct walk_step *st = &t->steps[i];
		const struct pt_format *f = step_fmt(run, st);

		json_object_begin(w);
		json_kv_string(w, "dim", st->dim ? "nested" : "guest");
		json_kv_string(w, "kind", step_kind_name(st->kind));
		json_kv_uint(w, "level", st->level);
		json_kv_string(w, "name", level_name(b, sizeof(b), run, st));
		json_kv_hex(w, "addr", st->addr);
		if (st->kind == STEP_READ || st->kind == STEP_AD_UPDATE) {
			unsigned idx = pt_index(f, st->level, st->addr);

			json_kv_uint(w, "index", idx);
			json_kv_hex(w, "table", st->entry_addr - (uint64_t)idx * f->entry_size);
			json_kv_hex(w, "entry_addr", st->entry_addr);
			json_kv_hex(w, "entry_hpa", st->entry_hpa);
		} else if (st->kind == STEP_PDPTE_REG) {
			json_kv_uint(w, "index", pt_index(f, st->level, st->addr));
		}
		if (st->kind != STEP_CACHED)
			json_kv_hex(w, "value", st->value);
		if (st->note)
			json_kv_string(w, "note", st->note);
		json_object_end(w);
	}
	json_array_end(w);
	if (t->n > t->cap)
		json_kv_uint(w, "steps_truncated_from", t->n);
}

void walk_write_json(struct json_writer *w, const struct walk_run *run, unsigned scenario_no)
{
	const struct scenario *s = run->s;
	const struct xlate_result *r = &run->res;
	size_t i;

	json_object_begin(w);
	if (scenario_no)
		json_kv_uint(w, "scenario", scenario_no);
	json_kv_string(w, "outcome", xlate_outcome_name(r->outcome));
	switch (r->outcome) {
	case XO_OK:
		json_kv_hex(w, "gpa", r->gpa);
		json_kv_hex(w, "hpa", r->hpa);
		json_kv_uint(w, "page_size", r->page_size);
		break;
	case XO_PAGE_FAULT:
		json_kv_hex(w, "error_code", r->error_code);
		json_kv_hex(w, "cr2", r->cr2);
		break;
	case XO_EPT_VIOLATION:
		json_kv_hex(w, "qualification", r->qualification);
		json_kv_hex(w, "gpa", r->fault_gpa);
		if (r->gla_valid)
			json_kv_hex(w, "gla", r->gla);
		break;
	case XO_EPT_MISCONFIG:
		json_kv_hex(w, "gpa", r->fault_gpa);
		break;
	case XO_NPF:
		json_kv_hex(w, "exitinfo1", r->exitinfo1);
		json_kv_hex(w, "exitinfo2", r->exitinfo2);
		break;
	case XO_GP:
		break;
	case XO_VMENTRY_FAIL:
	case XO_ABORT:
		json_kv_string(w, "reason", r->reason ? r->reason : "");
		break;
	}
	json_kv_uint(w, "refs", r->refs);
	json_kv_uint(w, "ad_writes", r->ad_writes);
	json_kv_string(w, "mode", paging_mode_name(run_mode(run)));
	json_kv_string(w, "nested", nested_name(s->cfg.nested));
	json_kv_string(w, "access", access_name(s->type));
	json_kv_hex(w, "la", s->la);
	if (s->n_rb) {
		json_key(w, "readback");
		json_object_begin(w);
		for (i = 0; i < s->n_rb; i++) {
			char key[24];

			snprintf(key, sizeof(key), "0x%" PRIx64, s->rb[i].addr);
			json_kv_hex(w, key, run->readback[i]);
		}
		json_object_end(w);
	}
	if (run->trace)
		json_steps(w, run);
	json_object_end(w);
}

void walk_write_json_error(struct json_writer *w, const char *file, unsigned scenario_no,
			   unsigned line, const char *msg)
{
	json_object_begin(w);
	if (scenario_no)
		json_kv_uint(w, "scenario", scenario_no);
	json_kv_string(w, "outcome", "error");
	json_kv_string(w, "file", file);
	json_kv_uint(w, "line", line);
	json_kv_string(w, "error", msg);
	json_object_end(w);
}

/* ---- text ---- */

static void print_setup(FILE *out, const struct walk_run *run)
{
	const struct scenario *s = run->s;
	const struct hw_config *c = &s->cfg;
	const struct cpu_regs *rg = &c->cpu.regs;
	const struct cpu_features *ft = &c->cpu.feat;
	const struct ept_caps *ec = &c->ept_caps;
	enum paging_mode mode = run_mode(run);

	fprintf(out, "scenario  %s (lines %u-%u)\n", run->file, s->first_line, s->last_line);
	fprintf(out, "cpu       %s, MAXPHYADDR %u, guest features:%s%s%s%s%s%s\n",
		cpu_vendor_name(c->cpu.vendor), c->cpu.maxphyaddr,
		ft->gbpages ? " 1g" : "", ft->la57 ? " la57" : "", ft->pku ? " pku" : "",
		ft->smep ? " smep" : "", ft->smap ? " smap" : "",
		(ft->gbpages || ft->la57 || ft->pku || ft->smep || ft->smap) ? "" : " none");
	fprintf(out, "guest     %s%s; CR0 0x%" PRIx64 " CR3 0x%" PRIx64 " CR4 0x%" PRIx64
		" EFER 0x%" PRIx64 " RFLAGS 0x%" PRIx64 " CPL %u PKRU 0x%" PRIx32 "\n",
		mode == PAGING_NONE ? "paging off" : paging_mode_name(mode),
		mode == PAGING_NONE ? "" : " paging", rg->cr0, rg->cr3, rg->cr4, rg->efer, rg->rflags, rg->cpl,
		rg->pkru);
	switch (c->nested) {
	case NESTED_NONE:
		fprintf(out, "nested    none (guest-physical = host-physical)\n");
		break;
	case NESTED_EPT:
		fprintf(out, "nested    EPT: EPTP 0x%" PRIx64 " (memory type %u, walk length %u, "
			"A/D %s); capabilities:%s%s%s%s%s%s\n",
			c->eptp, (unsigned)(c->eptp & EPTP_MT_MASK),
			(unsigned)((c->eptp & EPTP_WALK_MASK) >> EPTP_WALK_SHIFT) + 1,
			(c->eptp & EPTP_AD) ? "on" : "off",
			ec->xonly ? " xonly" : "", ec->mbec ? " mbec" : "", ec->ad ? " ad" : "",
			ec->gb1 ? " 1g" : "", ec->walk5 ? " walk5" : "",
			(ec->xonly || ec->mbec || ec->ad || ec->gb1 || ec->walk5) ? "" : " none");
		break;
	case NESTED_NPT:
		fprintf(out, "nested    NPT: nCR3 0x%" PRIx64 ", host CR4 0x%" PRIx64
			" EFER 0x%" PRIx64 "%s\n", c->ncr3, c->ncr4, c->nefer,
			run->entered ? (run->mmu->nested_fmt.levels == 5 ? " (5-level nested tables)"
					 : " (4-level nested tables)") : "");
		break;
	}
	fprintf(out, "access    %s%s at linear address 0x%" PRIx64 "%s\n",
		rg->cpl == 3 && !s->implicit ? "user " : "supervisor ", access_name(s->type), s->la,
		s->implicit ? " (implicit supervisor access)" : "");
}

enum { C_NUM, C_DIM, C_LEVEL, C_FOR, C_TABLE, C_IDX, C_EHPA, C_VALUE, C_CHECK, N_COLS };

struct step_row {
	char c[N_COLS - 1][48];
	char check[200]; /* the last column, C_CHECK */
};

static char *cell(struct step_row *r, unsigned c)
{
	return c == C_CHECK ? r->check : r->c[c];
}

/* The cells of one step's row. */
static void step_cells(const struct walk_run *run, unsigned i, struct step_row *row)
{
	const struct walk_step *st = &run->trace->steps[i];
	const struct pt_format *f = step_fmt(run, st);
	const char *space = st->dim ? "hpa" : (run->s->cfg.nested == NESTED_NONE ? "pa" : "gpa");
	char flags[96];

	memset(row, 0, sizeof(*row));
	snprintf(row->c[C_NUM], sizeof(row->c[C_NUM]), "%u", i + 1);
	snprintf(row->c[C_DIM], sizeof(row->c[C_DIM]), "%s", st->dim ? "nested" : "guest");
	level_name(row->c[C_LEVEL], sizeof(row->c[C_LEVEL]), run, st);
	snprintf(row->c[C_FOR], sizeof(row->c[C_FOR]), "%s 0x%" PRIx64, st->dim ? "gpa" : "la",
		 st->addr);
	flags[0] = '\0';
	switch (st->kind) {
	case STEP_READ:
	case STEP_AD_UPDATE: {
		unsigned ix = pt_index(f, st->level, st->addr);

		snprintf(row->c[C_TABLE], sizeof(row->c[C_TABLE]), "%s 0x%" PRIx64, space,
			 st->entry_addr - (uint64_t)ix * f->entry_size);
		snprintf(row->c[C_IDX], sizeof(row->c[C_IDX]), "%u", ix);
		snprintf(row->c[C_EHPA], sizeof(row->c[C_EHPA]), "0x%" PRIx64, st->entry_hpa);
		entry_flags(flags, sizeof(flags), f, st->level, st->value);
		break;
	}
	case STEP_PDPTE_REG:
		snprintf(row->c[C_TABLE], sizeof(row->c[C_TABLE]), "PDPTE registers");
		snprintf(row->c[C_IDX], sizeof(row->c[C_IDX]), "%u", pt_index(f, st->level, st->addr));
		snprintf(row->c[C_EHPA], sizeof(row->c[C_EHPA]), "(register)");
		entry_flags(flags, sizeof(flags), f, st->level, st->value);
		break;
	case STEP_CACHED:
		snprintf(row->c[C_TABLE], sizeof(row->c[C_TABLE]), "(cached)");
		break;
	}
	if (st->kind == STEP_CACHED)
		snprintf(row->c[C_VALUE], sizeof(row->c[C_VALUE]), "-");
	else
		snprintf(row->c[C_VALUE], sizeof(row->c[C_VALUE]), "0x%016" PRIx64, st->value);
	snprintf(row->check, sizeof(row->check), "%s%s%s%s",
		 st->kind == STEP_AD_UPDATE ? "A/D write: " : "", flags,
		 st->note ? "; " : "", st->note ? st->note : "");
}

static void print_steps(FILE *out, const struct walk_run *run)
{
	static const char *const head[N_COLS] = { "#", "dim", "level", "for", "table", "idx",
						  "entry hpa", "value", "entry flags; check" };
	const struct walk_trace *t = run->trace;
	unsigned i, c, n = trace_count(t), reads[2] = { 0, 0 };
	size_t width[N_COLS];
	struct step_row *rows;

	fprintf(out, "\nwalk      guest = the guest's tables (linear -> guest-physical)%s\n",
		run->s->cfg.nested == NESTED_NONE ? ""
		: ";\n          nested = the EPT/NPT tables (guest-physical -> host-physical)");
	if (!n) {
		fprintf(out, "          (no paging-structure entry used)\n");
		return;
	}
	rows = cli_xrealloc(NULL, n * sizeof(*rows));
	for (c = 0; c < N_COLS; c++)
		width[c] = strlen(head[c]);
	for (i = 0; i < n; i++) {
		step_cells(run, i, &rows[i]);
		for (c = 0; c < N_COLS; c++)
			if (strlen(cell(&rows[i], c)) > width[c])
				width[c] = strlen(cell(&rows[i], c));
		if (t->steps[i].kind == STEP_READ)
			reads[t->steps[i].dim ? 1 : 0]++;
	}
	fprintf(out, "  %*s", (int)width[C_NUM], head[C_NUM]);
	for (c = 1; c < N_COLS; c++)
		fprintf(out, "  %-*s", c + 1 < N_COLS ? (int)width[c] : 0, head[c]);
	fprintf(out, "\n");
	for (i = 0; i < n; i++) {
		fprintf(out, "  %*s", (int)width[C_NUM], rows[i].c[C_NUM]);
		for (c = 1; c < N_COLS; c++)
			fprintf(out, "  %-*s", c + 1 < N_COLS ? (int)width[c] : 0, cell(&rows[i], c));
		fprintf(out, "\n");
	}
	free(rows);
	if (t->n > t->cap)
		fprintf(out, "  ... trace truncated: %u steps recorded of %u\n", t->cap, t->n);
	else if (run->s->cfg.nested != NESTED_NONE)
		fprintf(out, "  entries read: %u guest, %u nested\n", reads[0], reads[1]);
}

static void print_size(FILE *out, uint64_t size)
{
	if (size >= PAGE_SIZE_1G && size % PAGE_SIZE_1G == 0)
		fprintf(out, "%" PRIu64 " GiB", size / PAGE_SIZE_1G);
	else if (size >= (UINT64_C(1) << 20) && size % (UINT64_C(1) << 20) == 0)
		fprintf(out, "%" PRIu64 " MiB", size >> 20);
	else
		fprintf(out, "%" PRIu64 " KiB", size >> 10);
	fprintf(out, " (%" PRIu64 ")", size);
}

static void print_outcome(FILE *out, const struct walk_run *run)
{
	const struct xlate_result *r = &run->res;
	char b[160];

	fprintf(out, "\noutcome   %s", xlate_outcome_name(r->outcome));
	switch (r->outcome) {
	case XO_OK:
		fprintf(out, "\n  gpa            0x%" PRIx64 "%s\n", r->gpa,
			run->s->cfg.nested == NESTED_NONE ? " (no nesting: = hpa)" : "");
		fprintf(out, "  hpa            0x%" PRIx64 "\n", r->hpa);
		fprintf(out, "  page size      ");
		print_size(out, r->page_size);
		fprintf(out, "\n");
		break;
	case XO_PAGE_FAULT:
		fprintf(out, " (#PF delivered to the guest)\n");
		fprintf(out, "  error code     0x%" PRIx32 " (%s)\n", r->error_code,
			bits(b, sizeof(b), r->error_code, pfec_names, N_OF(pfec_names)));
		fprintf(out, "  cr2            0x%" PRIx64 "\n", r->cr2);
		break;
	case XO_GP:
		fprintf(out, " (#GP: linear address 0x%" PRIx64 " is not canonical in %s)\n",
			run->s->la, paging_mode_name(run_mode(run)));
		break;
	case XO_EPT_VIOLATION:
		fprintf(out, " (VM exit)\n");
		fprintf(out, "  qualification  0x%" PRIx64 " (%s)\n", r->qualification,
			bits(b, sizeof(b), r->qualification, eptq_names, N_OF(eptq_names)));
		fprintf(out, "  gpa            0x%" PRIx64 "\n", r->fault_gpa);
		if (r->gla_valid)
			fprintf(out, "  gla            0x%" PRIx64 "\n", r->gla);
		break;
	case XO_EPT_MISCONFIG:
		fprintf(out, " (VM exit)\n  gpa            0x%" PRIx64 "\n", r->fault_gpa);
		break;
	case XO_NPF:
		fprintf(out, " (#VMEXIT(NPF))\n");
		fprintf(out, "  exitinfo1      0x%" PRIx64 " (%s)\n", r->exitinfo1,
			bits(b, sizeof(b), r->exitinfo1, npf_names, N_OF(npf_names)));
		fprintf(out, "  exitinfo2      0x%" PRIx64 " (faulting guest-physical address)\n",
			r->exitinfo2);
		break;
	case XO_VMENTRY_FAIL:
	case XO_ABORT:
		fprintf(out, "%s\n  reason         %s\n",
			r->outcome == XO_VMENTRY_FAIL ? " (the state cannot be entered; no access made)"
			: " (the walk left host memory)", r->reason ? r->reason : "");
		break;
	}
	fprintf(out, "  refs           %u (paging-structure entries read from memory)\n", r->refs);
	fprintf(out, "  A/D writes     %u\n", r->ad_writes);
}

static void print_readback(FILE *out, const struct walk_run *run)
{
	const struct scenario *s = run->s;
	size_t i;

	if (!s->n_rb)
		return;
	fprintf(out, "\nreadback  (host-physical words after the access)\n");
	for (i = 0; i < s->n_rb; i++) {
		uint64_t before = initial_value(s, s->rb[i].addr), now = run->readback[i];

		fprintf(out, "  0x%-12" PRIx64 " 0x%016" PRIx64, s->rb[i].addr, now);
		if (before == now) {
			fprintf(out, "  (unchanged)\n");
			continue;
		}
		fprintf(out, "  (was 0x%" PRIx64, before);
		if (now & ~before)
			fprintf(out, "; set 0x%" PRIx64, now & ~before);
		if (before & ~now)
			fprintf(out, "; cleared 0x%" PRIx64, before & ~now);
		fprintf(out, ")\n");
	}
}

void walk_print_text(FILE *out, const struct walk_run *run)
{
	print_setup(out, run);
	if (run->trace && run->entered)
		print_steps(out, run);
	print_outcome(out, run);
	print_readback(out, run);
}
