/* Fuzz target: guest accesses to the PCI host and a virtio-pci function behind it (virtio-rng
 * on 64 KiB of guest RAM, with MSI-X): config cycles through 0xcf8/0xcfc and ECAM, accesses to
 * the BAR window (BARs move as the input reprograms them), MSI-X table and PBA, the PCI_CFG
 * window, and completions raised from "another thread". Nothing may crash, hang or touch memory
 * outside guest RAM (ASan), and the invariants below must hold.
 *
 * Input: a sequence of 12-byte records {op, len, off(2 bytes, LE), addr/val(8 bytes, LE)}:
 *   op % 8 = 0 ECAM read, 1 ECAM write, 2 CONFIG_ADDRESS write + 0xcfc read, 3 0xcfc write,
 *            4 window read, 5 window write, 6 kick queue off % 4, 7 completion interrupt for
 *            queue off % 4;
 *   len % 4 selects 1, 2, 4 or 8 bytes; the ECAM offset is off (slot 0-3 of bus 0 by the high
 *   bits); window offsets are the low 20 bits of the value field. Guest RAM starts zeroed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "devices/pci/host.h"
#include "devices/virtio/pci.h"
#include "devices/virtio/rng.h"
#include "mem/gmem.h"

#define FUZZ_RAM (64u << 10)
#define WIN	 0xc0000000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int irq_set(void *ctx, bool level)
{
	(void)ctx;
	(void)level;
	return 0;
}

static unsigned msi_sent;

static int msi_send(void *ctx, unsigned v, const struct pci_msi_msg *m)
{
	(void)ctx;
	(void)m;
	if (v >= 2)
		abort(); /* only the function's two vectors may fire */
	msi_sent++;
	return 0;
}

static const struct pci_msi_ops msi_ops = {msi_send, NULL};

static void run(struct pci_host *h, struct virtio_pci *t, const uint8_t *p, size_t n)
{
	static const uint32_t lens[4] = {1, 2, 4, 8};

	for (; n >= 12; p += 12, n -= 12) {
		uint32_t len = lens[p[1] & 3], off = (uint32_t)p[2] | (uint32_t)p[3] << 8;
		uint64_t val, buf = 0;
		uint32_t cf8;

		memcpy(&val, p + 4, 8);
		switch (p[0] % 8) {
		case 0:
			pci_host_ecam_ops.read(h, off & 0x1ffff, &buf, len);
			break;
		case 1:
			pci_host_ecam_ops.write(h, off & 0x1ffff, &val, len);
			break;
		case 2:
			cf8 = (uint32_t)val;
			pci_host_pio_ops.write(h, 0, &cf8, 4);
			pci_host_pio_ops.read(h, 4 + (off & 3), &buf, len > 4 ? 4 : len);
			break;
		case 3:
			pci_host_pio_ops.write(h, 4 + (off & 3), &val, len > 4 ? 4 : len);
			break;
		case 4:
			pci_host_mmio_ops.read(h, (val & 0xfffff) + off, &buf, len);
			break;
		case 5:
			pci_host_mmio_ops.write(h, off & 0xfffff, &val, len);
			break;
		case 6:
			virtio_pci_kick(t, (uint16_t)(off % 4));
			break;
		case 7: /* a completion on queue off % 4, as a device thread would raise it */
			if (virtio_pci_vdev(t)->tr_ops)
				virtio_pci_vdev(t)->tr_ops->notify_queue(virtio_pci_vdev(t)->tr,
									 (uint16_t)(off % 4));
			break;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtio_pci_opts o = {.intx = {irq_set, NULL}, .msi = &msi_ops};
	struct virtio_rng *rng = NULL;
	struct virtio_pci *t = NULL;
	struct pci_host *h = NULL;
	struct gmem_region r;
	struct gmem *m = NULL;
	unsigned slot;
	uint8_t *ram;

	ram = mmap(NULL, FUZZ_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		return 0;
	r = (struct gmem_region){0, FUZZ_RAM, ram, 0};
	if (gmem_create(&m, &r, 1))
		goto out;
	if (virtio_rng_create(&rng, m, 1u << 20, NULL, NULL))
		goto out;
	if (virtio_pci_create(&t, virtio_rng_dev(rng), &o))
		goto out;
	if (pci_host_create(&h, WIN, 0x100000) || pci_host_add(h, virtio_pci_dev(t), &slot))
		goto out;
	run(h, t, data, size);
out:
	pci_host_destroy(h);
	virtio_pci_destroy(t);
	virtio_rng_destroy(rng);
	gmem_destroy(m);
	munmap(ram, FUZZ_RAM);
	return 0;
}
