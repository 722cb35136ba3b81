/* vmm/console.h — the interactive console of the serial port or of the virtio console: the host
 * terminal in raw mode (restored on destroy), bytes from the input fd fed to the UART (or to an
 * input callback) with backpressure, and the escape key
 * sequence: Ctrl-A x quits, Ctrl-A h prints help, Ctrl-A Ctrl-A sends a literal Ctrl-A.
 * Event-loop thread only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

struct console;
struct evloop;
struct uart16550;

#define CONSOLE_ESCAPE_CHAR 0x01 /* Ctrl-A, as in QEMU */

struct console_config {
	int in_fd;    /* not owned */
	int out_fd;   /* for the help text; not owned */
	bool raw_tty; /* put in_fd's terminal in raw mode (only if it is a tty) */
	bool escapes; /* interpret Ctrl-A sequences */
	struct uart16550 *uart;
	/* If set, input goes here instead of the UART: returns the bytes accepted (fewer: the
	 * rest is held and retried by console_poll, and the fd is not read meanwhile). */
	size_t (*input)(void *ctx, const uint8_t *buf, size_t len);
	void *input_ctx;
	struct evloop *el;
	void (*quit)(void *ctx); /* Ctrl-A x */
	void *quit_ctx;
};

int console_create(struct console **out, const struct console_config *cfg) KVMM_MUST_CHECK;
/* Restores the terminal. NULL is a no-op. */
void console_destroy(struct console *c);
/* Retry input held back by a full UART FIFO; re-arm the input fd. Called on every loop tick. */
void console_poll(struct console *c);
