/* Unit tests for block/qcow2: create/open for every refcount width and cluster-size extreme,
 * hostile headers (each rejected with the right code), overlapping metadata (sticky corruption),
 * zero/discard/extent semantics, compressed clusters, backing files and loops, subclusters,
 * snapshots, check/repair, lazy refcounts, resize, concurrent allocating writers, rewriting the
 * backing file in place (qcow2_set_backing) and emptying an overlay (qcow2_make_empty). */
#include "lib/harness.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "block/disk.h"
#include "block/qcow2.h"

static char *tmpname(void)
{
	char *p = strdup("/tmp/kvmm-test-qcow2.XXXXXX");
	int fd = mkstemp(p);

	assert_true(fd >= 0);
	close(fd);
	return p;
}

static struct disk *opn(const char *p, unsigned flags)
{
	struct disk_open_opts o = {.flags = flags};
	struct disk *d = NULL;

	assert_int_equal(disk_open(p, &o, &d), 0);
	return d;
}

static int try_open(const char *p, unsigned flags)
{
	struct disk_open_opts o = {.flags = flags};
	struct disk *d = NULL;
	int err = disk_open(p, &o, &d);

	disk_close(d);
	return err;
}

static void fill(struct disk *d, uint64_t off, size_t len, uint8_t pat)
{
	uint8_t *b = malloc(len);

	memset(b, pat, len);
	assert_int_equal(disk_pwrite(d, b, len, off), 0);
	free(b);
}

static void expect(struct disk *d, uint64_t off, size_t len, uint8_t pat)
{
	uint8_t *b = malloc(len);

	assert_int_equal(disk_pread(d, b, len, off), 0);
	for (size_t i = 0; i < len; i++)
		if (b[i] != pat)
			fail_msg("byte %llu: %#x != %#x", (unsigned long long)(off + i), b[i], pat);
	free(b);
}

static void expect_clean(struct disk *d)
{
	struct qcow2_check_result r;

	assert_int_equal(qcow2_check(d, 0, &r), 0);
	assert_int_equal(r.corruptions, 0);
	assert_int_equal(r.leaks, 0);
	assert_int_equal(r.check_errors, 0);
}

static void patch(const char *p, uint64_t off, const void *b, size_t n)
{
	int fd = open(p, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static void patch32(const char *p, uint64_t off, uint32_t v)
{
	v = htobe32(v);
	patch(p, off, &v, 4);
}

static void patch64(const char *p, uint64_t off, uint64_t v)
{
	v = htobe64(v);
	patch(p, off, &v, 8);
}

static void test_refcount_widths(void **state)
{
	for (unsigned bits = 1; bits <= 64; bits *= 2) {
		struct qcow2_create_opts o = {
		    .size = 8 << 20, .refcount_bits = bits, .cluster_size = 4096};
		struct qcow2_info in;
		char *p = tmpname();
		struct disk *d;

		assert_int_equal(qcow2_create(p, &o), 0);
		d = opn(p, 0);
		assert_int_equal(qcow2_get_info(d, &in), 0);
		assert_int_equal(in.refcount_bits, bits);
		assert_int_equal(in.version, 3);
		/* Enough clusters to need several refcount blocks at narrow widths. */
		for (uint64_t off = 0; off < (8 << 20); off += 12288)
			fill(d, off, 100, (uint8_t)(off / 12288 + 1));
		expect_clean(d);
		disk_close(d);
		d = opn(p, DISK_O_RDONLY);
		for (uint64_t off = 0; off < (8 << 20); off += 12288)
			expect(d, off, 100, (uint8_t)(off / 12288 + 1));
		expect(d, 100, 12188, 0);
		expect_clean(d);
		disk_close(d);
		unlink(p);
		free(p);
	}
}

static void test_cluster_sizes(void **state)
{
	static const uint32_t sizes[] = {512, 2u << 20};

	for (size_t i = 0; i < 2; i++) {
		struct qcow2_create_opts o = {.size = 16 << 20, .cluster_size = sizes[i]};
		char *p = tmpname();
		struct disk *d;

		assert_int_equal(qcow2_create(p, &o), 0);
		d = opn(p, 0);
		assert_int_equal(qcow2_cluster_size(d), sizes[i]);
		fill(d, 1000, 5000, 0x42);
		fill(d, (16 << 20) - 10, 10, 0x43);
		expect(d, 1000, 5000, 0x42);
		expect(d, 0, 1000, 0);
		expect_clean(d);
		disk_close(d);
		unlink(p);
		free(p);
	}
}

/* A fresh 1 MiB, 64k-cluster v3 image with a little data. */
static char *small_image(void)
{
	struct qcow2_create_opts o = {.size = 1 << 20};
	char *p = tmpname();
	struct disk *d;

	assert_int_equal(qcow2_create(p, &o), 0);
	d = opn(p, 0);
	fill(d, 0, 4096, 0x11);
	disk_close(d);
	return p;
}

static void test_hostile_headers(void **state)
{
	struct {
		uint64_t off;
		unsigned width;
		uint64_t val;
		int want;
	} cases[] = {
	    {4, 4, 4, -ENOTSUP},	  /* version 4 */
	    {20, 4, 8, -EINVAL},	  /* cluster_bits below 9 */
	    {20, 4, 22, -EINVAL},	  /* cluster_bits above 21 */
	    {32, 4, 1, -ENOTSUP},	  /* encryption */
	    {36, 4, 0x10000000, -EINVAL}, /* huge l1_size */
	    {36, 4, 0, -EINVAL},	  /* L1 too small for the size */
	    {40, 8, 1ull << 40, -EINVAL}, /* L1 past EOF */
	    {40, 8, 65536 + 8, -EINVAL},  /* L1 unaligned */
	    {48, 8, 1ull << 40, -EINVAL}, /* refcount table past EOF */
	    {56, 4, 0, -EINVAL},	  /* no refcount table */
	    {56, 4, 0x100000, -EINVAL},	  /* refcount table too big */
	    {60, 4, 0x7fffffff, -EINVAL}, /* too many snapshots */
	    {64, 8, 1ull << 40, -EINVAL}, /* (with the count below) snapshots past EOF */
	    {72, 8, 1ull << 7, -ENOTSUP}, /* unknown incompatible feature */
	    {72, 8, 1ull << 2, -ENOTSUP}, /* external data file */
	    {96, 4, 7, -EINVAL},	  /* refcount order 7 */
	    {100, 4, 96, -EINVAL},	  /* header length below 104 */
	    {100, 4, 108, -EINVAL},	  /* header length not a multiple of 8 */
	    {16, 4, 5000, -EINVAL},	  /* backing name too long */
	    {24, 8, 1ull << 63, -EINVAL}, /* absurd virtual size */
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *p = small_image();

		if (cases[i].off == 64)
			patch32(p, 60, 1);
		if (cases[i].off == 16)
			patch64(p, 8, 512);
		if (cases[i].width == 4)
			patch32(p, cases[i].off, (uint32_t)cases[i].val);
		else
			patch64(p, cases[i].off, cases[i].val);
		if (try_open(p, 0) != cases[i].want)
			fail_msg("case %zu (offset %llu): got %d want %d", i,
				 (unsigned long long)cases[i].off, try_open(p, 0), cases[i].want);
		unlink(p);
		free(p);
	}
}

static void test_bad_extension_and_magic(void **state)
{
	struct disk_open_opts o = {.format = "qcow2"};
	struct disk *d;
	char *p = small_image();

	/* An extension whose length runs past the header cluster. */
	patch32(p, 112, 0x12345678);
	patch32(p, 116, 0x7ffffff0);
	assert_int_equal(try_open(p, 0), -EINVAL);
	/* Bad magic: probed as raw; forced qcow2 is rejected. */
	patch32(p, 0, 0x12345678);
	d = opn(p, 0);
	assert_string_equal(disk_format(d), "raw");
	disk_close(d);
	assert_int_equal(disk_open(p, &o, &d), -EINVAL);
	unlink(p);
	free(p);
}

static void test_unknown_extension_preserved(void **state)
{
	struct qcow2_amend_opts am = {.lazy_refcounts = 1};
	uint8_t ext[16] = {0x11, 0x22, 0x33, 0x44, 0, 0, 0, 3, 'a', 'b', 'c'};
	uint8_t end[8] = {0}, back[16];
	char *p = small_image();
	struct disk *d;
	int fd;

	/* Our header has a feature table right at 112; put the unknown one first. */
	patch(p, 112, ext, sizeof(ext));
	patch(p, 128, end, sizeof(end));
	d = opn(p, 0);
	assert_int_equal(qcow2_amend(d, &am), 0); /* rewrites the header */
	disk_close(d);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	/* Somewhere after the fixed header, the extension is still there. */
	{
		uint8_t hc[4096];
		bool found = false;

		assert_int_equal(pread(fd, hc, sizeof(hc), 0), (ssize_t)sizeof(hc));
		for (size_t i = 112; i + 16 <= sizeof(hc); i += 8)
			if (!memcmp(hc + i, ext, 11))
				found = true;
		assert_true(found);
		(void)back;
	}
	close(fd);
	d = opn(p, DISK_O_RDONLY);
	expect(d, 0, 4096, 0x11);
	disk_close(d);
	unlink(p);
	free(p);
}

static void test_corrupt_bit(void **state)
{
	char *p = small_image();
	struct qcow2_check_result r;
	struct disk_open_opts o = {.flags = DISK_O_REPAIR};
	struct disk *d;

	patch64(p, 72, 1ull << 1);
	assert_int_equal(try_open(p, 0), -EIO);
	d = opn(p, DISK_O_RDONLY);
	expect(d, 0, 4096, 0x11);
	disk_close(d);
	/* check -r all on a consistent image clears the bit. */
	assert_int_equal(disk_open(p, &o, &d), 0);
	assert_int_equal(qcow2_check(d, QCOW2_CHECK_FIX_LEAKS | QCOW2_CHECK_FIX_ERRORS, &r), 0);
	assert_int_equal(r.corruptions, 0);
	disk_close(d);
	assert_int_equal(try_open(p, 0), 0);
	unlink(p);
	free(p);
}

static void test_overlap_is_sticky(void **state)
{
	char *p = small_image();
	struct disk *d;
	uint8_t b[512] = {0};

	/* L1 entry 0 (L1 at cluster 3) now points at the refcount table (cluster 1). */
	patch64(p, 3 * 65536, 65536 | (1ull << 63));
	d = opn(p, 0);
	assert_int_equal(disk_pwrite(d, b, sizeof(b), 0), -EIO);
	/* Sticky: even an unrelated write fails now. */
	assert_int_equal(disk_pwrite(d, b, sizeof(b), 512 * 1024), -EIO);
	disk_close(d);
	assert_int_equal(try_open(p, 0), -EIO); /* corrupt bit set */
	/* L1 pointing into the header: reads fail too. */
	patch64(p, 72, 0);
	patch64(p, 3 * 65536, 512);
	d = opn(p, DISK_O_RDONLY);
	assert_int_equal(disk_pread(d, b, sizeof(b), 0), -EIO);
	disk_close(d);
	unlink(p);
	free(p);
}

static void test_zero_discard_extent(void **state)
{
	struct qcow2_create_opts o = {.size = 4 << 20};
	struct disk_extent e;
	char *p = tmpname();
	struct disk *d;

	assert_int_equal(qcow2_create(p, &o), 0);
	d = opn(p, 0);
	fill(d, 0, 4 << 20, 0x77);
	assert_int_equal(disk_write_zeroes(d, 65536, 131072, false), 0); /* zero, keep alloc */
	assert_int_equal(disk_write_zeroes(d, 1000, 3000, true), 0);	 /* partial */
	assert_int_equal(disk_discard(d, 1 << 20, 65536), 0);
	assert_int_equal(disk_discard(d, 2 << 20, 100), 0); /* partial: ignored */
	expect(d, 0, 1000, 0x77);
	expect(d, 1000, 3000, 0);
	expect(d, 4000, 65536 - 4000, 0x77);
	expect(d, 65536, 131072, 0);
	expect(d, 1 << 20, 65536, 0);
	expect(d, 2 << 20, 100, 0x77);
	assert_int_equal(disk_extent(d, 65536, 1 << 20, &e), 0);
	assert_int_equal(e.kind, DISK_EXTENT_ZERO);
	assert_int_equal(e.len, 131072);
	assert_int_equal(disk_extent(d, 3 << 20, 1 << 20, &e), 0);
	assert_int_equal(e.kind, DISK_EXTENT_DATA);
	assert_int_equal(e.len, 1 << 20); /* contiguous host run */
	expect_clean(d);
	disk_close(d);
	unlink(p);
	free(p);
}

static void test_compressed(void **state)
{
	for (int t = 0; t < 2; t++) {
		struct qcow2_create_opts o = {.size = 1 << 20, .compression_type = t};
		struct qcow2_check_result r;
		uint8_t *b = malloc(65536);
		char *p = tmpname();
		struct disk *d;

		assert_int_equal(qcow2_create(p, &o), 0);
		d = opn(p, 0);
		for (int i = 0; i < 65536; i++)
			b[i] = (uint8_t)("kvmm qcow2 "[i % 11]);
		assert_int_equal(qcow2_write_compressed(d, 0, b, 65536), 0);
		assert_int_equal(qcow2_write_compressed(d, 65536, b, 65536), 0);
		assert_int_equal(qcow2_write_compressed(d, 1000, b, 65536), -EINVAL);
		assert_int_equal(qcow2_check(d, 0, &r), 0);
		assert_int_equal(r.compressed_clusters, 2);
		assert_int_equal(r.corruptions + r.leaks, 0);
		disk_close(d);
		d = opn(p, 0);
		{
			uint8_t *o2 = malloc(65536);

			assert_int_equal(disk_pread(d, o2, 65536, 65536), 0);
			assert_memory_equal(o2, b, 65536);
			free(o2);
		}
		fill(d, 70000, 10, 0x99); /* COW out of a compressed cluster */
		expect(d, 70000, 10, 0x99);
		expect_clean(d);
		disk_close(d);
		unlink(p);
		free(p);
		free(b);
	}
}

/* Partial write_zeroes over a compressed cluster of an extended-L2 image: the cluster has no
 * subclusters to mark zero, so every byte of the range must be zeroed (found by the kill -9
 * crash test: only the unaligned tail was zeroed, the whole subclusters kept their data). */
static void test_zero_compressed_subclusters(void **state)
{
	struct qcow2_create_opts o = {.size = 1 << 20, .extended_l2 = true};
	uint8_t *b = malloc(65536);
	char *p = tmpname();
	struct disk *d;

	assert_int_equal(qcow2_create(p, &o), 0);
	d = opn(p, 0);
	for (int i = 0; i < 65536; i++)
		b[i] = (uint8_t)("crash"[i % 5]);
	assert_int_equal(qcow2_write_compressed(d, 65536, b, 65536), 0);
	/* From the cluster start over 24 whole subclusters (2 KiB) and part of the next. */
	assert_int_equal(disk_write_zeroes(d, 65536, 24 * 2048 + 1536, false), 0);
	expect(d, 65536, 24 * 2048 + 1536, 0);
	assert_int_equal(disk_pread(d, b, 65536, 65536), 0);
	for (int i = 24 * 2048 + 1536; i < 65536; i++)
		assert_int_equal(b[i], (uint8_t)("crash"[i % 5]));
	expect_clean(d);
	disk_close(d);
	unlink(p);
	free(p);
	free(b);
}

static void test_backing_and_subclusters(void **state)
{
	char *base = tmpname(), *top = tmpname();
	struct qcow2_create_opts o = {
	    .backing_file = base, .backing_fmt = "raw", .extended_l2 = true};
	struct disk_extent e;
	struct disk *d;
	int fd = open(base, O_WRONLY);
	uint8_t *b = malloc(1 << 20);

	memset(b, 0xba, 1 << 20);
	assert_int_equal(pwrite(fd, b, 1 << 20, 0), 1 << 20);
	close(fd);
	assert_int_equal(qcow2_create(top, &o), 0);
	d = opn(top, 0);
	assert_int_equal(disk_size(d), 1 << 20);
	assert_non_null(disk_backing(d));
	assert_string_equal(disk_format(disk_backing(d)), "raw");
	fill(d, 5000, 100, 0x01); /* one subcluster (2 KiB) of cluster 0 */
	expect(d, 0, 5000, 0xba);
	expect(d, 5000, 100, 0x01);
	expect(d, 5100, 65536 - 5100, 0xba);
	assert_int_equal(disk_extent(d, 0, 65536, &e), 0);
	assert_int_equal(e.kind, DISK_EXTENT_BACKING);
	assert_int_equal(e.len, 4096);
	assert_int_equal(disk_extent(d, 4096, 65536, &e), 0);
	assert_int_equal(e.kind, DISK_EXTENT_DATA);
	assert_int_equal(e.len, 2048);
	assert_int_equal(disk_write_zeroes(d, 8192, 4096, false), 0); /* two zero subclusters */
	assert_int_equal(disk_extent(d, 8192, 65536, &e), 0);
	assert_int_equal(e.kind, DISK_EXTENT_ZERO);
	assert_int_equal(e.len, 4096);
	expect(d, 8192, 4096, 0);
	expect_clean(d);
	disk_close(d);
	/* A self-referencing backing file is stopped by the depth limit. */
	{
		struct qcow2_create_opts lo = {
		    .size = 1 << 20, .backing_file = top, .backing_fmt = "qcow2"};
		char *loop = tmpname();

		assert_int_equal(qcow2_create(loop, &lo), 0);
		lo.backing_file = loop;
		assert_int_equal(qcow2_create(top, &lo), 0);
		assert_int_equal(try_open(top, 0), -ELOOP);
		assert_int_equal(try_open(top, DISK_O_NO_BACKING), 0);
		unlink(loop);
		free(loop);
	}
	unlink(base);
	unlink(top);
	free(base);
	free(top);
	free(b);
}

static void test_snapshots(void **state)
{
	char *p = small_image();
	struct qcow2_snapshot_info *v;
	struct disk *d = opn(p, 0);
	unsigned n;

	assert_int_equal(qcow2_snapshot_create(d, "one"), 0);
	assert_int_equal(qcow2_snapshot_create(d, "one"), -EEXIST);
	fill(d, 0, 8192, 0x22);
	assert_int_equal(qcow2_snapshot_create(d, "two"), 0);
	fill(d, 0, 100, 0x33);
	expect_clean(d);
	disk_close(d);
	d = opn(p, 0);
	assert_int_equal(qcow2_snapshot_list(d, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].name, "one");
	assert_string_equal(v[1].id, "2");
	assert_int_equal(v[1].vm_state_size, 0);
	qcow2_snapshot_list_free(v, n);
	assert_int_equal(qcow2_snapshot_apply(d, "one"), 0);
	expect(d, 0, 4096, 0x11);
	expect(d, 4096, 4096, 0);
	assert_int_equal(qcow2_snapshot_apply(d, "2"), 0);
	expect(d, 0, 8192, 0x22);
	assert_int_equal(qcow2_snapshot_delete(d, "one"), 0);
	assert_int_equal(qcow2_snapshot_apply(d, "one"), -ENOENT);
	fill(d, 0, 10, 0x44);
	expect_clean(d);
	assert_int_equal(qcow2_snapshot_delete(d, "two"), 0);
	expect_clean(d);
	expect(d, 0, 10, 0x44);
	disk_close(d);
	unlink(p);
	free(p);
}

static void test_check_repair(void **state)
{
	char *p = small_image();
	struct qcow2_check_result r;
	struct disk_open_opts o = {.flags = DISK_O_REPAIR};
	struct disk *d;
	uint8_t two[2] = {0, 2}, zero[2] = {0, 0};

	/* Leak: header refcount 2. Error: the data cluster (5) refcount 0. */
	patch(p, 2 * 65536, two, 2);
	patch(p, 2 * 65536 + 5 * 2, zero, 2);
	d = opn(p, DISK_O_RDONLY);
	assert_int_equal(qcow2_check(d, 0, &r), 0);
	assert_int_equal(r.leaks, 1);
	assert_true(r.corruptions >= 1);
	assert_int_equal(qcow2_check(d, QCOW2_CHECK_FIX_LEAKS, &r), -EROFS);
	disk_close(d);
	assert_int_equal(disk_open(p, &o, &d), 0);
	assert_int_equal(qcow2_check(d, QCOW2_CHECK_FIX_LEAKS | QCOW2_CHECK_FIX_ERRORS, &r), 0);
	assert_int_equal(r.leaks_fixed, 1);
	assert_true(r.corruptions_fixed >= 1);
	assert_int_equal(r.corruptions + r.leaks, 0);
	assert_int_equal(r.allocated_clusters, 1);
	assert_int_equal(r.total_clusters, 16);
	disk_close(d);
	d = opn(p, 0);
	expect_clean(d);
	expect(d, 0, 4096, 0x11);
	disk_close(d);
	unlink(p);
	free(p);
}

static void test_lazy_refcounts_repair(void **state)
{
	struct qcow2_create_opts o = {.size = 1 << 20, .lazy_refcounts = true};
	char *p = tmpname(), *copy = tmpname();
	struct qcow2_info in;
	struct disk *d, *c;
	uint8_t zero[2] = {0, 0};
	char cmd[256];

	assert_int_equal(qcow2_create(p, &o), 0);
	d = opn(p, 0);
	fill(d, 0, 4096, 0x55);
	assert_int_equal(disk_flush(d), 0);
	/* A crash now leaves the dirty bit set: take a copy while open. */
	snprintf(cmd, sizeof(cmd), "cp %s %s", p, copy);
	assert_int_equal(system(cmd), 0);
	disk_close(d);
	c = opn(copy, DISK_O_RDONLY);
	assert_int_equal(qcow2_get_info(c, &in), 0);
	assert_true(in.dirty);
	disk_close(c);
	patch(copy, 2 * 65536 + 5 * 2, zero, 2); /* lose the data cluster's refcount */
	c = opn(copy, 0);			 /* repairs */
	assert_int_equal(qcow2_get_info(c, &in), 0);
	assert_false(in.dirty);
	expect_clean(c);
	expect(c, 0, 4096, 0x55);
	disk_close(c);
	d = opn(p, DISK_O_RDONLY);
	assert_int_equal(qcow2_get_info(d, &in), 0);
	assert_false(in.dirty); /* clean close cleared it */
	disk_close(d);
	unlink(p);
	unlink(copy);
	free(p);
	free(copy);
}

/* Lazy refcounts: a discarded cluster must not stay referenced by the on-disk L2 table once it
 * can be reused. A copy of the file taken while the disk is open (what a kill -9 leaves) must
 * read the discarded range as its old data or zeroes, never as the data of the write that reused
 * the host cluster (found by the kill -9 crash test). */
static void test_lazy_discard_reuse_crash(void **state)
{
	struct qcow2_create_opts o = {.size = 1 << 20, .lazy_refcounts = true};
	char *p = tmpname(), *copy = tmpname();
	uint8_t *b = malloc(65536);
	struct disk *d, *c;
	char cmd[256];

	assert_int_equal(qcow2_create(p, &o), 0);
	d = opn(p, 0);
	fill(d, 0, 65536, 0x11);
	assert_int_equal(disk_flush(d), 0);
	assert_int_equal(disk_discard(d, 0, 65536), 0);
	fill(d, 131072, 65536, 0x22); /* may reuse the host cluster freed by the discard */
	snprintf(cmd, sizeof(cmd), "cp %s %s", p, copy);
	assert_int_equal(system(cmd), 0);
	c = opn(copy, 0); /* dirty: repaired on open */
	assert_int_equal(disk_pread(c, b, 65536, 0), 0);
	for (int i = 0; i < 65536; i++)
		if (b[i] != 0x11 && b[i] != 0)
			fail_msg("discarded byte %d reads %#x after a crash", i, b[i]);
	expect_clean(c);
	disk_close(c);
	expect(d, 0, 65536, 0);
	expect(d, 131072, 65536, 0x22);
	disk_close(d);
	unlink(p);
	unlink(copy);
	free(p);
	free(copy);
	free(b);
}

static void test_resize(void **state)
{
	char *p = small_image();
	struct disk *d = opn(p, 0);

	assert_int_equal(disk_resize(d, 10ull << 30, false), 0); /* L1 must grow */
	fill(d, (10ull << 30) - 4096, 4096, 0x66);
	expect_clean(d);
	assert_int_equal(disk_resize(d, 4096, true), 0);
	assert_int_equal(disk_size(d), 4096);
	expect_clean(d);
	disk_close(d);
	d = opn(p, 0);
	assert_int_equal(disk_size(d), 4096);
	expect(d, 0, 4096, 0x11);
	disk_close(d);
	unlink(p);
	free(p);
}

static void test_direct_flag(void **state)
{
	char *p = small_image();
	struct disk_open_opts o = {.flags = DISK_O_DIRECT};
	struct disk *d;
	int err = disk_open(p, &o, &d);

	if (err == -EINVAL) { /* no O_DIRECT on this file system */
		unlink(p);
		free(p);
		skip();
	}
	assert_int_equal(err, 0);
	fill(d, 100, 1000, 0x21);
	expect(d, 0, 100, 0x11);
	expect(d, 100, 1000, 0x21);
	expect_clean(d);
	disk_close(d);
	unlink(p);
	free(p);
}

static void test_amend(void **state)
{
	struct qcow2_amend_opts to64 = {.lazy_refcounts = -1, .refcount_bits = 64};
	struct qcow2_amend_opts to1 = {.lazy_refcounts = -1, .refcount_bits = 1};
	struct qcow2_amend_opts v2 = {.version = 2, .lazy_refcounts = -1};
	struct qcow2_amend_opts lazy = {.version = 3, .lazy_refcounts = 1};
	struct qcow2_info in;
	char *p = small_image();
	struct disk *d = opn(p, 0);

	assert_int_equal(qcow2_amend(d, &to64), 0);
	assert_int_equal(qcow2_get_info(d, &in), 0);
	assert_int_equal(in.refcount_bits, 64);
	expect_clean(d);
	fill(d, 65536, 100, 0x12); /* allocation with the new width */
	expect_clean(d);
	assert_int_equal(qcow2_snapshot_create(d, "s"), 0); /* refcounts of 2 */
	assert_int_equal(qcow2_amend(d, &to1), -EINVAL);
	assert_int_equal(qcow2_snapshot_delete(d, "s"), 0);
	assert_int_equal(qcow2_amend(d, &to1), 0);
	expect_clean(d);
	assert_int_equal(qcow2_amend(d, &v2), -ENOTSUP); /* v2 needs 16-bit refcounts */
	to1.refcount_bits = 16;
	assert_int_equal(qcow2_amend(d, &to1), 0);
	assert_int_equal(qcow2_amend(d, &v2), 0);
	disk_close(d);
	d = opn(p, 0);
	assert_int_equal(qcow2_get_info(d, &in), 0);
	assert_int_equal(in.version, 2);
	assert_int_equal(in.refcount_bits, 16);
	assert_int_equal(qcow2_amend(d, &lazy), 0);
	fill(d, 131072, 10, 0x13);
	expect_clean(d);
	disk_close(d);
	d = opn(p, DISK_O_RDONLY);
	assert_int_equal(qcow2_get_info(d, &in), 0);
	assert_true(in.lazy_refcounts);
	assert_int_equal(in.version, 3);
	expect(d, 0, 4096, 0x11);
	expect(d, 65536, 100, 0x12);
	expect(d, 131072, 10, 0x13);
	disk_close(d);
	unlink(p);
	free(p);
}

struct writer {
	struct disk *d;
	unsigned id;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint8_t b[3000];

	for (unsigned i = 0; i < 64; i++) {
		uint64_t off = ((uint64_t)i * 4 + w->id) * 65536 + 1000;

		memset(b, (int)(w->id * 64 + i % 64 + 1), sizeof(b));
		if (disk_pwrite(w->d, b, sizeof(b), off))
			return (void *)1;
	}
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	struct qcow2_create_opts o = {.size = 32 << 20};
	struct writer w[4];
	pthread_t t[4];
	char *p = tmpname();
	struct disk *d;

	assert_int_equal(qcow2_create(p, &o), 0);
	d = opn(p, 0);
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct writer){d, i};
		assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		void *ret;

		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	for (unsigned id = 0; id < 4; id++)
		for (unsigned i = 0; i < 64; i++)
			expect(d, ((uint64_t)i * 4 + id) * 65536 + 1000, 3000,
			       (uint8_t)(id * 64 + i % 64 + 1));
	expect_clean(d);
	disk_close(d);
	unlink(p);
	free(p);
}

static void *sector_writer(void *arg)
{
	struct writer *w = arg;
	uint8_t b[512];

	/* Thread id writes sector id of every 8-sector group: all threads share each cluster. */
	for (unsigned i = 0; i < 256; i++) {
		memset(b, (int)(w->id + 1), sizeof(b));
		if (disk_pwrite(w->d, b, sizeof(b), ((uint64_t)i * 8 + w->id) * 512 + i * 65536))
			return (void *)1;
	}
	return NULL;
}

static void test_concurrent_same_cluster(void **state)
{
	struct qcow2_create_opts o = {.size = 32 << 20, .extended_l2 = true};
	struct writer w[8];
	pthread_t t[8];
	char *p = tmpname();
	struct disk *d;

	assert_int_equal(qcow2_create(p, &o), 0);
	d = opn(p, 0);
	for (unsigned i = 0; i < 8; i++) {
		w[i] = (struct writer){d, i};
		assert_int_equal(pthread_create(&t[i], NULL, sector_writer, &w[i]), 0);
	}
	for (unsigned i = 0; i < 8; i++) {
		void *ret;

		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	for (unsigned i = 0; i < 256; i++)
		for (unsigned id = 0; id < 8; id++)
			expect(d, ((uint64_t)i * 8 + id) * 512 + i * 65536, 512, (uint8_t)(id + 1));
	expect_clean(d);
	disk_close(d);
	unlink(p);
	free(p);
}

static void *mixed_worker(void *arg)
{
	struct writer *w = arg;
	uint8_t b[8192];

	for (unsigned i = 0; i < 200; i++) {
		uint64_t off = ((i * 7 + w->id * 13) % 64) * 65536 + (i % 3) * 4096;
		int err = 0;

		memset(b, (int)(w->id + 1), sizeof(b));
		switch ((i + w->id) % 4) {
		case 0:
		case 1:
			err = disk_pwrite(w->d, b, sizeof(b), off);
			break;
		case 2:
			err = disk_pread(w->d, b, sizeof(b), off);
			break;
		case 3:
			err = disk_discard(w->d, off & ~65535ull, 65536);
			break;
		}
		if (err)
			return (void *)1;
	}
	return NULL;
}

/* Writes, reads and discards of the same clusters from four threads: no error, and the
 * metadata is consistent afterwards (run under TSan too). */
static void test_concurrent_discard(void **state)
{
	struct qcow2_create_opts o = {.size = 4 << 20};
	struct writer w[4];
	pthread_t t[4];
	char *p = tmpname();
	struct disk *d;

	assert_int_equal(qcow2_create(p, &o), 0);
	d = opn(p, 0);
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct writer){d, i};
		assert_int_equal(pthread_create(&t[i], NULL, mixed_worker, &w[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		void *ret;

		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	expect_clean(d);
	disk_close(d);
	d = opn(p, DISK_O_RDONLY);
	expect_clean(d);
	disk_close(d);
	unlink(p);
	free(p);
}

static void test_create_options(void **state)
{
	struct qcow2_create_opts bad[] = {
	    {.size = 1 << 20, .version = 4},
	    {.size = 1 << 20, .cluster_size = 1000},
	    {.size = 1 << 20, .cluster_size = 4u << 20},
	    {.size = 1 << 20, .refcount_bits = 3},
	    {.size = 1 << 20, .version = 2, .lazy_refcounts = true},
	    {.size = 1 << 20, .version = 2, .compression_type = QCOW2_COMPRESSION_ZSTD},
	    {.size = 1 << 20, .extended_l2 = true, .cluster_size = 4096},
	    {.size = 1 << 20, .backing_fmt = "raw"},
	};
	struct qcow2_measure_result m;
	struct qcow2_create_opts mo = {.size = 1ull << 30};
	char *p = tmpname();

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(qcow2_create(p, &bad[i]), -EINVAL);
	assert_int_equal(qcow2_measure(&mo, NULL, &m), 0);
	/* The numbers qemu-img measure -O qcow2 --size 1G prints. */
	assert_int_equal(m.fully_allocated, 1074135040);
	assert_int_equal(m.required, 393216);
	for (int pa = QCOW2_PREALLOC_METADATA; pa <= QCOW2_PREALLOC_FULL; pa++) {
		struct qcow2_create_opts o = {.size = 1 << 20, .prealloc = pa};
		struct disk_extent e;
		struct disk *d;

		assert_int_equal(qcow2_create(p, &o), 0);
		d = opn(p, 0);
		assert_int_equal(disk_extent(d, 0, 1 << 20, &e), 0);
		assert_int_equal(e.kind, DISK_EXTENT_DATA);
		assert_int_equal(e.len, 1 << 20);
		expect(d, 0, 1 << 20, 0);
		expect_clean(d);
		disk_close(d);
	}
	unlink(p);
	free(p);
}

/* True if the unknown extension `ext` (11 significant bytes) is in p's header cluster. */
static bool header_has(const char *p, const uint8_t *ext, size_t n, size_t cs)
{
	uint8_t *hc = malloc(cs);
	bool found = false;
	int fd = open(p, O_RDONLY);

	assert_true(fd >= 0 && hc);
	assert_int_equal(pread(fd, hc, cs, 0), (ssize_t)cs);
	for (size_t i = 72; i + n <= cs; i += 8)
		if (!memcmp(hc + i, ext, n))
			found = true;
	close(fd);
	free(hc);
	return found;
}

static void check_backing(const char *p, const char *name, const char *fmt, uint8_t pat)
{
	struct disk *d = opn(p, DISK_O_RDONLY);

	if (name) {
		assert_non_null(d->backing_name);
		assert_string_equal(d->backing_name, name);
		assert_non_null(disk_backing(d));
	} else {
		assert_null(d->backing_name);
		assert_null(disk_backing(d));
	}
	if (fmt) {
		assert_non_null(d->backing_fmt);
		assert_string_equal(d->backing_fmt, fmt);
	} else {
		assert_null(d->backing_fmt);
	}
	expect(d, 0, 1024, 0x77);   /* the overlay's own cluster */
	expect(d, 4096, 4096, pat); /* from the backing file, or zeroes */
	expect_clean(d);
	disk_close(d);
}

static char *backing_image(uint8_t pat)
{
	struct qcow2_create_opts o = {.size = 1 << 20};
	char *p = tmpname();
	struct disk *d;

	assert_int_equal(qcow2_create(p, &o), 0);
	d = opn(p, 0);
	fill(d, 0, 1 << 20, pat);
	disk_close(d);
	return p;
}

static void test_set_backing(void **state)
{
	/* Unknown extension type 0x11223344, 3 bytes "abc", padded to 8. */
	uint8_t ext[16] = {0x11, 0x22, 0x33, 0x44, 0, 0, 0, 3, 'a', 'b', 'c'};
	uint8_t end[8] = {0};
	char *b1 = backing_image(0x55), *b2 = backing_image(0x66);
	char longname[1100];

	for (unsigned v = 2; v <= 3; v++) {
		struct qcow2_create_opts o = {.size = 1 << 20, .version = v, .cluster_size = 1024};
		struct qcow2_snapshot_info *sl;
		struct qcow2_info in;
		unsigned hl = v == 2 ? 72 : 112, n;
		char *p = tmpname();
		struct disk *d;

		assert_int_equal(qcow2_create(p, &o), 0);
		patch(p, hl, ext, sizeof(ext));
		patch(p, hl + sizeof(ext), end, sizeof(end));
		d = opn(p, 0);
		fill(d, 0, 1024, 0x77);
		assert_int_equal(qcow2_snapshot_create(d, "snap"), 0);
		/* Set, with a format extension. */
		assert_int_equal(qcow2_set_backing(d, b1, "qcow2"), 0);
		assert_string_equal(d->backing_name, b1);
		assert_string_equal(d->backing_fmt, "qcow2");
		disk_close(d);
		check_backing(p, b1, "qcow2", 0x55);
		assert_true(header_has(p, ext, 11, 1024));
		/* Change, without a format extension. */
		d = opn(p, DISK_O_NO_BACKING);
		assert_int_equal(qcow2_set_backing(d, b2, NULL), 0);
		assert_null(d->backing_fmt);
		disk_close(d);
		check_backing(p, b2, NULL, 0x66);
		/* Too long for the first cluster (or for the spec): -ENOSPC, nothing changed. */
		d = opn(p, DISK_O_NO_BACKING);
		memset(longname, 'x', sizeof(longname));
		longname[1000] = 0;
		assert_int_equal(qcow2_set_backing(d, longname, "qcow2"), -ENOSPC);
		assert_string_equal(d->backing_name, b2);
		longname[1000] = 'x';
		longname[sizeof(longname) - 1] = 0;
		assert_int_equal(qcow2_set_backing(d, longname, NULL), -ENOSPC);
		assert_string_equal(d->backing_name, b2);
		/* The same image still works after the failures: set b1 again, with a format. */
		assert_int_equal(qcow2_set_backing(d, b1, "qcow2"), 0);
		disk_close(d);
		check_backing(p, b1, "qcow2", 0x55);
		/* Remove: "" drops the name and the format extension. */
		d = opn(p, DISK_O_NO_BACKING);
		assert_int_equal(qcow2_set_backing(d, "", "qcow2"), 0);
		assert_null(d->backing_name);
		assert_null(d->backing_fmt);
		disk_close(d);
		check_backing(p, NULL, NULL, 0);
		assert_true(header_has(p, ext, 11, 1024));
		/* Read-only disks are refused; version and snapshots are intact. */
		d = opn(p, DISK_O_RDONLY);
		assert_int_equal(qcow2_set_backing(d, b1, NULL), -EROFS);
		assert_int_equal(qcow2_get_info(d, &in), 0);
		assert_int_equal(in.version, v);
		assert_int_equal(qcow2_snapshot_list(d, &sl, &n), 0);
		assert_int_equal(n, 1);
		assert_string_equal(sl[0].name, "snap");
		qcow2_snapshot_list_free(sl, n);
		disk_close(d);
		unlink(p);
		free(p);
	}
	unlink(b1);
	unlink(b2);
	free(b1);
	free(b2);
}

static void test_make_empty(void **state)
{
	char *b = backing_image(0x55);

	for (unsigned v = 2; v <= 3; v++) {
		struct qcow2_create_opts o = {
		    .size = 1 << 20, .version = v, .backing_file = b, .backing_fmt = "qcow2"};
		char *p = tmpname();
		struct disk *d;

		assert_int_equal(qcow2_create(p, &o), 0);
		d = opn(p, 0);
		fill(d, 0, 65536, 0x77);
		assert_int_equal(qcow2_snapshot_create(d, "snap"), 0);
		fill(d, 131072, 65536 + 100, 0x88);
		assert_int_equal(disk_write_zeroes(d, 327680, 65536, false), 0);
		assert_int_equal(qcow2_make_empty(d), 0);
		expect(d, 0, 1 << 20, 0x55);
		expect_clean(d);
		disk_close(d);
		d = opn(p, 0);
		expect(d, 0, 1 << 20, 0x55);
		assert_int_equal(qcow2_snapshot_apply(d, "snap"), 0);
		expect(d, 0, 65536, 0x77);
		expect(d, 65536, 65536, 0x55);
		expect_clean(d);
		disk_close(d);
		d = opn(p, DISK_O_RDONLY);
		assert_int_equal(qcow2_make_empty(d), -EROFS);
		disk_close(d);
		unlink(p);
		free(p);
	}
	unlink(b);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refcount_widths),
	    cmocka_unit_test(test_cluster_sizes),
	    cmocka_unit_test(test_hostile_headers),
	    cmocka_unit_test(test_bad_extension_and_magic),
	    cmocka_unit_test(test_unknown_extension_preserved),
	    cmocka_unit_test(test_corrupt_bit),
	    cmocka_unit_test(test_overlap_is_sticky),
	    cmocka_unit_test(test_zero_discard_extent),
	    cmocka_unit_test(test_compressed),
	    cmocka_unit_test(test_zero_compressed_subclusters),
	    cmocka_unit_test(test_backing_and_subclusters),
	    cmocka_unit_test(test_snapshots),
	    cmocka_unit_test(test_check_repair),
	    cmocka_unit_test(test_lazy_refcounts_repair),
	    cmocka_unit_test(test_lazy_discard_reuse_crash),
	    cmocka_unit_test(test_resize),
	    cmocka_unit_test(test_amend),
	    cmocka_unit_test(test_direct_flag),
	    cmocka_unit_test(test_concurrent_writers),
	    cmocka_unit_test(test_concurrent_same_cluster),
	    cmocka_unit_test(test_concurrent_discard),
	    cmocka_unit_test(test_create_options),
	    cmocka_unit_test(test_set_backing),
	    cmocka_unit_test(test_make_empty),
	};

	log_set_level(LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
