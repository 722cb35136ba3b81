/* Fuzz target: virtio-console's receive and transmit paths. The input supplies host input bytes
 * and the rings, descriptors and indirect tables of both queues in 64 KiB of guest RAM; the
 * device runs them through the virtio-mmio transport (kicks, the event-loop poll, emergency
 * writes, a reset, then more input). Nothing may crash, hang or touch memory outside guest RAM
 * (ASan), and no host input may be lost: every accepted byte is either in a guest buffer or
 * still held.
 *
 * Input: byte 0 = flags: bits 0-2 log2 queue size (capped at 16), bit 3 EVENT_IDX, bit 4
 * INDIRECT_DESC, bit 5 both queues share one ring set (hostile), bit 6 input before DRIVER_OK,
 * bit 7 the sink accepts only half of each write. Byte 1 = n, the number of host input bytes
 * that follow. The rest is copied to guest address 0: receiveq desc at 0, avail at 0x100, used
 * at 0x200; transmitq desc at 0x400, avail at 0x500, used at 0x600; buffers anywhere. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "devices/virtio/console.h"
#include "devices/virtio/mmio.h"
#include "mem/gmem.h"

#define FUZZ_RAM (64u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_sink {
	bool half;
	uint64_t bytes;
};

static size_t fuzz_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct fuzz_sink *s = ctx;
	volatile uint8_t x = 0;

	for (size_t i = 0; i < len; i++) /* ASan: every byte must be readable */
		x ^= buf[i];
	(void)x;
	s->bytes += len;
	return s->half ? len / 2 : len;
}

static int fuzz_irq_set(void *ctx, bool level)
{
	(void)ctx;
	(void)level;
	return 0;
}

static void wr(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	virtio_mmio_io_ops.write(t, off, &v, 4);
}

static void fuzz_driver(struct virtio_mmio *t, uint8_t flags)
{
	uint32_t qsize = 1u << (flags & 7), feat = 1u << VIRTIO_CONSOLE_F_EMERG_WRITE;

	if (qsize > 16)
		qsize = 16;
	if (flags & 0x08)
		feat |= 1u << VIRTIO_F_EVENT_IDX;
	if (flags & 0x10)
		feat |= 1u << VIRTIO_F_INDIRECT_DESC;
	wr(t, VIRTIO_MMIO_STATUS, 0);
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES, feat);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(t, VIRTIO_MMIO_STATUS, 0x0b);
	for (unsigned q = 0; q < 2; q++) {
		uint32_t b = (q && !(flags & 0x20)) ? 0x400 : 0;

		wr(t, VIRTIO_MMIO_QUEUE_SEL, q);
		wr(t, VIRTIO_MMIO_QUEUE_NUM, qsize);
		wr(t, VIRTIO_MMIO_QUEUE_DESC_LOW, b);
		wr(t, VIRTIO_MMIO_QUEUE_DRIVER_LOW, b + 0x100);
		wr(t, VIRTIO_MMIO_QUEUE_DEVICE_LOW, b + 0x200);
		wr(t, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	wr(t, VIRTIO_MMIO_STATUS, 0x0f);
}

/* Every byte accepted is delivered or held. */
static void fuzz_check(struct virtio_console *c, uint64_t accepted)
{
	struct virtio_console_stats st;

	virtio_console_get_stats(c, &st);
	if (st.rx_bytes + st.held_now != accepted || st.held_now > VIRTIO_CONSOLE_RX_HOLD)
		abort();
}

static void fuzz_run(const struct gmem *m, uint8_t flags, const uint8_t *in, size_t n)
{
	struct fuzz_sink sink = {.half = flags & 0x80};
	struct virtio_console_backend be = {fuzz_write, NULL, &sink};
	struct irq_line irq = {fuzz_irq_set, NULL};
	struct virtio_console *c;
	struct virtio_mmio *t;
	uint64_t acc = 0;

	if (virtio_console_create(&c, m, &be))
		return;
	if (virtio_mmio_create(&t, virtio_console_dev(c), &irq) == 0) {
		if (flags & 0x40)
			acc += virtio_console_input(c, in, n / 2);
		fuzz_driver(t, flags);
		wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_TXQ);
		acc += virtio_console_input(c, in + n / 2, n - n / 2);
		wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_RXQ);
		wr(t, VIRTIO_MMIO_CONFIG + 8, n ? in[0] : 'x');
		virtio_console_poll(c);
		fuzz_check(c, acc);
		wr(t, VIRTIO_MMIO_STATUS, 0);
		acc += virtio_console_input(c, in, n);
		virtio_console_poll(c);
		fuzz_check(c, acc);
		virtio_mmio_destroy(t);
	}
	virtio_console_destroy(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gmem_region r;
	struct gmem *m;
	uint8_t *ram;
	size_t n;

	if (size < 2)
		return 0;
	n = KVMM_MIN((size_t)data[1], size - 2);
	ram = mmap(NULL, FUZZ_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		return 0;
	memcpy(ram, data + 2 + n, KVMM_MIN(size - 2 - n, (size_t)FUZZ_RAM));
	r = (struct gmem_region){0, FUZZ_RAM, ram, 0};
	if (gmem_create(&m, &r, 1) == 0) {
		fuzz_run(m, data[0], data + 2, n);
		gmem_destroy(m);
	}
	munmap(ram, FUZZ_RAM);
	return 0;
}
