/*
 * gpt.h - the guest OS's page-table code for every paging mode: the
 * geometry of each format (as an OS is written for it, independently of
 * the simulator's walker), entry encodings, and the address-space layout
 * the OS chooses per mode.
 *
 *   mode     levels entry  index bits (top..1)  kernel half / direct map
 *   32-bit   2      4 B    10 10                0xC0000000, first min(RAM, 896 MiB), 4 MiB PSE pages
 *   PAE      3      8 B    2 9 9                0xC0000000, first min(RAM, 896 MiB), 2 MiB pages
 *   4-level  4      8 B    9 9 9 9              0xffff888000000000, all RAM, 1 GiB (or 2 MiB) pages
 *   5-level  5      8 B    9 9 9 9 9            0xff11000000000000, all RAM, 1 GiB (or 2 MiB) pages
 */
#ifndef NESTMMU_GUEST_GPT_H
#define NESTMMU_GUEST_GPT_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/cpu.h"

#define GPT_MAX_LEVELS 5

struct gpt_geom {
	enum paging_mode mode;
	unsigned levels;
	unsigned esize;             /* bytes per entry: 4 or 8 */
	unsigned shift[GPT_MAX_LEVELS + 1]; /* lowest address bit an index of level l selects */
	unsigned bits[GPT_MAX_LEVELS + 1];  /* index width of level l */
	uint64_t addr_mask;         /* address bits of a table or 4 KiB entry */
	bool nx;                    /* XD is used (EFER.NXE, 8-byte entries) */
	uint64_t user_top;          /* user space is [0, user_top) */
	uint64_t dmap_base;         /* direct map: gpa x at dmap_base + x */
	uint64_t dmap_bytes;        /* RAM covered by the direct map (lowmem) */
	uint64_t phys_limit;        /* data pages must lie below this */
	unsigned dmap_level;        /* level of the direct map's leaves (1: 4 KiB only) */
};

/*
 * The geometry of `mode` for `ram` bytes of RAM. `large`: the direct map
 * uses large pages (1 GiB ones when `gbpages`). False for PAGING_NONE.
 */
bool gpt_geom_init(struct gpt_geom *g, enum paging_mode mode, uint64_t ram, bool nx, bool gbpages,
		   bool large);

static inline unsigned gpt_index(const struct gpt_geom *g, unsigned level, uint64_t va)
{
	return (unsigned)((va >> g->shift[level]) & ((UINT64_C(1) << g->bits[level]) - 1));
}

/* Bytes one entry of `level` maps. */
static inline uint64_t gpt_span(const struct gpt_geom *g, unsigned level)
{
	return UINT64_C(1) << g->shift[level];
}

/* Number of entries in a table of `level`. */
static inline unsigned gpt_entries(const struct gpt_geom *g, unsigned level)
{
	return 1u << g->bits[level];
}

/* The canonical address of user/kernel addresses: sign-extends the top bit (IA-32e). */
uint64_t gpt_canonical(const struct gpt_geom *g, uint64_t va);

/* Entry bits (x86: SDM 4.3-4.5). */
#define GPT_P   UINT64_C(0x1)
#define GPT_RW  UINT64_C(0x2)
#define GPT_US  UINT64_C(0x4)
#define GPT_A   UINT64_C(0x20)
#define GPT_D   UINT64_C(0x40)
#define GPT_PS  UINT64_C(0x80)
#define GPT_G   UINT64_C(0x100)
#define GPT_XD  (UINT64_C(1) << 63)

/* An entry of `level` referencing the table at `gpa` (user side: U/S set). PAE PDPTE: P only. */
uint64_t gpt_mk_table(const struct gpt_geom *g, unsigned level, uint64_t gpa, bool user);
/*
 * A leaf of `level` mapping the frame at `gpa`: P, A, RW if writable, U/S
 * if user, D if dirty, G if global, XD unless exec (when NX is used), PS
 * above level 1.
 */
uint64_t gpt_mk_leaf(const struct gpt_geom *g, unsigned level, uint64_t gpa, bool writable, bool user,
		     bool exec, bool dirty, bool global);
/* The frame (gpa) a present entry references. */
uint64_t gpt_entry_addr(const struct gpt_geom *g, unsigned level, uint64_t e);
/* A leaf above level 1 (PS set)? */
bool gpt_is_large(const struct gpt_geom *g, unsigned level, uint64_t e);

#endif
