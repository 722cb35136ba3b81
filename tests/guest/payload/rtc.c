/* tests/guest/payload/rtc.c — read the CMOS clock in its default mode, then in binary/24 h and
 * BCD/12 h modes (status register B), and compare each with the host time.
 * Arguments: epoch=SECONDS (host UTC time when the VMM started), slack=SECONDS (default 5). */
#include "payload.h"

const char payload_name[] = "rtc";

static uint8_t cmos_get(uint8_t reg)
{
	outb(0x70, reg);
	return inb(0x71);
}

static void cmos_set(uint8_t reg, uint8_t v)
{
	outb(0x70, reg);
	outb(0x71, v);
}

static void read_and_check(const char *mode, uint64_t host, uint64_t slack)
{
	struct rtc_time t;
	uint64_t now = rtc_read_epoch(&t);
	int64_t diff = (int64_t)(now - host);

	printf("rtc (%s): %04u-%02u-%02u %02u:%02u:%02u UTC (%s, %s) = %lu, host %lu\n", mode,
	       t.year, t.mon, t.day, t.hour, t.min, t.sec, t.bcd ? "BCD" : "binary",
	       t.h24 ? "24h" : "12h", now, host);
	check(now && diff <= (int64_t)slack && diff >= -(int64_t)slack,
	      "%s: RTC within %lu s of host time (diff %ld)", mode, slack, diff);
}

int payload_main(const struct boot_info *bi)
{
	uint64_t host = cmdline_u64("epoch", 0), slack = cmdline_u64("slack", 5);
	uint8_t b = cmos_get(0x0b);

	(void)bi;
	if (!check(host != 0, "host epoch given on the command line"))
		return EXIT_CODE_FAIL;
	printf("rtc: status A %x B %x D %x\n", cmos_get(0x0a), b, cmos_get(0x0d));
	check(cmos_get(0x0d) & 0x80, "status D: valid RAM and time (VRT)");
	read_and_check("default", host, slack);
	cmos_set(0x0b, (uint8_t)((b & ~0x06) | 0x06)); /* binary, 24 h */
	read_and_check("binary/24h", host, slack);
	cmos_set(0x0b, (uint8_t)(b & ~0x06)); /* BCD, 12 h */
	read_and_check("BCD/12h", host, slack);
	cmos_set(0x0b, b);
	check(cmos_get(0x0b) == b, "status B restored");
	return 0;
}
