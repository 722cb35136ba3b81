/* devices/virtio/pci.h — the virtio 1.2 modern PCI transport (§4.1), non-transitional: vendor
 * 0x1af4, device 0x1040 + device id, revision 1, QEMU's class codes. Layout, as QEMU's:
 *   BAR 1 (32-bit memory, 4 KiB): MSI-X table at 0, PBA at 0x800
 *   BAR 4 (64-bit prefetchable memory, 16 KiB): common config at 0x0000, ISR at 0x1000,
 *         device config at 0x2000, notifications at 0x3000 (queue q at 0x3000 + 4 * q,
 *         notify_off_multiplier 4)
 *   capabilities: MSI-X, then vendor capabilities COMMON, ISR, DEVICE, NOTIFY, PCI_CFG.
 * Interrupts: with MSI-X enabled, the config vector and per-queue vectors (NO_VECTOR = none);
 * otherwise the ISR bits and INTA (level, cleared by reading the ISR).
 *
 * Threads: register accesses come from vCPU threads through the PCI host (bus lock held);
 * virtio_pci_kick() from the VMM's ioeventfd thread; completions from any thread. t->lock
 * protects the ISR. Lock order: bus lock -> vd->lock -> t->lock -> pci_dev lock / msix lock. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "devices/dev.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci.h"
#include "devices/virtio/virtio.h"

#define VIRTIO_PCI_VENDOR	 0x1af4
#define VIRTIO_PCI_DEVICE_BASE	 0x1040
#define VIRTIO_PCI_SUBSYS_ID	 0x1100
#define VIRTIO_PCI_NO_VECTOR	 0xffff
#define VIRTIO_PCI_MSIX_BAR	 1
#define VIRTIO_PCI_MSIX_BAR_SIZE 0x1000
#define VIRTIO_PCI_MSIX_PBA	 0x800
#define VIRTIO_PCI_BAR		 4
#define VIRTIO_PCI_BAR_SIZE	 0x4000
#define VIRTIO_PCI_COMMON_OFF	 0x0000
#define VIRTIO_PCI_ISR_OFF	 0x1000
#define VIRTIO_PCI_DEVICE_OFF	 0x2000
#define VIRTIO_PCI_NOTIFY_OFF	 0x3000
#define VIRTIO_PCI_NOTIFY_MULT	 4
#define VIRTIO_PCI_REGION_SIZE	 0x1000

/* virtio_pci_cap.cfg_type */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG	  3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG	  5

/* struct virtio_pci_common_cfg offsets (§4.1.4.3). */
#define VIRTIO_PCI_COMMON_DFSELECT	0x00
#define VIRTIO_PCI_COMMON_DF		0x04
#define VIRTIO_PCI_COMMON_GFSELECT	0x08
#define VIRTIO_PCI_COMMON_GF		0x0c
#define VIRTIO_PCI_COMMON_MSIX		0x10
#define VIRTIO_PCI_COMMON_NUMQ		0x12
#define VIRTIO_PCI_COMMON_STATUS	0x14
#define VIRTIO_PCI_COMMON_CFGGENERATION 0x15
#define VIRTIO_PCI_COMMON_Q_SELECT	0x16
#define VIRTIO_PCI_COMMON_Q_SIZE	0x18
#define VIRTIO_PCI_COMMON_Q_MSIX	0x1a
#define VIRTIO_PCI_COMMON_Q_ENABLE	0x1c
#define VIRTIO_PCI_COMMON_Q_NOFF	0x1e
#define VIRTIO_PCI_COMMON_Q_DESCLO	0x20
#define VIRTIO_PCI_COMMON_Q_DESCHI	0x24
#define VIRTIO_PCI_COMMON_Q_AVAILLO	0x28
#define VIRTIO_PCI_COMMON_Q_AVAILHI	0x2c
#define VIRTIO_PCI_COMMON_Q_USEDLO	0x30
#define VIRTIO_PCI_COMMON_Q_USEDHI	0x34
#define VIRTIO_PCI_COMMON_Q_NDATA	0x38
#define VIRTIO_PCI_COMMON_Q_RESET	0x3a
#define VIRTIO_PCI_COMMON_SIZE		0x3c

#define VIRTIO_PCI_ISR_QUEUE  0x1
#define VIRTIO_PCI_ISR_CONFIG 0x2

struct virtio_pci;

struct virtio_pci_opts {
	struct irq_line intx;	       /* INTA (level) */
	const struct pci_msi_ops *msi; /* NULL: no MSI-X capability */
	void *msi_ctx;
	unsigned msix_vectors; /* 0: num_queues + 1 (one for config) */
};

/* Attach the transport to an initialised device. -EINVAL / -ENOMEM. */
int virtio_pci_create(struct virtio_pci **out, struct virtio_dev *vd,
		      const struct virtio_pci_opts *o) KVMM_MUST_CHECK;
void virtio_pci_destroy(struct virtio_pci *t);

/* The PCI function, to register with a host. */
struct pci_dev *virtio_pci_dev(struct virtio_pci *t);
/* Back from the function (e.g. in a BAR listener); NULL if d is not a virtio-pci function. */
struct virtio_pci *virtio_pci_from_dev(struct pci_dev *d);
struct virtio_dev *virtio_pci_vdev(struct virtio_pci *t);

/* Offset of queue q's notification address inside BAR VIRTIO_PCI_BAR. */
static inline uint64_t virtio_pci_notify_offset(uint16_t q)
{
	return VIRTIO_PCI_NOTIFY_OFF + (uint64_t)q * VIRTIO_PCI_NOTIFY_MULT;
}

/* A queue notification that did not come through a register write (ioeventfd): runs the
 * device's queue_notify if the queue exists, the device is DRIVER_OK and not NEEDS_RESET. */
void virtio_pci_kick(struct virtio_pci *t, uint16_t q);

/* The function's MSI-X capability, or NULL if it was created without one. */
struct pci_msix *virtio_pci_msix(struct virtio_pci *t);

/* Snapshot state of the transport registers. The function's config space (struct
 * pci_dev_state), its MSI-X table (struct pci_msix_state) and the device core (struct
 * virtio_dev_state) are saved and loaded next to it by the VMM. */
struct virtio_pci_state {
	uint32_t dfselect, gfselect, config_gen;
	uint16_t queue_sel, msix_config;
	uint16_t queue_msix[VIRTIO_MAX_QUEUES];
	uint8_t isr, pad[7];
};
void virtio_pci_save(struct virtio_pci *t, struct virtio_pci_state *s);
/* Load after the config space (pci_dev_load) and the MSI-X table. -EINVAL, with nothing
 * changed, if a vector is neither NO_VECTOR nor below the table size (any vector without
 * MSI-X, a queue vector of a queue the device does not have), the ISR has bits other than
 * QUEUE and CONFIG, or the INTx level the config space drives disagrees with the ISR (the line
 * is up exactly while the ISR is not zero). The feature and queue selectors may hold any value
 * (the live registers do too: a selector without a queue or feature word reads as 0). */
int virtio_pci_load(struct virtio_pci *t, const struct virtio_pci_state *s) KVMM_MUST_CHECK;
