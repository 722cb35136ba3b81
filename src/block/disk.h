/* block/disk.h — the block layer's contract: a disk is a byte-addressed image behind ops.
 *
 * Formats (raw, qcow2, read-only foreign formats) implement struct disk_ops; users (virtio-blk,
 * `kvmm img`, fuzzers) see only this header. The block layer never sees guest memory: data moves
 * through struct iovec. A struct disk may be used from several threads; each format documents
 * and implements its own locking (qcow2 serialises metadata updates internally).
 * All functions return 0 or -errno. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/compiler.h"

struct disk;

/* Allocation status of a byte range (for `img map`, sparse convert, backing chains). */
enum disk_extent_kind {
	DISK_EXTENT_DATA,     /* allocated in this image */
	DISK_EXTENT_ZERO,     /* reads as zeroes, known without I/O */
	DISK_EXTENT_BACKING,  /* not allocated here: comes from the backing file */
	DISK_EXTENT_UNALLOC,  /* not allocated anywhere: reads as zeroes */
};

struct disk_extent {
	uint64_t off, len;
	enum disk_extent_kind kind;
	uint64_t host_off;    /* offset in the image file for DATA, else 0 */
	bool compressed;
};

struct disk_ops {
	const char *format;   /* "raw", "qcow2", "vmdk", ... */
	int (*preadv)(struct disk *d, const struct iovec *iov, unsigned cnt, uint64_t off);
	int (*pwritev)(struct disk *d, const struct iovec *iov, unsigned cnt, uint64_t off);
	int (*flush)(struct disk *d);
	int (*discard)(struct disk *d, uint64_t off, uint64_t len);
	int (*write_zeroes)(struct disk *d, uint64_t off, uint64_t len, bool may_unmap);
	/* Describe the extent starting at off (len ≤ max_len). */
	int (*extent)(struct disk *d, uint64_t off, uint64_t max_len, struct disk_extent *out);
	void (*close)(struct disk *d);
};

/* Open flags. */
#define DISK_O_RDONLY 0x1u
#define DISK_O_DIRECT 0x2u      /* O_DIRECT (cache=none) */
#define DISK_O_NO_BACKING 0x4u  /* do not open the backing chain */

struct disk_open_opts {
	const char *format;     /* NULL or "auto": probe */
	unsigned flags;         /* DISK_O_* */
	uint64_t cache_bytes;   /* metadata cache size hint (qcow2 L2 cache); 0 = default */
};
