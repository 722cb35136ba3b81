/* vmm/bus.c — see bus.h. */
#include "vmm/bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/ckd.h"
#include "devices/dev.h"

void bus_init(struct bus *b, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->name = name;
}

void bus_fini(struct bus *b)
{
	for (unsigned i = 0; i < b->n; i++) {
		if (b->r[i].owns_lock) {
			pthread_mutex_destroy(b->r[i].lock);
			free(b->r[i].lock);
		}
	}
	free(b->r);
	memset(b, 0, sizeof(*b));
}

static pthread_mutex_t *bus_lock_for(struct bus *b, void *dev, bool *owns)
{
	pthread_mutex_t *l;

	for (unsigned i = 0; i < b->n; i++) {
		if (b->r[i].dev == dev) {
			*owns = false;
			return b->r[i].lock;
		}
	}
	l = malloc(sizeof(*l));
	if (!l)
		return NULL;
	pthread_mutex_init(l, NULL);
	*owns = true;
	return l;
}

int bus_add(struct bus *b, uint64_t base, uint64_t len, const struct io_ops *ops, void *dev,
	    const char *name)
{
	uint64_t last;
	unsigned i;
	bool owns;
	pthread_mutex_t *lock;

	if (len == 0 || ckd_add(&last, base, len - 1) || !ops)
		return -EINVAL;
	for (i = 0; i < b->n && b->r[i].base < base; i++)
		;
	if (i > 0 && b->r[i - 1].base + (b->r[i - 1].len - 1) >= base)
		return -EEXIST;
	if (i < b->n && b->r[i].base <= last)
		return -EEXIST;
	if (b->n == b->cap) {
		unsigned cap = b->cap ? b->cap * 2 : 16;
		struct bus_range *nr = realloc(b->r, cap * sizeof(*nr));

		if (!nr)
			return -ENOMEM;
		b->r = nr;
		b->cap = cap;
	}
	lock = bus_lock_for(b, dev, &owns);
	if (!lock)
		return -ENOMEM;
	memmove(&b->r[i + 1], &b->r[i], (b->n - i) * sizeof(b->r[0]));
	b->r[i] = (struct bus_range){base, len, ops, dev, name, lock, owns};
	b->n++;
	return 0;
}

const struct bus_range *bus_find(const struct bus *b, uint64_t addr)
{
	unsigned lo = 0, hi = b->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &b->r[mid];

		if (addr < r->base)
			hi = mid;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

static const struct bus_range *bus_claim(const struct bus *b, uint64_t addr, uint32_t len)
{
	const struct bus_range *r;

	if (len == 0 || len > 8)
		return NULL;
	r = bus_find(b, addr);
	if (!r || len > r->len - (addr - r->base))
		return NULL;
	return r;
}

bool bus_read(struct bus *b, uint64_t addr, void *data, uint32_t len)
{
	const struct bus_range *r = bus_claim(b, addr, len);

	if (!r || !r->ops->read) {
		memset(data, 0xff, len > 8 ? 8 : len);
		__atomic_fetch_add(&b->unclaimed_reads, 1, __ATOMIC_RELAXED);
		return false;
	}
	pthread_mutex_lock(r->lock);
	r->ops->read(r->dev, addr - r->base, data, len);
	pthread_mutex_unlock(r->lock);
	return true;
}

bool bus_write(struct bus *b, uint64_t addr, const void *data, uint32_t len)
{
	const struct bus_range *r = bus_claim(b, addr, len);

	if (!r || !r->ops->write) {
		__atomic_fetch_add(&b->unclaimed_writes, 1, __ATOMIC_RELAXED);
		return false;
	}
	pthread_mutex_lock(r->lock);
	r->ops->write(r->dev, addr - r->base, data, len);
	pthread_mutex_unlock(r->lock);
	return true;
}
