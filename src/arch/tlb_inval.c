/*
 * tlb_inval.c - the operations that invalidate cached translations, each
 * with the scope its definition gives (SDM Vol. 3A 4.10.4.1; Vol. 3C
 * 29.4.3.1 and the INVEPT/INVVPID instruction pages; AMD APM Vol. 2 15.16,
 * Vol. 3 INVLPGA). The manuals allow a processor to invalidate more
 * ("The processor is always free to invalidate additional entries",
 * 4.10.4.1); this model drops what the definition requires and nothing
 * else, so that software relying on more is caught. Where a definition
 * leaves the scope open, the choice is written beside it.
 *
 * Under VMX, operations that "architecturally invalidate entries in the
 * TLBs or paging-structure caches independent of VMX operation (e.g., the
 * INVLPG and INVPCID instructions) invalidate linear mappings and combined
 * mappings. They are required to do so only for the current VPID (but, for
 * combined mappings, all EP4TAs)" (Vol. 3C 29.4.3.1). They leave
 * guest-physical mappings (nested TLB, nested PSCs) alone.
 */
#include "arch/tlb_internal.h"

#include "arch/cpu.h"
#include "arch/x86.h"

#define KINDS_LIN_COMB ((1u << TLB_LINEAR) | (1u << TLB_COMBINED))
#define KINDS_ALL      ((1u << TLB_NKIND) - 1)

/* "If CR4.PCIDE = 0, the current PCID is always 000H" (SDM 4.10.1). */
static uint16_t current_pcid(const struct cpu_regs *regs)
{
	return (regs->cr4 & CR4_PCIDE) ? (uint16_t)(regs->cr3 & CR3_PCID_MASK) : 0;
}

/*
 * Linear and combined mappings of the current VPID, all EP4TAs, all PCIDs,
 * all addresses, globals included: callers narrow it.
 */
static struct tlb_scope guest_scope(const struct tlb *t, unsigned structs)
{
	return (struct tlb_scope){
		.structs = structs,
		.kinds = KINDS_LIN_COMB,
		.vpid_match = TLB_M_EQ,
		.vpid = t->vpid,
		.any_pcid = true,
		.any_root = true,
		.any_addr = true,
		.keep_global = false,
	};
}

static void with_pcid(struct tlb_scope *s, uint16_t pcid)
{
	s->any_pcid = false;
	s->pcid = pcid;
}

static void with_addr(struct tlb_scope *s, uint64_t addr)
{
	s->any_addr = false;
	s->addr = addr;
}

/* ---- guest instructions (SDM 4.10.4.1) ---- */

void tlb_invlpg(struct tlb *t, const struct cpu_regs *regs, uint64_t la)
{
	enum paging_mode mode = cpu_paging_mode(regs);
	struct tlb_scope s;

	t->st.ops[TLB_OP_INVLPG]++;
	/*
	 * INVLPG: "It also operates the same in 64-bit mode, except if the
	 * memory address is in non-canonical form. In this case, INVLPG is
	 * the same as a NOP." (SDM Vol. 2A, INVLPG).
	 */
	if ((mode == PAGING_4LEVEL || mode == PAGING_5LEVEL) && !la_is_canonical(la, mode))
		return;
	/*
	 * "The instruction invalidates any TLB entries that are for a page
	 * number corresponding to the linear address and that are associated
	 * with the current PCID. It also invalidates any global TLB entries
	 * with that page number, regardless of PCID" - and, by its footnote,
	 * every entry made from a large page containing the address.
	 */
	s = guest_scope(t, TLB_S_TLB);
	with_pcid(&s, current_pcid(regs));
	with_addr(&s, la);
	tlb_scope_drop(t, &s, TLB_OP_INVLPG);
	/*
	 * "INVLPG also invalidates all entries in all paging-structure caches
	 * associated with the current PCID, regardless of the linear
	 * addresses to which they correspond."
	 */
	s = guest_scope(t, TLB_S_PSC);
	with_pcid(&s, current_pcid(regs));
	tlb_scope_drop(t, &s, TLB_OP_INVLPG);
}

enum tlb_insn tlb_invpcid_check(const struct cpu_regs *regs, uint64_t type, uint64_t desc_lo, uint64_t desc_hi)
{
	uint16_t pcid = (uint16_t)(desc_lo & CR3_PCID_MASK);
	bool pcide = regs->cr4 & CR4_PCIDE;
	enum paging_mode width = (regs->cr4 & CR4_LA57) ? PAGING_5LEVEL : PAGING_4LEVEL;

	/*
	 * SDM Vol. 2A INVPCID, Operation and exceptions: #GP(0) "If an
	 * invalid type is specified in the register operand", "If bits 63:12
	 * of INVPCID_DESC are not all zero", "If INVPCID_TYPE is either 0 or 1
	 * and INVPCID_DESC[11:0] is not zero" while CR4.PCIDE = 0, "If
	 * INVPCID_TYPE is 0 and the linear address in INVPCID_DESC[127:64] is
	 * not canonical".
	 */
	if (type > 3 || (desc_lo & ~CR3_PCID_MASK))
		return TLB_INSN_GP;
	if (type <= 1 && !pcide && pcid != 0)
		return TLB_INSN_GP;
	if (type == 0 && !la_is_canonical(desc_hi, width))
		return TLB_INSN_GP;
	return TLB_INSN_OK;
}

enum tlb_insn tlb_invpcid(struct tlb *t, const struct cpu_regs *regs, uint64_t type,
			  uint64_t desc_lo, uint64_t desc_hi)
{
	uint16_t pcid = (uint16_t)(desc_lo & CR3_PCID_MASK);
	uint64_t la = desc_hi;
	struct tlb_scope s = guest_scope(t, TLB_S_TLB | TLB_S_PSC);
	enum tlb_insn chk = tlb_invpcid_check(regs, type, desc_lo, desc_hi);
	enum tlb_op op;

	if (chk != TLB_INSN_OK)
		return chk;
	op = (enum tlb_op)(TLB_OP_INVPCID0 + type);
	t->st.ops[op]++;
	switch (type) {
	case 0:
		/*
		 * "the logical processor invalidates mappings—except global
		 * translations—associated with the PCID specified in the
		 * INVPCID descriptor and that would be used to translate the
		 * linear address specified in the INVPCID descriptor": TLB
		 * entries for the page and PSC entries that would be used for
		 * the address (not the whole PCID: unlike INVLPG, no sentence
		 * extends type 0 to all of the PCID's PSC entries).
		 */
		with_pcid(&s, pcid);
		with_addr(&s, la);
		s.keep_global = true;
		break;
	case 1:
		/* "invalidates all mappings—except global translations—
		 * associated with the PCID specified in the INVPCID descriptor" */
		with_pcid(&s, pcid);
		s.keep_global = true;
		break;
	case 2:
		/* "invalidates mappings—including global translations—
		 * associated with all PCIDs" */
		break;
	default:
		/* "invalidates mappings—except global translations—associated
		 * with all PCIDs" */
		s.keep_global = true;
		break;
	}
	tlb_scope_drop(t, &s, op);
	return TLB_INSN_OK;
}

void tlb_mov_cr3(struct tlb *t, const struct cpu_regs *regs, uint64_t src)
{
	struct tlb_scope s = guest_scope(t, TLB_S_TLB | TLB_S_PSC);

	if (!(regs->cr4 & CR4_PCIDE)) {
		/*
		 * "If CR4.PCIDE = 0, the instruction invalidates all TLB
		 * entries associated with PCID 000H except those for global
		 * pages. It also invalidates all entries in all
		 * paging-structure caches associated with PCID 000H."
		 */
		with_pcid(&s, 0);
	} else if (!(src & CR3_NOFLUSH)) {
		/*
		 * "If CR4.PCIDE = 1 and bit 63 of the instruction's source
		 * operand is 0, the instruction invalidates all TLB entries
		 * associated with the PCID specified in bits 11:0 of the
		 * instruction's source operand except those for global pages.
		 * It also invalidates all entries in all paging-structure
		 * caches associated with the PCID specified in bits 11:0"
		 */
		with_pcid(&s, (uint16_t)(src & CR3_PCID_MASK));
	} else {
		/*
		 * "If CR4.PCIDE = 1 and bit 63 of the instruction's source
		 * operand is 1, the instruction is not required to invalidate
		 * any TLB entries or entries in paging-structure caches."
		 */
		t->st.ops[TLB_OP_MOV_CR3_NOFLUSH]++;
		return;
	}
	s.keep_global = true;
	tlb_flush_scope(t, &s, TLB_OP_MOV_CR3);
}

void tlb_mov_cr4(struct tlb *t, const struct cpu_regs *regs, uint64_t new_cr4)
{
	uint64_t old = regs->cr4;
	struct tlb_scope s = guest_scope(t, TLB_S_TLB | TLB_S_PSC);

	t->st.ops[TLB_OP_MOV_CR4]++;
	/*
	 * "The instruction invalidates all TLB entries (including global
	 * entries) and all entries in all paging-structure caches (for all
	 * PCIDs) if (1) it changes the value of CR4.PGE; or (2) it changes
	 * the value of the CR4.PCIDE from 1 to 0."
	 */
	if (((old ^ new_cr4) & CR4_PGE) || ((old & CR4_PCIDE) && !(new_cr4 & CR4_PCIDE))) {
		tlb_scope_drop(t, &s, TLB_OP_MOV_CR4);
		return;
	}
	/*
	 * "The instruction invalidates all TLB entries and all entries in all
	 * paging-structure caches for the current PCID if (1) it changes the
	 * value of CR4.PAE; or (2) it changes the value of CR4.SMEP from 0 to
	 * 1." Global entries are usable with the current PCID and go too
	 * (model choice; a PAE change also changes the paging mode, so an
	 * entry of the old mode must not survive).
	 */
	if (((old ^ new_cr4) & CR4_PAE) || (!(old & CR4_SMEP) && (new_cr4 & CR4_SMEP))) {
		with_pcid(&s, current_pcid(regs));
		tlb_scope_drop(t, &s, TLB_OP_MOV_CR4);
	}
}

void tlb_mov_cr0(struct tlb *t, const struct cpu_regs *regs, uint64_t new_cr0)
{
	struct tlb_scope s = guest_scope(t, TLB_S_TLB | TLB_S_PSC);

	t->st.ops[TLB_OP_MOV_CR0]++;
	/*
	 * "The instruction invalidates all TLB entries (including global
	 * entries) and all entries in all paging-structure caches (for all
	 * PCIDs) if it changes the value of CR0.PG from 1 to 0."
	 */
	if ((regs->cr0 & CR0_PG) && !(new_cr0 & CR0_PG))
		tlb_scope_drop(t, &s, TLB_OP_MOV_CR0);
}

void tlb_task_switch(struct tlb *t, const struct cpu_regs *regs, uint64_t new_cr3)
{
	struct tlb_scope s = guest_scope(t, TLB_S_TLB | TLB_S_PSC);

	t->st.ops[TLB_OP_TASK_SWITCH]++;
	/*
	 * "If a task switch changes the value of CR3, it invalidates all TLB
	 * entries associated with PCID 000H except those for global pages. It
	 * also invalidates all entries in all paging-structure caches
	 * associated with PCID 000H."
	 */
	if (new_cr3 == regs->cr3)
		return;
	with_pcid(&s, 0);
	s.keep_global = true;
	tlb_scope_drop(t, &s, TLB_OP_TASK_SWITCH);
}

/* ---- VMX (SDM Vol. 3C 29.4.3.1; INVVPID and INVEPT, Vol. 3C ch. 31) ---- */

enum tlb_insn tlb_invvpid(struct tlb *t, uint64_t type, uint64_t desc_lo, uint64_t desc_hi)
{
	uint32_t vpid = (uint32_t)(desc_lo & 0xffff);
	uint64_t la = desc_hi;
	enum paging_mode width = t->cfg.la57 ? PAGING_5LEVEL : PAGING_4LEVEL;
	struct tlb_scope s = guest_scope(t, TLB_S_TLB | TLB_S_PSC);
	enum tlb_op op;

	/*
	 * INVVPID, Operation: VMfail(Invalid operand to INVEPT/INVVPID) for an
	 * unsupported type, if INVVPID_DESC[63:16] is not 0, for types 0, 1
	 * and 3 with VPID 0, and for type 0 with a non-canonical address.
	 * (Every type is modelled as supported.)
	 */
	if (type > 3 || (desc_lo >> 16))
		return TLB_INSN_VMFAIL;
	if (type != 2 && vpid == 0)
		return TLB_INSN_VMFAIL;
	if (type == 0 && !la_is_canonical(la, width))
		return TLB_INSN_VMFAIL;

	op = (enum tlb_op)(TLB_OP_INVVPID0 + type);
	t->st.ops[op]++;
	s.vpid = vpid;
	switch (type) {
	case 0:
		/*
		 * "invalidates linear mappings and combined mappings associated
		 * with the VPID specified in the INVVPID descriptor and that
		 * would be used to translate the linear address specified in of
		 * the INVVPID descriptor. Linear mappings and combined mappings
		 * for that VPID and linear address are invalidated for all
		 * PCIDs and, for combined mappings, all EP4TAs." Globals are
		 * not excepted.
		 */
		with_addr(&s, la);
		break;
	case 1:
		/* "invalidates all linear mappings and combined mappings
		 * associated with the VPID specified ... for all PCIDs and, for
		 * combined mappings, all EP4TAs." */
		break;
	case 2:
		/* "invalidates linear mappings and combined mappings
		 * associated with all VPIDs except VPID 0000H and with all
		 * PCIDs ... Combined mappings are invalidated for all EP4TAs." */
		s.vpid_match = TLB_M_NONZERO;
		break;
	default:
		/*
		 * "The logical processor is not required to invalidate
		 * information that was used for global translations": global
		 * TLB entries stay. PSC entries are dropped as MOV CR3 drops
		 * them (type 3 is the one a VMM uses to emulate MOV CR3,
		 * Vol. 3C 29.4.3.3); keep_global does not affect them.
		 */
		s.keep_global = true;
		break;
	}
	tlb_scope_drop(t, &s, op);
	return TLB_INSN_OK;
}

enum tlb_insn tlb_invept(struct tlb *t, uint64_t type, uint64_t eptp)
{
	/*
	 * "Execution of the INVEPT instruction invalidates guest-physical
	 * mappings and combined mappings" - every structure, any VPID and
	 * PCID ("INVEPT invalidates all the specified mappings for the
	 * indicated EPTP(s) regardless of the VPID and PCID values"); linear
	 * mappings stay.
	 */
	struct tlb_scope s = {
		.structs = TLB_S_ALL,
		.kinds = (1u << TLB_COMBINED) | (1u << TLB_GPHYS),
		.vpid_match = TLB_M_ANY,
		.any_pcid = true,
		.any_root = true,
		.any_addr = true,
		.keep_global = false,
	};
	enum tlb_op op;

	if (type == 1) {
		/* "invalidates all mappings associated with bits 51:12 of the
		 * EPT pointer (EPTP) specified in the INVEPT descriptor" */
		s.any_root = false;
		s.root = eptp & GENMASK64(51, 12);
		op = TLB_OP_INVEPT1;
	} else if (type == 2) {
		/* "invalidates mappings associated with all EPTPs" */
		op = TLB_OP_INVEPT2;
	} else {
		/* "If an unsupported INVEPT type is specified, the instruction fails." */
		return TLB_INSN_VMFAIL;
	}
	/*
	 * Not modelled: VMfail for a type-1 EPTP with which VM entry would
	 * fail (the caller checks the EPTP, e.g. with hw_mmu_init).
	 */
	tlb_flush_scope(t, &s, op);
	return TLB_INSN_OK;
}

void tlb_vmx_transition_novpid(struct tlb *t)
{
	/*
	 * "If the "enable VPID" VM-execution control is 0, VM entries and VM
	 * exits invalidate linear mappings and combined mappings associated
	 * with VPID 0000H (for all PCIDs). Combined mappings for VPID 0000H
	 * are invalidated for all EP4TAs."
	 */
	struct tlb_scope s = guest_scope(t, TLB_S_TLB | TLB_S_PSC);

	s.vpid = 0;
	tlb_flush_scope(t, &s, TLB_OP_VMX_TRANSITION);
}

/* ---- SVM (AMD APM Vol. 2 15.16; Vol. 3 INVLPGA) ---- */

void tlb_invlpga(struct tlb *t, uint64_t la, uint32_t asid)
{
	/*
	 * INVLPGA "invalidates the TLB mapping for the virtual page specified
	 * in rAX and the ASID specified in ECX", global pages included. It
	 * has no PCID operand: the page goes for every PCID of the ASID.
	 * Model choice, as INVLPG: all guest PSC entries of the ASID go too.
	 */
	struct tlb_scope s = guest_scope(t, TLB_S_TLB);

	t->st.ops[TLB_OP_INVLPGA]++;
	s.vpid = asid;
	with_addr(&s, la);
	tlb_scope_drop(t, &s, TLB_OP_INVLPGA);
	s = guest_scope(t, TLB_S_PSC);
	s.vpid = asid;
	tlb_scope_drop(t, &s, TLB_OP_INVLPGA);
}

bool tlb_svm_tlb_control(struct tlb *t, unsigned ctl, uint32_t asid)
{
	struct tlb_scope s = {
		.structs = TLB_S_ALL,
		.kinds = KINDS_ALL,
		.vpid_match = TLB_M_EQ,
		.vpid = asid,
		.any_pcid = true,
		.any_root = true,
		.any_addr = true,
		.keep_global = false,
	};

	/*
	 * VMCB TLB_CONTROL (APM Vol. 2 15.16.1): 00h do nothing;
	 * 01h flush the entire TLB (all entries, all ASIDs); 03h flush this
	 * guest's TLB entries; 07h flush this guest's non-global TLB entries.
	 * Guest-physical (nested) entries of the ASID are its entries too.
	 */
	switch (ctl) {
	case 0:
		return true;
	case 1:
		s.vpid_match = TLB_M_ANY;
		break;
	case 3:
		break;
	case 7:
		s.keep_global = true;
		break;
	default:
		return false;
	}
	tlb_flush_scope(t, &s, TLB_OP_SVM_TLB_CONTROL);
	return true;
}

/* ---- fault invalidations ---- */

void tlb_on_page_fault(struct tlb *t, uint64_t la)
{
	/*
	 * SDM 4.10.4.1: "a page-fault exception resulting from an attempt to
	 * use a linear address will invalidate any TLB entries that are for a
	 * page number corresponding to that linear address and that are
	 * associated with the current PCID. It also invalidates all entries
	 * in the paging-structure caches that would be used for that linear
	 * address and that are associated with the current PCID." Current
	 * VPID and EP4TA; a global entry for the address goes too, since it
	 * is used with the current PCID.
	 */
	struct tlb_scope s = {
		.structs = TLB_S_TLB | TLB_S_PSC,
		.kinds = 1u << t->cur.lin.kind,
		.vpid_match = TLB_M_EQ,
		.vpid = t->cur.lin.vpid,
		.any_root = false,
		.root = t->cur.lin.root,
		.keep_global = false,
	};

	with_pcid(&s, t->cur.lin.pcid);
	with_addr(&s, la);
	tlb_flush_scope(t, &s, TLB_OP_PAGE_FAULT);
}

void tlb_on_nested_fault(struct tlb *t, enum tlb_op op, uint64_t gpa, bool final, uint64_t la)
{
	/*
	 * Vol. 3C 29.4.3.1: "An EPT violation invalidates any guest-physical
	 * mappings (associated with the current EP4TA) that would be used to
	 * translate the guest-physical address that caused the EPT violation.
	 * If that guest-physical address was the translation of a linear
	 * address, the EPT violation also invalidates any combined mappings
	 * for that linear address associated with the current PCID, the
	 * current VPID and the current EP4TA." The same is applied to #NPF
	 * (model choice: the APM states no such rule, and without it a
	 * re-executed access would meet the same cached entries).
	 */
	struct tlb_scope s = {
		.structs = TLB_S_NTLB | TLB_S_NPSC,
		.kinds = 1u << TLB_GPHYS,
		.vpid_match = TLB_M_EQ,
		.vpid = t->cur.nest.vpid,
		.any_pcid = true,
		.any_root = false,
		.root = t->cur.nest.root,
		.keep_global = false,
	};

	t->st.ops[op]++;
	with_addr(&s, gpa);
	tlb_scope_drop(t, &s, op);
	if (!final)
		return;
	s = (struct tlb_scope){
		.structs = TLB_S_TLB | TLB_S_PSC,
		.kinds = 1u << t->cur.lin.kind,
		.vpid_match = TLB_M_EQ,
		.vpid = t->cur.lin.vpid,
		.any_root = false,
		.root = t->cur.lin.root,
		.keep_global = false,
	};
	with_pcid(&s, t->cur.lin.pcid);
	with_addr(&s, la);
	tlb_scope_drop(t, &s, op);
}
