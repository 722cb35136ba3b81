/* devices/pci/pci.c — see pci.h. */
#include "devices/pci/pci.h"

#include <errno.h>
#include <string.h>

void pci_cfg_set(struct pci_dev *d, uint32_t off, uint32_t len, uint32_t v)
{
	for (uint32_t i = 0; i < len && off + i < PCI_CFG_SIZE; i++)
		d->cfg[off + i] = (uint8_t)(v >> (8 * i));
}

uint32_t pci_cfg_get(const struct pci_dev *d, uint32_t off, uint32_t len)
{
	uint32_t v = 0;

	for (uint32_t i = 0; i < len && off + i < PCI_CFG_SIZE; i++)
		v |= (uint32_t)d->cfg[off + i] << (8 * i);
	return v;
}

void pci_dev_set_wmask(struct pci_dev *d, uint32_t off, uint32_t len, uint32_t mask)
{
	for (uint32_t i = 0; i < len && off + i < PCI_CFG_SIZE; i++)
		d->wmask[off + i] = (uint8_t)(mask >> (8 * i));
}

static void set_w1c(struct pci_dev *d, uint32_t off, uint32_t len, uint32_t mask)
{
	for (uint32_t i = 0; i < len && off + i < PCI_CFG_SIZE; i++)
		d->w1c[off + i] = (uint8_t)(mask >> (8 * i));
}

void pci_dev_init(struct pci_dev *d, uint16_t vendor, uint16_t device, uint32_t class_code,
		  uint8_t rev, uint16_t subsys_vendor, uint16_t subsys_id,
		  const struct irq_line *intx, const struct pci_dev_ops *ops)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	d->ops = ops;
	d->cap_end = PCI_CAP_START;
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		d->bar[i].mapped = PCI_BAR_UNMAPPED;
	pci_cfg_set(d, PCI_VENDOR_ID, 2, vendor);
	pci_cfg_set(d, PCI_DEVICE_ID, 2, device);
	pci_cfg_set(d, PCI_REVISION_ID, 1, rev);
	pci_cfg_set(d, PCI_CLASS_PROG, 3, class_code);
	pci_cfg_set(d, PCI_SUBSYS_VENDOR, 2, subsys_vendor);
	pci_cfg_set(d, PCI_SUBSYS_ID, 2, subsys_id);
	pci_dev_set_wmask(d, PCI_COMMAND, 2,
			  PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
			      PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	/* Status: parity, signalled/received aborts, SERR, detected parity error. */
	set_w1c(d, PCI_STATUS, 2, 0xf900);
	pci_dev_set_wmask(d, PCI_INTERRUPT_LINE, 1, 0xff);
	if (intx) {
		d->intx = *intx;
		pci_cfg_set(d, PCI_INTERRUPT_PIN, 1, 1); /* INTA */
	}
}

void pci_dev_fini(struct pci_dev *d)
{
	pthread_mutex_destroy(&d->lock);
}

int pci_dev_add_bar(struct pci_dev *d, unsigned n, uint64_t size, bool is64, bool prefetch,
		    const struct io_ops *ops, void *opaque)
{
	uint64_t mask = ~(size - 1);
	uint32_t flags = (is64 ? PCI_BAR_MEM_64 : 0) | (prefetch ? PCI_BAR_MEM_PREFETCH : 0);

	if (n >= PCI_NUM_BARS || (is64 && n + 1 >= PCI_NUM_BARS) || !IS_POW2(size) || size < 16 ||
	    (!is64 && size > 0x80000000ull) || !ops || d->bar[n].size ||
	    (is64 && d->bar[n + 1].size) || (n > 0 && d->bar[n - 1].size && d->bar[n - 1].is64))
		return -EINVAL;
	d->bar[n] = (struct pci_bar){size, is64, prefetch, ops, opaque, PCI_BAR_UNMAPPED};
	pci_cfg_set(d, PCI_BAR0 + 4 * n, 4, flags);
	pci_dev_set_wmask(d, PCI_BAR0 + 4 * n, 4, (uint32_t)mask & ~0xfu);
	if (is64)
		pci_dev_set_wmask(d, PCI_BAR0 + 4 * (n + 1), 4, (uint32_t)(mask >> 32));
	return 0;
}

int pci_dev_add_cap(struct pci_dev *d, uint8_t id, uint8_t len, uint8_t *off)
{
	unsigned start = ALIGN_UP((unsigned)d->cap_end, 4u);

	if (len < 2 || start + len > PCI_CFG_SIZE)
		return -ENOSPC;
	pci_cfg_set(d, start, 1, id);
	pci_cfg_set(d, start + 1, 1, 0);
	if (d->last_cap)
		pci_cfg_set(d, d->last_cap + 1u, 1, start);
	else
		pci_cfg_set(d, PCI_CAP_PTR, 1, start);
	d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	d->last_cap = (uint8_t)start;
	d->cap_end = (uint8_t)KVMM_MIN(start + len, 0xffu);
	*off = (uint8_t)start;
	return 0;
}

/* Caller holds d->lock. */
static uint64_t bar_addr_locked(const struct pci_dev *d, unsigned n)
{
	const struct pci_bar *b = &d->bar[n];
	uint64_t a, end;

	if (n >= PCI_NUM_BARS || !b->size || !(pci_cfg_get(d, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY))
		return PCI_BAR_UNMAPPED;
	a = pci_cfg_get(d, PCI_BAR0 + 4 * n, 4) & ~0xfull;
	if (b->is64)
		a |= (uint64_t)pci_cfg_get(d, PCI_BAR0 + 4 * (n + 1), 4) << 32;
	end = a + b->size;
	if (a == 0 || end < a || a < d->win_base || end > d->win_base + d->win_size)
		return PCI_BAR_UNMAPPED;
	return a;
}

uint64_t pci_dev_bar_addr(const struct pci_dev *d, unsigned n)
{
	uint64_t a;

	pthread_mutex_lock((pthread_mutex_t *)&d->lock);
	a = bar_addr_locked(d, n);
	pthread_mutex_unlock((pthread_mutex_t *)&d->lock);
	return a;
}

void pci_dev_update_bars(struct pci_dev *d)
{
	for (unsigned n = 0; n < PCI_NUM_BARS; n++) {
		uint64_t old = d->bar[n].mapped, now = pci_dev_bar_addr(d, n);

		if (old == now)
			continue;
		d->bar[n].mapped = now;
		if (d->listener.moved)
			d->listener.moved(d->listener.ctx, d, n, old, now);
	}
}

/* Caller holds d->lock. */
static void intx_update_locked(struct pci_dev *d)
{
	bool out = d->intx_level && !(pci_cfg_get(d, PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE);

	if (d->intx_level)
		d->cfg[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	else
		d->cfg[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTERRUPT;
	if (out != d->intx_out) {
		d->intx_out = out;
		irq_line_set(&d->intx, out);
	}
}

void pci_dev_set_intx(struct pci_dev *d, bool level)
{
	pthread_mutex_lock(&d->lock);
	d->intx_level = level;
	intx_update_locked(d);
	pthread_mutex_unlock(&d->lock);
}

void pci_dev_config_read(struct pci_dev *d, uint32_t off, void *data, uint32_t len)
{
	uint8_t *p = data;

	pthread_mutex_lock(&d->lock);
	for (uint32_t i = 0; i < len; i++)
		p[i] = off + i < PCI_CFG_SIZE ? d->cfg[off + i] : 0;
	pthread_mutex_unlock(&d->lock);
	if (off < PCI_CFG_SIZE && d->ops && d->ops->config_read)
		d->ops->config_read(d, off, data, len);
}

void pci_dev_config_write(struct pci_dev *d, uint32_t off, const void *data, uint32_t len)
{
	const uint8_t *p = data;

	if (off >= PCI_CFG_SIZE)
		return;
	len = KVMM_MIN(len, PCI_CFG_SIZE - off);
	pthread_mutex_lock(&d->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint32_t o = off + i;

		d->cfg[o] = (uint8_t)((d->cfg[o] & ~d->wmask[o]) | (p[i] & d->wmask[o]));
		d->cfg[o] &= (uint8_t) ~(p[i] & d->w1c[o]);
	}
	intx_update_locked(d);
	pthread_mutex_unlock(&d->lock);
	if (off < PCI_CAP_PTR && off + len > PCI_COMMAND)
		pci_dev_update_bars(d);
	if (d->ops && d->ops->config_written)
		d->ops->config_written(d, off, len);
}

void pci_dev_save(struct pci_dev *d, struct pci_dev_state *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&d->lock);
	memcpy(s->cfg, d->cfg, PCI_CFG_SIZE);
	s->intx_level = d->intx_level;
	pthread_mutex_unlock(&d->lock);
}

/* The address BAR n of a config image decodes at if memory decoding is on: 0 unassigned. */
static bool bar_state_ok(const struct pci_dev *d, const uint8_t *cfg, unsigned n)
{
	const struct pci_bar *b = &d->bar[n];
	uint64_t a = 0;

	for (unsigned i = 0; i < 4; i++)
		a |= (uint64_t)cfg[PCI_BAR0 + 4 * n + i] << (8 * i);
	a &= ~0xfull;
	if (b->is64)
		for (unsigned i = 0; i < 4; i++)
			a |= (uint64_t)cfg[PCI_BAR0 + 4 * (n + 1) + i] << (32 + 8 * i);
	if (a & (b->size - 1))
		return false;
	return a == 0 || (a >= d->win_base && a - d->win_base <= d->win_size &&
			  b->size <= d->win_size - (a - d->win_base));
}

int pci_dev_load(struct pci_dev *d, const struct pci_dev_state *s)
{
	uint16_t cmd = (uint16_t)(s->cfg[PCI_COMMAND] | s->cfg[PCI_COMMAND + 1] << 8);

	if (s->intx_level > 1 || (s->intx_level && !(d->cfg[PCI_INTERRUPT_PIN])) ||
	    !(s->cfg[PCI_STATUS] & PCI_STATUS_INTERRUPT) != !s->intx_level)
		return -EINVAL;
	for (unsigned o = 0; o < PCI_CFG_SIZE; o++) {
		uint8_t fixed = (uint8_t) ~(d->wmask[o] | d->w1c[o]);

		if (o == PCI_STATUS)
			fixed &= (uint8_t)~PCI_STATUS_INTERRUPT;
		if ((s->cfg[o] ^ d->cfg[o]) & fixed)
			return -EINVAL;
	}
	for (unsigned n = 0; n < PCI_NUM_BARS && (cmd & PCI_COMMAND_MEMORY); n++)
		if (d->bar[n].size && !bar_state_ok(d, s->cfg, n))
			return -EINVAL;
	pthread_mutex_lock(&d->lock);
	memcpy(d->cfg, s->cfg, PCI_CFG_SIZE);
	d->intx_level = s->intx_level;
	/* the opposite of what the line must be: intx_update_locked then drives it */
	d->intx_out = !(d->intx_level && !(cmd & PCI_COMMAND_INTX_DISABLE));
	intx_update_locked(d);
	pthread_mutex_unlock(&d->lock);
	pci_dev_update_bars(d);
	return 0;
}
