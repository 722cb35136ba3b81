/* tests/guest/payload/boot.c — read back the boot information: memory map, RAM size, command
 * line, initrd checksum and the ACPI RSDP.
 * Arguments: hello=world (must be present), mem=MiB, initrd_size=N initrd_sum=CKSUM (optional:
 * both or none), need_initrd=1. */
#include "payload.h"

const char payload_name[] = "boot";

/* QEMU's qboot appends an entry {0, ~0, type 0} to the map it hands over; the QEMU runner
 * passes qemu=1 and that entry is ignored. kvmm must not produce it. */
static bool quirk_entry(const struct mem_range *r)
{
	return r->type == 0 && cmdline_u64("qemu", 0);
}

static bool memmap_sane(const struct boot_info *bi)
{
	bool ok = bi->nr_memmap > 0;

	for (unsigned i = 0; i < bi->nr_memmap; i++) {
		const struct mem_range *r = &bi->memmap[i];

		printf("  e820 %016lx-%016lx type %u%s\n", r->addr, r->addr + r->len - 1, r->type,
		       quirk_entry(r) ? " (ignored: qboot quirk)" : "");
		if (quirk_entry(r))
			continue;
		if (!r->len || r->addr + r->len < r->addr || r->type < 1 || r->type > 5)
			ok = false;
		for (unsigned j = 0; j < i; j++) {
			const struct mem_range *q = &bi->memmap[j];

			if (quirk_entry(q))
				continue;
			if (r->addr < q->addr + q->len && q->addr < r->addr + r->len)
				ok = false;
		}
	}
	return ok;
}

static bool ram_contains(const struct boot_info *bi, uint64_t a, uint64_t len)
{
	for (unsigned i = 0; i < bi->nr_memmap; i++) {
		const struct mem_range *r = &bi->memmap[i];

		if (r->type == 1 && a >= r->addr && a + len <= r->addr + r->len)
			return true;
	}
	return false;
}

static bool ram_overlaps(const struct boot_info *bi, uint64_t a, uint64_t len)
{
	for (unsigned i = 0; i < bi->nr_memmap; i++) {
		const struct mem_range *r = &bi->memmap[i];

		if (r->type == 1 && !quirk_entry(r) && a < r->addr + r->len && r->addr < a + len)
			return true;
	}
	return false;
}

int payload_main(const struct boot_info *bi)
{
	extern char __image_end[];
	uint64_t mem_mib = cmdline_u64("mem", 0), total = boot_ram_total();
	char val[64];
	uint64_t rsdp;

	check(memmap_sane(bi), "memory map: %u entries, no overlaps", bi->nr_memmap);
	check(ram_contains(bi, 0x200000, (uintptr_t)__image_end - 0x200000),
	      "payload image [0x200000, %p) is RAM", (void *)__image_end);
	check(!ram_overlaps(bi, 0xfec00000ull, 0x1000) && !ram_overlaps(bi, 0xfee00000ull, 0x1000),
	      "no RAM over the APIC pages (IOAPIC 0xfec00000, LAPIC 0xfee00000)");
	if (mem_mib) {
		uint64_t want = mem_mib << 20;

		check(total <= want && total + (1 << 20) >= want,
		      "RAM total %lu KiB matches --memory %lu MiB (within 1 MiB)", total >> 10,
		      mem_mib);
	}
	if (bi->proto == BOOT_MULTIBOOT)
		check(bi->mb_mem_upper > 0 && bi->mb_mem_lower > 0,
		      "multiboot mem_lower %u KiB, mem_upper %u KiB", bi->mb_mem_lower,
		      bi->mb_mem_upper);
	check(cmdline_get("hello", val, sizeof(val)) && !strncmp(val, "world", 6),
	      "cmdline hello=world");
	if (cmdline_has("initrd_sum") || cmdline_u64("need_initrd", 0)) {
		uint64_t size = cmdline_u64("initrd_size", 0), sum = cmdline_u64("initrd_sum", 0);

		if (check(bi->initrd_addr && bi->initrd_size, "initrd at %lx size %lu",
			  bi->initrd_addr, bi->initrd_size)) {
			uint32_t got;

			check(bi->initrd_size == size, "initrd size %lu == %lu", bi->initrd_size,
			      size);
			check(ram_contains(bi, bi->initrd_addr, bi->initrd_size),
			      "initrd is in RAM");
			got =
			    posix_cksum((const void *)(uintptr_t)bi->initrd_addr, bi->initrd_size);
			check(got == sum, "initrd cksum %u == %lu", got, sum);
		}
	}
	rsdp = acpi_scan_rsdp();
	check(rsdp != 0, "ACPI RSDP found by the legacy scan of 0xe0000-0xfffff at %lx", rsdp);
	if (bi->proto == BOOT_PVH)
		check(bi->rsdp_paddr && acpi_find_rsdp(bi->rsdp_paddr) == bi->rsdp_paddr,
		      "hvm_start_info.rsdp_paddr %lx points at a valid RSDP", bi->rsdp_paddr);
	return 0;
}
