/* devices/virtio/pci.c — see pci.h. */
#include "devices/virtio/pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct virtio_pci {
	struct pci_dev pci; /* first: virtio_pci_from_dev relies on the ops pointer */
	struct pci_msix msix;
	bool has_msix;
	struct virtio_dev *vd;
	pthread_mutex_t lock; /* isr */
	uint8_t isr;
	uint32_t dfselect, gfselect;
	uint16_t queue_sel;
	uint16_t msix_config;			/* atomic: read by completions */
	uint16_t queue_msix[VIRTIO_MAX_QUEUES]; /* atomic */
	uint32_t config_gen;			/* atomic */
	uint8_t cfg_cap;			/* offset of the PCI_CFG capability */
};

static const struct pci_dev_ops virtio_pci_dev_ops;

/* ---- interrupts ---- */

static uint16_t load16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void raise(struct virtio_pci *t, uint8_t bit, uint16_t vector)
{
	if (t->has_msix && pci_msix_enabled(&t->msix)) {
		if (vector != VIRTIO_PCI_NO_VECTOR)
			(void)pci_msix_notify(&t->msix, vector);
		return;
	}
	pthread_mutex_lock(&t->lock);
	t->isr |= bit;
	pci_dev_set_intx(&t->pci, true);
	pthread_mutex_unlock(&t->lock);
}

static void tr_notify_queue(void *tr, uint16_t q)
{
	struct virtio_pci *t = tr;

	raise(t, VIRTIO_PCI_ISR_QUEUE,
	      q < VIRTIO_MAX_QUEUES ? load16(&t->queue_msix[q]) : VIRTIO_PCI_NO_VECTOR);
}

static void tr_notify_config(void *tr)
{
	struct virtio_pci *t = tr;

	__atomic_fetch_add(&t->config_gen, 1, __ATOMIC_RELAXED);
	raise(t, VIRTIO_PCI_ISR_CONFIG, load16(&t->msix_config));
}

static const struct virtio_transport_ops pci_tr_ops = {tr_notify_queue, tr_notify_config};

static uint8_t isr_read_clear(struct virtio_pci *t)
{
	uint8_t v;

	pthread_mutex_lock(&t->lock);
	v = t->isr;
	t->isr = 0;
	pci_dev_set_intx(&t->pci, false);
	pthread_mutex_unlock(&t->lock);
	return v;
}

static void transport_reset(struct virtio_pci *t)
{
	__atomic_store_n(&t->msix_config, VIRTIO_PCI_NO_VECTOR, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		__atomic_store_n(&t->queue_msix[i], VIRTIO_PCI_NO_VECTOR, __ATOMIC_RELEASE);
	t->queue_sel = 0;
	t->dfselect = t->gfselect = 0;
	(void)isr_read_clear(t);
}

/* ---- common configuration ---- */

static struct virtq *cur_queue(struct virtio_pci *t)
{
	return t->queue_sel < t->vd->num_queues ? &t->vd->vq[t->queue_sel] : NULL;
}

/* A snapshot of the structure; reads have no side effects, so any aligned access works. */
static void common_snapshot(struct virtio_pci *t, uint8_t *c)
{
	struct virtio_dev *vd = t->vd;
	struct virtq *vq = cur_queue(t);
	uint64_t feat = virtio_offered_features(vd);
	uint32_t df = t->dfselect > 1 ? 0 : (uint32_t)(feat >> (32 * t->dfselect));
	uint32_t gf = t->gfselect > 1 ? 0 : (uint32_t)(vd->acked_features >> (32 * t->gfselect));
	uint16_t v16;
	uint8_t v8;

	memset(c, 0, VIRTIO_PCI_COMMON_SIZE);
	memcpy(c + VIRTIO_PCI_COMMON_DFSELECT, &t->dfselect, 4);
	memcpy(c + VIRTIO_PCI_COMMON_DF, &df, 4);
	memcpy(c + VIRTIO_PCI_COMMON_GFSELECT, &t->gfselect, 4);
	memcpy(c + VIRTIO_PCI_COMMON_GF, &gf, 4);
	v16 = load16(&t->msix_config);
	memcpy(c + VIRTIO_PCI_COMMON_MSIX, &v16, 2);
	memcpy(c + VIRTIO_PCI_COMMON_NUMQ, &vd->num_queues, 2);
	v8 = vd->status;
	c[VIRTIO_PCI_COMMON_STATUS] = v8;
	c[VIRTIO_PCI_COMMON_CFGGENERATION] =
	    (uint8_t)__atomic_load_n(&t->config_gen, __ATOMIC_RELAXED);
	memcpy(c + VIRTIO_PCI_COMMON_Q_SELECT, &t->queue_sel, 2);
	if (!vq)
		return; /* queue_size 0 says "not available" (§4.1.4.3) */
	memcpy(c + VIRTIO_PCI_COMMON_Q_SIZE, &vq->size, 2);
	v16 = load16(&t->queue_msix[t->queue_sel]);
	memcpy(c + VIRTIO_PCI_COMMON_Q_MSIX, &v16, 2);
	v16 = vq->ready;
	memcpy(c + VIRTIO_PCI_COMMON_Q_ENABLE, &v16, 2);
	memcpy(c + VIRTIO_PCI_COMMON_Q_NOFF, &t->queue_sel, 2); /* notify_off = queue index */
	memcpy(c + VIRTIO_PCI_COMMON_Q_DESCLO, &vq->desc_gpa, 8);
	memcpy(c + VIRTIO_PCI_COMMON_Q_AVAILLO, &vq->avail_gpa, 8);
	memcpy(c + VIRTIO_PCI_COMMON_Q_USEDLO, &vq->used_gpa, 8);
	memcpy(c + VIRTIO_PCI_COMMON_Q_NDATA, &t->queue_sel, 2);
}

static void common_read(struct virtio_pci *t, uint64_t off, void *data, uint32_t len)
{
	uint8_t c[VIRTIO_PCI_COMMON_SIZE];

	memset(data, 0, len);
	if ((len != 1 && len != 2 && len != 4 && len != 8) || (off & (len - 1)) ||
	    off + len > VIRTIO_PCI_COMMON_SIZE)
		return;
	common_snapshot(t, c);
	memcpy(data, c + off, len);
}

static uint16_t checked_vector(struct virtio_pci *t, uint16_t v)
{
	/* A vector the function does not have reads back as NO_VECTOR (§4.1.5.1.2). */
	return t->has_msix && v < t->msix.nvec ? v : VIRTIO_PCI_NO_VECTOR;
}

static void set_half(uint64_t *a, bool high, uint32_t v)
{
	*a = high ? (*a & 0xffffffffull) | ((uint64_t)v << 32) : (*a & ~0xffffffffull) | v;
}

/* Queue fields: only before DRIVER_OK and for an existing queue. */
static void common_write_queue(struct virtio_pci *t, uint64_t off, uint64_t v, uint32_t len)
{
	struct virtq *vq = cur_queue(t);
	gpa_t *a = NULL;

	if (!vq)
		return;
	if (off == VIRTIO_PCI_COMMON_Q_MSIX && len == 2) {
		__atomic_store_n(&t->queue_msix[t->queue_sel], checked_vector(t, (uint16_t)v),
				 __ATOMIC_RELEASE);
		return;
	}
	if (!virtio_queue_writable(t->vd, t->queue_sel))
		return;
	if (off == VIRTIO_PCI_COMMON_Q_SIZE && len == 2) {
		vq->size = (uint16_t)v; /* validated at DRIVER_OK */
		return;
	}
	if (off == VIRTIO_PCI_COMMON_Q_ENABLE && len == 2) {
		if (v == 1)
			vq->ready = true; /* writing 0 is not allowed (§4.1.4.3.2) */
		return;
	}
	if (off >= VIRTIO_PCI_COMMON_Q_DESCLO && off < VIRTIO_PCI_COMMON_Q_NDATA) {
		uint64_t base = off & ~7ull;

		a = base == VIRTIO_PCI_COMMON_Q_DESCLO	  ? &vq->desc_gpa
		    : base == VIRTIO_PCI_COMMON_Q_AVAILLO ? &vq->avail_gpa
							  : &vq->used_gpa;
		if (len == 8 && !(off & 7))
			*a = v;
		else if (len == 4)
			set_half(a, off & 4, (uint32_t)v);
	}
}

static void common_write(struct virtio_pci *t, uint64_t off, const void *data, uint32_t len)
{
	uint64_t v = 0;

	if ((len != 1 && len != 2 && len != 4 && len != 8) || (off & (len - 1)) ||
	    off + len > VIRTIO_PCI_COMMON_SIZE)
		return;
	memcpy(&v, data, len);
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		if (len == 4)
			t->dfselect = (uint32_t)v;
		return;
	case VIRTIO_PCI_COMMON_GFSELECT:
		if (len == 4)
			t->gfselect = (uint32_t)v;
		return;
	case VIRTIO_PCI_COMMON_GF:
		if (len == 4)
			virtio_set_driver_features(t->vd, t->gfselect, (uint32_t)v);
		return;
	case VIRTIO_PCI_COMMON_MSIX:
		if (len == 2)
			__atomic_store_n(&t->msix_config, checked_vector(t, (uint16_t)v),
					 __ATOMIC_RELEASE);
		return;
	case VIRTIO_PCI_COMMON_STATUS:
		if (len != 1)
			return;
		virtio_set_status(t->vd, (uint8_t)v);
		if (v == 0)
			transport_reset(t);
		return;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		if (len == 2)
			t->queue_sel = (uint16_t)v;
		return;
	default:
		common_write_queue(t, off, v, len);
		return;
	}
}

/* ---- BARs ---- */

void virtio_pci_kick(struct virtio_pci *t, uint16_t q)
{
	struct virtio_dev *vd = t->vd;
	uint8_t st = __atomic_load_n(&vd->status, __ATOMIC_ACQUIRE);

	if (q < vd->num_queues && (st & VIRTIO_STATUS_DRIVER_OK) &&
	    !(st & VIRTIO_STATUS_NEEDS_RESET) && vd->ops->queue_notify)
		vd->ops->queue_notify(vd, q);
}

static void bar_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct virtio_pci *t = dev;
	const struct virtio_dev_ops *ops = t->vd->ops;
	uint64_t c;

	memset(data, 0, len);
	if (off < VIRTIO_PCI_ISR_OFF) {
		common_read(t, off - VIRTIO_PCI_COMMON_OFF, data, len);
	} else if (off == VIRTIO_PCI_ISR_OFF) {
		*(uint8_t *)data = isr_read_clear(t); /* wider reads: the rest stays 0 */
	} else if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_NOTIFY_OFF) {
		c = off - VIRTIO_PCI_DEVICE_OFF;
		if (ops->config_read && c < ops->config_len && len <= ops->config_len - c)
			ops->config_read(t->vd, (uint32_t)c, data, len);
	}
}

static void bar_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct virtio_pci *t = dev;
	const struct virtio_dev_ops *ops = t->vd->ops;
	uint64_t c;

	if (off < VIRTIO_PCI_ISR_OFF) {
		common_write(t, off - VIRTIO_PCI_COMMON_OFF, data, len);
	} else if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_NOTIFY_OFF) {
		c = off - VIRTIO_PCI_DEVICE_OFF;
		if (ops->config_write && c < ops->config_len && len <= ops->config_len - c)
			(void)ops->config_write(t->vd, (uint32_t)c, data, len);
	} else if (off >= VIRTIO_PCI_NOTIFY_OFF && (len == 2 || len == 4) &&
		   !((off - VIRTIO_PCI_NOTIFY_OFF) % VIRTIO_PCI_NOTIFY_MULT)) {
		/* The address selects the queue (notify_off = queue index); the value is the
		 * queue index too, or notification data, which we do not negotiate. */
		uint64_t q = (off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT;

		if (q < t->vd->num_queues)
			virtio_pci_kick(t, (uint16_t)q);
	}
}

static const struct io_ops bar4_ops = {bar_read, bar_write};

static void msix_bar_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct virtio_pci *t = dev;

	if (off >= VIRTIO_PCI_MSIX_PBA)
		pci_msix_pba_read(&t->msix, off - VIRTIO_PCI_MSIX_PBA, data, len);
	else
		pci_msix_table_read(&t->msix, off, data, len);
}

static void msix_bar_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct virtio_pci *t = dev;

	if (off < VIRTIO_PCI_MSIX_PBA)
		pci_msix_table_write(&t->msix, off, data, len);
}

static const struct io_ops msix_bar_ops = {msix_bar_read, msix_bar_write};

/* ---- config space hooks: MSI-X control, the PCI_CFG access window ---- */

static bool overlaps(uint32_t off, uint32_t len, uint32_t start, uint32_t n)
{
	return off < start + n && start < off + len;
}

/* The BAR access the PCI_CFG capability describes; false if it is not a valid one. */
static bool cfg_cap_target(struct virtio_pci *t, uint64_t *off, uint32_t *len)
{
	struct pci_dev *d = &t->pci;
	uint32_t bar, o, l;

	pthread_mutex_lock(&d->lock);
	bar = pci_cfg_get(d, t->cfg_cap + 4u, 1);
	o = pci_cfg_get(d, t->cfg_cap + 8u, 4);
	l = pci_cfg_get(d, t->cfg_cap + 12u, 4);
	pthread_mutex_unlock(&d->lock);
	if (bar != VIRTIO_PCI_BAR || (l != 1 && l != 2 && l != 4) || (o & (l - 1)) ||
	    o >= VIRTIO_PCI_BAR_SIZE)
		return false;
	*off = o;
	*len = l;
	return true;
}

static void dev_config_read(struct pci_dev *d, uint32_t off, void *data, uint32_t len)
{
	struct virtio_pci *t = container_of(d, struct virtio_pci, pci);
	uint32_t data_off = t->cfg_cap + 16u, v = 0, l;
	uint64_t boff;

	if (!overlaps(off, len, data_off, 4) || !cfg_cap_target(t, &boff, &l))
		return;
	bar_read(t, boff, &v, l);
	for (uint32_t i = 0; i < len; i++)
		if (off + i >= data_off && off + i < data_off + 4)
			((uint8_t *)data)[i] = (uint8_t)(v >> (8 * (off + i - data_off)));
}

static void dev_config_written(struct pci_dev *d, uint32_t off, uint32_t len)
{
	struct virtio_pci *t = container_of(d, struct virtio_pci, pci);
	uint32_t data_off = t->cfg_cap + 16u, v, l;
	uint64_t boff;

	if (t->has_msix)
		pci_msix_config_written(&t->msix, off, len);
	if (!overlaps(off, len, data_off, 4) || !cfg_cap_target(t, &boff, &l))
		return;
	pthread_mutex_lock(&d->lock);
	v = pci_cfg_get(d, data_off, 4);
	pthread_mutex_unlock(&d->lock);
	bar_write(t, boff, &v, l);
}

static const struct pci_dev_ops virtio_pci_dev_ops = {dev_config_read, dev_config_written};

/* ---- creation ---- */

static uint32_t class_for(uint32_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_BLOCK:
		return 0x010000; /* mass storage, SCSI (as QEMU) */
	case VIRTIO_ID_NET:
		return 0x020000; /* ethernet */
	case VIRTIO_ID_CONSOLE:
		return 0x078000; /* communication, other */
	default:
		return 0x00ff00; /* QEMU's PCI_CLASS_OTHERS */
	}
}

static int add_vndr_cap(struct virtio_pci *t, uint8_t type, uint32_t off, uint32_t len,
			uint8_t cap_len, uint8_t *at)
{
	struct pci_dev *d = &t->pci;
	int e = pci_dev_add_cap(d, PCI_CAP_ID_VNDR, cap_len, at);

	if (e)
		return e;
	pci_cfg_set(d, *at + 2u, 1, cap_len);
	pci_cfg_set(d, *at + 3u, 1, type);
	pci_cfg_set(d, *at + 4u, 1, type == VIRTIO_PCI_CAP_PCI_CFG ? 0 : VIRTIO_PCI_BAR);
	pci_cfg_set(d, *at + 8u, 4, off);
	pci_cfg_set(d, *at + 12u, 4, len);
	return 0;
}

static int add_caps(struct virtio_pci *t)
{
	uint32_t dev_len = t->vd->ops->config_len;
	uint8_t at;
	int e;

	e = add_vndr_cap(t, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF,
			 VIRTIO_PCI_COMMON_SIZE, 16, &at);
	if (!e)
		e = add_vndr_cap(t, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 1, 16, &at);
	if (!e && dev_len)
		e = add_vndr_cap(t, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF,
				 KVMM_MIN(dev_len, (uint32_t)VIRTIO_PCI_REGION_SIZE), 16, &at);
	if (!e)
		e = add_vndr_cap(t, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
				 (uint32_t)t->vd->num_queues * VIRTIO_PCI_NOTIFY_MULT, 20, &at);
	if (e)
		return e;
	pci_cfg_set(&t->pci, at + 16u, 4, VIRTIO_PCI_NOTIFY_MULT);
	e = add_vndr_cap(t, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 20, &t->cfg_cap);
	if (e)
		return e;
	pci_dev_set_wmask(&t->pci, t->cfg_cap + 4u, 1, 0xff);
	pci_dev_set_wmask(&t->pci, t->cfg_cap + 8u, 4, 0xffffffff);
	pci_dev_set_wmask(&t->pci, t->cfg_cap + 12u, 4, 0xffffffff);
	pci_dev_set_wmask(&t->pci, t->cfg_cap + 16u, 4, 0xffffffff);
	return 0;
}

int virtio_pci_create(struct virtio_pci **out, struct virtio_dev *vd,
		      const struct virtio_pci_opts *o)
{
	struct virtio_pci *t;
	unsigned nvec;
	int e;

	if (!vd || !o || vd->ops->device_id > 0xffff - VIRTIO_PCI_DEVICE_BASE)
		return -EINVAL;
	nvec = o->msix_vectors ? o->msix_vectors : vd->num_queues + 1u;
	if (o->msi && nvec > PCI_MSIX_MAX_VECTORS)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->vd = vd;
	pthread_mutex_init(&t->lock, NULL);
	pci_dev_init(&t->pci, VIRTIO_PCI_VENDOR,
		     (uint16_t)(VIRTIO_PCI_DEVICE_BASE + vd->ops->device_id),
		     class_for(vd->ops->device_id), 1, VIRTIO_PCI_VENDOR, VIRTIO_PCI_SUBSYS_ID,
		     &o->intx, &virtio_pci_dev_ops);
	e = pci_dev_add_bar(&t->pci, VIRTIO_PCI_BAR, VIRTIO_PCI_BAR_SIZE, true, true, &bar4_ops, t);
	if (!e && o->msi) {
		e = pci_dev_add_bar(&t->pci, VIRTIO_PCI_MSIX_BAR, VIRTIO_PCI_MSIX_BAR_SIZE, false,
				    false, &msix_bar_ops, t);
		if (!e)
			e = pci_msix_init(&t->msix, &t->pci, nvec, VIRTIO_PCI_MSIX_BAR, 0,
					  VIRTIO_PCI_MSIX_PBA, o->msi, o->msi_ctx);
		t->has_msix = !e;
	}
	if (!e)
		e = add_caps(t);
	if (e) {
		virtio_pci_destroy(t);
		return e;
	}
	transport_reset(t);
	vd->tr = t;
	vd->tr_ops = &pci_tr_ops;
	*out = t;
	return 0;
}

void virtio_pci_destroy(struct virtio_pci *t)
{
	if (!t)
		return;
	if (t->has_msix)
		pci_msix_fini(&t->msix);
	pci_dev_fini(&t->pci);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

struct pci_dev *virtio_pci_dev(struct virtio_pci *t)
{
	return &t->pci;
}

struct virtio_pci *virtio_pci_from_dev(struct pci_dev *d)
{
	return d && d->ops == &virtio_pci_dev_ops ? container_of(d, struct virtio_pci, pci) : NULL;
}

struct virtio_dev *virtio_pci_vdev(struct virtio_pci *t)
{
	return t->vd;
}

struct pci_msix *virtio_pci_msix(struct virtio_pci *t)
{
	return t->has_msix ? &t->msix : NULL;
}

void virtio_pci_save(struct virtio_pci *t, struct virtio_pci_state *s)
{
	memset(s, 0, sizeof(*s));
	s->dfselect = t->dfselect;
	s->gfselect = t->gfselect;
	s->config_gen = __atomic_load_n(&t->config_gen, __ATOMIC_RELAXED);
	s->queue_sel = t->queue_sel;
	s->msix_config = load16(&t->msix_config);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		s->queue_msix[q] = load16(&t->queue_msix[q]);
	pthread_mutex_lock(&t->lock);
	s->isr = t->isr;
	pthread_mutex_unlock(&t->lock);
}

static bool vector_ok(struct virtio_pci *t, uint16_t v)
{
	return v == VIRTIO_PCI_NO_VECTOR || (t->has_msix && v < t->msix.nvec);
}

int virtio_pci_load(struct virtio_pci *t, const struct virtio_pci_state *s)
{
	bool level;

	if (!vector_ok(t, s->msix_config) ||
	    (s->isr & ~(VIRTIO_PCI_ISR_QUEUE | VIRTIO_PCI_ISR_CONFIG)))
		return -EINVAL;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (q < t->vd->num_queues ? !vector_ok(t, s->queue_msix[q])
					  : s->queue_msix[q] != VIRTIO_PCI_NO_VECTOR)
			return -EINVAL;
	pthread_mutex_lock(&t->pci.lock);
	level = t->pci.intx_level;
	pthread_mutex_unlock(&t->pci.lock);
	if (level != (s->isr != 0))
		return -EINVAL;
	t->dfselect = s->dfselect;
	t->gfselect = s->gfselect;
	__atomic_store_n(&t->config_gen, s->config_gen, __ATOMIC_RELAXED);
	t->queue_sel = s->queue_sel;
	__atomic_store_n(&t->msix_config, s->msix_config, __ATOMIC_RELEASE);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		__atomic_store_n(&t->queue_msix[q], s->queue_msix[q], __ATOMIC_RELEASE);
	pthread_mutex_lock(&t->lock);
	t->isr = s->isr;
	pthread_mutex_unlock(&t->lock);
	return 0;
}
