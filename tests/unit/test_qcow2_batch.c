/* Unit tests for the qcow2 fast paths used by `kvmm img convert`: multi-cluster allocating
 * writes (one contiguous run, mixed with allocated and zero clusters, unaligned ends), the
 * overlap check against refcount blocks allocated after open, and compressed writes from
 * several threads (deflate outside the image locks). */
#include "lib/harness.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/disk.h"
#include "block/qcow2.h"

static char *mkimage(uint64_t size, uint32_t cluster_size)
{
	char *p = strdup("/tmp/kvmm-test-qcow2-batch.XXXXXX");
	struct qcow2_create_opts o = {.size = size, .cluster_size = cluster_size};
	int fd = mkstemp(p);

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(qcow2_create(p, &o), 0);
	return p;
}

static struct disk *opn(const char *p)
{
	struct disk_open_opts o = {0};
	struct disk *d = NULL;

	assert_int_equal(disk_open(p, &o, &d), 0);
	return d;
}

/* Byte i of the guest disk in the reference content, version v. */
static uint8_t pat(uint64_t i, unsigned v)
{
	return (uint8_t)((i * 2654435761u) >> 13) ^ (uint8_t)(i >> 9) ^ (uint8_t)v;
}

static void fill_pat(uint8_t *b, uint64_t off, size_t len, unsigned v)
{
	for (size_t i = 0; i < len; i++)
		b[i] = pat(off + i, v);
}

static void assert_clean(struct disk *d)
{
	struct qcow2_check_result r;

	assert_int_equal(disk_flush(d), 0);
	assert_int_equal(qcow2_check(d, 0, &r), 0);
	assert_int_equal(r.corruptions, 0);
	assert_int_equal(r.leaks, 0);
}

static uint64_t rd64(const char *p, uint64_t off)
{
	uint64_t v = 0;
	int fd = open(p, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &v, 8, (off_t)off), 8);
	close(fd);
	return be64toh(v);
}

static void wr64(const char *p, uint64_t off, uint64_t v)
{
	int fd = open(p, O_WRONLY);

	v = htobe64(v);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &v, 8, (off_t)off), 8);
	close(fd);
}

/* A 12-cluster write over: fresh clusters, an allocated one, a zero one, then fresh again. */
static void test_run_over_mixed_clusters(void **state)
{
	const uint64_t cs = 65536, len = 12 * cs;
	char *p = mkimage(16 << 20, (uint32_t)cs);
	struct disk *d = opn(p);
	uint8_t *w = malloc(len), *r = malloc(len);
	struct disk_extent e;

	fill_pat(w, 0, cs, 1);
	assert_int_equal(disk_pwrite(d, w, cs, 3 * cs), 0);	      /* allocated */
	assert_int_equal(disk_write_zeroes(d, 6 * cs, cs, false), 0); /* zero flag */
	fill_pat(w, 0, len, 2);
	assert_int_equal(disk_pwrite(d, w, len, 0), 0);
	assert_int_equal(disk_pread(d, r, len, 0), 0);
	assert_memory_equal(r, w, len);
	/* Clusters 7..11 were fresh: one run, so one contiguous data extent. */
	assert_int_equal(disk_extent(d, 7 * cs, 5 * cs, &e), 0);
	assert_int_equal(e.kind, DISK_EXTENT_DATA);
	assert_int_equal(e.len, 5 * cs);
	/* Past the write: still unallocated. */
	assert_int_equal(disk_extent(d, len, cs, &e), 0);
	assert_int_not_equal(e.kind, DISK_EXTENT_DATA);
	assert_clean(d);
	disk_close(d);
	/* Reopened: same content. */
	d = opn(p);
	memset(r, 0, len);
	assert_int_equal(disk_pread(d, r, len, 0), 0);
	assert_memory_equal(r, w, len);
	disk_close(d);
	unlink(p);
	free(p);
	free(w);
	free(r);
}

/* Unaligned start and end, across an L2 table boundary (512-byte clusters: 64 KiB per table). */
static void test_run_unaligned_across_l2(void **state)
{
	const uint64_t off = 65536 - 3 * 512 - 100, len = 9 * 512 + 300;
	char *p = mkimage(1 << 20, 512);
	struct disk *d = opn(p);
	uint8_t *w = malloc(len), *r = malloc(len + 2048);

	fill_pat(w, off, len, 3);
	assert_int_equal(disk_pwrite(d, w, len, off), 0);
	assert_int_equal(disk_pread(d, r, len + 2048, off - 1024), 0);
	for (unsigned i = 0; i < 1024; i++)
		assert_int_equal(r[i], 0);
	assert_memory_equal(r + 1024, w, len);
	for (unsigned i = 0; i < 1024; i++)
		assert_int_equal(r[1024 + len + i], 0);
	assert_clean(d);
	disk_close(d);
	unlink(p);
	free(p);
	free(w);
	free(r);
}

/* Refcount blocks allocated while the image is open (small clusters: many of them) are still
 * protected by the overlap check, and so are those found at open. */
static void test_overlap_new_refblocks(void **state)
{
	const uint64_t cs = 512, len = 4 << 20;
	char *p = mkimage(8 << 20, (uint32_t)cs);
	struct disk *d = opn(p);
	uint8_t *w = malloc(len), b[512] = {0};
	uint64_t reft, last = 0, l1, l2;

	fill_pat(w, 0, len, 4);
	assert_int_equal(disk_pwrite(d, w, len, 0), 0);
	assert_clean(d);
	disk_close(d);
	/* The last refcount block in use, and the L2 entry of guest cluster 0. */
	reft = rd64(p, 48);
	for (unsigned i = 0; i < cs / 8; i++)
		if (rd64(p, reft + 8 * i))
			last = rd64(p, reft + 8 * i);
	assert_true(last > reft);
	l1 = rd64(p, 40);
	l2 = rd64(p, l1) & 0x00fffffffffffe00ull;
	assert_true(l2 != 0);
	wr64(p, l2, last | (1ull << 63));
	d = opn(p);
	assert_int_equal(disk_pwrite(d, b, sizeof(b), 0), -EIO);
	disk_close(d);
	unlink(p);
	free(p);
	free(w);
}

/* Incompressible content of cluster c (xorshift64). */
static void fill_random(uint8_t *b, unsigned c)
{
	uint64_t x = 0x9e3779b97f4a7c15ull * (c + 1);

	for (unsigned i = 0; i < 65536; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(b + i, &x, 8);
	}
}

struct cw_arg {
	struct disk *d;
	unsigned first, step, n;
	int err;
};

static void *compress_writer(void *arg)
{
	struct cw_arg *a = arg;
	uint8_t *b = malloc(65536);

	for (unsigned c = a->first; c < a->n && !a->err; c += a->step) {
		memset(b, 0, 65536);
		/* Compressible except every third cluster (stored normally). */
		if (c % 3)
			for (unsigned i = 0; i < 65536; i += 64)
				snprintf((char *)b + i, 64, "cluster %u line %u", c, i);
		else
			fill_random(b, c);
		a->err = qcow2_write_compressed(a->d, (uint64_t)c << 16, b, 65536);
	}
	free(b);
	return NULL;
}

static void test_compressed_parallel(void **state)
{
	const unsigned n = 48, nt = 3;
	char *p = mkimage((uint64_t)n << 16, 65536);
	struct disk *d = opn(p);
	struct cw_arg a[3];
	pthread_t th[3];
	uint8_t *b = malloc(65536), *want = malloc(65536);

	for (unsigned i = 0; i < nt; i++) {
		a[i] = (struct cw_arg){d, i, nt, n, 0};
		assert_int_equal(pthread_create(&th[i], NULL, compress_writer, &a[i]), 0);
	}
	for (unsigned i = 0; i < nt; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(a[i].err, 0);
	}
	assert_clean(d);
	for (unsigned c = 0; c < n; c++) {
		struct disk_extent e;

		memset(want, 0, 65536);
		if (c % 3)
			for (unsigned i = 0; i < 65536; i += 64)
				snprintf((char *)want + i, 64, "cluster %u line %u", c, i);
		else
			fill_random(want, c);
		assert_int_equal(disk_pread(d, b, 65536, (uint64_t)c << 16), 0);
		assert_memory_equal(b, want, 65536);
		assert_int_equal(disk_extent(d, (uint64_t)c << 16, 65536, &e), 0);
		assert_int_equal(e.compressed, (c % 3) != 0);
	}
	disk_close(d);
	unlink(p);
	free(p);
	free(b);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_run_over_mixed_clusters),
	    cmocka_unit_test(test_run_unaligned_across_l2),
	    cmocka_unit_test(test_overlap_new_refblocks),
	    cmocka_unit_test(test_compressed_parallel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
