/* devices/legacy/acpi_pm.h — the ACPI PM1 register block kvmm's FADT describes, at
 * LAYOUT_PORT_ACPI_PM (0x600): PM1a_EVT_BLK (PM1_STS at +0, PM1_EN at +2), PM1a_CNT_BLK at +4,
 * PM_TMR at +8 (24-bit: the FADT must not set TMR_VAL_EXT).
 *
 * There is no SMM: SCI_EN always reads 1 (the machine is always in ACPI mode;
 * there is no SMI_CMD). Writing SLP_EN with SLP_TYP = ACPI_PM_SLP_TYP_S5 (the value the DSDT's
 * _S5 package must hold) raises DEV_EVENT_POWEROFF; other sleep types are ignored. The SCI is
 * level-triggered and asserted while (PM1_STS & PM1_EN) has PWRBTN or TMR set. TMR_STS (the
 * timer's bit 23 toggled) is computed when the guest accesses the block: there is no timer
 * thread, so a TMR_EN SCI is only raised at the next access. GBL_EN and RTC_EN are kept as
 * written but never raise an SCI (nothing sets GBL_STS or RTC_STS): ACPICA reads them back when
 * it enables the global-lock and RTC fixed events, and Linux logs "ACPI Error: Could not enable
 * GlobalLock event" and disables the global lock when they read 0 (as QEMU, which keeps every
 * PM1_EN bit).
 *
 * Threads: io_ops on vCPU threads; acpi_pm_power_button() from any thread (the control
 * thread for system_powerdown). Both take the device mutex. */
#pragma once

#include <stdint.h>

#include "base/compiler.h"
#include "devices/dev.h"

#define ACPI_PM_SIZE 12
#define ACPI_PM1_STS 0 /* 16-bit, write 1 to clear */
#define ACPI_PM1_EN  2 /* 16-bit */
#define ACPI_PM1_CNT 4 /* 16-bit */
#define ACPI_PM_TMR  8 /* 32-bit, read-only */

#define ACPI_PM1_TMR_STS	   0x0001
#define ACPI_PM1_PWRBTN_STS	   0x0100
#define ACPI_PM1_WAK_STS	   0x8000
#define ACPI_PM1_TMR_EN		   0x0001
#define ACPI_PM1_GBL_EN		   0x0020
#define ACPI_PM1_PWRBTN_EN	   0x0100
#define ACPI_PM1_RTC_EN		   0x0400
#define ACPI_PM1_CNT_SCI_EN	   0x0001
#define ACPI_PM1_CNT_SLP_TYP_SHIFT 10
#define ACPI_PM1_CNT_SLP_TYP_MASK  0x1c00
#define ACPI_PM1_CNT_SLP_EN	   0x2000

#define ACPI_PM_SLP_TYP_S5 5
#define ACPI_PM_TMR_HZ	   3579545
#define ACPI_PM_TMR_MASK   0xffffff

struct acpi_pm;

struct acpi_pm_config {
	struct irq_line sci;	      /* copied; NULL .set = none */
	struct dev_event_sink events; /* DEV_EVENT_POWEROFF (code 0) */
	/* Monotonic time in ns; NULL = clock_gettime(CLOCK_MONOTONIC). Called with the mutex held.
	 */
	uint64_t (*clock_ns)(void *ctx);
	void *clock_ctx;
};

/* cfg is copied; NULL = no SCI, no events, the real clock. 0 or -ENOMEM. */
int acpi_pm_create(struct acpi_pm **out, const struct acpi_pm_config *cfg) KVMM_MUST_CHECK;
/* NULL is a no-op. */
void acpi_pm_destroy(struct acpi_pm *pm);

/* Press the power button (any thread): sets PWRBTN_STS; the SCI is raised if PWRBTN_EN is set.
 * An ACPI guest answers by entering S5 (writing SLP_TYP=S5 | SLP_EN). */
void acpi_pm_power_button(struct acpi_pm *pm);

/* dev = struct acpi_pm *. Any width at any offset in [0, ACPI_PM_SIZE) works byte-lane by
 * byte-lane (a 32-bit access at +0 covers STS and EN); bytes outside the registers read 0xff
 * and ignore writes. */
extern const struct io_ops acpi_pm_io_ops;

/* Snapshot state. */
struct acpi_pm_state {
	uint64_t last_tmr_epoch;
	uint16_t sts, en, cnt, pad;
};
void acpi_pm_save(struct acpi_pm *pm, struct acpi_pm_state *s);
void acpi_pm_load(struct acpi_pm *pm, const struct acpi_pm_state *s);
