/* kvm/kvm.c — see kvm.h. */
#include "kvm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/log.h"

static int xioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR && req != KVM_RUN);
	return r < 0 ? -errno : r;
}

int kvm_open(struct kvm **out, const char *path, char *err, size_t errlen)
{
	struct kvm *k;
	int r;

	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->vm_fd = -1;
	k->sys_fd = open(path, O_RDWR | O_CLOEXEC);
	if (k->sys_fd < 0) {
		r = -errno;
		if (r == -ENOENT)
			snprintf(err, errlen,
				 "%s does not exist: this host has no KVM "
				 "(is the kvm module loaded and virtualization enabled?)",
				 path);
		else if (r == -EACCES || r == -EPERM)
			snprintf(err, errlen,
				 "no permission to open %s "
				 "(add yourself to the 'kvm' group)",
				 path);
		else
			snprintf(err, errlen, "cannot open %s: %s", path, strerror(-r));
		goto err_free;
	}
	k->api_version = xioctl(k->sys_fd, KVM_GET_API_VERSION, NULL);
	if (k->api_version != KVM_API_VERSION) {
		snprintf(err, errlen, "%s: unsupported KVM API version %d (need %d)", path,
			 k->api_version, KVM_API_VERSION);
		r = -ENOTSUP;
		goto err_close_sys;
	}
	do
		k->vm_fd = ioctl(k->sys_fd, KVM_CREATE_VM, 0);
	while (k->vm_fd < 0 && errno == EINTR);
	if (k->vm_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "KVM_CREATE_VM failed: %s", strerror(-r));
		goto err_close_sys;
	}
	k->run_size = xioctl(k->sys_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (k->run_size < (int)sizeof(struct kvm_run)) {
		r = k->run_size < 0 ? k->run_size : -EINVAL;
		snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE failed");
		goto err_close_vm;
	}
	k->max_vcpus = kvm_check_extension(k, KVM_CAP_MAX_VCPUS);
	if (k->max_vcpus <= 0)
		k->max_vcpus = kvm_check_extension(k, KVM_CAP_NR_VCPUS);
	if (k->max_vcpus <= 0)
		k->max_vcpus = 4;
	k->max_vcpu_id = kvm_check_extension(k, KVM_CAP_MAX_VCPU_ID);
	if (k->max_vcpu_id <= 0)
		k->max_vcpu_id = k->max_vcpus;
	*out = k;
	return 0;

err_close_vm:
	close(k->vm_fd);
err_close_sys:
	close(k->sys_fd);
err_free:
	free(k);
	return r;
}

void kvm_close(struct kvm *k)
{
	if (!k)
		return;
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	close(k->sys_fd);
	free(k);
}

int kvm_check_extension(const struct kvm *k, long cap)
{
	int r = -1;

	if (k->vm_fd >= 0)
		r = ioctl(k->vm_fd, KVM_CHECK_EXTENSION, cap);
	if (r < 0)
		r = ioctl(k->sys_fd, KVM_CHECK_EXTENSION, cap);
	return r < 0 ? 0 : r;
}

int kvm_set_tss_addr(struct kvm *k, uint64_t gpa)
{
	int r = ioctl(k->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)gpa);

	return r < 0 ? -errno : 0;
}

int kvm_set_identity_map_addr(struct kvm *k, uint64_t gpa)
{
	__u64 a = gpa;

	if (!kvm_check_extension(k, KVM_CAP_SET_IDENTITY_MAP_ADDR))
		return 0;
	return xioctl(k->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &a) < 0 ? -errno : 0;
}

int kvm_create_irqchip(struct kvm *k)
{
	int r = xioctl(k->vm_fd, KVM_CREATE_IRQCHIP, NULL);

	return r < 0 ? r : 0;
}

int kvm_create_pit2(struct kvm *k)
{
	struct kvm_pit_config pc = {.flags = KVM_PIT_SPEAKER_DUMMY};
	int r = xioctl(k->vm_fd, KVM_CREATE_PIT2, &pc);

	return r < 0 ? r : 0;
}

int kvm_set_user_memory(struct kvm *k, uint32_t slot, uint64_t gpa, uint64_t size, void *hva,
			uint32_t flags)
{
	struct kvm_userspace_memory_region r = {
	    .slot = slot,
	    .flags = flags,
	    .guest_phys_addr = gpa,
	    .memory_size = size,
	    .userspace_addr = (uint64_t)(uintptr_t)hva,
	};
	int e = xioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);

	return e < 0 ? e : 0;
}

int kvm_irq_line(struct kvm *k, uint32_t gsi, bool level)
{
	struct kvm_irq_level l = {.irq = gsi, .level = level};
	int e = xioctl(k->vm_fd, KVM_IRQ_LINE, &l);

	return e < 0 ? e : 0;
}

int kvm_get_supported_cpuid(struct kvm *k, struct kvm_cpuid_entry2 **out, unsigned *n)
{
	unsigned nent = 128;

	for (int tries = 0; tries < 6; tries++, nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		int r;

		if (!c)
			return -ENOMEM;
		c->nent = nent;
		r = xioctl(k->sys_fd, KVM_GET_SUPPORTED_CPUID, c);
		if (r == -E2BIG) {
			free(c);
			continue;
		}
		if (r < 0) {
			free(c);
			return r;
		}
		*n = c->nent;
		*out = malloc(c->nent * sizeof(c->entries[0]) + 1);
		if (!*out) {
			free(c);
			return -ENOMEM;
		}
		memcpy(*out, c->entries, c->nent * sizeof(c->entries[0]));
		free(c);
		return 0;
	}
	return -E2BIG;
}

int kvm_vcpu_create(struct kvm *k, unsigned id, struct kvm_vcpu *out)
{
	int fd, r;
	void *run;

	do
		fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -errno;
	run = mmap(NULL, (size_t)k->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (run == MAP_FAILED) {
		r = -errno;
		close(fd);
		return r;
	}
	out->fd = fd;
	out->id = id;
	out->run = run;
	out->run_size = (size_t)k->run_size;
	return 0;
}

void kvm_vcpu_destroy(struct kvm_vcpu *v)
{
	if (!v || v->fd < 0)
		return;
	munmap(v->run, v->run_size);
	close(v->fd);
	v->fd = -1;
}

int kvm_vcpu_set_cpuid(struct kvm_vcpu *v, const struct kvm_cpuid_entry2 *e, unsigned n)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(*e));
	int r;

	if (!c)
		return -ENOMEM;
	c->nent = n;
	memcpy(c->entries, e, n * sizeof(*e));
	r = xioctl(v->fd, KVM_SET_CPUID2, c);
	free(c);
	return r < 0 ? r : 0;
}

#define VCPU_IOCTL(name, req, type, constness)                                                     \
	int name(struct kvm_vcpu *v, constness type *p)                                            \
	{                                                                                          \
		int r = xioctl(v->fd, req, (void *)(uintptr_t)p);                                  \
		return r < 0 ? r : 0;                                                              \
	}

VCPU_IOCTL(kvm_vcpu_get_regs, KVM_GET_REGS, struct kvm_regs, )
VCPU_IOCTL(kvm_vcpu_set_regs, KVM_SET_REGS, struct kvm_regs, const)
VCPU_IOCTL(kvm_vcpu_get_sregs, KVM_GET_SREGS, struct kvm_sregs, )
VCPU_IOCTL(kvm_vcpu_set_sregs, KVM_SET_SREGS, struct kvm_sregs, const)
VCPU_IOCTL(kvm_vcpu_set_fpu, KVM_SET_FPU, struct kvm_fpu, const)
VCPU_IOCTL(kvm_vcpu_get_lapic, KVM_GET_LAPIC, struct kvm_lapic_state, )
VCPU_IOCTL(kvm_vcpu_set_lapic, KVM_SET_LAPIC, struct kvm_lapic_state, const)

int kvm_vcpu_set_msrs(struct kvm_vcpu *v, const struct kvm_msr_entry *e, unsigned n)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(*e));
	int r;

	if (!m)
		return -ENOMEM;
	m->nmsrs = n;
	memcpy(m->entries, e, n * sizeof(*e));
	r = xioctl(v->fd, KVM_SET_MSRS, m);
	free(m);
	if (r < 0)
		return r;
	return (unsigned)r == n ? 0 : -EIO;
}

int kvm_vcpu_translate(struct kvm_vcpu *v, uint64_t gva, uint64_t *gpa)
{
	struct kvm_translation t = {.linear_address = gva};
	int r = xioctl(v->fd, KVM_TRANSLATE, &t);

	if (r < 0)
		return r;
	if (!t.valid)
		return -EFAULT;
	*gpa = t.physical_address;
	return 0;
}

int kvm_vcpu_run(struct kvm_vcpu *v)
{
	int r = ioctl(v->fd, KVM_RUN, 0);

	return r < 0 ? -errno : 0;
}

const char *kvm_exit_reason_name(uint32_t reason)
{
	static const char *const names[] = {
	    [KVM_EXIT_UNKNOWN] = "UNKNOWN",
	    [KVM_EXIT_EXCEPTION] = "EXCEPTION",
	    [KVM_EXIT_IO] = "IO",
	    [KVM_EXIT_HYPERCALL] = "HYPERCALL",
	    [KVM_EXIT_DEBUG] = "DEBUG",
	    [KVM_EXIT_HLT] = "HLT",
	    [KVM_EXIT_MMIO] = "MMIO",
	    [KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
	    [KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
	    [KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
	    [KVM_EXIT_INTR] = "INTR",
	    [KVM_EXIT_SET_TPR] = "SET_TPR",
	    [KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
	    [KVM_EXIT_NMI] = "NMI",
	    [KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
	    [KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
	};

	if (reason < ARRAY_SIZE(names) && names[reason])
		return names[reason];
	return "?";
}
