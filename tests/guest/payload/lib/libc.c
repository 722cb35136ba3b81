/* tests/guest/payload/lib/libc.c — the few libc functions the payloads and gcc need. */
#include "payload.h"

/* rep stosb/movsb: one instruction for the host's ring-0 emulator instead of a loop. */
void *memset(void *d, int c, size_t n)
{
	void *p = d;

	if (((uintptr_t)d | n) & 7) {
		__asm__ volatile("cld; rep stosb" : "+D"(p), "+c"(n) : "a"(c) : "memory");
	} else {
		uint64_t v = 0x0101010101010101ull * (uint8_t)c;

		n /= 8;
		__asm__ volatile("cld; rep stosq" : "+D"(p), "+c"(n) : "a"(v) : "memory");
	}
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	void *p = d;

	__asm__ volatile("cld; rep movsb" : "+D"(p), "+S"(s), "+c"(n) : : "memory");
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	if (dp < sp)
		return memcpy(d, s, n);
	while (n--)
		dp[n] = sp[n];
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] - y[i];
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i] != b[i])
			return (unsigned char)a[i] - (unsigned char)b[i];
		if (!a[i])
			return 0;
	}
	return 0;
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

uint64_t parse_u64(const char *s, const char **end)
{
	unsigned base = 10;
	uint64_t v = 0;
	int d;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	while ((d = digit_value(*s)) < (int)base) {
		v = v * base + (unsigned)d;
		s++;
	}
	if (end)
		*end = s;
	return v;
}

/* CRC-32 with polynomial 0x04c11db7, MSB first, then the length, then inverted (cksum(1)). */
static uint32_t cksum_byte(uint32_t crc, uint8_t b)
{
	crc ^= (uint32_t)b << 24;
	for (int i = 0; i < 8; i++)
		crc = (crc & 0x80000000u) ? (crc << 1) ^ 0x04c11db7u : crc << 1;
	return crc;
}

uint32_t posix_cksum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t crc = 0;

	for (size_t i = 0; i < n; i++)
		crc = cksum_byte(crc, b[i]);
	for (size_t len = n; len; len >>= 8)
		crc = cksum_byte(crc, (uint8_t)len);
	return ~crc;
}
