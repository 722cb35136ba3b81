/* cmd/img_convert.c — `kvmm img convert`: copy an image's content into a new (or, with -n, an
 * existing) image, skipping zeroes (-S), optionally compressing (-c) or writing only what
 * differs from a backing file (-B). */
#include "cmd/img.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/disk.h"
#include "block/qcow2.h"

#define IMG_CONVERT_CHUNK	     (2u << 20)
#define IMG_CONVERT_COMPRESS_THREADS 4
#define IMG_CONVERT_COMPRESS_BATCH   (1u << 20) /* bytes a compression worker reads at once */
#define IMG_CONVERT_COPY_THREADS     2

struct img_convert {
	const char *src_fmt, *out_fmt, *src_path, *out_path, *backing, *backing_fmt;
	bool compress, progress, no_create, quiet;
	bool flush;	 /* -t other than unsafe: flush the target at the end */
	uint64_t sparse; /* 0: write everything */
	struct img_opts o;
	struct disk *src, *dst;
	bool zero_init; /* the target reads as zeroes where not written */
	uint8_t *buf, *cmp;
	uint32_t chunk;
};

/* True if [off, off + len) of d reads as zeroes according to its allocation map alone. */
static int img_range_is_unallocated_zero(struct disk *d, uint64_t off, uint64_t len, bool *zero)
{
	uint64_t end = off + len;

	*zero = true;
	while (off < end) {
		struct disk_extent e;
		int err = disk_extent(d, off, end - off, &e);

		if (err)
			return err;
		if (e.len == 0)
			return -EIO;
		if (e.kind == DISK_EXTENT_DATA || e.kind == DISK_EXTENT_BACKING) {
			*zero = false;
			return 0;
		}
		off += e.len;
	}
	return 0;
}

/* Write buf[0, len) at off of the target, skipping (zero-init) or zeroing blocks of c->sparse
 * zero bytes and, with a backing file, blocks that already read the same. */
static int img_convert_write(struct img_convert *c, uint8_t *buf, uint8_t *cmp, uint64_t off,
			     uint32_t len)
{
	uint32_t blk = c->sparse ? (uint32_t)KVMM_MIN(c->sparse, (uint64_t)len) : len;
	int err;

	if (c->backing) {
		err = disk_pread(c->dst, cmp, len, off);
		if (err)
			return err;
	}
	for (uint32_t p = 0; p < len;) {
		uint32_t n = KVMM_MIN(blk, len - p);
		bool zero = c->sparse && img_is_zero(buf + p, n);

		if (c->backing && !memcmp(buf + p, cmp + p, n)) {
			p += n;
			continue;
		}
		if (zero && c->zero_init && !c->backing) {
			p += n;
			continue;
		}
		if (zero && !c->backing) {
			err = disk_write_zeroes(c->dst, off + p, n, true);
			if (err != -ENOTSUP) {
				if (err)
					return err;
				p += n;
				continue;
			}
		}
		/* Extend the write over following non-skippable blocks. */
		uint32_t q = p + n;

		while (q < len && !zero) {
			uint32_t m = KVMM_MIN(blk, len - q);

			if ((c->sparse && img_is_zero(buf + q, m)) ||
			    (c->backing && !memcmp(buf + q, cmp + q, m)))
				break;
			q += m;
		}
		err = disk_pwrite(c->dst, buf + p, q - p, off + p);
		if (err)
			return err;
		p = q;
	}
	return 0;
}

static int img_convert_chunk(struct img_convert *c, uint8_t *buf, uint8_t *cmp, uint64_t off,
			     uint32_t len)
{
	bool zero;
	int err;

	err = img_range_is_unallocated_zero(c->src, off, len, &zero);
	if (err)
		return err;
	if (zero && c->zero_init && !c->backing)
		return 0;
	if (zero)
		memset(buf, 0, len);
	else if ((err = disk_pread(c->src, buf, len, off)))
		return err;
	if (c->compress) {
		if (img_is_zero(buf, len) && c->zero_init && !c->backing)
			return 0;
		return qcow2_write_compressed(c->dst, off, buf, len);
	}
	return img_convert_write(c, buf, cmp, off, len);
}

/* Compressed output: clusters are independent, so worker threads read, deflate and write them
 * in parallel (qcow2_write_compressed and disk_pread are thread-safe; the deflate itself runs
 * outside the image's locks). Each worker takes a batch of whole clusters at a time: one
 * allocation-map query and one read per batch. */
struct img_convert_worker {
	struct img_convert *c;
	atomic_uint_least64_t *next; /* next batch index to take */
	atomic_int *err;
	uint32_t batch; /* whole clusters, at least one */
	uint8_t *buf;	/* batch bytes */
};

/* Compress the clusters of [off, off + len) (one batch). */
static int img_convert_compress_batch(struct img_convert *c, uint8_t *buf, uint64_t off,
				      uint32_t len)
{
	bool zero;
	int err;

	err = img_range_is_unallocated_zero(c->src, off, len, &zero);
	if (err || zero)
		return err;
	err = disk_pread(c->src, buf, len, off);
	for (uint32_t p = 0; !err && p < len; p += c->chunk) {
		uint32_t n = KVMM_MIN(c->chunk, len - p);

		if (!img_is_zero(buf + p, n))
			err = qcow2_write_compressed(c->dst, off + p, buf + p, n);
	}
	return err;
}

static void *img_convert_compress_worker(void *arg)
{
	struct img_convert_worker *w = arg;
	struct img_convert *c = w->c;
	uint64_t size = disk_size(c->src), batch = w->batch;

	while (!atomic_load(w->err)) {
		uint64_t off = atomic_fetch_add(w->next, 1) * batch;
		int err;

		if (off >= size)
			break;
		err = img_convert_compress_batch(c, w->buf, off,
						 (uint32_t)KVMM_MIN(batch, size - off));
		if (err) {
			atomic_store(w->err, err);
			img_err("error while compressing at offset %llu: %s",
				(unsigned long long)off, strerror(-err));
		}
	}
	return NULL;
}

static int img_convert_compressed(struct img_convert *c)
{
	struct img_convert_worker w[IMG_CONVERT_COMPRESS_THREADS];
	pthread_t th[IMG_CONVERT_COMPRESS_THREADS];
	atomic_uint_least64_t next = 0;
	atomic_int err = 0;
	uint32_t batch = KVMM_MAX(IMG_CONVERT_COMPRESS_BATCH / c->chunk, 1u) * c->chunk;
	unsigned n = 0;

	/* zlib allocates ~270 KiB of state per cluster: keep freed memory in the process instead
	 * of returning it to the kernel each time (one madvise per cluster otherwise, which
	 * costs more than the deflate on a paravirtual host). */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	for (; n < IMG_CONVERT_COMPRESS_THREADS; n++) {
		w[n] = (struct img_convert_worker){c, &next, &err, batch, malloc(batch)};
		if (!w[n].buf || pthread_create(&th[n], NULL, img_convert_compress_worker, &w[n])) {
			free(w[n].buf);
			break;
		}
	}
	if (!n)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		free(w[i].buf);
	}
	return atomic_load(&err);
}

/* Raw target: the chunks are independent and the file layout does not depend on the order of
 * the writes, so IMG_CONVERT_COPY_THREADS threads each read and write whole chunks (the page
 * cache copies then run on several CPUs, as qemu-img's I/O threads do). */
struct img_convert_copier {
	struct img_convert *c;
	atomic_uint_least64_t *next; /* next chunk index to take */
	atomic_int *err;
	uint8_t *buf;
};

static void *img_convert_copy_worker(void *arg)
{
	struct img_convert_copier *w = arg;
	struct img_convert *c = w->c;
	uint64_t size = disk_size(c->src);

	while (!atomic_load(w->err)) {
		uint64_t off = atomic_fetch_add(w->next, 1) * c->chunk;
		int err;

		if (off >= size)
			break;
		err = img_convert_chunk(c, w->buf, NULL, off,
					(uint32_t)KVMM_MIN((uint64_t)c->chunk, size - off));
		if (err) {
			int expected = 0;

			if (atomic_compare_exchange_strong(w->err, &expected, err))
				img_err("error while converting %s at offset %llu: %s", c->out_fmt,
					(unsigned long long)off, strerror(-err));
		}
	}
	return NULL;
}

static int img_convert_copy_parallel(struct img_convert *c)
{
	struct img_convert_copier w[IMG_CONVERT_COPY_THREADS];
	pthread_t th[IMG_CONVERT_COPY_THREADS];
	atomic_uint_least64_t next = 0;
	atomic_int err = 0;
	unsigned n = 0;

	for (; n < IMG_CONVERT_COPY_THREADS; n++) {
		w[n] = (struct img_convert_copier){c, &next, &err, malloc(c->chunk)};
		if (!w[n].buf || pthread_create(&th[n], NULL, img_convert_copy_worker, &w[n])) {
			free(w[n].buf);
			break;
		}
	}
	if (!n)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		free(w[i].buf);
	}
	return atomic_load(&err);
}

static int img_convert_copy(struct img_convert *c)
{
	uint64_t size = disk_size(c->src);
	int err = 0;

	if (c->compress) {
		c->chunk = qcow2_cluster_size(c->dst);
		if (!c->chunk) {
			img_err("Compression not supported for this file format");
			return -ENOTSUP;
		}
	}
	/* Without a backing file or a pre-existing target, compression runs in parallel. */
	if (c->compress && c->zero_init && !c->backing) {
		err = img_convert_compressed(c);
		if (!err && c->flush)
			err = disk_flush(c->dst);
		if (c->progress)
			printf("    (100.00/100%%)\n");
		return err;
	}
	if (!c->compress && !c->backing && !strcmp(disk_format(c->dst), "raw")) {
		err = img_convert_copy_parallel(c);
		if (!err && c->flush && (err = disk_flush(c->dst)))
			img_err("error while flushing %s: %s", c->out_path, strerror(-err));
		if (c->progress)
			printf("    (100.00/100%%)\n");
		return err;
	}
	c->buf = malloc(c->chunk);
	c->cmp = malloc(c->chunk);
	if (!c->buf || !c->cmp)
		return -ENOMEM;
	if (c->progress)
		printf("    (0.00/100%%)\r");
	for (uint64_t off = 0; off < size; off += c->chunk) {
		uint32_t len = (uint32_t)KVMM_MIN((uint64_t)c->chunk, size - off);

		err = img_convert_chunk(c, c->buf, c->cmp, off, len);
		if (err) {
			img_err("error while converting %s at offset %llu: %s", c->out_fmt,
				(unsigned long long)off, strerror(-err));
			return err;
		}
		if (c->progress) {
			printf("    (%.2f/100%%)\r", 100.0 * (double)(off + len) / (double)size);
			fflush(stdout);
		}
	}
	if (c->progress)
		printf("    (100.00/100%%)\n");
	err = c->flush ? disk_flush(c->dst) : 0;
	if (err)
		img_err("error while flushing %s: %s", c->out_path, strerror(-err));
	return err;
}

static int img_convert_create(struct img_convert *c)
{
	struct qcow2_create_opts q = {.size = disk_size(c->src)};
	const char *bad, *raw_pre = NULL;

	if (!strcmp(c->out_fmt, "qcow2")) {
		if (img_qcow2_opts(&c->o, &q))
			return -EINVAL;
		if (c->backing) {
			q.backing_file = c->backing;
			q.backing_fmt = c->backing_fmt;
		}
	} else if (!strcmp(c->out_fmt, "raw")) {
		raw_pre = img_opts_get(&c->o, "preallocation");
		if (c->backing) {
			img_err("Backing file not supported for file format 'raw'");
			return -EINVAL;
		}
	} else {
		img_err("Format driver '%s' does not support image creation", c->out_fmt);
		return -ENOTSUP;
	}
	bad = img_opts_get(&c->o, "size") ? NULL : img_opts_unused(&c->o);
	if (bad) {
		img_err("Invalid parameter '%s'", bad);
		return -EINVAL;
	}
	return img_create_image(c->out_path, c->out_fmt, &q, raw_pre, true);
}

static int img_convert_run(struct img_convert *c)
{
	int err;

	if (c->compress && strcmp(c->out_fmt, "qcow2")) {
		img_err("Compression not supported for this file format");
		return 1;
	}
	err = img_open(c->src_path, c->src_fmt, DISK_O_RDONLY, &c->src);
	if (err)
		return 1;
	c->zero_init = !c->no_create;
	if (!c->no_create && img_convert_create(c))
		return 1;
	err = img_open(c->out_path, c->out_fmt, c->flush ? 0 : DISK_O_UNSAFE, &c->dst);
	if (err)
		return 1;
	if (c->no_create && disk_size(c->dst) < disk_size(c->src)) {
		img_err("Target image is smaller than the source");
		return 1;
	}
	return img_convert_copy(c) ? 1 : 0;
}

int img_cmd_convert(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"help", no_argument, NULL, 'h'}, {"force-share", no_argument, NULL, 'U'}, {0}};
	struct img_convert c = {.out_fmt = "raw", .sparse = 4096, .chunk = IMG_CONVERT_CHUNK};
	int opt, ret = 1;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "hf:O:B:F:o:S:cpnqt:T:WUm:", lo, NULL)) != -1) {
		switch (opt) {
		case 'f':
			c.src_fmt = optarg;
			break;
		case 'O':
			c.out_fmt = optarg;
			break;
		case 'B':
			c.backing = optarg;
			break;
		case 'F':
			c.backing_fmt = optarg;
			break;
		case 'c':
			c.compress = true;
			break;
		case 'p':
			c.progress = true;
			break;
		case 'n':
			c.no_create = true;
			break;
		case 'q':
			c.quiet = true;
			break;
		case 't':
			/* As qemu-img: the target's cache mode, "unsafe" by default (no flush
			 * at the end; closing the target still writes its metadata). */
			if (strcmp(optarg, "unsafe") && strcmp(optarg, "writeback") &&
			    strcmp(optarg, "writethrough") && strcmp(optarg, "none") &&
			    strcmp(optarg, "directsync")) {
				img_err("Invalid cache option: %s", optarg);
				goto out;
			}
			c.flush = strcmp(optarg, "unsafe") != 0;
			break;
		case 'T':
		case 'W':
		case 'U':
		case 'm':
			break; /* source cache mode, parallelism: accepted, not needed */
		case 'o':
			if (img_opts_add(&c.o, optarg))
				goto out;
			break;
		case 'S':
			if (img_parse_size(optarg, &c.sparse) || c.sparse % 512 ||
			    c.sparse > IMG_CONVERT_CHUNK) {
				img_err(
				    "Invalid buffer size for sparse output specified. Valid sizes "
				    "are multiples of 512 up to %u.",
				    IMG_CONVERT_CHUNK);
				goto out;
			}
			break;
		case 'h':
			printf("usage: kvmm img convert [-c] [-p] [-n] [-f fmt] [-t cache] [-O "
			       "output_fmt] "
			       "[-B backing_file [-F backing_fmt]] [-o options] [-S sparse_size] "
			       "filename output_filename\n");
			ret = 0;
			goto out;
		default:
			goto out;
		}
	}
	if (c.quiet)
		c.progress = false;
	if (argc - optind != 2) {
		img_err(argc - optind < 2 ? "Expecting image file name"
					  : "Only one source image is supported");
		goto out;
	}
	c.src_path = argv[optind];
	c.out_path = argv[optind + 1];
	if (c.no_create && c.backing) {
		img_err("Use of -B and -n is not supported");
		goto out;
	}
	ret = img_convert_run(&c);
out:
	disk_close(c.dst);
	disk_close(c.src);
	free(c.buf);
	free(c.cmp);
	img_opts_free(&c.o);
	return ret;
}
