/* devices/virtio/virtq_packed.c — the device side of a packed virtqueue (virtio 1.2 §2.8),
 * reached through the virtq_* calls in virtq.c when VIRTIO_F_RING_PACKED was negotiated.
 *
 * The descriptor ring is shared both ways: the driver marks a descriptor available by setting
 * AVAIL to its wrap counter and USED to the inverse; the device marks a used descriptor by
 * setting both to its own wrap counter. A chain is a run of consecutive ring descriptors with
 * NEXT on all but the last (which carries the buffer ID), or one descriptor (alone, without
 * NEXT) pointing to an indirect table whose entries are all used in order. Chains may be returned
 * in any order: the used descriptor goes to the next used position, which then advances by the
 * number of ring descriptors of that chain.
 *
 * Hostile-driver bounds: every descriptor of a chain must be available in the current lap; a
 * chain has at most `size` ring descriptors; the descriptors in flight (popped, not pushed)
 * never exceed `size` (a driver that re-offers descriptors the device still owns breaks the
 * queue); indirect tables as in the split ring (one level, len % 16 == 0, ≤ 1024 entries,
 * inside RAM). Each descriptor is copied once after an acquire load of its flags.
 * Same threading as virtq.c. */
#include <errno.h>
#include <string.h>

#include "devices/virtio/spec.h"
#include "devices/virtio/virtq.h"

int virtq_packed_activate(struct virtq *vq, const struct gmem *m)
{
	struct virtq_packed *pk = &vq->pk;
	uint16_t n = vq->size;

	/* §2.8.10.1: the queue size need not be a power of two. */
	if (n == 0 || n > vq->max_size || n > VIRTQ_MAX_SIZE)
		return virtq_fail(vq, "packed queue size is zero or above the maximum");
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 3) || (vq->used_gpa & 3))
		return virtq_fail(vq, "packed ring address misaligned");
	pk->desc = gmem_ptr(m, vq->desc_gpa, (uint64_t)n * sizeof(struct pvirtq_desc));
	pk->driver_evt = gmem_ptr(m, vq->avail_gpa, sizeof(struct pvirtq_event_suppress));
	pk->device_evt = gmem_ptr(m, vq->used_gpa, sizeof(struct pvirtq_event_suppress));
	if (!pk->desc || !pk->driver_evt || !pk->device_evt)
		return virtq_fail(vq, "packed ring outside guest RAM");
	vq->mem = m;
	pk->next_avail = pk->next_used = 0;
	pk->avail_wrap = pk->used_wrap = true;
	pk->inflight = 0;
	pk->nfree = n;
	for (uint16_t i = 0; i < n; i++) {
		pk->free_slot[i] = (uint16_t)(n - 1 - i); /* slot 0 is handed out first */
		pk->slot_ndesc[i] = 0;
	}
	vq->signalled_valid = false;
	vq->broken = false;
	vq->active = true;
	return 0;
}

/* Is a descriptor with these flags available to the device in the lap with counter `wrap`? */
static bool desc_avail(uint16_t flags, bool wrap)
{
	return !!(flags & VIRTQ_DESC_F_AVAIL) == wrap && !!(flags & VIRTQ_DESC_F_USED) != wrap;
}

/* Copy ring descriptor `pos`: acquire-load its flags (pairs with the driver's release/barrier
 * before it writes the flags), then copy the whole descriptor once. */
static void read_desc(const struct virtq_packed *pk, uint16_t pos, struct pvirtq_desc *d)
{
	(void)__atomic_load_n(&pk->desc[pos].flags, __ATOMIC_ACQUIRE);
	memcpy(d, &pk->desc[pos], sizeof(*d));
}

int virtq_packed_pending(struct virtq *vq)
{
	struct virtq_packed *pk = &vq->pk;
	uint16_t f = __atomic_load_n(&pk->desc[pk->next_avail].flags, __ATOMIC_ACQUIRE);

	return desc_avail(f, pk->avail_wrap) ? 1 : 0;
}

/* The entries of an indirect table, in order (NEXT is ignored inside a packed table). */
static int walk_indirect(struct virtq *vq, struct virtq_segs *s, const struct pvirtq_desc *d,
			 struct virtq_elem *e)
{
	const struct pvirtq_desc *table;
	uint32_t n;
	int err;

	if (!vq->indirect)
		return virtq_fail(vq, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
	if (d->flags & VIRTQ_DESC_F_NEXT)
		return virtq_fail(vq, "indirect descriptor with NEXT");
	if (d->len == 0 || d->len % 16 || d->len / 16 > VIRTQ_MAX_IOV)
		return virtq_fail(vq, "bad indirect table length");
	table = gmem_ptr(vq->mem, d->addr, d->len);
	if (!table)
		return virtq_fail(vq, "indirect table outside guest RAM");
	n = d->len / 16;
	for (uint32_t i = 0; i < n; i++) {
		struct pvirtq_desc t;

		memcpy(&t, &table[i], sizeof(t)); /* copy once, then validate */
		if (t.flags & VIRTQ_DESC_F_INDIRECT)
			return virtq_fail(vq, "nested indirect table");
		err = virtq_add_seg(vq, s, t.addr, t.len, t.flags & VIRTQ_DESC_F_WRITE, e);
		if (err)
			return err;
	}
	return 0;
}

int virtq_packed_pop(struct virtq *vq, struct virtq_elem *e)
{
	struct virtq_packed *pk = &vq->pk;
	struct virtq_segs s = {0};
	uint16_t pos = pk->next_avail, ndesc = 0, id, slot;
	bool wrap = pk->avail_wrap;
	struct pvirtq_desc d;
	int err;

	read_desc(pk, pos, &d);
	if (!desc_avail(d.flags, wrap))
		return 0;
	memset(e, 0, offsetof(struct virtq_elem, iov));
	iovbuf_init(&s.iov, e->iov, VIRTQ_MAX_IOV);
	for (;;) {
		if (ndesc == vq->size)
			return virtq_fail(vq, "packed chain longer than the queue");
		if (ndesc > 0) {
			read_desc(pk, pos, &d);
			if (!desc_avail(d.flags, wrap))
				return virtq_fail(vq, "packed chain runs into a descriptor that is "
						      "not available");
		}
		ndesc++;
		if (++pos == vq->size) {
			pos = 0;
			wrap = !wrap;
		}
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/* §2.8.8: a list holds direct or one indirect descriptor, not both */
			if (ndesc > 1)
				return virtq_fail(vq, "indirect descriptor inside a packed chain");
			err = walk_indirect(vq, &s, &d, e);
			if (err)
				return err;
			break;
		}
		err = virtq_add_seg(vq, &s, d.addr, d.len, d.flags & VIRTQ_DESC_F_WRITE, e);
		if (err)
			return err;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
	}
	id = d.id; /* the buffer ID is in the last descriptor (§2.8.6) */
	if (pk->nfree == 0 || (uint32_t)pk->inflight + ndesc > vq->size)
		return virtq_fail(vq, "more packed descriptors in flight than the queue size");
	slot = pk->free_slot[--pk->nfree];
	pk->slot_id[slot] = id;
	pk->slot_ndesc[slot] = ndesc;
	pk->inflight = (uint16_t)(pk->inflight + ndesc);
	pk->next_avail = pos;
	pk->avail_wrap = wrap;
	e->head = slot;
	e->id = id;
	return 1;
}

/* Used positions as one number modulo 2 * size: lap with wrap counter 1 first. */
static uint32_t used_linear(const struct virtq *vq, uint16_t pos, bool wrap)
{
	return pos + (wrap ? 0u : vq->size);
}

void virtq_packed_push(struct virtq *vq, uint16_t slot, uint32_t len)
{
	struct virtq_packed *pk = &vq->pk;
	struct pvirtq_desc *u;
	uint16_t ndesc, flags;

	if (slot >= vq->size || pk->slot_ndesc[slot] == 0) {
		log_ratelimited(&vq->rl, LOG_ERR, "virtqueue: push of slot %u not in flight", slot);
		return;
	}
	ndesc = pk->slot_ndesc[slot];
	u = &pk->desc[pk->next_used];
	__atomic_store_n(&u->id, pk->slot_id[slot], __ATOMIC_RELAXED);
	__atomic_store_n(&u->len, len, __ATOMIC_RELAXED);
	flags = (uint16_t)((pk->used_wrap ? VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED : 0) |
			   (len ? VIRTQ_DESC_F_WRITE : 0));
	/* Release: id and len are visible before the flags that hand the descriptor back;
	 * pairs with the driver's read barrier after it sees the used flags. */
	__atomic_store_n(&u->flags, flags, __ATOMIC_RELEASE);
	pk->next_used = (uint16_t)(pk->next_used + ndesc);
	if (pk->next_used >= vq->size) {
		pk->next_used = (uint16_t)(pk->next_used - vq->size);
		pk->used_wrap = !pk->used_wrap;
	}
	pk->inflight = (uint16_t)(pk->inflight - ndesc);
	pk->slot_ndesc[slot] = 0;
	pk->free_slot[pk->nfree++] = slot;
}

void virtq_packed_set_notify(struct virtq *vq, bool enable)
{
	/* ENABLE rather than a descriptor event even with EVENT_IDX: always correct, and no
	 * offset to keep up to date on every pop. */
	__atomic_store_n(&vq->pk.device_evt->flags,
			 enable ? RING_EVENT_FLAGS_ENABLE : RING_EVENT_FLAGS_DISABLE,
			 __ATOMIC_RELAXED);
	/* Full barrier: the flag is visible before the device re-checks the ring; pairs with the
	 * driver's barrier between making a descriptor available and reading our flags. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

bool virtq_packed_should_notify(struct virtq *vq)
{
	struct virtq_packed *pk = &vq->pk;
	uint32_t two = 2u * vq->size, old, new, event;
	uint16_t flags, off_wrap;
	bool valid;

	/* Full barrier: the used descriptors are published before we read the driver's event
	 * suppression; pairs with the driver's barrier between writing it and reading the ring. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	flags = __atomic_load_n(&pk->driver_evt->flags, __ATOMIC_RELAXED) & 3;
	off_wrap = __atomic_load_n(&pk->driver_evt->desc, __ATOMIC_RELAXED);
	old = vq->signalled_used;
	new = used_linear(vq, pk->next_used, pk->used_wrap);
	valid = vq->signalled_valid;
	vq->signalled_used = (uint16_t) new;
	vq->signalled_valid = true;
	if (flags == RING_EVENT_FLAGS_DISABLE)
		return false;
	if (flags != RING_EVENT_FLAGS_DESC || !vq->event_idx || !valid)
		return true; /* ENABLE, the reserved value, or DESC without EVENT_IDX */
	/* Notify if the used position passed the driver's (offset, wrap) since the last
	 * notification: event ∈ [old, new) modulo 2 * size. */
	event = used_linear(vq, off_wrap & 0x7fff, off_wrap >> RING_EVENT_WRAP_SHIFT) % two;
	return (event + two - old) % two < (new + two - old) % two;
}
