/*
 * cpu.h - the processor state that paging depends on, and the paging mode
 * derived from it exactly as the CPU does (SDM 4.1.1, Table 4-1).
 */
#ifndef NESTMMU_ARCH_CPU_H
#define NESTMMU_ARCH_CPU_H

#include <stdbool.h>
#include <stdint.h>

enum cpu_vendor { CPU_INTEL, CPU_AMD };

enum paging_mode {
	PAGING_NONE,   /* CR0.PG = 0: linear = (guest-)physical */
	PAGING_32,     /* CR0.PG = 1, CR4.PAE = 0 */
	PAGING_PAE,    /* CR0.PG = 1, CR4.PAE = 1, EFER.LMA = 0 */
	PAGING_4LEVEL, /* CR0.PG = 1, CR4.PAE = 1, EFER.LMA = 1, CR4.LA57 = 0 */
	PAGING_5LEVEL, /* ... CR4.LA57 = 1 */
};

/* CPU features offered to the software whose tables are walked. */
struct cpu_features {
	bool gbpages; /* 1-GByte pages (CPUID 80000001H:EDX[26]) */
	bool la57;    /* 5-level paging */
	bool pku;     /* protection keys for user pages */
	bool smep;
	bool smap;
};

/* The registers a walk reads. */
struct cpu_regs {
	uint64_t cr0, cr3, cr4, efer, rflags;
	uint32_t pkru;
	unsigned cpl;
	/* PAE PDPTE registers: loaded from memory by hw_mmu_init() (walk2d.h). */
};

/* A CPU: its vendor, MAXPHYADDR, features and registers. */
struct cpu {
	enum cpu_vendor vendor;
	unsigned maxphyaddr; /* 32..52 */
	struct cpu_features feat;
	struct cpu_regs regs;
};

enum paging_mode cpu_paging_mode(const struct cpu_regs *regs);
const char *paging_mode_name(enum paging_mode mode);
const char *cpu_vendor_name(enum cpu_vendor v);

/*
 * Checks that the registers are a state the CPU can be in (what MOV CR0/CR4,
 * WRMSR EFER and VM entry would refuse: e.g. EFER.LMA inconsistent with
 * CR0.PG and EFER.LME, CR4 bits of features not offered, CR3 bits beyond
 * MAXPHYADDR in IA-32e mode). Returns NULL if fine, else a message.
 */
const char *cpu_regs_invalid(const struct cpu *cpu);

/* Canonical for the given paging mode (SDM 3.3.7.1; 4.5.1). */
bool la_is_canonical(uint64_t la, enum paging_mode mode);

/* Physical-address mask of MAXPHYADDR bits. */
static inline uint64_t maxphy_mask(unsigned maxphyaddr)
{
	return (maxphyaddr >= 64) ? ~UINT64_C(0) : ((UINT64_C(1) << maxphyaddr) - 1);
}

#endif
