/*
 * genv.h - a VM with a booted guest OS for tests: native (no hypervisor)
 * or under the test TDP hypervisor (EPT on Intel, NPT on AMD) or the test
 * shadow-paging hypervisor, with the
 * checker (guest/check.h) run after every guest operation when asked.
 */
#ifndef NESTMMU_TESTS_GUEST_GENV_H
#define NESTMMU_TESTS_GUEST_GENV_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "guest/check.h"
#include "guest/gos.h"
#include "vm/hv_test.h"
#include "vm/vm.h"

enum genv_hv { GENV_NATIVE, GENV_EPT, GENV_NPT, GENV_SHADOW };

struct genv {
	struct vm *vm;
	struct gos *g;
	struct gos_checker ck;
	struct hvt_tdp tdp;
	bool has_tdp;
	struct hvt_shadow shadow;
	bool has_shadow;
};

struct genv_opts {
	enum paging_mode mode;
	unsigned ncpus;
	uint64_t ram;
	bool pcid, pge, check;
	bool no_gbpages;
	bool small_dmap; /* the direct map with 4 KiB pages */
	unsigned flush_ceiling;
	unsigned npcid;
	enum genv_hv hv;
};

static inline void genv_opts_default(struct genv_opts *o, enum paging_mode mode)
{
	*o = (struct genv_opts){ .mode = mode, .ncpus = 1, .ram = UINT64_C(256) << 20, .pcid = true,
				 .pge = true, .check = true };
}

static inline void genv_up(struct genv *e, const struct genv_opts *o)
{
	struct vm_config vc;
	struct gos_config gc;
	struct vcpu *cpus[GOS_MAX_CPUS];
	const char *err = NULL;

	vm_config_default(&vc);
	vc.ram_bytes = o->ram;
	vc.ncpus = o->ncpus;
	if (o->no_gbpages)
		vc.feat.gbpages = false;
	if (o->hv == GENV_NPT)
		vc.vendor = CPU_AMD;
	e->vm = vm_create(&vc, &err);
	if (!e->vm)
		fail_msg("vm_create: %s", err);
	e->has_tdp = o->hv == GENV_EPT || o->hv == GENV_NPT;
	e->has_shadow = o->hv == GENV_SHADOW;
	if (e->has_tdp)
		hvt_tdp_attach(&e->tdp, e->vm, 4, 3);
	if (e->has_shadow)
		hvt_shadow_attach(&e->shadow, e->vm, false);
	for (unsigned i = 0; i < o->ncpus; i++)
		cpus[i] = vm_vcpu(e->vm, i);
	gos_config_default(&gc);
	gc.mode = o->mode;
	gc.ram_bytes = o->ram;
	gc.pcid = o->pcid;
	gc.pge = o->pge;
	gc.flush_ceiling = o->flush_ceiling;
	gc.npcid = o->npcid;
	gc.large_dmap = !o->small_dmap;
	e->g = gos_boot(cpus, o->ncpus, &gc, &err);
	if (!e->g)
		fail_msg("gos_boot (%s): %s", paging_mode_name(o->mode), err);
	gos_checker_init(&e->ck, e->vm);
	if (o->check)
		gos_set_check(e->g, gos_check_hook, &e->ck);
}

static inline void genv_down(struct genv *e)
{
	gos_destroy(e->g);
	if (e->has_tdp)
		hvt_tdp_detach(&e->tdp);
	if (e->has_shadow)
		hvt_shadow_detach(&e->shadow);
	vm_destroy(e->vm);
}

/* Fails the test with the guest's error if s is not `want`. */
#define GENV_EXPECT(e, s, want)                                                                     \
	do {                                                                                        \
		int s_ = (s);                                                                       \
		if (s_ != (want))                                                                   \
			fail_msg("%s:%d: %s gave %d (%s), expected %d; guest: %s", __FILE__, __LINE__, #s, \
				 s_, gos_status_name((enum gos_status)s_), (want),                  \
				 gos_error((e)->g) ? gos_error((e)->g) : "-");                      \
	} while (0)

#define GENV_OK(e, s) GENV_EXPECT(e, s, GOS_OK)

/* Runs the checker once more and fails on a finding. */
static inline void genv_check(struct genv *e)
{
	char msg[256];

	if (gos_check(&e->ck, e->g, msg, sizeof(msg)))
		fail_msg("check: %s", msg);
}

#endif
