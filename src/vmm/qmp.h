/* vmm/qmp.h — the QMP protocol (QEMU Machine Protocol) without sockets and without a VM.
 *
 * A qmp_session turns a byte stream from one client into JSON messages (a bounded streaming
 * splitter: at most QMP_MAX_MESSAGE bytes and QMP_MAX_DEPTH levels per message), checks them as
 * QEMU does (capabilities negotiation, "execute"/"arguments"/"id", argument names and types
 * against the command table) and dispatches to the handlers in qmp_commands.c. Handlers reach
 * the machine only through struct qmp_vm_ops, so unit tests and the fuzzer drive the whole
 * protocol with a fake VM (tests/lib/qmp_fake_vm.h). Replies and events leave as complete JSON
 * texts ending in "\r\n" through the session's send callback. Error classes, messages and reply
 * shapes follow QEMU 7.2 (docs/qmp.md).
 *
 * Adding a command: write `static int qmp_cmd_NAME(struct qmp_call *c)` in qmp_commands.c and
 * add one entry to qmp_commands[] with its argument list; if it needs the machine, add an op
 * to struct qmp_vm_ops and implement it in vm_qmp.c (and in the fake VM).
 *
 * Threads: a session, its env and the ops are used by one thread at a time (the event loop). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/compiler.h"

#define QMP_MAX_MESSAGE	 (256 * 1024) /* bytes in one JSON message */
#define QMP_MAX_DEPTH	 32	      /* nesting of objects/arrays in one message */
#define QMP_MAX_ARGS	 8	      /* arguments per command in the table */
#define QMP_ERRLEN	 256
#define QMP_MAX_NAME_LEN 128

/* Error classes (QEMU's QapiErrorClass). */
#define QMP_ERR_GENERIC		  "GenericError"
#define QMP_ERR_COMMAND_NOT_FOUND "CommandNotFound"
#define QMP_ERR_DEVICE_NOT_ACTIVE "DeviceNotActive"
#define QMP_ERR_DEVICE_NOT_FOUND  "DeviceNotFound"
#define QMP_ERR_KVM_MISSING_CAP	  "KVMMissingCap"

/* QEMU's RunState names, those kvmm can be in. */
enum qmp_runstate {
	QMP_RUNSTATE_RUNNING,
	QMP_RUNSTATE_PAUSED,
	QMP_RUNSTATE_SHUTDOWN,
	QMP_RUNSTATE_SAVE_VM,
	QMP_RUNSTATE_RESTORE_VM,
	QMP_RUNSTATE_INTERNAL_ERROR,
};
const char *qmp_runstate_name(enum qmp_runstate st);

struct qmp_cpu_info {
	int thread_id; /* host TID of the vCPU thread; 0 if not started */
	unsigned socket, core, thread;
};

struct qmp_block_info {
	const char *device; /* "disk0" ... */
	const char *file;   /* image path */
	const char *format; /* "raw", "qcow2", ... */
	bool readonly;
	uint64_t size; /* virtual size in bytes */
};

/* The machine as the control plane sees it. Every op is called on the session's thread.
 * Actions return 0 or -errno with a message in err[0, QMP_ERRLEN) (or empty: strerror). */
struct qmp_vm_ops {
	enum qmp_runstate (*runstate)(void *ctx);
	const char *(*name)(void *ctx); /* NULL: no --name */
	unsigned (*ncpus)(void *ctx);
	void (*cpu_info)(void *ctx, unsigned index, struct qmp_cpu_info *out);
	unsigned (*nblocks)(void *ctx);
	void (*block_info)(void *ctx, unsigned index, struct qmp_block_info *out);
	int (*stop)(void *ctx, char *err);	/* pause every vCPU; returns when they are out */
	int (*cont)(void *ctx, char *err);	/* resume */
	int (*powerdown)(void *ctx, char *err); /* press the ACPI power button */
	int (*reset)(void *ctx, char *err);	/* reset as the guest would (--on-reboot applies) */
	int (*quit)(void *ctx, char *err);	/* stop the VM and exit kvmm (status 0) */
	/* x-kvmm-snapshot-save: save the whole VM into directory `path`; afterwards it runs if
	 * `resume` and it was running, else it is paused (as by stop). */
	int (*snapshot_save)(void *ctx, const char *path, bool resume, char *err);
};

/* Events leave through this sink: name and data (a new reference, or NULL for none); the sink
 * adds the timestamp and sends to every negotiated session. */
struct qmp_event_sink {
	void (*emit)(void *ctx, const char *name, json_t *data);
	void *ctx;
};

struct qmp_env {
	const struct qmp_vm_ops *ops;
	void *ctx;
	struct qmp_event_sink events;
};

/* Sends one complete message (JSON text plus "\r\n"). 0, or -errno: the session keeps going;
 * the transport decides whether to drop the client. */
struct qmp_output {
	int (*send)(void *ctx, const char *text, size_t len);
	void *ctx;
};

struct qmp_session {
	const struct qmp_env *env; /* not owned; the server may swap it between VMs */
	struct qmp_output out;
	bool negotiated;
	/* Splitter state for the message being received. */
	char *buf;
	size_t len, cap;
	unsigned depth;
	bool in_msg, in_str, esc, bare, too_big, too_deep;
	/* Counters (tests and logs). */
	uint64_t nmessages, nerrors;
};

void qmp_session_init(struct qmp_session *s, const struct qmp_env *env,
		      const struct qmp_output *out);
void qmp_session_fini(struct qmp_session *s);

/* Send the greeting {"QMP": {"version": ..., "capabilities": []}}. */
int qmp_session_greet(struct qmp_session *s) KVMM_MUST_CHECK;

/* Feed bytes as they arrive (any split); every complete message is answered before return.
 * Malformed, oversized and too deeply nested messages get a GenericError reply and are
 * dropped; the stream resynchronises at the end of the broken message. 0 or -ENOMEM. */
int qmp_session_input(struct qmp_session *s, const void *data, size_t len) KVMM_MUST_CHECK;

/* True if a partial message is buffered (a client that disconnects now leaves it unfinished). */
bool qmp_session_partial(const struct qmp_session *s);

/* The JSON text (without "\r\n") of an event with the current wall-clock timestamp:
 * {"event": NAME, "data": DATA, "timestamp": {"seconds": S, "microseconds": U}}; data may be
 * NULL (no "data" member, as QEMU does for STOP). Caller frees. NULL on -ENOMEM. */
char *qmp_event_text(const char *name, json_t *data);

/* ---- The command table (qmp_commands.c) ---- */

enum qmp_arg_type { QMP_ARG_STR, QMP_ARG_INT, QMP_ARG_BOOL, QMP_ARG_ARRAY, QMP_ARG_OBJECT };

struct qmp_arg {
	const char *name; /* NULL ends the list */
	enum qmp_arg_type type;
	bool optional;
};

/* One command being executed. args is an object whose members were checked against the
 * table; ret (a new reference, NULL = {}) is the "return" value. */
struct qmp_call {
	struct qmp_session *session;
	const struct qmp_env *env;
	json_t *args;
	json_t *ret;
	const char *err_class;
	char err[QMP_ERRLEN];
};

#define QMP_CMD_NEGOTIATION 0x1 /* allowed (only) in capabilities negotiation mode */

struct qmp_command {
	const char *name;
	int (*fn)(struct qmp_call *c); /* 0, or -errno after qmp_call_error() */
	struct qmp_arg args[QMP_MAX_ARGS];
	unsigned flags;
};

extern const struct qmp_command qmp_commands[];
extern const size_t qmp_ncommands;

const struct qmp_command *qmp_command_find(const char *name);

/* Set the call's error; returns -EINVAL for `return qmp_call_error(...)`. */
int qmp_call_error(struct qmp_call *c, const char *cls, const char *fmt, ...) KVMM_PRINTF(3, 4);

/* Emit an event through the env's sink (data: a new reference or NULL). */
void qmp_emit(const struct qmp_env *env, const char *name, json_t *data);
