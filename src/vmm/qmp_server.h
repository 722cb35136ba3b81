/* vmm/qmp_server.h — the QMP control socket: a listening AF_UNIX socket (mode 0600) and up to
 * QMP_SERVER_MAX_CLIENTS connected clients, each with its own qmp_session, served on an event
 * loop. The server outlives a VM: `kvmm run --on-reboot restart` detaches it from the old VM's
 * loop and attaches it to the new one, and connected clients stay connected. It knows nothing of
 * struct vm: commands reach the machine through the qmp_vm_ops given to qmp_server_attach().
 *
 * Framing and hostile clients: a malformed, oversized or too deeply nested message gets a
 * GenericError and is skipped; a client that disconnects mid-message loses only that message;
 * a client that does not read its replies is not read from until it does (output above
 * QMP_SERVER_OUT_HIGH), and is dropped if its unread output passes QMP_SERVER_OUT_MAX. When all
 * slots are taken, further connections wait in the listen backlog.
 *
 * Threads: everything on the thread that runs the attached loop (the main thread), or on the
 * owner's thread while detached. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/compiler.h"
#include "vmm/qmp.h"

struct evloop;
struct qmp_server;

#define QMP_SERVER_MAX_CLIENTS 8
#define QMP_SERVER_OUT_HIGH    (64 * 1024)
#define QMP_SERVER_OUT_MAX     (1024 * 1024)
#define QMP_SERVER_PATH_MAX    108 /* sizeof(sun_path) */

/* Parse "unix:PATH[,server][,server=on][,wait=off][,nowait]" (QEMU's -qmp syntax; kvmm is
 * always the server and never waits) into path. -EINVAL with one line in err. */
int qmp_server_parse_spec(const char *spec, char *path, size_t pathlen, char *err,
			  size_t errlen) KVMM_MUST_CHECK;

/* Create the socket at path: an existing socket file there is replaced, any other file is an
 * error. 0 or -errno with one line in err. */
int qmp_server_create(struct qmp_server **out, const char *path, char *err,
		      size_t errlen) KVMM_MUST_CHECK;
/* Flush pending output (bounded wait), close every client, remove the socket file. NULL: no-op. */
void qmp_server_destroy(struct qmp_server *srv);

/* Serve on el with this machine. Must be detached first. 0 or -errno (evloop_add). */
int qmp_server_attach(struct qmp_server *srv, struct evloop *el, const struct qmp_vm_ops *ops,
		      void *ctx) KVMM_MUST_CHECK;
/* Stop serving (before el is destroyed); clients stay connected. */
void qmp_server_detach(struct qmp_server *srv);

/* Broadcast an event (data: a new reference or NULL) to every negotiated client. Also works
 * while detached (written directly, best effort). */
void qmp_server_event(struct qmp_server *srv, const char *name, json_t *data);

/* Connected clients (tests). */
unsigned qmp_server_nclients(const struct qmp_server *srv);
