/* devices/legacy/rtc.c — see rtc.h.
 *
 * Guest time = clock + offset_ns. While register B.SET is 1 the clock fields (0x00-0x09,
 * 0x32) are plain RAM holding what the guest writes; clearing SET (or writing a clock field
 * while SET is 0) converts those fields, in the guest's format, into a new offset. */
#include "devices/legacy/rtc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/ckd.h"
#include "base/log.h"

#define NS_PER_SEC	 1000000000LL
#define RTC_HZ		 32768
#define RTC_SECS_PER_DAY 86400

struct rtc {
	pthread_mutex_t lock;
	struct rtc_config cfg;
	uint8_t index;
	uint8_t cmos[128];
	int64_t offset_ns; /* guest time - clock time */
	int64_t last_eval; /* guest time of the last flag evaluation */
	bool irq_level;
	struct log_ratelimit set_rl;
};

static int64_t rtc_default_clock(void *ctx)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static int64_t floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t rtc_guest_ns(const struct rtc *r)
{
	int64_t t;

	if (ckd_add(&t, r->cfg.clock_ns(r->cfg.clock_ctx), r->offset_ns))
		t = r->offset_ns < 0 ? INT64_MIN : INT64_MAX;
	return t;
}

int rtc_create(struct rtc **out, const struct rtc_config *cfg)
{
	struct rtc *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return -ENOMEM;
	err = -pthread_mutex_init(&r->lock, NULL);
	if (err)
		goto err_free;
	if (cfg)
		r->cfg = *cfg;
	if (!r->cfg.clock_ns)
		r->cfg.clock_ns = rtc_default_clock;
	r->cmos[RTC_REG_A] = 0x26;
	r->cmos[RTC_REG_B] = RTC_REG_B_24H;
	r->cmos[RTC_REG_D] = RTC_REG_D_VRT;
	r->last_eval = rtc_guest_ns(r);
	*out = r;
	return 0;

err_free:
	free(r);
	return err;
}

void rtc_destroy(struct rtc *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static bool rtc_is_clock_field(unsigned i)
{
	return i == RTC_SECONDS || i == RTC_MINUTES || i == RTC_HOURS || i == RTC_CENTURY ||
	       (i >= RTC_DAY_OF_WEEK && i <= RTC_YEAR);
}

static uint8_t rtc_enc(const struct rtc *r, unsigned v)
{
	v %= 100;
	if (r->cmos[RTC_REG_B] & RTC_REG_B_DM)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static unsigned rtc_dec(uint8_t b_reg, uint8_t v)
{
	if (b_reg & RTC_REG_B_DM)
		return v;
	return (v >> 4) * 10u + (v & 0x0f);
}

static uint8_t rtc_enc_hour(const struct rtc *r, int hour)
{
	int h;

	if (r->cmos[RTC_REG_B] & RTC_REG_B_24H)
		return rtc_enc(r, (unsigned)hour);
	h = hour % 12;
	return rtc_enc(r, h ? (unsigned)h : 12u) | (hour >= 12 ? 0x80 : 0);
}

/* Write the guest time into the clock fields, in the current format. */
static void rtc_snapshot(struct rtc *r, int64_t guest_ns)
{
	time_t secs = (time_t)floordiv(guest_ns, NS_PER_SEC);
	struct tm tm;

	if (!gmtime_r(&secs, &tm))
		memset(&tm, 0, sizeof(tm));
	r->cmos[RTC_SECONDS] = rtc_enc(r, (unsigned)tm.tm_sec);
	r->cmos[RTC_MINUTES] = rtc_enc(r, (unsigned)tm.tm_min);
	r->cmos[RTC_HOURS] = rtc_enc_hour(r, tm.tm_hour);
	r->cmos[RTC_DAY_OF_WEEK] = rtc_enc(r, (unsigned)tm.tm_wday + 1);
	r->cmos[RTC_DAY_OF_MONTH] = rtc_enc(r, (unsigned)tm.tm_mday);
	r->cmos[RTC_MONTH] = rtc_enc(r, (unsigned)tm.tm_mon + 1);
	/* guest_ns is an int64: the year is within 1677..2262, never negative */
	r->cmos[RTC_YEAR] = rtc_enc(r, (unsigned)(tm.tm_year + 1900) % 100);
	r->cmos[RTC_CENTURY] = rtc_enc(r, (unsigned)(tm.tm_year + 1900) / 100);
}

/* Turn the clock fields (in the format of b_reg) into a new offset. Out-of-range fields are
 * normalised by timegm(); a time that does not fit in int64 ns is refused. */
static void rtc_set_from_fields(struct rtc *r, uint8_t b_reg)
{
	struct tm tm = {0};
	uint8_t hv = r->cmos[RTC_HOURS];
	int64_t secs, ns, off;
	time_t t;

	tm.tm_sec = (int)rtc_dec(b_reg, r->cmos[RTC_SECONDS]);
	tm.tm_min = (int)rtc_dec(b_reg, r->cmos[RTC_MINUTES]);
	if (b_reg & RTC_REG_B_24H) {
		tm.tm_hour = (int)rtc_dec(b_reg, hv);
	} else {
		tm.tm_hour = (int)(rtc_dec(b_reg, hv & 0x7f) % 12);
		if (hv & 0x80)
			tm.tm_hour += 12;
	}
	tm.tm_mday = (int)rtc_dec(b_reg, r->cmos[RTC_DAY_OF_MONTH]);
	tm.tm_mon = (int)rtc_dec(b_reg, r->cmos[RTC_MONTH]) - 1;
	tm.tm_year =
	    (int)(rtc_dec(b_reg, r->cmos[RTC_CENTURY]) * 100 + rtc_dec(b_reg, r->cmos[RTC_YEAR])) -
	    1900;
	t = timegm(&tm);
	secs = (int64_t)t;
	if (ckd_mul(&ns, secs, NS_PER_SEC) ||
	    ckd_sub(&off, ns, r->cfg.clock_ns(r->cfg.clock_ctx))) {
		log_ratelimited(&r->set_rl, LOG_WARN,
				"rtc: guest set an out-of-range time, ignored");
		return;
	}
	r->offset_ns = off;
	r->last_eval = ns;
}

/* Periodic interrupt period in 32.768 kHz ticks for rate select rs (0 = off). */
static int64_t rtc_period_ticks(uint8_t reg_a)
{
	unsigned rs = reg_a & 0x0f;

	if (rs == 0)
		return 0;
	return rs <= 2 ? 1LL << (rs + 6) : 1LL << (rs - 1);
}

static int64_t rtc_ticks(int64_t ns)
{
	int64_t s = floordiv(ns, NS_PER_SEC);

	return s * RTC_HZ + (ns - s * NS_PER_SEC) * RTC_HZ / NS_PER_SEC;
}

static bool rtc_alarm_byte_match(uint8_t alarm, uint8_t now)
{
	return (alarm & 0xc0) == 0xc0 || alarm == now; /* 0xc0-0xff: "don't care" */
}

/* Like the chip, compare the alarm bytes with the time bytes in the current format. */
static bool rtc_alarm_match(const struct rtc *r, int64_t secs)
{
	int64_t sod = secs - floordiv(secs, RTC_SECS_PER_DAY) * RTC_SECS_PER_DAY;

	return rtc_alarm_byte_match(r->cmos[RTC_SECONDS_ALARM], rtc_enc(r, (unsigned)(sod % 60))) &&
	       rtc_alarm_byte_match(r->cmos[RTC_MINUTES_ALARM],
				    rtc_enc(r, (unsigned)(sod / 60 % 60))) &&
	       rtc_alarm_byte_match(r->cmos[RTC_HOURS_ALARM], rtc_enc_hour(r, (int)(sod / 3600)));
}

/* First second in (from, to] (guest seconds) matching the alarm. At most one day is scanned:
 * every time of day occurs in it, so a longer gap adds nothing. */
static bool rtc_alarm_next(const struct rtc *r, int64_t from, int64_t to, int64_t *at)
{
	int64_t end = to - from > RTC_SECS_PER_DAY ? from + RTC_SECS_PER_DAY : to;

	for (int64_t s = from + 1; s <= end; s++) {
		if (rtc_alarm_match(r, s)) {
			*at = s;
			return true;
		}
	}
	return false;
}

/* Set UF/AF/PF for boundaries crossed since the last evaluation, latch IRQF, drive the line. */
static void rtc_eval(struct rtc *r)
{
	int64_t now = rtc_guest_ns(r), per = rtc_period_ticks(r->cmos[RTC_REG_A]);
	int64_t now_s = floordiv(now, NS_PER_SEC), last_s = floordiv(r->last_eval, NS_PER_SEC), at;
	uint8_t *c = &r->cmos[RTC_REG_C];
	bool level;

	if (!(r->cmos[RTC_REG_B] & RTC_REG_B_SET) && now_s != last_s) {
		*c |= RTC_REG_C_UF;
		if (now_s > last_s && rtc_alarm_next(r, last_s, now_s, &at))
			*c |= RTC_REG_C_AF;
	}
	if (per && floordiv(rtc_ticks(now), per) != floordiv(rtc_ticks(r->last_eval), per))
		*c |= RTC_REG_C_PF;
	r->last_eval = now;
	if (*c & r->cmos[RTC_REG_B] & (RTC_REG_C_PF | RTC_REG_C_AF | RTC_REG_C_UF))
		*c |= RTC_REG_C_IRQF;
	level = *c & RTC_REG_C_IRQF;
	if (level != r->irq_level) {
		r->irq_level = level;
		irq_line_set(&r->cfg.irq, level);
	}
}

static uint8_t rtc_read_reg(struct rtc *r, unsigned i)
{
	int64_t now;
	uint8_t v;

	if (rtc_is_clock_field(i) && !(r->cmos[RTC_REG_B] & RTC_REG_B_SET))
		rtc_snapshot(r, rtc_guest_ns(r));
	switch (i) {
	case RTC_REG_A:
		now = rtc_guest_ns(r);
		v = r->cmos[RTC_REG_A] & 0x7f;
		if (!(r->cmos[RTC_REG_B] & RTC_REG_B_SET) &&
		    now - floordiv(now, NS_PER_SEC) * NS_PER_SEC >= NS_PER_SEC - RTC_UIP_NS)
			v |= RTC_REG_A_UIP;
		return v;
	case RTC_REG_C:
		v = r->cmos[RTC_REG_C];
		r->cmos[RTC_REG_C] = 0;
		return v;
	case RTC_REG_D:
		return RTC_REG_D_VRT;
	default:
		return r->cmos[i];
	}
}

static void rtc_write_b(struct rtc *r, uint8_t v)
{
	uint8_t old = r->cmos[RTC_REG_B];

	if (v & RTC_REG_B_SET)
		v &= (uint8_t)~RTC_REG_B_UIE;
	if ((v & RTC_REG_B_SET) && !(old & RTC_REG_B_SET)) {
		r->cmos[RTC_REG_B] = v;
		rtc_snapshot(r, rtc_guest_ns(r)); /* freeze, in the new format */
		return;
	}
	if (!(v & RTC_REG_B_SET) && (old & RTC_REG_B_SET))
		rtc_set_from_fields(r, old); /* fields were written in the old format */
	r->cmos[RTC_REG_B] = v;
}

static void rtc_write_reg(struct rtc *r, unsigned i, uint8_t v)
{
	if (rtc_is_clock_field(i)) {
		if (r->cmos[RTC_REG_B] & RTC_REG_B_SET) {
			r->cmos[i] = v;
			return;
		}
		rtc_snapshot(r, rtc_guest_ns(r));
		r->cmos[i] = v;
		rtc_set_from_fields(r, r->cmos[RTC_REG_B]);
		return;
	}
	switch (i) {
	case RTC_REG_A:
		r->cmos[RTC_REG_A] = v & 0x7f;
		break;
	case RTC_REG_B:
		rtc_write_b(r, v);
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read-only */
	default:
		r->cmos[i] = v;
		break;
	}
}

static void rtc_io_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct rtc *r = dev;
	uint8_t *b = data;

	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < len; i++) {
		b[i] = 0xff;
		if (off + i == 1) {
			rtc_eval(r);
			b[i] = rtc_read_reg(r, r->index);
		}
	}
	rtc_eval(r);
	pthread_mutex_unlock(&r->lock);
}

static void rtc_io_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct rtc *r = dev;
	const uint8_t *b = data;

	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < len; i++) {
		if (off + i == 0) {
			r->index = b[i] & 0x7f;
		} else if (off + i == 1) {
			rtc_eval(r);
			rtc_write_reg(r, r->index, b[i]);
		}
	}
	rtc_eval(r);
	pthread_mutex_unlock(&r->lock);
}

const struct io_ops rtc_io_ops = {
    .read = rtc_io_read,
    .write = rtc_io_write,
};

int rtc_set_cmos(struct rtc *r, unsigned index, uint8_t value)
{
	if (index >= 128 || index <= RTC_REG_D || index == RTC_CENTURY)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	r->cmos[index] = value;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

int rtc_get_cmos(struct rtc *r, unsigned index, uint8_t *value)
{
	if (index >= 128)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	*value = r->cmos[index];
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static void rtc_put16(struct rtc *r, unsigned lo, uint64_t v)
{
	r->cmos[lo] = (uint8_t)v;
	r->cmos[lo + 1] = (uint8_t)(v >> 8);
}

int rtc_set_mem_info(struct rtc *r, uint64_t ram_below_4g, uint64_t ram_above_4g, unsigned ncpus)
{
	const uint64_t mib = 1024 * 1024;
	uint64_t ext_kb = 0, above16 = 0, high = ram_above_4g >> 16;

	if (ncpus == 0 || ncpus > 256)
		return -EINVAL;
	if (ram_below_4g > mib)
		ext_kb = KVMM_MIN((ram_below_4g - mib) / 1024, 0xffffu);
	if (ram_below_4g > 16 * mib)
		above16 = KVMM_MIN((ram_below_4g - 16 * mib) >> 16, 0xffffu);
	high = KVMM_MIN(high, 0xffffffu);
	pthread_mutex_lock(&r->lock);
	rtc_put16(r, 0x15, 640);
	rtc_put16(r, 0x17, ext_kb);
	rtc_put16(r, 0x30, ext_kb);
	rtc_put16(r, 0x34, above16);
	r->cmos[0x5b] = (uint8_t)high;
	r->cmos[0x5c] = (uint8_t)(high >> 8);
	r->cmos[0x5d] = (uint8_t)(high >> 16);
	r->cmos[0x5f] = (uint8_t)(ncpus - 1);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

void rtc_update(struct rtc *r)
{
	pthread_mutex_lock(&r->lock);
	rtc_eval(r);
	pthread_mutex_unlock(&r->lock);
}

uint64_t rtc_next_event_ns(struct rtc *r)
{
	uint64_t best = 0;
	int64_t now, per, t, next;

	pthread_mutex_lock(&r->lock);
	now = rtc_guest_ns(r);
	per = rtc_period_ticks(r->cmos[RTC_REG_A]);
	if ((r->cmos[RTC_REG_B] & RTC_REG_B_UIE) && !(r->cmos[RTC_REG_B] & RTC_REG_B_SET))
		best = (uint64_t)(NS_PER_SEC - (now - floordiv(now, NS_PER_SEC) * NS_PER_SEC));
	if ((r->cmos[RTC_REG_B] & RTC_REG_B_AIE) && !(r->cmos[RTC_REG_B] & RTC_REG_B_SET) &&
	    rtc_alarm_next(r, floordiv(now, NS_PER_SEC),
			   floordiv(now, NS_PER_SEC) + RTC_SECS_PER_DAY, &t) &&
	    !ckd_mul(&next, t, NS_PER_SEC) && next > now) {
		uint64_t d = (uint64_t)next - (uint64_t)now;

		best = best ? KVMM_MIN(best, d) : d;
	}
	if ((r->cmos[RTC_REG_B] & RTC_REG_B_PIE) && per) {
		t = rtc_ticks(now);
		next = (floordiv(t, per) + 1) * per; /* in ticks */
		/* ns until tick `next`, truncated, at least 1 */
		uint64_t d = (uint64_t)((next - t) * NS_PER_SEC / RTC_HZ);
		d = d ? d : 1;
		best = best ? KVMM_MIN(best, d) : d;
	}
	pthread_mutex_unlock(&r->lock);
	return best;
}

void rtc_save(struct rtc *r, struct rtc_state *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&r->lock);
	memcpy(s->cmos, r->cmos, sizeof(s->cmos));
	s->offset_ns = r->offset_ns;
	s->last_eval = r->last_eval;
	s->index = r->index;
	pthread_mutex_unlock(&r->lock);
}

int rtc_load(struct rtc *r, const struct rtc_state *s)
{
	if (s->index >= sizeof(r->cmos))
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	memcpy(r->cmos, s->cmos, sizeof(r->cmos));
	r->offset_ns = s->offset_ns;
	r->last_eval = s->last_eval;
	r->index = s->index;
	r->irq_level = !r->irq_level; /* force rtc_eval to drive the line */
	rtc_eval(r);
	pthread_mutex_unlock(&r->lock);
	return 0;
}
