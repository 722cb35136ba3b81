/* devices/virtio/rng.c — see rng.h. */
#include "devices/virtio/rng.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "base/iovbuf.h"

#define RNG_QUEUE_SIZE 256

struct virtio_rng {
	struct virtio_dev vd; /* vd.lock protects the queue and the bucket */
	uint64_t rate, tokens, last_ns, served;
	uint64_t (*now_ns)(void *ctx);
	void *now_ctx;
	struct virtq_elem elem;
};

static uint64_t rng_mono_ns(void *ctx)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void rng_refill(struct virtio_rng *r)
{
	uint64_t now = r->now_ns(r->now_ctx), dt = now - r->last_ns;

	r->last_ns = now;
	/* dt * rate / 1e9 without overflow for dt up to ~584 years at 1 GB/s: cap dt at 1 s. */
	if (dt > 1000000000ull)
		dt = 1000000000ull;
	r->tokens = KVMM_MIN(r->tokens + dt * r->rate / 1000000000ull, r->rate);
}

/* Fill one popped chain's writable segments; returns bytes written. */
static uint32_t rng_fill(struct virtio_rng *r, const struct virtq_elem *e, uint64_t budget)
{
	uint64_t want = KVMM_MIN(KVMM_MIN(e->in_len, budget), (uint64_t)VIRTIO_RNG_MAX_REQUEST);
	uint32_t done = 0;

	for (unsigned i = e->nout; i < e->nout + e->nin && done < want; i++) {
		size_t n = (size_t)KVMM_MIN((uint64_t)e->iov[i].iov_len, want - done);
		ssize_t got = getrandom(e->iov[i].iov_base, n, 0);

		if (got <= 0)
			break;
		done += (uint32_t)got;
		if ((size_t)got < n)
			break;
	}
	return done;
}

/* Serve as many chains as the bucket allows. Caller holds vd.lock. */
static void rng_process(struct virtio_rng *r)
{
	struct virtq *vq = &r->vd.vq[0];
	bool pushed = false;
	int got;

	rng_refill(r);
	while (r->tokens > 0 && (got = virtq_pop(vq, &r->elem)) == 1) {
		uint32_t n = rng_fill(r, &r->elem, r->tokens);

		r->tokens -= n;
		r->served += n;
		virtq_push(vq, r->elem.head, n);
		pushed = true;
	}
	if (vq->broken)
		virtio_needs_reset(&r->vd);
	if (pushed)
		virtio_queue_done(&r->vd, 0);
}

static void rng_queue_notify(struct virtio_dev *vd, uint16_t q)
{
	struct virtio_rng *r = container_of(vd, struct virtio_rng, vd);

	pthread_mutex_lock(&r->vd.lock);
	if (r->vd.vq[q].active)
		rng_process(r);
	pthread_mutex_unlock(&r->vd.lock);
}

void virtio_rng_poll(struct virtio_rng *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->vd.lock);
	if (r->vd.vq[0].active && !(r->vd.status & VIRTIO_STATUS_NEEDS_RESET))
		rng_process(r);
	pthread_mutex_unlock(&r->vd.lock);
}

static const struct virtio_dev_ops rng_ops = {
    .name = "rng",
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 1,
    .max_queue_size = RNG_QUEUE_SIZE,
    .features = (1ull << VIRTIO_F_INDIRECT_DESC) | (1ull << VIRTIO_F_EVENT_IDX) |
		(1ull << VIRTIO_F_RING_PACKED),
    .queue_notify = rng_queue_notify,
};

int virtio_rng_create(struct virtio_rng **out, const struct gmem *mem, uint64_t rate,
		      uint64_t (*now_ns)(void *ctx), void *now_ctx)
{
	struct virtio_rng *r;
	int e;

	if (rate == 0)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	e = virtio_dev_init(&r->vd, &rng_ops, mem);
	if (e) {
		free(r);
		return e;
	}
	r->rate = rate;
	r->tokens = rate;
	r->now_ns = now_ns ? now_ns : rng_mono_ns;
	r->now_ctx = now_ctx;
	r->last_ns = r->now_ns(r->now_ctx);
	*out = r;
	return 0;
}

void virtio_rng_destroy(struct virtio_rng *r)
{
	if (!r)
		return;
	virtio_dev_fini(&r->vd);
	free(r);
}

struct virtio_dev *virtio_rng_dev(struct virtio_rng *r)
{
	return &r->vd;
}

uint64_t virtio_rng_bytes(struct virtio_rng *r)
{
	uint64_t v;

	pthread_mutex_lock(&r->vd.lock);
	v = r->served;
	pthread_mutex_unlock(&r->vd.lock);
	return v;
}
