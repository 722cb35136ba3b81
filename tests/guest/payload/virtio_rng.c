/* tests/guest/payload/virtio_rng.c — a minimal virtio-mmio driver for virtio-rng. Finds the
 * device in the ACPI DSDT (_HID "LNRO0005", Memory32Fixed in _CRS — as both kvmm and QEMU
 * microvm describe it), checks the identification registers, negotiates VERSION_1, sets up a
 * 16-entry queue (split, or packed with packed=1: lib/vring.c), then asks for `reqs` buffers of
 * 64 bytes (two segments each, one request per notify) and polls the used ring. The data must
 * not be all zeroes and two requests must differ. Arguments: reqs=N (default 8), packed=1. */
#include "payload.h"

const char payload_name[] = "virtio_rng";

#define QSIZE	 16
#define RING_GPA 0x1200000ull /* desc 0x1200000, avail +0x1000, used +0x2000 */
#define BUF_GPA	 0x1210000ull

static struct vring vq;

static bool driver_init(uint64_t b)
{
	uint32_t hi;

	mmio_write32(b + 0x70, 0);
	mmio_write32(b + 0x70, 1);
	mmio_write32(b + 0x70, 3);
	mmio_write32(b + 0x14, 1);
	hi = mmio_read32(b + 0x10);
	if (!check(hi & 1, "device offers VERSION_1"))
		return false;
	mmio_write32(b + 0x24, 1);
	mmio_write32(b + 0x20, vring_features_hi(hi));
	mmio_write32(b + 0x24, 0);
	mmio_write32(b + 0x20, 0);
	mmio_write32(b + 0x70, 0x0b);
	if (!check(mmio_read32(b + 0x70) & 0x08, "FEATURES_OK accepted"))
		return false;
	vring_init(&vq, QSIZE, RING_GPA, vring_want_packed());
	printf("virtio_rng: %s virtqueue\n", vq.packed ? "packed" : "split");
	return vmmio_setup_queue0(b, QSIZE, RING_GPA);
}

/* One request: 2 writable segments of 32 bytes; returns the used length or -1 on timeout. */
static int request(uint64_t b, unsigned n)
{
	uint8_t *buf = (uint8_t *)(BUF_GPA + (uint64_t)n * 64);
	struct vring_seg s[2] = {{(uint64_t)buf, 32, true}, {(uint64_t)buf + 32, 32, true}};
	uint16_t id, got;
	uint32_t len;

	memset(buf, 0, 64);
	id = vring_add(&vq, s, 2);
	mmio_write32(b + 0x50, 0);
	for (unsigned spin = 0; spin < 10000000; spin++) {
		if (vring_get_used(&vq, &got, &len)) {
			mmio_write32(b + 0x64, mmio_read32(b + 0x60)); /* ack */
			if (!check(got == id, "used id %u is %u", got, id))
				return -1;
			return (int)len;
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
