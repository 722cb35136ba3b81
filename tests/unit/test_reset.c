/* Unit tests for devices/legacy/reset (port 0xcf9). */
#include "lib/harness.h"

#include "devices/legacy/reset.h"
#include "lib/fake_irq.h"

static void test_reset_cf9(void **state)
{
	struct fake_events ev;
	struct reset *r;
	uint8_t v;

	fake_events_init(&ev);
	assert_int_equal(reset_create(&r, &ev.sink), 0);
	v = RESET_SYS_RST; /* no RST_CPU: stored, no event */
	reset_io_ops.write(r, 0, &v, 1);
	assert_int_equal(ev.count, 0);
	reset_io_ops.read(r, 0, &v, 1);
	assert_int_equal(v, RESET_SYS_RST);
	v = RESET_SYS_RST | RESET_RST_CPU; /* the Linux reboot=pci sequence: 0x02 then 0x06 */
	reset_io_ops.write(r, 0, &v, 1);
	assert_int_equal(fake_events_count(&ev, DEV_EVENT_RESET), 1);
	assert_int_equal(ev.code[0], 0);
	reset_io_ops.read(r, 0, &v, 1);
	assert_int_equal(v, RESET_SYS_RST); /* RST_CPU reads back clear */
	reset_destroy(r);
	fake_events_fini(&ev);
}

static void test_reset_hostile(void **state)
{
	struct fake_events ev;
	struct reset *r;
	uint32_t w = 0xffffffff;

	fake_events_init(&ev);
	assert_int_equal(reset_create(&r, &ev.sink), 0);
	reset_io_ops.write(r, 0, &w, 4); /* only byte accesses count */
	reset_io_ops.write(r, 1, &w, 1);
	assert_int_equal(ev.count, 0);
	w = 0;
	reset_io_ops.read(r, 0, &w, 2);
	assert_int_equal(w, 0xffff);
	reset_destroy(r);
	reset_destroy(NULL);
	/* No sink: the write is harmless. */
	assert_int_equal(reset_create(&r, NULL), 0);
	w = RESET_RST_CPU;
	reset_io_ops.write(r, 0, &w, 1);
	reset_destroy(r);
	fake_events_fini(&ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reset_cf9),
	    cmocka_unit_test(test_reset_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
