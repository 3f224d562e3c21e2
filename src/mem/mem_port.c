/*
 * mem_port.c - status names and the adapter from a mem_port to the
 * hardware layer's struct pmem (reads and compare-exchanges, repeating an
 * access the level below answered MEM_RETRY a bounded number of times).
 */
#include "mem/mem_port.h"

#include <stddef.h>

const char *mem_status_name(enum mem_status s)
{
	switch (s) {
	case MEM_OK: return "ok";
	case MEM_CHANGED: return "changed";
	case MEM_RETRY: return "retry";
	case MEM_MMIO: return "mmio";
	case MEM_READONLY: return "read-only";
	case MEM_OUTSIDE: return "outside";
	case MEM_NOMEM: return "out of frames";
	case MEM_INVALID: return "invalid access";
	}
	return "unknown";
}

enum pmem_status mem_status_to_pmem(enum mem_status s)
{
	switch (s) {
	case MEM_OK: return PMEM_OK;
	case MEM_CHANGED: return PMEM_CHANGED;
	default: return PMEM_OUTSIDE;
	}
}

static enum pmem_status port_pmem_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
	struct mem_port *p = ctx;
	enum mem_status s = MEM_RETRY;

	for (unsigned i = 0; i <= MEM_PORT_PMEM_RETRIES && s == MEM_RETRY; i++)
		s = mem_port_read(p, pa, size, val);
	return mem_status_to_pmem(s);
}

static enum pmem_status port_pmem_cmpxchg(void *ctx, uint64_t pa, unsigned size, uint64_t expected,
					  uint64_t desired)
{
	struct mem_port *p = ctx;
	enum mem_status s = MEM_RETRY;

	for (unsigned i = 0; i <= MEM_PORT_PMEM_RETRIES && s == MEM_RETRY; i++)
		s = mem_port_cmpxchg(p, pa, size, expected, desired, NULL);
	return mem_status_to_pmem(s);
}

static const struct pmem_ops port_pmem_ops = {
	.read = port_pmem_read,
	.cmpxchg = port_pmem_cmpxchg,
};

struct pmem mem_port_pmem(struct mem_port *p)
{
	return (struct pmem){ .ops = &port_pmem_ops, .ctx = p };
}
