/* tests/guest/payload/lib/entry.S — 32-bit entry (PVH and multiboot), long-mode switch,
 * GDT, identity page tables, exception/interrupt stubs, ring-3 switch and the AP trampoline.
 * Runs on the BSP (entry) and on each AP (trampoline). */

#include "gdt.h"

#define TRAMPOLINE_BASE 0x10000
#define AP_STACK_SIZE 8192
#define MAX_CPUS 32
#define BOOT_STACK_SIZE 16384

	.section .text.entry, "ax"
	.code32
	.globl _start32
_start32:
	cli
	cld
	movl %eax, boot_magic
	movl %ebx, boot_ptr
	lgdt gdt_desc
	ljmp $SEL_KCODE32, $1f
1:	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	/* Zero .bss (the loader should have, but do not rely on it). Stacks are outside it. */
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	shrl $2, %ecx /* both ends are 16-aligned (payload.ld) */
	xorl %eax, %eax
	rep stosl
	movl $boot_stack_top, %esp
	call enable_long_mode
	ljmp $SEL_KCODE64, $start64

	/* PAE, CR3 = pml4, EFER.LME, CR0.PG|PE. Shared with the AP trampoline. */
enable_long_mode:
	movl %cr4, %eax
	orl $0x20, %eax
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	andl $0x9fffffff, %eax
	orl $0x80000001, %eax
	movl %eax, %cr0
	ret

	.code64
start64:
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movq $boot_stack_top, %rsp
	xorl %ebp, %ebp
	call payload_start64
2:	cli
	hlt
	jmp 2b

/* ---- exception and interrupt stubs: 256 stubs of 16 bytes each ---- */
	.text
	.align 16
	.globl isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
	.align 16
	.if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq $0
	.endif
	pushq $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

isr_common:
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rbx
	pushq %rbp
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	movq %rsp, %rdi
	call trap_dispatch
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rbp
	popq %rbx
	popq %rdx
	popq %rcx
	popq %rax
	addq $16, %rsp
	iretq

/* ---- ring 3: uint64_t user_enter(fn, arg, stack_top) ---- */
	.globl user_enter
user_enter:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, user_kernel_rsp(%rip)
	andq $-16, %rdx
	subq $8, %rdx
	leaq user_exit_stub(%rip), %rax
	movq %rax, (%rdx)
	pushq $(SEL_UDATA | 3)
	pushq %rdx
	pushq $0x3002 /* IOPL=3, IF=0 */
	pushq $(SEL_UCODE64 | 3)
	pushq %rdi
	movq %rsi, %rdi
	/* User data selectors, as Linux leaves them on a return to user mode. */
	movl $(SEL_UDATA | 3), %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %fs
	movl %eax, %gs
	xorl %eax, %eax
	xorl %ebx, %ebx
	xorl %ecx, %ecx
	xorl %edx, %edx
	xorl %esi, %esi
	xorl %ebp, %ebp
	xorl %r8d, %r8d
	xorl %r9d, %r9d
	xorl %r10d, %r10d
	xorl %r11d, %r11d
	iretq
	/* fn returns here at CPL3 with its result in rax: hlt raises #GP, trap_dispatch
	 * recognises it and resumes at user_return in ring 0. */
	.globl user_exit_stub
user_exit_stub:
	hlt
	ud2
	.globl user_return
user_return:
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %fs
	movl %eax, %gs
	movq user_kernel_rsp(%rip), %rsp
	movq user_result(%rip), %rax
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret

/* ---- AP entry in long mode (reached from the trampoline) ---- */
	.globl ap_start64
ap_start64:
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movl $1, %eax
	lock xaddl %eax, ap_next_index(%rip)
	cmpl $MAX_CPUS, %eax
	jae 3f
	movl %eax, %edi
	leal 1(%eax), %eax
	imull $AP_STACK_SIZE, %eax
	addq $ap_stacks, %rax
	movq %rax, %rsp
	xorl %ebp, %ebp
	call ap_main
3:	cli
	hlt
	jmp 3b

/* ---- AP real-mode trampoline, copied to TRAMPOLINE_BASE (SIPI vector 0x10) ---- */
	.section .rodata.tramp, "a"
	.globl tramp_start, tramp_end
	.code16
tramp_start:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	lgdtl tramp_gdtr - tramp_start
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $SEL_KCODE32, $(TRAMPOLINE_BASE + tramp32 - tramp_start)
	.code32
tramp32:
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %cr4, %eax
	orl $0x20, %eax
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	andl $0x9fffffff, %eax
	orl $0x80000001, %eax
	movl %eax, %cr0
	ljmp $SEL_KCODE64, $ap_start64
	.align 8
tramp_gdtr:
	.word gdt_end - gdt - 1
	.long gdt
tramp_end:

/* ---- data: GDT, page tables ---- */
	.data
	.align 16
	.globl gdt, gdt_end
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff /* 0x08 kernel code 32 */
	.quad 0x00af9a000000ffff /* 0x10 kernel code 64 */
	.quad 0x00cf92000000ffff /* 0x18 kernel data */
	.quad 0x00cffa000000ffff /* 0x20 user code 32 (unused) */
	.quad 0x00cff2000000ffff /* 0x28 user data */
	.quad 0x00affa000000ffff /* 0x30 user code 64 */
	.quad 0                  /* 0x38 unused */
	.quad 0, 0               /* 0x40 TSS, filled by trap_init() */
gdt_end:
	.align 4
	.word 0
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
	.long 0

	.globl boot_magic, boot_ptr, ap_next_index
	.align 4
boot_magic:
	.long 0
boot_ptr:
	.long 0
ap_next_index:
	.long 1

	/* Identity map 0-4 GiB with 2 MiB pages, P|RW|US|PS; 3-4 GiB also PCD|PWT (MMIO). */
	.align 4096
	.globl pml4, pdpt, pd
pml4:
	.quad pdpt + 7
	.fill 511, 8, 0
pdpt:
	.quad pd + 7
	.quad pd + 0x1000 + 7
	.quad pd + 0x2000 + 7
	.quad pd + 0x3000 + 7
	.fill 508, 8, 0
pd:
	.set i, 0
	.rept 2048
	.if i < 1536
	.quad (i << 21) | 0x87
	.else
	.quad (i << 21) | 0x9f
	.endif
	.set i, i + 1
	.endr

	.bss
	.align 8
	.globl user_kernel_rsp, user_result
user_kernel_rsp:
	.quad 0
user_result:
	.quad 0

	/* Stacks live outside .bss (not zeroed at entry). */
	.section .stack, "aw", @nobits
	.align 4096
	.globl boot_stack_top, trap_stack_top, ap_stacks
	.skip BOOT_STACK_SIZE
boot_stack_top:
	.skip BOOT_STACK_SIZE
trap_stack_top:
ap_stacks:
	.skip AP_STACK_SIZE * (MAX_CPUS + 1)

	.section .note.GNU-stack, "", @progbits
