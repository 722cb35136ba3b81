/* tests/guest/payload/lib/console.c — polled COM1 output and a small printf. */
#include "payload.h"

#define COM1 0x3f8

static volatile int console_lock;

void console_init(void)
{
	outb(COM1 + 1, 0x00); /* IER: no interrupts */
	outb(COM1 + 3, 0x80); /* DLAB */
	outb(COM1 + 0, 0x01); /* 115200 */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8N1 */
	/* FCR untouched: changing the FIFO mode clears the receive buffer, and a test may have
	 * queued input before the payload starts. */
	outb(COM1 + 4, 0x0b); /* DTR, RTS, OUT2 */
}

void console_putc(char c)
{
	unsigned spins = 0;

	if (c == '\n')
		console_putc('\r');
	/* Wait for THRE, but never forever: a VMM may not model it. */
	while (!(inb(COM1 + 5) & 0x20) && ++spins < 100000)
		cpu_relax();
	outb(COM1, (uint8_t)c);
}

struct out {
	char *buf; /* NULL: console */
	size_t size, pos;
};

static void out_c(struct out *o, char c)
{
	if (!o->buf)
		console_putc(c);
	else if (o->pos + 1 < o->size)
		o->buf[o->pos] = c;
	o->pos++;
}

static void out_num(struct out *o, uint64_t v, unsigned base, int width, char pad, bool neg)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	while (width-- > n)
		out_c(o, pad);
	while (n)
		out_c(o, tmp[--n]);
}

static void format(struct out *o, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		int width = 0, prec = -1, lng = 0;
		char pad = ' ';
		uint64_t u;
		int64_t s;

		if (*fmt != '%') {
			out_c(o, *fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		if (*fmt == '.') {
			prec = 0;
			for (fmt++; *fmt >= '0' && *fmt <= '9'; fmt++)
				prec = prec * 10 + (*fmt - '0');
		}
		while (*fmt == 'l' || *fmt == 'z') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
			s = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			out_num(o, s < 0 ? (uint64_t)-s : (uint64_t)s, 10, width, pad, s < 0);
			break;
		case 'u':
		case 'x':
			u = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			out_num(o, u, *fmt == 'u' ? 10 : 16, width, pad, false);
			break;
		case 'p':
			out_c(o, '0');
			out_c(o, 'x');
			out_num(o, (uintptr_t)va_arg(ap, void *), 16, width, pad, false);
			break;
		case 'c':
			out_c(o, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);
			int len = 0;

			if (!str)
				str = "(null)";
			/* With a precision, read at most prec bytes (need not be terminated). */
			while ((prec < 0 || len < prec) && str[len])
				len++;
			while (width-- > len)
				out_c(o, ' ');
			for (int i = 0; i < len; i++)
				out_c(o, str[i]);
			break;
		}
		case '%':
			out_c(o, '%');
			break;
		default:
			out_c(o, '?');
			break;
		}
	}
}

int vprintf(const char *fmt, va_list ap)
{
	struct out o = {0};

	while (__atomic_exchange_n(&console_lock, 1, __ATOMIC_ACQUIRE))
		cpu_relax();
	format(&o, fmt, ap);
	__atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE);
	return (int)o.pos;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	struct out o = {.buf = buf, .size = size};
	va_list ap;

	va_start(ap, fmt);
	format(&o, fmt, ap);
	va_end(ap);
	if (size)
		buf[o.pos < size ? o.pos : size - 1] = '\0';
	return (int)o.pos;
}
