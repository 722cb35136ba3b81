/* Unit tests for vmm/vcpu: the RUNNING <-> PAUSED -> STOPPED state machine and the kick
 * (immediate_exit + SIGRTMIN), with a simulated guest in place of KVM_RUN: it "runs" in 1 ms
 * slices, leaves on the kick like KVM does, and exits to port 0x80 now and then. */
#include "lib/harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmm/bus.h"
#include "vmm/vcpu.h"

static unsigned long entries; /* atomic: simulated KVM_RUN calls that ran guest code */

static int fake_run(struct kvm_vcpu *kv)
{
	struct timespec ts = {0, 1000000};

	if (__atomic_load_n(&kv->run->immediate_exit, __ATOMIC_ACQUIRE))
		return -EINTR; /* as KVM: immediate_exit makes KVM_RUN return at once */
	__atomic_fetch_add(&entries, 1, __ATOMIC_RELAXED);
	if (nanosleep(&ts, NULL) < 0)
		return -EINTR; /* the kick signal interrupted the "guest" */
	memset(kv->run, 0, sizeof(*kv->run));
	kv->run->exit_reason = KVM_EXIT_IO;
	kv->run->io.direction = KVM_EXIT_IO_OUT;
	kv->run->io.size = 1;
	kv->run->io.port = 0x80;
	kv->run->io.count = 1;
	kv->run->io.data_offset = sizeof(*kv->run);
	return 0;
}

struct fixture {
	struct bus pio, mmio;
	struct vcpu v;
};

static int setup(void **state)
{
	static struct fixture f;

	assert_int_equal(vcpu_signals_init(), 0);
	bus_init(&f.pio, "pio");
	bus_init(&f.mmio, "mmio");
	assert_int_equal(vcpu_init(&f.v, NULL, 0), 0);
	f.v.run = fake_run;
	f.v.kv.run_size = 4096;
	f.v.kv.run = calloc(1, 4096);
	f.v.exit = (struct exit_ctx){&f.pio, &f.mmio, 0};
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->v.kv.run);
	f->v.kv.run = NULL; /* fd is -1: vcpu_fini does not touch the mapping */
	vcpu_fini(&f->v);
	bus_fini(&f->pio);
	bus_fini(&f->mmio);
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static void test_pause_resume_stop(void **state)
{
	struct fixture *f = *state;
	unsigned long a, b;

	assert_int_equal(vcpu_start(&f->v), 0);
	sleep_ms(30);
	assert_true(__atomic_load_n(&entries, __ATOMIC_RELAXED) > 0);
	for (int round = 0; round < 20; round++) {
		vcpu_request(&f->v, VCPU_STATE_PAUSED); /* returns once out of "KVM_RUN" */
		assert_int_equal(f->v.state, VCPU_STATE_PAUSED);
		a = __atomic_load_n(&entries, __ATOMIC_RELAXED);
		sleep_ms(10);
		b = __atomic_load_n(&entries, __ATOMIC_RELAXED);
		assert_int_equal(a, b); /* paused: the guest does not run */
		vcpu_request(&f->v, VCPU_STATE_RUNNING);
		sleep_ms(5);
	}
	assert_true(__atomic_load_n(&entries, __ATOMIC_RELAXED) > b);
	vcpu_request(&f->v, VCPU_STATE_STOPPED);
	vcpu_join(&f->v);
	assert_int_equal(f->v.state, VCPU_STATE_STOPPED);
	assert_true(f->pio.unclaimed_writes > 0); /* its port writes went through the bus */
}

static void test_stop_while_paused(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(vcpu_start(&f->v), 0);
	vcpu_request(&f->v, VCPU_STATE_PAUSED);
	vcpu_request(&f->v, VCPU_STATE_STOPPED);
	vcpu_join(&f->v);
	assert_int_equal(f->v.state, VCPU_STATE_STOPPED);
	/* a stopped vCPU stays stopped */
	vcpu_request(&f->v, VCPU_STATE_RUNNING);
	assert_int_equal(f->v.requested, VCPU_STATE_STOPPED);
}

static void test_stop_before_start(void **state)
{
	struct fixture *f = *state;
	unsigned long a = __atomic_load_n(&entries, __ATOMIC_RELAXED);

	vcpu_request_async(&f->v, VCPU_STATE_STOPPED);
	assert_int_equal(vcpu_start(&f->v), 0);
	vcpu_join(&f->v);
	assert_int_equal(__atomic_load_n(&entries, __ATOMIC_RELAXED), a); /* never entered */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pause_resume_stop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_while_paused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_before_start, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
