/*
 * conformance.c - the conformance suite's cmocka entry point: one test per
 * family of cases (guest paging alone, EPT, NPT). Each prints a summary
 * line and the first mismatches in detail, and fails on any mismatch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conformance/builder.h"
#include "conformance/enums.h"
#include "conformance/runner.h"

/* Detailed reports per family (CONF_PRINT=n overrides). */
static unsigned print_limit(void)
{
	const char *v = getenv("CONF_PRINT");
	return v ? (unsigned)strtoul(v, NULL, 10) : 8;
}

static void run_family(const char *name, void (*enumerate)(struct conf_runner *))
{
	struct conf_runner *r = conf_runner_create(stdout, print_limit());
	assert_non_null(r);
	static struct conf_family fam;
	memset(&fam, 0, sizeof(fam));
	fam.name = name;
	conf_runner_family(r, &fam);
	enumerate(r);
	conf_family_summary(stdout, &fam, getenv("CONF_DETAIL") != NULL);
	fflush(stdout);
	conf_runner_destroy(r);
	assert_true(fam.cases > 0);
	assert_int_equal(fam.internal, 0);
	assert_int_equal(fam.mismatches, 0);
}

static void test_guest_x86(void **state)
{
	(void)state;
	run_family("guest-x86", enum_guest);
}

static void test_ept(void **state)
{
	(void)state;
	run_family("ept", enum_ept);
}

static void test_npt(void **state)
{
	(void)state;
	run_family("npt", enum_npt);
}

/*
 * A successful two-dimensional walk with nothing cached reads
 * (n+1)(m+1)-1 entries for an n-level guest under an m-level nested table
 * (REFERENCES.md): 24 for 4x4, 35 for 5x5. PAE under EPT takes its PDPTEs
 * from registers (n = 2 in memory); under NPT it reads them (n = 3).
 * The numbers are written here, not computed: they check the oracle too.
 */
static void test_reference_counts(void **state)
{
	(void)state;
	static const struct {
		enum paging_mode mode;
		enum nested_mode nested;
		unsigned nlev;
		unsigned refs;
	} t[] = {
		{ PAGING_4LEVEL, NESTED_EPT, 4, 24 }, { PAGING_4LEVEL, NESTED_NPT, 4, 24 },
		{ PAGING_5LEVEL, NESTED_EPT, 5, 35 }, { PAGING_5LEVEL, NESTED_NPT, 5, 35 },
		{ PAGING_4LEVEL, NESTED_EPT, 5, 29 }, { PAGING_5LEVEL, NESTED_NPT, 4, 29 },
		{ PAGING_32, NESTED_EPT, 4, 14 },     { PAGING_32, NESTED_NPT, 5, 17 },
		{ PAGING_PAE, NESTED_EPT, 4, 14 },    { PAGING_PAE, NESTED_NPT, 4, 19 },
		{ PAGING_NONE, NESTED_EPT, 4, 4 },    { PAGING_NONE, NESTED_NPT, 5, 5 },
		{ PAGING_4LEVEL, NESTED_NONE, 0, 4 }, { PAGING_5LEVEL, NESTED_NONE, 0, 5 },
		{ PAGING_PAE, NESTED_NONE, 0, 2 },    { PAGING_32, NESTED_NONE, 0, 2 },
	};
	struct conf_runner *r = conf_runner_create(stdout, print_limit());
	assert_non_null(r);
	static struct conf_family fam;
	memset(&fam, 0, sizeof(fam));
	fam.name = "reference-counts";
	conf_runner_family(r, &fam);
	for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		for (unsigned pre = 0; pre < 2; pre++) {
			struct conf_spec s;
			enum cpu_vendor v = t[i].nested == NESTED_NPT ? CPU_AMD : CPU_INTEL;
			spec_init(&s, t[i].mode, v, t[i].nlev == 5 ? 52 : 46);
			s.sub = "reference-counts";
			if (t[i].mode == PAGING_PAE)
				s.gflags[3] = PTE_P;
			if (t[i].nested == NESTED_EPT)
				spec_set_ept(&s, t[i].nlev, true);
			else if (t[i].nested == NESTED_NPT)
				spec_set_npt(&s, t[i].nlev, true);
			s.acc = pre ? ACCESS_WRITE : ACCESS_READ;
			if (pre) {
				/* A/D writes are not references (ARCHITECTURE.md) */
				s.nset_all = t[i].nested == NESTED_EPT ? (EPT_A | EPT_D)
								       : (PTE_A | PTE_D);
			}
			bool ok = conf_run(r, &s);
			printf("  %-8s guest under %-4s %u-level: %u references (oracle %u, code %u)\n",
			       paging_mode_name(t[i].mode),
			       t[i].nested == NESTED_EPT ? "ept" : t[i].nested == NESTED_NPT ? "npt" : "none",
			       t[i].nlev, t[i].refs, r->e.refs, r->last.refs);
			assert_true(ok);
			assert_int_equal(r->e.outcome, XO_OK);
			assert_int_equal(r->e.refs, t[i].refs);
			assert_int_equal(r->last.refs, t[i].refs);
		}
	}
	conf_family_summary(stdout, &fam, false);
	conf_runner_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_counts),
		cmocka_unit_test(test_guest_x86),
		cmocka_unit_test(test_ept),
		cmocka_unit_test(test_npt),
	};
	return cmocka_run_group_tests_name("conformance", tests, NULL, NULL);
}
