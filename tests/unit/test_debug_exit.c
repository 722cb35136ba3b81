/* Unit tests for devices/legacy/debug_exit (QEMU isa-debug-exit). */
#include "lib/harness.h"

#include "devices/legacy/debug_exit.h"
#include "lib/fake_irq.h"

static void test_exit_codes(void **state)
{
	struct fake_events ev;
	struct debug_exit *d;
	uint8_t b = 0;
	uint16_t w = 0x0102;
	uint32_t l = 0x21;

	fake_events_init(&ev);
	assert_int_equal(debug_exit_create(&d, &ev.sink), 0);
	debug_exit_io_ops.write(d, 0, &b, 1);
	debug_exit_io_ops.write(d, 0, &w, 2);
	debug_exit_io_ops.write(d, 0, &l, 4);
	assert_int_equal(fake_events_count(&ev, DEV_EVENT_EXIT_CODE), 3);
	assert_int_equal(ev.code[0], 1);      /* (0 << 1) | 1 */
	assert_int_equal(ev.code[1], 0x0205); /* (0x102 << 1) | 1 */
	assert_int_equal(ev.code[2], 0x43);   /* (0x21 << 1) | 1 */
	uint64_t q = 1;
	debug_exit_io_ops.write(d, 0, &q, 8); /* not a valid width: ignored */
	debug_exit_io_ops.write(d, 0, &q, 3);
	assert_int_equal(ev.count, 3);
	l = 0;
	debug_exit_io_ops.read(d, 0, &l, 4);
	assert_int_equal(l, 0xffffffff);
	debug_exit_destroy(d);
	debug_exit_destroy(NULL);
	fake_events_fini(&ev);
}

static void test_code_range(void **state)
{
	assert_int_equal(debug_exit_code(0x7f), 0xff);
	assert_true(debug_exit_code(0xffffffff) >= 0); /* never negative */
	assert_int_equal(debug_exit_code(0xffffffff) & 0xff, 0xff);
	assert_int_equal(debug_exit_code(0x80000000) & 0xff, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exit_codes),
	    cmocka_unit_test(test_code_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
