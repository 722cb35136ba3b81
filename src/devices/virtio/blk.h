/* devices/virtio/blk.h — virtio-blk (block device, virtio 1.2 §5.2) on top of the block layer
 * (block/disk.h): IN, OUT, FLUSH, GET_ID, DISCARD and WRITE_ZEROES requests, read-only disks,
 * one virtqueue per request queue (VIRTIO_BLK_F_MQ). The device never opens files: the VMM opens
 * the disk and passes it in.
 *
 * Every request is parsed from a copy: the 16-byte header is copied out of the chain (it may
 * span segments), the status byte is the last byte of the last device-writable segment, and
 * sector ranges are checked against the capacity with ckd_ arithmetic before any I/O.
 *
 * I/O is asynchronous (block/aio.h): queue_notify (a vCPU thread, or the event loop) takes
 * vd.lock, pops each chain, validates it, answers what needs no disk I/O (GET_ID, bad or
 * unsupported requests) and submits the rest to the disk's aio engine (io_uring or worker
 * threads), then returns. The aio completion thread takes vd.lock, writes the status byte,
 * pushes the used ring and raises the interrupt. FLUSH completes after fdatasync returned. A
 * device reset waits (on a condition variable over vd.lock) for the requests in flight, which
 * then finish without touching the rings; destroy drains them too.
 *
 * Threads: create/destroy from the VMM's set-up thread; everything else takes vd.lock. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "block/aio.h"
#include "devices/virtio/virtio.h"

struct disk;
struct gmem;
struct virtio_blk;

/* Feature bits (§5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX	  1
#define VIRTIO_BLK_F_SEG_MAX	  2
#define VIRTIO_BLK_F_GEOMETRY	  4
#define VIRTIO_BLK_F_RO		  5
#define VIRTIO_BLK_F_BLK_SIZE	  6
#define VIRTIO_BLK_F_FLUSH	  9
#define VIRTIO_BLK_F_TOPOLOGY	  10
#define VIRTIO_BLK_F_CONFIG_WCE	  11
#define VIRTIO_BLK_F_MQ		  12
#define VIRTIO_BLK_F_DISCARD	  13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types, status values and flags (§5.2.6). */
#define VIRTIO_BLK_T_IN		  0
#define VIRTIO_BLK_T_OUT	  1
#define VIRTIO_BLK_T_FLUSH	  4
#define VIRTIO_BLK_T_GET_ID	  8
#define VIRTIO_BLK_T_GET_LIFETIME 10
#define VIRTIO_BLK_T_DISCARD	  11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_T_SECURE_ERASE 14

#define VIRTIO_BLK_S_OK	    0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_WZ_F_UNMAP 1u

#define VIRTIO_BLK_SECTOR	       512u
#define VIRTIO_BLK_ID_BYTES	       20u
#define VIRTIO_BLK_DEFAULT_QUEUE_SIZE  256u
#define VIRTIO_BLK_MAX_DISCARD_SEG     32u	  /* segments per DISCARD / WRITE_ZEROES request */
#define VIRTIO_BLK_MAX_DISCARD_SECTORS (1u << 22) /* 2 GiB per segment */

/* The request header (§5.2.6), little-endian. */
struct virtio_blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};
_Static_assert(sizeof(struct virtio_blk_req_hdr) == 16, "virtio_blk_req_hdr");

/* One DISCARD / WRITE_ZEROES segment. */
struct virtio_blk_discard_wz {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};
_Static_assert(sizeof(struct virtio_blk_discard_wz) == 16, "virtio_blk_discard_wz");

/* The configuration space (§5.2.4) up to write_zeroes_may_unmap and its padding. */
struct virtio_blk_config {
	uint64_t capacity; /* 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;
	uint8_t heads, sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp, alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback, unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} KVMM_PACKED;
_Static_assert(sizeof(struct virtio_blk_config) == 60, "virtio_blk_config");

struct virtio_blk_opts {
	const char *serial;  /* GET_ID string, at most 20 bytes (longer: -EINVAL); NULL: empty */
	bool readonly;	     /* force read-only even if the disk is writable */
	bool discard;	     /* offer VIRTIO_BLK_F_DISCARD */
	bool write_zeroes;   /* offer VIRTIO_BLK_F_WRITE_ZEROES */
	uint16_t queues;     /* request queues, 1..VIRTIO_MAX_QUEUES; 0 means 1 */
	uint16_t queue_size; /* max entries per queue, power of two 2..1024; 0 means 256 */
	enum aio_engine aio; /* AUTO: io_uring for raw, else threads (see block/aio.h) */
};

struct virtio_blk_stats {
	uint64_t reads, writes, flushes, get_ids, discards, write_zeroes; /* completed OK */
	uint64_t read_bytes, written_bytes;
	uint64_t unsupported;  /* VIRTIO_BLK_S_UNSUPP answers */
	uint64_t rejected;     /* VIRTIO_BLK_S_IOERR for a bad request (range, length, RO) */
	uint64_t io_errors;    /* VIRTIO_BLK_S_IOERR because the disk failed */
	uint64_t guest_errors; /* malformed chains: NEEDS_RESET */
	uint64_t reset_waits;  /* device resets that waited for requests in flight */
	uint64_t abandoned;    /* requests finished during a reset: not put in the used ring */
};

/* Create a virtio-blk device on an open disk (not owned: the caller closes it after
 * virtio_blk_destroy). Read-only if opts->readonly or disk_is_readonly(disk). opts may be NULL
 * (defaults). The disk's size is rounded down to whole sectors. -EINVAL for bad options,
 * -ENOMEM, or aio_create's error. Set-up thread. */
int virtio_blk_create(struct virtio_blk **out, const struct gmem *mem, struct disk *disk,
		      const struct virtio_blk_opts *opts) KVMM_MUST_CHECK;

/* Free the device (not the disk), after waiting for the requests in flight. NULL is a no-op. */
void virtio_blk_destroy(struct virtio_blk *b);

/* Block until no request is in flight (every popped chain has been completed). Not from an
 * aio callback; the caller must not hold vd.lock. Any other thread. */
void virtio_blk_drain(struct virtio_blk *b);

/* The aio engine in use: "io_uring" or "threads". */
const char *virtio_blk_aio_engine(const struct virtio_blk *b);

/* The embedded virtio core, for a transport (virtio_mmio_create). */
struct virtio_dev *virtio_blk_dev(struct virtio_blk *b);

/* Snapshot of the counters (takes vd.lock). Any thread. */
void virtio_blk_get_stats(struct virtio_blk *b, struct virtio_blk_stats *out);
