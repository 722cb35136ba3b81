/* Unit tests for devices/legacy/rtc: formats at fixed clock values (BCD, binary, 12 h with
 * midnight and noon), UIP, the guest setting the time, UF/PF flags and IRQ 8, CMOS RAM. */
#include "lib/harness.h"

#include <errno.h>
#include <stdlib.h>

#include "devices/legacy/rtc.h"
#include "lib/fake_irq.h"

#define NS		    1000000000LL
#define T_2024_03_09_235958 1710028798LL /* a Saturday */
#define T_2024_03_10_000000 1710028800LL
#define T_2024_03_10_120000 1710072000LL

struct fix {
	struct rtc *r;
	struct fake_irq irq;
	int64_t now;
};

static int64_t fake_clock(void *ctx)
{
	return ((struct fix *)ctx)->now;
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct rtc_config cfg = {0};

	if (!f)
		return -1;
	fake_irq_init(&f->irq);
	f->now = T_2024_03_09_235958 * NS + NS / 2;
	cfg.irq = f->irq.line;
	cfg.clock_ns = fake_clock;
	cfg.clock_ctx = f;
	if (rtc_create(&f->r, &cfg))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	rtc_destroy(f->r);
	fake_irq_fini(&f->irq);
	free(f);
	return 0;
}

static uint8_t rd(struct fix *f, uint8_t idx)
{
	uint8_t v;

	rtc_io_ops.write(f->r, 0, &idx, 1);
	rtc_io_ops.read(f->r, 1, &v, 1);
	return v;
}

static void wr(struct fix *f, uint8_t idx, uint8_t v)
{
	rtc_io_ops.write(f->r, 0, &idx, 1);
	rtc_io_ops.write(f->r, 1, &v, 1);
}

static void test_bcd_24h(void **state)
{
	struct fix *f = *state;

	assert_int_equal(rd(f, RTC_REG_B), RTC_REG_B_24H);
	assert_int_equal(rd(f, RTC_SECONDS), 0x58);
	assert_int_equal(rd(f, RTC_MINUTES), 0x59);
	assert_int_equal(rd(f, RTC_HOURS), 0x23);
	assert_int_equal(rd(f, RTC_DAY_OF_WEEK), 7);
	assert_int_equal(rd(f, RTC_DAY_OF_MONTH), 0x09);
	assert_int_equal(rd(f, RTC_MONTH), 0x03);
	assert_int_equal(rd(f, RTC_YEAR), 0x24);
	assert_int_equal(rd(f, RTC_CENTURY), 0x20);
	assert_int_equal(rd(f, RTC_REG_D), RTC_REG_D_VRT);
	/* The NMI-mask bit in the index is ignored. */
	assert_int_equal(rd(f, 0x80 | RTC_MINUTES), 0x59);
	/* Two seconds later: next day, a Sunday. */
	f->now += 2 * NS;
	assert_int_equal(rd(f, RTC_SECONDS), 0x00);
	assert_int_equal(rd(f, RTC_HOURS), 0x00);
	assert_int_equal(rd(f, RTC_DAY_OF_MONTH), 0x10);
	assert_int_equal(rd(f, RTC_DAY_OF_WEEK), 1);
}

static void test_binary_and_12h(void **state)
{
	struct fix *f = *state;

	wr(f, RTC_REG_B, RTC_REG_B_DM | RTC_REG_B_24H);
	assert_int_equal(rd(f, RTC_SECONDS), 58);
	assert_int_equal(rd(f, RTC_HOURS), 23);
	assert_int_equal(rd(f, RTC_YEAR), 24);
	assert_int_equal(rd(f, RTC_CENTURY), 20);
	wr(f, RTC_REG_B, 0); /* 12 h BCD: 23:59 -> 11 PM */
	assert_int_equal(rd(f, RTC_HOURS), 0x80 | 0x11);
	f->now = T_2024_03_10_000000 * NS; /* midnight: 12 AM */
	assert_int_equal(rd(f, RTC_HOURS), 0x12);
	f->now = T_2024_03_10_120000 * NS; /* noon: 12 PM */
	assert_int_equal(rd(f, RTC_HOURS), 0x92);
	wr(f, RTC_REG_B, RTC_REG_B_DM); /* 12 h binary */
	assert_int_equal(rd(f, RTC_HOURS), 0x80 | 12);
	f->now = T_2024_03_10_000000 * NS;
	assert_int_equal(rd(f, RTC_HOURS), 12);
	f->now += 3600 * NS; /* 1 AM */
	assert_int_equal(rd(f, RTC_HOURS), 1);
	f->now += 12 * 3600 * NS; /* 1 PM */
	assert_int_equal(rd(f, RTC_HOURS), 0x81);
}

static void test_uip(void **state)
{
	struct fix *f = *state;

	f->now = T_2024_03_10_000000 * NS - RTC_UIP_NS + 1000;
	assert_int_equal(rd(f, RTC_REG_A), RTC_REG_A_UIP | 0x26);
	f->now = T_2024_03_10_000000 * NS - RTC_UIP_NS - 1000;
	assert_int_equal(rd(f, RTC_REG_A), 0x26);
	f->now = T_2024_03_10_000000 * NS; /* the update has happened */
	assert_int_equal(rd(f, RTC_REG_A), 0x26);
	wr(f, RTC_REG_A, 0xff); /* UIP is read-only */
	f->now += NS / 2;
	assert_int_equal(rd(f, RTC_REG_A), 0x7f);
}

static void test_guest_sets_time(void **state)
{
	struct fix *f = *state;

	/* The Linux/SeaBIOS sequence: SET, write fields (BCD 24 h), clear SET. */
	wr(f, RTC_REG_B, RTC_REG_B_SET | RTC_REG_B_24H);
	f->now += 5 * NS; /* frozen while SET */
	assert_int_equal(rd(f, RTC_SECONDS), 0x58);
	wr(f, RTC_SECONDS, 0x00);
	wr(f, RTC_MINUTES, 0x05);
	wr(f, RTC_HOURS, 0x13);
	wr(f, RTC_DAY_OF_MONTH, 0x31);
	wr(f, RTC_MONTH, 0x12);
	wr(f, RTC_YEAR, 0x99);
	wr(f, RTC_CENTURY, 0x19);
	wr(f, RTC_REG_B, RTC_REG_B_24H);
	assert_int_equal(rd(f, RTC_HOURS), 0x13);
	assert_int_equal(rd(f, RTC_YEAR), 0x99);
	assert_int_equal(rd(f, RTC_CENTURY), 0x19);
	assert_int_equal(rd(f, RTC_DAY_OF_WEEK), 6); /* 1999-12-31 was a Friday */
	f->now += 61 * NS;			     /* runs on from the set time */
	assert_int_equal(rd(f, RTC_MINUTES), 0x06);
	assert_int_equal(rd(f, RTC_SECONDS), 0x01);
	/* Writing one field without SET keeps the rest. */
	wr(f, RTC_MINUTES, 0x30);
	assert_int_equal(rd(f, RTC_MINUTES), 0x30);
	assert_int_equal(rd(f, RTC_HOURS), 0x13);
	assert_int_equal(rd(f, RTC_SECONDS), 0x01);
	/* Set 12 PM in 12 h binary mode. */
	wr(f, RTC_REG_B, RTC_REG_B_SET | RTC_REG_B_DM);
	wr(f, RTC_HOURS, 0x80 | 12);
	wr(f, RTC_REG_B, RTC_REG_B_DM | RTC_REG_B_24H);
	assert_int_equal(rd(f, RTC_HOURS), 12);
	/* A time that does not fit (year 0) is refused, the clock keeps running. */
	wr(f, RTC_REG_B, RTC_REG_B_SET | RTC_REG_B_DM | RTC_REG_B_24H);
	wr(f, RTC_CENTURY, 0);
	wr(f, RTC_YEAR, 0);
	wr(f, RTC_REG_B, RTC_REG_B_DM | RTC_REG_B_24H);
	assert_int_equal(rd(f, RTC_CENTURY), 19);
	assert_int_equal(rd(f, RTC_YEAR), 99);
}

static void test_update_flag_and_irq(void **state)
{
	struct fix *f = *state;

	wr(f, RTC_REG_A, 0x20);	      /* no periodic flag */
	wr(f, RTC_HOURS_ALARM, 0x05); /* the default alarm, 00:00:00, would fire at midnight */
	assert_int_equal(rd(f, RTC_REG_C), 0);
	f->now += NS; /* crosses a second boundary: UF, but UIE is off */
	assert_int_equal(rd(f, RTC_REG_C), RTC_REG_C_UF);
	assert_int_equal(rd(f, RTC_REG_C), 0); /* read-to-clear */
	assert_false(fake_irq_level(&f->irq));
	wr(f, RTC_REG_B, RTC_REG_B_24H | RTC_REG_B_UIE);
	f->now += NS;
	assert_false(fake_irq_level(&f->irq)); /* no timer thread */
	rtc_update(f->r);
	assert_true(fake_irq_level(&f->irq));
	assert_int_equal(rd(f, RTC_REG_C), RTC_REG_C_IRQF | RTC_REG_C_UF);
	assert_false(fake_irq_level(&f->irq));
	assert_int_equal(f->irq.rises, 1);
	/* SET halts updates and clears UIE. */
	wr(f, RTC_REG_B, RTC_REG_B_SET | RTC_REG_B_24H | RTC_REG_B_UIE);
	assert_int_equal(rd(f, RTC_REG_B), RTC_REG_B_SET | RTC_REG_B_24H);
	f->now += NS;
	assert_int_equal(rd(f, RTC_REG_C), 0);
}

static void test_periodic_flag(void **state)
{
	struct fix *f = *state;

	f->now = T_2024_03_10_000000 * NS;
	rd(f, RTC_REG_C);
	wr(f, RTC_REG_A, 0x26);			      /* 1024 Hz */
	assert_int_equal(rtc_next_event_ns(f->r), 0); /* nothing enabled */
	wr(f, RTC_REG_B, RTC_REG_B_24H | RTC_REG_B_PIE);
	assert_int_equal(rtc_next_event_ns(f->r), 976562); /* 1/1024 s */
	f->now += 100000;				   /* 0.1 ms: no period boundary */
	assert_int_equal(rd(f, RTC_REG_C), 0);
	f->now += 1000000;
	rtc_update(f->r);
	assert_true(fake_irq_level(&f->irq));
	assert_int_equal(rd(f, RTC_REG_C), RTC_REG_C_IRQF | RTC_REG_C_PF);
	assert_false(fake_irq_level(&f->irq));
	wr(f, RTC_REG_A, 0x20); /* rate 0: off */
	f->now += 10000000;
	assert_int_equal(rd(f, RTC_REG_C), 0);
}

static void test_alarm(void **state)
{
	struct fix *f = *state;

	/* now = 2024-03-09 23:59:58.5; alarm at 00:00:05 (BCD, 24 h). */
	wr(f, RTC_REG_A, 0x20); /* no periodic flag */
	rd(f, RTC_REG_C);
	wr(f, RTC_HOURS_ALARM, 0x00);
	wr(f, RTC_MINUTES_ALARM, 0x00);
	wr(f, RTC_SECONDS_ALARM, 0x05);
	wr(f, RTC_REG_B, RTC_REG_B_24H | RTC_REG_B_AIE);
	assert_int_equal(rtc_next_event_ns(f->r), 6 * NS + NS / 2);
	f->now += 5 * NS; /* 00:00:03.5 */
	rtc_update(f->r);
	assert_false(fake_irq_level(&f->irq));
	assert_int_equal(rd(f, RTC_REG_C), RTC_REG_C_UF);
	f->now += 2 * NS; /* 00:00:05.5: the alarm second passed */
	rtc_update(f->r);
	assert_true(fake_irq_level(&f->irq));
	assert_int_equal(rd(f, RTC_REG_C), RTC_REG_C_IRQF | RTC_REG_C_AF | RTC_REG_C_UF);
	assert_false(fake_irq_level(&f->irq));
	f->now += 2 * NS;
	assert_int_equal(rd(f, RTC_REG_C), RTC_REG_C_UF); /* once a day only */
	/* A long gap that contains the alarm time still reports it. */
	f->now += 3 * 86400 * NS;
	assert_int_equal(rd(f, RTC_REG_C), RTC_REG_C_IRQF | RTC_REG_C_AF | RTC_REG_C_UF);
	/* "Don't care" in all three bytes: every second. */
	wr(f, RTC_HOURS_ALARM, 0xff);
	wr(f, RTC_MINUTES_ALARM, 0xc0);
	wr(f, RTC_SECONDS_ALARM, 0xc5);
	f->now += NS;
	assert_int_equal(rd(f, RTC_REG_C), RTC_REG_C_IRQF | RTC_REG_C_AF | RTC_REG_C_UF);
	/* 12 h binary: 12 AM is hour byte 12. */
	wr(f, RTC_REG_B, RTC_REG_B_DM);
	rd(f, RTC_REG_C);
	f->now = T_2024_03_10_000000 * NS - NS / 2;
	rd(f, RTC_REG_C);
	wr(f, RTC_HOURS_ALARM, 12);
	wr(f, RTC_MINUTES_ALARM, 0);
	wr(f, RTC_SECONDS_ALARM, 0);
	f->now += NS;
	assert_int_equal(rd(f, RTC_REG_C), RTC_REG_C_AF | RTC_REG_C_UF); /* AIE off: no IRQF */
}

static void test_cmos_ram(void **state)
{
	struct fix *f = *state;
	uint8_t v;

	assert_int_equal(rtc_set_cmos(f->r, 0x40, 0xab), 0);
	assert_int_equal(rd(f, 0x40), 0xab);
	wr(f, 0x41, 0xcd);
	assert_int_equal(rtc_get_cmos(f->r, 0x41, &v), 0);
	assert_int_equal(v, 0xcd);
	assert_int_equal(rtc_set_cmos(f->r, RTC_REG_B, 0), -EINVAL);
	assert_int_equal(rtc_set_cmos(f->r, RTC_SECONDS, 0), -EINVAL);
	assert_int_equal(rtc_set_cmos(f->r, RTC_CENTURY, 0), -EINVAL);
	assert_int_equal(rtc_set_cmos(f->r, 128, 0), -EINVAL);
	assert_int_equal(rtc_get_cmos(f->r, 128, &v), -EINVAL);
	wr(f, RTC_REG_C, 0xff); /* read-only */
	wr(f, RTC_REG_D, 0);
	assert_int_equal(rd(f, RTC_REG_C), 0);
	assert_int_equal(rd(f, RTC_REG_D), RTC_REG_D_VRT);
	/* The index port reads all ones; a 2-byte write sets index and data. */
	uint16_t w = 0x7742;
	rtc_io_ops.write(f->r, 0, &w, 2);
	assert_int_equal(rd(f, 0x42), 0x77);
	rtc_io_ops.read(f->r, 0, &v, 1);
	assert_int_equal(v, 0xff);
}

static void test_mem_info(void **state)
{
	struct fix *f = *state;
	const uint64_t mib = 1024 * 1024;

	assert_int_equal(rtc_set_mem_info(f->r, 3 * 1024 * mib, 2 * 1024 * mib, 4), 0);
	assert_int_equal(rd(f, 0x15), 0x80); /* 640 KB */
	assert_int_equal(rd(f, 0x16), 0x02);
	assert_int_equal(rd(f, 0x17), 0xff); /* capped 0xffff KB */
	assert_int_equal(rd(f, 0x18), 0xff);
	assert_int_equal(rd(f, 0x30), 0xff);
	assert_int_equal(rd(f, 0x31), 0xff);
	/* (3 GiB - 16 MiB) / 64 KiB = 0xbf00 */
	assert_int_equal(rd(f, 0x34), 0x00);
	assert_int_equal(rd(f, 0x35), 0xbf);
	/* 2 GiB / 64 KiB = 0x8000 */
	assert_int_equal(rd(f, 0x5b), 0x00);
	assert_int_equal(rd(f, 0x5c), 0x80);
	assert_int_equal(rd(f, 0x5d), 0x00);
	assert_int_equal(rd(f, 0x5f), 3);
	assert_int_equal(rtc_set_mem_info(f->r, 32 * mib, 0, 1), 0);
	assert_int_equal(rd(f, 0x17) | rd(f, 0x18) << 8, 31 * 1024);
	assert_int_equal(rd(f, 0x34) | rd(f, 0x35) << 8, 256);
	assert_int_equal(rd(f, 0x5f), 0);
	assert_int_equal(rtc_set_mem_info(f->r, 32 * mib, 0, 0), -EINVAL);
	assert_int_equal(rtc_set_mem_info(f->r, 32 * mib, 0, 257), -EINVAL);
}

static void test_hostile(void **state)
{
	struct fix *f = *state;

	/* Every value into every register, in every mode: nothing may crash. */
	for (unsigned b = 0; b < 256; b += 5) {
		for (unsigned i = 0; i < 128; i++) {
			if (i == RTC_REG_B)
				continue;
			for (unsigned v = 0; v < 256; v += 51)
				wr(f, (uint8_t)i, (uint8_t)v);
			rd(f, (uint8_t)i);
		}
		wr(f, RTC_REG_B, (uint8_t)b);
		f->now += 333333333;
	}
	f->now = INT64_MAX - 10;
	for (unsigned i = 0; i < 0x0e; i++)
		rd(f, (uint8_t)i);
	f->now = INT64_MIN + 10;
	for (unsigned i = 0; i < 0x0e; i++)
		rd(f, (uint8_t)i);
	rtc_update(f->r);
	(void)rtc_next_event_ns(f->r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bcd_24h, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_binary_and_12h, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_guest_sets_time, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_update_flag_and_irq, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_periodic_flag, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_alarm, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cmos_ram, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mem_info, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
