/* Unit tests for devices/legacy/i8042: controller commands, the reset paths, the
 * no-device answers and IRQ 1/12 levels. */
#include "lib/harness.h"

#include <stdlib.h>

#include "devices/legacy/i8042.h"
#include "lib/fake_irq.h"

struct fix {
	struct i8042 *k;
	struct fake_irq kbd, aux;
	struct fake_events ev;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct i8042_config cfg;

	if (!f)
		return -1;
	fake_irq_init(&f->kbd);
	fake_irq_init(&f->aux);
	fake_events_init(&f->ev);
	cfg.events = f->ev.sink;
	cfg.kbd_irq = f->kbd.line;
	cfg.aux_irq = f->aux.line;
	if (i8042_create(&f->k, &cfg))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	i8042_destroy(f->k);
	fake_irq_fini(&f->kbd);
	fake_irq_fini(&f->aux);
	fake_events_fini(&f->ev);
	free(f);
	return 0;
}

static uint8_t rd(struct fix *f, unsigned off)
{
	uint8_t v;

	i8042_io_ops.read(f->k, off, &v, 1);
	return v;
}

static void wr(struct fix *f, unsigned off, uint8_t v)
{
	i8042_io_ops.write(f->k, off, &v, 1);
}

static uint8_t status(struct fix *f)
{
	return rd(f, I8042_COMMAND);
}

static void test_idle_status(void **state)
{
	struct fix *f = *state;

	/* A guest polling for OBF or waiting for IBF to clear must not hang. */
	for (int i = 0; i < 100; i++)
		assert_int_equal(status(f) & (I8042_STR_OBF | I8042_STR_IBF), 0);
	assert_int_equal(status(f) & I8042_STR_SYS, I8042_STR_SYS);
}

static void test_linux_init_sequence(void **state)
{
	struct fix *f = *state;

	wr(f, I8042_COMMAND, 0xaa); /* self test */
	assert_int_equal(status(f) & I8042_STR_OBF, I8042_STR_OBF);
	assert_int_equal(status(f) & I8042_STR_CMD, I8042_STR_CMD);
	assert_int_equal(rd(f, I8042_DATA), 0x55);
	assert_int_equal(status(f) & I8042_STR_OBF, 0);
	wr(f, I8042_COMMAND, 0x20); /* read CTR */
	assert_int_equal(rd(f, I8042_DATA), 0x45);
	wr(f, I8042_COMMAND, 0x60); /* write CTR */
	wr(f, I8042_DATA, 0x47);
	assert_int_equal(status(f) & I8042_STR_CMD, 0);
	wr(f, I8042_COMMAND, 0x20);
	assert_int_equal(rd(f, I8042_DATA), 0x47);
	wr(f, I8042_COMMAND, 0xab); /* kbd interface test */
	assert_int_equal(rd(f, I8042_DATA), 0x00);
	wr(f, I8042_COMMAND, 0xa9); /* aux interface test */
	assert_int_equal(rd(f, I8042_DATA), 0x00);
	wr(f, I8042_COMMAND, 0xad);
	wr(f, I8042_COMMAND, 0xa7);
	wr(f, I8042_COMMAND, 0x20);
	assert_int_equal(rd(f, I8042_DATA), 0x47 | I8042_CTR_KBDDIS | I8042_CTR_AUXDIS);
	wr(f, I8042_COMMAND, 0xae);
	wr(f, I8042_COMMAND, 0xa8);
	wr(f, I8042_COMMAND, 0x20);
	assert_int_equal(rd(f, I8042_DATA), 0x47);
	assert_int_equal(f->ev.count, 0);
}

static void test_loop_commands_and_irqs(void **state)
{
	struct fix *f = *state;

	/* CTR 0x45: only keyboard interrupts enabled. */
	wr(f, I8042_COMMAND, 0xd2);
	wr(f, I8042_DATA, 0x1c);
	assert_true(fake_irq_level(&f->kbd));
	assert_int_equal(status(f) & (I8042_STR_OBF | I8042_STR_AUXDATA), I8042_STR_OBF);
	assert_int_equal(rd(f, I8042_DATA), 0x1c);
	assert_false(fake_irq_level(&f->kbd));
	wr(f, I8042_COMMAND, 0xd3); /* aux loop: the Linux aux probe */
	wr(f, I8042_DATA, 0x5a);
	assert_int_equal(status(f) & (I8042_STR_OBF | I8042_STR_AUXDATA),
			 I8042_STR_OBF | I8042_STR_AUXDATA);
	assert_false(fake_irq_level(&f->aux)); /* AUXINT off */
	assert_int_equal(rd(f, I8042_DATA), 0x5a);
	wr(f, I8042_COMMAND, 0x60);
	wr(f, I8042_DATA, 0x47); /* AUXINT on */
	wr(f, I8042_COMMAND, 0xd3);
	wr(f, I8042_DATA, 0x01);
	assert_true(fake_irq_level(&f->aux));
	assert_false(fake_irq_level(&f->kbd));
	assert_int_equal(rd(f, I8042_DATA), 0x01);
	assert_false(fake_irq_level(&f->aux));
	assert_int_equal(f->kbd.rises, 1);
	assert_int_equal(f->aux.rises, 1);
}

static void test_no_devices(void **state)
{
	struct fix *f = *state;

	wr(f, I8042_DATA, 0xff); /* keyboard reset: nobody there */
	assert_int_equal(status(f) & (I8042_STR_OBF | I8042_STR_AUXDATA), I8042_STR_OBF);
	assert_int_equal(rd(f, I8042_DATA), 0xfe);
	wr(f, I8042_COMMAND, 0xd4); /* to the mouse */
	wr(f, I8042_DATA, 0xf2);
	assert_int_equal(status(f) & I8042_STR_AUXDATA, I8042_STR_AUXDATA);
	assert_int_equal(rd(f, I8042_DATA), 0xfe);
	assert_int_equal(status(f) & I8042_STR_OBF, 0);
	assert_int_equal(rd(f, I8042_DATA), 0xfe); /* empty: the last byte again */
	assert_int_equal(status(f) & I8042_STR_OBF, 0);
}

static void test_reset_paths(void **state)
{
	struct fix *f = *state;

	wr(f, I8042_COMMAND, 0xfe);
	assert_int_equal(fake_events_count(&f->ev, DEV_EVENT_RESET), 1);
	wr(f, I8042_COMMAND, 0xff); /* pulse nothing */
	wr(f, I8042_COMMAND, 0xfd); /* pulse bit 1 only (A20) */
	assert_int_equal(f->ev.count, 1);
	wr(f, I8042_COMMAND, 0xf0); /* pulse all four lines, reset included */
	assert_int_equal(fake_events_count(&f->ev, DEV_EVENT_RESET), 2);
	wr(f, I8042_COMMAND, 0xd0);
	assert_int_equal(rd(f, I8042_DATA), 0x03);
	wr(f, I8042_COMMAND, 0xd1);
	wr(f, I8042_DATA, 0x03); /* bit 0 set: no reset */
	assert_int_equal(f->ev.count, 2);
	wr(f, I8042_COMMAND, 0xd1);
	wr(f, I8042_DATA, 0x02);
	assert_int_equal(fake_events_count(&f->ev, DEV_EVENT_RESET), 3);
	assert_int_equal(f->ev.code[2], 0);
}

static void test_hostile(void **state)
{
	struct fix *f = *state;
	uint32_t w = 0xfefefefe;

	i8042_io_ops.write(f->k, I8042_COMMAND, &w, 4); /* wide: ignored */
	i8042_io_ops.read(f->k, I8042_COMMAND, &w, 4);
	assert_int_equal(w, 0xffffffff);
	wr(f, 2, 0xfe); /* offset with no register */
	assert_int_equal(f->ev.count, 0);
	/* 100 commands without reading: the queue is bounded. */
	for (int i = 0; i < 100; i++)
		wr(f, I8042_COMMAND, 0xaa);
	int n = 0;
	while (status(f) & I8042_STR_OBF) {
		assert_int_equal(rd(f, I8042_DATA), 0x55);
		n++;
	}
	assert_int_equal(n, I8042_QUEUE_SIZE);
	for (unsigned c = 0; c < 256; c++) {
		if (c == 0xd1 || (c >= 0xf0 && !(c & 1)))
			continue;
		wr(f, I8042_COMMAND, (uint8_t)c);
		wr(f, I8042_DATA, 0x41); /* keeps SYS etc. sane; never 0 into the output port */
		rd(f, I8042_DATA);
	}
	assert_int_equal(f->ev.count, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_idle_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_linux_init_sequence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loop_commands_and_irqs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_devices, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
