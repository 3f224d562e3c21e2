/*
 * check.h - the oracle of the guest OS model (not part of the guest: it
 * reads the OS's records and the VM's memory from outside, writes nothing
 * and counts nothing).
 *
 * For every live process, after any guest operation (gos_set_check):
 *  1. an independent walk of its tables: every present user leaf, read
 *     from guest memory, and its translation by hw_translate (nested none,
 *     no caches, through a memory that takes no A/D write) agree; it lies
 *     in a VMA; it is user-accessible; writable only if the VMA is, and
 *     then mapped once (an anonymous page with one reference, or a page of
 *     a shared file mapping); executable iff the VMA is (with NX); it maps
 *     the page cache's page of its file offset, or (private mappings) an
 *     anonymous copy, or (anonymous mappings) the zero page read-only;
 *     its top table holds the kernel's entries; the number of its tables
 *     is what the OS counted;
 *  2. every page of every VMA (up to max_pages_per_vma) as each vCPU sees
 *     it: on a vCPU where the address space is loaded, the hardware's own
 *     translation (vcpu_hw_probe: through the hypervisor's structures)
 *     gives the same host-physical page (natively: exactly the same
 *     outcome); in every TLB context that may hold the address space's
 *     translations (loaded, or a PCID slot), a cached entry for the page
 *     translates to the same host-physical page with no more rights, is
 *     dirty only if the PTE is, and exists only if the page is mapped; the
 *     last munmapped range has no cached entry;
 *  3. page records: every page's reference count is the number of PTEs
 *     mapping it (+1 in the page cache);
 *  4. each vCPU's CR3 holds the top table (and PCID) the OS loaded.
 */
#ifndef NESTMMU_GUEST_CHECK_H
#define NESTMMU_GUEST_CHECK_H

#include <stdint.h>

#include "guest/gos.h"
#include "vm/vm.h"

struct gos_checker {
	struct vm *vm;
	uint64_t max_pages_per_vma; /* 0: every page */
	/* what the runs looked at */
	uint64_t runs, leaves, vma_pages, probes, tlb_entries;
};

void gos_checker_init(struct gos_checker *ck, struct vm *vm);
/* 0 if everything holds, else 1 with a message. */
int gos_check(struct gos_checker *ck, struct gos *g, char *msg, unsigned len);
/*
 * The independent translation of va in the tables of process pid (a user
 * read, nothing written): r->gpa and r->guest_rights on XO_OK. False if
 * there is no such process.
 */
bool gos_check_translate(struct gos_checker *ck, struct gos *g, int pid, uint64_t va, struct xlate_result *r);
/* A gos_check_fn: ctx is a struct gos_checker. */
int gos_check_hook(void *ctx, struct gos *g, char *msg, unsigned len);

#endif
