/* tests/lib/vq_builder.c — see vq_builder.h. */
#include "lib/vq_builder.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void vqb_init(struct vqb *b, uint16_t size)
{
	struct gmem_region r;

	memset(b, 0, sizeof(*b));
	b->ram =
	    mmap(NULL, VQB_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->ram == MAP_FAILED)
		abort();
	r = (struct gmem_region){0, VQB_RAM_SIZE, b->ram, 0};
	if (gmem_create(&b->mem, &r, 1))
		abort();
	b->size = size;
	b->next_data = VQB_DATA_GPA;
	b->vq.max_size = 1024;
	virtq_reset(&b->vq);
	b->vq.size = size;
	b->vq.desc_gpa = VQB_DESC_GPA;
	b->vq.avail_gpa = VQB_AVAIL_GPA;
	b->vq.used_gpa = VQB_USED_GPA;
}

void vqb_fini(struct vqb *b)
{
	gmem_destroy(b->mem);
	munmap(b->ram, VQB_RAM_SIZE);
}

int vqb_activate(struct vqb *b, bool event_idx, bool indirect)
{
	return virtq_activate(&b->vq, b->mem,
			      (event_idx ? 1ull << VIRTIO_F_EVENT_IDX : 0) |
				  (indirect ? 1ull << VIRTIO_F_INDIRECT_DESC : 0));
}

void *vqb_host(struct vqb *b, uint64_t gpa)
{
	return b->ram + gpa;
}

struct virtq_desc *vqb_desc(struct vqb *b, uint16_t i)
{
	return (struct virtq_desc *)vqb_host(b, VQB_DESC_GPA + (uint64_t)i * 16);
}

void vqb_set_avail_idx(struct vqb *b, uint16_t idx)
{
	struct virtq_avail *a = vqb_host(b, VQB_AVAIL_GPA);

	b->avail_idx = idx;
	a->idx = idx;
}

void vqb_publish(struct vqb *b, uint16_t head)
{
	struct virtq_avail *a = vqb_host(b, VQB_AVAIL_GPA);

	a->ring[b->avail_idx % b->size] = head;
	vqb_set_avail_idx(b, (uint16_t)(b->avail_idx + 1));
}

static void vqb_fill(struct vqb *b, struct virtq_desc *table, struct vqb_seg *segs, unsigned n,
		     uint16_t first)
{
	for (unsigned i = 0; i < n; i++) {
		struct virtq_desc *d = &table[i];

		if (!segs[i].gpa) {
			segs[i].gpa = b->next_data;
			b->next_data += (segs[i].len + 15) & ~15ull;
		}
		d->addr = segs[i].gpa;
		d->len = segs[i].len;
		d->flags =
		    (segs[i].write ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
		d->next = (uint16_t)(first + i + 1);
	}
}

uint16_t vqb_add_chain(struct vqb *b, struct vqb_seg *segs, unsigned n, bool indirect)
{
	uint16_t head = b->next_desc;

	if (indirect) {
		uint64_t tgpa = b->next_data;
		struct virtq_desc *d = vqb_desc(b, head);

		b->next_data += (uint64_t)n * 16;
		vqb_fill(b, vqb_host(b, tgpa), segs, n, 0);
		d->addr = tgpa;
		d->len = n * 16;
		d->flags = VIRTQ_DESC_F_INDIRECT;
		d->next = 0;
		b->next_desc = (uint16_t)((head + 1) % b->size);
	} else {
		struct virtq_desc tmp[64];

		vqb_fill(b, tmp, segs, n, head);
		for (unsigned i = 0; i < n; i++) {
			tmp[i].next %= b->size;
			*vqb_desc(b, (uint16_t)((head + i) % b->size)) = tmp[i];
		}
		b->next_desc = (uint16_t)((head + n) % b->size);
	}
	vqb_publish(b, head);
	return head;
}

uint16_t vqb_used_idx(struct vqb *b)
{
	return ((struct virtq_used *)vqb_host(b, VQB_USED_GPA))->idx;
}

struct virtq_used_elem vqb_used_elem(struct vqb *b, uint16_t i)
{
	return ((struct virtq_used *)vqb_host(b, VQB_USED_GPA))->ring[i % b->size];
}

void vqb_set_used_event(struct vqb *b, uint16_t v)
{
	struct virtq_avail *a = vqb_host(b, VQB_AVAIL_GPA);

	a->ring[b->size] = v;
}
