/* kvm/kvm_irq.c — GSI routing, irqfd, ioeventfd and MSI injection (see kvm.h). */
#include "kvm/kvm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define KVM_IOAPIC_PINS 24

static int vm_ioctl(const struct kvm *k, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(k->vm_fd, req, arg);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

int kvm_set_msi_routes(struct kvm *k, const struct kvm_msi_route *r, unsigned n)
{
	unsigned max = 16 * 2 + (KVM_IOAPIC_PINS - 16) + n, i = 0;
	struct kvm_irq_routing *t;
	int e;

	t = calloc(1, sizeof(*t) + max * sizeof(t->entries[0]));
	if (!t)
		return -ENOMEM;
	for (uint32_t g = 0; g < KVM_IOAPIC_PINS; g++) {
		t->entries[i++] = (struct kvm_irq_routing_entry){
		    .gsi = g,
		    .type = KVM_IRQ_ROUTING_IRQCHIP,
		    .u.irqchip = {.irqchip = KVM_IRQCHIP_IOAPIC, .pin = g}};
		if (g < 16)
			t->entries[i++] = (struct kvm_irq_routing_entry){
			    .gsi = g,
			    .type = KVM_IRQ_ROUTING_IRQCHIP,
			    .u.irqchip = {.irqchip = g < 8 ? KVM_IRQCHIP_PIC_MASTER
							   : KVM_IRQCHIP_PIC_SLAVE,
					  .pin = g % 8}};
	}
	for (unsigned j = 0; j < n; j++) {
		if (r[j].gsi < KVM_IOAPIC_PINS) {
			free(t);
			return -EINVAL;
		}
		t->entries[i++] = (struct kvm_irq_routing_entry){
		    .gsi = r[j].gsi,
		    .type = KVM_IRQ_ROUTING_MSI,
		    .u.msi = {.address_lo = (uint32_t)r[j].addr,
			      .address_hi = (uint32_t)(r[j].addr >> 32),
			      .data = r[j].data}};
	}
	t->nr = i;
	e = vm_ioctl(k, KVM_SET_GSI_ROUTING, t);
	free(t);
	return e < 0 ? e : 0;
}

int kvm_irqfd(struct kvm *k, int efd, uint32_t gsi, bool assign)
{
	struct kvm_irqfd f = {
	    .fd = (uint32_t)efd, .gsi = gsi, .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN};
	int e = vm_ioctl(k, KVM_IRQFD, &f);

	return e < 0 ? e : 0;
}

int kvm_ioeventfd(struct kvm *k, int efd, uint64_t addr, uint32_t len, bool assign)
{
	struct kvm_ioeventfd f = {
	    .addr = addr, .len = len, .fd = efd, .flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN};
	int e = vm_ioctl(k, KVM_IOEVENTFD, &f);

	return e < 0 ? e : 0;
}

int kvm_signal_msi(struct kvm *k, uint64_t addr, uint32_t data)
{
	struct kvm_msi m = {
	    .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32), .data = data};
	int e = vm_ioctl(k, KVM_SIGNAL_MSI, &m);

	return e < 0 ? e : 0;
}
