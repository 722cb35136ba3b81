/* cmd/img_create.c — `kvmm img create` and the image-creation helpers convert also uses. */
#include "cmd/img.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/disk.h"
#include "block/qcow2.h"

static void img_create_help(const char *fmt)
{
	if (!strcmp(fmt, "qcow2")) {
		printf(
		    "Supported qcow2 options:\n"
		    "  backing_file=<str>     - File name of a base image\n"
		    "  backing_fmt=<str>      - Image format of the base image\n"
		    "  cluster_size=<size>    - qcow2 cluster size\n"
		    "  compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])\n"
		    "  compression_type=<str> - Compression method used for image cluster "
		    "compression\n"
		    "  extended_l2=<bool (on/off)> - Extended L2 tables\n"
		    "  lazy_refcounts=<bool (on/off)> - Postpone refcount updates\n"
		    "  preallocation=<str>    - Preallocation mode (allowed values: off, metadata, "
		    "falloc, full)\n"
		    "  refcount_bits=<num>    - Width of a reference count entry in bits\n"
		    "  size=<size>            - Virtual disk size\n");
	} else {
		printf(
		    "Supported raw options:\n"
		    "  preallocation=<str>    - Preallocation mode (allowed values: off, falloc, "
		    "full)\n"
		    "  size=<size>            - Virtual disk size\n");
	}
}

static int img_qcow2_prealloc(const char *v, enum qcow2_prealloc *p)
{
	static const char *const names[] = {"off", "metadata", "falloc", "full"};

	for (unsigned i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(v, names[i])) {
			*p = (enum qcow2_prealloc)i;
			return 0;
		}
	return -EINVAL;
}

/* Parse one qcow2 -o value; returns 0, or -EINVAL after printing the problem. */
static int img_qcow2_opt(const char *key, const char *v, struct qcow2_create_opts *q)
{
	uint64_t n;
	bool b;

	if (!strcmp(key, "compat")) {
		if (!strcmp(v, "0.10") || !strcmp(v, "v2"))
			q->version = 2;
		else if (!strcmp(v, "1.1") || !strcmp(v, "v3"))
			q->version = 3;
		else
			goto bad;
	} else if (!strcmp(key, "cluster_size")) {
		if (img_parse_size(v, &n) || n < 512 || n > (2u << 20) || !IS_POW2(n)) {
			img_err("Cluster size must be a power of two between 512 and 2048k");
			return -EINVAL;
		}
		q->cluster_size = (uint32_t)n;
	} else if (!strcmp(key, "refcount_bits")) {
		if (img_parse_size(v, &n) || n > 64)
			goto bad;
		q->refcount_bits = (unsigned)n;
	} else if (!strcmp(key, "extended_l2") || !strcmp(key, "lazy_refcounts")) {
		if (img_parse_bool(v, &b))
			goto bad;
		*(key[0] == 'e' ? &q->extended_l2 : &q->lazy_refcounts) = b;
	} else if (!strcmp(key, "compression_type")) {
		if (!strcmp(v, "zlib"))
			q->compression_type = QCOW2_COMPRESSION_ZLIB;
		else if (!strcmp(v, "zstd"))
			q->compression_type = QCOW2_COMPRESSION_ZSTD;
		else
			goto bad;
	} else if (!strcmp(key, "preallocation")) {
		if (img_qcow2_prealloc(v, &q->prealloc))
			goto bad;
	} else if (!strcmp(key, "backing_file")) {
		q->backing_file = v;
	} else if (!strcmp(key, "backing_fmt")) {
		q->backing_fmt = v;
	}
	return 0;
bad:
	img_err("Parameter '%s' has an invalid value '%s'", key, v);
	return -EINVAL;
}

int img_qcow2_opts(struct img_opts *o, struct qcow2_create_opts *q)
{
	static const char *const keys[] = {"compat",	    "cluster_size",   "refcount_bits",
					   "extended_l2",   "lazy_refcounts", "compression_type",
					   "preallocation", "backing_file",   "backing_fmt"};

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const char *v = img_opts_get(o, keys[i]);

		if (v && img_qcow2_opt(keys[i], v, q))
			return -EINVAL;
	}
	return 0;
}

static int img_create_raw(const char *path, uint64_t size, const char *prealloc)
{
	int fd, err = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		err = -errno;
	if (!err && prealloc && !strcmp(prealloc, "falloc") && size)
		err = -posix_fallocate(fd, 0, (off_t)size);
	if (!err && prealloc && !strcmp(prealloc, "full")) {
		static const char zero[65536];

		for (uint64_t off = 0; !err && off < size; off += sizeof(zero))
			err = disk_file_pwrite(fd, zero, (size_t)KVMM_MIN(size - off, sizeof(zero)),
					       off);
	}
	if (close(fd) < 0 && !err)
		err = -errno;
	return err;
}

static void img_print_formatting(const char *path, const char *fmt,
				 const struct qcow2_create_opts *q, const char *raw_prealloc)
{
	static const char *const pre[] = {"off", "metadata", "falloc", "full"};

	if (strcmp(fmt, "qcow2")) {
		printf("Formatting '%s', fmt=raw size=%llu", path, (unsigned long long)q->size);
		if (raw_prealloc)
			printf(" preallocation=%s", raw_prealloc);
		printf("\n");
		return;
	}
	printf("Formatting '%s', fmt=qcow2 cluster_size=%u extended_l2=%s", path,
	       q->cluster_size ? q->cluster_size : 65536, q->extended_l2 ? "on" : "off");
	if (q->prealloc != QCOW2_PREALLOC_OFF)
		printf(" preallocation=%s", pre[q->prealloc]);
	printf(" compression_type=%s size=%llu",
	       q->compression_type == QCOW2_COMPRESSION_ZSTD ? "zstd" : "zlib",
	       (unsigned long long)q->size);
	if (q->version)
		printf(" compat=%s", q->version == 2 ? "0.10" : "1.1");
	if (q->backing_file)
		printf(" backing_file=%s", q->backing_file);
	if (q->backing_fmt)
		printf(" backing_fmt=%s", q->backing_fmt);
	printf(" lazy_refcounts=%s refcount_bits=%u\n", q->lazy_refcounts ? "on" : "off",
	       q->refcount_bits ? q->refcount_bits : 16);
}

int img_create_image(const char *path, const char *fmt, struct qcow2_create_opts *q,
		     const char *raw_prealloc, bool quiet)
{
	int err;

	if (!quiet)
		img_print_formatting(path, fmt, q, raw_prealloc);
	fflush(stdout);
	if (!strcmp(fmt, "qcow2"))
		err = qcow2_create(path, q);
	else
		err = img_create_raw(path, q->size, raw_prealloc);
	if (err)
		img_err("%s: Could not create image: %s", path, strerror(-err));
	return err;
}

/* With a backing file: check it opens (unless unsafe) and take its size if none was given. */
static int img_create_backing(const char *path, struct qcow2_create_opts *q, bool have_size,
			      bool unsafe)
{
	struct disk_open_opts bo = {.format = q->backing_fmt, .flags = DISK_O_RDONLY};
	struct disk *b = NULL;
	char *full = NULL;
	const char *slash = strrchr(path, '/');
	int err;

	if (!q->backing_fmt && !unsafe) {
		img_err("%s: Backing file specified without backing format", path);
		return -EINVAL;
	}
	if (unsafe && have_size)
		return 0;
	if (q->backing_file[0] != '/' && slash) {
		if (asprintf(&full, "%.*s/%s", (int)(slash - path), path, q->backing_file) < 0)
			return -ENOMEM;
	}
	err = disk_open(full ? full : q->backing_file, &bo, &b);
	if (err) {
		img_err("%s: Could not open backing image '%s': %s", path, q->backing_file,
			strerror(-err));
	} else if (!have_size) {
		q->size = disk_size(b);
	}
	disk_close(b);
	free(full);
	return err;
}

struct img_create_args {
	const char *fmt, *path, *size;
	bool quiet, unsafe;
	struct img_opts o;
};

static int img_create_run(struct img_create_args *a)
{
	struct qcow2_create_opts q = {0};
	const char *s, *raw_pre = NULL, *bad;
	bool have_size = false;

	if (strcmp(a->fmt, "qcow2") && strcmp(a->fmt, "raw")) {
		img_err("%s: Unknown file format '%s'", a->path, a->fmt);
		return 1;
	}
	s = img_opts_get(&a->o, "size");
	if (a->size)
		s = a->size;
	if (s) {
		if (img_parse_image_size(s, &q.size))
			return 1;
		have_size = true;
	}
	if (!strcmp(a->fmt, "qcow2")) {
		if (img_qcow2_opts(&a->o, &q))
			return 1;
	} else {
		raw_pre = img_opts_get(&a->o, "preallocation");
		if (raw_pre && strcmp(raw_pre, "off") && strcmp(raw_pre, "falloc") &&
		    strcmp(raw_pre, "full")) {
			img_err("%s: Invalid parameter '%s'", a->path, raw_pre);
			return 1;
		}
	}
	bad = img_opts_unused(&a->o);
	if (bad) {
		img_err("%s: Invalid parameter '%s'", a->path, bad);
		return 1;
	}
	if (q.backing_file && img_create_backing(a->path, &q, have_size, a->unsafe))
		return 1;
	if (!q.backing_file && !have_size) {
		img_err("%s: Image creation needs a size parameter", a->path);
		return 1;
	}
	return img_create_image(a->path, a->fmt, &q, raw_pre, a->quiet) ? 1 : 0;
}

int img_cmd_create(int argc, char **argv)
{
	static const struct option lo[] = {{"help", no_argument, NULL, 'h'}, {0}};
	struct img_create_args a = {.fmt = "raw"};
	const char *b = NULL, *bf = NULL;
	int c, ret = 1;
	bool help = false;

	optind = 0;
	while ((c = getopt_long(argc, argv, "hf:b:F:o:uq", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			a.fmt = optarg;
			break;
		case 'b':
			b = optarg;
			break;
		case 'F':
			bf = optarg;
			break;
		case 'u':
			a.unsafe = true;
			break;
		case 'q':
			a.quiet = true;
			break;
		case 'o':
			if (!strcmp(optarg, "help") || !strcmp(optarg, "?"))
				help = true;
			else if (img_opts_add(&a.o, optarg))
				goto out;
			break;
		case 'h':
			printf("usage: kvmm img create [-f fmt] [-b backing_file [-F backing_fmt]] "
			       "[-u] "
			       "[-o options] filename [size]\n");
			ret = 0;
			goto out;
		default:
			goto out;
		}
	}
	if (help) {
		img_create_help(a.fmt);
		ret = 0;
		goto out;
	}
	if (optind >= argc || argc - optind > 2) {
		img_err("Expecting image file name");
		goto out;
	}
	a.path = argv[optind];
	a.size = optind + 1 < argc ? argv[optind + 1] : NULL;
	/* -b/-F are shorthands for -o backing_file=,backing_fmt= */
	if ((b && img_opts_add(&a.o, "backing_file=")) ||
	    (bf && img_opts_add(&a.o, "backing_fmt=")))
		goto out;
	if (b)
		a.o.val[a.o.n - 1 - (bf != NULL)] = (char *)b;
	if (bf)
		a.o.val[a.o.n - 1] = (char *)bf;
	ret = img_create_run(&a);
out:
	img_opts_free(&a.o);
	return ret;
}
