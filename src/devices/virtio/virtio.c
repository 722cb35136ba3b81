/* devices/virtio/virtio.c — see virtio.h. */
#include "devices/virtio/virtio.h"

#include <errno.h>
#include <string.h>

int virtio_dev_init(struct virtio_dev *vd, const struct virtio_dev_ops *ops, const struct gmem *mem)
{
	if (!ops || ops->num_queues == 0 || ops->num_queues > VIRTIO_MAX_QUEUES ||
	    !IS_POW2(ops->max_queue_size) || ops->max_queue_size > VIRTQ_MAX_SIZE)
		return -EINVAL;
	memset(vd, 0, sizeof(*vd));
	vd->ops = ops;
	vd->mem = mem;
	vd->num_queues = ops->num_queues;
	pthread_mutex_init(&vd->lock, NULL);
	for (unsigned i = 0; i < vd->num_queues; i++) {
		vd->vq[i].max_size = ops->max_queue_size;
		virtq_reset(&vd->vq[i]);
	}
	return 0;
}

void virtio_dev_fini(struct virtio_dev *vd)
{
	pthread_mutex_destroy(&vd->lock);
}

uint64_t virtio_offered_features(const struct virtio_dev *vd)
{
	/* Packed rings (virtq_packed.c): only for the models that list VIRTIO_F_RING_PACKED
	 * (those that use only virtq_pop/virtq_push), and only when the VMM asked for them. */
	uint64_t f = vd->ops->features | (1ull << VIRTIO_F_VERSION_1);

	if (!vd->offer_packed)
		f &= ~(1ull << VIRTIO_F_RING_PACKED);
	return f;
}

void virtio_dev_offer_packed(struct virtio_dev *vd, bool on)
{
	vd->offer_packed = on;
}

void virtio_set_driver_features(struct virtio_dev *vd, unsigned sel, uint32_t val)
{
	uint64_t mask, v;

	if (sel > 1)
		return;
	pthread_mutex_lock(&vd->lock);
	if (!(vd->status & VIRTIO_STATUS_FEATURES_OK)) {
		mask = 0xffffffffull << (32 * sel);
		v = ((uint64_t)val << (32 * sel)) & virtio_offered_features(vd);
		vd->acked_features = (vd->acked_features & ~mask) | v;
	}
	pthread_mutex_unlock(&vd->lock);
}

static void virtio_reset(struct virtio_dev *vd)
{
	if (vd->ops->reset && (vd->status & VIRTIO_STATUS_DRIVER_OK))
		vd->ops->reset(vd);
	vd->status = 0;
	vd->acked_features = 0;
	for (unsigned i = 0; i < vd->num_queues; i++)
		virtq_reset(&vd->vq[i]);
}

static bool has_feature(const struct virtio_dev *vd, unsigned bit)
{
	return vd->acked_features & (1ull << bit);
}

static int virtio_activate(struct virtio_dev *vd)
{
	for (unsigned i = 0; i < vd->num_queues; i++) {
		if (!vd->vq[i].ready)
			continue;
		if (virtq_activate(&vd->vq[i], vd->mem, vd->acked_features))
			return -EINVAL;
	}
	return vd->ops->activate ? vd->ops->activate(vd) : 0;
}

static void virtio_set_status_locked(struct virtio_dev *vd, uint8_t st);

void virtio_set_status(struct virtio_dev *vd, uint8_t st)
{
	pthread_mutex_lock(&vd->lock);
	virtio_set_status_locked(vd, st);
	pthread_mutex_unlock(&vd->lock);
}

static void virtio_set_status_locked(struct virtio_dev *vd, uint8_t st)
{
	uint8_t old = vd->status, added = st & ~old;

	if (st == 0) {
		virtio_reset(vd);
		return;
	}
	if (st & VIRTIO_STATUS_FAILED) {
		vd->status |= VIRTIO_STATUS_FAILED;
		return;
	}
	/* Bits may only be added, in order (§3.1.1); NEEDS_RESET is the device's to set. */
	if ((old & ~st & ~VIRTIO_STATUS_NEEDS_RESET) || (added & VIRTIO_STATUS_NEEDS_RESET))
		goto bad;
	if ((added & VIRTIO_STATUS_DRIVER) && !(st & VIRTIO_STATUS_ACKNOWLEDGE))
		goto bad;
	if (added & VIRTIO_STATUS_FEATURES_OK) {
		if (!(st & VIRTIO_STATUS_DRIVER) || !has_feature(vd, VIRTIO_F_VERSION_1)) {
			if (added & VIRTIO_STATUS_DRIVER_OK)
				goto bad;
			/* Leave FEATURES_OK clear: the driver reads it back and gives up (§2.2). */
			vd->status = st & ~VIRTIO_STATUS_FEATURES_OK;
			return;
		}
	}
	if (added & VIRTIO_STATUS_DRIVER_OK) {
		if (!(st & VIRTIO_STATUS_FEATURES_OK))
			goto bad;
		vd->status = st;
		if (virtio_activate(vd))
			virtio_needs_reset(vd);
		return;
	}
	vd->status = st;
	return;
bad:
	log_ratelimited(&vd->rl, LOG_WARN, "virtio-%s: illegal status transition 0x%x -> 0x%x",
			vd->ops->name, old, st);
	vd->status |= VIRTIO_STATUS_FAILED;
}

void virtio_needs_reset(struct virtio_dev *vd)
{
	if (vd->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	vd->status |= VIRTIO_STATUS_NEEDS_RESET;
	if ((vd->status & VIRTIO_STATUS_DRIVER_OK) && vd->tr_ops && vd->tr_ops->notify_config)
		vd->tr_ops->notify_config(vd->tr);
}

void virtio_queue_done(struct virtio_dev *vd, uint16_t q)
{
	if (q >= vd->num_queues || !vd->tr_ops || !vd->tr_ops->notify_queue)
		return;
	if (virtq_should_notify(&vd->vq[q]))
		vd->tr_ops->notify_queue(vd->tr, q);
}

bool virtio_queue_writable(const struct virtio_dev *vd, uint16_t q)
{
	return q < vd->num_queues && !(vd->status & VIRTIO_STATUS_DRIVER_OK);
}

void virtio_dev_save(struct virtio_dev *vd, struct virtio_dev_state *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&vd->lock);
	s->acked_features = vd->acked_features;
	s->device_id = vd->ops->device_id;
	s->num_queues = vd->num_queues;
	s->status = vd->status;
	for (unsigned i = 0; i < vd->num_queues; i++) {
		const struct virtq *vq = &vd->vq[i];
		struct virtio_queue_state *q = &s->q[i];

		q->desc = vq->desc_gpa;
		q->avail = vq->avail_gpa;
		q->used = vq->used_gpa;
		q->size = vq->size;
		q->ready = vq->ready;
		q->last_avail = vq->last_avail;
		q->used_idx = vq->used_idx;
		q->signalled_used = vq->signalled_used;
		q->signalled_valid = vq->signalled_valid;
		q->broken = vq->broken;
		if (vq->active && vq->packed) {
			q->packed = 1;
			q->next_avail = vq->pk.next_avail;
			q->next_used = vq->pk.next_used;
			q->inflight = vq->pk.inflight;
			q->avail_wrap = vq->pk.avail_wrap;
			q->used_wrap = vq->pk.used_wrap;
		}
	}
	pthread_mutex_unlock(&vd->lock);
}

bool virtio_dev_has_inflight(struct virtio_dev *vd)
{
	bool busy = false;

	pthread_mutex_lock(&vd->lock);
	for (unsigned i = 0; i < vd->num_queues && !busy; i++)
		busy = vd->vq[i].active && vd->vq[i].packed && vd->vq[i].pk.inflight;
	pthread_mutex_unlock(&vd->lock);
	return busy;
}

/* Put an activated queue at its saved position; -EINVAL if the position cannot be one. */
static int virtio_load_position(struct virtq *vq, const struct virtio_queue_state *q)
{
	if (!!q->packed != vq->packed)
		return -EINVAL; /* the layout follows the negotiated features */
	if (vq->packed) {
		/* Only the positions are saved: chains in flight would need their slots. */
		if (q->next_avail >= vq->size || q->next_used >= vq->size || q->inflight ||
		    q->signalled_used >= 2u * vq->size || q->avail_wrap > 1 || q->used_wrap > 1)
			return -EINVAL;
		vq->pk.next_avail = q->next_avail;
		vq->pk.next_used = q->next_used;
		vq->pk.avail_wrap = q->avail_wrap != 0;
		vq->pk.used_wrap = q->used_wrap != 0;
	} else {
		vq->last_avail = q->last_avail;
		vq->used_idx = q->used_idx;
	}
	vq->signalled_used = q->signalled_used;
	vq->signalled_valid = q->signalled_valid != 0;
	vq->broken = q->broken != 0;
	return 0;
}

static int virtio_load_locked(struct virtio_dev *vd, const struct virtio_dev_state *s)
{
	bool live = (s->status & VIRTIO_STATUS_DRIVER_OK) != 0;

	if (s->device_id != vd->ops->device_id || s->num_queues != vd->num_queues ||
	    (s->acked_features & ~virtio_offered_features(vd)))
		return -EINVAL;
	vd->acked_features = s->acked_features;
	for (unsigned i = 0; i < vd->num_queues; i++) {
		struct virtq *vq = &vd->vq[i];
		const struct virtio_queue_state *q = &s->q[i];

		virtq_reset(vq);
		vq->desc_gpa = q->desc;
		vq->avail_gpa = q->avail;
		vq->used_gpa = q->used;
		vq->size = q->size;
		vq->ready = q->ready != 0;
	}
	vd->status = s->status;
	if (!live || (s->status & VIRTIO_STATUS_NEEDS_RESET))
		return 0;
	/* As virtio_activate, without the model's activate op: a model that processes its queues
	 * there (console) would replay chains before the positions are set. */
	for (unsigned i = 0; i < vd->num_queues; i++) {
		struct virtq *vq = &vd->vq[i];

		if (!vq->ready)
			continue;
		if (virtq_activate(vq, vd->mem, vd->acked_features) ||
		    virtio_load_position(vq, &s->q[i]))
			return -EINVAL;
	}
	return 0;
}

int virtio_dev_load(struct virtio_dev *vd, const struct virtio_dev_state *s)
{
	int e;

	pthread_mutex_lock(&vd->lock);
	e = virtio_load_locked(vd, s);
	pthread_mutex_unlock(&vd->lock);
	return e;
}
