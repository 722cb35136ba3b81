/* devices/pci/msix.c — see msix.h. */
#include "devices/pci/msix.h"

#include <errno.h>
#include <string.h>

int pci_msix_init(struct pci_msix *m, struct pci_dev *d, unsigned nvec, unsigned bar,
		  uint32_t table_off, uint32_t pba_off, const struct pci_msi_ops *ops, void *ctx)
{
	int e;

	memset(m, 0, sizeof(*m));
	if (nvec == 0 || nvec > PCI_MSIX_MAX_VECTORS || bar >= PCI_NUM_BARS || (table_off & 7) ||
	    (pba_off & 7))
		return -EINVAL;
	e = pci_dev_add_cap(d, PCI_CAP_ID_MSIX, 12, &m->cap);
	if (e)
		return e;
	m->d = d;
	m->nvec = nvec;
	m->ops = ops;
	m->ctx = ctx;
	pthread_mutex_init(&m->lock, NULL);
	pci_cfg_set(d, m->cap + 2u, 2, nvec - 1);
	pci_dev_set_wmask(d, m->cap + 2u, 2, PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_FMASK);
	pci_cfg_set(d, m->cap + 4u, 4, table_off | bar);
	pci_cfg_set(d, m->cap + 8u, 4, pba_off | bar);
	for (unsigned i = 0; i < nvec; i++)
		m->table[i].ctrl = PCI_MSIX_VEC_MASKED;
	return 0;
}

void pci_msix_fini(struct pci_msix *m)
{
	if (m->d)
		pthread_mutex_destroy(&m->lock);
}

static struct pci_msi_msg entry_msg(const struct pci_msix_entry *e)
{
	return (struct pci_msi_msg){((uint64_t)e->addr_hi << 32) | e->addr_lo, e->data};
}

static bool vec_masked(const struct pci_msix *m, unsigned v)
{
	return !m->enabled || m->fmask || (m->table[v].ctrl & PCI_MSIX_VEC_MASKED);
}

/* Caller holds m->lock. Deliver v if it is pending and no longer masked. */
static void flush_pending(struct pci_msix *m, unsigned v)
{
	struct pci_msi_msg msg;

	if (!(m->pba & (1ull << v)) || vec_masked(m, v))
		return;
	m->pba &= ~(1ull << v);
	msg = entry_msg(&m->table[v]);
	m->sent++;
	if (m->ops && m->ops->send)
		(void)m->ops->send(m->ctx, v, &msg);
}

static void update_route(struct pci_msix *m, unsigned v)
{
	struct pci_msi_msg msg = entry_msg(&m->table[v]);

	if (m->ops && m->ops->update)
		m->ops->update(m->ctx, v, &msg, vec_masked(m, v));
}

static uint32_t cap_ctrl(struct pci_msix *m)
{
	uint32_t ctrl;

	pthread_mutex_lock(&m->d->lock);
	ctrl = pci_cfg_get(m->d, m->cap + 2u, 2);
	pthread_mutex_unlock(&m->d->lock);
	return ctrl;
}

/* Caller holds m->lock. Take the enable and function-mask bits from ctrl; on a change (or if
 * force) re-send every vector's route and deliver what became unmasked. */
static void ctrl_apply(struct pci_msix *m, uint32_t ctrl, bool force)
{
	bool was_enabled = m->enabled, was_fmask = m->fmask;

	m->enabled = ctrl & PCI_MSIX_CTRL_ENABLE;
	m->fmask = ctrl & PCI_MSIX_CTRL_FMASK;
	if (force || was_enabled != m->enabled || was_fmask != m->fmask) {
		for (unsigned v = 0; v < m->nvec; v++) {
			update_route(m, v);
			flush_pending(m, v);
		}
	}
}

void pci_msix_config_written(struct pci_msix *m, uint32_t off, uint32_t len)
{
	uint32_t ctrl;

	if (!m->d || off + len <= m->cap + 2u || off >= m->cap + 4u)
		return;
	ctrl = cap_ctrl(m);
	pthread_mutex_lock(&m->lock);
	ctrl_apply(m, ctrl, false);
	pthread_mutex_unlock(&m->lock);
}

void pci_msix_table_read(struct pci_msix *m, uint64_t off, void *data, uint32_t len)
{
	uint32_t w[2] = {0, 0};

	memset(data, 0, len);
	if ((len != 4 && len != 8) || (off & (len - 1)) || off >= (uint64_t)m->nvec * 16)
		return;
	pthread_mutex_lock(&m->lock);
	memcpy(w, (const uint8_t *)m->table + off, len);
	pthread_mutex_unlock(&m->lock);
	memcpy(data, w, len);
}

void pci_msix_table_write(struct pci_msix *m, uint64_t off, const void *data, uint32_t len)
{
	unsigned v = (unsigned)(off / 16);
	struct pci_msix_entry old;
	uint8_t *p;

	if ((len != 4 && len != 8) || (off & (len - 1)) || off >= (uint64_t)m->nvec * 16)
		return;
	pthread_mutex_lock(&m->lock);
	old = m->table[v];
	p = (uint8_t *)&m->table[v];
	memcpy(p + off % 16, data, len);
	m->table[v].ctrl &= PCI_MSIX_VEC_MASKED; /* other control bits are reserved */
	if (memcmp(&old, &m->table[v], sizeof(old))) {
		update_route(m, v);
		flush_pending(m, v);
	}
	pthread_mutex_unlock(&m->lock);
}

void pci_msix_pba_read(struct pci_msix *m, uint64_t off, void *data, uint32_t len)
{
	uint64_t pba;

	memset(data, 0, len);
	if ((len != 4 && len != 8) || (off & (len - 1)) || off >= 8)
		return;
	pthread_mutex_lock(&m->lock);
	pba = m->pba;
	pthread_mutex_unlock(&m->lock);
	pba >>= 8 * off;
	memcpy(data, &pba, len);
}

bool pci_msix_enabled(struct pci_msix *m)
{
	bool en;

	pthread_mutex_lock(&m->lock);
	en = m->enabled;
	pthread_mutex_unlock(&m->lock);
	return en;
}

int pci_msix_notify(struct pci_msix *m, unsigned v)
{
	struct pci_msi_msg msg;
	int e = 0;

	if (v >= m->nvec)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	if (!m->enabled) {
		e = -ENODEV;
	} else if (vec_masked(m, v)) {
		m->pba |= 1ull << v;
		m->pended++;
	} else {
		msg = entry_msg(&m->table[v]);
		m->sent++;
		if (m->ops && m->ops->send)
			e = m->ops->send(m->ctx, v, &msg);
	}
	pthread_mutex_unlock(&m->lock);
	return e;
}

void pci_msix_save(struct pci_msix *m, struct pci_msix_state *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&m->lock);
	memcpy(s->table, m->table, sizeof(s->table));
	s->pba = m->pba;
	s->nvec = m->nvec;
	pthread_mutex_unlock(&m->lock);
}

int pci_msix_load(struct pci_msix *m, const struct pci_msix_state *s)
{
	static const struct pci_msix_entry zero;
	uint32_t ctrl;
	bool on, fmask;

	if (!m->d || s->nvec != m->nvec)
		return -EINVAL;
	if (m->nvec < 64 && (s->pba >> m->nvec))
		return -EINVAL;
	ctrl = cap_ctrl(m);
	on = ctrl & PCI_MSIX_CTRL_ENABLE;
	fmask = ctrl & PCI_MSIX_CTRL_FMASK;
	for (unsigned v = 0; v < PCI_MSIX_MAX_VECTORS; v++) {
		const struct pci_msix_entry *e = &s->table[v];
		bool masked = !on || fmask || (e->ctrl & PCI_MSIX_VEC_MASKED);

		if (v >= m->nvec ? memcmp(e, &zero, sizeof(zero)) != 0
				 : (e->ctrl & ~(uint32_t)PCI_MSIX_VEC_MASKED) != 0)
			return -EINVAL;
		if ((s->pba & (1ull << v)) && !masked)
			return -EINVAL;
	}
	pthread_mutex_lock(&m->lock);
	memcpy(m->table, s->table, sizeof(m->table));
	m->pba = s->pba;
	ctrl_apply(m, ctrl, true); /* routes; flush_pending finds nothing to send */
	pthread_mutex_unlock(&m->lock);
	return 0;
}
