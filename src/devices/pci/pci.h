/* devices/pci/pci.h — one PCI function's configuration space (type 0 header): the write masks
 * and write-1-to-clear bits that give registers their semantics, memory BARs with the sizing
 * protocol, the capability list, the command register (memory enable, INTx disable) and the
 * INTx pin. Device models embed a struct pci_dev and register it with a host (host.h), which
 * decodes config cycles and BAR windows and calls back into it.
 *
 * Only memory BARs exist (32- or 64-bit); I/O BARs are not offered (see docs/pci.md).
 *
 * Threads: config accesses and BAR accesses arrive from vCPU threads through the host, which
 * serialises them (one bus lock for the whole host). pci_dev_set_intx() may be called from any
 * thread. d->lock protects the config bytes (the status register's interrupt bit changes from
 * any thread); the ops hooks run without it. Lock order: host bus lock -> d->lock. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "devices/dev.h"

#define PCI_CFG_SIZE  256 /* conventional space; ECAM's 256..4095 read as 0 */
#define PCI_NUM_BARS  6
#define PCI_CAP_START 0x40

/* Header offsets. */
#define PCI_VENDOR_ID	   0x00
#define PCI_DEVICE_ID	   0x02
#define PCI_COMMAND	   0x04
#define PCI_STATUS	   0x06
#define PCI_REVISION_ID	   0x08
#define PCI_CLASS_PROG	   0x09
#define PCI_HEADER_TYPE	   0x0e
#define PCI_BAR0	   0x10
#define PCI_SUBSYS_VENDOR  0x2c
#define PCI_SUBSYS_ID	   0x2e
#define PCI_CAP_PTR	   0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN  0x3d

#define PCI_COMMAND_IO		 0x0001
#define PCI_COMMAND_MEMORY	 0x0002
#define PCI_COMMAND_MASTER	 0x0004
#define PCI_COMMAND_PARITY	 0x0040
#define PCI_COMMAND_SERR	 0x0100
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS_INTERRUPT	 0x0008
#define PCI_STATUS_CAP_LIST	 0x0010

#define PCI_BAR_MEM_64	     0x04
#define PCI_BAR_MEM_PREFETCH 0x08

#define PCI_CAP_ID_MSIX	 0x11
#define PCI_CAP_ID_VNDR	 0x09
#define PCI_BAR_UNMAPPED UINT64_MAX

struct pci_dev;

/* What a function implements beyond plain config-space bytes. All optional. */
struct pci_dev_ops {
	/* After the default read filled data[0, len) from config bytes [off, off + len). */
	void (*config_read)(struct pci_dev *d, uint32_t off, void *data, uint32_t len);
	/* After a write changed config bytes [off, off + len). */
	void (*config_written)(struct pci_dev *d, uint32_t off, uint32_t len);
};

struct pci_bar {
	uint64_t size; /* 0: unused; else a power of two >= 16 */
	bool is64, prefetch;
	const struct io_ops *ops; /* dev = opaque, off = offset inside the BAR */
	void *opaque;
	uint64_t mapped; /* decoded address, or PCI_BAR_UNMAPPED (see pci_dev_update_bars) */
};

/* Called by the function when a BAR's decoded address changes (the host sets it). */
struct pci_bar_listener {
	void (*moved)(void *ctx, struct pci_dev *d, unsigned bar, uint64_t old_addr,
		      uint64_t new_addr);
	void *ctx;
};

struct pci_dev {
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE]; /* bits the guest may write */
	uint8_t w1c[PCI_CFG_SIZE];   /* bits the guest clears by writing 1 */
	struct pci_bar bar[PCI_NUM_BARS];
	uint8_t last_cap; /* offset of the last capability, 0: none */
	uint8_t cap_end;  /* next free config offset for a capability */
	const struct pci_dev_ops *ops;
	uint64_t win_base, win_size; /* where BARs decode (set by the host) */
	struct pci_bar_listener listener;
	pthread_mutex_t lock; /* cfg bytes, intx_level, the line */
	struct irq_line intx;
	bool intx_level, intx_out;
};

/* Initialise the header: ids, class (24 bits: base << 16 | sub << 8 | prog-if), revision,
 * subsystem ids, interrupt pin INTA if intx is given (copied). Writable: command (memory,
 * master, parity, SERR, INTx disable), interrupt line; status error bits are RW1C. */
void pci_dev_init(struct pci_dev *d, uint16_t vendor, uint16_t device, uint32_t class_code,
		  uint8_t rev, uint16_t subsys_vendor, uint16_t subsys_id,
		  const struct irq_line *intx, const struct pci_dev_ops *ops);
void pci_dev_fini(struct pci_dev *d);

/* Declare memory BAR n (64-bit BARs take n and n + 1). size: a power of two >= 16.
 * -EINVAL for a bad index/size. Before the function is registered with a host. */
int pci_dev_add_bar(struct pci_dev *d, unsigned n, uint64_t size, bool is64, bool prefetch,
		    const struct io_ops *ops, void *opaque) KVMM_MUST_CHECK;

/* Append a capability of len bytes (>= 2) with id; *off receives its offset. The first two
 * bytes (id, next) are filled and read-only; the body is zero and read-only until the caller
 * marks bits writable with pci_dev_set_wmask(). -ENOSPC when it does not fit. */
int pci_dev_add_cap(struct pci_dev *d, uint8_t id, uint8_t len, uint8_t *off) KVMM_MUST_CHECK;

/* Little-endian helpers on the config bytes (host side; no masks applied). */
void pci_cfg_set(struct pci_dev *d, uint32_t off, uint32_t len, uint32_t v);
uint32_t pci_cfg_get(const struct pci_dev *d, uint32_t off, uint32_t len);
void pci_dev_set_wmask(struct pci_dev *d, uint32_t off, uint32_t len, uint32_t mask);

/* A config-space access from the guest (off < 4096, len 1/2/4, may be unaligned; what lies
 * outside 0..255 reads as 0 and is ignored on write). */
void pci_dev_config_read(struct pci_dev *d, uint32_t off, void *data, uint32_t len);
void pci_dev_config_write(struct pci_dev *d, uint32_t off, const void *data, uint32_t len);

/* The address BAR n decodes at, or PCI_BAR_UNMAPPED (memory decoding off, BAR inside a 64-bit
 * pair's upper half, address 0, or not entirely inside the host window). */
uint64_t pci_dev_bar_addr(const struct pci_dev *d, unsigned n);

/* Recompute every BAR's mapping and tell the listener about changes. Called after config
 * writes (done by pci_dev_config_write) and when the host sets the window. */
void pci_dev_update_bars(struct pci_dev *d);

/* Drive INTx (level). The line follows level && !INTX_DISABLE; STATUS.INTERRUPT follows
 * level. Any thread. */
void pci_dev_set_intx(struct pci_dev *d, bool level);

/* Snapshot state of the function: the configuration bytes as the guest programmed them and the
 * INTx level the function drives. Read-only bytes (ids, capability bodies, BAR type bits) are
 * saved too, so that a load can check the state belongs to a function of the same shape. */
struct pci_dev_state {
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t intx_level, pad[7];
};
void pci_dev_save(struct pci_dev *d, struct pci_dev_state *s);
/* Load into a function created with the same shape and registered with its host (window set,
 * listener installed). -EINVAL, with nothing changed, unless: every byte the guest cannot write
 * equals this function's, the STATUS interrupt bit equals intx_level (as it always does), and with
 * memory decoding on, every BAR is unassigned (0) or lies inside the window, aligned to its
 * size. Then as a guest write would: the BARs are decoded again (the listener hears each move)
 * and the INTx line is driven to the saved level. Capability side effects (MSI-X enable) are
 * the owner's to re-derive (pci_msix_load). Set-up thread, vCPUs not running. */
int pci_dev_load(struct pci_dev *d, const struct pci_dev_state *s) KVMM_MUST_CHECK;
