/*
 * Unit tests of the JSON writer (src/cli/json.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cli/json.h"

static void expect_text(struct json_writer *w, const char *want)
{
	assert_non_null(w->buf);
	assert_string_equal(w->buf, want);
	json_reset(w);
}

static void test_structure(void **state)
{
	struct json_writer w;

	(void)state;
	json_init(&w);
	json_object_begin(&w);
	json_object_end(&w);
	expect_text(&w, "{}");

	json_array_begin(&w);
	json_array_end(&w);
	expect_text(&w, "[]");

	json_object_begin(&w);
	json_kv_string(&w, "a", "x");
	json_kv_uint(&w, "b", 0);
	json_kv_uint(&w, "c", UINT64_MAX);
	json_kv_hex(&w, "d", 0);
	json_kv_hex(&w, "e", UINT64_C(0xDEADbeef00));
	json_kv_bool(&w, "f", true);
	json_kv_bool(&w, "g", false);
	json_key(&w, "h");
	json_null(&w);
	json_key(&w, "i");
	json_array_begin(&w);
	json_uint(&w, 1);
	json_object_begin(&w);
	json_object_end(&w);
	json_array_begin(&w);
	json_array_end(&w);
	json_string(&w, "z");
	json_array_end(&w);
	json_key(&w, "j");
	json_object_begin(&w);
	json_kv_hex(&w, "0x10", 16);
	json_object_end(&w);
	json_object_end(&w);
	expect_text(&w, "{\"a\":\"x\",\"b\":0,\"c\":18446744073709551615,\"d\":\"0x0\","
		    "\"e\":\"0xdeadbeef00\",\"f\":true,\"g\":false,\"h\":null,"
		    "\"i\":[1,{},[],\"z\"],\"j\":{\"0x10\":\"0x10\"}}");
	json_free(&w);
}

static void test_json_lines(void **state)
{
	struct json_writer w;

	(void)state;
	json_init(&w);
	json_object_begin(&w);
	json_kv_uint(&w, "n", 1);
	json_object_end(&w);
	json_raw(&w, "\n");
	json_object_begin(&w);
	json_kv_uint(&w, "n", 2);
	json_object_end(&w);
	json_raw(&w, "\n");
	expect_text(&w, "{\"n\":1}\n{\"n\":2}\n");
	json_free(&w);
}

static void test_escaping(void **state)
{
	struct json_writer w;
	const char ctl[] = { 'a', 0x01, 0x1f, 0x7f, 'b', '\0' };
	const char nul[] = { 'x', '\0', 'y' };

	(void)state;
	json_init(&w);
	json_string(&w, "q\"b\\s/");
	expect_text(&w, "\"q\\\"b\\\\s/\"");

	json_string(&w, "\b\f\n\r\t");
	expect_text(&w, "\"\\b\\f\\n\\r\\t\"");

	json_string(&w, ctl);
	expect_text(&w, "\"a\\u0001\\u001f\x7f" "b\"");

	json_string_n(&w, nul, sizeof(nul));
	expect_text(&w, "\"x\\u0000y\"");

	json_string(&w, "");
	expect_text(&w, "\"\"");

	json_string(&w, NULL);
	expect_text(&w, "null");

	/* keys are escaped too */
	json_object_begin(&w);
	json_kv_uint(&w, "k\"\n", 1);
	json_object_end(&w);
	expect_text(&w, "{\"k\\\"\\n\":1}");
	json_free(&w);
}

static void test_utf8(void **state)
{
	struct json_writer w;

	(void)state;
	json_init(&w);
	/* valid UTF-8 (2, 3 and 4 bytes) passes through */
	json_string(&w, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	expect_text(&w, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
	/* a lone continuation byte, a truncated sequence, an overlong form,
	 * a surrogate, and a byte that never occurs */
	json_string(&w, "a\x80" "b");
	expect_text(&w, "\"a\\ufffdb\"");
	json_string(&w, "\xe2\x82");
	expect_text(&w, "\"\\ufffd\\ufffd\"");
	json_string(&w, "\xc0\xaf");
	expect_text(&w, "\"\\ufffd\\ufffd\"");
	json_string(&w, "\xed\xa0\x80");
	expect_text(&w, "\"\\ufffd\\ufffd\\ufffd\"");
	json_string(&w, "\xff");
	expect_text(&w, "\"\\ufffd\"");
	json_free(&w);
}

static void test_flush(void **state)
{
	struct json_writer w;
	char out[64] = { 0 };
	FILE *f = fmemopen(out, sizeof(out), "w");
	unsigned i;

	(void)state;
	assert_non_null(f);
	json_init(&w);
	json_uint(&w, 7);
	json_raw(&w, "\n");
	assert_int_equal(json_flush(&w, f), 0);
	assert_int_equal(w.len, 0);
	json_uint(&w, 8);
	json_raw(&w, "\n");
	assert_int_equal(json_flush(&w, f), 0);
	fclose(f);
	assert_string_equal(out, "7\n8\n");

	/* the buffer grows as needed */
	json_array_begin(&w);
	for (i = 0; i < 10000; i++)
		json_string(&w, "0123456789");
	json_array_end(&w);
	assert_int_equal(w.len, 2 + 10000 * 12 + 9999);
	json_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_json_lines),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_flush),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
