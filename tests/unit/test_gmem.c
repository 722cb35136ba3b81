/* Unit tests for mem/gmem: bounds checks, holes, overflow, cross-region copies. */
#include "lib/harness.h"

#include <errno.h>
#include <string.h>

#include "base/iovbuf.h"
#include "mem/gmem.h"

static uint8_t lo[4096], hi[4096];

static struct gmem *make_two(void)
{
	/* [0, 4096) and [4096, 8192) adjacent; a hole at [8192, 65536); then none. */
	struct gmem_region r[2] = {{4096, sizeof(hi), hi, 0}, {0, sizeof(lo), lo, 0}};
	struct gmem *m;

	assert_int_equal(gmem_create(&m, r, 2), 0);
	return m;
}

static void test_ptr_bounds(void **state)
{
	struct gmem *m = make_two();

	assert_ptr_equal(gmem_ptr(m, 0, 4096), lo);
	assert_ptr_equal(gmem_ptr(m, 4096, 1), hi);
	assert_null(gmem_ptr(m, 4000, 200)); /* spans two regions */
	assert_null(gmem_ptr(m, 8192, 1));   /* hole */
	assert_null(gmem_ptr(m, 0, 0));	     /* zero length */
	assert_null(gmem_ptr(m, UINT64_MAX, 2));
	gmem_destroy(m);
}

static void test_rw_cross(void **state)
{
	struct gmem *m = make_two();
	uint8_t buf[200], out[200];

	for (int i = 0; i < 200; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(gmem_write(m, 4000, buf, sizeof(buf)), 0);
	assert_int_equal(gmem_read(m, 4000, out, sizeof(out)), 0);
	assert_memory_equal(buf, out, sizeof(buf));
	assert_int_equal(lo[4095], 95);
	assert_int_equal(hi[0], 96);
	gmem_destroy(m);
}

static void test_write_partial_fails_atomically(void **state)
{
	struct gmem *m = make_two();
	uint8_t buf[16];

	memset(hi, 0, sizeof(hi));
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(gmem_write(m, 8192 - 8, buf, sizeof(buf)), -EFAULT);
	assert_int_equal(hi[4095], 0); /* nothing written */
	assert_int_equal(gmem_read(m, UINT64_MAX - 3, buf, 8), -EFAULT);
	assert_int_equal(gmem_fill(m, 8000, 0, 300), -EFAULT);
	gmem_destroy(m);
}

static void test_create_rejects_overlap(void **state)
{
	struct gmem_region r[2] = {{0, 4096, lo, 0}, {4095, 4096, hi, 0}};
	struct gmem_region w[1] = {{UINT64_MAX - 10, 4096, lo, 0}};
	struct gmem *m;

	assert_int_equal(gmem_create(&m, r, 2), -EINVAL);
	assert_int_equal(gmem_create(&m, w, 1), -EINVAL);
	assert_int_equal(gmem_create(&m, r, 0), -EINVAL);
}

static void test_iov_split(void **state)
{
	struct gmem *m = make_two();
	struct iovec v[2];
	struct iovbuf b;

	iovbuf_init(&b, v, 2);
	assert_int_equal(gmem_iov_add(m, &b, 4000, 200), 0);
	assert_int_equal(b.cnt, 2);
	assert_int_equal(b.total, 200);
	assert_int_equal(gmem_iov_add(m, &b, 0, 1), -E2BIG);
	iovbuf_init(&b, v, 2);
	assert_int_equal(gmem_iov_add(m, &b, 8190, 4), -EFAULT);
	assert_int_equal(gmem_iov_add(m, &b, 0, 0), -EFAULT);
	gmem_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ptr_bounds),
	    cmocka_unit_test(test_rw_cross),
	    cmocka_unit_test(test_write_partial_fails_atomically),
	    cmocka_unit_test(test_create_rejects_overlap),
	    cmocka_unit_test(test_iov_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
