/* cmd/img_commit.c — `kvmm img commit` and `kvmm img rebase` for qcow2 overlays.
 *
 * Both work in place, so internal snapshots and unknown header extensions survive. rebase -u only
 * rewrites the header (qcow2_set_backing); safe rebase first writes into the image every cluster
 * it does not define itself whose content differs between the old chain and the new backing
 * file, then rewrites the header. commit copies the overlay's own clusters into its backing file
 * and then deallocates them in the overlay (qcow2_make_empty), unless -d. */
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

struct img_rebase {
	const char *fmt, *path, *backing, *backing_fmt;
	bool unsafe, progress;
	struct disk *img, *nb;
	uint8_t *a, *b;
};

/* Does the image itself (not its backing chain) fully define [off, off + len)? */
static bool img_own_range(struct disk *d, uint64_t off, uint64_t len)
{
	while (len) {
		struct disk_extent e;

		if (disk_extent(d, off, len, &e) || !e.len ||
		    (e.kind != DISK_EXTENT_DATA && e.kind != DISK_EXTENT_ZERO))
			return false;
		off += e.len;
		len -= KVMM_MIN(len, e.len);
	}
	return true;
}

/* Safe rebase, in place: for every cluster the image does not define itself, compare what the
 * old chain reads with what the new backing file reads and, where they differ, write the old
 * content into the image. Whole clusters are written, so no copy-on-write ever reads the old
 * backing file for the rest of a cluster. */
static int img_rebase_copy(struct img_rebase *r, uint32_t cs)
{
	uint64_t size = disk_size(r->img), nbs = r->nb ? disk_size(r->nb) : 0;
	uint64_t chunk = KVMM_MAX((uint64_t)IMG_COPY_CHUNK, (uint64_t)cs);
	int err;

	for (uint64_t off = 0; off < size; off += chunk) {
		size_t n = (size_t)KVMM_MIN(chunk, size - off);

		for (size_t p = 0; p < n; p += cs) {
			size_t m = KVMM_MIN((size_t)cs, n - p);

			if (img_own_range(r->img, off + p, m))
				continue;
			err = disk_pread(r->img, r->a, m, off + p);
			if (err)
				return err;
			memset(r->b, 0, m);
			if (off + p < nbs) {
				err = disk_pread(r->nb, r->b,
						 (size_t)KVMM_MIN((uint64_t)m, nbs - (off + p)),
						 off + p);
				if (err)
					return err;
			}
			if (!memcmp(r->a, r->b, m))
				continue;
			err = disk_pwrite(r->img, r->a, m, off + p);
			if (err)
				return err;
		}
		if (r->progress)
			printf("    (%.2f/100%%)\r", 100.0 * (double)(off + n) / (double)size);
	}
	if (r->progress)
		printf("    (100.00/100%%)\n");
	return disk_flush(r->img);
}

static int img_rebase_run(struct img_rebase *r)
{
	unsigned flags = r->unsafe ? DISK_O_NO_BACKING : 0;
	const char *bf = *r->backing ? r->backing : NULL;
	uint32_t cs;
	int err;

	if (img_open(r->path, r->fmt, flags, &r->img))
		return -EINVAL;
	if (strcmp(disk_format(r->img), "qcow2")) {
		img_err("Format driver '%s' does not support backing files", disk_format(r->img));
		return -ENOTSUP;
	}
	if (!r->unsafe) {
		cs = qcow2_cluster_size(r->img);
		if (bf) {
			char *p = img_backing_path(r->path, bf);

			err = p ? img_open(p, r->backing_fmt, DISK_O_RDONLY, &r->nb) : -ENOMEM;
			free(p);
			if (err)
				return err;
		}
		r->a = malloc(cs);
		r->b = malloc(cs);
		err = r->a && r->b ? img_rebase_copy(r, cs) : -ENOMEM;
		if (err) {
			img_err("Could not rebase '%s': %s", r->path, strerror(-err));
			return err;
		}
	}
	err = qcow2_set_backing(r->img, bf, bf ? r->backing_fmt : NULL);
	if (err)
		img_err("Could not change the backing file of '%s': %s", r->path, strerror(-err));
	return err;
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
	disk_close(r.nb);
	disk_close(r.img);
	free(r.a);
	free(r.b);
	return err ? 1 : 0;
}

static int img_commit_run(const char *path, const char *fmt, bool keep, uint8_t *buf)
{
	struct disk *top = NULL, *base = NULL;
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
	if (!keep && !strcmp(disk_format(top), "qcow2")) {
		/* Empty the overlay in place: its own clusters now live in the backing file.
		 * Internal snapshots keep theirs. */
		disk_close(top);
		top = NULL;
		err = img_open(path, "qcow2", DISK_O_NO_BACKING, &top);
		if (!err)
			err = qcow2_make_empty(top);
		if (err)
			img_err("Could not empty '%s': %s", path, strerror(-err));
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
