/*
 * fuzz_walk - libFuzzer target for the hardware layer under hostile input.
 *
 * Two kinds of input, chosen by the first byte:
 *   - text: a `nestmmu walk` scenario (the parser must reject bad input
 *     with an error, never crash);
 *   - binary: raw bytes are registers and the contents of 16 table pages
 *     (guest and nested tables with arbitrary flags, loops, reserved bits),
 *     and one access is run through hw_translate and through the TLB path.
 * Invariants checked: the outcome is one of the defined ones; a successful
 * access never yields a host-physical address at or above 2^MAXPHYADDR
 * (no table can lead the walk outside memory); the TLB path and the cold
 * walk agree on the outcome of the first access.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/tlb.h"
#include "arch/walk2d.h"
#include "arch/x86.h"
#include "cli/scenario.h"
#include "mem/hostmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t take64(const uint8_t **p, size_t *n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 8 && *n; i++, (*p)++, (*n)--)
		v |= (uint64_t)**p << (8 * i);
	return v;
}

static void check(const struct hw_mmu *m, uint64_t la, enum access_type t, bool implicit)
{
	struct xlate_result r, r2;
	struct tlb_config tc;
	struct tlb *tlb;

	hw_translate(m, la, t, implicit, &r, NULL);
	if (r.outcome > XO_ABORT)
		abort();
	if (r.outcome == XO_OK && (r.hpa >> m->cfg.cpu.maxphyaddr))
		abort();
	tlb_config_default(&tc);
	tlb = tlb_create(&tc);
	if (!tlb)
		return;
	tlb_access(tlb, m, la, t, implicit, &r2);
	/* The walk above may have set A/D flags; outcomes must still agree. */
	if (r2.outcome != r.outcome && !(r.outcome == XO_OK || r2.outcome == XO_OK))
		abort();
	if (r2.outcome == XO_OK && (r2.hpa >> m->cfg.cpu.maxphyaddr))
		abort();
	tlb_access(tlb, m, la, t, implicit, &r2); /* a hit, or a walk again */
	if (r2.outcome == XO_OK && (r2.hpa >> m->cfg.cpu.maxphyaddr))
		abort();
	tlb_destroy(tlb);
}

static void run_text(const uint8_t *data, size_t size)
{
	struct scenario s;
	struct scn_error err;
	size_t start = 0;
	unsigned line = 1;
	int bad = 0;

	scenario_init(&s);
	for (size_t i = 0; i <= size && !bad; i++) {
		if (i < size && data[i] != '\n')
			continue;
		if (!scn_is_separator((const char *)data + start, i - start))
			bad = scenario_parse_line(&s, (const char *)data + start, i - start, line, &err);
		start = i + 1;
		line++;
	}
	if (!bad && scenario_finish(&s, &err) == 0 && s.n_mem < 4096) {
		struct hostmem *hm = hostmem_create(scenario_mem_limit(&s));
		struct hw_config cfg = s.cfg;
		struct hw_mmu m;
		struct xlate_result fail;

		for (size_t i = 0; i < s.n_mem; i++)
			hostmem_write64(hm, s.mem[i].addr, s.mem[i].val);
		cfg.mem = hostmem_port(hm);
		if (hw_mmu_init(&m, &cfg, &fail))
			check(&m, s.la, s.type, s.implicit);
		hostmem_destroy(hm);
	}
	scenario_free(&s);
}

/*
 * Binary: control word, CR0/CR3/CR4/EFER selectors, EPTP, access, then
 * table words for pages 0..15. Entry address bits are folded into those
 * 16 pages unless the control word asks for raw values (to reach the
 * MAXPHYADDR reserved bits).
 */
static void run_binary(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t n = size;
	uint64_t ctl = take64(&p, &n);
	uint64_t la = take64(&p, &n);
	uint64_t eptp_bits = take64(&p, &n);
	static const enum paging_mode modes[] = { PAGING_NONE, PAGING_32, PAGING_PAE, PAGING_4LEVEL, PAGING_5LEVEL };
	enum paging_mode mode = modes[ctl % 5];
	unsigned maxphy = 36 + (unsigned)((ctl >> 3) % 17); /* 36..52 */
	struct hostmem *hm = hostmem_create(UINT64_C(1) << maxphy);
	struct hw_config cfg;
	struct hw_mmu m;
	struct xlate_result fail;
	bool raw = (ctl >> 8) & 1;

	memset(&cfg, 0, sizeof(cfg));
	cfg.cpu.vendor = ((ctl >> 9) & 1) ? CPU_AMD : CPU_INTEL;
	cfg.cpu.maxphyaddr = maxphy;
	cfg.cpu.feat = (struct cpu_features){
		.gbpages = (ctl >> 10) & 1, .la57 = true, .pku = true, .smep = true, .smap = true,
	};
	cfg.cpu.regs.cr0 = CR0_PE | (mode != PAGING_NONE ? CR0_PG : 0) | (((ctl >> 11) & 1) ? CR0_WP : 0);
	cfg.cpu.regs.cr4 = (mode >= PAGING_PAE ? CR4_PAE : 0) | (mode == PAGING_5LEVEL ? CR4_LA57 : 0) |
			   (((ctl >> 12) & 1) ? CR4_PSE : 0) | (((ctl >> 13) & 1) ? CR4_SMEP : 0) |
			   (((ctl >> 14) & 1) ? CR4_SMAP : 0) | (((ctl >> 15) & 1) && mode >= PAGING_4LEVEL ? CR4_PKE : 0) |
			   (((ctl >> 16) & 1) ? CR4_PGE : 0);
	cfg.cpu.regs.efer = (((ctl >> 17) & 1) ? EFER_NXE : 0) |
			    (mode >= PAGING_4LEVEL ? EFER_LME | EFER_LMA : 0);
	cfg.cpu.regs.cr3 = ((ctl >> 18) & 0xf) << 12 | (mode == PAGING_PAE ? ((ctl >> 22) & 3) << 5 : 0);
	cfg.cpu.regs.cpl = (ctl >> 24) & 3;
	cfg.cpu.regs.rflags = 2 | (((ctl >> 26) & 1) ? RFLAGS_AC : 0);
	cfg.cpu.regs.pkru = (uint32_t)(eptp_bits >> 32);
	switch ((ctl >> 27) % 3) {
	case 1:
		cfg.nested = NESTED_EPT;
		cfg.cpu.vendor = CPU_INTEL;
		cfg.eptp = (((ctl >> 29) & 0xf) << 12) | (eptp_bits & 0xfff);
		cfg.ept_caps = (struct ept_caps){
			.xonly = (ctl >> 33) & 1, .walk5 = true, .ad = true, .gb1 = (ctl >> 34) & 1, .mbec = (ctl >> 35) & 1,
		};
		break;
	case 2:
		cfg.nested = NESTED_NPT;
		cfg.cpu.vendor = CPU_AMD;
		cfg.ncr3 = ((ctl >> 29) & 0xf) << 12;
		cfg.ncr4 = CR4_PAE | (((ctl >> 36) & 1) ? CR4_LA57 : 0);
		cfg.nefer = EFER_LME | EFER_LMA | (((ctl >> 37) & 1) ? EFER_NXE : 0);
		break;
	default:
		break;
	}
	for (uint64_t a = 0; n >= 8 && a < 16 * 4096; a += 8) {
		uint64_t v = take64(&p, &n);
		if (!raw)
			v = (v & ~GENMASK64(51, 12)) | (v & GENMASK64(15, 12));
		hostmem_write64(hm, a, v);
	}
	cfg.mem = hostmem_port(hm);
	if (mode < PAGING_4LEVEL)
		la &= 0xffffffff;
	if (!hw_config_invalid(&cfg) && hw_mmu_init(&m, &cfg, &fail))
		check(&m, la, (enum access_type)((ctl >> 38) % 3), (ctl >> 40) & 1 && (ctl >> 38) % 3 != 2);
	hostmem_destroy(hm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		run_binary(data + 1, size - 1);
	else
		run_text(data + 1, size - 1);
	return 0;
}
