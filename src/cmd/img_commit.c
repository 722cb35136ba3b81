/* cmd/img_commit.c — `kvmm img commit` and `kvmm img rebase` for qcow2 overlays.
 *
 * The block layer has no call that rewrites a qcow2 header's backing name, so rebase builds a
 * new overlay next to the image (same cluster size, version, refcount width) with the new
 * backing file, copies what it must and renames it over the original. Images with internal
 * snapshots are refused (they would be lost). commit copies the overlay's own clusters into its
 * backing file and then empties the overlay the same way (unless -d). */
#include "cmd/img.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/disk.h"
#include "block/qcow2.h"

#define IMG_COPY_CHUNK (1u << 20)

/* Copy the ranges allocated in `from` itself (opened without its backing chain) into `to`:
 * data as data, known-zero ranges as zeroes. */
static int img_copy_own(struct disk *from, struct disk *to, uint8_t *buf)
{
	uint64_t size = KVMM_MIN(disk_size(from), disk_size(to));

	for (uint64_t off = 0; off < size;) {
		struct disk_extent e;
		int err =
		    disk_extent(from, off, KVMM_MIN((uint64_t)IMG_COPY_CHUNK, size - off), &e);

		if (err)
			return err;
		if (e.len == 0)
			return -EIO;
		if (e.kind == DISK_EXTENT_DATA) {
			err = disk_pread(from, buf, (size_t)e.len, off);
			if (!err)
				err = disk_pwrite(to, buf, (size_t)e.len, off);
		} else if (e.kind == DISK_EXTENT_ZERO) {
			err = disk_write_zeroes(to, off, e.len, false);
			if (err == -ENOTSUP) {
				memset(buf, 0, (size_t)e.len);
				err = disk_pwrite(to, buf, (size_t)e.len, off);
			}
		}
		if (err)
			return err;
		off += e.len;
	}
	return disk_flush(to);
}

/* Creation options reproducing an open qcow2 image d (size, cluster size, version, ...). */
static int img_qcow2_like(struct disk *d, struct qcow2_create_opts *q)
{
	struct qcow2_info in;
	int err = qcow2_get_info(d, &in);

	if (err)
		return err;
	if (in.nb_snapshots) {
		img_err("'%s' has internal snapshots; remove them first (they would be lost)",
			d->filename);
		return -ENOTSUP;
	}
	*q = (struct qcow2_create_opts){
	    .size = disk_size(d),
	    .version = in.version,
	    .cluster_size = in.cluster_size,
	    .refcount_bits = in.refcount_bits,
	    .extended_l2 = in.extended_l2,
	    .lazy_refcounts = in.lazy_refcounts,
	    .compression_type = in.compression_type,
	};
	return 0;
}

/* Re-create path as an empty overlay with options q, via a temporary file and rename. */
static int img_replace(const char *path, const struct qcow2_create_opts *q, unsigned flags,
		       struct disk **out)
{
	char *tmp;
	int err;

	if (asprintf(&tmp, "%s.kvmm-tmp", path) < 0)
		return -ENOMEM;
	err = qcow2_create(tmp, q);
	if (!err) {
		struct disk_open_opts o = {.format = "qcow2", .flags = flags};

		err = disk_open(tmp, &o, out);
	}
	if (err) {
		remove(tmp);
		img_err("Could not create a new overlay for '%s': %s", path, strerror(-err));
	}
	free(tmp);
	return err;
}

static int img_rename_over(const char *path)
{
	char *tmp;
	int err = 0;

	if (asprintf(&tmp, "%s.kvmm-tmp", path) < 0)
		return -ENOMEM;
	if (rename(tmp, path) < 0) {
		err = -errno;
		img_err("Could not replace '%s': %s", path, strerror(errno));
		remove(tmp);
	}
	free(tmp);
	return err;
}

struct img_rebase {
	const char *fmt, *path, *backing, *backing_fmt;
	bool unsafe, progress;
	struct disk *old, *neu, *nb, *out;
	uint8_t *a, *b;
};

/* Safe rebase: write every range where the old chain and the new backing file differ. */
static int img_rebase_safe(struct img_rebase *r)
{
	uint64_t size = disk_size(r->old);
	int err;

	for (uint64_t off = 0; off < size; off += IMG_COPY_CHUNK) {
		size_t n = (size_t)KVMM_MIN((uint64_t)IMG_COPY_CHUNK, size - off);

		err = disk_pread(r->old, r->a, n, off);
		if (err)
			return err;
		memset(r->b, 0, n);
		if (r->nb && off < disk_size(r->nb)) {
			err =
			    disk_pread(r->nb, r->b,
				       (size_t)KVMM_MIN((uint64_t)n, disk_size(r->nb) - off), off);
			if (err)
				return err;
		}
		for (size_t p = 0; p < n; p += 65536) {
			size_t m = KVMM_MIN((size_t)65536, n - p);

			if (!memcmp(r->a + p, r->b + p, m))
				continue;
			err = disk_pwrite(r->out, r->a + p, m, off + p);
			if (err)
				return err;
		}
		if (r->progress)
			printf("    (%.2f/100%%)\r", 100.0 * (double)(off + n) / (double)size);
	}
	if (r->progress)
		printf("    (100.00/100%%)\n");
	return disk_flush(r->out);
}

static int img_rebase_run(struct img_rebase *r)
{
	struct qcow2_create_opts q;
	unsigned flags = DISK_O_RDONLY | (r->unsafe ? DISK_O_NO_BACKING : 0);
	int err;

	if (img_open(r->path, r->fmt, flags, &r->old))
		return -EINVAL;
	if (strcmp(disk_format(r->old), "qcow2")) {
		img_err("Format driver '%s' does not support backing files", disk_format(r->old));
		return -ENOTSUP;
	}
	err = img_qcow2_like(r->old, &q);
	if (err)
		return err;
	q.backing_file = *r->backing ? r->backing : NULL;
	q.backing_fmt = q.backing_file ? r->backing_fmt : NULL;
	if (!r->unsafe && q.backing_file) {
		char *p = img_backing_path(r->path, r->backing);

		err = p ? img_open(p, r->backing_fmt, DISK_O_RDONLY, &r->nb) : -ENOMEM;
		free(p);
		if (err)
			return err;
	}
	/* Partial-cluster writes copy from the new backing file: open it unless -u. */
	err = img_replace(r->path, &q, r->unsafe ? DISK_O_NO_BACKING : 0, &r->out);
	if (err)
		return err;
	r->a = malloc(IMG_COPY_CHUNK);
	r->b = malloc(IMG_COPY_CHUNK);
	if (!r->a || !r->b)
		err = -ENOMEM;
	else if (r->unsafe)
		err = img_copy_own(r->old, r->out, r->a);
	else
		err = img_rebase_safe(r);
	if (err) {
		img_err("Could not rebase '%s': %s", r->path, strerror(-err));
		return err;
	}
	disk_close(r->out);
	r->out = NULL;
	return img_rename_over(r->path);
}

int img_cmd_rebase(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"help", no_argument, NULL, 'h'}, {"force-share", no_argument, NULL, 'U'}, {0}};
	struct img_rebase r = {0};
	int c, err;

	optind = 0;
	while ((c = getopt_long(argc, argv, "hf:F:b:upqt:T:U", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			r.fmt = optarg;
			break;
		case 'F':
			r.backing_fmt = optarg;
			break;
		case 'b':
			r.backing = optarg;
			break;
		case 'u':
			r.unsafe = true;
			break;
		case 'p':
			r.progress = true;
			break;
		case 'q':
		case 't':
		case 'T':
		case 'U':
			break;
		case 'h':
			printf("usage: kvmm img rebase [-f fmt] [-p] [-u] -b backing_file "
			       "[-F backing_fmt] filename\n");
			return 0;
		default:
			return 1;
		}
	}
	if (optind != argc - 1 || !r.backing) {
		img_err(r.backing ? "Expecting one image file name"
				  : "Must specify backing file (-b) or use '-b \"\"'");
		return 1;
	}
	r.path = argv[optind];
	err = img_rebase_run(&r);
	if (r.out) {
		char *tmp;

		disk_close(r.out);
		if (asprintf(&tmp, "%s.kvmm-tmp", r.path) >= 0) {
			remove(tmp);
			free(tmp);
		}
	}
	disk_close(r.nb);
	disk_close(r.old);
	free(r.a);
	free(r.b);
	return err ? 1 : 0;
}

static int img_commit_run(const char *path, const char *fmt, bool keep, uint8_t *buf)
{
	struct disk *top = NULL, *base = NULL, *empty = NULL;
	struct qcow2_create_opts q;
	char *bpath = NULL;
	int err;

	err = img_open(path, fmt, DISK_O_RDONLY | DISK_O_NO_BACKING, &top);
	if (err)
		goto out;
	if (!top->backing_name) {
		img_err("Image does not have a backing file");
		err = -EINVAL;
		goto out;
	}
	bpath = img_backing_path(path, top->backing_name);
	err = bpath ? img_open(bpath, top->backing_fmt, 0, &base) : -ENOMEM;
	if (err)
		goto out;
	if (disk_size(base) < disk_size(top) && (err = disk_resize(base, disk_size(top), false))) {
		img_err("Could not resize the backing file: %s", strerror(-err));
		goto out;
	}
	err = img_copy_own(top, base, buf);
	if (err) {
		img_err("Could not commit '%s': %s", path, strerror(-err));
		goto out;
	}
	if (!keep && !strcmp(disk_format(top), "qcow2") && !img_qcow2_like(top, &q)) {
		q.backing_file = top->backing_name;
		q.backing_fmt = top->backing_fmt;
		err = img_replace(path, &q, DISK_O_NO_BACKING, &empty);
		disk_close(empty);
		if (!err)
			err = img_rename_over(path);
	}
out:
	free(bpath);
	disk_close(base);
	disk_close(top);
	return err;
}

int img_cmd_commit(int argc, char **argv)
{
	static const struct option lo[] = {{"help", no_argument, NULL, 'h'}, {0}};
	const char *fmt = NULL;
	bool keep = false, quiet = false;
	uint8_t *buf;
	int c, err;

	optind = 0;
	while ((c = getopt_long(argc, argv, "hf:dpqt:b:r:", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = optarg;
			break;
		case 'd':
			keep = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'b':
			img_err(
			    "-b is not supported: kvmm commits into the direct backing file only");
			return 1;
		case 'p':
		case 't':
		case 'r':
			break;
		case 'h':
			printf("usage: kvmm img commit [-f fmt] [-d] [-p] filename\n");
			return 0;
		default:
			return 1;
		}
	}
	if (optind != argc - 1) {
		img_err("Expecting one image file name");
		return 1;
	}
	buf = malloc(IMG_COPY_CHUNK);
	if (!buf)
		return 1;
	err = img_commit_run(argv[optind], fmt, keep, buf);
	free(buf);
	if (err)
		return 1;
	if (!quiet)
		printf("Image committed.\n");
	return 0;
}
