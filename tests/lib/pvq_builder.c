/* tests/lib/pvq_builder.c — see pvq_builder.h. */
#include "lib/pvq_builder.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void pvqb_init(struct pvqb *b, uint16_t size)
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
	b->avail_wrap = b->used_wrap = true;
	b->vq.max_size = 1024;
	virtq_reset(&b->vq);
	b->vq.size = size;
	b->vq.desc_gpa = VQB_DESC_GPA;
	b->vq.avail_gpa = VQB_AVAIL_GPA; /* driver event suppression */
	b->vq.used_gpa = VQB_USED_GPA;	 /* device event suppression */
}

void pvqb_fini(struct pvqb *b)
{
	gmem_destroy(b->mem);
	munmap(b->ram, VQB_RAM_SIZE);
}

int pvqb_activate(struct pvqb *b, bool event_idx, bool indirect)
{
	return virtq_activate(&b->vq, b->mem,
			      (1ull << VIRTIO_F_RING_PACKED) |
				  (event_idx ? 1ull << VIRTIO_F_EVENT_IDX : 0) |
				  (indirect ? 1ull << VIRTIO_F_INDIRECT_DESC : 0));
}

void *pvqb_host(struct pvqb *b, uint64_t gpa)
{
	return b->ram + gpa;
}

struct pvirtq_desc *pvqb_desc(struct pvqb *b, uint16_t i)
{
	return (struct pvirtq_desc *)pvqb_host(b, VQB_DESC_GPA + (uint64_t)i * 16);
}

struct pvirtq_event_suppress *pvqb_driver_evt(struct pvqb *b)
{
	return pvqb_host(b, VQB_AVAIL_GPA);
}

struct pvirtq_event_suppress *pvqb_device_evt(struct pvqb *b)
{
	return pvqb_host(b, VQB_USED_GPA);
}

static uint16_t lap_bits(bool wrap)
{
	return wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED;
}

void pvqb_put_raw(struct pvqb *b, uint64_t addr, uint32_t len, uint16_t flags, uint16_t id,
		  bool wrong_bits)
{
	struct pvirtq_desc *d = pvqb_desc(b, b->next_avail);

	d->addr = addr;
	d->len = len;
	d->id = id;
	d->flags = (uint16_t)(flags | lap_bits(wrong_bits ? !b->avail_wrap : b->avail_wrap));
	if (++b->next_avail == b->size) {
		b->next_avail = 0;
		b->avail_wrap = !b->avail_wrap;
	}
}

static uint64_t alloc(struct pvqb *b, uint32_t len)
{
	uint64_t g = b->next_data;

	b->next_data += (len + 15) & ~15ull;
	if (b->next_data > VQB_RAM_SIZE - 0x10000) /* recycle: tests do not keep old data */
		b->next_data = VQB_DATA_GPA;
	return g;
}

void pvqb_add_chain(struct pvqb *b, struct vqb_seg *segs, unsigned n, bool indirect, uint16_t id)
{
	uint16_t head = b->next_avail, head_flags = 0;
	unsigned nring = indirect ? 1 : n;

	for (unsigned i = 0; i < n; i++)
		if (!segs[i].gpa)
			segs[i].gpa = alloc(b, segs[i].len);
	if (indirect) {
		uint64_t tgpa = alloc(b, n * 16);
		struct pvirtq_desc *t = pvqb_host(b, tgpa);

		for (unsigned i = 0; i < n; i++)
			t[i] = (struct pvirtq_desc){segs[i].gpa, segs[i].len, 0,
						    segs[i].write ? VIRTQ_DESC_F_WRITE : 0};
		head_flags = VIRTQ_DESC_F_INDIRECT | lap_bits(b->avail_wrap);
		pvqb_put_raw(b, tgpa, n * 16, VIRTQ_DESC_F_INDIRECT, id, false);
	} else {
		for (unsigned i = 0; i < n; i++) {
			uint16_t f = (uint16_t)((segs[i].write ? VIRTQ_DESC_F_WRITE : 0) |
						(i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));

			if (i == 0)
				head_flags = (uint16_t)(f | lap_bits(b->avail_wrap));
			pvqb_put_raw(b, segs[i].gpa, segs[i].len, f, id, false);
		}
	}
	/* As a driver does: the head becomes available last. */
	pvqb_desc(b, head)->flags = 0;
	if (id < 1024)
		b->ndesc_of[id] = (uint16_t)nring;
	__atomic_store_n(&pvqb_desc(b, head)->flags, head_flags, __ATOMIC_RELEASE);
}

bool pvqb_get_used(struct pvqb *b, uint16_t *id, uint32_t *len, uint16_t *flags)
{
	struct pvirtq_desc *d = pvqb_desc(b, b->next_used);
	uint16_t f = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE);
	bool avail = f & VIRTQ_DESC_F_AVAIL, used = f & VIRTQ_DESC_F_USED;

	if (avail != used || used != b->used_wrap)
		return false;
	*id = d->id;
	*len = d->len;
	*flags = f;
	b->next_used =
	    (uint16_t)(b->next_used + (*id < 1024 && b->ndesc_of[*id] ? b->ndesc_of[*id] : 1));
	if (b->next_used >= b->size) {
		b->next_used = (uint16_t)(b->next_used - b->size);
		b->used_wrap = !b->used_wrap;
	}
	return true;
}
