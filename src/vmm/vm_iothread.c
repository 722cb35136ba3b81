/* vmm/vm_iothread.c — the I/O thread: one epoll over the queue-notify eventfds that KVM
 * signals when the guest writes a virtio-pci notify address (KVM_IOEVENTFD), plus a stop
 * eventfd and a park eventfd (vm_iothread_park: a snapshot save). Each wake-up drains the eventfd
 * and runs the device's queue_notify on this thread (the device takes vd->lock; completions raise
 * MSI-X through irqfd or INTx). Signals are blocked here: the main thread's signalfd gets them. */
#include "vmm/vm_pci.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/virtio/pci.h"

/* epoll data: function index << 16 | queue; the stop eventfd is UINT64_MAX, the park
 * eventfd UINT64_MAX - 1. */
#define IO_STOP UINT64_MAX
#define IO_PARK (UINT64_MAX - 1)

/* Parked: tell the parker, wait until unparked. */
static void io_park(struct vm_pci *p)
{
	uint64_t cnt;

	if (read(p->io_park_efd, &cnt, sizeof(cnt)) < 0)
		cnt = 0; /* EAGAIN: an earlier wake-up took the count */
	pthread_mutex_lock(&p->io_lock);
	p->io_parked = true;
	pthread_cond_broadcast(&p->io_cond);
	while (p->io_park_req)
		pthread_cond_wait(&p->io_cond, &p->io_lock);
	p->io_parked = false;
	pthread_mutex_unlock(&p->io_lock);
}

static void *io_main(void *arg)
{
	struct vm_pci *p = arg;
	struct epoll_event ev[16];

	pthread_setname_np(pthread_self(), "kvmm-io");
	for (;;) {
		int n = epoll_wait(p->io_epfd, ev, 16, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		for (int i = 0; i < n; i++) {
			uint64_t d = ev[i].data.u64, cnt;
			unsigned fi = (unsigned)(d >> 16), q = (unsigned)(d & 0xffff);

			if (d == IO_STOP)
				return NULL;
			if (d == IO_PARK) {
				io_park(p);
				continue;
			}
			if (fi >= p->nfn || q >= p->fn[fi].nq)
				continue;
			if (read(p->fn[fi].q_efd[q], &cnt, sizeof(cnt)) != sizeof(cnt))
				continue;
			virtio_pci_kick(p->fn[fi].t, (uint16_t)q);
		}
	}
	return NULL;
}

static int io_add(struct vm_pci *p, int fd, uint64_t data)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = data};

	return epoll_ctl(p->io_epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int vm_iothread_start(struct vm_pci *p)
{
	sigset_t all, old;
	int e;

	p->io_epfd = epoll_create1(EPOLL_CLOEXEC);
	p->io_stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->io_park_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->io_epfd < 0 || p->io_stop_efd < 0 || p->io_park_efd < 0)
		return -errno;
	e = io_add(p, p->io_stop_efd, IO_STOP);
	if (!e)
		e = io_add(p, p->io_park_efd, IO_PARK);
	for (unsigned i = 0; !e && i < p->nfn; i++)
		for (unsigned q = 0; !e && q < p->fn[i].nq; q++)
			e = io_add(p, p->fn[i].q_efd[q], ((uint64_t)i << 16) | q);
	if (e)
		return e;
	pthread_mutex_init(&p->io_lock, NULL);
	pthread_cond_init(&p->io_cond, NULL);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = -pthread_create(&p->io_thread, NULL, io_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!e) {
		p->io_running = true;
	} else {
		pthread_cond_destroy(&p->io_cond);
		pthread_mutex_destroy(&p->io_lock);
	}
	return e;
}

void vm_iothread_park(struct vm_pci *p)
{
	uint64_t one = 1;

	if (!p->io_running)
		return;
	pthread_mutex_lock(&p->io_lock);
	p->io_park_req = true;
	if (write(p->io_park_efd, &one, sizeof(one)) == sizeof(one))
		while (!p->io_parked)
			pthread_cond_wait(&p->io_cond, &p->io_lock);
	pthread_mutex_unlock(&p->io_lock);
}

void vm_iothread_unpark(struct vm_pci *p)
{
	if (!p->io_running)
		return;
	pthread_mutex_lock(&p->io_lock);
	p->io_park_req = false;
	pthread_cond_broadcast(&p->io_cond);
	pthread_mutex_unlock(&p->io_lock);
}

void vm_iothread_stop(struct vm_pci *p)
{
	uint64_t one = 1;

	if (p->io_running) {
		if (write(p->io_stop_efd, &one, sizeof(one)) != sizeof(one))
			pthread_cancel(p->io_thread);
		pthread_join(p->io_thread, NULL);
		p->io_running = false;
		pthread_cond_destroy(&p->io_cond);
		pthread_mutex_destroy(&p->io_lock);
	}
	if (p->io_epfd >= 0)
		close(p->io_epfd);
	if (p->io_stop_efd >= 0)
		close(p->io_stop_efd);
	if (p->io_park_efd >= 0)
		close(p->io_park_efd);
	p->io_epfd = p->io_stop_efd = p->io_park_efd = -1;
}
