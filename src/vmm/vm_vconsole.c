/* vmm/vm_vconsole.c — the host side of the virtio console (--console): opens the backend
 * (stdio, a new pty, or an output file), creates the device with an output sink writing to it,
 * and while the VM runs feeds the backend's input to the device through vmm/console (raw tty
 * and Ctrl-A escapes for stdio, backpressure for all). vm_devices.c attaches the device to a
 * PCI slot (default) or a virtio-mmio slot (--console MODE,transport=mmio). Set-up/run/teardown
 * on the main thread; the sink runs where the guest's notify is handled: the vCPU thread
 * (virtio-mmio, or PCI without ioeventfd) or the kvmm-io thread (PCI). */
#include "vmm/vm_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/evloop.h"
#include "devices/virtio/console.h"
#include "vmm/console.h"

/* How long one write to a full backend (a pty nobody reads) may stall the vCPU. */
#define VM_VCON_TX_TIMEOUT_MS 100

/* Guest output: write everything, or what the fd takes within the timeout. */
static size_t vm_vcon_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct vm *vm = ctx;
	size_t done = 0;

	while (done < len && vm->vcon_out_fd >= 0) {
		ssize_t n = write(vm->vcon_out_fd, buf + done, len - done);
		struct pollfd p = {.fd = vm->vcon_out_fd, .events = POLLOUT};

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			break;
		if (poll(&p, 1, VM_VCON_TX_TIMEOUT_MS) <= 0)
			break;
	}
	return done;
}

static void vm_vcon_rx_ready(void *ctx)
{
	struct vm *vm = ctx;

	evloop_wake(vm->el);
}

static size_t vm_vcon_input(void *ctx, const uint8_t *buf, size_t len)
{
	return virtio_console_input(ctx, buf, len);
}

static void vm_vcon_quit(void *ctx)
{
	vm_request_stop(ctx, VM_EXIT_SIGNAL, 0);
}

static int vm_vcon_open_pty(struct vm *vm, char *err, size_t errlen)
{
	int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK), e;

	if (fd < 0 || grantpt(fd) || unlockpt(fd) ||
	    ptsname_r(fd, vm->vcon_pty_path, sizeof(vm->vcon_pty_path))) {
		e = -errno;
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "--console pty: cannot allocate a pty: %s", strerror(-e));
		return e;
	}
	vm->vcon_out_fd = vm->vcon_in_fd = fd;
	vm->vcon_fd_owned = true;
	fprintf(stderr, "kvmm: virtio console on %s\n", vm->vcon_pty_path);
	return 0;
}

static int vm_vcon_open(struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *c = vm->cfg;
	int fd, e;

	switch (c->console) {
	case CONSOLE_OFF:
		return 0;
	case CONSOLE_STDIO:
		vm->vcon_out_fd = STDOUT_FILENO;
		vm->vcon_in_fd = STDIN_FILENO;
		return 0;
	case CONSOLE_PTY:
		return vm_vcon_open_pty(vm, err, errlen);
	case CONSOLE_FILE:
		fd = open(c->console_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			e = -errno;
			snprintf(err, errlen, "--console file:%s: %s", c->console_path,
				 strerror(-e));
			return e;
		}
		vm->vcon_out_fd = fd;
		vm->vcon_fd_owned = true;
		return 0;
	}
	return -EINVAL;
}

int vm_vconsole_create(struct vm *vm, char *err, size_t errlen)
{
	struct virtio_console_backend be = {vm_vcon_write, vm_vcon_rx_ready, vm};
	int e;

	vm->vcon_out_fd = vm->vcon_in_fd = -1;
	e = vm_vcon_open(vm, err, errlen);
	if (e)
		return e;
	e = virtio_console_create(&vm->vcon, vm->mem, &be);
	if (e)
		snprintf(err, errlen, "--console: cannot create the device: %s", strerror(-e));
	return e;
}

int vm_vconsole_start(struct vm *vm)
{
	bool tty = vm->cfg->console == CONSOLE_STDIO;
	struct console_config cc = {
	    .in_fd = vm->vcon_in_fd,
	    .out_fd = vm->vcon_out_fd,
	    .raw_tty = tty,
	    .escapes = tty,
	    .input = vm_vcon_input,
	    .input_ctx = vm->vcon,
	    .el = vm->el,
	    .quit = vm_vcon_quit,
	    .quit_ctx = vm,
	};

	if (!vm->vcon || vm->vcon_in_fd < 0)
		return 0;
	return console_create(&vm->vcon_console, &cc);
}

/* Every loop tick: input held back by a full device, and buffers posted without a kick. */
void vm_vconsole_poll(struct vm *vm)
{
	console_poll(vm->vcon_console);
	virtio_console_poll(vm->vcon);
}

void vm_vconsole_stop(struct vm *vm)
{
	console_destroy(vm->vcon_console);
	vm->vcon_console = NULL;
}

void vm_vconsole_destroy(struct vm *vm)
{
	virtio_console_destroy(vm->vcon);
	vm->vcon = NULL;
	if (vm->vcon_fd_owned)
		close(vm->vcon_out_fd);
	vm->vcon_fd_owned = false;
	vm->vcon_out_fd = vm->vcon_in_fd = -1;
}
