/* devices/legacy/uart16550.h — a 16550A UART on 8 byte-wide registers (COM1 at 0x3f8, IRQ 4).
 *
 * Threads: io_ops run on vCPU threads; uart16550_input(), uart16550_rx_has_room() and
 * uart16550_get_stats() are for the event-loop (or any other) thread. All of them take the
 * device's mutex, so any mix is safe. TX is instantaneous: each THR write is written to the
 * output fd before the access returns. With a non-blocking fd a slow reader stalls the writing
 * vCPU for at most UART16550_TX_TIMEOUT_MS per byte, then the byte is counted and dropped; a
 * blocking fd blocks as long as write(2) does, so the VMM should pass a non-blocking one. The
 * VMM must ignore SIGPIPE. RX never drops host input: uart16550_input() accepts only what fits
 * in the FIFO. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "devices/dev.h"

#define UART16550_FIFO_SIZE	16
#define UART16550_TX_TIMEOUT_MS 1000

/* Register offsets (DLAB = LCR bit 7 selects DLL/DLM at 0/1). */
#define UART16550_RBR 0 /* read; THR on write; DLL with DLAB */
#define UART16550_IER 1 /* DLM with DLAB */
#define UART16550_IIR 2 /* read; FCR on write */
#define UART16550_LCR 3
#define UART16550_MCR 4
#define UART16550_LSR 5
#define UART16550_MSR 6
#define UART16550_SCR 7

#define UART16550_IER_ERBFI 0x01 /* RX data available */
#define UART16550_IER_ETBEI 0x02 /* THR empty */
#define UART16550_IER_ELSI  0x04 /* line status */
#define UART16550_IER_EDSSI 0x08 /* modem status */

#define UART16550_IIR_NO_INT 0x01
#define UART16550_IIR_MSI    0x00
#define UART16550_IIR_THRI   0x02
#define UART16550_IIR_RDI    0x04
#define UART16550_IIR_RLSI   0x06
#define UART16550_IIR_CTI    0x0c
#define UART16550_IIR_FIFO   0xc0

#define UART16550_FCR_ENABLE   0x01
#define UART16550_FCR_CLEAR_RX 0x02
#define UART16550_FCR_CLEAR_TX 0x04

#define UART16550_LCR_DLAB 0x80

#define UART16550_MCR_DTR  0x01
#define UART16550_MCR_RTS  0x02
#define UART16550_MCR_OUT1 0x04
#define UART16550_MCR_OUT2 0x08
#define UART16550_MCR_LOOP 0x10

#define UART16550_LSR_DR   0x01
#define UART16550_LSR_OE   0x02
#define UART16550_LSR_BI   0x10
#define UART16550_LSR_THRE 0x20
#define UART16550_LSR_TEMT 0x40

#define UART16550_MSR_DCTS 0x01
#define UART16550_MSR_DDSR 0x02
#define UART16550_MSR_TERI 0x04
#define UART16550_MSR_DDCD 0x08
#define UART16550_MSR_CTS  0x10
#define UART16550_MSR_DSR  0x20
#define UART16550_MSR_RI   0x40
#define UART16550_MSR_DCD  0x80

struct uart16550;

struct uart16550_config {
	int out_fd;	     /* TX bytes go here; -1 discards them. Not owned (never closed). */
	struct irq_line irq; /* copied; a NULL .set means no interrupt line */
	/* Optional: called (without the device lock held, from the vCPU thread that drained the
	 * FIFO or left loopback) when the RX side goes from "no room" to "room", so the VMM can
	 * resume polling its input fd. It can race with uart16550_input() on the event loop: the
	 * VMM should hand it to the event loop (e.g. an eventfd) and re-check
	 * uart16550_rx_has_room() there. */
	void (*rx_ready)(void *ctx);
	void *rx_ready_ctx;
};

struct uart16550_stats {
	uint64_t tx_bytes;  /* bytes written to out_fd */
	uint64_t tx_errors; /* bytes lost to an output error or timeout */
	uint64_t rx_bytes;  /* bytes accepted by uart16550_input() */
	uint64_t overruns;  /* loopback bytes lost to a full FIFO (guest-visible as LSR.OE) */
};

/* Create a UART in its reset state (FIFO off, interrupts off, MCR = OUT2, divisor 12).
 * cfg is copied. 0, -EINVAL (cfg NULL) or -ENOMEM. */
int uart16550_create(struct uart16550 **out, const struct uart16550_config *cfg) KVMM_MUST_CHECK;
/* NULL is a no-op. Does not close out_fd. */
void uart16550_destroy(struct uart16550 *u);

/* Offer host input (event-loop thread). Returns how many bytes of buf were accepted: at most
 * the free space in the RX FIFO (1 byte when the guest has the FIFO disabled), 0 in loopback
 * mode (the serial input is disconnected from the pins). Never drops: the caller keeps the
 * rest and retries when uart16550_rx_has_room() turns true (or rx_ready is called). */
size_t uart16550_input(struct uart16550 *u, const uint8_t *buf, size_t len);
/* True when uart16550_input() would accept at least one byte. */
bool uart16550_rx_has_room(struct uart16550 *u);
/* Snapshot the counters. */
void uart16550_get_stats(struct uart16550 *u, struct uart16550_stats *st);

/* dev = struct uart16550 *. Accesses wider than one byte are split into byte accesses at
 * consecutive offsets (as the ISA bus would); bytes beyond offset 7 read 0xff. */
extern const struct io_ops uart16550_io_ops;

/* Snapshot state (fixed-width; part of the snapshot format, see docs/snapshot.md). */
struct uart16550_state {
	uint8_t rx[UART16550_FIFO_SIZE];
	uint16_t divisor;
	uint8_t rx_head, rx_count;
	uint8_t ier, fcr, lcr, mcr, scr, lsr_err, msr_delta, rbr_last;
	uint8_t thr_ipending, pad[3];
};
void uart16550_save(struct uart16550 *u, struct uart16550_state *s);
/* -EINVAL if the state is impossible (FIFO indices); the interrupt line follows the state. */
int uart16550_load(struct uart16550 *u, const struct uart16550_state *s) KVMM_MUST_CHECK;
