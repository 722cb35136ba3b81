/* arch/x86/boot.c — boot_load() probing and the helpers shared by the loaders (RAM range
 * checks, initrd placement, command line, zero page), and boot_vcpu_state(). See boot.h. */
#include "arch/x86/boot.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <linux/kvm.h>

#include "arch/x86/bootparam.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "arch/x86/regs.h"
#include "base/ckd.h"

#define BOOT_MIB  (1024ull * 1024)
#define BOOT_PAGE 4096ull

int boot_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

uint64_t boot_ram_end(const struct e820_map *map, uint64_t addr, uint64_t len)
{
	uint64_t end, eend;

	if (ckd_add(&end, addr, len))
		return 0;
	for (unsigned i = 0; i < map->n && i < E820_MAX_ENTRIES; i++) {
		const struct e820_entry *e = &map->e[i];

		if (e->type != E820_RAM || ckd_add(&eend, e->addr, e->size))
			continue;
		if (addr >= e->addr && end <= eend)
			return eend;
	}
	return 0;
}

static uint64_t boot_ram_top(const struct e820_map *map)
{
	uint64_t top = 0, eend;

	for (unsigned i = 0; i < map->n && i < E820_MAX_ENTRIES; i++)
		if (map->e[i].type == E820_RAM && !ckd_add(&eend, map->e[i].addr, map->e[i].size))
			top = KVMM_MAX(top, eend);
	return top;
}

static unsigned long long boot_mib_up(uint64_t bytes)
{
	return (unsigned long long)(bytes / BOOT_MIB + (bytes % BOOT_MIB != 0));
}

int boot_check_range(const struct boot_input *in, uint64_t addr, uint64_t len, uint64_t limit,
		     const char *what, char *err, size_t errlen)
{
	uint64_t end, top;

	if (ckd_add(&end, addr, len))
		return boot_fail(err, errlen, -EINVAL, "%s: address 0x%llx + 0x%llx overflows",
				 what, (unsigned long long)addr, (unsigned long long)len);
	if (addr < LAYOUT_BIOS_END)
		return boot_fail(err, errlen, -EINVAL,
				 "%s at 0x%llx overlaps the boot tables area below 1 MiB", what,
				 (unsigned long long)addr);
	if (end <= limit && boot_ram_end(in->e820, addr, len))
		return 0;
	top = boot_ram_top(in->e820);
	if (end > top)
		return boot_fail(
		    err, errlen, -E2BIG,
		    "kernel needs %llu MiB of RAM (%s ends at 0x%llx), guest RAM ends at "
		    "0x%llx",
		    boot_mib_up(end), what, (unsigned long long)end, (unsigned long long)top);
	if (end > limit)
		return boot_fail(err, errlen, -EINVAL, "%s [0x%llx, 0x%llx) is above 0x%llx", what,
				 (unsigned long long)addr, (unsigned long long)end,
				 (unsigned long long)limit);
	return boot_fail(err, errlen, -EINVAL, "%s [0x%llx, 0x%llx) is not inside one RAM range",
			 what, (unsigned long long)addr, (unsigned long long)end);
}

int boot_place_initrd(const struct gmem *m, const struct boot_input *in, uint64_t limit,
		      uint64_t kernel_end, uint64_t *addr, char *err, size_t errlen)
{
	uint64_t ram, top, a, kend;
	int r;

	*addr = 0;
	if (!in->initrd || in->initrd_len == 0)
		return 0;
	ram = boot_ram_end(in->e820, LAYOUT_KERNEL_LOAD, 1);
	if (!ram)
		return boot_fail(err, errlen, -EINVAL, "no RAM at 1 MiB for the initrd");
	top = KVMM_MIN(ram, KVMM_MIN(limit, LAYOUT_INITRD_MAX + 1));
	kend = ALIGN_UP(KVMM_MAX(kernel_end, LAYOUT_KERNEL_LOAD), BOOT_PAGE);
	if (in->initrd_len > top || ALIGN_DOWN(top - in->initrd_len, BOOT_PAGE) < kend) {
		if (top < ram)
			return boot_fail(err, errlen, -E2BIG,
					 "initrd (%zu bytes) does not fit between the kernel end "
					 "0x%llx and the kernel's initrd limit 0x%llx",
					 in->initrd_len, (unsigned long long)kend,
					 (unsigned long long)top);
		return boot_fail(
		    err, errlen, -E2BIG,
		    "initrd (%zu bytes) does not fit between the kernel end 0x%llx and "
		    "the end of low RAM 0x%llx: needs at least %llu MiB of RAM",
		    in->initrd_len, (unsigned long long)kend, (unsigned long long)top,
		    boot_mib_up(kend + ALIGN_UP((uint64_t)in->initrd_len, BOOT_PAGE)));
	}
	a = ALIGN_DOWN(top - in->initrd_len, BOOT_PAGE);
	r = gmem_write(m, a, in->initrd, in->initrd_len);
	if (r)
		return boot_fail(err, errlen, r, "cannot write the initrd at 0x%llx",
				 (unsigned long long)a);
	*addr = a;
	return 0;
}

int boot_write_cmdline(const struct gmem *m, const char *a, const char *b, size_t max, char *err,
		       size_t errlen)
{
	size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0, sep = (a && b) ? 1 : 0, total;
	gpa_t p = LAYOUT_CMDLINE;
	int r = 0;

	if (ckd_add(&total, la, lb) || ckd_add(&total, total, sep + 1) || total > max ||
	    total > LAYOUT_CMDLINE_MAX)
		return boot_fail(err, errlen, -E2BIG,
				 "command line too long: %zu bytes with the NUL, the limit is %zu",
				 la + lb + sep + 1, KVMM_MIN(max, (size_t)LAYOUT_CMDLINE_MAX));
	if (la)
		r = gmem_write(m, p, a, la);
	p += la;
	if (!r && sep)
		r = gmem_write(m, p, " ", 1);
	p += sep;
	if (!r && lb)
		r = gmem_write(m, p, b, lb);
	p += lb;
	if (!r)
		r = gmem_write(m, p, "", 1);
	if (r)
		return boot_fail(err, errlen, r, "cannot write the command line at 0x%llx",
				 (unsigned long long)LAYOUT_CMDLINE);
	return 0;
}

int boot_write_zero_page(const struct gmem *m, const struct boot_input *in,
			 const struct bootparam_setup_header *hdr, uint64_t initrd_limit,
			 uint32_t cmdline_max, bool rsdp_ok, struct boot_entry *out, char *err,
			 size_t errlen)
{
	struct bootparam_boot_params bp;
	uint64_t initrd = 0;
	unsigned n;
	int r;

	memset(&bp, 0, sizeof(bp));
	bp.hdr = *hdr;
	bp.hdr.type_of_loader = BOOTPARAM_LOADER_UNDEFINED;
	bp.hdr.loadflags |= BOOTPARAM_CAN_USE_HEAP;
	bp.hdr.heap_end_ptr = 0xfe00; /* end of a 64 KiB real-mode segment minus 0x200 */
	r = boot_write_cmdline(m, NULL, in->cmdline, cmdline_max, err, errlen);
	if (r)
		return r;
	bp.hdr.cmd_line_ptr = (uint32_t)LAYOUT_CMDLINE;
	r = boot_place_initrd(m, in, initrd_limit, out->kernel_end, &initrd, err, errlen);
	if (r)
		return r;
	bp.hdr.ramdisk_image = (uint32_t)initrd; /* below LAYOUT_INITRD_MAX < 4 GiB */
	bp.hdr.ramdisk_size = initrd ? (uint32_t)in->initrd_len : 0;
	n = KVMM_MIN(in->e820->n, (unsigned)E820_MAX_ENTRIES);
	_Static_assert(E820_MAX_ENTRIES <= BOOTPARAM_E820_MAX, "e820 map fits the zero page");
	for (unsigned i = 0; i < n; i++) {
		bp.e820_table[i].addr = in->e820->e[i].addr;
		bp.e820_table[i].size = in->e820->e[i].size;
		bp.e820_table[i].type = in->e820->e[i].type;
	}
	bp.e820_entries = (uint8_t)n;
	if (rsdp_ok)
		bp.acpi_rsdp_addr = in->rsdp;
	r = gmem_write_obj(m, LAYOUT_ZERO_PAGE, &bp);
	if (r)
		return boot_fail(err, errlen, r, "cannot write the zero page at 0x%llx",
				 (unsigned long long)LAYOUT_ZERO_PAGE);
	out->proto = BOOT_PROTO_LINUX64;
	out->arg = LAYOUT_ZERO_PAGE;
	out->magic = 0;
	out->initrd_addr = initrd;
	return 0;
}

bool boot_is_bzimage(const uint8_t *k, size_t len)
{
	uint32_t magic;

	if (len < 0x206 || memcmp(k, "\177ELF", 4) == 0)
		return false;
	memcpy(&magic, k + 0x202, sizeof(magic));
	return magic == BOOTPARAM_HDRS_MAGIC;
}

int boot_load(const struct gmem *m, const struct boot_input *in, struct boot_entry *out, char *err,
	      size_t errlen)
{
	struct boot_elf e;
	uint32_t pvh = 0;
	int elf, r;

	if (err && errlen)
		err[0] = '\0';
	if (!m || !in || !out || !in->kernel || !in->e820)
		return boot_fail(err, errlen, -EINVAL, "no kernel image or memory map");
	memset(out, 0, sizeof(*out));
	if (boot_is_bzimage(in->kernel, in->kernel_len))
		return boot_load_bzimage(m, in, out, err, errlen);
	elf = boot_elf_parse(in->kernel, in->kernel_len, &e, err, errlen);
	if (elf && elf != -ENOEXEC)
		return elf;
	if (!elf) {
		r = boot_elf_pvh_entry(in->kernel, in->kernel_len, &e, &pvh, err, errlen);
		if (r < 0)
			return r;
		if (r == 1)
			return boot_load_pvh(m, in, &e, pvh, out, err, errlen);
	}
	r = boot_load_multiboot(m, in, out, err, errlen);
	if (r)
		return r < 0 ? r : 0;
	if (!elf && e.is64)
		return boot_load_vmlinux(m, in, &e, out, err, errlen);
	if (!elf)
		return boot_fail(err, errlen, -ENOEXEC,
				 "32-bit ELF without a PVH note or multiboot header: not a kernel "
				 "image kvmm can boot");
	if (in->kernel_len >= 4 && memcmp(in->kernel, "\177ELF", 4) == 0 && err && errlen && err[0])
		return -ENOEXEC; /* keep boot_elf_parse's reason (class, machine, type) */
	return boot_fail(err, errlen, -ENOEXEC,
			 "not a kernel image (no bzImage header, ELF or multiboot header)");
}

int boot_vcpu_state(const struct gmem *m, const struct boot_entry *e, struct kvm_regs *regs,
		    struct kvm_sregs *sregs)
{
	if (!m || !e || !regs || !sregs)
		return -EINVAL;
	switch (e->proto) {
	case BOOT_PROTO_LINUX64:
		if (e->entry >= LAYOUT_HIGHMEM || e->arg >= LAYOUT_HIGHMEM)
			return -EINVAL; /* outside the boot identity map */
		return regs_long_mode(m, e->entry, e->arg, regs, sregs);
	case BOOT_PROTO_PVH:
	case BOOT_PROTO_MULTIBOOT:
		if (e->entry > UINT32_MAX || e->arg > UINT32_MAX)
			return -EINVAL;
		return regs_protected32(m, (uint32_t)e->entry, e->magic, (uint32_t)e->arg, regs,
					sregs);
	}
	return -EINVAL;
}
