/* vmm/vm_pci.c — the PCI side of the machine: the host bridge on the buses (config ports with
 * the 0xcf9 reset register forwarded, the ECAM window, the whole 32-bit BAR window), virtio-pci
 * functions with their INTx lines, MSI-X delivery (one GSI per vector routed with
 * KVM_SET_GSI_ROUTING and fed through an irqfd; KVM_SIGNAL_MSI when irqfd is unavailable) and
 * queue notifications through ioeventfds served by the I/O thread (vm_iothread.c). Without
 * ioeventfd support the notify register is handled on the vCPU's MMIO exit, as for mmio.
 *
 * Threads: create/attach/start/destroy on the main thread; the BAR listener on vCPU threads
 * (host bus lock held); MSI send/update from any thread that completes a request or writes the
 * MSI-X table. p->lock protects the routes and ioeventfd registrations. */
#include "vmm/vm_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "base/log.h"
#include "devices/pci/host.h"
#include "devices/virtio/pci.h"
#include "kvm/kvm.h"
#include "vmm/vm_pci.h"

static struct vm_pci_fn *fn_of(struct vm_pci *p, struct pci_dev *d)
{
	for (unsigned i = 0; i < p->nfn; i++)
		if (virtio_pci_dev(p->fn[i].t) == d)
			return &p->fn[i];
	return NULL;
}

/* ---- INTx ---- */

static int intx_set(void *ctx, bool level)
{
	struct vm_pci_fn *f = ctx;
	struct vm *vm = f->p->vm;

	return vm->kvm ? kvm_irq_line(vm->kvm, f->intx_gsi, level) : 0;
}

/* ---- MSI-X: routes, irqfds ---- */

/* Caller holds p->lock. Push every vector's route to KVM. */
static int routes_push(struct vm_pci *p)
{
	struct kvm_msi_route *r;
	unsigned n = 0;
	int e;

	if (!p->irqfd)
		return 0;
	r = calloc(p->ngsi ? p->ngsi : 1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (unsigned i = 0; i < p->nfn; i++) {
		struct vm_pci_fn *f = &p->fn[i];

		for (unsigned v = 0; v < f->nvec; v++)
			r[n++] =
			    (struct kvm_msi_route){f->gsi_base + v, f->msg[v].addr, f->msg[v].data};
	}
	e = kvm_set_msi_routes(p->vm->kvm, r, n);
	free(r);
	return e;
}

/* A table entry changed: remember it; the routes are pushed to KVM lazily, before the next
 * delivery (as QEMU commits MSI routes on use), so the guest's four dword writes per entry cost
 * one KVM_SET_GSI_ROUTING, not four. */
static void msi_update(void *ctx, unsigned v, const struct pci_msi_msg *msg, bool masked)
{
	struct vm_pci_fn *f = ctx;
	struct vm_pci *p = f->p;

	(void)masked; /* the MSI-X model never fires a masked vector */
	pthread_mutex_lock(&p->lock);
	if (f->msg[v].addr != msg->addr || f->msg[v].data != msg->data) {
		f->msg[v] = *msg;
		__atomic_store_n(&p->routes_dirty, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&p->lock);
}

/* Push the routes if a message changed since the last push. 0 or -errno. */
static int routes_commit(struct vm_pci *p)
{
	int e = 0;

	if (!__atomic_load_n(&p->routes_dirty, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&p->lock);
	if (p->routes_dirty) {
		e = routes_push(p);
		if (!e)
			__atomic_store_n(&p->routes_dirty, false, __ATOMIC_RELEASE);
		else
			log_ratelimited(&p->rl, LOG_WARN, "pci: KVM_SET_GSI_ROUTING: %s",
					strerror(-e));
	}
	pthread_mutex_unlock(&p->lock);
	return e;
}

int vm_pci_routes_sync(struct vm_pci *p)
{
	return routes_commit(p);
}

static int msi_send(void *ctx, unsigned v, const struct pci_msi_msg *msg)
{
	struct vm_pci_fn *f = ctx;
	struct vm_pci *p = f->p;
	uint64_t one = 1;

	if (!p->vm->kvm)
		return 0;
	if (p->irqfd && f->vec_efd[v] >= 0 && !routes_commit(p))
		return write(f->vec_efd[v], &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
	return kvm_signal_msi(p->vm->kvm, msg->addr, msg->data);
}

static const struct pci_msi_ops vm_msi_ops = {msi_send, msi_update};

/* ---- ioeventfds ---- */

/* Caller holds p->lock. (De)register every queue's notify address for the BAR at bar_addr.
 * A queue whose registration fails keeps working through MMIO exits. */
static void ioeventfd_set(struct vm_pci *p, struct vm_pci_fn *f, uint64_t bar_addr, bool assign)
{
	unsigned ok = 0;

	for (unsigned q = 0; q < f->nq; q++) {
		uint64_t a = bar_addr + virtio_pci_notify_offset((uint16_t)q);
		int e = kvm_ioeventfd(p->vm->kvm, f->q_efd[q], a, 2, assign);

		if (e)
			log_ratelimited(&p->rl, LOG_WARN,
					"pci %02x: KVM_IOEVENTFD at 0x%llx: %s (notify falls "
					"back to MMIO exits)",
					f->slot, (unsigned long long)a, strerror(-e));
		else
			ok++;
	}
	if (assign)
		log_info("pci 00:%02x.0: %u of %u notify ioeventfds at 0x%llx", f->slot, ok, f->nq,
			 (unsigned long long)(bar_addr + VIRTIO_PCI_NOTIFY_OFF));
}

static void bar_moved(void *ctx, struct pci_dev *d, unsigned bar, uint64_t old_addr,
		      uint64_t new_addr)
{
	struct vm_pci *p = ctx;
	struct vm_pci_fn *f = fn_of(p, d);

	if (!f || bar != VIRTIO_PCI_BAR)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->started && p->ioeventfd) {
		if (old_addr != PCI_BAR_UNMAPPED)
			ioeventfd_set(p, f, old_addr, false);
		if (new_addr != PCI_BAR_UNMAPPED)
			ioeventfd_set(p, f, new_addr, true);
	}
	pthread_mutex_unlock(&p->lock);
}

/* ---- creation ---- */

int vm_pci_create(struct vm *vm, const struct io_ops *cf9_ops, void *cf9_dev)
{
	struct vm_pci *p = calloc(1, sizeof(*p));
	struct pci_bar_listener l;
	int e;

	if (!p)
		return -ENOMEM;
	vm->pci = p;
	p->vm = vm;
	p->io_epfd = p->io_stop_efd = p->io_park_efd = -1;
	p->next_gsi = LAYOUT_GSI_MSI_BASE;
	pthread_mutex_init(&p->lock, NULL);
	e = pci_host_create(&p->host, LAYOUT_PCI_MMIO, LAYOUT_PCI_MMIO_SIZE);
	if (e)
		return e;
	l = (struct pci_bar_listener){bar_moved, p};
	pci_host_set_listener(p->host, &l);
	pci_host_set_cf9(p->host, cf9_ops, cf9_dev);
	e = bus_add(&vm->pio, LAYOUT_PORT_PCI_CONFIG, PCI_HOST_PIO_SIZE, &pci_host_pio_ops, p->host,
		    "pci-config");
	if (!e)
		e = bus_add(&vm->mmio, LAYOUT_PCI_ECAM, LAYOUT_PCI_ECAM_SIZE, &pci_host_ecam_ops,
			    p->host, "pci-ecam");
	if (!e)
		e = bus_add(&vm->mmio, LAYOUT_PCI_MMIO, LAYOUT_PCI_MMIO_SIZE, &pci_host_mmio_ops,
			    p->host, "pci-mmio");
	return e;
}

int vm_pci_attach_virtio(struct vm *vm, struct virtio_dev *vd, const char *name)
{
	struct vm_pci *p = vm->pci;
	struct vm_pci_fn *f;
	struct virtio_pci_opts o;
	unsigned slot;
	int e;

	if (!p || p->nfn >= VM_PCI_MAX_FNS)
		return -ENOSPC;
	f = &p->fn[p->nfn];
	memset(f, 0, sizeof(*f));
	f->p = p;
	f->name = name;
	f->nq = vd->num_queues;
	f->nvec = vd->num_queues + 1u;
	for (unsigned i = 0; i < PCI_MSIX_MAX_VECTORS; i++)
		f->vec_efd[i] = -1;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		f->q_efd[i] = -1;
	o = (struct virtio_pci_opts){
	    .intx = {intx_set, f}, .msi = &vm_msi_ops, .msi_ctx = f, .msix_vectors = f->nvec};
	e = virtio_pci_create(&f->t, vd, &o);
	if (e)
		return e;
	p->nfn++;
	e = pci_host_add(p->host, virtio_pci_dev(f->t), &slot);
	if (e)
		return e;
	f->slot = slot;
	/* INTA of slot s arrives on INT((s + 0) % 4): the _PRT swizzle. */
	f->intx_gsi = LAYOUT_GSI_PCI_INTX + slot % 4;
	f->gsi_base = p->next_gsi;
	p->next_gsi += f->nvec;
	p->ngsi += f->nvec;
	log_debug("pci 00:%02x.0: %s, INTA on GSI %u, MSI GSIs %u..%u", slot, name, f->intx_gsi,
		  f->gsi_base, f->gsi_base + f->nvec - 1);
	return 0;
}

void vm_pci_kick_all(struct vm_pci *p)
{
	for (unsigned i = 0; i < p->nfn; i++)
		for (unsigned q = 0; q < p->fn[i].nq; q++)
			virtio_pci_kick(p->fn[i].t, (uint16_t)q);
}

void vm_pci_acpi(struct vm *vm, struct acpi_config *ac)
{
	acpi_pci_defaults(&ac->pci);
	ac->pci.enabled = vm->pci != NULL;
	ac->pci.ecam = true;
}

static int eventfds_create(struct vm_pci *p)
{
	for (unsigned i = 0; i < p->nfn; i++) {
		struct vm_pci_fn *f = &p->fn[i];

		for (unsigned q = 0; q < f->nq; q++) {
			f->q_efd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (f->q_efd[q] < 0)
				return -errno;
		}
		for (unsigned v = 0; v < f->nvec && p->irqfd; v++) {
			f->vec_efd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (f->vec_efd[v] < 0)
				return -errno;
		}
	}
	return 0;
}

static int irqfds_assign(struct vm_pci *p)
{
	int e = routes_push(p);

	for (unsigned i = 0; !e && i < p->nfn; i++) {
		struct vm_pci_fn *f = &p->fn[i];

		for (unsigned v = 0; !e && v < f->nvec; v++) {
			e = kvm_irqfd(p->vm->kvm, f->vec_efd[v], f->gsi_base + v, true);
			if (!e)
				f->irqfd_assigned = v + 1;
		}
	}
	return e;
}

int vm_pci_start(struct vm *vm, char *err, size_t errlen)
{
	struct vm_pci *p = vm->pci;
	int e;

	if (!p || !p->nfn)
		return 0;
	p->irqfd = kvm_check_extension(vm->kvm, KVM_CAP_IRQFD) > 0 &&
		   kvm_check_extension(vm->kvm, KVM_CAP_IRQ_ROUTING) > 0;
	p->ioeventfd = kvm_check_extension(vm->kvm, KVM_CAP_IOEVENTFD) > 0;
	e = eventfds_create(p);
	if (e) {
		snprintf(err, errlen, "pci: eventfd: %s", strerror(-e));
		return e;
	}
	pthread_mutex_lock(&p->lock);
	if (p->irqfd) {
		e = irqfds_assign(p);
		if (e) {
			log_warn("pci: irqfd/GSI routing unavailable (%s): MSI through "
				 "KVM_SIGNAL_MSI",
				 strerror(-e));
			p->irqfd = false;
			e = 0;
		}
	}
	p->started = true;
	pthread_mutex_unlock(&p->lock);
	if (p->ioeventfd) {
		e = vm_iothread_start(p);
		if (e) {
			log_warn("pci: no I/O thread (%s): notifications through MMIO exits",
				 strerror(-e));
			p->ioeventfd = false;
			e = 0;
		}
	}
	log_info("pci: %u function(s); MSI via %s; notify via %s", p->nfn,
		 p->irqfd ? "GSI routes + irqfd" : "KVM_SIGNAL_MSI",
		 p->ioeventfd ? "ioeventfd (I/O thread)" : "MMIO exits");
	return e;
}

void vm_pci_destroy(struct vm *vm)
{
	struct vm_pci *p = vm->pci;

	if (!p)
		return;
	vm_iothread_stop(p);
	for (unsigned i = 0; i < p->nfn; i++) {
		struct vm_pci_fn *f = &p->fn[i];
		uint64_t a = pci_dev_bar_addr(virtio_pci_dev(f->t), VIRTIO_PCI_BAR);

		if (p->started && p->ioeventfd && a != PCI_BAR_UNMAPPED)
			ioeventfd_set(p, f, a, false);
		for (unsigned v = 0; v < f->irqfd_assigned; v++)
			if (kvm_irqfd(vm->kvm, f->vec_efd[v], f->gsi_base + v, false))
				log_debug("pci: irqfd deassign failed");
		for (unsigned v = 0; v < PCI_MSIX_MAX_VECTORS; v++)
			if (f->vec_efd[v] >= 0)
				close(f->vec_efd[v]);
		for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
			if (f->q_efd[q] >= 0)
				close(f->q_efd[q]);
		virtio_pci_destroy(f->t);
	}
	pci_host_destroy(p->host);
	pthread_mutex_destroy(&p->lock);
	free(p);
	vm->pci = NULL;
}
