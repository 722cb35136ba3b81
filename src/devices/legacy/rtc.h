/* devices/legacy/rtc.h — MC146818 CMOS real-time clock and 128 bytes of CMOS RAM
 * (index port at +0 = 0x70, bit 7 = NMI mask, ignored; data port at +1 = 0x71).
 *
 * Time comes from a clock callback (CLOCK_REALTIME by default) plus an offset that changes
 * when the guest sets the time. The date is kept in UTC. Registers are read in the format the
 * guest chose in register B (BCD or binary, 12 or 24 hour). There is no timer thread: the
 * update-ended (UF), alarm (AF) and periodic (PF) flags are computed when the guest touches the
 * device or when the VMM calls rtc_update() (rtc_next_event_ns() says when that is due).
 *
 * Threads: every function takes the device mutex, so io_ops (vCPU threads), rtc_update()
 * (a VMM timer) and rtc_set_cmos() (setup) may run concurrently. */
#pragma once

#include <stdint.h>

#include "base/compiler.h"
#include "devices/dev.h"

/* CMOS indexes. */
#define RTC_SECONDS	  0x00
#define RTC_SECONDS_ALARM 0x01
#define RTC_MINUTES	  0x02
#define RTC_MINUTES_ALARM 0x03
#define RTC_HOURS	  0x04
#define RTC_HOURS_ALARM	  0x05
#define RTC_DAY_OF_WEEK	  0x06 /* 1 = Sunday */
#define RTC_DAY_OF_MONTH  0x07
#define RTC_MONTH	  0x08
#define RTC_YEAR	  0x09 /* 0..99 */
#define RTC_REG_A	  0x0a
#define RTC_REG_B	  0x0b
#define RTC_REG_C	  0x0c
#define RTC_REG_D	  0x0d
#define RTC_CENTURY	  0x32 /* as QEMU and SeaBIOS use it */

#define RTC_REG_A_UIP  0x80
#define RTC_REG_B_SET  0x80
#define RTC_REG_B_PIE  0x40
#define RTC_REG_B_AIE  0x20
#define RTC_REG_B_UIE  0x10
#define RTC_REG_B_DM   0x04 /* 1 = binary, 0 = BCD */
#define RTC_REG_B_24H  0x02 /* 1 = 24 hour */
#define RTC_REG_C_IRQF 0x80
#define RTC_REG_C_PF   0x40
#define RTC_REG_C_AF   0x20
#define RTC_REG_C_UF   0x10
#define RTC_REG_D_VRT  0x80

/* UIP reads 1 during the last RTC_UIP_NS of every second (before the update). */
#define RTC_UIP_NS 244000

struct rtc;

struct rtc_config {
	struct irq_line irq; /* IRQ 8; copied; NULL .set = none */
	/* Wall-clock time in ns since the Unix epoch; NULL = clock_gettime(CLOCK_REALTIME).
	 * Called with the device mutex held. */
	int64_t (*clock_ns)(void *ctx);
	void *clock_ctx;
};

/* Create the RTC: register A = 0x26 (32.768 kHz, 1024 Hz rate), B = 0x02 (24 h, BCD),
 * D = VRT, CMOS RAM zero. cfg may be NULL (defaults). 0 or -ENOMEM. */
int rtc_create(struct rtc **out, const struct rtc_config *cfg) KVMM_MUST_CHECK;
/* NULL is a no-op. */
void rtc_destroy(struct rtc *r);

/* Set one byte of CMOS RAM (index 0x0e..0x7f, except RTC_CENTURY which is part of the clock).
 * -EINVAL for clock registers or an index >= 128. */
int rtc_set_cmos(struct rtc *r, unsigned index, uint8_t value) KVMM_MUST_CHECK;
/* Read one byte of CMOS RAM as stored (no clock computation). -EINVAL if index >= 128. */
int rtc_get_cmos(struct rtc *r, unsigned index, uint8_t *value) KVMM_MUST_CHECK;

/* Fill the bytes SeaBIOS reads: 0x15/0x16 base memory (640 KB), 0x17/0x18 and 0x30/0x31
 * extended memory above 1 MiB in KB (capped 0xffff), 0x34/0x35 memory between 16 MiB and
 * 4 GiB in 64 KiB units (capped 0xffff), 0x5b-0x5d memory above 4 GiB in 64 KiB units (capped
 * 0xffffff), 0x5f = ncpus - 1. -EINVAL if ncpus is 0 or > 256. */
int rtc_set_mem_info(struct rtc *r, uint64_t ram_below_4g, uint64_t ram_above_4g,
		     unsigned ncpus) KVMM_MUST_CHECK;

/* Re-evaluate UF/PF against the clock and drive IRQ 8 (any thread; optional, for a VMM timer
 * that wants update/periodic interrupts without guest polling). */
void rtc_update(struct rtc *r);
/* Nanoseconds until the next enabled (PIE/AIE/UIE) flag would be set, or 0 if none is enabled;
 * a VMM timer may use it to schedule rtc_update(). */
uint64_t rtc_next_event_ns(struct rtc *r);

/* dev = struct rtc *. off 0: index (write; reads 0xff); off 1: data. Accesses wider than a
 * byte are split into byte accesses; offsets >= 2 read 0xff and ignore writes. */
extern const struct io_ops rtc_io_ops;

/* Snapshot state. The guest's offset from the host clock is kept, so after a restore the RTC
 * goes on following the host's clock as it did before. */
struct rtc_state {
	uint8_t cmos[128];
	int64_t offset_ns, last_eval;
	uint8_t index, pad[7];
};
void rtc_save(struct rtc *r, struct rtc_state *s);
int rtc_load(struct rtc *r, const struct rtc_state *s) KVMM_MUST_CHECK;
