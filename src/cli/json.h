/*
 * json.h - a small streaming JSON writer for nestmmu's machine-readable
 * output. Values go into an in-memory buffer; the caller flushes it to a
 * stream (once per document, or whenever it grows large in --batch mode).
 *
 * Commas and nesting are tracked by the writer; a key must precede every
 * value inside an object. Strings are escaped as RFC 8259 requires
 * (quote, backslash, control characters); bytes that are not valid UTF-8
 * are written as U+FFFD so the output is always valid JSON.
 */
#ifndef NESTMMU_CLI_JSON_H
#define NESTMMU_CLI_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

struct json_writer {
	char *buf;
	size_t len, cap;
	unsigned depth;
	bool first[JSON_MAX_DEPTH]; /* no member written yet at this depth */
	bool after_key;             /* a key was written; its value comes next */
};

void json_init(struct json_writer *w);
void json_free(struct json_writer *w);
/* Forgets the buffered text and the nesting state (keeps the allocation). */
void json_reset(struct json_writer *w);

void json_object_begin(struct json_writer *w);
void json_object_end(struct json_writer *w);
void json_array_begin(struct json_writer *w);
void json_array_end(struct json_writer *w);
void json_key(struct json_writer *w, const char *key);

void json_string(struct json_writer *w, const char *s);
void json_string_n(struct json_writer *w, const char *s, size_t n);
void json_uint(struct json_writer *w, uint64_t v);
/* A finite double as %.9g; NaN and infinities as null. */
void json_double(struct json_writer *w, double v);
/* An unsigned value as a string "0x..." (lower case, no leading zeros). */
void json_hex(struct json_writer *w, uint64_t v);
void json_bool(struct json_writer *w, bool v);
void json_null(struct json_writer *w);

/* key + value shorthands */
void json_kv_string(struct json_writer *w, const char *key, const char *s);
void json_kv_uint(struct json_writer *w, const char *key, uint64_t v);
void json_kv_double(struct json_writer *w, const char *key, double v);
void json_kv_hex(struct json_writer *w, const char *key, uint64_t v);
void json_kv_bool(struct json_writer *w, const char *key, bool v);

/* Appends raw text (e.g. "\n" between JSON Lines records). */
void json_raw(struct json_writer *w, const char *s);

/* Writes the buffered text to `out` and empties the buffer. 0 or -1. */
int json_flush(struct json_writer *w, FILE *out);

#endif
