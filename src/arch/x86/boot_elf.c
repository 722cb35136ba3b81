/* arch/x86/boot_elf.c — ELF kernels: the program-header view shared with the multiboot
 * loader, Xen PVH (PHYS32_ENTRY note, hvm_start_info) and plain 64-bit vmlinux (Linux 64-bit
 * entry with a default zero page). Headers are copied out of the image, then validated. */
#include "arch/x86/boot.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86/bootparam.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "base/ckd.h"

static int elf_check_table(size_t len, uint64_t phoff, unsigned phnum, size_t entsize, size_t want,
			   char *err, size_t errlen)
{
	uint64_t tab, end;

	if (entsize != want)
		return boot_fail(err, errlen, -EINVAL, "ELF e_phentsize %zu, expected %zu", entsize,
				 want);
	if (phnum == 0 || phnum > BOOT_ELF_MAX_PHDRS)
		return boot_fail(err, errlen, -EINVAL, "ELF has %u program headers (1..%u allowed)",
				 phnum, BOOT_ELF_MAX_PHDRS);
	if (ckd_mul(&tab, (uint64_t)phnum, (uint64_t)entsize) || ckd_add(&end, phoff, tab) ||
	    end > len)
		return boot_fail(err, errlen, -EINVAL,
				 "ELF program header table (offset 0x%llx, %u entries) lies beyond "
				 "the file (%zu bytes)",
				 (unsigned long long)phoff, phnum, len);
	return 0;
}

int boot_elf_parse(const uint8_t *k, size_t len, struct boot_elf *e, char *err, size_t errlen)
{
	memset(e, 0, sizeof(*e));
	if (!k || len < EI_NIDENT || memcmp(k, ELFMAG, SELFMAG) != 0)
		return -ENOEXEC;
	if (k[EI_DATA] != ELFDATA2LSB)
		return boot_fail(err, errlen, -ENOEXEC, "ELF image is not little-endian");
	if (k[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr h;

		if (len < sizeof(h))
			return boot_fail(err, errlen, -EINVAL, "ELF64 header truncated");
		memcpy(&h, k, sizeof(h));
		if (h.e_machine != EM_X86_64 || h.e_type != ET_EXEC)
			return boot_fail(
			    err, errlen, -ENOEXEC,
			    "ELF64 image is not an x86-64 executable (machine %u type %u)",
			    h.e_machine, h.e_type);
		e->is64 = true;
		e->entry = h.e_entry;
		e->phoff = h.e_phoff;
		e->phnum = h.e_phnum;
		return elf_check_table(len, h.e_phoff, h.e_phnum, h.e_phentsize, sizeof(Elf64_Phdr),
				       err, errlen);
	}
	if (k[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr h;

		if (len < sizeof(h))
			return boot_fail(err, errlen, -EINVAL, "ELF32 header truncated");
		memcpy(&h, k, sizeof(h));
		if (h.e_machine != EM_386 || h.e_type != ET_EXEC)
			return boot_fail(
			    err, errlen, -ENOEXEC,
			    "ELF32 image is not an i386 executable (machine %u type %u)",
			    h.e_machine, h.e_type);
		e->entry = h.e_entry;
		e->phoff = h.e_phoff;
		e->phnum = h.e_phnum;
		return elf_check_table(len, h.e_phoff, h.e_phnum, h.e_phentsize, sizeof(Elf32_Phdr),
				       err, errlen);
	}
	return boot_fail(err, errlen, -ENOEXEC, "unknown ELF class %u", k[EI_CLASS]);
}

void boot_elf_phdr(const uint8_t *k, const struct boot_elf *e, unsigned i, struct boot_elf_phdr *ph)
{
	if (e->is64) {
		Elf64_Phdr p;

		memcpy(&p, k + e->phoff + (uint64_t)i * sizeof(p), sizeof(p));
		*ph = (struct boot_elf_phdr){p.p_type,	 p.p_offset, p.p_vaddr, p.p_paddr,
					     p.p_filesz, p.p_memsz,  p.p_align};
	} else {
		Elf32_Phdr p;

		memcpy(&p, k + e->phoff + (uint64_t)i * sizeof(p), sizeof(p));
		*ph = (struct boot_elf_phdr){p.p_type,	 p.p_offset, p.p_vaddr, p.p_paddr,
					     p.p_filesz, p.p_memsz,  p.p_align};
	}
}

static int elf_check_segment(const struct boot_input *in, const struct boot_elf_phdr *ph,
			     unsigned i, uint64_t limit, char *err, size_t errlen)
{
	uint64_t fend;
	char what[32];

	if (ph->filesz > ph->memsz)
		return boot_fail(err, errlen, -EINVAL, "ELF segment %u: p_filesz > p_memsz", i);
	if (ckd_add(&fend, ph->offset, ph->filesz) || fend > in->kernel_len)
		return boot_fail(err, errlen, -EINVAL,
				 "ELF segment %u: file range 0x%llx + 0x%llx lies beyond the file "
				 "(%zu bytes)",
				 i, (unsigned long long)ph->offset, (unsigned long long)ph->filesz,
				 in->kernel_len);
	snprintf(what, sizeof(what), "ELF segment %u", i);
	return boot_check_range(in, ph->paddr, ph->memsz, limit, what, err, errlen);
}

int boot_elf_load(const struct gmem *m, const struct boot_input *in, const struct boot_elf *e,
		  uint64_t limit, uint64_t *lo, uint64_t *hi, char *err, size_t errlen)
{
	struct boot_elf_phdr ph;
	unsigned loads = 0;
	int r;

	*lo = UINT64_MAX;
	*hi = 0;
	for (unsigned i = 0; i < e->phnum; i++) {
		boot_elf_phdr(in->kernel, e, i, &ph);
		if (ph.type != PT_LOAD || ph.memsz == 0)
			continue;
		r = elf_check_segment(in, &ph, i, limit, err, errlen);
		if (r)
			return r;
		*lo = KVMM_MIN(*lo, ph.paddr);
		*hi = KVMM_MAX(*hi, ph.paddr + ph.memsz);
		loads++;
	}
	if (!loads)
		return boot_fail(err, errlen, -EINVAL, "ELF image has no loadable segment");
	/* Everything checked: now write. */
	for (unsigned i = 0; i < e->phnum; i++) {
		boot_elf_phdr(in->kernel, e, i, &ph);
		if (ph.type != PT_LOAD || ph.memsz == 0)
			continue;
		r = ph.filesz ? gmem_write(m, ph.paddr, in->kernel + ph.offset, ph.filesz) : 0;
		if (!r && ph.memsz > ph.filesz)
			r = gmem_fill(m, ph.paddr + ph.filesz, 0, ph.memsz - ph.filesz);
		if (r)
			return boot_fail(err, errlen, r, "cannot write ELF segment %u at 0x%llx", i,
					 (unsigned long long)ph.paddr);
	}
	return 0;
}

static bool elf_in(uint64_t x, uint64_t base, uint64_t len)
{
	return x >= base && x - base < len;
}

uint64_t boot_elf_phys_entry(const uint8_t *k, const struct boot_elf *e)
{
	struct boot_elf_phdr ph;

	for (unsigned i = 0; i < e->phnum; i++) {
		boot_elf_phdr(k, e, i, &ph);
		if (ph.type == PT_LOAD && elf_in(e->entry, ph.paddr, ph.memsz))
			return e->entry;
	}
	for (unsigned i = 0; i < e->phnum; i++) {
		boot_elf_phdr(k, e, i, &ph);
		if (ph.type == PT_LOAD && elf_in(e->entry, ph.vaddr, ph.memsz))
			return e->entry - ph.vaddr + ph.paddr;
	}
	return e->entry;
}

/* Scan one PT_NOTE segment for the Xen PHYS32_ENTRY note. 1 found, 0 not here, <0 error. */
static int elf_scan_notes(const uint8_t *n, uint64_t size, uint64_t align, uint32_t *entry,
			  char *err, size_t errlen)
{
	uint64_t pos = 0;

	while (size - pos >= 12) {
		uint32_t w[3];
		uint64_t desc, end;

		memcpy(w, n + pos, sizeof(w));
		desc = pos + 12 + ALIGN_UP((uint64_t)w[0], align); /* no overflow: all < 2^34 */
		end = desc + (uint64_t)w[1];
		if (desc > size || end > size)
			return boot_fail(err, errlen, -EINVAL,
					 "ELF note at 0x%llx overruns its segment",
					 (unsigned long long)pos);
		if (w[0] == 4 && w[2] == BOOTPARAM_XEN_ELFNOTE_PHYS32_ENTRY &&
		    memcmp(n + pos + 12, "Xen", 4) == 0) {
			uint64_t v = 0;

			if (w[1] != 4 && w[1] != 8)
				return boot_fail(err, errlen, -EINVAL,
						 "Xen PHYS32_ENTRY note has a %u-byte descriptor",
						 w[1]);
			memcpy(&v, n + desc, w[1]);
			if (v > UINT32_MAX)
				return boot_fail(err, errlen, -EINVAL,
						 "PVH entry 0x%llx is not a 32-bit address",
						 (unsigned long long)v);
			*entry = (uint32_t)v;
			return 1;
		}
		pos = ALIGN_UP(end, align);
		if (pos > size)
			break;
	}
	return 0;
}

int boot_elf_pvh_entry(const uint8_t *k, size_t len, const struct boot_elf *e, uint32_t *entry,
		       char *err, size_t errlen)
{
	struct boot_elf_phdr ph;
	uint64_t end;
	int r;

	for (unsigned i = 0; i < e->phnum; i++) {
		boot_elf_phdr(k, e, i, &ph);
		if (ph.type != PT_NOTE)
			continue;
		if (ckd_add(&end, ph.offset, ph.filesz) || end > len)
			return boot_fail(err, errlen, -EINVAL,
					 "ELF note segment %u lies beyond the file", i);
		r = elf_scan_notes(k + ph.offset, ph.filesz, ph.align == 8 ? 8 : 4, entry, err,
				   errlen);
		if (r)
			return r;
	}
	return 0;
}

static int pvh_write_info(const struct gmem *m, const struct boot_input *in, uint64_t initrd,
			  char *err, size_t errlen)
{
	struct bootparam_hvm_start_info si = {.magic = BOOTPARAM_PVH_MAGIC,
					      .version = BOOTPARAM_PVH_VERSION};
	struct bootparam_hvm_modlist_entry mod = {.paddr = initrd, .size = in->initrd_len};
	struct bootparam_hvm_memmap_entry mm[E820_MAX_ENTRIES];
	unsigned n = KVMM_MIN(in->e820->n, (unsigned)E820_MAX_ENTRIES);
	int r = 0;

	_Static_assert(E820_MAX_ENTRIES <= BOOTPARAM_PVH_MEMMAP_MAX, "memmap fits");
	memset(mm, 0, sizeof(mm));
	for (unsigned i = 0; i < n; i++) {
		mm[i].addr = in->e820->e[i].addr;
		mm[i].size = in->e820->e[i].size;
		mm[i].type = in->e820->e[i].type;
	}
	si.cmdline_paddr = LAYOUT_CMDLINE;
	si.rsdp_paddr = in->rsdp;
	si.memmap_paddr = LAYOUT_PVH_MEMMAP;
	si.memmap_entries = n;
	if (initrd) {
		si.nr_modules = 1;
		si.modlist_paddr = LAYOUT_PVH_MODLIST;
		r = gmem_write_obj(m, LAYOUT_PVH_MODLIST, &mod);
	}
	if (!r && n)
		r = gmem_write(m, LAYOUT_PVH_MEMMAP, mm, n * sizeof(mm[0]));
	if (!r)
		r = gmem_write_obj(m, LAYOUT_PVH_START_INFO, &si);
	if (r)
		return boot_fail(err, errlen, r, "cannot write hvm_start_info at 0x%llx",
				 (unsigned long long)LAYOUT_PVH_START_INFO);
	return 0;
}

int boot_load_pvh(const struct gmem *m, const struct boot_input *in, const struct boot_elf *e,
		  uint32_t entry, struct boot_entry *out, char *err, size_t errlen)
{
	uint64_t lo, hi, initrd;
	int r;

	r = boot_elf_load(m, in, e, LAYOUT_HIGHMEM, &lo, &hi, err, errlen);
	if (r)
		return r;
	if (!elf_in(entry, lo, hi - lo))
		return boot_fail(err, errlen, -EINVAL,
				 "PVH entry 0x%x is outside the loaded kernel [0x%llx, 0x%llx)",
				 entry, (unsigned long long)lo, (unsigned long long)hi);
	r = boot_write_cmdline(m, NULL, in->cmdline, LAYOUT_CMDLINE_MAX, err, errlen);
	if (r)
		return r;
	r = boot_place_initrd(m, in, LAYOUT_INITRD_MAX + 1, hi, &initrd, err, errlen);
	if (r)
		return r;
	r = pvh_write_info(m, in, initrd, err, errlen);
	if (r)
		return r;
	*out = (struct boot_entry){.proto = BOOT_PROTO_PVH,
				   .entry = entry,
				   .arg = LAYOUT_PVH_START_INFO,
				   .kernel_start = lo,
				   .kernel_end = hi,
				   .initrd_addr = initrd};
	return 0;
}

int boot_load_vmlinux(const struct gmem *m, const struct boot_input *in, const struct boot_elf *e,
		      struct boot_entry *out, char *err, size_t errlen)
{
	struct bootparam_setup_header h;
	uint64_t lo, hi, entry;
	int r;

	r = boot_elf_load(m, in, e, LAYOUT_HIGHMEM, &lo, &hi, err, errlen);
	if (r)
		return r;
	entry = boot_elf_phys_entry(in->kernel, e);
	if (!elf_in(entry, lo, hi - lo))
		return boot_fail(
		    err, errlen, -EINVAL,
		    "vmlinux entry 0x%llx is outside the loaded kernel [0x%llx, 0x%llx)",
		    (unsigned long long)entry, (unsigned long long)lo, (unsigned long long)hi);
	memset(&h, 0, sizeof(h));
	h.boot_flag = BOOTPARAM_BOOT_FLAG;
	h.header = BOOTPARAM_HDRS_MAGIC;
	h.kernel_alignment = BOOTPARAM_DEFAULT_ALIGN;
	h.cmdline_size = (uint32_t)LAYOUT_CMDLINE_MAX - 1;
	h.initrd_addr_max = (uint32_t)LAYOUT_INITRD_MAX;
	out->kernel_start = lo;
	out->kernel_end = hi;
	out->entry = entry;
	return boot_write_zero_page(m, in, &h, LAYOUT_INITRD_MAX + 1, (uint32_t)LAYOUT_CMDLINE_MAX,
				    true, out, err, errlen);
}
