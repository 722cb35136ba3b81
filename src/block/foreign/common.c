/* block/foreign/common.c — the disk_ops shared by the read-only foreign readers: reads walk
 * the format's map() answers; extents expose them; every write fails with -EROFS. */
#include "block/foreign/foreign.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/ckd.h"
#include "base/iovbuf.h"
#include "base/log.h"

int foreign_init(struct foreign_disk *fdisk, const struct disk_ops *ops,
		 const struct foreign_fmt *fmt, int fd, const char *path,
		 const struct disk_open_opts *o)
{
	struct stat st;
	int err;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size < 0)
		return -EINVAL;
	/* The readers use unaligned buffers for headers and tables: drop O_DIRECT if asked. */
	if (o && o->flags & DISK_O_DIRECT) {
		int fl = fcntl(fd, F_GETFL);

		if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_DIRECT) < 0)
			return -errno;
	}
	err = disk_init_common(&fdisk->d, ops, fd, path,
			       ((o ? o->flags : 0) | DISK_O_RDONLY) & ~DISK_O_DIRECT,
			       o ? o->depth : 0);
	if (err)
		return err;
	err = -pthread_mutex_init(&fdisk->lock, NULL);
	if (err) {
		disk_fini_common(&fdisk->d);
		return err;
	}
	fdisk->fmt = fmt;
	fdisk->file_size = (uint64_t)st.st_size;
	return 0;
}

void foreign_abort(struct foreign_disk *fdisk)
{
	if (fdisk->fmt && fdisk->fmt->fini)
		fdisk->fmt->fini(fdisk);
	pthread_mutex_destroy(&fdisk->lock);
	disk_fini_common(&fdisk->d);
}

int foreign_read_meta(struct foreign_disk *fdisk, void *buf, size_t len, uint64_t off)
{
	uint64_t end;

	if (ckd_add(&end, off, (uint64_t)len) || end > fdisk->file_size)
		return -EINVAL;
	return disk_file_pread(fdisk->d.fd, buf, len, off);
}

/* Read [off, off + len) of the virtual disk into buf (one contiguous host buffer). */
static int foreign_read_buf(struct foreign_disk *fdisk, uint8_t *buf, size_t len, uint64_t off)
{
	while (len) {
		struct foreign_map m = {0};
		size_t n;
		int err;

		pthread_mutex_lock(&fdisk->lock);
		err = fdisk->fmt->map(fdisk, off, len, &m);
		if (!err && m.compressed) {
			n = (size_t)KVMM_MIN(m.len, (uint64_t)len);
			err = fdisk->fmt->read_compressed
				  ? fdisk->fmt->read_compressed(fdisk, &m, buf, n)
				  : -EIO;
		}
		pthread_mutex_unlock(&fdisk->lock);
		if (err)
			return err;
		if (m.len == 0)
			return -EIO;
		n = (size_t)KVMM_MIN(m.len, (uint64_t)len);
		if (m.kind != DISK_EXTENT_DATA)
			memset(buf, 0, n);
		else if (!m.compressed) {
			err = disk_file_pread(fdisk->d.fd, buf, n, m.host_off);
			if (err)
				return err;
		}
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

int foreign_preadv(struct disk *d, const struct iovec *iov, unsigned cnt, uint64_t off)
{
	struct foreign_disk *fdisk = container_of(d, struct foreign_disk, d);
	uint64_t end;

	if (ckd_add(&end, off, (uint64_t)iov_size(iov, cnt)) || end > d->size)
		return -EINVAL;
	for (unsigned i = 0; i < cnt; i++) {
		int err = foreign_read_buf(fdisk, iov[i].iov_base, iov[i].iov_len, off);

		if (err)
			return err;
		off += iov[i].iov_len;
	}
	return 0;
}

int foreign_pwritev(struct disk *d, const struct iovec *iov, unsigned cnt, uint64_t off)
{
	return -EROFS;
}

int foreign_flush(struct disk *d)
{
	return 0;
}

int foreign_discard(struct disk *d, uint64_t off, uint64_t len)
{
	return -EROFS;
}

int foreign_write_zeroes(struct disk *d, uint64_t off, uint64_t len, bool may_unmap)
{
	return -EROFS;
}

int foreign_extent(struct disk *d, uint64_t off, uint64_t max_len, struct disk_extent *out)
{
	struct foreign_disk *fdisk = container_of(d, struct foreign_disk, d);
	struct foreign_map m = {0};
	int err;

	if (off >= d->size || max_len == 0)
		return -EINVAL;
	max_len = KVMM_MIN(max_len, d->size - off);
	pthread_mutex_lock(&fdisk->lock);
	err = fdisk->fmt->map(fdisk, off, max_len, &m);
	pthread_mutex_unlock(&fdisk->lock);
	if (err)
		return err;
	if (m.len == 0)
		return -EIO;
	out->off = off;
	out->len = KVMM_MIN(m.len, max_len);
	out->kind = m.kind;
	out->compressed = m.compressed;
	out->host_off = (m.kind == DISK_EXTENT_DATA && !m.compressed) ? m.host_off : 0;
	return 0;
}

void foreign_close(struct disk *d)
{
	struct foreign_disk *fdisk = container_of(d, struct foreign_disk, d);

	foreign_abort(fdisk);
	free(fdisk);
}

/* CRC-32C, reflected polynomial 0x82F63B78, bitwise with a nibble table (no global state). */
uint32_t foreign_crc32c(uint32_t crc, const void *buf, size_t len)
{
	static const uint32_t tbl[16] = {
	    0x00000000, 0x105ec76f, 0x20bd8ede, 0x30e349b1, 0x417b1dbc, 0x5125dad3,
	    0x61c69362, 0x7198540d, 0x82f63b78, 0x92a8fc17, 0xa24bb5a6, 0xb21572c9,
	    0xc38d26c4, 0xd3d3e1ab, 0xe330a81a, 0xf36e6f75,
	};
	const uint8_t *p = buf;

	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		crc = (crc >> 4) ^ tbl[crc & 15];
		crc = (crc >> 4) ^ tbl[crc & 15];
	}
	return ~crc;
}
