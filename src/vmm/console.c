/* vmm/console.c — see console.h. */
#include "vmm/console.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <termios.h>
#include <unistd.h>

#include "base/evloop.h"
#include "devices/legacy/uart16550.h"

#define CONSOLE_BUF 256

struct console {
	struct console_config cfg;
	struct termios saved;
	bool tty_saved, watching, eof, escape_pending;
	uint8_t pend[CONSOLE_BUF];
	size_t pend_len, pend_off;
};

static const char console_help[] = "\r\nkvmm console escapes:\r\n"
				   "  Ctrl-A x       quit kvmm\r\n"
				   "  Ctrl-A h       this help\r\n"
				   "  Ctrl-A Ctrl-A  send Ctrl-A to the guest\r\n";

static void console_flush(struct console *c)
{
	while (c->pend_off < c->pend_len) {
		const uint8_t *p = c->pend + c->pend_off;
		size_t left = c->pend_len - c->pend_off;
		size_t n = c->cfg.input ? c->cfg.input(c->cfg.input_ctx, p, left)
					: uart16550_input(c->cfg.uart, p, left);

		if (n == 0)
			return;
		c->pend_off += n;
	}
	c->pend_off = c->pend_len = 0;
}

/* Interpret escapes in buf[0, n), appending guest bytes to the pending buffer. */
static void console_filter(struct console *c, const uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = buf[i];

		if (c->escape_pending) {
			c->escape_pending = false;
			if (ch == 'x' || ch == 'X') {
				c->cfg.quit(c->cfg.quit_ctx);
				return;
			}
			if (ch == 'h' || ch == 'H' || ch == '?') {
				if (write(c->cfg.out_fd, console_help, sizeof(console_help) - 1) <
				    0)
					continue;
				continue;
			}
			if (ch != CONSOLE_ESCAPE_CHAR)
				continue;
		} else if (c->cfg.escapes && ch == CONSOLE_ESCAPE_CHAR) {
			c->escape_pending = true;
			continue;
		}
		c->pend[c->pend_len++] = ch;
	}
}

static void console_unwatch(struct console *c)
{
	if (!c->watching)
		return;
	evloop_del(c->cfg.el, c->cfg.in_fd);
	c->watching = false;
}

static void console_on_input(void *ctx, int fd, uint32_t events);

static void console_arm(struct console *c)
{
	if (c->watching || c->eof)
		return;
	if (evloop_add(c->cfg.el, c->cfg.in_fd, EPOLLIN, console_on_input, c) == 0)
		c->watching = true;
}

static void console_on_input(void *ctx, int fd, uint32_t events)
{
	struct console *c = ctx;
	uint8_t buf[CONSOLE_BUF];
	ssize_t n;

	if (c->pend_len) {
		console_unwatch(c);
		return;
	}
	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		console_unwatch(c);
		c->eof = true;
		return;
	}
	console_filter(c, buf, (size_t)n);
	console_flush(c);
	if (c->pend_len)
		console_unwatch(c); /* backpressure: wait for FIFO room */
}

void console_poll(struct console *c)
{
	if (!c)
		return;
	console_flush(c);
	if (!c->pend_len)
		console_arm(c);
}

int console_create(struct console **out, const struct console_config *cfg)
{
	struct console *c = calloc(1, sizeof(*c));
	struct termios t;

	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	if (cfg->raw_tty && isatty(cfg->in_fd) && tcgetattr(cfg->in_fd, &c->saved) == 0) {
		t = c->saved;
		cfmakeraw(&t);
		t.c_oflag |= OPOST; /* keep \n -> \r\n for host-side messages */
		if (tcsetattr(cfg->in_fd, TCSANOW, &t) == 0)
			c->tty_saved = true;
	}
	console_arm(c);
	*out = c;
	return 0;
}

void console_destroy(struct console *c)
{
	if (!c)
		return;
	if (c->watching)
		evloop_del(c->cfg.el, c->cfg.in_fd);
	if (c->tty_saved)
		tcsetattr(c->cfg.in_fd, TCSANOW, &c->saved);
	free(c);
}
