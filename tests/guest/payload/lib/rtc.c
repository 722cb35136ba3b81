/* tests/guest/payload/lib/rtc.c — CMOS real-time clock at 0x70/0x71. */
#include "payload.h"

static uint8_t cmos_read(uint8_t reg)
{
	outb(0x70, reg); /* bit 7 clear: NMI stays enabled, as Linux does */
	return inb(0x71);
}

static unsigned from_bcd(uint8_t v, bool bcd)
{
	return bcd ? (v >> 4) * 10u + (v & 0xfu) : v;
}

static void rtc_raw(uint8_t r[7])
{
	unsigned spins = 0;

	while ((cmos_read(0x0a) & 0x80) && ++spins < 10000000) /* UIP */
		cpu_relax();
	r[0] = cmos_read(0x00);
	r[1] = cmos_read(0x02);
	r[2] = cmos_read(0x04);
	r[3] = cmos_read(0x07);
	r[4] = cmos_read(0x08);
	r[5] = cmos_read(0x09);
	r[6] = cmos_read(0x32); /* century (ACPI FADT default), may be 0 */
}

static uint64_t days_from_civil(unsigned y, unsigned m, unsigned d)
{
	/* Howard Hinnant's algorithm, for years >= 1970. */
	unsigned yy = m <= 2 ? y - 1 : y;
	unsigned era = yy / 400, yoe = yy - era * 400;
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return (uint64_t)era * 146097 + doe - 719468;
}

uint64_t rtc_read_epoch(struct rtc_time *tm)
{
	uint8_t a[7], b[7], sb;
	struct rtc_time t;
	unsigned tries = 0;
	bool pm;

	do {
		rtc_raw(a);
		rtc_raw(b);
	} while (memcmp(a, b, sizeof(a)) && ++tries < 10);
	sb = cmos_read(0x0b);
	t.bcd = !(sb & 0x04);
	t.h24 = sb & 0x02;
	pm = !t.h24 && (a[2] & 0x80);
	t.sec = from_bcd(a[0], t.bcd);
	t.min = from_bcd(a[1], t.bcd);
	t.hour = from_bcd(a[2] & 0x7f, t.bcd);
	if (!t.h24)
		t.hour = (t.hour % 12) + (pm ? 12 : 0);
	t.day = from_bcd(a[3], t.bcd);
	t.mon = from_bcd(a[4], t.bcd);
	t.year = from_bcd(a[5], t.bcd);
	if (a[6] && from_bcd(a[6], t.bcd) >= 19 && from_bcd(a[6], t.bcd) <= 21)
		t.year += from_bcd(a[6], t.bcd) * 100;
	else
		t.year += t.year < 70 ? 2000 : 1900;
	if (tm)
		*tm = t;
	if (t.mon < 1 || t.mon > 12 || t.day < 1 || t.day > 31 || t.hour > 23 || t.min > 59 ||
	    t.sec > 59)
		return 0;
	return days_from_civil(t.year, t.mon, t.day) * 86400ull + t.hour * 3600u + t.min * 60u +
	       t.sec;
}

uint64_t rtc_tsc_hz(void)
{
	const uint64_t budget = 40000000000ull;
	uint64_t start = rdtsc(), a;
	struct rtc_time t;
	unsigned s0;

	rtc_read_epoch(&t);
	s0 = t.sec;
	do
		rtc_read_epoch(&t);
	while (t.sec == s0 && rdtsc() - start < budget);
	a = rdtsc();
	s0 = t.sec;
	do
		rtc_read_epoch(&t);
	while (t.sec == s0 && rdtsc() - start < budget);
	return rdtsc() - start < budget ? rdtsc() - a : 0;
}
