/* vmm/vm_net.c — the --net devices: for each, a backend (net/slirp.c for user, net/tap.c for
 * tap and bridge) and a virtio-net device on the next PCI slot (default) or, with
 * transport=mmio, the next virtio-mmio slot, after the disks and the console. Packed
 * virtqueues are never offered to the NIC (the model does not list them). A MAC
 * not given is derived from the VM's identity (vm_net_seed) and the NIC index, so it is stable
 * across runs. */
#include "vmm/vm_priv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "devices/virtio/net.h"
#include "net/backend.h"
#include "net/slirp.h"
#include "net/tap.h"

static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; s && *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return (h ^ 0xff) * 0x100000001b3ull; /* separator */
}

/* The VM's identity: its --name, or without one what it runs (kernel, command line, disks), so
 * the same VM gets the same MAC every run and two differently configured VMs differ. */
static uint64_t vm_net_seed(const struct vm *vm, unsigned i)
{
	const struct vm_config *c = vm->cfg;
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	if (c->name) {
		h = fnv1a(h, c->name);
	} else {
		h = fnv1a(h, c->kernel ? c->kernel : c->kernel_data_name);
		h = fnv1a(h, c->cmdline);
		for (unsigned d = 0; d < c->ndisks; d++)
			h = fnv1a(h, c->disks[d].path);
	}
	return h ^ i;
}

static int vm_net_backend(struct vm *vm, const struct net_opts *o, struct net_backend **nb,
			  char *err, size_t errlen)
{
	switch (o->kind) {
	case NET_KIND_USER:
		return net_slirp_create(nb, vm->el, o, err, errlen);
	case NET_KIND_TAP:
	case NET_KIND_BRIDGE:
		return net_tap_create(nb, vm->el, o, err, errlen);
	}
	return -EINVAL;
}

int vm_net_create(struct vm *vm, struct acpi_config *ac, char *err, size_t errlen)
{
	for (unsigned i = 0; i < vm->cfg->nnets; i++) {
		const struct net_opts *o = &vm->cfg->nets[i];
		struct virtio_net_opts no = {0};
		int e = vm_net_backend(vm, o, &vm->net_be[i], err, errlen);

		if (e)
			return e;
		if (o->mac_set)
			memcpy(no.mac, o->mac, 6);
		else
			net_mac_generate(no.mac, vm_net_seed(vm, i));
		e = virtio_net_create(&vm->nets[i], vm->mem, vm->net_be[i], &no);
		if (!e)
			e = vm_virtio_attach(vm, ac, virtio_net_dev(vm->nets[i]),
					     o->mmio ? VM_TRANSPORT_MMIO : VM_TRANSPORT_PCI, false,
					     "virtio-net");
		if (e) {
			snprintf(err, errlen, "--net %s: cannot create the device: %s",
				 vm->net_be[i]->kind, strerror(-e));
			return e;
		}
		log_info("virtio-net%u: %s backend on %s, MAC %02x:%02x:%02x:%02x:%02x:%02x", i,
			 vm->net_be[i]->kind, o->mmio ? "virtio-mmio" : "PCI", no.mac[0], no.mac[1],
			 no.mac[2], no.mac[3], no.mac[4], no.mac[5]);
	}
	return 0;
}

void vm_net_destroy(struct vm *vm)
{
	for (unsigned i = 0; i < VM_MAX_NETS; i++) {
		virtio_net_destroy(vm->nets[i]);
		vm->nets[i] = NULL;
		net_backend_destroy(vm->net_be[i]);
		vm->net_be[i] = NULL;
	}
}
