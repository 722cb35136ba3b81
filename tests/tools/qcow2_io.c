/* tests/tools/qcow2_io.c — a small driver for the block layer used by tests/img/qcow2-interop.sh.
 *
 *   qcow2-io create FILE SIZE [key=value ...]   version= cluster_size= refcount_bits=
 *                                               extended_l2= lazy_refcounts= compression_type=
 *                                               backing_file= backing_fmt= preallocation=
 *   qcow2-io dump FILE OUT          whole virtual disk to a raw file (reads the chain)
 *   qcow2-io import RAW FILE [-c]   write a raw file's data into FILE (-c: compressed clusters)
 *   qcow2-io script FILE            commands on stdin, one per line:
 *                                   write OFF LEN PATTERN | zero OFF LEN [unmap] |
 *                                   discard OFF LEN | read OFF LEN PATTERN (verifies) | flush
 *   qcow2-io check FILE [leaks|all] prints qemu-img-check style counts; exit 2 on corruption
 *   qcow2-io snapshot FILE create|apply|delete NAME | snapshot FILE list
 *   qcow2-io resize FILE SIZE [shrink]
 *   qcow2-io amend FILE key=value ...           compat= lazy_refcounts= refcount_bits=
 *   qcow2-io info FILE
 * Exit status 0 on success, 1 on error. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "block/disk.h"
#include "block/qcow2.h"

static uint64_t num(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	switch (*end) {
	case 'k':
	case 'K':
		return v << 10;
	case 'm':
	case 'M':
		return v << 20;
	case 'g':
	case 'G':
		return v << 30;
	default:
		return v;
	}
}

static int kv_create(struct qcow2_create_opts *o, const char *kv)
{
	const char *v = strchr(kv, '=');

	if (!v)
		return -EINVAL;
	v++;
	if (!strncmp(kv, "version=", 8) || !strncmp(kv, "compat=", 7))
		o->version = !strcmp(v, "0.10") || !strcmp(v, "2") ? 2 : 3;
	else if (!strncmp(kv, "cluster_size=", 13))
		o->cluster_size = (uint32_t)num(v);
	else if (!strncmp(kv, "refcount_bits=", 14))
		o->refcount_bits = (unsigned)num(v);
	else if (!strncmp(kv, "extended_l2=", 12))
		o->extended_l2 = !strcmp(v, "on");
	else if (!strncmp(kv, "lazy_refcounts=", 15))
		o->lazy_refcounts = !strcmp(v, "on");
	else if (!strncmp(kv, "compression_type=", 17))
		o->compression_type =
		    !strcmp(v, "zstd") ? QCOW2_COMPRESSION_ZSTD : QCOW2_COMPRESSION_ZLIB;
	else if (!strncmp(kv, "backing_file=", 13))
		o->backing_file = v;
	else if (!strncmp(kv, "backing_fmt=", 12))
		o->backing_fmt = v;
	else if (!strncmp(kv, "preallocation=", 14))
		o->prealloc = !strcmp(v, "metadata") ? QCOW2_PREALLOC_METADATA
			      : !strcmp(v, "falloc") ? QCOW2_PREALLOC_FALLOC
			      : !strcmp(v, "full")   ? QCOW2_PREALLOC_FULL
						     : QCOW2_PREALLOC_OFF;
	else
		return -EINVAL;
	return 0;
}

static int open_disk(const char *path, unsigned flags, struct disk **d)
{
	struct disk_open_opts o = {.flags = flags};
	int err = disk_open(path, &o, d);

	if (err)
		fprintf(stderr, "qcow2-io: open %s: %s\n", path, strerror(-err));
	return err;
}

static int cmd_dump(const char *path, const char *out)
{
	struct disk *d;
	uint8_t *buf = malloc(1 << 20);
	int fd, err;

	if (!buf || open_disk(path, DISK_O_RDONLY, &d))
		return 1;
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	err = fd < 0 ? -errno : 0;
	for (uint64_t off = 0; !err && off < disk_size(d); off += 1 << 20) {
		size_t n = disk_size(d) - off < (1 << 20) ? disk_size(d) - off : (1 << 20);

		err = disk_pread(d, buf, n, off);
		if (!err && pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
			err = -EIO;
	}
	if (!err && ftruncate(fd, (off_t)disk_size(d)))
		err = -errno;
	if (fd >= 0)
		close(fd);
	disk_close(d);
	free(buf);
	if (err)
		fprintf(stderr, "qcow2-io: dump: %s\n", strerror(-err));
	return err ? 1 : 0;
}

static int cmd_import(const char *raw, const char *path, bool compress)
{
	struct disk *d;
	uint32_t cs;
	uint8_t *buf;
	int fd = open(raw, O_RDONLY), err = 0;

	if (fd < 0 || open_disk(path, 0, &d))
		return 1;
	cs = qcow2_cluster_size(d);
	buf = malloc(cs);
	for (uint64_t off = 0; !err && off < disk_size(d); off += cs) {
		size_t n = disk_size(d) - off < cs ? disk_size(d) - off : cs;
		ssize_t r = pread(fd, buf, n, (off_t)off);
		bool zero = true;

		if (r < 0) {
			err = -errno;
			break;
		}
		memset(buf + r, 0, n - (size_t)r);
		for (size_t i = 0; i < n && zero; i++)
			zero = !buf[i];
		if (zero)
			continue;
		err =
		    compress ? qcow2_write_compressed(d, off, buf, n) : disk_pwrite(d, buf, n, off);
	}
	close(fd);
	disk_close(d);
	free(buf);
	if (err)
		fprintf(stderr, "qcow2-io: import: %s\n", strerror(-err));
	return err ? 1 : 0;
}

static int script_line(struct disk *d, char *line, unsigned lineno)
{
	char op[16], extra[16] = "";
	unsigned long long off, len;
	unsigned pat = 0;
	uint8_t *buf;
	int n = sscanf(line, "%15s %llu %llu %15s", op, &off, &len, extra), err = 0;

	if (n < 1 || op[0] == '#')
		return 0;
	if (!strcmp(op, "flush"))
		return disk_flush(d);
	if (n < 3)
		return -EINVAL;
	if (n == 4)
		pat = (unsigned)strtoul(extra, NULL, 0);
	if (!strcmp(op, "zero"))
		return disk_write_zeroes(d, off, len, !strcmp(extra, "unmap"));
	if (!strcmp(op, "discard"))
		return disk_discard(d, off, len);
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	if (!strcmp(op, "write")) {
		memset(buf, (int)pat, len);
		err = disk_pwrite(d, buf, len, off);
	} else if (!strcmp(op, "read")) {
		err = disk_pread(d, buf, len, off);
		for (unsigned long long i = 0; !err && i < len; i++) {
			if (buf[i] != (uint8_t)pat) {
				fprintf(stderr, "qcow2-io: line %u: byte %llu is %#x, want %#x\n",
					lineno, off + i, buf[i], pat);
				err = -EILSEQ;
			}
		}
	} else {
		err = -EINVAL;
	}
	free(buf);
	return err;
}

static int cmd_script(const char *path)
{
	struct disk *d;
	char line[256];
	unsigned lineno = 0;
	int err = 0;

	if (open_disk(path, 0, &d))
		return 1;
	while (!err && fgets(line, sizeof(line), stdin)) {
		lineno++;
		err = script_line(d, line, lineno);
		if (err)
			fprintf(stderr, "qcow2-io: line %u (%s): %s\n", lineno, line,
				strerror(-err));
	}
	disk_close(d);
	return err ? 1 : 0;
}

static int cmd_check(const char *path, const char *mode)
{
	struct qcow2_check_result r;
	unsigned fix = 0;
	struct disk *d;
	int err;

	if (mode && !strcmp(mode, "leaks"))
		fix = QCOW2_CHECK_FIX_LEAKS;
	else if (mode && !strcmp(mode, "all"))
		fix = QCOW2_CHECK_FIX_LEAKS | QCOW2_CHECK_FIX_ERRORS;
	if (open_disk(path, (fix ? DISK_O_REPAIR : DISK_O_RDONLY) | DISK_O_NO_BACKING, &d))
		return 1;
	err = qcow2_check(d, fix, &r);
	disk_close(d);
	if (err) {
		fprintf(stderr, "qcow2-io: check: %s\n", strerror(-err));
		return 1;
	}
	printf("corruptions=%llu leaks=%llu check_errors=%llu corruptions_fixed=%llu "
	       "leaks_fixed=%llu\nimage_end_offset=%llu allocated=%llu total=%llu "
	       "fragmented=%llu compressed=%llu\n",
	       (unsigned long long)r.corruptions, (unsigned long long)r.leaks,
	       (unsigned long long)r.check_errors, (unsigned long long)r.corruptions_fixed,
	       (unsigned long long)r.leaks_fixed, (unsigned long long)r.image_end_offset,
	       (unsigned long long)r.allocated_clusters, (unsigned long long)r.total_clusters,
	       (unsigned long long)r.fragmented_clusters,
	       (unsigned long long)r.compressed_clusters);
	return r.corruptions ? 2 : 0;
}

static int cmd_snapshot(int argc, char **argv)
{
	struct disk *d;
	int err;

	if (argc < 4)
		return 1;
	if (open_disk(argv[2], strcmp(argv[3], "list") ? 0 : DISK_O_RDONLY, &d))
		return 1;
	if (!strcmp(argv[3], "list")) {
		struct qcow2_snapshot_info *v;
		unsigned n;

		err = qcow2_snapshot_list(d, &v, &n);
		for (unsigned i = 0; !err && i < n; i++)
			printf("%s %s %llu\n", v[i].id, v[i].name,
			       (unsigned long long)v[i].disk_size);
		if (!err)
			qcow2_snapshot_list_free(v, n);
	} else if (argc < 5) {
		err = -EINVAL;
	} else if (!strcmp(argv[3], "create")) {
		err = qcow2_snapshot_create(d, argv[4]);
	} else if (!strcmp(argv[3], "apply")) {
		err = qcow2_snapshot_apply(d, argv[4]);
	} else if (!strcmp(argv[3], "delete")) {
		err = qcow2_snapshot_delete(d, argv[4]);
	} else {
		err = -EINVAL;
	}
	disk_close(d);
	if (err)
		fprintf(stderr, "qcow2-io: snapshot: %s\n", strerror(-err));
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct disk *d;
	int err = 0;

	log_set_level(LOG_WARN);
	if (argc < 3) {
		fprintf(stderr, "usage: see tests/tools/qcow2_io.c\n");
		return 1;
	}
	if (!strcmp(argv[1], "create") && argc >= 4) {
		struct qcow2_create_opts o = {.size = num(argv[3])};

		for (int i = 4; i < argc && !err; i++)
			err = kv_create(&o, argv[i]);
		if (!err)
			err = qcow2_create(argv[2], &o);
	} else if (!strcmp(argv[1], "dump") && argc == 4) {
		return cmd_dump(argv[2], argv[3]);
	} else if (!strcmp(argv[1], "import") && argc >= 4) {
		return cmd_import(argv[2], argv[3], argc > 4 && !strcmp(argv[4], "-c"));
	} else if (!strcmp(argv[1], "script")) {
		return cmd_script(argv[2]);
	} else if (!strcmp(argv[1], "check")) {
		return cmd_check(argv[2], argc > 3 ? argv[3] : NULL);
	} else if (!strcmp(argv[1], "snapshot")) {
		return cmd_snapshot(argc, argv);
	} else if (!strcmp(argv[1], "resize") && argc >= 4) {
		if (open_disk(argv[2], 0, &d))
			return 1;
		err = disk_resize(d, num(argv[3]), argc > 4);
		disk_close(d);
	} else if (!strcmp(argv[1], "amend")) {
		struct qcow2_amend_opts o = {.lazy_refcounts = -1};

		for (int i = 3; i < argc; i++) {
			if (!strncmp(argv[i], "compat=", 7))
				o.version = !strcmp(argv[i] + 7, "0.10") ? 2 : 3;
			else if (!strncmp(argv[i], "lazy_refcounts=", 15))
				o.lazy_refcounts = !strcmp(argv[i] + 15, "on");
			else if (!strncmp(argv[i], "refcount_bits=", 14))
				o.refcount_bits = (unsigned)num(argv[i] + 14);
		}
		if (open_disk(argv[2], 0, &d))
			return 1;
		err = qcow2_amend(d, &o);
		disk_close(d);
	} else if (!strcmp(argv[1], "info")) {
		struct qcow2_info in;

		if (open_disk(argv[2], DISK_O_RDONLY | DISK_O_NO_BACKING, &d))
			return 1;
		printf("format=%s size=%llu\n", disk_format(d), (unsigned long long)disk_size(d));
		if (!qcow2_get_info(d, &in))
			printf("version=%u cluster_size=%u refcount_bits=%u extended_l2=%d "
			       "lazy_refcounts=%d compression_type=%d snapshots=%u\n",
			       in.version, in.cluster_size, in.refcount_bits, in.extended_l2,
			       in.lazy_refcounts, in.compression_type, in.nb_snapshots);
		disk_close(d);
	} else {
		fprintf(stderr, "qcow2-io: bad command\n");
		return 1;
	}
	if (err)
		fprintf(stderr, "qcow2-io: %s: %s\n", argv[1], strerror(-err));
	return err ? 1 : 0;
}
