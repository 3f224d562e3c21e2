/*
 * scenario.h - the scenario files of `nestmmu walk`: a CPU state, nested
 * paging set-up, host-physical memory contents and one access.
 *
 * Line-based: "key value..." per line, '#' starts a comment, numbers in
 * hex (0x...) or decimal. In a batch, scenarios are separated by lines
 * "---". See docs/walk.md for the format and the defaults.
 *
 * Every error names the file and line it was found at.
 */
#ifndef NESTMMU_CLI_SCENARIO_H
#define NESTMMU_CLI_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "arch/walk2d.h"

/* The keys that may appear at most once, for duplicate detection. */
enum scn_key {
	K_CPU, K_MAXPHYADDR, K_CR0, K_CR3, K_CR4, K_EFER, K_RFLAGS, K_CPL, K_PKRU,
	K_NESTED, K_EPTP, K_NCR3, K_NCR4, K_NEFER, K_EPT_CAPS, K_GUEST_CAPS,
	K_ACCESS,
	K_COUNT
};

struct scn_mem {
	uint64_t addr, val;
	unsigned line;
};

struct scn_readback {
	uint64_t addr;
	unsigned line;
};

struct scenario {
	/* cfg.mem is left empty: the caller supplies the memory. */
	struct hw_config cfg;
	struct scn_mem *mem;
	size_t n_mem, cap_mem;
	struct scn_readback *rb; /* distinct addresses, in order of first mention */
	size_t n_rb, cap_rb;
	enum access_type type;
	uint64_t la;
	bool implicit;
	unsigned key_line[K_COUNT]; /* 0: key not given */
	unsigned first_line;        /* first line of the scenario's block */
	unsigned last_line;
	unsigned index;             /* 1-based number of the scenario in its file */
	bool empty;                 /* no key line at all (only blank/comment lines) */
};

#define SCN_MSG_MAX 320

struct scn_error {
	unsigned line;
	char msg[SCN_MSG_MAX];
};

/* Defaults of omitted keys (docs/walk.md). */
#define SCN_DEFAULT_MAXPHYADDR 46
#define SCN_DEFAULT_RFLAGS     UINT64_C(0x2)
#define SCN_DEFAULT_NCR4       UINT64_C(0x20)  /* PAE: a long-mode host */
#define SCN_DEFAULT_NEFER      UINT64_C(0xd01) /* SCE LME LMA NXE */

void scenario_init(struct scenario *s);
/* Back to the defaults, keeping the allocations. */
void scenario_reset(struct scenario *s);
void scenario_free(struct scenario *s);

/* Host memory size of a scenario: 2^maxphyaddr. */
uint64_t scenario_mem_limit(const struct scenario *s);

/*
 * Parses one line (without its newline) into the scenario. Returns 0, or
 * -1 with *err filled. The line is not a separator (see scn_is_separator).
 */
int scenario_parse_line(struct scenario *s, const char *line, size_t len, unsigned lineno,
			struct scn_error *err);

/*
 * After the last line: cross-key checks (access present, memory within
 * 2^maxphyaddr, nested keys consistent, hw_config_invalid()). 0 or -1.
 */
int scenario_finish(struct scenario *s, struct scn_error *err);

/* Is this line a scenario separator "---" (blanks and a comment allowed)? */
bool scn_is_separator(const char *line, size_t len);

/* Name of a key, for messages. */
const char *scn_key_name(enum scn_key k);

/*
 * Reads scenarios from a stream, one block at a time.
 */
struct scn_reader {
	FILE *f;
	char *line;
	size_t line_cap;
	unsigned lineno;
	unsigned count;    /* scenarios returned so far (including bad ones) */
	bool eof;
	bool batch;        /* "---" separates scenarios; else it is an error */
};

void scn_reader_init(struct scn_reader *r, FILE *f, bool batch);
void scn_reader_free(struct scn_reader *r);

enum scn_read_status {
	SCN_READ_OK,    /* *s holds a valid scenario */
	SCN_READ_ERROR, /* *err says what is wrong; in batch mode the reader has
			 * skipped to the end of the bad scenario */
	SCN_READ_EOF,   /* no more scenarios */
	SCN_READ_IOERR, /* reading the stream failed (errno is set) */
};

/*
 * Reads the next scenario. Blocks holding only blanks and comments are
 * skipped in batch mode; a single-scenario reader returns an error for an
 * empty input (no access line).
 */
enum scn_read_status scn_reader_next(struct scn_reader *r, struct scenario *s,
				     struct scn_error *err);

#endif
