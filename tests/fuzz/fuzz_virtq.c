/* Fuzz target: the split-virtqueue chain walk. The input supplies the descriptor table, the
 * avail ring and indirect tables of a 16-entry queue in 64 KiB of guest RAM; the target pops
 * and pushes until the queue is empty or broken. Nothing may crash, hang or touch memory
 * outside guest RAM (ASan). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "devices/virtio/spec.h"
#include "devices/virtio/virtq.h"
#include "mem/gmem.h"

#define FUZZ_RAM (64u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_elem e;
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
	/* desc at 0, avail at 0x100, used at 0x200, the rest of the input at 0x400.. */
	memcpy(ram, data + 1, KVMM_MIN(size - 1, (size_t)FUZZ_RAM));
	r = (struct gmem_region){0, FUZZ_RAM, ram, 0};
	if (gmem_create(&m, &r, 1) == 0) {
		memset(&vq, 0, sizeof(vq));
		vq.max_size = 16;
		virtq_reset(&vq);
		vq.size = (uint16_t)(1u << (flags & 7)) > 16 ? 16 : (uint16_t)(1u << (flags & 7));
		vq.desc_gpa = 0;
		vq.avail_gpa = 0x100;
		vq.used_gpa = 0x200;
		if (virtq_activate(&vq, m,
				   ((flags & 0x10) ? 1ull << VIRTIO_F_EVENT_IDX : 0) |
				       ((flags & 0x20) ? 1ull << VIRTIO_F_INDIRECT_DESC : 0)) ==
		    0) {
			for (int i = 0; i < 64 && virtq_pop(&vq, &e) == 1; i++) {
				/* touch every segment as a device would */
				for (unsigned j = 0; j < e.nout + e.nin; j++)
					memset(e.iov[j].iov_base, 0xa5, e.iov[j].iov_len);
				virtq_push(&vq, e.head, (uint32_t)e.in_len);
				(void)virtq_should_notify(&vq);
			}
		}
		gmem_destroy(m);
	}
	munmap(ram, FUZZ_RAM);
	return 0;
}
