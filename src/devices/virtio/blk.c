/* devices/virtio/blk.c — see blk.h. */
#include "devices/virtio/blk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/ckd.h"
#include "base/iovbuf.h"
#include "block/disk.h"

/* One request being processed. The status byte's host address comes from the popped chain
 * (guest RAM), so a completion needs only this struct and vd.lock. */
struct blk_req {
	uint16_t q, head;
	uint8_t *status_ptr; /* last byte of the last device-writable segment */
	uint8_t status;
	uint32_t data_written; /* bytes written into device-writable data buffers */
	struct virtio_blk_req_hdr hdr;
	struct virtq_elem elem;
	struct iovec data[VIRTQ_MAX_IOV];
	unsigned ndata;
	uint64_t data_len;
};

struct virtio_blk {
	struct virtio_dev vd;	   /* vd.lock protects the queues, the request and the stats */
	struct virtio_dev_ops ops; /* filled once by create from blk_ops_template, then const */
	struct disk *disk;
	bool readonly, discard, write_zeroes;
	uint64_t capacity; /* sectors */
	char id[VIRTIO_BLK_ID_BYTES];
	struct virtio_blk_config cfg;
	struct virtio_blk_stats stats;
	struct blk_req req;
};

static struct virtio_blk *to_blk(struct virtio_dev *vd)
{
	return container_of(vd, struct virtio_blk, vd);
}

/* Copy the iovec range [skip, skip + len) of src into dst (at most VIRTQ_MAX_IOV entries).
 * The caller guarantees skip + len <= iov_size(src). Returns the entry count. */
static unsigned blk_iov_slice(const struct iovec *src, unsigned cnt, uint64_t skip, uint64_t len,
			      struct iovec *dst)
{
	unsigned n = 0;

	for (unsigned i = 0; i < cnt && len > 0; i++) {
		uint64_t l = src[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l = KVMM_MIN(l - skip, len);
		dst[n].iov_base = (uint8_t *)src[i].iov_base + skip;
		dst[n].iov_len = (size_t)l;
		n++;
		len -= l;
		skip = 0;
	}
	return n;
}

/* Is [sector * 512, + bytes) inside the disk? */
static bool blk_range_ok(const struct virtio_blk *b, uint64_t sector, uint64_t bytes)
{
	uint64_t off, end;

	if (ckd_mul(&off, sector, (uint64_t)VIRTIO_BLK_SECTOR) || ckd_add(&end, off, bytes))
		return false;
	return end <= b->capacity * VIRTIO_BLK_SECTOR;
}

static uint8_t blk_disk_error(struct virtio_blk *b, int err, const char *what)
{
	b->stats.io_errors++;
	log_ratelimited(&b->vd.rl, LOG_WARN, "virtio-blk: %s failed: %s", what, strerror(-err));
	return VIRTIO_BLK_S_IOERR;
}

static uint8_t blk_reject(struct virtio_blk *b)
{
	b->stats.rejected++;
	return VIRTIO_BLK_S_IOERR;
}

/* IN and OUT: r->data already holds the data segments. */
static uint8_t blk_rw(struct virtio_blk *b, struct blk_req *r, bool write)
{
	uint64_t off = r->hdr.sector * VIRTIO_BLK_SECTOR; /* checked by blk_range_ok */
	int err;

	if (write && b->readonly)
		return blk_reject(b);
	if (r->data_len % VIRTIO_BLK_SECTOR || !blk_range_ok(b, r->hdr.sector, r->data_len))
		return blk_reject(b);
	if (r->data_len == 0)
		return VIRTIO_BLK_S_OK;
	if (write) {
		err = disk_pwritev(b->disk, r->data, r->ndata, off);
		if (err)
			return blk_disk_error(b, err, "write");
		b->stats.writes++;
		b->stats.written_bytes += r->data_len;
		return VIRTIO_BLK_S_OK;
	}
	err = disk_preadv(b->disk, r->data, r->ndata, off);
	if (err)
		return blk_disk_error(b, err, "read");
	r->data_written = (uint32_t)r->data_len;
	b->stats.reads++;
	b->stats.read_bytes += r->data_len;
	return VIRTIO_BLK_S_OK;
}

static uint8_t blk_flush(struct virtio_blk *b)
{
	int err;

	if (!b->readonly) {
		err = disk_flush(b->disk);
		if (err)
			return blk_disk_error(b, err, "flush");
	}
	b->stats.flushes++;
	return VIRTIO_BLK_S_OK;
}

static uint8_t blk_get_id(struct virtio_blk *b, struct blk_req *r)
{
	size_t n = (size_t)KVMM_MIN(r->data_len, (uint64_t)VIRTIO_BLK_ID_BYTES);

	r->data_written = (uint32_t)iov_from_buf(r->data, r->ndata, 0, b->id, n);
	b->stats.get_ids++;
	return VIRTIO_BLK_S_OK;
}

/* DISCARD and WRITE_ZEROES: the segments follow the header in the readable part. All segments
 * are copied and validated before any is executed. */
static uint8_t blk_discard_wz(struct virtio_blk *b, struct blk_req *r, bool wz)
{
	struct virtio_blk_discard_wz seg[VIRTIO_BLK_MAX_DISCARD_SEG];
	uint64_t len = r->elem.out_len - sizeof(r->hdr);
	unsigned n;
	int err;

	if (!(wz ? b->write_zeroes : b->discard)) {
		b->stats.unsupported++;
		return VIRTIO_BLK_S_UNSUPP;
	}
	if (b->readonly || len == 0 || len % sizeof(seg[0]) ||
	    len / sizeof(seg[0]) > VIRTIO_BLK_MAX_DISCARD_SEG)
		return blk_reject(b);
	n = (unsigned)(len / sizeof(seg[0]));
	iov_to_buf(r->elem.iov, r->elem.nout, sizeof(r->hdr), seg, (size_t)len);
	for (unsigned i = 0; i < n; i++) {
		uint32_t bad_flags = seg[i].flags & ~(wz ? VIRTIO_BLK_WZ_F_UNMAP : 0u);

		if (bad_flags) {
			b->stats.unsupported++;
			return VIRTIO_BLK_S_UNSUPP;
		}
		if (seg[i].num_sectors > VIRTIO_BLK_MAX_DISCARD_SECTORS ||
		    !blk_range_ok(b, seg[i].sector,
				  (uint64_t)seg[i].num_sectors * VIRTIO_BLK_SECTOR))
			return blk_reject(b);
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t off = seg[i].sector * VIRTIO_BLK_SECTOR;
		uint64_t bytes = (uint64_t)seg[i].num_sectors * VIRTIO_BLK_SECTOR;

		if (bytes == 0)
			continue;
		if (wz)
			err = disk_write_zeroes(b->disk, off, bytes,
						seg[i].flags & VIRTIO_BLK_WZ_F_UNMAP);
		else
			err = disk_discard(b->disk, off, bytes);
		if (err == -ENOTSUP && !wz)
			continue; /* discard is a hint */
		if (err)
			return blk_disk_error(b, err, wz ? "write-zeroes" : "discard");
	}
	if (wz)
		b->stats.write_zeroes++;
	else
		b->stats.discards++;
	return VIRTIO_BLK_S_OK;
}

/* Parse the popped chain into r. false: the chain is malformed (guest error). */
static bool blk_req_parse(struct blk_req *r)
{
	struct virtq_elem *e = &r->elem;
	const struct iovec *last;

	if (e->nin == 0 || e->out_len < sizeof(r->hdr))
		return false;
	last = &e->iov[e->nout + e->nin - 1]; /* zero-length segments are never in iov */
	r->status_ptr = (uint8_t *)last->iov_base + last->iov_len - 1;
	iov_to_buf(e->iov, e->nout, 0, &r->hdr, sizeof(r->hdr)); /* copy once, then validate */
	r->status = VIRTIO_BLK_S_IOERR;
	r->data_written = 0;
	r->ndata = 0;
	r->data_len = 0;
	switch (r->hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_GET_ID:
		r->data_len = e->in_len - 1;
		r->ndata = blk_iov_slice(e->iov + e->nout, e->nin, 0, r->data_len, r->data);
		break;
	case VIRTIO_BLK_T_OUT:
		r->data_len = e->out_len - sizeof(r->hdr);
		r->ndata = blk_iov_slice(e->iov, e->nout, sizeof(r->hdr), r->data_len, r->data);
		break;
	default:
		break;
	}
	return true;
}

static void blk_req_execute(struct virtio_blk *b, struct blk_req *r)
{
	switch (r->hdr.type) {
	case VIRTIO_BLK_T_IN:
		r->status = blk_rw(b, r, false);
		break;
	case VIRTIO_BLK_T_OUT:
		r->status = blk_rw(b, r, true);
		break;
	case VIRTIO_BLK_T_FLUSH:
		r->status = blk_flush(b);
		break;
	case VIRTIO_BLK_T_GET_ID:
		r->status = blk_get_id(b, r);
		break;
	case VIRTIO_BLK_T_DISCARD:
		r->status = blk_discard_wz(b, r, false);
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		r->status = blk_discard_wz(b, r, true);
		break;
	default:
		b->stats.unsupported++;
		r->status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
}

/* Finish a request: store the status byte, push the chain and raise the interrupt unless
 * suppressed. Caller holds vd.lock; may run on any thread (the completion path of a future
 * asynchronous backend calls it the same way). */
static void blk_req_complete(struct virtio_blk *b, struct blk_req *r)
{
	struct virtq *vq = &b->vd.vq[r->q];

	if (!vq->active)
		return; /* the device was reset while the request ran */
	__atomic_store_n(r->status_ptr, r->status, __ATOMIC_RELAXED);
	virtq_push(vq, r->head, r->data_written + 1);
	virtio_queue_done(&b->vd, r->q);
}

/* Serve every available chain of queue q. Caller holds vd.lock. */
static void blk_process(struct virtio_blk *b, uint16_t q)
{
	struct virtq *vq = &b->vd.vq[q];
	struct blk_req *r = &b->req;

	while (virtq_pop(vq, &r->elem) == 1) {
		r->q = q;
		r->head = r->elem.head;
		if (!blk_req_parse(r)) {
			b->stats.guest_errors++;
			log_ratelimited(
			    &b->vd.rl, LOG_WARN,
			    "virtio-blk: queue %u: request without a 16-byte header or a "
			    "writable status byte: queue stopped until reset",
			    q);
			vq->broken = true;
			break;
		}
		blk_req_execute(b, r);
		blk_req_complete(b, r);
	}
	if (vq->broken)
		virtio_needs_reset(&b->vd);
}

static void blk_queue_notify(struct virtio_dev *vd, uint16_t q)
{
	struct virtio_blk *b = to_blk(vd);

	if (q >= vd->num_queues)
		return;
	pthread_mutex_lock(&vd->lock);
	if (vd->vq[q].active && !(vd->status & VIRTIO_STATUS_NEEDS_RESET))
		blk_process(b, q);
	pthread_mutex_unlock(&vd->lock);
}

static void blk_config_read(struct virtio_dev *vd, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_blk *b = to_blk(vd);

	/* The transport checked off + len <= config_len. */
	memcpy(buf, (const uint8_t *)&b->cfg + off, len);
}

static const struct virtio_dev_ops blk_ops_template = {
    .name = "blk",
    .device_id = VIRTIO_ID_BLOCK,
    .features = (1ull << VIRTIO_F_INDIRECT_DESC) | (1ull << VIRTIO_F_EVENT_IDX) |
		(1ull << VIRTIO_F_RING_PACKED) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
		(1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |
		(1ull << VIRTIO_BLK_F_MQ),
    .config_len = sizeof(struct virtio_blk_config),
    .config_read = blk_config_read,
    .queue_notify = blk_queue_notify,
};

static int blk_check_opts(const struct virtio_blk_opts *o, uint16_t *queues, uint16_t *qsize)
{
	*queues = o->queues ? o->queues : 1;
	*qsize = o->queue_size ? o->queue_size : VIRTIO_BLK_DEFAULT_QUEUE_SIZE;
	if (*queues > VIRTIO_MAX_QUEUES || *qsize < 2 || !IS_POW2(*qsize) ||
	    *qsize > VIRTQ_MAX_SIZE)
		return -EINVAL;
	if (o->serial && strlen(o->serial) > VIRTIO_BLK_ID_BYTES)
		return -EINVAL;
	return 0;
}

static void blk_fill_config(struct virtio_blk *b, uint16_t queues, uint16_t qsize)
{
	struct virtio_blk_config *c = &b->cfg;

	c->capacity = b->capacity;
	c->seg_max = qsize - 2u; /* header and status take two descriptors */
	c->blk_size = VIRTIO_BLK_SECTOR;
	c->num_queues = queues;
	if (b->discard) {
		c->max_discard_sectors = VIRTIO_BLK_MAX_DISCARD_SECTORS;
		c->max_discard_seg = VIRTIO_BLK_MAX_DISCARD_SEG;
		c->discard_sector_alignment = 1;
	}
	if (b->write_zeroes) {
		c->max_write_zeroes_sectors = VIRTIO_BLK_MAX_DISCARD_SECTORS;
		c->max_write_zeroes_seg = VIRTIO_BLK_MAX_DISCARD_SEG;
		c->write_zeroes_may_unmap = 1;
	}
}

int virtio_blk_create(struct virtio_blk **out, const struct gmem *mem, struct disk *disk,
		      const struct virtio_blk_opts *opts)
{
	static const struct virtio_blk_opts defaults;
	const struct virtio_blk_opts *o = opts ? opts : &defaults;
	struct virtio_blk *b;
	uint16_t queues, qsize;
	int err;

	if (!out || !mem || !disk)
		return -EINVAL;
	err = blk_check_opts(o, &queues, &qsize);
	if (err)
		return err;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->disk = disk;
	b->readonly = o->readonly || disk_is_readonly(disk);
	b->discard = o->discard;
	b->write_zeroes = o->write_zeroes;
	b->capacity = disk_size(disk) / VIRTIO_BLK_SECTOR;
	if (o->serial)
		memcpy(b->id, o->serial, strlen(o->serial)); /* NUL-padded by calloc */
	b->ops = blk_ops_template;
	b->ops.num_queues = queues;
	b->ops.max_queue_size = qsize;
	b->ops.features |= (b->readonly ? 1ull << VIRTIO_BLK_F_RO : 0) |
			   (b->discard ? 1ull << VIRTIO_BLK_F_DISCARD : 0) |
			   (b->write_zeroes ? 1ull << VIRTIO_BLK_F_WRITE_ZEROES : 0);
	blk_fill_config(b, queues, qsize);
	err = virtio_dev_init(&b->vd, &b->ops, mem);
	if (err)
		goto err_free;
	*out = b;
	return 0;
err_free:
	free(b);
	return err;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	if (!b)
		return;
	virtio_dev_fini(&b->vd);
	free(b);
}

struct virtio_dev *virtio_blk_dev(struct virtio_blk *b)
{
	return &b->vd;
}

void virtio_blk_get_stats(struct virtio_blk *b, struct virtio_blk_stats *out)
{
	pthread_mutex_lock(&b->vd.lock);
	*out = b->stats;
	pthread_mutex_unlock(&b->vd.lock);
}
