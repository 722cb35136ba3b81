/* devices/virtio/rng.h — virtio-rng (entropy device, virtio 1.2 §5.4): fills the guest's
 * buffers from getrandom(2), limited by a token bucket (bytes per second, with a burst of one
 * second's worth, at most 64 KiB per request).
 *
 * Threads: queue_notify (vCPU thread) and virtio_rng_poll (event loop) both take vd.lock. */
#pragma once

#include <stdint.h>

#include "base/compiler.h"
#include "devices/virtio/virtio.h"

#define VIRTIO_RNG_DEFAULT_RATE (1u << 20) /* bytes per second */
#define VIRTIO_RNG_MAX_REQUEST	(64u << 10)

struct virtio_rng;

/* rate: bytes per second (> 0). Clock: CLOCK_MONOTONIC unless now_ns is given (tests). */
int virtio_rng_create(struct virtio_rng **out, const struct gmem *mem, uint64_t rate,
		      uint64_t (*now_ns)(void *ctx), void *now_ctx) KVMM_MUST_CHECK;
void virtio_rng_destroy(struct virtio_rng *r);
struct virtio_dev *virtio_rng_dev(struct virtio_rng *r);

/* Serve requests held back by the rate limit (call periodically from the event loop). */
void virtio_rng_poll(struct virtio_rng *r);

/* Bytes served so far (for tests and stats). */
uint64_t virtio_rng_bytes(struct virtio_rng *r);
