/* vmm/qmp_commands.c — the QMP command table: one const entry per command (name, handler,
 * arguments), with QEMU's names, argument shapes and reply shapes. Handlers see the machine
 * only through struct qmp_vm_ops (see qmp.h for how to add a command). */
#include "vmm/qmp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/version.h"

/* An action op's failure as a GenericError (its message, or strerror). */
static int qmp_op_result(struct qmp_call *c, int e, const char *err)
{
	if (!e)
		return 0;
	return qmp_call_error(c, QMP_ERR_GENERIC, "%s", err[0] ? err : strerror(-e));
}

/* {"enable": ["oob"]} is QEMU's only capability; kvmm offers none (no out-of-band). */
static int qmp_cmd_capabilities(struct qmp_call *c)
{
	json_t *en = json_object_get(c->args, "enable"), *v;
	size_t i;

	json_array_foreach(en, i, v)
	{
		if (!json_is_string(v))
			return qmp_call_error(c, QMP_ERR_GENERIC,
					      "Invalid parameter type for 'enable[%zu]', expected: "
					      "string",
					      i);
		if (strcmp(json_string_value(v), "oob"))
			return qmp_call_error(c, QMP_ERR_GENERIC,
					      "Parameter 'enable[%zu]' does not accept value "
					      "'%.*s'",
					      i, QMP_MAX_NAME_LEN, json_string_value(v));
		return qmp_call_error(c, QMP_ERR_GENERIC, "Capability 'oob' not available");
	}
	c->session->negotiated = true;
	return 0;
}

static int qmp_cmd_query_commands(struct qmp_call *c)
{
	json_t *list = json_array();

	for (size_t i = 0; list && i < qmp_ncommands; i++)
		json_array_append_new(list, json_pack("{s:s}", "name", qmp_commands[i].name));
	c->ret = list;
	return list ? 0 : -ENOMEM;
}

static int qmp_cmd_query_version(struct qmp_call *c)
{
	c->ret = json_pack("{s:{s:i,s:i,s:i},s:s}", "qemu", "micro", KVMM_VERSION_MICRO, "minor",
			   KVMM_VERSION_MINOR, "major", KVMM_VERSION_MAJOR, "package",
			   "kvmm " KVMM_VERSION);
	return c->ret ? 0 : -ENOMEM;
}

static int qmp_cmd_query_status(struct qmp_call *c)
{
	enum qmp_runstate st = c->env->ops->runstate(c->env->ctx);

	c->ret = json_pack("{s:b,s:b,s:s}", "running", st == QMP_RUNSTATE_RUNNING, "singlestep", 0,
			   "status", qmp_runstate_name(st));
	return c->ret ? 0 : -ENOMEM;
}

static int qmp_cmd_query_name(struct qmp_call *c)
{
	const char *name = c->env->ops->name(c->env->ctx);

	c->ret = name ? json_pack("{s:s}", "name", name) : json_object();
	return c->ret ? 0 : -ENOMEM;
}

/* kvmm always runs on KVM: a VM that answers has /dev/kvm open. */
static int qmp_cmd_query_kvm(struct qmp_call *c)
{
	c->ret = json_pack("{s:b,s:b}", "enabled", 1, "present", 1);
	return c->ret ? 0 : -ENOMEM;
}

static int qmp_cmd_query_cpus_fast(struct qmp_call *c)
{
	const struct qmp_env *env = c->env;
	unsigned n = env->ops->ncpus(env->ctx);
	json_t *list = json_array();

	for (unsigned i = 0; list && i < n; i++) {
		struct qmp_cpu_info ci = {0};
		char path[64];

		env->ops->cpu_info(env->ctx, i, &ci);
		snprintf(path, sizeof(path), "/machine/unattached/device[%u]", i);
		json_array_append_new(
		    list, json_pack("{s:i,s:s,s:i,s:{s:i,s:i,s:i},s:s}", "cpu-index", (int)i,
				    "qom-path", path, "thread-id", ci.thread_id, "props",
				    "socket-id", (int)ci.socket, "core-id", (int)ci.core,
				    "thread-id", (int)ci.thread, "target", "x86_64"));
	}
	c->ret = list;
	return list ? 0 : -ENOMEM;
}

static json_t *qmp_block_json(const struct qmp_block_info *b)
{
	return json_pack("{s:s,s:s,s:b,s:b,s:s,s:s,s:{s:s,s:b,s:s,s:b,s:i,s:s,s:{s:s,s:s,s:I}}}",
			 "device", b->device, "qdev", b->device, "locked", 0, "removable", 0,
			 "io-status", "ok", "type", "unknown", "inserted", "file", b->file, "ro",
			 b->readonly, "drv", b->format, "encrypted", 0, "backing_file_depth", 0,
			 "node-name", b->device, "image", "filename", b->file, "format", b->format,
			 "virtual-size", (json_int_t)b->size);
}

static int qmp_cmd_query_block(struct qmp_call *c)
{
	const struct qmp_env *env = c->env;
	unsigned n = env->ops->nblocks(env->ctx);
	json_t *list = json_array();

	for (unsigned i = 0; list && i < n; i++) {
		struct qmp_block_info b = {0};

		env->ops->block_info(env->ctx, i, &b);
		json_array_append_new(list, qmp_block_json(&b));
	}
	c->ret = list;
	return list ? 0 : -ENOMEM;
}

static int qmp_cmd_stop(struct qmp_call *c)
{
	const struct qmp_env *env = c->env;
	char err[QMP_ERRLEN] = "";
	int e;
	enum qmp_runstate st = env->ops->runstate(env->ctx);

	if (st == QMP_RUNSTATE_SHUTDOWN || st == QMP_RUNSTATE_INTERNAL_ERROR)
		return 0;
	/* Also when paused by someone else (a snapshot): the VM must stay stopped after it. */
	e = env->ops->stop(env->ctx, err);
	if (!e && st == QMP_RUNSTATE_RUNNING)
		qmp_emit(env, "STOP", NULL); /* QEMU: no STOP event when not running */
	return qmp_op_result(c, e, err);
}

static int qmp_cmd_cont(struct qmp_call *c)
{
	const struct qmp_env *env = c->env;
	enum qmp_runstate st = env->ops->runstate(env->ctx);
	char err[QMP_ERRLEN] = "";
	int e;

	switch (st) {
	case QMP_RUNSTATE_RUNNING:
		return 0;
	case QMP_RUNSTATE_PAUSED:
		break;
	case QMP_RUNSTATE_SHUTDOWN:
	case QMP_RUNSTATE_INTERNAL_ERROR:
		return qmp_call_error(c, QMP_ERR_GENERIC,
				      "Resetting the Virtual Machine is required");
	case QMP_RUNSTATE_SAVE_VM:
	case QMP_RUNSTATE_RESTORE_VM:
		return qmp_call_error(c, QMP_ERR_GENERIC, "The VM is busy (%s)",
				      qmp_runstate_name(st));
	}
	e = env->ops->cont(env->ctx, err);
	if (!e)
		qmp_emit(env, "RESUME", NULL);
	return qmp_op_result(c, e, err);
}

/* QEMU emits POWERDOWN when the button is pressed; SHUTDOWN follows when the guest powers off. */
static int qmp_cmd_system_powerdown(struct qmp_call *c)
{
	const struct qmp_env *env = c->env;
	char err[QMP_ERRLEN] = "";
	int e = env->ops->powerdown(env->ctx, err);

	if (!e)
		qmp_emit(env, "POWERDOWN", NULL);
	return qmp_op_result(c, e, err);
}

/* RESET (or SHUTDOWN with --on-reboot exit) is emitted by the VM side when the reset happens. */
static int qmp_cmd_system_reset(struct qmp_call *c)
{
	char err[QMP_ERRLEN] = "";

	return qmp_op_result(c, c->env->ops->reset(c->env->ctx, err), err);
}

/* The reply goes out first; SHUTDOWN (reason host-qmp-quit) follows as the VM stops. */
static int qmp_cmd_quit(struct qmp_call *c)
{
	char err[QMP_ERRLEN] = "";

	return qmp_op_result(c, c->env->ops->quit(c->env->ctx, err), err);
}

/* kvmm's snapshot (docs/snapshot.md): {"path": DIR, "resume": bool (default false)}. Like
 * QEMU's migration to a file, the VM is left paused unless resume is true; STOP is emitted when
 * a running VM stays paused. */
static int qmp_cmd_x_kvmm_snapshot_save(struct qmp_call *c)
{
	const struct qmp_env *env = c->env;
	enum qmp_runstate st = env->ops->runstate(env->ctx);
	json_t *r = json_object_get(c->args, "resume");
	bool resume = r && json_is_true(r);
	char err[QMP_ERRLEN] = "";
	int e;

	switch (st) {
	case QMP_RUNSTATE_RUNNING:
	case QMP_RUNSTATE_PAUSED:
		break;
	case QMP_RUNSTATE_SHUTDOWN:
	case QMP_RUNSTATE_INTERNAL_ERROR:
	case QMP_RUNSTATE_SAVE_VM:
	case QMP_RUNSTATE_RESTORE_VM:
		return qmp_call_error(c, QMP_ERR_GENERIC, "The VM cannot be saved now (%s)",
				      qmp_runstate_name(st));
	}
	e = env->ops->snapshot_save(env->ctx, json_string_value(json_object_get(c->args, "path")),
				    resume, err);
	if (!e && !resume && st == QMP_RUNSTATE_RUNNING)
		qmp_emit(env, "STOP", NULL);
	return qmp_op_result(c, e, err);
}

/* Sorted by name, as query-commands lists them. */
const struct qmp_command qmp_commands[] = {
    {"cont", qmp_cmd_cont, {{.name = NULL}}, 0},
    {"qmp_capabilities",
     qmp_cmd_capabilities,
     {{"enable", QMP_ARG_ARRAY, true}, {.name = NULL}},
     QMP_CMD_NEGOTIATION},
    {"query-block", qmp_cmd_query_block, {{.name = NULL}}, 0},
    {"query-commands", qmp_cmd_query_commands, {{.name = NULL}}, 0},
    {"query-cpus-fast", qmp_cmd_query_cpus_fast, {{.name = NULL}}, 0},
    {"query-kvm", qmp_cmd_query_kvm, {{.name = NULL}}, 0},
    {"query-name", qmp_cmd_query_name, {{.name = NULL}}, 0},
    {"query-status", qmp_cmd_query_status, {{.name = NULL}}, 0},
    {"query-version", qmp_cmd_query_version, {{.name = NULL}}, 0},
    {"quit", qmp_cmd_quit, {{.name = NULL}}, 0},
    {"stop", qmp_cmd_stop, {{.name = NULL}}, 0},
    {"system_powerdown", qmp_cmd_system_powerdown, {{.name = NULL}}, 0},
    {"system_reset", qmp_cmd_system_reset, {{.name = NULL}}, 0},
    {"x-kvmm-snapshot-save",
     qmp_cmd_x_kvmm_snapshot_save,
     {{"path", QMP_ARG_STR, false}, {"resume", QMP_ARG_BOOL, true}, {.name = NULL}},
     0},
};
const size_t qmp_ncommands = ARRAY_SIZE(qmp_commands);

const struct qmp_command *qmp_command_find(const char *name)
{
	for (size_t i = 0; i < qmp_ncommands; i++)
		if (!strcmp(qmp_commands[i].name, name))
			return &qmp_commands[i];
	return NULL;
}
