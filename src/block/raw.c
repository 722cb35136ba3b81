/* block/raw.c — the raw format: the file is the disk.
 *
 * Data moves with preadv/pwritev at the same offset; flush is fdatasync; discard punches holes;
 * extent uses SEEK_DATA/SEEK_HOLE. With DISK_O_DIRECT, requests whose offset, length or buffers
 * are not aligned to d->align go through an aligned bounce buffer (read-modify-write for writes,
 * serialised by a mutex). Any thread. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/ckd.h"
#include "base/iovbuf.h"
#include "base/log.h"
#include "block/disk.h"
#include "block/formats.h"

#define RAW_DIRECT_ALIGN 4096u

struct raw_disk {
	struct disk d;
	pthread_mutex_t rmw_lock; /* serialises unaligned O_DIRECT writes */
};

static bool raw_is_aligned(const struct disk *d, const struct iovec *iov, unsigned cnt,
			   uint64_t off)
{
	if (d->align <= 1)
		return true;
	if (off % d->align)
		return false;
	for (unsigned i = 0; i < cnt; i++)
		if ((uintptr_t)iov[i].iov_base % d->align || iov[i].iov_len % d->align)
			return false;
	return true;
}

/* O_DIRECT bounce path: [off, off+len) widened to alignment. */
static int raw_bounce(struct raw_disk *r, const struct iovec *iov, unsigned cnt, uint64_t off,
		      bool write)
{
	uint32_t a = r->d.align;
	uint64_t len = iov_size(iov, cnt), start = ALIGN_DOWN(off, (uint64_t)a), end;
	struct iovec b;
	void *buf;
	int err;

	if (ckd_add(&end, off, len) || ckd_add(&end, end, (uint64_t)a - 1))
		return -EINVAL;
	end = ALIGN_DOWN(end, (uint64_t)a);
	if (end - start > SIZE_MAX || posix_memalign(&buf, a, (size_t)(end - start)))
		return -ENOMEM;
	b.iov_base = buf;
	b.iov_len = (size_t)(end - start);
	if (write)
		pthread_mutex_lock(&r->rmw_lock);
	err = disk_file_preadv(r->d.fd, &b, 1, start);
	if (!err && write) {
		iov_to_buf(iov, cnt, 0, (char *)buf + (off - start), (size_t)len);
		err = disk_file_pwritev(r->d.fd, &b, 1, start);
	} else if (!err) {
		iov_from_buf(iov, cnt, 0, (char *)buf + (off - start), (size_t)len);
	}
	if (write)
		pthread_mutex_unlock(&r->rmw_lock);
	free(buf);
	return err;
}

static int raw_preadv(struct disk *d, const struct iovec *iov, unsigned cnt, uint64_t off)
{
	if (!raw_is_aligned(d, iov, cnt, off))
		return raw_bounce(container_of(d, struct raw_disk, d), iov, cnt, off, false);
	return disk_file_preadv(d->fd, iov, cnt, off);
}

static int raw_pwritev(struct disk *d, const struct iovec *iov, unsigned cnt, uint64_t off)
{
	if (!raw_is_aligned(d, iov, cnt, off))
		return raw_bounce(container_of(d, struct raw_disk, d), iov, cnt, off, true);
	return disk_file_pwritev(d->fd, iov, cnt, off);
}

static int raw_flush(struct disk *d)
{
	if (d->flags & DISK_O_UNSAFE)
		return 0;
	return fdatasync(d->fd) ? -errno : 0;
}

static int raw_discard(struct disk *d, uint64_t off, uint64_t len)
{
	if (!len)
		return 0;
	if (fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len))
		return errno == EOPNOTSUPP ? -ENOTSUP : -errno;
	return 0;
}

static int raw_write_zeroes(struct disk *d, uint64_t off, uint64_t len, bool may_unmap)
{
	static const uint8_t zero[65536];
	int mode = may_unmap ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE : FALLOC_FL_ZERO_RANGE;

	if (!len)
		return 0;
	if (!fallocate(d->fd, mode, (off_t)off, (off_t)len))
		return 0;
	if (errno != EOPNOTSUPP && errno != ENODEV && errno != EINVAL)
		return -errno;
	while (len) {
		size_t n = (size_t)KVMM_MIN(len, sizeof(zero));
		struct iovec v = {(void *)(uintptr_t)zero, n};
		int err = raw_pwritev(d, &v, 1, off);

		if (err)
			return err;
		off += n;
		len -= n;
	}
	return 0;
}

static int raw_extent(struct disk *d, uint64_t off, uint64_t max_len, struct disk_extent *out)
{
	off_t data, hole;

	*out = (struct disk_extent){
	    .off = off, .len = max_len, .kind = DISK_EXTENT_DATA, .host_off = off};
	data = lseek(d->fd, (off_t)off, SEEK_DATA);
	if (data < 0) {
		if (errno == ENXIO) { /* a hole up to EOF (or past EOF) */
			out->kind = DISK_EXTENT_ZERO;
			out->host_off = 0;
			return 0;
		}
		return 0; /* SEEK_DATA unsupported: report data */
	}
	if ((uint64_t)data > off) {
		out->kind = DISK_EXTENT_ZERO;
		out->host_off = 0;
		out->len = KVMM_MIN(max_len, (uint64_t)data - off);
		return 0;
	}
	hole = lseek(d->fd, (off_t)off, SEEK_HOLE);
	if (hole > (off_t)off)
		out->len = KVMM_MIN(max_len, (uint64_t)hole - off);
	return 0;
}

static int raw_resize(struct disk *d, uint64_t new_size, bool shrink)
{
	if (new_size > (uint64_t)INT64_MAX)
		return -EINVAL;
	if (ftruncate(d->fd, (off_t)new_size))
		return -errno;
	d->size = new_size;
	return 0;
}

static void raw_close(struct disk *d)
{
	struct raw_disk *r = container_of(d, struct raw_disk, d);

	pthread_mutex_destroy(&r->rmw_lock);
	disk_fini_common(d);
	free(r);
}

static const struct disk_ops raw_ops = {
    .format = "raw",
    .preadv = raw_preadv,
    .pwritev = raw_pwritev,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .extent = raw_extent,
    .close = raw_close,
    .resize = raw_resize,
};

static int raw_open(int fd, const char *path, const struct disk_open_opts *o, struct disk **out)
{
	struct raw_disk *r = calloc(1, sizeof(*r));
	off_t end;
	int err;

	if (!r)
		return -ENOMEM;
	err = disk_init_common(&r->d, &raw_ops, fd, path, o->flags, o->depth);
	if (err)
		goto err_free;
	end = lseek(fd, 0, SEEK_END);
	if (end < 0) {
		err = -errno;
		log_err("raw: %s: cannot get size", path);
		goto err_fini;
	}
	r->d.size = (uint64_t)end;
	if (o->flags & DISK_O_DIRECT)
		r->d.align = RAW_DIRECT_ALIGN;
	pthread_mutex_init(&r->rmw_lock, NULL);
	*out = &r->d;
	return 0;

err_fini:
	disk_fini_common(&r->d);
err_free:
	free(r);
	return err;
}

const struct disk_format disk_format_raw = {
    .name = "raw",
    .probe = NULL,
    .open = raw_open,
};
