/* tests/guest/payload/virtio_rng.c — a minimal virtio-mmio driver for virtio-rng. Finds the
 * device in the ACPI DSDT (_HID "LNRO0005", Memory32Fixed in _CRS — as both kvmm and QEMU
 * microvm describe it), checks the identification registers, negotiates VERSION_1, sets up a
 * 16-entry split queue, then asks for `reqs` buffers of 64 bytes (two segments each, one
 * request per notify) and polls the used ring. The data must not be all zeroes and two
 * requests must differ. Arguments: reqs=N (default 8). */
#include "payload.h"

const char payload_name[] = "virtio_rng";

#define QSIZE	 16
#define RING_GPA 0x1200000ull /* desc 0x1200000, avail +0x1000, used +0x2000 */
#define BUF_GPA	 0x1210000ull

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static volatile struct desc *d = (volatile struct desc *)RING_GPA;
static volatile uint16_t *avail = (volatile uint16_t *)(RING_GPA + 0x1000);
static volatile uint16_t *used = (volatile uint16_t *)(RING_GPA + 0x2000);

static bool driver_init(uint64_t b)
{
	mmio_write32(b + 0x70, 0);
	mmio_write32(b + 0x70, 1);
	mmio_write32(b + 0x70, 3);
	mmio_write32(b + 0x14, 1);
	if (!check(mmio_read32(b + 0x10) & 1, "device offers VERSION_1"))
		return false;
	mmio_write32(b + 0x24, 1);
	mmio_write32(b + 0x20, 1);
	mmio_write32(b + 0x24, 0);
	mmio_write32(b + 0x20, 0);
	mmio_write32(b + 0x70, 0x0b);
	if (!check(mmio_read32(b + 0x70) & 0x08, "FEATURES_OK accepted"))
		return false;
	return vmmio_setup_queue0(b, QSIZE, RING_GPA);
}

/* One request: 2 writable segments of 32 bytes; returns the used length or -1 on timeout. */
static int request(uint64_t b, unsigned n)
{
	uint8_t *buf = (uint8_t *)(BUF_GPA + (uint64_t)n * 64);
	uint16_t head = (uint16_t)((n * 2) % QSIZE);

	memset(buf, 0, 64);
	d[head] = (struct desc){(uint64_t)buf, 32, 1 | 2, (uint16_t)(head + 1)};
	d[head + 1] = (struct desc){(uint64_t)buf + 32, 32, 2, 0};
	avail[2 + (n % QSIZE)] = head;
	__asm__ volatile("mfence" ::: "memory");
	avail[1] = (uint16_t)(n + 1);
	__asm__ volatile("mfence" ::: "memory");
	mmio_write32(b + 0x50, 0);
	for (unsigned spin = 0; spin < 10000000; spin++) {
		if (used[1] == (uint16_t)(n + 1)) {
			volatile uint32_t *elem = (volatile uint32_t *)(used + 2) + 2 * (n % QSIZE);

			mmio_write32(b + 0x64, mmio_read32(b + 0x60)); /* ack */
			if (!check(elem[0] == head, "used id %u is head %u", elem[0], head))
				return -1;
			return (int)elem[1];
		}
		cpu_relax();
	}
	return -1;
}

int payload_main(const struct boot_info *bi)
{
	uint64_t rsdp = acpi_find_rsdp(bi->rsdp_paddr), b;
	unsigned reqs = (unsigned)cmdline_u64("reqs", 8);
	uint8_t first[64];

	b = rsdp ? vmmio_find(rsdp, 4) : 0;
	if (!check(b != 0, "virtio-mmio rng device (LNRO0005, DeviceID 4) in the DSDT"))
		return EXIT_CODE_FAIL;
	printf("virtio_rng: device at 0x%lx\n", b);
	if (!check(mmio_read32(b + 4) == 2, "version 2"))
		return EXIT_CODE_FAIL;
	if (!driver_init(b))
		return EXIT_CODE_FAIL;
	for (unsigned n = 0; n < reqs; n++) {
		const uint8_t *buf = (const uint8_t *)(BUF_GPA + (uint64_t)n * 64);
		static const uint8_t zero[64];
		int len = request(b, n);

		if (!check(len == 64, "request %u: used length %d", n, len) ||
		    !check(memcmp(buf, zero, 64) != 0, "request %u: data not all zero", n))
			return EXIT_CODE_FAIL;
		if (n == 0)
			memcpy(first, buf, 64);
		else if (!check(memcmp(first, buf, 64) != 0, "request %u differs from request 0",
				n))
			return EXIT_CODE_FAIL;
	}
	printf("virtio_rng: %u requests of 64 bytes served\n", reqs);
	return check_failures() ? EXIT_CODE_FAIL : EXIT_CODE_PASS;
}
