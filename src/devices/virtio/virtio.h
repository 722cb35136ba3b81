/* devices/virtio/virtio.h — the transport-independent virtio device: the status and feature
 * state machine (virtio 1.2 §2.1–2.2, §3.1), queue activation at DRIVER_OK, reset, and the
 * completion path with interrupt suppression. Transports (mmio.c, pci.c) only decode registers
 * and call into this; device models (blk, rng, ...) implement struct virtio_dev_ops and never
 * see a register offset.
 *
 * Threads and locking: vd->lock protects the status, the features and the queues.
 * virtio_set_status() takes it; it calls the device's activate and reset ops with it held. A
 * device takes vd->lock itself whenever it processes its queues (queue_notify is called
 * without it, from a vCPU thread; completions may come from any thread). Lock order: bus
 * device lock -> vd->lock -> the transport's interrupt lock. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/log.h"
#include "devices/virtio/spec.h"
#include "devices/virtio/virtq.h"

#define VIRTIO_MAX_QUEUES 16

struct virtio_dev;

/* What a transport provides to the core: raising the guest interrupt. */
struct virtio_transport_ops {
	void (*notify_queue)(void *tr, uint16_t q); /* used-buffer notification */
	void (*notify_config)(void *tr);	    /* configuration change */
};

struct virtio_dev_ops {
	const char *name;
	uint32_t device_id; /* VIRTIO_ID_* */
	uint16_t num_queues, max_queue_size;
	uint64_t features; /* offered; VERSION_1 is added by the core; RING_PACKED only if the
			    * model never touches a ring except through virtq_pop/virtq_push */
	uint32_t config_len;
	void (*config_read)(struct virtio_dev *vd, uint32_t off, void *buf, uint32_t len);
	int (*config_write)(struct virtio_dev *vd, uint32_t off, const void *buf, uint32_t len);
	int (*activate)(struct virtio_dev *vd); /* queues already validated */
	void (*queue_notify)(struct virtio_dev *vd, uint16_t q);
	void (*reset)(struct virtio_dev *vd);
	void (*destroy)(struct virtio_dev *vd);
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	const struct gmem *mem;
	const struct virtio_transport_ops *tr_ops;
	void *tr;
	uint64_t acked_features;
	uint8_t status;
	uint16_t num_queues; /* host copy: the guest cannot change it */
	bool offer_packed;   /* offer VIRTIO_F_RING_PACKED (if the model lists it); default off */
	pthread_mutex_t lock;
	struct virtq vq[VIRTIO_MAX_QUEUES];
	struct log_ratelimit rl;
};

/* Initialise the embedded core for a device model. -EINVAL if ops are inconsistent. */
int virtio_dev_init(struct virtio_dev *vd, const struct virtio_dev_ops *ops,
		    const struct gmem *mem) KVMM_MUST_CHECK;
void virtio_dev_fini(struct virtio_dev *vd);

/* Offer packed virtqueues to the driver (the VMM's packed=on), if the model supports them.
 * Off by default, as in QEMU. Set-up thread, before the transport is attached. */
void virtio_dev_offer_packed(struct virtio_dev *vd, bool on);

/* Feature bits offered to the driver (device features | VERSION_1). */
uint64_t virtio_offered_features(const struct virtio_dev *vd);

/* Driver writes one 32-bit word of its features (sel 0 or 1). Ignored after FEATURES_OK;
 * bits not offered are dropped. */
void virtio_set_driver_features(struct virtio_dev *vd, unsigned sel, uint32_t val);

/* Driver writes the status register. Enforces the §3.1 order; 0 resets the device; FAILED
 * or an illegal transition is recorded, never fatal to the host. */
void virtio_set_status(struct virtio_dev *vd, uint8_t status);

/* The device found a guest error on a live queue: set NEEDS_RESET and tell the driver.
 * Caller holds vd->lock. */
void virtio_needs_reset(struct virtio_dev *vd);

/* A request on queue q finished (after virtq_push): raise the interrupt unless suppressed. */
void virtio_queue_done(struct virtio_dev *vd, uint16_t q);

/* Queue registers may be written only before DRIVER_OK. */
bool virtio_queue_writable(const struct virtio_dev *vd, uint16_t q);

/* Snapshot state of the core and its queues: what the driver negotiated and set up, and where
 * the device is in each ring (split: avail/used indices; packed: ring positions and wrap
 * counters). Taken with vd->lock; the device must have no request in flight (the VMM pauses
 * the vCPUs and drains backends first; virtio_dev_has_inflight()). */
struct virtio_queue_state {
	uint64_t desc, avail, used;
	uint16_t size, last_avail, used_idx, signalled_used; /* signalled_used: both layouts */
	uint8_t ready, signalled_valid, broken, packed;	     /* packed: the layout when live */
	uint16_t next_avail, next_used, inflight;	     /* packed ring positions (< size) */
	uint8_t avail_wrap, used_wrap, pad[4];		     /* packed wrap counters */
};
_Static_assert(sizeof(struct virtio_queue_state) == 48, "virtio_queue_state");
struct virtio_dev_state {
	uint64_t acked_features;
	uint32_t device_id;
	uint16_t num_queues;
	uint8_t status, pad;
	struct virtio_queue_state q[VIRTIO_MAX_QUEUES];
};
void virtio_dev_save(struct virtio_dev *vd, struct virtio_dev_state *s);
/* True if a live packed queue has chains popped and not yet pushed (their slots are not in
 * struct virtio_dev_state; a save must wait until they complete). Takes vd->lock. */
bool virtio_dev_has_inflight(struct virtio_dev *vd);
/* Load into a freshly created device of the same type: re-validates and re-activates the
 * queues when the state has DRIVER_OK and puts each at its saved position (the device model's
 * activate op is not called: the device's own state is loaded next, by its model). -EINVAL if
 * the state does not fit this device (type, queue count, unoffered features, a layout other
 * than the negotiated one, a position outside the ring, packed chains in flight) or its queues
 * do not validate against guest memory. */
int virtio_dev_load(struct virtio_dev *vd, const struct virtio_dev_state *s) KVMM_MUST_CHECK;
