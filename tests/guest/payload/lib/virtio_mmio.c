/* tests/guest/payload/lib/virtio_mmio.c — finding virtio-mmio devices through ACPI and the
 * common part of bringing one up, shared by the virtio payloads. */
#include "payload.h"

unsigned vmmio_find_all(uint64_t rsdp, uint64_t *bases, unsigned max)
{
	const struct acpi_sdt_hdr *fadt = acpi_find_table(rsdp, "FACP");
	const struct acpi_sdt_hdr *dsdt;
	const uint8_t *p, *end;
	uint64_t x_dsdt = 0;
	uint32_t dsdt32 = 0;
	unsigned n = 0;

	if (!fadt || fadt->len < 44)
		return 0;
	memcpy(&dsdt32, (const uint8_t *)fadt + 40, 4);
	if (fadt->len >= 148)
		memcpy(&x_dsdt, (const uint8_t *)fadt + 140, 8);
	dsdt = (const struct acpi_sdt_hdr *)(x_dsdt ? x_dsdt : dsdt32);
	if (!dsdt || memcmp(dsdt->sig, "DSDT", 4))
		return 0;
	p = (const uint8_t *)dsdt;
	end = p + dsdt->len;
	for (; p + 8 <= end && n < max; p++) {
		if (memcmp(p, "LNRO0005", 8))
			continue;
		for (const uint8_t *q = p + 8; q + 12 <= end && q < p + 256; q++) {
			if (q[0] == 0x86 && q[1] == 0x09 && q[2] == 0x00) {
				uint32_t base;

				memcpy(&base, q + 4, 4);
				bases[n++] = base;
				break;
			}
		}
	}
	return n;
}

uint64_t vmmio_find(uint64_t rsdp, uint32_t device_id)
{
	uint64_t bases[8];
	unsigned n = vmmio_find_all(rsdp, bases, 8);

	for (unsigned i = 0; i < n; i++)
		if (mmio_read32(bases[i]) == 0x74726976 && mmio_read32(bases[i] + 8) == device_id)
			return bases[i];
	return 0;
}

bool vmmio_setup_queue0(uint64_t b, uint16_t qsize, uint64_t ring_gpa)
{
	mmio_write32(b + 0x30, 0);
	if (!check(mmio_read32(b + 0x34) >= qsize, "queue 0 max size %u", mmio_read32(b + 0x34)))
		return false;
	memset((void *)ring_gpa, 0, 0x3000);
	mmio_write32(b + 0x38, qsize);
	mmio_write32(b + 0x80, (uint32_t)ring_gpa);
	mmio_write32(b + 0x84, (uint32_t)(ring_gpa >> 32));
	mmio_write32(b + 0x90, (uint32_t)(ring_gpa + 0x1000));
	mmio_write32(b + 0x94, (uint32_t)((ring_gpa + 0x1000) >> 32));
	mmio_write32(b + 0xa0, (uint32_t)(ring_gpa + 0x2000));
	mmio_write32(b + 0xa4, (uint32_t)((ring_gpa + 0x2000) >> 32));
	mmio_write32(b + 0x44, 1);
	mmio_write32(b + 0x70, 0x0f);
	return check(mmio_read32(b + 0x70) == 0x0f, "status DRIVER_OK (0x%x)",
		     mmio_read32(b + 0x70));
}
