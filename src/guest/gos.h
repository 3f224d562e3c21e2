/*
 * gos.h - the guest OS model: an operating system that runs on vCPUs
 * through vcpu_ops.h only, so the same guest runs natively, under TDP and
 * under shadow paging.
 *
 * What it does, as an OS does:
 *  - boots with paging off, builds its kernel tables (a direct map of guest
 *    RAM in the kernel half, shared by every address space) by writing
 *    through the vCPU at physical addresses, then enables paging on every
 *    vCPU; 32-bit (4 MiB PSE pages for the direct map where they fit), PAE,
 *    4-level and 5-level paging (struct gos_config.mode);
 *  - processes with real x86 page tables in guest memory, always written
 *    through the vCPU at their direct-map address (vcpu_write /
 *    vcpu_cmpxchg), so a shadow-paging hypervisor sees and traps them;
 *  - demand paging of anonymous memory (read faults map a shared zero page)
 *    and of files (a shared page cache, pages mapped by several processes);
 *    fork with copy-on-write, exec, exit, mmap, munmap (INVLPG per page up
 *    to flush_ceiling pages, else a full flush: MOV CR3, or INVPCID with
 *    PCIDs); context switches by MOV CR3 (with PCIDs: the no-flush bit when
 *    the PCID still belongs to the address space); on SMP, TLB shootdowns by
 *    IPI to the vCPUs that may cache the address space;
 *  - its #PF handler decides from its own VMA records and page tables
 *    whether a fault is demand paging, copy-on-write or an error (the
 *    process is killed and counted);
 *  - physical pages are allocated lazily (RAM may be 1 TiB); data pages
 *    are touched (vcpu_touch), never stored; only page tables are.
 *
 * Model choices (where an OS has room):
 *  - 32-bit and PAE: a 3 GiB / 1 GiB split; the direct map covers the first
 *    min(RAM, 896 MiB) ("lowmem", where page tables live); data pages may
 *    be anywhere the format can address (32-bit: below 4 GiB).
 *    PAE address spaces preallocate their three user page directories, so
 *    PDPTEs never change while loaded.
 *  - 4/5-level: the direct map covers all RAM at 0xffff888000000000 /
 *    0xff11000000000000 with 1 GiB pages when the CPU offers them, else
 *    2 MiB pages; user space below 2^47 / 2^56.
 *  - Kernel mappings are global when gos_config.pge.
 *  - Zeroing a new page-table page is not simulated (its cost is the cost
 *    model's pt_page_alloc); the OS keeps the invariant that a freed page
 *    reads as zeros (tables are cleared entry by entry when torn down, data
 *    pages are never stored).
 *  - A new address space gets the kernel's top-level entries written into
 *    its top table (the kernel knows them: no reads).
 *  - Page tables freed by munmap force a full flush (paging-structure
 *    caches may hold them).
 *  - The scheduler: each process lives on one vCPU (the least loaded when
 *    created); gos_run() interleaves the vCPUs round-robin, each running
 *    its processes round-robin for `slice` steps.
 */
#ifndef NESTMMU_GUEST_GOS_H
#define NESTMMU_GUEST_GOS_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/cpu.h"
#include "arch/walk2d.h"
#include "vm/vcpu_ops.h"

#define GOS_MAX_CPUS 64u

struct gos_config {
	enum paging_mode mode;   /* PAGING_32, PAGING_PAE, PAGING_4LEVEL, PAGING_5LEVEL */
	uint64_t ram_bytes;      /* guest RAM as the firmware reports it */
	bool pcid;               /* use PCIDs and INVPCID (4/5-level only) */
	bool pge;                /* global kernel pages */
	bool nx;                 /* EFER.NXE (PAE, 4/5-level) */
	unsigned flush_ceiling;  /* munmap: INVLPG per page up to this many (0: 33) */
	unsigned slice;          /* scheduler time slice, in program steps (0: 64) */
	unsigned npcid;          /* PCIDs per vCPU for address spaces (0: 6; max 64) */
	bool large_dmap;         /* map the direct map with large pages (default true) */
};

/* Defaults: 4-level, 1 GiB RAM, PCID, PGE, NX, large direct-map pages. */
void gos_config_default(struct gos_config *c);

enum gos_status {
	GOS_OK = 0,
	GOS_KILLED = 1,   /* the process was killed (bad access, out of memory) */
	GOS_EINVAL = -1,  /* bad argument (no such process, range, ...) */
	GOS_ENOMEM = -2,  /* the guest is out of physical memory */
	GOS_DEAD = -3,    /* the VM stopped, or the guest kernel failed: gos_error() */
};

const char *gos_status_name(enum gos_status s);

/* mmap protections and flags */
enum { GOS_PROT_READ = 1, GOS_PROT_WRITE = 2, GOS_PROT_EXEC = 4 };
enum { GOS_MAP_PRIVATE = 0, GOS_MAP_SHARED = 1 };

struct gos_stats {
	uint64_t procs_created;  /* spawn + fork + thread */
	uint64_t forks, execs, exits, killed, threads, migrations;
	uint64_t faults;         /* #PF delivered to the handler */
	uint64_t faults_anon;    /* demand: new anonymous page */
	uint64_t faults_zero;    /* demand: the zero page mapped for a read */
	uint64_t faults_file;    /* demand: a page-cache page mapped */
	uint64_t faults_cow;     /* copy-on-write: page copied */
	uint64_t faults_reuse;   /* copy-on-write: sole owner, made writable */
	uint64_t faults_spurious;/* the tables already allowed the access */
	uint64_t faults_bad;     /* errors (process killed) */
	uint64_t oom;            /* faults that found no memory (process killed) */
	uint64_t cache_pages;    /* page-cache pages read in */
	uint64_t mmaps, munmaps;
	uint64_t pages_alloc, pages_free;   /* data pages */
	uint64_t pt_alloc, pt_free;         /* page-table pages (kernel's included) */
	uint64_t ctx_switches;   /* MOV CR3 to another address space */
	uint64_t cr3_noflush;    /* of those, with the PCID no-flush bit */
	uint64_t invlpg, full_flushes, invpcid;
	uint64_t shootdowns, ipis;
	uint64_t touches;        /* user accesses requested */
	uint64_t steps;          /* program steps run by gos_run */
};

struct gos;

/*
 * A process's program: one step per call (gos_run). CONTINUE: go on in
 * this time slice; YIELD: end the slice; WAIT: sleep until a child of the
 * process exits (wait()); EXIT: the process exits.
 */
enum gos_step { GOS_STEP_CONTINUE, GOS_STEP_YIELD, GOS_STEP_WAIT, GOS_STEP_EXIT };
typedef enum gos_step (*gos_step_fn)(struct gos *g, int pid, void *ctx);

/*
 * Boots on vCPUs cpus[0..ncpus-1] (all in their reset state). NULL with
 * *err on failure (bad configuration, the VM died: vcpu_error).
 */
struct gos *gos_boot(struct vcpu *const *cpus, unsigned ncpus, const struct gos_config *cfg,
		     const char **err);
void gos_destroy(struct gos *g);

const struct gos_config *gos_config(const struct gos *g);
const struct gos_stats *gos_stats(const struct gos *g);
unsigned gos_ncpus(const struct gos *g);
struct vcpu *gos_vcpu(struct gos *g, unsigned cpu);
/* Why the guest stopped (after GOS_DEAD), or NULL. */
const char *gos_error(const struct gos *g);

/* ---- for a hypervisor running in this OS (an L1 hypervisor's kernel) ---- */

/* The kernel's address for physical address gpa (the direct map once paging is on). */
uint64_t gos_kernel_va(const struct gos *g, uint64_t gpa);
/*
 * Reserves npages contiguous pages of direct-mapped RAM for a driver that
 * manages them itself (an L1 hypervisor's tables and its guests' memory,
 * as a host reserves memory for its VMs); they are never handed out by
 * the OS again. *first_gfn receives the first. GOS_EINVAL if npages is 0
 * or the direct-mapped zone has not that much left untouched.
 */
enum gos_status gos_reserve(struct gos *g, uint64_t npages, uint64_t *first_gfn);

/* ---- files (the page cache) ---- */

/* A file of `npages` pages; returns its id (>= 0) or GOS_EINVAL. */
int gos_file_create(struct gos *g, uint64_t npages);

/* ---- processes ---- */

/* A new process with an empty address space, on the least loaded vCPU (or `cpu` if < ncpus). */
int gos_spawn(struct gos *g, unsigned cpu);
/* fork: the child (its pid >= 0) shares every page copy-on-write. Negative: gos_status. */
int gos_fork(struct gos *g, int pid);

/* An executable image: pages of `file` [0, text) r-x, [text, text + data) rw- private. */
struct gos_image {
	int file;
	uint64_t text_pages, data_pages;
	uint64_t bss_pages;   /* anonymous, after the data */
	uint64_t stack_pages; /* anonymous, below the top of user space */
};

/* Where exec put things. */
struct gos_layout {
	uint64_t text, data, bss, stack_top; /* stack grows down from stack_top */
};

/* exec: GOS_EINVAL if the process has other threads (model choice). */
enum gos_status gos_exec(struct gos *g, int pid, const struct gos_image *img, struct gos_layout *out);
/*
 * A thread of process pid on vCPU `cpu` (least loaded if >= ncpus): a new
 * task sharing the address space. Returns its pid (>= 0) or a gos_status.
 * A task that exits leaves the address space to the others; the last one
 * tears it down.
 */
int gos_thread(struct gos *g, int pid, unsigned cpu);
/* Moves a task to another vCPU (load balancing): nothing is flushed. */
enum gos_status gos_migrate(struct gos *g, int pid, unsigned cpu);
enum gos_status gos_exit(struct gos *g, int pid);
bool gos_alive(const struct gos *g, int pid);
/* The vCPU a process runs on (-1 if dead). */
int gos_proc_cpu(const struct gos *g, int pid);
/* Live processes. */
unsigned gos_nprocs(const struct gos *g);

/*
 * mmap: `npages` pages anywhere (top-down below the stack); file -1:
 * anonymous. *addr receives the start.
 */
enum gos_status gos_mmap(struct gos *g, int pid, uint64_t npages, unsigned prot, unsigned flags,
			 int file, uint64_t pgoff, uint64_t *addr);
/* munmap of [addr, addr + npages * 4 KiB) (page aligned; holes allowed). */
enum gos_status gos_munmap(struct gos *g, int pid, uint64_t addr, uint64_t npages);

/*
 * A user access by the process (CPL 3): switches its vCPU to it if needed,
 * accesses, runs the #PF handler on a fault and retries. GOS_OK, or
 * GOS_KILLED (the access was an error: the process is gone).
 */
enum gos_status gos_touch(struct gos *g, int pid, uint64_t va, enum access_type type);
/* Instructions that are not memory accesses, executed by the process. */
enum gos_status gos_compute(struct gos *g, int pid, uint64_t instructions);

/* ---- scheduler ---- */

void gos_set_program(struct gos *g, int pid, gos_step_fn fn, void *ctx);
/*
 * Runs every process that has a program until none is left or max_steps
 * steps were run (0: no limit). GOS_OK or GOS_DEAD.
 */
enum gos_status gos_run(struct gos *g, uint64_t max_steps);

/* ---- checking ---- */

/*
 * Called after every guest operation (fault handled, fork, exec, exit,
 * mmap, munmap, context switch) when set; a non-zero return stops the
 * guest (GOS_DEAD) with `msg`. See check.h.
 */
typedef int (*gos_check_fn)(void *ctx, struct gos *g, char *msg, unsigned len);
void gos_set_check(struct gos *g, gos_check_fn fn, void *ctx);

#endif
