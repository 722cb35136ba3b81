/* kvm/kvm.h — the only code that calls ioctl() on /dev/kvm, VM and vCPU fds (the hypervisor seam).
 *
 * struct kvm is created on the main thread. VM-wide calls (memory slots, irq lines, irqfd) are
 * safe from any thread once created (KVM serialises them). A struct kvm_vcpu belongs to the
 * thread that runs it; only kvm_vcpu_kick_prepare() may be called from another thread.
 * Every function returns 0 or -errno. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "base/compiler.h"

struct kvm {
	int sys_fd;
	int vm_fd;
	int run_size;	 /* KVM_GET_VCPU_MMAP_SIZE */
	int max_vcpus;	 /* KVM_CAP_MAX_VCPUS (or NR_VCPUS) */
	int max_vcpu_id; /* KVM_CAP_MAX_VCPU_ID */
	int api_version;
};

struct kvm_vcpu {
	int fd;
	unsigned id; /* KVM vcpu id == initial APIC ID */
	struct kvm_run *run;
	size_t run_size;
};

/* Open `path` (normally "/dev/kvm") and create a VM. On failure `err` names the problem
 * (missing device, permission, API version). */
int kvm_open(struct kvm **out, const char *path, char *err, size_t errlen) KVMM_MUST_CHECK;
void kvm_close(struct kvm *k);

/* KVM_CHECK_EXTENSION on the VM fd (falls back to /dev/kvm); returns the value (>= 0). */
int kvm_check_extension(const struct kvm *k, long cap);

/* x86 platform set-up, in this order, before any vCPU exists. */
int kvm_set_tss_addr(struct kvm *k, uint64_t gpa) KVMM_MUST_CHECK;
int kvm_set_identity_map_addr(struct kvm *k, uint64_t gpa) KVMM_MUST_CHECK;
int kvm_create_irqchip(struct kvm *k) KVMM_MUST_CHECK;
int kvm_create_pit2(struct kvm *k) KVMM_MUST_CHECK;

int kvm_set_user_memory(struct kvm *k, uint32_t slot, uint64_t gpa, uint64_t size, void *hva,
			uint32_t flags) KVMM_MUST_CHECK;

/* Drive a GSI of the in-kernel irqchip. Any thread. */
int kvm_irq_line(struct kvm *k, uint32_t gsi, bool level) KVMM_MUST_CHECK;

/* KVM_GET_SUPPORTED_CPUID into a malloc'ed array (caller frees *out). */
int kvm_get_supported_cpuid(struct kvm *k, struct kvm_cpuid_entry2 **out,
			    unsigned *n) KVMM_MUST_CHECK;

int kvm_vcpu_create(struct kvm *k, unsigned id, struct kvm_vcpu *out) KVMM_MUST_CHECK;
void kvm_vcpu_destroy(struct kvm_vcpu *v);

int kvm_vcpu_set_cpuid(struct kvm_vcpu *v, const struct kvm_cpuid_entry2 *e,
		       unsigned n) KVMM_MUST_CHECK;
int kvm_vcpu_get_regs(struct kvm_vcpu *v, struct kvm_regs *r) KVMM_MUST_CHECK;
int kvm_vcpu_set_regs(struct kvm_vcpu *v, const struct kvm_regs *r) KVMM_MUST_CHECK;
int kvm_vcpu_get_sregs(struct kvm_vcpu *v, struct kvm_sregs *s) KVMM_MUST_CHECK;
int kvm_vcpu_set_sregs(struct kvm_vcpu *v, const struct kvm_sregs *s) KVMM_MUST_CHECK;
int kvm_vcpu_set_fpu(struct kvm_vcpu *v, const struct kvm_fpu *f) KVMM_MUST_CHECK;
/* Set n MSRs; -EIO if KVM accepted fewer than n. */
int kvm_vcpu_set_msrs(struct kvm_vcpu *v, const struct kvm_msr_entry *e,
		      unsigned n) KVMM_MUST_CHECK;
int kvm_vcpu_get_lapic(struct kvm_vcpu *v, struct kvm_lapic_state *s) KVMM_MUST_CHECK;
int kvm_vcpu_set_lapic(struct kvm_vcpu *v, const struct kvm_lapic_state *s) KVMM_MUST_CHECK;
/* Guest-virtual to guest-physical through the vCPU's current page tables. */
int kvm_vcpu_translate(struct kvm_vcpu *v, uint64_t gva, uint64_t *gpa) KVMM_MUST_CHECK;

/* KVM_RUN. 0 when an exit is in run->exit_reason; -EINTR when kicked; other -errno fatal. */
int kvm_vcpu_run(struct kvm_vcpu *v) KVMM_MUST_CHECK;

/* Name of a KVM_EXIT_* reason for diagnostics. */
const char *kvm_exit_reason_name(uint32_t reason);

/* ---- interrupt routing, irqfd, ioeventfd, MSI (kvm/kvm_irq.c). Any thread. ---- */

/* One MSI route: gsi -> (addr, data). */
struct kvm_msi_route {
	uint32_t gsi;
	uint64_t addr;
	uint32_t data;
};

/* KVM_SET_GSI_ROUTING: KVM's default irqchip routes (GSI 0-15 to the PICs and IOAPIC pins
 * 0-15, GSI 16..23 to IOAPIC pins 16..23, identity, as KVM installs them) plus the n MSI
 * routes (their GSIs must be >= 24). Replaces the whole table. */
int kvm_set_msi_routes(struct kvm *k, const struct kvm_msi_route *r, unsigned n) KVMM_MUST_CHECK;
/* KVM_IRQFD: writing 1 to eventfd efd raises gsi (assign) / stop (deassign). */
int kvm_irqfd(struct kvm *k, int efd, uint32_t gsi, bool assign) KVMM_MUST_CHECK;
/* KVM_IOEVENTFD on an MMIO address of len bytes (0 = any length where supported), no
 * datamatch: a guest write there signals efd instead of exiting. */
int kvm_ioeventfd(struct kvm *k, int efd, uint64_t addr, uint32_t len, bool assign) KVMM_MUST_CHECK;
/* KVM_SIGNAL_MSI: inject one MSI now. 0 (delivered or blocked by the guest) or -errno. */
int kvm_signal_msi(struct kvm *k, uint64_t addr, uint32_t data) KVMM_MUST_CHECK;

/* Snapshot state (kvm_state.c). The getters and setters may be called from another thread
 * while the vCPU's own thread is parked outside KVM_RUN (vm_pause). */
int kvm_vcpu_get_fpu(struct kvm_vcpu *v, struct kvm_fpu *f) KVMM_MUST_CHECK;
int kvm_vcpu_get_xsave(struct kvm_vcpu *v, struct kvm_xsave *x) KVMM_MUST_CHECK;
int kvm_vcpu_set_xsave(struct kvm_vcpu *v, const struct kvm_xsave *x) KVMM_MUST_CHECK;
int kvm_vcpu_get_xcrs(struct kvm_vcpu *v, struct kvm_xcrs *x) KVMM_MUST_CHECK;
int kvm_vcpu_set_xcrs(struct kvm_vcpu *v, const struct kvm_xcrs *x) KVMM_MUST_CHECK;
int kvm_vcpu_get_events(struct kvm_vcpu *v, struct kvm_vcpu_events *e) KVMM_MUST_CHECK;
int kvm_vcpu_set_events(struct kvm_vcpu *v, const struct kvm_vcpu_events *e) KVMM_MUST_CHECK;
int kvm_vcpu_get_debugregs(struct kvm_vcpu *v, struct kvm_debugregs *d) KVMM_MUST_CHECK;
int kvm_vcpu_set_debugregs(struct kvm_vcpu *v, const struct kvm_debugregs *d) KVMM_MUST_CHECK;
int kvm_vcpu_get_mp_state(struct kvm_vcpu *v, struct kvm_mp_state *m) KVMM_MUST_CHECK;
int kvm_vcpu_set_mp_state(struct kvm_vcpu *v, const struct kvm_mp_state *m) KVMM_MUST_CHECK;
/* Read the MSRs whose indices are in e[i].index. Entries KVM refuses to read are dropped
 * (the array is compacted); *n is updated to the number read. */
int kvm_vcpu_get_msrs(struct kvm_vcpu *v, struct kvm_msr_entry *e, unsigned *n) KVMM_MUST_CHECK;
/* Write MSRs one batch at a time, skipping entries KVM refuses; *failed counts them. */
int kvm_vcpu_set_msrs_lenient(struct kvm_vcpu *v, const struct kvm_msr_entry *e, unsigned n,
			      unsigned *failed) KVMM_MUST_CHECK;
/* Complete an exit KVM still owes the guest (string I/O, MMIO reads): KVM_RUN with
 * immediate_exit = 1, which returns -EINTR at once after finishing it. */
int kvm_vcpu_complete_io(struct kvm_vcpu *v) KVMM_MUST_CHECK;
/* KVM_GET_MSR_INDEX_LIST into a malloc'ed array (caller frees *out). */
int kvm_get_msr_index_list(struct kvm *k, uint32_t **out, unsigned *n) KVMM_MUST_CHECK;
/* chip: KVM_IRQCHIP_PIC_MASTER, _PIC_SLAVE, _IOAPIC. */
int kvm_get_irqchip(struct kvm *k, struct kvm_irqchip *c) KVMM_MUST_CHECK;
int kvm_set_irqchip(struct kvm *k, const struct kvm_irqchip *c) KVMM_MUST_CHECK;
int kvm_get_pit2(struct kvm *k, struct kvm_pit_state2 *p) KVMM_MUST_CHECK;
int kvm_set_pit2(struct kvm *k, const struct kvm_pit_state2 *p) KVMM_MUST_CHECK;
int kvm_get_clock(struct kvm *k, struct kvm_clock_data *c) KVMM_MUST_CHECK;
int kvm_set_clock(struct kvm *k, const struct kvm_clock_data *c) KVMM_MUST_CHECK;
