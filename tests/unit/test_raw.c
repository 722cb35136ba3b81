/* Unit tests for block/disk + block/raw: probe, range checks, vectored I/O, short files,
 * discard/zeroes, extents (SEEK_DATA/SEEK_HOLE), resize, read-only, O_DIRECT bounce path. */
#include "lib/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/disk.h"

static char *make_file(uint64_t size)
{
	char *p = strdup("/tmp/kvmm-test-raw.XXXXXX");
	int fd = mkstemp(p);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
	return p;
}

static struct disk *open_raw(const char *p, unsigned flags)
{
	struct disk_open_opts o = {.flags = flags};
	struct disk *d;

	assert_int_equal(disk_open(p, &o, &d), 0);
	return d;
}

static void test_rw_vectored(void **state)
{
	char *p = make_file(1 << 20);
	struct disk *d = open_raw(p, 0);
	uint8_t a[100], b[5000], out[5100];
	struct iovec v[2] = {{a, sizeof(a)}, {b, sizeof(b)}};

	assert_string_equal(disk_format(d), "raw");
	assert_int_equal(disk_size(d), 1 << 20);
	memset(a, 0xaa, sizeof(a));
	memset(b, 0xbb, sizeof(b));
	assert_int_equal(disk_pwritev(d, v, 2, 4000), 0);
	assert_int_equal(disk_pread(d, out, sizeof(out), 4000), 0);
	assert_memory_equal(out, a, sizeof(a));
	assert_memory_equal(out + 100, b, sizeof(b));
	assert_int_equal(disk_flush(d), 0);
	/* Range checks: past the end, overflow. */
	assert_int_equal(disk_pread(d, out, 2, (1 << 20) - 1), -EINVAL);
	assert_int_equal(disk_pwrite(d, out, 1, UINT64_MAX), -EINVAL);
	assert_int_equal(disk_pread(d, out, 0, 1 << 20), 0);
	disk_close(d);
	unlink(p);
	free(p);
}

static void test_discard_zero_extent(void **state)
{
	char *p = make_file(4 << 20);
	struct disk *d = open_raw(p, 0);
	uint8_t *buf = malloc(1 << 20);
	struct disk_extent e;

	memset(buf, 0x5a, 1 << 20);
	assert_int_equal(disk_pwrite(d, buf, 1 << 20, 1 << 20), 0);
	assert_int_equal(disk_flush(d), 0);
	/* Data at [1M, 2M), holes around it. */
	assert_int_equal(disk_extent(d, 0, 4 << 20, &e), 0);
	assert_int_equal(e.kind, DISK_EXTENT_ZERO);
	assert_int_equal(e.len, 1 << 20);
	assert_int_equal(disk_extent(d, 1 << 20, 4 << 20, &e), 0);
	assert_int_equal(e.kind, DISK_EXTENT_DATA);
	assert_int_equal(e.len, 1 << 20);
	assert_int_equal(disk_extent(d, 4 << 20, 1, &e), -EINVAL);
	/* Punch 64k in the middle; it reads as zeroes. */
	assert_int_equal(disk_discard(d, (1 << 20) + 65536, 65536), 0);
	assert_int_equal(disk_pread(d, buf, 65536, (1 << 20) + 65536), 0);
	for (int i = 0; i < 65536; i++)
		assert_int_equal(buf[i], 0);
	memset(buf, 0x5a, 4096);
	assert_int_equal(disk_pwrite(d, buf, 4096, 8192), 0);
	assert_int_equal(disk_write_zeroes(d, 8192, 4096, false), 0);
	assert_int_equal(disk_pread(d, buf, 4096, 8192), 0);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(buf[i], 0);
	disk_close(d);
	unlink(p);
	free(p);
	free(buf);
}

static void test_resize_readonly(void **state)
{
	char *p = make_file(4096);
	struct disk *d = open_raw(p, 0);
	uint8_t b[16] = {1};
	struct stat st;

	assert_int_equal(disk_resize(d, 1000, false), -EINVAL);
	assert_int_equal(disk_resize(d, 1 << 20, false), 0);
	assert_int_equal(disk_size(d), 1 << 20);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 1 << 20);
	assert_int_equal(disk_resize(d, 1000, true), 0);
	disk_close(d);
	d = open_raw(p, DISK_O_RDONLY);
	assert_true(disk_is_readonly(d));
	assert_int_equal(disk_size(d), 1000);
	assert_int_equal(disk_pwrite(d, b, 1, 0), -EROFS);
	assert_int_equal(disk_discard(d, 0, 1), -EROFS);
	assert_int_equal(disk_pread(d, b, 16, 984), 0);
	disk_close(d);
	unlink(p);
	free(p);
}

static void test_direct_unaligned(void **state)
{
	char *p = make_file(1 << 20);
	struct disk_open_opts o = {.flags = DISK_O_DIRECT};
	uint8_t w[777], r[777];
	struct disk *d;
	int err = disk_open(p, &o, &d);

	if (err == -EINVAL) { /* tmpfs has no O_DIRECT */
		unlink(p);
		free(p);
		skip();
	}
	assert_int_equal(err, 0);
	for (size_t i = 0; i < sizeof(w); i++)
		w[i] = (uint8_t)(i * 7);
	assert_int_equal(disk_pwrite(d, w, sizeof(w), 4095), 0);
	assert_int_equal(disk_pread(d, r, sizeof(r), 4095), 0);
	assert_memory_equal(w, r, sizeof(w));
	disk_close(d);
	unlink(p);
	free(p);
}

static void test_open_errors(void **state)
{
	struct disk_open_opts o = {.format = "nosuch"};
	struct disk *d;
	char *p = make_file(512);

	assert_int_equal(disk_open("/nonexistent/x", NULL, &d), -ENOENT);
	assert_int_equal(disk_open(p, &o, &d), -EINVAL);
	o.format = "raw";
	assert_int_equal(disk_open(p, &o, &d), 0);
	assert_null(disk_backing(d));
	disk_close(d);
	disk_close(NULL);
	unlink(p);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rw_vectored),	    cmocka_unit_test(test_discard_zero_extent),
	    cmocka_unit_test(test_resize_readonly), cmocka_unit_test(test_direct_unaligned),
	    cmocka_unit_test(test_open_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
