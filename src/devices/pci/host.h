/* devices/pci/host.h — the PCI host bridge: bus 0 with up to 32 single-function slots, the
 * host bridge itself at 00:00.0, configuration access through the 0xcf8/0xcfc port pair and
 * through an ECAM (MMCONFIG) window, and decoding of the 32-bit memory window in which the
 * functions' BARs live. The VMM registers three bus ranges with the same dev pointer (so one bus
 * lock serialises them): pci_host_pio_ops at the config ports (8 bytes), pci_host_ecam_ops at
 * the ECAM base and pci_host_mmio_ops over the whole window. BARs can then move without any
 * change to the VMM's bus table; a listener hears about each move (for ioeventfds).
 *
 * Threads: pci_host_add and pci_host_set_listener on the main thread before vCPUs run; the
 * io_ops from vCPU threads under the bus lock. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "devices/dev.h"
#include "devices/pci/pci.h"

#define PCI_HOST_SLOTS	   32
#define PCI_HOST_VENDOR	   0x1b36 /* Red Hat, Inc. (QEMU's PCIe host bridge ids) */
#define PCI_HOST_DEVICE	   0x0008
#define PCI_CONFIG_ADDR_EN 0x80000000u
#define PCI_HOST_PIO_SIZE  8

struct pci_host;

/* window: where BARs may decode ([base, base + size), below 4 GiB or not). */
int pci_host_create(struct pci_host **out, uint64_t win_base, uint64_t win_size) KVMM_MUST_CHECK;
void pci_host_destroy(struct pci_host *h);

/* Put d into the next free slot (1..31); *slot receives it. -ENOSPC when full. The function
 * is not owned. */
int pci_host_add(struct pci_host *h, struct pci_dev *d, unsigned *slot) KVMM_MUST_CHECK;

/* The function in slot (0 is the host bridge), or NULL. */
struct pci_dev *pci_host_slot(struct pci_host *h, unsigned slot);

/* Every function's BAR moves are reported to l (copied). */
void pci_host_set_listener(struct pci_host *h, const struct pci_bar_listener *l);

/* Byte accesses to port 0xcf9 (offset 1 of the config ports) go to ops/dev: the reset control
 * register shares the dword of CONFIG_ADDRESS. Called with the host's bus lock held. */
void pci_host_set_cf9(struct pci_host *h, const struct io_ops *ops, void *dev);

/* Snapshot state of the bridge's own registers: the CONFIG_ADDRESS latch. The bridge's config
 * space (slot 0) is a struct pci_dev_state like any function's. */
struct pci_host_state {
	uint32_t cf8, pad;
};
void pci_host_save(struct pci_host *h, struct pci_host_state *s);
/* -EINVAL if cf8 has bits a guest write cannot set. Set-up thread, vCPUs not running. */
int pci_host_load(struct pci_host *h, const struct pci_host_state *s) KVMM_MUST_CHECK;

/* Pure decoders, exposed for tests. CONFIG_ADDRESS value + port offset (0..3 of 0xcfc) ->
 * bus/slot/function/register; false if the enable bit is clear. */
bool pci_cf8_decode(uint32_t cf8, uint32_t port_off, uint8_t *bus, uint8_t *slot, uint8_t *fn,
		    uint32_t *reg);
/* ECAM offset -> bus/slot/function/register (0..4095). */
void pci_ecam_decode(uint64_t off, uint8_t *bus, uint8_t *slot, uint8_t *fn, uint32_t *reg);

/* dev = struct pci_host *. */
extern const struct io_ops pci_host_pio_ops;  /* at LAYOUT_PORT_PCI_CONFIG, 8 ports */
extern const struct io_ops pci_host_ecam_ops; /* at the ECAM base */
extern const struct io_ops pci_host_mmio_ops; /* over the BAR window, off = addr - win_base */
