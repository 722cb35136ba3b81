/* tests/guest/payload/virtio_rng.c — a minimal virtio-mmio driver for virtio-rng. Finds the
 * device in the ACPI DSDT (_HID "LNRO0005", Memory32Fixed in _CRS — as both kvmm and QEMU
 * microvm describe it), checks the identification registers, negotiates VERSION_1, sets up a
 * 16-entry queue (split, or packed with packed=1: lib/vring.c), then asks for `reqs` buffers of
 * 64 bytes (two segments each; `batch` requests per notify; with indirect=1 each in an indirect
 * table) and polls the used ring. The data must not be all zeroes and two requests must differ.
 * After each batch the used-buffer interrupt bit must be set, or with nointr=1 (interrupts
 * suppressed by the driver) clear. Arguments: reqs=N (default 8), batch=N (1..8, default 1),
 * packed=1, indirect=1, nointr=1. */
#include "payload.h"

const char payload_name[] = "virtio_rng";

#define QSIZE	 16
#define RING_GPA 0x1200000ull /* desc 0x1200000, avail +0x1000, used +0x2000 */
#define BUF_GPA	 0x1210000ull

#define F_INDIRECT (1u << 28)

static struct vring vq;
static bool indirect, nointr;

static bool driver_init(uint64_t b)
{
	uint32_t hi, lo;

	mmio_write32(b + 0x70, 0);
	mmio_write32(b + 0x70, 1);
	mmio_write32(b + 0x70, 3);
	mmio_write32(b + 0x14, 0);
	lo = mmio_read32(b + 0x10);
	if (indirect && !check(lo & F_INDIRECT, "device offers VIRTIO_F_INDIRECT_DESC"))
		return false;
	mmio_write32(b + 0x14, 1);
	hi = mmio_read32(b + 0x10);
	if (!check(hi & 1, "device offers VERSION_1"))
		return false;
	mmio_write32(b + 0x24, 1);
	mmio_write32(b + 0x20, vring_features_hi(hi));
	mmio_write32(b + 0x24, 0);
	mmio_write32(b + 0x20, indirect ? F_INDIRECT : 0);
	mmio_write32(b + 0x70, 0x0b);
	if (!check(mmio_read32(b + 0x70) & 0x08, "FEATURES_OK accepted"))
		return false;
	vring_init(&vq, QSIZE, RING_GPA, vring_want_packed());
	printf("virtio_rng: %s virtqueue%s%s\n", vq.packed ? "packed" : "split",
	       indirect ? ", indirect" : "", nointr ? ", interrupts suppressed" : "");
	if (!vmmio_setup_queue0(b, QSIZE, RING_GPA)) /* zeroes the rings */
		return false;
	vring_set_interrupts(&vq, !nointr);
	return true;
}

/* Requests [first, first + count): made available together, one notify, then the used ring
 * is polled; each must come back with 64 bytes. Then the interrupt bit is checked and acked. */
static bool batch(uint64_t b, unsigned first, unsigned count)
{
	uint16_t ids[8], got;
	uint32_t len, isr;
	unsigned k = 0;

	for (unsigned i = 0; i < count; i++) {
		uint8_t *buf = (uint8_t *)(BUF_GPA + (uint64_t)(first + i) * 64);
		struct vring_seg s[2] = {{(uint64_t)buf, 32, true}, {(uint64_t)buf + 32, 32, true}};

		memset(buf, 0, 64);
		ids[i] = indirect ? vring_add_indirect(&vq, s, 2) : vring_add(&vq, s, 2);
	}
	mmio_write32(b + 0x50, 0);
	for (unsigned spin = 0; spin < 10000000 && k < count; spin++) {
		if (!vring_get_used(&vq, &got, &len)) {
			cpu_relax();
			continue;
		}
		/* virtio-rng completes in order */
		if (!check(got == ids[k] && len == 64,
			   "request %u: used id %u (want %u), length %u", first + k, got, ids[k],
			   len))
			return false;
		k++;
	}
	if (!check(k == count, "requests %u..%u completed", first, first + count - 1))
		return false;
	isr = mmio_read32(b + 0x60);
	mmio_write32(b + 0x64, isr); /* ack */
	return check(!!(isr & 1) == !nointr, "requests %u..%u: used-buffer interrupt %s", first,
		     first + count - 1, nointr ? "suppressed" : "raised");
}

int payload_main(const struct boot_info *bi)
{
	uint64_t rsdp = acpi_find_rsdp(bi->rsdp_paddr), b;
	unsigned reqs = (unsigned)cmdline_u64("reqs", 8), per = (unsigned)cmdline_u64("batch", 1);
	uint8_t first[64];

	indirect = cmdline_u64("indirect", 0) != 0;
	nointr = cmdline_u64("nointr", 0) != 0;
	if (per < 1 || per > 8)
		per = 1;

	b = rsdp ? vmmio_find(rsdp, 4) : 0;
	if (!check(b != 0, "virtio-mmio rng device (LNRO0005, DeviceID 4) in the DSDT"))
		return EXIT_CODE_FAIL;
	printf("virtio_rng: device at 0x%lx\n", b);
	if (!check(mmio_read32(b + 4) == 2, "version 2"))
		return EXIT_CODE_FAIL;
	if (!driver_init(b))
		return EXIT_CODE_FAIL;
	for (unsigned n = 0; n < reqs; n += per)
		if (!batch(b, n, n + per <= reqs ? per : reqs - n))
			return EXIT_CODE_FAIL;
	for (unsigned n = 0; n < reqs; n++) {
		const uint8_t *buf = (const uint8_t *)(BUF_GPA + (uint64_t)n * 64);
		static const uint8_t zero[64];

		if (!check(memcmp(buf, zero, 64) != 0, "request %u: data not all zero", n))
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
