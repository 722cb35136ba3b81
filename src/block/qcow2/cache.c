/* block/qcow2/cache.c — LRU write-back cache of cluster-sized metadata tables.
 *
 * Used for L2 tables and refcount blocks. A cache may depend on another one (the L2 cache on the
 * refcount cache, unless refcounts are lazy): before writing any of its dirty tables, the
 * dependency is flushed and fdatasync'ed, so an L2 entry never reaches the disk before the
 * refcount that accounts for its cluster (QEMU's qcow2_cache_set_dependency). Caller holds
 * s->lock. */
#include "block/qcow2/qcow2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int qcow2_cache_init(struct qcow2_cache *c, unsigned n, uint32_t table_size)
{
	memset(c, 0, sizeof(*c));
	c->e = calloc(n, sizeof(*c->e));
	if (!c->e)
		return -ENOMEM;
	c->n = n;
	c->table_size = table_size;
	for (unsigned i = 0; i < n; i++) {
		c->e[i].data = malloc(table_size);
		if (!c->e[i].data) {
			qcow2_cache_fini(c);
			return -ENOMEM;
		}
	}
	return 0;
}

void qcow2_cache_fini(struct qcow2_cache *c)
{
	for (unsigned i = 0; c->e && i < c->n; i++)
		free(c->e[i].data);
	free(c->e);
	c->e = NULL;
	c->n = 0;
}

static bool cache_has_dirty(const struct qcow2_cache *c)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->e[i].dirty)
			return true;
	return false;
}

static int cache_write_entry(struct qcow2 *s, struct qcow2_cache *c, struct qcow2_cache_entry *e)
{
	int err;

	if (!e->dirty)
		return 0;
	if (c->depends && cache_has_dirty(c->depends)) {
		err = qcow2_cache_flush(s, c->depends);
		if (err)
			return err;
		if (qcow2_fdatasync(s))
			return -errno;
	}
	err = qcow2_check_overlap(s, e->offset, c->table_size,
				  c == &s->l2c ? QCOW2_OL_L2 : QCOW2_OL_REFBLOCK);
	if (err)
		return err;
	err = disk_file_pwrite(s->d.fd, e->data, c->table_size, e->offset);
	if (err)
		return err;
	e->dirty = false;
	return 0;
}

int qcow2_cache_flush(struct qcow2 *s, struct qcow2_cache *c)
{
	int ret = 0;

	for (unsigned i = 0; i < c->n; i++) {
		int err = cache_write_entry(s, c, &c->e[i]);

		if (err && !ret)
			ret = err;
	}
	return ret;
}

static int cache_lookup(struct qcow2 *s, struct qcow2_cache *c, uint64_t off, bool read,
			uint8_t **out)
{
	struct qcow2_cache_entry *victim = NULL;
	int err;

	for (unsigned i = 0; i < c->n; i++) {
		struct qcow2_cache_entry *e = &c->e[i];

		if (e->offset == off) {
			e->lru = ++c->clock;
			*out = e->data;
			return 0;
		}
		if (!victim || e->lru < victim->lru)
			victim = e;
	}
	err = cache_write_entry(s, c, victim);
	if (err)
		return err;
	victim->offset = 0;
	if (read) {
		err = disk_file_pread(s->d.fd, victim->data, c->table_size, off);
		if (err)
			return err;
	}
	victim->offset = off;
	victim->lru = ++c->clock;
	*out = victim->data;
	return 0;
}

int qcow2_cache_get(struct qcow2 *s, struct qcow2_cache *c, uint64_t off, uint8_t **out)
{
	return cache_lookup(s, c, off, true, out);
}

int qcow2_cache_get_empty(struct qcow2 *s, struct qcow2_cache *c, uint64_t off, uint8_t **out)
{
	return cache_lookup(s, c, off, false, out);
}

void qcow2_cache_mark_dirty(struct qcow2_cache *c, const uint8_t *data)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->e[i].data == data)
			c->e[i].dirty = true;
}

void qcow2_cache_discard(struct qcow2_cache *c, uint64_t off)
{
	for (unsigned i = 0; i < c->n; i++) {
		if (c->e[i].offset == off) {
			c->e[i].offset = 0;
			c->e[i].dirty = false;
			c->e[i].lru = 0;
		}
	}
}

int qcow2_flush_all(struct qcow2 *s, bool sync)
{
	int err = qcow2_cache_flush(s, &s->rbc);

	if (!err && sync && qcow2_fdatasync(s))
		err = -errno;
	if (!err)
		err = qcow2_cache_flush(s, &s->l2c);
	if (!err && sync && qcow2_fdatasync(s))
		err = -errno;
	return err;
}
