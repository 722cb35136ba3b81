/* arch/x86/layout.h — every fixed guest-physical address and platform number kvmm uses.
 * Nothing else in the tree may hard-code a guest address. Constants only; any thread. */
#pragma once

/* Low memory (below 1 MiB), written by the boot loaders before the first vCPU runs. */
#define LAYOUT_BOOT_GDT                                                                            \
	0x0500ull /* 5 entries (0x500-0x527): null, -, code 0x10, data 0x18, tss 0x20 */
#define LAYOUT_BOOT_IDT	      0x0540ull /* empty IDT (limit 0) */
#define LAYOUT_PVH_START_INFO 0x1000ull /* struct hvm_start_info */
#define LAYOUT_PVH_MODLIST    0x1100ull /* hvm_modlist_entry[] */
#define LAYOUT_PVH_MEMMAP     0x1200ull /* hvm_memmap_table_entry[] (up to 128) */
#define LAYOUT_MB_INFO	      0x2000ull /* multiboot_info */
#define LAYOUT_MB_MODS	      0x2100ull /* multiboot module list */
#define LAYOUT_MB_MMAP	      0x2400ull /* multiboot memory map (up to 128 entries) */
#define LAYOUT_MB_STRINGS     0x3000ull /* module strings, bootloader name */
#define LAYOUT_ZERO_PAGE      0x7000ull /* Linux struct boot_params */
#define LAYOUT_PML4	      0x9000ull /* boot page tables: identity map of the first 4 GiB */
#define LAYOUT_PDPT	      0xa000ull
#define LAYOUT_PD	      0xb000ull	 /* 4 pages: 0xb000..0xefff, 2 MiB pages */
#define LAYOUT_BOOT_STACK     0x8ff0ull	 /* initial RSP for 64-bit entries that need one */
#define LAYOUT_CMDLINE	      0x20000ull /* kernel command line */
#define LAYOUT_CMDLINE_MAX    0x10000ull /* 64 KiB including the NUL */
#define LAYOUT_EBDA	      0x9fc00ull /* start of the reserved area below 640 KiB */
#define LAYOUT_LOWMEM_END     0xa0000ull /* 640 KiB: e820 RAM ends here, VGA hole follows */
#define LAYOUT_ACPI	      0xe0000ull /* RSDP (legacy scan range) and every ACPI table */
#define LAYOUT_ACPI_MAX	      0x10000ull
#define LAYOUT_MPTABLE	      0xf0000ull /* MP floating pointer + configuration table */
#define LAYOUT_MPTABLE_MAX    0x10000ull
#define LAYOUT_BIOS_END	      0x100000ull

/* Kernel and initrd. */
#define LAYOUT_KERNEL_LOAD 0x100000ull /* 1 MiB: bzImage protected-mode code, default ELF */
#define LAYOUT_INITRD_MAX  0xbfffffffull

/* The 32-bit MMIO hole: RAM that would overlap it is moved above 4 GiB. */
#define LAYOUT_MMIO_HOLE	0xc0000000ull
#define LAYOUT_MMIO_HOLE_END	0x100000000ull
#define LAYOUT_PCI_MMIO		0xc0000000ull /* 32-bit PCI BARs */
#define LAYOUT_PCI_MMIO_SIZE	0x10000000ull
#define LAYOUT_VIRTIO_MMIO	0xd0000000ull /* virtio-mmio devices, 4 KiB each */
#define LAYOUT_VIRTIO_MMIO_SIZE 0x1000ull
#define LAYOUT_PCI_ECAM		0xe0000000ull /* PCIe MMCONFIG, bus 0..255 */
#define LAYOUT_PCI_ECAM_SIZE	0x10000000ull
#define LAYOUT_IOAPIC		0xfec00000ull
#define LAYOUT_ACPI_GED		0xfeb00000ull /* hardware-reduced ACPI sleep/status registers */
#define LAYOUT_LAPIC		0xfee00000ull
#define LAYOUT_KVM_IDENTITY_MAP 0xfeffc000ull /* KVM_SET_IDENTITY_MAP_ADDR (1 page) */
#define LAYOUT_KVM_TSS		0xfeffd000ull /* KVM_SET_TSS_ADDR (3 pages) */
#define LAYOUT_HIGHMEM		0x100000000ull

/* I/O ports. */
#define LAYOUT_PORT_COM1       0x3f8
#define LAYOUT_PORT_COM2       0x2f8
#define LAYOUT_PORT_RTC	       0x70
#define LAYOUT_PORT_I8042      0x60 /* and 0x64 */
#define LAYOUT_PORT_RESET      0xcf9
#define LAYOUT_PORT_DEBUG_EXIT 0xf4
#define LAYOUT_PORT_FW_CFG     0x510 /* selector 0x510, data 0x511, DMA 0x514..0x51b */
#define LAYOUT_PORT_ACPI_PM    0x600 /* PM1a_EVT (4), PM1a_CNT (2) at +4, PM timer at +8 */
#define LAYOUT_PORT_PCI_CONFIG 0xcf8

/* Interrupts: GSIs 0..15 are ISA IRQs on the IOAPIC; 16..19 are PCI INTA-D (swizzled by slot,
 * see the DSDT _PRT); 20..23 the virtio-mmio slots; MSI routes use GSIs from 24 up. */
#define LAYOUT_IRQ_KBD	    1
#define LAYOUT_IRQ_COM1	    4
#define LAYOUT_IRQ_COM2	    3
#define LAYOUT_IRQ_RTC	    8
#define LAYOUT_IRQ_ACPI_SCI 9
#define LAYOUT_IRQ_AUX	    12
#define LAYOUT_IOAPIC_PINS  24
#define LAYOUT_GSI_DYNAMIC  16

#define LAYOUT_GSI_PCI_INTX    16 /* INTA..INTD: 16..19 */
#define LAYOUT_GSI_VIRTIO_MMIO 20 /* slot i: 20 + i */
#define LAYOUT_GSI_MSI_BASE    24 /* KVM GSI routes for MSI-X vectors (no IOAPIC pin) */
