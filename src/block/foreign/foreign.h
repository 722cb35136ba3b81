/* block/foreign/foreign.h — private to block/foreign/: the shared frame of the read-only foreign
 * image readers (VMDK, VDI, VPC/VHD, VHDX).
 *
 * Each reader parses and validates its headers once at open into a struct that embeds
 * struct foreign_disk (which embeds struct disk first), then answers `map` queries: which file
 * bytes back a virtual range. common.c turns those answers into the disk_ops (read, extent,
 * close; every write op fails with -EROFS). Lookups are serialised by a per-disk mutex, so any
 * thread may read; open/close are not concurrent with I/O. Every field read from the image is
 * hostile: readers bound-check with ckd_* against the file size before using it. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block/disk.h"

/* How the bytes at one virtual offset are stored. */
struct foreign_map {
	enum disk_extent_kind kind; /* DATA, ZERO or UNALLOC (no backing support) */
	uint64_t len;		    /* bytes from the queried offset mapped the same way (≥ 1) */
	uint64_t host_off;	    /* DATA, !compressed: file offset of the queried byte */
	bool compressed;	    /* DATA in a compressed unit: read through read_compressed */
	uint64_t unit_off;	    /* compressed: file offset of the unit (grain) */
	uint64_t unit_pos;	    /* compressed: offset of the queried byte inside the unit */
};

struct foreign_disk;

struct foreign_fmt {
	/* Map [off, off + max) (max ≥ 1, off < size). Returns 0 or -EIO for corrupt tables. */
	int (*map)(struct foreign_disk *fd, uint64_t off, uint64_t max, struct foreign_map *m);
	/* Copy len bytes at m->unit_pos of the decompressed unit at m->unit_off to buf. Optional.
	 */
	int (*read_compressed)(struct foreign_disk *fd, const struct foreign_map *m, void *buf,
			       size_t len);
	/* Free the format's private allocations (not the struct itself). Optional. */
	void (*fini)(struct foreign_disk *fd);
};

struct foreign_disk {
	struct disk d; /* first: container_of from struct disk */
	const struct foreign_fmt *fmt;
	uint64_t file_size;
	pthread_mutex_t lock; /* serialises map() and the formats' caches */
};

/* Initialise fdisk (already zeroed, embedded first in a heap object freed with free()) for fd:
 * disk common fields, read-only flag, lock, file size. 0 or -errno. */
int foreign_init(struct foreign_disk *fdisk, const struct disk_ops *ops,
		 const struct foreign_fmt *fmt, int fd, const char *path,
		 const struct disk_open_opts *o) KVMM_MUST_CHECK;
/* Undo foreign_init after a failed open (does not close fd, does not free fdisk). */
void foreign_abort(struct foreign_disk *fdisk);

/* Shared disk_ops members for every foreign format. */
int foreign_preadv(struct disk *d, const struct iovec *iov, unsigned cnt, uint64_t off);
int foreign_pwritev(struct disk *d, const struct iovec *iov, unsigned cnt, uint64_t off);
int foreign_flush(struct disk *d);
int foreign_discard(struct disk *d, uint64_t off, uint64_t len);
int foreign_write_zeroes(struct disk *d, uint64_t off, uint64_t len, bool may_unmap);
int foreign_extent(struct disk *d, uint64_t off, uint64_t max_len, struct disk_extent *out);
void foreign_close(struct disk *d);

#define FOREIGN_DISK_OPS(name)                                                                     \
	{                                                                                          \
		.format = (name), .preadv = foreign_preadv, .pwritev = foreign_pwritev,            \
		.flush = foreign_flush, .discard = foreign_discard,                                \
		.write_zeroes = foreign_write_zeroes, .extent = foreign_extent,                    \
		.close = foreign_close, .resize = NULL,                                            \
	}

/* Read exactly len bytes at off of the image file, failing with -EINVAL if the range is not
 * wholly inside the file (for headers and tables, which must exist). */
int foreign_read_meta(struct foreign_disk *fdisk, void *buf, size_t len,
		      uint64_t off) KVMM_MUST_CHECK;

/* CRC-32C (Castagnoli), as used by VHDX; crc is the running value (start with 0). */
uint32_t foreign_crc32c(uint32_t crc, const void *buf, size_t len);

static inline uint16_t foreign_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t foreign_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t foreign_le64(const uint8_t *p)
{
	return foreign_le32(p) | (uint64_t)foreign_le32(p + 4) << 32;
}
static inline uint16_t foreign_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t foreign_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static inline uint64_t foreign_be64(const uint8_t *p)
{
	return (uint64_t)foreign_be32(p) << 32 | foreign_be32(p + 4);
}
