/*
 * runner.c - one case through the code under test, compared with the
 * oracle field by field; detailed reports (case, expectation with the rule
 * that decided, actual result, differing entries, the walker's trace) for
 * the first mismatches of each family.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "arch/walk2d.h"
#include "conformance/rules.h"
#include "conformance/runner.h"

struct conf_runner *conf_runner_create(FILE *out, unsigned print_limit)
{
	struct conf_runner *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->b = builder_create();
	if (!r->b) {
		free(r);
		return NULL;
	}
	r->out = out;
	r->print_limit = print_limit;
	return r;
}

void conf_runner_destroy(struct conf_runner *r)
{
	if (!r)
		return;
	builder_destroy(r->b);
	free(r);
}

void conf_runner_family(struct conf_runner *r, struct conf_family *fam)
{
	r->fam = fam;
}

static struct conf_sub *sub_of(struct conf_family *fam, const char *name)
{
	for (unsigned i = 0; i < fam->nsub; i++)
		if (fam->sub[i].name == name || strcmp(fam->sub[i].name, name) == 0)
			return &fam->sub[i];
	if (fam->nsub == CONF_MAX_SUB)
		return &fam->sub[CONF_MAX_SUB - 1];
	fam->sub[fam->nsub].name = name;
	return &fam->sub[fam->nsub++];
}

static void print_outcomes(FILE *out, const unsigned long *by)
{
	for (int o = 0; o <= XO_ABORT; o++)
		if (by[o])
			fprintf(out, " %s %lu", xlate_outcome_name((enum xlate_outcome)o), by[o]);
}

void conf_family_summary(FILE *out, const struct conf_family *fam, bool detail)
{
	if (detail) {
		for (unsigned i = 0; i < fam->nsub; i++) {
			const struct conf_sub *sb = &fam->sub[i];
			fprintf(out, "  %-28s %8lu cases %6lu mismatches:", sb->name, sb->cases,
				sb->mismatches);
			print_outcomes(out, sb->by_outcome);
			fprintf(out, "\n");
		}
	}
	fprintf(out, "conformance %s: %lu cases, %lu mismatches", fam->name, fam->cases,
		fam->mismatches);
	if (fam->internal)
		fprintf(out, ", %lu unjudged (suite error)", fam->internal);
	fprintf(out, "\n  expected outcomes:");
	print_outcomes(out, fam->by_outcome);
	fprintf(out, "\n");
}

static const char *acc_name(enum access_type a)
{
	return a == ACCESS_READ ? "read" : a == ACCESS_WRITE ? "write" : "fetch";
}

static const char *nested_name(enum nested_mode n)
{
	return n == NESTED_EPT ? "ept" : n == NESTED_NPT ? "npt" : "none";
}

/* Runs the code under test on the built case. Returns the init result. */
static bool execute(struct conf_runner *r, struct xlate_result *res, struct walk_trace *trace,
		    const char **bad)
{
	struct conf_case *c = &r->c;
	struct hw_config cfg = c->cfg;
	cfg.mem = hostmem_port(builder_mem(r->b));
	memset(res, 0, sizeof(*res));
	*bad = hw_config_invalid(&cfg);
	if (*bad)
		return false;
	struct hw_mmu m;
	if (!hw_mmu_init(&m, &cfg, res))
		return false;
	if (c->mode == PAGING_PAE && c->nlev) {
		/* the PDPTE load may have set nested A/D flags: restore the case */
		builder_readback(r->b, c, r->after);
		builder_restore(r->b, c);
	}
	memset(res, 0, sizeof(*res));
	hw_translate(&m, c->spec->la, c->spec->acc, c->spec->implicit, res, trace);
	return true;
}

#define DIFF(...) (n += (size_t)snprintf(buf + n, n < sz ? sz - n : 0, __VA_ARGS__))

/* Writes the differences into buf; returns true if there are none. */
static bool compare(const struct conf_runner *r, bool init_ok, const char *bad,
		    const struct xlate_result *a, char *buf, size_t sz)
{
	const struct conf_expect *e = &r->e;
	const struct conf_case *c = &r->c;
	size_t n = 0;
	buf[0] = 0;
	if (bad) {
		DIFF("  configuration rejected: %s\n", bad);
		return false;
	}
	if (a->outcome != e->outcome)
		DIFF("  outcome: expected %s, got %s\n", xlate_outcome_name(e->outcome),
		     xlate_outcome_name(a->outcome));
	if (e->init_fail == init_ok)
		DIFF("  hw_mmu_init: expected %s, got %s\n", e->init_fail ? "failure" : "success",
		     init_ok ? "success" : "failure");
	if (a->outcome == e->outcome) {
		switch (e->outcome) {
		case XO_OK:
			if (a->gpa != e->gpa)
				DIFF("  gpa: expected 0x%" PRIx64 ", got 0x%" PRIx64 "\n", e->gpa, a->gpa);
			if (a->hpa != e->hpa)
				DIFF("  hpa: expected 0x%" PRIx64 ", got 0x%" PRIx64 "\n", e->hpa, a->hpa);
			if (a->page_size != e->page_size)
				DIFF("  page_size: expected 0x%" PRIx64 ", got 0x%" PRIx64 "\n",
				     e->page_size, a->page_size);
			if (a->refs != e->refs)
				DIFF("  refs: expected %u, got %u\n", e->refs, a->refs);
			if (a->ad_writes != e->ad_writes)
				DIFF("  ad_writes: expected %u, got %u\n", e->ad_writes, a->ad_writes);
			break;
		case XO_PAGE_FAULT:
			if (a->error_code != e->error_code)
				DIFF("  error code: expected 0x%x, got 0x%x\n", e->error_code,
				     a->error_code);
			if (a->cr2 != e->cr2)
				DIFF("  cr2: expected 0x%" PRIx64 ", got 0x%" PRIx64 "\n", e->cr2, a->cr2);
			break;
		case XO_EPT_VIOLATION:
			if ((a->qualification & 0x1ff) != e->qual)
				DIFF("  qualification[8:0]: expected 0x%" PRIx64 ", got 0x%" PRIx64 "\n",
				     e->qual, a->qualification & 0x1ff);
			if (a->fault_gpa != e->fault_gpa)
				DIFF("  guest-physical address: expected 0x%" PRIx64 ", got 0x%" PRIx64 "\n",
				     e->fault_gpa, a->fault_gpa);
			if (a->gla_valid != e->gla_valid || (e->gla_valid && a->gla != e->gla))
				DIFF("  guest linear address: expected %s0x%" PRIx64 ", got %s0x%" PRIx64 "\n",
				     e->gla_valid ? "" : "(invalid) ", e->gla,
				     a->gla_valid ? "" : "(invalid) ", a->gla);
			break;
		case XO_EPT_MISCONFIG:
			if (a->fault_gpa != e->fault_gpa)
				DIFF("  guest-physical address: expected 0x%" PRIx64 ", got 0x%" PRIx64 "\n",
				     e->fault_gpa, a->fault_gpa);
			break;
		case XO_NPF:
			if (a->exitinfo1 != e->exitinfo1)
				DIFF("  EXITINFO1: expected 0x%" PRIx64 ", got 0x%" PRIx64 "\n",
				     e->exitinfo1, a->exitinfo1);
			if (a->exitinfo2 != e->exitinfo2)
				DIFF("  EXITINFO2: expected 0x%" PRIx64 ", got 0x%" PRIx64 "\n",
				     e->exitinfo2, a->exitinfo2);
			break;
		default:
			break;
		}
	}
	for (unsigned i = 0; i < c->nrec; i++) {
		if (r->after[i] != e->after[i]) {
			const struct conf_rec *rc = &c->rec[i];
			DIFF("  entry %s L%u at 0x%" PRIx64 " (hpa 0x%" PRIx64 "): was 0x%" PRIx64
			     ", expected 0x%" PRIx64 ", read back 0x%" PRIx64 "\n",
			     rc->dim ? "nested" : "guest", rc->level, rc->addr, rc->hpa, rc->val,
			     e->after[i], r->after[i]);
		}
	}
	return n == 0;
}

static void print_result(FILE *f, const char *what, const struct xlate_result *a)
{
	fprintf(f, "  %s: %s", what, xlate_outcome_name(a->outcome));
	switch (a->outcome) {
	case XO_OK:
		fprintf(f, " gpa 0x%" PRIx64 " hpa 0x%" PRIx64 " size 0x%" PRIx64 " refs %u ad_writes %u",
			a->gpa, a->hpa, a->page_size, a->refs, a->ad_writes);
		break;
	case XO_PAGE_FAULT:
		fprintf(f, " error 0x%x cr2 0x%" PRIx64, a->error_code, a->cr2);
		break;
	case XO_EPT_VIOLATION:
		fprintf(f, " qual 0x%" PRIx64 " gpa 0x%" PRIx64 " gla %s0x%" PRIx64, a->qualification,
			a->fault_gpa, a->gla_valid ? "" : "(invalid) ", a->gla);
		break;
	case XO_EPT_MISCONFIG:
		fprintf(f, " gpa 0x%" PRIx64, a->fault_gpa);
		break;
	case XO_NPF:
		fprintf(f, " exitinfo1 0x%" PRIx64 " exitinfo2 0x%" PRIx64, a->exitinfo1, a->exitinfo2);
		break;
	default:
		if (a->reason)
			fprintf(f, " (%s)", a->reason);
		break;
	}
	fprintf(f, "\n");
}

static void print_case(FILE *f, const struct conf_case *c)
{
	const struct conf_spec *s = c->spec;
	fprintf(f, "  cpu %s maxphyaddr %u feat gbpages=%d la57=%d pku=%d smep=%d smap=%d\n",
		cpu_vendor_name(s->vendor), s->maxphyaddr, s->feat.gbpages, s->feat.la57,
		s->feat.pku, s->feat.smep, s->feat.smap);
	fprintf(f, "  mode %s cr0 0x%" PRIx64 " cr3 0x%" PRIx64 " cr4 0x%" PRIx64 " efer 0x%" PRIx64
		" rflags 0x%" PRIx64 " pkru 0x%08x cpl %u\n",
		paging_mode_name(s->mode), s->cr0, c->cfg.cpu.regs.cr3, s->cr4, s->efer, s->rflags,
		s->pkru, s->cpl);
	fprintf(f, "  access %s%s la 0x%" PRIx64 " (guest leaf built at level %u, data gpa 0x%" PRIx64
		")\n", acc_name(s->acc), s->implicit ? " implicit" : "", s->la, s->gmap, c->data_gpa);
	if (c->nlev) {
		fprintf(f, "  nested %s %u-level", nested_name(s->nested), s->nlev);
		if (s->nested == NESTED_EPT)
			fprintf(f, " eptp 0x%" PRIx64 " caps xonly=%d ad=%d gb1=%d mbec=%d", c->cfg.eptp,
				s->caps.xonly, s->caps.ad, s->caps.gb1, s->caps.mbec);
		else
			fprintf(f, " ncr3 0x%" PRIx64 " nefer 0x%" PRIx64, c->cfg.ncr3, s->nefer);
		fprintf(f, " data nested leaf L%u, tables L%u\n", s->data_nleaf, s->table_nleaf);
		if (s->ov_target != TGT_NONE)
			fprintf(f, "  nested entry changed: L%u on the path of %s%d (clear 0x%" PRIx64
				" set 0x%" PRIx64 " xor 0x%" PRIx64 ")\n", s->ov_level,
				s->ov_target == TGT_DATA ? "the data page" : "guest table L",
				s->ov_target == TGT_DATA ? 0 : s->ov_target, s->ov_clear, s->ov_set,
				s->ov_xor);
	}
	for (unsigned i = 0; i < c->nrec; i++) {
		const struct conf_rec *rc = &c->rec[i];
		if (rc->dim == 0)
			fprintf(f, "    guest L%u%s at gpa 0x%" PRIx64 " = 0x%" PRIx64 "\n", rc->level,
				rc->pdpte_idx >= 0 ? (rc->on_path ? " PDPTE (used)" : " PDPTE") : "",
				rc->addr, rc->val);
		else
			fprintf(f, "    nested L%u at hpa 0x%" PRIx64 " (gpa>>%u = 0x%" PRIx64 ") = 0x%"
				PRIx64 "\n", rc->level, rc->hpa, conf_cover(rc->level), rc->key, rc->val);
	}
}

static void print_trace(FILE *f, const struct walk_trace *t)
{
	static const char *const kinds[] = { "read", "pdpte-reg", "ad-update", "cached" };
	unsigned n = t->n < t->cap ? t->n : t->cap;
	fprintf(f, "  trace (%u steps):\n", t->n);
	for (unsigned i = 0; i < n; i++) {
		const struct walk_step *st = &t->steps[i];
		fprintf(f, "    %s L%u %-9s addr 0x%" PRIx64 " entry 0x%" PRIx64 " hpa 0x%" PRIx64
			" val 0x%" PRIx64 " %s\n", st->dim ? "nested" : "guest ", st->level,
			st->kind < 4 ? kinds[st->kind] : "?", st->addr, st->entry_addr, st->entry_hpa,
			st->value, st->note ? st->note : "");
	}
}

static void report(struct conf_runner *r, const char *diffs, const struct xlate_result *a)
{
	FILE *f = r->out;
	struct conf_family *fam = r->fam;
	fprintf(f, "MISMATCH %s #%lu [%s]\n", fam->name, fam->cases, r->c.spec->sub);
	print_case(f, &r->c);
	fprintf(f, "  expected: %s", xlate_outcome_name(r->e.outcome));
	switch (r->e.outcome) {
	case XO_OK:
		fprintf(f, " gpa 0x%" PRIx64 " hpa 0x%" PRIx64 " size 0x%" PRIx64 " refs %u ad_writes %u",
			r->e.gpa, r->e.hpa, r->e.page_size, r->e.refs, r->e.ad_writes);
		break;
	case XO_PAGE_FAULT:
		fprintf(f, " error 0x%x cr2 0x%" PRIx64, r->e.error_code, r->e.cr2);
		break;
	case XO_EPT_VIOLATION:
		fprintf(f, " qual 0x%" PRIx64 " gpa 0x%" PRIx64 " gla %s0x%" PRIx64, r->e.qual,
			r->e.fault_gpa, r->e.gla_valid ? "" : "(invalid) ", r->e.gla);
		break;
	case XO_EPT_MISCONFIG:
		fprintf(f, " gpa 0x%" PRIx64, r->e.fault_gpa);
		break;
	case XO_NPF:
		fprintf(f, " exitinfo1 0x%" PRIx64 " exitinfo2 0x%" PRIx64, r->e.exitinfo1,
			r->e.exitinfo2);
		break;
	default:
		break;
	}
	fprintf(f, "%s  -- %s\n", r->e.init_fail ? " (at hw_mmu_init)" : "", r->e.why);
	print_result(f, "actual", a);
	fprintf(f, "%s", diffs);

	/* replay with a trace */
	struct walk_step steps[256];
	struct walk_trace t = { .steps = steps, .cap = 256, .n = 0 };
	struct xlate_result again;
	const char *bad;
	builder_restore(r->b, &r->c);
	if (execute(r, &again, &t, &bad))
		print_trace(f, &t);
	builder_readback(r->b, &r->c, r->after);
}

bool conf_run(struct conf_runner *r, const struct conf_spec *s)
{
	struct conf_family *fam = r->fam;
	fam->cases++;
	if (!builder_build(r->b, s, &r->c)) {
		fam->internal++;
		if (fam->printed++ < r->print_limit)
			fprintf(r->out, "SUITE ERROR %s #%lu [%s]: the builder cannot lay out the case\n",
				fam->name, fam->cases, s->sub);
		return false;
	}
	if (!rules_expect(&r->c, &r->e)) {
		fam->internal++;
		if (fam->printed++ < r->print_limit) {
			fprintf(r->out, "SUITE ERROR %s #%lu [%s]: the walk leaves the built tables\n",
				fam->name, fam->cases, s->sub);
			print_case(r->out, &r->c);
		}
		return false;
	}
	fam->by_outcome[r->e.outcome]++;
	struct conf_sub *sb = sub_of(fam, s->sub);
	sb->cases++;
	sb->by_outcome[r->e.outcome]++;

	struct xlate_result a;
	const char *bad;
	bool init_ok = execute(r, &a, NULL, &bad);
	r->last = a;
	builder_readback(r->b, &r->c, r->after);

	char diffs[4096];
	if (compare(r, init_ok, bad, &a, diffs, sizeof(diffs)))
		return true;
	fam->mismatches++;
	sb->mismatches++;
	if (fam->printed++ < r->print_limit)
		report(r, diffs, &a);
	return false;
}
