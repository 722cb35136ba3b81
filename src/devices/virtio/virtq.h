/* devices/virtio/virtq.h — the device side of a split virtqueue, with every guest-controlled
 * value checked: ring addresses are validated once when the driver sets DRIVER_OK
 * (virtq_activate), each descriptor is copied before it is used, chains are bounded by the
 * queue size, indirect tables are one level deep with len % 16 == 0, the total length of a
 * chain is capped, and an avail index that jumps by more than the queue size breaks the queue.
 *
 * A broken queue (malformed chain or index) stops processing: the owner sets NEEDS_RESET.
 * One thread at a time per queue (the device's queue thread or the event loop). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/compiler.h"
#include "base/log.h"
#include "mem/gmem.h"

#define VIRTQ_MAX_SIZE	      1024
#define VIRTQ_MAX_IOV	      1024	   /* segments per popped chain */
#define VIRTQ_MAX_CHAIN_BYTES (1ull << 32) /* total bytes of one chain, both directions */

struct virtq_desc;
struct virtq_avail;
struct virtq_used;

struct virtq {
	/* Set by the transport from guest register writes. */
	uint16_t size;	   /* negotiated size, a power of two ≤ max_size */
	uint16_t max_size; /* what the device offers */
	bool ready;	   /* driver enabled the queue */
	gpa_t desc_gpa, avail_gpa, used_gpa;

	/* Valid after virtq_activate(). */
	const struct gmem *mem;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	bool event_idx, indirect;
	bool active, broken;
	uint16_t last_avail;	 /* next avail ring slot to consume */
	uint16_t used_idx;	 /* host copy of used->idx */
	uint16_t signalled_used; /* used_idx when the guest was last notified */
	bool signalled_valid;
	struct log_ratelimit rl;
};

/* One popped chain: device-readable segments first (out), then device-writable (in). */
struct virtq_elem {
	uint16_t head;
	unsigned nout, nin;
	uint64_t out_len, in_len;
	struct iovec iov[VIRTQ_MAX_IOV]; /* out segments [0, nout), in segments [nout, nout+nin) */
};

/* Reset to the power-on state (keeps max_size). */
void virtq_reset(struct virtq *vq);

/* Validate size and alignment and that each ring lies inside one RAM region, then cache the
 * pointers. -EINVAL (with a log line naming the problem) if the guest's set-up is bad. */
int virtq_activate(struct virtq *vq, const struct gmem *m, bool event_idx,
		   bool indirect) KVMM_MUST_CHECK;

/* Pop the next available chain into e. 1: got one; 0: queue empty; -EINVAL: malformed (the
 * queue is now broken; nothing was consumed). */
int virtq_pop(struct virtq *vq, struct virtq_elem *e) KVMM_MUST_CHECK;

/* Return the last n popped chains to the ring unconsumed (a receive that did not fit). */
void virtq_unpop(struct virtq *vq, uint16_t n);

/* Write a used element `off` slots past the used index without publishing it; virtq_flush then
 * publishes n elements at once (a frame spread over several mergeable buffers). */
void virtq_fill(struct virtq *vq, uint16_t off, uint16_t head, uint32_t len);
void virtq_flush(struct virtq *vq, uint16_t n);

/* Give a chain back with `len` bytes written to its in segments. */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t len);

/* After one or more pushes: must the guest be interrupted? (EVENT_IDX or NO_INTERRUPT.) */
bool virtq_should_notify(struct virtq *vq);

/* Ask the driver not to notify (VIRTQ_USED_F_NO_NOTIFY / avail_event) while polling. */
void virtq_set_notify(struct virtq *vq, bool enable);

/* Number of chains the guest has made available and not yet popped; -EINVAL if the index is
 * impossible (then the queue is broken). */
int virtq_pending(struct virtq *vq) KVMM_MUST_CHECK;
