/*
 * x86.h - architectural constants of the x86 MMU, named after the manuals.
 *
 * Intel SDM Vol. 3A ch. 2 (control registers), ch. 4 (paging),
 * Vol. 3C ch. 29 "VMX support for address translation" (EPT);
 * AMD APM Vol. 2 ch. 5 (page translation) and 15.25 (nested paging).
 *
 * Plain named constants; no bit-twiddling macros beyond BIT/GENMASK.
 */
#ifndef NESTMMU_ARCH_X86_H
#define NESTMMU_ARCH_X86_H

#include <stdint.h>

#define BIT64(n)          (UINT64_C(1) << (n))
/* bits hi..lo inclusive; hi >= lo, both < 64 */
#define GENMASK64(hi, lo) ((~UINT64_C(0) >> (63 - (hi))) & ~(BIT64(lo) - 1))

#define PAGE_SHIFT_4K 12
#define PAGE_SIZE_4K  (UINT64_C(1) << 12)
#define PAGE_SIZE_2M  (UINT64_C(1) << 21)
#define PAGE_SIZE_4M  (UINT64_C(1) << 22)
#define PAGE_SIZE_1G  (UINT64_C(1) << 30)

/* CR0 (SDM 2.5) */
#define CR0_PE BIT64(0)
#define CR0_WP BIT64(16)
#define CR0_PG BIT64(31)

/* CR3 (SDM 4.5.2, Table 4-12/4-13) */
#define CR3_PWT      BIT64(3)
#define CR3_PCD      BIT64(4)
#define CR3_PCID_MASK GENMASK64(11, 0)
#define CR3_NOFLUSH  BIT64(63) /* MOV CR3 operand only, with CR4.PCIDE=1 */

/* CR4 (SDM 2.5) */
#define CR4_PSE   BIT64(4)
#define CR4_PAE   BIT64(5)
#define CR4_PGE   BIT64(7)
#define CR4_LA57  BIT64(12)
#define CR4_PCIDE BIT64(17)
#define CR4_SMEP  BIT64(20)
#define CR4_SMAP  BIT64(21)
#define CR4_PKE   BIT64(22)

/* IA32_EFER (SDM 2.2.1) */
#define EFER_SCE BIT64(0)
#define EFER_LME BIT64(8)
#define EFER_LMA BIT64(10)
#define EFER_NXE BIT64(11)

/* RFLAGS */
#define RFLAGS_AC BIT64(18)

/* Paging-structure entries, 32-bit/PAE/4-level/5-level (SDM 4.3-4.5) */
#define PTE_P    BIT64(0)
#define PTE_RW   BIT64(1)
#define PTE_US   BIT64(2)
#define PTE_PWT  BIT64(3)
#define PTE_PCD  BIT64(4)
#define PTE_A    BIT64(5)
#define PTE_D    BIT64(6)
#define PTE_PS   BIT64(7)   /* in PDE/PDPTE; PAT in a 4K PTE */
#define PTE_G    BIT64(8)
#define PTE_PAT_LARGE BIT64(12) /* PAT bit of a 2M/4M/1G leaf */
#define PTE_XD   BIT64(63)
#define PTE_PKEY_SHIFT 59   /* bits 62:59, leaf only, IA-32e paging */
#define PTE_PKEY_MASK  GENMASK64(62, 59)

/* Page-fault error code (SDM 4.7, Figure 4-12) */
#define PFEC_P    (1u << 0)
#define PFEC_W    (1u << 1)
#define PFEC_U    (1u << 2)
#define PFEC_RSVD (1u << 3)
#define PFEC_ID   (1u << 4)
#define PFEC_PK   (1u << 5)

/* EPT paging-structure entries (SDM Vol. 3C 29.3.2, Tables 29-1..29-7) */
#define EPT_R        BIT64(0)
#define EPT_W        BIT64(1)
#define EPT_X        BIT64(2)   /* supervisor-mode execute when MBEC is on */
#define EPT_MT_SHIFT 3          /* bits 5:3, leaf only */
#define EPT_MT_MASK  GENMASK64(5, 3)
#define EPT_IPAT     BIT64(6)
#define EPT_PS       BIT64(7)
#define EPT_A        BIT64(8)
#define EPT_D        BIT64(9)
#define EPT_XU       BIT64(10)  /* user-mode execute, with MBEC */

/* EPT memory types (SDM 29.3.7) */
#define MT_UC 0
#define MT_WC 1
#define MT_WT 4
#define MT_WP 5
#define MT_WB 6

/* EPTP (SDM Vol. 3C 25.6.11) */
#define EPTP_MT_MASK       GENMASK64(2, 0)
#define EPTP_WALK_SHIFT    3          /* bits 5:3: walk length minus 1 */
#define EPTP_WALK_MASK     GENMASK64(5, 3)
#define EPTP_AD            BIT64(6)
#define EPTP_SSS           BIT64(7)
#define EPTP_RSVD_LOW      GENMASK64(11, 8)

/* Exit qualification for EPT violations (SDM Vol. 3C Table 28-7) */
#define EPTQ_READ       BIT64(0)
#define EPTQ_WRITE      BIT64(1)
#define EPTQ_FETCH      BIT64(2)
#define EPTQ_READABLE   BIT64(3)
#define EPTQ_WRITABLE   BIT64(4)
#define EPTQ_EXECUTABLE BIT64(5)   /* supervisor-executable with MBEC */
#define EPTQ_USER_EXEC  BIT64(6)   /* with MBEC; undefined (0 here) otherwise */
#define EPTQ_GLA_VALID  BIT64(7)
#define EPTQ_FINAL      BIT64(8)   /* translation of the linear address, not a paging-structure access */

/* #NPF EXITINFO1 (AMD APM Vol. 2 15.25.6) */
#define NPF_P         BIT64(0)
#define NPF_W         BIT64(1)
#define NPF_U         BIT64(2)
#define NPF_RSVD      BIT64(3)
#define NPF_ID        BIT64(4)
#define NPF_FINAL     BIT64(32)  /* fault on the final guest-physical translation */
#define NPF_GUEST_PT  BIT64(33)  /* fault on a guest page-table access */

#endif
