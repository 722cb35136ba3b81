/* devices/virtio/mmio.h — the virtio-mmio transport (virtio 1.2 §4.2, version 2 only): decodes
 * the register window into calls on the transport-independent core (virtio.h) and owns the
 * interrupt status register and its level-triggered line.
 *
 * Threads: io_ops run on vCPU threads under the bus lock; the notify callbacks the core calls
 * (completions) may come from any thread: the interrupt status is protected by an internal
 * mutex. Queue notifications are delivered synchronously to the device's queue_notify on the
 * vCPU thread that wrote QueueNotify. */
#pragma once

#include <pthread.h>
#include <stdint.h>

#include "base/compiler.h"
#include "devices/dev.h"
#include "devices/virtio/virtio.h"

#define VIRTIO_MMIO_SIZE   0x200
#define VIRTIO_MMIO_MAGIC  0x74726976 /* "virt" */
#define VIRTIO_MMIO_VENDOR 0x554d4551 /* "QEMU", as QEMU and Firecracker report */

/* Register offsets (§4.2.2). */
#define VIRTIO_MMIO_MAGIC_VALUE		0x000
#define VIRTIO_MMIO_VERSION		0x004
#define VIRTIO_MMIO_DEVICE_ID		0x008
#define VIRTIO_MMIO_VENDOR_ID		0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES	0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES	0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL		0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX	0x034
#define VIRTIO_MMIO_QUEUE_NUM		0x038
#define VIRTIO_MMIO_QUEUE_READY		0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY	0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS	0x060
#define VIRTIO_MMIO_INTERRUPT_ACK	0x064
#define VIRTIO_MMIO_STATUS		0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW	0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH	0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW	0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH	0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW	0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH	0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION	0x0fc
#define VIRTIO_MMIO_CONFIG		0x100

#define VIRTIO_MMIO_INT_VRING  0x1
#define VIRTIO_MMIO_INT_CONFIG 0x2

struct virtio_mmio;

/* Attach the transport to an initialised device. The irq line is copied. */
int virtio_mmio_create(struct virtio_mmio **out, struct virtio_dev *vd,
		       const struct irq_line *irq) KVMM_MUST_CHECK;
void virtio_mmio_destroy(struct virtio_mmio *t);

/* dev = struct virtio_mmio *. Registers are 32-bit; config space accepts 1/2/4/8 bytes. */
extern const struct io_ops virtio_mmio_io_ops;

/* The device behind the transport. */
struct virtio_dev *virtio_mmio_dev(struct virtio_mmio *t);

/* Snapshot state of the transport registers (the device's own is virtio_dev_state). */
struct virtio_mmio_state {
	uint32_t isr, dev_feat_sel, drv_feat_sel, queue_sel, config_gen, pad;
};
void virtio_mmio_save(struct virtio_mmio *t, struct virtio_mmio_state *s);
/* Restores the registers and drives the interrupt line to match ISR. */
void virtio_mmio_load(struct virtio_mmio *t, const struct virtio_mmio_state *s);
