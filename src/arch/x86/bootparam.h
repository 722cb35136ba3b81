/* arch/x86/bootparam.h — wire formats of the x86 boot protocols kvmm implements: the Linux
 * boot protocol (setup_header, boot_params "zero page"), Xen PVH (hvm_start_info) and
 * multiboot v1 (header, multiboot_info). Layouts follow Documentation/x86/boot.rst,
 * xen/include/public/arch-x86/hvm/start_info.h and the Multiboot 0.6.96 specification; every
 * struct is little-endian and checked with _Static_assert. Types and constants only; any
 * thread. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

/* ---- Linux boot protocol ---- */

#define BOOTPARAM_SETUP_HDR_OFF	      0x1f1 /* offset of struct bootparam_setup_header in the image */
#define BOOTPARAM_HDRS_MAGIC	      0x53726448u /* "HdrS" */
#define BOOTPARAM_BOOT_FLAG	      0xaa55
#define BOOTPARAM_SECTOR	      512
#define BOOTPARAM_DEFAULT_SETUP_SECTS 4	     /* setup_sects == 0 means 4 */
#define BOOTPARAM_MIN_VERSION	      0x020c /* 2.12: xloadflags, 64-bit entry */
#define BOOTPARAM_RSDP_VERSION	      0x020e /* 2.14: acpi_rsdp_addr */
#define BOOTPARAM_LOADER_UNDEFINED    0xff   /* type_of_loader for loaders without an ID */
#define BOOTPARAM_ENTRY64_OFF	      0x200  /* 64-bit entry: load address + 0x200 */
#define BOOTPARAM_E820_MAX	      128
#define BOOTPARAM_DEFAULT_ALIGN	      0x1000000u /* kernel_alignment default for ELF vmlinux */

/* loadflags */
#define BOOTPARAM_LOADED_HIGH	0x01
#define BOOTPARAM_KASLR_FLAG	0x02
#define BOOTPARAM_QUIET_FLAG	0x20
#define BOOTPARAM_KEEP_SEGMENTS 0x40
#define BOOTPARAM_CAN_USE_HEAP	0x80

/* xloadflags */
#define BOOTPARAM_XLF_KERNEL_64		     0x0001
#define BOOTPARAM_XLF_CAN_BE_LOADED_ABOVE_4G 0x0002

struct bootparam_setup_header {
	uint8_t setup_sects;		/* 0x1f1 */
	uint16_t root_flags;		/* 0x1f2 */
	uint32_t syssize;		/* 0x1f4: protected-mode code size in 16-byte units */
	uint16_t ram_size;		/* 0x1f8 */
	uint16_t vid_mode;		/* 0x1fa */
	uint16_t root_dev;		/* 0x1fc */
	uint16_t boot_flag;		/* 0x1fe: 0xaa55 */
	uint16_t jump;			/* 0x200 */
	uint32_t header;		/* 0x202: "HdrS" */
	uint16_t version;		/* 0x206 */
	uint32_t realmode_swtch;	/* 0x208 */
	uint16_t start_sys_seg;		/* 0x20c */
	uint16_t kernel_version;	/* 0x20e */
	uint8_t type_of_loader;		/* 0x210 */
	uint8_t loadflags;		/* 0x211 */
	uint16_t setup_move_size;	/* 0x212 */
	uint32_t code32_start;		/* 0x214 */
	uint32_t ramdisk_image;		/* 0x218 */
	uint32_t ramdisk_size;		/* 0x21c */
	uint32_t bootsect_kludge;	/* 0x220 */
	uint16_t heap_end_ptr;		/* 0x224 */
	uint8_t ext_loader_ver;		/* 0x226 */
	uint8_t ext_loader_type;	/* 0x227 */
	uint32_t cmd_line_ptr;		/* 0x228 */
	uint32_t initrd_addr_max;	/* 0x22c: highest byte address the initrd may occupy */
	uint32_t kernel_alignment;	/* 0x230 */
	uint8_t relocatable_kernel;	/* 0x234 */
	uint8_t min_alignment;		/* 0x235 */
	uint16_t xloadflags;		/* 0x236 */
	uint32_t cmdline_size;		/* 0x238: max command line length without the NUL */
	uint32_t hardware_subarch;	/* 0x23c */
	uint64_t hardware_subarch_data; /* 0x240 */
	uint32_t payload_offset;	/* 0x248 */
	uint32_t payload_length;	/* 0x24c */
	uint64_t setup_data;		/* 0x250 */
	uint64_t pref_address;		/* 0x258 */
	uint32_t init_size; /* 0x260: bytes of memory the kernel needs from its load address */
	uint32_t handover_offset;    /* 0x264 */
	uint32_t kernel_info_offset; /* 0x268 */
} KVMM_PACKED;
_Static_assert(sizeof(struct bootparam_setup_header) == 0x26c - 0x1f1, "setup_header size");

struct bootparam_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} KVMM_PACKED;
_Static_assert(sizeof(struct bootparam_e820_entry) == 20, "boot_e820_entry size");

/* struct boot_params ("zero page"); fields kvmm does not fill are padding. */
struct bootparam_boot_params {
	uint8_t screen_info[0x40];				    /* 0x000 */
	uint8_t apm_bios_info[0x14];				    /* 0x040 */
	uint8_t pad2[4];					    /* 0x054 */
	uint64_t tboot_addr;					    /* 0x058 */
	uint8_t ist_info[0x10];					    /* 0x060 */
	uint64_t acpi_rsdp_addr;				    /* 0x070 */
	uint8_t pad3[8];					    /* 0x078 */
	uint8_t hd0_info[16];					    /* 0x080 */
	uint8_t hd1_info[16];					    /* 0x090 */
	uint8_t sys_desc_table[0x10];				    /* 0x0a0 */
	uint8_t olpc_ofw_header[0x10];				    /* 0x0b0 */
	uint32_t ext_ramdisk_image;				    /* 0x0c0 */
	uint32_t ext_ramdisk_size;				    /* 0x0c4 */
	uint32_t ext_cmd_line_ptr;				    /* 0x0c8 */
	uint8_t pad4[0x140 - 0xcc];				    /* 0x0cc */
	uint8_t edid_info[0x80];				    /* 0x140 */
	uint8_t efi_info[0x20];					    /* 0x1c0 */
	uint32_t alt_mem_k;					    /* 0x1e0 */
	uint32_t scratch;					    /* 0x1e4 */
	uint8_t e820_entries;					    /* 0x1e8 */
	uint8_t eddbuf_entries;					    /* 0x1e9 */
	uint8_t edd_mbr_sig_buf_entries;			    /* 0x1ea */
	uint8_t kbd_status;					    /* 0x1eb */
	uint8_t secure_boot;					    /* 0x1ec */
	uint8_t pad5[2];					    /* 0x1ed */
	uint8_t sentinel;					    /* 0x1ef */
	uint8_t pad6[1];					    /* 0x1f0 */
	struct bootparam_setup_header hdr;			    /* 0x1f1 */
	uint8_t pad7[0x290 - 0x26c];				    /* 0x26c */
	uint32_t edd_mbr_sig_buffer[16];			    /* 0x290 */
	struct bootparam_e820_entry e820_table[BOOTPARAM_E820_MAX]; /* 0x2d0 */
	uint8_t pad8[0x1000 - 0xcd0];				    /* 0xcd0: eddbuf etc. */
} KVMM_PACKED;
_Static_assert(sizeof(struct bootparam_boot_params) == 4096, "boot_params size");
_Static_assert(offsetof(struct bootparam_boot_params, hdr) == 0x1f1, "hdr offset");
_Static_assert(offsetof(struct bootparam_boot_params, e820_table) == 0x2d0, "e820 offset");
_Static_assert(offsetof(struct bootparam_boot_params, acpi_rsdp_addr) == 0x70, "rsdp offset");

/* ---- Xen PVH ---- */

#define BOOTPARAM_XEN_ELFNOTE_PHYS32_ENTRY 18
#define BOOTPARAM_PVH_MAGIC		   0x336ec578u
#define BOOTPARAM_PVH_VERSION		   1
#define BOOTPARAM_PVH_MEMMAP_MAX	   128

struct bootparam_hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr; /* version >= 1 */
	uint32_t memmap_entries;
	uint32_t reserved;
};
_Static_assert(sizeof(struct bootparam_hvm_start_info) == 56, "hvm_start_info size");

struct bootparam_hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};
_Static_assert(sizeof(struct bootparam_hvm_modlist_entry) == 32, "hvm_modlist_entry size");

struct bootparam_hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type; /* E820 types */
	uint32_t reserved;
};
_Static_assert(sizeof(struct bootparam_hvm_memmap_entry) == 24, "hvm_memmap_table_entry size");

/* ---- Multiboot v1 ---- */

#define BOOTPARAM_MB_HEADER_MAGIC     0x1badb002u
#define BOOTPARAM_MB_BOOTLOADER_MAGIC 0x2badb002u /* in eax at entry */
#define BOOTPARAM_MB_SEARCH	      8192	  /* header lies in the first 8 KiB */
#define BOOTPARAM_MB_ALIGN	      4

/* header flags: bits 0..15 are requirements, 16..31 optional features */
#define BOOTPARAM_MBH_PAGE_ALIGN    0x00000001u
#define BOOTPARAM_MBH_MEMORY_INFO   0x00000002u
#define BOOTPARAM_MBH_VIDEO_MODE    0x00000004u
#define BOOTPARAM_MBH_AOUT_KLUDGE   0x00010000u
#define BOOTPARAM_MBH_REQUIRED_MASK 0x0000ffffu

/* multiboot_info flags */
#define BOOTPARAM_MBI_MEM	       0x001u
#define BOOTPARAM_MBI_CMDLINE	       0x004u
#define BOOTPARAM_MBI_MODS	       0x008u
#define BOOTPARAM_MBI_MMAP	       0x040u
#define BOOTPARAM_MBI_BOOT_LOADER_NAME 0x200u

struct bootparam_mb_header {
	uint32_t magic;
	uint32_t flags;
	uint32_t checksum; /* magic + flags + checksum == 0 (mod 2^32) */
	/* valid when flags & BOOTPARAM_MBH_AOUT_KLUDGE */
	uint32_t header_addr;
	uint32_t load_addr;
	uint32_t load_end_addr; /* 0: load to the end of the file */
	uint32_t bss_end_addr;	/* 0: no bss */
	uint32_t entry_addr;
};
_Static_assert(sizeof(struct bootparam_mb_header) == 32, "multiboot header size");

struct bootparam_mb_info {
	uint32_t flags;
	uint32_t mem_lower; /* KiB from 0 */
	uint32_t mem_upper; /* KiB from 1 MiB */
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count;
	uint32_t mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length;
	uint32_t mmap_addr;
	uint32_t drives_length;
	uint32_t drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
	uint32_t apm_table;
	uint32_t vbe_control_info;
	uint32_t vbe_mode_info;
	uint16_t vbe_mode;
	uint16_t vbe_interface_seg;
	uint16_t vbe_interface_off;
	uint16_t vbe_interface_len;
};
_Static_assert(sizeof(struct bootparam_mb_info) == 88, "multiboot_info size");
_Static_assert(offsetof(struct bootparam_mb_info, boot_loader_name) == 64, "mbi name offset");

struct bootparam_mb_mod {
	uint32_t mod_start;
	uint32_t mod_end; /* exclusive */
	uint32_t string;
	uint32_t reserved;
};
_Static_assert(sizeof(struct bootparam_mb_mod) == 16, "multiboot module size");

struct bootparam_mb_mmap {
	uint32_t size; /* of the rest of the entry: 20 */
	uint64_t base_addr;
	uint64_t length;
	uint32_t type;
} KVMM_PACKED;
_Static_assert(sizeof(struct bootparam_mb_mmap) == 24, "multiboot mmap entry size");
