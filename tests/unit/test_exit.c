/* Unit tests for vmm/exit: synthetic struct kvm_run exits through the dispatcher. */
#include "lib/harness.h"

#include <stdlib.h>
#include <string.h>

#include "devices/dev.h"
#include "vmm/bus.h"
#include "vmm/exit.h"

struct log {
	unsigned n;
	uint64_t off[64];
	uint32_t val[64];
};

static void log_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	uint32_t v = 0x1234u + (uint32_t)off;

	memcpy(data, &v, len);
}

static void log_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct log *l = dev;
	uint32_t v = 0;

	memcpy(&v, data, len);
	if (l->n < 64) {
		l->off[l->n] = off;
		l->val[l->n++] = v;
	}
}

static const struct io_ops log_ops = {log_read, log_write};

struct fixture {
	struct bus pio, mmio;
	struct log log;
	struct exit_ctx x;
	struct kvm_run *run;
	size_t run_size;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	assert_int_equal(bus_add(&f->pio, 0x3f8, 8, &log_ops, &f->log, "log"), 0);
	assert_int_equal(bus_add(&f->mmio, 0xd0000000, 0x1000, &log_ops, &f->log, "log"), 0);
	f->x = (struct exit_ctx){&f->pio, &f->mmio, 0};
	f->run_size = 4096;
	f->run = calloc(1, f->run_size);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	bus_fini(&f->pio);
	bus_fini(&f->mmio);
	free(f->run);
	free(f);
	return 0;
}

static void test_io_rep_out(void **state)
{
	struct fixture *f = *state;
	struct kvm_run *run = f->run;
	uint8_t *data;

	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = KVM_EXIT_IO_OUT;
	run->io.size = 1;
	run->io.port = 0x3f8;
	run->io.count = 5;
	run->io.data_offset = sizeof(*run);
	data = (uint8_t *)run + run->io.data_offset;
	memcpy(data, "hello", 5);
	assert_true(exit_io_data_ok(run, f->run_size));
	assert_int_equal(vcpu_handle_exit(&f->x, run), VCPU_CONTINUE);
	assert_int_equal(f->log.n, 5);
	assert_int_equal(f->log.val[0], 'h');
	assert_int_equal(f->log.val[4], 'o');
}

static void test_io_in_unclaimed(void **state)
{
	struct fixture *f = *state;
	struct kvm_run *run = f->run;
	uint8_t *data;

	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = KVM_EXIT_IO_IN;
	run->io.size = 2;
	run->io.port = 0x80;
	run->io.count = 3;
	run->io.data_offset = sizeof(*run);
	data = (uint8_t *)run + run->io.data_offset;
	memset(data, 0, 6);
	assert_int_equal(vcpu_handle_exit(&f->x, run), VCPU_CONTINUE);
	for (int i = 0; i < 6; i++)
		assert_int_equal(data[i], 0xff);
	assert_int_equal(f->pio.unclaimed_reads, 3);
}

static void test_io_bounds(void **state)
{
	struct fixture *f = *state;
	struct kvm_run *run = f->run;

	run->io.size = 4;
	run->io.count = 0x40000000;
	run->io.data_offset = sizeof(*run);
	assert_false(exit_io_data_ok(run, f->run_size));
	run->io.count = 1;
	run->io.data_offset = 8;
	assert_false(exit_io_data_ok(run, f->run_size));
	run->exit_reason = KVM_EXIT_IO;
	run->io.size = 3;
	run->io.data_offset = sizeof(*run);
	assert_int_equal(vcpu_handle_exit(&f->x, run), VCPU_FATAL);
}

static void test_mmio(void **state)
{
	struct fixture *f = *state;
	struct kvm_run *run = f->run;
	uint32_t v;

	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.phys_addr = 0xd0000010;
	run->mmio.len = 4;
	run->mmio.is_write = 0;
	assert_int_equal(vcpu_handle_exit(&f->x, run), VCPU_CONTINUE);
	memcpy(&v, run->mmio.data, 4);
	assert_int_equal(v, 0x1234 + 0x10);
	run->mmio.phys_addr = 0xfe000000; /* hole */
	assert_int_equal(vcpu_handle_exit(&f->x, run), VCPU_CONTINUE);
	memcpy(&v, run->mmio.data, 4);
	assert_int_equal(v, 0xffffffff);
	run->mmio.len = 0;
	assert_int_equal(vcpu_handle_exit(&f->x, run), VCPU_FATAL);
	run->mmio.len = 9;
	assert_int_equal(vcpu_handle_exit(&f->x, run), VCPU_FATAL);
}

static void test_other_exits(void **state)
{
	struct fixture *f = *state;
	struct kvm_run *run = f->run;
	static const struct {
		uint32_t reason, type;
		enum vcpu_action want;
	} cases[] = {
	    {KVM_EXIT_SHUTDOWN, 0, VCPU_RESET},
	    {KVM_EXIT_SYSTEM_EVENT, KVM_SYSTEM_EVENT_SHUTDOWN, VCPU_SHUTDOWN},
	    {KVM_EXIT_SYSTEM_EVENT, KVM_SYSTEM_EVENT_RESET, VCPU_RESET},
	    {KVM_EXIT_SYSTEM_EVENT, KVM_SYSTEM_EVENT_CRASH, VCPU_FATAL},
	    {KVM_EXIT_FAIL_ENTRY, 0, VCPU_FATAL},
	    {KVM_EXIT_INTERNAL_ERROR, 0, VCPU_FATAL},
	    {KVM_EXIT_HLT, 0, VCPU_SHUTDOWN},
	    {KVM_EXIT_INTR, 0, VCPU_CONTINUE},
	    {999, 0, VCPU_FATAL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(run, 0, sizeof(*run));
		run->exit_reason = cases[i].reason;
		run->system_event.type = cases[i].type;
		assert_int_equal(vcpu_handle_exit(&f->x, run), cases[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_io_rep_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_io_in_unclaimed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_io_bounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mmio, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_exits, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
