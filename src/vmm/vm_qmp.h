/* vmm/vm_qmp.h — connects the QMP server (qmp_server.h) to one struct vm: the qmp_vm_ops
 * implementation (stop/cont through vm_pause/vm_resume, system_powerdown through the ACPI power
 * button, system_reset and quit through vm_request_stop_ctl) and the SHUTDOWN/RESET events
 * for the way a VM ended.
 *
 * Threads: the main thread (the one that runs vm_run's event loop). */
#pragma once

#include <stdbool.h>

#include "base/compiler.h"

struct vm;
struct vm_result;
struct qmp_server;

/* Serve srv on vm's event loop until vm_qmp_detach(); call between vm_create and vm_run. */
int vm_qmp_attach(struct vm *vm, struct qmp_server *srv) KVMM_MUST_CHECK;
/* Before vm_destroy(). */
void vm_qmp_detach(struct vm *vm, struct qmp_server *srv);

/* After vm_run() returned res: emit RESET (restarting: --on-reboot restart after a reset) or
 * SHUTDOWN with QEMU's guest/reason fields (docs/qmp.md). */
void vm_qmp_report_stop(struct qmp_server *srv, const struct vm_result *res, bool restarting);
