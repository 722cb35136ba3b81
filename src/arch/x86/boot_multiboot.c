/* arch/x86/boot_multiboot.c — multiboot v1 loader: finds the header in the first 8 KiB, loads
 * the image from its ELF program headers or the a.out kludge addresses, and writes a
 * multiboot_info with memory sizes, command line, the initrd as module 0, a memory map and
 * the boot loader name (as QEMU's -kernel multiboot support does). */
#include "arch/x86/boot.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/bootparam.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "base/ckd.h"

#define MB_LOADER_NAME "kvmm"
#define MB_MODULE_NAME "initrd"
#define MB_STR_LOADER  LAYOUT_MB_STRINGS
#define MB_STR_MODULE  (LAYOUT_MB_STRINGS + sizeof(MB_LOADER_NAME))
#define MB_SUPPORTED_REQ                                                                           \
	(BOOTPARAM_MBH_PAGE_ALIGN | BOOTPARAM_MBH_MEMORY_INFO | BOOTPARAM_MBH_VIDEO_MODE)

/* Offset of the first valid header (4-aligned, checksum ok) in the first 8 KiB, or -1. */
static long mb_find(const uint8_t *k, size_t len, struct bootparam_mb_header *h)
{
	size_t lim = KVMM_MIN(len, (size_t)BOOTPARAM_MB_SEARCH);

	for (size_t off = 0; off + 12 <= lim; off += BOOTPARAM_MB_ALIGN) {
		uint32_t w[3];

		memcpy(w, k + off, sizeof(w));
		if (w[0] != BOOTPARAM_MB_HEADER_MAGIC || (uint32_t)(w[0] + w[1] + w[2]) != 0)
			continue;
		memset(h, 0, sizeof(*h));
		memcpy(h, k + off, KVMM_MIN(sizeof(*h), len - off));
		return (long)off;
	}
	return -1;
}

/* Load with the a.out kludge addresses. */
static int mb_load_aout(const struct gmem *m, const struct boot_input *in,
			const struct bootparam_mb_header *h, size_t off, struct boot_entry *out,
			char *err, size_t errlen)
{
	uint64_t delta, foff, load_end, size, bss_end;
	int r;

	if (off + sizeof(*h) > in->kernel_len)
		return boot_fail(err, errlen, -EINVAL, "multiboot a.out header truncated");
	if (h->header_addr < h->load_addr || (delta = h->header_addr - h->load_addr) > off)
		return boot_fail(
		    err, errlen, -EINVAL,
		    "multiboot header_addr 0x%x / load_addr 0x%x do not match the header "
		    "offset 0x%zx",
		    h->header_addr, h->load_addr, off);
	foff = off - delta;
	if (h->load_end_addr)
		load_end = h->load_end_addr;
	else if (ckd_add(&load_end, (uint64_t)h->load_addr, (uint64_t)(in->kernel_len - foff)))
		return boot_fail(err, errlen, -EINVAL, "multiboot image size overflows");
	if (load_end < h->load_addr || load_end - h->load_addr > in->kernel_len - foff)
		return boot_fail(err, errlen, -EINVAL,
				 "multiboot load range [0x%x, 0x%llx) is not inside the file",
				 h->load_addr, (unsigned long long)load_end);
	size = load_end - h->load_addr;
	bss_end = h->bss_end_addr ? h->bss_end_addr : load_end;
	if (bss_end < load_end)
		return boot_fail(err, errlen, -EINVAL,
				 "multiboot bss_end_addr 0x%x < load_end 0x%llx", h->bss_end_addr,
				 (unsigned long long)load_end);
	if (h->entry_addr < h->load_addr || h->entry_addr >= bss_end)
		return boot_fail(err, errlen, -EINVAL,
				 "multiboot entry 0x%x is outside the image [0x%x, 0x%llx)",
				 h->entry_addr, h->load_addr, (unsigned long long)bss_end);
	r = boot_check_range(in, h->load_addr, bss_end - h->load_addr, LAYOUT_HIGHMEM,
			     "multiboot kernel", err, errlen);
	if (r)
		return r;
	r = size ? gmem_write(m, h->load_addr, in->kernel + foff, size) : 0;
	if (!r && bss_end > load_end)
		r = gmem_fill(m, load_end, 0, bss_end - load_end);
	if (r)
		return boot_fail(err, errlen, r, "cannot write the multiboot kernel at 0x%x",
				 h->load_addr);
	out->kernel_start = h->load_addr;
	out->kernel_end = bss_end;
	out->entry = h->entry_addr;
	return 0;
}

static int mb_load_elf(const struct gmem *m, const struct boot_input *in, struct boot_entry *out,
		       char *err, size_t errlen)
{
	struct boot_elf e;
	int r;

	r = boot_elf_parse(in->kernel, in->kernel_len, &e, err, errlen);
	if (r == -ENOEXEC)
		return boot_fail(
		    err, errlen, -ENOEXEC,
		    "multiboot image without the a.out kludge (flag bit 16) must be ELF");
	if (r)
		return r;
	r = boot_elf_load(m, in, &e, LAYOUT_HIGHMEM, &out->kernel_start, &out->kernel_end, err,
			  errlen);
	if (r)
		return r;
	out->entry = boot_elf_phys_entry(in->kernel, &e);
	if (out->entry < out->kernel_start || out->entry >= out->kernel_end)
		return boot_fail(err, errlen, -EINVAL,
				 "multiboot ELF entry 0x%llx is outside the loaded image",
				 (unsigned long long)out->entry);
	return 0;
}

static uint32_t mb_kib(uint64_t bytes)
{
	return (uint32_t)KVMM_MIN(bytes / 1024, (uint64_t)UINT32_MAX);
}

static int mb_write_info(const struct gmem *m, const struct boot_input *in, uint64_t initrd,
			 char *err, size_t errlen)
{
	struct bootparam_mb_info mbi;
	struct bootparam_mb_mod mod = {0};
	struct bootparam_mb_mmap mm[E820_MAX_ENTRIES];
	unsigned n = KVMM_MIN(in->e820->n, (unsigned)E820_MAX_ENTRIES);
	uint64_t upper = boot_ram_end(in->e820, LAYOUT_BIOS_END, 1);
	int r;

	memset(&mbi, 0, sizeof(mbi));
	memset(mm, 0, sizeof(mm));
	mbi.flags = BOOTPARAM_MBI_MEM | BOOTPARAM_MBI_CMDLINE | BOOTPARAM_MBI_MODS |
		    BOOTPARAM_MBI_MMAP | BOOTPARAM_MBI_BOOT_LOADER_NAME;
	mbi.mem_lower = mb_kib(KVMM_MIN(boot_ram_end(in->e820, 0, 1), LAYOUT_LOWMEM_END));
	mbi.mem_upper = upper ? mb_kib(upper - LAYOUT_BIOS_END) : 0;
	mbi.cmdline = (uint32_t)LAYOUT_CMDLINE;
	mbi.boot_loader_name = (uint32_t)MB_STR_LOADER;
	mbi.mods_addr = (uint32_t)LAYOUT_MB_MODS;
	mbi.mmap_addr = (uint32_t)LAYOUT_MB_MMAP;
	for (unsigned i = 0; i < n; i++) {
		mm[i].size = sizeof(mm[i]) - sizeof(mm[i].size);
		mm[i].base_addr = in->e820->e[i].addr;
		mm[i].length = in->e820->e[i].size;
		mm[i].type = in->e820->e[i].type;
	}
	mbi.mmap_length = (uint32_t)(n * sizeof(mm[0]));
	r = gmem_write(m, MB_STR_LOADER, MB_LOADER_NAME, sizeof(MB_LOADER_NAME));
	if (!r && initrd) {
		mbi.mods_count = 1;
		mod.mod_start = (uint32_t)initrd; /* placed below LAYOUT_INITRD_MAX */
		mod.mod_end = (uint32_t)(initrd + in->initrd_len);
		mod.string = (uint32_t)MB_STR_MODULE;
		r = gmem_write(m, MB_STR_MODULE, MB_MODULE_NAME, sizeof(MB_MODULE_NAME));
		if (!r)
			r = gmem_write_obj(m, LAYOUT_MB_MODS, &mod);
	}
	if (!r && n)
		r = gmem_write(m, LAYOUT_MB_MMAP, mm, n * sizeof(mm[0]));
	if (!r)
		r = gmem_write_obj(m, LAYOUT_MB_INFO, &mbi);
	if (r)
		return boot_fail(err, errlen, r, "cannot write multiboot_info at 0x%llx",
				 (unsigned long long)LAYOUT_MB_INFO);
	return 0;
}

int boot_load_multiboot(const struct gmem *m, const struct boot_input *in, struct boot_entry *out,
			char *err, size_t errlen)
{
	struct bootparam_mb_header h;
	uint64_t initrd;
	long off;
	int r;

	off = mb_find(in->kernel, in->kernel_len, &h);
	if (off < 0)
		return 0;
	if (h.flags & BOOTPARAM_MBH_REQUIRED_MASK & ~MB_SUPPORTED_REQ)
		return boot_fail(err, errlen, -ENOEXEC,
				 "multiboot header requires unsupported features (flags 0x%08x)",
				 h.flags);
	if (h.flags & BOOTPARAM_MBH_AOUT_KLUDGE)
		r = mb_load_aout(m, in, &h, (size_t)off, out, err, errlen);
	else
		r = mb_load_elf(m, in, out, err, errlen);
	if (r)
		return r;
	r = boot_write_cmdline(m, in->kernel_name, in->cmdline, LAYOUT_CMDLINE_MAX, err, errlen);
	if (r)
		return r;
	r = boot_place_initrd(m, in, LAYOUT_INITRD_MAX + 1, out->kernel_end, &initrd, err, errlen);
	if (r)
		return r;
	r = mb_write_info(m, in, initrd, err, errlen);
	if (r)
		return r;
	out->proto = BOOT_PROTO_MULTIBOOT;
	out->arg = LAYOUT_MB_INFO;
	out->magic = BOOTPARAM_MB_BOOTLOADER_MAGIC;
	out->initrd_addr = initrd;
	return 1;
}
