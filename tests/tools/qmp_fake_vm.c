/* tests/tools/qmp_fake_vm.c — `qmp-fake-vm SOCKET`: kvmm's QMP server (vmm/qmp_server.c) on a
 * unix socket in front of the fake VM of tests/lib/qmp_fake_vm.h, for tests/run/qmp.sh (kvmm
 * ctl and socat against the real server without /dev/kvm). It behaves like kvmm run: quit ends
 * it with SHUTDOWN (host-qmp-quit); system_powerdown makes the "guest" power off (POWERDOWN,
 * then SHUTDOWN guest-shutdown); system_reset ends it with SHUTDOWN host-qmp-system-reset (as
 * --on-reboot exit). Exit status 0. */
#include <stdio.h>
#include <stdlib.h>

#include "base/evloop.h"
#include "lib/qmp_fake_vm.h"
#include "vmm/qmp_server.h"

struct tool {
	struct qmp_fake_vm vm;
	struct evloop *el;
	const char *reason; /* set: stop with SHUTDOWN */
	int guest;
};

static struct tool *tool_of(void *ctx)
{
	return (struct tool *)ctx; /* vm is the first member */
}

static int tool_powerdown(void *ctx, char *err)
{
	struct tool *t = tool_of(ctx);

	qmp_fake_powerdown(ctx, err);
	t->reason = "guest-shutdown";
	t->guest = 1;
	evloop_stop(t->el);
	return 0;
}

static int tool_reset(void *ctx, char *err)
{
	struct tool *t = tool_of(ctx);

	qmp_fake_reset(ctx, err);
	t->reason = "host-qmp-system-reset";
	evloop_stop(t->el);
	return 0;
}

static int tool_quit(void *ctx, char *err)
{
	struct tool *t = tool_of(ctx);

	qmp_fake_quit(ctx, err);
	t->reason = "host-qmp-quit";
	evloop_stop(t->el);
	return 0;
}

int main(int argc, char **argv)
{
	struct qmp_vm_ops ops = qmp_fake_vm_ops;
	struct qmp_server *srv;
	struct tool t = {0};
	char err[256] = "";

	if (argc != 2) {
		fprintf(stderr, "usage: qmp-fake-vm SOCKET\n");
		return 2;
	}
	qmp_fake_vm_init(&t.vm);
	ops.powerdown = tool_powerdown;
	ops.reset = tool_reset;
	ops.quit = tool_quit;
	if (evloop_create(&t.el) || qmp_server_create(&srv, argv[1], err, sizeof(err))) {
		fprintf(stderr, "qmp-fake-vm: %s\n", err);
		return 2;
	}
	if (qmp_server_attach(srv, t.el, &ops, &t.vm) || evloop_run(t.el, -1, NULL, NULL))
		return 2;
	qmp_server_detach(srv);
	qmp_server_event(
	    srv, "SHUTDOWN",
	    json_pack("{s:b,s:s}", "guest", t.guest, "reason", t.reason ? t.reason : "?"));
	qmp_server_destroy(srv);
	evloop_destroy(t.el);
	return 0;
}
