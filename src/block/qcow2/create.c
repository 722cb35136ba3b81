/* block/qcow2/create.c — create a new qcow2 image (any version, cluster size, refcount width,
 * extended L2, compression type, backing file, preallocation) and measure the space an image
 * needs. Any thread; touches only the new file. */
#include "block/qcow2/qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/ckd.h"

static int validate(const struct qcow2_create_opts *o, unsigned *version, uint32_t *cs,
		    unsigned *rbits)
{
	*version = o->version ? o->version : 3;
	*cs = o->cluster_size ? o->cluster_size : 65536;
	*rbits = o->refcount_bits ? o->refcount_bits : 16;
	if (*version != 2 && *version != 3) {
		log_err("qcow2: invalid version %u (2 or 3)", *version);
		return -EINVAL;
	}
	if (!IS_POW2(*cs) || *cs < 512 || *cs > (2u << 20)) {
		log_err("qcow2: cluster size must be a power of two between 512 and 2M");
		return -EINVAL;
	}
	if (!IS_POW2(*rbits) || *rbits > 64) {
		log_err("qcow2: refcount bits must be a power of two up to 64");
		return -EINVAL;
	}
	if (*version == 2 && (*rbits != 16 || o->extended_l2 || o->lazy_refcounts ||
			      o->compression_type != QCOW2_COMPRESSION_ZLIB)) {
		log_err("qcow2: compat=0.10 supports only refcount_bits=16 and no extended_l2, "
			"lazy_refcounts or zstd");
		return -EINVAL;
	}
	if (o->extended_l2 && *cs < 16384) {
		log_err("qcow2: extended_l2 needs a cluster size of at least 16k");
		return -EINVAL;
	}
	if (o->backing_fmt && !o->backing_file) {
		log_err("qcow2: backing format given without a backing file");
		return -EINVAL;
	}
	if (o->backing_file && strlen(o->backing_file) > QCOW2_MAX_BACKING_NAME) {
		log_err("qcow2: backing file name too long");
		return -EINVAL;
	}
	if (o->compression_type != QCOW2_COMPRESSION_ZLIB &&
	    o->compression_type != QCOW2_COMPRESSION_ZSTD)
		return -EINVAL;
	return 0;
}

/* Header, one-cluster refcount table and one refcount block; empty L1 (size grows later). */
static int write_skeleton(int fd, const char *path, const struct qcow2_create_opts *o,
			  unsigned version, uint32_t cs, unsigned rbits)
{
	struct qcow2 s;
	uint8_t *b = calloc(1, cs);
	uint64_t be;
	int err;

	if (!b)
		return -ENOMEM;
	memset(&s, 0, sizeof(s));
	s.d.fd = fd;
	s.d.filename = (char *)(uintptr_t)path;
	s.d.backing_name = (char *)(uintptr_t)o->backing_file;
	s.d.backing_fmt = (char *)(uintptr_t)o->backing_fmt;
	s.version = version;
	s.cluster_bits = (uint32_t)__builtin_ctz(cs);
	s.cluster_size = cs;
	s.reft_offset = cs;
	s.reft_clusters = 1;
	s.refcount_order = (uint32_t)__builtin_ctz(rbits);
	s.header_length = version == 3 ? QCOW2_V3_HEADER_LEN_CT : QCOW2_V2_HEADER_LEN;
	s.compression_type = (uint8_t)o->compression_type;
	if (o->compression_type == QCOW2_COMPRESSION_ZSTD)
		s.incompat |= QCOW2_INCOMPAT_COMPRESSION;
	if (o->extended_l2)
		s.incompat |= QCOW2_INCOMPAT_EXTL2;
	if (o->lazy_refcounts)
		s.compat |= QCOW2_COMPAT_LAZY_REFCOUNTS;
	err = qcow2_header_write(&s);
	if (err)
		goto out;
	be = htobe64(2ull * cs);
	err = disk_file_pwrite(fd, &be, 8, cs);
	if (err)
		goto out;
	memset(b, 0, cs);
	for (uint64_t i = 0; i < 3; i++)
		qcow2_refcount_write_entry(&s, b, i, 1);
	err = disk_file_pwrite(fd, b, cs, 2ull * cs);
	if (!err && ftruncate(fd, 3 * (off_t)cs))
		err = -errno;
out:
	free(b);
	return err;
}

static int preallocate(struct disk *d, enum qcow2_prealloc mode)
{
	struct qcow2 *s = qcow2_from_disk(d);
	uint64_t nclusters = (d->size + s->cluster_size - 1) >> s->cluster_bits, host, end;
	int err = 0;

	if (mode == QCOW2_PREALLOC_OFF || !nclusters)
		return 0;
	pthread_mutex_lock(&s->lock);
	/* L2 tables first, then all data clusters contiguously after them. */
	for (uint64_t c = 0; c < nclusters && !err; c += qcow2_l2_entries(s)) {
		uint8_t *l2;

		err = qcow2_l2_writable(s, c << s->cluster_bits, &l2);
	}
	if (!err)
		err = qcow2_alloc_clusters(s, nclusters, &host);
	for (uint64_t c = 0; c < nclusters && !err; c++) {
		uint8_t *l2;

		err = qcow2_l2_writable(s, c << s->cluster_bits, &l2);
		if (err)
			break;
		qcow2_l2_set(s, l2, qcow2_l2_index(s, c << s->cluster_bits),
			     (host + (c << s->cluster_bits)) | QCOW2_OFLAG_COPIED,
			     s->ext_l2 ? 0xffffffffull : 0);
		qcow2_cache_mark_dirty(&s->l2c, l2);
	}
	if (!err)
		err = qcow2_flush_all(s, true);
	end = host + (nclusters << s->cluster_bits);
	if (!err && mode == QCOW2_PREALLOC_FALLOC && posix_fallocate(d->fd, 0, (off_t)end))
		err = -EIO;
	if (!err && mode == QCOW2_PREALLOC_FULL) {
		uint8_t *z = calloc(1, s->cluster_size);

		if (!z)
			err = -ENOMEM;
		for (uint64_t c = 0; c < nclusters && !err; c++)
			err = disk_file_pwrite(d->fd, z, s->cluster_size,
					       host + (c << s->cluster_bits));
		free(z);
	}
	if (!err && mode == QCOW2_PREALLOC_METADATA && ftruncate(d->fd, (off_t)end))
		err = -errno;
	pthread_mutex_unlock(&s->lock);
	return err;
}

int qcow2_create(const char *path, const struct qcow2_create_opts *o)
{
	struct disk_open_opts oo = {.format = "qcow2", .flags = DISK_O_NO_BACKING};
	uint64_t size = o->size;
	unsigned version, rbits;
	struct disk *d;
	uint32_t cs;
	int fd, err;

	err = validate(o, &version, &cs, &rbits);
	if (err)
		return err;
	if (!size && o->backing_file) {
		struct disk_open_opts bo = {.format = o->backing_fmt, .flags = DISK_O_RDONLY};
		struct disk *b;
		char *bp = NULL;

		/* Resolve relative names against the new image's directory. */
		if (o->backing_file[0] != '/' && strrchr(path, '/')) {
			size_t dl = (size_t)(strrchr(path, '/') - path) + 1;

			bp = malloc(dl + strlen(o->backing_file) + 1);
			if (!bp)
				return -ENOMEM;
			memcpy(bp, path, dl);
			strcpy(bp + dl, o->backing_file);
		}
		err = disk_open(bp ? bp : o->backing_file, &bo, &b);
		free(bp);
		if (err)
			return err;
		size = disk_size(b);
		disk_close(b);
	}
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		log_err("qcow2: cannot create %s: %s", path, strerror(errno));
		return err;
	}
	err = write_skeleton(fd, path, o, version, cs, rbits);
	if (!err && fsync(fd))
		err = -errno;
	close(fd);
	if (err)
		return err;
	err = disk_open(path, &oo, &d);
	if (err)
		return err;
	err = disk_resize(d, size, false);
	if (!err)
		err = preallocate(d, o->prealloc);
	disk_close(d);
	return err;
}

/* Bytes of refcount metadata for `clusters` clusters: QEMU's qcow2_refcount_metadata_size()
 * fixed point (refcount structures count themselves). */
static uint64_t refcount_meta_bytes(uint64_t clusters, uint32_t cs, unsigned rbits)
{
	uint64_t per_table = cs / 8, per_block = (uint64_t)cs * 8 / rbits;
	uint64_t table = 0, blocks = 0, n = 0, last;

	do {
		last = n;
		blocks = (clusters + table + blocks + per_block - 1) / per_block;
		table = (blocks + per_table - 1) / per_table;
		n = clusters + blocks + table;
	} while (n != last);
	return (blocks + table) * cs;
}

/* QEMU's qcow2_calc_prealloc_size(): metadata plus data of a fully allocated image. */
static uint64_t prealloc_size(uint64_t size, uint32_t cs, unsigned rbits, bool ext_l2)
{
	uint64_t aligned = ALIGN_UP(size, (uint64_t)cs), meta = cs, l2e = ext_l2 ? 16 : 8;
	uint64_t nl2e = ALIGN_UP(aligned / cs, cs / l2e), nl1e;

	meta += nl2e * l2e;
	nl1e = ALIGN_UP(nl2e * l2e / cs, (uint64_t)cs / 8);
	meta += nl1e * 8;
	meta += refcount_meta_bytes((meta + aligned) / cs, cs, rbits);
	return meta + aligned;
}

/* Data bytes a copy of src needs, counted per cluster as QEMU does (zero and unallocated
 * ranges skipped; ranges from backing files counted). */
static int measure_data(struct disk *src, uint64_t size, uint32_t cs, uint64_t *out)
{
	uint64_t off = 0, req = 0;

	while (off < size) {
		struct disk *d = src;
		struct disk_extent e;
		int err;

		for (;;) {
			err = disk_extent(d, off, size - off, &e);
			if (err)
				return err;
			if (e.kind != DISK_EXTENT_BACKING || !d->backing)
				break;
			d = d->backing;
			if (off >= disk_size(d)) {
				e.kind = DISK_EXTENT_UNALLOC;
				break;
			}
		}
		if (e.kind == DISK_EXTENT_DATA) {
			uint64_t end = ALIGN_UP(off + e.len, (uint64_t)cs);

			req += off % cs + (end - off);
			off = end;
		} else {
			off += e.len;
		}
	}
	*out = req;
	return 0;
}

int qcow2_measure(const struct qcow2_create_opts *o, struct disk *src,
		  struct qcow2_measure_result *out)
{
	unsigned version, rbits;
	uint64_t size = o->size, data = 0;
	uint32_t cs;
	int err = validate(o, &version, &cs, &rbits);

	if (err)
		return err;
	if (src) {
		size = disk_size(src);
		err = measure_data(src, size, cs, &data);
		if (err)
			return err;
	}
	size = ALIGN_UP(size, (uint64_t)cs);
	if (o->prealloc == QCOW2_PREALLOC_FULL || o->prealloc == QCOW2_PREALLOC_FALLOC)
		data = size;
	out->fully_allocated = prealloc_size(size, cs, rbits, o->extended_l2);
	out->required = out->fully_allocated - size + data;
	return 0;
}
