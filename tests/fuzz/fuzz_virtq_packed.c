/* Fuzz target: the packed-virtqueue chain walk, used-descriptor writes and event suppression.
 * Input: byte 0 = flags: bits 0-3 queue size - 1 (1..16, any size: packed rings need not be a
 * power of two), bit 4 EVENT_IDX, bit 5 INDIRECT_DESC, bits 6-7 how many chains the device
 * keeps in flight before completing them in reverse order (1..4). The rest is guest RAM (64
 * KiB): descriptor ring at 0, driver event suppression at 0x100, device event suppression at
 * 0x200, indirect tables and buffers anywhere. The target pops, touches every segment and
 * pushes until the queue is empty or broken. Nothing may crash, hang or touch memory outside
 * guest RAM (ASan). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "devices/virtio/spec.h"
#include "devices/virtio/virtq.h"
#include "mem/gmem.h"

#define FUZZ_RAM (64u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run(struct virtq *vq, uint8_t flags)
{
	static struct virtq_elem e;
	unsigned keep = 1 + (flags >> 6), n = 0;
	uint16_t heads[4];
	uint32_t lens[4];

	for (int i = 0; i < 64; i++) {
		int r = virtq_pop(vq, &e);

		if (r == 1) {
			for (unsigned j = 0; j < e.nout + e.nin; j++) /* as a device would */
				memset(e.iov[j].iov_base, 0xa5, e.iov[j].iov_len);
			heads[n] = e.head;
			lens[n++] = (uint32_t)e.in_len;
		}
		if (n == keep || r != 1) {
			while (n > 0) {
				n--;
				virtq_push(vq, heads[n], lens[n]);
			}
			(void)virtq_should_notify(vq);
		}
		if (r != 1)
			break;
		virtq_set_notify(vq, i & 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gmem_region r;
	struct gmem *m;
	struct virtq vq;
	uint8_t *ram;
	uint8_t flags;

	if (size < 1)
		return 0;
	flags = data[0];
	ram = mmap(NULL, FUZZ_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		return 0;
	memcpy(ram, data + 1, KVMM_MIN(size - 1, (size_t)FUZZ_RAM));
	r = (struct gmem_region){0, FUZZ_RAM, ram, 0};
	if (gmem_create(&m, &r, 1) == 0) {
		memset(&vq, 0, sizeof(vq));
		vq.max_size = 16;
		virtq_reset(&vq);
		vq.size = (uint16_t)(1 + (flags & 15));
		vq.desc_gpa = 0;
		vq.avail_gpa = 0x100;
		vq.used_gpa = 0x200;
		if (virtq_activate(&vq, m,
				   (1ull << VIRTIO_F_RING_PACKED) |
				       ((flags & 0x10) ? 1ull << VIRTIO_F_EVENT_IDX : 0) |
				       ((flags & 0x20) ? 1ull << VIRTIO_F_INDIRECT_DESC : 0)) == 0)
			run(&vq, flags);
		gmem_destroy(m);
	}
	munmap(ram, FUZZ_RAM);
	return 0;
}
