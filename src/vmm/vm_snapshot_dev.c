/* vmm/vm_snapshot_dev.c — the snapshot sections of the devices whose host side runs on the
 * event loop: virtio-net (device model state 'vnet', and for a user backend libslirp's state
 * 'slrp'), the virtio console ('vcon'); and keeping the event loop out of the way while a
 * snapshot is taken. vm_snapshot.c calls in here; the virtio core and transport state of these
 * devices are saved there with every other virtio device. Format and limits: docs/snapshot.md.
 *
 * Threads: vm_snapshot_save() runs on the loop thread (QMP) or another thread (the test
 * driver); with the vCPUs paused and the loop parked (evloop_pause), no net or console handler
 * runs: TX and the console's transmitq run on vCPU notifies (virtio-mmio), RX, slirp and console
 * input on the loop. Restore runs before the loop starts. */
#include "vmm/snapshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/evloop.h"
#include "base/log.h"
#include "devices/virtio/console.h"
#include "devices/virtio/net.h"
#include "net/backend.h"
#include "net/slirp.h"
#include "vmm/snapshot_fmt.h"
#include "vmm/vm_priv.h"

#define T_VNET SNAP_TAG('v', 'n', 'e', 't')
#define T_SLRP SNAP_TAG('s', 'l', 'r', 'p')
#define T_VCON SNAP_TAG('v', 'c', 'o', 'n')

void vm_snapshot_dev_quiesce(struct vm *vm, bool stop)
{
	if (!vm->el)
		return;
	if (stop)
		evloop_pause(vm->el);
	else
		evloop_resume(vm->el);
}

static bool vm_net_is_user(const struct net_backend *nb)
{
	return nb && !strcmp(nb->kind, "user");
}

int vm_snapshot_dev_save(struct vm *vm, struct snap_writer *w, const char **what)
{
	struct virtio_net_state *ns = malloc(sizeof(*ns));
	struct virtio_console_state *cs = NULL;
	int e = ns ? 0 : -ENOMEM;

	for (unsigned i = 0; !e && i < VM_MAX_NETS; i++) {
		uint8_t *buf;
		size_t len;
		unsigned dropped = 0;

		if (!vm->nets[i])
			continue;
		*what = "saving virtio-net (a transmit queue waits for its backend?)";
		e = virtio_net_save(vm->nets[i], ns);
		if (!e)
			snap_put(w, T_VNET, i, ns, sizeof(*ns));
		if (e || !vm_net_is_user(vm->net_be[i]))
			continue; /* tap/bridge: reopened from the configuration, nothing to save */
		*what = "saving the user network (libslirp) state";
		e = net_slirp_save(vm->net_be[i], &buf, &len, &dropped);
		if (e)
			continue;
		snap_put(w, T_SLRP, i, buf, len);
		free(buf);
		if (dropped)
			log_info(
			    "snapshot: virtio-net%u: %u frames queued between the guest and the "
			    "user network are not in the snapshot",
			    i, dropped);
	}
	if (!e && vm->vcon) {
		cs = malloc(sizeof(*cs));
		e = cs ? 0 : -ENOMEM;
		if (!e) {
			virtio_console_save(vm->vcon, cs);
			snap_put(w, T_VCON, 0, cs, sizeof(*cs));
		}
	}
	free(cs);
	free(ns);
	return e;
}

int vm_snapshot_dev_load(struct vm *vm, const struct snap_reader *r, const char **what)
{
	struct virtio_net_state *ns = malloc(sizeof(*ns));
	struct virtio_console_state *cs = NULL;
	int e = ns ? 0 : -ENOMEM;

	for (unsigned i = 0; !e && i < VM_MAX_NETS; i++) {
		const void *p;
		size_t len;

		if (!vm->nets[i])
			continue;
		*what = "virtio-net";
		e = snap_get_exact(r, T_VNET, i, ns, sizeof(*ns));
		if (!e)
			e = virtio_net_load(vm->nets[i], ns);
		if (e || !vm_net_is_user(vm->net_be[i]))
			continue;
		*what = "the user network (libslirp state)";
		e = snap_get(r, T_SLRP, i, &p, &len);
		if (!e)
			e = net_slirp_load(vm->net_be[i], p, len);
	}
	if (!e && vm->vcon) {
		*what = "the virtio console";
		cs = malloc(sizeof(*cs));
		e = cs ? snap_get_exact(r, T_VCON, 0, cs, sizeof(*cs)) : -ENOMEM;
		if (!e)
			e = virtio_console_load(vm->vcon, cs);
	}
	free(cs);
	free(ns);
	return e;
}
