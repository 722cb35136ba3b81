/* vmm/vm.h — the composition root: builds one virtual machine from a vm_config, runs it, and
 * tears it down. vm_create() wires everything in order and unwinds on failure.
 *
 * Threads: vm_create/vm_run/vm_destroy on the main thread, which runs the event loop inside
 * vm_run(). vm_request_stop(), vm_pause(), vm_resume() and the device event sink are safe from
 * any thread (vCPU threads, the event loop, later the control socket). Lock order: vm->lock,
 * then vcpu->lock, then bus device locks. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vmm/config.h"
#include "vmm/exit.h"

struct vm;
struct vcpu;

/* Why vm_run() returned. */
enum vm_exit_kind {
	VM_EXIT_POWEROFF,   /* ACPI S5, or KVM SYSTEM_EVENT shutdown: status 0 */
	VM_EXIT_RESET,	    /* reset with --on-reboot exit: status 0; restart: caller re-creates */
	VM_EXIT_DEBUG_EXIT, /* isa-debug-exit write: status (v << 1) | 1 */
	VM_EXIT_SIGNAL,	    /* SIGTERM/SIGINT/SIGHUP or the console escape: status 0 */
	VM_EXIT_FATAL,	    /* a vCPU hit an unrecoverable exit: diagnostic printed */
};

struct vm_result {
	enum vm_exit_kind kind;
	int code;    /* for VM_EXIT_DEBUG_EXIT */
	bool by_ctl; /* asked for on the control socket (QMP quit, system_reset) */
};

/* Build the VM. On failure *out is untouched and err holds one line for the user. */
int vm_create(const struct vm_config *cfg, struct vm **out, char *err,
	      size_t errlen) KVMM_MUST_CHECK;
void vm_destroy(struct vm *vm);

/* Start every vCPU and run the event loop until the VM stops. */
int vm_run(struct vm *vm, struct vm_result *res) KVMM_MUST_CHECK;

/* Stop the VM with this result (first caller wins). Any thread. */
void vm_request_stop(struct vm *vm, enum vm_exit_kind kind, int code);

/* The same, for a request from the control socket: the result has by_ctl set. */
void vm_request_stop_ctl(struct vm *vm, enum vm_exit_kind kind);

/* Pause/resume every vCPU; vm_pause returns once all are out of KVM_RUN. Not from a vCPU
 * thread. Pauses nest: the vCPUs run again at the vm_resume() matching the first vm_pause()
 * (QMP stop, then a snapshot's pause/resume, leaves the VM stopped). */
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
bool vm_is_paused(struct vm *vm);

/* Snapshot the whole VM into directory `dir` (created if missing; an older snapshot in it is
 * replaced): pause every vCPU (vm_pause), save vCPUs, irqchip, PIT, clock, devices and RAM,
 * then resume if `resume`; otherwise the VM stays paused and the caller owns that pause (one
 * vm_resume() undoes it). Not from a vCPU thread. On failure the VM is resumed as it was and
 * err holds one line. Restore with vm_config.restore (`kvmm run --restore DIR`). See
 * docs/snapshot.md. */
int vm_snapshot_save(struct vm *vm, const char *dir, bool resume, char *err,
		     size_t errlen) KVMM_MUST_CHECK;

/* The configuration saved in snapshot DIR (`kvmm run --restore DIR` alone rebuilds the same
 * machine), loaded into cfg like a --config file, before anything is created: the state file
 * is validated first. On failure err holds one line ("--restore DIR: ...") and cfg may hold
 * part of the saved options. Main thread. */
int vm_snapshot_read_config(const char *dir, struct vm_config *cfg, char *err,
			    size_t errlen) KVMM_MUST_CHECK;

/* Called by a vCPU thread whose exit handler returned a non-continue action. */
void vm_vcpu_stopped(struct vm *vm, struct vcpu *v, enum vcpu_action act);
