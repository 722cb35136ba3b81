/* vmm/vm_diag.c — the one-screen diagnostic printed when a vCPU stops on an unrecoverable exit:
 * exit reason and its details, registers, and the bytes at the faulting instruction.
 * Runs on the failing vCPU's own thread (it owns the vCPU fd). */
#include "vmm/vm_priv.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kvm/kvm.h"
#include "mem/gmem.h"

static void diag_exit_details(const struct kvm_run *run)
{
	switch (run->exit_reason) {
	case KVM_EXIT_FAIL_ENTRY:
		fprintf(stderr, "  hardware entry failure reason 0x%llx (cpu %u)\n",
			(unsigned long long)run->fail_entry.hardware_entry_failure_reason,
			run->fail_entry.cpu);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		fprintf(stderr, "  internal error suberror %u%s", run->internal.suberror,
			run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
			    ? " (instruction emulation failed)"
			    : "");
		for (unsigned i = 0; i < run->internal.ndata && i < 16; i++)
			fprintf(stderr, "%s0x%llx",
				i ? " " : "\n  data: ", (unsigned long long)run->internal.data[i]);
		fprintf(stderr, "\n");
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		fprintf(stderr, "  system event type %u\n", run->system_event.type);
		break;
	case KVM_EXIT_IO:
		fprintf(stderr, "  io port 0x%x size %u count %u\n", run->io.port, run->io.size,
			run->io.count);
		break;
	case KVM_EXIT_MMIO:
		fprintf(stderr, "  mmio 0x%llx len %u\n", (unsigned long long)run->mmio.phys_addr,
			run->mmio.len);
		break;
	default:
		break;
	}
}

static void diag_code_bytes(struct vm *vm, struct vcpu *v, const struct kvm_sregs *s, uint64_t rip)
{
	uint64_t gpa, lin = s->cs.base + rip;
	uint8_t code[16];

	if (!(s->cr0 & 0x80000000u))
		gpa = lin;
	else if (kvm_vcpu_translate(&v->kv, lin, &gpa))
		return;
	if (gmem_read(vm->mem, gpa, code, sizeof(code)))
		return;
	fprintf(stderr, "  code at gpa 0x%" PRIx64 ":", gpa);
	for (unsigned i = 0; i < sizeof(code); i++)
		fprintf(stderr, " %02x", code[i]);
	fprintf(stderr, "\n");
}

void vm_diag_fatal(struct vm *vm, struct vcpu *v)
{
	const struct kvm_run *run = &v->last_exit;
	struct kvm_regs r;
	struct kvm_sregs s;

	fprintf(stderr, "\r\nkvmm: vcpu%u stopped on an unrecoverable exit: %s (%u)\n", v->index,
		kvm_exit_reason_name(run->exit_reason), run->exit_reason);
	diag_exit_details(run);
	if (kvm_vcpu_get_regs(&v->kv, &r) || kvm_vcpu_get_sregs(&v->kv, &s))
		return;
	fprintf(stderr,
		"  rip %016llx rsp %016llx rflags %08llx\n"
		"  rax %016llx rbx %016llx rcx %016llx rdx %016llx\n"
		"  rsi %016llx rdi %016llx rbp %016llx\n"
		"  r8  %016llx r9  %016llx r10 %016llx r11 %016llx\n"
		"  r12 %016llx r13 %016llx r14 %016llx r15 %016llx\n"
		"  cs %04x (base %llx, l=%u db=%u dpl=%u) ss %04x\n"
		"  cr0 %llx cr2 %llx cr3 %llx cr4 %llx efer %llx\n",
		r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.r8, r.r9,
		r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, s.cs.selector, s.cs.base, s.cs.l, s.cs.db,
		s.cs.dpl, s.ss.selector, s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
	diag_code_bytes(vm, v, &s, r.rip);
}
