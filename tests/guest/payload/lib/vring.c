/* tests/guest/payload/lib/vring.c — the driver side of one virtqueue for the payload drivers,
 * split (virtio 1.2 §2.7) or packed (§2.8), transport-independent: the caller sets up the
 * queue registers (desc at gpa, driver area at +0x1000, device area at +0x2000) and notifies.
 * packed=1 on the command line selects the packed layout (vring_features_hi, vring_want_packed).
 * Descriptors are handed out in ring order; at most `size` descriptors may be outstanding. */
#include "payload.h"

#define F_NEXT	   1
#define F_WRITE	   2
#define F_INDIRECT 4
#define F_AVAIL	   (1u << 7)
#define F_USED	   (1u << 15)

struct split_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct packed_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id, flags;
};

static void mb(void)
{
	__asm__ volatile("mfence" ::: "memory");
}

bool vring_want_packed(void)
{
	return cmdline_u64("packed", 0) != 0;
}

uint32_t vring_features_hi(uint32_t offered_hi)
{
	const uint32_t packed = 1u << (34 - 32); /* VIRTIO_F_RING_PACKED */

	if (!vring_want_packed())
		return 1;
	check(offered_hi & packed, "device offers VIRTIO_F_RING_PACKED");
	return 1 | (offered_hi & packed);
}

void vring_init(struct vring *r, uint16_t size, uint64_t gpa, bool packed)
{
	memset(r, 0, sizeof(*r));
	r->size = size;
	r->gpa = gpa;
	r->packed = packed;
	r->avail_wrap = r->used_wrap = true;
	memset((void *)gpa, 0, 0x3000 + (uint64_t)VRING_MAX * VRING_TABLE_MAX * 16);
}

/* The indirect table for a chain whose ring descriptor is at `pos`. */
static uint64_t table_gpa(const struct vring *r, uint16_t pos)
{
	return r->gpa + 0x3000 + (uint64_t)pos * VRING_TABLE_MAX * 16;
}

void vring_set_interrupts(struct vring *r, bool on)
{
	/* split: avail->flags NO_INTERRUPT; packed: driver event suppression flags DISABLE */
	volatile uint16_t *flags = (volatile uint16_t *)(r->gpa + 0x1000 + (r->packed ? 2 : 0));

	*flags = on ? 0 : 1;
	mb();
}

/* `extra`: flags for every ring descriptor (F_INDIRECT for a table). */
static uint16_t add_split(struct vring *r, const struct vring_seg *s, unsigned n, uint16_t extra)
{
	volatile struct split_desc *d = (volatile struct split_desc *)r->gpa;
	volatile uint16_t *avail = (volatile uint16_t *)(r->gpa + 0x1000);
	uint16_t head = r->next_avail;

	for (unsigned i = 0; i < n; i++) {
		uint16_t pos = (uint16_t)((head + i) % r->size);

		d[pos].addr = s[i].addr;
		d[pos].len = s[i].len;
		d[pos].flags =
		    (uint16_t)((s[i].write ? F_WRITE : 0) | (i + 1 < n ? F_NEXT : 0) | extra);
		d[pos].next = (uint16_t)((pos + 1) % r->size);
	}
	r->next_avail = (uint16_t)((head + n) % r->size);
	avail[2 + r->avail_idx % r->size] = head;
	mb();
	r->avail_idx++;
	avail[1] = r->avail_idx;
	mb();
	return head;
}

/* As Linux does: every descriptor carries the ID and this lap's AVAIL/USED bits; the head's
 * flags are written last, after a barrier. */
static uint16_t add_packed(struct vring *r, const struct vring_seg *s, unsigned n, uint16_t extra)
{
	volatile struct packed_desc *d = (volatile struct packed_desc *)r->gpa;
	uint16_t head = r->next_avail, id = head, head_flags = 0;

	for (unsigned i = 0; i < n; i++) {
		uint16_t pos = r->next_avail;
		uint16_t f = (uint16_t)((s[i].write ? F_WRITE : 0) | (i + 1 < n ? F_NEXT : 0) |
					(r->avail_wrap ? F_AVAIL : F_USED) | extra);

		d[pos].addr = s[i].addr;
		d[pos].len = s[i].len;
		d[pos].id = id;
		if (i == 0)
			head_flags = f;
		else
			d[pos].flags = f;
		if (++r->next_avail == r->size) {
			r->next_avail = 0;
			r->avail_wrap = !r->avail_wrap;
		}
	}
	r->ndesc[id % VRING_MAX] = (uint16_t)n;
	mb();
	d[head].flags = head_flags;
	mb();
	return id;
}

uint16_t vring_add(struct vring *r, const struct vring_seg *s, unsigned n)
{
	return r->packed ? add_packed(r, s, n, 0) : add_split(r, s, n, 0);
}

uint16_t vring_add_indirect(struct vring *r, const struct vring_seg *s, unsigned n)
{
	uint64_t t = table_gpa(r, r->next_avail);
	struct vring_seg ring = {t, n * 16, false};

	if (r->packed) {
		volatile struct packed_desc *d = (volatile struct packed_desc *)t;

		for (unsigned i = 0; i < n; i++) { /* used in order; only WRITE is valid here */
			d[i].addr = s[i].addr;
			d[i].len = s[i].len;
			d[i].id = 0;
			d[i].flags = s[i].write ? F_WRITE : 0;
		}
		return add_packed(r, &ring, 1, F_INDIRECT);
	}
	volatile struct split_desc *d = (volatile struct split_desc *)t;

	for (unsigned i = 0; i < n; i++) {
		d[i].addr = s[i].addr;
		d[i].len = s[i].len;
		d[i].flags = (uint16_t)((s[i].write ? F_WRITE : 0) | (i + 1 < n ? F_NEXT : 0));
		d[i].next = (uint16_t)(i + 1);
	}
	return add_split(r, &ring, 1, F_INDIRECT);
}
bool vring_get_used(struct vring *r, uint16_t *id, uint32_t *len)
{
	if (r->packed) {
		volatile struct packed_desc *d = (volatile struct packed_desc *)r->gpa;
		uint16_t f = d[r->next_used].flags;
		bool avail = f & F_AVAIL, used = f & F_USED;

		if (avail != used || used != r->used_wrap)
			return false;
		mb();
		*id = d[r->next_used].id;
		*len = d[r->next_used].len;
		r->next_used = (uint16_t)(r->next_used + r->ndesc[*id % VRING_MAX]);
		if (r->next_used >= r->size) {
			r->next_used = (uint16_t)(r->next_used - r->size);
			r->used_wrap = !r->used_wrap;
		}
		return true;
	} else {
		volatile uint16_t *used = (volatile uint16_t *)(r->gpa + 0x2000);
		volatile uint32_t *elem;

		if (used[1] == r->used_idx)
			return false;
		mb();
		elem = (volatile uint32_t *)(used + 2) + 2 * (r->used_idx % r->size);
		*id = (uint16_t)elem[0];
		*len = elem[1];
		r->used_idx++;
		return true;
	}
}
