/* tests/guest/payload/lib/pci.c — PCI configuration access through ECAM (found in the ACPI MCFG
 * table) and BAR assignment, as firmware would do it, for bus 0. */
#include "payload.h"

#define PCI_WINDOW_BASE 0xc0000000ull /* kvmm's LAYOUT_PCI_MMIO and QEMU microvm's PCIE_MMIO_BASE */

uint64_t pci_ecam_base(uint64_t rsdp)
{
	const struct acpi_sdt_hdr *m = acpi_find_table(rsdp, "MCFG");
	uint64_t base;

	if (!m || m->len < 44 + 16)
		return 0;
	memcpy(&base, (const uint8_t *)m + 44, 8);
	return base;
}

static uint64_t cfg_addr(uint64_t ecam, unsigned slot, unsigned reg)
{
	return ecam + ((uint64_t)slot << 15) + reg;
}

uint32_t pci_cfg_read32(uint64_t ecam, unsigned slot, unsigned reg)
{
	return mmio_read32(cfg_addr(ecam, slot, reg));
}

uint16_t pci_cfg_read16(uint64_t ecam, unsigned slot, unsigned reg)
{
	return mmio_read16(cfg_addr(ecam, slot, reg));
}

uint8_t pci_cfg_read8(uint64_t ecam, unsigned slot, unsigned reg)
{
	return mmio_read8(cfg_addr(ecam, slot, reg));
}

void pci_cfg_write32(uint64_t ecam, unsigned slot, unsigned reg, uint32_t v)
{
	mmio_write32(cfg_addr(ecam, slot, reg), v);
}

void pci_cfg_write16(uint64_t ecam, unsigned slot, unsigned reg, uint16_t v)
{
	mmio_write16(cfg_addr(ecam, slot, reg), v);
}

void pci_cfg_write8(uint64_t ecam, unsigned slot, unsigned reg, uint8_t v)
{
	mmio_write8(cfg_addr(ecam, slot, reg), v);
}

unsigned pci_assign_bars(uint64_t ecam, unsigned slot, uint64_t *next, uint64_t bars[6])
{
	unsigned placed = 0;

	if (*next == 0)
		*next = PCI_WINDOW_BASE;
	pci_cfg_write16(ecam, slot, 0x04, 0); /* decoding off while sizing */
	for (unsigned i = 0; i < 6; i++) {
		unsigned reg = 0x10 + 4 * i;
		uint32_t orig = pci_cfg_read32(ecam, slot, reg), lo;
		bool is64 = (orig & 0x7) == 0x4;
		uint64_t size, mask, addr;

		bars[i] = 0;
		if (orig & 1)
			continue; /* I/O BAR: not used by these payloads */
		pci_cfg_write32(ecam, slot, reg, 0xffffffff);
		lo = pci_cfg_read32(ecam, slot, reg) & ~0xfu;
		mask = lo;
		if (is64) {
			pci_cfg_write32(ecam, slot, reg + 4, 0xffffffff);
			mask |= (uint64_t)pci_cfg_read32(ecam, slot, reg + 4) << 32;
		} else {
			mask |= 0xffffffff00000000ull;
		}
		if (lo == 0 && !is64) {
			pci_cfg_write32(ecam, slot, reg, orig);
			continue;
		}
		size = ~mask + 1;
		addr = (*next + size - 1) & ~(size - 1);
		*next = addr + size;
		pci_cfg_write32(ecam, slot, reg, (uint32_t)addr);
		if (is64)
			pci_cfg_write32(ecam, slot, reg + 4, (uint32_t)(addr >> 32));
		bars[i] = addr;
		printf("pci: 00:%02x.0 BAR%u at 0x%lx, %lu bytes%s\n", slot, i, addr, size,
		       is64 ? ", 64-bit" : "");
		placed++;
		if (is64)
			i++;
	}
	pci_cfg_write16(ecam, slot, 0x04, 0x0006); /* memory + bus master */
	return placed;
}
