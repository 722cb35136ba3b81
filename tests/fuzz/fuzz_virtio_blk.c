/* Fuzz target: the virtio-blk request parser and executor. The input supplies the descriptor
 * table, the avail ring, indirect tables, request headers, DISCARD/WRITE_ZEROES segments and data
 * of one queue in 64 KiB of guest RAM (as fuzz_virtq.c lays it out); the device runs it against
 * a 64 KiB raw disk in a memfd through the virtio-mmio transport. Nothing may crash, hang, touch
 * memory outside guest RAM (ASan) or write outside the disk.
 *
 * Input: byte 0 = flags: bits 0-2 log2 queue size (capped at 16), bit 3 read-only, bit 4
 * EVENT_IDX, bit 5 INDIRECT_DESC, bit 6 DISCARD + WRITE_ZEROES offered, bit 7 two queues
 * (notify both). The rest is copied to guest address 0: desc at 0, avail at 0x100, used at
 * 0x200, anything else from 0x400. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/disk.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/mmio.h"
#include "mem/gmem.h"

#define FUZZ_RAM  (64u << 10)
#define FUZZ_DISK (64u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

static void fuzz_driver(struct virtio_mmio *t, uint8_t flags, unsigned nq)
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
	feat[1] &= ~(1u << (VIRTIO_F_RING_PACKED - 32)); /* split; fuzz_virtq_packed: packed */
	for (unsigned sel = 0; sel < 2; sel++) {
		wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
		wr(t, VIRTIO_MMIO_DRIVER_FEATURES, feat[sel]);
	}
	wr(t, VIRTIO_MMIO_STATUS, 0x0b);
	for (unsigned q = 0; q < nq; q++) {
		/* both queues share the rings: the device must cope with a hostile driver */
		wr(t, VIRTIO_MMIO_QUEUE_SEL, q);
		wr(t, VIRTIO_MMIO_QUEUE_NUM, qsize);
		wr(t, VIRTIO_MMIO_QUEUE_DESC_LOW, 0);
		wr(t, VIRTIO_MMIO_QUEUE_DRIVER_LOW, 0x100);
		wr(t, VIRTIO_MMIO_QUEUE_DEVICE_LOW, 0x200);
		wr(t, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	wr(t, VIRTIO_MMIO_STATUS, 0x0f);
}

static void fuzz_run(const struct gmem *m, struct disk *d, uint8_t flags)
{
	struct virtio_blk_opts o = {.serial = "fuzz",
				    .readonly = flags & 0x08,
				    .discard = flags & 0x40,
				    .write_zeroes = flags & 0x40,
				    .queues = (flags & 0x80) ? 2 : 1,
				    .queue_size = 16};
	struct irq_line irq = {fuzz_irq_set, NULL};
	struct virtio_blk *b;
	struct virtio_mmio *t;

	if (virtio_blk_create(&b, m, d, &o))
		return;
	if (virtio_mmio_create(&t, virtio_blk_dev(b), &irq) == 0) {
		fuzz_driver(t, flags, o.queues);
		for (unsigned q = 0; q < o.queues; q++)
			wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, q);
		wr(t, VIRTIO_MMIO_STATUS, 0);
		virtio_mmio_destroy(t);
	}
	virtio_blk_destroy(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct disk_open_opts dopts = {.format = "raw"};
	struct gmem_region r;
	struct disk *d;
	struct gmem *m;
	char path[64];
	uint8_t *ram;
	int fd;

	if (size < 1)
		return 0;
	fd = memfd_create("fuzz-vblk", 0);
	if (fd < 0)
		return 0;
	if (ftruncate(fd, FUZZ_DISK))
		goto out_close;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (disk_open(path, &dopts, &d))
		goto out_close;
	ram = mmap(NULL, FUZZ_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		goto out_disk;
	memcpy(ram, data + 1, KVMM_MIN(size - 1, (size_t)FUZZ_RAM));
	r = (struct gmem_region){0, FUZZ_RAM, ram, 0};
	if (gmem_create(&m, &r, 1) == 0) {
		fuzz_run(m, d, data[0]);
		gmem_destroy(m);
	}
	munmap(ram, FUZZ_RAM);
	/* the disk never grows: every write was range-checked */
	if (lseek(fd, 0, SEEK_END) != FUZZ_DISK)
		abort();
out_disk:
	disk_close(d);
out_close:
	close(fd);
	return 0;
}
