/* vmm/exit.c — see exit.h. */
#include "vmm/exit.h"

#include <stddef.h>
#include <stdint.h>

#include "base/ckd.h"
#include "vmm/bus.h"

int exit_io_data_ok(const struct kvm_run *run, size_t run_size)
{
	uint64_t bytes, end;

	if (ckd_mul(&bytes, (uint64_t)run->io.size, (uint64_t)run->io.count) ||
	    ckd_add(&end, (uint64_t)run->io.data_offset, bytes))
		return 0;
	return run->io.data_offset >= sizeof(*run) && end <= run_size;
}

/* Port I/O, including string/rep I/O: KVM hands over `count` items of `size` bytes at
 * data_offset; each item is one device access in order. */
static enum vcpu_action handle_io(const struct exit_ctx *x, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint32_t size = run->io.size;

	if (size != 1 && size != 2 && size != 4)
		return VCPU_FATAL;
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			bus_write(x->pio, run->io.port, data, size);
		else
			bus_read(x->pio, run->io.port, data, size);
	}
	return VCPU_CONTINUE;
}

static enum vcpu_action handle_mmio(const struct exit_ctx *x, struct kvm_run *run)
{
	uint32_t len = run->mmio.len;

	if (len == 0 || len > sizeof(run->mmio.data))
		return VCPU_FATAL;
	if (run->mmio.is_write)
		bus_write(x->mmio, run->mmio.phys_addr, run->mmio.data, len);
	else
		bus_read(x->mmio, run->mmio.phys_addr, run->mmio.data, len);
	return VCPU_CONTINUE;
}

static enum vcpu_action handle_system_event(const struct kvm_run *run)
{
	switch (run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		return VCPU_SHUTDOWN;
	case KVM_SYSTEM_EVENT_RESET:
		return VCPU_RESET;
	default:
		return VCPU_FATAL;
	}
}

enum vcpu_action vcpu_handle_exit(const struct exit_ctx *x, struct kvm_run *run)
{
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return handle_io(x, run);
	case KVM_EXIT_MMIO:
		return handle_mmio(x, run);
	case KVM_EXIT_HLT:
		/* Only without an in-kernel irqchip; kvmm always has one, so the guest
		 * halted with interrupts it can never receive: treat as power-off. */
		return VCPU_SHUTDOWN;
	case KVM_EXIT_SHUTDOWN:
		return VCPU_RESET; /* triple fault */
	case KVM_EXIT_SYSTEM_EVENT:
		return handle_system_event(run);
	case KVM_EXIT_INTR:
		return VCPU_CONTINUE;
	case KVM_EXIT_FAIL_ENTRY:
	case KVM_EXIT_INTERNAL_ERROR:
	default:
		return VCPU_FATAL;
	}
}
