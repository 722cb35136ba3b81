/* tests/guest/payload/lib/pvh_note.S — Xen PVH ELF note: XEN_ELFNOTE_PHYS32_ENTRY (18) = _start32.
 * Linked into NAME.elf (the ELF64 image booted with PVH). */
	.section .note.pvh, "a", @note
	.align 4
	.long 4          /* namesz: "Xen\0" */
	.long 4          /* descsz */
	.long 18         /* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long _start32
	.section .note.GNU-stack, "", @progbits
