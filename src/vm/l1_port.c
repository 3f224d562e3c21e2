/*
 * l1_port.c - the L1 hypervisor's memory port (l1_port.h).
 */
#include "vm/l1_port.h"

#include <string.h>

static bool aligned(uint64_t pa, unsigned size)
{
	return (size == 4 || size == 8) && !(pa & (size - 1));
}

static enum mem_status from_vcpu(struct l1_port *p, enum vcpu_status s)
{
	if (s == VCPU_OK)
		return MEM_OK;
	p->failures++;
	return MEM_OUTSIDE;
}

static enum mem_status l1_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
	struct l1_port *p = ctx;
	struct guest_fault f;

	if (!aligned(pa, size))
		return MEM_INVALID;
	return from_vcpu(p, vcpu_read(p->v, p->kva_base + pa, size, val, &f));
}

static enum mem_status l1_write(void *ctx, uint64_t pa, unsigned size, uint64_t val)
{
	struct l1_port *p = ctx;
	struct guest_fault f;

	if (!aligned(pa, size))
		return MEM_INVALID;
	return from_vcpu(p, vcpu_write(p->v, p->kva_base + pa, size, val, &f));
}

static enum mem_status l1_cmpxchg(void *ctx, uint64_t pa, unsigned size, uint64_t expected, uint64_t desired,
				  uint64_t *seen)
{
	struct l1_port *p = ctx;
	struct guest_fault f;
	bool changed = false;
	enum mem_status s;
	uint64_t mask = size == 4 ? UINT64_C(0xffffffff) : ~UINT64_C(0);

	if (!aligned(pa, size))
		return MEM_INVALID;
	s = from_vcpu(p, vcpu_cmpxchg(p->v, p->kva_base + pa, size, expected, desired, &changed, &f));
	if (s != MEM_OK)
		return s;
	if (!changed) {
		if (seen)
			*seen = expected & mask;
		return MEM_OK;
	}
	/* LOCK CMPXCHG leaves the value found in the accumulator; the model reads it back */
	if (seen && (s = l1_read(ctx, pa, size, seen)) != MEM_OK)
		return s;
	return MEM_CHANGED;
}

/* clear_page by L1's vCPU: store zero over every word that is not zero already */
static enum mem_status l1_clear_page(struct l1_port *p, uint64_t gfn)
{
	uint64_t w;
	enum mem_status s;

	for (unsigned i = 0; i < 512; i++) {
		uint64_t gpa = (gfn << 12) + 8 * i;

		if (guestmem_read(p->l1_view, gpa, 8, &w) != MEM_OK || !w)
			continue;
		if ((s = l1_write(p, gpa, 8, 0)) != MEM_OK)
			return s;
	}
	return MEM_OK;
}

static enum mem_status l1_alloc_table(void *ctx, uint64_t *pa)
{
	struct l1_port *p = ctx;
	uint64_t gfn;
	enum mem_status s;

	if (frames_alloc(p->frames, &gfn))
		return MEM_NOMEM;
	if ((s = l1_clear_page(p, gfn)) != MEM_OK) {
		frames_free(p->frames, gfn);
		return s;
	}
	*pa = gfn << 12;
	return MEM_OK;
}

/*
 * The frames also back the L2 guest's RAM on first touch, which must read
 * as zeros (the L1 kernel gives its guest zeroed pages): a table page is
 * cleared before its frame goes back - the stores L1 makes for that page,
 * made when the table is freed rather than when the frame is reused. A
 * page that cannot be cleared is kept (never handed out dirty).
 */
static enum mem_status l1_free_table(void *ctx, uint64_t pa)
{
	struct l1_port *p = ctx;
	enum mem_status s;

	if (pa & 0xfff)
		return MEM_INVALID;
	if (!frames_is_allocated(p->frames, pa >> 12))
		return MEM_INVALID;
	if ((s = l1_clear_page(p, pa >> 12)) != MEM_OK)
		return s;
	return frames_free(p->frames, pa >> 12) ? MEM_INVALID : MEM_OK;
}

static const struct mem_port_ops l1_ops = {
	.read = l1_read,
	.write = l1_write,
	.cmpxchg = l1_cmpxchg,
	.alloc_table = l1_alloc_table,
	.free_table = l1_free_table,
};

void l1_port_init(struct l1_port *p, uint64_t kva_base, struct vcpu *v, struct frames *frames,
		  struct guestmem *l1_view)
{
	memset(p, 0, sizeof(*p));
	p->port.ops = &l1_ops;
	p->port.ctx = p;
	p->port.level = 1;
	p->port.name = "l1";
	p->kva_base = kva_base;
	p->v = v;
	p->frames = frames;
	p->l1_view = l1_view;
}

void l1_port_set_vcpu(struct l1_port *p, struct vcpu *v)
{
	p->v = v;
}
