/* tests/guest/payload/virtio_rng.c — a minimal virtio driver for virtio-rng over virtio-mmio
 * or, with transport=pci, the modern PCI transport (lib/virtio_pci.c). virtio-mmio: finds the
 * device in the ACPI DSDT (_HID "LNRO0005", Memory32Fixed in _CRS — as both kvmm and QEMU
 * microvm describe it); PCI: on bus 0 through the MCFG's ECAM, assigning its BARs. Negotiates
 * VERSION_1, sets up a 16-entry split queue, then asks for `reqs` buffers of 64 bytes (two
 * segments each, one request per notify) and polls the used ring. The data must not be all
 * zeroes and two requests must differ. With msix=1 (PCI) it also enables MSI-X and checks that
 * every completion delivers one interrupt; with intx=GSI it routes that IOAPIC pin
 * (level-triggered) and checks one INTx interrupt per completion, the handler reading (and so
 * clearing) the ISR. Arguments: reqs=N (default 8), transport=pci, msix=1, intx=GSI. */
#include "payload.h"

const char payload_name[] = "virtio_rng";

#define QSIZE	 8 /* QEMU's virtio-rng-pci offers 8 */
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

#define VEC_MSIX 0x50
#define VEC_INTX 0x51

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
	vdev_set_status(v, 0);
	vdev_set_status(v, 1);
	vdev_set_status(v, 3);
	if (!check(vdev_features(v, 1) & 1, "device offers VERSION_1"))
		return false;
	vdev_set_features(v, 1, 1);
	vdev_set_features(v, 0, 0);
	vdev_set_status(v, 0x0b);
	if (!check(vdev_status(v) & 0x08, "FEATURES_OK accepted"))
		return false;
	return vdev_setup_queue0(v, QSIZE, RING_GPA);
}

/* One request: 2 writable segments of 32 bytes; returns the used length or -1 on timeout. */
static int request(struct vdev *v, unsigned n)
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
	vdev_notify(v, 0);
	for (unsigned spin = 0; spin < 10000000; spin++) {
		if (used[1] == (uint16_t)(n + 1)) {
			volatile uint32_t *elem = (volatile uint32_t *)(used + 2) + 2 * (n % QSIZE);

			if (!irq_mode)
				vdev_ack(v);
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
	uint64_t rsdp = acpi_find_rsdp(bi->rsdp_paddr);
	unsigned reqs = (unsigned)cmdline_u64("reqs", 8);
	bool msix = cmdline_u64("msix", 0) != 0;
	unsigned intx = (unsigned)cmdline_u64("intx", 0);
	uint8_t first[64];
	struct vdev v;

	if (!check(rsdp && vdev_find(rsdp, 4, &v), "virtio rng device (DeviceID 4) found"))
		return EXIT_CODE_FAIL;
	if (msix) {
		lapic_enable();
		irq_set_handler(VEC_MSIX, msix_isr);
		if (!vdev_msix_enable(&v, lapic_id(), VEC_MSIX))
			return EXIT_CODE_FAIL;
		irq_enable();
	}
	if (intx) {
		irq_dev = &v;
		lapic_enable();
		irq_set_handler(VEC_INTX, intx_isr);
		ioapic_route_level(intx, VEC_INTX, lapic_id());
		irq_enable();
	}
	irq_mode = msix || intx;
	if (!driver_init(&v))
		return EXIT_CODE_FAIL;
	for (unsigned n = 0; n < reqs; n++) {
		const uint8_t *buf = (const uint8_t *)(BUF_GPA + (uint64_t)n * 64);
		static const uint8_t zero[64];
		int len = request(&v, n);

		if (!check(len == 64, "request %u: used length %d", n, len) ||
		    !check(memcmp(buf, zero, 64) != 0, "request %u: data not all zero", n))
			return EXIT_CODE_FAIL;
		if (n == 0)
			memcpy(first, buf, 64);
		else if (!check(memcmp(first, buf, 64) != 0, "request %u differs from request 0",
				n))
			return EXIT_CODE_FAIL;
		/* the MSI may trail the used-ring update a little */
		for (unsigned spin = 0; msix && msix_irqs < n + 1 && spin < 10000000; spin++)
			cpu_relax();
		for (unsigned spin = 0; intx && intx_irqs < n + 1 && spin < 10000000; spin++)
			cpu_relax();
	}
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
	printf("virtio_rng: %u requests of 64 bytes served\n", reqs);
	return check_failures() ? EXIT_CODE_FAIL : EXIT_CODE_PASS;
}
