/*
 * walk.h - the generic one-dimensional page walker.
 *
 * One implementation for every format (32-bit, PAE, 4/5-level, EPT, NPT):
 * the format is a parameter (struct pt_format). Between levels, every table
 * address and finally the output address may be passed through a translate
 * hook; the two-dimensional walk (walk2d.h) is this walker with a hook that
 * runs the same walker over the nested (EPT/NPT) tables.
 *
 * The walker only reads entries, ANDs their rights and checks reserved bits.
 * Whether the ANDed rights allow an access is the caller's rule (x86 paging
 * rules, EPT rules or NPT rules); setting A/D flags is walk_set_ad(), called
 * by the caller once the access is known to be allowed.
 */
#ifndef NESTMMU_ARCH_WALK_H
#define NESTMMU_ARCH_WALK_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/pmem.h"
#include "arch/pt_format.h"

/* What a translate hook is asked to translate. */
enum tr_kind {
	TR_TABLE_READ,  /* read of a paging-structure entry */
	TR_TABLE_WRITE, /* A/D update of a paging-structure entry */
	TR_FINAL,       /* the translated (output) address itself */
};

/*
 * Translate hook: maps an address of the format's physical space to a
 * host-physical address. Returns false if the translation faulted (the hook
 * records why in its own context). NULL hook: identity.
 */
typedef bool (*walk_tr_fn)(void *ctx, uint64_t addr, enum tr_kind kind, uint64_t *hpa);

/* One step of a walk, for people (nestmmu walk) and tests. */
enum step_kind {
	STEP_READ,      /* entry read from memory */
	STEP_PDPTE_REG, /* PAE entry taken from a PDPTE register (no memory reference) */
	STEP_AD_UPDATE, /* A/D flags set by compare-exchange */
	STEP_CACHED,    /* walk resumed from a paging-structure cache */
};

struct walk_step {
	uint8_t dim;        /* 0 = guest (or only) dimension, 1 = nested */
	uint8_t level;
	uint8_t kind;       /* enum step_kind */
	uint64_t addr;      /* address being translated by this walk */
	uint64_t entry_addr;/* address of the entry in the format's physical space */
	uint64_t entry_hpa; /* host-physical address of the entry */
	uint64_t value;     /* entry read (or new value for an update) */
	const char *note;   /* what the step decided */
};

struct walk_trace {
	struct walk_step *steps;
	unsigned cap;
	unsigned n;       /* steps recorded (may exceed cap: then truncated) */
};

void walk_trace_add(struct walk_trace *t, const struct walk_step *s);

/*
 * Paging-structure cache hook (optional). lookup() returns the deepest
 * cached level for `addr`: the walk resumes by reading level *level of the
 * table at *table (format's physical space) with *rights ANDed so far.
 * fill(addr, level, table, rights) records the same triple; walk_fill_cache()
 * calls it for every non-leaf entry of a successful access.
 */
struct walk_cache {
	bool (*lookup)(void *ctx, uint64_t addr, unsigned *level, uint64_t *table, unsigned *rights);
	void (*fill)(void *ctx, uint64_t addr, unsigned level, uint64_t table, unsigned rights);
	void *ctx;
};

struct walk_req {
	const struct pt_format *fmt;
	uint64_t root;              /* root table address (format's physical space) */
	const uint64_t *pdpte_regs; /* PAE with fmt->pdpte_regs: the 4 registers */
	uint64_t addr;              /* address to translate */
	struct pmem mem;            /* host-physical memory holding the tables */
	walk_tr_fn tr;              /* NULL: tables are host-physical */
	void *tr_ctx;
	const struct walk_cache *cache; /* NULL: nothing cached */
	struct walk_trace *trace;   /* NULL: no trace */
	unsigned dim;               /* for the trace */
};

enum walk_status {
	WALK_OK,          /* reached a leaf */
	WALK_NOT_PRESENT, /* entry at out->level not present */
	WALK_RSVD,        /* reserved bit (EPT: misconfiguration) at out->level */
	WALK_TR_FAULT,    /* the translate hook faulted */
	WALK_ABORT,       /* a table lies outside memory */
	WALK_RETRY,       /* walk_set_ad: an entry changed under the walk */
};

struct walk_entry {
	uint64_t addr;  /* address of the entry (format's physical space) */
	uint64_t hpa;   /* host-physical address of the entry, 0 if a register */
	uint64_t val;
	bool in_reg;    /* PAE PDPTE register: no memory, no A flag */
	unsigned rights;/* rights ANDed from the top down to this entry */
};

struct walk_out {
	enum walk_status status;
	unsigned level;     /* leaf level, or level of the faulting entry */
	unsigned rights;    /* rights ANDed over entries read; 0 if one was not present */
	uint64_t out_addr;  /* translated address (before the final hook) */
	uint64_t page_size;
	unsigned pkey;      /* protection key of the leaf (fmt->pke) */
	unsigned refs;      /* paging-structure entries read from memory */
	unsigned ad_writes; /* entries written by walk_set_ad() */
	struct walk_entry ent[PT_MAX_LEVELS + 1]; /* [level], valid for levels walked */
	unsigned top;       /* the first level read in this walk (lower than the root when cached) */
};

/* Walks the tables for req->addr. Returns out->status. */
enum walk_status walk_tables(const struct walk_req *req, struct walk_out *out);

/*
 * Sets A on every entry used and, when `dirty`, D on the leaf, each by
 * compare-exchange (SDM 4.8; Vol. 3C 29.3.5). Entries whose flags are
 * already set are not written. Before anything is written, every entry to
 * update is translated with TR_TABLE_WRITE, so a write-protected table
 * faults with no flag set (all or nothing).
 * Returns WALK_OK, WALK_TR_FAULT, WALK_ABORT, or WALK_RETRY when an entry
 * changed under the walk (the caller walks again).
 */
enum walk_status walk_set_ad(const struct walk_req *req, struct walk_out *out, bool dirty);

/* Records the non-leaf entries of a successful walk in req->cache. */
void walk_fill_cache(const struct walk_req *req, const struct walk_out *out);

#endif
