/*
 * Tests of user profile files: overrides, "base", every error class (each
 * naming file and line, nothing applied), and dump/load round trips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/cost.h"

static int load_text(const char *text, struct cost_profile *p, char *err, size_t errlen)
{
	static char buf[16384];
	size_t n = strlen(text);
	FILE *f;
	int rc;

	assert_true(n > 0 && n < sizeof(buf));
	memcpy(buf, text, n);
	f = fmemopen(buf, n, "r");
	assert_non_null(f);
	rc = cost_profile_load_stream(f, "x.prof", p, err, errlen);
	fclose(f);
	return rc;
}

static void assert_profiles_equal(const struct cost_profile *a, const struct cost_profile *b)
{
	assert_string_equal(a->base, b->base);
	for (int k = 0; k < COST_PARAMS; k++) {
		if (a->v[k].value != b->v[k].value)
			fail_msg("%s: %.17g != %.17g", cost_param_info((enum cost_param)k)->name, a->v[k].value, b->v[k].value);
		assert_string_equal(a->v[k].source, b->v[k].source);
	}
}

static void test_overrides(void **state)
{
	struct cost_profile p, intel;
	char err[256] = "";

	(void)state;
	cost_profile_builtin("intel", &intel);
	p = intel;
	assert_int_equal(load_text("# my machine\n"
				   "\n"
				   "vmexit_roundtrip 900   # measured: vmexit INVD on my box\n"
				   "  lat_dram\t250\n"
				   "exit_reflect 1.2e3#no space\r\n",
				   &p, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(p.name, "intel+x.prof");
	assert_string_equal(p.base, "intel");
	assert_true(p.v[CP_VMEXIT_ROUNDTRIP].value == 900);
	assert_string_equal(p.v[CP_VMEXIT_ROUNDTRIP].source, "measured: vmexit INVD on my box");
	assert_true(p.v[CP_LAT_DRAM].value == 250);
	assert_string_equal(p.v[CP_LAT_DRAM].source, "x.prof:4");
	assert_true(p.v[CP_EXIT_REFLECT].value == 1200);
	assert_string_equal(p.v[CP_EXIT_REFLECT].source, "no space");
	/* the rest is the base's */
	assert_true(p.v[CP_LAT_L1].value == intel.v[CP_LAT_L1].value);
	assert_string_equal(p.v[CP_LAT_L1].source, intel.v[CP_LAT_L1].source);

	/* only comments: the base unchanged except the name */
	p = intel;
	assert_int_equal(load_text("# nothing\n", &p, err, sizeof(err)), 0);
	assert_string_equal(p.name, "intel+x.prof");
	assert_profiles_equal(&p, &intel);
}

static void test_base_line(void **state)
{
	struct cost_profile p, amd;
	char err[256];

	(void)state;
	cost_profile_builtin("amd", &amd);
	cost_profile_builtin("intel", &p);
	assert_int_equal(load_text("# start from AMD\nbase amd # Turin\nlat_l1 5\n", &p, err, sizeof(err)), 0);
	assert_string_equal(p.base, "amd");
	assert_string_equal(p.name, "amd+x.prof");
	assert_true(p.v[CP_VMEXIT_ROUNDTRIP].value == amd.v[CP_VMEXIT_ROUNDTRIP].value);
	assert_true(p.v[CP_LAT_L1].value == 5);

	/* fractions may be moved together as long as they sum to 1 */
	cost_profile_builtin("intel", &p);
	assert_int_equal(load_text("walk_hit_l1 0.1\nwalk_hit_l2 0.2\nwalk_hit_llc 0.3\nwalk_hit_dram 0.4\n",
				   &p, err, sizeof(err)), 0);
	assert_true(p.v[CP_WALK_HIT_DRAM].value == 0.4);
	/* zero is a valid cost; "-0" is zero */
	assert_int_equal(load_text("ipi 0\nshootdown -0\nhc_other +5\nlat_l2 .5e1\n", &p, err, sizeof(err)), 0);
	assert_true(p.v[CP_IPI].value == 0 && p.v[CP_SHOOTDOWN].value == 0);
	assert_true(p.v[CP_HC_OTHER].value == 5 && p.v[CP_LAT_L2].value == 5);
}

/* A bad file: -1, the profile untouched, a message beginning with "x.prof:LINE:" and containing `what`. */
static void expect_error(const char *text, unsigned line, const char *what)
{
	struct cost_profile p, orig;
	char err[512] = "", prefix[32];

	cost_profile_builtin("intel", &p);
	p.v[CP_IPI].value = 1234; /* not a built-in: check nothing is reset either */
	orig = p;
	if (load_text(text, &p, err, sizeof(err)) != -1)
		fail_msg("accepted: %s", text);
	assert_memory_equal(&p, &orig, sizeof(p));
	if (line)
		snprintf(prefix, sizeof(prefix), "x.prof:%u: ", line);
	else
		snprintf(prefix, sizeof(prefix), "x.prof: ");
	if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, what))
		fail_msg("for %s got \"%s\", want \"%s...%s...\"", text, err, prefix, what);
}

static void test_errors(void **state)
{
	char longline[5000], longcomment[400];

	(void)state;
	/* unknown names */
	expect_error("foo 1\n", 1, "unknown constant 'foo'");
	expect_error("# ok\nlat_l1 4\nLAT_L2 3\n", 3, "unknown constant 'LAT_L2'");
	/* malformed numbers */
	expect_error("lat_l1 abc\n", 1, "malformed number 'abc' for lat_l1");
	expect_error("lat_l1 1.2.3\n", 1, "malformed number");
	expect_error("lat_l1 5x\n", 1, "malformed number");
	expect_error("lat_l1 0x10\n", 1, "malformed number");
	expect_error("lat_l1 nan\n", 1, "malformed number");
	expect_error("lat_l1 inf\n", 1, "malformed number");
	expect_error("lat_l1 --5\n", 1, "malformed number");
	expect_error("lat_l1 1e\n", 1, "malformed number");
	expect_error("lat_l1 e5\n", 1, "malformed number");
	expect_error("lat_l1 4,5\n", 1, "malformed number");
	/* negative values */
	expect_error("lat_l1 -3\n", 1, "negative value -3 for lat_l1");
	expect_error("ipi -1e-9\n", 1, "negative value");
	expect_error("x 1\n", 1, "unknown constant"); /* the name is checked first */
	/* absurd values */
	expect_error("vmexit_roundtrip 1e9\n", 1, "absurd value 1e9 for vmexit_roundtrip");
	expect_error("walk_hit_l1 1.5\n", 1, "absurd value");
	expect_error("lat_l1 1e999\n", 1, "absurd value");
	expect_error("freq_ghz 0.01\n", 1, "below its minimum");
	expect_error("freq_ghz 0\n", 1, "below its minimum");
	/* duplicates */
	expect_error("lat_l1 4\nlat_l2 14\nlat_l1 5\n", 3, "'lat_l1' set twice (first on line 1)");
	/* shape of a line */
	expect_error("lat_l1\n", 1, "expected 'name value");
	expect_error("lat_l1 4 5\n", 1, "expected 'name value");
	expect_error("lat_l1=4\n", 1, "expected 'name value");
	/* base */
	expect_error("base arm\n", 1, "unknown base profile 'arm'");
	expect_error("lat_l1 4\nbase amd\n", 2, "'base' must come before any constant");
	expect_error("base amd\nbase intel\n", 2, "'base' given twice (first on line 1)");
	expect_error("base\n", 1, "expected");
	/* fractions not summing to 1: the line of the last one set */
	expect_error("walk_hit_l1 0.6\nlat_l1 4\n", 1, "must be 1");
	expect_error("walk_hit_dram 0.05\nwalk_hit_l1 0.4\n", 2, "must be 1");
	/* a valid prefix is not applied when a later line is wrong */
	expect_error("vmexit_roundtrip 100\nipi 5\nlat_dram 300\nbogus 1\n", 4, "unknown constant 'bogus'");
	/* limits */
	memset(longcomment, 'c', sizeof(longcomment) - 1);
	longcomment[sizeof(longcomment) - 1] = '\0';
	{
		char text[600];
		snprintf(text, sizeof(text), "lat_l1 4 # %s\n", longcomment);
		expect_error(text, 1, "longer than 255");
	}
	memset(longline, ' ', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	memcpy(longline, "lat_l1 4", 8);
	longline[sizeof(longline) - 2] = '\n';
	expect_error(longline, 1, "line longer than");
}

static void test_open_error(void **state)
{
	struct cost_profile p, orig;
	char err[256];

	(void)state;
	cost_profile_builtin("amd", &p);
	orig = p;
	assert_int_equal(cost_profile_load("/nonexistent/dir/my.prof", &p, err, sizeof(err)), -1);
	assert_memory_equal(&p, &orig, sizeof(p));
	assert_non_null(strstr(err, "/nonexistent/dir/my.prof: cannot open"));
}

static char *dump_to_string(const struct cost_profile *p)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(cost_profile_dump(p, f), 0);
	fclose(f);
	return text;
}

static void test_round_trip(void **state)
{
	struct cost_profile intel, amd, p, q;
	char err[256];
	char *text;

	(void)state;
	cost_profile_builtin("intel", &intel);
	cost_profile_builtin("amd", &amd);

	/* the built-in Intel profile, dumped and loaded over AMD's */
	text = dump_to_string(&intel);
	assert_non_null(strstr(text, "\nbase intel\n"));
	assert_non_null(strstr(text, "\nvmexit_roundtrip 790 # "));
	p = amd;
	assert_int_equal(load_text(text, &p, err, sizeof(err)), 0);
	assert_profiles_equal(&p, &intel);
	free(text);

	/* a modified profile: odd values, user sources, a '#' inside a source */
	p = amd;
	p.v[CP_FREQ_GHZ].value = 2.0 / 3.0 + 2;
	p.v[CP_WALK_HIT_L1].value = 0.1;
	p.v[CP_WALK_HIT_L2].value = 0.2;
	p.v[CP_WALK_HIT_LLC].value = 0.3;
	p.v[CP_WALK_HIT_DRAM].value = 0.4;
	p.v[CP_IPI].value = 1e-7;
	p.v[CP_LAT_DRAM].value = 123456.0 / 7.0;
	snprintf(p.v[CP_IPI].source, COST_SOURCE_MAX, "measured # twice, see notes");
	text = dump_to_string(&p);
	q = intel;
	assert_int_equal(load_text(text, &q, err, sizeof(err)), 0);
	assert_profiles_equal(&q, &p);

	/* dumping the loaded profile gives the same text (apart from the name line) */
	{
		char *again = dump_to_string(&q);
		assert_string_equal(strchr(again, '\n'), strchr(text, '\n'));
		free(again);
	}
	free(text);
}

/* The same round trip through a real file and cost_profile_load(). */
static void test_round_trip_file(void **state)
{
	struct cost_profile amd, p;
	char path[] = "/tmp/nestmmu-prof-XXXXXX";
	char err[256];
	int fd;
	FILE *f;

	(void)state;
	cost_profile_builtin("amd", &amd);
	amd.v[CP_EXIT_VMRESUME].value = 3333;
	snprintf(amd.v[CP_EXIT_VMRESUME].source, COST_SOURCE_MAX, "assumption: test");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(cost_profile_dump(&amd, f), 0);
	fclose(f);

	cost_profile_builtin("intel", &p);
	assert_int_equal(cost_profile_load(path, &p, err, sizeof(err)), 0);
	assert_profiles_equal(&p, &amd);
	assert_non_null(strstr(p.name, "amd+nestmmu-prof-"));
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_base_line),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_open_error),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_round_trip_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
