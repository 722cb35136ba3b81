/* vmm/vm.c — see vm.h. Build order: config checks, kernel/initrd files, guest memory, devices
 * and tables, kernel load — all before /dev/kvm is opened, so user errors never depend on KVM —
 * then KVM: memory slots, irqchip and PIT, vCPUs. vm_destroy() undoes whatever was built. */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "base/evloop.h"
#include "base/log.h"
#include "base/steptime.h"
#include "kvm/kvm.h"
#include "vmm/snapshot.h"
#include "vmm/vm_priv.h"

/* Map a whole file read-only. Empty files are rejected by the caller's format checks. */
static int map_file(const char *what, const char *path, uint8_t **buf, size_t *len, char *err,
		    size_t errlen)
{
	struct stat st;
	void *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC), e;

	if (fd < 0) {
		e = -errno;
		snprintf(err, errlen, "cannot open %s '%s': %s", what, path, strerror(-e));
		return e;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		e = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		snprintf(err, errlen, "%s '%s' is %s", what, path,
			 e == -EISDIR ? "a directory" : "empty or not a regular file");
		close(fd);
		return e;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	e = p == MAP_FAILED ? -errno : 0;
	close(fd);
	if (e) {
		snprintf(err, errlen, "cannot read %s '%s': %s", what, path, strerror(-e));
		return e;
	}
	*buf = p;
	*len = (size_t)st.st_size;
	return 0;
}

static int vm_parse_cpus(struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *c = vm->cfg;
	cpu_set_t host;
	int e;

	char msg[VM_CONFIG_ERRLEN] = "";

	e = cpu_topology_parse(c->cpus, &vm->ncpus, &vm->topo, msg, sizeof(msg));
	if (e) {
		snprintf(err, errlen, "--cpus %s: %s", c->cpus, msg);
		return e;
	}
	if (vm->ncpus > VM_MAX_VCPUS) {
		snprintf(err, errlen, "--cpus %u: kvmm supports at most %d vCPUs", vm->ncpus,
			 VM_MAX_VCPUS);
		return -EINVAL;
	}
	e = cpu_model_parse(c->cpu_model, &vm->model, msg, sizeof(msg));
	if (e) {
		snprintf(err, errlen, "--cpu %s: %s", c->cpu_model, msg);
		return e;
	}
	for (unsigned i = 0; i < vm->ncpus; i++)
		vm->apic_ids[i] = cpu_topology_apic_id(&vm->topo, i);
	if (sched_getaffinity(0, sizeof(host), &host) < 0)
		CPU_ZERO(&host);
	for (unsigned i = 0; i < c->naffinity; i++) {
		cpu_set_t both;

		if (c->affinity[i].vcpu >= vm->ncpus) {
			snprintf(err, errlen, "--cpu-affinity: vCPU %u does not exist (--cpus %u)",
				 c->affinity[i].vcpu, vm->ncpus);
			return -EINVAL;
		}
		CPU_AND(&both, &host, &c->affinity[i].cpus);
		if (!CPU_EQUAL(&both, &c->affinity[i].cpus)) {
			snprintf(err, errlen,
				 "--cpu-affinity: host CPUs for vCPU %u are not all "
				 "available to kvmm (see taskset -p %d)",
				 c->affinity[i].vcpu, getpid());
			return -EINVAL;
		}
	}
	return 0;
}

static int vm_load_files(struct vm *vm, char *err, size_t errlen)
{
	int e;

	if (vm->cfg->kernel) {
		e = map_file("kernel", vm->cfg->kernel, &vm->kernel_buf, &vm->kernel_len, err,
			     errlen);
		if (e)
			return e;
		vm->kernel_mapped = true;
	} else if (vm->cfg->kernel_data) {
		vm->kernel_buf = (uint8_t *)(uintptr_t)vm->cfg->kernel_data;
		vm->kernel_len = vm->cfg->kernel_data_len;
	} else {
		snprintf(err, errlen, "no kernel given (use --kernel PATH)");
		return -EINVAL;
	}
	if (vm->cfg->initrd) {
		e = map_file("initrd", vm->cfg->initrd, &vm->initrd_buf, &vm->initrd_len, err,
			     errlen);
		if (e)
			return e;
		vm->initrd_mapped = true;
	}
	return 0;
}

static int vm_load_kernel(struct vm *vm, char *err, size_t errlen)
{
	struct boot_input in = {
	    .kernel = vm->kernel_buf,
	    .kernel_len = vm->kernel_len,
	    .kernel_name = vm->cfg->kernel ? vm->cfg->kernel : vm->cfg->kernel_data_name,
	    .initrd = vm->initrd_buf,
	    .initrd_len = vm->initrd_len,
	    .cmdline = vm->cfg->cmdline,
	    .e820 = &vm->e820,
	    .rsdp = vm->rsdp,
	};
	char msg[VM_CONFIG_ERRLEN] = "";
	int e = boot_load(vm->mem, &in, &vm->boot, msg, sizeof(msg));

	if (e)
		snprintf(err, errlen, "kernel '%s': %s", in.kernel_name,
			 msg[0] ? msg : strerror(-e));
	return e;
}

static int vm_platform_create(struct vm *vm, char *err, size_t errlen)
{
	const char *what = "KVM_SET_TSS_ADDR";
	int e = kvm_set_tss_addr(vm->kvm, LAYOUT_KVM_TSS);

	if (!e) {
		what = "KVM_SET_IDENTITY_MAP_ADDR";
		e = kvm_set_identity_map_addr(vm->kvm, LAYOUT_KVM_IDENTITY_MAP);
	}
	if (!e) {
		what = "KVM_CREATE_IRQCHIP";
		e = kvm_create_irqchip(vm->kvm);
	}
	if (!e) {
		what = "KVM_CREATE_PIT2";
		e = kvm_create_pit2(vm->kvm);
	}
	if (e)
		snprintf(err, errlen, "%s failed: %s", what, strerror(-e));
	return e;
}

/* The steps of vm_create() and vm_run() (base/steptime.h): one line at -v for a restore
 * ("restore: ..."), at -vv for a boot ("create: ..."); after a failure, at -vv, the steps
 * that ran. */
void vm_log_steps(struct vm *vm, const char *what)
{
	char line[768];
	bool restore = vm->cfg->restore != NULL;

	if (log_get_level() < (restore ? LOG_INFO : LOG_DEBUG))
		return;
	steptime_format(&vm->steps, line, sizeof(line));
	log_msg(restore ? LOG_INFO : LOG_DEBUG, "%s%s: %s", restore ? "restore" : "create", what,
		line);
}

int vm_create(const struct vm_config *cfg, struct vm **out, char *err, size_t errlen)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	struct steptime *st;
	int e;

	if (!vm)
		return -ENOMEM;
	st = &vm->steps;
	steptime_start(st);
	vm->cfg = cfg;
	vm->serial_out_fd = -1;
	vm->serial_in_fd = -1;
	vm->rtc_timer_fd = -1;
	vm->ram_fd = -1;
	vm->snap_dirfd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	e = vm_parse_cpus(vm, err, errlen);
	/* --restore: the snapshot replaces the kernel; RAM is mapped from it once the devices
	 * exist (a restore writes no tables into RAM: the memory file holds the guest's). */
	if (!e) {
		steptime_mark(st, "cpus");
		e = cfg->restore ? vm_snapshot_open(vm, err, errlen)
				 : vm_load_files(vm, err, errlen);
	}
	if (!e) {
		steptime_mark(st, cfg->restore ? "read+validate state" : "map kernel");
		e = vm_memory_create(vm, err, errlen);
	}
	if (!e) {
		steptime_mark(st, "guest memory");
		e = evloop_create(&vm->el);
	}
	if (!e) {
		steptime_mark(st, "event loop");
		e = vm_devices_create(vm, err, errlen);
	}
	if (!e) {
		steptime_mark(st, cfg->restore ? "devices (rest)" : "MP table");
		e = cfg->restore ? vm_snapshot_map_memory(vm, err, errlen)
				 : vm_load_kernel(vm, err, errlen);
	}
	/* Everything a user can get wrong is checked above, before /dev/kvm is opened. */
	if (!e) {
		steptime_mark(st, cfg->restore ? "map memory file" : "load kernel");
		e = vcpu_signals_init();
	}
	if (!e)
		e = kvm_open(&vm->kvm, cfg->kvm_path, err, errlen);
	if (!e) {
		steptime_mark(st, "KVM vm");
		e = vm_memory_register(vm, err, errlen);
	}
	if (!e) {
		steptime_mark(st, "memory slots");
		e = vm_platform_create(vm, err, errlen);
	}
	if (!e) {
		steptime_mark(st, "irqchip+PIT");
		e = vm_pci_start(vm, err, errlen);
	}
	if (!e) {
		steptime_mark(st, "pci");
		e = vm_cpus_create(vm, err, errlen);
	}
	if (!e)
		steptime_mark(st, "vcpus (rest)");
	if (!e && cfg->restore) {
		e = vm_snapshot_load(vm, err, errlen);
		if (!e)
			steptime_mark(st, "load state");
	}
	if (!e && cfg->restore)
		log_info("restored %s: VM ready to run %.2f ms after vm_create() began",
			 cfg->restore, (double)steptime_total_ns(st) / 1e6);
	vm_snapshot_close(vm);
	if (e) {
		steptime_mark(st, "(failed)");
		if (log_get_level() >= LOG_DEBUG)
			vm_log_steps(vm, " failed");
		if (!err[0])
			snprintf(err, errlen, "cannot create the VM: %s", strerror(-e));
		vm_destroy(vm);
		return e;
	}
	*out = vm;
	return 0;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	vm_cpus_destroy(vm);
	vm_devices_destroy(vm);
	evloop_destroy(vm->el);
	vm_memory_destroy(vm);
	kvm_close(vm->kvm);
	if (vm->kernel_mapped)
		munmap(vm->kernel_buf, vm->kernel_len);
	if (vm->initrd_mapped)
		munmap(vm->initrd_buf, vm->initrd_len);
	bus_fini(&vm->pio);
	bus_fini(&vm->mmio);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

static void vm_stop(struct vm *vm, enum vm_exit_kind kind, int code, bool by_ctl)
{
	bool first;

	pthread_mutex_lock(&vm->lock);
	first = !vm->stopping;
	if (first) {
		vm->stopping = true;
		vm->result = (struct vm_result){kind, code, by_ctl};
	}
	pthread_mutex_unlock(&vm->lock);
	if (!first)
		return;
	for (unsigned i = 0; i < vm->nvcpus_init; i++)
		vcpu_request_async(&vm->vcpus[i], VCPU_STATE_STOPPED);
	evloop_stop(vm->el);
}

void vm_request_stop(struct vm *vm, enum vm_exit_kind kind, int code)
{
	vm_stop(vm, kind, code, false);
}

void vm_request_stop_ctl(struct vm *vm, enum vm_exit_kind kind)
{
	vm_stop(vm, kind, 0, true);
}

void vm_vcpu_stopped(struct vm *vm, struct vcpu *v, enum vcpu_action act)
{
	switch (act) {
	case VCPU_CONTINUE:
		return;
	case VCPU_RESET:
		vm_request_stop(vm, VM_EXIT_RESET, 0);
		return;
	case VCPU_SHUTDOWN:
		vm_request_stop(vm, VM_EXIT_POWEROFF, 0);
		return;
	case VCPU_FATAL: {
		bool first;

		pthread_mutex_lock(&vm->lock);
		first = !vm->stopping && !vm->fatal_vcpu;
		if (first)
			vm->fatal_vcpu = v;
		pthread_mutex_unlock(&vm->lock);
		if (first)
			vm_diag_fatal(vm, v);
		vm_request_stop(vm, VM_EXIT_FATAL, 0);
		return;
	}
	}
}

void vm_pause(struct vm *vm)
{
	bool first;

	pthread_mutex_lock(&vm->lock);
	first = vm->pause_depth++ == 0;
	pthread_mutex_unlock(&vm->lock);
	/* vm->lock is not held while waiting: a vCPU may be taking it to stop the VM. */
	for (unsigned i = 0; first && i < vm->nvcpus_init; i++)
		vcpu_request(&vm->vcpus[i], VCPU_STATE_PAUSED);
}

void vm_resume(struct vm *vm)
{
	bool last;

	pthread_mutex_lock(&vm->lock);
	last = vm->pause_depth == 1;
	if (vm->pause_depth)
		vm->pause_depth--;
	pthread_mutex_unlock(&vm->lock);
	for (unsigned i = 0; last && i < vm->nvcpus_init; i++)
		vcpu_request(&vm->vcpus[i], VCPU_STATE_RUNNING);
}

bool vm_is_paused(struct vm *vm)
{
	bool p;

	pthread_mutex_lock(&vm->lock);
	p = vm->pause_depth > 0;
	pthread_mutex_unlock(&vm->lock);
	return p;
}
