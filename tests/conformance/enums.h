/*
 * enums.h - the enumerations of cases, one function per family.
 */
#ifndef NESTMMU_CONF_ENUMS_H
#define NESTMMU_CONF_ENUMS_H

#include "conformance/runner.h"

/* guest paging alone (nested none): every mode x vendor x flags x CPU state x access */
void enum_guest(struct conf_runner *r);
/* EPT (cpu intel): permissions, MBEC, misconfigurations, A/D, guest modes */
void enum_ept(struct conf_runner *r);
/* NPT (cpu amd): nested flags, reserved bits, PAE guests, A/D */
void enum_npt(struct conf_runner *r);

/* linear addresses with extreme indices, upper half (enum_cross.c) */
void cross_la_variants(struct conf_runner *r, enum nested_mode n);
/* guest faults competing with nested faults (enum_cross.c) */
void cross_ordering(struct conf_runner *r, enum nested_mode n);

/* guest tables and data page sharing nested entries (enum_cross.c) */
void cross_compact(struct conf_runner *r, enum nested_mode n);

/* seeded random cases over every dimension at once (enum_random.c) */
void random_cases(struct conf_runner *r, enum nested_mode n, unsigned count, uint64_t seed);

/* Is bit b an address bit of a guest entry at `level` (leaf or table) as built? */
bool guest_addr_bit(enum paging_mode mode, unsigned level, bool leaf, unsigned maxphyaddr,
		    unsigned b);

#endif
