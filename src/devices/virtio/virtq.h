/* devices/virtio/virtq.h — the device side of a virtqueue, split (§2.7, virtq.c) or packed
 * (§2.8, VIRTIO_F_RING_PACKED, virtq_packed.c; the layout is chosen at virtq_activate from the
 * negotiated features and is invisible to device models), with every guest-controlled value
 * checked: ring addresses are validated once when the driver sets DRIVER_OK (virtq_activate),
 * each descriptor is copied before it is used, chains are bounded by the queue size, indirect
 * tables are one level deep with len % 16 == 0, the total length of a chain is capped, and an
 * avail index that jumps by more than the queue size (split) or more descriptors in flight
 * than the queue holds (packed) breaks the queue.
 *
 * A broken queue (malformed chain or index) stops processing: the owner sets NEEDS_RESET.
 * One thread at a time per queue (the device's queue thread or the event loop). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/compiler.h"
#include "base/iovbuf.h"
#include "base/log.h"
#include "mem/gmem.h"

#define VIRTQ_MAX_SIZE	      1024
#define VIRTQ_MAX_IOV	      1024	   /* segments per popped chain */
#define VIRTQ_MAX_CHAIN_BYTES (1ull << 32) /* total bytes of one chain, both directions */

struct virtq_desc;
struct virtq_avail;
struct virtq_used;
struct pvirtq_desc;
struct pvirtq_event_suppress;

/* Packed-ring state (virtq_packed.c). Chains in flight are kept in slots: the token a device
 * gets in virtq_elem.head is a slot, which remembers the driver's buffer ID and how many ring
 * descriptors the chain used (the used descriptor skips that many). */
struct virtq_packed {
	struct pvirtq_desc *desc;
	struct pvirtq_event_suppress *driver_evt; /* driver area: read by the device */
	struct pvirtq_event_suppress *device_evt; /* device area: written by the device */
	uint16_t next_avail, next_used;		  /* ring positions, < size */
	bool avail_wrap, used_wrap;		  /* wrap counters, 1 after activation */
	uint16_t inflight;			  /* ring descriptors popped, not yet pushed */
	uint16_t nfree;				  /* entries in free_slot[] */
	uint16_t free_slot[VIRTQ_MAX_SIZE];
	uint16_t slot_id[VIRTQ_MAX_SIZE];    /* buffer ID of the chain in a slot */
	uint16_t slot_ndesc[VIRTQ_MAX_SIZE]; /* ring descriptors of that chain; 0: slot free */
};

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
	bool event_idx, indirect, packed;
	bool active, broken;
	uint16_t last_avail;	 /* next avail ring slot to consume */
	uint16_t used_idx;	 /* host copy of used->idx */
	uint16_t signalled_used; /* used_idx (packed: used position, see virtq_packed.c) when the
				    guest was last notified */
	bool signalled_valid;
	struct log_ratelimit rl;
	struct virtq_packed pk;
};

/* One popped chain: device-readable segments first (out), then device-writable (in). `head` is
 * the token to give back to virtq_push (split: the head descriptor index; packed: an in-flight
 * slot); `id` is what the driver will see in the used ring (split: head; packed: buffer ID). */
struct virtq_elem {
	uint16_t head, id;
	unsigned nout, nin;
	uint64_t out_len, in_len;
	struct iovec iov[VIRTQ_MAX_IOV]; /* out segments [0, nout), in segments [nout, nout+nin) */
};

/* Reset to the power-on state (keeps max_size). */
void virtq_reset(struct virtq *vq);

/* Choose the layout from the negotiated `features` (VIRTIO_F_RING_PACKED, EVENT_IDX,
 * INDIRECT_DESC), validate size (split: a power of two; packed: any size) and alignment
 * (split: 16/2/4; packed: 16/4/4) and that each ring part lies inside one RAM region, then
 * cache the pointers. -EINVAL (with a log line naming the problem) if the set-up is bad. */
int virtq_activate(struct virtq *vq, const struct gmem *m, uint64_t features) KVMM_MUST_CHECK;

/* Pop the next available chain into e. 1: got one; 0: queue empty; -EINVAL: malformed (the
 * queue is now broken; nothing was consumed). */
int virtq_pop(struct virtq *vq, struct virtq_elem *e) KVMM_MUST_CHECK;

/* Split rings only (the models that use these do not offer VIRTIO_F_RING_PACKED).
 * Return the last n popped chains to the ring unconsumed (a receive that did not fit). */
void virtq_unpop(struct virtq *vq, uint16_t n);

/* Write a used element `off` slots past the used index without publishing it; virtq_flush then
 * publishes n elements at once (a frame spread over several mergeable buffers). */
void virtq_fill(struct virtq *vq, uint16_t off, uint16_t head, uint32_t len);
void virtq_flush(struct virtq *vq, uint16_t n);

/* Give a chain back (head = virtq_elem.head) with `len` bytes written to its in segments.
 * Chains may be given back in any order. */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t len);

/* After one or more pushes: must the guest be interrupted? (EVENT_IDX or NO_INTERRUPT.) */
bool virtq_should_notify(struct virtq *vq);

/* Ask the driver not to notify (VIRTQ_USED_F_NO_NOTIFY / avail_event) while polling. */
void virtq_set_notify(struct virtq *vq, bool enable);

/* Number of chains the guest has made available and not yet popped (packed: 1 if at least one,
 * else 0); -EINVAL if the index is impossible or the queue is broken. */
int virtq_pending(struct virtq *vq) KVMM_MUST_CHECK;

/* Internal: shared by virtq.c and virtq_packed.c. */
struct virtq_segs {
	bool seen_write;
	uint64_t total;
	struct iovbuf iov;
};
int virtq_fail(struct virtq *vq, const char *why);
int virtq_add_seg(struct virtq *vq, struct virtq_segs *s, uint64_t addr, uint32_t len, bool write,
		  struct virtq_elem *e);
int virtq_packed_activate(struct virtq *vq, const struct gmem *m);
int virtq_packed_pop(struct virtq *vq, struct virtq_elem *e);
void virtq_packed_push(struct virtq *vq, uint16_t slot, uint32_t len);
bool virtq_packed_should_notify(struct virtq *vq);
void virtq_packed_set_notify(struct virtq *vq, bool enable);
int virtq_packed_pending(struct virtq *vq);
