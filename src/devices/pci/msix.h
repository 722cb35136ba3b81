/* devices/pci/msix.h — an MSI-X capability with its vector table and pending-bit array (PCI
 * Local Bus 3.0 §6.8.2): enable and function-mask bits in the capability, per-vector mask bits
 * in the table, pending bits set when a masked vector fires and delivered when it is unmasked.
 * Delivery leaves through struct pci_msi_ops: the VMM turns a message (address, data) into an
 * interrupt (KVM GSI routing + irqfd, or KVM_SIGNAL_MSI). The device model only calls
 * pci_msix_notify(vector).
 *
 * Threads: the table/PBA io_ops and config hooks run on vCPU threads (host bus lock held);
 * pci_msix_notify from any thread. m->lock protects the table, the PBA and the enable bits; the
 * pci_msi_ops callbacks are called with it held (they must not call back into the function).
 * Lock order: host bus lock -> pci_dev lock is never held together with m->lock. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "devices/dev.h"
#include "devices/pci/pci.h"

#define PCI_MSIX_MAX_VECTORS 64
#define PCI_MSIX_ENTRY_SIZE  16
#define PCI_MSIX_CTRL_ENABLE 0x8000
#define PCI_MSIX_CTRL_FMASK  0x4000
#define PCI_MSIX_VEC_MASKED  0x1

struct pci_msi_msg {
	uint64_t addr;
	uint32_t data;
};

/* The VMM side of MSI delivery. */
struct pci_msi_ops {
	/* Deliver vector now (it is enabled and unmasked); msg is the table entry. 0 or -errno. */
	int (*send)(void *ctx, unsigned vector, const struct pci_msi_msg *msg);
	/* Optional: the entry's message or its effective mask changed (for GSI routes). */
	void (*update)(void *ctx, unsigned vector, const struct pci_msi_msg *msg, bool masked);
};

struct pci_msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct pci_msix {
	struct pci_dev *d;
	uint8_t cap;
	unsigned nvec;
	pthread_mutex_t lock;
	bool enabled, fmask;
	struct pci_msix_entry table[PCI_MSIX_MAX_VECTORS];
	uint64_t pba;
	const struct pci_msi_ops *ops;
	void *ctx;
	uint64_t sent, pended; /* statistics (under lock) */
};

/* Add the capability to d: nvec vectors (1..64), the table at table_off and the PBA at pba_off
 * (8-byte aligned) inside BAR bar. Every vector starts masked. The caller maps the table and
 * PBA (pci_msix_table_read/write, pci_msix_pba_read) in its BAR handler and forwards config
 * writes (pci_msix_config_written). -EINVAL / -ENOSPC. */
int pci_msix_init(struct pci_msix *m, struct pci_dev *d, unsigned nvec, unsigned bar,
		  uint32_t table_off, uint32_t pba_off, const struct pci_msi_ops *ops,
		  void *ctx) KVMM_MUST_CHECK;
void pci_msix_fini(struct pci_msix *m);

/* Forward every config write of the function (cheap when it does not touch the cap). */
void pci_msix_config_written(struct pci_msix *m, uint32_t off, uint32_t len);

/* Table (off relative to the table, nvec * 16 bytes; 4- or 8-byte aligned accesses) and PBA
 * (off relative to the PBA; read-only). Other accesses read 0 / are ignored. */
void pci_msix_table_read(struct pci_msix *m, uint64_t off, void *data, uint32_t len);
void pci_msix_table_write(struct pci_msix *m, uint64_t off, const void *data, uint32_t len);
void pci_msix_pba_read(struct pci_msix *m, uint64_t off, void *data, uint32_t len);

/* MSI-X enabled in the capability (the function must then not use INTx). Any thread. */
bool pci_msix_enabled(struct pci_msix *m);

/* Signal vector: delivered if enabled and neither the function nor the vector is masked;
 * pending (PBA) if masked. -EINVAL for a vector out of range, -ENODEV when MSI-X is disabled,
 * else 0 or the send error. Any thread. */
int pci_msix_notify(struct pci_msix *m, unsigned vector);

/* Snapshot state: the vector table and the pending bits. The enable and function-mask bits are
 * in the function's config space (struct pci_dev_state) and re-derived from it on load. */
struct pci_msix_state {
	struct pci_msix_entry table[PCI_MSIX_MAX_VECTORS];
	uint64_t pba;
	uint32_t nvec, pad;
};
void pci_msix_save(struct pci_msix *m, struct pci_msix_state *s);
/* Load after the function's config space (pci_dev_load). -EINVAL, with nothing changed, if
 * nvec differs from this capability's, an entry at or above nvec is not zero, an entry's
 * control word has a reserved bit, or a pending bit is out of range or set on a vector that is
 * not masked (a pending vector is delivered as it is unmasked, so a saved one never is). Then,
 * as guest writes would: the enable and function-mask bits are taken from the capability and
 * every vector's message and mask go to ops->update (the VMM's GSI routes). Nothing is sent. */
int pci_msix_load(struct pci_msix *m, const struct pci_msix_state *s) KVMM_MUST_CHECK;
