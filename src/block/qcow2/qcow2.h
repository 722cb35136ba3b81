/* block/qcow2/qcow2.h — private state and cross-file prototypes of the qcow2 driver.
 *
 * Included only from block/qcow2/. Every function here expects s->lock held unless its comment
 * says otherwise; see docs/qcow2.md for the lock and crash-safety rules. */
#pragma once

#include <endian.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/log.h"
#include "block/disk.h"
#include "block/qcow2.h"
#include "block/qcow2/format.h"

/* A write-back cache of cluster-sized metadata tables (L2 tables or refcount blocks). */
struct qcow2_cache_entry {
	uint64_t offset; /* host offset of the table; 0 = empty slot */
	uint64_t lru;
	bool dirty;
	uint8_t *data; /* big-endian on-disk bytes, table_size long */
};

struct qcow2_cache {
	struct qcow2_cache_entry *e;
	unsigned n;
	uint32_t table_size;
	uint64_t clock;
	struct qcow2_cache *depends; /* flushed (+ fdatasync) before any entry here is written */
};

struct qcow2_unknown_ext {
	uint32_t type, len;
	uint8_t *data;
};

struct qcow2_snapshot {
	uint64_t l1_offset;
	uint32_t l1_size;
	char *id, *name;
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_nsec;
	uint64_t vm_state_size;
	uint64_t disk_size;
	uint64_t icount;
	bool has_icount;
	uint32_t extra_size;	/* as stored (≥ 24 for images we write) */
	uint8_t *extra_unknown; /* extra data beyond the fields we know, preserved */
	uint32_t extra_unknown_len;
};

struct qcow2 {
	struct disk d;
	pthread_mutex_t lock;	  /* all metadata: header fields, L1, caches, reftable, snapshots */
	pthread_rwlock_t io_lock; /* shared by requests; exclusive while clusters may be freed */

	/* header (host endian) */
	uint32_t version;
	uint32_t cluster_bits;
	uint32_t cluster_size;
	uint32_t header_length;
	uint64_t l1_offset;
	uint32_t l1_size;
	uint64_t reft_offset;
	uint32_t reft_clusters;
	uint32_t nb_snapshots;
	uint64_t snapshots_offset;
	uint64_t snapshots_size; /* bytes of the on-disk snapshot table */
	uint64_t incompat, compat, autoclear;
	uint32_t refcount_order;
	uint8_t compression_type;
	uint64_t backing_offset; /* backing name location in the header cluster */
	uint32_t backing_len;

	/* derived */
	bool ext_l2;
	uint32_t l2_entry_size; /* 8 or 16 */
	uint32_t l2_bits;	/* log2(entries per L2 table) */
	uint32_t sc_bits;	/* log2(subcluster size) */
	uint32_t rb_bits;	/* log2(refcount entries per refcount block) */
	uint64_t refcount_max;
	uint32_t csize_shift; /* compressed descriptor: offset bits */
	uint64_t csize_mask;

	uint64_t *l1;	/* active L1 table, host endian, l1_size entries */
	uint64_t *reft; /* refcount table, host endian, reft_entries entries */
	uint64_t reft_entries;
	uint64_t
	    reft_hi; /* 1 + index of the last non-zero reft entry (overlap checks stop there) */
	struct qcow2_cache l2c, rbc;
	struct qcow2_snapshot *snaps;
	struct qcow2_unknown_ext *exts;
	unsigned nb_exts;
	uint8_t *hdr_tail; /* header bytes [112, header_length) we do not know, preserved */

	uint64_t free_cluster_index;	     /* no free cluster below this one */
	uint64_t reserve_start, reserve_end; /* clusters being allocated: not free for refblocks */
	uint64_t free_byte_offset;	     /* compressed-data packing position, 0 = none */
	uint64_t file_end;		     /* host bytes: allocation frontier (≥ file size) */
	bool corrupt;			     /* sticky: refuse writes */
	bool dirty_set;			     /* the dirty bit is set on disk (lazy refcounts) */
	bool header_autoclear_done;
	struct log_ratelimit corrupt_rl;
};

static inline struct qcow2 *qcow2_from_disk(struct disk *d)
{
	return container_of(d, struct qcow2, d);
}

static inline uint64_t qcow2_l2_entries(const struct qcow2 *s)
{
	return 1ull << s->l2_bits;
}

static inline uint64_t qcow2_l1_index(const struct qcow2 *s, uint64_t off)
{
	return off >> (s->cluster_bits + s->l2_bits);
}

static inline uint64_t qcow2_l2_index(const struct qcow2 *s, uint64_t off)
{
	return (off >> s->cluster_bits) & (qcow2_l2_entries(s) - 1);
}

static inline uint64_t qcow2_offset_in_cluster(const struct qcow2 *s, uint64_t off)
{
	return off & (s->cluster_size - 1);
}

static inline uint64_t qcow2_sc_size(const struct qcow2 *s)
{
	return 1ull << s->sc_bits;
}

static inline bool qcow2_is_aligned(const struct qcow2 *s, uint64_t off)
{
	return (off & (s->cluster_size - 1)) == 0;
}

/* Entries needed to map `size` bytes. */
static inline uint64_t qcow2_size_to_l1(uint32_t cluster_bits, uint32_t l2_bits, uint64_t size)
{
	uint64_t shift = cluster_bits + l2_bits;

	return (size >> shift) + ((size & ((1ull << shift) - 1)) != 0);
}

/* Read the L2 entry pair (descriptor, subcluster bitmap) at index i of a big-endian table. */
static inline uint64_t qcow2_l2_get(const struct qcow2 *s, const uint8_t *t, uint64_t i)
{
	uint64_t v;

	__builtin_memcpy(&v, t + i * s->l2_entry_size, 8);
	return be64toh(v);
}

static inline uint64_t qcow2_l2_get_bitmap(const struct qcow2 *s, const uint8_t *t, uint64_t i)
{
	uint64_t v;

	if (!s->ext_l2)
		return 0;
	__builtin_memcpy(&v, t + i * s->l2_entry_size + 8, 8);
	return be64toh(v);
}

static inline void qcow2_l2_set(const struct qcow2 *s, uint8_t *t, uint64_t i, uint64_t e,
				uint64_t bitmap)
{
	uint64_t v = htobe64(e);

	__builtin_memcpy(t + i * s->l2_entry_size, &v, 8);
	if (s->ext_l2) {
		v = htobe64(bitmap);
		__builtin_memcpy(t + i * s->l2_entry_size + 8, &v, 8);
	}
}

/* fdatasync(2) of the image file (0, or -1 with errno), skipped with DISK_O_UNSAFE. */
static inline int qcow2_fdatasync(const struct qcow2 *s)
{
	return (s->d.flags & DISK_O_UNSAFE) ? 0 : fdatasync(s->d.fd);
}

/* Recompute s->reft_hi after s->reft was replaced or loaded. */
static inline void qcow2_reft_rescan(struct qcow2 *s)
{
	s->reft_hi = s->reft_entries;
	while (s->reft_hi && !s->reft[s->reft_hi - 1])
		s->reft_hi--;
}

/* Mark the image corrupt (sticky, sets the header bit if writable), log why once. -EIO. */
int qcow2_signal_corruption(struct qcow2 *s, const char *fmt, ...) KVMM_PRINTF(2, 3);

/* header.c */
int qcow2_header_read(struct qcow2 *s, uint64_t file_size);
int qcow2_header_write(struct qcow2 *s);	   /* whole header cluster */
int qcow2_header_update_features(struct qcow2 *s); /* feature words only */
int qcow2_l1_write_entries(struct qcow2 *s, uint64_t first, uint64_t n);
int qcow2_snapshots_read(struct qcow2 *s, uint64_t file_size);
int qcow2_snapshots_write(struct qcow2 *s); /* new table, then header */
void qcow2_snapshots_free(struct qcow2_snapshot *sn, unsigned n);

/* cache.c */
int qcow2_cache_init(struct qcow2_cache *c, unsigned n, uint32_t table_size);
void qcow2_cache_fini(struct qcow2_cache *c);
/* Table at host offset `off` (read from the file on a miss). Valid until the next cache call. */
int qcow2_cache_get(struct qcow2 *s, struct qcow2_cache *c, uint64_t off, uint8_t **out);
/* Same but without reading: the caller initialises the whole table (new allocation). */
int qcow2_cache_get_empty(struct qcow2 *s, struct qcow2_cache *c, uint64_t off, uint8_t **out);
void qcow2_cache_mark_dirty(struct qcow2_cache *c, const uint8_t *data);
int qcow2_cache_flush(struct qcow2 *s, struct qcow2_cache *c);
void qcow2_cache_discard(struct qcow2_cache *c, uint64_t off); /* drop without writing */
int qcow2_flush_all(struct qcow2 *s, bool sync);

/* refcount.c */
int qcow2_refcount_get(struct qcow2 *s, uint64_t cluster_index, uint64_t *out);
/* Add delta to the refcount of every cluster in [off, off+len). Allocates refcount blocks and
 * grows the refcount table as needed. */
int qcow2_refcount_update(struct qcow2 *s, uint64_t off, uint64_t len, int64_t delta);
/* Allocate n contiguous clusters (refcount 1). Returns the host offset in *out. */
int qcow2_alloc_clusters(struct qcow2 *s, uint64_t n, uint64_t *out);
/* Allocate `bytes` (≤ cluster) for compressed data, packing into a partly used cluster. */
int qcow2_alloc_bytes(struct qcow2 *s, uint64_t bytes, uint64_t *out);
/* Drop one reference to the clusters an L2 entry points to (data or compressed). */
int qcow2_free_l2_entry_clusters(struct qcow2 *s, uint64_t entry);
uint64_t qcow2_refcount_read_entry(const struct qcow2 *s, const uint8_t *blk, uint64_t i);
void qcow2_refcount_write_entry(const struct qcow2 *s, uint8_t *blk, uint64_t i, uint64_t v);
/* -EIO (corruption) if [off, off+len) overlaps metadata we know of, other than the structure
 * being written itself: skip names its kind (QCOW2_OL_*) so that table is not checked. */
#define QCOW2_OL_L1	   0x1u
#define QCOW2_OL_L2	   0x2u
#define QCOW2_OL_REFBLOCK  0x4u
#define QCOW2_OL_REFTABLE  0x8u
#define QCOW2_OL_SNAPTABLE 0x10u
int qcow2_check_overlap(struct qcow2 *s, uint64_t off, uint64_t len, unsigned skip);
int qcow2_mark_dirty(struct qcow2 *s);

/* cluster.c */
enum qcow2_map_kind { QCOW2_MAP_DATA, QCOW2_MAP_ZERO, QCOW2_MAP_UNALLOC, QCOW2_MAP_COMPRESSED };
struct qcow2_map {
	enum qcow2_map_kind kind;
	uint64_t len;
	uint64_t host_off; /* DATA: host offset of the first byte */
	uint64_t l2_entry; /* COMPRESSED: the descriptor */
};
int qcow2_map(struct qcow2 *s, uint64_t off, uint64_t max_len, struct qcow2_map *m);
int qcow2_read_compressed(struct qcow2 *s, uint64_t l2_entry, uint8_t *cluster_buf);
int qcow2_co_preadv(struct qcow2 *s, const struct iovec *iov, unsigned cnt, uint64_t off);
int qcow2_co_pwritev(struct qcow2 *s, const struct iovec *iov, unsigned cnt, uint64_t off);
int qcow2_zero_or_discard(struct qcow2 *s, uint64_t off, uint64_t len, bool discard,
			  bool may_unmap);
/* Same, and with dealloc whole clusters become unallocated (shrink). */
int qcow2_zero_discard_dealloc(struct qcow2 *s, uint64_t off, uint64_t len, bool discard,
			       bool may_unmap, bool dealloc);
int qcow2_write_compressed_cluster(struct qcow2 *s, uint64_t off, const void *buf, size_t len);
/* The L2 table mapping goff, allocated or copied so that the active image owns it. */
int qcow2_l2_writable(struct qcow2 *s, uint64_t goff, uint8_t **l2);
int qcow2_grow_l1(struct qcow2 *s, uint64_t min_size);
/* Free all clusters referenced by an L1 table (snapshot delete / apply). */
int qcow2_free_l1_tree(struct qcow2 *s, const uint64_t *l1, uint32_t l1_size);
/* Increment refcounts of everything referenced by l1 and clear the COPIED flags (snapshot). */
int qcow2_ref_l1_tree(struct qcow2 *s, uint64_t *l1, uint32_t l1_size, int delta);

/* Set/clear COPIED in the active L1/L2 tables from the refcounts (after snapshot changes). */
int qcow2_fix_copied(struct qcow2 *s);

/* compress.c */
int qcow2_decompress(uint8_t type, const uint8_t *src, size_t slen, uint8_t *dst, size_t dlen);
/* Compress into dst (capacity dcap); *out_len 0 if it did not shrink. */
int qcow2_compress(uint8_t type, const uint8_t *src, size_t slen, uint8_t *dst, size_t dcap,
		   size_t *out_len);

/* check.c */
int qcow2_check_locked(struct qcow2 *s, unsigned fix, struct qcow2_check_result *res);
/* The reference count each of the *n clusters should have (malloc'ed array; -EIO if the
 * metadata is inconsistent). */
int qcow2_compute_refcounts(struct qcow2 *s, uint32_t **refs, uint64_t *n);

/* refcount.c: rewrite the refcount structures with 2^order-bit entries. */
int qcow2_change_refcount_order(struct qcow2 *s, uint32_t order);
