/* tests/guest/payload/lib/mb_header.S — multiboot v1 header (ELF, no a.out kludge).
 * Linked into NAME.mb.elf, which the build converts to ELF32 (QEMU refuses ELF64 multiboot). */
#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000003 /* page-align modules, want memory info */
	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
	.section .note.GNU-stack, "", @progbits
