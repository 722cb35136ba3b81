/* devices/virtio/spec.h — virtio 1.2 wire structures and constants (split and packed rings,
 * status bits, feature bits, device IDs). Little-endian on the wire; x86 hosts only, so fields
 * are plain integers. Constants only; any thread. */
#pragma once

#include <stdint.h>

/* Device status (virtio 1.2 §2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER	  0x02
#define VIRTIO_STATUS_DRIVER_OK	  0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED	  0x80

/* Reserved feature bits (§6). */
#define VIRTIO_F_INDIRECT_DESC	 28
#define VIRTIO_F_EVENT_IDX	 29
#define VIRTIO_F_VERSION_1	 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED	 34
#define VIRTIO_F_IN_ORDER	 35

/* Device IDs (§5). */
#define VIRTIO_ID_NET	  1
#define VIRTIO_ID_BLOCK	  2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG	  4
#define VIRTIO_ID_BALLOON 5

/* Split virtqueue (§2.7). */
#define VIRTQ_DESC_F_NEXT	   1
#define VIRTQ_DESC_F_WRITE	   2
#define VIRTQ_DESC_F_INDIRECT	   4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY	   1

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
_Static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc");

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* size entries, then used_event */
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};
_Static_assert(sizeof(struct virtq_used_elem) == 8, "virtq_used_elem");

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[]; /* size entries, then avail_event */
};

/* Bytes of each ring part for a queue of `n` entries (with the EVENT_IDX trailer). */
#define VIRTQ_DESC_BYTES(n)  ((uint64_t)(n)*16)
#define VIRTQ_AVAIL_BYTES(n) (4 + (uint64_t)(n)*2 + 2)
#define VIRTQ_USED_BYTES(n)  (4 + (uint64_t)(n)*8 + 2)

/* Packed virtqueue (§2.8). Flags share NEXT/WRITE/INDIRECT with the split ring. */
#define VIRTQ_DESC_F_AVAIL (1u << 7)
#define VIRTQ_DESC_F_USED  (1u << 15)

struct pvirtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};
_Static_assert(sizeof(struct pvirtq_desc) == 16, "pvirtq_desc");

/* Event suppression (§2.8.10): the driver area holds the driver's (read by the device), the
 * device area the device's (read by the driver). */
#define RING_EVENT_FLAGS_ENABLE	 0x0
#define RING_EVENT_FLAGS_DISABLE 0x1
#define RING_EVENT_FLAGS_DESC	 0x2 /* only with VIRTIO_F_EVENT_IDX */
#define RING_EVENT_WRAP_SHIFT	 15  /* desc: offset in bits 0..14, wrap counter in bit 15 */

struct pvirtq_event_suppress {
	uint16_t desc;
	uint16_t flags;
};
_Static_assert(sizeof(struct pvirtq_event_suppress) == 4, "pvirtq_event_suppress");
