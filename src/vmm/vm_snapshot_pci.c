/* vmm/vm_snapshot_pci.c — the PCI part of a snapshot (docs/snapshot.md): the host bridge, and
 * per virtio-pci function its config space, MSI-X table, transport registers and virtio core,
 * in sections named by slot; the set of functions, checked at restore before KVM is opened;
 * quiescing the I/O thread at save; re-establishing what the guest's writes had set up (BAR
 * decoding, ioeventfds, MSI routes, the INTx level) through the devices' own load paths; and
 * one notification per queue once the restored VM is ready, for a kick the I/O thread had not
 * read yet when the snapshot was taken.
 *
 * Sections (instance = slot; the host bridge is slot 0):
 *   pcis 0  the set of functions: slot, virtio device id, name, queues, MSI-X vectors
 *   pcih 0  struct pci_host_state (CONFIG_ADDRESS)
 *   pcif s  struct pci_dev_state (config space, INTx level), the bridge included
 *   msix s  struct pci_msix_state (table, PBA) of a function with MSI-X
 *   vpci s  struct virtio_pci_state (transport registers)
 *   pvdv s  struct virtio_dev_state (virtio core: status, features, queues)
 *
 * Threads: the thread that saves (vCPUs paused) or vm_create() (restore). */
#include "vmm/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "devices/pci/host.h"
#include "devices/virtio/pci.h"
#include "devices/virtio/virtio.h"
#include "vmm/snapshot_fmt.h"
#include "vmm/vm_pci.h"
#include "vmm/vm_priv.h"

#define T_PCIS SNAP_TAG('p', 'c', 'i', 's')
#define T_PCIH SNAP_TAG('p', 'c', 'i', 'h')
#define T_PCIF SNAP_TAG('p', 'c', 'i', 'f')
#define T_MSIX SNAP_TAG('m', 's', 'i', 'x')
#define T_VPCI SNAP_TAG('v', 'p', 'c', 'i')
#define T_PVDV SNAP_TAG('p', 'v', 'd', 'v')

/* The machine's PCI shape: a restore must build the same functions in the same slots. */
struct snap_pci_fn {
	char name[16];
	uint32_t slot, device_id;
	uint16_t nq, nvec;
	uint32_t has_msix;
};
struct snap_pci_set {
	uint32_t nfn, pad;
	struct snap_pci_fn fn[VM_PCI_MAX_FNS];
};

static void pci_set_build(struct vm_pci *p, struct snap_pci_set *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; p && i < p->nfn; i++) {
		struct vm_pci_fn *f = &p->fn[i];

		snprintf(s->fn[i].name, sizeof(s->fn[i].name), "%s", f->name);
		s->fn[i].slot = f->slot;
		s->fn[i].device_id = virtio_pci_vdev(f->t)->ops->device_id;
		s->fn[i].nq = (uint16_t)f->nq;
		s->fn[i].nvec = (uint16_t)f->nvec;
		s->fn[i].has_msix = virtio_pci_msix(f->t) != NULL;
	}
	s->nfn = p ? p->nfn : 0;
}

/* ---- save ---- */

int vm_snapshot_pci_busy(struct vm *vm, char *msg, size_t len)
{
	struct vm_pci *p = vm->pci;

	for (unsigned i = 0; p && i < p->nfn; i++) {
		if (virtio_dev_has_inflight(virtio_pci_vdev(p->fn[i].t))) {
			snprintf(msg, len, "%s at 00:%02x.0 has requests in flight; retry",
				 p->fn[i].name, p->fn[i].slot);
			return -EBUSY;
		}
	}
	return 0;
}

void vm_snapshot_pci_quiesce(struct vm *vm, bool quiet)
{
	if (!vm->pci)
		return;
	if (quiet)
		vm_iothread_park(vm->pci);
	else
		vm_iothread_unpark(vm->pci);
}

void vm_snapshot_pci_save(struct snap_writer *w, struct vm *vm)
{
	struct vm_pci *p = vm->pci;
	struct snap_pci_set set;
	struct pci_host_state hs;
	struct pci_dev_state ds;

	pci_set_build(p, &set);
	snap_put(w, T_PCIS, 0, &set, sizeof(set));
	if (!p)
		return;
	pci_host_save(p->host, &hs);
	snap_put(w, T_PCIH, 0, &hs, sizeof(hs));
	pci_dev_save(pci_host_slot(p->host, 0), &ds);
	snap_put(w, T_PCIF, 0, &ds, sizeof(ds));
	for (unsigned i = 0; i < p->nfn; i++) {
		struct vm_pci_fn *f = &p->fn[i];
		struct pci_msix *m = virtio_pci_msix(f->t);
		struct pci_msix_state ms;
		struct virtio_pci_state ts;
		struct virtio_dev_state vs;

		pci_dev_save(virtio_pci_dev(f->t), &ds);
		snap_put(w, T_PCIF, f->slot, &ds, sizeof(ds));
		if (m) {
			pci_msix_save(m, &ms);
			snap_put(w, T_MSIX, f->slot, &ms, sizeof(ms));
		}
		virtio_pci_save(f->t, &ts);
		snap_put(w, T_VPCI, f->slot, &ts, sizeof(ts));
		virtio_dev_save(virtio_pci_vdev(f->t), &vs);
		snap_put(w, T_PVDV, f->slot, &vs, sizeof(vs));
	}
}

/* ---- restore ---- */

static void fn_desc(const struct snap_pci_fn *f, char *buf, size_t len)
{
	char name[sizeof(f->name) + 1];

	if (!f) {
		snprintf(buf, len, "no function");
		return;
	}
	for (unsigned i = 0; i < sizeof(f->name); i++)
		name[i] = f->name[i] >= 0x20 && f->name[i] < 0x7f ? f->name[i] : '\0';
	name[sizeof(f->name)] = '\0';
	snprintf(buf, len, "%s with %u queue%s%s", name[0] ? name : "?", f->nq,
		 f->nq == 1 ? "" : "s", f->has_msix ? "" : " and no MSI-X");
}

static const struct snap_pci_fn *set_find(const struct snap_pci_set *s, uint32_t slot)
{
	for (unsigned i = 0; i < s->nfn && i < VM_PCI_MAX_FNS; i++)
		if (s->fn[i].slot == slot)
			return &s->fn[i];
	return NULL;
}

static bool fn_same(const struct snap_pci_fn *a, const struct snap_pci_fn *b)
{
	return a && b && a->device_id == b->device_id && a->nq == b->nq && a->nvec == b->nvec &&
	       a->has_msix == b->has_msix;
}

int vm_snapshot_pci_check(struct vm *vm, const struct snap_reader *r, char *msg, size_t len)
{
	struct snap_pci_set saved, here;
	char a[48], b[48];
	int e = snap_get_exact(r, T_PCIS, 0, &saved, sizeof(saved));

	if (e || saved.nfn > VM_PCI_MAX_FNS) {
		snprintf(msg, len, "no valid PCI device list in the state file");
		return -EINVAL;
	}
	pci_set_build(vm->pci, &here);
	for (uint32_t slot = 1; slot < 32; slot++) {
		const struct snap_pci_fn *s = set_find(&saved, slot), *h = set_find(&here, slot);

		if ((!s && !h) || fn_same(s, h))
			continue;
		fn_desc(s, a, sizeof(a));
		fn_desc(h, b, sizeof(b));
		snprintf(msg, len,
			 "PCI 00:%02x.0 holds %s in the snapshot, %s in this configuration (give "
			 "the same --rng, --disk, --console and --net options)",
			 slot, a, b);
		return -EINVAL;
	}
	return 0;
}

#define GET(tag, inst, obj) snap_get_exact(r, (tag), (inst), (obj), sizeof(*(obj)))

static int load_fn(struct vm_pci_fn *f, const struct snap_reader *r, const char **part)
{
	struct pci_msix *m = virtio_pci_msix(f->t);
	struct pci_dev_state ds;
	struct pci_msix_state ms;
	struct virtio_pci_state ts;
	struct virtio_dev_state vs;
	int e;

	*part = "config space";
	e = GET(T_PCIF, f->slot, &ds);
	if (!e)
		e = pci_dev_load(virtio_pci_dev(f->t), &ds);
	if (!e && m) {
		*part = "MSI-X table";
		e = GET(T_MSIX, f->slot, &ms);
		if (!e)
			e = pci_msix_load(m, &ms);
	}
	if (!e) {
		*part = "virtio state";
		e = GET(T_PVDV, f->slot, &vs);
	}
	if (!e)
		e = virtio_dev_load(virtio_pci_vdev(f->t), &vs);
	if (!e) {
		*part = "virtio-pci registers";
		e = GET(T_VPCI, f->slot, &ts);
	}
	if (!e)
		e = virtio_pci_load(f->t, &ts);
	return e;
}

int vm_snapshot_pci_load(struct vm *vm, const struct snap_reader *r, char *what, size_t len)
{
	struct vm_pci *p = vm->pci;
	struct pci_host_state hs;
	struct pci_dev_state ds;
	const char *part = "";
	int e;

	if (!p)
		return 0;
	snprintf(what, len, "the PCI host bridge");
	e = GET(T_PCIH, 0, &hs);
	if (!e)
		e = pci_host_load(p->host, &hs);
	if (!e)
		e = GET(T_PCIF, 0, &ds);
	if (!e)
		e = pci_dev_load(pci_host_slot(p->host, 0), &ds);
	for (unsigned i = 0; !e && i < p->nfn; i++) {
		e = load_fn(&p->fn[i], r, &part);
		if (e)
			snprintf(what, len, "the %s of %s at 00:%02x.0", part, p->fn[i].name,
				 p->fn[i].slot);
	}
	/* The routes the tables describe reach KVM before anything can signal a vector. */
	if (!e) {
		snprintf(what, len, "the MSI routes (KVM_SET_GSI_ROUTING)");
		e = vm_pci_routes_sync(p);
	}
	return e;
}

void vm_snapshot_pci_kick(struct vm *vm)
{
	if (vm->pci)
		vm_pci_kick_all(vm->pci);
}
