/*
 * hv_nest_vmcs.c - L1's accesses to the control structure it runs L2 with
 * (VMCS12 on Intel, VMCB12 on AMD), every nested configuration alike.
 *
 * An L1 hypervisor learns why L2 exited and tells the processor how to run
 * L2 through that structure, so a reflected exit costs L1 an access per
 * field it needs:
 *   Intel  VMREAD / VMWRITE instructions. With VMCS shadowing (SDM Vol. 3C
 *          25.10, 26.3 "VMREAD/VMWRITE of a shadow VMCS") they complete in
 *          L1 without an exit; without it each is an exit to L0 (SDM Vol.
 *          3C 26.1.3: VMREAD and VMWRITE exit unconditionally in VMX
 *          non-root operation unless shadowing applies), counted as
 *          exits.l1.by_l0.vmread_vmwrite.
 *   AMD    the VMCB is memory (APM Vol. 2 15.5, Appendix B): each field is
 *          an 8-byte access by L1 at the VMCB12 page L1 gave VMRUN, through
 *          the L1 port (L1's TLB, EPT01/NPT01, L0's traps).
 *
 * Which fields: at a reflected exit, those the processor records for its
 * reason (SDM Vol. 3C 28.2.1-28.2.4; APM 15.7 EXITCODE/EXITINFO1/EXITINFO2):
 *   always              exit reason / EXITCODE
 *   EPT violation       qualification, guest-physical address, guest
 *                       linear address when the qualification says it is
 *                       valid (bit 7)
 *   EPT misconfig       guest-physical address
 *   #NPF                EXITINFO1 (error code), EXITINFO2 (gpa)
 *   #PF (exception)     interruption information, error code, qualification
 *                       (the faulting address) / EXITINFO1, EXITINFO2
 *   MOV CR, INVLPG      qualification / EXITINFO1, then the instruction
 *                       length and RIP (read, and RIP written back to skip
 *                       the emulated instruction; AMD: nRIP and RIP)
 *   INVPCID             the same plus the VM-exit instruction information
 *   WRMSR, VMCALL       instruction length, RIP read and written
 *   IPI (APIC write)    qualification (the register offset)
 *   interrupt           interruption information
 * and after L1's handler, an injected event is two writes (VM-entry
 * interruption information and error code / EVENTINJ and its error code).
 * At every entry L1 writes each field of its L2 state that changed since
 * the previous entry of that vCPU: guest CR0, CR3, CR4, EFER, the EPTP /
 * nCR3, the VPID / ASID, the exception bitmap (intercepts).
 */
#include <stdlib.h>
#include <string.h>

#include "arch/x86.h"
#include "vm/hv_nest_internal.h"

/* VMCB offsets (APM Vol. 2 Appendix B, Tables B-1 and B-2). */
enum {
	VMCB_INTERCEPT_EXC = 0x008,
	VMCB_ASID = 0x058,
	VMCB_EXITCODE = 0x070,
	VMCB_EXITINFO1 = 0x078,
	VMCB_EXITINFO2 = 0x080,
	VMCB_EXITINTINFO = 0x088,
	VMCB_EVENTINJ = 0x0a8,
	VMCB_NCR3 = 0x0b0,
	VMCB_NRIP = 0x0c8,
	VMCB_EFER = 0x4d0,
	VMCB_CR4 = 0x548,
	VMCB_CR3 = 0x550,
	VMCB_CR0 = 0x558,
	VMCB_RIP = 0x578,
	VMCB_EVENTINJ_ERR = 0x0ac, /* the upper half of EVENTINJ */
};

struct nest_vmcs {
	bool amd;
	bool shadowing;          /* Intel: VMCS shadowing on */
	uint64_t *vmcb12;        /* AMD: the VMCB12 page of each vCPU (L1 gpa) */
	struct hv_hw *last;      /* the L2 state L1 last wrote, per vCPU */
	bool *written;           /* last[] holds something */
};

/* One field access of L1 (offset: the VMCB offset on AMD; any value on Intel). */
static void field(struct hv_nest *h, struct vcpu *v2, unsigned off, bool write)
{
	struct nest_vmcs *m = h->vmcs;
	uint64_t val = 0;

	if (m->amd) {
		uint64_t gpa = m->vmcb12[vcpu_id(v2)] + (off & ~7u);

		/* an L1 memory access; a fault is counted by the port (its failures) */
		if (write)
			(void)mem_port_write(&h->port.port, gpa, 8, val);
		else
			(void)mem_port_read(&h->port.port, gpa, 8, &val);
		return;
	}
	h->cnt->instructions[CNT_L1]++;
	if (!m->shadowing)
		h->cnt->exits[CNT_L1][CNT_BY_L0][CNT_EXIT_VMREAD_VMWRITE]++;
}

#define RD(off) field(h, v2, (off), false)
#define WR(off) field(h, v2, (off), true)

void nest_vmcs_exit_read(struct hv_nest *h, struct vcpu *v2, const struct hv_exit *e)
{
	if (!h->vmcs)
		return;
	l1_port_set_vcpu(&h->port, nest_l1_vcpu(h, v2));
	RD(VMCB_EXITCODE);
	switch (e->reason) {
	case HV_EXIT_EPT_VIOLATION:
		RD(VMCB_EXITINFO1); /* qualification */
		RD(VMCB_EXITINFO2); /* guest-physical address */
		if (e->xlate.qualification & (UINT64_C(1) << 7))
			RD(VMCB_EXITINTINFO); /* guest linear address */
		break;
	case HV_EXIT_EPT_MISCONFIG:
		RD(VMCB_EXITINFO2);
		break;
	case HV_EXIT_NPF:
	case HV_EXIT_PF:
		RD(VMCB_EXITINFO1);
		RD(VMCB_EXITINFO2);
		if (!h->vmcs->amd && e->reason == HV_EXIT_PF)
			RD(VMCB_EXITINTINFO); /* interruption information */
		break;
	case HV_EXIT_CR0:
	case HV_EXIT_CR3:
	case HV_EXIT_CR4:
	case HV_EXIT_INVLPG:
	case HV_EXIT_INVPCID:
		RD(VMCB_EXITINFO1);
		if (e->reason == HV_EXIT_INVPCID && !h->vmcs->amd)
			RD(VMCB_EXITINFO2); /* VM-exit instruction information */
		/* fall through - the instruction is skipped */
	case HV_EXIT_EFER:
	case HV_EXIT_HYPERCALL:
		RD(VMCB_NRIP); /* instruction length / next RIP */
		RD(VMCB_RIP);
		WR(VMCB_RIP);
		break;
	case HV_EXIT_IPI:
	case HV_EXIT_INTR:
		RD(VMCB_EXITINFO1);
		break;
	case HV_EXIT_COUNT:
		break;
	}
}

void nest_vmcs_exit_done(struct hv_nest *h, struct vcpu *v2, enum hv_action a)
{
	if (!h->vmcs || a != HV_INJECT)
		return;
	l1_port_set_vcpu(&h->port, nest_l1_vcpu(h, v2));
	WR(VMCB_EVENTINJ);
	WR(VMCB_EVENTINJ_ERR);
}

void nest_vmcs_entry_write(struct hv_nest *h, struct vcpu *v2, const struct hv_hw *hw12)
{
	struct nest_vmcs *m = h->vmcs;
	unsigned i = vcpu_id(v2);
	const struct hv_hw *o;
	bool all;

	if (!m)
		return;
	o = &m->last[i];
	all = !m->written[i];
	l1_port_set_vcpu(&h->port, nest_l1_vcpu(h, v2));
	if (all || o->cfg.cpu.regs.cr0 != hw12->cfg.cpu.regs.cr0)
		WR(VMCB_CR0);
	if (all || o->cfg.cpu.regs.cr3 != hw12->cfg.cpu.regs.cr3)
		WR(VMCB_CR3);
	if (all || o->cfg.cpu.regs.cr4 != hw12->cfg.cpu.regs.cr4)
		WR(VMCB_CR4);
	if (all || o->cfg.cpu.regs.efer != hw12->cfg.cpu.regs.efer)
		WR(VMCB_EFER);
	if (all || o->cfg.eptp != hw12->cfg.eptp || o->cfg.ncr3 != hw12->cfg.ncr3)
		WR(VMCB_NCR3);
	if (all || o->vpid != hw12->vpid)
		WR(VMCB_ASID);
	if (all || o->intercepts != hw12->intercepts)
		WR(VMCB_INTERCEPT_EXC);
	m->last[i] = *hw12;
	m->written[i] = true;
}

bool nest_vmcs_init(struct hv_nest *h, const char **err)
{
	unsigned n = vm_ncpus(h->vm1);
	struct nest_vmcs *m = calloc(1, sizeof(*m));

	if (!m || !(m->last = calloc(n, sizeof(*m->last))) || !(m->written = calloc(n, sizeof(*m->written))) ||
	    !(m->vmcb12 = calloc(n, sizeof(*m->vmcb12)))) {
		h->vmcs = m;
		*err = "out of memory";
		return false;
	}
	h->vmcs = m;
	m->amd = vm_config(h->vm1)->vendor == CPU_AMD;
	m->shadowing = !h->cfg.no_vmcs_shadowing;
	if (!m->amd)
		return true;
	for (unsigned i = 0; i < n; i++) {
		l1_port_set_vcpu(&h->port, vm_vcpu(h->vm1, i));
		if (mem_port_alloc_table(&h->port.port, &m->vmcb12[i]) != MEM_OK) {
			*err = "nested: no L1 memory for the VMCB12 pages";
			return false;
		}
	}
	return true;
}

void nest_vmcs_fini(struct hv_nest *h)
{
	struct nest_vmcs *m = h->vmcs;

	if (!m)
		return;
	if (m->vmcb12)
		for (unsigned i = 0; i < vm_ncpus(h->vm1); i++)
			if (m->vmcb12[i])
				(void)mem_port_free_table(&h->port.port, m->vmcb12[i]);
	free(m->vmcb12);
	free(m->last);
	free(m->written);
	free(m);
	h->vmcs = NULL;
}
