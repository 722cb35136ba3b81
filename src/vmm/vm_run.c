/* vmm/vm_run.c — run a created VM: serial and virtio consoles on the event loop, termination
 * signals through a signalfd, vCPU threads started and joined. */
#include "vmm/vm_priv.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "base/evloop.h"
#include "base/log.h"
#include "devices/legacy/rtc.h"
#include "devices/virtio/rng.h"
#include "vmm/console.h"

static void vm_console_quit(void *ctx)
{
	vm_request_stop(ctx, VM_EXIT_SIGNAL, 0);
}

static void vm_on_signal(void *ctx, int fd, uint32_t events)
{
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	log_info("received signal %u, stopping the VM", si.ssi_signo);
	vm_request_stop(ctx, VM_EXIT_SIGNAL, 0);
}

/* The RTC has no thread of its own: when the guest enables its update/alarm/periodic
 * interrupts, a timerfd on the event loop calls rtc_update() when the next one is due. The
 * deadline is re-read on every loop tick (at least every 50 ms). */
static void vm_rtc_timer_arm(struct vm *vm)
{
	struct itimerspec its = {0};
	uint64_t ns = rtc_next_event_ns(vm->rtc);

	if (vm->rtc_timer_fd < 0)
		return;
	if (ns) {
		ns = KVMM_MAX(ns, 100000ull);
		its.it_value.tv_sec = (time_t)(ns / 1000000000ull);
		its.it_value.tv_nsec = (long)(ns % 1000000000ull);
	}
	timerfd_settime(vm->rtc_timer_fd, 0, &its, NULL);
}

static void vm_on_rtc_timer(void *ctx, int fd, uint32_t events)
{
	struct vm *vm = ctx;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) == sizeof(n))
		rtc_update(vm->rtc);
}

static void vm_tick(void *ctx)
{
	struct vm *vm = ctx;

	console_poll(vm->console);
	vm_vconsole_poll(vm);
	vm_rtc_timer_arm(vm);
	virtio_rng_poll(vm->rng); /* requests held back by the rate limit */
}

static int vm_console_start(struct vm *vm)
{
	struct console_config cc = {
	    .in_fd = vm->serial_in_fd,
	    .out_fd = vm->serial_out_fd >= 0 ? vm->serial_out_fd : STDERR_FILENO,
	    .raw_tty = vm->cfg->serial == SERIAL_STDIO,
	    .escapes = vm->cfg->serial == SERIAL_STDIO,
	    .uart = vm->uart,
	    .el = vm->el,
	    .quit = vm_console_quit,
	    .quit_ctx = vm,
	};
	int e = vm->serial_in_fd < 0 ? 0 : console_create(&vm->console, &cc);

	if (!e)
		e = vm_vconsole_start(vm);
	if (e) {
		console_destroy(vm->console);
		vm->console = NULL;
	}
	return e;
}

int vm_run(struct vm *vm, struct vm_result *res)
{
	sigset_t term, old;
	int sfd, e;
	unsigned started = 0;

	steptime_mark(&vm->steps, "(until vm_run)");
	sigemptyset(&term);
	sigaddset(&term, SIGINT);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGHUP);
	/* Block before starting vCPU threads so they inherit the mask. */
	pthread_sigmask(SIG_BLOCK, &term, &old);
	sfd = signalfd(-1, &term, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		e = -errno;
		goto out_mask;
	}
	e = evloop_add(vm->el, sfd, EPOLLIN, vm_on_signal, vm);
	if (e)
		goto out_close;
	vm->rtc_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (vm->rtc_timer_fd >= 0 &&
	    evloop_add(vm->el, vm->rtc_timer_fd, EPOLLIN, vm_on_rtc_timer, vm)) {
		close(vm->rtc_timer_fd);
		vm->rtc_timer_fd = -1;
	}
	e = vm_console_start(vm);
	if (e)
		goto out_timer;
	steptime_mark(&vm->steps, "signals+console");
	for (; started < vm->ncpus; started++) {
		e = vcpu_start(&vm->vcpus[started]);
		if (e) {
			log_err("cannot start vcpu%u: %s", started, strerror(-e));
			vm_request_stop(vm, VM_EXIT_FATAL, 0);
			break;
		}
	}
	if (!e) {
		steptime_mark(&vm->steps, "start vcpu threads");
		vm_log_steps(vm, "");
	}
	if (!e)
		e = evloop_run(vm->el, 50, vm_tick, vm);
	if (e)
		vm_request_stop(vm, VM_EXIT_FATAL, 0);
	for (unsigned i = 0; i < started; i++)
		vcpu_join(&vm->vcpus[i]);
	*res = vm->result;
	console_destroy(vm->console);
	vm->console = NULL;
	vm_vconsole_stop(vm);
out_timer:
	if (vm->rtc_timer_fd >= 0) {
		evloop_del(vm->el, vm->rtc_timer_fd);
		close(vm->rtc_timer_fd);
		vm->rtc_timer_fd = -1;
	}
	evloop_del(vm->el, sfd);
out_close:
	close(sfd);
out_mask:
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return e;
}
