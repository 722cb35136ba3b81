/* cmd/img_info.c — `kvmm img info`: human and JSON descriptions of an image (and its chain). */
#include "cmd/img.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "block/disk.h"
#include "block/qcow2.h"

int img_parse_output(const char *s)
{
	if (!strcmp(s, "human"))
		return 0;
	if (!strcmp(s, "json"))
		return 1;
	img_err("--output must be used with human or json as argument.");
	return -1;
}

char *img_backing_path(const char *image, const char *backing)
{
	const char *slash = strrchr(image, '/');
	char *p;

	if (backing[0] == '/' || !slash)
		return strdup(backing);
	if (asprintf(&p, "%.*s/%s", (int)(slash - image), image, backing) < 0)
		return NULL;
	return p;
}

void img_snapshot_dump(const struct qcow2_snapshot_info *s)
{
	char date[32] = "", clk[32], size[32], icount[32] = "";
	time_t t;
	struct tm tm;
	uint64_t secs;

	if (!s) {
		printf("%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK",
		       "ICOUNT");
		return;
	}
	t = (time_t)s->date_sec;
	if (localtime_r(&t, &tm))
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	secs = s->vm_clock_nsec / 1000000000ull;
	snprintf(clk, sizeof(clk), "%02u:%02u:%02u.%03u", (unsigned)(secs / 3600),
		 (unsigned)(secs / 60 % 60), (unsigned)(secs % 60),
		 (unsigned)(s->vm_clock_nsec / 1000000 % 1000));
	img_human_size(s->vm_state_size, size, sizeof(size));
	/* qemu-img shows 0 for snapshots without a recorded instruction count. */
	snprintf(icount, sizeof(icount), "%llu",
		 (unsigned long long)(s->icount_valid ? s->icount : 0));
	printf("%-9s %-16s %8s%20s%13s%11s\n", s->id, s->name, size, date, clk, icount);
}

struct img_info {
	struct disk *d;
	const char *path;
	bool is_qcow2;
	struct qcow2_info q;
	struct qcow2_snapshot_info *snaps;
	unsigned nsnaps;
	char *full_backing;
};

static json_t *img_info_snapshots_json(const struct img_info *in)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < in->nsnaps; i++) {
		const struct qcow2_snapshot_info *s = &in->snaps[i];

		json_t *o = json_object(), *rest;

		if (s->icount_valid)
			json_object_set_new(o, "icount", json_integer((json_int_t)s->icount));
		rest = json_pack("{s:I, s:s, s:I, s:I, s:I, s:s, s:I}", "vm-clock-nsec",
				 (json_int_t)(s->vm_clock_nsec % 1000000000ull), "name", s->name,
				 "date-sec", (json_int_t)s->date_sec, "date-nsec",
				 (json_int_t)s->date_nsec, "vm-clock-sec",
				 (json_int_t)(s->vm_clock_nsec / 1000000000ull), "id", s->id,
				 "vm-state-size", (json_int_t)s->vm_state_size);
		json_object_update(o, rest);
		json_decref(rest);
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *img_info_qcow2_json(const struct qcow2_info *q)
{
	json_t *data = json_object();

	json_object_set_new(data, "compat", json_string(q->version == 2 ? "0.10" : "1.1"));
	json_object_set_new(
	    data, "compression-type",
	    json_string(q->compression_type == QCOW2_COMPRESSION_ZSTD ? "zstd" : "zlib"));
	if (q->version >= 3)
		json_object_set_new(data, "lazy-refcounts", json_boolean(q->lazy_refcounts));
	json_object_set_new(data, "refcount-bits", json_integer(q->refcount_bits));
	if (q->version >= 3) {
		json_object_set_new(data, "corrupt", json_boolean(q->corrupt));
		json_object_set_new(data, "extended-l2", json_boolean(q->extended_l2));
	}
	return json_pack("{s:s, s:o}", "type", "qcow2", "data", data);
}

static json_t *img_info_json(const struct img_info *in)
{
	const struct disk *d = in->d;
	json_t *o = json_object();

	if (in->nsnaps)
		json_object_set_new(o, "snapshots", img_info_snapshots_json(in));
	if (d->backing_name && d->backing_fmt)
		json_object_set_new(o, "backing-filename-format", json_string(d->backing_fmt));
	json_object_set_new(o, "virtual-size", json_integer((json_int_t)disk_size(d)));
	json_object_set_new(o, "filename", json_string(in->path));
	if (in->is_qcow2)
		json_object_set_new(o, "cluster-size", json_integer(in->q.cluster_size));
	json_object_set_new(o, "format", json_string(disk_format(d)));
	json_object_set_new(o, "actual-size",
			    json_integer((json_int_t)img_file_actual_size(in->path)));
	if (in->is_qcow2)
		json_object_set_new(o, "format-specific", img_info_qcow2_json(&in->q));
	if (d->backing_name) {
		json_object_set_new(
		    o, "full-backing-filename",
		    json_string(in->full_backing ? in->full_backing : d->backing_name));
		json_object_set_new(o, "backing-filename", json_string(d->backing_name));
	}
	json_object_set_new(o, "dirty-flag", json_boolean(in->is_qcow2 && in->q.dirty));
	return o;
}

static void img_info_human(const struct img_info *in)
{
	const struct disk *d = in->d;
	char hs[32];

	printf("image: %s\nfile format: %s\n", in->path, disk_format(d));
	img_human_size(disk_size(d), hs, sizeof(hs));
	printf("virtual size: %s (%llu bytes)\n", hs, (unsigned long long)disk_size(d));
	img_human_size(img_file_actual_size(in->path), hs, sizeof(hs));
	printf("disk size: %s\n", hs);
	if (in->is_qcow2)
		printf("cluster_size: %u\n", in->q.cluster_size);
	if (in->is_qcow2 && in->q.dirty)
		printf("cleanly shut down: no\n");
	if (d->backing_name) {
		printf("backing file: %s", d->backing_name);
		if (in->full_backing && strcmp(in->full_backing, d->backing_name))
			printf(" (actual path: %s)", in->full_backing);
		printf("\n");
		if (d->backing_fmt)
			printf("backing file format: %s\n", d->backing_fmt);
	}
	if (in->nsnaps) {
		printf("Snapshot list:\n");
		img_snapshot_dump(NULL);
		for (unsigned i = 0; i < in->nsnaps; i++)
			img_snapshot_dump(&in->snaps[i]);
	}
	if (!in->is_qcow2)
		return;
	printf("Format specific information:\n    compat: %s\n    compression type: %s\n",
	       in->q.version == 2 ? "0.10" : "1.1",
	       in->q.compression_type == QCOW2_COMPRESSION_ZSTD ? "zstd" : "zlib");
	if (in->q.version >= 3)
		printf("    lazy refcounts: %s\n", in->q.lazy_refcounts ? "true" : "false");
	printf("    refcount bits: %u\n", in->q.refcount_bits);
	if (in->q.version >= 3)
		printf("    corrupt: %s\n    extended l2: %s\n", in->q.corrupt ? "true" : "false",
		       in->q.extended_l2 ? "true" : "false");
}

static int img_info_load(struct img_info *in, const char *path, const char *fmt)
{
	int err;

	memset(in, 0, sizeof(*in));
	in->path = path;
	err = img_open(path, fmt, DISK_O_RDONLY | DISK_O_NO_BACKING, &in->d);
	if (err)
		return err;
	in->is_qcow2 = !strcmp(disk_format(in->d), "qcow2");
	if (in->is_qcow2) {
		err = qcow2_get_info(in->d, &in->q);
		if (!err)
			err = qcow2_snapshot_list(in->d, &in->snaps, &in->nsnaps);
		if (err) {
			img_err("Could not read '%s': %s", path, strerror(-err));
			return err;
		}
	}
	if (in->d->backing_name) {
		in->full_backing = img_backing_path(path, in->d->backing_name);
		if (!in->full_backing)
			return -ENOMEM;
	}
	return 0;
}

static void img_info_free(struct img_info *in)
{
	if (in->snaps)
		qcow2_snapshot_list_free(in->snaps, in->nsnaps);
	free(in->full_backing);
	disk_close(in->d);
}

/* Record the file behind fd as chain element depth; true (after an error message) if an earlier
 * element was the same file: the chain loops. */
static bool img_info_seen(struct stat *seen, unsigned depth, int fd, const char *path)
{
	if (fstat(fd, &seen[depth])) {
		img_err("Could not stat '%s': %s", path, strerror(errno));
		return true;
	}
	for (unsigned i = 0; i < depth; i++)
		if (seen[i].st_dev == seen[depth].st_dev && seen[i].st_ino == seen[depth].st_ino) {
			img_err("Backing file '%s' creates an infinite loop.", path);
			return true;
		}
	return false;
}

int img_cmd_info(int argc, char **argv)
{
	static const struct option lo[] = {{"output", required_argument, NULL, 'O'},
					   {"backing-chain", no_argument, NULL, 'B'},
					   {"force-share", no_argument, NULL, 'U'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	const char *fmt = NULL;
	char *path = NULL, *chain_fmt = NULL;
	int c, json = 0, ret = 1;
	bool chain = false;
	json_t *arr = NULL;
	struct stat seen[DISK_MAX_CHAIN_DEPTH + 1];

	optind = 0;
	while ((c = getopt_long(argc, argv, "hf:U", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = optarg;
			break;
		case 'O':
			json = img_parse_output(optarg);
			if (json < 0)
				return 1;
			break;
		case 'B':
			chain = true;
			break;
		case 'U':
			break;
		case 'h':
			printf("usage: kvmm img info [-f fmt] [--output=ofmt] [--backing-chain] "
			       "filename\n");
			return 0;
		default:
			return 1;
		}
	}
	if (optind != argc - 1) {
		img_err("Expecting one image file name");
		return 1;
	}
	path = strdup(argv[optind]);
	if (!path)
		return 1;
	if (chain && json)
		arr = json_array();
	for (unsigned depth = 0; path; depth++) {
		struct img_info in;
		int err = img_info_load(&in, path, fmt);

		if (err || img_info_seen(seen, depth, in.d->fd, path)) {
			img_info_free(&in);
			goto out;
		}
		if (json) {
			json_t *o = img_info_json(&in);

			if (arr) {
				json_array_append_new(arr, o);
			} else {
				char *s = json_dumps(o, JSON_INDENT(4) | JSON_PRESERVE_ORDER);

				printf("%s\n", s ? s : "null");
				free(s);
				json_decref(o);
			}
		} else {
			if (depth)
				printf("\n");
			img_info_human(&in);
		}
		free(path);
		path = NULL;
		if (chain && in.d->backing_name) {
			if (depth + 1 > DISK_MAX_CHAIN_DEPTH) {
				img_err("Backing chain is too deep");
				img_info_free(&in);
				goto out;
			}
			path = in.full_backing;
			in.full_backing = NULL;
			free(chain_fmt);
			chain_fmt = in.d->backing_fmt ? strdup(in.d->backing_fmt) : NULL;
			fmt = chain_fmt;
		}
		img_info_free(&in);
	}
	ret = 0;
	if (arr) {
		char *s = json_dumps(arr, JSON_INDENT(4) | JSON_PRESERVE_ORDER);

		printf("%s\n", s ? s : "null");
		free(s);
	}
out:
	json_decref(arr);
	free(chain_fmt);
	free(path);
	return ret;
}
