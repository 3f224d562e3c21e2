/*
 * vmt.h - helpers of the vCPU tests: a VM, and 4-level guest tables
 * written through the vCPU while paging is off (linear = physical).
 */
#ifndef NESTMMU_TESTS_VM_VMT_H
#define NESTMMU_TESTS_VM_VMT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86.h"
#include "vm/vcpu.h"
#include "vm/vm.h"

#define VMT_RAM     (UINT64_C(64) << 20)
#define VMT_TABLES  UINT64_C(0x100000)   /* guest tables allocated from 1 MiB up */
#define VMT_NONLEAF (PTE_P | PTE_RW | PTE_US)

struct vmt {
	struct vm *vm;
	struct vcpu *v;
	uint64_t next_table;
	uint64_t root;
	unsigned levels; /* of the tables vmt_entry builds: 4 (0) or 5 */
};

static inline struct vm *vmt_vm(unsigned ncpus, enum cpu_vendor vendor)
{
	struct vm_config c;
	const char *err = NULL;
	struct vm *vm;

	vm_config_default(&c);
	c.ram_bytes = VMT_RAM;
	c.ncpus = ncpus;
	c.vendor = vendor;
	vm = vm_create(&c, &err);
	if (!vm)
		fail_msg("vm_create: %s", err);
	return vm;
}

static inline void vmt_init(struct vmt *t, unsigned ncpus)
{
	t->vm = vmt_vm(ncpus, CPU_INTEL);
	t->v = vm_vcpu(t->vm, 0);
	t->next_table = VMT_TABLES;
	t->root = 0;
	t->levels = 4;
}

static inline uint64_t vmt_rd(struct vmt *t, uint64_t pa)
{
	uint64_t val = 0;

	assert_int_equal(vcpu_read(t->v, pa, 8, &val, NULL), VCPU_OK);
	return val;
}

static inline void vmt_wr(struct vmt *t, uint64_t pa, uint64_t val)
{
	assert_int_equal(vcpu_write(t->v, pa, 8, val, NULL), VCPU_OK);
}

static inline uint64_t vmt_table(struct vmt *t)
{
	uint64_t p = t->next_table;

	t->next_table += 0x1000;
	return p;
}

/* Physical address of the 4-level entry of `level` for `la` (tables created; paging off). */
static inline uint64_t vmt_entry(struct vmt *t, uint64_t la, unsigned level)
{
	uint64_t table;

	if (!t->root)
		t->root = vmt_table(t);
	table = t->root;
	for (unsigned l = t->levels ? t->levels : 4; l > level; l--) {
		uint64_t ea = table + ((la >> (12 + 9 * (l - 1))) & 511) * 8;
		uint64_t e = vmt_rd(t, ea);

		if (!(e & PTE_P)) {
			e = vmt_table(t) | VMT_NONLEAF;
			vmt_wr(t, ea, e);
		}
		table = e & GENMASK64(51, 12);
	}
	return table + ((la >> (12 + 9 * (level - 1))) & 511) * 8;
}

static inline void vmt_map(struct vmt *t, uint64_t la, uint64_t gpa, uint64_t flags)
{
	vmt_wr(t, vmt_entry(t, la, 1), gpa | flags);
}

/* 4-level (5-level with t->levels 5) paging on with CR3 = root, CR4 = PAE | cr4_extra. */
static inline void vmt_paging_on(struct vmt *t, struct vcpu *v, uint64_t cr4_extra)
{
	bool five = t->levels == 5;

	assert_int_equal(vcpu_mov_cr4(v, CR4_PAE | cr4_extra | (five ? CR4_LA57 : 0)), VCPU_OK);
	assert_int_equal(vcpu_wrmsr_efer(v, EFER_LME | EFER_NXE), VCPU_OK);
	assert_int_equal(vcpu_mov_cr3(v, t->root), VCPU_OK);
	assert_int_equal(vcpu_mov_cr0(v, CR0_PE | CR0_PG | CR0_WP), VCPU_OK);
	assert_int_equal(cpu_paging_mode(&vcpu_cpu(v)->regs), five ? PAGING_5LEVEL : PAGING_4LEVEL);
	assert_true(vcpu_cpu(v)->regs.efer & EFER_LMA);
}

#endif
