/* tests/guest/payload/lib/virtio_pci.c — a minimal virtio 1.2 modern PCI driver core (§4.1):
 * finds the function on bus 0 through ECAM, assigns its BARs, walks the vendor capabilities
 * (COMMON, NOTIFY, ISR, DEVICE) and drives the common configuration; plus the transport-neutral
 * `vdev` calls that the virtio payloads use, which forward to virtio-mmio (lib/virtio_mmio.c)
 * unless the command line says transport=pci. */
#include "payload.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define CAP_VNDR	  0x09
#define CAP_MSIX	  0x11
#define PCI_ECAM_DEFAULT  ((uint64_t)0xe0000000)

/* common configuration offsets */
#define C_DFSELECT 0x00
#define C_DF	   0x04
#define C_GFSELECT 0x08
#define C_GF	   0x0c
#define C_MSIX	   0x10
#define C_STATUS   0x14
#define C_Q_SELECT 0x16
#define C_Q_SIZE   0x18
#define C_Q_MSIX   0x1a
#define C_Q_ENABLE 0x1c
#define C_Q_NOFF   0x1e
#define C_Q_DESC   0x20
#define C_Q_AVAIL  0x28
#define C_Q_USED   0x30

static uint64_t next_bar_addr;

static void walk_caps(struct vdev *v, const uint64_t bars[6])
{
	uint8_t p = pci_cfg_read8(v->ecam, v->slot, 0x34) & 0xfc;

	for (unsigned hops = 0; p && hops < 48; hops++) {
		uint8_t id = pci_cfg_read8(v->ecam, v->slot, p);

		if (id == CAP_VNDR) {
			uint8_t type = pci_cfg_read8(v->ecam, v->slot, p + 3u);
			uint8_t bar = pci_cfg_read8(v->ecam, v->slot, p + 4u);
			uint32_t off = pci_cfg_read32(v->ecam, v->slot, p + 8u);
			uint64_t a = bar < 6 ? bars[bar] + off : 0;

			if (type == 1 && !v->common)
				v->common = a;
			else if (type == 2 && !v->notify) {
				v->notify = a;
				v->notify_mult = pci_cfg_read32(v->ecam, v->slot, p + 16u);
			} else if (type == 3 && !v->isr)
				v->isr = a;
			else if (type == 4 && !v->device)
				v->device = a;
		} else if (id == CAP_MSIX) {
			uint32_t t = pci_cfg_read32(v->ecam, v->slot, p + 4u);

			v->msix_cap = p;
			v->msix_table = bars[t & 7] + (t & ~7u);
		}
		p = pci_cfg_read8(v->ecam, v->slot, p + 1u) & 0xfc;
	}
}

static bool pci_find(uint64_t rsdp, uint32_t device_id, struct vdev *v)
{
	uint64_t bars[6];

	v->ecam = pci_ecam_base(rsdp);
	/* QEMU microvm has no MCFG; its ECAM is where kvmm's is (LAYOUT_PCI_ECAM) */
	printf("virtio-pci: ECAM at 0x%lx (%s)\n", v->ecam ? v->ecam : PCI_ECAM_DEFAULT,
	       v->ecam ? "MCFG" : "no MCFG, default address");
	if (!v->ecam)
		v->ecam = PCI_ECAM_DEFAULT;
	if (!check((pci_cfg_read32(v->ecam, 0, 0) & 0xffff) != 0xffff, "host bridge at 00:00.0"))
		return false;
	for (unsigned s = 0; s < 32; s++) {
		uint32_t id = pci_cfg_read32(v->ecam, s, 0);

		if ((id & 0xffff) != VIRTIO_PCI_VENDOR || (id >> 16) != 0x1040 + device_id)
			continue;
		v->slot = s;
		printf("virtio-pci: device %04x at 00:%02x.0, revision %u\n", id >> 16, s,
		       pci_cfg_read8(v->ecam, s, 0x08));
		pci_assign_bars(v->ecam, s, &next_bar_addr, bars);
		walk_caps(v, bars);
		return check(v->common && v->notify && v->isr,
			     "COMMON, NOTIFY and ISR capabilities found (notify_off_multiplier %u)",
			     v->notify_mult);
	}
	return false;
}

bool vdev_find(uint64_t rsdp, uint32_t device_id, struct vdev *v)
{
	char tr[8];

	memset(v, 0, sizeof(*v));
	v->queue_vector = 0xffff;
	if (cmdline_get("transport", tr, sizeof(tr)) && !strncmp(tr, "pci", 4)) {
		v->pci = true;
		return pci_find(rsdp, device_id, v);
	}
	v->mmio = vmmio_find(rsdp, device_id);
	if (v->mmio)
		printf("virtio-mmio: device %u at 0x%lx\n", device_id, v->mmio);
	return v->mmio && check(mmio_read32(v->mmio + 4) == 2, "virtio-mmio version 2");
}

void vdev_set_status(struct vdev *v, uint8_t s)
{
	if (v->pci)
		mmio_write8(v->common + C_STATUS, s);
	else
		mmio_write32(v->mmio + 0x70, s);
}

uint8_t vdev_status(struct vdev *v)
{
	return v->pci ? mmio_read8(v->common + C_STATUS) : (uint8_t)mmio_read32(v->mmio + 0x70);
}

uint32_t vdev_features(struct vdev *v, unsigned sel)
{
	if (v->pci) {
		mmio_write32(v->common + C_DFSELECT, sel);
		return mmio_read32(v->common + C_DF);
	}
	mmio_write32(v->mmio + 0x14, sel);
	return mmio_read32(v->mmio + 0x10);
}

void vdev_set_features(struct vdev *v, unsigned sel, uint32_t f)
{
	if (v->pci) {
		mmio_write32(v->common + C_GFSELECT, sel);
		mmio_write32(v->common + C_GF, f);
		return;
	}
	mmio_write32(v->mmio + 0x24, sel);
	mmio_write32(v->mmio + 0x20, f);
}

static void write64(uint64_t a, uint64_t val)
{
	mmio_write32(a, (uint32_t)val);
	mmio_write32(a + 4, (uint32_t)(val >> 32));
}

bool vdev_setup_queue(struct vdev *v, uint16_t q, uint16_t qsize, uint64_t ring)
{
	uint64_t c = v->common;
	uint16_t max;

	if (!v->pci)
		return vmmio_setup_queue(v->mmio, q, qsize, ring);
	mmio_write16(c + C_Q_SELECT, q);
	max = mmio_read16(c + C_Q_SIZE);
	if (!check(max >= qsize, "queue %u size %u", q, max))
		return false;
	memset((void *)ring, 0, 0x3000);
	mmio_write16(c + C_Q_SIZE, qsize);
	write64(c + C_Q_DESC, ring);
	write64(c + C_Q_AVAIL, ring + 0x1000);
	write64(c + C_Q_USED, ring + 0x2000);
	if (v->queue_vector != 0xffff) {
		mmio_write16(c + C_Q_MSIX, v->queue_vector);
		if (!check(mmio_read16(c + C_Q_MSIX) == v->queue_vector, "queue %u MSI-X vector %u",
			   q, v->queue_vector))
			return false;
	}
	mmio_write16(c + C_Q_ENABLE, 1);
	return true;
}

bool vdev_setup_queue0(struct vdev *v, uint16_t qsize, uint64_t ring)
{
	if (!v->pci)
		return vmmio_setup_queue0(v->mmio, qsize, ring);
	if (!vdev_setup_queue(v, 0, qsize, ring))
		return false;
	vdev_set_status(v, 0x0f);
	return check(vdev_status(v) == 0x0f, "status DRIVER_OK (0x%x)", vdev_status(v));
}

void vdev_notify(struct vdev *v, uint16_t q)
{
	if (v->pci) {
		uint16_t off;

		mmio_write16(v->common + C_Q_SELECT, q);
		off = mmio_read16(v->common + C_Q_NOFF);
		mmio_write16(v->notify + (uint64_t)off * v->notify_mult, q);
		return;
	}
	mmio_write32(v->mmio + 0x50, q);
}

uint32_t vdev_ack(struct vdev *v)
{
	uint32_t s;

	if (v->pci)
		return mmio_read8(v->isr);
	s = mmio_read32(v->mmio + 0x60);
	mmio_write32(v->mmio + 0x64, s);
	return s;
}

void vdev_config_write32(struct vdev *v, uint32_t off, uint32_t val)
{
	mmio_write32(v->pci ? v->device + off : v->mmio + 0x100 + off, val);
}

uint8_t vdev_config_read8(struct vdev *v, uint32_t off)
{
	return v->pci ? mmio_read8(v->device + off) : mmio_read8(v->mmio + 0x100 + off);
}

uint32_t vdev_config_read32(struct vdev *v, uint32_t off)
{
	return v->pci ? mmio_read32(v->device + off) : mmio_read32(v->mmio + 0x100 + off);
}

bool vdev_msix_enable_n(struct vdev *v, uint32_t apic_id, uint8_t vec, unsigned n)
{
	uint16_t ctrl;

	if (!v->pci || !v->msix_cap || !v->msix_table)
		return false;
	ctrl = pci_cfg_read16(v->ecam, v->slot, v->msix_cap + 2u);
	if (!check(n >= 1 && n <= (ctrl & 0x7ffu) + 1u, "MSI-X table has %u entries (want %u)",
		   (ctrl & 0x7ff) + 1, n))
		return false;
	/* entry i: address (destination APIC id), data (fixed, edge, vec + i), unmasked */
	for (unsigned i = 0; i < n; i++) {
		uint64_t e = v->msix_table + 16ull * i;

		mmio_write32(e + 0, 0xfee00000u | (apic_id << 12));
		mmio_write32(e + 4, 0);
		mmio_write32(e + 8, vec + i);
		mmio_write32(e + 12, 0);
	}
	pci_cfg_write16(v->ecam, v->slot, v->msix_cap + 2u, (uint16_t)((ctrl | 0x8000) & ~0x4000));
	v->queue_vector = 0;
	return check(pci_cfg_read16(v->ecam, v->slot, v->msix_cap + 2u) & 0x8000,
		     "MSI-X enabled (%u vectors)", (ctrl & 0x7ff) + 1);
}

bool vdev_msix_enable(struct vdev *v, uint32_t apic_id, uint8_t vec)
{
	return vdev_msix_enable_n(v, apic_id, vec, 1);
}
