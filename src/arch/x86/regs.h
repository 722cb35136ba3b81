/* arch/x86/regs.h — initial register state for the boot vCPU: boot GDT, identity page tables,
 * long-mode and flat 32-bit protected-mode segment/control registers, and the MSR values every
 * vCPU starts with. Fills struct kvm_regs / kvm_sregs / kvm_msr_entry; never calls ioctl (the
 * caller, src/kvm/, does). Main thread while building the VM (or a vCPU thread for its own
 * MSRs); no shared state. */
#pragma once

#include <stdint.h>

#include "base/compiler.h"

struct gmem;
struct kvm_regs;
struct kvm_sregs;
struct kvm_segment;
struct kvm_msr_entry;

/* Boot GDT selectors. Long mode follows the Linux 64-bit boot protocol (__BOOT_CS 0x10,
 * __BOOT_DS 0x18); the 32-bit entries (PVH, multiboot) use a flat 4 GiB code 0x08, data 0x10. */
#define REGS_SEL64_CODE32 0x08
#define REGS_SEL64_CODE	  0x10
#define REGS_SEL64_DATA	  0x18
#define REGS_SEL64_TSS	  0x20
#define REGS_SEL32_CODE	  0x08
#define REGS_SEL32_DATA	  0x10
#define REGS_SEL32_TSS	  0x18

/* Control-register and EFER bits. */
#define REGS_CR0_PE	  0x00000001ull
#define REGS_CR0_ET	  0x00000010ull
#define REGS_CR0_NE	  0x00000020ull
#define REGS_CR0_PG	  0x80000000ull
#define REGS_CR4_PAE	  0x00000020ull
#define REGS_EFER_LME	  0x00000100ull
#define REGS_EFER_LMA	  0x00000400ull
#define REGS_RFLAGS_FIXED 0x2ull

/* Page-table entry bits used for the identity map. */
#define REGS_PTE_P  0x001ull
#define REGS_PTE_RW 0x002ull
#define REGS_PTE_PS 0x080ull

/* MSR indices. */
#define REGS_MSR_IA32_TSC	     0x00000010u
#define REGS_MSR_IA32_SYSENTER_CS    0x00000174u
#define REGS_MSR_IA32_SYSENTER_ESP   0x00000175u
#define REGS_MSR_IA32_SYSENTER_EIP   0x00000176u
#define REGS_MSR_IA32_MISC_ENABLE    0x000001a0u
#define REGS_MSR_MTRR_DEF_TYPE	     0x000002ffu
#define REGS_MSR_STAR		     0xc0000081u
#define REGS_MSR_LSTAR		     0xc0000082u
#define REGS_MSR_CSTAR		     0xc0000083u
#define REGS_MSR_SYSCALL_MASK	     0xc0000084u
#define REGS_MSR_KERNEL_GS_BASE	     0xc0000102u
#define REGS_MISC_ENABLE_FAST_STRING 0x1ull
#define REGS_MTRR_DEF_ENABLE	     0x800ull /* E */
#define REGS_MTRR_DEF_FIXED	     0x400ull /* FE */
#define REGS_MTRR_TYPE_WB	     0x6ull
#define REGS_BOOT_MSR_COUNT	     11

/* Encode a KVM segment as an 8-byte GDT descriptor (limit in bytes, scaled when g=1). Pure. */
uint64_t regs_gdt_entry(const struct kvm_segment *s);

/* Decode an 8-byte GDT descriptor into a KVM segment with the given selector (inverse of
 * regs_gdt_entry for the fields a descriptor holds). Pure. */
void regs_segment_from_gdt(uint64_t desc, uint16_t sel, struct kvm_segment *s);

/* 64-bit Linux entry: write the 5-entry GDT at LAYOUT_BOOT_GDT and identity page tables for
 * 0..4 GiB (2 MiB pages) at LAYOUT_PML4/PDPT/PD; set CR0 PE|ET|NE|PG, CR4 PAE, EFER LME|LMA,
 * CR3, CS 0x10 (L=1), DS/ES/FS/GS/SS 0x18, TR 0x20, an empty IDT; rip = entry, rsi = zero_page,
 * rsp = rbp = LAYOUT_BOOT_STACK, rflags = 2. *regs is zeroed first; *sregs is updated in place.
 * 0 or -EFAULT. */
int regs_long_mode(const struct gmem *m, uint64_t entry, uint64_t zero_page, struct kvm_regs *regs,
		   struct kvm_sregs *sregs) KVMM_MUST_CHECK;

/* 32-bit flat protected mode, paging off (PVH and multiboot entry): write a 4-entry GDT at
 * LAYOUT_BOOT_GDT; CR0 PE|ET, CR4 0, EFER 0, CS 0x08 and DS/ES/FS/GS/SS 0x10 flat 4 GiB, TR
 * 0x18; rip = entry, eax = eax, ebx = ebx, rflags = 2. *regs zeroed first; *sregs updated in
 * place. 0 or -EFAULT. */
int regs_protected32(const struct gmem *m, uint32_t entry, uint32_t eax, uint32_t ebx,
		     struct kvm_regs *regs, struct kvm_sregs *sregs) KVMM_MUST_CHECK;

/* The MSRs every vCPU starts with (SYSENTER_*, STAR, LSTAR, CSTAR, KERNEL_GS_BASE,
 * SYSCALL_MASK and TSC = 0; MISC_ENABLE = FAST_STRING; MTRRdefType = 0xc06, i.e. MTRRs and
 * fixed MTRRs enabled, default write-back). Writes REGS_BOOT_MSR_COUNT entries to out and sets
 * *n; -ENOSPC (nothing written) when max is smaller. Pure; any thread. */
int regs_boot_msrs(struct kvm_msr_entry *out, unsigned max, unsigned *n) KVMM_MUST_CHECK;
