/*
 * builder.c - lays out and writes the tables of one case (see builder.h).
 * Entry encodings follow the manuals' entry-format tables: SDM 4.3 (Tables
 * 4-4..4-6, PSE-36), 4.4 (PAE), 4.5 (4/5-level), Vol. 3C 29.3.2 (EPT).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/builder.h"
#include "conformance/rules.h"

#define NT_POOL  UINT64_C(0x08000000) /* nested tables: 128 MiB upwards */
#define MEM_LIMIT (UINT64_C(1) << 52)

struct builder {
	struct hostmem *hm;
	unsigned nrec;
	uint64_t hpa[CONF_MAX_REC];
	uint8_t size[CONF_MAX_REC];
	uint64_t cur[CONF_MAX_REC]; /* what memory holds at each record */
	uint64_t child[CONF_MAX_REC]; /* scratch: nested table referenced */
	uint64_t pool_next;
};

struct builder *builder_create(void)
{
	struct builder *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->hm = hostmem_create(MEM_LIMIT);
	if (!b->hm) {
		free(b);
		return NULL;
	}
	return b;
}

void builder_destroy(struct builder *b)
{
	if (!b)
		return;
	hostmem_destroy(b->hm);
	free(b);
}

struct hostmem *builder_mem(struct builder *b)
{
	return b->hm;
}

uint64_t spec_default_la(enum paging_mode mode)
{
	switch (mode) {
	case PAGING_NONE:   return UINT64_C(0x43456abc);
	case PAGING_32:     return UINT64_C(0x8c5f3abc);
	case PAGING_PAE:    return UINT64_C(0xb5a67abc);
	case PAGING_4LEVEL: return UINT64_C(0x00007a5b3c4d5abc);
	default:            return UINT64_C(0x00a57a5b3c4d5abc);
	}
}

void spec_init(struct conf_spec *s, enum paging_mode mode, enum cpu_vendor vendor,
	       unsigned maxphyaddr)
{
	memset(s, 0, sizeof(*s));
	s->sub = "";
	s->vendor = vendor;
	s->maxphyaddr = maxphyaddr;
	s->feat = (struct cpu_features){ .gbpages = true, .la57 = true, .pku = true,
					 .smep = true, .smap = true };
	s->mode = mode;
	s->cr0 = CR0_PE | CR0_WP | (mode != PAGING_NONE ? CR0_PG : 0);
	switch (mode) {
	case PAGING_5LEVEL:
		s->cr4 |= CR4_LA57;
		/* fall through */
	case PAGING_4LEVEL:
		s->cr4 |= CR4_PAE;
		s->efer = EFER_LME | EFER_LMA;
		break;
	case PAGING_PAE:
		s->cr4 |= CR4_PAE;
		break;
	default:
		break;
	}
	s->efer |= EFER_NXE;
	s->rflags = 0x2;
	s->la = spec_default_la(mode);
	s->acc = ACCESS_READ;
	s->gmap = 1;
	for (int l = 1; l <= 5; l++)
		s->gflags[l] = PTE_P | PTE_RW | PTE_US;
	s->pdpte_other = 0;
	s->pdpte_other_idx = -1;
	s->nested = NESTED_NONE;
	s->data_nleaf = 1;
	s->table_nleaf = 1;
	s->ov_target = TGT_NONE;
}

void spec_set_ept(struct conf_spec *s, unsigned nlev, bool ad)
{
	s->nested = NESTED_EPT;
	s->nlev = nlev;
	s->caps = (struct ept_caps){ .xonly = true, .walk5 = true, .ad = true, .gb1 = true,
				     .mbec = false };
	s->ept_ad = ad;
}

void spec_set_npt(struct conf_spec *s, unsigned nlev, bool nxe)
{
	s->nested = NESTED_NPT;
	s->nlev = nlev;
	s->nefer = EFER_SCE | EFER_LME | EFER_LMA | (nxe ? EFER_NXE : 0);
}

/* ---- layout ---- */

static unsigned mode_top(enum paging_mode mode)
{
	switch (mode) {
	case PAGING_32:     return 2;
	case PAGING_PAE:    return 3;
	case PAGING_4LEVEL: return 4;
	case PAGING_5LEVEL: return 5;
	default:            return 0;
	}
}

static uint64_t region_stride(const struct conf_spec *s)
{
	if (s->mode == PAGING_32 || s->mode == PAGING_NONE)
		return PAGE_SIZE_1G;
	if (s->mode == PAGING_PAE)
		return UINT64_C(1) << 32;
	/* 8 regions below 2^(M-1) (the nested mapping flips bit M-1) */
	unsigned want = (s->nested != NESTED_NONE && s->nlev == 5) ? 48 : 39;
	unsigned lim = s->maxphyaddr - 4;
	unsigned sh = want < lim ? want : lim;
	if (sh < 30)
		sh = 30;
	return UINT64_C(1) << sh;
}

/* Region of a target: root table 0, data 1, other tables level + 1. */
static uint64_t region(const struct conf_spec *s, unsigned top, int tgt)
{
	if (s->compact)
		return 0;
	unsigned r = tgt == TGT_DATA ? 1 : ((unsigned)tgt == top ? 0 : (unsigned)tgt + 1);
	return region_stride(s) * r;
}

/* ---- records ---- */

static int add_rec(struct conf_case *c, unsigned dim, unsigned level, unsigned size,
		   uint64_t addr, uint64_t hpa, uint64_t val)
{
	if (c->nrec >= CONF_MAX_REC)
		return CONF_NO_REC;
	struct conf_rec *r = &c->rec[c->nrec];
	r->dim = (uint8_t)dim;
	r->level = (uint8_t)level;
	r->size = (uint8_t)size;
	r->pdpte_idx = -1;
	r->on_path = false;
	r->key = 0;
	r->addr = addr;
	r->hpa = hpa;
	r->val = val;
	return (int)c->nrec++;
}

/* Guest page address encoded in a leaf at `level` (SDM 4.3-4.5). */
static uint64_t guest_page_bits(enum paging_mode mode, unsigned level, uint64_t pa)
{
	if (mode == PAGING_32 && level == 2) {
		/* Table 4-4: bits 31:22 of the address, PSE-36 bits 39:32 in 20:13 */
		return (pa & UINT64_C(0xffc00000)) | (((pa >> 32) & 0xff) << 13);
	}
	return pa & GENMASK64(51, 12);
}

static uint64_t nested_leaf_val(const struct conf_spec *s, unsigned level, uint64_t page_hpa)
{
	uint64_t v = page_hpa;
	if (s->nested == NESTED_EPT) {
		v |= EPT_R | EPT_W | EPT_X | ((uint64_t)MT_WB << EPT_MT_SHIFT);
		if (s->caps.mbec)
			v |= EPT_XU;
		if (level > 1)
			v |= EPT_PS;
	} else {
		v |= PTE_P | PTE_RW | PTE_US;
		if (level > 1)
			v |= PTE_PS;
	}
	return v;
}

static uint64_t nested_table_val(const struct conf_spec *s, uint64_t table_hpa)
{
	if (s->nested == NESTED_EPT)
		return table_hpa | EPT_R | EPT_W | EPT_X | (s->caps.mbec ? EPT_XU : 0);
	return table_hpa | PTE_P | PTE_RW | PTE_US;
}

static int nfind(const struct conf_case *c, unsigned level, uint64_t key)
{
	for (unsigned i = 0; i < c->nbyn[level]; i++)
		if (c->rec[c->nby[level][i]].key == key)
			return c->nby[level][i];
	return CONF_NO_REC;
}

/* Maps one target page through the nested tables; false on a layout conflict. */
static bool nested_map(struct builder *b, const struct conf_spec *s, struct conf_case *c,
		       uint64_t root, uint64_t gpa, unsigned nleaf, int tgt)
{
	uint64_t table = root;
	for (unsigned level = c->nlev; level >= nleaf; level--) {
		uint64_t key = gpa >> conf_cover(level);
		int ri = nfind(c, level, key);
		bool leaf = level == nleaf;
		if (ri == CONF_NO_REC) {
			uint64_t hpa = table + (key & 511) * 8;
			uint64_t val, child = 0;
			if (leaf) {
				uint64_t size = UINT64_C(1) << conf_cover(level);
				val = nested_leaf_val(s, level, (gpa & ~(size - 1)) ^ c->hxor);
			} else {
				child = b->pool_next;
				b->pool_next += PAGE_SIZE_4K;
				val = nested_table_val(s, child);
			}
			val |= s->nset_all;
			ri = add_rec(c, 1, level, 8, hpa, hpa, val);
			if (ri == CONF_NO_REC || c->nbyn[level] >= 16)
				return false;
			c->rec[ri].key = key;
			b->child[ri] = leaf ? 0 : child;
			c->nby[level][c->nbyn[level]++] = (uint8_t)ri;
		} else if ((b->child[ri] == 0) != leaf) {
			return false; /* one target wants a leaf where another a table */
		}
		if (tgt == s->ov_target && level == s->ov_level) {
			uint64_t v = c->rec[ri].val;
			c->rec[ri].val = ((v & ~s->ov_clear) | s->ov_set) ^ s->ov_xor;
		}
		if (leaf)
			break;
		table = b->child[ri];
	}
	return true;
}

static void write_entry(struct builder *b, uint64_t hpa, unsigned size, uint64_t val)
{
	if (size == 8) {
		hostmem_write64(b->hm, hpa, val);
		return;
	}
	uint64_t w = 0, base = hpa & ~UINT64_C(7);
	unsigned sh = (unsigned)(hpa & 4) * 8;
	hostmem_read64(b->hm, base, &w);
	w = (w & ~(UINT64_C(0xffffffff) << sh)) | ((val & 0xffffffffu) << sh);
	hostmem_write64(b->hm, base, w);
}

static uint64_t read_entry(struct builder *b, uint64_t hpa, unsigned size)
{
	uint64_t w = 0;
	hostmem_read64(b->hm, hpa & ~UINT64_C(7), &w);
	if (size == 8)
		return w;
	return (w >> ((hpa & 4) * 8)) & 0xffffffffu;
}

bool builder_build(struct builder *b, const struct conf_spec *s, struct conf_case *c)
{
	c->spec = s;
	c->mode = s->mode;
	c->gtop = mode_top(s->mode);
	c->gmap = s->gmap;
	c->nrec = 0;
	c->nlev = s->nested == NESTED_NONE ? 0 : s->nlev;
	c->hxor = c->nlev ? (UINT64_C(1) << (s->maxphyaddr - 1)) : 0;
	memset(c->nbyn, 0, sizeof(c->nbyn));
	for (int l = 0; l <= 5; l++) {
		c->grec[l] = CONF_NO_REC;
		c->gtable[l] = 0;
	}
	for (int i = 0; i < 4; i++)
		c->pdpte_rec[i] = CONF_NO_REC;
	c->pdpt_base = 0;
	b->pool_next = NT_POOL;

	unsigned top = c->gtop;
	enum paging_mode mode = s->mode;
	unsigned esize = mode == PAGING_32 ? 4 : 8;
	uint64_t la = mode <= PAGING_PAE ? (s->la & 0xffffffffu) : s->la;
	uint64_t final_gpa = la;

	/* guest layout */
	if (mode != PAGING_NONE) {
		uint64_t tstep = s->compact ? 0x2000 : 0x402000;
		for (unsigned l = top; l >= s->gmap; l--)
			c->gtable[l] = region(s, top, (int)l) + tstep * l + 0x7000;
		uint64_t gsize = orc_leaf_size(mode, s->gmap);
		uint64_t dbase = region(s, top, TGT_DATA);
		if (mode == PAGING_32 && s->gmap == 2 && s->maxphyaddr >= 36 && !s->compact)
			dbase += UINT64_C(0x300000000); /* exercise PSE-36 */
		static const uint64_t doff[4] = { 0, 0x07654000, 0x07400000, 0 };
		static const uint64_t doff_compact[4] = { 0, 0x1000, 0x400000, 0 };
		c->data_gpa = dbase + (s->compact ? doff_compact : doff)[s->gmap];
		if (c->data_gpa & (gsize - 1))
			return false;
		final_gpa = c->data_gpa + (la & (gsize - 1));
		if (mode == PAGING_PAE)
			c->pdpt_base = c->gtable[3] + 0x60; /* CR3 bits 31:5 */
	} else {
		c->data_gpa = la & ~(PAGE_SIZE_4K - 1);
	}

	/* guest entries */
	for (unsigned l = top; l >= s->gmap && mode != PAGING_NONE; l--) {
		uint64_t v = s->gflags[l];
		if (l > s->gmap)
			v |= c->gtable[l - 1] & GENMASK64(51, 12);
		else
			v |= guest_page_bits(mode, l, c->data_gpa) | (l > 1 ? PTE_PS : 0);
		v ^= s->gxor[l];
		if (esize == 4)
			v &= 0xffffffffu;
		unsigned idx = orc_index(mode, l, la);
		if (mode == PAGING_PAE && l == 3) {
			for (unsigned i = 0; i < 4; i++) {
				uint64_t pv = v;
				if (i != idx) {
					pv = (s->pdpte_other_idx < 0 || s->pdpte_other_idx == (int)i)
						     ? s->pdpte_other : 0;
					if (pv & PTE_P)
						pv |= c->gtable[2] & GENMASK64(51, 12);
				}
				uint64_t ga = c->pdpt_base + 8 * i;
				int ri = add_rec(c, 0, 3, 8, ga, ga ^ c->hxor, pv);
				c->rec[ri].pdpte_idx = (int8_t)i;
				c->rec[ri].on_path = i == idx;
				c->pdpte_rec[i] = ri;
			}
			c->grec[3] = c->pdpte_rec[idx];
			continue;
		}
		uint64_t ga = c->gtable[l] + (uint64_t)idx * esize;
		int ri = add_rec(c, 0, l, esize, ga, ga ^ c->hxor, v);
		c->rec[ri].on_path = true;
		c->grec[l] = ri;
	}

	/* nested tables: one path per guest table page and the data page */
	if (c->nlev) {
		uint64_t root = b->pool_next;
		b->pool_next += PAGE_SIZE_4K;
		for (unsigned l = top; l >= s->gmap && mode != PAGING_NONE; l--) {
			uint64_t page = (mode == PAGING_PAE && l == 3 ? c->pdpt_base : c->gtable[l]) &
					~(PAGE_SIZE_4K - 1);
			if (!nested_map(b, s, c, root, page, s->table_nleaf, (int)l))
				return false;
		}
		if (!nested_map(b, s, c, root, final_gpa, s->data_nleaf, TGT_DATA))
			return false;
		c->cfg.eptp = 0;
		c->cfg.ncr3 = 0;
		if (s->nested == NESTED_EPT) {
			c->cfg.eptp = root | ((uint64_t)(s->nlev - 1) << EPTP_WALK_SHIFT) | MT_WB |
				      (s->ept_ad ? EPTP_AD : 0);
			c->cfg.eptp ^= s->eptp_xor;
		} else {
			c->cfg.ncr3 = root;
		}
	}

	/* configuration */
	struct hw_config *cfg = &c->cfg;
	cfg->cpu.vendor = s->vendor;
	cfg->cpu.maxphyaddr = s->maxphyaddr;
	cfg->cpu.feat = s->feat;
	struct cpu_regs *rg = &cfg->cpu.regs;
	rg->cr0 = s->cr0;
	rg->cr4 = s->cr4;
	rg->efer = s->efer;
	rg->rflags = s->rflags;
	rg->pkru = s->pkru;
	rg->cpl = s->cpl;
	rg->cr3 = mode == PAGING_PAE ? c->pdpt_base : (top ? c->gtable[top] : 0);
	cfg->nested = s->nested;
	cfg->ept_caps = s->caps;
	cfg->ncr4 = s->nested == NESTED_NPT ? (CR4_PAE | (s->nlev == 5 ? CR4_LA57 : 0)) : 0;
	cfg->nefer = s->nested == NESTED_NPT ? s->nefer : 0;

	/* memory: same layout as before -> rewrite what differs; else clear and write */
	bool same = c->nrec == b->nrec;
	for (unsigned i = 0; same && i < c->nrec; i++)
		same = b->hpa[i] == c->rec[i].hpa && b->size[i] == c->rec[i].size;
	if (!same) {
		for (unsigned i = 0; i < b->nrec; i++)
			if (b->cur[i])
				write_entry(b, b->hpa[i], b->size[i], 0);
		for (unsigned i = 0; i < c->nrec; i++) {
			b->hpa[i] = c->rec[i].hpa;
			b->size[i] = c->rec[i].size;
			b->cur[i] = 0;
		}
		b->nrec = c->nrec;
	}
	builder_restore(b, c);
	return true;
}

void builder_restore(struct builder *b, const struct conf_case *c)
{
	for (unsigned i = 0; i < c->nrec; i++) {
		if (b->cur[i] != c->rec[i].val) {
			write_entry(b, c->rec[i].hpa, c->rec[i].size, c->rec[i].val);
			b->cur[i] = c->rec[i].val;
		}
	}
}

void builder_readback(struct builder *b, const struct conf_case *c, uint64_t *vals)
{
	for (unsigned i = 0; i < c->nrec; i++) {
		vals[i] = read_entry(b, c->rec[i].hpa, c->rec[i].size);
		b->cur[i] = vals[i];
	}
}
