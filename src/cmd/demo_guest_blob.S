/* The demo guest ELF, embedded into the kvmm binary (path from the Makefile). */
	.section .rodata
	.balign 16
	.globl kvmm_demo_guest_begin
	.globl kvmm_demo_guest_end
kvmm_demo_guest_begin:
	.incbin DEMO_GUEST_PATH
kvmm_demo_guest_end:
	.section .note.GNU-stack,"",@progbits
