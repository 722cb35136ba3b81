/* tests/lib/pvq_builder.h — lays out a packed virtqueue (virtio 1.2 §2.8) in plain mmap'ed
 * "guest" memory and plays the driver (as Linux's virtio_ring.c does: head flags written last,
 * AVAIL/USED on every descriptor of a chain, buffer ID on each), so the device side can be
 * tested without /dev/kvm. Single-threaded test helper; shares the layout of vq_builder.h. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/spec.h"
#include "devices/virtio/virtq.h"
#include "lib/vq_builder.h"
#include "mem/gmem.h"

#define PVQB_MAX 1024

struct pvqb {
	uint8_t *ram;
	struct gmem *mem;
	struct virtq vq;
	uint16_t size;
	/* driver state */
	uint16_t next_avail, next_used;
	bool avail_wrap, used_wrap;
	uint16_t ndesc_of[1024]; /* ring descriptors per buffer ID (IDs < 1024) */
	uint64_t next_data;
};

void pvqb_init(struct pvqb *b, uint16_t size);
void pvqb_fini(struct pvqb *b);
/* virtq_activate with RING_PACKED and the given features; returns its result. */
int pvqb_activate(struct pvqb *b, bool event_idx, bool indirect);
/* Make a chain of n segments available with buffer ID `id` (< 1024). `indirect`: one ring
 * descriptor pointing to a table. Segment gpas are filled in. */
void pvqb_add_chain(struct pvqb *b, struct vqb_seg *segs, unsigned n, bool indirect, uint16_t id);
/* Write one raw descriptor at the driver's next position with this lap's AVAIL/USED bits (or,
 * with `wrong_bits`, the inverse) and advance; the caller builds hostile chains with it. */
void pvqb_put_raw(struct pvqb *b, uint64_t addr, uint32_t len, uint16_t flags, uint16_t id,
		  bool wrong_bits);
/* Driver side: the next used descriptor, if the device wrote one (advances by the chain's
 * ring descriptors). */
bool pvqb_get_used(struct pvqb *b, uint16_t *id, uint32_t *len, uint16_t *flags);
struct pvirtq_desc *pvqb_desc(struct pvqb *b, uint16_t i);
struct pvirtq_event_suppress *pvqb_driver_evt(struct pvqb *b);
struct pvirtq_event_suppress *pvqb_device_evt(struct pvqb *b);
void *pvqb_host(struct pvqb *b, uint64_t gpa);
