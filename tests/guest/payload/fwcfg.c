/* tests/guest/payload/fwcfg.c — QEMU fw_cfg: signature, id, CPU count, RAM size, the file
 * directory and etc/e820 (read through the data port and through DMA, compared with each other
 * and with the boot memory map). Arguments: cpus=N, mem=MiB (optional). */
#include "payload.h"

const char payload_name[] = "fwcfg";

struct e820_entry {
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

static struct e820_entry pio_map[64], dma_map[64];

/* Every RAM range of the boot map must lie inside a RAM entry of etc/e820, and the RAM totals
 * may differ only by what the loader reserves below 1 MiB. */
static bool maps_agree(const struct boot_info *bi, const struct e820_entry *m, unsigned n)
{
	uint64_t fw_total = 0;
	bool ok = true;

	for (unsigned i = 0; i < n; i++) {
		printf("  etc/e820 %016lx-%016lx type %u\n", m[i].addr, m[i].addr + m[i].len - 1,
		       m[i].type);
		if (m[i].type == 1)
			fw_total += m[i].len;
	}
	for (unsigned i = 0; i < bi->nr_memmap; i++) {
		const struct mem_range *r = &bi->memmap[i];
		bool inside = false;

		if (r->type != 1)
			continue;
		for (unsigned j = 0; j < n; j++)
			inside |= m[j].type == 1 && r->addr >= m[j].addr &&
				  r->addr + r->len <= m[j].addr + m[j].len;
		if (!inside) {
			printf("  boot RAM %lx+%lx is not RAM in etc/e820\n", r->addr, r->len);
			ok = false;
		}
	}
	printf("  RAM: etc/e820 %lu KiB, boot map %lu KiB\n", fw_total >> 10,
	       boot_ram_total() >> 10);
	return ok && fw_total >= boot_ram_total() && fw_total - boot_ram_total() <= (1 << 20);
}

int payload_main(const struct boot_info *bi)
{
	char sig[5] = {0};
	uint32_t id = 0, size = 0;
	uint16_t cpus = 0, key = 0;
	uint64_t ram = 0, want_cpus = cmdline_u64("cpus", 0), mem = cmdline_u64("mem", 0);
	unsigned files, n;
	int rc;

	fwcfg_read(FW_CFG_SIGNATURE, sig, 4);
	if (!check(!memcmp(sig, "QEMU", 4), "signature \"%s\"", sig))
		return EXIT_CODE_FAIL;
	fwcfg_read(FW_CFG_ID, &id, sizeof(id));
	check(id & 1, "id %x: traditional interface", id);
	fwcfg_read(FW_CFG_NB_CPUS, &cpus, sizeof(cpus));
	check(cpus >= 1 && (!want_cpus || cpus == want_cpus), "FW_CFG_NB_CPUS %u (want %lu)", cpus,
	      want_cpus);
	fwcfg_read(FW_CFG_RAM_SIZE, &ram, sizeof(ram));
	check(ram && (!mem || ram == mem << 20), "FW_CFG_RAM_SIZE %lu MiB (want %lu)", ram >> 20,
	      mem);
	files = fwcfg_list_files();
	check(files > 0, "file directory lists %u files", files);
	if (!check(fwcfg_find_file("etc/e820", &key, &size), "etc/e820 found"))
		return EXIT_CODE_FAIL;
	printf("fwcfg: etc/e820 is selector %x, %u bytes\n", key, size);
	if (!check(size && size % sizeof(struct e820_entry) == 0 && size <= sizeof(pio_map),
		   "etc/e820 size %u is a whole number of entries", size))
		return EXIT_CODE_FAIL;
	n = size / sizeof(struct e820_entry);
	fwcfg_read(key, pio_map, size);
	check(maps_agree(bi, pio_map, n), "etc/e820 (data port) agrees with the boot memory map");
	if (check(id & 2, "id %x: DMA interface", id)) {
		memset(dma_map, 0xcc, sizeof(dma_map));
		rc = fwcfg_dma_read(key, dma_map, size);
		check(rc == 0, "DMA read of etc/e820: %d", rc);
		check(!memcmp(pio_map, dma_map, size), "DMA and data-port reads agree");
		rc = fwcfg_dma_read(FW_CFG_SIGNATURE, sig, 4);
		check(rc == 0 && !memcmp(sig, "QEMU", 4), "DMA read of the signature");
	}
	return 0;
}
