/* devices/legacy/fw_cfg.h — QEMU's firmware configuration device, I/O port interface
 * (selector +0 = 0x510, data +1 = 0x511, DMA address +4..+11 = 0x514..0x51b), the way SeaBIOS,
 * OVMF, Linux's qemu_fw_cfg and kvm-unit-tests use it.
 *
 * Items are copied in at setup (fw_cfg_add_*) and are read-only afterwards: guest writes
 * (data port or DMA WRITE) change nothing. Built in: FW_CFG_SIGNATURE "QEMU", FW_CFG_ID = 3
 * (traditional + DMA), FW_CFG_FILE_DIR (regenerated on every fw_cfg_add_file()).
 *
 * Threads: fw_cfg_add_*() only from the setup thread before any vCPU runs (registering on a
 * bus first is fine); io_ops then run on vCPU threads, serialised by the bus's per-device
 * lock. DMA goes through the (immutable) gmem, so the device needs no lock of its own. */
#pragma once

#include <stdint.h>

#include "base/compiler.h"
#include "devices/dev.h"

struct gmem;

/* Register offsets from the base (0x510). */
#define FW_CFG_PORT_SEL	 0
#define FW_CFG_PORT_DATA 1
#define FW_CFG_PORT_DMA	 4 /* high 32 bits at +4, low 32 at +8; big-endian */
#define FW_CFG_IO_SIZE	 12

/* Well-known selectors. */
#define FW_CFG_SIGNATURE      0x00
#define FW_CFG_ID	      0x01
#define FW_CFG_UUID	      0x02
#define FW_CFG_RAM_SIZE	      0x03
#define FW_CFG_NOGRAPHIC      0x04
#define FW_CFG_NB_CPUS	      0x05
#define FW_CFG_MACHINE_ID     0x06
#define FW_CFG_KERNEL_ADDR    0x07
#define FW_CFG_KERNEL_SIZE    0x08
#define FW_CFG_KERNEL_CMDLINE 0x09
#define FW_CFG_INITRD_ADDR    0x0a
#define FW_CFG_INITRD_SIZE    0x0b
#define FW_CFG_BOOT_DEVICE    0x0c
#define FW_CFG_NUMA	      0x0d
#define FW_CFG_BOOT_MENU      0x0e
#define FW_CFG_MAX_CPUS	      0x0f
#define FW_CFG_KERNEL_ENTRY   0x10
#define FW_CFG_KERNEL_DATA    0x11
#define FW_CFG_INITRD_DATA    0x12
#define FW_CFG_CMDLINE_ADDR   0x13
#define FW_CFG_CMDLINE_SIZE   0x14
#define FW_CFG_CMDLINE_DATA   0x15
#define FW_CFG_SETUP_ADDR     0x16
#define FW_CFG_SETUP_SIZE     0x17
#define FW_CFG_SETUP_DATA     0x18
#define FW_CFG_FILE_DIR	      0x19
#define FW_CFG_FILE_FIRST     0x20
#define FW_CFG_WRITE_CHANNEL  0x4000
#define FW_CFG_ARCH_LOCAL     0x8000
#define FW_CFG_INVALID	      0xffff

#define FW_CFG_MAX_FILES 64
#define FW_CFG_MAX_ITEMS 64 /* non-file items, including the built-in ones */
#define FW_CFG_MAX_NAME	 56 /* including the NUL */

/* FWCfgDmaAccess.control bits. */
#define FW_CFG_DMA_CTL_ERROR  0x01
#define FW_CFG_DMA_CTL_READ   0x02
#define FW_CFG_DMA_CTL_SKIP   0x04
#define FW_CFG_DMA_CTL_SELECT 0x08
#define FW_CFG_DMA_CTL_WRITE  0x10

#define FW_CFG_DMA_SIGNATURE "QEMU CFG" /* what the DMA address register reads as */

/* The DMA descriptor in guest memory: all fields big-endian. */
struct fw_cfg_dma_access {
	uint32_t control; /* be32 */
	uint32_t length;  /* be32 */
	uint64_t address; /* be64 */
} KVMM_PACKED;
_Static_assert(sizeof(struct fw_cfg_dma_access) == 16, "FWCfgDmaAccess is 16 bytes");

/* A FW_CFG_FILE_DIR entry (the directory is a be32 count followed by these, sorted by name). */
struct fw_cfg_file {
	uint32_t size;	 /* be32 */
	uint16_t select; /* be16 */
	uint16_t reserved;
	char name[FW_CFG_MAX_NAME];
} KVMM_PACKED;
_Static_assert(sizeof(struct fw_cfg_file) == 64, "FWCfgFile is 64 bytes");

struct fw_cfg;

/* Create the device with the built-in items. `m` (guest memory for DMA) must outlive the
 * device; NULL disables DMA (every DMA request then fails without touching memory, and
 * FW_CFG_ID reads 1). 0 or -ENOMEM. */
int fw_cfg_create(struct fw_cfg **out, const struct gmem *m) KVMM_MUST_CHECK;
/* NULL is a no-op. Frees every copied item. */
void fw_cfg_destroy(struct fw_cfg *fw);

/* Add a copy of `len` bytes as item `key`. key must be below FW_CFG_FILE_FIRST (optionally
 * with FW_CFG_ARCH_LOCAL), not FW_CFG_SIGNATURE/ID/FILE_DIR and not already present.
 * -EINVAL (bad key, or data NULL with len > 0), -EEXIST, -ENOSPC (FW_CFG_MAX_ITEMS), -ENOMEM. */
int fw_cfg_add_item(struct fw_cfg *fw, uint16_t key, const void *data,
		    uint32_t len) KVMM_MUST_CHECK;
/* Little-endian scalar items (FW_CFG_RAM_SIZE is le64, FW_CFG_NB_CPUS/MAX_CPUS le16). */
int fw_cfg_add_u16(struct fw_cfg *fw, uint16_t key, uint16_t v) KVMM_MUST_CHECK;
int fw_cfg_add_u32(struct fw_cfg *fw, uint16_t key, uint32_t v) KVMM_MUST_CHECK;
int fw_cfg_add_u64(struct fw_cfg *fw, uint16_t key, uint64_t v) KVMM_MUST_CHECK;

/* Add a copy of a named file ("etc/e820", "opt/..."). It gets the next free selector from
 * FW_CFG_FILE_FIRST and an entry in FW_CFG_FILE_DIR. -EINVAL (empty name, data NULL with
 * len > 0), -ENAMETOOLONG (strlen(name) >= FW_CFG_MAX_NAME), -EEXIST, -ENOSPC
 * (FW_CFG_MAX_FILES), -ENOMEM. On failure nothing changes. Optionally returns the selector. */
int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data,
		    uint32_t len) KVMM_MUST_CHECK;
int fw_cfg_add_file_sel(struct fw_cfg *fw, const char *name, const void *data, uint32_t len,
			uint16_t *select) KVMM_MUST_CHECK;

/* dev = struct fw_cfg *. +0: 16-bit selector write (2 or 4 bytes; low 16 bits); +1: data,
 * read byte by byte from the selected item (each byte of a wider read is the next one), 0 past
 * the end, writes ignored; +4..+11: DMA address, big-endian: a 4-byte write at +4 sets the
 * high half, a 4-byte write at +8 sets the low half and runs the transfer, an 8-byte write at
 * +4 sets both and runs it; reads return the bytes of "QEMU CFG". */
extern const struct io_ops fw_cfg_io_ops;

/* Snapshot state: the selected item and the position in it, and the DMA address latch.
 * The items themselves are rebuilt from the configuration. */
struct fw_cfg_state {
	uint64_t dma_addr;
	uint32_t cur_off;
	uint16_t cur_key; /* FW_CFG_STATE_NONE: nothing selected */
	uint16_t pad;
};
#define FW_CFG_STATE_NONE 0xffff
void fw_cfg_save(struct fw_cfg *fw, struct fw_cfg_state *s);
void fw_cfg_load(struct fw_cfg *fw, const struct fw_cfg_state *s);
