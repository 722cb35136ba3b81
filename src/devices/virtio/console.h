/* devices/virtio/console.h — virtio-console (virtio 1.2 §5.3), port 0 only: receiveq (queue 0)
 * carries host input to the guest, transmitq (queue 1) guest output to the host, and the
 * emergency-write register (VIRTIO_CONSOLE_F_EMERG_WRITE) outputs one byte from the
 * configuration space. Linux drives it as hvc0. MULTIPORT and SIZE are not offered.
 *
 * The device knows nothing of fds: the VMM passes an output sink and feeds input bytes.
 *   - Output: every readable byte of a transmitq chain goes to backend.write (under vd.lock,
 *     on the thread that processes the queue); what the sink does not accept is dropped and
 *     counted (tx_dropped), and the chain is completed with used length 0.
 *   - Input: virtio_console_input() copies bytes into the guest's receive buffers and holds
 *     what does not fit (no buffers yet, driver not loaded, device reset) in a buffer of
 *     VIRTIO_CONSOLE_RX_HOLD bytes; held bytes are delivered, in order, as soon as the guest
 *     posts receive buffers. When the hold buffer is full, input is refused (the return value
 *     is short) and the caller keeps the rest: nothing is dropped. backend.rx_ready says when
 *     room appeared. A device reset drops no held input (it has not reached any guest buffer).
 *   - A malformed chain, a device-writable buffer on the transmitq or a receiveq buffer with a
 *     device-readable part or no writable byte is a guest error: NEEDS_RESET, counted, logged
 *     once (rate-limited); the device is quiet until the driver resets it.
 *
 * Threads: queue_notify (vCPU thread), virtio_console_input/poll (event loop) and the stats
 * take vd.lock; backend.write and backend.rx_ready are called with it held and must not call
 * back into the device. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "devices/virtio/virtio.h"

struct gmem;
struct virtio_console;

/* Feature bits (§5.3.3). */
#define VIRTIO_CONSOLE_F_SIZE	     0
#define VIRTIO_CONSOLE_F_MULTIPORT   1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

#define VIRTIO_CONSOLE_RXQ	  0
#define VIRTIO_CONSOLE_TXQ	  1
#define VIRTIO_CONSOLE_QUEUE_SIZE 256u
#define VIRTIO_CONSOLE_RX_HOLD	  4096u /* host input held while the guest has no buffers */

/* The configuration space (§5.3.4). */
struct virtio_console_config {
	uint16_t cols, rows;   /* only with F_SIZE: 0 here */
	uint32_t max_nr_ports; /* only with F_MULTIPORT: 1 here */
	uint32_t emerg_wr;     /* write-only: the low byte is output */
} KVMM_PACKED;
_Static_assert(sizeof(struct virtio_console_config) == 12, "virtio_console_config");

struct virtio_console_backend {
	/* Guest output. Returns the bytes accepted (the rest is dropped and counted). */
	size_t (*write)(void *ctx, const uint8_t *buf, size_t len);
	/* Optional: held input was delivered, so virtio_console_input() has room again. */
	void (*rx_ready)(void *ctx);
	void *ctx;
};

struct virtio_console_stats {
	uint64_t tx_bytes;     /* guest output accepted by the sink (transmitq and emerg_wr) */
	uint64_t tx_dropped;   /* guest output the sink did not accept */
	uint64_t tx_chains;    /* transmitq chains completed */
	uint64_t rx_bytes;     /* host input written into guest buffers */
	uint64_t rx_chains;    /* receiveq chains completed */
	uint64_t rx_held;      /* input bytes that had to wait for a guest buffer */
	uint64_t rx_refused;   /* input bytes refused because the hold buffer was full */
	uint64_t held_now;     /* bytes held at the moment */
	uint64_t guest_errors; /* malformed chains: NEEDS_RESET */
};

/* backend->write is required. -EINVAL, -ENOMEM. Set-up thread. */
int virtio_console_create(struct virtio_console **out, const struct gmem *mem,
			  const struct virtio_console_backend *backend) KVMM_MUST_CHECK;
/* NULL is a no-op. */
void virtio_console_destroy(struct virtio_console *c);
/* The embedded virtio core, for a transport. */
struct virtio_dev *virtio_console_dev(struct virtio_console *c);

/* Host input: returns the bytes accepted (delivered or held), < len when the hold buffer is
 * full. Any thread (event loop). */
size_t virtio_console_input(struct virtio_console *c, const uint8_t *buf, size_t len);
/* Deliver held input into buffers the guest posted without a notification (EVENT_IDX races,
 * a driver that polls). Event loop tick. NULL is a no-op. */
void virtio_console_poll(struct virtio_console *c);
/* Snapshot of the counters. Any thread. */
void virtio_console_get_stats(struct virtio_console *c, struct virtio_console_stats *out);

/* Snapshot state of the device model (the virtio core's is struct virtio_dev_state): the
 * host input held because the guest had no receive buffers, in order. The configuration space
 * is constant; counters are not saved. */
struct virtio_console_state {
	uint32_t hold_len, pad;
	uint8_t hold[VIRTIO_CONSOLE_RX_HOLD];
};
/* Under vd.lock; the VMM has stopped the vCPUs and the event loop. */
void virtio_console_save(struct virtio_console *c, struct virtio_console_state *s);
/* After virtio_dev_load() of the same device. -EINVAL if hold_len exceeds the buffer. The held
 * bytes reach the guest once it posts receive buffers (or on the next poll). */
int virtio_console_load(struct virtio_console *c,
			const struct virtio_console_state *s) KVMM_MUST_CHECK;
