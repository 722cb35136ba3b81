/* Unit tests for vmm/vm_qmp.c (the qmp_vm_ops of a struct vm) and the nesting of
 * vm_pause/vm_resume, without /dev/kvm: a struct vm with one vCPU thread whose KVM_RUN is
 * simulated (as in test_vcpu.c), the real ACPI PM device, event loop and QMP server, driven
 * through the socket. Checks that stop really parks the vCPU and cont restarts it, that a pause
 * held by someone else (a snapshot) survives cont, that system_powerdown sets PWRBTN_STS, that
 * query-cpus-fast reports the vCPU thread's TID, and that system_reset stops the VM with a
 * by_ctl result whose RESET/SHUTDOWN events carry QEMU's reasons, and that a snapshot of a VM
 * with a virtio-pci function using packed queues is refused while the VM keeps running. */
#include "lib/harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/evloop.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/virtio/virtio.h"
#include "lib/vq_builder.h"
#include "vmm/qmp_server.h"
#include "vmm/vm_priv.h"
#include "vmm/vm_qmp.h"

static unsigned long entries; /* atomic: simulated KVM_RUN calls that ran guest code */

static int fake_run(struct kvm_vcpu *kv)
{
	struct timespec ts = {0, 1000000};

	if (__atomic_load_n(&kv->run->immediate_exit, __ATOMIC_ACQUIRE))
		return -EINTR;
	__atomic_fetch_add(&entries, 1, __ATOMIC_RELAXED);
	if (nanosleep(&ts, NULL) < 0)
		return -EINTR;
	memset(kv->run, 0, sizeof(*kv->run));
	kv->run->exit_reason = KVM_EXIT_IO;
	kv->run->io.direction = KVM_EXIT_IO_OUT;
	kv->run->io.size = 1;
	kv->run->io.port = 0x80;
	kv->run->io.count = 1;
	kv->run->io.data_offset = sizeof(*kv->run);
	return 0;
}

struct fix {
	struct vm_config cfg;
	struct vm *vm;
	struct qmp_server *srv;
	pthread_t loop;
	char dir[32], path[64];
	int fd;
};

static void *loop_thread(void *arg)
{
	struct fix *f = arg;

	assert_int_equal(evloop_run(f->vm->el, 50, NULL, NULL), 0);
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static char *cl_line(int fd)
{
	size_t cap = 4096, len = 0;
	char *b = malloc(cap);

	for (;;) {
		char ch;

		if (recv(fd, &ch, 1, 0) <= 0) {
			free(b);
			return NULL;
		}
		if (len + 2 > cap)
			b = realloc(b, cap *= 2);
		b[len++] = ch;
		if (len >= 2 && b[len - 2] == '\r' && b[len - 1] == '\n') {
			b[len - 2] = '\0';
			return b;
		}
	}
}

static void cl_expect(int fd, const char *want)
{
	char *l = cl_line(fd);

	if (!l)
		fail_msg("no line (wanted '%s')", want);
	if (!strstr(l, want))
		fail_msg("got '%s', wanted '%s'", l, want);
	free(l);
}

static void cl_send(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 10};
	char err[256];
	struct vcpu *v;

	assert_int_equal(vm_config_init(&f->cfg), 0);
	f->cfg.name = strdup("unit-vm");
	f->vm = calloc(1, sizeof(*f->vm));
	f->vm->cfg = &f->cfg;
	pthread_mutex_init(&f->vm->lock, NULL);
	bus_init(&f->vm->pio, "pio");
	bus_init(&f->vm->mmio, "mmio");
	f->vm->ncpus = 1;
	f->vm->topo = (struct cpu_topology){1, 1, 1};
	assert_int_equal(evloop_create(&f->vm->el), 0);
	assert_int_equal(acpi_pm_create(&f->vm->acpi_pm, NULL), 0);
	assert_int_equal(vcpu_signals_init(), 0);
	f->vm->vcpus = v = calloc(1, sizeof(*v));
	assert_int_equal(vcpu_init(v, f->vm, 0), 0);
	v->run = fake_run;
	v->kv.run_size = 4096;
	v->kv.run = calloc(1, 4096);
	v->exit = (struct exit_ctx){&f->vm->pio, &f->vm->mmio, 0};
	f->vm->nvcpus_init = 1;

	snprintf(f->dir, sizeof(f->dir), "/tmp/kvmm-vmqmp-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/q.sock", f->dir);
	assert_int_equal(qmp_server_create(&f->srv, f->path, err, sizeof(err)), 0);
	assert_int_equal(vm_qmp_attach(f->vm, f->srv), 0);
	assert_int_equal(vcpu_start(v), 0);
	assert_int_equal(pthread_create(&f->loop, NULL, loop_thread, f), 0);

	f->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	assert_int_equal(connect(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cl_expect(f->fd, "{\"QMP\"");
	cl_send(f->fd, "{\"execute\": \"qmp_capabilities\"}");
	cl_expect(f->fd, "{\"return\": {}}");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = &f->vm->vcpus[0];

	vm_request_stop(f->vm, VM_EXIT_SIGNAL, 0); /* no-op if already stopping */
	pthread_join(f->loop, NULL);
	vcpu_join(v);
	vm_qmp_detach(f->vm, f->srv);
	close(f->fd);
	qmp_server_destroy(f->srv);
	free(v->kv.run);
	v->kv.run = NULL;
	vcpu_fini(v);
	free(f->vm->vcpus);
	acpi_pm_destroy(f->vm->acpi_pm);
	evloop_destroy(f->vm->el);
	bus_fini(&f->vm->pio);
	bus_fini(&f->vm->mmio);
	pthread_mutex_destroy(&f->vm->lock);
	free(f->vm);
	vm_config_fini(&f->cfg);
	rmdir(f->dir);
	free(f);
	return 0;
}

static enum vcpu_state vcpu_state_of(struct vcpu *v)
{
	enum vcpu_state s;

	pthread_mutex_lock(&v->lock);
	s = v->state;
	pthread_mutex_unlock(&v->lock);
	return s;
}

/* entries grows by at least one within a second. */
static bool vcpu_runs(void)
{
	unsigned long a = __atomic_load_n(&entries, __ATOMIC_RELAXED);

	for (int i = 0; i < 100; i++) {
		sleep_ms(10);
		if (__atomic_load_n(&entries, __ATOMIC_RELAXED) != a)
			return true;
	}
	return false;
}

static void test_queries(void **state)
{
	struct fix *f = *state;
	char want[128];
	int tid = 0;

	for (int i = 0; i < 100 && !tid; i++) {
		tid = __atomic_load_n(&f->vm->vcpus[0].tid, __ATOMIC_ACQUIRE);
		sleep_ms(10);
	}
	assert_true(tid > 0);
	cl_send(f->fd, "{\"execute\": \"query-cpus-fast\"}");
	snprintf(want, sizeof(want), "\"thread-id\": %d, \"props\": {\"socket-id\": 0", tid);
	cl_expect(f->fd, want);
	cl_send(f->fd, "{\"execute\": \"query-name\"}");
	cl_expect(f->fd, "{\"return\": {\"name\": \"unit-vm\"}}");
	cl_send(f->fd, "{\"execute\": \"query-block\"}");
	cl_expect(f->fd, "{\"return\": []}");
	cl_send(f->fd, "{\"execute\": \"query-status\"}");
	cl_expect(f->fd, "\"status\": \"running\"");
}

static void test_stop_cont_nesting(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = &f->vm->vcpus[0];
	unsigned long a;

	assert_true(vcpu_runs());
	cl_send(f->fd, "{\"execute\": \"stop\"}");
	cl_expect(f->fd, "\"event\": \"STOP\"");
	cl_expect(f->fd, "{\"return\": {}}");
	/* stop returned: the vCPU is parked and runs no guest code. */
	assert_int_equal(vcpu_state_of(v), VCPU_STATE_PAUSED);
	a = __atomic_load_n(&entries, __ATOMIC_RELAXED);
	sleep_ms(100);
	assert_int_equal(__atomic_load_n(&entries, __ATOMIC_RELAXED), a);
	cl_send(f->fd, "{\"execute\": \"query-status\"}");
	cl_expect(f->fd, "\"status\": \"paused\"");
	/* Someone else (a snapshot) pauses too: cont must not run the vCPU under it. */
	vm_pause(f->vm);
	cl_send(f->fd, "{\"execute\": \"cont\"}");
	cl_expect(f->fd, "paused by kvmm itself");
	assert_int_equal(vcpu_state_of(v), VCPU_STATE_PAUSED);
	assert_true(vm_is_paused(f->vm));
	vm_resume(f->vm);
	assert_false(vm_is_paused(f->vm));
	assert_true(vcpu_runs());
	/* And the other order: QMP stop inside a snapshot's pause/resume stays stopped. */
	vm_pause(f->vm);
	cl_send(f->fd, "{\"execute\": \"stop\"}");
	cl_expect(f->fd, "{\"return\": {}}"); /* already paused: no STOP event */
	vm_resume(f->vm);
	assert_true(vm_is_paused(f->vm));
	assert_int_equal(vcpu_state_of(v), VCPU_STATE_PAUSED);
	cl_send(f->fd, "{\"execute\": \"cont\"}");
	cl_expect(f->fd, "\"event\": \"RESUME\"");
	cl_expect(f->fd, "{\"return\": {}}");
	assert_true(vcpu_runs());
	vm_resume(f->vm); /* unbalanced: must not underflow */
	assert_false(vm_is_paused(f->vm));
}

static void test_powerdown(void **state)
{
	struct fix *f = *state;
	uint16_t sts = 0;

	cl_send(f->fd, "{\"execute\": \"system_powerdown\"}");
	cl_expect(f->fd, "\"event\": \"POWERDOWN\"");
	cl_expect(f->fd, "{\"return\": {}}");
	acpi_pm_io_ops.read(f->vm->acpi_pm, ACPI_PM1_STS, &sts, 2);
	assert_int_equal(sts & ACPI_PM1_PWRBTN_STS, ACPI_PM1_PWRBTN_STS);
	assert_true(vcpu_runs()); /* the button alone does not stop the VM */
}

static void test_reset_and_events(void **state)
{
	struct fix *f = *state;
	struct vm_result res;

	cl_send(f->fd, "{\"execute\": \"system_reset\", \"id\": 9}");
	cl_expect(f->fd, "{\"return\": {}, \"id\": 9}");
	pthread_join(f->loop, NULL); /* the loop stopped */
	vcpu_join(&f->vm->vcpus[0]);
	assert_int_equal(vcpu_state_of(&f->vm->vcpus[0]), VCPU_STATE_STOPPED);
	res = f->vm->result;
	assert_int_equal(res.kind, VM_EXIT_RESET);
	assert_true(res.by_ctl);
	vm_qmp_detach(f->vm, f->srv);
	vm_qmp_report_stop(f->srv, &res, true);
	cl_expect(f->fd, "\"event\": \"RESET\", \"data\": {\"guest\": false, \"reason\": "
			 "\"host-qmp-system-reset\"}}");
	vm_qmp_report_stop(f->srv, &res, false);
	cl_expect(f->fd, "\"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, \"reason\": "
			 "\"host-qmp-system-reset\"}}");
	res = (struct vm_result){VM_EXIT_POWEROFF, 0, false};
	vm_qmp_report_stop(f->srv, &res, false);
	cl_expect(f->fd, "{\"guest\": true, \"reason\": \"guest-shutdown\"}");
	res = (struct vm_result){VM_EXIT_SIGNAL, 0, true};
	vm_qmp_report_stop(f->srv, &res, false);
	cl_expect(f->fd, "{\"guest\": false, \"reason\": \"host-qmp-quit\"}");
	res = (struct vm_result){VM_EXIT_SIGNAL, 0, false};
	vm_qmp_report_stop(f->srv, &res, false);
	cl_expect(f->fd, "{\"guest\": false, \"reason\": \"host-signal\"}");
	res = (struct vm_result){VM_EXIT_RESET, 0, false};
	vm_qmp_report_stop(f->srv, &res, true);
	cl_expect(f->fd, "\"event\": \"RESET\", \"data\": {\"guest\": true, \"reason\": "
			 "\"guest-reset\"}}");
	res = (struct vm_result){VM_EXIT_FATAL, 0, false};
	vm_qmp_report_stop(f->srv, &res, false);
	cl_expect(f->fd, "{\"guest\": false, \"reason\": \"host-error\"}");
	/* teardown joins again: recreate a loop thread that returns at once */
	assert_int_equal(pthread_create(&f->loop, NULL, loop_thread, f), 0);
}

static void test_quit(void **state)
{
	struct fix *f = *state;

	cl_send(f->fd, "{\"execute\": \"quit\"}");
	cl_expect(f->fd, "{\"return\": {}}");
	pthread_join(f->loop, NULL);
	assert_int_equal(f->vm->result.kind, VM_EXIT_SIGNAL);
	assert_true(f->vm->result.by_ctl);
	cl_send(f->fd, "{\"execute\": \"query-status\"}");
	assert_int_equal(pthread_create(&f->loop, NULL, loop_thread, f), 0);
}

static const struct virtio_dev_ops pci_packed_ops = {
    .name = "rng",
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 1,
    .max_queue_size = 16,
    .features = 1ull << VIRTIO_F_RING_PACKED,
};

/* A snapshot of a VM whose virtio-pci function has a live packed queue is refused once the
 * vCPUs are paused: GenericError naming the function and its slot, no state file, and the
 * vCPU runs again. (A split-ring function is saved: the nested guest cases.) */
/* A virtio-pci function whose packed queue has a chain in flight (popped, not yet pushed: its
 * slot is not in the saved state) makes the save fail with -EBUSY; the VM keeps running. */
static void test_snapshot_busy_pci_packed(void **state)
{
	struct fix *f = *state;
	struct virtio_dev vd;
	struct vqb b;
	char cmd[192], snap[96], file[128];

	vqb_init(&b, 16);
	assert_int_equal(vm_pci_create(f->vm, NULL, NULL), 0);
	assert_int_equal(virtio_dev_init(&vd, &pci_packed_ops, b.mem), 0);
	virtio_dev_offer_packed(&vd, true);
	assert_int_equal(vm_pci_attach_virtio(f->vm, &vd, "virtio-rng"), 0);
	virtio_set_status(&vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_set_driver_features(&vd, 1, 1u | (1u << (VIRTIO_F_RING_PACKED - 32)));
	virtio_set_status(&vd, 0x0b);
	vd.vq[0].size = 16;
	vd.vq[0].desc_gpa = VQB_DESC_GPA;
	vd.vq[0].avail_gpa = VQB_AVAIL_GPA;
	vd.vq[0].used_gpa = VQB_USED_GPA;
	vd.vq[0].ready = true;
	virtio_set_status(&vd, 0x0f);
	assert_false(virtio_dev_has_inflight(&vd));
	vd.vq[0].pk.inflight = 1; /* as if the device had popped a chain */
	assert_true(virtio_dev_has_inflight(&vd));
	snprintf(snap, sizeof(snap), "%s/snap", f->dir);
	snprintf(cmd, sizeof(cmd),
		 "{\"execute\": \"x-kvmm-snapshot-save\", \"arguments\": {\"path\": \"%s\"}}",
		 snap);
	assert_true(vcpu_runs());
	cl_send(f->fd, cmd);
	cl_expect(f->fd, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"snapshot: "
			 "virtio-rng at 00:01.0 has requests in flight; retry\"}}");
	snprintf(file, sizeof(file), "%s/state", snap);
	assert_int_equal(access(file, F_OK), -1);
	assert_false(vm_is_paused(f->vm));
	assert_true(vcpu_runs());
	cl_send(f->fd, "{\"execute\": \"query-status\"}");
	cl_expect(f->fd, "\"status\": \"running\"");
	rmdir(snap);
	vd.vq[0].pk.inflight = 0;
	vm_pci_destroy(f->vm);
	virtio_dev_fini(&vd);
	vqb_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_queries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_cont_nesting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_powerdown, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_and_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_busy_pci_packed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
