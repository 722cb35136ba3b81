/* Unit tests for devices/legacy/acpi_pm: S5 power-off, the power button and SCI levels,
 * write-1-to-clear status, SCI_EN, the 24-bit PM timer. */
#include "lib/harness.h"

#include <pthread.h>
#include <stdlib.h>

#include "devices/legacy/acpi_pm.h"
#include "lib/fake_irq.h"

struct fix {
	struct acpi_pm *pm;
	struct fake_irq sci;
	struct fake_events ev;
	uint64_t now;
};

static uint64_t fake_clock(void *ctx)
{
	return ((struct fix *)ctx)->now;
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct acpi_pm_config cfg = {0};

	if (!f)
		return -1;
	fake_irq_init(&f->sci);
	fake_events_init(&f->ev);
	cfg.sci = f->sci.line;
	cfg.events = f->ev.sink;
	cfg.clock_ns = fake_clock;
	cfg.clock_ctx = f;
	if (acpi_pm_create(&f->pm, &cfg))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	acpi_pm_destroy(f->pm);
	fake_irq_fini(&f->sci);
	fake_events_fini(&f->ev);
	free(f);
	return 0;
}

static uint16_t rd16(struct fix *f, unsigned off)
{
	uint16_t v;

	acpi_pm_io_ops.read(f->pm, off, &v, 2);
	return v;
}

static void wr16(struct fix *f, unsigned off, uint16_t v)
{
	acpi_pm_io_ops.write(f->pm, off, &v, 2);
}

static uint32_t rd_tmr(struct fix *f)
{
	uint32_t v;

	acpi_pm_io_ops.read(f->pm, ACPI_PM_TMR, &v, 4);
	return v;
}

static void test_reset_state(void **state)
{
	struct fix *f = *state;

	assert_int_equal(rd16(f, ACPI_PM1_STS), 0);
	assert_int_equal(rd16(f, ACPI_PM1_EN), 0);
	assert_int_equal(rd16(f, ACPI_PM1_CNT), ACPI_PM1_CNT_SCI_EN);
	wr16(f, ACPI_PM1_CNT, 0); /* SCI_EN cannot be cleared: always ACPI mode */
	assert_int_equal(rd16(f, ACPI_PM1_CNT), ACPI_PM1_CNT_SCI_EN);
	assert_false(fake_irq_level(&f->sci));
}

static void test_poweroff_s5(void **state)
{
	struct fix *f = *state;
	uint16_t typ5 = ACPI_PM_SLP_TYP_S5 << ACPI_PM1_CNT_SLP_TYP_SHIFT;

	/* ACPICA: write SLP_TYP, then SLP_TYP | SLP_EN. */
	wr16(f, ACPI_PM1_CNT, typ5 | ACPI_PM1_CNT_SCI_EN);
	assert_int_equal(f->ev.count, 0);
	assert_int_equal(rd16(f, ACPI_PM1_CNT), typ5 | ACPI_PM1_CNT_SCI_EN);
	wr16(f, ACPI_PM1_CNT, typ5 | ACPI_PM1_CNT_SLP_EN | ACPI_PM1_CNT_SCI_EN);
	assert_int_equal(fake_events_count(&f->ev, DEV_EVENT_POWEROFF), 1);
	assert_int_equal(f->ev.code[0], 0);
	assert_int_equal(rd16(f, ACPI_PM1_CNT) & ACPI_PM1_CNT_SLP_EN, 0); /* write-only */
	/* Other sleep types (S3 = 1 in many DSDTs) do nothing. */
	wr16(f, ACPI_PM1_CNT, (1 << ACPI_PM1_CNT_SLP_TYP_SHIFT) | ACPI_PM1_CNT_SLP_EN);
	wr16(f, ACPI_PM1_CNT, typ5); /* no SLP_EN */
	assert_int_equal(f->ev.count, 1);
	/* The high byte alone carries SLP_TYP and SLP_EN. */
	uint8_t hi = (uint8_t)((typ5 | ACPI_PM1_CNT_SLP_EN) >> 8);
	acpi_pm_io_ops.write(f->pm, ACPI_PM1_CNT + 1, &hi, 1);
	assert_int_equal(fake_events_count(&f->ev, DEV_EVENT_POWEROFF), 2);
}

static void test_power_button_sci(void **state)
{
	struct fix *f = *state;

	acpi_pm_power_button(f->pm); /* not enabled: status only */
	assert_int_equal(rd16(f, ACPI_PM1_STS), ACPI_PM1_PWRBTN_STS);
	assert_false(fake_irq_level(&f->sci));
	wr16(f, ACPI_PM1_EN, ACPI_PM1_PWRBTN_EN); /* enabling with status set raises SCI */
	assert_true(fake_irq_level(&f->sci));
	wr16(f, ACPI_PM1_STS, ACPI_PM1_TMR_STS); /* clearing another bit keeps it */
	assert_true(fake_irq_level(&f->sci));
	wr16(f, ACPI_PM1_STS, ACPI_PM1_PWRBTN_STS); /* write 1 to clear */
	assert_false(fake_irq_level(&f->sci));
	assert_int_equal(rd16(f, ACPI_PM1_STS), 0);
	acpi_pm_power_button(f->pm);
	assert_true(fake_irq_level(&f->sci));
	acpi_pm_power_button(f->pm); /* level stays: no redundant set() */
	assert_int_equal(f->sci.redundant, 0);
	assert_int_equal(f->sci.rises, 2);
	wr16(f, ACPI_PM1_EN, 0); /* disabling drops the SCI, status stays */
	assert_false(fake_irq_level(&f->sci));
	assert_int_equal(rd16(f, ACPI_PM1_STS), ACPI_PM1_PWRBTN_STS);
	/* A 32-bit write at +0 covers STS (clear) and EN. */
	uint32_t w = ACPI_PM1_PWRBTN_STS | (uint32_t)ACPI_PM1_PWRBTN_EN << 16;
	acpi_pm_io_ops.write(f->pm, 0, &w, 4);
	assert_int_equal(rd16(f, ACPI_PM1_STS), 0);
	assert_int_equal(rd16(f, ACPI_PM1_EN), ACPI_PM1_PWRBTN_EN);
	assert_false(fake_irq_level(&f->sci));
}

/* ACPICA enables the global-lock and RTC fixed events and reads PM1_EN back (Linux logged "ACPI
 * Error: Could not enable GlobalLock event" when kvmm dropped those bits): they are kept, raise
 * no SCI, and the other reserved bits still read 0. */
static void test_en_gbl_rtc_kept(void **state)
{
	struct fix *f = *state;

	wr16(f, ACPI_PM1_EN, 0xffff);
	assert_int_equal(rd16(f, ACPI_PM1_EN),
			 ACPI_PM1_TMR_EN | ACPI_PM1_GBL_EN | ACPI_PM1_PWRBTN_EN | ACPI_PM1_RTC_EN);
	wr16(f, ACPI_PM1_EN, ACPI_PM1_GBL_EN | ACPI_PM1_RTC_EN);
	assert_int_equal(rd16(f, ACPI_PM1_EN), ACPI_PM1_GBL_EN | ACPI_PM1_RTC_EN);
	assert_false(fake_irq_level(&f->sci));
	assert_int_equal(rd16(f, ACPI_PM1_STS), 0);
}

struct presser {
	struct acpi_pm *pm;
	int n;
};

static void *press(void *arg)
{
	struct presser *p = arg;

	for (int i = 0; i < p->n; i++)
		acpi_pm_power_button(p->pm);
	return NULL;
}

static void test_power_button_threads(void **state)
{
	struct fix *f = *state;
	struct presser p = {f->pm, 2000};
	pthread_t t;

	wr16(f, ACPI_PM1_EN, ACPI_PM1_PWRBTN_EN);
	assert_int_equal(pthread_create(&t, NULL, press, &p), 0);
	for (int i = 0; i < 2000; i++)
		wr16(f, ACPI_PM1_STS, ACPI_PM1_PWRBTN_STS);
	pthread_join(t, NULL);
	/* Whatever the interleaving, the line matches the final status. */
	assert_int_equal(fake_irq_level(&f->sci),
			 (rd16(f, ACPI_PM1_STS) & ACPI_PM1_PWRBTN_STS) != 0);
}

static void test_pm_timer(void **state)
{
	struct fix *f = *state;

	f->now = 0;
	assert_int_equal(rd_tmr(f), 0);
	f->now = 1000000000ull; /* 1 s */
	assert_int_equal(rd_tmr(f), ACPI_PM_TMR_HZ);
	f->now = 1000; /* 1 us = 3.58 ticks */
	assert_int_equal(rd_tmr(f), 3);
	/* 24-bit wrap: 2^24 ticks = 4.687 s. */
	f->now = 5000000000ull;
	assert_int_equal(rd_tmr(f), (5ull * ACPI_PM_TMR_HZ) & ACPI_PM_TMR_MASK);
	/* Huge uptimes do not overflow. */
	f->now = UINT64_MAX;
	uint64_t s = UINT64_MAX / 1000000000ull, ns = UINT64_MAX % 1000000000ull;
	assert_int_equal(rd_tmr(f), (s * ACPI_PM_TMR_HZ + ns * ACPI_PM_TMR_HZ / 1000000000ull) &
					ACPI_PM_TMR_MASK);
	/* Writes to the timer are ignored. */
	uint32_t w = 0;
	acpi_pm_io_ops.write(f->pm, ACPI_PM_TMR, &w, 4);
}

static void test_timer_status_and_sci(void **state)
{
	struct fix *f = *state;

	f->now = 0;
	wr16(f, ACPI_PM1_STS, 0xffff); /* clear whatever the epoch set */
	assert_int_equal(rd16(f, ACPI_PM1_STS), 0);
	wr16(f, ACPI_PM1_EN, ACPI_PM1_TMR_EN);
	f->now = 2000000000ull; /* 7.16 M ticks < 2^23: no toggle */
	assert_int_equal(rd16(f, ACPI_PM1_STS), 0);
	f->now = 2400000000ull; /* 8.59 M ticks > 2^23: bit 23 toggled */
	assert_int_equal(rd16(f, ACPI_PM1_STS), ACPI_PM1_TMR_STS);
	assert_true(fake_irq_level(&f->sci));
	wr16(f, ACPI_PM1_STS, ACPI_PM1_TMR_STS);
	assert_false(fake_irq_level(&f->sci));
}

static void test_hostile(void **state)
{
	struct fix *f = *state;
	uint8_t buf[16];

	for (unsigned off = 0; off < 16; off++)
		for (unsigned len = 1; len <= 8; len *= 2) {
			uint64_t v = 0xffffffffffffffffull;

			if (off == ACPI_PM1_CNT || off == ACPI_PM1_CNT + 1 || off < ACPI_PM1_CNT)
				v &= ~(
				    uint64_t)0xff00ff00ff00ff00ull; /* keep SLP_EN out of byte 5 */
			acpi_pm_io_ops.write(f->pm, off, &v, len);
			acpi_pm_io_ops.read(f->pm, off, buf, len);
		}
	acpi_pm_io_ops.read(f->pm, 6, buf, 2); /* reserved bytes */
	assert_int_equal(buf[0], 0xff);
	assert_int_equal(buf[1], 0xff);
	acpi_pm_io_ops.read(f->pm, 10, buf, 4); /* the last two bytes are past the block */
	assert_int_equal(buf[2], 0xff);
	assert_int_equal(buf[3], 0xff);
	assert_int_equal(f->ev.count, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reset_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_poweroff_s5, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_power_button_sci, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_en_gbl_rtc_kept, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_power_button_threads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pm_timer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timer_status_and_sci, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
