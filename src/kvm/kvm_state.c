/* kvm/kvm_state.c — the KVM state ioctls a snapshot needs: per vCPU (FPU, XSAVE, XCRs,
 * events, debug registers, MP state, MSRs) and per VM (irqchip, PIT, clock). See kvm.h. */
#include "kvm/kvm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

static int sioctl(int fd, unsigned long req, const void *arg)
{
	int r;

	do
		r = ioctl(fd, req, (void *)(uintptr_t)arg);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

#define STATE_IOCTL(name, req, type, constness)                                                    \
	int name(struct kvm_vcpu *v, constness type *p)                                            \
	{                                                                                          \
		int r = sioctl(v->fd, req, p);                                                     \
		return r < 0 ? r : 0;                                                              \
	}

STATE_IOCTL(kvm_vcpu_get_fpu, KVM_GET_FPU, struct kvm_fpu, )
STATE_IOCTL(kvm_vcpu_get_xsave, KVM_GET_XSAVE, struct kvm_xsave, )
STATE_IOCTL(kvm_vcpu_set_xsave, KVM_SET_XSAVE, struct kvm_xsave, const)
STATE_IOCTL(kvm_vcpu_get_xcrs, KVM_GET_XCRS, struct kvm_xcrs, )
STATE_IOCTL(kvm_vcpu_set_xcrs, KVM_SET_XCRS, struct kvm_xcrs, const)
STATE_IOCTL(kvm_vcpu_get_events, KVM_GET_VCPU_EVENTS, struct kvm_vcpu_events, )
STATE_IOCTL(kvm_vcpu_set_events, KVM_SET_VCPU_EVENTS, struct kvm_vcpu_events, const)
STATE_IOCTL(kvm_vcpu_get_debugregs, KVM_GET_DEBUGREGS, struct kvm_debugregs, )
STATE_IOCTL(kvm_vcpu_set_debugregs, KVM_SET_DEBUGREGS, struct kvm_debugregs, const)
STATE_IOCTL(kvm_vcpu_get_mp_state, KVM_GET_MP_STATE, struct kvm_mp_state, )
STATE_IOCTL(kvm_vcpu_set_mp_state, KVM_SET_MP_STATE, struct kvm_mp_state, const)

#define VM_STATE_IOCTL(name, req, type, constness)                                                 \
	int name(struct kvm *k, constness type *p)                                                 \
	{                                                                                          \
		int r = sioctl(k->vm_fd, req, p);                                                  \
		return r < 0 ? r : 0;                                                              \
	}

VM_STATE_IOCTL(kvm_get_irqchip, KVM_GET_IRQCHIP, struct kvm_irqchip, )
VM_STATE_IOCTL(kvm_set_irqchip, KVM_SET_IRQCHIP, struct kvm_irqchip, const)
VM_STATE_IOCTL(kvm_get_pit2, KVM_GET_PIT2, struct kvm_pit_state2, )
VM_STATE_IOCTL(kvm_set_pit2, KVM_SET_PIT2, struct kvm_pit_state2, const)
VM_STATE_IOCTL(kvm_get_clock, KVM_GET_CLOCK, struct kvm_clock_data, )
VM_STATE_IOCTL(kvm_set_clock, KVM_SET_CLOCK, struct kvm_clock_data, const)

int kvm_get_msr_index_list(struct kvm *k, uint32_t **out, unsigned *n)
{
	struct kvm_msr_list probe = {.nmsrs = 0}, *l;
	int r = sioctl(k->sys_fd, KVM_GET_MSR_INDEX_LIST, &probe);

	if (r < 0 && r != -E2BIG)
		return r;
	l = calloc(1, sizeof(*l) + (probe.nmsrs + 1) * sizeof(l->indices[0]));
	if (!l)
		return -ENOMEM;
	l->nmsrs = probe.nmsrs;
	r = sioctl(k->sys_fd, KVM_GET_MSR_INDEX_LIST, l);
	if (r < 0) {
		free(l);
		return r;
	}
	*out = malloc((l->nmsrs + 1) * sizeof(uint32_t));
	if (!*out) {
		free(l);
		return -ENOMEM;
	}
	memcpy(*out, l->indices, l->nmsrs * sizeof(uint32_t));
	*n = l->nmsrs;
	free(l);
	return 0;
}

/* KVM_GET/SET_MSRS process entries in order and stop at the first one they refuse, returning
 * how many they did: skip that entry and go on with the rest. */
static int msrs_batch(struct kvm_vcpu *v, unsigned long req, struct kvm_msr_entry *e, unsigned n,
		      unsigned *done)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(*e));
	int r;

	if (!m)
		return -ENOMEM;
	m->nmsrs = n;
	memcpy(m->entries, e, n * sizeof(*e));
	r = sioctl(v->fd, req, m);
	if (r >= 0) {
		*done = (unsigned)r > n ? n : (unsigned)r;
		memcpy(e, m->entries, *done * sizeof(*e));
	}
	free(m);
	return r < 0 ? r : 0;
}

int kvm_vcpu_get_msrs(struct kvm_vcpu *v, struct kvm_msr_entry *e, unsigned *n)
{
	unsigned in = 0, kept = 0;

	while (in < *n) {
		unsigned done = 0;
		int r = msrs_batch(v, KVM_GET_MSRS, e + in, *n - in, &done);

		if (r)
			return r;
		memmove(e + kept, e + in, done * sizeof(*e));
		kept += done;
		in += done + 1; /* skip the refused one */
	}
	*n = kept;
	return 0;
}

int kvm_vcpu_set_msrs_lenient(struct kvm_vcpu *v, const struct kvm_msr_entry *e, unsigned n,
			      unsigned *failed)
{
	struct kvm_msr_entry *copy = malloc((n + 1) * sizeof(*e));
	unsigned in = 0;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	memcpy(copy, e, n * sizeof(*e));
	*failed = 0;
	while (in < n) {
		unsigned done = 0;

		r = msrs_batch(v, KVM_SET_MSRS, copy + in, n - in, &done);
		if (r)
			break;
		in += done;
		if (in < n) {
			(*failed)++;
			in++;
		}
	}
	free(copy);
	return r;
}

int kvm_vcpu_complete_io(struct kvm_vcpu *v)
{
	int r;

	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELEASE);
	r = ioctl(v->fd, KVM_RUN, 0);
	r = r < 0 ? -errno : 0;
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_RELEASE);
	return r == -EINTR ? 0 : r;
}
