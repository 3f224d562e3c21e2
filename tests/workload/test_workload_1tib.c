/*
 * A guest of 1 TiB running gups over a 64 GiB table touched sparsely
 * (no init): host memory stays in proportion to the page tables, never to
 * the guest's size. Prints the figures.
 *
 * Rules used:
 *  - the guest stores contents only in its page tables (data pages are
 *    touched, never written: gos.h), and no table page is freed and
 *    reused during the run, so host memory stores exactly the table pages
 *    ever allocated (natively the guest's; under EPT also the EPT tables);
 *  - natively guest-physical = host-physical through the memory slot:
 *    only written pages get backing frames, i.e. the table pages; under
 *    EPT every guest page the guest touches is backed (tracked, not stored).
 *  - the direct map of 1 TiB with 1 GiB pages: PML4 + 2 PDPTs (1024 PDPTEs).
 */
#include <inttypes.h>

#include "guest/genv.h"
#include "workload/workload.h"

#define TIB (UINT64_C(1) << 40)

static size_t host_bytes(struct vm *vm)
{
	return hostmem_meta_bytes(vm_hostmem(vm)) + frames_meta_bytes(vm_frames(vm)) +
	       mem_l0_meta_bytes(vm_mem_l0(vm)) + memslots_meta_bytes(vm_memslots(vm));
}

static void run(enum genv_hv hv)
{
	struct genv e;
	struct genv_opts o;
	struct wl_params p;
	struct wl_report r;
	struct counters *c;
	const char *err = NULL;
	uint64_t guest_pt, ept_pt, stored;
	size_t bytes;

	genv_opts_default(&o, PAGING_4LEVEL);
	o.ram = TIB;
	o.check = false;
	o.hv = hv;
	genv_up(&e, &o);
	c = vm_counters(e.vm);
	assert_int_equal(gos_stats(e.g)->pt_alloc, 3);
	wl_params_default(&p, WL_GUPS);
	p.threads = 1;
	p.table_bytes = UINT64_C(64) << 30;
	p.init = false;
	p.updates = 2048;
	if (wl_run(e.g, &p, &r, &err) != GOS_OK)
		fail_msg("gups: %s", err);
	/* each update of an untouched page: a read fault (zero page) and a write fault (copy) */
	assert_true(r.guest.faults >= 2 * 2000 && r.guest.faults <= 2 * 2048);
	guest_pt = gos_stats(e.g)->pt_alloc;
	ept_pt = c->pt_alloc[CNT_PT_EPT01];
	stored = hostmem_stored_pages(vm_hostmem(e.vm));
	assert_int_equal(guest_pt, c->pt_alloc[hv == GENV_NATIVE ? CNT_PT_GUEST_L0 : CNT_PT_GUEST_L1]);
	assert_int_equal(stored, guest_pt + ept_pt);
	if (hv == GENV_NATIVE) {
		assert_int_equal(ept_pt, 0);
		assert_int_equal(memslots_backed_pages(vm_memslots(e.vm)), guest_pt);
	} else {
		/* tables, the zero page and every page written: backed, not stored */
		assert_int_equal(memslots_backed_pages(vm_memslots(e.vm)), guest_pt + 1 + r.guest.pages_alloc);
	}
	bytes = host_bytes(e.vm);
	/* stored pages are 4 KiB each; the bookkeeping on top is small */
	assert_true(bytes >= stored * 4096);
	assert_true(bytes < stored * 4096 + (size_t)(8u << 20));
	print_message("1 TiB guest (%s), gups over 64 GiB, %" PRIu64 " updates: %" PRIu64 " guest page faults\n",
		      hv == GENV_NATIVE ? "native" : "EPT", r.units, r.guest.faults);
	print_message("  page-table pages: guest %" PRIu64 ", EPT %" PRIu64 "; host pages stored %" PRIu64
		      "; guest pages backed %" PRIu64 "\n",
		      guest_pt, ept_pt, stored, memslots_backed_pages(vm_memslots(e.vm)));
	print_message("  host memory %zu bytes = %.2f x the page tables (%" PRIu64 " bytes); guest RAM %" PRIu64
		      " bytes (ratio %.1e)\n",
		      bytes, (double)bytes / (double)((guest_pt + ept_pt) * 4096), (guest_pt + ept_pt) * 4096, TIB,
		      (double)bytes / (double)TIB);
	genv_down(&e);
}

static void test_1tib_native(void **state)
{
	(void)state;
	run(GENV_NATIVE);
}

static void test_1tib_ept(void **state)
{
	(void)state;
	run(GENV_EPT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_1tib_native),
		cmocka_unit_test(test_1tib_ept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
