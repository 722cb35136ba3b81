/* Fuzz target: virtio-net's TX header and chain parsing, the control queue and RX into
 * (mergeable) receive chains. The input supplies three queues' rings, indirect tables, headers
 * and data in 64 KiB of guest RAM; a fake backend records sends and the target injects received
 * frames taken from the input. Nothing may crash, hang or touch memory outside guest RAM (ASan).
 *
 * Input: byte 0 = flags: bits 0-2 log2 queue size (capped at 16), bit 3 vnet-header backend
 * (offloads offered), bit 4 EVENT_IDX, bit 5 INDIRECT_DESC, bit 6 MRG_RXBUF, bit 7 control
 * queue features. Byte 1: bits 0-6 received frame length / 16, bit 7 the backend is full
 * (send() returns -EAGAIN until tx_ready). The rest is copied to guest address 0:
 * rx rings at 0x000/0x100/0x200, tx at 0x400/0x500/0x600, ctrl at 0x800/0x900/0xa00; buffers
 * anywhere. The received frame is read from guest RAM at 0x1000. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "devices/virtio/mmio.h"
#include "devices/virtio/net.h"
#include "mem/gmem.h"
#include "net/backend.h"

#define FUZZ_RAM (64u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_irq_set(void *ctx, bool level)
{
	(void)ctx;
	(void)level;
	return 0;
}

static bool fuzz_full;

static int fuzz_send(struct net_backend *nb, unsigned q, const struct iovec *iov, unsigned cnt)
{
	size_t n = 0;

	(void)nb;
	if (fuzz_full)
		return -EAGAIN;
	for (unsigned i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	if (q != 0 || n > NET_VNET_HDR_LEN + NET_MAX_FRAME)
		abort(); /* the device must never send more than a frame */
	return 0;
}

static void fuzz_kick(struct net_backend *nb, unsigned q)
{
	(void)nb;
	(void)q;
}

static int fuzz_offload(struct net_backend *nb, unsigned o)
{
	(void)nb;
	(void)o;
	return 0;
}

static void fuzz_destroy(struct net_backend *nb)
{
	(void)nb;
}

static const struct net_backend_ops fuzz_ops = {
    .send = fuzz_send, .rx_kick = fuzz_kick, .set_offload = fuzz_offload, .destroy = fuzz_destroy};

static void wr(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	virtio_mmio_io_ops.write(t, off, &v, 4);
}

static void fuzz_driver(struct virtio_mmio *t, uint8_t flags)
{
	uint32_t feat[2] = {0, 0};
	uint32_t qsize = 1u << (flags & 7);

	if (qsize > 16)
		qsize = 16;
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	for (unsigned sel = 0; sel < 2; sel++) {
		wr(t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, sel);
		virtio_mmio_io_ops.read(t, VIRTIO_MMIO_DEVICE_FEATURES, &feat[sel], 4);
	}
	if (!(flags & 0x10))
		feat[0] &= ~(1u << VIRTIO_F_EVENT_IDX);
	if (!(flags & 0x20))
		feat[0] &= ~(1u << VIRTIO_F_INDIRECT_DESC);
	if (!(flags & 0x40))
		feat[0] &= ~(1u << VIRTIO_NET_F_MRG_RXBUF);
	if (!(flags & 0x80))
		feat[0] &= ~((1u << VIRTIO_NET_F_CTRL_VQ) | (1u << VIRTIO_NET_F_CTRL_RX) |
			     (1u << VIRTIO_NET_F_CTRL_MAC_ADDR));
	for (unsigned sel = 0; sel < 2; sel++) {
		wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
		wr(t, VIRTIO_MMIO_DRIVER_FEATURES, feat[sel]);
	}
	wr(t, VIRTIO_MMIO_STATUS, 0x0b);
	for (unsigned q = 0; q < 3; q++) {
		wr(t, VIRTIO_MMIO_QUEUE_SEL, q);
		wr(t, VIRTIO_MMIO_QUEUE_NUM, qsize);
		wr(t, VIRTIO_MMIO_QUEUE_DESC_LOW, q * 0x400);
		wr(t, VIRTIO_MMIO_QUEUE_DRIVER_LOW, q * 0x400 + 0x100);
		wr(t, VIRTIO_MMIO_QUEUE_DEVICE_LOW, q * 0x400 + 0x200);
		wr(t, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	wr(t, VIRTIO_MMIO_STATUS, 0x0f);
}

static void fuzz_run(const struct gmem *m, uint8_t *ram, uint8_t flags, uint8_t rxlen)
{
	struct net_backend nb = {.ops = &fuzz_ops,
				 .kind = "fuzz",
				 .vnet_hdr = flags & 0x08,
				 .offloads = NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6 | NET_OFFLOAD_UFO,
				 .queues = 1};
	struct virtio_net_opts o = {.mac = {0x52, 0x54, 0, 1, 2, 3}, .queue_size = 16};
	struct irq_line irq = {fuzz_irq_set, NULL};
	struct virtio_net *n;
	struct virtio_mmio *t;

	if (virtio_net_create(&n, m, &nb, &o))
		return;
	if (virtio_mmio_create(&t, virtio_net_dev(n), &irq) == 0) {
		struct iovec iov = {ram + 0x1000, (size_t)(rxlen & 0x7f) * 16};

		fuzz_full = rxlen & 0x80;
		fuzz_driver(t, flags);
		wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 2);
		wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
		fuzz_full = false;
		if (nb.fe.tx_ready)
			nb.fe.tx_ready(nb.fe.ctx, 0);
		for (unsigned i = 0; i < 3; i++)
			(void)nb.fe.receive(nb.fe.ctx, 0, &iov, 1);
		wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		wr(t, VIRTIO_MMIO_STATUS, 0);
		virtio_mmio_destroy(t);
	}
	virtio_net_destroy(n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gmem_region r;
	struct gmem *m;
	uint8_t *ram;

	if (size < 2)
		return 0;
	ram = mmap(NULL, FUZZ_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		return 0;
	memcpy(ram, data + 2, KVMM_MIN(size - 2, (size_t)FUZZ_RAM));
	r = (struct gmem_region){0, FUZZ_RAM, ram, 0};
	if (gmem_create(&m, &r, 1) == 0) {
		fuzz_run(m, ram, data[0], data[1]);
		gmem_destroy(m);
	}
	munmap(ram, FUZZ_RAM);
	return 0;
}
