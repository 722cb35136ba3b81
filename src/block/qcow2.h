/* block/qcow2.h — qcow2-only operations beyond struct disk_ops: create, info, check/repair,
 * internal snapshots, amend, measure, compressed writes.
 *
 * These take a struct disk opened by disk_open() whose format is "qcow2" (else -EINVAL).
 * Callers: `kvmm img` and tests. None of these may run concurrently with I/O on the same disk
 * (except qcow2_write_compressed, which is as thread-safe as disk_pwritev). 0 or -errno. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

struct disk;

enum qcow2_prealloc {
	QCOW2_PREALLOC_OFF,
	QCOW2_PREALLOC_METADATA, /* L2 tables and refcounts for every cluster, data unwritten */
	QCOW2_PREALLOC_FALLOC,	 /* metadata + fallocate() the data area */
	QCOW2_PREALLOC_FULL,	 /* metadata + write zeroes to the data area */
};

enum qcow2_compression {
	QCOW2_COMPRESSION_ZLIB = 0, /* raw deflate (compression_type 0) */
	QCOW2_COMPRESSION_ZSTD = 1,
};

struct qcow2_create_opts {
	uint64_t size;	  /* virtual size in bytes (0 allowed); 0 with a backing file = its size */
	unsigned version; /* 2 (compat=0.10) or 3 (compat=1.1); 0 = 3 */
	uint32_t cluster_size;			 /* power of two, 512..2 MiB; 0 = 65536 */
	unsigned refcount_bits;			 /* 1,2,4,...,64; 0 = 16 (v2 requires 16) */
	bool extended_l2;			 /* v3 only; cluster_size ≥ 16 KiB */
	bool lazy_refcounts;			 /* v3 only */
	enum qcow2_compression compression_type; /* zstd needs v3 */
	const char *backing_file;		 /* NULL = none; stored verbatim */
	const char *backing_fmt;		 /* NULL = not recorded (probe on open) */
	enum qcow2_prealloc prealloc;
};

/* Create (or truncate) the file at path as an empty qcow2 image. Invalid combinations log why
 * and return -EINVAL. Existing files are overwritten. */
int qcow2_create(const char *path, const struct qcow2_create_opts *o) KVMM_MUST_CHECK;

/* What `img info` prints about a qcow2 image. */
struct qcow2_info {
	unsigned version; /* 2 or 3 */
	uint32_t cluster_size;
	unsigned refcount_bits;
	bool lazy_refcounts;
	bool extended_l2;
	bool corrupt;
	bool dirty;
	enum qcow2_compression compression_type;
	unsigned nb_snapshots;
	uint64_t incompatible_features, compatible_features, autoclear_features;
};
int qcow2_get_info(const struct disk *d, struct qcow2_info *out) KVMM_MUST_CHECK;

/* Results of qcow2_check(), with qemu-img check's meanings. */
struct qcow2_check_result {
	uint64_t corruptions;  /* remaining after repair */
	uint64_t leaks;	       /* remaining after repair */
	uint64_t check_errors; /* internal errors (I/O) while checking */
	uint64_t corruptions_fixed;
	uint64_t leaks_fixed;
	uint64_t image_end_offset;   /* highest used host offset, cluster-aligned */
	uint64_t allocated_clusters; /* guest clusters allocated in this image */
	uint64_t total_clusters;     /* guest clusters (virtual size / cluster size) */
	uint64_t fragmented_clusters;
	uint64_t compressed_clusters;
};
#define QCOW2_CHECK_FIX_LEAKS  0x1u /* -r leaks */
#define QCOW2_CHECK_FIX_ERRORS 0x2u /* -r all (with FIX_LEAKS) */

/* Recompute refcounts from L1/L2 tables, snapshots and metadata, compare with the stored ones
 * and optionally repair. A repair needs the disk opened writable (DISK_O_REPAIR lets a corrupt or
 * dirty image be opened for this). Returns 0 even when problems were found (see *res). */
int qcow2_check(struct disk *d, unsigned fix, struct qcow2_check_result *res) KVMM_MUST_CHECK;

struct qcow2_snapshot_info {
	char *id; /* unique id string ("1", "2", ...) */
	char *name;
	uint64_t vm_state_size; /* always 0 for snapshots kvmm creates */
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_nsec;
	uint64_t disk_size;    /* virtual size at snapshot time */
	uint32_t icount_valid; /* 0 if unknown */
	uint64_t icount;
};
/* List internal snapshots. *out (array of *n) is freed with qcow2_snapshot_list_free(). */
int qcow2_snapshot_list(struct disk *d, struct qcow2_snapshot_info **out,
			unsigned *n) KVMM_MUST_CHECK;
void qcow2_snapshot_list_free(struct qcow2_snapshot_info *s, unsigned n);
/* Create a snapshot of the current state named `name` (-EEXIST if the name or id is taken). */
int qcow2_snapshot_create(struct disk *d, const char *name) KVMM_MUST_CHECK;
/* Revert the active image to the snapshot whose id or name is `id_or_name` (-ENOENT). */
int qcow2_snapshot_apply(struct disk *d, const char *id_or_name) KVMM_MUST_CHECK;
int qcow2_snapshot_delete(struct disk *d, const char *id_or_name) KVMM_MUST_CHECK;

/* amend: fields left at their "unchanged" value are not touched. */
struct qcow2_amend_opts {
	unsigned version;	/* 0 = unchanged, 2 or 3 */
	int lazy_refcounts;	/* -1 = unchanged, 0 or 1 */
	unsigned refcount_bits; /* 0 = unchanged */
};
int qcow2_amend(struct disk *d, const struct qcow2_amend_opts *o) KVMM_MUST_CHECK;

/* Space a new image with options o would need: `required` for the data of src (or none if
 * src is NULL), `fully_allocated` with every cluster allocated. */
struct qcow2_measure_result {
	uint64_t required;
	uint64_t fully_allocated;
};
int qcow2_measure(const struct qcow2_create_opts *o, struct disk *src,
		  struct qcow2_measure_result *out) KVMM_MUST_CHECK;

/* Write one whole cluster (len = cluster size, or the tail up to the virtual size) compressed
 * at cluster-aligned off. If it does not compress, it is written uncompressed. */
int qcow2_write_compressed(struct disk *d, uint64_t off, const void *buf,
			   size_t len) KVMM_MUST_CHECK;
/* Cluster size of an open qcow2 disk, 0 if d is not qcow2. */
uint32_t qcow2_cluster_size(const struct disk *d);

/* Rewrite the backing file name and the backing-format header extension of a writable qcow2
 * image in place (v2 and v3; internal snapshots and all other extensions, known or not, and the
 * feature bits are kept). backing_file NULL or "" removes both; backing_fmt NULL or "" drops
 * the format extension. The header, its extensions and the name must fit in the first cluster,
 * else -ENOSPC (logged) and nothing is written. All pending data and metadata are made durable
 * before the header changes. Updates d->backing_name/backing_fmt; it does not (re)open the
 * backing chain (d->backing is left as it was: the caller reopens the image to follow the new
 * chain). -EROFS if d is read-only. */
int qcow2_set_backing(struct disk *d, const char *backing_file,
		      const char *backing_fmt) KVMM_MUST_CHECK;

/* Deallocate every cluster of the active layer of a writable qcow2 image so that the whole
 * image reads from its backing file (or as zeroes without one), as QEMU's make_empty. Clusters
 * still used by internal snapshots stay allocated for them. Metadata is flushed and synced. */
int qcow2_make_empty(struct disk *d) KVMM_MUST_CHECK;
