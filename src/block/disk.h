/* block/disk.h — the block layer's contract: a disk is a byte-addressed image behind ops.
 *
 * Formats (raw, qcow2, read-only foreign formats) implement struct disk_ops; users (virtio-blk,
 * `kvmm img`, fuzzers) see only this header (plus block/qcow2.h for qcow2-only operations).
 * The block layer never sees guest memory: data moves through struct iovec. A struct disk may be
 * used from several threads for I/O; each format documents and implements its own locking
 * (qcow2 serialises metadata updates internally). Open/close/resize are not concurrent with I/O.
 * All functions return 0 or -errno. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/compiler.h"

struct disk;

/* Allocation status of a byte range (for `img map`, sparse convert, backing chains). */
enum disk_extent_kind {
	DISK_EXTENT_DATA,    /* allocated in this image */
	DISK_EXTENT_ZERO,    /* reads as zeroes, known without I/O */
	DISK_EXTENT_BACKING, /* not allocated here: comes from the backing file */
	DISK_EXTENT_UNALLOC, /* not allocated anywhere: reads as zeroes */
};

struct disk_extent {
	uint64_t off, len;
	enum disk_extent_kind kind;
	uint64_t host_off; /* offset in the image file for DATA, else 0 */
	bool compressed;
};

struct disk_ops {
	const char *format; /* "raw", "qcow2", "vmdk", ... */
	int (*preadv)(struct disk *d, const struct iovec *iov, unsigned cnt, uint64_t off);
	int (*pwritev)(struct disk *d, const struct iovec *iov, unsigned cnt, uint64_t off);
	int (*flush)(struct disk *d);
	int (*discard)(struct disk *d, uint64_t off, uint64_t len);
	int (*write_zeroes)(struct disk *d, uint64_t off, uint64_t len, bool may_unmap);
	/* Describe the extent starting at off (len ≤ max_len). */
	int (*extent)(struct disk *d, uint64_t off, uint64_t max_len, struct disk_extent *out);
	/* Flush format metadata and free the format's state (which embeds struct disk).
	 * The generic layer closes d->fd and the backing disk afterwards. */
	void (*close)(struct disk *d);
	/* Optional (NULL: -ENOTSUP). Change the virtual size; shrink must be true to reduce it. */
	int (*resize)(struct disk *d, uint64_t new_size, bool shrink);
};

/* Open flags. */
#define DISK_O_RDONLY	  0x1u
#define DISK_O_DIRECT	  0x2u /* O_DIRECT (cache=none) */
#define DISK_O_NO_BACKING 0x4u /* do not open the backing chain */
#define DISK_O_REPAIR	  0x8u /* qcow2: allow opening a corrupt/dirty image for qcow2_check() */
/* cache=unsafe (qemu-img convert's default for its target): never fdatasync, not even on flush
 * or close. Write ordering is kept, but after a host crash the image may be lost or corrupt. */
#define DISK_O_UNSAFE 0x10u

/* Deepest backing chain disk_open() follows (the top image is depth 0). */
#define DISK_MAX_CHAIN_DEPTH 64

struct disk_open_opts {
	const char *format;   /* NULL or "auto": probe */
	unsigned flags;	      /* DISK_O_* */
	uint64_t cache_bytes; /* metadata cache size hint (qcow2 L2 cache); 0 = default */
	unsigned depth;	      /* internal: backing-chain depth of this open; callers leave 0 */
};

/* Common state of every open disk. Formats embed it first in their own struct and fill it in
 * their open function; users only read it through the accessors below. */
struct disk {
	const struct disk_ops *ops;
	uint64_t size;	      /* virtual size in bytes */
	unsigned flags;	      /* DISK_O_* as opened */
	int fd;		      /* the image file; owned, closed by disk_close() */
	struct disk *backing; /* owned backing disk or NULL */
	char *filename;	      /* path as opened (owned) */
	char *backing_name;   /* backing file name as stored in the image, or NULL (owned) */
	char *backing_fmt;    /* backing format as stored in the image, or NULL (owned) */
	unsigned depth;	      /* 0 for the top of a chain */
	uint32_t align; /* required I/O alignment (1, or the logical block size with O_DIRECT) */
};

/* Open `path`, probing the format unless o->format names one (NULL o = defaults), and open the
 * backing chain (relative backing names resolve against the directory of `path`). Returns -EINVAL
 * for bad or unsupported images (logged), -ENOENT etc. from open(2), -ELOOP past
 * DISK_MAX_CHAIN_DEPTH. On success *out is owned by the caller. Any thread, not concurrently with
 * I/O on *out. */
int disk_open(const char *path, const struct disk_open_opts *o, struct disk **out) KVMM_MUST_CHECK;

/* Close a disk, its file and its backing chain. NULL is a no-op. */
void disk_close(struct disk *d);

/* Virtual size in bytes. */
uint64_t disk_size(const struct disk *d);
/* Format name ("raw", "qcow2", ...); static string. */
const char *disk_format(const struct disk *d);
bool disk_is_readonly(const struct disk *d);
/* The backing disk or NULL. */
struct disk *disk_backing(const struct disk *d);

/* Read/write iov (total = sum of lengths) at byte offset off. The range must lie inside the
 * disk (-EINVAL otherwise; writes to a read-only disk: -EROFS). Reads past the end of a
 * short raw file return zeroes. Thread-safe as documented by the format. */
int disk_preadv(struct disk *d, const struct iovec *iov, unsigned cnt,
		uint64_t off) KVMM_MUST_CHECK;
int disk_pwritev(struct disk *d, const struct iovec *iov, unsigned cnt,
		 uint64_t off) KVMM_MUST_CHECK;
int disk_pread(struct disk *d, void *buf, size_t len, uint64_t off) KVMM_MUST_CHECK;
int disk_pwrite(struct disk *d, const void *buf, size_t len, uint64_t off) KVMM_MUST_CHECK;
/* Make completed writes (data and metadata) durable. */
int disk_flush(struct disk *d) KVMM_MUST_CHECK;
/* Hint that a range is unused; it then reads as zeroes (or backing data for a format whose
 * discard falls back to the backing file: qcow2 v2 without backing only). -ENOTSUP if unknown. */
int disk_discard(struct disk *d, uint64_t off, uint64_t len) KVMM_MUST_CHECK;
/* Make a range read as zeroes; may_unmap allows deallocating it. */
int disk_write_zeroes(struct disk *d, uint64_t off, uint64_t len, bool may_unmap) KVMM_MUST_CHECK;
/* Describe the allocation of [off, off + out->len), out->len ≤ max_len, ≥ 1 when off < size. */
int disk_extent(struct disk *d, uint64_t off, uint64_t max_len,
		struct disk_extent *out) KVMM_MUST_CHECK;
/* Change the virtual size (shrink must be true to reduce it). -ENOTSUP for read-only formats. */
int disk_resize(struct disk *d, uint64_t new_size, bool shrink) KVMM_MUST_CHECK;

/* Helpers for format implementations (block/ only). */

/* Fill the common fields; takes ownership of nothing. Returns -ENOMEM. */
int disk_init_common(struct disk *d, const struct disk_ops *ops, int fd, const char *path,
		     unsigned flags, unsigned depth) KVMM_MUST_CHECK;
/* Free the common heap fields (filename, backing names); not fd or backing. */
void disk_fini_common(struct disk *d);
/* Open d's backing file `name` (format `fmt` or probe) read-only at depth d->depth + 1,
 * resolving a relative name against d->filename's directory. Sets d->backing. */
int disk_open_backing(struct disk *d, const char *name, const char *fmt,
		      const struct disk_open_opts *parent) KVMM_MUST_CHECK;
/* pread/pwrite the whole range or fail (-EIO on a short write; reads past EOF give zeroes). */
int disk_file_pread(int fd, void *buf, size_t len, uint64_t off) KVMM_MUST_CHECK;
int disk_file_pwrite(int fd, const void *buf, size_t len, uint64_t off) KVMM_MUST_CHECK;
/* Vectored versions of the above (iovec arrays of any length). */
int disk_file_preadv(int fd, const struct iovec *iov, unsigned cnt, uint64_t off) KVMM_MUST_CHECK;
int disk_file_pwritev(int fd, const struct iovec *iov, unsigned cnt, uint64_t off) KVMM_MUST_CHECK;
