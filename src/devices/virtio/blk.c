/* devices/virtio/blk.c — see blk.h. */
#include "devices/virtio/blk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/ckd.h"
#include "base/iovbuf.h"
#include "block/aio.h"
#include "block/disk.h"

/* One request between pop and completion. The status byte's host address comes from the popped
 * chain (guest RAM), so a completion needs only this struct and vd.lock. Requests are allocated
 * on demand and recycled through virtio_blk.free. */
struct blk_req {
	struct virtio_blk *b;
	struct blk_req *next_free;
	uint16_t q, head;
	uint8_t *status_ptr; /* last byte of the last device-writable segment */
	uint8_t status;
	bool async;	       /* the status comes from the aio results (err) */
	unsigned pending;      /* aio requests outstanding, plus one while being submitted */
	int err;	       /* first aio error */
	uint32_t data_written; /* bytes written into device-writable data buffers */
	struct virtio_blk_req_hdr hdr;
	struct virtio_blk_discard_wz seg[VIRTIO_BLK_MAX_DISCARD_SEG];
	struct aio_req aio[VIRTIO_BLK_MAX_DISCARD_SEG];
	struct iovec *data; /* the data segments: elem.iov, sliced in place */
	unsigned ndata;
	uint64_t data_len;
	struct virtq_elem elem;
};

struct virtio_blk {
	struct virtio_dev vd;	   /* vd.lock protects the queues, the requests and the stats */
	struct virtio_dev_ops ops; /* filled once by create from blk_ops_template, then const */
	struct disk *disk;
	struct aio *aio;
	bool readonly, discard, write_zeroes;
	bool resetting;	     /* reset is waiting for requests in flight: pop nothing */
	unsigned inflight;   /* popped and not yet completed */
	pthread_cond_t idle; /* inflight dropped to 0 (waits on vd.lock) */
	struct blk_req *free;
	uint64_t capacity; /* sectors */
	char id[VIRTIO_BLK_ID_BYTES];
	struct virtio_blk_config cfg;
	struct virtio_blk_stats stats;
};

static struct virtio_blk *to_blk(struct virtio_dev *vd)
{
	return container_of(vd, struct virtio_blk, vd);
}

/* Copy the iovec range [skip, skip + len) of src into dst (at most VIRTQ_MAX_IOV entries).
 * The caller guarantees skip + len <= iov_size(src). dst may be src (entry n is written after
 * entry i >= n was read). Returns the entry count. */
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

static void blk_aio_done(struct aio_req *a, int res);

/* Queue one aio request of r (r->pending counts it). false: not queued (r->err set). */
static bool blk_submit(struct virtio_blk *b, struct blk_req *r, struct aio_req *a)
{
	int err;

	a->done = blk_aio_done;
	a->priv = r;
	r->pending++;
	err = aio_submit(b->aio, a);
	if (!err)
		return true;
	r->pending--;
	if (!r->err)
		r->err = err;
	return false;
}

/* IN and OUT: r->data already holds the data segments. Returns a status, or submits the I/O
 * (r->async) and returns VIRTIO_BLK_S_OK. */
static uint8_t blk_rw(struct virtio_blk *b, struct blk_req *r, bool write)
{
	if (write && b->readonly)
		return blk_reject(b);
	if (r->data_len % VIRTIO_BLK_SECTOR || !blk_range_ok(b, r->hdr.sector, r->data_len))
		return blk_reject(b);
	if (r->data_len == 0)
		return VIRTIO_BLK_S_OK;
	r->async = true;
	r->aio[0] = (struct aio_req){.op = write ? AIO_OP_WRITE : AIO_OP_READ,
				     .iov = r->data,
				     .iovcnt = r->ndata,
				     .off = r->hdr.sector * VIRTIO_BLK_SECTOR}; /* checked above */
	blk_submit(b, r, &r->aio[0]);
	return VIRTIO_BLK_S_OK;
}

/* FLUSH: answered only after the aio flush (fdatasync) of completed writes finished. */
static uint8_t blk_flush(struct virtio_blk *b, struct blk_req *r)
{
	if (b->readonly) {
		b->stats.flushes++;
		return VIRTIO_BLK_S_OK;
	}
	r->async = true;
	r->aio[0] = (struct aio_req){.op = AIO_OP_FLUSH};
	blk_submit(b, r, &r->aio[0]);
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
 * are copied and validated before any is submitted; each non-empty one is one aio request. */
static uint8_t blk_discard_wz(struct virtio_blk *b, struct blk_req *r, bool wz)
{
	struct virtio_blk_discard_wz *seg = r->seg;
	uint64_t len = r->elem.out_len - sizeof(r->hdr);
	unsigned n;

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
	r->async = true;
	for (unsigned i = 0; i < n; i++) {
		if (seg[i].num_sectors == 0)
			continue;
		r->aio[i] =
		    (struct aio_req){.op = wz ? AIO_OP_WRITE_ZEROES : AIO_OP_DISCARD,
				     .off = seg[i].sector * VIRTIO_BLK_SECTOR,
				     .len = (uint64_t)seg[i].num_sectors * VIRTIO_BLK_SECTOR,
				     .may_unmap = wz && (seg[i].flags & VIRTIO_BLK_WZ_F_UNMAP)};
		if (!blk_submit(b, r, &r->aio[i]))
			break;
	}
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
	r->async = false;
	r->err = 0;
	r->data_written = 0;
	r->ndata = 0;
	r->data_len = 0;
	switch (r->hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_GET_ID:
		r->data_len = e->in_len - 1;
		r->data = e->iov + e->nout;
		r->ndata = blk_iov_slice(r->data, e->nin, 0, r->data_len, r->data);
		break;
	case VIRTIO_BLK_T_OUT:
		r->data_len = e->out_len - sizeof(r->hdr); /* the header was copied out above */
		r->data = e->iov;
		r->ndata = blk_iov_slice(r->data, e->nout, sizeof(r->hdr), r->data_len, r->data);
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
		r->status = blk_flush(b, r);
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

/* The status of an asynchronous request from its aio result; updates the stats. */
static uint8_t blk_async_status(struct virtio_blk *b, struct blk_req *r)
{
	static const char *const what[] = {[VIRTIO_BLK_T_IN] = "read",
					   [VIRTIO_BLK_T_OUT] = "write",
					   [VIRTIO_BLK_T_FLUSH] = "flush",
					   [VIRTIO_BLK_T_DISCARD] = "discard",
					   [VIRTIO_BLK_T_WRITE_ZEROES] = "write-zeroes"};

	if (r->err)
		return blk_disk_error(b, r->err, what[r->hdr.type]);
	switch (r->hdr.type) {
	case VIRTIO_BLK_T_IN:
		r->data_written = (uint32_t)r->data_len;
		b->stats.reads++;
		b->stats.read_bytes += r->data_len;
		break;
	case VIRTIO_BLK_T_OUT:
		b->stats.writes++;
		b->stats.written_bytes += r->data_len;
		break;
	case VIRTIO_BLK_T_FLUSH:
		b->stats.flushes++;
		break;
	case VIRTIO_BLK_T_DISCARD:
		b->stats.discards++;
		break;
	default:
		b->stats.write_zeroes++;
		break;
	}
	return VIRTIO_BLK_S_OK;
}

static struct blk_req *blk_req_get(struct virtio_blk *b)
{
	struct blk_req *r = b->free;

	if (r) {
		b->free = r->next_free;
		return r;
	}
	r = malloc(sizeof(*r));
	if (r)
		r->b = b;
	return r;
}

static void blk_req_put(struct virtio_blk *b, struct blk_req *r)
{
	r->next_free = b->free;
	b->free = r;
}

/* Finish a request: store the status byte, push the chain and raise the interrupt unless
 * suppressed; then recycle it. Nothing touches guest memory while a reset waits for requests
 * in flight (their data transfer is over, the ring is about to be reset). Caller holds vd.lock;
 * any thread (the submitting vCPU for immediate answers, an aio thread for the rest). */
static void blk_req_finish(struct virtio_blk *b, struct blk_req *r)
{
	struct virtq *vq = &b->vd.vq[r->q];

	if (r->async)
		r->status = blk_async_status(b, r);
	if (vq->active && !b->resetting) {
		__atomic_store_n(r->status_ptr, r->status, __ATOMIC_RELAXED);
		virtq_push(vq, r->head, r->data_written + 1);
		virtio_queue_done(&b->vd, r->q);
	} else {
		b->stats.abandoned++;
	}
	blk_req_put(b, r);
	if (--b->inflight == 0)
		pthread_cond_broadcast(&b->idle);
}

/* Drop one reference of r->pending; the last one finishes the request. Caller holds vd.lock. */
static void blk_req_release(struct virtio_blk *b, struct blk_req *r)
{
	if (--r->pending == 0)
		blk_req_finish(b, r);
}

/* aio completion (an aio thread). A discard the disk cannot do is fine: it is a hint. */
static void blk_aio_done(struct aio_req *a, int res)
{
	struct blk_req *r = a->priv;
	struct virtio_blk *b = r->b;

	pthread_mutex_lock(&b->vd.lock);
	if (res == -ENOTSUP && r->hdr.type == VIRTIO_BLK_T_DISCARD)
		res = 0;
	if (res && !r->err)
		r->err = res;
	blk_req_release(b, r);
	pthread_mutex_unlock(&b->vd.lock);
}

/* Serve every available chain of queue q: answer or submit each, then kick the aio engine
 * once for the batch. Caller holds vd.lock. */
static void blk_process(struct virtio_blk *b, uint16_t q)
{
	struct virtq *vq = &b->vd.vq[q];
	struct blk_req *r;

	while ((r = blk_req_get(b))) {
		if (virtq_pop(vq, &r->elem) != 1) {
			blk_req_put(b, r);
			break;
		}
		r->q = q;
		r->head = r->elem.head;
		if (!blk_req_parse(r)) {
			blk_req_put(b, r);
			b->stats.guest_errors++;
			log_ratelimited(
			    &b->vd.rl, LOG_WARN,
			    "virtio-blk: queue %u: request without a 16-byte header or a "
			    "writable status byte: queue stopped until reset",
			    q);
			vq->broken = true;
			break;
		}
		b->inflight++;
		r->pending = 1; /* held while submitting */
		blk_req_execute(b, r);
		blk_req_release(b, r);
	}
	if (!r)
		log_ratelimited(&b->vd.rl, LOG_WARN, "virtio-blk: out of memory for requests");
	aio_kick(b->aio);
	if (vq->broken)
		virtio_needs_reset(&b->vd);
}

static void blk_queue_notify(struct virtio_dev *vd, uint16_t q)
{
	struct virtio_blk *b = to_blk(vd);

	if (q >= vd->num_queues)
		return;
	pthread_mutex_lock(&vd->lock);
	if (vd->vq[q].active && !b->resetting && !(vd->status & VIRTIO_STATUS_NEEDS_RESET))
		blk_process(b, q);
	pthread_mutex_unlock(&vd->lock);
}

/* Wait until every request in flight has finished. Caller holds vd.lock (released while
 * waiting). */
static void blk_wait_idle(struct virtio_blk *b)
{
	aio_kick(b->aio);
	while (b->inflight)
		pthread_cond_wait(&b->idle, &b->vd.lock);
}

/* Device reset (vd.lock held): no request may complete into guest memory once the rings are
 * reset, so wait for the ones in flight; they finish without touching the rings. */
static void blk_reset(struct virtio_dev *vd)
{
	struct virtio_blk *b = to_blk(vd);

	b->resetting = true;
	if (b->inflight)
		b->stats.reset_waits++;
	blk_wait_idle(b);
	b->resetting = false;
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
    .reset = blk_reset,
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
	/* A ring as deep as the requests that can be in flight (one per descriptor ring slot
	 * of every queue): the completion queue (twice as deep) never overflows. */
	err = aio_create(disk,
			 &(struct aio_opts){.engine = o->aio,
					    .depth = KVMM_MIN((unsigned)queues * qsize, 4096u)},
			 &b->aio);
	if (err)
		goto err_free;
	err = virtio_dev_init(&b->vd, &b->ops, mem);
	if (err)
		goto err_aio;
	pthread_cond_init(&b->idle, NULL);
	*out = b;
	return 0;
err_aio:
	aio_destroy(b->aio);
err_free:
	free(b);
	return err;
}

void virtio_blk_drain(struct virtio_blk *b)
{
	pthread_mutex_lock(&b->vd.lock);
	blk_wait_idle(b);
	pthread_mutex_unlock(&b->vd.lock);
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	struct blk_req *r;

	if (!b)
		return;
	virtio_blk_drain(b);
	aio_destroy(b->aio);
	while ((r = b->free)) {
		b->free = r->next_free;
		free(r);
	}
	pthread_cond_destroy(&b->idle);
	virtio_dev_fini(&b->vd);
	free(b);
}

const char *virtio_blk_aio_engine(const struct virtio_blk *b)
{
	return aio_engine_name(aio_engine(b->aio));
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
