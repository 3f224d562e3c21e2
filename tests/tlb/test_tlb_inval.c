/*
 * Which cached entries survive each invalidating operation. One population
 * of entries (below) covers: the current VPID 1 and PCID 1, another PCID,
 * another VPID, VPID 0 (the host), global entries, a large page, combined
 * mappings of two EP4TAs, guest PSC entries, and guest-physical mappings
 * (nested TLB, nested PSC). Each test names the entries the operation must
 * drop, with the sentence of the manual it follows; every other entry
 * must survive (the model drops nothing the definition does not name).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/tlb.h"
#include "arch/x86.h"

#define R1 UINT64_C(0x111000) /* an EP4TA */
#define R2 UINT64_C(0x222000) /* another */

enum where { IN_TLB, IN_PSC, IN_NTLB, IN_NPSC };

struct spec {
	const char *name;
	enum where where;
	uint32_t vpid;
	uint16_t pcid;
	enum tlb_kind kind;
	uint64_t root;
	uint64_t addr;
	uint64_t size;  /* TLB/NTLB page size */
	bool global;
	unsigned level; /* PSC: level of the cached entry */
};

enum {
	A, B, CG, D, DG, E, EG, L2M, CB1, CB2, H, HG, Z,
	P1, P1F, P2, PV2, PCB, PZ,
	N1, N2, NP1,
	NSPEC
};

#define BIT(x) (UINT32_C(1) << (x))

static const struct spec specs[NSPEC] = {
	/* TLB: linear mappings */
	[A]   = { "A v1 p1 0x1000",         IN_TLB, 1, 1, TLB_LINEAR, 0, 0x1000, PAGE_SIZE_4K, false, 0 },
	[B]   = { "B v1 p1 0x2000",         IN_TLB, 1, 1, TLB_LINEAR, 0, 0x2000, PAGE_SIZE_4K, false, 0 },
	[CG]  = { "Cg v1 p1 0x3000 global", IN_TLB, 1, 1, TLB_LINEAR, 0, 0x3000, PAGE_SIZE_4K, true, 0 },
	[D]   = { "D v1 p2 0x1000",         IN_TLB, 1, 2, TLB_LINEAR, 0, 0x1000, PAGE_SIZE_4K, false, 0 },
	[DG]  = { "Dg v1 p2 0x5000 global", IN_TLB, 1, 2, TLB_LINEAR, 0, 0x5000, PAGE_SIZE_4K, true, 0 },
	[E]   = { "E v2 p1 0x1000",         IN_TLB, 2, 1, TLB_LINEAR, 0, 0x1000, PAGE_SIZE_4K, false, 0 },
	[EG]  = { "Eg v2 p1 0x3000 global", IN_TLB, 2, 1, TLB_LINEAR, 0, 0x3000, PAGE_SIZE_4K, true, 0 },
	[L2M] = { "L2M v1 p1 2M@0x40000000", IN_TLB, 1, 1, TLB_LINEAR, 0, 0x40000000, PAGE_SIZE_2M, false, 0 },
	[H]   = { "H v0 p1 0x1000",         IN_TLB, 0, 1, TLB_LINEAR, 0, 0x1000, PAGE_SIZE_4K, false, 0 },
	[HG]  = { "Hg v0 p0 0x3000 global", IN_TLB, 0, 0, TLB_LINEAR, 0, 0x3000, PAGE_SIZE_4K, true, 0 },
	[Z]   = { "Z v1 p0 0x7000",         IN_TLB, 1, 0, TLB_LINEAR, 0, 0x7000, PAGE_SIZE_4K, false, 0 },
	/* TLB: combined mappings */
	[CB1] = { "Cb1 v1 p1 R1 0x1000",    IN_TLB, 1, 1, TLB_COMBINED, R1, 0x1000, PAGE_SIZE_4K, false, 0 },
	[CB2] = { "Cb2 v1 p1 R2 0x1000",    IN_TLB, 1, 1, TLB_COMBINED, R2, 0x1000, PAGE_SIZE_4K, false, 0 },
	/* guest PSC */
	[P1]  = { "P1 PDE v1 p1 [0,2M)",    IN_PSC, 1, 1, TLB_LINEAR, 0, 0x0, 0, false, 2 },
	[P1F] = { "P1f PML4E v1 p1 [512G,1T)", IN_PSC, 1, 1, TLB_LINEAR, 0, UINT64_C(0x8000000000), 0, false, 4 },
	[P2]  = { "P2 PDE v1 p2 [0,2M)",    IN_PSC, 1, 2, TLB_LINEAR, 0, 0x0, 0, false, 2 },
	[PV2] = { "Pv2 PDE v2 p1 [0,2M)",   IN_PSC, 2, 1, TLB_LINEAR, 0, 0x0, 0, false, 2 },
	[PCB] = { "Pcb PDE v1 p1 R1 [0,2M)", IN_PSC, 1, 1, TLB_COMBINED, R1, 0x0, 0, false, 2 },
	[PZ]  = { "Pz PDE v1 p0 [0,2M)",    IN_PSC, 1, 0, TLB_LINEAR, 0, 0x0, 0, false, 2 },
	/* guest-physical mappings (EPT: no VPID, no PCID) */
	[N1]  = { "N1 gpa 0x1000 R1",       IN_NTLB, 0, 0, TLB_GPHYS, R1, 0x1000, PAGE_SIZE_4K, false, 0 },
	[N2]  = { "N2 gpa 0x1000 R2",       IN_NTLB, 0, 0, TLB_GPHYS, R2, 0x1000, PAGE_SIZE_4K, false, 0 },
	[NP1] = { "Np1 nested PDE R1 [0,2M)", IN_NPSC, 0, 0, TLB_GPHYS, R1, 0x0, 0, false, 2 },
};

#define ALL (BIT(NSPEC) - 1)

static void spec_ctx(struct tlb *t, const struct spec *s)
{
	struct tlb_context c;

	tlb_context_4level(&c, 4);
	c.lin = (struct tlb_tag){ .vpid = s->vpid, .pcid = s->pcid, .kind = (uint8_t)s->kind, .root = s->root };
	c.nest = (struct tlb_tag){ .vpid = s->vpid, .pcid = 0, .kind = TLB_GPHYS, .root = s->root };
	tlb_set_context(t, &c);
}

static uint64_t spec_out(unsigned i)
{
	return UINT64_C(0x100000000) + (uint64_t)i * 0x1000;
}

static void populate(struct tlb *t)
{
	for (unsigned i = 0; i < NSPEC; i++) {
		const struct spec *s = &specs[i];
		struct tlb_fill f = {
			.la = s->addr, .gpa = s->addr, .hpa = spec_out(i) * 512,
			.size = s->size, .guest_size = s->size,
			.grights = RIGHT_ALL, .nrights = RIGHT_ALL,
			.global = s->global, .gdirty = true, .ndirty = true,
		};

		spec_ctx(t, s);
		switch (s->where) {
		case IN_TLB:
			tlb_fill(t, &f);
			break;
		case IN_PSC:
			tlb_psc_fill(t, 0, s->addr, s->level - 1, spec_out(i), RIGHT_ALL);
			break;
		case IN_NTLB:
			tlb_ntlb_fill(t, s->addr, spec_out(i), s->size, RIGHT_ALL, true);
			break;
		case IN_NPSC:
			tlb_psc_fill(t, 1, s->addr, s->level - 1, spec_out(i), RIGHT_ALL);
			break;
		}
	}
}

static bool present(struct tlb *t, unsigned i)
{
	const struct spec *s = &specs[i];
	const struct tlb_entry *e;
	unsigned level, rights;
	uint64_t table, hpa, size;
	bool dirty;

	spec_ctx(t, s);
	switch (s->where) {
	case IN_TLB:
		e = tlb_peek(t, s->addr);
		return e && e->tag.pcid == s->pcid && e->global == s->global && e->out == spec_out(i) * 512;
	case IN_PSC:
	case IN_NPSC:
		return tlb_psc_lookup(t, s->where == IN_NPSC, s->addr, &level, &table, &rights) &&
		       level == s->level - 1 && table == spec_out(i);
	case IN_NTLB:
		return tlb_ntlb_lookup(t, s->addr, &hpa, &size, &rights, &dirty) && hpa == spec_out(i);
	}
	return false;
}

static uint32_t survivors(struct tlb *t)
{
	uint32_t m = 0;

	for (unsigned i = 0; i < NSPEC; i++)
		if (present(t, i))
			m |= BIT(i);
	return m;
}

static void expect_dropped(struct tlb *t, uint32_t dropped)
{
	uint32_t got = survivors(t), want = ALL & ~dropped;

	for (unsigned i = 0; i < NSPEC; i++) {
		if ((got ^ want) & BIT(i))
			print_error("%s: expected %s, got %s\n", specs[i].name,
				    (want & BIT(i)) ? "survivor" : "dropped",
				    (got & BIT(i)) ? "survivor" : "dropped");
	}
	assert_int_equal(got, want);
}

static int setup(void **state)
{
	struct tlb_config c;
	struct tlb *t;

	tlb_config_default(&c);
	c.psc[2].ways = 8; /* five PDE-cache entries share set 0: no eviction here */
	t = tlb_create(&c);
	assert_non_null(t);
	populate(t);
	assert_int_equal(survivors(t), ALL);
	tlb_set_vpid(t, 1);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	tlb_destroy(*state);
	return 0;
}

/* Registers of the current context: IA-32e paging, CR4.PCIDE = 1, PCID 1. */
static struct cpu_regs regs_pcid(uint16_t pcid)
{
	struct cpu_regs r;

	memset(&r, 0, sizeof(r));
	r.cr0 = CR0_PE | CR0_PG | CR0_WP;
	r.cr4 = CR4_PAE | CR4_PGE | CR4_PCIDE;
	r.efer = EFER_LME | EFER_LMA | EFER_NXE;
	r.cr3 = 0x10000 | pcid;
	return r;
}

static struct cpu_regs regs_nopcid(void)
{
	struct cpu_regs r = regs_pcid(0);

	r.cr4 &= ~CR4_PCIDE;
	return r;
}

/* ---- INVLPG (SDM 4.10.4.1) ---- */

/*
 * "The instruction invalidates any TLB entries that are for a page number
 * corresponding to the linear address and that are associated with the
 * current PCID." -> A. "INVLPG also invalidates all entries in all
 * paging-structure caches associated with the current PCID, regardless of
 * the linear addresses to which they correspond." -> P1, P1f, Pcb.
 * Vol. 3C 29.4.3.1: "They are required to do so only for the current VPID
 * (but, for combined mappings, all EP4TAs). Linear mappings for the current
 * VPID are invalidated even if EPT is in use. Combined mappings for the
 * current VPID are invalidated even if EPT is not in use." -> Cb1, Cb2;
 * not E (VPID 2), not H (VPID 0), not N1/N2/Np1 (guest-physical).
 */
static void test_invlpg(void **state)
{
	struct tlb *t = *state;
	struct cpu_regs r = regs_pcid(1);

	tlb_invlpg(t, &r, 0x1abc);
	expect_dropped(t, BIT(A) | BIT(CB1) | BIT(CB2) | BIT(P1) | BIT(P1F) | BIT(PCB));
	assert_int_equal(tlb_get_stats(t)->ops[TLB_OP_INVLPG], 1);
	assert_int_equal(tlb_get_stats(t)->op_dropped[TLB_OP_INVLPG], 6);
}

/*
 * "It also invalidates any global TLB entries with that page number,
 * regardless of PCID": Dg was made under PCID 2, the current PCID is 1.
 */
static void test_invlpg_global_any_pcid(void **state)
{
	struct tlb *t = *state;
	struct cpu_regs r = regs_pcid(1);

	tlb_invlpg(t, &r, 0x5000);
	expect_dropped(t, BIT(DG) | BIT(P1) | BIT(P1F) | BIT(PCB));
}

/*
 * Footnote: "If the paging structures map the linear address using a page
 * larger than 4 KBytes and there are multiple TLB entries for that page
 * ..., the instruction invalidates all of them": any address of the 2M page.
 */
static void test_invlpg_large_page(void **state)
{
	struct tlb *t = *state;
	struct cpu_regs r = regs_pcid(1);

	tlb_invlpg(t, &r, 0x401fffff);
	expect_dropped(t, BIT(L2M) | BIT(P1) | BIT(P1F) | BIT(PCB));
}

/* "in 64-bit mode, except if the memory address is in non-canonical form.
 * In this case, INVLPG is the same as a NOP." */
static void test_invlpg_noncanonical(void **state)
{
	struct tlb *t = *state;
	struct cpu_regs r = regs_pcid(1);

	tlb_invlpg(t, &r, UINT64_C(0x0000800000001000));
	expect_dropped(t, 0);
}

/* A large page cached as smaller entries: INVLPG of any address of the
 * 1G page drops every 2M piece (the footnote above). */
static void test_invlpg_split_pieces(void **state)
{
	struct tlb_config c;
	struct tlb *t;
	struct cpu_regs r = regs_nopcid();
	struct tlb_fill f = {
		.size = PAGE_SIZE_1G, .guest_size = PAGE_SIZE_1G,
		.grights = RIGHT_ALL, .nrights = RIGHT_ALL, .gdirty = true, .ndirty = true,
	};

	(void)state;
	tlb_config_default(&c);
	c.tlb[TLB_CLASS_1G] = (struct tlb_geom){ 0, 0 };
	t = tlb_create(&c);
	assert_non_null(t);
	for (unsigned i = 0; i < 3; i++) {
		f.la = UINT64_C(0x40000000) + i * PAGE_SIZE_2M;
		f.gpa = f.hpa = f.la;
		tlb_fill(t, &f);
	}
	assert_int_equal(tlb_count_valid(t, TLB_S_TLB), 3);
	tlb_invlpg(t, &r, UINT64_C(0x7fff0000)); /* last 2M of the 1G page, never cached */
	assert_int_equal(tlb_count_valid(t, TLB_S_TLB), 0);
	tlb_destroy(t);
}

/* ---- INVPCID (SDM 4.10.4.1 and Vol. 2A INVPCID) ---- */

/*
 * Type 0: "invalidates mappings—except global translations—associated with
 * the PCID specified in the INVPCID descriptor and that would be used to
 * translate the linear address specified": D (PCID 2, page 0x1000) and P2
 * (PCID 2's PDE-cache entry used for 0x1000), for the current VPID (and
 * combined mappings of any EP4TA, none with PCID 2 here).
 */
static void test_invpcid0(void **state)
{
	struct tlb *t = *state;
	struct cpu_regs r = regs_pcid(1);

	assert_int_equal(tlb_invpcid(t, &r, 0, 2, 0x1000), TLB_INSN_OK);
	expect_dropped(t, BIT(D) | BIT(P2));
}

/* Type 0, "except global translations": Cg (global, page 0x3000) stays;
 * P1, used to translate 0x3000 in PCID 1, goes; P1f (other address) stays. */
static void test_invpcid0_keeps_global(void **state)
{
	struct tlb *t = *state;
	struct cpu_regs r = regs_pcid(1);

	assert_int_equal(tlb_invpcid(t, &r, 0, 1, 0x3000), TLB_INSN_OK);
	expect_dropped(t, BIT(P1) | BIT(PCB));
}

/* Type 1: "invalidates all mappings—except global translations—associated
 * with the PCID specified in the INVPCID descriptor". */
static void test_invpcid1(void **state)
{
	struct tlb *t = *state;
	struct cpu_regs r = regs_pcid(2);

	assert_int_equal(tlb_invpcid(t, &r, 1, 1, 0), TLB_INSN_OK);
	expect_dropped(t, BIT(A) | BIT(B) | BIT(L2M) | BIT(CB1) | BIT(CB2) |
			  BIT(P1) | BIT(P1F) | BIT(PCB));
}

/* Type 2: "invalidates mappings—including global translations—associated
 * with all PCIDs" (current VPID). */
static void test_invpcid2(void **state)
{
	struct tlb *t = *state;
	struct cpu_regs r = regs_pcid(1);

	assert_int_equal(tlb_invpcid(t, &r, 2, 0, 0), TLB_INSN_OK);
	expect_dropped(t, BIT(A) | BIT(B) | BIT(CG) | BIT(D) | BIT(DG) | BIT(L2M) | BIT(Z) |
			  BIT(CB1) | BIT(CB2) | BIT(P1) | BIT(P1F) | BIT(P2) | BIT(PCB) | BIT(PZ));
}

/* Type 3: "invalidates mappings—except global translations—associated with
 * all PCIDs". */
static void test_invpcid3(void **state)
{
	struct tlb *t = *state;
	struct cpu_regs r = regs_pcid(1);

	assert_int_equal(tlb_invpcid(t, &r, 3, 0, 0), TLB_INSN_OK);
	expect_dropped(t, BIT(A) | BIT(B) | BIT(D) | BIT(L2M) | BIT(Z) |
			  BIT(CB1) | BIT(CB2) | BIT(P1) | BIT(P1F) | BIT(P2) | BIT(PCB) | BIT(PZ));
}

/*
 * #GP(0) (Vol. 2A INVPCID): an invalid type; descriptor bits 63:12 not 0;
 * type 0 with a non-canonical address; types 0/1 with a PCID other than
 * 000H while CR4.PCIDE = 0. Nothing is invalidated.
 */
static void test_invpcid_gp(void **state)
{
	struct tlb *t = *state;
	struct cpu_regs r = regs_pcid(1), n = regs_nopcid();

	assert_int_equal(tlb_invpcid(t, &r, 4, 1, 0), TLB_INSN_GP);
	assert_int_equal(tlb_invpcid(t, &r, 1, 0x1001, 0), TLB_INSN_GP);
	assert_int_equal(tlb_invpcid(t, &r, 0, 1, UINT64_C(0x0000800000000000)), TLB_INSN_GP);
	assert_int_equal(tlb_invpcid(t, &n, 1, 1, 0), TLB_INSN_GP);
	assert_int_equal(tlb_invpcid(t, &n, 0, 1, 0x1000), TLB_INSN_GP);
	expect_dropped(t, 0);
	/* with CR4.LA57 the 57-bit address is canonical */
	r.cr4 |= CR4_LA57;
	assert_int_equal(tlb_invpcid(t, &r, 0, 1, UINT64_C(0x0000800000000000)), TLB_INSN_OK);
	assert_int_equal(tlb_get_stats(t)->ops[TLB_OP_INVPCID0], 1);
}

/* ---- MOV to CR3 ---- */

/* "If CR4.PCIDE = 0, the instruction invalidates all TLB entries associated
 * with PCID 000H except those for global pages. It also invalidates all
 * entries in all paging-structure caches associated with PCID 000H." */
static void test_mov_cr3_nopcid(void **state)
{
	struct tlb *t = *state;
	struct cpu_regs r = regs_nopcid();

	tlb_mov_cr3(t, &r, 0x20000);
	expect_dropped(t, BIT(Z) | BIT(PZ));
	assert_int_equal(tlb_get_stats(t)->ops[TLB_OP_MOV_CR3], 1);
}

/* "If CR4.PCIDE = 1 and bit 63 of the instruction's source operand is 0,
 * the instruction invalidates all TLB entries associated with the PCID
 * specified in bits 11:0 of the instruction's source operand except those
 * for global pages. It also invalidates all entries in all paging-structure
 * caches associated with the PCID specified in bits 11:0": D, P2; not Dg. */
static void test_mov_cr3_pcid(void **state)
{
	struct tlb *t = *state;
	struct cpu_regs r = regs_pcid(1);

	tlb_mov_cr3(t, &r, 0x20000 | 2);
	expect_dropped(t, BIT(D) | BIT(P2));
}

/* "If CR4.PCIDE = 1 and bit 63 of the instruction's source operand is 1,
 * the instruction is not required to invalidate any TLB entries or entries
 * in paging-structure caches." */
static void test_mov_cr3_noflush(void **state)
{
	struct tlb *t = *state;
	struct cpu_regs r = regs_pcid(1);

	tlb_mov_cr3(t, &r, CR3_NOFLUSH | 0x20000 | 2);
	expect_dropped(t, 0);
	assert_int_equal(tlb_get_stats(t)->ops[TLB_OP_MOV_CR3_NOFLUSH], 1);
	assert_int_equal(tlb_get_stats(t)->ops[TLB_OP_MOV_CR3], 0);
}

/* ---- MOV to CR4, MOV to CR0, task switch ---- */

#define ALL_V1 (BIT(A) | BIT(B) | BIT(CG) | BIT(D) | BIT(DG) | BIT(L2M) | BIT(Z) | \
		BIT(CB1) | BIT(CB2) | BIT(P1) | BIT(P1F) | BIT(P2) | BIT(PCB) | BIT(PZ))

/* "The instruction invalidates all TLB entries (including global entries)
 * and all entries in all paging-structure caches (for all PCIDs) if (1) it
 * changes the value of CR4.PGE" - for the current VPID (29.4.3.1). */
static void test_mov_cr4_pge(void **state)
{
	struct tlb *t = *state;
	struct cpu_regs r = regs_pcid(1);

	tlb_mov_cr4(t, &r, r.cr4 & ~CR4_PGE);
	expect_dropped(t, ALL_V1);
}

/* "... or (2) it changes the value of the CR4.PCIDE from 1 to 0." */
static void test_mov_cr4_pcide_off(void **state)
{
	struct tlb *t = *state;
	struct cpu_regs r = regs_pcid(0);

	tlb_mov_cr4(t, &r, r.cr4 & ~CR4_PCIDE);
	expect_dropped(t, ALL_V1);
}

/* PCIDE 0 -> 1 and unrelated bits (PKE, SMAP, SMEP 1 -> 0): nothing. */
static void test_mov_cr4_no_flush(void **state)
{
	struct tlb *t = *state;
	struct cpu_regs r = regs_nopcid();

	tlb_mov_cr4(t, &r, r.cr4 | CR4_PCIDE | CR4_PKE | CR4_SMAP);
	r.cr4 |= CR4_SMEP;
	tlb_mov_cr4(t, &r, r.cr4 & ~CR4_SMEP);
	expect_dropped(t, 0);
	assert_int_equal(tlb_get_stats(t)->ops[TLB_OP_MOV_CR4], 2);
}

/*
 * "The instruction invalidates all TLB entries and all entries in all
 * paging-structure caches for the current PCID if ... (2) it changes the
 * value of CR4.SMEP from 0 to 1": PCID 1's entries; global entries are
 * usable with the current PCID and go too (model choice, see tlb_inval.c).
 */
static void test_mov_cr4_smep_on(void **state)
{
	struct tlb *t = *state;
	struct cpu_regs r = regs_pcid(1);

	tlb_mov_cr4(t, &r, r.cr4 | CR4_SMEP);
	expect_dropped(t, BIT(A) | BIT(B) | BIT(CG) | BIT(DG) | BIT(L2M) | BIT(CB1) | BIT(CB2) |
			  BIT(P1) | BIT(P1F) | BIT(PCB));
}

/* "The instruction invalidates all TLB entries (including global entries)
 * and all entries in all paging-structure caches (for all PCIDs) if it
 * changes the value of CR0.PG from 1 to 0." */
static void test_mov_cr0_pg_off(void **state)
{
	struct tlb *t = *state;
	struct cpu_regs r = regs_nopcid();

	tlb_mov_cr0(t, &r, r.cr0 & ~CR0_WP); /* WP change only: nothing */
	expect_dropped(t, 0);
	tlb_mov_cr0(t, &r, r.cr0 & ~CR0_PG);
	expect_dropped(t, ALL_V1);
}

/* "If a task switch changes the value of CR3, it invalidates all TLB
 * entries associated with PCID 000H except those for global pages. It also
 * invalidates all entries in all paging-structure caches associated with
 * PCID 000H." */
static void test_task_switch(void **state)
{
	struct tlb *t = *state;
	struct cpu_regs r = regs_nopcid();

	tlb_task_switch(t, &r, r.cr3); /* same CR3: nothing */
	expect_dropped(t, 0);
	tlb_task_switch(t, &r, r.cr3 + 0x1000);
	expect_dropped(t, BIT(Z) | BIT(PZ));
}

/* ---- INVVPID (Vol. 3C 29.4.3.1) ---- */

/* Type 0: "invalidates linear mappings and combined mappings associated with
 * the VPID specified in the INVVPID descriptor and that would be used to
 * translate the linear address ... for all PCIDs and, for combined
 * mappings, all EP4TAs": A, D, Cb1, Cb2 and the PSC entries for 0x1000 of
 * VPID 1 (P1, P2, Pcb, Pz); not P1f (another address), not E (VPID 2). */
static void test_invvpid0(void **state)
{
	struct tlb *t = *state;

	assert_int_equal(tlb_invvpid(t, 0, 1, 0x1000), TLB_INSN_OK);
	expect_dropped(t, BIT(A) | BIT(D) | BIT(CB1) | BIT(CB2) |
			  BIT(P1) | BIT(P2) | BIT(PCB) | BIT(PZ));
}

/* Type 0 has no "except global": Eg, global in VPID 2, goes. */
static void test_invvpid0_global(void **state)
{
	struct tlb *t = *state;

	assert_int_equal(tlb_invvpid(t, 0, 2, 0x3000), TLB_INSN_OK);
	expect_dropped(t, BIT(EG) | BIT(PV2));
}

/* Type 1: "invalidates all linear mappings and combined mappings associated
 * with the VPID specified in the INVVPID descriptor". */
static void test_invvpid1(void **state)
{
	struct tlb *t = *state;

	assert_int_equal(tlb_invvpid(t, 1, 2, 0), TLB_INSN_OK);
	expect_dropped(t, BIT(E) | BIT(EG) | BIT(PV2));
}

/* Type 2: "invalidates linear mappings and combined mappings associated with
 * all VPIDs except VPID 0000H and with all PCIDs": H, Hg and the
 * guest-physical mappings stay. */
static void test_invvpid2(void **state)
{
	struct tlb *t = *state;

	assert_int_equal(tlb_invvpid(t, 2, 0, 0), TLB_INSN_OK);
	expect_dropped(t, ALL_V1 | BIT(E) | BIT(EG) | BIT(PV2));
}

/* Type 3: "The logical processor is not required to invalidate information
 * that was used for global translations": Cg, Dg stay; PSC entries go. */
static void test_invvpid3(void **state)
{
	struct tlb *t = *state;

	assert_int_equal(tlb_invvpid(t, 3, 1, 0), TLB_INSN_OK);
	expect_dropped(t, ALL_V1 & ~(BIT(CG) | BIT(DG)));
}

/* VMfail (INVVPID, Operation): type not supported, descriptor bits 63:16
 * set, VPID 0 with types 0, 1, 3, type 0 with a non-canonical address. */
static void test_invvpid_fail(void **state)
{
	struct tlb *t = *state;

	assert_int_equal(tlb_invvpid(t, 4, 1, 0), TLB_INSN_VMFAIL);
	assert_int_equal(tlb_invvpid(t, 1, 0x10001, 0), TLB_INSN_VMFAIL);
	assert_int_equal(tlb_invvpid(t, 0, 0, 0x1000), TLB_INSN_VMFAIL);
	assert_int_equal(tlb_invvpid(t, 1, 0, 0), TLB_INSN_VMFAIL);
	assert_int_equal(tlb_invvpid(t, 3, 0, 0), TLB_INSN_VMFAIL);
	assert_int_equal(tlb_invvpid(t, 0, 1, UINT64_C(0xffff7fffffff0000)), TLB_INSN_VMFAIL);
	expect_dropped(t, 0);
}

/* ---- INVEPT ---- */

/* Type 1: "invalidates all guest-physical mappings and combined mappings
 * associated with the EP4TA specified ... for all VPIDs and all PCIDs":
 * Cb1, Pcb, N1, Np1; linear mappings and EP4TA R2 stay. */
static void test_invept1(void **state)
{
	struct tlb *t = *state;

	/* EPTP = EP4TA | WB | walk length 3 | A/D: bits 11:0 are not the tag */
	assert_int_equal(tlb_invept(t, 1, R1 | 0x5e), TLB_INSN_OK);
	expect_dropped(t, BIT(CB1) | BIT(PCB) | BIT(N1) | BIT(NP1));
}

/* Type 2: "invalidates guest-physical mappings and combined mappings
 * associated with all EP4TAs". */
static void test_invept2(void **state)
{
	struct tlb *t = *state;

	assert_int_equal(tlb_invept(t, 2, 0), TLB_INSN_OK);
	expect_dropped(t, BIT(CB1) | BIT(CB2) | BIT(PCB) | BIT(N1) | BIT(N2) | BIT(NP1));
	/* "If an unsupported INVEPT type is specified, the instruction fails." */
	assert_int_equal(tlb_invept(t, 0, 0), TLB_INSN_VMFAIL);
	assert_int_equal(tlb_invept(t, 3, 0), TLB_INSN_VMFAIL);
}

/* "If the "enable VPID" VM-execution control is 0, VM entries and VM exits
 * invalidate linear mappings and combined mappings associated with VPID
 * 0000H (for all PCIDs). Combined mappings for VPID 0000H are invalidated
 * for all EP4TAs." */
static void test_vmx_transition_novpid(void **state)
{
	struct tlb *t = *state;

	tlb_vmx_transition_novpid(t);
	expect_dropped(t, BIT(H) | BIT(HG));
}

/* ---- SVM ---- */

/* INVLPGA "invalidates the TLB mapping for the virtual page specified in rAX
 * and the ASID specified in ECX" (APM Vol. 3), global pages included. */
static void test_invlpga(void **state)
{
	struct tlb *t = *state;

	tlb_invlpga(t, 0x1fff, 2);
	expect_dropped(t, BIT(E) | BIT(PV2));
	tlb_invlpga(t, 0x3000, 2);
	expect_dropped(t, BIT(E) | BIT(EG) | BIT(PV2));
}

/* VMCB TLB_CONTROL (APM Vol. 2 15.16.1): 03h "flush this guest's TLB
 * entries", 07h "flush this guest's non-global TLB entries", 01h the
 * entire TLB, 00h nothing; other values are not defined. */
static void test_svm_tlb_control(void **state)
{
	struct tlb *t = *state;

	assert_true(tlb_svm_tlb_control(t, 0, 2));
	expect_dropped(t, 0);
	assert_false(tlb_svm_tlb_control(t, 2, 2));
	expect_dropped(t, 0);
	assert_true(tlb_svm_tlb_control(t, 7, 2));
	expect_dropped(t, BIT(E) | BIT(PV2));
	assert_true(tlb_svm_tlb_control(t, 3, 2));
	expect_dropped(t, BIT(E) | BIT(EG) | BIT(PV2));
	assert_true(tlb_svm_tlb_control(t, 1, 2));
	expect_dropped(t, ALL);
}

/* ---- fault invalidations ---- */

/* SDM 4.10.4.1: "a page-fault exception resulting from an attempt to use a
 * linear address will invalidate any TLB entries that are for a page number
 * corresponding to that linear address and that are associated with the
 * current PCID. It also invalidates all entries in the paging-structure
 * caches that would be used for that linear address and that are associated
 * with the current PCID." Context: VPID 1, PCID 1, linear mappings. */
static void test_page_fault(void **state)
{
	struct tlb *t = *state;

	spec_ctx(t, &specs[A]);
	tlb_on_page_fault(t, 0x1234);
	expect_dropped(t, BIT(A) | BIT(P1));
}

/* Vol. 3C 29.4.3.1: "An EPT violation invalidates any guest-physical
 * mappings (associated with the current EP4TA) that would be used to
 * translate the guest-physical address that caused the EPT violation. If
 * that guest-physical address was the translation of a linear address, the
 * EPT violation also invalidates any combined mappings for that linear
 * address associated with the current PCID, the current VPID and the
 * current EP4TA." Context: VPID 1, PCID 1, EP4TA R1. */
static void test_ept_violation(void **state)
{
	struct tlb *t = *state;
	struct tlb_context c;

	spec_ctx(t, &specs[CB1]);
	c = *tlb_get_context(t);
	c.nest.vpid = 0;
	tlb_set_context(t, &c);
	tlb_on_nested_fault(t, TLB_OP_EPT_VIOLATION, 0x1008, false, 0x1008);
	expect_dropped(t, BIT(N1) | BIT(NP1));
	tlb_set_context(t, &c);
	tlb_on_nested_fault(t, TLB_OP_EPT_VIOLATION, 0x1008, true, 0x1008);
	expect_dropped(t, BIT(N1) | BIT(NP1) | BIT(CB1) | BIT(PCB));
	assert_int_equal(tlb_get_stats(t)->ops[TLB_OP_EPT_VIOLATION], 2);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_invlpg),
		T(test_invlpg_global_any_pcid),
		T(test_invlpg_large_page),
		T(test_invlpg_noncanonical),
		cmocka_unit_test(test_invlpg_split_pieces),
		T(test_invpcid0),
		T(test_invpcid0_keeps_global),
		T(test_invpcid1),
		T(test_invpcid2),
		T(test_invpcid3),
		T(test_invpcid_gp),
		T(test_mov_cr3_nopcid),
		T(test_mov_cr3_pcid),
		T(test_mov_cr3_noflush),
		T(test_mov_cr4_pge),
		T(test_mov_cr4_pcide_off),
		T(test_mov_cr4_no_flush),
		T(test_mov_cr4_smep_on),
		T(test_mov_cr0_pg_off),
		T(test_task_switch),
		T(test_invvpid0),
		T(test_invvpid0_global),
		T(test_invvpid1),
		T(test_invvpid2),
		T(test_invvpid3),
		T(test_invvpid_fail),
		T(test_invept1),
		T(test_invept2),
		T(test_vmx_transition_novpid),
		T(test_invlpga),
		T(test_svm_tlb_control),
		T(test_page_fault),
		T(test_ept_violation),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
