/* vmm/vm_qmp.c — see vm_qmp.h. */
#include "vmm/vm_qmp.h"

#include <errno.h>
#include <stdio.h>

#include "block/disk.h"
#include "devices/legacy/acpi_pm.h"
#include "vmm/qmp.h"
#include "vmm/qmp_server.h"
#include "vmm/vm_priv.h"

static enum qmp_runstate vm_qmp_runstate(void *ctx)
{
	struct vm *vm = ctx;
	bool stopping, fatal;

	pthread_mutex_lock(&vm->lock);
	stopping = vm->stopping;
	fatal = vm->fatal_vcpu != NULL;
	pthread_mutex_unlock(&vm->lock);
	if (stopping)
		return fatal ? QMP_RUNSTATE_INTERNAL_ERROR : QMP_RUNSTATE_SHUTDOWN;
	return vm_is_paused(vm) ? QMP_RUNSTATE_PAUSED : QMP_RUNSTATE_RUNNING;
}

static const char *vm_qmp_name(void *ctx)
{
	return ((struct vm *)ctx)->cfg->name;
}

static unsigned vm_qmp_ncpus(void *ctx)
{
	return ((struct vm *)ctx)->nvcpus_init;
}

/* vCPU index order is threads of a core, then cores, then sockets (cpu_topology_apic_id). */
static void vm_qmp_cpu_info(void *ctx, unsigned i, struct qmp_cpu_info *out)
{
	struct vm *vm = ctx;
	const struct cpu_topology *t = &vm->topo;

	out->thread_id = __atomic_load_n(&vm->vcpus[i].tid, __ATOMIC_ACQUIRE);
	out->thread = i % t->threads;
	out->core = (i / t->threads) % t->cores;
	out->socket = i / (t->threads * t->cores);
}

static unsigned vm_qmp_nblocks(void *ctx)
{
	return ((struct vm *)ctx)->cfg->ndisks;
}

static void vm_qmp_block_info(void *ctx, unsigned i, struct qmp_block_info *out)
{
	static const char *const names[VM_MAX_DISKS] = {"disk0", "disk1", "disk2", "disk3",
							"disk4", "disk5", "disk6", "disk7"};
	struct vm *vm = ctx;

	out->device = names[i];
	out->file = vm->cfg->disks[i].path;
	out->format = vm->disks[i] ? disk_format(vm->disks[i]) : "unknown";
	out->readonly = vm->disks[i] ? disk_is_readonly(vm->disks[i]) : true;
	out->size = vm->disks[i] ? disk_size(vm->disks[i]) : 0;
}

static int vm_qmp_stop(void *ctx, char *err)
{
	struct vm *vm = ctx;

	if (!vm->ctl_paused) {
		vm_pause(vm);
		vm->ctl_paused = true;
	}
	return 0;
}

static int vm_qmp_cont(void *ctx, char *err)
{
	struct vm *vm = ctx;

	if (vm->ctl_paused) {
		vm->ctl_paused = false;
		vm_resume(vm);
	}
	if (vm_is_paused(vm)) {
		snprintf(err, QMP_ERRLEN, "the VM is paused by kvmm itself (snapshot in progress)");
		return -EBUSY;
	}
	return 0;
}

static int vm_qmp_powerdown(void *ctx, char *err)
{
	acpi_pm_power_button(((struct vm *)ctx)->acpi_pm);
	return 0;
}

static int vm_qmp_reset(void *ctx, char *err)
{
	vm_request_stop_ctl(ctx, VM_EXIT_RESET);
	return 0;
}

static int vm_qmp_quit(void *ctx, char *err)
{
	vm_request_stop_ctl(ctx, VM_EXIT_SIGNAL);
	return 0;
}

/* vm_snapshot_save() takes its own pause. Left paused, that pause becomes the control
 * plane's (cont undoes it); a VM already stopped by stop stays stopped either way. */
static int vm_qmp_snapshot_save(void *ctx, const char *path, bool resume, char *err)
{
	struct vm *vm = ctx;
	bool keep_paused = !resume && !vm->ctl_paused;
	int e = vm_snapshot_save(vm, path, !keep_paused, err, QMP_ERRLEN);

	if (!e && keep_paused)
		vm->ctl_paused = true;
	return e;
}

static const struct qmp_vm_ops vm_qmp_ops = {
    .runstate = vm_qmp_runstate,
    .name = vm_qmp_name,
    .ncpus = vm_qmp_ncpus,
    .cpu_info = vm_qmp_cpu_info,
    .nblocks = vm_qmp_nblocks,
    .block_info = vm_qmp_block_info,
    .stop = vm_qmp_stop,
    .cont = vm_qmp_cont,
    .powerdown = vm_qmp_powerdown,
    .reset = vm_qmp_reset,
    .quit = vm_qmp_quit,
    .snapshot_save = vm_qmp_snapshot_save,
};

int vm_qmp_attach(struct vm *vm, struct qmp_server *srv)
{
	return qmp_server_attach(srv, vm->el, &vm_qmp_ops, vm);
}

void vm_qmp_detach(struct vm *vm, struct qmp_server *srv)
{
	qmp_server_detach(srv);
}

void vm_qmp_report_stop(struct qmp_server *srv, const struct vm_result *res, bool restarting)
{
	const char *reason = "guest-shutdown";
	bool guest = true;

	switch (res->kind) {
	case VM_EXIT_POWEROFF:
	case VM_EXIT_DEBUG_EXIT:
		break;
	case VM_EXIT_RESET:
		guest = !res->by_ctl;
		reason = res->by_ctl ? "host-qmp-system-reset" : "guest-reset";
		break;
	case VM_EXIT_SIGNAL:
		guest = false;
		reason = res->by_ctl ? "host-qmp-quit" : "host-signal";
		break;
	case VM_EXIT_FATAL:
		guest = false;
		reason = "host-error";
		break;
	}
	qmp_server_event(srv, restarting ? "RESET" : "SHUTDOWN",
			 json_pack("{s:b,s:s}", "guest", guest, "reason", reason));
}
