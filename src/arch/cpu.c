/*
 * cpu.c - paging mode and register consistency (SDM Vol. 3A 2.5, 4.1).
 */
#include "arch/cpu.h"

#include "arch/x86.h"

/* SDM 4.1.1 and Table 4-1: the mode follows CR0.PG, CR4.PAE, EFER.LMA, CR4.LA57. */
enum paging_mode cpu_paging_mode(const struct cpu_regs *regs)
{
	if (!(regs->cr0 & CR0_PG))
		return PAGING_NONE;
	if (!(regs->cr4 & CR4_PAE))
		return PAGING_32;
	if (!(regs->efer & EFER_LMA))
		return PAGING_PAE;
	return (regs->cr4 & CR4_LA57) ? PAGING_5LEVEL : PAGING_4LEVEL;
}

const char *paging_mode_name(enum paging_mode mode)
{
	switch (mode) {
	case PAGING_NONE:   return "none";
	case PAGING_32:     return "32-bit";
	case PAGING_PAE:    return "pae";
	case PAGING_4LEVEL: return "4-level";
	case PAGING_5LEVEL: return "5-level";
	}
	return "?";
}

const char *cpu_vendor_name(enum cpu_vendor v)
{
	return v == CPU_AMD ? "amd" : "intel";
}

const char *cpu_regs_invalid(const struct cpu *cpu)
{
	const struct cpu_regs *r = &cpu->regs;
	bool lma = r->efer & EFER_LMA;

	if (cpu->maxphyaddr < 32 || cpu->maxphyaddr > 52)
		return "maxphyaddr must be between 32 and 52";
	if ((r->cr0 & CR0_PG) && !(r->cr0 & CR0_PE))
		return "CR0.PG=1 requires CR0.PE=1 (MOV CR0 would #GP)";
	/* SDM 2.2.1: LMA is set by the processor when PG=1 and LME=1, never otherwise. */
	if (lma != ((r->efer & EFER_LME) && (r->cr0 & CR0_PG)))
		return "EFER.LMA must equal EFER.LME AND CR0.PG";
	if (lma && !(r->cr4 & CR4_PAE))
		return "IA-32e mode (EFER.LMA=1) requires CR4.PAE=1";
	if ((r->cr4 & CR4_PCIDE) && !lma)
		return "CR4.PCIDE=1 requires IA-32e mode (MOV CR4 would #GP)";
	if ((r->cr4 & CR4_LA57) && !cpu->feat.la57)
		return "CR4.LA57=1 but 5-level paging is not offered (guest_caps)";
	if ((r->cr4 & CR4_PKE) && !cpu->feat.pku)
		return "CR4.PKE=1 but protection keys are not offered (guest_caps)";
	if ((r->cr4 & CR4_SMEP) && !cpu->feat.smep)
		return "CR4.SMEP=1 but SMEP is not offered (guest_caps)";
	if ((r->cr4 & CR4_SMAP) && !cpu->feat.smap)
		return "CR4.SMAP=1 but SMAP is not offered (guest_caps)";
	if (r->cpl > 3)
		return "CPL must be 0..3";
	if (lma) {
		/* SDM 4.5.2: CR3 bits 63:MAXPHYADDR are reserved in IA-32e mode. */
		if (r->cr3 & ~maxphy_mask(cpu->maxphyaddr))
			return "CR3 has bits set beyond MAXPHYADDR";
	} else if (r->cr3 >> 32) {
		return "CR3 has bits set above bit 31 outside IA-32e mode";
	}
	return 0;
}

/*
 * SDM 3.3.7.1 / 4.5.1: with 4-level paging bits 63:47 must equal bit 47;
 * with 5-level paging bits 63:56 must equal bit 56. Outside IA-32e mode a
 * linear address has 32 bits.
 */
bool la_is_canonical(uint64_t la, enum paging_mode mode)
{
	unsigned top;

	switch (mode) {
	case PAGING_4LEVEL: top = 47; break;
	case PAGING_5LEVEL: top = 56; break;
	default:            return (la >> 32) == 0;
	}
	uint64_t upper = la >> top; /* bits 63:top */
	return upper == 0 || upper == (~UINT64_C(0) >> top);
}
