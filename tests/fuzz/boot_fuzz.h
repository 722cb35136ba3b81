/* tests/fuzz/boot_fuzz.h — shared body of the kernel-loader fuzz targets (fuzz_bzimage.c,
 * fuzz_elf.c): load the input with boot_load() into 64 MiB of mmap'ed guest RAM with a small
 * initrd and command line, and check the loader's promises — errors are -ENOEXEC/-EINVAL/-E2BIG
 * with a message (never -EFAULT: every write was range-checked first), and a loaded kernel, its
 * initrd and the boot tables stay inside RAM and apart. KVMM_FUZZ_VERBOSE=1 prints results.
 * Included by exactly one target per binary (static functions). */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/kvm.h>

#include "arch/x86/boot.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "mem/gmem.h"

#define FUZZ_RAM (64ull << 20)

static void fuzz_check(const struct gmem *m, int r, const struct boot_entry *e, const char *err,
		       size_t initrd_len)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	if (r) {
		if ((r != -ENOEXEC && r != -EINVAL && r != -E2BIG) || !err[0])
			abort();
		return;
	}
	if (e->kernel_start < LAYOUT_BIOS_END || e->kernel_end > FUZZ_RAM ||
	    e->kernel_start >= e->kernel_end || e->entry == 0)
		abort();
	if (e->initrd_addr && (e->initrd_addr < e->kernel_end || e->initrd_addr % 4096 ||
			       e->initrd_addr + initrd_len > FUZZ_RAM))
		abort();
	memset(&sregs, 0, sizeof(sregs));
	if (boot_vcpu_state(m, e, &regs, &sregs) != 0 || regs.rip != e->entry)
		abort();
}

/* Load data as a kernel named `name`; abort() on any broken promise. */
static void boot_fuzz_load(const uint8_t *data, size_t size, const char *name)
{
	static const uint8_t initrd[4096 + 17] = {1, 2, 3};
	struct gmem_region reg;
	struct e820_map map;
	struct boot_entry e;
	struct gmem *m;
	char err[256] = "";
	uint8_t *ram;
	int r;

	ram = mmap(NULL, FUZZ_RAM, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED)
		abort();
	reg = (struct gmem_region){0, FUZZ_RAM, ram, 0};
	if (gmem_create(&m, &reg, 1) || e820_build(&map, m))
		abort();
	struct boot_input in = {.kernel = data,
				.kernel_len = size,
				.kernel_name = name,
				.initrd = initrd,
				.initrd_len = sizeof(initrd),
				.cmdline = "console=ttyS0",
				.e820 = &map,
				.rsdp = LAYOUT_ACPI};
	r = boot_load(m, &in, &e, err, sizeof(err));
	if (getenv("KVMM_FUZZ_VERBOSE"))
		fprintf(stderr, "boot_load: %d proto %d entry 0x%llx %s\n", r,
			r ? -1 : (int)e.proto, r ? 0ull : (unsigned long long)e.entry, err);
	fuzz_check(m, r, &e, err, sizeof(initrd));
	gmem_destroy(m);
	munmap(ram, FUZZ_RAM);
}
