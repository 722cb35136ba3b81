/* Unit tests for vmm/bus: ranges, overlap, unclaimed accesses, straddling accesses. */
#include "lib/harness.h"

#include <errno.h>
#include <string.h>

#include "devices/dev.h"
#include "vmm/bus.h"

struct rec {
	uint64_t off;
	uint32_t len;
	uint8_t last[8];
	int reads, writes;
};

static void rec_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct rec *r = dev;

	r->reads++;
	r->off = off;
	r->len = len;
	memset(data, 0x5a, len);
}

static void rec_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct rec *r = dev;

	r->writes++;
	r->off = off;
	r->len = len;
	memcpy(r->last, data, len);
}

static const struct io_ops rec_ops = {rec_read, rec_write};

static void test_add_and_dispatch(void **state)
{
	struct bus b;
	struct rec a = {0}, c = {0};
	uint32_t v = 0;

	bus_init(&b, "pio");
	assert_int_equal(bus_add(&b, 0x3f8, 8, &rec_ops, &a, "uart"), 0);
	assert_int_equal(bus_add(&b, 0x60, 1, &rec_ops, &c, "kbd"), 0);
	assert_int_equal(bus_add(&b, 0x64, 1, &rec_ops, &c, "kbd"), 0);
	assert_true(bus_read(&b, 0x3fd, &v, 1));
	assert_int_equal(a.off, 5);
	assert_int_equal(v & 0xff, 0x5a);
	assert_true(bus_write(&b, 0x64, "\xfe", 1));
	assert_int_equal(c.off, 0);
	assert_int_equal(c.last[0], 0xfe);
	/* shared lock for one device's ranges */
	assert_ptr_equal(bus_find(&b, 0x60)->lock, bus_find(&b, 0x64)->lock);
	bus_fini(&b);
}

static void test_reject_bad_ranges(void **state)
{
	struct bus b;
	struct rec a = {0};

	bus_init(&b, "mmio");
	assert_int_equal(bus_add(&b, 0x1000, 0x100, &rec_ops, &a, "a"), 0);
	assert_int_equal(bus_add(&b, 0x10ff, 1, &rec_ops, &a, "overlap-end"), -EEXIST);
	assert_int_equal(bus_add(&b, 0xf00, 0x101, &rec_ops, &a, "overlap-start"), -EEXIST);
	assert_int_equal(bus_add(&b, 0x0, 0, &rec_ops, &a, "zero"), -EINVAL);
	assert_int_equal(bus_add(&b, UINT64_MAX, 2, &rec_ops, &a, "wrap"), -EINVAL);
	assert_int_equal(bus_add(&b, 0x1100, 0x10, &rec_ops, &a, "adjacent"), 0);
	assert_int_equal(bus_add(&b, UINT64_MAX, 1, &rec_ops, &a, "last byte"), 0);
	bus_fini(&b);
}

static void test_unclaimed(void **state)
{
	struct bus b;
	struct rec a = {0};
	uint64_t v = 0;

	bus_init(&b, "pio");
	assert_int_equal(bus_add(&b, 0x100, 4, &rec_ops, &a, "a"), 0);
	assert_false(bus_read(&b, 0x200, &v, 4));
	assert_int_equal(v, 0xffffffff);
	assert_false(bus_write(&b, 0x200, &v, 4));
	/* straddles the end of the device: unclaimed, device untouched */
	assert_false(bus_read(&b, 0x102, &v, 4));
	assert_false(bus_read(&b, 0x100, &v, 9));
	assert_int_equal(a.reads, 0);
	assert_int_equal(b.unclaimed_reads, 3);
	assert_int_equal(b.unclaimed_writes, 1);
	bus_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_add_and_dispatch),
	    cmocka_unit_test(test_reject_bad_ranges),
	    cmocka_unit_test(test_unclaimed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
