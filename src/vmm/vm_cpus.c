/* vmm/vm_cpus.c — create the vCPUs: KVM vcpu ids are the topology's APIC IDs, CPUID from the
 * CPU model and topology, boot MSRs, LAPIC LINT0/LINT1 wiring, and the BSP's entry state.
 * APs stay in KVM's wait-for-SIPI state (in-kernel LAPIC) until the guest starts them. */
#include "vmm/vm_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/regs.h"
#include "base/log.h"
#include "kvm/kvm.h"

#define APIC_LVT_LINT0	 0x350
#define APIC_LVT_LINT1	 0x360
#define APIC_MODE_NMI	 0x4
#define APIC_MODE_EXTINT 0x7
#define VM_CPUID_MAX	 256
#define VM_MSRS_MAX	 32

static void lapic_set_lvt_mode(struct kvm_lapic_state *s, unsigned reg, unsigned mode)
{
	uint32_t v;

	memcpy(&v, &s->regs[reg], sizeof(v));
	v = (v & ~0x700u) | (mode << 8);
	memcpy(&s->regs[reg], &v, sizeof(v));
}

static int vcpu_setup_lapic(struct vcpu *v)
{
	struct kvm_lapic_state s;
	int e = kvm_vcpu_get_lapic(&v->kv, &s);

	if (e)
		return e;
	lapic_set_lvt_mode(&s, APIC_LVT_LINT0, APIC_MODE_EXTINT);
	lapic_set_lvt_mode(&s, APIC_LVT_LINT1, APIC_MODE_NMI);
	return kvm_vcpu_set_lapic(&v->kv, &s);
}

static int vcpu_setup_bsp(struct vm *vm, struct vcpu *v)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	int e;

	e = kvm_vcpu_get_sregs(&v->kv, &sregs);
	if (e)
		return e;
	memset(&regs, 0, sizeof(regs));
	e = boot_vcpu_state(vm->mem, &vm->boot, &regs, &sregs);
	if (!e)
		e = kvm_vcpu_set_sregs(&v->kv, &sregs);
	if (!e)
		e = kvm_vcpu_set_regs(&v->kv, &regs);
	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	if (!e)
		e = kvm_vcpu_set_fpu(&v->kv, &fpu);
	return e;
}

/* At -vv, a CPUID table one line per entry: KVM's supported list ("kvm") or the table vCPU 0
 * gets ("vcpu0"), to compare what the guest sees with what the host offers. */
static void vm_log_cpuid(const char *what, const struct kvm_cpuid_entry2 *e, unsigned n)
{
	if (log_get_level() < LOG_DEBUG)
		return;
	for (unsigned i = 0; i < n; i++)
		log_debug("cpuid %s 0x%08x.%u: eax=0x%08x ebx=0x%08x ecx=0x%08x edx=0x%08x", what,
			  e[i].function, e[i].index, e[i].eax, e[i].ebx, e[i].ecx, e[i].edx);
}

/* vm->steps: vCPU 0's set-up step by step; the other vCPUs in one step (vm.c). */
static void vcpu_mark(struct vm *vm, const struct vcpu *v, const char *name)
{
	if (v->index == 0)
		steptime_mark(&vm->steps, name);
}

static int vcpu_setup(struct vm *vm, struct vcpu *v, char *err, size_t errlen)
{
	struct kvm_cpuid_entry2 cpuid[VM_CPUID_MAX];
	struct kvm_msr_entry msrs[VM_MSRS_MAX];
	unsigned ncpuid = 0, nmsrs = 0;
	const char *what;
	int e;

	what = "KVM_CREATE_VCPU";
	e = kvm_vcpu_create(vm->kvm, vm->apic_ids[v->index], &v->kv);
	if (e)
		goto fail;
	vcpu_mark(vm, v, "vcpu0 KVM_CREATE_VCPU");
	what = "building CPUID";
	e = cpuid_build(vm->supported_cpuid, vm->nsupported_cpuid, &vm->model, &vm->topo, v->index,
			cpuid, VM_CPUID_MAX, &ncpuid);
	if (e)
		goto fail;
	if (v->index == 0)
		vm_log_cpuid("vcpu0", cpuid, ncpuid);
	what = "KVM_SET_CPUID2";
	e = kvm_vcpu_set_cpuid(&v->kv, cpuid, ncpuid);
	if (e)
		goto fail;
	vcpu_mark(vm, v, "vcpu0 CPUID");
	what = "setting boot MSRs";
	e = regs_boot_msrs(msrs, VM_MSRS_MAX, &nmsrs);
	if (!e)
		e = kvm_vcpu_set_msrs(&v->kv, msrs, nmsrs);
	if (e)
		goto fail;
	vcpu_mark(vm, v, "vcpu0 boot MSRs");
	what = "setting up the local APIC";
	if (!vm->cfg->restore) /* KVM_SET_LAPIC loads the whole saved register page */
		e = vcpu_setup_lapic(v);
	if (e)
		goto fail;
	vcpu_mark(vm, v, "vcpu0 LAPIC LINT0/1");
	what = "setting the boot CPU state";
	if (v->index == 0 && !vm->cfg->restore) /* a restore loads every vCPU's state */
		e = vcpu_setup_bsp(vm, v);
	if (e)
		goto fail;
	v->exit = (struct exit_ctx){&vm->pio, &vm->mmio, v->index};
	return 0;
fail:
	snprintf(err, errlen, "vcpu%u: %s failed: %s", v->index, what, strerror(-e));
	return e;
}

static const cpu_set_t *vm_affinity_for(const struct vm_config *c, unsigned idx)
{
	for (unsigned i = 0; i < c->naffinity; i++)
		if (c->affinity[i].vcpu == idx)
			return &c->affinity[i].cpus;
	return NULL;
}

/* As QEMU does: a model feature this host's KVM cannot provide is left off, with a warning. */
static void vm_warn_missing_features(struct vm *vm)
{
	struct cpu_missing miss;
	char list[256] = "";
	size_t used = 0;

	cpu_model_missing(&vm->model, vm->supported_cpuid, vm->nsupported_cpuid, &miss);
	if (!miss.total)
		return;
	for (unsigned i = 0; i < miss.n && used < sizeof(list); i++) {
		int w =
		    snprintf(list + used, sizeof(list) - used, "%s%s", i ? " " : "", miss.names[i]);

		if (w < 0)
			break;
		used += (size_t)w;
	}
	log_warn("--cpu %s: this host does not support %u of the model's features (%s); "
		 "they are left off",
		 vm->cfg->cpu_model, miss.total, list);
}

int vm_cpus_create(struct vm *vm, char *err, size_t errlen)
{
	int e;

	if (vm->ncpus > (unsigned)vm->kvm->max_vcpus) {
		snprintf(err, errlen, "--cpus %u: this host's KVM supports at most %d vCPUs",
			 vm->ncpus, vm->kvm->max_vcpus);
		return -EINVAL;
	}
	if (vm->apic_ids[vm->ncpus - 1] >= (unsigned)vm->kvm->max_vcpu_id) {
		snprintf(err, errlen, "--cpus: APIC ID %u exceeds this host's KVM limit (%d)",
			 vm->apic_ids[vm->ncpus - 1], vm->kvm->max_vcpu_id);
		return -EINVAL;
	}
	e = kvm_get_supported_cpuid(vm->kvm, &vm->supported_cpuid, &vm->nsupported_cpuid);
	if (e) {
		snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID failed: %s", strerror(-e));
		return e;
	}
	vm_log_cpuid("kvm", vm->supported_cpuid, vm->nsupported_cpuid);
	vm_warn_missing_features(vm);
	steptime_mark(&vm->steps, "KVM_GET_SUPPORTED_CPUID");
	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (unsigned i = 0; i < vm->ncpus; i++) {
		e = vcpu_init(&vm->vcpus[i], vm, i);
		if (e)
			return e;
		vm->nvcpus_init++;
		vm->vcpus[i].affinity = vm_affinity_for(vm->cfg, i);
		e = vcpu_setup(vm, &vm->vcpus[i], err, errlen);
		if (e)
			return e;
	}
	return 0;
}

void vm_cpus_destroy(struct vm *vm)
{
	if (vm->vcpus) {
		for (unsigned i = 0; i < vm->nvcpus_init; i++)
			vcpu_fini(&vm->vcpus[i]);
		free(vm->vcpus);
		vm->vcpus = NULL;
	}
	free(vm->supported_cpuid);
	vm->supported_cpuid = NULL;
}
