/* devices/virtio/mmio.c — see mmio.h. */
#include "devices/virtio/mmio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct virtio_mmio {
	struct virtio_dev *vd;
	struct irq_line irq;
	pthread_mutex_t lock; /* isr and the line level */
	uint32_t isr;
	bool level;
	uint32_t dev_feat_sel, drv_feat_sel, queue_sel;
	uint32_t config_gen;
};

static void mmio_update_irq(struct virtio_mmio *t)
{
	bool level = t->isr != 0;

	if (level != t->level) {
		t->level = level;
		irq_line_set(&t->irq, level);
	}
}

static void mmio_raise(struct virtio_mmio *t, uint32_t bit)
{
	pthread_mutex_lock(&t->lock);
	t->isr |= bit;
	mmio_update_irq(t);
	pthread_mutex_unlock(&t->lock);
}

static void mmio_notify_queue(void *tr, uint16_t q)
{
	mmio_raise(tr, VIRTIO_MMIO_INT_VRING);
}

static void mmio_notify_config(void *tr)
{
	struct virtio_mmio *t = tr;

	__atomic_fetch_add(&t->config_gen, 1, __ATOMIC_RELAXED);
	mmio_raise(t, VIRTIO_MMIO_INT_CONFIG);
}

static const struct virtio_transport_ops mmio_tr_ops = {mmio_notify_queue, mmio_notify_config};

int virtio_mmio_create(struct virtio_mmio **out, struct virtio_dev *vd, const struct irq_line *irq)
{
	struct virtio_mmio *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->vd = vd;
	if (irq)
		t->irq = *irq;
	pthread_mutex_init(&t->lock, NULL);
	vd->tr = t;
	vd->tr_ops = &mmio_tr_ops;
	*out = t;
	return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static struct virtq *mmio_queue(struct virtio_mmio *t)
{
	return t->queue_sel < t->vd->num_queues ? &t->vd->vq[t->queue_sel] : NULL;
}

static uint32_t mmio_read_reg(struct virtio_mmio *t, uint64_t off)
{
	struct virtio_dev *vd = t->vd;
	struct virtq *vq = mmio_queue(t);
	uint32_t v;

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return vd->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return t->dev_feat_sel > 1
			   ? 0
			   : (uint32_t)(virtio_offered_features(vd) >> (32 * t->dev_feat_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return vq ? vq->max_size : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return vq ? vq->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		pthread_mutex_lock(&t->lock);
		v = t->isr;
		pthread_mutex_unlock(&t->lock);
		return v;
	case VIRTIO_MMIO_STATUS:
		return vd->status;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return __atomic_load_n(&t->config_gen, __ATOMIC_RELAXED);
	default:
		return 0;
	}
}

static void mmio_set_addr(uint64_t *a, bool high, uint32_t v)
{
	*a = high ? (*a & 0xffffffffull) | ((uint64_t)v << 32) : (*a & ~0xffffffffull) | v;
}

static void mmio_write_queue(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	struct virtq *vq = mmio_queue(t);

	if (!vq || !virtio_queue_writable(t->vd, (uint16_t)t->queue_sel))
		return;
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		vq->size = (uint16_t)KVMM_MIN(v, 0xffffu); /* validated at DRIVER_OK */
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		vq->ready = v & 1;
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		mmio_set_addr(&vq->desc_gpa, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		mmio_set_addr(&vq->avail_gpa, off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		mmio_set_addr(&vq->used_gpa, off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, v);
		break;
	default:
		break;
	}
}

static void mmio_write_reg(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	struct virtio_dev *vd = t->vd;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->dev_feat_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->drv_feat_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		virtio_set_driver_features(vd, t->drv_feat_sel, v);
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		t->queue_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		if (v < vd->num_queues && (vd->status & VIRTIO_STATUS_DRIVER_OK) &&
		    !(vd->status & VIRTIO_STATUS_NEEDS_RESET) && vd->ops->queue_notify)
			vd->ops->queue_notify(vd, (uint16_t)v);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		pthread_mutex_lock(&t->lock);
		t->isr &= ~v;
		mmio_update_irq(t);
		pthread_mutex_unlock(&t->lock);
		break;
	case VIRTIO_MMIO_STATUS:
		virtio_set_status(vd, (uint8_t)v);
		if (v == 0) {
			pthread_mutex_lock(&t->lock);
			t->isr = 0;
			mmio_update_irq(t);
			pthread_mutex_unlock(&t->lock);
		}
		break;
	default:
		mmio_write_queue(t, off, v);
		break;
	}
}

static void mmio_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct virtio_mmio *t = dev;
	uint32_t v;

	memset(data, 0, len);
	if (off >= VIRTIO_MMIO_CONFIG) {
		uint64_t c = off - VIRTIO_MMIO_CONFIG;

		if (t->vd->ops->config_read && c < t->vd->ops->config_len &&
		    len <= t->vd->ops->config_len - c)
			t->vd->ops->config_read(t->vd, (uint32_t)c, data, len);
		return;
	}
	if (len != 4 || (off & 3))
		return; /* registers are 32-bit only (§4.2.2.2) */
	v = mmio_read_reg(t, off);
	memcpy(data, &v, 4);
}

static void mmio_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct virtio_mmio *t = dev;
	uint32_t v;

	if (off >= VIRTIO_MMIO_CONFIG) {
		uint64_t c = off - VIRTIO_MMIO_CONFIG;

		if (t->vd->ops->config_write && c < t->vd->ops->config_len &&
		    len <= t->vd->ops->config_len - c)
			(void)t->vd->ops->config_write(t->vd, (uint32_t)c, data, len);
		return;
	}
	if (len != 4 || (off & 3))
		return;
	memcpy(&v, data, 4);
	mmio_write_reg(t, off, v);
}

const struct io_ops virtio_mmio_io_ops = {mmio_read, mmio_write};

void virtio_mmio_save(struct virtio_mmio *t, struct virtio_mmio_state *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&t->lock);
	s->isr = t->isr;
	s->dev_feat_sel = t->dev_feat_sel;
	s->drv_feat_sel = t->drv_feat_sel;
	s->queue_sel = t->queue_sel;
	s->config_gen = t->config_gen;
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_load(struct virtio_mmio *t, const struct virtio_mmio_state *s)
{
	pthread_mutex_lock(&t->lock);
	t->isr = s->isr & 3;
	t->dev_feat_sel = s->dev_feat_sel;
	t->drv_feat_sel = s->drv_feat_sel;
	t->queue_sel = s->queue_sel;
	t->config_gen = s->config_gen;
	t->level = !t->level; /* force the line */
	mmio_update_irq(t);
	pthread_mutex_unlock(&t->lock);
}

struct virtio_dev *virtio_mmio_dev(struct virtio_mmio *t)
{
	return t->vd;
}
