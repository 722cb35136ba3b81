/* cmd/img_misc.c — `kvmm img resize`, `snapshot`, `amend`, `measure`, `commit`, `rebase`. */
#include "cmd/img.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/disk.h"
#include "block/qcow2.h"

int img_cmd_resize(int argc, char **argv)
{
	static const struct option lo[] = {{"shrink", no_argument, NULL, 's'},
					   {"help", no_argument, NULL, 'h'},
					   {"preallocation", required_argument, NULL, 'P'},
					   {0}};
	const char *fmt = NULL, *arg;
	bool shrink = false, quiet = false;
	struct disk *d = NULL;
	uint64_t n, size;
	int c, err, sign = 0;

	if (argc < 3) {
		img_err("Expecting image file name and size");
		return 1;
	}
	/* The size may start with '-': take it before getopt sees it (as qemu-img does). */
	arg = argv[--argc];
	optind = 0;
	while ((c = getopt_long(argc, argv, "hf:qU", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = optarg;
			break;
		case 's':
			shrink = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'U':
		case 'P':
			break;
		case 'h':
			printf("usage: kvmm img resize [-f fmt] [--shrink] filename [+ | -]size\n");
			return 0;
		default:
			return 1;
		}
	}
	if (optind != argc - 1) {
		img_err("Expecting image file name and size");
		return 1;
	}
	if (*arg == '+' || *arg == '-')
		sign = *arg++ == '+' ? 1 : -1;
	if (img_parse_image_size(arg, &n))
		return 1;
	if (img_open(argv[optind], fmt, DISK_O_NO_BACKING, &d))
		return 1;
	size = disk_size(d);
	if (sign > 0 ? __builtin_add_overflow(size, n, &size) : sign < 0 ? n > size : 0) {
		img_err("New image size must be positive");
		goto err_close;
	}
	size = sign < 0 ? size - n : sign ? size : n;
	if (size < disk_size(d) && !shrink) {
		img_err("Use the --shrink option to perform a shrink operation.");
		if (!strcmp(disk_format(d), "raw"))
			img_err("warning: Shrinking an image will delete all data beyond the "
				"shrunken image's end. Before performing such an operation, make "
				"sure there is no important data there.");
		goto err_close;
	}
	err = disk_resize(d, size, shrink);
	if (!err)
		err = disk_flush(d);
	if (err) {
		img_err(err == -ENOTSUP ? "This image does not support resize"
					: "Error resizing image: %s",
			strerror(-err));
		goto err_close;
	}
	disk_close(d);
	if (!quiet)
		printf("Image resized.\n");
	return 0;
err_close:
	disk_close(d);
	return 1;
}

static int img_snapshot_list(struct disk *d)
{
	struct qcow2_snapshot_info *s;
	unsigned n;
	int err = qcow2_snapshot_list(d, &s, &n);

	if (err)
		return err;
	printf("Snapshot list:\n");
	img_snapshot_dump(NULL);
	for (unsigned i = 0; i < n; i++)
		img_snapshot_dump(&s[i]);
	qcow2_snapshot_list_free(s, n);
	return 0;
}

int img_cmd_snapshot(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"help", no_argument, NULL, 'h'}, {"force-share", no_argument, NULL, 'U'}, {0}};
	const char *fmt = NULL, *name = NULL, *what = NULL;
	struct disk *d = NULL;
	int c, action = 0, err;

	optind = 0;
	while ((c = getopt_long(argc, argv, "hf:la:c:d:qU", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = optarg;
			break;
		case 'l':
		case 'a':
		case 'c':
		case 'd':
			if (action) {
				img_err("Cannot mix '-l', '-a', '-c', '-d'");
				return 1;
			}
			action = c;
			name = optarg;
			break;
		case 'q':
		case 'U':
			break;
		case 'h':
			printf("usage: kvmm img snapshot [-l | -a snapshot | -c snapshot | -d "
			       "snapshot] filename\n");
			return 0;
		default:
			return 1;
		}
	}
	if (optind != argc - 1) {
		img_err("Expecting one image file name");
		return 1;
	}
	if (!action)
		action = 'l';
	if (img_open(argv[optind], fmt, DISK_O_NO_BACKING | (action == 'l' ? DISK_O_RDONLY : 0),
		     &d))
		return 1;
	if (strcmp(disk_format(d), "qcow2")) {
		img_err("Format driver '%s' does not support snapshots", disk_format(d));
		disk_close(d);
		return 1;
	}
	switch (action) {
	case 'l':
		err = img_snapshot_list(d);
		what = "list snapshots of";
		break;
	case 'c':
		err = qcow2_snapshot_create(d, name);
		what = "create snapshot";
		break;
	case 'a':
		err = qcow2_snapshot_apply(d, name);
		what = "apply snapshot";
		break;
	default:
		err = qcow2_snapshot_delete(d, name);
		what = "delete snapshot";
		break;
	}
	if (!err && action != 'l')
		err = disk_flush(d);
	disk_close(d);
	if (err) {
		if (action == 'l')
			img_err("Could not %s '%s': %s", what, argv[optind], strerror(-err));
		else
			img_err("Could not %s '%s': %s", what, name, strerror(-err));
		return 1;
	}
	return 0;
}

int img_cmd_amend(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"help", no_argument, NULL, 'h'}, {"force", no_argument, NULL, 'F'}, {0}};
	struct qcow2_amend_opts a = {.lazy_refcounts = -1};
	struct img_opts o = {0};
	const char *fmt = NULL, *v, *bad;
	struct disk *d = NULL;
	int c, err, ret = 1;
	bool b;

	optind = 0;
	while ((c = getopt_long(argc, argv, "hf:o:pqt:", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = optarg;
			break;
		case 'o':
			if (img_opts_add(&o, optarg))
				goto out;
			break;
		case 'p':
		case 'q':
		case 't':
		case 'F':
			break;
		case 'h':
			printf("usage: kvmm img amend [-f fmt] -o options filename\n");
			ret = 0;
			goto out;
		default:
			goto out;
		}
	}
	if (optind != argc - 1 || !o.n) {
		img_err(o.n ? "Expecting one image file name" : "Must specify options (-o)");
		goto out;
	}
	if (img_open(argv[optind], fmt, DISK_O_NO_BACKING, &d))
		goto out;
	if (strcmp(disk_format(d), "qcow2")) {
		img_err("Format driver '%s' does not support option amendment", disk_format(d));
		goto out;
	}
	if ((v = img_opts_get(&o, "compat"))) {
		if (!strcmp(v, "0.10") || !strcmp(v, "v2")) {
			a.version = 2;
		} else if (!strcmp(v, "1.1") || !strcmp(v, "v3")) {
			a.version = 3;
		} else {
			img_err("Parameter 'compat' has an invalid value '%s'", v);
			goto out;
		}
	}
	if ((v = img_opts_get(&o, "lazy_refcounts"))) {
		if (img_parse_bool(v, &b)) {
			img_err("Parameter 'lazy_refcounts' expects 'on' or 'off'");
			goto out;
		}
		a.lazy_refcounts = b;
	}
	if ((v = img_opts_get(&o, "refcount_bits"))) {
		uint64_t n;

		if (img_parse_size(v, &n) || n > 64) {
			img_err("Parameter 'refcount_bits' has an invalid value '%s'", v);
			goto out;
		}
		a.refcount_bits = (unsigned)n;
	}
	bad = img_opts_unused(&o);
	if (bad) {
		img_err("Invalid parameter '%s'", bad);
		goto out;
	}
	err = qcow2_amend(d, &a);
	if (!err)
		err = disk_flush(d);
	if (err) {
		img_err("Error while amending options: %s", strerror(-err));
		goto out;
	}
	ret = 0;
out:
	disk_close(d);
	img_opts_free(&o);
	return ret;
}

static void img_measure_print(const struct qcow2_measure_result *r, int json)
{
	if (json)
		printf("{\n    \"required\": %llu,\n    \"fully-allocated\": %llu\n}\n",
		       (unsigned long long)r->required, (unsigned long long)r->fully_allocated);
	else
		printf("required size: %llu\nfully allocated size: %llu\n",
		       (unsigned long long)r->required, (unsigned long long)r->fully_allocated);
}

struct img_measure_args {
	const char *fmt, *out_fmt, *size, *path;
	int json;
	struct img_opts o;
};

static int img_measure_run(struct img_measure_args *m)
{
	struct qcow2_create_opts q = {0};
	struct qcow2_measure_result r = {0};
	struct disk *src = NULL;
	const char *bad;
	int err;

	if ((m->size != NULL) == (m->path != NULL)) {
		img_err("Either --size N or one filename must be specified.");
		return 1;
	}
	if (m->size && img_parse_image_size(m->size, &q.size))
		return 1;
	if (m->path && img_open(m->path, m->fmt, DISK_O_RDONLY, &src))
		return 1;
	if (src)
		q.size = disk_size(src);
	if (!strcmp(m->out_fmt, "qcow2")) {
		err = img_qcow2_opts(&m->o, &q);
		if (!err && (bad = img_opts_unused(&m->o))) {
			img_err("Invalid parameter '%s'", bad);
			err = -EINVAL;
		}
		if (!err && (err = qcow2_measure(&q, src, &r)))
			img_err("Error while measuring: %s", strerror(-err));
	} else if (!strcmp(m->out_fmt, "raw")) {
		r.required = r.fully_allocated = q.size;
		err = 0;
	} else {
		img_err("Format driver '%s' does not support measure", m->out_fmt);
		err = -ENOTSUP;
	}
	disk_close(src);
	if (err)
		return 1;
	img_measure_print(&r, m->json);
	return 0;
}

int img_cmd_measure(int argc, char **argv)
{
	static const struct option lo[] = {{"output", required_argument, NULL, 'J'},
					   {"size", required_argument, NULL, 'S'},
					   {"force-share", no_argument, NULL, 'U'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	struct img_measure_args m = {.out_fmt = "raw"};
	int c, ret = 1;

	optind = 0;
	while ((c = getopt_long(argc, argv, "hf:O:o:l:U", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			m.fmt = optarg;
			break;
		case 'O':
			m.out_fmt = optarg;
			break;
		case 'S':
			m.size = optarg;
			break;
		case 'J':
			m.json = img_parse_output(optarg);
			if (m.json < 0)
				goto out;
			break;
		case 'o':
			if (img_opts_add(&m.o, optarg))
				goto out;
			break;
		case 'l':
		case 'U':
			break;
		case 'h':
			printf("usage: kvmm img measure [--output=ofmt] [-O output_fmt] "
			       "[-o options] [--size N | [-f fmt] filename]\n");
			ret = 0;
			goto out;
		default:
			goto out;
		}
	}
	if (argc - optind > 1) {
		img_err("Expecting at most one filename");
		goto out;
	}
	m.path = optind < argc ? argv[optind] : NULL;
	ret = img_measure_run(&m);
out:
	img_opts_free(&m.o);
	return ret;
}
