/* devices/pci/host.c — see host.h. */
#include "devices/pci/host.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct pci_host {
	uint32_t cf8; /* CONFIG_ADDRESS */
	uint64_t win_base, win_size;
	struct pci_dev bridge;
	struct pci_dev *slot[PCI_HOST_SLOTS];
	struct pci_bar_listener listener;
	const struct io_ops *cf9_ops; /* byte port 0xcf9 (reset control) inside our range */
	void *cf9_dev;
};

int pci_host_create(struct pci_host **out, uint64_t win_base, uint64_t win_size)
{
	struct pci_host *h;

	if (win_size == 0 || win_base + win_size < win_base)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->win_base = win_base;
	h->win_size = win_size;
	/* Class 06/00/00: host bridge. */
	pci_dev_init(&h->bridge, PCI_HOST_VENDOR, PCI_HOST_DEVICE, 0x060000, 0, PCI_HOST_VENDOR,
		     0x1100, NULL, NULL);
	h->slot[0] = &h->bridge;
	*out = h;
	return 0;
}

void pci_host_destroy(struct pci_host *h)
{
	if (!h)
		return;
	pci_dev_fini(&h->bridge);
	free(h);
}

int pci_host_add(struct pci_host *h, struct pci_dev *d, unsigned *slot)
{
	for (unsigned s = 1; s < PCI_HOST_SLOTS; s++) {
		if (h->slot[s])
			continue;
		h->slot[s] = d;
		d->win_base = h->win_base;
		d->win_size = h->win_size;
		d->listener = h->listener;
		*slot = s;
		return 0;
	}
	return -ENOSPC;
}

struct pci_dev *pci_host_slot(struct pci_host *h, unsigned slot)
{
	return slot < PCI_HOST_SLOTS ? h->slot[slot] : NULL;
}

void pci_host_set_listener(struct pci_host *h, const struct pci_bar_listener *l)
{
	h->listener = *l;
	for (unsigned s = 1; s < PCI_HOST_SLOTS; s++)
		if (h->slot[s])
			h->slot[s]->listener = *l;
}

void pci_host_set_cf9(struct pci_host *h, const struct io_ops *ops, void *dev)
{
	h->cf9_ops = ops;
	h->cf9_dev = dev;
}

#define CF8_WRITABLE 0x80fffffcu

void pci_host_save(struct pci_host *h, struct pci_host_state *s)
{
	*s = (struct pci_host_state){.cf8 = h->cf8};
}

int pci_host_load(struct pci_host *h, const struct pci_host_state *s)
{
	if ((s->cf8 & ~CF8_WRITABLE) || s->pad)
		return -EINVAL;
	h->cf8 = s->cf8;
	return 0;
}

bool pci_cf8_decode(uint32_t cf8, uint32_t port_off, uint8_t *bus, uint8_t *slot, uint8_t *fn,
		    uint32_t *reg)
{
	if (!(cf8 & PCI_CONFIG_ADDR_EN))
		return false;
	*bus = (uint8_t)(cf8 >> 16);
	*slot = (uint8_t)((cf8 >> 11) & 0x1f);
	*fn = (uint8_t)((cf8 >> 8) & 7);
	/* Bits 27:24 extend the register number (AMD's extended config access) — not offered. */
	*reg = (cf8 & 0xfc) | (port_off & 3);
	return true;
}

void pci_ecam_decode(uint64_t off, uint8_t *bus, uint8_t *slot, uint8_t *fn, uint32_t *reg)
{
	*bus = (uint8_t)(off >> 20);
	*slot = (uint8_t)((off >> 15) & 0x1f);
	*fn = (uint8_t)((off >> 12) & 7);
	*reg = (uint32_t)(off & 0xfff);
}

static struct pci_dev *lookup(struct pci_host *h, uint8_t bus, uint8_t slot, uint8_t fn)
{
	return bus == 0 && fn == 0 ? h->slot[slot] : NULL;
}

/* A config access of len bytes at reg: must not cross a dword (as a real host bridge splits
 * them; we simply refuse). Absent functions read all-ones. */
static void cfg_access(struct pci_host *h, struct pci_dev *d, uint32_t reg, void *data,
		       uint32_t len, bool write)
{
	if (len > 4 || (reg & 3) + len > 4) {
		if (!write)
			memset(data, 0xff, len);
		return;
	}
	if (!d) {
		if (!write)
			memset(data, 0xff, len);
		return;
	}
	if (write)
		pci_dev_config_write(d, reg, data, len);
	else
		pci_dev_config_read(d, reg, data, len);
	(void)h;
}

static void pio_access(struct pci_host *h, uint64_t off, void *data, uint32_t len, bool write)
{
	uint8_t bus, slot, fn;
	uint32_t reg, v;

	if (off < 4) {
		/* CONFIG_ADDRESS: only full dword accesses. A byte at 0xcf9 is the reset control
		 * register (a separate device, as on a PC chipset); other partial accesses are
		 * ignored. */
		if (off == 1 && len == 1 && h->cf9_ops) {
			if (write)
				h->cf9_ops->write(h->cf9_dev, 0, data, 1);
			else
				h->cf9_ops->read(h->cf9_dev, 0, data, 1);
			return;
		}
		if (off != 0 || len != 4) {
			if (!write)
				memset(data, 0xff, len);
			return;
		}
		if (write) {
			memcpy(&v, data, 4);
			h->cf8 = v & CF8_WRITABLE;
		} else {
			memcpy(data, &h->cf8, 4);
		}
		return;
	}
	if (!pci_cf8_decode(h->cf8, (uint32_t)(off - 4), &bus, &slot, &fn, &reg)) {
		if (!write)
			memset(data, 0xff, len);
		return;
	}
	cfg_access(h, lookup(h, bus, slot, fn), reg, data, len, write);
}

static void pio_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	pio_access(dev, off, data, len, false);
}

static void pio_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	pio_access(dev, off, (void *)(uintptr_t)data, len, true);
}

static void ecam_access(struct pci_host *h, uint64_t off, void *data, uint32_t len, bool write)
{
	uint8_t bus, slot, fn;
	uint32_t reg;

	pci_ecam_decode(off, &bus, &slot, &fn, &reg);
	cfg_access(h, lookup(h, bus, slot, fn), reg, data, len, write);
}

static void ecam_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	ecam_access(dev, off, data, len, false);
}

static void ecam_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	ecam_access(dev, off, (void *)(uintptr_t)data, len, true);
}

/* The BAR that decodes addr with the whole access inside it; NULL otherwise. */
static const struct pci_bar *bar_at(struct pci_host *h, uint64_t addr, uint32_t len,
				    uint64_t *bar_off)
{
	for (unsigned s = 1; s < PCI_HOST_SLOTS; s++) {
		struct pci_dev *d = h->slot[s];

		if (!d)
			continue;
		for (unsigned n = 0; n < PCI_NUM_BARS; n++) {
			const struct pci_bar *b = &d->bar[n];

			if (b->mapped == PCI_BAR_UNMAPPED || addr < b->mapped ||
			    addr - b->mapped >= b->size || len > b->size - (addr - b->mapped))
				continue;
			*bar_off = addr - b->mapped;
			return b;
		}
	}
	return NULL;
}

static void mmio_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct pci_host *h = dev;
	uint64_t boff;
	const struct pci_bar *b = bar_at(h, h->win_base + off, len, &boff);

	if (b)
		b->ops->read(b->opaque, boff, data, len);
	else
		memset(data, 0xff, len);
}

static void mmio_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct pci_host *h = dev;
	uint64_t boff;
	const struct pci_bar *b = bar_at(h, h->win_base + off, len, &boff);

	if (b)
		b->ops->write(b->opaque, boff, data, len);
}

const struct io_ops pci_host_pio_ops = {pio_read, pio_write};
const struct io_ops pci_host_ecam_ops = {ecam_read, ecam_write};
const struct io_ops pci_host_mmio_ops = {mmio_read, mmio_write};
