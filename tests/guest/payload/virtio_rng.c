/* tests/guest/payload/virtio_rng.c — a minimal virtio driver for virtio-rng over virtio-mmio
 * or, with transport=pci, the modern PCI transport (lib/virtio_pci.c). virtio-mmio: finds the
 * device in the ACPI DSDT (_HID "LNRO0005", Memory32Fixed in _CRS — as both kvmm and QEMU
 * microvm describe it); PCI: on bus 0 through the MCFG's ECAM, assigning its BARs. Negotiates
 * VERSION_1, sets up an 8-entry queue (QEMU's virtio-rng-pci offers 8; split, or packed with
 * packed=1: lib/vring.c), then asks for `reqs` buffers of 64 bytes (two segments each; `batch`
 * requests per notify; with indirect=1 each in an indirect table) and polls the used ring. The
 * data must not be all zeroes and two requests must differ. When polling, after each batch the
 * used-buffer interrupt bit must be set, or with nointr=1 (interrupts suppressed by the driver)
 * clear. With msix=1 (PCI) it enables MSI-X and checks that every completion delivers one
 * interrupt; with intx=GSI it routes that IOAPIC pin (level-triggered) and checks one INTx
 * interrupt per completion, the handler reading (and so clearing) the ISR.
 * Arguments: reqs=N (default 8), batch=N (1..4, default 1), packed=1, indirect=1, nointr=1,
 * transport=pci, msix=1, intx=GSI (msix and intx use batch=1). */
#include "payload.h"

const char payload_name[] = "virtio_rng";

#define QSIZE	  8
#define MAX_BATCH (QSIZE / 2) /* two descriptors per request without indirect */
#define RING_GPA  0x1200000ull /* desc 0x1200000, avail +0x1000, used +0x2000 */
#define BUF_GPA	  0x1210000ull

#define F_INDIRECT (1u << 28)
#define VEC_MSIX   0x50
#define VEC_INTX   0x51

static struct vring vq;
static bool indirect, nointr;

static volatile unsigned msix_irqs, intx_irqs, intx_isr_queue;
static struct vdev *irq_dev;
static bool irq_mode; /* an interrupt handler acknowledges, not the polling loop */

static void msix_isr(struct trap_frame *f)
{
	(void)f;
	msix_irqs++;
	lapic_eoi();
}

static void intx_isr(struct trap_frame *f)
{
	(void)f;
	intx_irqs++;
	if (vdev_ack(irq_dev) & 1) /* reading the ISR lowers the line before the EOI */
		intx_isr_queue++;
	lapic_eoi();
}

static bool driver_init(struct vdev *v)
{
	uint32_t hi, lo;

	vdev_set_status(v, 0);
	vdev_set_status(v, 1);
	vdev_set_status(v, 3);
	lo = vdev_features(v, 0);
	if (indirect && !check(lo & F_INDIRECT, "device offers VIRTIO_F_INDIRECT_DESC"))
		return false;
	hi = vdev_features(v, 1);
	if (!check(hi & 1, "device offers VERSION_1"))
		return false;
	vdev_set_features(v, 1, vring_features_hi(hi));
	vdev_set_features(v, 0, indirect ? F_INDIRECT : 0);
	vdev_set_status(v, 0x0b);
	if (!check(vdev_status(v) & 0x08, "FEATURES_OK accepted"))
		return false;
	vring_init(&vq, QSIZE, RING_GPA, vring_want_packed());
	printf("virtio_rng: %s virtqueue%s%s\n", vq.packed ? "packed" : "split",
	       indirect ? ", indirect" : "", nointr ? ", interrupts suppressed" : "");
	if (!vdev_setup_queue0(v, QSIZE, RING_GPA)) /* zeroes the rings */
		return false;
	vring_set_interrupts(&vq, !nointr);
	return true;
}

/* Requests [first, first + count): made available together, one notify, then the used ring
 * is polled; each must come back with 64 bytes. When polling (no interrupt handler), the
 * interrupt status is then checked and acknowledged. */
static bool batch(struct vdev *v, unsigned first, unsigned count)
{
	uint16_t ids[MAX_BATCH], got;
	uint32_t len, isr;
	unsigned k = 0;

	for (unsigned i = 0; i < count; i++) {
		uint8_t *buf = (uint8_t *)(BUF_GPA + (uint64_t)(first + i) * 64);
		struct vring_seg s[2] = {{(uint64_t)buf, 32, true}, {(uint64_t)buf + 32, 32, true}};

		memset(buf, 0, 64);
		ids[i] = indirect ? vring_add_indirect(&vq, s, 2) : vring_add(&vq, s, 2);
	}
	vdev_notify(v, 0);
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
	if (irq_mode)
		return true;
	isr = vdev_ack(v);
	return check(!!(isr & 1) == !nointr, "requests %u..%u: used-buffer interrupt %s", first,
		     first + count - 1, nointr ? "suppressed" : "raised");
}

/* Interrupt mode: wait for the interrupt of request n (the MSI may trail the used-ring
 * update a little). */
static void wait_irq(bool msix, unsigned intx, unsigned n)
{
	for (unsigned spin = 0; msix && msix_irqs < n + 1 && spin < 10000000; spin++)
		cpu_relax();
	for (unsigned spin = 0; intx && intx_irqs < n + 1 && spin < 10000000; spin++)
		cpu_relax();
}

static bool setup_irqs(struct vdev *v, bool msix, unsigned intx)
{
	if (msix) {
		lapic_enable();
		irq_set_handler(VEC_MSIX, msix_isr);
		if (!vdev_msix_enable(v, lapic_id(), VEC_MSIX))
			return false;
		irq_enable();
	}
	if (intx) {
		irq_dev = v;
		lapic_enable();
		irq_set_handler(VEC_INTX, intx_isr);
		ioapic_route_level(intx, VEC_INTX, lapic_id());
		irq_enable();
	}
	irq_mode = msix || intx;
	return true;
}

static void check_irqs(bool msix, unsigned intx, unsigned reqs)
{
	if (msix) {
		irq_disable();
		check(msix_irqs == reqs, "%u MSI-X interrupts for %u completions", msix_irqs, reqs);
	}
	if (intx) {
		irq_disable();
		ioapic_mask(intx);
		check(intx_irqs == reqs && intx_isr_queue == reqs,
		      "%u INTx interrupts on GSI %u for %u completions, ISR queue bit in %u",
		      intx_irqs, intx, reqs, intx_isr_queue);
	}
}

int payload_main(const struct boot_info *bi)
{
	uint64_t rsdp = acpi_find_rsdp(bi->rsdp_paddr);
	unsigned reqs = (unsigned)cmdline_u64("reqs", 8), per = (unsigned)cmdline_u64("batch", 1);
	bool msix = cmdline_u64("msix", 0) != 0;
	unsigned intx = (unsigned)cmdline_u64("intx", 0);
	uint8_t first[64];
	struct vdev v;

	indirect = cmdline_u64("indirect", 0) != 0;
	nointr = cmdline_u64("nointr", 0) != 0;
	if (per < 1 || per > MAX_BATCH || msix || intx)
		per = 1;
	if (!check(rsdp && vdev_find(rsdp, 4, &v), "virtio rng device (DeviceID 4) found"))
		return EXIT_CODE_FAIL;
	if (!setup_irqs(&v, msix, intx) || !driver_init(&v))
		return EXIT_CODE_FAIL;
	for (unsigned n = 0; n < reqs; n += per) {
		if (!batch(&v, n, n + per <= reqs ? per : reqs - n))
			return EXIT_CODE_FAIL;
		if (irq_mode)
			wait_irq(msix, intx, n);
	}
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
	check_irqs(msix, intx, reqs);
	printf("virtio_rng: %u requests of 64 bytes served\n", reqs);
	return check_failures() ? EXIT_CODE_FAIL : EXIT_CODE_PASS;
}
