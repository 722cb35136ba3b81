/* tests/lib/qmp_fake_vm.h — a fake machine behind struct qmp_vm_ops (vmm/qmp.h) for the QMP
 * unit tests, the fuzzer and the qmp-fake-vm tool: it records what the control plane asked for
 * and answers queries from fixed data. Header-only so the fuzzer links it without tests/lib. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/qmp.h"

struct qmp_fake_vm {
	enum qmp_runstate state;
	const char *name;
	unsigned ncpus, nblocks;
	int fail_stop; /* -errno returned by stop (0: succeed) */
	unsigned nstop, ncont, npowerdown, nreset, nquit;
	unsigned nsnapshot; /* x-kvmm-snapshot-save calls; the last path and resume flag: */
	char snapshot_path[64];
	bool snapshot_resume;
};

static enum qmp_runstate qmp_fake_runstate(void *ctx)
{
	return ((struct qmp_fake_vm *)ctx)->state;
}

static const char *qmp_fake_name(void *ctx)
{
	return ((struct qmp_fake_vm *)ctx)->name;
}

static unsigned qmp_fake_ncpus(void *ctx)
{
	return ((struct qmp_fake_vm *)ctx)->ncpus;
}

static void qmp_fake_cpu_info(void *ctx, unsigned i, struct qmp_cpu_info *out)
{
	out->thread_id = 1000 + (int)i;
	out->socket = i / 2;
	out->core = 0;
	out->thread = i % 2;
}

static unsigned qmp_fake_nblocks(void *ctx)
{
	return ((struct qmp_fake_vm *)ctx)->nblocks;
}

static void qmp_fake_block_info(void *ctx, unsigned i, struct qmp_block_info *out)
{
	out->device = i ? "disk1" : "disk0";
	out->file = i ? "/images/b.raw" : "/images/a.qcow2";
	out->format = i ? "raw" : "qcow2";
	out->readonly = i != 0;
	out->size = (uint64_t)(i + 1) << 30;
}

static int qmp_fake_stop(void *ctx, char *err)
{
	struct qmp_fake_vm *f = ctx;

	if (f->fail_stop) {
		snprintf(err, QMP_ERRLEN, "fake stop failure");
		return f->fail_stop;
	}
	if (f->state == QMP_RUNSTATE_RUNNING)
		f->nstop++; /* counts transitions */
	f->state = QMP_RUNSTATE_PAUSED;
	return 0;
}

static int qmp_fake_cont(void *ctx, char *err)
{
	struct qmp_fake_vm *f = ctx;

	f->ncont++;
	f->state = QMP_RUNSTATE_RUNNING;
	return 0;
}

static int qmp_fake_powerdown(void *ctx, char *err)
{
	((struct qmp_fake_vm *)ctx)->npowerdown++;
	return 0;
}

static int qmp_fake_reset(void *ctx, char *err)
{
	((struct qmp_fake_vm *)ctx)->nreset++;
	return 0;
}

static int qmp_fake_quit(void *ctx, char *err)
{
	struct qmp_fake_vm *f = ctx;

	f->nquit++;
	f->state = QMP_RUNSTATE_SHUTDOWN;
	return 0;
}

static int qmp_fake_snapshot_save(void *ctx, const char *path, bool resume, char *err)
{
	struct qmp_fake_vm *f = ctx;

	if (!path[0]) {
		snprintf(err, QMP_ERRLEN, "snapshot: cannot create '': No such file or directory");
		return -ENOENT;
	}
	f->nsnapshot++;
	snprintf(f->snapshot_path, sizeof(f->snapshot_path), "%s", path);
	f->snapshot_resume = resume;
	if (!resume)
		f->state = QMP_RUNSTATE_PAUSED;
	return 0;
}

static const struct qmp_vm_ops qmp_fake_vm_ops = {
    .runstate = qmp_fake_runstate,
    .name = qmp_fake_name,
    .ncpus = qmp_fake_ncpus,
    .cpu_info = qmp_fake_cpu_info,
    .nblocks = qmp_fake_nblocks,
    .block_info = qmp_fake_block_info,
    .stop = qmp_fake_stop,
    .cont = qmp_fake_cont,
    .powerdown = qmp_fake_powerdown,
    .reset = qmp_fake_reset,
    .quit = qmp_fake_quit,
    .snapshot_save = qmp_fake_snapshot_save,
};

static inline void qmp_fake_vm_init(struct qmp_fake_vm *f)
{
	memset(f, 0, sizeof(*f));
	f->state = QMP_RUNSTATE_RUNNING;
	f->name = "fake";
	f->ncpus = 2;
	f->nblocks = 2;
}
