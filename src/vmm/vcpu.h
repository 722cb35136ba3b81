/* vmm/vcpu.h — one thread per vCPU and its RUNNING ⇄ PAUSED → STOPPED state machine.
 *
 * The vCPU thread is the only one that touches its kvm_vcpu (registers, KVM_RUN). Other threads
 * change its state with vcpu_request(), which kicks the thread out of KVM_RUN
 * (run->immediate_exit plus a SIGRTMIN whose handler is empty) and, for PAUSED, waits until the
 * thread has acknowledged. Lock order: vm->lock before vcpu->lock. */
#pragma once

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>

#include "base/compiler.h"
#include "kvm/kvm.h"
#include "vmm/exit.h"

struct vm;

enum vcpu_state { VCPU_STATE_RUNNING, VCPU_STATE_PAUSED, VCPU_STATE_STOPPED };

struct vcpu {
	struct vm *vm;
	unsigned index;
	struct kvm_vcpu kv;
	struct exit_ctx exit;
	const cpu_set_t *affinity; /* NULL: no pinning */
	/* Enters the guest: kvm_vcpu_run, unless a test substitutes a simulated guest. */
	int (*run)(struct kvm_vcpu *kv);
	pthread_t thread;
	bool started;
	int tid; /* host thread id once the thread runs (atomic; QMP query-cpus-fast) */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum vcpu_state state;	   /* what the thread is doing (acknowledged) */
	enum vcpu_state requested; /* what it was asked to do */
	struct kvm_run last_exit;  /* copy of the exit that stopped it, for diagnostics */
};

/* Install the empty SIGRTMIN handler used for kicks (process-wide, idempotent). */
int vcpu_signals_init(void) KVMM_MUST_CHECK;

int vcpu_init(struct vcpu *v, struct vm *vm, unsigned index) KVMM_MUST_CHECK;
void vcpu_fini(struct vcpu *v);

/* Start the thread ("vcpuN"), pinned to v->affinity if set. */
int vcpu_start(struct vcpu *v) KVMM_MUST_CHECK;

/* Ask the thread to move to `st`; for PAUSED and STOPPED wait until it has. Any thread except
 * the vCPU's own (which must use vcpu_request_async). */
void vcpu_request(struct vcpu *v, enum vcpu_state st);
void vcpu_request_async(struct vcpu *v, enum vcpu_state st);

/* Join a thread that was asked to stop. */
void vcpu_join(struct vcpu *v);
