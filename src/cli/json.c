/*
 * json.c - a small streaming JSON writer (see json.h).
 */
#include "cli/json.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/util.h"

void json_init(struct json_writer *w)
{
	memset(w, 0, sizeof(*w));
	w->first[0] = true;
}

void json_free(struct json_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

void json_reset(struct json_writer *w)
{
	w->len = 0;
	w->depth = 0;
	w->first[0] = true;
	w->after_key = false;
}

static void put(struct json_writer *w, const char *s, size_t n)
{
	if (w->len + n + 1 > w->cap)
		cli_grow((void **)&w->buf, &w->cap, w->len + n + 1, 1);
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void putc_(struct json_writer *w, char c)
{
	put(w, &c, 1);
}

/* Before a value or a key: the comma separating it from its predecessor. */
static void sep(struct json_writer *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (!w->first[w->depth])
		putc_(w, ',');
	w->first[w->depth] = false;
}

static void open_(struct json_writer *w, char c)
{
	sep(w);
	putc_(w, c);
	assert(w->depth + 1 < JSON_MAX_DEPTH);
	w->depth++;
	w->first[w->depth] = true;
}

static void close_(struct json_writer *w, char c)
{
	assert(w->depth > 0 && !w->after_key);
	w->depth--;
	putc_(w, c);
}

void json_object_begin(struct json_writer *w) { open_(w, '{'); }
void json_object_end(struct json_writer *w) { close_(w, '}'); }
void json_array_begin(struct json_writer *w) { open_(w, '['); }
void json_array_end(struct json_writer *w) { close_(w, ']'); }

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

static void put_escaped(struct json_writer *w, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0;

	putc_(w, '"');
	while (i < n) {
		unsigned char c = s[i];
		const char *esc = NULL;
		char u[7];
		size_t len;

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			run++;
			continue;
		}
		len = (c >= 0x80) ? utf8_len(s + i, n - i) : 1;
		if (c >= 0x80 && len > 0) {
			i += len;
			run += len;
			continue;
		}
		put(w, (const char *)s + i - run, run);
		run = 0;
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default:
			if (c < 0x20) {
				u[0] = '\\';
				u[1] = 'u';
				u[2] = '0';
				u[3] = '0';
				u[4] = hex[c >> 4];
				u[5] = hex[c & 0xf];
				u[6] = '\0';
				esc = u;
			} else {
				esc = "\\ufffd"; /* a byte that is not valid UTF-8 */
			}
		}
		put(w, esc, strlen(esc));
		i++;
	}
	put(w, (const char *)s + i - run, run);
	putc_(w, '"');
}

void json_key(struct json_writer *w, const char *key)
{
	assert(!w->after_key);
	sep(w);
	put_escaped(w, key, strlen(key));
	putc_(w, ':');
	w->after_key = true;
}

void json_string_n(struct json_writer *w, const char *s, size_t n)
{
	sep(w);
	put_escaped(w, s, n);
}

void json_string(struct json_writer *w, const char *s)
{
	if (!s) {
		json_null(w);
		return;
	}
	json_string_n(w, s, strlen(s));
}

void json_uint(struct json_writer *w, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);

	sep(w);
	put(w, tmp, (size_t)n);
}

void json_double(struct json_writer *w, double v)
{
	char tmp[40];
	int n;

	if (!isfinite(v)) { /* JSON has no NaN or infinity */
		json_null(w);
		return;
	}
	n = snprintf(tmp, sizeof(tmp), "%.9g", v);
	sep(w);
	put(w, tmp, (size_t)n);
}

void json_kv_double(struct json_writer *w, const char *key, double v)
{
	json_key(w, key);
	json_double(w, v);
}

void json_hex(struct json_writer *w, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "\"0x%" PRIx64 "\"", v);

	sep(w);
	put(w, tmp, (size_t)n);
}

void json_bool(struct json_writer *w, bool v)
{
	sep(w);
	put(w, v ? "true" : "false", v ? 4 : 5);
}

void json_null(struct json_writer *w)
{
	sep(w);
	put(w, "null", 4);
}

void json_kv_string(struct json_writer *w, const char *key, const char *s)
{
	json_key(w, key);
	json_string(w, s);
}

void json_kv_uint(struct json_writer *w, const char *key, uint64_t v)
{
	json_key(w, key);
	json_uint(w, v);
}

void json_kv_hex(struct json_writer *w, const char *key, uint64_t v)
{
	json_key(w, key);
	json_hex(w, v);
}

void json_kv_bool(struct json_writer *w, const char *key, bool v)
{
	json_key(w, key);
	json_bool(w, v);
}

void json_raw(struct json_writer *w, const char *s)
{
	put(w, s, strlen(s));
	if (w->depth == 0) {
		/* a new top-level document starts after raw text at depth 0 */
		w->first[0] = true;
	}
}

int json_flush(struct json_writer *w, FILE *out)
{
	size_t n = w->len;

	w->len = 0;
	if (n && fwrite(w->buf, 1, n, out) != n)
		return -1;
	return 0;
}
