/* devices/legacy/acpi_pm.c — see acpi_pm.h. */
#include "devices/legacy/acpi_pm.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACPI_PM1_STS_MASK    (ACPI_PM1_TMR_STS | ACPI_PM1_PWRBTN_STS | ACPI_PM1_WAK_STS)
#define ACPI_PM1_EN_MASK     (ACPI_PM1_TMR_EN | ACPI_PM1_GBL_EN | ACPI_PM1_PWRBTN_EN | ACPI_PM1_RTC_EN)
#define ACPI_PM1_SCI_SOURCES (ACPI_PM1_TMR_STS | ACPI_PM1_PWRBTN_STS)
/* CNT bits kept as written: SCI_EN (forced), BM_RLD, GBL_RLS, SLP_TYP. */
#define ACPI_PM1_CNT_MASK (0x0007 | ACPI_PM1_CNT_SLP_TYP_MASK)

struct acpi_pm {
	pthread_mutex_t lock;
	struct acpi_pm_config cfg;
	uint16_t sts, en, cnt;
	uint64_t last_tmr_epoch; /* timer ticks >> 23 at the last evaluation */
	bool sci_level;
};

static uint64_t acpi_pm_default_clock(void *ctx)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* 3.579545 MHz ticks since the clock's epoch, without overflowing for ~5000 years. */
static uint64_t acpi_pm_ticks(struct acpi_pm *pm)
{
	uint64_t ns = pm->cfg.clock_ns(pm->cfg.clock_ctx);

	return (ns / 1000000000ull) * ACPI_PM_TMR_HZ +
	       (ns % 1000000000ull) * ACPI_PM_TMR_HZ / 1000000000ull;
}

int acpi_pm_create(struct acpi_pm **out, const struct acpi_pm_config *cfg)
{
	struct acpi_pm *pm = calloc(1, sizeof(*pm));
	int err;

	if (!pm)
		return -ENOMEM;
	err = -pthread_mutex_init(&pm->lock, NULL);
	if (err)
		goto err_free;
	if (cfg)
		pm->cfg = *cfg;
	if (!pm->cfg.clock_ns)
		pm->cfg.clock_ns = acpi_pm_default_clock;
	pm->cnt = ACPI_PM1_CNT_SCI_EN;
	pm->last_tmr_epoch = acpi_pm_ticks(pm) >> 23;
	*out = pm;
	return 0;

err_free:
	free(pm);
	return err;
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	if (!pm)
		return;
	pthread_mutex_destroy(&pm->lock);
	free(pm);
}

/* Latch TMR_STS if bit 23 of the timer toggled since the last look; return the timer value. */
static uint32_t acpi_pm_eval_timer(struct acpi_pm *pm)
{
	uint64_t t = acpi_pm_ticks(pm);

	if ((t >> 23) != pm->last_tmr_epoch) {
		pm->sts |= ACPI_PM1_TMR_STS;
		pm->last_tmr_epoch = t >> 23;
	}
	return (uint32_t)(t & ACPI_PM_TMR_MASK);
}

static void acpi_pm_update_sci(struct acpi_pm *pm)
{
	bool level = pm->sts & pm->en & ACPI_PM1_SCI_SOURCES;

	if (level == pm->sci_level)
		return;
	pm->sci_level = level;
	irq_line_set(&pm->cfg.sci, level);
}

static void acpi_pm_io_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct acpi_pm *pm = dev;
	uint8_t regs[ACPI_PM_SIZE], *b = data;
	uint32_t tmr;

	pthread_mutex_lock(&pm->lock);
	tmr = acpi_pm_eval_timer(pm);
	memset(regs, 0, sizeof(regs));
	regs[0] = (uint8_t)pm->sts;
	regs[1] = (uint8_t)(pm->sts >> 8);
	regs[2] = (uint8_t)pm->en;
	regs[3] = (uint8_t)(pm->en >> 8);
	regs[4] = (uint8_t)(pm->cnt | ACPI_PM1_CNT_SCI_EN);
	regs[5] = (uint8_t)(pm->cnt >> 8); /* SLP_EN is never stored: reads 0 */
	for (int i = 0; i < 4; i++)
		regs[8 + i] = (uint8_t)(tmr >> (8 * i));
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	for (uint32_t i = 0; i < len; i++)
		b[i] =
		    off + i < ACPI_PM_SIZE && off + i != 6 && off + i != 7 ? regs[off + i] : 0xff;
}

/* Apply one byte lane; returns true if this byte requested S5. */
static bool acpi_pm_write_byte(struct acpi_pm *pm, unsigned off, uint8_t v)
{
	unsigned shift = 8 * (off & 1);
	uint16_t w = (uint16_t)(v << shift), lane = (uint16_t)(0xff << shift);

	switch (off) {
	case 0:
	case 1:
		pm->sts &= (uint16_t) ~(w & ACPI_PM1_STS_MASK);
		return false;
	case 2:
	case 3:
		pm->en = (uint16_t)((pm->en & ~lane) | (w & ACPI_PM1_EN_MASK));
		return false;
	case 4:
	case 5:
		pm->cnt = (uint16_t)((pm->cnt & ~lane) | (w & ACPI_PM1_CNT_MASK));
		pm->cnt |= ACPI_PM1_CNT_SCI_EN;
		return (w & ACPI_PM1_CNT_SLP_EN) &&
		       ((w & ACPI_PM1_CNT_SLP_TYP_MASK) >> ACPI_PM1_CNT_SLP_TYP_SHIFT) ==
			   ACPI_PM_SLP_TYP_S5;
	default: /* reserved bytes and the read-only timer */
		return false;
	}
}

static void acpi_pm_io_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct acpi_pm *pm = dev;
	const uint8_t *b = data;
	bool poweroff = false;

	pthread_mutex_lock(&pm->lock);
	acpi_pm_eval_timer(pm);
	for (uint32_t i = 0; i < len && off + i < ACPI_PM_SIZE; i++)
		poweroff |= acpi_pm_write_byte(pm, (unsigned)(off + i), b[i]);
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	if (poweroff)
		dev_event_raise(&pm->cfg.events, DEV_EVENT_POWEROFF, 0);
}

void acpi_pm_power_button(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->sts |= ACPI_PM1_PWRBTN_STS;
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

const struct io_ops acpi_pm_io_ops = {
    .read = acpi_pm_io_read,
    .write = acpi_pm_io_write,
};

void acpi_pm_save(struct acpi_pm *pm, struct acpi_pm_state *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&pm->lock);
	s->last_tmr_epoch = pm->last_tmr_epoch;
	s->sts = pm->sts;
	s->en = pm->en;
	s->cnt = pm->cnt;
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_load(struct acpi_pm *pm, const struct acpi_pm_state *s)
{
	pthread_mutex_lock(&pm->lock);
	pm->last_tmr_epoch = s->last_tmr_epoch;
	pm->sts = s->sts;
	pm->en = s->en;
	pm->cnt = s->cnt;
	pm->sci_level = !pm->sci_level; /* force the line */
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}
