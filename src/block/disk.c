/* block/disk.c — see disk.h: format probe table, open/close, range-checked I/O wrappers. */
#include "block/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/ckd.h"
#include "base/iovbuf.h"
#include "base/log.h"
#include "block/formats.h"

/* Probed in order; the highest score wins, raw is the fallback. */
static const struct disk_format *const disk_formats[] = {
    &disk_format_qcow2,
    /* ---- foreign read-only formats: add &disk_format_<name> entries here ---- */
    &disk_format_vmdk,
    &disk_format_vdi,
    &disk_format_vpc,
    &disk_format_vhdx,
    &disk_format_raw,
};

static const struct disk_format *disk_find_format(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(disk_formats); i++)
		if (!strcmp(disk_formats[i]->name, name))
			return disk_formats[i];
	return NULL;
}

static int disk_probe(int fd, const char *path, const struct disk_format **out)
{
	uint8_t *buf;
	ssize_t n;
	int best = 0, err = 0;

	/* O_DIRECT-safe: page-aligned buffer and length. */
	if (posix_memalign((void **)&buf, 4096, DISK_PROBE_BYTES))
		return -ENOMEM;
	n = pread(fd, buf, DISK_PROBE_BYTES, 0);
	if (n < 0) {
		err = -errno;
		log_err("disk: %s: cannot read header: %s", path, strerror(errno));
		goto out_free;
	}
	*out = &disk_format_raw;
	for (size_t i = 0; i < ARRAY_SIZE(disk_formats); i++) {
		int s;

		if (!disk_formats[i]->probe)
			continue;
		s = disk_formats[i]->probe(buf, (size_t)n);
		if (s > best) {
			best = s;
			*out = disk_formats[i];
		}
	}
out_free:
	free(buf);
	return err;
}

int disk_open(const char *path, const struct disk_open_opts *o, struct disk **out)
{
	static const struct disk_open_opts defaults;
	const struct disk_format *fmt = NULL;
	int fd, err, oflags;

	if (!o)
		o = &defaults;
	if (o->depth > DISK_MAX_CHAIN_DEPTH) {
		log_err("disk: %s: backing chain deeper than %d", path, DISK_MAX_CHAIN_DEPTH);
		return -ELOOP;
	}
	if (o->format && strcmp(o->format, "auto")) {
		fmt = disk_find_format(o->format);
		if (!fmt) {
			log_err("disk: %s: unknown format '%s'", path, o->format);
			return -EINVAL;
		}
	}
	oflags = O_CLOEXEC | ((o->flags & DISK_O_RDONLY) ? O_RDONLY : O_RDWR);
	if (o->flags & DISK_O_DIRECT)
		oflags |= O_DIRECT;
	fd = open(path, oflags);
	if (fd < 0) {
		err = -errno;
		log_err("disk: cannot open %s: %s", path, strerror(errno));
		return err;
	}
	if (!fmt) {
		err = disk_probe(fd, path, &fmt);
		if (err)
			goto err_close_fd;
	}
	err = fmt->open(fd, path, o, out);
	if (err)
		goto err_close_fd;
	return 0;

err_close_fd:
	close(fd);
	return err;
}

void disk_close(struct disk *d)
{
	while (d) {
		struct disk *b = d->backing;
		int fd = d->fd;

		d->ops->close(d);
		if (fd >= 0)
			close(fd);
		d = b;
	}
}

int disk_init_common(struct disk *d, const struct disk_ops *ops, int fd, const char *path,
		     unsigned flags, unsigned depth)
{
	d->ops = ops;
	d->fd = fd;
	d->flags = flags;
	d->depth = depth;
	d->align = 1;
	d->backing = NULL;
	d->backing_name = NULL;
	d->backing_fmt = NULL;
	d->filename = strdup(path);
	return d->filename ? 0 : -ENOMEM;
}

void disk_fini_common(struct disk *d)
{
	free(d->filename);
	free(d->backing_name);
	free(d->backing_fmt);
	d->filename = d->backing_name = d->backing_fmt = NULL;
}

static char *disk_resolve(const char *base, const char *name)
{
	const char *slash = strrchr(base, '/');
	size_t dl;
	char *p;

	if (name[0] == '/' || !slash)
		return strdup(name);
	dl = (size_t)(slash - base) + 1;
	p = malloc(dl + strlen(name) + 1);
	if (!p)
		return NULL;
	memcpy(p, base, dl);
	strcpy(p + dl, name);
	return p;
}

int disk_open_backing(struct disk *d, const char *name, const char *fmt,
		      const struct disk_open_opts *parent)
{
	struct disk_open_opts bo = {0};
	char *path;
	int err;

	if (d->depth + 1 > DISK_MAX_CHAIN_DEPTH) {
		log_err("disk: %s: backing chain deeper than %d", d->filename,
			DISK_MAX_CHAIN_DEPTH);
		return -ELOOP;
	}
	path = disk_resolve(d->filename, name);
	if (!path)
		return -ENOMEM;
	bo.format = fmt;
	bo.flags = DISK_O_RDONLY | (parent->flags & DISK_O_DIRECT);
	bo.cache_bytes = parent->cache_bytes;
	bo.depth = d->depth + 1;
	err = disk_open(path, &bo, &d->backing);
	/* Only the top image reports: a broken chain gives two lines, not one per level. */
	if (err && d->depth == 0)
		log_err("disk: %s: cannot open backing file %s: %s", d->filename, path,
			strerror(-err));
	free(path);
	return err;
}

int disk_file_pread(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;

	while (len) {
		ssize_t n;

		if (off > (uint64_t)INT64_MAX)
			return -EINVAL;
		n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			memset(p, 0, len);
			return 0;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int disk_file_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n;

		if (off > (uint64_t)INT64_MAX)
			return -EINVAL;
		n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Transfer a whole iovec at off, retrying short transfers. Reads past EOF give zeroes. */
static int disk_file_xfer(int fd, const struct iovec *iov_in, unsigned cnt, uint64_t off,
			  bool write)
{
	struct iovec local[64];
	uint64_t total = iov_size(iov_in, cnt), done = 0;

	while (done < total) {
		unsigned n = 0;
		uint64_t skip = done;
		ssize_t r;

		/* Build the remaining iovec window (at most 64 entries at a time). */
		for (unsigned i = 0; i < cnt && n < ARRAY_SIZE(local); i++) {
			if (skip >= iov_in[i].iov_len) {
				skip -= iov_in[i].iov_len;
				continue;
			}
			local[n].iov_base = (char *)iov_in[i].iov_base + skip;
			local[n].iov_len = iov_in[i].iov_len - skip;
			skip = 0;
			n++;
		}
		if (off + done > (uint64_t)INT64_MAX)
			return -EINVAL;
		r = write ? pwritev(fd, local, (int)n, (off_t)(off + done))
			  : preadv(fd, local, (int)n, (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0) {
			if (write)
				return -EIO;
			/* EOF: the rest reads as zeroes. */
			for (uint64_t z = done; z < total;) {
				static const uint8_t zero[4096];
				size_t c = (size_t)KVMM_MIN(total - z, sizeof(zero));

				z += iov_from_buf(iov_in, cnt, z, zero, c);
			}
			return 0;
		}
		done += (uint64_t)r;
	}
	return 0;
}

int disk_file_preadv(int fd, const struct iovec *iov, unsigned cnt, uint64_t off)
{
	return disk_file_xfer(fd, iov, cnt, off, false);
}

int disk_file_pwritev(int fd, const struct iovec *iov, unsigned cnt, uint64_t off)
{
	return disk_file_xfer(fd, iov, cnt, off, true);
}

uint64_t disk_size(const struct disk *d)
{
	return d->size;
}

const char *disk_format(const struct disk *d)
{
	return d->ops->format;
}

bool disk_is_readonly(const struct disk *d)
{
	return d->flags & DISK_O_RDONLY;
}

struct disk *disk_backing(const struct disk *d)
{
	return d->backing;
}

/* Total length of an iovec list; UINT64_MAX on overflow (then fails the range check). */
static uint64_t iov_size_u64(const struct iovec *iov, unsigned cnt)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < cnt; i++)
		if (ckd_add(&t, t, (uint64_t)iov[i].iov_len))
			return UINT64_MAX;
	return t;
}

static int disk_check_range(const struct disk *d, uint64_t off, uint64_t len)
{
	uint64_t end;

	if (ckd_add(&end, off, len) || end > d->size)
		return -EINVAL;
	return 0;
}

int disk_preadv(struct disk *d, const struct iovec *iov, unsigned cnt, uint64_t off)
{
	int err = disk_check_range(d, off, iov_size_u64(iov, cnt));

	return err ? err : d->ops->preadv(d, iov, cnt, off);
}

int disk_pwritev(struct disk *d, const struct iovec *iov, unsigned cnt, uint64_t off)
{
	int err;

	if (disk_is_readonly(d))
		return -EROFS;
	err = disk_check_range(d, off, iov_size_u64(iov, cnt));
	return err ? err : d->ops->pwritev(d, iov, cnt, off);
}

int disk_pread(struct disk *d, void *buf, size_t len, uint64_t off)
{
	struct iovec v = {buf, len};

	return disk_preadv(d, &v, 1, off);
}

int disk_pwrite(struct disk *d, const void *buf, size_t len, uint64_t off)
{
	struct iovec v = {(void *)(uintptr_t)buf, len};

	return disk_pwritev(d, &v, 1, off);
}

int disk_flush(struct disk *d)
{
	if (disk_is_readonly(d))
		return 0;
	return d->ops->flush ? d->ops->flush(d) : 0;
}

int disk_discard(struct disk *d, uint64_t off, uint64_t len)
{
	int err;

	if (disk_is_readonly(d))
		return -EROFS;
	err = disk_check_range(d, off, len);
	if (err)
		return err;
	return d->ops->discard ? d->ops->discard(d, off, len) : -ENOTSUP;
}

int disk_write_zeroes(struct disk *d, uint64_t off, uint64_t len, bool may_unmap)
{
	int err;

	if (disk_is_readonly(d))
		return -EROFS;
	err = disk_check_range(d, off, len);
	if (err)
		return err;
	return d->ops->write_zeroes ? d->ops->write_zeroes(d, off, len, may_unmap) : -ENOTSUP;
}

int disk_extent(struct disk *d, uint64_t off, uint64_t max_len, struct disk_extent *out)
{
	if (off >= d->size || !max_len)
		return -EINVAL;
	if (max_len > d->size - off)
		max_len = d->size - off;
	if (!d->ops->extent) {
		*out = (struct disk_extent){.off = off, .len = max_len, .kind = DISK_EXTENT_DATA};
		return 0;
	}
	return d->ops->extent(d, off, max_len, out);
}

int disk_resize(struct disk *d, uint64_t new_size, bool shrink)
{
	if (disk_is_readonly(d))
		return -EROFS;
	if (new_size < d->size && !shrink)
		return -EINVAL;
	return d->ops->resize ? d->ops->resize(d, new_size, shrink) : -ENOTSUP;
}
