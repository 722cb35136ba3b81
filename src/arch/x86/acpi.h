/* arch/x86/acpi.h — the guest's ACPI tables: RSDP, RSDT, XSDT, FADT (+FACS), MADT, DSDT and,
 * with PCIe, MCFG. Everything is placed in [LAYOUT_ACPI, LAYOUT_ACPI + LAYOUT_ACPI_MAX); the
 * RSDP comes first so that the legacy scan of 0xe0000-0xfffff finds it.
 *
 * The platform described is a PC without a sleep button: PM1 fixed registers at
 * LAYOUT_PORT_ACPI_PM (power-off via SLP_TYP/SLP_EN), reset through port 0xcf9, an IOAPIC at
 * LAYOUT_IOAPIC with ISA IRQs 0-15 on GSIs 0-15 (IRQ0 -> GSI2), COM1, RTC, optionally the i8042,
 * fw_cfg, virtio-mmio devices and an optional PCI host bridge. See docs/platform.md.
 *
 * Built on the main thread before the first vCPU runs. The builders are pure apart from the
 * final copy into guest memory. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "mem/gmem.h"

#define ACPI_MAX_CPUS	     1024
#define ACPI_MAX_VIRTIO_MMIO 32

struct acpi_virtio_mmio {
	uint64_t base; /* must lie below 4 GiB (Memory32Fixed) */
	uint32_t len;
	uint32_t gsi;
	bool edge; /* false: level-triggered, active high (what virtio-mmio needs) */
};

struct acpi_pci {
	bool enabled;	    /* describe a PCI host bridge (PNP0A08/PNP0A03) in the DSDT */
	bool ecam;	    /* also emit an MCFG table and reserve the ECAM window */
	uint64_t ecam_base; /* address of bus 0's configuration space */
	uint8_t bus_start, bus_end;
	uint64_t mmio32_base, mmio32_size; /* below 4 GiB; size 0: none */
	uint64_t mmio64_base, mmio64_size; /* size 0: none */
	uint32_t intx_gsi[4];		   /* GSI of INTA..INTD for slot 0 (swizzled by slot) */
};

struct acpi_config {
	unsigned ncpus;		  /* 1..ACPI_MAX_CPUS */
	const uint32_t *apic_ids; /* ncpus entries: APIC ID of vCPU i (processor UID i) */
	uint8_t slp_typ_s5;	  /* SLP_TYP value for S5 (kvmm's PM device uses 5) */
	bool has_i8042;
	unsigned n_virtio_mmio;
	struct acpi_virtio_mmio virtio_mmio[ACPI_MAX_VIRTIO_MMIO];
	struct acpi_pci pci;
};

/* Fill p with the defaults from layout.h: ECAM at LAYOUT_PCI_ECAM for buses 0-255, the 32-bit
 * window at LAYOUT_PCI_MMIO, INTA-D on GSIs 16-19; enabled and ecam left false. */
void acpi_pci_defaults(struct acpi_pci *p);

/* Build every table into buf[0, cap) as it will appear at guest address base (the RSDP at
 * offset 0). *len receives the bytes used. -EINVAL for a bad config (no CPUs, too many devices,
 * NULL apic_ids, a device above 4 GiB, bus_end < bus_start), -ENOSPC when the tables do not fit.
 * Pure; any thread. */
int acpi_build_image(const struct acpi_config *cfg, uint8_t *buf, size_t cap, gpa_t base,
		     size_t *len) KVMM_MUST_CHECK;

/* Build the tables and copy them to LAYOUT_ACPI in guest memory; *rsdp_out = the RSDP's
 * address. Errors as acpi_build_image(), -ENOMEM, or -EFAULT if the area is not guest RAM.
 * Main thread, before vCPUs run. */
int acpi_build(const struct gmem *m, const struct acpi_config *cfg,
	       gpa_t *rsdp_out) KVMM_MUST_CHECK;

/* The ACPI checksum rule: the byte that makes p[0, len) sum to zero modulo 256 when placed
 * into a zeroed checksum field. Pure. */
uint8_t acpi_checksum(const void *p, size_t len);
