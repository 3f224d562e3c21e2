/*
 * scenario.c - parser of nestmmu walk's scenario files (see scenario.h and
 * docs/walk.md). Every error names the line it was found at; cross-key
 * checks (scenario_finish) name the line of the key at fault.
 */
#include "cli/scenario.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/util.h"

#define MAX_TOKENS 16
#define TOK_SHOW 40 /* characters of a token quoted in a message */

struct tok {
	const char *p;
	size_t n;
};

static const char *const key_names[K_COUNT] = {
	[K_CPU] = "cpu",           [K_MAXPHYADDR] = "maxphyaddr",
	[K_CR0] = "cr0",           [K_CR3] = "cr3",
	[K_CR4] = "cr4",           [K_EFER] = "efer",
	[K_RFLAGS] = "rflags",     [K_CPL] = "cpl",
	[K_PKRU] = "pkru",         [K_NESTED] = "nested",
	[K_EPTP] = "eptp",         [K_NCR3] = "ncr3",
	[K_NCR4] = "ncr4",         [K_NEFER] = "nefer",
	[K_EPT_CAPS] = "ept_caps", [K_GUEST_CAPS] = "guest_caps",
	[K_ACCESS] = "access",
};

const char *scn_key_name(enum scn_key k)
{
	return (unsigned)k < K_COUNT ? key_names[k] : "?";
}

static int fail(struct scn_error *err, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct scn_error *err, unsigned line, const char *fmt, ...)
{
	va_list ap;

	err->line = line;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* A token made printable and bounded, for a message. */
static const char *show(char *buf, size_t size, struct tok t)
{
	size_t i, n = t.n;
	bool cut = false;

	if (n > TOK_SHOW) {
		n = TOK_SHOW;
		cut = true;
	}
	if (n + 4 > size)
		n = size - 4;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t.p[i];
		buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (cut) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

static bool tok_is(struct tok t, const char *s)
{
	size_t n = strlen(s);

	return t.n == n && memcmp(t.p, s, n) == 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Splits a line into tokens, up to a '#'. Returns the count, or -1. */
static int tokenize(const char *line, size_t len, struct tok *t, unsigned lineno,
		    struct scn_error *err)
{
	size_t i = 0;
	int n = 0;

	if (memchr(line, '\0', len))
		return fail(err, lineno, "the line contains a NUL byte");
	while (i < len) {
		size_t start;

		while (i < len && is_blank(line[i]))
			i++;
		if (i >= len || line[i] == '#')
			break;
		start = i;
		while (i < len && !is_blank(line[i]) && line[i] != '#')
			i++;
		if (n == MAX_TOKENS)
			return fail(err, lineno, "too many words on the line (at most %d)", MAX_TOKENS);
		t[n].p = line + start;
		t[n].n = i - start;
		n++;
	}
	return n;
}

bool scn_is_separator(const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && is_blank(line[i]))
		i++;
	if (len - i < 3 || memcmp(line + i, "---", 3) != 0)
		return false;
	i += 3;
	while (i < len && is_blank(line[i]))
		i++;
	return i == len || line[i] == '#';
}

enum num_err { NUM_OK, NUM_MALFORMED, NUM_OVERFLOW };

/* Hex "0x..." or decimal, unsigned, 64 bits. */
static enum num_err parse_u64(struct tok t, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	unsigned base = 10;

	if (t.n >= 2 && t.p[0] == '0' && (t.p[1] == 'x' || t.p[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (i == t.n)
		return NUM_MALFORMED;
	for (; i < t.n; i++) {
		unsigned char c = (unsigned char)t.p[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return NUM_MALFORMED;
		if (v > (UINT64_MAX - d) / base)
			return NUM_OVERFLOW;
		v = v * base + d;
	}
	*out = v;
	return NUM_OK;
}

/* Parses token t as the value of `what`, within [lo, hi]. */
static int number(struct tok t, const char *what, uint64_t lo, uint64_t hi, uint64_t *out,
		  unsigned lineno, struct scn_error *err)
{
	char b[TOK_SHOW + 4];

	switch (parse_u64(t, out)) {
	case NUM_MALFORMED:
		return fail(err, lineno, "%s: malformed number '%s' (expected hex 0x... or decimal)",
			    what, show(b, sizeof(b), t));
	case NUM_OVERFLOW:
		return fail(err, lineno, "%s: number '%s' does not fit in 64 bits", what,
			    show(b, sizeof(b), t));
	case NUM_OK:
		break;
	}
	if (*out < lo || *out > hi) {
		if (lo == 0 && hi == UINT32_MAX)
			return fail(err, lineno, "%s: value %s out of range (it is a 32-bit register)",
				    what, show(b, sizeof(b), t));
		return fail(err, lineno, "%s: value %s out of range (%" PRIu64 "..%" PRIu64 ")", what,
			    show(b, sizeof(b), t), lo, hi);
	}
	return 0;
}

void scenario_reset(struct scenario *s)
{
	struct ept_caps all_ept = { .xonly = true, .walk5 = true, .ad = true, .gb1 = true, .mbec = true };
	struct cpu_features all_feat = { .gbpages = true, .la57 = true, .pku = true, .smep = true, .smap = true };

	memset(&s->cfg, 0, sizeof(s->cfg));
	s->cfg.cpu.vendor = CPU_INTEL;
	s->cfg.cpu.maxphyaddr = SCN_DEFAULT_MAXPHYADDR;
	s->cfg.cpu.feat = all_feat;
	s->cfg.cpu.regs.rflags = SCN_DEFAULT_RFLAGS;
	s->cfg.nested = NESTED_NONE;
	s->cfg.ept_caps = all_ept;
	s->cfg.ncr4 = SCN_DEFAULT_NCR4;
	s->cfg.nefer = SCN_DEFAULT_NEFER;
	s->n_mem = 0;
	s->n_rb = 0;
	s->type = ACCESS_READ;
	s->la = 0;
	s->implicit = false;
	memset(s->key_line, 0, sizeof(s->key_line));
	s->first_line = 0;
	s->last_line = 0;
	s->index = 0;
	s->empty = true;
}

void scenario_init(struct scenario *s)
{
	memset(s, 0, sizeof(*s));
	scenario_reset(s);
}

void scenario_free(struct scenario *s)
{
	free(s->mem);
	free(s->rb);
	memset(s, 0, sizeof(*s));
}

uint64_t scenario_mem_limit(const struct scenario *s)
{
	return UINT64_C(1) << s->cfg.cpu.maxphyaddr;
}

static int parse_caps(struct scenario *s, bool ept, const struct tok *t, int nt, unsigned lineno,
		      struct scn_error *err)
{
	const char *key = ept ? "ept_caps" : "guest_caps";
	const char *names = ept ? "xonly mbec ad 1g walk5 (or 5level), or none/all"
				: "1g (or gbpages) la57 (or 5level) pku smep smap, or none/all";
	struct ept_caps ec = { 0 };
	struct cpu_features cf = { 0 };
	unsigned items = 0;
	bool special = false;
	char b[TOK_SHOW + 4];
	int i;

	if (nt < 2)
		return fail(err, lineno, "'%s' needs a list such as %s", key,
			    ept ? "xonly,mbec,ad,1g" : "1g,la57,pku,smep,smap");
	for (i = 1; i < nt; i++) {
		const char *p = t[i].p, *end = t[i].p + t[i].n;

		while (p < end) {
			const char *c = memchr(p, ',', (size_t)(end - p));
			struct tok it = { p, (size_t)((c ? c : end) - p) };

			p = c ? c + 1 : end;
			if (it.n == 0)
				continue; /* "a,,b" or "a, b" */
			items++;
			if (tok_is(it, "none") || tok_is(it, "all")) {
				bool on = tok_is(it, "all");

				special = true;
				ec = (struct ept_caps){ on, on, on, on, on };
				cf = (struct cpu_features){ on, on, on, on, on };
			} else if (ept && tok_is(it, "xonly")) {
				ec.xonly = true;
			} else if (ept && tok_is(it, "mbec")) {
				ec.mbec = true;
			} else if (ept && tok_is(it, "ad")) {
				ec.ad = true;
			} else if (ept && tok_is(it, "1g")) {
				ec.gb1 = true;
			} else if (ept && (tok_is(it, "walk5") || tok_is(it, "5level"))) {
				ec.walk5 = true;
			} else if (!ept && (tok_is(it, "1g") || tok_is(it, "gbpages"))) {
				cf.gbpages = true;
			} else if (!ept && (tok_is(it, "la57") || tok_is(it, "5level"))) {
				cf.la57 = true;
			} else if (!ept && tok_is(it, "pku")) {
				cf.pku = true;
			} else if (!ept && tok_is(it, "smep")) {
				cf.smep = true;
			} else if (!ept && tok_is(it, "smap")) {
				cf.smap = true;
			} else {
				return fail(err, lineno, "%s: unknown capability '%s' (known: %s)", key,
					    show(b, sizeof(b), it), names);
			}
		}
	}
	if (items == 0)
		return fail(err, lineno, "%s: empty capability list (write 'none' for none)", key);
	if (special && items > 1)
		return fail(err, lineno, "%s: 'none' and 'all' stand alone, not in a list", key);
	if (ept)
		s->cfg.ept_caps = ec;
	else
		s->cfg.cpu.feat = cf;
	return 0;
}

static int parse_access(struct scenario *s, const struct tok *t, int nt, unsigned lineno,
			struct scn_error *err)
{
	char b[TOK_SHOW + 4];

	if (nt < 3)
		return fail(err, lineno, "'access' needs a type and a linear address: "
			    "access read|write|fetch 0x<address> [implicit]");
	if (tok_is(t[1], "read"))
		s->type = ACCESS_READ;
	else if (tok_is(t[1], "write"))
		s->type = ACCESS_WRITE;
	else if (tok_is(t[1], "fetch"))
		s->type = ACCESS_FETCH;
	else
		return fail(err, lineno, "access: unknown access type '%s' (read, write or fetch)",
			    show(b, sizeof(b), t[1]));
	if (number(t[2], "access", 0, UINT64_MAX, &s->la, lineno, err) < 0)
		return -1;
	if (nt >= 4) {
		if (!tok_is(t[3], "implicit"))
			return fail(err, lineno, "access: unexpected '%s' (only 'implicit' may follow the address)",
				    show(b, sizeof(b), t[3]));
		s->implicit = true;
	}
	if (nt > 4)
		return fail(err, lineno, "access: unexpected '%s' at the end of the line",
			    show(b, sizeof(b), t[4]));
	return 0;
}

static int parse_mem(struct scenario *s, bool readback, const struct tok *t, int nt, unsigned lineno,
		     struct scn_error *err)
{
	const char *key = readback ? "readback" : "mem";
	int want = readback ? 2 : 3;
	uint64_t addr, val = 0;
	char b[TOK_SHOW + 4];
	size_t i;

	if (nt < want)
		return fail(err, lineno, readback ? "'readback' needs a host-physical address"
					 : "'mem' needs a host-physical address and a 64-bit value");
	if (nt > want)
		return fail(err, lineno, "%s: unexpected '%s' at the end of the line", key,
			    show(b, sizeof(b), t[want]));
	if (number(t[1], key, 0, UINT64_MAX, &addr, lineno, err) < 0)
		return -1;
	if (addr & 7)
		return fail(err, lineno, "%s: address 0x%" PRIx64 " is not 8-byte aligned "
			    "(memory is written and read as 64-bit words)", key, addr);
	if (readback) {
		for (i = 0; i < s->n_rb; i++)
			if (s->rb[i].addr == addr)
				return 0; /* reported once */
		cli_grow((void **)&s->rb, &s->cap_rb, s->n_rb + 1, sizeof(*s->rb));
		s->rb[s->n_rb++] = (struct scn_readback){ addr, lineno };
		return 0;
	}
	if (number(t[2], key, 0, UINT64_MAX, &val, lineno, err) < 0)
		return -1;
	cli_grow((void **)&s->mem, &s->cap_mem, s->n_mem + 1, sizeof(*s->mem));
	s->mem[s->n_mem++] = (struct scn_mem){ addr, val, lineno };
	return 0;
}

static int lookup_key(struct tok t)
{
	int k;

	for (k = 0; k < K_COUNT; k++)
		if (tok_is(t, key_names[k]))
			return k;
	return -1;
}

int scenario_parse_line(struct scenario *s, const char *line, size_t len, unsigned lineno,
			struct scn_error *err)
{
	struct tok t[MAX_TOKENS];
	char b[TOK_SHOW + 4];
	struct cpu_regs *regs = &s->cfg.cpu.regs;
	uint64_t v;
	int nt, k;

	nt = tokenize(line, len, t, lineno, err);
	if (nt <= 0)
		return nt;
	if (!s->first_line)
		s->first_line = lineno;
	s->empty = false;
	s->last_line = lineno;

	if (tok_is(t[0], "mem"))
		return parse_mem(s, false, t, nt, lineno, err);
	if (tok_is(t[0], "readback"))
		return parse_mem(s, true, t, nt, lineno, err);
	k = lookup_key(t[0]);
	if (k < 0)
		return fail(err, lineno, "unknown key '%s' (known: cpu maxphyaddr cr0 cr3 cr4 efer "
			    "rflags cpl pkru nested eptp ncr3 ncr4 nefer ept_caps guest_caps mem "
			    "readback access)", show(b, sizeof(b), t[0]));
	if (s->key_line[k])
		return fail(err, lineno, "'%s' given twice (first at line %u)", key_names[k],
			    s->key_line[k]);
	s->key_line[k] = lineno;

	switch (k) {
	case K_ACCESS:
		return parse_access(s, t, nt, lineno, err);
	case K_EPT_CAPS:
	case K_GUEST_CAPS:
		return parse_caps(s, k == K_EPT_CAPS, t, nt, lineno, err);
	default:
		break;
	}

	/* keys with exactly one value */
	if (nt < 2)
		return fail(err, lineno, "'%s' needs a value", key_names[k]);
	if (nt > 2)
		return fail(err, lineno, "%s: unexpected '%s' after the value", key_names[k],
			    show(b, sizeof(b), t[2]));
	switch (k) {
	case K_CPU:
		if (tok_is(t[1], "intel"))
			s->cfg.cpu.vendor = CPU_INTEL;
		else if (tok_is(t[1], "amd"))
			s->cfg.cpu.vendor = CPU_AMD;
		else
			return fail(err, lineno, "cpu: unknown vendor '%s' (intel or amd)",
				    show(b, sizeof(b), t[1]));
		return 0;
	case K_NESTED:
		if (tok_is(t[1], "none"))
			s->cfg.nested = NESTED_NONE;
		else if (tok_is(t[1], "ept"))
			s->cfg.nested = NESTED_EPT;
		else if (tok_is(t[1], "npt"))
			s->cfg.nested = NESTED_NPT;
		else
			return fail(err, lineno, "nested: unknown mode '%s' (none, ept or npt)",
				    show(b, sizeof(b), t[1]));
		return 0;
	case K_MAXPHYADDR:
		if (number(t[1], "maxphyaddr", 32, 52, &v, lineno, err) < 0)
			return -1;
		s->cfg.cpu.maxphyaddr = (unsigned)v;
		return 0;
	case K_CPL:
		if (number(t[1], "cpl", 0, 3, &v, lineno, err) < 0)
			return -1;
		regs->cpl = (unsigned)v;
		return 0;
	case K_PKRU:
		if (number(t[1], "pkru", 0, UINT32_MAX, &v, lineno, err) < 0)
			return -1;
		regs->pkru = (uint32_t)v;
		return 0;
	default:
		break;
	}
	if (number(t[1], key_names[k], 0, UINT64_MAX, &v, lineno, err) < 0)
		return -1;
	switch (k) {
	case K_CR0: regs->cr0 = v; break;
	case K_CR3: regs->cr3 = v; break;
	case K_CR4: regs->cr4 = v; break;
	case K_EFER: regs->efer = v; break;
	case K_RFLAGS: regs->rflags = v; break;
	case K_EPTP: s->cfg.eptp = v; break;
	case K_NCR3: s->cfg.ncr3 = v; break;
	case K_NCR4: s->cfg.ncr4 = v; break;
	case K_NEFER: s->cfg.nefer = v; break;
	default: break;
	}
	return 0;
}

/* A key that belongs to another nested mode than the one chosen. */
static int stray_key(const struct scenario *s, enum scn_key k, const char *needs, struct scn_error *err)
{
	if (!s->key_line[k])
		return 0;
	return fail(err, s->key_line[k], "'%s' only applies with 'nested %s'%s", key_names[k], needs,
		    s->key_line[K_NESTED] ? "" : " (nested defaults to none)");
}

/* Lines of the registers given, appended to a message about their values. */
static void register_lines(const struct scenario *s, char *buf, size_t size)
{
	static const enum scn_key regs[] = { K_CPU, K_MAXPHYADDR, K_CR0, K_CR3, K_CR4, K_EFER,
					     K_RFLAGS, K_CPL, K_PKRU, K_GUEST_CAPS, K_NESTED,
					     K_EPTP, K_EPT_CAPS, K_NCR3, K_NCR4, K_NEFER };
	size_t i, len = 0;
	bool any = false;

	buf[0] = '\0';
	for (i = 0; i < sizeof(regs) / sizeof(regs[0]) && len + 24 < size; i++) {
		if (!s->key_line[regs[i]])
			continue;
		len += (size_t)snprintf(buf + len, size - len, "%s%s at %u", any ? ", " : " (given: ",
					key_names[regs[i]], s->key_line[regs[i]]);
		any = true;
	}
	if (any && len + 2 < size)
		snprintf(buf + len, size - len, ")");
}

int scenario_finish(struct scenario *s, struct scn_error *err)
{
	uint64_t limit = scenario_mem_limit(s);
	unsigned nl = s->key_line[K_NESTED];
	enum paging_mode mode;
	const char *why;
	char lines[160];
	size_t i;

	if (s->empty)
		return fail(err, s->first_line ? s->first_line : 1,
			    "empty scenario: no 'access' line");
	if (!s->key_line[K_ACCESS])
		return fail(err, s->first_line, "missing 'access' line in the scenario at lines %u-%u "
			    "(access read|write|fetch 0x<address>)", s->first_line, s->last_line);

	switch (s->cfg.nested) {
	case NESTED_NONE:
		if (stray_key(s, K_EPTP, "ept", err) || stray_key(s, K_EPT_CAPS, "ept", err) ||
		    stray_key(s, K_NCR3, "npt", err) || stray_key(s, K_NCR4, "npt", err) ||
		    stray_key(s, K_NEFER, "npt", err))
			return -1;
		break;
	case NESTED_EPT:
		if (s->cfg.cpu.vendor != CPU_INTEL)
			return fail(err, nl, "nested ept needs cpu intel (EPT is Intel's; "
				    "AMD's nested paging is 'nested npt')");
		if (!s->key_line[K_EPTP])
			return fail(err, nl, "nested ept needs an 'eptp' line");
		if (stray_key(s, K_NCR3, "npt", err) || stray_key(s, K_NCR4, "npt", err) ||
		    stray_key(s, K_NEFER, "npt", err))
			return -1;
		break;
	case NESTED_NPT:
		if (s->cfg.cpu.vendor != CPU_AMD)
			return fail(err, nl, "nested npt needs cpu amd (AMD's nested paging; "
				    "Intel's is 'nested ept')%s",
				    s->key_line[K_CPU] ? "" : "; cpu defaults to intel");
		if (!s->key_line[K_NCR3])
			return fail(err, nl, "nested npt needs an 'ncr3' line");
		if (stray_key(s, K_EPTP, "ept", err) || stray_key(s, K_EPT_CAPS, "ept", err))
			return -1;
		break;
	}

	for (i = 0; i < s->n_mem; i++)
		if (s->mem[i].addr > limit - 8)
			return fail(err, s->mem[i].line, "mem: address 0x%" PRIx64 " outside memory "
				    "(host memory ends at 2^maxphyaddr = 0x%" PRIx64 ")",
				    s->mem[i].addr, limit);
	for (i = 0; i < s->n_rb; i++)
		if (s->rb[i].addr > limit - 8)
			return fail(err, s->rb[i].line, "readback: address 0x%" PRIx64 " outside memory "
				    "(host memory ends at 2^maxphyaddr = 0x%" PRIx64 ")",
				    s->rb[i].addr, limit);

	why = hw_config_invalid(&s->cfg);
	if (why) {
		register_lines(s, lines, sizeof(lines));
		return fail(err, s->key_line[K_ACCESS], "this state cannot exist: %s%s", why, lines);
	}

	/* Outside IA-32e mode a linear address has 32 bits (SDM 3.3.6). */
	mode = cpu_paging_mode(&s->cfg.cpu.regs);
	if (mode != PAGING_4LEVEL && mode != PAGING_5LEVEL && (s->la >> 32))
		return fail(err, s->key_line[K_ACCESS], "access: linear address 0x%" PRIx64 " has more "
			    "than 32 bits, but the guest is not in IA-32e mode (paging mode: %s)",
			    s->la, paging_mode_name(mode));
	return 0;
}

/* ---- reader ---- */

void scn_reader_init(struct scn_reader *r, FILE *f, bool batch)
{
	memset(r, 0, sizeof(*r));
	r->f = f;
	r->batch = batch;
}

void scn_reader_free(struct scn_reader *r)
{
	free(r->line);
	r->line = NULL;
	r->line_cap = 0;
}

enum scn_read_status scn_reader_next(struct scn_reader *r, struct scenario *s,
				     struct scn_error *err)
{
	for (;;) {
		bool failed = false;
		unsigned start = r->lineno + 1;
		ssize_t n;

		if (r->eof)
			return SCN_READ_EOF;
		scenario_reset(s);
		for (;;) {
			size_t len;

			errno = 0;
			n = getline(&r->line, &r->line_cap, r->f);
			if (n < 0)
				break;
			r->lineno++;
			len = (size_t)n;
			if (len && r->line[len - 1] == '\n')
				len--;
			if (scn_is_separator(r->line, len)) {
				if (!r->batch) {
					fail(err, r->lineno, "'---' separates scenarios only in a "
					     "batch (nestmmu walk --batch)");
					r->eof = true;
					return SCN_READ_ERROR;
				}
				break;
			}
			if (failed)
				continue; /* skip the rest of a bad scenario */
			if (scenario_parse_line(s, r->line, len, r->lineno, err) < 0) {
				failed = true;
				if (!r->batch) {
					r->eof = true;
					return SCN_READ_ERROR;
				}
			}
		}
		if (n < 0) {
			if (ferror(r->f))
				return SCN_READ_IOERR;
			r->eof = true;
		}
		if (!s->first_line)
			s->first_line = start;
		if (failed) {
			s->index = ++r->count;
			return SCN_READ_ERROR;
		}
		if (s->empty && r->batch)
			continue; /* a block of blanks and comments */
		s->index = ++r->count;
		if (scenario_finish(s, err) < 0)
			return SCN_READ_ERROR;
		return SCN_READ_OK;
	}
}
