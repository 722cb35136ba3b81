/* Unit tests for arch/x86 ELF and multiboot loading: Xen PVH (ELF64 and ELF32 with a
 * PHYS32_ENTRY note), plain 64-bit vmlinux (Linux 64-bit entry + default zero page), multiboot
 * v1 (ELF32, ELF64 and a.out kludge) and hostile program headers and multiboot headers.
 * Images are built here and loaded into plain mmap'ed guest memory. A real vmlinux is loaded
 * too when $KVMM_TEST_VMLINUX names one (skipped otherwise). */
#include "lib/harness.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86/boot.h"
#include "arch/x86/bootparam.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "base/compiler.h"

#define MIB	 (1024ull * 1024)
#define RAM_SIZE (64 * MIB)
#define DATA_OFF 0x400u

struct tvm {
	uint8_t *mem;
	size_t len;
	struct gmem *m;
	struct e820_map map;
};

static void tvm_init(struct tvm *t, size_t len)
{
	struct gmem_region r;

	t->len = len;
	t->mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(t->mem != MAP_FAILED);
	r = (struct gmem_region){0, len, t->mem, 0};
	assert_int_equal(gmem_create(&t->m, &r, 1), 0);
	assert_int_equal(e820_build(&t->map, t->m), 0);
}

static void tvm_fini(struct tvm *t)
{
	gmem_destroy(t->m);
	munmap(t->mem, t->len);
}

struct seg {
	uint32_t type;
	uint64_t paddr, vaddr;
	const void *data;
	uint64_t filesz, memsz;
	uint64_t align;
	uint64_t offset; /* 0: placed after the previous segment's data */
};

/* ELF32/ELF64 executable: ehdr, phdrs, then each segment's data from DATA_OFF. */
static uint8_t *elf_build(bool is64, uint64_t entry, const struct seg *s, unsigned n, size_t *len)
{
	size_t off = DATA_OFF, size = DATA_OFF;
	uint8_t *b;

	for (unsigned i = 0; i < n; i++)
		if (s[i].data && !s[i].offset)
			size += (size_t)((s[i].filesz + 15) & ~15ull);
	b = calloc(1, size);
	assert_non_null(b);
	memcpy(b, ELFMAG, SELFMAG);
	b[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
	b[EI_DATA] = ELFDATA2LSB;
	b[EI_VERSION] = EV_CURRENT;
	if (is64) {
		Elf64_Ehdr h = {.e_type = ET_EXEC,
				.e_machine = EM_X86_64,
				.e_version = EV_CURRENT,
				.e_entry = entry,
				.e_phoff = sizeof(Elf64_Ehdr),
				.e_ehsize = sizeof(Elf64_Ehdr),
				.e_phentsize = sizeof(Elf64_Phdr),
				.e_phnum = (uint16_t)n};

		memcpy(h.e_ident, b, EI_NIDENT);
		memcpy(b, &h, sizeof(h));
	} else {
		Elf32_Ehdr h = {.e_type = ET_EXEC,
				.e_machine = EM_386,
				.e_version = EV_CURRENT,
				.e_entry = (uint32_t)entry,
				.e_phoff = sizeof(Elf32_Ehdr),
				.e_ehsize = sizeof(Elf32_Ehdr),
				.e_phentsize = sizeof(Elf32_Phdr),
				.e_phnum = (uint16_t)n};

		memcpy(h.e_ident, b, EI_NIDENT);
		memcpy(b, &h, sizeof(h));
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t o = s[i].offset ? s[i].offset : off;

		if (is64) {
			Elf64_Phdr p = {s[i].type,  PF_R | PF_X, o,	     s[i].vaddr,
					s[i].paddr, s[i].filesz, s[i].memsz, s[i].align};
			memcpy(b + sizeof(Elf64_Ehdr) + i * sizeof(p), &p, sizeof(p));
		} else {
			Elf32_Phdr p = {s[i].type,
					(uint32_t)o,
					(uint32_t)s[i].vaddr,
					(uint32_t)s[i].paddr,
					(uint32_t)s[i].filesz,
					(uint32_t)s[i].memsz,
					PF_R | PF_X,
					(uint32_t)s[i].align};
			memcpy(b + sizeof(Elf32_Ehdr) + i * sizeof(p), &p, sizeof(p));
		}
		if (s[i].data && !s[i].offset) {
			memcpy(b + off, s[i].data, s[i].filesz);
			off += (size_t)((s[i].filesz + 15) & ~15ull);
		}
	}
	*len = size;
	return b;
}

/* A Xen PHYS32_ENTRY note with a 4- or 8-byte descriptor. Returns its size. */
static size_t xen_note(uint8_t *n, uint32_t descsz, uint64_t entry)
{
	uint32_t w[3] = {4, descsz, BOOTPARAM_XEN_ELFNOTE_PHYS32_ENTRY};

	memcpy(n, w, sizeof(w));
	memcpy(n + 12, "Xen", 4);
	memcpy(n + 16, &entry, descsz);
	return 16 + ((descsz + 3) & ~3u);
}

static int load(struct tvm *t, const uint8_t *k, size_t len, const char *cmdline,
		const uint8_t *initrd, size_t ilen, struct boot_entry *e, char *err)
{
	struct boot_input in = {.kernel = k,
				.kernel_len = len,
				.kernel_name = "/path/kernel.elf",
				.initrd = initrd,
				.initrd_len = ilen,
				.cmdline = cmdline,
				.e820 = &t->map,
				.rsdp = 0xe0000};

	err[0] = 0;
	return boot_load(t->m, &in, e, err, 256);
}

static uint8_t code[0x1800];

static void fill_code(void)
{
	for (size_t i = 0; i < sizeof(code); i++)
		code[i] = (uint8_t)(i * 31 + 5);
}

static void check_pvh(bool is64, uint32_t descsz)
{
	uint8_t note[64], initrd[5000];
	size_t nlen = xen_note(note, descsz, 0x200040);
	struct seg s[3] = {
	    {PT_NOTE, 0, 0, note, nlen, nlen, 4, 0},
	    {PT_LOAD, 0x200000, 0x200000, code, sizeof(code), 0x4000, 0x1000, 0},
	    {PT_LOAD, 0x300000, 0x300000, code, 0x100, 0x100, 0x1000, 0},
	};
	struct bootparam_hvm_start_info si;
	struct bootparam_hvm_modlist_entry mod;
	struct bootparam_hvm_memmap_entry mm;
	struct boot_entry e;
	struct tvm t;
	char err[256];
	size_t len;
	uint8_t *k;

	fill_code();
	memset(initrd, 0x5a, sizeof(initrd));
	k = elf_build(is64, 0xdeadbeef, s, 3, &len);
	tvm_init(&t, RAM_SIZE);
	memset(t.mem + 0x200000, 0xcc, 0x4000); /* the bss must be cleared */
	assert_int_equal(load(&t, k, len, "pvh cmdline", initrd, sizeof(initrd), &e, err), 0);
	assert_int_equal(e.proto, BOOT_PROTO_PVH);
	assert_int_equal(e.entry, 0x200040);
	assert_int_equal(e.arg, LAYOUT_PVH_START_INFO);
	assert_int_equal(e.magic, 0);
	assert_int_equal(e.kernel_start, 0x200000);
	assert_int_equal(e.kernel_end, 0x300100);
	assert_memory_equal(t.mem + 0x200000, code, sizeof(code));
	for (size_t i = sizeof(code); i < 0x4000; i++)
		assert_int_equal(t.mem[0x200000 + i], 0);
	memcpy(&si, t.mem + LAYOUT_PVH_START_INFO, sizeof(si));
	assert_int_equal(si.magic, 0x336ec578);
	assert_int_equal(si.version, 1);
	assert_int_equal(si.nr_modules, 1);
	assert_int_equal(si.modlist_paddr, LAYOUT_PVH_MODLIST);
	assert_int_equal(si.cmdline_paddr, LAYOUT_CMDLINE);
	assert_string_equal((char *)t.mem + si.cmdline_paddr, "pvh cmdline");
	assert_int_equal(si.rsdp_paddr, 0xe0000);
	assert_int_equal(si.memmap_paddr, LAYOUT_PVH_MEMMAP);
	assert_int_equal(si.memmap_entries, t.map.n);
	for (unsigned i = 0; i < t.map.n; i++) {
		memcpy(&mm, t.mem + si.memmap_paddr + i * sizeof(mm), sizeof(mm));
		assert_int_equal(mm.addr, t.map.e[i].addr);
		assert_int_equal(mm.size, t.map.e[i].size);
		assert_int_equal(mm.type, t.map.e[i].type);
	}
	memcpy(&mod, t.mem + LAYOUT_PVH_MODLIST, sizeof(mod));
	assert_int_equal(mod.paddr, e.initrd_addr);
	assert_int_equal(mod.paddr % 4096, 0);
	assert_int_equal(mod.size, sizeof(initrd));
	assert_true(mod.paddr + mod.size <= RAM_SIZE && mod.paddr + mod.size + 4096 > RAM_SIZE);
	assert_memory_equal(t.mem + mod.paddr, initrd, sizeof(initrd));
	tvm_fini(&t);
	free(k);
}

static void test_pvh_elf64(void **state)
{
	check_pvh(true, 8); /* Linux uses _ASM_PTR: an 8-byte descriptor */
	check_pvh(true, 4);
}

static void test_pvh_elf32(void **state)
{
	check_pvh(false, 4);
}

static void test_vmlinux(void **state)
{
	struct seg s[1] = {
	    {PT_LOAD, 0x1000000, 0xffffffff81000000ull, code, sizeof(code), 0x2000, 0x200000, 0},
	};
	struct bootparam_boot_params bp;
	struct boot_entry e;
	struct tvm t;
	uint8_t initrd[300];
	char err[256];
	size_t len;
	uint8_t *k;

	fill_code();
	memset(initrd, 0x77, sizeof(initrd));
	k = elf_build(true, 0x1000100, s, 1, &len); /* physical e_entry, as Linux's vmlinux */
	tvm_init(&t, RAM_SIZE);
	assert_int_equal(load(&t, k, len, "root=/dev/vda", initrd, sizeof(initrd), &e, err), 0);
	assert_int_equal(e.proto, BOOT_PROTO_LINUX64);
	assert_int_equal(e.entry, 0x1000100);
	assert_int_equal(e.arg, LAYOUT_ZERO_PAGE);
	assert_memory_equal(t.mem + 0x1000000, code, sizeof(code));
	memcpy(&bp, t.mem + LAYOUT_ZERO_PAGE, sizeof(bp));
	assert_int_equal(bp.hdr.boot_flag, 0xaa55);
	assert_int_equal(bp.hdr.header, BOOTPARAM_HDRS_MAGIC);
	assert_int_equal(bp.hdr.type_of_loader, 0xff);
	assert_int_equal(bp.hdr.kernel_alignment, 0x1000000);
	assert_int_equal(bp.hdr.cmd_line_ptr, LAYOUT_CMDLINE);
	assert_string_equal((char *)t.mem + LAYOUT_CMDLINE, "root=/dev/vda");
	assert_int_equal(bp.hdr.ramdisk_image, e.initrd_addr);
	assert_int_equal(bp.hdr.ramdisk_size, sizeof(initrd));
	assert_memory_equal(t.mem + bp.hdr.ramdisk_image, initrd, sizeof(initrd));
	assert_int_equal(bp.e820_entries, t.map.n);
	assert_int_equal(bp.e820_table[2].addr, LAYOUT_BIOS_END);
	assert_int_equal(bp.e820_table[2].size, RAM_SIZE - LAYOUT_BIOS_END);
	assert_int_equal(bp.acpi_rsdp_addr, 0xe0000);
	free(k);

	/* a virtual e_entry is translated through the segment's p_paddr */
	k = elf_build(true, 0xffffffff81000200ull, s, 1, &len);
	assert_int_equal(load(&t, k, len, NULL, NULL, 0, &e, err), 0);
	assert_int_equal(e.entry, 0x1000200);
	free(k);
	/* an entry outside every segment is refused */
	k = elf_build(true, 0x5000000, s, 1, &len);
	assert_int_equal(load(&t, k, len, NULL, NULL, 0, &e, err), -EINVAL);
	assert_non_null(strstr(err, "entry"));
	tvm_fini(&t);
	free(k);
}

static void expect_elf_error(bool is64, uint64_t entry, const struct seg *s, unsigned n, int want,
			     const char *msg)
{
	struct boot_entry e;
	struct tvm t;
	char err[256];
	size_t len;
	uint8_t *k = elf_build(is64, entry, s, n, &len);
	int r;

	tvm_init(&t, RAM_SIZE);
	r = load(&t, k, len, NULL, NULL, 0, &e, err);
	if (r != want)
		fail_msg("got %d (%s), want %d", r, err, want);
	if (msg && !strstr(err, msg))
		fail_msg("error \"%s\" does not mention \"%s\"", err, msg);
	tvm_fini(&t);
	free(k);
}

static void test_elf_hostile_segments(void **state)
{
	uint8_t note[64];
	size_t nlen = xen_note(note, 8, 0x200000);
	struct seg s[2] = {{PT_NOTE, 0, 0, note, nlen, nlen, 4, 0}};

	fill_code();
	/* overlaps the low tables (zero page, page tables, cmdline) */
	s[1] = (struct seg){PT_LOAD, 0x8000, 0x8000, code, 0x100, 0x100, 0x1000, 0};
	expect_elf_error(true, 0x8000, s, 2, -EINVAL, "below 1 MiB");
	s[1] = (struct seg){PT_LOAD, 0xff000, 0xff000, code, 0x100, 0x2000, 0x1000, 0};
	expect_elf_error(true, 0xff000, s, 2, -EINVAL, "below 1 MiB");
	/* beyond RAM: -E2BIG naming the memory needed */
	s[1] = (struct seg){PT_LOAD, 60 * MIB, 60 * MIB, code, 0x100, 16 * MIB, 0x1000, 0};
	expect_elf_error(true, 60 * MIB, s, 2, -E2BIG, "needs 76 MiB");
	/* p_paddr + p_memsz overflows */
	s[1] = (struct seg){PT_LOAD, 0xfffffffffffff000ull, 0, code, 0x100, 0x2000, 0x1000, 0};
	expect_elf_error(true, 0x200000, s, 2, -EINVAL, "overflows");
	/* p_offset + p_filesz overflows / lies beyond the file */
	s[1] = (struct seg){PT_LOAD, 0x200000, 0x200000, NULL,
			    0x100,   0x100,    0x1000,	 UINT64_MAX - 0x10};
	expect_elf_error(true, 0x200000, s, 2, -EINVAL, "beyond the file");
	s[1] = (struct seg){PT_LOAD, 0x200000, 0x200000, NULL, 0x100000, 0x100000, 0x1000, 0x200};
	expect_elf_error(true, 0x200000, s, 2, -EINVAL, "beyond the file");
	/* p_filesz > p_memsz */
	s[1] = (struct seg){PT_LOAD, 0x200000, 0x200000, code, 0x200, 0x100, 0x1000, 0};
	expect_elf_error(true, 0x200000, s, 2, -EINVAL, "p_filesz");
	/* no loadable segment */
	expect_elf_error(true, 0x200000, s, 1, -EINVAL, "no loadable");
	/* in the 32-bit MMIO hole / above 4 GiB RAM that is not there */
	s[1] = (struct seg){PT_LOAD, 0xfee00000, 0xfee00000, code, 0x100, 0x100, 0x1000, 0};
	expect_elf_error(true, 0xfee00000, s, 2, -E2BIG, "needs");
	/* PVH entry outside the image */
	s[1] = (struct seg){PT_LOAD, 0x300000, 0x300000, code, 0x100, 0x100, 0x1000, 0};
	expect_elf_error(true, 0x300000, s, 2, -EINVAL, "PVH entry");
}

static void test_elf_hostile_headers(void **state)
{
	struct seg s[1] = {{PT_LOAD, 0x200000, 0x200000, code, 0x100, 0x100, 0x1000, 0}};
	uint8_t note[64];
	struct boot_entry e;
	struct tvm t;
	char err[256];
	size_t len;
	uint8_t *k;
	Elf64_Ehdr h;

	k = elf_build(true, 0x200000, s, 1, &len);
	tvm_init(&t, RAM_SIZE);
	memcpy(&h, k, sizeof(h));
	/* phnum huge */
	h.e_phnum = 0xffff;
	memcpy(k, &h, sizeof(h));
	assert_int_equal(load(&t, k, len, NULL, NULL, 0, &e, err), -EINVAL);
	assert_non_null(strstr(err, "program headers"));
	/* table beyond the file */
	h.e_phnum = 100;
	memcpy(k, &h, sizeof(h));
	assert_int_equal(load(&t, k, len, NULL, NULL, 0, &e, err), -EINVAL);
	h.e_phnum = 1;
	h.e_phoff = UINT64_MAX - 8;
	memcpy(k, &h, sizeof(h));
	assert_int_equal(load(&t, k, len, NULL, NULL, 0, &e, err), -EINVAL);
	/* wrong phentsize */
	h.e_phoff = sizeof(h);
	h.e_phentsize = 32;
	memcpy(k, &h, sizeof(h));
	assert_int_equal(load(&t, k, len, NULL, NULL, 0, &e, err), -EINVAL);
	/* truncated ELF header */
	assert_int_equal(load(&t, k, 40, NULL, NULL, 0, &e, err), -EINVAL);
	/* not x86 */
	h.e_phentsize = sizeof(Elf64_Phdr);
	h.e_machine = EM_AARCH64;
	memcpy(k, &h, sizeof(h));
	assert_int_equal(load(&t, k, len, NULL, NULL, 0, &e, err), -ENOEXEC);
	assert_non_null(strstr(err, "not an x86-64 executable"));
	free(k);

	/* malformed PVH notes: descriptor overruns the segment; odd descriptor size; >4 GiB */
	{
		size_t nlen = xen_note(note, 8, 0x200000);
		uint32_t big = 0x1000;
		struct seg sn[2] = {{PT_NOTE, 0, 0, note, nlen, nlen, 4, 0}, s[0]};

		memcpy(note + 4, &big, 4);
		k = elf_build(true, 0x200000, sn, 2, &len);
		assert_int_equal(load(&t, k, len, NULL, NULL, 0, &e, err), -EINVAL);
		assert_non_null(strstr(err, "overruns"));
		free(k);
		nlen = xen_note(note, 8, 0x100000000ull);
		k = elf_build(true, 0x200000, sn, 2, &len);
		assert_int_equal(load(&t, k, len, NULL, NULL, 0, &e, err), -EINVAL);
		assert_non_null(strstr(err, "32-bit"));
		free(k);
		memset(note, 0, sizeof(note));
		sn[0].filesz = sn[0].memsz = 40;      /* room for a 16-byte descriptor */
		for (big = 2; big <= 16; big += 14) { /* 2 and 16 bytes: neither 4 nor 8 */
			xen_note(note, 4, 0x200000);
			memcpy(note + 4, &big, 4);
			k = elf_build(true, 0x200000, sn, 2, &len);
			assert_int_equal(load(&t, k, len, NULL, NULL, 0, &e, err), -EINVAL);
			assert_non_null(strstr(err, "descriptor"));
			free(k);
		}
		/* note segment beyond the file */
		sn[0].offset = 0x7fffffff;
		k = elf_build(true, 0x200000, sn, 2, &len);
		assert_int_equal(load(&t, k, len, NULL, NULL, 0, &e, err), -EINVAL);
		free(k);
	}
	/* ELF32 without a PVH note or multiboot header */
	k = elf_build(false, 0x200000, s, 1, &len);
	assert_int_equal(load(&t, k, len, NULL, NULL, 0, &e, err), -ENOEXEC);
	assert_non_null(strstr(err, "32-bit ELF"));
	free(k);
	tvm_fini(&t);
}

static void test_pvh_cmdline_too_long(void **state)
{
	uint8_t note[64];
	size_t nlen = xen_note(note, 8, 0x200000);
	struct seg s[2] = {{PT_NOTE, 0, 0, note, nlen, nlen, 4, 0},
			   {PT_LOAD, 0x200000, 0x200000, code, 0x100, 0x100, 0x1000, 0}};
	struct boot_entry e;
	struct tvm t;
	char err[256];
	size_t len;
	uint8_t *k = elf_build(true, 0x200000, s, 2, &len);
	char *c = malloc(LAYOUT_CMDLINE_MAX + 1);

	assert_non_null(c);
	memset(c, 'x', LAYOUT_CMDLINE_MAX);
	c[LAYOUT_CMDLINE_MAX] = 0;
	tvm_init(&t, RAM_SIZE);
	assert_int_equal(load(&t, k, len, c, NULL, 0, &e, err), -E2BIG);
	c[LAYOUT_CMDLINE_MAX - 1] = 0;
	assert_int_equal(load(&t, k, len, c, NULL, 0, &e, err), 0);
	assert_int_equal(strlen((char *)t.mem + LAYOUT_CMDLINE), LAYOUT_CMDLINE_MAX - 1);
	tvm_fini(&t);
	free(c);
	free(k);
}

/* ---- multiboot v1 ---- */

static void mb_header(uint8_t *p, uint32_t flags, const uint32_t *aout)
{
	uint32_t h[8] = {BOOTPARAM_MB_HEADER_MAGIC, flags, -(BOOTPARAM_MB_HEADER_MAGIC + flags)};

	if (aout)
		memcpy(&h[3], aout, 5 * sizeof(uint32_t));
	memcpy(p, h, aout ? 32 : 12);
}

static void check_mbi(struct tvm *t, const struct boot_entry *e, const char *cmdline,
		      const uint8_t *initrd, size_t ilen)
{
	struct bootparam_mb_info mbi;
	struct bootparam_mb_mod mod;
	struct bootparam_mb_mmap mm;

	assert_int_equal(e->proto, BOOT_PROTO_MULTIBOOT);
	assert_int_equal(e->magic, 0x2badb002);
	assert_int_equal(e->arg, LAYOUT_MB_INFO);
	memcpy(&mbi, t->mem + LAYOUT_MB_INFO, sizeof(mbi));
	assert_int_equal(mbi.flags, 0x001 | 0x004 | 0x008 | 0x040 | 0x200);
	assert_int_equal(mbi.mem_lower, 639); /* [0, EBDA) */
	assert_int_equal(mbi.mem_upper, (RAM_SIZE - MIB) / 1024);
	assert_string_equal((char *)t->mem + mbi.cmdline, cmdline);
	assert_string_equal((char *)t->mem + mbi.boot_loader_name, "kvmm");
	assert_int_equal(mbi.mmap_addr, LAYOUT_MB_MMAP);
	assert_int_equal(mbi.mmap_length, t->map.n * 24);
	for (unsigned i = 0; i < t->map.n; i++) {
		memcpy(&mm, t->mem + mbi.mmap_addr + i * 24, sizeof(mm));
		assert_int_equal(mm.size, 20);
		assert_int_equal(mm.base_addr, t->map.e[i].addr);
		assert_int_equal(mm.length, t->map.e[i].size);
		assert_int_equal(mm.type, t->map.e[i].type);
	}
	assert_int_equal(mbi.mods_count, initrd ? 1 : 0);
	if (!initrd)
		return;
	memcpy(&mod, t->mem + mbi.mods_addr, sizeof(mod));
	assert_int_equal(mod.mod_start, e->initrd_addr);
	assert_int_equal(mod.mod_start % 4096, 0);
	assert_int_equal(mod.mod_end, mod.mod_start + ilen);
	assert_true(mod.mod_start >= e->kernel_end);
	assert_memory_equal(t->mem + mod.mod_start, initrd, ilen);
	assert_string_equal((char *)t->mem + mod.string, "initrd");
}

static void check_mb_elf(bool is64)
{
	struct seg s[1] = {{PT_LOAD, 0x400000, 0x400000, code, sizeof(code), 0x3000, 0x1000, 0}};
	uint8_t initrd[777];
	struct boot_entry e;
	struct tvm t;
	char err[256];
	size_t len;
	uint8_t *k;

	fill_code();
	mb_header(code + 0x10, BOOTPARAM_MBH_PAGE_ALIGN | BOOTPARAM_MBH_MEMORY_INFO, NULL);
	memset(initrd, 0x31, sizeof(initrd));
	k = elf_build(is64, 0x400100, s, 1, &len);
	tvm_init(&t, RAM_SIZE);
	memset(t.mem + 0x400000, 0xcc, 0x3000);
	assert_int_equal(load(&t, k, len, "console=ttyS0", initrd, sizeof(initrd), &e, err), 0);
	assert_int_equal(e.entry, 0x400100);
	assert_int_equal(e.kernel_start, 0x400000);
	assert_int_equal(e.kernel_end, 0x403000);
	assert_memory_equal(t.mem + 0x400000, code, sizeof(code));
	assert_int_equal(t.mem[0x400000 + sizeof(code)], 0);
	assert_int_equal(t.mem[0x402fff], 0);
	check_mbi(&t, &e, "/path/kernel.elf console=ttyS0", initrd, sizeof(initrd));
	tvm_fini(&t);
	free(k);
}

static void test_multiboot_elf32(void **state)
{
	check_mb_elf(false);
}

static void test_multiboot_elf64(void **state)
{
	check_mb_elf(true);
}

#define AOUT_LEN 0x3000u

static uint8_t *aout_build(size_t hoff, uint32_t flags, const uint32_t *aout)
{
	uint8_t *b = malloc(AOUT_LEN);

	assert_non_null(b);
	for (size_t i = 0; i < AOUT_LEN; i++)
		b[i] = (uint8_t)(i * 3 + 1);
	mb_header(b + hoff, flags, aout);
	return b;
}

static void test_multiboot_aout(void **state)
{
	/* header_addr, load_addr, load_end_addr (0: file end), bss_end_addr, entry_addr */
	const uint32_t a[5] = {0x100040, 0x100000, 0, 0x100000 + AOUT_LEN + 0x2000, 0x100100};
	uint8_t *k = aout_build(0x40, BOOTPARAM_MBH_AOUT_KLUDGE | BOOTPARAM_MBH_MEMORY_INFO, a);
	struct boot_entry e;
	struct tvm t;
	char err[256];

	tvm_init(&t, RAM_SIZE);
	memset(t.mem + 0x100000, 0xcc, AOUT_LEN + 0x3000);
	assert_int_equal(load(&t, k, AOUT_LEN, NULL, NULL, 0, &e, err), 0);
	assert_int_equal(e.entry, 0x100100);
	assert_int_equal(e.kernel_start, 0x100000);
	assert_int_equal(e.kernel_end, 0x100000 + AOUT_LEN + 0x2000);
	assert_memory_equal(t.mem + 0x100000, k, AOUT_LEN);
	for (size_t i = 0; i < 0x2000; i++)
		assert_int_equal(t.mem[0x100000 + AOUT_LEN + i], 0);
	assert_int_equal(t.mem[0x100000 + AOUT_LEN + 0x2000], 0xcc);
	check_mbi(&t, &e, "/path/kernel.elf", NULL, 0);
	free(k);

	/* header deeper in the file, load_addr lower: file offset = 0x1000 - 0x800 */
	{
		const uint32_t b[5] = {0x200800, 0x200000, 0x201000, 0, 0x200000};

		k = aout_build(0x1000, BOOTPARAM_MBH_AOUT_KLUDGE, b);
		assert_int_equal(load(&t, k, AOUT_LEN, "a b", NULL, 0, &e, err), 0);
		assert_memory_equal(t.mem + 0x200000, k + 0x800, 0x1000);
		assert_int_equal(e.kernel_end, 0x201000);
		check_mbi(&t, &e, "/path/kernel.elf a b", NULL, 0);
		free(k);
	}
	tvm_fini(&t);
}

static void expect_mb_error(size_t hoff, uint32_t flags, const uint32_t *a, size_t len,
			    const char *cmdline, int want, const char *msg)
{
	uint8_t *k = aout_build(hoff, flags, a);
	struct boot_entry e;
	struct tvm t;
	char err[256];
	int r;

	tvm_init(&t, RAM_SIZE);
	r = load(&t, k, len, cmdline, NULL, 0, &e, err);
	if (r != want)
		fail_msg("got %d (%s), want %d", r, err, want);
	if (msg && !strstr(err, msg))
		fail_msg("error \"%s\" does not mention \"%s\"", err, msg);
	tvm_fini(&t);
	free(k);
}

static void test_multiboot_hostile(void **state)
{
	const uint32_t ok[5] = {0x100040, 0x100000, 0, 0, 0x100100};
	const uint32_t F = BOOTPARAM_MBH_AOUT_KLUDGE;
	const char *nak = "not a kernel image";
	char *c;

	expect_mb_error(0x40, F, ok, AOUT_LEN, NULL, 0, NULL); /* the baseline loads */
	/* unaligned header offset (and the checksum only matches there) */
	{
		const uint32_t b[5] = {0x100042, 0x100000, 0, 0, 0x100100};

		expect_mb_error(0x42, F, b, AOUT_LEN, NULL, -ENOEXEC, nak);
	}
	/* header beyond the first 8 KiB */
	{
		const uint32_t b[5] = {0x102000, 0x100000, 0, 0, 0x100100};

		expect_mb_error(0x2000, F, b, AOUT_LEN, NULL, -ENOEXEC, nak);
	}
	/* unsupported required feature (bit 3) */
	expect_mb_error(0x40, F | 0x8, ok, AOUT_LEN, NULL, -ENOEXEC, "unsupported");
	/* no a.out kludge and not ELF */
	expect_mb_error(0x40, 0, ok, AOUT_LEN, NULL, -ENOEXEC, "must be ELF");
	/* header truncated by the end of the file */
	expect_mb_error(0x40, F, ok, 0x40 + 16, NULL, -EINVAL, "truncated");
	{
		const uint32_t lo[5] = {0x100040, 0x100080, 0, 0, 0x100100}; /* header < load */
		const uint32_t neg[5] = {0x100040, 0xf0000, 0, 0, 0x100100}; /* before file */
		const uint32_t end[5] = {0x100040, 0x100000, 0x104000, 0, 0x100100}; /* > file */
		const uint32_t bss[5] = {0x100040, 0x100000, 0x101000, 0x100800, 0x100100};
		const uint32_t ent[5] = {0x100040, 0x100000, 0, 0, 0x200000};
		const uint32_t low[5] = {0x8040, 0x8000, 0, 0, 0x8100};
		const uint32_t big[5] = {0x100040, 0x100000, 0, 0xbff00000, 0x100100};
		const uint32_t wrap[5] = {0xffffff40, 0xffffff00, 0, 0, 0xffffff10};

		expect_mb_error(0x40, F, lo, AOUT_LEN, NULL, -EINVAL, "header_addr");
		expect_mb_error(0x40, F, neg, AOUT_LEN, NULL, -EINVAL, "header_addr");
		expect_mb_error(0x40, F, end, AOUT_LEN, NULL, -EINVAL, "load range");
		expect_mb_error(0x40, F, bss, AOUT_LEN, NULL, -EINVAL, "bss_end");
		expect_mb_error(0x40, F, ent, AOUT_LEN, NULL, -EINVAL, "entry");
		expect_mb_error(0x40, F, low, AOUT_LEN, NULL, -EINVAL, "below 1 MiB");
		expect_mb_error(0x40, F, big, AOUT_LEN, NULL, -E2BIG, "needs 3071 MiB");
		expect_mb_error(0x40, F, wrap, AOUT_LEN, NULL, -E2BIG, "needs 4097 MiB");
	}
	/* bad checksum */
	{
		uint8_t *k = aout_build(0x40, F, ok);
		struct boot_entry e;
		struct tvm t;
		char err[256];

		k[0x48] ^= 1;
		tvm_init(&t, RAM_SIZE);
		assert_int_equal(load(&t, k, AOUT_LEN, NULL, NULL, 0, &e, err), -ENOEXEC);
		assert_string_equal(err, "not a kernel image (no bzImage header, ELF or multiboot "
					 "header)");
		tvm_fini(&t);
		free(k);
	}
	/* command line: kernel name + ' ' + cmdline must fit LAYOUT_CMDLINE_MAX */
	c = malloc(LAYOUT_CMDLINE_MAX);
	assert_non_null(c);
	memset(c, 'y', LAYOUT_CMDLINE_MAX - 1);
	c[LAYOUT_CMDLINE_MAX - 1] = 0;
	expect_mb_error(0x40, F, ok, AOUT_LEN, c, -E2BIG, "command line too long");
	c[LAYOUT_CMDLINE_MAX - 1 - strlen("/path/kernel.elf ")] = 0;
	expect_mb_error(0x40, F, ok, AOUT_LEN, c, 0, NULL);
	free(c);
}

static void test_real_vmlinux(void **state)
{
	const char *path = *state;
	struct boot_entry e;
	struct tvm t;
	char err[256];
	FILE *f;
	uint8_t *k;
	long n;

	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	k = malloc((size_t)n);
	assert_non_null(k);
	assert_int_equal(fread(k, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	tvm_init(&t, 512 * MIB);
	assert_int_equal(load(&t, k, (size_t)n, "console=ttyS0", k, 8192, &e, err), 0);
	print_message("%s: proto %d entry 0x%llx kernel [0x%llx, 0x%llx) initrd 0x%llx\n", path,
		      e.proto, (unsigned long long)e.entry, (unsigned long long)e.kernel_start,
		      (unsigned long long)e.kernel_end, (unsigned long long)e.initrd_addr);
	assert_int_equal(e.proto, BOOT_PROTO_PVH); /* distribution kernels carry the PVH note */
	assert_true(e.entry >= e.kernel_start && e.entry < e.kernel_end);
	/* Hide the PHYS32_ENTRY note (type 18 -> 0x7fff): now a plain vmlinux, Linux 64-bit entry.
	 */
	{
		static const uint8_t pat[] = {4,  0, 0, 0, 8,	0,   0,	  0,
					      18, 0, 0, 0, 'X', 'e', 'n', 0};
		uint8_t *p = memmem(k, (size_t)n, pat, sizeof(pat));

		assert_non_null(p);
		p[8] = 0xff;
		p[9] = 0x7f;
		assert_int_equal(load(&t, k, (size_t)n, "console=ttyS0", NULL, 0, &e, err), 0);
		assert_int_equal(e.proto, BOOT_PROTO_LINUX64);
		print_message("as vmlinux: entry 0x%llx\n", (unsigned long long)e.entry);
		assert_true(e.entry >= e.kernel_start && e.entry < e.kernel_end);
	}
	tvm_fini(&t);
	free(k);
}

int main(void)
{
	const char *vmlinux = getenv("KVMM_TEST_VMLINUX");
	struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pvh_elf64),
	    cmocka_unit_test(test_pvh_elf32),
	    cmocka_unit_test(test_vmlinux),
	    cmocka_unit_test(test_elf_hostile_segments),
	    cmocka_unit_test(test_elf_hostile_headers),
	    cmocka_unit_test(test_pvh_cmdline_too_long),
	    cmocka_unit_test(test_multiboot_elf32),
	    cmocka_unit_test(test_multiboot_elf64),
	    cmocka_unit_test(test_multiboot_aout),
	    cmocka_unit_test(test_multiboot_hostile),
	    cmocka_unit_test(test_real_vmlinux),
	};

	size_t n = ARRAY_SIZE(tests);

	/* Left out without $KVMM_TEST_VMLINUX (cmocka's TAP SKIP fails under prove). */
	if (vmlinux && access(vmlinux, R_OK) == 0)
		tests[n - 1].initial_state = (void *)vmlinux;
	else
		n--, printf("# $KVMM_TEST_VMLINUX not set: test_real_vmlinux left out\n");
	return _cmocka_run_group_tests("test_boot_elf", tests, n, NULL, NULL);
}
