/* Fuzz target: 16550A register accesses and host input.
 *
 * The input is a sequence of 11-byte records:
 *   byte 0: bits 0-1 op (0 read, 1 write, 2 host input, 3 read IIR then LSR),
 *           bits 2-3 access size (1, 2, 4, 8 bytes)
 *   byte 1: register offset (0..255; the device is 8 bytes wide, the rest must be ignored)
 *   byte 2: unused
 *   bytes 3-10: value (little-endian; for host input: up to `size` bytes of data)
 * Invariants checked: nothing crashes or leaks (ASan/UBSan), the IRQ line only ever changes
 * level (set() is never called twice with the same level), host input is refused when there is
 * no room and never exceeds the FIFO, and THRE/TEMT always read 1. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/legacy/uart16550.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

struct fuzz_irq {
	bool level;
};

static int fuzz_irq_set(void *ctx, bool level)
{
	struct fuzz_irq *fi = ctx;

	if (level == fi->level)
		abort(); /* the device promised to call set() only on changes */
	fi->level = level;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct fuzz_irq fi = {false};
	struct uart16550_config cfg = {0};
	struct uart16550 *u;

	cfg.out_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	cfg.irq.set = fuzz_irq_set;
	cfg.irq.ctx = &fi;
	if (uart16550_create(&u, &cfg))
		goto out_close;
	for (size_t i = 0; i + 11 <= n; i += 11) {
		unsigned op = d[i] & 3, size = 1u << ((d[i] >> 2) & 3);
		uint64_t off = d[i + 1];
		uint8_t val[8];

		memcpy(val, d + i + 3, 8);
		switch (op) {
		case 0:
			uart16550_io_ops.read(u, off, val, size);
			break;
		case 1:
			uart16550_io_ops.write(u, off, val, size);
			break;
		case 2: {
			bool room = uart16550_rx_has_room(u);
			size_t got = uart16550_input(u, val, size);

			if (got > size || (!room && got) || got > UART16550_FIFO_SIZE)
				abort();
			break;
		}
		default:
			uart16550_io_ops.read(u, UART16550_IIR, val, 1);
			uart16550_io_ops.read(u, UART16550_LSR, val + 1, 1);
			if (!(val[1] & UART16550_LSR_THRE) || !(val[1] & UART16550_LSR_TEMT))
				abort(); /* TX is instantaneous */
			break;
		}
	}
	uart16550_destroy(u);
out_close:
	if (cfg.out_fd >= 0)
		close(cfg.out_fd);
	return 0;
}
