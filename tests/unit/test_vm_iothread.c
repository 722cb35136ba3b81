/* Unit tests for parking the I/O thread (vmm/vm_iothread.c), which a snapshot save uses so
 * that no virtio-pci queue notification runs while device state is read: without /dev/kvm, a
 * virtio-pci function whose queue-notify eventfd the test signals itself (as KVM would on a
 * guest write to the notify address). vm_iothread_park() must wait for a notification in
 * progress to finish, a notification signalled while parked must not run until unpark, and
 * then it runs (its eventfd count was kept). vm_pci_kick_all() (after a restore) runs each
 * queue of a live device once. */
#include "lib/harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio/virtio.h"
#include "vmm/vm_pci.h"
#include "vmm/vm_priv.h"

struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
	unsigned calls;
};

static struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0};

static void notify(struct virtio_dev *vd, uint16_t q)
{
	(void)vd;
	(void)q;
	pthread_mutex_lock(&g.lock);
	g.calls++;
	pthread_cond_broadcast(&g.cond);
	while (!g.open)
		pthread_cond_wait(&g.cond, &g.lock);
	pthread_mutex_unlock(&g.lock);
}

static const struct virtio_dev_ops ops = {
    .name = "rng",
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 1,
    .max_queue_size = 16,
    .queue_notify = notify,
};

static unsigned calls(void)
{
	unsigned c;

	pthread_mutex_lock(&g.lock);
	c = g.calls;
	pthread_mutex_unlock(&g.lock);
	return c;
}

/* calls() reaches n within a second. */
static bool wait_calls(unsigned n)
{
	struct timespec ts = {0, 1000000};

	for (int i = 0; i < 1000 && calls() < n; i++)
		nanosleep(&ts, NULL);
	return calls() >= n;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {0, ms * 1000000};

	nanosleep(&ts, NULL);
}

static bool parked_done;

static void *parker(void *arg)
{
	vm_iothread_park(arg);
	__atomic_store_n(&parked_done, true, __ATOMIC_RELEASE);
	return NULL;
}

static void kick(struct vm_pci *p)
{
	uint64_t one = 1;

	assert_int_equal(write(p->fn[0].q_efd[0], &one, sizeof(one)), sizeof(one));
}

static void test_park(void **state)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	struct virtio_dev vd;
	struct vm_pci *p;
	pthread_t th;

	(void)state;
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	assert_int_equal(vm_pci_create(vm, NULL, NULL), 0);
	assert_int_equal(virtio_dev_init(&vd, &ops, NULL), 0);
	assert_int_equal(vm_pci_attach_virtio(vm, &vd, "virtio-rng"), 0);
	vd.status = VIRTIO_STATUS_DRIVER_OK;
	p = vm->pci;
	p->fn[0].q_efd[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(p->fn[0].q_efd[0] >= 0);
	vm_iothread_park(p); /* not running yet: a no-op */
	vm_iothread_unpark(p);
	assert_int_equal(vm_iothread_start(p), 0);

	/* a notification in progress: park waits for it */
	kick(p);
	assert_true(wait_calls(1));
	assert_int_equal(pthread_create(&th, NULL, parker, p), 0);
	sleep_ms(100);
	assert_false(__atomic_load_n(&parked_done, __ATOMIC_ACQUIRE));
	pthread_mutex_lock(&g.lock);
	g.open = true;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(parked_done);

	/* parked: a kick waits in its eventfd */
	kick(p);
	sleep_ms(100);
	assert_int_equal(calls(), 1);
	vm_iothread_unpark(p);
	assert_true(wait_calls(2));
	assert_int_equal(calls(), 2);

	/* again, with nothing in progress */
	vm_iothread_park(p);
	kick(p);
	sleep_ms(50);
	assert_int_equal(calls(), 2);
	vm_iothread_unpark(p);
	assert_true(wait_calls(3));

	/* after a restore: every queue of a live device is processed once */
	vm_pci_kick_all(p);
	assert_int_equal(calls(), 4);
	vd.status = 0;
	vm_pci_kick_all(p);
	assert_int_equal(calls(), 4);

	vm_pci_destroy(vm);
	virtio_dev_fini(&vd);
	bus_fini(&vm->pio);
	bus_fini(&vm->mmio);
	free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_park),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
