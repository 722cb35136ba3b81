/* vmm/vm_pci.h — state shared by vm_pci.c (the PCI host and virtio-pci wiring) and
 * vm_iothread.c (the thread that serves queue-notify ioeventfds). Private to src/vmm. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/log.h"
#include "devices/pci/msix.h"
#include "devices/virtio/virtio.h"

#define VM_PCI_MAX_FNS 31

struct vm;
struct pci_host;
struct virtio_pci;
struct vm_pci;

/* One virtio-pci function. */
struct vm_pci_fn {
	struct vm_pci *p;
	struct virtio_pci *t;
	const char *name;
	unsigned slot, nq, nvec;
	uint32_t intx_gsi;
	uint32_t gsi_base;			      /* MSI-X vector v is GSI gsi_base + v */
	struct pci_msi_msg msg[PCI_MSIX_MAX_VECTORS]; /* under p->lock */
	int vec_efd[PCI_MSIX_MAX_VECTORS];	      /* irqfd per vector, -1: none */
	unsigned irqfd_assigned;		      /* vec_efd[0..n) are assigned */
	int q_efd[VIRTIO_MAX_QUEUES];		      /* ioeventfd per queue */
};

struct vm_pci {
	struct vm *vm;
	struct pci_host *host;
	struct vm_pci_fn fn[VM_PCI_MAX_FNS];
	unsigned nfn;
	uint32_t next_gsi, ngsi;
	pthread_mutex_t lock;
	bool started, irqfd, ioeventfd;
	bool routes_dirty; /* a message changed since the last KVM_SET_GSI_ROUTING (atomic) */
	struct log_ratelimit rl;
	/* I/O thread (vm_iothread.c) */
	int io_epfd, io_stop_efd;
	pthread_t io_thread;
	bool io_running;
	/* parking (vm_iothread_park): io_park_efd wakes the thread, io_lock/io_cond hand over */
	int io_park_efd;
	pthread_mutex_t io_lock;
	pthread_cond_t io_cond;
	bool io_park_req, io_parked;
};

/* Start the thread that waits on every function's queue eventfds and calls
 * virtio_pci_kick(); stop and join it (a no-op if it is not running). Main thread. */
int vm_iothread_start(struct vm_pci *p) KVMM_MUST_CHECK;
void vm_iothread_stop(struct vm_pci *p);
/* Park the I/O thread: returns once it has finished the notification it was serving and
 * waits, so no queue_notify runs on it (eventfd counts not yet read stay in the eventfds);
 * unpark lets it go on. No-ops when the thread is not running. One caller at a time (the
 * snapshot save, on the main or event-loop thread). */
void vm_iothread_park(struct vm_pci *p);
void vm_iothread_unpark(struct vm_pci *p);

/* vm_pci.c, for vm_snapshot_pci.c: push the MSI routes to KVM now if a message changed (as
 * the next delivery would); run every function's queue notifications once (as if each queue's
 * notify register were written: a device with nothing new in a ring does nothing). */
int vm_pci_routes_sync(struct vm_pci *p) KVMM_MUST_CHECK;
void vm_pci_kick_all(struct vm_pci *p);
