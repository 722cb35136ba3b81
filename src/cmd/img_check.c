/* cmd/img_check.c — `kvmm img check`, `map` and `compare`. */
#include "cmd/img.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/disk.h"
#include "block/qcow2.h"

static void img_check_human(const struct qcow2_check_result *r)
{
	if (!r->corruptions && !r->leaks && !r->check_errors) {
		printf("No errors were found on the image.\n");
	} else {
		if (r->corruptions)
			printf("\n%llu errors were found on the image.\nData may be corrupted, or "
			       "further writes to the image may corrupt it.\n",
			       (unsigned long long)r->corruptions);
		if (r->leaks)
			printf("\n%llu leaked clusters were found on the image.\nThis means waste "
			       "of disk space, but no harm to data.\n",
			       (unsigned long long)r->leaks);
		if (r->check_errors)
			printf("\n%llu internal errors have occurred during the check.\n",
			       (unsigned long long)r->check_errors);
	}
	if (r->total_clusters && r->allocated_clusters)
		printf("%llu/%llu = %0.2f%% allocated, %0.2f%% fragmented, %0.2f%% compressed "
		       "clusters\n",
		       (unsigned long long)r->allocated_clusters,
		       (unsigned long long)r->total_clusters,
		       (double)r->allocated_clusters * 100.0 / (double)r->total_clusters,
		       (double)r->fragmented_clusters * 100.0 / (double)r->allocated_clusters,
		       (double)r->compressed_clusters * 100.0 / (double)r->allocated_clusters);
	if (r->image_end_offset)
		printf("Image end offset: %llu\n", (unsigned long long)r->image_end_offset);
}

static void img_check_json(const struct qcow2_check_result *r, const char *path, const char *fmt)
{
	json_t *o = json_object();
	char *s;

#define IMG_SET(k, v) json_object_set_new(o, (k), json_integer((json_int_t)(v)))
	if (r->image_end_offset)
		IMG_SET("image-end-offset", r->image_end_offset);
	if (r->total_clusters)
		IMG_SET("total-clusters", r->total_clusters);
	IMG_SET("check-errors", r->check_errors);
	if (r->total_clusters)
		IMG_SET("allocated-clusters", r->allocated_clusters);
	json_object_set_new(o, "filename", json_string(path));
	json_object_set_new(o, "format", json_string(fmt));
	if (r->fragmented_clusters)
		IMG_SET("fragmented-clusters", r->fragmented_clusters);
	if (r->compressed_clusters)
		IMG_SET("compressed-clusters", r->compressed_clusters);
	if (r->leaks)
		IMG_SET("leaks", r->leaks);
	if (r->corruptions)
		IMG_SET("corruptions", r->corruptions);
	if (r->leaks_fixed)
		IMG_SET("leaks-fixed", r->leaks_fixed);
	if (r->corruptions_fixed)
		IMG_SET("corruptions-fixed", r->corruptions_fixed);
#undef IMG_SET
	s = json_dumps(o, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
	printf("%s\n", s ? s : "null");
	free(s);
	json_decref(o);
}

/* Run the check (and the re-check after a repair, as qemu-img does). */
static int img_check_run(struct disk *d, unsigned fix, int json, struct qcow2_check_result *r)
{
	int err = qcow2_check(d, fix, r);

	if (err || !(r->corruptions_fixed || r->leaks_fixed))
		return err;
	if (!json)
		printf("The following inconsistencies were found and repaired:\n\n"
		       "    %llu leaked clusters\n    %llu corruptions\n\n"
		       "Double checking the fixed image now...\n",
		       (unsigned long long)r->leaks_fixed,
		       (unsigned long long)r->corruptions_fixed);
	struct qcow2_check_result again;
	err = qcow2_check(d, 0, &again);
	if (!err) {
		again.leaks_fixed = r->leaks_fixed;
		again.corruptions_fixed = r->corruptions_fixed;
		*r = again;
	}
	return err;
}

int img_cmd_check(int argc, char **argv)
{
	static const struct option lo[] = {{"output", required_argument, NULL, 'O'},
					   {"repair", required_argument, NULL, 'r'},
					   {"force-share", no_argument, NULL, 'U'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	struct qcow2_check_result r = {0};
	const char *fmt = NULL;
	struct disk *d = NULL;
	unsigned fix = 0;
	int c, json = 0, err, quiet = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "hf:r:T:qU", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = optarg;
			break;
		case 'O':
			json = img_parse_output(optarg);
			if (json < 0)
				return 1;
			break;
		case 'r':
			if (!strcmp(optarg, "leaks")) {
				fix = QCOW2_CHECK_FIX_LEAKS;
			} else if (!strcmp(optarg, "all")) {
				fix = QCOW2_CHECK_FIX_LEAKS | QCOW2_CHECK_FIX_ERRORS;
			} else {
				img_err(
				    "Unknown option value for -r (expecting 'leaks' or 'all'): %s",
				    optarg);
				return 1;
			}
			break;
		case 'q':
			quiet = 1;
			break;
		case 'T':
		case 'U':
			break;
		case 'h':
			printf("usage: kvmm img check [--output=ofmt] [-r [leaks | all]] [-f fmt] "
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
	err = img_open(argv[optind], fmt,
		       DISK_O_NO_BACKING | DISK_O_REPAIR | (fix ? 0 : DISK_O_RDONLY), &d);
	if (err)
		return 1;
	if (strcmp(disk_format(d), "qcow2")) {
		img_err("This image format does not support checks");
		disk_close(d);
		return 63;
	}
	err = img_check_run(d, fix, json, &r);
	if (!err && !quiet) {
		if (json)
			img_check_json(&r, argv[optind], disk_format(d));
		else
			img_check_human(&r);
	}
	disk_close(d);
	if (err || r.check_errors) {
		if (err)
			img_err("Check failed: %s", strerror(-err));
		else
			img_err("Check failed");
		return 1;
	}
	return r.corruptions ? 2 : r.leaks ? 3 : 0;
}

/* ---- map ---- */

struct img_map_entry {
	uint64_t start, len, offset;
	unsigned depth;
	bool present, zero, data, has_offset;
	const char *file;
};

/* Resolve the mapping of [off, off + max) through the chain starting at top. */
static int img_map_one(struct disk *top, uint64_t off, uint64_t max, struct img_map_entry *e)
{
	struct disk *d = top;
	unsigned depth = 0;

	memset(e, 0, sizeof(*e));
	e->start = off;
	for (;;) {
		struct disk_extent x;
		int err = disk_extent(d, off, max, &x);

		if (err)
			return err;
		max = KVMM_MIN(max, x.len);
		if (x.kind == DISK_EXTENT_BACKING && disk_backing(d) &&
		    off < disk_size(disk_backing(d))) {
			max = KVMM_MIN(max, disk_size(disk_backing(d)) - off);
			d = disk_backing(d);
			depth++;
			continue;
		}
		e->len = max;
		e->depth = depth;
		e->file = d->filename;
		/* As in qemu: formats without backing files report unallocated as present. */
		e->present = x.kind == DISK_EXTENT_DATA || x.kind == DISK_EXTENT_ZERO ||
			     (strcmp(disk_format(d), "qcow2") && strcmp(disk_format(d), "vmdk"));
		e->data = x.kind == DISK_EXTENT_DATA;
		e->zero = !e->data;
		if (!strcmp(disk_format(d), "raw")) {
			/* qemu always reports the first 4 KiB of a raw file as data. */
			if (off == 0 && !e->data) {
				e->len = KVMM_MIN(e->len, (uint64_t)4096);
				e->data = true;
				e->zero = false;
			}
			e->has_offset = true;
			e->offset = off;
			e->present = true;
		} else if (e->data && !x.compressed) {
			e->has_offset = true;
			e->offset = x.host_off;
		}
		return 0;
	}
}

static bool img_map_mergeable(const struct img_map_entry *a, const struct img_map_entry *b)
{
	return a->depth == b->depth && a->present == b->present && a->zero == b->zero &&
	       a->data == b->data && a->has_offset == b->has_offset && a->file == b->file &&
	       (!a->has_offset || a->offset + a->len == b->offset);
}

static int img_map_print(const struct img_map_entry *e, int json, bool first)
{
	if (json) {
		printf("%s{ \"start\": %llu, \"length\": %llu, \"depth\": %u, \"present\": %s, "
		       "\"zero\": %s, \"data\": %s",
		       first ? "[" : ",\n", (unsigned long long)e->start,
		       (unsigned long long)e->len, e->depth, e->present ? "true" : "false",
		       e->zero ? "true" : "false", e->data ? "true" : "false");
		if (e->has_offset)
			printf(", \"offset\": %llu", (unsigned long long)e->offset);
		printf("}");
		return 0;
	}
	if (e->data && !e->has_offset) {
		img_err("File contains external, encrypted or compressed clusters.");
		return -ENOTSUP;
	}
	if (e->data)
		printf("%#-16llx%#-16llx%#-16llx%s\n", (unsigned long long)e->start,
		       (unsigned long long)e->len, (unsigned long long)e->offset, e->file);
	return 0;
}

static int img_map_run(struct disk *d, uint64_t start, uint64_t len, int json)
{
	struct img_map_entry cur = {0}, next;
	uint64_t end = len > disk_size(d) - start ? disk_size(d) : start + len;
	bool have = false, first = true;
	int err;

	if (!json)
		printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
	for (uint64_t off = start; off < end; off += next.len) {
		err = img_map_one(d, off, end - off, &next);
		if (err) {
			img_err("Could not read file metadata: %s", strerror(-err));
			return err;
		}
		if (have && img_map_mergeable(&cur, &next)) {
			cur.len += next.len;
			continue;
		}
		if (have && (err = img_map_print(&cur, json, first)))
			return err;
		first = first && !have;
		cur = next;
		have = true;
	}
	if (have && (err = img_map_print(&cur, json, first)))
		return err;
	if (json)
		printf(have ? "]\n" : "[]\n");
	return 0;
}

int img_cmd_map(int argc, char **argv)
{
	static const struct option lo[] = {{"output", required_argument, NULL, 'O'},
					   {"start-offset", required_argument, NULL, 's'},
					   {"max-length", required_argument, NULL, 'l'},
					   {"force-share", no_argument, NULL, 'U'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	const char *fmt = NULL;
	uint64_t start = 0, len = UINT64_MAX;
	struct disk *d = NULL;
	int c, json = 0, err;

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
		case 's':
		case 'l':
			if (img_parse_size(optarg, c == 's' ? &start : &len)) {
				img_err("Invalid %s specified",
					c == 's' ? "start offset" : "length");
				return 1;
			}
			break;
		case 'U':
			break;
		case 'h':
			printf("usage: kvmm img map [-f fmt] [--output=ofmt] filename\n");
			return 0;
		default:
			return 1;
		}
	}
	if (optind != argc - 1) {
		img_err("Expecting one image file name");
		return 1;
	}
	if (img_open(argv[optind], fmt, DISK_O_RDONLY, &d))
		return 1;
	err = start < disk_size(d) ? img_map_run(d, start, len, json) : 0;
	if (start >= disk_size(d))
		printf(json ? "[]\n" : "%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to",
		       "File");
	disk_close(d);
	return err ? 1 : 0;
}

/* ---- compare ---- */

#define IMG_CMP_CHUNK (1u << 20)

/* Offset (rounded down to 512) of the first difference in a and b, or len if equal. */
static size_t img_first_diff(const uint8_t *a, const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len; i += 512) {
		size_t n = KVMM_MIN((size_t)512, len - i);

		if (memcmp(a + i, b + i, n))
			return i;
	}
	return len;
}

static int img_compare_run(struct disk *a, struct disk *b, bool strict, bool progress, uint8_t *ba,
			   uint8_t *bb)
{
	uint64_t sa = disk_size(a), sb = disk_size(b), common = KVMM_MIN(sa, sb);
	uint64_t total = KVMM_MAX(sa, sb);
	int err;

	if (strict && sa != sb) {
		printf("Strict mode: Image size mismatch!\n");
		return 1;
	}
	for (uint64_t off = 0; off < total; off += IMG_CMP_CHUNK) {
		size_t n = (size_t)KVMM_MIN((uint64_t)IMG_CMP_CHUNK, total - off), d;
		struct disk *big = sa > sb ? a : b;

		if (off < common) {
			n = (size_t)KVMM_MIN((uint64_t)n, common - off);
			if ((err = disk_pread(a, ba, n, off)) || (err = disk_pread(b, bb, n, off)))
				goto err_read;
			d = img_first_diff(ba, bb, n);
		} else {
			if ((err = disk_pread(big, ba, n, off)))
				goto err_read;
			memset(bb, 0, n);
			d = img_first_diff(ba, bb, n);
		}
		if (d < n) {
			printf("Content mismatch at offset %llu!\n", (unsigned long long)(off + d));
			return 1;
		}
		if (progress)
			printf("    (%.2f/100%%)\r", 100.0 * (double)(off + n) / (double)total);
	}
	if (progress)
		printf("    (100.00/100%%)\n");
	if (sa != sb)
		printf("Warning: Image size mismatch!\n");
	printf("Images are identical.\n");
	return 0;
err_read:
	img_err("Error while reading: %s", strerror(-err));
	return 2;
}

int img_cmd_compare(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"help", no_argument, NULL, 'h'}, {"force-share", no_argument, NULL, 'U'}, {0}};
	const char *f1 = NULL, *f2 = NULL;
	bool strict = false, progress = false, quiet = false;
	struct disk *a = NULL, *b = NULL;
	uint8_t *ba = NULL, *bb = NULL;
	int c, ret = 2;

	optind = 0;
	while ((c = getopt_long(argc, argv, "hf:F:spqT:U", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			f1 = optarg;
			break;
		case 'F':
			f2 = optarg;
			break;
		case 's':
			strict = true;
			break;
		case 'p':
			progress = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'T':
		case 'U':
			break;
		case 'h':
			printf("usage: kvmm img compare [-f fmt] [-F fmt] [-p] [-s] filename1 "
			       "filename2\n");
			return 0;
		default:
			return 2;
		}
	}
	if (argc - optind != 2) {
		img_err("Expecting two image file names");
		return 2;
	}
	if (img_open(argv[optind], f1, DISK_O_RDONLY, &a) ||
	    img_open(argv[optind + 1], f2, DISK_O_RDONLY, &b))
		goto out;
	ba = malloc(IMG_CMP_CHUNK);
	bb = malloc(IMG_CMP_CHUNK);
	if (!ba || !bb)
		goto out;
	if (quiet && !freopen("/dev/null", "w", stdout))
		goto out;
	ret = img_compare_run(a, b, strict, progress && !quiet, ba, bb);
out:
	free(ba);
	free(bb);
	disk_close(b);
	disk_close(a);
	return ret;
}
