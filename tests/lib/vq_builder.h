/* tests/lib/vq_builder.h — lays out a split virtqueue in plain mmap'ed "guest" memory, as a
 * driver would, so device-side code can be tested without /dev/kvm (after Firecracker's
 * test_utils.rs). Single-threaded test helper. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/spec.h"
#include "devices/virtio/virtq.h"
#include "mem/gmem.h"

#define VQB_RAM_SIZE  (4u << 20)
#define VQB_DESC_GPA  0x1000u
#define VQB_AVAIL_GPA 0x5000u
#define VQB_USED_GPA  0x6000u
#define VQB_DATA_GPA  0x100000u /* buffers are carved from here */

struct vqb {
	uint8_t *ram;
	struct gmem *mem;
	struct virtq vq;
	uint16_t size, next_desc, avail_idx;
	uint64_t next_data;
};

struct vqb_seg {
	uint32_t len;
	bool write;   /* device-writable */
	uint64_t gpa; /* 0: allocate from the data area */
};

void vqb_init(struct vqb *b, uint16_t size);
void vqb_fini(struct vqb *b);
/* Activate the device side (virtq_activate) with the given features; returns its result. */
int vqb_activate(struct vqb *b, bool event_idx, bool indirect);
/* Add a chain of n segments; returns the head index. `indirect`: put the chain in an
 * indirect table referenced by one ring descriptor. Segment gpas are filled in. */
uint16_t vqb_add_chain(struct vqb *b, struct vqb_seg *segs, unsigned n, bool indirect);
/* Raw access for hostile set-ups. */
struct virtq_desc *vqb_desc(struct vqb *b, uint16_t i);
void vqb_publish(struct vqb *b, uint16_t head); /* put head in the avail ring, bump idx */
void vqb_set_avail_idx(struct vqb *b, uint16_t idx);
void *vqb_host(struct vqb *b, uint64_t gpa);
uint16_t vqb_used_idx(struct vqb *b);
struct virtq_used_elem vqb_used_elem(struct vqb *b, uint16_t i);
void vqb_set_used_event(struct vqb *b, uint16_t v);
