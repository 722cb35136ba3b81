/* arch/x86/boot.h — kernel loaders and the boot vCPU's initial state.
 *
 * boot_load() probes a kernel image held in memory (the caller reads the files) and loads it
 * into guest RAM for one of three entry protocols: the Linux 64-bit boot protocol (bzImage or
 * ELF vmlinux), Xen PVH (ELF with a PHYS32_ENTRY note) or multiboot v1 (ELF or a.out kludge).
 * It writes the kernel, the initrd, the command line and the protocol's boot information at
 * the addresses in arch/x86/layout.h. boot_vcpu_state() then produces the BSP's registers for
 * that entry. The image, initrd and command line are untrusted: every size and offset is
 * checked before any guest write. Pure functions of their inputs plus guest memory; called
 * from the main thread while building the VM (before vCPUs run); no locks, no globals.
 * See docs/boot.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "mem/gmem.h"

struct bootparam_setup_header;
struct e820_map;
struct kvm_regs;
struct kvm_sregs;

enum boot_proto {
	BOOT_PROTO_LINUX64,  /* bzImage 64-bit boot protocol or ELF vmlinux: rsi = zero page */
	BOOT_PROTO_PVH,	     /* Xen PVH: 32-bit protected mode, ebx = hvm_start_info */
	BOOT_PROTO_MULTIBOOT /* multiboot v1: 32-bit protected mode, eax = magic, ebx = mbi */
};

struct boot_input {
	const uint8_t *kernel;
	size_t kernel_len;
	const char
	    *kernel_name;      /* path as given; first word of the multiboot cmdline; may be NULL */
	const uint8_t *initrd; /* may be NULL */
	size_t initrd_len;
	const char *cmdline; /* may be NULL */
	const struct e820_map *e820;
	gpa_t rsdp; /* 0 = none */
};

struct boot_entry {
	enum boot_proto proto;
	uint64_t entry;	       /* guest-physical entry point */
	uint64_t arg;	       /* zero page / hvm_start_info / multiboot_info */
	uint32_t magic;	       /* eax at entry (0x2BADB002 for multiboot, else 0) */
	uint64_t kernel_start; /* [start, end) guest-physical extent of the loaded kernel */
	uint64_t kernel_end;
	uint64_t initrd_addr; /* 0 when there is no initrd */
};

/* Probe in->kernel and load it, the initrd and the boot information into guest memory m.
 * in->e820 must describe m (see e820_build); in->kernel must be non-NULL. On success fills *out
 * and returns 0. Errors (a one-line reason is written to err when errlen > 0):
 * -ENOEXEC not a kernel image or unsupported protocol version, -EINVAL malformed image or
 * input, -E2BIG kernel/initrd/command line does not fit (the message says how much memory is
 * needed), -EFAULT a write hit a hole in guest memory. Guest memory may be partly written on
 * failure. Main thread, before vCPUs run. */
int boot_load(const struct gmem *m, const struct boot_input *in, struct boot_entry *out, char *err,
	      size_t errlen) KVMM_MUST_CHECK;

/* Initial state of the boot vCPU for entry e. *regs is overwritten entirely. *sregs is updated
 * in place: fill it with KVM_GET_SREGS first; segments, GDT/IDT, CR0/CR3/CR4 and EFER are set,
 * everything else (apic_base, cr8, interrupt_bitmap) is left as given. Writes the GDT (and for
 * BOOT_PROTO_LINUX64 the identity page tables for 0..4 GiB) into guest memory.
 * 0, -EINVAL (unknown protocol or entry not addressable), -EFAULT (low memory missing). */
int boot_vcpu_state(const struct gmem *m, const struct boot_entry *e, struct kvm_regs *regs,
		    struct kvm_sregs *sregs) KVMM_MUST_CHECK;

/* Parsed, validated bzImage header (the pure part of the bzImage loader; fuzzed). */
struct boot_bzimage_info {
	uint16_t version;
	size_t setup_size;     /* bytes of real-mode setup, including the boot sector */
	size_t kernel_off;     /* == setup_size: file offset of the protected-mode kernel */
	size_t kernel_size;    /* bytes of protected-mode kernel (syssize * 16) */
	uint64_t load_addr;    /* where boot_load puts the protected-mode kernel */
	uint64_t mem_end;      /* end of memory the kernel needs: max(load, pref) + init_size */
	uint32_t cmdline_max;  /* command line bytes including the NUL */
	uint64_t initrd_limit; /* exclusive upper bound for the initrd */
};

/* Parse and check the setup_header of the bzImage k[0..len). 0 and *out filled, -ENOEXEC when
 * there is no "HdrS" header (not a bzImage) or the protocol is too old for the 64-bit entry,
 * -EINVAL when the header is inconsistent with the file. Pure; any thread. */
int boot_bzimage_parse(const uint8_t *k, size_t len, struct boot_bzimage_info *out, char *err,
		       size_t errlen) KVMM_MUST_CHECK;

/* ---- Internal to boot*.c (not for other modules) ---- */

/* snprintf(err, ...) and return code (a negative errno). */
int boot_fail(char *err, size_t errlen, int code, const char *fmt, ...) KVMM_PRINTF(4, 5);

/* True if k starts with a bzImage boot sector carrying the "HdrS" signature. */
bool boot_is_bzimage(const uint8_t *k, size_t len);

/* End (exclusive) of the E820_RAM entry containing [addr, addr+len); 0 if none does. */
uint64_t boot_ram_end(const struct e820_map *map, uint64_t addr, uint64_t len);

/* Check that a kernel range [addr, addr+len) lies in RAM at or above 1 MiB (and below
 * `limit`); -E2BIG with "needs N MiB" when it runs past RAM, -EINVAL otherwise. */
int boot_check_range(const struct boot_input *in, uint64_t addr, uint64_t len, uint64_t limit,
		     const char *what, char *err, size_t errlen) KVMM_MUST_CHECK;

/* Place the initrd page-aligned at the top of the low RAM entry, below `limit` (exclusive) and
 * at or above kernel_end; write it; *addr = 0 when there is none. -E2BIG when it does not fit. */
int boot_place_initrd(const struct gmem *m, const struct boot_input *in, uint64_t limit,
		      uint64_t kernel_end, uint64_t *addr, char *err,
		      size_t errlen) KVMM_MUST_CHECK;

/* Write "a[ b]" NUL-terminated at LAYOUT_CMDLINE; -E2BIG if it needs more than max bytes. */
int boot_write_cmdline(const struct gmem *m, const char *a, const char *b, size_t max, char *err,
		       size_t errlen) KVMM_MUST_CHECK;

/* Write the command line, place the initrd (below initrd_limit, above out->kernel_end) and
 * write the zero page built from hdr (the image's header or defaults) with the e820 table
 * and, when rsdp_ok, acpi_rsdp_addr. Sets out->arg and out->initrd_addr. */
int boot_write_zero_page(const struct gmem *m, const struct boot_input *in,
			 const struct bootparam_setup_header *hdr, uint64_t initrd_limit,
			 uint32_t cmdline_max, bool rsdp_ok, struct boot_entry *out, char *err,
			 size_t errlen) KVMM_MUST_CHECK;

/* Minimal ELF view shared by the PVH, vmlinux and multiboot loaders. */
struct boot_elf {
	bool is64;
	uint64_t entry;
	uint64_t phoff;
	unsigned phnum;
};
struct boot_elf_phdr {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};
#define BOOT_ELF_MAX_PHDRS 128

/* -ENOEXEC if k is not an x86 ELF32/ELF64 executable; -EINVAL if its program header table is
 * malformed (phentsize, phnum > BOOT_ELF_MAX_PHDRS, table beyond the file). */
int boot_elf_parse(const uint8_t *k, size_t len, struct boot_elf *e, char *err,
		   size_t errlen) KVMM_MUST_CHECK;
/* Program header i (< e->phnum), widened to 64 bits. */
void boot_elf_phdr(const uint8_t *k, const struct boot_elf *e, unsigned i,
		   struct boot_elf_phdr *ph);
/* Validate every PT_LOAD (file bounds, RAM, >= 1 MiB, below limit), then load them at
 * p_paddr; [*lo, *hi) is the extent. */
int boot_elf_load(const struct gmem *m, const struct boot_input *in, const struct boot_elf *e,
		  uint64_t limit, uint64_t *lo, uint64_t *hi, char *err,
		  size_t errlen) KVMM_MUST_CHECK;
/* Entry e->entry as a physical address: p_paddr-based when it falls in a segment's vaddr. */
uint64_t boot_elf_phys_entry(const uint8_t *k, const struct boot_elf *e);
/* PVH entry from a PT_NOTE Xen PHYS32_ENTRY note: 1 found, 0 none, -EINVAL malformed. */
int boot_elf_pvh_entry(const uint8_t *k, size_t len, const struct boot_elf *e, uint32_t *entry,
		       char *err, size_t errlen) KVMM_MUST_CHECK;

int boot_load_bzimage(const struct gmem *m, const struct boot_input *in, struct boot_entry *out,
		      char *err, size_t errlen) KVMM_MUST_CHECK;
int boot_load_pvh(const struct gmem *m, const struct boot_input *in, const struct boot_elf *e,
		  uint32_t entry, struct boot_entry *out, char *err, size_t errlen) KVMM_MUST_CHECK;
int boot_load_vmlinux(const struct gmem *m, const struct boot_input *in, const struct boot_elf *e,
		      struct boot_entry *out, char *err, size_t errlen) KVMM_MUST_CHECK;
/* Multiboot: 1 and loaded, 0 no multiboot header (nothing written), <0 error. */
int boot_load_multiboot(const struct gmem *m, const struct boot_input *in, struct boot_entry *out,
			char *err, size_t errlen) KVMM_MUST_CHECK;
