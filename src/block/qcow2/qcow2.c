/* block/qcow2/qcow2.c — the qcow2 disk_ops: open (validation, lazy-refcount repair, backing
 * chain), close, I/O entry points, resize, info, amend, and the corruption latch. */
#include "block/qcow2/qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/ckd.h"
#include "block/formats.h"

#define QCOW2_DEFAULT_L2_CACHE	(1u << 20)
#define QCOW2_MAX_CACHE_ENTRIES 1024u
#define QCOW2_RB_CACHE_ENTRIES	16u

int qcow2_signal_corruption(struct qcow2 *s, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!s->corrupt || log_ratelimit_ok(&s->corrupt_rl, 5000))
		log_err("qcow2: %s: image is corrupt: %s%s", s->d.filename, msg,
			disk_is_readonly(&s->d) ? "" : "; further writes refused");
	if (!s->corrupt && !disk_is_readonly(&s->d) && s->version >= 3 &&
	    !(s->d.flags & DISK_O_REPAIR)) {
		s->incompat |= QCOW2_INCOMPAT_CORRUPT;
		if (qcow2_header_update_features(s) == 0)
			(void)qcow2_fdatasync(s);
	}
	s->corrupt = true;
	return -EIO;
}

static int qcow2_probe(const uint8_t *buf, size_t len)
{
	uint32_t m;

	if (len < 8)
		return 0;
	memcpy(&m, buf, 4);
	return be32toh(m) == QCOW2_MAGIC ? 100 : 0;
}

static int qcow2_preadv(struct disk *d, const struct iovec *iov, unsigned cnt, uint64_t off)
{
	return qcow2_co_preadv(qcow2_from_disk(d), iov, cnt, off);
}

static int qcow2_pwritev(struct disk *d, const struct iovec *iov, unsigned cnt, uint64_t off)
{
	return qcow2_co_pwritev(qcow2_from_disk(d), iov, cnt, off);
}

static int qcow2_flush(struct disk *d)
{
	struct qcow2 *s = qcow2_from_disk(d);
	int err;

	pthread_mutex_lock(&s->lock);
	err = qcow2_flush_all(s, true);
	pthread_mutex_unlock(&s->lock);
	return err;
}

static int qcow2_discard(struct disk *d, uint64_t off, uint64_t len)
{
	return qcow2_zero_or_discard(qcow2_from_disk(d), off, len, true, true);
}

static int qcow2_write_zeroes(struct disk *d, uint64_t off, uint64_t len, bool may_unmap)
{
	return qcow2_zero_or_discard(qcow2_from_disk(d), off, len, false, may_unmap);
}

static int qcow2_extent(struct disk *d, uint64_t off, uint64_t max_len, struct disk_extent *out)
{
	struct qcow2 *s = qcow2_from_disk(d);
	struct qcow2_map m;
	int err;

	pthread_mutex_lock(&s->lock);
	err = qcow2_map(s, off, max_len, &m);
	pthread_mutex_unlock(&s->lock);
	if (err)
		return err;
	*out = (struct disk_extent){.off = off, .len = m.len};
	switch (m.kind) {
	case QCOW2_MAP_DATA:
		out->kind = DISK_EXTENT_DATA;
		out->host_off = m.host_off;
		break;
	case QCOW2_MAP_COMPRESSED:
		out->kind = DISK_EXTENT_DATA;
		out->compressed = true;
		out->host_off = m.l2_entry & ((1ull << s->csize_shift) - 1);
		break;
	case QCOW2_MAP_ZERO:
		out->kind = DISK_EXTENT_ZERO;
		break;
	case QCOW2_MAP_UNALLOC:
		out->kind = d->backing && off < d->backing->size ? DISK_EXTENT_BACKING
								 : DISK_EXTENT_UNALLOC;
		break;
	}
	return 0;
}

static void qcow2_free_state(struct qcow2 *s)
{
	qcow2_cache_fini(&s->l2c);
	qcow2_cache_fini(&s->rbc);
	free(s->l1);
	free(s->reft);
	qcow2_snapshots_free(s->snaps, s->nb_snapshots);
	for (unsigned i = 0; i < s->nb_exts; i++)
		free(s->exts[i].data);
	free(s->exts);
	free(s->hdr_tail);
	pthread_mutex_destroy(&s->lock);
	pthread_rwlock_destroy(&s->io_lock);
	disk_fini_common(&s->d);
	free(s);
}

static void qcow2_close(struct disk *d)
{
	struct qcow2 *s = qcow2_from_disk(d);

	if (!disk_is_readonly(d) && !s->corrupt) {
		int err = qcow2_flush_all(s, true);

		if (!err && s->dirty_set) {
			s->incompat &= ~QCOW2_INCOMPAT_DIRTY;
			err = qcow2_header_update_features(s);
			if (!err && qcow2_fdatasync(s))
				err = -errno;
		}
		if (err)
			log_err("qcow2: %s: flush on close failed: %s", d->filename,
				strerror(-err));
	}
	qcow2_free_state(s);
}

static int qcow2_resize(struct disk *d, uint64_t new_size, bool shrink)
{
	struct qcow2 *s = qcow2_from_disk(d);
	uint64_t need, be;
	int err;

	pthread_mutex_lock(&s->lock);
	err = s->corrupt ? -EIO : 0;
	if (err)
		goto out;
	if (new_size > (1ull << 62)) {
		err = -EFBIG;
		goto out;
	}
	if (new_size < d->size) {
		uint64_t from = ALIGN_UP(new_size, (uint64_t)s->cluster_size);

		if (s->nb_snapshots) {
			log_err("qcow2: %s: cannot shrink an image with internal snapshots",
				d->filename);
			err = -ENOTSUP;
			goto out;
		}
		pthread_mutex_unlock(&s->lock);
		if (from < d->size) {
			/* Drop everything past the new end (unallocated, not zero). */
			uint64_t end = ALIGN_UP(d->size, (uint64_t)s->cluster_size);

			err = qcow2_zero_discard_dealloc(s, from, end - from, true, true, true);
		}
		pthread_mutex_lock(&s->lock);
		if (err)
			goto out;
	}
	need = qcow2_size_to_l1(s->cluster_bits, s->l2_bits, new_size);
	if (need > s->l1_size) {
		err = qcow2_grow_l1(s, need);
		if (err)
			goto out;
	}
	err = qcow2_flush_all(s, true);
	if (err)
		goto out;
	be = htobe64(new_size);
	err = disk_file_pwrite(d->fd, &be, 8, 24);
	if (!err && qcow2_fdatasync(s))
		err = -errno;
	if (!err)
		d->size = new_size;
out:
	pthread_mutex_unlock(&s->lock);
	return err;
}

static const struct disk_ops qcow2_ops = {
    .format = "qcow2",
    .preadv = qcow2_preadv,
    .pwritev = qcow2_pwritev,
    .flush = qcow2_flush,
    .discard = qcow2_discard,
    .write_zeroes = qcow2_write_zeroes,
    .extent = qcow2_extent,
    .close = qcow2_close,
    .resize = qcow2_resize,
};

static int open_caches(struct qcow2 *s, uint64_t cache_bytes)
{
	uint64_t full = (s->l1_size ? s->l1_size : 1), n;
	int err;

	if (!cache_bytes)
		cache_bytes = QCOW2_DEFAULT_L2_CACHE;
	n = cache_bytes / s->cluster_size;
	n = KVMM_MIN(n, full);
	n = KVMM_MAX(n, 4ull);
	n = KVMM_MIN(n, (uint64_t)QCOW2_MAX_CACHE_ENTRIES);
	err = qcow2_cache_init(&s->l2c, (unsigned)n, s->cluster_size);
	if (err)
		return err;
	err = qcow2_cache_init(&s->rbc, QCOW2_RB_CACHE_ENTRIES, s->cluster_size);
	if (err)
		return err;
	if (!(s->compat & QCOW2_COMPAT_LAZY_REFCOUNTS))
		s->l2c.depends = &s->rbc;
	return 0;
}

/* Read-write open: repair a dirty image, drop unknown autoclear bits. */
static int open_rw_fixups(struct qcow2 *s)
{
	struct qcow2_check_result r;
	int err;

	if (s->incompat & QCOW2_INCOMPAT_DIRTY) {
		log_warn("qcow2: %s: image was not closed cleanly; repairing refcounts",
			 s->d.filename);
		err = qcow2_check_locked(s, QCOW2_CHECK_FIX_LEAKS | QCOW2_CHECK_FIX_ERRORS, &r);
		if (err)
			return err;
		if (r.corruptions) {
			log_err("qcow2: %s: %llu corruptions remain after repair", s->d.filename,
				(unsigned long long)r.corruptions);
			return -EIO;
		}
		s->incompat &= ~QCOW2_INCOMPAT_DIRTY;
		err = qcow2_header_update_features(s);
		if (err)
			return err;
	}
	if (s->autoclear) {
		s->autoclear = 0;
		err = qcow2_header_update_features(s);
		if (err)
			return err;
	}
	return 0;
}

static int qcow2_open(int fd, const char *path, const struct disk_open_opts *o, struct disk **out)
{
	struct qcow2 *s = calloc(1, sizeof(*s));
	struct stat st;
	int err;

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	{
		pthread_rwlockattr_t a;

		/* Writer preference: a discard is not starved by a stream of reads. */
		pthread_rwlockattr_init(&a);
		pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&s->io_lock, &a);
		pthread_rwlockattr_destroy(&a);
	}
	err = disk_init_common(&s->d, &qcow2_ops, -1, path, o->flags, o->depth);
	if (err)
		goto err_free;
	s->d.fd = fd;
	if (o->flags & DISK_O_DIRECT) {
		/* Metadata I/O is not aligned for O_DIRECT yet: use the page cache. */
		int fl = fcntl(fd, F_GETFL);

		if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_DIRECT)) {
			err = -errno;
			goto err_free;
		}
		log_info("qcow2: %s: O_DIRECT is not supported yet; using the page cache", path);
	}
	if (fstat(fd, &st)) {
		err = -errno;
		goto err_free;
	}
	err = qcow2_header_read(s, (uint64_t)st.st_size);
	if (err)
		goto err_free;
	err = qcow2_snapshots_read(s, (uint64_t)st.st_size);
	if (err)
		goto err_free;
	s->file_end = ALIGN_UP((uint64_t)st.st_size, (uint64_t)s->cluster_size);
	s->free_cluster_index = 1;
	err = open_caches(s, o->cache_bytes);
	if (err)
		goto err_free;
	if (s->incompat & QCOW2_INCOMPAT_CORRUPT) {
		if (!(o->flags & (DISK_O_RDONLY | DISK_O_REPAIR))) {
			log_err("qcow2: %s: image is marked corrupt; it can only be opened "
				"read-only or repaired with check",
				path);
			err = -EIO;
			goto err_free;
		}
	}
	if (!(o->flags & DISK_O_RDONLY)) {
		err = open_rw_fixups(s);
		if (err)
			goto err_free;
	}
	if (s->d.backing_name && !(o->flags & DISK_O_NO_BACKING)) {
		err = disk_open_backing(&s->d, s->d.backing_name, s->d.backing_fmt, o);
		if (err)
			goto err_free;
	}
	*out = &s->d;
	return 0;

err_free:
	s->d.fd = -1; /* the caller closes fd */
	disk_close(s->d.backing);
	s->d.backing = NULL;
	qcow2_free_state(s);
	return err;
}

const struct disk_format disk_format_qcow2 = {
    .name = "qcow2",
    .probe = qcow2_probe,
    .open = qcow2_open,
};

/* ---- public qcow2.h entry points ---- */

static struct qcow2 *as_qcow2(const struct disk *d)
{
	return d && d->ops == &qcow2_ops ? container_of(d, struct qcow2, d) : NULL;
}

uint32_t qcow2_cluster_size(const struct disk *d)
{
	struct qcow2 *s = as_qcow2(d);

	return s ? s->cluster_size : 0;
}

int qcow2_get_info(const struct disk *d, struct qcow2_info *out)
{
	struct qcow2 *s = as_qcow2(d);

	if (!s)
		return -EINVAL;
	*out = (struct qcow2_info){
	    .version = s->version,
	    .cluster_size = s->cluster_size,
	    .refcount_bits = 1u << s->refcount_order,
	    .lazy_refcounts = s->compat & QCOW2_COMPAT_LAZY_REFCOUNTS,
	    .extended_l2 = s->ext_l2,
	    .corrupt = s->corrupt || (s->incompat & QCOW2_INCOMPAT_CORRUPT),
	    .dirty = s->incompat & QCOW2_INCOMPAT_DIRTY,
	    .compression_type = s->compression_type,
	    .nb_snapshots = s->nb_snapshots,
	    .incompatible_features = s->incompat,
	    .compatible_features = s->compat,
	    .autoclear_features = s->autoclear,
	};
	return 0;
}

int qcow2_write_compressed(struct disk *d, uint64_t off, const void *buf, size_t len)
{
	struct qcow2 *s = as_qcow2(d);
	uint64_t end;

	if (!s)
		return -EINVAL;
	if (disk_is_readonly(d))
		return -EROFS;
	if (!qcow2_is_aligned(s, off) || !len || len > s->cluster_size ||
	    ckd_add(&end, off, (uint64_t)len) || end > d->size ||
	    (len < s->cluster_size && end != d->size))
		return -EINVAL;
	return qcow2_write_compressed_cluster(s, off, buf, len);
}

int qcow2_check(struct disk *d, unsigned fix, struct qcow2_check_result *res)
{
	struct qcow2 *s = as_qcow2(d);
	int err;

	if (!s)
		return -EINVAL;
	if (fix && disk_is_readonly(d))
		return -EROFS;
	pthread_mutex_lock(&s->lock);
	err = qcow2_check_locked(s, fix, res);
	if (!err && fix && !res->corruptions && (s->incompat & QCOW2_INCOMPAT_CORRUPT)) {
		s->incompat &= ~QCOW2_INCOMPAT_CORRUPT;
		s->corrupt = false;
		err = qcow2_header_update_features(s);
	}
	pthread_mutex_unlock(&s->lock);
	return err;
}

int qcow2_amend(struct disk *d, const struct qcow2_amend_opts *o)
{
	struct qcow2 *s = as_qcow2(d);
	int err = 0;

	if (!s)
		return -EINVAL;
	if (disk_is_readonly(d))
		return -EROFS;
	if (o->refcount_bits &&
	    (!IS_POW2(o->refcount_bits) || o->refcount_bits > 64 ||
	     (o->refcount_bits != 16 && (o->version == 2 || (!o->version && s->version == 2))))) {
		log_err("qcow2: %s: invalid refcount_bits %u", d->filename, o->refcount_bits);
		return -EINVAL;
	}
	pthread_mutex_lock(&s->lock);
	err = s->corrupt ? -EIO : qcow2_flush_all(s, true);
	if (err)
		goto out;
	if (o->refcount_bits && o->refcount_bits != (1u << s->refcount_order)) {
		err = qcow2_change_refcount_order(s, (uint32_t)__builtin_ctz(o->refcount_bits));
		if (err)
			goto out;
	}
	if (o->version == 2 && s->version == 3) {
		if (s->incompat & ~(uint64_t)QCOW2_INCOMPAT_DIRTY || s->refcount_order != 4) {
			log_err("qcow2: %s: image uses features compat=0.10 cannot express",
				d->filename);
			err = -ENOTSUP;
			goto out;
		}
		/* v2 has no zero flag: refuse when zero clusters exist. */
		for (uint32_t i = 0; i < s->l1_size && !err; i++) {
			uint64_t l2off = s->l1[i] & QCOW2_L1E_OFFSET_MASK;
			uint8_t *l2;

			if (!l2off)
				continue;
			err = qcow2_cache_get(s, &s->l2c, l2off, &l2);
			for (uint64_t j = 0; !err && j < qcow2_l2_entries(s); j++) {
				uint64_t e = qcow2_l2_get(s, l2, j);

				if ((e & QCOW2_OFLAG_ZERO) && !(e & QCOW2_OFLAG_COMPRESSED)) {
					log_err("qcow2: %s: downgrade with zero clusters is not "
						"supported",
						d->filename);
					err = -ENOTSUP;
				}
			}
		}
		if (err)
			goto out;
		s->version = 2;
		s->compat = 0;
		s->autoclear = 0;
		s->l2c.depends = &s->rbc;
	} else if (o->version == 3 && s->version == 2) {
		s->version = 3;
		s->header_length = QCOW2_V3_HEADER_LEN_CT;
	} else if (o->version && o->version != 2 && o->version != 3) {
		err = -EINVAL;
		goto out;
	}
	if (o->lazy_refcounts >= 0) {
		if (o->lazy_refcounts && s->version < 3) {
			log_err("qcow2: %s: lazy refcounts need compat=1.1", d->filename);
			err = -EINVAL;
			goto out;
		}
		if (o->lazy_refcounts)
			s->compat |= QCOW2_COMPAT_LAZY_REFCOUNTS;
		else
			s->compat &= ~QCOW2_COMPAT_LAZY_REFCOUNTS;
		s->l2c.depends = o->lazy_refcounts ? NULL : &s->rbc;
		if (!o->lazy_refcounts && s->dirty_set) {
			/* Refcounts in the (now flushed) cache are exact: just clean up. */
			s->incompat &= ~QCOW2_INCOMPAT_DIRTY;
			s->dirty_set = false;
		}
	}
	err = qcow2_header_write(s);
	if (!err && qcow2_fdatasync(s))
		err = -errno;
out:
	pthread_mutex_unlock(&s->lock);
	return err;
}
