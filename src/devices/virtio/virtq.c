/* devices/virtio/virtq.c — see virtq.h: the split ring, the checks shared with the packed ring
 * (segments, failure), and the dispatch to virtq_packed.c. */
#include "devices/virtio/virtq.h"

#include <errno.h>
#include <string.h>

#include "base/ckd.h"
#include "base/iovbuf.h"
#include "devices/virtio/spec.h"

void virtq_reset(struct virtq *vq)
{
	uint16_t max = vq->max_size;

	memset(vq, 0, sizeof(*vq));
	vq->max_size = max;
	vq->size = max;
}

int virtq_fail(struct virtq *vq, const char *why)
{
	vq->broken = true;
	log_ratelimited(&vq->rl, LOG_WARN, "virtqueue: %s: queue stopped until reset", why);
	return -EINVAL;
}

int virtq_activate(struct virtq *vq, const struct gmem *m, uint64_t features)
{
	uint16_t n = vq->size;

	vq->event_idx = features & (1ull << VIRTIO_F_EVENT_IDX);
	vq->indirect = features & (1ull << VIRTIO_F_INDIRECT_DESC);
	vq->packed = features & (1ull << VIRTIO_F_RING_PACKED);
	if (vq->packed)
		return virtq_packed_activate(vq, m);
	if (n == 0 || !IS_POW2(n) || n > vq->max_size || n > VIRTQ_MAX_SIZE)
		return virtq_fail(vq, "size is not a power of two within the maximum");
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
		return virtq_fail(vq, "ring address misaligned");
	vq->desc = gmem_ptr(m, vq->desc_gpa, VIRTQ_DESC_BYTES(n));
	vq->avail = gmem_ptr(m, vq->avail_gpa, VIRTQ_AVAIL_BYTES(n));
	vq->used = gmem_ptr(m, vq->used_gpa, VIRTQ_USED_BYTES(n));
	if (!vq->desc || !vq->avail || !vq->used)
		return virtq_fail(vq, "ring outside guest RAM");
	vq->mem = m;
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->signalled_valid = false;
	vq->broken = false;
	vq->active = true;
	return 0;
}

int virtq_pending(struct virtq *vq)
{
	uint16_t avail_idx, n;

	if (!vq->active || vq->broken)
		return vq->broken ? -EINVAL : 0;
	if (vq->packed)
		return virtq_packed_pending(vq);
	/* Acquire: pairs with the driver's write barrier between filling ring[] and idx. */
	avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	n = (uint16_t)(avail_idx - vq->last_avail);
	if (n > vq->size)
		return virtq_fail(vq, "avail index moved by more than the queue size");
	return n;
}

/* Walk state: the table being walked (the ring, or one indirect table). */
struct virtq_walk {
	const uint8_t *table;
	uint32_t tsize, hops;
	bool in_indirect;
	struct virtq_segs segs;
};

static int virtq_enter_indirect(struct virtq *vq, struct virtq_walk *w, const struct virtq_desc *d,
				uint16_t *idx)
{
	if (!vq->indirect)
		return virtq_fail(vq, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
	if (w->in_indirect)
		return virtq_fail(vq, "nested indirect table");
	if (d->flags & VIRTQ_DESC_F_NEXT)
		return virtq_fail(vq, "indirect descriptor with NEXT");
	if (d->len == 0 || d->len % 16 || d->len / 16 > VIRTQ_MAX_IOV)
		return virtq_fail(vq, "bad indirect table length");
	w->table = gmem_ptr(vq->mem, d->addr, d->len);
	if (!w->table)
		return virtq_fail(vq, "indirect table outside guest RAM");
	w->tsize = d->len / 16;
	w->hops = 0;
	w->in_indirect = true;
	*idx = 0;
	return 0;
}

int virtq_add_seg(struct virtq *vq, struct virtq_segs *s, uint64_t addr, uint32_t len, bool wr,
		  struct virtq_elem *e)
{
	int err;

	if (!wr && s->seen_write)
		return virtq_fail(vq, "readable descriptor after a writable one");
	s->seen_write |= wr;
	if (len == 0)
		return 0; /* nothing to transfer; not an error */
	if (ckd_add(&s->total, s->total, (uint64_t)len) || s->total > VIRTQ_MAX_CHAIN_BYTES)
		return virtq_fail(vq, "chain too long");
	err = gmem_iov_add(vq->mem, &s->iov, addr, len);
	if (err == -E2BIG)
		return virtq_fail(vq, "too many segments in a chain");
	if (err)
		return virtq_fail(vq, "buffer outside guest RAM");
	if (wr) {
		e->in_len += len;
		e->nin = s->iov.cnt - e->nout;
	} else {
		e->out_len += len;
		e->nout = s->iov.cnt;
	}
	return 0;
}

static int virtq_walk_chain(struct virtq *vq, uint16_t head, struct virtq_elem *e)
{
	struct virtq_walk w = {.table = (const uint8_t *)vq->desc, .tsize = vq->size};
	uint16_t idx = head;
	int err;

	iovbuf_init(&w.segs.iov, e->iov, VIRTQ_MAX_IOV);
	for (;;) {
		struct virtq_desc d;

		if (++w.hops > w.tsize)
			return virtq_fail(vq, "descriptor chain loops");
		memcpy(&d, w.table + (size_t)idx * 16, sizeof(d)); /* copy once, then validate */
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			err = virtq_enter_indirect(vq, &w, &d, &idx);
			if (err)
				return err;
			continue;
		}
		err = virtq_add_seg(vq, &w.segs, d.addr, d.len, d.flags & VIRTQ_DESC_F_WRITE, e);
		if (err)
			return err;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		idx = d.next;
		if (idx >= w.tsize)
			return virtq_fail(vq, "next descriptor index out of range");
	}
}

static uint16_t *virtq_avail_event(struct virtq *vq)
{
	return (uint16_t *)(void *)&vq->used->ring[vq->size];
}

int virtq_pop(struct virtq *vq, struct virtq_elem *e)
{
	uint16_t head;
	int err, n;

	if (vq->packed && vq->active && !vq->broken)
		return virtq_packed_pop(vq, e);
	n = virtq_pending(vq);
	if (n <= 0)
		return n;
	head = __atomic_load_n(&vq->avail->ring[vq->last_avail & (vq->size - 1)], __ATOMIC_RELAXED);
	if (head >= vq->size)
		return virtq_fail(vq, "head descriptor index out of range");
	memset(e, 0, offsetof(struct virtq_elem, iov));
	e->head = head;
	e->id = head;
	err = virtq_walk_chain(vq, head, e);
	if (err)
		return err;
	vq->last_avail++;
	if (vq->event_idx) /* avail_event = last_avail: the next addition notifies us */
		__atomic_store_n(virtq_avail_event(vq), vq->last_avail, __ATOMIC_RELAXED);
	return 1;
}

void virtq_unpop(struct virtq *vq, uint16_t n)
{
	vq->last_avail = (uint16_t)(vq->last_avail - n);
	if (vq->event_idx)
		__atomic_store_n(virtq_avail_event(vq), vq->last_avail, __ATOMIC_RELAXED);
}

void virtq_fill(struct virtq *vq, uint16_t off, uint16_t head, uint32_t len)
{
	struct virtq_used_elem *u =
	    &vq->used->ring[(uint16_t)(vq->used_idx + off) & (vq->size - 1)];

	__atomic_store_n(&u->id, head, __ATOMIC_RELAXED);
	__atomic_store_n(&u->len, len, __ATOMIC_RELAXED);
}

void virtq_flush(struct virtq *vq, uint16_t n)
{
	vq->used_idx = (uint16_t)(vq->used_idx + n);
	/* Release: the elements are visible before the index. */
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
	struct virtq_used_elem *u;

	if (!vq->active)
		return;
	if (vq->packed) {
		virtq_packed_push(vq, head, len);
		return;
	}
	u = &vq->used->ring[vq->used_idx & (vq->size - 1)];
	__atomic_store_n(&u->id, head, __ATOMIC_RELAXED);
	__atomic_store_n(&u->len, len, __ATOMIC_RELAXED);
	vq->used_idx++;
	/* Release: the element is visible before the index; pairs with the driver's read barrier
	 * after loading used->idx. */
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
}

static uint16_t virtq_used_event(struct virtq *vq)
{
	return __atomic_load_n(&vq->avail->ring[vq->size], __ATOMIC_RELAXED);
}

void virtq_set_notify(struct virtq *vq, bool enable)
{
	if (!vq->active)
		return;
	if (vq->packed) {
		virtq_packed_set_notify(vq, enable);
		return;
	}
	if (vq->event_idx) {
		__atomic_store_n(virtq_avail_event(vq),
				 enable ? vq->last_avail : (uint16_t)(vq->last_avail - 1),
				 __ATOMIC_RELAXED);
	} else {
		uint16_t f = __atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED);

		f = enable ? (f & ~VIRTQ_USED_F_NO_NOTIFY) : (f | VIRTQ_USED_F_NO_NOTIFY);
		__atomic_store_n(&vq->used->flags, f, __ATOMIC_RELAXED);
	}
	/* Full barrier: the flag/event write is visible before we re-check avail->idx; pairs
	 * with the driver's barrier between publishing avail->idx and reading our flag. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

bool virtq_should_notify(struct virtq *vq)
{
	uint16_t old, new, event;
	bool valid;

	if (!vq->active)
		return false;
	if (vq->packed)
		return virtq_packed_should_notify(vq);
	/* Full barrier: used->idx is published before we read the driver's suppression state;
	 * pairs with the driver's barrier between writing used_event and reading used->idx. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED) &
			 VIRTQ_AVAIL_F_NO_INTERRUPT);
	old = vq->signalled_used;
	new = vq->used_idx;
	valid = vq->signalled_valid;
	vq->signalled_used = new;
	vq->signalled_valid = true;
	if (!valid)
		return true;
	event = virtq_used_event(vq);
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}
