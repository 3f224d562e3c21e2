/*
 * The access path (tlb_access) with the real walker: hits, stale
 * translations until invalidated, dirty tracking, rights checked with the
 * walker's rule against the registers of now, tags through the registers
 * (PCID, VPID, EP4TA, ASID), page sizes, the reference counts the caches
 * save, and the fault invalidations. Expected values are worked out in the
 * comment beside them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/tlb.h"
#include "arch/walk2d.h"
#include "arch/x86.h"
#include "mem/hostmem.h"

#define MAXPHY 46
#define G2H    UINT64_C(0x10000000)  /* under nesting, gpa X lives at hpa X + G2H */
#define N_BASE UINT64_C(0x08000000)  /* nested tables (host-physical) */
#define N_PAGES 4096                  /* nested tables map gpa [0, 16 MiB) with 4K pages */
#define G_TABLES UINT64_C(0x100000)   /* guest tables allocated from here (gpa) */
#define NONLEAF (PTE_P | PTE_RW | PTE_US)
#define EPT_RWX (EPT_R | EPT_W | EPT_X)
#define EPT_LEAF (EPT_RWX | ((uint64_t)MT_WB << EPT_MT_SHIFT))

struct fx {
	struct hostmem *hm;
	struct hw_config cfg;
	struct hw_mmu m;
	struct tlb *t;
	uint64_t g2h;
	uint64_t next_table;
	uint64_t root;
};

static void wr(struct fx *f, uint64_t hpa, uint64_t v)
{
	assert_int_equal(hostmem_write64(f->hm, hpa, v), 0);
}

static uint64_t rd(struct fx *f, uint64_t hpa)
{
	uint64_t v;
	assert_int_equal(hostmem_read64(f->hm, hpa, &v), 0);
	return v;
}

static uint64_t gtable(struct fx *f)
{
	uint64_t p = f->next_table;
	f->next_table += 0x1000;
	return p;
}

/* Host-physical address of the guest entry of `level` for `la` (creating tables). */
static uint64_t gentry(struct fx *f, uint64_t la, unsigned level)
{
	uint64_t table = f->root;

	for (unsigned l = 4; l > level; l--) {
		uint64_t ea = table + ((la >> (12 + 9 * (l - 1))) & 511) * 8 + f->g2h;
		uint64_t e = rd(f, ea);

		if (!(e & PTE_P)) {
			e = gtable(f) | NONLEAF;
			wr(f, ea, e);
		}
		table = e & GENMASK64(51, 12);
	}
	return table + ((la >> (12 + 9 * (level - 1))) & 511) * 8 + f->g2h;
}

/* Maps la -> gpa with a leaf at `level` (1: 4K, 2: 2M, 3: 1G). */
static void gmap(struct fx *f, uint64_t la, uint64_t gpa, unsigned level, uint64_t flags)
{
	wr(f, gentry(f, la, level), gpa | flags | (level > 1 ? PTE_PS : 0));
}

/* EPT tables: PML4 at N_BASE, PDPT +0x1000, PD +0x2000, PTs from +0x3000. */
static void build_ept(struct fx *f, uint64_t leaf)
{
	wr(f, N_BASE, (N_BASE + 0x1000) | EPT_RWX);
	wr(f, N_BASE + 0x1000, (N_BASE + 0x2000) | EPT_RWX);
	for (unsigned pt = 0; pt < N_PAGES / 512; pt++)
		wr(f, N_BASE + 0x2000 + pt * 8, (N_BASE + 0x3000 + pt * 0x1000) | EPT_RWX);
	for (unsigned i = 0; i < N_PAGES; i++)
		wr(f, N_BASE + 0x3000 + i * 8, (G2H + (uint64_t)i * 0x1000) | leaf);
}

/* The EPT leaf (host-physical address) for gpa. */
static uint64_t eptpte(uint64_t gpa)
{
	return N_BASE + 0x3000 + (gpa >> 12) * 8;
}

static void reinit(struct fx *f)
{
	struct xlate_result fail;

	assert_null(hw_config_invalid(&f->cfg));
	assert_true(hw_mmu_init(&f->m, &f->cfg, &fail));
}

static struct fx *fx_new(enum nested_mode nested, const struct tlb_config *tc)
{
	static struct fx f;
	struct cpu *c = &f.cfg.cpu;
	struct tlb_config def;

	memset(&f, 0, sizeof(f));
	f.hm = hostmem_create(UINT64_C(1) << 32);
	assert_non_null(f.hm);
	f.cfg.mem = hostmem_port(f.hm);
	c->vendor = nested == NESTED_NPT ? CPU_AMD : CPU_INTEL;
	c->maxphyaddr = MAXPHY;
	c->feat = (struct cpu_features){ .gbpages = true, .pku = true, .smep = true, .smap = true };
	c->regs.cr0 = CR0_PE | CR0_PG | CR0_WP;
	c->regs.cr4 = CR4_PAE | CR4_PGE;
	c->regs.efer = EFER_LME | EFER_LMA | EFER_NXE;
	c->regs.cpl = 3;
	c->regs.rflags = 2;
	f.next_table = G_TABLES;
	f.root = gtable(&f);
	c->regs.cr3 = f.root;
	f.cfg.nested = nested;
	if (nested != NESTED_NONE)
		f.g2h = G2H;
	if (nested == NESTED_EPT) {
		f.cfg.ept_caps = (struct ept_caps){ .xonly = true, .ad = true, .gb1 = true };
		f.cfg.eptp = N_BASE | MT_WB | (3u << EPTP_WALK_SHIFT);
		build_ept(&f, EPT_LEAF);
	}
	if (nested == NESTED_NPT) {
		/* NPT: the host's long-mode format, user pages, the same layout. */
		f.cfg.ncr3 = N_BASE;
		f.cfg.ncr4 = CR4_PAE;
		f.cfg.nefer = EFER_LME | EFER_LMA | EFER_NXE;
		/* EPT R|W|X and NPT P|R/W|U/S are the same bits 2:0 */
		build_ept(&f, NONLEAF);
	}
	if (!tc) {
		tlb_config_default(&def);
		tc = &def;
	}
	f.t = tlb_create(tc);
	assert_non_null(f.t);
	return &f;
}

static void fx_free(struct fx *f)
{
	tlb_destroy(f->t);
	hostmem_destroy(f->hm);
}

static void acc(struct fx *f, uint64_t la, enum access_type type, struct xlate_result *r)
{
	reinit(f);
	tlb_access(f->t, &f->m, la, type, false, r);
}

static void acc_ok(struct fx *f, uint64_t la, enum access_type type, uint64_t hpa, unsigned refs)
{
	struct xlate_result r;

	acc(f, la, type, &r);
	assert_int_equal(r.outcome, XO_OK);
	assert_int_equal(r.hpa, hpa);
	assert_int_equal(r.refs, refs);
}

#define LA1 UINT64_C(0x00007f0000201000)
#define DATA UINT64_C(0x400000)

/* A second access to the page hits: no memory reference. */
static void test_hit_after_miss(void **state)
{
	struct fx *f = fx_new(NESTED_NONE, NULL);
	const struct tlb_stats *s = tlb_get_stats(f->t);
	struct xlate_result r;

	(void)state;
	gmap(f, LA1, DATA, 1, PTE_P | PTE_RW | PTE_US);
	acc_ok(f, LA1 + 0x10, ACCESS_READ, DATA + 0x10, 4);
	acc(f, LA1 + 0xff8, ACCESS_READ, &r);
	assert_int_equal(r.outcome, XO_OK);
	assert_int_equal(r.hpa, DATA + 0xff8);
	assert_int_equal(r.gpa, DATA + 0xff8);
	assert_int_equal(r.page_size, PAGE_SIZE_4K);
	assert_int_equal(r.refs, 0);
	assert_int_equal(s->accesses, 2);
	assert_int_equal(s->walks, 1);
	assert_int_equal(s->walk_refs, 4);
	assert_int_equal(s->tlb.hits, 1);
	assert_int_equal(s->tlb.misses, 1);
	assert_int_equal(s->tlb.fills, 1);
	fx_free(f);
}

/*
 * SDM 4.10.4.2/4.10.4.3: after software changes a PTE, the processor may
 * keep using the cached translation until it is invalidated. The model
 * keeps it (it never drops what no operation invalidates); INVLPG of the
 * page drops it (4.10.4.1) and the next access walks to the new frame.
 */
static void test_stale_until_invlpg(void **state)
{
	struct fx *f = fx_new(NESTED_NONE, NULL);

	(void)state;
	gmap(f, LA1, DATA, 1, PTE_P | PTE_RW | PTE_US);
	acc_ok(f, LA1, ACCESS_READ, DATA, 4);
	wr(f, gentry(f, LA1, 1), (DATA + 0x5000) | PTE_P | PTE_RW | PTE_US);
	acc_ok(f, LA1, ACCESS_READ, DATA, 0); /* stale, still used */
	tlb_invlpg(f->t, &f->cfg.cpu.regs, LA1 + 0x800);
	/* INVLPG dropped the PSC entries too: a full walk */
	acc_ok(f, LA1, ACCESS_READ, DATA + 0x5000, 4);
	fx_free(f);
}

/*
 * A write through an entry cached while D was 0 walks, to set D (SDM 4.8);
 * the next write hits. The PDE cache left by the first walk makes that walk
 * read only the PTE (SDM 4.10.3.2), and only D is written (A already set).
 */
static void test_write_to_clean_walks(void **state)
{
	struct fx *f = fx_new(NESTED_NONE, NULL);
	const struct tlb_stats *s = tlb_get_stats(f->t);
	struct xlate_result r;
	uint64_t pte = gentry(f, LA1, 1);

	(void)state;
	gmap(f, LA1, DATA, 1, PTE_P | PTE_RW | PTE_US);
	acc_ok(f, LA1, ACCESS_READ, DATA, 4);
	assert_int_equal(rd(f, pte) & (PTE_A | PTE_D), PTE_A);
	acc(f, LA1, ACCESS_WRITE, &r);
	assert_int_equal(r.outcome, XO_OK);
	assert_int_equal(r.refs, 1);
	assert_int_equal(r.ad_writes, 1);
	assert_int_equal(rd(f, pte) & (PTE_A | PTE_D), PTE_A | PTE_D);
	assert_int_equal(s->drop_dirty, 1);
	acc_ok(f, LA1, ACCESS_WRITE, DATA, 0);
	fx_free(f);
}

/*
 * With EPT A/D (EPTP bit 6) the EPT leaf's D is part of the entry: a
 * guest page already dirty but an EPT page clean walks on the first write,
 * which sets the EPT D flag (Vol. 3C 29.3.5).
 */
static void test_write_to_ept_clean_walks(void **state)
{
	struct fx *f = fx_new(NESTED_EPT, NULL);
	const struct tlb_stats *s = tlb_get_stats(f->t);
	struct xlate_result r;

	(void)state;
	f->cfg.eptp |= EPTP_AD;
	gmap(f, LA1, DATA, 1, PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D);
	acc(f, LA1, ACCESS_READ, &r);
	assert_int_equal(r.outcome, XO_OK);
	assert_int_equal(rd(f, eptpte(DATA)) & (EPT_A | EPT_D), EPT_A);
	acc(f, LA1, ACCESS_WRITE, &r);
	assert_int_equal(r.outcome, XO_OK);
	assert_true(r.refs > 0);
	assert_int_equal(rd(f, eptpte(DATA)) & (EPT_A | EPT_D), EPT_A | EPT_D);
	assert_int_equal(s->drop_dirty, 1);
	acc_ok(f, LA1, ACCESS_WRITE, G2H + DATA, 0);
	fx_free(f);

	/* Without EPT A/D there is no EPT D to set: the write hits. */
	f = fx_new(NESTED_EPT, NULL);
	gmap(f, LA1, DATA, 1, PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D);
	acc(f, LA1, ACCESS_READ, &r);
	acc_ok(f, LA1, ACCESS_WRITE, G2H + DATA, 0);
	fx_free(f);
}

/*
 * Reference counts under 4-level EPT ((n+1)(m+1)-1 = 24 with nothing
 * cached). Guest tables at gpa 0x100000..0x103000 (one 2M region), data at
 * 0x400000 and 0x401000 (another 2M region, same 1G).
 *  - No caches: 24, and 24 again for the neighbouring page.
 *  - Default caches, first access: the first table's nested walk reads 4
 *    EPT entries and fills the nested PSC; the next three table pages hit
 *    the nested PDE cache (1 EPT read each); the data page misses the
 *    nested PDE cache but hits the nested PDPTE cache (2 EPT reads); plus
 *    4 guest entries: 4 + 3*1 + 2 + 4 = 13.
 *  - Neighbouring page: guest PDE cache hit -> 1 guest read (PTE) whose
 *    table page hits the nested TLB (0); data page 0x401000: nested TLB
 *    miss, nested PDE cache hit (1): 2.
 *  - The same page again: TLB hit, 0.
 */
static void test_psc_and_ntlb_save_refs(void **state)
{
	struct tlb_config none;
	struct fx *f;
	const struct tlb_stats *s;

	(void)state;
	memset(&none, 0, sizeof(none));
	f = fx_new(NESTED_EPT, &none);
	gmap(f, LA1, DATA, 1, PTE_P | PTE_RW | PTE_US);
	gmap(f, LA1 + 0x1000, DATA + 0x1000, 1, PTE_P | PTE_RW | PTE_US);
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 24);
	acc_ok(f, LA1 + 0x1000, ACCESS_READ, G2H + DATA + 0x1000, 24);
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 24);
	fx_free(f);

	f = fx_new(NESTED_EPT, NULL);
	s = tlb_get_stats(f->t);
	gmap(f, LA1, DATA, 1, PTE_P | PTE_RW | PTE_US);
	gmap(f, LA1 + 0x1000, DATA + 0x1000, 1, PTE_P | PTE_RW | PTE_US);
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 13);
	acc_ok(f, LA1 + 0x1000, ACCESS_READ, G2H + DATA + 0x1000, 2);
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 0);
	assert_int_equal(s->walk_refs, 15);
	assert_int_equal(s->psc[2].hits, 1);
	assert_int_equal(s->npsc[2].hits, 3 + 1);
	assert_int_equal(s->npsc[3].hits, 1);
	assert_int_equal(s->ntlb.hits, 1);
	assert_int_equal(s->tlb.hits, 1);
	fx_free(f);
}

/*
 * Only the nested TLB (no PSCs): the second walk reads the 4 guest entries
 * again, their table pages hit the nested TLB, the new data page walks EPT
 * (4): 8.
 */
static void test_ntlb_only(void **state)
{
	struct tlb_config c;
	struct fx *f;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.ntlb[TLB_CLASS_4K] = (struct tlb_geom){ 16, 4 };
	f = fx_new(NESTED_EPT, &c);
	gmap(f, LA1, DATA, 1, PTE_P | PTE_RW | PTE_US);
	gmap(f, LA1 + 0x1000, DATA + 0x1000, 1, PTE_P | PTE_RW | PTE_US);
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 24);
	acc_ok(f, LA1 + 0x1000, ACCESS_READ, G2H + DATA + 0x1000, 8);
	assert_int_equal(tlb_get_stats(f->t)->ntlb.hits, 4);
	fx_free(f);
}

/*
 * A hit whose cached rights do not allow the access is dropped and the
 * walk decides (never a fault from the cache): the PTE was made writable
 * after a read cached it read-only; the write succeeds.
 */
static void test_rights_upgrade_walk_decides(void **state)
{
	struct fx *f = fx_new(NESTED_NONE, NULL);
	const struct tlb_stats *s = tlb_get_stats(f->t);
	struct xlate_result r;

	(void)state;
	gmap(f, LA1, DATA, 1, PTE_P | PTE_US);
	acc_ok(f, LA1, ACCESS_READ, DATA, 4);
	wr(f, gentry(f, LA1, 1), DATA | PTE_P | PTE_US | PTE_RW | PTE_A);
	acc(f, LA1, ACCESS_WRITE, &r);
	assert_int_equal(r.outcome, XO_OK);
	assert_int_equal(s->drop_rights, 1);
	assert_int_equal(s->faults, 0);
	acc_ok(f, LA1, ACCESS_WRITE, DATA, 0);
	fx_free(f);
}

/* Still read-only in memory: the walk faults with the walker's error code
 * (P | W | U, SDM 4.7), and the #PF invalidates (4.10.4.1). */
static void test_rights_fault_from_walk(void **state)
{
	struct fx *f = fx_new(NESTED_NONE, NULL);
	const struct tlb_stats *s = tlb_get_stats(f->t);
	struct xlate_result r;

	(void)state;
	gmap(f, LA1, DATA, 1, PTE_P | PTE_US);
	acc_ok(f, LA1, ACCESS_READ, DATA, 4);
	acc(f, LA1, ACCESS_WRITE, &r);
	assert_int_equal(r.outcome, XO_PAGE_FAULT);
	assert_int_equal(r.error_code, PFEC_P | PFEC_W | PFEC_U);
	assert_int_equal(r.cr2, LA1);
	assert_int_equal(s->drop_rights, 1);
	assert_int_equal(s->faults, 1);
	assert_int_equal(s->ops[TLB_OP_PAGE_FAULT], 1);
	assert_null(tlb_peek(f->t, LA1));
	fx_free(f);
}

/*
 * CR0.WP and PKRU are applied at the access, not cached (SDM 4.10.2.2
 * lists what a TLB entry holds: the frame, the access rights, the
 * protection key): a supervisor write to a read-only user page hits with
 * WP = 0, and with WP = 1 the same entry does not allow it.
 */
static void test_rights_use_current_registers(void **state)
{
	struct fx *f = fx_new(NESTED_NONE, NULL);
	struct xlate_result r;

	(void)state;
	f->cfg.cpu.regs.cpl = 0;
	f->cfg.cpu.regs.cr0 &= ~CR0_WP;
	gmap(f, LA1, DATA, 1, PTE_P | PTE_A | PTE_D); /* supervisor, read-only, dirty */
	acc_ok(f, LA1, ACCESS_READ, DATA, 4);
	acc_ok(f, LA1, ACCESS_WRITE, DATA, 0);
	f->cfg.cpu.regs.cr0 |= CR0_WP;
	acc(f, LA1, ACCESS_WRITE, &r);
	assert_int_equal(r.outcome, XO_PAGE_FAULT);
	assert_int_equal(r.error_code, PFEC_P | PFEC_W);
	fx_free(f);

	/* PKRU.AD for the page's key, set after the page was cached. */
	f = fx_new(NESTED_NONE, NULL);
	f->cfg.cpu.regs.cr4 |= CR4_PKE;
	gmap(f, LA1, DATA, 1, PTE_P | PTE_US | ((uint64_t)5 << PTE_PKEY_SHIFT));
	acc_ok(f, LA1, ACCESS_READ, DATA, 4);
	assert_int_equal(tlb_peek(f->t, LA1)->pkey, 5);
	f->cfg.cpu.regs.pkru = 1u << (2 * 5);
	acc(f, LA1, ACCESS_READ, &r);
	assert_int_equal(r.outcome, XO_PAGE_FAULT);
	assert_int_equal(r.error_code, PFEC_P | PFEC_U | PFEC_PK);
	fx_free(f);
}

/*
 * PCID isolation and global pages through the registers: CR4.PCIDE = 1,
 * PCID 1 then PCID 2 on the same tables. The non-global page misses under
 * PCID 2; the global one (G = 1, CR4.PGE = 1) hits (SDM 4.10.2.4). A MOV
 * CR3 without PCIDs keeps globals and drops the rest (4.10.4.1).
 */
static void test_pcid_and_global(void **state)
{
	struct fx *f = fx_new(NESTED_NONE, NULL);
	uint64_t lag = LA1 + 0x1000;

	(void)state;
	f->cfg.cpu.regs.cr4 |= CR4_PCIDE;
	f->cfg.cpu.regs.cr3 = f->root | 1;
	gmap(f, LA1, DATA, 1, PTE_P | PTE_RW | PTE_US);
	gmap(f, lag, DATA + 0x1000, 1, PTE_P | PTE_RW | PTE_US | PTE_G);
	acc_ok(f, LA1, ACCESS_READ, DATA, 4);
	acc_ok(f, lag, ACCESS_READ, DATA + 0x1000, 1); /* PDE cache */
	assert_true(tlb_peek(f->t, lag)->global);
	assert_false(tlb_peek(f->t, LA1)->global);
	f->cfg.cpu.regs.cr3 = f->root | 2;
	acc_ok(f, lag, ACCESS_READ, DATA + 0x1000, 0);
	acc_ok(f, LA1, ACCESS_READ, DATA, 4);          /* PCID 2: nothing cached */
	fx_free(f);

	f = fx_new(NESTED_NONE, NULL);
	gmap(f, LA1, DATA, 1, PTE_P | PTE_RW | PTE_US);
	gmap(f, lag, DATA + 0x1000, 1, PTE_P | PTE_RW | PTE_US | PTE_G);
	acc_ok(f, LA1, ACCESS_READ, DATA, 4);
	acc_ok(f, lag, ACCESS_READ, DATA + 0x1000, 1);
	tlb_mov_cr3(f->t, &f->cfg.cpu.regs, f->root);
	acc_ok(f, lag, ACCESS_READ, DATA + 0x1000, 0);
	acc_ok(f, LA1, ACCESS_READ, DATA, 4);
	/* PGE toggled: the global entry goes too */
	tlb_mov_cr4(f->t, &f->cfg.cpu.regs, f->cfg.cpu.regs.cr4 & ~CR4_PGE);
	acc_ok(f, lag, ACCESS_READ, DATA + 0x1000, 4);
	fx_free(f);
}

/* Entries of one VPID are not used under another (Vol. 3C 29.1, 29.4.2). */
static void test_vpid_isolation(void **state)
{
	struct fx *f = fx_new(NESTED_EPT, NULL);

	(void)state;
	gmap(f, LA1, DATA, 1, PTE_P | PTE_RW | PTE_US);
	tlb_set_vpid(f->t, 1);
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 13);
	tlb_set_vpid(f->t, 2);
	/* guest PSC is per VPID: 4 guest reads; the nested TLB (no VPID) has all pages */
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 4);
	tlb_set_vpid(f->t, 1);
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 0);
	assert_int_equal(tlb_invvpid(f->t, 1, 1, 0), TLB_INSN_OK);
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 4);
	fx_free(f);
}

/*
 * Combined mappings are tagged with the EP4TA: an EPTP with another EPT
 * PML4 (same lower tables) misses; INVEPT single-context for the first
 * EPTP drops its combined and guest-physical mappings only.
 */
static void test_ep4ta_tagging(void **state)
{
	struct fx *f = fx_new(NESTED_EPT, NULL);
	uint64_t eptp1 = f->cfg.eptp, eptp2 = (N_BASE + 0x800000) | MT_WB | (3u << EPTP_WALK_SHIFT);

	(void)state;
	wr(f, N_BASE + 0x800000, (N_BASE + 0x1000) | EPT_RWX);
	gmap(f, LA1, DATA, 1, PTE_P | PTE_RW | PTE_US);
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 13);
	f->cfg.eptp = eptp2;
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 13);
	f->cfg.eptp = eptp1;
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 0);
	assert_int_equal(tlb_invept(f->t, 1, eptp1), TLB_INSN_OK);
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 13);
	f->cfg.eptp = eptp2;
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 0);
	fx_free(f);
}

/*
 * Page sizes through the walk: a guest 2M page is one entry; under EPT
 * with 4K pages the entry is 4K (the smaller of the two), and INVLPG of
 * another address of the guest's 2M page still drops it (SDM 4.10.4.1
 * footnote: all entries for the page).
 */
static void test_large_pages(void **state)
{
	struct fx *f = fx_new(NESTED_NONE, NULL);
	uint64_t la = UINT64_C(0x00007f0000400000);

	(void)state;
	gmap(f, la, 0x600000, 2, PTE_P | PTE_RW | PTE_US);
	acc_ok(f, la + 0x1234, ACCESS_READ, 0x601234, 3);
	assert_int_equal(tlb_peek(f->t, la)->size, PAGE_SIZE_2M);
	acc_ok(f, la + 0x1fffff, ACCESS_READ, 0x7fffff, 0);
	fx_free(f);

	f = fx_new(NESTED_EPT, NULL);
	gmap(f, la, 0x600000, 2, PTE_P | PTE_RW | PTE_US);
	/* 3 guest reads; EPT: 4 for the first table, 1 for each of the other
	 * two (nested PDE cache), 2 for the data page (nested PDPTE cache) */
	acc_ok(f, la + 0x1234, ACCESS_READ, G2H + 0x601234, 3 + 4 + 2 * 1 + 2);
	assert_int_equal(tlb_peek(f->t, la + 0x1000)->size, PAGE_SIZE_4K);
	assert_null(tlb_peek(f->t, la));
	tlb_invlpg(f->t, &f->cfg.cpu.regs, la + 0x100000);
	assert_null(tlb_peek(f->t, la + 0x1000));
	fx_free(f);
}

/*
 * SDM 4.10.4.1: a page fault invalidates the PSC entries that would be
 * used for the address, so that the fault does not recur if it came from
 * stale cached entries. The PDE is repointed to a new page table (no
 * invalidation); a walk resuming from the stale PDE cache finds LA2 not
 * present -> #PF; the retry walks from CR3 and finds the new table.
 */
static void test_fault_invalidates_psc(void **state)
{
	struct fx *f = fx_new(NESTED_NONE, NULL);
	uint64_t la2 = LA1 + 0x1000;
	uint64_t newpt = gtable(f);
	struct xlate_result r;

	(void)state;
	gmap(f, LA1, DATA, 1, PTE_P | PTE_RW | PTE_US);
	acc_ok(f, LA1, ACCESS_READ, DATA, 4);
	wr(f, newpt + ((la2 >> 12) & 511) * 8, (DATA + 0x3000) | PTE_P | PTE_RW | PTE_US);
	wr(f, gentry(f, LA1, 2), newpt | NONLEAF | PTE_A);
	acc(f, la2, ACCESS_READ, &r);
	assert_int_equal(r.outcome, XO_PAGE_FAULT);
	assert_int_equal(r.refs, 1);
	acc_ok(f, la2, ACCESS_READ, DATA + 0x3000, 4);
	fx_free(f);
}

/* Guest paging off under EPT: guest-physical mappings only (the nested
 * TLB); the TLB is not used. */
static void test_paging_off_uses_ntlb(void **state)
{
	struct fx *f = fx_new(NESTED_EPT, NULL);
	const struct tlb_stats *s = tlb_get_stats(f->t);

	(void)state;
	f->cfg.cpu.regs.cr0 &= ~CR0_PG;
	f->cfg.cpu.regs.efer &= ~(EFER_LMA | EFER_LME);
	acc_ok(f, 0x5008, ACCESS_READ, G2H + 0x5008, 4);
	acc_ok(f, 0x5ff0, ACCESS_WRITE, G2H + 0x5ff0, 0);
	assert_int_equal(s->ntlb.hits, 1);
	assert_int_equal(s->tlb.hits + s->tlb.misses, 0);
	fx_free(f);
}

/* AMD NPT: the ASID tags everything; INVLPGA drops one page of one ASID. */
static void test_npt_asid(void **state)
{
	struct fx *f = fx_new(NESTED_NPT, NULL);

	(void)state;
	gmap(f, LA1, DATA, 1, PTE_P | PTE_RW | PTE_US);
	tlb_set_vpid(f->t, 5);
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 13);
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 0);
	tlb_set_vpid(f->t, 6);
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 13);
	tlb_invlpga(f->t, LA1, 5);
	tlb_set_vpid(f->t, 6);
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 0);
	tlb_set_vpid(f->t, 5);
	/* TLB entry and guest PSC of ASID 5 gone; its nested TLB stays */
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 4);
	assert_true(tlb_svm_tlb_control(f->t, 3, 5));
	acc_ok(f, LA1, ACCESS_READ, G2H + DATA, 13);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_after_miss),
		cmocka_unit_test(test_stale_until_invlpg),
		cmocka_unit_test(test_write_to_clean_walks),
		cmocka_unit_test(test_write_to_ept_clean_walks),
		cmocka_unit_test(test_psc_and_ntlb_save_refs),
		cmocka_unit_test(test_ntlb_only),
		cmocka_unit_test(test_rights_upgrade_walk_decides),
		cmocka_unit_test(test_rights_fault_from_walk),
		cmocka_unit_test(test_rights_use_current_registers),
		cmocka_unit_test(test_pcid_and_global),
		cmocka_unit_test(test_vpid_isolation),
		cmocka_unit_test(test_ep4ta_tagging),
		cmocka_unit_test(test_large_pages),
		cmocka_unit_test(test_fault_invalidates_psc),
		cmocka_unit_test(test_paging_off_uses_ntlb),
		cmocka_unit_test(test_npt_asid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
