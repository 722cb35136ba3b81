/* Fuzz target: fw_cfg register accesses and DMA descriptors in guest memory.
 *
 * Guest memory is two 64 KiB regions, at 0 and at 1 MiB, with a hole in between. The input is
 * a sequence of 11-byte records:
 *   byte 0: bits 0-1 op (0 read, 1 write, 2 poke 8 bytes into guest memory, 3 DMA kick:
 *           write the low DMA register), bits 2-3 access size (1, 2, 4, 8 bytes)
 *   bytes 1-2: register offset (0..15), or for a poke/DMA kick a 16-bit little-endian value
 *              a: guest address a * 2 (a < 0x8000) or 1 MiB + (a - 0x8000) * 2
 *   bytes 3-10: value (little-endian)
 * Invariants: no crash, no out-of-bounds access (ASan), no UB (UBSan), and a DMA never writes
 * outside the two regions (checked by gmem, observed by ASan). */
#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "devices/legacy/fw_cfg.h"
#include "mem/gmem.h"

#define FUZZ_RAM  0x10000
#define FUZZ_HIGH 0x100000

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static int fuzz_setup_items(struct fw_cfg *fw)
{
	static const char cmdline[] = "console=ttyS0";
	uint8_t blob[300];
	int err;

	for (unsigned i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)i;
	err = fw_cfg_add_u64(fw, FW_CFG_RAM_SIZE, 2 * FUZZ_RAM);
	if (!err)
		err = fw_cfg_add_u16(fw, FW_CFG_NB_CPUS, 2);
	if (!err)
		err = fw_cfg_add_item(fw, FW_CFG_CMDLINE_DATA, cmdline, sizeof(cmdline));
	if (!err)
		err = fw_cfg_add_file(fw, "etc/blob", blob, sizeof(blob));
	if (!err)
		err = fw_cfg_add_file(fw, "etc/empty", NULL, 0);
	if (!err)
		err = fw_cfg_add_file(fw, "bootorder", "/pci@i0cf8/*@1\n", 15);
	return err;
}

static uint64_t fuzz_gpa(const uint8_t *p)
{
	uint16_t a = (uint16_t)(p[0] | p[1] << 8);

	return a & 0x8000 ? FUZZ_HIGH + (a & 0x7fffu) * 2u : a * 2u;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	uint8_t *lo, *hi;
	struct gmem_region r[2];
	struct gmem *m;
	struct fw_cfg *fw;

	lo = mmap(NULL, FUZZ_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	hi = mmap(NULL, FUZZ_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (lo == MAP_FAILED || hi == MAP_FAILED)
		abort();
	r[0] = (struct gmem_region){0, FUZZ_RAM, lo, 0};
	r[1] = (struct gmem_region){FUZZ_HIGH, FUZZ_RAM, hi, 0};
	if (gmem_create(&m, r, 2))
		abort();
	if (fw_cfg_create(&fw, m) || fuzz_setup_items(fw))
		abort();
	for (size_t i = 0; i + 11 <= n; i += 11) {
		unsigned op = d[i] & 3, size = 1u << ((d[i] >> 2) & 3);
		uint8_t val[8];
		uint32_t be;

		memcpy(val, d + i + 3, 8);
		switch (op) {
		case 0:
			fw_cfg_io_ops.read(fw, d[i + 1] & 15, val, size);
			break;
		case 1:
			fw_cfg_io_ops.write(fw, d[i + 1] & 15, val, size);
			break;
		case 2:
			if (gmem_write(m, fuzz_gpa(d + i + 1), val, 8))
				break; /* straddles the end of a region: skip */
			break;
		default:
			be = htobe32((uint32_t)fuzz_gpa(d + i + 1));
			fw_cfg_io_ops.write(fw, FW_CFG_PORT_DMA + 4, &be, 4);
			break;
		}
	}
	fw_cfg_destroy(fw);
	gmem_destroy(m);
	munmap(lo, FUZZ_RAM);
	munmap(hi, FUZZ_RAM);
	return 0;
}
