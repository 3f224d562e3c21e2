/*
 * fuzz_kpop - libFuzzer target for KPOP's L0 side (src/mmu/kpop.h) under a
 * hostile L1: the first byte picks the table format (EPT 4/5 with A/D, EPT 4
 * without, NPT 4/5) and whether L0 is short of frames; the rest is applied
 * by kpop_fuzz_apply as hypercalls (random numbers, huge counts, wrapping
 * ranges, bad blocks), aging, tracking and L1 slot flag changes, with the
 * isolation checker (kpop_check) after every operation. Invariants: the
 * checker always passes; destroying everything returns every frame.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mem/frames.h"
#include "mem/hostmem.h"
#include "mem/mem_l0.h"
#include "mem/memslot.h"
#include "mmu/kpop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void slot(struct memslots *ms, uint32_t id, uint64_t base, uint64_t n, uint32_t flags)
{
	struct memslot_desc d = { .id = id, .base_gfn = base, .npages = n, .flags = flags };

	if (memslots_add(ms, &d) != MEMSLOT_OK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct { enum kpop_kind kind; unsigned levels; bool ad; } fmts[5] = {
		{ KPOP_EPT, 4, true }, { KPOP_EPT, 5, true }, { KPOP_EPT, 4, false },
		{ KPOP_NPT, 4, false }, { KPOP_NPT, 5, false },
	};
	struct hostmem *hm;
	struct frames *fr;
	struct mem_l0 *l0;
	struct memslots *ms;
	struct kpop *kp;
	struct kpop_config c;
	const char *why = NULL;
	char msg[256];
	uint8_t sel;

	if (size < 1)
		return 0;
	sel = data[0];
	hm = hostmem_create(UINT64_C(1) << 40);
	fr = frames_create(0x100, UINT64_C(1) << 20);
	l0 = mem_l0_create(hm, fr);
	ms = memslots_create(fr, 48);
	if (!hm || !fr || !l0 || !ms)
		abort();
	slot(ms, 1, 0x0, 0x1000, 0);
	slot(ms, 2, 0x2000, 0x40, MEMSLOT_F_READONLY);
	slot(ms, 3, 0x3000, 0x40, MEMSLOT_F_MMIO);
	slot(ms, 4, 0x4000, 0x200, 0);
	c = (struct kpop_config){
		.kind = fmts[sel % 5].kind, .levels = fmts[sel % 5].levels, .ept_ad = fmts[sel % 5].ad,
		.maxphyaddr = 46, .l2_gpa_bits = fmts[sel % 5].levels == 5 ? 57 : 48,
		.max_mmus = 8, .max_pages = 4096, .port = mem_l0_port(l0), .l1_slots = ms,
	};
	kp = kpop_create(&c, &why);
	if (!kp) {
		fprintf(stderr, "kpop_create: %s\n", why);
		abort();
	}
	if (sel & 0x80)
		frames_set_limit(fr, 64); /* L0 short of frames: -ENOMEM paths */
	if (kpop_fuzz_apply(kp, 0xf00 << 12, 16, data + 1, size - 1, msg, sizeof(msg))) {
		fprintf(stderr, "kpop_check: %s\n", msg);
		abort();
	}
	kpop_destroy(kp);
	memslots_destroy(ms);
	mem_l0_destroy(l0);
	if (frames_allocated(fr) != 0 || hostmem_stored_pages(hm) != 0) {
		fprintf(stderr, "frames or host pages left after destroy\n");
		abort();
	}
	frames_destroy(fr);
	hostmem_destroy(hm);
	return 0;
}
