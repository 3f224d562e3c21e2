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

#include <cmocka.h>

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
	struct conf_family fam = { .name = name };
	conf_runner_family(r, &fam);
	enumerate(r);
	conf_family_summary(stdout, &fam);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guest_x86),
		cmocka_unit_test(test_ept),
		cmocka_unit_test(test_npt),
	};
	return cmocka_run_group_tests_name("conformance", tests, NULL, NULL);
}
