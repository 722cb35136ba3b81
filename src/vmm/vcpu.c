/* vmm/vcpu.c — see vcpu.h. */
#include "vmm/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "vmm/vm.h"

static void vcpu_kick_handler(int sig)
{
	(void)sig;
}

int vcpu_signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vcpu_kick_handler;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGRTMIN, &sa, NULL) < 0 ? -errno : 0;
}

int vcpu_init(struct vcpu *v, struct vm *vm, unsigned index)
{
	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->index = index;
	v->kv.fd = -1;
	v->run = kvm_vcpu_run;
	v->state = VCPU_STATE_PAUSED;
	v->requested = VCPU_STATE_RUNNING;
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->cond, NULL);
	return 0;
}

void vcpu_fini(struct vcpu *v)
{
	kvm_vcpu_destroy(&v->kv);
	pthread_cond_destroy(&v->cond);
	pthread_mutex_destroy(&v->lock);
}

static void vcpu_kick(struct vcpu *v)
{
	if (v->kv.run)
		__atomic_store_n(&v->kv.run->immediate_exit, 1, __ATOMIC_RELEASE);
	if (v->started && !pthread_equal(v->thread, pthread_self()))
		pthread_kill(v->thread, SIGRTMIN);
}

void vcpu_request_async(struct vcpu *v, enum vcpu_state st)
{
	pthread_mutex_lock(&v->lock);
	if (v->requested != VCPU_STATE_STOPPED)
		v->requested = st;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	vcpu_kick(v);
}

void vcpu_request(struct vcpu *v, enum vcpu_state st)
{
	vcpu_request_async(v, st);
	if (st == VCPU_STATE_RUNNING || !v->started)
		return;
	pthread_mutex_lock(&v->lock);
	while (v->state != st && v->state != VCPU_STATE_STOPPED)
		pthread_cond_wait(&v->cond, &v->lock);
	pthread_mutex_unlock(&v->lock);
}

/* Honour pending requests. Returns false when the thread must exit. */
static bool vcpu_check_requests(struct vcpu *v)
{
	bool run;

	pthread_mutex_lock(&v->lock);
	while (v->requested == VCPU_STATE_PAUSED) {
		if (v->state != VCPU_STATE_PAUSED) {
			v->state = VCPU_STATE_PAUSED;
			pthread_cond_broadcast(&v->cond);
		}
		pthread_cond_wait(&v->cond, &v->lock);
	}
	v->state = v->requested;
	run = v->state == VCPU_STATE_RUNNING;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	return run;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct kvm_run *run = v->kv.run;
	enum vcpu_action act = VCPU_CONTINUE;

	__atomic_store_n(&v->tid, (int)gettid(), __ATOMIC_RELEASE);
	while (act == VCPU_CONTINUE && vcpu_check_requests(v)) {
		int r = v->run(&v->kv);

		if (r == -EINTR || r == -EAGAIN) {
			__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_RELEASE);
			continue;
		}
		if (r < 0) {
			log_err("vcpu%u: KVM_RUN failed: %s", v->index, strerror(-r));
			act = VCPU_FATAL;
			break;
		}
		if (run->exit_reason == KVM_EXIT_IO && !exit_io_data_ok(run, v->kv.run_size)) {
			act = VCPU_FATAL;
			break;
		}
		act = vcpu_handle_exit(&v->exit, run);
	}
	if (act != VCPU_CONTINUE) {
		memcpy(&v->last_exit, run, sizeof(*run));
		vm_vcpu_stopped(v->vm, v, act);
	}
	pthread_mutex_lock(&v->lock);
	v->state = VCPU_STATE_STOPPED;
	v->requested = VCPU_STATE_STOPPED;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	pthread_attr_t attr;
	char name[16];
	int r;

	pthread_attr_init(&attr);
	if (v->affinity)
		pthread_attr_setaffinity_np(&attr, sizeof(cpu_set_t), v->affinity);
	r = -pthread_create(&v->thread, &attr, vcpu_thread, v);
	pthread_attr_destroy(&attr);
	if (r)
		return r;
	v->started = true;
	snprintf(name, sizeof(name), "vcpu%u", v->index);
	pthread_setname_np(v->thread, name);
	return 0;
}

void vcpu_join(struct vcpu *v)
{
	if (v->started) {
		pthread_join(v->thread, NULL);
		v->started = false;
	}
}
