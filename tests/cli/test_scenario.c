/*
 * Unit tests of the scenario parser (src/cli/scenario.c): values,
 * defaults, and that every class of bad input is an error naming its line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "arch/x86.h"
#include "cli/scenario.h"

/* Reads the first scenario of `text`. */
static enum scn_read_status parse_n(const char *text, size_t len, bool batch, struct scenario *s,
				    struct scn_error *err)
{
	FILE *f = fmemopen((void *)text, len, "r");
	struct scn_reader r;
	enum scn_read_status st;

	assert_non_null(f);
	scn_reader_init(&r, f, batch);
	memset(err, 0, sizeof(*err));
	st = scn_reader_next(&r, s, err);
	scn_reader_free(&r);
	fclose(f);
	return st;
}

static enum scn_read_status parse(const char *text, bool batch, struct scenario *s,
				  struct scn_error *err)
{
	return parse_n(text, strlen(text), batch, s, err);
}

static void parse_ok(const char *text, struct scenario *s)
{
	struct scn_error err;
	enum scn_read_status st = parse(text, false, s, &err);

	if (st != SCN_READ_OK)
		fail_msg("unexpected error at line %u: %s", err.line, err.msg);
}

/* The text must be rejected at `line`, with a message containing `what`. */
static void expect_error(const char *text, unsigned line, const char *what)
{
	struct scenario s;
	struct scn_error err;
	enum scn_read_status st;

	scenario_init(&s);
	st = parse(text, false, &s, &err);
	if (st != SCN_READ_ERROR)
		fail_msg("accepted: %s", text);
	if (err.line != line || !strstr(err.msg, what))
		fail_msg("for\n%s\nwanted line %u with \"%s\", got line %u: %s", text, line, what,
			 err.line, err.msg);
	scenario_free(&s);
}

static void test_defaults(void **state)
{
	struct scenario s;

	(void)state;
	scenario_init(&s);
	parse_ok("access read 0x1000\n", &s);
	assert_int_equal(s.cfg.cpu.vendor, CPU_INTEL);
	assert_int_equal(s.cfg.cpu.maxphyaddr, 46);
	assert_int_equal(s.cfg.cpu.regs.cr0, 0);
	assert_int_equal(s.cfg.cpu.regs.cr3, 0);
	assert_int_equal(s.cfg.cpu.regs.cr4, 0);
	assert_int_equal(s.cfg.cpu.regs.efer, 0);
	assert_int_equal(s.cfg.cpu.regs.rflags, 2);
	assert_int_equal(s.cfg.cpu.regs.cpl, 0);
	assert_int_equal(s.cfg.cpu.regs.pkru, 0);
	assert_int_equal(s.cfg.nested, NESTED_NONE);
	assert_int_equal(s.cfg.ncr4, 0x20);
	assert_int_equal(s.cfg.nefer, 0xd01);
	assert_true(s.cfg.ept_caps.xonly && s.cfg.ept_caps.mbec && s.cfg.ept_caps.ad &&
		    s.cfg.ept_caps.gb1 && s.cfg.ept_caps.walk5);
	assert_true(s.cfg.cpu.feat.gbpages && s.cfg.cpu.feat.la57 && s.cfg.cpu.feat.pku &&
		    s.cfg.cpu.feat.smep && s.cfg.cpu.feat.smap);
	assert_int_equal(s.type, ACCESS_READ);
	assert_int_equal(s.la, 0x1000);
	assert_false(s.implicit);
	assert_int_equal(s.n_mem, 0);
	assert_int_equal(s.n_rb, 0);
	assert_int_equal(scenario_mem_limit(&s), UINT64_C(1) << 46);
	scenario_free(&s);
}

static void test_all_keys(void **state)
{
	struct scenario s;
	const char *text =
		"# a full scenario\n"
		"cpu intel\r\n"
		"maxphyaddr 39   # comment after a value\n"
		"  cr0\t0x80010033\n"
		"cr3 0X1000\n"
		"cr4 1696\n"
		"efer 0xD01\n"
		"rflags 0x40002\n"
		"cpl 3\n"
		"pkru 0xffffffff\n"
		"nested ept\n"
		"eptp 0x1005e\n"
		"ept_caps xonly,ad\n"
		"guest_caps 1g, pku   smap\n"
		"mem 0x1000 0x2007\n"
		"mem 0x7ffffffff8 18446744073709551615\n"
		"readback 0x1000\n"
		"readback 0x2000\n"
		"readback 0x1000\n"
		"access fetch 0xffffffffffffffff implicit\n"
		"\n";

	(void)state;
	scenario_init(&s);
	parse_ok(text, &s);
	assert_int_equal(s.cfg.cpu.maxphyaddr, 39);
	assert_int_equal(s.cfg.cpu.regs.cr0, 0x80010033);
	assert_int_equal(s.cfg.cpu.regs.cr3, 0x1000);
	assert_int_equal(s.cfg.cpu.regs.cr4, 0x6a0);
	assert_int_equal(s.cfg.cpu.regs.efer, 0xd01);
	assert_int_equal(s.cfg.cpu.regs.rflags, 0x40002);
	assert_int_equal(s.cfg.cpu.regs.cpl, 3);
	assert_int_equal(s.cfg.cpu.regs.pkru, 0xffffffffu);
	assert_int_equal(s.cfg.nested, NESTED_EPT);
	assert_int_equal(s.cfg.eptp, 0x1005e);
	assert_true(s.cfg.ept_caps.xonly && s.cfg.ept_caps.ad);
	assert_false(s.cfg.ept_caps.mbec || s.cfg.ept_caps.gb1 || s.cfg.ept_caps.walk5);
	assert_true(s.cfg.cpu.feat.gbpages && s.cfg.cpu.feat.pku && s.cfg.cpu.feat.smap);
	assert_false(s.cfg.cpu.feat.la57 || s.cfg.cpu.feat.smep);
	assert_int_equal(s.n_mem, 2);
	assert_int_equal(s.mem[0].addr, 0x1000);
	assert_int_equal(s.mem[0].val, 0x2007);
	assert_int_equal(s.mem[0].line, 15);
	assert_int_equal(s.mem[1].addr, UINT64_C(0x7ffffffff8));
	assert_int_equal(s.mem[1].val, UINT64_MAX);
	assert_int_equal(s.n_rb, 2); /* the repeated address is reported once */
	assert_int_equal(s.rb[0].addr, 0x1000);
	assert_int_equal(s.rb[1].addr, 0x2000);
	assert_int_equal(s.type, ACCESS_FETCH);
	assert_int_equal(s.la, UINT64_MAX);
	assert_true(s.implicit);
	assert_int_equal(s.key_line[K_CPU], 2);
	assert_int_equal(s.key_line[K_ACCESS], 20);
	assert_int_equal(s.first_line, 2);
	assert_int_equal(s.last_line, 20);
	scenario_free(&s);
}

static void test_npt_and_caps(void **state)
{
	struct scenario s;

	(void)state;
	scenario_init(&s);
	parse_ok("cpu amd\nnested npt\nncr3 0x10000\nncr4 0x1020\nnefer 0x500\n"
		 "guest_caps none\naccess write 0\n", &s);
	assert_int_equal(s.cfg.cpu.vendor, CPU_AMD);
	assert_int_equal(s.cfg.nested, NESTED_NPT);
	assert_int_equal(s.cfg.ncr3, 0x10000);
	assert_int_equal(s.cfg.ncr4, 0x1020);
	assert_int_equal(s.cfg.nefer, 0x500);
	assert_false(s.cfg.cpu.feat.gbpages || s.cfg.cpu.feat.la57 || s.cfg.cpu.feat.pku ||
		     s.cfg.cpu.feat.smep || s.cfg.cpu.feat.smap);
	assert_int_equal(s.type, ACCESS_WRITE);

	parse_ok("nested ept\neptp 0x5e\nept_caps none\nguest_caps 5level,gbpages,smep\n"
		 "access read 1\n", &s);
	assert_false(s.cfg.ept_caps.xonly || s.cfg.ept_caps.mbec || s.cfg.ept_caps.ad ||
		     s.cfg.ept_caps.gb1 || s.cfg.ept_caps.walk5);
	assert_true(s.cfg.cpu.feat.la57 && s.cfg.cpu.feat.gbpages && s.cfg.cpu.feat.smep);
	assert_false(s.cfg.cpu.feat.pku);

	parse_ok("nested ept\neptp 0x5e\nept_caps 5level, mbec,1g\naccess read 1\n", &s);
	assert_true(s.cfg.ept_caps.walk5 && s.cfg.ept_caps.mbec && s.cfg.ept_caps.gb1);
	assert_false(s.cfg.ept_caps.xonly || s.cfg.ept_caps.ad);

	parse_ok("nested ept\neptp 0x5e\nept_caps all\naccess read 1\n", &s);
	assert_true(s.cfg.ept_caps.walk5 && s.cfg.ept_caps.mbec && s.cfg.ept_caps.gb1 &&
		    s.cfg.ept_caps.xonly && s.cfg.ept_caps.ad);
	scenario_free(&s);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	expect_error("cr0 0\nfoo 1\naccess read 0\n", 2, "unknown key 'foo'");
	expect_error("CR0 0\naccess read 0\n", 1, "unknown key 'CR0'");
	expect_error("cr3 0x\naccess read 0\n", 1, "malformed number '0x'");
	expect_error("\ncr3 12a\naccess read 0\n", 2, "malformed number '12a'");
	expect_error("cr3 0xg\naccess read 0\n", 1, "malformed number");
	expect_error("cr3 -1\naccess read 0\n", 1, "malformed number");
	expect_error("cr3 0x1_000\naccess read 0\n", 1, "malformed number");
	expect_error("cr3 0x10000000000000000\naccess read 0\n", 1, "does not fit in 64 bits");
	expect_error("cr3 18446744073709551616\naccess read 0\n", 1, "does not fit in 64 bits");
	expect_error("cr3\naccess read 0\n", 1, "'cr3' needs a value");
	expect_error("cr3 1 2\naccess read 0\n", 1, "unexpected '2'");
	expect_error("cr3 1\ncr3 1\naccess read 0\n", 2, "given twice (first at line 1)");
	expect_error("access read 0\naccess read 0\n", 2, "given twice");
	expect_error("cpu via\naccess read 0\n", 1, "unknown vendor 'via'");
	expect_error("nested shadow\naccess read 0\n", 1, "unknown mode 'shadow'");
	expect_error("access load 0\n", 1, "unknown access type 'load'");
	expect_error("access read\n", 1, "needs a type and a linear address");
	expect_error("access read 0 implcit\n", 1, "unexpected 'implcit'");
	expect_error("access read 0 implicit x\n", 1, "unexpected 'x'");
	expect_error("mem 0x1000\naccess read 0\n", 1, "'mem' needs");
	expect_error("mem 0x1000 1 2\naccess read 0\n", 1, "unexpected '2'");
	expect_error("readback\naccess read 0\n", 1, "'readback' needs");
	expect_error("guest_caps 1g,avx\naccess read 0\n", 1, "unknown capability 'avx'");
	expect_error("ept_caps xonly,la57\naccess read 0\n", 1, "unknown capability 'la57'");
	expect_error("ept_caps\naccess read 0\n", 1, "needs a list");
	expect_error("ept_caps ,\naccess read 0\n", 1, "empty capability list");
	expect_error("guest_caps none,smep\naccess read 0\n", 1, "stand alone");
	expect_error("access read 0\n---\naccess read 0\n", 2, "only in a batch");
	expect_error("cr0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", 1, "too many words");
}

static void test_nul_byte(void **state)
{
	static const char text[] = "cr0 0\ncr3 1\0\naccess read 0\n";
	struct scenario s;
	struct scn_error err;

	(void)state;
	scenario_init(&s);
	assert_int_equal(parse_n(text, sizeof(text) - 1, false, &s, &err), SCN_READ_ERROR);
	assert_int_equal(err.line, 2);
	assert_non_null(strstr(err.msg, "NUL byte"));
	scenario_free(&s);
}

static void test_range_errors(void **state)
{
	(void)state;
	expect_error("maxphyaddr 31\naccess read 0\n", 1, "maxphyaddr: value 31 out of range (32..52)");
	expect_error("maxphyaddr 53\naccess read 0\n", 1, "out of range (32..52)");
	expect_error("cpl 4\naccess read 0\n", 1, "cpl: value 4 out of range (0..3)");
	expect_error("pkru 0x100000000\naccess read 0\n", 1, "32-bit register");
	expect_error("mem 0x1004 0\naccess read 0\n", 1, "not 8-byte aligned");
	expect_error("readback 0x1001\naccess read 0\n", 1, "not 8-byte aligned");
	/* the memory limit is 2^maxphyaddr, whatever the order of the lines */
	expect_error("mem 0x1000 0\nmem 0x1000000000 1\nmaxphyaddr 36\naccess read 0\n", 2,
		     "outside memory");
	expect_error("readback 0x400000000000\naccess read 0\n", 1, "outside memory");
	expect_error("maxphyaddr 52\nreadback 0x10000000000000\naccess read 0\n", 2, "outside memory");
}

static void test_last_word_of_memory(void **state)
{
	struct scenario s;

	(void)state;
	scenario_init(&s);
	parse_ok("maxphyaddr 32\nmem 0xfffffff8 1\nreadback 0xfffffff8\naccess read 0\n", &s);
	assert_int_equal(s.n_mem, 1);
	parse_ok("maxphyaddr 52\nmem 0xffffffffffff8 1\naccess read 0\n", &s);
	assert_int_equal(s.mem[0].addr, UINT64_C(0xffffffffffff8));
	scenario_free(&s);
	expect_error("maxphyaddr 32\nmem 0x100000000 1\naccess read 0\n", 2, "outside memory");
}

static void test_consistency_errors(void **state)
{
	(void)state;
	expect_error("\n# nothing\n", 1, "empty scenario");
	expect_error("", 1, "empty scenario");
	expect_error("\ncr0 0\ncr3 0\n", 2, "missing 'access' line");
	expect_error("cpu amd\nnested ept\neptp 0x5e\naccess read 0\n", 2, "nested ept needs cpu intel");
	expect_error("nested npt\nncr3 0x1000\naccess read 0\n", 1, "nested npt needs cpu amd");
	expect_error("cpu intel\nnested ept\naccess read 0\n", 2, "needs an 'eptp' line");
	expect_error("cpu amd\nnested npt\naccess read 0\n", 2, "needs an 'ncr3' line");
	expect_error("eptp 0x5e\naccess read 0\n", 1, "'eptp' only applies with 'nested ept'");
	expect_error("ept_caps ad\naccess read 0\n", 1, "'ept_caps' only applies with 'nested ept'");
	expect_error("ncr3 0\naccess read 0\n", 1, "'ncr3' only applies with 'nested npt'");
	expect_error("cpu amd\nnested npt\nncr3 0\nnefer 0\neptp 0\naccess read 0\n", 5,
		     "'eptp' only applies with 'nested ept'");
	expect_error("nested ept\neptp 0x5e\nnefer 0\naccess read 0\n", 3,
		     "'nefer' only applies with 'nested npt'");
	/* registers the CPU cannot hold (hw_config_invalid): named at the access line */
	expect_error("cr0 0x80000000\naccess read 0\n", 2, "this state cannot exist");
	expect_error("cr0 0x11\nefer 0x500\n\naccess read 0\n", 4, "efer at 2");
	expect_error("cr0 0x80000011\ncr4 0x1020\nefer 0x500\nguest_caps 1g\naccess read 0\n", 5,
		     "this state cannot exist");
	/* a linear address beyond 32 bits outside IA-32e mode */
	expect_error("cr0 0x11\naccess read 0x100000000\n", 2, "not in IA-32e mode (paging mode: none)");
	expect_error("cr0 0x80000011\ncr4 0x20\naccess read 0x100000000\n", 3, "paging mode: pae");
}

static void test_batch(void **state)
{
	const char *text =
		"# header comment block: skipped\n"
		"---\n"
		"access read 0x1\n"        /* 3: scenario 1 */
		"---\n"
		"cr0 0x11\n"               /* 5: scenario 2, bad at line 6 */
		"bogus 1\n"
		"bogus 2\n"
		"--- # separator with a comment\n"
		"\n"
		"access write 0x2\n"       /* 10: scenario 3 */
		"  ---  \n"
		"cpl 9\n"                  /* 12: scenario 4, bad */
		"---\n"
		"---\n"                    /* empty block: skipped */
		"access fetch 0x3\n"       /* 15: scenario 5, no final separator */
		"readback 0x10\n";
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	struct scn_reader r;
	struct scenario s;
	struct scn_error err;

	(void)state;
	assert_non_null(f);
	scenario_init(&s);
	scn_reader_init(&r, f, true);

	assert_int_equal(scn_reader_next(&r, &s, &err), SCN_READ_OK);
	assert_int_equal(s.index, 1);
	assert_int_equal(s.la, 1);
	assert_int_equal(s.key_line[K_ACCESS], 3);

	assert_int_equal(scn_reader_next(&r, &s, &err), SCN_READ_ERROR);
	assert_int_equal(s.index, 2);
	assert_int_equal(err.line, 6);
	assert_non_null(strstr(err.msg, "bogus"));

	assert_int_equal(scn_reader_next(&r, &s, &err), SCN_READ_OK);
	assert_int_equal(s.index, 3);
	assert_int_equal(s.type, ACCESS_WRITE);
	assert_int_equal(s.la, 2);
	assert_int_equal(s.cfg.cpu.regs.cr0, 0); /* nothing carried over */
	assert_int_equal(s.key_line[K_ACCESS], 10);

	assert_int_equal(scn_reader_next(&r, &s, &err), SCN_READ_ERROR);
	assert_int_equal(s.index, 4);
	assert_int_equal(err.line, 12);

	assert_int_equal(scn_reader_next(&r, &s, &err), SCN_READ_OK);
	assert_int_equal(s.index, 5);
	assert_int_equal(s.type, ACCESS_FETCH);
	assert_int_equal(s.n_rb, 1);
	assert_int_equal(s.last_line, 16);

	assert_int_equal(scn_reader_next(&r, &s, &err), SCN_READ_EOF);
	assert_int_equal(scn_reader_next(&r, &s, &err), SCN_READ_EOF);
	assert_int_equal(r.count, 5);
	scn_reader_free(&r);
	scenario_free(&s);
	fclose(f);
}

static void test_batch_missing_access(void **state)
{
	const char *text = "access read 0\n---\ncr0 0\n---\naccess read 1\n";
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	struct scn_reader r;
	struct scenario s;
	struct scn_error err;

	(void)state;
	scenario_init(&s);
	scn_reader_init(&r, f, true);
	assert_int_equal(scn_reader_next(&r, &s, &err), SCN_READ_OK);
	assert_int_equal(scn_reader_next(&r, &s, &err), SCN_READ_ERROR);
	assert_int_equal(err.line, 3);
	assert_non_null(strstr(err.msg, "missing 'access' line"));
	assert_int_equal(scn_reader_next(&r, &s, &err), SCN_READ_OK);
	assert_int_equal(s.la, 1);
	assert_int_equal(s.index, 3);
	assert_int_equal(scn_reader_next(&r, &s, &err), SCN_READ_EOF);
	scn_reader_free(&r);
	scenario_free(&s);
	fclose(f);
}

static void test_separator(void **state)
{
	(void)state;
	assert_true(scn_is_separator("---", 3));
	assert_true(scn_is_separator(" --- ", 5));
	assert_true(scn_is_separator("---\r", 4));
	assert_true(scn_is_separator("--- # x", 7));
	assert_false(scn_is_separator("----", 4));
	assert_false(scn_is_separator("--", 2));
	assert_false(scn_is_separator("--- x", 5));
	assert_false(scn_is_separator("", 0));
}

static void test_long_message_token(void **state)
{
	char text[400];
	struct scenario s;
	struct scn_error err;

	(void)state;
	memset(text, 'k', 300);
	strcpy(text + 300, " 1\naccess read 0\n");
	scenario_init(&s);
	assert_int_equal(parse(text, false, &s, &err), SCN_READ_ERROR);
	assert_int_equal(err.line, 1);
	assert_non_null(strstr(err.msg, "kkkk..."));
	assert_true(strlen(err.msg) < SCN_MSG_MAX);
	scenario_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_npt_and_caps),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_range_errors),
		cmocka_unit_test(test_last_word_of_memory),
		cmocka_unit_test(test_consistency_errors),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_batch_missing_access),
		cmocka_unit_test(test_separator),
		cmocka_unit_test(test_long_message_token),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
