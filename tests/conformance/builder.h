/*
 * builder.h - builds the guest tables (32-bit, PAE, 4-level, 5-level) and
 * the nested tables (EPT 4/5-level, NPT long-mode 4/5-level) of one case
 * in one reused struct hostmem, rewriting only the entries that changed
 * since the previous case.
 *
 * Layout (guest-physical): the guest root table, the data page and every
 * other guest table each lie in their own region (1 GiB for 32-bit paging,
 * 4 GiB for PAE, up to 512 GiB / 256 TiB for 4/5-level paging), so that a
 * nested entry of any level can be restricted for one of them alone as
 * far as the address width allows. Nested mapping: hpa = gpa ^ 2^(M-1);
 * nested tables come from a pool at 128 MiB.
 */
#ifndef NESTMMU_CONF_BUILDER_H
#define NESTMMU_CONF_BUILDER_H

#include <stdbool.h>
#include <stdint.h>

#include "conformance/conf.h"
#include "mem/hostmem.h"

struct builder;

struct builder *builder_create(void);
void builder_destroy(struct builder *b);
struct hostmem *builder_mem(struct builder *b);

/*
 * A spec with the registers of `mode` (CR0.PG/PE/WP, CR4.PAE/LA57,
 * EFER.LME/LMA/NXE), every feature offered, CPL 0, a read of a mode-typical
 * linear address, permissive guest entries (P, R/W, U/S) and no nesting.
 */
void spec_init(struct conf_spec *s, enum paging_mode mode, enum cpu_vendor vendor,
	       unsigned maxphyaddr);
/* Default linear address of a mode (distinct non-zero indices at every level). */
uint64_t spec_default_la(enum paging_mode mode);
/* Sets EPT nesting (nlev levels, caps all on, A/D per `ad`) or NPT nesting. */
void spec_set_ept(struct conf_spec *s, unsigned nlev, bool ad);
void spec_set_npt(struct conf_spec *s, unsigned nlev, bool nxe);

/*
 * Builds the case into memory and fills *c. Returns false if the spec
 * cannot be laid out (then nothing is guaranteed about memory).
 */
bool builder_build(struct builder *b, const struct conf_spec *s, struct conf_case *c);
/* Writes the case's values again where memory differs (after hw_mmu_init). */
void builder_restore(struct builder *b, const struct conf_case *c);
/* Reads every record back into vals[] (and remembers memory's contents). */
void builder_readback(struct builder *b, const struct conf_case *c, uint64_t *vals);

#endif
