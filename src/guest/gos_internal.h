/*
 * gos_internal.h - the guest OS model's data structures, shared by its
 * files (boot.c, palloc.c, gpt.c, mm.c, fault.c, fork.c, pagecache.c,
 * sched.c, tlbflush.c) and by the checker (check.c), which reads them to
 * compare the OS's records with what the hardware sees.
 */
#ifndef NESTMMU_GUEST_GOS_INTERNAL_H
#define NESTMMU_GUEST_GOS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "guest/gos.h"
#include "guest/gpt.h"
#include "guest/palloc.h"
#include "mem/u64map.h"

/* A virtual memory area: [start, end), page aligned. */
struct gvma {
	uint64_t start, end;
	unsigned prot;   /* GOS_PROT_* */
	unsigned flags;  /* GOS_MAP_* */
	int file;        /* -1: anonymous */
	uint64_t pgoff;  /* file page of `start` */
};

/* An address space. */
struct gmm {
	uint64_t id;         /* unique, never reused (PCID slots refer to it) */
	uint64_t pgd;        /* gpa of the top table (the PDPT for PAE) */
	struct gvma *vma;    /* sorted by start, disjoint */
	unsigned nvma, cap;
	unsigned users;      /* tasks (processes and their threads) using it */
	uint64_t cpumask;    /* vCPUs that may cache translations of it */
	uint64_t pt_pages;   /* its page-table pages, the top one included */
};

enum gproc_state { GP_FREE, GP_LIVE };

struct gproc {
	int pid, ppid;
	enum gproc_state state;
	struct gmm *mm;
	unsigned cpu;
	gos_step_fn step;
	void *step_ctx;
	bool waiting;    /* GOS_STEP_WAIT: asleep until a child exits */
};

/* A PCID slot of a vCPU: PCID = slot + 1, owned by an address space. */
struct gpcid {
	struct gmm *mm; /* NULL: free */
};

#define GOS_MAX_PCID 64u

struct gcpu {
	struct vcpu *v;
	struct gmm *cur_mm;   /* loaded in CR3; NULL: the kernel's tables */
	uint16_t cur_pcid;    /* PCID of CR3 (0: kernel or PCIDs off) */
	struct gpcid slot[GOS_MAX_PCID];
	unsigned next_slot;
	int *rq;              /* pids of the processes living here */
	unsigned nrq, caprq, rr;
};

struct gos {
	struct gos_config cfg;
	struct gpt_geom geom;
	struct palloc pa;
	struct gcpu cpu[GOS_MAX_CPUS];
	unsigned ncpus;
	bool paging;          /* paging enabled (tables reached through the direct map) */
	uint64_t kpgd;        /* the kernel's top table (gpa) */
	/* the kernel's top-level entries, copied into every address space */
	unsigned nktop;
	uint32_t ktop_idx[512];
	uint64_t ktop_val[512];
	uint64_t zero_gfn;    /* the shared zero page */
	/* processes */
	struct gproc **proc;
	unsigned nproc, capproc, nlive;
	uint64_t next_mm_id;
	/* page cache: (file << 40 | index) -> gfn */
	struct u64map cache;
	uint64_t *file_pages;
	unsigned nfiles, capfiles;
	struct gos_stats st;
	/* the last munmap (for checkers: no translation of it may survive) */
	struct gmm *unmap_mm;
	uint64_t unmap_start, unmap_end;
	bool dead;
	char err[256];
	gos_check_fn check;
	void *check_ctx;
};

/* ---- errors ---- */
enum gos_status gos_fail(struct gos *g, const char *fmt, ...);
/* The vCPU died or delivered an unexpected fault to the kernel. */
enum gos_status gos_vcpu_fail(struct gos *g, struct vcpu *v, enum vcpu_status s, const char *what);
/* Runs the check hook (if any). */
enum gos_status gos_checkpoint(struct gos *g, const char *what);

struct gproc *gos_proc(const struct gos *g, int pid);

/* ---- page tables of an address space through the vCPU (gpt.c) ---- */
/* Allocates a zeroed page-table page (lowmem). */
enum gos_status gos_pt_alloc(struct gos *g, struct vcpu *v, uint64_t *gpa);
void gos_pt_free(struct gos *g, struct vcpu *v, uint64_t gpa);
/* The address the kernel uses for physical address gpa (the direct map once paging is on). */
uint64_t gos_pt_va(const struct gos *g, uint64_t gpa);
/* One entry at guest-physical `egpa`, through the vCPU (CPL 0). */
enum gos_status gos_pte_read(struct gos *g, struct vcpu *v, uint64_t egpa, uint64_t *e);
enum gos_status gos_pte_write(struct gos *g, struct vcpu *v, uint64_t egpa, uint64_t e);
/* Compare-exchange; *seen receives the entry found (== old on success). */
enum gos_status gos_pte_cmpxchg(struct gos *g, struct vcpu *v, uint64_t egpa, uint64_t old, uint64_t e,
				uint64_t *seen);
/*
 * The gpa of va's level-1 entry in mm's tables (*pte = 0 if an upper entry
 * is absent and !create; with create, missing tables are allocated).
 */
enum gos_status gos_pt_walk(struct gos *g, struct vcpu *v, struct gmm *mm, uint64_t va, bool create,
			    uint64_t *pte);

/* ---- address spaces (mm.c) ---- */
enum gos_status gos_mm_create(struct gos *g, struct vcpu *v, struct gmm **out);
/* Tears down every mapping and table, frees the mm. It must not be loaded on any vCPU. */
enum gos_status gos_mm_destroy(struct gos *g, struct vcpu *v, struct gmm *mm);
struct gvma *gos_vma_find(struct gmm *mm, uint64_t va);
enum gos_status gos_vma_insert(struct gmm *mm, const struct gvma *vma);
/* Unmaps [start, end) of mm: PTEs cleared, pages released, empty tables freed. *freed_tables set if any. */
enum gos_status gos_zap_range(struct gos *g, struct vcpu *v, struct gmm *mm, uint64_t start, uint64_t end,
			      bool *freed_tables, uint64_t *zapped);
/* Drops one mapping reference of the page of a PTE. */
void gos_page_unref(struct gos *g, uint64_t gfn);

/* ---- page cache (pagecache.c) ---- */
/* The frame of file page `index`, read in if absent (*gfn). GOS_ENOMEM if no memory. */
enum gos_status gos_cache_get(struct gos *g, int file, uint64_t index, uint64_t *gfn);
void gos_cache_fini(struct gos *g);

/* ---- faults (fault.c) ---- */
/* Handles a #PF of the current process on its vCPU. GOS_OK (retry), GOS_KILLED, GOS_DEAD. */
enum gos_status gos_handle_fault(struct gos *g, struct gproc *p, const struct guest_fault *f);

/* ---- scheduling and context switch (sched.c) ---- */
/* Makes p current on its vCPU (switches address space if needed). */
enum gos_status gos_enter(struct gos *g, struct gproc *p);
/* Loads `mm` (NULL: the kernel's tables) on vCPU c. */
enum gos_status gos_switch_mm(struct gos *g, unsigned c, struct gmm *mm);
/* Forgets mm on every vCPU (PCID slots); it must not be current anywhere. */
void gos_forget_mm(struct gos *g, struct gmm *mm);
/* Removes a process: its mm destroyed, its runqueue entry dropped. */
enum gos_status gos_reap(struct gos *g, struct gproc *p);
int gos_rq_add(struct gos *g, unsigned c, int pid);
void gos_rq_del(struct gos *g, unsigned c, int pid);
unsigned gos_pick_cpu(const struct gos *g);

/* ---- TLB maintenance (tlbflush.c) ---- */
/*
 * After changing mm's PTEs for [start, end) on vCPU `local` (where mm is
 * current): local invalidation and shootdown of the other vCPUs in mm's
 * cpumask. `full` forces a full flush (tables freed, or a whole-mm flush).
 */
enum gos_status gos_flush_range(struct gos *g, unsigned local, struct gmm *mm, uint64_t start,
				uint64_t end, bool full);

/* ---- boot (boot.c) ---- */
enum gos_status gos_boot_kernel(struct gos *g);
enum gos_status gos_boot_cpu(struct gos *g, unsigned c);

#endif
