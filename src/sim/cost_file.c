/*
 * cost_file.c - user profile files: loading (over a base profile, all or
 * nothing) and dumping in the same format.
 *
 * Format, one item per line:
 *   # a comment                    ignored, as are blank lines
 *   base intel|amd                 optional, before any constant
 *   name value [# source]          overrides one constant
 * The source of an overridden constant is the line's comment, or
 * "FILE:LINE" when there is none.
 */
#include "sim/cost.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LEN 4096

struct loader {
	const char *fname;
	unsigned line;
	char *err;
	size_t errlen;
};

static int fail(struct loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct loader *ld, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!ld->err || ld->errlen == 0)
		return -1;
	if (ld->line)
		n = snprintf(ld->err, ld->errlen, "%s:%u: ", ld->fname, ld->line);
	else
		n = snprintf(ld->err, ld->errlen, "%s: ", ld->fname);
	if (n >= 0 && (size_t)n < ld->errlen) {
		va_start(ap, fmt);
		vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static char *trim(char *s)
{
	char *e;

	while (is_space(*s))
		s++;
	e = s + strlen(s);
	while (e > s && is_space(e[-1]))
		*--e = '\0';
	return s;
}

/* Splits off the next whitespace-separated token of *s; NULL at the end. */
static char *next_token(char **s)
{
	char *t = *s, *e;

	while (is_space(*t))
		t++;
	if (*t == '\0')
		return NULL;
	e = t;
	while (*e && !is_space(*e))
		e++;
	if (*e)
		*e++ = '\0';
	*s = e;
	return t;
}

/*
 * A decimal number (sign, digits, point, exponent; no hex, inf or nan).
 * Overflow gives +-HUGE_VAL, which the range check then refuses.
 */
static bool parse_number(const char *s, double *out)
{
	char *end;

	for (const char *q = s; *q; q++)
		if (!((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' || *q == '+' || *q == '-'))
			return false;
	if (!((s[0] >= '0' && s[0] <= '9') || s[0] == '.' || s[0] == '-' || s[0] == '+'))
		return false;
	*out = strtod(s, &end);
	return end != s && *end == '\0';
}

static void set_str(char *dst, size_t len, const char *src)
{
	size_t n = strlen(src);

	if (n >= len)
		n = len - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int check_value(struct loader *ld, enum cost_param k, const char *text, double v)
{
	const struct cost_param_info *in = cost_param_info(k);

	if (v < 0)
		return fail(ld, "negative value %s for %s", text, in->name);
	if (v < in->min)
		return fail(ld, "value %s for %s is below its minimum %g %s", text, in->name, in->min,
			    cost_unit_name(in->unit));
	if (v > in->max)
		return fail(ld, "absurd value %s for %s (at most %g %s)", text, in->name, in->max,
			    cost_unit_name(in->unit));
	return 0;
}

struct parse_state {
	struct cost_profile work;
	unsigned set_on[COST_PARAMS]; /* line that set the constant, 0: not set */
	unsigned base_line;
	unsigned constants;
	unsigned last_walk_hit_line;
};

static int parse_line(struct loader *ld, struct parse_state *st, char *line)
{
	char *hash = strchr(line, '#');
	char *comment = NULL, *rest, *name, *value;
	double v;
	int k;

	if (hash) {
		*hash = '\0';
		comment = trim(hash + 1);
	}
	rest = trim(line);
	if (*rest == '\0')
		return 0; /* blank or comment only */
	name = next_token(&rest);
	value = next_token(&rest);
	if (!value || next_token(&rest))
		return fail(ld, "expected 'name value [# source]' or 'base intel|amd'");

	if (strcmp(name, "base") == 0) {
		if (st->base_line)
			return fail(ld, "'base' given twice (first on line %u)", st->base_line);
		if (st->constants)
			return fail(ld, "'base' must come before any constant");
		if (cost_profile_builtin(value, &st->work) != 0)
			return fail(ld, "unknown base profile '%s' (intel or amd)", value);
		st->base_line = ld->line;
		return 0;
	}

	k = cost_param_find(name);
	if (k < 0)
		return fail(ld, "unknown constant '%s'", name);
	if (st->set_on[k])
		return fail(ld, "'%s' set twice (first on line %u)", name, st->set_on[k]);
	if (!parse_number(value, &v))
		return fail(ld, "malformed number '%s' for %s", value, name);
	if (check_value(ld, (enum cost_param)k, value, v) != 0)
		return -1;
	if (comment && strlen(comment) >= COST_SOURCE_MAX)
		return fail(ld, "source comment of %s longer than %d characters", name, COST_SOURCE_MAX - 1);

	st->work.v[k].value = v;
	if (comment && *comment)
		set_str(st->work.v[k].source, COST_SOURCE_MAX, comment);
	else
		snprintf(st->work.v[k].source, COST_SOURCE_MAX, "%.200s:%u", ld->fname, ld->line);
	st->set_on[k] = ld->line;
	st->constants++;
	if (k >= CP_WALK_HIT_L1 && k <= CP_WALK_HIT_DRAM)
		st->last_walk_hit_line = ld->line;
	return 0;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

int cost_profile_load_stream(FILE *in, const char *fname, struct cost_profile *base, char *err, size_t errlen)
{
	struct loader ld = { fname, 0, err, errlen };
	struct parse_state *st;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;
	char msg[256];

	st = calloc(1, sizeof(*st));
	if (!st)
		return fail(&ld, "out of memory");
	st->work = *base;

	while ((n = getline(&line, &cap, in)) != -1) {
		ld.line++;
		if ((size_t)n > LINE_MAX_LEN) {
			rc = fail(&ld, "line longer than %d characters", LINE_MAX_LEN);
			break;
		}
		if (memchr(line, '\0', (size_t)n)) {
			rc = fail(&ld, "NUL character in line");
			break;
		}
		rc = parse_line(&ld, st, line);
		if (rc)
			break;
	}
	if (rc == 0 && ferror(in)) {
		ld.line = 0;
		rc = fail(&ld, "read error");
	}
	if (rc == 0 && !cost_profile_check(&st->work, msg, sizeof(msg))) {
		ld.line = st->last_walk_hit_line;
		rc = fail(&ld, "%s", msg);
	}
	if (rc == 0) {
		snprintf(st->work.name, sizeof(st->work.name), "%.7s+%.80s", st->work.base, base_name(fname));
		*base = st->work;
	}
	free(line);
	free(st);
	return rc;
}

int cost_profile_load(const char *path, struct cost_profile *base, char *err, size_t errlen)
{
	struct loader ld = { path, 0, err, errlen };
	FILE *f = fopen(path, "r");
	int rc;

	if (!f)
		return fail(&ld, "cannot open: %s", strerror(errno));
	rc = cost_profile_load_stream(f, path, base, err, errlen);
	fclose(f);
	return rc;
}

/* ---- dump ---- */

/* Integers as such, else the shortest %g form that reads back as the same double. */
static void format_value(double v, char *buf, size_t len)
{
	if (v > -1e15 && v < 1e15 && v == (double)(long long)v) {
		snprintf(buf, len, "%lld", (long long)v);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

int cost_profile_dump(const struct cost_profile *p, FILE *out)
{
	char num[40];

	if (fprintf(out, "# nestmmu cost profile \"%s\"\n"
			 "# one constant per line: name value # source (docs/cost-model.md)\n", p->name) < 0)
		return -1;
	if (p->base[0] && fprintf(out, "base %s\n", p->base) < 0)
		return -1;
	for (int k = 0; k < COST_PARAMS; k++) {
		const struct cost_param_info *in = cost_param_info((enum cost_param)k);

		format_value(p->v[k].value, num, sizeof(num));
		if (fprintf(out, "\n# %s (%s)\n%s %s", in->what, cost_unit_name(in->unit), in->name, num) < 0)
			return -1;
		if (p->v[k].source[0]) {
			if (fputs(" # ", out) == EOF)
				return -1;
			for (const char *s = p->v[k].source; *s; s++)
				if (fputc((*s == '\n' || *s == '\r') ? ' ' : *s, out) == EOF)
					return -1;
		}
		if (fputc('\n', out) == EOF)
			return -1;
	}
	return fflush(out) == 0 ? 0 : -1;
}
