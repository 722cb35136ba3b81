/* vmm/exit.h — decode one KVM exit and dispatch it: a pure function of the exit context and the
 * kvm_run page, so unit tests feed it synthetic struct kvm_run values.
 * Called on the vCPU thread that owns `run`. */
#pragma once

#include <stddef.h>

#include <linux/kvm.h>

struct bus;

enum vcpu_action {
	VCPU_CONTINUE, /* re-enter the guest */
	VCPU_RESET,    /* guest asked for a reset (triple fault, SYSTEM_EVENT reset) */
	VCPU_SHUTDOWN, /* guest asked to power off (SYSTEM_EVENT shutdown) */
	VCPU_FATAL,    /* unrecoverable: print a diagnostic and stop the VM */
};

struct exit_ctx {
	struct bus *pio;
	struct bus *mmio;
	unsigned vcpu_index;
};

enum vcpu_action vcpu_handle_exit(const struct exit_ctx *x, struct kvm_run *run);

/* Bytes that an IO exit may touch in the kvm_run page: checked against the mapping size. */
int exit_io_data_ok(const struct kvm_run *run, size_t run_size);
